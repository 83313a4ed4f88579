/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the EROFS shared-domain benchmarks (*_bench.c): the daemon
 * as a child process, its stats file, cache disk usage, kernel memory,
 * registration timing through ftrace's function_graph tracer, and
 * order statistics.  The programs print one machine-readable line per
 * result, "# bench: <measure> key=value ...", that harness/bench.sh
 * turns into a table, results.json and plots.
 */
#ifndef EROFS_BENCH_H
#define EROFS_BENCH_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <sys/wait.h>
#include "erofs_test.h"

#define TRACEFS		"/sys/kernel/tracing"
/* Called for the bootstrap and every data blob of a mount, in both variants. */
#define REG_FUNC	"erofs_fscache_register_cookie"

typedef unsigned long long u64;

static inline void bench_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static inline void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "# bench: FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- order statistics ------------------------------------------------ */

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct summary {
	double median, min, max;
	int n;
};

/* Median, min and max of v[0..n-1] (sorts v in place). */
static inline struct summary summarize(double *v, int n)
{
	struct summary s = { 0, 0, 0, n };

	if (n <= 0)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* ---- the on-demand daemon as a child -------------------------------- */

struct bench_daemon {
	pid_t pid;
	char cache[PATH_MAX];
	char stats[PATH_MAX];
	char log[PATH_MAX];
};

/*
 * Start erofs_ondemand_daemon on a fresh cache directory named @name and
 * wait until it is bound.  With @stats, counters are coalesced and
 * written in full when it stops; timing runs go without: the daemon
 * rewrites its whole table whenever it goes idle, which at 10,000 blobs
 * would sit between a mount and its OPEN reply.  @extra: more daemon
 * arguments (NULL-terminated), or NULL.
 */
static inline void daemon_start(struct bench_daemon *d, const char *name,
				bool stats, const char *const *extra)
{
	const char *argv[32];
	char rfd[16], buf[8];
	int p[2], n, a = 0;

	if (fresh_cache_dir(name, d->cache, sizeof(d->cache)))
		bench_fail("cannot create a cache directory for %s: %s", name,
			   strerror(errno));
	snprintf(d->stats, sizeof(d->stats), "/tmp/%s.stats", name);
	snprintf(d->log, sizeof(d->log), "/tmp/%s.daemon.log", name);
	unlink(d->stats);
	if (pipe(p))
		bench_fail("pipe: %s", strerror(errno));
	snprintf(rfd, sizeof(rfd), "%d", p[1]);
	argv[a++] = DAEMON_PATH;
	argv[a++] = "-c";
	argv[a++] = d->cache;
	argv[a++] = "-b";
	argv[a++] = BLOB_DIR;
	argv[a++] = "-l";
	argv[a++] = d->log;
	argv[a++] = "--ready-fd";
	argv[a++] = rfd;
	if (stats) {
		argv[a++] = "-s";
		argv[a++] = d->stats;
		argv[a++] = "--max-blobs";
		argv[a++] = "65536";
		argv[a++] = "--stats-interval-ms";
		argv[a++] = "5000";
	}
	while (extra && *extra && a < 31)
		argv[a++] = *extra++;
	argv[a] = NULL;
	d->pid = fork();
	if (d->pid < 0)
		bench_fail("fork: %s", strerror(errno));
	if (!d->pid) {
		close(p[0]);
		execv(DAEMON_PATH, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf));
	close(p[0]);
	if (n <= 0) {
		int st;

		waitpid(d->pid, &st, 0);
		bench_fail("the daemon did not bind %s (status 0x%x, log %s)",
			   d->cache, st, d->log);
	}
}

static inline void daemon_up(struct bench_daemon *d, const char *name, bool stats)
{
	daemon_start(d, name, stats, NULL);
}

/* Stop the daemon (it closes its objects and writes the final stats). */
static inline void daemon_down(struct bench_daemon *d)
{
	int st;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	if (waitpid(d->pid, &st, 0) != d->pid || !WIFEXITED(st) || WEXITSTATUS(st))
		bench_fail("the daemon ended badly (status 0x%x, log %s)", st, d->log);
	d->pid = 0;
}

struct blob_counts {
	u64 opens, reads, closes, bytes, errors;
};

static inline int daemon_read_totals(const struct bench_daemon *d, struct blob_counts *c)
{
	FILE *f = fopen(d->stats, "r");
	int n;

	memset(c, 0, sizeof(*c));
	if (!f)
		return -1;
	n = fscanf(f, "total opens=%llu reads=%llu closes=%llu bytes=%llu errors=%llu",
		   &c->opens, &c->reads, &c->closes, &c->bytes, &c->errors);
	fclose(f);
	return n == 5 ? 0 : -1;
}

/* The "total" line of the stats file. */
static inline void daemon_totals(const struct bench_daemon *d, struct blob_counts *c)
{
	if (daemon_read_totals(d, c))
		bench_fail("cannot parse the daemon stats %s", d->stats);
}

/* Call @fn for every "blob <volume> <cookie> ..." line of the stats file. */
static inline void daemon_each_blob(const struct bench_daemon *d,
				    void (*fn)(const char *vol, const char *key,
					       const struct blob_counts *c, void *arg),
				    void *arg)
{
	char line[1024], vol[512], key[512];
	struct blob_counts c;
	FILE *f = fopen(d->stats, "r");

	if (!f)
		bench_fail("cannot open the daemon stats %s", d->stats);
	while (fgets(line, sizeof(line), f)) {
		memset(&c, 0, sizeof(c));
		if (sscanf(line, "blob %511s %511s opens=%llu reads=%llu closes=%llu bytes=%llu",
			   vol, key, &c.opens, &c.reads, &c.closes, &c.bytes) == 6)
			fn(vol, key, &c, arg);
	}
	fclose(f);
}

/* State letter and CPU ticks (utime + stime) of a process. */
static inline int proc_cpu(pid_t pid, char *state, unsigned long long *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the comm may hold spaces */
	if (!p || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 state, &ut, &st) != 3)
		return -1;
	*ticks = ut + st;
	return 0;
}

