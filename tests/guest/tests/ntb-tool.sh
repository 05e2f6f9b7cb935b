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

tap_plan 21

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
echo N >$T/link
tap_check "local disable: both ends see the link down" wait_for 10 link_is N
echo Y >$T/link
tap_check "local enable: link up again" wait_for 10 link_is Y
R "echo N > $RT/link"
tap_check "remote disable: both ends see the link down" wait_for 10 link_is N
R "echo Y > $RT/link"
tap_check "remote enable: link up again" wait_for 10 link_is Y

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
	wait_for 5 test "$(stat_rem db_events)" -gt "$before" ||
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

# A message to an end whose link is down is there to read, but its event
# (unmasked for the test: ntb_tool masks them) waits for the link-up
# event: a client answers it knowing the link is up (ntb_perf's answer
# needs ntb_mw_get_align()). The sender's link is the one off here: a
# receiver that took its own link down drops, once the sender acks that
# (protocol 1.4), what the sender wrote before, as a link down loses what
# is in flight.
msg_held()
{
	local e0 e1 sts
	R "echo 'c -1' > $RT/msg_sts; echo 'c 1' > $RT/msg_mask"
	echo N >$T/link
	wait_for 10 link_is N || { echo "link not down"; return 1; }
	e0=$(stat_rem msg_events)
	echo 444 >$LP/msg0 || { echo Y >$T/link; echo "send failed"; return 1; }
	sleep 1
	sts=$(R cat $RT/msg_sts)
	e1=$(stat_rem msg_events)
	echo Y >$T/link
	[ "$(( sts & 1 ))" != 0 ] || { echo "not there to read: sts $sts"; return 1; }
	[ "$e1" = "$e0" ] || { echo "delivered with the link down: msg_events $e0 -> $e1"; return 1; }
	wait_for 10 link_is Y || { echo "link not up"; return 1; }
	delivered() { [ "$(stat_rem msg_events)" -gt "$e0" ]; }
	wait_for 10 delivered || { echo "not delivered after link up: msg_events $e0 -> $(stat_rem msg_events)"; return 1; }
	R "echo 'c -1' > $RT/msg_sts; echo 's 1' > $RT/msg_mask"
	echo "msg_events $e0 -> $e1 while down, $(stat_rem msg_events) after link up"
}
tap_check "a message to an end whose link is down: held until its link-up event" msg_held

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
