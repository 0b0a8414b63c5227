/* answer.c: RFC 1034 4.3.2 authoritative answers from the zone database. */
#include "config.h"

#include "dns/answer.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/chaos.h"
#include "dns/cookie.h"
#include "dns/explain.h"
#include "dns/packet.h"
#include "dns/query.h"
#include "dns/rrl.h"
#include "dns/rrtype.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"

#define CNAME_CHAIN_MAX 8 /* hops followed before answering as is */
/* RRsets of one answer whose targets' addresses go in the additional
 * section (NS sets: a referral, an NS answer, ANY over TCP at the apex). */
#define ADDL_SETS_MAX 8

/* RFC 8914 Extended DNS Errors, for the errors whose reason a resolver
 * operator cannot guess: why a query was refused, or what was wrong with
 * its ECS or COOKIE option. */
#define EDE_OTHER    0
#define EDE_TEXT_MAX 80

struct ede {
	uint16_t code;
	const char *text; /* EXTRA-TEXT, or NULL */
};

static const struct ede ede_not_authoritative = { 20, NULL };
static const struct ede ede_no_transfers = { 18, "no zone transfers" }; /* Prohibited */
static const struct ede ede_explain_acl = { 18, "source not in explain-acl" };

/* State of one answer as it is built. */
struct ans {
	const struct answer_data *d;
	const struct query *q;
	struct pkt *p;
	enum answer_transport tr;
	struct answer_client client; /* filled by client_of() when first needed */
	bool have_client;
	const struct sockaddr *from;
	struct answer_stats *stats;
	uint8_t scope;         /* widest ECS scope any part of the answer needs */
	const char *geo_dc;    /* datacenter of the last GEO answer, for the log */
	const struct ede *ede; /* why a REFUSED; NULL: not authoritative */
	bool servfail;         /* a dynamic answer's policy asked for it */
	uint32_t zone_hash;    /* apex hash of the first zone (RRL kind) */
	size_t apex_at;        /* where the current zone's apex name stands in the
			     * packet (a suffix of the question), 0: unknown */
	uint16_t flags;
	bool truncated;
	unsigned n_addl;
	const struct zrrset *addl[ADDL_SETS_MAX];
	/* RDATA (RDLENGTH, name) of the CNAMEs synthesized from DNAMEs, one
	 * per hop: the packet's compression table points into them until
	 * the answer is finished. */
	uint8_t synth[CNAME_CHAIN_MAX + 1][2 + DNAME_MAXLEN];
};

static void truncate_answer(struct ans *a)
{
	/* RFC 2181 9: the client retries over TCP, so send nothing partial. */
	a->truncated = true;
	a->flags |= HDR_TC;
	pkt_clear_records(a->p);
}

static void put_set_masked(struct ans *a, enum pkt_section sec, const uint8_t *owner,
			   const struct zrrset *s, uint32_t ttl, uint64_t mask)
{
	if (a->truncated)
		return;
	if (pkt_put_rrset_masked(a->p, sec, owner, RRCLASS_IN, s, ttl, mask) < 0) {
		truncate_answer(a);
		return;
	}
	if (s->n_addl == 0)
		return;
	if (a->n_addl < ADDL_SETS_MAX)
		a->addl[a->n_addl++] = s;
	else if (s->n_required > 0)
		truncate_answer(a); /* RFC 9471 3: all the glue, or TC */
}

static void put_set(struct ans *a, enum pkt_section sec, const uint8_t *owner,
		    const struct zrrset *s, uint32_t ttl)
{
	put_set_masked(a, sec, owner, s, ttl, ~UINT64_C(0));
}

/* Whether node n is a target of a set queued before the k-th (sets of
 * one answer can share targets: ANY over TCP with NS and MX at ns1). */
static bool addl_seen(const struct ans *a, unsigned k, const struct znode *n)
{
	for (unsigned j = 0; j < k; j++)
		for (unsigned i = 0; i < a->addl[j]->n_addl; i++)
			if (a->addl[j]->addl[i] == n)
				return true;
	return false;
}

