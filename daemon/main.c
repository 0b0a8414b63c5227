/* main.c: command line, start-up, signals and reloads; wires the modules together. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/dataset.h"
#include "daemon/hsync.h"
#include "daemon/metrics.h"
#include "daemon/privdrop.h"
#include "daemon/querylog.h"
#include "daemon/sdnotify.h"
#include "daemon/server.h"
#include "daemon/udp.h"
#include "healthcheck/health.h"
#include "dns/cookie.h"
#include "dns/log.h"
#include "dns/rrl.h"
#include "dns/xalloc.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "geo/geo.h"

#define DEFAULT_CONFIG   SYSCONFDIR "/geodnsd/geodnsd.yaml"
#define WATCH_INTERVAL_S 1 /* how often watched files are checked */

/* Reloads run on a loader thread so answering never pauses; the result
 * comes back through a pipe and is published on the event loop thread. */
struct reloader {
	const char *conf_path;
	struct server *server;
	struct health *health;
	struct metrics_counters counters;
	int pipe_rd, pipe_wr;
	struct event *done_ev;
	int running; /* a loader thread is at work */
	int again;   /* another SIGHUP came meanwhile */
	/* The running load reads only the GeoIP database again, under the
	 * live dataset's configuration and zones (base); a whole reload may
	 * keep base's database (dataset_load). */
	bool geo_only;
	const struct dataset *base;
	struct event *watch_ev;
	struct file_id failed; /* a database version that failed to load */
	unsigned long generation;
	struct timespec started;
	bool query_log;   /* the query log is on (SIGUSR1 flips it) */
	char status[160]; /* the last STATUS= sent to systemd */
	struct rrl_log {
		uint64_t dropped, slipped;      /* the totals at the last tick */
		uint64_t n_dropped, n_slipped;  /* since the last line */
		double since, line_at, last_at; /* seconds (CLOCK_MONOTONIC) */
		bool active;
	} rrl;
	const struct conf *boot; /* the configuration the process started with */
};

static double since_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: geodnsd [-c FILE] [--check | --check-reload | --state-file |\n"
		"                          --check-overrides FILE]\n"
		"Authoritative DNS server with geographic routing.\n\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -t, --check        load and validate the configuration and every\n"
		"                     zone, print problems as file:line: message,\n"
		"                     exit 1 on any error\n"
		"      --check-reload as --check, for a reload of a running server:\n"
		"                     a GeoIP database that does not load is a\n"
		"                     warning (the server keeps the one it has)\n"
		"      --state-file   print the overrides file the configuration\n"
		"                     names (healthcheck: state-file); exit 1 when\n"
		"                     it names none\n"
		"      --check-overrides OVERRIDES\n"
		"                     check an overrides file against the\n"
		"                     configuration's datacenters and addresses,\n"
		"                     exit 1 on any error or unknown name\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n\n"
		"Signals: SIGHUP reloads configuration and zones; SIGUSR1 turns\n"
		"the query log on or off; SIGTERM and SIGINT stop the server;\n"
		"SIGUSR2 is ignored.\n"
		"Serving, it exits 0 when stopped, 78 (EX_CONFIG) when the\n"
		"configuration or a zone does not load, and 1 on other start-up\n"
		"failures (a socket that cannot be bound).\n"
		"See geodnsd(8) and geodnsd.yaml(5).\n",
		DEFAULT_CONFIG);
}

/* "serving 2 zones, 6 targets up of 6": what systemctl status shows. */
static void status_text(struct reloader *r, char *buf, size_t size)
{
	size_t nz = server_dataset(r->server)->zones->n_zones, nt, up;
	health_count(r->health, &nt, &up);
	int n = snprintf(buf, size, "serving %zu zone%s", nz, nz == 1 ? "" : "s");
	if (nt > 0 && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ", %zu target%s up of %zu", up,
			      up == 1 ? "" : "s", nt);
	if (r->query_log && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", query log on");
}

/* Tell systemd the status when it changed. */
static void status_update(struct reloader *r)
{
	char now[sizeof(r->status)];
	status_text(r, now, sizeof(now));
	if (strcmp(now, r->status) == 0)
		return;
	memcpy(r->status, now, sizeof(now));
	sdnotify_status(now);
}

/* READY=1 after start-up and after each reload, with the status. */
static void status_ready(struct reloader *r)
{
	status_text(r, r->status, sizeof(r->status));
	sdnotify_ready(r->status);
}

