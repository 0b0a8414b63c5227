/* zload.c: master file -> validated in-memory zone, with file:line diagnostics. */
#include "config.h"

#include "zones/zload.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ldns/ldns.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dns/arena.h"
#include "dns/dname.h"
#include "dns/log.h"
#include "dns/rrtype.h"
#include "dns/xalloc.h"
#include "dns/ztree.h"
#include "zones/zcheck.h"
#include "zones/zfreader.h"
#include "zones/zrr.h"

#define INCLUDE_DEPTH_MAX 16
#define DEFAULT_TTL       3600

/* One record as read, before grouping into RRsets. */
struct rec {
	const uint8_t *owner; /* lowercase wire, in the loader's arena */
	const uint8_t *rdata;
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen;
	uint8_t owner_len; /* octets of owner, with the root: sorting compares it */
	unsigned line;
	unsigned file; /* index into loader.files */
};

/* A GEO record: the name's A/AAAA come from a service. */
struct georec {
	const uint8_t *owner;
	const void *binding;
	unsigned line;
	unsigned file;
};

struct loader {
	uint8_t apex[DNAME_MAXLEN];
	char apex_str[DNAME_MAXLEN * 4 + 2];
	struct diag *d;
	unsigned errors0;
	struct arena *tmp;
	struct rec *recs;
	size_t n_recs, cap_recs;
	char **files;
	size_t n_files;
	ldns_buffer *wire;
	struct zrr *fast;                 /* zrr_parse's output, reused for every entry */
	uint8_t prev_owner[DNAME_MAXLEN]; /* wire form, for blank owner fields */
	bool have_prev;
	bool has_dname; /* a DNAME was read: check for data below it */
	uint32_t default_ttl;
	const struct zload_dyn *dyn;
	struct georec *geos;
	size_t n_geos;
	uint64_t digest;            /* of the GEO records read (build() adds the RRsets) */
	const struct znode **nodes; /* build(): each owner's node, in recs order */
	const char *conf_file;      /* where the zone is configured, for "cannot open" */
	unsigned conf_line;
	/* Records outside the zone: the first few are listed, the rest only
	 * counted (a zone named unlike its file's $ORIGIN made one error per
	 * record, 20,000 lines for a 20,000-record zone). */
	/* The files being read, the zone's own first: an $INCLUDE of one of
	 * them is a loop, named as such. */
	struct {
		unsigned long long dev, ino;
		const char *path;
	} chain[INCLUDE_DEPTH_MAX + 1];
	unsigned chain_n;
	unsigned outside;
	const char *outside_file;
	unsigned outside_line;
	struct held *held; /* structural problems, reported in line order */
	size_t n_held, cap_held;
};

/* One problem found by the structural checks.  Those walk the records in
 * name order, so they are held and reported sorted by file and line. */
struct held {
	char *msg;
	enum log_level level;
	unsigned file, line;
	size_t seq; /* keeps reports of one line in the order they were made */
};

static const char *rec_file(const struct loader *L, const struct rec *r)
{
	return L->files[r->file];
}

/*
 * The zone digest (struct zone.digest) is the sum of one 64-bit hash per
 * RRset and per GEO record, so it does not depend on the order of the
 * file.  It only tells a reload whether content changed; it is no
 * defence against anyone choosing collisions.
 */
#define GEO_SEED 0x47454F00u /* "GEO": not an RR type's seed */

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h ^= v * 0x9E3779B97F4A7C15u;
	h = (h << 31 | h >> 33) * 0xC2B2AE3D27D4EB4Fu;
	return h;
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = hash_mix(h, v);
	}
	uint64_t tail = (uint64_t)len << 56;
	for (size_t i = 0; i < len; i++)
		tail |= (uint64_t)p[i] << (8 * i);
	return hash_mix(h, tail);
}

static uint64_t hash_end(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDu;
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53u;
	return h ^ (h >> 33);
}

static char *name_str(const uint8_t *name, char *buf, size_t size)
{
	return dname_to_str(name, buf, size);
}

/* ---- reading ------------------------------------------------------- */

static int read_file(struct loader *L, const char *path, ldns_rdf *origin, const char *at_file,
		     unsigned at_line, unsigned depth);

/* Whether path is a file already being read: an error showing the chain
 * ("a.inc -> b.inc -> a.inc") instead of "nested more than 16 deep". */
static bool include_loop(struct loader *L, const char *file, unsigned line, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return false; /* the open says why */
	for (unsigned i = 0; i < L->chain_n; i++) {
		if (L->chain[i].dev != (unsigned long long)st.st_dev ||
		    L->chain[i].ino != (unsigned long long)st.st_ino)
			continue;
		char chain[1024];
		size_t o = 0;
		for (unsigned j = i; j < L->chain_n && o < sizeof(chain) - 8; j++)
			o += (size_t)snprintf(chain + o, sizeof(chain) - o, "%s -> ",
					      L->chain[j].path);
		if (o < sizeof(chain))
			snprintf(chain + o, sizeof(chain) - o, "%s", path);
		diag_report(L->d, LOG_LEVEL_ERR, file, line, "$INCLUDE loop: %s", chain);
		return true;
	}
	return false;
}

static char *first_token(const char *s, const char **rest)
{
	while (*s == ' ' || *s == '\t')
		s++;
	const char *e = s;
	while (*e != '\0' && *e != ' ' && *e != '\t')
		e++;
	if (rest != NULL) {
		*rest = e;
		while (**rest == ' ' || **rest == '\t')
			(*rest)++;
	}
	return xstrndup(s, (size_t)(e - s));
}

/* A name relative to origin unless it ends in a dot. */
static ldns_rdf *make_name(const char *text, const ldns_rdf *origin)
{
	ldns_rdf *n = NULL;
	if (strcmp(text, "@") == 0)
		return ldns_rdf_clone(origin);
	if (ldns_str2rdf_dname(&n, text) != LDNS_STATUS_OK)
		return NULL;
	if (!ldns_dname_str_absolute(text) && ldns_dname_cat(n, origin) != LDNS_STATUS_OK) {
		ldns_rdf_deep_free(n);
		return NULL;
	}
	return n;
}

static char *include_path(const char *including, const char *file)
{
	if (file[0] == '/')
		return xstrdup(file);
	const char *slash = strrchr(including, '/');
	if (slash == NULL)
		return xstrdup(file);
	size_t dl = (size_t)(slash - including) + 1;
	char *p = xmalloc(dl + strlen(file) + 1);
	memcpy(p, including, dl);
	strcpy(p + dl, file);
	return p;
}

static void directive(struct loader *L, const char *file, unsigned line, const char *text,
		      ldns_rdf **origin, unsigned depth)
{
	const char *rest;
	char *word = first_token(text, &rest);
	char *arg = first_token(rest, &rest);
	if (strcasecmp(word, "$ORIGIN") == 0) {
		ldns_rdf *n = arg[0] ? make_name(arg, *origin) : NULL;
		if (n == NULL) {
			diag_report(L->d, LOG_LEVEL_ERR, file, line,
				    "$ORIGIN: invalid domain name '%s'", arg);
		} else {
			ldns_rdf_deep_free(*origin);
			*origin = n;
		}
	} else if (strcasecmp(word, "$TTL") == 0) {
		uint32_t ttl;
		int st = zrr_ttl_parse(arg, strlen(arg), &ttl);
		if (st == ZRR_TTL_RANGE)
			diag_report(L->d, LOG_LEVEL_ERR, file, line,
				    "$TTL: TTL '%s' does not fit in 32 bits", arg);
		else if (st != ZRR_TTL_OK)
			diag_report(L->d, LOG_LEVEL_ERR, file, line, "$TTL: invalid TTL '%s'", arg);
		else
			L->default_ttl = ttl;
	} else if (strcasecmp(word, "$INCLUDE") == 0) {
		char *inc_origin = first_token(rest, NULL);
		ldns_rdf *o =
			inc_origin[0] ? make_name(inc_origin, *origin) : ldns_rdf_clone(*origin);
		if (arg[0] == '\0')
			diag_report(L->d, LOG_LEVEL_ERR, file, line, "$INCLUDE: missing file name");
		else if (o == NULL)
			diag_report(L->d, LOG_LEVEL_ERR, file, line,
				    "$INCLUDE: invalid origin '%s'", inc_origin);
		else if (depth >= INCLUDE_DEPTH_MAX)
			diag_report(L->d, LOG_LEVEL_ERR, file, line,
				    "$INCLUDE: nested more than %d deep", INCLUDE_DEPTH_MAX);
		else {
			char *path = include_path(file, arg);
			/* RFC 1035 5.1: the include's $ORIGIN does not leak
			 * back into this file. */
			if (!include_loop(L, file, line, path))
				read_file(L, path, o, file, line, depth + 1);
			free(path);
		}
		ldns_rdf_deep_free(o);
		free(inc_origin);
	} else {
		diag_report(L->d, LOG_LEVEL_ERR, file, line, "unknown directive '%s'", word);
	}
	free(word);
	free(arg);
}

