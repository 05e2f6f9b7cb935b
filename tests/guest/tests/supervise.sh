# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 | pair supervise (doorbell server --ntb, kill -9 of b x3) | -t pair --supervise
#
# Supervised liveness (launch.sh --supervise: the doorbell server runs
# with --ntb; supervise.host does the killing and the timing). Both ends
# hybrid: they see the supervisor, beat every sup_heartbeat_ms (1 s) and,
# with the link up and idle, sleep with no timer: over 5 s idle the
# poller must hardly wake. Then IVNTB_SUP_N times: the host kills -9 b's
# QEMU; the server marks b's port gone and rings us, and the link must go
# down on that word (sup_downs), long before a heartbeat timeout could
# (three of b's 1 s periods); b boots again, takes its old port over at
# once (the server saw its owner die) and the link comes back. The host
# times each detection from its own kill (figures sup_crash_detect_ms_*).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_SUP_N:-3}
IDLE_S=5
tap_plan_pair supervise $(( 5 + 4 * N + 1 ))

sup_moved() { [ "$(stat_loc sup_downs)" -gt "$1" ]; }
info() { awk -v k="$1:" '$1 == k { print $2, $3 }' $DBG/ntb_hw_ivshmem/$LOC/info; }
rinfo() { R "awk -v k='$1:' '\$1 == k { print \$2, \$3 }' $DBG/ntb_hw_ivshmem/$REM/info"; }

ntb_setup "ntb_dbtest"
tap_result $? "ntb_hw_ivshmem and ntb_dbtest load on both ends"
tap_eq "both ends hybrid and supervised (heartbeat 1000 ms)" \
	"hybrid  1000 (supervised) hybrid  1000 (supervised)" \
	"$(info poll_mode) $(info heartbeat_ms) $(rinfo poll_mode) $(rinfo heartbeat_ms)"
tap_check "link up" wait_for 30 up

# idle: no periodic wake but the heartbeat backstop (a kick per 3 s)
sleep 1
# the heartbeats counted over the sleep alone (the remote read takes a
# while on a busy host)
v0=$(stat_rem wakes) w0=$(stat_loc wakes) h0=$(stat_loc heartbeats)
sleep $IDLE_S
h1=$(stat_loc heartbeats) w1=$(stat_loc wakes) v1=$(stat_rem wakes)
echo "# idle ${IDLE_S} s: poller wakes here $((w1 - w0)), there $((v1 - v0)); heartbeats here $((h1 - h0))"
echo "# figure sup_idle_wakes_per_s $(awk -v a=$((w1 - w0)) -v b=$((v1 - v0)) -v s=$IDLE_S 'BEGIN { printf "%.1f", (a + b) / 2 / s }')"
tap_check "idle ${IDLE_S} s: at most 3 poller wakes on each end" \
	test $((w1 - w0)) -le 3 -a $((v1 - v0)) -le 3
tap_check "idle ${IDLE_S} s: heartbeats at the supervised period (4..7)" \
	test $((h1 - h0)) -ge 4 -a $((h1 - h0)) -le 7

for i in $(seq 0 $((N - 1))); do
	wait_for 30 up
	s0=$(stat_loc sup_downs) l0=$(stat_loc link_changes)
	echo "IVNTB-MARK supcrash $i"
	# sup_downs moves only for a link the supervisor's word takes down
	# while it is up: a heartbeat timeout (three of b's 1 s periods)
	# first would not move it. The wait covers the host's side too (it
	# sees the mark, then kills; the server sees the socket close).
	if wait_for 10 sup_moved "$s0"; then
		tap_eq "crash $i: link down on the supervisor's word (sup_downs +1, one link change)" \
			"$((s0 + 1)) $((l0 + 1))" "$(stat_loc sup_downs) $(stat_loc link_changes)"
	else
		tap_result 1 "crash $i: link down on the supervisor's word (sup_downs +1, one link change)" \
			"sup_downs $s0 -> $(stat_loc sup_downs) in 10 s; link_changes $l0 -> $(stat_loc link_changes)"
	fi
	wait_for 60 ssh_ok
	R "modprobe ntb_hw_ivshmem && modprobe ntb_dbtest"
	tap_result $? "crash $i: b rebooted, its driver and client back"
	tap_check "crash $i: b took its old port over at once (the server saw its owner die)" \
		R "dmesg | grep -q 'took over port [0-9]*: its doorbell server saw its owner die'"
	tap_check "crash $i: link up again" wait_for 30 up
done
ntb_teardown ntb_dbtest
tap_check "no kernel warnings here" dmesg_clean
peer_halt "$RH"
tap_done
