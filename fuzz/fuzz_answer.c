/* fuzz_answer.c: libFuzzer target: one query packet through answer_query(), over UDP and TCP. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/answer.h"
#include "dns/log.h"
#include "dns/packet.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "fuzz/fuzz_util.h"
#include "zones/zload.h"

/* Static records, a wildcard, CNAME chains and a loop, a delegation with
 * glue (and one whose glue cannot fit 512 octets), an RRset too big for
 * 512 octets, and GEO names for every all-down policy. */
static const char EXAMPLE_COM[] =
	"$ORIGIN example.com.\n"
	"$TTL 3600\n"
	"@ IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )\n"
	"  NS ns1\n"
	"  NS ns2.example.com.\n"
	"  NS ns.example.net.\n"
	"  MX 10 mail\n"
	"  MX 20 mail.example.net.\n"
	"  TXT \"v=spf1 mx -all\"\n"
	"  A 192.0.2.1\n"
	"  AAAA 2001:db8::1\n"
	"ns1 A 192.0.2.2\n"
	"ns1 AAAA 2001:db8::2\n"
	"ns2 A 192.0.2.3\n"
	"mail A 192.0.2.25\n"
	"www 60 IN GEO web\n"
	"www TXT \"geo-routed\"\n"
	"*.cdn GEO web\n"
	"down GEO down\n"
	"lr 30 GEO lr\n"
	"open GEO open\n"
	"alias1 CNAME alias2\n"
	"alias2 CNAME www\n"
	"to-lr CNAME lr\n"
	"to-ext CNAME www.example.org.\n"
	"to-net CNAME host.example.net.\n"
	"to-wild CNAME foo.wild\n"
	"to-sub CNAME www.sub\n"
	"to-nx CNAME nothing-here\n"
	"loop1 CNAME loop2\n"
	"loop2 CNAME loop1\n"
	"*.wild A 192.0.2.100\n"
	"*.wild TXT \"wildcard\"\n"
	"host.wild A 192.0.2.101\n"
	"*.wc-cname CNAME www\n"
	"a.b.c A 192.0.2.10\n"
	"_sip._tcp SRV 10 60 5060 sip\n"
	"sip A 192.0.2.60\n"
	"sub NS ns1.sub\n"
	"sub NS ns.example.net.\n"
	"sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
	"ns1.sub A 192.0.2.53\n"
	"ns1.sub AAAA 2001:db8::53\n"
	"other NS ns.other\n"
	"other NS ns.example.org.\n"
	"ns.other A 192.0.2.55\n"
	"many NS ns01.many\nmany NS ns02.many\nmany NS ns03.many\n"
	"many NS ns04.many\nmany NS ns05.many\nmany NS ns06.many\n"
	"many NS ns07.many\nmany NS ns08.many\nmany NS ns09.many\n"
	"many NS ns10.many\nmany NS ns11.many\nmany NS ns12.many\n"
	"ns01.many A 192.0.2.101\nns01.many AAAA 2001:db8::1:1\n"
	"ns02.many A 192.0.2.102\nns02.many AAAA 2001:db8::1:2\n"
	"ns03.many A 192.0.2.103\nns03.many AAAA 2001:db8::1:3\n"
	"ns04.many A 192.0.2.104\nns04.many AAAA 2001:db8::1:4\n"
	"ns05.many A 192.0.2.105\nns05.many AAAA 2001:db8::1:5\n"
	"ns06.many A 192.0.2.106\nns06.many AAAA 2001:db8::1:6\n"
	"ns07.many A 192.0.2.107\nns07.many AAAA 2001:db8::1:7\n"
	"ns08.many A 192.0.2.108\nns08.many AAAA 2001:db8::1:8\n"
	"ns09.many A 192.0.2.109\nns09.many AAAA 2001:db8::1:9\n"
	"ns10.many A 192.0.2.110\nns10.many AAAA 2001:db8::1:10\n"
	"ns11.many A 192.0.2.111\nns11.many AAAA 2001:db8::1:11\n"
	"ns12.many A 192.0.2.112\nns12.many AAAA 2001:db8::1:12\n"
	"big TXT \"00 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"01 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"02 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"03 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"04 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"05 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"06 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"07 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"08 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"big TXT \"09 0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"unknown TYPE65400 \\# 4 0a000001\n"
	"MixedCase A 192.0.2.200\n";

