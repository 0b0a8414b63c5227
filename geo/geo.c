/* geo.c: datacenter ranking per location, rules, service answers, explain. */
#include "config.h"

#include "geo/geo.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/answer.h"
#include "dns/arena.h"
#include "dns/log.h"
#include "dns/rrtype.h"
#include "dns/xalloc.h"
#include "dns/ztree.h"
#include "geo/geodb.h"
#include "geo/nettrie.h"

#define EARTH_RADIUS_KM 6371.0
#define FAM_A           0
#define FAM_AAAA        1

/* One datacenter of a service: its RRset per family, which address each
 * record is, and the health flag of each address. */
struct geo_svc_dc {
	const struct zrrset *set[2];
	uint8_t n[2];                 /* records per family */
	uint8_t idx[2][GEO_ADDR_MAX]; /* record -> address index */
	int8_t run[2];                /* idx[fam] counts up from run[fam]; -1: it does not */
	const _Atomic uint8_t *up[GEO_ADDR_MAX];    /* NULL: counts as up */
	const _Atomic uint8_t *force[GEO_ADDR_MAX]; /* overrides: explain, fail-open */
	uint8_t n_addrs;
};

/* A service's answers per datacenter and address family. */
struct geo_svc {
	const struct geo_service *conf;
	struct geo_svc_dc dc[GEO_DC_MAX];
	unsigned n_with[2]; /* datacenters with addresses of the family */
	const struct zrrset *last_resort[2];
	int16_t stat_slot; /* reported as dyn_answer.service */
};

struct geo_binding {
	uint16_t service;
	uint32_t ttl;
};

/* A network rule with its full datacenter order. */
struct net_rule {
	const struct geo_rule *rule;
	const uint16_t *order;
};

/* A database record's datacenter order under this configuration. */
struct geo_rank {
	const uint16_t *order;
	const uint16_t *near; /* by distance only (has_coords), for network
			       * rules whose unlisted datacenters follow */
	uint8_t reason;       /* enum geo_reason */
	const struct geo_rule *rule;
};

struct geo {
	const struct geo_conf *gc;
	struct arena *arena;
	struct geodb *db;        /* shared with other geos (geodb_ref) */
	struct geo_rank *ranks;  /* one per record of db, by geo_loc.index */
	struct nettrie *trie[2]; /* IPv4, IPv6 */
	struct geo_svc *svcs;
	const uint16_t *default_order;
	/* Records that rank the datacenters alike share a class (its order
	 * is class_order[class]); NULL when there are too many classes, and
	 * then each database network is its own scope. */
	struct geodb_classes *classes;
	const uint16_t **class_order;
	unsigned n_dcs;
	const _Atomic uint8_t *dc_force[GEO_DC_MAX]; /* NULL: no override */
	int16_t dc_stat_slot[GEO_DC_MAX];            /* reported as dyn_answer.dc */
};

/* What decides a client's answer. */
struct decision {
	uint16_t buf[GEO_DC_MAX]; /* order, when merged per query */
	const uint16_t *order;
	unsigned scope;
	enum geo_reason reason;
	const struct geo_rule *rule;
	const struct geo_loc *loc;
};

void geo_conf_clear(struct geo_conf *gc)
{
	if (gc == NULL)
		return;
	free(gc->database);
	free(gc->explain_acl);
	for (size_t i = 0; i < gc->n_dcs; i++)
		free(gc->dcs[i].name);
	free(gc->dcs);
	for (size_t i = 0; i < gc->n_services; i++) {
		for (size_t k = 0; k < gc->services[i].n_dcs; k++)
			free(gc->services[i].dcs[k].addrs);
		free(gc->services[i].dcs);
		free(gc->services[i].name);
		free(gc->services[i].probes);
		free(gc->services[i].last_resort);
		hc_params_clear(&gc->services[i].check);
	}
	free(gc->services);
	struct geo_rule *lists[3] = { gc->nets, gc->countries, gc->continents };
	size_t counts[3] = { gc->n_nets, gc->n_countries, gc->n_continents };
	for (int l = 0; l < 3; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			free(lists[l][i].dcs.dc);
			free(lists[l][i].file);
		}
		free(lists[l]);
	}
	free(gc->default_order.dc);
	memset(gc, 0, sizeof(*gc));
}

/* ---- ranking (load time) ------------------------------------------- */

static double distance_km(double lat1, double lon1, double lat2, double lon2)
{
	/* Haversine great-circle distance on a spherical Earth. */
	const double r = M_PI / 180.0;
	double dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * EARTH_RADIUS_KM * asin(sqrt(a > 1 ? 1 : a));
}

/* Datacenters by distance from lat/lon; ties keep configuration order. */
static void rank_by_distance(const struct geo *g, double lat, double lon, uint16_t *out)
{
	double dist[GEO_DC_MAX];
	for (unsigned i = 0; i < g->n_dcs; i++) {
		dist[i] = distance_km(lat, lon, g->gc->dcs[i].lat, g->gc->dcs[i].lon);
		out[i] = (uint16_t)i;
	}
	for (unsigned i = 1; i < g->n_dcs; i++) { /* insertion sort: stable */
		uint16_t v = out[i];
		unsigned j = i;
		while (j > 0 && dist[out[j - 1]] > dist[v]) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = v;
	}
}

