#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Where a busy doorbell round trip's time goes. One boot of two guests
# (pair topology, ivshmem-doorbell devices): for each mode in MODES
# (default "hybrid adaptive kthread"), RTT_N round trips of ntb_dbtest
# (default 50000) and then the floor (a value bounced through a scratchpad
# by two busy loops, no doorbell, no poller), with kmod/ivshm_sampler
# sampling the program counter of every vCPU of both guests
# (tests/guest/tests/rtt-profile.sh). Per mode: p50/p99 and each guest's
# flat profile, the TOP functions by share of samples (guest a initiates,
# guest b echoes). Outputs build/bench/rtt-profile{,-ARCH}.md; DOCS=1
# copies it to docs/bench/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
OUT=$IVNTB_BUILD/bench
mkdir -p "$OUT"
MODES=${MODES:-"hybrid adaptive kthread"}
RTT_N=${RTT_N:-50000}
TOPN=${TOPN:-12}
SAMPLE_NS=${SAMPLE_NS:-100000}	# ivshm_sampler's period per vCPU
SUF=
[ "$IVNTB_ARCH" = riscv64 ] || SUF=-$IVNTB_ARCH
LOG=$OUT/rtt-profile$SUF.launch.log
FIG=$OUT/rtt-profile$SUF.figures
MD=$OUT/rtt-profile$SUF.md

if [ "${REPORT_ONLY:-0}" != 1 ]; then
	step "rtt profile: $RTT_N round trips per mode ($MODES, floor), sampled on both guests"
	: >"$FIG"
	IVNTB_FIGURES=$FIG "$TOP/scripts/launch.sh" -t pair --doorbell -T rtt-profile --timeout 900 \
		--append "ivntb.rtt_n=$RTT_N ivntb.profile_modes=${MODES// /,} ivntb.sample_ns=$SAMPLE_NS" | tee "$LOG"
fi

fig() { grep "^# figure rtt $1 $2 " "$FIG" | awk '{ print $6; exit }'; }
floor=$(fig floor p50_us)
{
	echo "# Where a busy round trip's time goes"
	echo
	echo "$(date -u +%Y-%m-%d); host $(uname -m), $(nproc) cores; $("${QEMU_DEFAULT}" --version | head -1 | sed 's/ (.*//'), TCG;"
	echo "two $IVNTB_ARCH guests (Linux $IVNTB_KVER, 2 vCPUs each), pair topology,"
	echo "ivshmem-doorbell devices. $RTT_N back-to-back round trips of ntb_dbtest per"
	echo "mode (guest a rings bit 0 and times the echo, guest b echoes it), both"
	echo "ends in the same mode; floor: a value bounced through a scratchpad by two"
	echo "busy loops (ntb_dbtest spadpp), no doorbell and no poller. While each runs,"
	echo "kmod/ivshm_sampler samples the interrupted program counter of every vCPU"
	echo "of both guests every $((SAMPLE_NS / 1000)) us (a sample lands where interrupts were next"
	echo "enabled); shares are of the busy samples, those not in the idle task."
	echo "Top $TOPN functions per guest."
	echo
	echo "| mode | p50 us | p99 us | p50 / floor |"
	echo "|---|---|---|---|"
	for m in $MODES floor; do
		p50=$(fig "$m" p50_us)
		echo "| $m | $p50 | $(fig "$m" p99_us) | $(awk -v a="$p50" -v b="$floor" 'BEGIN { if (b > 0 && a != "") printf "%.1f", a / b; else print "-" }') |"
	done
	if grep -q "^# figure cost " "$FIG"; then
		echo
		echo "What the primitives of the path cost on guest a's vCPU in the same boot"
		echo "(ntb_dbtest's cost file: each timed over cost_iters iterations with"
		echo "preemption off, the loop's own cost subtracted; an op is a call through"
		echo "the ntb_dev_ops table, as a client makes it):"
		echo
		echo "| primitive | ns |"
		echo "|---|---|"
		grep "^# figure cost " "$FIG" | awk '{ printf "| %s | %s |\n", $4, $5 }'
	fi
	for m in $MODES floor; do
		for g in a b; do
			echo
			echo "$m, guest $g ($(grep "^# figure profile $m $g samples:" "$FIG" | sed 's/.*samples: //'))"
			echo
			echo "| samples | share | function |"
			echo "|---|---|---|"
			grep "^# figure profile $m $g " "$FIG" | grep -v "samples:" | head -"$TOPN" |
				awk '{ n = $6; s = $7; $1 = $2 = $3 = $4 = $5 = $6 = $7 = ""; sub(/^ +/, ""); printf "| %s | %s | %s |\n", n, s, $0 }'
		done
	done
	echo
	echo "Command: bench/rtt-profile.sh (RTT_N=$RTT_N MODES=\"$MODES\" SAMPLE_NS=$SAMPLE_NS)."
} >"$MD"
cat "$MD"
if [ "${DOCS:-0}" = 1 ]; then
	cp "$MD" "$TOP/docs/bench/"
	echo "copied to docs/bench/$(basename "$MD")"
fi
