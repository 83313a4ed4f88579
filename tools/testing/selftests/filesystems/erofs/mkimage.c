// SPDX-License-Identifier: GPL-2.0
/*
 * erofs-mkimage: build one EROFS bootstrap over stacked layer directories.
 *
 * Each layer's file data goes to its own blob, named by the SHA-256 of its
 * content, and that name is the tag of the layer's device slot; the
 * bootstrap holds only metadata.  Identical layers therefore produce the
 * same blob and tag in every image, which is what lets EROFS shared domains
 * open and cache the blob once.
 *
 * Order of work: scan every layer (metadata only), lay out each blob and
 * check the format limits, hash every blob, write the missing blobs, then
 * write the bootstrap.  Nothing is written before all input was read once,
 * and every file is created under a temporary name and renamed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mkimage.h"

#define MK_IOBUF	(1U << 20)

static const char *progname = "erofs-mkimage";

static void mk_vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void mk_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mk_vmsg(fmt, ap);
	va_end(ap);
}

void mk_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mk_vmsg(fmt, ap);
	va_end(ap);
}

void *mk_zalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (!p) {
		mk_err("out of memory");
		exit(1);
	}
	return p;
}

static char *mk_strdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		mk_err("out of memory");
		exit(1);
	}
	return p;
}

static char *mk_path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = mk_zalloc(a + b + 2);

	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b);
	return p;
}

/*
 * Files to unlink if we fail: temporary files, and blobs this run created.
 * The signal handler walks the same fixed array, so it stays
 * async-signal-safe (no allocation happens in it).
 */
#define MK_MAX_CLEANUP	8
static char *cleanup_paths[MK_MAX_CLEANUP];

int mk_add_cleanup(const char *path)
{
	int i;

	for (i = 0; i < MK_MAX_CLEANUP; i++) {
		if (!cleanup_paths[i]) {
			cleanup_paths[i] = mk_strdup(path);
			return 0;
		}
	}
	return -1;
}

void mk_forget_cleanup(const char *path)
{
	int i;

	for (i = 0; i < MK_MAX_CLEANUP; i++) {
		if (cleanup_paths[i] && !strcmp(cleanup_paths[i], path)) {
			free(cleanup_paths[i]);
			cleanup_paths[i] = NULL;
		}
	}
}

static void mk_run_cleanup(void)
{
	int i;

	for (i = 0; i < MK_MAX_CLEANUP; i++)
		if (cleanup_paths[i])
			unlink(cleanup_paths[i]);
}

static void mk_on_signal(int sig)
{
	mk_run_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Blobs created by this run, removed again if a later step fails. */
static char **created_blobs;
static unsigned int ncreated;

static void mk_remove_created_blobs(void)
{
	unsigned int i;

	for (i = 0; i < ncreated; i++)
		unlink(created_blobs[i]);
}

/* ---- scanning a layer ---------------------------------------------- */

static u8 *iobuf;	/* MK_IOBUF bytes of scratch for file reads */

struct mk_scan {
	struct mk_options *opt;
	struct mk_layer *layer;
	unsigned int idx;
	u64 next_blk;		/* blob allocation cursor, in blocks */
};

static int mk_cmp_node(const void *a, const void *b)
{
	const struct mk_node *x = *(struct mk_node * const *)a;
	const struct mk_node *y = *(struct mk_node * const *)b;

	return strcmp(x->name, y->name);
}

static int mk_scan_dir(struct mk_scan *sc, struct mk_node *dir, const char *path);

static int mk_scan_entry(struct mk_scan *sc, struct mk_node *n, const char *path)
{
	struct stat st;

	if (lstat(path, &st)) {
		mk_err("%s: %s", path, strerror(errno));
		return -1;
	}
	n->mode = st.st_mode;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		return mk_scan_dir(sc, n, path);
	case S_IFREG:
		n->size = st.st_size;
		n->path = mk_strdup(path);
		n->layer = sc->idx;
		return 0;
	case S_IFLNK: {
		char buf[PATH_MAX + 1];
		ssize_t len = readlink(path, buf, sizeof(buf));

		if (len < 0) {
			mk_err("%s: %s", path, strerror(errno));
			return -1;
		}
		if (len == 0 || len > PATH_MAX - 1) {
			mk_err("%s: symlink target length %zd unsupported", path, len);
			return -1;
		}
		buf[len] = '\0';
		n->target = mk_strdup(buf);
		n->size = len;
		return 0;
	}
	case S_IFCHR:
	case S_IFBLK:
		n->rdev = st.st_rdev;
		return 0;
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	default:
		mk_err("%s: unsupported file type 0%o", path, st.st_mode & S_IFMT);
		return -1;
	}
}

