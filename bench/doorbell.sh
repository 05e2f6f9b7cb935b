#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Polled versus interrupt doorbells, two riscv64 guests (pair topology) on
# ivshmem-doorbell devices of our server, so every mode runs on the same
# setup: MSI-X interrupts, or polling with use_irq=0.
#   1. latency (one boot, tests/guest/tests/rtt-modes.sh): doorbell round
#      trip p50/p99 per mode, and the first round trip after 1 s idle;
#      the floor: a scratchpad round trip, both ends busy-polling; in
#      RTT_ROUNDS rounds (default 5) of the floor then every mode, RTT_N
#      round trips apiece (default 2000): medians over the rounds, their
#      ratio to the floor's, and the range of the rounds' own ratios;
#   2. CPU cost (bench/poll-idle.sh, CPU_ROUNDS boots per mode, default 2,
#      the modes in turn; medians and ranges): host CPU of each
#      QEMU process and the guests' busy share over IDLE seconds idle, then
#      over LOAD seconds of RATE doorbells/s (default 1000) echoed back;
#      (hybrid-sup: hybrid with the server supervising, launch.sh
#      --supervise: CPU only, its round trips are hybrid's);
#   3. throughput (tests/guest/tests/netdev.sh, NETDEV_ROUNDS boots per
#      mode, default 2, the modes in turn): ntb_transport + ntb_netdev TCP,
#      NETDEV_RUNS transfers per boot (default 3) of NETDEV_MB MiB (default
#      64), each md5-checked; the median over all transfers, with their
#      least and greatest, and the receiver's CPU per MiB (median of boots);
#   4. crash detection, CRASH_N kills -9 of guest b's QEMU (default 5):
#      hybrid on heartbeats alone (crash.sh: the driver's time since b's
#      last heartbeat) and supervised (supervise.sh: from the host's kill
#      to guest a's link down, read in the region by ivntb-shm watch);
# then one table (markdown + CSV) with ratios against interrupt mode from
# this same run, and a plot of latency against idle CPU (gnuplot).
# Outputs: build/bench/doorbell.{md,csv,png} and doorbell-cpu.{csv,counts}
# (the CPU stage's rows and the drivers' counts per second); with DOCS=1 also copied to
# docs/bench/ (that is how the committed ones were made).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
OUT=$IVNTB_BUILD/bench
mkdir -p "$OUT"
MODES="irq hybrid adaptive hrtimer-100us hrtimer-1ms kthread"
# riscv64 results are doorbell.*; other arches get a suffix
SUF=
[ "$IVNTB_ARCH" = riscv64 ] || SUF=-$IVNTB_ARCH
export IDLE=${IDLE:-30} RATE=${RATE:-1000}
export LOAD=${LOAD:-$IDLE}
NETDEV_MB=${NETDEV_MB:-64}
NETDEV_RUNS=${NETDEV_RUNS:-3}
NETDEV_ROUNDS=${NETDEV_ROUNDS:-2}
CRASH_N=${CRASH_N:-5}
IDLE_N=${IDLE_N:-30}
RTT_ROUNDS=${RTT_ROUNDS:-5}
CPU_ROUNDS=${CPU_ROUNDS:-2}
[ "$CPU_ROUNDS" -ge 1 ] || die "CPU_ROUNDS=$CPU_ROUNDS: at least one boot per mode"
RTT_N=${RTT_N:-2000}
# per arch, so that REPORT_ONLY=1 reads this arch's own figures
FIG=$OUT/doorbell$SUF-rtt.figures
NFIG=$OUT/doorbell$SUF-netdev.figures
CFIG=$OUT/doorbell$SUF-crash.figures
PNAME=poll-idle$SUF
# REPORT_ONLY=1: the tables and the plot again from this run's figure
# files under build/bench/, without measuring (same parameters)
if [ "${REPORT_ONLY:-0}" != 1 ]; then

step "doorbell bench 1/4: round trips per mode (one boot of two guests)"
: >"$FIG"
# IDLE_N first round trips after 1 s idle per mode (default 30): a median
# of 10 swung by 4x between runs (the responder's vCPU waits for a host core)
IVNTB_FIGURES=$FIG "$TOP/scripts/launch.sh" -t pair --doorbell -T rtt-modes --timeout 900 \
	--append "ivntb.idle_n=$IDLE_N ivntb.rtt_rounds=$RTT_ROUNDS ivntb.rtt_n=$RTT_N" |
	tee "$OUT/doorbell-rtt.launch.log" ||
	echo "rtt-modes failed (a round short, a mode not set up): its figures may be partial" >&2

