/* server.h: the listening sockets (UDP and TCP on libevent) and the live dataset. */
#ifndef GD_SERVER_H
#define GD_SERVER_H

struct answer_stats;
struct conf;
struct dataset;
struct event_base;
struct server;

/*
 * Open a TCP socket on every listen address of conf and register it with
 * base, and start the UDP workers (udp.h).  At most tcp_max TCP
 * connections are open at once (tcp-max-connections, or fewer when the
 * descriptor limit is short).  Start-up only: returns NULL after logging
 * which address could not be bound and why.
 */
struct server *server_new(struct event_base *base, const struct conf *conf, unsigned tcp_max);

/*
 * Make ds the dataset every following query is answered from, and free the
 * previous one once no UDP worker can still see it (an RCU grace period;
 * TCP answers run on this same thread).  Runs on the event loop thread.
 * Takes ownership of ds.
 */
void server_publish(struct server *s, struct dataset *ds);

/* The dataset queries are answered from now (never NULL after the first
 * server_publish). */
const struct dataset *server_dataset(const struct server *s);

struct conf_listen;

/* A close-on-exec socket of type (SOCK_STREAM or SOCK_DGRAM) bound to cl:
 * IPv6 sockets are IPv6-only; TCP sockets are non-blocking (for libevent);
 * UDP sockets block (a worker thread sleeps in the receive call) and get
 * SO_REUSEPORT, no fragmentation and, on wildcard addresses, packet info.
 * Returns the descriptor, or -1 with errno set. */
int server_socket(const struct conf_listen *cl, int type);

/* The answering counters (for the metrics endpoint). */
const struct answer_stats *server_stats(struct server *s);

/* Close every socket and connection and free the live dataset; NULL is a
 * no-op. */
void server_free(struct server *s);

#endif
