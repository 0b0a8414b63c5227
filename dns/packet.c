/* packet.c: response building with RFC 1035 4.1.4 name compression. */
#include "config.h"

#include "dns/packet.h"

#include <arpa/inet.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/rrtype.h"
#include "dns/ztree.h"

/* Network-order stores, one move each. */
static void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof(v));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Length of the wire-form record at w (pointer, fixed fields, RDATA). */
static size_t wire_rr_len(const uint8_t *w)
{
	return 12 + (size_t)get16(w + 10);
}

void pkt_start(struct pkt *p, uint8_t *buf, size_t max, const uint8_t *query, size_t question_end,
	       const uint8_t *qname, size_t qname_len)
{
	p->buf = buf;
	p->max = max;
	p->n_comp = 0;
	p->qname = qname;
	p->qname_len = (uint8_t)qname_len;
	p->qname_reg = false;
	p->count[0] = p->count[1] = p->count[2] = 0;
	memcpy(buf, query, question_end);
	p->len = question_end;
	/* Keep ID, opcode, RD and CD (RFC 1035 4.1.1, RFC 6840 5.9). */
	buf[2] = (uint8_t)((buf[2] & 0x79) | 0x80);
	buf[3] = buf[3] & 0x10;
	put16(buf + 4, question_end > DNS_HEADER_SIZE ? 1 : 0);
	memset(buf + 6, 0, 6);
}

/* The question name and each of its suffixes can be pointed to: an SOA or
 * NS owner at the zone apex then costs two octets.  Registered only when a
 * name is first compressed by search; most answers never need it. */
static void register_qname(struct pkt *p)
{
	p->qname_reg = true;
	size_t left = p->qname_len;
	for (const uint8_t *l = p->qname; l != NULL && *l != 0 && p->n_comp < PKT_COMP_MAX;
	     l += 1 + *l) {
		p->comp[p->n_comp].name = l;
		p->comp[p->n_comp].off = (uint16_t)(DNS_HEADER_SIZE + (l - p->qname));
		p->comp[p->n_comp].len = (uint8_t)left;
		p->n_comp++;
		left -= 1u + *l;
	}
}

static int comp_find(const struct pkt *p, const uint8_t *name, size_t len)
{
	/* Most owners are the question name itself: the same pointer. */
	for (unsigned i = 0; i < p->n_comp; i++)
		if (p->comp[i].name == name)
			return p->comp[i].off;
	for (unsigned i = 0; i < p->n_comp; i++)
		if (p->comp[i].len == len && dname_equal(p->comp[i].name, name))
			return p->comp[i].off;
	return -1;
}

/* Write name at p->len, compressed against earlier names.  Returns 0, or -1
 * when it would pass p->max. */
static int put_name(struct pkt *p, const uint8_t *name)
{
	const uint8_t *s = name;
	int ptr = -1;
	if (!p->qname_reg)
		register_qname(p);
	size_t total = dname_len(name), left = total;
	while (*s != 0 && (ptr = comp_find(p, s, left)) < 0) {
		left -= 1u + *s;
		s += 1 + *s;
	}
	size_t literal = (size_t)(s - name);
	size_t need = literal + (ptr >= 0 ? 2 : 1);
	if (p->len + need > p->max)
		return -1;
	/* Remember where each literal suffix now starts for later names. */
	left = total;
	for (const uint8_t *l = name; l < s; l += 1 + *l) {
		size_t off = p->len + (size_t)(l - name);
		if (p->n_comp < PKT_COMP_MAX && off < 0x4000) {
			p->comp[p->n_comp].name = l;
			p->comp[p->n_comp].off = (uint16_t)off;
			p->comp[p->n_comp].len = (uint8_t)left;
			p->n_comp++;
		}
		left -= 1u + *l;
	}
	memcpy(p->buf + p->len, name, literal);
	p->len += literal;
	if (ptr >= 0) {
		put16(p->buf + p->len, (uint16_t)(0xC000 | ptr));
		p->len += 2;
	} else {
		p->buf[p->len++] = 0;
	}
	return 0;
}

