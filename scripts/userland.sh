#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Cross-build (or reuse from the cache) the guest userland: static busybox
# and static bash from Debian's source packages. Prints the directory that
# holds bin/busybox and bin/bash on stdout's last line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

srcver() {
	apt-cache showsrc "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'
}
BB_VER=$(srcver busybox)
BASH_VER=$(srcver bash)
[ -n "$BB_VER" ] && [ -n "$BASH_VER" ] ||
	die "userland: no deb-src entry for busybox/bash (run: make deps)"

h=$(sha256sum "$0" | cut -c1-8)
OUT=$IVNTB_CACHE/userland/$IVNTB_ARCH-busybox-${BB_VER//[:~]/_}-bash-${BASH_VER//[:~]/_}-$h
if [ -x "$OUT/bin/busybox" ] && [ -x "$OUT/bin/bash" ]; then
	step "userland: cached $(basename "$OUT")" >&2
	echo "$OUT"
	exit 0
fi

if [ -n "$CROSS" ]; then
	HOST=${CROSS%-}
	CC=${CROSS}gcc
else
	HOST=$(gcc -dumpmachine)
	CC=gcc
fi
WORK=$IVNTB_CACHE/userland/work-$IVNTB_ARCH
rm -rf "$WORK"
mkdir -p "$WORK" "$OUT.tmp/bin"

t0=$(date +%s)
step "userland: fetching sources busybox $BB_VER, bash $BASH_VER" >&2
( cd "$WORK" && apt-get source -qq busybox bash >/dev/null 2>"$WORK/source.log" ) ||
	{ cat "$WORK/source.log" >&2; die "userland: apt-get source failed"; }

step "userland: building static busybox (about 1 min)" >&2
bb=$(find "$WORK" -maxdepth 1 -type d -name 'busybox-*' | head -1)
(
	cd "$bb"
	# busybox 1.35 bug: "modprobe -r MOD" exits 1 when a dependency of
	# MOD stays loaded (in use), although its own comment says not to
	# error out then; kmod's modprobe succeeds, and ntb_test.sh's cleanup
	# relies on that. Reset rc for dependencies.
	grep -q 'ivntb: deps do not fail' modutils/modprobe.c ||
		sed -i 's|^\(\s*\)/\* do not error out if \*deps\* fail to unload \*/|&\n\1if (!first)\n\1\trc = 0; /* ivntb: deps do not fail */|' \
			modutils/modprobe.c
	grep -q 'ivntb: deps do not fail' modutils/modprobe.c
	make -s ARCH="$KARCH" CROSS_COMPILE="$CROSS" defconfig >/dev/null
	sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' \
		-e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' \
		-e 's/^CONFIG_FEATURE_TC_INGRESS=y/# CONFIG_FEATURE_TC_INGRESS is not set/' \
		-e 's/^CONFIG_MODPROBE_SMALL=y/# CONFIG_MODPROBE_SMALL is not set/' .config
	# Full modutils: the "small" modprobe ignores modules.dep and loads
	# by trial, which logs "Unknown symbol" before it gets the order right.
	make -s ARCH="$KARCH" CROSS_COMPILE="$CROSS" oldconfig </dev/null >/dev/null
	make ARCH="$KARCH" CROSS_COMPILE="$CROSS" -j"$JOBS" busybox >"$WORK/busybox.log" 2>&1
) || { tail -n 30 "$WORK/busybox.log" >&2; die "userland: busybox build failed"; }
cp "$bb/busybox" "$OUT.tmp/bin/busybox"

# A guest of the host's own architecture takes Debian's bash-static,
# built from the same source package, and spares the build (1.5 min)
if [ -z "$CROSS" ] && [ "$(dpkg --print-architecture)" = amd64 ] &&
	[ "$IVNTB_ARCH" = x86_64 ] &&
	( cd "$WORK" && apt-get download -qq bash-static >/dev/null 2>"$WORK/bash-static.log" ) &&
	dpkg-deb -x "$WORK"/bash-static_*.deb "$WORK/bash-static" &&
	[ -x "$WORK/bash-static/bin/bash-static" ]; then
	step "userland: bash from Debian's bash-static $(dpkg-deb -f "$WORK"/bash-static_*.deb Version)" >&2
	cp "$WORK/bash-static/bin/bash-static" "$WORK/bash-static.bin"
else
step "userland: building static bash (about 1 min)" >&2
bs=$(find "$WORK" -maxdepth 1 -type d -name 'bash-*' | head -1)
(
	mkdir -p "$WORK/bash-build"
	cd "$WORK/bash-build"
	# gcc 14 (Debian 13) makes an implicit declaration an error, which
	# bash 5.2's bundled termcap has (write() in tparam.c); gcc 12 warns
	"$bs/configure" --host="$HOST" --enable-static-link --without-bash-malloc \
		--disable-nls CC="$CC" CFLAGS="-g -O2 -Wno-error=implicit-function-declaration" \
		>"$WORK/bash-configure.log" 2>&1
	make -j"$JOBS" >"$WORK/bash.log" 2>&1
) || { tail -n 30 "$WORK/bash.log" "$WORK/bash-configure.log" >&2; die "userland: bash build failed"; }
cp "$WORK/bash-build/bash" "$WORK/bash-static.bin"
fi
cp "$WORK/bash-static.bin" "$OUT.tmp/bin/bash"
"${CROSS}strip" "$OUT.tmp/bin/bash" "$OUT.tmp/bin/busybox"

rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
rm -rf "$WORK"
step "userland: built in $(( $(date +%s) - t0 )) s" >&2
echo "$OUT"
