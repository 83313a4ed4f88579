// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KUnit tests for the shared domains of fscache mode.
 *
 * #included at the end of fscache.c, so that the static domain and blob
 * helpers can be tested without a superblock, a cache or a daemon: fscache
 * hands out volumes and cookies even when no cache is bound.
 */
#include <kunit/test.h>

static unsigned int erofs_test_nr_domains(void)
{
	struct erofs_domain *domain;
	unsigned int nr = 0;

	mutex_lock(&erofs_domain_list_lock);
	list_for_each_entry(domain, &erofs_domain_list, list)
		nr++;
	mutex_unlock(&erofs_domain_list_lock);
	return nr;
}

static unsigned int erofs_test_nr_blobs(struct erofs_domain *domain)
{
	return atomic_read(&domain->blobs.nelems);
}

static int erofs_test_init(struct kunit *test)
{
	erofs_fscache_fail_nth = 0;
	/* every case starts from, and must return to, an empty registry */
	KUNIT_ASSERT_EQ(test, erofs_test_nr_domains(), 0);
	KUNIT_ASSERT_NULL(test, erofs_pseudo_mnt);
	return 0;
}

static void erofs_test_exit(struct kunit *test)
{
	erofs_fscache_fail_nth = 0;
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
	KUNIT_EXPECT_NULL(test, erofs_pseudo_mnt);
}

static void erofs_test_domain_registry(struct kunit *test)
{
	struct erofs_domain *a, *a2, *b;

	a = erofs_domain_get("kunit-a");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	KUNIT_EXPECT_NOT_NULL(test, erofs_pseudo_mnt);
	KUNIT_EXPECT_EQ(test, refcount_read(&a->ref), 1);

	a2 = erofs_domain_get("kunit-a");
	KUNIT_EXPECT_PTR_EQ(test, a, a2);
	KUNIT_EXPECT_EQ(test, refcount_read(&a->ref), 2);

	b = erofs_domain_get("kunit-b");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_PTR_NE(test, a, b);
	KUNIT_EXPECT_PTR_NE(test, a->volume, b->volume);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 2);

	erofs_domain_put(a2);
	KUNIT_EXPECT_EQ(test, refcount_read(&a->ref), 1);
	erofs_domain_put(a);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 1);
	/* the pseudo mount lives as long as any domain */
	KUNIT_EXPECT_NOT_NULL(test, erofs_pseudo_mnt);
	erofs_domain_put(b);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
	KUNIT_EXPECT_NULL(test, erofs_pseudo_mnt);

	/* a domain and the pseudo mount come back after the last put */
	a = erofs_domain_get("kunit-a");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	KUNIT_EXPECT_NOT_NULL(test, erofs_pseudo_mnt);
	erofs_domain_put(a);
}

static void erofs_test_blob_index(struct kunit *test)
{
	struct erofs_domain *domain;
	struct erofs_fscache *x, *x2, *y;

	domain = erofs_domain_get("kunit-index");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);

	x = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, x);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&x->ref), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 2);
	KUNIT_EXPECT_PTR_EQ(test, x->domain, domain);
	KUNIT_EXPECT_PTR_EQ(test, x->inode->i_sb, erofs_pseudo_mnt->mnt_sb);
	KUNIT_EXPECT_PTR_EQ(test, x->inode->i_private, (void *)x);
	KUNIT_EXPECT_PTR_EQ(test, x->cookie->volume, domain->volume);
	KUNIT_EXPECT_FALSE(test, x->bootstrap);

	/* hit: same context, one more reference, nothing new */
	x2 = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_EXPECT_PTR_EQ(test, x, x2);
	KUNIT_EXPECT_EQ(test, refcount_read(&x->ref), 2);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 2);

	/* miss */
	y = erofs_domain_get_blob(domain, "blob-y", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, y);
	KUNIT_EXPECT_PTR_NE(test, x, y);
	KUNIT_EXPECT_PTR_NE(test, x->cookie, y->cookie);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 2);

	erofs_domain_put_blob(x2);
	KUNIT_EXPECT_EQ(test, refcount_read(&x->ref), 1);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 2);
	erofs_domain_put_blob(x);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 1);
	KUNIT_EXPECT_NULL(test, rhashtable_lookup_fast(&domain->blobs, "blob-x",
						       erofs_blob_params));

	/* a name comes back after its teardown, without a duplicate cookie */
	x = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, x);
	erofs_domain_put_blob(x);

	/* a blob keeps its domain alive after the mounts are gone */
	erofs_domain_put(domain);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 1);
	erofs_domain_put_blob(y);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
}

