/* dataset.c: load config and zones into one immutable dataset. */
#include "config.h"

#include "daemon/dataset.h"

#include <stdlib.h>

#include "daemon/conf.h"
#include "dns/log.h"
#include "dns/xalloc.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "geo/geo.h"
#include "zones/zload.h"

static const void *bind_service(void *ctx, const char *service, uint32_t ttl)
{
	struct geo *g = ctx;
	int i = g != NULL ? geo_service_index(g, service) : -1;
	return i < 0 ? NULL : geo_bind(g, i, ttl);
}

static void free_parts(struct conf *conf, struct geo *geo, struct zone **zones)
{
	for (size_t i = 0; i < conf->n_zones; i++)
		zone_free(zones[i]);
	free(zones);
	geo_free(geo);
	conf_free(conf);
}

struct dataset *dataset_load(const char *conf_path, struct diag *d)
{
	struct conf *conf = NULL;
	unsigned errors0 = d->errors;
	if (conf_load(conf_path, &conf, d) < 0)
		return NULL;

	struct geo *geo = NULL;
	if (conf->geo.n_dcs > 0) {
		geo = geo_build(&conf->geo, conf->path, d);
		if (geo == NULL) {
			conf_free(conf);
			return NULL;
		}
	}
	struct zload_dyn dyn = {.ctx = geo, .bind = bind_service};
	struct zone **zones = xcalloc(conf->n_zones, sizeof(*zones));
	for (size_t i = 0; i < conf->n_zones; i++)
		zones[i] = zload_file(conf->zones[i].name, conf->zones[i].file, &dyn, d);

	if (d->errors != errors0) {
		free_parts(conf, geo, zones);
		return NULL;
	}

	struct dataset *ds = xcalloc(1, sizeof(*ds));
	ds->conf = conf;
	ds->zones = zonedb_new(zones, conf->n_zones);
	ds->answer.zones = ds->zones;
	ds->answer.conf.identity = conf->identity;
	ds->answer.conf.version = conf->version;
	ds->answer.conf.nsid = conf->nsid_len > 0 ? conf->nsid : NULL;
	ds->answer.conf.nsid_len = conf->nsid_len;
	ds->answer.conf.udp_max_payload = conf->udp_max_payload;
	ds->geo = geo;
	if (geo != NULL) {
		ds->answer.conf.dyn.ctx = geo;
		ds->answer.conf.dyn.answer = geo_answer;
		ds->answer.conf.dyn.explain = geo_explain;
		ds->answer.conf.dyn.explain_allowed = geo_explain_allowed;
	}
	return ds;
}

void dataset_free(struct dataset *ds)
{
	if (ds == NULL)
		return;
	zonedb_free(ds->zones);
	geo_free(ds->geo);
	conf_free(ds->conf);
	free(ds);
}
