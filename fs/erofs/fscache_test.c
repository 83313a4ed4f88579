// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KUnit tests for the shared domains of fscache mode.
 *
 * #included at the end of fscache.c, so that the static domain and blob
 * helpers can be tested without a superblock, a cache or a daemon: fscache
 * hands out volumes and cookies even when no cache is bound.
 *
 * The tests may run beside real mounts: every domain id they use starts with
 * a control character, which the fsid and domain_id mount options refuse, so
 * no mount can join or see a test domain, and the tests check only what
 * happens to their own domains and blobs, never global counts.  The option
 * is built in only, so the suite runs at boot, before a cache can be bound.
 */
#include <kunit/test.h>
#include <linux/kthread.h>

#define EROFS_TEST_ID(name)	"\x01kunit-" name

/* Is a domain @id on the registry (live, being set up or dying)? */
static bool erofs_test_domain_listed(const char *id)
{
	bool listed;

	spin_lock(&erofs_domain_list_lock);
	listed = erofs_domain_lookup(id);
	spin_unlock(&erofs_domain_list_lock);
	return listed;
}

static struct erofs_fscache *erofs_test_find_blob(struct erofs_domain *domain,
						  const char *name)
{
	struct erofs_fscache *ctx;

	mutex_lock(&domain->mutex);
	ctx = rhashtable_lookup_fast(&domain->blobs, name, erofs_blob_params);
	mutex_unlock(&domain->mutex);
	return ctx;
}

