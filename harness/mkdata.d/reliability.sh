# Sourced by harness/mkdata.sh: images of the reliability and isolation
# suite (storm_test, t_*_test, isolation_test, hostile*_test, ...).
# Uses mkdata.sh's layer/image functions and $mkimage/$out/$src.

# mkimage_to DIR BOOTSTRAP [--craft KIND] LAYER...: build into DIR, print
# nothing; the layer blobs land in DIR under their sha256 names.
rel_mkimage() {
	local blobdir=$1 boot=$2
	shift 2
	"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
		-b "$blobdir" -o "$boot" "$@" || die "erofs-mkimage failed for $boot ($*)"
}

# Storms: four images over the same three layers, so that every domain
# shares "shared" between all of them and onlyA/onlyB between pairs.
image bootC shared onlyA
image bootD shared onlyB

# T2: xdata's only device slot is tagged "xboot", the fsid of another
# image: the same name as bootstrap and as data blob in one domain.
image xboot shared onlyA
rel_mkimage "$out/blobs" "$out/blobs/xdata" --craft tag-is-fsid=xboot "$src/layers/onlyB"

# T11: bootstraps under hostile or boundary fsids (copies of bootA, so the
# expected tree is expect/bootA).  Stock accepts them all.
long128=$(printf 'L%.0s' $(seq 128))
cp "$out/blobs/bootA" "$out/blobs/$long128"
cp "$out/blobs/bootA" "$out/blobs/${long128}L"
cp "$out/blobs/bootA" "$out/blobs/boot,comma"
cp "$out/blobs/bootA" "$out/blobs/ctl$(printf '\001')boot"

# Isolation: in domains isoA and isoB the same fsid "iso" and the same
# data blob name "isoblob" hold different content, served per volume
# from blobs/erofs,<domain>/ (the daemon prefers BLOBDIR/<volume key>/).
for d in isoA isoB; do
	layer "$d"
	tmp=$(mktemp -d)
	mkdir -p "$out/blobs/erofs,$d" "$out/expect/iso-$d"
	rel_mkimage "$tmp" "$out/blobs/erofs,$d/iso" --craft tag-is-fsid=isoblob \
		"$src/layers/$d"
	mv "$tmp"/[0-9a-f]* "$out/blobs/erofs,$d/isoblob"
	rm -rf "$tmp"
	cp -a "$src/layers/$d/." "$out/expect/iso-$d/"
done

# Hostile images: one malformed bootstrap per --craft kind, over the
# onlyA and onlyB layers (blobs shared with the regular images).
for k in empty-tag dup-tag extra-devices-overflow zero-blocks huge-blocks \
	 chunk-past-end bad-device-id bad-csum; do
	rel_mkimage "$out/blobs" "$out/blobs/h-$k" --craft "$k" \
		"$src/layers/onlyA" "$src/layers/onlyB"
done
# An image naming its own bootstrap as its data blob.
rel_mkimage "$out/blobs" "$out/blobs/h-self" --craft tag-is-fsid=h-self "$src/layers/onlyA"
# Crafted images whose reads are still byte-exact on every kernel.
for k in zero-blocks huge-blocks; do
	mkdir -p "$out/expect/h-$k"
	cp -a "$src/layers/onlyA/." "$src/layers/onlyB/." "$out/expect/h-$k/"
done
