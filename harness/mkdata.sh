#!/bin/bash
# mkdata.sh MKIMAGE OUTDIR
# Builds the test data the guest reads from its data disk:
#   blobs/<fsid or sha256>   bootstraps (named by fsid) and layer blobs
#   expect/<fsid>/           the stacked tree each image must show
#   layers.txt               "<layer> <blob name>" for every layer
#   images.txt               "<fsid> <layer>..." for every image
# and packs OUTDIR into OUTDIR.img (ext4, read-only in the guest).
# Content is deterministic so every run (and both variants) see the
# same bytes.
. "$(dirname "$0")/lib.sh"

mkimage=${1:?usage: mkdata.sh MKIMAGE OUTDIR}
out=${2:?usage: mkdata.sh MKIMAGE OUTDIR}
src=$out.src
rm -rf "$out" "$src" "$out.img"
mkdir -p "$out/blobs" "$out/expect" "$src"

# gen FILE SIZE SEED: SIZE bytes of text unique to SEED
gen() {
	mkdir -p "$(dirname "$1")"
	yes "$3 $(basename "$1") the quick brown fox jumps over the lazy dog" |
		awk '{ printf "%08d %s\n", NR, $0 }' | head -c "$2" >"$1"
}

# layer NAME: a small tree whose content depends on NAME
layer() {
	local d=$src/layers/$1
	mkdir -p "$d/etc" "$d/usr/lib/$1" "$d/var/empty"
	gen "$d/etc/$1.conf" 100 "$1"
	gen "$d/usr/lib/$1/page" 4096 "$1"
	gen "$d/usr/lib/$1/chunks" 20000 "$1"
	gen "$d/usr/lib/$1/big" 1100000 "$1"
	: >"$d/usr/lib/$1/empty"
	ln -s "../etc/$1.conf" "$d/usr/$1.link"
	gen "$d/etc/os-release" 64 "$1"	# overridden by later layers
}

# image FSID LAYER...: bootstrap + blobs + expected stacked tree
image() {
	local fsid=$1 l args=()
	shift
	mkdir -p "$out/expect/$fsid"
	for l in "$@"; do
		args+=("$src/layers/$l")
		cp -a "$src/layers/$l/." "$out/expect/$fsid/"
	done
	"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
		-b "$out/blobs" -o "$out/blobs/$fsid" "${args[@]}" ||
		die "erofs-mkimage failed for $fsid"
	echo "$fsid $*" >>"$out/images.txt"
}

phase "generating test images"
for l in shared onlyA onlyB extra; do
	layer "$l"
	tmp=$(mktemp -d)
	"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
		-b "$tmp" -o "$tmp/boot" "$src/layers/$l" || die "erofs-mkimage failed for layer $l"
	echo "$l $(ls "$tmp" | grep -v '^boot$')" >>"$out/layers.txt"
	rm -rf "$tmp"
done
image bootA shared onlyA
image bootB shared onlyB
# three images over four layers with overlaps (with bootA and bootB)
image bootE onlyA onlyB extra

# Extra scenario hooks: harness/mkdata.d/*.sh may add more images.
for f in "$TOP"/harness/mkdata.d/*.sh; do
	[ -f "$f" ] && . "$f"
done

note "$(ls "$out/blobs" | wc -l) blobs, $(du -sh "$out" | cut -f1)"
size=$(( $(du -sm "$out" | cut -f1) * 2 + 64 ))
mkfs.ext4 -q -F -b 4096 -d "$out" "$out.img" "${size}M" || die "mkfs.ext4 -d failed"
rm -rf "$src"
