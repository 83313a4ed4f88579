#!/bin/bash
# report.sh LOG...
# Turns guest serial logs into one verdict: every kselftest TAP line
# (prefixed with its program) and KUnit case, then the kernel-log scan,
# then "N passed, N failed, N skipped".  Exit 1 when anything failed,
# a program died or timed out, a guest did not finish, or the kernel log
# holds a BUG/WARNING/KASAN/lockdep/kmemleak/Busy inodes/Oops/Call Trace.
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: report.sh LOG..."
awk '
function res(kind, name, extra) {
	if (kind == "ok") pass++
	else if (kind == "skip") skip++
	else fail++
	printf "  %-4s %s%s\n", kind == "fail" ? "FAIL" : kind, name, extra
}
BEGINFILE { prog = ""; done = 0; inprog = 0 }
# Kernel messages carry a printk timestamp; user output does not.
/^\[ *[0-9]+\.[0-9]+\] / {
	line = $0
	sub(/^\[ *[0-9]+\.[0-9]+\] /, "", line)
	if (line ~ /^    (not )?ok [0-9]+ /) {
		name = line; sub(/^    (not )?ok [0-9]+ /, "", name)
		kind = line ~ /^    not ok/ ? "fail" : (name ~ /# SKIP/ ? "skip" : "ok")
		res(kind, "kunit: " name, "")
	}
	if (line ~ /(BUG:|WARNING:|KASAN:|INFO: |Oops|general protection fault|Call Trace:|Kernel panic|Busy inodes|kmemleak: .*new suspected|UBSAN:|list_(add|del) corruption|ODEBUG:)/) {
		bad[++nbad] = FILENAME ": " $0
	}
	next
}
/^unreferenced object/ { bad[++nbad] = FILENAME ": kmemleak: " $0; next }
/^@@ FATAL/ { bad[++nbad] = FILENAME ": " $0; next }
/^@@ BEGIN / { prog = $3; sub(/.*\//, "", prog); inprog = 1; progfail = 0; ntap = 0; summary = ""; next }
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
	inprog = 0; next
}
/^@@ GUEST DONE/ { done = 1; next }
inprog && /^(not )?ok [0-9]+ / {
	name = $0; sub(/^(not )?ok [0-9]+ /, "", name); ntap++
	if ($1 == "not") { progfail = 1; res("fail", prog ": " name, "") }
	else if (name ~ /# (SKIP|skip)/) res("skip", prog ": " name, "")
	else res("ok", prog ": " name, "")
	next
}
ENDFILE {
	if (inprog) res("fail", prog, " (guest died while it ran)")
	if (!done) res("fail", FILENAME, " (guest did not finish)")
}
END {
	if (nbad) {
		printf "kernel log: %d offending line(s):\n", nbad
		for (i = 1; i <= nbad && i <= 60; i++) print "  " bad[i]
		fail++
	} else {
		print "kernel log: clean (no BUG/WARNING/KASAN/lockdep/kmemleak/Busy inodes/Oops/Call Trace)"
	}
	printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
	exit fail ? 1 : 0
}' "$@"
