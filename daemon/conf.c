/* conf.c: load geodnsd.yaml: libyaml events -> a node tree -> a schema walk. */
#include "config.h"

#include "daemon/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "daemon/conf_priv.h"
#include "dns/rfile.h"
#include "dns/xalloc.h"

/* The tree is built recursively, so nesting is bounded. */
#define CONF_MAX_DEPTH 64
/* identity and version are answered as one TXT character-string (RFC 1035
 * section 3.3.14), which holds at most 255 bytes. */
#define CONF_TXT_MAX 255

/*
 * Stage 1: the YAML document as a small tree of nodes, each with its line.
 */

static void conf_report(struct loader *ld, enum log_level level, unsigned line, const char *fmt,
			va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	diag_report(ld->d, level, ld->path, line, "%s", msg);
}

/* Report one error against the config file and count it. */
void conf_error(struct loader *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_report(ld, LOG_LEVEL_ERR, line, fmt, ap);
	va_end(ap);
	ld->errors++;
}

void conf_warning(struct loader *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_report(ld, LOG_LEVEL_WARNING, line, fmt, ap);
	va_end(ap);
}

static struct cnode *cnode_new(enum cnode_type type, unsigned line)
{
	struct cnode *n = xcalloc(1, sizeof(*n));
	n->type = type;
	n->line = line;
	return n;
}

static void cnode_free(struct cnode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		cnode_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static void cnode_push(struct cnode *n, struct cnode *kid)
{
	if (n->n == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 8;
		n->kids = xrealloc(n->kids, n->cap * sizeof(*n->kids));
	}
	n->kids[n->n++] = kid;
}

/* How a node reads in a message: "'abc'", "a sequence", ... */
const char *cnode_desc(const struct cnode *n, char *buf, size_t size)
{
	switch (n->type) {
	case CNODE_SCALAR:
		snprintf(buf, size, "'%s'", n->text);
		return buf;
	case CNODE_SEQ:
		return "a sequence";
	case CNODE_MAP:
		return "a mapping";
	default:
		return "an empty value";
	}
}

/* The line holding byte offset off: reader errors (bad UTF-8) carry only an
 * offset, and the reader runs ahead of the parser's mark.  0 if unknown. */
static unsigned offset_line(FILE *fp, size_t off)
{
	unsigned line = 1;
	int c;

	if (fp == NULL || fseek(fp, 0, SEEK_SET) != 0)
		return 0;
	for (size_t i = 0; i < off && (c = getc(fp)) != EOF; i++)
		if (c == '\n')
			line++;
	return line;
}

/* What an operator did, for libyaml's "found character that cannot start
 * any token": the character at the mark says. */
static const char *token_hint(FILE *fp, size_t off)
{
	unsigned char c;
	if (fp == NULL || pread(fileno(fp), &c, 1, (off_t)off) != 1)
		return "";
	switch (c) {
	case '\t':
		return "; it is a tab: YAML indents with spaces only";
	case '@':
	case '`':
		return "; YAML reserves '@' and '`' at the start of a value: quote it";
	case '%':
		return "; a value that starts with '%' must be quoted";
	default:
		return "";
	}
}

/* Report libyaml's own error text with the line it points at. */
static void tree_syntax_error(struct loader *ld)
{
	const yaml_parser_t *p = &ld->parser;
	const char *problem = p->problem ? p->problem : "unknown error";

	/* An unclosed quote: libyaml points at the end of the file; the
	 * quote that opens it is the line to look at. */
	if (p->error == YAML_SCANNER_ERROR && p->context != NULL &&
	    strcmp(p->context, "while scanning a quoted scalar") == 0 &&
	    strstr(problem, "end of stream") != NULL) {
		conf_error(ld, p->context_mark.line + 1,
			   "YAML syntax error: a quoted value starts here and is not closed");
		return;
	}
	if (p->error == YAML_SCANNER_ERROR &&
	    strcmp(problem, "found character that cannot start any token") == 0) {
		conf_error(ld, p->problem_mark.line + 1, "YAML syntax error: %s%s", problem,
			   token_hint(ld->fp, p->problem_mark.index));
		return;
	}

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		conf_error(ld, 0, "out of memory while parsing YAML");
		break;
	case YAML_READER_ERROR:
		conf_error(ld, offset_line(ld->fp, p->problem_offset), "cannot read YAML: %s",
			   problem);
		break;
	default:
		if (p->context != NULL)
			conf_error(ld, p->problem_mark.line + 1,
				   "YAML syntax error: %s (%s at line %zu)", problem, p->context,
				   p->context_mark.line + 1);
		else
			conf_error(ld, p->problem_mark.line + 1, "YAML syntax error: %s", problem);
		break;
	}
}

static int tree_next(struct loader *ld, yaml_event_t *ev)
{
	if (yaml_parser_parse(&ld->parser, ev))
		return 0;
	tree_syntax_error(ld);
	return -1;
}

/* Read and drop one structural event (stream or document start or end). */
static int tree_skip(struct loader *ld)
{
	yaml_event_t ev;

	if (tree_next(ld, &ev) < 0)
		return -1;
	yaml_event_delete(&ev);
	return 0;
}

