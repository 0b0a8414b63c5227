/* arena.h: a bump allocator for load-time data that is freed in one call. */
#ifndef GD_ARENA_H
#define GD_ARENA_H

#include <stddef.h>

/* Zone data (names, rdata, nodes) lives in one arena per zone, so a zone
 * is freed in one call and small objects carry no malloc overhead (NSD's
 * region idea).  Allocation aborts on out-of-memory (control plane only). */
struct arena;

struct arena *arena_new(void);
/* Returns size bytes aligned for any object, zeroed. */
void *arena_alloc(struct arena *a, size_t size);
/* Copies size bytes into the arena, unaligned (for byte strings). */
void *arena_memdup(struct arena *a, const void *src, size_t size);
/* Bytes handed out so far plus chunk overhead. */
size_t arena_size(const struct arena *a);
/* Free the arena and everything allocated from it; NULL is a no-op. */
void arena_free(struct arena *a);

#endif
