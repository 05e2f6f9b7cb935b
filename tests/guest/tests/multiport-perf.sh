# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | 3 guests: ntb_perf on a switch refuses its buffers cleanly | -t guests --guests 3 --smp 1 --init-args --mws=ports
#
# ntb_perf on a 3-port switch cannot move data over windows carved from
# shared memory, for two reasons in ntb_perf itself (Linux 6.12,
# drivers/ntb/test/ntb_perf.c):
#  - it maps one outbound window for all its peers, the one numbered by
#    its own port's global index g (perf_setup_peer_mw():
#    ntb_peer_mw_get_addr(ntb, perf->gidx)), and relies on translating
#    that window toward each peer in turn (peer_mw_set_trans, an IDT
#    switch's lookup table); a window in shared memory leads to one peer;
#  - it asks a peer's inbound window g_ours for its alignment and then
#    hands the buffer to window g_peer (perf_setup_inbuf():
#    ntb_mw_get_align(pidx, perf->gidx) then ntb_mw_set_trans(pidx,
#    peer->gidx)); hardware translates any buffer into any window, here
#    the buffer must be the window, placed at ntb_mw_get_align().
# What must hold instead (docs/windows.md): with enough windows for every
# index (the region is initialised with --mws ports), ntb_perf loads on
# the three guests, each guest refuses the buffer of each of its two
# peers with one line naming the window (and ntb_perf says it failed), a
# run does not complete and ends when signalled (none stuck in the
# kernel), and everything unloads without a warning.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
[ "${#RHS[@]}" = 2 ] || { tap_plan 1; tap_result 1 "three guests" "this test needs -t guests --guests 3"; tap_done; exit 1; }
HOST=("" "${RHS[@]}")
tap_plan 7
count() { at "$1" "dmesg | grep -c '$2'"; }

tap_check "ntb_hw_ivshmem and ntb_perf load on the three guests" \
	at_all "modprobe ntb_hw_ivshmem && modprobe ntb_perf total_order=20"
# every pair linked: each guest's driver sees both peers up
linked() { local h; for h in "${HOST[@]}"; do at "$h" "grep -q '^link_mask:.*0x3$' $DBG/ntb_hw_ivshmem/*/info" || return 1; done; }
tap_check "every pair of the switch linked" wait_for 60 linked
# ntb_perf sets up each peer's buffer once the link is up
refusals()
{
	local h r f
	for h in "${HOST[@]}"; do
		r=$(count "$h" 'is not inbound window') f=$(count "$h" 'Failed to set inbuf translation')
		[ "$r" -ge 2 ] && [ "$r" = "$f" ] || return 1
	done
}
wait_for 30 refusals
sum=
for h in "${HOST[@]}"; do
	sum+="${h:-here}: $(count "$h" 'is not inbound window') refused, $(count "$h" 'Failed to set inbuf translation') failed; "
done
tap_check "each guest refuses a buffer from each peer with one line, and ntb_perf reports each ($sum)" refusals
at "" "dmesg | grep 'is not inbound window' | head -2" | sed 's/^/# /'
# a run to peer 0: its buffers never came; it fails or, waiting for them,
# ends when signalled (5 s)
dev=$(ls /sys/bus/ntb/devices)
timeout -k 3 5 sh -c "echo 0 > $DBG/ntb_perf/$dev/run" 2>/tmp/perf.err
st=$?
tap_result $((st == 0)) "a run to peer 0 does not complete (status $st: $(head -c 80 /tmp/perf.err | tr '\n' ' '))"
sleep 1
left() { ps -o pid,stat,args | grep '[e]cho 0 > .*ntb_perf'; }
tap_check "no process left in the run" eval '! left'
tap_check "ntb_perf and ntb_hw_ivshmem unload on the three guests" \
	at_all "modprobe -r ntb_perf && modprobe -r ntb_hw_ivshmem"
tap_check "no oops, BUG or WARNING on the three guests" at_all "$(declare -f dmesg_clean); dmesg_clean"
for h in "${RHS[@]}"; do peer_halt "$h"; done
tap_done
