/* test_geo.c: network trie scopes, rules, embedded IPv4, service answers. */
#include "config.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/answer.h"
#include "dns/arena.h"
#include "dns/log.h"
#include "dns/rrtype.h"
#include "dns/ztree.h"
#include "geo/geo.h"
#include "geo/nettrie.h"
#include "tap.h"

static void v4(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	inet_pton(AF_INET, s, out);
}

static void test_trie(void)
{
	struct nettrie *t = nettrie_new(32);
	uint8_t a[16];
	unsigned scope = 99;
	int r1 = 1, r2 = 2;

	v4("192.0.2.1", a);
	OK(nettrie_lookup(t, a, &scope) == NULL, "empty trie matches nothing");
	IS_INT(scope, 0, "empty trie: scope 0");

	v4("10.0.0.0", a);
	OK(nettrie_insert(t, a, 8, &r1) == NULL, "insert 10/8");
	v4("10.1.0.0", a);
	OK(nettrie_insert(t, a, 16, &r2) == NULL, "insert 10.1/16");
	OK(nettrie_insert(t, a, 16, &r1) == &r2, "second insert of 10.1/16 returns the first");

	v4("10.1.2.3", a);
	OK(nettrie_lookup(t, a, &scope) == &r2, "10.1.2.3 -> 10.1/16 (longest)");
	IS_INT(scope, 16, "inside a leaf rule: scope is its length");

	v4("10.2.0.0", a);
	OK(nettrie_lookup(t, a, &scope) == &r1, "10.2.0.0 -> 10/8");
	/* 10.1/16 lies inside 10/8: 10.2.x shares 14 bits with 10.1.x, so
	 * the answer holds only for the /15 that excludes 10.1/16. */
	IS_INT(scope, 15, "10/8 narrowed by the 10.1/16 inside it");

	v4("11.0.0.0", a);
	OK(nettrie_lookup(t, a, &scope) == NULL, "11.0.0.0 outside every rule");
	IS_INT(scope, 8, "outside: the prefix where the path leaves the rules");

	v4("128.0.0.0", a);
	nettrie_lookup(t, a, &scope);
	IS_INT(scope, 1, "first bit differs: scope 1");
	nettrie_free(t);
}

/* Three datacenters; web has A in fra+iad, AAAA in fra only; one has a
 * single datacenter. */
static void make_conf(struct geo_conf *gc)
{
	memset(gc, 0, sizeof(*gc));
	gc->n_dcs = 3;
	gc->dcs = calloc(3, sizeof(*gc->dcs));
	const char *names[3] = { "fra", "iad", "sin" };
	const double ll[3][2] = { { 50.11, 8.68 }, { 38.95, -77.45 }, { 1.35, 103.99 } };
	for (int i = 0; i < 3; i++) {
		gc->dcs[i].name = strdup(names[i]);
		gc->dcs[i].lat = ll[i][0];
		gc->dcs[i].lon = ll[i][1];
	}
	gc->n_services = 2;
	gc->services = calloc(2, sizeof(*gc->services));
	struct geo_service *web = &gc->services[0];
	web->name = strdup("web");
	web->n_dcs = 2;
	web->dcs = calloc(2, sizeof(*web->dcs));
	web->dcs[0].dc = 0;
	web->dcs[0].n_addrs = 2;
	web->dcs[0].addrs = calloc(2, sizeof(struct geo_prefix));
	web->dcs[0].addrs[0].family = 4;
	v4("192.0.2.10", web->dcs[0].addrs[0].addr);
	web->dcs[0].addrs[1].family = 6;
	inet_pton(AF_INET6, "2001:db8::10", web->dcs[0].addrs[1].addr);
	web->dcs[1].dc = 1;
	web->dcs[1].n_addrs = 1;
	web->dcs[1].addrs = calloc(1, sizeof(struct geo_prefix));
	web->dcs[1].addrs[0].family = 4;
	v4("198.51.100.10", web->dcs[1].addrs[0].addr);
	struct geo_service *one = &gc->services[1];
	one->name = strdup("one");
	one->n_dcs = 1;
	one->dcs = calloc(1, sizeof(*one->dcs));
	one->dcs[0].dc = 2;
	one->dcs[0].n_addrs = 1;
	one->dcs[0].addrs = calloc(1, sizeof(struct geo_prefix));
	one->dcs[0].addrs[0].family = 4;
	v4("203.0.113.10", one->dcs[0].addrs[0].addr);
	/* 10.0.0.0/8 -> iad first; default order sin, iad, fra */
	gc->n_nets = 1;
	gc->nets = calloc(1, sizeof(*gc->nets));
	gc->nets[0].net.family = 4;
	gc->nets[0].net.len = 8;
	v4("10.0.0.0", gc->nets[0].net.addr);
	gc->nets[0].dcs.n = 1;
	gc->nets[0].dcs.dc = calloc(1, sizeof(uint16_t));
	gc->nets[0].dcs.dc[0] = 1;
	gc->default_order.n = 3;
	gc->default_order.dc = calloc(3, sizeof(uint16_t));
	gc->default_order.dc[0] = 2;
	gc->default_order.dc[1] = 1;
	gc->default_order.dc[2] = 0;
}

