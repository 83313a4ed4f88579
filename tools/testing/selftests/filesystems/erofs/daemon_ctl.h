/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Start, stop and query erofs_ondemand_daemon from selftests.
 *
 * Header-only (static inline) so that several test programs can include it
 * without a library.  Functions return 0 or a count on success and -errno on
 * failure, and print to stderr only when the daemon itself failed.
 *
 *	struct daemon_ctl d = { 0 };
 *	const char *args[] = { "--delay-ms", "100", NULL };
 *
 *	if (daemon_start(&d, "./erofs_ondemand_daemon", "/cache", "/blobs", args))
 *		... skip or fail ...
 *	mount(...);
 *	daemon_stats(&d, "erofs,dom0", "blob1", &st);	  st.opens, st.bytes, ...
 *	daemon_stop(&d);				  exit status, 0 = clean
 */
#ifndef __EROFS_DAEMON_CTL_H
#define __EROFS_DAEMON_CTL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef DAEMON_READY_TIMEOUT_MS
#define DAEMON_READY_TIMEOUT_MS	30000
#endif
#ifndef DAEMON_STOP_TIMEOUT_MS
#define DAEMON_STOP_TIMEOUT_MS	30000
#endif
#define DAEMON_LOG_TAIL_LINES	20

struct daemon_ctl {
	pid_t pid;			/* 0 when not running */
	char statsfile[PATH_MAX];	/* set before daemon_start() or generated */
	char logfile[PATH_MAX];		/* likewise */
};

struct daemon_blob_stats {
	unsigned long long opens;
	unsigned long long reads;
	unsigned long long closes;
	unsigned long long bytes;
	unsigned long long errors;	/* only for the "total" line */
};

enum daemon_stat_field {
	DAEMON_OPENS,
	DAEMON_READS,
	DAEMON_CLOSES,
	DAEMON_BYTES,
	DAEMON_ERRORS,
};

static inline long long daemon_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline void daemon_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Print the last @lines lines of the daemon's log to stderr. */
static inline void daemon_log_tail(const struct daemon_ctl *d, int lines)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *f;
	int seen = 0;

	f = fopen(d->logfile, "re");
	if (!f) {
		fprintf(stderr, "# daemon log %s: %s\n", d->logfile,
			strerror(errno));
		return;
	}
	if (getdelim(&buf, &len, '\0', f) < 0) {
		fclose(f);
		free(buf);
		return;
	}
	fclose(f);
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	for (p = buf + len; p > buf; p--)
		if (p[-1] == '\n' && ++seen == lines)
			break;
	fprintf(stderr, "# --- daemon log tail (%s) ---\n", d->logfile);
	while (*p) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = '\0';
		fprintf(stderr, "# %s\n", p);
		if (!nl)
			break;
		p = nl + 1;
	}
	free(buf);
}

static inline void daemon_describe_exit(int status)
{
	if (WIFEXITED(status))
		fprintf(stderr, "# daemon exited with status %d\n",
			WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "# daemon killed by signal %d\n",
			WTERMSIG(status));
}

/* Wait for @pid up to @timeout_ms; returns the wait status or -ETIMEDOUT. */
static inline int daemon_wait_pid(pid_t pid, int timeout_ms)
{
	long long deadline = daemon_ms_now() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (daemon_ms_now() >= deadline)
			return -ETIMEDOUT;
		daemon_sleep_ms(10);
	}
}

/*
 * Fork and exec the daemon with "-c cachedir -b blobdir -s statsfile
 * -l logfile --ready-fd N" plus @extra_args (NULL-terminated, may be NULL)
 * and wait until it says "ready" (it is bound to /dev/cachefiles).
 * d->statsfile and d->logfile are used if set, else made up in /tmp.
 * Returns 0, or -errno with the daemon's exit status and log tail printed.
 */
