// SPDX-License-Identifier: GPL-2.0
/*
 * erofs-mkimage: lay out and write the bootstrap.
 *
 * Layout (4 KiB blocks):
 *   block 0          superblock at 1024, device table at 1152 (slot 9 * 128),
 *                    continuing into the next blocks for many layers
 *   meta_blkaddr     inodes, first block after the device table; nid 0 is
 *                    left unused so no inode number is 0 (root is nid 1).
 *                    Directory and symlink tails are inline after their
 *                    inode, regular files carry 8-byte chunk indexes
 *                    (device_id = slot + 1) after theirs.
 *   then             whole blocks of directories too large to be inline
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mkimage.h"

static inline void put16(u8 *p, u16 v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void put32(u8 *p, u32 v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static inline void put64(u8 *p, u64 v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static inline u64 round_up64(u64 v, u64 a)
{
	return (v + a - 1) / a * a;
}

struct mk_dirent {
	const char *name;
	size_t len;
	struct mk_node *node;
};

struct mk_layout {
	struct mk_image *img;
	struct mk_node **nodes;		/* depth-first, root first */
	u64 nnodes, cap;
	u64 meta_blkaddr;
	u64 blocks;
	unsigned int table_slots;	/* slots with room in the table */
	u8 *buf;
};

static int mk_cmp_dirent(const void *a, const void *b)
{
	const struct mk_dirent *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static u8 mk_ftype(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return EROFS_FT_REG_FILE;
	case S_IFDIR: return EROFS_FT_DIR;
	case S_IFCHR: return EROFS_FT_CHRDEV;
	case S_IFBLK: return EROFS_FT_BLKDEV;
	case S_IFIFO: return EROFS_FT_FIFO;
	case S_IFSOCK: return EROFS_FT_SOCK;
	case S_IFLNK: return EROFS_FT_SYMLINK;
	}
	return EROFS_FT_UNKNOWN;
}

/* Entries of @dir including "." and "..", sorted as the kernel's lookup expects. */
static struct mk_dirent *mk_dir_entries(struct mk_node *dir, unsigned int *n)
{
	struct mk_dirent *e = mk_zalloc((dir->nkids + 2) * sizeof(*e));
	unsigned int i;

	e[0] = (struct mk_dirent){ ".", 1, dir };
	e[1] = (struct mk_dirent){ "..", 2, dir->parent ? dir->parent : dir };
	for (i = 0; i < dir->nkids; i++)
		e[i + 2] = (struct mk_dirent){ dir->kids[i]->name,
					       strlen(dir->kids[i]->name),
					       dir->kids[i] };
	*n = dir->nkids + 2;
	qsort(e, *n, sizeof(*e), mk_cmp_dirent);
	return e;
}

/*
 * Pack dirents into blocks: each block holds its dirents, then their names;
 * de[0].nameoff / 12 is the dirent count of the block.  Returns the
 * directory size (the last block is not padded); fills @out if not NULL.
 */
static u64 mk_dir_pack(const struct mk_dirent *e, unsigned int n, u8 *out)
{
	u64 size = 0;
	unsigned int i = 0;

	while (i < n) {
		unsigned int first = i, cnt, used = 0, nameoff;

		while (i < n && used + EROFS_DIRENT_SIZE + e[i].len <= MK_BLKSZ)
			used += EROFS_DIRENT_SIZE + e[i++].len;
		cnt = i - first;
		if (out) {
			u8 *blk = out + size;

			nameoff = cnt * EROFS_DIRENT_SIZE;
			for (; first < i; first++, blk += EROFS_DIRENT_SIZE) {
				put64(blk, e[first].node->nid);
				put16(blk + 8, nameoff);
				blk[10] = mk_ftype(e[first].node->mode);
				blk[11] = 0;
				memcpy(out + size + nameoff, e[first].name, e[first].len);
				nameoff += e[first].len;
			}
		}
		size += i < n ? MK_BLKSZ : used;
	}
	return size;
}

static void mk_collect(struct mk_layout *l, struct mk_node *n)
{
	unsigned int i;

	if (l->nnodes == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->nodes = realloc(l->nodes, l->cap * sizeof(*l->nodes));
		if (!l->nodes) {
			mk_err("out of memory");
			exit(1);
		}
	}
	l->nodes[l->nnodes++] = n;
	for (i = 0; i < n->nkids; i++)
		mk_collect(l, n->kids[i]);
}