static unsigned file_index(struct loader *L, const char *path)
{
	for (size_t i = 0; i < L->n_files; i++)
		if (strcmp(L->files[i], path) == 0)
			return (unsigned)i;
	L->files = xrealloc(L->files, (L->n_files + 1) * sizeof(*L->files));
	L->files[L->n_files] = xstrdup(path);
	return (unsigned)L->n_files++;
}

/* One parsed record, from zrr or ldns: owner as written (wire form), rdata
 * NULL when it could not be put in wire form. */
struct parsed {
	const uint8_t *owner;
	size_t owner_len;
	uint16_t rclass, type;
	uint32_t ttl;
	const uint8_t *rdata;
	size_t rdlen;
};

/* file's index, given on its first record so that the indexes follow the
 * order records were read in (earliest() relies on it); *fidx caches it. */
static unsigned rec_file_index(struct loader *L, const char *file, unsigned *fidx)
{
	if (*fidx == UINT_MAX)
		*fidx = file_index(L, file);
	return *fidx;
}

/* RFC 4034 5.1.4, 4509, 6605: a DS digest of a known type has its hash's
 * length.  ldns takes a cut-short digest as it is (an odd count of hex
 * digits, which it would pad, zcheck_rdata has refused already);
 * resolvers then fail to validate the child.  Returns true after
 * reporting one. */
static bool ds_digest_wrong(struct loader *L, const char *file, unsigned line, const uint8_t *rd,
			    size_t rdlen)
{
	static const struct {
		uint8_t type;
		size_t len;
		const char *name;
	} digests[] = { { 1, 20, "SHA-1" }, { 2, 32, "SHA-256" }, { 4, 48, "SHA-384" } };
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
		if (rd[3] != digests[i].type || rdlen - 4 == digests[i].len)
			continue;
		diag_report(L->d, LOG_LEVEL_ERR, file, line,
			    "DS digest is %zu octets; a %s digest (type %u) is %zu", rdlen - 4,
			    digests[i].name, digests[i].type, digests[i].len);
		return true;
	}
	return false;
}

#define OUTSIDE_LISTED 5

/* A record whose owner is not in the zone: an error; after the first
 * OUTSIDE_LISTED, counted for outside_summary() instead of listed. */
static void outside_zone(struct loader *L, const char *file, unsigned line, const uint8_t *lname)
{
	char buf[DNAME_MAXLEN * 4 + 2];
	if (++L->outside <= OUTSIDE_LISTED) {
		diag_report(L->d, LOG_LEVEL_ERR, file, line, "'%s' is outside the zone '%s'",
			    name_str(lname, buf, sizeof(buf)), L->apex_str);
		return;
	}
	L->d->errors++; /* not listed, but an error all the same */
	if (L->outside_file == NULL) {
		L->outside_file = file;
		L->outside_line = line;
	}
}

static void outside_summary(struct loader *L)
{
	if (L->outside <= OUTSIDE_LISTED)
		return;
	diag_report(L->d, LOG_LEVEL_ERR, L->outside_file, L->outside_line,
		    "and %u more records outside the zone '%s' (not listed): is '%s', the zone's "
		    "name in the configuration, the name this file is written for (its $ORIGIN)?",
		    L->outside - OUTSIDE_LISTED, L->apex_str, L->apex_str);
	L->d->errors--; /* the line itself is no further error */
}
static void add_rec(struct loader *L, const struct parsed *p, const char *file, unsigned *fidx,
		    unsigned line)
{
	uint8_t lname[DNAME_MAXLEN];
	size_t olen = p->owner_len;
	memcpy(lname, p->owner, olen);
	dname_tolower(lname);
	L->has_dname |= p->type == RRTYPE_DNAME;

	if (p->rclass != LDNS_RR_CLASS_IN) {
		diag_report(L->d, LOG_LEVEL_ERR, file, line,
			    "class %u is not supported: geodnsd serves class IN only",
			    (unsigned)p->rclass);
		return;
	}
	if (!dname_is_subdomain(lname, L->apex)) {
		outside_zone(L, file, line, lname);
		return;
	}
	if (p->rdata == NULL || p->rdlen > 65535) {
		diag_report(L->d, LOG_LEVEL_ERR, file, line, "record data too long");
		return;
	}
	if (p->type == RRTYPE_DS && p->rdlen >= 4 &&
	    ds_digest_wrong(L, file, line, p->rdata, p->rdlen))
		return;
	uint32_t ttl = p->ttl;
	if (ttl > 2147483647u) {
		/* RFC 2181 8: a TTL is 0 to 2^31 - 1; the top bit is a typo. */
		diag_report(L->d, LOG_LEVEL_WARNING, file, line,
			    "TTL %u exceeds 2147483647 (RFC 2181 8); using 2147483647", ttl);
		ttl = 2147483647u;
	}
	if (L->n_recs == L->cap_recs) {
		/* The scratch arrays are big and written front to back: huge
		 * pages (glibc mmaps such blocks, so they go back to the
		 * system when freed).  Not xrealloc: the copy would fault in
		 * the new block before the hint could be given. */
		L->cap_recs = L->cap_recs ? L->cap_recs * 2 : 1024;
		struct rec *recs = xmalloc(L->cap_recs * sizeof(*recs));
		xhuge_hint(recs, L->cap_recs * sizeof(*recs));
		if (L->n_recs > 0)
			memcpy(recs, L->recs, L->n_recs * sizeof(*recs));
		free(L->recs);
		L->recs = recs;
	}
	struct rec *r = &L->recs[L->n_recs++];
	/* Entries of one name mostly follow each other: share the owner, which
	 * also tells sort_recs() where runs of one name begin. */
	const struct rec *last = L->n_recs > 1 ? r - 1 : NULL;
	if (last != NULL && last->owner_len == olen && memcmp(last->owner, lname, olen) == 0)
		r->owner = last->owner;
	else
		r->owner = arena_memdup(L->tmp, lname, olen);
	r->owner_len = (uint8_t)olen;
	r->rdlen = (uint16_t)p->rdlen;
	r->rdata = arena_memdup(L->tmp, p->rdata, r->rdlen);
	r->type = p->type;
	r->ttl = ttl;
	r->line = line;
	r->file = rec_file_index(L, file, fidx);
}

/* The first fields of an entry: where the type is, whether a TTL was
 * written.  Up to 8 whitespace-separated tokens (enough for GEO lines). */
struct head {
	char *tok[8];
	size_t n;
	size_t type;    /* index of the type token (== n when absent) */
	size_t ttl;     /* index of the TTL token, or HEAD_NONE */
	int ttl_status; /* zrr_ttl_parse() of it */
	uint32_t ttl_value;
	size_t rclass; /* index of the class token, or HEAD_NONE */
};

#define HEAD_NONE SIZE_MAX

