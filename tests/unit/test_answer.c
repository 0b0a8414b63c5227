/* test_answer.c: unit tests for dns/answer.c, query packet in, response out. */
#include "config.h"

#include "dns/answer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/chaos.h"
#include "dns/dname.h"
#include "dns/log.h"
#include "dns/packet.h"
#include "dns/rrtype.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "tests/unit/tap.h"
#include "zones/zload.h"

/* ---- building queries ------------------------------------------------ */

/* What goes into a query beyond the question. */
struct qopt {
	unsigned flags; /* header flags word */
	bool edns;
	unsigned udp; /* OPT class: the requester's UDP size */
	unsigned version;
	bool nsid;
	bool keepalive;    /* edns-tcp-keepalive option... */
	unsigned ka_value; /* ...with this TIMEOUT (0: none, as clients send it) */
};

static size_t put16(uint8_t *p, size_t o, unsigned v)
{
	p[o] = (uint8_t)(v >> 8);
	p[o + 1] = (uint8_t)v;
	return o + 2;
}

/* A query for name (presentation form, case kept) into buf. */
static size_t mkquery(uint8_t *buf, unsigned id, const char *name, unsigned qtype, unsigned qclass,
		      const struct qopt *o)
{
	uint8_t wire[DNAME_MAXLEN];
	int n = dname_from_str(name, wire);
	if (n < 0) {
		fprintf(stderr, "bad test name %s\n", name);
		exit(1);
	}
	size_t off = put16(buf, 0, id);
	off = put16(buf, off, o != NULL ? o->flags : HDR_RD);
	off = put16(buf, off, 1);
	off = put16(buf, off, 0);
	off = put16(buf, off, 0);
	off = put16(buf, off, o != NULL && o->edns ? 1 : 0);
	memcpy(buf + off, wire, (size_t)n);
	off += (size_t)n;
	off = put16(buf, off, qtype);
	off = put16(buf, off, qclass);
	if (o != NULL && o->edns) {
		buf[off++] = 0;
		off = put16(buf, off, RRTYPE_OPT);
		off = put16(buf, off, o->udp);
		buf[off++] = 0;
		buf[off++] = (uint8_t)o->version;
		off = put16(buf, off, 0);
		unsigned ka = !o->keepalive ? 0 : o->ka_value == 0 ? 4 : 6;
		off = put16(buf, off, (o->nsid ? 4 : 0) + ka);
		if (o->nsid) {
			off = put16(buf, off, EDNS_OPT_NSID);
			off = put16(buf, off, 0);
		}
		if (o->keepalive) {
			off = put16(buf, off, EDNS_OPT_KEEPALIVE);
			off = put16(buf, off, ka - 4);
			if (o->ka_value > 0)
				off = put16(buf, off, o->ka_value);
		}
	}
	return off;
}

/* ---- parsing responses ----------------------------------------------- */

#define MAX_RRS 1024

struct rr {
	char owner[DNAME_MAXLEN * 4 + 2];
	size_t owner_off; /* where the owner name starts */
	unsigned type, rrclass, rdlen;
	uint32_t ttl;
	size_t rdoff;
	unsigned section;
};

struct resp {
	size_t len;
	unsigned id, flags, rcode, qd, an, ns, ar;
	size_t question_end;
	unsigned n;
	struct rr rr[MAX_RRS];
	bool ok; /* the whole packet parsed, nothing left over */
	const struct rr *opt;
};

static uint8_t out[ANSWER_BUF_SIZE];
static struct resp R;

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* A possibly compressed name at off into presentation form.  Returns the
 * offset after the name as it appears at off, or 0 when malformed. */
static size_t read_name(const uint8_t *p, size_t len, size_t off, char *str, size_t size)
{
	size_t end = 0, o = 0;
	unsigned jumps = 0;
	str[0] = '\0';
	for (;;) {
		if (off >= len)
			return 0;
		unsigned ll = p[off];
		if ((ll & 0xC0) == 0xC0) {
			if (off + 1 >= len || ++jumps > 64)
				return 0;
			if (end == 0)
				end = off + 2;
			off = (ll & 0x3F) << 8 | p[off + 1];
			continue;
		}
		if (ll > 63 || off + 1 + ll > len)
			return 0;
		if (ll == 0)
			break;
		if (o + ll + 2 >= size)
			return 0;
		memcpy(str + o, p + off + 1, ll);
		o += ll;
		str[o++] = '.';
		str[o] = '\0';
		off += 1 + ll;
	}
	if (o == 0)
		strcpy(str, ".");
	return end != 0 ? end : off + 1;
}

static void parse(size_t len)
{
	memset(&R, 0, sizeof(R));
	R.len = len;
	if (len < 12)
		return;
	R.id = get16(out);
	R.flags = get16(out + 2);
	R.rcode = R.flags & 0xF;
	R.qd = get16(out + 4);
	R.an = get16(out + 6);
	R.ns = get16(out + 8);
	R.ar = get16(out + 10);
	size_t off = 12;
	char name[DNAME_MAXLEN * 4 + 2];
	if (R.qd == 1) {
		off = read_name(out, len, off, name, sizeof(name));
		if (off == 0 || off + 4 > len)
			return;
		off += 4;
	}
	R.question_end = off;
	unsigned total = R.an + R.ns + R.ar;
	for (unsigned i = 0; i < total && i < MAX_RRS; i++) {
		struct rr *r = &R.rr[i];
		r->owner_off = off;
		off = read_name(out, len, off, r->owner, sizeof(r->owner));
		if (off == 0 || off + 10 > len)
			return;
		r->type = get16(out + off);
		r->rrclass = get16(out + off + 2);
		r->ttl = (uint32_t)get16(out + off + 4) << 16 | get16(out + off + 6);
		r->rdlen = get16(out + off + 8);
		r->rdoff = off + 10;
		r->section = i < R.an ? 0 : i < R.an + R.ns ? 1 : 2;
		off = r->rdoff + r->rdlen;
		if (off > len)
			return;
		if (r->type == RRTYPE_OPT)
			R.opt = r;
		R.n++;
	}
	R.ok = R.n == total && off == len;
	/* RFC 6891 6.1.3: the OPT TTL carries the upper rcode bits. */
	if (R.opt != NULL)
		R.rcode |= (R.opt->ttl >> 24) << 4;
}

