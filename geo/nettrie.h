/* nettrie.h: a binary trie of network rules, with the exact prefix an answer holds for. */
#ifndef GD_NETTRIE_H
#define GD_NETTRIE_H

#include <stdint.h>

struct nettrie;

/* An empty trie for addresses of bits bits (32 or 128).  Aborts on OOM. */
struct nettrie *nettrie_new(unsigned bits);

/* Insert prefix addr/len with value (not NULL).  Returns the value already
 * stored at exactly that prefix (the insert is then not done), or NULL. */
const void *nettrie_insert(struct nettrie *t, const uint8_t *addr, unsigned len, const void *value);

/*
 * Longest-prefix match of addr.  Returns the value (NULL when no prefix
 * covers addr) and sets *scope to the shortest prefix length of addr over
 * which the result cannot change: every address sharing addr's first
 * *scope bits gets the same value.  With an empty trie *scope is 0.
 */
const void *nettrie_lookup(const struct nettrie *t, const uint8_t *addr, unsigned *scope);

/* Free; NULL is a no-op (values are not freed). */
void nettrie_free(struct nettrie *t);

#endif
