// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Page-cache sharing inside a shared domain (-o inode_share,domain_id=D),
 * #included by fscache.c, whose domains, blobs and read machinery it uses.
 *
 * What shares.  A regular, chunk-based file of an inode_share mount whose
 * chunks all resolve to data blobs of the domain shares its page cache with
 * every file of the domain that resolves, offset by offset, to the very same
 * (blob, offset in the blob), with the same size.  Such files read the same
 * bytes through the same cookies anyway: sharing changes who fills a page,
 * never what it holds, so it needs no trust beyond the domain's, where one
 * blob name already is one content for all images.  The key is the merged
 * extent list of the resolved chunk map (so the chunk size does not matter);
 * a blob is given by its struct erofs_fscache, which names one blob of one
 * domain for as long as a reference is held, and a key holds one on each.
 *
 * What never shares: files of another domain (the index is per domain and
 * the blobs differ), files of mounts without inode_share, files with data in
 * the bootstrap (flat, inline or a chunk on device 0), compressed files, and
 * maps of more than EROFS_PCS_MAX_EXTENTS extents.  They are read as before.
 *
 * Objects and references:
 *  - struct erofs_pcs, one per key per domain, owns the shared inode, an
 *    inode on the pseudo mount that holds the page cache (its one i_count,
 *    from new_inode()), its copy of the key with a reference on each blob of
 *    it, and a reference on the domain.  It holds nothing of any image, so
 *    the image whose open created it can be unmounted while others read: the
 *    shared inode reads through its own key (erofs_pcs_read_slice()).
 *  - A per-image inode holds a reference on its erofs_pcs (vi->pcs) from its
 *    first open to its eviction.  Every file holds its inode and every vma
 *    its file, so the shared inode outlives every user of its page cache.
 *  - A blob holds its domain, the domain the volume and the pseudo mount.
 *    erofs_pcs_free() drops the inode (its eviction waits for reads in
 *    flight), then the blobs, then the domain: no cookie is relinquished
 *    under a read of the shared inode, and the pseudo mount outlives it.
 *
 * Locks:
 *  - domain->pcs_lock, a spinlock, guards domain->pcs_index and the drop of
 *    an erofs_pcs refcount to zero (refcount_dec_and_lock()): a lookup under
 *    it never finds one being freed.  Nothing under it sleeps.
 *  - domain->mutex is taken to take or drop blob references, never with
 *    pcs_lock held.  No lock is taken inside another one.
 *  - The last put can come from memory reclaim evicting a per-image inode
 *    (the super block shrinker), inside an allocation made with
 *    domain->mutex held (blob registration allocates under it): dropping the
 *    blobs then would deadlock, so under PF_MEMALLOC the free is deferred to
 *    a work item.  Until it runs the object is out of the index (an open
 *    builds a new one) and still holds its blobs and domain.
 *
 * Reaching the shared page cache: ->open points file->f_mapping at the shared
 * inode's mapping, as bdev_open() does for device files.  Every page cache
 * user of a file goes through f_mapping: read_iter (filemap_read()), mmap and
 * its faults, readahead and readahead(2), fadvise, splice and sendfile,
 * mincore and cachestat; the file, its inode and vma->vm_file stay the
 * image's.  The pseudo mount gets a bdi of its own before its first shared
 * inode (erofs_pseudo_setup_bdi()), or readahead of these files would be off
 * and fadvise ignored.
 */
#define EROFS_PCS_MAX_EXTENTS	4096

struct erofs_pcs_extent {
	erofs_off_t la;			/* file offset */
	erofs_off_t pa;			/* offset in @blob */
	u64 len;
	struct erofs_fscache *blob;	/* NULL: a hole */
};

struct erofs_pcs_key {
	loff_t size;
	unsigned int nr;
	u32 hash;			/* of the extents, seeded by size */
	struct erofs_pcs_extent *ext;	/* sorted by la, zeroed padding */
};

struct erofs_pcs {
	struct erofs_pcs_key key;
	struct rhash_head node;		/* in domain->pcs_index */
	refcount_t ref;			/* per-image inodes; 0 under pcs_lock */
	struct erofs_domain *domain;
	struct inode *inode;		/* on the pseudo mount: the page cache */
	struct work_struct free_work;	/* the last put, from memory reclaim */
};

