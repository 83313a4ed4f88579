#!/bin/bash
# run-guest.sh BZIMAGE INITRAMFS DATAIMG LOG [TIMEOUT_S] [CPUS] [MEM_MB]
# Boots the guest under QEMU TCG with a fresh ext4 cache disk (vda) and
# the data disk (vdb), echoes the test framing and TAP lines as they
# arrive, keeps the whole serial log in LOG.  Exit status: 0 when the
# guest reached "@@ GUEST DONE", 1 otherwise (crash, hang, timeout).
. "$(dirname "$0")/lib.sh"

kernel=${1:?}; initrd=${2:?}; data=${3:?}; log=${4:?}
tmo=${5:-1800}; cpus=${6:-2}; mem=${7:-2048}

cache=$(dirname "$log")/cache.img
rm -f "$cache"
truncate -s 2G "$cache"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$cache" ||
	die "mkfs.ext4 of the cache disk failed"

# q35 by default: on the i440fx machine ("pc") the firmware's _PRT method
# builds its routing table in an AML loop that, under TCG on a loaded host,
# runs into ACPICA's 30 s loop timeout; the virtio disks then get no IRQ
# and the guest hangs until its timeout.  GUEST_MACHINE=pc brings it back.
# The host's watchdog: a guest whose serial console says nothing for
# GUEST_SILENCE seconds (default 900; in a whole `make check` the log never
# stood still for more than 10 s, as every mount is logged and every case
# ends with a line, and the guest's /init kills a program at its own
# timeout) or runs out of time is frozen or lost.  It gets an NMI, which
# with unknown_nmi_panic and panic_print makes it print every task, every
# lock held and every CPU's backtrace, and is then killed.  The reason goes
# to the end of LOG as "@@ HOST ...", which report.sh fails.  STRESS and
# FUZZ runs may keep one case busy for longer: only their time limit
# applies, unless GUEST_SILENCE says otherwise.
silence=${GUEST_SILENCE:-900}
[ -n "${STRESS:-}${FUZZ:-}" ] && silence=${GUEST_SILENCE:-$tmo}
run=$(dirname "$log")
mon=$run/monitor
rm -f "$mon.in" "$mon.out" "$run/qemu.pid" "$run/watchdog"
mkfifo "$mon.in" "$mon.out" || die "mkfifo $mon.in failed"
watchdog() {
	local t=0 quiet=0 size last=-1 why=""
	while sleep 10; do
		t=$((t + 10))
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then
			last=$size quiet=0
		else
			quiet=$((quiet + 10))
		fi
		if [ $quiet -ge "$silence" ]; then
			why="guest silent for ${quiet} s: sent an NMI, then killed it"
		elif [ $t -ge "$tmo" ]; then
			why="guest still running after its ${tmo} s: sent an NMI, then killed it"
		else
			continue
		fi
		echo "$why" >"$run/watchdog"
		note "watchdog: $why"
		# Non-blocking: QEMU holds the fifo open read-write.
		timeout 10 sh -c "echo nmi >'$mon.in'" || true
		sleep 60
		kill -KILL "$(cat "$run/qemu.pid")" 2>/dev/null
		return
	done
}

phase "booting guest (TCG, $cpus cpus, ${mem}M, timeout ${tmo}s, silence ${silence}s): $(basename "$log")"
: >"$log"
watchdog &
wdog=$!
qemu-system-x86_64 \
	-accel tcg -machine "${GUEST_MACHINE:-q35}" -cpu max -smp "$cpus" -m "$mem" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 unknown_nmi_panic panic_print=0x49 ${STRESS:+STRESS=$STRESS} ${FUZZ:+FUZZ=$FUZZ} ${FUZZ_SEED:+FUZZ_SEED=$FUZZ_SEED} ${GUEST_CMDLINE:-}" \
	-drive file="$cache",if=virtio,format=raw,cache=unsafe \
	-drive file="$data",if=virtio,format=raw,readonly=on \
	-display none -monitor pipe:"$mon" -pidfile "$run/qemu.pid" \
	-serial stdio -no-reboot </dev/null 2>&1 |
	sed -u 's/\r$//' | tee "$log" |
	grep --line-buffered -E '^(@@ |(not )?ok [0-9]+ |# (PASSED|FAILED|Totals|demo:)|.*(BUG:|WARNING:|Kernel panic))' |
	while IFS= read -r line; do note "guest: $line"; done
kill "$wdog" 2>/dev/null
wait "$wdog" 2>/dev/null
[ -s "$run/watchdog" ] && echo "@@ HOST $(cat "$run/watchdog")" >>"$log"
rm -f "$cache" "$mon.in" "$mon.out" "$run/qemu.pid" "$run/watchdog"
grep -q '^@@ GUEST DONE' "$log"
