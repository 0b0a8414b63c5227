/* geo.h: choosing the datacenter for a client: GeoIP location, rules, distance. */
#ifndef GD_GEO_H
#define GD_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct answer_client;
struct arena;
struct diag;
struct dyn_answer;
struct geo;

#define GEO_DC_MAX   64 /* datacenters in one configuration */
#define GEO_ADDR_MAX 32 /* addresses of one service in one datacenter */

#include "healthcheck/probe.h"

/* What a service answers when none of its datacenters is up. */
enum geo_all_down {
	GEO_ALL_DOWN_FAIL_OPEN,   /* the first choice's full set, as if all up */
	GEO_ALL_DOWN_LAST_RESORT, /* the service's last-resort addresses */
	GEO_ALL_DOWN_SERVFAIL,
};

/* Override values in the cells geo reads (healthcheck's enum hc_force). */
#define GEO_FORCE_UP   1
#define GEO_FORCE_DOWN 2

/* An address or network; family 4 or 6, len in bits. */
struct geo_prefix {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
};

/* An ordered list of datacenter indexes (into geo_conf.dcs). */
struct geo_list {
	uint16_t *dc;
	uint16_t n;
};

struct geo_dc {
	char *name;
	double lat, lon; /* degrees */
	unsigned line;
};

/* A routing rule: clients in net, or of a country/continent code, use dcs
 * in this order before the rest. */
struct geo_rule {
	struct geo_prefix net; /* network rules */
	char code[3];          /* country (ISO 3166-1 alpha-2) or continent */
	struct geo_list dcs;
	char *file; /* where it was written, for explain and errors */
	unsigned line;
};

/* One datacenter's load-balancer addresses for a service. */
struct geo_service_dc {
	uint16_t dc;
	struct geo_prefix *addrs; /* full-length prefixes */
	size_t n_addrs;
	unsigned line;
};

/* Where an address is probed when not at itself on the check's port. */
struct geo_probe_addr {
	struct geo_prefix served;
	struct sockaddr_storage probe; /* port 0: the check's port */
	socklen_t probe_len;
	unsigned line;
};

struct geo_service {
	char *name;
	struct geo_service_dc *dcs;
	size_t n_dcs;
	unsigned line;
	struct hc_params check; /* kind HC_NONE: not probed */
	struct geo_probe_addr *probes;
	size_t n_probes;
	unsigned up_min; /* addresses up for a datacenter to be up */
	enum geo_all_down all_down;
	struct geo_prefix *last_resort;
	size_t n_last_resort;
	unsigned degraded_ttl_pct; /* TTL when degraded, % of normal... */
	unsigned degraded_ttl_s;   /* ...or at most this many seconds (if > 0) */
	bool degraded_ttl_abs;
	bool dc_missing;          /* loading only: a datacenter entry was refused, so
			  * its addresses are unknown (no probe errors) */
	bool last_resort_refused; /* loading only: an address of it was refused */
};

/* The geo part of the configuration, as the config loader produces it. */
struct geo_conf {
	char *database; /* MaxMind DB path, NULL when none */
	unsigned database_line;
	struct geo_prefix *explain_acl; /* who may ask explain queries */
	size_t n_explain_acl;
	bool explain_acl_set; /* else the default: loopback only */
	struct geo_dc *dcs;
	size_t n_dcs;
	struct geo_service *services;
	size_t n_services;
	struct geo_rule *nets;
	size_t n_nets;
	struct geo_rule *countries;
	size_t n_countries;
	struct geo_rule *continents;
	size_t n_continents;
	struct geo_list default_order; /* n == 0: config order */
};

/* Free what a geo_conf holds (not the struct itself); NULL is a no-op. */
void geo_conf_clear(struct geo_conf *gc);

/*
 * Build the runtime geo data: open the MaxMind DB (if any), decode every
 * data record once, rank the datacenters for each, and build the network
 * rule tree and each service's answer RRsets.  Problems are reported to d
 * (a missing or corrupt database names the file and the libmaxminddb
 * reason).  Returns NULL on error.  Never touches the query path.
 *
 * prev (may be NULL) is the geo data this build replaces.  When gc names
 * the file prev's database was read from and that file is unchanged, the
 * decoded database is shared with prev instead of read again; when the
 * file changed and the new one does not load, prev's database is kept and
 * the failure is a warning.  prev must stay alive during the call.
 * optional (for checking files before a reload): a database that does not
 * load is a warning, and the geo data is built without one.
 */
