# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | pair interop (today's driver with the protocol 1.2 one) | -t pair --supervise
#
# An older peer. Guest b runs the driver as it was at protocol 1.2 (built
# from this repository's history by scripts/old-peer.sh), guest a today's,
# on ivshmem-doorbell devices of a supervising server (launch.sh
# --supervise). b has no wake line, so a must not sleep waiting for b to
# ring only when armed: a polls for b (hybrid's backoff, parked), and beats
# every heartbeat_ms rather than the supervised 1 s, which b does not know
# to wait for. Toward b, a rings after every event, as 1.2 expects. Round
# trips both ways, and first round trips after 1 s of silence both ways,
# must all come back.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
OLD=/ivntb/peer-1.2/ntb_hw_ivshmem.ko
N=500
IDLE_N=5
PLAN=13
tap_plan_pair interop $PLAN
if [ ! -f $OLD ]; then
	for i in $(seq $PLAN); do
		tap_skip "interop $i" "no protocol 1.2 driver in the initramfs (scripts/old-peer.sh: no git history, or not riscv64 6.12 without IVNTB_OLD_PEER=1)"
	done
	peer_halt "$RH"
	tap_done
	exit 0
fi

info() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' $DBG/ntb_hw_ivshmem/$LOC/info; }
res() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
# rtt_from WHERE N GAP_MS: N round trips started by WHERE (here or there)
# with the other end echoing; prints the samples that came back
# rtt_here N / rtt_there N: N round trips of bit 0 started here (bit 1
# there), the other end echoing it; prints the samples that came back (the whole
# result as "#" lines when some did not)
rtt_done() {
	local n
	n=$(res samples /tmp/rtt)
	[ "$n" = "$1" ] || sed 's/^/# rtt: /' /tmp/rtt >&2
	echo "$n"
}
rtt_here() {
	echo "rtt $1 0" >$DBG/ntb_dbtest/$LOC/cmd
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt
	rtt_done "$1"
}
rtt_there() {
	R "echo 'rtt $1 1' > $DBG/ntb_dbtest/$REM/cmd; cat $DBG/ntb_dbtest/$REM/result" >/tmp/rtt
	rtt_done "$1"
}
# each end echoes the other's bit (an end that echoed its own would
# bounce one ring back and forth for ever)
echo_bits() {
	echo "echo 2" >$DBG/ntb_dbtest/$LOC/cmd
	R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
}

modprobe ntb_hw_ivshmem && modprobe ntb_dbtest &&
	R "modprobe ntb && insmod $OLD && modprobe ntb_dbtest"
tap_result $? "today's driver here, the protocol 1.2 driver there, ntb_dbtest on both"
LOC=$(ls /sys/bus/ntb/devices | head -1)
REM=$(R ls /sys/bus/ntb/devices | head -1)
tap_eq "the two ends speak 1.4 and 1.2" "1.4 1.2" \
	"$(info protocol) $(R "awk '\$1 == \"protocol:\" { print \$2 }' $DBG/ntb_hw_ivshmem/$REM/info")"
tap_check "link up, hybrid here ($(info poll_mode))" eval 'wait_for 30 up && [ "$(info poll_mode)" = hybrid ]'
tap_check "here: the old peer does not ring, so it is polled for ($(info wake))" \
	eval 'info wake | grep -q "do not all ring: backoff polls"'
tap_eq "here: supervised, but beating every heartbeat_ms for the old peer" \
	"10 (supervised)" "$(info heartbeat_ms)"

echo_bits
r0=$(stat_loc irq_rings)
got=$(rtt_here $N)
r1=$(stat_loc irq_rings)
tap_check "$N round trips from here ($got back), each ring of ours written to the old peer ($((r1 - r0)) Doorbell writes)" \
	test "$got" = $N -a $((r1 - r0)) -ge $N
got=$(rtt_there $N)
tap_eq "$N round trips from the old peer" "$N" "$got"

# after_idle rtt_here|rtt_there: IDLE_N first round trips after 1 s of
# silence; prints how many came back
after_idle() {
	local ok=0
	for _ in $(seq $IDLE_N); do
		sleep 1
		[ "$($1 1)" = 1 ] && ok=$((ok + 1))
	done
	echo $ok
}
tap_eq "first round trips after 1 s idle, from here" "$IDLE_N" "$(after_idle rtt_here)"
tap_eq "first round trips after 1 s idle, from the old peer" "$IDLE_N" "$(after_idle rtt_there)"

# one link up on each end and no flap, through all of it: a's switch to
# the short period must not leave b (timing a out after its own 80 ms)
# looking at a beat up to a supervised period old
tap_eq "the link came up once on each end and stayed up (link changes here, there)" \
	"1 1" "$(stat_loc link_changes) $(stat_rem link_changes)"

modprobe -r ntb_dbtest && modprobe -r ntb_hw_ivshmem &&
	R "modprobe -r ntb_dbtest && rmmod ntb_hw_ivshmem"
tap_result $? "both ends unload"
tap_dmesg_both
tap_done