static void put_additional(struct ans *a)
{
	static const uint16_t types[2] = { RRTYPE_A, RRTYPE_AAAA };
	for (unsigned k = 0; k < a->n_addl && !a->truncated; k++) {
		const struct zrrset *set = a->addl[k];
		for (unsigned i = 0; i < set->n_addl; i++) {
			const struct znode *n = set->addl[i];
			if (k > 0 && addl_seen(a, k, n))
				continue; /* RFC 2181 5: once */
			for (unsigned t = 0; t < 2; t++) {
				const struct zrrset *s = znode_rrset(n, types[t]);
				if (s == NULL || pkt_put_rrset(a->p, PKT_ADDITIONAL, n->name,
							       RRCLASS_IN, s, s->ttl) == 0)
					continue;
				if (i < set->n_required) {
					/* RFC 9471 3: in-domain glue that does
					 * not fit means the referral must be
					 * retried over TCP. */
					truncate_answer(a);
					return;
				}
			}
		}
	}
}

static void put_soa(struct ans *a, const struct zone *z)
{
	/* A QCLASS * negative answer is not authoritative (see resolve), so
	 * it carries no SOA to cache it by (RFC 2308 5), as NSD's. */
	if (a->q->qclass == RRCLASS_ANY)
		return;
	if (a->apex_at != 0 && z->soa_rel && !a->truncated) {
		/* No search: the apex is a suffix of the question name. */
		if (pkt_put_soa_rel(a->p, PKT_AUTHORITY, a->apex_at, z->soa, z->neg_ttl,
				    z->soa_mname_pre, z->soa_rname_pre) < 0)
			truncate_answer(a);
		return;
	}
	put_set(a, PKT_AUTHORITY, z->apex->name, z->soa, z->neg_ttl);
}

/* Descend from the apex towards the name, stopping at the first cut.
 * Nothing exists below a DNAME (the loader refuses it), so a name below
 * one stops at the DNAME's node: not exact, and flagged ZNODE_DNAME. */
static void zone_walk(const struct zone *z, const struct dname_split *n, unsigned apex_label,
		      uint16_t qtype, struct answer_walk *w)
{
	const struct znode *node = z->apex;
	w->referral = false;
	for (unsigned i = apex_label; i-- > 0;) {
		const struct znode *c = zone_lookup_suffix(z, n, i);
		if (c == NULL)
			break;
		node = c;
		/* RFC 4035 3.1.4.1 analogue: DS at a cut lives in the parent. */
		if ((c->flags & ZNODE_CUT) && !(i == 0 && qtype == RRTYPE_DS)) {
			w->referral = true;
			break;
		}
	}
	w->node = node;
	w->exact = node->labels == n->labels;
}

/*
 * RFC 6672 3.1: a name below the DNAME at node d: the DNAME goes in the
 * answer, then a CNAME from the name to its substitute (the labels above
 * d's owner, followed by the DNAME's target), with the DNAME's TTL.  The
 * substitute is written to out (DNAME_MAXLEN octets) and returned, to be
 * followed like a CNAME target; NULL when it would exceed 255 octets
 * (the rcode is then YXDOMAIN, RFC 6672 2.2).
 */
static __attribute__((noinline, cold)) const uint8_t *answer_dname(struct ans *a,
								   const struct znode *d,
								   const uint8_t *owner,
								   uint8_t *rdata)
{
	const struct zrrset *dn = znode_rrset(d, RRTYPE_DNAME);
	put_set(a, PKT_ANSWER, d->name, dn, dn->ttl);
	size_t prefix = dname_len(owner) - d->name_len;
	const uint8_t *target = dn->data + 2;
	size_t tlen = dname_len(target);
	if (prefix + tlen > DNAME_MAXLEN)
		return NULL;
	rdata[0] = (uint8_t)((prefix + tlen) >> 8);
	rdata[1] = (uint8_t)(prefix + tlen);
	memcpy(rdata + 2, owner, prefix);
	memcpy(rdata + 2 + prefix, target, tlen);
	struct zrrset cname = { .type = RRTYPE_CNAME,
				.count = 1,
				.ttl = dn->ttl,
				.data = rdata,
				.data_len = (uint32_t)(2 + prefix + tlen) };
	put_set(a, PKT_ANSWER, owner, &cname, dn->ttl);
	/* A question for the CNAME itself ends with it (as NSD does);
	 * any other, ANY too, goes on at the substitute (RFC 6672 3.2). */
	return a->q->qtype == RRTYPE_CNAME ? NULL : rdata + 2;
}

