/* check_http.c: HTTP and HTTPS probes: GET a path, check the status and the body. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "healthcheck/probe.h"

/* Bounds on what a health endpoint may send back; beyond them the probe
 * fails ("response too large") rather than buffering without limit. */
#define HTTP_MAX_HEADERS_SIZE   (64 * 1024)
#define HTTP_MAX_BODY_SIZE      (1024 * 1024)
#define HTTP_DEFAULT_TIMEOUT_MS 1000u

/*
 * One run moves RUNNING -> FINISHING -> freed.  The verdict is taken inside
 * libevent's request callback, but the connection may not be freed there
 * (evhttp still uses it after the callback returns), so the callback only
 * records the verdict and activates `finish`, whose callback frees
 * everything and calls done().  cancel() is valid in both states.
 */
enum http_state {
	HTTP_RUNNING,
	HTTP_FINISHING,
};

struct http_run {
	struct hc_probe *p;
	enum http_state state;
	bool tls;
	struct evhttp_connection *conn; /* owns the bufferevent and its SSL */
	struct bufferevent *bev;
	struct event *finish;
	struct timespec started;
	bool connected; /* TCP (and TLS) established */
	bool headers;   /* the response's status line and headers are in */
	bool got_error; /* evhttp reported an error kind */
	enum evhttp_request_error error;
	int error_errno;
	int verify_err;        /* first X509 error seen, or X509_V_OK */
	unsigned long tls_err; /* OpenSSL error drained from bev */
	bool ok;
	char reason[256];
};

static SSL_CTX *http_ssl_ctx;

static unsigned http_timeout_ms(const struct hc_probe *p)
{
	return p->params->timeout_ms ? p->params->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
}

static long http_elapsed_ms(const struct http_run *run)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - run->started.tv_sec) * 1000L +
	       (now.tv_nsec - run->started.tv_nsec) / 1000000L;
}

static bool http_is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The OpenSSL text for an error code, without the "error:0A000086:" noise. */
static const char *http_ssl_err_text(unsigned long e)
{
	const char *s;
#ifdef ERR_SYSTEM_ERROR
	if (ERR_SYSTEM_ERROR(e))
#else
	if (ERR_GET_LIB(e) == ERR_LIB_SYS)
#endif
		return strerror(ERR_GET_REASON(e));
	s = ERR_reason_error_string(e);
	return s != NULL ? s : "unknown TLS error";
}

/* ---- TLS set-up ------------------------------------------------------- */

/* Remember the first verification failure: after a failed handshake evhttp
 * resets the connection (SSL_clear), so SSL_get_verify_result is lost. */
static int http_verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
	if (!preverify_ok) {
		SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
		struct http_run *run = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
		if (run != NULL && run->verify_err == X509_V_OK)
			run->verify_err = X509_STORE_CTX_get_error(xs);
	}
	return preverify_ok;
}

/* One client context for the process; per-probe settings live on the SSL. */
static SSL_CTX *http_ctx(void)
{
	if (http_ssl_ctx != NULL)
		return http_ssl_ctx;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* The system store; a probe's ca_file replaces it on its SSL. */
	SSL_CTX_set_default_verify_paths(ctx);
	http_ssl_ctx = ctx;
	return ctx;
}

/* Trust ca_file instead of the system store for this connection. */
static int http_set_ca_file(SSL *ssl, const char *ca_file, char *reason, size_t len)
{
	X509_STORE *store = X509_STORE_new();
	if (store == NULL || X509_STORE_load_locations(store, ca_file, NULL) != 1) {
		unsigned long e = ERR_get_error();
		snprintf(reason, len, "cannot load CA file '%s': %s", ca_file,
			 e ? http_ssl_err_text(e) : "out of memory");
		ERR_clear_error();
		X509_STORE_free(store);
		return -1;
	}
	int rc = SSL_set1_verify_cert_store(ssl, store) == 1 ? 0 : -1;
	X509_STORE_free(store);
	if (rc < 0)
		snprintf(reason, len, "cannot use CA file '%s'", ca_file);
	return rc;
}

/* Peer verification: the chain, then the host name or the probed address. */
static int http_set_verify(SSL *ssl, const struct hc_probe *p, char *reason, size_t len)
{
	const struct hc_params *hp = p->params;
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	int rc;

	if (hp->ca_file != NULL && http_set_ca_file(ssl, hp->ca_file, reason, len) < 0)
		return -1;
	SSL_set_verify(ssl, SSL_VERIFY_PEER, http_verify_cb);
	if (hp->host != NULL && !http_is_ip_literal(hp->host)) {
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		rc = X509_VERIFY_PARAM_set1_host(vp, hp->host, 0);
	} else {
		rc = X509_VERIFY_PARAM_set1_ip_asc(vp, hp->host ? hp->host : p->addr_text);
	}
	if (rc != 1) {
		snprintf(reason, len, "cannot set up certificate name check");
		return -1;
	}
	return 0;
}

