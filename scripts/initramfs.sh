#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Assemble the guest initramfs: static busybox and bash, the kernel's
# modules plus ours (kmod/*.ko) with depmod data, the kselftest ntb_test.sh
# from the same kernel tree, the guest tools and test scripts.
# Prints the initrd path on stdout's last line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KDIR=$("$IVNTB_TOP/scripts/kernel.sh" | tail -1)
UL=$("$IVNTB_TOP/scripts/userland.sh" | tail -1)
KREL=$(cat "$KDIR/include/config/kernel.release")
KSRC=$(ksrc_dir)
OUTDIR=$(guest_dir)
ROOT=$OUTDIR/initramfs
GT=$IVNTB_TOP/tests/guest

step "initramfs: assembling for $KREL" >&2
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/share/ntb,etc,lib/modules,ivntb/tests,root,tmp}
cp "$UL/bin/busybox" "$UL/bin/bash" "$ROOT/bin/"
ln -s bash "$ROOT/bin/sh"

CFLAGS="-static -O2 -Wall -Wextra"
for t in ivrsh shmpoke; do
	"${CROSS}gcc" $CFLAGS -o "$ROOT/bin/$t" "$GT/$t.c"
done
ln -s ivrsh "$ROOT/bin/ssh"
# GNU-compatible shims for what ntb_test.sh expects (first in PATH)
mkdir -p "$ROOT/usr/local/bin"
install -m 755 "$GT/cmp" "$ROOT/usr/local/bin/cmp"
"${CROSS}strip" "$ROOT"/bin/ivrsh "$ROOT"/bin/shmpoke

cp -a "$KDIR/modroot/lib/modules/$KREL" "$ROOT/lib/modules/"
rm -f "$ROOT/lib/modules/$KREL/build" "$ROOT/lib/modules/$KREL/source"
mkdir -p "$ROOT/lib/modules/$KREL/extra"
nko=0
for ko in "$IVNTB_TOP"/kmod/*.ko; do
	[ -f "$ko" ] || continue
	"${CROSS}strip" --strip-debug -o "$ROOT/lib/modules/$KREL/extra/$(basename "$ko")" "$ko"
	nko=$((nko + 1))
done
[ "$nko" -gt 0 ] || echo "initramfs: warning: no kmod/*.ko (run: make module)" >&2
# the protocol 1.2 driver, for the interop test (not where modprobe looks):
# built only for the kernel make test runs interop on (riscv64 6.12, no
# variant); IVNTB_OLD_PEER=1 builds it for any other
old=
if [ "${IVNTB_OLD_PEER:-}" = 1 ] || { [ "$IVNTB_ARCH-$IVNTB_KVER" = riscv64-6.12 ] &&
	[ -z "$IVNTB_VARIANT" ] && [ "${IVNTB_OLD_PEER:-}" != 0 ]; }; then
	old=$("$IVNTB_TOP/scripts/old-peer.sh")
fi
[ -z "$old" ] || { mkdir -p "$ROOT/ivntb/peer-1.2"
	"${CROSS}strip" --strip-debug -o "$ROOT/ivntb/peer-1.2/ntb_hw_ivshmem.ko" "$old"; }
depmod -b "$ROOT" "$KREL"

cp "$KSRC/tools/testing/selftests/ntb/ntb_test.sh" "$ROOT/usr/share/ntb/"
install -m 755 "$GT/init" "$ROOT/init"
cp "$GT/lib.sh" "$GT/lib-ntb.sh" "$GT/failure-patterns" "$ROOT/ivntb/"
cp "$GT"/tests/*.sh "$ROOT/ivntb/tests/"
# the private links (tests/guest/init): guest number k (b 2 ... h 8) at
# 169.254.(98+k).k; a at .1 of each, named by b's link
letters=abcdefgh
{
	printf '127.0.0.1 localhost\n169.254.100.1 guest-a\n'
	for k in 2 3 4 5 6 7 8; do
		printf '169.254.%d.%d guest-%s\n' $((98 + k)) $k "${letters:k-1:1}"
	done
} >"$ROOT/etc/hosts"
echo 'root:x:0:0:root:/root:/bin/bash' >"$ROOT/etc/passwd"
echo 'root:x:0:' >"$ROOT/etc/group"

( cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet ) |
	gzip -1 >"$OUTDIR/initrd.gz.tmp"
mv "$OUTDIR/initrd.gz.tmp" "$OUTDIR/initrd.gz"
step "initramfs: $(du -h "$OUTDIR/initrd.gz" | cut -f1) $OUTDIR/initrd.gz" >&2
echo "$OUTDIR/initrd.gz"
