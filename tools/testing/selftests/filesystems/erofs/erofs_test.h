/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the EROFS shared-domain selftests: where the guest
 * keeps the test data, mounting, tree comparison and cache inspection.
 */
#ifndef EROFS_SELFTEST_H
#define EROFS_SELFTEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Read-only data disk laid out by harness/mkdata.sh. */
#define DATA_DIR	"/data"
#define BLOB_DIR	DATA_DIR "/blobs"
#define EXPECT_DIR	DATA_DIR "/expect"
/* ext4 cache disk: tmpfs cannot hold a cachefiles cache. */
#define CACHE_ROOT	"/cache"
#define DAEMON_PATH	"/bin/erofs_ondemand_daemon"

/* Mount an image in fscache mode; domain may be NULL.  Returns 0 or -errno. */
static inline int erofs_mount(const char *target, const char *fsid,
			      const char *domain)
{
	char opts[512];

	mkdir(target, 0755);
	if (domain)
		snprintf(opts, sizeof(opts), "fsid=%s,domain_id=%s", fsid, domain);
	else
		snprintf(opts, sizeof(opts), "fsid=%s", fsid);
	if (mount("none", target, "erofs", MS_RDONLY, opts))
		return -errno;
	return 0;
}

static inline int erofs_umount(const char *target)
{
	return umount(target) ? -errno : 0;
}

/*
 * The blob name (sha256 of its content, also the device tag) of a layer
 * built by mkdata.sh, from /data/layers.txt.
 */
