/* test_query.c: unit tests for dns/query.c, parsing incoming queries. */
#include "config.h"

#include "dns/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rrtype.h"
#include "tests/unit/tap.h"

/* A query under construction. */
struct qb {
	uint8_t buf[1024];
	size_t len;
};

static void put8(struct qb *b, unsigned v)
{
	b->buf[b->len++] = (uint8_t)v;
}

static void put16(struct qb *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v & 0xFF);
}

static void putn(struct qb *b, const void *p, size_t n)
{
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void set16(struct qb *b, size_t off, unsigned v)
{
	b->buf[off] = (uint8_t)(v >> 8);
	b->buf[off + 1] = (uint8_t)v;
}

/* Header with QDCOUNT 1 and the given counts, then www.Example.com/qtype/IN. */
static void header(struct qb *b, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
		   unsigned ar)
{
	b->len = 0;
	put16(b, id);
	put16(b, flags);
	put16(b, qd);
	put16(b, an);
	put16(b, ns);
	put16(b, ar);
}

static void question(struct qb *b, unsigned qtype)
{
	putn(b, "\3www\7Example\3com", 17);
	put16(b, qtype);
	put16(b, RRCLASS_IN);
}

/* A query with one question and arcount records to follow. */
static void query(struct qb *b, unsigned ar)
{
	header(b, 0x1234, HDR_RD, 1, 0, 0, ar);
	question(b, RRTYPE_AAAA);
}

/* OPT RR header: root owner, udp size, ext rcode, version, flags, rdlen. */
static void opt(struct qb *b, unsigned udp, unsigned version, unsigned flags, unsigned rdlen)
{
	put8(b, 0);
	put16(b, RRTYPE_OPT);
	put16(b, udp);
	put8(b, 0);
	put8(b, version);
	put16(b, flags);
	put16(b, rdlen);
}

static void test_basic(void)
{
	struct qb b;
	struct query q;

	query(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "plain query");
	IS_INT(q.id, 0x1234, "id");
	IS_INT(q.flags, HDR_RD, "flags");
	IS_INT(q.qtype, RRTYPE_AAAA, "qtype");
	IS_INT(q.qclass, RRCLASS_IN, "qclass");
	OK(q.have_question, "have_question");
	IS_INT(q.question_end, 12 + 17 + 4, "question_end");
	OK(memcmp(q.qname.name, "\3www\7example\3com", 17) == 0, "qname lowercased");
	IS_INT(q.qname.labels, 3, "qname labels");
	OK(!q.edns, "no EDNS without OPT");
	OK(!q.nsid, "no NSID without OPT");
	OK(q.pkt == b.buf && q.len == b.len, "pkt and len recorded");

	query(&b, 0);
	b.buf[2] |= 0x80;
	IS_INT(query_parse(b.buf, b.len, &q), QUERY_DROP, "QR set is dropped");

	query(&b, 0);
	IS_INT(query_parse(b.buf, 11, &q), QUERY_DROP, "11 octets dropped");
	IS_INT(query_parse(b.buf, 0, &q), QUERY_DROP, "empty packet dropped");

	header(&b, 1, 0, 0, 0, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "QDCOUNT 0");
	OK(!q.have_question, "QDCOUNT 0: no question to echo");

	header(&b, 1, 0, 2, 0, 0, 0);
	question(&b, RRTYPE_A);
	question(&b, RRTYPE_A);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "QDCOUNT 2");
	OK(!q.have_question, "QDCOUNT 2: no question to echo");

	/* Opcode 2 (STATUS). */
	header(&b, 1, 2u << 11, 1, 0, 0, 0);
	question(&b, RRTYPE_A);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOTIMP, "opcode 2");
	OK(q.have_question, "NOTIMP still echoes the question");

	header(&b, 1, 0, 1, 1, 0, 0);
	question(&b, RRTYPE_A);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "ANCOUNT 1");
	header(&b, 1, 0, 1, 0, 1, 0);
	question(&b, RRTYPE_A);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "NSCOUNT 1");

	/* Question cut inside the name and inside qtype/qclass. */
	query(&b, 0);
	IS_INT(query_parse(b.buf, 20, &q), RCODE_FORMERR, "question truncated in the name");
	OK(!q.have_question, "truncated name: no question");
	IS_INT(query_parse(b.buf, b.len - 1, &q), RCODE_FORMERR, "question truncated in qclass");
	OK(!q.have_question, "truncated qclass: no question");

	/* A pointer in the QNAME. */
	header(&b, 1, 0, 1, 0, 0, 0);
	putn(&b, "\3www\300\014", 6);
	put16(&b, RRTYPE_A);
	put16(&b, RRCLASS_IN);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "compressed qname");

	/* ARCOUNT claims a record that is not there. */
	query(&b, 1);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "missing additional record");
}

