#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkimage_hostcheck.sh MKIMAGE_BINARY WORKDIR
#
# Host-side checks of erofs-mkimage, independent of the kernel under test:
# images are read back with erofs-utils' fsck.erofs --extract and compared
# with the stacked source trees.  Prints "ok N - ..." / "not ok N - ..." and
# a final "N passed, N failed"; exits non-zero if anything failed.
# Everything lives under WORKDIR/hostcheck, which is recreated.

set -u
mk=${1:?usage: mkimage_hostcheck.sh MKIMAGE_BINARY WORKDIR}
work=${2:?usage: mkimage_hostcheck.sh MKIMAGE_BINARY WORKDIR}
case $mk in /*) ;; *) mk=$PWD/$mk ;; esac
[ -x "$mk" ] || { echo "not executable: $mk" >&2; exit 2; }
command -v fsck.erofs >/dev/null || { echo "fsck.erofs (erofs-utils) missing" >&2; exit 2; }

T=$work/hostcheck
rm -rf "$T"
mkdir -p "$T" || exit 2
T=$(cd "$T" && pwd)
EPOCH=1700000000
UUID=00112233-4455-6677-8899-aabbccddeeff
npass=0
nfail=0
n=0

ok() {
	n=$((n + 1)); npass=$((npass + 1))
	echo "ok $n - $*"
}

notok() {
	n=$((n + 1)); nfail=$((nfail + 1))
	echo "not ok $n - $*"
}

# check DESC CMD...: one test line from a command's status
check() {
	local d=$1
	shift
	if "$@" >"$T/last.log" 2>&1; then
		ok "$d"
	else
		notok "$d"
		sed 's/^/# /' "$T/last.log" | head -20
	fi
}

# gen FILE SIZE SEED: SIZE bytes of deterministic text
gen() {
	mkdir -p "$(dirname "$1")"
	yes "$3 $(basename "$1") lorem ipsum dolor sit amet" |
		awk '{ printf "%08d %s\n", NR, $0 }' | head -c "$2" >"$1"
}

# ---- layer trees ----------------------------------------------------

L=$T/layers
mkdir -p "$L"

l1=$L/L1
gen "$l1/etc/os-release" 40 L1
gen "$l1/etc/shared.conf" 300 shared		# identical in L1 and L2
gen "$l1/usr/lib/libfoo.so" 10000 L1		# > 1 chunk
gen "$l1/usr/lib/big.bin" 3200000 L1		# multi-MiB
gen "$l1/usr/lib/exact" 8192 L1			# block multiple
gen "$l1/a/b/c/d/e/deep.txt" 123 L1
gen "$l1/replaced-by-dir" 10 L1
mkdir -p "$l1/replaced-by-file/sub" "$l1/emptydir"
gen "$l1/replaced-by-file/sub/x" 10 L1
: >"$l1/empty"
ln -s ../lib/libfoo.so "$l1/usr/bin-link"
ln -s /absolute/dangling "$l1/dangling"
chmod 0755 "$l1/usr/lib/libfoo.so"
chmod 0700 "$l1/a/b"
chmod 4755 "$l1/usr/lib/exact"
# a directory needing several blocks of dirents, with long names
mkdir -p "$l1/many"
pad=$(printf '%0200d' 0)
for i in $(seq 1 250); do
	: >"$l1/many/entry-$i-$pad"
done
gen "$l1/many/-sorts-before-dot" 5 L1

l2=$L/L2
gen "$l2/etc/os-release" 50 L2			# overrides L1
gen "$l2/etc/shared.conf" 300 shared
gen "$l2/usr/lib/libbar.so" 5000 L2
gen "$l2/replaced-by-dir/inner" 77 L2
gen "$l2/replaced-by-file" 99 L2
gen "$l2/a/b/c/l2.txt" 4096 L2
ln -s libbar.so "$l2/usr/lib/libfoo.so"		# symlink over a file
mkdir -p "$l2/emptydir/now-not"

l3=$L/L3
gen "$l3/etc/os-release" 60 L3
gen "$l3/opt/app/data" 1048577 L3		# 1 MiB + 1
gen "$l3/a/b/c/d/e/deep.txt" 5 L3
ln -s ../../opt "$l3/a/opt-link"
mkfifo "$l3/a/fifo"

l4=$L/L4					# no file data: the empty blob
mkdir -p "$l4/etc" "$l4/var/empty/dir"
: >"$l4/etc/os-release"
ln -s os-release "$l4/etc/alias"
have_whiteout=0
if mknod "$l4/usr" c 0 0 2>/dev/null; then	# overlayfs whiteout hides /usr
	have_whiteout=1
fi

# many small layers for the 100-layer image and the timing run
M=$T/many
for i in $(seq -w 1 100); do
	d=$M/m$i
	mkdir -p "$d/layer$i" "$d/common"
	printf 'layer %s\n' "$i" >"$d/layer$i/id"
	printf 'last writer %s\n' "$i" >"$d/common/winner"
	printf '%s\n' "$i" >"$d/common/only$i"
	ln -s "../layer$i/id" "$d/common/link$i"
done

# ---- helpers ----------------------------------------------------------

# merge_into SRC DST: what stacking SRC over DST must show (later wins,
# directories merge, a 0/0 character device whites out the name)
merge_into() {
	local src=$1 dst=$2 p
	(cd "$src" && find . -mindepth 1 | sort) | while IFS= read -r p; do
		p=${p#./}
		# inside a path an earlier entry of this layer already replaced
		[ -e "$dst/$(dirname "$p")" ] || [ "$(dirname "$p")" = . ] || continue
		if [ -c "$src/$p" ] && [ "$(stat -c %t:%T "$src/$p")" = 0:0 ]; then
			rm -rf "${dst:?}/$p"
			continue
		fi
		if [ -d "$src/$p" ] && [ ! -L "$src/$p" ]; then
			if [ -L "$dst/$p" ] || { [ -e "$dst/$p" ] && [ ! -d "$dst/$p" ]; }; then
				rm -f "${dst:?}/$p"
			fi
			mkdir -p "$dst/$p"
			chmod "$(stat -c %a "$src/$p")" "$dst/$p"
		else
			if [ -d "$dst/$p" ] && [ ! -L "$dst/$p" ]; then
				rm -rf "${dst:?}/$p"
			fi
			rm -f "${dst:?}/$p"
			cp -a "$src/$p" "$dst/$p"
		fi
	done
}

expect_tree() {	# expect_tree OUT LAYER...
	local out=$1 l
	shift
	rm -rf "$out"
	mkdir -p "$out"
	for l in "$@"; do
		merge_into "$l" "$out"
	done
	chmod "$(stat -c %a "${!#}")" "$out"
}

# u16/u32 little-endian at OFFSET of FILE
rd16() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
rd32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
# tag of slot I (raw 64 bytes, NULs shown as nothing)
tag_of() { dd if="$1" bs=1 skip=$((1152 + 128 * $2)) count=64 status=none | tr -d '\0'; }

# devices BOOTSTRAP BLOBDIR: --device= arguments in slot order
devices() {
	local i cnt
	cnt=$(rd16 "$1" $((1024 + 86)))
	for ((i = 0; i < cnt; i++)); do
		printf -- '--device=%s/%s\n' "$2" "$(tag_of "$1" "$i")"
	done
}

# listing of types, permissions, sizes and symlink targets of a tree
# (fsck.erofs 1.5 does not restore set-id bits on extraction: 0777 only)
shape() {
	(cd "$1" && find . -mindepth 1 -printf '%P %y %m %s %l\n' | sort |
		sed -E 's/^([^ ]+ [^ ]+ )[0-7]([0-7]{3} )/\1\2/')
}

extract_compare() {	# extract_compare BOOT BLOBDIR EXPECT
	local boot=$1 blobs=$2 exp=$3 out=$1.extract devs
	rm -rf "$out"
	mapfile -t devs < <(devices "$boot" "$blobs")
	fsck.erofs "${devs[@]}" --extract="$out" "$boot" || return 1
	# diff cannot compare fifos; shape below checks them
	diff -r --no-dereference -x fifo "$exp" "$out" || return 1
	diff <(shape "$exp") <(shape "$out")
}

# blob names are the SHA-256 of their content, 64 hex characters
blobs_named_by_content() {
	local f
	for f in "$1"/*; do
		[[ $(basename "$f") =~ ^[0-9a-f]{64}$ ]] || { echo "bad name $f"; return 1; }
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] ||
			{ echo "content mismatch $f"; return 1; }
		[ $(($(stat -c %s "$f") % 4096)) = 0 ] || { echo "not block-sized $f"; return 1; }
	done
}

# ---- images over the layer trees --------------------------------------

BL=$T/blobs
mkdir -p "$BL"
build() {	# build NAME LAYER...: bootstrap $T/NAME.boot
	local name=$1
	shift
	"$mk" -T $EPOCH -U $UUID -b "$BL" -o "$T/$name.boot" "$@"
}

check "build A = [L1 L2]" build A "$l1" "$l2"
check "build B = [L1 L3]" build B "$l1" "$l3"
check "build C = [L2 L3 L4]" build C "$l2" "$l3" "$l4"
mlayers=("$M"/m*)
check "build D = 100 layers" build D "${mlayers[@]}"
mkdir -p "$L/E"
check "build E = [empty layer]" build E "$L/E"

expect_tree "$T/expA" "$l1" "$l2"
expect_tree "$T/expB" "$l1" "$l3"
expect_tree "$T/expC" "$l2" "$l3" "$l4"
expect_tree "$T/expD" "${mlayers[@]}"
expect_tree "$T/expE" "$L/E"
for i in A B C D E; do
	check "image $i extracts byte-exact to the stacked trees" \
		extract_compare "$T/$i.boot" "$BL" "$T/exp$i"
done
if [ $have_whiteout = 1 ]; then
	check "whiteout in L4 hides /usr of L2/L3" test ! -e "$T/C.boot.extract/usr"
fi
# i_mode of the inode at PATH (dump.erofs prints only the 0777 bits)
imode() {	# imode BOOT BLOBDIR PATH
	local nid meta devs
	mapfile -t devs < <(devices "$1" "$2")
	nid=$(dump.erofs "${devs[@]}" --path="$3" "$1" | sed -n 's/^NID: *\([0-9]*\).*/\1/p')
	meta=$(rd32 "$1" $((1024 + 40)))
	[ -n "$nid" ] && printf '%o\n' "$(rd16 "$1" $((meta * 4096 + nid * 32 + 4)))"
}
check "set-uid bit stored in the inode" \
	test "$(imode "$T/A.boot" "$BL" /usr/lib/exact)" = 104755