/* first's datacenters, then the rest in the order of rest, into out. */
static void merge_order(const struct geo *g, const struct geo_list *first, const uint16_t *rest,
			uint16_t *out)
{
	bool used[GEO_DC_MAX] = { false };
	unsigned n = 0;
	for (unsigned i = 0; i < first->n; i++) {
		if (!used[first->dc[i]]) {
			used[first->dc[i]] = true;
			out[n++] = first->dc[i];
		}
	}
	for (unsigned i = 0; i < g->n_dcs; i++)
		if (!used[rest[i]])
			out[n++] = rest[i];
}

/* The listed datacenters first, then the others in the order of rest. */
static const uint16_t *make_order(struct geo *g, const struct geo_list *first, const uint16_t *rest)
{
	static const struct geo_list none = { NULL, 0 };
	uint16_t *o = arena_alloc(g->arena, g->n_dcs * sizeof(*o));
	merge_order(g, first != NULL ? first : &none, rest, o);
	return o;
}

static const struct geo_rule *find_code(const struct geo_rule *rules, size_t n, const char *code)
{
	for (size_t i = 0; i < n && code[0] != '\0'; i++)
		if (strcasecmp(rules[i].code, code) == 0)
			return &rules[i];
	return NULL;
}

/* Decide each database record's datacenter order once, at load. */
static void rank_records(struct geo *g)
{
	const struct geo_conf *gc = g->gc;
	g->ranks = arena_alloc(g->arena, geodb_count(g->db) * sizeof(*g->ranks));
	for (size_t i = 0; i < geodb_count(g->db); i++) {
		const struct geo_loc *l = geodb_loc(g->db, i);
		struct geo_rank *k = &g->ranks[i];
		uint16_t near[GEO_DC_MAX];
		const uint16_t *rest = g->default_order;
		if (l->has_coords) {
			rank_by_distance(g, l->lat, l->lon, near);
			rest = near;
		}
		const struct geo_rule *r;
		if ((r = find_code(gc->countries, gc->n_countries, l->country)) != NULL) {
			k->reason = GEO_BY_COUNTRY;
		} else if ((r = find_code(gc->continents, gc->n_continents, l->continent)) !=
			   NULL) {
			k->reason = GEO_BY_CONTINENT;
		} else {
			k->reason = l->has_coords ? GEO_BY_DISTANCE : GEO_BY_DEFAULT;
		}
		k->rule = r;
		k->order = make_order(g, r ? &r->dcs : NULL, rest);
		k->near = l->has_coords ? (r ? make_order(g, NULL, near) : k->order) : NULL;
	}
}

/* One class per distinct datacenter order among the records and the
 * default, so that a lookup can stop at the widest subtree that answers
 * alike (its scope), as gdnsd merges networks with the same list. */
static void make_classes(struct geo *g)
{
	size_t n = geodb_count(g->db), cap = 64, used = 0;
	size_t size = 2 * (n + 1) < 1024 ? 1024 : 2 * (n + 1);
	size_t mask = 1;
	while (mask < size)
		mask <<= 1;
	mask--;
	uint32_t *table = xcalloc(mask + 1, sizeof(*table)); /* class + 1; 0 empty */
	const uint16_t **orders = xmalloc(cap * sizeof(*orders));
	uint16_t *rec = xmalloc((n ? n : 1) * sizeof(*rec));
	size_t bytes = g->n_dcs * sizeof(uint16_t);
	for (size_t i = 0; i <= n; i++) {
		const uint16_t *o = i < n ? g->ranks[i].order : g->default_order;
		uint64_t h = 1469598103934665603u;
		for (unsigned d = 0; d < g->n_dcs; d++)
			h = (h ^ o[d]) * 1099511628211u;
		size_t slot = (size_t)h & mask;
		while (table[slot] != 0 && memcmp(orders[table[slot] - 1], o, bytes) != 0)
			slot = (slot + 1) & mask;
		if (table[slot] == 0) {
			if (used == GEODB_CLASS_MAX) { /* merging off: each network alone */
				free(table);
				free(orders);
				free(rec);
				return;
			}
			if (used == cap) {
				cap *= 2;
				orders = xrealloc(orders, cap * sizeof(*orders));
			}
			orders[used++] = o;
			table[slot] = (uint32_t)used;
		}
		if (i < n)
			rec[i] = (uint16_t)(table[slot] - 1);
		else
			g->classes = geodb_classes_new(g->db, rec, (uint16_t)(table[slot] - 1));
	}
	g->class_order = arena_alloc(g->arena, used * sizeof(*g->class_order));
	memcpy(g->class_order, orders, used * sizeof(*orders));
	free(table);
	free(orders);
	free(rec);
}

static void build_rules(struct geo *g)
{
	g->trie[0] = nettrie_new(32);
	g->trie[1] = nettrie_new(128);
	for (size_t i = 0; i < g->gc->n_nets; i++) {
		const struct geo_rule *r = &g->gc->nets[i];
		struct net_rule *nr = arena_alloc(g->arena, sizeof(*nr));
		nr->rule = r;
		nr->order = make_order(g, &r->dcs, g->default_order);
		/* The config loader rejects duplicate networks. */
		nettrie_insert(g->trie[r->net.family == 4 ? 0 : 1], r->net.addr, r->net.len, nr);
	}
}

/* Addresses of one family as a wire-form RRset; idx gets each record's
 * position in addrs.  NULL when there are none. */
