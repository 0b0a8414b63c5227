/* xalloc.h: allocation for control-plane code that aborts on out-of-memory. */
#ifndef GD_XALLOC_H
#define GD_XALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup but never return NULL: on exhaustion they
 * log and abort.  Only for loading and configuration, never the query path. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#define XHUGE_PAGE (2u << 20) /* the huge page size xhuge_hint() assumes */

/* Ask for transparent huge pages over the whole 2 MB pages inside
 * p[0..size): for large blocks written once, front to back, whose 4 KB
 * page faults would otherwise cost a good part of a big zone's load.  A
 * hint only; nothing happens where madvise(MADV_HUGEPAGE) is missing. */
void xhuge_hint(void *p, size_t size);

#endif
