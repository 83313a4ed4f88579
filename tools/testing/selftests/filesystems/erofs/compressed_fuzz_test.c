// SPDX-License-Identifier: GPL-2.0
/*
 * Seeded mutations of compressed images in fscache mode.
 *
 * Each case takes one of the compressed images of compressed_test
 * (z-<kind>), changes a few bytes chosen by a seed (the superblock, with
 * its checksum fixed up or not; the on-disk inodes with their compression
 * map headers and indexes; or anywhere, mostly compressed data), serves
 * the result as bootstrap blob zf<seed> and mounts it, in a domain for
 * odd seeds, then reads every file.  Expected: the mount fails with an
 * error, or reads return bytes or an error; never a hang (each case runs
 * in a child with a bounded wait), a kernel report (the log scan catches
 * KASAN/WARN/lockdep), a leak, or damage to a clean image mounted next to
 * the mutated ones.
 *
 * FUZZ=N runs N cases (default 40), FUZZ_SEED=S starts at seed S
 * (default 1): a failing case is reproduced with FUZZ=1 FUZZ_SEED=<seed>.
 * Each case is announced in the kernel log ("zfuzz: seed N ...") before
 * it mounts, so a report names its seed.
 */
#include "kselftest_harness.h"
#include <sys/mman.h>
#include "erofs_rel.h"

#define FUZZ_DIR	"/tmp/zfuzz"
#define MNT		"/mnt/zf.a"
#define MNT_CLEAN	"/mnt/zf.clean"
#define CLEAN_IMAGE	"z-lz4hc-64k"
#define MAX_IMAGE	(8 << 20)
#define MAX_NIDS	256
#define READ_CAP	(4 << 20)	/* bytes read per file at most */
#define MAX_FILES	64		/* files read per case at most */
#define CASE_MS		60000

static const char *const zimages[] = { "z-lz4hc-64k", "z-lz4-4k", "z-lz4hc-tail" };

/* Byte offsets of every on-disk inode of each image, from a clean mount. */
struct zimage {
	unsigned char *buf;
	size_t size;
	unsigned long long nids[MAX_NIDS];
	int nr_nids;
	unsigned int meta_blkaddr;
};

static struct zimage images[ARRAY_SIZE(zimages)];

/* xorshift64*: small, deterministic, the same on every build */
static unsigned long long rnd(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static unsigned int crc32c_update(unsigned int crc, const unsigned char *p,
				  size_t len)
{
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
	}
	return crc;
}

/* The kernel's check: crc32c(~0) over the superblock's block, field zeroed. */
static void fix_sb_checksum(unsigned char *img, size_t size)
{
	unsigned int crc;

	if (size < 4096)
		return;
	memset(img + 1028, 0, 4);
	crc = crc32c_update(~0U, img + 1024, 4096 - 1024);
	img[1028] = crc;
	img[1029] = crc >> 8;
	img[1030] = crc >> 16;
	img[1031] = crc >> 24;
}

static int load_file(const char *path, unsigned char **buf, size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size <= 4096 || st.st_size > MAX_IMAGE) {
		close(fd);
		return -EFBIG;
	}
	*buf = malloc(st.st_size);
	n = *buf ? read(fd, *buf, st.st_size) : -1;
	close(fd);
	if (n != st.st_size)
		return -EIO;
	*size = st.st_size;
	return 0;
}

static int collect_nid(const char *path, const struct stat *st, int err,
		       void *arg)
{
	struct zimage *im = arg;

	(void)path;
	if (!err && im->nr_nids < MAX_NIDS)
		im->nids[im->nr_nids++] = st->st_ino;
	return 0;
}

/* Collect the nids (= inode numbers) of a clean mount of the image. */
static void collect_nids(struct zimage *im, const char *dir)
{
	struct stat st;

	if (!stat(dir, &st) && im->nr_nids < MAX_NIDS)
		im->nids[im->nr_nids++] = st.st_ino;
	walk_tree(dir, collect_nid, im);
}

/*
 * Mutate @img per @seed; describe what was done in @why.  Returns the
 * number of bytes changed.
 */
