#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make test's short KASAN + lockdep pass: the riscv64 debug kernel
# (scripts/kconfig/debug-riscv64.config: KASAN, lockdep, sleep-in-atomic
# checks, kmemleak) running the tests most likely to trip them: hostile,
# the message-register attack under ntb_perf, reload (kmemleak), crash.
# The debug kernel costs a build of about 8 min on 2 cores the first
# time (then cached) and the runs about 5 min. Built only if it is cached
# or the time budget (IVNTB_DEADLINE, .ci/run) leaves 30 min for it, so a
# cold .ci/run stays near an hour; otherwise this says it did NOT cover
# it (a skip, not a pass) and how to run it (make test-debug).
set -euo pipefail
# before lib.sh, which derives the kernel's cache key from them
export IVNTB_VARIANT=debug IVNTB_ARCH=riscv64 IVNTB_KVER=6.12
. "$(dirname "$0")/lib.sh"
obj=$(kobj_dir)
if [ ! -f "$obj/.ivntb-done" ] && [ -n "${IVNTB_DEADLINE:-}" ] &&
	[ $(( IVNTB_DEADLINE - $(date +%s) )) -lt 1800 ]; then
	echo "debug-subset: NOT COVERED: the KASAN + lockdep subset (hostile, msg-attack, reload, crash on the riscv64 debug kernel) did not run: its kernel is not cached and the time budget leaves $(( (IVNTB_DEADLINE - $(date +%s)) / 60 )) min (30 needed); run it with: make test-debug"
	exit 0
fi
make -s -C "$IVNTB_TOP" initramfs tools
DEBUG_SUBSET=1 "$IVNTB_TOP/tests/run-guest-tests.sh"