static void head_parse(const struct zfline *zl, struct head *h)
{
	const char *s = zl->text, *rest;
	h->n = 0;
	while (h->n < 8) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		h->tok[h->n++] = first_token(s, &rest);
		s = rest;
	}
	size_t i = zl->blank_owner ? 0 : 1;
	h->ttl = h->rclass = HEAD_NONE;
	/* A field starting with a digit is a TTL, as ldns reads it; one
	 * starting with a sign can only be a TTL written wrong (no class or
	 * type starts with any of these).  Classes are the ones ldns knows. */
	for (size_t k = 0; k < 2 && i < h->n; k++) {
		const char *t = h->tok[i];
		if ((t[0] >= '0' && t[0] <= '9') || t[0] == '-' || t[0] == '+') {
			h->ttl_status = zrr_ttl_parse(t, strlen(t), &h->ttl_value);
			h->ttl = i;
		} else if (ldns_get_rr_class_by_name(t) != 0) {
			h->rclass = i;
		} else {
			break;
		}
		i++;
	}
	h->type = i;
}

/* The TTL and class fields, which ldns reads without a word (wrapping a
 * TTL, taking "300x" as 300) or words only as an RDATA error.  Returns
 * false after reporting one. */
static bool head_check(struct loader *L, const char *file, unsigned line, const struct head *h)
{
	if (h->ttl != HEAD_NONE && h->ttl_status == ZRR_TTL_RANGE) {
		diag_report(L->d, LOG_LEVEL_ERR, file, line, "TTL '%s' does not fit in 32 bits",
			    h->tok[h->ttl]);
		return false;
	}
	if (h->ttl != HEAD_NONE && h->ttl_status != ZRR_TTL_OK) {
		diag_report(L->d, LOG_LEVEL_ERR, file, line, "invalid TTL '%s'", h->tok[h->ttl]);
		return false;
	}
	if (h->rclass != HEAD_NONE &&
	    ldns_get_rr_class_by_name(h->tok[h->rclass]) != LDNS_RR_CLASS_IN) {
		diag_report(L->d, LOG_LEVEL_ERR, file, line,
			    "class %s is not supported: geodnsd serves class IN only",
			    h->tok[h->rclass]);
		return false;
	}
	return true;
}

/* After ldns failed on an entry: an owner name it could not read is
 * named, with why (ldns says only "could not parse the RR").  Returns
 * false when the owner is fine, for the other checks. */
static bool owner_check(struct loader *L, const char *file, const struct zfline *zl,
			const struct head *h)
{
	if (zl->blank_owner || h->n == 0 || strcmp(h->tok[0], "@") == 0)
		return false;
	ldns_rdf *n = NULL;
	ldns_status st = ldns_str2rdf_dname(&n, h->tok[0]);
	ldns_rdf_deep_free(n);
	const char *why = st == LDNS_STATUS_LABEL_OVERFLOW        ? "a label longer than 63 octets"
			  : st == LDNS_STATUS_DOMAINNAME_OVERFLOW ? "longer than 255 octets"
			  : st == LDNS_STATUS_EMPTY_LABEL  ? "an empty label (two dots in a row)"
			  : st == LDNS_STATUS_DDD_OVERFLOW ? "an escape \\DDD above 255"
			  : st == LDNS_STATUS_SYNTAX_BAD_ESCAPE ? "a bad escape"
			  : st != LDNS_STATUS_OK                ? ldns_get_errorstr_by_id(st)
								: NULL;
	if (why == NULL)
		return false;
	diag_report(L->d, LOG_LEVEL_ERR, file, zl->line, "owner name '%.80s%s' has %s", h->tok[0],
		    strlen(h->tok[0]) > 80 ? "..." : "", why);
	return true;
}

/* After ldns failed on an A or AAAA entry: an address it could not read
 * is named (ldns says only "could not parse the RR's rdata").  Returns
 * false when that is not the problem, for ldns's message to stand. */
static bool address_check(struct loader *L, const char *file, unsigned line, const struct head *h)
{
	if (h->type + 1 >= h->n)
		return false;
	const char *type = h->tok[h->type], *addr = h->tok[h->type + 1];
	int af = strcasecmp(type, "A") == 0      ? AF_INET
		 : strcasecmp(type, "AAAA") == 0 ? AF_INET6
						 : AF_UNSPEC;
	uint8_t buf[16];
	if (af == AF_UNSPEC || strcmp(addr, "\\#") == 0 || inet_pton(af, addr, buf) == 1)
		return false;
	diag_report(L->d, LOG_LEVEL_ERR, file, line, "invalid %s address '%s'",
		    af == AF_INET ? "IPv4" : "IPv6", addr);
	return true;
}

static void head_free(struct head *h)
{
	for (size_t k = 0; k < h->n; k++)
		free(h->tok[k]);
}

/* Remember the owner for the next blank-owner line, in wire form: turning
 * it into text for every record (only blank owners need that) cost a
 * third of a large zone's load time. */
static void set_prev(struct loader *L, const uint8_t *owner, size_t n)
{
	if (n <= DNAME_MAXLEN) {
		memcpy(L->prev_owner, owner, n);
		L->have_prev = true;
	}
}

/* The previous owner as absolute presentation text (buf >= 1024). */
static const char *prev_text(const struct loader *L, char *buf, size_t size)
{
	return dname_to_str(L->prev_owner, buf, size);
}

/* "owner [ttl] [class] GEO service": ldns does not know GEO, so these
 * lines are read here. */
static void geo_record(struct loader *L, const char *file, unsigned *fidx, const struct zfline *zl,
		       const ldns_rdf *origin, const struct head *h)
{
	char *const *tok = h->tok;
	size_t n = h->n, type = h->type;
	uint32_t ttl = h->ttl != HEAD_NONE ? h->ttl_value : L->default_ttl; /* head_check()ed */
	if (ttl > 2147483647u) {
		diag_report(L->d, LOG_LEVEL_WARNING, file, zl->line,
			    "TTL %u exceeds 2147483647 (RFC 2181 8); using 2147483647", ttl);
		ttl = 2147483647u;
	}
	if (n != type + 2) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
			    "GEO takes exactly one service name: 'name [ttl] [IN] GEO service'");
		return;
	}
	ldns_rdf *owner = NULL;
	char ptext[DNAME_MAXLEN * 4 + 2];
	if (zl->blank_owner) {
		if (!L->have_prev) {
			diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
				    "record with no owner name and no previous owner");
			return;
		}
		owner = make_name(prev_text(L, ptext, sizeof(ptext)), origin);
	} else {
		owner = make_name(tok[0], origin);
	}
	if (owner == NULL) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
			    "syntax error: invalid owner name '%s'", tok[0]);
		return;
	}
	uint8_t lname[DNAME_MAXLEN];
	memcpy(lname, ldns_rdf_data(owner), ldns_rdf_size(owner));
	dname_tolower(lname);
	set_prev(L, ldns_rdf_data(owner), ldns_rdf_size(owner));
	ldns_rdf_deep_free(owner);
	if (!dname_is_subdomain(lname, L->apex)) {
		outside_zone(L, file, zl->line, lname);
		return;
	}
	const char *service = tok[type + 1];
	const void *b = L->dyn ? L->dyn->bind(L->dyn->ctx, service, ttl) : NULL;
	if (b == NULL) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
			    "GEO record names unknown service '%s'", service);
		return;
	}
	L->geos = xrealloc(L->geos, (L->n_geos + 1) * sizeof(*L->geos));
	struct georec *g = &L->geos[L->n_geos++];
	g->owner = arena_memdup(L->tmp, lname, dname_len(lname));
	g->binding = b;
	g->line = zl->line;
	g->file = rec_file_index(L, file, fidx);
	char lservice[256];
	size_t sl = strlen(service) < sizeof(lservice) ? strlen(service) : sizeof(lservice);
	for (size_t i = 0; i < sl; i++)
		lservice[i] = (char)tolower((unsigned char)service[i]);
	uint64_t dg = hash_bytes(GEO_SEED ^ ttl, lname, dname_len(lname));
	L->digest += hash_end(hash_bytes(dg, lservice, sl));
}

