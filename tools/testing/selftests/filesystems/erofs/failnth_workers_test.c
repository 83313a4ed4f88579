// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection in the workers of an EROFS domain mount (plan item T8).
 * fail-nth (failnth_test) only reaches the mounting task; fscache and
 * cachefiles do part of a mount in kworkers (volume creation, cookie
 * lookup, the OPEN request, and on umount the withdrawal).  Here every
 * kworker is flagged with make-it-fail and failslab (task-filter) armed
 * for exactly one fault, "space" bytes into the workers' slab allocations,
 * around one mount + read + umount; "space" is swept over a whole cycle.
 * Whatever a fault breaks (the mount, a read), afterwards nothing may be
 * left behind, the kernel must print nothing the host's log scan fails on
 * and must not be tainted; a window whose fault did not fire must work
 * byte-exact.  The sweep stops at the first window that leaves something
 * behind (and logs fscache's volumes and cookies, the daemon's anonymous
 * fds and the tail of its log), and the final check uses another domain:
 * a volume left behind makes the next mount of its domain wait for it in
 * __fscache_acquire_volume() for as long as whatever pins it lives.  This
 * is how the sweep found the CLOSE request lost to a failed allocation
 * (fixed by "cachefiles: never lose the CLOSE request of an on-demand
 * object"): the daemon kept that object's fd, and so its cookie and volume.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"
#include "failnth.h"

#define MNT_A	"/mnt/fw.a"

FIXTURE(workers) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	struct failslab_saved failslab;
};

static void failslab_disarm(void);

FIXTURE_SETUP(workers)
{
	if (access(FAILSLAB_DIR "/ignore-gfp-wait", W_OK))
		SKIP(return, "no " FAILSLAB_DIR " (CONFIG_FAILSLAB, FAULT_INJECTION_DEBUG_FS)");
	/* as in failnth_test: sleeping allocations too, no stack dumps */
	ASSERT_EQ(0, failslab_save_prepare(&self->failslab));

	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("failnthw", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(workers)
{
	failslab_disarm();
	erofs_umount_all("/mnt/fw.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	failslab_restore(&self->failslab);
}

/* Set make-it-fail on every kworker (@on) or clear it; how many were set. */
static int kworkers_make_it_fail(int on)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char p[300], comm[64];

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/comm", de->d_name);
		read_small(p, comm, sizeof(comm));
		if (strncmp(comm, "kworker", 7))
			continue;
		snprintf(p, sizeof(p), "/proc/%s/make-it-fail", de->d_name);
		if (!leak_write_file(p, on ? "1" : "0"))
			n++;
	}
	closedir(d);
	return n;
}

static long failslab_read(const char *knob)
{
	char p[128], v[32];

	snprintf(p, sizeof(p), FAILSLAB_DIR "/%s", knob);
	read_small(p, v, sizeof(v));
	return v[0] ? strtol(v, NULL, 10) : -1;
}

static int failslab_set(const char *knob, long val)
{
	char v[32];

	snprintf(v, sizeof(v), "%ld", val);
	return failslab_write(knob, v);
}

/* Arm one fault @space bytes into the kworkers' slab allocations. */
static int failslab_arm(long space)
{
	if (kworkers_make_it_fail(1) <= 0)
		return -ENOENT;
	return failslab_set("task-filter", 1) ?: failslab_set("interval", 1) ?:
	       failslab_set("space", space) ?: failslab_set("times", 1) ?:
	       failslab_set("probability", 100);
}

/* Print a small text file (proc, debugfs) as "# " lines, for diagnosis. */
static void log_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f) {
		printf("# %s: %s\n", path, strerror(errno));
		return;
	}
	printf("# --- %s ---\n", path);
	while (fgets(line, sizeof(line), f))
		printf("# %s", line);
	fclose(f);
}

