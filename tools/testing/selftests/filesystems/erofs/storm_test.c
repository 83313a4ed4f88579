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
#include <pthread.h>
#include <sys/mman.h>

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

enum { WK_OK, WK_MOUNT, WK_CONTENT, WK_UMOUNT, WK_BARRIER };

/*
 * What the workers share (MAP_SHARED): a barrier that starts every cycle
 * of every worker at the same moment (so workers meet in a domain by
 * design, not by drift), and the mount state of each worker for counting
 * races.  A worker that fails aborts the barrier so the others stop too.
 */
struct storm_shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int nworkers, arrived, generation, aborted;
	int state[16];		/* ST_* of each worker */
	int overlaps;		/* a last umount met a first mount */
};

enum { ST_IDLE, ST_MOUNTING, ST_MOUNTED, ST_UNMOUNTING };

static struct storm_shared *storm_shared_new(int nworkers)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	struct storm_shared *sh;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return NULL;
	memset(sh, 0, sizeof(*sh));
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&sh->lock, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->cond, &ca);
	sh->nworkers = nworkers;
	return sh;
}

static void storm_shared_free(struct storm_shared *sh)
{
	if (sh)
		munmap(sh, sizeof(*sh));
}

/* Wait until every worker arrived; -1 if one aborted or after 120 s. */
static int storm_barrier(struct storm_shared *sh)
{
	struct timespec dl;
	int gen, ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += 120;
	pthread_mutex_lock(&sh->lock);
	gen = sh->generation;
	if (++sh->arrived == sh->nworkers) {
		sh->arrived = 0;
		sh->generation++;
		pthread_cond_broadcast(&sh->cond);
	}
	while (!sh->aborted && gen == sh->generation && !ret)
		ret = pthread_cond_timedwait(&sh->cond, &sh->lock, &dl);
	ret = sh->aborted || gen == sh->generation ? -1 : 0;
	pthread_mutex_unlock(&sh->lock);
	return ret;
}

static void storm_abort(struct storm_shared *sh)
{
	pthread_mutex_lock(&sh->lock);
	sh->aborted = 1;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
}

/*
 * Worker @slot enters @st.  With two workers in one domain, one worker
 * unmounting while the other is mounting (so not mounted) is a last
 * umount meeting a first mount: counted once, by whichever comes second.
 */
static void storm_state(struct storm_shared *sh, int slot, int st)
{
	int i;

	pthread_mutex_lock(&sh->lock);
	sh->state[slot] = st;
	for (i = 0; i < sh->nworkers; i++) {
		if (i == slot)
			continue;
		if ((st == ST_UNMOUNTING && sh->state[i] == ST_MOUNTING) ||
		    (st == ST_MOUNTING && sh->state[i] == ST_UNMOUNTING))
			sh->overlaps++;
	}
	pthread_mutex_unlock(&sh->lock);
}

struct worker {
	int id;
	int cycles;
	int ndomains;		/* domain of cycle i: (i + id / share) % ndomains */
	int share;		/* workers per domain in one cycle (>= 1) */
	const char *domain_fmt;
	bool read_data;
	bool lockstep;		/* every cycle starts at a barrier */
	struct storm_shared *sh;
	int slot;		/* index in sh->state */
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
		snprintf(dom, sizeof(dom), w->domain_fmt,
			 (i + w->id / (w->share > 0 ? w->share : 1)) % w->ndomains);
		if ((w->lockstep || !i) && storm_barrier(w->sh)) {
			fprintf(stderr, "# worker %d cycle %d: barrier aborted or timed out\n",
				w->id, i);
			return WK_BARRIER;
		}
		storm_state(w->sh, w->slot, ST_MOUNTING);
		ret = erofs_mount(mnt, fsid, dom);
		storm_state(w->sh, w->slot, ret ? ST_IDLE : ST_MOUNTED);
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
		storm_state(w->sh, w->slot, ST_UNMOUNTING);
		ret = umount(mnt);
		storm_state(w->sh, w->slot, ST_IDLE);
		if (ret) {
			fprintf(stderr, "# worker %d cycle %d: umount: %s\n",
				w->id, i, strerror(errno));
			return WK_UMOUNT;
		}
	}
	return WK_OK;
}

static int worker_main(struct worker *w)
{
	int ret = worker_run(w);

	if (ret)
		storm_abort(w->sh);
	return ret;
}

/*
 * Run @n workers to completion; returns the number that failed.  They all
 * start at one barrier (and with w->lockstep, start every cycle at one);
 * *overlaps (may be NULL) gets the races storm_state() counted.
 */
