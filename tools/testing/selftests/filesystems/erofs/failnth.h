/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the fault-injection selftests (failnth_test,
 * failnth_workers_test): reading and writing small sysfs/debugfs values,
 * saving, preparing and restoring failslab's knobs, and watching the
 * kernel log (/dev/kmsg) and the taint for what the host's report.sh
 * would fail the run on, so that a test can name the step that caused it.
 */
#ifndef EROFS_FAILNTH_H
#define EROFS_FAILNTH_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "erofs_leakcheck.h"

#define FAILSLAB_DIR	"/sys/kernel/debug/failslab"

static inline void read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * failslab's knobs the tests change, in the order they are restored:
 * "probability" first, so that nothing is armed while the rest is written.
 */
static const char * const failslab_knobs[] = {
	"probability", "interval", "times", "space", "task-filter",
	"ignore-gfp-wait", "verbose", NULL,
};

struct failslab_saved {
	char val[sizeof(failslab_knobs) / sizeof(failslab_knobs[0])][32];
};

static inline int failslab_write(const char *knob, const char *val)
{
	char p[128];

	snprintf(p, sizeof(p), FAILSLAB_DIR "/%s", knob);
	return leak_write_file(p, val);
}

/*
 * Save failslab's knobs into @s, then set what every test here needs: by
 * default failslab spares allocations that may sleep, i.e. all of a mount
 * path, and a verbose fault report prints a stack dump that the host's log
 * scan takes for a bug.  0, or the -errno of a write that failed.
 */
static inline int failslab_save_prepare(struct failslab_saved *s)
{
	char p[128];
	int i;

	for (i = 0; failslab_knobs[i]; i++) {
		snprintf(p, sizeof(p), FAILSLAB_DIR "/%s", failslab_knobs[i]);
		read_small(p, s->val[i], sizeof(s->val[i]));
	}
	return failslab_write("ignore-gfp-wait", "N") ?:
	       failslab_write("verbose", "0");
}

/* Write back what failslab_save_prepare() saved (nothing if it did not run). */
static inline void failslab_restore(const struct failslab_saved *s)
{
	int i;

	for (i = 0; failslab_knobs[i]; i++)
		if (s->val[i][0])
			failslab_write(failslab_knobs[i], s->val[i]);
}

/* Kernel log lines the host's report.sh would fail the run on. */
static const char * const kmsg_bad[] = {
	"BUG:", "WARNING:", "KASAN:", "INFO: ", "Oops", "general protection fault",
	"Call Trace:", "Kernel panic", "Busy inodes", "kmemleak:", "UBSAN:",
	"list_add corruption", "list_del corruption", "ODEBUG:", NULL,
};

/* A reader of new /dev/kmsg records and of the taint, from a start point. */
struct kwatch {
	int fd;
	unsigned long taint;
};

static inline unsigned long read_taint(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/tainted", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return strtoul(buf, NULL, 10);
}

static inline int kwatch_start(struct kwatch *w)
{
	w->taint = read_taint();
	w->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	lseek(w->fd, 0, SEEK_END);
	return 0;
}

/*
 * 0 when nothing bad was logged and no new taint bit appeared since the
 * last call; else -1 with the first bad line (or the taint) in @why.
 */
static inline int kwatch_check(struct kwatch *w, char *why, size_t size)
{
	char rec[2048];
	unsigned long t;
	int bad = 0, i;
	ssize_t n;

	for (;;) {
		n = read(w->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = '\0';
		for (i = 0; !bad && kmsg_bad[i]; i++) {
			char *msg = strchr(rec, ';');

			if (msg && strstr(msg, kmsg_bad[i])) {
				msg[strcspn(msg, "\n")] = '\0';
				snprintf(why, size, "kernel: %s", msg + 1);
				bad = 1;
			}
		}
	}
	t = read_taint();
	if (!bad && (t & ~w->taint)) {
		snprintf(why, size, "kernel newly tainted: %lu (was %lu)", t, w->taint);
		bad = 1;
	}
	w->taint = t;
	return bad ? -1 : 0;
}

static inline void kwatch_stop(struct kwatch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

#endif /* EROFS_FAILNTH_H */
