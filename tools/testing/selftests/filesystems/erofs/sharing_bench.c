// SPDX-License-Identifier: GPL-2.0
/*
 * P1/P2: what sharing saves.  N images over a pool of overlapping layers
 * (harness/bench-data.sh: share-00.. listed in /data/share.txt) are
 * mounted together, every file is read to the end, and everything is
 * unmounted; then the daemon is stopped so cachefiles commits its files.
 *
 *   p1  daemon OPENs and bytes served
 *   p2  cache bytes on disk (allocated blocks of the D* backing files)
 *
 * for no domain and for one shared domain, each on a fresh cache, -r
 * times.  The limit, beside them, is what perfect sharing needs: one
 * OPEN per distinct blob (bootstraps + distinct layers), and per
 * distinct blob the bytes of its largest single fetch / largest single
 * cache file of the no-domain run.
 *
 * usage: sharing_bench [-r REPS]
 */
#define _GNU_SOURCE
#include "bench.h"

#define MAX_IMAGES	64
#define MAX_KEYS	4096

static char fsids[MAX_IMAGES][64];
static int nr_images;

/* distinct key -> largest bytes seen under any volume */
struct keymax {
	int n;
	char key[MAX_KEYS][80];
	u64 max[MAX_KEYS];
};

static void keymax_add(struct keymax *km, const char *key, u64 bytes)
{
	int i;

	for (i = 0; i < km->n; i++)
		if (!strcmp(km->key[i], key))
			break;
	if (i == km->n) {
		if (km->n == MAX_KEYS)
			bench_fail("more than %d distinct blobs", MAX_KEYS);
		snprintf(km->key[km->n], sizeof(km->key[0]), "%s", key);
		km->max[km->n++] = 0;
	}
	if (bytes > km->max[i])
		km->max[i] = bytes;
}

static u64 keymax_sum(const struct keymax *km)
{
	u64 s = 0;
	int i;

	for (i = 0; i < km->n; i++)
		s += km->max[i];
	return s;
}

static void served_cb(const char *vol, const char *key, const struct blob_counts *c,
		      void *arg)
{
	(void)vol;
	keymax_add(arg, key, c->bytes);
}

static void cached_cb(const char *name, u64 bytes, void *arg)
{
	keymax_add(arg, name, bytes);
}

static void load_images(void)
{
	FILE *f = fopen(DATA_DIR "/share.txt", "r");

	if (!f)
		bench_fail("no " DATA_DIR "/share.txt: data disk not made by bench-data.sh?");
	while (nr_images < MAX_IMAGES &&
	       fscanf(f, "%63s%*[^\n]", fsids[nr_images]) == 1)
		nr_images++;
	fclose(f);
	if (!nr_images)
		bench_fail("share.txt lists no image");
}

struct run {
	double opens, served, cached, read, wall_ms;
};

static struct run run_once(const char *mode, int rep, struct keymax *served,
			   struct keymax *cached)
{
	const char *domain = strcmp(mode, "domain") ? NULL : "share";
	struct bench_daemon d;
	struct blob_counts t;
	struct run r = { 0 };
	char name[64], mnt[64];
	u64 t0, bytes = 0;
	int i;

	snprintf(name, sizeof(name), "p12-%s-%d", mode, rep);
	daemon_up(&d, name, true);
	t0 = now_ns();
	for (i = 0; i < nr_images; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/s%d", i);
		mount_or_die(mnt, fsids[i], domain);
	}
	for (i = 0; i < nr_images; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/s%d", i);
		bytes += read_tree(mnt);
	}
	for (i = 0; i < nr_images; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/s%d", i);
		umount_or_die(mnt);
	}
	r.wall_ms = (now_ns() - t0) / 1e6;
	daemon_down(&d);
	daemon_totals(&d, &t);
	if (t.errors)
		bench_fail("%s run %d: the daemon counted %llu errors (log %s)", mode,
			   rep, t.errors, d.log);
	r.opens = t.opens;
	r.served = t.bytes;
	r.read = bytes;
	r.cached = cache_bytes(d.cache);
	if (served)
		daemon_each_blob(&d, served_cb, served);
	if (cached)
		cache_each_file(d.cache, cached_cb, cached);
	printf("# bench: p12-run mode=%s rep=%d opens=%.0f served=%.0f cached=%.0f read=%.0f wall_ms=%.1f\n",
	       mode, rep, r.opens, r.served, r.cached, r.read, r.wall_ms);
	fflush(stdout);
	return r;
}

static void print_summary(const char *measure, const char *mode, const char *metric,
			  double *v, int n)
{
	struct summary s = summarize(v, n);

	printf("# bench: %s mode=%s metric=%s median=%.1f min=%.1f max=%.1f n=%d\n",
	       measure, mode, metric, s.median, s.min, s.max, s.n);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "nodomain", "domain" };
	static struct keymax served, cached;
	double opens[2][16], srv[2][16], cch[2][16], rd[2][16], wall[2][16];
	int reps = 3, c, m, i;

	while ((c = getopt(argc, argv, "r:")) != -1) {
		if (c != 'r')
			bench_fail("usage: sharing_bench [-r REPS]");
		reps = atoi(optarg);
	}
	if (reps < 1 || reps > 16)
		bench_fail("-r must be 1..16");
	load_images();
	printf("# bench: p12-setup images=%d reps=%d\n", nr_images, reps);

	/* Alternate the modes so drift in the host's load hits both alike. */
	for (i = 0; i < reps; i++) {
		for (m = 0; m < 2; m++) {
			bool first_nd = !i && !m;
			struct run r = run_once(modes[m], i, first_nd ? &served : NULL,
						first_nd ? &cached : NULL);

			opens[m][i] = r.opens;
			srv[m][i] = r.served;
			cch[m][i] = r.cached;
			rd[m][i] = r.read;
			wall[m][i] = r.wall_ms;
		}
	}
	for (m = 0; m < 2; m++) {
		print_summary("p1", modes[m], "opens", opens[m], reps);
		print_summary("p1", modes[m], "bytes_served", srv[m], reps);
		print_summary("p2", modes[m], "cache_bytes", cch[m], reps);
		print_summary("p12", modes[m], "bytes_read", rd[m], reps);
		print_summary("p12", modes[m], "wall_ms", wall[m], reps);
	}
	/* limits, from the no-domain run: every distinct blob exactly once */
	printf("# bench: p1 mode=limit metric=opens median=%d min=%d max=%d n=1\n",
	       served.n, served.n, served.n);
	printf("# bench: p1 mode=limit metric=bytes_served median=%llu min=%llu max=%llu n=1\n",
	       keymax_sum(&served), keymax_sum(&served), keymax_sum(&served));
	printf("# bench: p2 mode=limit metric=cache_bytes median=%llu min=%llu max=%llu n=1\n",
	       keymax_sum(&cached), keymax_sum(&cached), keymax_sum(&cached));
	printf("ok 1 sharing_bench\n");
	return 0;
}
