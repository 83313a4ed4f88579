// SPDX-License-Identifier: GPL-2.0
/*
 * Host check for ondemand_daemon.c against a fake /dev/cachefiles.
 *
 * The daemon source is included with open(), read(), ioctl() and pwrite()
 * redirected to fakes (the pattern of fs/ext4/mballoc-test.c: test a file
 * by including it).  Its /dev/cachefiles is one end of a SOCK_SEQPACKET
 * socketpair, which keeps message boundaries both ways like the devnode:
 * the test plays the kernel on the other end, sends OPEN/READ/CLOSE
 * messages with the object's "anon fd" (a plain file standing for the
 * backing file) attached by SCM_RIGHTS, and reads back the daemon's
 * commands ("dir", "bind ondemand", "copen", "restore").  The fake ioctl
 * turns CACHEFILES_IOC_READ_COMPLETE into a "cread <msg_id> <ino>" message
 * on the same socket, and the fake pwrite enforces the O_DIRECT rules of
 * the anon fd (4 KiB aligned offset, length and buffer, else ENOBUFS).
 *
 *   gcc -O2 -Wall -Wextra -Werror -o ondemand_daemon_hostcheck ondemand_daemon_hostcheck.c
 *   ./ondemand_daemon_hostcheck		prints "N passed, N failed"
 *   HOSTCHECK_KEEP=1 ./ondemand_daemon_hostcheck	keeps the temp dir and log
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/cachefiles.h>

static int fake_open(const char *path, int flags, ...);
static ssize_t fake_read(int fd, void *buf, size_t len);
static int fake_ioctl(int fd, unsigned long req, ...);
static ssize_t fake_pwrite(int fd, const void *buf, size_t len, off_t off);

#define open fake_open
#define read fake_read
#define ioctl fake_ioctl
#define pwrite fake_pwrite
#define main ondemand_daemon_main
int ondemand_daemon_main(int argc, char **argv);
#include "ondemand_daemon.c"
#undef open
#undef read
#undef ioctl
#undef pwrite
#undef main

/* ---- fakes, running inside the daemon process ---- */

static int fake_dev_fd = -1;	/* daemon's end of the socketpair */
static int fake_dev_errno;	/* make opening the devnode fail */

static int fake_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (!strcmp(path, CACHEFILES_DEVNODE)) {
		if (fake_dev_errno) {
			errno = fake_dev_errno;
			return -1;
		}
		return fake_dev_fd;
	}
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, int);
	va_end(ap);
	return open(path, flags, mode);
}

/* One message per read(); an attached fd becomes the OPEN's anon fd. */
static ssize_t fake_read(int fd, void *buf, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	if (fd != dev_fd)
		return read(fd, buf, len);
	n = recvmsg(fd, &mh, 0);
	if (n < 0)
		return n;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		struct cachefiles_msg *msg = buf;
		int anon;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(&anon, CMSG_DATA(c), sizeof(anon));
		if ((size_t)n >= sizeof(*msg) + sizeof(struct cachefiles_open) &&
		    msg->opcode == CACHEFILES_OP_OPEN)
			((struct cachefiles_open *)msg->data)->fd = anon;
		else
			close(anon);
	}
	return n;
}

static int fake_ioctl(int fd, unsigned long req, ...)
{
	unsigned long id;
	struct stat st;
	char cmd[64];
	va_list ap;

	va_start(ap, req);
	id = va_arg(ap, unsigned long);
	va_end(ap);
	if (req != CACHEFILES_IOC_READ_COMPLETE) {
		errno = ENOTTY;
		return -1;
	}
	if (fstat(fd, &st) || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_WRONLY) {
		errno = EBADF;
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "cread %lu %llu", id,
		 (unsigned long long)st.st_ino);
	return write(dev_fd, cmd, strlen(cmd)) < 0 ? -1 : 0;
}

static ssize_t fake_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if ((off | len | (uintptr_t)buf) & 4095) {
		errno = ENOBUFS;
		return -1;
	}
	return pwrite(fd, buf, len, off);
}

/* ---- the test, playing the kernel ---- */

#include "hostcheck.h"

static char tmpdir[64];
static char blobdir[128], cachedir[128], statsfile[128], logfile[128];

