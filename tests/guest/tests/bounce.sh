# SPDX-License-Identifier: GPL-2.0
# A peer that disables and re-enables its link between two of our polls
# (protocol 1.2): bounce.host does it 5 times, each time with a
# new link generation toward us and within microseconds, so the only
# trace of the disable is the generation. Here: one link down and one up
# per bounce, strictly alternating (the ivntb_link tracepoint), the link
# up after the bounces and down once the peer detaches.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
n=${IVNTB_BOUNCES:-5}
TR=/sys/kernel/tracing
tap_plan 6

modprobe ntb_hw_ivshmem &&
	{ mountpoint -q $TR || mount -t tracefs nodev $TR; } &&
	echo 1 >$TR/events/ntb_hw_ivshmem/ivntb_link/enable &&
	echo >$TR/trace &&
	modprobe ntb_tool
tap_result $? "driver, tracing of ivntb_link, ntb_tool"
LOC=$(ls /sys/bus/ntb/devices | head -1)
T=$DBG/ntb_tool/$LOC
echo Y >$T/link
tap_check "link up with the host peer" wait_for 60 up
lc() { stat_loc link_changes; }
all() { [ "$(lc)" -ge $((1 + 2 * n)) ]; }
wait_for $((n + 30)) all	# the host bounces every 500 ms
tap_eq "link_changes: 1 + 2 per bounce" $((1 + 2 * n)) "$(lc)"
seq_=$(grep -o 'ivntb_link: .* \(up\|down\)$' $TR/trace | awk '{ print $NF }' | tr '\n' ' ')
alt() { echo "$seq_" | awk '{ for (i = 1; i <= NF; i++) if ($i != (i % 2 ? "up" : "down")) { print "event " i ": " $i; exit 1 } }'; }
echo "# events: $seq_"
tap_check "events strictly alternate, up first" alt
tap_check "link down once the host peer detaches" wait_for 30 down
echo 0 >$TR/events/ntb_hw_ivshmem/ivntb_link/enable
modprobe -r ntb_tool && modprobe -r ntb_hw_ivshmem
tap_check "no kernel warnings" dmesg_clean
tap_done
