#!/bin/bash
# stable-6.1.sh: the reach of the stable fixes on 6.1.y (make series-check
# BASE=6.1).  Uses Debian's linux-source-6.1 (the kernel of Debian 12),
# extracted once into build/base-6.1/linux at tag `base`.  For each stable
# fix of the series it reports whether the 6.12 patch applies to
# 6.1 as is (git am); then each 6.1 version in patches/stable-6.1/ is
# applied alone to the pristine 6.1 tree, checked with checkpatch --strict
# and built: an allnoconfig + configs/base.config kernel (EROFS_FS_ONDEMAND,
# FSCACHE, CACHEFILES_ONDEMAND), objects of fs/erofs, fs/fscache and
# fs/cachefiles with -Werror.  A build check only: 6.1 is not booted.
. "$(dirname "$0")/lib.sh"

base=$BUILD/base-6.1/linux
wt=$BUILD/v-6.1/linux
obj=$BUILD/v-6.1/obj-on
log=$BUILD/v-6.1/logs
p61=$TOP/patches/stable-6.1
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$BUILD

tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -1)
if [ -z "$tarball" ]; then
	phase "installing linux-source-6.1"
	apt-get install -y linux-source-6.1 >/dev/null ||
		die "linux-source-6.1 is not available from the package mirror"
	tarball=$(ls /usr/src/linux-source-6.1.tar.* | head -1)
fi
if ! git -C "$base" rev-parse -q --verify base >/dev/null 2>&1; then
	phase "extracting $tarball"
	rm -rf "$BUILD/base-6.1" "$BUILD/v-6.1"
	mkdir -p "$BUILD/base-6.1"
	run_logged "$BUILD/base-6.1/extract.log" "extract" \
		tar -xf "$tarball" -C "$BUILD/base-6.1"
	mv "$BUILD/base-6.1/linux-source-6.1" "$base"
	(
		cd "$base" && git init -q &&
		git config user.name "$(git -C "$TOP" config user.name || echo harness)" &&
		git config user.email "$(git -C "$TOP" config user.email || echo harness@localhost)" &&
		git add -f -A . >/dev/null &&
		git commit -q -m "Linux $(make -s kernelversion) (pristine 6.1 base)" &&
		git tag base
	) || die "cannot commit the 6.1 tree"
fi
ver=$(make -s -C "$base" kernelversion)

fresh() {
	if [ ! -d "$wt" ]; then
		git -C "$base" worktree prune
		mkdir -p "$(dirname "$wt")"
		git -C "$base" worktree add -q --detach "$wt" base || die "worktree $wt"
	fi
	git -C "$wt" am --abort >/dev/null 2>&1
	git -C "$wt" reset -q --hard base
	git -C "$wt" clean -q -fd
}

mkdir -p "$log" "$obj"
fresh
cat "$TOP/configs/base.config" >"$obj/fragment"
make -s -C "$wt" ARCH=x86_64 O="$obj" KCONFIG_ALLCONFIG="$obj/fragment" \
	allnoconfig >/dev/null 2>&1 || die "configure 6.1 failed"
for o in EROFS_FS_ONDEMAND FSCACHE CACHEFILES_ONDEMAND; do
	grep -q "^CONFIG_$o=y" "$obj/.config" || die "6.1 config lacks CONFIG_$o"
done

phase "the 6.12 stable fixes on $ver as they are"
# (stable fixes add no new file, so patches/ holds them as exported)
for p in $(grep -l '^Cc: stable@vger.kernel.org' $(series_patches)); do
	fresh
	if git -C "$wt" am -q "$p" >/dev/null 2>&1; then
		note "$(basename "$p"): applies"
	else
		note "$(basename "$p"): does not apply"
	fi
done

fail=0
for p in "$p61"/[0-9]*.patch; do
	phase "6.1 version alone: $(basename "$p")"
	fresh
	git -C "$wt" am -q "$p" ||
		{ git -C "$wt" am --abort; die "does not apply to $ver: $p"; }
	if ! (cd "$wt" && ./scripts/checkpatch.pl --strict -q --terse \
		--ignore UNKNOWN_COMMIT_ID,FILE_PATH_CHANGES "$p" >/dev/null); then
		echo "checkpatch: $(basename "$p") has errors or warnings"
		fail=1
	fi
	run_logged "$log/$(basename "$p" .patch).log" "build" \
		make -C "$wt" ARCH=x86_64 O="$obj" CC="ccache gcc" -j"$(nproc)" \
		KCFLAGS=-Werror fs/erofs/ fs/fscache/ fs/cachefiles/ &&
		note "applies alone and builds"
done
[ $fail = 0 ] || die "checkpatch reported problems (see above)"
phase "the $(ls "$p61"/[0-9]*.patch | wc -l) 6.1 versions apply alone to $ver, are checkpatch clean and build"
