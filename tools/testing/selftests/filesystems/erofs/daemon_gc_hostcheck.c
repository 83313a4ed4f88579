// SPDX-License-Identifier: GPL-2.0
/*
 * Host check of the daemon's cache GC (daemon_gc.h) on a fake cache tree.
 *
 * The daemon source is included (main renamed), and the GC's "cull"
 * command is replaced by a fake that plays cachefiles: it answers EBUSY
 * for the names marked in use, else unlinks the name in the working
 * directory, which is where the real command looks too.  The checks cover
 * the size and percentage parsing, the option rules, the water marks, the
 * order (least recently used first, the daemon's own last use beating the
 * file times), never culling what the kernel or the daemon says is in use,
 * stopping at the low mark, and the working directory being restored.
 *
 *   gcc -O2 -Wall -Wextra -Werror -o daemon_gc_hostcheck daemon_gc_hostcheck.c
 *   ./daemon_gc_hostcheck		prints "N passed, N failed"
 */
#define main ondemand_daemon_main
int ondemand_daemon_main(int argc, char **argv);
#include "ondemand_daemon.c"
#undef main

#include <sys/time.h>
#include "hostcheck.h"

#define KiB	1024ULL

static char root[256];
static char culled[64][NAME_MAX + 1];
static int nr_culled;
static const char *busy_names[8];

static unsigned int slow_ms;	/* each command takes this long */

static int fake_command(const char *verb, const char *name)
{
	int i;

	if (slow_ms)
		usleep(slow_ms * 1000);

	for (i = 0; i < (int)ARRAY_SIZE(busy_names) && busy_names[i]; i++)
		if (!strcmp(busy_names[i], name))
			return -EBUSY;
	if (access(name, F_OK))
		return -ESTALE;
	if (!strcmp(verb, "inuse"))
		return 0;
	if (strcmp(verb, "cull"))
		return -EOPNOTSUPP;
	if (unlink(name))
		return -errno;
	if (nr_culled < (int)ARRAY_SIZE(culled))
		snprintf(culled[nr_culled++], sizeof(culled[0]), "%s", name);
	return 0;
}

/* A backing file of @kib KiB under cache/I<vol>/@<fan>/, last used @age s ago. */
static void mkfile(const char *vol, const char *fan, const char *name,
		   unsigned int kib, int age)
{
	static char buf[4096];
	char path[PATH_MAX];
	struct timespec ts[2];
	unsigned int i;
	bool ok;
	int fd;

	snprintf(path, sizeof(path), "%s/cache/I%s", root, vol);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cache/I%s/%s", root, vol, fan);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cache/I%s/%s/%s", root, vol, fan, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	memset(buf, 'x', sizeof(buf));
	for (i = 0, ok = true; i < kib / 4; i++)
		ok &= write(fd, buf, sizeof(buf)) == sizeof(buf);
	CHECK(ok);
	fsync(fd);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	CHECK(!futimens(fd, ts));
	close(fd);
}

static bool exists(const char *vol, const char *fan, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cache/I%s/%s/%s", root, vol, fan, name);
	return !access(path, F_OK);
}

static uint64_t allocated(const char *vol, const char *fan, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/cache/I%s/%s/%s", root, vol, fan, name);
	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static void reset(void)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/cache", root);
	CHECK(!system(cmd));
	snprintf(cmd, sizeof(cmd), "%s/cache", root);
	CHECK(!mkdir(cmd, 0700));
	nr_culled = 0;
	memset(busy_names, 0, sizeof(busy_names));
	memset(&gc.high, 0, sizeof(gc.high));
	memset(&gc.low, 0, sizeof(gc.low));
}

static bool log_has(const char *needle)
{
	char buf[65536];
	ssize_t n;

	n = pread(log_fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle);
}

/* The daemon's parse_args(), quietly; it points opt.cachedir elsewhere. */
static int parse(int argc, const char **argv)
{
	int err = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY), ret;

	dup2(null, STDERR_FILENO);
	optind = 1;
	opterr = 0;
	ret = parse_args(argc, (char **)argv);
	dup2(err, STDERR_FILENO);
	close(err);
	close(null);
	opt.cachedir = root;
	return ret;
}

