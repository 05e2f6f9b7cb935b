# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | host host-peer | -t host
#
# The host tool (ivntb-shm peer, see host-peer.host) as the other end of
# the NTB: scratchpads, messages and doorbells cross both ways, and the
# link goes down when the host peer detaches.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
tap_plan 12

modprobe ntb_hw_ivshmem && modprobe ntb_tool
tap_result $? "ntb_hw_ivshmem and ntb_tool load"
LOC=$(ls /sys/bus/ntb/devices | head -1)
SHM_DEV=$(ivshmem_devs | head -1)
T=$DBG/ntb_tool/$LOC
echo 'c -1' >$T/db_mask
echo Y >$T/link
lk() { [ "$(cat $T/peer0/link)" = "$1" ]; }
tap_check "link up with the host peer" wait_for 60 lk Y
# its heartbeat keeps the link up: no flap in a second (the tool's
# default period must sit well inside our link_timeout_ms). The host may
# starve the tool past that timeout now and then (2 cores for the guest's
# vCPUs, the tool and more): a flap that is our timeout of it (announced:
# link_gens moves with it, one per down) costs that second, not the test;
# up to 3 seconds for one without a flap. Any other flap fails at once,
# and a tool that beats too slowly flaps in every second.
clean=0 why=
for try in 1 2 3; do
	wait_for 30 lk Y || break
	lc0=$(stat_loc link_changes) g0=$(stat_loc link_gens)
	sleep 1
	lc1=$(stat_loc link_changes) g1=$(stat_loc link_gens)
	[ "$lc1" = "$lc0" ] && { clean=1; break; }
	why+=" second $try: link_changes $lc0 -> $lc1, our timeouts of the tool $((g1 - g0));"
	[ $((lc1 - lc0)) -le $((2 * (g1 - g0))) ] || break
done
tap_check "the link stays up for 1 s: link_changes unchanged${why:+ (}${why# }${why:+)}" test $clean = 1
# A 2-port region is a crosslink, as on Intel NTB: no port ops, so both
# ends (and ntb_tool) see port 0; the region's own port number is in info.
tap_eq "the peer is the region's port 1 (ntb port 0: crosslink)" "0 1" \
	"$(cat $T/peer0/port) $(awk '$1 == "peer0:" { print $3 }' $DBG/ntb_hw_ivshmem/$LOC/info)"

tap_check "the host wrote our scratchpad 5" wait_for 10 eval '[ "$(cat $T/spad5)" = 0xfeed0005 ]'
sts() { [ "$(( $(cat $T/msg_sts) & 2 ))" = 2 ]; }
wait_for 10 sts
tap_eq "the host's message arrived in register 1 from peer 0" "0xabcd0001<-0" "$(cat $T/msg1)"
echo 'c 0x2' >$T/msg_sts
dbis() { [ "$(( $(cat $T/db) ))" = "$(( $1 ))" ]; }
wait_for 10 dbis 0x8000000000000001
tap_eq "the host's doorbell bits arrived" 0x8000000000000001 "$(cat $T/db)"
echo 'c -1' >$T/db

# Our link off and on: a link generation toward the host peer, which it
# must ack (protocol 1.4) before our link comes back up (before the
# echoes below: the peer detaches after two).
k0=$(stat_loc acks_seen) g0=$(stat_loc link_gens)
echo N >$T/link
wait_for 10 lk N
gd=$(( $(stat_loc link_gens) - g0 ))	# not a timeout: kept apart below
echo Y >$T/link
acked_() { lk Y && [ "$(stat_loc acks_seen)" -gt "$k0" ]; }
tap_check "our link off and on: the host peer acks the link generation, the link comes back" \
	wait_for 30 acked_
echo 0x7e577e57 >$T/peer0/spad7
# a ring while our link is down (a timeout of a starved tool, above) is
# sent to no one: ring again only then, or the tool counts two events
ring6() { wait_for 30 lk Y; lc0=$(stat_loc link_changes); echo "s 0x6" >$T/peer_db; }
ring6
wait_for 10 dbis 0x6 || { [ "$(stat_loc link_changes)" != "$lc0" ] && ring6; }
tap_check "our doorbell bits came back from the host's echo" wait_for 10 dbis 0x6
echo 0x1234 >$T/peer0/msg2
msg2() { [ "$(cat $T/msg2)" = "0x00001234<-0" ]; }
tap_check "our message came back from the host's echo" wait_for 10 msg2
# down for good: its port released (read back), not a passing flap
gone_() { ! slot_claimed 1 && lk N; }
tap_check "link goes down when the host peer detaches (port 1 free)" wait_for 30 gone_
echo "# host-peer timeouts: $(( $(stat_loc link_gens) - gd ))"	# the host hook matches them with its stalls
modprobe -r ntb_tool
modprobe -r ntb_hw_ivshmem
tap_check "no kernel warnings" dmesg_clean
tap_done
