// SPDX-License-Identifier: GPL-2.0
/*
 * Chunk-based files with holes in fscache mode, in a domain and without.
 *
 * A chunk whose index is EROFS_NULL_ADDR is a hole: erofs_map_blocks()
 * returns it unmapped, and it must read as zeros, while the chunks around
 * it read their data.  In fscache mode one readahead (or read_folio) is
 * cut into slices at extent ends by erofs_fscache_data_read_slice(); a
 * hole slice must end at the end of the hole, not at the end of the
 * request, or a data chunk that follows a hole in the same request reads
 * as zeros.  Only beyond EOF is the rest of the request all zeros.
 *
 * Every file is read three ways and compared byte by byte with its copy:
 *   read()     1 MiB read()s of a cold file (readahead spans chunks);
 *   mmap       its page cache dropped (posix_fadvise(POSIX_FADV_DONTNEED)),
 *              the whole file mapped, read ahead with MADV_WILLNEED, and
 *              compared through the mapping;
 *   dropped    after DONTNEED and drop_caches, 1 MiB read()s again.
 *
 * The mapping is read ahead with MADV_WILLNEED (which drops mmap_lock),
 * and the test waits for the pages to be up to date (with read(), which
 * also reads what that readahead did not cover) before it touches the
 * mapping: on the lockdep kernel a fault on an erofs page that is not up
 * to date in fscache mode reports a circular dependency (vma lock -> the
 * erofs mapping's invalidate_lock -> the ext4 cache file's i_rwsem ->
 * mmap_lock, the last from the daemon's direct-I/O writes of the cache
 * file), an issue of its own, not of holes.  So this way checks what the
 * mapping shows, not the fault path's own readahead.
 *
 * Images: harness/mkdata.d/holes.sh (erofs-mkimage --holes), holes-4k
 * with 4 KiB chunks and holes-64k with 64 KiB chunks, over one tree;
 * expect/<image>/ is that tree, holes.txt "<image> <blob> <data bytes>".
 */
#include "kselftest_harness.h"
#include <sys/mman.h>
#include "erofs_rel.h"

#define MNT		"/mnt/h.a"
#define BUFSZ		(1 << 20)
#define MAXFILES	64

static const char *const himages[] = { "holes-4k", "holes-64k" };

FIXTURE(h) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

FIXTURE_VARIANT(h) {
	const char *domain;
};

FIXTURE_VARIANT_ADD(h, domain) {
	.domain = "hdom",
};

FIXTURE_VARIANT_ADD(h, nodomain) {
	.domain = NULL,
};

/* Size of the data blob of @image and the bytes of its files (holes.txt). */
static int holes_blob(const char *image, long long *blob, long long *bytes)
{
	char line[512], name[128], tag[128], p[PATH_MAX];
	FILE *f = fopen(DATA_DIR "/holes.txt", "re");
	struct stat st;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %127s %lld", name, tag, bytes) != 3 ||
		    strcmp(name, image))
			continue;
		snprintf(p, sizeof(p), BLOB_DIR "/%s", tag);
		ret = stat(p, &st) ? -errno : 0;
		if (!ret)
			*blob = st.st_size;
		break;
	}
	fclose(f);
	return ret;
}

