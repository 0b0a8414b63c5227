/* arena.c: chunked bump allocator. */
#include "config.h"

#include "dns/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/xalloc.h"

#define ARENA_CHUNK     (256 * 1024)
#define ARENA_CHUNK_MAX (8 * 1024 * 1024)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct chunk *head;
	size_t total;
};

struct arena *arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

static struct chunk *chunk_new(size_t cap)
{
	struct chunk *c = xmalloc(sizeof(*c) + cap);
	/* A big chunk is filled once, front to back: transparent huge pages
	 * spare a page fault per 4 KB (a fifth of a 1M-record zone's load). */
	if (cap >= 2 * XHUGE_PAGE)
		xhuge_hint(c, sizeof(*c) + cap);
	c->next = NULL;
	c->used = 0;
	c->cap = cap;
	return c;
}

static void *arena_take(struct arena *a, size_t size, size_t align)
{
	struct chunk *c = a->head;
	size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;
	if (c == NULL || off > c->cap || c->cap - off < size) {
		/* Chunks grow with the arena (half of it, up to 8 MB), so a
		 * large zone lives in few big chunks.  Large objects get a
		 * chunk of their own behind the current one so the current
		 * chunk's free space is not wasted. */
		size_t unit = a->total / 2;
		if (unit < ARENA_CHUNK)
			unit = ARENA_CHUNK;
		if (unit > ARENA_CHUNK_MAX)
			unit = ARENA_CHUNK_MAX;
		int own = size > unit / 4;
		size_t cap = own ? size : unit;
		struct chunk *n = chunk_new(cap);
		a->total += sizeof(*n) + cap;
		if (c != NULL && own) {
			n->next = c->next;
			c->next = n;
			n->used = size;
			return n->data;
		}
		n->next = c;
		a->head = n;
		c = n;
		off = 0;
	}
	c->used = off + size;
	return c->data + off;
}

void *arena_alloc(struct arena *a, size_t size)
{
	void *p = arena_take(a, size, alignof(max_align_t));
	memset(p, 0, size);
	return p;
}

void *arena_memdup(struct arena *a, const void *src, size_t size)
{
	/* Byte strings (names, rdata) need no alignment: pack them tight. */
	void *p = arena_take(a, size, 1);
	memcpy(p, src, size);
	return p;
}

size_t arena_size(const struct arena *a)
{
	return a->total;
}

void arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	struct chunk *c = a->head;
	while (c != NULL) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}
