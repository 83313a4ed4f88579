#!/bin/bash
# series.sh check|export
#   check:  export the series (as below), git am every exported patch onto
#           the pristine base, run scripts/checkpatch.pl --strict on each
#           kernel patch, build every prefix with EROFS_FS_ONDEMAND=y (and
#           the KUnit tests) and =n; then apply and build each stable fix
#           (Cc: stable) alone on the base.  Any error or warning fails.
#           Each stable fix alone is also built with the debug config
#           (configs/base.config + configs/debug.config) and booted: the
#           guest runs the test cases harness/stable-tests.list names for
#           it, judged by report.sh (the kernel-log scan covers the whole
#           guest run).
#           SERIES_CHECK_FROM=N applies patches 1..N-1 without checking
#           them (to resume a run; a number past the last patch skips
#           every prefix); SERIES_CHECK_STABLE=0 skips the stable-alone
#           builds and tests; SERIES_CHECK_REPRO=0 only the tests;
#           SERIES_CHECK_STABLE_ONLY="N M" takes only exported patches N, M
#           as the stable fixes; SERIES_CHECK_REPRO_WITHOUT_FIX=1 runs each
#           fix's tests on the pristine base instead (teeth: each must
#           fail there; logs in build/v-check/repro-without-fix/).
#           Each check that passed is appended to build/v-check/passed.txt.
#   export: write the combined upstream series into build/series/: the
#           patches, with each new file folded into the first patch that
#           uses it, the remaining new files (selftests) as a last patch,
#           and the cover letter.
#   edit:   leave the series as commits (one per patch, git am) in the
#           worktree build/edit/linux, with the new files copied in
#           (untracked), to change, split, reorder or add patches there.
#   refresh: write the commits of build/edit/linux back to patches/ with
#           git format-patch (the cover letter is kept), and copy back the
#           new kernel files (fs/, Documentation/) that were edited there.
. "$(dirname "$0")/lib.sh"

