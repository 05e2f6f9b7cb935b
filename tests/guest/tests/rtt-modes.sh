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
# vCPUs run drifts by minutes, so no mode's figure comes from one spell
# alone, and neither does the floor's. Round 1 also times the first round trip after 1 s
# idle, IDLE_N times per mode (median, max). Figures are "# figure rtt MODE
# KEY VALUE" lines (MODE floor for the floor): p50 and p99 are medians
# over the rounds, p50_vs_floor the ratio of the mode's median to the
# floor's, with the least and greatest of the rounds' own ratios (the
# floor itself is bimodal: 0.4 or 0.9 us on riscv64, run to run), and
# p50_rounds_us each round's p50;
# midmean_us and midmean_vs_floor(_min, _max) the same for the mean of
# each run's middle half, which resolves finer than a coarse clock's step.
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
us() { [ -z "$1" ] || awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }
# med FILE: the median of the positive numbers in FILE, one per line (a
# round that did not run holds 0); nothing if there are none
med()
{
	awk '$1 > 0' "$1" | sort -n |
		awk '{ a[NR] = $1 } END { if (NR) print (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2 }'
}
# rec NAME FILE: one line per figure of NAME for this round, from
# ntb_dbtest's result FILE: 0 for each it lacks (the run failed), so that
# round i is line i of every file
rec()
{
	local k v
	for k in samples:n p50_ns:p50 p99_ns:p99 midmean_ps:mm; do
		v=$(val "${k%%:*}" "$2" 2>/dev/null)
		echo "${v:-0}" >>"/tmp/$1.${k#*:}"
	done
}

# floor: a scratchpad round trip, both ends busy-polling it (default mode,
# its poller idle meanwhile)
floor_run()
{
	: >/tmp/one
	if modprobe ntb_hw_ivshmem && R modprobe ntb_hw_ivshmem &&
	   ntb_setup "ntb_dbtest timeout_ms=60000" && wait_for 10 up; then
		R "echo 'spadecho $RTT_N' > $DBG/ntb_dbtest/$REM/cmd" &
		rpid=$!
		sleep 1
		echo "spadpp $RTT_N" >$DBG/ntb_dbtest/$LOC/cmd &&
			cat $DBG/ntb_dbtest/$LOC/result >/tmp/one ||
			echo "# round $1: the floor's run failed"
		wait $rpid
	else
		echo "# round $1: the floor did not set up"
	fi
	rec floor /tmp/one
	ntb_teardown ntb_dbtest
}

# mode_run NAME ROUND: RTT_N round trips in mode NAME; in round 1 also the
# first round trip after 1 s of silence, IDLE_N times. The driver's mode
# is read back every round.
mode_run()
{
	: >/tmp/one
	if ! dbt_echo_setup "$1" 60000; then
		echo "# round $2: $1 did not set up"
		rec "$1" /tmp/one
		ntb_teardown ntb_dbtest
		return
	fi
	echo "rtt $RTT_N 0" >$DBG/ntb_dbtest/$LOC/cmd &&
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/one ||
		echo "# round $2: $1's run failed"
	rec "$1" /tmp/one
	awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info >>"/tmp/$1.mode"
	if [ "$2" = 1 ]; then
		for _ in $(seq "$IDLE_N"); do
			sleep 1
			echo "rtt 1 0" >$DBG/ntb_dbtest/$LOC/cmd &&
				cat $DBG/ntb_dbtest/$LOC/result >/tmp/one &&
				val p50_ns /tmp/one >>"/tmp/$1.idle"
		done
		stat_loc irqs >"/tmp/$1.irqs"
	fi
	ntb_teardown ntb_dbtest
}

for name in floor "${MODES[@]}"; do
	rm -f /tmp/"$name".{n,p50,p99,mm,mode,idle,irqs}
done
for r in $(seq "$ROUNDS"); do
	floor_run "$r"
	for name in "${MODES[@]}"; do
		mode_run "$name" "$r"
	done
