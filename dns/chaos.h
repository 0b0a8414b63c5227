/* chaos.h: CHAOS-class TXT answers about the server itself (version, identity). */
#ifndef GD_CHAOS_H
#define GD_CHAOS_H

#include <stddef.h>
#include <stdint.h>

struct answer_conf;
struct pkt;
struct query;

/* Answer a CH-class query: TXT for version.bind, version.server, id.server
 * and hostname.bind.  Sets AA in *flags when answering.  Returns the rcode:
 * NOERROR (with the TXT, or empty for other types), REFUSED for other names
 * or when the item is configured off. */
unsigned chaos_answer(const struct answer_conf *c, const struct query *q, struct pkt *p,
		      uint16_t *flags);

/* Encode text as TXT RDATA (character-strings of at most 255 octets) into
 * out of size cap.  Returns the RDATA length, or -1 if it does not fit. */
int chaos_txt_rdata(const char *text, uint8_t *out, size_t cap);

#endif
