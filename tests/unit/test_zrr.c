/* test_zrr.c: unit tests for zones/zrr.c, differential against ldns_rr_new_frm_str. */
#include "config.h"

#include "zones/zrr.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/rrtype.h"
#include "tests/unit/tap.h"

#define DEFAULT_TTL 3600

static ldns_rdf *origin;
static uint8_t prev[DNAME_MAXLEN]; /* the previous owner, as the loader keeps it */
static unsigned n_fast, n_fallback, n_mismatch;

/*
 * Parse line both ways, the ldns way as zload's record_line() does it (a
 * blank owner gets the previous owner's text put in front).  When the fast
 * path takes the line, ldns must accept it and agree on every octet.
 * Returns 1 taken and equal, 0 left to ldns, -1 taken but different (with
 * the difference printed).
 */
static int differ(const char *line)
{
	bool blank = line[0] == ' ' || line[0] == '\t';
	static struct zrr fast;
	int got = zrr_parse(line, blank, ldns_rdf_data(origin), prev, &fast);
	if (!got) {
		n_fallback++;
		return 0;
	}
	n_fast++;
	char text[8192];
	if (blank) {
		char ptext[DNAME_MAXLEN * 4 + 2];
		snprintf(text, sizeof(text), "%s%s", dname_to_str(prev, ptext, sizeof(ptext)),
			 line);
	} else {
		snprintf(text, sizeof(text), "%s", line);
	}
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, text, DEFAULT_TTL, origin, NULL);
	const char *why = NULL;
	ldns_buffer *wire = ldns_buffer_new(65536);
	if (st != LDNS_STATUS_OK) {
		why = ldns_get_errorstr_by_id(st);
	} else {
		const ldns_rdf *o = ldns_rr_owner(rr);
		if (ldns_rdf_size(o) != fast.owner_len ||
		    memcmp(ldns_rdf_data(o), fast.owner, fast.owner_len) != 0)
			why = "owner";
		else if (ldns_rr_get_type(rr) != fast.type)
			why = "type";
		else if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
			why = "class";
		else if (fast.has_ttl && ldns_rr_ttl(rr) != fast.ttl)
			why = "TTL";
		else if (ldns_rr_rdata2buffer_wire(wire, rr) != LDNS_STATUS_OK ||
			 ldns_buffer_position(wire) != fast.rdlen ||
			 memcmp(ldns_buffer_begin(wire), fast.rdata, fast.rdlen) != 0)
			why = "RDATA";
	}
	if (why == NULL && !blank) {
		/* zfreader never gives a line with a leading blank here */
		memcpy(prev, fast.owner, fast.owner_len);
	}
	ldns_buffer_free(wire);
	ldns_rr_free(rr);
	if (why != NULL) {
		n_mismatch++;
		printf("# fast path and ldns differ (%s): '%s'\n", why, line);
		return -1;
	}
	return 1;
}

