/* querylog.h: one log line per answered query, switched on and off at run time. */
#ifndef GD_QUERYLOG_H
#define GD_QUERYLOG_H

#include <stdbool.h>

struct answer_conf;

/*
 * Install the query log hook in c, which belongs to a dataset not yet
 * published, and set the log on or off.  While on, every answered query
 * (UDP workers and TCP alike) logs one line at info level:
 *
 *   query: 192.0.2.7#53124 udp www.example.com. IN A NOERROR aa 61
 *          ecs 198.51.100.0/24 scope 24
 *
 * (source address#port, transport, name, class, type, rcode, header flags
 * or "-", response size, and for ECS queries the client subnet and the
 * scope answered).  Main thread.
 */
void querylog_attach(struct answer_conf *c, bool on);

/*
 * Turn the log on or off in c, which may be published and in use: one
 * relaxed atomic store, which answering threads see within a batch.
 * querylog_attach() must have run on c.  Main thread.
 */
void querylog_switch(struct answer_conf *c, bool on);

#endif