FIXTURE_SETUP(h)
{
	long long blob = 0, bytes = 0;
	unsigned int i;
	struct stat st;
	char p[PATH_MAX];

	for (i = 0; i < ARRAY_SIZE(himages); i++) {
		snprintf(p, sizeof(p), BLOB_DIR "/%s", himages[i]);
		ASSERT_EQ(0, stat(p, &st)) TH_LOG("no image %s (mkdata.d/holes.sh)", p);
		/* the images really have holes: their blobs hold less */
		ASSERT_EQ(0, holes_blob(himages[i], &blob, &bytes))
			TH_LOG("%s: no blob in holes.txt", himages[i]);
		ASSERT_LT(blob, bytes) TH_LOG("%s: blob of %lld bytes for %lld bytes of files: no holes",
					      himages[i], blob, bytes);
	}
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("h", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(h)
{
	char why[256];

	erofs_umount_all("/mnt/h.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

struct file_list {
	size_t top_len;			/* strlen of the walked directory */
	char (*files)[PATH_MAX];
	int n;
};

/* walk_tree() callback: note each regular file, relative to the top. */
static int list_file(const char *path, const struct stat *st, int err, void *arg)
{
	struct file_list *l = arg;

	if (err)
		return err;
	if (!S_ISREG(st->st_mode))
		return 0;
	if (l->n >= MAXFILES)
		return -E2BIG;
	strcpy(l->files[l->n++], path + l->top_len + 1);
	return 0;
}

/* Regular files under @top (relative to it), in readdir order; or -errno. */
static int list_files(const char *top, char files[][PATH_MAX])
{
	struct file_list l = { strlen(top), files, 0 };
	int ret = walk_tree(top, list_file, &l);

	return ret ? ret : l.n;
}

/* The whole of @path in a new buffer (*size bytes), or NULL. */
static char *slurp(const char *path, size_t *size)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc(st.st_size + 1);
	*size = st.st_size;
	if (buf && pread(fd, buf, st.st_size, 0) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	return buf;
}

/*
 * Compare @got (@glen bytes) with @want (@wlen): 0, or 1 with what differs
 * in @why: the first wrong byte and how far the wrong run goes, and
 * whether the wrong bytes are zeros (a hole's zeros spilt over data).
 */
static int differs(const char *want, size_t wlen, const char *got, size_t glen,
		   char *why, size_t size)
{
	size_t i, j, n = wlen < glen ? wlen : glen;
	bool zeros = true;

	for (i = 0; i < n && want[i] == got[i]; i++)
		;
	if (i == n && wlen == glen)
		return 0;
	if (i == n) {
		snprintf(why, size, "%zu bytes read, %zu expected", glen, wlen);
		return 1;
	}
	for (j = i; j < n && want[j] != got[j]; j++)
		zeros &= !got[j];
	snprintf(why, size, "wrong bytes at %zu..%zu (%s) of %zu", i, j - 1,
		 zeros ? "zeros where data is expected" : "not zeros", wlen);
	return 1;
}

/*
 * Wait until every page of @fd's @size bytes is up to date, by reading
 * them (into the scratch @buf): a read waits for a page still being read
 * ahead and reads ahead what is not cached.  0 or -1 with errno.
 */
static int wait_uptodate(int fd, char *buf, size_t size)
{
	size_t off = 0;

	while (off < size) {
		ssize_t r = pread(fd, buf + off, size - off, off);

		if (r < 0)
			return -1;
		if (!r)
			break;
		off += r;
	}
	return 0;
}

enum hway { BY_READ, BY_MMAP, BY_DROPPED };
static const char *const hway_name[] = { "read()", "mmap", "dropped" };

/* Read @path one @way into a new buffer (*len bytes); NULL with errno. */
static char *read_one(const char *path, enum hway way, size_t *len)
{
	char *out = NULL, *m;
	size_t cap = 0;
	struct stat st;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0 || fstat(fd, &st))
		goto fail;
	if (way != BY_READ) {
		/* drop what earlier ways left in the page cache */
		if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
			goto fail;
		if (way == BY_DROPPED)
			drop_caches();
	}
	if (way == BY_MMAP) {
		out = malloc(st.st_size + 1);
		if (!out)
			goto fail;
		if (st.st_size) {
			m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
			if (m == MAP_FAILED)
				goto fail;
			/* readahead of the mapping, before any fault: see top */
			if (madvise(m, st.st_size, MADV_WILLNEED) ||
			    wait_uptodate(fd, out, st.st_size)) {
				munmap(m, st.st_size);
				goto fail;
			}
			memcpy(out, m, st.st_size);
			munmap(m, st.st_size);
		}
		*len = st.st_size;
		close(fd);
		return out;
	}
	for (;;) {
		if (cap - *len < BUFSZ) {
			char *n = realloc(out, cap + BUFSZ);

			if (!n)
				goto fail;
			out = n;
			cap += BUFSZ;
		}
		r = read(fd, out + *len, BUFSZ);
		if (r < 0)
			goto fail;
		if (!r)
			break;
		*len += r;
	}
	close(fd);
	return out;
fail:
	r = errno;
	free(out);
	if (fd >= 0)
		close(fd);
	errno = r;
	return NULL;
}

/*
 * Mount @image, read every file each way in turn (read(), then mmap,
 * then dropped), compare, umount.  Returns the number of bad files.
 */
static int check_image(struct __test_metadata *_metadata, const char *image,
		       const char *domain)
{
	static char files[MAXFILES][PATH_MAX];
	char want_dir[PATH_MAX], p[PATH_MAX], why[256];
	int nfiles, i, w, bad = 0;
	int st;

	snprintf(want_dir, sizeof(want_dir), EXPECT_DIR "/%s", image);
	nfiles = list_files(want_dir, files);
	EXPECT_LT(8, nfiles) TH_LOG("%s: listing %s: %d", image, want_dir, nfiles);
	if (nfiles <= 8)
		return 1;
	st = erofs_mount_bounded(MNT, image, domain, 60000, NULL);
	EXPECT_EQ(0, st) TH_LOG("mount %s: %s", image, strerror(-st));
	if (st)
		return 1;
	for (w = BY_READ; w <= BY_DROPPED; w++) {
		for (i = 0; i < nfiles; i++) {
			size_t wlen = 0, glen = 0;
			char *want, *got;

			want = NULL;
			if (snprintf(p, sizeof(p), "%s/%s", want_dir, files[i]) < (int)sizeof(p))
				want = slurp(p, &wlen);
			EXPECT_NE(NULL, want) TH_LOG("cannot read %s", p);
			if (!want)
				return bad + 1;
			got = NULL;
			errno = ENAMETOOLONG;
			if (snprintf(p, sizeof(p), MNT "/%s", files[i]) < (int)sizeof(p))
				got = read_one(p, w, &glen);
			EXPECT_NE(NULL, got) TH_LOG("%s %s %s: %s", hway_name[w], image,
						    files[i], strerror(errno));
			if (got && differs(want, wlen, got, glen, why, sizeof(why))) {
				bad++;
				TH_LOG("%s %s %s: %s", hway_name[w], image, files[i], why);
			}
			bad += !got;
			free(want);
			free(got);
		}
	}
	EXPECT_EQ(0, erofs_umount(MNT));
	return bad;
}

/* Every file of both images reads byte-exact, cold, then from the cache. */
TEST_F_TIMEOUT(h, holes_read_exact, 600)
{
	unsigned int i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < ARRAY_SIZE(himages); i++) {
			int bad = check_image(_metadata, himages[i], variant->domain);

			EXPECT_EQ(0, bad) TH_LOG("%s (%s): %d wrong reads", himages[i],
						 pass ? "warm cache" : "cold", bad);
		}
	}
}

TEST_HARNESS_MAIN