static void *reload_thread(void *arg)
{
	struct reloader *r = arg;
	struct diag d = { 0 };
	struct dataset *ds = r->geo_only ? dataset_new_geo(r->base, &d)
					 : dataset_load(r->conf_path, r->base, false, &d);
	/* The pointer travels through the pipe; NULL means it failed. */
	if (write(r->pipe_wr, &ds, sizeof(ds)) != (ssize_t)sizeof(ds))
		log_msg(LOG_LEVEL_ERR, "reload: cannot hand over result: %s", strerror(errno));
	return NULL;
}

/* A whole reload (geo_only false) or a new GeoIP database alone.  The live
 * dataset stays live while the loader thread runs: only reload_done_cb
 * replaces it, and one load runs at a time. */
static void load_start(struct reloader *r, bool geo_only)
{
	pthread_t t;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	r->geo_only = geo_only;
	r->base = server_dataset(r->server);
	if (!geo_only)
		log_msg(LOG_LEVEL_INFO, "reload: loading %s and its zones", r->conf_path);
	if (pthread_create(&t, NULL, reload_thread, r) != 0) {
		log_msg(LOG_LEVEL_ERR, "%s: cannot start loader thread",
			geo_only ? "geoip" : "reload");
		if (geo_only) /* this database version was not tried: try again */
			memset(&r->failed, 0, sizeof(r->failed));
		return;
	}
	pthread_detach(t);
	r->running = 1;
	sdnotify_reloading();
}

static void reload_start(struct reloader *r)
{
	if (r->running) {
		r->again = 1;
		return;
	}
	load_start(r, false);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The same address and port, however written ("::1@53", "[::1]", "::1"). */
static bool same_listen(const struct conf_listen *a, const struct conf_listen *b)
{
	return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static bool listen_changed(const struct conf *a, const struct conf *b)
{
	if (a->n_listen != b->n_listen)
		return true;
	for (size_t i = 0; i < a->n_listen; i++)
		if (!same_listen(&a->listen[i], &b->listen[i]))
			return true;
	return false;
}

/* A reload's file against the configuration the process started with
 * (kept for its whole life): one warning naming every setting bound at
 * start-up whose value in the file differs, whatever the reloads in
 * between said. */
static void restart_warnings(const struct conf *b, const struct conf *c)
{
	const struct {
		bool changed;
		const char *key;
	} keys[] = {
		{ listen_changed(b, c), "listen" },
		{ b->workers != c->workers, "workers" },
		{ b->freebind != c->freebind, "freebind" },
		{ b->tcp_max_connections != c->tcp_max_connections, "tcp-max-connections" },
		{ b->tcp_idle_timeout_ms != c->tcp_idle_timeout_ms, "tcp-idle-timeout" },
		{ b->cookie_secret_set != c->cookie_secret_set ||
			  memcmp(b->cookie_secret, c->cookie_secret, sizeof(b->cookie_secret)) != 0,
		  "cookie-secret" },
		{ !str_eq(b->user, c->user) || b->uid != c->uid, "user" },
		{ !str_eq(b->group, c->group) || b->gid != c->gid, "group" },
		{ b->metrics_on != c->metrics_on ||
			  (b->metrics_on && !same_listen(&b->metrics, &c->metrics)),
		  "metrics listen" },
	};
	char list[256] = "";
	size_t n = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].changed)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
					      keys[i].key);
	if (n > 0)
		log_msg(LOG_LEVEL_WARNING,
			"reload: differs from the running process in settings bound at "
			"start-up, which stay until a restart: %s",
			list);
}

static int zone_by_name(const void *a, const void *b)
{
	const struct zone *x = *(const struct zone *const *)a, *y = *(const struct zone *const *)b;
	return strcasecmp(x->name_str, y->name_str);
}

/* One line per zone whose serial the new dataset changes, adds or removes
 * (every zone at start-up, prev NULL), so the log says what is live. */