/* The i-th record of a section (0 answer, 1 authority, 2 additional). */
static const struct rr *sec(unsigned section, unsigned i)
{
	for (unsigned k = 0; k < R.n; k++)
		if (R.rr[k].section == section && i-- == 0)
			return &R.rr[k];
	return NULL;
}

/* The target name of a CNAME/NS record, decompressed. */
static const char *rdata_name(const struct rr *r, size_t skip)
{
	static char buf[DNAME_MAXLEN * 4 + 2];
	if (r == NULL || read_name(out, R.len, r->rdoff + skip, buf, sizeof(buf)) == 0)
		return "(bad)";
	return buf;
}

static const char *rr_owner(const struct rr *r)
{
	return r != NULL ? r->owner : "(none)";
}

static unsigned rr_type(const struct rr *r)
{
	return r != NULL ? r->type : 0;
}

/* IPv4 address in an A record's rdata, as a dotted string. */
static const char *rdata_a(const struct rr *r)
{
	static char buf[32];
	if (r == NULL || r->type != RRTYPE_A || r->rdlen != 4)
		return "(not A)";
	const uint8_t *p = out + r->rdoff;
	snprintf(buf, sizeof(buf), "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
	return buf;
}

/* ---- the dataset ----------------------------------------------------- */

static struct answer_data D;
static const uint8_t NSID[] = "ns-a";

static struct zone *load_zone(const char *apex, const char *file)
{
	char path[PATH_MAX];
	const char *top = getenv("TOP_SRCDIR");
	snprintf(path, sizeof(path), "%s/tests/data/zload/%s",
		 top != NULL && top[0] != '\0' ? top : ".", file);
	struct diag d = { .print = 1 };
	struct zone *z = zload_file(apex, path, NULL, &d);
	if (z == NULL) {
		printf("Bail out! cannot load %s\n", path);
		exit(1);
	}
	return z;
}

static void setup(void)
{
	struct zone **zones = malloc(3 * sizeof(*zones));
	if (zones == NULL)
		exit(1);
	zones[0] = load_zone("example.com", "answer.zone");
	zones[1] = load_zone("example.net", "answer-net.zone");
	zones[2] = load_zone("glue.test", "answer-glue.zone");
	D.zones = zonedb_new(zones, 3);
	D.conf.identity = "test-1";
	D.conf.version = "geodnsd-test";
	D.conf.nsid = NSID;
	D.conf.nsid_len = sizeof(NSID) - 1;
	D.conf.udp_max_payload = 1232;
}

/* Send a query and parse the response into R. */
static size_t ask(const char *name, unsigned qtype, unsigned qclass, const struct qopt *o,
		  enum answer_transport tr)
{
	uint8_t q[600];
	size_t qlen = mkquery(q, 0xBEEF, name, qtype, qclass, o);
	memset(out, 0xAA, sizeof(out));
	size_t len = answer_query(&D, q, qlen, NULL, out, tr, NULL);
	parse(len);
	return len;
}

#define AA(f) (((f)&HDR_AA) != 0)
#define TC(f) (((f)&HDR_TC) != 0)

/* ---- tests ----------------------------------------------------------- */

static void test_positive(void)
{
	size_t len = ask("www.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(len > 12 && R.ok, "www A: well-formed response (%zu octets)", len);
	IS_INT(R.id, 0xBEEF, "id echoed");
	OK(R.flags & HDR_QR, "QR set");
	OK(R.flags & HDR_RD, "RD copied");
	OK(!(R.flags & HDR_RA), "RA clear");
	OK(AA(R.flags), "AA set");
	IS_INT(R.rcode, RCODE_NOERROR, "NOERROR");
	IS_INT(R.qd, 1, "QDCOUNT 1");
	IS_INT(R.an, 2, "two A records");
	IS_INT(R.ns, 0, "no authority");
	IS_INT(R.ar, 0, "no additional, and no OPT without EDNS");
	OK(R.opt == NULL, "no OPT record");
	IS_STR(rr_owner(sec(0, 0)), "www.example.com.", "owner");
	IS_INT(rr_type(sec(0, 0)), RRTYPE_A, "type A");
	IS_INT(sec(0, 0) ? sec(0, 0)->rrclass : 0, RRCLASS_IN, "class IN");
	IS_INT(sec(0, 0) ? sec(0, 0)->ttl : 0, 300, "TTL 300");
	IS_STR(rdata_a(sec(0, 0)), "192.0.2.80", "first address");
	IS_STR(rdata_a(sec(0, 1)), "192.0.2.81", "second address");
	/* RFC 1035 4.1.4: the owner is the qname, a pointer to offset 12. */
	const struct rr *r = sec(0, 0);
	OK(r != NULL && out[r->owner_off] == 0xC0 && out[r->owner_off + 1] == 0x0C,
	   "owner compressed to 0xC00C");
	r = sec(0, 1);
	OK(r != NULL && out[r->owner_off] == 0xC0 && out[r->owner_off + 1] == 0x0C,
	   "second owner compressed to 0xC00C");

	/* The question goes back as it came, case and all. */
	uint8_t q[600];
	size_t qlen = mkquery(q, 7, "WwW.ExAmPlE.CoM.", RRTYPE_A, RRCLASS_IN, NULL);
	len = answer_query(&D, q, qlen, NULL, out, ANSWER_UDP, NULL);
	parse(len);
	OK(R.ok && R.question_end == qlen && memcmp(out + 12, q + 12, qlen - 12) == 0,
	   "question echoed with the original case");
	IS_INT(R.an, 2, "mixed-case qname answered");
	OK(AA(R.flags), "mixed case: AA");

	/* NS at the apex: addresses of in-zone name servers added. */
	ask("example.com.", RRTYPE_NS, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 2, "apex NS: two records");
	IS_INT(R.ar, 3, "apex NS: ns1 A, ns2 A, ns2 AAAA in additional");
	IS_STR(rr_owner(sec(2, 0)), "ns1.example.com.", "additional ns1");
	IS_STR(rdata_a(sec(2, 0)), "192.0.2.1", "ns1 address");
	IS_STR(rr_owner(sec(2, 2)), "ns2.example.com.", "ns2's AAAA: the owner its A wrote");
	IS_INT(rr_type(sec(2, 2)), RRTYPE_AAAA, "ns2's AAAA last");
	OK(sec(2, 2)->owner_off >= 2 && out[sec(2, 2)->owner_off] >= 0xC0,
	   "ns2's AAAA: its owner compressed");

	/* MX: the target's address in additional (RFC 1035 3.3.9), as Knot,
	 * NSD and gdnsd add it; no NS in authority. */
	ask("example.com.", RRTYPE_MX, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "MX: one record");
	IS_STR(rdata_name(sec(0, 0), 2), "mail.example.com.", "MX target");
	IS_INT(R.ns, 0, "MX: nothing in authority");
	IS_INT(R.ar, 1, "MX: the target's address in additional");
	IS_STR(rr_owner(sec(2, 0)), "mail.example.com.", "additional: mail");
	IS_STR(rdata_a(sec(2, 0)), "192.0.2.25", "mail's address");

	/* SRV: the in-zone target's addresses; an out-of-zone target and one
	 * without addresses (an empty non-terminal) add nothing. */
	ask("_sip._tcp.example.com.", RRTYPE_SRV, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 3, "SRV: three records");
	IS_INT(R.ar, 2, "SRV: multi's A and AAAA in additional, nothing else");
	OK(R.ar == 2 && strcmp(rr_owner(sec(2, 0)), "multi.example.com.") == 0 &&
		   strcmp(rr_owner(sec(2, 1)), "multi.example.com.") == 0,
	   "SRV additional: the target's two addresses");

	/* Class ANY questions are answered from class IN data, without AA
	 * (only IN is ours), and negative answers without the SOA. */
	ask("www.example.com.", RRTYPE_A, RRCLASS_ANY, NULL, ANSWER_UDP);
	IS_INT(R.an, 2, "qclass ANY answered");
	OK(!AA(R.flags), "qclass ANY: no AA");
	ask("nx.example.com.", RRTYPE_A, RRCLASS_ANY, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NXDOMAIN, "qclass ANY: NXDOMAIN");
	OK(!AA(R.flags), "qclass ANY NXDOMAIN: no AA");
	IS_INT(R.ns, 0, "qclass ANY NXDOMAIN: no SOA");
	ask("www.example.com.", RRTYPE_MX, RRCLASS_ANY, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NOERROR, "qclass ANY: NODATA");
	IS_INT(R.an + R.ns, 0, "qclass ANY NODATA: empty");
}

static void test_cname(void)
{
	ask("alias2.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok, "CNAME chain: well-formed");
	OK(AA(R.flags), "CNAME chain: AA");
	IS_INT(R.rcode, RCODE_NOERROR, "CNAME chain: NOERROR");
	IS_INT(R.an, 4, "two CNAMEs then two A");
	IS_STR(rr_owner(sec(0, 0)), "alias2.example.com.", "1st owner");
	IS_INT(rr_type(sec(0, 0)), RRTYPE_CNAME, "1st is CNAME");
	IS_STR(rdata_name(sec(0, 0), 0), "alias.example.com.", "1st target");
	IS_STR(rr_owner(sec(0, 1)), "alias.example.com.", "2nd owner");
	IS_STR(rdata_name(sec(0, 1), 0), "www.example.com.", "2nd target");
	IS_STR(rr_owner(sec(0, 2)), "www.example.com.", "3rd owner");
	IS_STR(rdata_a(sec(0, 2)), "192.0.2.80", "3rd is www's A");

	ask("alias.example.com.", RRTYPE_CNAME, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "qtype CNAME: the CNAME only");

	ask("ext.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NOERROR, "CNAME out of our zones: NOERROR");
	IS_INT(R.an, 1, "CNAME out of our zones: CNAME only");
	OK(AA(R.flags), "CNAME out of our zones: AA");

	ask("other.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 2, "CNAME into a second zone followed");
	IS_STR(rdata_a(sec(0, 1)), "198.51.100.1", "address from example.net");

	ask("dangling.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NXDOMAIN, "CNAME to a missing name: NXDOMAIN");
	IS_INT(R.an, 1, "dangling: the CNAME");
	IS_INT(R.ns, 1, "dangling: SOA");

	ask("loop1.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok, "CNAME loop: well-formed");
	IS_INT(R.rcode, RCODE_NOERROR, "CNAME loop: NOERROR");
	IS_INT(R.an, 2, "CNAME loop: each CNAME once");

	ask("tosub.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "CNAME into a delegation: the CNAME");
	IS_INT(R.ns, 2, "CNAME into a delegation: the NS set");
	OK(AA(R.flags), "CNAME into a delegation keeps AA");
}

/* The authority SOA's MNAME and RNAME, decoded into mname and rname
 * (size octets each).  Checks that RDLENGTH covers exactly the two names
 * and the five 32-bit fields; returns where those fields start, 0 when the
 * names do not parse. */
static size_t soa_names(const char *what, char *mname, char *rname, size_t size)
{
	const struct rr *soa = sec(1, 0);
	size_t o1 = soa ? read_name(out, R.len, soa->rdoff, mname, size) : 0;
	size_t o2 = o1 ? read_name(out, R.len, o1, rname, size) : 0;
	OK(o2 != 0 && o2 + 20 == soa->rdoff + soa->rdlen, "%s: SOA RDLENGTH matches its RDATA",
	   what);
	return o2;
}

static void test_negative(void)
{
	/* Wildcard: the owner is the query name. */
	ask("foo.wild.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok && AA(R.flags), "wildcard: well-formed, AA");
	IS_INT(R.rcode, RCODE_NOERROR, "wildcard: NOERROR");
	IS_INT(R.an, 1, "wildcard: one A");
	IS_STR(rr_owner(sec(0, 0)), "foo.wild.example.com.", "wildcard owner");
	OK(sec(0, 0) != NULL && out[sec(0, 0)->owner_off] == 0xC0 &&
		   out[sec(0, 0)->owner_off + 1] == 0x0C,
	   "wildcard owner compressed to 0xC00C");
	IS_INT(sec(0, 0) ? sec(0, 0)->ttl : 0, 600, "wildcard TTL");
	IS_STR(rdata_a(sec(0, 0)), "192.0.2.4", "wildcard address");
	ask("x.y.wild.example.com.", RRTYPE_TXT, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "wildcard covers deeper names");
	IS_STR(rr_owner(sec(0, 0)), "x.y.wild.example.com.", "deeper owner");
	ask("foo.wild.example.com.", RRTYPE_MX, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NOERROR, "wildcard NODATA: NOERROR");
	IS_INT(R.an, 0, "wildcard NODATA: no answer");
	IS_INT(rr_type(sec(1, 0)), RRTYPE_SOA, "wildcard NODATA: SOA");

	/* Empty non-terminal: NODATA, not NXDOMAIN (RFC 4592 2.2.2). */
	ask("b.c.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok && AA(R.flags), "ENT: well-formed, AA");
	IS_INT(R.rcode, RCODE_NOERROR, "ENT: NOERROR");
	IS_INT(R.an, 0, "ENT: no answer");
	IS_INT(R.ns, 1, "ENT: SOA in authority");
	IS_INT(rr_type(sec(1, 0)), RRTYPE_SOA, "ENT: SOA type");
	IS_STR(rr_owner(sec(1, 0)), "example.com.", "ENT: SOA owner");
	IS_INT(sec(1, 0) ? sec(1, 0)->ttl : 0, 300, "ENT: SOA TTL neg_ttl");

	ask("www.example.com.", RRTYPE_AAAA, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NOERROR, "NODATA: NOERROR");
	IS_INT(R.an, 0, "NODATA: no answer");
	IS_INT(rr_type(sec(1, 0)), RRTYPE_SOA, "NODATA: SOA");

	ask("nope.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok && AA(R.flags), "NXDOMAIN: well-formed, AA");
	IS_INT(R.rcode, RCODE_NXDOMAIN, "NXDOMAIN");
	IS_INT(R.an, 0, "NXDOMAIN: no answer");
	IS_INT(R.ns, 1, "NXDOMAIN: one authority record");
	IS_INT(rr_type(sec(1, 0)), RRTYPE_SOA, "NXDOMAIN: SOA");
	IS_INT(sec(1, 0) ? sec(1, 0)->ttl : 0, 300, "NXDOMAIN: SOA TTL = min(3600, MINIMUM 300)");
	IS_INT(sec(1, 0) ? sec(1, 0)->rrclass : 0, RRCLASS_IN, "SOA class");
	/* SOA RDATA: two (compressed) names, then five 32-bit fields. */
	char mname[DNAME_MAXLEN * 4 + 2], rname[DNAME_MAXLEN * 4 + 2];
	size_t o2 = soa_names("NXDOMAIN", mname, rname, sizeof(mname));
	IS_STR(o2 ? mname : "", "ns1.example.com.", "SOA MNAME");
	IS_STR(o2 ? rname : "", "hostmaster.example.com.", "SOA RNAME");
	OK(o2 != 0 && get16(out + o2 + 18) == 300, "SOA MINIMUM 300");
	/* MNAME and RNAME end in the apex: each is its first label and a
	 * pointer into the question, the owner a pointer too.  12 header +
	 * 22 question + 12 (owner, fixed fields) + 6 + 13 + 20 = 85. */
	IS_INT(R.len, 85, "NXDOMAIN: SOA names compressed against the question");
	ask("NoPe.ExAmple.COM.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	o2 = soa_names("mixed-case NXDOMAIN", mname, rname, sizeof(mname));
	OK(o2 != 0 && strcasecmp(mname, "ns1.example.com.") == 0, "mixed-case NXDOMAIN: MNAME");
	OK(o2 != 0 && strcasecmp(rname, "hostmaster.example.com.") == 0,
	   "mixed-case NXDOMAIN: RNAME");
	/* NODATA at the MNAME's own name: MNAME is a pointer to the question.
	 * 12 + 21 question + 12 + (2 + 13 + 20) = 80. */
	ask("NS1.example.com.", RRTYPE_TXT, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NOERROR, "NODATA at ns1: NOERROR");
	o2 = soa_names("NODATA at ns1", mname, rname, sizeof(mname));
	OK(o2 != 0 && strcasecmp(mname, "ns1.example.com.") == 0, "NODATA at ns1: MNAME");
	IS_STR(o2 ? rname : "", "hostmaster.example.com.", "NODATA at ns1: RNAME");
	OK(sec(1, 0) != NULL && get16(out + sec(1, 0)->rdoff) == (0xC000 | 12),
	   "NODATA at ns1: MNAME is a pointer to the question");
	IS_INT(R.len, 80, "NODATA at ns1: 80 octets");
	/* example.net's MNAME is in another zone: compressed by search. */
	ask("nope.example.net.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NXDOMAIN, "NXDOMAIN in example.net");
	o2 = soa_names("example.net", mname, rname, sizeof(mname));
	IS_STR(o2 ? mname : "", "ns1.example.com.", "example.net SOA MNAME (out of zone)");
	IS_STR(o2 ? rname : "", "hostmaster.example.net.", "example.net SOA RNAME");
	IS_STR(rr_owner(sec(1, 0)), "example.net.", "example.net SOA owner");
	OK(o2 != 0 && get16(out + o2 + 18) == 600, "example.net SOA MINIMUM 600");
	ask("a.nope.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NXDOMAIN, "below a missing name: NXDOMAIN");

	/* Delegation. */
	ask("host.sub.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok, "referral: well-formed");
	OK(!AA(R.flags), "referral: AA clear");
	IS_INT(R.rcode, RCODE_NOERROR, "referral: NOERROR");
	IS_INT(R.an, 0, "referral: no answer");
	IS_INT(R.ns, 2, "referral: NS set in authority");
	IS_STR(rr_owner(sec(1, 0)), "sub.example.com.", "referral NS owner");
	IS_INT(rr_type(sec(1, 0)), RRTYPE_NS, "referral NS type");
	IS_INT(R.ar, 1, "referral: one glue record");
	IS_STR(rr_owner(sec(2, 0)), "ns.sub.example.com.", "glue owner");
	IS_STR(rdata_a(sec(2, 0)), "192.0.2.53", "glue address");
	IS_STR(rdata_name(sec(1, 0), 0), "ns.other.net.", "NS target 1");
	IS_STR(rdata_name(sec(1, 1), 0), "ns.sub.example.com.", "NS target 2");

	/* RFC 9471 3: in-domain glue that does not fit means TC. */
	size_t len = ask("host.bigdel.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.ok && TC(R.flags), "glue over 512: TC");
	OK(R.an + R.ns + R.ar == 0 && len <= 512, "glue over 512: empty");
	struct qopt o = { .edns = true, .udp = 1232 };
	len = ask("host.bigdel.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.ok && !TC(R.flags), "glue with EDNS 1232: no TC (%zu)", len);
	IS_INT(R.ns, 12, "glue with EDNS: 12 NS");
	IS_INT(R.ar, 25, "glue with EDNS: 24 glue records and the OPT");

	ask("sub.example.com.", RRTYPE_NS, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(!AA(R.flags) && R.an == 0 && R.ns == 2, "NS at the cut is a referral too");
	ask("sub.example.com.", RRTYPE_DS, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(AA(R.flags) && R.an == 0 && rr_type(sec(1, 0)) == RRTYPE_SOA,
	   "DS at the cut: answered by the parent (NODATA, AA)");

	/* Not ours. */
	ask("www.example.org.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_REFUSED, "out of zone: REFUSED");
	OK(!AA(R.flags), "REFUSED: AA clear");
	IS_INT(R.an + R.ns + R.ar, 0, "REFUSED: no records");
	IS_INT(R.qd, 1, "REFUSED: question echoed");
	ask(".", RRTYPE_NS, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_REFUSED, "root: REFUSED");
	ask("com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_REFUSED, "parent of the zone: REFUSED");

	ask("example.com.", RRTYPE_AXFR, RRCLASS_IN, NULL, ANSWER_TCP);
	IS_INT(R.rcode, RCODE_REFUSED, "AXFR: REFUSED");
	IS_INT(R.an, 0, "AXFR: nothing");
	ask("example.com.", RRTYPE_IXFR, RRCLASS_IN, NULL, ANSWER_TCP);
	IS_INT(R.rcode, RCODE_REFUSED, "IXFR: REFUSED");
	ask("www.example.com.", RRTYPE_A, 4 /* HS */, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_REFUSED, "class HS: REFUSED");
}

static void test_chaos(void)
{
	ask("version.bind.", RRTYPE_TXT, RRCLASS_CH, NULL, ANSWER_UDP);
	OK(R.ok, "version.bind: well-formed");
	IS_INT(R.rcode, RCODE_NOERROR, "version.bind: NOERROR");
	IS_INT(R.an, 1, "version.bind: one TXT");
	const struct rr *r = sec(0, 0);
	IS_INT(rr_type(r), RRTYPE_TXT, "version.bind: TXT");
	IS_INT(r ? r->rrclass : 0, RRCLASS_CH, "version.bind: class CH");
	IS_INT(r ? r->ttl : 1, 0, "version.bind: TTL 0");
	OK(!AA(R.flags), "version.bind: AA clear (not zone data, as NSD)");
	OK(r != NULL && out[r->owner_off] == 0xC0 && out[r->owner_off + 1] == 0x0C,
	   "version.bind: owner compressed to 0xC00C");
	OK(r != NULL && r->rdlen == 13 && out[r->rdoff] == 12 &&
		   memcmp(out + r->rdoff + 1, "geodnsd-test", 12) == 0,
	   "version.bind: the configured version");

	ask("ID.Server.", RRTYPE_TXT, RRCLASS_CH, NULL, ANSWER_UDP);
	r = sec(0, 0);
	OK(R.an == 1 && r != NULL && r->rdlen == 7 && out[r->rdoff] == 6 &&
		   memcmp(out + r->rdoff + 1, "test-1", 6) == 0,
	   "id.server (any case): the identity");
	ask("hostname.bind.", RRTYPE_TXT, RRCLASS_CH, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "hostname.bind answered");
	ask("version.server.", RRTYPE_A, RRCLASS_CH, NULL, ANSWER_UDP);
	OK(R.rcode == RCODE_NOERROR && R.an == 0, "version.server type A: empty NOERROR");
	ask("foo.bind.", RRTYPE_TXT, RRCLASS_CH, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_REFUSED, "other CH names: REFUSED");

	const char *saved = D.conf.version;
	D.conf.version = "";
	ask("version.bind.", RRTYPE_TXT, RRCLASS_CH, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_REFUSED, "version off: REFUSED");
	D.conf.version = saved;
}

static void test_edns(void)
{
	struct qopt o = { .flags = 0, .edns = true, .udp = 4096, .nsid = true };
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.ok, "EDNS: well-formed");
	IS_INT(R.an, 2, "EDNS: answer");
	IS_INT(R.ar, 1, "EDNS: OPT in additional");
	const struct rr *opt = R.opt;
	OK(opt != NULL && strcmp(opt->owner, ".") == 0, "OPT owned by root");
	IS_INT(opt ? opt->rrclass : 0, 1232, "OPT advertises udp_max_payload");
	IS_INT(opt ? opt->ttl : 1, 0, "OPT TTL: rcode 0, version 0, DO clear");
	OK(opt != NULL && opt->rdlen == 8 && get16(out + opt->rdoff) == EDNS_OPT_NSID &&
		   get16(out + opt->rdoff + 2) == 4 && memcmp(out + opt->rdoff + 4, "ns-a", 4) == 0,
	   "NSID option echoed with the configured id");

	o.nsid = false;
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.opt != NULL && R.opt->rdlen == 0, "no NSID unless asked");

	o.version = 1;
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.ok, "BADVERS: well-formed");
	IS_INT(R.flags & 0xF, 0, "BADVERS: low rcode bits 0");
	OK(R.opt != NULL && R.opt->ttl >> 24 == 1, "BADVERS: extended rcode 1 in OPT TTL");
	IS_INT(R.rcode, RCODE_BADVERS, "BADVERS: rcode 16");
	IS_INT(R.an, 0, "BADVERS: no answer");
	OK(R.opt != NULL && ((R.opt->ttl >> 16) & 0xFF) == 0, "BADVERS: our version 0");

	/* A bad OPT gets FORMERR and no OPT back (RFC 6891 7). */
	uint8_t q[600];
	o.version = 0;
	size_t qlen = mkquery(q, 9, "www.example.com.", RRTYPE_A, RRCLASS_IN, &o);
	q[11] = 2; /* ARCOUNT 2: the OPT twice */
	memcpy(q + qlen, q + qlen - 11, 11);
	qlen += 11;
	parse(answer_query(&D, q, qlen, NULL, out, ANSWER_UDP, NULL));
	IS_INT(R.rcode, RCODE_FORMERR, "two OPT: FORMERR");
	OK(R.opt == NULL && R.ar == 0, "two OPT: no OPT in the reply");
	IS_INT(R.qd, 1, "two OPT: question echoed");
}

/* The option `code` in the reply's OPT: its data offset in out, or 0. */
static size_t opt_find(unsigned code, unsigned *len)
{
	if (R.opt == NULL)
		return 0;
	size_t o = R.opt->rdoff, end = o + R.opt->rdlen;
	while (o + 4 <= end) {
		unsigned c = get16(out + o), l = get16(out + o + 2);
		if (c == code) {
			*len = l;
			return o + 4;
		}
		o += 4 + l;
	}
	return 0;
}

/* RFC 7828: edns-tcp-keepalive. */
static void test_keepalive(void)
{
	D.conf.tcp_keepalive = 100; /* 10 s */
	struct qopt o = { .edns = true, .udp = 1232, .keepalive = true };
	unsigned len = 0;
	size_t at;

	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_TCP);
	IS_INT(R.rcode, RCODE_NOERROR, "keepalive over TCP: answered");
	IS_INT(R.an, 2, "keepalive over TCP: the answer");
	at = opt_find(EDNS_OPT_KEEPALIVE, &len);
	OK(at != 0 && len == 2 && get16(out + at) == 100,
	   "keepalive over TCP: the connection's idle timeout, in 100 ms units");

	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.rcode == RCODE_NOERROR && R.an == 2 && R.opt != NULL,
	   "keepalive over UDP: answered with an OPT");
	OK(opt_find(EDNS_OPT_KEEPALIVE, &len) == 0, "keepalive over UDP: never in the reply");

	o.keepalive = false;
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_TCP);
	OK(R.opt != NULL && opt_find(EDNS_OPT_KEEPALIVE, &len) == 0,
	   "TCP without the option: none in the reply");

	o.keepalive = true;
	o.ka_value = 50;
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_TCP);
	IS_INT(R.rcode, RCODE_FORMERR, "keepalive with a TIMEOUT in a TCP query: FORMERR");
	OK(R.an == 0 && R.qd == 1, "keepalive FORMERR: the question, no answer");
	at = opt_find(EDNS_OPT_EDE, &len);
	OK(at != 0 && get16(out + at) == 0 && len > 2 &&
		   memmem(out + at + 2, len - 2, "RFC 7828", 8) != NULL,
	   "keepalive FORMERR: an Extended DNS Error names the rule");

	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.rcode == RCODE_NOERROR && R.an == 2 && opt_find(EDNS_OPT_KEEPALIVE, &len) == 0,
	   "keepalive with a TIMEOUT over UDP: ignored (RFC 7828 3.2.2)");

	o.ka_value = 0;
	o.nsid = true;
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_TCP);
	at = opt_find(EDNS_OPT_KEEPALIVE, &len);
	OK(at != 0 && len == 2 && get16(out + at) == 100 && opt_find(EDNS_OPT_NSID, &len) != 0,
	   "keepalive beside NSID: both answered");
	D.conf.tcp_keepalive = 0;
}

/* RFC 9471 3: a referral carries all its in-domain glue, or TC.  300 name
 * servers: more than any fixed table the answer or the loader had. */
static void test_all_glue(void)
{
	ask("www.many.glue.test.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_TCP);
	OK(R.ok, "300 NS referral over TCP: well-formed");
	OK(R.rcode == RCODE_NOERROR && !AA(R.flags) && !TC(R.flags), "referral, no TC");
	IS_INT(R.ns, 300, "every NS");
	unsigned glue = 0;
	for (unsigned i = 0; i < R.n; i++)
		glue += R.rr[i].section == 2 && R.rr[i].type == RRTYPE_A;
	IS_INT(glue, 300, "every glue address, over TCP");

	struct qopt o = { .edns = true, .udp = 1232 };
	ask("www.many.glue.test.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(TC(R.flags) && R.ns == 0, "over UDP it does not fit: TC, nothing partial");

	/* ANY over TCP: the NS and the MX both name ns1, whose address goes
	 * in once (RFC 2181 5). */
	ask("glue.test.", RRTYPE_ANY, RRCLASS_IN, NULL, ANSWER_TCP);
	unsigned ns1 = 0;
	for (unsigned i = 0; i < R.n; i++)
		ns1 += R.rr[i].section == 2 && strcmp(R.rr[i].owner, "ns1.glue.test.") == 0;
	OK(R.rcode == RCODE_NOERROR && R.an >= 3, "apex ANY over TCP: every RRset");
	IS_INT(ns1, 1, "apex ANY over TCP: ns1's address once, for both NS and MX");
}

static void test_sizes(void)
{
	/* 6 TXT records of ~114 octets: over 512, under 1232. */
	size_t len = ask("mid.example.com.", RRTYPE_TXT, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(TC(R.flags), "mid, no EDNS: TC");
	IS_INT(R.an, 0, "mid, no EDNS: ANCOUNT 0");
	OK(len <= 512, "mid, no EDNS: within 512 (%zu)", len);
	OK(R.ok && R.qd == 1, "mid, no EDNS: question kept");

	struct qopt o = { .edns = true, .udp = 1232 };
	len = ask("mid.example.com.", RRTYPE_TXT, RRCLASS_IN, &o, ANSWER_UDP);
	OK(!TC(R.flags), "mid, EDNS 1232: no TC");
	IS_INT(R.an, 6, "mid, EDNS 1232: all six");
	OK(len > 512 && len <= 1232, "mid, EDNS 1232: size %zu", len);

	o.udp = 600;
	len = ask("mid.example.com.", RRTYPE_TXT, RRCLASS_IN, &o, ANSWER_UDP);
	OK(TC(R.flags) && R.an == 0, "mid, EDNS 600: TC");
	OK(len <= 600 && R.opt != NULL, "mid, EDNS 600: OPT kept, size %zu", len);

	o.udp = 100; /* below 512 counts as 512 (RFC 6891 6.2.5) */
	ask("www.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(!TC(R.flags) && R.an == 2, "EDNS 100: treated as 512");

	/* 40 records of ~114 octets: only TCP takes them. */
	len = ask("big.example.com.", RRTYPE_TXT, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(TC(R.flags) && R.an == 0 && R.ns == 0 && R.ar == 0, "big, no EDNS: TC, empty");
	OK(R.ok && len <= 512, "big, no EDNS: well-formed, %zu octets", len);

	o.udp = 4096;
	len = ask("big.example.com.", RRTYPE_TXT, RRCLASS_IN, &o, ANSWER_UDP);
	OK(TC(R.flags) && R.an == 0, "big, EDNS 4096: TC (server max 1232)");
	OK(R.ok && R.ar == 1 && R.opt != NULL, "big, EDNS: only the OPT");
	OK(len <= 1232, "big, EDNS: within 1232 (%zu)", len);
	OK(AA(R.flags), "big, EDNS: AA still set");

	len = ask("big.example.com.", RRTYPE_TXT, RRCLASS_IN, NULL, ANSWER_TCP);
	OK(R.ok && !TC(R.flags), "big over TCP: no TC");
	IS_INT(R.an, 40, "big over TCP: all 40");
	OK(len > 4000, "big over TCP: %zu octets", len);

	/* RFC 8482: ANY over UDP gets one RRset, TCP gets all. */
	ask("multi.example.com.", RRTYPE_ANY, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "ANY over UDP: one RRset");
	ask("multi.example.com.", RRTYPE_ANY, RRCLASS_IN, NULL, ANSWER_TCP);
	IS_INT(R.an, 3, "ANY over TCP: all three RRsets");
	OK(rr_type(sec(0, 0)) != rr_type(sec(0, 1)) && rr_type(sec(0, 1)) != rr_type(sec(0, 2)),
	   "ANY over TCP: three types");
	ask("www.example.com.", RRTYPE_ANY, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 2, "ANY over UDP: the one RRset in full");
	ask("b.c.example.com.", RRTYPE_ANY, RRCLASS_IN, NULL, ANSWER_UDP);
	OK(R.an == 0 && R.rcode == RCODE_NOERROR && R.ns == 1, "ANY at an ENT: NODATA");
}

/*
 * pkt_cut_to_tc(): what a UDP answer becomes when the kernel refuses it as
 * larger than the interface MTU.  Header and question stay, TC is set, and
 * of the records only the OPT is kept, moved up behind the question.
 */
static void test_cut_to_tc(void)
{
	struct qopt o = { .edns = true, .udp = 1232, .nsid = true };
	size_t len = ask("mid.example.com.", RRTYPE_TXT, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.ok && R.an == 6 && R.opt != NULL && !TC(R.flags), "cut: the full answer first");
	size_t qend = R.question_end, opt_len = len - R.opt->owner_off;
	uint8_t question[600];
	memcpy(question, out, qend);
	size_t cut = pkt_cut_to_tc(out, len);
	parse(cut);
	OK(cut == qend + opt_len, "cut: question and OPT only (%zu octets)", cut);
	OK(R.ok, "cut: well-formed");
	OK(TC(R.flags) && AA(R.flags), "cut: TC set, AA kept");
	OK(R.an == 0 && R.ns == 0 && R.ar == 1, "cut: ANCOUNT 0, NSCOUNT 0, ARCOUNT 1");
	IS_INT(R.id, 0xBEEF, "cut: id kept");
	OK(memcmp(out + 12, question + 12, qend - 12) == 0, "cut: question unchanged");
	OK(R.opt != NULL && R.opt->rrclass == 1232 && R.opt->rdlen == 8 &&
		   memcmp(out + R.opt->rdoff + 4, "ns-a", 4) == 0,
	   "cut: OPT moved with its size and NSID");
	IS_INT(pkt_cut_to_tc(out, cut), cut, "cut: cutting again changes nothing");

	/* Authority and additional records go too (NXDOMAIN's SOA, and the
	 * name servers' addresses). */
	len = ask("nope.example.com.", RRTYPE_A, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.ns == 1 && R.rcode == RCODE_NXDOMAIN, "cut: NXDOMAIN with its SOA first");
	parse(pkt_cut_to_tc(out, len));
	OK(R.ok && TC(R.flags) && R.ns == 0 && R.ar == 1 && R.opt != NULL,
	   "cut NXDOMAIN: SOA gone, OPT kept");
	IS_INT(R.rcode, RCODE_NXDOMAIN, "cut NXDOMAIN: rcode kept");
	ask("example.com.", RRTYPE_NS, RRCLASS_IN, &o, ANSWER_UDP);
	OK(R.an == 2 && R.ar == 4, "cut: apex NS with glue and OPT first");
	parse(pkt_cut_to_tc(out, R.len));
	OK(R.ok && R.an == 0 && R.ar == 1 && R.opt != NULL && strcmp(R.opt->owner, ".") == 0,
	   "cut apex NS: only the OPT, owned by the root");

	/* Without EDNS nothing but the question is left. */
	len = ask("www.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	qend = R.question_end;
	parse(pkt_cut_to_tc(out, len));
	OK(R.ok && R.len == qend && R.ar == 0 && TC(R.flags), "cut, no EDNS: question only");

	/* What does not parse as a response is left alone. */
	len = ask("www.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(pkt_cut_to_tc(out, 11), 0, "cut: shorter than a header: 0");
	IS_INT(pkt_cut_to_tc(out, len - 1), 0, "cut: last record short by one: 0");
	out[7] = 3; /* ANCOUNT 3 for two records */
	IS_INT(pkt_cut_to_tc(out, len), 0, "cut: more records counted than present: 0");
	out[7] = 2;
	out[5] = 2; /* QDCOUNT 2: never ours */
	IS_INT(pkt_cut_to_tc(out, len), 0, "cut: two questions: 0");
	out[5] = 1;
	OK(pkt_cut_to_tc(out, len) != 0, "cut: the same answer, counts restored, cuts");
}

static void test_malformed(void)
{
	uint8_t q[600];
	size_t qlen = mkquery(q, 5, "www.example.com.", RRTYPE_A, RRCLASS_IN, NULL);
	q[2] |= 0x80;
	IS_INT(answer_query(&D, q, qlen, NULL, out, ANSWER_UDP, NULL), 0, "QR set: no response");
	IS_INT(answer_query(&D, q, 11, NULL, out, ANSWER_UDP, NULL), 0, "11 octets: no response");

	qlen = mkquery(q, 5, "www.example.com.", RRTYPE_A, RRCLASS_IN, NULL);
	q[7] = 1; /* ANCOUNT 1 */
	parse(answer_query(&D, q, qlen, NULL, out, ANSWER_UDP, NULL));
	IS_INT(R.rcode, RCODE_FORMERR, "ANCOUNT 1: FORMERR");
	OK(R.ok && R.qd == 1 && R.an == 0, "FORMERR: question, no records");

	qlen = mkquery(q, 5, "www.example.com.", RRTYPE_A, RRCLASS_IN, NULL);
	q[5] = 0; /* QDCOUNT 0 */
	parse(answer_query(&D, q, 12, NULL, out, ANSWER_UDP, NULL));
	IS_INT(R.rcode, RCODE_FORMERR, "QDCOUNT 0: FORMERR");
	OK(R.len == 12 && R.qd == 0, "QDCOUNT 0: header only");
	IS_INT(R.id, 5, "QDCOUNT 0: id kept");

	struct qopt o = { .flags = 5u << 11 }; /* opcode UPDATE */
	ask("example.com.", RRTYPE_SOA, RRCLASS_IN, &o, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_NOTIMP, "UPDATE: NOTIMP");
	IS_INT((R.flags >> 11) & 0xF, 5, "UPDATE: opcode copied");

	ask("www.example.com.", RRTYPE_OPT, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.rcode, RCODE_FORMERR, "qtype OPT: FORMERR");
}

/* A stand-in for the geo module: answers with www's two A records, the
 * ones fake_mask selects, with TTL fake_ttl. */
static uint64_t fake_mask;
static uint32_t fake_ttl;
static const struct zrrset *fake_set;

static void fake_answer(const void *ctx, const void *binding, uint16_t qtype,
			const struct answer_client *c, struct dyn_answer *res)
{
	(void)ctx;
	(void)binding;
	(void)qtype;
	(void)c;
	memset(res, 0, sizeof(*res));
	res->set = fake_set;
	res->mask = fake_mask;
	res->ttl = fake_ttl;
	res->service = -1;
	res->dc = -1;
}

static void test_dyn(void)
{
	struct zone *z = D.zones->zones[0];
	uint8_t www[DNAME_MAXLEN], mail[DNAME_MAXLEN];
	dname_from_str("www.example.com.", www);
	dname_from_str("mail.example.com.", mail);
	struct znode *n = zone_node(z, mail, false);
	fake_set = znode_rrset(zone_node(z, www, false), RRTYPE_A);
	if (n == NULL || fake_set == NULL) {
		OK(false, "dyn: test nodes present");
		return;
	}
	static const int binding = 1;
	const void *saved = n->dyn;
	n->dyn = &binding;
	D.conf.dyn.answer = fake_answer;

	fake_mask = 2;
	fake_ttl = 77;
	ask("mail.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "dyn, mask 2: one record");
	IS_STR(rdata_a(sec(0, 0)), "192.0.2.81", "dyn, mask 2: the second record");
	IS_INT(sec(0, 0) ? sec(0, 0)->ttl : 0, 77, "dyn, mask 2: the answer's TTL");
	IS_STR(rr_owner(sec(0, 0)), "mail.example.com.", "dyn: owner is the question");

	fake_mask = ~UINT64_C(0);
	ask("mail.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 2, "dyn, whole set: two records");
	IS_INT(sec(0, 0) ? sec(0, 0)->ttl : 0, 77, "dyn, whole set: first TTL 77");
	IS_INT(sec(0, 1) ? sec(0, 1)->ttl : 0, 77, "dyn, whole set: second TTL 77");
	IS_STR(rdata_a(sec(0, 1)), "192.0.2.81", "dyn, whole set: second address");

	fake_ttl = 300; /* the set's own: copied as stored */
	fake_mask = 1;
	ask("mail.example.com.", RRTYPE_A, RRCLASS_IN, NULL, ANSWER_UDP);
	IS_INT(R.an, 1, "dyn, mask 1: one record");
	IS_STR(rdata_a(sec(0, 0)), "192.0.2.80", "dyn, mask 1: the first record");
	IS_INT(sec(0, 0) ? sec(0, 0)->ttl : 0, 300, "dyn, mask 1: TTL 300");

	n->dyn = saved;
	D.conf.dyn.answer = NULL;
}

/* Status and explain lines longer than one TXT string split between
 * words, and nothing is lost. */
static void test_txt_split(void)
{
	char line[600];
	uint8_t rd[700];
	size_t n = 0;
	for (int i = 0; n + 12 < 560; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "word%03d; ", i);
	line[n - 1] = '\0'; /* no trailing space */
	int len = chaos_txt_rdata(line, rd, sizeof(rd));
	OK(len > 0, "long line encoded");
	char back[700];
	size_t b = 0;
	unsigned strings = 0;
	bool words_whole = true;
	for (int o = 0; o < len; o += 1 + rd[o], strings++) {
		OK(rd[o] <= 255, "each string at most 255 octets");
		if (o + 1 + rd[o] < len)
			words_whole &= rd[o + rd[o]] == ' '; /* ends after a space */
		memcpy(back + b, rd + o + 1, rd[o]);
		b += rd[o];
	}
	back[b] = '\0';
	IS_STR(back, line, "the strings put together are the line");
	OK(strings == 3, "three strings for a 560-octet line");
	OK(words_whole, "every string but the last ends at a space");
}

int main(void)
{
	setup();
	test_txt_split();
	test_positive();
	test_cname();
	test_negative();
	test_chaos();
	test_edns();
	test_keepalive();
	test_all_glue();
	test_sizes();
	test_cut_to_tc();
	test_malformed();
	test_dyn();
	zonedb_free((struct zonedb *)D.zones);
	return tap_done();
}