static void erofs_test_domains_apart(struct kunit *test)
{
	struct erofs_domain *a, *b;
	struct erofs_fscache *xa, *xb;

	a = erofs_domain_get("kunit-a");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	b = erofs_domain_get("kunit-b");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);

	xa = erofs_domain_get_blob(a, "blob", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, xa);
	xb = erofs_domain_get_blob(b, "blob", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, xb);

	KUNIT_EXPECT_PTR_NE(test, xa, xb);
	KUNIT_EXPECT_PTR_NE(test, xa->cookie, xb->cookie);
	KUNIT_EXPECT_PTR_NE(test, xa->inode, xb->inode);
	KUNIT_EXPECT_PTR_EQ(test, xa->cookie->volume, a->volume);
	KUNIT_EXPECT_PTR_EQ(test, xb->cookie->volume, b->volume);
	KUNIT_EXPECT_EQ(test, refcount_read(&xa->ref), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&xb->ref), 1);

	/* a bootstrap in one domain says nothing about the other */
	erofs_domain_put_blob(xb);
	xb = erofs_domain_get_blob(b, "blob", true);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, xb);
	KUNIT_EXPECT_TRUE(test, xb->bootstrap);
	KUNIT_EXPECT_FALSE(test, xa->bootstrap);

	erofs_domain_put_blob(xa);
	erofs_domain_put_blob(xb);
	erofs_domain_put(a);
	erofs_domain_put(b);
}

struct erofs_name_case {
	const char *desc;
	bool first_bootstrap, second_bootstrap;
	int err;	/* of the second registration */
};

static const struct erofs_name_case erofs_name_cases[] = {
	{ "data then data is shared", false, false, 0 },
	{ "bootstrap then bootstrap", true, true, -EEXIST },
	{ "data then bootstrap", false, true, -EEXIST },
	{ "bootstrap then data", true, false, -EEXIST },
};

static void erofs_name_case_desc(const struct erofs_name_case *c, char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(erofs_name, erofs_name_cases, erofs_name_case_desc);

static void erofs_test_names(struct kunit *test)
{
	const struct erofs_name_case *c = test->param_value;
	struct erofs_fscache *first, *second;
	struct erofs_domain *domain;

	domain = erofs_domain_get("kunit-names");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);

	first = erofs_domain_get_blob(domain, "name", c->first_bootstrap);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, first);
	second = erofs_domain_get_blob(domain, "name", c->second_bootstrap);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(second), c->err);
	if (!c->err) {
		KUNIT_EXPECT_PTR_EQ(test, first, second);
		KUNIT_EXPECT_EQ(test, refcount_read(&first->ref), 2);
		erofs_domain_put_blob(second);
	}
	/* a refused registration leaves nothing behind */
	KUNIT_EXPECT_EQ(test, refcount_read(&first->ref), 1);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 2);

	erofs_domain_put_blob(first);
	erofs_domain_put(domain);
}

/*
 * What a mount of an image with one data blob does: get the domain, register
 * the bootstrap, register the data blob.  Fail its k-th fallible step for
 * every k, and check that each helper undid exactly its own work.
 */
