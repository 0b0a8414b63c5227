/* test_checks.c: every probe kind against real loopback servers run in this process. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "healthcheck/probe.h"
#include "tests/unit/tap.h"

static struct event_base *base;

/* ---- the probe harness: what the engine does ------------------------- */

struct outcome {
	int calls; /* done() calls; exactly one, or none after cancel */
	bool ok;
	char reason[256];
	bool cancelled; /* the bound passed and we cancelled */
	int start_rc;
};

static struct outcome out;
static const struct hc_kind_ops *cur_ops;

static void harness_done(struct hc_probe *p, bool ok, const char *reason)
{
	out.calls++;
	out.ok = ok;
	snprintf(out.reason, sizeof(out.reason), "%s", reason ? reason : "(null)");
	if (p->kind_state != NULL)
		snprintf(out.reason, sizeof(out.reason), "kind_state left set");
	event_base_loopbreak(base);
}

static void harness_bound_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hc_probe *p = arg;
	(void)fd;
	(void)what;
	out.cancelled = true;
	cur_ops->cancel(p);
	event_base_loopbreak(base);
}

static void harness_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

/* Run the loop for ms milliseconds (servers finish their side). */
static void spin(unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct event *t = evtimer_new(base, harness_tick_cb, NULL);
	evtimer_add(t, &tv);
	event_base_dispatch(base);
	event_free(t);
}

static void probe_fill(struct hc_probe *p, const struct hc_params *hp, const char *addr,
		       uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->base = base;
	p->params = hp;
	p->port = port;
	snprintf(p->addr_text, sizeof(p->addr_text), "%s", addr);
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->addr;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		p->addr_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&p->addr;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		p->addr_len = sizeof(*s4);
	}
	p->done = harness_done;
}

/*
 * Start one probe and run the loop until done() or bound_ms passes; at the
 * bound cancel it, as the engine does at its timeout, and keep the loop
 * running a while to catch a done() after cancel.
 */
static void run_probe(const struct hc_kind_ops *ops, const struct hc_params *hp, const char *addr,
		      uint16_t port, unsigned bound_ms)
{
	struct hc_probe p;
	struct timeval tv = { .tv_sec = bound_ms / 1000, .tv_usec = (bound_ms % 1000) * 1000 };
	struct event *bound = evtimer_new(base, harness_bound_cb, &p);

	memset(&out, 0, sizeof(out));
	cur_ops = ops;
	probe_fill(&p, hp, addr, port);
	out.start_rc = ops->start(&p);
	if (out.start_rc == 0 && out.calls == 0) {
		evtimer_add(bound, &tv);
		while (out.calls == 0 && !out.cancelled)
			event_base_dispatch(base);
	}
	event_free(bound);
	if (out.start_rc < 0 && out.calls != 1)
		snprintf(out.reason, sizeof(out.reason), "start failed without one done()");
	if (out.cancelled)
		spin(100);
	if (p.kind_state != NULL)
		snprintf(out.reason, sizeof(out.reason), "kind_state left set");
}

static void params_init(struct hc_params *hp, enum hc_kind kind, unsigned timeout_ms)
{
	memset(hp, 0, sizeof(*hp));
	hp->kind = kind;
	hp->timeout_ms = timeout_ms;
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

static uint16_t bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- HTTP servers ----------------------------------------------------- */

static char last_host[256];

static void http_reply(struct evhttp_request *req, int code, const char *body)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

static void http_big_reply(struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	static char chunk[65536];
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 32; i++)
		evbuffer_add(b, chunk, sizeof(chunk));
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void http_server_cb(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	(void)arg;
	snprintf(last_host, sizeof(last_host), "%s", host ? host : "(none)");
	if (strcmp(uri, "/") == 0 || strcmp(uri, "/ok") == 0)
		http_reply(req, 200, "ok");
	else if (strcmp(uri, "/health") == 0)
		http_reply(req, 200, "status: all good\n");
	else if (strcmp(uri, "/down") == 0)
		http_reply(req, 503, "maintenance");
	else if (strcmp(uri, "/teapot") == 0)
		http_reply(req, 418, "short and stout");
	else if (strcmp(uri, "/big") == 0)
		http_big_reply(req);
	else
		http_reply(req, 404, "not found");
}

static struct evhttp *http_server_new(const char *addr, uint16_t *port)
{
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	if (http == NULL)
		return NULL;
	evhttp_set_gencb(http, http_server_cb, NULL);
	bs = evhttp_bind_socket_with_handle(http, addr, 0);
	if (bs == NULL) {
		evhttp_free(http);
		return NULL;
	}
	*port = bound_port(evhttp_bound_socket_get_fd(bs));
	return http;
}

/* Raw TCP servers: one that closes each connection at once, one that
 * accepts and never answers, one that answers garbage. */
enum raw_mode { RAW_CLOSE, RAW_SILENT, RAW_GARBAGE, RAW_EARLY_HINTS };

#define MAX_SILENT 16
static evutil_socket_t silent_fds[MAX_SILENT];
static int n_silent;

static void raw_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	enum raw_mode mode = (enum raw_mode)(intptr_t)arg;
	static const char garbage[] = "NOT HTTP AT ALL\r\n\r\n";
	(void)l;
	(void)sa;
	(void)salen;
	if (mode == RAW_SILENT && n_silent < MAX_SILENT) {
		silent_fds[n_silent++] = fd;
		return;
	}
	static const char early[] = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
				    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	if (mode == RAW_GARBAGE && write(fd, garbage, sizeof(garbage) - 1) < 0)
		perror("write");
	if (mode == RAW_EARLY_HINTS && write(fd, early, sizeof(early) - 1) < 0)
		perror("write");
	evutil_closesocket(fd);
}

