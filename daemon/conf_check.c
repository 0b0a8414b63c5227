/* conf_check.c: a service's 'check:' mapping (health probe parameters). */
#include "config.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/conf_priv.h"
#include "dns/rfile.h"
#include "dns/xalloc.h"

#define CHECK_DEFAULT_INTERVAL_MS 2000
#define CHECK_DEFAULT_TIMEOUT_MS  1000
#define CHECK_DEFAULT_RISE        2
#define CHECK_DEFAULT_FALL        3

/* Keys that belong to some kinds only, so a misplaced one is an error. */
enum { K_HTTP = 1, K_DNS = 2, K_EXEC = 4, K_PORT = 8 };

struct check_ctx {
	struct hc_params *p;
	unsigned used; /* K_* of the keys given */
	unsigned type_line;
	unsigned ca_line; /* of 'ca-file' */
	bool have_type;
	const char *type_name; /* as written */
	/* The first key of each K_* kind given, and its line: a key the
	 * check's type does not use is reported there, by name. */
	const char *first_key[4];
	unsigned first_line[4];
};

/* Key ck (at val) of kind k was given. */
static void mark(struct check_ctx *c, unsigned k, const struct conf_key *ck,
		 const struct cnode *val)
{
	unsigned i = k == K_HTTP ? 0 : k == K_DNS ? 1 : k == K_EXEC ? 2 : 3;
	if (!(c->used & k)) {
		c->first_key[i] = ck->name;
		c->first_line[i] = val->line;
	}
	c->used |= k;
}

/* Seconds as a decimal number ("2", "0.5") in [min_ms, max_ms]. */
static int get_seconds_ms(struct loader *ld, const struct conf_key *ck, const struct cnode *val,
			  unsigned *out)
{
	char desc[64];
	double v;
	if (val->type == CNODE_SCALAR && conf_decimal(val->text, &v) == 0) {
		/* Compared as a double: a huge value must not overflow. */
		double ms = v * 1000 + 0.5;
		if (ms >= (double)ck->min && ms < (double)ck->max + 1) {
			*out = (unsigned)ms;
			return 0;
		}
	}
	conf_error(ld, val->line,
		   "'%s' must be a number of seconds between %g and "
		   "%g, not %s",
		   ck->name, (double)ck->min / 1000, (double)ck->max / 1000,
		   cnode_desc(val, desc, sizeof(desc)));
	return -1;
}

static void set_type(struct loader *ld, const struct conf_key *ck, const struct cnode *key,
		     const struct cnode *val, void *obj)
{
	struct check_ctx *c = obj;
	static const char *const names[] = { "tcp", "http", "https", "dns", "exec" };
	static const enum hc_kind kinds[] = { HC_TCP, HC_HTTP, HC_HTTPS, HC_DNS, HC_EXEC };
	const char *s = get_str(ld, ck, val);
	(void)key;
	if (s == NULL)
		return;
	for (int i = 0; i < 5; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			c->p->kind = kinds[i];
			c->have_type = true;
			c->type_line = val->line;
			c->type_name = names[i];
			return;
		}
	}
	conf_error(ld, val->line, "'type' must be tcp, http, https, dns or exec, not '%s'", s);
}

#define SETTER(fn)                                                                            \
	static void fn(struct loader *ld, const struct conf_key *ck, const struct cnode *key, \
		       const struct cnode *val, void *obj)

SETTER(set_port)
{
	struct check_ctx *c = obj;
	long v;
	(void)key;
	if (get_int(ld, ck, val, &v) == 0)
		c->p->port = (uint16_t)v;
	mark(c, K_PORT, ck, val);
}

SETTER(set_interval)
{
	(void)key;
	get_seconds_ms(ld, ck, val, &((struct check_ctx *)obj)->p->interval_ms);
}

SETTER(set_timeout)
{
	(void)key;
	get_seconds_ms(ld, ck, val, &((struct check_ctx *)obj)->p->timeout_ms);
}

SETTER(set_rise)
{
	long v;
	(void)key;
	if (get_int(ld, ck, val, &v) == 0)
		((struct check_ctx *)obj)->p->rise = (unsigned)v;
}

SETTER(set_fall)
{
	long v;
	(void)key;
	if (get_int(ld, ck, val, &v) == 0)
		((struct check_ctx *)obj)->p->fall = (unsigned)v;
}

SETTER(set_initial)
{
	struct check_ctx *c = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;
	if (s != NULL && strcasecmp(s, "up") == 0)
		c->p->initial_up = true;
	else if (s != NULL && strcasecmp(s, "down") == 0)
		c->p->initial_up = false;
	else if (s != NULL)
		conf_error(ld, val->line, "'initial' must be up or down, not '%s'", s);
}

static void set_text(struct loader *ld, const struct conf_key *ck, const struct cnode *val,
		     struct check_ctx *c, char **dst, unsigned kind)
{
	const char *s = get_str(ld, ck, val);
	mark(c, kind, ck, val);
	if (s == NULL)
		return;
	free(*dst);
	*dst = xstrdup(s);
}

