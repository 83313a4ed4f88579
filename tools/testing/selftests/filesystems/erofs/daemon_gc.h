/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cache GC of the reference on-demand daemon (ondemand_daemon.c includes
 * this after its object table; it uses the daemon's logmsg(), escape_key(),
 * opt.cachedir, dev_command() and object table).
 *
 * A budget with a high and a low water mark, each in bytes or as a
 * percentage of the cache filesystem's size.  The cache's size is what its
 * backing files allocate: the regular files under CACHEDIR/cache/I<volume
 * key>/@<hash>/, the layout of fs/cachefiles/{volume,namei}.c.  When it is
 * above the high mark, the GC culls backing files, least recently used
 * first, until it is at or under the low mark.  Last use is the newest of
 * the file's atime and mtime and the last OPEN/READ/CLOSE the daemon served
 * for that (volume key, cookie key).
 *
 * It never culls a blob in use.  A blob is in use while some mount holds
 * its cookie, in any domain; cachefiles then marks the backing inode
 * S_KERNEL_FILE and "cull" (like "inuse") answers EBUSY, atomically with the
 * unlink.  On top of that the GC skips every blob the daemon still had an
 * object for (between OPEN and CLOSE) when the pass started.  "cull" and
 * "inuse" name a file in the working directory, so the GC fchdir()s to the
 * fan-out directory for each one and back afterwards.
 *
 * A pass runs in a forked child, so that serving never waits for a scan
 * or a cull: the commands act on the cache of the open file description
 * (file->private_data in fs/cachefiles/daemon.c), which the child shares,
 * and look names up in the caller's own working directory, which the
 * child has to itself.  At most one pass runs at a time; the serving loop
 * reaps it (SIGCHLD wakes its ppoll()) and starts the next when it is due.
 * The child works on a copy of the daemon's state taken at fork(): an
 * object OPENed later is in use for the kernel, so "cull" refuses it.  Its
 * totals go to the shared stats mapping (shm->gc).
 */
#ifndef EROFS_DAEMON_GC_H
#define EROFS_DAEMON_GC_H

#include <dirent.h>
#include <sys/statvfs.h>

#define GC_DEFAULT_INTERVAL_MS	1000
/* Options of the GC, kept out of the daemon's own enum. */
#define OPT_GC_HIGH		0x4700
#define OPT_GC_LOW		0x4701
#define OPT_GC_INTERVAL		0x4702
#define GC_LONG_OPTIONS							\
	{ "cache-high",		required_argument, NULL, OPT_GC_HIGH },	\
	{ "cache-low",		required_argument, NULL, OPT_GC_LOW },	\
	{ "gc-interval-ms",	required_argument, NULL, OPT_GC_INTERVAL },

/* A water mark: bytes, or a percentage of the cache filesystem. */
struct gc_mark {
	bool set;
	bool pct;
	uint64_t val;		/* bytes, or percent (1..100) */
};

static struct {
	struct gc_mark high, low;
	unsigned int interval_ms;
	struct timespec last;	/* end of the last pass */
	long last_cost_ms;	/* how long it took */
	int home_fd;		/* the working directory to return to */
	/* "VERB NAME" ("cull", "inuse") in the working directory: 0 or -errno */
	int (*command)(const char *verb, const char *name);
	uint64_t requests;	/* SIGUSR2s taken */
	pid_t child;		/* the pass running, 0 if none */
	bool child_request;	/* ... is one of a request */
	int listings_fd;	/* ... writes its listings there */
	struct timespec child_start;
} gc = {
	.interval_ms = GC_DEFAULT_INTERVAL_MS,
	.home_fd = -1,
	.listings_fd = -1,
};

static int dev_command(const char *cmd);
static volatile sig_atomic_t gc_requested;	/* SIGUSR2 */
static bool gc_full;		/* the pass of a request rereads every directory */

/* ---- last use per (volume key, cookie key), CLOCK_REALTIME ---- */

struct gc_use {
	struct gc_use *next;
	int64_t when_ns;
	uint16_t vol_len, key_len;
	unsigned char vk[];	/* volume key bytes, then cookie key bytes */
};