static const struct zrrset *make_set(struct geo *g, const struct geo_prefix *addrs, size_t n,
				     int fam, uint8_t *idx, uint8_t *count)
{
	uint8_t buf[GEO_ADDR_MAX * 18];
	size_t len = 0;
	uint16_t c = 0;
	unsigned alen = fam == FAM_A ? 4 : 16;
	for (size_t a = 0; a < n && c < GEO_ADDR_MAX; a++) {
		if (addrs[a].family != (fam == FAM_A ? 4 : 6))
			continue;
		buf[len++] = 0;
		buf[len++] = (uint8_t)alen;
		memcpy(buf + len, addrs[a].addr, alen);
		len += alen;
		if (idx != NULL)
			idx[c] = (uint8_t)a;
		c++;
	}
	if (count != NULL)
		*count = (uint8_t)c;
	if (c == 0)
		return NULL;
	struct zrrset *set = arena_alloc(g->arena, sizeof(*set));
	set->type = fam == FAM_A ? RRTYPE_A : RRTYPE_AAAA;
	set->count = c;
	set->data = arena_memdup(g->arena, buf, len);
	set->data_len = (uint32_t)len;
	set->wire = zrrset_wire(g->arena, set); /* TTL 0: answers set theirs */
	return set;
}

/* A service's addresses as wire-form RRsets, per datacenter and family. */
static void build_service(struct geo *g, const struct geo_service *s, struct geo_svc *out)
{
	out->conf = s;
	for (size_t k = 0; k < s->n_dcs; k++) {
		const struct geo_service_dc *sd = &s->dcs[k];
		struct geo_svc_dc *d = &out->dc[sd->dc];
		d->n_addrs = (uint8_t)(sd->n_addrs < GEO_ADDR_MAX ? sd->n_addrs : GEO_ADDR_MAX);
		for (int fam = 0; fam < 2; fam++) {
			d->set[fam] =
				make_set(g, sd->addrs, d->n_addrs, fam, d->idx[fam], &d->n[fam]);
			d->run[fam] = (int8_t)d->idx[fam][0];
			for (unsigned i = 1; i < d->n[fam]; i++)
				if (d->idx[fam][i] != d->idx[fam][0] + i)
					d->run[fam] = -1;
			if (d->set[fam] != NULL)
				out->n_with[fam]++;
		}
	}
	for (int fam = 0; fam < 2; fam++)
		out->last_resort[fam] =
			make_set(g, s->last_resort, s->n_last_resort, fam, NULL, NULL);
}

void geo_set_address_flag(struct geo *g, size_t s, size_t k, size_t a, const _Atomic uint8_t *flag,
			  const _Atomic uint8_t *force)
{
	const struct geo_service_dc *sd = &g->gc->services[s].dcs[k];
	if (a < GEO_ADDR_MAX) {
		g->svcs[s].dc[sd->dc].up[a] = flag;
		g->svcs[s].dc[sd->dc].force[a] = force;
	}
}

void geo_set_dc_force(struct geo *g, unsigned dc, const _Atomic uint8_t *force)
{
	if (dc < GEO_DC_MAX)
		g->dc_force[dc] = force;
}

const struct geo_conf *geo_conf_of(const struct geo *g)
{
	return g->gc;
}

static bool addr_up(const struct geo_svc_dc *d, unsigned a)
{
	return d->up[a] == NULL || atomic_load_explicit(d->up[a], memory_order_relaxed) != 0;
}

/* Acquire: an override is cleared after its targets' flags are set to
 * their probed state (health.c apply_overrides), so a reader that sees the
 * cell cleared must also see those flags.  A plain load on x86. */
static uint8_t dc_forced(const struct geo *g, unsigned dc)
{
	return g->dc_force[dc] == NULL
		       ? 0
		       : atomic_load_explicit(g->dc_force[dc], memory_order_acquire);
}

/* Whether up addresses of d are enough for it to be up (k of n). */
static bool enough_up(const struct geo_svc *s, const struct geo_svc_dc *d, unsigned up)
{
	unsigned k = s->conf->up_min ? s->conf->up_min : 1;
	return d->n_addrs > 0 && up >= (k < d->n_addrs ? k : d->n_addrs);
}

/* Whether datacenter dc is up for service s (k of n addresses, overrides
 * first), and how many of its addresses are. */
static bool dc_up(const struct geo *g, const struct geo_svc *s, unsigned dc, unsigned *n_up)
{
	const struct geo_svc_dc *d = &s->dc[dc];
	uint8_t f = dc_forced(g, dc);
	unsigned up = 0;
	for (unsigned a = 0; a < d->n_addrs; a++)
		up += addr_up(d, a);
	*n_up = f == GEO_FORCE_UP ? d->n_addrs : f == GEO_FORCE_DOWN ? 0 : up;
	if (f != 0)
		return f == GEO_FORCE_UP;
	return enough_up(s, d, up);
}

/* dc_up() and the records of family fam that are up, in one pass over the
 * flags, for a datacenter with no override in force: the mask of those
 * records, or 0 when the datacenter is not up (k of n) or none of them is. */
static uint64_t up_records(const struct geo_svc *s, const struct geo_svc_dc *d, int fam)
{
	uint32_t up_bits = 0;
	unsigned up = 0;
	for (unsigned a = 0; a < d->n_addrs; a++)
		if (addr_up(d, a)) {
			up_bits |= UINT32_C(1) << a;
			up++;
		}
	if (!enough_up(s, d, up))
		return 0;
	if (d->run[fam] >= 0) /* the usual listing: each family's in a row */
		return up_bits >> d->run[fam] & ((UINT64_C(1) << d->n[fam]) - 1);
	uint64_t mask = 0;
	for (unsigned i = 0; i < d->n[fam]; i++)
		mask |= (uint64_t)(up_bits >> d->idx[fam][i] & 1u) << i;
	return mask;
}

