/* conf_geo.c: the geo sections of geodnsd.yaml: geoip, datacenters, services, routing. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/conf_priv.h"
#include "dns/rfile.h"
#include "dns/xalloc.h"

/* ---- values --------------------------------------------------------- */

/* "ADDR" or "ADDR/LEN" (IPv4 or IPv6).  With net, host bits past LEN must
 * be zero; without, no "/LEN" is allowed.  Returns 0 or -1 with *why set. */
static int prefix_parse(const char *text, bool net, struct geo_prefix *p, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	memset(p, 0, sizeof(*p));
	*why = "not an IPv4 or IPv6 address";
	if (hl >= sizeof(host) || (slash && !net))
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, p->addr) == 1)
		p->family = 4;
	else if (inet_pton(AF_INET6, host, p->addr) == 1)
		p->family = 6;
	else
		return -1;
	unsigned max = p->family == 4 ? 32 : 128;
	p->len = (uint8_t)max;
	if (slash != NULL) {
		char *end;
		errno = 0;
		unsigned long len = strtoul(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || len > max) {
			*why = "invalid prefix length";
			return -1;
		}
		p->len = (uint8_t)len;
	}
	for (unsigned b = p->len; b < max; b++) {
		if (p->addr[b / 8] & (0x80 >> (b % 8))) {
			*why = "has bits set past the prefix length";
			return -1;
		}
	}
	return 0;
}

