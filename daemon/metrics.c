/* metrics.c: Prometheus /metrics and JSON /status over evhttp. */
#include "config.h"

#include "daemon/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/acceptguard.h"
#include "daemon/conf.h"
#include "daemon/dataset.h"
#include "daemon/server.h"
#include "dns/answer.h"
#include "dns/log.h"
#include "dns/zonedb.h"
#include "dns/ztree.h"
#include "dns/xalloc.h"
#include "geo/geo.h"
#include "healthcheck/health.h"

/* Append a string literal (its length known at compile time). */
#define ADD(b, lit) evbuffer_add((b), (lit), sizeof(lit) - 1)

struct metrics {
	struct evhttp *http;
	struct accept_guard *guard;
	struct server *server;
	struct health *health;
	const struct metrics_counters *c;
};

static const char
	*const RCODES[24] = {
		"NOERROR", "FORMERR",  "SERVFAIL",         "NXDOMAIN", "NOTIMP",
		"REFUSED", "YXDOMAIN", "YXRRSET",          "NXRRSET",  "NOTAUTH",
		"NOTZONE", "RCODE11",  "RCODE12",          "RCODE13",  "RCODE14",
		"RCODE15", "BADVERS",  [23] = "BADCOOKIE", /* geodnsd sends no other rcode above BADVERS */
	};

/* Label values are quoted: escape backslash, quote and newline. */
static void label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			ADD(b, "\\n");
		else
			evbuffer_add(b, s, 1);
	}
}

static void head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with result="ok" and result="failed". */
static void results(struct evbuffer *b, const char *name, const char *help, uint64_t ok,
		    uint64_t failed)
{
	head(b, name, "counter", help);
	evbuffer_add_printf(b, "%s{result=\"ok\"} %llu\n%s{result=\"failed\"} %llu\n", name,
			    (unsigned long long)ok, name, (unsigned long long)failed);
}

static void query_metrics(struct evbuffer *b, const struct answer_stats *st)
{
	head(b, "geodnsd_responses_total", "counter", "Responses sent, by rcode.");
	/* Every rcode geodnsd sends is shown from the start, at 0, so that
	 * rate() and alerts on SERVFAIL or FORMERR see a series before the
	 * first one; the others only once counted. */
	for (int i = 0; i < 24; i++)
		if (st->rcode[i] != 0 || i <= 6 || i == 16 || i == 23)
			evbuffer_add_printf(b, "geodnsd_responses_total{rcode=\"%s\"} %llu\n",
					    RCODES[i] ? RCODES[i] : "OTHER",
					    (unsigned long long)st->rcode[i]);
	head(b, "geodnsd_queries_total", "counter", "Queries answered, by query type.");
	for (int t = 0; t < 256; t++) {
		if (st->qtype[t] == 0)
			continue;
		/* ldns describes record types; the query-only ones (RFC 1035
		 * 3.2.3, RFC 1995) are named here. */
		static const char *const meta[] = { [251] = "IXFR",
						    [252] = "AXFR",
						    [253] = "MAILB",
						    [254] = "MAILA",
						    [255] = "ANY" };
		const ldns_rr_descriptor *d = ldns_rr_descript((uint16_t)t);
		char name[16];
		if (t >= 251)
			snprintf(name, sizeof(name), "%s", meta[t]);
		else if (d != NULL && d->_name != NULL)
			snprintf(name, sizeof(name), "%s", d->_name);
		else
			snprintf(name, sizeof(name), "TYPE%d", t);
		evbuffer_add_printf(b, "geodnsd_queries_total{qtype=\"%s\"} %llu\n", name,
				    (unsigned long long)st->qtype[t]);
	}
	if (st->qtype_other)
		evbuffer_add_printf(b, "geodnsd_queries_total{qtype=\"OTHER\"} %llu\n",
				    (unsigned long long)st->qtype_other);
	head(b, "geodnsd_dropped_total", "counter", "Packets not answered (responses, runts).");
	evbuffer_add_printf(b, "geodnsd_dropped_total %llu\n", (unsigned long long)st->dropped);
	head(b, "geodnsd_truncated_total", "counter", "Responses with TC set.");
	evbuffer_add_printf(b, "geodnsd_truncated_total %llu\n", (unsigned long long)st->truncated);
	head(b, "geodnsd_tcp_queries_total", "counter", "Queries answered over TCP.");
	evbuffer_add_printf(b, "geodnsd_tcp_queries_total %llu\n", (unsigned long long)st->tcp);
	head(b, "geodnsd_ecs_queries_total", "counter", "Queries with an EDNS Client Subnet.");
	evbuffer_add_printf(b, "geodnsd_ecs_queries_total %llu\n", (unsigned long long)st->ecs);
	head(b, "geodnsd_rrl_dropped_total", "counter", "Responses dropped by rate limiting.");
	evbuffer_add_printf(b, "geodnsd_rrl_dropped_total %llu\n",
			    (unsigned long long)st->rrl_dropped);
	head(b, "geodnsd_rrl_slipped_total", "counter",
	     "Responses sent truncated by rate limiting.");
	evbuffer_add_printf(b, "geodnsd_rrl_slipped_total %llu\n",
			    (unsigned long long)st->rrl_slipped);
	head(b, "geodnsd_cookies_valid_total", "counter", "Queries with a valid server cookie.");
	evbuffer_add_printf(b, "geodnsd_cookies_valid_total %llu\n",
			    (unsigned long long)st->cookies_valid);
}