static int mutate(const struct zimage *im, unsigned char *img,
		  unsigned long long seed, char *why, size_t whysz)
{
	static const unsigned int interesting[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x1000, 0x7fff, 0x8000,
		0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
	};
	unsigned long long s = seed * 0x9e3779b97f4a7c15ULL + 1, off;
	int region = rnd(&s) % 4, n = 1 + rnd(&s) % 6, i, len = 0;
	bool fixcsum = true;

	for (i = 0; i < n; i++) {
		unsigned int kind = rnd(&s) % 4, v, w;

		switch (region) {
		case 0:		/* superblock fields */
			off = 1024 + rnd(&s) % 128;
			if (i == 0 && !(rnd(&s) % 4))
				fixcsum = false;
			break;
		case 1:		/* an inode, its map header and first indexes */
		case 2:
			off = (unsigned long long)im->meta_blkaddr * 4096 +
			      im->nids[rnd(&s) % im->nr_nids] * 32 + rnd(&s) % 160;
			break;
		default:	/* anywhere past the superblock: mostly data */
			off = 4096 + rnd(&s) % (im->size - 4096);
			break;
		}
		if (off + 4 > im->size)
			off = im->size - 4;
		v = interesting[rnd(&s) % ARRAY_SIZE(interesting)];
		switch (kind) {
		case 0:
			img[off] ^= 1 << (rnd(&s) % 8);
			w = 1;
			break;
		case 1:
			img[off] = rnd(&s);
			w = 1;
			break;
		case 2:
			img[off] = v;
			img[off + 1] = v >> 8;
			w = 2;
			break;
		default:
			img[off] = v;
			img[off + 1] = v >> 8;
			img[off + 2] = v >> 16;
			img[off + 3] = v >> 24;
			w = 4;
			break;
		}
		len += snprintf(why + len, whysz - len, "%s%llu/%u", i ? "," : "",
				off, w);
		if ((size_t)len >= whysz)
			len = whysz - 1;
	}
	if (fixcsum)
		fix_sb_checksum(img, im->size);
	snprintf(why + len, whysz - len, " in %s%s",
		 region == 0 ? "superblock" : region < 3 ? "inodes" : "image",
		 region == 0 && !fixcsum ? " (stale checksum)" : "");
	return n;
}

/* Read every file (capped) of the mounted tree; the errors do not matter. */
struct zread {
	int files, errors, bytes_mb;
};

static void read_all(const char *dir, struct zread *r, int depth)
{
	static char buf[65536];
	struct dirent *de;
	DIR *d;

	if (depth > 8 || r->files >= MAX_FILES)
		return;
	d = opendir(dir);
	if (!d) {
		r->errors++;
		return;
	}
	while ((de = readdir(d)) && r->files < MAX_FILES) {
		char p[PATH_MAX];
		struct stat st;
		long long got = 0;
		ssize_t n;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st)) {
			r->errors++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			read_all(p, r, depth + 1);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			if (readlink(p, buf, sizeof(buf)) < 0)
				r->errors++;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		r->files++;
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r->errors++;
			continue;
		}
		while (got < READ_CAP && (n = read(fd, buf, sizeof(buf))) > 0)
			got += n;
		if (got < READ_CAP && n < 0)
			r->errors++;
		r->bytes_mb += got >> 20;
		close(fd);
	}
	closedir(d);
}

struct zcase {
	unsigned long long seed;
	const char *domain;
	char fsid[32];
	int mount_err;		/* out: 0 or errno */
	struct zread r;		/* out */
};

static int case_child(void *arg)
{
	struct zcase *c = arg;
	char opts[128];

	if (c->domain)
		snprintf(opts, sizeof(opts), "fsid=%s,domain_id=%s", c->fsid, c->domain);
	else
		snprintf(opts, sizeof(opts), "fsid=%s", c->fsid);
	c->mount_err = -erofs_mount_opts(MNT, opts);
	if (c->mount_err)
		return 0;
	read_all(MNT, &c->r, 0);
	return umount(MNT) ? 2 : 0;
}

static void kmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void kmsg(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, line, strlen(line)) < 0)
			fprintf(stderr, "# /dev/kmsg: %s\n", strerror(errno));
		close(fd);
	}
	fprintf(stderr, "# %s\n", line);
}

static unsigned long long env_num(const char *name, unsigned long long def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 10);
	return *end || !v ? def : v;
}

FIXTURE(zfuzz) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

FIXTURE_SETUP(zfuzz)
{
	char p[PATH_MAX];
	unsigned int i;

	leak_baseline(&self->base);
	mkdir(FUZZ_DIR, 0755);
	/* the daemon serves the mutated images and the clean ones */
	for (i = 0; i < ARRAY_SIZE(zimages); i++) {
		struct zimage *im = &images[i];
		char dst[PATH_MAX];
		int fd;

		snprintf(p, sizeof(p), BLOB_DIR "/%s", zimages[i]);
		ASSERT_EQ(0, load_file(p, &im->buf, &im->size))
			TH_LOG("no image %s (mkdata.d/compressed.sh)", p);
		im->meta_blkaddr = im->buf[1024 + 40] | im->buf[1024 + 41] << 8 |
				   im->buf[1024 + 42] << 16 |
				   (unsigned int)im->buf[1024 + 43] << 24;
		snprintf(dst, sizeof(dst), FUZZ_DIR "/%s", zimages[i]);
		fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ASSERT_LE(0, fd);
		ASSERT_EQ((ssize_t)im->size, write(fd, im->buf, im->size));
		close(fd);
	}
	ASSERT_EQ(0, fresh_cache_dir("zfuzz", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  FUZZ_DIR, NULL));
	/* the nids of each image, from a clean mount */
	for (i = 0; i < ARRAY_SIZE(zimages); i++) {
		int ret = erofs_mount(MNT, zimages[i], NULL);

		if (!ret) {
			collect_nids(&images[i], MNT);
			ret = erofs_umount(MNT);
		}
		if (!ret && images[i].nr_nids <= 10)
			ret = -ENODATA;
		if (ret)	/* no teardown after a failed setup */
			daemon_stop(&self->daemon);
		ASSERT_EQ(0, ret) TH_LOG("%s: clean mount for the inode list", zimages[i]);
	}
}

