/* sdnotify.c: sd_notify(3) messages to systemd, or nothing without libsystemd. */
#include "config.h"

#include "daemon/sdnotify.h"

#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#ifdef HAVE_LIBSYSTEMD
void sdnotify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void sdnotify_reloading(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)now.tv_sec * 1000000ULL +
			   (unsigned long long)now.tv_nsec / 1000ULL);
}

void sdnotify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void sdnotify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
#else
void sdnotify_ready(const char *status)
{
	(void)status;
}

void sdnotify_reloading(void)
{
}

void sdnotify_status(const char *status)
{
	(void)status;
}

void sdnotify_stopping(void)
{
}
#endif
