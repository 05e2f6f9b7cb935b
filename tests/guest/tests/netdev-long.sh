# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: make soak (scripts/soak.sh), the long netdev transfer; not in make test
#
# A long ntb_netdev transfer with checksums (make soak): TCP from
# here to the other guest for ivntb.netdev_secs seconds (default 600), as
# consecutive rounds of the same 64 MiB of random data (made before the
# link is up: see netdev.sh), each hashed on the receiver and compared
# with the sender's md5. Every round must match.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
SECS=${IVNTB_NETDEV_SECS:-600}
TP="transport_mtu=65536"
PORT=5001
tap_plan 5
if [ -z "$RH" ]; then
	for i in 1 2 3 4 5; do tap_skip "netdev-long $i" "needs two guests (pair)"; done
	tap_done
	exit 0
fi
dd if=/dev/urandom of=/tmp/data bs=1M count=64 2>/dev/null
sent=$(md5sum </tmp/data | cut -d' ' -f1)
ntb_setup "ntb_transport $TP" ntb_netdev && net_addr_there && net_addr_here
wait_for 30 carrier
tap_result $? "ntb_netdev up on both guests"

t0=$(date +%s)
rounds=0 bad=0 bytes=0
while [ $(( $(date +%s) - t0 )) -lt "$SECS" ]; do
	R "timeout 120 nc -l -p $PORT | md5sum" >/tmp/recv.md5 2>&1 &
	rpid=$!
	sleep 0.3
	timeout 120 nc $NET_RA $PORT </tmp/data
	wait $rpid
	got=$(cut -d' ' -f1 /tmp/recv.md5)
	rounds=$((rounds + 1))
	if [ "$got" = "$sent" ]; then
		bytes=$((bytes + 67108864))
	else
		bad=$((bad + 1))
		echo "# round $rounds: sent $sent, received ${got:-nothing}"
	fi
done
el=$(( $(date +%s) - t0 ))
# a link flap during the run shows here (docs/reliability.md: starvation)
for k in link_changes link_gens down_after_hb_us; do
	echo "# $k: here $(stat_loc $k), there $(stat_rem $k)"
done
echo "# figure netdev_long_link_changes $(stat_loc link_changes)/$(stat_rem link_changes)"
echo "# figure netdev_long_secs $el"
echo "# figure netdev_long_mib $((bytes / 1048576)) in $rounds rounds"
echo "# figure netdev_long_mbs $((bytes / el / 1000000))"
tap_check "ran $el s (>= $SECS s), $rounds rounds of 64 MiB" test "$el" -ge "$SECS" -a "$rounds" -gt 0
tap_eq "every round's md5 matched on the receiver" "0 of $rounds" "$bad of $rounds"
ip link set $IF down
ntb_teardown ntb_netdev ntb_transport
tap_dmesg_both
tap_done