static void log_zones(const struct zonedb *prev, const struct zonedb *db)
{
	size_t n_old = prev != NULL ? prev->n_zones : 0;
	const struct zone **old = xcalloc(n_old + 1, sizeof(*old));
	for (size_t i = 0; i < n_old; i++)
		old[i] = prev->zones[i];
	qsort(old, n_old, sizeof(*old), zone_by_name);
	bool *kept = xcalloc(n_old + 1, sizeof(*kept));
	for (size_t i = 0; i < db->n_zones; i++) {
		const struct zone *z = db->zones[i];
		const struct zone **o =
			n_old ? bsearch(&z, old, n_old, sizeof(*old), zone_by_name) : NULL;
		if (o == NULL) {
			log_msg(LOG_LEVEL_INFO, "zone %s: %s serial %u, %u records", z->name_str,
				prev != NULL ? "added," : "loaded,", zone_serial(z), z->n_records);
			continue;
		}
		kept[o - old] = true;
		uint32_t was = zone_serial(*o), now = zone_serial(z);
		if (was != now)
			log_msg(LOG_LEVEL_INFO, "zone %s: serial %u -> %u, %u records", z->name_str,
				was, now, z->n_records);
		/* RFC 1982: now is older than was when the distance forward
		 * from was is 2^31 or more. */
		if (was != now && now - was >= 0x80000000u)
			log_msg(LOG_LEVEL_WARNING,
				"zone %s: serial went back from %u to %u: secondaries and "
				"monitoring that compare serials take the new data as older",
				z->name_str, was, now);
		else if (was == now && (*o)->digest != z->digest)
			log_msg(LOG_LEVEL_WARNING,
				"zone %s: content changed under the same serial %u (%u records, "
				"was %u): secondaries and monitoring that compare serials miss "
				"the change",
				z->name_str, now, z->n_records, (*o)->n_records);
	}
	for (size_t i = 0; i < n_old; i++)
		if (!kept[i])
			log_msg(LOG_LEVEL_INFO, "zone %s: removed", old[i]->name_str);
	free(kept);
	free(old);
}

/* What a newly read GeoIP database is (not one kept from the running
 * dataset): its type and build date, and a warning when no record has
 * coordinates, since then distance routing is off for every client. */
