/* geodb.h: a MaxMind DB opened once, every data record decoded once at load. */
#ifndef GD_GEODB_H
#define GD_GEODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct diag;
struct geodb;
struct geo_rule;

/* Why a location's datacenter order is what it is (set by geo.c). */
enum geo_reason {
	GEO_BY_DEFAULT, /* no usable location */
	GEO_BY_NETWORK, /* a network rule */
	GEO_BY_COUNTRY,
	GEO_BY_CONTINENT,
	GEO_BY_DISTANCE,
};

/* What one MMDB data record says, decoded at load.  Nothing in it depends
 * on a configuration: geo.c keeps each configuration's ranking of the
 * records in an array of its own, by index, so one loaded database can
 * serve several configurations (a reload that keeps it). */
struct geo_loc {
	float lat, lon;
	bool has_coords;
	char country[3]; /* "" when absent */
	char continent[3];
	uint32_t offset; /* MMDB data offset: the cache key */
	uint32_t index;  /* position among the records (geodb_loc) */
};

/*
 * Open path (GeoIP2/GeoLite2 City or Country layout, or anything with the
 * same keys), walk its whole search tree and decode each data record once.
 * Problems (missing file, corrupt database) are reported to d at level
 * (errors, or warnings when the caller has something to fall back on)
 * against at_file:at_line (the config line naming the database) with
 * libmaxminddb's reason.  Returns NULL on failure.  The result is
 * immutable and counted: geodb_ref() shares it, geodb_free() drops one
 * reference.
 */
struct geodb *geodb_open(const char *path, int level, struct diag *d, const char *at_file,
			 unsigned at_line);

struct geodb *geodb_ref(struct geodb *db);

/* Drop a reference, freeing on the last; NULL is a no-op. */
void geodb_free(struct geodb *db);

/* True when db was opened from path and the file there is still the
 * version it read (same device, inode, size and mtime, taken before
 * opening). */
bool geodb_is_current(const struct geodb *db, const char *path);

/* The build time from the database's metadata (seconds since 1970). */
uint64_t geodb_build_epoch(const struct geodb *db);

/*
 * Look addr up (family 4 or 6, 4 or 16 octets).  Returns the record's
 * location, or NULL when the database has no record for it.  *netmask is
 * set either way to the prefix length (in addr's family) of the network
 * the database holds for addr: the answer is the same across it.
 * Query path: walks the search tree only, decodes nothing, allocates
 * nothing.
 */
const struct geo_loc *geodb_lookup(const struct geodb *db, int family, const uint8_t *addr,
				   unsigned *netmask);

/*
 * Classes over the search tree, for one configuration: each record has a
 * class (records whose answers are always the same share one; geo.c uses
 * the datacenter order), and an address's class holds over the widest
 * subtree on its path whose every record, empty space included, has that
 * class.  That subtree's prefix is the ECS scope the answer may carry
 * (RFC 7871 7.2.1): neighbouring networks that answer alike are merged.
 */
#define GEODB_CLASS_MAX 0xFFFEu
struct geodb_classes;

/* rec_class[i] is record i's class (geodb_count() of them, each at most
 * GEODB_CLASS_MAX), empty_class that of addresses with no record.  Load
 * time: walks the whole tree. */
struct geodb_classes *geodb_classes_new(const struct geodb *db, const uint16_t *rec_class,
					uint16_t empty_class);
void geodb_classes_free(struct geodb_classes *k);

/* addr's class, and in *depth the prefix length (in addr's family) of the
 * widest subtree on its path of that class alone.  Query path: no
 * allocation, and it stops walking where that subtree starts. */
uint16_t geodb_class_lookup(const struct geodb *db, const struct geodb_classes *k, int family,
			    const uint8_t *addr, unsigned *depth);

/* Bytes held by k. */
size_t geodb_classes_memory(const struct geodb *db, const struct geodb_classes *k);

/* The decoded records, for ranking at load. */
size_t geodb_count(const struct geodb *db);
const struct geo_loc *geodb_loc(const struct geodb *db, size_t i);

/* Look up the city name of addr for explain output (decodes: control path
 * only).  Writes "" when there is none. */
void geodb_city(const struct geodb *db, int family, const uint8_t *addr, char *out, size_t size);

/* The database type from its metadata, e.g. "GeoIP2-City". */
const char *geodb_type(const struct geodb *db);

/* Bytes held by the decoded records. */
size_t geodb_memory(const struct geodb *db);

#endif
