/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the reliability and isolation selftests (storm_test,
 * failnth_test, daemon_faults_test, isolation_test, t_*_test, hostile*):
 * mounting with raw option strings or through fsconfig(2), reading files,
 * running a step in a child with a bounded wait, mountinfo and sysfs.
 */
#ifndef EROFS_REL_H
#define EROFS_REL_H

#include <signal.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <linux/loop.h>
#include <linux/mount.h>

#include "daemon_ctl.h"
#include "erofs_test.h"
#include "erofs_leakcheck.h"

/* Mount in fscache mode with a raw option string.  0 or -errno. */
static inline int erofs_mount_opts(const char *target, const char *opts)
{
	mkdir(target, 0755);
	if (mount("none", target, "erofs", MS_RDONLY, opts))
		return -errno;
	return 0;
}

/* Remount read-only with a raw option string.  0 or -errno. */
static inline int erofs_remount_opts(const char *target, const char *opts)
{
	if (mount("none", target, "erofs", MS_REMOUNT | MS_RDONLY, opts))
		return -errno;
	return 0;
}

/*
 * Mount through fsopen/fsconfig/fsmount, so that values can hold ','
 * (impossible through mount(2)).  @fsid, @domain and @device may be NULL.
 * Returns 0 or the -errno of the first step that failed; *step names it.
 */
