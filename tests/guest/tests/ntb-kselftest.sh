# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 riscv64-6.1 x86_64 | loopback ntb-kselftest | -t loopback
# ivntb-run: riscv64 riscv64-6.1 x86_64 arm64 debug-riscv64 | pair ntb-kselftest | -t pair
# ivntb-run: arm64 | pair ntb-kselftest (the driver's DMA ops, no device-tree pool) | -t pair --mw-pools ops
#
# The kernel's own selftest, tools/testing/selftests/ntb/ntb_test.sh from the
# guest kernel's tree, unmodified: loopback (two local devices) or pair
# (-r guest-b, through the remote channel). It stops at its first failing
# section (set -e), so each section is judged from its output.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
KST=/usr/share/ntb/ntb_test.sh

tap_plan 15

ntb_setup
tap_result $? "ntb_hw_ivshmem loads on both ends"
echo "# ntb_test.sh ${RH:+-r $RH} $LOC $REM -p ${IVNTB_PERF_ORDER:-22}"

# within the host's QEMU timeout: a hang ends here, in TAP results
kst_s=$(time_left 30)
timeout $kst_s bash $KST ${RH:+-r $RH} "$LOC" "$REM" -p "${IVNTB_PERF_ORDER:-22}" \
	>/tmp/kst.log 2>&1
rc=$?
[ $rc != 124 ] || echo "# ntb_test.sh stopped after ${kst_s} s (ivntb.timeout ${IVNTB_TIMEOUT:-300} s)"
sed 's/^/# | /' /tmp/kst.log

# passed PREFIX COUNT: a line starting with PREFIX appeared COUNT times,
# each followed by "  Passed" before the next "Running" line.
passed()
{
	local n
	n=$(awk -v name="$1" '
		index($0, name) == 1 { cur = 1; next }
		/^Running / { cur = 0 }
		/^  Passed/ && cur { n++; cur = 0 }
		END { print n + 0 }' /tmp/kst.log)
	tap_eq "ntb_test.sh: '$1' passed $2 time(s)" "$2" "$n"
}
passed "Running port tests" 1
passed "Running link tests" 2
passed "Running db tests" 2
passed "Running spad tests" 2
passed "Running msg tests" 2
# Two windows or more are wanted: ntb_test.sh loops over the mw_trans files
# ntb_tool made, so mw0 and mw1 each pass once per direction.
passed "Running mw0 tests" 2
passed "Running mw1 tests" 2
passed "Running ping pong tests" 1
passed "Running local perf test" 1
passed "Running remote perf test" 1
grep 'MBytes/s' /tmp/kst.log | sed 's/^[[:space:]]*/# perf: /'

if grep -q 'Not doing MSI tests' /tmp/kst.log; then
	tap_skip "ntb_test.sh: msi section" "ntb_msi_test not built (NTB_MSI_TEST off; needs peer MSI, not this driver)"
else
	passed "Running MSI interrupt tests" 2
fi

last=$(grep '^Running ' /tmp/kst.log | tail -1)
if [ $rc = 0 ]; then
	tap_result 0 "ntb_test.sh exits 0"
else
	tap_result 1 "ntb_test.sh exits 0" "exit $rc in '$last': $(grep -i 'error\|expected\|fail\|match' /tmp/kst.log | head -3)"
	# Upstream's exit trap is never installed (`if ! [[ $$DONT_CLEANUP ]]`
	# tests the PID), so a run that stopped leaves its clients loaded.
	for m in ntb_tool ntb_perf ntb_pingpong; do
		[ -z "$RH" ] || R "modprobe -r $m" 2>/dev/null
		modprobe -r $m 2>/dev/null
	done
fi

tap_dmesg_both
tap_done
