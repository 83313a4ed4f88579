// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed images in fscache mode, in a domain and without one (plan
 * items T8, T11): each is refused at mount or fails at read exactly as
 * MKIMAGE.md describes, never crashes or hangs, and leaves nothing behind.
 * The images are built by erofs-mkimage --craft over the onlyA and onlyB
 * layers (harness/mkdata.d/reliability.sh): h-<kind>.
 */
#include "kselftest_harness.h"
#include <sys/vfs.h>
#include "erofs_rel.h"

#define MNT	"/mnt/host.a"

FIXTURE(hostile) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

FIXTURE_VARIANT(hostile) {
	const char *domain;
};

FIXTURE_VARIANT_ADD(hostile, domain) {
	.domain = "hdom",
};

FIXTURE_VARIANT_ADD(hostile, nodomain) {
	.domain = NULL,
};

FIXTURE_SETUP(hostile)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("hostile", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(hostile)
{
	char why[256];

	erofs_umount_all("/mnt/host.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
}

TEST_F_TIMEOUT(hostile, hostile_bad_csum_refused_at_mount, 120)
{
	EXPECT_EQ(-EBADMSG, erofs_mount(MNT, "h-bad-csum", variant->domain));
}

TEST_F_TIMEOUT(hostile, hostile_empty_tag_refused_at_mount, 120)
{
	EXPECT_EQ(-EINVAL, erofs_mount(MNT, "h-empty-tag", variant->domain));
}

/* The real slots are registered before the bad one: all must be released. */
TEST_F_TIMEOUT(hostile, hostile_extra_devices_overflow_refused_at_mount, 120)
{
	EXPECT_EQ(-EINVAL, erofs_mount(MNT, "h-extra-devices-overflow",
				       variant->domain));
}

/* blocks only feeds statfs: reads stay byte-exact. */
TEST_F_TIMEOUT(hostile, hostile_zero_blocks_reads_exact, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT, "h-zero-blocks", variant->domain));
	EXPECT_GT(compare_trees(EXPECT_DIR "/h-zero-blocks", MNT), 0);
}

TEST_F_TIMEOUT(hostile, hostile_huge_blocks_reads_exact, 120)
{
	struct statfs sf;

	ASSERT_EQ(0, erofs_mount(MNT, "h-huge-blocks", variant->domain));
	ASSERT_EQ(0, statfs(MNT, &sf));
	EXPECT_LE(0xffffffffULL, (unsigned long long)sf.f_blocks);
	EXPECT_GT(compare_trees(EXPECT_DIR "/h-huge-blocks", MNT), 0);
}

/*
 * A slot's blocks only feeds statfs: h-zero-blocks, h-huge-blocks and
 * h-bad-device-id have the same slots but for slot 0's blocks (0,
 * 0xffffffff, the real count), so their f_blocks differ by exactly that.
 */
TEST_F_TIMEOUT(hostile, hostile_slot_blocks_only_change_statfs, 120)
{
	static const char *const img[] = { "h-zero-blocks", "h-huge-blocks",
					   "h-bad-device-id" };
	unsigned long long b[3];
	char mnt[32];
	struct statfs sf;
	struct stat st;
	char blob[128], path[PATH_MAX];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/host.s%d", i);
		ASSERT_EQ(0, erofs_mount(mnt, img[i], variant->domain)) TH_LOG("%s", img[i]);
		ASSERT_EQ(0, statfs(mnt, &sf));
		EXPECT_EQ(4096, sf.f_bsize);
		EXPECT_EQ(0, sf.f_bfree);
		b[i] = sf.f_blocks;
	}
	TH_LOG("f_blocks: zero %llu, huge %llu, real %llu", b[0], b[1], b[2]);
	EXPECT_EQ(0xffffffffULL, b[1] - b[0]);
	/* slot 0 is the onlyA blob: its real blocks are its size in blocks */
	ASSERT_EQ(0, layer_blob("onlyA", blob, sizeof(blob)));
	snprintf(path, sizeof(path), BLOB_DIR "/%s", blob);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ((unsigned long long)(st.st_size + 4095) / 4096, b[2] - b[0]);
}

/*
 * A chunk past its blob's end: the kernel sends the READ beyond the size
 * the daemon gave in copen, so the daemon decides: ours pads past the end
 * with zeros.  Either an error or zeros, never another file's bytes; the
 * rest of the image is fine.
 */
