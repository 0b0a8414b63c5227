/* health.h: probed targets, their up/down state machines, and operator overrides. */
#ifndef GD_HEALTH_H
#define GD_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "healthcheck/probe.h"

struct event_base;
struct health;
struct hc_target;

/* An operator override: none, forced up, forced down. */
enum hc_force { HC_FORCE_NONE = 0, HC_FORCE_UP = 1, HC_FORCE_DOWN = 2 };

/*
 * A cell the answer path reads without locks: 1 when the target (or the
 * override) says up.  Owned by the health registry; its address stays valid
 * for as long as the target exists.
 */
typedef _Atomic uint8_t hc_flag_t;

/* A datacenter's override, shared by every service (by name). */
struct hc_dc {
	char *name;
	_Atomic uint8_t force; /* enum hc_force */
	char reason[160];
	time_t since;
	bool seen;
	struct hc_dc *next;
};

/* A snapshot of one target, for status output and metrics. */
struct hc_info {
	const char *label; /* "web/fra 192.0.2.10 via 127.0.0.1:8080 (http)" */
	const char *service, *dc, *address;
	enum hc_kind kind;
	bool up;                  /* effective (overrides applied, the datacenter's too) */
	bool probed_up;           /* the state machine's verdict */
	enum hc_force force;      /* in force: its datacenter's override, else its address's */
	bool force_by_dc;         /* force comes from the datacenter */
	const char *force_reason; /* "datacenter fra: ..." when force_by_dc */
	time_t since;             /* of the current effective state */
	bool have_result;
	bool last_ok;
	const char *last_reason;
	double last_ms;
	unsigned ok_streak, fail_streak;
	unsigned long long n_ok, n_fail;
	double total_ms; /* sum of probe durations */
};

/* A registry on base.  Never NULL. */
struct health *health_new(struct event_base *base);

/* Stop every probe and free; NULL is a no-op. */
void health_free(struct health *h);

/*
 * Begin a sync: targets not claimed again before health_sync_end() are
 * stopped and retired.  Used when a new dataset is published, so state
 * survives reloads for everything that stays.  A retired target's memory
 * (its up flag, which the dataset still published reads) is freed by
 * health_reap(), to be called once no query thread can see that dataset.
 */
void health_sync_begin(struct health *h);
void health_sync_end(struct health *h);
void health_reap(struct health *h);

/*
 * Claim the target probing `probe` (address and port) with params for
 * service/dc/address.  The same service, datacenter, address, probe address
 * and parameters give back the same target with its state; otherwise a new
 * one starts probing now (first run jittered within one interval).  params
 * are copied.  HC_NONE targets are never probed and always up.
 */
struct hc_target *health_target(struct health *h, const char *service, const char *dc,
				const char *address, const struct sockaddr *probe,
				socklen_t probe_len, const struct hc_params *params);

/* The flag the answer path reads for a target: its effective state, which
 * a datacenter override decides when there is one (answers then read the
 * datacenter's cell instead). */
const hc_flag_t *hc_target_flag(const struct hc_target *t);

/* The target's override (enum hc_force), for explain output. */
const hc_flag_t *hc_target_force(const struct hc_target *t);

/* The override cell of a datacenter (created on first use, claimed for
 * this sync). */
struct hc_dc *health_dc(struct health *h, const char *name);

/* An override line that names no configured datacenter or address. */
struct hc_unmatched {
	unsigned line;
	bool is_dc;
	char name[64];
	char problem[224]; /* "no datacenter 'Fra' in the configuration (did you mean 'fra'?)" */
};

/*
 * Read the overrides file: lines "datacenter NAME up|down [reason]" and
 * "address ADDR up|down [reason]", '#' comments; ADDR is an IPv4 or IPv6
 * address in any spelling.  A file with any error is not applied (errors
 * logged with file:line); a missing file means no overrides.  A line that
 * names no datacenter or address claimed in the last sync forces nothing:
 * it is logged as a warning with file:line and kept for
 * health_each_unmatched() until the next read (reloads read the file
 * again, so a line applies once a reload configures its name).  Returns 0
 * when applied, -1 otherwise.
 */
int health_load_overrides(struct health *h, const char *path);

/* The configuration names no overrides file any more: clear every
 * override (logged when there was one). */
void health_clear_overrides(struct health *h);

/*
 * Check the overrides file at path against h without applying it: every
 * error and every line naming nothing is logged as health_load_overrides()
 * logs it.  Returns 0 when the file is clean (or missing), 1 when some line
 * names nothing, -1 when the file has errors or cannot be read.
 */
int health_check_overrides(struct health *h, const char *path);

/* True when the overrides file's last read failed, so the overrides before
 * it still apply: *why is its first error ("path:line: message"), *since
 * when reads started failing. */
bool health_overrides_rejected(const struct health *h, char *why, size_t size, time_t *since);

/* Visit the lines of the last file read that name nothing, with its path. */
void health_each_unmatched(const struct health *h,
			   void (*fn)(void *arg, const char *path, const struct hc_unmatched *u),
			   void *arg);

/* Visit every target (in creation order) with a snapshot. */
void health_each(const struct health *h, void (*fn)(void *arg, const struct hc_info *info),
		 void *arg);

/* Visit every datacenter override cell. */
void health_each_dc(const struct health *h, void (*fn)(void *arg, const struct hc_dc *dc),
		    void *arg);

/* The number of probed targets and how many are up (for logs and the
 * systemd status); addresses without a check are not counted. */
void health_count(const struct health *h, size_t *targets, size_t *up);

#endif