/* frees queued by reclaim and not done yet, waited for at module exit */
static atomic_t erofs_pcs_deferred = ATOMIC_INIT(0);

static bool erofs_pcs_key_equal(const struct erofs_pcs_key *a,
				const struct erofs_pcs_key *b)
{
	return a->size == b->size && a->nr == b->nr &&
		!memcmp(a->ext, b->ext, a->nr * sizeof(*a->ext));
}

static u32 erofs_pcs_hashfn(const void *data, u32 len, u32 seed)
{
	const struct erofs_pcs_key *key = data;

	return jhash_1word(key->hash, seed);
}

static u32 erofs_pcs_obj_hashfn(const void *obj, u32 len, u32 seed)
{
	const struct erofs_pcs *pcs = obj;

	return erofs_pcs_hashfn(&pcs->key, len, seed);
}

static int erofs_pcs_obj_cmpfn(struct rhashtable_compare_arg *arg,
			       const void *obj)
{
	const struct erofs_pcs *pcs = obj;

	return !erofs_pcs_key_equal(arg->key, &pcs->key);
}

static const struct rhashtable_params erofs_pcs_params = {
	.head_offset		= offsetof(struct erofs_pcs, node),
	.hashfn			= erofs_pcs_hashfn,
	.obj_hashfn		= erofs_pcs_obj_hashfn,
	.obj_cmpfn		= erofs_pcs_obj_cmpfn,
	.automatic_shrinking	= true,
};

static int erofs_pcs_domain_init(struct erofs_domain *domain)
{
	spin_lock_init(&domain->pcs_lock);
	return rhashtable_init(&domain->pcs_index, &erofs_pcs_params);
}

/* Every erofs_pcs held a reference on the domain: the index is empty. */
static void erofs_pcs_domain_exit(struct erofs_domain *domain)
{
	rhashtable_destroy(&domain->pcs_index);
}

/* Shared inodes are the only inodes of the pseudo mount with data aops. */
static bool erofs_pcs_inode(struct inode *inode)
{
	return inode->i_sb->s_type == &erofs_anon_fs_type;
}

/* Drop what a key holds: its extents and a reference on each of its blobs. */
static void erofs_pcs_drop_key(struct erofs_pcs_key *key)
{
	unsigned int i;

	for (i = 0; i < key->nr; i++)
		if (key->ext[i].blob)
			erofs_domain_put_blob(key->ext[i].blob);
	kvfree(key->ext);
	key->ext = NULL;
}

static int erofs_pcs_add_extent(struct erofs_pcs_key *key, unsigned int *cap,
				const struct erofs_pcs_extent *e)
{
	struct erofs_pcs_extent *ext;

	if (key->nr) {
		ext = &key->ext[key->nr - 1];
		if (ext->blob == e->blob && ext->la + ext->len == e->la &&
		    (!e->blob || ext->pa + ext->len == e->pa)) {
			ext->len += e->len;
			return 0;
		}
	}
	if (key->nr == EROFS_PCS_MAX_EXTENTS)
		return -E2BIG;
	if (key->nr == *cap) {
		unsigned int ncap = min_t(unsigned int, max(*cap * 2, 16U),
					  EROFS_PCS_MAX_EXTENTS);

		/* zeroed: keys are compared and hashed as bytes */
		ext = kvcalloc(ncap, sizeof(*ext), GFP_KERNEL);
		if (!ext)
			return -ENOMEM;
		if (key->nr)
			memcpy(ext, key->ext, key->nr * sizeof(*ext));
		kvfree(key->ext);
		key->ext = ext;
		*cap = ncap;
	}
	key->ext[key->nr++] = *e;
	return 0;
}

static void erofs_pcs_hash_key(struct erofs_pcs_key *key)
{
	key->hash = jhash(key->ext, key->nr * sizeof(*key->ext),
			  (u32)key->size);
}

/*
 * The key of a chunk-based file: every chunk resolved to a data blob of the
 * domain and an offset in it, neighbours merged.  -EOPNOTSUPP or -E2BIG: the
 * file can never share.  No reference is taken: the caller's image holds
 * every blob it names.
 */
