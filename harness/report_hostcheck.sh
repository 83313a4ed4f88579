#!/bin/bash
# report_hostcheck.sh: checks the checker.  Feeds report.sh synthetic
# guest logs, one good and, for every verdict rule, a bad one that must
# make it fail with the rule's message.  Prints "ok N - ..." /
# "not ok N - ..." and "N passed, N failed"; exits non-zero on a failure.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 npass=0 nfail=0

good_log() {
	cat <<'EOF'
[    1.000000] KTAP version 1
[    1.000000] 1..1
[    1.000000]     KTAP version 1
[    1.000000]     # Subtest: erofs_fscache
[    1.000000]     1..2
[    1.000000]     ok 1 case_a
[    1.000000]         KTAP version 1
[    1.000000]         # Subtest: case_b
[    1.000000]         1..2
[    1.000000]         ok 1 param0
[    1.000000]         ok 2 param1
[    1.000000]     ok 2 case_b
[    1.000000] # erofs_fscache: pass:2 fail:0 skip:0 total:2
[    1.000000] ok 1 erofs_fscache
@@ GUEST READY 6.12.0
@@ BEGIN prog_a
TAP version 13
1..2
# Starting 2 tests from 1 test cases.
ok 1 fix.one
ok 2 fix.two
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0
@@ END rc=0 prog_a
@@ BEGIN prog_b --flag
TAP version 13
1..1
ok 1 fix.skip_me # SKIP no widget
@@ END rc=0 prog_b --flag
@@ TAINTED 262144
@@ GUEST DONE
EOF
}
printf '60 prog_a\n# a comment\n\n60 prog_b --flag\n' >"$T/suite.list"
printf '# allowed\nprog_b:fix.skip_me the widget is optional\n' >"$T/allow.list"
printf 'erofs_fscache series\n' >"$T/kunit.list"

# verdict WANT(pass|fail) PATTERN DESCRIPTION [report.sh options...] <LOG
# PATTERN must appear in the output (a FAIL line of the rule, or the
# closing line); the log comes from stdin.
verdict() {
	local want=$1 pat=$2 d=$3 rc
	shift 3
	cat >"$T/log"
	"$TOP/harness/report.sh" -a "$T/allow.list" -k "$T/kunit.list" \
		-l "$T/suite.list" -v series -c debug "$@" "$T/log" >"$T/out" 2>&1
	rc=$?
	n=$((n + 1))
	if { [ "$want" = pass ] && [ $rc = 0 ]; } || { [ "$want" = fail ] && [ $rc = 1 ]; } &&
	   grep -qE "$pat" "$T/out" && grep -qE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$T/out"; then
		echo "ok $n - $d"
		npass=$((npass + 1))
	else
		echo "not ok $n - $d (exit $rc, want $want and /$pat/)"
		sed 's/^/# /' "$T/out"
		nfail=$((nfail + 1))
	fi
}

verdict pass '^4 passed, 0 failed, 1 skipped$' "a good log passes (allowed SKIP, KUnit, TAINT_TEST)" < <(good_log)

# SKIP rule
verdict fail 'FAIL prog_b: fix.skip_me # SKIP no widget \(SKIP not in' \
	"a SKIP not in the allow-list fails" -a /dev/null < <(good_log)
printf 'prog_b:fix.skip_me\n' >"$T/noreason.list"
verdict fail 'SKIP not in' "an allow-list entry without a reason allows nothing" \
	-a "$T/noreason.list" < <(good_log)
verdict fail 'FAIL kunit: case_a # SKIP no device \(SKIP not in' "a KUnit SKIP not in the allow-list fails" < <(good_log | sed 's/^\[    1.000000\]     ok 1 case_a$/[    1.000000]     ok 1 case_a # SKIP no device/')

# TAP plan rule
verdict fail 'FAIL verdict: prog_a \(TAP plan 1..3 not met: 2 result' "a TAP plan not met fails" < <(good_log | sed 's/^1\.\.2$/1..3/')

# a program of the suite list that never started
verdict fail 'FAIL verdict: prog_b --flag \(listed in .*never started\)' \
	"a program of the suite list that never started fails" < <(good_log | sed '/^@@ BEGIN prog_b/,/^@@ END rc=0 prog_b/d')
printf '60 prog_a\n60 prog_b\n' >"$T/other.list"
verdict fail 'FAIL verdict: prog_b \(listed in .*never started\)' \
	"a listed command started with other arguments does not count" -l "$T/other.list" < <(good_log)

# KUnit suite that did not report (series only)
verdict fail 'FAIL verdict: kunit: erofs_fscache \(suite did not report\)' \
	"series: a KUnit suite that never ran fails" < <(good_log | grep -v '^\[    1.000000\] ')
verdict fail 'FAIL verdict: kunit: erofs_fscache \(suite did not report\)' \
	"series: a KUnit suite without its result line fails" < <(good_log | grep -v '^\[    1.000000\] ok 1 erofs_fscache')
verdict fail 'FAIL verdict: kunit: erofs_fscache \(plan 1..3 not met: 2 case' \
	"series: a KUnit suite short of its plan fails" < <(good_log | sed 's/^\(\[    1.000000\]     \)1\.\.2$/\11..3/')
