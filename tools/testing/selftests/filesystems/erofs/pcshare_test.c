// SPDX-License-Identifier: GPL-2.0
/*
 * Page-cache sharing in a shared domain (-o inode_share, issue 12).
 *
 * Images pcs1..pcs16 (harness/mkdata.d/pcshare.sh) stack the same base
 * layer "pcsbase" under a small layer of their own, so their files under
 * lib/ and bin/ resolve to the same blob at the same offsets: with
 * inode_share in one domain they must read byte-exact and sit in the page
 * cache once.
 *
 * How "once" is measured, for every file of pcsbase:
 *  - cachestat(2) on the file of image k before image k read anything
 *    reports the pages image 1 read (nr_cache = the file's pages), and 0
 *    without sharing: cachestat looks at file->f_mapping;
 *  - mincore(2) on a fresh mmap of that file, before any access, reports
 *    every page resident (the mmap path uses the same mapping), none
 *    without sharing;
 *  - /proc/meminfo "Cached" grows by about one copy of the file set (at
 *    most 10% more: the images' chunk indexes) when all N images read it
 *    all, and by N copies without sharing.  The data comes from the
 *    cachefiles cache (filled first, then caches dropped), which cachefiles
 *    reads with direct I/O, and the expected bytes are held in anonymous
 *    memory, so nothing else adds to "Cached".
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "erofs_rel.h"
#include "failnth.h"

#define MNT		"/mnt/pcs."
#define DOM		"pcsdom"
#define NR_IMAGES	16
#define PCS_PAGE	4096ULL

#ifndef __NR_cachestat
#define __NR_cachestat	451
#endif

/* the uapi structs of cachestat(2) (linux/mman.h), without its macros */
struct pcs_cachestat_range {
	unsigned long long off, len;
};

struct pcs_cachestat {
	unsigned long long nr_cache, nr_dirty, nr_writeback, nr_evicted,
			   nr_recently_evicted;
};

/* The files of pcsbase, read once from the expected tree. */
struct ref_file {
	char rel[64];		/* "/lib/big" */
	char *data;
	size_t size;
};

static struct ref_file refs[64];
static int nrefs;
static unsigned long long one_copy;	/* bytes of their pages */

static unsigned long long file_pages(const struct ref_file *r)
{
	return (r->size + PCS_PAGE - 1) / PCS_PAGE;
}

static int load_ref(const char *path, const struct stat *st, int err,
		    void *arg)
{
	size_t base = strlen(arg);
	struct ref_file *r;
	long long n;
	int fd;

	if (err)
		return err;
	if (!S_ISREG(st->st_mode))
		return 0;
	if (nrefs == (int)(sizeof(refs) / sizeof(refs[0])))
		return -E2BIG;
	r = &refs[nrefs];
	snprintf(r->rel, sizeof(r->rel), "%s", path + base);
	r->size = st->st_size;
	r->data = malloc(r->size + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!r->data || fd < 0)
		return -ENOMEM;
	n = read(fd, r->data, r->size + 1);
	close(fd);
	if (n != (long long)r->size)
		return -EIO;
	one_copy += file_pages(r) * PCS_PAGE;
	nrefs++;
	return 0;
}

static int load_refs(void)
{
	char *base = EXPECT_DIR "/pcs1";
	int ret;

	if (nrefs)
		return 0;
	ret = walk_tree(EXPECT_DIR "/pcs1/lib", load_ref, base);
	if (!ret)
		ret = walk_tree(EXPECT_DIR "/pcs1/bin", load_ref, base);
	return ret ?: (nrefs ? 0 : -ENOENT);
}

static void path_of(char *p, size_t size, int img, const struct ref_file *r)
{
	if (snprintf(p, size, MNT "%d%s", img, r->rel) >= (int)size)
		p[0] = '\0';
}

static int pcs_mount(int img, const char *domain, bool share)
{
	char target[64], opts[128];

	snprintf(target, sizeof(target), MNT "%d", img);
	snprintf(opts, sizeof(opts), "fsid=pcs%d,domain_id=%s%s", img, domain,
		 share ? ",inode_share" : "");
	return erofs_mount_opts(target, opts);
}

static int pcs_umount(int img)
{
	char target[64];

	snprintf(target, sizeof(target), MNT "%d", img);
	return erofs_umount(target);
}

/* Read @fd to its end: 0 exact, 1 a byte differs, or -errno of a read. */
static int fd_check(int fd, const struct ref_file *r)
{
	static char buf[65536];
	size_t off = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		if (!n)
			break;
		if (off + n > r->size || memcmp(buf, r->data + off, n))
			return 1;
		off += n;
	}
	return off == r->size ? 0 : 1;
}

/* read() @path: 0 exact, 1 a byte differs, or -errno. */
static int read_check(const char *path, const struct ref_file *r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = fd_check(fd, r);
	close(fd);
	return ret;
}

/*
 * mmap @path (MAP_SHARED or MAP_PRIVATE, read-only); *resident gets how
 * many pages mincore() reports before any access (may be NULL).  Then the
 * file is read through the fd and every byte compared through the mapping.
 * The read() first, as holes_test does: on the lockdep kernel a fault on a
 * fscache-mode page that is not up to date reports a circular dependency
 * of its own (vma lock -> invalidate_lock -> the cache file's i_rwsem ->
 * mmap_lock of the daemon's direct-I/O write), with or without sharing;
 * so the faults here find the pages up to date and check what the mapping
 * shows.  0 exact, 1 a byte differs, or -errno.
 */