static int erofs_pcs_build_key(struct inode *inode, struct erofs_pcs_key *key)
{
	struct super_block *sb = inode->i_sb;
	struct erofs_sb_info *sbi = EROFS_SB(sb);
	struct erofs_map_blocks map = {};
	struct erofs_pcs_extent e;
	unsigned int cap = 0;
	erofs_off_t pos = 0;
	int err = 0;

	*key = (struct erofs_pcs_key) { .size = i_size_read(inode) };
	while (pos < key->size) {
		map.m_la = pos;
		err = erofs_map_blocks(inode, &map);
		if (err)
			break;
		/* reads are page based: so must every extent be */
		if (map.m_la != pos || !map.m_llen ||
		    (map.m_flags & EROFS_MAP_META) ||
		    !PAGE_ALIGNED(map.m_la) || !PAGE_ALIGNED(map.m_llen)) {
			err = -EOPNOTSUPP;
			break;
		}
		e = (struct erofs_pcs_extent) { .la = pos, .len = map.m_llen };
		if (map.m_flags & EROFS_MAP_MAPPED) {
			struct erofs_map_dev mdev = {
				.m_deviceid = map.m_deviceid,
				.m_pa = map.m_pa,
			};

			err = erofs_map_dev(sb, &mdev);
			if (err) {
				err = err == -ENOMEM ? err : -EOPNOTSUPP;
				break;
			}
			/* never the bootstrap: it is the image's own */
			if (mdev.m_dif == &sbi->dif0 || !mdev.m_dif->fscache ||
			    mdev.m_dif->fscache->domain != sbi->domain ||
			    mdev.m_dif->fscache->bootstrap ||
			    !PAGE_ALIGNED(mdev.m_pa)) {
				err = -EOPNOTSUPP;
				break;
			}
			e.blob = mdev.m_dif->fscache;
			e.pa = mdev.m_pa;
		}
		err = erofs_pcs_add_extent(key, &cap, &e);
		if (err)
			break;
		pos += map.m_llen;
	}
	if (!err && !key->nr)
		err = -EOPNOTSUPP;
	if (err) {
		kvfree(key->ext);
		key->ext = NULL;
		return err;
	}
	erofs_pcs_hash_key(key);
	return 0;
}

static void erofs_pcs_hold_blobs(struct erofs_domain *domain,
				 struct erofs_pcs_key *key)
{
	unsigned int i;

	/* the image being opened holds every one of them */
	mutex_lock(&domain->mutex);
	for (i = 0; i < key->nr; i++)
		if (key->ext[i].blob)
			refcount_inc(&key->ext[i].blob->ref);
	mutex_unlock(&domain->mutex);
}

static void erofs_pcs_free(struct erofs_pcs *pcs)
{
	struct erofs_domain *domain = pcs->domain;

	/* evicting the inode waits for its reads in flight, on these blobs */
	iput(pcs->inode);
	erofs_pcs_drop_key(&pcs->key);
	kfree(pcs);
	erofs_domain_put(domain);
}

static void erofs_pcs_free_work(struct work_struct *work)
{
	erofs_pcs_free(container_of(work, struct erofs_pcs, free_work));
	if (atomic_dec_and_test(&erofs_pcs_deferred))
		wake_up_var(&erofs_pcs_deferred);
}

static void erofs_pcs_put(struct erofs_pcs *pcs)
{
	struct erofs_domain *domain = pcs->domain;

	if (!refcount_dec_and_lock(&pcs->ref, &domain->pcs_lock))
		return;
	rhashtable_remove_fast(&domain->pcs_index, &pcs->node,
			       erofs_pcs_params);
	spin_unlock(&domain->pcs_lock);
	/* see "Locks" above: reclaim may hold domain->mutex further up */
	if (current->flags & PF_MEMALLOC) {
		atomic_inc(&erofs_pcs_deferred);
		queue_work(system_unbound_wq, &pcs->free_work);
		return;
	}
	erofs_pcs_free(pcs);
}