static void check_parsing(void)
{
	struct gc_mark m;
	const char *ok[] = { "x", "-c", "/c", "-b", "/b", "--cache-high", "10M",
			     "--cache-low", "50%", "--gc-interval-ms", "50" };
	const char *bad_low[] = { "x", "-c", "/c", "-b", "/b", "--cache-high", "1M",
				  "--cache-low", "2M" };
	const char *low_only[] = { "x", "-c", "/c", "-b", "/b", "--cache-low", "1M" };
	const char *bad_iv[] = { "x", "-c", "/c", "-b", "/b", "--cache-high", "1M",
				 "--gc-interval-ms", "0" };
	const char *bad_pct[] = { "x", "-c", "/c", "-b", "/b", "--cache-high", "0%" };

	CHECK(!gc_parse_mark("4096", &m) && !m.pct && m.val == 4096);
	CHECK(!gc_parse_mark("4K", &m) && m.val == 4 * KiB);
	CHECK(!gc_parse_mark("3MiB", &m) && m.val == 3 * KiB * KiB);
	CHECK(!gc_parse_mark("2G", &m) && m.val == 2 * KiB * KiB * KiB);
	CHECK(!gc_parse_mark("1T", &m) && m.val == KiB * KiB * KiB * KiB);
	CHECK(!gc_parse_mark("75%", &m) && m.pct && m.val == 75);
	CHECK(!gc_parse_mark("100%", &m) && m.pct && m.val == 100);
	CHECK(gc_parse_mark("0%", &m) == -1);
	CHECK(gc_parse_mark("101%", &m) == -1);
	CHECK(gc_parse_mark("-1", &m) == -1);
	CHECK(gc_parse_mark("", &m) == -1);
	CHECK(gc_parse_mark("5X", &m) == -1);
	CHECK(gc_parse_mark("5%%", &m) == -1);
	CHECK(gc_parse_mark("99999999999999999999", &m) == -1);
	CHECK(gc_parse_mark("20000000T", &m) == -1);

	CHECK(!parse(ARRAY_SIZE(ok), ok));
	CHECK(gc.high.set && !gc.high.pct && gc.high.val == 10 * KiB * KiB);
	CHECK(gc.low.set && gc.low.pct && gc.low.val == 50);
	CHECK(gc.interval_ms == 50);
	memset(&gc.low, 0, sizeof(gc.low));
	CHECK(parse(ARRAY_SIZE(bad_low), bad_low) == -1);
	memset(&gc.high, 0, sizeof(gc.high));
	memset(&gc.low, 0, sizeof(gc.low));
	CHECK(parse(ARRAY_SIZE(low_only), low_only) == -1);
	memset(&gc.low, 0, sizeof(gc.low));
	CHECK(parse(ARRAY_SIZE(bad_iv), bad_iv) == -1);
	memset(&gc.high, 0, sizeof(gc.high));
	CHECK(parse(ARRAY_SIZE(bad_pct), bad_pct) == -1);
}

static void check_marks(void)
{
	uint64_t high = 0, low = 0, fs;
	struct statvfs sv;

	reset();
	gc_parse_mark("1M", &gc.high);
	CHECK(!gc_marks(&high, &low));
	CHECK(high == KiB * KiB && low == KiB * KiB / 10 * 9);
	gc_parse_mark("512K", &gc.low);
	CHECK(!gc_marks(&high, &low) && low == 512 * KiB);

	CHECK(!statvfs(root, &sv));
	fs = (uint64_t)sv.f_blocks * sv.f_frsize;
	gc_parse_mark("50%", &gc.high);
	gc_parse_mark("25%", &gc.low);
	CHECK(!gc_marks(&high, &low));
	CHECK(high == fs / 2 || high + 1 == fs / 2 || high == fs / 2 + 1);
	CHECK(low <= high / 2 + 1 && low + 1 >= high / 2);
}

