#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: two riscv64 guests on one ivshmem region, linked by
# ntb_hw_ivshmem. Guest a times doorbell round trips (ntb_dbtest), runs a
# short ntb_perf, brings up ntb_transport + ntb_netdev on both, pings both
# ways and sends 64 MiB over TCP with an md5 check on the receiver
# (tests/guest/tests/demo.sh, which is netdev.sh plus the timing). Prints
# a table of the figures and writes it to build/demo/demo.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OUT=$IVNTB_BUILD/demo
mkdir -p "$OUT"
FIG=$OUT/figures.txt
: >"$FIG"

step "demo: booting two riscv64 guests (QEMU TCG) on a 32 MiB ivshmem region"
rc=0
IVNTB_FIGURES=$FIG "$IVNTB_TOP/scripts/launch.sh" -t pair --region 32M --mem 512 -T demo || rc=$?

fig() { awk -v k="$1" '$2 == "figure" && $3 == k { print $4; exit }' "$FIG"; }
{
	echo "# ivshmem-ntb demo, $(date -u +%Y-%m-%d)"
	echo
	echo "Two riscv64 guests ($(uname -m) host, QEMU TCG, $(nproc) host cores, 2 vCPUs each),"
	echo "ntb_hw_ivshmem in adaptive poll mode, Linux $IVNTB_KVER."
	echo
	echo "| what | value |"
	echo "|---|---|"
	echo "| doorbell round trip p50 / p99 (ntb_dbtest, 5000 samples) | $(fig db_rtt_p50_us) / $(fig db_rtt_p99_us) us |"
	echo "| ntb_perf, memcpy into the peer's window, 4 MiB | $(fig memcpy_bar2_mbs) MB/s |"
	echo "| ntb_netdev TCP, 64 MiB, md5 checked on the receiver | $(fig netdev_tcp_mbs) MB/s |"
	echo "| netdev / memcpy | $(fig netdev_over_memcpy) |"
	echo "| receiver CPU per MiB over the netdev | $(fig rx_cpu_ms_per_mib) ms |"
	echo "| same TCP transfer over QEMU's socket NIC, for scale | $(fig socket_nic_tcp_mbs) MB/s |"
} >"$OUT/demo.md"
echo
cat "$OUT/demo.md"
echo
if [ $rc = 0 ]; then
	step "demo: done (table in $OUT/demo.md)"
else
	step "demo: FAILED (the run above says why)"
fi
exit $rc
