/* conf.h: the YAML configuration file (geodnsd.yaml), parsed with libyaml. */
#ifndef GD_CONF_H
#define GD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dns/log.h"
#include "geo/geo.h"

#define CONF_DEFAULT_PORT                53
#define CONF_DEFAULT_UDP_MAX_PAYLOAD     1232
#define CONF_DEFAULT_TCP_MAX_CONNECTIONS 256
#define CONF_DEFAULT_TCP_IDLE_TIMEOUT_MS 10000
#define CONF_NSID_MAX                    128

/* One listening address: UDP and TCP are both opened on it. */
struct conf_listen {
	char *text;                   /* as written, e.g. "127.0.0.1@5353" */
	struct sockaddr_storage addr; /* AF_INET or AF_INET6, port set */
	socklen_t addr_len;
	unsigned line; /* line in the config file */
	bool freebind; /* server: freebind: bind before the address exists */
};

/* One served zone. */
struct conf_zone {
	char *name;         /* as written, e.g. "example.com" (no trailing dot needed) */
	char *file;         /* path; relative paths are resolved against the directory
			 * of the config file, so this is what fopen() takes */
	unsigned line;      /* line of the zone's entry in the config file */
	unsigned file_line; /* line of its 'file' key: where the file is named */
};

struct conf {
	char *path; /* the config file as given */
	struct conf_listen *listen;
	size_t n_listen;
	char *identity;                /* id.server / hostname.bind; default gethostname() */
	char *version;                 /* version.bind / version.server; default
				 * "geodnsd " PACKAGE_VERSION; "" = refuse */
	uint8_t nsid[CONF_NSID_MAX];   /* RFC 5001 NSID payload */
	size_t nsid_len;               /* 0 = NSID not configured */
	uint16_t udp_max_payload;      /* 512..4096, default 1232 */
	unsigned tcp_max_connections;  /* >= 1, default 256 */
	unsigned tcp_idle_timeout_ms;  /* default 10000 */
	unsigned workers;              /* UDP threads; 0 = one per CPU */
	bool freebind;                 /* listen on addresses not (yet) configured */
	int log_level;                 /* enum log_level, default LOG_LEVEL_INFO */
	int log_target;                /* enum log_target, default stderr */
	bool query_log;                /* log every answered query */
	bool cookies;                  /* DNS Cookies, default on */
	uint8_t cookie_secret[16];     /* RFC 9018 server secret... */
	bool cookie_secret_set;        /* ...when configured (else random) */
	unsigned rate_limit;           /* responses/s per bucket, 0: off */
	unsigned rate_limit_slip;      /* every Nth limited one slips, default 2 */
	unsigned rate_limit_v4_prefix; /* default 24 */
	unsigned rate_limit_v6_prefix; /* default 56 */
	char *user;                    /* run as this user after binding; NULL:
					 * keep the starting user */
	char *group;                   /* and this group; NULL: user's group */
	unsigned group_line;           /* where 'group' is set */
	uid_t uid;                     /* user, resolved when loaded */
	gid_t gid;                     /* group, or the user's primary group */
	struct conf_zone *zones;
	size_t n_zones;
	struct geo_conf geo;        /* geoip, datacenters, services, routing */
	char *state_file;           /* healthcheck overrides, NULL: none */
	struct conf_listen metrics; /* HTTP /metrics and /status */
	bool metrics_on;            /* metrics.listen given */
};

/*
 * Load and validate the configuration file at path.  Every problem is
 * reported to d as "path:line: message" (unknown key, wrong type, bad value,
 * missing required key, YAML syntax error, unreadable file).  Returns 0 and
 * sets *out (caller frees with conf_free), or -1 after reporting at least one
 * error (nothing allocated is left behind, *out untouched).
 */
int conf_load(const char *path, struct conf **out, struct diag *d);

/* Free a configuration; conf_free(NULL) is a no-op. */
void conf_free(struct conf *conf);

#endif
