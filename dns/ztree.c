/* ztree.c: in-memory zone: node hash table, RRsets, load-time resolution. */
#include "config.h"

#include "dns/ztree.h"

#include <stdlib.h>
#include <string.h>

#include "dns/arena.h"
#include "dns/rrtype.h"
#include "dns/xalloc.h"

static uint32_t table_slot(const struct zone *z, uint32_t hash)
{
	/* Mix the high bits in: FNV's low bits alone cluster. */
	return (hash ^ (hash >> 15)) & z->mask;
}

static void table_insert(struct zone *z, struct znode *n)
{
	uint32_t i = table_slot(z, n->hash);
	while (z->table[i] != NULL)
		i = (i + 1) & z->mask;
	z->table[i] = n;
}

static void table_grow(struct zone *z)
{
	struct znode **old = z->table;
	uint32_t old_size = z->mask + 1;
	z->mask = old_size * 2 - 1;
	z->table = xcalloc(old_size * 2, sizeof(*z->table));
	for (uint32_t i = 0; i < old_size; i++)
		if (old[i] != NULL)
			table_insert(z, old[i]);
	free(old);
}

void zone_reserve(struct zone *z, size_t n_names)
{
	uint32_t size = z->mask + 1;
	while (size < n_names * 2 && size < (UINT32_C(1) << 31))
		size *= 2;
	if (size == z->mask + 1)
		return;
	struct znode **old = z->table;
	uint32_t old_size = z->mask + 1;
	z->mask = size - 1;
	z->table = xcalloc(size, sizeof(*z->table));
	xhuge_hint(z->table, size * sizeof(*z->table));
	for (uint32_t i = 0; i < old_size; i++)
		if (old[i] != NULL)
			table_insert(z, old[i]);
	free(old);
}

