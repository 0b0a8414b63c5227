/* rrl.h: response rate limiting per client prefix, in the spirit of BIND's and Knot's RRL. */
#ifndef GD_RRL_H
#define GD_RRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rrl;

/* What to do with a response. */
enum rrl_verdict {
	RRL_PASS, /* send it */
	RRL_DROP, /* send nothing */
	RRL_SLIP, /* send it truncated (TC, no records): a real client
			 * retries over TCP, a spoofed victim gets little */
};

/*
 * A limiter allowing rate responses per second (burst: one second's worth)
 * for each bucket, where a bucket is a client prefix (v4_prefix / v6_prefix
 * bits) and a response kind.  Every slip-th limited response is slipped
 * (0: never).  The table has a fixed size; nothing is allocated per query.
 * Aborts on OOM (control plane).
 */
struct rrl *rrl_new(unsigned rate, unsigned slip, unsigned v4_prefix, unsigned v6_prefix);

/* Free; NULL is a no-op. */
void rrl_free(struct rrl *r);

/*
 * Account one UDP response to family/addr (4 or 6) whose kind is summed up
 * by kind_hash (e.g. the query name and type for answers, the zone for
 * NXDOMAIN) at now_ms (monotonic).  Thread-safe.
 */
enum rrl_verdict rrl_account(struct rrl *r, int family, const uint8_t *addr, uint64_t kind_hash,
			     uint64_t now_ms);

/* A client prefix that rate limiting met (the address masked to it). */
struct rrl_prefix {
	int family; /* 4 or 6 */
	unsigned bits;
	uint8_t addr[16];
};

/*
 * The client prefixes whose responses started to be limited since the last
 * call (a bucket starts again after it has refilled), at most max of them,
 * each once, in the order they started; *more is set when others started
 * too.  Thread-safe; for the log.
 */
size_t rrl_take_prefixes(struct rrl *r, struct rrl_prefix *out, size_t max, bool *more);

/* "192.0.2.0/24" or "2001:db8::/56" into buf (INET6_ADDRSTRLEN + 4). */
void rrl_prefix_str(const struct rrl_prefix *p, char *buf, size_t size);

#endif
