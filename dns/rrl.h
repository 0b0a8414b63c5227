/* rrl.h: response rate limiting per client prefix, in the spirit of BIND's and Knot's RRL. */
#ifndef GD_RRL_H
#define GD_RRL_H

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

#endif
