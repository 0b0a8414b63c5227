/* zcheck.c: record data that ldns reads without a word but should refuse. */
#include "config.h"

#include "zones/zcheck.h"

#include <ctype.h>
#include <ldns/ldns.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOK_MAX 64 /* longest field looked at; longer ones are not ours to judge */

/* The next blank-separated field of *s: its start and length, or NULL at
 * the end. */
static const char *field(const char **s, size_t *len)
{
	const char *p = *s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	size_t n = 0;
	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\t')
		n++;
	*s = p + n;
	*len = n;
	return p;
}

/* The next field into tok; false at the end.  One too long for tok is
 * cut (tok then ends in '~', which no field checked here can hold). */
static bool next_field(const char **s, char tok[TOK_MAX])
{
	size_t n;
	const char *p = field(s, &n);
	if (p == NULL)
		return false;
	size_t keep = n < TOK_MAX - 1 ? n : TOK_MAX - 2;
	memcpy(tok, p, keep);
	if (keep < n)
		tok[keep++] = '~';
	tok[keep] = '\0';
	return true;
}

/* Skip k fields; false when there are fewer. */
static bool skip_fields(const char **s, unsigned k)
{
	size_t n;
	for (unsigned i = 0; i < k; i++)
		if (field(s, &n) == NULL)
			return false;
	return true;
}

static bool all_digits(const char *t)
{
	return t[0] != '\0' && strspn(t, "0123456789") == strlen(t);
}

/* A decimal number with an optional fraction (and, with unit, a trailing
 * 'm'): 0 and *v, or -1. */
static int decimal(const char *t, bool unit, double *v)
{
	char buf[TOK_MAX];
	size_t n = strlen(t);
	if (unit && n > 0 && (t[n - 1] == 'm' || t[n - 1] == 'M'))
		n--;
	memcpy(buf, t, n);
	buf[n] = '\0';
	const char *p = buf + (buf[0] == '-' || buf[0] == '+');
	size_t digits = strspn(p, "0123456789");
	if (p[digits] == '.')
		digits += 1 + strspn(p + digits + 1, "0123456789");
	if (digits == 0 || p[digits] != '\0' || strcmp(p, ".") == 0)
		return -1;
	*v = strtod(buf, NULL);
	return 0;
}

/*
 * RFC 1876 3: d1 [m1 [s1]] {N|S} d2 [m2 [s2]] {E|W} alt[m] [siz[m] [hp[m]
 * [vp[m]]]], with d1 0-90, d2 0-180, minutes 0-59, seconds below 60,
 * altitude -100000.00 to 42849672.95 m, the precisions 0 to 90000000.00 m.
 */
static int check_loc(const char *s, char *why, size_t size)
{
	static const struct {
		const char *name;
		char pos, neg;
		unsigned max;
	} axis[2] = { { "latitude", 'N', 'S', 90 }, { "longitude", 'E', 'W', 180 } };
	char tok[TOK_MAX];
	for (int a = 0; a < 2; a++) {
		double part[3] = { 0, 0, 0 };
		int n = 0;
		while (next_field(&s, tok)) {
			char c = (char)(tok[0] & ~0x20);
			if (tok[1] == '\0' && (c == axis[a].pos || c == axis[a].neg))
				break;
			static const char *const unit[] = { "degrees", "minutes", "seconds" };
			/* ldns reads whatever strtol() and strtod() make of a
			 * field ('1e2' seconds, '0x50'), and so places the rest
			 * wrongly: only RFC 1876's forms are taken. */
			if (n == 3) {
				snprintf(why, size, "LOC %s has '%s' where %c or %c belongs",
					 axis[a].name, tok, axis[a].pos, axis[a].neg);
				return -1;
			}
			if ((n < 2 && !all_digits(tok)) ||
			    (n == 2 && (tok[0] == '-' || tok[0] == '+' ||
					decimal(tok, false, &part[n]) < 0))) {
				snprintf(why, size, "LOC %s %s '%s' is not %s", axis[a].name,
					 unit[n], tok,
					 n < 2 ? "a whole number" : "a decimal number");
				return -1;
			}
			if (n < 2)
				part[n] = strtod(tok, NULL);
			double lim = n == 0 ? axis[a].max : 60;
			if (n == 0 ? part[0] > lim : part[n] >= lim) {
				snprintf(why, size, "LOC %s %s '%s' %s %g", axis[a].name, unit[n],
					 tok, n == 0 ? "is more than" : "must be below", lim);
				return -1;
			}
			n++;
		}
		if (n == 0)
			return 0;
		if (part[0] == axis[a].max && (part[1] > 0 || part[2] > 0)) {
			snprintf(why, size, "LOC %s is more than %u degrees", axis[a].name,
				 axis[a].max);
			return -1;
		}
	}
	static const char *const what[] = { "altitude", "size", "horizontal precision",
					    "vertical precision" };
	for (int i = 0; i < 4 && next_field(&s, tok); i++) {
		double v;
		if (decimal(tok, true, &v) < 0) {
			snprintf(why, size, "LOC %s '%s' is not a decimal number of metres",
				 what[i], tok);
			return -1;
		}
		double lo = i == 0 ? -100000.0 : 0, hi = i == 0 ? 42849672.95 : 90000000.0;
		if (v < lo || v > hi) {
			snprintf(why, size, "LOC %s '%s' is outside %.2f to %.2f m", what[i], tok,
				 lo, hi);
			return -1;
		}
	}
	return 0;
}