static u64 mk_nchunks(const struct mk_image *img, const struct mk_node *n)
{
	u64 csz = (u64)MK_BLKSZ << img->opt->chunkbits;

	return (n->size + csz - 1) / csz;
}

/* Decide each inode's form and place it in the metadata area. */
static int mk_layout_inodes(struct mk_layout *l)
{
	struct mk_image *img = l->img;
	u64 meta_start = l->meta_blkaddr * MK_BLKSZ;
	u64 pos = meta_start + EROFS_ISLOT_SIZE;	/* nid 0 unused */
	u64 i, data_blk;

	for (i = 0; i < l->nnodes; i++) {
		struct mk_node *n = l->nodes[i];
		unsigned int isize, k;
		u64 tail = 0;

		n->ino = i + 1;
		n->nlink = 1;
		if (S_ISDIR(n->mode)) {
			struct mk_dirent *e = mk_dir_entries(n, &k);

			n->dsize = mk_dir_pack(e, k, NULL);
			free(e);
			n->nlink = 2;
			for (k = 0; k < n->nkids; k++)
				n->nlink += S_ISDIR(n->kids[k]->mode);
		} else if (S_ISLNK(n->mode)) {
			n->dsize = n->size;
		}
		n->extended = n->size > 0xffffffffULL || n->dsize > 0xffffffffULL ||
			      n->nlink > 0xffff;
		isize = n->extended ? EROFS_INODE_EXTENDED_SIZE : EROFS_INODE_COMPACT_SIZE;

		n->datalayout = EROFS_INODE_FLAT_PLAIN;
		n->meta_len = isize;
		n->inline_len = 0;
		if (S_ISDIR(n->mode) || S_ISLNK(n->mode)) {
			tail = n->dsize % MK_BLKSZ;
			/* the inline tail must share one block with its inode */
			if (tail && isize + tail <= MK_BLKSZ) {
				n->datalayout = EROFS_INODE_FLAT_INLINE;
				n->inline_len = tail;
				n->meta_len += tail;
				if (pos % MK_BLKSZ + n->meta_len > MK_BLKSZ)
					pos = round_up64(pos, MK_BLKSZ);
			}
		} else if (S_ISREG(n->mode) && n->size) {
			n->datalayout = EROFS_INODE_CHUNK_BASED;
			n->meta_len += mk_nchunks(img, n) * EROFS_CHUNK_INDEX_SIZE;
		}
		n->nid = (pos - meta_start) / EROFS_ISLOT_SIZE;
		pos = round_up64(pos + n->meta_len, EROFS_ISLOT_SIZE);
	}

	/* whole data blocks of directories and symlinks that are not inline */
	data_blk = round_up64(pos, MK_BLKSZ) / MK_BLKSZ;
	for (i = 0; i < l->nnodes; i++) {
		struct mk_node *n = l->nodes[i];

		if (!S_ISDIR(n->mode) && !S_ISLNK(n->mode))
			continue;
		n->dblk = data_blk;
		data_blk += (n->dsize - n->inline_len) / MK_BLKSZ +
			    (n->datalayout == EROFS_INODE_FLAT_PLAIN &&
			     n->dsize % MK_BLKSZ);
	}
	l->blocks = data_blk;
	if (l->blocks > MK_MAX_BLOCKS) {
		mk_err("bootstrap would need %llu blocks, over the format limit of %llu",
		       (unsigned long long)l->blocks, (unsigned long long)MK_MAX_BLOCKS);
		return -1;
	}
	if (l->nnodes > 0xffffffffULL) {
		mk_err("too many inodes (%llu)", (unsigned long long)l->nnodes);
		return -1;
	}
	return 0;
}