/*
 * Files whose f_mapping is on the pseudo mount read ahead by its bdi; with
 * noop_backing_dev_info, its default, readahead would be off and fadvise
 * ignored.  Give it a bdi of its own, with the defaults of an erofs mount's,
 * before its first shared inode: only the blob inodes, which are never
 * dirtied nor read ahead, can see the switch.  generic_shutdown_super() puts
 * it with the pseudo mount.  The caller's reference on a domain keeps the
 * pseudo mount.
 */
static int erofs_pseudo_setup_bdi(void)
{
	struct super_block *sb;
	int err = 0;

	mutex_lock(&erofs_pseudo_lock);
	sb = erofs_pseudo_mnt->mnt_sb;
	if (!(sb->s_iflags & SB_I_PERSB_BDI))
		err = super_setup_bdi(sb);
	mutex_unlock(&erofs_pseudo_lock);
	return err;
}

static struct erofs_pcs *erofs_pcs_alloc(struct erofs_domain *domain,
					 const struct erofs_pcs_key *key)
{
	struct erofs_pcs *pcs;
	struct inode *inode;

	if (erofs_pseudo_setup_bdi())
		return NULL;
	pcs = kzalloc(sizeof(*pcs), GFP_KERNEL);
	if (!pcs)
		return NULL;
	/* the caller's reference on @domain keeps the pseudo mount */
	inode = new_inode(erofs_pseudo_mnt->mnt_sb);
	if (!inode) {
		kfree(pcs);
		return NULL;
	}
	inode->i_ino = get_next_ino();
	inode->i_mode = S_IFREG | 0444;
	inode->i_size = key->size;
	inode->i_blkbits = PAGE_SHIFT;
	/* erofs_fscache_data_read() reads it through the key, not an image */
	inode->i_mapping->a_ops = &erofs_fscache_access_aops;
	mapping_set_large_folios(inode->i_mapping);
	inode->i_private = pcs;

	pcs->key = *key;
	pcs->inode = inode;
	pcs->domain = domain;
	refcount_set(&pcs->ref, 1);
	INIT_WORK(&pcs->free_work, erofs_pcs_free_work);
	return pcs;
}

/*
 * Find the shared page cache of @key in @domain, or add one.  The key (its
 * extents and blob references) is consumed: moved into a new erofs_pcs or
 * dropped.  The inode is allocated without pcs_lock held, so the lookup is
 * done again before inserting; the loser of a race frees its unused inode.
 */
static struct erofs_pcs *erofs_pcs_get(struct erofs_domain *domain,
				       struct erofs_pcs_key *key)
{
	struct erofs_pcs *pcs, *new;
	int err = 0;

	spin_lock(&domain->pcs_lock);
	pcs = rhashtable_lookup_fast(&domain->pcs_index, key, erofs_pcs_params);
	if (pcs)
		refcount_inc(&pcs->ref);
	spin_unlock(&domain->pcs_lock);
	if (pcs)
		goto drop_key;

	new = erofs_pcs_alloc(domain, key);
	if (!new) {
		pcs = ERR_PTR(-ENOMEM);
		goto drop_key;
	}
	spin_lock(&domain->pcs_lock);
	pcs = rhashtable_lookup_fast(&domain->pcs_index, key, erofs_pcs_params);
	if (pcs)
		refcount_inc(&pcs->ref);
	else
		err = rhashtable_insert_fast(&domain->pcs_index, &new->node,
					     erofs_pcs_params);
	spin_unlock(&domain->pcs_lock);
	if (!pcs && !err) {
		/* the caller's reference makes this one safe to take */
		refcount_inc(&domain->ref);
		return new;
	}
	/* never visible, no page: its key is still the caller's */
	iput(new->inode);
	kfree(new);
	if (err)
		pcs = ERR_PTR(err);
drop_key:
	erofs_pcs_drop_key(key);
	return pcs;
}

static struct erofs_pcs *erofs_pcs_attach(struct inode *inode)
{
	struct erofs_domain *domain = EROFS_I_SB(inode)->domain;
	struct erofs_inode *vi = EROFS_I(inode);
	struct erofs_pcs_key key;
	struct erofs_pcs *pcs, *old;
	int err;

