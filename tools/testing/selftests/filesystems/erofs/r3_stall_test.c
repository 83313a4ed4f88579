// SPDX-License-Identifier: GPL-2.0
/*
 * R3: a stalled daemon in one domain must not stall the others, and every
 * wait it causes must be killable.
 *
 * The daemon withholds the CLOSE of A's bootstrap (--hold-close bootA):
 * its object keeps its anon fd, so its cookie and the domain's fscache
 * volume cannot die until SIGUSR1 releases it.  A
 * new mount of that domain then waits for the dying volume.  Meanwhile
 * another domain's mount, read and umount, a brand-new domain's mount and
 * the debugfs listing must each finish within STEP_MS, and the waiting
 * mount must die of SIGKILL within KILL_MS.
 *
 * Every step runs in a child with a bounded wait, the daemon is always
 * released before teardown, and no task stays blocked for more than about
 * 20 s (the debug kernel's hung-task detector fires at 60 s).
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT_A	"/mnt/r3.a"
#define MNT_A2	"/mnt/r3.a2"
#define MNT_B	"/mnt/r3.b"
#define MNT_C	"/mnt/r3.c"
#define DOMAINS	"/sys/kernel/debug/erofs/domains"
#define STEP_MS	10000
#define KILL_MS	5000

FIXTURE(stall) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	pid_t kids[8];
	int nkids;
};

FIXTURE_SETUP(stall)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("r3", self->cache, sizeof(self->cache)));
}

/* Release held closes, reap every child still running, clean up. */
FIXTURE_TEARDOWN(stall)
{
	char why[256];
	int i;

	if (self->daemon.pid)
		kill(self->daemon.pid, SIGUSR1);
	for (i = 0; i < self->nkids; i++) {
		if (self->kids[i] <= 0)
			continue;
		if (daemon_wait_pid(self->kids[i], 20000) == -ETIMEDOUT) {
			TH_LOG("child %d still blocked 20 s after the release",
			       (int)self->kids[i]);
			kill(self->kids[i], SIGKILL);
			daemon_wait_pid(self->kids[i], 5000);
		}
	}
	erofs_umount_all("/mnt/r3.");
	if (self->daemon.pid) {
		EXPECT_EQ(0, leak_wait_clean(&self->base, 20000, why, sizeof(why)))
			TH_LOG("left behind: %s", why);
		daemon_stop(&self->daemon);
	}
}

struct job {
	const char *target, *fsid, *domain;
	int cycles;		/* storm: mount/read/umount cycles (0: once) */
};

/* Mount (and leave mounted).  Exit status: 0 or errno. */
static int mount_job(void *arg)
{
	struct job *j = arg;

	return -erofs_mount(j->target, j->fsid, j->domain);
}

/* Mount, compare byte-exact, umount; @cycles times.  0, errno, or 200. */
static int cycle_job(void *arg)
{
	struct job *j = arg;
	char want[PATH_MAX];
	int i, ret;

	snprintf(want, sizeof(want), EXPECT_DIR "/%s", j->fsid);
	for (i = 0; i < (j->cycles ? j->cycles : 1); i++) {
		ret = erofs_mount(j->target, j->fsid, j->domain);
		if (ret)
			return -ret;
		if (compare_trees(want, j->target) <= 0)
			return 200;
		ret = erofs_umount(j->target);
		if (ret)
			return -ret;
	}
	return 0;
}

static int umount_job(void *arg)
{
	struct job *j = arg;

	return -erofs_umount(j->target);
}

static int list_domains_job(void *arg)
{
	long long n = read_whole(arg);

	return n < 0 ? (int)-n : 0;
}

/*
 * EXPECT and return instead of ASSERT: the 6.12 harness can skip the
 * teardown after an ASSERT (its fork bookkeeping does not survive the
 * longjmp at -O2), which would leave the daemon holding A's volume.
 */
static bool ok(struct __test_metadata *_metadata, bool cond, const char *what)
{
	EXPECT_TRUE(cond) TH_LOG("%s", what);
	return cond;
}

