#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ivntb-shm dtb: the pools go where the machine puts the ivshmem BAR2s,
# read from QEMU's own tree (riscv64 virt 0x4_0000_0000, arm64 virt
# 0x80_0000_0000: the addresses Linux assigned in the guests), --bar-base
# overrides, a machine without a 64-bit PCI window is refused, and a bad
# region costs no QEMU run.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TOOL=${BUILD:-$TOP/build/user}/ivntb-shm
[ -x "$TOOL" ] || make -s -C "$TOP/shm-protocol" all >/dev/null || exit 1
W=$(mktemp -d)
R=/dev/shm/ivntb-dtb-test-$$
trap 'rm -rf "$W" "$R"' EXIT
"$TOOL" init "$R" --size 4M --ports 2 >/dev/null || exit 1

n=0 f=0 s=0
t() {
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
		f=$((f + 1)); echo "not ok $n - $1: expected '$2' got '$3'"; fi
}
skip() { n=$((n + 1)) s=$((s + 1)); echo "ok $n - $1 # SKIP $2"; }
# pools DTB: the pool node names of a generated tree
pools() { dtc -q -I dtb -O dts "$1" | sed -n 's/.*\(ivntb-mw@[0-9a-f]*\).*/\1/p' | tr '\n' ' '; }
echo "1..6"

if command -v qemu-system-riscv64 >/dev/null; then
	"$TOOL" dtb "$R" --out "$W/rv.dtb" -- qemu-system-riscv64 -M virt -smp 2 -m 256 >/dev/null
	t "riscv64 virt: pools at 0x4_0000_0000 + each port's inbound range" \
		"ivntb-mw@400080000 ivntb-mw@400180000 " "$(pools "$W/rv.dtb")"
	"$TOOL" dtb "$R" --out "$W/rv2.dtb" --bar-base 0x500000000 -- qemu-system-riscv64 -M virt -smp 2 -m 256 >/dev/null
	t "--bar-base overrides what the tree says" \
		"ivntb-mw@500080000 ivntb-mw@500180000 " "$(pools "$W/rv2.dtb")"
else
	skip "riscv64 virt: pools at 0x4_0000_0000" "no qemu-system-riscv64"
	skip "--bar-base overrides" "no qemu-system-riscv64"
fi
if command -v qemu-system-aarch64 >/dev/null; then
	"$TOOL" dtb "$R" --out "$W/a64.dtb" -- qemu-system-aarch64 -M virt,gic-version=3 -cpu max -smp 2 -m 256 >/dev/null
	t "arm64 virt: pools at 0x80_0000_0000 + each port's inbound range" \
		"ivntb-mw@8000080000 ivntb-mw@8000180000 " "$(pools "$W/a64.dtb")"
else
	skip "arm64 virt: pools at 0x80_0000_0000" "no qemu-system-aarch64 (IVNTB_ARCH=arm64 make deps)"
fi
if command -v qemu-system-riscv64 >/dev/null; then
	# sifive_u has PCIe only in newer models; spike has no PCI at all
	"$TOOL" dtb "$R" --out "$W/spike.dtb" -- qemu-system-riscv64 -M spike -smp 1 -m 256 2>"$W/err" >/dev/null
	t "a machine without a 64-bit PCI window: refused (exit 4)" "4 1" \
		"$? $(grep -c 'no 64-bit PCI memory window' "$W/err")"
	t "... and no tree written" "no" "$([ -e "$W/spike.dtb" ] && echo yes || echo no)"
else
	skip "a machine without a 64-bit PCI window: refused" "no qemu-system-riscv64"
	skip "... and no tree written" "no qemu-system-riscv64"
fi
: >"$W/bad"
truncate -s 4M "$W/bad"
"$TOOL" dtb "$W/bad" --out "$W/bad.dtb" -- false 2>/dev/null >/dev/null
t "a blank region: refused before any QEMU run (exit 2)" 2 $?
echo "$((n - f - s)) passed, $f failed"
[ $f = 0 ]
