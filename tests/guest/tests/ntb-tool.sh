# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | loopback ntb-tool | -t loopback
# ivntb-run: riscv64 x86_64 | pair ntb-tool | -t pair
#
# ntb_tool driven end to end: link, every doorbell bit, masks, every
# scratchpad, every message register with status bits, in both directions;
# values are read back on the other end. Loopback (two devices here) or
# pair (role a; the other end through the remote channel).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh

tap_plan 24

ntb_setup ntb_tool
tap_result $? "ntb_hw_ivshmem and ntb_tool load on both ends"
L() { bash -c "$*"; }
T=$DBG/ntb_tool/$LOC
RT=$DBG/ntb_tool/$REM
LP=$T/peer0
RP=$RT/peer0
echo "# local $LOC, remote ${RH:+$RH:}$REM"

lport=$(cat $T/port)
rport=$(R cat $RT/port)
tap_eq "each end sees the other's port (a 2-port region: both are port 0, as on Intel NTBs)" \
	"$lport $rport" "$(R cat $RP/port) $(cat $LP/port)"

link_is() { [ "$(cat $LP/link)" = "$1" ] && [ "$(R cat $RP/link)" = "$1" ]; }
echo Y >$T/link
R "echo Y > $RT/link"
tap_check "link comes up when both ends enable it" wait_for 10 link_is Y

# A peer that leaves (its port released) leaves its message readable, as
# a register keeps what was written to it; a new instance of that peer
# voids it: the message is dropped, not read as the new instance's, and
# the register is free for it (ntb_tool masks message events, so the
# message waits here unread). Run before anything bumps the remote's link
# generation toward us: its new instance starts from 0 again, so no ack
# (which drops too) covers the drop.
msg_void()
{
	local d0 d1 d2 sts got hw=ntb_hw_ivshmem
	# reloaded as ntb_setup loaded it
	[ -z "${IVNTB_MODE:-}" ] || [ "$IVNTB_MODE" = none ] ||
		hw="$hw $(mode_params "$IVNTB_MODE")"
	echo 'c -1' >$T/msg_sts
	d0=$(stat_loc msg_dropped)
	R "echo 666 > $RP/msg0" || { echo "send failed"; return 1; }
	sts=$(cat $T/msg_sts)
	[ "$(( sts & 1 ))" != 0 ] || { echo "not there to read: sts $sts"; return 1; }
	R modprobe -r ntb_hw_ivshmem || { echo "remote unload failed"; return 1; }
	gone() { [ "$(cat $LP/link)" = N ]; }
	wait_for 10 gone
	sleep 0.5
	d1=$(stat_loc msg_dropped) sts=$(cat $T/msg_sts) got=$(cat $T/msg0)
	R modprobe $hw || { echo "remote reload failed"; return 1; }
	R "echo Y > $RT/link"
	[ "$d1" = "$d0" ] && [ "$(( sts & 1 ))" != 0 ] && [ "$got" = "0x0000029a<-0" ] ||
		{ echo "the departed peer's message: msg_dropped $d0 -> $d1, sts $sts, msg0 $got"; return 1; }
	dropped() { [ "$(stat_loc msg_dropped)" -gt "$d0" ]; }
	wait_for 10 dropped
	d2=$(stat_loc msg_dropped) sts=$(cat $T/msg_sts)
	[ "$d2" = "$((d0 + 1))" ] || { echo "not dropped once for the new instance: msg_dropped $d0 -> $d2, sts $sts"; return 1; }
	[ "$(( sts & 1 ))" = 0 ] || { echo "still there: sts $sts"; return 1; }
	wait_for 10 link_is Y || { echo "link not up with the reloaded remote"; return 1; }
	echo "msg_dropped $d0 -> $d1 with the remote gone (read $got), -> $d2 once it came back"
}
if [ -n "$RH" ]; then
	tap_check "a departed peer's message stays readable; its next instance voids it" msg_void
else
	tap_skip "a departed peer's message stays readable; its next instance voids it" "loopback: both ends are one driver; pair covers it"
