// SPDX-License-Identifier: GPL-2.0
/*
 * Over-long fsid and domain_id (plan item T11).  The series refuses both
 * above 128 bytes with EINVAL before anything is registered.
 *
 * CRASH-PRONE ON STOCK 6.12: a 253..255-byte fsid in a domain becomes a
 * cookie key that hits BUG_ON(keylen > NAME_MAX - 3) in cachefiles_cook_key()
 * (fs/cachefiles/key.c) in a kworker; the mount then waits forever for the
 * cookie lookup.  So this program runs last in check.list, the risky cases
 * come last in it, and each mount runs in a child with a bounded wait: a
 * hung mount is reported as a failure and the program goes on (the stuck
 * child is left behind).
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT	"/mnt/keylen.a"

FIXTURE(keylen) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	bool hung;
};

FIXTURE_SETUP(keylen)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("keylen", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(keylen)
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

/* Mount with an @flen-byte fsid and a @dlen-byte domain_id (0: none). */
static int mount_len(FIXTURE_DATA(keylen) *self, int flen, int dlen)
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

TEST_F_TIMEOUT(keylen, hostile_domain_id_250_bytes_einval, 120)
{
	/* stock: volume key "erofs,<250>" is over NAME_MAX: -ENOMEM */
	EXPECT_EQ(-EINVAL, mount_len(self, 8, 250));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_252_bytes_in_domain_einval, 120)
{
	EXPECT_EQ(-EINVAL, mount_len(self, 252, 4));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_256_bytes_in_domain_einval, 120)
{
	/* stock: fscache refuses keys over 255 bytes: the cookie is NULL */
	EXPECT_EQ(-EINVAL, mount_len(self, 256, 4));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_250_bytes_no_domain_einval, 120)
{
	EXPECT_EQ(-EINVAL, mount_len(self, 250, 0));
}

/* Crash-prone on stock from here on: keep these last. */
TEST_F_TIMEOUT(keylen, hostile_fsid_253_bytes_in_domain_einval, 120)
{
	int ret = mount_len(self, 253, 4);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("%s", ret == -ETIMEDOUT ?
		"mount hung (stock: BUG_ON in cachefiles_cook_key)" : strerror(-ret));
}

TEST_F_TIMEOUT(keylen, hostile_fsid_255_bytes_in_domain_einval, 120)
{
	int ret = mount_len(self, 255, 4);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("%s", ret == -ETIMEDOUT ?
		"mount hung (stock: BUG_ON in cachefiles_cook_key)" : strerror(-ret));
}

TEST_HARNESS_MAIN