/* Live fscache cookies ("Cookies: n=" of /proc/fs/fscache/stats), or -1. */
static inline long fscache_cookies(void)
{
	char line[256];
	long n = -1;
	FILE *f = fopen("/proc/fs/fscache/stats", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Cookies: n=%ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * Quiesce before a timed step: a mount returns before the daemon has
 * answered the OPENs of its data blobs, and an umount before its cookies
 * are withdrawn.  Wait (at most 60 s) until the live cookie count has
 * come down to @cookies (if >= 0) and the daemon has slept without using
 * CPU for three 50 ms looks in a row.
 */
static inline void quiesce(const struct bench_daemon *d, long cookies)
{
	unsigned long long t, prev = ~0ULL;
	u64 t0 = now_ns();
	int calm = 0;
	char st;

	while (calm < 3) {
		if (now_ns() - t0 > 60000000000ULL) {
			fprintf(stderr, "# quiesce: gave up after 60 s (cookies %ld, want %ld)\n",
				fscache_cookies(), cookies);
			return;
		}
		usleep(50000);
		if (proc_cpu(d->pid, &st, &t))
			bench_fail("the daemon is gone (log %s)", d->log);
		calm = (st == 'S' && t == prev &&
			(cookies < 0 || fscache_cookies() <= cookies)) ? calm + 1 : 0;
		prev = t;
	}
}

/* ---- cache disk usage ----------------------------------------------- */

/*
 * Call @fn for every data file (D<cookie key>) cachefiles left under
 * @dir, with its allocated bytes (st_blocks), after the cache was
 * withdrawn.
 */
static inline void cache_each_file(const char *dir,
				   void (*fn)(const char *name, u64 bytes, void *arg),
				   void *arg)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) ||
		    lstat(p, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			cache_each_file(p, fn, arg);
		else if (S_ISREG(st.st_mode) && de->d_name[0] == 'D')
			fn(de->d_name + 1, (u64)st.st_blocks * 512, arg);
	}
	closedir(d);
}

static inline void add_bytes(const char *name, u64 bytes, void *arg)
{
	(void)name;
	*(u64 *)arg += bytes;
}

static inline u64 cache_bytes(const char *dir)
{
	u64 sum = 0;

	sync();
	cache_each_file(dir, add_bytes, &sum);
	return sum;
}

