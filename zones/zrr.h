/* zrr.h: a fast path from one master-file entry to wire form, for the common types. */
#ifndef GD_ZRR_H
#define GD_ZRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dname.h"

#define ZRR_RDATA_MAX 4096 /* longer RDATA is left to ldns */

/* One entry as ldns_rr_new_frm_str() would return it; the class is IN. */
struct zrr {
	uint8_t owner[DNAME_MAXLEN]; /* wire form, case as written */
	uint8_t owner_len;
	bool has_ttl;  /* a TTL field was written; else ttl is 0 */
	uint32_t ttl;  /* as ldns_str2period() reads the field */
	uint16_t type; /* RRTYPE_* */
	uint16_t rdlen;
	uint8_t rdata[ZRR_RDATA_MAX];
};

/*
 * Parse text, a logical line from zfreader ("owner [ttl] [IN] type rdata",
 * or with a leading blank when blank_owner), for the types A, AAAA, NS,
 * CNAME, PTR, MX, SRV and TXT, giving byte for byte what
 * ldns_rr_new_frm_str(text, origin) gives.  origin and prev (the previous
 * entry's owner, for a blank owner; may be NULL) are wire names.
 *
 * Only plain input is taken: names of letters, digits, '-', '_' and '*',
 * no escapes, classes other than IN, RFC 3597 forms, tabs in TXT data or
 * anything else whose reading by ldns is not certain.
 * Returns 1 with *out filled, or 0 (*out undefined) when the entry is not
 * one it is sure about, valid or not: the caller then parses it with ldns,
 * which words any error the caller does not word itself.
 */
int zrr_parse(const char *text, bool blank_owner, const uint8_t *origin, const uint8_t *prev,
	      struct zrr *out);

/* zrr_ttl_parse() results. */
enum zrr_ttl_status {
	ZRR_TTL_OK = 0,
	ZRR_TTL_SYNTAX = -1, /* not a TTL */
	ZRR_TTL_RANGE = -2,  /* 2^32 or more */
};

/*
 * Read a TTL (or another RFC 1035 time field) from the len octets at text:
 * a digit, then digits and unit letters (s, m, h, d, w in either case, so
 * "3600", "1h30m", "2W"), valued as ldns_str2period() values it.
 * ldns_str2period() also takes signs and blanks, and wraps a value of 2^32
 * or more modulo 2^32; here those are ZRR_TTL_SYNTAX and ZRR_TTL_RANGE.
 * Returns ZRR_TTL_OK with *ttl set, or one of those (*ttl undefined).
 */
int zrr_ttl_parse(const char *text, size_t len, uint32_t *ttl);

#endif
