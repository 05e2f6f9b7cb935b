# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 | pair crash-perf | -t pair --region 32M --mem 512
#
# Peer crash during ntb_perf (crash-perf.host does the killing,
# as crash.host): ntb_perf on both guests, this end running tests back to
# back (memcpy of 4 MiB into b's window each) when the host kills -9
# guest b's QEMU. Here: the link goes down within the bound; the runs
# after it end when signalled (ntb_perf makes a run wait, interruptibly,
# for the peer's buffers: while b is dead they wait, and `timeout` ends
# them), none is stuck in the kernel; b boots again, reloads its end; the
# link is back and a full run succeeds. IVNTB_CRASH_N cycles (2).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_CRASH_N:-2}
BOUND_MS=${IVNTB_CRASH_BOUND_MS:-500}
PERF="ntb_perf total_order=22"
tap_plan_pair crash-perf $(( 5 * N + 2 ))

ntb_setup "$PERF"
tap_result $? "ntb_hw_ivshmem and ntb_perf on both ends"
# one run: 0 on success; ntb_perf answers -ENOLINK until both ends
# swapped their buffers (a run waits for them, or its threads fail), so
# retry: for 120 s at most (and within the host's QEMU timeout) rather
# than a number of tries, as a starved host can take longer to bring the
# peer's end up; a success is a run that ended with every thread's copy
# in its stats (not an error status); one that never comes still fails
# perfrun [SECONDS]: one run, signalled after SECONDS (30), killed 2 s later
perfrun() { timeout -k 2 "${1:-30}" sh -c "echo 0 > $DBG/ntb_perf/$LOC/run" 2>/tmp/perf.err; }
perf_good()
{
	perfrun "$1" || return 1
	cat $DBG/ntb_perf/$LOC/run >/tmp/perf.out 2>&1
	grep -q 'MBytes/s' /tmp/perf.out && ! grep -q 'error status' /tmp/perf.out
}
PERF_TRIES=0
perf_ok()
{
	local end=$((SECONDS + $(time_left 30))) t
	[ $((end - SECONDS)) -le 120 ] || end=$((SECONDS + 120))
	PERF_TRIES=0
	while :; do
		t=$((end - SECONDS))
		[ "$t" -ge 1 ] || return 1
		[ "$t" -le 30 ] || t=30
		PERF_TRIES=$((PERF_TRIES + 1))
		perf_good "$t" && return 0
		[ $((end - SECONDS)) -gt 1 ] || return 1
		sleep 1
	done
}
perf_why() { echo "$PERF_TRIES runs; the last: $(tail -1 /tmp/perf.err 2>/dev/null) $(grep -m1 'error status' /tmp/perf.out 2>/dev/null)"; }
: >/tmp/detect
for i in $(seq 0 $((N - 1))); do
	wait_for 30 up
	perf_ok
	tap_result $? "cycle $i: an ntb_perf run before the crash" "$(perf_why)"
	# runs back to back, each signalled after 5 s (killed after 7 s)
	( while :; do perfrun 5; echo "rc $?" >>/tmp/perf.rcs; done ) &
	loop=$!
	sleep 1
	crash_mark $i
	crash_detected "cycle $i" ", mid-run"
	echo crash >>/tmp/perf.rcs
	# two runs after the crash must end: a run stuck in the kernel
	# survives its signals and stops the loop (each run ends in 7 s at
	# most: 60 s is slack for a slow host, not for a stuck run)
	after() { [ "$(sed -n '/^crash$/,$p' /tmp/perf.rcs | grep -c '^rc')" -ge 2 ]; }
	wait_for 60 after
	tap_result $? "cycle $i: runs after the crash end when signalled:$(sed -n '/^crash$/,$p' /tmp/perf.rcs | grep '^rc' | sort | uniq -c | tr -s ' \n' ' ')"
	kill $loop; wait $loop 2>/dev/null
	: >/tmp/perf.rcs
	# b boots under TCG on a loaded host: as long as the time left allows
	wait_for "$(time_left 60)" ssh_ok && R "modprobe ntb_hw_ivshmem && modprobe $PERF"
	tap_result $? "cycle $i: b rebooted; its driver and ntb_perf back"
	wait_for 30 up && perf_ok
	tap_result $? "cycle $i: link up again and an ntb_perf run succeeds" "$(perf_why)"
	sed -n 's/^/# /;/MBytes/p' /tmp/perf.out | head -2
done
sort -n /tmp/detect | awk '{ a[NR] = $1 } END {
	printf "# figure crash_perf_detect_ms_max %.1f\n", a[NR] / 1000 }'
ntb_teardown ntb_perf
tap_check "no kernel warnings here" dmesg_clean
peer_halt "$RH"
tap_done