/* ---- kernel memory ---------------------------------------------------- */

struct kmem {
	long slab_kb, vmalloc_kb, percpu_kb;
};

static inline void kmem_read(struct kmem *m)
{
	char line[256];
	FILE *f;
	long v;

	memset(m, 0, sizeof(*m));
	f = fopen("/proc/meminfo", "r");
	if (!f)
		bench_fail("cannot read /proc/meminfo");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Slab: %ld", &v) == 1)
			m->slab_kb = v;
		else if (sscanf(line, "VmallocUsed: %ld", &v) == 1)
			m->vmalloc_kb = v;
		else if (sscanf(line, "Percpu: %ld", &v) == 1)
			m->percpu_kb = v;
	}
	fclose(f);
}

/*
 * Unused dentries, inodes and page cache dropped first, so what is left
 * is pinned.  Their objects are freed after an RCU grace period: drop
 * again until Slab settles (within 64 KiB, at most 8 rounds).
 */
static inline void kmem_snapshot(struct kmem *m)
{
	long prev = -1;
	int i, fd;

	sync();
	for (i = 0; i < 8; i++) {
		fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "3", 1) != 1)
				perror("drop_caches");
			close(fd);
		}
		usleep(300000);
		kmem_read(m);
		if (prev >= 0 && labs(m->slab_kb - prev) < 64)
			break;
		prev = m->slab_kb;
	}
}

#define MAX_SLABS 512

struct slabs {
	int n;
	char name[MAX_SLABS][64];
	long long bytes[MAX_SLABS];	/* active objects x object size */
};

static inline void slabs_snapshot(struct slabs *s)
{
	char line[512], name[64];
	long active, total, size;
	FILE *f = fopen("/proc/slabinfo", "r");

	s->n = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && s->n < MAX_SLABS) {
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &total, &size) != 4)
			continue;
		snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name);
		s->bytes[s->n++] = (long long)active * size;
	}
	fclose(f);
}

/* Bytes of all live slab objects. */
static inline long long slabs_total(const struct slabs *s)
{
	long long sum = 0;
	int i;

	for (i = 0; i < s->n; i++)
		sum += s->bytes[i];
	return sum;
}

/* The @top slab caches that grew most between @a and @b, as "name:+bytes,...". */
static inline void slabs_growth(const struct slabs *a, const struct slabs *b,
				int top, char *out, size_t outsz)
{
	long long delta[MAX_SLABS];
	int i, j, k, o = 0;

	for (i = 0; i < b->n; i++) {
		delta[i] = b->bytes[i];
		for (j = 0; j < a->n; j++)
			if (!strcmp(a->name[j], b->name[i])) {
				delta[i] -= a->bytes[j];
				break;
			}
	}
	out[0] = '\0';
	for (k = 0; k < top; k++) {
		int best = -1;

		for (i = 0; i < b->n; i++)
			if (delta[i] > 0 && (best < 0 || delta[i] > delta[best]))
				best = i;
		if (best < 0)
			break;
		o += snprintf(out + o, outsz - o, "%s%s:+%lld", k ? "," : "",
			      b->name[best], delta[best]);
		delta[best] = 0;
		if ((size_t)o >= outsz)
			break;
	}
	if (!out[0])
		snprintf(out, outsz, "-");
}

/* ---- registration timing with function_graph -------------------------- */

