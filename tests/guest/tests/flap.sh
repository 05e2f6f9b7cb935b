# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 riscv64-6.1 debug | host flap | -t host
#
# Link flapping: the host peer (flap.host) attaches and detaches
# ivntb.flaps times (default 30; make soak: 1000), waiting each time for
# the hello doorbell our ntb_dbtest rings when the link comes up. Here:
# exactly one link-up and one link-down event per cycle, strictly
# alternating (the driver's ivshm_link tracepoint), link_changes = 2 per
# cycle, and the link down (not stuck up) at the end.
# The host may starve the host peer past our link timeout within a cycle
# (2 cores for the guest's vCPUs, the peer and more): we then time it
# out (ivshm_peer_down reason=silent, announced: link_gens), one more
# down, and up again if the cycle goes on; its release is then no down of
# its own if our link was still down. So downs are counted by cause: one
# release (gone) per cycle, but for at most one cycle per timeout; one
# more up per timeout at most.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
n=${IVNTB_FLAPS:-30}
TR=/sys/kernel/tracing
tap_plan 8

dev=$(ivshmem_devs | head -1)
modprobe ntb_hw_ivshmem &&
	{ mountpoint -q $TR || mount -t tracefs nodev $TR; } &&
	echo 1 >$TR/events/ntb_hw_ivshmem/ivshm_link/enable &&
	echo 1 >$TR/events/ntb_hw_ivshmem/ivshm_peer_down/enable &&
	echo >$TR/trace &&
	modprobe ntb_dbtest hello_db=63
tap_result $? "driver, tracing of ivshm_link and ivshm_peer_down, ntb_dbtest hello_db=63"
LOC=$(ls /sys/bus/ntb/devices | head -1)

marker() { printf '%d' "$(( $(shmpoke "$dev/resource2" 0x10b8) >> 32 & 0xffffffff ))"; }
done_=0
# n + 300 s at most, and within the host's QEMU timeout
wait_s=$(time_left 20)
[ "$wait_s" -le $((n + 300)) ] || wait_s=$((n + 300))
end=$((SECONDS + wait_s))
while [ $SECONDS -lt $end ]; do
	[ $(( $(marker) >> 16 )) = $((0xf1a9)) ] && { done_=1; break; }
	sleep 0.5
done
tap_result $((1 - done_)) "the host finished its $n cycles"
tap_eq "the host saw the link come up in every cycle" $n $(( $(marker) & 0xffff ))
# the last release is seen within a heartbeat; down for good then
wait_for 30 down

seq_=$(grep -o 'ivshm_link: .* \(up\|down\)$' $TR/trace | awk '{ print $NF }' | tr '\n' ' ')
ups=$(echo "$seq_" | tr ' ' '\n' | grep -c '^up$')
downs=$(echo "$seq_" | tr ' ' '\n' | grep -c '^down$')
G=$(trace_downs gone) S=$(trace_downs silent) lg=$(stat_loc link_gens)
echo "# downs: gone $G, silent $S (our timeouts of the host peer; link_gens $lg)"
tap_check "link-up events: one per cycle, at most one more per timeout ($ups ups, $n cycles, $S timeouts)" \
	test "$ups" -ge "$n" -a "$ups" -le $((n + S))
tap_check "link-down events: one per cycle ($downs: $G releases, $S timeouts, each announced: link_gens $lg)" \
	test "$downs" = $((G + S)) -a "$G" -le "$n" -a $((G + S)) -ge "$n" -a "$lg" = "$S"
alt() { echo "$seq_" | awk '{ for (i = 1; i <= NF; i++) if ($i != (i % 2 ? "up" : "down")) { print "event " i ": " $i; exit 1 } }'; }
tap_check "events strictly alternate, up first" alt
tap_eq "link_changes = 2 per up; the link is down at the end" "$((2 * ups)) down" \
	"$(stat_loc link_changes) $(up && echo up || echo down)"
echo 0 >$TR/events/ntb_hw_ivshmem/ivshm_link/enable
echo 0 >$TR/events/ntb_hw_ivshmem/ivshm_peer_down/enable
echo "# host-peer timeouts: $lg"	# the host hook matches them with its stalls
modprobe -r ntb_dbtest && modprobe -r ntb_hw_ivshmem
tap_check "no kernel warnings" dmesg_clean
tap_done
