# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: bench/poll-idle.sh, bench/doorbell.sh (idle and loaded host CPU); not in make test
#
# Bench helper (bench/poll-idle.sh): bring the NTB link up in mode
# ivntb.mode (mode_params in lib-ntb.sh; or load nothing: "none"; or no
# NTB driver but a bare hrtimer every P us on both guests: "bare-P", the
# floor of a poll at that period), then
#   1. stay idle for ivntb.idle seconds, between the markers idle-start and
#      idle-end the host times the QEMU processes by;
#   2. ring doorbells at a fixed rate, ivntb.rate per second (default 1000)
#      for ivntb.load seconds (default: as long as idle; 0: skip), the peer
#      echoing each one (ntb_dbtest "rate"), between load-start and load-end;
#   3. if ivntb.after_idle_n=K: K times, 1 s of silence then one doorbell
#      round trip: "# first_after_idle_us=" lines, one per sample.
# Each timed phase prints the guest's own busy share.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
mode=${IVNTB_MODE:-adaptive}
idle=${IVNTB_IDLE:-30}
rate=${IVNTB_RATE:-1000}
load=${IVNTB_LOAD:-$idle}
after_n=${IVNTB_AFTER_IDLE_N:-0}
tap_plan 4

case "$mode" in
none)
	tap_result 0 "no NTB driver loaded"
	;;
bare-[0-9]*)
	modprobe ivshm_bare_timer period_us="${mode#bare-}" &&
		R modprobe ivshm_bare_timer period_us="${mode#bare-}"
	tap_result $? "no NTB driver; a bare hrtimer every ${mode#bare-} us on both guests"
	;;
*)
	# ivntb.params=a=1,b=2: more module parameters, for one-off comparisons
	params="$(mode_params "$mode") ${IVNTB_PARAMS//,/ }"
	# shellcheck disable=SC2086
	modprobe ntb_hw_ivshmem $params
	# shellcheck disable=SC2086
	[ -z "$RH" ] || R modprobe ntb_hw_ivshmem $params
	ntb_setup ntb_dbtest	# enables the link on probe
	wait_for 10 up
	tap_result $? "link up in mode $mode ($(awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info))"
	;;
esac

cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
busy_since() {	# busy_since B0 I0: the guest's busy % since that sample
	local b1 i1
	read -r b1 i1 < <(cpu)
	echo $(( 100 * (b1 - $1) / ((b1 - $1) + (i1 - $2)) ))
}
fires() { cat /sys/module/ivshm_bare_timer/parameters/fires 2>/dev/null || echo 0; }
sleep 2
read -r b0 i0 < <(cpu)
f0=$(fires)
drv() { [ -n "${LOC:-}" ] && stat_loc "$1"; }
# what a driver did per second of a window: a figure (poll-idle.sh keeps
# these lines), read from its debugfs stats
CNT="irqs irq_rings rings_saved wakes send_wakes polls empty_polls arms arm_saves"
counts() {	# one process: the idle window's end is timed from outside
	awk -v l="$CNT" 'BEGIN { n = split(l, k) } { v[$1] = $2 }
		END { for (i = 1; i <= n; i++) printf "%s ", ((k[i] ":") in v) ? v[k[i] ":"] : 0 }' "$DBG/ntb_hw_ivshmem/$1/stats"
}
per_s() { # WINDOW WHO BEFORE AFTER SECONDS
	local out="# ${1}_counts_per_s $2:" k i=1
	set -- "$3" "$4" "$5"
	local b=($1) c=($2)
	for k in $CNT; do
		out+=" $k=$(( (c[i - 1] - b[i - 1]) / $3 ))"; i=$((i + 1))
	done
	echo "$out"
}
pp0=$(drv parked_polls) pw0=$(drv wakes) hb0=$(drv heartbeats) bs0=$(drv hb_backstop)
[ -z "$pp0" ] || ca0=$(counts "$LOC")
echo "IVNTB-MARK idle-start"
sleep "$idle"
echo "IVNTB-MARK idle-end"
f1=$(fires)
pp1=$(drv parked_polls) pw1=$(drv wakes)
# what woke this guest's CPUs for us: timer polls and poller (kthread) wakes
if [ "${mode#bare-}" != "$mode" ]; then
	echo "# timer_fires_per_s=$(( (f1 - f0) / idle ))"
