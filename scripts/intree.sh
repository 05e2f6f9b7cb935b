#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make intree: the in-tree variant of the driver.
#
#   1. Generates build/intree/ntb-hw-ivshmem.patch from kmod/, shm-protocol/
#      and include/: drivers/ntb/hw/ivshmem/ (Kconfig with help text,
#      Makefile, the sources with the userspace half of ivntb_compat.h cut
#      by unifdef), the hooks in drivers/ntb/hw/{Kconfig,Makefile} and a
#      MAINTAINERS entry, as a git-format-patch against Linux 6.12.
#   2. checkpatch --strict on the patch, kernel-doc -Wall on its sources:
#      both must be silent.
#   3. Applies it to a copy of the 6.12 tree and builds the guest kernel
#      (IVNTB_ARCH, default riscv64) twice: NTB_IVSHMEM=y (vmlinux must hold
#      the driver) and NTB_IVSHMEM=m (ntb_hw_ivshmem.ko). A full kernel
#      build: about 5 min cold on 2 cores; INTREE_BUILD=0 stops after 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$IVNTB_KVER" = 6.12 ] || die "intree: the patch is against 6.12 (IVNTB_KVER=$IVNTB_KVER)"
SRC=$(ksrc_dir)
[ -f "$SRC/.ivntb-extracted" ] || "$IVNTB_TOP/scripts/kernel.sh" >/dev/null
W=$IVNTB_BUILD/intree
PATCH=$W/ntb-hw-ivshmem.patch
D=drivers/ntb/hw/ivshmem
t0=$(date +%s)

# --- 1. the patch ---------------------------------------------------------
step "intree: generating the patch against $(basename "$SRC")"
rm -rf "$W/git"
mkdir -p "$W/git/drivers/ntb/hw"
G=$W/git
cp "$SRC/drivers/ntb/hw/Kconfig" "$SRC/drivers/ntb/hw/Makefile" "$G/drivers/ntb/hw/"
cp "$SRC/MAINTAINERS" "$G/"
git -C "$G" init -q
git -C "$G" add -A
git -C "$G" -c user.name=base -c user.email=base@localhost commit -qm base

mkdir -p "$G/$D"
cp "$IVNTB_TOP/kmod/ntb_ivshmem.c" "$IVNTB_TOP/kmod/ntb_ivshmem_trace.h" \
	"$IVNTB_TOP/shm-protocol/ivntb_proto.c" "$IVNTB_TOP/shm-protocol/ivntb_proto.h" \
	"$IVNTB_TOP/include/ivntb_layout.h" "$G/$D/"
# In-tree there is only the kernel: keep the __KERNEL__ half of the compat
# header (unifdef exits 1 when it changed something).
{ unifdef -D__KERNEL__ "$IVNTB_TOP/shm-protocol/ivntb_compat.h" || [ $? = 1 ]; } | cat -s >"$G/$D/ivntb_compat.h"

cat >"$G/$D/Kconfig" <<'EOF'
# SPDX-License-Identifier: GPL-2.0-only
config NTB_IVSHMEM
	tristate "NTB over QEMU ivshmem shared memory"
	depends on PCI && 64BIT && !CPU_BIG_ENDIAN
	help
	  Turns the shared memory BAR of QEMU's ivshmem PCI device
	  (1af4:1110) into a Non-Transparent Bridge between the virtual
	  machines (or host processes) that share its memory file:
	  memory windows, doorbells, scratchpads, message registers and
	  link state, all kept in the shared memory. Peer events are found
	  by polling, so no interrupt is needed; on ivshmem-doorbell
	  devices MSI-X interrupts are used when available. The NTB
	  clients (ntb_transport, ntb_netdev, ntb_perf, ntb_tool,
	  ntb_pingpong) run unchanged on top.

	  Every peer of a region can write all of it: there is no
	  isolation between the peers of one region.

	  To compile this driver as a module, choose M here: the module
	  will be called ntb_hw_ivshmem.

	  If unsure, say N.
