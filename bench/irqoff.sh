#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The longest section in which the driver keeps interrupts off around
# shared memory (module parameter irqoff_stats=1, debugfs stats
# the irqoff_* lines), one riscv64 guest with a host process on the region
# (host topology, tests/guest/tests/irqoff.sh): 10 s of link toggles and
# message status reads, N boots (default 2) each
#   quiet     nothing else on the region: the baseline of this same run;
#   hammered  a hostile host keeps port 1's event counter moving (every
#             notification the driver sends loops on it, up to
#             IVNTB_CAS_RETRIES compare-and-exchanges) and feeds us
#             malformed messages to drop and ack (irqoff.host).
# Outputs: build/bench/irqoff.{md,csv}; with DOCS=1 also docs/bench/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/lib.sh"
OUT=$IVNTB_BUILD/bench
mkdir -p "$OUT"
N=${N:-2}
FIG=$OUT/irqoff.figures

if [ "${REPORT_ONLY:-0}" != 1 ]; then
: >"$FIG"
for h in 0 1; do
	for i in $(seq "$N"); do
		step "irqoff bench: hammer=$h, boot $i/$N"
		f=$OUT/irqoff-$h-$i.figures
		: >"$f"
		IVNTB_FIGURES=$f "$TOP/scripts/launch.sh" -t host -T irqoff --timeout 240 \
			--append "ivntb.hammer=$h" || { echo "irqoff hammer=$h boot $i failed: its figures are left out" >&2; continue; }
		sed "s/^/$i /" "$f" >>"$FIG"
	done
done
fi

# figure lines: "BOOT # figure irqoff_hH SITE N P50 P99 MAX" and
# "BOOT # figure irqoff_hH_rounds R"; per host condition and section:
# sections counted, p50 (median over boots), p99 and max (the largest)
tab() {
	awk -v h="$1" '$4 == "irqoff_h" h { k = $5; n[k] += $6; p50[k] = p50[k] " " $7
		if ($8 + 0 > p99[k]) p99[k] = $8 + 0; if ($9 + 0 > mx[k]) mx[k] = $9 + 0
		if (!(k in seen)) { seen[k] = 1; order[++no] = k } }
	END { for (i = 1; i <= no; i++) { k = order[i]; m = split(substr(p50[k], 2), a, " ")
		for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
		printf "%s %d %s %d %d\n", k, n[k], a[int((m + 1) / 2)], p99[k], mx[k] } }' "$FIG"
}
rounds() { awk -v h="$1" '$4 == "irqoff_h" h "_rounds" { s = s " " $5 } END { print substr(s, 2) }' "$FIG"; }
tab 0 >"$OUT/irqoff-quiet.tab"
tab 1 >"$OUT/irqoff-hammer.tab"
{
	echo "# Interrupts-off sections around shared memory (riscv64, $(date -u +%F))"
	echo
	echo "One riscv64 guest (Linux $IVNTB_KVER, 2 vCPUs, TCG, 2 host cores) with a host"
	echo "process on the region; per boot 10 s of ntb_tool link toggles and message"
	echo "status reads ($N boots each). Per section (a driver lock taken with"
	echo "irqsave, held): how many, and p50 / p99 / max of the time held, in us"
	echo "(p50 and p99: upper bounds of log2 buckets; p50 the median over boots,"
	echo "p99 and max the largest). Hammered: a host process keeps port 1's"
	echo "event counter moving, the word every notification loops on, and feeds"
	echo "malformed messages to drop. The heartbeat section does the same few"
	echo "stores whatever the host does: its max is the floor set by the host"
	echo "taking the vCPU away mid-section. Made by \`bench/irqoff.sh\`."
	echo
	echo "| section | quiet: n | p50 | p99 | max | hammered: n | p50 | p99 | max |"
	echo "|---|---|---|---|---|---|---|---|---|"
	join -a1 -a2 -e - -o 0,1.2,1.3,1.4,1.5,2.2,2.3,2.4,2.5 \
		<(sort "$OUT/irqoff-quiet.tab") <(sort "$OUT/irqoff-hammer.tab") |
		awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
	echo
	echo "ntb_tool rounds per boot (toggle off, on, status read): quiet $(rounds 0); hammered $(rounds 1)."
} >"$OUT/irqoff.md"
{
	echo "host,section,n,p50_us,p99_us,max_us"
	sed 's/ /,/g; s/^/quiet,/' "$OUT/irqoff-quiet.tab"
	sed 's/ /,/g; s/^/hammered,/' "$OUT/irqoff-hammer.tab"
} >"$OUT/irqoff.csv"
cat "$OUT/irqoff.md"
bench_to_docs "$OUT/irqoff.md" "$OUT/irqoff.csv"