/* Anchors only exist to be aliased, and aliases are refused (below).  A
 * tag ('!addr 192.0.2.1', '!!str 5') would be dropped without a word:
 * nothing here reads one, so it is refused too. */
static void tree_check_props(struct loader *ld, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	if (anchor != NULL)
		conf_error(ld, ev->start_mark.line + 1, "YAML anchors are not supported ('&%s')",
			   (const char *)anchor);
	if (tag != NULL) {
		/* libyaml gives '!!str' expanded: show it as written. */
		static const char core[] = "tag:yaml.org,2002:";
		const char *t = (const char *)tag;
		bool is_core = strncmp(t, core, sizeof(core) - 1) == 0;
		conf_error(ld, ev->start_mark.line + 1,
			   "YAML tags are not supported ('%s%s'): write the value without it",
			   is_core ? "!!" : "", is_core ? t + sizeof(core) - 1 : t);
	}
}

static bool is_null_word(const char *s)
{
	/* YAML 1.2 core schema null; only for plain (unquoted) scalars. */
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static struct cnode *tree_scalar(struct loader *ld, const yaml_event_t *ev)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	unsigned line = ev->start_mark.line + 1;
	struct cnode *n;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_word(value))
		return cnode_new(CNODE_NULL, line);
	if (memchr(value, '\0', len) != NULL) {
		conf_error(ld, line, "value contains a NUL byte");
		return cnode_new(CNODE_BAD, line);
	}
	n = cnode_new(CNODE_SCALAR, line);
	n->text = xstrndup(value, len);
	return n;
}

static struct cnode *tree_node(struct loader *ld, yaml_event_t *ev, int depth);

static struct cnode *tree_seq(struct loader *ld, unsigned line, int depth)
{
	struct cnode *seq = cnode_new(CNODE_SEQ, line), *item;
	yaml_event_t ev;

	for (;;) {
		if (tree_next(ld, &ev) < 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return seq;
		}
		item = tree_node(ld, &ev, depth + 1);
		if (item == NULL)
			goto fail;
		cnode_push(seq, item);
	}
fail:
	cnode_free(seq);
	return NULL;
}

/* Add one pair to a mapping; bad or duplicate keys are reported and the pair
 * dropped, so the walk still sees every other key. */
static void tree_map_add(struct loader *ld, struct cnode *map, struct cnode *key, struct cnode *val)
{
	char desc[64];

	if (key->type != CNODE_SCALAR) {
		if (key->type != CNODE_BAD)
			conf_error(ld, key->line, "mapping key must be a string, not %s",
				   cnode_desc(key, desc, sizeof(desc)));
		goto drop;
	}
	for (size_t i = 0; i < map->n; i += 2) {
		const struct cnode *old = map->kids[i];
		if (strcmp(old->text, key->text) == 0) {
			conf_error(ld, key->line, "duplicate key '%s' (first at line %u)",
				   key->text, old->line);
			goto drop;
		}
	}
	cnode_push(map, key);
	cnode_push(map, val);
	return;
drop:
	cnode_free(key);
	cnode_free(val);
}

static struct cnode *tree_map(struct loader *ld, unsigned line, int depth)
{
	struct cnode *map = cnode_new(CNODE_MAP, line), *key, *val;
	yaml_event_t ev;

	for (;;) {
		if (tree_next(ld, &ev) < 0)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return map;
		}
		key = tree_node(ld, &ev, depth + 1);
		if (key == NULL)
			goto fail;
		val = NULL;
		if (tree_next(ld, &ev) == 0)
			val = tree_node(ld, &ev, depth + 1);
		if (val == NULL) {
			cnode_free(key);
			goto fail;
		}
		tree_map_add(ld, map, key, val);
	}
fail:
	cnode_free(map);
	return NULL;
}

/* Turn the node event ev (consumed) and what follows it into a node.
 * Returns NULL after a fatal error (syntax, nesting). */
static struct cnode *tree_node(struct loader *ld, yaml_event_t *ev, int depth)
{
	unsigned line = ev->start_mark.line + 1;
	yaml_event_type_t type = ev->type;
	struct cnode *n = NULL;

	if (depth > CONF_MAX_DEPTH) {
		conf_error(ld, line, "nesting deeper than %d levels", CONF_MAX_DEPTH);
		yaml_event_delete(ev);
		return NULL;
	}
	tree_check_props(ld, ev);
	if (type == YAML_SCALAR_EVENT) {
		n = tree_scalar(ld, ev);
	} else if (type == YAML_ALIAS_EVENT) {
		conf_error(ld, line, "YAML aliases are not supported ('*%s')",
			   (const char *)ev->data.alias.anchor);
		n = cnode_new(CNODE_BAD, line);
	} else if (type != YAML_SEQUENCE_START_EVENT && type != YAML_MAPPING_START_EVENT) {
		conf_error(ld, line, "unexpected YAML event %d", (int)type);
	}
	yaml_event_delete(ev);
	if (type == YAML_SEQUENCE_START_EVENT)
		n = tree_seq(ld, line, depth);
	else if (type == YAML_MAPPING_START_EVENT)
		n = tree_map(ld, line, depth);
	return n;
}

