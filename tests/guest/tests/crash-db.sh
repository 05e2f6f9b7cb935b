# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | pair crash: a dead peer's doorbell does not cut its restart's link training short | -t pair --mw-pools off
#
# b rings us through ntb_tool, which leaves the bit pending here; the host
# kills -9 b's QEMU and boots it again (crash-db.host). The bit is still
# pending when b's restarted instance claims its port and enables its
# link: it must not count as a sign of life of that instance (it rang
# nothing), so our link comes up by link training (debugfs stats
# train_skipped unchanged), which gives the restarted peer's clients time
# to handle their own link-down event before we write to them. The bit is
# ours to clear: still pending after the restart.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
BOUND_MS=500
tap_plan_pair crash-db 9

ntb_setup ntb_tool && echo Y >$DBG/ntb_tool/$LOC/link && R "echo Y >$DBG/ntb_tool/$REM/link"
tap_result $? "ntb_hw_ivshmem and ntb_tool on both ends, links enabled"
# each end trains its own link: b's ring reaches us once b's is up too
wait_for 30 up && wait_for 30 rup
R "echo 's 0x2' >$DBG/ntb_tool/$REM/peer_db"
tap_check "b rang doorbell bit 1: pending here" wait_for 5 eval '[ "$(cat $DBG/ntb_tool/$LOC/db)" = 0x2 ]'
sk0=$(stat_loc train_skipped)
crash_mark 0
crash_detected "crash 0"
wait_for 60 ssh_ok && R "modprobe ntb_hw_ivshmem && modprobe ntb_tool && echo Y >$DBG/ntb_tool/$REM/link"
tap_result $? "b rebooted; its driver and ntb_tool back, link enabled"
tap_check "link up again" wait_for 30 up
sk1=$(stat_loc train_skipped)
tap_eq "the link came up by training, not on the dead instance's doorbell (train_skipped $sk0 -> $sk1)" "$sk0" "$sk1"
tap_eq "the stale bit is still ours to clear" 0x2 "$(cat $DBG/ntb_tool/$LOC/db)"
ntb_teardown ntb_tool
tap_dmesg_both
tap_done
