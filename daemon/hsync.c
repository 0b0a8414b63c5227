/* hsync.c: health wiring per dataset; CH TXT status.geodnsd lines. */
#include "config.h"

#include "daemon/hsync.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon/conf.h"
#include "daemon/dataset.h"
#include "dns/log.h"
#include "geo/geo.h"
#include "healthcheck/health.h"

/* Where address a of a service is probed: its probe override, or itself,
 * on the override's port or the check's (or the kind's default). */
static void probe_addr(const struct geo_service *svc, const struct geo_prefix *a,
		       struct sockaddr_storage *ss, socklen_t *len)
{
	const struct hc_kind_ops *ops = hc_kind_ops(svc->check.kind);
	uint16_t port = svc->check.port ? svc->check.port : ops ? ops->default_port : 0;
	memset(ss, 0, sizeof(*ss));
	for (size_t i = 0; i < svc->n_probes; i++) {
		if (memcmp(&svc->probes[i].served, a, sizeof(*a)) != 0)
			continue;
		*ss = svc->probes[i].probe;
		*len = svc->probes[i].probe_len;
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (ss->ss_family == AF_INET && s4->sin_port == 0)
			s4->sin_port = htons(port);
		if (ss->ss_family == AF_INET6 && s6->sin6_port == 0)
			s6->sin6_port = htons(port);
		return;
	}
	if (a->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->addr, 4);
		*len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		*len = sizeof(*s6);
	}
}

/* ---- status lines ------------------------------------------------------ */

struct status_walk {
	const struct dataset *ds;
	const char *service; /* filter, NULL: all */
	void (*emit)(void *arg, const char *line);
	void *arg;
};

static void since_text(time_t since, char *buf, size_t size)
{
	struct tm tm;
	char when[32];
	gmtime_r(&since, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, size, "since %s (%lld s)", when, (long long)(time(NULL) - since));
}

static void emit_target(void *arg, const struct hc_info *i)
{
	struct status_walk *w = arg;
	char line[768], since[80];
	if (w->service != NULL && strcasecmp(w->service, i->service) != 0)
		return;
	since_text(i->since, since, sizeof(since));
	int o = snprintf(line, sizeof(line), "%s: %s %s", i->label, i->up ? "up" : "DOWN", since);
	if (i->force != HC_FORCE_NONE)
		o += snprintf(line + o, sizeof(line) - (size_t)o, "; forced %s by operator: %s",
			      i->force == HC_FORCE_UP ? "up" : "down", i->force_reason);
	if (i->kind == HC_NONE)
		; /* the label says "(not probed)" */
	else if (i->have_result)
		o += snprintf(line + o, sizeof(line) - (size_t)o,
			      "; last %s: %s (%.1f ms); %u ok / %u failed in a row; probes "
			      "%s; %llu ok, %llu failed",
			      i->last_ok ? "ok" : "FAIL", i->last_reason, i->last_ms, i->ok_streak,
			      i->fail_streak, i->probed_up ? "say up" : "say down", i->n_ok,
			      i->n_fail);
	else
		o += snprintf(line + o, sizeof(line) - (size_t)o, "; no probe result yet");
	w->emit(w->arg, line);
}