static int mk_scan_dir(struct mk_scan *sc, struct mk_node *dir, const char *path)
{
	unsigned int cap = 0, i;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = opendir(path);
	if (!d) {
		mk_err("%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		struct mk_node *n;
		size_t len;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				mk_err("%s: %s", path, strerror(errno));
				ret = -1;
			}
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		len = strlen(de->d_name);
		if (len > EROFS_NAME_LEN) {
			mk_err("%s/%s: name longer than %d bytes", path,
			       de->d_name, EROFS_NAME_LEN);
			ret = -1;
			break;
		}
		if (dir->nkids == cap) {
			cap = cap ? cap * 2 : 8;
			dir->kids = realloc(dir->kids, cap * sizeof(*dir->kids));
			if (!dir->kids) {
				mk_err("out of memory");
				exit(1);
			}
		}
		n = mk_zalloc(sizeof(*n));
		n->name = mk_strdup(de->d_name);
		n->parent = dir;
		dir->kids[dir->nkids++] = n;
	}
	closedir(d);
	if (ret)
		return ret;
	qsort(dir->kids, dir->nkids, sizeof(*dir->kids), mk_cmp_node);
	for (i = 0; i < dir->nkids; i++) {
		char *p = mk_path_join(path, dir->kids[i]->name);

		ret = mk_scan_entry(sc, dir->kids[i], p);
		free(p);
		if (ret)
			return ret;
	}
	return 0;
}

