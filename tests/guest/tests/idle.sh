# SPDX-License-Identifier: GPL-2.0
# Bench helper (bench/poll-idle.sh): bring the NTB link up in mode
# ivntb.mode (mode_params in lib-ntb.sh; or load nothing: "none"), then stay idle for ivntb.idle
# seconds between two markers the host times the QEMU processes by.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
mode=${IVNTB_MODE:-adaptive}
idle=${IVNTB_IDLE:-30}
tap_plan 2

if [ "$mode" = none ]; then
	tap_result 0 "no NTB driver loaded"
else
	params=$(mode_params "$mode")
	# shellcheck disable=SC2086
	modprobe ntb_hw_ivshmem $params
	# shellcheck disable=SC2086
	[ -z "$RH" ] || R modprobe ntb_hw_ivshmem $params
	ntb_setup ntb_tool
	echo Y >$DBG/ntb_tool/$LOC/link
	R "echo Y > $DBG/ntb_tool/$REM/link"
	lk() { [ "$(cat $DBG/ntb_tool/$LOC/peer0/link)" = Y ]; }
	wait_for 10 lk
	tap_result $? "link up in mode $mode ($(awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info))"
fi

cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
sleep 2
read -r b0 i0 < <(cpu)
echo "IVNTB-MARK idle-start"
sleep "$idle"
echo "IVNTB-MARK idle-end"
sleep 2	# the host samples the QEMU processes now
read -r b1 i1 < <(cpu)
echo "# guest_busy_pct=$(( 100 * (b1 - b0) / ((b1 - b0) + (i1 - i0)) ))"
[ "$mode" = none ] || ntb_teardown ntb_tool
tap_check "no kernel warnings" dmesg_clean
[ -z "$RH" ] || peer_halt "$RH"
tap_done