step "doorbell bench 2/4: CPU per mode, ${IDLE} s idle + ${LOAD} s at $RATE doorbells/s ($CPU_ROUNDS boots per mode, the modes in turn)"
# one window in one boot moved by up to 2x between boots for the same
# work (the driver's counts per second, in $PNAME.counts), so rounds
pm=
for r in $(seq "$CPU_ROUNDS"); do pm+=" none ${MODES/hybrid /hybrid hybrid-sup }"; done
NAME=$PNAME MODES="${pm# }" "$TOP/bench/poll-idle.sh"

step "doorbell bench 3/4: ntb_netdev TCP per mode, $NETDEV_ROUNDS boots x $NETDEV_RUNS x $NETDEV_MB MiB with md5"
: >"$NFIG"
# windows: riscv64 through the device-tree pool, x86_64 through the
# driver's DMA ops (docs/windows.md). The modes take turns, so that a
# slow spell of the host's does not fall on one mode's boots alone.
for r in $(seq "$NETDEV_ROUNDS"); do
	for m in ${MODES_NET-$MODES}; do
		f=$OUT/netdev$SUF-$m-$r
		: >"$f.figures"
		rc=0
		IVNTB_FIGURES=$f.figures "$TOP/scripts/launch.sh" -t pair --doorbell \
			--region 32M --mem 512 -T netdev --timeout 600 \
			--append "ivntb.mode=$m ivntb.netdev_mb=$NETDEV_MB ivntb.netdev_runs=$NETDEV_RUNS" \
			>"$f.launch.log" 2>&1 || rc=$?
		echo "round $r, $m: $(grep -E 'PASS|FAIL' "$f.launch.log" | tail -1)"
		# md5 must have matched (the test asserts it) for a figure to count
		[ $rc = 0 ] || { echo "netdev in mode $m failed: its figures are left out" >&2; continue; }
		sed "s/^/$m /" "$f.figures" >>"$NFIG"
	done
done

step "doorbell bench 4/4: crash detection, $CRASH_N kills of guest b, heartbeats alone and supervised"
: >"$CFIG"
IVNTB_FIGURES=$CFIG "$TOP/scripts/launch.sh" -t pair --doorbell -T crash --timeout 900 \
	--append "ivntb.crash_n=$CRASH_N" >"$OUT/crash-hb.launch.log" 2>&1 ||
	echo "crash (heartbeats) failed: its figures may be missing" >&2
IVNTB_FIGURES=$CFIG "$TOP/scripts/launch.sh" -t pair --supervise -T supervise --timeout 900 \
	--append "ivntb.sup_n=$CRASH_N" >"$OUT/crash-sup.launch.log" 2>&1 ||
	echo "supervise failed: its figures may be missing" >&2
fi	# REPORT_ONLY

cfig() { awk -v k="$1" '$3 == k { print $4; exit }' "$CFIG"; }

fig() { awk -v m="$1" -v k="$2" '$3 == "rtt" && $4 == m && $5 == k { print $6; exit }' "$FIG"; }
# idle MODE COLUMN: the median over MODE's boots that ran (poll-idle.csv);
# idle_lo, idle_hi: the least and greatest, if there was more than one
idles()
{
	[ -f "$OUT/$PNAME.csv" ] || return 0
	awk -F, -v m="$1" -v c="$2" 'NR > 1 && $1 == m && $14 == "ok" && $c != "" && $c != "?" { print $c }' "$OUT/$PNAME.csv"
}
idle() { idles "$1" "$2" | nmed; }
idle_lo() { if [ "$(idles "$1" "$2" | wc -l)" -gt 1 ]; then idles "$1" "$2" | sort -n | head -1; fi; }
idle_hi() { if [ "$(idles "$1" "$2" | wc -l)" -gt 1 ]; then idles "$1" "$2" | sort -n | tail -1; fi; }
# nfig MODE KEY: the median of MODE's KEY figures over its boots
nfig() { awk -v m="$1" -v k="$2" '$1 == m && $0 ~ " " k " " { for (i = 2; i < NF; i++) if ($i == k) { print $(i + 1); break } }' "$NFIG" | nmed; }
nmed() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2 }'; }
# nruns MODE: each of MODE's transfers' MB/s, one per line (a figure file
# from before the runs: each boot's figure)
nruns()
{
	awk -v m="$1" '$1 == m && / netdev_tcp_mbs_runs / { for (i = 2; i < NF; i++) if ($i == "netdev_tcp_mbs_runs") { gsub(",", "\n", $(i + 1)); print $(i + 1) } }' "$NFIG" | grep . ||
		awk -v m="$1" '$1 == m && / netdev_tcp_mbs / { for (i = 2; i < NF; i++) if ($i == "netdev_tcp_mbs") print $(i + 1) }' "$NFIG"
}
net() { nruns "$1" | nmed; }
net_lo() { nruns "$1" | sort -n | head -1; }
net_hi() { nruns "$1" | sort -n | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else print "-" }'; }
# a mode's p50 over the floor's, from the guest's nanoseconds (a figure
# file from before the rounds: the ratio of the two p50s in us)
vs_floor() { local v; v=$(fig "$1" p50_vs_floor); echo "${v:-$(ratio "$(fig "$1" p50_us)" "$floor_p50")}"; }

