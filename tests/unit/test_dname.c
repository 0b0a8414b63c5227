/* test_dname.c: unit tests for dns/dname.c, wire-form names. */
#include "config.h"

#include "dns/dname.h"

#include <stdint.h>
#include <string.h>

#include "tests/unit/tap.h"

/* A packet with a 12-octet header followed by wire bytes. */
static size_t mkpkt(uint8_t *pkt, const void *wire, size_t len)
{
	memset(pkt, 0, 12);
	memcpy(pkt + 12, wire, len);
	return 12 + len;
}

static void test_parse_query(void)
{
	uint8_t pkt[600];
	struct dname_split s;
	static const uint8_t www[] = "\3WwW\7ExAmple\3COM"; /* + root NUL */
	size_t len = mkpkt(pkt, www, sizeof(www));

	int end = dname_parse_query(pkt, len, 12, &s);
	IS_INT(end, 12 + 17, "parse_query returns offset past the root");
	IS_INT(s.len, 17, "parsed length includes the root");
	IS_INT(s.labels, 3, "three labels");
	OK(memcmp(s.name, "\3www\7example\3com", 17) == 0, "name is lowercased");
	IS_INT(s.label[0], 0, "label 0 at offset 0");
	IS_INT(s.label[1], 4, "label 1 at offset 4");
	IS_INT(s.label[2], 12, "label 2 at offset 12");
	IS_INT(s.hash[0], dname_hash((const uint8_t *)"\3www\7example\3com"),
	       "hash[0] is the hash of the whole name");
	IS_INT(s.hash[1], dname_hash((const uint8_t *)"\7example\3com"),
	       "hash[1] is the hash of example.com.");
	IS_INT(s.hash[2], dname_hash((const uint8_t *)"\3com"), "hash[2] is the hash of com.");
	IS_INT(s.hash[3], dname_hash((const uint8_t *)""), "hash[labels] is the hash of the root");
	IS_INT(s.hash[0], dname_hash(www), "dname_hash ignores case");
	OK(s.hash[0] != s.hash[1] && s.hash[1] != s.hash[2], "suffix hashes differ");

	/* The same name from dname_split agrees with the parser. */
	struct dname_split t;
	dname_split(www, &t);
	OK(t.len == s.len && memcmp(t.name, s.name, s.len) == 0 &&
		   memcmp(t.hash, s.hash, sizeof(uint32_t) * 4) == 0 &&
		   memcmp(t.label, s.label, 3) == 0,
	   "dname_split matches dname_parse_query");

	/* The root name alone. */
	len = mkpkt(pkt, "", 1);
	IS_INT(dname_parse_query(pkt, len, 12, &s), 13, "root name parses");
	IS_INT(s.labels, 0, "root has no labels");
	IS_INT(s.len, 1, "root is one octet");

	/* Label of 63 octets is fine, 64 is not (0x40 is an extended type). */
	uint8_t w[300];
	w[0] = 63;
	memset(w + 1, 'a', 63);
	w[64] = 0;
	len = mkpkt(pkt, w, 65);
	IS_INT(dname_parse_query(pkt, len, 12, &s), 12 + 65, "63-octet label accepted");
	w[0] = 64;
	memset(w + 1, 'a', 64);
	w[65] = 0;
	len = mkpkt(pkt, w, 66);
	IS_INT(dname_parse_query(pkt, len, 12, &s), -1, "64-octet label rejected");

	/* A compression pointer in a QNAME. */
	len = mkpkt(pkt, "\3www\300\014", 6);
	IS_INT(dname_parse_query(pkt, len, 12, &s), -1, "pointer in qname rejected");

	/* Exactly 255 octets: 3 x 63-octet labels + a 61-octet one + root. */
	size_t o = 0;
	for (int i = 0; i < 3; i++) {
		w[o++] = 63;
		memset(w + o, 'b', 63);
		o += 63;
	}
	w[o++] = 61;
	memset(w + o, 'c', 61);
	o += 61;
	w[o++] = 0;
	len = mkpkt(pkt, w, o);
	IS_INT(o, 255, "fixture is 255 octets");
	IS_INT(dname_parse_query(pkt, len, 12, &s), 12 + 255, "255-octet name accepted");
	IS_INT(s.len, 255, "255-octet name length");
	IS_INT(s.labels, 4, "255-octet name has four labels");
	/* One more octet in the last label: 256. */
	w[192] = 62;
	memset(w + 193, 'c', 62);
	w[255] = 0;
	len = mkpkt(pkt, w, 256);
	IS_INT(dname_parse_query(pkt, len, 12, &s), -1, "256-octet name rejected");

	/* Running past the packet end: in a label, and before the root. */
	len = mkpkt(pkt, "\7exam", 5);
	IS_INT(dname_parse_query(pkt, len, 12, &s), -1, "label running past the end rejected");
	len = mkpkt(pkt, "\7example", 8);
	IS_INT(dname_parse_query(pkt, len, 12, &s), -1, "missing root octet rejected");
	IS_INT(dname_parse_query(pkt, 12, 12, &s), -1, "empty name area rejected");
}

