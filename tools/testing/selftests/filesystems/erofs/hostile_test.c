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
	EXPECT_EQ(0, statfs(MNT, &sf));
	EXPECT_GT(compare_trees(EXPECT_DIR "/h-huge-blocks", MNT), 0);
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
 * Two slots with one tag: without a domain fscache refuses the duplicate
 * cookie; in a domain the mount may succeed (the slots share one cookie)
 * but whatever it reads, nothing breaks and the umount is clean.
 */
TEST_F_TIMEOUT(hostile, hostile_dup_tag_handled, 120)
{
	char bad[PATH_MAX] = "";
	int ret = erofs_mount(MNT, "h-dup-tag", variant->domain);

	if (!variant->domain) {
		EXPECT_EQ(-EINVAL, ret);
		return;
	}
	if (!ret) {
		ret = read_tree(MNT, bad, sizeof(bad));
		TH_LOG("mounted; reading every file: %d%s%s", ret,
		       ret < 0 ? " at " : "", ret < 0 ? bad : "");
	} else {
		TH_LOG("refused: %s", strerror(-ret));
	}
}

/* An image naming its own bootstrap as data blob, without a domain. */
TEST_F_TIMEOUT(hostile, hostile_own_fsid_as_blob_handled, 120)
{
	char bad[PATH_MAX] = "";
	int ret = erofs_mount(MNT, "h-self", variant->domain);

	if (!variant->domain) {
		EXPECT_EQ(-EINVAL, ret);
		return;
	}
	/* In a domain: T2_image_uses_own_fsid_as_blob_eexist has the verdict. */
	if (!ret)
		TH_LOG("mounted; reading every file: %d", read_tree(MNT, bad, sizeof(bad)));
}

/* A tag that names no blob: the daemon answers ENOENT. */
TEST_F_TIMEOUT(hostile, hostile_unknown_fsid_fails_cleanly, 120)
{
	EXPECT_GT(0, erofs_mount(MNT, "no-such-blob", variant->domain));
}

TEST_F_TIMEOUT(hostile, hostile_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
