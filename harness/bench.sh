#!/bin/bash
# bench.sh: `make bench`.  Stock 6.12 vs 6.12 + the series, same bench
# kernel config, same data disk, same guest programs, one guest each:
#   P1/P2  sharing: daemon OPENs, bytes served, cache bytes on disk
#   P3     registration cost and mount latency at 100/1,000/10,000 blobs
#   P4     mounts/s with K workers in K domains vs one domain
#   mem    kernel memory per registered blob
#   P6     mount latency in one domain while another is torn down
#          behind a slow daemon
# P1-P3 run in one guest per variant (suites/bench.list); P4 in
# BENCH_P4_ROUNDS (2) more guests per variant, the variants alternating
# (suites/bench-p4.list), because its rates follow the shared host's load.
# Results: a table on stdout, build/bench/results.json, build/bench/*.png.
# BENCH_VARIANTS="stock series", BENCH_LIST=file, BENCH_P4_LIST=file and
# BENCH_P4_ROUNDS=N narrow a run down.
. "$(dirname "$0")/lib.sh"

out=$BUILD/bench
variants=${BENCH_VARIANTS:-stock series}
list=${BENCH_LIST:-$TOP/harness/suites/bench.list}
p4list=${BENCH_P4_LIST:-$TOP/harness/suites/bench-p4.list}
rounds=${BENCH_P4_ROUNDS:-2}
cpus=2 mem=3072
mkdir -p "$out"

"$TOP/harness/deps.sh" || exit 1
"$TOP/harness/base.sh" || exit 1
phase "bench: Linux $(base_version) (Debian linux-source), stock vs stock + $(ls "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -vc 0000-cover) patches"
note "config: allnoconfig + configs/base.config + configs/bench.config ($(grep -h '^CONFIG_' "$TOP/configs/bench.config" | tr '\n' ' '))"
note "guests: $(qemu-system-x86_64 --version | head -1), TCG (-accel tcg -cpu max, no KVM), -smp $cpus, ${mem} MiB; host: $(nproc) cores"

declare -A kernel
for v in $variants; do
	kernel[$v]=$("$TOP/harness/kbuild.sh" "$v" bench) || exit 1
done

phase "building tools and guest programs"
progs=$(cat "$list" "$p4list" | awk '!/^#/ && NF { print $2 }' | sort -u)
if ! make -s -C "$TOP" tools; then
	# Someone else's test not building must not stop the benchmarks.
	note "make tools failed: building only what the benchmarks need"
	make -s -C "$TOP" build/tools/erofs-mkimage build/tools/guest/erofs_ondemand_daemon \
		$(for b in $progs; do echo "build/tools/guest/$b"; done) ||
		die "building the benchmark tools failed"
fi
mkimage=$BUILD/tools/erofs-mkimage

if [ ! -f "$out/data.img" ] ||
   [ -n "$(find "$TOP/harness/bench-data.sh" "$mkimage" -newer "$out/data.img" 2>/dev/null)" ]; then
	"$TOP/harness/bench-data.sh" "$mkimage" "$out/data" || exit 1
else
	note "bench data up to date: $out/data.img"
fi

bins=("$BUILD/tools/guest/erofs_ondemand_daemon")
for b in $progs; do
	[ -x "$BUILD/tools/guest/$b" ] || die "no guest program $b (listed in $list)"
	bins+=("$BUILD/tools/guest/$b")
done

rc=0
guest() {	# guest VARIANT LIST LOG
	"$TOP/harness/initramfs.sh" "$(dirname "$3")/initramfs.cpio.gz" "$2" "${bins[@]}" || exit 1
	# loglevel=4: erofs' per-mount info lines would flood the slow serial port
	GUEST_CMDLINE="loglevel=4" "$TOP/harness/run-guest.sh" "${kernel[$1]}" \
		"$(dirname "$3")/initramfs.cpio.gz" "$out/data.img" "$3" \
		"${GUEST_TIMEOUT:-2400}" "$cpus" "$mem" || { note "$1 guest did not finish"; rc=1; }
	awk '/^@@ END rc=/ && $3 != "rc=0" { bad = 1; print "   FAILED: " $0 }
	     /^# bench: FAILED/ { print "   " $0 }
	     END { exit bad }' "$3" || rc=1
}
for v in $variants; do
	mkdir -p "$out/$v"
	rm -f "$out/$v"/*.log
	guest "$v" "$list" "$out/$v/serial.log"
done
# P4 is throughput on a host shared with other work: alternate the
# variants round by round so that neither gets the quiet hours.
for ((r = 1; r <= rounds; r++)); do
	order=$variants
	[ $((r % 2)) = 0 ] && order=$(echo $variants | tr ' ' '\n' | tac | tr '\n' ' ')
	for v in $order; do
		note "P4 round $r/$rounds: $v"
		guest "$v" "$p4list" "$out/$v/p4-$r.log"
	done
done

phase "results (Linux $(base_version), bench config, QEMU TCG, $cpus vCPUs)"
"$TOP/harness/bench-report.sh" "$out" || rc=1
note "make bench wall time: $(elapsed)"
[ $rc = 0 ] || die "some benchmark did not complete (see the logs in $out/*/serial.log)"
