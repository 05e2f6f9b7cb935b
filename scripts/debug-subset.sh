#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make test's short KASAN + lockdep pass: the riscv64 debug kernel
# (scripts/kconfig/debug-riscv64.config: KASAN, lockdep, sleep-in-atomic
# checks, kmemleak) running the tests most likely to trip them: hostile,
# the message-register attack under ntb_perf, reload (kmemleak), crash.
# The debug kernel costs a build of about 9 min on 2 cores the first
# time (then cached) and the runs about 6 min. Not cached, it is built
# only if the time budget (IVNTB_DEADLINE, .ci/run) leaves 30 min and the
# cold run's target (IVNTB_TARGET, .ci/run: 60 min from its start) 15, so
# a cold .ci/run stays within the hour; otherwise this says it did NOT
# cover it (a skip, not a pass) and how to run it (make test-debug).
set -euo pipefail
# before lib.sh, which derives the kernel's cache key from them
export IVNTB_VARIANT=debug IVNTB_ARCH=riscv64 IVNTB_KVER=6.12
. "$(dirname "$0")/lib.sh"
why=$(uncached_why "$(kobj_dir)" 30 15)
if [ -n "$why" ]; then
	echo "debug-subset: NOT COVERED: the KASAN + lockdep subset (hostile, msg-attack, reload, crash on the riscv64 debug kernel) did not run: $why; run it with: make test-debug"
	exit 0
fi
make -s -C "$IVNTB_TOP" initramfs tools
DEBUG_SUBSET=1 "$IVNTB_TOP/tests/run-guest-tests.sh"
