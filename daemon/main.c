/* main.c: command line, start-up, signals and reloads; wires the modules together. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/dataset.h"
#include "daemon/hsync.h"
#include "daemon/metrics.h"
#include "daemon/server.h"
#include "healthcheck/health.h"
#include "dns/log.h"
#include "dns/zonedb.h"

#define DEFAULT_CONFIG SYSCONFDIR "/geodnsd/geodnsd.yaml"
#define WATCH_INTERVAL_S 1	/* how often watched files are checked */

/* Reloads run on a loader thread so answering never pauses; the result
 * comes back through a pipe and is published on the event loop thread. */
struct reloader {
	const char *conf_path;
	struct server *server;
	struct health *health;
	struct metrics_counters counters;
	int pipe_rd, pipe_wr;
	struct event *done_ev;
	int running;		/* a loader thread is at work */
	int again;		/* another SIGHUP came meanwhile */
	struct event *watch_ev;
	struct file_id failed;	/* a database version that failed to load */
	unsigned long generation;
	struct timespec started;
};

static double since_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: geodnsd [-c FILE] [--check]\n"
		"Authoritative DNS server with geographic routing.\n\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -t, --check        load and validate the configuration and every\n"
		"                     zone, print problems as file:line: message,\n"
		"                     exit 1 on any error\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n\n"
		"Signals: SIGHUP reloads configuration and zones; SIGTERM and\n"
		"SIGINT stop the server.  See geodnsd(8) and docs/.\n",
		DEFAULT_CONFIG);
}

static void *reload_thread(void *arg)
{
	struct reloader *r = arg;
	struct diag d = {0};
	struct dataset *ds = dataset_load(r->conf_path, &d);
	/* The pointer travels through the pipe; NULL means it failed. */
	if (write(r->pipe_wr, &ds, sizeof(ds)) != (ssize_t)sizeof(ds))
		log_msg(LOG_LEVEL_ERR, "reload: cannot hand over result: %s",
			strerror(errno));
	return NULL;
}

static void reload_start(struct reloader *r)
{
	if (r->running) {
		r->again = 1;
		return;
	}
	pthread_t t;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	log_msg(LOG_LEVEL_INFO, "reload: loading %s and its zones", r->conf_path);
	if (pthread_create(&t, NULL, reload_thread, r) != 0) {
		log_msg(LOG_LEVEL_ERR, "reload: cannot start loader thread");
		return;
	}
	pthread_detach(t);
	r->running = 1;
}

static int listen_changed(const struct conf *a, const struct conf *b)
{
	if (a->n_listen != b->n_listen || a->tcp_max_connections != b->tcp_max_connections ||
	    a->tcp_idle_timeout_ms != b->tcp_idle_timeout_ms)
		return 1;
	for (size_t i = 0; i < a->n_listen; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
			return 1;
	return 0;
}

static void reload_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reloader *r = arg;
	struct dataset *ds = NULL;
	(void)what;
	if (read(fd, &ds, sizeof(ds)) != (ssize_t)sizeof(ds))
		return;
	r->running = 0;
	if (ds == NULL) {
		r->counters.reloads_failed++;
		log_msg(LOG_LEVEL_ERR, "reload: failed; still serving the previous "
			"configuration and zones (generation %lu)", r->generation);
	} else {
		const struct dataset *old = server_dataset(r->server);
		if (listen_changed(old->conf, ds->conf))
			log_msg(LOG_LEVEL_WARNING, "reload: listen and tcp-* settings "
				"changed; they take effect at the next restart");
		log_set_level((enum log_level)ds->conf->log_level);
		ds->generation = ++r->generation;
		size_t nz = ds->zones->n_zones;
		hsync_attach(r->health, ds);
		server_publish(r->server, ds);
		r->counters.reloads_ok++;
		log_msg(LOG_LEVEL_NOTICE, "reload: done in %.0f ms: %zu zone%s, "
			"generation %lu", since_ms(&r->started), nz,
			nz == 1 ? "" : "s", r->generation);
	}
	if (r->again) {
		r->again = 0;
		reload_start(r);
	}
}

/* geoipupdate replaces the database by renaming a new file over it: reload
 * when the file on disk is no longer the one loaded.  A version that failed
 * to load is not retried until it changes again. */
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reloader *r = arg;
	struct dataset *ds = (struct dataset *)server_dataset(r->server);
	(void)fd, (void)what;
	hsync_watch(ds);
	if (ds->conf->state_file != NULL) {
		struct file_id now;
		file_id_get(ds->conf->state_file, &now);
		if (!file_id_equal(&now, &ds->state_file_id)) {
			log_msg(LOG_LEVEL_INFO, "healthcheck: overrides file '%s' "
				"changed, reading it", ds->conf->state_file);
			ds->state_file_id = now;
			health_load_overrides(r->health, ds->conf->state_file);
		}
	}
	if (r->running || ds->conf->geo.database == NULL)
		return;
	struct file_id now;
	file_id_get(ds->conf->geo.database, &now);
	if (now.ino == 0 || file_id_equal(&now, &ds->geoip_file) ||
	    file_id_equal(&now, &r->failed))
		return;
	log_msg(LOG_LEVEL_NOTICE, "geoip: database '%s' changed on disk, reloading",
		ds->conf->geo.database);
	r->failed = now;
	reload_start(r);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct reloader *r = arg;
	if (sig == SIGHUP) {
		reload_start(r);
		return;
	}
	log_msg(LOG_LEVEL_NOTICE, "received %s, stopping",
		sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(event_get_base(r->done_ev));
}

