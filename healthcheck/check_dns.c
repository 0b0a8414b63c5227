/* check_dns.c: a DNS probe: one UDP query, up on the wanted rcode (and answers). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/event.h>
#include <event2/util.h>

#include "healthcheck/probe.h"

#define DNS_HDR_LEN   12
#define DNS_MAX_NAME  255
#define DNS_MAX_LABEL 63
#define DNS_TYPE_A    1
#define DNS_CLASS_IN  1
/* RFC 1035 section 4.2.1: without EDNS a UDP message is at most 512 bytes;
 * read more anyway so an oversized answer is still judged, not truncated. */
#define DNS_RECV_MAX 4096

/* RFC 1035 section 4.1.1 header flags. */
#define DNS_FLAG_QR     0x8000
#define DNS_FLAG_RD     0x0100
#define DNS_OPCODE_MASK 0x7800
#define DNS_RCODE_MASK  0x000f

struct dns_run {
	struct hc_probe *p;
	evutil_socket_t fd;
	struct event *ev;
	uint16_t id;
	unsigned ignored; /* replies that were not to this query */
	size_t qlen;      /* query length; the question is [12, qlen) */
	uint8_t query[DNS_HDR_LEN + DNS_MAX_NAME + 4];
};

static const char *dns_rcode_name(unsigned rcode, char *buf, size_t len)
{
	static const char *const names[] = {
		"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
	};
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

static uint16_t dns_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void dns_put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* Presentation name to wire labels (RFC 1035 section 3.1); the trailing dot
 * is optional.  Returns the wire length, or 0 when the name is invalid. */
static size_t dns_name_to_wire(const char *name, uint8_t *out)
{
	size_t o = 0;
	const char *s = name;

	if (strcmp(name, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (n == 0 || n > DNS_MAX_LABEL || o + 1 + n + 1 > DNS_MAX_NAME)
			return 0;
		out[o++] = (uint8_t)n;
		memcpy(out + o, s, n);
		o += n;
		s += n;
		if (*s == '.')
			s++;
	}
	if (o == 0)
		return 0;
	out[o++] = 0;
	return o;
}

static int dns_build_query(struct dns_run *run)
{
	const struct hc_params *hp = run->p->params;
	uint8_t *q = run->query;
	size_t n = dns_name_to_wire(hp->dns_name, q + DNS_HDR_LEN);
	if (n == 0)
		return -1;
	evutil_secure_rng_get_bytes(&run->id, sizeof(run->id));
	memset(q, 0, DNS_HDR_LEN);
	dns_put16(q, run->id);
	/* RD set: authoritative servers ignore it, resolvers need it. */
	dns_put16(q + 2, DNS_FLAG_RD);
	dns_put16(q + 4, 1);
	dns_put16(q + DNS_HDR_LEN + n, hp->dns_type ? hp->dns_type : DNS_TYPE_A);
	dns_put16(q + DNS_HDR_LEN + n + 2, DNS_CLASS_IN);
	run->qlen = DNS_HDR_LEN + n + 4;
	return 0;
}

/* Same question as ours: name compared case-insensitively (RFC 4343). */
static bool dns_question_matches(const struct dns_run *run, const uint8_t *r, size_t len)
{
	size_t qlen = run->qlen - DNS_HDR_LEN;
	const uint8_t *q = run->query + DNS_HDR_LEN;
	if (dns_get16(r + 4) != 1 || len < DNS_HDR_LEN + qlen)
		return false;
	r += DNS_HDR_LEN;
	for (size_t i = 0; i < qlen; i++) {
		uint8_t a = q[i], b = r[i];
		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b + 32);
		if (a != b)
			return false;
	}
	return true;
}

static void dns_run_free(struct dns_run *run)
{
	if (run->ev != NULL)
		event_free(run->ev);
	if (run->fd >= 0)
		evutil_closesocket(run->fd);
	free(run);
}

/* The single completion path. */
static void dns_finish(struct dns_run *run, bool ok, const char *reason)
{
	struct hc_probe *p = run->p;
	dns_run_free(run);
	p->kind_state = NULL;
	p->done(p, ok, reason);
}

/* Judge a response whose ID is ours. */
static void dns_judge(struct dns_run *run, const uint8_t *r, size_t len)
{
	const struct hc_params *hp = run->p->params;
	char reason[128], b1[16], b2[16];
	uint16_t flags = dns_get16(r + 2);
	unsigned rcode = flags & DNS_RCODE_MASK;
	unsigned want = (unsigned)hp->dns_rcode;
	unsigned ancount = dns_get16(r + 6);

	if (!(flags & DNS_FLAG_QR) || (flags & DNS_OPCODE_MASK) != 0) {
		dns_finish(run, false, "malformed response");
		return;
	}
	/* Servers may drop the question on FORMERR/NOTIMP; report the rcode. */
	if (rcode != want && dns_get16(r + 4) == 0)
		goto bad_rcode;
	if (!dns_question_matches(run, r, len)) {
		dns_finish(run, false, "response question mismatch");
		return;
	}
	if (rcode != want)
		goto bad_rcode;
	if (hp->dns_want_answer && ancount == 0) {
		dns_finish(run, false, "no answer records");
		return;
	}
	snprintf(reason, sizeof(reason), "rcode %s, %u answer%s",
		 dns_rcode_name(rcode, b1, sizeof(b1)), ancount, ancount == 1 ? "" : "s");
	dns_finish(run, true, reason);
	return;
bad_rcode:
	snprintf(reason, sizeof(reason), "rcode %s (want %s)",
		 dns_rcode_name(rcode, b1, sizeof(b1)), dns_rcode_name(want, b2, sizeof(b2)));
	dns_finish(run, false, reason);
}

static void dns_recv_error(struct dns_run *run, int err)
{
	char reason[128];
	/* On a connected UDP socket an ICMP error arrives as the recv error. */
	if (err == ECONNREFUSED)
		snprintf(reason, sizeof(reason), "ICMP unreachable");
	else if (err == EHOSTUNREACH || err == ENETUNREACH)
		snprintf(reason, sizeof(reason), "ICMP unreachable: %s", strerror(err));
	else
		snprintf(reason, sizeof(reason), "receive failed: %s", strerror(err));
	dns_finish(run, false, reason);
}

static void dns_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_run *run = arg;
	uint8_t buf[DNS_RECV_MAX];
	(void)what;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			if (err != EAGAIN && err != EWOULDBLOCK)
				dns_recv_error(run, err);
			return;
		}
		/* Not ours (a late answer to an old query, or spoofed): keep
		 * waiting, as a resolver would (RFC 5452 section 9.1). */
		if (n < 2 || dns_get16(buf) != run->id) {
			run->ignored++;
			continue;
		}
		if (n < DNS_HDR_LEN)
			dns_finish(run, false, "malformed response");
		else
			dns_judge(run, buf, (size_t)n);
		return;
	}
}

