/* acceptguard.c: pause a listener that cannot accept (acceptguard.h). */
#include "config.h"

#include "daemon/acceptguard.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/log.h"
#include "dns/xalloc.h"

#define PAUSE_S     1
#define LOG_EVERY_S 60

struct accept_guard {
	struct accept_guard *next;
	struct evconnlistener *l;
	struct event *resume;
	char what[96];
	time_t logged_at;       /* monotonic seconds of the last line; 0: none yet */
	unsigned long unlogged; /* pauses since that line */
};

/* Every guard.  The error callback gets the listener's own argument (for
 * evhttp's listener, evhttp's), so it finds its guard here; there are a
 * few listeners, all on the event loop thread. */
static struct accept_guard *guards;

static time_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct accept_guard *g = arg;
	evconnlistener_enable(g->l);
}

static void error_cb(struct evconnlistener *l, void *arg)
{
	(void)arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct accept_guard *g = guards;
	while (g != NULL && g->l != l)
		g = g->next;
	if (g == NULL)
		return;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		/* One connection's trouble (EPROTO, a network going down):
		 * the next accept is a new one. */
		log_msg(LOG_LEVEL_DEBUG, "%s: accept: %s", g->what,
			evutil_socket_error_to_string(err));
		return;
	}
	evconnlistener_disable(l);
	struct timeval pause = { PAUSE_S, 0 };
	evtimer_add(g->resume, &pause);
	time_t now = now_s();
	if (g->logged_at != 0 && now - g->logged_at < LOG_EVERY_S) {
		g->unlogged++;
		return;
	}
	char more[64] = "";
	if (g->unlogged > 0)
		snprintf(more, sizeof(more), " (paused %lu more time%s since the last line)",
			 g->unlogged, g->unlogged == 1 ? "" : "s");
	log_msg(LOG_LEVEL_WARNING,
		"%s: cannot accept a connection: %s; new connections wait %d s%s", g->what,
		evutil_socket_error_to_string(err), PAUSE_S, more);
	g->logged_at = now;
	g->unlogged = 0;
}

struct accept_guard *accept_guard_new(struct event_base *base, struct evconnlistener *l,
				      const char *what)
{
	struct accept_guard *g = xcalloc(1, sizeof(*g));
	g->l = l;
	g->resume = evtimer_new(base, resume_cb, g);
	if (g->resume == NULL) {
		free(g);
		return NULL;
	}
	snprintf(g->what, sizeof(g->what), "%s", what);
	g->next = guards;
	guards = g;
	evconnlistener_set_error_cb(l, error_cb);
	return g;
}

void accept_guard_free(struct accept_guard *g)
{
	if (g == NULL)
		return;
	for (struct accept_guard **p = &guards; *p != NULL; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	evconnlistener_set_error_cb(g->l, NULL);
	event_free(g->resume);
	free(g);
}