static int mmap_check(const char *path, const struct ref_file *r, bool shared,
		      unsigned long long *resident)
{
	unsigned long long pages = file_pages(r), i;
	unsigned char *vec;
	int fd, ret = 0;
	void *p;

	if (resident)
		*resident = 0;
	if (!r->size)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	p = mmap(NULL, r->size, PROT_READ, shared ? MAP_SHARED : MAP_PRIVATE,
		 fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (resident) {
		vec = calloc(pages, 1);
		if (!vec || mincore(p, r->size, vec)) {
			ret = -errno;
		} else {
			for (i = 0; i < pages; i++)
				*resident += vec[i] & 1;
		}
		free(vec);
	}
	if (!ret)
		ret = fd_check(fd, r);
	if (!ret && memcmp(p, r->data, r->size))
		ret = 1;
	munmap(p, r->size);
	close(fd);
	return ret;
}

/* Pages of @path's f_mapping in the page cache, or -errno. */
static long long cached_pages(const char *path)
{
	struct pcs_cachestat_range range = { 0, 0 };
	struct pcs_cachestat cs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long long ret;

	if (fd < 0)
		return -errno;
	ret = syscall(__NR_cachestat, fd, &range, &cs, 0) ? -errno :
	      (long long)cs.nr_cache;
	close(fd);
	return ret;
}

struct readers;
static struct readers *live_readers;
static void readers_free(struct readers *rd);

FIXTURE(pcshare) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
	pid_t stopped;		/* daemon pid to SIGCONT in teardown */
	struct failslab_saved failslab;	/* restored in teardown */
};

FIXTURE_SETUP(pcshare)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, load_refs());
	ASSERT_EQ(0, fresh_cache_dir("pcshare", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(pcshare)
{
	char why[256];

	if (self->stopped > 0)
		kill(self->stopped, SIGCONT);
	readers_free(live_readers);
	erofs_umount_all(MNT);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	failslab_restore(&self->failslab);
}

/* Restart the daemon with @args on a fresh cache (nothing mounted). */
static int restart(FIXTURE_DATA(pcshare) *self, const char *const args[])
{
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	memset(&self->daemon, 0, sizeof(self->daemon));
	return fresh_cache_dir("pcshare", self->cache, sizeof(self->cache)) ?:
	       daemon_start(&self->daemon, DAEMON_PATH, self->cache, BLOB_DIR,
			    args);
}

/*
 * Mount pcs1..pcs@n in one domain (@share: with inode_share), fill the
 * cachefiles cache, drop the page cache, then read every file of pcsbase
 * from every image: image 1 with read(), the others after checking what
 * their files already show (cachestat, mincore), with read() and mmap.
 * Returns the growth of "Cached" over the reads, in bytes.
 */
static long long read_n_images(struct __test_metadata *_metadata, int n,
			       bool share)
{
	unsigned long long resident;
	long long c0, c1, pages;
	char p[PATH_MAX];
	struct stat st;
	int i, f;

	for (i = 1; i <= n; i++)
		ASSERT_EQ(0, pcs_mount(i, DOM, share)) TH_LOG("pcs%d", i);
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		ASSERT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
	}
	drop_caches();
	/* every image's inodes and directories, before the baseline */
	for (i = 1; i <= n; i++)
		for (f = 0; f < nrefs; f++) {
			path_of(p, sizeof(p), i, &refs[f]);
			ASSERT_EQ(0, stat(p, &st)) TH_LOG("%s", p);
		}
	c0 = meminfo("Cached");
	ASSERT_LE(0, c0);
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		EXPECT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
	}
	for (i = 2; i <= n; i++) {
		for (f = 0; f < nrefs; f++) {
			path_of(p, sizeof(p), i, &refs[f]);
			pages = cached_pages(p);
			EXPECT_EQ(share ? (long long)file_pages(&refs[f]) : 0, pages)
				TH_LOG("cachestat of %s before its image read it", p);
			EXPECT_EQ(0, mmap_check(p, &refs[f], i & 1, &resident))
				TH_LOG("mmap of %s", p);
			EXPECT_EQ(share ? file_pages(&refs[f]) : 0, resident)
				TH_LOG("mincore of %s before its image read it", p);
			EXPECT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
		}
	}
	c1 = meminfo("Cached");
	printf("# pcshare: %d image(s), inode_share %s: page cache +%lld KiB after reading %d files (one copy %llu KiB) from each\n",
	       n, share ? "on" : "off", (c1 - c0) / 1024, nrefs, one_copy / 1024);
	for (i = 1; i <= n; i++)
		EXPECT_EQ(0, pcs_umount(i));
	return c1 - c0;
}

