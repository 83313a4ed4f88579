// SPDX-License-Identifier: GPL-2.0
/*
 * Reference cachefiles on-demand daemon for the EROFS fscache selftests.
 *
 * Serves OPEN/READ/CLOSE requests from /dev/cachefiles ("bind ondemand")
 * out of plain blob files in a directory, counts what it served per
 * (volume key, cookie key) in a stats file the tests parse, and offers
 * fault switches (refuse an OPEN, delay replies, withhold CLOSEs, crash in the
 * middle of a READ, supervised restart with or without "restore", serve READs
 * in pieces, complete some READs without data).
 *
 * See DAEMON.md next to this file for the command line and the stats
 * file format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/cachefiles.h>

#ifndef __printf
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#endif
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#ifndef CACHEFILES_DEVNODE
#define CACHEFILES_DEVNODE	"/dev/cachefiles"
#endif

#define BLOCK_SIZE		4096ULL
#define CHUNK_SIZE		(1024 * 1024)
#define KEY_MAX			256	/* fscache caps both keys at NAME_MAX */
#define DEFAULT_MAX_BLOBS	16384
#define MAX_REFUSE		64
#define MAX_HOLD		64
#define FAST_DEATH_SEC		1
#define MAX_FAST_DEATHS		10

/* Exit codes */
#define EXIT_SETUP		1
#define EXIT_USAGE		2
#define EXIT_CRASH		3	/* --exit-after-reads */

struct refuse_rule {
	unsigned char key[KEY_MAX];
	size_t key_len;
	int err;
};

/* --hold-close KEY: keep the object's fds open on CLOSE (until SIGUSR1). */
struct hold_rule {
	unsigned char key[KEY_MAX];
	size_t key_len;
};

static struct {
	const char *cachedir;
	const char *blobdir;
	const char *statsfile;
	const char *logfile;
	const char *tag;
	int ready_fd;
	struct refuse_rule refuse[MAX_REFUSE];
	int nr_refuse;
	unsigned int delay_ms;
	unsigned long exit_after_reads;
	unsigned long split_reads;	/* --split-reads: bytes served per READ */
	unsigned long refuse_reads;	/* --refuse-reads: every N-th READ */
	bool supervise;
	bool no_restore;
	unsigned int max_blobs;
	unsigned int stats_interval_ms;
	struct hold_rule hold[MAX_HOLD];
	int nr_hold;
	bool hold_all;
} opt = {
	.ready_fd = -1,
	.max_blobs = DEFAULT_MAX_BLOBS,
};

/*
 * Counters live in a MAP_SHARED anonymous mapping created before any
 * worker is forked, so they survive a worker crash in --supervise mode.
 * Each counter has one writer at a time: the worker's serving loop, or for
 * gc only, the GC pass it forked (daemon_gc.h); the supervisor reads them
 * after the worker is gone.  An entry is filled in before nr_blobs is
 * bumped, so a worker dying half-way leaves no torn entry.
 */
struct blob_stat {
	uint64_t opens;
	uint64_t reads;
	uint64_t closes;
	uint64_t bytes;
	uint16_t vol_len;
	uint16_t key_len;
	unsigned char vol[KEY_MAX];
	unsigned char key[KEY_MAX];
};

struct stats_shm {
	uint64_t opens;
	uint64_t reads;
	uint64_t closes;
	uint64_t bytes;
	uint64_t errors;
	uint32_t nr_blobs;
	uint32_t capacity;
	uint32_t overflowed;
	struct {		/* cache GC: passes, files and bytes culled, in use */
		uint64_t passes, culled, bytes, busy;
	} gc;
	struct blob_stat blobs[];
};

static struct stats_shm *shm;

/* Per-process index over shm->blobs: hash for lookup, sorted order for output. */
static int32_t *stat_slots;
static uint32_t stat_slot_mask;
static uint32_t *stat_order;
static uint32_t stat_indexed;
static bool stats_dirty;
static struct timespec stats_last;

/* An object the kernel opened: object_id -> fds and key. */
struct object {
	struct object *next;
	uint32_t id;
	int anon_fd;
	int blob_fd;
	uint64_t size;
	int32_t stat;		/* index into shm->blobs, -1 if the table overflowed */
	uint16_t vol_len;
	uint16_t key_len;
	char vol[KEY_MAX];
	unsigned char key[KEY_MAX];
};

static struct object **obj_buckets;
static uint32_t obj_nbuckets;
static uint32_t nr_objects;

static int dev_fd = -1;
static int log_fd = STDERR_FILENO;
static int blobdir_fd = -1;
static void *io_buf;
static unsigned long reads_seen;
static volatile sig_atomic_t stop_requested;
/* Objects whose CLOSE was withheld (--hold-close), and the release signal. */
static struct object *held_objects;
static unsigned int nr_held;
static bool holds_released;
static volatile sig_atomic_t release_requested;

/* ------------------------------------------------------------------ */
/* Logging */

static void logmsg(const char *fmt, ...) __printf(1, 2);

static void logmsg(const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n, m;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "[%5lld.%03ld] %d ",
		     (long long)ts.tv_sec, ts.tv_nsec / 1000000, (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write() per line: lines from supervisor and worker don't mix. */
	if (write(log_fd, line, n) < 0)
		return;
}

/* Set-up failures: to stderr, and to the log file too if there is one. */
static void errmsg(const char *fmt, ...) __printf(1, 2);

static void errmsg(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "erofs_ondemand_daemon: %s\n", line);
	if (log_fd != STDERR_FILENO)
		logmsg("%s", line);
}

/* Print a key with bytes outside 0x21..0x7e (and '\') as \xNN; "" as "\". */
static void escape_key(char *out, size_t outsz, const unsigned char *key,
		       size_t len)
{
	size_t i, o = 0;

	if (!len) {
		snprintf(out, outsz, "\\");
		return;
	}
	for (i = 0; i < len && o + 5 < outsz; i++) {
		unsigned char c = key[i];

		if (c < 0x21 || c > 0x7e || c == '\\')
			o += snprintf(out + o, outsz - o, "\\x%02x", c);
		else
			out[o++] = c;
	}
	out[o] = '\0';
}

/* Room for a fully escaped key: 4 output bytes per input byte. */
#define ESC_MAX	(KEY_MAX * 4 + 1)

/* ------------------------------------------------------------------ */
/* Stats table */

static uint32_t hash_bytes(uint32_t h, const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;		/* FNV-1a */
	}
	return h;
}

static uint32_t stat_hash(const unsigned char *vol, size_t vol_len,
			  const unsigned char *key, size_t key_len)
{
	uint32_t h = hash_bytes(2166136261u, vol, vol_len);

	h = hash_bytes(h, (const unsigned char *)"/", 1);	/* separator */
	return hash_bytes(h, key, key_len);
}

