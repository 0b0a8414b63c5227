/* log.h: process-wide logging to stderr (journald-aware) or syslog, and diagnostics sinks. */
#ifndef GD_LOG_H
#define GD_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Severities follow syslog(3) numbering so journald prefixes are direct. */
enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Where log lines go. */
enum log_target {
	LOG_TARGET_STDERR = 0, /* the default; journald reads it under systemd */
	LOG_TARGET_SYSLOG = 1, /* syslog(3), facility LOG_DAEMON, ident "geodnsd" */
};

/* Messages above this level are dropped.  Default LOG_LEVEL_INFO.  Any
 * thread may log while another changes the level. */
void log_set_level(enum log_level level);

/* Send the following lines to target.  Switching to syslog opens the
 * connection at once (LOG_NDELAY), so it is made before privileges are
 * dropped; switching back closes it.  Any thread may log meanwhile. */
void log_set_target(enum log_target target);

/* Parse "stderr" or "syslog".  Returns 0, or -1 for an unknown name
 * (target untouched). */
int log_target_parse(const char *name, enum log_target *target);

/* Parse "error", "warning", "notice", "info", "debug".  Returns 0, or -1 for
 * an unknown name (level untouched). */
int log_level_parse(const char *name, enum log_level *level);

/* Write one line to the target.  On stderr, under systemd (JOURNAL_STREAM
 * set) the line gets a "<N>" priority prefix, otherwise a "level: " word;
 * syslog gets the level as its priority.  Thread-safe: each line is written
 * whole.  Callers start the text with the subsystem and object:
 * "zones: example.com: ...". */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * A diagnostics sink: loaders report problems here with file and line, and
 * the caller decides whether to print them (--check) or log them (daemon).
 * With print set, each report is written at once as "file:line: message" to
 * stderr ("warning: " is inserted for warnings).  Counts are kept either way.
 */
struct diag {
	unsigned errors;
	unsigned warnings;
	int print; /* 1: write to stderr as "file:line: ..."; 0: log_msg */
};

/* Report one problem.  file may be NULL (then no "file:" part), line 0 means
 * no line.  level is LOG_LEVEL_ERR or LOG_LEVEL_WARNING. */
void diag_report(struct diag *d, enum log_level level, const char *file, unsigned line,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
