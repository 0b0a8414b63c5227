/* rrl.c: token buckets in a fixed hash table, locked in stripes. */
#include "config.h"

#include "dns/rrl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dns/xalloc.h"

#define TABLE_SIZE 65536 /* buckets; a collision just shares or resets one */
#define STRIPES    64
#define MILLI      1000

struct bucket {
	uint64_t key;
	uint64_t last_ms;
	int64_t tokens;   /* thousandths of a response */
	uint32_t limited; /* responses limited since it started */
};

struct rrl {
	unsigned rate, slip, v4_prefix, v6_prefix;
	pthread_mutex_t lock[STRIPES];
	struct bucket table[TABLE_SIZE];
};

struct rrl *rrl_new(unsigned rate, unsigned slip, unsigned v4_prefix, unsigned v6_prefix)
{
	struct rrl *r = xcalloc(1, sizeof(*r));
	r->rate = rate;
	r->slip = slip;
	r->v4_prefix = v4_prefix;
	r->v6_prefix = v6_prefix;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&r->lock[i], NULL);
	return r;
}

void rrl_free(struct rrl *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&r->lock[i]);
	free(r);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	/* splitmix64 finaliser over a running value */
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint64_t prefix_key(const struct rrl *r, int family, const uint8_t *addr)
{
	unsigned bits = family == 4 ? r->v4_prefix : r->v6_prefix;
	uint64_t h = (uint64_t)family;
	for (unsigned i = 0; i < (family == 4 ? 4u : 16u); i++) {
		uint8_t b = addr[i];
		if (i * 8 >= bits)
			b = 0;
		else if (i * 8 + 8 > bits)
			b &= (uint8_t)(0xFF << (8 - (bits - i * 8)));
		h = mix(h, b);
	}
	return h;
}

enum rrl_verdict rrl_account(struct rrl *r, int family, const uint8_t *addr, uint64_t kind_hash,
			     uint64_t now_ms)
{
	uint64_t key = mix(prefix_key(r, family, addr), kind_hash) | 1;
	size_t slot = key & (TABLE_SIZE - 1);
	pthread_mutex_t *lock = &r->lock[slot % STRIPES];
	struct bucket *b = &r->table[slot];
	int64_t full = (int64_t)r->rate * MILLI;
	enum rrl_verdict v = RRL_PASS;

	pthread_mutex_lock(lock);
	if (b->key != key) {
		b->key = key;
		b->last_ms = now_ms;
		b->tokens = full;
		b->limited = 0;
	}
	/* Refill rate tokens per second since the last response. */
	uint64_t dt = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
	b->last_ms = now_ms;
	b->tokens += (int64_t)(dt > 10000 ? 10000 : dt) * r->rate;
	if (b->tokens > full)
		b->tokens = full;
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
	} else {
		b->limited++;
		v = r->slip != 0 && b->limited % r->slip == 0 ? RRL_SLIP : RRL_DROP;
	}
	pthread_mutex_unlock(lock);
	return v;
}
