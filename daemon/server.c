/* server.c: UDP and TCP listeners on libevent, answering from the live dataset. */
#include "config.h"

#include "daemon/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "daemon/acceptguard.h"
#include "daemon/conf.h"
#include "daemon/dataset.h"
#include "daemon/udp.h"
#include "dns/answer.h"
#include "dns/log.h"
#include "dns/xalloc.h"

#define TCP_BACKLOG    128
#define TCP_OUTBUF_MAX (256 * 1024) /* stop reading from a client this far behind */

struct tcp_conn;

struct listener {
	struct evconnlistener *tcp;
	struct accept_guard *guard;
	struct server *server;
	int family;
};

struct server {
	struct event_base *base;
	struct listener *ls;
	size_t n_ls;
	struct udp_workers *udp;
	/* The live dataset: UDP workers read it as RCU readers; TCP runs on
	 * this (the publishing) thread and reads it directly. */
	struct dataset *live;
	unsigned tcp_conns;
	unsigned tcp_max;
	struct timeval tcp_idle;
	uint16_t tcp_keepalive;    /* tcp_idle in RFC 7828 units of 100 ms */
	struct tcp_conn *conns;    /* open TCP connections, for shutdown */
	struct answer_stats stats; /* TCP answers */
	struct answer_stats sum;   /* server_stats() result */
	uint8_t out[ANSWER_BUF_SIZE + 2];
	uint8_t in[ANSWER_BUF_SIZE];
};

struct tcp_conn {
	struct server *server;
	struct bufferevent *bev;
	struct sockaddr_storage peer;
	struct tcp_conn *prev, *next;
};

int server_socket(const struct conf_listen *cl, int type)
{
	int fd = socket(cl->addr.ss_family,
			type | SOCK_CLOEXEC | (type == SOCK_STREAM ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (cl->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	/* An address that a keepalived or anycast set-up adds later: bind
	 * now, receive once it is there (as NSD's ip-freebind). */
	if (cl->freebind)
		setsockopt(fd, cl->addr.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
			   cl->addr.ss_family == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND, &on,
			   sizeof(on));
	if (type == SOCK_DGRAM) {
		/* One socket per UDP worker on the same address: the kernel
		 * spreads clients over them by flow hash. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
		/* Never fragment a response (RFC 9715 3.1), and size datagrams
		 * by the interface MTU, not by path MTU reports, which anyone
		 * can forge: one larger fails with EMSGSIZE and is sent cut to
		 * TC instead (udp.c).  IPv4 needs PROBE for DF to be set (the
		 * kernel then also skips the IP ID hash); on IPv6 INTERFACE does
		 * the same and also keeps such reports out of the route cache. */
		int pmtu = IP_PMTUDISC_PROBE;
		if (cl->addr.ss_family == AF_INET6) {
			pmtu = IPV6_PMTUDISC_INTERFACE;
			setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		} else {
			setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		}
		/* On a wildcard address the destination comes with each
		 * datagram, to be the reply's source.  A socket bound to one
		 * address replies from it anyway, and skips the control
		 * message work on every receive and send. */
		if (cl->addr.ss_family == AF_INET6 &&
		    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&cl->addr)->sin6_addr))
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
		else if (cl->addr.ss_family == AF_INET &&
			 ((const struct sockaddr_in *)&cl->addr)->sin_addr.s_addr ==
				 htonl(INADDR_ANY))
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	}
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addr_len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- TCP (RFC 7766: 2-octet length framing, pipelining) ------------ */

static void tcp_close(struct tcp_conn *c)
{
	struct server *s = c->server;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
	s->tcp_conns--;
}

static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct server *s = c->server;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		uint8_t hdr[2];
		if (evbuffer_copyout(in, hdr, 2) < 2)
			return;
		size_t qlen = (size_t)hdr[0] << 8 | hdr[1];
		if (evbuffer_get_length(in) < 2 + qlen)
			return;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, s->in, qlen);
		size_t len = answer_query(&s->live->answer, s->in, qlen,
					  (const struct sockaddr *)&c->peer, s->out + 2, ANSWER_TCP,
					  &s->stats);
		if (len == 0)
			continue;
		s->out[0] = (uint8_t)(len >> 8);
		s->out[1] = (uint8_t)len;
		bufferevent_write(bev, s->out, len + 2);
		if (evbuffer_get_length(bufferevent_get_output(bev)) > TCP_OUTBUF_MAX) {
			/* A client that does not read its answers gets no more
			 * until it catches up. */
			bufferevent_disable(bev, EV_READ);
			return;
		}
	}
}

