/* hsync.h: wiring a dataset's services to the health registry, and status output. */
#ifndef GD_HSYNC_H
#define GD_HSYNC_H

#include <stdbool.h>

struct conf;
struct dataset;
struct health;

/*
 * Claim a health target for every address of every service in ds (keeping
 * the state of targets that stay, starting probes for new ones, stopping
 * the rest), carry per-service log state over from prev (the dataset being
 * replaced, NULL at start-up), point ds's geo data at their flags and at the datacenter
 * override cells, and re-read the overrides file.  Runs on the event loop
 * thread before ds is published; afterwards ds->answer carries the status
 * hook.  Never fails (a bad overrides file keeps the previous overrides).
 */
void hsync_attach(struct health *h, struct dataset *ds, const struct dataset *prev);

/*
 * geodnsd --check-overrides: check the overrides file at path against the
 * datacenters and service addresses of conf (nothing is probed or
 * applied).  Problems are logged with file:line.  Returns 0 when clean,
 * 1 when a line names nothing configured, -1 on errors in the file.
 */
int hsync_check_overrides(const struct conf *conf, const char *path);

/*
 * Log services that went from "some datacenter up" to "none up" or back,
 * naming the policy that now answers.  Called periodically on the loop.
 */
void hsync_watch(struct dataset *ds);

#endif
