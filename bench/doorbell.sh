#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Polled versus interrupt doorbells, two riscv64 guests (pair topology) on
# ivshmem-doorbell devices of our server, so every mode runs on the same
# setup: MSI-X interrupts, or polling with use_irq=0.
#   1. latency (one boot, tests/guest/tests/rtt-modes.sh): doorbell round
#      trip p50/p99 per mode, and the first round trip after 1 s idle;
#   2. idle cost (bench/poll-idle.sh, one boot per mode): host CPU of each
#      QEMU process and the guests' busy share over IDLE seconds;
# then one table (markdown + CSV) with ratios against interrupt mode from
# this same run, and a plot of latency against idle CPU (gnuplot).
# Outputs: build/bench/doorbell.{md,csv,png}; with DOCS=1 also copied to
# docs/bench/ (that is how the committed ones were made).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
OUT=$IVNTB_BUILD/bench
mkdir -p "$OUT"
MODES="irq adaptive hrtimer-100us hrtimer-1ms kthread"
# riscv64 results are doorbell.*; other arches get a suffix
SUF=
[ "$IVNTB_ARCH" = riscv64 ] || SUF=-$IVNTB_ARCH
export IDLE=${IDLE:-30}

step "doorbell bench 1/2: round trips per mode (one boot of two guests)"
FIG=$OUT/doorbell-rtt.figures
: >"$FIG"
IVNTB_FIGURES=$FIG "$TOP/scripts/launch.sh" -t pair --doorbell -T rtt-modes --timeout 600 |
	tee "$OUT/doorbell-rtt.launch.log"

step "doorbell bench 2/2: idle cost per mode (${IDLE} s each, one boot per mode)"
MODES="none $MODES" "$TOP/bench/poll-idle.sh"

fig() { awk -v m="$1" -v k="$2" '$3 == "rtt" && $4 == m && $5 == k { print $6; exit }' "$FIG"; }
idle() { awk -F, -v m="$1" -v c="$2" 'NR > 1 && $1 == m { print $c; exit }' "$OUT/poll-idle.csv"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else print "-" }'; }

irq_p50=$(fig irq p50_us)
irq_cpu=$(idle irq 4)
{
	echo "mode,rtt_p50_us,rtt_p99_us,idle1s_rtt_p50_us,idle1s_rtt_max_us,idle_host_cpu_pct_both,idle_guest_busy_pct,p50_vs_irq,idle_cpu_vs_irq"
	for m in $MODES; do
		echo "$m,$(fig "$m" p50_us),$(fig "$m" p99_us),$(fig "$m" idle1s_p50_us),$(fig "$m" idle1s_max_us),$(idle "$m" 4),$(idle "$m" 5),$(ratio "$(fig "$m" p50_us)" "$irq_p50"),$(ratio "$(idle "$m" 4)" "$irq_cpu")"
	done
} >"$OUT/doorbell$SUF.csv"

{
	echo "# Doorbells: interrupts versus polling"
	echo
	echo "$(date -u +%Y-%m-%d); host $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
	echo "$("${QEMU_DEFAULT}" --version | head -1 | sed 's/ (.*//'), TCG; two $IVNTB_ARCH guests (Linux $IVNTB_KVER, 2 vCPUs),"
	echo "ivshmem-doorbell devices on tools/ivshmem-server, QEMU machine $([ "$IVNTB_ARCH" = riscv64 ] && echo 'virt,aia=aplic-imsic' || echo q35)."
	echo "Round trips: ntb_dbtest, ktime in the initiator, both ends in the same mode."
	echo "Idle: ${IDLE} s with the link up; host CPU = user+system of both QEMU processes"
	echo "(100 = one host core); the no-driver baseline is $(idle none 4) %."
	echo "Ratios are against interrupt mode, from this run."
	echo
	echo "| mode | RTT p50 us | RTT p99 us | first RTT after 1 s idle, median / max us | idle host CPU % | guest busy % | p50 / irq | idle CPU / irq |"
	echo "|---|---|---|---|---|---|---|---|"
	tail -n +2 "$OUT/doorbell$SUF.csv" | while IFS=, read -r m p50 p99 i50 imax cpu busy r1 r2; do
		echo "| $m | $p50 | $p99 | $i50 / $imax | $cpu | $busy | $r1 | $r2 |"
	done
	echo
	echo "Reading it: the host has $(nproc) cores for two guests of 2 vCPUs each, so a"
	echo "busy poller (kthread, and adaptive while it spins) competes with the other"
	echo "guest's vCPUs for host time. That is why the first round trip after 1 s"
	echo "idle is milliseconds in every mode: the responder's vCPU thread must be"
	echo "scheduled on the host first. Interrupt mode still wakes each poller thread"
	echo "every heartbeat (heartbeat_ms=10), which is most of its idle cost."
	echo
	echo "Command: ${SUF:+IVNTB_ARCH=$IVNTB_ARCH }bench/doorbell.sh (IDLE=$IDLE)${SUF:-, also \`make bench\`}."
} >"$OUT/doorbell$SUF.md"
cat "$OUT/doorbell$SUF.md"

if command -v gnuplot >/dev/null; then
	tail -n +2 "$OUT/doorbell$SUF.csv" | awk -F, '$2 != "" && $6 != "" { print $1, $2, $6 }' >"$OUT/doorbell$SUF.dat"
	gnuplot <<-EOF
	set terminal pngcairo size 800,500 noenhanced
	set output "$OUT/doorbell$SUF.png"
	set title "Doorbell round trip vs idle cost ($IVNTB_ARCH TCG guests, $(date -u +%Y-%m-%d))"
	set xlabel "idle host CPU, both guests (% of one core)"
	set ylabel "round trip p50 (us, log)"
	set logscale y
	set grid
	set key off
	set offsets graph 0.05, graph 0.15, graph 0.1, graph 0.1
	plot "$OUT/doorbell$SUF.dat" using 3:2 with points pt 7 ps 1.5, \
	     "" using 3:2:1 with labels offset 0,1.2
	EOF
	step "plot: $OUT/doorbell$SUF.png"
fi
if [ "${DOCS:-0}" = 1 ]; then
	mkdir -p "$TOP/docs/bench"
	cp "$OUT/doorbell$SUF.md" "$OUT/doorbell$SUF.csv" "$TOP/docs/bench/"
	[ ! -f "$OUT/doorbell$SUF.png" ] || cp "$OUT/doorbell$SUF.png" "$TOP/docs/bench/"
	step "copied to docs/bench/"
fi
