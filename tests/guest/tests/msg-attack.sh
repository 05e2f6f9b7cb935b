# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 debug debug-subset | host msg-attack (ntb_perf) | -t host
#
# A hostile peer against ntb_perf through the message registers:
# msg-attack.host fills our inbound registers 0, 1 and 3 and leaves 2
# empty, 3 times (a new host peer each time). ntb_perf takes any three set
# status bits for a command, reads registers 0-2 and indexes its peer
# array with the peer index msg_read() returns for each, the empty one
# too: that index must be a valid peer, or the guest writes outside the
# array (an oops in perf_cmd_recv). Here: the guest lives through it,
# ntb_perf took the messages and still answers, both modules unload, and
# the kernel log is clean.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
ROUNDS=3
tap_plan 7

TR=/sys/kernel/tracing
modprobe ntb_hw_ivshmem &&
	{ mountpoint -q $TR || mount -t tracefs nodev $TR; } &&
	echo 1 >$TR/events/ntb_hw_ivshmem/ivshm_msg_recv/enable &&
	modprobe ntb_perf
tap_result $? "ntb_hw_ivshmem, tracing of ivshm_msg_recv, ntb_perf"
LOC=$(ls /sys/bus/ntb/devices | head -1)
tap_check "link up with the first host peer" wait_for 60 up
# every round is one link up and one link down
lc() { [ "$(stat_loc link_changes)" -ge $((2 * ROUNDS)) ]; }
tap_check "$ROUNDS host peers came and went (link_changes >= $((2 * ROUNDS)))" wait_for 90 lc
# each register the host filled was copied once, from peer port 1, and
# handed to ntb_perf, which acknowledged it (else the next round's send
# would have found it full and the host tool would have failed)
n=$(grep -c 'ivshm_msg_recv: port=0 peer_port=1 msg=[013] .* ret=0' $TR/trace)
echo "# registers copied from the host: $n"
tap_eq "the host's registers 0, 1 and 3 were taken $ROUNDS times" $((3 * ROUNDS)) "$n"
tap_check "ntb_perf still answers (its debugfs info)" cat $DBG/ntb_perf/$LOC/info
tap_check "ntb_perf and the driver unload" eval 'modprobe -r ntb_perf && modprobe -r ntb_hw_ivshmem'
tap_check "no kernel warnings" dmesg_clean
tap_done