mode=${1:?usage: series.sh check|export}
"$TOP/harness/deps.sh" || exit 1
"$TOP/harness/base.sh" || exit 1
base=$(base_tree)
# Work on a snapshot, so that patches/ may change while this runs.
snap=$BUILD/series-snapshot
rm -rf "$snap"
mkdir -p "$snap"
for p in $(series_patches); do cp "$p" "$snap/"; done
patches=$(ls "$snap"/*.patch 2>/dev/null)
[ -n "$patches" ] || die "patches/ holds no patch"

# fresh_tree DIR: a worktree of the pristine base at DIR
fresh_tree() {
	if [ ! -d "$1" ]; then
		git -C "$base" worktree prune
		mkdir -p "$(dirname "$1")"; git -C "$base" worktree add -q --detach "$1" base || die "worktree $1"
	fi
	git -C "$1" am --abort >/dev/null 2>&1
	git -C "$1" reset -q --hard base
	git -C "$1" clean -q -fd
}

copy_new_files() {
	local f
	for f in $(new_files); do
		mkdir -p "$1/$(dirname "$f")"
		cp -p "$TOP/$f" "$1/$f"
	done
}

# build_tree TREE CFG LOG WHAT: configure TREE for CFG (on|off) in its
# own object directory and build a bzImage with -Werror.
build_tree() {
	local wt=$1 cfg=$2 log=$3 what=$4 obj
	obj=$(dirname "$wt")/obj-$cfg
	mkdir -p "$obj"
	cat "$TOP/configs/base.config" >"$obj/fragment"
	if [ "$cfg" = off ]; then
		cat "$TOP/configs/ondemand-off.config" >>"$obj/fragment"
	elif [ "$cfg" = debug ]; then
		# as kbuild.sh builds the stock debug kernel of make check
		cat "$TOP/configs/debug.config" >>"$obj/fragment"
	elif [ -f "$TOP/configs/series.config" ]; then
		cat "$TOP/configs/series.config" >>"$obj/fragment"
	fi
	make -s -C "$wt" ARCH=x86_64 O="$obj" KCONFIG_ALLCONFIG="$obj/fragment" \
		allnoconfig >/dev/null 2>&1 || die "configure ($cfg) failed"
	if [ "$cfg" = off ] && grep -q '^CONFIG_EROFS_FS_ONDEMAND=y' "$obj/.config"; then
		die "ONDEMAND=n configuration still has ONDEMAND"
	fi
	if [ "$cfg" = debug ]; then
		local opt val
		while IFS='=' read -r opt val; do
			case $opt in CONFIG_*) ;; *) continue ;; esac
			[ "$val" = n ] && continue
			grep -qx "$opt=$val" "$obj/.config" ||
				die "debug configuration: $opt=$val was dropped"
		done <"$obj/fragment"
	fi
	run_logged "$log" "$what" make -C "$wt" ARCH=x86_64 O="$obj" CC="ccache gcc" \
		-j"$(nproc)" KCFLAGS=-Werror bzImage
}

# Check what a recipient gets: the exported series (make series), applied
# patch by patch to the pristine base with git am, each prefix built with
# ONDEMAND=y (and the KUnit tests) and =n, checkpatch --strict on every
# kernel patch; then each stable fix (Cc: stable) alone on the base.
check() {
	local wt=$BUILD/v-check/linux out=$BUILD/v-check/logs fail=0 p n=0 cfg
	local exported stable from=${SERIES_CHECK_FROM:-1} passed
	export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
	# as kbuild.sh: relative paths, so trees at the same depth share objects
	export CCACHE_BASEDIR=$BUILD
	export_series
	n=0
	exported=$(ls "$BUILD"/series/[0-9]*.patch | grep -v '/0*-cover-letter.patch$')
	mkdir -p "$out"
	passed=$BUILD/v-check/passed.txt
	echo "# series-check $(date -u +%FT%TZ) from patch $from" >>"$passed"
	fresh_tree "$wt"

	for p in $exported; do
		n=$((n + 1))
		if [ "$n" -lt "$from" ]; then
			git -C "$wt" am -q "$p" || { git -C "$wt" am --abort; die "git am failed: $p"; }
			continue
		fi
		phase "patch $n: $(sed -n 's/^Subject: //p' "$p" | head -1)"
		if grep -q '^+++ b/tools/testing/selftests/' "$p" &&
		   ! grep -q '^+++ b/fs/' "$p"; then
			note "selftests patch: checkpatch skipped (userspace test code)"
		# Fixes: tags name upstream commits the base tarball has no
		# history of; new files under fs/erofs/ are covered by the EROFS
		# entry of MAINTAINERS already.
		elif ! (cd "$wt" && ./scripts/checkpatch.pl --strict -q --terse \
			--ignore UNKNOWN_COMMIT_ID,FILE_PATH_CHANGES "$p"); then
			echo "checkpatch: $(basename "$p") has errors or warnings"
			fail=1
		else
			echo "patch $n checkpatch" >>"$passed"
		fi
		git -C "$wt" am -q "$p" || { git -C "$wt" am --abort; die "git am failed: $p"; }
		for cfg in on off; do
			build_tree "$wt" $cfg "$out/build-$n-$cfg.log" "build $n ONDEMAND=$cfg" &&
				note "patch $n builds with ONDEMAND=$cfg" &&
				echo "patch $n ONDEMAND=$cfg builds" >>"$passed"
		done
	done

	stable=$(grep -l '^Cc: stable@vger.kernel.org' $exported)
	if [ -n "${SERIES_CHECK_STABLE_ONLY:-}" ]; then
		stable=$(for p in $stable; do
			for k in $SERIES_CHECK_STABLE_ONLY; do
				[ "$(basename "$p" | sed 's/-.*//' | sed 's/^0*//')" = "$k" ] && echo "$p"
			done
		done)
		[ -n "$stable" ] || die "SERIES_CHECK_STABLE_ONLY=$SERIES_CHECK_STABLE_ONLY names no stable fix"
	fi
	[ "${SERIES_CHECK_STABLE:-1}" = 0 ] && stable=
	local teeth=${SERIES_CHECK_REPRO_WITHOUT_FIX:-0} repro=${SERIES_CHECK_REPRO:-1}
	local rfail="" rpass="" t0
	[ "$teeth" = 1 ] && repro=1
	[ "$repro" = 1 ] && [ -n "$stable" ] && repro_prepare
	for p in $stable; do
		fresh_tree "$wt"
		if [ "$teeth" = 1 ]; then
			phase "stable fix's tests without it: $(sed -n 's/^Subject: //p' "$p" | head -1)"
			note "SERIES_CHECK_REPRO_WITHOUT_FIX=1: not applied, its tests run on the pristine base"
		else
			phase "stable fix alone: $(sed -n 's/^Subject: //p' "$p" | head -1)"
			git -C "$wt" am -q "$p" ||
				{ git -C "$wt" am --abort; die "does not apply alone to the base: $p"; }
			build_tree "$wt" on "$out/stable-$(basename "$p" .patch).log" "build" &&
				note "applies and builds alone" &&
				echo "stable alone $(basename "$p") builds" >>"$passed"
		fi
		[ "$repro" = 1 ] || continue
		t0=$(date +%s)
		if repro_run "$wt" "$p" "$teeth"; then
			rpass="$rpass $(basename "$p" | sed 's/-.*//')"
		else
			rfail="$rfail $(basename "$p" | sed 's/-.*//')"
		fi
		note "$(basename "$p"): reproducing test step took $(( $(date +%s) - t0 )) s"
	done
	[ $fail = 0 ] || die "series-check: checkpatch reported problems (see above)"
	if [ "$teeth" = 1 ]; then
		[ -z "$rfail" ] || die "teeth: the tests of stable fix(es)$rfail pass on the pristine base: they do not reproduce the bug"
		phase "teeth: the reproducing tests of stable fix(es)$rpass fail on the pristine base $(base_version)"
		return
	fi
	[ -z "$rfail" ] || die "series-check: stable fix(es)$rfail alone fail their reproducing tests (see above)"
	local prefixes="patches $from..$n checkpatch clean, prefixes $from..$n build with ONDEMAND=y and =n"
	[ "$from" -gt "$n" ] && prefixes="no patch or prefix checked (SERIES_CHECK_FROM=$from)"
	phase "series-check passed: the $n exported patches apply to $(base_version), $prefixes; $(echo "$stable" | wc -w) stable fixes apply and build alone$([ "$repro" = 1 ] && echo ", and pass their reproducing tests on the debug config")"
}

