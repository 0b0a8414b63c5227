/* answer.h: the answer engine: one query packet in, one response packet out. */
#ifndef GD_ANSWER_H
#define GD_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zonedb;

/* Server-wide answering settings, part of the published dataset. */
struct answer_conf {
	const char *identity;	/* CH TXT id.server / hostname.bind */
	const char *version;	/* CH TXT version.*; "" refuses them */
	const uint8_t *nsid;	/* RFC 5001 payload, NULL when off */
	size_t nsid_len;
	uint16_t udp_max_payload; /* largest UDP response we send */
};

/* Everything a query is answered from; immutable once published. */
struct answer_data {
	const struct zonedb *zones;
	struct answer_conf conf;
};

/* The transport a query came over: sizes and RFC 8482 ANY depend on it. */
enum answer_transport { ANSWER_UDP, ANSWER_TCP };

#define ANSWER_BUF_SIZE 65535

/*
 * Answer the query in query[0..qlen) into out (capacity ANSWER_BUF_SIZE).
 * Returns the response length, or 0 when the packet gets no response (too
 * short for a header, or a response sent to us).  Allocates nothing; reads d
 * only, so any number of threads may answer from one dataset at once.
 */
size_t answer_query(const struct answer_data *d, const uint8_t *query,
		    size_t qlen, uint8_t *out, enum answer_transport tr);

#endif