/* Parse the one YAML document in fp into *root (NULL for an empty file). */
static int tree_load(struct loader *ld, FILE *fp, struct cnode **root)
{
	yaml_event_t ev;
	int rc = -1;

	*root = NULL;
	if (!yaml_parser_initialize(&ld->parser)) {
		conf_error(ld, 0, "out of memory while parsing YAML");
		return -1;
	}
	ld->fp = fp;
	yaml_parser_set_input_file(&ld->parser, fp);
	if (tree_skip(ld) < 0 || tree_next(ld, &ev) < 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		rc = 0;
		goto out;
	}
	yaml_event_delete(&ev); /* DOCUMENT-START */
	if (tree_next(ld, &ev) < 0)
		goto out;
	*root = tree_node(ld, &ev, 0);
	if (*root == NULL || tree_skip(ld) < 0 || tree_next(ld, &ev) < 0)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		conf_error(ld, ev.start_mark.line + 1, "only one YAML document is allowed");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	rc = 0;
out:
	yaml_parser_delete(&ld->parser);
	if (rc < 0) {
		cnode_free(*root);
		*root = NULL;
	}
	return rc;
}

/*
 * Stage 2: the schema.  Each mapping is a section: a table of keys, each
 * with a setter that checks its value and stores it into obj.
 */

static const struct conf_key *section_find(const struct conf_section *sec, const char *name,
					   size_t *index)
{
	for (size_t i = 0; sec->keys[i].name != NULL; i++) {
		if (strcmp(sec->keys[i].name, name) == 0) {
			*index = i;
			return &sec->keys[i];
		}
	}
	return NULL;
}

/* Edit distance (insertions, deletions, substitutions, transpositions of
 * neighbours) between two short keys, capped: 3 means 3 or more. */
static unsigned key_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 3;
	unsigned d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* The key of sec closest to a misspelt one (at most 2 edits, and fewer
 * than half its length), or NULL. */
static const char *closest_key(const struct conf_section *sec, const char *text)
{
	const char *best = NULL;
	unsigned best_d = 3;
	for (size_t k = 0; sec->keys[k].name != NULL; k++) {
		unsigned d = key_distance(text, sec->keys[k].name);
		if (d < best_d && d * 2 < strlen(sec->keys[k].name)) {
			best = sec->keys[k].name;
			best_d = d;
		}
	}
	return best;
}

/* Walk a mapping against sec.  An empty value is taken as an empty mapping;
 * missing required keys are reported at line. */
void walk_map(struct loader *ld, const struct cnode *map, unsigned line,
	      const struct conf_section *sec, void *obj)
{
	uint64_t seen = 0;
	size_t k;
	char desc[64];

	if (map != NULL && map->type == CNODE_BAD)
		return;
	if (map != NULL && map->type != CNODE_MAP && map->type != CNODE_NULL) {
		conf_error(ld, map->line, "%s must be a mapping, not %s", sec->what,
			   cnode_desc(map, desc, sizeof(desc)));
		return;
	}
	for (size_t i = 0; map != NULL && i < map->n; i += 2) {
		const struct cnode *key = map->kids[i], *val = map->kids[i + 1];
		const struct conf_key *ck = section_find(sec, key->text, &k);
		if (ck == NULL) {
			const char *near = closest_key(sec, key->text);
			conf_error(ld, key->line, "unknown key '%s' %s%s%s%s", key->text,
				   sec->where, near ? " (did you mean '" : "", near ? near : "",
				   near ? "'?)" : "");
			/* A misspelt required key is that one error, not also
			 * "missing required key". */
			if (near != NULL && section_find(sec, near, &k) != NULL)
				seen |= UINT64_C(1) << k;
			continue;
		}
		seen |= UINT64_C(1) << k;
		if (val->type != CNODE_BAD)
			ck->set(ld, ck, key, val, obj);
	}
	for (k = 0; sec->keys[k].name != NULL; k++)
		if (sec->keys[k].required && !(seen & (UINT64_C(1) << k)))
			conf_error(ld, line, "missing required key '%s' %s", sec->keys[k].name,
				   sec->where);
}

size_t cnode_items(const struct cnode *const *slot, const struct cnode *const **items)
{
	if ((*slot)->type == CNODE_SEQ) {
		*items = (const struct cnode *const *)(*slot)->kids;
		return (*slot)->n;
	}
	*items = slot;
	return 1;
}

/* The value as a string, or NULL after reporting why it is not one. */
const char *get_str(struct loader *ld, const struct conf_key *ck, const struct cnode *val)
{
	char desc[64];

	if (val->type == CNODE_SCALAR)
		return val->text;
	conf_error(ld, val->line, "'%s' must be a string, not %s", ck->name,
		   cnode_desc(val, desc, sizeof(desc)));
	return NULL;
}