static pid_t spawn(FIXTURE_DATA(stall) *self, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (!pid)
		_exit(fn(arg) & 0xff);
	if (pid > 0 && self->nkids < (int)ARRAY_SIZE(self->kids))
		self->kids[self->nkids++] = pid;
	return pid;
}

static void reaped(FIXTURE_DATA(stall) *self, pid_t pid)
{
	int i;

	for (i = 0; i < self->nkids; i++)
		if (self->kids[i] == pid)
			self->kids[i] = 0;
}

/*
 * Wait for @pid until @deadline (ms, monotonic).  Returns its exit status
 * (errno convention), 128 + signal, or -ETIMEDOUT (child left running).
 */
static int finish(FIXTURE_DATA(stall) *self, pid_t pid, long long deadline)
{
	long long left = deadline - daemon_ms_now();
	int st = daemon_wait_pid(pid, left > 0 ? left : 0);

	if (st == -ETIMEDOUT)
		return st;
	reaped(self, pid);
	if (st < 0)
		return st;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *what(int st, char *buf, size_t size)
{
	if (st == -ETIMEDOUT)
		snprintf(buf, size, "still blocked after %d ms", STEP_MS);
	else if (st >= 128)
		snprintf(buf, size, "killed by signal %d", st - 128);
	else if (st == 200)
		snprintf(buf, size, "content differs");
	else
		snprintf(buf, size, "%s", strerror(st));
	return buf;
}

/* Opens of @volume so far; wait until the daemon saw as many CLOSEs. */
static int wait_all_closed(FIXTURE_DATA(stall) *self, const char *volume)
{
	struct daemon_blob_stats st;

	if (daemon_stats(&self->daemon, volume, NULL, &st))
		return -ENOENT;
	return daemon_wait_stat(&self->daemon, volume, NULL, DAEMON_CLOSES,
				st.opens, 10000);
}

/*
 * Domain A's only image mounted, read and unmounted, its CLOSEs seen by the
 * daemon, which holds the bootstrap's: A's volume cannot die.  Then a new
 * mount of A (@a), which must wait for it.  Returns that mount's pid, or 0
 * after a failure (already reported).
 */
static pid_t waiting_mount_of_a(struct __test_metadata *_metadata,
				FIXTURE_DATA(stall) *self, struct job *a)
{
	char buf[96];
	pid_t pa;
	int sa;

	if (!ok(_metadata, !erofs_mount(MNT_A, "bootA", "r3domA"), "erofs_mount failed") ||
	    !ok(_metadata, compare_trees(EXPECT_DIR "/bootA", MNT_A) > 0, "A reads byte-exact") ||
	    !ok(_metadata, !erofs_umount(MNT_A), "erofs_umount failed") ||
	    !ok(_metadata, !wait_all_closed(self, "erofs,r3domA"),
		"the daemon never saw A's CLOSEs"))
		return 0;

	/* A again: its volume is still dying, so this mount waits. */
	pa = spawn(self, mount_job, a);
	if (!ok(_metadata, pa > 0, "fork"))
		return 0;
	sa = finish(self, pa, daemon_ms_now() + 2000);
	if (!ok(_metadata, sa == -ETIMEDOUT,
		"the mount of A did not wait for its dying volume"))
		TH_LOG("it ended: %s", what(sa, buf, sizeof(buf)));
	return sa == -ETIMEDOUT ? pa : 0;
}

/*
 * The waiting mount @pa of A dies of SIGKILL within KILL_MS and mounts
 * nothing; after the daemon releases the held closes, A (@a2) mounts again
 * and reads byte-exact.
 */
static void kill_waiting_mount_of_a(struct __test_metadata *_metadata,
				    FIXTURE_DATA(stall) *self, pid_t pa,
				    struct job *a2)
{
	long long t0 = daemon_ms_now();
	struct stat st;
	char buf[96];
	int sa;

	kill(pa, SIGKILL);
	sa = finish(self, pa, t0 + KILL_MS);
	TH_LOG("SIGKILLed mount of A: %s after %lld ms",
	       sa == -ETIMEDOUT ? "still blocked" : what(sa, buf, sizeof(buf)),
	       daemon_ms_now() - t0);
	EXPECT_EQ(128 + SIGKILL, sa);

	/* Release the held closes: A's old volume dies, A mounts again. */
	kill(self->daemon.pid, SIGUSR1);
	if (sa == -ETIMEDOUT) {
		sa = finish(self, pa, daemon_ms_now() + 20000);
		TH_LOG("after the release the killed mount of A ended: %s",
		       what(sa, buf, sizeof(buf)));
	}
	/* A killed mount must not have mounted anything. */
	EXPECT_EQ(0, lstat(MNT_A, &st) ? 0 : file_contains("/proc/mounts", MNT_A " "));
	erofs_umount_quiet(MNT_A);
	sa = run_child(cycle_job, a2, 20000, NULL);
	EXPECT_EQ(0, sa) TH_LOG("A after the release: %s", what(sa, buf, sizeof(buf)));
}

/*
 * (a) Domain A's only image is gone but its volume cannot die (only the
 * bootstrap "bootA" is held, so B, which has no such cookie, can warm its
 * cache first and its volume dies normally).  A new
 * mount of A waits; B, a new domain C and the listing do not; the waiting
 * mount can be killed; after the release A mounts again.
 */
TEST_F_TIMEOUT(stall, R3_stalled_domain_does_not_stall_others, 240)
{
	static const char *const hold[] = { "--hold-close", "bootA", NULL };
	struct job a = { MNT_A, "bootA", "r3domA", 0 };
	struct job a2 = { MNT_A2, "bootA", "r3domA", 0 };
	struct job b = { MNT_B, "bootB", "r3domB", 0 };
	struct job c = { MNT_C, "bootA", "r3domC", 0 };
	pid_t pa, pb, pc, pl;
	int sb, sc, sl;
	long long t0, deadline;
	char buf[96];
	struct stat st;
	bool have_listing = !stat("/sys/kernel/debug/erofs", &st);

	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, hold));
	/* B once before the stall: its later read is then served warm. */
	t0 = daemon_ms_now();
	if (!ok(_metadata, !run_child(cycle_job, &b, 4 * STEP_MS, NULL), "run_child failed"))
		return;
	TH_LOG("domain B cold, before the stall: %lld ms", daemon_ms_now() - t0);
	pa = waiting_mount_of_a(_metadata, self, &a);
	if (!pa)
		return;

	/* Other domains and the listing, all at once. */
	t0 = daemon_ms_now();
	deadline = t0 + STEP_MS;
	pb = spawn(self, cycle_job, &b);
	pc = spawn(self, mount_job, &c);
	pl = have_listing ? spawn(self, list_domains_job, (void *)DOMAINS) : 0;
	if (!ok(_metadata, pb > 0, "fork"))
		return;
	if (!ok(_metadata, pc > 0, "fork"))
		return;
	sb = finish(self, pb, deadline);
	TH_LOG("domain B mount+read+umount: %s after %lld ms",
	       what(sb, buf, sizeof(buf)), daemon_ms_now() - t0);
	sc = finish(self, pc, deadline);
	TH_LOG("new domain C mount: %s after %lld ms",
	       what(sc, buf, sizeof(buf)), daemon_ms_now() - t0);
	sl = pl > 0 ? finish(self, pl, deadline) : 0;
	if (pl > 0)
		TH_LOG("cat %s: %s after %lld ms", DOMAINS,
		       what(sl, buf, sizeof(buf)), daemon_ms_now() - t0);
	EXPECT_EQ(0, sb);
	EXPECT_EQ(0, sc);
	EXPECT_EQ(0, sl);
	if (!sc)
		EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_C), 0);

	/* The waiting mount of A dies of SIGKILL; A mounts after the release. */
	kill_waiting_mount_of_a(_metadata, self, pa, &a2);
}

