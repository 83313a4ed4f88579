// SPDX-License-Identifier: GPL-2.0
/*
 * P3: lookup scaling, and kernel memory per registered blob.
 *
 * Grows one domain by mounting grow-000, grow-001, ... (each a bootstrap
 * and L distinct layers: L + 1 new blobs) one by one.  Every call of
 * erofs_fscache_register_cookie() is timed by function_graph (the only
 * traced function), so each mount gives L + 1 registration costs at the
 * current domain size ("p3grow" lines, for the plot).  At each checkpoint
 * -r small extra images (probe-NN: a bootstrap and 4 layers of their own)
 * are mounted and unmounted one after the other: the median registration
 * cost of each mount and the mount(2) latency, summarized over the
 * repetitions.  Before each timed mount the daemon is idle and the
 * previous probe's cookies are gone.
 *
 * Memory: caches dropped, before the first mount and at every checkpoint,
 * the growth of the live slab objects (/proc/slabinfo: active objects x
 * object size) and of the kernel pages (Slab + VmallocUsed + Percpu of
 * /proc/meminfo), divided by the blobs registered.  It covers everything a registered blob pins in
 * the kernel: erofs context, fscache cookie, cachefiles object, anon
 * inode, backing file (ext4 inode, dentry, struct file), daemon fds.
 *
 * usage: scale_bench -i IMAGES -l LAYERS -c CHECKPOINTS -r REPS [-p PROBE]
 *        CHECKPOINTS: image counts, e.g. 1,10,100 with -l 99 = 100,1000,10000 blobs
 */
#define _GNU_SOURCE
#include <sched.h>
#include "bench.h"

#define DOMAIN		"scale"
#define MAX_SAMPLES	4096

static double samples[MAX_SAMPLES];

static double median_of_mount(int *n)
{
	struct summary s;

	*n = 0;
	if (trace_collect(samples, n, MAX_SAMPLES) < 0)
		return -1;
	s = summarize(samples, *n);
	return s.median;
}

static long kmem_total_kb(const struct kmem *m)
{
	return m->slab_kb + m->vmalloc_kb + m->percpu_kb;
}

/*
 * Mount and unmount a fresh probe image (a bootstrap and 4 layers of its
 * own: never registered before, so no wait on a cookie still being
 * relinquished) @reps times; the daemon is idle before each mount.
 */
