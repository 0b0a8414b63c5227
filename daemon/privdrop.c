/* privdrop.c: giving up root for the configured user once the sockets are bound. */
#include "config.h"

#include "daemon/privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "dns/log.h"

int privdrop_check(const struct conf *conf)
{
	uid_t euid = geteuid();
	if (euid == 0) {
		if (conf->user == NULL)
			log_msg(LOG_LEVEL_WARNING, "privdrop: running as root: "
						   "set 'user' in 'server' to drop privileges "
						   "once the sockets are bound");
		return 0;
	}
	if (conf->user == NULL)
		return 0;
	if (conf->uid != euid || (conf->group != NULL && conf->gid != getegid())) {
		log_msg(LOG_LEVEL_ERR,
			"privdrop: cannot switch to user '%s'%s%s%s: "
			"geodnsd runs as uid %u, gid %u, and only root can "
			"switch (start it as root, or as that user)",
			conf->user, conf->group ? " and group '" : "",
			conf->group ? conf->group : "", conf->group ? "'" : "", (unsigned)euid,
			(unsigned)getegid());
		return -1;
	}
	return 0;
}

/* After a drop nothing may bring root back (a saved set-user-ID of 0
 * would): try, and treat success as fatal. */
static int verify(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -1;
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return -1;
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		return -1;
	return 0;
}

