/* check_exec.c: an external-command probe: up when the command exits 0. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/types.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "healthcheck/probe.h"

/*
 * How the child is watched.  The command is started with posix_spawnp() in
 * its own process group, with stdin on /dev/null, stdout and stderr on a
 * pipe whose first line becomes part of the reason (as Nagios-style plugins
 * report), and every signal at its default disposition (the daemon ignores SIGPIPE, and an
 * ignored signal would survive exec).  glibc (2.24 and later) and musl
 * return a failed exec as posix_spawnp()'s error (musl over a close-on-exec
 * pipe, glibc through its CLONE_VFORK child), so "cannot run" needs no pipe
 * of ours; a libc that does not shows it as "exit 127".  The event loop
 * waits only for the exec itself, never for the command.
 *
 * Exit is detected by polling waitid(pid, WNOHANG) on a timer whose period
 * doubles from 1 ms to 50 ms.  No SIGCHLD handler is installed: that would
 * be process-wide, would race with any other code that forks, and libevent
 * allows one signal-owning base.  The output pipe plays no part in it, so
 * daemonising grandchildren that keep it open, or commands that close all
 * descriptors, cannot hide or fake the exit; it is read as it fills (the
 * first line kept, the rest discarded, so a chatty command never blocks)
 * and closed with the run.  The cost is at most 20 cheap syscalls a second
 * per running command, and a verdict at most 50 ms late.
 *
 * The process group is killed (SIGKILL) on cancel, and also after a normal
 * exit so that background leftovers of the command do not outlive the run:
 * exit is first observed with waitid(WNOWAIT), the group killed while the
 * zombie leader still pins the group ID, and only then the leader reaped.
 * The daemon must leave SIGCHLD at SIG_DFL (not SIG_IGN / SA_NOCLDWAIT)
 * and must not reap with waitpid(-1), or statuses are lost ("exit status
 * lost").
 */

#define EXEC_POLL_FIRST_US 1000
#define EXEC_POLL_MAX_US   50000

extern char **environ;

#define EXEC_OUT_KEEP 120 /* octets of output kept for the reason */

struct exec_run {
	struct hc_probe *p;
	pid_t pid;
	struct event *poll;
	long poll_us;
	char cmd[128]; /* argv[0], for reasons */
	int out_fd;    /* read end of the output pipe, -1 when closed */
	struct event *out_ev;
	char out[EXEC_OUT_KEEP + 1];
	size_t out_len;
};

/* Replace "%a", "%p" and "%%" in one argument; caller frees. */
static char *exec_subst(const char *arg, const char *addr, const char *port)
{
	size_t len = strlen(arg) + 1;
	for (const char *s = arg; *s != '\0'; s++)
		if (s[0] == '%' && (s[1] == 'a' || s[1] == 'p'))
			len += strlen(s[1] == 'a' ? addr : port);
	char *out = malloc(len), *o = out;
	if (out == NULL)
		return NULL;
	for (const char *s = arg; *s != '\0'; s++) {
		if (s[0] == '%' && (s[1] == 'a' || s[1] == 'p' || s[1] == '%')) {
			const char *v = s[1] == 'a' ? addr : s[1] == 'p' ? port : "%";
			size_t n = strlen(v);
			memcpy(o, v, n);
			o += n;
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

static void exec_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

static char **exec_argv_new(const struct hc_probe *p)
{
	const struct hc_params *hp = p->params;
	char port[8];
	char **argv = calloc(hp->argc + 1, sizeof(*argv));
	if (argv == NULL)
		return NULL;
	snprintf(port, sizeof(port), "%u", (unsigned)p->port);
	for (size_t i = 0; i < hp->argc; i++) {
		argv[i] = exec_subst(hp->argv[i], p->addr_text, port);
		if (argv[i] == NULL) {
			exec_argv_free(argv);
			return NULL;
		}
	}
	return argv;
}

static int exec_spawn_setup(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa, int out_wr)
{
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	if (posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF) != 0 ||
	    posix_spawnattr_setpgroup(attr, 0) != 0 ||
	    posix_spawnattr_setsigmask(attr, &none) != 0 ||
	    posix_spawnattr_setsigdefault(attr, &all) != 0)
		return -1;
	if (posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, out_wr, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, 1, 2) != 0)
		return -1;
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
	/* The daemon's descriptors should all be close-on-exec; make sure. */
	if (posix_spawn_file_actions_addclosefrom_np(fa, 3) != 0)
		return -1;
#endif
#endif
	return 0;
}

/* Start the command, its output to a pipe whose read end becomes
 * run->out_fd (non-blocking); returns 0 or an errno value. */
static int exec_spawn(struct exec_run *run, char **argv)
{
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	int err, fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return errno;
	if ((err = posix_spawnattr_init(&attr)) != 0)
		goto out;
	if ((err = posix_spawn_file_actions_init(&fa)) != 0) {
		posix_spawnattr_destroy(&attr);
		goto out;
	}
	/* The child's end blocks like any stdout. */
	fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) & ~O_NONBLOCK);
	if (exec_spawn_setup(&attr, &fa, fds[1]) < 0)
		err = ENOMEM;
	else
		err = posix_spawnp(&run->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
out:
	close(fds[1]);
	if (err == 0)
		run->out_fd = fds[0];
	else
		close(fds[0]);
	return err;
}

