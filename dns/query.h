/* query.h: parsing an incoming DNS query (header, question, EDNS) without allocation. */
#ifndef GD_QUERY_H
#define GD_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dname.h"

/* What query_parse() found.  Pointers refer into the caller's packet. */
struct query {
	const uint8_t *pkt;
	size_t len;
	uint16_t id;
	uint16_t flags;
	uint16_t qtype;
	uint16_t qclass;
	bool have_question; /* question parsed: echo pkt[12..question_end) */
	size_t question_end;
	struct dname_split qname;

	bool edns; /* a well-formed OPT record was present */
	uint16_t edns_udp_size;
	uint8_t edns_version;
	uint16_t edns_flags; /* DO bit etc. (RFC 6891 6.1.4) */
	bool nsid;           /* NSID option present (RFC 5001) */
	uint8_t keepalive;   /* edns-tcp-keepalive (RFC 7828): KEEPALIVE_* */

	bool ecs;             /* a valid ECS option (RFC 7871 6) */
	uint16_t ecs_family;  /* 1 IPv4, 2 IPv6 */
	uint8_t ecs_source;   /* SOURCE PREFIX-LENGTH */
	uint8_t ecs_addr_len; /* octets of ADDRESS as sent */
	uint8_t ecs_addr[16]; /* zero-padded */

	const char *why; /* FORMERR: what was wrong with an option, for the
			  * response's Extended DNS Error (RFC 8914), or NULL */

	bool cookie; /* a well-formed COOKIE option (RFC 7873 4) */
	/* A malformed COOKIE option: why.  FORMERR only for a server that
	 * does cookies (RFC 7873 5.2.2); one that does not ignores the option
	 * as any unknown one (RFC 6891 6.1.2).  NULL: none. */
	const char *cookie_why;
	uint8_t cookie_client[8];
	uint8_t cookie_server[32];
	uint8_t cookie_server_len; /* 0: the client has none yet */
};

/* query.keepalive: absent, as a client sends it (no TIMEOUT), or with a
 * TIMEOUT, which only a server may send (RFC 7828 3.2.1). */
#define KEEPALIVE_NONE  0
#define KEEPALIVE_EMPTY 1
#define KEEPALIVE_VALUE 2

/* query_parse() result beyond an rcode: the packet gets no answer at all. */
#define QUERY_DROP (-1)

/*
 * Parse the query pkt[0..len).  Returns QUERY_DROP for packets that must not
 * be answered (shorter than a header, or QR set: a response sent to us),
 * otherwise the rcode to answer with: RCODE_NOERROR when the query is fit to
 * be looked up, RCODE_FORMERR (QDCOUNT != 1, bad name, ANCOUNT/NSCOUNT not 0,
 * truncated or malformed records, several OPT, OPT not at the root, a
 * malformed ECS option: unknown family, prefix too long, wrong address
 * length, bits set past the source prefix, non-zero scope, two of them),
 * RCODE_NOTIMP (opcode other than QUERY), RCODE_BADVERS (EDNS version > 0).
 * Whatever the result, q->have_question and q->edns say what may be echoed.
 */
int query_parse(const uint8_t *pkt, size_t len, struct query *q);

#endif