bool geo_service_health(const struct geo *g, size_t s, bool *up, unsigned *addrs_up,
			unsigned *addrs_total, size_t n)
{
	const struct geo_service *conf = &g->gc->services[s];
	bool any = false;
	for (size_t k = 0; k < conf->n_dcs && k < n; k++) {
		unsigned dc = conf->dcs[k].dc;
		up[k] = dc_up(g, &g->svcs[s], dc, &addrs_up[k]);
		addrs_total[k] = g->svcs[s].dc[dc].n_addrs;
		any |= up[k];
	}
	return conf->n_dcs > 0 && !any;
}

int geo_service_dc_forced(const struct geo *g, size_t s, size_t k)
{
	const struct geo_service *conf = &g->gc->services[s];
	return k < conf->n_dcs ? dc_forced(g, conf->dcs[k].dc) : 0;
}

/*
 * The database for gc: prev's when it was read from the same file and that
 * file is unchanged; else read now, and when that fails while prev has the
 * same file, prev's with a warning (the previous version keeps serving).
 */
static int open_db(struct geo *g, const char *conf_path, const struct geo *prev, bool optional,
		   struct diag *d)
{
	const struct geo_conf *gc = g->gc;
	struct geodb *old = prev != NULL ? prev->db : NULL;
	if (old != NULL && geodb_is_current(old, gc->database)) {
		g->db = geodb_ref(old);
		return 0;
	}
	bool same_path = old != NULL && strcmp(prev->gc->database, gc->database) == 0;
	g->db = geodb_open(gc->database, same_path || optional ? LOG_LEVEL_WARNING : LOG_LEVEL_ERR,
			   d, conf_path, gc->database_line);
	if (g->db != NULL)
		return 0;
	if (same_path) {
		diag_report(d, LOG_LEVEL_WARNING, conf_path, gc->database_line,
			    "geoip database '%s': keeping the version loaded before", gc->database);
		g->db = geodb_ref(old);
		return 0;
	}
	if (optional) {
		diag_report(d, LOG_LEVEL_WARNING, conf_path, gc->database_line,
			    "geoip database '%s': a running server keeps the version it "
			    "has loaded; a start would fail",
			    gc->database);
		return 0;
	}
	return -1;
}

struct geo *geo_build(const struct geo_conf *gc, const char *conf_path, const struct geo *prev,
		      bool optional, struct diag *d)
{
	struct geo *g = xcalloc(1, sizeof(*g));
	g->gc = gc;
	g->arena = arena_new();
	g->n_dcs = (unsigned)gc->n_dcs;
	uint16_t conf_order[GEO_DC_MAX];
	for (unsigned i = 0; i < g->n_dcs; i++)
		conf_order[i] = (uint16_t)i;
	g->default_order = make_order(g, &gc->default_order, conf_order);
	if (gc->database != NULL) {
		if (open_db(g, conf_path, prev, optional, d) < 0) {
			geo_free(g);
			return NULL;
		}
		if (g->db != NULL) {
			rank_records(g);
			make_classes(g);
		}
	}
	build_rules(g);
	g->svcs = xcalloc(gc->n_services ? gc->n_services : 1, sizeof(*g->svcs));
	for (size_t i = 0; i < gc->n_services; i++) {
		build_service(g, &gc->services[i], &g->svcs[i]);
		g->svcs[i].stat_slot = i <= INT16_MAX ? (int16_t)i : -1;
	}
	for (unsigned i = 0; i < g->n_dcs; i++)
		g->dc_stat_slot[i] = (int16_t)i;
	return g;
}

void geo_set_stat_slots(struct geo *g, const int16_t *service_slot, const int16_t *dc_slot)
{
	for (size_t i = 0; i < g->gc->n_services; i++)
		g->svcs[i].stat_slot = service_slot[i];
	for (unsigned i = 0; i < g->n_dcs; i++)
		g->dc_stat_slot[i] = dc_slot[i];
}

int geo_stat_slot_service(const struct geo *g, size_t s)
{
	return s < g->gc->n_services ? g->svcs[s].stat_slot : -1;
}

int geo_stat_slot_dc(const struct geo *g, size_t dc)
{
	return dc < g->n_dcs ? g->dc_stat_slot[dc] : -1;
}

void geo_free(struct geo *g)
{
	if (g == NULL)
		return;
	if (g->classes != NULL)
		geodb_classes_free(g->classes);
	geodb_free(g->db);
	nettrie_free(g->trie[0]);
	nettrie_free(g->trie[1]);
	free(g->svcs);
	arena_free(g->arena);
	free(g);
}

int geo_service_index(const struct geo *g, const char *name)
{
	for (size_t i = 0; i < g->gc->n_services; i++)
		if (strcmp(g->gc->services[i].name, name) == 0)
			return (int)i;
	return -1;
}

const void *geo_bind(struct arena *a, int service, uint32_t ttl)
{
	struct geo_binding *b = arena_alloc(a, sizeof(*b));
	b->service = (uint16_t)service;
	b->ttl = ttl;
	return b;
}

/* ---- deciding (query path) ----------------------------------------- */

