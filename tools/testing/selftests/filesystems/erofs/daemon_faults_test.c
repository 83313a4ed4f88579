// SPDX-License-Identifier: GPL-2.0
/*
 * EROFS shared domains when the cachefiles on-demand daemon misbehaves
 * (plan items T8, T9): an OPEN refused, replies stalled, the worker dying
 * in the middle of a READ with and without a supervisor that writes
 * "restore".  Nothing may hang beyond a bounded wait, readers get an
 * error rather than wrong data, and nothing is left behind.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"
#include <sys/mman.h>

#define MNT_A	"/mnt/df.a"
#define MNT_B	"/mnt/df.b"
#define BIG_A	MNT_A "/usr/lib/onlyA/big"

FIXTURE(faults) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	char shared[128], only_a[128], only_b[128];
	pid_t stopped;		/* daemon pid to SIGCONT in teardown */
};

FIXTURE_SETUP(faults)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, layer_blob("shared", self->shared, sizeof(self->shared)));
	ASSERT_EQ(0, layer_blob("onlyA", self->only_a, sizeof(self->only_a)));
	ASSERT_EQ(0, layer_blob("onlyB", self->only_b, sizeof(self->only_b)));
	ASSERT_EQ(0, fresh_cache_dir("faults", self->cache, sizeof(self->cache)));
	/* Each test starts its own daemon with its fault switches. */
}

FIXTURE_TEARDOWN(faults)
{
	if (self->stopped > 0)
		kill(self->stopped, SIGCONT);
	erofs_umount_all("/mnt/df.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
}

static int start(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
		 const char *const args[])
{
	(void)_metadata;
	return daemon_start(&self->daemon, DAEMON_PATH, self->cache, BLOB_DIR, args);
}

static int read_big_child(void *arg)
{
	long long n = read_whole(arg);

	return n < 0 ? (int)-n : 0;
}

/*
 * A read whose request died with the daemon fails with EIO (request
 * flushed) or ENOBUFS (cache withdrawn under it): both are clean errors.
 */
static bool failed_cleanly(int st)
{
	return st == EIO || st == ENOBUFS;
}

/* Lines of the daemon's log that contain @needle (-errno if unreadable). */
static int log_count(const struct daemon_ctl *d, const char *needle)
{
	char line[1024];
	FILE *f = fopen(d->logfile, "re");
	int n = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, needle);
	fclose(f);
	return n;
}

/*
 * The fault of --exit-after-reads must have happened: the worker crashed
 * in a READ, the supervisor saw it die with status 3 and, with @restore,
 * wrote "restore" (without, said it did not).  Read from the daemon's log.
 */
static void assert_worker_died(struct __test_metadata *_metadata,
			       const struct daemon_ctl *d, bool restore)
{
	int crashed = log_count(d, "reached, crashing");
	int died = log_count(d, "exited with status 3");
	int wrote = log_count(d, "supervisor: wrote restore");
	int skipped = log_count(d, "--no-restore: not writing restore");

	EXPECT_EQ(1, crashed) TH_LOG("the worker did not crash in a READ");
	EXPECT_EQ(1, died) TH_LOG("the supervisor did not see the worker die");
	EXPECT_EQ(restore ? 1 : 0, wrote) TH_LOG("restore written %d times", wrote);
	EXPECT_EQ(restore ? 0 : 1, skipped);
	if (crashed != 1 || died != 1 || wrote != !!restore || skipped != !restore)
		daemon_log_tail(d, DAEMON_LOG_TAIL_LINES);
}

/* The daemon's READ count after a cold mount of bootA (and a lookup). */
static int reads_of_mount(FIXTURE_DATA(faults) *self, unsigned long long *reads)
{
	struct daemon_ctl d = { 0 };
	struct daemon_blob_stats t = { 0 };
	char cache[PATH_MAX];
	struct stat st;
	int ret;

	ret = fresh_cache_dir("faults-probe", cache, sizeof(cache));
	if (!ret)
		ret = daemon_start(&d, DAEMON_PATH, cache, BLOB_DIR, NULL);
	if (ret)
		return ret;
	ret = erofs_mount(MNT_A, "bootA", "dfprobe");
	if (!ret) {
		if (stat(BIG_A, &st))
			ret = -errno;
		umount(MNT_A);
	}
	if (!ret)
		ret = daemon_total(&d, &t);
	daemon_stop(&d);
	*reads = t.reads;
	(void)self;
	return ret;
}

