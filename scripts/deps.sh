#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages the project needs. Idempotent: when every
# package is present this takes well under a second and touches nothing.
#
# bookworm-backports (linux-source-6.12, QEMU 10.0) and a deb-src entry
# (busybox, bash and dropbear sources) are enabled by copying the URI of
# the machine's own Debian entry: no mirror host is named here.
set -euo pipefail

BASE_PKGS=(
	build-essential dpkg-dev fakeroot git python3 rsync
	gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
	qemu-utils opensbi
	liburcu-dev
	flex bison bc libelf-dev libssl-dev cpio kmod xz-utils zstd
	sparse device-tree-compiler clang libclang-rt-14-dev valgrind
	gnuplot-nox iproute2 procps psmisc spin
	dkms unifdef
)
# Pulled from bookworm-backports.
BPO_PKGS=(linux-source-6.12 qemu-system-misc qemu-system-common)
# x86_64 guests (IVNTB_ARCH=x86_64) need the x86 system emulator too.
[ "${IVNTB_ARCH:-riscv64}" != x86_64 ] || BPO_PKGS+=(qemu-system-x86)
# dkms-check compiles the module against a distribution kernel's headers:
# Debian's own (amd64 machines).
[ "$(dpkg --print-architecture)" != amd64 ] || BASE_PKGS+=(linux-headers-amd64)
# Linux 6.1 guests (IVNTB_KVER=6.1) are built from bookworm's own source.
[ "${IVNTB_KVER:-6.12}" != 6.1 ] || BASE_PKGS+=(linux-source-6.1)

SRC_FILE=/etc/apt/sources.list.d/ivntb-extra.sources

have_all() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || return 1
	done
}

qemu_is_new() {
	local v
	v=$(dpkg-query -W -f='${Version}' qemu-system-misc 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge 1:10.0
}

if have_all "${BASE_PKGS[@]}" "${BPO_PKGS[@]}" && qemu_is_new &&
   [ -f "$SRC_FILE" ]; then
	echo "deps: all packages present"
	exit 0
fi

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

if [ ! -f "$SRC_FILE" ]; then
	# The URI of the existing bookworm entry (deb822 or one-line format).
	uri=$(awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ { print u; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
	fi
	if [ -z "$uri" ]; then
		echo "deps: cannot find the machine's Debian bookworm apt entry" >&2
		exit 1
	fi
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
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
$SUDO apt-get update -qq
echo "deps: installing ${BASE_PKGS[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${BASE_PKGS[@]}" >/dev/null
echo "deps: installing from bookworm-backports: ${BPO_PKGS[*]}"
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
	"${BPO_PKGS[@]}" >/dev/null
echo "deps: done ($(qemu-system-riscv64 --version | head -1))"
