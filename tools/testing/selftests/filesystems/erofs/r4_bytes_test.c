// SPDX-License-Identifier: GPL-2.0
/*
 * R4: which bytes a name may hold, in fsid (plain and in a domain),
 * domain_id and device= (fscache mode).
 *
 *   - fsid and domain_id refuse ',', control characters (0x01-0x1f, 0x7f)
 *     and '/' with EINVAL; they accept space, '\', '=', '..', UTF-8 and
 *     any byte 0x80..0xff;
 *   - device= names refuse control characters only;
 *   - /proc/self/mountinfo and /proc/mounts show the fsid escaped as
 *     seq_show_option() does (octal, e.g. \040 for a space), so each line
 *     keeps its fields and unescaping gives the exact fsid; the domain_id
 *     is never shown.
 *
 * Values go through mount(2)'s data string; ',' (which that string cannot
 * carry) through fsconfig(2).  Data (harness/mkdata.d/rtests.sh): copies
 * of bootA under each accepted name, and of r2one's only blob under
 * "dev.<name>".
 */
#include "kselftest_harness.h"
#include "erofs_rel.h"

#define MNT	"/mnt/r4.a"

struct byte_class {
	const char *what;
	const char *name;
};

/* Accepted everywhere, each a bootstrap and (as dev.<name>) a blob on /data. */
static const struct byte_class good[] = {
	{ "space", "sp ace" },
	{ "backslash", "back\\slash" },
	{ "equals", "a=b" },
	{ "dots", "dot..dot" },
	{ "utf8", "na\xc3\xafve-\xe6\x97\xa5" },
	{ "0x80-0xff", "hi\x80\xfe\xff" },
};

/* Refused in fsid and domain_id. */
static const struct byte_class bad[] = {
	{ "comma", "co,mma" },
	{ "tab", "t\tab" },
	{ "0x01", "c\x01x" },
	{ "0x1f", "c\x1fx" },
	{ "0x7f", "d\x7fx" },
	{ "slash", "s/lash" },
};

FIXTURE(r4) {
	struct daemon_ctl daemon;
	struct leak_base base;
	char cache[PATH_MAX];
};

FIXTURE_SETUP(r4)
{
	leak_baseline(&self->base);
	ASSERT_EQ(0, fresh_cache_dir("r4", self->cache, sizeof(self->cache)));
	ASSERT_EQ(0, daemon_start(&self->daemon, DAEMON_PATH, self->cache,
				  BLOB_DIR, NULL));
}

FIXTURE_TEARDOWN(r4)
{
	char why[256];

	erofs_umount_all("/mnt/r4.");
	EXPECT_EQ(0, leak_wait_clean(&self->base, 10000, why, sizeof(why)))
		TH_LOG("left behind: %s", why);
	EXPECT_EQ(0, daemon_stop(&self->daemon));
}

/*
 * Mount MNT with fsid (and domain_id, device: may be NULL): through
 * mount(2) unless a value holds ',', then through fsconfig(2).
 */
static int r4_mount(const char *fsid, const char *domain, const char *device)
{
	const char *keys[3] = { "fsid", "domain_id", "device" };
	const char *vals[3] = { fsid, domain, device };
	const char *step;
	bool comma = false;
	int i;
	char opts[1024];
	size_t o = 0;

	mkdir(MNT, 0755);
	for (i = 0; i < 3; i++)
		if (vals[i] && strchr(vals[i], ','))
			comma = true;
	if (!comma) {
		for (i = 0; i < 3; i++)
			if (vals[i])
				o += snprintf(opts + o, sizeof(opts) - o, "%s%s=%s",
					      o ? "," : "", keys[i], vals[i]);
		return mount("none", MNT, "erofs", MS_RDONLY, opts) ? -errno : 0;
	}
	return erofs_mount_fsconfig_dev(MNT, fsid, domain, device, &step);
}

/* @s with bytes outside 0x21..0x7e and '\' as \xNN, as the daemon logs. */
static void daemon_escape(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s && o + 5 < size; s++) {
		unsigned char c = *s;

		if (c < 0x21 || c > 0x7e || c == '\\')
			o += snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = c;
	}
	out[o] = '\0';
}

/*
 * Did the daemon get an OPEN of cookie @key, within @ms?  A data blob's OPEN
 * comes from an fscache worker and may follow mount(2)'s return.
 */