/* Up to @len bytes of @n into iobuf, retried on EINTR: 0 at EOF, -1 (said) on error. */
static ssize_t mk_read_some(int in, const struct mk_node *n, size_t len)
{
	ssize_t r;

	do
		r = read(in, iobuf, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		mk_err("%s: %s", n->path, strerror(errno));
	return r;
}

static bool mk_all_zero(const u8 *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/*
 * --holes: read @n and note which of its chunks are all zeros in
 * n->chunk_blk (MK_HOLE, else 0 for now).  The last chunk counts up to
 * the end of the file.
 */
static int mk_find_holes(struct mk_scan *sc, struct mk_node *n)
{
	u64 csz = (u64)MK_BLKSZ << sc->opt->chunkbits;
	u64 nchunks = (n->size + csz - 1) / csz, done = 0;
	int in;

	n->chunk_blk = mk_zalloc(nchunks * sizeof(*n->chunk_blk));
	in = open(n->path, O_RDONLY | O_NOFOLLOW);
	if (in < 0) {
		mk_err("%s: %s", n->path, strerror(errno));
		return -1;
	}
	while (done < n->size) {
		u64 k = done / csz, end = (k + 1) * csz;
		size_t want;
		ssize_t r;

		if (end > n->size)
			end = n->size;
		want = end - done > MK_IOBUF ? MK_IOBUF : end - done;
		r = mk_read_some(in, n, want);
		if (r < 0) {
			close(in);
			return -1;
		}
		if (r == 0) {
			mk_err("%s: file changed size while reading", n->path);
			close(in);
			return -1;
		}
		if (done == k * csz)
			n->chunk_blk[k] = MK_HOLE;
		if (!mk_all_zero(iobuf, r))
			n->chunk_blk[k] = 0;
		done += r;
	}
	close(in);
	return 0;
}

/*
 * Place the regular files of a layer in its blob: sorted depth-first order,
 * each file starting on a chunk boundary, so a blob depends only on the
 * content of its layer.  With --holes, the chunks of a file that hold data
 * follow each other and its all-zero chunks take no room at all.
 */
static int mk_layout_blob(struct mk_scan *sc, struct mk_node *dir)
{
	u64 chunkblks = 1ULL << sc->opt->chunkbits;
	unsigned int i;

	for (i = 0; i < dir->nkids; i++) {
		struct mk_node *n = dir->kids[i];

		if (S_ISDIR(n->mode)) {
			if (mk_layout_blob(sc, n))
				return -1;
			continue;
		}
		if (!S_ISREG(n->mode) || !n->size)
			continue;
		sc->next_blk = (sc->next_blk + chunkblks - 1) & ~(chunkblks - 1);
		n->blob_blk = sc->next_blk;
		if (sc->opt->holes) {
			u64 nblks = (n->size + MK_BLKSZ - 1) >> MK_BLKSZBITS, k;
			u64 start = sc->next_blk;

			if (mk_find_holes(sc, n))
				return -1;
			for (k = 0; k * chunkblks < nblks; k++) {
				if (n->chunk_blk[k] == MK_HOLE)
					continue;
				n->chunk_blk[k] = sc->next_blk;
				sc->next_blk += nblks - k * chunkblks < chunkblks ?
						nblks - k * chunkblks : chunkblks;
			}
			if (sc->next_blk == start)
				continue;	/* only holes: nothing in the blob */
		} else {
			sc->next_blk += (n->size + MK_BLKSZ - 1) >> MK_BLKSZBITS;
		}
		if (!(sc->layer->nfiles & (sc->layer->nfiles + 1))) {
			sc->layer->files = realloc(sc->layer->files,
					(sc->layer->nfiles + 1) * 2 * sizeof(struct mk_node *));
			if (!sc->layer->files) {
				mk_err("out of memory");
				exit(1);
			}
		}
		sc->layer->files[sc->layer->nfiles++] = n;
		if (sc->next_blk > MK_MAX_BLOCKS) {
			mk_err("%s: layer data exceeds the format limit of %llu blocks (16 TiB) per blob",
			       sc->layer->dir, (unsigned long long)MK_MAX_BLOCKS);
			return -1;
		}
	}
	return 0;
}

static int mk_scan_layer(struct mk_options *opt, struct mk_layer *layer,
			 unsigned int idx)
{
	struct mk_scan sc = { .opt = opt, .layer = layer, .idx = idx };
	struct stat st;

	if (stat(layer->dir, &st)) {
		mk_err("%s: %s", layer->dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		mk_err("%s: not a directory", layer->dir);
		return -1;
	}
	layer->root = mk_zalloc(sizeof(*layer->root));
	layer->root->name = mk_strdup("");
	layer->root->mode = st.st_mode;
	if (mk_scan_dir(&sc, layer->root, layer->dir))
		return -1;
	if (mk_layout_blob(&sc, layer->root))
		return -1;
	layer->blocks = sc.next_blk;
	layer->chunk_bytes = (u64)MK_BLKSZ << opt->chunkbits;
	return 0;
}

/* ---- stacking ----------------------------------------------------- */

static bool mk_is_whiteout(const struct mk_node *n)
{
	return S_ISCHR(n->mode) && n->rdev == makedev(0, 0);
}

static void mk_drop_whiteouts(struct mk_node *dir)
{
	unsigned int i, n = 0;

	for (i = 0; i < dir->nkids; i++) {
		if (mk_is_whiteout(dir->kids[i]))
			continue;
		if (S_ISDIR(dir->kids[i]->mode))
			mk_drop_whiteouts(dir->kids[i]);
		dir->kids[n++] = dir->kids[i];
	}
	dir->nkids = n;
}

/*
 * Merge directory @up over @low (later layer over earlier one): same names
 * in both go to @up, except that two directories merge recursively; an
 * overlayfs whiteout (0/0 character device) hides the name.  Both child
 * arrays are sorted, so this is one linear merge per directory.
 */
static void mk_merge_dir(struct mk_node *low, struct mk_node *up)
{
	struct mk_node **out;
	unsigned int i = 0, j = 0, n = 0;

	out = mk_zalloc((low->nkids + up->nkids) * sizeof(*out));
	while (i < low->nkids || j < up->nkids) {
		struct mk_node *a = i < low->nkids ? low->kids[i] : NULL;
		struct mk_node *b = j < up->nkids ? up->kids[j] : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);

		if (c < 0) {
			out[n++] = a;
			i++;
			continue;
		}
		j++;
		if (!c)
			i++;
		if (mk_is_whiteout(b))
			continue;
		if (!c && S_ISDIR(a->mode) && S_ISDIR(b->mode)) {
			mk_merge_dir(a, b);
			a->mode = b->mode;
			out[n++] = a;
		} else {
			if (S_ISDIR(b->mode))
				mk_drop_whiteouts(b);
			b->parent = low;
			out[n++] = b;
		}
	}
	free(low->kids);
	low->kids = out;
	low->nkids = n;
}

/* ---- blobs -------------------------------------------------------- */

/* Append zeros to the blob up to byte @want. */
static int mk_pad_blob(struct mk_sha256 *s, int fd, u64 *pos, u64 want)
{
	while (*pos < want) {
		size_t k = want - *pos > MK_IOBUF ? MK_IOBUF : want - *pos;

		memset(iobuf, 0, k);
		mk_sha256_update(s, iobuf, k);
		if (fd >= 0 && write(fd, iobuf, k) != (ssize_t)k)
			return -1;
		*pos += k;
	}
	return 0;
}

/*
 * Append file @n, preceded by zero padding up to its first block.  With
 * --holes (n->chunk_blk), each chunk with data goes to its own block and
 * the bytes of a hole are read, checked to be still zero, and skipped.
 */
static int mk_stream_file(struct mk_node *n, u64 csz, struct mk_sha256 *s,
			  int fd, u64 *pos)
{
	u64 done = 0, k;
	int in;

	in = open(n->path, O_RDONLY | O_NOFOLLOW);
	if (in < 0) {
		mk_err("%s: %s", n->path, strerror(errno));
		return -1;
	}
	for (k = 0; done < n->size; k++) {
		u64 end = n->size, want = n->blob_blk << MK_BLKSZBITS;
		bool hole = false;

		if (n->chunk_blk) {
			end = (k + 1) * csz;
			if (end > n->size)
				end = n->size;
			hole = n->chunk_blk[k] == MK_HOLE;
			want = n->chunk_blk[k] << MK_BLKSZBITS;
		}
		if (!hole && mk_pad_blob(s, fd, pos, want)) {
			close(in);
			goto write_err;
		}
		while (done < end) {
			size_t len = end - done > MK_IOBUF ? MK_IOBUF : end - done;
			ssize_t r = mk_read_some(in, n, len);

			if (r < 0) {
				close(in);
				return -1;
			}
			if (r == 0)
				break;
			done += r;
			if (hole) {
				if (!mk_all_zero(iobuf, r)) {
					mk_err("%s: a hole got data while reading", n->path);
					close(in);
					return -1;
				}
				continue;
			}
			mk_sha256_update(s, iobuf, r);
			if (fd >= 0 && write(fd, iobuf, r) != r) {
				close(in);
				goto write_err;
			}
			*pos += r;
		}
		if (done < end)
			break;		/* shrank: caught below */
	}
	if (done != n->size || read(in, iobuf, 1) != 0)
		goto changed;
	close(in);
	return 0;
changed:
	mk_err("%s: file changed size while reading", n->path);
	close(in);
	return -1;
write_err:
	mk_err("writing blob: %s", strerror(errno ? errno : ENOSPC));
	return -1;
}

/*
 * Stream the blob of @layer (zero padding + file data, block-padded) into
 * @fd if fd >= 0, and compute its SHA-256 into @digest.  The layer's file
 * list is used, not its tree, which stacking rewrites.
 */
static int mk_stream_blob(struct mk_layer *layer, int fd, u8 digest[32])
{
	struct mk_sha256 s;
	u64 pos = 0, end = layer->blocks << MK_BLKSZBITS, i;

	mk_sha256_init(&s);
	for (i = 0; i < layer->nfiles; i++)
		if (mk_stream_file(layer->files[i], layer->chunk_bytes, &s, fd, &pos))
			return -1;
	if (pos < end) {	/* pad the last block */
		memset(iobuf, 0, end - pos);
		mk_sha256_update(&s, iobuf, end - pos);
		if (fd >= 0 && write(fd, iobuf, end - pos) != (ssize_t)(end - pos)) {
			mk_err("writing blob: %s", strerror(errno ? errno : ENOSPC));
			return -1;
		}
	}
	mk_sha256_final(&s, digest);
	return 0;
}

static void mk_hex(const u8 *d, unsigned int n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static mode_t mk_file_mode(void)
{
	mode_t um = umask(0);

	umask(um);
	return 0666 & ~um;
}

/* Write the blob of @layer unless a blob with its name already exists. */
static int mk_write_blob(struct mk_options *opt, struct mk_layer *layer)
{
	char *final = mk_path_join(opt->blobdir, layer->tag);
	char *tmp = mk_zalloc(strlen(final) + 16);
	u8 digest[32];
	char tag[EROFS_TAG_LEN + 1];
	struct stat st;
	int fd;

	if (!stat(final, &st)) {
		if (!S_ISREG(st.st_mode) ||
		    (u64)st.st_size != layer->blocks << MK_BLKSZBITS) {
			mk_err("%s exists but is not the expected blob (size %lld, want %llu)",
			       final, (long long)st.st_size,
			       (unsigned long long)(layer->blocks << MK_BLKSZBITS));
			goto err;
		}
		free(final);
		free(tmp);
		return 0;	/* content-addressed: same name, same bytes */
	}

	sprintf(tmp, "%s.tmpXXXXXX", final);
	fd = mkstemp(tmp);
	if (fd < 0) {
		mk_err("%s: %s", tmp, strerror(errno));
		goto err;
	}
	mk_add_cleanup(tmp);
	if (mk_stream_blob(layer, fd, digest) || fchmod(fd, mk_file_mode())) {
		close(fd);
		goto err_unlink;
	}
	if (close(fd)) {
		mk_err("%s: %s", tmp, strerror(errno));
		goto err_unlink;
	}
	mk_hex(digest, 32, tag);
	if (strcmp(tag, layer->tag)) {
		mk_err("%s: layer changed while building the image", layer->dir);
		goto err_unlink;
	}
	if (rename(tmp, final)) {
		mk_err("%s: %s", final, strerror(errno));
		goto err_unlink;
	}
	mk_forget_cleanup(tmp);
	created_blobs = realloc(created_blobs, (ncreated + 1) * sizeof(char *));
	if (!created_blobs) {
		mk_err("out of memory");
		exit(1);
	}
	created_blobs[ncreated++] = final;
	free(tmp);
	return 0;

err_unlink:
	unlink(tmp);
	mk_forget_cleanup(tmp);
err:
	free(final);
	free(tmp);
	return -1;
}

/* ---- device slots -------------------------------------------------- */

static struct mk_layer *sort_layers;

static int mk_cmp_tag(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;
	int c = strcmp(sort_layers[x].tag, sort_layers[y].tag);

	return c ? c : (x > y) - (x < y);
}

/*
 * One device slot per distinct blob, in order of first use.  Layers with
 * identical data (the same directory twice, or layers without file data,
 * which all have the empty blob) share a slot: two slots with the same tag
 * would collide as fscache cookies of one volume.
 */
static int mk_assign_slots(struct mk_image *img)
{
	unsigned int n = img->nlayers, i;
	unsigned int *order = mk_zalloc(n * sizeof(*order));
	unsigned int *rep = mk_zalloc(n * sizeof(*rep));

	for (i = 0; i < n; i++)
		order[i] = i;
	sort_layers = img->layers;
	qsort(order, n, sizeof(*order), mk_cmp_tag);
	for (i = 0; i < n; i++) {
		bool same = i && !strcmp(img->layers[order[i]].tag,
					 img->layers[order[i - 1]].tag);

		rep[order[i]] = same ? rep[order[i - 1]] : order[i];
	}
	img->slot_layer = mk_zalloc(n * sizeof(*img->slot_layer));
	img->nslots = 0;
	for (i = 0; i < n; i++) {
		if (rep[i] == i)
			img->slot_layer[img->layers[i].slot = img->nslots++] = i;
		else
			img->layers[i].slot = img->layers[rep[i]].slot;
	}
	free(order);
	free(rep);
	if (img->nslots > MK_MAX_DEVICES) {
		mk_err("%u distinct layer blobs exceed the format limit of %u devices",
		       img->nslots, MK_MAX_DEVICES);
		return -1;
	}
	return 0;
}

/* ---- command line ------------------------------------------------- */

static int mk_parse_u64(const char *what, const char *s, u64 *out);

/* --layer-blob I=NAME@BLK */
static int mk_parse_layer_blob(struct mk_options *opt, const char *s)
{
	const char *eq = strchr(s, '='), *at = strrchr(s, '@');
	char *end;
	long i;

	errno = 0;
	i = strtol(s, &end, 10);
	if (!eq || !at || at < eq || end != eq || i < 0 || i > 65535 ||
	    at - eq - 1 < 1 || at - eq - 1 > EROFS_TAG_LEN ||
	    mk_parse_u64("--layer-blob block", at + 1, &opt->ext_blk)) {
		mk_err("--layer-blob %s: want I=NAME@BLK, NAME 1..%d bytes",
		       s, EROFS_TAG_LEN);
		return -1;
	}
	opt->ext_layer = i;
	opt->ext_name = mk_zalloc(at - eq);
	memcpy((char *)opt->ext_name, eq + 1, at - eq - 1);
	return 0;
}

/* --layer-image: append the layer's data after the metadata just written. */
static int mk_append_layer(struct mk_options *opt, struct mk_layer *layer)
{
	int fd = open(opt->output, O_WRONLY | O_APPEND | O_CLOEXEC);
	u8 digest[32];

	if (fd < 0) {
		mk_err("%s: %s", opt->output, strerror(errno));
		return -1;
	}
	if (mk_stream_blob(layer, fd, digest) || close(fd)) {
		mk_err("%s: writing the layer data failed", opt->output);
		return -1;
	}
	mk_note("layer image %s: data at block %llu, %llu blocks", opt->output,
		(unsigned long long)layer->base_blk,
		(unsigned long long)layer->blocks);
	return 0;
}

static const struct {
	const char *name;
	enum mk_craft kind;
	bool arg;	/* takes =ARG (optional or required) */
	const char *help;
} mk_crafts[] = {
	{ "empty-tag", MK_CRAFT_EMPTY_TAG, false,
	  "first device slot's tag is all zeros" },
	{ "dup-tag", MK_CRAFT_DUP_TAG, false,
	  "slot 1 gets slot 0's tag (needs >= 2 distinct layers)" },
	{ "tag-is-fsid", MK_CRAFT_TAG_IS_FSID, true,
	  "=NAME: slot 0's tag is NAME (e.g. the image's own fsid)" },
	{ "extra-devices-overflow", MK_CRAFT_EXTRA_DEVICES_OVERFLOW, true,
	  "[=N]: extra_devices = N (default: slots + 1; a zeroed slot follows the table)" },
	{ "zero-blocks", MK_CRAFT_ZERO_BLOCKS, false,
	  "slot 0 has blocks = 0" },
	{ "huge-blocks", MK_CRAFT_HUGE_BLOCKS, false,
	  "slot 0 has blocks = 0xffffffff" },
	{ "chunk-past-end", MK_CRAFT_CHUNK_PAST_END, false,
	  "first chunk of the first non-empty file points at its blob's end" },
	{ "bad-device-id", MK_CRAFT_BAD_DEVICE_ID, true,
	  "[=ID]: first chunk of the first non-empty file has device_id ID (default extra_devices + 1)" },
	{ "bad-csum", MK_CRAFT_BAD_CSUM, false,
	  "superblock checksum is wrong" },
};

static void mk_usage(FILE *f)
{
	fprintf(f,
"Usage: %s [OPTIONS] -b BLOBDIR -o BOOTSTRAP LAYERDIR...\n"
"\n"
"Build an EROFS image for fscache (on-demand) mounts from stacked layer\n"
"directories.  Later layers win on the same path; directories merge.\n"
"\n"
"Writes:\n"
"  BLOBDIR/<sha256>  one data blob per layer: the layer's file data, each\n"
"                    file on a chunk boundary; an existing blob of that\n"
"                    name is reused, not rewritten\n"
"  BOOTSTRAP         the metadata image; its device table lists the blobs,\n"
"                    the slot tag being the blob's 64-char name\n"
"\n"
"Options:\n"
"  -b BLOBDIR        directory for the layer blobs (must exist)\n"
"  -o BOOTSTRAP      bootstrap image to write\n"
"  -c CHUNKSIZE      chunk size in bytes, a power of two >= 4096\n"
"                    (suffix K/M/G allowed; default 4096)\n"
"  -T EPOCH          timestamp of every inode and of the image, in seconds\n"
"                    (default: $SOURCE_DATE_EPOCH, else 0)\n"
"  -U UUID           volume UUID (default: derived from the content)\n"
"  --craft KIND[=ARG]  write a deliberately malformed image for negative\n"
"                    tests; --craft help lists the kinds\n"
"  --layer-image     one LAYERDIR only: write BOOTSTRAP as a complete image\n"
"                    with the layer's data (its blob bytes) appended after\n"
"                    the metadata, chunks on device 0, no device table;\n"
"                    nothing goes to BLOBDIR; prints the data's first block\n"
"  --layer-blob I=NAME@BLK  layer I (0-based) is read from the blob NAME\n"
"                    (1..64 bytes, e.g. a --layer-image image) starting at\n"
"                    its block BLK; no blob is written for it\n"
"  --holes           every all-zero chunk of a regular file is a hole: its\n"
"                    chunk index is EROFS_NULL_ADDR and no blob bytes\n"
"  -h, --help        this text\n"
"\n"
"Same inputs, -T and -U give byte-identical outputs.\n"
"Example:\n"
"  %s -T 1700000000 -b blobs -o blobs/bootA base/ app/\n"
"  mount -t erofs none /mnt -o fsid=bootA   (daemon serves BLOBDIR)\n",
		progname, progname);
}

static void mk_craft_help(void)
{
	unsigned int i;

	printf("Kinds for --craft:\n");
	for (i = 0; i < ARRAY_SIZE(mk_crafts); i++)
		printf("  %-24s %s\n", mk_crafts[i].name, mk_crafts[i].help);
}

static int mk_parse_craft(struct mk_options *opt, const char *s)
{
	const char *eq = strchr(s, '=');
	size_t len = eq ? (size_t)(eq - s) : strlen(s);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mk_crafts); i++) {
		if (strlen(mk_crafts[i].name) != len ||
		    strncmp(mk_crafts[i].name, s, len))
			continue;
		if (eq && !mk_crafts[i].arg) {
			mk_err("--craft %s takes no argument", mk_crafts[i].name);
			return -1;
		}
		if (mk_crafts[i].kind == MK_CRAFT_TAG_IS_FSID &&
		    (!eq || !eq[1] || strlen(eq + 1) > EROFS_TAG_LEN)) {
			mk_err("--craft tag-is-fsid=NAME needs a NAME of 1..64 bytes");
			return -1;
		}
		opt->craft = mk_crafts[i].kind;
		opt->craft_arg = eq ? eq + 1 : NULL;
		return 0;
	}
	mk_err("unknown --craft kind '%.*s' (try --craft help)", (int)len, s);
	return -1;
}

static int mk_parse_chunksize(struct mk_options *opt, const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (errno || *end || v < MK_BLKSZ || (v & (v - 1))) {
		mk_err("invalid chunk size '%s': need a power of two >= %u", s, MK_BLKSZ);
		return -1;
	}
	opt->chunkbits = __builtin_ctzll(v) - MK_BLKSZBITS;
	/* chunk bits are 5 bits in the format; blkaddr is 32 bits anyway */
	if (opt->chunkbits > 31) {
		mk_err("chunk size '%s' exceeds the format limit", s);
		return -1;
	}
	return 0;
}

static int mk_parse_u64(const char *what, const char *s, u64 *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-') {
		mk_err("invalid %s '%s'", what, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int mk_parse_uuid(struct mk_options *opt, const char *s)
{
	unsigned int n = 0;
	const char *p;

	for (p = s; *p; p++) {
		int v;

		if (*p == '-')
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			break;
		if (n >= 32)
			break;
		opt->uuid[n / 2] = (opt->uuid[n / 2] << 4) | v;
		n++;
	}
	if (*p || n != 32) {
		mk_err("invalid UUID '%s'", s);
		return -1;
	}
	opt->have_uuid = true;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "craft", required_argument, NULL, 'C' },
		{ "layer-image", no_argument, NULL, 'L' },
		{ "layer-blob", required_argument, NULL, 'X' },
		{ "holes", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mk_options opt = { .ext_layer = -1 };
	struct mk_image img = { .opt = &opt };
	const char *env;
	unsigned int i;
	struct stat st;
	int c;

	env = getenv("SOURCE_DATE_EPOCH");
	if (env && mk_parse_u64("SOURCE_DATE_EPOCH", env, &opt.epoch))
		return 2;
	while ((c = getopt_long(argc, argv, "b:c:ho:T:U:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			opt.blobdir = optarg;
			break;
		case 'o':
			opt.output = optarg;
			break;
		case 'c':
			if (mk_parse_chunksize(&opt, optarg))
				return 2;
			break;
		case 'T':
			if (mk_parse_u64("epoch", optarg, &opt.epoch))
				return 2;
			break;
		case 'U':
			if (mk_parse_uuid(&opt, optarg))
				return 2;
			break;
		case 'C':
			if (!strcmp(optarg, "help")) {
				mk_craft_help();
				return 0;
			}
			if (mk_parse_craft(&opt, optarg))
				return 2;
			break;
		case 'L':
			opt.layer_image = true;
			break;
		case 'H':
			opt.holes = true;
			break;
		case 'X':
			if (mk_parse_layer_blob(&opt, optarg))
				return 2;
			break;
		case 'h':
			mk_usage(stdout);
			return 0;
		default:
			mk_usage(stderr);
			return 2;
		}
	}
	if (!opt.blobdir || !opt.output || optind >= argc) {
		mk_err("need -b BLOBDIR, -o BOOTSTRAP and at least one LAYERDIR (see -h)");
		return 2;
	}
	if (opt.layer_image && (argc - optind != 1 || opt.craft ||
				opt.ext_layer >= 0)) {
		mk_err("--layer-image takes exactly one LAYERDIR, no --craft, no --layer-blob");
		return 2;
	}
	if (opt.holes && opt.craft) {
		mk_err("--holes and --craft don't mix (a craft edits chunk 0, which may be a hole)");
		return 2;
	}
	if (opt.ext_layer >= argc - optind) {
		mk_err("--layer-blob: there is no layer %d", opt.ext_layer);
		return 2;
	}
	if (stat(opt.blobdir, &st)) {
		mk_err("%s: %s", opt.blobdir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		mk_err("%s: not a directory", opt.blobdir);
		return 1;
	}

	img.nlayers = argc - optind;
	img.layers = mk_zalloc(img.nlayers * sizeof(*img.layers));
	iobuf = mk_zalloc(MK_IOBUF);
	signal(SIGINT, mk_on_signal);
	signal(SIGTERM, mk_on_signal);
	signal(SIGHUP, mk_on_signal);

	/* 1: read all metadata and lay out the blobs; nothing written yet */
	for (i = 0; i < img.nlayers; i++) {
		img.layers[i].dir = argv[optind + i];
		if (mk_scan_layer(&opt, &img.layers[i], i))
			return 1;
	}
	/* 2: name every blob by its content */
	for (i = 0; i < img.nlayers; i++) {
		u8 digest[32];

		if (mk_stream_blob(&img.layers[i], -1, digest))
			return 1;
		mk_hex(digest, 32, img.layers[i].tag);
	}
	if (opt.ext_layer >= 0) {
		struct mk_layer *x = &img.layers[opt.ext_layer];

		memset(x->tag, 0, sizeof(x->tag));
		memcpy(x->tag, opt.ext_name, strlen(opt.ext_name));
		x->base_blk = opt.ext_blk;
		x->external = true;
	}
	if (mk_assign_slots(&img))
		return 1;
	if (opt.layer_image)
		img.nslots = 0;		/* no device table: the data is inside */

	/* 3: stack the layers */
	img.root = img.layers[0].root;
	mk_drop_whiteouts(img.root);
	for (i = 1; i < img.nlayers; i++) {
		mk_merge_dir(img.root, img.layers[i].root);
		img.root->mode = img.layers[i].root->mode;
	}

	/* 4: write what is missing, then the bootstrap */
	for (i = 0; i < img.nslots; i++) {
		if (img.layers[img.slot_layer[i]].external)
			continue;
		if (mk_write_blob(&opt, &img.layers[img.slot_layer[i]]))
			goto fail;
	}
	if (mk_write_bootstrap(&img))
		goto fail;
	if (opt.layer_image && mk_append_layer(&opt, &img.layers[0]))
		goto fail;
	return 0;
fail:
	mk_run_cleanup();
	mk_remove_created_blobs();
	return 1;
}
