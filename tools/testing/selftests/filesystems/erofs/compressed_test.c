// SPDX-License-Identifier: GPL-2.0
/*
 * Compressed (LZ4/LZ4HC) images in fscache mode, in a domain and without.
 *
 * A compressed read goes through z_erofs' pseudo bio: in fscache mode
 * erofs_fscache_submit_bio() reads its range with one fscache_read() per
 * piece that cachefiles reports present, and the bio must complete once,
 * after all pieces.  The daemon's fault switches make the pieces:
 *   --split-reads N   serves each READ only up to N bytes, so a 64 KiB
 *                     pcluster is read in many pieces;
 *   --refuse-reads N  completes every N-th READ without data, so a read
 *                     fails after some of its pieces were issued;
 *   --exit-after-reads N  kills the daemon in the middle of a read.
 * Every file must read byte-exact, or fail with EIO/ENOBUFS where a READ
 * was refused or the daemon is gone; never wrong bytes, a hang, or a
 * kernel report (the log scan catches KASAN/WARN/lockdep).
 *
 * Images: harness/mkdata.d/compressed.sh, z-<kind> served whole as the
 * bootstrap blob; expect/z-<kind>/ is the tree they were built from.
 */
#include "kselftest_harness.h"
#include <sys/mman.h>
#include "erofs_rel.h"

#define MNT		"/mnt/z.a"
#define CHUNK		16384

static const char *const zimages[] = {
	"z-lz4hc-64k",		/* big pclusters: many pieces per bio */
	"z-lz4-4k",		/* one block per pcluster */
	"z-lz4hc-tail",		/* 16 KiB pclusters, compressed inline tails */
};

FIXTURE(z) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

FIXTURE_VARIANT(z) {
	const char *domain;
};

FIXTURE_VARIANT_ADD(z, domain) {
	.domain = "zdom",
};

FIXTURE_VARIANT_ADD(z, nodomain) {
	.domain = NULL,
};

/*
 * A walk that hangs leaves a folio locked forever (the unfixed kernel):
 * umount, and stopping the daemon, would then block in the kernel for
 * good.  The walk leaves this marker; later tests skip, and teardowns
 * leave the mount and the daemon alone, so the program ends at once.
 */
#define WEDGED		"/tmp/compressed_test.wedged"

static bool wedged(void)
{
	return !access(WEDGED, F_OK);
}

FIXTURE_SETUP(z)
{
	unsigned int i;
	struct stat st;
	char p[PATH_MAX];

	if (wedged())
		SKIP(return, "an earlier test left a read hung in the kernel");

	for (i = 0; i < ARRAY_SIZE(zimages); i++) {
		snprintf(p, sizeof(p), BLOB_DIR "/%s", zimages[i]);
		ASSERT_EQ(0, stat(p, &st)) TH_LOG("no image %s (mkdata.d/compressed.sh)", p);
	}
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("z", self->cache, sizeof(self->cache)));
}

FIXTURE_TEARDOWN(z)
{
	char why[256];

	if (wedged()) {
		TH_LOG("a read hung: mount %s and the daemon left as they are", MNT);
		return;
	}
	erofs_umount_all("/mnt/z.");
	if (self->daemon.pid)
		daemon_stop(&self->daemon);
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
}

/*
 * The base tree's kselftest_harness.h skips the fixture teardown when an
 * ASSERT fails in a test body (the fork result is not kept across its
 * longjmp), which would leave this test's daemon bound and fail every
 * later test with "busy".  The test bodies check with ZOK(): an EXPECT
 * whose caller returns on failure.
 */
#define ZOK(expr, what) ({						\
	long __zr = (expr);						\
	EXPECT_EQ(0, __zr) TH_LOG("%s: %s", what,			\
				  __zr < 0 ? strerror(-__zr) : "failed"); \
	__zr != 0;							\
})

/* What a walk of a mounted tree against its expected tree found. */
struct zwalk {
	const char *want;	/* expected tree */
	const char *got;	/* mounted tree */
	bool tolerate;		/* EIO/ENOBUFS allowed (faults injected) */
	int files;		/* regular files read to the end, byte-exact */
	int errors;		/* EIO/ENOBUFS met (tolerated) */
	int bad;		/* wrong bytes, wrong errors, missing entries */
	char first_bad[PATH_MAX + 256];
};

static void zbad(struct zwalk *w, const char *what, const char *path, int err)
{
	if (!w->bad++)
		snprintf(w->first_bad, sizeof(w->first_bad), "%s %s%s%s", what,
			 path, err ? ": " : "", err ? strerror(err) : "");
}

/* An error a fault may cause; anything else is a bug. */
static bool zerr_ok(struct zwalk *w, int err)
{
	if (w->tolerate && (err == EIO || err == ENOBUFS)) {
		w->errors++;
		return true;
	}
	return false;
}

