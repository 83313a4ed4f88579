// SPDX-License-Identifier: GPL-2.0
/*
 * Long names: fsid, domain_id (plan item T11, issue 9's R5) and blob
 * names given with device= (R2), at and around every limit the stack
 * can store:
 *   - domain_id, and the fsid of a mount without domain: 248 bytes
 *     ("erofs,<id>" becomes the cache directory "I<key>", NAME_MAX);
 *   - an fsid in a domain and a device= name (cookie keys): 252 bytes if
 *     every byte is in 0x21..0x7e but '/', else 189 (cachefiles stores a
 *     key as "D<key>" or in base64, NAME_MAX).
 * Longer ones fail with EINVAL at mount, before the daemon sees them.
 *
 * CRASH-PRONE ON STOCK 6.12 AND ON THE SERIES BEFORE R2: a cookie key of
 * 253..255 bytes hits BUG_ON(keylen > NAME_MAX - 3) in cachefiles_cook_key()
 * (fs/cachefiles/key.c) in a kworker; the mount then waits forever for the
 * cookie lookup.  So this program runs last in check.list, the risky cases
 * come last in it, and each mount runs in a child with a bounded wait: a
 * hung mount is reported as a failure and the program goes on (the stuck
 * child is left behind).
 *
 * Data (harness/mkdata.d/rtests.sh): copies of bootA named L x 129, 248,
 * 252 and L x 188 + ' '; "r2one", an image with one device, and copies of
 * its blob named N x 250..252 and N x 188 + ' '.
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT	"/mnt/keylen.a"

/* What both fixtures (keylen_ok, keylen) hold. */
struct keylen_self {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	bool hung;
};

