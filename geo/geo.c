/* geo.c: datacenter ranking per location, rules, service answers, explain. */
#include "config.h"

#include "geo/geo.h"

#include <arpa/inet.h>
#include <math.h>
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
#define FAM_A 0
#define FAM_AAAA 1

/* A service's answer RRsets, per datacenter and address family. */
struct geo_svc {
	const struct geo_service *conf;
	const struct zrrset *sets[GEO_DC_MAX][2];
	unsigned n_with[2];	/* datacenters with addresses of the family */
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

struct geo {
	const struct geo_conf *gc;
	struct arena *arena;
	struct geodb *db;
	struct nettrie *trie[2];	/* IPv4, IPv6 */
	struct geo_svc *svcs;
	const uint16_t *default_order;
	unsigned n_dcs;
};

/* What decides a client's answer. */
struct decision {
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
	}
	free(gc->services);
	struct geo_rule *lists[3] = {gc->nets, gc->countries, gc->continents};
	size_t counts[3] = {gc->n_nets, gc->n_countries, gc->n_continents};
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
static void rank_by_distance(const struct geo *g, double lat, double lon,
			     uint16_t *out)
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

/* The listed datacenters first, then the others in the order of rest. */
static const uint16_t *make_order(struct geo *g, const struct geo_list *first,
				  const uint16_t *rest)
{
	uint16_t *o = arena_alloc(g->arena, g->n_dcs * sizeof(*o));
	bool used[GEO_DC_MAX] = {false};
	unsigned n = 0;
	for (unsigned i = 0; first != NULL && i < first->n; i++) {
		if (!used[first->dc[i]]) {
			used[first->dc[i]] = true;
			o[n++] = first->dc[i];
		}
	}
	for (unsigned i = 0; i < g->n_dcs; i++)
		if (!used[rest[i]])
			o[n++] = rest[i];
	return o;
}

static const struct geo_rule *find_code(const struct geo_rule *rules, size_t n,
					const char *code)
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
	for (size_t i = 0; i < geodb_count(g->db); i++) {
		struct geo_loc *l = geodb_loc(g->db, i);
		uint16_t near[GEO_DC_MAX];
		const uint16_t *rest = g->default_order;
		if (l->has_coords) {
			rank_by_distance(g, l->lat, l->lon, near);
			rest = near;
		}
		const struct geo_rule *r;
		if ((r = find_code(gc->countries, gc->n_countries, l->country)) != NULL) {
			l->reason = GEO_BY_COUNTRY;
		} else if ((r = find_code(gc->continents, gc->n_continents,
					  l->continent)) != NULL) {
			l->reason = GEO_BY_CONTINENT;
		} else {
			l->reason = l->has_coords ? GEO_BY_DISTANCE : GEO_BY_DEFAULT;
		}
		l->rule = r;
		l->order = make_order(g, r ? &r->dcs : NULL, rest);
	}
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
		nettrie_insert(g->trie[r->net.family == 4 ? 0 : 1], r->net.addr,
			       r->net.len, nr);
	}
}

/* A service's addresses as wire-form RRsets, one per datacenter and family. */
static void build_service(struct geo *g, const struct geo_service *s,
			  struct geo_svc *out)
{
	out->conf = s;
	for (size_t k = 0; k < s->n_dcs; k++) {
		const struct geo_service_dc *sd = &s->dcs[k];
		for (int fam = 0; fam < 2; fam++) {
			uint8_t buf[GEO_DC_MAX * 4 * 18];
			size_t len = 0;
			uint16_t count = 0;
			unsigned alen = fam == FAM_A ? 4 : 16;
			for (size_t a = 0; a < sd->n_addrs && len + 2 + alen <= sizeof(buf); a++) {
				if (sd->addrs[a].family != (fam == FAM_A ? 4 : 6))
					continue;
				buf[len++] = 0;
				buf[len++] = (uint8_t)alen;
				memcpy(buf + len, sd->addrs[a].addr, alen);
				len += alen;
				count++;
			}
			if (count == 0)
				continue;
			struct zrrset *set = arena_alloc(g->arena, sizeof(*set));
			set->type = fam == FAM_A ? RRTYPE_A : RRTYPE_AAAA;
			set->count = count;
			set->data = arena_memdup(g->arena, buf, len);
			set->data_len = (uint32_t)len;
			out->sets[sd->dc][fam] = set;
			out->n_with[fam]++;
		}
	}
}