struct fake_kernel {
	pid_t pid;
	int kfd;		/* kernel's end of the socketpair */
	uint32_t next_msg_id;
};

static void write_blob(const char *rel, size_t size, unsigned int seed)
{
	char path[512];
	unsigned char *p = malloc(size + 1);
	size_t i;
	FILE *f;

	for (i = 0; i < size; i++)
		p[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 12));
	snprintf(path, sizeof(path), "%s/%s", blobdir, rel);
	f = fopen(path, "w");
	if (!f || fwrite(p, 1, size, f) != size) {
		perror(path);
		exit(1);
	}
	fclose(f);
	free(p);
}

static unsigned char blob_byte(size_t i, unsigned int seed)
{
	return (unsigned char)(i * 131 + seed * 7 + (i >> 12));
}

static int recv_cmd(struct fake_kernel *k, char *buf, size_t sz, int timeout_ms)
{
	struct pollfd pfd = { .fd = k->kfd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	n = recv(k->kfd, buf, sz - 1, 0);
	if (n <= 0)
		return -EPIPE;
	buf[n] = '\0';
	return n;
}

static int start_daemon(struct fake_kernel *k, const char *const extra[],
			int dev_errno)
{
	const char *argv[40];
	int sv[2], ready[2], argc = 0, i;
	char readyfd[16], buf[64];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ||
	    pipe(ready))
		return -errno;
	unlink(statsfile);
	k->next_msg_id = 1;
	k->pid = fork();
	if (!k->pid) {
		close(sv[0]);
		close(ready[0]);
		fake_dev_fd = sv[1];
		fake_dev_errno = dev_errno;
		snprintf(readyfd, sizeof(readyfd), "%d", ready[1]);
		argv[argc++] = "erofs_ondemand_daemon";
		argv[argc++] = "-c";
		argv[argc++] = cachedir;
		argv[argc++] = "-b";
		argv[argc++] = blobdir;
		argv[argc++] = "-s";
		argv[argc++] = statsfile;
		argv[argc++] = "-l";
		argv[argc++] = logfile;
		argv[argc++] = "--ready-fd";
		argv[argc++] = readyfd;
		for (i = 0; extra && extra[i]; i++)
			argv[argc++] = extra[i];
		argv[argc] = NULL;
		_exit(ondemand_daemon_main(argc, (char **)argv));
	}
	close(sv[1]);
	close(ready[1]);
	k->kfd = sv[0];
	if (dev_errno) {
		close(ready[0]);
		return 0;
	}

	CHECK(recv_cmd(k, buf, sizeof(buf), 5000) > 0);
	CHECK(!strncmp(buf, "dir ", 4) && !strcmp(buf + 4, cachedir));
	CHECK(recv_cmd(k, buf, sizeof(buf), 5000) > 0);
	if (!strncmp(buf, "tag ", 4))
		CHECK(recv_cmd(k, buf, sizeof(buf), 5000) > 0);
	CHECK(!strcmp(buf, "bind ondemand"));
	memset(buf, 0, sizeof(buf));
	CHECK(fake_read(ready[0], buf, sizeof(buf) - 1) == 6);
	CHECK(!strcmp(buf, "ready\n"));
	close(ready[0]);
	return 0;
}

