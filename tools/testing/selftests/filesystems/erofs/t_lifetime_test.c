// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetimes in EROFS shared domains (plan items T7, T10): a shared blob
 * outlives the mount that registered it, a domain is torn down with its
 * last mount and built again by the next one, and data read through
 * device blobs is byte-exact throughout, also after the page cache is
 * dropped (so reads go back to the cache files).
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT_A	"/mnt/tl.a"
#define MNT_B	"/mnt/tl.b"

FIXTURE(lifetime) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	char shared[128];
};

FIXTURE_SETUP(lifetime)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, layer_blob("shared", self->shared, sizeof(self->shared)));
	ASSERT_EQ(0, fresh_cache_dir("lifetime", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(lifetime)
{
	char why[256];

	erofs_umount_all("/mnt/tl.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
}

/* T10: the mount that registered the shared blob goes; the other reads on. */
TEST_F_TIMEOUT(lifetime, T10_shared_blob_outlives_first_mount, 180)
{
	struct daemon_blob_stats st;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "tldom"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "tldom"));
	ASSERT_EQ(0, erofs_umount(MNT_A));
	drop_caches();
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	/*
	 * Still the one object opened by bootA's mount, never closed.  The
	 * reads of bootB's own blob above went through the daemon after any
	 * CLOSE bootA's umount queued; closes == 0 is then read from the
	 * final stats the daemon writes when it stops (its last word, not a
	 * snapshot).
	 */
	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,tldom", self->shared, &st));
	EXPECT_EQ(1, st.opens);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
	memset(&st, 0, sizeof(st));
	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,tldom", self->shared, &st));
	EXPECT_EQ(1, st.opens);
	EXPECT_EQ(0, st.closes);
	/* The teardown stops a daemon: give it one, after the umount. */
	ASSERT_EQ(0, erofs_umount(MNT_B));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

/* T10: cold reads, then reads from the cache files after a drop. */
TEST_F_TIMEOUT(lifetime, T10_domain_reads_exact_cold_and_warm, 180)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "tldom"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "tldom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	drop_caches();
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/*
 * T7: the last umount destroys the domain (volume gone), the next mount
 * builds it again, several times over, alternating with a second domain.
 */
TEST_F_TIMEOUT(lifetime, T7_domain_rebuilt_after_last_umount, 300)
{
	char why[256];
	int i;

	for (i = 0; i < 4; i++) {
		const char *dom = i % 2 ? "tldom2" : "tldom1";

		ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", dom)) TH_LOG("round %d", i);
		ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", dom)) TH_LOG("round %d", i);
		EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
		ASSERT_EQ(0, erofs_umount(MNT_B));
		ASSERT_EQ(0, erofs_umount(MNT_A));
		EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
			TH_LOG("round %d: left behind: %s", i, why);
	}
}

/* T7: a new domain mount right after the last umount, no wait in between. */
TEST_F_TIMEOUT(lifetime, T7_remount_domain_immediately, 300)
{
	int i;

	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "tlfast")) TH_LOG("round %d", i);
		ASSERT_EQ(0, erofs_umount(MNT_A));
	}
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "tlfast"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

TEST_F_TIMEOUT(lifetime, T7_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
