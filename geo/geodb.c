/* geodb.c: MaxMind DB via libmaxminddb, with a load-time record cache. */
#include "config.h"

#include "geo/geodb.h"

#include <errno.h>
#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dns/log.h"
#include "dns/rfile.h"
#include "dns/xalloc.h"

/* Our copy of the search tree: two 32-bit records per node, each a child
 * node, EMPTY, or DATA | index into locs.  libmaxminddb decodes 24/28/32-bit
 * records bit by bit on every lookup; this walk costs a few instructions per
 * address bit. */
#define REC_EMPTY 0xFFFFFFFFu
#define REC_DATA  0x80000000u

struct geodb {
	atomic_uint refs;
	char *path;                  /* as opened */
	unsigned long long dev, ino; /* the file's identity before opening */
	long long size, mtime_ns;
	MMDB_s mmdb;
	uint32_t *tree;   /* 2 * node_count records */
	uint32_t v4_root; /* record reached after ::/96 (IPv4 in IPv6) */
	/* The first STRIDE bits of a lookup in one step, from the IPv4 root [0]
	 * and the IPv6 root [1]: the node reached after them, or where the
	 * walk ended early (see stride_end()). */
	uint32_t *stride[2];
	struct geo_loc *locs;
	size_t n_locs, cap_locs;
	uint32_t *table; /* index + 1 into locs; 0 = empty */
	size_t mask;
};

static size_t slot(uint32_t offset, size_t mask)
{
	return (size_t)(offset * 2654435761u) & mask;
}

static const struct geo_loc *table_find(const struct geodb *db, uint32_t offset)
{
	for (size_t s = slot(offset, db->mask); db->table[s] != 0; s = (s + 1) & db->mask) {
		const struct geo_loc *l = &db->locs[db->table[s] - 1];
		if (l->offset == offset)
			return l;
	}
	return NULL;
}

static void get_code(MMDB_entry_s *e, const char *map, const char *key, char out[3])
{
	MMDB_entry_data_s v;
	if (MMDB_get_value(e, &v, map, key, NULL) == MMDB_SUCCESS && v.has_data &&
	    v.type == MMDB_DATA_TYPE_UTF8_STRING && v.data_size == 2) {
		out[0] = v.utf8_string[0];
		out[1] = v.utf8_string[1];
		out[2] = '\0';
	}
}

static bool get_double(MMDB_entry_s *e, const char *key, double *out)
{
	MMDB_entry_data_s v;
	if (MMDB_get_value(e, &v, "location", key, NULL) != MMDB_SUCCESS || !v.has_data)
		return false;
	if (v.type == MMDB_DATA_TYPE_DOUBLE)
		*out = v.double_value;
	else if (v.type == MMDB_DATA_TYPE_FLOAT)
		*out = v.float_value;
	else
		return false;
	return true;
}

/* Decode one data record into the cache (once per distinct record). */
static void add_record(struct geodb *db, MMDB_entry_s e)
{
	if (table_find(db, e.offset) != NULL)
		return;
	if (db->n_locs == db->cap_locs) {
		db->cap_locs = db->cap_locs ? db->cap_locs * 2 : 256;
		db->locs = xrealloc(db->locs, db->cap_locs * sizeof(*db->locs));
	}
	struct geo_loc *l = &db->locs[db->n_locs];
	memset(l, 0, sizeof(*l));
	l->offset = e.offset;
	l->index = (uint32_t)db->n_locs;
	double lat, lon;
	if (get_double(&e, "latitude", &lat) && get_double(&e, "longitude", &lon) && lat >= -90 &&
	    lat <= 90 && lon >= -180 && lon <= 180) {
		l->lat = (float)lat;
		l->lon = (float)lon;
		l->has_coords = true;
	}
	get_code(&e, "country", "iso_code", l->country);
	if (l->country[0] == '\0')
		get_code(&e, "registered_country", "iso_code", l->country);
	get_code(&e, "continent", "code", l->continent);
	db->n_locs++;
	if (db->n_locs * 2 > db->mask + 1) {
		free(db->table);
		db->mask = db->mask * 2 + 1;
		db->table = xcalloc(db->mask + 1, sizeof(*db->table));
		for (size_t i = 0; i < db->n_locs; i++) {
			size_t s = slot(db->locs[i].offset, db->mask);
			while (db->table[s] != 0)
				s = (s + 1) & db->mask;
			db->table[s] = (uint32_t)(i + 1);
		}
	} else {
		size_t s = slot(l->offset, db->mask);
		while (db->table[s] != 0)
			s = (s + 1) & db->mask;
		db->table[s] = (uint32_t)db->n_locs;
	}
}

