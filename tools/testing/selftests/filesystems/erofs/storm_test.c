// SPDX-License-Identifier: GPL-2.0
/*
 * Mount/read/umount storms over EROFS shared domains (plan items T4, T6,
 * T7): several processes cycle through four domains at once, so domains
 * are created and destroyed, blobs registered, shared and released
 * concurrently, in one domain and across domains.  Afterwards no volume,
 * cookie, inode or sysfs entry may be left, and every object the daemon
 * opened must have been closed.
 *
 * Amount of work: STORM_CYCLES mount/read/umount cycles in total (default
 * 1000; the STRESS environment variable multiplies it).
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define STORM_CYCLES	1000
#define STORM_PROCS	4
#define STORM_DOMAINS	4
#define RACE_CYCLES	100

/* bootA/C = [shared, onlyA], bootB/D = [shared, onlyB] */
static const char *const images[] = { "bootA", "bootB", "bootC", "bootD" };
static const char *const last_layer[] = { "onlyA", "onlyB", "onlyA", "onlyB" };

FIXTURE(storm) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

static const char *const daemon_args[] = { "--stats-interval-ms", "200", NULL };

FIXTURE_SETUP(storm)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("storm", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, daemon_args));
}

FIXTURE_TEARDOWN(storm)
{
	erofs_umount_all("/mnt/storm.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
}

enum { WK_OK, WK_MOUNT, WK_CONTENT, WK_UMOUNT };

struct worker {
	int id;
	int cycles;
	int ndomains;		/* domain of cycle i: (i + id) % ndomains */
	const char *domain_fmt;
	bool read_data;
};

/* Compare one file of the mounted image with the expected tree. */
static int check_file(const char *fsid, const char *mnt, const char *rel)
{
	char want[PATH_MAX], got[PATH_MAX];

	snprintf(want, sizeof(want), EXPECT_DIR "/%s/%s", fsid, rel);
	snprintf(got, sizeof(got), "%s/%s", mnt, rel);
	return compare_files(want, got);
}

static int worker_run(void *arg)
{
	const struct worker *w = arg;
	const char *fsid = images[w->id % 4];
	char mnt[64], dom[64], rel[128];
	int i, ret;

	snprintf(mnt, sizeof(mnt), "/mnt/storm.%d", w->id);
	for (i = 0; i < w->cycles; i++) {
		snprintf(dom, sizeof(dom), w->domain_fmt, (i + w->id) % w->ndomains);
		ret = erofs_mount(mnt, fsid, dom);
		if (ret) {
			fprintf(stderr, "# worker %d cycle %d: mount %s in %s: %s\n",
				w->id, i, fsid, dom, strerror(-ret));
			return WK_MOUNT;
		}
		if (w->read_data) {
			/* the bootstrap's own data, then one file per blob */
			snprintf(rel, sizeof(rel), "usr/lib/%s/page", last_layer[w->id % 4]);
			if (check_file(fsid, mnt, "etc/os-release") ||
			    check_file(fsid, mnt, "usr/lib/shared/page") ||
			    check_file(fsid, mnt, rel)) {
				fprintf(stderr, "# worker %d cycle %d: wrong content (%s in %s)\n",
					w->id, i, fsid, dom);
				umount(mnt);
				return WK_CONTENT;
			}
		}
		if (umount(mnt)) {
			fprintf(stderr, "# worker %d cycle %d: umount: %s\n",
				w->id, i, strerror(errno));
			return WK_UMOUNT;
		}
	}
	return WK_OK;
}

/* Run @n workers to completion; returns the number that failed. */
static int run_workers(struct worker *w, int n, int timeout_ms)
{
	pid_t pids[16];
	int i, failed = 0;

	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return n;
		if (!pids[i])
			_exit(worker_run(&w[i]));
	}
	for (i = 0; i < n; i++) {
		int st = daemon_wait_pid(pids[i], timeout_ms);

		if (st == -ETIMEDOUT) {
			fprintf(stderr, "# worker %d did not finish in %d s\n", i,
				timeout_ms / 1000);
			kill(pids[i], SIGKILL);
			failed++;
			continue;
		}
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	return failed;
}

/* Every object the daemon opened was closed again. */
static int opens_closed(const struct daemon_ctl *d, struct daemon_blob_stats *t)
{
	if (daemon_total(d, t))
		return -1;
	if (daemon_wait_stat(d, NULL, NULL, DAEMON_CLOSES, t->opens, 10000))
		return -1;
	return daemon_total(d, t);
}

/* T4: 4 processes x 4 domains, mount/read/umount, shared blobs everywhere. */
TEST_F_TIMEOUT(storm, storm_mount_read_umount_4_domains, 3600)
{
	struct worker w[STORM_PROCS];
	struct daemon_blob_stats t;
	int total = STORM_CYCLES * stress_factor(), i;
	long long t0 = daemon_ms_now();
	char why[256];

	for (i = 0; i < STORM_PROCS; i++) {
		w[i].id = i;
		w[i].cycles = total / STORM_PROCS;
		w[i].ndomains = STORM_DOMAINS;
		w[i].domain_fmt = "storm%d";
		w[i].read_data = true;
	}
	EXPECT_EQ(0, run_workers(w, STORM_PROCS, 3000 * 1000));
	TH_LOG("%d cycles in %lld ms", total, daemon_ms_now() - t0);
	printf("# storm: %d mount/read/umount cycles, %d processes, %d domains: %lld ms\n",
	       total, STORM_PROCS, STORM_DOMAINS, daemon_ms_now() - t0);

	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	ASSERT_EQ(0, opens_closed(&self->daemon, &t));
	EXPECT_EQ(t.opens, t.closes);
	EXPECT_EQ(0, t.errors);
	printf("# storm: daemon opens=%llu closes=%llu reads=%llu bytes=%llu\n",
	       t.opens, t.closes, t.reads, t.bytes);
}

/*
 * T6/T7: the last umount and the first mount of one domain race all the
 * time (two images, one domain), with every daemon reply delayed, so a
 * dying domain's volume and pseudo mount meet a new domain's.
 */
TEST_F_TIMEOUT(storm, storm_T6_first_mount_last_umount_race, 3600)
{
	static const char *const slow[] = { "--delay-ms", "20",
					    "--stats-interval-ms", "200", NULL };
	struct worker w[2];
	struct daemon_blob_stats t;
	long long t0 = daemon_ms_now();
	char why[256];
	int i;

	/*
	 * Replace the fixture's daemon by a slow one.  Its exit status does
	 * not matter: right after "ready" a SIGTERM can still beat the
	 * daemon's signal handler (status 143).
	 */
	daemon_stop(&self->daemon);
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, slow));
	for (i = 0; i < 2; i++) {
		w[i].id = i;
		w[i].cycles = RACE_CYCLES * stress_factor();
		w[i].ndomains = 1;
		w[i].domain_fmt = "race%d";
		w[i].read_data = i == 0;
	}
	EXPECT_EQ(0, run_workers(w, 2, 3000 * 1000));
	printf("# storm: race of 2 x %d cycles in one domain: %lld ms\n",
	       w[0].cycles, daemon_ms_now() - t0);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	ASSERT_EQ(0, opens_closed(&self->daemon, &t));
	EXPECT_EQ(t.opens, t.closes);
}

/* T4: the same image mounted and unmounted in four domains at once. */
TEST_F_TIMEOUT(storm, storm_same_fsid_all_domains, 3600)
{
	struct worker w[STORM_PROCS];
	struct daemon_blob_stats t;
	char why[256];
	int i;

	for (i = 0; i < STORM_PROCS; i++) {
		w[i].id = i * 4;	/* every worker mounts bootA */
		w[i].cycles = STORM_CYCLES * stress_factor() / 10 / STORM_PROCS;
		w[i].ndomains = 1;
		w[i].read_data = true;
	}
	/* domain of worker i is "same<i>": never twice in one domain */
	w[0].domain_fmt = "same0%d";
	w[1].domain_fmt = "same1%d";
	w[2].domain_fmt = "same2%d";
	w[3].domain_fmt = "same3%d";
	EXPECT_EQ(0, run_workers(w, STORM_PROCS, 3000 * 1000));
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	ASSERT_EQ(0, opens_closed(&self->daemon, &t));
	EXPECT_EQ(t.opens, t.closes);
}

TEST_F_TIMEOUT(storm, storm_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
