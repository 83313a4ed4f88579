// SPDX-License-Identifier: GPL-2.0
/*
 * P4: cross-domain contention.  K threads each mount and unmount images
 * of their own (p4w-<k>-<i>: a bootstrap and 16 layers each, 4 per
 * worker in rotation) in a loop for -t ms, either each in its own domain
 * ("split": p4d-<k>) or all in one ("one": p4one).  Every domain in use is pinned by a mounted image
 * (p4pin-<k>), so a cycle never creates or destroys a domain or volume.
 * Optionally -b images grow-000.. are mounted first in a background
 * domain: a busy neighbour whose blobs stock's global list holds too.
 *
 * Reports mounts (mount + umount cycles) per second per (K, mode), the
 * median and range over -r repetitions; the modes alternate inside each
 * repetition, and each run starts with the daemon idle.
 *
 * usage: contention_bench -k 1,2,4,8 -t MS -r REPS [-b IMAGES -l LAYERS]
 *        -b: background images grow-000.. of LAYERS layers each (default 99)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include "bench.h"

#define MAX_K			8	/* harness/bench-data.sh makes 8 workers' images */
#define IMAGES_PER_WORKER	4

struct worker {
	pthread_t thread;
	int id;
	const char *mode;
	u64 deadline;
	long cycles;
	int err;
};

static void domain_of(const char *mode, int id, char *buf, size_t sz)
{
	if (!strcmp(mode, "one"))
		snprintf(buf, sz, "p4one");
	else
		snprintf(buf, sz, "p4d-%d", id);
}

/*
 * Mount and unmount image @seq (mod IMAGES_PER_WORKER) of worker @id.
 * Each worker rotates over images of its own so that a mount does not
 * wait for the same cookies, relinquished by the umount just before, to
 * be withdrawn.
 */
static int cycle(int id, const char *mode, long seq)
{
	char fsid[32], mnt[32], dom[32];
	int ret;

	snprintf(fsid, sizeof(fsid), "p4w-%d-%ld", id, seq % IMAGES_PER_WORKER);
	snprintf(mnt, sizeof(mnt), "/mnt/w%d", id);
	domain_of(mode, id, dom, sizeof(dom));
	ret = erofs_mount(mnt, fsid, dom);
	if (ret)
		return ret;
	return erofs_umount(mnt);
}

static void *work(void *arg)
{
	struct worker *w = arg;

	while (now_ns() < w->deadline) {
		w->err = cycle(w->id, w->mode, w->cycles);
		if (w->err)
			break;
		w->cycles++;
	}
	return NULL;
}

static double run(int k, const char *mode, int ms)
{
	struct worker w[MAX_K];
	long total = 0;
	u64 t0, t1;
	int i;

	t0 = now_ns();
	for (i = 0; i < k; i++) {
		w[i] = (struct worker){ .id = i, .mode = mode,
					.deadline = t0 + (u64)ms * 1000000 };
		if (pthread_create(&w[i].thread, NULL, work, &w[i]))
			bench_fail("pthread_create: %s", strerror(errno));
	}
	for (i = 0; i < k; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].err)
			bench_fail("K=%d %s worker %d: %s", k, mode, i, strerror(-w[i].err));
		total += w[i].cycles;
	}
	t1 = now_ns();
	return total / ((t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "split", "one" };
	int ks[8], nk = 0, ms = 2000, reps = 3, bg = 0, layers = 99, c, i, j, m, r;
	double rate[8][2][16];
	char fsid[32], mnt[32], dom[32];
	struct bench_daemon d;
	long cookies;
	int maxk = 0;

	while ((c = getopt(argc, argv, "k:t:r:b:l:")) != -1) {
		switch (c) {
		case 'k': nk = parse_list(optarg, ks, 8); break;
		case 't': ms = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		case 'b': bg = atoi(optarg); break;
		case 'l': layers = atoi(optarg); break;
		default:
			bench_fail("usage: contention_bench -k K,K.. -t MS -r REPS [-b IMAGES -l LAYERS]");
		}
	}
	if (!nk)
		ks[nk++] = 1;
	for (i = 0; i < nk; i++) {
		if (ks[i] < 1 || ks[i] > MAX_K)
			bench_fail("K must be 1..%d", MAX_K);
		if (ks[i] > maxk)
			maxk = ks[i];
	}
	if (reps < 1 || reps > 16 || ms < 100)
		bench_fail("bad arguments");

	daemon_up(&d, "p4", false);
	for (i = 0; i < bg; i++) {
		snprintf(fsid, sizeof(fsid), "grow-%03d", i);
		snprintf(mnt, sizeof(mnt), "/mnt/bg%03d", i);
		mount_or_die(mnt, fsid, "p4bg");
	}
	/* pins, and one warm-up cycle per worker and mode (cache files exist after) */
	for (i = 0; i < maxk; i++) {
		snprintf(fsid, sizeof(fsid), "p4pin-%d", i);
		snprintf(mnt, sizeof(mnt), "/mnt/pin%d", i);
		domain_of("split", i, dom, sizeof(dom));
		mount_or_die(mnt, fsid, dom);
	}
	mount_or_die("/mnt/pinone", "p4pin-0", "p4one");
	for (i = 0; i < maxk; i++)
		for (m = 0; m < 2; m++)
			for (j = 0; j < IMAGES_PER_WORKER; j++)
				if (cycle(i, modes[m], j))
					bench_fail("warm-up cycle of worker %d (%s) failed", i, modes[m]);

	quiesce(&d, -1);
	cookies = fscache_cookies();
	printf("# bench: p4-setup ks=%d..%d ms=%d reps=%d background_blobs=%d cpus=%ld\n",
	       ks[0], ks[nk - 1], ms, reps, bg * (layers + 1), sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	for (r = 0; r < reps; r++)
		for (j = 0; j < nk; j++)
			for (m = 0; m < 2; m++) {
				quiesce(&d, cookies);
				rate[j][m][r] = run(ks[j], modes[m], ms);
				printf("# bench: p4run bg=%d k=%d mode=%s rep=%d mounts_per_s=%.1f\n",
				       bg * (layers + 1), ks[j], modes[m], r, rate[j][m][r]);
				fflush(stdout);
			}
	for (j = 0; j < nk; j++)
		for (m = 0; m < 2; m++) {
			struct summary s = summarize(rate[j][m], reps);

			printf("# bench: p4 bg=%d k=%d mode=%s metric=mounts_per_s median=%.1f min=%.1f max=%.1f n=%d\n",
			       bg * (layers + 1), ks[j], modes[m], s.median, s.min, s.max, s.n);
		}

	umount_or_die("/mnt/pinone");
	for (i = 0; i < maxk; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/pin%d", i);
		umount_or_die(mnt);
	}
	for (i = 0; i < bg; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/bg%03d", i);
		umount_or_die(mnt);
	}
	daemon_down(&d);
	printf("ok 1 contention_bench\n");
	return 0;
}
