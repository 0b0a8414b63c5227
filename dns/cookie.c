/* cookie.c: RFC 9018 server cookies: SipHash-2-4 over client cookie, header, time, address. */
#include "config.h"

#include "dns/cookie.h"

#include <string.h>
#include <sys/random.h>

static uint8_t secret[16];

void cookie_set_secret(const uint8_t s[16])
{
	memcpy(secret, s, sizeof(secret));
}

int cookie_random_secret(uint8_t s[16])
{
	return getrandom(s, 16, 0) == 16 ? 0 : -1;
}

/* ---- SipHash-2-4 (Aumasson and Bernstein), as RFC 9018 4.4 requires ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t cookie_siphash24(const uint8_t key[16], const uint8_t *in, size_t len)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* RFC 9018 4.4: Hash = SipHash-2-4(Client Cookie | Version | Reserved |
 * Timestamp | Client-IP, Server Secret). */
static uint64_t cookie_hash(const uint8_t cc[COOKIE_CLIENT_LEN], const uint8_t head[8],
			    const uint8_t *addr, size_t addr_len)
{
	uint8_t in[COOKIE_CLIENT_LEN + 8 + 16];
	memcpy(in, cc, COOKIE_CLIENT_LEN);
	memcpy(in + COOKIE_CLIENT_LEN, head, 8);
	memcpy(in + COOKIE_CLIENT_LEN + 8, addr, addr_len);
	return cookie_siphash24(secret, in, COOKIE_CLIENT_LEN + 8 + addr_len);
}

void cookie_make(const uint8_t cc[COOKIE_CLIENT_LEN], const uint8_t *addr, size_t addr_len,
		 uint32_t now, uint8_t out[COOKIE_SERVER_LEN])
{
	out[0] = 1; /* version */
	out[1] = out[2] = out[3] = 0;
	out[4] = (uint8_t)(now >> 24);
	out[5] = (uint8_t)(now >> 16);
	out[6] = (uint8_t)(now >> 8);
	out[7] = (uint8_t)now;
	uint64_t h = cookie_hash(cc, out, addr, addr_len);
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(h >> (8 * i));
}

bool cookie_valid(const uint8_t cc[COOKIE_CLIENT_LEN], const uint8_t *srv, size_t srv_len,
		  const uint8_t *addr, size_t addr_len, uint32_t now)
{
	if (srv_len != COOKIE_SERVER_LEN || srv[0] != 1)
		return false;
	uint32_t t =
		(uint32_t)srv[4] << 24 | (uint32_t)srv[5] << 16 | (uint32_t)srv[6] << 8 | srv[7];
	/* Serial arithmetic (RFC 1982) on the 32-bit time. */
	int32_t age = (int32_t)(now - t);
	if (age > 3600 || age < -300)
		return false;
	uint64_t h = cookie_hash(cc, srv, addr, addr_len);
	uint8_t want[8];
	for (int i = 0; i < 8; i++)
		want[i] = (uint8_t)(h >> (8 * i));
	return memcmp(want, srv + 8, 8) == 0;
}