#define GC_USE_BUCKETS	4096
static struct gc_use **gc_uses;

static uint32_t gc_hash(const unsigned char *vol, size_t vol_len,
			const unsigned char *key, size_t key_len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < vol_len; i++)
		h = (h ^ vol[i]) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (i = 0; i < key_len; i++)
		h = (h ^ key[i]) * 16777619u;
	return h & (GC_USE_BUCKETS - 1);
}

static struct gc_use **gc_use_slot(const unsigned char *vol, size_t vol_len,
				   const unsigned char *key, size_t key_len)
{
	struct gc_use **pp = &gc_uses[gc_hash(vol, vol_len, key, key_len)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->vol_len == vol_len && (*pp)->key_len == key_len &&
		    !memcmp((*pp)->vk, vol, vol_len) &&
		    !memcmp((*pp)->vk + vol_len, key, key_len))
			break;
	return pp;
}

static int64_t gc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool gc_enabled(void)
{
	return gc.high.set;
}

static void gc_note_use(const unsigned char *vol, size_t vol_len,
			const unsigned char *key, size_t key_len)
{
	struct gc_use **pp, *u;

	if (!gc_enabled())
		return;
	if (!gc_uses) {
		gc_uses = calloc(GC_USE_BUCKETS, sizeof(*gc_uses));
		if (!gc_uses)
			return;
	}
	pp = gc_use_slot(vol, vol_len, key, key_len);
	if (!*pp) {
		u = malloc(sizeof(*u) + vol_len + key_len);
		if (!u)
			return;	/* falls back to the file times */
		u->next = NULL;
		u->vol_len = vol_len;
		u->key_len = key_len;
		memcpy(u->vk, vol, vol_len);
		memcpy(u->vk + vol_len, key, key_len);
		*pp = u;
	}
	(*pp)->when_ns = gc_now_ns();
}

static int64_t gc_last_use(const unsigned char *vol, size_t vol_len,
			   const unsigned char *key, size_t key_len)
{
	struct gc_use **pp;

	if (!gc_uses)
		return 0;
	pp = gc_use_slot(vol, vol_len, key, key_len);
	return *pp ? (*pp)->when_ns : 0;
}

/* A message is about to be handled, or was: note its object's blob. */
static void gc_note_msg(const struct cachefiles_msg *msg)
{
	const struct object *o;

	if (!gc_enabled() || !obj_buckets)
		return;
	o = obj_find(msg->object_id);
	if (o)
		gc_note_use((const unsigned char *)o->vol, o->vol_len, o->key,
			    o->key_len);
}

/* Does the daemon hold an object (OPEN without CLOSE yet) for this blob? */
static bool gc_daemon_has(const unsigned char *vol, size_t vol_len,
			  const unsigned char *key, size_t key_len)
{
	uint32_t i;

	for (i = 0; i < obj_nbuckets; i++) {
		const struct object *o;

		for (o = obj_buckets[i]; o; o = o->next)
			if (o->vol_len == vol_len && o->key_len == key_len &&
			    !memcmp(o->vol, vol, vol_len) &&
			    !memcmp(o->key, key, key_len))
				return true;
	}
	return false;
}

/* ---- options ---- */

/* "N", "N[KMGT]" (powers of 1024, optional "iB"/"B") or "N%" (1..100). */
static int gc_parse_mark(const char *s, struct gc_mark *m)
{
	unsigned long long v, mul = 1;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+')
		return -1;
	if (*end == '%') {
		if (end[1] || v < 1 || v > 100)
			return -1;
		m->set = true;
		m->pct = true;
		m->val = v;
		return 0;
	}
	switch (*end) {
	case 'T': case 't':
		mul <<= 10;
		/* fall through */
	case 'G': case 'g':
		mul <<= 10;
		/* fall through */
	case 'M': case 'm':
		mul <<= 10;
		/* fall through */
	case 'K': case 'k':
		mul <<= 10;
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
		break;
	case 'B':
		end++;
		break;
	}
	if (*end || (v && mul > UINT64_MAX / v))
		return -1;
	m->set = true;
	m->pct = false;
	m->val = v * mul;
	return 0;
}