/*
 * Addresses that embed an IPv4 address are routed as that IPv4 address:
 * IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), 6to4 (2002::/16,
 * RFC 3056) and Teredo (2001::/32, RFC 4380, client address inverted in
 * the last 32 bits).  Returns the number of leading IPv6 bits that the
 * embedding itself takes (0 when there is none), and rewrites *c.  The
 * scope of an answer is then that number plus the IPv4 scope, and must
 * hold for every address the masked source address shares it with.
 */
static unsigned embedded_v4(struct answer_client *c)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[12] = { 0 };
	const uint8_t *a = c->addr;
	unsigned skip;
	uint8_t v4[4];
	if (c->family != 6)
		return 0;
	if (memcmp(a, mapped, 12) == 0 || (memcmp(a, zero, 12) == 0 && (a[12] | a[13]) != 0)) {
		skip = 96;
		memcpy(v4, a + 12, 4);
	} else if (a[0] == 0x20 && a[1] == 0x02) {
		skip = 16;
		memcpy(v4, a + 2, 4);
	} else if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0 && c->prefix >= 32) {
		/* The prefix is all Teredo, so the answer depends on the client
		 * bits even when it holds none of them.  They are decoded from
		 * the address as masked (unknown bits are 0, so decode as 1):
		 * the scope then says how far that answer holds, 97 at least,
		 * and a resolver learns to send more bits.  The database's own
		 * alias for 2001::/32 would route by the Teredo server, and
		 * contradict the answer for longer prefixes. */
		for (int i = 0; i < 4; i++)
			v4[i] = (uint8_t)~a[12 + i];
		c->family = 4;
		c->prefix = 32;
		memset(c->addr, 0, sizeof(c->addr));
		memcpy(c->addr, v4, 4);
		return 96;
	} else {
		return 0;
	}
	if (c->prefix < skip + 1)
		return 0; /* the embedded address is not in the prefix at all */
	c->family = 4;
	c->prefix = (uint8_t)(c->prefix - skip > 32 ? 32 : c->prefix - skip);
	memset(c->addr, 0, sizeof(c->addr));
	memcpy(c->addr, v4, 4);
	/* Bits past the prefix were zero in the query; keep them zero. */
	for (unsigned b = c->prefix; b < 32; b++)
		c->addr[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
	return skip;
}

/*
 * IPv6 space that embedded_v4() routes as IPv4 (when the source prefix
 * holds the IPv4 bits): the scope of an answer found in the IPv6 tree must
 * not reach into it, since the IPv4 data and rules decide there.  Outside
 * a range the scope stops one bit past where the address parts from it;
 * inside one (a source prefix too short to hold the IPv4 bits) it covers
 * the embedded address whole.
 */
static unsigned fence_embedded(const uint8_t *a, unsigned scope)
{
	static const struct {
		uint8_t net[16];
		uint8_t len, whole;
	} ranges[] = {
		{ { 0 }, 96, 128 },                        /* ::/96, IPv4-compatible */
		{ { [10] = 0xff, [11] = 0xff }, 96, 128 }, /* ::ffff:0:0/96, mapped */
		{ { 0x20, 0x02 }, 16, 48 },                /* 2002::/16, 6to4 */
		{ { 0x20, 0x01, 0, 0 }, 32, 128 },         /* 2001::/32, Teredo */
	};
	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		unsigned cpl = 0;
		for (unsigned i = 0; i < 16 && cpl < ranges[r].len; i++) {
			uint8_t x = a[i] ^ ranges[r].net[i];
			if (x != 0) {
				cpl += (unsigned)__builtin_clz(x) - 24;
				break;
			}
			cpl += 8;
		}
		unsigned need = cpl >= ranges[r].len ? ranges[r].whole : cpl + 1;
		if (scope < need)
			scope = need;
	}
	return scope;
}

/* The order and scope for a client; with why, also what decided it (the
 * location, rule and reason explain shows). */
static void decide(const struct geo *g, const struct answer_client *in, struct decision *dn,
		   bool why)
{
	struct answer_client c = *in;
	unsigned skip = embedded_v4(&c);
	dn->order = g->default_order;
	dn->scope = 0;
	dn->reason = GEO_BY_DEFAULT;
	dn->rule = NULL;
	dn->loc = NULL;
	/* RFC 7871 7.1.2: source prefix 0 asks for no tailoring. */
	if (c.family == 0 || c.prefix == 0)
		return;
	unsigned tscope, nm = 0;
	const struct net_rule *nr = nettrie_lookup(g->trie[c.family == 4 ? 0 : 1], c.addr, &tscope);
	if (nr != NULL) {
		dn->order = nr->order;
		dn->reason = GEO_BY_NETWORK;
		dn->rule = nr->rule;
		const struct geo_loc *l = g->db ? geodb_lookup(g->db, c.family, c.addr, &nm) : NULL;
		dn->loc = l;
		if (l != NULL && l->has_coords) {
			/* The rule's datacenters, then the rest by distance:
			 * now the database network matters too. */
			merge_order(g, &nr->rule->dcs, g->ranks[l->index].near, dn->buf);
			dn->order = dn->buf;
		}
	} else if (g->db != NULL) {
		const struct geo_loc *l = NULL;
		if (g->classes == NULL || why)
			l = geodb_lookup(g->db, c.family, c.addr, &nm);
		if (l != NULL) {
			const struct geo_rank *k = &g->ranks[l->index];
			dn->order = k->order;
			dn->reason = k->reason;
			dn->rule = k->rule;
			dn->loc = l;
		}
		/* The answer holds over the widest subtree that answers alike:
		 * neighbouring networks with the same order are one scope. */
		if (g->classes != NULL)
			dn->order = g->class_order[geodb_class_lookup(g->db, g->classes, c.family,
								      c.addr, &nm)];
	}
	/* The answer holds where both the rule tree and the database say
	 * the same: the longer of the two prefixes.  (A rule's datacenters are
	 * followed by the record's order, so its network counts too.) */
	dn->scope = (nm > tscope ? nm : tscope) + skip;
	if (skip == 0 && c.family == 6)
		dn->scope = fence_embedded(c.addr, dn->scope);
}

