/* test_zload.c: unit tests for zones/zload.c, master files into zone trees. */
#include "config.h"

#include "zones/zload.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/dname.h"
#include "dns/log.h"
#include "dns/rrtype.h"
#include "dns/ztree.h"
#include "tests/unit/tap.h"

static char fixture_dir[PATH_MAX];
static char captured[8192];

/* The fixture's path; four buffers in turn, so one call may use several. */
static const char *fixture(const char *name)
{
	static char path[4][PATH_MAX + 64];
	static unsigned next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", fixture_dir, name);
	return p;
}

/* zload_file with diagnostics printed; stderr lands in captured[], the
 * final newline removed. */
static struct zone *load_dyn(const char *apex, const char *path, const struct zload_dyn *dyn,
			     struct diag *d)
{
	FILE *tmp = tmpfile();
	if (tmp == NULL) {
		perror("tmpfile");
		exit(1);
	}
	memset(d, 0, sizeof(*d));
	d->print = 1;
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	struct zone *z = zload_file(apex, path, dyn, d);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(captured, 1, sizeof(captured) - 1, tmp);
	if (n > 0 && captured[n - 1] == '\n')
		n--;
	captured[n] = '\0';
	fclose(tmp);
	return z;
}

static struct zone *load(const char *apex, const char *path, struct diag *d)
{
	return load_dyn(apex, path, NULL, d);
}