static void expect_one_copy(struct __test_metadata *_metadata, long long grew)
{
	EXPECT_LE(grew, (long long)(one_copy + one_copy / 10))
		TH_LOG("the page cache grew by %lld KiB, more than one copy (%llu KiB) + 10%%",
		       grew / 1024, one_copy / 1024);
	EXPECT_GE(grew, (long long)(one_copy * 9 / 10))
		TH_LOG("the page cache grew by %lld KiB, less than one copy (%llu KiB): measure broken?",
		       grew / 1024, one_copy / 1024);
}

TEST_F_TIMEOUT(pcshare, pcshare_read_1_image, 300)
{
	expect_one_copy(_metadata, read_n_images(_metadata, 1, true));
}

TEST_F_TIMEOUT(pcshare, pcshare_read_2_images_one_copy, 300)
{
	expect_one_copy(_metadata, read_n_images(_metadata, 2, true));
}

TEST_F_TIMEOUT(pcshare, pcshare_read_8_images_one_copy, 600)
{
	expect_one_copy(_metadata, read_n_images(_metadata, 8, true));
}

/* The same reads without inode_share: one copy per image, as before. */
TEST_F_TIMEOUT(pcshare, pcshare_off_8_images_8_copies, 600)
{
	long long grew = read_n_images(_metadata, 8, false);

	EXPECT_GE(grew, (long long)(8 * one_copy * 9 / 10))
		TH_LOG("without inode_share the page cache grew by only %lld KiB for 8 copies of %llu KiB",
		       grew / 1024, one_copy / 1024);
}

/* make demo: the same 8 images without and with inode_share, two lines. */
TEST_F_TIMEOUT(pcshare, pcshare_demo_8_images, 600)
{
	long long off = read_n_images(_metadata, 8, false);
	long long on = read_n_images(_metadata, 8, true);

	printf("# demo: page-cache sharing: 8 images of one domain each read the same %d files (%.1f MiB) of their common layer\n",
	       nrefs, one_copy / 1048576.0);
	printf("# demo: page cache used: %.1f MiB without inode_share, %.1f MiB with it (one copy: %.1f MiB)\n",
	       off / 1048576.0, on / 1048576.0, one_copy / 1048576.0);
	EXPECT_GE(off, (long long)(8 * one_copy * 9 / 10));
	expect_one_copy(_metadata, on);
}

/* A mount without inode_share in the same domain keeps its own pages. */
TEST_F_TIMEOUT(pcshare, pcshare_option_off_same_domain_not_shared, 300)
{
	char p[PATH_MAX], q[PATH_MAX];
	int f;

	ASSERT_EQ(0, pcs_mount(1, DOM, true));
	ASSERT_EQ(0, pcs_mount(2, DOM, false));
	ASSERT_EQ(0, pcs_mount(3, DOM, true));
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 2, &refs[f]);
		EXPECT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
	}
	/* pcs2 read everything, in its own page cache: nothing shows in 1 or 3 */
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		path_of(q, sizeof(q), 3, &refs[f]);
		EXPECT_EQ(0, cached_pages(p)) TH_LOG("%s", p);
		EXPECT_EQ(0, cached_pages(q)) TH_LOG("%s", q);
		EXPECT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
		/* pcs1 read it: pcs3 shares it, pcs2 keeps its own */
		EXPECT_EQ((long long)file_pages(&refs[f]), cached_pages(q));
	}
	drop_caches();
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		path_of(q, sizeof(q), 2, &refs[f]);
		EXPECT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
		EXPECT_EQ(0, cached_pages(q)) TH_LOG("%s", q);
	}
}

/* Same blob names and layout, different content, two domains: never shared. */
TEST_F_TIMEOUT(pcshare, pcshare_two_domains_never_share, 300)
{
	const char *a = MNT "a/usr/lib/isoA/big", *b = MNT "b/usr/lib/isoB/big";

	ASSERT_EQ(0, erofs_mount_opts(MNT "a", "fsid=iso,domain_id=isoA,inode_share"));
	ASSERT_EQ(0, erofs_mount_opts(MNT "b", "fsid=iso,domain_id=isoB,inode_share"));
	ASSERT_LT(0, read_whole(a));
	/* the same chunk map but another domain's blob: not the same pages */
	EXPECT_EQ(0, cached_pages(b));
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoB", MNT "b"), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT "a"), 0);
	drop_caches();
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoB", MNT "b"), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/iso-isoA", MNT "a"), 0);
}

/* Only with domain_id (fscache mode); a message says why. */
TEST_F_TIMEOUT(pcshare, pcshare_needs_domain_id, 120)
{
	char line[512];
	int kfd = kmsg_open_at_end();

	ASSERT_LE(0, kfd);
	EXPECT_EQ(-EINVAL, erofs_mount_opts(MNT "1", "fsid=pcs1,inode_share"));
	EXPECT_EQ(1, kmsg_grep(kfd, "inode_share requires domain_id", line,
			       sizeof(line)));
	EXPECT_EQ(-EINVAL, erofs_mount_opts(MNT "1", "inode_share"));
	close(kfd);
	/* the same fsid mounts without it */
	ASSERT_EQ(0, erofs_mount(MNT "1", "pcs1", NULL));
	EXPECT_EQ(0, erofs_umount(MNT "1"));
}