fi
# Our own disable takes the link down at once (ntb_link_is_up()), and
# its event comes ivshm_report_delay_ns() later: ntb_transport_free()
# disables the link, then clears and frees its context, and an event in
# between would schedule its work on freed memory. The driver decides
# both on the clock it read at the start of each pass: held_us, the event's
# pass minus the change's, is at least the delay. The trace clock checks
# it from outside, but reads each event where the pass got to, and the
# poller can be preempted in a pass (this test's shell forks on the same
# vCPUs, the host runs other threads): the trace put the event 52.4 ms
# after the change where held_us was 58.7 ms; a 1 ms slack failed in CI.
# So by the trace clock only: the event clearly held (at least half the
# delay), not delivered with the change.
trace_link_on here
echo N >$T/link
tap_check "local disable: both ends see the link down" wait_for 10 link_is N
held_event()
{
	local P=$(awk '$1 == "port:" { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info)
	local M=/sys/module/ntb_hw_ivshmem/parameters d r
	d=$(cat $M/link_train_ms) r=$(cat $M/heartbeat_ms)
	[ "$r" -le "$d" ] || d=$r
	ev() { grep -q "ivshm_link_event: port=$P " $TR/trace; }
	wait_for 5 ev || { trace_dump here; echo "no link event of port $P"; return 1; }
	r=$(awk -v p="port=$P" '
		{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) t = $i + 0 }
		$0 ~ "ivshm_link: " p " .* down$" && !down { down = t }
		$0 ~ "ivshm_link_event: " p " " && down && !ev {
			ev = t; sub(/.*held_us=/, ""); held = $0 }
		END { if (down && ev) printf "%d %d\n", (ev - down) * 1000000 + 0.5, held }' $TR/trace)
	set -- $r
	[ -n "$2" ] && [ "$2" -ge $((d * 1000)) ] && [ "$1" -ge $((d * 500)) ] && return
	trace_dump here
	echo "event of our disable $1 us after the change by the trace clock, held_us $2 by the driver's: due $((d * 1000)) us after"
	return 1
}
tap_check "local disable: its link event held past the change (the unbind race)" held_event
echo Y >$T/link
tap_check "local enable: link up again" wait_for 10 link_is Y
R "echo N > $RT/link"
tap_check "remote disable: both ends see the link down" wait_for 10 link_is N
R "echo Y > $RT/link"
tap_check "remote enable: link up again" wait_for 10 link_is Y

# A disable and an enable back to back (likely between two polls): the
# peer goes down on the link generation the disable announced, so this
# end must go down too, or the two ends' clients fall out of step. Each
# end: one change down, one up.
flap_both()
{
	local l0 r0 l1 r1
	l0=$(stat_loc link_changes) r0=$(stat_rem link_changes)
	echo N >$T/link; echo Y >$T/link
	both_twice() { [ "$(stat_loc link_changes)" -ge $((l0 + 2)) ] &&
		       [ "$(stat_rem link_changes)" -ge $((r0 + 2)) ]; }
	wait_for 10 both_twice || { echo "link_changes here $l0 -> $(stat_loc link_changes), there $r0 -> $(stat_rem link_changes)"; return 1; }
	wait_for 10 link_is Y || { echo "link not up"; return 1; }
	sleep 0.5
	l1=$(stat_loc link_changes) r1=$(stat_rem link_changes)
	[ "$l1 $r1" = "$((l0 + 2)) $((r0 + 2))" ] || { echo "link_changes here $l0 -> $l1, there $r0 -> $r1: not one flap each"; return 1; }
	echo "link_changes here $l0 -> $l1, there $r0 -> $r1"
}
tap_check "disable then enable at once: both ends see one down and one up" flap_both

# db_test FROM_RUN FROM_DIR TO_RUN TO_DIR: ring every bit from one end,
# read the accumulated bits on the other, then clear them there.
db_test()
{
	local from_run=$1 from=$2 to_run=$3 to=$4 exp=0 i bit got bad=
	$to_run "echo 'c -1' > $to/db"
	for ((i = 0; i < 64; i++)); do
		bit=$((1 << i))
		$from_run "echo 's $bit' > $from/peer_db"
		exp=$((exp | bit))
		got=$($to_run "cat $to/db")
		if [ "$((got))" != "$((exp))" ]; then
			bad="bit $i: expected $(printf '%#x' $exp) got $got"
			break
		fi
	done
	[ -z "$bad" ] || { echo "$bad"; return 1; }
	$to_run "echo 'c -1' > $to/db"
	got=$($to_run "cat $to/db")
	[ "$((got))" = 0 ] || { echo "after clear: $got"; return 1; }
}
tap_check "all 64 doorbell bits local -> remote, then cleared" db_test L "$T" R "$RT"
tap_check "all 64 doorbell bits remote -> local, then cleared" db_test R "$RT" L "$T"

R "echo 'c -1' > $RT/db_mask"
R "echo 's 0x5a5a' > $RT/db_mask"
tap_eq "doorbell mask reads back" 0x5a5a "$(R cat $RT/db_mask)"

# A doorbell that arrives while masked fires once it is unmasked.
masked_db()
{
	local before after
	R "echo 's 0x2' > $RT/db_mask"
	before=$(stat_rem db_events)
	echo "s 0x2" >$T/peer_db
	sleep 0.5
	after=$(stat_rem db_events)
	[ "$before" = "$after" ] || { echo "event while masked: $before -> $after"; return 1; }
	[ "$(( $(R cat $RT/db) & 2 ))" = 2 ] || { echo "bit not pending"; return 1; }
	R "echo 'c 0x2' > $RT/db_mask"
	wait_for 5 eval '[ "$(stat_rem db_events)" -gt "$before" ]' ||
		{ echo "no event after unmask"; return 1; }
	R "echo 'c -1' > $RT/db"
}
tap_check "a doorbell rung while masked fires after unmask" masked_db

spad_test()
{
	local n i v got
	n=$(ls -d "$LP"/spad* | wc -l)
	[ "$n" -ge 16 ] || { echo "only $n scratchpads"; return 1; }
	for ((i = 0; i < n; i++)); do
		v=$(( (RANDOM << 16 | RANDOM) ^ i ))
		if [ "$1" = out ]; then
			echo $v >$LP/spad$i
			got=$(R cat $RT/spad$i)
		else
			R "echo $v > $RP/spad$i"
			got=$(cat $T/spad$i)
		fi
		[ "$((got))" = "$v" ] || { echo "spad $i: wrote $v read $got"; return 1; }
	done
	echo "$n scratchpads"
}
tap_check "every scratchpad local -> remote" spad_test out
tap_check "every scratchpad remote -> local" spad_test in

# msg_test SEND_RUN SEND_PEER_DIR RECV_RUN RECV_DIR: every register, the
# status bit shows, data and source read back, and clearing acknowledges.
msg_test()
{
	local srun=$1 sp=$2 rrun=$3 rt=$4 n i v sts got
	n=$($srun "ls -d $sp/msg*" | wc -l)
	[ "$n" -ge 4 ] || { echo "only $n message registers"; return 1; }
	$rrun "echo 'c -1' > $rt/msg_sts"
	for ((i = 0; i < n; i++)); do
		v=$(( (RANDOM << 8 | i) & 0x7fffffff ))
		$srun "echo $v > $sp/msg$i" || { echo "send $i failed"; return 1; }
		sts=$($rrun "cat $rt/msg_sts")
		[ "$(( sts & (1 << i) ))" != 0 ] || { echo "msg $i: sts $sts"; return 1; }
		got=$($rrun "cat $rt/msg$i")
		[ "$got" = "$(printf '0x%08x<-0' $v)" ] || { echo "msg $i: sent $v read $got"; return 1; }
		$rrun "echo 'c $((1 << i))' > $rt/msg_sts"
		sts=$($rrun "cat $rt/msg_sts")
		[ "$(( sts & (1 << i) ))" = 0 ] || { echo "msg $i: not cleared, sts $sts"; return 1; }
	done
	echo "$n message registers"
}
tap_check "every message register local -> remote" msg_test L "$LP" R "$RT"
tap_check "every message register remote -> local" msg_test R "$RP" L "$T"

# An unread message is never overwritten: the second send fails and
# shows in the sender's status outbits.
msg_busy()
{
	local got sts
	R "echo 'c -1' > $RT/msg_sts"
	echo 'c -1' >$T/msg_sts
	echo 111 >$LP/msg0 || { echo "first send failed"; return 1; }
	if echo 222 >$LP/msg0 2>/dev/null; then
		echo "second send into a full register succeeded"; return 1
	fi
	sts=$(cat $T/msg_sts)
	[ "$(( sts & (1 << 32) ))" != 0 ] || { echo "no outbit: sts $sts"; return 1; }
	got=$(R cat $RT/msg0)
	[ "$got" = "0x0000006f<-0" ] || { echo "register holds $got"; return 1; }
	R "echo 'c -1' > $RT/msg_sts"
	echo 'c -1' >$T/msg_sts
	echo 333 >$LP/msg0 || { echo "send after ack failed"; return 1; }
	R "echo 'c -1' > $RT/msg_sts"
}
tap_check "an unread message is not overwritten; the failure shows in outbits" msg_busy

# A message sent with the sender's link down is there to read, but its
# event (unmasked for the test: ntb_tool masks them) waits for that
# sender's link-up event: a client answers a message knowing the link is
# up (ntb_perf's answer needs ntb_mw_get_align()). The disable announced a
# new link generation, and the receiver drops, before it acks that
# generation (protocol 1.4), what the sender wrote before: the link it was
# sent under is over. A message sent once the link is up again is
# delivered. On every path the remote's link and mask are restored.
msg_held()
{
	local e0 e1 e2 d0 d2 sts got
	R "echo 'c -1' > $RT/msg_sts; echo 'c 1' > $RT/msg_mask"
	restore() { echo Y >$T/link; R "echo 'c -1' > $RT/msg_sts; echo 's 1' > $RT/msg_mask"; }
	echo N >$T/link
	wait_for 10 link_is N || { restore; echo "link not down"; return 1; }
	e0=$(stat_rem msg_events) d0=$(stat_rem msg_dropped)
	echo 444 >$LP/msg0 || { restore; echo "send failed"; return 1; }
	sleep 1
	sts=$(R cat $RT/msg_sts)
	e1=$(stat_rem msg_events)
	echo Y >$T/link
	[ "$(( sts & 1 ))" != 0 ] || { restore; echo "not there to read: sts $sts"; return 1; }
	[ "$e1" = "$e0" ] || { restore; echo "delivered with the link down: msg_events $e0 -> $e1"; return 1; }
	wait_for 10 link_is Y || { restore; echo "link not up"; return 1; }
	d2=$(stat_rem msg_dropped) e2=$(stat_rem msg_events) sts=$(R cat $RT/msg_sts)
	[ "$d2" = "$((d0 + 1))" ] || { restore; echo "not dropped at the ack: msg_dropped $d0 -> $d2"; return 1; }
	[ "$e2" = "$e0" ] || { restore; echo "delivered after its link ended: msg_events $e0 -> $e2"; return 1; }
	[ "$(( sts & 1 ))" = 0 ] || { restore; echo "still there after the drop: sts $sts"; return 1; }
	echo 555 >$LP/msg0 || { restore; echo "send after link up failed"; return 1; }
	delivered() { [ "$(stat_rem msg_events)" -gt "$e0" ]; }
	wait_for 10 delivered || { restore; echo "not delivered with the link up: msg_events $e0 -> $(stat_rem msg_events)"; return 1; }
	got=$(R cat $RT/msg0)
	[ "$got" = "0x0000022b<-0" ] || { restore; echo "register holds $got"; return 1; }
	restore
	echo "msg_events $e0 -> $e1 while down; msg_dropped $d0 -> $d2 at the ack; $(stat_rem msg_events) after a send with the link up"
}
tap_check "a message sent with the link down: held, dropped when it comes back; one sent after is delivered" msg_held

tap_check "our debugfs info and stats are readable" \
	sh -c "grep -q '^link_mask:.*0x1' $DBG/ntb_hw_ivshmem/$LOC/info && grep -q '^db_sent:' $DBG/ntb_hw_ivshmem/$LOC/stats"
cat $DBG/ntb_hw_ivshmem/$LOC/stats | sed 's/^/# /'

# The driver goes first, while ntb_tool is still bound and the link up.
unload_under_client()
{
	modprobe -r ntb_hw_ivshmem || return 1
	[ -z "$RH" ] || R modprobe -r ntb_hw_ivshmem || return 1
	[ ! -e /sys/bus/ntb/devices/$LOC ] || { echo "device still there"; return 1; }
	ntb_teardown ntb_tool
}
tap_check "unload the driver with the link up and ntb_tool bound" unload_under_client
tap_dmesg_both
tap_done
