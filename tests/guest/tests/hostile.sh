# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 riscv64-6.1 debug debug-subset | host hostile | -t host
#
# A hostile host on the region (hostile.host): the driver and a client
# (ntb_dbtest echoing every doorbell) keep running; no oops or warning;
# the link comes up with the valid peer, goes down while the control
# header lies, and comes back once it is restored.
# The host holds each state until we report seeing it ("IVNTB-MARK
# hostile-up", "IVNTB-MARK hostile-seen" in our log; at least its old 6 s
# and 4 s, at most 90 and 60 s): a guest the host starves or slows down
# cannot miss the window, and a state seen is the phase's own. Our later
# waits outlast the host's longest hold.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
tap_plan 7

modprobe ntb_hw_ivshmem && modprobe ntb_dbtest timeout_ms=1000
tap_result $? "ntb_hw_ivshmem and ntb_dbtest load"
LOC=$(ls /sys/bus/ntb/devices | head -1)
I=$DBG/ntb_hw_ivshmem/$LOC/info
echo "echo 0xffffffffffffffff" >$DBG/ntb_dbtest/$LOC/cmd
bad() { grep -q '^region:.*header changed' $I; }
intact() { grep -q '^region:.*intact' $I; }
tap_check "phase 1: link up with the valid host peer" wait_for 60 up
echo "IVNTB-MARK hostile-up"
# phase 2 is garbage and lies: just survive it
w=$(time_left 30)
[ "$w" -le 120 ] || w=120
tap_check "phase 3: the lying header is noticed" wait_for "$w" bad
tap_check "phase 3: link down while the header lies" wait_for 10 eval 'bad && ! up'
echo "IVNTB-MARK hostile-seen"
w=$(time_left 30)
[ "$w" -le 120 ] || w=120
tap_check "phase 4: header intact again and link back up" wait_for "$w" eval 'intact && up'
sed 's/^/# /' $DBG/ntb_hw_ivshmem/$LOC/stats
dmesg | grep 'ntb_hw_ivshmem' | tail -8 | sed 's/^/# dmesg: /'
modprobe -r ntb_dbtest && modprobe -r ntb_hw_ivshmem
tap_result $? "both unload"
tap_check "no oops, BUG or WARNING" dmesg_clean
tap_done