/* Remount cannot turn it on; omitting it keeps it (and its sharing). */
TEST_F_TIMEOUT(pcshare, pcshare_remount_cannot_toggle, 180)
{
	const struct ref_file *big = &refs[0];
	char line[4096], p[PATH_MAX];
	int f;

	for (f = 0; f < nrefs; f++)
		if (!strcmp(refs[f].rel, "/lib/big"))
			big = &refs[f];
	ASSERT_EQ(0, pcs_mount(1, DOM, false));
	EXPECT_EQ(-EINVAL, erofs_remount_opts(MNT "1", "fsid=pcs1,inode_share"));
	ASSERT_EQ(0, mountinfo_line(MNT "1", line, sizeof(line)));
	EXPECT_EQ(NULL, strstr(line, "inode_share")) TH_LOG("%s", line);

	ASSERT_EQ(0, pcs_mount(2, DOM, true));
	ASSERT_EQ(0, pcs_mount(3, DOM, true));
	EXPECT_EQ(0, erofs_remount_opts(MNT "2", "fsid=pcs2"));
	ASSERT_EQ(0, mountinfo_line(MNT "2", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",inode_share")) TH_LOG("%s", line);
	path_of(p, sizeof(p), 2, big);
	EXPECT_EQ(0, read_check(p, big));
	path_of(p, sizeof(p), 3, big);
	EXPECT_EQ((long long)file_pages(big), cached_pages(p));
	path_of(p, sizeof(p), 1, big);
	EXPECT_EQ(0, cached_pages(p));
}

/* Holes (EROFS_NULL_ADDR chunks) read as zeros through a shared inode. */
TEST_F_TIMEOUT(pcshare, pcshare_holes_exact, 300)
{
	ASSERT_EQ(0, erofs_mount_opts(MNT "h1", "fsid=holes-4k,domain_id=pcshole,inode_share"));
	ASSERT_EQ(0, erofs_mount_opts(MNT "h2", "fsid=holes-64k,domain_id=pcshole,inode_share"));
	EXPECT_GT(compare_trees(EXPECT_DIR "/holes-4k", MNT "h1"), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/holes-64k", MNT "h2"), 0);
	drop_caches();
	EXPECT_GT(compare_trees(EXPECT_DIR "/holes-64k", MNT "h2"), 0);
	EXPECT_GT(compare_trees(EXPECT_DIR "/holes-4k", MNT "h1"), 0);
}

/* Pages of pcsbase's files in image @img's page cache (cachestat), or -errno. */
static long long image_cached_pages(int img)
{
	char p[PATH_MAX];
	long long n, sum = 0;
	int f;

	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), img, &refs[f]);
		n = cached_pages(p);
		if (n < 0)
			return n;
		sum += n;
	}
	return sum;
}

/* The sum of every zone's @mark watermark ("min", "low"), in bytes, or -1. */
static long long watermark(const char *mark)
{
	long long pages, sum = -1;
	char line[256], name[16];
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %15s %lld", name, &pages) == 2 &&
		    !strcmp(name, mark))
			sum = (sum < 0 ? 0 : sum) + pages;
	fclose(f);
	return sum < 0 ? -1 : sum * (long long)PCS_PAGE;
}

/*
 * Take anonymous memory, 256 KiB at a time (4 MiB while plenty is free),
 * until image @img's pages of pcsbase are down to @target (0 returned).
 * The guest has no swap and the caller left little else in the page
 * cache, so once free memory nears the watermarks the shared pages are
 * what reclaim has to take: that happens well above the min watermark.
 * Pages that could not be reclaimed would leave the OOM killer to end the
 * squeeze (and fail the kernel log); free memory below min stops it
 * first if it can (1).  Run in a child: the memory goes back when it
 * exits.
 */
static int squeeze(int img, long long target)
{
	long long min = watermark("min"), left, step, free;
	char *p;

	if (min <= 0)
		return 2;
	while ((left = image_cached_pages(img)) > target) {
		free = meminfo("MemFree");
		if (free < min)
			break;
		step = free > min + (64LL << 20) ? 4LL << 20 : 256LL << 10;
		p = mmap(NULL, step, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		memset(p, 0x5a, step);
	}
	printf("# squeeze: %lld shared pages left, MemFree %lld KiB (min watermark %lld KiB), Cached %lld KiB\n",
	       left, meminfo("MemFree") >> 10, min >> 10,
	       meminfo("Cached") >> 10);
	return left > target;
}

/*
 * Memory pressure reclaims a shared inode's pages like any page cache:
 * both images stay mounted with their inodes in memory, and no
 * drop_caches runs between the reads and the squeeze (one runs before
 * them, so that the page cache holds little but the shared pages: the
 * second pass reads from the cachefiles cache, with direct I/O).  The
 * pages read back byte-exact afterwards, and one image's reads make them
 * resident for the other again.
 */
TEST_F_TIMEOUT(pcshare, pcshare_memory_pressure_reclaims, 600)
{
	long long full, left;
	char p[PATH_MAX];
	int f, status;
	pid_t pid;

	ASSERT_EQ(0, pcs_mount(1, DOM, true));
	ASSERT_EQ(0, pcs_mount(2, DOM, true));
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		ASSERT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
	}
	drop_caches();
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		ASSERT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
	}
	full = image_cached_pages(2);
	ASSERT_EQ((long long)(one_copy / PCS_PAGE), full)
		TH_LOG("image 2 does not see the pages image 1 read");

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(squeeze(2, full / 4));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	left = image_cached_pages(2);
	printf("# pcshare: memory pressure left %lld of %lld shared pages (MemFree %lld MiB after)\n",
	       left, full, meminfo("MemFree") >> 20);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("taking all free memory left %lld of %lld shared pages (status %#x)",
		       left, full, status);

	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 2, &refs[f]);
		EXPECT_EQ(0, read_check(p, &refs[f])) TH_LOG("%s", p);
	}
	EXPECT_EQ(full, image_cached_pages(1))
		TH_LOG("image 1 does not see the pages image 2 read back");
	for (f = 0; f < nrefs; f++) {
		path_of(p, sizeof(p), 1, &refs[f]);
		EXPECT_EQ(0, mmap_check(p, &refs[f], true, NULL)) TH_LOG("%s", p);
	}
}