/* First address of an answer RRset, as text. */
static const char *first_addr(const struct dyn_answer *a, char *buf)
{
	if (a->set == NULL)
		return "NODATA";
	inet_ntop(a->set->type == RRTYPE_A ? AF_INET : AF_INET6, a->set->data + 2, buf,
		  INET6_ADDRSTRLEN);
	return buf;
}

static void client(struct answer_client *c, int family, const char *addr, unsigned prefix)
{
	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)family;
	c->prefix = (uint8_t)prefix;
	c->ecs = true;
	inet_pton(family == 4 ? AF_INET : AF_INET6, addr, c->addr);
}

static void test_answers(void)
{
	struct geo_conf gc;
	struct diag d = { .print = 1 };
	char buf[INET6_ADDRSTRLEN];
	make_conf(&gc);
	struct geo *g = geo_build(&gc, "test.yaml", NULL, false, &d);
	OK(g != NULL, "geo_build without a database");
	IS_INT(geo_service_index(g, "web"), 0, "service web found");
	IS_INT(geo_service_index(g, "nope"), -1, "unknown service");
	struct arena *bindings = arena_new();
	const void *web = geo_bind(bindings, 0, 60), *one = geo_bind(bindings, 1, 30);
	struct answer_client c;
	struct dyn_answer a;

	client(&c, 4, "10.9.8.0", 24);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "198.51.100.10", "network rule 10/8 -> iad");
	IS_INT(a.scope, 8, "scope of the network rule");
	IS_INT(a.ttl, 60, "TTL from the binding");

	client(&c, 4, "192.0.2.0", 24);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	/* Default order sin, iad, fra: web has no sin, so iad. */
	IS_STR(first_addr(&a, buf), "198.51.100.10",
	       "no location: default order, first with addresses");
	IS_INT(a.scope, 1, "outside 10/8: scope where the path leaves the rule tree");

	client(&c, 6, "::ffff:10.1.2.0", 120);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "198.51.100.10", "IPv4-mapped 10.1.2.0 follows the 10/8 rule");
	IS_INT(a.scope, 96 + 8, "mapped: scope counts the /96");

	client(&c, 6, "2002:0a01:0200::", 48);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_INT(a.scope, 16 + 8, "6to4 2002:0a01:02xx:: is 10.1.2.x: scope 16 + 8");

	/* Teredo: the client 10.1.2.3 inverted in the last 32 bits. */
	client(&c, 6, "2001:0:c000:201::f5fe:fdfc", 128);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "198.51.100.10",
	       "Teredo client 10.1.2.3 follows the 10/8 rule");
	IS_INT(a.scope, 96 + 8, "Teredo: scope counts the /96");
	/* A prefix with none or only some of the client bits: the answer is
	 * the one for the address as masked, and its scope is longer than the
	 * source (never "this whole /64 gets the same"), since clients inside
	 * it are routed apart. */
	client(&c, 6, "2001:0:c000:201::", 64);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_INT(a.scope, 97, "Teredo /64: 255.255.255.255 leaves the rule tree at bit 1: 96 + 1");
	client(&c, 6, "2001:0:c000:201::f000:0", 100);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_INT(a.scope, 96 + 6,
	       "Teredo /100: 15.255.255.255 parts from 10/8 at bit 6, past the source's 100");
	client(&c, 6, "2001:0:c000:201::f500:0", 104);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "198.51.100.10",
	       "Teredo /104 with the whole first octet: 10/8");
	IS_INT(a.scope, 96 + 8, "Teredo /104: the rule's /8");

	client(&c, 4, "10.0.0.0", 0);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_INT(a.scope, 0, "source prefix 0: no tailoring, scope 0");

	client(&c, 4, "10.9.8.0", 24);
	geo_answer(g, web, RRTYPE_AAAA, &c, &a);
	IS_STR(first_addr(&a, buf), "2001:db8::10", "AAAA: only fra has IPv6");
	IS_INT(a.scope, 0, "one datacenter for the family: scope 0");

	geo_answer(g, one, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "203.0.113.10", "single-datacenter service");
	IS_INT(a.scope, 0, "single-datacenter service: scope 0");
	geo_answer(g, one, RRTYPE_AAAA, &c, &a);
	OK(a.set == NULL, "no IPv6 in the service: NODATA");

	uint8_t lo[16] = { 127, 0, 0, 1 }, other[16] = { 192, 0, 2, 1 };
	OK(geo_explain_allowed(g, 4, lo), "explain ACL default allows loopback");
	OK(!geo_explain_allowed(g, 4, other), "explain ACL default refuses others");

	/* A new GeoIP database is loaded under zones that stay: the zones'
	 * bindings must answer from a geo built after them (ASan checks that
	 * they hold nothing of the geo they were made with). */
	geo_free(g);
	g = geo_build(&gc, "test.yaml", NULL, false, &d);
	OK(g != NULL, "geo rebuilt from the same configuration");
	client(&c, 4, "10.9.8.0", 24);
	geo_answer(g, web, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "198.51.100.10", "binding made before the rebuild answers");
	IS_INT(a.ttl, 60, "binding made before the rebuild keeps its TTL");
	geo_answer(g, one, RRTYPE_A, &c, &a);
	IS_STR(first_addr(&a, buf), "203.0.113.10", "second binding made before the rebuild");

	geo_free(g);
	arena_free(bindings);
	geo_conf_clear(&gc);
}

