# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 riscv64-6.1 x86_64 | pair freeze | -t pair --region 32M --mem 512
#
# A peer that stops for longer than the link timeout and comes back:
# freeze.host stops guest b's QEMU (SIGSTOP) for 300 ms while ntb_transport
# + ntb_netdev run on both guests. Guest a times b out and takes its link
# down; b, once it runs again, sees a's heartbeat still moving. Both ends
# must go down and up (protocol 1.2 link generation: the end that timed
# out tells the other, which counts it in peer_gens), or the end that
# flapped alone keeps its transport queue down: ntb_transport clears its
# scratchpads on link down and waits for a peer that has no reason to
# write them again.
# One stop costs one flap: a timeout needs the other end's heartbeat to
# have stood still past the link timeout, which that end's own heartbeat
# timer records (debugfs stats hb_stalls); the host may stop a guest of
# its own accord too, so each cycle checks flaps against recorded stops.
# Each freeze falls in the middle of a 64 MiB TCP transfer to b, which must
# finish with the right md5 once the carrier is back on both ends.
# A last cycle stops b twice with a moment of running in between (a busy
# host was seen to): a may time b out twice, while b, still training after
# the first, takes one flap for both; every timeout must still reach the
# other end (peer_gens), and both end up.
# An end that announced a timeout calls the link up again only after the
# other end acked it (protocol 1.4: link down, clients told, its writes
# from the old link landed and its scratchpad writes zeroed): without it,
# a quick second stop was seen to leave ntb_transport's handshake stuck.
# Then both guests are stopped together: that costs no flap at all.
# IVNTB_FREEZE_N cycles (3) and the double one, IVNTB_FREEZE_MB MiB per
# transfer (64).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_FREEZE_N:-3}
MB=${IVNTB_FREEZE_MB:-64}
TP="transport_mtu=65536"
PORT=5001
tap_plan_pair freeze $(( 8 * (N + 1) + 7 ))

# data first: see netdev.sh
head -c $((MB * 1048576)) /dev/urandom >/tmp/data
sum=$(md5sum </tmp/data | cut -d' ' -f1)
ntb_setup "ntb_transport $TP" ntb_netdev && net_addr_there && net_addr_here &&
	trace_link_on
