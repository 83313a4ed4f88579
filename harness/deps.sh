#!/bin/bash
# Install what the harness needs on Debian 12, saying what it does.
# Idempotent: only missing packages are installed.
. "$(dirname "$0")/lib.sh"

PKGS="linux-source-6.12 build-essential flex bison bc libelf-dev libssl-dev
ccache qemu-system-x86 busybox-static erofs-utils e2fsprogs cpio xz-utils
kmod rsync gnuplot-nox"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

phase "installing packages:$missing"
[ "$(id -u)" = 0 ] || die "need root to install:$missing"
if [ -z "$(find /var/lib/apt/lists -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
	run_logged "$BUILD/apt-update.log" "apt-get update" apt-get update
fi
mkdir -p "$BUILD"
DEBIAN_FRONTEND=noninteractive run_logged "$BUILD/apt-install.log" "apt-get install" \
	apt-get install -y --no-install-recommends $missing
note "packages installed"