static int cmp_bytes(const unsigned char *a, size_t alen,
		     const unsigned char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static int cmp_stat(const struct blob_stat *a, const struct blob_stat *b)
{
	int r = cmp_bytes(a->vol, a->vol_len, b->vol, b->vol_len);

	return r ? r : cmp_bytes(a->key, a->key_len, b->key, b->key_len);
}

static int cmp_order(const void *pa, const void *pb)
{
	return cmp_stat(&shm->blobs[*(const uint32_t *)pa],
			&shm->blobs[*(const uint32_t *)pb]);
}

static void stats_alloc(void)
{
	size_t sz = sizeof(*shm) + (size_t)opt.max_blobs * sizeof(shm->blobs[0]);

	shm = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	if (shm == MAP_FAILED) {
		fprintf(stderr, "cannot map a stats table for %u blobs: %s\n",
			opt.max_blobs, strerror(errno));
		exit(EXIT_SETUP);
	}
	shm->capacity = opt.max_blobs;
}

static void stat_slot_insert(uint32_t idx)
{
	const struct blob_stat *b = &shm->blobs[idx];
	uint32_t s = stat_hash(b->vol, b->vol_len, b->key, b->key_len);

	while (stat_slots[s & stat_slot_mask] >= 0)
		s++;
	stat_slots[s & stat_slot_mask] = idx;
}

/*
 * (Re)build this process's index over whatever is in the shared table.
 * Called at start-up of every worker, so a worker inherits the counts of
 * the one that died.
 */
static void stats_index_build(void)
{
	uint32_t nslots = 1, i;

	while (nslots < 2 * shm->capacity)
		nslots <<= 1;
	free(stat_slots);
	free(stat_order);
	stat_slots = malloc(nslots * sizeof(*stat_slots));
	stat_order = malloc(shm->capacity * sizeof(*stat_order));
	if (!stat_slots || !stat_order) {
		logmsg("out of memory for the stats index");
		exit(EXIT_SETUP);
	}
	memset(stat_slots, 0xff, nslots * sizeof(*stat_slots));
	stat_slot_mask = nslots - 1;
	stat_indexed = shm->nr_blobs;
	for (i = 0; i < stat_indexed; i++) {
		stat_slot_insert(i);
		stat_order[i] = i;
	}
	qsort(stat_order, stat_indexed, sizeof(*stat_order), cmp_order);
}

/* Find or create the counters of (vol, key); -1 when the table is full. */
static int32_t stat_get(const char *vol, size_t vol_len,
			const unsigned char *key, size_t key_len)
{
	uint32_t s = stat_hash((const unsigned char *)vol, vol_len, key, key_len);
	struct blob_stat *b;
	uint32_t idx, lo, hi;
	int32_t i;

	for (;; s++) {
		i = stat_slots[s & stat_slot_mask];
		if (i < 0)
			break;
		b = &shm->blobs[i];
		if (b->vol_len == vol_len && b->key_len == key_len &&
		    !memcmp(b->vol, vol, vol_len) && !memcmp(b->key, key, key_len))
			return i;
	}

	if (shm->nr_blobs >= shm->capacity) {
		if (!shm->overflowed) {
			shm->overflowed = 1;
			logmsg("stats table full (--max-blobs %u): new blobs only in totals and errors",
			       shm->capacity);
		}
		return -1;
	}

	idx = shm->nr_blobs;
	b = &shm->blobs[idx];
	memset(b, 0, sizeof(*b));
	b->vol_len = vol_len;
	b->key_len = key_len;
	memcpy(b->vol, vol, vol_len);
	memcpy(b->key, key, key_len);
	shm->nr_blobs = idx + 1;	/* publish only a complete entry */

	stat_slot_insert(idx);
	lo = 0;
	hi = stat_indexed;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (cmp_stat(&shm->blobs[stat_order[mid]], b) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&stat_order[lo + 1], &stat_order[lo],
		(stat_indexed - lo) * sizeof(*stat_order));
	stat_order[lo] = idx;
	stat_indexed++;
	return idx;
}

struct strbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct strbuf *sb, const char *fmt, ...)
	__printf(2, 3);

static void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (sb->len + n < sb->cap) {
			sb->len += n;
			return;
		}
		sb->cap = sb->cap ? 2 * sb->cap : 65536;
		sb->p = realloc(sb->p, sb->cap);
		if (!sb->p) {
			logmsg("out of memory writing stats");
			exit(EXIT_SETUP);
		}
	}
}

/* Write STATSFILE.tmp and rename it over STATSFILE. */
static void stats_write(void)
{
	static struct strbuf sb;
	char tmp[PATH_MAX], vol[ESC_MAX], key[ESC_MAX];
	size_t off;
	uint32_t i;
	int fd;

	stats_dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &stats_last);
	if (!opt.statsfile)
		return;

	sb.len = 0;
	sb_printf(&sb, "total opens=%llu reads=%llu closes=%llu bytes=%llu errors=%llu\n",
		  (unsigned long long)shm->opens, (unsigned long long)shm->reads,
		  (unsigned long long)shm->closes, (unsigned long long)shm->bytes,
		  (unsigned long long)shm->errors);
	if (shm->gc.passes)
		sb_printf(&sb, "gc passes=%llu culled=%llu bytes=%llu busy=%llu\n",
			  (unsigned long long)shm->gc.passes,
			  (unsigned long long)shm->gc.culled,
			  (unsigned long long)shm->gc.bytes,
			  (unsigned long long)shm->gc.busy);
	for (i = 0; i < stat_indexed; i++) {
		const struct blob_stat *b = &shm->blobs[stat_order[i]];

		escape_key(vol, sizeof(vol), b->vol, b->vol_len);
		escape_key(key, sizeof(key), b->key, b->key_len);
		sb_printf(&sb, "blob %s %s opens=%llu reads=%llu closes=%llu bytes=%llu\n",
			  vol, key, (unsigned long long)b->opens,
			  (unsigned long long)b->reads,
			  (unsigned long long)b->closes,
			  (unsigned long long)b->bytes);
	}

	snprintf(tmp, sizeof(tmp), "%s.tmp", opt.statsfile);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		logmsg("stats: cannot create %s: %s", tmp, strerror(errno));
		return;
	}
	for (off = 0; off < sb.len; ) {
		ssize_t n = write(fd, sb.p + off, sb.len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg("stats: write %s: %s", tmp, strerror(errno));
			close(fd);
			return;
		}
		off += n;
	}
	close(fd);
	if (rename(tmp, opt.statsfile))
		logmsg("stats: rename %s -> %s: %s", tmp, opt.statsfile,
		       strerror(errno));
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

