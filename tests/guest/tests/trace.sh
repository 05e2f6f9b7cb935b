# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 riscv64-6.1 debug | pair trace | -t pair
# ivntb-run: riscv64 | loopback trace | -t loopback
#
# The driver's tracepoints (kmod/ntb_ivshmem_trace.h) read through tracefs
# on both ends: link up and down, a doorbell sent here and received there,
# a message sent here and received there, with the values the test used
# and as many events as operations. Pair (role a) or loopback.
# A host with 2 cores for 4 vCPUs may stop one end past the link timeout
# now and then: the other times it out and both flap. A flap is allowed
# as freeze.sh allows it (each end's timeouts no more than the other
# end's recorded stalls, hb_stalls; no flap without a timeout), and an
# operation it hits is redone only where nothing was sent (a doorbell
# rung while our link is down goes to no one and is not traced).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh

tap_plan 13
TR=/sys/kernel/tracing
EV=events/ntb_hw_ivshmem

# tracefs on both ends; the driver's events exist once it is loaded
trace_on()
{
	R "mountpoint -q $TR || mount -t tracefs nodev $TR" || return 1
	mountpoint -q $TR || mount -t tracefs nodev $TR || return 1
	local e
	for e in ivshm_db_send ivshm_db_recv ivshm_link ivshm_msg_send ivshm_msg_recv; do
		[ -d $TR/$EV/$e ] || { echo "no $EV/$e"; return 1; }
		R "test -d $TR/$EV/$e" || { echo "remote: no $EV/$e"; return 1; }
	done
	R "echo > $TR/trace; echo 1 > $TR/$EV/enable"
	echo >$TR/trace
	echo 1 >$TR/$EV/enable
}
ntb_setup && trace_on
tap_result $? "driver loaded on both ends, its 5 events in tracefs, enabled"
# timeouts (link_gens) and stalls (hb_stalls) of each end from here on
ga0=$(stat_loc link_gens) gb0=$(stat_rem link_gens)
sa0=$(stat_loc hb_stalls) sb0=$(stat_rem hb_stalls)

modprobe ntb_tool && R modprobe ntb_tool
T=$DBG/ntb_tool/$LOC
RT=$DBG/ntb_tool/$REM
# region ports (ntb_tool shows 0 for both ends of a 2-port region)
info_port() { awk '$1 == "port:" { print $2 }' $DBG/ntb_hw_ivshmem/$1/info; }
lport=$(info_port $LOC)
rport=$(R "$(declare -f info_port); DBG=$DBG; info_port $REM")
echo "# local $LOC port $lport, remote ${RH:+$RH:}$REM port $rport"

# trace lines here (L) or there (R) of EVENT matching the regex
L() { bash -c "$*"; }
ev() { $1 "cat $TR/trace" | grep -E " $2: $3"; }
nev() { ev "$@" | wc -l; }
has() { ev "$@" >/dev/null; }

echo Y >$T/link
R "echo Y > $RT/link"
wait_for 30 up
tap_result $? "link up"
tap_check "ivshm_link 'up' traced on both ends, each naming its own port" \
	wait_for 30 eval "has L ivshm_link 'port=$lport peers_up=0x1 was=0x0 up' &&
		has R ivshm_link 'port=$rport peers_up=0x1 was=0x0 up'"

rang() { [ $(( $(R cat $RT/db) & $1 )) != 0 ]; }
# ring BITS: one ring that was sent (traced here: our link was up then;
# rung while it was down, in a flap, it went to no one: once more)
sent() { nev L ivshm_db_send "port=$lport peer_port=$rport bits=$1 ret="; }
ring()
{
	local n0
	for _ in 1 2 3; do
		wait_for 30 up
		n0=$(sent $1)
		echo "s $1" >$T/peer_db
		[ "$(sent $1)" = "$n0" ] || return 0
		echo "# ring $1: our link was down, nothing sent: again"
	done
}
# the driver starts with every doorbell bit masked, as hardware does
R "echo 'c -1' > $RT/db; echo 'c -1' > $RT/db_mask"
# nrecv BITS: receptions of BITS traced there; recvd BITS N: more than N
nrecv() { nev R ivshm_db_recv "port=$rport bits=$1\$"; }
recvd() { [ "$(nrecv "$1")" -gt "$2" ]; }
for b in 0x4 0x4 0x100; do
	r0=$(nrecv $b)
	ring $b
	# the next ring only after this one arrived: each one an event.
	# The bit is readable there before its poller delivers it: cleared
	# first, it would leave the poller nothing to deliver (or trace).
	wait_for 30 rang $b || echo "# ring $b: not there in 30 s"
	wait_for 30 recvd $b "$r0" || echo "# ring $b: not delivered there in 30 s"
	R "echo 'c -1' > $RT/db"
