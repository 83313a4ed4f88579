# Sourced by harness/mkdata.sh: compressed images for compressed_test
# (reads of compressed files in fscache mode).  Built with the host's
# mkfs.erofs (Debian's erofs-utils 1.5: LZ4 and LZ4HC only, no LZMA);
# a whole image is served as the bootstrap blob of `fsid=z-<kind>`, so
# no device table is needed.  expect/z-<kind>/ holds the source tree.
# Uses mkdata.sh's gen() and $out/$src.

# zrand FILE SIZE SEED: SIZE incompressible bytes, the same on every run
zrand() {
	mkdir -p "$(dirname "$1")"
	perl -e 'srand($ARGV[1]); my $n = $ARGV[0];
		 while ($n > 0) { my $k = $n < 4096 ? $n : 4096;
		 print pack("C*", map { int(rand(256)) } 1 .. $k); $n -= $k }' \
		"$2" "$3" >"$1"
}

# zmixed FILE CHUNKS SEED: 64 KiB of text and 64 KiB of noise, in turn,
# so that one file has compressed and stored (incompressible) clusters;
# SEED is a number
zmixed() {
	local i
	: >"$1"
	for i in $(seq "$2"); do
		gen "$src/zchunk" 65536 "zmix-$3-$i"
		cat "$src/zchunk" >>"$1"
		zrand "$src/zchunk" 65536 $(($3 + i))
		cat "$src/zchunk" >>"$1"
	done
	rm -f "$src/zchunk"
}

ztree() {
	local d=$src/ztree
	rm -rf "$d"
	mkdir -p "$d/etc" "$d/usr/share/doc" "$d/var/lib" "$d/empty"
	gen "$d/etc/small.conf" 100 zsmall
	gen "$d/etc/page" 4096 zpage
	gen "$d/usr/share/doc/chunks" 20000 zchunks
	gen "$d/usr/share/doc/text" 300000 ztext
	gen "$d/usr/share/doc/big" 2500000 zbig
	zrand "$d/var/lib/noise" 200000 7
	zmixed "$d/var/lib/mixed" 8 100
	: >"$d/var/lib/zero-length"
	ln -s ../etc/small.conf "$d/usr/small.link"
}

phase "generating compressed images"
ztree
for k in lz4hc-64k lz4-4k lz4hc-tail; do
	case $k in
	lz4hc-64k) zopts="-zlz4hc -C65536" ;;
	lz4-4k) zopts="-zlz4" ;;
	lz4hc-tail) zopts="-zlz4hc,12 -C16384 -Eztailpacking" ;;
	esac
	# shellcheck disable=SC2086
	mkfs.erofs --quiet $zopts -T 1700000000 --all-root \
		-U 00112233-4455-6677-8899-aabbccddeeff \
		"$out/blobs/z-$k" "$src/ztree" >/dev/null 2>&1 ||
		die "mkfs.erofs $zopts failed"
	mkdir -p "$out/expect/z-$k"
	cp -a "$src/ztree/." "$out/expect/z-$k/"
done
rm -rf "$src/ztree"
