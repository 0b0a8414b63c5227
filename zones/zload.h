/* zload.h: loading and validating one zone's master file into a dns/ztree zone. */
#ifndef GD_ZLOAD_H
#define GD_ZLOAD_H

#include <stdint.h>

struct diag;
struct zone;

/*
 * GEO records ("www 60 IN GEO web"): the loader asks bind() for the
 * binding of a service; NULL means there is no such service (an error at
 * the record's line).  The binding is stored on the node for the answer
 * engine's dyn hooks.
 */
struct zload_dyn {
	void *ctx;
	const void *(*bind)(void *ctx, const char *service, uint32_t ttl);
};

/*
 * Load the zone whose apex is name (presentation form) from file.  Records
 * are parsed with ldns; $ORIGIN, $TTL and $INCLUDE (paths relative to the
 * including file's directory) are handled here.  Every problem is reported
 * to d as file:line: an unparsable record, a TTL, $TTL or SOA serial or
 * time of 2^32 or more, a class other than IN, data outside the zone, no
 * or several SOA, an SOA below the apex, no NS at the apex, CNAME beside
 * other data, more than one DNAME at a name or data below one, duplicate
 * records, a GEO record naming an unknown service or beside A/AAAA/CNAME
 * (errors); a TTL above 2^31 - 1 (capped), RRset TTL
 * mismatches, data hidden below a delegation, and in-zone NS targets without
 * addresses ("missing glue") (warnings).
 * Returns the finished zone (caller frees with zone_free), or NULL when any
 * error was reported.
 */
struct zone *zload_file(const char *name, const char *file, const struct zload_dyn *dyn,
			struct diag *d);

/* The same, for a zone configured at conf_file:conf_line: a zone file that
 * cannot be opened is reported there, naming the zone ("zone
 * 'example.com.': file 'x.zone': cannot open: ..."). */
struct zone *zload_file_at(const char *name, const char *file, const struct zload_dyn *dyn,
			   struct diag *d, const char *conf_file, unsigned conf_line);

#endif