/* Lines the fast path must take, byte-identical to ldns. */
static void test_taken(void)
{
	static const char *lines[] = {
		"www IN A 192.0.2.1",
		"www A 192.0.2.1",
		"www 300 A 192.0.2.1",
		"www 300 IN A 192.0.2.1",
		"www\t300\tIN\tA\t192.0.2.1",
		"www   IN   A   192.0.2.1   ",
		"WwW.Sub in a 10.0.0.255",
		"www.example.com. IN A 0.0.0.0",
		"@ IN A 192.0.2.1",
		"* IN A 192.0.2.1",
		"*.wild IN A 192.0.2.1",
		"_sip._tcp IN SRV 10 60 5060 sip",
		"_sip._tcp IN SRV 0 0 0 .",
		"_sip._tcp IN SRV 65535 65535 65535 sip.example.org.",
		"www 1h IN A 192.0.2.1",
		"www 1h30m IN A 192.0.2.1",
		"www 1W2d IN A 192.0.2.1",
		"www 0 IN A 192.0.2.1",
		"www 2147483648 IN A 192.0.2.1",
		"www 4294967295 IN A 192.0.2.1",
		"www 7101w IN A 192.0.2.1",
		"www 1w0 IN A 192.0.2.1",
		"www IN AAAA 2001:db8::1",
		"www IN aaaa ::",
		"www IN AAAA ::ffff:192.0.2.1",
		"www IN AAAA 2001:DB8:0:0:0:0:0:1",
		"a IN NS ns1",
		"a IN NS ns1.example.net.",
		"a IN NS @",
		"a IN CNAME b.C.d",
		"a IN PTR host.example.",
		"a IN MX 10 mail",
		"a IN MX 0 .",
		"a IN MX 010 mail.example.net.",
		"a IN TXT \"hello world\"",
		"a IN TXT hello",
		"a IN TXT \"\"",
		"a IN TXT \"a\" \"b\"   \"c\"",
		"a IN TXT \"a\"  b  \"c d\" ",
		"a IN TXT \"v=DKIM1; k=rsa; p=MIGfMA0\"",
		"a IN TXT \"(paren) [x] {y}\"",
		"a IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"",
		" IN A 192.0.2.2",
		"\tIN A 192.0.2.2",
		" 60 TXT \"blank owner\"",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		OK(differ(lines[i]) == 1, "taken and as ldns: '%s'", lines[i]);
}

/* Lines the fast path must leave to ldns: not certain, or wrong (ldns then
 * words the error). */
static void test_left(void)
{
	static const char *lines[] = {
		"www IN A 192.0.2",
		"www IN A 192.0.2.1 extra",
		"www IN A 192.0.2.01",
		"www IN A",
		"www IN AAAA 192.0.2.1",
		"www CH A 192.0.2.1",
		"www HS A 192.0.2.1",
		"www CLASS1 A 192.0.2.1",
		"www 300 300 A 192.0.2.1",
		"www IN 300 300 A 192.0.2.1",
		"www IN 300x A 192.0.2.1",
		"www 300x IN A 192.0.2.1",
		/* ldns wraps these modulo 2^32; the loader reports them. */
		"www 4294967296 IN A 192.0.2.1",
		"www 99999999999 IN A 192.0.2.1",
		"www 1000000000w IN A 192.0.2.1",
		"www 7102w IN A 192.0.2.1",
		"www 4294967295s1 IN A 192.0.2.1",
		"www IN TYPE1 \\# 4 c0000201",
		"www IN A \\# 4 c0000201",
		"www IN GEO web",
		"www IN SOA ns1 host 1 2 3 4 5",
		"www IN HINFO cpu os",
		"w\\065w IN A 192.0.2.1",
		"w\\.w IN A 192.0.2.1",
		"w@w IN A 192.0.2.1",
		"@.x IN A 192.0.2.1",
		"a..b IN A 192.0.2.1",
		".a IN A 192.0.2.1",
		"a IN NS b..c",
		"a IN NS @.x",
		"a IN MX 65536 mail",
		"a IN MX -1 mail",
		"a IN MX +1 mail",
		"a IN MX 10",
		"a IN MX mail",
		"a IN SRV 1 2 mail",
		"a IN TXT",
		"a IN TXT \"a\\\"b\"",
		"a IN TXT a\\032b",
		"a IN TXT \"a\"b",
		"a IN TXT \"a\"\t\"b\"",
		"a IN TXT \"tab\tinside\"",
		"a IN TXT \"caf\xc3\xa9\"",
		"a IN TXT \"unclosed",
		"a IN CNAME b c",
		"a\x01 IN A 192.0.2.1",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa IN A 192.0.2.1",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		OK(differ(lines[i]) == 0, "left to ldns: '%s'", lines[i]);

	/* RFC 1035 5.1: the class before the TTL reads as the TTL before the
	 * class (which ldns reads, and differ() compares with). */
	static const char *swapped[][2] = {
		{ "www IN 300 A 192.0.2.1", "www 300 IN A 192.0.2.1" },
		{ "www IN 1h TXT \"a\" \"b\"", "www 1h IN TXT \"a\" \"b\"" },
		{ "www IN 60 MX 10 mail", "www 60 IN MX 10 mail" },
	};
	for (size_t i = 0; i < sizeof(swapped) / sizeof(swapped[0]); i++) {
		struct zrr a, b;
		int ra = zrr_parse(swapped[i][0], false, ldns_rdf_data(origin), NULL, &a);
		int rb = zrr_parse(swapped[i][1], false, ldns_rdf_data(origin), NULL, &b);
		OK(ra == 1 && rb == 1 && differ(swapped[i][1]) == 1 && a.has_ttl && b.has_ttl &&
			   a.ttl == b.ttl && a.type == b.type && a.rdlen == b.rdlen &&
			   memcmp(a.rdata, b.rdata, a.rdlen) == 0,
		   "'%s' reads as '%s'", swapped[i][0], swapped[i][1]);
	}

	/* A blank owner with no previous owner is the loader's error. */
	struct zrr z;
	OK(zrr_parse(" IN A 192.0.2.1", true, ldns_rdf_data(origin), NULL, &z) == 0,
	   "blank owner without a previous one left to the loader");

	/* Names too long for RFC 1035 2.3.4 once the origin is added. */
	char longname[400];
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		memset(longname + n, 'x', 63);
		n += 63;
		longname[n++] = '.';
	}
	longname[n - 1] = '\0';
	char line[512];
	snprintf(line, sizeof(line), "%s IN A 192.0.2.1", longname);
	OK(differ(line) == 0, "over-long owner left to ldns");
	snprintf(line, sizeof(line), "a IN CNAME %s", longname);
	OK(differ(line) == 0, "over-long CNAME target left to ldns");
	snprintf(line, sizeof(line), "%s. IN A 192.0.2.1", longname);
	OK(differ(line) == 0, "absolute 4x63 owner (256 octets) left to ldns");
}

/* zrr_ttl_parse(): ldns_str2period()'s values, without its wrapping. */
static void test_ttl(void)
{
	static const struct {
		const char *text;
		int status;
		uint32_t ttl;
	} cases[] = {
		{ "0", ZRR_TTL_OK, 0 },
		{ "3600", ZRR_TTL_OK, 3600 },
		{ "1h30m", ZRR_TTL_OK, 5400 },
		{ "1W2d3H4m5S", ZRR_TTL_OK, 788645 },
		{ "1h30", ZRR_TTL_OK, 3630 },
		{ "2147483648", ZRR_TTL_OK, 2147483648u },
		{ "4294967295", ZRR_TTL_OK, 4294967295u },
		{ "00004294967295", ZRR_TTL_OK, 4294967295u },
		{ "7101w", ZRR_TTL_OK, 4294684800u },
		{ "7101w282495", ZRR_TTL_OK, 4294967295u },
		{ "4294967296", ZRR_TTL_RANGE, 0 },
		{ "99999999999", ZRR_TTL_RANGE, 0 },
		{ "1000000000w", ZRR_TTL_RANGE, 0 },
		{ "7102w", ZRR_TTL_RANGE, 0 },
		{ "7101w282496", ZRR_TTL_RANGE, 0 },
		{ "4294967295s1", ZRR_TTL_RANGE, 0 },
		{ "", ZRR_TTL_SYNTAX, 0 },
		{ "h", ZRR_TTL_SYNTAX, 0 },
		{ "-5", ZRR_TTL_SYNTAX, 0 },
		{ "+5", ZRR_TTL_SYNTAX, 0 },
		{ "300x", ZRR_TTL_SYNTAX, 0 },
		{ "1 h", ZRR_TTL_SYNTAX, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		uint32_t ttl = 0;
		int st = zrr_ttl_parse(t, strlen(t), &ttl);
		OK(st == cases[i].status && (st != ZRR_TTL_OK || ttl == cases[i].ttl),
		   "zrr_ttl_parse('%s'): status %d ttl %u", t, st, ttl);
		if (st == ZRR_TTL_OK) {
			const char *end;
			OK(ldns_str2period(t, &end) == ttl && *end == '\0',
			   "'%s' as ldns_str2period() reads it", t);
		}
	}
}

/* ---- generated lines ---------------------------------------------- */

static uint32_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd((uint32_t)n)];
}
#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