static void referral(struct ans *a, const struct znode *cut, unsigned hop)
{
	/* AA speaks for the first owner name (RFC 1035 4.1.1): a referral
	 * reached through our own CNAME keeps it. */
	if (hop == 0)
		a->flags &= (uint16_t)~HDR_AA;
	put_set(a, PKT_AUTHORITY, cut->name, znode_rrset(cut, RRTYPE_NS),
		znode_rrset(cut, RRTYPE_NS)->ttl);
}

/* RFC 8482 4.2: over UDP an ANY query gets one RRset; TCP gets them all. */
static void answer_any(struct ans *a, const struct znode *n, const uint8_t *owner)
{
	unsigned count = a->tr == ANSWER_TCP ? n->n_rrsets : 1;
	for (unsigned i = 0; i < count; i++)
		put_set(a, PKT_ANSWER, owner, &n->rrsets[i], n->rrsets[i].ttl);
}

static const struct answer_client *client_of(struct ans *a);

/* A and AAAA of a GEO name: chosen for this client by the dyn hooks. */
static void answer_dyn(struct ans *a, const struct zone *z, const struct znode *n,
		       const uint8_t *owner, uint16_t qtype)
{
	const struct answer_dyn *h = &a->d->conf.dyn;
	struct dyn_answer out;
	h->answer(h->ctx, n->dyn, qtype, client_of(a), &out);
	if (out.scope > a->scope)
		a->scope = out.scope;
	a->geo_dc = out.dc_name;
	if (a->stats != NULL && out.service >= 0 && out.dc >= 0 &&
	    out.service < ANSWER_STATS_SERVICES && out.dc < ANSWER_STATS_DCS)
		a->stats->geo[out.service][out.dc]++;
	if (out.rcode == RCODE_SERVFAIL)
		a->servfail = true;
	else if (out.set != NULL)
		put_set_masked(a, PKT_ANSWER, owner, out.set, out.ttl, out.mask);
	else
		put_soa(a, z);
}

/*
 * Answer from node n (the name itself, or the wildcard that covers it) for
 * owner.  Returns the CNAME target to follow, or NULL when done.
 */
static const uint8_t *answer_node(struct ans *a, const struct zone *z, const struct znode *n,
				  const uint8_t *owner)
{
	uint16_t qtype = a->q->qtype;
	if (n->dyn != NULL && (qtype == RRTYPE_A || qtype == RRTYPE_AAAA ||
			       (qtype == RRTYPE_ANY && n->n_rrsets == 0))) {
		answer_dyn(a, z, n, owner, qtype == RRTYPE_AAAA ? RRTYPE_AAAA : RRTYPE_A);
		return NULL;
	}
	if (qtype == RRTYPE_ANY && n->n_rrsets > 0) {
		answer_any(a, n, owner);
		return NULL;
	}
	const struct zrrset *s = znode_rrset(n, qtype);
	if (s != NULL) {
		put_set(a, PKT_ANSWER, owner, s, s->ttl);
		return NULL;
	}
	const struct zrrset *cname = znode_rrset(n, RRTYPE_CNAME);
	if (cname != NULL) {
		put_set(a, PKT_ANSWER, owner, cname, cname->ttl);
		return cname->data + 2;
	}
	put_soa(a, z); /* NODATA (RFC 2308 2.2) */
	return NULL;
}

/* The zone to answer name from.  DS at a zone's apex belongs to the parent
 * side of the cut (RFC 4035 3.1.4.1), so when we serve the parent too it
 * answers. */
static const struct zone *find_zone(const struct answer_data *d, const struct dname_split *name,
				    uint16_t qtype, unsigned *apex_label)
{
	const struct zone *z = zonedb_find(d->zones, name, 0, apex_label);
	if (z != NULL && qtype == RRTYPE_DS && *apex_label == 0 && name->labels > 0) {
		unsigned parent_label;
		const struct zone *p = zonedb_find(d->zones, name, 1, &parent_label);
		if (p != NULL) {
			*apex_label = parent_label;
			return p;
		}
	}
	return z;
}

const struct zone *answer_walk(const struct answer_data *d, const struct dname_split *name,
			       uint16_t qtype, struct answer_walk *w)
{
	unsigned apex_label;
	const struct zone *z = find_zone(d, name, qtype, &apex_label);
	if (z != NULL) {
		zone_walk(z, name, apex_label, qtype, w);
		w->dname = !w->exact && !w->referral && (w->node->flags & ZNODE_DNAME);
	}
	return z;
}

