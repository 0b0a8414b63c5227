/* metrics.h: the HTTP endpoint: /metrics (Prometheus text) and /status (JSON). */
#ifndef GD_METRICS_H
#define GD_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct conf_listen;
struct event_base;
struct health;
struct metrics;
struct server;

/* Counters the daemon keeps outside the answer path. */
struct metrics_counters {
	uint64_t reloads_ok; /* SIGHUP: configuration, zones and database */
	uint64_t reloads_failed;
	uint64_t geoip_loads_ok; /* a replaced GeoIP database, loaded alone */
	uint64_t geoip_loads_failed;
	bool last_reload_failed; /* the latest SIGHUP reload failed */
	int64_t loaded_at;       /* wall clock (s) of the start-up load or the
				   * latest successful reload */
};

/*
 * Serve /metrics and /status on listen with libevent's evhttp, reading the
 * live dataset and counters of server, the targets of health, and c.
 * Start-up only: returns NULL after logging why it cannot listen.
 */
struct metrics *metrics_new(struct event_base *base, const struct conf_listen *listen,
			    struct server *server, struct health *health,
			    const struct metrics_counters *c);

/* Stop serving and free; NULL is a no-op. */
void metrics_free(struct metrics *m);

#endif
