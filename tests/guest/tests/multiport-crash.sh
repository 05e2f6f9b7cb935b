# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | 3 guests: kill -9 of one, the two others stay linked | -t guests --guests 3 --smp 1 --mw-pools off
#
# A failure in a switch: three guests on a 3-port region, each with
# ntb_hw_ivshmem and ntb_tool, every pair linked. The host kills -9 guest
# c's QEMU (multiport-crash.host) and boots it again. Here and on guest b:
# the link to c goes down and no other (the driver's ivshm_link events:
# every change flips c's peer bit only, and link_changes moved by one);
# the pair a-b stays up throughout, unless one of them stopped past the
# link timeout (its own heartbeat timer records that: hb_stalls; a
# 2-core host running three TCG guests may starve one), which is then
# named. c boots again, takes a port, and links with both; a doorbell
# from it reaches both. IVNTB_CRASH_N cycles (1).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_CRASH_N:-1}
B=guest-b
C=guest-c
tap_plan $((7 * N + 2))
[ "${#RHS[@]}" = 2 ] || { tap_result 1 "three guests" "this test needs -t guests --guests 3"; tap_done; exit 1; }

# one NTB device per guest: its driver's debugfs folder and ntb_tool's
HW="$DBG/ntb_hw_ivshmem/*"
TL="$DBG/ntb_tool/*"
mask() { at "$1" "awk '/^link_mask:/ { print \$2 }' $HW/info"; }
stat_at() { at "$1" "awk -v k='$2:' '\$1 == k { print \$2 }' $HW/stats"; }
bring_up() { at "$1" "modprobe ntb_hw_ivshmem && modprobe ntb_tool && echo Y >$TL/link"; }
# peer index of port P as guest H numbers its peers
pidx_of() { at "$1" "for p in $TL/peer[0-9]*; do [ \$(cat \$p/port) = $2 ] && echo \${p##*peer}; done"; }
all_up() { [ "$(mask "")" = 0x3 ] && [ "$(mask $B)" = 0x3 ] && [ "$(mask $C)" = 0x3 ]; }
# no ivshm_link event in H's trace flips a bit but BIT (c's peer bit):
# the pair a-b never changed; prints how many events there were
only_bit()
{
	local n=0 bad=0 up was
	while read -r up was; do
		n=$((n + 1))
		[ $(((up ^ was) & ~$2)) = 0 ] || bad=1
	done < <(at "$1" "grep -o 'peers_up=0x[0-9a-f]* was=0x[0-9a-f]*' $TR/trace" |
		sed 's/peers_up=//; s/was=//')
	echo $n
	return $bad
}
ab_stalls() { echo $(($(stat_at "" hb_stalls) + $(stat_at $B hb_stalls))); }

ok=1
for h in "" $B $C; do bring_up "$h" || ok=0; done
wait_for 60 all_up || ok=0
LOC=$(ls /sys/bus/ntb/devices) REM=$(ssh $B ls /sys/bus/ntb/devices)	# for trace_dump
tap_result $((1 - ok)) "ntb_hw_ivshmem and ntb_tool on the three guests, every pair linked" \
	"link masks: here $(mask ""), b $(mask $B), c $(mask $C)"
: >/tmp/detect
for i in $(seq 0 $((N - 1))); do
	wait_for 60 all_up
	cport=$(at $C "cat $TL/port")
	ia=$(pidx_of "" "$cport") ib=$(pidx_of $B "$cport")
	ca=$((1 << ia)) cb=$((1 << ib))
	trace_link_on
	la=$(stat_at "" link_changes) lb=$(stat_at $B link_changes) s0=$(ab_stalls)
	echo "IVNTB-MARK crash $i"
	c_down() { [ "$(mask "")" = "$(printf '%#x' $((3 & ~ca)))" ] && [ "$(mask $B)" = "$(printf '%#x' $((3 & ~cb)))" ]; }
	tap_check "crash $i: c (port $cport) killed: here and on b its link goes down, the other stays up" \
		wait_for 30 c_down
	na=$(only_bit "" $ca) && nb=$(only_bit $B $cb)
	st=$?
	la2=$(stat_at "" link_changes) lb2=$(stat_at $B link_changes) s1=$(ab_stalls)
	if [ $st != 0 ] || [ $((la2 - la)) != 1 ] || [ $((lb2 - lb)) != 1 ]; then
		# a stop of a or b past the link timeout costs a flap of a-b:
		# allowed only with such a stop recorded
		tap_result $((s1 == s0)) "crash $i: no link change but c's, here or on b (a-b changed too, with $((s1 - s0)) stalls of a or b recorded)" \
			"link_changes here $la -> $la2, b $lb -> $lb2; events here $na, b $nb"
		trace_dump
	else
		tap_result 0 "crash $i: no link change but c's, here or on b (one event each)"
	fi
	d=$(stat_at "" down_after_hb_us)
	tap_check "crash $i: c's link down $((d / 1000)) ms after its last heartbeat (bound 500 ms)" test "$d" -le 500000
	c_back() { ssh $C true 2>/dev/null; }
	wait_for 90 c_back
	bring_up $C
	tap_result $? "crash $i: c rebooted; its driver and ntb_tool back, link enabled"
	tap_check "crash $i: every pair linked again" wait_for 60 all_up
	# c's link may take more than one try to come back (a stop of c
	# while it boots costs one flap); a and b must not have flapped
	na=$(only_bit "" $ca); st=$?
	nb=$(only_bit $B $cb) || st=1
	s2=$(ab_stalls)
	if [ $st = 0 ]; then
		tap_result 0 "crash $i: after the restart, still only c's link changed here ($na events) and on b ($nb)"
	else
		tap_result $((s2 == s0)) "crash $i: after the restart, still only c's link changed here ($na events) and on b ($nb) (a-b changed, with $((s2 - s0)) stalls of a or b recorded)"
		trace_dump
	fi
	# a doorbell from the restarted c reaches a and b
	for h in "" $B; do at "$h" "echo 'c -1' >$TL/db"; done
	at $C "echo 's 0x4' >$TL/peer_db"
	sleep 0.5
	tap_check "crash $i: a doorbell from c reaches here and b" \
		test "$(at "" "cat $TL/db")" = 0x4 -a "$(at $B "cat $TL/db")" = 0x4
done
for h in "" $B $C; do at "$h" "modprobe -r ntb_tool && modprobe -r ntb_hw_ivshmem"; done
tap_check "no kernel warnings here, on b and on c" at_all "$(declare -f dmesg_clean); dmesg_clean"
for h in $B $C; do peer_halt "$h"; done
tap_done
