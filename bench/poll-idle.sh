#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# CPU cost of each mode: two guests (pair topology, on ivshmem-doorbell
# devices so that every mode runs on the same setup: interrupts, or polling
# with use_irq=0) with the NTB link up,
#   idle: nothing to do, IDLE seconds (default 30);
#   load: RATE doorbells per second (default 1000), each echoed by the
#         peer, for LOAD seconds (default IDLE) (tests/guest/tests/idle.sh).
# For each mode, and with no driver loaded, the host CPU time of each QEMU
# process between guest markers, and the initiating guest's own busy
# percentage. With AFTER_IDLE_N=K, then K first round trips after 1 s of
# silence (p50, p99). Modes are those of mode_params (tests/guest/lib-ntb.sh),
# none (no driver) and bare-P (no driver, a bare hrtimer every P us: the
# floor of a poll at that period). Prints a markdown table and writes it,
# with a CSV, under build/bench/ as NAME.md and NAME.csv (default poll-idle).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
IDLE=${IDLE:-30}
RATE=${RATE:-1000}
LOAD=${LOAD:-$IDLE}
MODES=${MODES:-"none irq hybrid hybrid-sup adaptive hrtimer-100us hrtimer-1ms kthread"}
AFTER_IDLE_N=${AFTER_IDLE_N:-0}
NAME=${NAME:-poll-idle}
# PARAMS=a=1,b=2: more driver parameters for every mode (one-off comparisons)
PARAMS=${PARAMS:-}
OUT=$IVNTB_BUILD/bench
mkdir -p "$OUT"
CLK=$(getconf CLK_TCK)

# CPU seconds (user+system) of the QEMU process named ivntb-RUNID-ROLE
qemu_cpu() {
	local pid
	pid=$(pgrep -f "^[^ ]*qemu-system[^ ]* -name ivntb-$1-$2( |$)" | head -1)
	[ -n "$pid" ] || { echo 0; return; }
	awk -v hz="$CLK" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$pid/stat"
}