static uint32_t degraded_ttl(const struct geo_service *c, uint32_t ttl)
{
	if (c->degraded_ttl_abs)
		return ttl < c->degraded_ttl_s ? ttl : c->degraded_ttl_s;
	return (uint32_t)((uint64_t)ttl * c->degraded_ttl_pct / 100);
}

/*
 * The first datacenter in order that has addresses of fam and is up with
 * some of them up.  Sets *dc, *mask and *degraded (not the first choice,
 * or a partial set).  Returns false when none is.
 */
static bool pick(const struct geo *g, const struct geo_svc *s, const uint16_t *order, int fam,
		 unsigned *dc, uint64_t *mask, bool *degraded)
{
	bool first = true;
	for (unsigned i = 0; i < g->n_dcs; i++) {
		unsigned d = order[i];
		const struct geo_svc_dc *sd = &s->dc[d];
		if (sd->set[fam] == NULL)
			continue;
		uint64_t full = (UINT64_C(1) << sd->n[fam]) - 1;
		uint8_t f = dc_forced(g, d);
		if (f == GEO_FORCE_UP) {
			*mask = full;
		} else if (f == GEO_FORCE_DOWN || (*mask = up_records(s, sd, fam)) == 0) {
			first = false;
			continue;
		}
		*dc = d;
		*degraded = !first || *mask != full;
		return true;
	}
	return false;
}

/*
 * Fail-open, never past the operator.  First the live addresses of the
 * first datacenter that has any, though fewer than up-min (better a
 * degraded datacenter than a dead one); else as if every probe said up:
 * the first datacenter in order that is not forced down, less its
 * addresses forced down (an address's cell carries its datacenter's
 * override too).  Sets *dc, *mask and *live (the first way); false when
 * the operator forced all of them down.
 */
static bool fail_open(const struct geo *g, const struct geo_svc *s, const uint16_t *order, int fam,
		      unsigned *dc, uint64_t *mask, bool *live_only)
{
	for (int live = 1; live >= 0; live--) {
		for (unsigned i = 0; i < g->n_dcs; i++) {
			unsigned d = order[i];
			const struct geo_svc_dc *sd = &s->dc[d];
			if (sd->set[fam] == NULL || dc_forced(g, d) == GEO_FORCE_DOWN)
				continue;
			uint64_t m = 0;
			for (unsigned k = 0; k < sd->n[fam]; k++) {
				unsigned a = sd->idx[fam][k];
				const _Atomic uint8_t *f = sd->force[a];
				if ((f == NULL || atomic_load_explicit(f, memory_order_relaxed) !=
							  GEO_FORCE_DOWN) &&
				    (!live || addr_up(sd, a)))
					m |= UINT64_C(1) << k;
			}
			if (m != 0) {
				*dc = d;
				*mask = m;
				*live_only = live;
				return true;
			}
		}
	}
	return false;
}

/* No datacenter is up: the service's policy decides (fail-open default). */
static void all_down(const struct geo *g, const struct geo_svc *s, const uint16_t *order, int fam,
		     struct dyn_answer *out)
{
	unsigned dc;
	bool live;
	switch (s->conf->all_down) {
	case GEO_ALL_DOWN_SERVFAIL:
		out->rcode = RCODE_SERVFAIL;
		return;
	case GEO_ALL_DOWN_LAST_RESORT:
		out->set = s->last_resort[fam];
		out->mask = ~UINT64_C(0);
		break;
	default:
		if (!fail_open(g, s, order, fam, &dc, &out->mask, &live)) {
			out->rcode = RCODE_SERVFAIL; /* all forced down */
			return;
		}
		out->set = s->dc[dc].set[fam];
		out->dc_name = g->gc->dcs[dc].name; /* for the query log */
		break;
	}
	out->ttl = degraded_ttl(s->conf, out->ttl);
}

void geo_answer(const void *ctx, const void *binding, uint16_t qtype, const struct answer_client *c,
		struct dyn_answer *out)
{
	const struct geo *g = ctx;
	const struct geo_binding *b = binding;
	const struct geo_svc *s = &g->svcs[b->service];
	int fam = qtype == RRTYPE_AAAA ? FAM_AAAA : FAM_A;
	unsigned dc;
	bool degraded;
	out->ttl = b->ttl;
	out->scope = 0;
	out->set = NULL;
	out->rcode = 0;
	out->service = s->stat_slot;
	out->dc = -1;
	out->dc_name = NULL;
	if (s->n_with[fam] == 0)
		return; /* NODATA: the service has no address of this family */
	struct decision dn;
	/* With one place to send anyone the answer cannot depend on the
	 * client: skip the lookup, scope 0 (RFC 7871 7.2.1). */
	if (s->n_with[fam] == 1) {
		dn.order = g->default_order;
		dn.scope = 0;
	} else {
		decide(g, c, &dn, false);
	}
	out->scope = (uint8_t)dn.scope;
	if (!pick(g, s, dn.order, fam, &dc, &out->mask, &degraded)) {
		all_down(g, s, dn.order, fam, out);
		return;
	}
	out->set = s->dc[dc].set[fam];
	out->dc = g->dc_stat_slot[dc];
	out->dc_name = g->gc->dcs[dc].name;
	if (degraded)
		out->ttl = degraded_ttl(s->conf, out->ttl);
}

