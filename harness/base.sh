#!/bin/bash
# Prepare the pristine base tree: Debian's linux-source-6.12 tarball (or
# KSRC=/path/to/linux-6.12.y) extracted once into a git repository whose
# tag `base` is the untouched source.  Re-extracted only when the
# tarball (or KSRC's HEAD/mtime) changes.
. "$(dirname "$0")/lib.sh"

tree=$(base_tree)
stampf=$BUILD/base/.stamp

if [ -n "${KSRC:-}" ]; then
	[ -f "$KSRC/Makefile" ] || die "KSRC=$KSRC is not a kernel tree"
	src_id="ksrc:$(cd "$KSRC" && pwd):$(git -C "$KSRC" rev-parse HEAD 2>/dev/null || stat -c %Y "$KSRC/Makefile")"
else
	tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -1)
	[ -n "$tarball" ] || die "no /usr/src/linux-source-6.12.tar.*: run harness/deps.sh"
	src_id="tar:$tarball:$(stat -c '%s:%Y' "$tarball")"
fi

if [ -f "$stampf" ] && [ "$(cat "$stampf")" = "$src_id" ] &&
   git -C "$tree" rev-parse -q --verify base >/dev/null; then
	exit 0
fi

phase "extracting base tree ($src_id)"
rm -rf "$BUILD/base" "$BUILD"/v-*
mkdir -p "$BUILD/base"
if [ -n "${KSRC:-}" ]; then
	run_logged "$BUILD/base/extract.log" "copy KSRC" \
		rsync -a --exclude=.git "$KSRC/" "$tree/"
else
	run_logged "$BUILD/base/extract.log" "extract" \
		tar -xf "$tarball" -C "$BUILD/base"
	mv "$BUILD/base"/linux-source-6.12 "$tree"
fi
[ -f "$tree/Makefile" ] || die "extraction produced no kernel tree"

phase "committing pristine tree $(base_version)"
(
	cd "$tree"
	git init -q
	# Commits made here (git am of the series) need an identity; use the
	# user's own when there is one.
	git config --get user.name >/dev/null || git config user.name harness
	git config --get user.email >/dev/null || git config user.email harness@localhost
	# Debian's tarball ignores everything at the top level: force it.
	git add -f -A . >/dev/null
	git commit -q -m "Linux $(base_version) (pristine base)"
	git tag base
) || die "cannot commit the base tree"
echo "$src_id" >"$stampf"
note "base tree ready: $tree ($(base_version))"
