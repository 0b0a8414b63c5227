/* dataset.h: everything answers come from (config + zones), loaded as one unit. */
#ifndef GD_DATASET_H
#define GD_DATASET_H

#include "dns/answer.h"

struct conf;
struct diag;
struct geo;
struct zonedb;

/*
 * A dataset is built whole by the loader and then never changed: the
 * answering code reads it without locks, and a reload builds a new one and
 * publishes it in a single pointer swap (see docs/architecture.md).
 */
struct dataset {
	struct conf *conf;
	struct zonedb *zones;
	struct geo *geo;		/* NULL when no datacenters are configured */
	struct answer_data answer;	/* points into conf and zones */
	unsigned long generation;	/* 1 for the first load, +1 per reload */
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