/* The expected diagnostic: fixture path, then the formatted rest. */
static const char *want(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *want(const char *name, const char *fmt, ...)
{
	static char buf[PATH_MAX + 512];
	int n = snprintf(buf, sizeof(buf), "%s", fixture(name));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}

static const struct znode *node(struct zone *z, const char *name)
{
	uint8_t wire[DNAME_MAXLEN];
	if (dname_from_str(name, wire) < 0)
		return NULL;
	return zone_node(z, wire, false);
}

static const struct zrrset *rrset(struct zone *z, const char *name, uint16_t type)
{
	const struct znode *n = node(z, name);
	return n != NULL ? znode_rrset(n, type) : NULL;
}

static void check_set(struct zone *z, const char *name, uint16_t type, unsigned count, uint32_t ttl)
{
	const struct zrrset *s = rrset(z, name, type);
	OK(s != NULL, "%s type %u exists", name, type);
	if (s == NULL)
		return;
	IS_INT(s->count, count, "RRset count");
	IS_INT(s->ttl, ttl, "RRset TTL");
}

static void test_good(void)
{
	struct diag d;
	struct zone *z = load("example.com", fixture("good.zone"), &d);
	OK(z != NULL, "good.zone loads");
	IS_INT(d.errors, 0, "no errors");
	IS_INT(d.warnings, 0, "no warnings");
	IS_STR(captured, "", "nothing printed");
	if (z == NULL)
		return;

	IS_STR(z->name_str, "example.com.", "zone name");
	OK(z->apex->flags & ZNODE_APEX, "apex flag");
	OK(z->soa != NULL && z->soa == znode_rrset(z->apex, RRTYPE_SOA),
	   "zone->soa is the apex SOA");
	check_set(z, "example.com.", RRTYPE_SOA, 1, 7200);
	IS_INT(z->neg_ttl, 300, "neg_ttl = min(SOA TTL 7200, MINIMUM 300)");
	IS_INT(zone_serial(z), 2024010101, "zone_serial() reads SERIAL");
	check_set(z, "example.com.", RRTYPE_NS, 2, 7200);
	check_set(z, "example.com.", RRTYPE_MX, 3, 7200);
	check_set(z, "ns1.example.com.", RRTYPE_A, 1, 7200);
	check_set(z, "ns2.example.com.", RRTYPE_A, 1, 300);
	check_set(z, "ns2.example.com.", RRTYPE_AAAA, 1, 7200);
	check_set(z, "www.example.com.", RRTYPE_A, 2, 7200);
	IS_INT(z->n_records, 27, "record count");

	/* The SOA spread over six lines with comments parsed in full. */
	const struct zrrset *soa = z->soa;
	static const uint8_t soa_rd[] = {
		3,    'n',  's',  '1',  7, 'e',  'x',  'a',  'm',  'p', 'l', 'e',
		3,    'c',  'o',  'm',  0, 10,   'h',  'o',  's',  't', 'm', 'a',
		's',  't',  'e',  'r',  7, 'e',  'x',  'a',  'm',  'p', 'l', 'e',
		3,    'c',  'o',  'm',  0, 0x78, 0xa3, 0xf1, 0x75, /* serial 2024010101 */
		0x00, 0x00, 0x1c, 0x20,                            /* refresh 7200 */
		0x00, 0x00, 0x0e, 0x10,                            /* retry 3600 */
		0x00, 0x12, 0x75, 0x00,                            /* expire 1209600 */
		0x00, 0x00, 0x01, 0x2c,                            /* minimum 300 */
	};
	OK(soa != NULL && soa->data_len == 2 + sizeof(soa_rd) && soa->data[0] == 0 &&
		   soa->data[1] == sizeof(soa_rd) &&
		   memcmp(soa->data + 2, soa_rd, sizeof(soa_rd)) == 0,
	   "SOA rdata (relative names completed, serial 2024010101)");

	/* Two A records, each as RDLENGTH + RDATA. */
	const struct zrrset *www = rrset(z, "www.example.com.", RRTYPE_A);
	static const uint8_t www_data[] = { 0, 4, 192, 0, 2, 80, 0, 4, 192, 0, 2, 81 };
	OK(www != NULL && www->data_len == sizeof(www_data) &&
		   memcmp(www->data, www_data, sizeof(www_data)) == 0,
	   "www A rdata bytes");

	const struct zrrset *txt = rrset(z, "txt.example.com.", RRTYPE_TXT);
	OK(txt != NULL && txt->data_len == 10 && memcmp(txt->data, "\0\010\3a;b\3c d", 10) == 0,
	   "quoted ';' kept in TXT, comment dropped");

	const struct zrrset *unk = rrset(z, "unk.example.com.", 65400);
	OK(unk != NULL && unk->data_len == 6 && memcmp(unk->data, "\0\4\012\0\0\001", 6) == 0,
	   "RFC 3597 TYPE65400 rdata");

	OK(rrset(z, "abs.example.com.", RRTYPE_A) != NULL, "absolute owner");
	OK(rrset(z, "mixed.example.com.", RRTYPE_A) != NULL, "owner lowercased");

	/* Empty non-terminals on the way to a.b.c. */
	const struct znode *c = node(z, "c.example.com.");
	const struct znode *bc = node(z, "b.c.example.com.");
	const struct znode *abc = node(z, "a.b.c.example.com.");
	OK(c != NULL && c->n_rrsets == 0, "c.example.com is an ENT");
	OK(bc != NULL && bc->n_rrsets == 0, "b.c.example.com is an ENT");
	OK(abc != NULL && abc->n_rrsets == 1, "a.b.c.example.com has data");
	OK(abc != NULL && abc->parent == bc && bc != NULL && bc->parent == c && c != NULL &&
		   c->parent == z->apex,
	   "parent links up to the apex");

	const struct znode *wild = node(z, "wild.example.com.");
	const struct znode *star = node(z, "*.wild.example.com.");
	OK(wild != NULL && star != NULL && wild->wild == star, "wildcard linked from its parent");
	OK(z->apex->wild == NULL, "no wildcard at the apex");

	/* The delegation, its glue, and what the additional section gets. */
	const struct znode *sub = node(z, "sub.example.com.");
	const struct znode *glue = node(z, "ns.sub.example.com.");
	const struct znode *ns1 = node(z, "ns1.example.com.");
	OK(sub != NULL && (sub->flags & ZNODE_CUT), "sub is a cut");
	OK(sub != NULL && !(sub->flags & ZNODE_OCCLUDED), "cut not occluded");
	OK(glue != NULL && (glue->flags & ZNODE_OCCLUDED), "glue occluded");
	OK(!(z->apex->flags & ZNODE_CUT), "apex is not a cut");
	OK(ns1 != NULL && !(ns1->flags & (ZNODE_CUT | ZNODE_OCCLUDED)),
	   "ns1 neither cut nor occluded");

	const struct zrrset *subns = rrset(z, "sub.example.com.", RRTYPE_NS);
	OK(subns != NULL, "delegation NS");
	if (subns != NULL) {
		IS_INT(subns->count, 3, "delegation NS count");
		IS_INT(subns->n_addl, 2, "delegation NS n_addl (ns.sub, ns1)");
		IS_INT(subns->n_required, 1, "in-bailiwick glue required");
		OK(subns->n_addl >= 2 && subns->addl[0] == glue && subns->addl[1] == ns1,
		   "required glue listed first");
	}
	const struct zrrset *mx = rrset(z, "example.com.", RRTYPE_MX);
	/* An MX answer carries its in-zone target's addresses: mail, not the
	 * target in another zone nor the one below a delegation (glue). */
	OK(mx != NULL && mx->n_addl == 1 && mx->n_required == 0 &&
		   mx->addl[0] == node(z, "mail.example.com."),
	   "MX n_addl 1: mail.example.com, not required");
	const struct zrrset *apexns = rrset(z, "example.com.", RRTYPE_NS);
	OK(apexns != NULL && apexns->n_addl == 2 && apexns->n_required == 0,
	   "apex NS n_addl 2, none required");

	/* $INCLUDE with its own origin, which does not leak back; a nested
	 * $INCLUDE is found relative to the file that includes it. */
	check_set(z, "part.example.com.", RRTYPE_TXT, 1, 7200);
	check_set(z, "x.part.example.com.", RRTYPE_A, 1, 7200);
	check_set(z, "y.deeper.part.example.com.", RRTYPE_A, 1, 7200);
	check_set(z, "z.deeper.part.example.com.", RRTYPE_A, 1, 7200);
	check_set(z, "after.example.com.", RRTYPE_A, 1, 7200);
	OK(node(z, "after.deeper.part.example.com.") == NULL,
	   "include's $ORIGIN stays in the include");

	zone_free(z);
}

/* A fixture that must fail with exactly one message. */
static void load_fails(const char *file, const char *apex, const char *msg)
{
	struct diag d;
	struct zone *z = load(apex, fixture(file), &d);
	OK(z == NULL, "%s: not loaded", file);
	OK(d.errors == 1 && d.warnings == 0, "%s: one error counted", file);
	IS_STR(captured, msg, file);
	zone_free(z);
}

static void test_errors(void)
{
	const char *apex = "example.com.";
	load_fails("no-soa.zone", apex,
		   want("no-soa.zone", ":1: no SOA record at the zone apex 'example.com.'"));
	load_fails("two-soa.zone", apex,
		   want("two-soa.zone", ":4: more than one SOA record (first at line 2)"));
	load_fails("soa-not-apex.zone", apex,
		   want("soa-not-apex.zone", ":5: SOA record not at the zone apex"));
	load_fails("no-ns.zone", apex,
		   want("no-ns.zone", ":2: no NS records at the zone apex 'example.com.'"));
	load_fails("outside.zone", apex,
		   want("outside.zone", ":5: 'www.example.org.' is outside the "
					"zone 'example.com.'"));
	load_fails("cname.zone", apex,
		   want("cname.zone", ":6: CNAME and other data at 'www.example.com.'"));
	load_fails("class-ch.zone", apex,
		   want("class-ch.zone", ":5: class CH is not supported: "
					 "geodnsd serves class IN only"));
	load_fails("directive.zone", apex,
		   want("directive.zone", ":4: unknown directive '$GENERATE'"));
	load_fails("paren-open.zone", apex,
		   want("paren-open.zone", ":2: '(' not closed before end of file"));
	load_fails("paren-close.zone", apex, want("paren-close.zone", ":3: ')' without '('"));
	load_fails("no-owner.zone", apex,
		   want("no-owner.zone", ":2: record with no owner name and "
					 "no previous owner"));
	load_fails("bad-ttl.zone", apex, want("bad-ttl.zone", ":2: $TTL: invalid TTL 'forever'"));
	/* RFC 6672 2.4: one DNAME per name, nothing below it, no CNAME
	 * beside it. */
	load_fails("dname-two.zone", apex,
		   want("dname-two.zone", ":6: more than one DNAME record at this name "
					  "(RFC 6672 2.4) (first at line 5)"));
	load_fails("dname-below.zone", apex,
		   want("dname-below.zone", ":6: 'a.b.dn.example.com.' is below the DNAME at "
					    "'dn.example.com.', which redirects every name "
					    "under it (RFC 6672 2.4)"));
	load_fails("dname-cname.zone", apex,
		   want("dname-cname.zone", ":6: CNAME and other data at 'dn.example.com.'"));

	/* $INCLUDE: a missing file is reported where it is included. */
	char msg[PATH_MAX * 4];
	snprintf(msg, sizeof(msg),
		 "%s:4: $INCLUDE '%s/inc/does-not-exist.inc': cannot open: "
		 "No such file or directory",
		 fixture("include-missing.zone"), fixture_dir);
	load_fails("include-missing.zone", apex, msg);

	/* An $INCLUDE loop is named, with the chain. */
	static char loop[4 * PATH_MAX + 128];
	snprintf(loop, sizeof(loop),
		 "%s/inc/loop-b.inc:2: $INCLUDE loop: %s/inc/loop-a.inc -> %s/inc/loop-b.inc -> "
		 "%s/inc/loop-a.inc",
		 fixture_dir, fixture_dir, fixture_dir, fixture_dir);
	load_fails("include-loop.zone", apex, loop);

	/* Errors inside an include name the included file. */
	struct diag d;
	struct zone *z = load(apex, fixture("include-error.zone"), &d);
	OK(z == NULL, "include-error.zone: not loaded");
	IS_STR(captured, want("inc/bad.inc", ":3: invalid IPv4 address 'not-an-address'"),
	       "syntax error located in the included file");
	zone_free(z);

	/* RFC 2181 5: duplicates are served once, with a warning; one in an
	 * include names both files. */
	z = load(apex, fixture("include-dup.zone"), &d);
	OK(z != NULL && d.errors == 0 && d.warnings == 1, "include-dup.zone: loads, one warning");
	snprintf(msg, sizeof(msg), "%s:1: warning: duplicate record (first at %s:4); served once",
		 fixture("inc/dup.inc"), fixture("include-dup.zone"));
	IS_STR(captured, msg, "include-dup.zone: the warning names both files");
	if (z != NULL)
		check_set(z, "ns1.example.com.", RRTYPE_A, 1, 3600);
	zone_free(z);

	z = load(apex, fixture("duplicate.zone"), &d);
	OK(z != NULL && d.errors == 0 && d.warnings == 2, "duplicate.zone: loads, two warnings");
	snprintf(msg, sizeof(msg),
		 "%s:7: warning: duplicate record (first at line 5); served once\n"
		 "%s:9: warning: duplicate record (first at line 8); served once, with the lower "
		 "TTL",
		 fixture("duplicate.zone"), fixture("duplicate.zone"));
	IS_STR(captured, msg, "duplicate.zone: same data by case and by address spelling");
	if (z != NULL) {
		check_set(z, "www.example.com.", RRTYPE_A, 2, 3600);
		check_set(z, "v6.example.com.", RRTYPE_AAAA, 1, 60);
	}
	zone_free(z);

	/* Three copies name the first; a duplicate does not hide a TTL that
	 * differs from the set's. */
	z = load(apex, fixture("duplicate-runs.zone"), &d);
	OK(z != NULL && d.warnings == 4, "duplicate-runs.zone: loads, four warnings");
	snprintf(msg, sizeof(msg),
		 "%s:7: warning: duplicate record (first at line 6); served once\n"
		 "%s:8: warning: duplicate record (first at line 6); served once\n"
		 "%s:10: warning: duplicate record (first at line 9); served once, with the "
		 "lower TTL\n"
		 "%s:11: warning: TTL 600 differs from the TTL 60 of the same RRset; using the "
		 "lower",
		 fixture("duplicate-runs.zone"), fixture("duplicate-runs.zone"),
		 fixture("duplicate-runs.zone"), fixture("duplicate-runs.zone"));
	IS_STR(captured, msg, "duplicate-runs.zone: each warning names the right line");
	if (z != NULL)
		check_set(z, "v.example.com.", RRTYPE_A, 2, 60);
	zone_free(z);

	/* The checks walk names in sorted order (aaa, mmm, zzz); the report
	 * follows the file's lines. */
	z = load(apex, fixture("order.zone"), &d);
	OK(z == NULL, "order.zone: not loaded");
	IS_INT(d.errors, 1, "order.zone: one error");
	IS_INT(d.warnings, 2, "order.zone: two warnings");
	snprintf(msg, sizeof(msg),
		 "%s:5: CNAME and other data at 'zzz.example.com.'\n"
		 "%s:8: warning: TTL 600 differs from the TTL 3600 of the same RRset; "
		 "using the lower\n"
		 "%s:10: warning: duplicate record (first at line 9); served once",
		 fixture("order.zone"), fixture("order.zone"), fixture("order.zone"));
	IS_STR(captured, msg, "order.zone: problems in line order");
	zone_free(z);

	/* What ldns words as "could not parse the RR's rdata". */
	load_fails("unknown-type.zone", apex,
		   want("unknown-type.zone", ":5: unknown record type 'AAA'"));
	/* A zone named unlike its file's $ORIGIN: five records listed, the
	 * rest counted, with the likely cause. */
	z = load(apex, fixture("outside-many.zone"), &d);
	OK(z == NULL && d.errors == 7, "outside-many.zone: one error per record, %u", d.errors);
	snprintf(msg, sizeof(msg),
		 "%s:2: 'example.org.' is outside the zone 'example.com.'\n"
		 "%s:3: 'example.org.' is outside the zone 'example.com.'\n"
		 "%s:4: 'ns1.example.org.' is outside the zone 'example.com.'\n"
		 "%s:5: 'a.example.org.' is outside the zone 'example.com.'\n"
		 "%s:6: 'b.example.org.' is outside the zone 'example.com.'\n"
		 "%s:7: and 2 more records outside the zone 'example.com.' (not listed): is "
		 "'example.com.', the zone's name in the configuration, the name this file is "
		 "written for (its $ORIGIN)?",
		 fixture("outside-many.zone"), fixture("outside-many.zone"),
		 fixture("outside-many.zone"), fixture("outside-many.zone"),
		 fixture("outside-many.zone"), fixture("outside-many.zone"));
	IS_STR(captured, msg, "outside-many.zone: five listed, then the count");
	zone_free(z);

	/* ldns would serve 70000 as 4464 and 65536 as 0; leading zeros are
	 * fine (065535 is 65535). */
	load_fails("mx-range.zone", apex,
		   want("mx-range.zone", ":5: MX preference '70000' is more than 65535"));
	load_fails("u16-range.zone", apex,
		   want("u16-range.zone", ":7: SRV weight '65536' is more than 65535"));
	/* ldns says "could not parse the RR" for a bad owner name. */
	load_fails("owner-empty-label.zone", apex,
		   want("owner-empty-label.zone",
			":5: owner name 'a..b' has an empty label (two dots in a row)"));
	load_fails("owner-long-label.zone", apex,
		   want("owner-long-label.zone",
			":5: owner name "
			"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
			"has a label longer than 63 octets"));
	load_fails("ds-digest.zone", apex,
		   want("ds-digest.zone",
			":6: DS digest is 4 octets; a SHA-256 digest (type 2) is 32"));
	/* Out-of-range data that ldns takes (zcheck_rdata), each at its
	 * line; the range edges load. */
	z = load(apex, fixture("rdata-range.zone"), &d);
	OK(z == NULL && d.errors == 22 && d.warnings == 0, "rdata-range.zone: 22 errors, %u",
	   d.errors);
	{
		static const char *const lines[] = {
			":6: LOC latitude degrees '91' is more than 90",
			":7: LOC latitude is more than 90 degrees",
			":8: LOC longitude degrees '181' is more than 180",
			":9: LOC latitude minutes '61' must be below 60",
			":10: LOC latitude seconds '60' must be below 60",
			":11: LOC altitude '99999999m' is outside -100000.00 to 42849672.95 m",
			":12: LOC horizontal precision '95000000m' is outside 0.00 to 90000000.00 "
			"m",
			":13: APL prefix '1:198.51.100.0/33' is longer than 32 bits (IPv4)",
			":14: APL prefix '!2:2001:db8::/129' is longer than 128 bits (IPv6)",
			":15: NSEC type list names 'FOOBAR', which is not a record type",
			":16: SSHFP fingerprint has 3 hex digits; each octet takes two",
			":17: TLSA data has 5 hex digits; each octet takes two",
			":19: DS digest has 3 hex digits; each octet takes two",
			":20: ZONEMD digest has 5 hex digits; each octet takes two",
			":21: CSYNC type list names 'NOSUCHTYPE', which is not a record type",
			":22: SSHFP fingerprint has 65 hex digits; each octet takes two",
			/* Forms ldns misreads (strtod, atoi): refused too. */
			":23: LOC latitude seconds '1e2' is not a decimal number",
			":24: LOC altitude '1e9m' is not a decimal number of metres",
			":25: LOC size '1x' is not a decimal number of metres",
			":26: NSEC type list names 'TYPE70000': a type number is 1 to 65535",
			":27: NSEC type list names 'TYPE1x', which is not a record type",
			":28: CDS digest has 3 hex digits; each octet takes two",
		};
		char all[4096] = "";
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			size_t n = strlen(all);
			snprintf(all + n, sizeof(all) - n, "%s%s", i ? "\n" : "",
				 want("rdata-range.zone", "%s", lines[i]));
		}
		IS_STR(captured, all, "rdata-range.zone: every value out of range, at its line");
	}
	zone_free(z);
	z = load(apex, fixture("rdata-edges.zone"), &d);
	OK(z != NULL && d.errors == 0 && d.warnings == 0, "rdata-edges.zone: loads, %u errors",
	   d.errors);
	IS_STR(captured, "", "rdata-edges.zone: nothing reported");
	zone_free(z);

	load_fails("mx-negative.zone", apex,
		   want("mx-negative.zone", ":5: MX preference '-1' is negative: 0 to 65535"));
	load_fails("dnskey-protocol.zone", apex,
		   want("dnskey-protocol.zone", ":5: DNSKEY protocol '300' is more than 255"));
	load_fails("caa-flags.zone", apex,
		   want("caa-flags.zone", ":5: CAA flags '300' is more than 255"));
	load_fails("mx-fields.zone", apex,
		   want("mx-fields.zone",
			":5: MX has 1 data field, needs 2: preference and exchange"));

	load_fails("syntax.zone", apex,
		   want("syntax.zone", ":5: invalid IPv4 address '192.0.2.999'"));

	/* The zone file itself missing. */
	snprintf(msg, sizeof(msg), "%s: cannot open: No such file or directory",
		 fixture("no-such.zone"));
	load_fails("no-such.zone", apex, msg);

	/* A directory is not an empty zone file (fopen() takes it; reading
	 * it fails with EISDIR). */
	snprintf(msg, sizeof(msg), "%s: is a directory, not a file", fixture("inc"));
	load_fails("inc", apex, msg);
	snprintf(msg, sizeof(msg), "%s:4: $INCLUDE '%s/inc': is a directory, not a file",
		 fixture("include-dir.zone"), fixture_dir);
	load_fails("include-dir.zone", apex, msg);

	/* A read error is not the end of the file: reading /proc/self/mem at
	 * offset 0 (unmapped) fails with EIO. */
	FILE *mem = fopen("/proc/self/mem", "r");
	if (mem != NULL) {
		fclose(mem);
		z = load(apex, "/proc/self/mem", &d);
		OK(z == NULL, "/proc/self/mem: not loaded");
		IS_INT(d.errors, 1, "/proc/self/mem: one error");
		IS_STR(captured, "/proc/self/mem:1: read error: Input/output error",
		       "read error reported");
		zone_free(z);
	}

	/* A raw NUL byte: the rest of its line must not vanish unseen. */
	static const struct {
		const char *file;
		unsigned line;
	} nul[] = {
		{ "nul.zone", 5 },
		{ "nul-start.zone", 5 },
		{ "nul-tail.zone", 5 },
		{ "nul-quoted.zone", 6 },
	};
	for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++)
		load_fails(nul[i].file, apex,
			   want(nul[i].file, ":%u: NUL byte in line (write \\000 for a zero octet)",
				nul[i].line));

	/* Octets above 127 are data, not an error. */
	z = load(apex, fixture("high-bytes.zone"), &d);
	OK(z != NULL && d.errors == 0, "high-bytes.zone loads (%s)", captured);
	const struct zrrset *hi = z != NULL ? rrset(z, "txt.example.com.", RRTYPE_TXT) : NULL;
	OK(hi != NULL && hi->data_len == 5 && memcmp(hi->data, "\0\3\2\xff\xfe", 5) == 0,
	   "TXT keeps octets 0xff 0xfe");
	zone_free(z);

	/* The apex given to the loader decides what is outside. */
	z = load("example.net", fixture("cname.zone"), &d);
	OK(z == NULL, "wrong apex: not loaded");
	HAS_STR(captured, "is outside the zone 'example.net.'", "wrong apex: records outside");
}

