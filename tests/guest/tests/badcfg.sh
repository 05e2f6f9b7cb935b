# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | badcfg: BAR2 of 8 KiB | -t loopback --mw-pools off --region 8K --ports 0 --append ivntb.case=small
# ivntb-run: riscv64 | badcfg: guest b maps 2 of 4 MiB | -t pair --mw-pools off --region-b 2M --append ivntb.case=mismatch
# ivntb-run: riscv64 | badcfg: 3 devices, 2 ports | -t loopback --mw-pools off --ndev 3 --append ivntb.case=ports
# ivntb-run: riscv64 | badcfg: 3 devices, 2 ports, supervised (1 s heartbeats) | -t loopback --supervise --mw-pools off --ndev 3 --append ivntb.case=ports
# ivntb-run: riscv64 | badcfg: stale claims from a crashed run | -t pair --mw-pools off --append ivntb.case=stale
# ivntb-run: debug | loopback badcfg: 3 devices, 2 ports | -t loopback --mw-pools off --ndev 3 --append ivntb.case=ports
#
# Bad configurations, one per run, named by ivntb.case:
#   small     loopback, a 8 KiB BAR2 (smaller than the 12 KiB layout),
#             region left blank: every probe fails with the size in dmesg
#   mismatch  pair, a 4 MiB region of which guest b maps only 2 MiB:
#             b refuses the region (larger than its mapping), a stays up
#             with its link down; nothing else happens
#   ports     loopback, three devices on a 2-port region: two claim the
#             ports and link up; the third says every port is in use
#             (supervised too: their heartbeats, once a second, are not
#             mistaken for a crashed owner's)
#   stale     pair, both ports left claimed by crashed parties
#             (badcfg.host): both guests take the stale ports over after
#             watching them stand still and the link comes up
# In every case: no oops, BUG or WARNING, and the modules unload.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
case_=${IVNTB_CASE:-?}
tap_plan 7
ntbdevs() { ls /sys/bus/ntb/devices 2>/dev/null | wc -l; }
has() { dmesg | grep -q "$1"; }

case "$case_" in
small)
	modprobe ntb_hw_ivshmem
	tap_result $? "modprobe succeeds (the PCI probes fail, not the module)"
	tap_eq "no NTB device" 0 "$(ntbdevs)"
	tap_eq "each device says why: BAR2 is 8192 bytes, the layout needs 12288" 2 \
		"$(dmesg | grep -c 'BAR2 is 8192 bytes, the NTB layout needs at least 12288')"
	modprobe -r ntb_hw_ivshmem
	tap_result $? "the module unloads"
	modprobe ntb_hw_ivshmem && modprobe -r ntb_hw_ivshmem
	tap_result $? "and loads and unloads again"
	;;
mismatch)
	modprobe ntb_hw_ivshmem && R modprobe ntb_hw_ivshmem
	tap_result $? "modprobe succeeds on both guests"
	tap_eq "guest a: one NTB device; guest b (2 MiB mapped): none" "1 0" \
		"$(ntbdevs) $(R ls /sys/bus/ntb/devices | wc -l)"
	tap_check "guest b says: region larger than the mapping" \
		R "dmesg | grep 'invalid region.*region larger than the mapping'"
	LOC=$(ls /sys/bus/ntb/devices | head -1)
	modprobe ntb_tool && echo Y >$DBG/ntb_tool/$LOC/link
	sleep 1
	tap_check "guest a's link stays down: no peer ever claims" sh -c "! grep -q '^link_mask:.*0x1' $DBG/ntb_hw_ivshmem/$LOC/info"
	modprobe -r ntb_tool && modprobe -r ntb_hw_ivshmem && R modprobe -r ntb_hw_ivshmem
	tap_result $? "the modules unload"
	;;
ports)
	modprobe ntb_hw_ivshmem
	tap_eq "three devices, two NTB devices" "3 2" "$(ivshmem_devs | wc -l) $(ntbdevs)"
	tap_check "the third says every port is in use" has "every port of the region is in use (2 ports)"
	devs=($(ls /sys/bus/ntb/devices))
	LOC=${devs[0]}
	modprobe ntb_tool
	echo Y >$DBG/ntb_tool/${devs[0]}/link
	echo Y >$DBG/ntb_tool/${devs[1]}/link
	tap_check "the two that claimed link up" wait_for 10 up
	echo "s 0x1" >$DBG/ntb_tool/${devs[0]}/peer_db
	tap_check "a doorbell crosses between them" wait_for 5 eval '[ "$(cat $DBG/ntb_tool/${devs[1]}/db)" = 0x1 ]'
	modprobe -r ntb_tool && modprobe -r ntb_hw_ivshmem
	tap_result $? "the modules unload"
	;;
stale)
	ntb_setup ntb_tool
	tap_result $? "both guests load the driver on a region whose ports are both stale"
	tap_check "guest a took a stale port over" has "took over port [01]: its owner stopped its heartbeat"
	tap_check "guest b took the other over" R "dmesg | grep 'took over port [01]: its owner stopped its heartbeat'"
	echo Y >$DBG/ntb_tool/$LOC/link
	R "echo Y > $DBG/ntb_tool/$REM/link"
	tap_check "the link comes up" wait_for 10 up
	tap_check "the modules unload" ntb_teardown ntb_tool
	;;
*)
	for i in 1 2 3 4 5; do tap_result 1 "unknown ivntb.case '$case_'"; done
	;;
esac
tap_dmesg_both
tap_done