static void test_skip(void)
{
	uint8_t pkt[600];
	/* example.com at 12, then www + pointer to 12 at 25. */
	static const uint8_t wire[] = "\7example\3com\0\3www\300\014";
	size_t len = mkpkt(pkt, wire, sizeof(wire) - 1);

	IS_INT(dname_skip(pkt, len, 12), 25, "skip an uncompressed name");
	IS_INT(dname_skip(pkt, len, 25), 31, "skip a name ending in a pointer");
	IS_INT(dname_skip(pkt, len, 29), 31, "skip a bare backward pointer");

	/* A pointer to itself and one pointing forward. */
	len = mkpkt(pkt, "\7example\3com\0\300\031\0", 16);
	IS_INT(dname_skip(pkt, len, 25), -1, "self pointer rejected");
	len = mkpkt(pkt, "\300\016\0\3www\0", 8);
	IS_INT(dname_skip(pkt, len, 12), -1, "forward pointer rejected");

	/* Truncated: a pointer missing its second octet, a short label. */
	len = mkpkt(pkt, "\3www\300", 5);
	IS_INT(dname_skip(pkt, len, 12), -1, "truncated pointer rejected");
	len = mkpkt(pkt, "\3ww", 3);
	IS_INT(dname_skip(pkt, len, 12), -1, "truncated label rejected");
	len = mkpkt(pkt, "\3www", 4);
	IS_INT(dname_skip(pkt, len, 12), -1, "missing root rejected");
	len = mkpkt(pkt, "\100abc", 4);
	IS_INT(dname_skip(pkt, len, 12), -1, "extended label type rejected");

	/* 256 octets without compression. */
	uint8_t w[300];
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		w[o++] = 63;
		memset(w + o, 'x', 63);
		o += 63;
	}
	w[o++] = 0;
	len = mkpkt(pkt, w, o);
	IS_INT(dname_skip(pkt, len, 12), -1, "over-long name rejected");
}

static void roundtrip(const char *in, const char *want, const char *what)
{
	uint8_t wire[DNAME_MAXLEN];
	char buf[1024];
	int n = dname_from_str(in, wire);
	OK(n > 0, "%s: dname_from_str(\"%s\") = %d", what, in, n);
	if (n > 0) {
		IS_INT(n, dname_len(wire), "wire length agrees with dname_len");
		IS_STR(dname_to_str(wire, buf, sizeof(buf)), want, what);
	}
}