/*
 * Called after the counters of a message were updated and before it is
 * answered, so that a test woken by the answer (mount returning, read
 * completing) already finds the message in the stats file.
 */
static void stats_update(void)
{
	stats_dirty = true;
	if (!opt.stats_interval_ms ||
	    ms_since(&stats_last) >= (long)opt.stats_interval_ms)
		stats_write();
}

static void count_error(void)
{
	shm->errors++;
}

/* ------------------------------------------------------------------ */
/* Object table */

static struct object **obj_slot(uint32_t id)
{
	struct object **pp = &obj_buckets[(id * 2654435761u) & (obj_nbuckets - 1)];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

static void obj_table_grow(void)
{
	struct object **old = obj_buckets;
	uint32_t i, n = obj_nbuckets;

	obj_nbuckets = n ? 2 * n : 1024;
	obj_buckets = calloc(obj_nbuckets, sizeof(*obj_buckets));
	if (!obj_buckets) {
		logmsg("out of memory for the object table");
		exit(EXIT_SETUP);
	}
	for (i = 0; i < n; i++) {
		struct object *o = old[i], *next;

		for (; o; o = next) {
			next = o->next;
			o->next = *obj_slot(o->id);
			*obj_slot(o->id) = o;
		}
	}
	free(old);
}

static struct object *obj_find(uint32_t id)
{
	return *obj_slot(id);
}

static void obj_free(struct object *o)
{
	if (o->anon_fd >= 0)
		close(o->anon_fd);
	if (o->blob_fd >= 0)
		close(o->blob_fd);
	free(o);
}

static void obj_insert(struct object *o)
{
	struct object **pp;

	if (nr_objects >= obj_nbuckets)
		obj_table_grow();
	pp = obj_slot(o->id);
	if (*pp) {
		/* The kernel only reuses an id after our anon fd is closed. */
		struct object *stale = *pp;

		logmsg("object %u opened again without CLOSE; dropping the old one",
		       o->id);
		*pp = stale->next;
		obj_free(stale);
		nr_objects--;
		pp = obj_slot(o->id);
	}
	o->next = *pp;
	*pp = o;
	nr_objects++;
}

static struct object *obj_remove(uint32_t id)
{
	struct object **pp = obj_slot(id), *o = *pp;