/* RFC 3123 4: [!]afi:address/prefix, IPv4 (1) up to /32, IPv6 (2) /128. */
static int check_apl(const char *s, char *why, size_t size)
{
	char tok[TOK_MAX];
	while (next_field(&s, tok)) {
		const char *t = tok + (tok[0] == '!');
		const char *slash = strrchr(t, '/');
		if (slash == NULL || !all_digits(slash + 1))
			continue;
		/* strtoul() saturates: a huge prefix is still too long. */
		unsigned long len = strtoul(slash + 1, NULL, 10);
		unsigned max = strncmp(t, "1:", 2) == 0 ? 32 : strncmp(t, "2:", 2) == 0 ? 128 : 0;
		if (max != 0 && len > max) {
			snprintf(why, size, "APL prefix '%s' is longer than %u bits (%s)", tok, max,
				 max == 32 ? "IPv4" : "IPv6");
			return -1;
		}
	}
	return 0;
}

/* The type list of NSEC, NSEC3 and CSYNC: every entry a type. */
static int check_types(const char *s, const char *rr, char *why, size_t size)
{
	char tok[TOK_MAX];
	while (next_field(&s, tok)) {
		/* ldns reads TYPEnnn with atoi(): TYPE70000 was served as
		 * TYPE4464, TYPE1x as A.  RFC 3597 5: 1 to 65535, digits only. */
		if (strncasecmp(tok, "TYPE", 4) == 0 && all_digits(tok + 4)) {
			unsigned long v = 0;
			for (const char *d = tok + 4; *d != '\0' && v <= 65535; d++)
				v = v * 10 + (unsigned long)(*d - '0');
			if (v >= 1 && v <= 65535)
				continue;
			snprintf(why, size, "%s type list names '%s': a type number is 1 to 65535",
				 rr, tok);
			return -1;
		}
		if (strncasecmp(tok, "TYPE", 4) != 0 && ldns_get_rr_type_by_name(tok) != 0)
			continue;
		snprintf(why, size, "%s type list names '%s', which is not a record type", rr, tok);
		return -1;
	}
	return 0;
}

/* Hex written in one or more fields: ldns pads an odd count with a 0. */
static int check_hex(const char *s, const char *what, char *why, size_t size)
{
	size_t digits = 0, n;
	for (const char *p; (p = field(&s, &n)) != NULL; digits += n)
		for (size_t i = 0; i < n; i++)
			if (!isxdigit((unsigned char)p[i]))
				return 0; /* not plain hex: ldns's to judge */
	if (digits % 2 == 0)
		return 0;
	snprintf(why, size, "%s has %zu hex digits; each octet takes two", what, digits);
	return -1;
}

static bool is_cds_delete(const char *s)
{
	char tok[TOK_MAX];
	for (int i = 0; i < 4; i++)
		if (!next_field(&s, tok) || strcmp(tok, "0") != 0)
			return false;
	return !next_field(&s, tok);
}

/* Types whose data ends in a type list or in hex: where that part starts
 * (fields into the data) and what to call it. */
static const struct {
	uint16_t type;
	bool hex; /* hex digits; else a type list */
	unsigned skip;
	const char *what;
} tails[] = {
	{ LDNS_RR_TYPE_NSEC, false, 1, "NSEC" },
	{ LDNS_RR_TYPE_NSEC3, false, 5, "NSEC3" },
	{ LDNS_RR_TYPE_CSYNC, false, 2, "CSYNC" },
	{ LDNS_RR_TYPE_DS, true, 3, "DS digest" },
	{ LDNS_RR_TYPE_CDS, true, 3, "CDS digest" },
	{ LDNS_RR_TYPE_SSHFP, true, 2, "SSHFP fingerprint" },
	{ LDNS_RR_TYPE_TLSA, true, 3, "TLSA data" },
	{ LDNS_RR_TYPE_SMIMEA, true, 3, "SMIMEA data" },
	{ LDNS_RR_TYPE_ZONEMD, true, 3, "ZONEMD digest" },
};

int zcheck_rdata(uint16_t type, const char *text, unsigned first, char *why, size_t size)
{
	const char *s = text;
	if (!skip_fields(&s, first))
		return 0;
	if (type == LDNS_RR_TYPE_LOC)
		return check_loc(s, why, size);
	if (type == LDNS_RR_TYPE_APL)
		return check_apl(s, why, size);
	/* RFC 8078 4 writes the delete request 'CDS 0 0 0 0' (erratum 5049:
	 * '00'); ldns encodes both alike. */
	if (type == LDNS_RR_TYPE_CDS && is_cds_delete(s))
		return 0;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		if (tails[i].type != type)
			continue;
		if (!skip_fields(&s, tails[i].skip))
			return 0;
		return tails[i].hex ? check_hex(s, tails[i].what, why, size)
				    : check_types(s, tails[i].what, why, size);
	}
	return 0;
}
