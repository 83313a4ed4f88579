# Shared helpers for the harness scripts (sourced, not run).
# Every long step prints one line per phase with the elapsed time.

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
HARNESS_T0=${HARNESS_T0:-$(date +%s)}
export TOP BUILD HARNESS_T0

elapsed() {
	local s=$(( $(date +%s) - HARNESS_T0 ))
	printf '%02d:%02d' $((s / 60)) $((s % 60))
}

phase() {
	printf '[%s] == %s\n' "$(elapsed)" "$*"
}

note() {
	printf '[%s]    %s\n' "$(elapsed)" "$*"
}

die() {
	printf '[%s] ERROR: %s\n' "$(elapsed)" "$*" >&2
	exit 1
}

# The pristine base tree (a git repo whose tag `base` is the untouched
# source) and the exact version it holds.
base_tree() {
	echo "$BUILD/base/linux"
}

base_version() {
	make -s -C "$(base_tree)" kernelversion 2>/dev/null
}

# Files the series adds: everything under these kernel-tree paths of
# this repository is copied into the series tree as-is.
NEW_FILE_DIRS="fs tools/testing/selftests/filesystems/erofs Documentation"

new_files() {
	local d
	for d in $NEW_FILE_DIRS; do
		[ -d "$TOP/$d" ] && (cd "$TOP" && find "$d" -type f)
	done | LC_ALL=C sort
}

series_patches() {
	ls "${PATCHES:-$TOP/patches}"/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null |
		grep -v '/0000-cover-letter.patch$' || true
}

# Run a command, show a progress line every 30 s with the last line of
# its log, keep the full output in $log.
run_logged() {
	local log=$1 what=$2
	shift 2
	"$@" >"$log" 2>&1 &
	local pid=$! rc
	while kill -0 $pid 2>/dev/null; do
		sleep 5
		if [ $(( ($(date +%s) - HARNESS_T0) % 30 )) -lt 5 ] && kill -0 $pid 2>/dev/null; then
			note "$what: $(tail -n 1 "$log" | cut -c1-90)"
		fi
	done
	wait $pid
	rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 40 "$log" >&2
		die "$what failed (exit $rc), full log: $log"
	fi
}

# What a guest needs beside its kernel, under the tools lock: the tools
# and test programs (make tools), and the data disk build/guest/data.img,
# made anew when mkdata or erofs-mkimage is newer than it.
guest_tools_and_data() {
	exec 8>"$BUILD/.tools.lock"
	flock 8 || die "cannot lock the tools"
	make -s -C "$TOP" tools || die "building the tools failed"
	if [ ! -f "$BUILD/guest/data.img" ] ||
	   [ -n "$(find "$TOP/harness/mkdata.sh" "$TOP/harness/mkdata.d" "$BUILD/tools/erofs-mkimage" \
		-newer "$BUILD/guest/data.img" 2>/dev/null)" ]; then
		mkdir -p "$BUILD/guest"
		"$TOP/harness/mkdata.sh" "$BUILD/tools/erofs-mkimage" "$BUILD/guest/data" || exit 1
	fi
	flock -u 8
}
