/* SPDX-License-Identifier: GPL-2.0 */
/*
 * End-state checks of the reliability selftests: after a test every erofs
 * mount, fscache volume/cookie, erofs sysfs entry and erofs inode must be
 * gone, and kmemleak must report nothing new.
 *
 *	struct leak_base base;
 *
 *	leak_baseline(&base);			   at fixture set-up
 *	...
 *	char why[256];
 *	ASSERT_EQ(0, leak_wait_clean(&base, 10000, why, sizeof(why)))
 *		TH_LOG("left behind: %s", why);
 *	ASSERT_EQ(0, kmemleak_new(&base, why, sizeof(why))) TH_LOG("%s", why);
 *
 * To check "back to how it was" with something still mounted (e.g. after a
 * failed mount joining a domain), take a struct leak_state with
 * leak_state_take() and poll with leak_wait_state().
 *
 * fscache frees volumes and cookies from work items and inodes are freed
 * after an RCU grace period, so leak_wait_clean() polls (bounded) before it
 * declares a leak.  Only erofs uses fscache in the test guest, so any
 * cookie left is ours.
 */
#ifndef EROFS_LEAKCHECK_H
#define EROFS_LEAKCHECK_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_ctl.h"	/* daemon_ms_now(), daemon_sleep_ms() */

#define SLAB_EROFS_INODE	"/sys/kernel/slab/erofs_inode"
#define KMEMLEAK_FILE		"/sys/kernel/debug/kmemleak"

/* What erofs holds in the kernel; see leak_state_take(). */
struct leak_state {
	int mounts;		/* erofs mounts in /proc/mounts */
	int volumes;		/* fscache volumes "erofs,..." */
	int cookies;		/* fscache cookies (all: only erofs uses fscache) */
	int sysfs;		/* /sys/fs/erofs entries but "features" */
	long erofs_inodes;	/* erofs_inode objects, -1 if unknown */
};

struct leak_base {
	struct leak_state clean;	/* nothing of ours mounted */
	int kmemleak;			/* reported objects, -1 if no kmemleak */
};

/*
 * A leak check that cannot run must not pass silently: print a line the
 * host's report.sh fails on the debug config (where kmemleak and the slab
 * counts are always there).  Unbuffered stderr: one write per line.
 */
static inline void leak_unavailable(const char *what)
{
	fprintf(stderr, "\n@@ LEAKCHECK unavailable: %s\n", what);
}