	if (o) {
		*pp = o->next;
		nr_objects--;
	}
	return o;
}

static void obj_close_all(void)
{
	uint32_t i;

	for (i = 0; i < obj_nbuckets; i++) {
		while (obj_buckets[i]) {
			struct object *o = obj_buckets[i];

			obj_buckets[i] = o->next;
			obj_free(o);
		}
	}
	nr_objects = 0;
	while (held_objects) {
		struct object *o = held_objects;

		held_objects = o->next;
		obj_free(o);
	}
	nr_held = 0;
}

#include "daemon_gc.h"

/* ------------------------------------------------------------------ */
/* Message handling */

static void delay_reply(void)
{
	struct timespec ts;

	if (!opt.delay_ms)
		return;
	ts.tv_sec = opt.delay_ms / 1000;
	ts.tv_nsec = (opt.delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int dev_command(const char *cmd)
{
	ssize_t n = write(dev_fd, cmd, strlen(cmd));

	if (n < 0)
		return -errno;
	return 0;
}

static int send_copen(uint32_t msg_id, long long size)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "copen %u,%lld", msg_id, size);
	return dev_command(cmd);
}

/* A cookie key must name exactly one file in a directory. */
static bool key_is_safe(const unsigned char *key, size_t len)
{
	if (!len || memchr(key, '/', len) || memchr(key, '\0', len))
		return false;
	if ((len == 1 && key[0] == '.') ||
	    (len == 2 && key[0] == '.' && key[1] == '.'))
		return false;
	return true;
}

static int refused_errno(const unsigned char *key, size_t len)
{
	int i;

	for (i = 0; i < opt.nr_refuse; i++)
		if (opt.refuse[i].key_len == len &&
		    !memcmp(opt.refuse[i].key, key, len))
			return opt.refuse[i].err;
	return 0;
}

/*
 * Open BLOBDIR/<vol>/<key> if the directory BLOBDIR/<vol> exists, else
 * BLOBDIR/<key>.  Returns an fd or -errno.
 */
static int open_blob(const char *vol, size_t vol_len, const char *key,
		     uint64_t *size)
{
	struct stat st;
	int dfd = -1, fd;

	if (key_is_safe((const unsigned char *)vol, vol_len)) {
		dfd = openat(blobdir_fd, vol, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 && errno != ENOENT && errno != ENOTDIR)
			logmsg("blob dir %s/%s: %s", opt.blobdir, vol,
			       strerror(errno));
	}
	/* O_NONBLOCK: a FIFO in the blob dir must not hang the daemon. */
	fd = openat(dfd >= 0 ? dfd : blobdir_fd, key,
		    O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	if (dfd >= 0)
		close(dfd);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	*size = st.st_size;
	return fd;
}

static void handle_open(const struct cachefiles_msg *msg, size_t n)
{
	const struct cachefiles_open *load = (const void *)msg->data;
	char vol[KEY_MAX + 1], ekey[ESC_MAX], evol[ESC_MAX];
	unsigned char key[KEY_MAX + 1];
	size_t vks, cks, vol_len;
	struct object *o;
	long long reply;
	uint64_t size = 0;
	int32_t st = -1;
	int blob_fd = -1, anon_fd, err, ret;

	if (n < sizeof(*msg) + sizeof(*load)) {
		logmsg("OPEN msg=%u obj=%u: short message (%zu bytes), cannot answer",
		       msg->msg_id, msg->object_id, n);
		count_error();
		stats_update();
		return;
	}
	anon_fd = load->fd;
	vks = load->volume_key_size;
	cks = load->cookie_key_size;
	if (vks < 1 || vks > KEY_MAX || cks > KEY_MAX - 1 ||
	    n < sizeof(*msg) + sizeof(*load) + vks + cks ||
	    load->data[vks - 1] != '\0' ||
	    strnlen((const char *)load->data, vks) != vks - 1) {
		logmsg("OPEN msg=%u obj=%u fd=%d: malformed keys (volume %zu, cookie %zu bytes) -> -EINVAL",
		       msg->msg_id, msg->object_id, anon_fd, vks, cks);
		count_error();
		stats_update();
		delay_reply();
		send_copen(msg->msg_id, -EINVAL);
		close(anon_fd);
		return;
	}
	vol_len = vks - 1;
	memcpy(vol, load->data, vks);
	memcpy(key, load->data + vks, cks);
	key[cks] = '\0';
	escape_key(evol, sizeof(evol), (unsigned char *)vol, vol_len);
	escape_key(ekey, sizeof(ekey), key, cks);

	shm->opens++;
	st = stat_get(vol, vol_len, key, cks);
	if (st >= 0)
		shm->blobs[st].opens++;
	else
		count_error();

	err = refused_errno(key, cks);
	if (err) {
		reply = -err;
		logmsg("OPEN msg=%u obj=%u vol=%s key=%s fd=%d -> %lld (refused by --refuse)",
		       msg->msg_id, msg->object_id, evol, ekey, anon_fd, reply);
	} else if (!key_is_safe(key, cks)) {
		reply = -ENOENT;
		logmsg("OPEN msg=%u obj=%u vol=%s key=%s fd=%d -> %lld (hostile cookie key)",
		       msg->msg_id, msg->object_id, evol, ekey, anon_fd, reply);
	} else {
		blob_fd = open_blob(vol, vol_len, (const char *)key, &size);
		if (blob_fd < 0) {
			reply = blob_fd;
			logmsg("OPEN msg=%u obj=%u vol=%s key=%s fd=%d -> %lld (no blob: %s)",
			       msg->msg_id, msg->object_id, evol, ekey, anon_fd,
			       reply, strerror(-blob_fd));
		} else {
			reply = size;
			logmsg("OPEN msg=%u obj=%u vol=%s key=%s fd=%d -> size %llu",
			       msg->msg_id, msg->object_id, evol, ekey, anon_fd,
			       (unsigned long long)size);
		}
	}

	if (reply < 0) {
		count_error();
		stats_update();
		delay_reply();
		ret = send_copen(msg->msg_id, reply);
		if (ret)
			logmsg("copen %u,%lld failed: %s", msg->msg_id, reply,
			       strerror(-ret));
		/* A failed OPEN never gets a CLOSE: drop its anon fd now. */
		close(anon_fd);
		return;
	}

	o = calloc(1, sizeof(*o));
	if (!o) {
		logmsg("OPEN msg=%u obj=%u: out of memory -> -ENOMEM",
		       msg->msg_id, msg->object_id);
		count_error();
		stats_update();
		send_copen(msg->msg_id, -ENOMEM);
		close(anon_fd);
		close(blob_fd);
		return;
	}
	o->id = msg->object_id;
	o->anon_fd = anon_fd;
	o->blob_fd = blob_fd;
	o->size = size;
	o->stat = st;
	o->vol_len = vol_len;
	o->key_len = cks;
	memcpy(o->vol, vol, vks);
	memcpy(o->key, key, cks);
	obj_insert(o);

	stats_update();
	delay_reply();
	ret = send_copen(msg->msg_id, reply);
	if (ret) {
		/* E.g. the mount was interrupted and the request is gone. */
		logmsg("copen %u,%lld failed: %s; forgetting object %u",
		       msg->msg_id, reply, strerror(-ret), o->id);
		count_error();
		stats_update();
		obj_free(obj_remove(o->id));
	}
}

/*
 * Copy [off, off + len) of the blob into the cache through the anon fd.
 * The anon fd writes with O_DIRECT into the backing file, so we write
 * whole 4 KiB blocks at 4 KiB aligned offsets from an aligned buffer,
 * zero-padded past the end of the blob.  Returns 0 or -errno; *served is
 * the number of blob bytes written.
 */
static int serve_range(struct object *o, uint64_t off, uint64_t len,
		       uint64_t *served)
{
	uint64_t start = off & ~(BLOCK_SIZE - 1), end = off + len, pos;

	*served = 0;
	if (end < off || end > UINT64_MAX - BLOCK_SIZE)
		return -EOVERFLOW;
	end = (end + BLOCK_SIZE - 1) & ~(BLOCK_SIZE - 1);

	for (pos = start; pos < end; ) {
		size_t chunk = end - pos < CHUNK_SIZE ? end - pos : CHUNK_SIZE;
		size_t got = 0, done = 0;
		ssize_t r;

		/* Short reads happen at EOF and if the blob shrank. */
		while (got < chunk) {
			r = pread(o->blob_fd, (char *)io_buf + got, chunk - got,
				  pos + got);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				logmsg("READ obj=%u: reading blob at %llu: %s",
				       o->id, (unsigned long long)(pos + got),
				       strerror(errno));
				return r;
			}
			if (!r)
				break;
			got += r;
		}
		memset((char *)io_buf + got, 0, chunk - got);

		while (done < chunk) {
			r = pwrite(o->anon_fd, (char *)io_buf + done,
				   chunk - done, pos + done);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				logmsg("READ obj=%u: writing cache at %llu: %s",
				       o->id, (unsigned long long)(pos + done),
				       strerror(errno));
				return r;
			}
			if (!r || (r & (BLOCK_SIZE - 1))) {
				logmsg("READ obj=%u: short cache write (%zd of %zu) at %llu",
				       o->id, r, chunk - done,
				       (unsigned long long)(pos + done));
				return -EIO;
			}
			done += r;
		}
		*served += got;
		pos += chunk;
	}
	return 0;
}

/* The ioctl takes the msg_id as its unsigned long argument. */
static int read_complete(const struct object *o, uint32_t msg_id)
{
	return ioctl(o->anon_fd, CACHEFILES_IOC_READ_COMPLETE,
		     (unsigned long)msg_id);
}

