/* explain.h: CH TXT <name>.explain.geodnsd: why a client gets the answer it gets. */
#ifndef GD_EXPLAIN_H
#define GD_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

struct answer_client;
struct answer_data;
struct pkt;
struct query;
struct sockaddr;

/* True when the query name ends in explain.geodnsd or is
 * [<service>.]status.geodnsd (health state, same ACL). */
bool explain_match(const struct query *q);

/*
 * Answer an explain query: one TXT record per line describing what client
 * (the ECS subnet, else the source) gets for the name before the suffix,
 * and why.  Only sources allowed by the explain ACL (default loopback) get
 * an answer; others get REFUSED.  Returns the rcode.
 */
unsigned explain_answer(const struct answer_data *d, const struct query *q,
			const struct answer_client *client, const struct sockaddr *from,
			struct pkt *p, uint16_t *flags);

#endif
