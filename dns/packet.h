/* packet.h: building a response in a caller's buffer, with name compression. */
#ifndef GD_PACKET_H
#define GD_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zrrset;

enum pkt_section { PKT_ANSWER = 0, PKT_AUTHORITY = 1, PKT_ADDITIONAL = 2 };

#define PKT_COMP_MAX 64

/*
 * A response under construction.  Everything lives in the struct or the
 * caller's buffer: building a response allocates nothing.  max is the size
 * the response may reach (the UDP limit or 65535), minus whatever the caller
 * reserved for the OPT record.
 */
struct pkt {
	uint8_t *buf;
	size_t len;
	size_t max;
	uint16_t count[3];
	const uint8_t *qname; /* the question name, at offset 12 (or NULL) */
	uint8_t qname_len;
	bool qname_reg; /* its suffixes are in comp[] (done on first need) */
	unsigned n_comp;
	struct {
		const uint8_t *name; /* wire name equal to what sits at off */
		uint16_t off;
		uint8_t len; /* octets of name, with the root: a cheap first test */
	} comp[PKT_COMP_MAX];
};

/* Start a response in buf (capacity cap >= 512): copy the query's header and
 * question (pkt[0..question_end), question_end 12 when there is none), set
 * QR, clear AA/TC/RA/AD/Z and the counts, QDCOUNT 1 when a question was
 * copied.  qname (lowercase wire, qname_len octets) is known for
 * compression at offset 12 when not NULL: an owner passed as that very
 * pointer is written as a pointer to it without a search. */
void pkt_start(struct pkt *p, uint8_t *buf, size_t max, const uint8_t *query, size_t question_end,
	       const uint8_t *qname, size_t qname_len);

/* Append an RRset with the given owner name (any case, wire form), class
 * and TTL.  Names in RDATA are compressed for RFC 1035 types only.  Returns
 * 0, or -1 when it does not fit (the packet is left as it was). */
int pkt_put_rrset(struct pkt *p, enum pkt_section sec, const uint8_t *owner, uint16_t rrclass,
		  const struct zrrset *s, uint32_t ttl);

/* The same, only the records whose bit is set in mask (bit i = record i;
 * records past 63 are always included). */
int pkt_put_rrset_masked(struct pkt *p, enum pkt_section sec, const uint8_t *owner,
			 uint16_t rrclass, const struct zrrset *s, uint32_t ttl, uint64_t mask);

/*
 * An SOA RRset (one record) whose owner, the zone apex, stands at apex_at
 * in the packet, and whose MNAME and RNAME end in the apex after
 * mname_pre and rname_pre octets: each is written as those octets and a
 * pointer to apex_at, with no compression search.  0 or -1.
 */
int pkt_put_soa_rel(struct pkt *p, enum pkt_section sec, size_t apex_at, const struct zrrset *s,
		    uint32_t ttl, unsigned mname_pre, unsigned rname_pre);

/* Append the OPT pseudo-record (owner root, RFC 6891 6.1.2).  0 or -1. */
int pkt_put_opt(struct pkt *p, uint16_t udp_size, uint32_t ttl, const uint8_t *rdata,
		uint16_t rdlen);

/* Append one record with raw RDATA (no compression inside).  0 or -1. */
int pkt_put_rr(struct pkt *p, enum pkt_section sec, const uint8_t *owner, uint16_t type,
	       uint16_t rrclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/* Drop every record after the question (used when setting TC). */
void pkt_clear_records(struct pkt *p);

/*
 * Cut a finished response in buf (len octets) down to its header, question
 * and OPT record, with TC set and no other records: the answer sent when
 * the kernel refuses the datagram as larger than the interface MTU (DF is
 * set, RFC 9715 3.1).  Returns the new length, or 0 when buf does not parse
 * as a response.
 */
size_t pkt_cut_to_tc(uint8_t *buf, size_t len);

/* Set header flag bits and the low 4 bits of the rcode; write the counts. */
void pkt_finish(struct pkt *p, uint16_t set_flags, unsigned rcode);

#endif
