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

/* FNV-1a over each label (length octet included), folded from the root. */
#define HASH_SEED  2166136261u
#define HASH_PRIME 16777619u

static uint32_t hash_label(uint32_t h, const uint8_t *label)
{
	for (unsigned i = 0; i <= label[0]; i++)
		h = (h ^ label[i]) * HASH_PRIME;
	return h;
}

static void split_hashes(struct dname_split *s)
{
	uint32_t h = HASH_SEED;
	s->hash[s->labels] = h;
	for (int i = s->labels - 1; i >= 0; i--) {
		h = hash_label(h, s->name + s->label[i]);
		s->hash[i] = h;
	}
}

int dname_parse_query(const uint8_t *pkt, size_t len, size_t off, struct dname_split *out)
{
	size_t n = 0;
	unsigned labels = 0;
	for (;;) {
		if (off >= len)
			return -1;
		uint8_t ll = pkt[off];
		if (ll == 0)
			break;
		if (ll > 63) /* pointer or extended label: not in a QNAME */
			return -1;
		if (off + 1 + ll > len || n + 1 + ll + 1 > DNAME_MAXLEN)
			return -1;
		out->label[labels++] = (uint8_t)n;
		out->name[n++] = ll;
		for (unsigned i = 1; i <= ll; i++)
			out->name[n++] = dname_lower[pkt[off + i]];
		off += 1 + ll;
	}
	out->name[n++] = 0;
	out->len = (uint8_t)n;
	out->labels = (uint8_t)labels;
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
	for (size_t i = 0; i <= n; i++)
		out->name[i] = dname_lower[name[i]];
	out->len = (uint8_t)(n + 1);
	out->labels = (uint8_t)labels;
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
	const uint8_t *lab[DNAME_MAXLABELS];
	unsigned labels = 0;
	for (size_t n = 0; name[n] != 0; n += 1 + name[n])
		lab[labels++] = name + n;
	uint32_t h = HASH_SEED;
	while (labels > 0) {
		const uint8_t *l = lab[--labels];
		for (unsigned i = 0; i <= l[0]; i++)
			h = (h ^ dname_lower[l[i]]) * HASH_PRIME;
	}
	return h;
}

void dname_tolower(uint8_t *name)
{
	for (size_t n = 0; name[n] != 0; n += 1 + name[n])
		for (unsigned i = 1; i <= name[n]; i++)
			name[n + i] = dname_lower[name[n + i]];
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
