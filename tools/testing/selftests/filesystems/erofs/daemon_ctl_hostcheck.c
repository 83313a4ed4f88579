// SPDX-License-Identifier: GPL-2.0
/*
 * Host check for daemon_ctl.h: the stats parser against a hand-written
 * stats file, the backing-file helpers against a fake cache tree, and
 * daemon_start()/daemon_stop() against fake daemons (this program run
 * again with --fake-daemon MODE).  Needs no cachefiles.
 *
 *   gcc -O2 -Wall -Wextra -Werror -o daemon_ctl_hostcheck daemon_ctl_hostcheck.c
 *   ./daemon_ctl_hostcheck		prints "N passed, N failed"
 */
#define DAEMON_READY_TIMEOUT_MS	2000
#define DAEMON_STOP_TIMEOUT_MS	2000
#include "daemon_ctl.h"

#include <stdarg.h>

#include "hostcheck.h"

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void mkpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mkdir -p of tmpdir/<fmt> */
static void mkpath(const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX * 2], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (p = path + strlen(tmpdir) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void touch(const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	write_file(path, "x");
}

static const char stats_text[] =
	"total opens=9 reads=20 closes=4 bytes=123456 errors=2\n"
	"gc passes=3 culled=2 bytes=8192 busy=1\n"	/* skipped */
	"blob erofs,dom0 blob1 opens=1 reads=5 closes=1 bytes=8192\n"
	"blob erofs,dom0 blob2 opens=2 reads=7 closes=0 bytes=100000\n"
	"blob erofs,dom0 bad\\x2fkey opens=1 reads=0 closes=0 bytes=0\n"
	"blob erofs,dom1 blob1 opens=3 reads=8 closes=2 bytes=15264\n"
	"blob erofs,dom\\x20x \\ opens=1 reads=0 closes=0 bytes=0\n"
	"blob erofs,boot.img boot.img opens=1 reads=0 closes=1 bytes=0\n";

static void check_parser(void)
{
	struct daemon_ctl d = { 0 };
	struct daemon_blob_stats st;

	snprintf(d.statsfile, sizeof(d.statsfile), "%s/stats", tmpdir);
	CHECK(daemon_total(&d, &st) == -ENOENT);	/* no file yet */
	write_file(d.statsfile, stats_text);

	CHECK(daemon_total(&d, &st) == 0);
	CHECK(st.opens == 9 && st.reads == 20 && st.closes == 4 &&
	      st.bytes == 123456 && st.errors == 2);

	CHECK(daemon_stats(&d, "erofs,dom0", "blob1", &st) == 0);
	CHECK(st.opens == 1 && st.reads == 5 && st.closes == 1 &&
	      st.bytes == 8192 && st.errors == 0);
	CHECK(daemon_stats(&d, "erofs,dom0", "blob2", &st) == 0);
	CHECK(st.opens == 2 && st.reads == 7 && st.bytes == 100000);

	/* NULL volume: sum of blob1 over dom0 and dom1 */
	CHECK(daemon_stats(&d, NULL, "blob1", &st) == 0);
	CHECK(st.opens == 4 && st.reads == 13 && st.closes == 3 &&
	      st.bytes == 23456);
	/* NULL cookie: everything in dom0 */
	CHECK(daemon_stats(&d, "erofs,dom0", NULL, &st) == 0);
	CHECK(st.opens == 4 && st.reads == 12);

	/* escapes: '/', space, empty key */
	CHECK(daemon_stats(&d, "erofs,dom0", "bad/key", &st) == 0);
	CHECK(st.opens == 1);
	CHECK(daemon_stats(&d, "erofs,dom x", "", &st) == 0);
	CHECK(st.opens == 1);
	CHECK(daemon_stats(&d, "erofs,dom0", "bad\\x2fkey", &st) == -ENOENT);

	CHECK(daemon_stats(&d, "erofs,dom0", "nosuch", &st) == -ENOENT);
	CHECK(daemon_stats(&d, "erofs,nosuch", "blob1", &st) == -ENOENT);
	/* prefixes do not match */
	CHECK(daemon_stats(&d, "erofs,dom", "blob1", &st) == -ENOENT);
	CHECK(daemon_stats(&d, "erofs,dom0", "blob", &st) == -ENOENT);

	CHECK(daemon_count_blobs(&d, "erofs,dom0") == 3);
	CHECK(daemon_count_blobs(&d, "erofs,dom1") == 1);
	CHECK(daemon_count_blobs(&d, "erofs,none") == 0);
	CHECK(daemon_count_blobs(&d, NULL) == 6);

	CHECK(daemon_wait_stat(&d, "erofs,dom1", "blob1", DAEMON_CLOSES, 2,
			       100) == 0);
	CHECK(daemon_wait_stat(&d, "erofs,dom1", "blob1", DAEMON_CLOSES, 3,
			       100) == -ETIMEDOUT);
	CHECK(daemon_wait_stat(&d, NULL, NULL, DAEMON_ERRORS, 2, 100) == 0);

	/* malformed files */
	write_file(d.statsfile, "total opens=1 reads=2 closes=3\n");
	CHECK(daemon_total(&d, &st) == -EINVAL);
	write_file(d.statsfile,
		   "total opens=1 reads=2 closes=3 bytes=4 errors=0\n"
		   "blob onlyvolume opens=1 reads=0 closes=0 bytes=0\n");
	CHECK(daemon_count_blobs(&d, NULL) == -EINVAL);
	write_file(d.statsfile,
		   "total opens=1 reads=2 closes=3 bytes=4 errors=0\n"
		   "blob v k opens=1 reads=x closes=0 bytes=0\n");
	CHECK(daemon_stats(&d, "v", "k", &st) == -EINVAL);
	write_file(d.statsfile,
		   "total opens=1 reads=2 closes=3 bytes=4 errors=0\n"
		   "blob v k\\x4 opens=1 reads=0 closes=0 bytes=0\n");
	CHECK(daemon_stats(&d, "v", NULL, &st) == -EINVAL);
	write_file(d.statsfile, "");
	CHECK(daemon_total(&d, &st) == -EINVAL);
	CHECK(daemon_count_blobs(&d, NULL) == 0);
}

static void check_backing_files(void)
{
	char cachedir[PATH_MAX + 16], path[PATH_MAX * 2], target[PATH_MAX * 2];

	snprintf(cachedir, sizeof(cachedir), "%s/cachedir", tmpdir);
	mkpath("cachedir/cache/Ierofs,dom0/@00");
	mkpath("cachedir/cache/Ierofs,dom0/@7f");
	mkpath("cachedir/cache/Ierofs,dom0/@10/Ddirectory");
	mkpath("cachedir/cache/Ierofs,dom0/@ff");
	mkpath("cachedir/cache/Ierofs,dom0/notfan");
	mkpath("cachedir/cache/Ierofs,other/@00");
	mkpath("cachedir/cache/Ierofs,empty/@00");
	mkpath("cachedir/graveyard");
	touch("cachedir/cache/Ierofs,dom0/@00/Dblob1");
	touch("cachedir/cache/Ierofs,dom0/@7f/Dblob2");
	touch("cachedir/cache/Ierofs,dom0/@7f/E0abcd");	/* encoded key */
	touch("cachedir/cache/Ierofs,dom0/@7f/xblob3");
	touch("cachedir/cache/Ierofs,dom0/notfan/Dblob4");
	touch("cachedir/cache/Ierofs,dom0/Dtop");
	touch("cachedir/cache/Ierofs,other/@00/Dblob1");
	touch("cachedir/graveyard/Dold");
	snprintf(path, sizeof(path), "%s/cache/Ierofs,dom0/@ff/Dlink", cachedir);
	snprintf(target, sizeof(target), "%s/cache/Ierofs,dom0/@00/Dblob1",
		 cachedir);
	CHECK(symlink(target, path) == 0);
	/* a symlinked fan-out dir is not followed */
	snprintf(path, sizeof(path), "%s/cache/Ierofs,dom0/@fe", cachedir);
	snprintf(target, sizeof(target), "%s/cache/Ierofs,dom0/@7f", cachedir);
	CHECK(symlink(target, path) == 0);

	CHECK(count_backing_files(cachedir, "erofs,dom0") == 2);
	CHECK(count_backing_files(cachedir, "erofs,other") == 1);
	CHECK(count_backing_files(cachedir, "erofs,empty") == 0);
	CHECK(count_backing_files(cachedir, "erofs,missing") == -ENOENT);
	CHECK(count_backing_files("/nonexistent", "erofs,dom0") == -ENOENT);

	CHECK(backing_file_path(cachedir, "erofs,dom0", "blob2", path,
				sizeof(path)) == 0);
	snprintf(target, sizeof(target), "%s/cache/Ierofs,dom0/@7f/Dblob2",
		 cachedir);
	CHECK(!strcmp(path, target));
	CHECK(backing_file_path(cachedir, "erofs,dom0", "blob1", path,
				sizeof(path)) == 0);
	CHECK(backing_file_path(cachedir, "erofs,dom0", "blob9", path,
				sizeof(path)) == -ENOENT);
	CHECK(backing_file_path(cachedir, "erofs,dom0", "directory", path,
				sizeof(path)) == -ENOENT);
	CHECK(backing_file_path(cachedir, "erofs,dom0", "link", path,
				sizeof(path)) == -ENOENT);
	CHECK(backing_file_path(cachedir, "erofs,dom0", "a b", path,
				sizeof(path)) == -EINVAL);
	CHECK(backing_file_path(cachedir, "erofs,dom0", "", path,
				sizeof(path)) == -EINVAL);
}

/* ---- fake daemons: this program run with --fake-daemon MODE ---- */

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static int fake_daemon(int argc, char **argv, const char *mode)
{
	const char *stats = NULL, *log = NULL;
	int ready_fd = -1, i;
	FILE *f;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "-s"))
			stats = argv[i + 1];
		else if (!strcmp(argv[i], "-l"))
			log = argv[i + 1];
		else if (!strcmp(argv[i], "--ready-fd"))
			ready_fd = atoi(argv[i + 1]);
	}
	if (!stats || !log || ready_fd < 0 || fcntl(ready_fd, F_GETFD) < 0)
		return 99;
	f = fopen(log, "a");
	if (!f)
		return 98;
	for (i = 1; i <= 30; i++)
		fprintf(f, "log line %d\n", i);
	fprintf(f, "fake daemon mode %s\n", mode);
	fclose(f);

	if (!strcmp(mode, "fail"))
		return 1;
	if (!strcmp(mode, "hang")) {
		pause();
		return 0;
	}
	if (!strcmp(mode, "garbage")) {
		if (write(ready_fd, "nope\n", 5) != 5)
			return 97;
		pause();
		return 0;
	}

	signal(SIGTERM, on_term);
	write_file(stats, "total opens=0 reads=0 closes=0 bytes=0 errors=0\n");
	if (write(ready_fd, "ready\n", 6) != 6)
		return 97;
	close(ready_fd);
	while (!got_term)
		pause();
	return !strcmp(mode, "exit5") ? 5 : 0;
}