/* Take what the command wrote: the first EXEC_OUT_KEEP octets are kept,
 * the rest read and dropped.  At end of file the pipe is closed. */
static void exec_out_read(struct exec_run *run)
{
	char buf[4096];
	while (run->out_fd >= 0) {
		ssize_t n = read(run->out_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) { /* end of file, or an error: no more output */
			if (run->out_ev != NULL)
				event_del(run->out_ev);
			close(run->out_fd);
			run->out_fd = -1;
			return;
		}
		size_t take = (size_t)n < EXEC_OUT_KEEP - run->out_len
				      ? (size_t)n
				      : EXEC_OUT_KEEP - run->out_len;
		memcpy(run->out + run->out_len, buf, take);
		run->out_len += take;
	}
}

static void exec_out_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	exec_out_read(arg);
}

/* The first line of the output, control characters as spaces, trimmed. */
static void exec_out_line(struct exec_run *run, char *out, size_t size)
{
	size_t n = 0;
	run->out[run->out_len] = '\0';
	for (const char *s = run->out; *s != '\0' && *s != '\n' && n + 1 < size; s++)
		out[n++] = (unsigned char)*s < ' ' || *s == 0x7f ? ' ' : *s;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	size_t lead = strspn(out, " ");
	memmove(out, out + lead, n - lead + 1);
}

/*
 * Kill the command's process group, then reap the leader.  Called only
 * while the leader is unreaped (running or a zombie): its PID, and so the
 * group ID, cannot have been reused, so the kill reaches only our command
 * and its descendants.  After SIGKILL the blocking waitpid() is immediate.
 */