static void test_warnings(void)
{
	struct diag d;
	char msg[PATH_MAX * 4];

	struct zone *z = load("example.com", fixture("warn-glue.zone"), &d);
	OK(z != NULL, "warn-glue.zone loads");
	IS_INT(d.errors, 0, "warn-glue: no errors");
	IS_INT(d.warnings, 2, "warn-glue: two warnings");
	snprintf(msg, sizeof(msg),
		 "%s:3: warning: NS target 'ns1.example.com.' has no A or AAAA "
		 "record in the zone (missing glue)\n"
		 "%s:6: warning: NS target 'ns.sub.example.com.' has no A or AAAA "
		 "record in the zone (missing glue)",
		 fixture("warn-glue.zone"), fixture("warn-glue.zone"));
	IS_STR(captured, msg, "missing glue warnings");
	if (z != NULL) {
		IS_INT(z->neg_ttl, 60, "neg_ttl = min(SOA TTL 60, MINIMUM 300)");
		const struct zrrset *ns = rrset(z, "sub.example.com.", RRTYPE_NS);
		OK(ns != NULL && ns->n_addl == 0, "no glue, no additional");
	}
	zone_free(z);

	z = load("example.com", fixture("warn-ttl.zone"), &d);
	OK(z != NULL, "warn-ttl.zone loads");
	IS_INT(d.warnings, 1, "warn-ttl: one warning");
	snprintf(msg, sizeof(msg),
		 "%s:6: warning: TTL 300 differs from the TTL 600 of the same "
		 "RRset; using the lower",
		 fixture("warn-ttl.zone"));
	IS_STR(captured, msg, "TTL mismatch warning");
	if (z != NULL)
		check_set(z, "www.example.com.", RRTYPE_A, 2, 300);
	zone_free(z);

	/* A zone moved over from gdnsd: @Z and @F are plain labels here. */
	z = load("example.com", fixture("warn-gdnsd-at.zone"), &d);
	OK(z != NULL, "warn-gdnsd-at.zone loads");
	IS_INT(d.warnings, 2, "warn-gdnsd-at: two warnings (none in quotes, none for a lone @)");
	snprintf(msg, sizeof(msg),
		 "%s:5: warning: '@Z' is gdnsd's shorthand for the zone's name; here it is "
		 "a label of its own: write the name out\n"
		 "%s:6: warning: '@F' is gdnsd's shorthand for the origin; here it is a label "
		 "of its own: write the name out",
		 fixture("warn-gdnsd-at.zone"), fixture("warn-gdnsd-at.zone"));
	IS_STR(captured, msg, "gdnsd @Z/@F warnings");
	if (z != NULL)
		OK(node(z, "a.@Z.example.com.") != NULL, "served as written: a.@Z.example.com.");
	zone_free(z);

	z = load("example.com", fixture("warn-occluded.zone"), &d);
	OK(z != NULL, "warn-occluded.zone loads");
	IS_INT(d.warnings, 1, "warn-occluded: one warning");
	snprintf(msg, sizeof(msg),
		 "%s:7: warning: 'www.sub.example.com.' is below a delegation "
		 "and will not be served",
		 fixture("warn-occluded.zone"));
	IS_STR(captured, msg, "occluded data warning");
	if (z != NULL) {
		const struct znode *n = node(z, "www.sub.example.com.");
		OK(n != NULL && (n->flags & ZNODE_OCCLUDED), "hidden node occluded");
	}
	zone_free(z);
}

