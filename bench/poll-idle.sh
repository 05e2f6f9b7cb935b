#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Idle cost of each mode: two riscv64 guests (pair topology, on
# ivshmem-doorbell devices so that every mode runs on the same setup:
# interrupts, or polling with use_irq=0) with the NTB link up and nothing
# to do, IDLE seconds (default 30). For each mode,
# and with no driver loaded, the host CPU time of each QEMU process between
# two guest markers, and the guests' own busy percentage. Prints a markdown
# table and writes it, with a CSV, under build/bench/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
IDLE=${IDLE:-30}
MODES=${MODES:-"none irq adaptive hrtimer-100us hrtimer-1ms kthread"}
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
for mode in $MODES; do
	runid=bench-idle-$mode-$$
	log=$IVNTB_BUILD/runs/$runid/a.log
	IVNTB_RUNID=$runid "$TOP/scripts/launch.sh" -t pair --doorbell -T idle --keep-logs \
		--timeout $((IDLE + 120)) --append "ivntb.mode=$mode ivntb.idle=$IDLE" \
		>"$OUT/poll-idle-$mode.launch.log" 2>&1 &
	lpid=$!
	until grep -q 'IVNTB-MARK idle-start' "$log" 2>/dev/null; do
		kill -0 $lpid 2>/dev/null || break
		sleep 0.2
	done
	a0=$(qemu_cpu "$runid" a); b0=$(qemu_cpu "$runid" b); t0=$(date +%s.%N)
	until grep -q 'IVNTB-MARK idle-end' "$log" 2>/dev/null; do
		kill -0 $lpid 2>/dev/null || break
		sleep 0.2
	done
	a1=$(qemu_cpu "$runid" a); b1=$(qemu_cpu "$runid" b); t1=$(date +%s.%N)
	rc=0
	wait $lpid || rc=$?
	busy=$(tr -d '\r' <"$log" | sed -n 's/^# guest_busy_pct=//p' | head -1)
	row=$(awk -v m="$mode" -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" \
		-v t0="$t0" -v t1="$t1" -v g="${busy:-?}" -v rc="$rc" 'BEGIN {
		w = t1 - t0
		printf "%s,%.1f,%.1f,%.1f,%s,%.1f,%s", m, 100 * (a1 - a0) / w,
			100 * (b1 - b0) / w, 100 * (a1 - a0 + b1 - b0) / w, g, w,
			rc == 0 ? "ok" : "FAILED" }')
	rows+=("$row")
	echo "poll-idle: $row" >&2
	rm -rf "$IVNTB_BUILD/runs/$runid"
done

{
	echo "# Idle cost of the doorbell modes"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -m) host, $(nproc) cores, $(${QEMU_DEFAULT} --version | head -1 | sed 's/ (.*//'),"
	echo "$IVNTB_ARCH guests (Linux $IVNTB_KVER, TCG, smp 2), pair topology on ivshmem-doorbell, link up, ${IDLE} s idle."
	echo "Host CPU: user+system time of each QEMU process over the idle window."
	echo
	echo "| poll mode | host CPU % guest a | host CPU % guest b | host CPU % both | guest busy % (a) | window s | run |"
	echo "|---|---|---|---|---|---|---|"
	for r in "${rows[@]}"; do echo "| ${r//,/ | } |"; done
	echo
	echo "Command: bench/poll-idle.sh (IDLE=$IDLE MODES=\"$MODES\")"
} | tee "$OUT/poll-idle.md"
{ echo "mode,host_cpu_pct_a,host_cpu_pct_b,host_cpu_pct_both,guest_busy_pct_a,window_s,run"
  printf '%s\n' "${rows[@]}"; } >"$OUT/poll-idle.csv"
