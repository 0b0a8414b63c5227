/* tap.h: a minimal TAP-style harness for the C unit tests (one file per module). */
#ifndef GD_TAP_H
#define GD_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_run, tap_failed;

#define OK(cond, ...)                                                               \
	do {                                                                        \
		tap_run++;                                                          \
		if (cond) {                                                         \
			printf("ok %d - ", tap_run);                                \
		} else {                                                            \
			tap_failed++;                                               \
			printf("not ok %d - %s:%d: ", tap_run, __FILE__, __LINE__); \
		}                                                                   \
		printf(__VA_ARGS__);                                                \
		printf("\n");                                                       \
	} while (0)

#define IS_INT(got, want, name)                                          \
	do {                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want); \
		OK(g_ == w_, "%s (got %lld, want %lld)", name, g_, w_);  \
	} while (0)

#define IS_STR(got, want, name)                                                             \
	do {                                                                                \
		const char *g_ = (got), *w_ = (want);                                       \
		OK(g_ != NULL && strcmp(g_, w_) == 0, "%s (got \"%s\", want \"%s\")", name, \
		   g_ ? g_ : "(null)", w_);                                                 \
	} while (0)

#define HAS_STR(hay, needle, name)                                                          \
	do {                                                                                \
		const char *h_ = (hay), *n_ = (needle);                                     \
		OK(h_ != NULL && strstr(h_, n_) != NULL, "%s (\"%s\" in \"%s\")", name, n_, \
		   h_ ? h_ : "(null)");                                                     \
	} while (0)

/* Print the plan and the closing count; exit status is the verdict. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_run);
	printf("%d passed, %d failed\n", tap_run - tap_failed, tap_failed);
	return tap_failed == 0 && tap_run > 0 ? 0 : 1;
}

#endif
