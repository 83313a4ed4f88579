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
make -s -C "$TOP" tools || die "building the tools failed"

run=$BUILD/run/$variant-$suite
mkdir -p "$run"
if [ ! -f "$BUILD/guest/data.img" ] ||
   [ -n "$(find "$TOP/harness/mkdata.sh" "$TOP/harness/mkdata.d" "$BUILD/tools/erofs-mkimage" \
	-newer "$BUILD/guest/data.img" 2>/dev/null)" ]; then
	mkdir -p "$BUILD/guest"
	"$TOP/harness/mkdata.sh" "$BUILD/tools/erofs-mkimage" "$BUILD/guest/data" || exit 1
fi

phase "packing initramfs"
"$TOP/harness/initramfs.sh" "$run/initramfs.cpio.gz" "$list" "$BUILD"/tools/guest/* || exit 1

rc=0
"$TOP/harness/run-guest.sh" "$kernel" "$run/initramfs.cpio.gz" "$BUILD/guest/data.img" \
	"$run/serial.log" "${GUEST_TIMEOUT:-2400}" || rc=1
phase "results: Linux $(base_version) $variant ($cfg config), log $run/serial.log"
"$TOP/harness/report.sh" "$run/serial.log" || rc=1
exit $rc