static int daemon_saw(FIXTURE_DATA(r4) *self, const char *key, int ms)
{
	char needle[600];

	strcpy(needle, "key=");
	daemon_escape(key, needle + 4, sizeof(needle) - 5);
	strcat(needle, " ");
	return file_wait_contains(self->daemon.logfile, needle, ms);
}

/* @s with \ooo escapes undone, into @out. */
static void unescape_octal(const char *s, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len + 1 && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			out[o++] = (s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0');
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

static int count_fields(const char *s)
{
	int n = 0;

	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		n++;
		while (*s && *s != ' ')
			s++;
	}
	return n;
}

/* The fsid=... value of a super options field, unescaped. */
static int opt_fsid(const char *opts, char *out)
{
	const char *p = opts, *end;

	while (p && strncmp(p, "fsid=", 5)) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p)
		return -ENOENT;
	p += 5;
	end = p + strcspn(p, ", \n");
	unescape_octal(p, end - p, out);
	return 0;
}

/*
 * mountinfo: 3 fields after " - " (type, source, super options); mounts:
 * 6 fields; both give back exactly @fsid; @secret (may be NULL) appears
 * in neither, raw or escaped.
 */
static void check_proc(struct __test_metadata *_metadata, const char *fsid,
		       const char *secret)
{
	char line[4096], opts[4096], got[1024], buf[4096];
	const char *dash;
	FILE *f;
	bool found = false;

	ASSERT_EQ(0, mountinfo_line(MNT, line, sizeof(line)));
	dash = strstr(line, " - ");
	ASSERT_NE(NULL, dash);
	EXPECT_EQ(3, count_fields(dash + 3)) TH_LOG("mountinfo: %s", line);
	ASSERT_EQ(1, sscanf(dash + 3, "%*s %*s %4095s", opts));
	EXPECT_EQ(0, opt_fsid(opts, got)) TH_LOG("mountinfo: %s", line);
	EXPECT_STREQ(fsid, got) TH_LOG("mountinfo: %s", line);

	f = fopen("/proc/mounts", "re");
	ASSERT_NE(NULL, f);
	while (fgets(buf, sizeof(buf), f)) {
		char dir[512];

		buf[strcspn(buf, "\n")] = '\0';
		if (sscanf(buf, "%*s %511s", dir) != 1 || strcmp(dir, MNT))
			continue;
		found = true;
		EXPECT_EQ(6, count_fields(buf)) TH_LOG("/proc/mounts: %s", buf);
		ASSERT_EQ(1, sscanf(buf, "%*s %*s %*s %4095s", opts));
		EXPECT_EQ(0, opt_fsid(opts, got));
		EXPECT_STREQ(fsid, got) TH_LOG("/proc/mounts: %s", buf);
	}
	fclose(f);
	EXPECT_TRUE(found);
	if (secret) {
		char esc[1024] = "";
		size_t i, o = 0;

		/* seq_show_option's octal form of the secret too */
		for (i = 0; secret[i] && o + 5 < sizeof(esc); i++)
			if (strchr(",= \t\n\\", secret[i]))
				o += snprintf(esc + o, 5, "\\%03o", (unsigned char)secret[i]);
			else
				esc[o++] = secret[i];
		esc[o] = '\0';
		EXPECT_EQ(0, file_contains("/proc/self/mountinfo", secret));
		EXPECT_EQ(0, file_contains("/proc/self/mountinfo", esc));
		EXPECT_EQ(0, file_contains("/proc/mounts", secret));
		EXPECT_EQ(0, file_contains("/proc/mounts", esc));
	}
}

static void mount_good(struct __test_metadata *_metadata, const char *what,
		       const char *fsid, const char *domain, const char *device,
		       const char *expect, const char *secret)
{
	int ret = r4_mount(fsid, domain, device);

	EXPECT_EQ(0, ret) TH_LOG("%s: %s", what, strerror(-ret));
	if (ret)
		return;
	EXPECT_GT(compare_trees(expect, MNT), 0) TH_LOG("%s", what);
	check_proc(_metadata, fsid, secret);
	EXPECT_EQ(0, erofs_umount(MNT));
}

TEST_F_TIMEOUT(r4, R4_fsid_accepted_bytes_plain_and_in_domain, 300)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		mount_good(_metadata, good[i].what, good[i].name, NULL, NULL,
			   EXPECT_DIR "/bootA", NULL);
		mount_good(_metadata, good[i].what, good[i].name, "r4secret", NULL,
			   EXPECT_DIR "/bootA", "r4secret");
	}
	/* ".." cannot be a blob file: accepted, then refused by the daemon */
	ret = r4_mount("..", "r4secret", NULL);
	EXPECT_NE(-EINVAL, ret);
	EXPECT_NE(0, ret);
	EXPECT_EQ(1, daemon_saw(self, "..", 0));
	if (!ret)
		erofs_umount(MNT);
}

