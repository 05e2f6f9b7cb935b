# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: bench/doorbell.sh (round trips per poll mode); not in make test
#
# Bench helper (bench/doorbell.sh; launch.sh -t pair --doorbell): the
# doorbell round trip in each mode on the same ivshmem-doorbell devices,
# one boot: interrupt (MSI-X), hybrid (polls while busy, MSI-X when idle),
# adaptive poll, hrtimer poll at two periods, busy kthread; and the floor:
# the same round trip as a value through a scratchpad, both ends
# busy-polling it (ntb_dbtest spadpp), no doorbell and no poller in the
# path. Both ends run the same mode. RTT_ROUNDS rounds, each the floor
# then every mode, RTT_N timed round trips apiece: how fast this boot's
# vCPUs run drifts by minutes, so each mode is set against the floor
# measured next to it. Round 1 also times the first round trip after 1 s
# idle, IDLE_N times per mode (median, max). Figures are "# figure rtt MODE
# KEY VALUE" lines (MODE floor for the floor): p50 and p99 are medians
# over the rounds, p50_vs_floor the median of the rounds' own ratios,
# with their least and greatest, and p50_rounds_us each round's p50;
# midmean_us and midmean_vs_floor the same for the mean of each run's
# middle half, which resolves finer than a coarse clock's step.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
RTT_N=${IVNTB_RTT_N:-2000}
IDLE_N=${IVNTB_IDLE_N:-10}
ROUNDS=${IVNTB_RTT_ROUNDS:-5}
# ivntb.rtt_modes=M,M...: other modes (mode_params names), e.g. an A/B
R_MODES=${IVNTB_RTT_MODES:-irq,hybrid,adaptive,hrtimer-100us,hrtimer-1ms,kthread}
MODES=(${R_MODES//,/ })
tap_plan $(( ${#MODES[@]} + 2 ))

val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
us() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }
# med FILE: the median of a file of numbers, one per line (the lower of
# the middle two)
med() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }'; }
# rec NAME FILE: append ntb_dbtest's result FILE to NAME's rounds
rec()
{
	val samples "$2" >>"/tmp/$1.n"
	val p50_ns "$2" >>"/tmp/$1.p50"
	val p99_ns "$2" >>"/tmp/$1.p99"
	val midmean_ps "$2" >>"/tmp/$1.mm"
}

# floor: a scratchpad round trip, both ends busy-polling it (default mode,
# its poller idle meanwhile)
floor_run()
{
	modprobe ntb_hw_ivshmem && R modprobe ntb_hw_ivshmem &&
		ntb_setup "ntb_dbtest timeout_ms=60000" && wait_for 10 up || return 1
	R "echo 'spadecho $RTT_N' > $DBG/ntb_dbtest/$REM/cmd" &
	rpid=$!
	sleep 1
	echo "spadpp $RTT_N" >$DBG/ntb_dbtest/$LOC/cmd &&
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/one && rec floor /tmp/one
	wait $rpid
	ntb_teardown ntb_dbtest
}

# mode_run NAME ROUND: RTT_N round trips in mode NAME; in round 1 also the
# first round trip after 1 s of silence, IDLE_N times
mode_run()
{
	local mode irqs
	dbt_echo_setup "$1" 60000 || return 1
	echo "rtt $RTT_N 0" >$DBG/ntb_dbtest/$LOC/cmd &&
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/one && rec "$1" /tmp/one
	if [ "$2" = 1 ]; then
		: >"/tmp/$1.idle"
		for _ in $(seq "$IDLE_N"); do
			sleep 1
			echo "rtt 1 0" >$DBG/ntb_dbtest/$LOC/cmd &&
				cat $DBG/ntb_dbtest/$LOC/result >/tmp/one &&
				val p50_ns /tmp/one >>"/tmp/$1.idle"
		done
		mode=$(awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info)
		irqs=$(stat_loc irqs)
		echo "$mode" >"/tmp/$1.mode"
		echo "$irqs" >"/tmp/$1.irqs"
	fi
	ntb_teardown ntb_dbtest
}

for name in floor "${MODES[@]}"; do
	rm -f "/tmp/$name.n" "/tmp/$name.p50" "/tmp/$name.p99" "/tmp/$name.mm"
done
for r in $(seq "$ROUNDS"); do
	floor_run || echo "# round $r: the floor did not run"
	for name in "${MODES[@]}"; do
		mode_run "$name" "$r" || echo "# round $r: $name did not set up"
	done
done

# total FILE: the sum of a file of numbers (0 if it is missing)
total() { awk '{ s += $1 } END { print s + 0 }' "$1" 2>/dev/null || echo 0; }
for name in "${MODES[@]}"; do
	tap_eq "$name: $ROUNDS rounds of $RTT_N round trips (driver mode $(cat "/tmp/$name.mode" 2>/dev/null), $(cat "/tmp/$name.irqs" 2>/dev/null) interrupts here in round 1)" \
		"$((ROUNDS * RTT_N))" "$(total "/tmp/$name.n")"
	echo "# figure rtt $name p50_us $(us "$(med "/tmp/$name.p50")")"
	echo "# figure rtt $name p99_us $(us "$(med "/tmp/$name.p99")")"
	echo "# figure rtt $name p50_rounds_us $(awk '{ printf "%s%.1f", (NR > 1 ? "," : ""), $1 / 1000 }' "/tmp/$name.p50")"
	# each round's ratio to the floor measured in that round
	paste "/tmp/$name.p50" /tmp/floor.p50 | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' >/tmp/ratio
	if [ -s /tmp/ratio ]; then
		echo "# figure rtt $name p50_vs_floor $(med /tmp/ratio | awk '{ printf "%.2f", $1 }')"
		echo "# figure rtt $name p50_vs_floor_min $(sort -n /tmp/ratio | head -1 | awk '{ printf "%.2f", $1 }')"
		echo "# figure rtt $name p50_vs_floor_max $(sort -n /tmp/ratio | tail -1 | awk '{ printf "%.2f", $1 }')"
	fi
	echo "# figure rtt $name midmean_us $(awk '{ printf "%.3f", $1 / 1000000 }' <<<"$(med "/tmp/$name.mm")")"
	paste "/tmp/$name.mm" /tmp/floor.mm | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' >/tmp/ratio
	[ -s /tmp/ratio ] &&
		echo "# figure rtt $name midmean_vs_floor $(med /tmp/ratio | awk '{ printf "%.2f", $1 }')"
	if [ -s "/tmp/$name.idle" ]; then
		echo "# figure rtt $name idle1s_p50_us $(us "$(med "/tmp/$name.idle")")"
		echo "# figure rtt $name idle1s_max_us $(us "$(sort -n "/tmp/$name.idle" | tail -1)")"
	fi
done
tap_eq "floor: $ROUNDS rounds of $RTT_N scratchpad round trips, both ends busy-polling" \
	"$((ROUNDS * RTT_N))" "$(total /tmp/floor.n)"
echo "# figure rtt floor p50_us $(us "$(med /tmp/floor.p50)")"
echo "# figure rtt floor p99_us $(us "$(med /tmp/floor.p99)")"
echo "# figure rtt floor midmean_us $(awk '{ printf "%.3f", $1 / 1000000 }' <<<"$(med /tmp/floor.mm)")"
echo "# figure rtt floor p50_rounds_us $(awk '{ printf "%s%.1f", (NR > 1 ? "," : ""), $1 / 1000 }' /tmp/floor.p50)"
tap_check "no kernel warnings" dmesg_clean
peer_halt "$RH"
tap_done