/* Compare one file chunk by chunk; chunks may fail, never differ. */
static void zfile(struct zwalk *w, const char *want, const char *got)
{
	static char bw[CHUNK], bg[CHUNK];
	int fw, fg;
	off_t off;
	bool failed = false;

	fw = open(want, O_RDONLY | O_CLOEXEC);
	if (fw < 0) {
		zbad(w, "cannot open expected", want, errno);
		return;
	}
	fg = open(got, O_RDONLY | O_CLOEXEC);
	if (fg < 0) {
		if (!zerr_ok(w, errno))
			zbad(w, "open", got, errno);
		close(fw);
		return;
	}
	/*
	 * A read that fails part-way returns what it got first (a short
	 * read): compare that, go on after it; after an error, go on at the
	 * next chunk.
	 */
	for (off = 0;;) {
		ssize_t nw = pread(fw, bw, CHUNK, off), ng;

		ng = pread(fg, bg, CHUNK, off);
		if (ng < 0) {
			failed = true;
			if (zerr_ok(w, errno)) {
				off = (off / CHUNK + 1) * CHUNK;
				continue;	/* the next chunk may read fine */
			}
			zbad(w, "read", got, errno);
			break;
		}
		if (ng > nw || (!ng && nw) || memcmp(bw, bg, ng)) {
			char where[PATH_MAX + 96];

			snprintf(where, sizeof(where), "%s at %lld (%zd bytes read, %zd expected)",
				 got, (long long)off, ng, nw);
			zbad(w, "WRONG BYTES in", where, 0);
			break;
		}
		if (!nw)
			break;
		off += ng;
	}
	if (!failed && !w->bad)
		w->files++;
	close(fg);
	close(fw);
}

static void zdir(struct zwalk *w, const char *want, const char *got)
{
	struct dirent *de;
	DIR *d = opendir(want);

	if (!d) {
		zbad(w, "cannot open expected", want, errno);
		return;
	}
	while ((de = readdir(d))) {
		char pw[PATH_MAX], pg[PATH_MAX], tw[PATH_MAX], tg[PATH_MAX];
		struct stat sw, sg;
		ssize_t lw, lg;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(pw, sizeof(pw), "%s/%s", want, de->d_name);
		snprintf(pg, sizeof(pg), "%s/%s", got, de->d_name);
		if (lstat(pw, &sw)) {
			zbad(w, "cannot stat expected", pw, errno);
			continue;
		}
		if (lstat(pg, &sg)) {
			if (!zerr_ok(w, errno))
				zbad(w, "lstat", pg, errno);
			continue;
		}
		if ((sw.st_mode & S_IFMT) != (sg.st_mode & S_IFMT) ||
		    (S_ISREG(sw.st_mode) && sw.st_size != sg.st_size)) {
			zbad(w, "type or size differs:", pg, 0);
			continue;
		}
		if (S_ISDIR(sw.st_mode)) {
			zdir(w, pw, pg);
		} else if (S_ISREG(sw.st_mode)) {
			zfile(w, pw, pg);
		} else if (S_ISLNK(sw.st_mode)) {
			lw = readlink(pw, tw, sizeof(tw) - 1);
			lg = readlink(pg, tg, sizeof(tg) - 1);
			if (lg < 0) {
				if (!zerr_ok(w, errno))
					zbad(w, "readlink", pg, errno);
			} else if (lw != lg || memcmp(tw, tg, lw)) {
				zbad(w, "symlink differs:", pg, 0);
			}
		}
	}
	closedir(d);
}

/*
 * Walk in a child so that a hang is a bounded failure: the result comes
 * back through a shared mapping.  Returns 0, or -ETIMEDOUT / 128+signal.
 */
static int zwalk_child(void *arg)
{
	struct zwalk *w = arg;

	zdir(w, w->want, w->got);
	return 0;
}

static int zwalk_bounded(struct zwalk *res, const char *image, bool tolerate,
			 int timeout_ms)
{
	static char want[PATH_MAX];
	struct zwalk *w;
	int st;

	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		return -errno;
	snprintf(want, sizeof(want), EXPECT_DIR "/%s", image);
	memset(w, 0, sizeof(*w));
	w->want = want;
	w->got = MNT;
	w->tolerate = tolerate;
	st = run_child(zwalk_child, w, timeout_ms, NULL);
	if (st == -ETIMEDOUT)
		close(open(WEDGED, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	*res = *w;
	munmap(w, sizeof(*w));
	return st;
}

/* compare_trees() of an image against the mount: entries, types, bytes. */
static int compare_trees_for(const char *image)
{
	char want[PATH_MAX];

	snprintf(want, sizeof(want), EXPECT_DIR "/%s", image);
	return compare_trees(want, MNT);
}

/* Files of an image tree (what a clean walk must find). */
static int zexpected_files(const char *image)
{
	char want[PATH_MAX], bad[PATH_MAX];

	snprintf(want, sizeof(want), EXPECT_DIR "/%s", image);
	return read_tree(want, bad, sizeof(bad));
}

/* The largest READ length the kernel asked for, from the daemon's log. */
static unsigned long long max_read_len(const struct daemon_ctl *d)
{
	unsigned long long len, max = 0;
	char line[1024], *p;
	FILE *f = fopen(d->logfile, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, " READ msg="))
			continue;
		p = strstr(line, " len=");
		if (p && sscanf(p, " len=%llu", &len) == 1 && len > max)
			max = len;
	}
	fclose(f);
	return max;
}

