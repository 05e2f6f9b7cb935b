#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make test's arm64 guests (make test-guest-arm64: virt GICv3 + ITS, Linux
# 6.12; smoke, ntb_test.sh pair, netdev, irq, crash; about 2 min). Their
# kernel and userland cost about 12 min the first time (then cached), which
# a cold .ci/run cannot add within its hour: not cached, they are built
# only if the time budget (IVNTB_DEADLINE) leaves 25 min and the cold
# run's target (IVNTB_TARGET) 15; otherwise this says it did NOT cover
# them (a skip, not a pass) and how to run them.
set -euo pipefail
# before lib.sh, which derives the kernel's cache key from them
export IVNTB_ARCH=arm64 IVNTB_KVER=6.12
. "$(dirname "$0")/lib.sh"
why=
# make test-all: whatever the budget says
[ "${IVNTB_ARM64:-}" = force ] || why=$(uncached_why "$(kobj_dir)" 25 15)
if [ -n "$why" ]; then
	echo "arm64: NOT COVERED: the arm64 guests (smoke, ntb_test.sh pair, netdev, irq, crash) did not run: $why; run them with: make test-guest-arm64"
	exit 0
fi
make -s -C "$IVNTB_TOP" initramfs tools
"$IVNTB_TOP/tests/run-guest-tests.sh"
