/* dataset.c: load config and zones into one immutable dataset. */
#include "config.h"

#include "daemon/dataset.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/conf.h"
#include "dns/answer.h"
#include "dns/arena.h"
#include "dns/log.h"
#include "dns/rrl.h"
#include "dns/xalloc.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "geo/geo.h"
#include "zones/zload.h"

/* The zone loader's GEO records: bindings go into the dataset core's
 * arena, so they outlive this geo (dataset_new_geo). */
struct binder {
	struct geo *geo;
	struct arena *arena;
};

static const void *bind_service(void *ctx, const char *service, uint32_t ttl)
{
	struct binder *b = ctx;
	int i = b->geo != NULL ? geo_service_index(b->geo, service) : -1;
	return i < 0 ? NULL : geo_bind(b->arena, i, ttl);
}

/*
 * Answer counter slots by name, for the life of the process: a service or
 * datacenter keeps its slot across reloads, so its counters stay its own
 * however the configuration is reordered, and a name that is dropped and
 * comes back counts on from where it stopped.  Names are only added; once
 * the counter table is full a new name is not counted.  Datasets are
 * loaded one at a time (at start-up, then by the reload thread); the lock
 * keeps that an assumption nobody has to check.
 */
struct slot_names {
	char *name[ANSWER_STATS_SERVICES > ANSWER_STATS_DCS ? ANSWER_STATS_SERVICES
							    : ANSWER_STATS_DCS];
	int n;
};
static struct slot_names service_slots, dc_slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static int16_t slot_of(struct slot_names *t, const char *name, int max)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->name[i], name) == 0)
			return (int16_t)i;
	if (t->n >= max)
		return -1;
	t->name[t->n] = xstrdup(name);
	return (int16_t)t->n++;
}

static void assign_stat_slots(struct geo *geo, const struct geo_conf *gc)
{
	int16_t *svc = xcalloc(gc->n_services ? gc->n_services : 1, sizeof(*svc));
	int16_t dc[GEO_DC_MAX];
	pthread_mutex_lock(&slots_lock);
	for (size_t i = 0; i < gc->n_services; i++)
		svc[i] = slot_of(&service_slots, gc->services[i].name, ANSWER_STATS_SERVICES);
	for (size_t i = 0; i < gc->n_dcs && i < GEO_DC_MAX; i++)
		dc[i] = slot_of(&dc_slots, gc->dcs[i].name, ANSWER_STATS_DCS);
	pthread_mutex_unlock(&slots_lock);
	geo_set_stat_slots(geo, svc, dc);
	free(svc);
}

static void core_free(struct dataset_core *c)
{
	zonedb_free(c->zones);
	arena_free(c->bindings);
	rrl_free(c->rrl);
	if (!c->conf_kept)
		conf_free(c->conf);
	free(c);
}

/* Build geo data for conf's datacenters, on prev's database when that can
 * be kept (geo_build); NULL with errors in d.  *id is the loaded
 * database's file: prev's when kept, else taken before opening, so that a
 * file replaced while we read it is seen as changed and read again. */
static struct geo *load_geo(const struct conf *conf, const struct dataset *prev, bool optional,
			    struct file_id *id, struct file_id *failed, struct diag *d)
{
	file_id_get(conf->geo.database, id);
	memset(failed, 0, sizeof(*failed));
	struct geo *geo =
		geo_build(&conf->geo, conf->path, prev != NULL ? prev->geo : NULL, optional, d);
	if (geo == NULL)
		return NULL;
	if (prev != NULL && geo_same_database(geo, prev->geo)) {
		/* Kept: a changed file is one that failed to load. */
		if (!file_id_equal(id, &prev->geoip_file))
			*failed = *id;
		*id = prev->geoip_file;
	}
	assign_stat_slots(geo, &conf->geo);
	return geo;
}

