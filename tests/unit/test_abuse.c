/* test_abuse.c: SipHash and RFC 9018 cookies, response rate limiting. */
#include "config.h"

#include <string.h>

#include "dns/cookie.h"
#include "dns/rrl.h"
#include "tap.h"

static void test_siphash(void)
{
	/* The reference vector of the SipHash paper: key 00..0f, message
	 * 00..0e (15 octets) gives a129ca6149be45e5. */
	uint8_t key[16], msg[15];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	OK(cookie_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL,
	   "SipHash-2-4 reference vector (15 octets)");
	OK(cookie_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL,
	   "SipHash-2-4 reference vector (empty)");
	OK(cookie_siphash24(key, msg, 8) == 0x93f5f5799a932462ULL,
	   "SipHash-2-4 reference vector (8 octets)");
}

static void test_cookies(void)
{
	uint8_t secret[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t cc[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };
	uint8_t a4[4] = { 192, 0, 2, 1 }, other[4] = { 192, 0, 2, 2 };
	uint8_t sc[COOKIE_SERVER_LEN];
	cookie_set_secret(secret);
	cookie_make(cc, a4, 4, 1000000, sc);
	IS_INT(sc[0], 1, "RFC 9018 version 1");
	IS_INT(sc[4] << 24 | sc[5] << 16 | sc[6] << 8 | sc[7], 1000000, "timestamp");
	OK(cookie_valid(cc, sc, sizeof(sc), a4, 4, 1000000), "fresh cookie valid");
	OK(cookie_valid(cc, sc, sizeof(sc), a4, 4, 1000000 + 3600), "valid for an hour");
	OK(!cookie_valid(cc, sc, sizeof(sc), a4, 4, 1000000 + 3601), "expired after an hour");
	OK(!cookie_valid(cc, sc, sizeof(sc), a4, 4, 1000000 - 301), "not from the future");
	OK(!cookie_valid(cc, sc, sizeof(sc), other, 4, 1000000), "bound to the client address");
	uint8_t cc2[8] = { 0 };
	OK(!cookie_valid(cc2, sc, sizeof(sc), a4, 4, 1000000), "bound to the client cookie");
	sc[15] ^= 1;
	OK(!cookie_valid(cc, sc, sizeof(sc), a4, 4, 1000000), "hash checked");
	OK(!cookie_valid(cc, sc, 8, a4, 4, 1000000), "wrong length refused");
	uint8_t s2[16] = { 0 };
	cookie_set_secret(s2);
	sc[15] ^= 1;
	OK(!cookie_valid(cc, sc, sizeof(sc), a4, 4, 1000000), "another secret refuses it");
}

static void test_rrl(void)
{
	struct rrl *r = rrl_new(5, 2, 24, 56);
	uint8_t a[4] = { 198, 51, 100, 7 }, same24[4] = { 198, 51, 100, 200 };
	uint8_t b[4] = { 203, 0, 113, 7 };
	int pass = 0, drop = 0, slip = 0;
	for (int i = 0; i < 20; i++) {
		enum rrl_verdict v = rrl_account(r, 4, i % 2 ? a : same24, 42, 1000);
		pass += v == RRL_PASS;
		drop += v == RRL_DROP;
		slip += v == RRL_SLIP;
	}
	IS_INT(pass, 5, "burst of rate (5) passes within one instant, per /24");
	IS_INT(slip, 7, "every 2nd limited response slips");
	IS_INT(drop, 8, "the rest are dropped");
	OK(rrl_account(r, 4, b, 42, 1000) == RRL_PASS, "another prefix has its own bucket");
	OK(rrl_account(r, 4, a, 43, 1000) == RRL_PASS, "another kind has its own bucket");
	/* 1 s later the bucket is full again: 5 more. */
	pass = 0;
	for (int i = 0; i < 10; i++)
		pass += rrl_account(r, 4, a, 42, 2000) == RRL_PASS;
	IS_INT(pass, 5, "refilled at rate per second");
	/* 200 ms: one token. */
	pass = 0;
	for (int i = 0; i < 3; i++)
		pass += rrl_account(r, 4, a, 42, 2200) == RRL_PASS;
	IS_INT(pass, 1, "partial refill");

	/* The log's prefixes: each limited prefix once, masked; a bucket that
	 * goes on being limited does not start again, one that refilled
	 * does. */
	struct rrl_prefix p[4];
	bool more = true;
	char buf[64];
	size_t n = rrl_take_prefixes(r, p, 4, &more);
	IS_INT(n, 1, "one prefix limited so far (two buckets of it)");
	OK(!more, "no others");
	rrl_prefix_str(&p[0], buf, sizeof(buf));
	IS_STR(buf, "198.51.100.0/24", "the prefix, masked");
	IS_INT(rrl_take_prefixes(r, p, 4, &more), 0, "taken: none left");
	for (int i = 0; i < 3; i++)
		rrl_account(r, 4, a, 42, 2210);
	IS_INT(rrl_take_prefixes(r, p, 4, &more), 0, "still limited: not a new start");
	uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0xff, 0xff, [15] = 1 };
	for (int i = 0; i < 7; i++) {
		rrl_account(r, 4, a, 42, 4000); /* refilled (full): starts again */
		rrl_account(r, 6, v6, 42, 4000);
	}
	n = rrl_take_prefixes(r, p, 4, &more);
	IS_INT(n, 2, "the refilled bucket and the IPv6 one started");
	rrl_prefix_str(&p[1], buf, sizeof(buf));
	IS_STR(buf, "2001:db8:1:ff00::/56", "IPv6 prefix, masked to /56");
	for (uint8_t i = 0; i < 6; i++) {
		uint8_t c[4] = { 192, 0, i, 1 };
		for (int k = 0; k < 6; k++)
			rrl_account(r, 4, c, 42, 5000);
	}
	n = rrl_take_prefixes(r, p, 4, &more);
	OK(n == 4 && more, "at most max returned, and more flagged (%zu)", n);
	rrl_free(r);
}

int main(void)
{
	test_siphash();
	test_cookies();
	test_rrl();
	return tap_done();
}
