// SPDX-License-Identifier: GPL-2.0
/*
 * P5: page-cache sharing in a domain (-o inode_share, issue 12).
 *
 * Images p5-1..p5-16 (harness/bench-data.sh) stack one 32 MiB base layer
 * (big/: 8 files of 3 MiB, small/: 64 files of 128 KiB) under a small
 * layer each.  For N = 1, 2, 4, 8, 16 images mounted in one domain, with
 * and (where the kernel has it) without inode_share:
 *   cache_bytes  growth of /proc/meminfo "Cached" while every image reads
 *                the whole base layer with read(): the page cache drops
 *                first, every image's metadata is looked up before the
 *                baseline, and the data comes from the cachefiles cache
 *                (filled before), which is read with direct I/O;
 *   limit        one copy: the base layer's files rounded up to pages;
 *   mib_per_s    cold: image 1 reads the layer after the drop; warm:
 *                image 2 reads it right after (page-cache hits when
 *                shared, the cache files again when not);
 *   mount_ms     mount(2) of one image, the domain kept up by another.
 * Output: "# bench: p5 ..." lines for harness/bench-report.sh.
 */
#include "bench.h"

#define MNT	"/mnt/p5."
#define DOM	"p5dom"
#define NBIG	8
#define NSMALL	64

static const int nlist[] = { 1, 2, 4, 8, 16 };
#define NN	((int)(sizeof(nlist) / sizeof(nlist[0])))

static int p5_mount(int img, bool share)
{
	char target[64], opts[128];

	snprintf(target, sizeof(target), MNT "%d", img);
	snprintf(opts, sizeof(opts), "fsid=p5-%d,domain_id=" DOM "%s", img,
		 share ? ",inode_share" : "");
	mkdir(target, 0755);
	return mount("none", target, "erofs", MS_RDONLY, opts) ? -errno : 0;
}

static void p5_mount_or_die(int img, bool share)
{
	int ret = p5_mount(img, share);

	if (ret)
		bench_fail("mount p5-%d%s: %s", img, share ? " (inode_share)" : "",
			   strerror(-ret));
}

static void p5_umount(int img)
{
	char target[64];

	snprintf(target, sizeof(target), MNT "%d", img);
	umount_or_die(target);
}

static void set_path(char *p, size_t size, int img, int f)
{
	if (f < NBIG)
		snprintf(p, size, MNT "%d/big/f%d", img, f);
	else
		snprintf(p, size, MNT "%d/small/f%d", img, f - NBIG);
}

/* Look up every file of the set in image @img; returns the set's pages in bytes. */
static u64 stat_set(int img)
{
	char p[PATH_MAX];
	struct stat st;
	u64 pages = 0;
	int f;

	for (f = 0; f < NBIG + NSMALL; f++) {
		set_path(p, sizeof(p), img, f);
		if (stat(p, &st))
			bench_fail("stat %s: %s", p, strerror(errno));
		pages += (st.st_size + 4095) / 4096;
	}
	return pages * 4096;
}

static u64 read_set(int img)
{
	static char buf[1 << 17];
	char p[PATH_MAX];
	u64 sum = 0;
	int f;

	for (f = 0; f < NBIG + NSMALL; f++) {
		set_path(p, sizeof(p), img, f);
		sum += bench_read_file(p, buf, sizeof(buf));
	}
	return sum;
}

static long long cached_or_die(void)
{
	long long c = meminfo("Cached");

	if (c < 0)
		bench_fail("no Cached in /proc/meminfo");
	return c;
}

static void drop_all_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "3", 1) != 1)
		bench_fail("drop_caches: %s", strerror(errno));
	close(fd);
}