static int put_rdata(struct pkt *p, uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
	uint16_t names[2];
	unsigned n = rdata_compressible_names(type, rd, rdlen, names);
	size_t start = p->len, from = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t chunk = names[i] - from;
		if (p->len + chunk > p->max)
			return -1;
		memcpy(p->buf + p->len, rd + from, chunk);
		p->len += chunk;
		if (put_name(p, rd + names[i]) < 0)
			return -1;
		from = names[i] + dname_len(rd + names[i]);
	}
	if (p->len + (rdlen - from) > p->max)
		return -1;
	memcpy(p->buf + p->len, rd + from, rdlen - from);
	p->len += rdlen - from;
	put16(p->buf + start - 2, (uint16_t)(p->len - start));
	return 0;
}

/* An RR whose owner is written again as a pointer to owner_at (an offset
 * where it already stands), or, with owner_at 0, compressed afresh. */
static int put_rr_at(struct pkt *p, const uint8_t *owner, size_t owner_at, uint16_t type,
		     uint16_t rrclass, uint32_t ttl, const uint8_t *rd, uint16_t rdlen,
		     bool compress)
{
	if (owner_at != 0 && owner_at < 0x4000) {
		if (p->len + 2 > p->max)
			return -1;
		put16(p->buf + p->len, (uint16_t)(0xC000 | owner_at));
		p->len += 2;
	} else if (put_name(p, owner) < 0) {
		return -1;
	}
	if (p->len + 10 > p->max)
		return -1;
	uint8_t *h = p->buf + p->len;
	put16(h, type);
	put16(h + 2, rrclass);
	put32(h + 4, ttl);
	put16(h + 8, rdlen);
	p->len += 10;
	if (compress)
		return put_rdata(p, type, rd, rdlen);
	if (p->len + rdlen > p->max)
		return -1;
	memcpy(p->buf + p->len, rd, rdlen);
	p->len += rdlen;
	return 0;
}

static int put_rr(struct pkt *p, const uint8_t *owner, uint16_t type, uint16_t rrclass,
		  uint32_t ttl, const uint8_t *rd, uint16_t rdlen, bool compress)
{
	return put_rr_at(p, owner, 0, type, rrclass, ttl, rd, rdlen, compress);
}

/* Records from s->wire (their owner a pointer to the question, CLASS IN):
 * those mask selects, with ttl written in when it is not s->ttl. */
static int put_wire(struct pkt *p, enum pkt_section sec, const struct zrrset *s, uint32_t ttl,
		    uint64_t mask)
{
	uint64_t all = s->count >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << s->count) - 1;
	size_t start = p->len;
	unsigned n = 0;
	if ((mask & all) == all) {
		/* The whole set: one copy. */
		size_t wl = s->data_len + 10u * s->count;
		if (p->len + wl > p->max)
			return -1;
		memcpy(p->buf + p->len, s->wire, wl);
		p->len += wl;
		n = s->count;
	} else {
		const uint8_t *w = s->wire;
		for (unsigned i = 0; i < s->count; i++) {
			size_t rl = wire_rr_len(w);
			if (i >= 64 || (mask & (UINT64_C(1) << i))) {
				if (p->len + rl > p->max) {
					p->len = start;
					return -1;
				}
				memcpy(p->buf + p->len, w, rl);
				p->len += rl;
				n++;
			}
			w += rl;
		}
	}
	if (ttl != s->ttl)
		for (size_t o = start; o < p->len; o += wire_rr_len(p->buf + o))
			put32(p->buf + o + 6, ttl);
	p->count[sec] = (uint16_t)(p->count[sec] + n);
	return 0;
}