static void handle_read(const struct cachefiles_msg *msg, size_t n)
{
	const struct cachefiles_read *load = (const void *)msg->data;
	char ekey[ESC_MAX], evol[ESC_MAX];
	uint64_t served = 0;
	struct object *o;
	int ret;

	uint64_t len;

	reads_seen++;
	if (opt.exit_after_reads && reads_seen >= opt.exit_after_reads) {
		logmsg("READ msg=%u obj=%u: --exit-after-reads %lu reached, crashing",
		       msg->msg_id, msg->object_id, opt.exit_after_reads);
		_exit(EXIT_CRASH);
	}

	shm->reads++;
	if (n < sizeof(*msg) + sizeof(*load)) {
		logmsg("READ msg=%u obj=%u: short message (%zu bytes)",
		       msg->msg_id, msg->object_id, n);
		count_error();
		o = obj_find(msg->object_id);
		stats_update();
		if (o && read_complete(o, msg->msg_id))
			logmsg("READ_COMPLETE msg=%u obj=%u: %s", msg->msg_id,
			       o->id, strerror(errno));
		return;
	}

	o = obj_find(msg->object_id);
	if (!o) {
		/* Without the object's anon fd there is no way to complete it. */
		logmsg("READ msg=%u obj=%u off=%llu len=%llu: unknown object, cannot complete",
		       msg->msg_id, msg->object_id,
		       (unsigned long long)load->off,
		       (unsigned long long)load->len);
		count_error();
		stats_update();
		return;
	}

	escape_key(evol, sizeof(evol), (unsigned char *)o->vol, o->vol_len);
	escape_key(ekey, sizeof(ekey), o->key, o->key_len);
	/*
	 * Fault switches.  --refuse-reads: complete every N-th READ without
	 * writing anything; cachefiles then finds the range still a hole and
	 * fails that read (EIO for the reader).  --split-reads: write only
	 * the first N bytes; cachefiles reads that piece from the cache and
	 * sends a new READ for the rest, so one kernel read turns into
	 * several pieces (fscache_read() slices).
	 */
	if (opt.refuse_reads && reads_seen % opt.refuse_reads == 0) {
		logmsg("READ msg=%u obj=%u vol=%s key=%s off=%llu len=%llu -> refused (--refuse-reads %lu)",
		       msg->msg_id, msg->object_id, evol, ekey,
		       (unsigned long long)load->off,
		       (unsigned long long)load->len, opt.refuse_reads);
		if (o->stat >= 0)
			shm->blobs[o->stat].reads++;
		count_error();
		stats_update();
		delay_reply();
		if (read_complete(o, msg->msg_id))
			logmsg("READ_COMPLETE msg=%u obj=%u: %s", msg->msg_id,
			       o->id, strerror(errno));
		return;
	}
	len = load->len;
	if (opt.split_reads && len > opt.split_reads)
		len = opt.split_reads;

	ret = serve_range(o, load->off, len, &served);
	logmsg("READ msg=%u obj=%u vol=%s key=%s off=%llu len=%llu -> %s%s, %llu blob bytes",
	       msg->msg_id, msg->object_id, evol, ekey,
	       (unsigned long long)load->off, (unsigned long long)load->len,
	       ret ? "failed: " : "ok", ret ? strerror(-ret) : "",
	       (unsigned long long)served);

	shm->bytes += served;
	if (o->stat >= 0) {
		shm->blobs[o->stat].reads++;
		shm->blobs[o->stat].bytes += served;
	}
	if (ret)
		count_error();
	stats_update();
	delay_reply();
	/* Complete even on failure: the reader then gets -EIO, not a hang. */
	if (read_complete(o, msg->msg_id)) {
		logmsg("READ_COMPLETE msg=%u obj=%u: %s", msg->msg_id, o->id,
		       strerror(errno));
		count_error();
		stats_update();
	}
}

static bool close_is_held(const struct object *o)
{
	int i;

	if (holds_released)
		return false;
	if (opt.hold_all)
		return true;
	for (i = 0; i < opt.nr_hold; i++)
		if (opt.hold[i].key_len == o->key_len &&
		    !memcmp(opt.hold[i].key, o->key, o->key_len))
			return true;
	return false;
}

/* SIGUSR1: close every held object, and hold no CLOSE from now on. */
static void release_held(void)
{
	unsigned int n = nr_held;

	release_requested = 0;
	holds_released = true;
	while (held_objects) {
		struct object *o = held_objects;

		held_objects = o->next;
		obj_free(o);
	}
	nr_held = 0;
	logmsg("SIGUSR1: released %u held objects; closes are no longer held", n);
}

static void handle_close(const struct cachefiles_msg *msg)
{
	char ekey[ESC_MAX], evol[ESC_MAX];
	struct object *o = obj_remove(msg->object_id);

	shm->closes++;
	if (!o) {
		logmsg("CLOSE msg=%u obj=%u: unknown object", msg->msg_id,
		       msg->object_id);
		count_error();
		stats_update();
		return;
	}
	escape_key(evol, sizeof(evol), (unsigned char *)o->vol, o->vol_len);
	escape_key(ekey, sizeof(ekey), o->key, o->key_len);
	if (o->stat >= 0)
		shm->blobs[o->stat].closes++;
	if (close_is_held(o)) {
		/*
		 * Keep the anon fd: the kernel's object, its cookie and its
		 * volume stay alive until release_held().
		 */
		o->next = held_objects;
		held_objects = o;
		nr_held++;
		logmsg("CLOSE msg=%u obj=%u vol=%s key=%s -> held (--hold-close; SIGUSR1 releases)",
		       msg->msg_id, o->id, evol, ekey);
		stats_update();
		return;
	}
	logmsg("CLOSE msg=%u obj=%u vol=%s key=%s -> closed", msg->msg_id,
	       o->id, evol, ekey);
	obj_free(o);
	stats_update();
}

static void handle_message(const struct cachefiles_msg *msg, size_t n)
{
	if (msg->len != n)
		logmsg("msg=%u: header says %u bytes, read %zu", msg->msg_id,
		       msg->len, n);

	gc_note_msg(msg);	/* READ, CLOSE: the object is still known */
	switch (msg->opcode) {
	case CACHEFILES_OP_OPEN:
		handle_open(msg, n);
		break;
	case CACHEFILES_OP_READ:
		handle_read(msg, n);
		break;
	case CACHEFILES_OP_CLOSE:
		handle_close(msg);
		break;
	default:
		logmsg("msg=%u obj=%u: unknown opcode %u", msg->msg_id,
		       msg->object_id, msg->opcode);
		count_error();
		stats_update();
		break;
	}
	gc_note_msg(msg);	/* OPEN: now it is */
}

/* ------------------------------------------------------------------ */
/* Serving loop */

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_release_signal(int sig)
{
	(void)sig;
	release_requested = 1;
}

/*
 * SIGTERM/SIGINT stay blocked while a message is handled and are only let
 * in while waiting in ppoll(), so a stop never cuts a reply in half.
 */
static void setup_stop_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_release_signal;
	sigaction(SIGUSR1, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGCHLD);
	sigdelset(waitmask, SIGUSR1);
}