int privdrop_apply(const struct conf *conf)
{
	if (conf->user == NULL || conf->uid == 0 || geteuid() != 0)
		return 0; /* privdrop_check() accepted the non-root case */
	uid_t uid = conf->uid;
	gid_t gid = conf->gid;
	/* Groups first: after setresuid() we could no longer change them. */
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		log_msg(LOG_LEVEL_ERR,
			"privdrop: cannot switch to user '%s' "
			"(uid %u, gid %u): %s",
			conf->user, (unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	if (verify(uid, gid) < 0) {
		log_msg(LOG_LEVEL_ERR,
			"privdrop: switched to user '%s' but root "
			"privileges could be regained; stopping",
			conf->user);
		return -1;
	}
	log_msg(LOG_LEVEL_INFO,
		"privdrop: now running as user '%s' (uid %u), "
		"group %u",
		conf->user, (unsigned)uid, (unsigned)gid);
	return 0;
}

/* What a file the user cannot read breaks. */
enum file_use {
	NEEDED,   /* every reload reads it: reloads fail */
	DATABASE, /* read when replaced: a new version is not loaded */
	OVERRIDES /* read when it changes, if it exists */
};

/* Set in the --check child that checks start-up reads as root without
 * the DAC capabilities (the unit's case): reports are warnings. */
static bool no_dac;

/* 1 when path should be readable and is not (logged: a NEEDED file at
 * level, the others as warnings, saying what that breaks), else 0. */
static unsigned check_file(const char *path, const char *what, enum file_use use, int level)
{
	if (path == NULL)
		return 0;
	/* A missing overrides file is an empty one (one the user cannot even
	 * see for a directory on its path is reported); a file missing for
	 * everyone, root included, is for the load to report: this is about
	 * permissions. */
	if ((use == OVERRIDES || no_dac) && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	/* Opened as the daemon opens it, with the IDs and capabilities the
	 * check child now has. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (no_dac) {
		log_msg(LOG_LEVEL_WARNING,
			"privdrop: %s '%s' is not readable by root without "
			"CAP_DAC_OVERRIDE (%s): geodnsd.service does not grant it, "
			"so a start from the unit fails to read it (make it readable by "
			"root's user or group)",
			what, path, strerror(errno));
		return 1;
	}
	static const char *const breaks[] = {
		[NEEDED] = "reloads will fail",
		[DATABASE] = "a new version of it will not be loaded (the running one is kept)",
		[OVERRIDES] = "changes to it will not be applied",
	};
	log_msg(use == NEEDED ? (enum log_level)level : LOG_LEVEL_WARNING,
		"privdrop: %s '%s' is not readable as uid %u (%s): %s", what, path,
		(unsigned)getuid(), strerror(errno), breaks[use]);
	return 1;
}

unsigned privdrop_check_files(const struct conf *conf, int level, unsigned *others)
{
	unsigned n = check_file(conf->path, "configuration", NEEDED, level);
	for (size_t i = 0; i < conf->n_zones; i++)
		n += check_file(conf->zones[i].file, "zone file", NEEDED, level);
	/* Network rules name the file they came from: networks-file's. */
	const char *last = conf->path;
	for (size_t i = 0; i < conf->geo.n_nets; i++) {
		const char *f = conf->geo.nets[i].file;
		if (f != NULL && strcmp(f, last) != 0 && strcmp(f, conf->path) != 0)
			n += check_file(f, "networks file", NEEDED, level);
		if (f != NULL)
			last = f;
	}
	/* Without datacenters the database is never read (conf.c warns). */
	const char *db = conf->geo.n_dcs > 0 ? conf->geo.database : NULL;
	*others = check_file(db, "geoip database", DATABASE, level) +
		  check_file(conf->state_file, "overrides file", OVERRIDES, level);
	return n;
}

/* The check child's exit status: files reloads need that the user cannot
 * read (up to 63) | other unreadable files (the database, the overrides
 * file: at most 2) << 6; 255 (3 << 6 | 63) when it cannot switch. */
#define CHECK_CANNOT_SWITCH 255

/* Take CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of the effective and
 * permitted sets (for root, access() and open() honour either). */
static int drop_dac(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[2];
	if (syscall(SYS_capget, &h, c) < 0)
		return -1;
	uint32_t dac = 1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH;
	c[0].effective &= ~dac;
	c[0].permitted &= ~dac;
	c[0].inheritable &= ~dac;
	return (int)syscall(SYS_capset, &h, c);
}

/*
 * Run fn(conf) in a child process and return its exit status.  -1: it
 * could not be run or waited for (*failed names the call, errno says
 * why); -2: it died, with *status from waitpid().  SIGCHLD is at its
 * default meanwhile: one ignored by whoever started us is inherited and
 * would reap the child itself, and waitpid() would find nothing.
 */
static int in_child(int (*fn)(const struct conf *), const struct conf *conf, const char **failed,
		    int *status)
{
	fflush(NULL); /* nothing buffered is written twice */
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old);
	pid_t pid = fork();
	if (pid == 0) {
		int code = fn(conf);
		fflush(NULL);
		_exit(code);
	}
	int rc = -1;
	if (pid > 0)
		while ((rc = waitpid(pid, status, 0)) < 0 && errno == EINTR)
			;
	int err = errno;
	sigaction(SIGCHLD, &old, NULL);
	errno = err;
	if (pid < 0 || rc < 0) {
		*failed = pid < 0 ? "fork" : "waitpid";
		return -1;
	}
	return WIFEXITED(*status) ? WEXITSTATUS(*status) : -2;
}

/* The check as root without the DAC capabilities: how many files failed. */
static int check_without_dac(const struct conf *conf)
{
	if (drop_dac() < 0)
		return 0; /* nothing to learn */
	no_dac = true;
	unsigned others, n = privdrop_check_files(conf, LOG_LEVEL_WARNING, &others);
	n += others;
	return n > 255 ? 255 : (int)n;
}

void privdrop_check_files_without_dac(const struct conf *conf, unsigned *warnings)
{
	const char *failed;
	int status;
	if (geteuid() != 0)
		return;
	int st = in_child(check_without_dac, conf, &failed, &status);
	if (st > 0)
		*warnings += (unsigned)st;
}

/* The check as the configured user (see CHECK_CANNOT_SWITCH). */
static int check_as_user(const struct conf *conf)
{
	gid_t gid = conf->gid;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(conf->uid, conf->uid, conf->uid) < 0) {
		log_msg(LOG_LEVEL_WARNING, "privdrop: cannot switch to user '%s': %s", conf->user,
			strerror(errno));
		return CHECK_CANNOT_SWITCH;
	}
	unsigned others, n = privdrop_check_files(conf, LOG_LEVEL_ERR, &others);
	return (n > 63 ? 63 : (int)n) | (int)(others << 6);
}

void privdrop_check_files_as_user(const struct conf *conf, unsigned *errors, unsigned *warnings)
{
	const char *failed;
	int status;
	if (conf->user == NULL || conf->uid == 0 || geteuid() != 0)
		return;
	int st = in_child(check_as_user, conf, &failed, &status);
	if (st == -1 && strcmp(failed, "fork") == 0)
		log_msg(LOG_LEVEL_WARNING, "privdrop: cannot check files as user '%s': fork: %s",
			conf->user, strerror(errno));
	else if (st == -1)
		log_msg(LOG_LEVEL_WARNING, "privdrop: checking files as user '%s': waitpid: %s",
			conf->user, strerror(errno));
	else if (st == -2)
		log_msg(LOG_LEVEL_WARNING,
			"privdrop: checking files as user '%s': the check process "
			"died (status %d)",
			conf->user, status);
	if (st < 0 || st == CHECK_CANNOT_SWITCH) {
		++*warnings;
		return;
	}
	*errors += (unsigned)(st & 63);
	*warnings += (unsigned)(st >> 6);
}
