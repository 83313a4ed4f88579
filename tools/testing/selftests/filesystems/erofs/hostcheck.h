/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The assertion counter of the host checks: each CHECK() counts a pass or
 * reports the failed condition; main() ends with "N passed, N failed".
 */
#ifndef EROFS_HOSTCHECK_H
#define EROFS_HOSTCHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) {							\
		passed++;						\
	} else {							\
		failed++;						\
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__,	\
			#cond);						\
	}								\
} while (0)

#endif /* EROFS_HOSTCHECK_H */