static int all_zero_or_error(const char *path)
{
	char buf[4096];
	ssize_t n, i;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 1;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			if (buf[i])
				ret = 0;
	if (n < 0)
		ret = -errno;
	close(fd);
	return ret;
}

TEST_F_TIMEOUT(hostile, hostile_chunk_past_end_no_foreign_data, 120)
{
	int ret;

	ASSERT_EQ(0, erofs_mount(MNT, "h-chunk-past-end", variant->domain));
	ret = all_zero_or_error(MNT "/etc/onlyA.conf");
	EXPECT_NE(0, ret) TH_LOG("read non-zero bytes past the blob's end");
	TH_LOG("read past the blob's end: %s", ret < 0 ? strerror(-ret) : "zeros");
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootB/usr/lib/onlyB/page",
				   MNT "/usr/lib/onlyB/page"));
}

/* A chunk on a device that does not exist: ENODEV (or EIO), no crash. */
TEST_F_TIMEOUT(hostile, hostile_bad_device_id_read_fails, 120)
{
	long long n;

	ASSERT_EQ(0, erofs_mount(MNT, "h-bad-device-id", variant->domain));
	n = read_whole(MNT "/etc/onlyA.conf");
	EXPECT_TRUE(n == -ENODEV || n == -EIO) TH_LOG("read returned %lld", n);
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootB/usr/lib/onlyB/page",
				   MNT "/usr/lib/onlyB/page"));
}

/*
 * Two slots (onlyA, onlyB) with onlyA's tag (MKIMAGE.md, dup-tag): without
 * a domain fscache refuses the duplicate cookie, -EINVAL; in a domain the
 * mount succeeds, the second slot refcounting the first slot's cookie:
 * onlyA's files read right, onlyB's are read from onlyA's blob (never
 * their own bytes), and the umount is clean.
 */
TEST_F_TIMEOUT(hostile, hostile_dup_tag_handled, 120)
{
	char bad[PATH_MAX] = "";
	int ret = erofs_mount(MNT, "h-dup-tag", variant->domain);

	if (!variant->domain) {
		EXPECT_EQ(-EINVAL, ret);
		return;
	}
	ASSERT_EQ(0, ret) TH_LOG("refused: %s", strerror(-ret));
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootA/usr/lib/onlyA/page",
				   MNT "/usr/lib/onlyA/page"));
	EXPECT_EQ(0, compare_files(EXPECT_DIR "/bootA/etc/onlyA.conf",
				   MNT "/etc/onlyA.conf"));
	/* slot 1's bytes come from slot 0's blob: different from onlyB's */
	EXPECT_NE(0, compare_files(EXPECT_DIR "/bootB/usr/lib/onlyB/page",
				   MNT "/usr/lib/onlyB/page"));
	ret = read_tree(MNT, bad, sizeof(bad));
	TH_LOG("reading every file: %d%s%s", ret, ret < 0 ? " at " : "",
	       ret < 0 ? bad : "");
}

/*
 * An image naming its own bootstrap as data blob (tag-is-fsid=h-self):
 * without a domain the duplicate cookie gives -EINVAL; in a domain the
 * series refuses to share a bootstrap as a data blob, -EEXIST (6.12
 * mounts it and serves bootstrap bytes as file data; T2 tests the other
 * mount order).
 */
TEST_F_TIMEOUT(hostile, hostile_own_fsid_as_blob_handled, 120)
{
	int ret = erofs_mount(MNT, "h-self", variant->domain);

	EXPECT_EQ(variant->domain ? -EEXIST : -EINVAL, ret)
		TH_LOG("mount: %s", ret ? strerror(-ret) : "succeeded");
}

/*
 * A tag that names no blob: the daemon answers the bootstrap's OPEN with
 * ENOENT; reading the superblock then fails and mount(2) returns EIO
 * (observed in and without a domain).
 */
TEST_F_TIMEOUT(hostile, hostile_unknown_fsid_fails_cleanly, 120)
{
	int ret = erofs_mount(MNT, "no-such-blob", variant->domain);

	EXPECT_EQ(-EIO, ret) TH_LOG("mount: %s", ret ? strerror(-ret) : "succeeded");
	EXPECT_LE(1, file_contains(self->daemon.logfile, "no-such-blob"))
		TH_LOG("the daemon never saw the OPEN");
}

TEST_F_TIMEOUT(hostile, hostile_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