verdict pass '^2 passed, 0 failed, 1 skipped$' \
	"stock: no KUnit suite is expected" -v stock < <(good_log | grep -v '^\[    1.000000\] ')

# taint rule
verdict fail 'FAIL verdict: .*\(kernel tainted 262656: W\)' "a tainted kernel (W) fails" < <(good_log | sed 's/^@@ TAINTED 262144$/@@ TAINTED 262656/')
verdict fail 'FAIL verdict: .*\(kernel tainted 128: D\)' "a tainted kernel (D, no KUnit) fails" < <(good_log | sed 's/^@@ TAINTED 262144$/@@ TAINTED 128/')
verdict fail 'FAIL verdict: .*did not report /proc/sys/kernel/tainted' "a guest that did not report its taint fails" < <(good_log | grep -v '^@@ TAINTED')
verdict pass '^4 passed, 0 failed' "taint 0 passes" < <(good_log | sed 's/^@@ TAINTED 262144$/@@ TAINTED 0/')

# leak checks that could not run
leak() {
	good_log | sed "/^ok 2 fix.two/i @@ LEAKCHECK unavailable: $1"
}
verdict fail 'FAIL verdict: leak checks \(could not run on the debug config' "debug: no kmemleak fails" < <(leak "no /sys/kernel/debug/kmemleak at the baseline: no kmemleak check")
verdict fail 'prog_a: @@ LEAKCHECK unavailable: writing scan' "debug: a failed scan write fails, naming the program" < <(leak "writing scan to /sys/kernel/debug/kmemleak: Operation not permitted")
verdict fail 'FAIL verdict: leak checks' "debug: an inode count of -1 fails" < <(leak "no /sys/kernel/slab/erofs_inode/objects: erofs inodes not counted")
verdict pass '^4 passed, 0 failed' \
	"base config: a missing kmemleak is expected" -c base < <(leak "no /sys/kernel/debug/kmemleak")

# the rules of before stay
verdict fail 'FAIL prog_a: fix.two' "a failed test fails" < <(good_log | sed 's/^ok 2 fix.two$/not ok 2 fix.two/')
verdict fail '^      # x_test.c:42:two:Expected 0 \(0\) == ret \(-5\)$' \
	"a failed test's diagnostics are repeated before the closing line" < <(good_log |
	sed 's/^ok 2 fix.two$/#  RUN           fix.two ...\n# x_test.c:42:two:Expected 0 (0) == ret (-5)\n#            FAIL  fix.two\nnot ok 2 fix.two/')
verdict fail 'FAIL prog_a \(exit status 137: timed out\)' "a timed-out program fails" < <(good_log | sed 's/^@@ END rc=0 prog_a$/@@ END rc=137 prog_a/')
verdict fail 'guest did not finish' "a guest that did not finish fails" < <(good_log | grep -v '^@@ GUEST DONE')
verdict fail 'kernel log: 1 offending line' "a WARNING in the kernel log fails" < <(good_log | sed 's/^ok 1 fix.one$/[   2.5] WARNING: CPU: 0 PID: 1 at fs\/x.c:1\nok 1 fix.one/')

# the guest's /init and the host's watchdog
timed_out() {
	good_log | sed 's/^ok 2 fix.two$/@@ TIMEOUT after 60s: prog_a\n@@ DUMP BEGIN\n# pid 77 (prog_a) state D\n#   [<0>] erofs_domain_get+0x1\/0x2\n[   3.0] task:kworker\/0:1 state:D\n[   3.0] Call Trace:\n@@ DUMP END/' |
		sed 's/^@@ END rc=0 prog_a$/@@ END rc=137 prog_a/'
}
verdict fail '^    # pid 77 \(prog_a\) state D$' "a timed-out program's dump is printed" < <(timed_out)
verdict fail 'kernel log: clean' "a dump's Call Trace is not a kernel-log failure" < <(timed_out)
verdict fail 'FAIL prog_a \(still alive 60 s after SIGKILL' "a program SIGKILL cannot end fails" < <(timed_out |
	sed 's/^@@ END rc=137 prog_a$/@@ STUCK 60 s after SIGKILL: prog_a\n@@ END rc=137 prog_a/')
verdict fail 'FAIL verdict: .*\(guest silent for 1200 s' "a guest the host's watchdog stopped fails" < <(good_log |
	sed '/^@@ END rc=0 prog_b/,$d'; echo "@@ HOST guest silent for 1200 s: sent an NMI, then killed it")
verdict fail '^     erofs_domain_get\+0x1/0x2$' "a panic's blocked tasks are printed" < <(good_log |
	sed '/^@@ END rc=0 prog_b/,$d'; printf '%s\n' '[  9.0] Kernel panic - not syncing: NMI: Not continuing' \
	'[  9.1] task:mount           state:D stack:0' '[  9.1] Call Trace:' '[  9.1]  ? schedule+0x1/0x2' \
	'[  9.1]  erofs_domain_get+0x1/0x2' "@@ HOST guest silent for 900 s: sent an NMI, then killed it")

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
