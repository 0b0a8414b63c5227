/* answer.h: the answer engine: one query packet in, one response packet out. */
#ifndef GD_ANSWER_H
#define GD_ANSWER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct answer_log_entry;
struct rrl;
struct sockaddr;
struct zonedb;
struct zrrset;

/* Who a query is answered for: the EDNS Client Subnet when the query has a
 * usable one (RFC 7871), else the packet's source address. */
struct answer_client {
	uint8_t family;   /* 4 or 6; 0 when unknown */
	uint8_t prefix;   /* leading bits of addr that are known */
	bool ecs;         /* taken from an ECS option */
	uint8_t addr[16]; /* bits past prefix are zero */
};

/* The per-client answer for a dynamic (GEO) name. */
struct dyn_answer {
	const struct zrrset *set; /* NULL: NODATA */
	uint64_t mask;            /* bit i set: record i of set is answered */
	uint32_t ttl;
	uint8_t scope;       /* ECS scope prefix length this answer holds for */
	uint8_t rcode;       /* RCODE_SERVFAIL when the policy says so */
	int16_t service;     /* for counters: which service... */
	int16_t dc;          /* ...and datacenter answered (-1: none) */
	const char *dc_name; /* that datacenter, for the query log (NULL: none) */
};

#define ANSWER_STATS_SERVICES 64 /* services counted per datacenter */
#define ANSWER_STATS_DCS      64

/* Counters one answering thread keeps; read (racily, it is fine for
 * counters) by the metrics endpoint. */
struct answer_stats {
	uint64_t rcode[24];     /* by final rcode (BADVERS = 16) */
	uint64_t qtype[256];    /* by query type; 255 = ANY */
	uint64_t qtype_other;   /* types above 255 */
	uint64_t dropped;       /* no response sent */
	uint64_t truncated;     /* TC set */
	uint64_t tcp;           /* answered over TCP */
	uint64_t ecs;           /* queries with a valid ECS option */
	uint64_t rrl_dropped;   /* rate limited: not sent */
	uint64_t rrl_slipped;   /* rate limited: sent truncated */
	uint64_t cookies_valid; /* queries with our valid server cookie */
	uint64_t geo[ANSWER_STATS_SERVICES][ANSWER_STATS_DCS];
};

/*
 * Hooks for names whose A/AAAA answer depends on the client.  The geo
 * module provides them; dns/ stays independent of it.  A node's dyn
 * pointer is the binding passed back.
 */
struct answer_dyn {
	const void *ctx;
	void (*answer)(const void *ctx, const void *binding, uint16_t qtype,
		       const struct answer_client *c, struct dyn_answer *out);
	void (*explain)(const void *ctx, const void *binding, const struct answer_client *c,
			void (*emit)(void *arg, const char *line), void *arg);
	bool (*explain_allowed)(const void *ctx, int family, const uint8_t *addr);
};

/* Server-wide answering settings, part of the published dataset. */
struct answer_conf {
	const char *identity; /* CH TXT id.server / hostname.bind */
	const char *version;  /* CH TXT version.*; "" refuses them */
	const uint8_t *nsid;  /* RFC 5001 payload, NULL when off */
	size_t nsid_len;
	uint16_t udp_max_payload; /* largest UDP response we send */
	/* The TCP idle timeout, in the 100 ms units of RFC 7828, that a TCP
	 * answer to an edns-tcp-keepalive query carries.  The server sets it
	 * when it publishes the data: the timeout is its own. */
	uint16_t tcp_keepalive;
	struct answer_dyn dyn; /* all NULL when nothing is geo-routed */
	/* CH TXT [<service>.]status.geodnsd: health state, one line each. */
	void (*status)(const void *ctx, const char *service,
		       void (*emit)(void *arg, const char *line), void *arg);
	const void *status_ctx;
	struct rrl *rrl; /* response rate limiting (UDP), NULL: off */
	bool cookies;    /* answer DNS Cookies (RFC 7873/9018) */
	/* The query log.  log_queries is the one field that changes after the
	 * data is published: the daemon flips it at run time (SIGUSR1).  Each
	 * answer reads it with one relaxed load, and only when it is set calls
	 * log_query (which must then be non-NULL and thread-safe). */
	atomic_bool log_queries;
	void (*log_query)(const struct answer_log_entry *e);
};

/* Everything a query is answered from; immutable once published. */
struct answer_data {
	const struct zonedb *zones;
	struct answer_conf conf;
};

/* The transport a query came over: sizes and RFC 8482 ANY depend on it. */
enum answer_transport { ANSWER_UDP, ANSWER_TCP };

#define ANSWER_BUF_SIZE 65535

/* One answered query, as the query log hook sees it (valid during the
 * call only). */
struct answer_log_entry {
	const struct sockaddr *from; /* source address; NULL when unknown */
	const uint8_t *qname;        /* lowercase wire name; NULL: no question */
	uint16_t qtype, qclass;
	unsigned rcode; /* final, extended (BADVERS = 16) */
	uint16_t flags; /* header bits the answer set (AA, TC) */
	enum answer_transport tr;
	const struct answer_client *client; /* the ECS subnet when client->ecs */
	uint8_t scope;                      /* ECS scope sent back */
	size_t len;                         /* response size in octets */
	const char *dc; /* the datacenter a GEO name was answered from, or NULL */
};

struct dname_split;
struct zone;
struct znode;

/* Where a name leads inside the zone that serves it. */
struct answer_walk {
	const struct znode *node; /* deepest existing node, or the cut */
	bool exact;               /* node is the name itself */
	bool referral;            /* node is a cut above or at the name */
	bool dname;               /* node has a DNAME and is above the name
				   * (set by answer_walk() only) */
};

/* Find the zone for name (longest match; DS goes to the parent side) and
 * walk it.  Returns the zone, or NULL when no zone serves the name (then *w
 * is untouched).  Used by explain; the query path uses the same code. */
const struct zone *answer_walk(const struct answer_data *d, const struct dname_split *name,
			       uint16_t qtype, struct answer_walk *w);

/*
 * Answer the query in query[0..qlen), received from `from` (AF_INET or
 * AF_INET6; NULL when unknown), into out (capacity ANSWER_BUF_SIZE), and
 * count it in stats (the calling thread's own; NULL: not counted).
 * Returns the response length, or 0 when the packet gets no response (too
 * short for a header, or a response sent to us).  Allocates nothing; reads d
 * only, so any number of threads may answer from one dataset at once.
 */
size_t answer_query(const struct answer_data *d, const uint8_t *query, size_t qlen,
		    const struct sockaddr *from, uint8_t *out, enum answer_transport tr,
		    struct answer_stats *stats);

#endif
