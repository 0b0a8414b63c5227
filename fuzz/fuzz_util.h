/* fuzz_util.h: what the libFuzzer targets share: quiet logs, temp files, a geo dataset, response checks. */
#ifndef GD_FUZZ_UTIL_H
#define GD_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/answer.h"

struct geo;
struct zload_dyn;

/* The libFuzzer entry points (defined by each target). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Call first from LLVMFuzzerInitialize.  Sets the log level to errors and,
 * unless GEODNSD_FUZZ_VERBOSE is set in the environment or the command line
 * already has -close_fd_mask, appends -close_fd_mask=2 to argv: the loaders
 * report every problem of a bad input to stderr, and libFuzzer then keeps
 * its own output and sanitizer reports on the original stderr.
 */
void fuzz_init(int *argc, char ***argv);

/*
 * The path of a file called name in this process's own temporary directory
 * (created on first use, removed at exit).  The returned string is static:
 * one per name, at most 8 names.  Aborts when the directory cannot be made.
 */
const char *fuzz_path(const char *name);

/* Replace the file at path with data[0..size).  Aborts on an I/O error. */
void fuzz_write_file(const char *path, const void *data, size_t size);

/*
 * The geo data the targets answer GEO names from, built once in code
 * (no MaxMind database): datacenters fra, iad, sin (sin forced down);
 * services web (all three, one fra address down), down (sin only,
 * all-down servfail), lr (sin only, last-resort addresses), open (sin
 * only, fail-open); network rules 10.0.0.0/8 -> iad and 2001:db8:1::/48 ->
 * sin, fra.  Never freed.
 */
struct geo *fuzz_geo(void);

/* The zload binding hooks for fuzz_geo() (dataset.c's bind_service). */
const struct zload_dyn *fuzz_zload_dyn(void);

/* Fill conf with the settings the targets answer with: identity, version,
 * NSID, 1232-octet UDP limit, cookies, the geo hooks and a status hook. */
void fuzz_answer_conf(struct answer_conf *conf);

/*
 * Check a response resp[0..rlen) to query[0..qlen) that answer_query()
 * produced over transport tr with udp_max_payload max_udp, and abort() with
 * a message naming the broken rule: the ID, opcode and RD of the query;
 * QR set; the question echoed octet for octet; every section parses
 * (names bounded, pointers backwards, RDATA names inside their RDATA, no
 * trailing octets); at most one OPT, in the additional section, owned by
 * the root; over UDP at most 512 octets without OPT and max_udp with it.
 * rlen 0 (no response) passes.
 */
void fuzz_check_response(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t rlen,
			 enum answer_transport tr, size_t max_udp);

/*
 * Write a query for qname (uncompressed wire form) into buf (>= 300
 * octets) with ID id, RD set; with edns, an OPT advertising 1232 octets
 * that asks for NSID.  Returns its length.
 */
size_t fuzz_make_query(uint8_t *buf, uint16_t id, const uint8_t *qname, uint16_t qtype,
		       uint16_t qclass, bool edns);

#endif
