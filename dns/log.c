/* log.c: logging to stderr (journald priority prefixes under systemd) or syslog. */
#include "config.h"

#include "dns/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

/* Read by every thread that logs (UDP workers write the query log), set by
 * the main thread on start-up and reloads: relaxed atomics suffice, a line
 * logged under the old setting around a change is fine. */
static _Atomic int max_level = LOG_LEVEL_INFO;
static _Atomic int target = LOG_TARGET_STDERR;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

/* Whether stderr is the journal stream systemd gave us: JOURNAL_STREAM holds
 * its device and inode (sd-daemon(3)).  The variable alone is not enough:
 * a shell started from a unit inherits it, and a geodnsd run from there to
 * a terminal would print "<6>" prefixes.  Worked out once. */
static bool stderr_is_journal(void)
{
	static _Atomic int known = -1;
	int v = atomic_load_explicit(&known, memory_order_relaxed);
	if (v >= 0)
		return v;
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	v = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	atomic_store_explicit(&known, v, memory_order_relaxed);
	return v;
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&max_level, (int)level, memory_order_relaxed);
}

void log_set_target(enum log_target t)
{
	int old = atomic_exchange_explicit(&target, (int)t, memory_order_relaxed);
	if (t == LOG_TARGET_SYSLOG && old != LOG_TARGET_SYSLOG)
		openlog("geodnsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (t != LOG_TARGET_SYSLOG && old == LOG_TARGET_SYSLOG)
		closelog();
}

int log_target_parse(const char *name, enum log_target *t)
{
	if (strcmp(name, "stderr") == 0)
		*t = LOG_TARGET_STDERR;
	else if (strcmp(name, "syslog") == 0)
		*t = LOG_TARGET_SYSLOG;
	else
		return -1;
	return 0;
}

int log_level_parse(const char *name, enum log_level *level)
{
	for (int i = LOG_LEVEL_ERR; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if ((int)level > atomic_load_explicit(&max_level, memory_order_relaxed))
		return;
	char line[2048];
	vsnprintf(line, sizeof(line), fmt, ap);
	if (atomic_load_explicit(&target, memory_order_relaxed) == LOG_TARGET_SYSLOG) {
		/* Our levels are syslog(3) priorities; the facility is openlog's. */
		syslog((int)level, "%s", line);
		return;
	}
	/* journald reads "<N>" as the priority of a stderr line (sd-daemon(3)). */
	if (stderr_is_journal())
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	else
		fprintf(stderr, "geodnsd: %s: %s\n", level_names[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void diag_report(struct diag *d, enum log_level level, const char *file, unsigned line,
		 const char *fmt, ...)
{
	char msg[2560], where[600] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (level <= LOG_LEVEL_ERR)
		d->errors++;
	else
		d->warnings++;
	if (file != NULL && line > 0)
		snprintf(where, sizeof(where), "%s:%u: ", file, line);
	else if (file != NULL)
		snprintf(where, sizeof(where), "%s: ", file);

	if (d->print)
		fprintf(stderr, "%s%s%s\n", where, level <= LOG_LEVEL_ERR ? "" : "warning: ", msg);
	else
		log_msg(level, "%s%s", where, msg);
}
