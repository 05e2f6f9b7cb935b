#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build kmod/ against the cached guest kernel (make -C KDIR M=kmod).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
KDIR=$("$IVNTB_TOP/scripts/kernel.sh" | tail -1)
make -C "$KDIR" M="$IVNTB_TOP/kmod" ARCH="$KARCH" CROSS_COMPILE="$CROSS" \
	W="${W:-1}" ${C:+C=$C CHECK="$IVNTB_TOP/scripts/sparse.sh"} modules