int pkt_put_rrset_masked(struct pkt *p, enum pkt_section sec, const uint8_t *owner,
			 uint16_t rrclass, const struct zrrset *s, uint32_t ttl, uint64_t mask)
{
	size_t len0 = p->len;
	unsigned comp0 = p->n_comp, n = 0;
	bool reg0 = p->qname_reg;
	/* Where the owner already stands in the packet (0: not yet). */
	size_t owner_at = 0;
	if (owner == p->qname) {
		if (s->wire != NULL && rrclass == RRCLASS_IN)
			return put_wire(p, sec, s, ttl, mask);
		owner_at = DNS_HEADER_SIZE;
	}
	/* TYPE, CLASS and TTL are the same for every record. */
	uint8_t head[8];
	put16(head, s->type);
	put16(head + 2, rrclass);
	put32(head + 4, ttl);
	bool names = rrtype_has_names(s->type);
	const uint8_t *d = s->data;
	for (unsigned i = 0; i < s->count; i++) {
		uint16_t rdlen = get16(d);
		if (i < 64 && !(mask & (UINT64_C(1) << i))) {
			d += 2 + rdlen;
			continue;
		}
		if (owner_at != 0 && !names) {
			/* The common case: a pointer, the fixed fields, and
			 * RDLENGTH + RDATA as stored. */
			size_t need = 2 + 8 + 2 + (size_t)rdlen;
			if (p->len + need > p->max)
				goto full;
			uint8_t *w = p->buf + p->len;
			put16(w, (uint16_t)(0xC000 | owner_at));
			memcpy(w + 2, head, 8);
			memcpy(w + 10, d, 2 + (size_t)rdlen);
			p->len += need;
		} else {
			/* Every record of the set has the same owner: after the
			 * first, point at where that one's owner begins. */
			size_t at = p->len;
			if (put_rr_at(p, owner, owner_at, s->type, rrclass, ttl, d + 2, rdlen,
				      names) < 0)
				goto full;
			if (owner_at == 0)
				owner_at = p->buf[at] >= 0xC0 ? (size_t)((p->buf[at] & 0x3F) << 8 |
									 p->buf[at + 1])
							      : at;
			if (owner_at >= 0x4000)
				owner_at = 0;
		}
		d += 2 + rdlen;
		n++;
	}
	p->count[sec] = (uint16_t)(p->count[sec] + n);
	return 0;
full:
	p->len = len0;
	p->n_comp = comp0;
	p->qname_reg = reg0;
	return -1;
}

int pkt_put_rrset(struct pkt *p, enum pkt_section sec, const uint8_t *owner, uint16_t rrclass,
		  const struct zrrset *s, uint32_t ttl)
{
	return pkt_put_rrset_masked(p, sec, owner, rrclass, s, ttl, ~UINT64_C(0));
}

/* Whether the first pre octets of name (which then reaches the apex at
 * apex_at) are the question's own labels before the apex: then the whole
 * name is the question name, a pointer to offset 12. */
static bool is_question(const struct pkt *p, size_t apex_at, const uint8_t *name, unsigned pre)
{
	if (p->qname == NULL || pre == 0 || pre != apex_at - DNS_HEADER_SIZE)
		return false;
	for (unsigned i = 0; i < pre; i++)
		if (dname_lower[name[i]] != p->qname[i])
			return false;
	return true;
}

/* Write a name that is pre octets of labels followed by the apex name. */
static uint8_t *put_rel_name(const struct pkt *p, uint8_t *w, size_t apex_at, const uint8_t *name,
			     unsigned pre)
{
	if (is_question(p, apex_at, name, pre)) {
		put16(w, 0xC000 | DNS_HEADER_SIZE);
		return w + 2;
	}
	memcpy(w, name, pre);
	put16(w + pre, (uint16_t)(0xC000 | apex_at));
	return w + pre + 2;
}

int pkt_put_soa_rel(struct pkt *p, enum pkt_section sec, size_t apex_at, const struct zrrset *s,
		    uint32_t ttl, unsigned mname_pre, unsigned rname_pre)
{
	const uint8_t *rd = s->data + 2;
	size_t rdlen = get16(s->data);
	size_t mlen = dname_len(rd);
	const uint8_t *rname = rd + mlen;
	/* At most this long: shorter when a name is the question itself. */
	size_t most = mname_pre + 2 + rname_pre + 2 + 20;
	if (apex_at >= 0x4000 || rdlen < mlen + 20 || p->len + 12 + most > p->max)
		return -1;
	uint8_t *w = p->buf + p->len, *rdata = w + 12;
	put16(w, (uint16_t)(0xC000 | apex_at));
	put16(w + 2, RRTYPE_SOA);
	put16(w + 4, RRCLASS_IN);
	put32(w + 6, ttl);
	w = put_rel_name(p, rdata, apex_at, rd, mname_pre);
	w = put_rel_name(p, w, apex_at, rname, rname_pre);
	memcpy(w, rd + rdlen - 20, 20);
	w += 20;
	put16(rdata - 2, (uint16_t)(w - rdata));
	p->len = (size_t)(w - p->buf);
	p->count[sec]++;
	return 0;
}