static void gen_line(char *buf, size_t size)
{
	static const char *const owners[] = {
		"www",         "WWW.Sub",   "a.b.c.d", "@",       "*",
		"*.w",         "_srv._tcp", "x-y",     "h123",    "abs.example.com.",
		"Other.Zone.", ".",         "",        "\t",      "a..b",
		"w\\046x",     "-",         "a_b",     "1.2.3.4", "a.",
		"@x",
	};
	static const char *const ttls[] = {
		"",    "",     "",        "0 ",          "60 ",          "3600 ",
		"1h ", "2D ",  "1h2m3s ", "4294967295 ", "99999999999 ", "1x ",
		"01 ", "60\t",
	};
	static const char *const classes[] = { "", "", "IN ", "in ", "CH ", "CLASS1 ", "IN\t" };
	static const char *const seps[] = { " ", " ", " ", "\t", "  ", " \t " };
	static const char *const names[] = {
		"ns1",
		"ns1.example.net.",
		"@",
		".",
		"Mail.Example",
		"*.x",
		"a..b",
		"x\\.y",
		"@.a",
		"_a-b",
		"ab.",
		"",
	};
	static const char *const nums[] = { "0", "10", "010", "65535", "65536", "-1", "x", "" };
	static const char *const v4[] = {
		"192.0.2.1", "0.0.0.0",  "255.255.255.255", "256.0.0.1",
		"1.2.3",     "01.2.3.4", "1.2.3.4.5",       "::1",
	};
	static const char *const v6[] = {
		"::",      "::1",     "2001:db8::1", "2001:DB8:0:0:0:0:0:1",   "::ffff:1.2.3.4",
		"1::2::3", "gggg::1", "192.0.2.1",   "2001:db8:0:0:0:0:0:0:1",
	};
	static const char *const txts[] = {
		"\"hello world\"", "hello",        "\"\"",
		"\"a\" \"b\"",     "\"a\"  b",     "\"v=DKIM1; k=rsa\"",
		"\"(x)\"",         "a\\\"b",       "\"a\\\"b\"",
		"\"a\"b",          "\"a\"\t\"b\"", "\"t\tt\"",
		"\"caf\xc3\xa9\"", "\"x",
	};
	static const char *const tails[] = { "", "", "", " ", "\t", " extra" };
	const char *owner = PICK(owners);
	char rdata[512];
	const char *type;
	switch (rnd(8)) {
	case 0:
		type = "A";
		snprintf(rdata, sizeof(rdata), "%s", PICK(v4));
		break;
	case 1:
		type = rnd(2) ? "AAAA" : "aaaa";
		snprintf(rdata, sizeof(rdata), "%s", PICK(v6));
		break;
	case 2:
		type = PICK(((const char *const[]){ "NS", "CNAME", "PTR", "cname" }));
		snprintf(rdata, sizeof(rdata), "%s", PICK(names));
		break;
	case 3:
		type = "MX";
		snprintf(rdata, sizeof(rdata), "%s%s%s", PICK(nums), PICK(seps), PICK(names));
		break;
	case 4:
		type = "SRV";
		snprintf(rdata, sizeof(rdata), "%s %s%s%s %s", PICK(nums), PICK(nums), PICK(seps),
			 PICK(nums), PICK(names));
		break;
	case 5:
		type = "TXT";
		snprintf(rdata, sizeof(rdata), "%s%s%s", PICK(txts), rnd(2) ? " " : "",
			 rnd(2) ? PICK(txts) : "");
		break;
	case 6:
		type = PICK(((const char *const[]){ "SOA", "HINFO", "TYPE1", "GEO", "A6" }));
		snprintf(rdata, sizeof(rdata), "%s", PICK(names));
		break;
	default:
		type = "A";
		snprintf(rdata, sizeof(rdata), "%u.%u.%u.%u", rnd(256), rnd(256), rnd(256),
			 rnd(256));
		break;
	}
	snprintf(buf, size, "%s%s%s%s%s%s%s%s", owner, owner[0] == '\t' ? "" : " ", PICK(ttls),
		 PICK(classes), type, PICK(seps), rdata, PICK(tails));
}