static struct evconnlistener *raw_server_new(enum raw_mode mode, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct evconnlistener *l = evconnlistener_new_bind(
		base, raw_accept_cb, (void *)(intptr_t)mode,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 16,
		(struct sockaddr *)&sin, sizeof(sin));
	if (l != NULL)
		*port = bound_port(evconnlistener_get_fd(l));
	return l;
}

/* A TCP port that refuses: bound but never listening. */
static evutil_socket_t refusing_socket(int type, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	evutil_socket_t fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("refusing socket");
		exit(1);
	}
	*port = bound_port(fd);
	return fd;
}

/* ---- TLS: a self-signed certificate made in memory -------------------- */

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	int rc = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

static X509 *make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") < 0 ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char ca_path[64];

static SSL_CTX *tls_server_ctx(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = key ? make_cert(key) : NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	FILE *f = NULL;
	int fd;

	snprintf(ca_path, sizeof(ca_path), "/tmp/test_checks_ca.XXXXXX");
	fd = mkstemp(ca_path);
	if (fd >= 0)
		f = fdopen(fd, "w");
	if (cert == NULL || ctx == NULL || f == NULL || PEM_write_X509(f, cert) != 1 ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		fprintf(stderr, "cannot set up the TLS server\n");
		exit(1);
	}
	fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

static struct bufferevent *https_bev_cb(struct event_base *b, void *arg)
{
	return bufferevent_openssl_socket_new(b, -1, SSL_new(arg), BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

/* ---- the DNS responder ------------------------------------------------ */

enum dns_mode { DNS_NORMAL, DNS_WRONG_ID_FIRST, DNS_SHORT, DNS_OTHER_QUESTION, DNS_SILENT };

struct dns_server {
	evutil_socket_t fd;
	struct event *ev;
	uint16_t port;
	enum dns_mode mode;
	int rcode;
	int ancount;
	int queries;
	char qname[256];
	unsigned qtype;
	unsigned rd;
};

static struct dns_server dsrv;

/* Record the question of a query; returns its length past the header. */
static size_t dns_parse_question(const uint8_t *q, size_t len)
{
	size_t o = 12, n = 0;
	while (o < len && q[o] != 0 && n + q[o] + 2 < sizeof(dsrv.qname)) {
		memcpy(dsrv.qname + n, q + o + 1, q[o]);
		n += q[o];
		dsrv.qname[n++] = '.';
		o += 1u + q[o];
	}
	dsrv.qname[n] = '\0';
	if (o + 5 > len)
		return 0;
	dsrv.qtype = (unsigned)(q[o + 1] << 8 | q[o + 2]);
	return o + 5 - 12;
}

static size_t dns_build_answer(uint8_t *r, const uint8_t *q, size_t qsec)
{
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };
	size_t len = 12 + qsec;
	memcpy(r, q, len);
	r[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
	r[3] = (uint8_t)dsrv.rcode;
	r[6] = 0;
	r[7] = (uint8_t)dsrv.ancount;
	for (int i = 0; i < dsrv.ancount; i++, len += sizeof(rr))
		memcpy(r + len, rr, sizeof(rr));
	if (dsrv.mode == DNS_OTHER_QUESTION)
		r[13] ^= 0x01; /* first letter of the name changes */
	return len;
}

static void dns_server_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[512], r[1024];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	(void)what;
	(void)arg;
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < 12)
		return;
	dsrv.queries++;
	dsrv.rd = q[2] & 0x01;
	size_t qsec = dns_parse_question(q, (size_t)n);
	size_t len = dns_build_answer(r, q, qsec);
	if (dsrv.mode == DNS_SILENT)
		return;
	if (dsrv.mode == DNS_SHORT)
		len = 6;
	if (dsrv.mode == DNS_WRONG_ID_FIRST) {
		r[1] ^= 0x5a;
		sendto(fd, r, len, 0, (struct sockaddr *)&from, flen);
		r[1] ^= 0x5a;
	}
	sendto(fd, r, len, 0, (struct sockaddr *)&from, flen);
}

static void dns_server_start(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dsrv.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (dsrv.fd < 0 || bind(dsrv.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("dns server");
		exit(1);
	}
	dsrv.port = bound_port(dsrv.fd);
	dsrv.ev = event_new(base, dsrv.fd, EV_READ | EV_PERSIST, dns_server_cb, NULL);
	event_add(dsrv.ev, NULL);
}

static void dns_server_set(enum dns_mode mode, int rcode, int ancount)
{
	dsrv.mode = mode;
	dsrv.rcode = rcode;
	dsrv.ancount = ancount;
	dsrv.queries = 0;
	dsrv.qname[0] = '\0';
	dsrv.qtype = 0;
}

/* ---- the tests -------------------------------------------------------- */

static uint16_t http_port, closer_port, silent_port, garbage_port, early_port, refused_port;

static void test_tcp(void)
{
	struct hc_params hp;
	params_init(&hp, HC_TCP, 1000);
	run_probe(&check_tcp_ops, &hp, "127.0.0.1", http_port, 3000);
	OK(out.calls == 1 && out.ok, "tcp: listening port is up (%s)", out.reason);
	run_probe(&check_tcp_ops, &hp, "127.0.0.1", refused_port, 3000);
	OK(out.calls == 1 && !out.ok, "tcp: closed port is down");
	HAS_STR(out.reason, "refused", "tcp: reason says refused");
}

static void http_get(const struct hc_kind_ops *ops, struct hc_params *hp, const char *path,
		     uint16_t port)
{
	hp->path = (char *)path;
	run_probe(ops, hp, "127.0.0.1", port, 3000);
}

static void test_http_status(void)
{
	struct hc_params hp;
	int accepted[] = { 200, 418 };

	IS_STR(check_http_ops.name, "http", "http: ops name");
	IS_INT(check_http_ops.default_port, 80, "http: default port");
	params_init(&hp, HC_HTTP, 1000);
	http_get(&check_http_ops, &hp, NULL, http_port);
	OK(out.calls == 1 && out.ok, "http: GET / 200 is up (%s)", out.reason);
	IS_STR(out.reason, "HTTP 200", "http: reason for 200");
	http_get(&check_http_ops, &hp, "/down", http_port);
	OK(out.calls == 1 && !out.ok, "http: 503 is down");
	IS_STR(out.reason, "HTTP 503", "http: reason for 503");
	http_get(&check_http_ops, &hp, "/teapot", http_port);
	OK(!out.ok, "http: 418 is down by default (%s)", out.reason);
	hp.status = accepted;
	hp.n_status = 2;
	http_get(&check_http_ops, &hp, "/teapot", http_port);
	OK(out.ok, "http: 418 is up when listed (%s)", out.reason);
	http_get(&check_http_ops, &hp, "/down", http_port);
	OK(!out.ok, "http: 503 still down with a custom list (%s)", out.reason);
}

static void test_http_body(void)
{
	struct hc_params hp;
	params_init(&hp, HC_HTTP, 1000);
	hp.expect = "all good";
	http_get(&check_http_ops, &hp, "/health", http_port);
	OK(out.ok, "http: expected body text found (%s)", out.reason);
	hp.expect = "ok";
	http_get(&check_http_ops, &hp, "/down", http_port);
	IS_STR(out.reason, "HTTP 503", "http: status is judged before the body");
	hp.expect = "ready";
	http_get(&check_http_ops, &hp, "/health", http_port);
	OK(!out.ok, "http: missing body text is down");
	IS_STR(out.reason, "HTTP 200 but body lacks 'ready'", "http: body reason");
	hp.expect = NULL;
	http_get(&check_http_ops, &hp, "/big", http_port);
	OK(!out.ok, "http: a 2 MiB body is refused");
	IS_STR(out.reason, "response too large", "http: large body reason");
}

static void test_http_host(void)
{
	struct hc_params hp;
	char want[64];
	params_init(&hp, HC_HTTP, 1000);
	last_host[0] = '\0';
	http_get(&check_http_ops, &hp, "/", http_port);
	snprintf(want, sizeof(want), "127.0.0.1:%u", http_port);
	IS_STR(last_host, want, "http: default Host is address:port");
	hp.host = "www.example.com";
	http_get(&check_http_ops, &hp, "/", http_port);
	IS_STR(last_host, "www.example.com", "http: configured Host header sent");
	hp.host = "bad\r\nX-Injected: 1";
	http_get(&check_http_ops, &hp, "/", http_port);
	OK(!out.ok && out.start_rc == -1, "http: CRLF in Host fails at start");
	HAS_STR(out.reason, "invalid Host header", "http: bad Host reason");
	hp.host = NULL;
	http_get(&check_http_ops, &hp, "/a b", http_port);
	OK(!out.ok && out.start_rc == -1, "http: a path with a space is refused");
	HAS_STR(out.reason, "invalid path", "http: bad path reason");
}

static void test_http_ipv6(void)
{
	uint16_t port6;
	struct hc_params hp;
	char want[64];
	struct evhttp *h6 = http_server_new("::1", &port6);
	if (h6 == NULL) {
		printf("# no IPv6 loopback: skipping the IPv6 Host test\n");
		return;
	}
	params_init(&hp, HC_HTTP, 1000);
	last_host[0] = '\0';
	run_probe(&check_http_ops, &hp, "::1", port6, 3000);
	OK(out.ok, "http: IPv6 probe up (%s)", out.reason);
	snprintf(want, sizeof(want), "[::1]:%u", port6);
	IS_STR(last_host, want, "http: IPv6 Host header has brackets");
	evhttp_free(h6);
}

static void test_http_failures(void)
{
	struct hc_params hp;
	params_init(&hp, HC_HTTP, 1000);
	http_get(&check_http_ops, &hp, "/", refused_port);
	OK(out.calls == 1 && !out.ok, "http: refused port is down");
	IS_STR(out.reason, "connect refused", "http: refused reason");
	http_get(&check_http_ops, &hp, "/", closer_port);
	OK(out.calls == 1 && !out.ok, "http: server closing at once is down");
	IS_STR(out.reason, "connection closed", "http: closed reason");
	http_get(&check_http_ops, &hp, "/", garbage_port);
	OK(out.calls == 1 && !out.ok, "http: garbage answer is down (%s)", out.reason);
	http_get(&check_http_ops, &hp, "/", early_port);
	OK(out.calls == 1 && !out.ok &&
		   strncmp(out.reason, "HTTP 103: an interim response", 29) == 0,
	   "http: 103 Early Hints before the 200: down, and the reason says why (%s)", out.reason);

	/* The engine's timeout: cancel in flight, nothing may complete. */
	params_init(&hp, HC_HTTP, 2000);
	run_probe(&check_http_ops, &hp, "127.0.0.1", silent_port, 200);
	OK(out.cancelled && out.calls == 0, "http: silent server cancelled, no done() after");
	IS_STR(out.reason, "", "http: kind_state cleared by cancel");

	/* evhttp's own timeout, when the engine's has not fired first. */
	params_init(&hp, HC_HTTP, 200);
	run_probe(&check_http_ops, &hp, "127.0.0.1", silent_port, 3000);
	OK(out.calls == 1 && !out.ok, "http: own timeout reports down");
	HAS_STR(out.reason, "timed out", "http: timeout reason");
}

static void test_https(uint16_t https_port)
{
	struct hc_params hp;
	char want[64];

	IS_STR(check_https_ops.name, "https", "https: ops name");
	IS_INT(check_https_ops.default_port, 443, "https: default port");
	params_init(&hp, HC_HTTPS, 2000);
	last_host[0] = '\0';
	run_probe(&check_https_ops, &hp, "127.0.0.1", https_port, 3000);
	OK(out.ok, "https: verify off is up (%s)", out.reason);
	snprintf(want, sizeof(want), "127.0.0.1:%u", https_port);
	IS_STR(last_host, want, "https: Host header over TLS");

	hp.verify_tls = true;
	hp.ca_file = ca_path;
	hp.host = "localhost";
	run_probe(&check_https_ops, &hp, "127.0.0.1", https_port, 3000);
	OK(out.ok, "https: verified against ca_file by name (%s)", out.reason);
	hp.host = NULL;
	run_probe(&check_https_ops, &hp, "127.0.0.1", https_port, 3000);
	OK(out.ok, "https: verified against ca_file by IP (%s)", out.reason);
	hp.host = "www.example.com";
	run_probe(&check_https_ops, &hp, "127.0.0.1", https_port, 3000);
	OK(!out.ok, "https: wrong host name is down");
	IS_STR(out.reason, "certificate verify failed: hostname mismatch",
	       "https: host name mismatch reason");

	hp.ca_file = NULL;
	hp.host = "localhost";
	run_probe(&check_https_ops, &hp, "127.0.0.1", https_port, 3000);
	OK(out.calls == 1 && !out.ok, "https: untrusted certificate is down");
	HAS_STR(out.reason, "certificate verify failed: self", "https: untrusted reason");

	hp.ca_file = "/nonexistent/ca.pem";
	run_probe(&check_https_ops, &hp, "127.0.0.1", https_port, 3000);
	OK(!out.ok && out.start_rc == -1, "https: unreadable ca_file fails at start");
	IS_STR(out.reason, "cannot load CA file '/nonexistent/ca.pem': No such file or directory",
	       "https: ca_file reason");
}

static void test_https_failures(void)
{
	struct hc_params hp;
	params_init(&hp, HC_HTTPS, 1000);
	run_probe(&check_https_ops, &hp, "127.0.0.1", http_port, 3000);
	OK(out.calls == 1 && !out.ok, "https: plain HTTP server is down");
	HAS_STR(out.reason, "TLS handshake failed: ", "https: handshake reason");
	run_probe(&check_https_ops, &hp, "127.0.0.1", refused_port, 3000);
	IS_STR(out.reason, "connect refused", "https: refused reason");
	run_probe(&check_https_ops, &hp, "127.0.0.1", closer_port, 3000);
	OK(out.calls == 1 && !out.ok, "https: server closing at once is down");
	HAS_STR(out.reason, "TLS handshake failed", "https: closed during handshake");
	params_init(&hp, HC_HTTPS, 2000);
	run_probe(&check_https_ops, &hp, "127.0.0.1", silent_port, 200);
	OK(out.cancelled && out.calls == 0, "https: stalled handshake cancelled cleanly");
	params_init(&hp, HC_HTTPS, 200);
	run_probe(&check_https_ops, &hp, "127.0.0.1", silent_port, 3000);
	OK(out.calls == 1 && !out.ok, "https: own timeout in the handshake reports down");
	IS_STR(out.reason, "connect or TLS handshake timed out", "https: handshake timeout reason");
}

static void dns_probe(struct hc_params *hp, const char *name)
{
	hp->dns_name = (char *)name;
	run_probe(&check_dns_ops, hp, "127.0.0.1", dsrv.port, 3000);
}

static void test_dns_rcode(void)
{
	struct hc_params hp;
	IS_STR(check_dns_ops.name, "dns", "dns: ops name");
	IS_INT(check_dns_ops.default_port, 53, "dns: default port");
	params_init(&hp, HC_DNS, 1000);
	dns_server_set(DNS_NORMAL, 0, 1);
	dns_probe(&hp, "health.example.");
	OK(out.calls == 1 && out.ok, "dns: NOERROR is up (%s)", out.reason);
	IS_STR(dsrv.qname, "health.example.", "dns: query name on the wire");
	IS_INT(dsrv.qtype, 1, "dns: default type A");
	IS_INT(dsrv.rd, 1, "dns: RD set");
	dns_server_set(DNS_NORMAL, 2, 0);
	dns_probe(&hp, "health.example.");
	OK(!out.ok, "dns: SERVFAIL is down");
	IS_STR(out.reason, "rcode SERVFAIL (want NOERROR)", "dns: rcode mismatch reason");
	hp.dns_rcode = 3;
	dns_server_set(DNS_NORMAL, 3, 0);
	dns_probe(&hp, "nothing.example");
	OK(out.ok, "dns: NXDOMAIN wanted and got (%s)", out.reason);
	IS_STR(dsrv.qname, "nothing.example.", "dns: name without the final dot");
	dns_server_set(DNS_NORMAL, 0, 1);
	dns_probe(&hp, "nothing.example");
	IS_STR(out.reason, "rcode NOERROR (want NXDOMAIN)", "dns: wanted NXDOMAIN reason");
}

static void test_dns_answer(void)
{
	struct hc_params hp;
	params_init(&hp, HC_DNS, 1000);
	hp.dns_want_answer = true;
	hp.dns_type = 28;
	dns_server_set(DNS_NORMAL, 0, 2);
	dns_probe(&hp, "www.example.");
	OK(out.ok, "dns: answer records present is up (%s)", out.reason);
	IS_INT(dsrv.qtype, 28, "dns: AAAA on the wire");
	IS_STR(out.reason, "rcode NOERROR, 2 answers", "dns: up reason");
	dns_server_set(DNS_NORMAL, 0, 0);
	dns_probe(&hp, "www.example.");
	OK(!out.ok, "dns: empty NOERROR with want_answer is down");
	IS_STR(out.reason, "no answer records", "dns: no answer reason");
	hp.dns_want_answer = false;
	dns_probe(&hp, "www.example.");
	OK(out.ok, "dns: empty NOERROR without want_answer is up");
}

static void test_dns_bad(uint16_t closed_udp_port)
{
	struct hc_params hp;
	params_init(&hp, HC_DNS, 1000);
	dns_server_set(DNS_WRONG_ID_FIRST, 0, 1);
	dns_probe(&hp, "health.example.");
	OK(out.ok, "dns: a reply with a foreign ID is ignored (%s)", out.reason);
	dns_server_set(DNS_SHORT, 0, 1);
	dns_probe(&hp, "health.example.");
	IS_STR(out.reason, "malformed response", "dns: short reply");
	dns_server_set(DNS_OTHER_QUESTION, 0, 1);
	dns_probe(&hp, "health.example.");
	OK(!out.ok, "dns: other question is down");
	HAS_STR(out.reason, "question", "dns: question mismatch reason");
	dns_probe(&hp, "a..b");
	OK(!out.ok && out.start_rc == -1, "dns: invalid name fails at start");
	HAS_STR(out.reason, "invalid query name", "dns: invalid name reason");
	hp.dns_name = "health.example.";
	run_probe(&check_dns_ops, &hp, "127.0.0.1", closed_udp_port, 3000);
	OK(!out.ok, "dns: closed UDP port is down");
	IS_STR(out.reason, "ICMP unreachable", "dns: ICMP reason");
	dns_server_set(DNS_SILENT, 0, 1);
	run_probe(&check_dns_ops, &hp, "127.0.0.1", dsrv.port, 200);
	OK(out.cancelled && out.calls == 0, "dns: silent server cancelled cleanly");
}

/* ---- exec ------------------------------------------------------------- */

static void exec_probe(char **argv, size_t argc, unsigned bound_ms)
{
	struct hc_params hp;
	params_init(&hp, HC_EXEC, 1000);
	hp.argv = argv;
	hp.argc = argc;
	run_probe(&check_exec_ops, &hp, "127.0.0.1", 5353, bound_ms);
}

static int read_pids(const char *path, pid_t *pids, int max)
{
	FILE *f = fopen(path, "r");
	int n = 0;
	long v;
	if (f == NULL)
		return 0;
	while (n < max && fscanf(f, "%ld", &v) == 1)
		pids[n++] = (pid_t)v;
	fclose(f);
	return n;
}

/* Gone, or a zombie waiting for init (not ours to reap). */
static bool pid_dead(pid_t pid)
{
	char path[64], buf[256];
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static void test_exec_basic(void)
{
	char *t[] = { "/bin/true" };
	char *f[] = { "/bin/sh", "-c", "exit 2" };
	char *k[] = { "/bin/sh", "-c", "kill -9 $$" };
	char *m[] = { "/nonexistent/check" };
	char *p[] = { "true" };
	char *nul[] = { "/bin/sh", "-c",
			("test \"$(readlink /proc/$$/fd/0)\" = /dev/null && "
			 "case \"$(readlink /proc/$$/fd/1)\" in pipe:*) ;; *) exit 1 ;; esac && "
			 "test \"$(readlink /proc/$$/fd/1)\" = \"$(readlink /proc/$$/fd/2)\"") };
	char *said[] = { "/bin/sh", "-c",
			 "printf '  CRITICAL - disk\\tfull  \\nsecond line\\n'; exit 2" };
	char *err[] = { "/bin/sh", "-c", "echo oops >&2; exit 1" };
	char *chatty[] = { "/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; exit 1" };

	IS_STR(check_exec_ops.name, "exec", "exec: ops name");
	IS_INT(check_exec_ops.default_port, 0, "exec: default port");
	exec_probe(t, 1, 3000);
	OK(out.calls == 1 && out.ok, "exec: /bin/true is up (%s)", out.reason);
	IS_STR(out.reason, "exit 0", "exec: up reason");
	exec_probe(f, 3, 3000);
	OK(!out.ok, "exec: exit 2 is down");
	IS_STR(out.reason, "exit 2", "exec: exit reason");
	exec_probe(k, 3, 3000);
	IS_STR(out.reason, "killed by signal 9", "exec: signal reason");
	exec_probe(m, 1, 3000);
	OK(!out.ok && out.calls == 1, "exec: missing binary is down");
	IS_STR(out.reason, "cannot run '/nonexistent/check': No such file or directory",
	       "exec: missing binary reason");
	exec_probe(p, 1, 3000);
	OK(out.ok, "exec: found on PATH (%s)", out.reason);
	if (access("/proc/self/fd/0", F_OK) == 0) {
		exec_probe(nul, 3, 3000);
		OK(out.ok, "exec: stdin is /dev/null, stdout and stderr one pipe (%s)", out.reason);
	}
	/* The first line of the output is part of the reason, as plugins
	 * report it. */
	exec_probe(said, 3, 3000);
	IS_STR(out.reason, "exit 2: CRITICAL - disk full", "exec: first output line in the reason");
	exec_probe(err, 3, 3000);
	IS_STR(out.reason, "exit 1: oops", "exec: stderr counts as output");
	exec_probe(chatty, 3, 3000);
	OK(out.calls == 1 && !out.ok && strncmp(out.reason, "exit 1: xxxx", 12) == 0,
	   "exec: a megabyte of output neither blocks the command nor the reason (%.40s)",
	   out.reason);
	exec_probe(NULL, 0, 3000);
	IS_STR(out.reason, "no command", "exec: empty argv reason");
}

static void test_exec_subst(void)
{
	char file[] = "/tmp/test_checks_arg.XXXXXX", buf[128] = "";
	int fd = mkstemp(file);
	char *a[] = { "/bin/sh", "-c", "test \"$0\" = 127.0.0.1 && test \"$1\" = 5353", "%a",
		      "%p" };
	char *w[] = { "/bin/sh", "-c", "printf %s \"$1\" > \"$0\"", file, "a=%a,p=%p,%%,%x" };

	exec_probe(a, 5, 3000);
	OK(out.ok, "exec: %%a and %%p as whole arguments (%s)", out.reason);
	exec_probe(w, 5, 3000);
	FILE *f = fopen(file, "r");
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	IS_STR(buf, "a=127.0.0.1,p=5353,%,%x", "exec: substitution inside an argument");
	if (fd >= 0)
		close(fd);
	unlink(file);
}

static void test_exec_cancel(void)
{
	char file[] = "/tmp/test_checks_pid.XXXXXX";
	int fd = mkstemp(file);
	char script[256];
	char *s[] = { "/bin/sh", "-c", script };
	pid_t pids[2] = { 0, 0 };

	snprintf(script, sizeof(script), "echo $$ > %s; sleep 10 & echo $! >> %s; wait", file,
		 file);
	exec_probe(s, 3, 400);
	OK(out.cancelled && out.calls == 0, "exec: sleep cancelled at the bound, no done()");
	IS_INT(read_pids(file, pids, 2), 2, "exec: child wrote both pids");
	OK(pids[0] > 0 && kill(pids[0], 0) < 0 && errno == ESRCH,
	   "exec: cancelled child is killed and reaped");
	OK(pids[1] > 0 && pid_dead(pids[1]), "exec: its background child is killed too");

	snprintf(script, sizeof(script), "sleep 10 & echo $! > %s; exit 0", file);
	exec_probe(s, 3, 3000);
	OK(out.ok, "exec: exit 0 with a leftover is up (%s)", out.reason);
	spin(50);
	OK(read_pids(file, pids, 1) == 1 && pid_dead(pids[0]),
	   "exec: leftover of a finished command is killed");
	if (fd >= 0)
		close(fd);
	unlink(file);
}

/* Several commands at once: each probe reaps only its own child. */
static void test_exec_parallel(void)
{
	struct hc_params hp[3];
	struct hc_probe p[3];
	char *fast[] = { "/bin/sh", "-c", "exit 3" };
	char *slow[] = { "/bin/sh", "-c", "sleep 0.2; exit 4" };
	char *ok[] = { "/bin/true" };
	char **cmds[3] = { slow, fast, ok };
	size_t argcs[3] = { 3, 3, 1 };

	memset(&out, 0, sizeof(out));
	cur_ops = &check_exec_ops;
	for (int i = 0; i < 3; i++) {
		params_init(&hp[i], HC_EXEC, 1000);
		hp[i].argv = cmds[i];
		hp[i].argc = argcs[i];
		probe_fill(&p[i], &hp[i], "127.0.0.1", 0);
		check_exec_ops.start(&p[i]);
	}
	for (int guard = 0; out.calls < 3 && guard < 100; guard++)
		event_base_dispatch(base);
	IS_INT(out.calls, 3, "exec: three parallel commands all complete");
	IS_STR(out.reason, "exit 4", "exec: the slow one finishes last");
}

/* Shutdown or reload right after start: cancel before the loop runs. */
static void cancel_at_once(const struct hc_kind_ops *ops, struct hc_params *hp, uint16_t port,
			   const char *what)
{
	struct hc_probe p;
	memset(&out, 0, sizeof(out));
	probe_fill(&p, hp, "127.0.0.1", port);
	int rc = ops->start(&p);
	ops->cancel(&p);
	spin(50);
	OK(rc == 0 && out.calls == 0 && p.kind_state == NULL,
	   "%s: cancel right after start is clean", what);
}

static void test_cancel_at_once(void)
{
	struct hc_params hp;
	char *sleeper[] = { "/bin/sleep", "10" };

	params_init(&hp, HC_HTTP, 1000);
	cancel_at_once(&check_http_ops, &hp, http_port, "http");
	cancel_at_once(&check_http_ops, &hp, refused_port, "http refused");
	params_init(&hp, HC_HTTPS, 1000);
	cancel_at_once(&check_https_ops, &hp, http_port, "https");
	params_init(&hp, HC_DNS, 1000);
	hp.dns_name = "health.example.";
	dns_server_set(DNS_NORMAL, 0, 1);
	cancel_at_once(&check_dns_ops, &hp, dsrv.port, "dns");
	params_init(&hp, HC_EXEC, 1000);
	hp.argv = sleeper;
	hp.argc = 2;
	cancel_at_once(&check_exec_ops, &hp, 0, "exec");
	IS_INT(waitpid(-1, NULL, WNOHANG), -1, "exec: no child left to reap");
}

/* Every loopback server the tests talk to. */
struct servers {
	struct evhttp *http, *https;
	struct evconnlistener *closer, *silent, *garbage, *early;
	evutil_socket_t refuser;
	uint16_t https_port, udp_closed_port;
	SSL_CTX *tls;
};

static int servers_start(struct servers *sv)
{
	evutil_socket_t udp_closed;
	sv->http = http_server_new("127.0.0.1", &http_port);
	sv->tls = tls_server_ctx();
	sv->https = http_server_new("127.0.0.1", &sv->https_port);
	sv->closer = raw_server_new(RAW_CLOSE, &closer_port);
	sv->silent = raw_server_new(RAW_SILENT, &silent_port);
	sv->garbage = raw_server_new(RAW_GARBAGE, &garbage_port);
	sv->early = raw_server_new(RAW_EARLY_HINTS, &early_port);
	if (sv->http == NULL || sv->https == NULL || sv->closer == NULL || sv->silent == NULL ||
	    sv->garbage == NULL || sv->early == NULL)
		return -1;
	evhttp_set_bevcb(sv->https, https_bev_cb, sv->tls);
	sv->refuser = refusing_socket(SOCK_STREAM, &refused_port);
	udp_closed = refusing_socket(SOCK_DGRAM, &sv->udp_closed_port);
	evutil_closesocket(udp_closed); /* nothing listens there now */
	dns_server_start();
	return 0;
}

static void servers_stop(struct servers *sv)
{
	event_free(dsrv.ev);
	evutil_closesocket(dsrv.fd);
	evutil_closesocket(sv->refuser);
	evconnlistener_free(sv->closer);
	evconnlistener_free(sv->silent);
	evconnlistener_free(sv->garbage);
	evconnlistener_free(sv->early);
	evhttp_free(sv->http);
	evhttp_free(sv->https);
	SSL_CTX_free(sv->tls);
	unlink(ca_path);
}

int main(void)
{
	struct servers sv;
	int fds_before;

	signal(SIGPIPE, SIG_IGN); /* as the daemon does */
	base = event_base_new();
	if (base == NULL || servers_start(&sv) < 0) {
		fprintf(stderr, "cannot start the loopback servers\n");
		return 1;
	}
	fds_before = count_fds();

	test_tcp();
	test_http_status();
	test_http_body();
	test_http_host();
	test_http_ipv6();
	test_http_failures();
	test_https(sv.https_port);
	test_https_failures();
	test_dns_rcode();
	test_dns_answer();
	test_dns_bad(sv.udp_closed_port);
	test_exec_basic();
	test_exec_subst();
	test_exec_cancel();
	test_exec_parallel();
	test_cancel_at_once();

	for (int i = 0; i < n_silent; i++)
		evutil_closesocket(silent_fds[i]);
	n_silent = 0;
	spin(100);
	IS_INT(count_fds(), fds_before, "no descriptors leaked by any probe");

	servers_stop(&sv);
	event_base_free(base);
	return tap_done();
}
