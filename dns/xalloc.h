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

#endif