/* Reader processes and their shared counters. */
struct readers {
	volatile int stop[NR_IMAGES + 1];
	volatile long loops[NR_IMAGES + 1];
	volatile int bad[NR_IMAGES + 1];	/* wrong bytes: never */
	volatile int errors[NR_IMAGES + 1];	/* failed reads */
	volatile int last_err[NR_IMAGES + 1];
	pid_t pid[NR_IMAGES + 1];
};

/* The readers of the running test (live_readers), killed by the teardown if left. */

static struct readers *readers_new(void)
{
	void *p = mmap(NULL, sizeof(struct readers), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	live_readers = p == MAP_FAILED ? NULL : p;
	return live_readers;
}

static void readers_free(struct readers *rd)
{
	int i;

	if (!rd)
		return;
	for (i = 0; i <= NR_IMAGES; i++) {
		if (!rd->pid[i])
			continue;
		kill(rd->pid[i], SIGKILL);
		daemon_wait_pid(rd->pid[i], 10000);
	}
	munmap(rd, sizeof(*rd));
	live_readers = NULL;
}

/* Read every file of image @img with read() and mmap until told to stop. */
static void reader_start(struct readers *rd, int img, bool use_mmap)
{
	char p[PATH_MAX];
	pid_t pid;
	int f, r;

	rd->stop[img] = 0;
	/* @rd is shared: only the parent may write the pid */
	pid = fork();
	if (pid) {
		rd->pid[img] = pid;
		return;
	}
	while (!rd->stop[img]) {
		for (f = 0; f < nrefs && !rd->stop[img]; f++) {
			path_of(p, sizeof(p), img, &refs[f]);
			r = read_check(p, &refs[f]);
			if (!r && use_mmap)
				r = mmap_check(p, &refs[f], f & 1, NULL);
			if (r > 0)
				rd->bad[img]++;
			if (r < 0) {
				rd->errors[img]++;
				rd->last_err[img] = -r;
			}
		}
		rd->loops[img]++;
	}
	_exit(0);
}

static int reader_stop(struct readers *rd, int img)
{
	int st;

	if (!rd->pid[img])
		return 0;
	rd->stop[img] = 1;
	st = daemon_wait_pid(rd->pid[img], 60000);
	if (st == -ETIMEDOUT) {
		kill(rd->pid[img], SIGKILL);
		daemon_wait_pid(rd->pid[img], 10000);
	}
	rd->pid[img] = 0;
	return st;
}

/* Wait until the reader of @img has finished @more loops after now. */
static int reader_progress(struct readers *rd, int img, int more)
{
	long want = rd->loops[img] + more;
	long long deadline = daemon_ms_now() + 60000;

	while (rd->loops[img] < want) {
		if (daemon_ms_now() > deadline)
			return -ETIMEDOUT;
		daemon_sleep_ms(20);
	}
	return 0;
}

/*
 * Three images read all the time; each is unmounted in turn (its own
 * reader stopped first: a busy mount cannot go), in all six orders.  The
 * first of an order is the one whose open created the shared inodes; the
 * others must go on reading the same bytes after each umount.
 */
TEST_F_TIMEOUT(pcshare, pcshare_umount_every_order_while_reading, 900)
{
	static const int orders[6][3] = {
		{ 1, 2, 3 }, { 1, 3, 2 }, { 2, 1, 3 },
		{ 2, 3, 1 }, { 3, 1, 2 }, { 3, 2, 1 },
	};
	struct readers *rd = readers_new();
	int o, k, j, i;

	ASSERT_NE(NULL, rd);
	for (o = 0; o < 6; o++) {
		const int *ord = orders[o];

		for (i = 1; i <= 3; i++)
			ASSERT_EQ(0, pcs_mount(i, DOM, true));
		/* the first of the order opens (and so creates) first */
		reader_start(rd, ord[0], true);
		ASSERT_EQ(0, reader_progress(rd, ord[0], 1));
		reader_start(rd, ord[1], true);
		reader_start(rd, ord[2], o & 1);
		for (k = 0; k < 3; k++) {
			EXPECT_EQ(0, reader_stop(rd, ord[k]));
			EXPECT_EQ(0, pcs_umount(ord[k])) TH_LOG("order %d, pcs%d", o, ord[k]);
			for (j = k + 1; j < 3; j++)
				EXPECT_EQ(0, reader_progress(rd, ord[j], 1))
					TH_LOG("pcs%d stopped reading after pcs%d left",
					       ord[j], ord[k]);
		}
		for (i = 1; i <= 3; i++) {
			EXPECT_EQ(0, rd->bad[i]) TH_LOG("pcs%d read wrong bytes", i);
			EXPECT_EQ(0, rd->errors[i])
				TH_LOG("pcs%d: %d failed reads (%s)", i, rd->errors[i],
				       strerror(rd->last_err[i]));
		}
	}
	readers_free(rd);
}

/*
 * Readers in several images while other images of the domain are mounted,
 * read and unmounted in a loop and the page cache is dropped: every byte
 * exact, no read fails, no mount fails.
 */
TEST_F_TIMEOUT(pcshare, pcshare_storm_mounts_readers_drop_caches, 1200)
{
	struct readers *rd = readers_new();
	long long end;
	int w, i, cycles = 0, mount_errors = 0;
	pid_t churn[4];

	ASSERT_NE(NULL, rd);
	/*
	 * read() only: a drop_caches between mmap_check()'s read and its
	 * faults would make a fault read, see mmap_check().
	 */
	for (i = 1; i <= 3; i++) {
		ASSERT_EQ(0, pcs_mount(i, DOM, true));
		reader_start(rd, i, false);
	}
	end = daemon_ms_now() + 15000LL * stress_factor();
	for (w = 0; w < 4; w++) {
		churn[w] = fork();
		if (churn[w])
			continue;
		/* worker w cycles pcs(4+w) and pcs(8+w) */
		for (i = 0; daemon_ms_now() < end; i++) {
			int img = 4 + w + (i & 1) * 4, f, r;
			char p[PATH_MAX];

			if (pcs_mount(img, DOM, true))
				_exit(1);
			for (f = 0; f < nrefs; f += 3) {
				path_of(p, sizeof(p), img, &refs[f]);
				r = read_check(p, &refs[f]);
				if (r)
					_exit(r > 0 ? 2 : 3);
			}
			if (pcs_umount(img))
				_exit(4);
		}
		_exit(0);
	}
	while (daemon_ms_now() < end) {
		leak_write_file("/proc/sys/vm/drop_caches", (cycles & 1) ? "1" : "3");
		cycles++;
		daemon_sleep_ms(500);
	}
	for (w = 0; w < 4; w++) {
		int st = daemon_wait_pid(churn[w], 120000);

		EXPECT_TRUE(st >= 0 && WIFEXITED(st) && !WEXITSTATUS(st))
			TH_LOG("churn worker %d: status %d (1 mount, 2 wrong bytes, 3 read, 4 umount)",
			       w, st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : st);
		if (!(st >= 0 && WIFEXITED(st) && !WEXITSTATUS(st)))
			mount_errors++;
	}
	for (i = 1; i <= 3; i++) {
		EXPECT_EQ(0, reader_stop(rd, i));
		EXPECT_EQ(0, rd->bad[i]) TH_LOG("pcs%d read wrong bytes", i);
		EXPECT_EQ(0, rd->errors[i]) TH_LOG("pcs%d: %d failed reads (%s)",
						   i, rd->errors[i], strerror(rd->last_err[i]));
		EXPECT_LT(0, rd->loops[i]);
	}
	printf("# pcshare: storm: %d drop_caches, reader loops %ld/%ld/%ld, %d worker failures\n",
	       cycles, rd->loops[1], rd->loops[2], rd->loops[3], mount_errors);
	readers_free(rd);
}

/*
 * The daemon completes every third READ without data: a shared read fails
 * with EIO for that range (from whichever image asked), a retry sends a
 * new READ; no image ever reads a wrong byte.
 */
TEST_F_TIMEOUT(pcshare, pcshare_daemon_refuses_reads, 600)
{
	const char *const args[] = { "--refuse-reads", "3", NULL };
	struct readers *rd = readers_new();
	int i, f, tries, r;
	char p[PATH_MAX];

	ASSERT_NE(NULL, rd);
	ASSERT_EQ(0, restart(self, args));
	/* a refused READ of the bootstrap fails a mount: try again */
	for (i = 1; i <= 3; i++) {
		for (tries = 0, r = -EIO; r && tries < 10; tries++)
			r = pcs_mount(i, DOM, true);
		ASSERT_EQ(0, r) TH_LOG("pcs%d", i);
	}
	for (i = 1; i <= 3; i++)
		reader_start(rd, i, false);
	for (i = 1; i <= 3; i++)
		EXPECT_EQ(0, reader_progress(rd, i, 2));
	for (i = 1; i <= 3; i++) {
		EXPECT_EQ(0, reader_stop(rd, i));
		EXPECT_EQ(0, rd->bad[i]) TH_LOG("pcs%d read wrong bytes", i);
		if (rd->errors[i])
			EXPECT_EQ(EIO, rd->last_err[i]);
	}
	EXPECT_LT(0, rd->errors[1] + rd->errors[2] + rd->errors[3])
		TH_LOG("no READ was refused: the fault did not happen");
	/* in the end every file reads exact from every image */
	for (i = 1; i <= 3; i++)
		for (f = 0; f < nrefs; f++) {
			path_of(p, sizeof(p), i, &refs[f]);
			for (tries = 0, r = -EIO; r == -EIO && tries < 50; tries++)
				r = read_check(p, &refs[f]);
			EXPECT_EQ(0, r) TH_LOG("%s", p);
		}
	readers_free(rd);
}

static int read_big_child(void *arg)
{
	const struct ref_file *r = NULL;
	char p[PATH_MAX];
	int f, ret;

	for (f = 0; f < nrefs; f++)
		if (!strcmp(refs[f].rel, "/lib/big"))
			r = &refs[f];
	if (!r)
		return ENOENT;
	path_of(p, sizeof(p), *(int *)arg, r);
	ret = read_check(p, r);
	return ret > 0 ? 200 : -ret;
}

/*
 * The daemon stops answering while readers of two images wait for the same
 * shared pages: both stay killable; after it resumes both images read
 * exact.
 */
TEST_F_TIMEOUT(pcshare, pcshare_daemon_stalls_readers_killable, 300)
{
	int img1 = 1, img2 = 2, st, i;
	pid_t reader[2] = { 0, 0 };
	char p[PATH_MAX];
	struct stat sb;

	ASSERT_EQ(0, pcs_mount(1, DOM, true));
	ASSERT_EQ(0, pcs_mount(2, DOM, true));
	/* every blob opened, metadata read: only data READs are left */
	for (i = 1; i <= 2; i++) {
		snprintf(p, sizeof(p), MNT "%d/lib/big", i);
		ASSERT_EQ(0, stat(p, &sb));
	}
	ASSERT_EQ(0, daemon_wait_stat(&self->daemon, NULL, NULL, DAEMON_OPENS, 5, 10000));
	ASSERT_EQ(0, kill(self->daemon.pid, SIGSTOP));
	self->stopped = self->daemon.pid;

	st = run_child(read_big_child, &img1, 3000, &reader[0]);
	EXPECT_EQ(-ETIMEDOUT, st) TH_LOG("pcs1 reader finished (%d) with the daemon stopped", st);
	st = run_child(read_big_child, &img2, 3000, &reader[1]);
	EXPECT_EQ(-ETIMEDOUT, st) TH_LOG("pcs2 reader finished (%d) with the daemon stopped", st);
	for (i = 0; i < 2; i++) {
		if (!reader[i])
			continue;
		ASSERT_EQ(0, kill(reader[i], SIGKILL));
		st = daemon_wait_pid(reader[i], 10000);
		EXPECT_NE(-ETIMEDOUT, st) TH_LOG("SIGKILLed reader %d still blocked after 10 s", i);
		EXPECT_TRUE(st >= 0 && WIFSIGNALED(st));
	}
	kill(self->daemon.pid, SIGCONT);
	self->stopped = 0;
	EXPECT_EQ(0, run_child(read_big_child, &img2, 60000, NULL));
	EXPECT_EQ(0, run_child(read_big_child, &img1, 60000, NULL));
}

/* The daemon's READ count after cold mounts of pcs1 and pcs2 and a lookup. */
static int reads_of_mounts(unsigned long long *reads)
{
	struct daemon_ctl d = { 0 };
	struct daemon_blob_stats t = { 0 };
	char cache[PATH_MAX], p[PATH_MAX];
	struct stat st;
	int ret, i;

	ret = fresh_cache_dir("pcshare-probe", cache, sizeof(cache));
	if (!ret)
		ret = daemon_start(&d, DAEMON_PATH, cache, BLOB_DIR, NULL);
	if (ret)
		return ret;
	for (i = 1; i <= 2 && !ret; i++) {
		ret = pcs_mount(i, "pcsprobe", true);
		snprintf(p, sizeof(p), MNT "%d/lib/big", i);
		if (!ret && stat(p, &st))
			ret = -errno;
	}
	pcs_umount(1);
	pcs_umount(2);
	if (!ret)
		ret = daemon_total(&d, &t);
	daemon_stop(&d);
	*reads = t.reads;
	return ret;
}

/*
 * The daemon dies at the first data READ, while readers of two images want
 * the same shared pages: each gets EIO or ENOBUFS (never wrong bytes, and
 * no hang); the mounts go, and a new daemon serves fresh mounts exact.
 */
TEST_F_TIMEOUT(pcshare, pcshare_daemon_dies_during_shared_read, 300)
{
	unsigned long long reads = 0;
	const char *args[3];
	int img[2] = { 1, 2 }, st[2], i;
	pid_t pid[2];
	char after[32], p[PATH_MAX];
	struct stat sb;

	daemon_stop(&self->daemon);
	memset(&self->daemon, 0, sizeof(self->daemon));
	ASSERT_EQ(0, reads_of_mounts(&reads));
	snprintf(after, sizeof(after), "%llu", reads + 1);
	args[0] = "--exit-after-reads";
	args[1] = after;
	args[2] = NULL;
	ASSERT_EQ(0, restart(self, args));
	for (i = 1; i <= 2; i++) {
		ASSERT_EQ(0, pcs_mount(i, DOM, true));
		snprintf(p, sizeof(p), MNT "%d/lib/big", i);
		ASSERT_EQ(0, stat(p, &sb));
	}
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		if (!pid[i])
			_exit(read_big_child(&img[i]));
	}
	for (i = 0; i < 2; i++) {
		st[i] = daemon_wait_pid(pid[i], 60000);
		ASSERT_NE(-ETIMEDOUT, st[i]) TH_LOG("reader %d hangs", i);
		ASSERT_TRUE(WIFEXITED(st[i]));
		st[i] = WEXITSTATUS(st[i]);
		EXPECT_TRUE(st[i] == EIO || st[i] == ENOBUFS)
			TH_LOG("reader of pcs%d: %d (200: wrong bytes)", img[i], st[i]);
	}
	/* exit status 3: crashed on purpose */
	EXPECT_EQ(3, daemon_stop(&self->daemon));
	memset(&self->daemon, 0, sizeof(self->daemon));
	EXPECT_EQ(0, pcs_umount(1));
	EXPECT_EQ(0, pcs_umount(2));
	ASSERT_EQ(0, restart(self, NULL));
	ASSERT_EQ(0, pcs_mount(2, DOM, true));
	ASSERT_EQ(0, pcs_mount(1, DOM, true));
	EXPECT_EQ(0, read_big_child(&img[0]));
	EXPECT_EQ(0, read_big_child(&img[1]));
}

