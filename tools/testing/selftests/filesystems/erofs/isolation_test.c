// SPDX-License-Identifier: GPL-2.0
/*
 * Isolation between EROFS shared domains: a blob is shared inside one
 * domain only.  Domains isoA and isoB both hold a bootstrap "iso" and a
 * data blob "isoblob" with different content (the daemon serves them from
 * blobs/erofs,isoA/ and blobs/erofs,isoB/); each domain must read its own.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT_A	"/mnt/iso.a"
#define MNT_B	"/mnt/iso.b"

FIXTURE(isolation) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	char shared[128];
};

FIXTURE_SETUP(isolation)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, layer_blob("shared", self->shared, sizeof(self->shared)));
	ASSERT_EQ(0, fresh_cache_dir("isolation", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(isolation)
{
	char why[256];

	erofs_umount_all("/mnt/iso.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
}

/* Same fsid, same blob name, two domains: each reads its own bytes. */
TEST_F_TIMEOUT(isolation, isolation_same_names_two_domains_own_content, 180)
{
	struct daemon_blob_stats st;

	ASSERT_EQ(0, erofs_mount(MNT_A, "iso", "isoA"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "iso", "isoB"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoB", MNT_B), 0);

	/* Each domain opened its own "isoblob", once. */
	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,isoA", "isoblob", &st));
	EXPECT_EQ(1, st.opens);
	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,isoB", "isoblob", &st));
	EXPECT_EQ(1, st.opens);
}

/* Mount order does not matter, and reads after a page cache drop too. */
TEST_F_TIMEOUT(isolation, isolation_reverse_order_after_drop_caches, 180)
{
	ASSERT_EQ(0, erofs_mount(MNT_B, "iso", "isoB"));
	ASSERT_EQ(0, erofs_mount(MNT_A, "iso", "isoA"));
	drop_caches();
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoB", MNT_B), 0);
}

/* Unmounting one domain leaves the other one's blob intact and readable. */
TEST_F_TIMEOUT(isolation, isolation_umount_one_domain_other_reads, 180)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "iso", "isoA"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "iso", "isoB"));
	ASSERT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT_A), 0);
	ASSERT_EQ(0, erofs_umount(MNT_A));
	drop_caches();
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoB", MNT_B), 0);
	/* And isoA comes back with its own content. */
	ASSERT_EQ(0, erofs_mount(MNT_A, "iso", "isoA"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT_A), 0);
}

/* Two domains never share a blob, even one with the same content. */
TEST_F_TIMEOUT(isolation, isolation_no_sharing_across_domains, 180)
{
	struct daemon_blob_stats st;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "isoX"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "isoY"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,isoX", self->shared, &st));
	EXPECT_EQ(1, st.opens);
	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,isoY", self->shared, &st));
	EXPECT_EQ(1, st.opens);
}

/* A domain mount and a plain mount never share a blob either. */
TEST_F_TIMEOUT(isolation, isolation_domain_and_plain_mount_separate, 180)
{
	struct daemon_blob_stats st;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "isoX"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	ASSERT_EQ(0, daemon_stats(&self->daemon, NULL, self->shared, &st));
	EXPECT_EQ(2, st.opens);
}

/* The cached copies stay apart too: one backing file per domain. */
TEST_F_TIMEOUT(isolation, isolation_backing_files_per_domain, 180)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "iso", "isoA"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "iso", "isoB"));
	ASSERT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT_A), 0);
	ASSERT_GT(compare_trees(EXPECT_DIR "/iso-isoB", MNT_B), 0);
	ASSERT_EQ(0, erofs_umount(MNT_A));
	ASSERT_EQ(0, erofs_umount(MNT_B));
	/* bootstrap + isoblob in each volume, committed asynchronously */
	EXPECT_EQ(2, wait_backing_files(self->cache, "erofs,isoA", 2));
	EXPECT_EQ(2, wait_backing_files(self->cache, "erofs,isoB", 2));
}

TEST_F_TIMEOUT(isolation, isolation_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
