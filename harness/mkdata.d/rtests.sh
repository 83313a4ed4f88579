# Sourced by harness/mkdata.sh: data of the R-tests (issue 9: what users
# really send).  Uses mkdata.sh's helpers and $mkimage/$out/$src; runs
# after reliability.sh (rel_mkimage).

# cpblob SRC NAME...: copies of the bootstrap or blob SRC under odd names
cpblob() {
	local s=$1 n
	shift
	for n in "$@"; do
		cp "$out/blobs/$s" "$out/blobs/$n" || die "cannot copy $s to '$n'"
	done
}
rep() { printf "%${2}s" '' | tr ' ' "$1"; }	# rep CHAR N

# R1: fsids of 31..36, 64 and 128 bytes that are prefixes of one another,
# one sharing 63 bytes with the 64-byte one, and loop0..loop7 (beside a
# loop-device mount of that name).  Must match r1_sysfs_test.c.
r1hex=$(rep x 8 | sed 's/x/0123456789abcdef/g')
for n in 31 32 33 34 35 36 64 128; do
	cpblob bootA "${r1hex:0:n}"
done
cpblob bootA "${r1hex:0:63}x"
for n in 0 1 2 3 4 5 6 7; do
	cpblob bootA "loop$n"
done

# R7, R8: a layer image (complete, its data inside) of onlyA, and a merged
# image whose second device is that layer image, as erofs-utils' rebuild
# mode makes them.
tmp=$(mktemp -d)
"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff -b "$tmp" \
	-o "$out/blobs/r7layer" --layer-image "$src/layers/onlyA" 2>"$tmp/log" ||
	die "erofs-mkimage --layer-image failed: $(cat "$tmp/log")"
blk=$(sed -n 's/.*data at block \([0-9]*\),.*/\1/p' "$tmp/log")
[ -n "$blk" ] || die "erofs-mkimage --layer-image did not say where the data is"
rel_mkimage "$out/blobs" "$out/blobs/r7merged" --layer-blob "1=r7layer@$blk" \
	"$src/layers/onlyB" "$src/layers/onlyA"
rm -rf "$tmp"
mkdir -p "$out/expect/r7layer" "$out/expect/r7merged"
cp -a "$src/layers/onlyA/." "$out/expect/r7layer/"
cp -a "$src/layers/onlyB/." "$src/layers/onlyA/." "$out/expect/r7merged/"

# R2, R4: "r2one" has one device (the onlyB layer), so one device= option
# names it; copies of that blob under long and odd names.
tmp=$(mktemp -d)
rel_mkimage "$tmp" "$out/blobs/r2one" "$src/layers/onlyB"
mkdir -p "$out/expect/r2one"
cp -a "$src/layers/onlyB/." "$out/expect/r2one/"
onlyb=$(basename "$(ls "$tmp"/[0-9a-f]*)")
rm -rf "$tmp"
r4odd=("sp ace" 'back\slash' "a=b" "dot..dot" "$(printf 'na\303\257ve-\346\227\245')"
       "$(printf 'hi\200\376\377')")
cpblob "$onlyb" "$(rep N 250)" "$(rep N 251)" "$(rep N 252)" "$(rep N 188) "
for n in "${r4odd[@]}"; do
	cpblob "$onlyb" "dev.$n"
	# R4: bootstraps under the same odd names (copies of bootA)
	cpblob bootA "$n"
done

# R5: the longest names that work (copies of bootA): plain fsid or domain
# fsid of 248 bytes, a domain fsid of 252 printable bytes or 189 bytes with
# one outside 0x21..0x7e; and 129 bytes, just over the old cap.
cpblob bootA "$(rep L 129)" "$(rep L 248)" "$(rep L 252)" "$(rep L 188) "