static void geo_metrics(struct evbuffer *b, const struct dataset *ds, const struct answer_stats *st)
{
	if (ds->geo == NULL)
		return;
	const struct geo_conf *gc = geo_conf_of(ds->geo);
	head(b, "geodnsd_geo_answers_total", "counter",
	     "Geo answers by service and datacenter (kept across reloads, by name).");
	for (size_t s = 0; s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		int ss = geo_stat_slot_service(ds->geo, s);
		for (size_t k = 0; k < svc->n_dcs; k++) {
			unsigned dc = svc->dcs[k].dc;
			int dc_slot = geo_stat_slot_dc(ds->geo, dc);
			uint64_t n = 0;
			if (ss >= 0 && ss < ANSWER_STATS_SERVICES && dc_slot >= 0 &&
			    dc_slot < ANSWER_STATS_DCS)
				n = st->geo[ss][dc_slot];
			ADD(b, "geodnsd_geo_answers_total{service=\"");
			label(b, svc->name);
			evbuffer_add_printf(b, "\",datacenter=\"%s\"} %llu\n", gc->dcs[dc].name,
					    (unsigned long long)n);
		}
	}
	head(b, "geodnsd_datacenter_up", "gauge",
	     "1 when the datacenter is up for the service (overrides applied).");
	for (size_t s = 0; s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		bool up[GEO_DC_MAX];
		unsigned n_up[GEO_DC_MAX], total[GEO_DC_MAX];
		geo_service_health(ds->geo, s, up, n_up, total, GEO_DC_MAX);
		for (size_t k = 0; k < svc->n_dcs; k++) {
			ADD(b, "geodnsd_datacenter_up{service=\"");
			label(b, svc->name);
			evbuffer_add_printf(b, "\",datacenter=\"%s\"} %d\n",
					    gc->dcs[svc->dcs[k].dc].name, up[k] ? 1 : 0);
		}
	}
	head(b, "geodnsd_service_all_down", "gauge",
	     "1 when no datacenter of the service is up: its all-down policy answers.");
	for (size_t s = 0; s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		bool up[GEO_DC_MAX];
		unsigned n_up[GEO_DC_MAX], total[GEO_DC_MAX];
		bool down = geo_service_health(ds->geo, s, up, n_up, total, GEO_DC_MAX);
		ADD(b, "geodnsd_service_all_down{service=\"");
		label(b, svc->name);
		evbuffer_add_printf(b, "\",policy=\"%s\"} %d\n",
				    svc->all_down == GEO_ALL_DOWN_SERVFAIL      ? "servfail"
				    : svc->all_down == GEO_ALL_DOWN_LAST_RESORT ? "last-resort"
										: "fail-open",
				    down ? 1 : 0);
	}
}

static void target_labels(struct evbuffer *b, const struct hc_info *i)
{
	ADD(b, "{service=\"");
	label(b, i->service);
	ADD(b, "\",datacenter=\"");
	label(b, i->dc);
	ADD(b, "\",address=\"");
	label(b, i->address);
	ADD(b, "\"}");
}

