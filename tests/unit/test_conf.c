/* test_conf.c: unit tests for daemon/conf.c, the geodnsd.yaml loader. */
#include "config.h"

#include "daemon/conf.h"
#include "daemon/conf_priv.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tap.h"

static char fixture_dir[PATH_MAX];
static char tmp_dir[] = "/tmp/test_conf.XXXXXX";

static const char *fixture(const char *name)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

/* Write text to a file in tmp_dir and return its path. */
static const char *tmp_conf(const char *name, const char *text)
{
	static char path[sizeof(tmp_dir) + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	fp = fopen(path, "w");
	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void tmp_remove(const char *name)
{
	char path[sizeof(tmp_dir) + 64];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	unlink(path);
}

/* conf_load with print=1 and stderr captured into buf. */
static int load_capture(const char *path, struct conf **out, struct diag *d, char *buf, size_t size)
{
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	if (tmp == NULL) {
		perror("tmpfile");
		exit(1);
	}
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	rc = conf_load(path, out, d);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, size - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return rc;
}

static uint16_t sa_port(const struct conf_listen *l)
{
	if (l->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

static const char *sa_host(const struct conf_listen *l)
{
	static char buf[INET6_ADDRSTRLEN];
	const void *a;

	if (l->addr.ss_family == AF_INET)
		a = &((const struct sockaddr_in *)&l->addr)->sin_addr;
	else
		a = &((const struct sockaddr_in6 *)&l->addr)->sin6_addr;
	return inet_ntop(l->addr.ss_family, a, buf, sizeof(buf));
}

static void test_full(void)
{
	struct diag d = { .print = 1 };
	struct conf *c = NULL;
	char want[PATH_MAX + 64], out[4096];
	const char *path = fixture("full.yaml");

	IS_INT(load_capture(path, &c, &d, out, sizeof(out)), 0, "full: loads");
	IS_INT(d.errors, 0, "full: no errors");
	IS_STR(out, "", "full: nothing printed");
	if (c == NULL)
		return;
	IS_STR(c->path, path, "full: path kept");
	IS_INT(c->n_listen, 3, "full: three listen addresses");
	if (c->n_listen == 3) {
		IS_STR(c->listen[0].text, "127.0.0.1@5353", "listen[0] text");
		IS_INT(c->listen[0].addr.ss_family, AF_INET, "listen[0] AF");
		IS_INT(c->listen[0].addr_len, sizeof(struct sockaddr_in), "listen[0] addr_len");
		IS_STR(sa_host(&c->listen[0]), "127.0.0.1", "listen[0] addr");
		IS_INT(sa_port(&c->listen[0]), 5353, "listen[0] port");
		IS_INT(c->listen[0].line, 3, "listen[0] line");
		IS_INT(c->listen[1].addr.ss_family, AF_INET6, "listen[1] AF");
		IS_INT(c->listen[1].addr_len, sizeof(struct sockaddr_in6), "listen[1] addr_len");
		IS_STR(sa_host(&c->listen[1]), "::1", "listen[1] address");
		IS_INT(sa_port(&c->listen[1]), 5353, "listen[1] port");
		IS_STR(sa_host(&c->listen[2]), "192.0.2.1", "listen[2] addr");
		IS_INT(sa_port(&c->listen[2]), 53, "listen[2] default port");
	}
	IS_STR(c->identity, "ns1.example.net", "full: identity");
	IS_STR(c->version, "geodnsd test", "full: version");
	IS_INT(c->nsid_len, 3, "full: nsid hex length");
	OK(memcmp(c->nsid, "ns1", 3) == 0, "full: nsid hex bytes");
	IS_INT(c->udp_max_payload, 1400, "full: udp-max-payload");
	IS_INT(c->tcp_max_connections, 1000, "full: tcp-max-connections");
	IS_INT(c->tcp_idle_timeout_ms, 30000, "full: tcp-idle-timeout in ms");
	IS_INT(c->log_level, LOG_LEVEL_DEBUG, "full: log-level");
	IS_INT(c->n_zones, 3, "full: three zones");
	if (c->n_zones == 3) {
		IS_STR(c->zones[0].name, "example.com", "zone[0] name");
		snprintf(want, sizeof(want), "%s/example.com.zone", fixture_dir);
		IS_STR(c->zones[0].file, want, "zone[0] file beside config");
		IS_INT(c->zones[0].line, 12, "zone[0] line");
		IS_STR(c->zones[1].name, "example.org.", "zone[1] name as is");
		IS_STR(c->zones[1].file, "/var/lib/geodnsd/example.org.zone",
		       "zone[1] absolute file unchanged");
		IS_INT(c->zones[1].line, 14, "zone[1] line");
		snprintf(want, sizeof(want), "%s/zones/sub.zone", fixture_dir);
		IS_STR(c->zones[2].file, want, "zone[2] relative subdirectory");
	}
	conf_free(c);
}

static void test_minimal(void)
{
	struct diag d = { .print = 0 };
	struct conf *c = NULL;
	char host[256] = "";

	IS_INT(conf_load(fixture("minimal.yaml"), &c, &d), 0, "minimal: loads");
	if (c == NULL)
		return;
	IS_INT(c->n_listen, 1, "minimal: a single string is one address");
	IS_INT(sa_port(&c->listen[0]), CONF_DEFAULT_PORT, "minimal: port 53");
	gethostname(host, sizeof(host) - 1);
	IS_STR(c->identity, host, "minimal: identity defaults to the hostname");
	IS_STR(c->version, "geodnsd " PACKAGE_VERSION, "minimal: version");
	IS_INT(c->nsid_len, 0, "minimal: no nsid");
	IS_INT(c->udp_max_payload, CONF_DEFAULT_UDP_MAX_PAYLOAD,
	       "minimal: udp-max-payload default");
	IS_INT(c->tcp_max_connections, CONF_DEFAULT_TCP_MAX_CONNECTIONS,
	       "minimal: tcp-max-connections default");
	IS_INT(c->tcp_idle_timeout_ms, CONF_DEFAULT_TCP_IDLE_TIMEOUT_MS,
	       "minimal: tcp-idle-timeout default");
	IS_INT(c->log_level, LOG_LEVEL_INFO, "minimal: log-level default");
	IS_INT(c->n_zones, 1, "minimal: one zone (flow mapping)");
	conf_free(c);
}

static void test_nsid_string(void)
{
	struct diag d = { .print = 0 };
	struct conf *c = NULL;

	IS_INT(conf_load(fixture("nsid-string.yaml"), &c, &d), 0, "nsid-string: loads");
	if (c == NULL)
		return;
	IS_INT(c->nsid_len, 7, "nsid string length");
	OK(memcmp(c->nsid, "ns1-fra", 7) == 0, "nsid string bytes");
	IS_STR(c->version, "", "version \"\" kept (refuse version queries)");
	IS_INT(c->n_listen, 2, "listen block sequence");
	IS_INT(c->listen[0].addr.ss_family, AF_INET6, "'::' is IPv6");
	IS_INT(sa_port(&c->listen[0]), 53, "'::' gets port 53");
	IS_STR(sa_host(&c->listen[1]), "0.0.0.0", "0.0.0.0@53 address");
	IS_STR(c->zones[0].name, ".", "the root zone is a valid name");
	conf_free(c);
}

/* The shipped example must stay valid. */
static void test_example(const char *top)
{
	struct diag d = { .print = 1 };
	struct conf *c = NULL;
	char path[PATH_MAX + 64], out[4096];

	snprintf(path, sizeof(path), "%s/examples/geodnsd.yaml", top);
	IS_INT(load_capture(path, &c, &d, out, sizeof(out)), 0, "examples/geodnsd.yaml loads");
	IS_STR(out, "", "examples/geodnsd.yaml: no messages");
	if (c != NULL) {
		IS_INT(c->n_listen, 3, "example: three listen addresses");
		IS_INT(c->n_zones, 2, "example: two zones");
	}
	conf_free(c);
}

/* A config path without a directory leaves zone files relative to cwd. */
static void test_relative_path(void)
{
	struct diag d = { .print = 0 };
	struct conf *c = NULL;
	char cwd[PATH_MAX];

	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(fixture_dir) != 0) {
		OK(0, "chdir to %s", fixture_dir);
		return;
	}
	IS_INT(conf_load("minimal.yaml", &c, &d), 0, "bare config name loads");
	if (c != NULL)
		IS_STR(c->zones[0].file, "example.com.zone", "bare: file");
	conf_free(c);
	c = NULL;
	IS_INT(conf_load("./minimal.yaml", &c, &d), 0, "./config loads");
	if (c != NULL)
		IS_STR(c->zones[0].file, "./example.com.zone", "./: file");
	conf_free(c);
	if (chdir(cwd) != 0)
		OK(0, "chdir back to %s", cwd);
}

/* Like HAS_STR, but quiet: the captured text is shown only on failure. */
static void expect_msg(const char *out, const char *want, const char *name)
{
	const char *p;
	size_t len;

	OK(strstr(out, want) != NULL, "%s: reports \"%s\"", name, want);
	if (strstr(out, want) != NULL)
		return;
	printf("# printed:\n");
	for (p = out; *p != '\0'; p += len + (p[len] != '\0')) {
		len = strcspn(p, "\n");
		printf("#   %.*s\n", (int)len, p);
	}
}

/*
 * Load a config that must fail, and check the error count and that every
 * message in want[] ("name:line: message") was printed.
 */
static void check_fail(const char *path, const char *name, unsigned nerrors,
		       const char *const *want)
{
	struct diag d = { .print = 1 };
	struct conf dummy, *c = &dummy;
	char out[8192], what[128];

	snprintf(what, sizeof(what), "%s: conf_load fails", name);
	IS_INT(load_capture(path, &c, &d, out, sizeof(out)), -1, what);
	OK(c == &dummy, "%s: *out untouched", name);
	snprintf(what, sizeof(what), "%s: error count", name);
	IS_INT(d.errors, nerrors, what);
	for (size_t i = 0; want[i] != NULL; i++)
		expect_msg(out, want[i], name);
}

#define FAIL(file, n, ...) \
	check_fail(fixture(file), file, n, (const char *const[]){ __VA_ARGS__, NULL })

static void test_errors(void)
{
	FAIL("nonexistent.yaml", 1, "nonexistent.yaml: cannot open: No such file or directory");
	FAIL("bad-syntax.yaml", 1,
	     "bad-syntax.yaml:3: YAML syntax error: did not find expected key");
	FAIL("bad-utf8.yaml", 1, "bad-utf8.yaml:3: cannot read YAML: invalid leading UTF-8 octet");
	/* libyaml's words, with what they mean here. */
	FAIL("bad-tab.yaml", 1,
	     "bad-tab.yaml:3: YAML syntax error: found character that cannot start any token; it "
	     "is a tab: YAML indents with spaces only");
	FAIL("bad-at.yaml", 1,
	     "bad-at.yaml:3: YAML syntax error: found character that cannot start any token; YAML "
	     "reserves '@' and '`' at the start of a value: quote it");
	FAIL("bad-quote.yaml", 1,
	     "bad-quote.yaml:2: YAML syntax error: a quoted value starts here and is not closed");
	FAIL("bad-unknown-key.yaml", 3, "bad-unknown-key.yaml:3: unknown key 'foo' in 'server'",
	     "bad-unknown-key.yaml:7: unknown key 'bar' in zone entry",
	     "bad-unknown-key.yaml:8: unknown key 'extra' at the top level");
	FAIL("bad-identity-lines.yaml", 1,
	     "bad-identity-lines.yaml:3: 'identity' has a line break or control character; it "
	     "is one line of text");
	/* A misspelt required key is one error, not also "missing". */
	FAIL("bad-case-key.yaml", 1,
	     "bad-case-key.yaml:1: unknown key 'Server' at the top level (did you mean 'server'?)");
	/* A near miss names the key it was probably meant to be. */
	FAIL("bad-near-key.yaml", 2,
	     "bad-near-key.yaml:3: unknown key 'identiy' in 'server' (did you mean 'identity'?)",
	     "bad-near-key.yaml:4: unknown key 'worker' in 'server' (did you mean 'workers'?)");
	FAIL("bad-int.yaml", 4,
	     "bad-int.yaml:3: 'udp-max-payload' must be an integer between 512 "
	     "and 4096, not 'abc'",
	     "bad-int.yaml:4: 'tcp-max-connections' must be an integer between "
	     "1 and 1000000, not '0'",
	     "bad-int.yaml:5: 'tcp-idle-timeout' must be an integer between 1 "
	     "and 3600, not '3601'",
	     "bad-int.yaml:6: 'log-level' must be one of error, warning, "
	     "notice, info, debug, not 'verbose'");
	FAIL("bad-missing-key.yaml", 4,
	     "bad-missing-key.yaml:1: missing required key 'listen' in "
	     "'server'",
	     "bad-missing-key.yaml:4: missing required key 'file' in zone "
	     "entry",
	     "bad-missing-key.yaml:5: missing required key 'name' in zone "
	     "entry",
	     "bad-missing-key.yaml:6: zone entry must be a mapping, not "
	     "'just-a-string'");
	FAIL("bad-listen.yaml", 6,
	     "bad-listen.yaml:3: 'listen' entry '1.2.3.4@99999': invalid port",
	     "bad-listen.yaml:4: 'listen' entry '1.2.3.4@': invalid port",
	     "bad-listen.yaml:5: 'listen' entry 'localhost@53': invalid "
	     "address 'localhost' (need an IPv4 or IPv6 literal)",
	     "bad-listen.yaml:6: 'listen' entry '1.2.3@53': invalid address",
	     "bad-listen.yaml:8: 'listen' entry '::1@5353' repeats '::1@5353' "
	     "(line 7)",
	     "bad-listen.yaml:9: 'listen' entry must be a string, not a "
	     "sequence");
	FAIL("bad-dup-zone.yaml", 1,
	     "bad-dup-zone.yaml:9: duplicate zone 'EXAMPLE.com.' (first at "
	     "line 7)");
	FAIL("bad-dup-key.yaml", 1,
	     "bad-dup-key.yaml:4: duplicate key 'identity' (first at line 3)");
	FAIL("bad-alias.yaml", 2, "bad-alias.yaml:2: YAML anchors are not supported ('&addr')",
	     "bad-alias.yaml:3: YAML aliases are not supported ('*addr')");
	/* A tag would be dropped silently: every one is named, the core
	 * schema's as written ('!!str', not libyaml's expanded form). */
	FAIL("bad-tag.yaml", 3,
	     "bad-tag.yaml:2: YAML tags are not supported ('!addr'): write the value without it",
	     "bad-tag.yaml:3: YAML tags are not supported ('!!str'): write the value without it",
	     "bad-tag.yaml:5: YAML tags are not supported ('!!seq'): write the value without it");
	FAIL("bad-values.yaml", 6, "bad-values.yaml:3: 'identity' must not be empty",
	     "bad-values.yaml:4: 'nsid' '0x6e73z1': invalid hex digit 'z'",
	     "bad-values.yaml:5: 'version' must be a string, not a sequence",
	     "bad-values.yaml:7: invalid zone name 'a..example': empty label",
	     "bad-values.yaml:9: invalid zone name 'aaaa", "': label longer than 63 bytes",
	     "bad-values.yaml:12: 'file' must not be empty");
	FAIL("bad-nsid-odd.yaml", 1,
	     "bad-nsid-odd.yaml:3: 'nsid' '0x6e7': hex value needs an even, "
	     "non-zero number of digits");
	FAIL("bad-long.yaml", 4, "bad-long.yaml:3: 'nsid' is longer than 128 bytes",
	     "bad-long.yaml:4: 'identity' is longer than 255 bytes",
	     "bad-long.yaml:5: 'version' is longer than 255 bytes",
	     "': name longer than 255 bytes");
	FAIL("bad-types.yaml", 2, "bad-types.yaml:2: 'server' must be a mapping, not a sequence",
	     "bad-types.yaml:3: 'zones' must be a sequence of zone entries, "
	     "not 'example.com'");
	FAIL("bad-no-zones.yaml", 1, "bad-no-zones.yaml:3: 'zones' needs at least one zone");
	/* One mistake in 'datacenters' is one error: the names it would have
	 * defined are not "unknown" where they are used. */
	FAIL("bad-dcs-empty.yaml", 1,
	     "bad-dcs-empty.yaml:3: 'datacenters' is empty: name at least one, with its "
	     "coordinates (fra: { latitude: 50.11, longitude: 8.68 })");
	FAIL("bad-dc-scalar.yaml", 1,
	     "bad-dc-scalar.yaml:4: datacenter 'fra' must be a mapping { latitude: ..., "
	     "longitude: ... }, not '50.11,8.68'");
	FAIL("bad-multidoc.yaml", 1, "bad-multidoc.yaml:6: only one YAML document is allowed");
	FAIL("bad-depth.yaml", 1, "bad-depth.yaml:1: nesting deeper than 64 levels");
	FAIL("empty.yaml", 1,
	     "empty.yaml: the file is empty: it needs 'server' (with 'listen') and 'zones' "
	     "(examples/geodnsd.yaml shows them)");
}

/* Range edges, written to temporary files. */
static void test_limits(void)
{
	static const char head[] = "server:\n  listen: 127.0.0.1@65535\n";
	char text[2048], label[64], hex[2 * CONF_NSID_MAX + 1], out[4096];
	struct diag d = { .print = 0 };
	struct conf *c = NULL;
	const char *path;

	memset(label, 'a', 63);
	label[63] = '\0';
	for (int i = 0; i < CONF_NSID_MAX; i++)
		snprintf(hex + 2 * i, 3, "%02x", i);
	/* 3 * (63 + 1) + (61 + 1) + 1 = 255 bytes in wire form. */
	snprintf(text, sizeof(text),
		 "%s  nsid: 0x%s\n  udp-max-payload: 4096\n"
		 "  tcp-idle-timeout: 3600\n  log-level: error\n"
		 "zones:\n  - name: %s.%s.%s.%.61s.\n    file: z",
		 head, hex, label, label, label, label);
	path = tmp_conf("edges.yaml", text);
	IS_INT(conf_load(path, &c, &d), 0, "edges: load");
	if (c != NULL) {
		IS_INT(sa_port(&c->listen[0]), 65535, "port 65535");
		IS_INT(c->nsid_len, CONF_NSID_MAX, "nsid of 128 hex bytes");
		IS_INT(c->nsid[127], 127, "nsid last hex byte");
		IS_INT(c->udp_max_payload, 4096, "udp-max-payload 4096");
		IS_INT(c->tcp_idle_timeout_ms, 3600000, "tcp-idle-timeout 1 h");
		IS_INT(c->log_level, LOG_LEVEL_ERR, "log-level error");
	}
	conf_free(c);
	c = NULL;

	snprintf(text, sizeof(text),
		 "%s  udp-max-payload: 511\n"
		 "  tcp-max-connections: 1000001\n  listen: ::1@0\n"
		 "zones:\n  - name: %s.%s.%s.%.62s\n    file: z",
		 "server:\n", label, label, label, label);
	path = tmp_conf("over.yaml", text);
	d.print = 1;
	IS_INT(load_capture(path, &c, &d, out, sizeof(out)), -1, "over the edges: fails");
	IS_INT(d.errors, 4, "over the edges: four errors");
	OK(c == NULL, "over the edges: *out untouched");
	expect_msg(out,
		   "over.yaml:2: 'udp-max-payload' must be an integer "
		   "between 512 and 4096, not '511'",
		   "over");
	expect_msg(out,
		   "over.yaml:3: 'tcp-max-connections' must be an "
		   "integer between 1 and 1000000, not '1000001'",
		   "over");
	expect_msg(out, "over.yaml:4: 'listen' entry '::1@0': invalid port", "over");
	expect_msg(out, "over.yaml:6: invalid zone name 'aaa", "over");
	tmp_remove("edges.yaml");
	tmp_remove("over.yaml");
}

/* Addresses with a port, as listen, metrics and probe targets take them;
 * an IPv6 literal also in brackets, as URLs write it. */
static void test_sockaddr(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why = NULL;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	uint8_t lo6[16] = { [15] = 1 };
	OK(conf_sockaddr_parse("[::1]@5300", 53, &ss, &len, &why) == 0 &&
		   ss.ss_family == AF_INET6 && ntohs(s6->sin6_port) == 5300 &&
		   memcmp(&s6->sin6_addr, lo6, 16) == 0 && len == sizeof(*s6),
	   "[::1]@5300: ::1 port 5300");
	OK(conf_sockaddr_parse("[::1]", 53, &ss, &len, &why) == 0 && ntohs(s6->sin6_port) == 53,
	   "[::1]: the default port");
	OK(conf_sockaddr_parse("::1@5300", 53, &ss, &len, &why) == 0 &&
		   ntohs(s6->sin6_port) == 5300,
	   "::1@5300 as before");
	OK(conf_sockaddr_parse("[192.0.2.1]@53", 53, &ss, &len, &why) < 0,
	   "brackets are for IPv6 only");
	OK(conf_sockaddr_parse("[::1@53", 53, &ss, &len, &why) < 0, "an unclosed bracket");
}

/* Numbers (coordinates, seconds) as YAML 1.2 writes them, and only so. */
static void test_decimal(void)
{
	static const struct {
		const char *text;
		double value;
	} good[] = {
		{ "1", 1 },      { "-1.5", -1.5 }, { "+2", 2 }, { ".5", 0.5 }, { "5.", 5 },
		{ "1e3", 1000 }, { "1E-2", 0.01 }, { "-0", 0 }, { "007", 7 },  { "1e-400", 0 }
	};
	static const char *const bad[] = { "",     "-",     ".",     "e5",   "1e",    "1e+",
					   "0x10", "0x1p4", "inf",   "-inf", "nan",   "NaN",
					   " 1",   "1 ",    "1.2.3", "1,5",  "1e400", "--1" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		double v = -12345;
		OK(conf_decimal(good[i].text, &v) == 0 && v == good[i].value,
		   "conf_decimal '%s' is %g", good[i].text, good[i].value);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double v = -12345;
		OK(conf_decimal(bad[i], &v) < 0 && v == -12345, "conf_decimal refuses '%s'",
		   bad[i]);
	}
}

int main(void)
{
	const char *top = getenv("TOP_SRCDIR");

	if (top == NULL || top[0] == '\0')
		top = ".";
	snprintf(fixture_dir, sizeof(fixture_dir), "%s/tests/data/conf", top);
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	conf_free(NULL);
	OK(1, "conf_free(NULL) is a no-op");
	test_full();
	test_minimal();
	test_nsid_string();
	test_example(top);
	test_relative_path();
	test_errors();
	test_limits();
	test_sockaddr();
	test_decimal();
	if (rmdir(tmp_dir) != 0)
		perror(tmp_dir);
	return tap_done();
}
