/* rfile.c: regular files only (rfile.h). */
#include "config.h"

#include "dns/rfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Close fd after a failed call, keeping that call's errno. */
static void close_keep_errno(int fd)
{
	int err = errno;
	close(fd);
	errno = err;
}

/* The phrase for a file of mode m that is not regular, with errno set. */
static const char *not_regular(mode_t m)
{
	errno = S_ISDIR(m) ? EISDIR : EINVAL;
	return S_ISDIR(m) ? "is a directory, not a file"
			  : "is not a regular file (a FIFO, socket or device)";
}

/* "cannot open: " and errno's text, errno kept. */
static const char *cannot_open(void)
{
	static __thread char buf[160];
	int err = errno;
	snprintf(buf, sizeof(buf), "cannot open: %s", strerror(err));
	errno = err;
	return buf;
}

FILE *rfile_open(const char *path, const char **what)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	const char *why;
	if (fd < 0) {
		why = cannot_open();
	} else if (fstat(fd, &st) != 0) {
		close_keep_errno(fd);
		why = cannot_open();
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		why = not_regular(st.st_mode);
	} else {
		int flags = fcntl(fd, F_GETFL);
		if (flags >= 0)
			fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
		FILE *fp = fdopen(fd, "r");
		if (fp != NULL)
			return fp;
		close_keep_errno(fd);
		why = cannot_open();
	}
	if (what != NULL)
		*what = why;
	return NULL;
}

int rfile_check(const char *path, const char **what)
{
	struct stat st;
	const char *why;
	if (stat(path, &st) != 0)
		why = cannot_open();
	else if (!S_ISREG(st.st_mode))
		why = not_regular(st.st_mode);
	else
		return 0;
	if (what != NULL)
		*what = why;
	return -1;
}
