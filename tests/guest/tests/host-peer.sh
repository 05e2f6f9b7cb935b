# SPDX-License-Identifier: GPL-2.0
# The host tool (ivntb-shm peer, see host-peer.host) as the other end of
# the NTB: scratchpads, messages and doorbells cross both ways, and the
# link goes down when the host peer detaches.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
tap_plan 11

modprobe ntb_hw_ivshmem && modprobe ntb_tool
tap_result $? "ntb_hw_ivshmem and ntb_tool load"
LOC=$(ls /sys/bus/ntb/devices | head -1)
T=$DBG/ntb_tool/$LOC
echo 'c -1' >$T/db_mask
echo Y >$T/link
lk() { [ "$(cat $T/peer0/link)" = "$1" ]; }
tap_check "link up with the host peer" wait_for 60 lk Y
# its heartbeat keeps the link up: no flap in a second (the tool's
# default period must sit well inside our link_timeout_ms)
lc() { awk '$1 == "link_changes:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/stats; }
lc0=$(lc)
sleep 1
tap_eq "the link stays up for 1 s: link_changes unchanged" "$lc0" "$(lc)"
# A 2-port region is a crosslink, as on Intel NTB: no port ops, so both
# ends (and ntb_tool) see port 0; the region's own port number is in info.
tap_eq "the peer is the region's port 1 (ntb port 0: crosslink)" "0 1" \
	"$(cat $T/peer0/port) $(awk '$1 == "peer0:" { print $3 }' $DBG/ntb_hw_ivshmem/$LOC/info)"

tap_check "the host wrote our scratchpad 5" wait_for 10 test "$(cat $T/spad5)" = 0xfeed0005
sts() { [ "$(( $(cat $T/msg_sts) & 2 ))" = 2 ]; }
wait_for 10 sts
tap_eq "the host's message arrived in register 1 from peer 0" "0xabcd0001<-0" "$(cat $T/msg1)"
echo 'c 0x2' >$T/msg_sts
dbis() { [ "$(( $(cat $T/db) ))" = "$(( $1 ))" ]; }
wait_for 10 dbis 0x8000000000000001
tap_eq "the host's doorbell bits arrived" 0x8000000000000001 "$(cat $T/db)"
echo 'c -1' >$T/db

echo 0x7e577e57 >$T/peer0/spad7
echo "s 0x6" >$T/peer_db
tap_check "our doorbell bits came back from the host's echo" wait_for 10 dbis 0x6
echo 0x1234 >$T/peer0/msg2
msg2() { [ "$(cat $T/msg2)" = "0x00001234<-0" ]; }
tap_check "our message came back from the host's echo" wait_for 10 msg2
tap_check "link goes down when the host peer detaches" wait_for 30 lk N
modprobe -r ntb_tool
modprobe -r ntb_hw_ivshmem
tap_check "no kernel warnings" dmesg_clean
tap_done