static bool seen_before(const uint8_t *const *seen, unsigned n, const uint8_t *name)
{
	for (unsigned i = 0; i < n; i++)
		if (dname_equal(seen[i], name))
			return true;
	return false;
}

/* Answer an IN query, following CNAMEs through the zones we serve. */
static unsigned answer_in(struct ans *a)
{
	struct dname_split target;
	const struct dname_split *name = &a->q->qname;
	const uint8_t *owner = a->q->qname.name;
	const uint8_t *seen[CNAME_CHAIN_MAX + 1];
	unsigned apex_label;

	for (unsigned hop = 0; hop <= CNAME_CHAIN_MAX && !a->truncated; hop++) {
		const struct zone *z = find_zone(a->d, name, a->q->qtype, &apex_label);
		if (z == NULL)
			return hop == 0 ? RCODE_REFUSED : RCODE_NOERROR;
		if (hop == 0) {
			a->flags |= HDR_AA;
			a->zone_hash = z->apex->hash;
			a->apex_at = DNS_HEADER_SIZE + (size_t)name->label[apex_label];
		} else {
			a->apex_at = 0; /* the name is a CNAME target */
		}

		struct answer_walk w;
		zone_walk(z, name, apex_label, a->q->qtype, &w);
		const uint8_t *next;
		if (w.referral) {
			referral(a, w.node, hop);
			return RCODE_NOERROR;
		} else if (w.exact) {
			next = answer_node(a, z, w.node, owner);
		} else if (w.node->flags & ZNODE_DNAME) {
			/* Below a DNAME (RFC 6672 3.2: before any wildcard). */
			size_t n0 = a->p->count[PKT_ANSWER];
			next = answer_dname(a, w.node, owner, a->synth[hop]);
			if (next == NULL && a->p->count[PKT_ANSWER] == n0 + 1 && !a->truncated)
				return RCODE_YXDOMAIN; /* the DNAME alone: no room */
		} else if (w.node->wild != NULL) {
			/* RFC 4592 3.3.1: the closest encloser's wildcard. */
			next = answer_node(a, z, w.node->wild, owner);
		} else {
			put_soa(a, z);
			return RCODE_NXDOMAIN; /* RFC 6604: of the last name */
		}
		/* A loop ends once every CNAME in it has been given. */
		seen[hop] = owner;
		if (next == NULL || seen_before(seen, hop + 1, next))
			return RCODE_NOERROR;
		dname_split(next, &target);
		name = &target;
		owner = next;
	}
	return RCODE_NOERROR;
}

static unsigned resolve(struct ans *a)
{
	const struct query *q = a->q;
	if (q->qclass == RRCLASS_CH) {
		if (explain_match(q)) {
			unsigned rc =
				explain_answer(a->d, q, client_of(a), a->from, a->p, &a->flags);
			if (rc == RCODE_REFUSED)
				a->ede = &ede_explain_acl;
			return rc;
		}
		return chaos_answer(&a->d->conf, q, a->p, &a->flags);
	}
	if (q->qclass != RRCLASS_IN && q->qclass != RRCLASS_ANY)
		return RCODE_REFUSED;
	switch (q->qtype) {
	case RRTYPE_AXFR:
	case RRTYPE_IXFR:
		a->ede = &ede_no_transfers;
		return RCODE_REFUSED; /* no zone transfers are offered */
	case RRTYPE_OPT:
		return RCODE_FORMERR; /* a meta type, not a question */
	default:
		break;
	}
	unsigned rcode = answer_in(a);
	if (a->servfail) {
		/* Every datacenter is down and the service's policy is to say
		 * so rather than hand out a dead address. */
		pkt_clear_records(a->p);
		a->flags &= (uint16_t)~HDR_AA;
		return RCODE_SERVFAIL;
	}
	/* QCLASS * is answered from the IN data, but without AA: other
	 * classes are not ours to speak for (RFC 1035 6.2; NSD does the
	 * same). */
	if (q->qclass == RRCLASS_ANY)
		a->flags &= (uint16_t)~HDR_AA;
	put_additional(a);
	return rcode;
}

