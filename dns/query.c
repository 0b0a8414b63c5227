/* query.c: query parsing. */
#include "config.h"

#include "dns/query.h"

#include <arpa/inet.h>
#include <string.h>

#include "dns/rrtype.h"

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return ntohs(v);
}

static int parse_question(const uint8_t *pkt, size_t len, struct query *q)
{
	int off = dname_parse_query(pkt, len, DNS_HEADER_SIZE, &q->qname);
	if (off < 0 || (size_t)off + 4 > len)
		return -1;
	q->qtype = rd16(pkt + off);
	q->qclass = rd16(pkt + off + 2);
	q->question_end = (size_t)off + 4;
	q->have_question = true;
	return 0;
}

/* dst[0..16) = src[0..n) zero-padded, n <= 16, reading no octet of src past
 * n: two overlapping fixed-size moves each (the compiler inlines those),
 * where memcpy with a variable length is a call, on every ECS query. */
static inline void copy_short(uint8_t dst[16], const uint8_t *src, size_t n)
{
	memset(dst, 0, 16);
	if (n >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + n - 8, src + n - 8, 8);
	} else if (n >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + n - 4, src + n - 4, 4);
	} else if (n > 0) {
		dst[0] = src[0];
		dst[n / 2] = src[n / 2];
		dst[n - 1] = src[n - 1];
	}
}

/* RFC 7871 6: FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH, ADDRESS
 * truncated to the source prefix.  Anything else is FORMERR (7.1.1). */
static int ecs_error(struct query *q, const char *why)
{
	q->why = why;
	return -1;
}

static int parse_ecs(const uint8_t *p, size_t len, struct query *q)
{
	if (q->ecs)
		return ecs_error(q, "two ECS options");
	if (len < 4)
		return ecs_error(q, "ECS option shorter than 4 octets");
	uint16_t family = rd16(p);
	uint8_t source = p[2], scope = p[3];
	unsigned max = family == 1 ? 32 : family == 2 ? 128 : 0;
	size_t alen = len - 4;
	if (max == 0)
		return ecs_error(q, "ECS FAMILY is not 1 (IPv4) or 2 (IPv6)");
	if (source > max)
		return ecs_error(q, "ECS SOURCE PREFIX-LENGTH is longer than the address");
	if (scope != 0)
		return ecs_error(q, "ECS SCOPE PREFIX-LENGTH is not 0 in a query");
	if (alen != (source + 7u) / 8)
		return ecs_error(q, "ECS ADDRESS is not SOURCE PREFIX-LENGTH rounded up to octets");
	if (source % 8 != 0 && (p[4 + alen - 1] & (0xFFu >> (source % 8))) != 0)
		return ecs_error(q, "ECS ADDRESS has bits set past SOURCE PREFIX-LENGTH");
	q->ecs = true;
	q->ecs_family = family;
	q->ecs_source = source;
	q->ecs_addr_len = (uint8_t)alen;
	copy_short(q->ecs_addr, p + 4, alen);
	return 0;
}

/* RFC 7873 4: an 8-octet client cookie, then optionally the server cookie
 * we gave (8 to 32 octets).  A malformed one is noted, for the answer to
 * decide (struct query's cookie_why). */
static void parse_cookie(const uint8_t *p, size_t len, struct query *q)
{
	if (q->cookie) {
		q->cookie_why = "two COOKIE options";
		return;
	}
	if (len < 8 || (len > 8 && (len < 16 || len > 40))) {
		q->cookie_why = "COOKIE option of a wrong length (RFC 7873 4)";
		return;
	}
	q->cookie = true;
	memcpy(q->cookie_client, p, 8);
	q->cookie_server_len = (uint8_t)(len - 8);
	memcpy(q->cookie_server, p + 8, len - 8);
}

/* RFC 6891 6.1.2: options are {code, length, data}; all must fit exactly. */
static int parse_opt_rdata(const uint8_t *p, size_t rdlen, struct query *q)
{
	size_t o = 0;
	while (o < rdlen) {
		if (rdlen - o < 4)
			return -1;
		uint16_t code = rd16(p + o), olen = rd16(p + o + 2);
		o += 4;
		if (olen > rdlen - o)
			return -1;
		if (code == EDNS_OPT_NSID)
			q->nsid = true; /* RFC 5001 2.1: the request is empty */
		else if (code == EDNS_OPT_KEEPALIVE)
			q->keepalive = olen == 0 ? KEEPALIVE_EMPTY : KEEPALIVE_VALUE;
		else if (code == EDNS_OPT_ECS && parse_ecs(p + o, olen, q) < 0)
			return -2;
		else if (code == EDNS_OPT_COOKIE)
			parse_cookie(p + o, olen, q);
		/* Unknown options are ignored (RFC 6891 6.1.2). */
		o += olen;
	}
	return 0;
}

/* Walk the additional section; pick out the OPT record.  Inlined (through
 * parse_rest()) into query_parse() for the common path. */
