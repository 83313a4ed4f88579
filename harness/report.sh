#!/bin/bash
# report.sh [-v VARIANT] [-c CONFIG] [-l SUITELIST] [-a ALLOWLIST] [-k KUNITLIST] LOG...
# Turns guest serial logs into one verdict: every kselftest TAP line
# (prefixed with its program) and KUnit case, the verdict rules below,
# then the kernel-log scan, then "N passed, N failed, N skipped".
# Exit 1 when anything failed, a program died or timed out, a guest did
# not finish, or the kernel log holds a BUG/WARNING/KASAN/lockdep/
# kmemleak/Busy inodes/Oops/Call Trace.
#
# Verdict rules (each failure counts as one failed test, "FAIL verdict: ..."):
#   - a SKIP whose name is not in ALLOWLIST (default
#     harness/suites/skip-allow.list, lines "<name> <reason>", the name as
#     "<program>:<test>" with spaces in the test name written as "_", and
#     "kunit:<suite>.<case>" for KUnit);
#   - a program that printed a TAP plan "1..N" and exited 0 without N results;
#   - a command of SUITELIST (-l) that no guest log shows starting;
#   - a KUnit suite of KUNITLIST (default harness/suites/kunit.list, lines
#     "<suite> <variant>...") expected for VARIANT that did not report, or
#     reported fewer cases than its plan;
#   - a guest that finished without "@@ TAINTED <n>", or with a taint other
#     than TAINT_TEST (bit 18, set whenever KUnit ran);
#   - a program the guest's /init killed at its timeout and still saw 60 s
#     later ("@@ STUCK"), and a guest the host stopped ("@@ HOST ...", from
#     run-guest.sh: no serial output for too long, or its time ran out);
#   - with CONFIG debug: any "@@ LEAKCHECK unavailable: ..." line (printed by
#     the guest's /init and erofs_leakcheck.h when kmemleak or the erofs
#     inode count cannot be used).
# Before the closing lines, each failed kselftest case is repeated with the
# diagnostics it printed (its "# ..." lines), so the tail of the output says
# why, even where only the tail is kept (CI); so are the guest's dumps of
# where a timed-out program and the kernel's blocked tasks were sleeping.
. "$(dirname "$0")/lib.sh"

variant="" cfg="" suitelist=""
allow=$TOP/harness/suites/skip-allow.list
kunitlist=$TOP/harness/suites/kunit.list
while getopts v:c:l:a:k: o; do
	case $o in
	v) variant=$OPTARG ;;
	c) cfg=$OPTARG ;;
	l) suitelist=$OPTARG ;;
	a) allow=$OPTARG ;;
	k) kunitlist=$OPTARG ;;
	*) die "usage: report.sh [-v VARIANT] [-c CONFIG] [-l SUITELIST] [-a ALLOWLIST] [-k KUNITLIST] LOG..." ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || die "usage: report.sh [-v VARIANT] [-c CONFIG] [-l SUITELIST] [-a ALLOWLIST] [-k KUNITLIST] LOG..."
for f in "$allow" "$kunitlist" $suitelist; do
	[ -r "$f" ] || die "missing $f"
done

awk -v variant="$variant" -v cfg="$cfg" -v suitelist="$suitelist" \
    -v allowlist="$allow" -v kunitlist="$kunitlist" '