/* $TTL 0 is a valid default (RFC 2308 4): records without a TTL get 0. */
static void test_ttl_zero(void)
{
	struct diag d;
	struct zone *z = load("example.com", fixture("ttl-zero.zone"), &d);
	OK(z != NULL, "ttl-zero.zone loads");
	IS_STR(captured, "", "ttl-zero: nothing printed");
	if (z == NULL)
		return;
	check_set(z, "ns1.example.com.", RRTYPE_A, 1, 0);
	IS_INT(z->neg_ttl, 0, "ttl-zero: neg_ttl 0");
	zone_free(z);
}

/* The class before the TTL, on lines the fast reader takes and on lines
 * ldns reads (SOA over two lines, SSHFP, HINFO), blank owner included. */
static void test_class_before_ttl(void)
{
	struct diag d;
	struct zone *z = load("example.com", fixture("class-ttl.zone"), &d);
	OK(z != NULL, "class-ttl.zone loads");
	IS_STR(captured, "", "class-ttl: nothing printed");
	if (z == NULL)
		return;
	check_set(z, "example.com.", RRTYPE_SOA, 1, 3600);
	IS_INT(z->neg_ttl, 300, "class-ttl: the SOA's fields read");
	check_set(z, "example.com.", RRTYPE_NS, 1, 300);
	check_set(z, "ns1.example.com.", RRTYPE_A, 1, 3600);
	check_set(z, "a.example.com.", RRTYPE_A, 1, 300);
	check_set(z, "a.example.com.", RRTYPE_AAAA, 1, 300);
	check_set(z, "t.example.com.", RRTYPE_TXT, 1, 3600);
	check_set(z, "c.example.com.", RRTYPE_CNAME, 1, 300);
	check_set(z, "m.example.com.", RRTYPE_MX, 1, 120);
	check_set(z, "s.example.com.", 44 /* SSHFP */, 1, 120);
	check_set(z, "h.example.com.", 13 /* HINFO */, 1, 60);
	check_set(z, "h.example.com.", RRTYPE_TXT, 1, 70);
	zone_free(z);
}

