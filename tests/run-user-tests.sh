#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make test-user: userspace tests only (no guests). Ends with
# "N passed, M failed"; exit status 1 if anything failed.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=${IVNTB_BUILD:-$TOP/build}/user
pass=0
fail=0

suite() {
	local name=$1 log out p f
	shift
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	# Each suite ends with its own "N passed, M failed" line.
	out=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	rm -f "$log"
	p=${out%% passed*}
	f=${out#*passed, }; f=${f%% failed*}
	if [ -z "$out" ]; then
		echo "not ok - $name: no result line (exit $rc)"
		fail=$((fail + 1))
		return
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "not ok - $name exited $rc"
		fail=$((fail + 1))
	fi
}

suite ivrsh "$TOP/tests/user/ivrsh-test.sh"
suite failure-patterns "$TOP/tests/user/patterns-test.sh"
suite crash-judge "$TOP/tests/user/crash-judge-test.sh"
suite ivntb-shm-dtb "$TOP/tests/user/dtb-test.sh"
if [ -f "$TOP/shm-protocol/Makefile" ]; then
	suite shm-protocol make -s -C "$TOP/shm-protocol" test
fi
[ -f "$TOP/tools/ivshmem-server/Makefile" ] && suite ivshmem-server make -s -C "$TOP/tools/ivshmem-server" test
# A suite that silently runs fewer checks (a group that stopped running,
# a tool that is missing) must not pass: 344 ran on 2026-12-01.
MIN_CHECKS=300
if [ $((pass + fail)) -lt $MIN_CHECKS ]; then
	echo "not ok - only $((pass + fail)) checks ran, fewer than $MIN_CHECKS"
	fail=$((fail + 1))
fi
echo "test-user: $pass passed, $fail failed"
[ $fail = 0 ]