static void keylen_start(struct __test_metadata *_metadata,
			 struct keylen_self *self)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("keylen", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

static void keylen_stop(struct __test_metadata *_metadata,
			struct keylen_self *self)
{
	char why[256];

	erofs_umount_all("/mnt/keylen.");
	if (!self->hung)
		EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
			TH_LOG("left behind: %s", why);
	/* With a mount stuck in the kernel the daemon must stay bound. */
	if (!self->hung)
		daemon_stop(&self->daemon);
}

/* Mount with raw options in a child, bounded.  0 or -errno. */
static int mount_opts_bounded(struct keylen_self *self, const char *opts)
{
	struct erofs_mount_req r = { .target = MNT };
	pid_t left = 0;
	int st;

	snprintf(r.opts, sizeof(r.opts), "%s", opts);
	st = run_child(erofs_mount_child, &r, 30000, &left);
	if (st == -ETIMEDOUT)
		self->hung = true;
	return st > 0 && st < 128 ? -st : st;
}

static void fill(char *buf, char c, int n, bool unprintable_last)
{
	memset(buf, c, n);
	if (unprintable_last)
		buf[n - 1] = ' ';
	buf[n] = '\0';
}

/*
 * Did the daemon get an OPEN for cookie @key, within @ms?  Its log escapes
 * bytes outside 0x21..0x7e and '\\' as \xNN.  A data blob's OPEN comes
 * from an fscache worker and may follow mount(2)'s return.
 */
static int daemon_saw_open(struct keylen_self *self, const char *key, int ms)
{
	char needle[1200];
	size_t o;

	o = snprintf(needle, sizeof(needle), "key=");
	for (; *key && o < sizeof(needle) - 5; key++) {
		unsigned char c = *key;

		if (c < 0x21 || c > 0x7e || c == '\\')
			o += snprintf(needle + o, 5, "\\x%02x", c);
		else
			needle[o++] = c;
	}
	needle[o++] = ' ';
	needle[o] = '\0';
	return file_wait_contains(self->daemon.logfile, needle, ms);
}

/*
 * Mount r2one with device=@len bytes of 'N' (the last one a space if
 * @unprintable), in @domain or none.  Returns 0 or -errno; *saw: whether
 * the daemon got an OPEN of that name.
 */
static int mount_device_name(struct keylen_self *self, int len,
			     bool unprintable, const char *domain, int *saw)
{
	char name[300], opts[640];
	int ret;

	fill(name, 'N', len, unprintable);
	snprintf(opts, sizeof(opts), "fsid=r2one%s%s,device=%s",
		 domain ? ",domain_id=" : "", domain ? domain : "", name);
	ret = mount_opts_bounded(self, opts);
	/* a refused name has no cookie, so no OPEN can come later */
	*saw = daemon_saw_open(self, name, ret ? 0 : 20000);
	return ret;
}

/* Mount with an @flen-byte fsid and a @dlen-byte domain_id (0: none). */
static int mount_len(struct keylen_self *self, int flen, int dlen)
{
	char fsid[300] = "", domain[300] = "";
	pid_t left = 0;
	int ret;

	memset(fsid, 'F', flen);
	memset(domain, 'D', dlen);
	ret = erofs_mount_bounded(MNT, fsid, dlen ? domain : NULL, 30000, &left);
	if (ret == -ETIMEDOUT)
		self->hung = true;
	return ret;
}

/* R5: the longest names that work mount and read byte-exact. */
static void mounts_ok(struct __test_metadata *_metadata,
		      struct keylen_self *self, const char *fsid,
		      const char *domain, const char *expect)
{
	int ret = erofs_mount_bounded(MNT, fsid, domain, 30000, NULL);

	if (ret == -ETIMEDOUT)
		self->hung = true;
	/*
	 * EXPECT, not ASSERT: the 6.12 harness can skip the teardown after
	 * an ASSERT (its fork bookkeeping does not survive the longjmp at
	 * -O2), which would leave the daemon bound for the next test.
	 */
	EXPECT_EQ(0, ret) TH_LOG("%zu-byte fsid, %zu-byte domain_id: %s",
				 strlen(fsid), domain ? strlen(domain) : 0,
				 strerror(-ret));
	if (!ret)
		EXPECT_GT(compare_trees(expect, MNT), 0);
}

/*
 * R5: the longest names that work mount and read byte-exact (bootA, or its
 * copy named by the fsid), one case a row.  This fixture runs before
 * keylen, whose cases over the limits end with the crash-prone ones.
 */
FIXTURE(keylen_ok) {
	struct keylen_self k;
};

FIXTURE_VARIANT(keylen_ok) {
	int fsid_len;		/* an fsid of this many 'L'; 0: "bootA" */
	bool space_last;	/* ... whose last byte is a space */
	const char *domain;
	int domain_len;		/* a domain_id of this many 'd' instead */
};

FIXTURE_VARIANT_ADD(keylen_ok, domain_id_248_bytes) {
	.domain_len = 248,
};

FIXTURE_VARIANT_ADD(keylen_ok, fsid_248_bytes_no_domain) {
	.fsid_len = 248,
};

FIXTURE_VARIANT_ADD(keylen_ok, fsid_248_bytes_in_domain) {
	.fsid_len = 248,
	.domain = "r5dom",
};

FIXTURE_VARIANT_ADD(keylen_ok, fsid_252_bytes_in_domain) {
	.fsid_len = 252,
	.domain = "r5dom",
};

FIXTURE_VARIANT_ADD(keylen_ok, fsid_189_bytes_with_space_in_domain) {
	.fsid_len = 189,
	.space_last = true,
	.domain = "r5dom",
};

FIXTURE_SETUP(keylen_ok)
{
	keylen_start(_metadata, &self->k);
}

FIXTURE_TEARDOWN(keylen_ok)
{
	keylen_stop(_metadata, &self->k);
}

TEST_F_TIMEOUT(keylen_ok, R5_mounts_byte_exact, 120)
{
	char fsid[300] = "bootA", dom[300];
	const char *domain = variant->domain;

	if (variant->fsid_len)
		fill(fsid, 'L', variant->fsid_len, variant->space_last);
	if (variant->domain_len) {
		fill(dom, 'd', variant->domain_len, false);
		domain = dom;
	}
	mounts_ok(_metadata, &self->k, fsid, domain, EXPECT_DIR "/bootA");
}

/* One byte over R5's limits, and R2's device= names; crash-prone ones last. */
FIXTURE(keylen) {
	struct keylen_self k;
};

FIXTURE_SETUP(keylen)
{
	keylen_start(_metadata, &self->k);
}

FIXTURE_TEARDOWN(keylen)
{
	keylen_stop(_metadata, &self->k);
}

TEST_F_TIMEOUT(keylen, R5_domain_id_249_bytes_einval, 120)
{
	EXPECT_EQ(-EINVAL, mount_len(&self->k, 5, 249));
}

TEST_F_TIMEOUT(keylen, R5_fsid_249_bytes_no_domain_einval, 120)
{
	EXPECT_EQ(-EINVAL, mount_len(&self->k, 249, 0));
}

TEST_F_TIMEOUT(keylen, R5_fsid_190_bytes_with_space_in_domain_einval, 120)
{
	char fsid[300];
	int ret;

	fill(fsid, 'L', 190, true);
	ret = erofs_mount_bounded(MNT, fsid, "r5dom", 30000, NULL);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("%s", strerror(-ret));
}

TEST_F_TIMEOUT(keylen, hostile_domain_id_250_bytes_einval, 120)
{
	/* stock: volume key "erofs,<250>" is over NAME_MAX: -ENOMEM */
	EXPECT_EQ(-EINVAL, mount_len(&self->k, 8, 250));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_256_bytes_in_domain_einval, 120)
{
	/* stock: fscache refuses keys over 255 bytes: the cookie is NULL */
	EXPECT_EQ(-EINVAL, mount_len(&self->k, 256, 4));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_250_bytes_no_domain_einval, 120)
{
	EXPECT_EQ(-EINVAL, mount_len(&self->k, 250, 0));
}

/* R2: device= names that fit are served like any other. */
TEST_F_TIMEOUT(keylen, R2_device_names_250_to_252_bytes_ok, 300)
{
	static const char *const doms[] = { NULL, "r2dom" };
	int len, k, saw, ret;

	for (k = 0; k < 2; k++)
		for (len = 250; len <= 252; len++) {
			ret = mount_device_name(&self->k, len, false, doms[k], &saw);
			EXPECT_EQ(0, ret) TH_LOG("%d-byte device= %s: %s", len,
						 doms[k] ? "in a domain" : "without domain",
						 strerror(-ret));
			if (ret)
				continue;
			EXPECT_GT(compare_trees(EXPECT_DIR "/r2one", MNT), 0);
			EXPECT_EQ(1, saw);
			EXPECT_EQ(0, erofs_umount(MNT));
		}
}

TEST_F_TIMEOUT(keylen, R2_device_name_189_bytes_with_space_ok, 120)
{
	int saw, ret = mount_device_name(&self->k, 189, true, "r2dom", &saw);

	EXPECT_EQ(0, ret) TH_LOG("%s", strerror(-ret));
	if (!ret)
		EXPECT_GT(compare_trees(EXPECT_DIR "/r2one", MNT), 0);
}

TEST_F_TIMEOUT(keylen, R2_device_name_190_bytes_with_space_einval, 120)
{
	static const char *const doms[] = { NULL, "r2dom" };
	int k, saw, ret;

	for (k = 0; k < 2; k++) {
		ret = mount_device_name(&self->k, 190, true, doms[k], &saw);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("%s: %s", doms[k] ? "in a domain" :
					       "without domain", strerror(-ret));
		EXPECT_EQ(0, saw) TH_LOG("the daemon got an OPEN of the name");
		if (!ret)
			erofs_umount(MNT);
	}
}

/* Crash-prone on stock from here on: keep these last. */
TEST_F_TIMEOUT(keylen, hostile_fsid_253_bytes_in_domain_einval, 120)
{
	int ret = mount_len(&self->k, 253, 4);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("%s", ret == -ETIMEDOUT ?
		"mount hung (stock: BUG_ON in cachefiles_cook_key)" : strerror(-ret));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_255_bytes_in_domain_einval, 120)
{
	int ret = mount_len(&self->k, 255, 4);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("%s", ret == -ETIMEDOUT ?
		"mount hung (stock: BUG_ON in cachefiles_cook_key)" : strerror(-ret));
}

/* R2: 253..260-byte device= names, without and in a domain. */
TEST_F_TIMEOUT(keylen, R2_device_names_253_to_260_bytes_einval, 600)
{
	static const char *const doms[] = { NULL, "r2dom" };
	int len, k, saw, ret;

	for (k = 0; k < 2 && !self->k.hung; k++)
		for (len = 253; len <= 260 && !self->k.hung; len++) {
			ret = mount_device_name(&self->k, len, false, doms[k], &saw);
			EXPECT_EQ(-EINVAL, ret) TH_LOG("%d-byte device= %s: %s", len,
				doms[k] ? "in a domain" : "without domain",
				ret == -ETIMEDOUT ?
				"mount hung (BUG_ON in cachefiles_cook_key?)" :
				strerror(-ret));
			EXPECT_EQ(0, saw) TH_LOG("the daemon got an OPEN of a %d-byte name",
						 len);
			if (!ret)
				erofs_umount(MNT);
		}
}

/*
 * Read every file of the image mounted at MNT, in a child.  Exit status:
 * 0 if all read, else the errno of the first failing read.
 */
static int read_mnt_child(void *arg __attribute__((unused)))
{
	char bad[PATH_MAX];
	int ret = read_tree(MNT, bad, sizeof(bad));

	return ret < 0 ? -ret : 0;
}

/*
 * R2, the cache's side alone: a device= name of 253..255 bytes is a
 * cookie key cachefiles cannot store (BUG_ON in cachefiles_cook_key() on
 * stock).  Whatever erofs does with it, nothing may hang or crash: mount
 * returns within 30 s, the daemon never gets an OPEN of that name, and if
 * the mount succeeded its files read byte-exact or fail with EIO/ENOBUFS
 * (within 30 s), and it unmounts.  What stable fix "cachefiles: refuse a
 * cookie key too long for a file name" must do alone; the case above also
 * wants EINVAL at mount, which is erofs' own check (the next stable fix).
 */
TEST_F_TIMEOUT(keylen, R2_device_names_253_to_255_bytes_never_hang, 600)
{
	static const char *const doms[] = { NULL, "r2dom" };
	int len, k, saw, ret, rd;

	for (k = 0; k < 2 && !self->k.hung; k++)
		for (len = 253; len <= 255 && !self->k.hung; len++) {
			ret = mount_device_name(&self->k, len, false, doms[k], &saw);
			EXPECT_NE(-ETIMEDOUT, ret) TH_LOG("%d-byte device= %s: mount hung",
				len, doms[k] ? "in a domain" : "without domain");
			EXPECT_EQ(0, saw) TH_LOG("the daemon got an OPEN of a %d-byte name",
						 len);
			if (ret)
				continue;
			rd = run_child(read_mnt_child, NULL, 30000, NULL);
			if (rd == -ETIMEDOUT)
				self->k.hung = true;
			EXPECT_TRUE(rd == 0 || rd == EIO || rd == ENOBUFS)
				TH_LOG("%d-byte device= %s: reading: %s", len,
				       doms[k] ? "in a domain" : "without domain",
				       rd == -ETIMEDOUT ? "hung" :
				       rd >= 128 ? "killed" : strerror(rd));
			if (!rd)
				EXPECT_GT(compare_trees(EXPECT_DIR "/r2one", MNT), 0);
			EXPECT_EQ(0, erofs_umount(MNT));
		}
}

TEST_HARNESS_MAIN
