// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection at every slab allocation of an EROFS domain mount (plan
 * item T8).  For k = 1, 2, ... the k-th allocation of mount(2) fails
 * (/proc/thread-self/fail-nth, CONFIG_FAILSLAB), until a mount succeeds
 * with no fault injected.  Every failed mount must return an error and
 * leave nothing behind: no mount, volume, cookie, sysfs entry or inode
 * beyond what was there before; a mount that tolerated its fault must read
 * byte-exact.  After each k the kernel must not be newly tainted and must
 * not have printed a BUG/WARNING/KASAN/list corruption/... line
 * (/dev/kmsg): the test names the k that caused it (the host's log scan
 * cannot).
 *
 * fail-nth only reaches the mounting task: failnth_workers_test covers the
 * allocations fscache and cachefiles make in their workers.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"
#include "failnth.h"

#define FAILNTH_MAX	2000

#define MNT_A	"/mnt/fn.a"
#define MNT_B	"/mnt/fn.b"

FIXTURE(failnth) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	struct failslab_saved failslab;
};

FIXTURE_SETUP(failnth)
{
	if (access("/proc/thread-self/fail-nth", W_OK))
		SKIP(return, "no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
	if (access(FAILSLAB_DIR "/ignore-gfp-wait", W_OK))
		SKIP(return, "no " FAILSLAB_DIR " (CONFIG_FAILSLAB, FAULT_INJECTION_DEBUG_FS)");
	/* fail-nth uses failslab's knobs: sleeping allocations too, no stack dumps */
	ASSERT_EQ(0, failslab_save_prepare(&self->failslab));

	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("failnth", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(failnth)
{
	erofs_umount_all("/mnt/fn.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	failslab_restore(&self->failslab);
}

struct failnth_result {
	int k;			/* first k at which the mount succeeded cleanly */
	int failed;		/* mounts that returned an error */
	int tolerated;		/* faults injected but the mount succeeded */
	int bad_k;		/* k whose failure left something behind, or 0 */
	int bad_ret;		/* a failed mount that did not return -errno */
	char why[1024];
};

/*
 * Mount @fsid in @domain at @target with the k-th allocation failing, for
 * k = 1, 2, ...; after each failure the state must come back to @want, a
 * mount that tolerated its fault must read byte-exact, and the kernel must
 * stay quiet and untainted.
 */
static void failnth_loop(const char *target, const char *fsid,
			 const char *domain, const struct leak_state *want,
			 struct failnth_result *r)
{
	char opts[256], buf[32], expect[256], kwhy[400];
	int k, fd, ret, err;
	struct kwatch kw;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	snprintf(expect, sizeof(expect), EXPECT_DIR "/%s", fsid);
	if (domain)
		snprintf(opts, sizeof(opts), "fsid=%s,domain_id=%s", fsid, domain);
	else
		snprintf(opts, sizeof(opts), "fsid=%s", fsid);
	mkdir(target, 0755);
	if (kwatch_start(&kw)) {
		snprintf(r->why, sizeof(r->why), "open /dev/kmsg: %s", strerror(errno));
		r->bad_k = -1;
		return;
	}
	fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(r->why, sizeof(r->why), "open fail-nth: %s", strerror(errno));
		r->bad_k = -1;
		kwatch_stop(&kw);
		return;
	}
	for (k = 1; k <= FAILNTH_MAX; k++) {
		snprintf(buf, sizeof(buf), "%d", k);
		if (pwrite(fd, buf, strlen(buf), 0) < 0) {
			snprintf(r->why, sizeof(r->why), "write fail-nth: %s",
				 strerror(errno));
			r->bad_k = k;
			break;
		}
		ret = mount("none", target, "erofs", MS_RDONLY, opts);
		err = errno;
		/* What is left of the countdown: 0 means the fault fired. */
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		if (pwrite(fd, "0", 1, 0) < 0)
			break;
		if (!ret && atoi(buf)) {
			r->k = k;
			umount(target);
			break;
		}
		if (!ret) {
			r->tolerated++;
			if (compare_trees(expect, target) <= 0) {
				snprintf(r->why, sizeof(r->why),
					 "the mount that tolerated the fault at k=%d does not read %s byte-exact",
					 k, expect);
				r->bad_k = k;
				umount(target);
				break;
			}
			if (umount(target)) {
				snprintf(r->why, sizeof(r->why), "umount at k=%d: %s",
					 k, strerror(errno));
				r->bad_k = k;
				break;
			}
		} else if (atoi(buf)) {
			snprintf(r->why, sizeof(r->why),
				 "mount failed with no fault injected at k=%d: %s",
				 k, strerror(err));
			r->bad_k = k;
			break;
		} else {
			r->failed++;
			if (err <= 0 || err >= 4096)
				r->bad_ret = k;
		}
		if (leak_wait_state(want, 10000, r->why, sizeof(r->why))) {
			r->bad_k = k;
			break;
		}
		if (kwatch_check(&kw, kwhy, sizeof(kwhy))) {
			snprintf(r->why, sizeof(r->why), "at k=%d: %s", k, kwhy);
			r->bad_k = k;
			break;
		}
	}
	/* The clean mount's k, and whatever its umount's workers printed. */
	if (!r->bad_k && kwatch_check(&kw, kwhy, sizeof(kwhy))) {
		snprintf(r->why, sizeof(r->why), "after the last k=%d: %s", k, kwhy);
		r->bad_k = k;
	}
	close(fd);
	kwatch_stop(&kw);
}

static void report(const char *what, const struct failnth_result *r)
{
	printf("# failnth: %s: clean success at k=%d after %d failed mounts, %d tolerated faults\n",
	       what, r->k, r->failed, r->tolerated);
}

/* The first mount of a domain: domain, volume, pseudo mount, cookies. */
TEST_F_TIMEOUT(failnth, failnth_first_domain_mount, 3000)
{
	struct failnth_result r;
	char why[256];

	failnth_loop(MNT_A, "bootA", "fn0", &self->base.clean, &r);
	report("first domain mount", &r);
	EXPECT_EQ(0, r.bad_k) TH_LOG("after a failure at k=%d: %s", r.bad_k, r.why);
	EXPECT_EQ(0, r.bad_ret);
	EXPECT_NE(0, r.k) TH_LOG("no clean mount within %d faults", FAILNTH_MAX);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/* Joining a domain: one blob already registered (shared), one new (onlyB). */
TEST_F_TIMEOUT(failnth, failnth_join_domain_shared_and_new_blobs, 3000)
{
	struct failnth_result r;
	struct leak_state with_a;
	char why[256];

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "fn1"));
	ASSERT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	leak_state_take(&with_a);

	failnth_loop(MNT_B, "bootB", "fn1", &with_a, &r);
	report("joining a domain", &r);
	EXPECT_EQ(0, r.bad_k) TH_LOG("after a failure at k=%d: %s", r.bad_k, r.why);
	EXPECT_EQ(0, r.bad_ret);
	EXPECT_NE(0, r.k) TH_LOG("no clean mount within %d faults", FAILNTH_MAX);
	/* Both images still read right after all that. */
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	if (r.k) {
		ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "fn1"));
		EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
		ASSERT_EQ(0, erofs_umount(MNT_B));
	}
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/* A plain fscache mount, for comparison (kill_sb after partial set-up). */
TEST_F_TIMEOUT(failnth, failnth_plain_fscache_mount, 3000)
{
	struct failnth_result r;
	char why[256];

	failnth_loop(MNT_A, "bootB", NULL, &self->base.clean, &r);
	report("mount without domain", &r);
	EXPECT_EQ(0, r.bad_k) TH_LOG("after a failure at k=%d: %s", r.bad_k, r.why);
	EXPECT_EQ(0, r.bad_ret);
	EXPECT_NE(0, r.k) TH_LOG("no clean mount within %d faults", FAILNTH_MAX);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

TEST_F_TIMEOUT(failnth, failnth_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