static int serve(void)
{
	union {
		struct cachefiles_msg msg;
		unsigned char buf[CACHEFILES_MSG_MAX_SIZE];
	} u;
	struct pollfd pfd = { .fd = dev_fd, .events = POLLIN };
	unsigned int repeated_errors = 0;
	sigset_t waitmask;

	setup_stop_signals(&waitmask);
	gc_setup_signals(&waitmask);
	if (posix_memalign(&io_buf, BLOCK_SIZE, CHUNK_SIZE)) {
		logmsg("cannot allocate the I/O buffer");
		return EXIT_SETUP;
	}
	stats_index_build();
	stats_write();

	while (!stop_requested) {
		struct timespec ts, *tmo = NULL;
		ssize_t n;
		int r;

		if (release_requested)
			release_held();
		if (stats_dirty) {
			long left = opt.stats_interval_ms - ms_since(&stats_last);

			if (left <= 0) {
				stats_write();
			} else {
				ts.tv_sec = left / 1000;
				ts.tv_nsec = (left % 1000) * 1000000L;
				tmo = &ts;
			}
		}
		gc_tick();
		gc_poll_timeout(&ts, &tmo);
		r = ppoll(&pfd, 1, tmo, &waitmask);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			logmsg("poll /dev/cachefiles: %s", strerror(errno));
			return EXIT_SETUP;
		}
		if (!r)
			continue;
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
			logmsg("/dev/cachefiles reported poll events 0x%x; stopping",
			       pfd.revents);
			return EXIT_SETUP;
		}
		if (!(pfd.revents & POLLIN))
			continue;

		/* Each read() returns exactly one message, 0 if none is pending. */
		n = read(dev_fd, u.buf, sizeof(u.buf));
		if (n < 0) {
			int err = errno;

			if (err == EINTR || err == EAGAIN)
				continue;
			/*
			 * The kernel fails the request itself (e.g. EMFILE when
			 * it cannot install the anon fd); keep serving the rest.
			 */
			logmsg("read /dev/cachefiles: %s%s", strerror(err),
			       err == EMFILE ? " (raise the open file limit)" : "");
			count_error();
			stats_update();
			if (++repeated_errors > 100)
				usleep(10000);
			continue;
		}
		repeated_errors = 0;
		if (!n) {
			if (stats_dirty)
				stats_write();
			continue;
		}
		if ((size_t)n < sizeof(u.msg)) {
			logmsg("short message from /dev/cachefiles (%zd bytes)", n);
			count_error();
			stats_update();
			continue;
		}
		handle_message(&u.msg, n);
	}

	logmsg("stopping: closing %u objects (and %u held)", nr_objects, nr_held);
	gc_stop();
	obj_close_all();
	stats_write();
	return 0;
}

/* ------------------------------------------------------------------ */
/* Set-up */

static void raise_nofile_limit(void)
{
	struct rlimit rl;
	long nr_open = 1 << 20;
	FILE *f;

	/* Two fds per open blob; benchmarks open tens of thousands. */
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%ld", &nr_open) != 1)
			nr_open = 1 << 20;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)nr_open) {
		struct rlimit want = { nr_open, nr_open };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static const char *bind_hint(int err)
{
	switch (err) {
	case EOPNOTSUPP:
		/* cache.c: cachefiles_add_cache() checks these */
		return "its filesystem lacks tmpfile, user xattrs or sync_fs, or has blocks > 4 KiB (tmpfs fails so); use ext4";
	case EINVAL:
		return "the kernel may lack CONFIG_CACHEFILES_ONDEMAND";
	case ENOENT:
	case ENOTDIR:
		return "the cache directory does not exist";
	case EROFS:
		return "the cache directory is on a read-only filesystem";
	case EBUSY:
		return "a cache with this tag is already bound";
	case ERANGE:
		return "cull limits are inconsistent";
	default:
		return "see dmesg for the kernel's reason";
	}
}

static int dev_setup(void)
{
	char cmd[PATH_MAX + 16];
	struct stat st;
	int ret;

	if (stat(opt.cachedir, &st)) {
		errmsg("cache directory %s: %s", opt.cachedir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errmsg("cache directory %s: not a directory", opt.cachedir);
		return -1;
	}

	dev_fd = open(CACHEFILES_DEVNODE, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0) {
		int err = errno;

		if (err == EBUSY)
			errmsg("%s is busy: another daemon is bound",
			       CACHEFILES_DEVNODE);
		else if (err == ENOENT || err == ENXIO || err == ENODEV)
			errmsg("cannot open %s: %s (is CONFIG_CACHEFILES built in or the module loaded?)",
			       CACHEFILES_DEVNODE, strerror(err));
		else if (err == EPERM || err == EACCES)
			errmsg("cannot open %s: %s (needs CAP_SYS_ADMIN)",
			       CACHEFILES_DEVNODE, strerror(err));
		else
			errmsg("cannot open %s: %s",
			       CACHEFILES_DEVNODE, strerror(err));
		return -1;
	}

	snprintf(cmd, sizeof(cmd), "dir %s", opt.cachedir);
	ret = dev_command(cmd);
	if (ret) {
		errmsg("'%s' refused: %s", cmd, strerror(-ret));
		return -1;
	}
	if (opt.tag) {
		snprintf(cmd, sizeof(cmd), "tag %s", opt.tag);
		ret = dev_command(cmd);
		if (ret) {
			errmsg("'%s' refused: %s", cmd, strerror(-ret));
			return -1;
		}
	}
	ret = dev_command("bind ondemand");
	if (ret) {
		errmsg("'bind ondemand' on %s refused: %s (errno %d): %s",
		       opt.cachedir, strerror(-ret), -ret, bind_hint(-ret));
		return -1;
	}
	logmsg("bound %s on %s%s%s", CACHEFILES_DEVNODE, opt.cachedir,
	       opt.tag ? " tag " : "", opt.tag ? opt.tag : "");
	return 0;
}

static void signal_ready(void)
{
	if (opt.ready_fd < 0)
		return;
	if (write(opt.ready_fd, "ready\n", 6) != 6)
		logmsg("writing ready to fd %d: %s", opt.ready_fd,
		       strerror(errno));
	close(opt.ready_fd);
	opt.ready_fd = -1;
}

/* ------------------------------------------------------------------ */
/* Supervisor */

static pid_t spawn_worker(bool first)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0) {
		logmsg("fork: %s", strerror(errno));
		return -1;
	}
	if (pid)
		return pid;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);	/* the supervisor died before PDEATHSIG was set */
	if (!first)
		opt.exit_after_reads = 0;	/* only the first worker crashes */
	logmsg("worker started%s", first ? "" : " (respawned)");
	_exit(serve());
}

static bool wait_worker(pid_t pid, int *status, int timeout_ms)
{
	int waited;

	for (waited = 0; waited <= timeout_ms; waited += 10) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		usleep(10000);
	}
	return false;
}

static void describe_status(char *buf, size_t sz, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, sz, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sz, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, sz, "status 0x%x", status);
}