/* Visit every node once: each data record a node points to is decoded. */
/* A node's record as stored in db->tree. */
static uint32_t tree_record(struct geodb *db, uint8_t type, uint64_t value, MMDB_entry_s e)
{
	switch (type) {
	case MMDB_RECORD_TYPE_SEARCH_NODE:
		return (uint32_t)value;
	case MMDB_RECORD_TYPE_DATA:
		add_record(db, e);
		return REC_DATA | (uint32_t)(table_find(db, e.offset) - db->locs);
	default:
		return REC_EMPTY;
	}
}

/* Where IPv4 lookups start: 96 zero bits down an IPv6 tree. */
static void find_v4_root(struct geodb *db)
{
	uint32_t rec = 0;
	if (db->mmdb.metadata.ip_version != 6) {
		db->v4_root = 0;
		return;
	}
	for (unsigned i = 0; i < 96; i++) {
		rec = db->tree[2 * rec];
		if (rec & REC_DATA || rec >= db->mmdb.metadata.node_count)
			break;
	}
	db->v4_root = rec;
}

/* Bits taken in one step from the tables: 2^20 four-octet entries per
 * root, 8 MB for both, for one read in place of a walk's first 20 steps. */
#define STRIDE 20

/* A stride entry is a node index (< node_count < 2^31), reached after all
 * STRIDE bits, or, with the top bit set, a walk that ended after depth
 * bits: on nothing (term 0) or on data record term - 1. */
#define STRIDE_END     0x80000000u
#define STRIDE_TERMS   (UINT32_C(1) << 26) /* term field: bits 5-30 */
#define STRIDE_ENDS_AT 31u                 /* depth field: bits 0-4 */

static uint32_t stride_end(uint32_t rec, unsigned depth)
{
	uint32_t term = rec == REC_EMPTY ? 0 : (rec & ~REC_DATA) + 1;
	return STRIDE_END | term << 5 | depth;
}

static void fill_stride(struct geodb *db, int which, uint32_t rec, unsigned depth, uint32_t prefix)
{
	if (depth == STRIDE || rec >= db->mmdb.metadata.node_count) {
		/* Every STRIDE-bit value starting with these depth bits. */
		uint32_t first = prefix << (STRIDE - depth), n = UINT32_C(1) << (STRIDE - depth);
		uint32_t e = depth == STRIDE && rec < db->mmdb.metadata.node_count
				     ? rec
				     : stride_end(rec, depth);
		for (uint32_t i = 0; i < n; i++)
			db->stride[which][first + i] = e;
		return;
	}
	fill_stride(db, which, db->tree[2 * rec], depth + 1, prefix << 1);
	fill_stride(db, which, db->tree[2 * rec + 1], depth + 1, prefix << 1 | 1);
}

static void make_strides(struct geodb *db)
{
	for (int which = 0; which < 2; which++) {
		db->stride[which] = xmalloc(sizeof(uint32_t) << STRIDE);
		fill_stride(db, which, which == 0 ? db->v4_root : 0, 0, 0);
	}
}

