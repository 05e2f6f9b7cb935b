#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Plain polling (no interrupt: adaptive, use_irq=0) at idle: what the idle
# poll period costs and what it buys. For each period P in POINTS (us), one
# boot of two guests (pair topology) per row, through bench/poll-idle.sh:
#   bare-P      no NTB driver, a bare hard-irq hrtimer every P us on both
#               guests (kmod/ivshm_bare_timer.c): the floor of any poll at P;
#   adaptive-P  the driver, adaptive, idle_poll_us=P;
# and, as points of comparison on the same devices, none (no driver), irq
# and hybrid (MSI-X). Per row: host CPU of both QEMU processes over IDLE
# seconds idle (default 20), then AFTER_IDLE_N first round trips after
# 1 s of silence (default 20; p50, p99). Bare and adaptive rows alternate,
# so that drift of the host hits both alike. Idle host CPU of a TCG guest
# moves by a third between boots of the same setup, so the periods in
# REPEAT_P (default 1000, the default idle_poll_us) get REPEAT_N pairs of
# boots (default 3) and every figure of a row is the median of its boots.
# Outputs build/bench/idle-curve.{md,csv,png}; DOCS=1 copies them to
# docs/bench/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
OUT=$IVNTB_BUILD/bench
POINTS=${POINTS:-"100 500 1000 2000 5000 10000"}
export IDLE=${IDLE:-20} AFTER_IDLE_N=${AFTER_IDLE_N:-20} LOAD=0 NAME=idle-curve
REPEAT_P=${REPEAT_P:-1000}
REPEAT_N=${REPEAT_N:-3}
# riscv64 results are idle-curve.*; other arches get a suffix
SUF=
[ "$IVNTB_ARCH" = riscv64 ] || SUF=-$IVNTB_ARCH
CSV=$OUT/idle-curve$SUF.csv

if [ "${REPORT_ONLY:-0}" != 1 ]; then
	modes="none irq hybrid"
	for p in $POINTS; do
		n=1
		[[ " $REPEAT_P " != *" $p "* ]] || n=$REPEAT_N
		for _ in $(seq "$n"); do modes="$modes bare-$p adaptive-$p"; done
	done
	step "idle curve: $(wc -w <<<"$modes") boots, ${IDLE} s idle + $AFTER_IDLE_N first round trips after 1 s idle each"
	MODES=$modes "$TOP/bench/poll-idle.sh" >/dev/null
	[ -z "$SUF" ] || mv "$OUT/idle-curve.csv" "$CSV"
fi

# col MODE COLUMN: the median over that mode's boots ("-" if none has it)
col() {
	awk -F, -v m="$1" -v c="$2" 'NR > 1 && $1 == m && $c != "-" && $c != "" { print $c }' "$CSV" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}
boots() { awk -F, -v m="$1" 'NR > 1 && $1 == m' "$CSV" | wc -l; }
# pair_ratio P: adaptive / bare of each pair of boots at period P (the
# k-th adaptive-P boot with the k-th bare-P one, which ran just before
# it), the median over the pairs
pair_ratio() {
	awk -F, -v p="$1" 'NR > 1 && $1 == "bare-" p { b[++nb] = $4 }
		NR > 1 && $1 == "adaptive-" p { a[++na] = $4 }
		END { for (i = 1; i <= na && i <= nb; i++) if (b[i] > 0) print a[i] / b[i] }' "$CSV" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f\n", v[int((NR + 1) / 2)]; else print "-" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else print "-" }'; }
net() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.1f", a - b; else print "" }'; }
none=$(col none 4)
{
	echo "# Idle polling: cost of the idle poll period, against a bare timer"
	echo
	echo "$(date -u +%Y-%m-%d); host $(uname -m), $(nproc) cores; $("${QEMU_DEFAULT}" --version | head -1 | sed 's/ (.*//'), TCG;"
	echo "two $IVNTB_ARCH guests (Linux $IVNTB_KVER, 2 vCPUs), pair topology, ivshmem-doorbell devices,"
	echo "link up. adaptive-P: the driver polling with no interrupt (use_irq=0),"
	echo "idle_poll_us=P. bare-P: no driver, a bare hard-irq hrtimer every P us with"
	echo "the same slack (kmod/ivshm_bare_timer.c), the floor of any poll at that period."
	echo "Host CPU: user+system of both QEMU processes over ${IDLE} s idle (100 = one"
	echo "host core); the no-driver baseline (none) is $none %. First round trip:"
	echo "one doorbell echoed back after 1 s of silence, $AFTER_IDLE_N times per row."
	echo
	echo "| idle_poll_us | boots each | bare timer: idle CPU % | adaptive: idle CPU % | adaptive / bare (median of the pairs' ratios) | same, medians less the no-driver baseline | first RTT after idle p50 us | p99 us | timer fires/s: bare | adaptive's park timer | adaptive's kthread wakes/s |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for p in $POINTS; do
		b=$(col "bare-$p" 4) a=$(col "adaptive-$p" 4)
		echo "| $p | $(boots "adaptive-$p") | $b | $a | $(pair_ratio "$p") | $(ratio "$(net "$a" "$none")" "$(net "$b" "$none")") | $(col "adaptive-$p" 16) | $(col "adaptive-$p" 17) | $(col "bare-$p" 18) | $(col "adaptive-$p" 18) | $(col "adaptive-$p" 19) |"
	done
	echo
	echo "Points of comparison, same run:"
	echo
	echo "| mode | idle CPU % | first RTT after idle p50 us | p99 us |"
	echo "|---|---|---|---|"
	for m in none irq hybrid; do
		echo "| $m | $(col $m 4) | $(col $m 16) | $(col $m 17) |"
	done
	echo
	echo "Command: ${SUF:+IVNTB_ARCH=$IVNTB_ARCH }bench/idle-curve.sh (IDLE=$IDLE AFTER_IDLE_N=$AFTER_IDLE_N POINTS=\"$POINTS\" REPEAT_P=\"$REPEAT_P\" REPEAT_N=$REPEAT_N)."
} >"$OUT/idle-curve$SUF.md"
cat "$OUT/idle-curve$SUF.md"

if command -v gnuplot >/dev/null; then
	for p in $POINTS; do
		echo "$(col "adaptive-$p" 4) $(col "adaptive-$p" 16) $(col "adaptive-$p" 17) $p"
	done | grep -v -- ' - ' >"$OUT/idle-curve$SUF.dat" || true
	for m in irq hybrid; do
		echo "$(col $m 4) $(col $m 16) $(col $m 17) $m"
	done | grep -v -- ' - ' >"$OUT/idle-curve$SUF.pts" || true
	gnuplot <<-EOF
	set terminal pngcairo size 800,500 noenhanced
	set output "$OUT/idle-curve$SUF.png"
	set title "Idle poll period: idle cost vs first round trip after 1 s idle ($IVNTB_ARCH TCG, $(date -u +%Y-%m-%d))"
	set xlabel "idle host CPU, both guests (% of one core)"
	set ylabel "first round trip after idle (us, log)"
	set logscale y
	set grid
	set key top right
	set offsets graph 0.05, graph 0.1, graph 0.1, graph 0.1
	plot "$OUT/idle-curve$SUF.dat" using 1:2 with linespoints pt 7 title "adaptive p50 (label: idle_poll_us)", \
	     "" using 1:3 with linespoints pt 6 title "adaptive p99", \
	     "" using 1:2:4 with labels offset 0,1 notitle, \
	     "$OUT/idle-curve$SUF.pts" using 1:2 with points pt 5 ps 1.5 title "irq, hybrid p50", \
	     "" using 1:2:4 with labels offset 0,-1 notitle
	EOF
	step "plot: $OUT/idle-curve$SUF.png"
fi
bench_to_docs "$OUT/idle-curve$SUF.md" "$CSV" "$OUT/idle-curve$SUF.png"