# The guest side of the stable-alone tests, once per run: the tools and
# test programs (make tools) and the data disk, as run-suite.sh makes them.
repro_prepare() {
	phase "stable fixes' reproducing tests: tools, tests and data disk"
	guest_tools_and_data
}

# repro_run TREE PATCH TEETH: build TREE (the base + PATCH alone, or the
# pristine base when TEETH is 1) with the debug config in the one object
# directory build/v-check/obj-debug, boot it and run the test cases
# harness/stable-tests.list names for PATCH.  Returns 0 when report.sh
# passes the run (TEETH 1: when it fails it).
repro_run() {
	local wt=$1 p=$2 teeth=$3 key list dir rc=0 tmo
	local stable_list=$TOP/harness/stable-tests.list
	key=$(basename "$p" .patch | sed 's/^[0-9]*-//')
	dir=$BUILD/v-check/repro/$(basename "$p" .patch)
	[ "$teeth" = 1 ] && dir=$BUILD/v-check/repro-without-fix/$(basename "$p" .patch)
	rm -rf "$dir"
	mkdir -p "$dir"
	list=$dir/tests.list
	awk -v k="$key" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$stable_list" >"$list"
	if [ ! -s "$list" ]; then
		echo "no reproducing test for $key in $stable_list"
		return 1
	fi
	sed 's/^/    test: /' "$list"
	build_tree "$wt" debug "$dir/build.log" "debug build" || return 1
	"$TOP/harness/initramfs.sh" "$dir/initramfs.cpio.gz" "$list" "$BUILD"/tools/guest/* ||
		return 1
	tmo=$(awk '{ s += $1 } END { print s + 600 }' "$list")
	"$TOP/harness/run-guest.sh" "$(dirname "$wt")/obj-debug/arch/x86/boot/bzImage" \
		"$dir/initramfs.cpio.gz" "$BUILD/guest/data.img" "$dir/serial.log" "$tmo" || rc=1
	"$TOP/harness/report.sh" -v stable -c debug -l "$list" "$dir/serial.log" \
		>"$dir/report.txt" 2>&1 || rc=1
	sed 's/^/    /' "$dir/report.txt"
	if [ "$teeth" = 1 ]; then
		if [ $rc = 0 ]; then
			echo "teeth: $(basename "$p"): its tests PASS on the pristine base"
			return 1
		fi
		note "teeth: $(basename "$p"): its tests fail on the pristine base, as they must"
		echo "stable teeth $(basename "$p"): tests fail without the fix" >>"$BUILD/v-check/passed.txt"
		return 0
	fi
	if [ $rc = 0 ]; then
		note "passes its reproducing tests alone (log $dir/serial.log)"
		echo "stable alone $(basename "$p") passes $(tr '\n' ';' <"$list")" >>"$BUILD/v-check/passed.txt"
		return 0
	fi
	echo "$(basename "$p") alone FAILS its reproducing tests (log $dir/serial.log)"
	return 1
}

export_series() {
	local wt=$BUILD/v-export/linux out=$BUILD/series p f used="" rest n zero
	fresh_tree "$wt"
	for p in $patches; do
		git -C "$wt" am -q "$p" || { git -C "$wt" am --abort; die "git am failed: $p"; }
		for f in $(new_files); do
			case " $used " in *" $f "*) continue ;; esac
			# fold a new file into the first patch that names it
			if grep -q "$(basename "$f")" "$p"; then
				mkdir -p "$wt/$(dirname "$f")"
				cp -p "$TOP/$f" "$wt/$f"
				git -C "$wt" add -f "$f"
				used="$used $f"
			fi
		done
		git -C "$wt" diff --cached --quiet || git -C "$wt" commit -q --amend --no-edit
	done
	rest=
	for f in $(new_files); do
		case " $used " in *" $f "*) continue ;; esac
		mkdir -p "$wt/$(dirname "$f")"
		cp -p "$TOP/$f" "$wt/$f"
		git -C "$wt" add -f "$f"
		rest="$rest $f"
	done
	if [ -n "$rest" ]; then
		git -C "$wt" -c user.name="$(git -C "$TOP" config user.name)" \
			-c user.email="$(git -C "$TOP" config user.email)" commit -q -s -F - <<-MSG
		selftests/filesystems: add EROFS shared domain tests and tools

		End-to-end tests of fscache shared domains against a real
		cachefiles on-demand daemon: a reference daemon with fault
		switches, a multi-layer image builder with content-addressed
		blob tags, and kselftest programs for sharing, isolation,
		lifetimes, hostile input and daemon failures.
		MSG
	fi
	rm -rf "$out"
	git -C "$wt" format-patch -q -o "$out" base..HEAD || die "format-patch failed"
	n=$(ls "$out"/*.patch | wc -l)
	[ -f "$TOP/patches/0000-cover-letter.patch" ] &&
		cover_letter "$TOP/patches/0000-cover-letter.patch" \
			"$out/0000-cover-letter.patch" "$wt" "$n"
	phase "exported $n patches (+ cover letter) to $out"
}

# cover_letter SRC DST TREE N: the cover letter SRC with its subject
# numbered 0/N and its closing shortlog and diffstat made anew from the
# commits base..HEAD of TREE, so that they never go stale.
cover_letter() {
	local src=$1 dst=$2 wt=$3 n=$4 tmp
	tmp=$(mktemp)
	sed -E "s/^(Subject: \[PATCH[^]]* )0+\/[0-9]+\]/\1$(printf "%0${#n}d" 0)\/$n]/" "$src" |
		awk '/^[^ \t].* \([0-9]+\):$/ { exit } { print }' >"$tmp"
	{
		git -C "$wt" shortlog base..HEAD
		git -C "$wt" diff --stat=72 --summary base..HEAD
		printf -- '-- \n%s\n\n' "$(git --version | sed 's/^git version //')"
	} >>"$tmp"
	mv "$tmp" "$dst"
}

edit() {
	local wt=$BUILD/edit/linux
	if [ -d "$wt" ] && [ "$(git -C "$wt" rev-list --count base..HEAD)" != 0 ] &&
	   [ -z "${FORCE:-}" ]; then
		die "$wt already holds a series (run 'make series-refresh' first, or FORCE=1 to start over)"
	fi
	fresh_tree "$wt"
	copy_new_files "$wt"
	for p in $patches; do
		git -C "$wt" am -q "$p" || { git -C "$wt" am --abort; die "git am failed: $p"; }
	done
	phase "the series is $(git -C "$wt" rev-list --count base..HEAD) commits on top of 'base' in $wt"
	note "edit there (git commit --fixup, git rebase -i base, ...), then: make series-refresh"
}

refresh() {
	local wt=$BUILD/edit/linux f n
	[ -d "$wt" ] || die "no $wt: run 'make series-edit' first"
	git -C "$wt" diff --quiet HEAD -- || die "$wt has uncommitted changes to tracked files"
	n=$(git -C "$wt" rev-list --count base..HEAD)
	[ "$n" -gt 0 ] || die "$wt holds no commit on top of base"
	find "$TOP/patches" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-cover-letter.patch' -delete
	git -C "$wt" format-patch -q -o "$TOP/patches" base..HEAD ||
		die "format-patch failed"
	# Kernel files the series adds, edited there (newer than ours).  The
	# selftests are edited here, never there: their copies are stale.
	for f in $(new_files | grep -E '^(fs|Documentation)/'); do
		[ -f "$wt/$f" ] && [ "$wt/$f" -nt "$TOP/$f" ] && ! cmp -s "$wt/$f" "$TOP/$f" &&
			{ cp -p "$wt/$f" "$TOP/$f"; note "copied back $f"; }
	done
	[ -f "$TOP/patches/0000-cover-letter.patch" ] &&
		cover_letter "$TOP/patches/0000-cover-letter.patch" \
			"$TOP/patches/0000-cover-letter.patch.new" "$wt" "$n" &&
		mv "$TOP/patches/0000-cover-letter.patch.new" "$TOP/patches/0000-cover-letter.patch"
	phase "wrote $n patches to patches/ (review with git diff, then commit)"
}

case $mode in
check) check ;;
export) export_series ;;
edit) edit ;;
refresh) refresh ;;
*) die "unknown mode $mode" ;;
esac