static void mk_write_inode(struct mk_layout *l, struct mk_node *n)
{
	struct mk_image *img = l->img;
	u8 *p = l->buf + l->meta_blkaddr * MK_BLKSZ + n->nid * EROFS_ISLOT_SIZE;
	unsigned int isize = n->extended ? EROFS_INODE_EXTENDED_SIZE :
					   EROFS_INODE_COMPACT_SIZE;
	u32 iu = 0;
	u8 *data = NULL;
	u64 k;

	if (S_ISDIR(n->mode) || S_ISLNK(n->mode)) {
		iu = n->dsize - n->inline_len ? n->dblk : 0;
	} else if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
		/* new_encode_dev() */
		u32 ma = major(n->rdev), mi = minor(n->rdev);

		iu = (mi & 0xff) | (ma << 8) | ((mi & ~0xffU) << 12);
	} else if (n->datalayout == EROFS_INODE_CHUNK_BASED) {
		iu = img->opt->chunkbits | EROFS_CHUNK_FORMAT_INDEXES;
	}

	put16(p, (n->extended ? EROFS_INODE_LAYOUT_EXTENDED : EROFS_INODE_LAYOUT_COMPACT) |
		 n->datalayout << 1);
	put16(p + 2, 0);			/* no xattrs */
	put16(p + 4, n->mode);
	if (n->extended) {
		put64(p + 8, n->size);
		put32(p + 16, iu);
		put32(p + 20, n->ino);
		put32(p + 24, 0);		/* uid */
		put32(p + 28, 0);		/* gid */
		put64(p + 32, img->opt->epoch);
		put32(p + 40, 0);
		put32(p + 44, n->nlink);
	} else {
		put16(p + 6, n->nlink);
		put32(p + 8, S_ISDIR(n->mode) ? n->dsize : n->size);
		put32(p + 16, iu);
		put32(p + 20, n->ino);
		/* uid, gid 0; mtime is the superblock's build_time */
	}
	if (n->extended && S_ISDIR(n->mode))
		put64(p + 8, n->dsize);

	if (S_ISDIR(n->mode)) {
		struct mk_dirent *e;
		unsigned int cnt;

		data = mk_zalloc(round_up64(n->dsize, MK_BLKSZ));
		e = mk_dir_entries(n, &cnt);
		mk_dir_pack(e, cnt, data);
		free(e);
	} else if (S_ISLNK(n->mode)) {
		data = (u8 *)n->target;
	}
	if (data) {
		u64 whole = n->dsize - n->inline_len;

		if (n->datalayout == EROFS_INODE_FLAT_PLAIN)
			memcpy(l->buf + n->dblk * MK_BLKSZ, data, n->dsize);
		else {
			memcpy(l->buf + n->dblk * MK_BLKSZ, data, whole);
			memcpy(p + isize, data + whole, n->inline_len);
		}
		if (S_ISDIR(n->mode))
			free(data);
		return;
	}

	if (n->datalayout == EROFS_INODE_CHUNK_BASED) {
		struct mk_layer *layer = &img->layers[n->layer];
		u64 chunkblks = 1ULL << img->opt->chunkbits;
		u8 *idx = p + isize;

		for (k = 0; k < mk_nchunks(img, n); k++, idx += EROFS_CHUNK_INDEX_SIZE) {
			put16(idx, 0);
			/* a layer image addresses itself: device 0 */
			put16(idx + 2, img->opt->layer_image ? 0 : layer->slot + 1);
			if (n->chunk_blk && n->chunk_blk[k] == MK_HOLE) {
				/* a hole: no device, no data, reads as zeros */
				put16(idx + 2, 0);
				put32(idx + 4, EROFS_NULL_ADDR);
				continue;
			}
			put32(idx + 4, layer->base_blk + (n->chunk_blk ? n->chunk_blk[k] :
					n->blob_blk + k * chunkblks));
		}
	}
}

/* Path of @n in the image, for messages. */
static const char *mk_node_path(const struct mk_node *n)
{
	static char path[PATH_MAX + EROFS_NAME_LEN + 2];
	size_t pos = sizeof(path) - 1;

	path[pos] = '\0';
	for (; n && n->parent; n = n->parent) {
		size_t len = strlen(n->name);

		if (len + 1 > pos)
			break;
		pos -= len;
		memcpy(path + pos, n->name, len);
		path[--pos] = '/';
	}
	if (pos == sizeof(path) - 1)
		path[--pos] = '/';
	return path + pos;
}

static struct mk_node *mk_first_data_file(struct mk_layout *l)
{
	u64 i;

	for (i = 0; i < l->nnodes; i++)
		if (l->nodes[i]->datalayout == EROFS_INODE_CHUNK_BASED)
			return l->nodes[i];
	return NULL;
}