/* A decimal integer in ck->min..ck->max. */
int get_int(struct loader *ld, const struct conf_key *ck, const struct cnode *val, long *out)
{
	char desc[64], *end;
	const char *s = val->text;
	long v;

	/* strtol alone would take " 12", "+12" and "0x1f". */
	if (val->type == CNODE_SCALAR && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= ck->min && v <= ck->max) {
			*out = v;
			return 0;
		}
	}
	conf_error(ld, val->line, "'%s' must be an integer between %ld and %ld, not %s", ck->name,
		   ck->min, ck->max, cnode_desc(val, desc, sizeof(desc)));
	return -1;
}

/* A number as YAML 1.2's core schema writes one: [-+]? digits with an
 * optional fraction and exponent, ".5" too.  strtod() alone would also
 * take hex ("0x1p4" is 16), "inf", "nan" and leading blanks. */
int conf_decimal(const char *s, double *out)
{
	const char *p = s + (*s == '-' || *s == '+');
	size_t digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p += 1 + (p[1] == '-' || p[1] == '+');
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return -1;
	/* Only an overflow is refused: 1e-400 is a valid way to write 0. */
	double v = strtod(s, NULL);
	if (!isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* server.listen: "ADDR" or "ADDR@PORT" with an IPv4 or IPv6 literal; an
 * IPv6 literal may be in brackets, as URLs write it ("[::1]@5300"). */
int conf_sockaddr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *ss,
			socklen_t *len, const char **why)
{
	const char *at = strrchr(text, '@');
	size_t hlen = at != NULL ? (size_t)(at - text) : strlen(text);
	char host[INET6_ADDRSTRLEN], *end;
	unsigned long port = default_port;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (at != NULL) {
		errno = 0;
		port = strtoul(at + 1, &end, 10);
		if (at[1] < '0' || at[1] > '9' || *end != '\0' || errno != 0 || port == 0 ||
		    port > 65535) {
			*why = "invalid port";
			return -1;
		}
	}
	memset(ss, 0, sizeof(*ss));
	if (hlen > 2 && text[0] == '[' && text[hlen - 1] == ']' && hlen - 2 < sizeof(host)) {
		memcpy(host, text + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			*len = sizeof(*sin6);
			return 0;
		}
	} else if (hlen > 0 && hlen < sizeof(host)) {
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			*len = sizeof(*sin);
			return 0;
		}
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			*len = sizeof(*sin6);
			return 0;
		}
	}
	*why = "invalid address (need an IPv4 or IPv6 literal)";
	return -1;
}

static int listen_parse(struct loader *ld, const struct cnode *item, struct conf_listen *l)
{
	const char *why;
	if (conf_sockaddr_parse(item->text, CONF_DEFAULT_PORT, &l->addr, &l->addr_len, &why) == 0)
		return 0;
	if (strcmp(why, "invalid port") == 0) {
		conf_error(ld, item->line, "'listen' entry '%s': invalid port", item->text);
	} else {
		const char *at = strrchr(item->text, '@');
		int hlen = at ? (int)(at - item->text) : (int)strlen(item->text);
		conf_error(ld, item->line,
			   "'listen' entry '%s': invalid address '%.*s' "
			   "(need an IPv4 or IPv6 literal)",
			   item->text, hlen, item->text);
	}
	return -1;
}

static void listen_add(struct loader *ld, struct conf *conf, const struct cnode *item)
{
	struct conf_listen l = { .line = item->line };

	if (listen_parse(ld, item, &l) < 0)
		return;
	for (size_t i = 0; i < conf->n_listen; i++) {
		const struct conf_listen *old = &conf->listen[i];
		if (old->addr_len == l.addr_len && memcmp(&old->addr, &l.addr, l.addr_len) == 0) {
			conf_error(ld, item->line, "'listen' entry '%s' repeats '%s' (line %u)",
				   item->text, old->text, old->line);
			return;
		}
	}
	l.text = xstrdup(item->text);
	conf->listen = xrealloc(conf->listen, (conf->n_listen + 1) * sizeof(*conf->listen));
	conf->listen[conf->n_listen++] = l;
}

