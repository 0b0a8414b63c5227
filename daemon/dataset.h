/* dataset.h: everything answers come from (config + zones), loaded as one unit. */
#ifndef GD_DATASET_H
#define GD_DATASET_H

#include <stdbool.h>

#include "dns/answer.h"

struct conf;
struct diag;
struct geo;
struct health;
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
};

/* Fill *id for path; all zero when it cannot be stat'ed. */
void file_id_get(const char *path, struct file_id *id);

/* True when both identify the same version. */
bool file_id_equal(const struct file_id *a, const struct file_id *b);

struct dataset {
	struct conf *conf;
	struct zonedb *zones;
	struct geo *geo;              /* NULL when no datacenters are configured */
	struct answer_data answer;    /* points into conf and zones */
	unsigned long generation;     /* 1 for the first load, +1 per reload */
	struct file_id geoip_file;    /* the database as loaded (all 0: none) */
	struct health *health;        /* set by hsync_attach (not owned) */
	struct file_id state_file_id; /* the overrides file as last read */
	bool all_down[256];           /* per service, for hsync_watch's log */
	bool conf_kept;               /* conf is main.c's (the start-up one):
				       * dataset_free() leaves it */
};

/*
 * Load the configuration at conf_path and every zone it names.  All
 * problems are reported to d with file and line.  Returns the dataset, or
 * NULL when any error was reported: a partial dataset is never returned,
 * so a failed reload leaves nothing half-applied.
 */
struct dataset *dataset_load(const char *conf_path, struct diag *d);

/* Free a dataset; NULL is a no-op. */
void dataset_free(struct dataset *ds);

#endif