struct geo *geo_build(const struct geo_conf *gc, const char *conf_path,
		      struct diag *d)
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
		g->db = geodb_open(gc->database, d, conf_path, gc->database_line);
		if (g->db == NULL) {
			geo_free(g);
			return NULL;
		}
		rank_records(g);
	}
	build_rules(g);
	g->svcs = xcalloc(gc->n_services ? gc->n_services : 1, sizeof(*g->svcs));
	for (size_t i = 0; i < gc->n_services; i++)
		build_service(g, &gc->services[i], &g->svcs[i]);
	return g;
}

void geo_free(struct geo *g)
{
	if (g == NULL)
		return;
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

const void *geo_bind(struct geo *g, int service, uint32_t ttl)
{
	struct geo_binding *b = arena_alloc(g->arena, sizeof(*b));
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
 * embedding itself takes (0 when there is none), and rewrites *c.
 */
static unsigned embedded_v4(struct answer_client *c)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[12] = {0};
	const uint8_t *a = c->addr;
	unsigned skip;
	uint8_t v4[4];
	if (c->family != 6)
		return 0;
	if (memcmp(a, mapped, 12) == 0 ||
	    (memcmp(a, zero, 12) == 0 && (a[12] | a[13]) != 0)) {
		skip = 96;
		memcpy(v4, a + 12, 4);
	} else if (a[0] == 0x20 && a[1] == 0x02) {
		skip = 16;
		memcpy(v4, a + 2, 4);
	} else if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {
		skip = 96;
		for (int i = 0; i < 4; i++)
			v4[i] = (uint8_t)~a[12 + i];
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
		c->addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	return skip;
}

static void decide(const struct geo *g, const struct answer_client *in,
		   struct decision *dn)
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
	const struct net_rule *nr = nettrie_lookup(g->trie[c.family == 4 ? 0 : 1],
						   c.addr, &tscope);
	if (nr != NULL) {
		dn->order = nr->order;
		dn->reason = GEO_BY_NETWORK;
		dn->rule = nr->rule;
	} else if (g->db != NULL) {
		const struct geo_loc *l = geodb_lookup(g->db, c.family, c.addr, &nm);
		if (l != NULL) {
			dn->order = l->order;
			dn->reason = l->reason;
			dn->rule = l->rule;
			dn->loc = l;
		}
	}
	/* The answer holds where both the rule tree and the database say
	 * the same: the longer of the two prefixes. */
	dn->scope = (nr == NULL && nm > tscope ? nm : tscope) + skip;
}

static const struct zrrset *pick(const struct geo_svc *s, const uint16_t *order,
				 unsigned n_dcs, int fam, unsigned *dc)
{
	for (unsigned i = 0; i < n_dcs; i++) {
		if (s->sets[order[i]][fam] != NULL) {
			*dc = order[i];
			return s->sets[order[i]][fam];
		}
	}
	return NULL;
}

void geo_answer(const void *ctx, const void *binding, uint16_t qtype,
		const struct answer_client *c, struct dyn_answer *out)
{
	const struct geo *g = ctx;
	const struct geo_binding *b = binding;
	const struct geo_svc *s = &g->svcs[b->service];
	int fam = qtype == RRTYPE_AAAA ? FAM_AAAA : FAM_A;
	unsigned dc;
	out->ttl = b->ttl;
	out->scope = 0;
	out->set = NULL;
	if (s->n_with[fam] == 0)
		return; /* NODATA: the service has no address of this family */
	if (s->n_with[fam] == 1) {
		/* One place to send anyone: the answer does not depend on
		 * the client, so scope 0 (RFC 7871 7.2.1). */
		out->set = pick(s, g->default_order, g->n_dcs, fam, &dc);
		return;
	}
	struct decision dn;
	decide(g, c, &dn);
	out->set = pick(s, dn.order, g->n_dcs, fam, &dc);
	out->scope = (uint8_t)dn.scope;
}

/* ---- explain (control path) ---------------------------------------- */

static void prefix_str(int family, const uint8_t *addr, unsigned len,
		       char *out, size_t size)
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

static void explain_dc(const struct geo *g, const struct geo_svc *s,
		       const struct decision *dn, unsigned rank, unsigned dc,
		       void (*emit)(void *, const char *), void *arg)
{
	char line[512], dist[48] = "distance unknown";
	size_t o = 0;
	if (dn->loc != NULL && dn->loc->has_coords)
		snprintf(dist, sizeof(dist), "%.0f km",
			 distance_km(dn->loc->lat, dn->loc->lon, g->gc->dcs[dc].lat,
				     g->gc->dcs[dc].lon));
	o += (size_t)snprintf(line, sizeof(line), "#%u dc %s: %s;", rank + 1,
			      g->gc->dcs[dc].name, dist);
	for (int fam = 0; fam < 2; fam++) {
		const struct zrrset *set = s->sets[dc][fam];
		if (set == NULL)
			continue;
		const uint8_t *p = set->data;
		for (unsigned r = 0; r < set->count && o < sizeof(line) - 50; r++) {
			char a[INET6_ADDRSTRLEN];
			inet_ntop(fam == FAM_A ? AF_INET : AF_INET6, p + 2, a, sizeof(a));
			o += (size_t)snprintf(line + o, sizeof(line) - o, " %s", a);
			p += 2 + p[1];
		}
	}
	if (s->sets[dc][0] == NULL && s->sets[dc][1] == NULL)
		snprintf(line + o, sizeof(line) - o, " no addresses for this service");
	emit(arg, line);
}

void geo_explain(const void *ctx, const void *binding,
		 const struct answer_client *c,
		 void (*emit)(void *arg, const char *line), void *arg)
{
	const struct geo *g = ctx;
	const struct geo_binding *b = binding;
	const struct geo_svc *s = &g->svcs[b->service];
	char line[512], net[64], city[64] = "";
	struct decision dn;
	decide(g, c, &dn);

	prefix_str(c->family, c->addr, c->prefix, net, sizeof(net));
	snprintf(line, sizeof(line), "client %s from %s; service %s", net,
		 c->ecs ? "EDNS Client Subnet" : "the query's source address",
		 s->conf->name);
	emit(arg, line);
	if (dn.loc != NULL) {
		struct answer_client v4 = *c;
		embedded_v4(&v4);
		geodb_city(g->db, v4.family, v4.addr, city, sizeof(city));
		if (dn.loc->has_coords)
			snprintf(line, sizeof(line),
				 "location: %s%scountry %s, continent %s, lat %.2f lon %.2f",
				 city, city[0] ? ", " : "", dn.loc->country[0] ? dn.loc->country : "-",
				 dn.loc->continent[0] ? dn.loc->continent : "-",
				 dn.loc->lat, dn.loc->lon);
		else
			snprintf(line, sizeof(line),
				 "location: country %s, continent %s, no coordinates",
				 dn.loc->country[0] ? dn.loc->country : "-",
				 dn.loc->continent[0] ? dn.loc->continent : "-");
	} else {
		snprintf(line, sizeof(line), "location: unknown (%s)",
			 g->db == NULL ? "no geoip database" : "not in the geoip database");
	}
	emit(arg, line);
	if (dn.rule != NULL) {
		char what[80];
		if (dn.reason == GEO_BY_NETWORK)
			prefix_str(dn.rule->net.family, dn.rule->net.addr,
				   dn.rule->net.len, what, sizeof(what));
		else
			snprintf(what, sizeof(what), "%s", dn.rule->code);
		snprintf(line, sizeof(line), "rule: %s %s (%s:%u)", reason_text[dn.reason],
			 what, dn.rule->file ? dn.rule->file : "?", dn.rule->line);
	} else {
		snprintf(line, sizeof(line), "rule: none; %s", reason_text[dn.reason]);
	}
	emit(arg, line);
	for (unsigned i = 0; i < g->n_dcs; i++)
		explain_dc(g, s, &dn, i, dn.order[i], emit, arg);
	for (int fam = 0; fam < 2; fam++) {
		struct dyn_answer out;
		geo_answer(g, b, fam == FAM_A ? RRTYPE_A : RRTYPE_AAAA, c, &out);
		unsigned dc = 0;
		const char *name = "none (NODATA)";
		if (out.set != NULL && pick(s, s->n_with[fam] == 1 ? g->default_order
							  : dn.order,
					    g->n_dcs, fam, &dc) != NULL)
			name = g->gc->dcs[dc].name;
		snprintf(line, sizeof(line), "answer %s: %s, ttl %u, ecs scope /%u",
			 fam == FAM_A ? "A" : "AAAA", name, out.ttl, out.scope);
		emit(arg, line);
	}
}

bool geo_explain_allowed(const void *ctx, int family, const uint8_t *addr)
{
	const struct geo *g = ctx;
	if (!g->gc->explain_acl_set) {
		static const uint8_t v6_loopback[16] = {[15] = 1};
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
	return arena_size(g->arena) + (g->db ? geodb_memory(g->db) : 0);
}

size_t geo_records(const struct geo *g)
{
	return g->db ? geodb_count(g->db) : 0;
}