/* Whether one of text's fields is "\\#", the RFC 3597 generic RDATA. */
static bool has_generic_rdata(const char *text)
{
	for (const char *s = text; (s = strstr(s, "\\#")) != NULL; s += 2)
		if ((s == text || s[-1] == ' ' || s[-1] == '\t') &&
		    (s[2] == '\0' || s[2] == ' ' || s[2] == '\t'))
			return true;
	return false;
}

/* A 32-bit SOA field: SERIAL in decimal, or a time as TTLs are written. */
static int soa_field(const char *s, size_t n, bool serial)
{
	uint32_t v;
	if (!serial)
		return zrr_ttl_parse(s, n, &v);
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ZRR_TTL_SYNTAX;
		x = x * 10 + (uint64_t)(s[i] - '0');
		if (x > UINT32_MAX)
			return ZRR_TTL_RANGE;
	}
	return n > 0 ? ZRR_TTL_OK : ZRR_TTL_SYNTAX;
}

/* The number of blank-separated fields in text. */
static unsigned count_fields(const char *text)
{
	unsigned n = 0;
	for (const char *s = text; *s != '\0';) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		n++;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
	}
	return n;
}

/*
 * An SOA entry's RDATA, field by field, each error at the physical line of
 * the field (an SOA is usually spread over several).  RFC 1035 3.3.13:
 * SERIAL, REFRESH, RETRY, EXPIRE and MINIMUM are 32-bit; ldns reads them
 * modulo 2^32 and takes signs.  After ldns took the entry (parsed set),
 * only those are checked; after it failed, also the field count and the
 * two names, so that its "could not parse the RR's rdata" gets a field
 * and a line.  Returns false after reporting a problem.
 */
static bool soa_check(struct loader *L, const char *file, const struct zfline *zl,
		      const struct head *h, bool parsed)
{
	static const char *const what[] = { "MNAME", "RNAME",  "serial", "refresh",
					    "retry", "expire", "minimum" };
	const char *text = zl->text;
	if (has_generic_rdata(text))
		return true;
	unsigned n = count_fields(text);
	if (!parsed && n != h->type + 8) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
			    "SOA has %u data fields, needs 7: MNAME RNAME SERIAL REFRESH "
			    "RETRY EXPIRE MINIMUM",
			    n > h->type ? n - (unsigned)h->type - 1 : 0);
		return false;
	}
	const char *e = text + strlen(text);
	for (int k = 6; k >= (parsed ? 2 : 0); k--) {
		while (e > text && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		const char *b = e;
		while (b > text && b[-1] != ' ' && b[-1] != '\t')
			b--;
		int len = (int)(e - b);
		unsigned line = zfline_line_at(zl, b);
		if (k < 2) {
			char name[DNAME_MAXLEN * 4 + 2];
			ldns_rdf *rdf = NULL;
			snprintf(name, sizeof(name), "%.*s", len, b);
			if (ldns_str2rdf_dname(&rdf, name) != LDNS_STATUS_OK) {
				diag_report(L->d, LOG_LEVEL_ERR, file, line,
					    "SOA %s '%.*s' is not a valid domain name", what[k],
					    len, b);
				return false;
			}
			ldns_rdf_deep_free(rdf);
		} else {
			int st = soa_field(b, (size_t)len, k == 2);
			if (st == ZRR_TTL_RANGE) {
				diag_report(L->d, LOG_LEVEL_ERR, file, line,
					    "SOA %s '%.*s' does not fit in 32 bits", what[k], len,
					    b);
				return false;
			}
			if (st != ZRR_TTL_OK) {
				diag_report(L->d, LOG_LEVEL_ERR, file, line,
					    "invalid SOA %s '%.*s'", what[k], len, b);
				return false;
			}
		}
		e = b;
	}
	return true;
}

/* Numeric fields that ldns reads modulo their width without a word (an
 * MX preference of 70000 is served as 4464, -1 as 65535, a DNSKEY
 * protocol of 300 as 44): an error naming the field, as Knot's.  A field
 * that is not a number (a mnemonic, or a typo) is left to ldns.  Returns
 * true after reporting one. */
static bool number_check(struct loader *L, const char *file, const struct zfline *zl,
			 const struct head *h)
{
	static const struct {
		const char *type;
		struct {
			const char *name;
			unsigned max;
		} field[3];
	} numbers[] = {
		{ "MX", { { "preference", 65535 } } },
		{ "SRV", { { "priority", 65535 }, { "weight", 65535 }, { "port", 65535 } } },
		{ "DNSKEY", { { "flags", 65535 }, { "protocol", 255 }, { "algorithm", 255 } } },
		{ "DS", { { "key tag", 65535 }, { "algorithm", 255 }, { "digest type", 255 } } },
		{ "CAA", { { "flags", 255 } } },
		{ "SSHFP", { { "algorithm", 255 }, { "fingerprint type", 255 } } },
		{ "TLSA", { { "usage", 255 }, { "selector", 255 }, { "matching type", 255 } } },
	};
	if (h->type >= h->n)
		return false;
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strcasecmp(h->tok[h->type], numbers[i].type) != 0)
			continue;
		for (size_t f = 0; f < 3 && numbers[i].field[f].name != NULL; f++) {
			size_t k = h->type + 1 + f;
			if (k >= h->n)
				return false;
			const char *t = h->tok[k];
			bool minus = t[0] == '-';
			const char *digits = t + minus;
			if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits))
				continue;
			while (digits[0] == '0' && digits[1] != '\0')
				digits++;
			bool big = strlen(digits) > 10 ||
				   strtoull(digits, NULL, 10) > numbers[i].field[f].max;
			if (!minus && !big)
				continue;
			diag_report(L->d, LOG_LEVEL_ERR, file, zl->line, "%s %s '%s' is %s %u",
				    numbers[i].type, numbers[i].field[f].name, t,
				    minus ? "negative: 0 to" : "more than",
				    numbers[i].field[f].max);
			return true;
		}
	}
	return false;
}

/* After ldns failed on an entry: a type it does not know, or a common
 * type with the wrong number of data fields, is named (ldns says only
 * "could not parse the RR's rdata" or "unknown RR type").  Returns false
 * when that is not the problem. */
static bool type_check(struct loader *L, const char *file, const struct zfline *zl,
		       const struct head *h)
{
	static const struct {
		const char *type;
		unsigned n;
		const char *fields;
	} shapes[] = {
		{ "A", 1, "an IPv4 address" },
		{ "AAAA", 1, "an IPv6 address" },
		{ "NS", 1, "a host name" },
		{ "CNAME", 1, "a target name" },
		{ "DNAME", 1, "a target name" },
		{ "PTR", 1, "a name" },
		{ "MX", 2, "preference and exchange" },
		{ "SRV", 4, "priority, weight, port and target" },
		{ "CAA", 3, "flags, tag and value" },
	};
	if (h->type >= h->n)
		return false;
	const char *type = h->tok[h->type];
	if (ldns_get_rr_type_by_name(type) == 0) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line, "unknown record type '%s'", type);
		return true;
	}
	if (has_generic_rdata(zl->text) || strchr(zl->text, '"') != NULL)
		return false;
	unsigned n = count_fields(zl->text) - (unsigned)h->type - 1;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		if (strcasecmp(type, shapes[i].type) != 0 || n == shapes[i].n)
			continue;
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
			    "%s has %u data field%s, needs %u: %s", shapes[i].type, n,
			    n == 1 ? "" : "s", shapes[i].n, shapes[i].fields);
		return true;
	}
	return false;
}

/* RFC 1035 5.1 allows "<class> <TTL>" as well as "<TTL> <class>"; ldns
 * reads only the second.  A copy of the line with the two swapped in
 * place (every other octet where it was, so the entry's line breaks still
 * fall where they did), or NULL when it has them in ldns's order. */