struct walk {
	struct evbuffer *b;
	int pass;
	bool first;
};

static void target_metric(void *arg, const struct hc_info *i)
{
	struct walk *w = arg;
	static const char *const names[] = { "geodnsd_target_up",
					     "geodnsd_probe_ok_total",
					     "geodnsd_probe_failed_total",
					     "geodnsd_probe_duration_seconds_sum",
					     "geodnsd_probe_duration_seconds_count",
					     "geodnsd_target_forced" };
	evbuffer_add_printf(w->b, "%s", names[w->pass]);
	target_labels(w->b, i);
	switch (w->pass) {
	case 0:
		evbuffer_add_printf(w->b, " %d\n", i->up ? 1 : 0);
		break;
	case 1:
		evbuffer_add_printf(w->b, " %llu\n", i->n_ok);
		break;
	case 2:
		evbuffer_add_printf(w->b, " %llu\n", i->n_fail);
		break;
	case 3:
		evbuffer_add_printf(w->b, " %.6f\n", i->total_ms / 1000.0);
		break;
	case 4:
		evbuffer_add_printf(w->b, " %llu\n", i->n_ok + i->n_fail);
		break;
	default:
		evbuffer_add_printf(w->b, " %d\n", (int)i->force);
		break;
	}
}

static void health_metrics(struct evbuffer *b, struct health *h)
{
	static const char *const what[][2] = {
		{ "gauge", "1 when the target is up (overrides applied, its datacenter's too)." },
		{ "counter", "Probes that succeeded." },
		{ "counter", "Probes that failed (including timeouts)." },
		{ "counter", "Total time spent in probes, in seconds." },
		{ "counter", "Probes run (with _sum: the mean probe duration)." },
		{ "gauge", "Operator override in force (its datacenter's, else its own): 0 none, 1 "
			   "forced up, 2 forced down." },
	};
	static const char *const names[] = { "geodnsd_target_up",
					     "geodnsd_probe_ok_total",
					     "geodnsd_probe_failed_total",
					     "geodnsd_probe_duration_seconds_sum",
					     "geodnsd_probe_duration_seconds_count",
					     "geodnsd_target_forced" };
	for (int pass = 0; pass < 6; pass++) {
		struct walk w = { .b = b, .pass = pass };
		head(b, names[pass], what[pass][0], what[pass][1]);
		health_each(h, target_metric, &w);
	}
}

static void count_unmatched(void *arg, const char *path, const struct hc_unmatched *u)
{
	(void)path, (void)u;
	(*(unsigned *)arg)++;
}

