/* zonedb.c: zones by apex, longest-match lookup. */
#include "config.h"

#include "dns/zonedb.h"

#include <stdlib.h>
#include <string.h>

#include "dns/xalloc.h"
#include "dns/ztree.h"

struct zonedb *zonedb_new(struct zone **zones, size_t n_zones)
{
	struct zonedb *db = xcalloc(1, sizeof(*db));
	size_t size = 8;
	while (size < n_zones * 2)
		size *= 2;
	db->zones = zones;
	db->n_zones = n_zones;
	db->mask = size - 1;
	db->table = xcalloc(size, sizeof(*db->table));
	for (size_t i = 0; i < n_zones; i++) {
		if (zones[i]->apex->labels > db->max_labels)
			db->max_labels = zones[i]->apex->labels;
		size_t s = zones[i]->apex->hash & db->mask;
		while (db->table[s] != NULL)
			s = (s + 1) & db->mask;
		db->table[s] = zones[i];
	}
	return db;
}

const struct zone *zonedb_find(const struct zonedb *db, const struct dname_split *q, unsigned from,
			       unsigned *apex_label)
{
	/* Longest match first: walk from the full name towards the root,
	 * starting at the longest suffix some apex could be. */
	if (q->labels > db->max_labels && from < q->labels - db->max_labels)
		from = q->labels - db->max_labels;
	for (unsigned i = from; i <= q->labels; i++) {
		uint32_t h = q->hash[i];
		size_t off = q->label[i];
		size_t len = q->len - off;
		for (size_t s = h & db->mask; db->table[s] != NULL; s = (s + 1) & db->mask) {
			const struct znode *apex = db->table[s]->apex;
			if (apex->hash == h && apex->name_len == len &&
			    memcmp(apex->name, q->name + off, len) == 0) {
				*apex_label = i;
				return db->table[s];
			}
		}
	}
	return NULL;
}

void zonedb_free(struct zonedb *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->n_zones; i++)
		zone_free(db->zones[i]);
	free(db->zones);
	free(db->table);
	free(db);
}
