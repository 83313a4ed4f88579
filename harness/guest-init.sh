#!/bin/sh
# /init of the test guest (busybox).  Mounts the cache disk (vda, ext4)
# and the data disk (vdb, ext4, read-only), runs the programs listed in
# /etc/tests (one command line each, with a per-test timeout), scans
# kmemleak and reboots.  The host reads everything from the serial
# console; lines starting with "@@" frame the tests.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /cache /data /mnt
mount -t ext4 /dev/vda /cache || echo "@@ FATAL cannot mount the cache disk"
mount -t ext4 -o ro /dev/vdb /data || echo "@@ FATAL cannot mount the data disk"
# A leak check that cannot run says so: the host fails the debug config
# on any "@@ LEAKCHECK unavailable" line.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo clear > /sys/kernel/debug/kmemleak ||
		echo "@@ LEAKCHECK unavailable: /init: writing clear to kmemleak failed"
else
	echo "@@ LEAKCHECK unavailable: /init: no /sys/kernel/debug/kmemleak"
fi
echo "@@ GUEST READY $(uname -r)"
# alive PID: the process exists and is not a zombie.
alive() {
	st=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# session_alive SID: a process of session SID exists and is not a zombie.
session_alive() {
	sed 's/.*) //' /proc/[0-9]*/stat 2>/dev/null |
		awk -v s="$1" '$4 == s && $1 != "Z" { n++ } END { exit !n }'
}

# dump SID: where every process of session SID and every blocked task of
# the kernel sleeps, framed so the host reports it with the timeout.
dump() {
	sid=$1
	echo "@@ DUMP BEGIN"
	for d in /proc/[0-9]*; do
		set -- $(sed 's/.*) //' "$d/stat" 2>/dev/null)
		[ "${4:-}" = "$sid" ] || continue
		echo "# pid ${d#/proc/} ($(cat "$d/comm" 2>/dev/null)) state $1"
		sed 's/^/#   /' "$d/stack" 2>/dev/null
	done
	[ -w /proc/sysrq-trigger ] && echo w >/proc/sysrq-trigger
	echo "@@ DUMP END"
}

# run TMO CMD: CMD in a session of its own.  After TMO seconds, dump and
# kill the whole session (the program, its test children, its daemon).
# A session still there 60 s after SIGKILL is stuck in the kernel: say
# so and go on without it, so one hang cannot silence the whole guest.
run() {
	setsid sh -c "$2" &
	pid=$!
	t=0
	while alive $pid; do
		if [ $t -ge "$1" ]; then
			echo "@@ TIMEOUT after ${1}s: $2"
			dump $pid
			kill -KILL -$pid 2>/dev/null
			t=0
			while session_alive $pid; do
				if [ $t -ge 60 ]; then
					echo "@@ STUCK 60 s after SIGKILL: $2"
					dump $pid
					return 137
				fi
				sleep 1
				t=$((t + 1))
			done
			break
		fi
		sleep 1
		t=$((t + 1))
	done
	wait $pid
}

cd /tmp
while read -r tmo cmd; do
	case $tmo in ''|'#'*) continue ;; esac
	echo "@@ BEGIN $cmd"
	run "$tmo" "$cmd"
	echo "@@ END rc=$? $cmd"
	# A program that failed or was killed may leave its daemon bound to
	# /dev/cachefiles; the next program would then fail at once with
	# "busy".  Its own result stands; the next one starts clean.
	if killall -q erofs_ondemand_daemon 2>/dev/null; then
		echo "@@ NOTE killed a daemon left behind by: $cmd"
		sleep 1
		killall -q -9 erofs_ondemand_daemon 2>/dev/null
	fi
done < /etc/tests
if [ -w /sys/kernel/debug/kmemleak ]; then
	{ echo scan > /sys/kernel/debug/kmemleak && sleep 1 &&
	  echo scan > /sys/kernel/debug/kmemleak; } ||
		echo "@@ LEAKCHECK unavailable: /init: the final kmemleak scan failed"
	cat /sys/kernel/debug/kmemleak
else
	echo "@@ LEAKCHECK unavailable: /init: no /sys/kernel/debug/kmemleak at the end"
fi
# The host fails any taint but TAINT_TEST (KUnit ran).
echo "@@ TAINTED $(cat /proc/sys/kernel/tainted)"
echo "@@ GUEST DONE"
# No sync: the disks are scratch or read-only, and a mount stuck in the
# kernel (hostile_keylen_test on stock) would block sync forever.
reboot -f -n
