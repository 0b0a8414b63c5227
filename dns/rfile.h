/* rfile.h: opening the files an operator names (configuration, zones,
 * networks, GeoIP database, overrides): regular files only. */
#ifndef GD_RFILE_H
#define GD_RFILE_H

#include <stdio.h>

/*
 * Open path for reading when it is a regular file.  A FIFO would block
 * the reader until a writer came (the daemon's event loop, or --check
 * for ever), a device such as /dev/zero never ends, and a directory reads
 * as an empty file: each is refused.  Returns the stream, or NULL with
 * errno set (ENOENT and the like from open(); EISDIR for a directory;
 * EINVAL for another kind) and *what, when not NULL, set to a phrase for
 * the message: "cannot open: No such file or directory", "is a directory,
 * not a file", "is not a regular file (a FIFO, socket or device)" (valid
 * until the thread's next call).
 */
FILE *rfile_open(const char *path, const char **what);

/* rfile_open()'s check alone, for readers that open the file themselves
 * (libmaxminddb): 0 when path is a regular file, else -1 as above. */
int rfile_check(const char *path, const char **what);

#endif