FIXTURE_TEARDOWN(zfuzz)
{
	char why[256];
	unsigned int i;

	erofs_umount_all("/mnt/zf.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	for (i = 0; i < ARRAY_SIZE(zimages); i++) {
		free(images[i].buf);
		images[i].buf = NULL;
	}
}

TEST_F_TIMEOUT(zfuzz, zfuzz_mutated_compressed_images, 3600)
{
	unsigned long long first = env_num("FUZZ_SEED", 1);
	unsigned long long count = env_num("FUZZ", 40), seed;
	unsigned char *img = malloc(MAX_IMAGE);
	int mounted = 0, refused = 0, read_errors = 0, files = 0;
	struct zcase *c;
	char why[512], path[PATH_MAX];

	/*
	 * No ASSERT in here: the base tree's harness skips the teardown
	 * (which stops the daemon) when one fails in a test body.
	 */
	c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	EXPECT_TRUE(img && c != MAP_FAILED);
	if (!img || c == MAP_FAILED)
		return;
	/* a clean image in the fuzz domain, checked along the way */
	EXPECT_EQ(0, erofs_mount(MNT_CLEAN, CLEAN_IMAGE, "zfdom"));

	for (seed = first; seed < first + count; seed++) {
		const struct zimage *im = &images[seed % ARRAY_SIZE(zimages)];
		int fd, st;

		memcpy(img, im->buf, im->size);
		mutate(im, img, seed, why, sizeof(why));
		memset(c, 0, sizeof(*c));
		c->seed = seed;
		c->domain = seed & 1 ? "zfdom" : NULL;
		snprintf(c->fsid, sizeof(c->fsid), "zf%llu", seed);
		snprintf(path, sizeof(path), FUZZ_DIR "/%s", c->fsid);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		EXPECT_LE(0, fd);
		if (fd < 0)
			break;
		EXPECT_EQ((ssize_t)im->size, write(fd, img, im->size));
		close(fd);

		kmsg("zfuzz: seed %llu: %s %s: %s", seed,
		     zimages[seed % ARRAY_SIZE(zimages)],
		     c->domain ? "domain" : "no domain", why);
		st = run_child(case_child, c, CASE_MS, NULL);
		EXPECT_EQ(0, st) TH_LOG("seed %llu: %s", seed,
					st == -ETIMEDOUT ? "hung (60 s)" :
					st == 2 ? "umount failed" : "reader died");
		if (st) {
			erofs_umount_all(MNT);
			break;
		}
		if (c->mount_err) {
			refused++;
			TH_LOG("seed %llu: mount: %s", seed, strerror(c->mount_err));
		} else {
			mounted++;
			files += c->r.files;
			read_errors += c->r.errors;
			TH_LOG("seed %llu: mounted, %d files read, %d errors",
			       seed, c->r.files, c->r.errors);
		}
		unlink(path);
		if (seed % 10 == 0) {
			snprintf(path, sizeof(path), EXPECT_DIR "/%s", CLEAN_IMAGE);
			drop_caches();
			EXPECT_LT(0, compare_trees(path, MNT_CLEAN))
				TH_LOG("the clean image changed after seed %llu", seed);
		}
	}
	snprintf(path, sizeof(path), EXPECT_DIR "/%s", CLEAN_IMAGE);
	drop_caches();
	EXPECT_LT(0, compare_trees(path, MNT_CLEAN)) TH_LOG("the clean image changed");
	EXPECT_EQ(0, erofs_umount(MNT_CLEAN));
	TH_LOG("seeds %llu..%llu: %d mounted (%d files, %d read errors), %d refused",
	       first, first + count - 1, mounted, files, read_errors, refused);
	/* the mutations are not all fatal at mount: reads were exercised */
	if (count >= 20)
		EXPECT_LT(0, mounted);
	munmap(c, sizeof(*c));
	free(img);
}

TEST_HARNESS_MAIN