/* ---- explain (control path) ---------------------------------------- */

static void prefix_str(int family, const uint8_t *addr, unsigned len, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));
	snprintf(out, size, "%s/%u", a, len);
}

static const char *const reason_text[] = {
	[GEO_BY_DEFAULT] = "no location: default order",
	[GEO_BY_NETWORK] = "network rule",
	[GEO_BY_COUNTRY] = "country rule",
	[GEO_BY_CONTINENT] = "continent rule",
	[GEO_BY_DISTANCE] = "nearest by great-circle distance",
};

static void explain_dc(const struct geo *g, const struct geo_svc *s, const struct decision *dn,
		       unsigned rank, unsigned dc, void (*emit)(void *, const char *), void *arg)
{
	char line[512], dist[48] = "distance unknown";
	size_t o = 0;
	unsigned n_up;
	const struct geo_svc_dc *d = &s->dc[dc];
	if (dn->loc != NULL && dn->loc->has_coords)
		snprintf(dist, sizeof(dist), "%.0f km",
			 distance_km(dn->loc->lat, dn->loc->lon, g->gc->dcs[dc].lat,
				     g->gc->dcs[dc].lon));
	if (d->set[0] == NULL && d->set[1] == NULL) {
		snprintf(line, sizeof(line), "#%u dc %s: %s; not in this service (no addresses)",
			 rank + 1, g->gc->dcs[dc].name, dist);
		emit(arg, line);
		return;
	}
	bool up = dc_up(g, s, dc, &n_up);
	uint8_t f = dc_forced(g, dc);
	o += (size_t)snprintf(line, sizeof(line), "#%u dc %s: %s; %s%s (%u/%u up);", rank + 1,
			      g->gc->dcs[dc].name, dist, up ? "up" : "DOWN",
			      f == GEO_FORCE_UP     ? " forced"
			      : f == GEO_FORCE_DOWN ? " forced"
						    : "",
			      n_up, d->n_addrs);
	for (int fam = 0; fam < 2; fam++) {
		const struct zrrset *set = d->set[fam];
		if (set == NULL)
			continue;
		const uint8_t *p = set->data;
		for (unsigned r = 0; r < set->count && o < sizeof(line) - 60; r++) {
			char a[INET6_ADDRSTRLEN];
			unsigned ai = d->idx[fam][r];
			uint8_t af = d->force[ai] ? atomic_load(d->force[ai]) : 0;
			inet_ntop(fam == FAM_A ? AF_INET : AF_INET6, p + 2, a, sizeof(a));
			o += (size_t)snprintf(line + o, sizeof(line) - o, " %s%s", a,
					      af == GEO_FORCE_DOWN ? "(forced down)"
					      : af == GEO_FORCE_UP ? "(forced up)"
					      : addr_up(d, ai)     ? ""
								   : "(down)");
			p += 2 + p[1];
		}
	}
	emit(arg, line);
}