/* 0: handled; -1: a bad value (explained); 1: not a GC option. */
static int gc_option(int c, const char *arg)
{
	struct gc_mark *m;
	unsigned long v;
	char *end;

	switch (c) {
	case OPT_GC_HIGH:
	case OPT_GC_LOW:
		m = c == OPT_GC_HIGH ? &gc.high : &gc.low;
		if (gc_parse_mark(arg, m)) {
			fprintf(stderr, "--cache-%s: bad size '%s' (bytes, with K/M/G/T, or 1..100%%)\n",
				c == OPT_GC_HIGH ? "high" : "low", arg);
			return -1;
		}
		return 0;
	case OPT_GC_INTERVAL:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || *arg == '-' || !v ||
		    v > 3600000) {
			fprintf(stderr, "--gc-interval-ms: bad number '%s' (1..3600000)\n",
				arg);
			return -1;
		}
		gc.interval_ms = v;
		return 0;
	}
	return 1;
}

/* After parsing: 0, or -1 with the reason on stderr. */
static int gc_check_options(void)
{
	if (gc.low.set && !gc.high.set) {
		fprintf(stderr, "--cache-low needs --cache-high\n");
		return -1;
	}
	if (gc.high.set && gc.low.set && gc.high.pct == gc.low.pct &&
	    gc.low.val > gc.high.val) {
		fprintf(stderr, "--cache-low must not be above --cache-high\n");
		return -1;
	}
	return 0;
}

static void gc_usage(FILE *f)
{
	fprintf(f,
		"      --cache-high SIZE     cull unused blobs when the cache is over SIZE\n"
		"                            (bytes, K/M/G/T, or N%% of the cache filesystem)\n"
		"      --cache-low SIZE      ... down to SIZE (default 90%% of --cache-high)\n"
		"      --gc-interval-ms N    look at the cache every N ms (default %d)\n",
		GC_DEFAULT_INTERVAL_MS);
}

/* ---- the GC pass ---- */

struct gc_file {
	int64_t last_ns;
	uint64_t bytes;
	uint32_t vdir;		/* index into the volume names of the pass */
	uint8_t fdir;		/* the fan-out directory @xx */
	bool decoded;		/* vol/key known: "I<vol>" and "D<key>" */
	char name[NAME_MAX + 1];
};

struct gc_scan {
	struct gc_file *files;
	size_t nr, cap;
	uint64_t total;
	char (*vols)[NAME_MAX + 1];
	size_t nr_vols;
};

static uint64_t gc_resolve(const struct gc_mark *m, uint64_t fs_bytes)
{
	if (!m->pct)
		return m->val;
	return fs_bytes / 100 * m->val + fs_bytes % 100 * m->val / 100;
}

/* The marks in bytes; 0 if the cache filesystem cannot be sized. */
static int gc_marks(uint64_t *high, uint64_t *low)
{
	uint64_t fs_bytes = 0;
	struct statvfs sv;

	if (gc.high.pct || (gc.low.set && gc.low.pct)) {
		if (statvfs(opt.cachedir, &sv)) {
			logmsg("GC: statvfs %s: %s", opt.cachedir, strerror(errno));
			return -1;
		}
		fs_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
	}
	*high = gc_resolve(&gc.high, fs_bytes);
	if (gc.low.set)
		*low = gc_resolve(&gc.low, fs_bytes);
	else
		*low = *high / 10 * 9;
	if (*low > *high)
		*low = *high;
	return 0;
}