static int mk_apply_craft(struct mk_layout *l, u8 *sb)
{
	struct mk_image *img = l->img;
	const char *arg = img->opt->craft_arg;
	u8 *slot0 = l->buf + MK_DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE;
	unsigned long long v;
	struct mk_node *f;
	unsigned int mask;
	u8 *idx;

	switch (img->opt->craft) {
	case MK_CRAFT_NONE:
	case MK_CRAFT_BAD_CSUM:
		return 0;
	case MK_CRAFT_EMPTY_TAG:
		memset(slot0, 0, EROFS_TAG_LEN);
		return 0;
	case MK_CRAFT_DUP_TAG:
		if (img->nslots < 2) {
			mk_err("--craft dup-tag needs at least 2 layers with different data");
			return -1;
		}
		memcpy(slot0 + EROFS_DEVT_SLOT_SIZE, slot0, EROFS_TAG_LEN);
		return 0;
	case MK_CRAFT_TAG_IS_FSID:
		memset(slot0, 0, EROFS_TAG_LEN);
		memcpy(slot0, arg, strlen(arg));
		return 0;
	case MK_CRAFT_EXTRA_DEVICES_OVERFLOW:
		v = img->nslots + 1;
		if (arg) {
			char *end;

			v = strtoull(arg, &end, 0);
			if (*end || v <= img->nslots || v > MK_MAX_DEVICES) {
				mk_err("--craft extra-devices-overflow=N needs %u < N <= %u",
				       img->nslots, MK_MAX_DEVICES);
				return -1;
			}
		}
		put16(sb + 86, v);
		return 0;
	case MK_CRAFT_ZERO_BLOCKS:
		put32(slot0 + 64, 0);
		return 0;
	case MK_CRAFT_HUGE_BLOCKS:
		put32(slot0 + 64, 0xffffffff);
		return 0;
	case MK_CRAFT_CHUNK_PAST_END:
	case MK_CRAFT_BAD_DEVICE_ID:
		f = mk_first_data_file(l);
		if (!f) {
			mk_err("--craft needs a non-empty regular file in the image");
			return -1;
		}
		idx = l->buf + l->meta_blkaddr * MK_BLKSZ + f->nid * EROFS_ISLOT_SIZE +
		      (f->extended ? EROFS_INODE_EXTENDED_SIZE : EROFS_INODE_COMPACT_SIZE);
		if (img->opt->craft == MK_CRAFT_CHUNK_PAST_END) {
			u64 end = img->layers[f->layer].blocks;

			put32(idx + 4, end);
			mk_note("craft chunk-past-end: %s chunk 0 -> device %u block %llu (blob has %llu blocks)",
				mk_node_path(f), img->layers[f->layer].slot + 1,
				(unsigned long long)end, (unsigned long long)end);
			return 0;
		}
		v = img->nslots + 1;
		if (arg) {
			char *end;

			v = strtoull(arg, &end, 0);
			if (*end || v > 0xffff) {
				mk_err("--craft bad-device-id=ID needs ID <= 65535");
				return -1;
			}
		}
		put16(idx + 2, v);
		mk_note("craft bad-device-id: %s chunk 0 -> device_id %llu (extra_devices %u)",
			mk_node_path(f), v, img->nslots);
		/* erofs_map_blocks() masks device_id, see erofs_scan_devices() */
		mask = 1;
		while (mask < img->nslots + 1)
			mask <<= 1;
		mask--;
		if ((v & mask) != v)
			mk_note("warning: the kernel masks device_id %llu with 0x%x to %llu%s",
				v, mask, v & mask,
				(v & mask) ? "" : " (the bootstrap itself): no error, wrong data");
		return 0;
	}
	return 0;
}

static int mk_write_file(const char *path, const u8 *buf, u64 len)
{
	char *tmp = mk_zalloc(strlen(path) + 16);
	mode_t um;
	u64 done = 0;
	int fd;

	sprintf(tmp, "%s.tmpXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		mk_err("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	mk_add_cleanup(tmp);
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			mk_err("%s: %s", tmp, w < 0 ? strerror(errno) : "short write");
			goto err;
		}
		done += w;
	}
	um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um)) {
		mk_err("%s: %s", tmp, strerror(errno));
		goto err;
	}
	if (close(fd)) {
		fd = -1;
		mk_err("%s: %s", tmp, strerror(errno));
		goto err;
	}
	fd = -1;
	if (rename(tmp, path)) {
		mk_err("%s: %s", path, strerror(errno));
		goto err;
	}
	mk_forget_cleanup(tmp);
	free(tmp);
	return 0;
err:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	mk_forget_cleanup(tmp);
	free(tmp);
	return -1;
}

int mk_write_bootstrap(struct mk_image *img)
{
	struct mk_layout l = { .img = img };
	u64 table_end, i;
	u8 *sb;
	u32 crc;
	int ret;

	/* a zeroed spare slot follows the table for extra-devices-overflow */
	l.table_slots = img->nslots +
		(img->opt->craft == MK_CRAFT_EXTRA_DEVICES_OVERFLOW);
	table_end = MK_DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE +
		    (u64)l.table_slots * EROFS_DEVT_SLOT_SIZE;
	l.meta_blkaddr = round_up64(table_end, MK_BLKSZ) / MK_BLKSZ;

	mk_collect(&l, img->root);
	if (mk_layout_inodes(&l))
		return -1;
	/* --layer-image: the layer's data follows the metadata */
	if (img->opt->layer_image)
		img->layers[0].base_blk = l.blocks;
	l.buf = calloc(l.blocks, MK_BLKSZ);
	if (!l.buf) {
		mk_err("out of memory for a %llu-block bootstrap",
		       (unsigned long long)l.blocks);
		return -1;
	}

	sb = l.buf + EROFS_SUPER_OFFSET;
	put32(sb + 0, EROFS_SUPER_MAGIC_V1);
	put32(sb + 8, EROFS_FEATURE_COMPAT_SB_CHKSUM);
	sb[12] = MK_BLKSZBITS;
	put16(sb + 14, img->root->nid);
	put64(sb + 16, l.nnodes);
	put64(sb + 24, img->opt->epoch);
	put32(sb + 36, l.blocks + (img->opt->layer_image ? img->layers[0].blocks : 0));
	put32(sb + 40, l.meta_blkaddr);
	put32(sb + 80, EROFS_FEATURE_INCOMPAT_CHUNKED_FILE |
		       (img->nslots ? EROFS_FEATURE_INCOMPAT_DEVICE_TABLE : 0));
	put16(sb + 86, img->nslots);
	put16(sb + 88, MK_DEVT_SLOTOFF);

	for (i = 0; i < img->nslots; i++) {
		u8 *slot = l.buf + (MK_DEVT_SLOTOFF + i) * EROFS_DEVT_SLOT_SIZE;
		struct mk_layer *layer = &img->layers[img->slot_layer[i]];

		memcpy(slot, layer->tag, EROFS_TAG_LEN);	/* no NUL: exactly 64 */
		put32(slot + 64, layer->base_blk + layer->blocks);
	}
	for (i = 0; i < l.nnodes; i++)
		mk_write_inode(&l, l.nodes[i]);

	if (mk_apply_craft(&l, sb))
		goto err;

	if (img->opt->have_uuid) {
		memcpy(sb + 48, img->opt->uuid, 16);
	} else {
		/* name-based: a hash of the image, so it is reproducible too */
		struct mk_sha256 s;
		u8 d[32];

		mk_sha256_init(&s);
		mk_sha256_update(&s, l.buf, l.blocks * MK_BLKSZ);
		mk_sha256_final(&s, d);
		d[6] = (d[6] & 0x0f) | 0x80;	/* RFC 9562 version 8 */
		d[8] = (d[8] & 0x3f) | 0x80;
		memcpy(sb + 48, d, 16);
	}

	/* as erofs_superblock_csum_verify(): block from 1024 on, field zeroed */
	crc = mk_crc32c(~0U, sb, MK_BLKSZ - EROFS_SUPER_OFFSET);
	if (img->opt->craft == MK_CRAFT_BAD_CSUM)
		crc = ~crc;
	put32(sb + 4, crc);

	ret = mk_write_file(img->opt->output, l.buf, l.blocks * MK_BLKSZ);
	free(l.buf);
	return ret;
err:
	free(l.buf);
	return -1;
}