static int dns_open(struct dns_run *run, char *reason, size_t len)
{
	struct hc_probe *p = run->p;
	run->fd = socket(p->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (run->fd < 0) {
		snprintf(reason, len, "cannot create socket: %s", strerror(errno));
		return -1;
	}
	/* Connected: only the probed address can answer, and ICMP errors are
	 * reported on this socket. */
	if (connect(run->fd, (struct sockaddr *)&p->addr, p->addr_len) < 0 ||
	    send(run->fd, run->query, run->qlen, 0) < 0) {
		int err = errno;
		snprintf(reason, len, "%s: %s",
			 err == ECONNREFUSED ? "ICMP unreachable" : "send failed", strerror(err));
		return -1;
	}
	run->ev = event_new(p->base, run->fd, EV_READ | EV_PERSIST, dns_read_cb, run);
	if (run->ev == NULL || event_add(run->ev, NULL) < 0) {
		snprintf(reason, len, "cannot watch socket");
		return -1;
	}
	return 0;
}

static int dns_start(struct hc_probe *p)
{
	char reason[160];
	const char *name = p->params->dns_name;
	struct dns_run *run = calloc(1, sizeof(*run));

	if (run == NULL) {
		p->done(p, false, "out of memory");
		return -1;
	}
	run->p = p;
	run->fd = -1;
	if (name == NULL || dns_build_query(run) < 0) {
		snprintf(reason, sizeof(reason), "invalid query name '%.100s'", name ? name : "");
		goto fail;
	}
	if (dns_open(run, reason, sizeof(reason)) < 0)
		goto fail;
	p->kind_state = run;
	return 0;
fail:
	dns_run_free(run);
	p->kind_state = NULL;
	p->done(p, false, reason);
	return -1;
}

static void dns_cancel(struct hc_probe *p)
{
	if (p->kind_state != NULL)
		dns_run_free(p->kind_state);
	p->kind_state = NULL;
}

/* For a timeout: no answer, and whether replies to other queries came
 * (a server that answers with another ID, or a late answer). */
static const char *dns_stage(const struct hc_probe *p)
{
	static char text[96];
	const struct dns_run *run = p->kind_state;
	if (run == NULL || run->ignored == 0)
		return "waiting for the answer";
	snprintf(text, sizeof(text), "waiting for the answer (%u repl%s with another ID ignored)",
		 run->ignored, run->ignored == 1 ? "y" : "ies");
	return text;
}

const struct hc_kind_ops check_dns_ops = {
	.name = "dns",
	.default_port = 53,
	.start = dns_start,
	.cancel = dns_cancel,
	.stage = dns_stage,
};
