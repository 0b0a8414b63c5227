/* zrr.c: the common record types read straight into wire form, as ldns would read them. */
#include "config.h"

#include "zones/zrr.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "dns/rrtype.h"

/* One whitespace-separated field of the entry. */
struct tok {
	const char *s;
	size_t n;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The next field after *p; false at the end of the text.  ldns splits on
 * the same blanks (and newlines, which a logical line has none of). */
static bool next_tok(const char **p, struct tok *t)
{
	const char *s = *p;
	while (is_blank(*s))
		s++;
	if (*s == '\0')
		return false;
	const char *e = s;
	while (*e != '\0' && !is_blank(*e))
		e++;
	t->s = s;
	t->n = (size_t)(e - s);
	*p = e;
	return true;
}

static bool tok_is(const struct tok *t, const char *word)
{
	return t->n == strlen(word) && strncasecmp(t->s, word, t->n) == 0;
}

/* Label characters taken as they are: anything else (escapes, '@' inside
 * a name, which ldns reads as the origin, quotes, parentheses) goes to
 * ldns. */
static bool plain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '*';
}

/* A name field: "@" (the origin), "." (the root), or plain labels, made
 * absolute with origin unless written with a final dot.  Returns the wire
 * length, or 0 when the field is not plain or the name would be too long. */
static size_t name_parse(const struct tok *t, const uint8_t *origin, uint8_t out[DNAME_MAXLEN])
{
	if (t->n == 1 && t->s[0] == '@') {
		size_t len = dname_len(origin);
		memcpy(out, origin, len);
		return len;
	}
	if (t->n == 1 && t->s[0] == '.') {
		out[0] = 0;
		return 1;
	}
	size_t o = 0, i = 0;
	for (;;) {
		size_t j = i;
		while (j < t->n && t->s[j] != '.') {
			if (!plain_char(t->s[j]))
				return 0;
			j++;
		}
		size_t l = j - i;
		/* RFC 1035 2.3.4: labels of 1 to 63 octets, 255 in all. */
		if (l == 0 || l > 63 || o + 1 + l + 1 > DNAME_MAXLEN)
			return 0;
		out[o] = (uint8_t)l;
		memcpy(out + o + 1, t->s + i, l);
		o += 1 + l;
		if (j == t->n)
			break; /* relative */
		i = j + 1;
		if (i == t->n) {
			out[o] = 0;
			return o + 1;
		}
	}
	size_t ol = dname_len(origin);
	if (o + ol > DNAME_MAXLEN)
		return 0;
	memcpy(out + o, origin, ol);
	return o + ol;
}

int zrr_ttl_parse(const char *text, size_t len, uint32_t *ttl)
{
	if (len == 0 || text[0] < '0' || text[0] > '9')
		return ZRR_TTL_SYNTAX;
	/* In 64 bits every step stays below 2^32 * 604800, and the value only
	 * grows, so a step past 2^32 - 1 means the value is too. */
	uint64_t total = 0, num = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		uint64_t unit;
		if (c >= '0' && c <= '9') {
			num = num * 10 + (uint64_t)(c - '0');
			if (num > UINT32_MAX)
				return ZRR_TTL_RANGE;
			continue;
		}
		switch (c) {
		case 's':
		case 'S':
			unit = 1;
			break;
		case 'm':
		case 'M':
			unit = 60;
			break;
		case 'h':
		case 'H':
			unit = 3600;
			break;
		case 'd':
		case 'D':
			unit = 86400;
			break;
		case 'w':
		case 'W':
			unit = 604800;
			break;
		default:
			return ZRR_TTL_SYNTAX;
		}
		total += num * unit;
		num = 0;
		if (total > UINT32_MAX)
			return ZRR_TTL_RANGE;
	}
	/* Digits after the last unit are seconds. */
	total += num;
	if (total > UINT32_MAX)
		return ZRR_TTL_RANGE;
	*ttl = (uint32_t)total;
	return ZRR_TTL_OK;
}

/* A TTL field.  One that ldns would wrap is left to the loader, which
 * reports it. */
static bool ttl_parse(const struct tok *t, uint32_t *ttl)
{
	return zrr_ttl_parse(t->s, t->n, ttl) == ZRR_TTL_OK;
}

/* A 16-bit decimal field.  ldns reads it with strtol and truncates; only
 * values that fit are taken here. */
static bool u16_parse(const struct tok *t, uint8_t *out)
{
	if (t->n == 0 || t->n > 5)
		return false;
	uint32_t v = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(t->s[i] - '0');
	}
	if (v > 65535)
		return false;
	out[0] = (uint8_t)(v >> 8);
	out[1] = (uint8_t)v;
	return true;
}

/* An address field, read with inet_pton as ldns reads it. */
static bool addr_parse(const struct tok *t, int af, uint8_t *out)
{
	char buf[64];
	if (t->n >= sizeof(buf))
		return false;
	memcpy(buf, t->s, t->n);
	buf[t->n] = '\0';
	return inet_pton(af, buf, out) == 1;
}