static inline int daemon_start(struct daemon_ctl *d, const char *daemon_path,
			       const char *cachedir, const char *blobdir,
			       const char *const extra_args[])
{
	static int instance;
	const char *argv[64];
	char fdstr[16], ready[16];
	struct pollfd pfd;
	int pipefd[2], nextra = 0, argc = 0, status, ret, i;
	size_t got = 0;
	long long deadline;

	while (extra_args && extra_args[nextra])
		nextra++;
	if (nextra > 64 - 14)
		return -E2BIG;
	if (!d->statsfile[0])
		snprintf(d->statsfile, sizeof(d->statsfile),
			 "/tmp/erofs_daemon.%d.%d.stats", (int)getpid(), instance);
	if (!d->logfile[0])
		snprintf(d->logfile, sizeof(d->logfile),
			 "/tmp/erofs_daemon.%d.%d.log", (int)getpid(), instance);
	instance++;
	/* Never let a previous run's counters pass for this one's. */
	unlink(d->statsfile);
	ret = open(d->logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ret >= 0)
		close(ret);

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;

	d->pid = fork();
	if (d->pid < 0) {
		ret = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		d->pid = 0;
		return ret;
	}
	if (!d->pid) {
		sigset_t all;
		int wfd = dup(pipefd[1]);	/* dup() drops O_CLOEXEC */

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		snprintf(fdstr, sizeof(fdstr), "%d", wfd);
		argv[argc++] = daemon_path;
		argv[argc++] = "-c";
		argv[argc++] = cachedir;
		argv[argc++] = "-b";
		argv[argc++] = blobdir;
		argv[argc++] = "-s";
		argv[argc++] = d->statsfile;
		argv[argc++] = "-l";
		argv[argc++] = d->logfile;
		argv[argc++] = "--ready-fd";
		argv[argc++] = fdstr;
		for (i = 0; i < nextra; i++)
			argv[argc++] = extra_args[i];
		argv[argc] = NULL;
		execv(daemon_path, (char *const *)argv);
		fprintf(stderr, "# exec %s: %s\n", daemon_path, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);

	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	deadline = daemon_ms_now() + DAEMON_READY_TIMEOUT_MS;
	ret = -ETIMEDOUT;
	while (got < sizeof(ready) - 1) {
		long long left = deadline - daemon_ms_now();
		ssize_t n;

		if (left <= 0)
			break;
		n = poll(&pfd, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = read(pipefd[0], ready + got, sizeof(ready) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = -ECHILD;	/* exited (or closed the fd) first */
			break;
		}
		got += n;
		ready[got] = '\0';
		if (strchr(ready, '\n')) {
			ret = strcmp(ready, "ready\n") ? -EPROTO : 0;
			break;
		}
	}
	close(pipefd[0]);
	if (!ret)
		return 0;

	fprintf(stderr, "# erofs_ondemand_daemon did not get ready: %s\n",
		ret == -ETIMEDOUT ? "timed out" :
		ret == -ECHILD ? "it exited" : "bad ready message");
	status = daemon_wait_pid(d->pid, ret == -ECHILD ? 5000 : 0);
	if (status == -ETIMEDOUT) {
		kill(d->pid, SIGKILL);
		status = daemon_wait_pid(d->pid, 5000);
	}
	if (status >= 0)
		daemon_describe_exit(status);
	daemon_log_tail(d, DAEMON_LOG_TAIL_LINES);
	d->pid = 0;
	return ret;
}

/*
 * SIGTERM the daemon and reap it.  Returns its exit status (0 = clean
 * stop), 128 + signal if it was killed, or -errno.
 */
static inline int daemon_stop(struct daemon_ctl *d)
{
	int status;

	if (d->pid <= 0)
		return -ESRCH;
	kill(d->pid, SIGTERM);
	status = daemon_wait_pid(d->pid, DAEMON_STOP_TIMEOUT_MS);
	if (status == -ETIMEDOUT) {
		fprintf(stderr, "# daemon %d ignored SIGTERM, killing it\n",
			(int)d->pid);
		daemon_log_tail(d, DAEMON_LOG_TAIL_LINES);
		kill(d->pid, SIGKILL);
		status = daemon_wait_pid(d->pid, DAEMON_STOP_TIMEOUT_MS);
	}
	d->pid = 0;
	if (status < 0)
		return status;
	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status))
			daemon_log_tail(d, DAEMON_LOG_TAIL_LINES);
		return WEXITSTATUS(status);
	}
	daemon_log_tail(d, DAEMON_LOG_TAIL_LINES);
	return 128 + WTERMSIG(status);
}