/* A served child zone: DS for it is answered from the parent side. */
static const char SUB_EXAMPLE_COM[] = "$ORIGIN sub.example.com.\n"
				      "$TTL 300\n"
				      "@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
				      "  NS ns1\n"
				      "  NS ns.example.net.\n"
				      "ns1 A 192.0.2.53\n"
				      "ns1 AAAA 2001:db8::53\n"
				      "www A 192.0.2.80\n"
				      "geo GEO web\n";

static const char EXAMPLE_NET[] = "$ORIGIN example.net.\n"
				  "@ 3600 SOA ns hostmaster 1 7200 3600 1209600 300\n"
				  "  3600 NS ns\n"
				  "ns 3600 A 192.0.2.250\n"
				  "host 3600 A 192.0.2.251\n"
				  "mail 3600 AAAA 2001:db8::25\n";

static struct answer_data data;
static struct answer_stats stats;
static uint8_t *out;
static struct sockaddr_in from_v4;
static struct sockaddr_in6 from_v6;

static struct zone *load(const char *apex, const char *file, const char *text)
{
	const char *path = fuzz_path(file);
	struct diag d = { 0 };
	fuzz_write_file(path, text, strlen(text));
	struct zone *z = zload_file(apex, path, fuzz_zload_dyn(), &d);
	if (z == NULL || d.errors > 0) {
		fprintf(stderr, "fuzz_answer: zone %s does not load (%u errors)\n", apex, d.errors);
		abort();
	}
	return z;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(argc, argv);
	struct zone **zones = calloc(3, sizeof(*zones));
	out = malloc(ANSWER_BUF_SIZE);
	if (zones == NULL || out == NULL)
		abort();
	zones[0] = load("example.com", "example.com.zone", EXAMPLE_COM);
	zones[1] = load("sub.example.com", "sub.example.com.zone", SUB_EXAMPLE_COM);
	zones[2] = load("example.net", "example.net.zone", EXAMPLE_NET);
	data.zones = zonedb_new(zones, 3);
	fuzz_answer_conf(&data.conf);

	/* Loopback may ask explain and status queries; 2001:db8::53 may not. */
	from_v4.sin_family = AF_INET;
	from_v4.sin_port = htons(5353);
	from_v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	from_v6.sin6_family = AF_INET6;
	from_v6.sin6_port = htons(5353);
	inet_pton(AF_INET6, "2001:db8::53", &from_v6.sin6_addr);
	return 0;
}

static void ask(const uint8_t *q, size_t len, const struct sockaddr *from, enum answer_transport tr)
{
	size_t n = answer_query(&data, q, len, from, out, tr, &stats);
	fuzz_check_response(q, len, out, n, tr, data.conf.udp_max_payload);
	if (tr != ANSWER_UDP || n == 0)
		return;
	/* What a UDP answer becomes when the kernel refuses it as too large
	 * for the interface (udp.c): still a well-formed answer, with TC,
	 * no records but the OPT, and never longer.  It is cut in a heap
	 * block of exactly n octets, so a read past the answer is caught. */
	uint8_t *cut = malloc(n);
	if (cut == NULL)
		abort();
	memcpy(cut, out, n);
	size_t c = pkt_cut_to_tc(cut, n);
	if (c == 0 || c > n) {
		fprintf(stderr, "pkt_cut_to_tc: %zu octets from %zu\n", c, n);
		abort();
	}
	fuzz_check_response(q, len, cut, c, tr, data.conf.udp_max_payload);
	if (!(cut[2] & 0x02) || cut[6] != 0 || cut[7] != 0 || cut[8] != 0 || cut[9] != 0 ||
	    cut[10] != 0 || cut[11] > 1) {
		fprintf(stderr, "pkt_cut_to_tc: flags %02x, counts %02x%02x %02x%02x %02x%02x\n",
			cut[2], cut[6], cut[7], cut[8], cut[9], cut[10], cut[11]);
		abort();
	}
	free(cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *q, size_t len)
{
	/* libFuzzer hands over a heap copy of exactly len octets, so reading
	 * past the packet is caught. */
	ask(q, len, (const struct sockaddr *)&from_v4, ANSWER_UDP);
	ask(q, len, (const struct sockaddr *)&from_v4, ANSWER_TCP);
	ask(q, len, (const struct sockaddr *)&from_v6, ANSWER_UDP);
	return 0;
}