static int exec_kill_reap(struct exec_run *run)
{
	int st = 0;
	kill(-run->pid, SIGKILL);
	kill(run->pid, SIGKILL);
	while (waitpid(run->pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static void exec_run_free(struct exec_run *run)
{
	if (run->poll != NULL)
		event_free(run->poll);
	if (run->out_ev != NULL)
		event_free(run->out_ev);
	if (run->out_fd >= 0)
		close(run->out_fd);
	free(run);
}

/* The single completion path. */
static void exec_finish(struct exec_run *run, bool ok, const char *reason)
{
	struct hc_probe *p = run->p;
	exec_run_free(run);
	p->kind_state = NULL;
	p->done(p, ok, reason);
}

static void exec_judge(struct exec_run *run, int st)
{
	char reason[64 + EXEC_OUT_KEEP], line[EXEC_OUT_KEEP + 1];
	bool ok = false;
	int n;
	exec_out_read(run); /* what is left in the pipe */
	exec_out_line(run, line, sizeof(line));
	if (WIFEXITED(st)) {
		ok = WEXITSTATUS(st) == 0;
		n = snprintf(reason, sizeof(reason), "exit %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		n = snprintf(reason, sizeof(reason), "killed by signal %d", WTERMSIG(st));
	} else {
		n = snprintf(reason, sizeof(reason), "unexpected wait status %#x", (unsigned)st);
	}
	if (line[0] != '\0' && n > 0 && (size_t)n < sizeof(reason))
		snprintf(reason + n, sizeof(reason) - (size_t)n, ": %s", line);
	exec_finish(run, ok, reason);
}

static void exec_schedule(struct exec_run *run)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = run->poll_us };
	evtimer_add(run->poll, &tv);
	run->poll_us *= 2;
	if (run->poll_us > EXEC_POLL_MAX_US)
		run->poll_us = EXEC_POLL_MAX_US;
}

/* Has the leader exited?  WNOWAIT leaves it a zombie until we have killed
 * its leftovers: 1 yes, 0 not yet, -1 it is not our child any more. */
static int exec_exited(const struct exec_run *run)
{
	siginfo_t si;
	int r;
	memset(&si, 0, sizeof(si));
	do {
		r = waitid(P_PID, (id_t)run->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	return si.si_pid != 0;
}

static void exec_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_run *run = arg;
	(void)fd;
	(void)what;

	switch (exec_exited(run)) {
	case 0:
		exec_schedule(run);
		break;
	case 1:
		/* Background leftovers must not outlive the run. */
		exec_judge(run, exec_kill_reap(run));
		break;
	default:
		/* Reaped elsewhere (SIGCHLD ignored, or a waitpid(-1)). */
		exec_finish(run, false, "exit status lost (child reaped elsewhere)");
		break;
	}
}

static int exec_start(struct hc_probe *p)
{
	char reason[300];
	struct exec_run *run = calloc(1, sizeof(*run));
	char **argv = NULL;
	int err;

	if (run == NULL) {
		p->done(p, false, "out of memory");
		return -1;
	}
	run->p = p;
	run->poll_us = EXEC_POLL_FIRST_US;
	run->out_fd = -1;
	if (p->params->argc == 0 || p->params->argv == NULL) {
		snprintf(reason, sizeof(reason), "no command");
		goto fail;
	}
	snprintf(run->cmd, sizeof(run->cmd), "%s", p->params->argv[0]);
	run->poll = evtimer_new(p->base, exec_poll_cb, run);
	argv = exec_argv_new(p);
	if (run->poll == NULL || argv == NULL) {
		snprintf(reason, sizeof(reason), "out of memory");
		goto fail;
	}
	if ((err = exec_spawn(run, argv)) != 0) {
		snprintf(reason, sizeof(reason), "cannot run '%s': %s", run->cmd, strerror(err));
		goto fail;
	}
	exec_argv_free(argv);
	argv = NULL;
	run->out_ev = event_new(p->base, run->out_fd, EV_READ | EV_PERSIST, exec_out_cb, run);
	if (run->out_ev != NULL)
		event_add(run->out_ev, NULL);
	exec_schedule(run);
	p->kind_state = run;
	return 0;
fail:
	exec_argv_free(argv);
	exec_run_free(run);
	p->kind_state = NULL;
	p->done(p, false, reason);
	return -1;
}

/* Blocking in waitpid() is fine here: after SIGKILL the exit is immediate. */
static void exec_cancel(struct hc_probe *p)
{
	struct exec_run *run = p->kind_state;
	if (run == NULL)
		return;
	exec_kill_reap(run);
	exec_run_free(run);
	p->kind_state = NULL;
}

static const char *exec_stage(const struct hc_probe *p)
{
	(void)p;
	return "(the command had not exited; it is killed)";
}

const struct hc_kind_ops check_exec_ops = {
	.name = "exec",
	.default_port = 0,
	.start = exec_start,
	.cancel = exec_cancel,
	.stage = exec_stage,
};