int pkt_put_opt(struct pkt *p, uint16_t udp_size, uint32_t ttl, const uint8_t *rdata,
		uint16_t rdlen)
{
	if (p->len + 11 + (size_t)rdlen > p->max)
		return -1;
	uint8_t *w = p->buf + p->len;
	w[0] = 0; /* the root */
	put16(w + 1, RRTYPE_OPT);
	put16(w + 3, udp_size);
	put32(w + 5, ttl);
	put16(w + 9, rdlen);
	memcpy(w + 11, rdata, rdlen);
	p->len += 11 + (size_t)rdlen;
	p->count[PKT_ADDITIONAL]++;
	return 0;
}

int pkt_put_rr(struct pkt *p, enum pkt_section sec, const uint8_t *owner, uint16_t type,
	       uint16_t rrclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	size_t len0 = p->len;
	unsigned comp0 = p->n_comp;
	bool reg0 = p->qname_reg;
	if (put_rr(p, owner, type, rrclass, ttl, rdata, rdlen, false) < 0) {
		p->len = len0;
		p->n_comp = comp0;
		p->qname_reg = reg0;
		return -1;
	}
	p->count[sec]++;
	return 0;
}

void pkt_clear_records(struct pkt *p)
{
	size_t qend = DNS_HEADER_SIZE;
	if (p->buf[5] != 0) /* QDCOUNT 1: skip the question */
		qend += dname_len(p->buf + DNS_HEADER_SIZE) + 4;
	p->len = qend;
	memset(p->count, 0, sizeof(p->count));
	/* Forget every name written; the question's are registered again
	 * when needed. */
	p->n_comp = 0;
	p->qname_reg = false;
}

size_t pkt_cut_to_tc(uint8_t *buf, size_t len)
{
	/* Our responses have at most one question and fit in 16 bits. */
	if (len < DNS_HEADER_SIZE || len > 65535 || get16(buf + 4) > 1)
		return 0;
	int off = DNS_HEADER_SIZE;
	if (get16(buf + 4) != 0) {
		off = dname_skip(buf, len, (size_t)off);
		if (off < 0 || (size_t)off + 4 > len)
			return 0;
		off += 4;
	}
	size_t qend = (size_t)off;
	unsigned n = (unsigned)get16(buf + 6) + get16(buf + 8) + get16(buf + 10);
	size_t opt_at = 0, opt_len = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t rr = (size_t)off;
		off = dname_skip(buf, len, rr);
		if (off < 0 || (size_t)off + 10 > len)
			return 0;
		size_t end = (size_t)off + 10 + get16(buf + off + 8);
		if (end > len)
			return 0;
		if (get16(buf + off) == RRTYPE_OPT) {
			opt_at = rr;
			opt_len = end - rr;
		}
		off = (int)end;
	}
	/* The OPT's owner is the root (one zero octet), never compressed,
	 * so it moves as it is. */
	if (opt_len != 0)
		memmove(buf + qend, buf + opt_at, opt_len);
	buf[2] |= (uint8_t)(HDR_TC >> 8);
	put16(buf + 6, 0);
	put16(buf + 8, 0);
	put16(buf + 10, opt_len != 0);
	return qend + opt_len;
}

void pkt_finish(struct pkt *p, uint16_t set_flags, unsigned rcode)
{
	p->buf[2] |= (uint8_t)(set_flags >> 8);
	p->buf[3] = (uint8_t)((p->buf[3] | (set_flags & 0xFF) | (rcode & 0xF)));
	put16(p->buf + 6, p->count[PKT_ANSWER]);
	put16(p->buf + 8, p->count[PKT_AUTHORITY]);
	put16(p->buf + 10, p->count[PKT_ADDITIONAL]);
}