/* A service of one datacenter with addresses fams[0..n) (4 or 6), in that
 * order: 10.0.0.i or 2001:db8::i for address i - 1. */
static void one_dc_conf(struct geo_conf *gc, const int *fams, unsigned n)
{
	memset(gc, 0, sizeof(*gc));
	gc->n_dcs = 1;
	gc->dcs = calloc(1, sizeof(*gc->dcs));
	gc->dcs[0].name = strdup("fra");
	gc->n_services = 1;
	gc->services = calloc(1, sizeof(*gc->services));
	struct geo_service *s = &gc->services[0];
	s->name = strdup("web");
	s->n_dcs = 1;
	s->dcs = calloc(1, sizeof(*s->dcs));
	s->dcs[0].n_addrs = n;
	s->dcs[0].addrs = calloc(n, sizeof(struct geo_prefix));
	for (unsigned i = 0; i < n; i++) {
		char text[32];
		s->dcs[0].addrs[i].family = (uint8_t)fams[i];
		snprintf(text, sizeof(text), fams[i] == 4 ? "10.0.0.%u" : "2001:db8::%u", i + 1);
		inet_pton(fams[i] == 4 ? AF_INET : AF_INET6, text, s->dcs[0].addrs[i].addr);
	}
	gc->default_order.n = 1;
	gc->default_order.dc = calloc(1, sizeof(uint16_t));
}