/* A dataset on core c (taking a reference) with geo data g (NULL: none). */
static struct dataset *dataset_new(struct dataset_core *c, struct geo *g,
				   const struct file_id *geoip_file)
{
	const struct conf *conf = c->conf;
	struct dataset *ds = xcalloc(1, sizeof(*ds));
	atomic_fetch_add(&c->refs, 1);
	ds->core = c;
	ds->conf = c->conf;
	ds->zones = c->zones;
	ds->geo = g;
	ds->all_down = xcalloc(conf->geo.n_services + 1, sizeof(*ds->all_down));
	ds->family_down = xcalloc(conf->geo.n_services + 1, sizeof(*ds->family_down));
	ds->dc_down = xcalloc(conf->geo.n_services + 1, sizeof(*ds->dc_down));
	ds->dc_known = xcalloc(conf->geo.n_services + 1, sizeof(*ds->dc_known));
	ds->geoip_file = *geoip_file;
	ds->answer.zones = c->zones;
	ds->answer.conf.identity = conf->identity;
	ds->answer.conf.version = conf->version;
	ds->answer.conf.nsid = conf->nsid_len > 0 ? conf->nsid : NULL;
	ds->answer.conf.nsid_len = conf->nsid_len;
	ds->answer.conf.udp_max_payload = conf->udp_max_payload;
	ds->answer.conf.cookies = conf->cookies;
	ds->answer.conf.rrl = c->rrl;
	if (g != NULL) {
		ds->answer.conf.dyn.ctx = g;
		ds->answer.conf.dyn.answer = geo_answer;
		ds->answer.conf.dyn.explain = geo_explain;
		ds->answer.conf.dyn.explain_allowed = geo_explain_allowed;
	}
	malloc_trim(0); /* return what loading used and freed (see main) */
	return ds;
}

void file_id_get(const char *path, struct file_id *id)
{
	struct stat st;
	memset(id, 0, sizeof(*id));
	if (path == NULL || stat(path, &st) != 0)
		return;
	id->dev = (unsigned long long)st.st_dev;
	id->ino = (unsigned long long)st.st_ino;
	id->size = (unsigned long long)st.st_size;
	id->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	id->ctime_ns = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
}

bool file_id_same_content(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return file_id_same_content(a, b) && a->ctime_ns == b->ctime_ns;
}

struct dataset *dataset_load(const char *conf_path, const struct dataset *prev, bool check_only,
			     struct diag *d)
{
	struct conf *conf = NULL;
	unsigned errors0 = d->errors;
	if (conf_load(conf_path, &conf, d) < 0)
		return NULL;

	struct geo *geo = NULL;
	struct file_id geoip_file = { 0 }, geoip_failed = { 0 };
	if (conf->geo.n_dcs > 0 &&
	    (geo = load_geo(conf, prev, check_only, &geoip_file, &geoip_failed, d)) == NULL) {
		conf_free(conf);
		return NULL;
	}
	struct dataset_core *c = xcalloc(1, sizeof(*c));
	c->conf = conf;
	c->bindings = arena_new();
	struct binder binder = { .geo = geo, .arena = c->bindings };
	struct zload_dyn dyn = { .ctx = &binder, .bind = bind_service };
	struct zone **zones = xcalloc(conf->n_zones, sizeof(*zones));
	for (size_t i = 0; i < conf->n_zones; i++)
		zones[i] = zload_file_at(conf->zones[i].name, conf->zones[i].file, &dyn, d,
					 conf->path, conf->zones[i].file_line);
	if (d->errors != errors0) {
		for (size_t i = 0; i < conf->n_zones; i++)
			zone_free(zones[i]);
		free(zones);
		geo_free(geo);
		core_free(c);
		return NULL;
	}
	c->zones = zonedb_new(zones, conf->n_zones);
	if (conf->rate_limit > 0)
		c->rrl = rrl_new(conf->rate_limit, conf->rate_limit_slip,
				 conf->rate_limit_v4_prefix, conf->rate_limit_v6_prefix);
	struct dataset *ds = dataset_new(c, geo, &geoip_file);
	ds->geoip_failed = geoip_failed;
	return ds;
}

struct dataset *dataset_new_geo(const struct dataset *base, struct diag *d)
{
	struct file_id geoip_file, failed;
	struct geo *geo = load_geo(base->conf, NULL, false, &geoip_file, &failed, d);
	return geo != NULL ? dataset_new(base->core, geo, &geoip_file) : NULL;
}

void dataset_free(struct dataset *ds)
{
	if (ds == NULL)
		return;
	geo_free(ds->geo);
	free(ds->all_down);
	free(ds->family_down);
	free(ds->dc_down);
	free(ds->dc_known);
	if (atomic_fetch_sub(&ds->core->refs, 1) == 1)
		core_free(ds->core);
	free(ds);
}