static inline int tracefs_write(const char *file, const char *val)
{
	char p[PATH_MAX];
	int fd, ret = 0;

	snprintf(p, sizeof(p), TRACEFS "/%s", file);
	fd = open(p, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static inline bool tracefs_has_function(const char *func)
{
	char line[256];
	size_t len = strlen(func);
	bool found = false;
	FILE *f = fopen(TRACEFS "/available_filter_functions", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, func, len) &&
			(line[len] == '\n' || line[len] == ' ' || line[len] == '\0');
	fclose(f);
	return found;
}

/*
 * function_graph on @func alone (set_ftrace_filter), so only it carries
 * the hook and its duration is not inflated by traced callees.
 * Returns 0, or -errno with a reason on stderr.
 */
static inline int trace_start(const char *func)
{
	int ret;

	if (access(TRACEFS "/current_tracer", F_OK) &&
	    mount("nodev", TRACEFS, "tracefs", 0, NULL)) {
		fprintf(stderr, "# cannot mount tracefs: %s\n", strerror(errno));
		return -errno;
	}
	if (!tracefs_has_function(func)) {
		fprintf(stderr, "# %s is not in available_filter_functions\n", func);
		return -ENOENT;
	}
	tracefs_write("tracing_on", "0");
	tracefs_write("current_tracer", "nop");
	ret = tracefs_write("set_ftrace_filter", func);
	if (!ret)
		ret = tracefs_write("set_graph_function", func);
	if (!ret)
		ret = tracefs_write("buffer_size_kb", "4096");
	if (!ret)
		ret = tracefs_write("current_tracer", "function_graph");
	if (!ret)
		ret = tracefs_write("trace", "");
	if (!ret)
		ret = tracefs_write("tracing_on", "1");
	if (ret)
		fprintf(stderr, "# cannot set up function_graph on %s: %s\n", func,
			strerror(-ret));
	return ret;
}

static inline void trace_stop(void)
{
	tracefs_write("tracing_on", "0");
	tracefs_write("current_tracer", "nop");
	tracefs_write("set_ftrace_filter", "");
	tracefs_write("set_graph_function", "");
}

/*
 * Durations (ns) of the calls recorded since the last collect, appended
 * to v[*n..max-1]; the buffer is cleared.  function_graph prints the
 * duration as "<usecs>.<nsecs> us" (with a +!#*@$ marker for long ones)
 * on the line that closes a call.
 */
static inline int trace_collect(double *v, int *n, int max)
{
	char line[512];
	int got = 0;
	FILE *f = fopen(TRACEFS "/trace", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *tok, *save = NULL, *prev = NULL;

		if (line[0] == '#')
			continue;
		for (tok = strtok_r(line, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save)) {
			char *end;
			double us;

			if (prev && !strcmp(tok, "us")) {
				us = strtod(prev, &end);
				if (end != prev && !*end) {
					if (*n < max)
						v[(*n)++] = us * 1000.0;
					got++;
				}
				break;
			}
			prev = tok;
		}
	}
	fclose(f);
	tracefs_write("trace", "");
	return got;
}

/* ---- images ------------------------------------------------------------ */

static inline void mount_or_die(const char *mnt, const char *fsid, const char *domain)
{
	int ret = erofs_mount(mnt, fsid, domain);

	if (ret)
		bench_fail("mount %s%s%s on %s: %s", fsid, domain ? " in " : "",
			   domain ? domain : "", mnt, strerror(-ret));
}

static inline void umount_or_die(const char *mnt)
{
	int ret = erofs_umount(mnt);

	if (ret)
		bench_fail("umount %s: %s", mnt, strerror(-ret));
}

/* Reads the file @p to its end through @buf; returns the bytes read. */
static inline u64 bench_read_file(const char *p, char *buf, size_t size)
{
	u64 sum = 0;
	ssize_t r;
	int fd = open(p, O_RDONLY);

	if (fd < 0)
		bench_fail("open %s: %s", p, strerror(errno));
	while ((r = read(fd, buf, size)) > 0)
		sum += r;
	if (r < 0)
		bench_fail("read %s: %s", p, strerror(errno));
	close(fd);
	return sum;
}

/* Read every regular file under @dir to the end; returns the bytes read. */
static inline u64 read_tree(const char *dir)
{
	static char buf[1 << 16];
	struct dirent *de;
	u64 sum = 0;
	DIR *d = opendir(dir);

	if (!d)
		bench_fail("cannot open %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
			bench_fail("path too long under %s", dir);
		if (lstat(p, &st))
			bench_fail("stat %s: %s", p, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			sum += read_tree(p);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		sum += bench_read_file(p, buf, sizeof(buf));
	}
	closedir(d);
	return sum;
}

/* Parse "a,b,c" into up to @max ints; returns the count. */
static inline int parse_list(const char *s, int *v, int max)
{
	int n = 0;

	while (*s && n < max) {
		char *end;

		v[n++] = strtol(s, &end, 10);
		if (end == s)
			bench_fail("bad number list '%s'", s);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

#endif /* EROFS_BENCH_H */