static inline int erofs_mount_fsconfig_dev(const char *target, const char *fsid,
					   const char *domain, const char *device,
					   const char **step)
{
	static const char *const keys[3] = { "fsid", "domain_id", "device" };
	static const char *const steps[3] = {
		"fsconfig(fsid)", "fsconfig(domain_id)", "fsconfig(device)",
	};
	const char *vals[3] = { fsid, domain, device };
	int fsfd, mfd, i, ret = 0;

	*step = "fsopen";
	mkdir(target, 0755);
	fsfd = syscall(__NR_fsopen, "erofs", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	for (i = 0; i < 3; i++) {
		*step = steps[i];
		if (vals[i] && syscall(__NR_fsconfig, fsfd, FSCONFIG_SET_STRING,
				       keys[i], vals[i], 0))
			goto err;
	}
	*step = "fsconfig(ro)";
	if (syscall(__NR_fsconfig, fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0))
		goto err;
	*step = "fsconfig(create)";
	if (syscall(__NR_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		goto err;
	*step = "fsmount";
	mfd = syscall(__NR_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (mfd < 0)
		goto err;
	*step = "move_mount";
	if (syscall(__NR_move_mount, mfd, "", AT_FDCWD, target,
		    MOVE_MOUNT_F_EMPTY_PATH))
		ret = -errno;
	else
		*step = "none (mounted)";
	close(mfd);
	close(fsfd);
	return ret;
err:
	ret = -errno;
	close(fsfd);
	return ret;
}

static inline int erofs_mount_fsconfig(const char *target, const char *fsid,
				       const char *domain, const char **step)
{
	return erofs_mount_fsconfig_dev(target, fsid, domain, NULL, step);
}

/* Unmount, detaching lazily if busy; for teardowns. */
static inline void erofs_umount_quiet(const char *target)
{
	if (umount(target) && errno == EBUSY)
		umount2(target, MNT_DETACH);
}

/* Unmount every erofs mount under @prefix (teardown after a failure). */
static inline void erofs_umount_all(const char *prefix)
{
	char dev[512], dir[512], type[64];
	char dirs[64][512];
	int n = 0, i;
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return;
	while (n < 64 && fscanf(f, "%511s %511s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "erofs") && !strncmp(dir, prefix, strlen(prefix)))
			snprintf(dirs[n++], sizeof(dirs[0]), "%s", dir);
	fclose(f);
	for (i = n - 1; i >= 0; i--)
		erofs_umount_quiet(dirs[i]);
}

/*
 * Read @path to the end.  Returns the number of bytes, or -errno of the
 * first failing open/read.
 */
static inline long long read_whole(const char *path)
{
	static char buf[65536];
	long long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	if (n < 0)
		total = -errno;
	close(fd);
	return total;
}

struct read_tree_state {
	int files;
	char *bad;
	size_t size;
};

static inline int read_tree_entry(const char *path, const struct stat *st,
				  int err, void *arg)
{
	struct read_tree_state *r = arg;
	long long got;

	if (!err && !S_ISREG(st->st_mode))
		return 0;
	got = err ? err : read_whole(path);
	if (got < 0) {
		snprintf(r->bad, r->size, "%s", path);
		return (int)got;
	}
	r->files++;
	return 0;
}

/*
 * Walk @dir reading every regular file: returns the number of files read,
 * or -errno of the first failure (path in @bad).
 */
static inline int read_tree(const char *dir, char *bad, size_t size)
{
	struct read_tree_state r = { .bad = bad, .size = size };
	int ret = walk_tree(dir, read_tree_entry, &r);

	return ret < 0 ? ret : r.files;
}

static inline void drop_caches(void)
{
	sync();
	leak_write_file("/proc/sys/vm/drop_caches", "3");
}

/*
 * Run @fn(@arg) in a child and wait up to @timeout_ms.  Returns the
 * child's exit status (0..255; by convention an errno or 0), 128 + signal
 * if it was killed, or -ETIMEDOUT with the child still running and its pid
 * in *left (may be NULL: then it is SIGKILLed and reaped if it can be).
 */
static inline int run_child(int (*fn)(void *), void *arg, int timeout_ms,
			    pid_t *left)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (!pid)
		_exit(fn(arg) & 0xff);
	st = daemon_wait_pid(pid, timeout_ms);
	if (st == -ETIMEDOUT) {
		if (left) {
			*left = pid;
		} else {
			kill(pid, SIGKILL);
			daemon_wait_pid(pid, 5000);
		}
		return -ETIMEDOUT;
	}
	if (st < 0)
		return st;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

struct erofs_mount_req {
	const char *target;
	char opts[640];
};

static inline int erofs_mount_child(void *arg)
{
	struct erofs_mount_req *r = arg;

	return -erofs_mount_opts(r->target, r->opts);
}

/*
 * Mount @fsid (in @domain, may be NULL) in a child that must finish within
 * @timeout_ms: returns 0, -errno, or -ETIMEDOUT with the child left running
 * (its pid in *left if @left, else SIGKILLed).
 */
static inline int erofs_mount_bounded(const char *target, const char *fsid,
				      const char *domain, int timeout_ms,
				      pid_t *left)
{
	struct erofs_mount_req r = { .target = target };
	int st;

	if (domain)
		snprintf(r.opts, sizeof(r.opts), "fsid=%s,domain_id=%s", fsid, domain);
	else
		snprintf(r.opts, sizeof(r.opts), "fsid=%s", fsid);
	st = run_child(erofs_mount_child, &r, timeout_ms, left);
	return st > 0 && st < 128 ? -st : st;
}

/* The mountinfo line of @target (without the trailing newline). */
static inline int mountinfo_line(const char *target, char *line, size_t size)
{
	char buf[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		char mp[PATH_MAX];

		if (sscanf(buf, "%*d %*d %*s %*s %4095s", mp) == 1 &&
		    !strcmp(mp, target)) {
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(line, size, "%s", buf);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

/* Does @file contain @needle anywhere? 1, 0 or -errno. */
static inline int file_contains(const char *file, const char *needle)
{
	char buf[4096];
	FILE *f = fopen(file, "re");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(buf, sizeof(buf), f))
		found = !!strstr(buf, needle);
	fclose(f);
	return found;
}

/*
 * file_contains(), waiting up to @ms for @needle to show up.  For what the
 * daemon logs of a data blob: a mount only acquires the blob's cookie, and
 * fscache sends its OPEN from a worker, after mount(2) may have returned.
 */
static inline int file_wait_contains(const char *file, const char *needle, int ms)
{
	long long end = daemon_ms_now() + ms;
	int found;

	while (!(found = file_contains(file, needle)) && daemon_ms_now() < end)
		daemon_sleep_ms(50);
	return found;
}

/* Is there an entry @name in /sys/fs/erofs?  1 or 0. */
static inline int erofs_sysfs_has(const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "/sys/fs/erofs/%s", name);
	return !lstat(p, &st);
}

/* Does any /sys/fs/erofs entry contain @needle?  1 or 0, name in @found. */
static inline int erofs_sysfs_grep(const char *needle, char *found, size_t size)
{
	struct dirent *de;
	DIR *d = opendir("/sys/fs/erofs");
	int ret = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strstr(de->d_name, needle)) {
			snprintf(found, size, "%s", de->d_name);
			ret = 1;
			break;
		}
	closedir(d);
	return ret;
}

/*
 * Backing files of a volume once the cookies are withdrawn (asynchronous
 * after umount): poll up to 10 s for @want, return the last count.
 */
static inline int wait_backing_files(const char *cache, const char *volume,
				     int want)
{
	long long deadline = daemon_ms_now() + 10000;
	int n;

	for (;;) {
		n = count_backing_files(cache, volume);
		if (n == want || daemon_ms_now() >= deadline)
			return n;
		daemon_sleep_ms(100);
	}
}

/* A multiplier for the amount of work of storms: $STRESS, default 1. */
static inline int stress_factor(void)
{
	const char *s = getenv("STRESS");
	int v = s ? atoi(s) : 1;

	return v > 0 ? v : 1;
}

/*
 * kmemleak's count when the program started: each program ends with one
 * test that scans and compares (see kmemleak_new()).
 */
static int kmemleak_at_start = -1;

static void __attribute__((constructor)) take_kmemleak_baseline(void)
{
	kmemleak_at_start = kmemleak_count();
}

/* Objects kmemleak finds now that it did not report at program start. */
static inline int kmemleak_new_since_start(char *why, size_t size)
{
	struct leak_base b = { .kmemleak = kmemleak_at_start };

	return kmemleak_new(&b, why, size);
}

/*
 * Attach @file read-only to a free loop device (autoclear: it detaches
 * once unmounted and closed).  Returns an fd of the device to close after
 * mounting, or -errno; the device path in @dev.
 */
static inline int loop_attach(const char *file, char *dev, size_t size)
{
	struct loop_config cfg;
	int ctl, n, fd, lfd;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (n < 0)
		return -errno;
	snprintf(dev, size, "/dev/loop%d", n);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	lfd = open(dev, O_RDONLY | O_CLOEXEC);
	if (lfd < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = fd;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	n = ioctl(lfd, LOOP_CONFIGURE, &cfg) ? -errno : lfd;
	close(fd);
	if (n < 0)
		close(lfd);
	return n;
}

/* /dev/kmsg positioned at its end: what the kernel logs from now on. */
static inline int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Did the kernel log @needle since the last call (or the open)?  1 or 0. */
static inline int kmsg_grep(int fd, const char *needle, char *line, size_t size)
{
	char rec[8192];
	int found = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (!found && strstr(rec, needle)) {
			found = 1;
			if (line && size) {
				size_t l = strnlen(rec, size - 1);

				memcpy(line, rec, l);
				line[l] = '\0';
			}
		}
	}
	return found;
}

#endif /* EROFS_REL_H */