static void check_culling(void)
{
	char home[PATH_MAX], now[PATH_MAX];
	struct pollfd hup;
	uint64_t one, passes, culls;
	struct timespec t;
	struct object *o;
	int pfd[2];
	pid_t first;

	/* Below the high mark: nothing happens. */
	reset();
	mkfile("erofs,dom0", "@01", "Dold", 64, 500);
	mkfile("erofs,dom0", "@02", "Dnew", 64, 10);
	gc_parse_mark("1M", &gc.high);
	CHECK(gc_run(false) == 0 && nr_culled == 0);
	CHECK(exists("erofs,dom0", "@01", "Dold"));

	/*
	 * Seven 64 KiB files in two volumes (one a plain mount's), budget
	 * 300 KiB / 260 KiB: the oldest that nobody uses go first, until at
	 * most 260 KiB are left.
	 */
	reset();
	mkfile("erofs,dom0", "@10", "Da", 64, 600);	/* oldest, in use (kernel) */
	mkfile("erofs,dom0", "@11", "Db", 64, 500);	/* in use (daemon object) */
	mkfile("erofs,bootX", "@12", "Dc", 64, 400);
	mkfile("erofs,dom0", "@13", "Sweird,name", 64, 300);	/* not "D<key>" */
	mkfile("erofs,dom0", "@14", "Dd", 64, 20);
	mkfile("erofs,bootX", "@15", "De", 64, 10);
	mkfile("erofs,dom0", "@16", "Df", 64, 700);	/* old file, used just now */
	gc_parse_mark("300K", &gc.high);
	gc_parse_mark("260K", &gc.low);
	gc_note_use((const unsigned char *)"erofs,dom0", 10,
		    (const unsigned char *)"f", 1);
	/* not a fan-out directory: never looked at */
	mkdir(strcat(strcpy(now, root), "/cache/Ierofs,dom0/other"), 0700);
	one = allocated("erofs,dom0", "@14", "Dd");
	CHECK(one >= 64 * KiB);
	busy_names[0] = "Da";
	o = calloc(1, sizeof(*o));
	o->id = 77;
	o->anon_fd = o->blob_fd = -1;
	o->vol_len = 10;
	memcpy(o->vol, "erofs,dom0", 10);
	o->key_len = 1;
	o->key[0] = 'b';
	obj_insert(o);
	CHECK(getcwd(home, sizeof(home)) != NULL);

	/* 7 x 64 = 448 KiB: c, Sweird, d go; a, b, e, f = 256 <= 260 stay */
	CHECK(gc_run(false) == 3);
	CHECK(nr_culled == 3);
	CHECK(nr_culled >= 3 && !strcmp(culled[0], "Dc"));
	CHECK(nr_culled >= 3 && !strcmp(culled[1], "Sweird,name"));
	CHECK(nr_culled >= 3 && !strcmp(culled[2], "Dd"));
	CHECK(exists("erofs,dom0", "@10", "Da"));
	CHECK(exists("erofs,dom0", "@11", "Db"));
	CHECK(exists("erofs,bootX", "@15", "De"));
	CHECK(exists("erofs,dom0", "@16", "Df"));
	CHECK(getcwd(now, sizeof(now)) && !strcmp(home, now));
	CHECK(log_has("GC cull vol=erofs,bootX key=c bytes="));
	CHECK(log_has("GC cull vol=erofs,dom0 file=Sweird,name bytes="));
	CHECK(log_has("GC skip vol=erofs,dom0 key=a -> in use (cull: EBUSY)"));
	CHECK(log_has("GC skip vol=erofs,dom0 key=b -> in use (the daemon has it open)"));

	/*
	 * Everything left is in use or recent: a = busy, b = open; with a
	 * low mark of 0 the GC takes e and f and still reports being over.
	 */
	nr_culled = 0;
	gc_parse_mark("1K", &gc.high);
	gc_parse_mark("0", &gc.low);
	CHECK(gc_run(false) == 2);
	CHECK(nr_culled == 2 && !strcmp(culled[0], "De") && !strcmp(culled[1], "Df"));
	CHECK(exists("erofs,dom0", "@10", "Da") && exists("erofs,dom0", "@11", "Db"));
	CHECK(log_has("still over the low mark"));

	/* The object is closed (CLOSE): b is cullable now, a still in use. */
	obj_free(obj_remove(77));
	nr_culled = 0;
	CHECK(gc_run(false) == 1);
	CHECK(nr_culled == 1 && !strcmp(culled[0], "Db"));
	CHECK(exists("erofs,dom0", "@10", "Da"));
	CHECK(getcwd(now, sizeof(now)) && !strcmp(home, now));

	/*
	 * SIGUSR2: the inuse report of every file, then a pass, in a child
	 * (so the fake command's counters stay there: the log, the files and
	 * the shared totals tell what it did).
	 */
	mkfile("erofs,dom0", "@20", "Dg", 64, 900);
	passes = shm->gc.passes;
	gc_on_request(SIGUSR2);
	gc_tick();
	CHECK(gc.child > 0);
	CHECK(gc_reap(true) && !gc.child);
	CHECK(log_has("GC inuse vol=erofs,dom0 key=a bytes="));
	CHECK(log_has(" -> in use\n"));
	CHECK(log_has("GC inuse vol=erofs,dom0 key=g bytes="));
	CHECK(log_has(" -> not in use\n"));
	CHECK(log_has("GC inuse report: 2 files, "));
	CHECK(log_has(", 1 in use\n"));
	CHECK(log_has("GC request #1 done"));
	CHECK(log_has("GC cull vol=erofs,dom0 key=g bytes="));
	CHECK(!exists("erofs,dom0", "@20", "Dg"));
	CHECK(exists("erofs,dom0", "@10", "Da"));
	CHECK(shm->gc.passes == passes + 1);
	CHECK(getcwd(now, sizeof(now)) && !strcmp(home, now));
	/* not due again for gc.interval_ms */
	gc.interval_ms = 3600000;
	mkfile("erofs,dom0", "@21", "Dh", 64, 900);
	gc_tick();
	CHECK(!gc.child);
	CHECK(exists("erofs,dom0", "@21", "Dh"));

	/*
	 * Serving never waits for a pass: with every command taking 1 s,
	 * gc_tick() returns at once, a request made meanwhile waits for the
	 * running pass (one at a time) and then gets its own, and the file
	 * an object was open for when the pass started is not culled even
	 * though the child closed its copies of the object's fds.
	 */
	reset();
	gc_parse_mark("1K", &gc.high);
	gc_parse_mark("0", &gc.low);
	mkfile("erofs,dom2", "@40", "Di", 64, 300);
	mkfile("erofs,dom2", "@41", "Dj", 64, 200);
	mkfile("erofs,dom2", "@42", "Dk", 64, 100);
	CHECK(pipe(pfd) == 0);
	o = calloc(1, sizeof(*o));
	o->id = 78;
	o->anon_fd = pfd[1];
	o->blob_fd = -1;
	o->vol_len = 10;
	memcpy(o->vol, "erofs,dom2", 10);
	o->key_len = 1;
	o->key[0] = 'k';
	obj_insert(o);
	gc.interval_ms = 1;
	gc.last.tv_sec = 0;
	slow_ms = 1000;
	culls = shm->gc.culled;
	clock_gettime(CLOCK_MONOTONIC, &t);
	gc_tick();
	first = gc.child;
	CHECK(first > 0);
	gc_on_request(SIGUSR2);
	gc_tick();
	CHECK(gc.child == first);		/* still the first pass */
	CHECK(ms_since(&t) < 500);
	/* the child holds no copy of the anon fd: CLOSE frees the object */
	obj_free(obj_remove(78));
	hup.fd = pfd[0];
	hup.events = POLLIN;
	CHECK(poll(&hup, 1, 500) == 1 && (hup.revents & POLLHUP));
	close(pfd[0]);
	CHECK(gc_reap(true));
	CHECK(ms_since(&t) >= 2000);		/* Di, Dj culled, 1 s each */
	CHECK(!exists("erofs,dom2", "@40", "Di") && !exists("erofs,dom2", "@41", "Dj"));
	CHECK(exists("erofs,dom2", "@42", "Dk"));
	CHECK(shm->gc.culled == culls + 2);
	CHECK(log_has("GC skip vol=erofs,dom2 key=k -> in use (the daemon has it open)"));
	gc_tick();				/* the request's pass */
	CHECK(gc.child > 0 && gc.child != first);
	CHECK(gc_reap(true));
	CHECK(log_has("GC request #2 done"));
	CHECK(!exists("erofs,dom2", "@42", "Dk"));
	CHECK(shm->gc.culled == culls + 3);
	slow_ms = 0;
	/* stopping kills a pass still running */
	mkfile("erofs,dom2", "@43", "Dl", 64, 100);
	slow_ms = 5000;
	gc.last.tv_sec = 0;
	clock_gettime(CLOCK_MONOTONIC, &t);
	gc_tick();
	CHECK(gc.child > 0);
	gc_stop();
	CHECK(!gc.child && ms_since(&t) < 2000);
	slow_ms = 0;

	/*
	 * Listings are remembered per fan-out directory, and a pass sends
	 * them back from its child: a name added without a change of the
	 * directory's mtime (within one timestamp tick) stays unseen after a
	 * pass in a child, until a full scan (every 16th pass, or a request).
	 */
	reset();
	gc_parse_mark("1M", &gc.high);
	shm->gc.passes = 0;
	mkfile("erofs,dom1", "@30", "Dp", 64, 100);
	{
		struct timespec keep[2];
		char dir[512];
		struct stat st;

		snprintf(dir, sizeof(dir), "%s/cache/Ierofs,dom1/@30", root);
		CHECK(!stat(dir, &st));
		keep[0] = st.st_atim;
		keep[1] = st.st_mtim;
		gc.last.tv_sec = 0;
		gc_tick();				/* pass 1, in a child */
		CHECK(gc.child > 0);
		CHECK(gc_reap(true));
		CHECK(exists("erofs,dom1", "@30", "Dp"));
		/* Dq appears with the directory's old mtime: missed... */
		mkfile("erofs,dom1", "@30", "Dq", 1200, 100);
		CHECK(!utimensat(AT_FDCWD, dir, keep, 0));
		nr_culled = 0;
		CHECK(gc_run(false) == 0 && nr_culled == 0);	/* pass 2, here */
		/* ...until a request rereads every directory */
		gc_on_request(SIGUSR2);
		gc_tick();
		CHECK(gc.child > 0);
		CHECK(gc_reap(true));
		CHECK(!exists("erofs,dom1", "@30", "Dq"));
	}

	/* A slow pass spaces the next ones out: at most half the time. */
	gc.interval_ms = 100;
	gc.last_cost_ms = 10;
	CHECK(gc_wait_ms() == 100);
	gc.last_cost_ms = 1000;
	CHECK(gc_wait_ms() == 1000);

	/* No cache directory yet: not an error. */
	reset();
	rmdir(strcat(strcpy(now, root), "/cache"));
	gc_parse_mark("1K", &gc.high);
	CHECK(gc_run(false) == 0);
	mkdir(now, 0700);
}

int main(void)
{
	char logpath[PATH_MAX + 8];

	snprintf(root, sizeof(root), "/tmp/daemon_gc_hostcheck.%d", getpid());
	CHECK(!mkdir(root, 0700));
	snprintf(logpath, sizeof(logpath), "%s/log", root);
	log_fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(log_fd >= 0);
	opt.cachedir = root;
	gc.command = fake_command;
	obj_table_grow();
	stats_alloc();

	check_parsing();
	check_marks();
	check_culling();

	if (!getenv("HOSTCHECK_KEEP")) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", root);
	} else {
		fprintf(stderr, "kept %s\n", root);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
