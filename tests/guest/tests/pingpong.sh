# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | loopback pingpong | -t loopback
# ivntb-run: riscv64 riscv64-6.1 | pair pingpong | -t pair
#
# ntb_pingpong: each end's count grows, within a bound, for every poll mode.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh

modes=(adaptive kthread hrtimer)
tap_plan $(( ${#modes[@]} + 2 ))

count() { cat $DBG/ntb_pingpong/$LOC/count; }
rcount() { R cat $DBG/ntb_pingpong/$REM/count; }

for mode in "${modes[@]}"; do
	modprobe ntb_hw_ivshmem poll_mode=$mode || { tap_result 1 "$mode: load"; continue; }
	[ -z "$RH" ] || R modprobe ntb_hw_ivshmem poll_mode=$mode
	ntb_setup
	# delay_ms=10: a ping every 10 ms each way
	modprobe ntb_pingpong delay_ms=10
	[ -z "$RH" ] || R modprobe ntb_pingpong delay_ms=10
	l0=$(count); r0=$(rcount)
	sleep 3
	l1=$(count); r1=$(rcount)
	# an unload that failed would leave the next mode's modprobe a no-op
	ntb_teardown ntb_pingpong
	ul=$?
	dl=$((l1 - l0)) dr=$((r1 - r0))
	# 3 s at one ping per 10 ms is up to 300; ask for a tenth of it
	if [ $dl -ge 30 ] && [ $dr -ge 30 ] && [ $ul = 0 ]; then
		tap_result 0 "$mode: count grows on both ends in 3 s ($dl here, $dr there), then unloads"
	else
		tap_result 1 "$mode: count grows on both ends in 3 s, then unloads" \
			"here $l0 -> $l1, there $r0 -> $r1; ntb_teardown status $ul"
	fi
done

tap_dmesg_both
tap_done