static int walk_tree(struct geodb *db, const char *path, int level, struct diag *d,
		     const char *at_file, unsigned at_line)
{
	db->tree = xmalloc((size_t)db->mmdb.metadata.node_count * 2 * sizeof(*db->tree));
	for (uint32_t n = 0; n < db->mmdb.metadata.node_count; n++) {
		MMDB_search_node_s node;
		int rc = MMDB_read_node(&db->mmdb, n, &node);
		if (rc != MMDB_SUCCESS || node.left_record_type == MMDB_RECORD_TYPE_INVALID ||
		    node.right_record_type == MMDB_RECORD_TYPE_INVALID) {
			diag_report(d, (enum log_level)level, at_file, at_line,
				    "geoip database '%s': corrupt search tree at node %u: %s", path,
				    n, rc != MMDB_SUCCESS ? MMDB_strerror(rc) : "invalid record");
			return -1;
		}
		if (node.left_record_type == MMDB_RECORD_TYPE_SEARCH_NODE &&
		    node.left_record >= db->mmdb.metadata.node_count) {
			diag_report(d, (enum log_level)level, at_file, at_line,
				    "geoip database '%s': corrupt search tree at node %u", path, n);
			return -1;
		}
		db->tree[2 * n] = tree_record(db, node.left_record_type, node.left_record,
					      node.left_record_entry);
		db->tree[2 * n + 1] = tree_record(db, node.right_record_type, node.right_record,
						  node.right_record_entry);
	}
	find_v4_root(db);
	return 0;
}

/* The identity of the file at path now (all 0 when it cannot be seen). */
static void file_now(const char *path, unsigned long long *dev, unsigned long long *ino,
		     long long *size, long long *mtime_ns)
{
	struct stat st;
	*dev = *ino = 0;
	*size = *mtime_ns = 0;
	if (stat(path, &st) != 0)
		return;
	*dev = (unsigned long long)st.st_dev;
	*ino = (unsigned long long)st.st_ino;
	*size = (long long)st.st_size;
	*mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

struct geodb *geodb_open(const char *path, int level, struct diag *d, const char *at_file,
			 unsigned at_line)
{
	/* A FIFO would block libmaxminddb's open, a directory or a device is
	 * no database: say which, rather than "cannot open". */
	const char *why;
	if (rfile_check(path, &why) < 0) {
		diag_report(d, (enum log_level)level, at_file, at_line, "geoip database '%s': %s",
			    path,
			    errno == ENOENT || errno == EACCES
				    ? "cannot open (missing or unreadable file)"
				    : why);
		return NULL;
	}
	struct geodb *db = xcalloc(1, sizeof(*db));
	atomic_init(&db->refs, 1);
	db->path = xstrdup(path);
	/* Before opening: a file replaced while we read it then differs. */
	file_now(path, &db->dev, &db->ino, &db->size, &db->mtime_ns);
	db->mask = 1023;
	db->table = xcalloc(db->mask + 1, sizeof(*db->table));
	int rc = MMDB_open(path, MMDB_MODE_MMAP, &db->mmdb);
	if (rc != MMDB_SUCCESS) {
		diag_report(d, (enum log_level)level, at_file, at_line, "geoip database '%s': %s",
			    path,
			    db->size == 0 ? "is an empty file, not a MaxMind database"
			    : rc == MMDB_INVALID_METADATA_ERROR
				    ? "is not a MaxMind database (no valid metadata at its end)"
			    : rc == MMDB_IO_ERROR || rc == MMDB_FILE_OPEN_ERROR
				    ? "cannot open (missing or unreadable file)"
				    : MMDB_strerror(rc));
		free(db->table);
		free(db->path);
		free(db);
		return NULL;
	}
	/* Our tree copy marks data records with the top bit, and the stride
	 * tables give a data record 26 bits: far beyond any real database. */
	if (db->mmdb.metadata.node_count >= REC_DATA) {
		diag_report(d, (enum log_level)level, at_file, at_line,
			    "geoip database '%s': %u search tree nodes, more than geodnsd takes",
			    path, db->mmdb.metadata.node_count);
		geodb_free(db);
		return NULL;
	}
	if (walk_tree(db, path, level, d, at_file, at_line) < 0) {
		geodb_free(db);
		return NULL;
	}
	if (db->n_locs == 0 || db->n_locs + 1 >= STRIDE_TERMS) {
		diag_report(d, (enum log_level)level, at_file, at_line,
			    db->n_locs == 0
				    ? "geoip database '%s' holds no records"
				    : "geoip database '%s' holds %zu distinct records, more "
				      "than geodnsd takes",
			    path, db->n_locs);
		geodb_free(db);
		return NULL;
	}
	make_strides(db);
	return db;
}

struct geodb *geodb_ref(struct geodb *db)
{
	atomic_fetch_add(&db->refs, 1);
	return db;
}

bool geodb_is_current(const struct geodb *db, const char *path)
{
	unsigned long long dev, ino;
	long long size, mtime_ns;
	if (strcmp(path, db->path) != 0)
		return false;
	file_now(path, &dev, &ino, &size, &mtime_ns);
	return ino != 0 && dev == db->dev && ino == db->ino && size == db->size &&
	       mtime_ns == db->mtime_ns;
}

uint64_t geodb_build_epoch(const struct geodb *db)
{
	return db->mmdb.metadata.build_epoch;
}

void geodb_free(struct geodb *db)
{
	if (db == NULL || atomic_fetch_sub(&db->refs, 1) != 1)
		return;
	free(db->path);
	MMDB_close(&db->mmdb);
	free(db->tree);
	for (int i = 0; i < 2; i++)
		free(db->stride[i]);
	free(db->locs);
	free(db->table);
	free(db);
}

static const struct sockaddr *make_sa(int family, const uint8_t *addr, struct sockaddr_in6 *buf)
{
	memset(buf, 0, sizeof(*buf));
	if (family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)buf;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
	} else {
		buf->sin6_family = AF_INET6;
		memcpy(&buf->sin6_addr, addr, 16);
	}
	return (const struct sockaddr *)buf;
}