static void erofs_test_domain_registry(struct kunit *test)
{
	struct erofs_domain *a, *a2, *b;
	u64 seq;

	a = erofs_domain_get(EROFS_TEST_ID("a"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, a->volume);
	KUNIT_EXPECT_NOT_NULL(test, erofs_pseudo_mnt);

	/* the same id is the same domain */
	a2 = erofs_domain_get(EROFS_TEST_ID("a"));
	KUNIT_EXPECT_PTR_EQ(test, a, a2);

	/* another id is another domain, with its own volume */
	b = erofs_domain_get(EROFS_TEST_ID("b"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_PTR_NE(test, a, b);
	KUNIT_EXPECT_PTR_NE(test, a->volume, b->volume);
	KUNIT_EXPECT_NE(test, a->seq, b->seq);

	/* a domain lives until its last reference goes */
	erofs_domain_put(a2);
	KUNIT_EXPECT_TRUE(test, erofs_test_domain_listed(EROFS_TEST_ID("a")));
	seq = a->seq;
	erofs_domain_put(a);
	KUNIT_EXPECT_FALSE(test, erofs_test_domain_listed(EROFS_TEST_ID("a")));
	/* the pseudo mount stays while a domain (here b) does */
	KUNIT_EXPECT_NOT_NULL(test, erofs_pseudo_mnt);
	erofs_domain_put(b);
	KUNIT_EXPECT_FALSE(test, erofs_test_domain_listed(EROFS_TEST_ID("b")));

	/* the same id after the teardown is a new domain */
	a = erofs_domain_get(EROFS_TEST_ID("a"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	KUNIT_EXPECT_NE(test, a->seq, seq);
	KUNIT_EXPECT_NOT_NULL(test, erofs_pseudo_mnt);
	erofs_domain_put(a);
}

static void erofs_test_blob_index(struct kunit *test)
{
	struct erofs_fscache *x, *x2, *y;
	struct erofs_domain *domain;
	unsigned int cookie_id;

	domain = erofs_domain_get(EROFS_TEST_ID("index"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);

	x = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, x);
	KUNIT_EXPECT_PTR_EQ(test, x->domain, domain);
	KUNIT_EXPECT_PTR_EQ(test, x->inode->i_sb, erofs_pseudo_mnt->mnt_sb);
	KUNIT_EXPECT_PTR_EQ(test, x->inode->i_private, (void *)x);
	KUNIT_EXPECT_PTR_EQ(test, x->cookie->volume, domain->volume);
	KUNIT_EXPECT_FALSE(test, x->bootstrap);
	cookie_id = x->cookie->debug_id;

	/* hit: the same blob, its cookie and page cache */
	x2 = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_EXPECT_PTR_EQ(test, x, x2);

	/* miss: a blob of its own */
	y = erofs_domain_get_blob(domain, "blob-y", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, y);
	KUNIT_EXPECT_PTR_NE(test, x, y);
	KUNIT_EXPECT_PTR_NE(test, x->cookie, y->cookie);
	KUNIT_EXPECT_PTR_NE(test, x->inode, y->inode);

	/* the blob stays while one registration does, then leaves */
	erofs_domain_put_blob(x2);
	KUNIT_EXPECT_PTR_EQ(test, erofs_test_find_blob(domain, "blob-x"), x);
	erofs_domain_put_blob(x);
	KUNIT_EXPECT_NULL(test, erofs_test_find_blob(domain, "blob-x"));
	KUNIT_EXPECT_PTR_EQ(test, erofs_test_find_blob(domain, "blob-y"), y);

	/* a name comes back after its teardown, with a new cookie */
	x = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, x);
	KUNIT_EXPECT_NE(test, x->cookie->debug_id, cookie_id);
	erofs_domain_put_blob(x);

	/* a blob keeps its domain alive after the mounts are gone */
	erofs_domain_put(domain);
	KUNIT_EXPECT_TRUE(test, erofs_test_domain_listed(EROFS_TEST_ID("index")));
	erofs_domain_put_blob(y);
	KUNIT_EXPECT_FALSE(test, erofs_test_domain_listed(EROFS_TEST_ID("index")));
}

static void erofs_test_domains_apart(struct kunit *test)
{
	struct erofs_domain *a, *b;
	struct erofs_fscache *xa, *xb;

	a = erofs_domain_get(EROFS_TEST_ID("apart-a"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	b = erofs_domain_get(EROFS_TEST_ID("apart-b"));
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
	struct erofs_fscache *first, *second, *third;
	struct erofs_domain *domain;

	domain = erofs_domain_get(EROFS_TEST_ID("names"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);

	first = erofs_domain_get_blob(domain, "name", c->first_bootstrap);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, first);
	second = erofs_domain_get_blob(domain, "name", c->second_bootstrap);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(second), c->err);
	if (!c->err) {
		KUNIT_EXPECT_PTR_EQ(test, first, second);
		erofs_domain_put_blob(second);
	}

	/*
	 * A refused registration took no reference: one put of the first
	 * registration removes the blob, and the name is free again.
	 */
	erofs_domain_put_blob(first);
	KUNIT_EXPECT_NULL(test, erofs_test_find_blob(domain, "name"));
	third = erofs_domain_get_blob(domain, "name", c->second_bootstrap);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, third);
	if (!IS_ERR(third))
		erofs_domain_put_blob(third);
	erofs_domain_put(domain);
}

/* The debugfs listing: blobs escaped, refcounts, no domain id. */
static void erofs_test_debugfs_listing(struct kunit *test)
{
	static const char odd[] = "a b\n%\\\x1b\xff";
	struct erofs_fscache *boot, *x, *x2, *y;
	struct erofs_domain *domain;
	struct seq_file m = {};
	char line[64];

	domain = erofs_domain_get(EROFS_TEST_ID("secret-id"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);
	boot = erofs_domain_get_blob(domain, "boot", true);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, boot);
	x = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, x);
	x2 = erofs_domain_get_blob(domain, "blob-x", false);
	KUNIT_ASSERT_PTR_EQ(test, x, x2);
	y = erofs_domain_get_blob(domain, odd, false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, y);

	m.size = PAGE_SIZE;
	m.buf = kunit_kzalloc(test, m.size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m.buf);
	KUNIT_EXPECT_EQ(test, erofs_domains_show(&m, NULL), 0);
	KUNIT_ASSERT_LT(test, m.count, m.size);
	m.buf[m.count] = '\0';
	snprintf(line, sizeof(line), "domain %llu\n", domain->seq);
	KUNIT_EXPECT_NOT_NULL(test, strstr(m.buf, line));
	KUNIT_EXPECT_NOT_NULL(test, strstr(m.buf, "\tboot refs=1 bootstrap\n"));
	KUNIT_EXPECT_NOT_NULL(test, strstr(m.buf, "\tblob-x refs=2\n"));
	KUNIT_EXPECT_NOT_NULL(test,
			      strstr(m.buf, "\ta\\040b\\012%\\134\\033\\377 refs=1\n"));
	KUNIT_EXPECT_NULL(test, strstr(m.buf, "secret-id"));

	/* the listing took no reference: these puts free everything */
	erofs_domain_put_blob(y);
	erofs_domain_put_blob(x2);
	erofs_domain_put_blob(x);
	erofs_domain_put_blob(boot);
	erofs_domain_put(domain);
	KUNIT_EXPECT_FALSE(test,
			   erofs_test_domain_listed(EROFS_TEST_ID("secret-id")));
}

/*
 * Several threads get and put the same domain and the same blobs at once,
 * so that first registrations, shared ones and last puts of the blobs and of
 * the domain race with each other (lockdep watches the locks meanwhile).
 */
#define EROFS_TEST_THREADS	4
#define EROFS_TEST_ROUNDS	200

struct erofs_test_worker {
	struct completion *start;
	struct completion done;
	int err;
};

static int erofs_test_worker_fn(void *data)
{
	static const char * const names[] = { "shared-0", "shared-1" };
	struct erofs_test_worker *w = data;
	struct erofs_fscache *ctx[ARRAY_SIZE(names)];
	struct erofs_domain *domain;
	unsigned int i, n;

	wait_for_completion(w->start);
	for (i = 0; i < EROFS_TEST_ROUNDS && !w->err; i++) {
		domain = erofs_domain_get(EROFS_TEST_ID("race"));
		if (IS_ERR(domain)) {
			w->err = PTR_ERR(domain);
			break;
		}
		for (n = 0; n < ARRAY_SIZE(names); n++) {
			ctx[n] = erofs_domain_get_blob(domain, names[n], false);
			if (IS_ERR(ctx[n])) {
				w->err = PTR_ERR(ctx[n]);
				break;
			}
			if (ctx[n]->domain != domain)
				w->err = -EXDEV;
		}
		while (n--)
			erofs_domain_put_blob(ctx[n]);
		erofs_domain_put(domain);
		cond_resched();
	}
	complete(&w->done);
	return 0;
}

static void erofs_test_concurrent(struct kunit *test)
{
	struct erofs_test_worker *w;
	struct task_struct *task;
	DECLARE_COMPLETION_ONSTACK(start);
	unsigned int i;

	w = kunit_kcalloc(test, EROFS_TEST_THREADS, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	for (i = 0; i < EROFS_TEST_THREADS; i++) {
		w[i].start = &start;
		init_completion(&w[i].done);
		task = kthread_run(erofs_test_worker_fn, &w[i],
				   "erofs-kunit-%u", i);
		if (IS_ERR(task)) {
			w[i].err = PTR_ERR(task);
			complete(&w[i].done);
		}
	}
	complete_all(&start);
	for (i = 0; i < EROFS_TEST_THREADS; i++) {
		wait_for_completion(&w[i].done);
		KUNIT_EXPECT_EQ_MSG(test, w[i].err, 0, "worker %u", i);
	}
	KUNIT_EXPECT_FALSE(test, erofs_test_domain_listed(EROFS_TEST_ID("race")));
}

static struct kunit_case erofs_fscache_test_cases[] = {
	KUNIT_CASE(erofs_test_domain_registry),
	KUNIT_CASE(erofs_test_blob_index),
	KUNIT_CASE(erofs_test_domains_apart),
	KUNIT_CASE_PARAM(erofs_test_names, erofs_name_gen_params),
	KUNIT_CASE(erofs_test_debugfs_listing),
	KUNIT_CASE(erofs_test_concurrent),
	{}
};

static struct kunit_suite erofs_fscache_test_suite = {
	.name = "erofs_fscache_domains",
	.test_cases = erofs_fscache_test_cases,
};

kunit_test_suite(erofs_fscache_test_suite);