static int supervise(void)
{
	struct timespec started;
	int fast_deaths = 0, status, ret;
	sigset_t set;
	pid_t worker;
	char how[64];

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);

	clock_gettime(CLOCK_MONOTONIC, &started);
	worker = spawn_worker(true);
	if (worker < 0)
		return EXIT_SETUP;

	for (;;) {
		siginfo_t si;
		pid_t r;

		if (sigwaitinfo(&set, &si) < 0)
			continue;
		if (si.si_signo == SIGUSR1 || si.si_signo == SIGUSR2) {
			/* --hold-close and the GC live in the worker: pass it on. */
			kill(worker, si.si_signo);
			continue;
		}
		if (si.si_signo != SIGCHLD) {
			logmsg("supervisor: signal %d, stopping worker %d",
			       si.si_signo, (int)worker);
			kill(worker, SIGTERM);
			if (!wait_worker(worker, &status, 10000)) {
				logmsg("supervisor: worker %d ignores SIGTERM, killing it",
				       (int)worker);
				kill(worker, SIGKILL);
				waitpid(worker, &status, 0);
			}
			break;
		}

		r = waitpid(worker, &status, WNOHANG);
		if (r != worker)
			continue;
		describe_status(how, sizeof(how), status);
		if (WIFEXITED(status) && !WEXITSTATUS(status)) {
			logmsg("supervisor: worker %d %s on its own; stopping",
			       (int)worker, how);
			break;
		}
		logmsg("supervisor: worker %d %s", (int)worker, how);

		fast_deaths = ms_since(&started) < FAST_DEATH_SEC * 1000 ?
			      fast_deaths + 1 : 0;
		if (fast_deaths >= MAX_FAST_DEATHS) {
			logmsg("supervisor: %d workers died within %d s of starting; giving up",
			       fast_deaths, FAST_DEATH_SEC);
			stats_index_build();
			stats_write();
			return EXIT_SETUP;
		}
		if (fast_deaths)
			usleep(100000);

		if (opt.no_restore) {
			logmsg("supervisor: --no-restore: not writing restore");
		} else {
			ret = dev_command("restore");
			if (ret)
				logmsg("supervisor: restore failed: %s",
				       strerror(-ret));
			else
				logmsg("supervisor: wrote restore");
		}
		clock_gettime(CLOCK_MONOTONIC, &started);
		worker = spawn_worker(false);
		if (worker < 0) {
			stats_index_build();
			stats_write();
			return EXIT_SETUP;
		}
	}

	/* The worker is gone: write the final stats from the shared table. */
	stats_index_build();
	stats_write();
	logmsg("supervisor: exiting");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Command line */

static const struct {
	const char *name;
	int err;
} errno_names[] = {
	{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EIO", EIO },
	{ "ENXIO", ENXIO }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES },
	{ "EBUSY", EBUSY }, { "EEXIST", EEXIST }, { "ENODEV", ENODEV },
	{ "EINVAL", EINVAL }, { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
	{ "EAGAIN", EAGAIN }, { "EINTR", EINTR }, { "ENOBUFS", ENOBUFS },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "ETIMEDOUT", ETIMEDOUT },
	{ "ESTALE", ESTALE }, { "ENODATA", ENODATA },
};

static int parse_errno(const char *s)
{
	unsigned long v;
	char *end;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errno_names); i++)
		if (!strcmp(s, errno_names[i].name))
			return errno_names[i].err;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 4095)
		return -1;
	return v;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo escape_key(): \xNN becomes one byte; returns the length or -1. */
static int unescape_key(const char *s, size_t slen, unsigned char *out,
			size_t outsz)
{
	size_t i, o = 0;

	if (slen == 1 && s[0] == '\\')
		return 0;
	for (i = 0; i < slen; i++) {
		if (o >= outsz)
			return -1;
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		if (i + 4 > slen || s[i + 1] != 'x' ||
		    hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0)
			return -1;
		out[o++] = hexval(s[i + 2]) << 4 | hexval(s[i + 3]);
		i += 3;
	}
	return o;
}

static int add_refuse(const char *arg)
{
	struct refuse_rule *r;
	const char *colon = strrchr(arg, ':');
	size_t klen = strlen(arg);
	int err = EPERM, len;

	if (opt.nr_refuse >= MAX_REFUSE) {
		fprintf(stderr, "at most %d --refuse rules\n", MAX_REFUSE);
		return -1;
	}
	/* KEY:ERRNO; a ':' not followed by an errno is part of the key. */
	if (colon) {
		int e = parse_errno(colon + 1);

		if (e > 0) {
			err = e;
			klen = colon - arg;
		}
	}
	r = &opt.refuse[opt.nr_refuse];
	len = unescape_key(arg, klen, r->key, sizeof(r->key) - 1);
	if (len < 0) {
		fprintf(stderr, "--refuse %s: bad key (use \\xNN for odd bytes)\n",
			arg);
		return -1;
	}
	r->key_len = len;
	r->err = err;
	opt.nr_refuse++;
	return 0;
}

static int add_hold(const char *arg)
{
	struct hold_rule *h;
	int len;

	if (opt.nr_hold >= MAX_HOLD) {
		fprintf(stderr, "at most %d --hold-close keys\n", MAX_HOLD);
		return -1;
	}
	h = &opt.hold[opt.nr_hold];
	len = unescape_key(arg, strlen(arg), h->key, sizeof(h->key) - 1);
	if (len < 0) {
		fprintf(stderr, "--hold-close %s: bad key (use \\xNN for odd bytes)\n",
			arg);
		return -1;
	}
	h->key_len = len;
	opt.nr_hold++;
	return 0;
}

static int parse_uint(const char *name, const char *s, unsigned long max,
		      unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max) {
		fprintf(stderr, "%s: bad number '%s'\n", name, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: erofs_ondemand_daemon -c CACHEDIR -b BLOBDIR [options]\n"
		"  -c, --cachedir DIR        cachefiles cache directory (not tmpfs)\n"
		"  -b, --blobdir DIR         blobs: DIR/<volume key>/<cookie key> or DIR/<cookie key>\n"
		"  -s, --stats FILE          counters, rewritten atomically after each message\n"
		"  -l, --log FILE            log file (default stderr), one line per message\n"
		"  -t, --tag TAG             cache tag\n"
		"      --ready-fd N          write \"ready\\n\" to fd N once bound\n"
		"      --refuse KEY[:ERRNO]  answer OPEN of cookie KEY with -ERRNO (default EPERM)\n"
		"      --delay-ms N          sleep N ms before every reply\n"
		"      --exit-after-reads N  _exit(3) on the N-th READ without completing it\n"
		"      --split-reads N       serve only the first N bytes (4 KiB multiple) of\n"
		"                            each READ: the kernel asks again for the rest\n"
		"      --refuse-reads N      complete every N-th READ without data (reader: EIO)\n"
		"      --supervise           keep /dev/cachefiles in a parent, serve in a worker,\n"
		"                            respawn the worker (and write restore) if it dies\n"
		"      --no-restore          with --supervise: respawn without writing restore\n"
		"      --max-blobs N         size of the stats table (default %d)\n"
		"      --stats-interval-ms N coalesce stats rewrites to one per N ms\n"
		"                            (and whenever idle); default 0 = every message\n"
		"      --hold-close KEY      on CLOSE of cookie KEY keep its fds open, so its\n"
		"                            volume cannot die, until SIGUSR1 (repeatable)\n"
		"      --hold-all-closes     the same for every CLOSE\n",
		DEFAULT_MAX_BLOBS);
	gc_usage(f);
}

