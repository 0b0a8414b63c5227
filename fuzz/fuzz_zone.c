/* fuzz_zone.c: libFuzzer target: a master file for example.com through zload_file(), then queried. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dns/answer.h"
#include "dns/dname.h"
#include "dns/log.h"
#include "dns/rrtype.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "fuzz/fuzz_util.h"
#include "zones/zload.h"

#define NODES_ASKED 64 /* names queried per loaded zone */

static const char *zone_path;
static struct answer_conf conf;
static uint8_t *out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(argc, argv);
	/* $INCLUDE paths are relative to this file's directory. */
	zone_path = fuzz_path("example.com.zone");
	fuzz_answer_conf(&conf);
	out = malloc(ANSWER_BUF_SIZE);
	if (out == NULL)
		abort();
	return 0;
}

static void ask(const struct answer_data *d, const uint8_t *name, uint16_t qtype,
		enum answer_transport tr, bool edns)
{
	uint8_t q[DNS_HEADER_SIZE + DNAME_MAXLEN + 4 + 16];
	size_t len = fuzz_make_query(q, 0x4242, name, qtype, RRCLASS_IN, edns);
	size_t n = answer_query(d, q, len, NULL, out, tr, NULL);
	fuzz_check_response(q, len, out, n, tr, d->conf.udp_max_payload);
}

/* Whatever loaded must answer well: every type at every name (the first
 * NODES_ASKED names), ANY over both transports, and a name just below. */
static void ask_all(const struct zone *z, const struct answer_data *d)
{
	unsigned asked = 0;
	for (uint32_t i = 0; i <= z->mask && asked < NODES_ASKED; i++) {
		const struct znode *n = z->table[i];
		if (n == NULL)
			continue;
		asked++;
		for (uint16_t k = 0; k < n->n_rrsets; k++)
			ask(d, n->name, n->rrsets[k].type, ANSWER_UDP, k % 2 == 0);
		ask(d, n->name, RRTYPE_A, ANSWER_UDP, false);
		ask(d, n->name, RRTYPE_AAAA, ANSWER_UDP, true);
		ask(d, n->name, RRTYPE_ANY, ANSWER_UDP, true);
		ask(d, n->name, RRTYPE_ANY, ANSWER_TCP, false);
		ask(d, n->name, RRTYPE_DS, ANSWER_UDP, false);
		if (n->name_len + 2u <= DNAME_MAXLEN) {
			uint8_t below[DNAME_MAXLEN];
			below[0] = 1;
			below[1] = 'x';
			memcpy(below + 2, n->name, n->name_len);
			ask(d, below, RRTYPE_TXT, ANSWER_UDP, false);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag diag = { 0 };
	fuzz_write_file(zone_path, data, size);
	struct zone *z = zload_file("example.com", zone_path, fuzz_zload_dyn(), &diag);
	if (z == NULL)
		return 0;
	struct zone **zones = malloc(sizeof(*zones));
	if (zones == NULL)
		abort();
	zones[0] = z;
	struct answer_data d = { .zones = zonedb_new(zones, 1), .conf = conf };
	ask_all(z, &d);
	zonedb_free((struct zonedb *)d.zones);
	return 0;
}