static int parse_args(int argc, char **argv, const char **conf, int *check)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
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
	if (optind < argc) {
		fprintf(stderr, "geodnsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static int run(const char *conf_path, struct dataset *ds)
{
	struct event_base *base = event_base_new();
	if (base == NULL) {
		log_msg(LOG_LEVEL_ERR, "cannot create the event loop");
		return 1;
	}
	log_set_level((enum log_level)ds->conf->log_level);
	struct server *srv = server_new(base, ds->conf);
	if (srv == NULL) {
		dataset_free(ds);
		event_base_free(base);
		return 1;
	}
	ds->generation = 1;
	size_t nz = ds->zones->n_zones;
	struct health *health = health_new(base);
	hsync_attach(health, ds);
	server_publish(srv, ds);

	int fds[2];
	if (pipe(fds) < 0) {
		log_msg(LOG_LEVEL_ERR, "pipe: %s", strerror(errno));
		return 1;
	}
	struct reloader r = {.conf_path = conf_path, .server = srv, .health = health,
			     .pipe_rd = fds[0], .pipe_wr = fds[1], .generation = 1};
	r.done_ev = event_new(base, fds[0], EV_READ | EV_PERSIST, reload_done_cb, &r);
	event_add(r.done_ev, NULL);
	struct event *sigs[3];
	const int signums[3] = {SIGHUP, SIGTERM, SIGINT};
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(base, signums[i], signal_cb, &r);
		event_add(sigs[i], NULL);
	}
	struct metrics *metrics = NULL;
	int rc = 0;
	if (ds->conf->metrics_on &&
	    (metrics = metrics_new(base, &ds->conf->metrics, srv, health,
				   &r.counters)) == NULL)
		rc = 1;
	struct timeval every = {WATCH_INTERVAL_S, 0};
	r.watch_ev = event_new(base, -1, EV_PERSIST, watch_cb, &r);
	event_add(r.watch_ev, &every);
	signal(SIGPIPE, SIG_IGN);

	size_t n_targets, n_up;
	health_count(health, &n_targets, &n_up);
	log_msg(LOG_LEVEL_NOTICE, "geodnsd %s ready: %zu zone%s, %zu health "
		"target%s", PACKAGE_VERSION, nz, nz == 1 ? "" : "s", n_targets,
		n_targets == 1 ? "" : "s");
	if (rc == 0)
		event_base_dispatch(base);

	/* A reload still running owns its own result; let it finish first. */
	while (r.running) {
		struct dataset *late = NULL;
		if (read(fds[0], &late, sizeof(late)) == (ssize_t)sizeof(late)) {
			dataset_free(late);
			r.running = 0;
		}
	}
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(r.done_ev);
	event_free(r.watch_ev);
	close(fds[0]);
	close(fds[1]);
	metrics_free(metrics);
	server_free(srv);
	health_free(health);
	event_base_free(base);
	log_msg(LOG_LEVEL_NOTICE, "stopped");
	return rc;
}

int main(int argc, char **argv)
{
	const char *conf_path = DEFAULT_CONFIG;
	int check = 0;
	if (parse_args(argc, argv, &conf_path, &check) < 0)
		return 2;

	struct diag d = {.print = check};
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct dataset *ds = dataset_load(conf_path, &d);
	if (check) {
		if (ds != NULL)
			printf("%s: OK, %zu zone%s, %u warning%s\n", conf_path,
			       ds->zones->n_zones, ds->zones->n_zones == 1 ? "" : "s",
			       d.warnings, d.warnings == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: %u error%s\n", conf_path, d.errors,
				d.errors == 1 ? "" : "s");
		int ok = ds != NULL;
		dataset_free(ds);
		return ok ? 0 : 1;
	}
	if (ds == NULL) {
		log_msg(LOG_LEVEL_ERR, "cannot start: %u error%s in the configuration "
			"or zones", d.errors, d.errors == 1 ? "" : "s");
		return 1;
	}
	log_msg(LOG_LEVEL_INFO, "loaded %s in %.0f ms", conf_path, since_ms(&t0));
	return run(conf_path, ds);
}