static int stop_daemon(struct fake_kernel *k)
{
	int status;

	kill(k->pid, SIGTERM);
	if (waitpid(k->pid, &status, 0) != k->pid)
		return -1;
	close(k->kfd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void send_msg(struct fake_kernel *k, struct cachefiles_msg *msg,
		     int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { msg, msg->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	if (sendmsg(k->kfd, &mh, 0) != (ssize_t)msg->len) {
		perror("sendmsg");
		exit(1);
	}
}

/* Send OPEN with @anon_fd attached; returns the copen size or -ETIMEDOUT. */
static long long k_open(struct fake_kernel *k, uint32_t obj, const char *vol,
			const void *key, size_t key_len, int anon_fd)
{
	union {
		struct cachefiles_msg msg;
		char buf[CACHEFILES_MSG_MAX_SIZE];
	} u;
	struct cachefiles_open *load = (void *)u.msg.data;
	size_t vks = strlen(vol) + 1;
	uint32_t id = k->next_msg_id++, rid;
	char reply[128];
	long long size;

	memset(&u, 0, sizeof(u));
	u.msg.msg_id = id;
	u.msg.opcode = CACHEFILES_OP_OPEN;
	u.msg.object_id = obj;
	u.msg.len = sizeof(u.msg) + sizeof(*load) + vks + key_len;
	load->volume_key_size = vks;
	load->cookie_key_size = key_len;
	load->fd = 12345;	/* replaced by the receiver's fd number */
	memcpy(load->data, vol, vks);
	memcpy(load->data + vks, key, key_len);
	send_msg(k, &u.msg, anon_fd);

	if (recv_cmd(k, reply, sizeof(reply), 5000) < 0)
		return -ETIMEDOUT;
	if (sscanf(reply, "copen %u,%lld", &rid, &size) != 2 || rid != id) {
		fprintf(stderr, "unexpected reply '%s' to OPEN %u\n", reply, id);
		return -EPROTO;
	}
	return size;
}

static uint32_t k_send_read(struct fake_kernel *k, uint32_t obj, uint64_t off,
			    uint64_t len)
{
	struct {
		struct cachefiles_msg msg;
		struct cachefiles_read rd;
	} m;

	memset(&m, 0, sizeof(m));
	m.msg.msg_id = k->next_msg_id++;
	m.msg.opcode = CACHEFILES_OP_READ;
	m.msg.object_id = obj;
	m.msg.len = sizeof(m);
	m.rd.off = off;
	m.rd.len = len;
	send_msg(k, &m.msg, -1);
	return m.msg.msg_id;
}

/* Send READ; returns 0 once "cread" for it arrived, or -errno. */
static int k_read(struct fake_kernel *k, uint32_t obj, uint64_t off,
		  uint64_t len, int backing_fd, int timeout_ms)
{
	uint32_t id = k_send_read(k, obj, off, len);
	unsigned long rid;
	unsigned long long ino;
	struct stat st;
	char reply[128];

	if (recv_cmd(k, reply, sizeof(reply), timeout_ms) < 0)
		return -ETIMEDOUT;
	if (sscanf(reply, "cread %lu %llu", &rid, &ino) != 2 || rid != id) {
		fprintf(stderr, "unexpected reply '%s' to READ %u\n", reply, id);
		return -EPROTO;
	}
	/* completed on the right object's anon fd? */
	if (backing_fd >= 0 && (fstat(backing_fd, &st) || st.st_ino != ino))
		return -EBADF;
	return 0;
}

static void k_close(struct fake_kernel *k, uint32_t obj)
{
	struct cachefiles_msg msg = {
		.msg_id = k->next_msg_id++,
		.opcode = CACHEFILES_OP_CLOSE,
		.len = sizeof(msg),
		.object_id = obj,
	};

	send_msg(k, &msg, -1);
}

/* A fresh "backing file": returns the test's O_RDWR fd, *anon the O_WRONLY one. */
static int new_backing(const char *name, int *anon)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cachedir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	*anon = open(path, O_WRONLY);
	if (fd < 0 || *anon < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* Does the backing file hold the blob in [from, to), zeros after its end? */
static bool backing_matches(int fd, size_t from, size_t to, size_t blob_size,
			    unsigned int seed)
{
	unsigned char *p = malloc(to - from);
	bool ok = true;
	size_t i;

	if (pread(fd, p, to - from, from) != (ssize_t)(to - from)) {
		free(p);
		return false;
	}
	for (i = from; i < to && ok; i++)
		ok = p[i - from] == (i < blob_size ? blob_byte(i, seed) : 0);
	free(p);
	return ok;
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static char *slurp(const char *path)
{
	static char buf[1 << 20];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return buf;
	n = fake_read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Wait (CLOSE has no reply) until the stats file contains @text. */
static bool stats_eventually(const char *text)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (strstr(slurp(statsfile), text))
			return true;
		usleep(10000);
	}
	fprintf(stderr, "stats never contained:\n%s\n--- have:\n%s\n", text,
		slurp(statsfile));
	return false;
}

static void check_basic(void)
{
	static const char *const extra[] = {
		"--refuse", "blobR:EIO", "--refuse", "blobP",
		"--refuse", "x:y:13", NULL,
	};
	struct fake_kernel k;
	int b1, a1, b3, a3, junk, ja;
	const char *stats;

	start_daemon(&k, extra, 0);

	/* BLOBDIR/erofs,dom0/blob1 exists: 10000 bytes */
	b1 = new_backing("obj1", &a1);
	CHECK(k_open(&k, 1, "erofs,dom0", "blob1", 5, a1) == 10000);
	close(a1);
	CHECK(k_read(&k, 1, 0, 8192, b1, 5000) == 0);
	CHECK(backing_matches(b1, 0, 8192, 10000, 1));
	/* tail: zero-padded to the 4 KiB block */
	CHECK(k_read(&k, 1, 8192, 1808, b1, 5000) == 0);
	CHECK(backing_matches(b1, 0, 12288, 10000, 1));
	/* unaligned request: rounded to whole blocks */
	CHECK(k_read(&k, 1, 100, 10, b1, 5000) == 0);

	/* a large READ (3 MiB + 123 bytes blob, 4 MiB request), chunked */
	b3 = new_backing("obj3", &a3);
	CHECK(k_open(&k, 3, "erofs,dom0", "big", 3, a3) == 3 * 1048576 + 123);
	close(a3);
	CHECK(k_read(&k, 3, 0, 4 << 20, b3, 10000) == 0);
	CHECK(backing_matches(b3, 0, 3 * 1048576 + 4096, 3 * 1048576 + 123, 3));

	/* flat lookup: no BLOBDIR/erofs,flat dir */
	junk = new_backing("junk", &ja);
	CHECK(k_open(&k, 4, "erofs,flat", "flatblob", 8, dup(ja)) == 5000);
	/* volume dir exists but has no such blob: no fallback to flat */
	CHECK(k_open(&k, 5, "erofs,dom0", "flatblob", 8, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 6, "erofs,dom0", "nosuch", 6, dup(ja)) == -ENOENT);
	/* hostile cookie keys and volume keys */
	CHECK(k_open(&k, 7, "erofs,flat", "../blobdir", 10, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 8, "erofs,flat", "a/b", 3, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 9, "erofs,flat", ".", 1, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 10, "erofs,flat", "..", 2, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 11, "erofs,flat", "", 0, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 12, "erofs,flat", "flatblob\0x", 10, dup(ja)) == -ENOENT);
	CHECK(k_open(&k, 13, "..", "flatblob", 8, dup(ja)) == 5000);
	/* BLOBDIR/erofs,dom0 is a directory, not a blob */
	CHECK(k_open(&k, 14, "erofs,flat", "erofs,dom0", 10, dup(ja)) == -ENOENT);
	/* --refuse */
	CHECK(k_open(&k, 15, "erofs,dom0", "blobR", 5, dup(ja)) == -EIO);
	CHECK(k_open(&k, 16, "erofs,dom1", "blobP", 5, dup(ja)) == -EPERM);
	CHECK(k_open(&k, 17, "erofs,dom1", "x:y", 3, dup(ja)) == -EACCES);

	/* CLOSE, then the same object id again */
	k_close(&k, 4);
	CHECK(k_open(&k, 4, "erofs,flat", "flatblob", 8, dup(ja)) == 5000);
	CHECK(k_read(&k, 4, 0, 4096, -1, 5000) == 0);

	/* READ for an object never opened: cannot be completed */
	CHECK(k_read(&k, 99, 0, 4096, -1, 300) == -ETIMEDOUT);
	/* a zero-length message means "nothing pending" */
	CHECK(send(k.kfd, "", 0, 0) == 0);

	k_close(&k, 1);
	k_close(&k, 3);
	CHECK(stats_eventually("blob erofs,dom0 big opens=1 reads=1 closes=1 bytes=3145851\n"));
	stats = slurp(statsfile);
	/*
	 * 17 OPENs, 12 of them failed; 6 READs, the one for object 99
	 * failed; blob1 served 8192 + 1808 + 4096 (block 0 again) bytes.
	 */
	CHECK(!strcmp(stats,
		"total opens=17 reads=6 closes=3 bytes=3164043 errors=13\n"
		"blob .. flatblob opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,dom0 big opens=1 reads=1 closes=1 bytes=3145851\n"
		"blob erofs,dom0 blob1 opens=1 reads=3 closes=1 bytes=14096\n"
		"blob erofs,dom0 blobR opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,dom0 flatblob opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,dom0 nosuch opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,dom1 blobP opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,dom1 x:y opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat \\ opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat . opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat .. opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat ../blobdir opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat a/b opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat erofs,dom0 opens=1 reads=0 closes=0 bytes=0\n"
		"blob erofs,flat flatblob opens=2 reads=1 closes=1 bytes=4096\n"
		"blob erofs,flat flatblob\\x00x opens=1 reads=0 closes=0 bytes=0\n"));
	if (failed)
		fprintf(stderr, "--- stats ---\n%s", stats);
	CHECK(stop_daemon(&k) == 0);
	/* final stats written, nothing else changed */
	CHECK(!strcmp(slurp(statsfile), stats));
	close(b1);
	close(b3);
	close(junk);
	close(ja);
}

static void check_devnode_errors(void)
{
	struct fake_kernel k;
	int status;

	fprintf(stderr, "# expected: a busy /dev/cachefiles\n");
	start_daemon(&k, NULL, EBUSY);
	CHECK(waitpid(k.pid, &status, 0) == k.pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CHECK(strstr(slurp(logfile), "/dev/cachefiles is busy: another daemon is bound"));
	close(k.kfd);
}

static void check_delay(void)
{
	static const char *const extra[] = { "--delay-ms", "300", NULL };
	struct fake_kernel k;
	struct timespec t0;
	int b, a;

	start_daemon(&k, extra, 0);
	b = new_backing("obj1", &a);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(k_open(&k, 1, "erofs,dom0", "blob1", 5, a) == 10000);
	CHECK(ms_since(&t0) >= 290);
	/* the OPEN is already counted while its reply is delayed */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(k_read(&k, 1, 0, 4096, b, 5000) == 0);
	CHECK(ms_since(&t0) >= 290);
	CHECK(stop_daemon(&k) == 0);
	close(a);
	close(b);
}

/* --supervise: the first worker crashes on its 2nd READ. */
static void check_supervise(bool restore)
{
	static const char *const with_restore[] = {
		"--supervise", "--exit-after-reads", "2", NULL,
	};
	static const char *const without_restore[] = {
		"--supervise", "--no-restore", "--exit-after-reads", "2", NULL,
	};
	struct fake_kernel k;
	char buf[128];
	int b, a, b2, a2;

	start_daemon(&k, restore ? with_restore : without_restore, 0);
	b = new_backing("obj1", &a);
	CHECK(k_open(&k, 1, "erofs,dom0", "blob1", 5, a) == 10000);
	close(a);
	CHECK(k_read(&k, 1, 0, 4096, b, 5000) == 0);
	/* the crash: no completion; then restore, or silence */
	k_send_read(&k, 1, 4096, 4096);
	if (restore) {
		CHECK(recv_cmd(&k, buf, sizeof(buf), 5000) > 0);
		CHECK(!strcmp(buf, "restore"));
	} else {
		CHECK(recv_cmd(&k, buf, sizeof(buf), 1500) == -ETIMEDOUT);
		CHECK(strstr(slurp(logfile), "--no-restore: not writing restore"));
	}
	CHECK(strstr(slurp(logfile), "--exit-after-reads 2 reached, crashing"));
	CHECK(strstr(slurp(logfile), "exited with status 3"));

	/* the kernel re-opens the closed object under a new id, READ again */
	b2 = new_backing("obj1b", &a2);
	CHECK(k_open(&k, 2, "erofs,dom0", "blob1", 5, a2) == 10000);
	close(a2);
	CHECK(k_read(&k, 2, 4096, 4096, b2, 5000) == 0);
	CHECK(k_read(&k, 2, 8192, 4096, b2, 5000) == 0);	/* no 2nd crash */
	CHECK(backing_matches(b2, 4096, 12288, 10000, 1));
	/* counters survived the crash; the crashed READ is not counted */
	CHECK(stats_eventually("blob erofs,dom0 blob1 opens=2 reads=3 closes=0 bytes=10000\n"));
	CHECK(stop_daemon(&k) == 0);
	CHECK(strstr(slurp(statsfile), "total opens=2 reads=3 closes=0 bytes=10000 errors=0\n"));
	close(b);
	close(b2);
}

/* Many objects at once: hash table growth, fd limit, sorted output. */
static void check_many(void)
{
	static const char *const extra[] = { "--max-blobs", "3000", NULL };
	enum { N = 2500 };
	struct fake_kernel k;
	char key[32], line[128], *stats, *p;
	int i, j, a, bad = 0;

	start_daemon(&k, extra, 0);
	for (i = 0; i < N; i++) {
		j = (i * 7919) % N;	/* out of key order */
		snprintf(key, sizeof(key), "m%05d", j);
		a = open("/dev/null", O_WRONLY);
		if (k_open(&k, j + 1, "erofs,many", key, strlen(key), a) != 1)
			bad++;
		close(a);
	}
	CHECK(bad == 0);
	for (i = 0; i < N; i += 97)
		k_close(&k, i + 1);
	/* objects are still found after the table grew; closed ones are not */
	for (i = 1; i < N; i += 101)
		if (k_read(&k, i + 1, 0, 1, -1, i % 97 ? 5000 : 300) !=
		    (i % 97 ? 0 : -ETIMEDOUT))
			bad++;
	CHECK(bad == 0);
	CHECK(stop_daemon(&k) == 0);
	stats = slurp(statsfile);
	/* object 2426 (i = 2425) was closed: its READ is an error */
	CHECK(starts_with(stats, "total opens=2500 reads=25 closes=26 bytes=24 errors=1\n"));
	if (failed)
		fprintf(stderr, "%.200s\n", stats);
	/* sorted by key */
	p = stats;
	for (i = 0; i < N && p; i++) {
		snprintf(line, sizeof(line), "\nblob erofs,many m%05d opens=1 reads=%d closes=%d ",
			 i, i % 101 == 1 && i % 97, i % 97 == 0);
		p = strstr(p, line);
	}
	CHECK(p);
}

/* The stats table is full: counted in totals and errors, and said so. */
static void check_overflow(void)
{
	static const char *const extra[] = { "--max-blobs", "2", NULL };
	struct fake_kernel k;
	int a;

	start_daemon(&k, extra, 0);
	a = open("/dev/null", O_WRONLY);
	CHECK(k_open(&k, 1, "erofs,many", "m00001", 6, dup(a)) == 1);
	CHECK(k_open(&k, 2, "erofs,many", "m00002", 6, dup(a)) == 1);
	CHECK(k_open(&k, 3, "erofs,many", "m00003", 6, dup(a)) == 1);
	CHECK(k_open(&k, 4, "erofs,many", "m00001", 6, dup(a)) == 1);
	CHECK(k_read(&k, 3, 0, 4096, -1, 5000) == 0);
	close(a);
	CHECK(stop_daemon(&k) == 0);
	CHECK(!strcmp(slurp(statsfile),
		"total opens=4 reads=1 closes=0 bytes=1 errors=1\n"
		"blob erofs,many m00001 opens=2 reads=0 closes=0 bytes=0\n"
		"blob erofs,many m00002 opens=1 reads=0 closes=0 bytes=0\n"));
	CHECK(strstr(slurp(logfile), "stats table full (--max-blobs 2)"));
}

/* Blob lookups never block or open non-files. */
static void check_odd_blobs(void)
{
	struct fake_kernel k;
	char path[256];
	int a;

	snprintf(path, sizeof(path), "%s/fifo", blobdir);
	CHECK(mkfifo(path, 0644) == 0);
	start_daemon(&k, NULL, 0);
	a = open("/dev/null", O_WRONLY);
	CHECK(k_open(&k, 1, "erofs,flat", "fifo", 4, dup(a)) == -ENOENT);
	CHECK(k_open(&k, 2, "erofs,flat", "erofs,many", 10, dup(a)) == -ENOENT);
	/* the blob is still served after these */
	CHECK(k_open(&k, 3, "erofs,flat", "flatblob", 8, dup(a)) == 5000);
	close(a);
	CHECK(stop_daemon(&k) == 0);
	unlink(path);
}

/* Has every copy of the write end of pipe @rfd been closed within @ms? */
static bool pipe_hung_up(int rfd, int ms)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLHUP);
}

/* OPEN object @obj with a pipe's write end as anon fd; *rfd: the read end. */
static long long k_open_pipe(struct fake_kernel *k, uint32_t obj,
			     const char *vol, const char *key, int *rfd)
{
	int p[2];
	long long ret;

	if (pipe(p)) {
		perror("pipe");
		exit(1);
	}
	ret = k_open(k, obj, vol, key, strlen(key), p[1]);
	close(p[1]);
	*rfd = p[0];
	return ret;
}

/*
 * --hold-close KEY / --hold-all-closes: CLOSE of a held object keeps its
 * anon fd open (the write end of a pipe here: the read end sees POLLHUP
 * only once the daemon closed it) until SIGUSR1 or exit.
 */
static void check_hold_close(bool supervise)
{
	static const char *const by_key[] = {
		"--hold-close", "blob1", "--hold-close", "odd\\x20key", NULL,
	};
	static const char *const all[] = {
		"--hold-all-closes", "--supervise", NULL,
	};
	struct fake_kernel k;
	int r1, r2, r3, r4, r5;
	char *log;

	start_daemon(&k, supervise ? all : by_key, 0);
	CHECK(k_open_pipe(&k, 1, "erofs,dom0", "blob1", &r1) == 10000);
	CHECK(k_open_pipe(&k, 2, "erofs,flat", "flatblob", &r2) == 5000);
	k_close(&k, 1);
	k_close(&k, 2);
	CHECK(stats_eventually("blob erofs,flat flatblob opens=1 reads=0 closes=1"));
	/* the CLOSE is counted even when held */
	CHECK(stats_eventually("blob erofs,dom0 blob1 opens=1 reads=0 closes=1"));
	CHECK(!pipe_hung_up(r1, 300));
	CHECK(supervise ? !pipe_hung_up(r2, 100) : pipe_hung_up(r2, 5000));
	/* the same object id again while the old one is held */
	CHECK(k_open_pipe(&k, 1, "erofs,dom0", "blob1", &r3) == 10000);
	k_close(&k, 1);
	CHECK(stats_eventually("blob erofs,dom0 blob1 opens=2 reads=0 closes=2"));
	CHECK(!pipe_hung_up(r3, 100));
	CHECK(!pipe_hung_up(r1, 100));

	/* SIGUSR1 (to the supervisor: passed on) releases every held object */
	kill(k.pid, SIGUSR1);
	CHECK(pipe_hung_up(r1, 5000));
	CHECK(pipe_hung_up(r2, 5000));
	CHECK(pipe_hung_up(r3, 5000));
	/* and closes are no longer held */
	CHECK(k_open_pipe(&k, 4, "erofs,dom0", "blob1", &r4) == 10000);
	k_close(&k, 4);
	CHECK(pipe_hung_up(r4, 5000));
	log = slurp(logfile);
	CHECK(strstr(log, supervise ? "released 3 held objects" :
			  "released 2 held objects") != NULL);

	/* a held object that was never released is closed at exit */
	CHECK(stop_daemon(&k) == 0);
	start_daemon(&k, supervise ? all : by_key, 0);
	CHECK(k_open_pipe(&k, 5, "erofs,dom0", "blob1", &r5) == 10000);
	k_close(&k, 5);
	CHECK(stats_eventually("blob erofs,dom0 blob1 opens=1 reads=0 closes=1"));
	CHECK(!pipe_hung_up(r5, 300));
	CHECK(stop_daemon(&k) == 0);
	CHECK(pipe_hung_up(r5, 5000));
	close(r1);
	close(r2);
	close(r3);
	close(r4);
	close(r5);
}

/*
 * --split-reads: only the first N bytes of a READ are written (the kernel
 * asks again for the rest); --refuse-reads: every N-th READ is completed
 * with nothing written.
 */
static void check_split_refuse(void)
{
	static const char *const extra[] = {
		"--split-reads", "8192", "--refuse-reads", "3", NULL,
	};
	static const char *const bad1[] = { "--split-reads", "5000", NULL };
	static const char *const bad2[] = { "--split-reads", "0", NULL };
	struct fake_kernel k;
	struct stat st;
	int b, a, status;

	start_daemon(&k, extra, 0);
	b = new_backing("objs", &a);
	CHECK(k_open(&k, 1, "erofs,dom0", "big", 3, a) == 3 * 1048576 + 123);
	close(a);
	/* READ 1: 20000 bytes asked, the first 8192 written */
	CHECK(k_read(&k, 1, 0, 20000, b, 5000) == 0);
	CHECK(!fstat(b, &st) && st.st_size == 8192);
	CHECK(backing_matches(b, 0, 8192, 3 * 1048576 + 123, 3));
	/* READ 2: the rest, asked again, still cut at 8192 */
	CHECK(k_read(&k, 1, 8192, 11808, b, 5000) == 0);
	CHECK(!fstat(b, &st) && st.st_size == 16384);
	CHECK(backing_matches(b, 0, 16384, 3 * 1048576 + 123, 3));
	/* READ 3: refused, completed on the right fd, nothing written */
	CHECK(k_read(&k, 1, 16384, 4096, b, 5000) == 0);
	CHECK(!fstat(b, &st) && st.st_size == 16384);
	CHECK(strstr(slurp(logfile), "-> refused (--refuse-reads 3)"));
	/* READ 4: served again, smaller than the split size */
	CHECK(k_read(&k, 1, 16384, 4096, b, 5000) == 0);
	CHECK(backing_matches(b, 0, 20480, 3 * 1048576 + 123, 3));
	k_close(&k, 1);
	CHECK(stats_eventually("blob erofs,dom0 big opens=1 reads=4 closes=1 bytes=20480\n"));
	CHECK(stop_daemon(&k) == 0);
	CHECK(starts_with(slurp(statsfile),
		"total opens=1 reads=4 closes=1 bytes=20480 errors=1\n"));
	close(b);

	/* not a multiple of 4 KiB, or 0: a usage error */
	fprintf(stderr, "# expected: two --split-reads usage errors\n");
	start_daemon(&k, bad1, EBUSY);
	CHECK(waitpid(k.pid, &status, 0) == k.pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	close(k.kfd);
	start_daemon(&k, bad2, EBUSY);
	CHECK(waitpid(k.pid, &status, 0) == k.pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	close(k.kfd);
}

int main(void)
{
	char cmd[256];
	int i;

	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ondemand_daemon_hostcheck.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(blobdir, sizeof(blobdir), "%s/blobs", tmpdir);
	snprintf(cachedir, sizeof(cachedir), "%s/cache", tmpdir);
	snprintf(statsfile, sizeof(statsfile), "%s/stats", tmpdir);
	snprintf(logfile, sizeof(logfile), "%s/log", tmpdir);
	mkdir(blobdir, 0755);
	mkdir(cachedir, 0755);
	snprintf(cmd, sizeof(cmd), "%s/erofs,dom0", blobdir);
	mkdir(cmd, 0755);
	write_blob("erofs,dom0/blob1", 10000, 1);
	write_blob("erofs,dom0/big", 3 * 1048576 + 123, 3);
	write_blob("flatblob", 5000, 5);
	snprintf(cmd, sizeof(cmd), "%s/erofs,many", blobdir);
	mkdir(cmd, 0755);
	for (i = 0; i < 2500; i++) {
		snprintf(cmd, sizeof(cmd), "erofs,many/m%05d", i);
		write_blob(cmd, 1, i);
	}

	check_basic();
	check_devnode_errors();
	check_delay();
	check_supervise(true);
	check_supervise(false);
	check_many();
	check_overflow();
	check_odd_blobs();
	check_hold_close(false);
	check_hold_close(true);
	check_split_refuse();

	if (failed)
		fprintf(stderr, "--- daemon log ---\n%s", slurp(logfile));
	if (getenv("HOSTCHECK_KEEP")) {
		fprintf(stderr, "# kept %s\n", tmpdir);
	} else {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