rows=()
: >"$OUT/$NAME.counts"
i=0
for mode in $MODES; do
	# a mode may come more than once (rounds): each boot its own names
	i=$((i + 1))
	runid=bench-idle-$i-$mode-$$
	log=$IVNTB_BUILD/runs/$runid/a.log
	# hybrid-sup: hybrid with the doorbell server supervising (--ntb)
	dev=--doorbell
	[ "$mode" != hybrid-sup ] || dev=--supervise
	IVNTB_RUNID=$runid "$TOP/scripts/launch.sh" -t pair $dev -T idle --keep-logs \
		--timeout $((IDLE + LOAD + 3 * AFTER_IDLE_N + 150)) \
		--append "${PARAMS:+ivntb.params=$PARAMS }ivntb.mode=$mode ivntb.idle=$IDLE ivntb.rate=$RATE ivntb.load=$LOAD ivntb.after_idle_n=$AFTER_IDLE_N" \
		>"$OUT/$NAME-$i-$mode.launch.log" 2>&1 &
	lpid=$!
	# window START END: "a% b% both% seconds" of host CPU between markers
	window() {
		local a0 b0 t0 a1 b1 t1
		until grep -q "IVNTB-MARK $1" "$log" 2>/dev/null; do
			kill -0 $lpid 2>/dev/null || break
			sleep 0.2
		done
		a0=$(qemu_cpu "$runid" a); b0=$(qemu_cpu "$runid" b); t0=$(date +%s.%N)
		until grep -q "IVNTB-MARK $2" "$log" 2>/dev/null; do
			kill -0 $lpid 2>/dev/null || break
			sleep 0.2
		done
		a1=$(qemu_cpu "$runid" a); b1=$(qemu_cpu "$runid" b); t1=$(date +%s.%N)
		awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" 'BEGIN {
			w = t1 - t0
			printf "%.1f %.1f %.1f %.1f\n", 100 * (a1 - a0) / w, 100 * (b1 - b0) / w,
				100 * (a1 - a0 + b1 - b0) / w, w }'
	}
	read -r ia ib iboth iw < <(window idle-start idle-end)
	read -r la lb lboth lw < <(window load-start load-end)
	rc=0
	wait $lpid || rc=$?
	g() { tr -d '\r' <"$log" | sed -n "s/^# $1=\([0-9]*\).*/\1/p" | head -1; }
	busy=$(g guest_busy_pct)
	lbusy=$(g load_guest_busy_pct)
	rung=$(g load_rung)
	ret=$(tr -d '\r' <"$log" | sed -n 's/.* load_returned=\([0-9]*\).*/\1/p' | head -1)
	# first round trips after idle: p50 and p99 (nearest rank)
	read -r an a50 a99 < <(tr -d '\r' <"$log" | sed -n 's/^# first_after_idle_us=//p' | sort -n |
		awk '{ v[NR] = $1 } END { if (!NR) { print "0 - -"; exit }
			i = int(0.99 * NR + 0.999); if (i > NR) i = NR
			print NR, v[int((NR + 1) / 2)], v[i] }')
	tf=$(g timer_fires_per_s) pw=$(g poller_wakes_per_s)
	row="$mode,$ia,$ib,$iboth,${busy:-?},$iw,$la,$lb,$lboth,${lbusy:-?},${rung:--},${ret:--},$lw,$([ $rc = 0 ] && echo ok || echo FAILED),$an,$a50,$a99,${tf:--},${pw:--}"
	rows+=("$row")
	echo "poll-idle: $row" >&2
	# the driver's counters per second: a's while idle, each end's under
	# the load (idle.sh)
	tr -d '\r' <"$log" | sed -n 's/^# \(idle\|load\)_counts_per_s /poll-idle: '"$mode"' \1 /p' | tee -a "$OUT/$NAME.counts" >&2
	# a failed boot's logs stay (build/runs/RUNID)
	[ $rc != 0 ] || rm -rf "$IVNTB_BUILD/runs/$runid"
done

{
	echo "# CPU cost of the doorbell modes: idle, and at $RATE doorbells/s"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -m) host, $(nproc) cores, $(${QEMU_DEFAULT} --version | head -1 | sed 's/ (.*//'),"
	echo "$IVNTB_ARCH guests (Linux $IVNTB_KVER, TCG, smp 2), pair topology on ivshmem-doorbell, link up:"
	echo "${IDLE} s idle, then ${LOAD} s of $RATE doorbells/s from guest a (ntb_dbtest rate), each echoed by guest b."
	echo "Host CPU: user+system time of each QEMU process over the window (100 = one host core)."
	echo
	echo "| mode | idle: host CPU % a | b | both | guest a busy % | s | load: host CPU % a | b | both | guest a busy % | rung | echoed | s | run | first RTT after 1 s idle: n | p50 us | p99 us | idle: timer polls/s a | poller wakes/s a |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for r in "${rows[@]}"; do echo "| ${r//,/ | } |"; done
	echo
	echo "Command: bench/poll-idle.sh (IDLE=$IDLE LOAD=$LOAD RATE=$RATE AFTER_IDLE_N=$AFTER_IDLE_N MODES=\"$MODES\")"
} | tee "$OUT/$NAME.md"
{ echo "mode,host_cpu_pct_a,host_cpu_pct_b,host_cpu_pct_both,guest_busy_pct_a,window_s,load_host_cpu_pct_a,load_host_cpu_pct_b,load_host_cpu_pct_both,load_guest_busy_pct_a,load_rung,load_echoed,load_window_s,run,after_idle_n,after_idle_p50_us,after_idle_p99_us,idle_timer_polls_per_s_a,idle_poller_wakes_per_s_a"
  printf '%s\n' "${rows[@]}"; } >"$OUT/$NAME.csv"
