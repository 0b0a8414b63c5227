/* acceptguard.h: a listener out of file descriptors pauses instead of spinning. */
#ifndef GD_ACCEPTGUARD_H
#define GD_ACCEPTGUARD_H

struct accept_guard;
struct event_base;
struct evconnlistener;

/*
 * Watch l's accept errors.  When accept() fails for a reason a retry does
 * not cure at once (EMFILE, ENFILE, ENOBUFS, ENOMEM), the connection stays
 * in the kernel's queue and the socket stays readable: left alone, the loop
 * would call accept() again and again at full CPU, logging each failure.
 * Instead l is disabled for a second and one warning names what (e.g.
 * "server: tcp 127.0.0.1@53") and the error; while it goes on, at most one
 * line a minute.  Returns NULL only when out of memory.
 */
struct accept_guard *accept_guard_new(struct event_base *base, struct evconnlistener *l,
				      const char *what);

/* Before l is freed.  NULL is a no-op. */
void accept_guard_free(struct accept_guard *g);

#endif