static SSL *http_ssl_new(struct http_run *run, char *reason, size_t len)
{
	const struct hc_probe *p = run->p;
	SSL_CTX *ctx = http_ctx();
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	if (ssl == NULL) {
		snprintf(reason, len, "cannot create TLS context");
		return NULL;
	}
	SSL_set_app_data(ssl, run);
	/* RFC 6066 section 3: SNI carries host names only, never literals. */
	if (p->params->host != NULL && !http_is_ip_literal(p->params->host) &&
	    SSL_set_tlsext_host_name(ssl, p->params->host) != 1) {
		snprintf(reason, len, "invalid TLS server name '%s'", p->params->host);
		SSL_free(ssl);
		return NULL;
	}
	if (p->params->verify_tls && http_set_verify(ssl, p, reason, len) < 0) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

static struct bufferevent *http_bev_new(struct http_run *run, char *reason, size_t len)
{
	struct bufferevent *bev;
	if (!run->tls) {
		bev = bufferevent_socket_new(run->p->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			snprintf(reason, len, "cannot create socket");
		return bev;
	}
	SSL *ssl = http_ssl_new(run, reason, len);
	if (ssl == NULL)
		return NULL;
	/* With BEV_OPT_CLOSE_ON_FREE the bufferevent frees the SSL too. */
	bev = bufferevent_openssl_socket_new(run->p->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		snprintf(reason, len, "cannot create TLS connection");
		return NULL;
	}
	/* Servers often close without close_notify; a body delimited by the
	 * close must still count as complete. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* ---- the verdict ------------------------------------------------------ */

static bool http_status_accepted(const struct hc_params *hp, int code)
{
	if (hp->n_status == 0)
		return code == 200;
	for (size_t i = 0; i < hp->n_status; i++)
		if (hp->status[i] == code)
			return true;
	return false;
}

static void http_judge_response(struct http_run *run, struct evhttp_request *req)
{
	const struct hc_params *hp = run->p->params;
	int code = evhttp_request_get_response_code(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);

	if (!http_status_accepted(hp, code)) {
		/* libevent's client ends the request at an informational
		 * response (RFC 9110 15.2: 100 Continue, 103 Early Hints)
		 * instead of reading the final one after it. */
		snprintf(run->reason, sizeof(run->reason),
			 code >= 100 && code < 200 ? "HTTP %d: an interim response where a "
						     "final one was due (not read past)"
						   : "HTTP %d",
			 code);
		return;
	}
	if (hp->expect != NULL && hp->expect[0] != '\0' &&
	    evbuffer_search(body, hp->expect, strlen(hp->expect), NULL).pos < 0) {
		snprintf(run->reason, sizeof(run->reason), "HTTP %d but body lacks '%s'", code,
			 hp->expect);
		return;
	}
	run->ok = true;
	snprintf(run->reason, sizeof(run->reason), "HTTP %d", code);
}

/* Take the oldest library error left on the bufferevent: the root cause. */
static void http_drain_tls_errors(struct http_run *run)
{
	unsigned long e;
	if (!run->tls || run->bev == NULL)
		return;
	while ((e = bufferevent_get_openssl_error(run->bev)) != 0) {
		/* libevent also queues bare SSL_ERROR_* codes (library 0). */
		if (ERR_GET_LIB(e) != 0)
			run->tls_err = e;
	}
}

/* Errors that mean the TCP connection itself never came up. */
static bool http_connect_errno(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ETIMEDOUT ||
	       e == EADDRNOTAVAIL || e == ENETDOWN || e == EHOSTDOWN;
}

/* Failed before evhttp saw the connection established (for HTTPS that
 * includes the TLS handshake).  evhttp keeps the socket error for its
 * error callback, except on its ECONNREFUSED and connect-timeout paths,
 * which complete the request with code 0 and no error kind at all. */
static void http_judge_connect_failure(struct http_run *run)
{
	char *r = run->reason;
	size_t len = sizeof(run->reason);
	int e = run->error_errno;

	if (!run->got_error) {
		if (http_elapsed_ms(run) >= (long)http_timeout_ms(run->p))
			snprintf(r, len,
				 run->tls ? "connect or TLS handshake timed out"
					  : "connect timed out");
		else
			snprintf(r, len, "connect refused");
	} else if (run->error == EVREQ_HTTP_TIMEOUT) {
		snprintf(r, len, "connect timed out");
	} else if (e == ECONNREFUSED) {
		snprintf(r, len, "connect refused");
	} else if (http_connect_errno(e) || !run->tls) {
		snprintf(r, len, "connect failed: %s", e ? strerror(e) : "unknown error");
	} else {
		snprintf(r, len, "TLS handshake failed: %s",
			 e == ECONNRESET || e == EPIPE ? strerror(e) : "connection closed");
	}
}

static void http_judge_failure(struct http_run *run)
{
	char *r = run->reason;
	size_t len = sizeof(run->reason);

	http_drain_tls_errors(run);
	if (run->verify_err != X509_V_OK) {
		snprintf(r, len, "certificate verify failed: %s",
			 X509_verify_cert_error_string(run->verify_err));
	} else if (run->tls_err != 0) {
		snprintf(r, len, "%s: %s", run->connected ? "TLS error" : "TLS handshake failed",
			 http_ssl_err_text(run->tls_err));
	} else if (!run->connected) {
		http_judge_connect_failure(run);
	} else if (!run->got_error || run->error == EVREQ_HTTP_EOF) {
		snprintf(r, len, "connection closed");
	} else if (run->error == EVREQ_HTTP_TIMEOUT) {
		snprintf(r, len, "response timed out");
	} else if (run->error == EVREQ_HTTP_INVALID_HEADER) {
		snprintf(r, len, "invalid HTTP response");
	} else if (run->error == EVREQ_HTTP_DATA_TOO_LONG) {
		snprintf(r, len, "response too large");
	} else {
		snprintf(r, len, "connection error");
	}
}

/* ---- libevent callbacks ----------------------------------------------- */

static void http_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_run *run = arg;
	struct hc_probe *p = run->p;
	char reason[sizeof(run->reason)];
	bool ok = run->ok;
	(void)fd;
	(void)what;

	memcpy(reason, run->reason, sizeof(reason));
	evhttp_connection_set_closecb(run->conn, NULL, NULL);
	evhttp_connection_free(run->conn);
	event_free(run->finish);
	free(run);
	p->kind_state = NULL;
	p->done(p, ok, reason);
}

/* Called by evhttp when it closes a connection it had established. */
static void http_close_cb(struct evhttp_connection *conn, void *arg)
{
	struct http_run *run = arg;
	(void)conn;
	run->connected = true;
}

static void http_error_cb(enum evhttp_request_error error, void *arg)
{
	struct http_run *run = arg;
	run->got_error = true;
	run->error = error;
	run->error_errno = errno;
}

/* The request is over, one way or another: a response, req == NULL after
 * an error, or req with code 0 when the connect failed.  evhttp frees req
 * after this returns. */
static void http_request_cb(struct evhttp_request *req, void *arg)
{
	struct http_run *run = arg;
	if (run->state != HTTP_RUNNING)
		return;
	if (req != NULL && evhttp_request_get_response_code(req) != 0)
		http_judge_response(run, req);
	else
		http_judge_failure(run);
	run->state = HTTP_FINISHING;
	event_active(run->finish, EV_TIMEOUT, 1);
}

/* ---- the request ------------------------------------------------------ */

/* RFC 7230 section 5.4: uri-host [ ":" port ], brackets for IPv6. */
static void http_host_header(const struct hc_probe *p, bool tls, char *buf, size_t len)
{
	bool v6 = p->addr.ss_family == AF_INET6;
	const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
	if (p->params->host != NULL)
		snprintf(buf, len, "%s", p->params->host);
	else if (p->port == (tls ? 443 : 80))
		snprintf(buf, len, "%s%s%s", lb, p->addr_text, rb);
	else
		snprintf(buf, len, "%s%s%s:%u", lb, p->addr_text, rb, (unsigned)p->port);
}

static int http_header_cb(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct http_run *run = arg;
	run->headers = true;
	return 0;
}

/* For a timeout: connecting, the TLS handshake, waiting for the response,
 * or reading its body. */
static const char *http_stage(const struct hc_probe *p)
{
	static char finished[sizeof(((struct http_run *)0)->reason) + 2];
	const struct http_run *run = p->kind_state;
	if (run == NULL || run->conn == NULL)
		return NULL;
	if (run->state == HTTP_FINISHING) {
		/* libevent's own timeout (as long as ours) ended the run and
		 * closed the connection just before: its reason says where. */
		snprintf(finished, sizeof(finished), "(%s)", run->reason);
		return finished;
	}
	if (run->headers)
		return "reading the response body";
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(run->conn);
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return "while connecting";
	if (run->tls) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl != NULL && !SSL_is_init_finished(ssl))
			return "in the TLS handshake";
	}
	return "waiting for the response";
}

