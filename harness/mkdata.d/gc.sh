# Sourced by harness/mkdata.sh: images of gc_test.
# Uses mkdata.sh's $mkimage/$out/$src (it runs before reliability.sh).

# The onlyA layer behind crafted device tags; gc_test serves the onlyA
# blob under each tag and reads the tag back from the debugfs listing.
#  gc-tag:  a newline, '%', an escape sequence, '\', DEL, UTF-8 and a
#           space: the series refuses the control bytes at mount;
#  gc-tag2: '%', '\', UTF-8 and spaces: mounted, and listed escaped.
gc_mkimage() {
	"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
		-b "$out/blobs" -o "$out/blobs/$1" --craft "tag-is-fsid=$2" \
		"$src/layers/onlyA" || die "erofs-mkimage failed for $1"
	mkdir -p "$out/expect/$1"
	cp -a "$src/layers/onlyA/." "$out/expect/$1/"
}
gc_mkimage gc-tag "$(printf 'gc\nta%%g\033[1m\\x\177\303\251 end')"
gc_mkimage gc-tag2 "$(printf 'gc ta%%g\\x\303\251 end%%n')"