check "multi-block directory survives" \
	test "$(ls "$T/A.boot.extract/many" | wc -l)" = 251

check "blob names are sha256 of content, block-sized" blobs_named_by_content "$BL"
check "L1 blob shared by A and B (same tag in slot 0)" \
	test "$(tag_of "$T/A.boot" 0)" = "$(tag_of "$T/B.boot" 0)"
check "tags are exactly 64 bytes, no NUL" \
	test "$(tag_of "$T/A.boot" 1 | wc -c)" = 64
check "device table: extra_devices = 100 for D" \
	test "$(rd16 "$T/D.boot" $((1024 + 86)))" = 100
check "device slot blocks = blob size / 4096" \
	test "$(rd32 "$T/A.boot" $((1152 + 64)))" = \
	"$(($(stat -c %s "$BL/$(tag_of "$T/A.boot" 0)") / 4096))"
check "4 layers (+ empty E) -> 4 blobs plus 100 small ones" \
	test "$(ls "$BL" | wc -l)" = 104
check "L4 (no file data) uses the empty blob" \
	test -e "$BL/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
check "same layer twice shares one slot" \
	build twice "$l1" "$l2" "$l1"
expect_tree "$T/expTwice" "$l1" "$l2" "$l1"
check "... it has 2 slots and reads back as [L1 L2 L1]" bash -c "
	$(declare -f extract_compare devices tag_of rd16 shape)
	[ \$(rd16 '$T/twice.boot' 1110) = 2 ] &&
	extract_compare '$T/twice.boot' '$BL' '$T/expTwice'"