static struct evhttp_request *http_request_new(struct http_run *run, char *reason, size_t len)
{
	char host[300];
	struct evhttp_request *req = evhttp_request_new(http_request_cb, run);
	if (req == NULL) {
		snprintf(reason, len, "out of memory");
		return NULL;
	}
	evhttp_request_set_error_cb(req, http_error_cb);
	evhttp_request_set_header_cb(req, http_header_cb);
	http_host_header(run->p, run->tls, host, sizeof(host));
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", host) < 0 ||
	    evhttp_add_header(h, "Connection", "close") < 0 ||
	    evhttp_add_header(h, "Accept", "*/*") < 0 ||
	    evhttp_add_header(h, "User-Agent", "geodnsd-healthcheck/" PACKAGE_VERSION) < 0) {
		snprintf(reason, len, "invalid Host header '%.200s'", host);
		evhttp_request_free(req);
		return NULL;
	}
	return req;
}

static bool http_path_valid(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *s = path; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static struct http_run *http_run_new(struct hc_probe *p, bool tls, char *reason, size_t len)
{
	struct http_run *run = calloc(1, sizeof(*run));
	if (run == NULL) {
		snprintf(reason, len, "out of memory");
		return NULL;
	}
	run->p = p;
	run->tls = tls;
	run->verify_err = X509_V_OK;
	clock_gettime(CLOCK_MONOTONIC, &run->started);
	run->finish = evtimer_new(p->base, http_finish_cb, run);
	run->bev = run->finish ? http_bev_new(run, reason, len) : NULL;
	if (run->bev == NULL)
		goto fail;
	/* The connection takes the bufferevent (and the SSL in it). */
	run->conn = evhttp_connection_base_bufferevent_new(p->base, NULL, run->bev, p->addr_text,
							   p->port);
	if (run->conn == NULL) {
		bufferevent_free(run->bev);
		snprintf(reason, len, "cannot create HTTP connection");
		goto fail;
	}
	/* The engine's timer ends a run that takes too long, and says where
	 * it stood (http_stage); libevent's, a little longer, is a backstop.
	 * Equal, either could fire first. */
	unsigned ms = http_timeout_ms(p) + 250;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evhttp_connection_set_timeout_tv(run->conn, &tv);
	evhttp_connection_set_retries(run->conn, 0);
	evhttp_connection_set_max_headers_size(run->conn, HTTP_MAX_HEADERS_SIZE);
	evhttp_connection_set_max_body_size(run->conn, HTTP_MAX_BODY_SIZE);
	evhttp_connection_set_family(run->conn, p->addr.ss_family);
	evhttp_connection_set_closecb(run->conn, http_close_cb, run);
	return run;
fail:
	if (run->finish != NULL)
		event_free(run->finish);
	free(run);
	return NULL;
}

static int http_start_kind(struct hc_probe *p, bool tls)
{
	char reason[256] = "";
	const char *path = p->params->path ? p->params->path : "/";
	struct http_run *run = NULL;
	struct evhttp_request *req;

	if (!http_path_valid(path)) {
		snprintf(reason, sizeof(reason), "invalid path '%s'", path);
		goto fail;
	}
	run = http_run_new(p, tls, reason, sizeof(reason));
	if (run == NULL)
		goto fail;
	req = http_request_new(run, reason, sizeof(reason));
	if (req == NULL)
		goto fail;
	p->kind_state = run;
	/* Failures past this point, even immediate ones, arrive through
	 * http_request_cb and complete from the event loop. */
	if (evhttp_make_request(run->conn, req, EVHTTP_REQ_GET, path) < 0) {
		snprintf(reason, sizeof(reason), "cannot send request");
		goto fail; /* evhttp freed req */
	}
	return 0;
fail:
	if (run != NULL) {
		evhttp_connection_set_closecb(run->conn, NULL, NULL);
		evhttp_connection_free(run->conn);
		event_free(run->finish);
		free(run);
	}
	p->kind_state = NULL;
	p->done(p, false, reason);
	return -1;
}

static int http_start(struct hc_probe *p)
{
	return http_start_kind(p, false);
}

static int https_start(struct hc_probe *p)
{
	return http_start_kind(p, true);
}

/* Safe in either state: evhttp_connection_free drops the queued request
 * without calling its callback, and a pending finish event is freed. */
static void http_cancel(struct hc_probe *p)
{
	struct http_run *run = p->kind_state;
	if (run == NULL)
		return;
	evhttp_connection_set_closecb(run->conn, NULL, NULL);
	evhttp_connection_free(run->conn);
	event_free(run->finish);
	free(run);
	p->kind_state = NULL;
}

const struct hc_kind_ops check_http_ops = {
	.name = "http",
	.default_port = 80,
	.start = http_start,
	.cancel = http_cancel,
	.stage = http_stage,
};

const struct hc_kind_ops check_https_ops = {
	.name = "https",
	.default_port = 443,
	.start = https_start,
	.cancel = http_cancel,
	.stage = http_stage,
};