static MMDB_lookup_result_s lookup(const struct geodb *db, int family, const uint8_t *addr,
				   unsigned *netmask)
{
	struct sockaddr_in6 sa;
	int err = 0;
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&db->mmdb, make_sa(family, addr, &sa), &err);
	if (err != MMDB_SUCCESS) {
		r.found_entry = false;
		r.netmask = 0;
	}
	/* An IPv4 address in an IPv6 tree is counted from ::/96. */
	unsigned nm = r.netmask;
	if (family == 4 && db->mmdb.metadata.ip_version == 6)
		nm = nm >= 96 ? nm - 96 : 0;
	*netmask = nm;
	return r;
}

const struct geo_loc *geodb_lookup(const struct geodb *db, int family, const uint8_t *addr,
				   unsigned *netmask)
{
	unsigned bits = family == 4 ? 32 : 128;
	uint32_t nodes = db->mmdb.metadata.node_count;
	if (family != 4 && db->mmdb.metadata.ip_version != 6) {
		*netmask = 0;
		return NULL; /* no IPv6 in an IPv4 tree */
	}
	/* The first STRIDE bits from the table, then one bit per step; rec is a
	 * node index until it becomes a terminal record. */
	unsigned which = family == 4 ? 0 : 1;
	uint32_t idx =
		((uint32_t)addr[0] << 16 | (uint32_t)addr[1] << 8 | addr[2]) >> (24 - STRIDE);
	uint32_t rec = db->stride[which][idx];
	unsigned i = STRIDE;
	if (rec >= nodes) {
		uint32_t term = (rec & ~STRIDE_END) >> 5;
		i = rec & STRIDE_ENDS_AT;
		rec = term == 0 ? REC_EMPTY : REC_DATA | (term - 1);
	}
	for (; i < bits && rec < nodes; i++) {
		unsigned bit = (addr[i / 8] >> (7 - i % 8)) & 1u;
		rec = db->tree[2 * rec + bit];
	}
	*netmask = i;
	if (rec == REC_EMPTY || !(rec & REC_DATA))
		return NULL;
	return &db->locs[rec & ~REC_DATA];
}

/* ---- classes (see geodb.h) ------------------------------------------- */