static size_t udp_limit(const struct answer_data *d, const struct query *q)
{
	if (!q->edns)
		return DNS_UDP_MIN;
	size_t size = q->edns_udp_size < DNS_UDP_MIN ? DNS_UDP_MIN : q->edns_udp_size;
	size_t max = d->conf.udp_max_payload < DNS_UDP_MIN ? DNS_UDP_MIN : d->conf.udp_max_payload;
	return size < max ? size : max;
}

/* The source address as octets, for cookies and RRL. */
static int source_addr(const struct sockaddr *from, const uint8_t **addr)
{
	if (from != NULL && from->sa_family == AF_INET) {
		*addr = (const uint8_t *)&((const struct sockaddr_in *)from)->sin_addr;
		return 4;
	}
	if (from != NULL && from->sa_family == AF_INET6) {
		*addr = (const uint8_t *)&((const struct sockaddr_in6 *)from)->sin6_addr;
		return 6;
	}
	return 0;
}

static uint16_t put_ede(uint8_t *e, uint16_t code, const char *text)
{
	size_t n = text != NULL ? strnlen(text, EDE_TEXT_MAX) : 0;
	e[0] = 0;
	e[1] = EDNS_OPT_EDE;
	e[2] = 0;
	e[3] = (uint8_t)(2 + n);
	e[4] = (uint8_t)(code >> 8);
	e[5] = (uint8_t)code;
	if (n > 0)
		memcpy(e + 6, text, n);
	return (uint16_t)(6 + n);
}

static void put_opt(const struct ans *a, unsigned rcode)
{
	const struct answer_data *d = a->d;
	const struct query *q = a->q;
	uint8_t rdata[4 + 256 + 4 + 20 + 4 + 24 + 6 + 6 + EDE_TEXT_MAX];
	uint16_t rdlen = 0;
	if (q->nsid && d->conf.nsid != NULL && d->conf.nsid_len <= 256) {
		rdata[0] = 0;
		rdata[1] = EDNS_OPT_NSID;
		rdata[2] = (uint8_t)(d->conf.nsid_len >> 8);
		rdata[3] = (uint8_t)d->conf.nsid_len;
		memcpy(rdata + 4, d->conf.nsid, d->conf.nsid_len);
		rdlen = (uint16_t)(4 + d->conf.nsid_len);
	}
	if (q->ecs) {
		/* RFC 7871 7.2.1: echo FAMILY, SOURCE and ADDRESS; SCOPE says
		 * how far the answer may be reused. */
		uint8_t *e = rdata + rdlen;
		e[0] = 0;
		e[1] = EDNS_OPT_ECS;
		e[2] = 0;
		e[3] = (uint8_t)(4 + q->ecs_addr_len);
		e[4] = (uint8_t)(q->ecs_family >> 8);
		e[5] = (uint8_t)q->ecs_family;
		e[6] = q->ecs_source;
		e[7] = a->scope;
		memcpy(e + 8, q->ecs_addr, sizeof(q->ecs_addr)); /* the rest is room */
		rdlen = (uint16_t)(rdlen + 8 + q->ecs_addr_len);
	}
	const uint8_t *addr;
	int family = source_addr(a->from, &addr);
	if (q->cookie && d->conf.cookies && family != 0) {
		/* RFC 7873 5.2: echo the client cookie with a fresh server one. */
		uint8_t *c = rdata + rdlen;
		c[0] = 0;
		c[1] = EDNS_OPT_COOKIE;
		c[2] = 0;
		c[3] = COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN;
		memcpy(c + 4, q->cookie_client, COOKIE_CLIENT_LEN);
		cookie_make(q->cookie_client, addr, family == 4 ? 4 : 16, (uint32_t)time(NULL),
			    c + 4 + COOKIE_CLIENT_LEN);
		rdlen = (uint16_t)(rdlen + 4 + COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN);
	}
	if (q->keepalive != KEEPALIVE_NONE && a->tr == ANSWER_TCP) {
		/* RFC 7828 3.2.2: the idle timeout of this connection.  Never
		 * over UDP, where the option is ignored. */
		uint8_t *k = rdata + rdlen;
		k[0] = 0;
		k[1] = EDNS_OPT_KEEPALIVE;
		k[2] = 0;
		k[3] = 2;
		k[4] = (uint8_t)(d->conf.tcp_keepalive >> 8);
		k[5] = (uint8_t)d->conf.tcp_keepalive;
		rdlen = (uint16_t)(rdlen + 6);
	}
	if (rcode == RCODE_REFUSED) {
		const struct ede *e = a->ede != NULL ? a->ede : &ede_not_authoritative;
		rdlen = (uint16_t)(rdlen + put_ede(rdata + rdlen, e->code, e->text));
	} else if (rcode == RCODE_FORMERR && q->why != NULL)
		rdlen = (uint16_t)(rdlen + put_ede(rdata + rdlen, EDE_OTHER, q->why));
	/* RFC 6891 6.1.3: TTL = extended rcode, version 0, flags; RFC 3225 3:
	 * the DO bit is copied from the query. */
	uint32_t ttl = (uint32_t)(rcode >> 4) << 24 | (q->edns_flags & EDNS_DO);
	pkt_put_opt(a->p, d->conf.udp_max_payload, ttl, rdata, rdlen);
}