static void log_database(const struct dataset *was, const struct dataset *ds)
{
	if (ds->geo == NULL || geo_database_type(ds->geo) == NULL ||
	    (was != NULL && geo_same_database(ds->geo, was->geo)))
		return;
	time_t built = (time_t)geo_database_built(ds->geo);
	char date[32] = "?";
	struct tm tm;
	if (gmtime_r(&built, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	size_t n = geo_records(ds->geo), with = geo_records_with_coords(ds->geo);
	const char *type = geo_database_type(ds->geo);
	const char *old = was != NULL ? geo_database_type(was->geo) : NULL;
	log_msg(LOG_LEVEL_INFO,
		"geoip: database '%s': %s, built %s, %zu records, %zu with coordinates",
		ds->conf->geo.database, type, date, n, with);
	if (old != NULL && strcmp(old, type) != 0)
		log_msg(LOG_LEVEL_WARNING, "geoip: database '%s' changed type: %s, was %s",
			ds->conf->geo.database, type, old);
	if (with == 0 && ds->conf->geo.n_dcs > 1)
		log_msg(LOG_LEVEL_WARNING,
			"geoip: database '%s' has no coordinates: clients are routed by "
			"country, continent and network rules and the default order only, "
			"never by distance",
			ds->conf->geo.database);
}

/*
 * Apply what a dataset sets outside itself (logging, the query log), wire
 * it to the health registry, and make it live.  The file's query-log is
 * applied at start-up (prev NULL) and when a reload finds it changed;
 * SIGUSR1 flips the state in between, and a reload that does not touch
 * the key (or one the GeoIP database triggered) keeps it.
 */
static void publish(struct reloader *r, struct dataset *ds, const struct conf *prev)
{
	const struct conf *c = ds->conf;
	log_set_target((enum log_target)c->log_target);
	log_set_level((enum log_level)c->log_level);
	if (prev == NULL || prev->query_log != c->query_log)
		r->query_log = c->query_log;
	querylog_attach(&ds->answer.conf, r->query_log);
	const struct dataset *was = server_dataset(r->server);
	log_zones(was != NULL ? was->zones : NULL, ds->zones);
	log_database(was, ds);
	hsync_attach(r->health, ds, server_dataset(r->server));
	server_publish(r->server, ds);
	/* Targets the new configuration dropped: after the grace period no
	 * worker can still read their flags through the old dataset. */
	health_reap(r->health);
}

/* A whole reload's result (ds NULL: it failed). */
static void reload_done(struct reloader *r, struct dataset *ds)
{
	if (ds == NULL) {
		r->counters.reloads_failed++;
		r->counters.last_reload_failed = true;
		log_msg(LOG_LEVEL_ERR,
			"reload: failed; still serving the previous "
			"configuration and zones (generation %lu)",
			r->generation);
		return;
	}
	restart_warnings(r->boot, ds->conf);
	/* A newer database file that failed and was passed over: the watch
	 * need not try that version again. */
	if (ds->geoip_failed.ino != 0)
		r->failed = ds->geoip_failed;
	ds->generation = ++r->generation;
	size_t nz = ds->zones->n_zones;
	publish(r, ds, server_dataset(r->server)->conf);
	r->counters.reloads_ok++;
	r->counters.last_reload_failed = false;
	r->counters.loaded_at = (int64_t)time(NULL);
	log_msg(LOG_LEVEL_NOTICE, "reload: done in %.0f ms: %zu zone%s, generation %lu",
		since_ms(&r->started), nz, nz == 1 ? "" : "s", r->generation);
}

/* A GeoIP-only load's result (ds NULL: it failed).  Its configuration is
 * the live one's. */
static void geo_load_done(struct reloader *r, struct dataset *ds)
{
	const struct conf *conf = server_dataset(r->server)->conf;
	if (ds == NULL) {
		r->counters.geoip_loads_failed++;
		log_msg(LOG_LEVEL_ERR,
			"geoip: new database '%s' not loaded; still serving "
			"the previous one (generation %lu)",
			conf->geo.database, r->generation);
		return;
	}
	ds->generation = ++r->generation;
	publish(r, ds, conf);
	r->counters.geoip_loads_ok++;
	log_msg(LOG_LEVEL_NOTICE,
		"geoip: database '%s' loaded in %.0f ms: %zu records, generation %lu",
		ds->conf->geo.database, since_ms(&r->started), geo_records(ds->geo), r->generation);
}

static void reload_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reloader *r = arg;
	struct dataset *ds = NULL;
	(void)what;
	if (read(fd, &ds, sizeof(ds)) != (ssize_t)sizeof(ds))
		return;
	r->running = 0;
	if (r->geo_only)
		geo_load_done(r, ds);
	else
		reload_done(r, ds);
	status_ready(r);
	if (r->again) {
		r->again = 0;
		reload_start(r);
	}
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define RRL_LOG_EVERY_S 60 /* at most one "going on" line a minute */
#define RRL_QUIET_S     5  /* quiet seconds before "stopped" */

/* Rate limiting, as the log tells it (once a second, from the counters):
 * a line when it starts, one a minute while it goes on, and one when it
 * has been quiet for RRL_QUIET_S seconds.  Limiting that comes and goes
 * within that time is one run, so a client pausing now and then cannot
 * make it log more than a line a minute. */
/* The client prefixes limiting started for since the last line, for the
 * log: "; <label>: 192.0.2.0/24, 2001:db8::/56 and others", or "". */
static void limited_prefixes(struct reloader *r, const char *label, char *buf, size_t size)
{
	const struct dataset *ds = server_dataset(r->server);
	struct rrl_prefix p[5];
	bool more = false;
	size_t n = ds != NULL && ds->core->rrl != NULL
			   ? rrl_take_prefixes(ds->core->rrl, p, sizeof(p) / sizeof(p[0]), &more)
			   : 0;
	buf[0] = '\0';
	for (size_t i = 0, len = 0; i < n && len < size; i++) {
		char one[INET6_ADDRSTRLEN + 8];
		rrl_prefix_str(&p[i], one, sizeof(one));
		len += (size_t)snprintf(buf + len, size - len, "%s%s%s%s", i ? ", " : "; ",
					i ? "" : label, i ? "" : ": ", one);
	}
	if (n > 0 && more) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, " and others");
	}
}

