# SPDX-License-Identifier: GPL-2.0
# A peer that stops for longer than the link timeout and comes back
# (issue 8): freeze.host stops guest b's QEMU (SIGSTOP) for 300 ms while
# ntb_transport + ntb_netdev run on both guests. Guest a times b out and
# takes its link down; b, once it runs again, sees a's heartbeat still
# moving. Both ends must go through one link down and one link up (protocol
# 1.2 link generation: the end that timed out tells the other), or the
# end that flapped alone keeps its transport queue down: ntb_transport
# clears its scratchpads on link down and waits for a peer that has no
# reason to write them again. Each freeze falls in the middle of a 64 MiB
# TCP transfer to b, which must finish with the right md5 once the
# carrier is back on both ends. IVNTB_FREEZE_N cycles (3),
# IVNTB_FREEZE_MB MiB per transfer (64).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_FREEZE_N:-3}
MB=${IVNTB_FREEZE_MB:-64}
TP="transport_mtu=65536"
PORT=5001
tap_plan_pair freeze $(( 6 * N + 3 ))

# data first: see netdev.sh
head -c $((MB * 1048576)) /dev/urandom >/tmp/data
sum=$(md5sum </tmp/data | cut -d' ' -f1)
ntb_setup "ntb_transport $TP" ntb_netdev && net_addr_there && net_addr_here
wait_for 30 carrier
tap_result $? "ntb_netdev on both guests, carrier up ($IF)"
carrier_there() { [ "$(R "$(declare -f ntbif); cat /sys/class/net/\$(ntbif)/carrier" 2>/dev/null)" = 1 ]; }
for i in $(seq 0 $((N - 1))); do
	la=$(stat_loc link_changes)
	lb=$(stat_rem link_changes)
	ga=$(stat_loc link_gens)
	R "timeout 120 nc -l -p $PORT | md5sum" >/tmp/recv.md5 2>&1 &
	rpid=$!
	sleep 0.5
	timeout 120 nc $NET_RA $PORT </tmp/data &
	spid=$!
	sleep 1
	echo "IVNTB-MARK freeze $i"
	wait_for 30 down
	tap_result $? "cycle $i: b stopped mid-transfer: our link went down"
	wait_for 30 up
	# b's driver must go down and up too; a one-sided flap leaves one
	# transport queue down for good, so bound the wait
	wait_for 20 carrier && wait_for 20 carrier_there
	tap_result $? "cycle $i: b runs again: carrier up on both ends"
	la2=$(stat_loc link_changes)
	lb2=$(stat_rem link_changes)
	ga2=$(stat_loc link_gens)
	echo "# cycle $i: link_changes here $la -> $la2, there $lb -> $lb2; link_gens here $ga -> $ga2"
	tap_eq "cycle $i: one link down and one up here" "2" "$((la2 - la))"
	tap_eq "cycle $i: we told b (one new link generation)" "1" "$((ga2 - ga))"
	tap_eq "cycle $i: one link down and one up on b too" "2" "$((lb2 - lb))"
	wait $spid
	wait $rpid
	tap_eq "cycle $i: the $MB MiB across the freeze arrived, md5 matches" "$sum" "$(cut -d' ' -f1 /tmp/recv.md5)"
done
ip link set $IF down
ntb_teardown ntb_netdev ntb_transport
tap_dmesg_both
tap_done
