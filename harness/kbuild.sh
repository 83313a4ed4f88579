#!/bin/bash
# Configure and build a kernel: kbuild.sh VARIANT CONFIG [extra fragment...]
#   VARIANT: stock | series          CONFIG: base | debug | bench
# allnoconfig + configs/base.config (+ configs/CONFIG.config, + series.config
# for the series), out of tree in build/v-VARIANT/obj-CONFIG, with ccache.
# Fails loudly when olddefconfig drops a requested option.
# Prints the path of the bzImage on stdout.
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: kbuild.sh VARIANT CONFIG [fragment...]}
cfg=${2:?usage: kbuild.sh VARIANT CONFIG [fragment...]}
shift 2
# One build per variant at a time: concurrent runs (two developers, or
# check and bench) would otherwise rewrite the same tree and objects.
mkdir -p "$BUILD/v-$variant"
exec 9>"$BUILD/v-$variant/.lock"
flock 9 || die "cannot lock $BUILD/v-$variant"
src=$("$TOP/harness/tree.sh" "$variant") || exit 1
obj=$BUILD/v-$variant/obj-$cfg
mkdir -p "$obj"

frags="$TOP/configs/base.config"
[ "$cfg" = base ] || frags="$frags $TOP/configs/$cfg.config"
[ "$variant" = series ] && [ -f "$TOP/configs/series.config" ] &&
	frags="$frags $TOP/configs/series.config"
for f in $frags "$@"; do
	[ -f "$f" ] || die "missing config fragment $f"
done
cat $frags "$@" >"$obj/fragment.new"

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$BUILD
export KBUILD_BUILD_TIMESTAMP="2026-01-01" KBUILD_BUILD_USER=harness KBUILD_BUILD_HOST=harness
kmake() {
	make -C "$src" ARCH=x86_64 O="$obj" CC="ccache gcc" "$@"
}

if ! cmp -s "$obj/fragment.new" "$obj/fragment" || [ ! -f "$obj/.config" ]; then
	phase "configuring $variant-$cfg" >&2
	mv "$obj/fragment.new" "$obj/fragment"
	kmake -s KCONFIG_ALLCONFIG="$obj/fragment" allnoconfig >"$obj/config.log" 2>&1 ||
		{ cat "$obj/config.log" >&2; die "configuration failed"; }
	bad=0
	while IFS='=' read -r opt val; do
		case $opt in CONFIG_*) ;; *) continue ;; esac
		if [ "$val" = n ]; then
			grep -q "^$opt=" "$obj/.config" &&
				{ echo "config: $opt should be off" >&2; bad=1; }
		else
			grep -qx "$opt=$val" "$obj/.config" ||
				{ echo "config: $opt=$val was dropped (dependency missing?)" >&2; bad=1; }
		fi
	done <"$obj/fragment"
	[ $bad = 0 ] || { rm -f "$obj/.config"; die "requested options were dropped"; }
else
	rm -f "$obj/fragment.new"
fi

phase "building $variant-$cfg kernel ($(base_version), $(nproc) jobs, ccache)" >&2
run_logged "$obj/build.log" "kernel build" kmake -j"$(nproc)" bzImage >&2
note "kernel ready: $obj/arch/x86/boot/bzImage" >&2
echo "$obj/arch/x86/boot/bzImage"
