// SPDX-License-Identifier: GPL-2.0
/*
 * R7: a layer image mounted alone (fsid=r7layer) and a merged image whose
 * device table names that same image as its data blob (r7merged, as
 * erofs-utils' rebuild mode makes them).  In one domain a name is either
 * a bootstrap or a data blob, never both: the second mount fails with
 * EEXIST in both orders and the first keeps reading byte-exact.  In two
 * domains both work.
 *
 * R8: loop-device and file-backed mounts.  domain_id= (and fsid= on a
 * loop device) fail with EINVAL and a message, register nothing with
 * fscache and leave nothing behind; without them both mount types read
 * byte-exact.
 *
 * Data (harness/mkdata.d/rtests.sh): r7layer, a complete image of the
 * onlyA layer (erofs-mkimage --layer-image), and r7merged = [onlyB,
 * r7layer] (--layer-blob).
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT_A	"/mnt/r78.a"
#define MNT_B	"/mnt/r78.b"
#define LAYER	BLOB_DIR "/r7layer"

FIXTURE(r78) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	int kmsg;
	int loopfd;
};

FIXTURE_SETUP(r78)
{
	self->loopfd = -1;
	leak_baseline(&self->base);
	self->kmsg = kmsg_open_at_end();
	ASSERT_EQ(0, fresh_cache_dir("r78", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(r78)
{
	char why[256];

	erofs_umount_all("/mnt/r78.");
	if (self->loopfd >= 0)
		close(self->loopfd);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/*
 * EXPECT and return instead of ASSERT once the daemon runs: the 6.12
 * harness can skip the teardown after an ASSERT (its fork bookkeeping does
 * not survive the longjmp at -O2), leaving the daemon bound for the next
 * test.
 */
static bool expect0(struct __test_metadata *_metadata, int ret)
{
	EXPECT_EQ(0, ret) TH_LOG("%s", strerror(-ret));
	return !ret;
}

/*
 * Mount @first in r7dom, then @second in the same domain: EEXIST, with a
 * kernel message naming r7layer (the @what of the refusal), and @first
 * still reads byte-exact.
 */
static void r7_second_in_domain_eexist(struct __test_metadata *_metadata,
				       FIXTURE_DATA(r78) *self,
				       const char *first, const char *second,
				       const char *what)
{
	char line[512] = "", expect[PATH_MAX];

	snprintf(expect, sizeof(expect), EXPECT_DIR "/%s", first);
	if (!expect0(_metadata, erofs_mount(MNT_A, first, "r7dom")))
		return;
	EXPECT_GT(compare_trees(expect, MNT_A), 0);
	kmsg_grep(self->kmsg, "", NULL, 0);
	EXPECT_EQ(-EEXIST, erofs_mount(MNT_B, second, "r7dom"));
	EXPECT_EQ(1, kmsg_grep(self->kmsg, "r7layer", line, sizeof(line)))
		TH_LOG("no kernel message names the %s", what);
	TH_LOG("kernel: %s", line);
	EXPECT_GT(compare_trees(expect, MNT_A), 0);
}

TEST_F_TIMEOUT(r78, R7_layer_alone_then_merged_same_domain_eexist, 300)
{
	r7_second_in_domain_eexist(_metadata, self, "r7layer", "r7merged",
				   "blob");
}

TEST_F_TIMEOUT(r78, R7_merged_then_layer_alone_same_domain_eexist, 300)
{
	/* stock 6.12 hands the mount the data blob's cookie as its bootstrap */
	r7_second_in_domain_eexist(_metadata, self, "r7merged", "r7layer",
				   "fsid");
}