elif [ -n "$pp0" ]; then
	echo "# timer_fires_per_s=$(( (pp1 - pp0) / idle ))"
	echo "# poller_wakes_per_s=$(( (pw1 - pw0) / idle ))"
	echo "# idle heartbeats $(( $(drv heartbeats) - hb0 )), of them by the backstop $(( $(drv hb_backstop) - bs0 ))"
	per_s idle a "$ca0" "$(counts "$LOC")" "$idle"
fi
sleep 2	# the host samples the QEMU processes now
echo "# guest_busy_pct=$(busy_since $b0 $i0)"

if [ "$mode" = none ] || [ "${mode#bare-}" != "$mode" ]; then
	# the baseline: the same window with nothing to ring
	read -r b0 i0 < <(cpu)
	echo "IVNTB-MARK load-start"
	sleep "$load"
	echo "IVNTB-MARK load-end"
	sleep 2
	echo "# load_guest_busy_pct=$(busy_since $b0 $i0)"
	if [ "$mode" = none ]; then
		tap_result 0 "no doorbells to ring without a driver"
	else
		# the timer must have run while idle, and not faster than its
		# period (plus up to a quarter of slack: 0.8 to 1 times idle /
		# period): a floor that did not fire, or ran away, is no floor.
		# Under TCG a guest takes a few thousand timer interrupts a
		# second at most (100 us: 4500/s), so the lower bound is loose;
		# the rate it reached is a figure of the table.
		want=$(( idle * 1000000 / ${mode#bare-} ))
		tap_check "the bare timer fired $((f1 - f0)) times in ${idle} s idle (${want}/10..${want}*1.1)" \
			test $((f1 - f0)) -ge $((want / 10)) -a $((f1 - f0)) -le $((want * 11 / 10))
		modprobe -r ivshm_bare_timer && R modprobe -r ivshm_bare_timer
	fi
	tap_result 0 "no round trips without a driver"
else
	R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
	val() { awk -v k="$1:" '$1 == k { print $2 }' "${2:-/tmp/rate.res}"; }
	n=$((rate * load))
	read -r b0 i0 < <(cpu)
	ca0=$(counts "$LOC") cb0=$(R "$(declare -f counts); CNT='$CNT' DBG=$DBG counts $REM")
	echo "IVNTB-MARK load-start"
	if [ "$load" -gt 0 ]; then
		echo "rate $n $rate" >$DBG/ntb_dbtest/$LOC/cmd
		sleep "$load"
		echo "IVNTB-MARK load-end"
		ca1=$(counts "$LOC") cb1=$(R "$(declare -f counts); CNT='$CNT' DBG=$DBG counts $REM")
		per_s load a "$ca0" "$ca1" "$load"
		per_s load b "$cb0" "$cb1" "$load"
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/rate.res
		sleep 1
		echo "# load_guest_busy_pct=$(busy_since $b0 $i0)"
		sed 's/^/# rate: /' /tmp/rate.res
		echo "# load_rung=$(val rung) load_returned=$(val returned) load_elapsed_ns=$(val elapsed_ns)"
		# every ring was sent; echoes coalesce when a ring finds the
		# bit still pending (more often the slower the mode): a
		# figure, not a pass mark
		tap_check "$n doorbells rung at $rate/s, echoes came back" \
			test "$(val rung)" = $n -a "$(val returned)" -gt 0 -a "$(val returned)" -le $n
	else
		echo "IVNTB-MARK load-end"
		tap_result 0 "no load phase (ivntb.load=0)"
	fi
	# the first round trip after 1 s of silence, after_n times
	got=0
	for _ in $(seq "$after_n"); do
		sleep 1
		echo "rtt 1 0" >$DBG/ntb_dbtest/$LOC/cmd
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/one
		if [ "$(val samples /tmp/one)" = 1 ]; then
			got=$((got + 1))
			echo "# first_after_idle_us=$(val p50_ns /tmp/one | awk '{ printf "%.1f", $1 / 1000 }')"
		fi
	done
	tap_eq "first round trips after 1 s idle" "$after_n" "$got"
	ntb_teardown ntb_dbtest
fi
tap_check "no kernel warnings" dmesg_clean
[ -z "$RH" ] || peer_halt "$RH"
tap_done