/* Undo the daemon's key escaping (\xNN, and "\" for the empty key). */
static inline int daemon_unescape(const char *s, char *out, size_t outsz)
{
	size_t o = 0;

	if (!strcmp(s, "\\")) {
		out[0] = '\0';
		return 0;
	}
	for (; *s; s++) {
		if (o + 1 >= outsz)
			return -EINVAL;
		if (*s == '\\') {
			unsigned int v;
			char hex[3] = { 0 };

			if (s[1] != 'x' || !s[2] || !s[3])
				return -EINVAL;
			hex[0] = s[2];
			hex[1] = s[3];
			if (strspn(hex, "0123456789abcdefABCDEF") != 2 ||
			    sscanf(hex, "%x", &v) != 1)
				return -EINVAL;
			out[o++] = v;
			s += 3;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return o;
}

/*
 * Parse "opens=N reads=N closes=N bytes=N [errors=N]" into @st.
 * Returns 0 or -EINVAL.
 */
static inline int daemon_parse_counters(char *s, struct daemon_blob_stats *st)
{
	static const char *const names[] = {
		"opens", "reads", "closes", "bytes", "errors",
	};
	unsigned long long *vals[] = {
		&st->opens, &st->reads, &st->closes, &st->bytes, &st->errors,
	};
	char *tok, *save = NULL;
	unsigned int seen = 0, i;

	memset(st, 0, sizeof(*st));
	for (tok = strtok_r(s, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *end;

		if (!eq)
			return -EINVAL;
		*eq = '\0';
		for (i = 0; i < 5; i++)
			if (!strcmp(tok, names[i]))
				break;
		if (i == 5 || !eq[1])
			return -EINVAL;
		errno = 0;
		*vals[i] = strtoull(eq + 1, &end, 10);
		if (errno || *end)
			return -EINVAL;
		seen |= 1u << i;
	}
	return (seen & 0xf) == 0xf ? 0 : -EINVAL;
}

/*
 * Call @fn for the total line (volume and cookie NULL) and for every blob
 * line of the stats file.  Returns 0, -errno reading the file, or -EINVAL
 * on a malformed line.
 */
typedef void (*daemon_stats_fn)(void *priv, const char *volume,
				const char *cookie,
				const struct daemon_blob_stats *st);

static inline int daemon_stats_foreach(const struct daemon_ctl *d,
				       daemon_stats_fn fn, void *priv)
{
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	f = fopen(d->statsfile, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char vol[1024], key[1024], *p = line, *rest, *save = NULL;
		struct daemon_blob_stats st;
		char *tvol, *tkey;

		p[strcspn(p, "\n")] = '\0';
		if (!strncmp(p, "total ", 6)) {
			if (daemon_parse_counters(p + 6, &st)) {
				ret = -EINVAL;
				break;
			}
			fn(priv, NULL, NULL, &st);
			continue;
		}
		if (!strncmp(p, "gc ", 3))
			continue;	/* the cache GC's totals */
		if (strncmp(p, "blob ", 5)) {
			ret = -EINVAL;
			break;
		}
		tvol = strtok_r(p + 5, " ", &save);
		tkey = strtok_r(NULL, " ", &save);
		rest = strtok_r(NULL, "", &save);
		if (!tvol || !tkey || !rest ||
		    daemon_unescape(tvol, vol, sizeof(vol)) < 0 ||
		    daemon_unescape(tkey, key, sizeof(key)) < 0 ||
		    daemon_parse_counters(rest, &st)) {
			ret = -EINVAL;
			break;
		}
		fn(priv, vol, key, &st);
	}
	if (!ret && ferror(f))
		ret = -EIO;
	free(line);
	fclose(f);
	return ret;
}

struct daemon_stats_query {
	const char *volume;
	const char *cookie;
	bool total;
	int matches;
	struct daemon_blob_stats sum;
};

static inline void daemon_stats_match(void *priv, const char *volume,
				      const char *cookie,
				      const struct daemon_blob_stats *st)
{
	struct daemon_stats_query *q = priv;

	if (!volume || !cookie) {	/* the total line */
		if (!q->total)
			return;
	} else {
		if (q->total)
			return;
		if (q->volume && strcmp(q->volume, volume))
			return;
		if (q->cookie && strcmp(q->cookie, cookie))
			return;
	}
	q->matches++;
	q->sum.opens += st->opens;
	q->sum.reads += st->reads;
	q->sum.closes += st->closes;
	q->sum.bytes += st->bytes;
	q->sum.errors += st->errors;
}

/*
 * Counters of @cookie in @volume.  @volume NULL sums the cookie over all
 * volumes, @cookie NULL sums all cookies of the volume.  Returns 0,
 * -ENOENT if no such blob was ever opened, or another -errno.
 */
static inline int daemon_stats(const struct daemon_ctl *d, const char *volume,
			       const char *cookie, struct daemon_blob_stats *out)
{
	struct daemon_stats_query q = { .volume = volume, .cookie = cookie };
	int ret;

	ret = daemon_stats_foreach(d, daemon_stats_match, &q);
	if (ret)
		return ret;
	*out = q.sum;
	return q.matches ? 0 : -ENOENT;
}

/* The "total" line, including errors. */
static inline int daemon_total(const struct daemon_ctl *d,
			       struct daemon_blob_stats *out)
{
	struct daemon_stats_query q = { .total = true };
	int ret;

	ret = daemon_stats_foreach(d, daemon_stats_match, &q);
	if (ret)
		return ret;
	*out = q.sum;
	return q.matches ? 0 : -EINVAL;
}

/* Number of distinct cookies OPENed in @volume (NULL: in any volume). */
static inline int daemon_count_blobs(const struct daemon_ctl *d,
				     const char *volume)
{
	struct daemon_stats_query q = { .volume = volume };
	int ret;

	ret = daemon_stats_foreach(d, daemon_stats_match, &q);
	return ret ? ret : q.matches;
}

static inline unsigned long long
daemon_stat_field(const struct daemon_blob_stats *st, enum daemon_stat_field f)
{
	switch (f) {
	case DAEMON_OPENS:
		return st->opens;
	case DAEMON_READS:
		return st->reads;
	case DAEMON_CLOSES:
		return st->closes;
	case DAEMON_BYTES:
		return st->bytes;
	default:
		return st->errors;
	}
}

/*
 * Wait until @field of (@volume, @cookie) reaches @min, or of the total
 * line if both are NULL.  CLOSE has no reply, so umount can return before
 * the daemon counted the CLOSE: wait for closes with this.  Returns 0 or
 * -ETIMEDOUT.
 */
static inline int daemon_wait_stat(const struct daemon_ctl *d,
				   const char *volume, const char *cookie,
				   enum daemon_stat_field field,
				   unsigned long long min, int timeout_ms)
{
	long long deadline = daemon_ms_now() + timeout_ms;
	struct daemon_blob_stats st;
	int ret;

	for (;;) {
		if (!volume && !cookie)
			ret = daemon_total(d, &st);
		else
			ret = daemon_stats(d, volume, cookie, &st);
		if (!ret && daemon_stat_field(&st, field) >= min)
			return 0;
		if (daemon_ms_now() >= deadline)
			return -ETIMEDOUT;
		daemon_sleep_ms(20);
	}
}

/*
 * On-disk layout of a cachefiles cache (fs/cachefiles in 6.12):
 *
 *   CACHEDIR/cache/                 cache.c: cachefiles_add_cache()
 *   CACHEDIR/graveyard/             culled/stale objects, emptied by the daemon
 *   CACHEDIR/cache/I<volume key>/   volume.c: 'I' + the volume key verbatim;
 *                                   erofs' key is "erofs,<domain_id or fsid>"
 *                                   (fs/erofs/fscache.c), at most 255 bytes
 *   .../I<volume key>/@00 .. @ff/   volume.c: all 256 fan-out dirs are made
 *                                   when the volume is acquired; an object
 *                                   lives in @<(u8)cookie->key_hash>, a hash
 *                                   of volume and cookie key (netfs
 *                                   fscache_cookie.c), so we scan all 256
 *   .../@xx/D<cookie key>           key.c: cachefiles_cook_key(): 'D' + the
 *                                   key verbatim if every byte is in
 *                                   '!'..'.' or '0'..0x7f (no space, no '/');
 *                                   otherwise 'S'/'T' + hex words or
 *                                   'E' + base64 (not counted here)
 *
 * A new data file is an O_TMPFILE until the object is withdrawn (cookie
 * relinquished at umount or cache unbind): namei.c
 * cachefiles_commit_tmpfile() links it in.  So D files reliably show up
 * only after the last user of the blob is gone; while mounted, count OPENs
 * in the daemon instead.
 */

/*
 * Count regular files named D* in the fan-out dirs of the volume.  Returns
 * the count, -ENOENT if the volume directory does not exist, or -errno.
 */
static inline int count_backing_files(const char *cachedir,
				      const char *volume_key)
{
	char path[PATH_MAX];
	struct dirent *de;
	int count = 0, vfd;
	DIR *vdir;

	if (snprintf(path, sizeof(path), "%s/cache/I%s", cachedir,
		     volume_key) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	vdir = opendir(path);
	if (!vdir)
		return -errno;
	vfd = dirfd(vdir);
	while ((de = readdir(vdir))) {
		struct dirent *fe;
		struct stat st;
		DIR *fan;
		int ffd;

		if (de->d_name[0] != '@')
			continue;
		ffd = openat(vfd, de->d_name, O_RDONLY | O_DIRECTORY |
			     O_NOFOLLOW | O_CLOEXEC);
		if (ffd < 0)
			continue;	/* not a directory */
		fan = fdopendir(ffd);
		if (!fan) {
			close(ffd);
			continue;
		}
		while ((fe = readdir(fan))) {
			if (fe->d_name[0] != 'D')
				continue;
			if (!fstatat(ffd, fe->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
			    S_ISREG(st.st_mode))
				count++;
		}
		closedir(fan);
	}
	closedir(vdir);
	return count;
}

/*
 * Find the backing file of @cookie_key in the volume and put its path in
 * @buf.  Returns 0, -ENOENT, or -EINVAL for a key cachefiles would not
 * store under a D name.
 */
static inline int backing_file_path(const char *cachedir,
				    const char *volume_key,
				    const char *cookie_key,
				    char *buf, size_t size)
{
	const unsigned char *k = (const unsigned char *)cookie_key;
	struct stat st;
	int i;

	if (!*k)
		return -EINVAL;
	for (; *k; k++)
		if (*k < '!' || *k == '/' || *k > 0x7f)
			return -EINVAL;
	for (i = 0; i < 256; i++) {
		if (snprintf(buf, size, "%s/cache/I%s/@%02x/D%s", cachedir,
			     volume_key, i, cookie_key) >= (int)size)
			return -ENAMETOOLONG;
		if (!lstat(buf, &st) && S_ISREG(st.st_mode))
			return 0;
	}
	buf[0] = '\0';
	return -ENOENT;
}

#endif /* __EROFS_DAEMON_CTL_H */