static int run_workers_counted(struct worker *w, int n, int timeout_ms,
			       int *overlaps)
{
	struct storm_shared *sh = storm_shared_new(n);
	pid_t pids[16];
	int i, failed = 0;

	if (!sh || n > 16)
		return n;
	for (i = 0; i < n; i++) {
		w[i].sh = sh;
		sh->state[i] = ST_IDLE;
	}
	for (i = 0; i < n; i++) {
		w[i].slot = i;
		pids[i] = fork();
		if (pids[i] < 0) {
			storm_abort(sh);
			return n;
		}
		if (!pids[i])
			_exit(worker_main(&w[i]));
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
	if (overlaps)
		*overlaps = sh->overlaps;
	storm_shared_free(sh);
	return failed;
}

static int run_workers(struct worker *w, int n, int timeout_ms)
{
	return run_workers_counted(w, n, timeout_ms, NULL);
}

/*
 * Every object the daemon opened was closed again, from the daemon's
 * final stats: wait (bounded) until its live stats balance, stop it (it
 * then writes the final stats and exits 0), and read those.  A CLOSE the
 * daemon never read would show as opens > closes.
 */
static int opens_closed(struct daemon_ctl *d, struct daemon_blob_stats *t)
{
	int ret;

	if (daemon_total(d, t))
		return -1;
	daemon_wait_stat(d, NULL, NULL, DAEMON_CLOSES, t->opens, 10000);
	ret = daemon_stop(d);
	if (ret) {
		fprintf(stderr, "# daemon exit status %d\n", ret);
		return -1;
	}
	memset(t, 0, sizeof(*t));
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

	/*
	 * Every cycle starts at a barrier; workers 0+1 and 2+3 are in the
	 * same domain in each cycle (each pair moving through all four), so
	 * two mounts create or join one domain at the same moment, and two
	 * other domains are being torn down and built next to them.
	 */
	memset(w, 0, sizeof(w));
	for (i = 0; i < STORM_PROCS; i++) {
		w[i].id = i;
		w[i].cycles = total / STORM_PROCS;
		w[i].ndomains = STORM_DOMAINS;
		w[i].share = 2;
		w[i].domain_fmt = "storm%d";
		w[i].read_data = true;
		w[i].lockstep = true;
	}
	EXPECT_EQ(0, run_workers(w, STORM_PROCS, 3000 * 1000));
	TH_LOG("%d cycles in %lld ms", total, daemon_ms_now() - t0);
	printf("# storm: %d mount/read/umount cycles, %d processes, %d domains: %lld ms\n",
	       total, STORM_PROCS, STORM_DOMAINS, daemon_ms_now() - t0);

	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	ASSERT_EQ(0, opens_closed(&self->daemon, &t));
	EXPECT_EQ(t.opens, t.closes);
	EXPECT_LT(0, t.opens);
	EXPECT_EQ(0, t.errors);
	printf("# storm: daemon opens=%llu closes=%llu reads=%llu bytes=%llu (final stats)\n",
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
	int i, overlaps = 0;
	char why[256];

	/*
	 * Replace the fixture's daemon by a slow one.  Its exit status does
	 * not matter: right after "ready" a SIGTERM can still beat the
	 * daemon's signal handler (status 143).
	 */
	daemon_stop(&self->daemon);
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, slow));
	memset(w, 0, sizeof(w));
	for (i = 0; i < 2; i++) {
		w[i].id = i;
		w[i].cycles = RACE_CYCLES * stress_factor();
		w[i].ndomains = 1;
		w[i].share = 2;
		w[i].domain_fmt = "race%d";
		w[i].read_data = i == 0;
	}
	EXPECT_EQ(0, run_workers_counted(w, 2, 3000 * 1000, &overlaps));
	printf("# storm: race of 2 x %d cycles in one domain: %lld ms, %d last-umount/first-mount overlaps\n",
	       w[0].cycles, daemon_ms_now() - t0, overlaps);
	/* A race that never happened tested nothing. */
	EXPECT_LT(0, overlaps) TH_LOG("no last umount ever overlapped a first mount");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	ASSERT_EQ(0, opens_closed(&self->daemon, &t));
	EXPECT_EQ(t.opens, t.closes);
	EXPECT_LT(0, t.opens);
}

/* T4: the same image mounted and unmounted in four domains at once. */
TEST_F_TIMEOUT(storm, storm_same_fsid_all_domains, 3600)
{
	struct worker w[STORM_PROCS];
	struct daemon_blob_stats t;
	char why[256];
	int i;

	memset(w, 0, sizeof(w));
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
	EXPECT_LT(0, t.opens);
}

TEST_F_TIMEOUT(storm, storm_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