blob0=$BL/$(tag_of "$T/A.boot" 0)
before=$(stat -c '%i %Y.%y' "$blob0")
sleep 1
build A2 "$l1" "$l2" >/dev/null 2>&1
check "existing blob is reused, not rewritten" \
	test "$before" = "$(stat -c '%i %Y.%y' "$blob0")"

# chunk sizes other than the default
mkdir -p "$T/blobs16k" "$T/blobs1m"
check "build A with -c 16K" "$mk" -c 16K -T $EPOCH -b "$T/blobs16k" -o "$T/A16k.boot" \
	"$l1" "$l2"
check "image A (16K chunks) extracts byte-exact" \
	extract_compare "$T/A16k.boot" "$T/blobs16k" "$T/expA"
check "build C with -c 1M" "$mk" -c 1M -T $EPOCH -b "$T/blobs1m" -o "$T/C1m.boot" \
	"$l2" "$l3" "$l4"
check "image C (1M chunks) extracts byte-exact" \
	extract_compare "$T/C1m.boot" "$T/blobs1m" "$T/expC"

# ---- --holes: all-zero chunks as EROFS_NULL_ADDR ------------------------
# fsck.erofs 1.5 --extract drops holes (writes nothing for them), so the
# blob and the chunk indexes are checked directly; MKIMAGE_HOSTCHECK_MOUNT
# reads the image back through the kernel.