static int start(FIXTURE_DATA(z) *self, const char *const args[])
{
	return daemon_start(&self->daemon, DAEMON_PATH, self->cache, BLOB_DIR, args);
}

/* Mount with a bounded wait; a refused READ may fail a mount: retry. */
static int zmount(const char *image, const char *domain, int tries)
{
	int ret;

	do {
		ret = erofs_mount_bounded(MNT, image, domain, 60000, NULL);
	} while (ret && ret != -ETIMEDOUT && --tries > 0);
	return ret;
}

/* Mount, walk bounded and byte-exact (no fault tolerated), umount. */
static void zcheck_exact(struct __test_metadata *_metadata,
			 const char *image, const char *domain, const char *when)
{
	struct zwalk w;
	int st;

	if (wedged())
		return;
	st = zmount(image, domain, 1);
	EXPECT_EQ(0, st) TH_LOG("mount %s (%s): %s", image, when, strerror(-st));
	if (st)
		return;
	st = zwalk_bounded(&w, image, false, 120000);
	EXPECT_EQ(0, st) TH_LOG("%s (%s): walk %s", image, when,
				st == -ETIMEDOUT ? "hung for 120 s" : "died");
	if (st == -ETIMEDOUT)
		return;
	EXPECT_EQ(0, w.bad) TH_LOG("%s (%s): %d bad, first: %s", image, when,
				   w.bad, w.first_bad);
	EXPECT_EQ(zexpected_files(image), w.files) TH_LOG("%s (%s)", image, when);
	/* same names, nothing extra */
	if (!st)
		EXPECT_LT(0, compare_trees_for(image));
	EXPECT_EQ(0, erofs_umount(MNT));
}

/* Baseline: every compressed file of every image reads byte-exact. */
TEST_F_TIMEOUT(z, z_reads_exact, 600)
{
	unsigned int i;

	if (ZOK(start(self, NULL), "daemon"))
		return;
	for (i = 0; i < ARRAY_SIZE(zimages); i++)
		zcheck_exact(_metadata, zimages[i], variant->domain, "cold");
	/* again, now from the cache (no READ at all) */
	for (i = 0; i < ARRAY_SIZE(zimages); i++)
		zcheck_exact(_metadata, zimages[i], variant->domain, "warm");
}

/*
 * Each READ served in 4 KiB pieces: every pseudo bio of a multi-block
 * pcluster is read in several fscache_read() slices.  Before the fix the
 * bio was ended once per slice: decompression of half-read pclusters
 * (wrong bytes or EIO), a hang, or a use-after-free of the queue.
 */
TEST_F_TIMEOUT(z, z_split_reads_exact, 900)
{
	static const char *const sizes[] = { "4096", "12288" };
	const char *args[] = { "--split-reads", NULL, NULL };
	unsigned int i, j;

	for (j = 0; j < ARRAY_SIZE(sizes); j++) {
		args[1] = sizes[j];
		if (ZOK(fresh_cache_dir("zsplit", self->cache, sizeof(self->cache)), "cache") ||
		    ZOK(start(self, args), "daemon"))
			return;
		for (i = 0; i < ARRAY_SIZE(zimages); i++)
			zcheck_exact(_metadata, zimages[i], variant->domain, sizes[j]);
		/* the fault had its effect: the kernel asked for more at once */
		if (wedged())
			return;
		EXPECT_LT(strtoull(sizes[j], NULL, 10), max_read_len(&self->daemon))
			TH_LOG("no READ was longer than the split size");
		EXPECT_EQ(0, daemon_stop(&self->daemon));
	}
}

/*
 * Every 4th READ refused, each READ served in 8 KiB pieces: a pseudo bio
 * fails after some of its slices were issued.  Each chunk reads exact or
 * fails with EIO; retried passes end with every file exact (refused
 * ranges are asked again).
 */
