/* dname.h: domain names in uncompressed wire form: parsing, case, hashing. */
#ifndef GD_DNAME_H
#define GD_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNAME_MAXLEN    255 /* RFC 1035 2.3.4, wire octets incl. root */
#define DNAME_MAXLABELS 128 /* 127 one-octet labels + root */

/*
 * A name split into labels, lowercased, with a hash of every suffix.
 * label[i] is the offset of label i (0 = leftmost), and label[labels] that
 * of the root label; labels counts the non-root labels.  hash[i] is the hash of the suffix starting at label i,
 * hash[labels] that of the root.  Suffix hashes are folded from the root
 * down, so walking a zone tree from its apex towards a name costs one
 * label's worth of hashing per step, and a zone built at load time hashes
 * its names the same way (dname_hash()).
 */
struct dname_split {
	/* lowercase wire form; the 8 octets past the longest name let the
	 * hash read a label's last word whole (what lies there is masked) */
	uint8_t name[DNAME_MAXLEN + 8];
	uint8_t len; /* octets including the root label */
	uint8_t labels;
	uint8_t label[DNAME_MAXLABELS];
	uint32_t hash[DNAME_MAXLABELS + 1];
};

/*
 * Parse an uncompressed name at pkt[off] (compression pointers are refused:
 * a query's QNAME is the first name and has nothing to point to).  Fills
 * *out with the lowercase name, labels and suffix hashes and returns the
 * offset just past the name, or -1 if the name is malformed: runs past len,
 * has a label over 63 octets or a pointer/extended label type, or is over
 * 255 octets.
 */
int dname_parse_query(const uint8_t *pkt, size_t len, size_t off, struct dname_split *out);

/*
 * Skip a possibly-compressed name at pkt[off] without copying it.  Pointers
 * must point backwards (RFC 1035 4.1.4 allows only prior occurrences), which
 * also bounds the walk.  Returns the offset just past the name as it appears
 * at off, or -1 when malformed.
 */
int dname_skip(const uint8_t *pkt, size_t len, size_t off);

/* Split an already valid lowercase wire name (from our own data). */
void dname_split(const uint8_t *name, struct dname_split *out);

/* Length in octets of a valid uncompressed wire name, including the root. */
size_t dname_len(const uint8_t *name);

/* Number of non-root labels of a valid uncompressed wire name. */
unsigned dname_labels(const uint8_t *name);

/* Hash of a valid wire name, equal to dname_split's hash[0]. */
uint32_t dname_hash(const uint8_t *name);

/* Lowercase a valid wire name in place. */
void dname_tolower(uint8_t *name);

/* Case-insensitive equality of two valid wire names. */
bool dname_equal(const uint8_t *a, const uint8_t *b);

/* True when name equals or is below parent (both valid wire, any case). */
bool dname_is_subdomain(const uint8_t *name, const uint8_t *parent);

/* Presentation form ("www.example.com.") into buf of size >= 1; escapes
 * dots, backslashes and non-printable octets.  Returns buf. */
char *dname_to_str(const uint8_t *name, char *buf, size_t size);

/* Parse a presentation-form name (relative names are taken as absolute).
 * Returns the wire length, or -1 if it is not a valid name. */
int dname_from_str(const char *str, uint8_t out[DNAME_MAXLEN]);

/* Lowercase table, shared by the hot path. */
extern const uint8_t dname_lower[256];

#endif