/*
 * Only the escaping of the fsid in mountinfo and /proc/mounts, plain and
 * in a domain: what stable fix "escape fsid and domain_id in mount
 * options" must get right alone (the case above also wants the domain_id
 * kept out of mountinfo, which only the series does).
 */
TEST_F_TIMEOUT(r4, R4_fsid_escaped_plain_and_in_domain, 300)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		mount_good(_metadata, good[i].what, good[i].name, NULL, NULL,
			   EXPECT_DIR "/bootA", NULL);
		mount_good(_metadata, good[i].what, good[i].name, "r4dom", NULL,
			   EXPECT_DIR "/bootA", NULL);
	}
}

TEST_F_TIMEOUT(r4, R4_fsid_refused_bytes_einval, 300)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ret = r4_mount(bad[i].name, NULL, NULL);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("plain fsid with %s: %s",
					       bad[i].what, strerror(-ret));
		if (!ret)
			erofs_umount(MNT);
		ret = r4_mount(bad[i].name, "r4dom", NULL);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("fsid with %s in a domain: %s",
					       bad[i].what, strerror(-ret));
		if (!ret)
			erofs_umount(MNT);
		EXPECT_EQ(0, daemon_saw(self, bad[i].name, 0))
			TH_LOG("the daemon got an OPEN of the fsid with %s",
			       bad[i].what);
	}
}

TEST_F_TIMEOUT(r4, R4_domain_id_accepted_bytes, 300)
{
	char found[256];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		mount_good(_metadata, good[i].what, "bootA", good[i].name, NULL,
			   EXPECT_DIR "/bootA", good[i].name);
		EXPECT_EQ(0, erofs_sysfs_grep(good[i].name, found, sizeof(found)));
	}
	mount_good(_metadata, "dotdot", "bootA", "..", NULL, EXPECT_DIR "/bootA",
		   NULL);
}

TEST_F_TIMEOUT(r4, R4_domain_id_refused_bytes_einval, 300)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ret = r4_mount("bootA", bad[i].name, NULL);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("domain_id with %s: %s",
					       bad[i].what, strerror(-ret));
		if (!ret)
			erofs_umount(MNT);
	}
}

TEST_F_TIMEOUT(r4, R4_device_names_accepted_bytes, 300)
{
	static const char *const odd[] = { "s/lash", "co,mma", ".." };
	char dev[300];
	unsigned int i, k;
	int ret;

	for (k = 0; k < 2; k++) {
		const char *dom = k ? "r4dom" : NULL;

		for (i = 0; i < ARRAY_SIZE(good); i++) {
			snprintf(dev, sizeof(dev), "dev.%s", good[i].name);
			mount_good(_metadata, good[i].what, "r2one", dom, dev,
				   EXPECT_DIR "/r2one", NULL);
		}
		/* valid names without a blob: the daemon answers for them */
		for (i = 0; i < ARRAY_SIZE(odd); i++) {
			ret = r4_mount("r2one", dom, odd[i]);
			EXPECT_NE(-EINVAL, ret) TH_LOG("device=%s", odd[i]);
			EXPECT_EQ(1, daemon_saw(self, odd[i], 20000))
				TH_LOG("no OPEN of device=%s", odd[i]);
			if (!ret)
				erofs_umount(MNT);
		}
	}
}

TEST_F_TIMEOUT(r4, R4_device_names_control_bytes_einval, 300)
{
	unsigned int i, k;
	int ret;

	for (k = 0; k < 2; k++)
		for (i = 1; i <= 4; i++) {	/* tab, 0x01, 0x1f, 0x7f */
			ret = r4_mount("r2one", k ? "r4dom" : NULL, bad[i].name);
			EXPECT_EQ(-EINVAL, ret) TH_LOG("device= with %s%s: %s",
				bad[i].what, k ? " in a domain" : "", strerror(-ret));
			EXPECT_EQ(0, daemon_saw(self, bad[i].name, 0));
			if (!ret)
				erofs_umount(MNT);
		}
}

TEST_F_TIMEOUT(r4, R4_kmemleak_clean, 300)
{
	char why[256];

	EXPECT_EQ(0, kmemleak_new_since_start(why, sizeof(why))) TH_LOG("%s", why);
}

TEST_HARNESS_MAIN