/* The client as RFC 7871 defines it: the ECS subnet, or the source. */
static void find_client(const struct query *q, const struct sockaddr *from, struct answer_client *c)
{
	memset(c, 0, sizeof(*c));
	if (q->ecs) {
		c->family = q->ecs_family == 1 ? 4 : 6;
		c->prefix = q->ecs_source;
		c->ecs = true;
		memcpy(c->addr, q->ecs_addr, sizeof(c->addr));
	} else if (from != NULL && from->sa_family == AF_INET) {
		c->family = 4;
		c->prefix = 32;
		memcpy(c->addr, &((const struct sockaddr_in *)from)->sin_addr, 4);
	} else if (from != NULL && from->sa_family == AF_INET6) {
		c->family = 6;
		c->prefix = 128;
		memcpy(c->addr, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
	}
}

/* The client, worked out on first use: most answers never ask. */
static const struct answer_client *client_of(struct ans *a)
{
	if (!a->have_client) {
		find_client(a->q, a->from, &a->client);
		a->have_client = true;
	}
	return &a->client;
}

/*
 * Response rate limiting: buckets per client prefix and kind of answer
 * (the name and type, or the zone for NXDOMAIN and errors, as BIND's RRL).
 * A query that returns our valid server cookie cannot be spoofed, so it is
 * never limited (RFC 7873 5.3).  Returns true when the response is dropped;
 * a slipped one is cleared to a bare TC answer.
 */
static bool rate_limited(struct ans *a, const struct query *q, unsigned rcode,
			 const struct sockaddr *from, struct answer_stats *st)
{
	const uint8_t *addr;
	int family = source_addr(from, &addr);
	if (family == 0)
		return false;
	if (q->cookie && q->cookie_server_len > 0 &&
	    cookie_valid(q->cookie_client, q->cookie_server, q->cookie_server_len, addr,
			 family == 4 ? 4 : 16, (uint32_t)time(NULL))) {
		if (st != NULL)
			st->cookies_valid++;
		return false;
	}
	uint64_t kind = (uint64_t)rcode << 48 | q->qtype;
	kind = kind * 0x100000001b3ULL ^
	       (rcode == RCODE_NOERROR && q->have_question ? q->qname.hash[0] : a->zone_hash);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	switch (rrl_account(a->d->conf.rrl, family, addr, kind, now_ms)) {
	case RRL_DROP:
		if (st != NULL)
			st->rrl_dropped++;
		return true;
	case RRL_SLIP:
		if (st != NULL)
			st->rrl_slipped++;
		pkt_clear_records(a->p);
		a->flags |= HDR_TC;
		return false;
	default:
		return false;
	}
}

static void count(struct answer_stats *st, const struct query *q, unsigned rcode, uint16_t flags,
		  enum answer_transport tr)
{
	st->rcode[rcode < 24 ? rcode : 23]++;
	if (q->have_question) {
		if (q->qtype < 256)
			st->qtype[q->qtype]++;
		else
			st->qtype_other++;
	}
	st->truncated += (flags & HDR_TC) != 0;
	st->tcp += tr == ANSWER_TCP;
	st->ecs += q->ecs;
}

static void log_answer(struct ans *a, unsigned rcode, size_t len)
{
	const struct query *q = a->q;
	struct answer_log_entry e = { .from = a->from,
				      .qname = q->have_question ? q->qname.name : NULL,
				      .qtype = q->qtype,
				      .qclass = q->qclass,
				      .rcode = rcode,
				      .flags = a->flags,
				      .tr = a->tr,
				      .client = client_of(a),
				      .scope = a->scope,
				      .len = len,
				      .dc = a->geo_dc };
	if (a->d->conf.log_query != NULL)
		a->d->conf.log_query(&e);
}

/*
 * A query with no question, only a COOKIE option (RFC 7873 5.4): FORMERR
 * when cookies are off; with cookies on, BADCOOKIE when it sent back a
 * server cookie that is not valid, NOERROR otherwise.  Either way the
 * answer carries a fresh server cookie.
 */
static __attribute__((noinline, cold)) unsigned cookie_only(const struct answer_data *d,
							    const struct query *q,
							    const struct sockaddr *from)
{
	if (!d->conf.cookies)
		return RCODE_FORMERR;
	const uint8_t *addr;
	int family = source_addr(from, &addr);
	if (q->cookie_server_len > 0 && family != 0 &&
	    !cookie_valid(q->cookie_client, q->cookie_server, q->cookie_server_len, addr,
			  family == 4 ? 4 : 16, (uint32_t)time(NULL)))
		return RCODE_BADCOOKIE;
	return RCODE_NOERROR;
}

size_t answer_query(const struct answer_data *d, const uint8_t *query, size_t qlen,
		    const struct sockaddr *from, uint8_t *out, enum answer_transport tr,
		    struct answer_stats *stats)
{
	struct query q;
	int rc = query_parse(query, qlen, &q);
	if (rc == QUERY_DROP) {
		if (stats != NULL)
			stats->dropped++;
		return 0;
	}

	size_t limit = tr == ANSWER_TCP ? ANSWER_BUF_SIZE : udp_limit(d, &q);
	size_t opt_len = 0;
	if (q.edns)
		opt_len = 11 + (q.nsid && d->conf.nsid ? 4 + d->conf.nsid_len : 0) +
			  (q.ecs ? 8 + q.ecs_addr_len : 0) +
			  (q.cookie && d->conf.cookies ? 4 + 24 : 0) + (q.keepalive ? 6 : 0);
	if (__builtin_expect(q.cookie_why != NULL, 0) && d->conf.cookies &&
	    (rc == RCODE_NOERROR || rc == RCODE_FORMERR)) {
		rc = RCODE_FORMERR; /* RFC 7873 5.2.2 */
		q.why = q.cookie_why;
	}
	if (__builtin_expect(q.keepalive == KEEPALIVE_VALUE, 0) && tr == ANSWER_TCP &&
	    rc == RCODE_NOERROR) {
		/* RFC 7828 3.2.1: a query carries no TIMEOUT; only a server
		 * sends one.  Over UDP the option is ignored (3.2.2). */
		rc = RCODE_FORMERR;
		q.why = "edns-tcp-keepalive option with a TIMEOUT in a query (RFC 7828 3.2.1)";
	}

	struct pkt p;
	/* Field by field: a designated initializer would zero addl[] too,
	 * and only its first n_addl entries are ever read. */
	struct ans a;
	a.d = d;
	a.q = &q;
	a.p = &p;
	a.tr = tr;
	a.have_client = false;
	a.from = from;
	a.stats = stats;
	a.scope = 0;
	a.geo_dc = NULL;
	a.ede = NULL;
	a.servfail = false;
	a.zone_hash = 0;
	a.apex_at = 0;
	a.flags = 0;
	a.truncated = false;
	a.n_addl = 0;
	pkt_start(&p, out, limit - opt_len, query,
		  q.have_question ? q.question_end : DNS_HEADER_SIZE,
		  q.have_question ? q.qname.name : NULL, q.have_question ? q.qname.len : 0);
	unsigned rcode = (unsigned)rc;
	if (rc == RCODE_NOERROR && q.have_question)
		rcode = resolve(&a);
	else if (rc == RCODE_NOERROR)
		rcode = cookie_only(d, &q, from);
	if (tr == ANSWER_UDP && d->conf.rrl != NULL && rate_limited(&a, &q, rcode, from, stats))
		return 0;
	p.max = limit;
	if (q.edns)
		put_opt(&a, rcode);
	pkt_finish(&p, a.flags, rcode & 0xF);
	if (stats != NULL)
		count(stats, &q, rcode, a.flags, tr);
	/* The query log's whole cost while off: one relaxed load. */
	if (atomic_load_explicit(&d->conf.log_queries, memory_order_relaxed))
		log_answer(&a, rcode, p.len);
	return p.len;
}
