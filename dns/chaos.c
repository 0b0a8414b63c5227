/* chaos.c: CHAOS TXT server-identity answers. */
#include "config.h"

#include "dns/chaos.h"

#include <string.h>

#include "dns/answer.h"
#include "dns/packet.h"
#include "dns/query.h"
#include "dns/rrtype.h"

/* Lowercase wire names, NUL-terminated by the string literal's root. */
static const uint8_t VERSION_BIND[] = "\7version\4bind";
static const uint8_t VERSION_SERVER[] = "\7version\6server";
static const uint8_t ID_SERVER[] = "\2id\6server";
static const uint8_t HOSTNAME_BIND[] = "\10hostname\4bind";

int chaos_txt_rdata(const char *text, uint8_t *out, size_t cap)
{
	size_t len = strlen(text), o = 0;
	do {
		size_t chunk = len > 255 ? 255 : len;
		/* A long line splits after its last "; " or space in the first
		 * 255 octets, not inside a word (resolvers show the strings
		 * quoted, one after the other). */
		if (chunk < len) {
			size_t cut = chunk;
			while (cut > 128 && text[cut - 1] != ' ')
				cut--;
			if (cut > 128)
				chunk = cut;
		}
		if (o + 1 + chunk > cap)
			return -1;
		out[o++] = (uint8_t)chunk;
		memcpy(out + o, text, chunk);
		o += chunk;
		text += chunk;
		len -= chunk;
	} while (len > 0);
	return (int)o;
}

static bool name_is(const struct query *q, const uint8_t *name, size_t size)
{
	return q->qname.len == size && memcmp(q->qname.name, name, size) == 0;
}

unsigned chaos_answer(const struct answer_conf *c, const struct query *q, struct pkt *p,
		      uint16_t *flags)
{
	const char *text = NULL;
	if (name_is(q, VERSION_BIND, sizeof(VERSION_BIND)) ||
	    name_is(q, VERSION_SERVER, sizeof(VERSION_SERVER)))
		text = c->version;
	else if (name_is(q, ID_SERVER, sizeof(ID_SERVER)) ||
		 name_is(q, HOSTNAME_BIND, sizeof(HOSTNAME_BIND)))
		text = c->identity;
	if (text == NULL || text[0] == '\0')
		return RCODE_REFUSED;

	(void)flags; /* not authoritative data: AA stays clear, as NSD */
	if (q->qtype != RRTYPE_TXT && q->qtype != RRTYPE_ANY)
		return RCODE_NOERROR;
	uint8_t rdata[1024];
	int len = chaos_txt_rdata(text, rdata, sizeof(rdata));
	if (len < 0)
		return RCODE_SERVFAIL;
	if (pkt_put_rr(p, PKT_ANSWER, q->qname.name, RRTYPE_TXT, RRCLASS_CH, 0, rdata,
		       (uint16_t)len) < 0) {
		*flags |= HDR_TC;
		pkt_clear_records(p);
	}
	return RCODE_NOERROR;
}