/* Which records an answer holds when some addresses are down, for the
 * families listed in a row and interleaved: for every up/down pattern, the
 * answer is exactly the up addresses of the family asked for. */
static void test_record_masks(void)
{
	static const int rows[] = { 4, 4, 4, 6, 6 }, mixed[] = { 6, 4, 6, 4, 4 };
	const int *lists[2] = { rows, mixed };
	const char *what[2] = { "families in a row", "families interleaved" };
	for (int l = 0; l < 2; l++) {
		struct geo_conf gc;
		struct diag d = { .print = 1 };
		one_dc_conf(&gc, lists[l], 5);
		struct geo *g = geo_build(&gc, "test.yaml", NULL, false, &d);
		struct arena *bindings = arena_new();
		const void *web = geo_bind(bindings, 0, 60);
		_Atomic uint8_t flag[5];
		for (unsigned a = 0; a < 5; a++)
			geo_set_address_flag(g, 0, 0, a, &flag[a], NULL);
		struct answer_client c;
		client(&c, 4, "192.0.2.0", 24);
		unsigned checked = 0, wrong = 0;
		for (unsigned pattern = 1; pattern < 32; pattern++) {
			for (unsigned a = 0; a < 5; a++)
				atomic_store(&flag[a], (uint8_t)(pattern >> a & 1));
			for (int fam = 4; fam <= 6; fam += 2) {
				/* Expected: the up addresses of fam, as the text
				 * that holds their index. */
				char want[64] = "", got[64] = "", buf[INET6_ADDRSTRLEN];
				for (unsigned a = 0; a < 5; a++)
					if (lists[l][a] == fam && (pattern >> a & 1))
						snprintf(want + strlen(want),
							 sizeof(want) - strlen(want), "%u ", a + 1);
				if (want[0] == '\0')
					continue; /* fail-open: another test's matter */
				struct dyn_answer ans;
				geo_answer(g, web, fam == 4 ? RRTYPE_A : RRTYPE_AAAA, &c, &ans);
				for (unsigned r = 0; ans.set != NULL && r < ans.set->count; r++) {
					if (!(ans.mask >> r & 1))
						continue;
					inet_ntop(fam == 4 ? AF_INET : AF_INET6,
						  ans.set->data + r * (fam == 4 ? 6 : 18) + 2, buf,
						  sizeof(buf));
					const char *last = strrchr(buf, fam == 4 ? '.' : ':');
					snprintf(got + strlen(got), sizeof(got) - strlen(got),
						 "%s ", last + 1);
				}
				checked++;
				if (strcmp(want, got) != 0) {
					wrong++;
					printf("# %s, up 0x%02x, %s: want %sgot %s\n", what[l],
					       pattern, fam == 4 ? "A" : "AAAA", want, got);
				}
			}
		}
		OK(checked > 30 && wrong == 0, "%s: the up records of the family, %u patterns",
		   what[l], checked);
		geo_free(g);
		arena_free(bindings);
		geo_conf_clear(&gc);
	}
}

static void test_bad_database(void)
{
	struct geo_conf gc;
	struct diag d = { .print = 0 };
	make_conf(&gc);
	gc.database = strdup("/nonexistent/geo.mmdb");
	gc.database_line = 7;
	OK(geo_build(&gc, "test.yaml", NULL, false, &d) == NULL, "missing database: build fails");
	IS_INT(d.errors, 1, "one error reported");
	geo_conf_clear(&gc);
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERR);
	test_trie();
	test_answers();
	test_record_masks();
	test_bad_database();
	return tap_done();
}
