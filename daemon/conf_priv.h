/* conf_priv.h: the config loader's YAML tree and schema walker, shared by conf*.c. */
#ifndef GD_CONF_PRIV_H
#define GD_CONF_PRIV_H

#include <stdbool.h>
#include <stdio.h>
#include <yaml.h>

#include "daemon/conf.h"

/*
 * Stage 1: the YAML document as a small tree of nodes, each with its line.
 */

enum cnode_type {
	CNODE_NULL, /* empty value, "~" or "null" */
	CNODE_SCALAR,
	CNODE_SEQ,
	CNODE_MAP,
	CNODE_BAD, /* an error already reported (an alias): skipped */
};

struct cnode {
	enum cnode_type type;
	unsigned line;
	char *text;          /* CNODE_SCALAR: the value */
	struct cnode **kids; /* SEQ: items; MAP: key 2i, value 2i+1 */
	size_t n;            /* entries used in kids */
	size_t cap;
};

struct loader {
	const char *path;
	struct diag *d;
	unsigned errors;
	FILE *fp;
	yaml_parser_t parser;
	struct conf *conf;
	/* The datacenters section itself is wrong (and said so): a name it
	 * would have defined is no further error where it is used. */
	bool dcs_failed;
};

/*
 * Stage 2: the schema.  Each mapping is a section: a table of keys, each
 * with a setter that checks its value and stores it into obj.
 */

struct conf_key;
struct conf_section;
typedef void (*conf_set_fn)(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			    const struct cnode *val, void *obj);

struct conf_key {
	const char *name;
	bool required;
	conf_set_fn set;
	long min, max;                      /* integer keys: the accepted range */
	size_t offset;                      /* conf_set_uint/u16/bool: the field within obj */
	unsigned scale;                     /* conf_set_uint: stored value = given * scale (0: 1) */
	const struct conf_section *section; /* conf_set_section: the mapping's keys */
};

/* Setters for plain fields, placed with .offset = offsetof(type, field):
 * an unsigned in min..max (times scale), a uint16_t in min..max, a bool. */
void conf_set_uint(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		   const struct cnode *val, void *obj);
void conf_set_u16(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		  const struct cnode *val, void *obj);
void conf_set_bool(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		   const struct cnode *val, void *obj);

/* A nested mapping walked against ck->section with the same obj. */
void conf_set_section(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		      const struct cnode *val, void *obj);

/* The geo sections' key tables (conf_geo.c). */
extern const struct conf_section conf_geo_geoip_section;
extern const struct conf_section conf_geo_routing_section;

struct conf_section {
	const char *what;            /* "'server'": "... must be a mapping" */
	const char *where;           /* "in 'server'": "unknown key 'x' ..." */
	const struct conf_key *keys; /* < 64, ending with a NULL name */
};

/* Report one error against the config file (at line) and count it. */
void conf_error(struct loader *ld, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report one warning against the config file (at line). */
void conf_warning(struct loader *ld, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* How a node reads in a message: "'abc'", "a sequence", ... */
const char *cnode_desc(const struct cnode *n, char *buf, size_t size);

/* Walk a mapping against sec, calling each key's setter with obj; unknown
 * and missing required keys are reported (the latter at line). */
void walk_map(struct loader *ld, const struct cnode *map, unsigned line,
	      const struct conf_section *sec, void *obj);

/* A value that may be one item or a sequence of them: sets *items to the
 * items (*slot itself when it is not a sequence) and returns how many. */
size_t cnode_items(const struct cnode *const *slot, const struct cnode *const **items);

/* The value as a string, or NULL after reporting why it is not one. */
const char *get_str(struct loader *ld, const struct conf_key *ck, const struct cnode *val);

/* A decimal integer in ck->min..ck->max: 0, or -1 after reporting. */
int get_int(struct loader *ld, const struct conf_key *ck, const struct cnode *val, long *out);

/* A YAML 1.2 decimal number (no hex, inf or nan): 0, or -1. */
int conf_decimal(const char *s, double *out);

/* true/yes/on or false/no/off: 0, or -1 after reporting. */
int get_bool(struct loader *ld, const struct conf_key *ck, const struct cnode *val, bool *out);

/* file relative to the directory of conf_path (absolute stays as is);
 * the caller frees the result. */
char *path_resolve(const char *conf_path, const char *file);

/* "ADDR" or "ADDR@PORT" (IPv4/IPv6 literal) into *ss.  Returns 0, or -1
 * with *why "invalid port" or an address complaint. */
int conf_sockaddr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *ss,
			socklen_t *len, const char **why);

/* A service's 'check:' mapping into p (defaults filled in); conf_check.c. */
void conf_check_parse(struct loader *ld, const struct cnode *key, const struct cnode *val,
		      struct hc_params *p);

/* The geo sections (conf_geo.c); obj is the struct conf.  Datacenters are
 * read before anything else (conf_geo_datacenters) so that the sections
 * naming them may come first in the file; the walk then skips them. */
void conf_geo_datacenters(struct loader *ld, const struct cnode *root, struct conf *conf);
void conf_geo_set_skip(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		       const struct cnode *val, void *obj);
void conf_geo_set_services(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			   const struct cnode *val, void *obj);

#endif
