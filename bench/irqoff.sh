#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The longest section in which the driver keeps interrupts off around
# shared memory (module parameter irqoff_stats=1, debugfs stats
# irqoff_max_us), one riscv64 guest with a host process on the region
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

# figure lines: "BOOT # figure irqoff_hammerH_KEY VALUE"
row() {
	awk -v h="$1" -v name="$2" '
	$4 == "irqoff_hammer" h "_max_us" { n++; if ($5 + 0 >= max) { max = $5 + 0; maxs = $5 } }
	$4 == "irqoff_hammer" h "_site" { site[$1] = $5 }
	$4 == "irqoff_hammer" h "_max_us" { us[$1] = $5 + 0 }
	$4 == "irqoff_hammer" h "_rounds" { r[++nr] = $5 }
	END {
		if (!n) { printf "| %s | 0 | - | - | - | - |\n", name; exit }
		for (b in us) if (us[b] == max) where = site[b]
		s = ""
		for (b in us) s = s (s == "" ? "" : ", ") us[b]
		asort(r)
		printf "| %s | %d | %s | %s | %s | %d |\n", name, n, maxs, where, s, r[int((nr + 1) / 2)]
	}' "$FIG"
}
{
	echo "# Interrupts-off sections around shared memory (riscv64, $(date -u +%F))"
	echo
	echo "One riscv64 guest (Linux $IVNTB_KVER, 2 vCPUs, TCG) with a host process on"
	echo "the region; 10 s of link toggles and message status reads per boot;"
	echo "\`irqoff_max_us\`: the longest section under a driver lock taken with"
	echo "irqsave, with where it was. Made by \`bench/irqoff.sh\` (N=$N)."
	echo
	echo "| host | boots | longest, us | where | per boot, us | rounds (median) |"
	echo "|---|---|---|---|---|---|"
	row 0 quiet
	row 1 "hammered (event counter moving, malformed messages)"
} >"$OUT/irqoff.md"
awk 'BEGIN { print "boot,key,value" } { print $1 "," $4 "," $5 }' "$FIG" >"$OUT/irqoff.csv"
cat "$OUT/irqoff.md"
bench_to_docs "$OUT/irqoff.md" "$OUT/irqoff.csv"
