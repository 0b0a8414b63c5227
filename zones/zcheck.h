/* zcheck.h: record data that ldns reads without a word but should refuse. */
#ifndef GD_ZCHECK_H
#define GD_ZCHECK_H

#include <stddef.h>
#include <stdint.h>

/*
 * text: an entry as ldns took it, whose data starts at its field number
 * first (counted from 0, blank-separated); type is its type.  ldns passes
 * some values that are out of their field's range, wrapping or padding
 * them, where NSD and Knot refuse the entry: a LOC latitude of 91 degrees
 * or 61 minutes, an APL prefix of /33, an NSEC bitmap naming a type that
 * does not exist, an odd number of hex digits in a DS, SSHFP, TLSA or
 * ZONEMD digest.  Returns 0 when the data has none of these problems,
 * else -1 with the reason in why.
 */
int zcheck_rdata(uint16_t type, const char *text, unsigned first, char *why, size_t size);

#endif