irq_p50=$(fig irq p50_us)
# boots per mode that ran: the most any mode had (a failed one is left out)
cpu_n=0
[ ! -f "$OUT/$PNAME.csv" ] ||
	cpu_n=$(awk -F, 'NR > 1 && $14 == "ok" { n[$1]++ } END { m = 0; for (k in n) if (n[k] > m) m = n[k]; print m }' "$OUT/$PNAME.csv")
floor_p50=$(fig floor p50_us)
irq_cpu=$(idle irq 4)
irq_load=$(idle irq 9)
irq_net=$(net irq)
{
	echo "mode,rtt_p50_us,rtt_p99_us,idle1s_rtt_p50_us,idle1s_rtt_max_us,idle_host_cpu_pct_both,idle_guest_busy_pct,load_host_cpu_pct_both,load_guest_busy_pct,netdev_tcp_mbs,netdev_rx_cpu_ms_per_mib,ntb_perf_mbs,p50_vs_irq,idle_cpu_vs_irq,load_cpu_vs_irq,netdev_vs_irq,p50_vs_floor,p50_vs_floor_min,p50_vs_floor_max,netdev_tcp_mbs_min,netdev_tcp_mbs_max,rtt_midmean_us,midmean_vs_floor,midmean_vs_floor_min,midmean_vs_floor_max,idle_host_cpu_pct_min,idle_host_cpu_pct_max,load_host_cpu_pct_min,load_host_cpu_pct_max"
	# the floors: no driver (CPU), a scratchpad ping-pong (round trip)
	echo "none,,,,,$(idle none 4),$(idle none 5),$(idle none 9),$(idle none 10),,,,,,,,,,,,,,,,,$(idle_lo none 4),$(idle_hi none 4),$(idle_lo none 9),$(idle_hi none 9)"
	echo "floor,$floor_p50,$(fig floor p99_us),,,,,,,,,,$(ratio "$floor_p50" "$irq_p50"),,,,1.00,,,,,$(fig floor midmean_us),$([ -z "$(fig floor midmean_us)" ] || echo 1.00),,,,,,"
	for m in ${MODES/hybrid /hybrid hybrid-sup }; do
		echo "$m,$(fig "$m" p50_us),$(fig "$m" p99_us),$(fig "$m" idle1s_p50_us),$(fig "$m" idle1s_max_us),$(idle "$m" 4),$(idle "$m" 5),$(idle "$m" 9),$(idle "$m" 10),$(net "$m"),$(nfig "$m" rx_cpu_ms_per_mib),$(nfig "$m" memcpy_bar2_mbs),$(ratio "$(fig "$m" p50_us)" "$irq_p50"),$(ratio "$(idle "$m" 4)" "$irq_cpu"),$(ratio "$(idle "$m" 9)" "$irq_load"),$(ratio "$(net "$m")" "$irq_net"),$(vs_floor "$m"),$(fig "$m" p50_vs_floor_min),$(fig "$m" p50_vs_floor_max),$(net_lo "$m"),$(net_hi "$m"),$(fig "$m" midmean_us),$(fig "$m" midmean_vs_floor),$(fig "$m" midmean_vs_floor_min),$(fig "$m" midmean_vs_floor_max),$(idle_lo "$m" 4),$(idle_hi "$m" 4),$(idle_lo "$m" 9),$(idle_hi "$m" 9)"
	done
} >"$OUT/doorbell$SUF.csv"

