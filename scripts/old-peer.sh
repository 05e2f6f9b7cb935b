#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The driver as it was at protocol 1.2 (the last commit before 1.3 added
# the wake line), built from this repository's history against the same
# guest kernel: the older peer of tests/guest/tests/interop.sh.
# Prints the module's path on stdout, or nothing, with the reason on
# stderr, when this checkout has no such history (a shallow clone, an
# export without .git): the interop test then skips and says why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REV=f732cdc	# protocol 1.2's last commit
OUT=$(guest_dir)/peer-1.2
KDIR=$("$IVNTB_TOP/scripts/kernel.sh" | tail -1)

if ! git -C "$IVNTB_TOP" cat-file -e "$REV^{commit}" 2>/dev/null; then
	echo "old-peer: commit $REV (protocol 1.2) is not in this checkout's history: no older peer" >&2
	exit 0
fi
stamp="$REV $(kernel_key)"
if [ ! -f "$OUT/kmod/ntb_hw_ivshmem.ko" ] || [ "$(cat "$OUT/stamp" 2>/dev/null)" != "$stamp" ]; then
	step "old-peer: building the protocol 1.2 driver ($REV)" >&2
	rm -rf "$OUT"
	mkdir -p "$OUT"
	git -C "$IVNTB_TOP" archive "$REV" kmod include shm-protocol | tar -x -C "$OUT"
	make -s -C "$KDIR" M="$OUT/kmod" ARCH="$KARCH" CROSS_COMPILE="$CROSS" modules >&2
	echo "$stamp" >"$OUT/stamp"
fi
echo "$OUT/kmod/ntb_hw_ivshmem.ko"