static char *ttl_before_class(const struct zfline *zl, const struct head *h)
{
	if (h->ttl == HEAD_NONE || h->rclass == HEAD_NONE || h->rclass > h->ttl)
		return NULL;
	/* head_parse() took them as adjacent fields: find the class's. */
	const char *s = zl->text, *rest = s;
	for (size_t k = 0; k < h->rclass; k++) {
		free(first_token(s, &rest));
		s = rest;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	size_t cl = strlen(h->tok[h->rclass]), tl = strlen(h->tok[h->ttl]);
	const char *ttl = s + cl;
	while (*ttl == ' ' || *ttl == '\t')
		ttl++;
	size_t ws = (size_t)(ttl - s) - cl;
	char *out = xstrdup(zl->text);
	char *at = out + (s - zl->text);
	memcpy(at, h->tok[h->ttl], tl);
	memcpy(at + tl, s + cl, ws);
	memcpy(at + tl + ws, h->tok[h->rclass], cl);
	return out;
}

/* An entry the fast path did not take, read by ldns; h is its head,
 * already head_check()ed. */
static void ldns_record_as(struct loader *L, const char *file, unsigned *fidx,
			   const struct zfline *zl, const ldns_rdf *origin, const struct head *h)
{
	if (number_check(L, file, zl, h))
		return;
	/* ldns copies an entry's data into a buffer of LDNS_MAX_RDFLEN
	 * characters and drops the rest without a word: a TXT of 30,000
	 * strings was served with 10,922 of them. */
	size_t tlen = strlen(zl->text);
	if (tlen >= LDNS_MAX_RDFLEN) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
			    "entry of %zu characters: longer than the %d the zone file reader "
			    "takes (record data is at most 65535 octets)",
			    tlen, LDNS_MAX_RDFLEN - 1);
		return;
	}
	char *text = NULL;
	if (zl->blank_owner) {
		char ptext[DNAME_MAXLEN * 4 + 2];
		if (!L->have_prev) {
			diag_report(L->d, LOG_LEVEL_ERR, file, zl->line,
				    "record with no owner name and no previous owner");
			return;
		}
		/* RFC 1035 5.1: a blank owner repeats the previous one. */
		prev_text(L, ptext, sizeof(ptext));
		text = xmalloc(strlen(ptext) + strlen(zl->text) + 1);
		strcpy(text, ptext);
		strcat(text, zl->text);
	}
	ldns_rr *rr = NULL;
	ldns_status st =
		ldns_rr_new_frm_str(&rr, text ? text : zl->text, L->default_ttl, origin, NULL);
	free(text);
	if (st != LDNS_STATUS_OK) {
		bool soa = h->type < h->n && strcasecmp(h->tok[h->type], "SOA") == 0;
		if (soa ? soa_check(L, file, zl, h, false)
			: !owner_check(L, file, zl, h) && !type_check(L, file, zl, h) &&
				    !address_check(L, file, zl->line, h))
			diag_report(L->d, LOG_LEVEL_ERR, file, zl->line, "syntax error: %s",
				    ldns_get_errorstr_by_id(st));
		return;
	}
	/* ldns takes a default TTL of 0 as "none" and uses 3600; $TTL 0 is a
	 * real value, so apply the default ourselves. */
	if (h->ttl == HEAD_NONE)
		ldns_rr_set_ttl(rr, L->default_ttl);
	const ldns_rdf *owner = ldns_rr_owner(rr);
	set_prev(L, ldns_rdf_data(owner), ldns_rdf_size(owner));
	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && !soa_check(L, file, zl, h, true)) {
		ldns_rr_free(rr);
		return;
	}
	char why[200];
	if (h->type < h->n && !has_generic_rdata(zl->text) &&
	    zcheck_rdata((uint16_t)ldns_rr_get_type(rr), zl->text, (unsigned)h->type + 1, why,
			 sizeof(why)) < 0) {
		diag_report(L->d, LOG_LEVEL_ERR, file, zl->line, "%s", why);
		ldns_rr_free(rr);
		return;
	}
	ldns_buffer_clear(L->wire);
	bool wire_ok = ldns_rr_rdata2buffer_wire(L->wire, rr) == LDNS_STATUS_OK;
	struct parsed p = { .owner = ldns_rdf_data(owner),
			    .owner_len = ldns_rdf_size(owner),
			    .rclass = (uint16_t)ldns_rr_get_class(rr),
			    .type = (uint16_t)ldns_rr_get_type(rr),
			    .ttl = ldns_rr_ttl(rr),
			    .rdata = wire_ok ? ldns_buffer_begin(L->wire) : NULL,
			    .rdlen = ldns_buffer_position(L->wire) };
	add_rec(L, &p, file, fidx, zl->line);
	ldns_rr_free(rr);
}

/* gdnsd's @Z (the zone) and @F (the file's origin) inside names are
 * ordinary label text to RFC 1035, so a zone moved over from gdnsd would
 * serve 'a.@Z.example.com.': warn. */
static void gdnsd_at_names(struct loader *L, const char *file, const struct zfline *zl)
{
	bool quoted = false;
	for (const char *p = zl->text; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++; /* an escaped character is data */
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		if (quoted || *p != '@')
			continue;
		char c = (char)(p[1] & ~0x20);
		if (c != 'Z' && c != 'F')
			continue;
		bool start = p == zl->text || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '.';
		bool end = p[2] == '\0' || p[2] == ' ' || p[2] == '\t' || p[2] == '.';
		if (start && end) {
			diag_report(L->d, LOG_LEVEL_WARNING, file, zl->line,
				    "'@%c' is gdnsd's shorthand for the %s; here it is a "
				    "label of its own: write the name out",
				    c, c == 'Z' ? "zone's name" : "origin");
			return;
		}
	}
}

/* ldns_record_as() with the TTL and class in the order ldns reads. */
static void ldns_record(struct loader *L, const char *file, unsigned *fidx, const struct zfline *zl,
			const ldns_rdf *origin, const struct head *h)
{
	char *swapped = ttl_before_class(zl, h);
	if (swapped == NULL) {
		ldns_record_as(L, file, fidx, zl, origin, h);
		return;
	}
	struct zfline as = *zl;
	as.text = swapped;
	ldns_record_as(L, file, fidx, &as, origin, h);
	free(swapped);
}

static void record_line(struct loader *L, const char *file, unsigned *fidx, const struct zfline *zl,
			const ldns_rdf *origin)
{
	if (strchr(zl->text, '@') != NULL)
		gdnsd_at_names(L, file, zl);
	/* The common types in their plain forms are read here, as ldns would
	 * read them: ldns_rr_new_frm_str took most of a large zone's load
	 * time.  Anything else, errors included, is ldns's to read and word,
	 * once the TTL and class fields have been checked here. */
	struct zrr *f = L->fast;
	if (zrr_parse(zl->text, zl->blank_owner, ldns_rdf_data(origin),
		      L->have_prev ? L->prev_owner : NULL, f)) {
		struct parsed p = { .owner = f->owner,
				    .owner_len = f->owner_len,
				    .rclass = LDNS_RR_CLASS_IN,
				    .type = f->type,
				    .ttl = f->has_ttl ? f->ttl : L->default_ttl,
				    .rdata = f->rdata,
				    .rdlen = f->rdlen };
		set_prev(L, f->owner, f->owner_len);
		add_rec(L, &p, file, fidx, zl->line);
		return;
	}
	struct head h;
	head_parse(zl, &h);
	if (head_check(L, file, zl->line, &h)) {
		if (h.type < h.n && strcasecmp(h.tok[h.type], "GEO") == 0)
			geo_record(L, file, fidx, zl, origin, &h);
		else
			ldns_record(L, file, fidx, zl, origin, &h);
	}
	head_free(&h);
}