{
	echo "# Doorbells: interrupts versus polling"
	echo
	echo "$(date -u +%Y-%m-%d); host $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
	echo "$("${QEMU_DEFAULT}" --version | head -1 | sed 's/ (.*//'), TCG; two $IVNTB_ARCH guests (Linux $IVNTB_KVER, 2 vCPUs),"
	case "$IVNTB_ARCH" in riscv64) mach=virt,aia=aplic-imsic ;; arm64) mach="virt,gic-version=3 (ITS)" ;; *) mach=q35 ;; esac
	echo "ivshmem-doorbell devices on tools/ivshmem-server, QEMU machine $mach."
	echo "Round trips: ntb_dbtest, ktime in the initiator, both ends in the same mode;"
	echo "floor: a value bounced through a scratchpad, both ends busy-polling it (no"
	echo "doorbell, no poller: ntb_dbtest spadpp), same boot. $RTT_ROUNDS rounds of the floor"
	echo "then every mode, $RTT_N round trips apiece: RTT figures are medians over the"
	echo "rounds; p50 / floor is the ratio of the medians, in parentheses the least and"
	echo "greatest of the rounds' own ratios (the floor alone moves between about 0.4"
	echo "and 0.9 us from run to run on riscv64). midmean: the mean of each run's middle"
	echo "half (median over the rounds), and its ratio to the floor's, taken the same"
	echo "way: the riscv64 virt clock steps by 100 ns (10 MHz timebase),"
	echo "so a p50 near 1 us is a whole number of steps, 10 % apart; the midmean weighs"
	echo "how many samples fall on each step and resolves finer."
	echo "none: no driver loaded."
	echo "CPU: host CPU = user+system of both QEMU processes (100 = one host core), with"
	echo "the link up, ${IDLE} s idle, then ${LOAD} s of $RATE doorbells/s from guest a, each"
	echo "echoed by guest b, in $cpu_n boot(s) per mode (the modes in turn): the median, the"
	echo "least and greatest in parentheses; the no-driver baseline is $(idle none 4) % idle, $(idle none 9) % in the load window."
	echo "Throughput: ntb_transport + ntb_netdev TCP, $NETDEV_MB MiB, md5 checked on the"
	echo "receiver, $NETDEV_RUNS transfers in each of $NETDEV_ROUNDS boots per mode (the modes in"
	echo "turn): the median transfer, the least and greatest in parentheses; rx CPU ="
	echo "the receiver's busy time (all vCPUs) per MiB, the median boot's; ntb_perf:"
	echo "memcpy into the peer's window (no DMA engine), 4 MiB, in the same boot."
	echo "Ratios are against interrupt mode, from this run."
	echo
	echo "| mode | RTT p50 us | RTT p99 us | first RTT after 1 s idle, median / max us | idle host CPU % | idle guest busy % | host CPU % at $RATE db/s | guest busy % at $RATE db/s | netdev MB/s (range) | rx CPU ms/MiB | ntb_perf MB/s | p50 / irq | idle CPU / irq | CPU at $RATE db/s / irq | netdev / irq | p50 / floor (rounds' range) | midmean, / floor (rounds' range) |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	tail -n +2 "$OUT/doorbell$SUF.csv" | while IFS=, read -r m p50 p99 i50 imax cpu busy lcpu lbusy net rx perf r1 r2 r3 r4 r5 r5lo r5hi netlo nethi mm r6 r6lo r6hi cpulo cpuhi lcpulo lcpuhi; do
		echo "| $m | $p50 | $p99 | ${i50:+$i50 / $imax} | $cpu${cpulo:+ ($cpulo-$cpuhi)} | $busy | $lcpu${lcpulo:+ ($lcpulo-$lcpuhi)} | $lbusy | $net${netlo:+ ($netlo-$nethi)} | $rx | $perf | $r1 | $r2 | $r3 | $r4 | $r5${r5lo:+ ($r5lo-$r5hi)} | ${mm:+$mm us, }$r6${r6lo:+ ($r6lo-$r6hi)} |"
	done
	echo
	echo "Reading it: the host has $(nproc) cores for two guests of 2 vCPUs each, so a"
	echo "busy poller (kthread, and adaptive or hybrid while they spin) competes with"
	echo "the other guest's vCPUs for host time. That is why the first round trip"
	echo "after 1 s idle is milliseconds in every mode: the responder's vCPU thread"
	echo "must be scheduled on the host first (medians of $IDLE_N; they still move"
	echo "between runs). irq and unsupervised hybrid still wake each poller once per"
	echo "heartbeat (heartbeat_ms=10) for the peers' liveness, which is most of their"
	echo "idle cost; that wake also beats the heartbeat (a hard-irq timer beats only"
	echo "when the poller did not). Idle, adaptive parks its kthread: a hard-irq timer"
	echo "polls every idle_poll_us (1 ms) and wakes it for work only; its cost against"
	echo "a bare timer at each period is bench/idle-curve.sh's (docs/bench/idle-curve.md)."
	echo "hybrid-sup is hybrid with the doorbell server supervising (--ntb):"
	echo "no periodic wake but a 1 s heartbeat, so its idle cost is the no-driver"
	echo "baseline's; its round trips are hybrid's (not measured apart). What each"
	echo "driver did per second, idle and under the load (wakes, polls, arms, rings,"
	echo "interrupts), is in doorbell$SUF-cpu.counts: where two modes do the same work, their"
	echo "CPU figures differ by the host's noise between boots, which the ranges show."
	echo
	echo "Under a fixed doorbell rate, irq pays per doorbell (an MMIO exit, an"
	echo "eventfd, an MSI-X write, a guest interrupt and a wakeup, on each end);"
	echo "adaptive pays per poll and keeps spinning while doorbells keep coming;"
	echo "hybrid spins only while events flow or a reply is due, with a window that"
	echo "shrinks when spins find nothing (at one doorbell per millisecond it ends"
	echo "up taking interrupts, as irq does), and polls back to back when busy."
	echo "hrtimer at 1 ms polls at the ring rate, the cheapest under this load but"
	echo "with 1 ms latency. Echoed counts (rings that found the bit still pending"
	echo "coalesce) are in doorbell$SUF-cpu.csv. Throughput is bound by the receiver's CPU"
	echo "(TCP under TCG): modes that leave it more vCPU time move more data; the"
	echo "kthread poller takes one of its two vCPUs. floor: the round trip with no"
	echo "doorbell path at all, what the busy modes are measured against."
	echo
	echo "Crash detection ($CRASH_N kills -9 of guest b's QEMU, hybrid on both ends):"
	echo
	echo "| liveness | p50 ms | p99 ms | max ms | measured |"
	echo "|---|---|---|---|---|"
	echo "| heartbeats (10 ms, timeout 80 ms) | $(cfig crash_detect_ms_p50) | $(cfig crash_detect_ms_p99) | $(cfig crash_detect_ms_max) | the driver: from b's last heartbeat seen to link down |"
	echo "| supervised (server --ntb, heartbeat 1 s) | $(cfig sup_crash_detect_ms_p50) | $(cfig sup_crash_detect_ms_p99) | $(cfig sup_crash_detect_ms_max) | the host: from its kill to a's link generation moving |"
	echo "| supervised, from the server's mark | $(cfig sup_notice_ms_p50) | $(cfig sup_notice_ms_p99) | $(cfig sup_notice_ms_max) | the host: from the server's mark (the dead QEMU's socket closed) to a's link down |"
	echo
	echo "Between the kill and the server's mark the host kernel tears the killed QEMU"
	echo "down (its memory is unmapped before its files, the socket, are closed): that"
	echo "part is the host's, not this driver's or the server's."
	echo
	echo "Supervised idle pollers woke $(cfig sup_idle_wakes_per_s) times per second per guest (supervise.sh, 5 s idle)."
	echo
	echo "Command: ${SUF:+IVNTB_ARCH=$IVNTB_ARCH }bench/doorbell.sh (IDLE=$IDLE LOAD=$LOAD RATE=$RATE NETDEV_MB=$NETDEV_MB NETDEV_RUNS=$NETDEV_RUNS NETDEV_ROUNDS=$NETDEV_ROUNDS CRASH_N=$CRASH_N IDLE_N=$IDLE_N RTT_ROUNDS=$RTT_ROUNDS RTT_N=$RTT_N CPU_ROUNDS=$CPU_ROUNDS)$([ -n "$SUF" ] || echo ", also \`make bench\`")."
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
# the CPU stage's own rows and counts, which the text refers to
rm -f "$OUT/doorbell$SUF-cpu.csv" "$OUT/doorbell$SUF-cpu.counts"
[ ! -f "$OUT/$PNAME.csv" ] || cp "$OUT/$PNAME.csv" "$OUT/doorbell$SUF-cpu.csv"
[ ! -f "$OUT/$PNAME.counts" ] || cp "$OUT/$PNAME.counts" "$OUT/doorbell$SUF-cpu.counts"
bench_to_docs "$OUT/doorbell$SUF.md" "$OUT/doorbell$SUF.csv" "$OUT/doorbell$SUF.png" \
	"$OUT/doorbell$SUF-cpu.csv" "$OUT/doorbell$SUF-cpu.counts"