done

# total FILE: the sum of a file of numbers (0 if it is missing)
total() { awk '{ s += $1 } END { print s + 0 }' "$1" 2>/dev/null || echo 0; }
# rounds FILE: each round's value in us, comma-separated (0: did not run)
rounds() { awk '{ printf "%s%.1f", (NR > 1 ? "," : ""), $1 / 1000 }' "$1"; }
# ratios FILE: each round's ratio of FILE to the floor's same figure, the
# rounds where both ran
ratios() { paste "/tmp/$1" "/tmp/floor.${1#*.}" | awk '$1 > 0 && $2 > 0 { printf "%.3f\n", $1 / $2 }'; }
# vs_floor NAME FIGURE [LABEL]: NAME's median FIGURE over the floor's,
# then the least and greatest of the rounds' own ratios
vs_floor()
{
	local a b
	a=$(med "/tmp/$1.$2") b=$(med "/tmp/floor.$2")
	[ -n "$a" ] && [ -n "$b" ] || return 0
	echo "# figure rtt $1 ${3:-$2}_vs_floor $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
	ratios "$1.$2" >/tmp/ratio
	echo "# figure rtt $1 ${3:-$2}_vs_floor_min $(sort -n /tmp/ratio | head -1 | awk '{ printf "%.2f", $1 }')"
	echo "# figure rtt $1 ${3:-$2}_vs_floor_max $(sort -n /tmp/ratio | tail -1 | awk '{ printf "%.2f", $1 }')"
}
for name in "${MODES[@]}"; do
	modes=$(sort -u "/tmp/$name.mode" 2>/dev/null | paste -s -d/)
	tap_check "$name: $ROUNDS rounds of $RTT_N round trips (driver mode $modes every round, $(cat "/tmp/$name.irqs" 2>/dev/null) interrupts here in round 1)" \
		test "$(total "/tmp/$name.n")" = "$((ROUNDS * RTT_N))" -a "$(wc -l <"/tmp/$name.mode")" = "$ROUNDS" -a "${modes%/*}" = "$modes"
	echo "# figure rtt $name p50_us $(us "$(med "/tmp/$name.p50")")"
	echo "# figure rtt $name p99_us $(us "$(med "/tmp/$name.p99")")"
	echo "# figure rtt $name p50_rounds_us $(rounds "/tmp/$name.p50")"
	# the ratio of the medians; and each round's ratio to the floor
	# measured in that round, their least and greatest
	vs_floor "$name" p50
	v=$(med "/tmp/$name.mm")
	[ -z "$v" ] || echo "# figure rtt $name midmean_us $(awk -v v="$v" 'BEGIN { printf "%.3f", v / 1000000 }')"
	vs_floor "$name" mm midmean
	if [ -s "/tmp/$name.idle" ]; then
		echo "# figure rtt $name idle1s_p50_us $(us "$(med "/tmp/$name.idle")")"
		echo "# figure rtt $name idle1s_max_us $(us "$(sort -n "/tmp/$name.idle" | tail -1)")"
	fi
done
tap_eq "floor: $ROUNDS rounds of $RTT_N scratchpad round trips, both ends busy-polling" \
	"$((ROUNDS * RTT_N))" "$(total /tmp/floor.n)"
echo "# figure rtt floor p50_us $(us "$(med /tmp/floor.p50)")"
echo "# figure rtt floor p99_us $(us "$(med /tmp/floor.p99)")"
echo "# figure rtt floor p50_rounds_us $(rounds /tmp/floor.p50)"
v=$(med /tmp/floor.mm)
[ -z "$v" ] || echo "# figure rtt floor midmean_us $(awk -v v="$v" 'BEGIN { printf "%.3f", v / 1000000 }')"
tap_check "no kernel warnings" dmesg_clean
peer_halt "$RH"
tap_done