static void test_edns(void)
{
	struct qb b;
	struct query q;

	query(&b, 1);
	opt(&b, 4096, 0, EDNS_DO, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "EDNS query");
	OK(q.edns, "edns set");
	IS_INT(q.edns_udp_size, 4096, "udp size");
	IS_INT(q.edns_version, 0, "version 0");
	IS_INT(q.edns_flags & EDNS_DO, EDNS_DO, "DO flag");
	OK(!q.nsid, "no NSID option");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "EDNS without DO");
	IS_INT(q.edns_flags & EDNS_DO, 0, "DO clear");
	IS_INT(q.edns_udp_size, 1232, "udp size 1232");

	/* NSID (empty) and an unknown option with 3 octets of data. */
	query(&b, 1);
	opt(&b, 1232, 0, 0, 4 + 4 + 3);
	put16(&b, 65001);
	put16(&b, 3);
	putn(&b, "xyz", 3);
	put16(&b, EDNS_OPT_NSID);
	put16(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "NSID after an unknown option");
	OK(q.nsid, "NSID detected");
	OK(q.edns, "edns with options");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 4 + 2);
	put16(&b, 65001);
	put16(&b, 2);
	put16(&b, EDNS_OPT_NSID);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "unknown option ignored");
	OK(!q.nsid, "NSID code inside another option's data is not NSID");

	/* A TSIG-like non-OPT record before the OPT is skipped over. */
	query(&b, 2);
	putn(&b, "\3key\0", 5);
	put16(&b, RRTYPE_TSIG);
	put16(&b, 255);
	put16(&b, 0);
	put16(&b, 0);
	put16(&b, 2);
	put16(&b, 0xABCD);
	opt(&b, 2048, 0, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "OPT after another additional record");
	IS_INT(q.edns_udp_size, 2048, "udp size from the second record");

	query(&b, 2);
	opt(&b, 1232, 0, 0, 0);
	opt(&b, 1232, 0, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "two OPT");
	OK(!q.edns, "two OPT: edns false");
	OK(q.have_question, "two OPT: question still echoed");

	query(&b, 1);
	putn(&b, "\3www", 4); /* owner www. instead of the root */
	opt(&b, 1232, 0, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "OPT with a non-root owner");
	OK(!q.edns, "non-root OPT: edns false");

	query(&b, 1);
	put16(&b, 0xC00C); /* owner compressed to the qname */
	put16(&b, RRTYPE_OPT);
	put16(&b, 1232);
	put16(&b, 0);
	put16(&b, 0);
	put16(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "OPT owner pointing at the qname");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 6);
	put16(&b, EDNS_OPT_NSID);
	put16(&b, 4); /* only 2 octets follow within rdata */
	put16(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "option length overruns rdata");
	OK(!q.edns, "bad option: edns false");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 3);
	put16(&b, EDNS_OPT_NSID);
	put8(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "partial option header");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 8); /* rdata claims more than the packet has */
	put16(&b, EDNS_OPT_NSID);
	put16(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "rdlength past the packet end");

	query(&b, 1);
	opt(&b, 1232, 1, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_BADVERS, "EDNS version 1");
	OK(q.edns, "BADVERS keeps edns for the reply OPT");
	IS_INT(q.edns_version, 1, "version recorded");

	/* A stale OPT from a previous parse must not leak into the next. */
	query(&b, 1);
	opt(&b, 1232, 0, 0, 4);
	put16(&b, EDNS_OPT_NSID);
	put16(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "NSID query");
	query(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "reuse struct");
	OK(!q.edns && !q.nsid, "edns and nsid reset between parses");

	/* Opcode NOTIFY with an OPT: NOTIMP, the question is echoed. */
	query(&b, 1);
	set16(&b, 2, 4u << 11);
	opt(&b, 1232, 0, 0, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOTIMP, "opcode 4");
}

/* An OPT holding one ECS option (RFC 7871 6) with alen address octets. */
static void ecs_query(struct qb *b, unsigned family, unsigned source, unsigned scope,
		      const uint8_t *addr, size_t alen)
{
	query(b, 1);
	opt(b, 1232, 0, 0, 4 + 4 + (unsigned)alen);
	put16(b, EDNS_OPT_ECS);
	put16(b, 4 + (unsigned)alen);
	put16(b, family);
	put8(b, source);
	put8(b, scope);
	putn(b, addr, alen);
}

