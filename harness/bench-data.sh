#!/bin/bash
# bench-data.sh MKIMAGE OUTDIR [GROW_IMAGES GROW_LAYERS]
# The benchmark data disk (OUTDIR.img, ext4, read-only in the guest):
#   blobs/            every bootstrap (named by fsid) and layer blob (sha256)
#   share.txt         P1/P2: "share-NN <layer>..." 20 images, each 10
#                     layers drawn from a pool of 30 plus one of its own
#   share-limit.txt   the static limit: distinct blobs and their bytes
#   grow-NNN          P3: GROW_IMAGES images of GROW_LAYERS distinct
#                     one-block layers each (default 100 x 99: 100 blobs
#                     per image with its bootstrap)
#   probe-NN          P3: 48 small images, a bootstrap and 4 layers each
#   probe.txt         "probe <images> <blobs per image>"
#   p4w-K-I, p4pin-K  P4: 4 images of 16 layers per worker K (0..7), and
#                     one domain pin (1 layer) per K
# Every byte follows from the names alone (a fixed LCG picks the layers,
# fixed timestamp and UUID), so both variants and every run see the
# same disk.
. "$(dirname "$0")/lib.sh"

mkimage=${1:?usage: bench-data.sh MKIMAGE OUTDIR [GROW_IMAGES GROW_LAYERS]}
out=${2:?usage: bench-data.sh MKIMAGE OUTDIR [GROW_IMAGES GROW_LAYERS]}
grow_images=${3:-100}
grow_layers=${4:-99}
share_images=20 share_layers=10 pool=30 probes=48
src=$out.src
rm -rf "$out" "$src" "$out.img"
mkdir -p "$out/blobs" "$src"

mkimg() {	# mkimg FSID LAYERDIR...
	local fsid=$1
	shift
	"$mkimage" -T 1700000000 -U 00112233-4455-6677-8899-aabbccddeeff \
		-b "$out/blobs" -o "$out/blobs/$fsid" "$@" >/dev/null ||
		die "erofs-mkimage failed for $fsid"
}

# A P1/P2 layer: three files of odd sizes (about 64 KiB) under a
# directory of its own, so no layer hides another's bytes.
share_layer() {
	local d=$src/share/$1
	mkdir -p "$d/$1/sub"
	awk -v n="$1" -v dir="$d/$1" 'BEGIN {
		split("3000 20000 41000", sz, " ")
		split("f1 sub/f2 sub/f3", nm, " ")
		for (i = 1; i <= 3; i++) {
			s = ""
			for (k = 0; length(s) < sz[i]; k++)
				s = s sprintf("%s %s line %06d\n", n, nm[i], k)
			printf "%s", substr(s, 1, sz[i]) > (dir "/" nm[i])
		}
	}'
}

phase "generating benchmark data: P1/P2 ($share_images images over $pool+$share_images layers), P3 ($grow_images x $grow_layers layers), P4"

# P1/P2
for ((i = 0; i < pool; i++)); do share_layer "$(printf 'pool%02d' $i)"; done
for ((i = 0; i < share_images; i++)); do share_layer "$(printf 'own%02d' $i)"; done
seed=20261125
for ((i = 0; i < share_images; i++)); do
	idx=($(seq 0 $((pool - 1))))
	pick=()
	for ((j = 0; j < share_layers; j++)); do	# partial Fisher-Yates, fixed LCG
		seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
		k=$(( j + seed % (pool - j) ))
		t=${idx[j]}; idx[j]=${idx[k]}; idx[k]=$t
		pick+=("$(printf 'pool%02d' "${idx[j]}")")
	done
	pick+=("$(printf 'own%02d' $i)")
	fsid=$(printf 'share-%02d' $i)
	dirs=()
	for l in "${pick[@]}"; do dirs+=("$src/share/$l"); done
	mkimg "$fsid" "${dirs[@]}"
	echo "$fsid ${pick[*]}" >>"$out/share.txt"
done
# static limit: bootstraps + every distinct layer blob once
used=$(cut -d' ' -f2- "$out/share.txt" | tr ' ' '\n' | sort -u | wc -l)
sbytes=$(cd "$out/blobs" && stat -c %s share-* $(ls | grep -v -- -) | awk '{ s += int(($1 + 4095) / 4096) * 4096 } END { print s }')
echo "opens=$((share_images + used)) bytes=$sbytes layers=$used" >"$out/share-limit.txt"

# P3: one-block layers, each distinct
onelayer() {	# onelayer DIR NAME
	mkdir -p "$1"
	printf '%-4095s\n' "$2" >"$1/$2"
}
for ((i = 0; i < grow_images; i++)); do
	dirs=()
	for ((j = 0; j < grow_layers; j++)); do
		d=$src/grow/$i/$j
		dirs+=("$d")
	done
	mkdir -p "${dirs[@]}"
	for ((j = 0; j < grow_layers; j++)); do
		printf '%-4095s\n' "grow $i layer $j" >"$src/grow/$i/$j/g$i-$j"
	done
	mkimg "$(printf 'grow-%03d' $i)" "${dirs[@]}"
	rm -rf "$src/grow/$i"
done
for ((i = 0; i < probes; i++)); do
	dirs=()
	for ((j = 0; j < 4; j++)); do
		onelayer "$src/probe/$i/$j" "probe-$i-$j"
		dirs+=("$src/probe/$i/$j")
	done
	mkimg "$(printf 'probe-%02d' $i)" "${dirs[@]}"
done
echo "probe $probes 5" >"$out/probe.txt"

# P4: 8 workers with 4 images of 16 layers each, and 8 domain pins
for ((k = 0; k < 8; k++)); do
	for ((i = 0; i < 4; i++)); do
		dirs=()
		for ((j = 0; j < 16; j++)); do
			onelayer "$src/p4w/$k/$i/$j" "p4w-$k-$i-$j"
			dirs+=("$src/p4w/$k/$i/$j")
		done
		mkimg "p4w-$k-$i" "${dirs[@]}"
	done
	onelayer "$src/p4pin/$k" "p4pin-$k"
	mkimg "p4pin-$k" "$src/p4pin/$k"
done

# P5: 16 images over one base layer of 32 MiB (8 files of 3 MiB, 64 of
# 128 KiB) and a small layer each: the page cache they fill with and
# without inode_share (pcshare_bench)
p5=$src/p5/base
mkdir -p "$p5/big" "$p5/small"
for ((i = 0; i < 8; i++)); do
	yes "p5 big $i the quick brown fox jumps over the lazy dog" | head -c 3145728 >"$p5/big/f$i"
done
for ((i = 0; i < 64; i++)); do
	yes "p5 small $i the quick brown fox jumps over the lazy dog" | head -c 131072 >"$p5/small/f$i"
done
for ((i = 1; i <= 16; i++)); do
	mkdir -p "$src/p5/own$i"
	printf 'p5 image %d\n' "$i" >"$src/p5/own$i/hostname"
	mkimg "p5-$i" "$p5" "$src/p5/own$i"
done
echo "p5 16 $(du -sb "$p5" | cut -f1)" >"$out/p5.txt"

nblobs=$(ls "$out/blobs" | wc -l)
note "$nblobs blobs, $(du -sh "$out" | cut -f1); P1/P2 limit: $(cat "$out/share-limit.txt")"
size=$(( $(du -sm "$out" | cut -f1) * 2 + 64 ))
mkfs.ext4 -q -F -b 4096 -N $((nblobs + 1024)) -d "$out" "$out.img" "${size}M" ||
	die "mkfs.ext4 -d failed"
rm -rf "$src"
