#!/bin/bash
# Prepare the source tree of a variant and print its path on stdout.
#   stock:  build/v-stock/linux, a worktree of the pristine base;
#   series: build/v-series/linux, a worktree at `base` + this
#           repository's new files + the patches applied with git am.
# Both sit at the same depth as their object dirs (build/v-*/obj-*), so
# ccache sees identical relative paths and shares every unchanged file.
# The series tree is only rebuilt when the patches or new files change,
# and git only rewrites the files that differ, so kbuild stays incremental.
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: tree.sh stock|series}
base=$(base_tree)

wt=$BUILD/v-$variant/linux
stampf=$BUILD/v-$variant/tree.stamp
case $variant in
stock) stamp=pristine ;;
series) stamp=$( (series_patches; new_files | sed "s|^|$TOP/|") | xargs -r sha256sum | sha256sum | cut -c1-16) ;;
*) die "unknown VARIANT=$variant (stock or series)" ;;
esac

if [ -f "$stampf" ] && [ "$(cat "$stampf")" = "$stamp" ] && [ -d "$wt" ]; then
	echo "$wt"
	exit 0
fi

phase "assembling $variant tree" >&2
if [ ! -d "$wt" ]; then
	mkdir -p "$(dirname "$wt")"
	git -C "$base" worktree prune
	git -C "$base" worktree add -q --detach "$wt" base >&2 ||
		die "cannot create the series worktree"
fi
(
	cd "$wt"
	git am --abort >/dev/null 2>&1
	git reset -q --hard base
	git clean -q -fd
	[ "$variant" = stock ] && exit 0
	for f in $(new_files); do
		mkdir -p "$(dirname "$f")"
		cp -p "$TOP/$f" "$f"
	done
	for p in $(series_patches); do
		git am -q --whitespace=nowarn "$p" >&2 ||
			{ git am --abort; echo "git am failed: $p" >&2; exit 1; }
	done
) || die "the series does not apply to $(base_version)"
echo "$stamp" >"$stampf"
echo "$wt"