static int gc_add_file(struct gc_scan *s, const char *name, uint32_t vdir,
		       uint8_t fdir, const struct stat *st)
{
	const char *vol = s->vols[vdir] + 1;
	struct gc_file *f;
	int64_t t;

	if (s->nr == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct gc_file *n = realloc(s->files, cap * sizeof(*n));

		if (!n)
			return -1;
		s->files = n;
		s->cap = cap;
	}
	f = &s->files[s->nr++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->vdir = vdir;
	f->fdir = fdir;
	f->bytes = (uint64_t)st->st_blocks * 512;
	f->last_ns = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec;
	t = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	if (t > f->last_ns)
		f->last_ns = t;
	/* cachefiles renders a printable key as "D<key>" (key.c) */
	f->decoded = name[0] == 'D' && name[1];
	if (f->decoded) {
		t = gc_last_use((const unsigned char *)vol, strlen(vol),
				(const unsigned char *)name + 1, strlen(name + 1));
		if (t > f->last_ns)
			f->last_ns = t;
	}
	s->total += f->bytes;
	return 0;
}

/*
 * The names in each fan-out directory, kept between passes and read again
 * only when the directory's mtime changed: an idle cache costs one stat
 * per fan-out directory instead of a readdir.  A full scan (every 16th
 * pass, and on request) rereads them all, in case an entry came and went
 * within one timestamp tick.
 */
struct gc_fan {
	struct timespec mtime;
	bool valid;
	char *names;		/* NUL-separated */
	size_t len, cap;
};

struct gc_voldir {
	char name[NAME_MAX + 1];
	struct gc_fan fan[256];
};

static struct gc_voldir **gc_voldirs;
static size_t gc_nr_voldirs;

static struct gc_voldir *gc_voldir(const char *name)
{
	struct gc_voldir *v, **n;
	size_t i;

	for (i = 0; i < gc_nr_voldirs; i++)
		if (!strcmp(gc_voldirs[i]->name, name))
			return gc_voldirs[i];
	v = calloc(1, sizeof(*v));
	n = realloc(gc_voldirs, (gc_nr_voldirs + 1) * sizeof(*n));
	if (!v || !n) {
		free(v);
		if (n)
			gc_voldirs = n;
		return NULL;
	}
	gc_voldirs = n;
	snprintf(v->name, sizeof(v->name), "%s", name);
	gc_voldirs[gc_nr_voldirs++] = v;
	return v;
}

/* Read the names of the fan-out directory @path into @f. */
static void gc_fan_read(int vfd, const char *path, struct gc_fan *f,
			const struct stat *dst)
{
	struct dirent *de;
	DIR *d;
	int fd;

	f->valid = false;
	f->len = 0;
	fd = openat(vfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name) + 1;

		if (de->d_name[0] == '.')
			continue;	/* cachefiles names start with a letter */
		if (f->len + l > f->cap) {
			char *n = realloc(f->names, f->cap * 2 + l + 256);

			if (!n) {
				closedir(d);
				return;
			}
			f->names = n;
			f->cap = f->cap * 2 + l + 256;
		}
		memcpy(f->names + f->len, de->d_name, l);
		f->len += l;
	}
	closedir(d);
	f->mtime = dst->st_mtim;
	f->valid = true;
}

