/* sdnotify.h: telling systemd about start-up, reloads, status and shutdown. */
#ifndef GD_SDNOTIFY_H
#define GD_SDNOTIFY_H

/*
 * Each call sends one sd_notify(3) message when the process runs under a
 * service manager that set NOTIFY_SOCKET; otherwise, or when geodnsd was
 * built without libsystemd, it does nothing.  Failures are ignored: the
 * service manager is told, never asked.  Main thread only.
 */

/* READY=1 with a STATUS= line: listening and serving the first dataset. */
void sdnotify_ready(const char *status);

/* RELOADING=1 (with MONOTONIC_USEC, as systemd 253 and later want): a
 * reload started; sdnotify_ready() says when it is over. */
void sdnotify_reloading(void);

/* STATUS= alone, e.g. "serving 2 zones, 6 targets up of 6". */
void sdnotify_status(const char *status);

/* STOPPING=1: shutting down. */
void sdnotify_stopping(void);

#endif
