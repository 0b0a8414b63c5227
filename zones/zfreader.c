/* zfreader.c: logical lines of a master file: comments, quotes, parentheses. */
#include "config.h"

#include "zones/zfreader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dns/log.h"
#include "dns/rfile.h"
#include "dns/xalloc.h"

struct zfreader {
	FILE *fp;
	char *path;
	unsigned line; /* physical lines read so far */
	char *buf;     /* the logical line being assembled */
	size_t len, cap;
	char *phys; /* getline() buffer */
	size_t phys_cap;
	size_t *breaks; /* see struct zfline */
	unsigned n_breaks, cap_breaks;
};

struct zfreader *zfreader_open(const char *path, struct diag *d, const char *at_file,
			       unsigned at_line, const char *what)
{
	/* Regular files only: a directory read as an empty file, a FIFO
	 * blocked the load, /dev/zero never ended. */
	const char *why;
	FILE *fp = rfile_open(path, &why);
	if (fp == NULL) {
		if (at_file != NULL)
			diag_report(d, LOG_LEVEL_ERR, at_file, at_line, "%s '%s': %s", what, path,
				    why);
		else
			diag_report(d, LOG_LEVEL_ERR, path, 0, "%s", why);
		return NULL;
	}
	struct zfreader *r = xcalloc(1, sizeof(*r));
	r->fp = fp;
	r->path = xstrdup(path);
	r->cap = 256;
	r->buf = xmalloc(r->cap);
	return r;
}

const char *zfreader_path(const struct zfreader *r)
{
	return r->path;
}

static void append(struct zfreader *r, char c)
{
	if (r->len + 2 > r->cap) {
		r->cap *= 2;
		r->buf = xrealloc(r->buf, r->cap);
	}
	r->buf[r->len++] = c;
}

/* Scan one physical line into the logical line.  Tracks parenthesis depth
 * and quoting across lines; a ';' outside quotes ends the physical line. */
static void scan(struct zfreader *r, const char *s, int *depth, bool *quoted)
{
	for (; *s != '\0' && *s != '\n' && *s != '\r'; s++) {
		char c = *s;
		if (c == '\\' && s[1] != '\0' && s[1] != '\n') {
			append(r, c);
			append(r, *++s);
			continue;
		}
		if (c == '"')
			*quoted = !*quoted;
		else if (!*quoted && c == ';')
			break;
		else if (!*quoted && (c == '(' || c == ')')) {
			*depth += c == '(' ? 1 : -1;
			c = ' ';
		}
		append(r, c);
	}
	if (*depth > 0 || *quoted)
		append(r, ' ');
}

static bool is_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t')
			return false;
	return true;
}

int zfreader_next(struct zfreader *r, struct zfline *out, struct diag *d)
{
	for (;;) {
		int depth = 0;
		bool quoted = false;
		unsigned start = 0;
		r->len = 0;
		do {
			errno = 0;
			ssize_t n = getline(&r->phys, &r->phys_cap, r->fp);
			if (n < 0 && ferror(r->fp)) {
				diag_report(d, LOG_LEVEL_ERR, r->path, r->line + 1,
					    "read error: %s", strerror(errno));
				return -1;
			}
			if (n < 0) {
				if (start == 0)
					return 0;
				diag_report(d, LOG_LEVEL_ERR, r->path, start,
					    "%s not closed before end of file",
					    quoted ? "quoted string" : "'('");
				return -1;
			}
			r->line++;
			/* The text functions below stop at a NUL, so the rest
			 * of the line would vanish unseen.  Master files have
			 * no raw NUL: a zero octet in data is written \000. */
			if (memchr(r->phys, '\0', (size_t)n) != NULL) {
				diag_report(d, LOG_LEVEL_ERR, r->path, r->line,
					    "NUL byte in line (write \\000 for a zero octet)");
				return -1;
			}
			if (start == 0) {
				start = r->line;
				r->n_breaks = 0;
			} else {
				if (r->n_breaks == r->cap_breaks) {
					r->cap_breaks = r->cap_breaks ? r->cap_breaks * 2 : 8;
					r->breaks = xrealloc(r->breaks,
							     r->cap_breaks * sizeof(*r->breaks));
				}
				r->breaks[r->n_breaks++] = r->len;
			}
			scan(r, r->phys, &depth, &quoted);
			if (depth < 0) {
				diag_report(d, LOG_LEVEL_ERR, r->path, r->line, "')' without '('");
				return -1;
			}
		} while (depth > 0 || quoted);
		r->buf[r->len] = '\0';
		if (is_blank(r->buf))
			continue;
		out->text = r->buf;
		out->line = start;
		out->blank_owner = r->buf[0] == ' ' || r->buf[0] == '\t';
		out->breaks = r->breaks;
		out->n_breaks = r->n_breaks;
		return 1;
	}
}

unsigned zfline_line_at(const struct zfline *zl, const char *p)
{
	size_t off = (size_t)(p - zl->text);
	unsigned k = 0;
	while (k < zl->n_breaks && zl->breaks[k] <= off)
		k++;
	return zl->line + k;
}

void zfreader_close(struct zfreader *r)
{
	if (r == NULL)
		return;
	fclose(r->fp);
	free(r->path);
	free(r->buf);
	free(r->phys);
	free(r->breaks);
	free(r);
}