static void probe(struct bench_daemon *d, const char *prefix, int first,
		  int blobs, int reps, bool traced, int probe_blobs)
{
	double reg[64], lat[64];
	char fsid[64];
	long base = fscache_cookies();
	struct summary s;
	int i, n;
	u64 t0;

	for (i = 0; i < reps; i++) {
		snprintf(fsid, sizeof(fsid), "%s-%02d", prefix, first + i);
		quiesce(d, base);
		if (traced)
			median_of_mount(&n);	/* drop anything recorded before */
		t0 = now_ns();
		mount_or_die("/mnt/probe", fsid, DOMAIN);
		lat[i] = (now_ns() - t0) / 1e6;
		if (traced) {
			reg[i] = median_of_mount(&n);
			if (n != probe_blobs)
				bench_fail("probe mount %s: %d registrations traced, expected %d",
					   fsid, n, probe_blobs);
		}
		umount_or_die("/mnt/probe");
		printf("# bench: p3probe blobs=%d rep=%d reg_ns=%.0f mount_ms=%.3f\n",
		       blobs, i, traced ? reg[i] : -1, lat[i]);
	}
	if (traced) {
		s = summarize(reg, reps);
		printf("# bench: p3 blobs=%d metric=reg_ns median=%.0f min=%.0f max=%.0f n=%d\n",
		       blobs, s.median, s.min, s.max, s.n);
	}
	s = summarize(lat, reps);
	printf("# bench: p3 blobs=%d metric=mount_ms median=%.3f min=%.3f max=%.3f n=%d\n",
	       blobs, s.median, s.min, s.max, s.n);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int images = 100, layers = 99, reps = 9, nck = 0, ck[16], c, i, k, n;
	char probe_prefix[32] = "probe";
	int probe_count = 0;
	struct slabs *s0 = calloc(1, sizeof(*s0)), *s1 = calloc(1, sizeof(*s1));
	struct bench_daemon d;
	struct kmem m0, m1;
	char fsid[64], mnt[64], top[1024];
	int probe_blobs = 0;
	bool traced, pinned;
	cpu_set_t cpus;
	FILE *f;
	u64 t0;

	while ((c = getopt(argc, argv, "i:l:c:r:")) != -1) {
		switch (c) {
		case 'i': images = atoi(optarg); break;
		case 'l': layers = atoi(optarg); break;
		case 'c': nck = parse_list(optarg, ck, 16); break;
		case 'r': reps = atoi(optarg); break;
		default:
			bench_fail("usage: scale_bench -i IMAGES -l LAYERS -c N,N.. -r REPS");
		}
	}
	if (images < 1 || images > 1000 || reps < 1 || reps > 64 || !s0 || !s1)
		bench_fail("bad arguments");
	if (!nck)
		ck[nck++] = images;

	/* probe.txt: "<fsid prefix> <images> <blobs per image>" */
	f = fopen(DATA_DIR "/probe.txt", "r");
	if (!f || fscanf(f, "%31s %d %d", probe_prefix, &probe_count, &probe_blobs) != 3)
		bench_fail("no " DATA_DIR "/probe.txt");
	fclose(f);
	if (nck * reps > probe_count)
		bench_fail("%d checkpoints x %d repetitions need more than the %d probe images",
			   nck, reps, probe_count);

	/*
	 * Mounter and daemon on one CPU: every OPEN/READ round trip is a
	 * switch on that CPU instead of waking a halted second vCPU, whose
	 * wake-up latency under TCG on a loaded host is milliseconds and
	 * would drown the registration cost in the mount latency.
	 */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	pinned = !sched_setaffinity(0, sizeof(cpus), &cpus);
	daemon_up(&d, "p3", false);
	traced = !trace_start(REG_FUNC);
	printf("# bench: p3-setup images=%d layers=%d blobs_per_image=%d reps=%d traced=%d func=%s cpus=%ld pinned_cpu0=%d\n",
	       images, layers, layers + 1, reps, traced, REG_FUNC,
	       sysconf(_SC_NPROCESSORS_ONLN), pinned);
	fflush(stdout);

	kmem_snapshot(&m0);
	slabs_snapshot(s0);
	for (i = 0, k = 0; i < images; i++) {
		int before = i * (layers + 1);
		double reg = -1, ms;

		snprintf(fsid, sizeof(fsid), "grow-%03d", i);
		snprintf(mnt, sizeof(mnt), "/mnt/g%03d", i);
		quiesce(&d, -1);
		t0 = now_ns();
		mount_or_die(mnt, fsid, DOMAIN);
		ms = (now_ns() - t0) / 1e6;
		if (traced) {
			reg = median_of_mount(&n);
			if (n != layers + 1)
				bench_fail("mount of %s: %d registrations traced, expected %d",
					   fsid, n, layers + 1);
		}
		printf("# bench: p3grow blobs=%d reg_ns=%.0f mount_ms=%.3f\n", before, reg, ms);

		if (k < nck && i + 1 == ck[k]) {
			int blobs = (i + 1) * (layers + 1);

			k++;
			probe(&d, probe_prefix, (k - 1) * reps, blobs, reps, traced,
			      probe_blobs);
			kmem_snapshot(&m1);
			slabs_snapshot(s1);
			printf("# bench: memck blobs=%d slab_obj_bytes_per_blob=%.0f kmem_bytes_per_blob=%.0f\n",
			       blobs, (slabs_total(s1) - slabs_total(s0)) / (double)blobs,
			       (kmem_total_kb(&m1) - kmem_total_kb(&m0)) * 1024.0 / blobs);
		}
		fflush(stdout);
	}

	/* memory at the full size */
	{
		int blobs = images * (layers + 1);
		double slab, all;

		kmem_snapshot(&m1);
		slabs_snapshot(s1);
		slab = (slabs_total(s1) - slabs_total(s0)) / (double)blobs;
		all = (kmem_total_kb(&m1) - kmem_total_kb(&m0)) * 1024.0 / blobs;
		slabs_growth(s0, s1, 8, top, sizeof(top));
		printf("# bench: mem blobs=%d metric=slab_obj_bytes_per_blob median=%.0f min=%.0f max=%.0f n=1\n",
		       blobs, slab, slab, slab);
		printf("# bench: mem blobs=%d metric=kmem_bytes_per_blob median=%.0f min=%.0f max=%.0f n=1\n",
		       blobs, all, all, all);
		printf("# bench: mem-slabs blobs=%d top=%s\n", blobs, top);
	}

	if (traced)
		trace_stop();
	t0 = now_ns();
	for (i = 0; i < images; i++) {
		snprintf(mnt, sizeof(mnt), "/mnt/g%03d", i);
		umount_or_die(mnt);
	}
	printf("# bench: p3umount images=%d ms=%.1f\n", images, (now_ns() - t0) / 1e6);
	daemon_down(&d);
	printf("ok 1 scale_bench%s\n", traced ? "" : " # registration cost not traced");
	return 0;
}
