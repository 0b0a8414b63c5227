/* querylog.c: one log line per answered query, switched on and off at run time. */
#include "config.h"

#include "daemon/querylog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>

#include "dns/answer.h"
#include "dns/dname.h"
#include "dns/log.h"
#include "dns/rrtype.h"

static const char *type_name(uint16_t t, char *buf, size_t size)
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = {
		{ RRTYPE_A, "A" },
		{ RRTYPE_NS, "NS" },
		{ RRTYPE_CNAME, "CNAME" },
		{ RRTYPE_SOA, "SOA" },
		{ RRTYPE_PTR, "PTR" },
		{ RRTYPE_MX, "MX" },
		{ RRTYPE_TXT, "TXT" },
		{ RRTYPE_AAAA, "AAAA" },
		{ RRTYPE_SRV, "SRV" },
		{ RRTYPE_DNAME, "DNAME" },
		{ RRTYPE_DS, "DS" },
		{ RRTYPE_RRSIG, "RRSIG" },
		{ RRTYPE_NSEC, "NSEC" },
		{ RRTYPE_NSEC3, "NSEC3" },
		{ RRTYPE_IXFR, "IXFR" },
		{ RRTYPE_AXFR, "AXFR" },
		{ RRTYPE_ANY, "ANY" },
		{ 35, "NAPTR" },
		{ 52, "TLSA" },
		{ 64, "SVCB" },
		{ 65, "HTTPS" },
		{ 257, "CAA" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == t)
			return names[i].name;
	snprintf(buf, size, "TYPE%u", (unsigned)t); /* RFC 3597 5 */
	return buf;
}

static const char *class_name(uint16_t c, char *buf, size_t size)
{
	if (c == RRCLASS_IN)
		return "IN";
	if (c == RRCLASS_CH)
		return "CH";
	if (c == RRCLASS_ANY)
		return "ANY";
	snprintf(buf, size, "CLASS%u", (unsigned)c);
	return buf;
}

static const char *rcode_name(unsigned rcode, char *buf, size_t size)
{
	static const char *const names[] = { "NOERROR",  "FORMERR", "SERVFAIL",
					     "NXDOMAIN", "NOTIMP",  "REFUSED" };
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	if (rcode == RCODE_BADVERS)
		return "BADVERS";
	snprintf(buf, size, "RCODE%u", rcode);
	return buf;
}

/* BIND's "address#port", which stays unambiguous for IPv6. */
static void source_text(const struct sockaddr *sa, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		port = ntohs(in->sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		port = ntohs(in6->sin6_port);
	} else {
		snprintf(buf, size, "-");
		return;
	}
	snprintf(buf, size, "%s#%u", addr, port);
}

static void ecs_text(const struct answer_log_entry *e, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	const struct answer_client *c = e->client;
	buf[0] = '\0';
	if (c == NULL || !c->ecs)
		return;
	if (inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, addr, sizeof(addr)) == NULL)
		return;
	snprintf(buf, size, " ecs %s/%u scope %u", addr, (unsigned)c->prefix, (unsigned)e->scope);
}

/* Runs on any answering thread: everything is on the stack, and log_msg
 * writes the line whole. */
static void querylog_write(const struct answer_log_entry *e)
{
	char src[INET6_ADDRSTRLEN + 8], name[DNAME_MAXLEN * 4 + 1], ecs[80];
	char tbuf[16], cbuf[16], rbuf[16];
	const char *type = "-", *class = "-";
	if (e->qname != NULL) {
		dname_to_str(e->qname, name, sizeof(name));
		type = type_name(e->qtype, tbuf, sizeof(tbuf));
		class = class_name(e->qclass, cbuf, sizeof(cbuf));
	} else {
		snprintf(name, sizeof(name), "-");
	}
	source_text(e->from, src, sizeof(src));
	ecs_text(e, ecs, sizeof(ecs));
	const char *flags = (e->flags & HDR_AA) && (e->flags & HDR_TC) ? "aa,tc"
			    : (e->flags & HDR_AA)                      ? "aa"
			    : (e->flags & HDR_TC)                      ? "tc"
								       : "-";
	log_msg(LOG_LEVEL_INFO, "query: %s %s %s %s %s %s %s %zu%s%s%s", src,
		e->tr == ANSWER_TCP ? "tcp" : "udp", name, class, type,
		rcode_name(e->rcode, rbuf, sizeof(rbuf)), flags, e->len, ecs,
		e->dc != NULL ? " dc " : "", e->dc != NULL ? e->dc : "");
}

void querylog_attach(struct answer_conf *c, bool on)
{
	c->log_query = querylog_write;
	atomic_store_explicit(&c->log_queries, on, memory_order_relaxed);
}

void querylog_switch(struct answer_conf *c, bool on)
{
	atomic_store_explicit(&c->log_queries, on, memory_order_relaxed);
}
