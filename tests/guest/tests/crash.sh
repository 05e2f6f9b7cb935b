# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 riscv64-6.1 arm64 debug | pair crash | -t pair
# ivntb-run: debug-subset | pair crash (1 cycle) | -t pair --append ivntb.crash_n=1
#
# Peer crash (fast subset; crash.host does the killing): both
# guests run ntb_pingpong (a ping every ms each way); the host kills -9
# guest b's QEMU; this end must see the link go down within a bound and
# its client keep working; b boots again, its driver and client come
# back, the link returns and traffic resumes. IVNTB_CRASH_N cycles. The
# detection time is the driver's own: from b's last heartbeat seen to
# link down (debugfs stats down_after_hb_us).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_CRASH_N:-3}
BOUND_MS=${IVNTB_CRASH_BOUND_MS:-500}
tap_plan_pair crash $(( 4 * N + 2 ))

ntb_setup "ntb_pingpong delay_ms=1"
tap_result $? "ntb_hw_ivshmem and ntb_pingpong on both ends"
count() { cat $DBG/ntb_pingpong/$LOC/count; }
: >/tmp/detect
for i in $(seq 0 $((N - 1))); do
	wait_for 30 up
	c0=$(count)
	crash_mark $i
	crash_detected "crash $i"
	# b boots again: bring its end back
	wait_for 60 ssh_ok
	R "modprobe ntb_hw_ivshmem && modprobe ntb_pingpong delay_ms=1"
	tap_result $? "crash $i: b rebooted, its driver and client back"
	tap_check "crash $i: link up again" wait_for 30 up
	c1=$(count); sleep 1; c2=$(count)
	tap_check "crash $i: traffic resumed ($c0 before, $c1 -> $c2)" test $((c2 - c1)) -ge 10
done
sort -n /tmp/detect | awk '{ a[NR] = $1 } END {
	printf "# figure crash_detect_ms_p50 %.1f\n", a[int((NR + 1) / 2)] / 1000
	p = int(NR * 0.99); if (p < NR * 0.99) p++
	printf "# figure crash_detect_ms_p99 %.1f\n", a[p] / 1000
	printf "# figure crash_detect_ms_max %.1f\n", a[NR] / 1000 }'
ntb_teardown ntb_pingpong
tap_check "no kernel warnings here" dmesg_clean
peer_halt "$RH"
tap_done