static void print(const char *what, const char *sel, const char *metric,
		  double *v, int n, const char *fmt)
{
	struct summary s = summarize(v, n);
	char line[512];

	snprintf(line, sizeof(line), "# bench: %s %s metric=%s median=%s min=%s max=%s n=%d\n",
		 what, sel, metric, fmt, fmt, fmt, n);
	printf(line, s.median, s.min, s.max);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int reps = 3, opt, m, k, r, i, nmodes;
	double v[32], cold[32], warm[32];
	struct bench_daemon d = { 0 };
	bool share_ok;
	u64 limit, bytes;
	char sel[64];

	while ((opt = getopt(argc, argv, "r:")) != -1) {
		if (opt == 'r')
			reps = atoi(optarg);
		else
			bench_fail("usage: %s [-r REPS]", argv[0]);
	}
	if (reps < 1 || reps > 15)
		bench_fail("-r must be 1..15");
	setvbuf(stdout, NULL, _IOLBF, 0);
	daemon_up(&d, "p5", false);
	/* fill the cachefiles cache: later reads come from it, direct I/O */
	p5_mount_or_die(1, false);
	limit = stat_set(1);
	bytes = read_set(1);
	p5_umount(1);
	share_ok = !p5_mount(1, true);
	if (share_ok)
		p5_umount(1);
	printf("# bench: p5-setup images=16 set_files=%d set_bytes=%llu limit=%llu reps=%d inode_share=%s\n",
	       NBIG + NSMALL, bytes, limit, reps, share_ok ? "yes" : "no");
	for (k = 0; k < NN; k++) {
		snprintf(sel, sizeof(sel), "n=%d mode=limit", nlist[k]);
		v[0] = limit;
		print("p5", sel, "cache_bytes", v, 1, "%.0f");
	}

	nmodes = share_ok ? 2 : 1;
	for (m = 0; m < nmodes; m++) {
		bool share = m == 1;
		const char *mode = share ? "inode_share" : "plain";

		for (k = 0; k < NN; k++) {
			for (r = 0; r < reps; r++) {
				long long c0, c1;

				for (i = 1; i <= nlist[k]; i++)
					p5_mount_or_die(i, share);
				drop_all_caches();
				for (i = 1; i <= nlist[k]; i++)
					stat_set(i);
				c0 = cached_or_die();
				for (i = 1; i <= nlist[k]; i++)
					if (read_set(i) != bytes)
						bench_fail("p5-%d: short read", i);
				c1 = cached_or_die();
				for (i = 1; i <= nlist[k]; i++)
					p5_umount(i);
				v[r] = c1 - c0;
				printf("# bench: p5run n=%d mode=%s rep=%d cache_bytes=%lld\n",
				       nlist[k], mode, r, c1 - c0);
			}
			snprintf(sel, sizeof(sel), "n=%d mode=%s", nlist[k], mode);
			print("p5", sel, "cache_bytes", v, reps, "%.0f");
		}

		for (r = 0; r < reps; r++) {
			u64 t0, t1, t2;

			p5_mount_or_die(1, share);
			p5_mount_or_die(2, share);
			drop_all_caches();
			stat_set(1);
			stat_set(2);
			t0 = now_ns();
			read_set(1);
			t1 = now_ns();
			read_set(2);
			t2 = now_ns();
			p5_umount(1);
			p5_umount(2);
			cold[r] = bytes / 1048576.0 / ((t1 - t0) / 1e9);
			warm[r] = bytes / 1048576.0 / ((t2 - t1) / 1e9);
		}
		snprintf(sel, sizeof(sel), "mode=%s what=cold", mode);
		print("p5read", sel, "mib_per_s", cold, reps, "%.1f");
		snprintf(sel, sizeof(sel), "mode=%s what=warm", mode);
		print("p5read", sel, "mib_per_s", warm, reps, "%.1f");

		/* mount latency of one image, the domain kept up by p5-16 */
		p5_mount_or_die(16, share);
		for (r = 0; r < 15; r++) {
			u64 t0 = now_ns();

			p5_mount_or_die(3, share);
			v[r] = (now_ns() - t0) / 1e6;
			p5_umount(3);
		}
		p5_umount(16);
		snprintf(sel, sizeof(sel), "mode=%s", mode);
		print("p5mount", sel, "mount_ms", v, 15, "%.2f");
	}
	daemon_down(&d);
	return 0;
}