static inline __attribute__((always_inline)) int parse_additional(const uint8_t *pkt, size_t len,
								  size_t off, unsigned count,
								  struct query *q)
{
	bool seen_opt = false;
	for (unsigned i = 0; i < count; i++) {
		size_t owner = off;
		/* The usual record here is OPT, owned by the root. */
		int next = off < len && pkt[off] == 0 ? (int)off + 1 : dname_skip(pkt, len, off);
		if (next < 0 || (size_t)next + 10 > len)
			return -1;
		off = (size_t)next;
		uint16_t type = rd16(pkt + off);
		uint16_t rdlen = rd16(pkt + off + 8);
		if (off + 10 + rdlen > len)
			return -1;
		if (type == RRTYPE_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root. */
			if (seen_opt || pkt[owner] != 0)
				return -1;
			seen_opt = true;
			q->edns_udp_size = rd16(pkt + off + 2);
			q->edns_version = pkt[off + 5];
			q->edns_flags = rd16(pkt + off + 6);
			int rc = parse_opt_rdata(pkt + off + 10, rdlen, q);
			if (rc < 0) {
				/* A bad ECS is answered with our OPT; a bad OPT
				 * without (RFC 6891 7). */
				q->edns = rc == -2;
				return -1;
			}
		}
		off += 10 + (size_t)rdlen;
	}
	q->edns = seen_opt;
	return 0;
}

/* The additional section from off on, as an rcode: FORMERR (and no ECS or
 * cookie to echo) when it is malformed, BADVERS for EDNS version > 0
 * (RFC 6891 6.1.3), else NOERROR. */
static inline __attribute__((always_inline)) int parse_rest(const uint8_t *pkt, size_t len,
							    size_t off, unsigned arcount,
							    struct query *q)
{
	if (parse_additional(pkt, len, off, arcount, q) < 0) {
		q->ecs = false;
		q->cookie = false;
		return RCODE_FORMERR;
	}
	return q->edns && q->edns_version > 0 ? RCODE_BADVERS : RCODE_NOERROR;
}

/*
 * A query carries no answer or authority records, except that an IXFR
 * query carries the client's SOA in the authority section (RFC 1995 3):
 * that one is read past (*off moves after it), to be refused.  -1: any
 * other records there (FORMERR).
 */
static int skip_authority(const uint8_t *pkt, size_t len, unsigned ancount, unsigned nscount,
			  const struct query *q, size_t *off)
{
	if (ancount != 0 || nscount != 1 || q->qtype != RRTYPE_IXFR)
		return -1;
	int next = dname_skip(pkt, len, *off);
	if (next < 0 || (size_t)next + 10 > len || (size_t)next + 10 + rd16(pkt + next + 8) > len)
		return -1;
	*off = (size_t)next + 10 + rd16(pkt + next + 8);
	return 0;
}

/*
 * An opcode other than QUERY, with its one question read: NOTIMP, with
 * our OPT when the request has a well-formed one (RFC 6891 7).  Its
 * answer and authority records (NOTIFY, UPDATE) are read past.
 */
static __attribute__((noinline)) int other_opcode(const uint8_t *pkt, size_t len, unsigned an_ns,
						  unsigned arcount, struct query *q)
{
	size_t off = q->question_end;
	for (unsigned i = 0; i < an_ns; i++) {
		int next = dname_skip(pkt, len, off);
		if (next < 0 || (size_t)next + 10 > len ||
		    (size_t)next + 10 + rd16(pkt + next + 8) > len)
			return RCODE_NOTIMP;
		off = (size_t)next + 10 + rd16(pkt + next + 8);
	}
	if (parse_rest(pkt, len, off, arcount, q) == RCODE_FORMERR) {
		q->edns = false;
		q->nsid = false;
	}
	return RCODE_NOTIMP;
}

/*
 * QDCOUNT other than 1.  Only one such query is answered (RFC 7873 5.4):
 * no question, no answer or authority records, and an OPT with a COOKIE
 * option, which asks for a server cookie (the caller answers it with our
 * OPT alone).  Everything else is FORMERR, or NOTIMP for other opcodes.
 */
static __attribute__((noinline)) int no_question(const uint8_t *pkt, size_t len, unsigned qdcount,
						 unsigned an_ns, unsigned arcount, struct query *q)
{
	if (HDR_OPCODE(q->flags) != OPCODE_QUERY)
		return RCODE_NOTIMP;
	if (qdcount != 0 || an_ns != 0 || arcount == 0)
		return RCODE_FORMERR;
	int rc = parse_rest(pkt, len, DNS_HEADER_SIZE, arcount, q);
	if (rc != RCODE_NOERROR)
		return rc;
	return q->cookie ? RCODE_NOERROR : RCODE_FORMERR;
}

int query_parse(const uint8_t *pkt, size_t len, struct query *q)
{
	q->pkt = pkt;
	q->len = len;
	q->qtype = 0; /* read by rate limiting and the log even without a question */
	q->qclass = 0;
	q->have_question = false;
	q->edns = false;
	q->nsid = false;
	q->keepalive = KEEPALIVE_NONE;
	q->ecs = false;
	q->cookie = false;
	q->cookie_why = NULL;
	q->why = NULL;
	q->edns_version = 0;
	if (len < DNS_HEADER_SIZE)
		return QUERY_DROP;
	q->id = rd16(pkt);
	q->flags = rd16(pkt + 2);
	if (q->flags & HDR_QR)
		return QUERY_DROP; /* never answer a response: no loops */

	uint16_t qdcount = rd16(pkt + 4), ancount = rd16(pkt + 6);
	uint16_t nscount = rd16(pkt + 8), arcount = rd16(pkt + 10);
	if (qdcount != 1)
		return no_question(pkt, len, qdcount, ancount | nscount, arcount, q);
	if (parse_question(pkt, len, q) < 0)
		return RCODE_FORMERR;
	if (HDR_OPCODE(q->flags) != OPCODE_QUERY)
		return other_opcode(pkt, len, (unsigned)ancount + nscount, arcount, q);
	size_t off = q->question_end;
	if ((ancount | nscount) != 0 && skip_authority(pkt, len, ancount, nscount, q, &off) < 0)
		return RCODE_FORMERR;
	return parse_rest(pkt, len, off, arcount, q);
}
