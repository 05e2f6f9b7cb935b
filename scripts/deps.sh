#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages the project needs. Idempotent: when every
# package is present this takes well under a second and touches nothing.
#
# Supported: Debian 12 (bookworm) and Debian 13 (trixie), told apart by
# /etc/os-release.
#   bookworm: bookworm-backports (linux-source-6.12, QEMU 10.0) and a
#     deb-src entry (busybox, bash and dropbear sources) are enabled.
#   trixie: linux-source-6.12 and QEMU 10.0 come from trixie itself; only
#     the deb-src entry is added. Linux 6.1 guests (IVNTB_KVER=6.1) need
#     bookworm's linux-source-6.1, which trixie does not have: a bookworm
#     entry is added with an apt pin that lets that one package, and
#     nothing else, come from it.
# Every entry copies the URI of the machine's own Debian entry: no mirror
# host is named here.
set -euo pipefail

# os_field NAME: a field of /etc/os-release, unquoted.
os_field() {
	{ sed -n "s/^$1=//p" /etc/os-release 2>/dev/null || true; } | tr -d '"' | head -1
}
case "$(os_field ID):$(os_field VERSION_CODENAME)" in
debian:bookworm) CODENAME=bookworm CLANG_VER=14 ;;
debian:trixie) CODENAME=trixie CLANG_VER=19 ;;
*)
	os=$(os_field PRETTY_NAME)
	echo "deps: unsupported system (${os:-no /etc/os-release}): supported are Debian 12 (bookworm) and Debian 13 (trixie)" >&2
	exit 1 ;;
esac

BASE_PKGS=(
	build-essential dpkg-dev fakeroot git python3 rsync
	gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
	qemu-utils opensbi
	liburcu-dev
	flex bison bc libelf-dev libssl-dev cpio kmod xz-utils zstd
	sparse device-tree-compiler clang "libclang-rt-$CLANG_VER-dev" valgrind
	gnuplot-nox iproute2 procps psmisc spin
	dkms unifdef
)
# linux-source-6.12 and QEMU 10.0 (qemu-system-riscv64 is in
# qemu-system-misc on bookworm, in qemu-system-riscv on trixie): pulled
# from bookworm-backports on bookworm, trixie's own on trixie.
if [ "$CODENAME" = bookworm ]; then
	QEMU_PKG=qemu-system-misc
else
	QEMU_PKG=qemu-system-riscv
fi
REL_PKGS=(linux-source-6.12 "$QEMU_PKG" qemu-system-common)
# x86_64 guests (IVNTB_ARCH=x86_64) need the x86 system emulator too;
# arm64 guests the arm one and the aarch64 cross compiler.
[ "${IVNTB_ARCH:-riscv64}" != x86_64 ] || REL_PKGS+=(qemu-system-x86)
if [ "${IVNTB_ARCH:-riscv64}" = arm64 ]; then
	REL_PKGS+=(qemu-system-arm)
	BASE_PKGS+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
# dkms-check compiles the module against a distribution kernel's headers:
# Debian's own (amd64 machines).
[ "$(dpkg --print-architecture)" != amd64 ] || BASE_PKGS+=(linux-headers-amd64)
# Linux 6.1 guests (IVNTB_KVER=6.1) are built from bookworm's own source.
[ "${IVNTB_KVER:-6.12}" != 6.1 ] || BASE_PKGS+=(linux-source-6.1)

# The deb-src entry (and on bookworm, bookworm-backports).
SRC_FILE=/etc/apt/sources.list.d/ivntb-extra.sources
# trixie, Linux 6.1 guests: the bookworm entry and its pin.
OLD_FILE=/etc/apt/sources.list.d/ivntb-bookworm.sources
OLD_PIN=/etc/apt/preferences.d/ivntb-bookworm
NEED_OLD=0
[ "$CODENAME" != trixie ] || [ "${IVNTB_KVER:-6.12}" != 6.1 ] || NEED_OLD=1

# The entries deps.sh writes are in place (on trixie, SRC_FILE must be
# trixie's: one left by bookworm, before an upgrade, is rewritten).
src_ok() {
	[ -f "$SRC_FILE" ] || return 1
	[ "$CODENAME" = bookworm ] || grep -qx 'Suites: trixie' "$SRC_FILE"
}

have_all() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || return 1
	done
}

qemu_is_new() {
	local v
	v=$(dpkg-query -W -f='${Version}' "$QEMU_PKG" 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge 1:10.0
}

# machine_uri SUITE: the URI of the machine's own deb entry for SUITE
# (deb822 or one-line format, [options] allowed), empty if there is none.
machine_uri() {
	local uri
	uri=$(awk -v s="$1" '/^URIs:/ { u = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk -v s="$1" '$1 == "deb" { sub(/^deb[ \t]+\[[^]]*\]/, "deb"); $0 = $0
				if ($3 == s) { print $2; exit } }' || true)
	fi
	echo "$uri"
}

if have_all "${BASE_PKGS[@]}" "${REL_PKGS[@]}" && qemu_is_new && src_ok; then
	echo "deps: all packages present"
	exit 0
fi

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

uri=
if ! src_ok || { [ "$NEED_OLD" = 1 ] && [ ! -f "$OLD_FILE" ]; }; then
	uri=$(machine_uri "$CODENAME")
	if [ -z "$uri" ]; then
		echo "deps: cannot find the machine's Debian $CODENAME apt entry" >&2
		exit 1
	fi
fi

if ! src_ok && [ "$CODENAME" = bookworm ]; then
	echo "deps: enabling bookworm-backports and deb-src from the existing entry"
	$SUDO tee "$SRC_FILE" >/dev/null <<EOT
# Written by ivshmem-ntb scripts/deps.sh from the machine's own entry.
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
elif ! src_ok; then
	echo "deps: enabling deb-src from the existing trixie entry"
	$SUDO tee "$SRC_FILE" >/dev/null <<EOT
# Written by ivshmem-ntb scripts/deps.sh from the machine's own entry.
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
fi

if [ "$NEED_OLD" = 1 ] && [ ! -f "$OLD_FILE" ]; then
	echo "deps: Linux 6.1 guests: enabling bookworm (the trixie entry's URI), pinned to linux-source-6.1 alone"
	$SUDO tee "$OLD_PIN" >/dev/null <<EOT
# Written by ivshmem-ntb scripts/deps.sh: nothing comes from bookworm
# (priority -1: never installed) but linux-source-6.1, which trixie lacks.
Package: *
Pin: release n=bookworm
Pin-Priority: -1

Package: linux-source-6.1
Pin: release n=bookworm
Pin-Priority: 500
EOT
	$SUDO tee "$OLD_FILE" >/dev/null <<EOT
# Written by ivshmem-ntb scripts/deps.sh for linux-source-6.1 alone
# (pinned in $OLD_PIN).
Types: deb
URIs: $uri
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
$SUDO apt-get update -qq
echo "deps: installing ${BASE_PKGS[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${BASE_PKGS[@]}" >/dev/null
if [ "$CODENAME" = bookworm ]; then
	echo "deps: installing from bookworm-backports: ${REL_PKGS[*]}"
	$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
		"${REL_PKGS[@]}" >/dev/null
else
	echo "deps: installing ${REL_PKGS[*]}"
	$SUDO apt-get install -y -qq --no-install-recommends "${REL_PKGS[@]}" >/dev/null
fi
echo "deps: done ($(qemu-system-riscv64 --version | head -1))"