/* GEO lines: the service 'web' exists; bind() records the TTL it gets. */
static const void *geo_bind(void *ctx, const char *service, uint32_t ttl)
{
	static const int binding;
	if (strcmp(service, "web") != 0)
		return NULL;
	*(uint32_t *)ctx = ttl;
	return &binding;
}

/* A GEO name at or below a delegation is never answered: a warning. */
static void test_geo_at_cut(void)
{
	uint32_t ttl = 0;
	struct zload_dyn dyn = { .ctx = &ttl, .bind = geo_bind };
	struct diag d;
	char msg[PATH_MAX * 3];
	struct zone *z = load_dyn("example.com.", fixture("warn-geo-cut.zone"), &dyn, &d);
	OK(z != NULL, "warn-geo-cut.zone loads");
	IS_INT(d.warnings, 2, "warn-geo-cut: two warnings");
	snprintf(msg, sizeof(msg),
		 "%s:7: warning: GEO record at 'sub.example.com.' is at a delegation and will "
		 "not be served\n"
		 "%s:8: warning: GEO record at 'www.sub.example.com.' is below a delegation and "
		 "will not be served",
		 fixture("warn-geo-cut.zone"), fixture("warn-geo-cut.zone"));
	IS_STR(captured, msg, "GEO at and below a cut");
	zone_free(z);
}

