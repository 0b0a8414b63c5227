/* zfreader.h: splits an RFC 1035 master file into logical lines (one per entry). */
#ifndef GD_ZFREADER_H
#define GD_ZFREADER_H

#include <stdbool.h>
#include <stddef.h>

struct diag;
struct zfreader;

/*
 * A logical line: comments removed, parentheses resolved (RFC 1035 5.1) so
 * a record spread over several physical lines arrives as one line.  text
 * keeps a leading blank when the owner field was left empty.  Valid until
 * the next zfreader_next() call.
 */
struct zfline {
	const char *text;
	unsigned line; /* physical line where the entry starts */
	bool blank_owner;
	/* Where in text each further physical line of the entry starts
	 * (n_breaks of them: 0 for an entry on one line). */
	const size_t *breaks;
	unsigned n_breaks;
};

/* The physical line that the text at p (inside zl->text) came from. */
unsigned zfline_line_at(const struct zfline *zl, const char *p);

/* Open path for reading.  Returns NULL after reporting "cannot open: ..." to
 * d: at the file itself, or, when at_file is given, at at_file:at_line as
 * "<what> '<path>': cannot open: ..." (what: "$INCLUDE", or the zone entry
 * of a configuration); a directory is "cannot open: Is a directory". */
struct zfreader *zfreader_open(const char *path, struct diag *d, const char *at_file,
			       unsigned at_line, const char *what);

/* The file name as opened. */
const char *zfreader_path(const struct zfreader *r);

/* Next logical line: 1 and *out filled, 0 at end of file, -1 after
 * reporting a syntax problem (unbalanced parentheses or quotes, a NUL
 * byte) or a read error to d. */
int zfreader_next(struct zfreader *r, struct zfline *out, struct diag *d);

/* Close; NULL is a no-op. */
void zfreader_close(struct zfreader *r);

#endif
