/* explain.c: explain queries, answered as CHAOS TXT lines. */
#include "config.h"

#include "dns/explain.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/answer.h"
#include "dns/chaos.h"
#include "dns/packet.h"
#include "dns/query.h"
#include "dns/rrtype.h"
#include "dns/ztree.h"

static const uint8_t SUFFIX[] = "\7explain\7geodnsd"; /* + root */
#define EXPLAIN_HOPS 8 /* CNAMEs followed, as many as answers follow */
static const uint8_t STATUS[] = "\6status\7geodnsd"; /* + root */

/* True when the name's last labels are suffix (n octets with the root):
 * the cut must fall on a label boundary, or "x\7explain..." inside a
 * longer label would match and be split mid-label. */
static bool ends_with(const struct query *q, const uint8_t *suffix, size_t n)
{
	if (q->qname.len < n || memcmp(q->qname.name + q->qname.len - n, suffix, n) != 0)
		return false;
	size_t cut = q->qname.len - n;
	if (cut == 0)
		return true;
	for (unsigned i = 0; i < q->qname.labels; i++)
		if (q->qname.label[i] == cut)
			return true;
	return false;
}

static const uint8_t BARE[] = "\7geodnsd"; /* + root */

/* explain.geodnsd itself, or geodnsd: answered with usage lines. */
static bool is_usage(const struct query *q)
{
	return (q->qname.len == sizeof(SUFFIX) && ends_with(q, SUFFIX, sizeof(SUFFIX))) ||
	       (q->qname.len == sizeof(BARE) && ends_with(q, BARE, sizeof(BARE)));
}

bool explain_match(const struct query *q)
{
	return (q->qname.len >= sizeof(SUFFIX) && ends_with(q, SUFFIX, sizeof(SUFFIX))) ||
	       ends_with(q, STATUS, sizeof(STATUS)) || is_usage(q);
}

struct emitter {
	struct pkt *p;
	const uint8_t *owner;
	bool full;
	unsigned dropped; /* lines that did not fit */
};

static void emit_line(void *arg, const char *line)
{
	struct emitter *e = arg;
	uint8_t rdata[1024];
	int len = chaos_txt_rdata(line, rdata, sizeof(rdata));
	if (e->full || len < 0) {
		e->dropped++;
		return;
	}
	if (pkt_put_rr(e->p, PKT_ANSWER, e->owner, RRTYPE_TXT, RRCLASS_CH, 0, rdata,
		       (uint16_t)len) < 0) {
		e->full = true;
		e->dropped++;
	}
}

#define NOTE_ROOM 160 /* kept free for the "N more lines" note */

/* Lines that did not fit: over UDP, TC so the client retries over TCP;
 * over TCP (no retry can help past 64 KiB), keep what fit and say how
 * to ask for less. */
static void finish_lines(struct emitter *e, size_t max, uint16_t *flags, const char *hint)
{
	e->p->max = max;
	if (!e->full)
		return;
	if (max <= 4096) {
		*flags |= HDR_TC;
		pkt_clear_records(e->p);
		return;
	}
	char note[NOTE_ROOM];
	snprintf(note, sizeof(note),
		 "... %u more lines did not fit in one "
		 "message; %s",
		 e->dropped, hint);
	e->full = false;
	emit_line(e, note);
}

static bool allowed(const struct answer_data *d, const struct sockaddr *from)
{
	int family = 0;
	const uint8_t *addr = NULL;
	if (from != NULL && from->sa_family == AF_INET) {
		family = 4;
		addr = (const uint8_t *)&((const struct sockaddr_in *)from)->sin_addr;
	} else if (from != NULL && from->sa_family == AF_INET6) {
		family = 6;
		addr = (const uint8_t *)&((const struct sockaddr_in6 *)from)->sin6_addr;
	}
	if (addr == NULL)
		return false;
	if (d->conf.dyn.explain_allowed != NULL)
		return d->conf.dyn.explain_allowed(d->conf.dyn.ctx, family, addr);
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	return (family == 4 && addr[0] == 127) ||
	       (family == 6 && memcmp(addr, v6_loopback, 16) == 0);
}

