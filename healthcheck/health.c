/* health.c: target registry, probe scheduling, the rise/fall state machine, overrides. */
#include "config.h"

#include "healthcheck/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/log.h"
#include "dns/rfile.h"
#include "dns/xalloc.h"

enum hc_state { HC_STATE_DOWN = 0, HC_STATE_UP = 1 };

struct hc_target {
	struct health *h;
	char *key;
	char *label;
	char *service, *dc, *address;
	struct hc_params params;
	const struct hc_kind_ops *ops;
	struct hc_probe probe;
	struct event *timer;   /* next run */
	struct event *timeout; /* run in flight too long */
	struct timespec started;
	bool in_flight;
	enum hc_state state;  /* the state machine's verdict */
	hc_flag_t flag;       /* effective state, read by answers */
	hc_flag_t force_flag; /* enum hc_force, read by explain */
	enum hc_force force;  /* the datacenter's override, else the address's */
	bool force_by_dc;
	char force_reason[256];
	time_t since;
	bool have_result, last_ok;
	char last_reason[160];
	double last_ms, total_ms;
	unsigned ok_streak, fail_streak;
	unsigned long long n_ok, n_fail;
	bool seen;
	bool replaced; /* a reload changed its check: a new target took over */
	struct hc_target *next;
};

/*
 * Probes, reloads and overrides change targets on the event loop thread;
 * status and metrics readers may run on answering threads.  lock guards the
 * target list and every target's text and counters against that; the flag
 * the answer path reads is an atomic and needs no lock.
 */
struct override;

struct health {
	pthread_mutex_t lock;
	struct event_base *base;
	struct hc_target *targets; /* creation order */
	struct hc_target *tail;
	struct hc_target **index; /* by key hash, open addressing */
	size_t index_mask;
	size_t n_targets;
	struct hc_dc *dcs;
	struct hc_target *retired;      /* dropped by a sync, freed by health_reap() */
	char *overrides_path;           /* the file the list below is from */
	struct hc_unmatched *unmatched; /* its lines that name nothing */
	size_t n_unmatched;
	/* The overrides file's last read failed (the previous overrides
	 * stay): the first error, and since when; "" when it was applied. */
	char rejected[320];
	time_t rejected_since;
	/* The overrides in force: the last list applied.  A target that a
	 * reload creates while the file is rejected gets them from here. */
	struct override *applied;
	size_t n_applied;
	uint32_t rng;
};

/* ---- helpers --------------------------------------------------------- */

static uint32_t rnd(struct health *h)
{
	/* xorshift32: jitter only, no need for quality. */
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 17;
	h->rng ^= h->rng << 5;
	return h->rng;
}

static void ms_to_tv(unsigned ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void params_copy(struct hc_params *dst, const struct hc_params *src)
{
	*dst = *src;
	dst->path = dup_or_null(src->path);
	dst->host = dup_or_null(src->host);
	dst->expect = dup_or_null(src->expect);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->dns_name = dup_or_null(src->dns_name);
	dst->status = NULL;
	if (src->n_status > 0) {
		dst->status = xcalloc(src->n_status, sizeof(int));
		memcpy(dst->status, src->status, src->n_status * sizeof(int));
	}
	dst->argv = NULL;
	if (src->argc > 0) {
		dst->argv = xcalloc(src->argc + 1, sizeof(char *));
		for (size_t i = 0; i < src->argc; i++)
			dst->argv[i] = xstrdup(src->argv[i]);
	}
}

static void sockaddr_text(const struct sockaddr *sa, char *addr, size_t size, uint16_t *port)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)size);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)size);
		*port = ntohs(s4->sin_port);
	}
}

/* Everything that makes two targets the same probe. */
static char *make_key(const char *service, const char *dc, const char *address, const char *probe,
		      uint16_t port, const struct hc_params *p)
{
	char buf[4096];
	size_t o = (size_t)snprintf(
		buf, sizeof(buf), "%s|%s|%s|%s|%u|%d|%u|%u|%u|%u|%d|%s|%s|%s|%d|%s|%s|%u|%d|%d",
		service, dc, address, probe, port, (int)p->kind, p->interval_ms, p->timeout_ms,
		p->rise, p->fall, (int)p->initial_up, p->path ? p->path : "",
		p->host ? p->host : "", p->expect ? p->expect : "", (int)p->verify_tls,
		p->ca_file ? p->ca_file : "", p->dns_name ? p->dns_name : "", p->dns_type,
		p->dns_rcode, (int)p->dns_want_answer);
	for (size_t i = 0; i < p->n_status && o < sizeof(buf) - 16; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "|s%d", p->status[i]);
	for (size_t i = 0; i < p->argc && o < sizeof(buf) - 2; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "|a%s", p->argv[i]);
	return xstrdup(buf);
}