wait_for 30 carrier
tap_result $? "ntb_netdev on both guests, carrier up ($IF)"
carrier_there() { [ "$(R "$(declare -f ntbif); cat /sys/class/net/\$(ntbif)/carrier" 2>/dev/null)" = 1 ]; }
for i in $(seq 0 "$N"); do
	if [ "$i" = "$N" ]; then mark="freeze-twice $i" what="b stopped twice"
	else mark="freeze $i" what="b stopped"; fi
	la=$(stat_loc link_changes) lb=$(stat_rem link_changes)
	ga=$(stat_loc link_gens) gb=$(stat_rem link_gens)
	pa=$(stat_loc peer_gens) pb=$(stat_rem peer_gens)
	sa=$(stat_loc hb_stalls) sb=$(stat_rem hb_stalls)
	ka=$(stat_loc acks_seen) kb=$(stat_rem acks_seen)
	ca=$(stat_loc link_acks) cb=$(stat_rem link_acks)
	R "timeout 120 nc -l -p $PORT | md5sum" >/tmp/recv.md5 2>&1 &
	rpid=$!
	sleep 0.5
	timeout 120 nc $NET_RA $PORT </tmp/data &
	spid=$!
	sleep 1
	echo "IVNTB-MARK $mark"
	# the transition, from the counter: the down may last less than a
	# poll of this loop on a busy guest
	moved() { [ "$(stat_loc link_changes)" -gt "$la" ]; }
	tap_check "cycle $i: $what mid-transfer: our link went down" wait_for 30 moved
	# stopped twice: b's own heartbeat timer records both stops once it
	# runs after the second; only then are the counts final
	stopped_twice() { [ $(($(stat_rem hb_stalls) - sb)) -ge 2 ]; }
	[ "$i" != "$N" ] || tap_check "cycle $i: b's heartbeat timer saw both stops (hb_stalls)" \
		wait_for 30 stopped_twice
	wait_for 30 up
	# b's driver must go down and up too; a one-sided flap leaves one
	# transport queue down for good, so bound the wait
	wait_for 20 carrier && wait_for 20 carrier_there
	tap_result $? "cycle $i: b runs again: carrier up on both ends"
	# Carrier can be back on an end that has yet to read the other's
	# latest announcement (a timeout of b again, right after it ran):
	# the counts are read once every timeout announced has reached the
	# other end, or after 10 s (then the check below fails).
	told() {
		[ $(($(stat_rem peer_gens) - pb)) = $(($(stat_loc link_gens) - ga)) ] &&
			[ $(($(stat_loc peer_gens) - pa)) = $(($(stat_rem link_gens) - gb)) ]
	}
	wait_for 10 told && wait_for 20 carrier && wait_for 20 carrier_there
	la2=$(stat_loc link_changes) lb2=$(stat_rem link_changes)
	ga2=$(stat_loc link_gens) gb2=$(stat_rem link_gens)
	pa2=$(stat_loc peer_gens) pb2=$(stat_rem peer_gens)
	sa2=$(stat_loc hb_stalls) sb2=$(stat_rem hb_stalls)
	ka2=$(stat_loc acks_seen) kb2=$(stat_rem acks_seen)
	ca2=$(stat_loc link_acks) cb2=$(stat_rem link_acks)
	da=$(((la2 - la) / 2)) db=$(((lb2 - lb) / 2))
	ta=$((ga2 - ga)) tb=$((gb2 - gb))
	echo "# cycle $i: link_changes here $la -> $la2, there $lb -> $lb2;" \
		"timeouts announced (link_gens) here $ta, there $tb; received (peer_gens) here $((pa2 - pa)), there $((pb2 - pb));" \
		"stalls (hb_stalls) here $((sa2 - sa)), there $((sb2 - sb))"
	# What a stop guarantees: each end goes down and ends up; each
	# timeout is announced and the other end receives it, taking its
	# link down or finding it down already (an end still training when
	# the other times it out again flaps once for both: downs may
	# differ, never the announcements); the freeze is a stop past the
	# link timeout, so at least one timeout; a timeout needs a stop of
	# the other end that long (its own heartbeat timer records it:
	# hb_stalls), so the host may add flaps of its own (a 2-core host
	# running 4 vCPUs starves a guest now and then) but no stop costs
	# two flaps.
	ok=1
	tap_check "cycle $i: both ends went down and back up (downs here $da, there $db)" \
		test $(((la2 - la) % 2)) = 0 -a $(((lb2 - lb) % 2)) = 0 -a "$da" -ge 1 -a "$db" -ge 1 || ok=0
	tap_check "cycle $i: every timeout announced was received (b got $((pb2 - pb)) of our $ta, we $((pa2 - pa)) of b's $tb)" \
		test $((pb2 - pb)) = "$ta" -a $((pa2 - pa)) = "$tb" || ok=0
	tap_check "cycle $i: we timed b out ($ta), no more often than b stopped ($((sb2 - sb))); b us ($tb), no more than we stopped ($((sa2 - sa)))" \
		test "$ta" -ge 1 -a "$ta" -le $((sb2 - sb)) -a "$tb" -le $((sa2 - sa)) || ok=0
	tap_check "cycle $i: one flap per timeout, none without (downs $da here, $db there; $((ta + tb)) timeouts)" \
		test "$da" -le $((ta + tb)) -a "$db" -le $((ta + tb)) || ok=0
	# An end that announced a timeout links again only once the other
	# end acked it (protocol 1.4): the other end's link is down, its
	# clients were told, and its writes from before have landed. One ack
	# may cover two announcements that came before it could ack.
	acks() { # announced, acks seen by the announcer, acks made by the other end
		[ "$1" = 0 ] && [ "$2" = 0 ] && return
		[ "$2" -ge 1 ] && [ "$2" -le "$1" ] && [ "$3" -ge "$2" ]
	}
	tap_check "cycle $i: every announcement acked before the link came back (here $((ka2 - ka)) of our $ta, b made $((cb2 - cb)); b $((kb2 - kb)) of its $tb, we made $((ca2 - ca)))" \
		eval 'acks $ta $((ka2 - ka)) $((cb2 - cb)) && acks $tb $((kb2 - kb)) $((ca2 - ca))' || ok=0
	[ $ok = 1 ] && [ "$da" = 1 ] && [ "$db" = 1 ] || trace_dump
	wait $spid
	wait $rpid
	tap_eq "cycle $i: the $MB MiB across the freeze arrived, md5 matches" "$sum" "$(cut -d' ' -f1 /tmp/recv.md5)"
done
# Both guests stopped together (a paused host, or one that starves both
# VMs at once): neither end watched the other's heartbeat stand still, so
# neither times the other out (the driver credits the time it was away).
la=$(stat_loc link_changes) lb=$(stat_rem link_changes)
echo "IVNTB-MARK freeze-both"
sleep 3
aw=$(stat_loc away_max_us)
tap_check "both stopped at once: we were away ($((aw / 1000)) ms, >= 250)" test "$aw" -ge 250000
la2=$(stat_loc link_changes) lb2=$(stat_rem link_changes)
[ "$la2" = "$la" ] && [ "$lb2" = "$lb" ] || trace_dump
tap_eq "both stopped at once: no flap on either end (link_changes here $la -> $la2, there $lb -> $lb2)" \
	"0 0" "$((la2 - la)) $((lb2 - lb))"
# The order, from each end's trace: after a timeout it announced
# (ivshm_peer_down reason=silent) its link came up again only once it had
# seen the other end's ack (ivshm_link_ack ... seen). The counts above
# cannot tell an ack that came late from one that came first.
ack_order='grep -v "^#" /sys/kernel/tracing/trace | awk "
	/ivshm_peer_down:.*reason=silent/ { n++; want = 1 }
	/ivshm_link_ack:.* seen/ { want = 0 }
	/ivshm_link: .*peers_up=0x[0-9a-f]*[1-9a-f]/ { if (want) bad++ }
	END { print n + 0, bad + 0 }"'
read -r na ba < <(bash -c "$ack_order")
read -r nb bb < <(R "$ack_order")
[ "$ba $bb" = "0 0" ] || trace_dump
tap_check "traces: every timeout announced was acked before that end's link came up (here $ba of $na up before the ack, there $bb of $nb)" \
	test "$((na + nb))" -ge "$N" -a "$ba" = 0 -a "$bb" = 0
ip link set $IF down
ntb_teardown ntb_netdev ntb_transport
tap_dmesg_both
tap_done
