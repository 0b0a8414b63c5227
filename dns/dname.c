/* dname.c: wire-form domain names. */
#include "config.h"

#include "dns/dname.h"

#include <stdio.h>
#include <string.h>

#define L(c)   ((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))
#define R4(b)  L(b), L(b + 1), L(b + 2), L(b + 3)
#define R16(b) R4(b), R4(b + 4), R4(b + 8), R4(b + 12)
#define R64(b) R16(b), R16(b + 16), R16(b + 32), R16(b + 48)
const uint8_t dname_lower[256] = { R64(0), R64(64), R64(128), R64(192) };

/*
 * Suffix hashes, folded from the root one label at a time.  A label (its
 * length octet included) is taken eight octets at a time, so a typical name
 * costs a few multiplications instead of one per octet.  Only this process
 * ever sees the values: load and query side call the same code.
 */
#define HASH_SEED UINT64_C(0x243F6A8885A308D3)
#define HASH_MUL  UINT64_C(0x9E3779B97F4A7C15)

static uint64_t load64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

/* Fold the label at l (lowercase, in a dname_split's name: the padding
 * after it makes the last word readable) into h.  Octets past the label are
 * masked off, so what lies there does not matter. */
static uint64_t hash_label(uint64_t h, const uint8_t *l)
{
	unsigned n = 1u + l[0];
	while (n > 8) {
		h = (h ^ load64(l)) * HASH_MUL;
		h ^= h >> 29;
		l += 8;
		n -= 8;
	}
	uint64_t keep = ~UINT64_C(0);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	keep <<= 64 - 8 * n;
#else
	keep >>= 64 - 8 * n;
#endif
	h = (h ^ (load64(l) & keep)) * HASH_MUL;
	return h ^ (h >> 29);
}

static uint32_t hash_out(uint64_t h)
{
	return (uint32_t)(h >> 32);
}

static void split_hashes(struct dname_split *s)
{
	uint64_t h = HASH_SEED;
	s->hash[s->labels] = hash_out(h);
	for (int i = s->labels - 1; i >= 0; i--) {
		h = hash_label(h, s->name + s->label[i]);
		s->hash[i] = hash_out(h);
	}
}

/* Lowercase n octets from src to dst.  Length octets (0-63) are never in
 * 'A'-'Z', so a whole wire name can be lowercased without finding its
 * labels; eight octets at a time (SWAR: each octet's high bit says whether
 * it is an ASCII capital). */
static void lower_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t high = ones * 0x80;
	while (n >= 8) {
		uint64_t x = load64(src);
		uint64_t low7 = x & ~high;
		uint64_t ge_a = low7 + ones * (0x80 - 'A'); /* high bit: >= 'A' */
		uint64_t gt_z = low7 + ones * (0x7F - 'Z'); /* high bit: > 'Z' */
		uint64_t upper = (ge_a ^ gt_z) & ~x & high;
		x |= upper >> 2; /* 0x80 >> 2 == 0x20 */
		memcpy(dst, &x, sizeof(x));
		src += 8;
		dst += 8;
		n -= 8;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = dname_lower[src[i]];
}

int dname_parse_query(const uint8_t *pkt, size_t len, size_t off, struct dname_split *out)
{
	/* Find the labels first, then copy and lowercase the name at once. */
	size_t start = off;
	unsigned labels = 0;
	for (;;) {
		if (off >= len)
			return -1;
		uint8_t ll = pkt[off];
		if (ll == 0)
			break;
		if (ll > 63) /* pointer or extended label: not in a QNAME */
			return -1;
		/* With the root octet still to come, the name stays within
		 * 255 octets, so there are at most 127 labels. */
		if (off - start + 1 + ll + 1 > DNAME_MAXLEN)
			return -1;
		out->label[labels++] = (uint8_t)(off - start);
		off += 1 + ll;
	}
	size_t n = off - start + 1;
	/* A question has 4 more octets, and usually an OPT record, after
	 * the name: then whole words can be read (name[] has room for the
	 * last one's excess). */
	if (start + ((n + 7) & ~(size_t)7) <= len)
		lower_copy(out->name, pkt + start, (n + 7) & ~(size_t)7);
	else
		lower_copy(out->name, pkt + start, n);
	out->len = (uint8_t)n;
	out->labels = (uint8_t)labels;
	out->label[labels] = (uint8_t)(n - 1);
	split_hashes(out);
	return (int)(off + 1);
}