TEST_F_TIMEOUT(z, z_refused_reads_eio_or_exact, 900)
{
	const char *const args[] = { "--split-reads", "8192", "--refuse-reads", "4", NULL };
	struct daemon_blob_stats t = { 0 };
	unsigned int i, pass;
	int errors = 0;
	struct zwalk w;

	if (ZOK(start(self, args), "daemon"))
		return;
	for (i = 0; i < ARRAY_SIZE(zimages); i++) {
		if (ZOK(zmount(zimages[i], variant->domain, 8), zimages[i]))
			return;
		for (pass = 0; pass < 12; pass++) {
			int st = zwalk_bounded(&w, zimages[i], true, 120000);

			EXPECT_EQ(0, st) TH_LOG("%s pass %u: walk %s", zimages[i], pass,
						st == -ETIMEDOUT ? "hung for 120 s" : "died");
			EXPECT_EQ(0, w.bad) TH_LOG("%s pass %u: %d bad, first: %s",
						   zimages[i], pass, w.bad, w.first_bad);
			if (st || w.bad)
				return;
			errors += w.errors;
			if (!w.errors)
				break;
		}
		TH_LOG("%s: exact after %u passes", zimages[i], pass + 1);
		EXPECT_EQ(zexpected_files(zimages[i]), w.files)
			TH_LOG("%s still failing after 12 passes", zimages[i]);
		if (ZOK(erofs_umount(MNT), "umount"))
			return;
	}
	EXPECT_LT(0, errors) TH_LOG("no read ever failed: the refusals did nothing");
	EXPECT_EQ(0, daemon_total(&self->daemon, &t));
	EXPECT_LT(0ULL, t.errors);
}

/* READs a cold mount of @image costs with @args (a throwaway cache). */
static int zreads_of_mount(const char *image, const char *domain,
			   const char *const args[], unsigned long long *reads)
{
	struct daemon_ctl d = { 0 };
	struct daemon_blob_stats t = { 0 };
	char cache[PATH_MAX];
	int ret;

	ret = fresh_cache_dir("zprobe", cache, sizeof(cache));
	if (!ret)
		ret = daemon_start(&d, DAEMON_PATH, cache, BLOB_DIR, args);
	if (ret)
		return ret;
	ret = zmount(image, domain, 1);
	if (!ret) {
		umount(MNT);
		ret = daemon_total(&d, &t);
	}
	daemon_stop(&d);
	*reads = t.reads;
	return ret;
}

/*
 * The daemon dies (no supervisor) a few READs into the first file read:
 * /dev/cachefiles closes, pending READs fail.  Reads fail with EIO or
 * ENOBUFS from then on, nothing hangs, nothing reads wrong; umount and a
 * new daemon work.
 */
TEST_F_TIMEOUT(z, z_daemon_killed_mid_read, 900)
{
	static const char *const split[] = { "--split-reads", "4096", NULL };
	const char *args[] = { "--split-reads", "4096", "--exit-after-reads", NULL, NULL };
	unsigned long long reads = 0;
	unsigned int i;
	char after[32];
	struct zwalk w;
	int st;

	for (i = 0; i < ARRAY_SIZE(zimages); i++) {
		if (ZOK(zreads_of_mount(zimages[i], variant->domain, split, &reads),
			"probe"))
			return;
		snprintf(after, sizeof(after), "%llu", reads + 3 + i);
		args[3] = after;
		if (ZOK(fresh_cache_dir("zkill", self->cache, sizeof(self->cache)), "cache") ||
		    ZOK(start(self, args), "daemon") ||
		    ZOK(zmount(zimages[i], variant->domain, 1), zimages[i]))
			return;
		st = zwalk_bounded(&w, zimages[i], true, 120000);
		EXPECT_EQ(0, st) TH_LOG("%s: walk %s", zimages[i],
					st == -ETIMEDOUT ? "hung for 120 s" : "died");
		if (st == -ETIMEDOUT)
			return;
		EXPECT_EQ(0, w.bad) TH_LOG("%s: %d bad, first: %s", zimages[i],
					   w.bad, w.first_bad);
		EXPECT_LT(0, w.errors) TH_LOG("%s: nothing failed after the daemon died",
					      zimages[i]);
		TH_LOG("%s: daemon died at READ %s: %d files exact, %d errors",
		       zimages[i], after, w.files, w.errors);
		/* exit status 3: crashed on purpose */
		EXPECT_EQ(3, daemon_stop(&self->daemon));
		if (ZOK(erofs_umount(MNT), "umount"))
			return;
	}
	/* The cache can be bound again and serves everything exact. */
	if (ZOK(fresh_cache_dir("zkill", self->cache, sizeof(self->cache)), "cache") ||
	    ZOK(start(self, NULL), "daemon"))
		return;
	for (i = 0; i < ARRAY_SIZE(zimages); i++)
		zcheck_exact(_metadata, zimages[i], variant->domain, "after");
}

TEST_HARNESS_MAIN