enum {
	OPT_READY_FD = 256,
	OPT_REFUSE,
	OPT_DELAY_MS,
	OPT_EXIT_AFTER_READS,
	OPT_SPLIT_READS,
	OPT_REFUSE_READS,
	OPT_SUPERVISE,
	OPT_NO_RESTORE,
	OPT_MAX_BLOBS,
	OPT_STATS_INTERVAL,
	OPT_HOLD_CLOSE,
	OPT_HOLD_ALL_CLOSES,
};

static const struct option long_options[] = {
	{ "cachedir",		required_argument, NULL, 'c' },
	{ "blobdir",		required_argument, NULL, 'b' },
	{ "stats",		required_argument, NULL, 's' },
	{ "log",		required_argument, NULL, 'l' },
	{ "tag",		required_argument, NULL, 't' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "ready-fd",		required_argument, NULL, OPT_READY_FD },
	{ "refuse",		required_argument, NULL, OPT_REFUSE },
	{ "delay-ms",		required_argument, NULL, OPT_DELAY_MS },
	{ "exit-after-reads",	required_argument, NULL, OPT_EXIT_AFTER_READS },
	{ "split-reads",	required_argument, NULL, OPT_SPLIT_READS },
	{ "refuse-reads",	required_argument, NULL, OPT_REFUSE_READS },
	{ "supervise",		no_argument,	   NULL, OPT_SUPERVISE },
	{ "no-restore",		no_argument,	   NULL, OPT_NO_RESTORE },
	{ "max-blobs",		required_argument, NULL, OPT_MAX_BLOBS },
	{ "stats-interval-ms",	required_argument, NULL, OPT_STATS_INTERVAL },
	{ "hold-close",		required_argument, NULL, OPT_HOLD_CLOSE },
	{ "hold-all-closes",	no_argument,	   NULL, OPT_HOLD_ALL_CLOSES },
	GC_LONG_OPTIONS
	{ NULL, 0, NULL, 0 }
};

static int parse_args(int argc, char **argv)
{
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "c:b:s:l:t:h", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.cachedir = optarg;
			break;
		case 'b':
			opt.blobdir = optarg;
			break;
		case 's':
			opt.statsfile = optarg;
			break;
		case 'l':
			opt.logfile = optarg;
			break;
		case 't':
			opt.tag = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_READY_FD:
			if (parse_uint("--ready-fd", optarg, INT_MAX, &v))
				return -1;
			opt.ready_fd = v;
			break;
		case OPT_REFUSE:
			if (add_refuse(optarg))
				return -1;
			break;
		case OPT_DELAY_MS:
			if (parse_uint("--delay-ms", optarg, 3600000, &v))
				return -1;
			opt.delay_ms = v;
			break;
		case OPT_EXIT_AFTER_READS:
			if (parse_uint("--exit-after-reads", optarg, ULONG_MAX, &v))
				return -1;
			opt.exit_after_reads = v;
			break;
		case OPT_SPLIT_READS:
			if (parse_uint("--split-reads", optarg, 1UL << 30, &v) ||
			    !v || v % BLOCK_SIZE) {
				fprintf(stderr, "--split-reads must be a multiple of %llu\n",
					BLOCK_SIZE);
				return -1;
			}
			opt.split_reads = v;
			break;
		case OPT_REFUSE_READS:
			if (parse_uint("--refuse-reads", optarg, ULONG_MAX, &v))
				return -1;
			opt.refuse_reads = v;
			break;
		case OPT_SUPERVISE:
			opt.supervise = true;
			break;
		case OPT_NO_RESTORE:
			opt.no_restore = true;
			break;
		case OPT_MAX_BLOBS:
			if (parse_uint("--max-blobs", optarg, 1 << 24, &v) || !v) {
				fprintf(stderr, "--max-blobs must be 1..%d\n", 1 << 24);
				return -1;
			}
			opt.max_blobs = v;
			break;
		case OPT_STATS_INTERVAL:
			if (parse_uint("--stats-interval-ms", optarg, 3600000, &v))
				return -1;
			opt.stats_interval_ms = v;
			break;
		case OPT_HOLD_CLOSE:
			if (add_hold(optarg))
				return -1;
			break;
		case OPT_HOLD_ALL_CLOSES:
			opt.hold_all = true;
			break;
		default:
			if (!gc_option(c, optarg))
				break;
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (!opt.cachedir || !opt.blobdir) {
		fprintf(stderr, "both -c CACHEDIR and -b BLOBDIR are required\n");
		usage(stderr);
		return -1;
	}
	if (gc_check_options())
		return -1;
	if (opt.no_restore && !opt.supervise)
		fprintf(stderr, "warning: --no-restore only matters with --supervise\n");
	if (opt.ready_fd >= 0 && fcntl(opt.ready_fd, F_GETFD) < 0) {
		fprintf(stderr, "--ready-fd %d: %s\n", opt.ready_fd,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t stop;

	if (parse_args(argc, argv))
		return EXIT_USAGE;
	/* A test that gave up waiting for "ready" must not kill us by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	if (opt.logfile) {
		log_fd = open(opt.logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0644);
		if (log_fd < 0) {
			fprintf(stderr, "log file %s: %s\n", opt.logfile,
				strerror(errno));
			return EXIT_SETUP;
		}
	}
	blobdir_fd = open(opt.blobdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (blobdir_fd < 0) {
		fprintf(stderr, "blob directory %s: %s\n", opt.blobdir,
			strerror(errno));
		return EXIT_SETUP;
	}
	raise_nofile_limit();
	stats_alloc();

	/*
	 * A test may stop the daemon as soon as it reads "ready": keep
	 * SIGTERM/SIGINT pending from here until serve() or supervise() waits
	 * for them, instead of dying of the default action in between.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGUSR1);
	sigaddset(&stop, SIGUSR2);	/* daemon_gc.h: until serve() waits */
	sigprocmask(SIG_BLOCK, &stop, NULL);

	if (dev_setup())
		return EXIT_SETUP;
	signal_ready();

	/*
	 * Exiting closes /dev/cachefiles, which fails all pending requests
	 * and unbinds the cache.
	 */
	if (opt.supervise)
		return supervise();
	return serve();
}