/* Lines for names that are not geo-routed. */
static void explain_static(const struct answer_walk *w, const char *name, struct emitter *e)
{
	char line[DNAME_MAXLEN * 8 + 128];
	if (w->referral) {
		snprintf(line, sizeof(line),
			 "%s: delegated (referral); not geo-routed, "
			 "ecs scope /0",
			 name);
	} else if (!w->exact && w->node->wild == NULL)
		snprintf(line, sizeof(line), "%s: does not exist (NXDOMAIN); ecs scope /0", name);
	else
		snprintf(line, sizeof(line),
			 "%s: static records%s; the same for every "
			 "client, ecs scope /0",
			 name, w->exact ? "" : " (from a wildcard)");
	emit_line(e, line);
}

/* explain.geodnsd or geodnsd alone: what can be asked. */
static unsigned usage_answer(const struct query *q, struct pkt *p)
{
	struct emitter e = { .p = p, .owner = q->qname.name };
	emit_line(&e, "<name>.explain.geodnsd CH TXT: how <name> is answered and why "
		      "(add +subnet=NET/LEN to ask for a client network)");
	emit_line(&e, "status.geodnsd CH TXT: health of every service; "
		      "<service>.status.geodnsd: one service");
	return RCODE_NOERROR;
}

/* status.geodnsd, or <service>.status.geodnsd for one service. */
static unsigned status_answer(const struct answer_data *d, const struct query *q, struct pkt *p,
			      uint16_t *flags)
{
	struct emitter e = { .p = p, .owner = q->qname.name };
	char service[64] = "";
	size_t prefix = q->qname.len - sizeof(STATUS);
	if (prefix > 0) {
		const uint8_t *l = q->qname.name;
		if ((size_t)l[0] + 1 != prefix || l[0] >= sizeof(service))
			return RCODE_NXDOMAIN;
		memcpy(service, l + 1, l[0]);
		service[l[0]] = '\0';
	}
	size_t max = p->max;
	p->max = max - NOTE_ROOM;
	if (d->conf.status == NULL)
		emit_line(&e, "no health information");
	else
		d->conf.status(d->conf.status_ctx, prefix > 0 ? service : NULL, emit_line, &e);
	finish_lines(&e, max, flags, "ask <service>.status.geodnsd for one service");
	return RCODE_NOERROR;
}

unsigned explain_answer(const struct answer_data *d, const struct query *q,
			const struct answer_client *client, const struct sockaddr *from,
			struct pkt *p, uint16_t *flags)
{
	if (!allowed(d, from))
		return RCODE_REFUSED;
	if (q->qtype != RRTYPE_TXT && q->qtype != RRTYPE_ANY)
		return RCODE_NOERROR;
	if (ends_with(q, STATUS, sizeof(STATUS)))
		return status_answer(d, q, p, flags);
	if (is_usage(q))
		return usage_answer(q, p);

	/* The name being explained: the query name less the suffix. */
	uint8_t target[DNAME_MAXLEN];
	size_t tlen = q->qname.len - (sizeof(SUFFIX) - 1);
	memcpy(target, q->qname.name, tlen - 1);
	target[tlen - 1] = 0;
	struct dname_split name;
	dname_split(target, &name);
	char str[DNAME_MAXLEN * 4 + 2];
	dname_to_str(target, str, sizeof(str));

