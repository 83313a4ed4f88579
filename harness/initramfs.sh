#!/bin/bash
# initramfs.sh OUT.cpio.gz TESTLIST BIN...
# A busybox-static initramfs carrying the given static programs in /bin
# and TESTLIST as /etc/tests (lines: "<timeout-seconds> <command>").
. "$(dirname "$0")/lib.sh"

out=${1:?usage: initramfs.sh OUT TESTLIST BIN...}
list=${2:?usage: initramfs.sh OUT TESTLIST BIN...}
shift 2
bb=/bin/busybox
file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
	die "$bb is not busybox-static: run harness/deps.sh"

root=$(mktemp -d "$BUILD/initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,cache,data}
cp "$bb" "$root/bin/busybox"
for app in $("$bb" --list); do
	[ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done
cp "$TOP/harness/guest-init.sh" "$root/init"
chmod +x "$root/init"
cp "$list" "$root/etc/tests"
for b in "$@"; do
	cp "$b" "$root/bin/"
done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
