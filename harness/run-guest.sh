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
phase "booting guest (TCG, $cpus cpus, ${mem}M, timeout ${tmo}s): $(basename "$log")"
: >"$log"
timeout -s KILL "$tmo" qemu-system-x86_64 \
	-accel tcg -machine "${GUEST_MACHINE:-q35}" -cpu max -smp "$cpus" -m "$mem" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 ${STRESS:+STRESS=$STRESS} ${FUZZ:+FUZZ=$FUZZ} ${FUZZ_SEED:+FUZZ_SEED=$FUZZ_SEED} ${GUEST_CMDLINE:-}" \
	-drive file="$cache",if=virtio,format=raw,cache=unsafe \
	-drive file="$data",if=virtio,format=raw,readonly=on \
	-display none -monitor none -serial stdio -no-reboot </dev/null 2>&1 |
	sed -u 's/\r$//' | tee "$log" |
	grep --line-buffered -E '^(@@ |(not )?ok [0-9]+ |# (PASSED|FAILED|Totals|demo:)|.*(BUG:|WARNING:|Kernel panic))' |
	while IFS= read -r line; do note "guest: $line"; done
rm -f "$cache"
grep -q '^@@ GUEST DONE' "$log"