static void tcp_write_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_enable(bev, EV_READ);
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		tcp_close(arg);
}

static void tcp_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	struct listener *l = arg;
	struct server *s = l->server;
	(void)lev;
	if (s->tcp_conns >= s->tcp_max) {
		/* Over the cap: close at once rather than leave the client
		 * waiting in the backlog (RFC 7766 6.2.2 lets servers shed). */
		log_msg(LOG_LEVEL_DEBUG, "server: tcp: connection limit %u reached", s->tcp_max);
		evutil_closesocket(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	struct tcp_conn *c = xcalloc(1, sizeof(*c));
	c->server = s;
	c->bev = bev;
	if ((size_t)salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, (size_t)salen);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->tcp_conns++;
	bufferevent_setcb(bev, tcp_read_cb, tcp_write_cb, tcp_event_cb, c);
	bufferevent_set_timeouts(bev, &s->tcp_idle, &s->tcp_idle);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static int listener_open(struct server *s, struct listener *l, const struct conf_listen *cl)
{
	l->server = s;
	l->family = cl->addr.ss_family;
	int tfd = server_socket(cl, SOCK_STREAM);
	if (tfd < 0) {
		log_msg(LOG_LEVEL_ERR, "server: listen %s: tcp: %s", cl->text, strerror(errno));
		return -1;
	}
	l->tcp = evconnlistener_new(s->base, tcp_accept_cb, l, LEV_OPT_CLOSE_ON_FREE, TCP_BACKLOG,
				    tfd);
	if (l->tcp == NULL) {
		log_msg(LOG_LEVEL_ERR, "server: listen %s: tcp: %s", cl->text, strerror(errno));
		close(tfd);
		return -1;
	}
	char what[96];
	snprintf(what, sizeof(what), "server: tcp %s", cl->text);
	l->guard = accept_guard_new(s->base, l->tcp, what);
	return 0;
}

struct server *server_new(struct event_base *base, const struct conf *conf, unsigned tcp_max)
{
	struct server *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->tcp_max = tcp_max;
	s->tcp_idle.tv_sec = conf->tcp_idle_timeout_ms / 1000;
	s->tcp_idle.tv_usec = (conf->tcp_idle_timeout_ms % 1000) * 1000;
	unsigned units = conf->tcp_idle_timeout_ms / 100;
	s->tcp_keepalive = (uint16_t)(units < UINT16_MAX ? units : UINT16_MAX);
	s->ls = xcalloc(conf->n_listen, sizeof(*s->ls));
	for (size_t i = 0; i < conf->n_listen; i++) {
		s->n_ls = i + 1;
		if (listener_open(s, &s->ls[i], &conf->listen[i]) < 0) {
			server_free(s);
			return NULL;
		}
	}
	s->udp = udp_start(conf, conf->workers, &s->live);
	if (s->udp == NULL) {
		server_free(s);
		return NULL;
	}
	unsigned nw = udp_count(s->udp);
	for (size_t i = 0; i < conf->n_listen; i++)
		log_msg(LOG_LEVEL_INFO, "server: listening on %s (udp: %u worker%s, tcp)",
			conf->listen[i].text, nw, nw == 1 ? "" : "s");
	return s;
}

void server_publish(struct server *s, struct dataset *ds)
{
	struct dataset *old = s->live;
	/* Every dataset carries the timeout of the connections it answers
	 * on, which a reload does not change (it is bound at start-up). */
	ds->answer.conf.tcp_keepalive = s->tcp_keepalive;
	rcu_assign_pointer(s->live, ds);
	/* Wait until every UDP worker has passed a quiescent state (it does
	 * after each batch, and is offline while idle): then none can still
	 * hold the old dataset.  TCP answers run on this thread. */
	synchronize_rcu();
	dataset_free(old);
}

const struct dataset *server_dataset(const struct server *s)
{
	return s->live;
}

const struct answer_stats *server_stats(struct server *s)
{
	s->sum = s->stats;
	if (s->udp != NULL)
		udp_stats_add(s->udp, &s->sum);
	return &s->sum;
}

void server_free(struct server *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		tcp_close(s->conns);
	udp_stop(s->udp);
	for (size_t i = 0; i < s->n_ls; i++) {
		struct listener *l = &s->ls[i];
		accept_guard_free(l->guard);
		if (l->tcp != NULL)
			evconnlistener_free(l->tcp);
	}
	free(s->ls);
	dataset_free(s->live);
	free(s);
}