int dname_skip(const uint8_t *pkt, size_t len, size_t off)
{
	size_t total = 0;
	for (;;) {
		if (off >= len)
			return -1;
		uint8_t ll = pkt[off];
		if (ll == 0)
			return (int)(off + 1);
		if ((ll & 0xC0) == 0xC0) {
			if (off + 2 > len)
				return -1;
			size_t target = ((size_t)(ll & 0x3F) << 8) | pkt[off + 1];
			/* Only a backwards pointer to a previous name is valid;
			 * we do not follow it, the name ends here. */
			if (target >= off)
				return -1;
			return (int)(off + 2);
		}
		if (ll > 63)
			return -1;
		total += 1 + ll;
		if (total + 1 > DNAME_MAXLEN)
			return -1;
		off += 1 + ll;
	}
}

void dname_split(const uint8_t *name, struct dname_split *out)
{
	size_t n = 0;
	unsigned labels = 0;
	while (name[n] != 0) {
		out->label[labels++] = (uint8_t)n;
		n += 1 + name[n];
	}
	lower_copy(out->name, name, n + 1);
	out->len = (uint8_t)(n + 1);
	out->labels = (uint8_t)labels;
	out->label[labels] = (uint8_t)n;
	split_hashes(out);
}

size_t dname_len(const uint8_t *name)
{
	size_t n = 0;
	while (name[n] != 0)
		n += 1 + name[n];
	return n + 1;
}

unsigned dname_labels(const uint8_t *name)
{
	unsigned labels = 0;
	for (size_t n = 0; name[n] != 0; n += 1 + name[n])
		labels++;
	return labels;
}

uint32_t dname_hash(const uint8_t *name)
{
	struct dname_split s;
	dname_split(name, &s);
	return s.hash[0];
}

void dname_tolower(uint8_t *name)
{
	lower_copy(name, name, dname_len(name));
}

bool dname_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		uint8_t ll = *a;
		if (ll == 0)
			return true;
		for (unsigned i = 1; i <= ll; i++)
			if (dname_lower[a[i]] != dname_lower[b[i]])
				return false;
		a += 1 + ll;
		b += 1 + ll;
	}
}

bool dname_is_subdomain(const uint8_t *name, const uint8_t *parent)
{
	unsigned nl = dname_labels(name), pl = dname_labels(parent);
	if (nl < pl)
		return false;
	for (unsigned i = 0; i < nl - pl; i++)
		name += 1 + name[0];
	return dname_equal(name, parent);
}

char *dname_to_str(const uint8_t *name, char *buf, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return buf;
	if (*name == 0) {
		snprintf(buf, size, ".");
		return buf;
	}
	while (*name != 0 && o + 1 < size) {
		uint8_t ll = *name++;
		for (unsigned i = 0; i < ll && o + 1 < size; i++, name++) {
			uint8_t c = *name;
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')') {
				o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
			} else if (c <= 0x20 || c >= 0x7F) {
				o += (size_t)snprintf(buf + o, size - o, "\\%03u", c);
			} else {
				buf[o++] = (char)c;
			}
			if (o >= size)
				o = size - 1;
		}
		if (o + 1 < size)
			buf[o++] = '.';
	}
	buf[o] = '\0';
	return buf;
}

int dname_from_str(const char *str, uint8_t out[DNAME_MAXLEN])
{
	size_t n = 0;
	if (strcmp(str, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*str != '\0') {
		size_t lpos = n++;
		unsigned ll = 0;
		while (*str != '\0' && *str != '.') {
			int c = (unsigned char)*str++;
			if (c == '\\') {
				if (str[0] >= '0' && str[0] <= '9' && str[1] >= '0' &&
				    str[1] <= '9' && str[2] >= '0' && str[2] <= '9') {
					c = (str[0] - '0') * 100 + (str[1] - '0') * 10 +
					    (str[2] - '0');
					if (c > 255)
						return -1;
					str += 3;
				} else if (*str != '\0') {
					c = (unsigned char)*str++;
				} else {
					return -1;
				}
			}
			if (++ll > 63 || n + 2 > DNAME_MAXLEN)
				return -1;
			out[n++] = (uint8_t)c;
		}
		if (ll == 0)
			return -1; /* empty label ("a..b" or leading dot) */
		out[lpos] = (uint8_t)ll;
		if (*str == '.')
			str++;
	}
	out[n++] = 0;
	return (int)n;
}