static int read_file(struct loader *L, const char *path, ldns_rdf *origin_in, const char *at_file,
		     unsigned at_line, unsigned depth)
{
	char what[DNAME_MAXLEN * 4 + 32] = "$INCLUDE";
	if (depth == 0 && L->conf_file != NULL) { /* the zone's own file */
		at_file = L->conf_file;
		at_line = L->conf_line;
		snprintf(what, sizeof(what), "zone '%s': file", L->apex_str);
	}
	struct zfreader *r = zfreader_open(path, L->d, at_file, at_line, what);
	if (r == NULL)
		return -1;
	struct stat st;
	if (L->chain_n <= INCLUDE_DEPTH_MAX && stat(path, &st) == 0) {
		L->chain[L->chain_n].dev = (unsigned long long)st.st_dev;
		L->chain[L->chain_n].ino = (unsigned long long)st.st_ino;
		L->chain[L->chain_n].path = path;
		L->chain_n++;
	} else {
		st.st_ino = 0;
	}
	ldns_rdf *origin = ldns_rdf_clone(origin_in);
	unsigned fidx = UINT_MAX;
	struct zfline zl;
	int rc;
	while ((rc = zfreader_next(r, &zl, L->d)) > 0) {
		if (zl.text[0] == '$')
			directive(L, path, zl.line, zl.text, &origin, depth);
		else
			record_line(L, path, &fidx, &zl, origin);
	}
	if (st.st_ino != 0)
		L->chain_n--;
	ldns_rdf_deep_free(origin);
	zfreader_close(r);
	return rc;
}

/* ---- validation ---------------------------------------------------- */

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	size_t xl = x->owner_len, yl = y->owner_len;
	if (xl != yl)
		return xl < yl ? -1 : 1;
	int c = memcmp(x->owner, y->owner, xl);
	if (c != 0)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->rdlen != y->rdlen)
		return x->rdlen < y->rdlen ? -1 : 1;
	c = memcmp(x->rdata, y->rdata, x->rdlen);
	if (c != 0)
		return c;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static bool same_owner(const struct rec *a, const struct rec *b)
{
	return a->owner == b->owner ||
	       (a->owner_len == b->owner_len && memcmp(a->owner, b->owner, a->owner_len) == 0);
}

/* ---- sorting ------------------------------------------------------- */

/*
 * The records end up in cmp_rec() order, exactly as a stable qsort() would
 * leave them, but sorting a million records with cmp_rec() took a fifth
 * of the load.  Records of one name mostly come in runs (add_rec() gives
 * them one owner pointer), so the runs are sorted instead, by a radix sort
 * on a key of the owner's length and first octets; the few runs whose keys
 * tie are ordered by their full owner.  Each name's records, usually one
 * to three, are then sorted with cmp_rec() itself.
 */
struct run {
	uint64_t key; /* owner length, then its first 7 octets */
	const uint8_t *owner;
	uint32_t first, n; /* recs[first .. first + n) */
};

static uint64_t owner_key(const uint8_t *owner, size_t len)
{
	uint64_t k = (uint64_t)len << 56;
	for (size_t i = 0; i < 7 && i < len; i++)
		k |= (uint64_t)owner[i] << (48 - 8 * i);
	return k;
}

/* cmp_rec()'s owner order; runs of one owner in file order. */
static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	int c = memcmp(x->owner, y->owner, x->key >> 56);
	if (c != 0)
		return c;
	return x->first < y->first ? -1 : x->first > y->first;
}

static bool run_same_owner(const struct run *a, const struct run *b)
{
	return a->key == b->key && memcmp(a->owner, b->owner, a->key >> 56) == 0;
}