static void emit_services(struct status_walk *w)
{
	const struct geo *g = w->ds->geo;
	const struct geo_conf *gc = geo_conf_of(g);
	bool found = false;
	for (size_t s = 0; s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		bool up[GEO_DC_MAX];
		unsigned n_up[GEO_DC_MAX], total[GEO_DC_MAX];
		char line[1024];
		if (w->service != NULL && strcasecmp(w->service, svc->name) != 0)
			continue;
		found = true;
		bool down = geo_service_health(g, s, up, n_up, total, GEO_DC_MAX);
		size_t o = (size_t)snprintf(line, sizeof(line), "service %s:", svc->name);
		for (size_t k = 0; k < svc->n_dcs && o < sizeof(line) - 64; k++) {
			o += (size_t)snprintf(line + o, sizeof(line) - o, " %s %s %u/%u;",
					      gc->dcs[svc->dcs[k].dc].name, up[k] ? "up" : "DOWN",
					      n_up[k], total[k]);
		}
		const char *how = svc->all_down == GEO_ALL_DOWN_SERVFAIL      ? "SERVFAIL"
				  : svc->all_down == GEO_ALL_DOWN_LAST_RESORT ? "last-resort"
									      : "fail-open";
		if (down)
			snprintf(line + o, sizeof(line) - o, " ALL DOWN: answering %s", how);
		else if (geo_family_down(g, s, 6) || geo_family_down(g, s, 4))
			/* Up for one family only: the other's answers come from
			 * the all-down policy. */
			snprintf(line + o, sizeof(line) - o, " serving; %s ALL DOWN: answering %s",
				 geo_family_down(g, s, 6) ? "AAAA" : "A", how);
		else
			snprintf(line + o, sizeof(line) - o, " serving");
		w->emit(w->arg, line);
	}
	if (w->service == NULL || found)
		return;
	/* <name>.status.geodnsd for a name that is no service: say so, and
	 * which there are, rather than an empty answer. */
	char line[1024];
	size_t o = (size_t)snprintf(line, sizeof(line), "no service '%s'; services:", w->service);
	for (size_t s = 0; s < gc->n_services && o < 800; s++) /* one TXT line stays short */
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s %s", s ? "," : "",
				      gc->services[s].name);
	w->emit(w->arg, line);
}

static void emit_dc(void *arg, const struct hc_dc *d)
{
	struct status_walk *w = arg;
	char line[512], since[80];
	uint8_t f = atomic_load(&d->force);
	if (f == HC_FORCE_NONE)
		return;
	since_text(d->since, since, sizeof(since));
	snprintf(line, sizeof(line), "datacenter %s: forced %s by operator %s: %s", d->name,
		 f == HC_FORCE_UP ? "up" : "down", since, d->reason);
	w->emit(w->arg, line);
}

static void emit_unmatched(void *arg, const char *path, const struct hc_unmatched *u)
{
	struct status_walk *w = arg;
	char line[768];
	snprintf(line, sizeof(line), "override %s:%u: %s; line ignored", path, u->line, u->problem);
	w->emit(w->arg, line);
}

/* The status hook: "status.geodnsd" lists everything; "<service>.status.
 * geodnsd" one service. */
static void status_cb(const void *ctx, const char *service,
		      void (*emit)(void *arg, const char *line), void *arg)
{
	const struct dataset *ds = ctx;
	struct status_walk w = { .ds = ds, .service = service, .emit = emit, .arg = arg };
	if (ds->geo == NULL) {
		emit(arg, "no services configured: nothing is geo-routed or probed");
		return;
	}
	emit_services(&w);
	char why[320], line[512], since[80];
	time_t t0;
	if (health_overrides_rejected(ds->health, why, sizeof(why), &t0)) {
		since_text(t0, since, sizeof(since));
		snprintf(line, sizeof(line),
			 "overrides file NOT APPLIED %s: %s; the overrides before it stay", since,
			 why);
		emit(arg, line);
	}
	health_each_unmatched(ds->health, emit_unmatched, &w);
	health_each_dc(ds->health, emit_dc, &w);
	health_each(ds->health, emit_target, &w);
}

/* ---- attach -------------------------------------------------------------- */

/* Carry "every datacenter down" over from the dataset being replaced, by
 * service name, so a reload does not log that state again. */
static const char *all_down_text(enum geo_all_down how)
{
	return how == GEO_ALL_DOWN_SERVFAIL      ? "SERVFAIL"
	       : how == GEO_ALL_DOWN_LAST_RESORT ? "with the last-resort addresses"
						 : "fail-open (live addresses, else as if up)";
}

