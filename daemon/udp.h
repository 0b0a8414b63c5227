/* udp.h: UDP answering threads: a socket per worker per address, batched I/O. */
#ifndef GD_UDP_H
#define GD_UDP_H

struct answer_stats;
struct conf;
struct dataset;
struct udp_workers;

/*
 * Start n workers per listen address of conf (0: one per online CPU): each
 * is a thread with its own UDP socket (SO_REUSEPORT, so the kernel spreads
 * clients over them) that blocks in recvmmsg() and answers in batches,
 * sent with sendmmsg().  A thread per socket rather than per CPU lets each
 * sleep in the receive call itself, with no poll() per batch.  Workers read
 * the dataset at *live as RCU readers (liburcu QSBR): the publisher swaps
 * the pointer with rcu_assign_pointer() and frees the old one after
 * synchronize_rcu().  Start-up only: returns NULL after logging which
 * address could not be bound.
 */
struct udp_workers *udp_start(const struct conf *conf, unsigned n, struct dataset *const *live);

/* Workers per listen address: the configured number, or one per online
 * CPU when it is 0. */
unsigned udp_workers_per_address(unsigned configured);

/* Number of workers per listen address. */
unsigned udp_count(const struct udp_workers *w);

/* Add every worker's counters into sum. */
void udp_stats_add(const struct udp_workers *w, struct answer_stats *sum);

/* Stop and join the workers and close their sockets; NULL is a no-op. */
void udp_stop(struct udp_workers *w);

#endif
