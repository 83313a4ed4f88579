/* SPDX-License-Identifier: GPL-2.0 */
/*
 * erofs-mkimage: build one EROFS bootstrap over stacked layer directories,
 * with the file data of each layer in its own content-addressed blob.
 */
#ifndef MKIMAGE_H
#define MKIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define __printf(a, b)	__attribute__((format(printf, a, b)))

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* On-disk constants, from fs/erofs/erofs_fs.h of the 6.12 tree. */
#define EROFS_SUPER_MAGIC_V1		0xE0F5E1E2
#define EROFS_SUPER_OFFSET		1024
#define EROFS_SB_SIZE			128
#define EROFS_FEATURE_COMPAT_SB_CHKSUM	0x00000001
#define EROFS_FEATURE_INCOMPAT_CHUNKED_FILE	0x00000004
#define EROFS_FEATURE_INCOMPAT_DEVICE_TABLE	0x00000008
#define EROFS_DEVT_SLOT_SIZE		128
#define EROFS_ISLOT_SIZE		32
#define EROFS_INODE_COMPACT_SIZE	32
#define EROFS_INODE_EXTENDED_SIZE	64
#define EROFS_INODE_LAYOUT_COMPACT	0
#define EROFS_INODE_LAYOUT_EXTENDED	1
#define EROFS_INODE_FLAT_PLAIN		0
#define EROFS_INODE_FLAT_INLINE		2
#define EROFS_INODE_CHUNK_BASED		4
#define EROFS_CHUNK_FORMAT_BLKBITS_MASK	0x001F
#define EROFS_CHUNK_FORMAT_INDEXES	0x0020
#define EROFS_CHUNK_INDEX_SIZE		8
#define EROFS_DIRENT_SIZE		12
#define EROFS_NAME_LEN			255
#define EROFS_NULL_ADDR			0xffffffffU	/* chunk index of a hole */
#define EROFS_TAG_LEN			64

#define MK_BLKSZBITS	12
#define MK_BLKSZ	(1U << MK_BLKSZBITS)
/* the device table starts right after the superblock: 1152 = 9 * 128 */
#define MK_DEVT_SLOTOFF	((EROFS_SUPER_OFFSET + EROFS_SB_SIZE) / EROFS_DEVT_SLOT_SIZE)
#define MK_MAX_DEVICES	65535U		/* extra_devices and device_id are u16 */
#define MK_MAX_BLOCKS	0xffffffffULL	/* blkaddr and blocks are u32 */
#define MK_HOLE		UINT64_MAX	/* chunk_blk[] of an all-zero chunk */

/* file types in dirents (FT_* of the VFS) */
enum {
	EROFS_FT_UNKNOWN, EROFS_FT_REG_FILE, EROFS_FT_DIR, EROFS_FT_CHRDEV,
	EROFS_FT_BLKDEV, EROFS_FT_FIFO, EROFS_FT_SOCK, EROFS_FT_SYMLINK,
};

/* One entry of a layer tree, and later of the stacked tree. */
struct mk_node {
	char *name;
	mode_t mode;
	u64 size;		/* regular file bytes, or symlink target length */
	u64 rdev;
	char *target;		/* symlink target */
	char *path;		/* source path of a regular file */
	unsigned int layer;	/* layer holding a regular file's data */
	u64 blob_blk;		/* first block of the file in the layer blob */
	u64 *chunk_blk;		/* --holes: blob block of each chunk, or MK_HOLE */
	struct mk_node **kids;	/* directories: sorted by name */
	unsigned int nkids;
	struct mk_node *parent;

	/* bootstrap layout */
	u64 nid;
	u32 ino;
	u32 nlink;
	u64 dsize;		/* directory data size */
	u64 dblk;		/* first bootstrap block of non-inline data */
	u8 datalayout;
	bool extended;
	u32 inline_len;
	u64 meta_len;		/* inode + inline tail or chunk indexes */
};

struct mk_layer {
	const char *dir;
	struct mk_node *root;
	u64 blocks;		/* blob size in blocks */
	u64 chunk_bytes;	/* chunk size */
	struct mk_node **files;	/* regular files with data, in blob order */
	u64 nfiles;
	char tag[EROFS_TAG_LEN + 1];
	unsigned int slot;	/* device slot (layers with one blob share it) */
	u64 base_blk;		/* where the layer's data starts in its blob */
	bool external;		/* --layer-blob: the blob is another image */
};

enum mk_craft {
	MK_CRAFT_NONE,
	MK_CRAFT_EMPTY_TAG,
	MK_CRAFT_DUP_TAG,
	MK_CRAFT_TAG_IS_FSID,
	MK_CRAFT_EXTRA_DEVICES_OVERFLOW,
	MK_CRAFT_ZERO_BLOCKS,
	MK_CRAFT_HUGE_BLOCKS,
	MK_CRAFT_CHUNK_PAST_END,
	MK_CRAFT_BAD_DEVICE_ID,
	MK_CRAFT_BAD_CSUM,
};

struct mk_options {
	unsigned int chunkbits;	/* log2 of the chunk size */
	u64 epoch;
	u8 uuid[16];
	bool have_uuid;
	enum mk_craft craft;
	const char *craft_arg;
	const char *blobdir;
	const char *output;
	bool layer_image;	/* --layer-image: data inside the image */
	bool holes;		/* --holes: all-zero chunks are EROFS_NULL_ADDR */
	int ext_layer;		/* --layer-blob I=NAME@BLK: I, or -1 */
	const char *ext_name;
	u64 ext_blk;
};

struct mk_image {
	struct mk_options *opt;
	struct mk_layer *layers;
	unsigned int nlayers;
	unsigned int nslots;
	unsigned int *slot_layer;	/* slot -> first layer using that blob */
	struct mk_node *root;
};

/* mkimage.c */
__printf(1, 2) void mk_err(const char *fmt, ...);
__printf(1, 2) void mk_note(const char *fmt, ...);
void *mk_zalloc(size_t size);
int mk_add_cleanup(const char *path);
void mk_forget_cleanup(const char *path);

/* mkimage_hash.c */
struct mk_sha256 {
	u32 h[8];
	u64 len;
	u8 buf[64];
	unsigned int fill;
};
void mk_sha256_init(struct mk_sha256 *s);
void mk_sha256_update(struct mk_sha256 *s, const void *data, size_t len);
void mk_sha256_final(struct mk_sha256 *s, u8 out[32]);
u32 mk_crc32c(u32 crc, const void *data, size_t len);

/* mkimage_erofs.c */
int mk_write_bootstrap(struct mk_image *img);

#endif /* MKIMAGE_H */