	err = erofs_pcs_build_key(inode, &key);
	if (err)
		goto unshared;
	erofs_pcs_hold_blobs(domain, &key);
	pcs = erofs_pcs_get(domain, &key);
	if (IS_ERR(pcs)) {
		err = PTR_ERR(pcs);
		goto unshared;
	}
	/* the first opens of one inode may race: the first to publish wins */
	old = cmpxchg(&vi->pcs, NULL, pcs);
	if (old) {
		erofs_pcs_put(pcs);
		return old;
	}
	return pcs;
unshared:
	/*
	 * A file that can never share is not looked at again; after any other
	 * failure (memory, a metadata read) the next open tries again.
	 */
	if (err == -EOPNOTSUPP || err == -E2BIG)
		set_bit(EROFS_I_PCS_TRIED_BIT, &vi->flags);
	return NULL;
}

/*
 * ->open of the regular files of an inode_share mount.  Points f_mapping at
 * the shared page cache (see the top of this file); it is set before the
 * file is visible and never changes, so rmap, faults and reads all see one
 * mapping for the file's lifetime.  A file of an inode that cannot share, or
 * whose attach failed, reads through the inode's own mapping, as without the
 * option: two files of one inode may then use two mappings, both correct, as
 * nothing is ever written.
 */
int erofs_pcs_open(struct inode *inode, struct file *file)
{
	struct erofs_inode *vi = EROFS_I(inode);
	struct erofs_pcs *pcs = READ_ONCE(vi->pcs);

	if (!pcs && !test_bit(EROFS_I_PCS_TRIED_BIT, &vi->flags))
		pcs = erofs_pcs_attach(inode);
	if (pcs) {
		file->f_mapping = pcs->inode->i_mapping;
		file->f_wb_err = filemap_sample_wb_err(file->f_mapping);
	}
	return 0;
}

/* From ->evict_inode: no file of @inode is left to use the shared cache. */
void erofs_pcs_evict(struct inode *inode)
{
	struct erofs_inode *vi = EROFS_I(inode);

	if (vi->pcs) {
		erofs_pcs_put(vi->pcs);
		vi->pcs = NULL;
	}
}

static const struct erofs_pcs_extent *
erofs_pcs_find_extent(const struct erofs_pcs_key *key, loff_t pos)
{
	unsigned int lo = 0, hi = key->nr;

	/* the last extent that starts at or before @pos */
	while (hi - lo > 1) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (key->ext[mid].la <= pos)
			lo = mid;
		else
			hi = mid;
	}
	if (!key->nr || pos < key->ext[lo].la ||
	    pos >= key->ext[lo].la + key->ext[lo].len)
		return NULL;
	return &key->ext[lo];
}

/*
 * One slice of a read of a shared inode: at most one extent, read from its
 * blob's cookie at the offset the key names; holes and anything past the
 * last extent are zeroes.  It never looks at an image.
 */
static int erofs_pcs_read_slice(struct erofs_fscache_rq *req)
{
	struct address_space *mapping = req->mapping;
	struct erofs_pcs *pcs = mapping->host->i_private;
	loff_t pos = req->start + req->submitted;
	size_t count = req->len - req->submitted;
	const struct erofs_pcs_extent *ext;
	struct erofs_fscache_io *io;
	struct iov_iter iter;
	int ret;

	ext = erofs_pcs_find_extent(&pcs->key, pos);
	if (ext)
		count = min_t(u64, count, ext->la + ext->len - pos);
	if (!ext || !ext->blob) {
		iov_iter_xarray(&iter, ITER_DEST, &mapping->i_pages, pos, count);
		iov_iter_zero(count, &iter);
		req->submitted += count;
		return 0;
	}

	io = erofs_fscache_req_io_alloc(req);
	if (!io)
		return -ENOMEM;
	iov_iter_xarray(&io->iter, ITER_DEST, &mapping->i_pages, pos, count);
	ret = erofs_fscache_read_io_async(ext->blob->cookie,
					  ext->pa + (pos - ext->la), io);
	erofs_fscache_req_io_put(io);
	req->submitted += count;
	return ret;
}

/* Module exit: shared page caches whose last user was evicted by reclaim. */
static void erofs_pcs_exit(void)
{
	wait_var_event(&erofs_pcs_deferred, !atomic_read(&erofs_pcs_deferred));
}