HL=$T/holes-src
mkdir -p "$HL/d" "$T/blobsH" "$T/blobsH0"
gen "$HL/d/dhd" 4096 dhd; head -c 4096 /dev/zero >>"$HL/d/dhd"; gen "$T/seg" 4096 dhd2
cat "$T/seg" >>"$HL/d/dhd"
head -c 8192 /dev/zero >"$HL/hd-tail"; gen "$T/seg" 1000 hdt; cat "$T/seg" >>"$HL/hd-tail"
gen "$HL/dh-tail" 4096 dht; head -c 1000 /dev/zero >>"$HL/dh-tail"
head -c 12288 /dev/zero >"$HL/zeros"
gen "$HL/plain" 10000 plain
mkdir -p "$T/expH"
cp -a "$HL/." "$T/expH/"
# holes_blob TREE: the blob --holes -c 4K must write: the non-zero 4 KiB
# chunks of the files in sorted depth-first order, each padded to 4 KiB;
# prints the number of zero chunks on stderr
holes_blob() {
	local f sz k len nz=0
	while read -r f; do
		sz=$(stat -c %s "$1/$f")
		for ((k = 0; k * 4096 < sz; k++)); do
			len=$((sz - k * 4096 < 4096 ? sz - k * 4096 : 4096))
			if cmp -s -n "$len" <(dd if="$1/$f" bs=4096 skip=$k count=1 status=none) /dev/zero; then
				nz=$((nz + 1))
				continue
			fi
			dd if="$1/$f" bs=4096 skip=$k count=1 status=none
			head -c $((4096 - len)) /dev/zero
		done
	done < <(cd "$1" && find . -type f | LC_ALL=C sort | sed 's|^\./||')
	echo "$nz" >&2
}
check "build H with --holes" "$mk" --holes -T $EPOCH -U $UUID -b "$T/blobsH" -o "$T/H.boot" "$HL"
check "--holes: the blob holds only the non-zero chunks, in order" bash -c "
	$(declare -f holes_blob); holes_blob '$HL' >'$T/H.want' 2>/dev/null
	cmp '$T/H.want' '$T/blobsH'/\$(ls '$T/blobsH')"
