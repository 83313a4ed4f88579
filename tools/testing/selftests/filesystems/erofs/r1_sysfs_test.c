// SPDX-License-Identifier: GPL-2.0
/*
 * R1: every live erofs mount has exactly one directory under
 * /sys/fs/erofs, no two collide, whatever the lengths, and a domain_id
 * never appears in one.
 *
 * The rule under test: the stock name (a block device's name, a
 * file-backed mount's bdi "MAJ:MIN", the fsid of a mount without domain)
 * is used when it fits (36 bytes + NUL in s_sysfs_name) and no live
 * erofs mount has it yet; otherwise, and always for domain mounts, the
 * name is a prefix of it followed by ",MAJ:MIN" of the superblock's
 * s_dev, at most 36 bytes.
 *
 * Data (harness/mkdata.d/rtests.sh): copies of bootA named by the first
 * 31..36, 64 and 128 bytes of R1_HEX, one sharing 63 bytes with the
 * 64-byte one, and loop0..loop7; r7layer is a complete image for a loop
 * device.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define R1_HEX	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_MNT	48

struct r1_mount {
	char target[64];
	char fsid[160];		/* "" for a block device mount */
	const char *domain;
	dev_t dev;
};

FIXTURE(r1) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	struct r1_mount m[MAX_MNT];
	int n;
	int kmsg;
	int loopfd;
};

