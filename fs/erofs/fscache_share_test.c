// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KUnit tests of page-cache sharing (-o inode_share), #included by
 * fscache.c after fscache_test.c, whose helpers they use: keys (extents
 * merged across chunk sizes, holes, the extent bound, lookups) and the
 * per-domain index (hits, misses, no sharing across offsets, blobs, sizes
 * or domains, references, a shared page cache outliving the mounts of its
 * domain).  Ids start with a control character no mount can use.
 */
/* Fill @key with one extent of @blob at @pa covering @size bytes. */
static void erofs_test_pcs_key(struct kunit *test, struct erofs_pcs_key *key,
			       struct erofs_fscache *blob, erofs_off_t pa,
			       loff_t size)
{
	struct erofs_pcs_extent e = {
		.pa = pa, .len = round_up(size, PAGE_SIZE), .blob = blob,
	};
	unsigned int cap = 0;

	*key = (struct erofs_pcs_key) { .size = size };
	KUNIT_ASSERT_EQ(test, erofs_pcs_add_extent(key, &cap, &e), 0);
	erofs_pcs_hash_key(key);
}

/* Add @n chunks of @chunk bytes from @la, at @pa in @blob (NULL: holes). */
static void erofs_test_pcs_chunks(struct kunit *test,
				  struct erofs_pcs_key *key, unsigned int *cap,
				  struct erofs_fscache *blob, erofs_off_t la,
				  erofs_off_t pa, u64 chunk, unsigned int n)
{
	struct erofs_pcs_extent e;
	unsigned int i;

	for (i = 0; i < n; i++) {
		e = (struct erofs_pcs_extent) {
			.la = la + i * chunk, .len = chunk, .blob = blob,
			.pa = blob ? pa + i * chunk : 0,
		};
		KUNIT_ASSERT_EQ(test, erofs_pcs_add_extent(key, cap, &e), 0);
	}
}

/* Keys: merged extents, independent of the chunk size; extent lookup. */
static void erofs_test_pcs_extents(struct kunit *test)
{
	struct erofs_fscache blob[2];	/* only their addresses are used */
	struct erofs_pcs_key k4 = { .size = SZ_1M + 100 };
	struct erofs_pcs_key k1 = { .size = SZ_1M + 100 };
	struct erofs_pcs_key kh = { .size = 3 * SZ_1M };
	struct erofs_pcs_extent e;
	unsigned int cap4 = 0, cap1 = 0, caph = 0, i;
	int err = 0;

	/* 1 MiB + 100 bytes at 8 MiB in blob 0, as 4 KiB and 1 MiB chunks */
	erofs_test_pcs_chunks(test, &k4, &cap4, &blob[0], 0, SZ_8M, SZ_4K, 257);
	erofs_test_pcs_chunks(test, &k1, &cap1, &blob[0], 0, SZ_8M, SZ_1M, 1);
	erofs_test_pcs_chunks(test, &k1, &cap1, &blob[0], SZ_1M, SZ_8M + SZ_1M,
			      SZ_4K, 1);
	KUNIT_EXPECT_EQ(test, k4.nr, 1U);
	KUNIT_EXPECT_EQ(test, k4.ext[0].len, (u64)SZ_1M + SZ_4K);
	KUNIT_EXPECT_TRUE(test, erofs_pcs_key_equal(&k4, &k1));

	/* a hole, then another blob: three extents, each found at its ends */
	erofs_test_pcs_chunks(test, &kh, &caph, &blob[0], 0, 0, SZ_1M, 1);
	erofs_test_pcs_chunks(test, &kh, &caph, NULL, SZ_1M, 0, SZ_4K, 256);
	erofs_test_pcs_chunks(test, &kh, &caph, &blob[1], 2 * SZ_1M, 0, SZ_1M, 1);
	KUNIT_ASSERT_EQ(test, kh.nr, 3U);
	KUNIT_EXPECT_PTR_EQ(test, erofs_pcs_find_extent(&kh, SZ_1M - 1),
			    &kh.ext[0]);
	KUNIT_EXPECT_PTR_EQ(test, erofs_pcs_find_extent(&kh, SZ_1M),
			    &kh.ext[1]);
	KUNIT_EXPECT_NULL(test, kh.ext[1].blob);
	KUNIT_EXPECT_PTR_EQ(test, erofs_pcs_find_extent(&kh, 3 * SZ_1M - 1),
			    &kh.ext[2]);
	KUNIT_EXPECT_NULL(test, erofs_pcs_find_extent(&kh, 3 * SZ_1M));
	KUNIT_EXPECT_FALSE(test, erofs_pcs_key_equal(&kh, &k1));

	/* not contiguous in the blob: no merge, and a bound on the extents */
	kvfree(kh.ext);
	kh = (struct erofs_pcs_key) { .size = 5000 * SZ_4K };
	caph = 0;
	for (i = 0; i < 5000 && !err; i++) {
		e = (struct erofs_pcs_extent) {
			.la = i * SZ_4K, .len = SZ_4K, .blob = &blob[i & 1],
			.pa = i * SZ_4K,
		};
		err = erofs_pcs_add_extent(&kh, &caph, &e);
	}
	KUNIT_EXPECT_EQ(test, err, -E2BIG);
	KUNIT_EXPECT_EQ(test, kh.nr, EROFS_PCS_MAX_EXTENTS);

	kvfree(kh.ext);
	kvfree(k1.ext);
	kvfree(k4.ext);
}