/*
 * (b) A's umount while its closes are held, with domain B storming
 * mount/read/umount: the umount and every B cycle finish promptly; after
 * the release A mounts again byte-exact.  Only A's bootstrap CLOSE is
 * held (B shares no cookie key with it), so B's volume can die each cycle.
 */
TEST_F_TIMEOUT(stall, R3_umount_with_held_closes_beside_storm, 240)
{
	static const char *const hold[] = { "--hold-close", "bootA", NULL };
	struct job a = { MNT_A, "bootA", "r3domA", 0 };
	struct job b = { MNT_B, "bootB", "r3domB", 8 };
	struct job b1 = { MNT_B, "bootB", "r3domB", 1 };
	char buf[96];
	long long t0;
	pid_t pb, pu;
	int sb, su, i;

	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, hold));
	/* B alone first: one cycle's time, for the record. */
	t0 = daemon_ms_now();
	if (!ok(_metadata, !run_child(cycle_job, &b1, 4 * STEP_MS, NULL), "run_child failed"))
		return;
	TH_LOG("one B cycle alone: %lld ms", daemon_ms_now() - t0);

	if (!ok(_metadata, !erofs_mount(MNT_A, "bootA", "r3domA"), "erofs_mount failed"))
		return;
	if (!ok(_metadata, compare_trees(EXPECT_DIR "/bootA", MNT_A) > 0, "A reads byte-exact"))
		return;

	pb = spawn(self, cycle_job, &b);
	if (!ok(_metadata, pb > 0, "fork"))
		return;
	daemon_sleep_ms(300);
	t0 = daemon_ms_now();
	pu = spawn(self, umount_job, &a);
	if (!ok(_metadata, pu > 0, "fork"))
		return;
	su = finish(self, pu, t0 + STEP_MS);
	TH_LOG("umount of A with its CLOSE held: %s after %lld ms",
	       what(su, buf, sizeof(buf)), daemon_ms_now() - t0);
	EXPECT_EQ(0, su);
	if (su == -ETIMEDOUT) {
		kill(pu, SIGKILL);
		su = finish(self, pu, daemon_ms_now() + KILL_MS);
		TH_LOG("SIGKILLed umount of A: %s", su == -ETIMEDOUT ?
		       "still blocked" : what(su, buf, sizeof(buf)));
	}
	/* 8 cycles, each well under STEP_MS on an unstalled kernel. */
	sb = finish(self, pb, t0 + 8 * STEP_MS / 2);
	TH_LOG("8 B cycles beside it: %s after %lld ms",
	       what(sb, buf, sizeof(buf)), daemon_ms_now() - t0);
	EXPECT_EQ(0, sb);
	if (sb == -ETIMEDOUT) {
		kill(pb, SIGKILL);
		finish(self, pb, daemon_ms_now() + KILL_MS);
	}
	if (!ok(_metadata, !wait_all_closed(self, "erofs,r3domA"), "wait_all_closed failed"))
		return;

	kill(self->daemon.pid, SIGUSR1);
	for (i = 0; i < self->nkids; i++)
		if (self->kids[i] > 0)
			finish(self, self->kids[i], daemon_ms_now() + 20000);
	erofs_umount_all("/mnt/r3.");
	su = run_child(cycle_job, &a, 20000, NULL);
	EXPECT_EQ(0, su) TH_LOG("A after the release: %s", what(su, buf, sizeof(buf)));
}

/*
 * (c) Only the kill: a new mount of A waits for A's dying volume, SIGKILL
 * ends it within KILL_MS without mounting anything, and after the release
 * A mounts again byte-exact.  What stable fix "make the wait for a dying
 * volume killable" must do alone; (a) also wants other domains not to
 * wait, which only the series gives.
 */
TEST_F_TIMEOUT(stall, R3_killed_mount_of_dying_volume_exits, 240)
{
	static const char *const hold[] = { "--hold-close", "bootA", NULL };
	struct job a = { MNT_A, "bootA", "r3domA", 0 };
	struct job a2 = { MNT_A2, "bootA", "r3domA", 0 };
	pid_t pa;

	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, hold));
	pa = waiting_mount_of_a(_metadata, self, &a);
	if (!pa)
		return;

	kill_waiting_mount_of_a(_metadata, self, pa, &a2);
}

TEST_F_TIMEOUT(stall, R3_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