	struct emitter e = { .p = p, .owner = q->qname.name };
	char line[DNAME_MAXLEN * 12 + 256]; /* up to three names */
	/* CNAMEs are followed as an A query follows them (names that point
	 * into a geo-routed one are the usual set-up), up to as many hops.
	 * Each line is a TXT record of one RRset, so none may repeat: a loop
	 * ends at the first name seen again. */
	uint8_t seen[EXPLAIN_HOPS + 1][DNAME_MAXLEN];
	for (unsigned hop = 0;; hop++) {
		memcpy(seen[hop], target, dname_len(target));
		struct answer_walk w;
		if (answer_walk(d, &name, RRTYPE_A, &w) == NULL) {
			snprintf(line, sizeof(line),
				 hop == 0 ? "%s: not in any zone served here (REFUSED)"
					  : "%s: not in any zone served here; resolvers follow "
					    "the CNAME elsewhere",
				 str);
			emit_line(&e, line);
			break;
		}
		const struct znode *n = w.exact ? w.node : w.node->wild;
		if (!w.referral && !w.dname && n != NULL && n->dyn != NULL && d->conf.dyn.explain) {
			if (!w.exact) {
				char wild[DNAME_MAXLEN * 4 + 2];
				dname_to_str(n->name, wild, sizeof(wild));
				snprintf(line, sizeof(line), "%s: from the wildcard %s", str, wild);
				emit_line(&e, line);
			}
			d->conf.dyn.explain(d->conf.dyn.ctx, n->dyn, client, emit_line, &e);
			break;
		}
		/* A DNAME or a CNAME leads on: the next name, and how the line
		 * says it (each ends the same three ways). */
		static const char *const dname_end[] = {
			" (RFC 6672); following it",
			", which closes a loop: resolvers give up (SERVFAIL)",
			"; not followed here after 8 redirections (the answer stops there too)",
		};
		static const char *const cname_end[] = {
			"; following it",
			", which closes a CNAME loop: resolvers give up (SERVFAIL)",
			"; not followed here after 8 CNAMEs (the answer stops there too; "
			"resolvers go on)",
		};
		const char *const *ends = cname_end;
		char via[DNAME_MAXLEN * 4 + 64];
		uint8_t next[DNAME_MAXLEN];
		const struct zrrset *dn = w.dname ? znode_rrset(w.node, RRTYPE_DNAME) : NULL;
		const struct zrrset *cname =
			!w.referral && !w.dname && n != NULL ? znode_rrset(n, RRTYPE_CNAME) : NULL;
		if (dn != NULL) {
			/* RFC 6672 2.2: the owner's part of the name is replaced by
			 * the DNAME's target, as the answer does it. */
			char owner[DNAME_MAXLEN * 4 + 2];
			const uint8_t *dt = dn->data + 2;
			size_t keep = dname_len(target) - dname_len(w.node->name);
			dname_to_str(w.node->name, owner, sizeof(owner));
			if (keep + dname_len(dt) > DNAME_MAXLEN) {
				snprintf(line, sizeof(line),
					 "%s: below the DNAME at %s; the substitute would be "
					 "too long (YXDOMAIN)",
					 str, owner);
				emit_line(&e, line);
				break;
			}
			memcpy(next, target, keep);
			memcpy(next + keep, dt, dname_len(dt));
			snprintf(via, sizeof(via), "below the DNAME at %s, so", owner);
			ends = dname_end;
		} else if (cname != NULL) {
			memcpy(next, cname->data + 2, dname_len(cname->data + 2));
			snprintf(via, sizeof(via), "CNAME%s to",
				 w.exact ? "" : " (from a wildcard)");
		} else {
			explain_static(&w, str, &e);
			break;
		}
		char to[DNAME_MAXLEN * 4 + 2];
		dname_to_str(next, to, sizeof(to));
		bool loop = false;
		for (unsigned i = 0; i <= hop && !loop; i++)
			loop = dname_equal(seen[i], next);
		bool last = hop == EXPLAIN_HOPS;
		snprintf(line, sizeof(line), "%s: %s %s%s", str, via, to,
			 ends[loop   ? 1
			      : last ? 2
				     : 0]);
		emit_line(&e, line);
		if (loop || last)
			break;
		memcpy(target, next, dname_len(next));
		dname_split(target, &name);
		memcpy(str, to, sizeof(str));
	}
	if (e.full) {
		*flags |= HDR_TC;
		pkt_clear_records(p);
	}
	return RCODE_NOERROR;
}