static inline int leak_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Number of erofs mounts in /proc/mounts. */
static inline int count_erofs_mounts(void)
{
	char dev[512], dir[512], type[64];
	int n = 0;
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return -errno;
	while (fscanf(f, "%511s %511s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "erofs"))
			n++;
	fclose(f);
	return n;
}

/*
 * fscache volumes whose key starts with @prefix (fs/netfs/fscache_volume.c:
 * "VOLUME REF nCOOK ACC FL CACHE KEY", two header lines).  Returns the
 * count or -errno.
 */
static inline int count_fscache_volumes(const char *prefix)
{
	char line[1024];
	int n = 0, ln = 0;
	FILE *f = fopen("/proc/fs/fscache/volumes", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char key[1024] = "";

		if (ln++ < 2)
			continue;
		if (sscanf(line, "%*x %*d %*d %*d %*x %*s %1023[^\n]", key) == 1 &&
		    !strncmp(key, prefix, strlen(prefix)))
			n++;
	}
	fclose(f);
	return n;
}

/* Every fscache cookie (fs/netfs/fscache_cookie.c, two header lines). */
static inline int count_fscache_cookies(void)
{
	char line[1024];
	int n = 0, ln = 0;
	FILE *f = fopen("/proc/fs/fscache/cookies", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (ln++ >= 2)
			n++;
	fclose(f);
	return n;
}

/* Entries of /sys/fs/erofs other than "features": one per live sb. */
static inline int count_erofs_sysfs(char *first, size_t size)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/sys/fs/erofs");

	if (first && size)
		first[0] = '\0';
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "features"))
			continue;
		if (!n && first)
			snprintf(first, size, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/*
 * erofs_inode objects in use.  Shrinking first flushes the per-cpu slabs,
 * whose free objects SLUB would otherwise count as in use.
 */
static inline long count_erofs_inodes(void)
{
	long n = -1;
	FILE *f;

	leak_write_file(SLAB_EROFS_INODE "/shrink", "1");
	f = fopen(SLAB_EROFS_INODE "/objects", "re");
	if (!f) {
		leak_unavailable("no " SLAB_EROFS_INODE "/objects: erofs inodes not counted");
		return -1;
	}
	if (fscanf(f, "%ld", &n) != 1) {
		leak_unavailable("unreadable " SLAB_EROFS_INODE "/objects");
		n = -1;
	}
	fclose(f);
	return n;
}

/* Objects kmemleak currently reports (without a new scan), -1 if none. */
static inline int kmemleak_count(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(KMEMLEAK_FILE, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "unreferenced object", 19))
			n++;
	fclose(f);
	return n;
}

static inline void leak_state_take(struct leak_state *st)
{
	st->mounts = count_erofs_mounts();
	st->volumes = count_fscache_volumes("erofs,");
	st->cookies = count_fscache_cookies();
	st->sysfs = count_erofs_sysfs(NULL, 0);
	st->erofs_inodes = count_erofs_inodes();
}

/*
 * Take the baseline at fixture set-up, with nothing of the test mounted:
 * only the inode count may be non-zero (erofs inodes of other tests still
 * waiting for RCU are allowed for, see leak_wait_state()).
 */
static inline void leak_baseline(struct leak_base *b)
{
	leak_state_take(&b->clean);
	b->clean.mounts = b->clean.volumes = b->clean.cookies = 0;
	b->clean.sysfs = 0;
	b->kmemleak = kmemleak_count();
}

/* 0 when @now is back to @want, else -1 and what differs in @why. */
static inline int leak_state_cmp(const struct leak_state *want,
				 const struct leak_state *now, char *why,
				 size_t size)
{
	char name[256] = "";

	if (now->mounts != want->mounts) {
		snprintf(why, size, "%d erofs mount(s) in /proc/mounts, want %d",
			 now->mounts, want->mounts);
		return -1;
	}
	if (now->volumes != want->volumes) {
		snprintf(why, size, "%d erofs fscache volume(s), want %d",
			 now->volumes, want->volumes);
		return -1;
	}
	if (now->cookies != want->cookies) {
		snprintf(why, size, "%d fscache cookie(s), want %d",
			 now->cookies, want->cookies);
		return -1;
	}
	if (now->sysfs != want->sysfs) {
		count_erofs_sysfs(name, sizeof(name));
		snprintf(why, size, "%d entries in /sys/fs/erofs (e.g. \"%s\"), want %d",
			 now->sysfs, name, want->sysfs);
		return -1;
	}
	if (want->erofs_inodes >= 0 && now->erofs_inodes > want->erofs_inodes) {
		snprintf(why, size, "%ld erofs_inode objects, want <= %ld",
			 now->erofs_inodes, want->erofs_inodes);
		return -1;
	}
	why[0] = '\0';
	return 0;
}

/* Poll until the state is back to @want, for up to @timeout_ms. */
static inline int leak_wait_state(const struct leak_state *want, int timeout_ms,
				  char *why, size_t size)
{
	long long deadline = daemon_ms_now() + timeout_ms;
	struct leak_state now;

	for (;;) {
		leak_state_take(&now);
		if (!leak_state_cmp(want, &now, why, size))
			return 0;
		if (daemon_ms_now() >= deadline)
			return -1;
		daemon_sleep_ms(100);
	}
}

/* Nothing of ours left: no mount, volume, cookie, sysfs entry, inode. */
static inline int leak_wait_clean(const struct leak_base *b, int timeout_ms,
				  char *why, size_t size)
{
	return leak_wait_state(&b->clean, timeout_ms, why, size);
}

/*
 * Scan for leaks and compare with the baseline.  kmemleak only reports an
 * object once it has been unreferenced for 5 s, so wait that long first.
 * Returns 0, or -1 with @why; 0 too when the check cannot run, after
 * printing why for the host (leak_unavailable()).
 */
static inline int kmemleak_new(const struct leak_base *b, char *why, size_t size)
{
	int n;

	why[0] = '\0';
	if (b->kmemleak < 0) {
		leak_unavailable("no " KMEMLEAK_FILE " at the baseline: no kmemleak check");
		return 0;
	}
	daemon_sleep_ms(5500);
	n = leak_write_file(KMEMLEAK_FILE, "scan");
	if (n) {
		snprintf(why, size, "writing scan to " KMEMLEAK_FILE ": %s",
			 strerror(-n));
		leak_unavailable(why);
		why[0] = '\0';
		return 0;
	}
	n = kmemleak_count();
	if (n < 0) {
		leak_unavailable("cannot read " KMEMLEAK_FILE " after the scan");
		return 0;
	}
	if (n > b->kmemleak) {
		snprintf(why, size, "kmemleak reports %d new unreferenced object(s)",
			 n - b->kmemleak);
		return -1;
	}
	return 0;
}

#endif /* EROFS_LEAKCHECK_H */
