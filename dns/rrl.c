/* rrl.c: token buckets in a fixed hash table, locked in stripes. */
#include "config.h"

#include "dns/rrl.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/xalloc.h"

#define TABLE_SIZE 65536 /* buckets; a collision just shares or resets one */
#define STRIPES    64
#define MILLI      1000
#define RECENT     16 /* prefixes kept for the log between two takes */

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
	/* Prefixes that started to be limited, for the log; taken only when a
	 * bucket starts, never per limited response. */
	pthread_mutex_t recent_lock;
	struct rrl_prefix recent[RECENT];
	size_t n_recent;
	bool more;
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
	pthread_mutex_init(&r->recent_lock, NULL);
	return r;
}

void rrl_free(struct rrl *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&r->lock[i]);
	pthread_mutex_destroy(&r->recent_lock);
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

/* Octet i of addr masked to bits. */
static uint8_t masked(const uint8_t *addr, unsigned i, unsigned bits)
{
	if (i * 8 >= bits)
		return 0;
	if (i * 8 + 8 > bits)
		return addr[i] & (uint8_t)(0xFF << (8 - (bits - i * 8)));
	return addr[i];
}

static uint64_t prefix_key(const struct rrl *r, int family, const uint8_t *addr)
{
	unsigned bits = family == 4 ? r->v4_prefix : r->v6_prefix;
	uint64_t h = (uint64_t)family;
	for (unsigned i = 0; i < (family == 4 ? 4u : 16u); i++)
		h = mix(h, masked(addr, i, bits));
	return h;
}

/* A bucket of family/addr started to be limited: keep its prefix for the
 * log, once. */
static void note_prefix(struct rrl *r, int family, const uint8_t *addr)
{
	struct rrl_prefix p = { .family = family,
				.bits = family == 4 ? r->v4_prefix : r->v6_prefix };
	for (unsigned i = 0; i < (family == 4 ? 4u : 16u); i++)
		p.addr[i] = masked(addr, i, p.bits);
	pthread_mutex_lock(&r->recent_lock);
	size_t i = 0;
	while (i < r->n_recent &&
	       (r->recent[i].family != family || memcmp(r->recent[i].addr, p.addr, 16) != 0))
		i++;
	if (i == r->n_recent) {
		if (r->n_recent < RECENT)
			r->recent[r->n_recent++] = p;
		else
			r->more = true;
	}
	pthread_mutex_unlock(&r->recent_lock);
}

size_t rrl_take_prefixes(struct rrl *r, struct rrl_prefix *out, size_t max, bool *more)
{
	pthread_mutex_lock(&r->recent_lock);
	size_t n = r->n_recent < max ? r->n_recent : max;
	memcpy(out, r->recent, n * sizeof(*out));
	*more = r->more || r->n_recent > n;
	r->n_recent = 0;
	r->more = false;
	pthread_mutex_unlock(&r->recent_lock);
	return n;
}

void rrl_prefix_str(const struct rrl_prefix *p, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a)) == NULL)
		a[0] = '\0';
	snprintf(buf, size, "%s/%u", a, p->bits);
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
	if (b->tokens >= full) {
		b->tokens = full;
		b->limited = 0; /* refilled: a later limit is a new start */
	}
	bool started = false;
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
	} else {
		started = b->limited++ == 0;
		v = r->slip != 0 && b->limited % r->slip == 0 ? RRL_SLIP : RRL_DROP;
	}
	pthread_mutex_unlock(lock);
	if (started)
		note_prefix(r, family, addr);
	return v;
}