#define CLASS_MIXED 0xFFFFu
#define NO_DEPTH    0xFFu /* no single-class subtree within the stride */

struct geodb_classes {
	uint16_t *node;     /* per node: its subtree's one class, or CLASS_MIXED */
	uint16_t *rec;      /* per record */
	uint16_t empty;     /* of addresses with no record */
	uint8_t *udepth[2]; /* per stride entry: depth of the first single-class
			     * subtree on the path, NO_DEPTH past the stride */
};

static uint16_t class_of(const struct geodb *db, const struct geodb_classes *k, uint32_t rec)
{
	if (rec == REC_EMPTY)
		return k->empty;
	if (rec & REC_DATA)
		return k->rec[rec & ~REC_DATA];
	return rec < db->mmdb.metadata.node_count ? k->node[rec] : k->empty;
}

/* Every node's class, children first (depth-first, with an explicit
 * stack; aliased subtrees are reached more than once and done once). */
static void class_nodes(const struct geodb *db, struct geodb_classes *k)
{
	uint32_t nodes = db->mmdb.metadata.node_count;
	uint8_t *state = xcalloc(nodes ? nodes : 1, 1); /* 0 new, 1 open, 2 done */
	size_t cap = 1024, n = 0;
	uint32_t *stack = xmalloc(cap * sizeof(*stack));
	stack[n++] = 0;
	while (n > 0) {
		uint32_t v = stack[n - 1];
		if (state[v] == 0) {
			state[v] = 1;
			for (int side = 0; side < 2; side++) {
				uint32_t c = db->tree[2 * v + (uint32_t)side];
				if (c < nodes && state[c] == 0) {
					if (n == cap) {
						cap *= 2;
						stack = xrealloc(stack, cap * sizeof(*stack));
					}
					stack[n++] = c;
				}
			}
			continue;
		}
		n--;
		if (state[v] == 2)
			continue;
		uint32_t l = db->tree[2 * v], r = db->tree[2 * v + 1];
		/* A child still open would be a cycle: a corrupt tree. */
		bool open = (l < nodes && state[l] != 2) || (r < nodes && state[r] != 2);
		uint16_t cl = class_of(db, k, l), cr = class_of(db, k, r);
		k->node[v] = !open && cl == cr ? cl : CLASS_MIXED;
		state[v] = 2;
	}
	free(stack);
	free(state);
}

static void fill_udepth(const struct geodb *db, struct geodb_classes *k, int which, uint32_t rec,
			unsigned depth, uint32_t prefix)
{
	uint32_t nodes = db->mmdb.metadata.node_count;
	uint16_t c = class_of(db, k, rec);
	if (depth == STRIDE || rec >= nodes || c != CLASS_MIXED) {
		uint32_t first = prefix << (STRIDE - depth), n = UINT32_C(1) << (STRIDE - depth);
		memset(k->udepth[which] + first, c != CLASS_MIXED ? (int)depth : (int)NO_DEPTH, n);
		return;
	}
	fill_udepth(db, k, which, db->tree[2 * rec], depth + 1, prefix << 1);
	fill_udepth(db, k, which, db->tree[2 * rec + 1], depth + 1, prefix << 1 | 1);
}

struct geodb_classes *geodb_classes_new(const struct geodb *db, const uint16_t *rec_class,
					uint16_t empty_class)
{
	struct geodb_classes *k = xcalloc(1, sizeof(*k));
	uint32_t nodes = db->mmdb.metadata.node_count;
	k->node = xmalloc((nodes ? nodes : 1) * sizeof(*k->node));
	for (uint32_t i = 0; i < nodes; i++)
		k->node[i] = CLASS_MIXED;
	k->rec = xmalloc((db->n_locs ? db->n_locs : 1) * sizeof(*k->rec));
	memcpy(k->rec, rec_class, db->n_locs * sizeof(*k->rec));
	k->empty = empty_class;
	if (nodes > 0)
		class_nodes(db, k);
	for (int which = 0; which < 2; which++) {
		k->udepth[which] = xmalloc((size_t)1 << STRIDE);
		fill_udepth(db, k, which, which == 0 ? db->v4_root : 0, 0, 0);
	}
	return k;
}

