// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end test of EROFS shared domains against a real cachefiles
 * on-demand daemon: two images that share one layer blob.
 *
 *   bootA = [shared, onlyA]      bootB = [shared, onlyB]
 *
 * In one domain the shared blob is opened, fetched and cached once; without
 * a domain each image opens and caches its own copy.
 */
#include "kselftest_harness.h"
#include "daemon_ctl.h"
#include "erofs_test.h"

#define MNT_A	"/mnt/a"
#define MNT_B	"/mnt/b"
#define MNT_C	"/mnt/c"
#define MNT_E	"/mnt/e"

FIXTURE(sharing) {
	struct daemon_ctl daemon;
	char cache[PATH_MAX];
	char shared[128], only_a[128], only_b[128];
};

FIXTURE_SETUP(sharing)
{
	ASSERT_EQ(0, layer_blob("shared", self->shared, sizeof(self->shared)));
	ASSERT_EQ(0, layer_blob("onlyA", self->only_a, sizeof(self->only_a)));
	ASSERT_EQ(0, layer_blob("onlyB", self->only_b, sizeof(self->only_b)));
	ASSERT_EQ(0, fresh_cache_dir("sharing", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(sharing)
{
	umount(MNT_A);
	umount(MNT_B);
	umount(MNT_C);
	umount(MNT_E);
	daemon_stop(&self->daemon);
}

static void report(struct __test_metadata *_metadata, const struct daemon_ctl *d,
		   const char *volume, const char *key, const char *what)
{
	struct daemon_blob_stats st = { 0 };

	daemon_stats(d, volume, key, &st);
	printf("# demo: %-14s %-10.10s… %-22s opens=%llu reads=%llu bytes=%llu\n",
	       volume ? volume : "(all volumes)", key, what,
	       (unsigned long long)st.opens, (unsigned long long)st.reads,
	       (unsigned long long)st.bytes);
	(void)_metadata;
}

/*
 * Unmount both images and stop the daemon, so that cachefiles links the
 * backing files into the cache; returns how many hold the shared blob,
 * or -1 if the teardown itself failed.
 */
static int shared_blob_files(FIXTURE_DATA(sharing) *self)
{
	char name[160];
	int n;

	if (erofs_umount(MNT_A) || erofs_umount(MNT_B) ||
	    daemon_stop(&self->daemon))
		return -1;
	snprintf(name, sizeof(name), "D%s", self->shared);
	n = count_files_named(self->cache, name);
	printf("# demo: cache files for the shared blob after umount: %d\n", n);
	return n;
}

/* Two images in one domain share the blob: one OPEN, one cached copy. */
TEST_F_TIMEOUT(sharing, domain_shares_blob, 300)
{
	struct daemon_blob_stats st, total;
	int n;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dom0"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "dom0"));

	n = compare_trees(EXPECT_DIR "/bootA", MNT_A);
	ASSERT_GT(n, 0);
	n = compare_trees(EXPECT_DIR "/bootB", MNT_B);
	ASSERT_GT(n, 0);

	ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,dom0", self->shared, &st));
	EXPECT_EQ(1, st.opens);
	ASSERT_EQ(0, daemon_total(&self->daemon, &total));
	/* two bootstraps + three distinct layer blobs */
	EXPECT_EQ(5, total.opens);
	EXPECT_EQ(5, daemon_count_blobs(&self->daemon, "erofs,dom0"));

	printf("# demo: one domain \"dom0\": bootA=[shared,onlyA] bootB=[shared,onlyB]\n");
	report(_metadata, &self->daemon, "erofs,dom0", self->shared, "shared layer");
	report(_metadata, &self->daemon, "erofs,dom0", self->only_a, "layer of A only");
	report(_metadata, &self->daemon, "erofs,dom0", self->only_b, "layer of B only");
	printf("# demo: total OPENs %llu (limit: 2 bootstraps + 3 blobs = 5), bytes served %llu\n",
	       (unsigned long long)total.opens, (unsigned long long)total.bytes);

	/* The same bootstrap twice in one domain is refused. */
	EXPECT_EQ(-EEXIST, erofs_mount(MNT_C, "bootA", "dom0"));

	EXPECT_EQ(1, shared_blob_files(self));
}

/* Without a domain every image opens and caches its own copy. */
TEST_F_TIMEOUT(sharing, no_domain_opens_twice, 300)
{
	struct daemon_blob_stats st, total;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", NULL));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", NULL));
	ASSERT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	ASSERT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);

	ASSERT_EQ(0, daemon_stats(&self->daemon, NULL, self->shared, &st));
	EXPECT_EQ(2, st.opens);
	ASSERT_EQ(0, daemon_total(&self->daemon, &total));
	EXPECT_EQ(6, total.opens);
	printf("# demo: no domain: total OPENs %llu, shared layer opened %llu times, bytes served %llu\n",
	       (unsigned long long)total.opens, (unsigned long long)st.opens,
	       (unsigned long long)total.bytes);

	EXPECT_EQ(2, shared_blob_files(self));
}

/*
 * Three images over four layers with overlaps, bootE = [onlyA, onlyB,
 * extra]: every bootstrap and every distinct layer is opened exactly once.
 */
TEST_F_TIMEOUT(sharing, three_images_open_each_blob_once, 300)
{
	static const char * const layers[] = { "shared", "onlyA", "onlyB", "extra" };
	struct daemon_blob_stats st, total;
	char blob[128];
	unsigned int i;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "dom3"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootB", "dom3"));
	ASSERT_EQ(0, erofs_mount(MNT_E, "bootE", "dom3"));
	ASSERT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	ASSERT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
	ASSERT_GT(compare_trees(EXPECT_DIR "/bootE", MNT_E), 0);

	for (i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
		ASSERT_EQ(0, layer_blob(layers[i], blob, sizeof(blob)));
		ASSERT_EQ(0, daemon_stats(&self->daemon, "erofs,dom3", blob, &st));
		EXPECT_EQ(1, st.opens) TH_LOG("layer %s", layers[i]);
	}
	ASSERT_EQ(0, daemon_total(&self->daemon, &total));
	/* three bootstraps + four distinct layer blobs */
	EXPECT_EQ(7, total.opens);
	EXPECT_EQ(7, daemon_count_blobs(&self->daemon, "erofs,dom3"));
}

TEST_HARNESS_MAIN