/* The anonymous fds (one per object) the daemon holds open. */
static void log_daemon_fds(pid_t pid)
{
	char p[64], q[PATH_MAX + 64], target[256];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	d = opendir(p);
	if (!d)
		return;
	while ((de = readdir(d))) {
		ssize_t len;

		snprintf(q, sizeof(q), "%s/%s", p, de->d_name);
		len = readlink(q, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !!strstr(target, "anon_inode:[cachefiles]");
	}
	closedir(d);
	printf("# the daemon (pid %d) holds %d cachefiles anon fd(s)\n", (int)pid, n);
}

static void failslab_disarm(void)
{
	failslab_set("probability", 0);
	kworkers_make_it_fail(0);
}

struct window {
	int mount_ret;		/* mount(2): 0 or -errno */
	int exact;		/* read byte-exact (1), wrong bytes (0), not mounted (-1), a read failed (-2) */
	int fired;		/* the fault was injected */
	long used;		/* bytes the workers allocated in the window */
};

/*
 * Exit codes of window_child(): an errno of mount(2) (below 124), or one
 * of these; run_child() keeps 128 and up for signals.
 */
enum { WIN_EXACT = 123, WIN_WRONG, WIN_READ_FAILED, WIN_UMOUNT };

static int window_child(void *arg)
{
	int ret = erofs_mount(MNT_A, "bootA", "fnw"), exact;

	(void)arg;
	if (ret)
		return -ret < WIN_EXACT ? -ret : WIN_EXACT - 1;
	compare_differences = 0;
	exact = compare_trees(EXPECT_DIR "/bootA", MNT_A) > 0;
	if (erofs_umount(MNT_A))
		return WIN_UMOUNT;
	if (exact)
		return WIN_EXACT;
	/* a read may fail after a fault; a byte read back wrong never may */
	return compare_differences ? WIN_WRONG : WIN_READ_FAILED;
}

/*
 * One mount of bootA in domain fnw + read + umount with the fault armed at
 * @space, then disarmed.  The state must come back to @want.
 */
static int worker_window(const char *cache, long space,
			 const struct leak_state *want, struct window *w,
			 char *why, size_t size)
{
	int ret;

	(void)cache;
	memset(w, 0, sizeof(*w));
	sync();
	ret = failslab_arm(space);
	if (ret) {
		failslab_disarm();
		snprintf(why, size, "arming failslab: %s", strerror(-ret));
		return -1;
	}
	/* In a child: a mount or read that hangs on the fault is a failure. */
	ret = run_child(window_child, NULL, 120000, NULL);
	if (ret < 0 || ret >= 128) {
		failslab_disarm();
		snprintf(why, size, "mount + read + umount %s",
			 ret == -ETIMEDOUT ? "hung for 120 s" : "died");
		return -1;
	}
	w->mount_ret = ret < WIN_EXACT ? -ret : 0;
	w->exact = ret == WIN_EXACT ? 1 : ret == WIN_WRONG ? 0 :
		   ret == WIN_READ_FAILED ? -2 : -1;
	if (ret == WIN_UMOUNT) {
		failslab_disarm();
		snprintf(why, size, "umount failed");
		return -1;
	}
	ret = leak_wait_state(want, 10000, why, size);
	w->fired = failslab_read("times") == 0;
	w->used = space - failslab_read("space");
	failslab_disarm();
	return ret;
}

/*
 * The allocations fscache and cachefiles make in their workers: one
 * failslab fault at a time, swept through one mount's worth of them.
 */
TEST_F_TIMEOUT(workers, failnth_workers_one_fault_per_window, 3000)
{
	long total, space, step;
	int i, windows = 0, fired = 0, failed_mounts = 0, failed_reads = 0, wrong_reads = 0;
	char why[512], kwhy[400];
	struct kwatch kw;
	struct window w;

	ASSERT_EQ(0, kwatch_start(&kw));

	/*
	 * How many bytes the workers allocate in one window, no fault: the
	 * first window also creates the volume's cache directories, the
	 * second is what every later window does.
	 */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, worker_window(self->cache, 1L << 30, &self->base.clean,
					   &w, why, sizeof(why))) TH_LOG("%s", why);
		ASSERT_EQ(0, w.fired);
		ASSERT_EQ(0, w.mount_ret);
		ASSERT_EQ(1, w.exact);
		TH_LOG("kworkers allocated %ld bytes in unfaulted window %d", w.used, i);
	}
	total = w.used;
	ASSERT_GT(total, 0) TH_LOG("no worker allocation seen: the windows would test nothing");

	/*
	 * One window per step bytes: a fault lands in an allocation of n
	 * bytes with odds n/step.  total/128 (~150-180 bytes) hits each of
	 * the three CLOSE requests of a umount (kmalloc-128 on the debug
	 * kernel) with odds of ~3/4, so nearly every run faults at least one
	 * of them; total/64 missed all three in one of four runs.
	 */
	step = total / 128 > 16 ? total / 128 : 16;
	for (space = 0; space <= total + step; space += step) {
		int ret = worker_window(self->cache, space, &self->base.clean,
					&w, why, sizeof(why));

		windows++;
		if (ret) {
			TH_LOG("fault %ld bytes into the workers' allocations (%s) left behind: %s",
			       space, w.fired ? "fired" : "did not fire", why);
			log_file("/proc/fs/fscache/volumes");
			log_file("/proc/fs/fscache/cookies");
			log_daemon_fds(self->daemon.pid);
			daemon_log_tail(&self->daemon, 40);
			break;
		}
		if (kwatch_check(&kw, kwhy, sizeof(kwhy))) {
			TH_LOG("fault %ld bytes into the workers' allocations: %s",
			       space, kwhy);
			ret = -1;
			break;
		}
		if (!w.fired) {
			/* No fault: everything must have worked. */
			if (w.mount_ret || w.exact != 1) {
				TH_LOG("no fault injected at %ld, yet mount %s, read %s",
				       space, strerror(-w.mount_ret),
				       w.exact == 1 ? "byte-exact" : "wrong");
				ret = -1;
				break;
			}
			continue;
		}
		fired++;
		failed_mounts += !!w.mount_ret;
		failed_reads += w.exact == -2;
		if (w.exact == 0) {
			wrong_reads++;
			TH_LOG("fault %ld bytes into the workers' allocations: the mount read wrong bytes",
			       space);
		}
	}
	failslab_disarm();
	kwatch_stop(&kw);
	printf("# failnth: workers: %d windows over %ld bytes, %d faults fired: %d failed mounts, %d mounts with a failed read, %d with wrong bytes\n",
	       windows, total, fired, failed_mounts, failed_reads, wrong_reads);
	EXPECT_EQ(0, wrong_reads);
	EXPECT_GT(space, total) TH_LOG("the sweep stopped at %ld of %ld bytes", space, total);
	EXPECT_GT(fired, 0) TH_LOG("no fault fired in a worker: the test checked nothing");
	/* Afterwards domains work again (another one: see the top). */
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "fnwz"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

TEST_F_TIMEOUT(workers, failnth_workers_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
