/* check_tcp.c: a TCP connect probe: up when the three-way handshake completes. */
#include "config.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "healthcheck/probe.h"

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct hc_probe *p = arg;
	char reason[128];
	bool ok = (what & BEV_EVENT_CONNECTED) != 0;
	if (ok) {
		/* Close with a reset, as health checkers do: a graceful close
		 * would leave one TIME_WAIT socket per probe on our side. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		snprintf(reason, sizeof(reason), "connected");
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		snprintf(reason, sizeof(reason), "connect %s",
			 err == ECONNREFUSED ? "refused" : evutil_socket_error_to_string(err));
	}
	bufferevent_free(bev);
	p->kind_state = NULL;
	p->done(p, ok, reason);
}

static int tcp_start(struct hc_probe *p)
{
	struct bufferevent *bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		p->done(p, false, "cannot create socket");
		return -1;
	}
	bufferevent_setcb(bev, NULL, NULL, tcp_event_cb, p);
	p->kind_state = bev;
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&p->addr, (int)p->addr_len) < 0) {
		char reason[128];
		int err = EVUTIL_SOCKET_ERROR();
		snprintf(reason, sizeof(reason), "connect %s",
			 err == ECONNREFUSED ? "refused" : evutil_socket_error_to_string(err));
		bufferevent_free(bev);
		p->kind_state = NULL;
		p->done(p, false, reason);
		return -1;
	}
	return 0;
}

static void tcp_cancel(struct hc_probe *p)
{
	if (p->kind_state != NULL)
		bufferevent_free(p->kind_state);
	p->kind_state = NULL;
}

/* The check is the connection itself. */
static const char *tcp_stage(const struct hc_probe *p)
{
	(void)p;
	return "while connecting";
}

const struct hc_kind_ops check_tcp_ops = {
	.name = "tcp",
	.default_port = 80,
	.start = tcp_start,
	.cancel = tcp_cancel,
	.stage = tcp_stage,
};