static void erofs_test_unwind(struct kunit *test)
{
	struct erofs_fscache *boot, *data;
	struct erofs_domain *domain;
	unsigned int k, failed = 0;

	for (k = 1; k < 64; k++) {
		erofs_fscache_fail_nth = k;

		domain = erofs_domain_get("kunit-unwind");
		if (IS_ERR(domain)) {
			failed++;
			KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
			KUNIT_EXPECT_NULL(test, erofs_pseudo_mnt);
			continue;
		}

		boot = erofs_domain_get_blob(domain, "boot", true);
		if (IS_ERR(boot)) {
			failed++;
			KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 0);
			KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 1);
			erofs_domain_put(domain);
			KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
			continue;
		}

		data = erofs_domain_get_blob(domain, "data", false);
		if (IS_ERR(data)) {
			failed++;
			KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 1);
			KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 2);
			erofs_domain_put_blob(boot);
			erofs_domain_put(domain);
			KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
			continue;
		}

		/* no step left to fail: the whole sequence went through */
		erofs_fscache_fail_nth = 0;
		KUNIT_EXPECT_EQ(test, erofs_test_nr_blobs(domain), 2);
		erofs_domain_put_blob(data);
		erofs_domain_put_blob(boot);
		erofs_domain_put(domain);
		break;
	}
	/* domain: 5 steps (with the pseudo mount); each blob: 5 steps */
	KUNIT_EXPECT_EQ(test, failed, 15);
	KUNIT_EXPECT_EQ(test, erofs_test_nr_domains(), 0);
	KUNIT_EXPECT_NULL(test, erofs_pseudo_mnt);
}

/* The debugfs listing shows blobs and refcounts, never a domain id. */
static void erofs_test_debugfs_listing(struct kunit *test)
{
	struct erofs_fscache *boot, *x, *x2;
	struct erofs_domain *domain;
	struct seq_file m = {};

	domain = erofs_domain_get("kunit-secret-id");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);
	boot = erofs_domain_get_blob(domain, "boot", true);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, boot);
	x = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, x);
	x2 = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_PTR_EQ(test, x, x2);

	m.size = PAGE_SIZE;
	m.buf = kunit_kzalloc(test, m.size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m.buf);
	KUNIT_EXPECT_EQ(test, erofs_domains_show(&m, NULL), 0);
	KUNIT_ASSERT_LT(test, m.count, m.size);
	m.buf[m.count] = '\0';
	KUNIT_EXPECT_NOT_NULL(test, strstr(m.buf, "domain 0\n"));
	KUNIT_EXPECT_NOT_NULL(test, strstr(m.buf, "\tboot refs=1 bootstrap\n"));
	KUNIT_EXPECT_NOT_NULL(test, strstr(m.buf, "\tblob-x refs=2\n"));
	KUNIT_EXPECT_NULL(test, strstr(m.buf, "kunit-secret-id"));
	/* the listing dropped the reference it took */
	KUNIT_EXPECT_EQ(test, refcount_read(&domain->ref), 3);

	erofs_domain_put_blob(x2);
	erofs_domain_put_blob(x);
	erofs_domain_put_blob(boot);
	erofs_domain_put(domain);
}

static struct kunit_case erofs_fscache_test_cases[] = {
	KUNIT_CASE(erofs_test_domain_registry),
	KUNIT_CASE(erofs_test_blob_index),
	KUNIT_CASE(erofs_test_domains_apart),
	KUNIT_CASE_PARAM(erofs_test_names, erofs_name_gen_params),
	KUNIT_CASE(erofs_test_unwind),
	KUNIT_CASE(erofs_test_debugfs_listing),
	{}
};

static struct kunit_suite erofs_fscache_test_suite = {
	.name = "erofs_fscache_domains",
	.init = erofs_test_init,
	.exit = erofs_test_exit,
	.test_cases = erofs_fscache_test_cases,
};

kunit_test_suite(erofs_fscache_test_suite);
