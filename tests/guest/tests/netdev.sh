# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 riscv64-6.1 x86_64 arm64 | pair netdev | -t pair --region 32M --mem 512
#
# ntb_transport + ntb_netdev between two guests: addresses up, ping both
# ways, a checksummed TCP transfer, and, measured in the same boot, the
# kernel's own memcpy into the peer's window (ntb_perf, no DMA) to compare
# the netdev's throughput with. Figures are printed, never asserted.
#   IVNTB_NETDEV_MB     MiB to transfer (64)
#   IVNTB_NETDEV_RUNS   transfers of it, each checked (1)
#   IVNTB_TRANSPORT     ntb_transport parameters (see docs/windows.md)
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
MB=${IVNTB_NETDEV_MB:-64}
RUNS=${IVNTB_NETDEV_RUNS:-1}
TP=${IVNTB_TRANSPORT:-"transport_mtu=65536"}
PORT=5001

tap_plan $((9 + ${DEMO:-0}))
if [ -z "$RH" ]; then
	for i in $(seq $((9 + ${DEMO:-0}))); do
		tap_skip "netdev $i" "needs two kernels (pair topology): both netdevs would be local"
	done
	tap_done
	exit 0
fi

# 0. (demo.sh) doorbell round trip with our ntb_dbtest client
if [ "${DEMO:-0}" = 1 ]; then
	ntb_setup ntb_dbtest
	wait_for 10 up
	R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"	# MASK: echo bit 0
	echo "rtt 5000 0" >$DBG/ntb_dbtest/$LOC/cmd
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt.res
	val() { awk -v k="$1:" '$1 == k { print $2 }' /tmp/rtt.res; }
	tap_eq "5000 timed doorbell round trips" 5000 "$(val samples)"
	echo "# figure db_rtt_p50_us $(awk -v n=$(val p50_ns) 'BEGIN { printf "%.1f", n / 1000 }')"
	echo "# figure db_rtt_p99_us $(awk -v n=$(val p99_ns) 'BEGIN { printf "%.1f", n / 1000 }')"
	ntb_teardown ntb_dbtest
fi

# The data is made before the link is up: generating 64 MiB of random
# data under TCG keeps a vCPU in the kernel for seconds, which can starve
# the poller past the peer's link timeout, and ntb_transport does not
# recover from a flap only one side saw (docs/reliability.md).
dd if=/dev/urandom of=/tmp/data bs=1M count=$MB 2>/dev/null
sent=$(md5sum </tmp/data | cut -d' ' -f1)

# 1. memcpy into the peer's window: ntb_perf (memcpy_toio, no DMA), 4 MiB
ntb_setup "ntb_perf total_order=22"
tap_result $? "ntb_hw_ivshmem and ntb_perf load on both ends"
wait_for 10 up
# ntb_perf answers -ENOLINK until both ends swapped their buffers
perfrun() { timeout 20 sh -c "echo 0 > $DBG/ntb_perf/$LOC/run" 2>/dev/null; }
for i in 1 2 3 4 5; do perfrun && break; sleep 1; done
cat $DBG/ntb_perf/$LOC/run >/tmp/perf.res 2>&1
sed 's/^/# ntb_perf: /' /tmp/perf.res
perf_mbs=$(sed -n 's/.*, \([0-9]*\) MBytes\/s.*/\1/p' /tmp/perf.res | head -1)
modprobe -r ntb_perf
R modprobe -r ntb_perf

# 2. transport + netdev
modprobe ntb_transport $TP && R modprobe ntb_transport $TP &&
	modprobe ntb_netdev && R modprobe ntb_netdev
tap_result $? "ntb_transport ($TP) and ntb_netdev load on both ends"

IF=$(ntbif)
RIF=$(R "$(declare -f ntbif); ntbif")
tap_check "an ntb_netdev interface on both ends ($IF, $RIF)" test -n "$IF" -a -n "$RIF"
echo "# mtu here $(cat /sys/class/net/$IF/mtu), there $(R cat /sys/class/net/$RIF/mtu)"
ip addr add $NET_LA/24 dev $IF && ip link set $IF up
R "ip addr add $NET_RA/24 dev $RIF && ip link set $RIF up"