check "--holes: one EROFS_NULL_ADDR chunk index per zero chunk" bash -c "
	$(declare -f holes_blob); nz=\$(holes_blob '$HL' 2>&1 >/dev/null)
	got=\$(od -An -v -tx4 '$T/H.boot' | tr -s ' ' '\n' | grep -c '^ffffffff\$')
	[ \"\$nz\" = 7 ] && [ \"\$got\" = \"\$nz\" ] || { echo \"zero chunks \$nz, null indexes \$got\"; exit 1; }"
check "fsck.erofs accepts the --holes image" \
	fsck.erofs --device="$T/blobsH/$(ls "$T/blobsH")" "$T/H.boot"
check "--holes changes nothing on layers without zero chunks" bash -c "
	'$mk' --holes -T $EPOCH -U $UUID -b '$T/blobsH0' -o '$T/AH.boot' '$l1' '$l2' &&
	'$mk' -T $EPOCH -U $UUID -b '$T/blobsH0' -o '$T/A0.boot' '$l1' '$l2' &&
	cmp '$T/AH.boot' '$T/A0.boot' && [ \$(ls '$T/blobsH0' | wc -l) = 2 ]"
check "--holes with --craft is a usage error" bash -c "
	'$mk' --holes --craft zero-blocks -b '$T/blobsH0' -o '$T/HC.boot' '$l1' 2>/dev/null
	[ \$? = 2 ] && [ ! -e '$T/HC.boot' ]"

# ---- reproducibility ----------------------------------------------------

mkdir -p "$T/r1" "$T/r2"
"$mk" -T $EPOCH -U $UUID -b "$T/r1" -o "$T/r1/boot" "$l1" "$l2" "$l3"
"$mk" -T $EPOCH -U $UUID -b "$T/r2" -o "$T/r2/boot" "$l1" "$l2" "$l3"
check "reproducible: same inputs, -T, -U give identical outputs" diff -r "$T/r1" "$T/r2"
mkdir -p "$T/r3" "$T/r4"
"$mk" -T $EPOCH -b "$T/r3" -o "$T/r3/boot" "$l1" "$l2"
"$mk" -T $EPOCH -b "$T/r4" -o "$T/r4/boot" "$l1" "$l2"
check "reproducible without -U (content-derived UUID)" diff -r "$T/r3" "$T/r4"
check "different -T changes the bootstrap, not the blobs" bash -c "
	mkdir -p '$T/r5' && '$mk' -T 1 -U $UUID -b '$T/r5' -o '$T/r5/boot' '$l1' '$l2' '$l3' &&
	! cmp -s '$T/r1/boot' '$T/r5/boot' &&
	diff <(ls '$T/r1' | grep -v boot) <(ls '$T/r5' | grep -v boot)"

# ---- crafted images -------------------------------------------------------

CB=$T/craftblobs
mkdir -p "$CB"
craft() {	# craft KIND LAYER...: $T/craft-KIND.boot
	local k=$1
	shift
	"$mk" -T $EPOCH -U $UUID --craft "$k" -b "$CB" -o "$T/craft-${k%%=*}.boot" "$@"
}
check "build reference image for crafts" \
	"$mk" -T $EPOCH -U $UUID -b "$CB" -o "$T/craft-ref.boot" "$l1" "$l2"
check "--craft help lists all kinds" bash -c "
	out=\$('$mk' --craft help) || exit 1
	for k in empty-tag dup-tag tag-is-fsid extra-devices-overflow zero-blocks \
		 huge-blocks chunk-past-end bad-device-id bad-csum; do
		grep -q -- \"\$k\" <<<\"\$out\" || exit 1
	done"
for k in empty-tag dup-tag tag-is-fsid=bootA extra-devices-overflow zero-blocks \
	 huge-blocks chunk-past-end bad-device-id bad-csum; do
	check "--craft $k builds" craft "$k" "$l1" "$l2"
done
# differing byte ranges (1-based offsets from cmp -l) against the reference
diffbytes() { cmp -l "$T/craft-ref.boot" "$T/craft-$1.boot" | awk '{ print $1 }' | tr '\n' ' '; }
inrange() {	# inrange KIND LO HI: every differing byte in [LO, HI] (0-based), some differ
	local o d
	d=$(diffbytes "$1")
	[ -n "$d" ] || return 1
	for o in $d; do
		[ $((o - 1)) -ge "$2" ] && [ $((o - 1)) -le "$3" ] || return 1
	done
}
# the checksum (1028..1031) is recomputed for every craft but bad-csum
check "bad-csum: only the checksum differs" inrange bad-csum 1028 1031
check "empty-tag: slot 0 tag is all zero" bash -c "
	[ \$(dd if='$T/craft-empty-tag.boot' bs=1 skip=1152 count=64 status=none | tr -d '\\0' | wc -c) = 0 ]"
check "empty-tag: only tag 0 and checksum changed" bash -c "
	$(declare -f diffbytes); for o in \$(diffbytes empty-tag); do
	[ \$o -ge 1029 -a \$o -le 1032 ] || [ \$o -ge 1153 -a \$o -le 1216 ] || exit 1; done"
check "dup-tag: slot 1 tag equals slot 0 tag" \
	test "$(tag_of "$T/craft-dup-tag.boot" 0)" = "$(tag_of "$T/craft-dup-tag.boot" 1)"
check "tag-is-fsid: slot 0 tag is the name" \
	test "$(tag_of "$T/craft-tag-is-fsid.boot" 0)" = bootA
check "extra-devices-overflow: extra_devices = slots + 1, next slot zero" bash -c "
	[ \$(od -An -tu2 -j 1110 -N2 '$T/craft-extra-devices-overflow.boot' | tr -d ' ') = 3 ] &&
	[ \$(dd if='$T/craft-extra-devices-overflow.boot' bs=1 skip=$((1152 + 256)) count=128 status=none | tr -d '\\0' | wc -c) = 0 ]"
check "zero-blocks: slot 0 blocks = 0" test "$(rd32 "$T/craft-zero-blocks.boot" 1216)" = 0
check "huge-blocks: slot 0 blocks = 0xffffffff" \
	test "$(rd32 "$T/craft-huge-blocks.boot" 1216)" = 4294967295
check "chunk-past-end: fsck.erofs --extract fails reading past the blob" bash -c "
	! fsck.erofs $(devices "$T/craft-ref.boot" "$CB" | tr '\n' ' ') \
		--extract='$T/cpe.out' '$T/craft-chunk-past-end.boot'"
# one_chunk_entry KIND: same size as the reference; besides the checksum
# (1028..1031) the bytes that differ all lie in the inode area (from
# meta_blkaddr on) within one 8-byte chunk index entry; some differ.
one_chunk_entry() {
	local o lo= hi= meta
	[ "$(stat -c %s "$T/craft-ref.boot")" = "$(stat -c %s "$T/craft-$1.boot")" ] || return 1
	meta=$(( $(rd32 "$T/craft-ref.boot" $((1024 + 40))) * 4096 ))
	for o in $(diffbytes "$1"); do
		o=$((o - 1))
		[ $o -ge 1028 ] && [ $o -le 1031 ] && continue
		[ $o -ge "$meta" ] || return 1
		[ -z "$lo" ] && lo=$o
		hi=$o
	done
	[ -n "$lo" ] && [ $((hi / 8)) = $((lo / 8)) ]
}
check "bad-device-id changes only one chunk index entry (and the checksum)" one_chunk_entry bad-device-id
check "chunk-past-end changes only one chunk index entry (and the checksum)" one_chunk_entry chunk-past-end
check "dup-tag with one layer is refused" bash -c "
	! '$mk' --craft dup-tag -b '$CB' -o '$T/nodup.boot' '$l1' 2>/dev/null && [ ! -e '$T/nodup.boot' ]"

# ---- errors: non-zero exit, a message, nothing left behind -----------------

EB=$T/errblobs
mkdir -p "$EB"
: >"$T/err.out"
: >"$T/err.msg"
# must_fail DESC MKIMAGE-ARGS...: bootstrap is $T/err.boot, blobs in $EB
must_fail() {
	local d=$1 before after rc
	shift
	rm -f "$T/err.boot"
	before=$(ls -a "$EB" "$T" | md5sum)
	"$mk" "$@" >"$T/err.out" 2>"$T/err.msg"
	rc=$?
	after=$(ls -a "$EB" "$T" | md5sum)
	if [ $rc != 0 ] && [ -s "$T/err.msg" ] && [ ! -e "$T/err.boot" ] &&
	   [ "$before" = "$after" ]; then
		ok "$d (exit $rc: $(head -1 "$T/err.msg"))"
	else
		notok "$d (exit $rc, leftovers: $([ "$before" = "$after" ] && echo no || echo yes))"
		sed 's/^/# /' "$T/err.msg"
	fi
}

must_fail "missing layer directory" -b "$EB" -o "$T/err.boot" "$l1" "$T/nonexistent"
must_fail "layer is not a directory" -b "$EB" -o "$T/err.boot" "$l1/etc/os-release"
must_fail "missing blob directory" -b "$T/nonexistent" -o "$T/err.boot" "$l1"
must_fail "chunk size not a power of two" -c 5000 -b "$EB" -o "$T/err.boot" "$l1"
must_fail "chunk size over the format limit" -c 16384G -b "$EB" -o "$T/err.boot" "$l1"
must_fail "bad UUID" -U xyz -b "$EB" -o "$T/err.boot" "$l1"
must_fail "unknown craft kind" --craft nope -b "$EB" -o "$T/err.boot" "$l1"
must_fail "no layers" -b "$EB" -o "$T/err.boot"
must_fail "bootstrap directory missing: blobs written so far removed" \
	-b "$EB" -o "$T/nonexistent/err.boot" "$l1" "$l2"

# unreadable input: as root, drop to nobody for these two
U=$T/unreadable
mkdir -p "$U/dir/secret" "$U/file"
gen "$U/file/secret" 10 x
chmod 000 "$U/dir/secret" "$U/file/secret"
chmod 0777 "$T" "$EB"
chmod -R a+rX "$L" 2>/dev/null
if [ "$(id -u)" = 0 ]; then
	asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
	asuser=()
fi
unreadable() {	# unreadable DESC LAYER
	local d=$1 before rc
	rm -f "$T/err.boot"
	before=$(ls -a "$EB" | md5sum)
	"${asuser[@]}" "$mk" -b "$EB" -o "$T/err.boot" "$l2" "$2" 2>"$T/err.msg"
	rc=$?
	if [ $rc != 0 ] && grep -q "secret: Permission denied" "$T/err.msg" &&
	   [ ! -e "$T/err.boot" ] && [ "$before" = "$(ls -a "$EB" | md5sum)" ]; then
		ok "$d (exit $rc: $(head -1 "$T/err.msg"))"
	else
		notok "$d (exit $rc)"
		sed 's/^/# /' "$T/err.msg"
	fi
}
# the probe must work, or the user lacks access to WORKDIR or the binary
if "${asuser[@]}" "$mk" -b "$EB" -o "$T/probe.boot" "$l2" 2>/dev/null; then
	rm -f "$T/probe.boot" "$EB"/*
	unreadable "unreadable directory in a layer" "$U/dir"
	unreadable "unreadable file in a layer" "$U/file"
else
	ok "unreadable input # SKIP ${asuser[*]:-current user} cannot use $T or $mk"
fi
chmod 755 "$U/dir/secret" "$U/file/secret"

# over the format limit: two sparse 9 TiB files make a blob > 2^32 blocks
O=$T/over
mkdir -p "$O"
if truncate -s 9T "$O/a" 2>/dev/null && truncate -s 9T "$O/b" 2>/dev/null; then
	must_fail "layer data over the 16 TiB blob limit" -b "$EB" -o "$T/err.boot" "$O"
else
	ok "layer data over the 16 TiB blob limit # SKIP no sparse 9 TiB files here"
fi
rm -rf "$O"

check "-h prints usage" bash -c "'$mk' -h | grep -q 'Usage:.*-b BLOBDIR -o BOOTSTRAP LAYERDIR'"

# ---- optional: the host kernel reads the images (root, erofs, loop) ----------
# MKIMAGE_HOSTCHECK_MOUNT=1 mounts images through loop devices in bdev mode
# (device=): proves the superblock checksum and the layout against a real
# kernel reader.  Off by default: it needs root and changes host state.

loops=()
kmount() {	# kmount BOOT BLOBDIR MNT
	local l i cnt opts=ro
	cnt=$(rd16 "$1" $((1024 + 86)))
	for ((i = 0; i < cnt; i++)); do
		l=$(losetup -f --show -r "$2/$(tag_of "$1" "$i")") || return 1
		loops+=("$l")
		opts+=",device=$l"
	done
	l=$(losetup -f --show -r "$1") || return 1
	loops+=("$l")
	mkdir -p "$3"
	mount -t erofs -o "$opts" "$l" "$3"
}
kdetach() {
	local l
	for l in "${loops[@]}"; do
		losetup -d "$l"
	done
	loops=()
}
if [ "${MKIMAGE_HOSTCHECK_MOUNT:-0}" = 1 ] && [ "$(id -u)" = 0 ] &&
   grep -qw erofs /proc/filesystems; then
	for i in A:blobs:A C:blobs:C D:blobs:D C1m:blobs1m:C A16k:blobs16k:A H:blobsH:H; do
		IFS=: read -r img bdir exp <<<"$i"
		if kmount "$T/$img.boot" "$T/$bdir" "$T/mnt" 2>/dev/null; then
			check "kernel mount of $img reads the stacked tree" \
				diff -r --no-dereference -x fifo "$T/exp$exp" "$T/mnt"
			umount "$T/mnt"
		else
			notok "kernel mount of $img"
		fi
		kdetach
	done
	if kmount "$T/craft-bad-csum.boot" "$CB" "$T/mnt" 2>/dev/null; then
		umount "$T/mnt"
		notok "kernel refuses --craft bad-csum"
	else
		ok "kernel refuses --craft bad-csum"
	fi
	kdetach
fi

# ---- layer images: a blob that is itself a complete image -------------

LI=$T/layerimg
mkdir -p "$LI/blobs"
layer_image_ok() {
	"$mk" -T $EPOCH -U $UUID -b "$LI/blobs" -o "$LI/L" --layer-image "$l1" \
		2>"$LI/L.log" || return 1
	[ -z "$(ls "$LI/blobs")" ] || { echo "--layer-image wrote a blob"; return 1; }
	[ "$(rd16 "$LI/L" $((1024 + 86)))" = 0 ] || { echo "has a device table"; return 1; }
	expect_tree "$LI/want1" "$l1"
	rm -rf "$LI/x1"
	fsck.erofs --extract="$LI/x1" "$LI/L" || return 1
	diff -r --no-dereference -x fifo "$LI/want1" "$LI/x1" || return 1
	diff <(shape "$LI/want1") <(shape "$LI/x1")
}
check "--layer-image: one complete image with its data inside, extracts byte-exact" \
	layer_image_ok
layer_blob_ok() {
	local blk
	blk=$(sed -n 's/.*data at block \([0-9]*\),.*/\1/p' "$LI/L.log")
	[ -n "$blk" ] || return 1
	"$mk" -T $EPOCH -U $UUID -b "$LI/blobs" -o "$LI/M" --layer-blob "1=Lname@$blk" \
		"$l2" "$l1" || return 1
	[ "$(tag_of "$LI/M" 1)" = Lname ] || { echo "slot 1 tag: $(tag_of "$LI/M" 1)"; return 1; }
	[ "$(rd32 "$LI/M" $((1152 + 128 + 64)))" = $(($(stat -c %s "$LI/L") / 4096)) ] ||
		{ echo "slot 1 blocks != the layer image's size"; return 1; }
	[ "$(ls "$LI/blobs" | wc -l)" = 1 ] || { echo "wrote a blob for layer 1"; return 1; }
	cp "$LI/L" "$LI/blobs/Lname"
	expect_tree "$LI/want2" "$l2" "$l1"
	extract_compare "$LI/M" "$LI/blobs" "$LI/want2"
}
check "--layer-blob: a merged image reads layer 1 out of the layer image, byte-exact" \
	layer_blob_ok

# ---- scale: 100 images of 100 layers ----------------------------------------

SB=$T/scaleblobs
mkdir -p "$SB"
start=$(date +%s%N)
scale_ok=1
for i in $(seq 0 99); do
	# each image: the 100 layers rotated by i, so every bootstrap differs
	args=("${mlayers[@]:i}" "${mlayers[@]:0:i}")
	"$mk" -T $EPOCH -U $UUID -b "$SB" -o "$SB/boot$i" "${args[@]}" || scale_ok=0
done
end=$(date +%s%N)
ms=$(((end - start) / 1000000))
echo "# timing: 100 images x 100 layers built in ${ms} ms"
nblobs=$(find "$SB" -name '????????????????????????????????????????????????????????????????' | wc -l)
check "100 images x 100 layers built (${ms} ms), 100 shared blobs" \
	test $scale_ok = 1 -a "$nblobs" = 100

echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
