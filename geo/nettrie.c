/* nettrie.c: uncompressed binary trie; rule sets are small (thousands). */
#include "config.h"

#include "geo/nettrie.h"

#include <stdlib.h>

#include "dns/xalloc.h"

struct tnode {
	struct tnode *child[2];
	const void *value;
};

struct nettrie {
	struct tnode root;
	unsigned bits;
};

static unsigned bit_at(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1u;
}

struct nettrie *nettrie_new(unsigned bits)
{
	struct nettrie *t = xcalloc(1, sizeof(*t));
	t->bits = bits;
	return t;
}

const void *nettrie_insert(struct nettrie *t, const uint8_t *addr, unsigned len, const void *value)
{
	struct tnode *n = &t->root;
	for (unsigned i = 0; i < len && i < t->bits; i++) {
		unsigned b = bit_at(addr, i);
		if (n->child[b] == NULL)
			n->child[b] = xcalloc(1, sizeof(struct tnode));
		n = n->child[b];
	}
	if (n->value != NULL)
		return n->value;
	n->value = value;
	return NULL;
}

const void *nettrie_lookup(const struct nettrie *t, const uint8_t *addr, unsigned *scope)
{
	const struct tnode *n = &t->root;
	const void *best = n->value;
	unsigned depth = 0;
	/* Follow addr's bits while the trie goes on.  Where it stops, no
	 * rule lies deeper along this path, so depth bits decide the result;
	 * if a sibling subtree exists at the next bit, that bit counts too. */
	for (;;) {
		if (n->child[0] == NULL && n->child[1] == NULL) {
			*scope = depth;
			return best;
		}
		if (depth >= t->bits) {
			*scope = depth;
			return best;
		}
		const struct tnode *next = n->child[bit_at(addr, depth)];
		if (next == NULL) {
			*scope = depth + 1;
			return best;
		}
		n = next;
		depth++;
		if (n->value != NULL)
			best = n->value;
	}
}

static void tnode_free(struct tnode *n)
{
	for (int i = 0; i < 2; i++) {
		if (n->child[i] != NULL) {
			tnode_free(n->child[i]);
			free(n->child[i]);
		}
	}
}

void nettrie_free(struct nettrie *t)
{
	if (t == NULL)
		return;
	tnode_free(&t->root);
	free(t);
}
