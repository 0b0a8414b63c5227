/* dataset.c: load config and zones into one immutable dataset. */
#include "config.h"

#include "daemon/dataset.h"

#include <stdlib.h>

#include "daemon/conf.h"
#include "dns/log.h"
#include "dns/xalloc.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "zones/zload.h"

struct dataset *dataset_load(const char *conf_path, struct diag *d)
{
	struct conf *conf = NULL;
	unsigned errors0 = d->errors;
	if (conf_load(conf_path, &conf, d) < 0)
		return NULL;

	struct zone **zones = xcalloc(conf->n_zones, sizeof(*zones));
	for (size_t i = 0; i < conf->n_zones; i++)
		zones[i] = zload_file(conf->zones[i].name, conf->zones[i].file, d);

	if (d->errors != errors0) {
		for (size_t i = 0; i < conf->n_zones; i++)
			zone_free(zones[i]);
		free(zones);
		conf_free(conf);
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
	return ds;
}

void dataset_free(struct dataset *ds)
{
	if (ds == NULL)
		return;
	zonedb_free(ds->zones);
	conf_free(ds->conf);
	free(ds);
}