/* T8: the daemon refuses a bootstrap: that mount fails, the domain lives on. */
TEST_F_TIMEOUT(faults, daemon_refused_bootstrap_fails_mount, 180)
{
	const char *const args[] = { "--refuse", "bootB:ENOENT", NULL };
	char why[256];

	ASSERT_EQ(0, start(_metadata, self, args));
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dfdom"));
	EXPECT_GT(0, erofs_mount(MNT_B, "bootB", "dfdom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	/* Another image joining the domain still works. */
	EXPECT_EQ(0, erofs_mount(MNT_B, "bootC", "dfdom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootC", MNT_B), 0);
	erofs_umount_all("/mnt/df.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/*
 * T8: the daemon refuses one data blob (onlyB): bootB either fails to
 * mount or fails to read that blob's files, never returns wrong bytes;
 * the blob bootA shares with it and bootA itself keep working.
 */
TEST_F_TIMEOUT(faults, daemon_refused_data_blob_fails_cleanly, 180)
{
	char refuse[160], why[256];
	const char *const args[] = { "--refuse", refuse, NULL };
	long long n;
	int ret;

	snprintf(refuse, sizeof(refuse), "%s:EIO", self->only_b);
	ASSERT_EQ(0, start(_metadata, self, args));
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dfdom"));
	/*
	 * The data blob's OPEN is only waited for by its first read: the
	 * mount succeeds (same on 6.12), that blob's reads fail.
	 */
	ret = erofs_mount(MNT_B, "bootB", "dfdom");
	ASSERT_EQ(0, ret) TH_LOG("mount of bootB failed: %s", strerror(-ret));
	n = read_whole(MNT_B "/usr/lib/onlyB/page");
	EXPECT_GT(0, n) TH_LOG("read a refused blob: %lld bytes", n);
	EXPECT_TRUE(n == -EIO || n == -ENOBUFS) TH_LOG("read of a refused blob: %s",
						     strerror((int)-n));
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootB/usr/lib/shared/page",
				   MNT_B "/usr/lib/shared/page"));
	EXPECT_LE(1, log_count(&self->daemon, "refused by --refuse"))
		TH_LOG("the daemon never refused anything: the fault did not happen");
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	erofs_umount_all("/mnt/df.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/* T9: slow replies only slow things down. */
TEST_F_TIMEOUT(faults, daemon_delayed_replies_reads_complete, 600)
{
	const char *const args[] = { "--delay-ms", "50", NULL };
	char why[256];

	ASSERT_EQ(0, start(_metadata, self, args));
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dfdom"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "dfdom"));
	/* one READ per 4 KiB page: read the small files, not the big ones */
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootA/usr/lib/onlyA/chunks",
				   MNT_A "/usr/lib/onlyA/chunks"));
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootB/usr/lib/shared/chunks",
				   MNT_B "/usr/lib/shared/chunks"));
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootB/etc/os-release",
				   MNT_B "/etc/os-release"));
	erofs_umount_all("/mnt/df.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/*
 * T9: the daemon stops answering (SIGSTOP) while a reader waits for a
 * READ: the reader is killable, nothing hangs, and after the daemon
 * resumes the mounts go away cleanly.  (--delay-ms would also stall the
 * mount's own OPEN, which fscache waits for uninterruptibly by design.)
 */
TEST_F_TIMEOUT(faults, daemon_stalled_reply_reader_killable, 180)
{
	char why[256];
	pid_t reader = 0;
	int st;

	ASSERT_EQ(0, start(_metadata, self, NULL));
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dfdom"));
	/* bootstrap + 2 data blobs opened: nothing but READs left to send */
	ASSERT_EQ(0, daemon_wait_stat(&self->daemon, NULL, NULL, DAEMON_OPENS, 3, 10000));
	ASSERT_EQ(0, kill(self->daemon.pid, SIGSTOP));
	self->stopped = self->daemon.pid;

	st = run_child(read_big_child, BIG_A, 3000, &reader);
	EXPECT_EQ(-ETIMEDOUT, st) TH_LOG("reader finished (%d) with the daemon stopped", st);
	if (st == -ETIMEDOUT) {
		ASSERT_EQ(0, kill(reader, SIGKILL));
		st = daemon_wait_pid(reader, 10000);
		EXPECT_NE(-ETIMEDOUT, st) TH_LOG("SIGKILLed reader still blocked after 10 s");
		EXPECT_TRUE(st >= 0 && WIFSIGNALED(st));
	}
	kill(self->daemon.pid, SIGCONT);
	self->stopped = 0;
	/* The daemon serves the next reader as if nothing happened. */
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootA/usr/lib/onlyA/big", BIG_A));
	erofs_umount_all("/mnt/df.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/* T9: the worker dies mid-READ during the mount; restore saves everything. */
TEST_F_TIMEOUT(faults, daemon_supervised_restore_mounts_survive, 300)
{
	const char *const args[] = { "--supervise", "--exit-after-reads", "2", NULL };
	char why[256];

	ASSERT_EQ(0, start(_metadata, self, args));
	ASSERT_EQ(0, erofs_mount_bounded(MNT_A, "bootA", "dfdom", 60000, NULL));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "dfdom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	erofs_umount_all("/mnt/df.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
	assert_worker_died(_metadata, &self->daemon, true);
}

/* Mount bootA with the worker dying at the first READ after the mount. */
static int mount_then_crash(struct __test_metadata *_metadata,
			    FIXTURE_DATA(faults) *self, bool supervise,
			    bool restore)
{
	const char *args[8];
	char after[32];
	unsigned long long reads = 0;
	int n = 0, ret;

	ret = reads_of_mount(self, &reads);
	if (ret)
		return ret;
	snprintf(after, sizeof(after), "%llu", reads + 1);
	if (supervise)
		args[n++] = "--supervise";
	if (!restore)
		args[n++] = "--no-restore";
	args[n++] = "--exit-after-reads";
	args[n++] = after;
	args[n] = NULL;
	ret = start(_metadata, self, args);
	if (ret)
		return ret;
	return erofs_mount_bounded(MNT_A, "bootA", "dfdom", 60000, NULL);
}

/*
 * T9: no supervisor: the daemon dies in a READ, /dev/cachefiles closes,
 * the reader gets an error (EIO or ENOBUFS) at once; umount and a new
 * daemon work.
 */
TEST_F_TIMEOUT(faults, daemon_dies_mid_read_reader_fails, 300)
{
	char why[256];
	int st;

	ASSERT_EQ(0, mount_then_crash(_metadata, self, false, false));
	st = run_child(read_big_child, BIG_A, 30000, NULL);
	EXPECT_TRUE(failed_cleanly(st)) TH_LOG("reader: %d", st);
	TH_LOG("reader got %s", st > 0 && st < 128 ? strerror(st) : "no errno");
	/* exit status 3: crashed on purpose */
	EXPECT_EQ(3, daemon_stop(&self->daemon));
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);

	/* The cache can be bound again and serves a fresh mount. */
	ASSERT_EQ(0, start(_metadata, self, NULL));
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dfdom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/*
 * T9: supervised without restore: the READ the dead worker took is never
 * re-queued, so its reader waits (killably) until the supervisor lets go
 * of /dev/cachefiles; then it gets an error (EIO or ENOBUFS).  Nothing
 * hangs beyond that.
 */
TEST_F_TIMEOUT(faults, daemon_supervised_no_restore_reader_fails_on_stop, 300)
{
	char why[256];
	pid_t reader = 0;
	int st;

	ASSERT_EQ(0, mount_then_crash(_metadata, self, true, false));
	st = run_child(read_big_child, BIG_A, 5000, &reader);
	if (st == -ETIMEDOUT) {
		TH_LOG("reader still waiting 5 s after the worker died (expected without restore)");
		daemon_stop(&self->daemon);
		st = daemon_wait_pid(reader, 20000);
		ASSERT_NE(-ETIMEDOUT, st) TH_LOG("reader still blocked after the daemon closed /dev/cachefiles");
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	EXPECT_TRUE(failed_cleanly(st)) TH_LOG("reader: %d", st);
	TH_LOG("reader got %s", st > 0 && st < 128 ? strerror(st) : "no errno");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	assert_worker_died(_metadata, &self->daemon, false);
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/* T9: supervised with restore: the reader does not even notice. */
TEST_F_TIMEOUT(faults, daemon_supervised_restore_reader_completes, 300)
{
	char why[256];
	int st;

	ASSERT_EQ(0, mount_then_crash(_metadata, self, true, true));
	st = run_child(read_big_child, BIG_A, 60000, NULL);
	EXPECT_EQ(0, st) TH_LOG("reader: %d", st);
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootA/usr/lib/onlyA/big", BIG_A));
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
	assert_worker_died(_metadata, &self->daemon, true);
}

/*
 * T9/F14: the daemon is SIGKILLed (no supervisor) while two processes
 * mount and unmount images of one domain in a loop: mounts in flight fail
 * with an error, none hangs, nothing is left behind, and a new daemon
 * serves the next mount.
 */
struct churn {
	int id;
	int cycles;
	volatile int *killed;	/* shared: set before the daemon is killed */
};

static int churn_child(void *arg)
{
	const struct churn *c = arg;
	const char *fsid = c->id ? "bootB" : "bootA";
	char mnt[64];
	int i, ret;

	snprintf(mnt, sizeof(mnt), "/mnt/df.churn%d", c->id);
	for (i = 0; i < c->cycles; i++) {
		ret = erofs_mount(mnt, fsid, "dfchurn");
		if (ret) {
			/* Expected once the parent has started killing the daemon. */
			if (*c->killed)
				return 0;
			fprintf(stderr, "# churn %d: mount %d failed with the daemon alive: %s\n",
				c->id, i, strerror(-ret));
			return 4;
		}
		if (umount(mnt))
			return 2;
	}
	return 1;	/* the daemon outlived the loop: nothing tested */
}

TEST_F_TIMEOUT(faults, daemon_killed_during_mount_churn, 300)
{
	struct churn c[2] = { { 0, 100000, NULL }, { 1, 100000, NULL } };
	volatile int *killed;
	pid_t pids[2];
	char why[256];
	int i, st;

	killed = mmap(NULL, sizeof(*killed), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, killed);
	*killed = 0;
	ASSERT_EQ(0, start(_metadata, self, NULL));
	for (i = 0; i < 2; i++) {
		c[i].killed = killed;
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i])
			_exit(churn_child(&c[i]));
	}
	daemon_sleep_ms(3000);
	*killed = 1;
	__sync_synchronize();
	ASSERT_EQ(0, kill(self->daemon.pid, SIGKILL));
	st = daemon_wait_pid(self->daemon.pid, 30000);
	EXPECT_NE(-ETIMEDOUT, st) TH_LOG("SIGKILLed daemon did not exit");
	self->daemon.pid = 0;
	for (i = 0; i < 2; i++) {
		st = daemon_wait_pid(pids[i], 60000);
		EXPECT_NE(-ETIMEDOUT, st) TH_LOG("worker %d hung after the daemon died", i);
		if (st == -ETIMEDOUT)
			kill(pids[i], SIGKILL);
		else
			EXPECT_EQ(0, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	erofs_umount_all("/mnt/df.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);

	ASSERT_EQ(0, start(_metadata, self, NULL));
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dfchurn"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

TEST_F_TIMEOUT(faults, daemon_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