static bool name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 63)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static int dc_index(const struct conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->geo.n_dcs; i++)
		if (strcmp(conf->geo.dcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* A latitude/longitude: a decimal number within [-max, max]. */
static int get_degrees(struct loader *ld, const struct cnode *val, const char *what, double max,
		       double *out)
{
	char desc[64];
	double v;
	if (val->type == CNODE_SCALAR && conf_decimal(val->text, &v) == 0 && v >= -max &&
	    v <= max) {
		*out = v;
		return 0;
	}
	conf_error(ld, val->line, "'%s' must be a number between %g and %g, not %s", what, -max,
		   max, cnode_desc(val, desc, sizeof(desc)));
	return -1;
}

/* A list of datacenter names (a sequence, or one name) into l. */
static int dc_list(struct loader *ld, const struct cnode *val, const char *what, struct geo_list *l)
{
	char desc[64];
	const struct cnode *const *items;
	size_t n = cnode_items(&val, &items);
	if (val->type != CNODE_SEQ && val->type != CNODE_SCALAR) {
		conf_error(ld, val->line, "%s must be a list of datacenter names, not %s", what,
			   cnode_desc(val, desc, sizeof(desc)));
		return -1;
	}
	if (n == 0) {
		conf_error(ld, val->line, "%s names no datacenter", what);
		return -1;
	}
	l->dc = xcalloc(n, sizeof(*l->dc));
	l->n = 0;
	size_t dups = 0;
	for (size_t i = 0; i < n; i++) {
		int dc = items[i]->type == CNODE_SCALAR ? dc_index(ld->conf, items[i]->text) : -1;
		if (dc < 0) {
			if (!ld->dcs_failed || items[i]->type != CNODE_SCALAR)
				conf_error(ld, items[i]->line, "%s: unknown datacenter %s", what,
					   cnode_desc(items[i], desc, sizeof(desc)));
			continue;
		}
		size_t j = 0;
		while (j < l->n && l->dc[j] != dc)
			j++;
		if (j < l->n) {
			/* Harmless (the first place counts), but likely a typo
			 * for another datacenter. */
			conf_warning(ld, items[i]->line,
				     "%s: datacenter '%s' is listed twice; the second is ignored",
				     what, items[i]->text);
			dups++;
			continue;
		}
		l->dc[l->n++] = (uint16_t)dc;
	}
	return l->n + dups == n ? 0 : -1;
}

/* ---- datacenters ------------------------------------------------------ */

static void set_dc_lat(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		       const struct cnode *val, void *obj)
{
	(void)key;
	get_degrees(ld, val, ck->name, 90, &((struct geo_dc *)obj)->lat);
}

static void set_dc_lon(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		       const struct cnode *val, void *obj)
{
	(void)key;
	get_degrees(ld, val, ck->name, 180, &((struct geo_dc *)obj)->lon);
}

static const struct conf_key dc_keys[] = {
	{ .name = "latitude", .required = true, .set = set_dc_lat },
	{ .name = "longitude", .required = true, .set = set_dc_lon },
	{ .name = NULL },
};

static const struct conf_section dc_section = {
	.what = "a datacenter",
	.where = "in a datacenter",
	.keys = dc_keys,
};

void conf_geo_datacenters(struct loader *ld, const struct cnode *root, struct conf *conf)
{
	char desc[64];
	const struct cnode *val = NULL;
	for (size_t i = 0; root != NULL && root->type == CNODE_MAP && i < root->n; i += 2)
		if (strcmp(root->kids[i]->text, "datacenters") == 0)
			val = root->kids[i + 1];
	if (val == NULL || val->type == CNODE_BAD)
		return;
	if (val->type != CNODE_MAP || val->n == 0)
		ld->dcs_failed = true;
	if (val->type == CNODE_MAP && val->n == 0) {
		conf_error(ld, val->line,
			   "'datacenters' is empty: name at least one, with its coordinates "
			   "(fra: { latitude: 50.11, longitude: 8.68 })");
		return;
	}
	if (val->type != CNODE_MAP) {
		conf_error(ld, val->line,
			   "'datacenters' must be a mapping of names "
			   "to coordinates, not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	conf->geo.dcs = xcalloc(val->n / 2, sizeof(*conf->geo.dcs));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct cnode *k = val->kids[i], *v = val->kids[i + 1];
		if (!name_ok(k->text)) {
			conf_error(ld, k->line,
				   "datacenter name '%s' must be 1-63 "
				   "letters, digits, '-' or '_'",
				   k->text);
			continue;
		}
		if (conf->geo.n_dcs == GEO_DC_MAX) {
			conf_error(ld, k->line, "more than %d datacenters", GEO_DC_MAX);
			return;
		}
		struct geo_dc *dc = &conf->geo.dcs[conf->geo.n_dcs];
		dc->line = k->line;
		if (v->type != CNODE_MAP && v->type != CNODE_BAD && v->type != CNODE_NULL)
			/* Named, with the form it needs; kept by name below. */
			conf_error(ld, v->line,
				   "datacenter '%s' must be a mapping { latitude: ..., longitude: "
				   "... }, not %s",
				   k->text, cnode_desc(v, desc, sizeof(desc)));
		else
			/* A datacenter with a bad key is still known by name (the
		 * configuration fails anyway): every service and rule that
		 * names it would otherwise add an "unknown datacenter" error
		 * for the one mistake. */
			walk_map(ld, v, k->line, &dc_section, dc);
		dc->name = xstrdup(k->text);
		conf->geo.n_dcs++;
	}
}

void conf_geo_set_skip(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		       const struct cnode *val, void *obj)
{
	(void)ld, (void)ck, (void)key, (void)val, (void)obj;
}

/* ---- geoip ----------------------------------------------------------- */

static void set_database(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			 const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;
	if (s == NULL)
		return;
	free(conf->geo.database);
	conf->geo.database = path_resolve(ld->path, s);
	conf->geo.database_line = val->line;
}

static void set_explain_acl(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			    const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	char desc[64];
	(void)key, (void)ck;
	conf->geo.explain_acl_set = true;
	if (val->type == CNODE_NULL)
		return; /* empty: nobody may ask */
	if (val->type != CNODE_SEQ) {
		conf_error(ld, val->line,
			   "'explain-acl' must be a list of networks, "
			   "not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	conf->geo.explain_acl = xcalloc(val->n ? val->n : 1, sizeof(struct geo_prefix));
	for (size_t i = 0; i < val->n; i++) {
		const char *why;
		struct geo_prefix p;
		if (val->kids[i]->type != CNODE_SCALAR ||
		    prefix_parse(val->kids[i]->text, true, &p, &why) < 0) {
			conf_error(ld, val->kids[i]->line, "'explain-acl' entry %s: %s",
				   cnode_desc(val->kids[i], desc, sizeof(desc)),
				   val->kids[i]->type == CNODE_SCALAR ? why : "not a network");
			continue;
		}
		conf->geo.explain_acl[conf->geo.n_explain_acl++] = p;
	}
}

static const struct conf_key geoip_keys[] = {
	{ .name = "database", .set = set_database },
	{ .name = "explain-acl", .set = set_explain_acl },
	{ .name = NULL },
};

const struct conf_section conf_geo_geoip_section = {
	.what = "'geoip'",
	.where = "in 'geoip'",
	.keys = geoip_keys,
};

/* ---- services -------------------------------------------------------- */

/* Addresses (one, or a sequence) into a new array *out of *n; each bad
 * one is reported as "<where><item>: <reason>". */
static void addr_list(struct loader *ld, const struct cnode *val, const char *where,
		      struct geo_prefix **out, size_t *n)
{
	char desc[64];
	const struct cnode *const *items;
	size_t count = cnode_items(&val, &items);
	*out = xcalloc(count ? count : 1, sizeof(**out));
	*n = 0;
	unsigned *lines = xcalloc(count ? count : 1, sizeof(*lines));
	for (size_t i = 0; i < count; i++) {
		const char *why = "not an address";
		if (items[i]->type != CNODE_SCALAR ||
		    prefix_parse(items[i]->text, false, &(*out)[*n], &why) < 0) {
			conf_error(ld, items[i]->line, "%s%s: %s", where,
				   cnode_desc(items[i], desc, sizeof(desc)), why);
			continue;
		}
		/* One address twice would be one record twice in the answer
		 * (RFC 2181 5), and probed twice. */
		size_t j = 0;
		while (j < *n && memcmp(&(*out)[j], &(*out)[*n], sizeof(**out)) != 0)
			j++;
		if (j < *n) {
			conf_error(ld, items[i]->line, "%s%s is listed twice (first on line %u)",
				   where, items[i]->text, lines[j]);
			continue;
		}
		lines[(*n)++] = items[i]->line;
	}
	free(lines);
}

static void service_dc(struct loader *ld, const struct cnode *k, const struct cnode *v,
		       struct geo_service *svc)
{
	char desc[64];
	int dc = dc_index(ld->conf, k->text);
	if (dc < 0) {
		if (!ld->dcs_failed)
			conf_error(ld, k->line, "service '%s': unknown datacenter '%s'", svc->name,
				   k->text);
		svc->dc_missing = true;
		return;
	}
	if (v->type != CNODE_SEQ && v->type != CNODE_SCALAR) {
		conf_error(ld, v->line,
			   "service '%s', datacenter '%s': expected a list "
			   "of addresses, not %s",
			   svc->name, k->text, cnode_desc(v, desc, sizeof(desc)));
		svc->dc_missing = true;
		return;
	}
	struct geo_service_dc *sd = &svc->dcs[svc->n_dcs++];
	char where[160];
	snprintf(where, sizeof(where), "service '%s', datacenter '%s': ", svc->name, k->text);
	sd->dc = (uint16_t)dc;
	sd->line = k->line;
	if (v->type == CNODE_SEQ && v->n == 0)
		/* A datacenter with nothing to answer is always down: a
		 * mistake, or one to leave out of the service. */
		conf_error(ld, v->line, "%sno addresses; give some, or leave the datacenter out",
			   where);
	addr_list(ld, v, where, &sd->addrs, &sd->n_addrs);
}

static void set_service_dcs(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			    const struct cnode *val, void *obj)
{
	struct geo_service *svc = obj;
	char desc[64];
	(void)ck, (void)key;
	if (val->type != CNODE_MAP || val->n == 0) {
		conf_error(ld, val->line,
			   "service '%s': 'datacenters' must map "
			   "datacenter names to addresses, not %s",
			   svc->name, cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	svc->dcs = xcalloc(val->n / 2, sizeof(*svc->dcs));
	for (size_t i = 0; i < val->n; i += 2)
		service_dc(ld, val->kids[i], val->kids[i + 1], svc);
}

static void set_service_check(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			      const struct cnode *val, void *obj)
{
	(void)ck;
	conf_check_parse(ld, key, val, &((struct geo_service *)obj)->check);
}

/* probe: { served-address: "probe-address[@port]" } */
static void set_service_probe(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			      const struct cnode *val, void *obj)
{
	struct geo_service *svc = obj;
	char desc[64];
	(void)ck, (void)key;
	if (val->type != CNODE_MAP) {
		conf_error(ld, val->line,
			   "service '%s': 'probe' must map served "
			   "addresses to probe addresses, not %s",
			   svc->name, cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	svc->probes = xcalloc(val->n / 2 + 1, sizeof(*svc->probes));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct cnode *k = val->kids[i], *v = val->kids[i + 1];
		struct geo_probe_addr *pa = &svc->probes[svc->n_probes];
		const char *why;
		pa->line = k->line;
		if (prefix_parse(k->text, false, &pa->served, &why) < 0) {
			conf_error(ld, k->line, "service '%s': 'probe' key '%s': %s", svc->name,
				   k->text, why);
			continue;
		}
		if (v->type != CNODE_SCALAR ||
		    conf_sockaddr_parse(v->text, 0, &pa->probe, &pa->probe_len, &why) < 0) {
			conf_error(ld, v->line, "service '%s': probe address %s: %s", svc->name,
				   cnode_desc(v, desc, sizeof(desc)),
				   v->type == CNODE_SCALAR ? why : "not an address");
			continue;
		}
		svc->n_probes++;
	}
}

static void set_service_all_down(struct loader *ld, const struct conf_key *ck,
				 const struct cnode *key, const struct cnode *val, void *obj)
{
	struct geo_service *svc = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;
	if (s == NULL)
		return;
	if (strcmp(s, "fail-open") == 0)
		svc->all_down = GEO_ALL_DOWN_FAIL_OPEN;
	else if (strcmp(s, "last-resort") == 0)
		svc->all_down = GEO_ALL_DOWN_LAST_RESORT;
	else if (strcmp(s, "servfail") == 0)
		svc->all_down = GEO_ALL_DOWN_SERVFAIL;
	else
		conf_error(ld, val->line,
			   "'all-down' must be fail-open, last-resort "
			   "or servfail, not '%s'",
			   s);
}

static void set_service_last_resort(struct loader *ld, const struct conf_key *ck,
				    const struct cnode *key, const struct cnode *val, void *obj)
{
	struct geo_service *svc = obj;
	char where[160];
	(void)ck, (void)key;
	snprintf(where, sizeof(where), "service '%s': 'last-resort' ", svc->name);
	free(svc->last_resort);
	unsigned errors = ld->errors;
	addr_list(ld, val, where, &svc->last_resort, &svc->n_last_resort);
	svc->last_resort_refused = ld->errors != errors;
}

/* degraded-ttl: "50%" of the record's TTL, or a number of seconds. */
static void set_service_degraded_ttl(struct loader *ld, const struct conf_key *ck,
				     const struct cnode *key, const struct cnode *val, void *obj)
{
	struct geo_service *svc = obj;
	const char *s = get_str(ld, ck, val);
	char *end;
	(void)key;
	if (s == NULL)
		return;
	unsigned long v = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && end[0] == '%' && end[1] == '\0' && v <= 100) {
		svc->degraded_ttl_pct = (unsigned)v;
		svc->degraded_ttl_abs = false;
	} else if (s[0] >= '0' && s[0] <= '9' && *end == '\0' && v <= 86400) {
		svc->degraded_ttl_s = (unsigned)v;
		svc->degraded_ttl_abs = true;
	} else {
		conf_error(ld, val->line,
			   "'degraded-ttl' must be a percentage "
			   "(0%%-100%%) or seconds (0-86400), not '%s'",
			   s);
	}
}

static const struct conf_key service_keys[] = {
	{ .name = "datacenters", .required = true, .set = set_service_dcs },
	{ .name = "check", .set = set_service_check },
	{ .name = "probe", .set = set_service_probe },
	{ .name = "up-min",
	  .set = conf_set_uint,
	  .min = 1,
	  .max = GEO_ADDR_MAX,
	  .offset = offsetof(struct geo_service, up_min) },
	{ .name = "all-down", .set = set_service_all_down },
	{ .name = "last-resort", .set = set_service_last_resort },
	{ .name = "degraded-ttl", .set = set_service_degraded_ttl },
	{ .name = NULL },
};

/* Checks that need the whole service. */
static void service_check(struct loader *ld, const struct geo_service *svc)
{
	/* An address already refused is not a second mistake. */
	if (svc->all_down == GEO_ALL_DOWN_LAST_RESORT && svc->n_last_resort == 0 &&
	    !svc->last_resort_refused)
		conf_error(ld, svc->line,
			   "service '%s': 'all-down: last-resort' needs "
			   "'last-resort' addresses",
			   svc->name);
	/* A datacenter entry already refused left its addresses out: a probe
	 * for one of them is not a second mistake. */
	for (size_t i = 0; i < svc->n_probes && !svc->dc_missing; i++) {
		bool found = false;
		for (size_t k = 0; k < svc->n_dcs && !found; k++)
			for (size_t a = 0; a < svc->dcs[k].n_addrs && !found; a++)
				found = memcmp(&svc->dcs[k].addrs[a], &svc->probes[i].served,
					       sizeof(struct geo_prefix)) == 0;
		if (!found) {
			char a[INET6_ADDRSTRLEN] = "?";
			const struct geo_prefix *p = &svc->probes[i].served;
			inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a));
			conf_error(ld, svc->probes[i].line,
				   "service '%s': 'probe' names %s, which is not one of "
				   "the service's addresses",
				   svc->name, a);
		}
	}
	for (size_t k = 0; k < svc->n_dcs; k++)
		if (svc->up_min > svc->dcs[k].n_addrs && svc->dcs[k].n_addrs > 0)
			conf_warning(ld, svc->dcs[k].line,
				     "service '%s': 'up-min' is %u but datacenter '%s' has %zu "
				     "address%s: it is up only when all are",
				     svc->name, svc->up_min, ld->conf->geo.dcs[svc->dcs[k].dc].name,
				     svc->dcs[k].n_addrs, svc->dcs[k].n_addrs == 1 ? "" : "es");
	for (size_t k = 0; k < svc->n_dcs; k++)
		if (svc->dcs[k].n_addrs > GEO_ADDR_MAX)
			conf_error(ld, svc->dcs[k].line,
				   "service '%s': more than %d "
				   "addresses in one datacenter",
				   svc->name, GEO_ADDR_MAX);
}

static const struct conf_section service_section = {
	.what = "a service",
	.where = "in a service",
	.keys = service_keys,
};

void conf_geo_set_services(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			   const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	char desc[64];
	(void)ck, (void)key;
	if (val->type != CNODE_MAP || val->n == 0) {
		conf_error(ld, val->line,
			   "'services' must be a mapping of service "
			   "names, not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	conf->geo.services = xcalloc(val->n / 2, sizeof(*conf->geo.services));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct cnode *k = val->kids[i];
		if (!name_ok(k->text)) {
			conf_error(ld, k->line,
				   "service name '%s' must be 1-63 letters, "
				   "digits, '-' or '_'",
				   k->text);
			continue;
		}
		struct geo_service *svc = &conf->geo.services[conf->geo.n_services++];
		svc->name = xstrdup(k->text);
		svc->line = k->line;
		svc->up_min = 1;
		svc->degraded_ttl_pct = 50;
		walk_map(ld, val->kids[i + 1], k->line, &service_section, svc);
		service_check(ld, svc);
	}
}

/* ---- routing --------------------------------------------------------- */

static struct geo_rule *rule_add(struct geo_rule **rules, size_t *n)
{
	*rules = xrealloc(*rules, (*n + 1) * sizeof(**rules));
	memset(&(*rules)[*n], 0, sizeof(**rules));
	return &(*rules)[(*n)++];
}

/* One network rule; file/line say where it was written. */
static void net_rule(struct loader *ld, struct conf *conf, const struct geo_prefix *p,
		     const char *file, unsigned line, struct geo_list *dcs)
{
	for (size_t i = 0; i < conf->geo.n_nets; i++) {
		const struct geo_rule *o = &conf->geo.nets[i];
		if (o->net.family == p->family && o->net.len == p->len &&
		    memcmp(o->net.addr, p->addr, 16) == 0) {
			ld->errors++;
			diag_report(ld->d, LOG_LEVEL_ERR, file, line,
				    "network rule repeats the one at %s:%u", o->file, o->line);
			free(dcs->dc);
			return;
		}
	}
	struct geo_rule *r = rule_add(&conf->geo.nets, &conf->geo.n_nets);
	r->net = *p;
	r->dcs = *dcs;
	r->file = xstrdup(file);
	r->line = line;
}

static void set_net_network(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			    const struct cnode *val, void *obj)
{
	struct geo_rule *r = obj;
	const char *why, *s = get_str(ld, ck, val);
	(void)key;
	if (s != NULL && prefix_parse(s, true, &r->net, &why) < 0)
		conf_error(ld, val->line, "'network' '%s': %s", s, why);
	else if (s != NULL)
		r->code[0] = 'N'; /* parsed */
}

static void set_net_dcs(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			const struct cnode *val, void *obj)
{
	(void)ck, (void)key;
	dc_list(ld, val, "'datacenters'", &((struct geo_rule *)obj)->dcs);
}

static const struct conf_key net_keys[] = {
	{ .name = "network", .required = true, .set = set_net_network },
	{ .name = "datacenters", .required = true, .set = set_net_dcs },
	{ .name = NULL },
};

static const struct conf_section net_section = {
	.what = "a network rule",
	.where = "in a network rule",
	.keys = net_keys,
};

static void set_networks(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			 const struct cnode *val, void *obj)
{
	char desc[64];
	(void)ck, (void)key;
	if (val->type != CNODE_SEQ) {
		conf_error(ld, val->line, "'networks' must be a list of rules, not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	for (size_t i = 0; i < val->n; i++) {
		struct geo_rule r = { 0 };
		unsigned errors = ld->errors;
		walk_map(ld, val->kids[i], val->kids[i]->line, &net_section, &r);
		if (ld->errors != errors || r.code[0] != 'N') {
			free(r.dcs.dc);
			continue;
		}
		net_rule(ld, obj, &r.net, ld->path, val->kids[i]->line, &r.dcs);
	}
}

/* networks-file: "CIDR dc [dc...]" per line; '#' starts a comment. */
static void set_networks_file(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			      const struct cnode *val, void *obj)
{
	const char *s = get_str(ld, ck, val);
	(void)key, (void)obj;
	if (s == NULL)
		return;
	char *path = path_resolve(ld->path, s);
	const char *fault;
	FILE *fp = rfile_open(path, &fault);
	if (fp == NULL) {
		conf_error(ld, val->line, "'networks-file' '%s': %s", path, fault);
		free(path);
		return;
	}
	/* Lines read whole: read in 4,095-octet pieces, a long comment's
	 * tail became a line of its own, and a rule. */
	char *buf = NULL;
	size_t cap = 0;
	unsigned line = 0;
	while (getline(&buf, &cap, fp) >= 0) {
		line++;
		char *hash = strchr(buf, '#'), *save = NULL;
		if (hash != NULL)
			*hash = '\0';
		char *net = strtok_r(buf, " \t\r\n", &save);
		if (net == NULL)
			continue;
		const char *why;
		struct geo_prefix p;
		if (prefix_parse(net, true, &p, &why) < 0) {
			ld->errors++;
			diag_report(ld->d, LOG_LEVEL_ERR, path, line, "network '%s': %s", net, why);
			continue;
		}
		struct geo_list l = { xcalloc(GEO_DC_MAX, sizeof(uint16_t)), 0 };
		bool bad = false;
		for (char *dc; (dc = strtok_r(NULL, " \t\r\n", &save)) != NULL;) {
			int i = dc_index(ld->conf, dc);
			if (l.n == GEO_DC_MAX) {
				ld->errors++;
				diag_report(ld->d, LOG_LEVEL_ERR, path, line,
					    "more than %d datacenters on one line", GEO_DC_MAX);
				bad = true;
				break;
			}
			if (i < 0) {
				if (!ld->dcs_failed) {
					ld->errors++;
					diag_report(ld->d, LOG_LEVEL_ERR, path, line,
						    "unknown datacenter '%s'", dc);
				}
				bad = true;
				break;
			}
			l.dc[l.n++] = (uint16_t)i;
		}
		if (!bad && l.n == 0) {
			ld->errors++;
			diag_report(ld->d, LOG_LEVEL_ERR, path, line,
				    "network '%s' names no datacenter", net);
			bad = true;
		}
		if (bad)
			free(l.dc);
		else
			net_rule(ld, ld->conf, &p, path, line, &l);
	}
	free(buf);
	if (ferror(fp))
		conf_error(ld, val->line, "'networks-file' '%s': read error after line %u", path,
			   line);
	fclose(fp);
	free(path);
}

static const char *const CONTINENTS[] = { "AF", "AN", "AS", "EU", "NA", "OC", "SA" };

/* ISO 3166-1 alpha-2, the officially assigned codes (as tzdata's
 * iso3166.tab lists them), then XK (Kosovo, user-assigned, which MaxMind
 * databases use). */
static const char ISO3166[] = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBS"
			      "BTBVBWBYBZCACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEE"
			      "EGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHM"
			      "HNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLC"
			      "LILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNA"
			      "NCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURW"
			      "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTO"
			      "TRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW"
			      "XK";

static bool iso3166(const char *code)
{
	for (size_t i = 0; i + 1 < sizeof(ISO3166); i += 2)
		if (toupper((unsigned char)code[0]) == ISO3166[i] &&
		    toupper((unsigned char)code[1]) == ISO3166[i + 1])
			return true;
	return false;
}

static void code_rules(struct loader *ld, const struct cnode *val, bool continent,
		       struct geo_rule **rules, size_t *n)
{
	char desc[64];
	const char *what = continent ? "continents" : "countries";
	if (val->type != CNODE_MAP) {
		conf_error(ld, val->line,
			   "'%s' must map codes to datacenter lists, "
			   "not %s",
			   what, cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	for (size_t i = 0; i < val->n; i += 2) {
		const struct cnode *k = val->kids[i];
		bool ok = strlen(k->text) == 2 && isalpha((unsigned char)k->text[0]) &&
			  isalpha((unsigned char)k->text[1]);
		if (ok && continent) {
			ok = false;
			for (size_t c = 0; c < sizeof(CONTINENTS) / sizeof(*CONTINENTS); c++)
				ok |= strcasecmp(k->text, CONTINENTS[c]) == 0;
		}
		if (!ok) {
			conf_error(ld, k->line,
				   continent ? "'%s' is not a continent code (AF AN AS EU NA OC SA)"
					     : "'%s' is not a two-letter country code (ISO 3166-1)",
				   k->text);
			continue;
		}
		/* Not an error: a database may carry codes newer than this list. */
		if (!continent && !iso3166(k->text)) {
			bool uk = strcasecmp(k->text, "UK") == 0,
			     el = strcasecmp(k->text, "EL") == 0;
			conf_warning(ld, k->line,
				     "'%s' is not an ISO 3166-1 country code, so no database "
				     "record will match it%s",
				     k->text,
				     uk   ? " (the United Kingdom is GB)"
				     : el ? " (Greece is GR)"
					  : "");
		}
		struct geo_list l = { 0 };
		if (dc_list(ld, val->kids[i + 1], what, &l) < 0) {
			free(l.dc);
			continue;
		}
		struct geo_rule *r = rule_add(rules, n);
		r->code[0] = (char)toupper((unsigned char)k->text[0]);
		r->code[1] = (char)toupper((unsigned char)k->text[1]);
		r->dcs = l;
		r->file = xstrdup(ld->path);
		r->line = k->line;
	}
}

static void set_countries(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			  const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	(void)ck, (void)key;
	code_rules(ld, val, false, &conf->geo.countries, &conf->geo.n_countries);
}

static void set_continents(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			   const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	(void)ck, (void)key;
	code_rules(ld, val, true, &conf->geo.continents, &conf->geo.n_continents);
}

static void set_default(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	(void)ck, (void)key;
	dc_list(ld, val, "'default'", &conf->geo.default_order);
}

static const struct conf_key routing_keys[] = {
	{ .name = "networks", .set = set_networks },
	{ .name = "networks-file", .set = set_networks_file },
	{ .name = "countries", .set = set_countries },
	{ .name = "continents", .set = set_continents },
	{ .name = "default", .set = set_default },
	{ .name = NULL },
};

const struct conf_section conf_geo_routing_section = {
	.what = "'routing'",
	.where = "in 'routing'",
	.keys = routing_keys,
};