static void test_str(void)
{
	uint8_t wire[DNAME_MAXLEN];
	char buf[1024];

	IS_INT(dname_from_str("www.example.com.", wire), 17, "from_str length");
	OK(memcmp(wire, "\3www\7example\3com", 17) == 0, "from_str wire form");
	IS_INT(dname_from_str("www.example.com", wire), 17, "relative name taken as absolute");
	IS_INT(dname_from_str(".", wire), 1, "root");
	IS_INT(wire[0], 0, "root is a zero octet");
	IS_STR(dname_to_str(wire, buf, sizeof(buf)), ".", "root to_str");

	roundtrip("www.example.com.", "www.example.com.", "plain name");
	roundtrip("Mixed.Case.", "Mixed.Case.", "case kept by to_str");
	roundtrip("a\\.b.example.", "a\\.b.example.", "escaped dot");
	roundtrip("a\\032b.example.", "a\\032b.example.", "escaped space");
	roundtrip("a\\\\b.", "a\\\\b.", "escaped backslash");

	IS_INT(dname_from_str("a\\.b.example.", wire), 13, "\\. length");
	OK(memcmp(wire, "\3a.b\7example", 13) == 0, "\\. stays in the label");
	IS_INT(dname_from_str("a\\032b.", wire), 5, "\\032 length");
	OK(memcmp(wire, "\3a b", 5) == 0, "\\032 is a space octet");
	IS_INT(dname_from_str("\\065.", wire), 3, "\\065 length");
	IS_INT(wire[1], 'A', "\\065 is 'A'");
	IS_INT(dname_from_str("\\256.", wire), -1, "\\256 rejected");

	IS_INT(dname_from_str("a..b.", wire), -1, "empty label rejected");
	IS_INT(dname_from_str(".a.", wire), -1, "leading dot rejected");
	IS_INT(dname_from_str("a\\", wire), -1, "trailing backslash rejected");

	char label[80];
	memset(label, 'l', 63);
	strcpy(label + 63, ".");
	IS_INT(dname_from_str(label, wire), 65, "63-character label accepted");
	memset(label, 'l', 64);
	strcpy(label + 64, ".");
	IS_INT(dname_from_str(label, wire), -1, "64-character label rejected");

	/* 255 octets in wire form is the limit. */
	char name[300];
	size_t o = 0;
	for (int i = 0; i < 3; i++) {
		memset(name + o, 'n', 63);
		o += 63;
		name[o++] = '.';
	}
	memset(name + o, 'n', 61);
	strcpy(name + o + 61, ".");
	IS_INT(dname_from_str(name, wire), 255, "255-octet name accepted");
	memset(name + o, 'n', 62);
	strcpy(name + o + 62, ".");
	IS_INT(dname_from_str(name, wire), -1, "256-octet name rejected");

	/* to_str escapes what from_str would split on. */
	static const uint8_t odd[] = "\5a.b\\\001\3com";
	IS_STR(dname_to_str(odd, buf, sizeof(buf)), "a\\.b\\\\\\001.com.",
	       "to_str escapes dot, backslash and control octets");
	IS_STR(dname_to_str(odd, buf, 4), "a\\.", "to_str truncates to size");
}

static void test_compare(void)
{
	const uint8_t *a = (const uint8_t *)"\3WWW\7Example\3com";
	const uint8_t *b = (const uint8_t *)"\3www\7EXAMPLE\3COM";
	const uint8_t *c = (const uint8_t *)"\3wwx\7example\3com";
	const uint8_t *apex = (const uint8_t *)"\7example\3com";
	const uint8_t *other = (const uint8_t *)"\12notexample\3com";
	const uint8_t *ample = (const uint8_t *)"\4ampl\3com";

	OK(dname_equal(a, b), "equal ignores case");
	OK(!dname_equal(a, c), "different label not equal");
	OK(!dname_equal(a, apex), "different length not equal");
	IS_INT(dname_hash(a), dname_hash(b), "hash ignores case");

	OK(dname_is_subdomain(a, apex), "www.example.com under example.com");
	OK(dname_is_subdomain(apex, apex), "name is a subdomain of itself");
	OK(dname_is_subdomain(b, (const uint8_t *)"\7exAMPLE\3cOm"), "subdomain ignores case");
	OK(dname_is_subdomain(apex, (const uint8_t *)""), "everything is under the root");
	OK(!dname_is_subdomain(apex, a), "parent is not under its child");
	OK(!dname_is_subdomain(other, apex), "notexample.com is not under example.com");
	OK(!dname_is_subdomain(ample, apex), "ampl.com not under example.com");

	uint8_t low[20];
	memcpy(low, a, 17);
	dname_tolower(low);
	OK(memcmp(low, "\3www\7example\3com", 17) == 0, "dname_tolower");
	IS_INT(dname_labels(a), 3, "dname_labels");
	IS_INT(dname_len(a), 17, "dname_len");
}

int main(void)
{
	test_parse_query();
	test_skip();
	test_str();
	test_compare();
	return tap_done();
}