function res(kind, name, extra) {
	if (kind == "ok") pass++
	else if (kind == "skip") skip++
	else fail++
	printf "  %-4s %s%s\n", kind == "fail" ? "FAIL" : kind, name, extra
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
# A stack line worth reading: not a "? " guess, not a register dump.
function worth(l) {
	return l !~ /^ *\? / && l !~ /^ *(R[SABCD0-9][A-Z0-9]*|[CDEFG]S|CR[0-9]|DR[0-9]|Code): / &&
		l !~ /^(Tainted|Hardware name|Kernel Offset): / && l !~ /^[ =]*$/
}
function offending(l) {
	if (!((FILENAME ": " l) in nseen)) seen[++nbadu] = FILENAME ": " l
	nseen[FILENAME ": " l]++; nbad++
}
# A SKIP counts as a skip only when the allow-list names it with a reason.
function skipped(key, name) {
	if (key in allowed) res("skip", name, "")
	else res("fail", name, " (SKIP not in " allowlist ")")
}
function skipkey(prefix, name) {
	sub(/ *# *(SKIP|skip).*/, "", name)
	gsub(/ /, "_", name)
	return prefix ":" name
}
BEGIN {
	while ((getline l < allowlist) > 0) {
		l = trim(l)
		if (l == "" || l ~ /^#/) continue
		n = split(l, w, /[ \t]+/)
		if (n < 2) { print "report.sh: " allowlist ": no reason for " w[1] > "/dev/stderr"; continue }
		allowed[w[1]] = 1
	}
	while ((getline l < kunitlist) > 0) {
		l = trim(l)
		if (l == "" || l ~ /^#/) continue
		n = split(l, w, /[ \t]+/)
		for (i = 2; i <= n; i++)
			if (w[i] == variant) kwant[w[1]] = 1
	}
	if (suitelist != "")
		while ((getline l < suitelist) > 0) {
			l = trim(l)
			if (l == "" || l ~ /^#/) continue
			sub(/^[^ \t]+[ \t]+/, "", l)
			want[++nwant] = trim(l)
		}
	split("P F S R M B U D A W C I O E L K X T N", tflag, " ")
}
# Per-file state.  Portable awk (Debian'"'"'s default is mawk, which has no
# BEGINFILE/ENDFILE): a file starts at FNR == 1, ends at the next or at END.
function beginfile() { fname = FILENAME; prog = ""; done = 0; inprog = 0; guest = 0; tainted = ""; ndiag = 0; indump = 0; inpanic = 0 }
FNR == 1 { if (fname != "") endfile(); beginfile() }
# What a timed-out program and the kernel were doing (the dump of /init,
# sysrq w included): kept for the end of the report, not scanned as
# kernel-log failures, since the timeout already failed the program.
/^@@ DUMP BEGIN/ { indump = 1; dumpl[++ndumpl] = "  " (prog != "" ? prog : fname) ":"; next }
/^@@ DUMP END/ { indump = 0; next }
indump {
	l = $0; sub(/^\[ *[0-9]+\.[0-9]+\] /, "", l)
	if (ndumpl < 160 && worth(l)) dumpl[++ndumpl] = "    " l
	next
}
/^@@ STUCK / { progfail = 1; res("fail", prog, " (still alive 60 s after SIGKILL: stuck in the kernel)"); next }
/^@@ HOST / { l = $0; sub(/^@@ HOST /, "", l); res("fail", "verdict: " fname, " (" l ")"); next }
# Kernel messages carry a printk timestamp; user output does not.
/^\[ *[0-9]+\.[0-9]+\] / {
	line = $0
	sub(/^\[ *[0-9]+\.[0-9]+\] /, "", line)
	if (line ~ /^    # Subtest: /) {
		ksuite = line; sub(/^    # Subtest: /, "", ksuite); ksuite = trim(ksuite)
		kstarted[ksuite] = 1; kplan[ksuite] = -1; kcases[ksuite] = 0
	} else if (line ~ /^    1\.\.[0-9]+/ && ksuite != "") {
		p = line; sub(/^    1\.\./, "", p); kplan[ksuite] = p + 0
	} else if (line ~ /^    (not )?ok [0-9]+ /) {
		name = line; sub(/^    (not )?ok [0-9]+ /, "", name)
		kcases[ksuite]++
		if (line ~ /^    not ok/) res("fail", "kunit: " name, "")
		else if (name ~ /# SKIP/) skipped(skipkey("kunit", ksuite "." name), "kunit: " name)
		else res("ok", "kunit: " name, "")
	} else if (line ~ /^(not )?ok [0-9]+ /) {
		s = line; sub(/^(not )?ok [0-9]+ /, "", s); sub(/ .*/, "", s)
		kreported[s] = 1
		if (line ~ /^not ok/) kfailed[s] = 1
		ksuite = ""
	}
	# After a panic (the NMI of the host'"'"'s watchdog, panic_print): the
	# running and blocked tasks, the locks and the CPUs, condensed; the
	# panic line itself is what fails the log.
	if (inpanic) {
		if (line ~ /^task:/) pkeep = line ~ /state:[DR] /
		else if (line ~ /^(NMI backtrace for cpu|Showing all locks)/) pkeep = 1
		if (pkeep && worth(line) && npanicl < 150) panicl[++npanicl] = "    " line
		next
	}
	if (line ~ /Kernel panic/) { inpanic = 1; pkeep = 1; panicl[++npanicl] = "  " fname ":"; panicl[++npanicl] = "    " line }
	if (line ~ /(BUG:|WARNING:|KASAN:|INFO: |Oops|general protection fault|Call Trace:|Kernel panic|Busy inodes|kmemleak: .*new suspected|UBSAN:|list_(add|del) corruption|ODEBUG:)/)
		offending(line)
	next
}
/^unreferenced object/ { offending("kmemleak: " $0); next }
/^@@ FATAL/ { offending($0); next }
/^@@ GUEST READY/ { guest = 1; next }
/^@@ TAINTED / { tainted = $3; next }
/^@@ LEAKCHECK unavailable/ {
	if (cfg == "debug") leakbad[++nleak] = FILENAME ": " (prog != "" ? prog ": " : "") $0
	next
}
/^@@ BEGIN / {
	cmd = $0; sub(/^@@ BEGIN /, "", cmd); started[trim(cmd)] = 1
	# the program: the first word after any VAR=value prefixes
	for (pi = 3; pi < NF && $pi ~ /^[A-Za-z_][A-Za-z0-9_]*=/; pi++) ;
	prog = $pi; sub(/.*\//, "", prog); inprog = 1; progfail = 0; ntap = 0; summary = ""; plan = -1
	next
}
inprog && /^1\.\.[0-9]+/ && plan < 0 { plan = $1; sub(/^1\.\./, "", plan); plan += 0; next }
# A host check without TAP lines counts as one test, judged by its
# closing "N passed, N failed" line.
inprog && /^[0-9]+ passed, [0-9]+ failed/ { summary = $0; next }
/^@@ END rc=/ {
	rc = $3; sub(/rc=/, "", rc)
	if (ntap == 0 && summary != "") {
		split(summary, w, " ")
		res(rc == 0 && w[3] == 0 ? "ok" : "fail", prog, " (" summary ")")
	} else if (rc != 0 && !progfail)
		res("fail", prog, " (exit status " rc (rc == 137 ? ": timed out" : "") ")")
	else if (ntap == 0 && rc == 0)
		res("fail", prog, " (printed no test result)")
	else if (rc == 0 && plan >= 0 && ntap != plan)
		res("fail", "verdict: " prog, " (TAP plan 1.." plan " not met: " ntap " result(s))")
	inprog = 0; next
}
/^@@ GUEST DONE/ { done = 1; next }
# The diagnostics of a case: its "# " lines since its "#  RUN" line.
inprog && /^#  RUN / { ndiag = 0; next }
inprog && /^# / && !/^# +(OK|FAIL|SKIP) / {
	if (ndiag < 12) diag[++ndiag] = $0
	next
}
inprog && /^(not )?ok [0-9]+ / {
	name = $0; sub(/^(not )?ok [0-9]+ /, "", name); ntap++
	if ($1 == "not") {
		progfail = 1; res("fail", prog ": " name, "")
		why[++nwhy] = "  " prog ": " name
		for (i = 1; i <= ndiag; i++) why[++nwhy] = "      " diag[i]
	} else if (name ~ /# (SKIP|skip)/) skipped(skipkey(prog, name), prog ": " name)
	else res("ok", prog ": " name, "")
	ndiag = 0
	next
}
function endfile() {
	if (inprog) res("fail", prog, " (guest died while it ran)")
	if (!done) res("fail", fname, " (guest did not finish)")
	if (guest && done) {
		if (tainted == "")
			res("fail", "verdict: " fname, " (the guest did not report /proc/sys/kernel/tainted)")
		else if (tainted !~ /^[0-9]+$/)
			res("fail", "verdict: " fname, " (unreadable taint \"" tainted "\")")
		else {
			t = tainted + 0; flags = ""
			for (b = 0; b < 19; b++) {
				if (b != 18 && int(t / 2 ^ b) % 2) flags = flags tflag[b + 1]
			}
			if (flags != "" || t >= 2 ^ 19)
				res("fail", "verdict: " fname, " (kernel tainted " tainted ": " flags ")")
		}
	}
}
END {
	if (fname != "") endfile()
	for (i = 1; i <= nwant; i++)
		if (!(want[i] in started))
			res("fail", "verdict: " want[i], " (listed in " suitelist ", never started)")
	for (s in kwant) {
		if (!(s in kstarted) || !(s in kreported))
			res("fail", "verdict: kunit: " s, " (suite did not report)")
		else if (kplan[s] < 0 || kcases[s] != kplan[s])
			res("fail", "verdict: kunit: " s, " (plan 1.." kplan[s] " not met: " kcases[s] " case(s))")
	}
	if (nleak) {
		res("fail", "verdict: leak checks", " (could not run on the debug config: " nleak " line(s))")
		for (i = 1; i <= nleak && i <= 20; i++) print "    " leakbad[i]
	}
	if (nwhy) {
		print "failed tests, with what they printed:"
		for (i = 1; i <= nwhy && i <= 200; i++) print why[i]
	}
	if (nbad) {
		printf "kernel log: %d offending line(s):\n", nbad
		for (i = 1; i <= nbadu && i <= 60; i++)
			print "  " seen[i] (nseen[seen[i]] > 1 ? " (x" nseen[seen[i]] ")" : "")
		fail++
	} else {
		print "kernel log: clean (no BUG/WARNING/KASAN/lockdep/kmemleak/Busy inodes/Oops/Call Trace)"
	}
	# Last, where CI keeps the output: where things were when they hung.
	if (ndumpl) {
		print "where the timed-out programs were (guest dump):"
		for (i = 1; i <= ndumpl; i++) print dumpl[i]
	}
	if (npanicl) {
		print "where the guest was when it panicked (running and blocked tasks, locks, CPUs):"
		for (i = 1; i <= npanicl; i++) print panicl[i]
	}
	printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
	exit fail ? 1 : 0
}' "$@"