static void set_listen(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		       const struct cnode *val, void *obj)
{
	char desc[64];
	(void)ck;
	(void)key;

	if (val->type == CNODE_SCALAR) {
		listen_add(ld, obj, val);
		return;
	}
	if (val->type != CNODE_SEQ) {
		conf_error(ld, val->line,
			   "'listen' must be an address or a sequence of "
			   "addresses, not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	if (val->n == 0)
		conf_error(ld, val->line, "'listen' needs at least one address");
	for (size_t i = 0; i < val->n; i++) {
		const struct cnode *item = val->kids[i];
		if (item->type == CNODE_SCALAR)
			listen_add(ld, obj, item);
		else if (item->type != CNODE_BAD)
			conf_error(ld, item->line, "'listen' entry must be a string, not %s",
				   cnode_desc(item, desc, sizeof(desc)));
	}
}

/* identity and version: one TXT string; identity may not be empty. */
static void set_txt(struct loader *ld, const struct conf_key *ck, const struct cnode *val,
		    char **field, bool empty_ok)
{
	const char *s = get_str(ld, ck, val);

	if (s == NULL)
		return;
	if (!empty_ok && s[0] == '\0') {
		conf_error(ld, val->line, "'%s' must not be empty", ck->name);
		return;
	}
	if (strlen(s) > CONF_TXT_MAX) {
		conf_error(ld, val->line, "'%s' is longer than %d bytes", ck->name, CONF_TXT_MAX);
		return;
	}
	/* One line of text, as dig shows it ('identity: |' keeps a line
	 * break, which a TXT string would carry as \010). */
	for (const char *c = s; *c != '\0'; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f) {
			conf_error(ld, val->line,
				   "'%s' has a line break or control character; it is one line of "
				   "text",
				   ck->name);
			return;
		}
	free(*field);
	*field = xstrdup(s);
}

static void set_identity(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			 const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	(void)key;
	set_txt(ld, ck, val, &conf->identity, false);
}

static void set_version(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	(void)key;
	set_txt(ld, ck, val, &conf->version, true);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The hex digits of an "0x..." nsid into buf; returns the byte count, or
 * -1 after reporting. */
static long nsid_parse_hex(struct loader *ld, const struct cnode *val, const char *hex,
			   uint8_t *buf)
{
	size_t digits = strlen(hex), n = digits / 2;

	if (digits == 0 || digits % 2 != 0) {
		conf_error(ld, val->line,
			   "'nsid' '%s': hex value needs an "
			   "even, non-zero number of digits",
			   val->text);
		return -1;
	}
	if (n > CONF_NSID_MAX) {
		conf_error(ld, val->line, "'nsid' is longer than %d bytes", CONF_NSID_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *pair = hex + 2 * i;
		int hi = hex_digit(pair[0]), lo = hex_digit(pair[1]);
		if (hi < 0 || lo < 0) {
			conf_error(ld, val->line, "'nsid' '%s': invalid hex digit '%c'", val->text,
				   pair[hi >= 0]);
			return -1;
		}
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)n;
}

/* "0x..." is hex; anything else is the bytes of the string itself. */
static long nsid_parse(struct loader *ld, const struct cnode *val, uint8_t *buf)
{
	const char *s = val->text;
	size_t n = strlen(s);

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return nsid_parse_hex(ld, val, s + 2, buf);
	if (n == 0) {
		conf_error(ld, val->line, "'nsid' must not be empty");
		return -1;
	}
	if (n > CONF_NSID_MAX) {
		conf_error(ld, val->line, "'nsid' is longer than %d bytes", CONF_NSID_MAX);
		return -1;
	}
	memcpy(buf, s, n);
	return (long)n;
}

static void set_nsid(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		     const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	uint8_t buf[CONF_NSID_MAX];
	long len;
	(void)key;

	if (get_str(ld, ck, val) == NULL)
		return;
	len = nsid_parse(ld, val, buf);
	if (len < 0)
		return;
	memcpy(conf->nsid, buf, (size_t)len);
	conf->nsid_len = (size_t)len;
}

static void set_log_level(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			  const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	enum log_level level;
	(void)key;

	if (s == NULL)
		return;
	if (log_level_parse(s, &level) < 0) {
		conf_error(ld, val->line,
			   "'log-level' must be one of error, "
			   "warning, notice, info, debug, not '%s'",
			   s);
		return;
	}
	conf->log_level = (int)level;
}

/* A zone name: labels of 1..63 bytes, at most 255 bytes in wire form
 * (RFC 1035 section 2.3.4).  Returns NULL or what is wrong. */
static const char *zone_name_check(const char *name)
{
	size_t wire = 1, label = 0;

	if (strcmp(name, ".") == 0)
		return NULL;
	for (const char *p = name;; p++) {
		if (*p != '.' && *p != '\0') {
			unsigned char c = (unsigned char)*p;
			if (c <= ' ' || c == 0x7f)
				return "contains a space or control character";
			if (c == '\\')
				return "escapes are not supported";
			label++;
			continue;
		}
		if (label == 0 && !(*p == '\0' && p > name))
			return "empty label";
		if (label > 63)
			return "label longer than 63 bytes";
		wire += label + (label > 0);
		label = 0;
		if (*p == '\0')
			break;
	}
	return wire > 255 ? "name longer than 255 bytes" : NULL;
}

static void set_zone_name(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			  const struct cnode *val, void *obj)
{
	struct conf_zone *z = obj;
	const char *s = get_str(ld, ck, val), *why;
	(void)key;

	if (s == NULL)
		return;
	why = zone_name_check(s);
	if (why != NULL) {
		conf_error(ld, val->line, "invalid zone name '%s': %s", s, why);
		return;
	}
	free(z->name);
	z->name = xstrdup(s);
}

/* A relative path is taken from the directory of the config file. */
char *path_resolve(const char *conf_path, const char *file)
{
	const char *slash = strrchr(conf_path, '/');
	size_t dlen, flen = strlen(file);
	char *out;

	if (file[0] == '/' || slash == NULL)
		return xstrdup(file);
	dlen = (size_t)(slash - conf_path) + 1;
	out = xmalloc(dlen + flen + 1);
	memcpy(out, conf_path, dlen);
	memcpy(out + dlen, file, flen + 1);
	return out;
}

static void set_zone_file(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			  const struct cnode *val, void *obj)
{
	struct conf_zone *z = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;

	if (s == NULL)
		return;
	if (s[0] == '\0') {
		conf_error(ld, val->line, "'file' must not be empty");
		return;
	}
	free(z->file);
	z->file = path_resolve(ld->path, s);
	z->file_line = val->line;
}

static const struct conf_key zone_keys[] = {
	{ .name = "name", .required = true, .set = set_zone_name },
	{ .name = "file", .required = true, .set = set_zone_file },
	{ .name = NULL },
};

static const struct conf_section zone_section = {
	.what = "zone entry",
	.where = "in zone entry",
	.keys = zone_keys,
};

/* Names compare without case and without a trailing dot. */
static bool zone_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static void zone_entry(struct loader *ld, struct conf *conf, const struct cnode *item)
{
	struct conf_zone z = { .line = item->line };

	walk_map(ld, item, item->line, &zone_section, &z);
	if (z.name == NULL || z.file == NULL)
		goto drop;
	for (size_t i = 0; i < conf->n_zones; i++) {
		if (zone_name_eq(conf->zones[i].name, z.name)) {
			conf_error(ld, z.line, "duplicate zone '%s' (first at line %u)", z.name,
				   conf->zones[i].line);
			goto drop;
		}
	}
	conf->zones = xrealloc(conf->zones, (conf->n_zones + 1) * sizeof(*conf->zones));
	conf->zones[conf->n_zones++] = z;
	return;
drop:
	free(z.name);
	free(z.file);
}

static void set_zones(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		      const struct cnode *val, void *obj)
{
	char desc[64];
	(void)ck;

	if (val->type == CNODE_NULL || (val->type == CNODE_SEQ && val->n == 0)) {
		conf_error(ld, key->line, "'zones' needs at least one zone");
		return;
	}
	if (val->type != CNODE_SEQ) {
		conf_error(ld, val->line,
			   "'zones' must be a sequence of zone "
			   "entries, not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	for (size_t i = 0; i < val->n; i++)
		zone_entry(ld, obj, val->kids[i]);
}

static void set_log_target(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			   const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	enum log_target t;
	(void)key;

	if (s == NULL)
		return;
	if (log_target_parse(s, &t) < 0) {
		conf_error(ld, val->line,
			   "'log-target' must be stderr or "
			   "syslog, not '%s'",
			   s);
		return;
	}
	conf->log_target = (int)t;
}

/* YAML 1.1 and 1.2 spellings of a boolean, as health checks take them. */
int get_bool(struct loader *ld, const struct conf_key *ck, const struct cnode *val, bool *out)
{
	char desc[64];
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no",
										  "off" };
	for (int i = 0; val->type == CNODE_SCALAR && i < 3; i++) {
		if (strcasecmp(val->text, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(val->text, no[i]) == 0)
			return *out = false, 0;
	}
	conf_error(ld, val->line, "'%s' must be true or false, not %s", ck->name,
		   cnode_desc(val, desc, sizeof(desc)));
	return -1;
}

void conf_set_uint(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		   const struct cnode *val, void *obj)
{
	long v;
	(void)key;
	if (get_int(ld, ck, val, &v) == 0)
		*(unsigned *)((char *)obj + ck->offset) = (unsigned)v * (ck->scale ? ck->scale : 1);
}

void conf_set_u16(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		  const struct cnode *val, void *obj)
{
	long v;
	(void)key;
	if (get_int(ld, ck, val, &v) == 0)
		*(uint16_t *)((char *)obj + ck->offset) = (uint16_t)v;
}

void conf_set_section(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		      const struct cnode *val, void *obj)
{
	walk_map(ld, val, key->line, ck->section, obj);
}

void conf_set_bool(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		   const struct cnode *val, void *obj)
{
	(void)key;
	get_bool(ld, ck, val, (bool *)((char *)obj + ck->offset));
}

static void set_cookie_secret(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			      const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;
	if (s == NULL)
		return;
	/* RFC 9018 5: servers of one anycast cluster share a 128-bit secret. */
	if (strlen(s) != 32) {
		conf_error(ld, val->line,
			   "'cookie-secret' must be 32 hex digits "
			   "(128 bits), not '%s'",
			   s);
		return;
	}
	for (int i = 0; i < 16; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			conf_error(ld, val->line,
				   "'cookie-secret' must be 32 hex "
				   "digits, not '%s'",
				   s);
			return;
		}
		conf->cookie_secret[i] = (uint8_t)(hi << 4 | lo);
	}
	conf->cookie_secret_set = true;
}

/* Names are resolved when the file is loaded, so --check reports an
 * unknown user and a reload never looks one up on the answering side.
 * getpw*_r: reloads load on their own thread. */
static void set_user(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		     const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	struct passwd pw, *found = NULL;
	char buf[4096];
	(void)key;

	if (s == NULL)
		return;
	int e = s[0] != '\0' ? getpwnam_r(s, &pw, buf, sizeof(buf), &found) : 0;
	if (found == NULL) {
		conf_error(ld, val->line, "'user' '%s': %s", s,
			   e != 0 ? strerror(e) : "no such user");
		return;
	}
	free(conf->user);
	conf->user = xstrdup(s);
	conf->uid = pw.pw_uid;
	if (conf->group == NULL)
		conf->gid = pw.pw_gid;
}

static void set_group(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		      const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	struct group gr, *found = NULL;
	char buf[16384];
	(void)key;

	if (s == NULL)
		return;
	conf->group_line = val->line;
	int e = s[0] != '\0' ? getgrnam_r(s, &gr, buf, sizeof(buf), &found) : 0;
	if (found == NULL) {
		conf_error(ld, val->line, "'group' '%s': %s", s,
			   e != 0 ? strerror(e) : "no such group");
		return;
	}
	free(conf->group);
	conf->group = xstrdup(s);
	conf->gid = gr.gr_gid;
}

static const struct conf_key server_keys[] = {
	{ .name = "listen", .required = true, .set = set_listen },
	{ .name = "identity", .set = set_identity },
	{ .name = "version", .set = set_version },
	{ .name = "nsid", .set = set_nsid },
	{ .name = "udp-max-payload",
	  .set = conf_set_u16,
	  .min = 512,
	  .max = 4096,
	  .offset = offsetof(struct conf, udp_max_payload) },
	{ .name = "tcp-max-connections",
	  .set = conf_set_uint,
	  .min = 1,
	  .max = 1000000,
	  .offset = offsetof(struct conf, tcp_max_connections) },
	{ .name = "tcp-idle-timeout",
	  .set = conf_set_uint,
	  .min = 1,
	  .max = 3600,
	  .offset = offsetof(struct conf, tcp_idle_timeout_ms),
	  .scale = 1000 },
	{ .name = "log-level", .set = set_log_level },
	{ .name = "workers",
	  .set = conf_set_uint,
	  .min = 0,
	  .max = 256,
	  .offset = offsetof(struct conf, workers) },
	{ .name = "log-target", .set = set_log_target },
	{ .name = "query-log", .set = conf_set_bool, .offset = offsetof(struct conf, query_log) },
	{ .name = "freebind", .set = conf_set_bool, .offset = offsetof(struct conf, freebind) },
	{ .name = "cookies", .set = conf_set_bool, .offset = offsetof(struct conf, cookies) },
	{ .name = "cookie-secret", .set = set_cookie_secret },
	{ .name = "rate-limit",
	  .set = conf_set_uint,
	  .min = 0,
	  .max = 1000000,
	  .offset = offsetof(struct conf, rate_limit) },
	{ .name = "rate-limit-slip",
	  .set = conf_set_uint,
	  .min = 0,
	  .max = 100,
	  .offset = offsetof(struct conf, rate_limit_slip) },
	{ .name = "rate-limit-ipv4-prefix",
	  .set = conf_set_uint,
	  .min = 8,
	  .max = 32,
	  .offset = offsetof(struct conf, rate_limit_v4_prefix) },
	{ .name = "rate-limit-ipv6-prefix",
	  .set = conf_set_uint,
	  .min = 16,
	  .max = 128,
	  .offset = offsetof(struct conf, rate_limit_v6_prefix) },
	{ .name = "user", .set = set_user },
	{ .name = "group", .set = set_group },
	{ .name = NULL },
};

static const struct conf_section server_section = {
	.what = "'server'",
	.where = "in 'server'",
	.keys = server_keys,
};

static void set_server(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		       const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	(void)ck;
	walk_map(ld, val, key->line, &server_section, obj);
	/* Root keeps the power to become root again: a group alone drops
	 * nothing. */
	if (conf->group != NULL && conf->user == NULL)
		conf_error(ld, conf->group_line, "'group' needs 'user' in 'server'");
}

static void set_state_file(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
			   const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;
	if (s == NULL)
		return;
	free(conf->state_file);
	conf->state_file = path_resolve(ld->path, s);
	/* A missing file is no overrides, but a missing directory means
	 * geodnsd-force cannot create it there when it is needed. */
	char *dir = xstrdup(conf->state_file), *slash = strrchr(dir, '/');
	struct stat st;
	if (slash != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		const char *why = stat(dir, &st) < 0
					  ? (errno == ENOENT ? "does not exist" : strerror(errno))
				  : !S_ISDIR(st.st_mode) ? "is not a directory"
							 : NULL;
		if (why != NULL)
			conf_warning(ld, val->line,
				     "state-file '%s': '%s' %s, so geodnsd-force cannot create "
				     "the file",
				     conf->state_file, dir, why);
	}
	free(dir);
}

static const struct conf_key healthcheck_keys[] = {
	{ .name = "state-file", .set = set_state_file },
	{ .name = NULL },
};

static const struct conf_section healthcheck_section = {
	.what = "'healthcheck'",
	.where = "in 'healthcheck'",
	.keys = healthcheck_keys,
};

static void set_metrics_listen(struct loader *ld, const struct conf_key *ck,
			       const struct cnode *key, const struct cnode *val, void *obj)
{
	struct conf *conf = obj;
	const char *why, *s = get_str(ld, ck, val);
	(void)key;
	if (s == NULL)
		return;
	if (conf_sockaddr_parse(s, 9153, &conf->metrics.addr, &conf->metrics.addr_len, &why) < 0) {
		conf_error(ld, val->line, "'metrics' 'listen' '%s': %s", s, why);
		return;
	}
	free(conf->metrics.text);
	conf->metrics.text = xstrdup(s);
	conf->metrics.line = val->line;
	conf->metrics_on = true;
}

static const struct conf_key metrics_keys[] = {
	{ .name = "listen", .required = true, .set = set_metrics_listen },
	{ .name = NULL },
};

static const struct conf_section metrics_section = {
	.what = "'metrics'",
	.where = "in 'metrics'",
	.keys = metrics_keys,
};

static const struct conf_key top_keys[] = {
	{ .name = "server", .required = true, .set = set_server },
	{ .name = "zones", .required = true, .set = set_zones },
	{ .name = "geoip", .set = conf_set_section, .section = &conf_geo_geoip_section },
	{ .name = "datacenters", .set = conf_geo_set_skip },
	{ .name = "services", .set = conf_geo_set_services },
	{ .name = "routing", .set = conf_set_section, .section = &conf_geo_routing_section },
	{ .name = "healthcheck", .set = conf_set_section, .section = &healthcheck_section },
	{ .name = "metrics", .set = conf_set_section, .section = &metrics_section },
	{ .name = NULL },
};

static const struct conf_section top_section = {
	.what = "the top level",
	.where = "at the top level",
	.keys = top_keys,
};

/*
 * Stage 3: defaults and the public entry points.
 */

static struct conf *conf_new(const char *path)
{
	struct conf *conf = xcalloc(1, sizeof(*conf));

	conf->path = xstrdup(path);
	conf->udp_max_payload = CONF_DEFAULT_UDP_MAX_PAYLOAD;
	conf->tcp_max_connections = CONF_DEFAULT_TCP_MAX_CONNECTIONS;
	conf->tcp_idle_timeout_ms = CONF_DEFAULT_TCP_IDLE_TIMEOUT_MS;
	conf->log_level = LOG_LEVEL_INFO;
	conf->cookies = true;
	conf->rate_limit_slip = 2;
	conf->rate_limit_v4_prefix = 24;
	conf->rate_limit_v6_prefix = 56;
	conf->log_target = LOG_TARGET_STDERR;
	return conf;
}

/* Fill in the defaults that are not constants. */
static void conf_defaults(struct conf *conf)
{
	char host[256];

	if (conf->identity == NULL) {
		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "geodnsd");
		host[sizeof(host) - 1] = '\0';
		conf->identity = xstrdup(host);
	}
	if (conf->version == NULL)
		conf->version = xstrdup("geodnsd " PACKAGE_VERSION);
}

static FILE *conf_open(struct loader *ld)
{
	const char *why;
	FILE *fp = rfile_open(ld->path, &why);
	if (fp == NULL)
		conf_error(ld, 0, "%s", why);
	return fp;
}

int conf_load(const char *path, struct conf **out, struct diag *d)
{
	struct loader ld = { .path = path, .d = d };
	struct cnode *root = NULL;
	FILE *fp = conf_open(&ld);

	if (fp == NULL)
		return -1;
	if (tree_load(&ld, fp, &root) == 0 && (root == NULL || root->type == CNODE_NULL)) {
		/* Nothing but comments, or nothing at all. */
		conf_error(&ld, 0,
			   "the file is empty: it needs 'server' (with 'listen') and "
			   "'zones' (examples/geodnsd.yaml shows them)");
	} else if (ld.errors == 0) {
		ld.conf = conf_new(path);
		conf_geo_datacenters(&ld, root, ld.conf);
		walk_map(&ld, root, 0, &top_section, ld.conf);
		conf_defaults(ld.conf);
		/* Geo routing needs datacenters; without them the database is
		 * never read, which --check should not pass over in silence. */
		if (ld.conf->geo.database != NULL && ld.conf->geo.n_dcs == 0)
			conf_warning(&ld, ld.conf->geo.database_line,
				     "'geoip' is not used: there are no 'datacenters', so the "
				     "database is not read");
		for (size_t i = 0; i < ld.conf->n_listen; i++)
			ld.conf->listen[i].freebind = ld.conf->freebind;
	}
	fclose(fp);
	cnode_free(root);
	if (ld.errors > 0) {
		conf_free(ld.conf);
		return -1;
	}
	*out = ld.conf;
	return 0;
}

void conf_free(struct conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->n_listen; i++)
		free(conf->listen[i].text);
	free(conf->listen);
	for (size_t i = 0; i < conf->n_zones; i++) {
		free(conf->zones[i].name);
		free(conf->zones[i].file);
	}
	free(conf->zones);
	geo_conf_clear(&conf->geo);
	free(conf->state_file);
	free(conf->metrics.text);
	free(conf->identity);
	free(conf->version);
	free(conf->user);
	free(conf->group);
	free(conf->path);
	free(conf);
}