done
tap_eq "ivshm_db_send here: 3 rings with their bits, to the peer's port, ret=0" \
	"2 1" "$(nev L ivshm_db_send "port=$lport peer_port=$rport bits=0x4 ret=0") \
$(nev L ivshm_db_send "port=$lport peer_port=$rport bits=0x100 ret=0")"
tap_eq "ivshm_db_recv there: the same 3, with their bits" "2 1" \
	"$(nrecv 0x4) $(nrecv 0x100)"
tap_eq "no doorbell traced the other way" "0 0" \
	"$(nev R ivshm_db_send "port=$rport ") $(nev L ivshm_db_recv "port=$lport ")"

R "echo 'c -1' > $RT/msg_sts"
echo 0x1234abcd >$T/peer0/msg1
tap_eq "ivshm_msg_send here: register 1, the value, ret=0" 1 \
	"$(nev L ivshm_msg_send "port=$lport peer_port=$rport msg=1 data=0x1234abcd ret=0")"
tap_check "ivshm_msg_recv there: from our port, register 1, the value" \
	wait_for 30 has R ivshm_msg_recv "port=$rport peer_port=$lport msg=1 data=0x1234abcd ret=0"
# a second send into the unread register fails, and the trace says so
echo 0x55 >$T/peer0/msg1 2>/dev/null
tap_eq "a send into the full register: ivshm_msg_send ret=-16 (EBUSY)" 1 \
	"$(nev L ivshm_msg_send "port=$lport peer_port=$rport msg=1 data=0x55 ret=-16")"
R "echo 'c -1' > $RT/msg_sts"

d0=$(nev L ivshm_link "port=$lport peers_up=0x0 was=0x1 down")
R "echo N > $RT/link"
# a new down, and down for good (not a passing flap)
downed() { down && [ "$(nev L ivshm_link "port=$lport peers_up=0x0 was=0x1 down")" -gt "$d0" ]; }
tap_check "the remote disables: ivshm_link 'down' here" wait_for 30 downed
ups=$(nev L ivshm_link "port=$lport .* up$") downs=$(nev L ivshm_link "port=$lport .* down$")
ga1=$(stat_loc link_gens) gb1=$(stat_rem link_gens)
sa1=$(stat_loc hb_stalls) sb1=$(stat_rem hb_stalls)
# the remote's disable is one link generation of its own (protocol 1.2),
# not a timeout
ta=$((ga1 - ga0)) tb=$((gb1 - gb0 - 1)) sa=$((sa1 - sa0)) sb=$((sb1 - sb0))
lc=$(stat_loc link_changes)
echo "# link events here: $ups up, $downs down (link_changes $lc); timeouts here $ta, there $tb; stalls here $sa, there $sb"
# one up and one down, plus one of each per flap, each flap a timeout of
# an end the other saw stop (freeze.sh); one event per link change
tap_check "link events here: one up, one down, one per link change; $((ups - 1)) flaps, $((ta + tb)) timeouts (here $ta <= stalls there $sb, there $tb <= stalls here $sa)" \
	test "$ups" = "$downs" -a $((ups + downs)) = "$lc" -a "$ups" -ge 1 \
	-a $((ups - 1)) -le $((ta + tb)) -a "$ta" -le "$sb" -a "$tb" -le "$sa"
{ L "cat $TR/trace" | grep ivntb_ | sed 's/^/# here: /'
  R "cat $TR/trace" | grep ivntb_ | sed 's/^/# there: /'; } | head -40

R "echo 0 > $TR/$EV/enable"
echo 0 >$TR/$EV/enable
ntb_teardown ntb_tool
tap_dmesg_both
tap_done
