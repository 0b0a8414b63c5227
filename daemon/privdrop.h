/* privdrop.h: giving up root for the configured user once the sockets are bound. */
#ifndef GD_PRIVDROP_H
#define GD_PRIVDROP_H

struct conf;

/*
 * Before binding: check that the process can end up as conf's user and
 * group.  Started as root, anything goes (with no user configured, a
 * warning says the server will keep running as root).  Started as another
 * user, the configured user and group must be the current ones, since only
 * root can switch.  Returns 0, or -1 after logging why (start-up fails).
 */
int privdrop_check(const struct conf *conf);

/*
 * After binding: become conf->uid and conf->gid with no supplementary
 * groups, with setgroups(), setresgid() and setresuid(), then verify that
 * root cannot be regained.  The UDP workers already run by then: glibc
 * applies these calls to every thread of the process (its setxid signal
 * broadcast), so no thread keeps root.  A no-op when no user is configured,
 * the user is root, or the process already runs as that user.  Start-up
 * only: returns -1 after logging (the caller exits), 0 otherwise.
 */
int privdrop_apply(const struct conf *conf);

/*
 * Report each file a reload reads (the configuration, every zone file, the
 * networks file, the GeoIP database, the overrides file) that the process,
 * as it now runs, cannot read.  Returns how many of those reloads need
 * (configuration, zones, networks file: a reload would fail), logged at
 * level (enum log_level); *others counts the GeoIP database (a new version
 * would not be loaded) and an existing overrides file (its changes would
 * not be applied), logged as warnings.  Files a zone file $INCLUDEs are
 * not checked.
 */
unsigned privdrop_check_files(const struct conf *conf, int level, unsigned *others);

/*
 * --check run as root for a configuration with a user: the same check as
 * that user, in a child process that switches to it, since the daemon
 * reloads as that user.  Adds the files reloads need that the user cannot
 * read to *errors (a reload would fail), and the others, or a check that
 * could not run, to *warnings.  Nothing when not root or when no user (or
 * root) is configured.
 */
void privdrop_check_files_as_user(const struct conf *conf, unsigned *errors, unsigned *warnings);

/*
 * --check run as root: the files a start reads, opened as root without
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (in a child process that drops
 * them), as under geodnsd.service, whose capability bounding set leaves
 * them out.  Each one that fails is a warning (outside the unit, root reads
 * it), added to *warnings.  Nothing when not root.
 */
void privdrop_check_files_without_dac(const struct conf *conf, unsigned *warnings);

#endif