void geodb_classes_free(struct geodb_classes *k)
{
	if (k == NULL)
		return;
	free(k->node);
	free(k->rec);
	free(k->udepth[0]);
	free(k->udepth[1]);
	free(k);
}

size_t geodb_classes_memory(const struct geodb *db, const struct geodb_classes *k)
{
	return (size_t)db->mmdb.metadata.node_count * sizeof(*k->node) +
	       db->n_locs * sizeof(*k->rec) + ((size_t)2 << STRIDE);
}

uint16_t geodb_class_lookup(const struct geodb *db, const struct geodb_classes *k, int family,
			    const uint8_t *addr, unsigned *depth)
{
	unsigned bits = family == 4 ? 32 : 128;
	uint32_t nodes = db->mmdb.metadata.node_count;
	if (family != 4 && db->mmdb.metadata.ip_version != 6) {
		*depth = 0;
		return k->empty; /* no IPv6 in an IPv4 tree */
	}
	unsigned which = family == 4 ? 0 : 1;
	uint32_t idx =
		((uint32_t)addr[0] << 16 | (uint32_t)addr[1] << 8 | addr[2]) >> (24 - STRIDE);
	uint32_t rec = db->stride[which][idx];
	unsigned ud = k->udepth[which][idx];
	if (rec >= nodes) { /* the walk ended inside the stride */
		uint32_t term = (rec & ~STRIDE_END) >> 5;
		*depth = ud;
		return term == 0 ? k->empty : k->rec[term - 1];
	}
	if (ud != NO_DEPTH) { /* one class from above the stride's end on */
		*depth = ud;
		return k->node[rec];
	}
	for (unsigned i = STRIDE; i < bits; i++) {
		uint16_t c = k->node[rec];
		if (c != CLASS_MIXED) {
			*depth = i;
			return c;
		}
		rec = db->tree[2 * rec + ((addr[i / 8] >> (7 - i % 8)) & 1u)];
		if (rec >= nodes) {
			*depth = i + 1;
			return class_of(db, k, rec);
		}
	}
	*depth = bits; /* a tree deeper than addresses: not from a writer */
	return k->empty;
}

size_t geodb_count(const struct geodb *db)
{
	return db->n_locs;
}

const struct geo_loc *geodb_loc(const struct geodb *db, size_t i)
{
	return &db->locs[i];
}

void geodb_city(const struct geodb *db, int family, const uint8_t *addr, char *out, size_t size)
{
	/* The names are read from the mapped file.  One rewritten in place
	 * (same inode, new size or time) no longer holds what was decoded,
	 * and reading it could fault; one replaced by a rename is intact. */
	unsigned long long dev, ino;
	long long fsize, mtime_ns;
	file_now(db->path, &dev, &ino, &fsize, &mtime_ns);
	out[0] = '\0';
	if (dev == db->dev && ino == db->ino && (fsize != db->size || mtime_ns != db->mtime_ns))
		return;
	unsigned nm;
	MMDB_lookup_result_s r = lookup(db, family, addr, &nm);
	MMDB_entry_data_s v;
	out[0] = '\0';
	if (r.found_entry &&
	    MMDB_get_value(&r.entry, &v, "city", "names", "en", NULL) == MMDB_SUCCESS &&
	    v.has_data && v.type == MMDB_DATA_TYPE_UTF8_STRING)
		snprintf(out, size, "%.*s", (int)v.data_size, v.utf8_string);
}

const char *geodb_type(const struct geodb *db)
{
	return db->mmdb.metadata.database_type;
}

size_t geodb_memory(const struct geodb *db)
{
	return db->cap_locs * sizeof(*db->locs) + (db->mask + 1) * sizeof(*db->table) +
	       (size_t)db->mmdb.metadata.node_count * 2 * sizeof(*db->tree) +
	       2 * (sizeof(uint32_t) << STRIDE);
}
