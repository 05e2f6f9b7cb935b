# SPDX-License-Identifier: GPL-2.0
# Bench helper (bench/poll-idle.sh): bring the NTB link up in mode
# ivntb.mode (mode_params in lib-ntb.sh; or load nothing: "none"), then
#   1. stay idle for ivntb.idle seconds, between the markers idle-start and
#      idle-end the host times the QEMU processes by;
#   2. ring doorbells at a fixed rate, ivntb.rate per second (default 1000)
#      for ivntb.load seconds (default: as long as idle), the peer echoing
#      each one (ntb_dbtest "rate"), between load-start and load-end.
# Each phase prints the guest's own busy share.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
mode=${IVNTB_MODE:-adaptive}
idle=${IVNTB_IDLE:-30}
rate=${IVNTB_RATE:-1000}
load=${IVNTB_LOAD:-$idle}
tap_plan 3

if [ "$mode" = none ]; then
	tap_result 0 "no NTB driver loaded"
else
	params=$(mode_params "$mode")
	# shellcheck disable=SC2086
	modprobe ntb_hw_ivshmem $params
	# shellcheck disable=SC2086
	[ -z "$RH" ] || R modprobe ntb_hw_ivshmem $params
	ntb_setup ntb_dbtest	# enables the link on probe
	wait_for 10 up
	tap_result $? "link up in mode $mode ($(awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info))"
fi

cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
busy_since() {	# busy_since B0 I0: the guest's busy % since that sample
	local b1 i1
	read -r b1 i1 < <(cpu)
	echo $(( 100 * (b1 - $1) / ((b1 - $1) + (i1 - $2)) ))
}
sleep 2
read -r b0 i0 < <(cpu)
echo "IVNTB-MARK idle-start"
sleep "$idle"
echo "IVNTB-MARK idle-end"
sleep 2	# the host samples the QEMU processes now
echo "# guest_busy_pct=$(busy_since $b0 $i0)"

if [ "$mode" = none ]; then
	# the baseline: the same window with nothing to ring
	read -r b0 i0 < <(cpu)
	echo "IVNTB-MARK load-start"
	sleep "$load"
	echo "IVNTB-MARK load-end"
	sleep 2
	echo "# load_guest_busy_pct=$(busy_since $b0 $i0)"
	tap_result 0 "no doorbells to ring without a driver"
else
	R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
	n=$((rate * load))
	read -r b0 i0 < <(cpu)
	echo "IVNTB-MARK load-start"
	echo "rate $n $rate" >$DBG/ntb_dbtest/$LOC/cmd
	sleep "$load"
	echo "IVNTB-MARK load-end"
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rate.res
	sleep 1
	echo "# load_guest_busy_pct=$(busy_since $b0 $i0)"
	sed 's/^/# rate: /' /tmp/rate.res
	val() { awk -v k="$1:" '$1 == k { print $2 }' /tmp/rate.res; }
	echo "# load_rung=$(val rung) load_returned=$(val returned) load_elapsed_ns=$(val elapsed_ns)"
	# every ring was sent; echoes coalesce when a ring finds the bit still
	# pending (more often the slower the mode): a figure, not a pass mark
	tap_check "$n doorbells rung at $rate/s, echoes came back" \
		test "$(val rung)" = $n -a "$(val returned)" -gt 0 -a "$(val returned)" -le $n
	ntb_teardown ntb_dbtest
fi
tap_check "no kernel warnings" dmesg_clean
[ -z "$RH" ] || peer_halt "$RH"
tap_done
