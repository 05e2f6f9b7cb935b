# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 riscv64-6.1 debug | host bounce | -t host
#
# A peer that disables and re-enables its link between two of our polls
# (protocol 1.2): bounce.host does it 5 times, each time with a
# new link generation toward us and within microseconds, so the only
# trace of the disable is the generation. Here: one link down and one up
# per bounce, strictly alternating (the ivshm_link tracepoint), the link
# up after the bounces and down once the peer detaches.
# The host may starve the host peer past our link timeout (2 cores for
# the guest's vCPUs, the peer and more): we then time it out, which is
# one more down and up of its own (ivshm_peer_down reason=silent, counted
# in link_gens), and a bounce that comes while that link is down is not
# a down of its own. So the downs are counted by cause against what the
# host did, read back from the region: each of the host's link
# generations toward us is one down, but at most one per timeout of ours
# or absence of ours long enough to span a bounce's link training (>=
# 400 ms: ivshm_away).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
n=${IVNTB_BOUNCES:-5}
TR=/sys/kernel/tracing
EV=$TR/events/ntb_hw_ivshmem
tap_plan 7

modprobe ntb_hw_ivshmem &&
	{ mountpoint -q $TR || mount -t tracefs nodev $TR; } &&
	echo 1 >$EV/ivshm_link/enable && echo 1 >$EV/ivshm_peer_down/enable &&
	echo 1 >$EV/ivshm_away/enable &&
	echo >$TR/trace &&
	modprobe ntb_tool
tap_result $? "driver, tracing of ivshm_link, ivshm_peer_down and ivshm_away, ntb_tool"
LOC=$(ls /sys/bus/ntb/devices | head -1)
T=$DBG/ntb_tool/$LOC
I=$DBG/ntb_hw_ivshmem/$LOC/info
echo Y >$T/link
tap_check "link up with the host peer" wait_for 60 up
lport=$(awk '$1 == "port:" { print $2 }' $I)
hport=$(awk '$1 == "peer0:" { print $3 }' $I)
lport=${lport:-0} hport=${hport:-1}	# bounce.host: port 1, we take 0
SHM_DEV=$(ivshmem_devs | head -1)
# the host bounces every 500 ms, stays 3 s, then releases its port: our
# link is down for good once that is read back (n + 60 s at most, within
# the host's QEMU timeout)
wait_s=$(time_left 20)
[ "$wait_s" -le $((n + 60)) ] || wait_s=$((n + 60))
detached() { ! slot_claimed "$hport" && down; }
tap_check "the host peer bounced and detached (port $hport free, read back): link down" \
	wait_for "$wait_s" detached

gh=$(slot_gen "$hport" "$lport")	# the host's link generations toward us
G=$(trace_downs gone "$lport") S=$(trace_downs silent "$lport")
A=$(grep 'ivshm_away: ' $TR/trace | awk '{ sub(/.*gap_us=/, ""); if ($1 + 0 >= 400000) a++ } END { print a + 0 }')
last=$(grep -o 'ivshm_peer_down: .*reason=[a-z]*' $TR/trace | tail -1 | sed 's/.*reason=//')
# the detach is the last down, unless the link was already down then
Gb=$G
[ "$last" != gone ] || Gb=$((G - 1))
lg=$(stat_loc link_gens) lc=$(stat_loc link_changes)
echo "# host link_gen toward us $gh; downs: gone $G (last: $last), silent $S (link_gens $lg); absences >= 400 ms $A"
tap_check "each of the host's $gh link generations ($n bounces) one down: $Gb; at most $S + $A missed (our timeouts, each announced: link_gens $lg; our long absences)" \
	test "$gh" -ge "$n" -a "$Gb" -le "$gh" -a $((Gb + S + A)) -ge "$gh" -a "$lg" = "$S"
tap_eq "link_changes: an up and a down per bounce, per timeout and for the detach" \
	$((2 * (G + S))) "$lc"
seq_=$(grep -o 'ivshm_link: .* \(up\|down\)$' $TR/trace | awk '{ print $NF }' | tr '\n' ' ')
alt() { echo "$seq_" | awk '{ for (i = 1; i <= NF; i++) if ($i != (i % 2 ? "up" : "down")) { print "event " i ": " $i; exit 1 } }'; }
echo "# events: $seq_"
tap_check "events strictly alternate, up first" alt
echo 0 >$EV/ivshm_link/enable
echo 0 >$EV/ivshm_peer_down/enable
echo 0 >$EV/ivshm_away/enable
echo "# host-peer timeouts: $lg"	# the host hook matches them with its stalls
modprobe -r ntb_tool && modprobe -r ntb_hw_ivshmem
tap_check "no kernel warnings" dmesg_clean
tap_done
