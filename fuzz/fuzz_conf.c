/* fuzz_conf.c: libFuzzer target: a geodnsd.yaml through conf_load(), and its geo part through geo_build(). */
#include "config.h"

#include <stdint.h>

#include "daemon/conf.h"
#include "dns/log.h"
#include "fuzz/fuzz_util.h"
#include "geo/geo.h"

static const char *conf_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(argc, argv);
	/* Relative paths in the file (zones, networks-file, database) are
	 * taken from this file's directory. */
	conf_path = fuzz_path("geodnsd.yaml");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag diag = { 0 };
	struct conf *conf = NULL;
	fuzz_write_file(conf_path, data, size);
	if (conf_load(conf_path, &conf, &diag) < 0)
		return 0;
	/* As dataset_load(): a configuration with datacenters builds geo. */
	if (conf->geo.n_dcs > 0)
		geo_free(geo_build(&conf->geo, conf->path, NULL, false, &diag));
	conf_free(conf);
	return 0;
}