tap_check "carrier up here (transport link)" wait_for 30 carrier
diag()
{
	echo "# --- $1 ---"
	{ cat $DBG/ntb_hw_ivshmem/*/info $DBG/ntb_hw_ivshmem/*/stats
	  cat $DBG/ntb_transport/*/qp0/stats; dmesg | grep -i ntb | tail -5; dmesg | tail -20; } 2>&1 | sed 's/^/# /'
}
if ! carrier; then
	diag here
	R "DBG=$DBG; $(declare -f diag); diag there"
fi

# ping5 COMMAND...: all 5 answered, by ping's summary line (busybox: "5
# packets transmitted, 5 packets received, 0% packet loss"), shown
ping5() { local out; out=$("$@" 2>&1); echo "$out"; echo "$out" | grep -q ', 5 packets received,'; }
tap_check "ping there (5 of 5)" ping5 ping -c 5 -W 2 $NET_RA
tap_check "ping back here (5 of 5)" ping5 R ping -c 5 -W 2 $NET_LA

# 3. checksummed TCP transfers, RUNS of them; the receiver hashes what
# arrives. Each transfer ends within the host's QEMU timeout. Figures are
# the median over the runs, and each run's.
busy() { R "awk '/^cpu / { print \$2 + \$3 + \$4 + \$7 + \$8 }' /proc/stat"; }
med() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }'; }
ok=0
: >/tmp/net.mbs
: >/tmp/net.cpu
for run in $(seq "$RUNS"); do
	nc_s=$(time_left 40)
	rm -f /tmp/recv.md5
	R "timeout $nc_s nc -l -p $PORT | md5sum" >/tmp/recv.md5 2>&1 &
	rpid=$!
	sleep 0.5
	c0=$(busy)
	t0=${EPOCHREALTIME/./}
	# at EOF on stdin nc shuts down its sending side; the receiver's nc
	# then exits, which ends ours: the time includes the last byte's arrival
	timeout $nc_s nc $NET_RA $PORT </tmp/data
	t1=${EPOCHREALTIME/./}
	wait $rpid
	c1=$(busy)
	got=$(cut -d' ' -f1 /tmp/recv.md5)
	if [ "$got" != "$sent" ]; then
		echo "# run $run: the receiver's md5 is '$got', sent $sent"
		continue
	fi
	ok=$((ok + 1))
	ns=$(( (t1 - t0) * 1000 ))
	echo $(( MB * 1048576 * 1000 / ns )) >>/tmp/net.mbs	# bytes/us = MB/s
	# /proc/stat counts in USER_HZ, 100 on every Linux arch
	echo $(( (c1 - c0) * 10 )) >>/tmp/net.cpu
	echo "# run $run: $(tail -1 /tmp/net.mbs) MB/s, $((ns / 1000000)) ms, receiver busy $(tail -1 /tmp/net.cpu) ms"
done
tap_eq "$RUNS x $MB MiB over TCP: md5 on the receiver matches the sender's in each" "$RUNS" "$ok"
net_mbs=$(med /tmp/net.mbs)
cpu_ms=$(med /tmp/net.cpu)
echo "# figure netdev_tcp_mbs $net_mbs ($MB MiB checksummed, until the receiver closed; median of $ok runs)"
echo "# figure netdev_tcp_mbs_runs $(paste -s -d, /tmp/net.mbs)"
echo "# figure memcpy_bar2_mbs ${perf_mbs:-0} (ntb_perf memcpy into the peer window, same boot)"
[ -n "$perf_mbs" ] && [ "$perf_mbs" -gt 0 ] &&
	echo "# figure netdev_over_memcpy $(awk -v a=$net_mbs -v b=$perf_mbs 'BEGIN { printf "%.2f", a / b }')"
echo "# figure rx_cpu_ms_per_mib $(awk -v c=$cpu_ms -v m=$MB 'BEGIN { printf "%.2f", c / m }') (receiver busy time, all CPUs, poller included; median of $ok runs)"

# the same transfer over the guests' QEMU socket NIC: what TCP itself
# costs under TCG, for scale (no checksum assert: not the NTB)
nc_s=$(time_left 30)
R "timeout $nc_s nc -l -p $((PORT + 1)) >/dev/null" &
rpid=$!
sleep 0.5
t0=${EPOCHREALTIME/./}
timeout $nc_s nc 169.254.100.2 $((PORT + 1)) </tmp/data
t1=${EPOCHREALTIME/./}
wait $rpid
echo "# figure socket_nic_tcp_mbs $(( MB * 1048576 / (t1 - t0) )) (same data over QEMU's socket netdev, for scale)"

# the NTB link under the transport: changes, generations, late beats
for k in link_changes link_gens peer_gens hb_stalls sup_downs; do
	echo "# stats $k: here $(stat_loc $k), there $(stat_rem $k)"
done
ip link set $IF down
R ip link set $RIF down
ntb_teardown ntb_netdev ntb_transport
tap_dmesg_both
tap_done
