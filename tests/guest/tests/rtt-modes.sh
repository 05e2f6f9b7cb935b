# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: bench/doorbell.sh (round trips per poll mode); not in make test
#
# Bench helper (bench/doorbell.sh; launch.sh -t pair --doorbell): the
# doorbell round trip in each mode on the same ivshmem-doorbell devices,
# one boot: interrupt (MSI-X), hybrid (polls while busy, MSI-X when idle),
# adaptive poll, hrtimer poll at two periods, busy kthread. Per mode: RTT_N timed round trips (p50/p99), then the
# first round trip after 1 s idle, IDLE_N times (median, max). Both ends
# run the same mode. Then the floor: the same round trip as a value
# through a scratchpad, both ends busy-polling it (ntb_dbtest spadpp), no
# doorbell and no poller in the path. Figures are "# figure rtt MODE KEY
# VALUE" lines (MODE floor for the latter).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
RTT_N=${IVNTB_RTT_N:-2000}
IDLE_N=${IVNTB_IDLE_N:-10}
# ivntb.rtt_modes=M,M...: other modes (mode_params names), e.g. an A/B
R_MODES=${IVNTB_RTT_MODES:-irq,hybrid,adaptive,hrtimer-100us,hrtimer-1ms,kthread}
MODES=(${R_MODES//,/ })
tap_plan $(( ${#MODES[@]} + 2 ))

val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
for name in "${MODES[@]}"; do
	dbt_echo_setup "$name" 60000
	echo "rtt $RTT_N 0" >$DBG/ntb_dbtest/$LOC/cmd
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt
	n=$(val samples /tmp/rtt)
	p50=$(val p50_ns /tmp/rtt) p99=$(val p99_ns /tmp/rtt)
	# first doorbell after 1 s of silence, IDLE_N times
	: >/tmp/idle
	for _ in $(seq "$IDLE_N"); do
		sleep 1
		echo "rtt 1 0" >$DBG/ntb_dbtest/$LOC/cmd
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/one
		val p50_ns /tmp/one >>/tmp/idle
	done
	idle_med=$(sort -n /tmp/idle | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }')
	idle_max=$(sort -n /tmp/idle | tail -1)
	mode=$(awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info)
	irqs=$(stat_loc irqs)
	ntb_teardown ntb_dbtest
	tap_eq "$name: $RTT_N round trips (driver mode $mode, $irqs interrupts here)" "$RTT_N" "$n"
	us() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }
	echo "# figure rtt $name p50_us $(us "$p50")"
	echo "# figure rtt $name p99_us $(us "$p99")"
	echo "# figure rtt $name idle1s_p50_us $(us "$idle_med")"
	echo "# figure rtt $name idle1s_max_us $(us "$idle_max")"
done
# the floor, in the same boot (default mode, idle meanwhile)
modprobe ntb_hw_ivshmem && R modprobe ntb_hw_ivshmem
ntb_setup "ntb_dbtest timeout_ms=60000"
wait_for 10 up
R "echo 'spadecho $RTT_N' > $DBG/ntb_dbtest/$REM/cmd" &
rpid=$!
sleep 1
echo "spadpp $RTT_N" >$DBG/ntb_dbtest/$LOC/cmd
cat $DBG/ntb_dbtest/$LOC/result >/tmp/floor
wait $rpid
ntb_teardown ntb_dbtest
tap_eq "floor: $RTT_N scratchpad round trips, both ends busy-polling" "$RTT_N" "$(val samples /tmp/floor)"
echo "# figure rtt floor p50_us $(us "$(val p50_ns /tmp/floor)")"
echo "# figure rtt floor p99_us $(us "$(val p99_ns /tmp/floor)")"
tap_check "no kernel warnings" dmesg_clean
peer_halt "$RH"
tap_done
