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
cd /tmp
while read -r tmo cmd; do
	case $tmo in ''|'#'*) continue ;; esac
	echo "@@ BEGIN $cmd"
	timeout -s KILL "$tmo" sh -c "$cmd"
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