static void rrl_log_tick(struct reloader *r)
{
	const struct answer_stats *st = server_stats(r->server);
	char who[320];
	struct rrl_log *w = &r->rrl;
	uint64_t d = st->rrl_dropped - w->dropped, s = st->rrl_slipped - w->slipped;
	w->dropped = st->rrl_dropped;
	w->slipped = st->rrl_slipped;
	double now = mono_s();
	if (d + s > 0) {
		w->last_at = now;
		if (!w->active) {
			w->active = true;
			w->since = w->line_at = now;
			w->n_dropped = w->n_slipped = 0;
			limited_prefixes(r, "client prefixes", who, sizeof(who));
			log_msg(LOG_LEVEL_NOTICE,
				"rate limiting: started: %llu responses dropped and %llu "
				"sent truncated in the last second%s",
				(unsigned long long)d, (unsigned long long)s, who);
			return;
		}
	}
	w->n_dropped += d;
	w->n_slipped += s;
	if (d + s > 0 && now - w->line_at >= RRL_LOG_EVERY_S) {
		limited_prefixes(r, "newly limited", who, sizeof(who));
		log_msg(LOG_LEVEL_NOTICE,
			"rate limiting: going on for %.0f s: %llu responses dropped and "
			"%llu sent truncated in the last %.0f s%s",
			now - w->since, (unsigned long long)w->n_dropped,
			(unsigned long long)w->n_slipped, now - w->line_at, who);
		w->line_at = now;
		w->n_dropped = w->n_slipped = 0;
	} else if (w->active && now - w->last_at >= RRL_QUIET_S - 0.5) {
		w->active = false;
		limited_prefixes(r, "newly limited", who, sizeof(who));
		log_msg(LOG_LEVEL_NOTICE,
			"rate limiting: stopped: it lasted %.0f s, none for %d s since "
			"(%llu responses dropped and %llu sent truncated since the last "
			"line%s)",
			w->last_at - w->since, RRL_QUIET_S, (unsigned long long)w->n_dropped,
			(unsigned long long)w->n_slipped, who);
	}
}

/* geoipupdate replaces the database by renaming a new file over it: load
 * it when the file on disk is no longer the one loaded, under the running
 * configuration and zones (a zone file saved but not reloaded stays
 * unpublished, and a broken one does not hold the database back).  A
 * version that failed to load is not retried until it changes again. */
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reloader *r = arg;
	struct dataset *ds = (struct dataset *)server_dataset(r->server);
	(void)fd, (void)what;
	hsync_watch(ds);
	status_update(r);
	rrl_log_tick(r);
	if (ds->conf->state_file != NULL) {
		struct file_id now;
		file_id_get(ds->conf->state_file, &now);
		if (!file_id_equal(&now, &ds->state_file_id)) {
			/* A missing file is an empty one: say what that does. */
			if (now.ino == 0)
				log_msg(LOG_LEVEL_NOTICE,
					"healthcheck: overrides file '%s' removed: every "
					"override is cleared",
					ds->conf->state_file);
			else
				log_msg(LOG_LEVEL_INFO,
					"healthcheck: overrides file '%s' "
					"changed, reading it",
					ds->conf->state_file);
			ds->state_file_id = now;
			health_load_overrides(r->health, ds->conf->state_file);
		}
	}
	if (r->running || ds->geo == NULL || ds->conf->geo.database == NULL)
		return;
	struct file_id now;
	file_id_get(ds->conf->geo.database, &now);
	/* The version loaded: its content (a chmod is no new database).  One
	 * that failed: exactly (a chmod that makes it readable retries). */
	if (now.ino == 0 || file_id_same_content(&now, &ds->geoip_file) ||
	    file_id_equal(&now, &r->failed))
		return;
	log_msg(LOG_LEVEL_NOTICE, "geoip: database '%s' changed on disk, loading it",
		ds->conf->geo.database);
	r->failed = now;
	load_start(r, true);
}

