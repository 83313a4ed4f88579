/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the fault-injection selftests (failnth_test,
 * failnth_workers_test): reading small sysfs/debugfs values, and watching
 * the kernel log (/dev/kmsg) and the taint for what the host's report.sh
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
