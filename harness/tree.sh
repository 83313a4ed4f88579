#!/bin/bash
# Prepare the source tree of a variant and print its path on stdout.
#   stock:  the pristine base tree itself (never modified);
#   series: a worktree at `base` + this repository's new files + the
#           patches in patches/ applied with git am.
# The series tree is only rebuilt when the patches or new files change,
# and git only rewrites the files that differ, so kbuild stays incremental.
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: tree.sh stock|series}
base=$(base_tree)

case $variant in
stock)
	echo "$base"
	exit 0
	;;
series) ;;
*) die "unknown VARIANT=$variant (stock or series)" ;;
esac

wt=$BUILD/src/series
stampf=$BUILD/src/series.stamp
stamp=$( (series_patches; new_files | sed "s|^|$TOP/|") | xargs -r sha256sum | sha256sum | cut -c1-16)

if [ -f "$stampf" ] && [ "$(cat "$stampf")" = "$stamp" ] && [ -d "$wt" ]; then
	echo "$wt"
	exit 0
fi

phase "assembling series tree ($(series_patches | wc -l) patches, $(new_files | wc -l) new files)" >&2
if [ ! -d "$wt" ]; then
	mkdir -p "$BUILD/src"
	git -C "$base" worktree prune
	git -C "$base" worktree add -q --detach "$wt" base >&2 ||
		die "cannot create the series worktree"
fi
(
	cd "$wt"
	git am --abort >/dev/null 2>&1
	git reset -q --hard base
	git clean -q -fd
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
