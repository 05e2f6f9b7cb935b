#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make soak: the reliability scenarios at full counts (make
# test runs them small). Prints a summary table and writes it to
# build/soak/soak.md; with DOCS=1 also to docs/bench/soak.md, the one
# committed copy (docs/reliability.md links to it). Counts can be
# lowered for a quick look:
#   SOAK_KST=20 SOAK_RELOAD=200 SOAK_CRASH=50 SOAK_HOSTILE=5 SOAK_NETDEV=3
#   SOAK_FLAPS=1000 SOAK_CRASH_NETDEV=10 SOAK_NETDEV_SECS=600 SOAK_FREEZE=20
#   SOAK_BOUNCES=100 SOAK_CRASH_PERF=10
set -uo pipefail
. "$(dirname "$0")/lib.sh"
L=$IVNTB_TOP/scripts/launch.sh
OUT=$IVNTB_BUILD/soak
mkdir -p "$OUT"
FIG=$OUT/figures.txt
: >"$FIG"
KST=${SOAK_KST:-20} RELOAD=${SOAK_RELOAD:-200} CRASH=${SOAK_CRASH:-50}
HOSTILE=${SOAK_HOSTILE:-5} NETDEV=${SOAK_NETDEV:-3} FLAPS=${SOAK_FLAPS:-1000}
CRASH_NETDEV=${SOAK_CRASH_NETDEV:-10} NETDEV_SECS=${SOAK_NETDEV_SECS:-600}
FREEZE=${SOAK_FREEZE:-20} BOUNCES=${SOAK_BOUNCES:-100} CRASH_PERF=${SOAK_CRASH_PERF:-10}
rows=()
SOAK_T0=$(date +%s)

# row NAME RUNS COMMAND...: run COMMAND RUNS times, count failures
row() {
	local name=$1 runs=$2 fail=0 i t0
	shift 2
	t0=$(date +%s)
	for ((i = 1; i <= runs; i++)); do
		step "soak: $name, run $i of $runs"
		IVNTB_FIGURES=$FIG "$@" >"$OUT/last.log" 2>&1 || {
			fail=$((fail + 1))
			tail -15 "$OUT/last.log"
		}
	done
	rows+=("| $name | $runs | $fail | $(( $(date +%s) - t0 )) s |")
}

row "ntb_test.sh, pair, full" "$KST" "$L" -t pair -T ntb-kselftest
row "ntb_test.sh, pair, interrupt mode" 2 "$L" -t pair --doorbell -T ntb-kselftest
row "unload/reload x $RELOAD under traffic" 1 "$L" -t pair -T reload --timeout 3000 \
	--append "ivntb.reload_n=$RELOAD"
row "peer crash (kill -9) and restart x $CRASH" 1 "$L" -t pair -T crash --timeout 3000 \
	--append "ivntb.crash_n=$CRASH"
row "hostile host" "$HOSTILE" "$L" -t host -T hostile
row "link flaps: host peer attaches/detaches x $FLAPS" 1 \
	"$L" -t host -T flap --timeout $((FLAPS + 600)) --append "ivntb.flaps=$FLAPS"
row "host peer bounces its link between two polls x $BOUNCES" 1 \
	"$L" -t host -T bounce --timeout $((BOUNCES + 600)) --append "ivntb.bounces=$BOUNCES"
row "netdev 64 MiB checksummed" "$NETDEV" "$L" -t pair --region 32M --mem 512 -T netdev
row "peer crash during netdev TCP + ping, restart x $CRASH_NETDEV" 1 "$L" -t pair --region 32M \
	--mem 512 -T crash-netdev --timeout 3000 --append "ivntb.crash_n=$CRASH_NETDEV"
row "peer crash during ntb_perf runs, restart x $CRASH_PERF" 1 "$L" -t pair --region 32M \
	--mem 512 -T crash-perf --timeout 3000 --append "ivntb.crash_n=$CRASH_PERF"
row "peer paused (SIGSTOP 300 ms) mid-transfer x $FREEZE" 1 "$L" -t pair --region 32M \
	--mem 512 -T freeze --timeout 3000 --append "ivntb.freeze_n=$FREEZE"
row "netdev TCP for $NETDEV_SECS s, md5 per 64 MiB round" 1 "$L" -t pair --region 32M --mem 512 \
	-T netdev-long --timeout $((NETDEV_SECS + 600)) --append "ivntb.netdev_secs=$NETDEV_SECS"

p50=$(awk '$3 == "crash_detect_ms_p50" { v = $4 } END { print v }' "$FIG")
max=$(awk '$3 == "crash_detect_ms_max" { v = $4 } END { print v }' "$FIG")
p99=$(awk '$3 == "crash_detect_ms_p99" { v = $4 } END { print v }' "$FIG")
nmax=$(awk '$3 == "crash_netdev_detect_ms_max" { v = $4 } END { print v }' "$FIG")
pmax=$(awk '$3 == "crash_perf_detect_ms_max" { v = $4 } END { print v }' "$FIG")
long=$(awk '$3 ~ /^netdev_long_/ { printf "%s %s ", $3, $4 } END { print "" }' "$FIG")
{
	echo "# Soak, $(date -u +%Y-%m-%d)"
	echo
	echo "riscv64 Linux $IVNTB_KVER guests, $(${QEMU_DEFAULT} --version | head -1 | sed 's/ (.*//'), TCG, $(nproc) host cores."
	echo
	echo "| scenario | runs | failed | time |"
	echo "|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Link-down detection after a peer crash (driver's own: time since the"
	echo "peer's last heartbeat, defaults heartbeat_ms=10 link_timeout_ms=80):"
	echo "p50 ${p50:-?} ms, p99 ${p99:-?} ms, max ${max:-?} ms over $CRASH crashes;"
	echo "max ${nmax:-?} ms over $CRASH_NETDEV crashes during netdev traffic,"
	echo "max ${pmax:-?} ms over $CRASH_PERF crashes during ntb_perf runs."
	echo "Long transfer: ${long:-?}"
	echo
	echo "Command: make soak (scripts/soak.sh), at $(git -C "$IVNTB_TOP" describe --always --dirty 2>/dev/null || echo '?'), $(( ($(date +%s) - SOAK_T0) / 60 )) min."
} | tee "$OUT/soak.md"
bench_to_docs "$OUT/soak.md"
! grep -q '| [1-9][0-9]* | [0-9]* s |$' "$OUT/soak.md"