static void fresh_ctl(struct daemon_ctl *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->statsfile, sizeof(d->statsfile), "%s/%s.stats", tmpdir, name);
	snprintf(d->logfile, sizeof(d->logfile), "%s/%s.log", tmpdir, name);
}

static void check_start_stop(void)
{
	static const char *const ok_args[] = { "--fake-daemon", "ok", NULL };
	static const char *const args5[] = { "--fake-daemon", "exit5", NULL };
	static const char *const fail_args[] = { "--fake-daemon", "fail", NULL };
	static const char *const hang_args[] = { "--fake-daemon", "hang", NULL };
	static const char *const garbage_args[] = { "--fake-daemon", "garbage",
						    NULL };
	struct daemon_blob_stats st;
	struct daemon_ctl d;
	char self[PATH_MAX];
	ssize_t n;

	/* The fake daemon is this binary; "--fake-daemon MODE" is an extra arg. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		failed++;
		return;
	}
	self[n] = '\0';

	fresh_ctl(&d, "ok");
	CHECK(daemon_start(&d, self, "/c", "/b", ok_args) == 0);
	CHECK(d.pid > 0);
	CHECK(!strncmp(d.statsfile, tmpdir, strlen(tmpdir)));
	CHECK(daemon_total(&d, &st) == 0 && st.opens == 0);
	CHECK(daemon_stop(&d) == 0);
	CHECK(d.pid == 0);
	CHECK(daemon_stop(&d) == -ESRCH);

	fprintf(stderr, "# expected: a fake daemon exiting 5 and its log tail\n");
	fresh_ctl(&d, "exit5");
	CHECK(daemon_start(&d, self, "/c", "/b", args5) == 0);
	CHECK(daemon_stop(&d) == 5);

	fprintf(stderr, "# expected: a failing fake daemon and its log tail\n");
	fresh_ctl(&d, "fail");
	CHECK(daemon_start(&d, self, "/c", "/b", fail_args) == -ECHILD);
	CHECK(d.pid == 0);

	fprintf(stderr, "# expected: a fake daemon that never gets ready\n");
	fresh_ctl(&d, "hang");
	CHECK(daemon_start(&d, self, "/c", "/b", hang_args) == -ETIMEDOUT);
	CHECK(d.pid == 0);

	fprintf(stderr, "# expected: a fake daemon with a bad ready message\n");
	fresh_ctl(&d, "garbage");
	CHECK(daemon_start(&d, self, "/c", "/b", garbage_args) == -EPROTO);

	/* made-up paths when none are given */
	memset(&d, 0, sizeof(d));
	CHECK(daemon_start(&d, self, "/c", "/b", ok_args) == 0);
	CHECK(!strncmp(d.statsfile, "/tmp/erofs_daemon.", 18));
	CHECK(daemon_stop(&d) == 0);
	unlink(d.statsfile);
	unlink(d.logfile);

	fprintf(stderr, "# expected: exec of a missing daemon fails\n");
	fresh_ctl(&d, "noexec");
	CHECK(daemon_start(&d, "/nonexistent/daemon", "/c", "/b", NULL) ==
	      -ECHILD);
}

static const char *fake_mode(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "--fake-daemon"))
			return argv[i + 1];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = fake_mode(argc, argv);
	char cmd[PATH_MAX + 16];

	if (mode)
		return fake_daemon(argc, argv, mode);

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/daemon_ctl_hostcheck.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	check_parser();
	check_backing_files();
	check_start_stop();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
