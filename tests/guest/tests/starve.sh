# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 | pair starve (heartbeat from the poller, backstop when starved) | -t pair
#
# The heartbeat: from the poller while it runs, from the backstop when it
# cannot. Plain devices, adaptive polling on both guests, link up.
#   1. Idle, 5 s: guest a's poller parks, its park timer polls (one load
#      each), beats when a beat is due and does housekeeping while all is
#      well, so the heartbeat keeps its period with no wake of its own:
#      heartbeats ~ one per period, the backstop timer beats (almost)
#      never, the kthread wakes for one housekeeping pass in 8.
#   2. Starved, 3 s: a SCHED_FIFO busy loop on every CPU of a, RT
#      throttling off, so the poller gets no CPU at all (a's housekeeping
#      records the absence: stats away). The hard-irq backstop must beat
#      in its place: b keeps its link up (its link_changes do not move)
#      and none of a's beats comes later than the link timeout, unless
#      a's vCPU itself stopped that long (the host did not run it, or
#      interrupts were off there): a hard-irq timer cannot beat then,
#      and b may time a out, one flap of each end per such stop.
#      Each hog reads its clock in its loop and counts the gaps (its CPU
#      stopped) of over link timeout - 2 heartbeats (the backstop beats
#      up to 1.75 periods after the last beat); a's late beats may not
#      outnumber them.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
tap_plan_pair starve 12

ntb_setup ntb_dbtest	# enables the link on probe
wait_for 10 up
tap_result $? "link up, adaptive polling ($(awk '$1 == "poll_mode:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info))"
sleep 1

# 1. idle
h0=$(stat_loc heartbeats) k0=$(stat_loc hb_backstop) p0=$(stat_loc parked_polls)
w0=$(stat_loc wakes) hk0=$(stat_loc parked_hk)
sleep 5
h1=$(stat_loc heartbeats) k1=$(stat_loc hb_backstop) p1=$(stat_loc parked_polls)
w1=$(stat_loc wakes) hk1=$(stat_loc parked_hk)
dh=$((h1 - h0)) dk=$((k1 - k0)) dp=$((p1 - p0)) dw=$((w1 - w0)) dhk=$((hk1 - hk0))
# 5 s at heartbeat_ms=10: 500 beats; the poller beats up to a quarter
# period early, so up to 667
tap_check "idle: $dh beats in 5 s (250..1000)" test $dh -ge 250 -a $dh -le 1000
tap_check "idle: $dk of them by the backstop (at most a tenth)" test $((dk * 10)) -le $dh
# idle_poll_us=1000 with a quarter period of slack: 4000..5000 polls
tap_check "idle: the park timer polled $dp times in 5 s (2500..5500)" \
	test $dp -ge 2500 -a $dp -le 5500
# the park timer does housekeeping in the kthread's place but every 8th
# period's: 5 s / 80 ms = 63 wakes, and a few for the odd late pass
tap_check "idle: $dw kthread wakes in 5 s (at most 150), $dhk housekeeping passes by the park timer" \
	test $dw -le 150 -a $dhk -ge 250

# 2. starved
rt=$(cat /proc/sys/kernel/sched_rt_runtime_us)
lc0=$(stat_rem link_changes) k0=$(stat_loc hb_backstop) a0=$(stat_loc away)
s0=$(stat_loc hb_stalls) l0=$(stat_loc link_changes)
P=/sys/module/ntb_hw_ivshmem/parameters
hb=$(cat $P/heartbeat_ms) lt=$(cat $P/link_timeout_ms)
[ "$lt" -ge $((3 * hb)) ] || lt=$((3 * hb))
stop_us=$(((lt - 2 * hb) * 1000))
echo -1 >/proc/sys/kernel/sched_rt_runtime_us
for cpu in $(seq 0 $(($(nproc) - 1))); do
	# it must end by itself: nothing else runs on that CPU meanwhile;
	# prints the stops of its CPU of over $stop_us us and the longest
	# shellcheck disable=SC2016
	taskset -c "$cpu" chrt -f 50 bash -c '
		n=0 m=0 p=${EPOCHREALTIME/./}
		while [ $SECONDS -lt 3 ]; do
			t=${EPOCHREALTIME/./} d=$((t - p)) p=$t
			[ $d -gt $m ] && m=$d
			[ $d -gt '"$stop_us"' ] && n=$((n + 1))
		done
		echo "$n $m"' >/tmp/hog.$cpu &
done
wait
echo "$rt" >/proc/sys/kernel/sched_rt_runtime_us
sleep 1
hs=0 hm="" nf=0
for f in /tmp/hog.*; do
	read -r n m <"$f" && [ -n "$m" ] || { hm="$hm (none from $f)"; continue; }
	hs=$((hs + n)) hm="$hm ${m}us" nf=$((nf + 1))
done
echo "# starved: a's CPUs stopped $hs times over ${stop_us}us; longest gap per CPU:$hm"
lc1=$(stat_rem link_changes) k1=$(stat_loc hb_backstop) a1=$(stat_loc away)
s1=$(stat_loc hb_stalls) l1=$(stat_loc link_changes)
tap_check "starved: the poller was kept off every CPU (absences recorded: $((a1 - a0)))" \
	test $((a1 - a0)) -ge 1
# 3 s, the backstop beating every 1.5..1.75 periods: ~170 beats
tap_check "starved: the backstop beat $((k1 - k0)) times in 3 s (at least 50)" \
	test $((k1 - k0)) -ge 50
# a stop of a's vCPU that made a beat late past the link timeout also
# lets b time a out: one flap (a down and an up) on each end per stop
# at most; with no stop, none
tap_check "starved: b kept its link up ($lc0 -> $lc1 link changes there) but where a's CPU stopped ($hs)" \
	test $((lc1 - lc0)) -le $((2 * hs))
tap_check "starved: no beat of a's came later than the link timeout (hb_stalls +$((s1 - s0))) but where a's CPU stopped ($hs; hogs that reported: $nf of $(nproc))" \
	test $((s1 - s0)) -le "$hs" -a "$nf" = "$(nproc)"
tap_check "starved: a's link up, unchanged ($l0 -> $l1 link changes) but where a's CPU stopped ($hs)" \
	eval 'wait_for 10 up && [ $((l1 - l0)) -le $((2 * hs)) ]'

ntb_teardown ntb_dbtest
tap_dmesg_both
tap_done