/* Scan CACHEDIR/cache/I* /@xx/ for backing files. */
static int gc_scan_mode(int cache_fd, struct gc_scan *s, bool full)
{
	DIR *top = fdopendir(dup(cache_fd));
	struct dirent *de;

	if (!top)
		return -1;
	while ((de = readdir(top))) {
		struct gc_voldir *vd;
		unsigned int fan;
		int vfd;

		if (de->d_name[0] != 'I')
			continue;
		vd = gc_voldir(de->d_name);
		vfd = openat(cache_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (!vd || vfd < 0) {
			if (vfd >= 0)
				close(vfd);
			continue;
		}
		if (s->nr_vols % 64 == 0) {
			void *n = realloc(s->vols, (s->nr_vols + 64) * sizeof(*s->vols));

			if (!n) {
				close(vfd);
				break;
			}
			s->vols = n;
		}
		snprintf(s->vols[s->nr_vols], sizeof(s->vols[0]), "%s", de->d_name);
		for (fan = 0; fan < 256; fan++) {
			struct gc_fan *f = &vd->fan[fan];
			char path[NAME_MAX + 8];
			struct stat dst, st;
			size_t off;

			snprintf(path, sizeof(path), "@%02x", fan);
			if (fstatat(vfd, path, &dst, AT_SYMLINK_NOFOLLOW) ||
			    !S_ISDIR(dst.st_mode))
				continue;
			if (full || !f->valid ||
			    f->mtime.tv_sec != dst.st_mtim.tv_sec ||
			    f->mtime.tv_nsec != dst.st_mtim.tv_nsec)
				gc_fan_read(vfd, path, f, &dst);
			if (!f->valid)
				continue;
			for (off = 0; off < f->len; off += strlen(f->names + off) + 1) {
				const char *name = f->names + off;

				snprintf(path, sizeof(path), "@%02x/%s", fan, name);
				if (fstatat(vfd, path, &st, AT_SYMLINK_NOFOLLOW) ||
				    !S_ISREG(st.st_mode))
					continue;
				if (gc_add_file(s, name, s->nr_vols, fan, &st))
					break;
			}
		}
		close(vfd);
		s->nr_vols++;
	}
	closedir(top);
	return 0;
}

static int gc_scan(int cache_fd, struct gc_scan *s)
{
	/* passes on request and every 16th one read every directory */
	return gc_scan_mode(cache_fd, s, gc_full || shm->gc.passes % 16 == 0);
}

/*
 * The listings go back to the serving process through @fd (a memfd it
 * made for the pass), so that the next pass, forked from it, has them:
 * each directory's struct, then the names of each of its fans.
 */
static void gc_listings_save(int fd)
{
	size_t i, j;
	bool ok = true;

	for (i = 0; i < gc_nr_voldirs && ok; i++) {
		const struct gc_voldir *v = gc_voldirs[i];

		ok = write(fd, v, sizeof(*v)) == sizeof(*v);
		for (j = 0; j < 256 && ok; j++)
			if (v->fan[j].valid && v->fan[j].len)
				ok = write(fd, v->fan[j].names, v->fan[j].len) ==
				     (ssize_t)v->fan[j].len;
	}
	if (!ok)	/* the loader sees a short record and drops it */
		logmsg("GC: cannot save the listings: %s", strerror(errno));
}

/* Replace ours with the listings of the pass that wrote @fd. */
static void gc_listings_load(int fd)
{
	struct gc_voldir rec;
	size_t i, j;

	for (i = 0; i < gc_nr_voldirs; i++) {
		for (j = 0; j < 256; j++)
			free(gc_voldirs[i]->fan[j].names);
		free(gc_voldirs[i]);
	}
	gc_nr_voldirs = 0;
	if (lseek(fd, 0, SEEK_SET))
		return;
	while (read(fd, &rec, sizeof(rec)) == sizeof(rec)) {
		struct gc_voldir *v = gc_voldir(rec.name);

		if (!v)
			return;
		for (j = 0; j < 256; j++) {
			struct gc_fan *f = &v->fan[j];

			if (!rec.fan[j].valid)
				continue;
			f->names = malloc(rec.fan[j].len + 1);
			if (!f->names ||
			    read(fd, f->names, rec.fan[j].len) != (ssize_t)rec.fan[j].len)
				return;	/* f stays invalid: read again */
			f->len = f->cap = rec.fan[j].len;
			f->mtime = rec.fan[j].mtime;
			f->valid = true;
		}
	}
}

static int gc_cmp_age(const void *a, const void *b)
{
	const struct gc_file *x = a, *y = b;

	if (x->last_ns != y->last_ns)
		return x->last_ns < y->last_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int gc_command_dev(const char *verb, const char *name)
{
	char cmd[NAME_MAX + 16];

	snprintf(cmd, sizeof(cmd), "%s %s", verb, name);
	return dev_command(cmd);
}

/*
 * Run "VERB <file>" with the file's fan-out directory as the working
 * directory, as cachefiles wants, and return to ours.  0 or -errno.
 */
static int gc_command_at(int cache_fd, const char *vdir, unsigned int fan,
			 const char *verb, const char *name)
{
	char path[NAME_MAX + 8];
	int dfd, ret;

	if (!gc.command)
		gc.command = gc_command_dev;
	if (gc.home_fd < 0)
		gc.home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (gc.home_fd < 0) {
		ret = -errno;
		logmsg("GC: cannot open the working directory: %s", strerror(errno));
		return ret;
	}
	snprintf(path, sizeof(path), "%s/@%02x", vdir, fan & 0xff);
	dfd = openat(cache_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fchdir(dfd)) {
		ret = -errno;
		logmsg("GC: cannot enter %s/cache/%s: %s", opt.cachedir, path,
		       strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	ret = gc.command(verb, name);
	if (fchdir(gc.home_fd))
		logmsg("GC: cannot return to the working directory: %s",
		       strerror(errno));
	close(dfd);
	return ret;
}

static int gc_open_cache(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cache", opt.cachedir);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Escaped volume and key (or whole file name) of a scanned file, for the log. */
static const char *gc_names(const struct gc_scan *s, const struct gc_file *f,
			    char *evol, char *ekey)
{
	const char *vdir = s->vols[f->vdir];
	size_t skip = f->decoded ? 1 : 0;

	escape_key(evol, ESC_MAX, (const unsigned char *)vdir + 1,
		   strlen(vdir + 1));
	escape_key(ekey, ESC_MAX, (const unsigned char *)f->name + skip,
		   strlen(f->name) - skip);
	return f->decoded ? "key" : "file";
}

/*
 * Log cachefiles' "inuse" verdict on every backing file of @s, for
 * operators and tests: "GC inuse vol=V key=K bytes=N -> in use|not in use".
 */
static void gc_report(int cache_fd, const struct gc_scan *s)
{
	char evol[ESC_MAX], ekey[ESC_MAX];
	unsigned int busy = 0;
	size_t i;

	for (i = 0; i < s->nr; i++) {
		const struct gc_file *f = &s->files[i];
		const char *what = gc_names(s, f, evol, ekey);
		int ret = gc_command_at(cache_fd, s->vols[f->vdir], f->fdir,
					"inuse", f->name);

		busy += ret == -EBUSY;
		logmsg("GC inuse vol=%s %s=%s bytes=%llu -> %s%s", evol, what,
		       ekey, (unsigned long long)f->bytes,
		       !ret ? "not in use" : ret == -EBUSY ? "in use" : "error: ",
		       ret && ret != -EBUSY ? strerror(-ret) : "");
	}
	logmsg("GC inuse report: %zu files, %llu bytes, %u in use", s->nr,
	       (unsigned long long)s->total, busy);
}

static long long gc_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Above the high mark, cull the least recently used files of @s that
 * nobody uses until at or under the low mark.  Returns the number culled.
 */
static int gc_cull(int cache_fd, struct gc_scan *s, uint64_t high,
		   uint64_t low)
{
	char evol[ESC_MAX], ekey[ESC_MAX];
	uint64_t usage = s->total;
	int nr = 0, busy = 0;
	size_t i;

	if (usage <= high)
		return 0;
	logmsg("GC: cache %llu bytes in %zu files, over the high mark %llu: culling to %llu",
	       (unsigned long long)usage, s->nr, (unsigned long long)high,
	       (unsigned long long)low);
	qsort(s->files, s->nr, sizeof(*s->files), gc_cmp_age);
	for (i = 0; i < s->nr && usage > low; i++) {
		const struct gc_file *f = &s->files[i];
		const char *vdir = s->vols[f->vdir];
		const char *what = gc_names(s, f, evol, ekey);
		long long t0, t1;
		int ret;

		if (f->decoded &&
		    gc_daemon_has((const unsigned char *)vdir + 1, strlen(vdir + 1),
				  (const unsigned char *)f->name + 1,
				  strlen(f->name + 1))) {
			logmsg("GC skip vol=%s %s=%s -> in use (the daemon has it open)",
			       evol, what, ekey);
			busy++;
			shm->gc.busy++;
			continue;
		}
		t0 = gc_mono_us();
		ret = gc_command_at(cache_fd, vdir, f->fdir, "cull", f->name);
		t1 = gc_mono_us();
		if (!ret) {
			usage -= f->bytes < usage ? f->bytes : usage;
			nr++;
			shm->gc.culled++;
			shm->gc.bytes += f->bytes;
			logmsg("GC cull vol=%s %s=%s bytes=%llu t0=%lld.%06lld t1=%lld.%06lld -> culled",
			       evol, what, ekey, (unsigned long long)f->bytes,
			       t0 / 1000000, t0 % 1000000, t1 / 1000000,
			       t1 % 1000000);
		} else if (ret == -EBUSY) {
			busy++;
			shm->gc.busy++;
			logmsg("GC skip vol=%s %s=%s -> in use (cull: EBUSY)",
			       evol, what, ekey);
		} else if (ret == -ESTALE || ret == -ENOENT) {
			usage -= f->bytes < usage ? f->bytes : usage;
			logmsg("GC skip vol=%s %s=%s -> already gone", evol,
			       what, ekey);
		} else {
			logmsg("GC skip vol=%s %s=%s -> cull failed: %s", evol,
			       what, ekey, strerror(-ret));
		}
	}
	logmsg("GC: cache %llu bytes after culling %d files%s (%d in use)",
	       (unsigned long long)usage, nr,
	       usage > low ? ", still over the low mark" : "", busy);
	return nr;
}

/*
 * One pass: measure the cache (one scan) and log the inuse report of every
 * file if @report; then, with a budget, cull (gc_cull()).  Returns the
 * number of files culled, or -1.
 */
static int gc_run(bool report)
{
	struct gc_scan s = { 0 };
	uint64_t high = 0, low = 0;
	int cache_fd, nr = 0;

	if (gc_enabled()) {
		shm->gc.passes++;
		if (gc_marks(&high, &low))
			return -1;
	}
	cache_fd = gc_open_cache();
	if (cache_fd < 0) {
		if (report)
			logmsg("GC inuse report: no cache yet (%s/cache: %s)",
			       opt.cachedir, strerror(errno));
		return 0;	/* nothing cached yet */
	}
	if (gc_scan(cache_fd, &s)) {
		logmsg("GC: cannot scan %s/cache: %s", opt.cachedir,
		       strerror(errno));
		close(cache_fd);
		return -1;
	}
	if (report)
		gc_report(cache_fd, &s);
	if (gc_enabled())
		nr = gc_cull(cache_fd, &s, high, low);
	close(cache_fd);
	free(s.files);
	free(s.vols);
	return nr;
}

/* SIGUSR2: log the inuse report, then run a pass if there is a budget. */

static void gc_on_request(int sig)
{
	(void)sig;
	gc_requested = 1;
}

/* SIGCHLD: only to wake the serving loop's ppoll() when a pass ends. */
static void gc_on_child(int sig)
{
	(void)sig;
}

/*
 * Called by serve() once it waits with @waitmask: SIGUSR2 (blocked since
 * main() started) and SIGCHLD (a pass ended) are let in only while
 * waiting, like SIGTERM, so they never interrupt a reply.
 */
static void gc_setup_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = gc_on_request;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = gc_on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigdelset(waitmask, SIGUSR2);
	sigdelset(waitmask, SIGCHLD);
}

/*
 * The wait after a pass: the interval, but at least what the pass cost, so
 * that the GC never takes more than half a CPU, however slow
 * the cache's filesystem is to scan.  Serving does not wait for it.
 */
static long gc_wait_ms(void)
{
	long w = gc.interval_ms;

	return w > gc.last_cost_ms ? w : gc.last_cost_ms;
}

/* The body of a pass, in the child. */
static void gc_pass(bool request, uint64_t nr)
{
	gc_full = request;
	gc_run(request);
	gc_full = false;
	if (request)
		logmsg("GC request #%llu done", (unsigned long long)nr);
}

/*
 * Fork the child of one pass.  It closes its copies of the objects' fds
 * at once: an anon fd it kept would keep the kernel's object, and so its
 * volume, alive after the daemon closed it on CLOSE.
 */
static void gc_start(bool request)
{
	pid_t parent = getpid(), pid;
	struct object *o;
	uint32_t i;

	if (request)
		gc.requests++;
	clock_gettime(CLOCK_MONOTONIC, &gc.child_start);
	gc.listings_fd = memfd_create("erofs-daemon-gc", MFD_CLOEXEC);
	pid = gc.listings_fd < 0 ? -1 : fork();
	if (pid < 0) {
		logmsg("GC: cannot fork a pass: %s; running it in the serving loop",
		       strerror(errno));
		if (gc.listings_fd >= 0)
			close(gc.listings_fd);
		gc.listings_fd = -1;
		gc_pass(request, gc.requests);
		clock_gettime(CLOCK_MONOTONIC, &gc.last);
		return;
	}
	if (pid) {
		gc.child = pid;
		gc.child_request = request;
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	for (i = 0; i < obj_nbuckets; i++)
		for (o = obj_buckets[i]; o; o = o->next) {
			if (o->anon_fd >= 0)
				close(o->anon_fd);
			if (o->blob_fd >= 0)
				close(o->blob_fd);
			o->anon_fd = o->blob_fd = -1;
		}
	for (o = held_objects; o; o = o->next) {
		if (o->anon_fd >= 0)
			close(o->anon_fd);
		if (o->blob_fd >= 0)
			close(o->blob_fd);
	}
	gc_pass(request, gc.requests);
	gc_listings_save(gc.listings_fd);
	_exit(0);
}

/* Reap the pass if it ended (or wait for it): true if none is running. */
static bool gc_reap(bool wait)
{
	int status = 0;
	pid_t r;

	if (!gc.child)
		return true;
	r = waitpid(gc.child, &status, wait ? 0 : WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return false;
	if (r == gc.child && WIFEXITED(status) && !WEXITSTATUS(status))
		gc_listings_load(gc.listings_fd);
	else
		logmsg("GC: the pass %d ended with status 0x%x%s", (int)gc.child,
		       status, gc.child_request ? " (request not done)" : "");
	close(gc.listings_fd);
	gc.listings_fd = -1;
	gc.child = 0;
	gc.last_cost_ms = ms_since(&gc.child_start);
	if (gc.last_cost_ms >= 500)
		logmsg("GC: slow pass: %ld ms; the next one in %ld ms at the earliest",
		       gc.last_cost_ms, gc_wait_ms());
	clock_gettime(CLOCK_MONOTONIC, &gc.last);
	stats_dirty = true;	/* its totals */
	return true;
}

/* On exit: a pass still running is killed (each command is atomic). */
static void gc_stop(void)
{
	if (gc.child) {
		kill(gc.child, SIGKILL);
		gc_reap(true);
	}
}

/* Main loop hook: reap the pass that ended, start one when one is due. */
static void gc_tick(void)
{
	if (!gc_reap(false))
		return;		/* one at a time; a request waits for it */
	if (gc_requested) {
		gc_requested = 0;
		gc_start(true);
		return;
	}
	if (!gc_enabled())
		return;
	if (gc.last.tv_sec && ms_since(&gc.last) < gc_wait_ms())
		return;
	gc_start(false);
}

/* Main loop hook: wake up for the next pass at the latest. */
static void gc_poll_timeout(struct timespec *ts, struct timespec **tmo)
{
	long left;

	if (!gc_enabled() || gc.child)
		return;		/* SIGCHLD wakes the loop when the pass ends */
	left = gc_wait_ms() - ms_since(&gc.last);
	if (left < 0)
		left = 0;
	if (*tmo && (*tmo)->tv_sec * 1000 + (*tmo)->tv_nsec / 1000000 <= left)
		return;
	ts->tv_sec = left / 1000;
	ts->tv_nsec = (left % 1000) * 1000000L;
	*tmo = ts;
}

#endif /* EROFS_DAEMON_GC_H */
