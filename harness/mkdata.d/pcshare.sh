# Sourced by harness/mkdata.sh: images of pcshare_test (page-cache sharing
# in a domain, -o inode_share).  Sixteen images pcs1..pcs16 stack the same
# base layer "pcsbase" (slot 0, so the same blob at the same offsets in
# every image) under a small layer of their own; their files of pcsbase
# (lib/, bin/) are the ones that may share, own/ never does.
# pcsbase's blob name goes to layers.txt like the other layers'.
# Uses mkdata.sh's gen() and image() and $mkimage/$out/$src.

phase "generating page-cache sharing images"
d=$src/layers/pcsbase
rm -rf "$d"
mkdir -p "$d/lib" "$d/bin"
gen "$d/lib/big" 4194304 pcsbase		# 1024 chunks, one extent
gen "$d/lib/mid" 300001 pcsbase		# ends mid-page
gen "$d/lib/page" 4096 pcsbase
gen "$d/lib/one" 1 pcsbase
: >"$d/lib/empty"
for i in $(seq 1 24); do
	gen "$d/bin/tool$i" $((1000 + i * 997)) "pcsbase-$i"
done
tmp=$(mktemp -d)
"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
	-b "$tmp" -o "$tmp/boot" "$d" || die "erofs-mkimage failed for layer pcsbase"
echo "pcsbase $(ls "$tmp" | grep -v '^boot$')" >>"$out/layers.txt"
rm -rf "$tmp"
for n in $(seq 1 16); do
	o=$src/layers/pcsown$n
	rm -rf "$o"
	mkdir -p "$o/own"
	gen "$o/own/hostname" 50 "pcsown$n"
	gen "$o/own/data" 9000 "pcsown$n"
	image "pcs$n" pcsbase "pcsown$n"
done