/* Mistakes ldns reads wrongly or words only as "could not parse the
 * RR's rdata": the message names the field at fault. */
static void test_named_errors(void)
{
	static const struct {
		const char *file, *msg;
	} cases[] = {
		{ "bad-ttl-sign.zone", ":5: invalid TTL '-5'" },
		{ "bad-ttl-unit.zone", ":5: invalid TTL '300x'" },
		{ "bad-ttl-blank.zone", ":6: invalid TTL '-1'" },
		{ "class-ch-rdata.zone",
		  ":5: class CH is not supported: geodnsd serves class IN only" },
		{ "bad-a.zone", ":5: invalid IPv4 address '300.1.2.3'" },
		{ "bad-aaaa.zone", ":5: invalid IPv6 address '2001:db8::g'" },
		/* Other RDATA errors keep ldns's words. */
		{ "bad-mx.zone", ":5: syntax error: Syntax error, could not parse the RR's rdata" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		load_fails(cases[i].file, "example.com.", want(cases[i].file, "%s", cases[i].msg));

	uint32_t geo_ttl = 0;
	struct zload_dyn dyn = { .ctx = &geo_ttl, .bind = geo_bind };
	struct diag d;
	struct zone *z = load_dyn("example.com.", fixture("class-ch-geo.zone"), &dyn, &d);
	OK(z == NULL, "class-ch-geo.zone: not loaded");
	IS_STR(captured,
	       want("class-ch-geo.zone",
		    ":5: class CH is not supported: geodnsd serves class IN only"),
	       "class-ch-geo.zone");
	zone_free(z);
}

/* A TTL, $TTL or SOA time of 2^32 or more is an error, not the value
 * modulo 2^32 (which is what ldns_str2period() returns). */
static void test_ttl_range(void)
{
	const char *apex = "example.com.";
	load_fails("ttl-range.zone", apex,
		   want("ttl-range.zone", ":5: TTL '99999999999' does not fit in 32 bits"));
	load_fails("ttl-range-unit.zone", apex,
		   want("ttl-range-unit.zone", ":5: TTL '1000000000w' does not fit in 32 bits"));
	load_fails("ttl-range-ldns.zone", apex,
		   want("ttl-range-ldns.zone", ":5: TTL '4294967296' does not fit in 32 bits"));
	load_fails("ttl-range-default.zone", apex,
		   want("ttl-range-default.zone",
			":2: $TTL: TTL '99999999999' does not fit in 32 bits"));
	/* SOA fields are reported at their own line of a multi-line entry. */
	load_fails("soa-range.zone", apex,
		   want("soa-range.zone", ":3: SOA expire '99999999999' does not fit in 32 bits"));
	load_fails(
		"soa-ml-expire.zone", apex,
		want("soa-ml-expire.zone", ":6: SOA expire '99999999999' does not fit in 32 bits"));
	/* What ldns refuses ("could not parse the RR's rdata") is named. */
	load_fails("soa-ml-refresh.zone", apex,
		   want("soa-ml-refresh.zone", ":4: invalid SOA refresh '36oo'"));
	load_fails("soa-ml-rname.zone", apex,
		   want("soa-ml-rname.zone",
			":3: SOA RNAME 'hostmaster..example.com.' is not a valid domain name"));
	load_fails("soa-ml-fields.zone", apex,
		   want("soa-ml-fields.zone", ":2: SOA has 6 data fields, needs 7: MNAME RNAME "
					      "SERIAL REFRESH RETRY EXPIRE MINIMUM"));
	load_fails("soa-ml-blank.zone", apex,
		   want("soa-ml-blank.zone", ":4: invalid SOA serial '2024O10101'"));
	load_fails("soa-serial-range.zone", apex,
		   want("soa-serial-range.zone",
			":2: SOA serial '4294967296' does not fit in 32 bits"));

	uint32_t geo_ttl = 0;
	struct zload_dyn dyn = { .ctx = &geo_ttl, .bind = geo_bind };
	struct diag d;
	struct zone *z = load_dyn(apex, fixture("ttl-range-geo.zone"), &dyn, &d);
	OK(z == NULL, "ttl-range-geo.zone: not loaded (bound with TTL %u)", geo_ttl);
	IS_INT(d.errors, 1, "ttl-range-geo.zone: one error");
	IS_STR(captured,
	       want("ttl-range-geo.zone", ":5: TTL '99999999999' does not fit in 32 bits"),
	       "ttl-range-geo.zone");
	zone_free(z);

	/* 2^32 - 1 itself is a warning, capped to 2^31 - 1 (RFC 2181 8). */
	z = load_dyn(apex, fixture("ttl-max.zone"), &dyn, &d);
	OK(z != NULL, "ttl-max.zone loads");
	IS_INT(d.warnings, 2, "ttl-max.zone: two warnings");
	IS_INT(geo_ttl, 2147483647, "GEO TTL 4294967295 capped");
	if (z != NULL)
		check_set(z, "www.example.com.", RRTYPE_TXT, 1, 2147483647);
	zone_free(z);
}

/* DNAME (RFC 6672), in either form, loads and marks its node. */
static void test_dname(void)
{
	static const char *const files[] = { "dname.zone", "dname-generic.zone" };
	for (size_t i = 0; i < 2; i++) {
		struct diag d;
		struct zone *z = load("example.com.", fixture(files[i]), &d);
		OK(z != NULL && d.errors == 0 && d.warnings == 0, "%s loads", files[i]);
		if (z == NULL)
			continue;
		const struct znode *n = node(z, "dn.example.com.");
		OK(n != NULL && (n->flags & ZNODE_DNAME), "%s: dn has the DNAME flag", files[i]);
		const struct zrrset *s = rrset(z, "dn.example.com.", RRTYPE_DNAME);
		OK(s != NULL && s->count == 1, "%s: one DNAME", files[i]);
		OK(!(z->apex->flags & ZNODE_DNAME), "%s: the apex has none", files[i]);
		zone_free(z);
	}
}

int main(void)
{
	const char *top = getenv("TOP_SRCDIR");
	snprintf(fixture_dir, sizeof(fixture_dir), "%s/tests/data/zload",
		 top != NULL && top[0] != '\0' ? top : ".");
	test_good();
	test_errors();
	test_warnings();
	test_ttl_zero();
	test_class_before_ttl();
	test_ttl_range();
	test_named_errors();
	test_dname();
	test_geo_at_cut();
	return tap_done();
}
