/* log.c: logging to stderr, with journald priority prefixes when under systemd. */
#include "config.h"

#include "dns/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level max_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error",   [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	max_level = level;
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
	if (level > max_level)
		return;
	char line[2048];
	vsnprintf(line, sizeof(line), fmt, ap);
	/* journald reads "<N>" as the priority of a stderr line (sd-daemon(3)). */
	if (getenv("JOURNAL_STREAM") != NULL)
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

void diag_report(struct diag *d, enum log_level level, const char *file,
		 unsigned line, const char *fmt, ...)
{
	char msg[1536], where[600] = "";
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
		fprintf(stderr, "%s%s%s\n", where,
			level <= LOG_LEVEL_ERR ? "" : "warning: ", msg);
	else
		log_msg(level, "%s%s", where, msg);
}