static void test_ecs(void)
{
	struct qb b;
	struct query q;
	static const uint8_t v4[] = { 198, 51, 100, 0 };
	static const uint8_t v6[] = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x30 };

	ecs_query(&b, 1, 24, 0, v4, 3);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "ECS /24");
	OK(q.ecs, "ECS parsed");
	IS_INT(q.ecs_family, 1, "ECS family 1");
	IS_INT(q.ecs_source, 24, "ECS source 24");
	IS_INT(q.ecs_addr_len, 3, "ECS address length 3");
	OK(memcmp(q.ecs_addr, v4, 3) == 0 && q.ecs_addr[3] == 0, "ECS address zero-padded");

	ecs_query(&b, 2, 44, 0, v6, 6);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "ECS v6 /44");
	OK(q.ecs && q.ecs_family == 2 && q.ecs_source == 44, "ECS v6 fields");

	ecs_query(&b, 1, 0, 0, v4, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "ECS /0");
	OK(q.ecs && q.ecs_addr_len == 0, "ECS /0 has no address");

	static const uint8_t v4bits[] = { 198, 51, 101 };
	ecs_query(&b, 1, 23, 0, v4bits, 3);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "ECS bits past the source prefix");
	OK(q.edns && !q.ecs, "bad ECS: OPT still answered, ECS dropped");

	ecs_query(&b, 1, 24, 24, v4, 3);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "ECS scope != 0");
	ecs_query(&b, 3, 24, 0, v4, 3);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "ECS family 3");
	ecs_query(&b, 1, 33, 0, v4, 4);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "ECS /33 for IPv4");
	ecs_query(&b, 1, 24, 0, v4, 4);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "ECS address longer than the prefix");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 2 * (4 + 4 + 3));
	for (int i = 0; i < 2; i++) {
		put16(&b, EDNS_OPT_ECS);
		put16(&b, 7);
		put16(&b, 1);
		put8(&b, 24);
		put8(&b, 0);
		putn(&b, v4, 3);
	}
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_FORMERR, "two ECS options");

	ecs_query(&b, 1, 24, 0, v4, 3);
	query_parse(b.buf, b.len, &q);
	query(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "no OPT after ECS");
	OK(!q.ecs && !q.edns, "ECS reset between parses");

	/* Every address length, each octet its own value, the packet at the
	 * very end of its allocation (ASan sees a read past it), the struct
	 * holding another query's address before. */
	uint8_t a6[16];
	for (unsigned i = 0; i < 16; i++)
		a6[i] = (uint8_t)(0x11 * (i + 1) - 1);
	bool all = true;
	for (unsigned alen = 0; alen <= 16; alen++) {
		ecs_query(&b, 2, alen * 8, 0, a6, alen);
		uint8_t *exact = malloc(b.len);
		if (exact == NULL)
			exit(1);
		memcpy(exact, b.buf, b.len);
		memset(q.ecs_addr, 0xEE, sizeof(q.ecs_addr));
		int rc = query_parse(exact, b.len, &q);
		bool ok = rc == RCODE_NOERROR && q.ecs && q.ecs_addr_len == alen &&
			  memcmp(q.ecs_addr, a6, alen) == 0;
		for (unsigned i = alen; i < 16; i++)
			ok = ok && q.ecs_addr[i] == 0;
		if (!ok)
			printf("# ECS address of %u octets read wrong\n", alen);
		all = all && ok;
		free(exact);
	}
	OK(all, "ECS addresses of 0-16 octets: copied exactly, the rest zero");
}

/* RFC 7828: the edns-tcp-keepalive option as clients send it (empty) or
 * with a TIMEOUT; the transport decides what that means (answer.c). */
static void test_keepalive(void)
{
	struct qb b;
	struct query q;
	query(&b, 1);
	opt(&b, 1232, 0, 0, 4);
	put16(&b, EDNS_OPT_KEEPALIVE);
	put16(&b, 0);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "keepalive: parsed");
	IS_INT(q.keepalive, KEEPALIVE_EMPTY, "keepalive without TIMEOUT");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 6);
	put16(&b, EDNS_OPT_KEEPALIVE);
	put16(&b, 2);
	put16(&b, 100);
	IS_INT(query_parse(b.buf, b.len, &q), RCODE_NOERROR, "keepalive with TIMEOUT: parsed");
	IS_INT(q.keepalive, KEEPALIVE_VALUE, "keepalive with TIMEOUT");

	query(&b, 1);
	opt(&b, 1232, 0, 0, 0);
	query_parse(b.buf, b.len, &q);
	IS_INT(q.keepalive, KEEPALIVE_NONE, "keepalive reset between parses");
}

int main(void)
{
	test_basic();
	test_edns();
	test_ecs();
	test_keepalive();
	return tap_done();
}