/*
 * fail-nth through the first open of a shared file: building its key,
 * holding its blobs, the pseudo mount's bdi (first shared inode after the
 * pseudo mount came), the shared inode and the index insert (@join: a
 * second image joining an existing shared inode).  For every k until an
 * open succeeds without the fault firing: the open fails with ENOMEM or
 * succeeds and reads exact (unshared if the attach failed), and after the
 * umount nothing is left and the kernel log is clean.
 */
static void failnth_open(struct __test_metadata *_metadata,
			 FIXTURE_DATA(pcshare) *self, bool join)
{
	const struct ref_file *big = NULL;
	int k, fd, nth, ret, err, failed = 0, tolerated = 0, f;
	char buf[32], why[512], p[PATH_MAX];
	struct kwatch kw;
	struct stat sb;
	ssize_t n;

	if (access("/proc/thread-self/fail-nth", W_OK))
		SKIP(return, "no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
	for (f = 0; f < nrefs; f++)
		if (!strcmp(refs[f].rel, "/lib/mid"))
			big = &refs[f];
	ASSERT_NE(NULL, big);
	{
		ASSERT_EQ(0, failslab_save_prepare(&self->failslab));
		ASSERT_EQ(0, kwatch_start(&kw));
		nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, nth);
		for (k = 1; k <= 400; k++) {
			ASSERT_EQ(0, pcs_mount(1, DOM, true));
			if (join) {
				ASSERT_EQ(0, pcs_mount(2, DOM, true));
				path_of(p, sizeof(p), 1, big);
				ASSERT_EQ(0, read_check(p, big));
			}
			path_of(p, sizeof(p), join ? 2 : 1, big);
			ASSERT_EQ(0, stat(p, &sb));
			snprintf(buf, sizeof(buf), "%d", k);
			ASSERT_LT(0, pwrite(nth, buf, strlen(buf), 0));
			fd = open(p, O_RDONLY | O_CLOEXEC);
			err = errno;
			n = pread(nth, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			ASSERT_LT(0, pwrite(nth, "0", 1, 0));
			if (fd < 0) {
				EXPECT_EQ(ENOMEM, err) TH_LOG("k=%d: open: %s", k, strerror(err));
				failed++;
			} else {
				ret = fd_check(fd, big);
				close(fd);
				EXPECT_EQ(0, ret) TH_LOG("k=%d: the open that %s the fault reads %d",
							 k, atoi(buf) ? "had no" : "tolerated", ret);
				/* the next open of the inode reads exact too */
				EXPECT_EQ(0, read_check(p, big)) TH_LOG("k=%d", k);
				if (!atoi(buf))
					tolerated++;
			}
			EXPECT_EQ(0, pcs_umount(1));
			if (join)
				EXPECT_EQ(0, pcs_umount(2));
			ASSERT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
				TH_LOG("k=%d left behind: %s", k, why);
			ASSERT_EQ(0, kwatch_check(&kw, why, sizeof(why))) TH_LOG("k=%d: %s", k, why);
			if (fd >= 0 && atoi(buf))
				break;
		}
		close(nth);
		kwatch_stop(&kw);
		EXPECT_GT(400, k);
		printf("# pcshare: fail-nth %s: an open without a fault at k=%d after %d failed opens, %d tolerated faults\n",
		       join ? "join" : "create", k, failed, tolerated);
	}
}

TEST_F_TIMEOUT(pcshare, pcshare_failnth_create_shared_inode, 1800)
{
	failnth_open(_metadata, self, false);
}

TEST_F_TIMEOUT(pcshare, pcshare_failnth_join_shared_inode, 1800)
{
	failnth_open(_metadata, self, true);
}

/* Last: nothing of all the above is reported by kmemleak. */
TEST_F_TIMEOUT(pcshare, pcshare_kmemleak_clean, 300)
{
	char why[512];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