/* ---- the state machine ------------------------------------------------ */

static bool effective_up(const struct hc_target *t)
{
	if (t->force == HC_FORCE_UP)
		return true;
	if (t->force == HC_FORCE_DOWN)
		return false;
	return t->state == HC_STATE_UP;
}

/* Publish the effective state; log once when it changes. */
static void publish(struct hc_target *t, const char *why)
{
	uint8_t up = effective_up(t) ? 1 : 0;
	if (atomic_load_explicit(&t->flag, memory_order_relaxed) == up)
		return;
	atomic_store_explicit(&t->flag, up, memory_order_release);
	t->since = time(NULL);
	log_msg(up ? LOG_LEVEL_NOTICE : LOG_LEVEL_WARNING, "healthcheck: %s: %s (%s)", t->label,
		up ? "UP" : "DOWN", why);
}

/* The probes changed their verdict (why): published, and logged even when
 * an override keeps the answers as they are, so that the operator knows
 * what clearing it would do. */
static void probed(struct hc_target *t, const char *why)
{
	if (t->force != HC_FORCE_NONE)
		log_msg(LOG_LEVEL_NOTICE,
			"healthcheck: %s: probes say %s (%s); forced %s by the operator, "
			"so answered as %s",
			t->label, t->state == HC_STATE_UP ? "up" : "DOWN", why,
			t->force == HC_FORCE_UP ? "up" : "down",
			t->force == HC_FORCE_UP ? "up" : "down");
	publish(t, why);
}

static void schedule(struct hc_target *t, bool first);

/* The one completion path: every probe result, including timeouts, comes
 * here with a reason (relayd's hce_notify_done). */
static void probe_done(struct hc_probe *p, bool ok, const char *reason)
{
	struct hc_target *t = p->owner;
	char why[256];
	if (!t->in_flight)
		return;
	t->in_flight = false;
	event_del(t->timeout);
	pthread_mutex_lock(&t->h->lock);
	t->last_ms = elapsed_ms(&t->started);
	t->total_ms += t->last_ms;
	t->have_result = true;
	t->last_ok = ok;
	snprintf(t->last_reason, sizeof(t->last_reason), "%s", reason);
	if (ok) {
		t->n_ok++;
		t->ok_streak++;
		t->fail_streak = 0;
		if (t->state == HC_STATE_DOWN && t->ok_streak >= t->params.rise) {
			t->state = HC_STATE_UP;
			if (t->ok_streak == 1)
				snprintf(why, sizeof(why), "1 success: %s", reason);
			else
				snprintf(why, sizeof(why), "%u consecutive successes: %s",
					 t->ok_streak, reason);
			probed(t, why);
		}
	} else {
		t->n_fail++;
		t->fail_streak++;
		t->ok_streak = 0;
		if (t->state == HC_STATE_UP && t->fail_streak >= t->params.fall) {
			t->state = HC_STATE_DOWN;
			if (t->fail_streak == 1)
				snprintf(why, sizeof(why), "1 failure: %s", reason);
			else
				snprintf(why, sizeof(why), "%u consecutive failures: %s",
					 t->fail_streak, reason);
			probed(t, why);
		}
	}
	pthread_mutex_unlock(&t->h->lock);
	log_msg(LOG_LEVEL_DEBUG, "healthcheck: %s: %s: %s (%.1f ms)", t->label, ok ? "ok" : "fail",
		reason, t->last_ms);
	schedule(t, false);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hc_target *t = arg;
	char reason[160];
	(void)fd, (void)what;
	if (!t->in_flight)
		return;
	const char *stage = t->ops->stage != NULL ? t->ops->stage(&t->probe) : NULL;
	snprintf(reason, sizeof(reason), "timeout after %u ms%s%s", t->params.timeout_ms,
		 stage != NULL ? " " : "", stage != NULL ? stage : "");
	t->ops->cancel(&t->probe);
	probe_done(&t->probe, false, reason);
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hc_target *t = arg;
	struct timeval tv;
	(void)fd, (void)what;
	if (t->in_flight)
		return;
	t->in_flight = true;
	clock_gettime(CLOCK_MONOTONIC, &t->started);
	ms_to_tv(t->params.timeout_ms, &tv);
	event_add(t->timeout, &tv);
	t->ops->start(&t->probe); /* reports through probe_done, maybe at once */
}

