# Sourced by harness/mkdata.sh: chunk-based files with holes for
# holes_test (reads across a hole chunk and a data chunk in fscache mode).
# erofs-mkimage --holes writes each all-zero chunk as an EROFS_NULL_ADDR
# chunk index with no blob bytes.  One tree, two images:
#   holes-4k   4 KiB chunks: every zero 4 KiB piece is a hole
#   holes-64k  64 KiB chunks: only zero 64 KiB pieces are holes
# expect/<image>/ is the tree; holes.txt has "<image> <blob> <data bytes>"
# (the blob must be smaller than the files: proof that holes were made).
# Uses mkdata.sh's gen() and $mkimage/$out/$src.

# hfile FILE SEG...: FILE made of segments, each D<bytes> (text) or
# H<bytes> (zeros), in order
hfile() {
	local f=$1 s n=0
	shift
	mkdir -p "$(dirname "$f")"
	: >"$f"
	for s in "$@"; do
		n=$((n + 1))
		case $s in
		D*) gen "$src/hseg" "${s#D}" "hole-$(basename "$f")-$n"
		    cat "$src/hseg" >>"$f" ;;
		H*) head -c "${s#H}" /dev/zero >>"$f" ;;
		*) die "hfile: bad segment $s" ;;
		esac
	done
	rm -f "$src/hseg"
}

# halt FILE N UNIT: N segments of UNIT bytes, data and hole in turn
halt() {
	local segs=() i
	for i in $(seq "$2"); do
		if [ $((i % 2)) = 1 ]; then segs+=("D$3"); else segs+=("H$3"); fi
	done
	hfile "$1" "${segs[@]}"
}

phase "generating images with holes"
d=$src/holes
rm -rf "$d"
K=4096 K64=65536
hfile "$d/4k/dhd" D$K H$K D$K			# [data][hole][data]
hfile "$d/4k/dhd-wide" D$((4 * K)) H$((4 * K)) D$((4 * K))
hfile "$d/4k/hd" H$K D$K			# [hole][data]
hfile "$d/4k/dh" D$K H$K			# ends in a whole hole chunk
hfile "$d/4k/dh-tail" D$K H1000			# ends in a partial hole chunk
hfile "$d/4k/hd-tail" H$K D1000			# ends mid-chunk after a hole
hfile "$d/4k/hhd-odd" H$((2 * K)) D$((K + 123))	# data spills into a last partial chunk
hfile "$d/4k/zeros" H$((3 * K))			# only holes: no blob bytes at all
halt "$d/4k/alt" 256 $K				# 1 MiB, data and hole in turn
hfile "$d/64k/dhd" D$K64 H$K64 D$K64
hfile "$d/64k/hd" H$K64 D$K64
hfile "$d/64k/dh" D$K64 H$K64
hfile "$d/64k/hd-tail" H$K64 D10000		# ends mid-chunk after a hole
hfile "$d/64k/dhhhd" D$K64 H$((3 * K64)) D100
halt "$d/64k/alt" 32 $K64			# 2 MiB, data and hole in turn
gen "$d/plain" 300000 holes-plain		# no hole at all
for c in 4k 64k; do
	tmp=$(mktemp -d)
	"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
		-c "$c" --holes -b "$tmp" -o "$out/blobs/holes-$c" "$d" ||
		die "erofs-mkimage --holes failed for holes-$c"
	blob=$(ls "$tmp" | grep -v "^holes-$c\$")
	bytes=$(find "$d" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
	[ "$(stat -c %s "$tmp/$blob")" -lt "$bytes" ] ||
		die "holes-$c: the blob holds every byte: no holes were made"
	mv "$tmp/$blob" "$out/blobs/"
	rm -rf "$tmp"
	echo "holes-$c $blob $bytes" >>"$out/holes.txt"
	mkdir -p "$out/expect/holes-$c"
	cp -a "$d/." "$out/expect/holes-$c/"
done
rm -rf "$d"