/* LSD radix sort on key, stable; octets that all keys share are skipped. */
static void radix_sort_runs(struct run *v, size_t n)
{
	size_t count[8][256] = { { 0 } };
	for (size_t i = 0; i < n; i++)
		for (unsigned b = 0; b < 8; b++)
			count[b][(v[i].key >> (8 * b)) & 255]++;
	struct run *tmp = xmalloc(n * sizeof(*tmp)), *src = v, *dst = tmp;
	xhuge_hint(tmp, n * sizeof(*tmp));
	for (unsigned b = 0; b < 8; b++) {
		size_t *c = count[b];
		if (c[(src[0].key >> (8 * b)) & 255] == n)
			continue;
		size_t pos = 0;
		for (unsigned k = 0; k < 256; k++) {
			size_t m = c[k];
			c[k] = pos;
			pos += m;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[(src[i].key >> (8 * b)) & 255]++] = src[i];
		struct run *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
}

/* Stable sort of one name's records by cmp_rec(): insertion sort for the
 * usual handful, merging halves beyond that. */
static void sort_group(struct rec *a, size_t n)
{
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			struct rec x = a[i];
			size_t j = i;
			for (; j > 0 && cmp_rec(&a[j - 1], &x) > 0; j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
		return;
	}
	size_t h = n / 2;
	sort_group(a, h);
	sort_group(a + h, n - h);
	if (cmp_rec(&a[h - 1], &a[h]) <= 0)
		return;
	struct rec *left = xmalloc(h * sizeof(*left));
	memcpy(left, a, h * sizeof(*left));
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		a[k++] = cmp_rec(&left[i], &a[j]) <= 0 ? left[i++] : a[j++];
	while (i < h)
		a[k++] = left[i++];
	free(left);
}

static void sort_recs(struct loader *L)
{
	size_t n_runs = 0;
	for (size_t i = 0; i < L->n_recs; i++)
		if (i == 0 || L->recs[i].owner != L->recs[i - 1].owner)
			n_runs++;
	struct run *runs = xmalloc(n_runs * sizeof(*runs));
	xhuge_hint(runs, n_runs * sizeof(*runs));
	size_t k = 0;
	for (size_t i = 0; i < L->n_recs; i++) {
		const struct rec *r = &L->recs[i];
		if (i > 0 && r->owner == L->recs[i - 1].owner) {
			runs[k - 1].n++;
			continue;
		}
		runs[k++] = (struct run){ .key = owner_key(r->owner, r->owner_len),
					  .owner = r->owner,
					  .first = (uint32_t)i,
					  .n = 1 };
	}
	radix_sort_runs(runs, n_runs);
	for (size_t i = 0; i < n_runs;) {
		size_t j = i + 1;
		while (j < n_runs && runs[j].key == runs[i].key)
			j++;
		if (j - i > 1)
			qsort(runs + i, j - i, sizeof(*runs), cmp_run);
		i = j;
	}
	struct rec *out = xmalloc(L->n_recs * sizeof(*out));
	xhuge_hint(out, L->n_recs * sizeof(*out));
	size_t o = 0;
	for (size_t i = 0; i < n_runs;) {
		size_t start = o, j = i;
		do {
			memcpy(out + o, L->recs + runs[j].first, runs[j].n * sizeof(*out));
			o += runs[j].n;
			j++;
		} while (j < n_runs && run_same_owner(&runs[i], &runs[j]));
		sort_group(out + start, o - start);
		i = j;
	}
	free(runs);
	free(L->recs);
	L->recs = out;
	L->cap_recs = L->n_recs;
}

static bool same_data(const struct rec *a, const struct rec *b)
{
	return a->type == b->type && a->rdlen == b->rdlen &&
	       memcmp(a->rdata, b->rdata, a->rdlen) == 0;
}

static void hold(struct loader *L, enum log_level lvl, unsigned file, unsigned line,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void hold(struct loader *L, enum log_level lvl, unsigned file, unsigned line,
		 const char *fmt, ...)
{
	char msg[DNAME_MAXLEN * 8 + 256]; /* two names in full, and words */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (L->n_held == L->cap_held) {
		L->cap_held = L->cap_held ? L->cap_held * 2 : 16;
		L->held = xrealloc(L->held, L->cap_held * sizeof(*L->held));
	}
	L->held[L->n_held] = (struct held){
		.msg = xstrdup(msg), .level = lvl, .file = file, .line = line, .seq = L->n_held
	};
	L->n_held++;
}

static int cmp_held(const void *a, const void *b)
{
	const struct held *x = a, *y = b;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Report the held problems, by file (in the order they were first read)
 * and line. */
static void report_held(struct loader *L)
{
	if (L->n_held > 1)
		qsort(L->held, L->n_held, sizeof(*L->held), cmp_held);
	for (size_t i = 0; i < L->n_held; i++) {
		const struct held *h = &L->held[i];
		diag_report(L->d, h->level, L->files[h->file], h->line, "%s", h->msg);
		free(h->msg);
	}
	L->n_held = 0;
}

static void report_at(struct loader *L, enum log_level lvl, const struct rec *r,
		      const struct rec *first, const char *what)
{
	if (first == NULL)
		hold(L, lvl, r->file, r->line, "%s", what);
	else if (first->file == r->file)
		hold(L, lvl, r->file, r->line, "%s (first at line %u)", what, first->line);
	else
		hold(L, lvl, r->file, r->line, "%s (first at %s:%u)", what, rec_file(L, first),
		     first->line);
}

/* The earliest record (by file order of appearance, then line) in [b, e). */
static const struct rec *earliest(const struct rec *b, const struct rec *e, uint16_t type)
{
	const struct rec *best = NULL;
	for (const struct rec *r = b; r < e; r++)
		if (r->type == type && (best == NULL || r->file < best->file ||
					(r->file == best->file && r->line < best->line)))
			best = r;
	return best;
}

/* Checks on all the records of one owner name, recs[b..e). */
static void check_owner(struct loader *L, const struct rec *b, const struct rec *e, bool *apex_soa,
			bool *apex_ns)
{
	char buf[DNAME_MAXLEN * 4 + 2], msg[DNAME_MAXLEN * 4 + 64];
	bool is_apex = dname_equal(b->owner, L->apex);
	const struct rec *soa1 = earliest(b, e, RRTYPE_SOA);
	const struct rec *cname1 = earliest(b, e, RRTYPE_CNAME);
	const struct rec *dname1 = earliest(b, e, RRTYPE_DNAME);
	const struct rec *other = NULL;
	const struct rec *kept = NULL; /* the last record that is no duplicate */

	for (const struct rec *r = b; r < e; r++) {
		if (kept != NULL && same_data(r, kept)) {
			/* RFC 2181 5: duplicates are meaningless, and servers
			 * should suppress them (Knot and NSD serve one).  Copies
			 * sort together: kept is the first of them. */
			const struct rec *first = kept;
			const char *how = r->ttl == first->ttl ? "served once"
							       : "served once, with the lower TTL";
			if (first->file == r->file)
				hold(L, LOG_LEVEL_WARNING, r->file, r->line,
				     "duplicate record (first at line %u); %s", first->line, how);
			else
				hold(L, LOG_LEVEL_WARNING, r->file, r->line,
				     "duplicate record (first at %s:%u); %s", rec_file(L, first),
				     first->line, how);
			continue;
		}
		if (r->type == RRTYPE_SOA && !is_apex)
			report_at(L, LOG_LEVEL_ERR, r, NULL, "SOA record not at the zone apex");
		else if (r->type == RRTYPE_SOA && r != soa1)
			report_at(L, LOG_LEVEL_ERR, r, soa1, "more than one SOA record");
		if (r->type == RRTYPE_CNAME && r != cname1)
			report_at(L, LOG_LEVEL_ERR, r, cname1,
				  "more than one CNAME record at this name");
		if (r->type == RRTYPE_DNAME && r != dname1)
			report_at(L, LOG_LEVEL_ERR, r, dname1,
				  "more than one DNAME record at this name (RFC 6672 2.4)");
		/* RFC 2181 10.1 / RFC 4035 2.5: only DNSSEC data may sit
		 * beside a CNAME. */
		if (r->type != RRTYPE_CNAME && r->type != RRTYPE_RRSIG && r->type != RRTYPE_NSEC &&
		    other == NULL)
			other = r;
		if (kept != NULL && r->type == kept->type && r->ttl != kept->ttl)
			hold(L, LOG_LEVEL_WARNING, r->file, r->line,
			     "TTL %u differs from the TTL %u of the same RRset; "
			     "using the lower",
			     r->ttl, kept->ttl);
		kept = r;
	}
	if (cname1 != NULL && other != NULL) {
		snprintf(msg, sizeof(msg), "CNAME and other data at '%s'",
			 name_str(b->owner, buf, sizeof(buf)));
		report_at(L, LOG_LEVEL_ERR, cname1, NULL, msg);
	}
	if (is_apex) {
		*apex_soa = soa1 != NULL;
		*apex_ns = earliest(b, e, RRTYPE_NS) != NULL;
	}
}

static int cmp_owner_key(const void *key, const void *elem)
{
	const uint8_t *k = key;
	const struct rec *r = elem;
	size_t kl = dname_len(k), rl = r->owner_len;
	if (kl != rl)
		return kl < rl ? -1 : 1;
	return memcmp(k, r->owner, kl);
}

/* GEO names: one GEO each, and no static A/AAAA/CNAME beside it. */
static void validate_geos(struct loader *L)
{
	for (size_t i = 0; i < L->n_geos; i++) {
		const struct georec *g = &L->geos[i];
		for (size_t j = 0; j < i; j++) {
			if (dname_equal(L->geos[j].owner, g->owner)) {
				hold(L, LOG_LEVEL_ERR, g->file, g->line,
				     "more than one GEO record at this name "
				     "(first at line %u)",
				     L->geos[j].line);
				break;
			}
		}
		const struct rec *r =
			L->n_recs ? bsearch(g->owner, L->recs, L->n_recs, sizeof(*r), cmp_owner_key)
				  : NULL;
		if (r == NULL)
			continue;
		while (r > L->recs && same_owner(r - 1, r))
			r--;
		for (; r < L->recs + L->n_recs && cmp_owner_key(g->owner, r) == 0; r++) {
			if (r->type == RRTYPE_A || r->type == RRTYPE_AAAA ||
			    r->type == RRTYPE_CNAME) {
				hold(L, LOG_LEVEL_ERR, g->file, g->line,
				     "GEO name also has static %s records (%s:%u); "
				     "a GEO name gets its A/AAAA from the service",
				     r->type == RRTYPE_CNAME ? "CNAME"
				     : r->type == RRTYPE_A   ? "A"
							     : "AAAA",
				     rec_file(L, r), r->line);
				break;
			}
		}
	}
}

static void validate(struct loader *L)
{
	bool apex_soa = false, apex_ns = false;
	const struct rec *soa = NULL;
	for (size_t i = 0; i < L->n_recs;) {
		size_t j = i + 1;
		while (j < L->n_recs && same_owner(&L->recs[i], &L->recs[j]))
			j++;
		check_owner(L, &L->recs[i], &L->recs[j], &apex_soa, &apex_ns);
		if (dname_equal(L->recs[i].owner, L->apex))
			soa = earliest(&L->recs[i], &L->recs[j], RRTYPE_SOA);
		i = j;
	}
	/* Whole-zone problems still get a line: where the SOA belongs (the
	 * top of the file), and for NS the SOA's line, which starts the apex. */
	if (!apex_soa)
		hold(L, LOG_LEVEL_ERR, 0, 1, "no SOA record at the zone apex '%s'", L->apex_str);
	if (!apex_ns)
		hold(L, LOG_LEVEL_ERR, soa ? soa->file : 0, soa ? soa->line : 1,
		     "no NS records at the zone apex '%s'", L->apex_str);
	validate_geos(L);
	report_held(L);
}

/* ---- building ------------------------------------------------------ */

static void build_rrset(struct zone *z, struct znode *n, const struct rec *b, const struct rec *e,
			uint8_t *buf)
{
	size_t len = 0;
	uint16_t count = 0;
	uint32_t ttl = b->ttl;
	for (const struct rec *r = b; r < e; r++) {
		if (r->ttl < ttl)
			ttl = r->ttl; /* a duplicate's too (check_owner says so) */
		if (r > b && same_data(r, r - 1))
			continue;
		buf[len] = (uint8_t)(r->rdlen >> 8);
		buf[len + 1] = (uint8_t)r->rdlen;
		memcpy(buf + len + 2, r->rdata, r->rdlen);
		len += 2 + (size_t)r->rdlen;
		count++;
	}
	zone_add_rrset(z, n, b->type, ttl, count, buf, len);
	uint64_t h = hash_bytes((uint64_t)b->type << 32 | ttl, b->owner, b->owner_len);
	z->digest += hash_end(hash_bytes(h, buf, len));
}

static struct zone *build(struct loader *L)
{
	struct zone *z = zone_new(L->apex);
	size_t cap = 0, n_nodes = 0, n_names = 0;
	for (size_t i = 0; i < L->n_recs; i++)
		n_names += i == 0 || !same_owner(&L->recs[i - 1], &L->recs[i]);
	/* Empty non-terminals come on top; the table grows for them if it
	 * has to. */
	zone_reserve(z, n_names + L->n_geos + 1);
	uint8_t *buf = NULL;
	/* One node lookup per name, kept for check_tree(): with a million
	 * records, each lookup is a cache miss or two. */
	L->nodes = xmalloc(L->n_recs * sizeof(*L->nodes));
	for (size_t i = 0; i < L->n_recs;) {
		struct znode *n = zone_node(z, L->recs[i].owner, true);
		L->nodes[n_nodes++] = n;
		size_t e = i + 1;
		while (e < L->n_recs && same_owner(&L->recs[i], &L->recs[e]))
			e++;
		while (i < e) {
			size_t j = i + 1, need = 2 + (size_t)L->recs[i].rdlen;
			while (j < e && L->recs[j].type == L->recs[i].type)
				need += 2 + (size_t)L->recs[j++].rdlen;
			if (need > cap) {
				cap = need * 2;
				buf = xrealloc(buf, cap);
			}
			build_rrset(z, n, &L->recs[i], &L->recs[j], buf);
			i = j;
		}
	}
	free(buf);
	for (size_t i = 0; i < L->n_geos; i++)
		zone_node(z, L->geos[i].owner, true)->dyn = L->geos[i].binding;
	z->digest += L->digest;
	zone_finish(z);
	return z;
}

/* The DNAME node strictly above n, or NULL. */
static const struct znode *dname_above(const struct znode *n)
{
	for (const struct znode *p = n->parent; p != NULL; p = p->parent)
		if (p->flags & ZNODE_DNAME)
			return p;
	return NULL;
}

/* RFC 6672 2.4: no data below a DNAME (it could never be answered). */
static void report_below_dname(struct loader *L, const struct znode *d, const uint8_t *owner,
			       unsigned file, unsigned line)
{
	char buf[DNAME_MAXLEN * 4 + 2], dbuf[DNAME_MAXLEN * 4 + 2];
	hold(L, LOG_LEVEL_ERR, file, line,
	     "'%s' is below the DNAME at '%s', which redirects every name "
	     "under it (RFC 6672 2.4)",
	     name_str(owner, buf, sizeof(buf)), name_str(d->name, dbuf, sizeof(dbuf)));
}

/* Problems that need the finished tree: data below a DNAME (errors), glue
 * and hidden data (warnings). */
static void check_tree(struct loader *L, const struct zone *z)
{
	char buf[DNAME_MAXLEN * 4 + 2], msg[DNAME_MAXLEN * 8 + 128];
	const struct znode *n = NULL, *dn = NULL;
	size_t k = 0;
	for (size_t i = 0; L->has_dname && i < L->n_geos; i++) {
		const struct znode *g = zone_node((struct zone *)z, L->geos[i].owner, false);
		const struct znode *d = g != NULL ? dname_above(g) : NULL;
		if (d != NULL)
			report_below_dname(L, d, L->geos[i].owner, L->geos[i].file,
					   L->geos[i].line);
	}
	/* A GEO name at or below a delegation is the child's to answer: the
	 * referral wins, as for any data there. */
	for (size_t i = 0; i < L->n_geos; i++) {
		const struct znode *g = zone_node((struct zone *)z, L->geos[i].owner, false);
		if (g == NULL || !(g->flags & (ZNODE_CUT | ZNODE_OCCLUDED)))
			continue;
		hold(L, LOG_LEVEL_WARNING, L->geos[i].file, L->geos[i].line,
		     "GEO record at '%s' is %s a delegation and will not be served",
		     name_str(L->geos[i].owner, buf, sizeof(buf)),
		     (g->flags & ZNODE_CUT) ? "at" : "below");
	}
	for (size_t i = 0; i < L->n_recs; i++) {
		const struct rec *r = &L->recs[i];
		if (i == 0 || !same_owner(r, r - 1)) {
			n = L->nodes[k++];
			dn = L->has_dname ? dname_above(n) : NULL;
		}
		if (dn != NULL) {
			report_below_dname(L, dn, r->owner, r->file, r->line);
			continue;
		}
		if (n->flags & ZNODE_OCCLUDED) {
			if (r->type != RRTYPE_A && r->type != RRTYPE_AAAA) {
				snprintf(msg, sizeof(msg),
					 "'%s' is below a delegation and will not be served",
					 name_str(r->owner, buf, sizeof(buf)));
				report_at(L, LOG_LEVEL_WARNING, r, NULL, msg);
			}
			continue;
		}
		if (r->type != RRTYPE_NS || !(n->flags & (ZNODE_CUT | ZNODE_APEX)))
			continue;
		if (!dname_is_subdomain(r->rdata, L->apex))
			continue;
		const struct znode *t = zone_node((struct zone *)z, r->rdata, false);
		if (t == NULL ||
		    (znode_rrset(t, RRTYPE_A) == NULL && znode_rrset(t, RRTYPE_AAAA) == NULL)) {
			snprintf(
				msg, sizeof(msg),
				"NS target '%s' has no A or AAAA record in the zone (missing glue)",
				name_str(r->rdata, buf, sizeof(buf)));
			report_at(L, LOG_LEVEL_WARNING, r, NULL, msg);
		}
	}
	report_held(L);
}

static void loader_free(struct loader *L)
{
	arena_free(L->tmp);
	free(L->recs);
	for (size_t i = 0; i < L->n_files; i++)
		free(L->files[i]);
	free(L->files);
	ldns_buffer_free(L->wire);
	free(L->fast);
	free(L->geos);
	free(L->nodes);
	for (size_t i = 0; i < L->n_held; i++)
		free(L->held[i].msg);
	free(L->held);
}

struct zone *zload_file(const char *name, const char *file, const struct zload_dyn *dyn,
			struct diag *d)
{
	return zload_file_at(name, file, dyn, d, NULL, 0);
}

struct zone *zload_file_at(const char *name, const char *file, const struct zload_dyn *dyn,
			   struct diag *d, const char *conf_file, unsigned conf_line)
{
	struct loader L = { .d = d,
			    .errors0 = d->errors,
			    .default_ttl = DEFAULT_TTL,
			    .dyn = dyn,
			    .conf_file = conf_file,
			    .conf_line = conf_line };
	int alen = dname_from_str(name, L.apex);
	if (alen < 0) {
		diag_report(d, LOG_LEVEL_ERR, file, 0, "invalid zone name '%s'", name);
		return NULL;
	}
	dname_tolower(L.apex);
	dname_to_str(L.apex, L.apex_str, sizeof(L.apex_str));
	L.tmp = arena_new();
	L.wire = ldns_buffer_new(4096);
	L.fast = xmalloc(sizeof(*L.fast));
	file_index(&L, file);

	ldns_rdf *origin = NULL;
	struct zone *z = NULL;
	if (ldns_str2rdf_dname(&origin, L.apex_str) != LDNS_STATUS_OK) {
		diag_report(d, LOG_LEVEL_ERR, file, 0, "invalid zone name '%s'", name);
		goto done;
	}
	/* Structural checks only make sense on a file that parsed: an SOA
	 * with a typo would otherwise also be reported as missing. */
	read_file(&L, file, origin, NULL, 0, 0);
	outside_summary(&L);
	if (d->errors == L.errors0) {
		if (L.n_recs > 0)
			sort_recs(&L);
		validate(&L);
	}
	if (d->errors == L.errors0) {
		z = build(&L);
		check_tree(&L, z);
		if (d->errors != L.errors0) {
			zone_free(z);
			z = NULL;
		}
	}
done:
	ldns_rdf_deep_free(origin);
	loader_free(&L);
	return z;
}
