// SPDX-License-Identifier: GPL-2.0
/*
 * P6: does a domain being torn down behind a slow daemon hold up the
 * others?  Domain A's only image (p4pin-0) is unmounted while the daemon
 * withholds the close of its bootstrap (--hold-close), so A's fscache
 * volume cannot die; then A is mounted again, and that mount waits for
 * the old volume.  Meanwhile, this measures the latency of mounting (and
 * unmounting) an image in domain B, which is pinned and has nothing to do
 * with A, and of a first mount in a brand-new domain C.  -H ms after the
 * remount of A started, the daemon releases the held close (SIGUSR1), as a
 * slow daemon eventually would.
 *
 * The same cycles are timed with nothing being torn down ("quiet"), as the
 * baseline.  Each repetition uses a fresh daemon (a release is for good).
 *
 * usage: teardown_bench -r REPS -H HOLD_MS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include "bench.h"

#define CYCLES	4	/* B mounts timed per repetition and state */

static const char *const b_images[CYCLES] = {
	"p4w-0-0", "p4w-0-1", "p4w-0-2", "p4w-0-3",
};

/* Time one mount + umount of @fsid in @domain, in ms. */
static double timed_cycle(const char *fsid, const char *domain)
{
	u64 t0 = now_ns();

	mount_or_die("/mnt/b", fsid, domain);
	umount_or_die("/mnt/b");
	return (now_ns() - t0) / 1e6;
}

struct release {
	pthread_t thread;
	pid_t daemon;
	int ms;
};

static void *release_later(void *arg)
{
	struct release *r = arg;

	usleep(r->ms * 1000);
	kill(r->daemon, SIGUSR1);
	return NULL;
}

static void report(const char *state, const char *what, double *v, int n)
{
	struct summary s = summarize(v, n);

	printf("# bench: p6 state=%s what=%s metric=mount_ms median=%.1f min=%.1f max=%.1f n=%d\n",
	       state, what, s.median, s.min, s.max, s.n);
}

int main(int argc, char **argv)
{
	static const char *const hold[] = { "--hold-close", "p4pin-0", NULL };
	double quiet_b[16 * CYCLES], busy_b[16 * CYCLES];
	double quiet_c[16], busy_c[16], remount[16];
	int reps = 3, hold_ms = 2000, c, r, i, nb = 0;
	char dom_a[32], dom_c[32], name[16];
	struct bench_daemon d;
	struct release rel;
	pid_t child;
	int st;
	u64 t0;

	while ((c = getopt(argc, argv, "r:H:")) != -1) {
		switch (c) {
		case 'r': reps = atoi(optarg); break;
		case 'H': hold_ms = atoi(optarg); break;
		default:
			bench_fail("usage: teardown_bench -r REPS -H HOLD_MS");
		}
	}
	if (reps < 1 || reps > 16 || hold_ms < 200 || hold_ms > 20000)
		bench_fail("bad arguments");
	printf("# bench: p6-setup reps=%d hold_ms=%d cycles=%d cpus=%ld\n",
	       reps, hold_ms, CYCLES, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);

	for (r = 0; r < reps; r++) {
		snprintf(name, sizeof(name), "p6-%d", r);
		daemon_start(&d, name, false, hold);
		snprintf(dom_a, sizeof(dom_a), "p6a-%d", r);
		mount_or_die("/mnt/bpin", "p4pin-1", "p6b");
		mount_or_die("/mnt/a", "p4pin-0", dom_a);
		/* warm B's images: the timed cycles do not fetch */
		for (i = 0; i < CYCLES; i++)
			timed_cycle(b_images[i], "p6b");

		/* quiet: nothing is being torn down */
		for (i = 0; i < CYCLES; i++)
			quiet_b[r * CYCLES + i] = timed_cycle(b_images[i], "p6b");
		snprintf(dom_c, sizeof(dom_c), "p6c-q%d", r);
		quiet_c[r] = timed_cycle("p4pin-2", dom_c);

		/* A's volume cannot die until the daemon releases the close */
		umount_or_die("/mnt/a");
		t0 = now_ns();
		child = fork();
		if (child < 0)
			bench_fail("fork: %s", strerror(errno));
		if (!child)
			_exit(erofs_mount("/mnt/a", "p4pin-0", dom_a) ? 1 : 0);
		rel = (struct release){ .daemon = d.pid, .ms = hold_ms };
		if (pthread_create(&rel.thread, NULL, release_later, &rel))
			bench_fail("pthread_create: %s", strerror(errno));
		usleep(200 * 1000);	/* the remount of A is waiting by now */

		for (i = 0; i < CYCLES; i++)
			busy_b[r * CYCLES + i] = timed_cycle(b_images[i], "p6b");
		snprintf(dom_c, sizeof(dom_c), "p6c-b%d", r);
		busy_c[r] = timed_cycle("p4pin-2", dom_c);
		nb += CYCLES;

		if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
			bench_fail("the remount of domain A failed (status 0x%x)", st);
		remount[r] = (now_ns() - t0) / 1e6;
		pthread_join(rel.thread, NULL);
		printf("# bench: p6run rep=%d quiet_b_ms=%.1f busy_b_ms=%.1f busy_c_ms=%.1f a_remount_ms=%.1f\n",
		       r, quiet_b[r * CYCLES], busy_b[r * CYCLES], busy_c[r], remount[r]);
		fflush(stdout);
		umount_or_die("/mnt/a");
		umount_or_die("/mnt/bpin");
		daemon_down(&d);
	}
	report("quiet", "domain_b", quiet_b, nb);
	report("teardown", "domain_b", busy_b, nb);
	report("quiet", "new_domain", quiet_c, reps);
	report("teardown", "new_domain", busy_c, reps);
	report("teardown", "remount_a", remount, reps);
	printf("ok 1 teardown_bench\n");
	return 0;
}
