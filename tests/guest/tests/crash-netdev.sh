# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: make soak (scripts/soak.sh), its long kill -9 under ntb_netdev; not in make test
#
# Peer crash under ntb_netdev traffic (crash-netdev.host does the
# killing, as crash.host): ntb_transport + ntb_netdev on both guests, a
# TCP transfer to b and a ping stream running when the host kills -9
# guest b's QEMU. Here: the link goes down within the bound, the netdev's
# carrier drops, the transport tears down without a warning; b boots
# again and reloads its end; the carrier comes back and a fresh 8 MiB
# transfer arrives with the right md5. IVNTB_CRASH_N cycles (2).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_CRASH_N:-2}
BOUND_MS=${IVNTB_CRASH_BOUND_MS:-500}
TP="transport_mtu=65536"
PORT=5001
tap_plan_pair crash-netdev $(( 6 * N + 2 ))

# b's end after each reboot: driver, transport, netdev, address
b_up() { R "modprobe ntb_hw_ivshmem && modprobe ntb_transport $TP && modprobe ntb_netdev" && net_addr_there; }
# data first: see netdev.sh
dd if=/dev/urandom of=/tmp/data bs=1M count=64 2>/dev/null
head -c 8388608 /tmp/data >/tmp/data8
sum8=$(md5sum </tmp/data8 | cut -d' ' -f1)
ntb_setup "ntb_transport $TP" ntb_netdev && net_addr_there && net_addr_here
nocarrier() { ! carrier; }
# a transfer that failed: both ends' transport queue and link events
qp_dump()
{
	echo "# --- here: qp0"; cat $DBG/ntb_transport/*/qp0/stats | sed 's/^/#   /'
	echo "# --- there: qp0"; R "cat $DBG/ntb_transport/*/qp0/stats" | sed 's/^/#   /'
	cat /tmp/recv.md5 | sed 's/^/#   receiver: /'
	trace_dump
}
wait_for 30 carrier
tap_result $? "ntb_netdev on both guests, carrier up ($IF)"
: >/tmp/detect
for i in $(seq 0 $((N - 1))); do
	tap_check "cycle $i: ping there before the crash" ping -c 3 -W 2 $NET_RA
	# traffic in flight: a 64 MiB TCP stream to b and a ping stream
	R "timeout 120 nc -l -p $PORT >/dev/null" &
	sleep 0.5
	timeout 120 nc $NET_RA $PORT </tmp/data &
	ncpid=$!
	ping -q -i 0.05 -W 1 $NET_RA >/dev/null 2>&1 &
	pingpid=$!
	sleep 1
	crash_mark $i
	crash_detected "cycle $i" ", mid-transfer"
	tap_check "cycle $i: the netdev's carrier drops here" wait_for 10 nocarrier
	kill $ncpid $pingpid 2>/dev/null
	wait $ncpid $pingpid 2>/dev/null
	wait_for 90 ssh_ok && b_up && trace_link_on
	tap_result $? "cycle $i: b rebooted; its driver, transport and netdev back"
	tap_check "cycle $i: carrier up again here" wait_for 30 carrier
	R "timeout 120 nc -l -p $PORT | md5sum" >/tmp/recv.md5 2>&1 &
	rpid=$!
	sleep 0.5
	timeout 120 nc $NET_RA $PORT </tmp/data8
	wait $rpid
	tap_eq "cycle $i: 8 MiB over TCP after the restart, md5 matches" "$sum8" "$(cut -d' ' -f1 /tmp/recv.md5)"
	[ "$sum8" = "$(cut -d' ' -f1 /tmp/recv.md5)" ] || qp_dump
done
sort -n /tmp/detect | awk '{ a[NR] = $1 } END {
	printf "# figure crash_netdev_detect_ms_max %.1f\n", a[NR] / 1000 }'
ip link set $IF down
ntb_teardown ntb_netdev ntb_transport
tap_check "no kernel warnings here" dmesg_clean
peer_halt "$RH"
tap_done
