/* zonedb.h: the set of zones served, found by longest match on the query name. */
#ifndef GD_ZONEDB_H
#define GD_ZONEDB_H

#include <stddef.h>

#include "dns/dname.h"

struct zone;

/* Immutable once built; published to the query path as part of a dataset. */
struct zonedb {
	struct zone **zones;
	size_t n_zones;
	struct zone **table; /* open addressing by apex hash */
	size_t mask;
	unsigned max_labels; /* of the longest apex: no longer suffix can match */
};

/* Build a database over zones (takes ownership of the array and the zones).
 * Never NULL.  Duplicate apexes are a caller bug (the config rejects them). */
struct zonedb *zonedb_new(struct zone **zones, size_t n_zones);

/* The zone with the longest apex that the suffix of q from label `from`
 * on is at or below, or NULL (REFUSED).  from is 0 for q itself; 1 finds
 * the parent zone of an apex.  Sets *apex_label to the label index of q
 * where the apex starts. */
const struct zone *zonedb_find(const struct zonedb *db, const struct dname_split *q, unsigned from,
			       unsigned *apex_label);

/* Free the database and its zones; NULL is a no-op. */
void zonedb_free(struct zonedb *db);

#endif