static void carry_all_down(struct dataset *ds, const struct dataset *prev)
{
	if (ds->geo == NULL || prev == NULL || prev->geo == NULL)
		return;
	const struct geo_conf *gc = geo_conf_of(ds->geo), *pc = geo_conf_of(prev->geo);
	for (size_t s = 0; s < gc->n_services; s++)
		for (size_t p = 0; p < pc->n_services; p++) {
			if (strcmp(gc->services[s].name, pc->services[p].name) != 0)
				continue;
			ds->all_down[s] = prev->all_down[p];
			ds->family_down[s] = prev->family_down[p];
			/* Datacenters by name: their places may have moved. */
			const struct geo_service *ns = &gc->services[s], *ps = &pc->services[p];
			for (size_t k = 0; k < ns->n_dcs; k++)
				for (size_t j = 0; j < ps->n_dcs && prev->dc_known[p]; j++)
					if (strcmp(gc->dcs[ns->dcs[k].dc].name,
						   pc->dcs[ps->dcs[j].dc].name) == 0 &&
					    (prev->dc_down[p] >> j & 1))
						ds->dc_down[s] |= UINT64_C(1) << k;
			ds->dc_known[s] = prev->dc_known[p];
			/* Still all down, but the reload changed what that
			 * answers: the last line said otherwise. */
			if (ds->all_down[s] && gc->services[s].all_down != pc->services[p].all_down)
				log_msg(LOG_LEVEL_ERR,
					"healthcheck: service %s: every datacenter is down; "
					"now answering %s (all-down changed by the reload)",
					gc->services[s].name,
					all_down_text(gc->services[s].all_down));
		}
}

/* Claim a target for every address of every service in gc, and a cell for
 * every datacenter; with g, point g's data at them.  Without g the targets
 * are not probed (--check-overrides only needs their names). */
static void claim(struct health *h, const struct geo_conf *gc, struct geo *g)
{
	static const struct hc_params not_probed = { .kind = HC_NONE };
	for (size_t d = 0; d < gc->n_dcs; d++) {
		struct hc_dc *cell = health_dc(h, gc->dcs[d].name);
		if (g != NULL)
			geo_set_dc_force(g, (unsigned)d, &cell->force);
	}
	for (size_t s = 0; s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		for (size_t k = 0; k < svc->n_dcs; k++) {
			const struct geo_service_dc *sd = &svc->dcs[k];
			for (size_t a = 0; a < sd->n_addrs; a++) {
				char text[INET6_ADDRSTRLEN];
				struct sockaddr_storage ss;
				socklen_t len = 0;
				inet_ntop(sd->addrs[a].family == 4 ? AF_INET : AF_INET6,
					  sd->addrs[a].addr, text, sizeof(text));
				probe_addr(svc, &sd->addrs[a], &ss, &len);
				struct hc_target *t = health_target(
					h, svc->name, gc->dcs[sd->dc].name, text,
					(struct sockaddr *)&ss, len, g ? &svc->check : &not_probed);
				if (g != NULL)
					geo_set_address_flag(g, s, k, a, hc_target_flag(t),
							     hc_target_force(t));
			}
		}
	}
}

void hsync_attach(struct health *h, struct dataset *ds, const struct dataset *prev)
{
	carry_all_down(ds, prev);
	health_sync_begin(h);
	ds->health = h;
	ds->answer.conf.status = status_cb;
	ds->answer.conf.status_ctx = ds;
	if (ds->geo != NULL)
		claim(h, geo_conf_of(ds->geo), ds->geo);
	health_sync_end(h);
	if (ds->conf->state_file != NULL) {
		health_load_overrides(h, ds->conf->state_file);
		file_id_get(ds->conf->state_file, &ds->state_file_id);
	} else {
		health_clear_overrides(h);
	}
}

int hsync_check_overrides(const struct conf *conf, const char *path)
{
	struct health *h = health_new(NULL);
	claim(h, &conf->geo, NULL);
	int rc = health_check_overrides(h, path);
	health_free(h);
	return rc;
}

/* One family (A or AAAA) with no datacenter up while the service is up
 * for the other: its queries get the all-down policy's answer.  Logged
 * on each change; a service down entirely is the all-down line's. */