#define TICK_MS 10 /* probe starts are grouped on this grid */

/* The next run: one interval on, +-10% so that targets spread out; the
 * first within one interval of start-up.  Start times are rounded up to a
 * 10 ms grid so that thousands of targets wake the loop ~100 times a second
 * rather than once per probe. */
static void schedule(struct hc_target *t, bool first)
{
	unsigned iv = t->params.interval_ms, ms;
	if (first)
		ms = rnd(t->h) % (iv ? iv : 1);
	else
		ms = iv - iv / 10 + rnd(t->h) % (iv / 5 + 1);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	/* Intervals count from the start of the last run, so a probe that
	 * times out does not stretch the period by its timeout. */
	uint64_t from =
		first ? now_ms
		      : (uint64_t)t->started.tv_sec * 1000 + (uint64_t)t->started.tv_nsec / 1000000;
	uint64_t at = (from + ms + TICK_MS - 1) / TICK_MS * TICK_MS;
	if (at < now_ms)
		at = now_ms;
	struct timeval tv;
	ms_to_tv((unsigned)(at - now_ms), &tv);
	event_add(t->timer, &tv);
}

/* ---- registry -------------------------------------------------------- */

struct health *health_new(struct event_base *base)
{
	struct health *h = xcalloc(1, sizeof(*h));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->base = base;
	h->rng = (uint32_t)ts.tv_nsec | 1u;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

/* Cancel a target's probe and timers: nothing runs for it any more. */
static void target_stop(struct hc_target *t)
{
	if (t->in_flight && t->ops != NULL)
		t->ops->cancel(&t->probe);
	t->in_flight = false;
	if (t->timer != NULL)
		event_free(t->timer);
	t->timer = NULL;
	if (t->timeout != NULL)
		event_free(t->timeout);
	t->timeout = NULL;
}

static void target_free(struct hc_target *t)
{
	target_stop(t);
	hc_params_clear(&t->params);
	free(t->key);
	free(t->label);
	free(t->service);
	free(t->dc);
	free(t->address);
	free(t);
}

void health_free(struct health *h)
{
	if (h == NULL)
		return;
	while (h->targets != NULL) {
		struct hc_target *t = h->targets;
		h->targets = t->next;
		target_free(t);
	}
	health_reap(h);
	while (h->dcs != NULL) {
		struct hc_dc *d = h->dcs;
		h->dcs = d->next;
		free(d->name);
		free(d);
	}
	pthread_mutex_destroy(&h->lock);
	free(h->overrides_path);
	free(h->unmatched);
	free(h->applied);
	free(h->index);
	free(h);
}

static size_t key_hash(const char *key)
{
	size_t h = 14695981039346656037ULL;
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h;
}

/* Rebuild the key index over the current list (after removals, or to
 * grow it): reloads and start-up stay linear in the number of targets. */
static void index_rebuild(struct health *h)
{
	size_t size = 64;
	while (size < h->n_targets * 2 + 2)
		size *= 2;
	free(h->index);
	h->index = xcalloc(size, sizeof(*h->index));
	h->index_mask = size - 1;
	for (struct hc_target *t = h->targets; t != NULL; t = t->next) {
		size_t i = key_hash(t->key) & h->index_mask;
		while (h->index[i] != NULL)
			i = (i + 1) & h->index_mask;
		h->index[i] = t;
	}
}

static struct hc_target *target_find(struct health *h, const char *key)
{
	if (h->index == NULL)
		return NULL;
	for (size_t i = key_hash(key) & h->index_mask; h->index[i] != NULL;
	     i = (i + 1) & h->index_mask)
		if (strcmp(h->index[i]->key, key) == 0)
			return h->index[i];
	return NULL;
}

void health_sync_begin(struct health *h)
{
	for (struct hc_target *t = h->targets; t != NULL; t = t->next)
		t->seen = false;
	for (struct hc_dc *d = h->dcs; d != NULL; d = d->next)
		d->seen = false;
}

void health_sync_end(struct health *h)
{
	pthread_mutex_lock(&h->lock);
	h->tail = NULL;
	for (struct hc_target **pt = &h->targets; *pt != NULL;) {
		struct hc_target *t = *pt;
		if (t->seen) {
			h->tail = t;
			pt = &t->next;
			continue;
		}
		if (t->replaced)
			log_msg(LOG_LEVEL_INFO,
				"healthcheck: %s: check changed, probe stopped (its "
				"state carries over to the new check)",
				t->label);
		else
			log_msg(LOG_LEVEL_INFO,
				"healthcheck: %s: no longer configured, "
				"probe stopped",
				t->label);
		*pt = t->next;
		/* The dataset still published points at its up flag: the
		 * memory waits for health_reap(), after the new dataset's
		 * grace period. */
		target_stop(t);
		t->next = h->retired;
		h->retired = t;
		h->n_targets--;
	}
	index_rebuild(h);
	pthread_mutex_unlock(&h->lock);
	/* Datacenter cells stay: an override outlives a reload that drops
	 * and re-adds the datacenter. */
}

void health_reap(struct health *h)
{
	while (h->retired != NULL) {
		struct hc_target *t = h->retired;
		h->retired = t->next;
		target_free(t);
	}
}

/* A probed target of the previous configuration for the same service,
 * datacenter and address that this reload has not claimed (its check
 * changed), or NULL. */
static struct hc_target *replaced_target(struct health *h, const char *service, const char *dc,
					 const char *address)
{
	for (struct hc_target *o = h->targets; o != NULL; o = o->next)
		if (!o->seen && !o->replaced && o->ops != NULL &&
		    strcmp(o->service, service) == 0 && strcmp(o->dc, dc) == 0 &&
		    strcmp(o->address, address) == 0)
			return o;
	return NULL;
}

struct hc_target *health_target(struct health *h, const char *service, const char *dc,
				const char *address, const struct sockaddr *probe,
				socklen_t probe_len, const struct hc_params *params)
{
	char ptext[64];
	uint16_t port;
	sockaddr_text(probe, ptext, sizeof(ptext), &port);
	char *key = make_key(service, dc, address, ptext, port, params);
	struct hc_target *t = target_find(h, key);
	if (t != NULL) {
		free(key);
		t->seen = true;
		return t;
	}
	t = xcalloc(1, sizeof(*t));
	t->h = h;
	t->key = key;
	t->seen = true;
	t->service = xstrdup(service);
	t->dc = xstrdup(dc);
	t->address = xstrdup(address);
	params_copy(&t->params, params);
	t->ops = hc_kind_ops(params->kind);
	char label[512];
	if (t->ops == NULL)
		snprintf(label, sizeof(label), "%s/%s %s (not probed)", service, dc, address);
	else if (strcmp(ptext, address) == 0 && port == 0) /* exec without a port */
		snprintf(label, sizeof(label), "%s/%s %s (%s)", service, dc, address, t->ops->name);
	else if (strcmp(ptext, address) == 0)
		snprintf(label, sizeof(label), "%s/%s %s port %u (%s)", service, dc, address, port,
			 t->ops ? t->ops->name : "none");
	else
		snprintf(label, sizeof(label), "%s/%s %s via %s port %u (%s)", service, dc, address,
			 ptext, port, t->ops ? t->ops->name : "none");
	t->label = xstrdup(label);
	t->state = params->initial_up || t->ops == NULL ? HC_STATE_UP : HC_STATE_DOWN;
	t->since = time(NULL);
	/* A reload that changed the check (its interval, path, probe address
	 * ...) of a target it keeps: the new check starts from the old one's
	 * state instead of 'initial', so a dead datacenter does not come back
	 * (or a live one go) until the new check's rise or fall says so. */
	struct hc_target *old = t->ops != NULL ? replaced_target(h, service, dc, address) : NULL;
	if (old != NULL) {
		old->replaced = true;
		t->state = old->state;
		t->since = old->since;
		t->have_result = old->have_result;
		t->last_ok = old->last_ok;
		memcpy(t->last_reason, old->last_reason, sizeof(t->last_reason));
		t->last_ms = old->last_ms;
		t->total_ms = old->total_ms;
		t->n_ok = old->n_ok;
		t->n_fail = old->n_fail;
	}
	atomic_init(&t->flag, t->state == HC_STATE_UP ? 1 : 0);
	atomic_init(&t->force_flag, HC_FORCE_NONE);

	memcpy(&t->probe.addr, probe, probe_len);
	t->probe.addr_len = probe_len;
	snprintf(t->probe.addr_text, sizeof(t->probe.addr_text), "%s", ptext);
	t->probe.port = port;
	t->probe.base = h->base;
	t->probe.params = &t->params;
	t->probe.done = probe_done;
	t->probe.owner = t;

	pthread_mutex_lock(&h->lock);
	if (h->tail != NULL)
		h->tail->next = t;
	else
		h->targets = t;
	h->tail = t;
	h->n_targets++;
	if (h->index == NULL || h->n_targets * 2 > h->index_mask + 1) {
		index_rebuild(h);
	} else {
		size_t i = key_hash(t->key) & h->index_mask;
		while (h->index[i] != NULL)
			i = (i + 1) & h->index_mask;
		h->index[i] = t;
	}
	pthread_mutex_unlock(&h->lock);
	if (t->ops != NULL) {
		t->timer = evtimer_new(h->base, run_cb, t);
		t->timeout = evtimer_new(h->base, timeout_cb, t);
		schedule(t, true);
	}
	return t;
}

const hc_flag_t *hc_target_flag(const struct hc_target *t)
{
	return &t->flag;
}

const hc_flag_t *hc_target_force(const struct hc_target *t)
{
	return &t->force_flag;
}

struct hc_dc *health_dc(struct health *h, const char *name)
{
	for (struct hc_dc *d = h->dcs; d != NULL; d = d->next) {
		if (strcmp(d->name, name) == 0) {
			d->seen = true;
			return d;
		}
	}
	struct hc_dc *d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->seen = true;
	d->since = time(NULL);
	atomic_init(&d->force, HC_FORCE_NONE);
	pthread_mutex_lock(&h->lock);
	d->next = h->dcs;
	h->dcs = d;
	pthread_mutex_unlock(&h->lock);
	return d;
}

/* ---- overrides -------------------------------------------------------- */

struct override {
	unsigned line;
	bool is_dc;
	char name[64]; /* a datacenter, or an address as inet_ntop() writes it */
	enum hc_force force;
	char reason[160];
};

/* Addresses are compared as the target labels write them, so that
 * "2001:DB8:0::10" names the configured 2001:db8::10.  Returns -1 for
 * text that is no address. */
static int address_canonical(const char *text, char *out, size_t size)
{
	unsigned char bin[16];
	if (inet_pton(AF_INET, text, bin) == 1)
		return inet_ntop(AF_INET, bin, out, (socklen_t)size) ? 0 : -1;
	if (inet_pton(AF_INET6, text, bin) == 1)
		return inet_ntop(AF_INET6, bin, out, (socklen_t)size) ? 0 : -1;
	return -1;
}

static int parse_override(char *line, struct override *o, char *err, size_t err_size)
{
	char *save = NULL;
	char *what = strtok_r(line, " \t\r\n", &save);
	char *name = strtok_r(NULL, " \t\r\n", &save);
	char *state = strtok_r(NULL, " \t\r\n", &save);
	char *reason = strtok_r(NULL, "\r\n", &save);
	snprintf(err, err_size, "%s",
		 "expected 'datacenter NAME up|down [reason]' or 'address ADDR up|down [reason]'");
	if (what == NULL || name == NULL || state == NULL)
		return -1;
	if (strcasecmp(what, "datacenter") == 0)
		o->is_dc = true;
	else if (strcasecmp(what, "address") == 0)
		o->is_dc = false;
	else
		return -1;
	if (strcasecmp(state, "up") == 0)
		o->force = HC_FORCE_UP;
	else if (strcasecmp(state, "down") == 0)
		o->force = HC_FORCE_DOWN;
	else {
		snprintf(err, err_size, "state '%.40s' must be 'up' or 'down'", state);
		return -1;
	}
	if (o->is_dc) {
		snprintf(o->name, sizeof(o->name), "%s", name);
	} else if (address_canonical(name, o->name, sizeof(o->name)) < 0) {
		snprintf(err, err_size, "'%.64s' is not an IPv4 or IPv6 address", name);
		return -1;
	}
	while (reason != NULL && (*reason == ' ' || *reason == '\t'))
		reason++;
	snprintf(o->reason, sizeof(o->reason), "%s",
		 reason != NULL && *reason ? reason : "no reason given");
	return 0;
}

/* The override of ov for a datacenter (is_dc) or an address called name:
 * the last line that names it wins. */
static enum hc_force override_of(const struct override *ov, size_t n, bool is_dc, const char *name,
				 const char **reason)
{
	enum hc_force f = HC_FORCE_NONE;
	*reason = "";
	for (size_t i = 0; i < n; i++)
		if (ov[i].is_dc == is_dc && strcmp(ov[i].name, name) == 0) {
			f = ov[i].force;
			*reason = ov[i].reason;
		}
	return f;
}

static void dc_force_set(struct hc_dc *d, enum hc_force f, const char *reason)
{
	if (atomic_load(&d->force) != f) {
		log_msg(LOG_LEVEL_NOTICE, "healthcheck: datacenter %s: %s%s%s", d->name,
			f == HC_FORCE_UP     ? "forced UP"
			: f == HC_FORCE_DOWN ? "forced DOWN"
					     : "override cleared",
			*reason ? ": " : "", reason);
		d->since = time(NULL);
	}
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
	atomic_store(&d->force, (uint8_t)f);
}

/*
 * A target's override is its datacenter's when that has one, else its
 * address's: answers ignore the address flags of a forced datacenter (its
 * full set or nothing), so this is the state the target is really in, and
 * what its status line, metrics and log say.
 */
static void target_force_set(struct hc_target *t, const struct override *ov, size_t n)
{
	const char *reason;
	enum hc_force f = override_of(ov, n, true, t->dc, &reason);
	t->force_by_dc = f != HC_FORCE_NONE;
	if (t->force_by_dc) {
		snprintf(t->force_reason, sizeof(t->force_reason), "datacenter %s: %s", t->dc,
			 reason);
	} else {
		f = override_of(ov, n, false, t->address, &reason);
		snprintf(t->force_reason, sizeof(t->force_reason), "%s", reason);
	}
	t->force = f;
	atomic_store(&t->force_flag, (uint8_t)f);
	char why[512];
	if (f == HC_FORCE_NONE && t->have_result)
		/* Back to the probes: say what they say, and why. */
		snprintf(why, sizeof(why), "override cleared; probes say %s, last %s: %s",
			 t->state == HC_STATE_UP ? "up" : "down", t->last_ok ? "ok" : "FAIL",
			 t->last_reason);
	else
		snprintf(why, sizeof(why), "%s%s%s",
			 f == HC_FORCE_NONE ? "override cleared" : "forced by operator",
			 *t->force_reason ? ": " : "", t->force_reason);
	publish(t, why);
}

static void apply_overrides(struct health *h, const struct override *ov, size_t n)
{
	/* Cells that gain an override are set before the targets' flags and
	 * cells that lose one are cleared after them.  Answers read a
	 * datacenter's cell first (acquire, geo.c dc_forced) and its targets'
	 * flags only when it is not forced, so they see either a datacenter's
	 * old state or its new one: never a cleared cell over flags still set
	 * by the override it had. */
	const char *reason;
	for (struct hc_dc *d = h->dcs; d != NULL; d = d->next) {
		enum hc_force f = override_of(ov, n, true, d->name, &reason);
		if (f != HC_FORCE_NONE)
			dc_force_set(d, f, reason);
	}
	for (struct hc_target *t = h->targets; t != NULL; t = t->next)
		target_force_set(t, ov, n);
	for (struct hc_dc *d = h->dcs; d != NULL; d = d->next)
		if (override_of(ov, n, true, d->name, &reason) == HC_FORCE_NONE)
			dc_force_set(d, HC_FORCE_NONE, "");
}

/* A line longer than any an operator writes: a file with one is not an
 * overrides file (it is read on the event loop). */
#define OVERRIDE_LINE_MAX 65536

/* One line of fp into buf, which holds max + 1 octets: its length with
 * the newline, 0 at the end of the file, or -1 when it is longer than max
 * (the rest is left unread: a file of one endless line, /dev/zero given
 * to --check-overrides, is not read into memory first). */
static ssize_t override_line(FILE *fp, char *buf, size_t max)
{
	size_t n = 0;
	int c;
	while ((c = getc(fp)) != EOF) {
		if (n == max)
			return -1;
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* The whole file cannot be read (first says why): logged, -1. */
static int overrides_unreadable(const char *path, const char *what, char *first, size_t first_size)
{
	snprintf(first, first_size, "%s: %s", path, what);
	log_msg(LOG_LEVEL_ERR, "healthcheck: %s", first);
	return -1;
}

/* Read the overrides file at path into *out (the caller frees it), or log
 * every bad line with file:line and return -1.  A missing file is an empty
 * list; one that is not a regular file, or that fails to read, is an
 * error (read as empty, it would clear every override).  Lines may be up
 * to OVERRIDE_LINE_MAX octets; a line whose first character that is not a
 * blank is '#' is a comment, and a '#' anywhere else is text, as in a
 * reason ("see #4711"). */
static int overrides_read(const char *path, bool watched, struct override **out, size_t *n,
			  char *first, size_t first_size)
{
	*out = NULL;
	*n = 0;
	/* The watched file is read on the event loop: a FIFO put in its
	 * place must not block it, a directory must not read as empty
	 * (rfile.h).  --check-overrides may read anything, /dev/stdin too. */
	const char *why = NULL;
	FILE *fp = watched ? rfile_open(path, &why) : fopen(path, "r");
	if (fp == NULL) {
		int err = errno;
		if (err == ENOENT)
			return 0;
		char what[200];
		if (why != NULL)
			snprintf(what, sizeof(what), "%s", why);
		else
			snprintf(what, sizeof(what), "cannot open: %s", strerror(err));
		return overrides_unreadable(path, what, first, first_size);
	}
	struct override *ov = NULL;
	size_t count = 0;
	unsigned line = 0, errors = 0;
	char *buf = xmalloc(OVERRIDE_LINE_MAX + 1);
	ssize_t got;
	while ((got = override_line(fp, buf, OVERRIDE_LINE_MAX)) != 0) {
		line++;
		if (got < 0) {
			free(buf);
			free(ov);
			fclose(fp);
			char what[96];
			snprintf(what, sizeof(what), "line %u is longer than %d octets", line,
				 OVERRIDE_LINE_MAX);
			return overrides_unreadable(path, what, first, first_size);
		}
		size_t lead = strspn(buf, " \t\r\n");
		if (buf[lead] == '#')
			continue;
		struct override o = { .line = line };
		char err[160];
		/* The parser reads up to a NUL: the rest of such a line would
		 * vanish unseen. */
		int bad = memchr(buf, '\0', (size_t)got) != NULL ? -1 : 0;
		if (bad < 0)
			snprintf(err, sizeof(err), "NUL byte in the line");
		else if (buf[lead] == '\0')
			continue;
		if (bad < 0 || parse_override(buf, &o, err, sizeof(err)) < 0) {
			log_msg(LOG_LEVEL_ERR, "healthcheck: %s:%u: %s", path, line, err);
			if (errors++ == 0)
				snprintf(first, first_size, "%s:%u: %s", path, line, err);
			continue;
		}
		ov = xrealloc(ov, (count + 1) * sizeof(*ov));
		ov[count++] = o;
	}
	free(buf);
	bool failed = ferror(fp);
	fclose(fp);
	if (failed && errors == 0) {
		free(ov);
		return overrides_unreadable(path, "read error", first, first_size);
	}
	if (errors > 0) {
		free(ov);
		return -1;
	}
	*out = ov;
	*n = count;
	return 0;
}

/* Whether a datacenter called name is configured (claimed in the last
 * sync); if not, *hint is one whose name differs only in case, or NULL. */
static bool dc_configured(const struct health *h, const char *name, const char **hint)
{
	*hint = NULL;
	for (const struct hc_dc *d = h->dcs; d != NULL; d = d->next) {
		if (!d->seen)
			continue;
		if (strcmp(d->name, name) == 0)
			return true;
		if (strcasecmp(d->name, name) == 0)
			*hint = d->name;
	}
	return false;
}

static bool address_configured(const struct health *h, const char *address)
{
	for (const struct hc_target *t = h->targets; t != NULL; t = t->next)
		if (strcmp(t->address, address) == 0)
			return true;
	return false;
}

/*
 * Remember, for status output, the lines of ov that name no configured
 * datacenter or address, and log each (file:line, the name, then suffix).
 * A misspelt name would otherwise force nothing without a word.  Called
 * with h->lock held.  Returns how many there are.
 */
static size_t overrides_unmatched(struct health *h, const char *path, const struct override *ov,
				  size_t n, const char *suffix)
{
	free(h->unmatched);
	h->unmatched = NULL;
	h->n_unmatched = 0;
	free(h->overrides_path);
	h->overrides_path = xstrdup(path);
	for (size_t i = 0; i < n; i++) {
		const char *hint = NULL;
		if (ov[i].is_dc ? dc_configured(h, ov[i].name, &hint)
				: address_configured(h, ov[i].name))
			continue;
		h->unmatched = xrealloc(h->unmatched, (h->n_unmatched + 1) * sizeof(*h->unmatched));
		struct hc_unmatched *u = &h->unmatched[h->n_unmatched++];
		u->line = ov[i].line;
		u->is_dc = ov[i].is_dc;
		snprintf(u->name, sizeof(u->name), "%s", ov[i].name);
		if (!u->is_dc)
			snprintf(u->problem, sizeof(u->problem), "no address '%s' in any service",
				 u->name);
		else if (hint != NULL)
			snprintf(u->problem, sizeof(u->problem),
				 "no datacenter '%s' in the configuration (did you mean '%.64s'?)",
				 u->name, hint);
		else
			snprintf(u->problem, sizeof(u->problem),
				 "no datacenter '%s' in the configuration", u->name);
		log_msg(LOG_LEVEL_WARNING, "healthcheck: %s:%u: %s%s", path, u->line, u->problem,
			suffix);
	}
	return h->n_unmatched;
}

int health_load_overrides(struct health *h, const char *path)
{
	struct override *ov;
	size_t n;
	char first[sizeof(h->rejected)];
	if (overrides_read(path, true, &ov, &n, first, sizeof(first)) < 0) {
		log_msg(LOG_LEVEL_ERR,
			"healthcheck: %s: not applied; the previous "
			"overrides stay",
			path);
		pthread_mutex_lock(&h->lock);
		if (h->rejected[0] == '\0')
			h->rejected_since = time(NULL);
		memcpy(h->rejected, first, sizeof(h->rejected));
		/* They stay for targets a reload has just made too (a changed
		 * check makes a new target, which starts with none). */
		apply_overrides(h, h->applied, h->n_applied);
		pthread_mutex_unlock(&h->lock);
		return -1;
	}
	pthread_mutex_lock(&h->lock);
	h->rejected[0] = '\0';
	apply_overrides(h, ov, n);
	overrides_unmatched(h, path, ov, n, "; line ignored");
	free(h->applied);
	h->applied = ov;
	h->n_applied = n;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void health_clear_overrides(struct health *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->n_applied > 0 || h->rejected[0] != '\0')
		log_msg(LOG_LEVEL_NOTICE, "healthcheck: no 'state-file' configured any more: "
					  "every override is cleared");
	h->rejected[0] = '\0';
	apply_overrides(h, NULL, 0);
	free(h->unmatched);
	h->unmatched = NULL;
	h->n_unmatched = 0;
	free(h->applied);
	h->applied = NULL;
	h->n_applied = 0;
	pthread_mutex_unlock(&h->lock);
}

int health_check_overrides(struct health *h, const char *path)
{
	struct override *ov;
	size_t n;
	char first[320];
	if (overrides_read(path, false, &ov, &n, first, sizeof(first)) < 0)
		return -1;
	pthread_mutex_lock(&h->lock);
	size_t bad = overrides_unmatched(h, path, ov, n, "");
	pthread_mutex_unlock(&h->lock);
	free(ov);
	return bad > 0 ? 1 : 0;
}

/* ---- inspection ------------------------------------------------------- */

bool health_overrides_rejected(const struct health *h, char *why, size_t size, time_t *since)
{
	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	bool rejected = h->rejected[0] != '\0';
	if (rejected) {
		snprintf(why, size, "%s", h->rejected);
		*since = h->rejected_since;
	}
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
	return rejected;
}

void health_each(const struct health *h, void (*fn)(void *arg, const struct hc_info *info),
		 void *arg)
{
	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	for (const struct hc_target *t = h->targets; t != NULL; t = t->next) {
		struct hc_info i = {
			.label = t->label,
			.service = t->service,
			.dc = t->dc,
			.address = t->address,
			.kind = t->params.kind,
			.up = atomic_load(&t->flag) != 0,
			.probed_up = t->state == HC_STATE_UP,
			.force = t->force,
			.force_by_dc = t->force_by_dc,
			.force_reason = t->force_reason,
			.since = t->since,
			.have_result = t->have_result,
			.last_ok = t->last_ok,
			.last_reason = t->last_reason,
			.last_ms = t->last_ms,
			.ok_streak = t->ok_streak,
			.fail_streak = t->fail_streak,
			.n_ok = t->n_ok,
			.n_fail = t->n_fail,
			.total_ms = t->total_ms,
		};
		fn(arg, &i);
	}
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
}

void health_each_dc(const struct health *h, void (*fn)(void *arg, const struct hc_dc *dc),
		    void *arg)
{
	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	for (const struct hc_dc *d = h->dcs; d != NULL; d = d->next)
		fn(arg, d);
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
}

void health_each_unmatched(const struct health *h,
			   void (*fn)(void *arg, const char *path, const struct hc_unmatched *u),
			   void *arg)
{
	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	for (size_t i = 0; i < h->n_unmatched; i++)
		fn(arg, h->overrides_path, &h->unmatched[i]);
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
}

void health_count(const struct health *h, size_t *targets, size_t *up)
{
	*targets = *up = 0;
	for (const struct hc_target *t = h->targets; t != NULL; t = t->next) {
		if (t->ops == NULL)
			continue; /* not probed: always up, nothing to count */
		(*targets)++;
		*up += atomic_load(&t->flag) != 0;
	}
}