EOF
cat >"$G/$D/Makefile" <<'EOF'
# SPDX-License-Identifier: GPL-2.0-only
obj-$(CONFIG_NTB_IVSHMEM) += ntb_hw_ivshmem.o
ntb_hw_ivshmem-y := ntb_ivshmem.o ivntb_proto.o
# tracepoints: define_trace.h includes ntb_ivshmem_trace.h from here
CFLAGS_ntb_ivshmem.o := -I$(src)
EOF
echo 'source "drivers/ntb/hw/ivshmem/Kconfig"' >>"$G/drivers/ntb/hw/Kconfig"
printf 'obj-$(CONFIG_NTB_IVSHMEM)\t+= ivshmem/\n' >>"$G/drivers/ntb/hw/Makefile"
python3 - "$G/MAINTAINERS" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
entry = ("NTB IVSHMEM DRIVER\n"
         "L:\tntb@lists.linux.dev\n"
         "S:\tMaintained\n"
         "F:\tdrivers/ntb/hw/ivshmem/\n\n")
i = s.index("\nNTFS3 FILESYSTEM\n") + 1
assert s[:i].rstrip().endswith("F:\tdrivers/ntb/hw/intel/")
open(p, "w").write(s[:i] + entry + s[i:])
EOF

author=$(git -C "$IVNTB_TOP" log -1 --format='%an <%ae>' 2>/dev/null || echo 'ivshmem-ntb <ivshmem-ntb@localhost>')
rev=$(git -C "$IVNTB_TOP" describe --always --dirty 2>/dev/null || echo unknown)
git -C "$G" add -A
git -C "$G" -c user.name="${author% <*}" -c user.email="$(echo "$author" | sed 's/.*<\(.*\)>/\1/')" \
	commit -q -F - <<EOF
ntb: hw: add a driver for QEMU ivshmem shared memory

QEMU's ivshmem device (1af4:1110) exposes a memory file shared by
several virtual machines as BAR2. ntb_hw_ivshmem turns that memory into
a Non-Transparent Bridge: memory windows, doorbells, scratchpads,
message registers and link state live in the shared memory as
lock-free words and sequence counters, and a poller (adaptive, busy
kthread or hrtimer) notices peer events, so no interrupt is needed.
This makes the NTB clients usable where ivshmem's MSI-X doorbell cannot
be delivered, such as riscv64 virt guests without AIA under TCG.

On ivshmem-doorbell devices the driver takes an MSI-X vector and rings
the peer's Doorbell register after publishing each event, unless
use_irq=N.

Every value read from shared memory is treated as untrusted: copied,
then bound-checked. A peer may deny service but must not crash the
kernel. There is no isolation between the peers of one region.

Inbound memory windows are backed by a device-tree shared-dma-pool over
BAR2, so the clients' DMA allocations land in the window (zero copy);
without one, mw_set_trans() refuses any other buffer.

Generated by scripts/intree.sh from ivshmem-ntb $rev.