/* Each zone's serial and record count, as served. */
static void zone_metrics(struct evbuffer *b, const struct dataset *ds)
{
	head(b, "geodnsd_zone_serial", "gauge", "SOA serial of each zone served.");
	for (size_t i = 0; i < ds->zones->n_zones; i++) {
		ADD(b, "geodnsd_zone_serial{zone=\"");
		label(b, ds->zones->zones[i]->name_str);
		evbuffer_add_printf(b, "\"} %u\n", zone_serial(ds->zones->zones[i]));
	}
	head(b, "geodnsd_zone_records", "gauge", "Records of each zone served.");
	for (size_t i = 0; i < ds->zones->n_zones; i++) {
		ADD(b, "geodnsd_zone_records{zone=\"");
		label(b, ds->zones->zones[i]->name_str);
		evbuffer_add_printf(b, "\"} %u\n", ds->zones->zones[i]->n_records);
	}
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *b = evbuffer_new();
	const struct dataset *ds = server_dataset(m->server);
	const struct answer_stats *st = server_stats(m->server);
	query_metrics(b, st);
	geo_metrics(b, ds, st);
	health_metrics(b, m->health);
	unsigned unmatched = 0;
	health_each_unmatched(m->health, count_unmatched, &unmatched);
	head(b, "geodnsd_overrides_ignored", "gauge",
	     "Lines of the overrides file that name no configured datacenter or address.");
	evbuffer_add_printf(b, "geodnsd_overrides_ignored %u\n", unmatched);
	char why[320];
	time_t since;
	head(b, "geodnsd_overrides_rejected", "gauge",
	     "1 when the overrides file's last read failed (the overrides before it stay).");
	evbuffer_add_printf(b, "geodnsd_overrides_rejected %d\n",
			    health_overrides_rejected(m->health, why, sizeof(why), &since) ? 1 : 0);
	results(b, "geodnsd_reloads_total", "Reloads, by result.", m->c->reloads_ok,
		m->c->reloads_failed);
	results(b, "geodnsd_geoip_loads_total",
		"GeoIP databases loaded alone after their file was replaced, by result.",
		m->c->geoip_loads_ok, m->c->geoip_loads_failed);
	head(b, "geodnsd_reload_last_failed", "gauge",
	     "1 when the latest reload failed (the data before it is served).");
	evbuffer_add_printf(b, "geodnsd_reload_last_failed %d\n", m->c->last_reload_failed);
	head(b, "geodnsd_reload_last_success_timestamp_seconds", "gauge",
	     "When the configuration and zones served were loaded (start-up or reload).");
	evbuffer_add_printf(b, "geodnsd_reload_last_success_timestamp_seconds %lld\n",
			    (long long)m->c->loaded_at);
	zone_metrics(b, ds);
	head(b, "geodnsd_dataset_generation", "gauge",
	     "Datasets published: the start-up load, reloads and GeoIP loads.");
	evbuffer_add_printf(b, "geodnsd_dataset_generation %lu\n", ds->generation);
	if (geo_database_type(ds->geo) != NULL) {
		head(b, "geodnsd_geoip_build_timestamp_seconds", "gauge",
		     "Build time of the GeoIP database in use (its metadata).");
		evbuffer_add_printf(b, "geodnsd_geoip_build_timestamp_seconds %llu\n",
				    (unsigned long long)geo_database_built(ds->geo));
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* Octets of the well-formed UTF-8 sequence at s (RFC 3629 4), 0 if none. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n = c >= 0xC2 && c <= 0xDF   ? 2
		   : c >= 0xE0 && c <= 0xEF ? 3
		   : c >= 0xF0 && c <= 0xF4 ? 4
					    : 0;
	if (n == 0)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0; /* also stops at the terminating NUL */
	if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
	    (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
		return 0; /* overlong, surrogate, past U+10FFFF */
	return n;
}

/* JSON strings: escape quote, backslash and control characters.  JSON is
 * UTF-8 (RFC 8259 8.1): an octet that is not part of a well-formed
 * sequence (a probe's output, or a reason cut in the middle of a
 * character) becomes U+FFFD, so that a parser never rejects the whole
 * document. */
static void jstr(struct evbuffer *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	ADD(b, "\"");
	while (*s != '\0') {
		unsigned char c = *s;
		size_t n;
		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else if (c < 0x80)
			evbuffer_add(b, s, 1);
		else if ((n = utf8_len(s)) > 0) {
			evbuffer_add(b, s, n);
			s += n;
			continue;
		} else
			ADD(b, "\\ufffd");
		s++;
	}
	ADD(b, "\"");
}

static void target_json(void *arg, const struct hc_info *i)
{
	struct walk *w = arg;
	struct evbuffer *b = w->b;
	static const char *const force[] = { "none", "up", "down" };
	evbuffer_add_printf(b, "%s{\"service\":", w->first ? "" : ",");
	w->first = false;
	jstr(b, i->service);
	ADD(b, ",\"datacenter\":");
	jstr(b, i->dc);
	ADD(b, ",\"address\":");
	jstr(b, i->address);
	ADD(b, ",\"label\":");
	jstr(b, i->label);
	evbuffer_add_printf(b,
			    ",\"up\":%s,\"probes_say_up\":%s,\"forced\":\"%s\","
			    "\"forced_reason\":",
			    i->up ? "true" : "false", i->probed_up ? "true" : "false",
			    force[i->force]);
	jstr(b, i->force_reason);
	evbuffer_add_printf(b, ",\"forced_by\":%s",
			    i->force == HC_FORCE_NONE ? "null"
			    : i->force_by_dc          ? "\"datacenter\""
						      : "\"address\"");
	evbuffer_add_printf(b,
			    ",\"since\":%lld,\"last_ok\":%s,\"last_reason\":", (long long)i->since,
			    i->have_result ? (i->last_ok ? "true" : "false") : "null");
	jstr(b, i->last_reason);
	evbuffer_add_printf(b,
			    ",\"last_ms\":%.3f,\"ok_streak\":%u,\"fail_streak\":%u,"
			    "\"probes_ok\":%llu,\"probes_failed\":%llu}",
			    i->last_ms, i->ok_streak, i->fail_streak, i->n_ok, i->n_fail);
}

static void services_json(struct evbuffer *b, const struct dataset *ds)
{
	ADD(b, "\"services\":[");
	const struct geo_conf *gc = ds->geo ? geo_conf_of(ds->geo) : NULL;
	for (size_t s = 0; gc != NULL && s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		bool up[GEO_DC_MAX];
		unsigned n_up[GEO_DC_MAX], total[GEO_DC_MAX];
		geo_service_health(ds->geo, s, up, n_up, total, GEO_DC_MAX);
		evbuffer_add_printf(b, "%s{\"name\":", s ? "," : "");
		jstr(b, svc->name);
		ADD(b, ",\"datacenters\":[");
		for (size_t k = 0; k < svc->n_dcs; k++)
			evbuffer_add_printf(b,
					    "%s{\"name\":\"%s\",\"up\":%s,\"addresses_up\":%u,"
					    "\"addresses\":%u}",
					    k ? "," : "", gc->dcs[svc->dcs[k].dc].name,
					    up[k] ? "true" : "false", n_up[k], total[k]);
		ADD(b, "]}");
	}
	ADD(b, "]");
}

static void unmatched_json(void *arg, const char *path, const struct hc_unmatched *u)
{
	struct walk *w = arg;
	struct evbuffer *b = w->b;
	evbuffer_add_printf(b, "%s{\"file\":", w->first ? "" : ",");
	w->first = false;
	jstr(b, path);
	evbuffer_add_printf(b, ",\"line\":%u,\"kind\":\"%s\",\"name\":", u->line,
			    u->is_dc ? "datacenter" : "address");
	jstr(b, u->name);
	ADD(b, ",\"problem\":");
	jstr(b, u->problem);
	ADD(b, "}");
}

static void status_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *b = evbuffer_new();
	const struct dataset *ds = server_dataset(m->server);
	evbuffer_add_printf(b, "{\"version\":\"%s\",\"generation\":%lu,", PACKAGE_VERSION,
			    ds->generation);
	services_json(b, ds);
	ADD(b, ",\"targets\":[");
	struct walk w = { .b = b, .first = true };
	health_each(m->health, target_json, &w);
	ADD(b, "],\"overrides_ignored\":[");
	w.first = true;
	health_each_unmatched(m->health, unmatched_json, &w);
	char why[320];
	time_t since;
	if (health_overrides_rejected(m->health, why, sizeof(why), &since)) {
		ADD(b, "],\"overrides_rejected\":{\"error\":");
		jstr(b, why);
		evbuffer_add_printf(b, ",\"since\":%lld}}\n", (long long)since);
	} else {
		ADD(b, "],\"overrides_rejected\":null}\n");
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

struct metrics *metrics_new(struct event_base *base, const struct conf_listen *listen,
			    struct server *server, struct health *health,
			    const struct metrics_counters *c)
{
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	if (listen->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&listen->addr;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&listen->addr;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	}
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->http = evhttp_new(base);
	m->server = server;
	m->health = health;
	m->c = c;
	errno = 0;
	struct evhttp_bound_socket *bound = NULL;
	if (m->http == NULL ||
	    (bound = evhttp_bind_socket_with_handle(m->http, host, port)) == NULL) {
		log_msg(LOG_LEVEL_ERR, "metrics: cannot listen on %s: %s", listen->text,
			errno != 0 ? strerror(errno) : "cannot set up the HTTP server");
		metrics_free(m);
		return NULL;
	}
	char what[96];
	snprintf(what, sizeof(what), "metrics %s", listen->text);
	m->guard = accept_guard_new(base, evhttp_bound_socket_get_listener(bound), what);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(m->http, "/metrics", metrics_cb, m);
	evhttp_set_cb(m->http, "/status", status_cb, m);
	log_msg(LOG_LEVEL_INFO, "metrics: serving /metrics and /status on %s", listen->text);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	accept_guard_free(m->guard);
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}