/* Get a shared page cache of one extent of @blob in @domain. */
static struct erofs_pcs *erofs_test_pcs_get(struct kunit *test,
					    struct erofs_domain *domain,
					    struct erofs_fscache *blob,
					    erofs_off_t pa, loff_t size)
{
	struct erofs_pcs_key key;

	erofs_test_pcs_key(test, &key, blob, pa, size);
	erofs_pcs_hold_blobs(domain, &key);
	return erofs_pcs_get(domain, &key);
}

/* The index of shared page caches: hits, misses, references, lifetimes. */
static void erofs_test_pcs_index(struct kunit *test)
{
	struct erofs_fscache *xa, *ya, *xb;
	struct erofs_pcs *p1, *p2, *other;
	struct erofs_domain *a, *b;

	a = erofs_domain_get(EROFS_TEST_ID("pcs-a"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	b = erofs_domain_get(EROFS_TEST_ID("pcs-b"));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	xa = erofs_domain_get_blob(a, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, xa);
	ya = erofs_domain_get_blob(a, "blob-y", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ya);
	xb = erofs_domain_get_blob(b, "blob-x", false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, xb);

	/* a miss: a shared inode on the pseudo mount, holding its blob */
	p1 = erofs_test_pcs_get(test, a, xa, 0, 10000);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, p1);
	KUNIT_EXPECT_PTR_EQ(test, p1->inode->i_sb, erofs_pseudo_mnt->mnt_sb);
	KUNIT_EXPECT_PTR_EQ(test, p1->inode->i_private, (void *)p1);
	KUNIT_EXPECT_EQ(test, i_size_read(p1->inode), 10000);
	KUNIT_EXPECT_EQ(test, refcount_read(&xa->ref), 2U);

	/* a hit: the same page cache; the second key's references dropped */
	p2 = erofs_test_pcs_get(test, a, xa, 0, 10000);
	KUNIT_EXPECT_PTR_EQ(test, p1, p2);
	KUNIT_EXPECT_EQ(test, refcount_read(&p1->ref), 2U);
	KUNIT_EXPECT_EQ(test, refcount_read(&xa->ref), 2U);

	/* another offset, blob, size or domain: never the same page cache */
	other = erofs_test_pcs_get(test, a, xa, PAGE_SIZE, 10000);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
	KUNIT_EXPECT_PTR_NE(test, other, p1);
	erofs_pcs_put(other);
	other = erofs_test_pcs_get(test, a, ya, 0, 10000);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
	KUNIT_EXPECT_PTR_NE(test, other, p1);
	erofs_pcs_put(other);
	other = erofs_test_pcs_get(test, a, xa, 0, 9999);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
	KUNIT_EXPECT_PTR_NE(test, other, p1);
	erofs_pcs_put(other);
	other = erofs_test_pcs_get(test, b, xb, 0, 10000);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
	KUNIT_EXPECT_PTR_NE(test, other, p1);
	erofs_pcs_put(other);
	KUNIT_EXPECT_EQ(test, refcount_read(&ya->ref), 1U);
	KUNIT_EXPECT_EQ(test, refcount_read(&xb->ref), 1U);

	/* the last put leaves the index and drops the blob */
	erofs_pcs_put(p2);
	KUNIT_EXPECT_EQ(test, refcount_read(&xa->ref), 2U);
	erofs_pcs_put(p1);
	KUNIT_EXPECT_EQ(test, refcount_read(&xa->ref), 1U);
	KUNIT_EXPECT_EQ(test, atomic_read(&a->pcs_index.nelems), 0);

	/* a shared page cache keeps its blob and domain when the mounts go */
	p1 = erofs_test_pcs_get(test, a, xa, 0, 10000);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, p1);
	erofs_domain_put_blob(xa);
	erofs_domain_put_blob(ya);
	erofs_domain_put(a);
	KUNIT_EXPECT_TRUE(test, erofs_test_domain_listed(EROFS_TEST_ID("pcs-a")));
	KUNIT_EXPECT_PTR_EQ(test, erofs_test_find_blob(a, "blob-x"), xa);
	erofs_pcs_put(p1);
	KUNIT_EXPECT_FALSE(test, erofs_test_domain_listed(EROFS_TEST_ID("pcs-a")));

	erofs_domain_put_blob(xb);
	erofs_domain_put(b);
}

static struct kunit_case erofs_pcs_test_cases[] = {
	KUNIT_CASE(erofs_test_pcs_extents),
	KUNIT_CASE(erofs_test_pcs_index),
	{}
};

static struct kunit_suite erofs_pcs_test_suite = {
	.name = "erofs_fscache_pcshare",
	.test_cases = erofs_pcs_test_cases,
};

kunit_test_suite(erofs_pcs_test_suite);