void geo_explain(const void *ctx, const void *binding, const struct answer_client *c,
		 void (*emit)(void *arg, const char *line), void *arg)
{
	const struct geo *g = ctx;
	const struct geo_binding *b = binding;
	const struct geo_svc *s = &g->svcs[b->service];
	char line[512], net[64], city[64] = "";
	struct decision dn;
	decide(g, c, &dn, true);

	prefix_str(c->family, c->addr, c->prefix, net, sizeof(net));
	snprintf(line, sizeof(line), "client %s from %s; service %s", net,
		 c->ecs ? "EDNS Client Subnet" : "the query's source address", s->conf->name);
	emit(arg, line);
	if (dn.loc != NULL) {
		struct answer_client v4 = *c;
		embedded_v4(&v4);
		geodb_city(g->db, v4.family, v4.addr, city, sizeof(city));
		if (dn.loc->has_coords)
			snprintf(line, sizeof(line),
				 "location: %s%scountry %s, continent %s, lat %.2f lon %.2f", city,
				 city[0] ? ", " : "", dn.loc->country[0] ? dn.loc->country : "-",
				 dn.loc->continent[0] ? dn.loc->continent : "-", dn.loc->lat,
				 dn.loc->lon);
		else
			snprintf(line, sizeof(line),
				 "location: country %s, continent %s, no coordinates",
				 dn.loc->country[0] ? dn.loc->country : "-",
				 dn.loc->continent[0] ? dn.loc->continent : "-");
	} else {
		snprintf(line, sizeof(line), "location: unknown (%s)",
			 c->prefix == 0  ? "ECS source prefix 0 asks for no tailoring"
			 : g->db == NULL ? "no geoip database"
					 : "not in the geoip database");
	}
	emit(arg, line);
	if (dn.rule != NULL) {
		char what[80];
		if (dn.reason == GEO_BY_NETWORK)
			prefix_str(dn.rule->net.family, dn.rule->net.addr, dn.rule->net.len, what,
				   sizeof(what));
		else
			snprintf(what, sizeof(what), "%s", dn.rule->code);
		snprintf(line, sizeof(line), "rule: %s %s (%s:%u)", reason_text[dn.reason], what,
			 dn.rule->file ? dn.rule->file : "?", dn.rule->line);
	} else {
		snprintf(line, sizeof(line), "rule: none; %s", reason_text[dn.reason]);
	}
	emit(arg, line);
	for (unsigned i = 0; i < g->n_dcs; i++)
		explain_dc(g, s, &dn, i, dn.order[i], emit, arg);
	for (int fam = 0; fam < 2; fam++) {
		struct dyn_answer out;
		unsigned dc;
		uint64_t mask;
		bool degraded = false;
		geo_answer(g, b, fam == FAM_A ? RRTYPE_A : RRTYPE_AAAA, c, &out);
		const char *name = "none (NODATA)";
		const uint16_t *order = s->n_with[fam] == 1 ? g->default_order : dn.order;
		char open_name[160];
		bool live;
		if (out.rcode != 0)
			name = s->conf->all_down == GEO_ALL_DOWN_SERVFAIL
				       ? "SERVFAIL (every datacenter down, policy servfail)"
				       : "SERVFAIL (every datacenter down, and every one or "
					 "every address of it forced down: nothing to fail open "
					 "to)";
		else if (s->n_with[fam] > 0 && pick(g, s, order, fam, &dc, &mask, &degraded))
			name = g->gc->dcs[dc].name;
		else if (out.set != NULL && s->conf->all_down == GEO_ALL_DOWN_LAST_RESORT)
			name = "last-resort addresses (every datacenter down)";
		else if (out.set != NULL && fail_open(g, s, order, fam, &dc, &mask, &live)) {
			snprintf(open_name, sizeof(open_name),
				 live ? "%s, fail-open (every datacenter down; the first with "
					"addresses up, fewer than up-min: those)"
				      : "%s, fail-open (every datacenter down; the first one not "
					"forced down, as if its probes said up)",
				 g->gc->dcs[dc].name);
			name = open_name;
		}
		/* A query without ECS gets no ECS option back: the scope is
		 * what one with ECS from this network would get. */
		const char *if_ecs = c->ecs ? "" : " (to a query with ECS)";
		if (out.rcode != 0) /* no records, so no TTL of ours */
			snprintf(line, sizeof(line), "answer %s: %s, ecs scope /%u%s",
				 fam == FAM_A ? "A" : "AAAA", name, out.scope, if_ecs);
		else if (out.set == NULL) /* NODATA: the SOA's negative TTL */
			snprintf(line, sizeof(line),
				 "answer %s: none (NODATA, the zone's SOA at its negative TTL), "
				 "ecs scope /%u%s",
				 fam == FAM_A ? "A" : "AAAA", out.scope, if_ecs);
		else
			snprintf(line, sizeof(line), "answer %s: %s%s, ttl %u, ecs scope /%u%s",
				 fam == FAM_A ? "A" : "AAAA", name, degraded ? " (degraded)" : "",
				 out.ttl, out.scope, if_ecs);
		emit(arg, line);
	}
}

bool geo_explain_allowed(const void *ctx, int family, const uint8_t *addr)
{
	const struct geo *g = ctx;
	if (!g->gc->explain_acl_set) {
		static const uint8_t v6_loopback[16] = { [15] = 1 };
		return (family == 4 && addr[0] == 127) ||
		       (family == 6 && memcmp(addr, v6_loopback, 16) == 0);
	}
	for (size_t i = 0; i < g->gc->n_explain_acl; i++) {
		const struct geo_prefix *p = &g->gc->explain_acl[i];
		if (p->family != family)
			continue;
		unsigned full = p->len / 8, rem = p->len % 8;
		if (memcmp(p->addr, addr, full) != 0)
			continue;
		if (rem != 0 && ((p->addr[full] ^ addr[full]) & (uint8_t)(0xFF << (8 - rem))))
			continue;
		return true;
	}
	return false;
}

size_t geo_memory(const struct geo *g)
{
	return arena_size(g->arena) + (g->db ? geodb_memory(g->db) : 0) +
	       (g->classes ? geodb_classes_memory(g->db, g->classes) : 0);
}

bool geo_same_database(const struct geo *a, const struct geo *b)
{
	return a != NULL && b != NULL && a->db != NULL && a->db == b->db;
}

uint64_t geo_database_built(const struct geo *g)
{
	return g != NULL && g->db != NULL ? geodb_build_epoch(g->db) : 0;
}

const char *geo_database_type(const struct geo *g)
{
	return g != NULL && g->db != NULL ? geodb_type(g->db) : NULL;
}

size_t geo_records_with_coords(const struct geo *g)
{
	size_t n = 0;
	for (size_t i = 0; g != NULL && g->db != NULL && i < geodb_count(g->db); i++)
		n += geodb_loc(g->db, i)->has_coords;
	return n;
}

bool geo_family_down(const struct geo *g, size_t s, int family)
{
	const struct geo_svc *sv = &g->svcs[s];
	int fam = family == 6 ? FAM_AAAA : FAM_A;
	unsigned dc;
	uint64_t mask;
	bool degraded;
	return sv->n_with[fam] > 0 && !pick(g, sv, g->default_order, fam, &dc, &mask, &degraded);
}

size_t geo_records(const struct geo *g)
{
	return g->db ? geodb_count(g->db) : 0;
}