static struct znode *table_find(const struct zone *z, uint32_t hash, const uint8_t *name,
				size_t len)
{
	uint32_t i = table_slot(z, hash);
	for (struct znode *n; (n = z->table[i]) != NULL; i = (i + 1) & z->mask)
		if (n->hash == hash && n->name_len == len && memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

struct zone *zone_new(const uint8_t *apex)
{
	struct zone *z = xcalloc(1, sizeof(*z));
	z->arena = arena_new();
	z->mask = 63;
	z->table = xcalloc(z->mask + 1, sizeof(*z->table));
	char buf[DNAME_MAXLEN * 4 + 2];
	z->name_str = xstrdup(dname_to_str(apex, buf, sizeof(buf)));
	z->apex = zone_node(z, apex, true);
	z->apex->flags |= ZNODE_APEX;
	return z;
}

struct znode *zone_node(struct zone *z, const uint8_t *name, bool create)
{
	uint8_t lname[DNAME_MAXLEN];
	size_t len = dname_len(name);
	memcpy(lname, name, len);
	dname_tolower(lname);
	uint32_t hash = dname_hash(lname);
	struct znode *n = table_find(z, hash, lname, len);
	if (n != NULL || !create)
		return n;

	n = arena_alloc(z->arena, sizeof(*n));
	n->name = arena_memdup(z->arena, lname, len);
	n->name_len = (uint8_t)len;
	n->hash = hash;
	n->labels = (uint8_t)dname_labels(lname);
	if ((z->n_nodes + 1) * 2 > z->mask + 1)
		table_grow(z);
	table_insert(z, n);
	z->n_nodes++;
	/* Every ancestor down to the apex exists, as an empty non-terminal if
	 * nothing else: RFC 4592 2.2.2 counts them as existing names. */
	if (z->apex != NULL && n->labels > z->apex->labels)
		n->parent = zone_node(z, lname + 1 + lname[0], true);
	return n;
}

void zone_add_rrset(struct zone *z, struct znode *n, uint16_t type, uint32_t ttl, uint16_t count,
		    const uint8_t *data, size_t len)
{
	struct zrrset *sets = arena_alloc(z->arena, (n->n_rrsets + 1u) * sizeof(*sets));
	if (n->n_rrsets > 0)
		memcpy(sets, n->rrsets, n->n_rrsets * sizeof(*sets));
	struct zrrset *s = &sets[n->n_rrsets];
	s->type = type;
	s->ttl = ttl;
	s->count = count;
	s->data = arena_memdup(z->arena, data, len);
	s->data_len = (uint32_t)len;
	s->wire = zrrset_wire(z->arena, s);
	n->rrsets = sets;
	n->n_rrsets++;
	z->n_records += count;
}

const uint8_t *zrrset_wire(struct arena *a, const struct zrrset *s)
{
	if (rrtype_has_names(s->type) || s->count == 0)
		return NULL;
	uint8_t *w = arena_alloc(a, s->data_len + 10u * s->count), *o = w;
	const uint8_t *d = s->data;
	for (unsigned i = 0; i < s->count; i++) {
		size_t rdlen = (size_t)(d[0] << 8 | d[1]);
		const uint8_t head[10] = { 0xC0,
					   DNS_HEADER_SIZE,
					   (uint8_t)(s->type >> 8),
					   (uint8_t)s->type,
					   0,
					   RRCLASS_IN,
					   (uint8_t)(s->ttl >> 24),
					   (uint8_t)(s->ttl >> 16),
					   (uint8_t)(s->ttl >> 8),
					   (uint8_t)s->ttl };
		memcpy(o, head, sizeof(head));
		memcpy(o + 10, d, 2 + rdlen);
		o += 12 + rdlen;
		d += 2 + rdlen;
	}
	return w;
}

const struct zrrset *znode_rrset(const struct znode *n, uint16_t type)
{
	for (unsigned i = 0; i < n->n_rrsets; i++)
		if (n->rrsets[i].type == type)
			return &n->rrsets[i];
	return NULL;
}

static int cmp_rrset(const void *a, const void *b)
{
	const struct zrrset *x = a, *y = b;
	return (int)x->type - (int)y->type;
}

static bool below_cut(const struct znode *n)
{
	for (const struct znode *p = n->parent; p != NULL; p = p->parent)
		if (p->flags & ZNODE_CUT)
			return true;
	return false;
}

static bool has_address(const struct znode *n)
{
	return znode_rrset(n, RRTYPE_A) != NULL || znode_rrset(n, RRTYPE_AAAA) != NULL;
}

/* The additional-section targets of an NS RRset: glue for a referral (any
 * in-zone address, in-bailiwick ones first and marked required), or the
 * authoritative addresses of the apex's name servers; of an MX or SRV
 * RRset, the authoritative addresses of its targets in the zone (a target
 * that is geo-routed has none: they depend on the client). */
static void resolve_addl(struct zone *z, const struct znode *owner, struct zrrset *s)
{
	/* Every target, however many (RFC 9471 3: all the glue, or TC):
	 * required ones from the front, the others from the back. */
	const struct znode **list = xcalloc(s->count > 0 ? s->count : 1, sizeof(*list));
	unsigned n_req = 0, n_opt = 0;
	bool referral = (owner->flags & ZNODE_CUT) && s->type == RRTYPE_NS;
	const uint8_t *p = s->data;
	for (unsigned r = 0; r < s->count; r++) {
		uint16_t rdlen = (uint16_t)(p[0] << 8 | p[1]);
		const uint8_t *rd = p + 2;
		p += 2 + rdlen;
		int off = rdata_target_name(s->type, rd, rdlen);
		if (off < 0 || !dname_is_subdomain(rd + off, z->apex->name))
			continue;
		const struct znode *t = zone_node(z, rd + off, false);
		if (t == NULL || !has_address(t))
			continue;
		if (!referral && (t->flags & (ZNODE_CUT | ZNODE_OCCLUDED)))
			continue;
		bool dup = false;
		for (unsigned i = 0; i < n_req && !dup; i++)
			dup = list[i] == t;
		for (unsigned i = 0; i < n_opt && !dup; i++)
			dup = list[s->count - 1 - i] == t;
		if (dup)
			continue;
		if (referral && dname_is_subdomain(t->name, owner->name))
			list[n_req++] = t;
		else
			list[s->count - 1 - n_opt++] = t;
	}
	if (n_req + n_opt > 0) {
		const struct znode **kept = arena_alloc(z->arena, (n_req + n_opt) * sizeof(*kept));
		memcpy(kept, list, n_req * sizeof(*kept));
		for (unsigned i = 0; i < n_opt; i++) /* in record order */
			kept[n_req + i] = list[s->count - 1 - i];
		s->addl = kept;
		s->n_addl = (uint16_t)(n_req + n_opt);
		s->n_required = (uint16_t)n_req;
	}
	free(list);
}

int zone_finish(struct zone *z)
{
	uint32_t size = z->mask + 1;
	for (uint32_t i = 0; i < size; i++) {
		struct znode *n = z->table[i];
		if (n == NULL)
			continue;
		if (n->n_rrsets > 1)
			qsort(n->rrsets, n->n_rrsets, sizeof(*n->rrsets), cmp_rrset);
		if (n != z->apex && znode_rrset(n, RRTYPE_NS) != NULL)
			n->flags |= ZNODE_CUT;
		if (znode_rrset(n, RRTYPE_DNAME) != NULL)
			n->flags |= ZNODE_DNAME;
		if (n->name_len > 2 && n->name[0] == 1 && n->name[1] == '*' && n->parent != NULL)
			((struct znode *)n->parent)->wild = n;
	}
	for (uint32_t i = 0; i < size; i++) {
		struct znode *n = z->table[i];
		if (n != NULL && below_cut(n))
			n->flags |= ZNODE_OCCLUDED;
	}
	for (uint32_t i = 0; i < size; i++) {
		struct znode *n = z->table[i];
		if (n == NULL)
			continue;
		for (unsigned k = 0; k < n->n_rrsets; k++) {
			uint16_t t = n->rrsets[k].type;
			/* NS answers and referrals carry their servers'
			 * addresses; MX and SRV answers their targets' (RFC
			 * 1035 3.3.9, RFC 2782), as Knot, NSD and gdnsd do
			 * by default.  Nothing else does. */
			if (t == RRTYPE_NS || t == RRTYPE_MX || t == RRTYPE_SRV)
				resolve_addl(z, n, &n->rrsets[k]);
		}
	}

	z->soa = znode_rrset(z->apex, RRTYPE_SOA);
	if (z->soa == NULL || z->soa->count < 1)
		return -1;
	/* RFC 2308 3: the negative TTL is the lesser of the SOA's own TTL and
	 * its MINIMUM field (the last 4 octets of the RDATA). */
	const uint8_t *rd = z->soa->data + 2;
	uint16_t rdlen = (uint16_t)(z->soa->data[0] << 8 | z->soa->data[1]);
	const uint8_t *m = rd + rdlen - 4;
	uint32_t minimum = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
	z->neg_ttl = minimum < z->soa->ttl ? minimum : z->soa->ttl;
	/* Where MNAME and RNAME reach the apex, for pkt_put_soa_rel(). */
	size_t alen = z->apex->name_len, mlen = dname_len(rd);
	const uint8_t *rname = rd + mlen;
	z->soa_rel = z->soa->count == 1 && dname_is_subdomain(rd, z->apex->name) &&
		     dname_is_subdomain(rname, z->apex->name);
	if (z->soa_rel) {
		z->soa_mname_pre = (uint8_t)(mlen - alen);
		z->soa_rname_pre = (uint8_t)(dname_len(rname) - alen);
	}
	return 0;
}

uint32_t zone_serial(const struct zone *z)
{
	/* SERIAL is followed by REFRESH, RETRY, EXPIRE and MINIMUM: it starts
	 * 20 octets before the end of the RDATA (after RDLENGTH). */
	const uint8_t *d = z->soa->data;
	const uint8_t *p = d + 2 + ((size_t)d[0] << 8 | d[1]) - 20;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void zone_free(struct zone *z)
{
	if (z == NULL)
		return;
	arena_free(z->arena);
	free(z->table);
	free(z->name_str);
	free(z);
}

size_t zone_memory(const struct zone *z)
{
	return sizeof(*z) + arena_size(z->arena) + (z->mask + 1) * sizeof(*z->table);
}

const struct znode *zone_lookup_suffix(const struct zone *z, const struct dname_split *q,
				       unsigned i)
{
	size_t off = q->label[i];
	return table_find(z, q->hash[i], q->name + off, q->len - off);
}

unsigned rdata_compressible_names(uint16_t type, const uint8_t *rdata, uint16_t rdlen,
				  uint16_t off[2])
{
	(void)rdlen;
	switch (type) {
	case RRTYPE_NS:
	case RRTYPE_MD:
	case RRTYPE_MF:
	case RRTYPE_CNAME:
	case RRTYPE_MB:
	case RRTYPE_MG:
	case RRTYPE_MR:
	case RRTYPE_PTR:
		off[0] = 0;
		return 1;
	case RRTYPE_MX:
		off[0] = 2;
		return 1;
	case RRTYPE_SOA:
	case RRTYPE_MINFO:
		off[0] = 0;
		off[1] = (uint16_t)dname_len(rdata);
		return 2;
	default:
		return 0;
	}
}

int rdata_target_name(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	(void)rdata;
	switch (type) {
	case RRTYPE_NS:
		return 0;
	case RRTYPE_MX:
		return rdlen > 2 ? 2 : -1;
	case RRTYPE_SRV:
		return rdlen > 6 ? 6 : -1;
	default:
		return -1;
	}
}