Signed-off-by: $author
EOF
rm -f "$W"/*.patch
git -C "$G" format-patch -q -1 -o "$W"
mv "$W"/0001-*.patch "$PATCH"
step "intree: $PATCH ($(grep -c '^+' "$PATCH") lines added)"
sed -n '/^---$/,/^$/p' "$PATCH" | sed 's/^/    /'

# --- 2. checkpatch and kernel-doc ------------------------------------------
step "intree: checkpatch --strict on the patch"
out=$(cd "$SRC" && perl scripts/checkpatch.pl --strict --show-types "$PATCH" 2>&1) || true
echo "$out" | tail -3 | sed 's/^/    /'
echo "$out" | grep -q '^total: 0 errors, 0 warnings, 0 checks' ||
	{ echo "$out" >&2; die "intree: checkpatch is not clean"; }
step "intree: kernel-doc -Wall on $D"
kd=$(cd "$G/$D" && perl "$SRC/scripts/kernel-doc" -none -Wall ./*.c ./*.h 2>&1 | grep -v "Sphinx version") || true
[ -z "$kd" ] || { echo "$kd" >&2; die "intree: kernel-doc warnings"; }
n=$(cd "$G/$D" && perl "$SRC/scripts/kernel-doc" -rst ./*.c ./*.h 2>/dev/null | grep -c '^\.\. c:function::' || true)
echo "    kernel-doc: silent; $n documented functions"

[ "${INTREE_BUILD:-1}" = 1 ] || { step "intree: done (no build) in $(( $(date +%s) - t0 )) s"; exit 0; }

# --- 3. apply and build =y, then =m -----------------------------------------
T=$W/linux
step "intree: applying the patch to a copy of the tree"
rm -rf "$T"
cp -al "$SRC" "$T"	# hard links: patch replaces the files it changes
rm -f "$T/.ivntb-extracted"
(cd "$T" && patch -s -p1 --no-backup-if-mismatch <"$PATCH")
cmp -s "$SRC/drivers/ntb/hw/Makefile" "$G/drivers/ntb/hw/Makefile" &&
	die "intree: patching the copy changed the cached source"
O=$W/obj
mapfile -t FRAGS < <(kconfig_fragments)
build() {	# build y|m
	local log=$W/build-$1.log
	printf 'CONFIG_NTB=%s\nCONFIG_NTB_IVSHMEM=%s\n' "$1" "$1" >"$W/ivshmem-$1.config"
	make -s -C "$T" O="$O" ARCH="$KARCH" CROSS_COMPILE="$CROSS" tinyconfig >/dev/null
	( cd "$O" && "$T/scripts/kconfig/merge_config.sh" -m -O "$O" "$O/.config" \
		"${FRAGS[@]}" "$W/ivshmem-$1.config" >/dev/null )
	make -s -C "$T" O="$O" ARCH="$KARCH" CROSS_COMPILE="$CROSS" olddefconfig >/dev/null
	grep -qx "CONFIG_NTB_IVSHMEM=$1" "$O/.config" ||
		die "intree: CONFIG_NTB_IVSHMEM=$1 did not survive olddefconfig"
	step "intree: building $IVNTB_ARCH with CONFIG_NTB_IVSHMEM=$1 (-j$JOBS; log $log)"
	if ! make -C "$T" O="$O" ARCH="$KARCH" CROSS_COMPILE="$CROSS" -j"$JOBS" \
		W=1 "$(basename "$KIMAGE_REL")" modules >"$log" 2>&1; then
		tail -30 "$log" >&2
		die "intree: =$1 build failed"
	fi
	if grep -E "^$D/.*(warning|error):|^.*/$D/.*(warning|error):" "$log"; then
		die "intree: compiler warnings in $D with W=1 (=$1)"
	fi
}
# (nm into a file: grep -q would end the pipe early, and pipefail)
build y
nm "$O/vmlinux" >"$W/nm-y"
grep -qw ivshm_probe "$W/nm-y" || die "intree: =y but vmlinux has no ivshm_probe"
grep -q "ntb_hw_ivshmem" "$O/modules.builtin" || die "intree: =y but not in modules.builtin"
echo "    =y: vmlinux holds ivshm_probe; modules.builtin lists $(grep ntb_hw_ivshmem "$O/modules.builtin")"
build m
ko=$O/$D/ntb_hw_ivshmem.ko
[ -f "$ko" ] || die "intree: =m but no $ko"
nm "$O/vmlinux" >"$W/nm-m"
! grep -qw ivshm_probe "$W/nm-m" || die "intree: =m but vmlinux still holds the driver"
echo "    =m: $(modinfo -F vermagic "$ko" | cut -d' ' -f1) $(basename "$ko"), alias $(modinfo -F alias "$ko")"
step "intree: patch applies, checkpatch and kernel-doc clean, =y and =m build ($(( $(date +%s) - t0 )) s)"
