#!/bin/bash
# run-suite.sh VARIANT CONFIG SUITE
# The whole loop for one variant: packages, base tree, kernel, tools,
# test data, initramfs, guest boot, verdict.  SUITE names
# harness/suites/SUITE.list ("<timeout-s> <command>" per line).
# Leaves everything under build/run/VARIANT-SUITE/.
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: run-suite.sh VARIANT CONFIG SUITE}
cfg=${2:?}
suite=${3:?}
list=$TOP/harness/suites/$suite.list
[ -f "$list" ] || die "no suite $list"

"$TOP/harness/deps.sh" || exit 1
"$TOP/harness/base.sh" || exit 1
phase "base: Linux $(base_version), variant $variant, config $cfg, suite $suite"
kernel=$("$TOP/harness/kbuild.sh" "$variant" "$cfg") || exit 1

phase "building tools and tests"
guest_tools_and_data

SELFTEST_DIR=tools/testing/selftests/filesystems/erofs
run=$BUILD/run/$variant-$suite
mkdir -p "$run"

phase "packing initramfs"
"$TOP/harness/initramfs.sh" "$run/initramfs.cpio.gz" "$list" "$BUILD"/tools/guest/* || exit 1

rc=0
logs=$run/serial.log
if [ "$suite" = check ]; then
	# Host checks of the tools, framed like a guest log for report.sh.
	phase "host checks of the tools"
	{
		for t in "$BUILD"/tools/*_hostcheck; do
			echo "@@ BEGIN host/$(basename "$t")"
			"$t"
			echo "@@ END rc=$? host/$(basename "$t")"
		done
		echo "@@ BEGIN host/report_hostcheck"
		"$TOP/harness/report_hostcheck.sh"
		echo "@@ END rc=$? host/report_hostcheck"
		echo "@@ BEGIN host/mkimage_hostcheck"
		"$TOP/$SELFTEST_DIR/mkimage_hostcheck.sh" "$BUILD/tools/erofs-mkimage" "$run/mkimage-check"
		echo "@@ END rc=$? host/mkimage_hostcheck"
		echo "@@ GUEST DONE"
	} >"$run/host.log" 2>&1
	grep -E '^(not )?ok ' "$run/host.log" | grep -v '^ok ' | sed 's/^/    /'
	note "host checks: $(grep -c '^ok ' "$run/host.log") ok, $(grep -c '^not ok ' "$run/host.log") not ok"
	logs="$run/host.log $logs"
fi
"$TOP/harness/run-guest.sh" "$kernel" "$run/initramfs.cpio.gz" "$BUILD/guest/data.img" \
	"$run/serial.log" "${GUEST_TIMEOUT:-3000}" || rc=1
phase "results: Linux $(base_version) $variant ($cfg config), log $run/serial.log"
"$TOP/harness/report.sh" -v "$variant" -c "$cfg" -l "$list" $logs || rc=1
exit $rc