SETTER(set_path)
{
	struct check_ctx *c = obj;
	(void)key;
	set_text(ld, ck, val, c, &c->p->path, K_HTTP);
	if (c->p->path != NULL && c->p->path[0] != '/') {
		conf_error(ld, val->line, "'path' must start with '/'");
		return;
	}
	/* It goes into the request line as it is: a space would split it, a
	 * CR or LF would start a header of its own (RFC 9112 3.2). */
	for (const char *s = c->p->path; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f) {
			conf_error(ld, val->line,
				   "'path' has a space or control character; percent-encode it "
				   "(a space is %%20)");
			break;
		}
}

SETTER(set_host)
{
	struct check_ctx *c = obj;
	(void)key;
	set_text(ld, ck, val, c, &c->p->host, K_HTTP);
	for (const char *s = c->p->host; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '/') {
			conf_error(ld, val->line, "'host' '%s' is not a host name", c->p->host);
			break;
		}
}

SETTER(set_expect)
{
	struct check_ctx *c = obj;
	(void)key;
	set_text(ld, ck, val, c, &c->p->expect, K_HTTP);
}

/* Read by every https probe: one it cannot read fails them all, so say
 * it at its line: missing, unreadable, a directory, or no certificate. */
static void ca_file_check(struct loader *ld, unsigned line, const char *path)
{
	const char *why;
	FILE *fp = rfile_open(path, &why);
	X509 *cert = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	if (fp == NULL)
		conf_error(ld, line, "'ca-file' '%s': %s", path, why);
	else if (cert == NULL)
		conf_error(ld, line, "'ca-file' '%s': no PEM certificate in it", path);
	X509_free(cert);
	if (fp != NULL)
		fclose(fp);
	ERR_clear_error();
}

SETTER(set_ca_file)
{
	struct check_ctx *c = obj;
	(void)key;
	set_text(ld, ck, val, c, &c->p->ca_file, K_HTTP);
	if (c->p->ca_file != NULL) {
		char *abs = path_resolve(ld->path, c->p->ca_file);
		free(c->p->ca_file);
		c->p->ca_file = abs;
		c->ca_line = val->line; /* checked with the whole mapping */
	}
}

SETTER(set_verify)
{
	struct check_ctx *c = obj;
	(void)key;
	mark(c, K_HTTP, ck, val);
	get_bool(ld, ck, val, &c->p->verify_tls);
}

SETTER(set_status)
{
	struct check_ctx *c = obj;
	const struct cnode *const *items;
	size_t n = cnode_items(&val, &items);
	(void)key;
	mark(c, K_HTTP, ck, val);
	if (n == 0) {
		/* An empty list read as "not given" (200): say so instead. */
		conf_error(ld, val->line,
			   "'status' lists no status code; leave it out for the default (200)");
		return;
	}
	free(c->p->status);
	c->p->status = xcalloc(n, sizeof(int));
	c->p->n_status = 0;
	for (size_t i = 0; i < n; i++) {
		long v;
		if (get_int(ld, ck, items[i], &v) == 0)
			c->p->status[c->p->n_status++] = (int)v;
	}
}

SETTER(set_dns_name)
{
	struct check_ctx *c = obj;
	(void)key;
	set_text(ld, ck, val, c, &c->p->dns_name, K_DNS);
	ldns_rdf *name = NULL;
	if (c->p->dns_name != NULL &&
	    (ldns_str2rdf_dname(&name, c->p->dns_name) != LDNS_STATUS_OK ||
	     strstr(c->p->dns_name, "..") != NULL))
		conf_error(ld, val->line, "'name' '%s' is not a domain name", c->p->dns_name);
	ldns_rdf_deep_free(name);
}

SETTER(set_qtype)
{
	struct check_ctx *c = obj;
	const char *s = get_str(ld, ck, val);
	(void)key;
	mark(c, K_DNS, ck, val);
	if (s == NULL)
		return;
	ldns_rr_type t = ldns_get_rr_type_by_name(s);
	if (t == 0)
		conf_error(ld, val->line, "'qtype': unknown record type '%s'", s);
	else
		c->p->dns_type = (uint16_t)t;
}

SETTER(set_rcode)
{
	struct check_ctx *c = obj;
	const char *s = get_str(ld, ck, val);
	static const char *const names[] = { "NOERROR",  "FORMERR", "SERVFAIL",
					     "NXDOMAIN", "NOTIMP",  "REFUSED" };
	(void)key;
	mark(c, K_DNS, ck, val);
	if (s == NULL)
		return;
	for (int i = 0; i < 6; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			c->p->dns_rcode = i;
			return;
		}
	}
	conf_error(ld, val->line,
		   "'rcode' must be NOERROR, FORMERR, SERVFAIL, "
		   "NXDOMAIN, NOTIMP or REFUSED, not '%s'",
		   s);
}

SETTER(set_want_answer)
{
	struct check_ctx *c = obj;
	(void)key;
	mark(c, K_DNS, ck, val);
	get_bool(ld, ck, val, &c->p->dns_want_answer);
}