/* TXT data: character-strings, each "quoted" or a plain word, separated by
 * spaces.  Escapes, tabs (ldns skips only spaces between strings),
 * non-ASCII octets and a quote not followed by a space are left to ldns. */
static bool txt_parse(const char *p, struct zrr *out)
{
	size_t o = 0;
	unsigned strings = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		const char *s, *e;
		if (*p == '"') {
			s = ++p;
			for (; *p != '"'; p++)
				if (*p < 0x20 || *p > 0x7e || *p == '\\')
					return false;
			e = p++;
			if (*p != ' ' && *p != '\0')
				return false;
		} else {
			s = p;
			for (; *p != ' ' && *p != '\0'; p++)
				if (*p <= 0x20 || *p > 0x7e || strchr("\"\\;()", *p) != NULL)
					return false;
			e = p;
		}
		size_t l = (size_t)(e - s);
		/* RFC 1035 3.3: a character-string holds up to 255 octets. */
		if (l > 255 || o + 1 + l > ZRR_RDATA_MAX)
			return false;
		out->rdata[o] = (uint8_t)l;
		memcpy(out->rdata + o + 1, s, l);
		o += 1 + l;
		strings++;
	}
	out->rdlen = (uint16_t)o;
	return strings > 0;
}

static uint16_t type_parse(const struct tok *t)
{
	static const struct {
		const char *name;
		uint16_t type;
	} types[] = {
		{ "A", RRTYPE_A },         { "AAAA", RRTYPE_AAAA }, { "NS", RRTYPE_NS },
		{ "CNAME", RRTYPE_CNAME }, { "PTR", RRTYPE_PTR },   { "MX", RRTYPE_MX },
		{ "SRV", RRTYPE_SRV },     { "TXT", RRTYPE_TXT },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (tok_is(t, types[i].name))
			return types[i].type;
	return 0;
}

/* RDATA of the fixed-form types: the fields, then nothing more (ldns
 * rejects superfluous text). */
static bool rdata_parse(const char *p, const uint8_t *origin, struct zrr *out)
{
	struct tok t;
	uint8_t *rd = out->rdata;
	size_t o = 0;
	switch (out->type) {
	case RRTYPE_A:
		if (!next_tok(&p, &t) || !addr_parse(&t, AF_INET, rd))
			return false;
		o = 4;
		break;
	case RRTYPE_AAAA:
		if (!next_tok(&p, &t) || !addr_parse(&t, AF_INET6, rd))
			return false;
		o = 16;
		break;
	case RRTYPE_MX:
	case RRTYPE_SRV: {
		/* MX: preference, exchange; RFC 2782 SRV: priority, weight,
		 * port, target. */
		size_t nums = out->type == RRTYPE_MX ? 1 : 3;
		for (; o < 2 * nums; o += 2)
			if (!next_tok(&p, &t) || !u16_parse(&t, rd + o))
				return false;
	}
		/* fall through */
	case RRTYPE_NS:
	case RRTYPE_CNAME:
	case RRTYPE_PTR: {
		size_t n;
		if (!next_tok(&p, &t) || (n = name_parse(&t, origin, rd + o)) == 0)
			return false;
		o += n;
		break;
	}
	default:
		return false;
	}
	out->rdlen = (uint16_t)o;
	return !next_tok(&p, &t);
}

int zrr_parse(const char *text, bool blank_owner, const uint8_t *origin, const uint8_t *prev,
	      struct zrr *out)
{
	const char *p = text;
	struct tok t;
	size_t len;
	if (blank_owner) {
		/* RFC 1035 5.1: a blank owner repeats the previous one. */
		if (prev == NULL)
			return 0;
		len = dname_len(prev);
		memcpy(out->owner, prev, len);
	} else if (!next_tok(&p, &t) || (len = name_parse(&t, origin, out->owner)) == 0) {
		return 0;
	}
	out->owner_len = (uint8_t)len;

	/* [TTL] [class] or [class] [TTL] (RFC 1035 5.1); a field starting
	 * with a digit is the TTL. */
	if (!next_tok(&p, &t))
		return 0;
	out->has_ttl = t.s[0] >= '0' && t.s[0] <= '9';
	out->ttl = 0;
	if (out->has_ttl && (!ttl_parse(&t, &out->ttl) || !next_tok(&p, &t)))
		return 0;
	if (tok_is(&t, "IN") && !next_tok(&p, &t))
		return 0;
	if (!out->has_ttl && t.s[0] >= '0' && t.s[0] <= '9') {
		out->has_ttl = true;
		if (!ttl_parse(&t, &out->ttl) || !next_tok(&p, &t))
			return 0;
	}
	out->type = type_parse(&t);
	if (out->type == 0)
		return 0;
	if (out->type == RRTYPE_TXT)
		return txt_parse(p, out) ? 1 : 0;
	return rdata_parse(p, origin, out) ? 1 : 0;
}
