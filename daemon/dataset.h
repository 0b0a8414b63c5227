/* dataset.h: everything answers come from (config, zones, geo data), loaded as one unit. */
#ifndef GD_DATASET_H
#define GD_DATASET_H

#include <stdatomic.h>
#include <stdbool.h>

#include "dns/answer.h"

struct arena;
struct conf;
struct diag;
struct geo;
struct health;
struct rrl;
struct zonedb;

/*
 * A dataset is built whole by the loader and then never changed: the
 * answering code reads it without locks, and a reload builds a new one and
 * publishes it in a single pointer swap (see docs/architecture.md).
 */
/* Identifies one version of a file: a replaced file (new inode) or a
 * rewritten one (new mtime or size) compares different. */
struct file_id {
	unsigned long long dev, ino, size;
	long long mtime_ns;
	long long ctime_ns; /* a chmod or chown alone changes only this */
};

/* Fill *id for path; all zero when it cannot be stat'ed. */
void file_id_get(const char *path, struct file_id *id);

/* True when both identify the same version, mode and owner too (a chmod
 * that makes a file readable again is worth another read). */
bool file_id_equal(const struct file_id *a, const struct file_id *b);

/* True when both identify the same content: the ctime is not compared, so
 * a chmod, chown or hard link does not count as a new version (reloading
 * a large GeoIP database for one would be wasted work). */
bool file_id_same_content(const struct file_id *a, const struct file_id *b);

/*
 * What a GeoIP-only load keeps from the dataset it replaces: everything but
 * the geo data.  Shared by every dataset built on it and freed with the
 * last of them (refs counts them; datasets are freed after the grace
 * period, on the event loop thread, but counting is atomic anyway).
 */
struct dataset_core {
	atomic_uint refs;
	struct conf *conf;
	bool conf_kept; /* conf is main.c's (the start-up one): left to it */
	struct zonedb *zones;
	struct arena *bindings; /* the GEO records' service bindings */
	struct rrl *rrl;        /* rate-limit state, NULL when off */
};

struct dataset {
	struct dataset_core *core;
	struct conf *conf;            /* core->conf */
	struct zonedb *zones;         /* core->zones */
	struct geo *geo;              /* NULL when no datacenters are configured */
	struct answer_data answer;    /* points into conf, zones and geo */
	unsigned long generation;     /* 1 for the first load, +1 per reload */
	struct file_id geoip_file;    /* the database as loaded (all 0: none) */
	struct file_id geoip_failed;  /* a newer file that failed to load, the
				       * loaded one kept (all 0: none) */
	struct health *health;        /* set by hsync_attach (not owned) */
	struct file_id state_file_id; /* the overrides file as last read */
	bool *all_down;               /* per service, for hsync_watch's log */
	uint8_t *family_down;         /* per service: 1 A, 2 AAAA has no datacenter up */
	uint64_t *dc_down;            /* per service: bit k, its datacenter k is down */
	bool *dc_known;               /* per service: dc_down holds a first reading */
};

/*
 * Load the configuration at conf_path and every zone it names.  All
 * problems are reported to d with file and line.  Returns the dataset, or
 * NULL when any error was reported: a partial dataset is never returned,
 * so a failed reload leaves nothing half-applied.  prev (NULL at
 * start-up) is the running dataset: its GeoIP database is kept when the
 * file is unchanged, or when a changed one fails to load (a warning, so
 * a broken database file does not hold back zone and configuration
 * changes); prev must stay alive during the call.  check_only (--check
 * before a reload): a database that does not load is a warning, since a
 * running server keeps the one it has.
 */
struct dataset *dataset_load(const char *conf_path, const struct dataset *prev, bool check_only,
			     struct diag *d);

/*
 * A new GeoIP database under running data: read base's database file again
 * and return a dataset with the new geo data and base's configuration,
 * zones and rate-limit state (shared, not copied), so zone files edited
 * since base was loaded stay unpublished.  base must have geo data; it
 * must stay alive during the call (it may be freed after).  NULL when the
 * database does not load (reported to d with the configuration's file and
 * line).
 */
struct dataset *dataset_new_geo(const struct dataset *base, struct diag *d);

/* Free a dataset; NULL is a no-op. */
void dataset_free(struct dataset *ds);

#endif
