/* log.h: process-wide logging to stderr (journald-aware) and diagnostics sinks. */
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

/* Messages above this level are dropped.  Default LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);

/* Parse "error", "warning", "notice", "info", "debug".  Returns 0, or -1 for
 * an unknown name (level untouched). */
int log_level_parse(const char *name, enum log_level *level);

/* Write one line to stderr.  Under systemd (JOURNAL_STREAM set) the line gets
 * a "<N>" priority prefix, otherwise a "level: " word.  Callers start the
 * text with the subsystem and object: "zones: example.com: ...". */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
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
	int print;	/* 1: write to stderr as "file:line: ..."; 0: log_msg */
};

/* Report one problem.  file may be NULL (then no "file:" part), line 0 means
 * no line.  level is LOG_LEVEL_ERR or LOG_LEVEL_WARNING. */
void diag_report(struct diag *d, enum log_level level, const char *file,
		 unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
