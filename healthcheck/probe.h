/* probe.h: one run of a health probe, and the interface every kind of check implements. */
#ifndef GD_PROBE_H
#define GD_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

enum hc_kind {
	HC_NONE, /* not probed: always up unless forced */
	HC_TCP,
	HC_HTTP,
	HC_HTTPS,
	HC_DNS,
	HC_EXEC,
};

/* What a service's check says, from the configuration. */
struct hc_params {
	enum hc_kind kind;
	unsigned interval_ms; /* default 2000 */
	unsigned timeout_ms;  /* default 1000 */
	unsigned rise;        /* consecutive successes to go up, default 2 */
	unsigned fall;        /* consecutive failures to go down, default 3 */
	bool initial_up;      /* state before the first verdict, default up */
	uint16_t port;        /* probe port (0: the kind's default) */
	/* HTTP and HTTPS */
	char *path;  /* default "/" */
	char *host;  /* Host header; default the probed address */
	int *status; /* accepted status codes; default {200} */
	size_t n_status;
	char *expect;    /* substring the body must contain, or NULL */
	bool verify_tls; /* HTTPS: verify the certificate chain and host */
	char *ca_file;   /* HTTPS: CA bundle (default: system store) */
	/* DNS */
	char *dns_name;       /* query name, e.g. "health.example." */
	uint16_t dns_type;    /* default A */
	int dns_rcode;        /* expected rcode, default 0 */
	bool dns_want_answer; /* require ANCOUNT > 0 */
	/* exec: argv with "%a" (address) and "%p" (port) replaced */
	char **argv;
	size_t argc;
};

/*
 * One run of a probe.  The engine fills in everything above `kind_state`,
 * calls ops->start(), and waits for exactly one call to done().  If the
 * timeout passes first, the engine calls ops->cancel() and reports the
 * timeout itself; after cancel a kind must not call done() and must have
 * released everything it holds (sockets, connections, child processes are
 * killed and reaped).
 */
struct hc_probe {
	struct event_base *base;
	const struct hc_params *params;
	struct sockaddr_storage addr; /* where to probe, port included */
	socklen_t addr_len;
	char addr_text[64]; /* "192.0.2.10" / "2001:db8::1" */
	uint16_t port;      /* the port in addr */
	/* Report the verdict.  reason is what an operator reads in logs and
	 * status: "connect refused", "HTTP 503", "exit 2", "body lacks 'ok'".
	 * May be called from within start() for immediate failures. */
	void (*done)(struct hc_probe *p, bool ok, const char *reason);
	void *owner;      /* the engine's */
	void *kind_state; /* the kind's own, NULL when idle */
};

/* A kind of check: check_tcp.c, check_http.c, check_dns.c, check_exec.c. */
struct hc_kind_ops {
	const char *name; /* "tcp", "http", ... */
	uint16_t default_port;
	/* Start a run.  Returns 0, or -1 after calling done() with a reason. */
	int (*start)(struct hc_probe *p);
	/* Abandon a run in progress (timeout, shutdown, reload). */
	void (*cancel)(struct hc_probe *p);
	/* Where a run in progress stands, for a timeout's reason ("while
	 * connecting"); NULL when the kind cannot tell. */
	const char *(*stage)(const struct hc_probe *p);
};

extern const struct hc_kind_ops check_tcp_ops;
extern const struct hc_kind_ops check_http_ops;
extern const struct hc_kind_ops check_https_ops;
extern const struct hc_kind_ops check_dns_ops;
extern const struct hc_kind_ops check_exec_ops;

/* The ops for a kind, or NULL for HC_NONE. */
const struct hc_kind_ops *hc_kind_ops(enum hc_kind kind);

/* Free what params holds (not the struct); NULL is a no-op. */
void hc_params_clear(struct hc_params *p);

#endif