SETTER(set_command)
{
	struct check_ctx *c = obj;
	char desc[64];
	(void)key, (void)ck;
	mark(c, K_EXEC, ck, val);
	if (val->type != CNODE_SEQ || val->n == 0) {
		conf_error(ld, val->line,
			   "'command' must be a list: program and "
			   "arguments (%%a and %%p stand for the address and port), "
			   "not %s",
			   cnode_desc(val, desc, sizeof(desc)));
		return;
	}
	c->p->argv = xcalloc(val->n + 1, sizeof(char *));
	for (size_t i = 0; i < val->n; i++) {
		if (val->kids[i]->type != CNODE_SCALAR) {
			conf_error(ld, val->kids[i]->line, "'command' entries must be strings");
			continue;
		}
		c->p->argv[c->p->argc++] = xstrdup(val->kids[i]->text);
	}
}

static const struct conf_key check_keys[] = {
	{ .name = "type", .required = true, .set = set_type },
	{ .name = "port", .set = set_port, .min = 1, .max = 65535 },
	{ .name = "interval", .set = set_interval, .min = 100, .max = 3600000 },
	{ .name = "timeout", .set = set_timeout, .min = 10, .max = 600000 },
	{ .name = "rise", .set = set_rise, .min = 1, .max = 100 },
	{ .name = "fall", .set = set_fall, .min = 1, .max = 100 },
	{ .name = "initial", .set = set_initial },
	{ .name = "path", .set = set_path },
	{ .name = "host", .set = set_host },
	{ .name = "status", .set = set_status, .min = 100, .max = 599 },
	{ .name = "expect", .set = set_expect },
	{ .name = "verify-tls", .set = set_verify },
	{ .name = "ca-file", .set = set_ca_file },
	{ .name = "name", .set = set_dns_name },
	{ .name = "qtype", .set = set_qtype },
	{ .name = "rcode", .set = set_rcode },
	{ .name = "want-answer", .set = set_want_answer },
	{ .name = "command", .set = set_command },
	{ .name = NULL },
};

static const struct conf_section check_section = {
	.what = "'check'",
	.where = "in 'check'",
	.keys = check_keys,
};

/* Keys given that the kind does not use, and keys it needs. */
static void check_consistency(struct loader *ld, const struct check_ctx *c, unsigned line)
{
	enum hc_kind k = c->p->kind;
	bool http = k == HC_HTTP || k == HC_HTTPS;
	const char *type = c->type_name != NULL ? c->type_name : "tcp";
	if ((c->used & K_HTTP) && !http)
		conf_error(ld, c->first_line[0],
			   "'%s' applies to http and https checks only, not %s (as do 'path', "
			   "'host', 'status', 'expect', 'verify-tls' and 'ca-file')",
			   c->first_key[0], type);
	if ((c->used & K_DNS) && k != HC_DNS)
		conf_error(ld, c->first_line[1],
			   "'%s' applies to dns checks only, not %s (as do 'name', 'qtype', "
			   "'rcode' and 'want-answer')",
			   c->first_key[1], type);
	if ((c->used & K_EXEC) && k != HC_EXEC)
		conf_error(ld, c->first_line[2], "'command' applies to exec checks only, not %s",
			   type);
	if (k == HC_EXEC && c->p->argc == 0)
		conf_error(ld, line, "an exec check needs 'command'");
	if (k == HC_DNS && c->p->dns_name == NULL)
		conf_error(ld, line, "a dns check needs 'name'");
	if (c->p->timeout_ms > c->p->interval_ms)
		conf_error(ld, line, "'timeout' (%u ms%s) must not exceed 'interval' (%u ms)",
			   c->p->timeout_ms,
			   c->p->timeout_ms == CHECK_DEFAULT_TIMEOUT_MS
				   ? ", the default when not set"
				   : "",
			   c->p->interval_ms);
	if (c->p->ca_file != NULL && !c->p->verify_tls && http)
		conf_warning(ld, line,
			     "'ca-file' is not used: 'verify-tls' is false (the default)");
	else if (c->p->ca_file != NULL && http)
		ca_file_check(ld, c->ca_line, c->p->ca_file);
}

void conf_check_parse(struct loader *ld, const struct cnode *key, const struct cnode *val,
		      struct hc_params *p)
{
	struct check_ctx c = { .p = p };
	hc_params_clear(p);
	p->interval_ms = CHECK_DEFAULT_INTERVAL_MS;
	p->timeout_ms = CHECK_DEFAULT_TIMEOUT_MS;
	p->rise = CHECK_DEFAULT_RISE;
	p->fall = CHECK_DEFAULT_FALL;
	p->initial_up = true;
	p->dns_type = LDNS_RR_TYPE_A;
	unsigned errors = ld->errors;
	walk_map(ld, val, key->line, &check_section, &c);
	if (ld->errors == errors && c.have_type)
		check_consistency(ld, &c, key->line);
	if (p->path == NULL && (p->kind == HC_HTTP || p->kind == HC_HTTPS))
		p->path = xstrdup("/");
	if (p->n_status == 0 && (p->kind == HC_HTTP || p->kind == HC_HTTPS)) {
		free(p->status);
		p->status = xcalloc(1, sizeof(int));
		p->status[0] = 200;
		p->n_status = 1;
	}
}