struct geo *geo_build(const struct geo_conf *gc, const char *conf_path, const struct geo *prev,
		      bool optional, struct diag *d);

/* True when a and b share one loaded database. */
bool geo_same_database(const struct geo *a, const struct geo *b);

/* The loaded database's type and build time (metadata); NULL and 0
 * without one. */
const char *geo_database_type(const struct geo *g);
uint64_t geo_database_built(const struct geo *g);

/* Records that have coordinates (distance ranking needs them). */
size_t geo_records_with_coords(const struct geo *g);

/* Free; NULL is a no-op. */
void geo_free(struct geo *g);

/* Index of the service called name, or -1. */
int geo_service_index(const struct geo *g, const char *name);

/*
 * A binding of a zone name to a service (its index) with its TTL,
 * allocated in arena a.  This is what a GEO record's node carries.  It
 * holds no part of any struct geo: it stays valid with every geo built
 * from the same configuration, so a new GeoIP database can be loaded
 * under zones that were not reloaded.
 */
const void *geo_bind(struct arena *a, int service, uint32_t ttl);

/*
 * Answer qtype (A or AAAA) for a GEO name bound by binding, for client c.
 * Fills out: the RRset to answer (NULL for NODATA), its TTL, and the ECS
 * scope prefix length over which this answer holds.  Query path: no
 * allocation, no MMDB data decoding.  ctx is the struct geo.
 */
void geo_answer(const void *ctx, const void *binding, uint16_t qtype, const struct answer_client *c,
		struct dyn_answer *out);

/*
 * Explain, as text lines, what client c gets for the GEO name bound by
 * binding and why.  Calls emit(arg, line) once per line.  ctx is the
 * struct geo.
 */
void geo_explain(const void *ctx, const void *binding, const struct answer_client *c,
		 void (*emit)(void *arg, const char *line), void *arg);

/*
 * Health wiring, done on the event loop thread before the dataset is
 * published.  An address whose flag is never set counts as up.
 * geo_set_address_flag: service s, its datacenter entry k (index into
 * services[s].dcs), address a (index into that entry's addrs): its up flag
 * and its override cell (GEO_FORCE_*, shown by explain).
 * geo_set_dc_force: the override cell of datacenter dc (GEO_FORCE_*).
 */
void geo_set_address_flag(struct geo *g, size_t s, size_t k, size_t a, const _Atomic uint8_t *flag,
			  const _Atomic uint8_t *force);
void geo_set_dc_force(struct geo *g, unsigned dc, const _Atomic uint8_t *force);

/*
 * Counter slots.  geo_answer() reports a service and a datacenter
 * (dyn_answer.service and .dc) as slots for the answer counters, not as
 * positions in this configuration, so that a daemon can keep each name's
 * counters across reloads that reorder, add or drop services and
 * datacenters.  Slots start equal to the positions; -1 is not counted.
 * service_slot has one entry per service, dc_slot one per datacenter.
 */
void geo_set_stat_slots(struct geo *g, const int16_t *service_slot, const int16_t *dc_slot);
int geo_stat_slot_service(const struct geo *g, size_t s);
int geo_stat_slot_dc(const struct geo *g, size_t dc);

/* The configuration the geo data was built from. */
const struct geo_conf *geo_conf_of(const struct geo *g);

/* A service's health summary: for each of its datacenters whether it is
 * up now (override applied) and how many addresses are up of how many.
 * Fills up to n entries of the arrays (index = services[s].dcs index).
 * Returns true when no datacenter of the service is up (its all-down
 * policy answers). */
bool geo_service_health(const struct geo *g, size_t s, bool *dc_up, unsigned *addrs_up,
			unsigned *addrs_total, size_t n);

/* The operator's override of service s's k-th datacenter: GEO_FORCE_UP,
 * GEO_FORCE_DOWN or 0. */
int geo_service_dc_forced(const struct geo *g, size_t s, size_t k);

/* True when service s has addresses of family (4 or 6) and no datacenter
 * is up for it: its all-down policy answers that family's queries. */
bool geo_family_down(const struct geo *g, size_t s, int family);

/* True when addr (family 4/6) may ask explain queries. */
bool geo_explain_allowed(const void *ctx, int family, const uint8_t *addr);

/* Memory held, in bytes (for logs). */
size_t geo_memory(const struct geo *g);

/* Number of MMDB data records decoded at load (0 without a database). */
size_t geo_records(const struct geo *g);

#endif