static inline int layer_blob(const char *layer, char *name, size_t size)
{
	char l[128], b[128];
	FILE *f = fopen(DATA_DIR "/layers.txt", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%127s %127s", l, b) == 2) {
		if (!strcmp(l, layer)) {
			snprintf(name, size, "%s", b);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Field @key of /proc/meminfo ("Cached", "MemAvailable"), in bytes, or -1. */
static inline long long meminfo(const char *key)
{
	size_t n = strlen(key);
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			kb = strtoll(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* A fresh, empty cache directory on the cache disk. */
static inline int fresh_cache_dir(const char *name, char *path, size_t size)
{
	static int seq;

	snprintf(path, size, CACHE_ROOT "/%s.%d.%d", name, getpid(), seq++);
	return mkdir(path, 0700) ? -errno : 0;
}

/*
 * Differences (not read errors) compare_files() and compare_trees() have
 * met in this process: a test that tolerates failed reads can still insist
 * that no byte ever read back wrong.  Where a failed read and a difference
 * look alike (fewer directory entries), it counts as a failed read.
 */
static int compare_differences;

static inline int compare_files(const char *a, const char *b)
{
	static char ba[65536], bb[65536];
	int fa, fb, ret = 0;
	ssize_t na, nb;

	fa = open(a, O_RDONLY);
	fb = open(b, O_RDONLY);
	if (fa < 0 || fb < 0) {
		fprintf(stderr, "# cannot open %s or %s: %s\n", a, b, strerror(errno));
		ret = -1;
		goto out;
	}
	do {
		na = read(fa, ba, sizeof(ba));
		nb = read(fb, bb, sizeof(bb));
		if (na < 0 || nb < 0) {
			fprintf(stderr, "# read error on %s: %s\n", na < 0 ? a : b,
				strerror(errno));
			ret = -1;
			break;
		}
		if (na != nb || memcmp(ba, bb, na)) {
			compare_differences++;
			fprintf(stderr, "# content differs: %s vs %s\n", a, b);
			ret = -1;
			break;
		}
	} while (na > 0);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return ret;
}

/*
 * Recursively compare the tree @got with @want: same names, types,
 * regular file bytes and symlink targets.  Returns the number of files
 * compared, or -1 on the first difference (reported on stderr).
 */
static inline int compare_trees(const char *want, const char *got)
{
	struct dirent *de;
	int n = 0, nw = 0, ng = 0;
	DIR *d;

	d = opendir(got);
	if (!d) {
		fprintf(stderr, "# cannot open directory %s: %s\n", got, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ng++;
	closedir(d);

	d = opendir(want);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char pw[PATH_MAX], pg[PATH_MAX];
		struct stat sw, sg;
		int r;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nw++;
		if (snprintf(pw, sizeof(pw), "%s/%s", want, de->d_name) >= PATH_MAX ||
		    snprintf(pg, sizeof(pg), "%s/%s", got, de->d_name) >= PATH_MAX) {
			fprintf(stderr, "# path too long under %s\n", got);
			n = -1;
			break;
		}
		if (lstat(pw, &sw) || lstat(pg, &sg)) {
			if (errno == ENOENT)	/* else a failed read, not a difference */
				compare_differences++;
			fprintf(stderr, "# missing %s\n", pg);
			n = -1;
			break;
		}
		if ((sw.st_mode & S_IFMT) != (sg.st_mode & S_IFMT)) {
			compare_differences++;
			fprintf(stderr, "# type differs: %s\n", pg);
			n = -1;
			break;
		}
		if (S_ISDIR(sw.st_mode)) {
			r = compare_trees(pw, pg);
		} else if (S_ISLNK(sw.st_mode)) {
			char tw[PATH_MAX] = "", tg[PATH_MAX] = "";

			r = readlink(pw, tw, sizeof(tw) - 1) < 0 ||
			    readlink(pg, tg, sizeof(tg) - 1) < 0 ||
			    strcmp(tw, tg) ? -1 : 1;
			if (r < 0) {
				compare_differences++;
				fprintf(stderr, "# symlink differs: %s\n", pg);
			}
		} else {
			r = sw.st_size != sg.st_size ? -1 : compare_files(pw, pg);
			if (r < 0 && sw.st_size != sg.st_size) {
				compare_differences++;
				fprintf(stderr, "# size differs: %s\n", pg);
			}
			r = r < 0 ? -1 : 1;
		}
		if (r < 0) {
			n = -1;
			break;
		}
		n += r;
	}
	closedir(d);
	if (n >= 0 && nw != ng) {
		/* fewer entries may be a readdir that failed */
		if (ng > nw)
			compare_differences++;
		fprintf(stderr, "# %s has %d entries, expected %d\n", got, ng, nw);
		return -1;
	}
	return n;
}

/*
 * Called by walk_tree() for every entry under its @dir, with the entry's
 * lstat() in @st and @err 0; a directory before what it holds.  When a
 * directory cannot be opened, or an entry's path is too long or cannot be
 * lstat()ed, it is called with @st NULL and @err the -errno instead.
 * Returns 0 to go on, or a negative value that ends the walk.
 */
typedef int (*walk_fn)(const char *path, const struct stat *st, int err,
		       void *arg);

/* Visit the tree under @dir depth first: 0, or what stopped @fn. */
static inline int walk_tree(const char *dir, walk_fn fn, void *arg)
{
	struct dirent *de;
	int ret = 0;
	DIR *d = opendir(dir);

	if (!d)
		return fn(dir, NULL, -errno, arg);
	while (!ret && (de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= PATH_MAX)
			ret = fn(p, NULL, -ENAMETOOLONG, arg);
		else if (lstat(p, &st))
			ret = fn(p, NULL, -errno, arg);
		else if (!(ret = fn(p, &st, 0, arg)) && S_ISDIR(st.st_mode))
			ret = walk_tree(p, fn, arg);
	}
	closedir(d);
	return ret;
}

struct files_named {
	const char *name;
	int n;
};

static inline int count_named(const char *path, const struct stat *st,
			      int err, void *arg)
{
	struct files_named *c = arg;
	const char *base = strrchr(path, '/');

	if (!err && S_ISREG(st->st_mode) && !strcmp(base ? base + 1 : path, c->name))
		c->n++;
	return 0;
}

/* Number of regular files under @dir (recursively) named exactly @name. */
static inline int count_files_named(const char *dir, const char *name)
{
	struct files_named c = { .name = name };

	walk_tree(dir, count_named, &c);
	return c.n;
}

#endif /* EROFS_SELFTEST_H */