FIXTURE_SETUP(r1)
{
	self->loopfd = -1;
	leak_baseline(&self->base);
	self->kmsg = kmsg_open_at_end();
	ASSERT_EQ(0, fresh_cache_dir("r1", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(r1)
{
	char why[256];

	if (self->loopfd >= 0)
		close(self->loopfd);
	erofs_umount_all("/mnt/r1.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
	if (self->kmsg >= 0)
		close(self->kmsg);
}

static const char *const domains[] = { "r1secretA", "r1secretB", "r1secretC" };

/* Mount @fsid (in @domain) as the next mount; record it.  0 or -errno. */
static int r1_mount(FIXTURE_DATA(r1) *self, const char *fsid, const char *domain)
{
	struct r1_mount *m = &self->m[self->n];
	struct stat st;
	int ret;

	snprintf(m->target, sizeof(m->target), "/mnt/r1.%d", self->n);
	ret = erofs_mount(m->target, fsid, domain);
	if (ret)
		return ret;
	snprintf(m->fsid, sizeof(m->fsid), "%s", fsid);
	m->domain = domain;
	if (stat(m->target, &st))
		return -errno;
	m->dev = st.st_dev;
	self->n++;
	return 0;
}

/* Mount a block device as the next mount; its stock name is @name. */
static int r1_mount_bdev(FIXTURE_DATA(r1) *self, const char *dev, const char *name)
{
	struct r1_mount *m = &self->m[self->n];
	struct stat st;

	snprintf(m->target, sizeof(m->target), "/mnt/r1.%d", self->n);
	mkdir(m->target, 0755);
	if (mount(dev, m->target, "erofs", MS_RDONLY, NULL))
		return -errno;
	snprintf(m->fsid, sizeof(m->fsid), "%s", name);
	m->domain = NULL;
	if (stat(m->target, &st))
		return -errno;
	m->dev = st.st_dev;
	self->n++;
	return 0;
}

/* Is @dir mount @m's fsid (or device) cut to fit, + ",MAJ:MIN" of its s_dev? */
static bool suffix_fits(const struct r1_mount *m, const char *dir)
{
	char suffix[32];
	size_t sl, dl = strlen(dir);

	if (dl > 36)
		return false;
	sl = snprintf(suffix, sizeof(suffix), ",%u:%u", major(m->dev), minor(m->dev));
	return dl >= sl && !strcmp(dir + dl - sl, suffix) &&
	       !strncmp(dir, m->fsid, dl - sl);
}

/*
 * Is @dir the name of mount @m: its ",MAJ:MIN" form, or else its stock
 * name (the fsid of a mount without a domain, or the device, up to 36
 * bytes)?  A mount that has a ",MAJ:MIN" directory does not own a stock
 * name too: that one belongs to the mount that had it first (a loop device
 * "loopN" beside fsid=loopN).
 */
static bool name_fits(const struct r1_mount *m, const char *dir,
		      bool has_suffix_dir)
{
	if (suffix_fits(m, dir))
		return true;
	return !has_suffix_dir && !m->domain && !strcmp(dir, m->fsid) &&
	       strlen(dir) <= 36;
}

/*
 * Each live mount maps to exactly one directory and every directory to
 * exactly one mount; no directory shows a domain_id.  Returns the number
 * of problems (each logged).
 */
static int check_names(struct __test_metadata *_metadata, FIXTURE_DATA(r1) *self)
{
	char names[64][256], found[256];
	int nd = 0, bad = 0, i, j, hits;
	bool suffixed[MAX_MNT];
	struct dirent *de;
	DIR *d = opendir("/sys/fs/erofs");

	if (!d) {
		TH_LOG("no /sys/fs/erofs");
		return 1;
	}
	while ((de = readdir(d)) && nd < 64)
		if (de->d_name[0] != '.' && strcmp(de->d_name, "features"))
			snprintf(names[nd++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);
	if (nd != self->n) {
		TH_LOG("%d mounts but %d directories in /sys/fs/erofs", self->n, nd);
		bad++;
	}
	for (i = 0; i < self->n; i++)
		for (suffixed[i] = false, j = 0; j < nd; j++)
			suffixed[i] |= suffix_fits(&self->m[i], names[j]);
	for (i = 0; i < self->n; i++) {
		for (hits = 0, j = 0; j < nd; j++)
			hits += name_fits(&self->m[i], names[j], suffixed[i]);
		if (hits != 1) {
			TH_LOG("mount %s (fsid %.40s%s, %u:%u) matches %d directories",
			       self->m[i].target, self->m[i].fsid,
			       strlen(self->m[i].fsid) > 40 ? "..." : "",
			       major(self->m[i].dev), minor(self->m[i].dev), hits);
			bad++;
		}
	}
	for (j = 0; j < nd; j++) {
		for (hits = 0, i = 0; i < self->n; i++)
			hits += name_fits(&self->m[i], names[j], suffixed[i]);
		if (hits != 1) {
			TH_LOG("/sys/fs/erofs/%s fits %d mounts", names[j], hits);
			bad++;
		}
	}
	if (erofs_sysfs_grep("r1secret", found, sizeof(found))) {
		TH_LOG("/sys/fs/erofs/%s shows a domain_id", found);
		bad++;
	}
	return bad;
}

static void no_duplicate_in_kmsg(struct __test_metadata *_metadata,
				 FIXTURE_DATA(r1) *self)
{
	char line[512] = "";

	EXPECT_EQ(0, kmsg_grep(self->kmsg, "duplicate filename", line, sizeof(line)))
		TH_LOG("kernel: %s", line);
}

static void umount_all_and_check(struct __test_metadata *_metadata,
				 FIXTURE_DATA(r1) *self)
{
	char first[256];
	int i;

	for (i = self->n - 1; i >= 0; i--)
		EXPECT_EQ(0, erofs_umount(self->m[i].target));
	self->n = 0;
	EXPECT_EQ(0, count_erofs_sysfs(first, sizeof(first)))
		TH_LOG("/sys/fs/erofs/%s outlived its mount", first);
}

TEST_F_TIMEOUT(r1, R1_sysfs_names_long_fsids_three_domains_and_plain, 600)
{
	static const int lens[] = { 31, 32, 33, 34, 35, 36, 64, 128, 0 };
	char fsid[160];
	int i, k, ret, failed = 0;

	/* A short plain fsid first: exactly its stock name. */
	snprintf(fsid, sizeof(fsid), "%.31s", R1_HEX);
	ASSERT_EQ(0, r1_mount(self, fsid, NULL));
	EXPECT_EQ(1, erofs_sysfs_has(fsid)) TH_LOG("no /sys/fs/erofs/%s", fsid);

	/* lens[] 0 stands for the 64-byte one that shares 63 bytes. */
	for (k = 0; k <= 3; k++) {
		for (i = 0; i < (int)ARRAY_SIZE(lens); i++) {
			if (k == 3 && lens[i] == 31)
				continue;	/* mounted above */
			if (lens[i])
				snprintf(fsid, sizeof(fsid), "%.*s", lens[i], R1_HEX);
			else
				snprintf(fsid, sizeof(fsid), "%.63sx", R1_HEX);
			ret = r1_mount(self, fsid, k < 3 ? domains[k] : NULL);
			if (ret) {
				TH_LOG("mount of a %zu-byte fsid %s%s failed: %s",
				       strlen(fsid), k < 3 ? "in domain " : "without domain",
				       k < 3 ? domains[k] : "", strerror(-ret));
				failed++;
			}
		}
	}
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, check_names(_metadata, self));
	for (i = 0; i < self->n; i++)
		if (!strcmp(self->m[i].fsid, R1_HEX) && self->m[i].domain) {
			EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", self->m[i].target), 0);
			break;
		}
	no_duplicate_in_kmsg(_metadata, self);
	umount_all_and_check(_metadata, self);
}

/*
 * The same fsids without any domain, all live at once: what stable fix
 * "never give two live mounts the same sysfs name" must get right alone,
 * without the series' other rules (the domain case above also wants the
 * domain_id kept out of the names).
 */
TEST_F_TIMEOUT(r1, R1_sysfs_names_long_fsids_plain, 300)
{
	static const int lens[] = { 31, 32, 33, 34, 35, 36, 64, 128, 0 };
	char fsid[160];
	int i, ret, failed = 0;

	for (i = 0; i < (int)ARRAY_SIZE(lens); i++) {
		if (lens[i])
			snprintf(fsid, sizeof(fsid), "%.*s", lens[i], R1_HEX);
		else
			snprintf(fsid, sizeof(fsid), "%.63sx", R1_HEX);
		ret = r1_mount(self, fsid, NULL);
		if (ret) {
			TH_LOG("mount of a %zu-byte fsid failed: %s",
			       strlen(fsid), strerror(-ret));
			failed++;
		}
	}
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, check_names(_metadata, self));
	for (i = 0; i < self->n; i++)
		if (!strcmp(self->m[i].fsid, R1_HEX)) {
			EXPECT_GT(compare_trees(EXPECT_DIR "/bootA", self->m[i].target), 0);
			break;
		}
	no_duplicate_in_kmsg(_metadata, self);
	umount_all_and_check(_metadata, self);
}

/* A loop device "loopN" and fsid=loopN, in both orders. */
TEST_F_TIMEOUT(r1, R1_sysfs_names_loop_device_beside_fsid_loopN, 300)
{
	char dev[64], name[64];
	int order, ret;

	for (order = 0; order < 2; order++) {
		self->loopfd = loop_attach(BLOB_DIR "/r7layer", dev, sizeof(dev));
		ASSERT_LE(0, self->loopfd) TH_LOG("loop: %s", strerror(-self->loopfd));
		snprintf(name, sizeof(name), "%s", dev + strlen("/dev/"));
		if (order) {
			ret = r1_mount(self, name, NULL);
			EXPECT_EQ(0, ret) TH_LOG("fsid=%s: %s", name, strerror(-ret));
		}
		ret = r1_mount_bdev(self, dev, name);
		EXPECT_EQ(0, ret) TH_LOG("%s: %s", dev, strerror(-ret));
		close(self->loopfd);
		self->loopfd = -1;
		if (!order) {
			/* the loop mount came first: it keeps its stock name */
			EXPECT_EQ(1, erofs_sysfs_has(name));
			ret = r1_mount(self, name, NULL);
			EXPECT_EQ(0, ret) TH_LOG("fsid=%s: %s", name, strerror(-ret));
		} else {
			EXPECT_EQ(1, erofs_sysfs_has(name));
		}
		EXPECT_EQ(2, self->n);
		EXPECT_EQ(0, check_names(_metadata, self));
		/* the block device mount is m[0] in the first order, m[1] after */
		if (self->n == 2)
			EXPECT_GT(compare_trees(EXPECT_DIR "/r7layer",
						self->m[order].target), 0);
		no_duplicate_in_kmsg(_metadata, self);
		umount_all_and_check(_metadata, self);
	}
}

TEST_F_TIMEOUT(r1, R1_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