TEST_F_TIMEOUT(r78, R7_layer_and_merged_in_two_domains_ok, 600)
{
	if (!expect0(_metadata, erofs_mount(MNT_A, "r7layer", "r7dom1")))
		return;
	if (!expect0(_metadata, erofs_mount(MNT_B, "r7merged", "r7dom2")))
		return;
	EXPECT_GT(compare_trees(EXPECT_DIR "/r7layer", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/r7merged", MNT_B), 0);
	if (!expect0(_metadata, erofs_umount(MNT_B)))
		return;
	if (!expect0(_metadata, erofs_umount(MNT_A)))
		return;
	/* and in the other order, without domains */
	if (!expect0(_metadata, erofs_mount(MNT_A, "r7merged", NULL)))
		return;
	if (!expect0(_metadata, erofs_mount(MNT_B, "r7layer", NULL)))
		return;
	EXPECT_GT(compare_trees(EXPECT_DIR "/r7merged", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/r7layer", MNT_B), 0);
}

/* A new kernel line from erofs naming fsid or domain_id?  1 or 0. */
static int kmsg_erofs_option(int fd, char *line, size_t size)
{
	char rec[8192];
	ssize_t n;
	int found = 0;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (!found && strstr(rec, "erofs") &&
		    (strstr(rec, "fsid") || strstr(rec, "domain_id"))) {
			found = 1;
			snprintf(line, size, "%.*s", (int)size - 1, rec);
		}
	}
	return found;
}

/*
 * Mount @source with @opts; it must fail with EINVAL, log a message
 * naming the option, and register nothing with fscache.
 */
static void refused(struct __test_metadata *_metadata, FIXTURE_DATA(r78) *self,
		    const char *source, const char *opts)
{
	char line[512] = "";
	int ret;

	kmsg_grep(self->kmsg, "", NULL, 0);
	mkdir(MNT_A, 0755);
	ret = mount(source, MNT_A, "erofs", MS_RDONLY, opts) ? -errno : 0;
	EXPECT_EQ(-EINVAL, ret) TH_LOG("%s -o %s: %s", source, opts,
				      ret ? strerror(-ret) : "mounted");
	if (!ret) {
		TH_LOG("mountinfo shows %s", file_contains("/proc/self/mountinfo",
			"fsid=") ? "an fscache mount (source ignored)" : "a mount");
		erofs_umount(MNT_A);
	}
	EXPECT_EQ(1, kmsg_erofs_option(self->kmsg, line, sizeof(line)))
		TH_LOG("%s -o %s: no erofs message names fsid or domain_id",
		       source, opts);
	if (line[0])
		TH_LOG("kernel: %s", line);
	EXPECT_EQ(0, count_fscache_volumes("erofs,"));
	EXPECT_EQ(0, count_erofs_mounts());
}

/*
 * Without fscache options the device or file @src itself mounts and reads
 * byte-exact, and no fscache volume is registered.
 */
static void mounts_plain(struct __test_metadata *_metadata, const char *src)
{
	mkdir(MNT_B, 0755);
	if (!expect0(_metadata, mount(src, MNT_B, "erofs", MS_RDONLY, NULL) ? -errno : 0))
		return;
	EXPECT_GT(compare_trees(EXPECT_DIR "/r7layer", MNT_B), 0);
	EXPECT_EQ(0, count_fscache_volumes("erofs,"));
}

TEST_F_TIMEOUT(r78, R8_loop_device_with_domain_id_or_fsid_einval, 300)
{
	char dev[64];

	self->loopfd = loop_attach(LAYER, dev, sizeof(dev));
	ASSERT_LE(0, self->loopfd) TH_LOG("loop: %s", strerror(-self->loopfd));
	refused(_metadata, self, dev, "domain_id=r8dom");
	refused(_metadata, self, dev, "fsid=bootA,domain_id=r8dom");
	refused(_metadata, self, dev, "fsid=bootA");
	mounts_plain(_metadata, dev);
}

TEST_F_TIMEOUT(r78, R8_file_backed_with_domain_id_einval, 300)
{
	refused(_metadata, self, LAYER, "domain_id=r8dom");
	mounts_plain(_metadata, LAYER);
}

TEST_F_TIMEOUT(r78, R78_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