static void family_watch(struct dataset *ds, size_t s, bool all_down)
{
	const struct geo_service *svc = &geo_conf_of(ds->geo)->services[s];
	for (int bit = 1; bit <= 2; bit <<= 1) {
		const char *name = bit == 1 ? "A" : "AAAA";
		bool down = !all_down && geo_family_down(ds->geo, s, bit == 1 ? 4 : 6);
		if (down == ((ds->family_down[s] & bit) != 0))
			continue;
		ds->family_down[s] ^= (uint8_t)bit;
		if (down)
			log_msg(LOG_LEVEL_ERR,
				"healthcheck: service %s: no datacenter is up for %s; %s "
				"answers %s",
				svc->name, name, name, all_down_text(svc->all_down));
		else if (!all_down)
			log_msg(LOG_LEVEL_NOTICE, "healthcheck: service %s: up again for %s",
				svc->name, name);
	}
}

/* A datacenter of a service going down or coming back: its targets say
 * so one by one, this says what it means for the answers.  The first
 * reading of a new service is taken silently. */
static void dc_watch(struct dataset *ds, size_t s, const bool *up, const unsigned *n_up,
		     const unsigned *total)
{
	const struct geo_conf *gc = geo_conf_of(ds->geo);
	const struct geo_service *svc = &gc->services[s];
	size_t n = svc->n_dcs < GEO_DC_MAX ? svc->n_dcs : GEO_DC_MAX;
	uint64_t down = 0;
	for (size_t k = 0; k < n; k++)
		down |= (uint64_t)!up[k] << k;
	uint64_t changed = ds->dc_known[s] ? down ^ ds->dc_down[s] : 0;
	ds->dc_down[s] = down;
	ds->dc_known[s] = true;
	for (size_t k = 0; k < n; k++) {
		if (!(changed >> k & 1))
			continue;
		const char *dc = gc->dcs[svc->dcs[k].dc].name;
		int forced = geo_service_dc_forced(ds->geo, s, k);
		if ((down >> k & 1) && forced == GEO_FORCE_DOWN)
			log_msg(LOG_LEVEL_WARNING,
				"healthcheck: service %s: datacenter %s is DOWN (forced down "
				"by the operator); its clients go to the next datacenter in "
				"their order",
				svc->name, dc);
		else if (down >> k & 1)
			log_msg(LOG_LEVEL_WARNING,
				"healthcheck: service %s: datacenter %s is DOWN (%u of %u "
				"address%s up, fewer than up-min); its clients go to the next "
				"datacenter in their order",
				svc->name, dc, n_up[k], total[k], total[k] == 1 ? "" : "es");
		else if (forced == GEO_FORCE_UP)
			log_msg(LOG_LEVEL_NOTICE,
				"healthcheck: service %s: datacenter %s is up again (forced up "
				"by the operator); its clients come back",
				svc->name, dc);
		else
			log_msg(LOG_LEVEL_NOTICE,
				"healthcheck: service %s: datacenter %s is up again (%u of %u "
				"address%s up); its clients come back",
				svc->name, dc, n_up[k], total[k], total[k] == 1 ? "" : "es");
	}
}

void hsync_watch(struct dataset *ds)
{
	if (ds->geo == NULL)
		return;
	const struct geo_conf *gc = geo_conf_of(ds->geo);
	for (size_t s = 0; s < gc->n_services; s++) {
		const struct geo_service *svc = &gc->services[s];
		bool up[GEO_DC_MAX];
		unsigned n_up[GEO_DC_MAX], total[GEO_DC_MAX];
		bool down = geo_service_health(ds->geo, s, up, n_up, total, GEO_DC_MAX);
		dc_watch(ds, s, up, n_up, total);
		family_watch(ds, s, down);
		if (down == ds->all_down[s])
			continue;
		ds->all_down[s] = down;
		if (down)
			log_msg(LOG_LEVEL_ERR,
				"healthcheck: service %s: every datacenter "
				"is down; answering %s",
				svc->name, all_down_text(svc->all_down));
		else {
			char names[256] = "";
			size_t n = 0;
			for (size_t k = 0; k < svc->n_dcs && n < sizeof(names); k++)
				if (up[k])
					n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
							      n ? ", " : "",
							      gc->dcs[svc->dcs[k].dc].name);
			log_msg(LOG_LEVEL_NOTICE, "healthcheck: service %s: up again in %s",
				svc->name, names);
		}
	}
}