/* SIGUSR1: the live dataset's flag is the one thing that changes in it. */
static void query_log_toggle(struct reloader *r)
{
	struct dataset *ds = (struct dataset *)server_dataset(r->server);
	r->query_log = !r->query_log;
	querylog_switch(&ds->answer.conf, r->query_log);
	if (r->query_log && ds->conf->log_level < LOG_LEVEL_INFO)
		log_msg(LOG_LEVEL_WARNING, "query log: on, but log-level is "
					   "below info, so its lines are dropped");
	log_msg(LOG_LEVEL_NOTICE, "query log: %s (SIGUSR1)", r->query_log ? "on" : "off");
	status_update(r);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct reloader *r = arg;
	if (sig == SIGHUP) {
		reload_start(r);
		return;
	}
	if (sig == SIGUSR1) {
		query_log_toggle(r);
		return;
	}
	if (sig == SIGUSR2) {
		log_msg(LOG_LEVEL_NOTICE, "received SIGUSR2: ignored (SIGHUP reloads, SIGUSR1 "
					  "toggles the query log)");
		return;
	}
	log_msg(LOG_LEVEL_NOTICE, "received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sdnotify_stopping();
	event_base_loopbreak(event_get_base(r->done_ev));
}

static int parse_args(int argc, char **argv, const char **conf, int *check, const char **overrides)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "check-reload", no_argument, NULL, 'R' },
		{ "state-file", no_argument, NULL, 'S' },
		{ "check-overrides", required_argument, NULL, 'O' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*conf = optarg;
			break;
		case 't':
			*check = 1;
			break;
		case 'R':
			*check = 2;
			break;
		case 'S':
			*check = 3;
			break;
		case 'O':
			*overrides = optarg;
			break;
		case 'V':
			printf("geodnsd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (*check && *overrides != NULL) {
		fprintf(stderr, "geodnsd: --check and --check-overrides exclude each other\n");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "geodnsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

#define N_SIGNALS 5
static const int signums[N_SIGNALS] = { SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT };

/* The signals that do not stop the daemon.  Their default action would:
 * they are blocked from the start until the loop can take them, so that a
 * reload asked for while the zones load is queued, not fatal.  Every
 * thread inherits the block; exec probes start with an empty mask. */
static void operator_signals(int how)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(how, &set, NULL);
}

/* The loop's own events: reload results, signals, the file watch. */
static int events_add(struct event_base *base, struct reloader *r, struct event **sigs)
{
	int fds[2];
	if (pipe(fds) < 0) {
		log_msg(LOG_LEVEL_ERR, "pipe: %s", strerror(errno));
		return -1;
	}
	r->pipe_rd = fds[0];
	r->pipe_wr = fds[1];
	r->done_ev = event_new(base, fds[0], EV_READ | EV_PERSIST, reload_done_cb, r);
	event_add(r->done_ev, NULL);
	for (int i = 0; i < N_SIGNALS; i++) {
		sigs[i] = evsignal_new(base, signums[i], signal_cb, r);
		event_add(sigs[i], NULL);
	}
	struct timeval every = { WATCH_INTERVAL_S, 0 };
	r->watch_ev = event_new(base, -1, EV_PERSIST, watch_cb, r);
	event_add(r->watch_ev, &every);
	return 0;
}

static void events_free(struct reloader *r, struct event **sigs)
{
	/* A reload still running owns its own result; let it finish first. */
	while (r->running) {
		struct dataset *late = NULL;
		if (read(r->pipe_rd, &late, sizeof(late)) == (ssize_t)sizeof(late)) {
			dataset_free(late);
			r->running = 0;
		}
	}
	for (int i = 0; i < N_SIGNALS; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (r->done_ev != NULL)
		event_free(r->done_ev);
	if (r->watch_ev != NULL)
		event_free(r->watch_ev);
	if (r->pipe_rd >= 0) {
		close(r->pipe_rd);
		close(r->pipe_wr);
	}
}

/* Every socket is bound (DNS and metrics) and the first dataset is live:
 * give up root, then check what reloads will read as the new user. */
static int drop_privileges(const struct conf *conf)
{
	if (privdrop_apply(conf) < 0)
		return -1;
	if (geteuid() != 0)
		privdrop_check_files(conf, LOG_LEVEL_WARNING, &(unsigned){ 0 });
	return 0;
}

/* libevent's own messages (a socket error it cannot hand back, say) go
 * through our log: its level filter, syslog, journald priorities. */
static void libevent_log(int severity, const char *msg)
{
	enum log_level l = severity >= EVENT_LOG_ERR    ? LOG_LEVEL_ERR
			   : severity == EVENT_LOG_WARN ? LOG_LEVEL_WARNING
			   : severity == EVENT_LOG_MSG  ? LOG_LEVEL_INFO
							: LOG_LEVEL_DEBUG;
	log_msg(l, "libevent: %s", msg);
}

/* Descriptors beyond the TCP connections: the listening and UDP sockets,
 * the loop's own, files read at reload, the metrics server, and two for
 * each health probe (a socket, or an exec probe's pipe and process). */
static rlim_t fd_spare(const struct conf *conf)
{
	rlim_t probes = 0;
	for (size_t s = 0; s < conf->geo.n_services; s++)
		for (size_t k = 0; k < conf->geo.services[s].n_dcs; k++)
			probes += conf->geo.services[s].dcs[k].n_addrs;
	rlim_t workers = udp_workers_per_address(conf->workers);
	return 128 + 2 * probes + (workers + 1) * conf->n_listen;
}

/* Every TCP connection is a descriptor.  Raise the soft limit as far as the
 * configured cap and the spare need, within the hard one (NSD and Knot
 * raise it too).  When even that is short, fewer TCP connections are
 * taken at once, so that probes, reloads and UDP always have theirs: a
 * flood of connections must not make probes fail and move answers.
 * Returns the TCP connection cap to use. */
static unsigned fd_limit(const struct conf *conf)
{
	struct rlimit rl;
	rlim_t spare = fd_spare(conf), need = (rlim_t)conf->tcp_max_connections + spare;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return conf->tcp_max_connections;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur) {
		rlim_t to = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
		struct rlimit raised = { to, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = to;
	}
	if (rl.rlim_cur >= need)
		return conf->tcp_max_connections;
	unsigned cap = rl.rlim_cur > spare + 1 ? (unsigned)(rl.rlim_cur - spare) : 1;
	log_msg(LOG_LEVEL_WARNING,
		"tcp-max-connections %u needs about %llu file descriptors, and the limit "
		"is %llu (RLIMIT_NOFILE; systemd's LimitNOFILE=): at most %u TCP "
		"connection%s at once, keeping %llu for sockets, probes and files",
		conf->tcp_max_connections, (unsigned long long)need,
		(unsigned long long)rl.rlim_cur, cap, cap == 1 ? "" : "s",
		(unsigned long long)spare);
	return cap;
}

static int run(const char *conf_path, struct dataset *ds)
{
	if (privdrop_check(ds->conf) < 0) {
		dataset_free(ds);
		return EX_CONFIG;
	}
	event_set_log_callback(libevent_log);
	unsigned tcp_cap = fd_limit(ds->conf);
	struct event_base *base = event_base_new();
	if (base == NULL) {
		log_msg(LOG_LEVEL_ERR, "cannot create the event loop");
		dataset_free(ds);
		return 1;
	}
	struct server *srv = server_new(base, ds->conf, tcp_cap);
	if (srv == NULL) {
		dataset_free(ds);
		event_base_free(base);
		return 1;
	}
	ds->generation = 1;
	size_t nz = ds->zones->n_zones;
	/* The start-up configuration outlives its dataset: a reload is
	 * compared with it (restart_warnings), and it is what the sockets,
	 * threads, metrics listener and credentials were set up from. */
	struct conf *conf = ds->conf;
	ds->core->conf_kept = true;
	struct reloader r = { .conf_path = conf_path,
			      .server = srv,
			      .health = health_new(base),
			      .pipe_rd = -1,
			      .pipe_wr = -1,
			      .generation = 1,
			      .boot = conf };
	r.counters.loaded_at = (int64_t)time(NULL);
	publish(&r, ds, NULL);
	struct event *sigs[N_SIGNALS] = { NULL };
	struct metrics *metrics = NULL;
	int rc = events_add(base, &r, sigs) < 0 ? 1 : 0;
	if (rc == 0) /* a signal that came during start-up is taken now */
		operator_signals(SIG_UNBLOCK);
	if (rc == 0 && conf->metrics_on &&
	    (metrics = metrics_new(base, &conf->metrics, srv, r.health, &r.counters)) == NULL)
		rc = 1;
	if (rc == 0 && drop_privileges(conf) < 0)
		rc = 1;
	signal(SIGPIPE, SIG_IGN);

	if (rc == 0) {
		size_t n_targets, n_up;
		health_count(r.health, &n_targets, &n_up);
		log_msg(LOG_LEVEL_NOTICE,
			"geodnsd %s ready: %zu zone%s, %zu health "
			"target%s%s",
			PACKAGE_VERSION, nz, nz == 1 ? "" : "s", n_targets,
			n_targets == 1 ? "" : "s", r.query_log ? ", query log on" : "");
		status_ready(&r);
		event_base_dispatch(base);
	}
	events_free(&r, sigs);
	metrics_free(metrics);
	server_free(srv);
	health_free(r.health);
	event_base_free(base);
	conf_free(conf);
	log_msg(LOG_LEVEL_NOTICE, "stopped");
	return rc;
}

/* --check-overrides: the configuration alone (no zones, no GeoIP database)
 * gives the names an overrides file may use. */
static int check_overrides(const char *conf_path, const char *path)
{
	struct diag d = { .print = 1 };
	struct conf *conf;
	if (conf_load(conf_path, &conf, &d) < 0) {
		fprintf(stderr, "%s: %u error%s\n", conf_path, d.errors, d.errors == 1 ? "" : "s");
		return 1;
	}
	int rc = hsync_check_overrides(conf, path);
	conf_free(conf);
	return rc == 0 ? 0 : 1;
}

/* --state-file: where the configuration keeps its overrides, for tools
 * (geodnsd-force -c) that edit it. */
static int print_state_file(const char *conf_path)
{
	struct diag d = { .print = 1 };
	struct conf *conf;
	if (conf_load(conf_path, &conf, &d) < 0) {
		fprintf(stderr, "%s: %u error%s\n", conf_path, d.errors, d.errors == 1 ? "" : "s");
		return 1;
	}
	int rc = 0;
	if (conf->state_file != NULL)
		printf("%s\n", conf->state_file);
	else {
		fprintf(stderr, "%s: no 'healthcheck: state-file'\n", conf_path);
		rc = 1;
	}
	conf_free(conf);
	return rc;
}

int main(int argc, char **argv)
{
	/* ldns allocates and frees large scratch buffers for every record it
	 * parses; with glibc's default thresholds each one mmaps or trims the
	 * heap, which made loading a large zone 5x slower.  Keep the heap and
	 * give memory back once after each load instead (dataset_load). */
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	const char *conf_path = DEFAULT_CONFIG;
	int check = 0;
	const char *overrides = NULL;
	if (parse_args(argc, argv, &conf_path, &check, &overrides) < 0)
		return 2;
	if (overrides != NULL)
		return check_overrides(conf_path, overrides);
	if (check == 3)
		return print_state_file(conf_path);
	if (!check)
		operator_signals(SIG_BLOCK);

	struct diag d = { .print = check };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct dataset *ds = dataset_load(conf_path, NULL, check == 2, &d);
	if (check) {
		/* Run as root, the daemon reloads as its user: check as that.
		 * A file it cannot read would fail the next reload. */
		if (ds != NULL && check != 2) /* a reload does not start it */
			privdrop_check_files_without_dac(ds->conf, &d.warnings);
		if (ds != NULL)
			privdrop_check_files_as_user(ds->conf, &d.errors, &d.warnings);
		if (ds != NULL && d.errors > 0) {
			dataset_free(ds);
			ds = NULL;
		}
		if (ds != NULL)
			printf("%s: OK, %zu zone%s, %u warning%s\n", conf_path, ds->zones->n_zones,
			       ds->zones->n_zones == 1 ? "" : "s", d.warnings,
			       d.warnings == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: %u error%s\n", conf_path, d.errors,
				d.errors == 1 ? "" : "s");
		int ok = ds != NULL;
		dataset_free(ds);
		return ok ? 0 : 1;
	}
	if (ds == NULL) {
		/* EX_CONFIG: a restart would fail the same way, and the unit's
		 * RestartPreventExitStatus= says so to systemd. */
		log_msg(LOG_LEVEL_ERR,
			"cannot start: %u error%s in the configuration "
			"or zones",
			d.errors, d.errors == 1 ? "" : "s");
		return EX_CONFIG;
	}
	log_set_target((enum log_target)ds->conf->log_target);
	log_set_level((enum log_level)ds->conf->log_level);
	log_msg(LOG_LEVEL_INFO, "loaded %s in %.0f ms", conf_path, since_ms(&t0));
	/* The cookie secret is set once: changing it on a reload would
	 * invalidate every client's cookie at once (restart to rotate). */
	uint8_t secret[16];
	if (ds->conf->cookie_secret_set)
		memcpy(secret, ds->conf->cookie_secret, sizeof(secret));
	else if (cookie_random_secret(secret) < 0) {
		log_msg(LOG_LEVEL_ERR, "cannot read random bytes for the cookie secret");
		dataset_free(ds);
		return 1;
	}
	cookie_set_secret(secret);
	return run(conf_path, ds);
}
