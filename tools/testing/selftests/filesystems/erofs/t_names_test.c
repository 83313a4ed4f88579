// SPDX-License-Identifier: GPL-2.0
/*
 * Names in EROFS shared domains: which (fsid, domain_id) combinations may
 * coexist, what is rejected up front, what remount may change, and what
 * mountinfo and sysfs reveal of a domain (plan items T1, T2, T3, T5, T11,
 * T12).  Every test also checks that its mounts leave nothing behind.
 *
 * Data (harness/mkdata.sh + mkdata.d/reliability.sh): bootA/bootB share
 * the "shared" layer; xdata's only device is tagged "xboot", the fsid of
 * another image; h-self's device is tagged with its own fsid; copies of
 * bootA live under 128- and 129-byte names (R5: 129 works as on stock), "boot,comma" and
 * "ctl\x01boot", so that stock kernels can actually mount them.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT_A	"/mnt/tn.a"
#define MNT_B	"/mnt/tn.b"
#define MNT_C	"/mnt/tn.c"

FIXTURE(names) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

FIXTURE_SETUP(names)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("names", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(names)
{
	char why[256];

	erofs_umount_all("/mnt/tn.");
	/* Before stopping the daemon: unbinding the cache would hide leaks. */
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
}

static void repeat_char(char *buf, char c, int n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

/* T1: the same bootstrap twice in one domain is refused, no WARN. */
TEST_F_TIMEOUT(names, T1_same_fsid_twice_in_domain_eexist, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t1dom"));
	EXPECT_EQ(-EEXIST, erofs_mount(MNT_B, "bootA", "t1dom"));
	/* The first mount is unaffected. */
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/* T1: the same bootstrap in two domains is two independent images. */
TEST_F_TIMEOUT(names, T1_same_fsid_in_two_domains_ok, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t1dom1"));
	ASSERT_EQ(0, erofs_mount(MNT_B, "bootA", "t1dom2"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_B), 0);
}

/* T1: without a domain the volume erofs,<fsid> is already taken. */
TEST_F_TIMEOUT(names, T1_same_fsid_twice_no_domain_ebusy, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", NULL));
	EXPECT_EQ(-EBUSY, erofs_mount(MNT_B, "bootA", NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/* T2: "xboot" registered as a data blob first, then as a bootstrap. */
TEST_F_TIMEOUT(names, T2_data_blob_then_bootstrap_eexist, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "xdata", "t2dom"));
	EXPECT_EQ(-EEXIST, erofs_mount(MNT_B, "xboot", "t2dom"));
}

/*
 * T2: "xboot" registered as a bootstrap first, then named as a data blob.
 * Stock 6.12 silently hands xdata the bootstrap's cookie.
 */
TEST_F_TIMEOUT(names, T2_bootstrap_then_data_blob_eexist, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "xboot", "t2dom"));
	EXPECT_EQ(-EEXIST, erofs_mount(MNT_B, "xdata", "t2dom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/xboot", MNT_A), 0);
}

/* T2: one image naming its own bootstrap as its data blob, in a domain. */
TEST_F_TIMEOUT(names, T2_image_uses_own_fsid_as_blob_eexist, 120)
{
	EXPECT_EQ(-EEXIST, erofs_mount(MNT_A, "h-self", "t2self"));
}

/* T5: fsid=X without a domain, then domain_id=X: refused, no hang. */
TEST_F_TIMEOUT(names, T5_fsid_then_domain_id_same_name_ebusy, 180)
{
	ASSERT_EQ(0, erofs_mount_bounded(MNT_A, "bootA", NULL, 60000, NULL));
	EXPECT_EQ(-EBUSY, erofs_mount_bounded(MNT_B, "bootB", "bootA", 60000, NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	/* Once the first is gone the name is free again (no dying volume). */
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, erofs_mount_bounded(MNT_B, "bootB", "bootA", 60000, NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_B), 0);
}

/* T5: domain_id=X first, then fsid=X without a domain: refused, no hang. */
TEST_F_TIMEOUT(names, T5_domain_id_then_fsid_same_name_ebusy, 180)
{
	ASSERT_EQ(0, erofs_mount_bounded(MNT_A, "bootB", "bootA", 60000, NULL));
	EXPECT_EQ(-EBUSY, erofs_mount_bounded(MNT_B, "bootA", NULL, 60000, NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootB", MNT_A), 0);
	ASSERT_EQ(0, erofs_umount(MNT_A));
	EXPECT_EQ(0, erofs_mount_bounded(MNT_B, "bootA", NULL, 60000, NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_B), 0);
}

/*
 * T11: domain_id without fsid is meaningless (stock: a bdev/file mount
 * named "D,(null)" in sysfs).  The source is a real file so that only
 * the option check can refuse it with EINVAL.
 */
TEST_F_TIMEOUT(names, T11_domain_id_without_fsid_einval, 120)
{
	mkdir(MNT_A, 0755);
	EXPECT_EQ(-1, mount(BLOB_DIR "/bootA", MNT_A, "erofs", MS_RDONLY,
			    "domain_id=t11dom"));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F_TIMEOUT(names, T11_empty_fsid_einval, 120)
{
	EXPECT_EQ(-EINVAL, erofs_mount_opts(MNT_A, "fsid="));
}

TEST_F_TIMEOUT(names, T11_empty_domain_id_einval, 120)
{
	EXPECT_EQ(-EINVAL, erofs_mount_opts(MNT_A, "fsid=bootA,domain_id="));
}

/*
 * T11/R5: 128 bytes was the old cap; ids up to 248 bytes (fsid in a
 * domain: 252) work now, see hostile_keylen_test for the limits.
 */
TEST_F_TIMEOUT(names, T11_fsid_128_bytes_ok, 120)
{
	char fsid[200];

	repeat_char(fsid, 'L', 128);
	ASSERT_EQ(0, erofs_mount(MNT_A, fsid, "t11dom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/* R5: stock accepts 129 bytes, so must the series (blob on /data). */
TEST_F_TIMEOUT(names, R5_fsid_129_bytes_ok, 120)
{
	char fsid[200];

	repeat_char(fsid, 'L', 129);
	ASSERT_EQ(0, erofs_mount(MNT_A, fsid, "t11dom"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
	ASSERT_EQ(0, erofs_umount(MNT_A));
	ASSERT_EQ(0, erofs_mount(MNT_A, fsid, NULL));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

TEST_F_TIMEOUT(names, T11_domain_id_128_bytes_ok, 120)
{
	char dom[200];

	repeat_char(dom, 'd', 128);
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", dom));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

TEST_F_TIMEOUT(names, R5_domain_id_129_bytes_ok, 120)
{
	char dom[200];

	repeat_char(dom, 'd', 129);
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", dom));
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/* T11: ',' can only arrive through fsconfig(2); mountinfo could not show it. */
TEST_F_TIMEOUT(names, T11_fsid_with_comma_einval, 120)
{
	const char *step;
	int ret = erofs_mount_fsconfig(MNT_A, "boot,comma", "t11dom", &step);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("failed at %s", step);
}

TEST_F_TIMEOUT(names, T11_domain_id_with_comma_einval, 120)
{
	const char *step;
	int ret = erofs_mount_fsconfig(MNT_A, "bootA", "t11,dom", &step);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("failed at %s", step);
}

TEST_F_TIMEOUT(names, T11_fsid_with_control_char_einval, 120)
{
	EXPECT_EQ(-EINVAL, erofs_mount(MNT_A, "ctl\001boot", "t11dom"));
}

TEST_F_TIMEOUT(names, T11_domain_id_with_control_char_einval, 120)
{
	EXPECT_EQ(-EINVAL, erofs_mount(MNT_A, "bootA", "t11\033dom"));
}

/* T3: remount may not swap the image under a mount. */
TEST_F_TIMEOUT(names, T3_remount_other_fsid_einval, 120)
{
	char before[4096], after[4096];

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t3dom"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, before, sizeof(before)));
	EXPECT_EQ(-EINVAL, erofs_remount_opts(MNT_A, "fsid=bootB,domain_id=t3dom"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, after, sizeof(after)));
	EXPECT_STREQ(before, after);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

TEST_F_TIMEOUT(names, T3_remount_other_domain_id_einval, 120)
{
	char before[4096], after[4096];

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t3dom"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, before, sizeof(before)));
	EXPECT_EQ(-EINVAL, erofs_remount_opts(MNT_A, "fsid=bootA,domain_id=t3other"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, after, sizeof(after)));
	EXPECT_STREQ(before, after);
}

TEST_F_TIMEOUT(names, T3_remount_adding_domain_id_einval, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", NULL));
	EXPECT_EQ(-EINVAL, erofs_remount_opts(MNT_A, "fsid=bootA,domain_id=t3dom"));
}

TEST_F_TIMEOUT(names, T3_remount_same_values_ok, 120)
{
	char before[4096], after[4096];

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t3dom"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, before, sizeof(before)));
	EXPECT_EQ(0, erofs_remount_opts(MNT_A, "fsid=bootA,domain_id=t3dom"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, after, sizeof(after)));
	EXPECT_STREQ(before, after);
	EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", MNT_A), 0);
}

/* T12: domain_id grants sharing: never shown in mountinfo or /proc/mounts. */
TEST_F_TIMEOUT(names, T12_domain_id_not_in_mountinfo, 120)
{
	char line[4096];

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t12secret"));
	ASSERT_EQ(0, mountinfo_line(MNT_A, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "fsid=bootA")) TH_LOG("%s", line);
	EXPECT_EQ(NULL, strstr(line, "t12secret")) TH_LOG("%s", line);
	EXPECT_EQ(0, file_contains("/proc/self/mountinfo", "t12secret"));
	EXPECT_EQ(0, file_contains("/proc/mounts", "t12secret"));
}

/* T12: the sysfs name of a domain mount is "<fsid>,<major>:<minor>". */
TEST_F_TIMEOUT(names, T12_sysfs_name_of_domain_mount, 120)
{
	char want[256], found[256] = "";
	struct stat st;

	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", "t12secret"));
	ASSERT_EQ(0, stat(MNT_A, &st));
	snprintf(want, sizeof(want), "bootA,%u:%u", major(st.st_dev),
		 minor(st.st_dev));
	EXPECT_EQ(1, erofs_sysfs_has(want)) TH_LOG("no /sys/fs/erofs/%s", want);
	EXPECT_EQ(0, erofs_sysfs_grep("t12secret", found, sizeof(found)))
		TH_LOG("/sys/fs/erofs/%s shows the domain", found);
}

/* T12: without a domain the sysfs name stays the fsid. */
TEST_F_TIMEOUT(names, T12_sysfs_name_without_domain, 120)
{
	ASSERT_EQ(0, erofs_mount(MNT_A, "bootA", NULL));
	EXPECT_EQ(1, erofs_sysfs_has("bootA"));
}

/* T8: all the refused mounts above leaked nothing kmemleak can see. */
TEST_F_TIMEOUT(names, T8_kmemleak_clean_after_names, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