static void test_generated(void)
{
	n_fast = n_fallback = n_mismatch = 0;
	char line[1024];
	for (int i = 0; i < 50000; i++) {
		gen_line(line, sizeof(line));
		differ(line);
	}
	IS_INT(n_mismatch, 0, "50000 generated lines: every line taken agrees with ldns");
	OK(n_fast > 5000, "the fast path took %u of them (%u left to ldns)", n_fast, n_fallback);
}

/* Every line of the scale benchmark's shape is taken. */
static void test_bench_shape(void)
{
	n_fast = n_fallback = n_mismatch = 0;
	char line[256];
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(line, sizeof(line), "h%u IN A 10.%u.%u.%u", i, (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		differ(line);
		snprintf(line, sizeof(line), "h%u IN AAAA 2001:db8::%x:%x", i, i >> 16, i & 0xffff);
		differ(line);
		snprintf(line, sizeof(line), "h%u IN TXT \"record %u of the scale test\"", i, i);
		differ(line);
		snprintf(line, sizeof(line), "h%u IN MX 10 mail.h%u", i, i);
		differ(line);
		snprintf(line, sizeof(line), "h%u IN CNAME h%u", i, i + 1);
		differ(line);
		snprintf(line, sizeof(line), "h%u IN NS ns.example.net.", i);
		differ(line);
	}
	IS_INT(n_mismatch, 0, "benchmark-shaped lines agree with ldns");
	IS_INT(n_fallback, 0, "benchmark-shaped lines all taken");
}

int main(void)
{
	if (ldns_str2rdf_dname(&origin, "Example.com.") != LDNS_STATUS_OK)
		return 1;
	uint8_t start[] = { 3,   'w', 'w', 'w', 7,   'e', 'x', 'a', 'm',
			    'p', 'l', 'e', 3,   'c', 'o', 'm', 0 };
	memcpy(prev, start, sizeof(start));
	test_taken();
	test_left();
	test_ttl();
	test_generated();
	test_bench_shape();
	ldns_rdf_deep_free(origin);
	return tap_done();
}
