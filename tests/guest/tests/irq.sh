# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 | pair irq (ivshmem-doorbell, MSI-X) | -t pair --doorbell
# ivntb-run: arm64 | pair irq (ivshmem-doorbell, MSI-X; busy spin_us 1000) | -t pair --doorbell --append ivntb.spin_us=1000
# ivntb-run: riscv64 x86_64 | loopback irq (ivshmem-doorbell, MSI-X) | -t loopback --doorbell
#
# Interrupt modes (launch.sh --doorbell): on ivshmem-doorbell devices the
# driver takes an MSI-X vector and publishes its doorbell peer ID.
#   hybrid (the default): each end polls while events flow and arms its
#     wake word when idle; a peer rings it (writes its Doorbell register)
#     only while armed. Every event a sender published is rung or, the
#     receiver being awake, not (rings_saved): the two add up to db_sent.
#     With armed_timer=N an armed end has no timer at all: round trips
#     spaced by random gaps around spin_us must all complete, so no
#     wake-up was lost (none could be rescued by a timer).
#   irq (poll_mode=irq): a ring, and an interrupt, for every event.
#   use_irq=N: the same devices poll, no interrupt.
# Round-trip figures for each, same boot.
# IVNTB_SPIN_US (ivntb.spin_us): spin_us on both ends for the busy run. A
# ping-pong leaves interrupts for polling only if the spin window outlasts
# an interrupt's one-way trip; on arm64 TCG that is about 220 us, above
# the default 200 us, and hybrid there stays on interrupts (as haltpoll
# would: a spin that never catches anything shrinks to none).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_DBN:-20000}
GAPN=${IVNTB_GAPN:-3000}
tap_plan 26
# A link timeout of 1 s on every load: these runs test rings and wakes,
# not liveness, and a host that stops a vCPU past the default 80 ms (it
# does at times, under load) would flap the link: rings to a down peer
# are dropped, and a link change is rung outside db_sent. So each
# accounting below also asks that no link changed.
HW_PARAMS=link_timeout_ms=1000

val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
info() { awk -v k="$1:" '$1 == k { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info; }
rinfo() { R "awk -v k='$1:' '\$1 == k { print \$2 }' $DBG/ntb_hw_ivshmem/$REM/info"; }

# rtt_run LABEL [GAP_US]: 2000 timed round trips of bit 0 (GAPN with a
# gap), the peer echoing it
rtt_run()
{
	local n=2000
	[ -z "$2" ] || n=$GAPN
	R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
	echo "rtt $n 0 ${2:-0}" >$DBG/ntb_dbtest/$LOC/cmd
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt.$1
	sed "s/^/# $1 rtt: /" /tmp/rtt.$1
	echo "# figure rtt_p50_us_$1 $(awk -v n=$(val p50_ns /tmp/rtt.$1) 'BEGIN { printf "%.1f", n / 1000 }')"
	echo "# figure rtt_p99_us_$1 $(awk -v n=$(val p99_ns /tmp/rtt.$1) 'BEGIN { printf "%.1f", n / 1000 }')"
}

# counters of both ends: snap NAME, then delta NAME KEY loc|rem
snap()
{
	local k
	for k in db_sent irq_rings rings_saved irqs arms arm_saves wakes link_skips spin_delivers link_changes; do
		eval "${1}_l_$k=$(stat_loc $k) ${1}_r_$k=$(stat_rem $k)"
	done
}
delta() { eval "echo \$(( \${${2}_${4}_$3} - \${${1}_${4}_$3} ))"; }

# every peer_db_set (one peer) either wrote the Doorbell or found the peer
# awake: irq_rings + rings_saved == db_sent, on each end; an end takes no
# more interrupts than its peer rang (QEMU may merge, never invents); and
# the link did not change meanwhile (link_changes)
show()	# FROM TO LABEL: the deltas of both ends, as comments
{
	local e k line
	for e in l r; do
		line="# $3 ($([ $e = l ] && echo here || echo there)):"
		for k in db_sent irq_rings rings_saved irqs arms arm_saves wakes link_changes; do
			line="$line $k $(delta "$1" "$2" $k $e)"
		done
		echo "$line"
	done
}
accounting()	# FROM TO
{
	local e o ok=0
	for e in l r; do
		o=r; [ $e = l ] || o=l
		[ $(( $(delta "$1" "$2" irq_rings $e) + $(delta "$1" "$2" rings_saved $e) )) = \
		  "$(delta "$1" "$2" db_sent $e)" ] || ok=1
		[ "$(delta "$1" "$2" irqs $e)" -le "$(delta "$1" "$2" irq_rings $o)" ] || ok=1
		[ "$(delta "$1" "$2" link_changes $e)" = 0 ] || ok=1
	done
	return $ok
}

# stress_both FROM TO LABEL: both ends keep 32 bits each in flight until
# $N rings came back (each echoes the other's), counters snapped around;
# one TAP result: none lost either way
stress_both()
{
	local rpid
	snap "$1"
	R "echo 'echo 0x00000000ffffffff' > $DBG/ntb_dbtest/$REM/cmd"
	echo "echo 0xffffffff00000000" >$DBG/ntb_dbtest/$LOC/cmd
	R "echo 'stress $N 0xffffffff00000000' > $DBG/ntb_dbtest/$REM/cmd; cat $DBG/ntb_dbtest/$REM/result" >/tmp/rem.res 2>&1 &
	rpid=$!
	echo "stress $N 0x00000000ffffffff" >$DBG/ntb_dbtest/$LOC/cmd
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/loc.res
	wait $rpid
	snap "$2"
	show "$1" "$2" "$3 stress"
	tap_eq "$3 stress both ways: $N rings came back each way, none lost" \
		"1 $N 0 1 $N 0" \
		"$(val done /tmp/loc.res) $(val returned /tmp/loc.res) $(val lost /tmp/loc.res) $(val done /tmp/rem.res) $(val returned /tmp/rem.res) $(val lost /tmp/rem.res)"
}

# --- hybrid, the default -------------------------------------------------
ntb_setup "ntb_dbtest timeout_ms=60000"
tap_result $? "ntb_hw_ivshmem and ntb_dbtest load on both ends"
dmesg | grep -i 'ivshmem-doorbell\|MSI' | sed 's/^/# dmesg: /'
tap_eq "both ends hybrid (the default with a vector), link timeout 1 s" "hybrid hybrid 1000 1000" \
	"$(info poll_mode) $(rinfo poll_mode) $(cat /sys/module/ntb_hw_ivshmem/parameters/link_timeout_ms) $(R cat /sys/module/ntb_hw_ivshmem/parameters/link_timeout_ms)"
tap_check "link up, both ends" eval 'wait_for 10 up && wait_for 10 rup'

SPIN_PARAM=/sys/module/ntb_hw_ivshmem/parameters/spin_us
SPIN0=$(cat $SPIN_PARAM)
set_spin() { echo "$1" >$SPIN_PARAM && R "echo $1 > $SPIN_PARAM"; }
[ -z "${IVNTB_SPIN_US:-}" ] || set_spin "$IVNTB_SPIN_US"
snap h0
rtt_run hybrid
snap h1
[ -z "${IVNTB_SPIN_US:-}" ] || set_spin "$SPIN0"
show h0 h1 "hybrid busy"
tap_eq "hybrid: 2000 busy round trips" 2000 "$(val samples /tmp/rtt.hybrid)"
tap_check "hybrid busy: every event rung or found its peer awake, irqs <= the peer's rings, no link change" \
	accounting h0 h1
# back to back, both ends spin, so events find their peer awake (how
# many depends on the host's load: the counts above; not a speed test)
tap_check "hybrid busy: events found their peer awake, no ring needed (rings_saved >= 1 each end)" \
	test "$(delta h0 h1 rings_saved l)" -ge 1 -a "$(delta h0 h1 rings_saved r)" -ge 1

# While events flow, a pass for one leaves the links be if they were
# evaluated less than 100 us before (the driver's IVSHM_LINK_EVAL_NS).
tap_check "hybrid busy: passes for doorbells left the links be (link_skips $(delta h0 h1 link_skips l) here, $(delta h0 h1 link_skips r) there)" \
	test "$(delta h0 h1 link_skips l)" -ge 1 -a "$(delta h0 h1 link_skips r)" -ge 1
# and a spin that catches a doorbell delivers it before its pass reads
# the clock (the echo is rung from that delivery's callback)
tap_check "hybrid busy: spins delivered before their pass (spin_delivers $(delta h0 h1 spin_delivers l) here, $(delta h0 h1 spin_delivers r) there)" \
	test "$(delta h0 h1 spin_delivers l)" -ge 1 -a "$(delta h0 h1 spin_delivers r)" -ge 1

# no timer while armed: a lost wake-up leaves a round trip unfinished
echo N >/sys/module/ntb_hw_ivshmem/parameters/armed_timer
R "echo N > /sys/module/ntb_hw_ivshmem/parameters/armed_timer"
snap g0
rtt_run gap 400
snap g1
show g0 g1 "hybrid gaps"
echo Y >/sys/module/ntb_hw_ivshmem/parameters/armed_timer
R "echo Y > /sys/module/ntb_hw_ivshmem/parameters/armed_timer"
tap_eq "hybrid, no timer while armed, gaps of 0-400 us: all $GAPN round trips came back" \
	"1 $GAPN" "$(val done /tmp/rtt.gap) $(val samples /tmp/rtt.gap)"
tap_check "hybrid gaps: every event rung or found its peer awake, irqs <= the peer's rings, no link change" \
	accounting g0 g1
tap_check "hybrid gaps: both ends armed, and were woken by interrupts" \
	test "$(delta g0 g1 arms l)" -ge 1 -a "$(delta g0 g1 arms r)" -ge 1 -a \
	"$(delta g0 g1 irqs l)" -ge 1 -a "$(delta g0 g1 irqs r)" -ge 1
# The sends come from ntb_dbtest's thread and find our poller armed:
# waking it to spin costs a wake, as the echo's interrupt does, so that
# is done only while spins catch events (else once per 10 ms): about one
# wake per round trip here, not one for the send and one for the echo.
tap_check "hybrid gaps: about one wake per round trip here ($(delta g0 g1 wakes l) for $GAPN), not two" \
	test "$(delta g0 g1 wakes l)" -le $((GAPN * 3 / 2))

# While events flow, a pass for one leaves the links be if they were
# evaluated less than 100 us before; the evaluation it skipped is owed,
# made by the first pass once 100 us have passed, or before the poller
# sleeps.
# Here with no timer at all while armed (armed_timer=N), three times:
# a stream of round trips ends, and once this end sleeps none is owed
# (else a link change in the stream's last 100 us would wait for the next
# event); then the peer disables its link mid-stream, its echo going on
# until its own link is down (a disable and a new link generation, no
# ring since we spin), and this end must see the link go down.
if [ -n "$RH" ]; then
	echo N >/sys/module/ntb_hw_ivshmem/parameters/armed_timer
	# The streams must spin (what is checked is what a spinning pass
	# skips and owes), and they do only if the window outlasts a one-way
	# trip. Once both windows have shrunk to none (hybrid busy above can
	# leave them so: 1 run of 3 on 2026-12-04, p50 268 us, irq's 252),
	# getting back asks a sleep of two trips under spin_us
	# (docs/interrupts.md): at the default 200 that failed here. So
	# 1000 us, or IVNTB_SPIN_US if more.
	spin=1000
	[ "${IVNTB_SPIN_US:-0}" -gt 1000 ] 2>/dev/null && spin=$IVNTB_SPIN_US
	set_spin "$spin"
	full=0 owed=0 seen=0
	for _ in 1 2 3; do
		R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
		k0=$(stat_loc link_skips)
		echo "rtt 2000 0" >$DBG/ntb_dbtest/$LOC/cmd
		cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt.owed
		sleep 0.2
		# the whole stream came back, and some of its passes skipped
		[ "$(val done /tmp/rtt.owed) $(val samples /tmp/rtt.owed)" = "1 2000" ] &&
			[ "$(stat_loc link_skips)" -gt "$k0" ] && full=$((full + 1))
		owed=$((owed + $(info link_owed)))
		echo "rtt 1000000 0" >$DBG/ntb_dbtest/$LOC/cmd
		sleep 0.3
		# still streaming when the peer disables: an armed poller would
		# be rung, and a ring's kick always evaluates
		live=0
		echo "wait 1" >$DBG/ntb_dbtest/$LOC/cmd 2>/dev/null || live=1
		R "echo 'link 0' > $DBG/ntb_dbtest/$REM/cmd"
		wait_for 5 down && [ $live = 1 ] && seen=$((seen + 1))
		echo "# stream then mid-stream disable: full $full, owed $owed, live $live, link_mask $(info link_mask), link_skips $(stat_loc link_skips)"
		R "echo 'link 1' > $DBG/ntb_dbtest/$REM/cmd"
		wait_for 10 up || break
	done
	echo Y >/sys/module/ntb_hw_ivshmem/parameters/armed_timer
	set_spin "$SPIN0"
	tap_eq "hybrid, no timer while armed: 3 whole streams that skipped link evaluations, none owed once the poller slept" \
		"3 0" "$full $owed"
	tap_eq "hybrid, no timer while armed: the peer's link going down mid-stream seen each time" 3 "$seen"
else
	tap_skip "hybrid, no timer while armed: 3 whole streams that skipped link evaluations, none owed once the poller slept" \
		"loopback: covered by the pair run"
	tap_skip "hybrid, no timer while armed: the peer's link going down mid-stream seen each time" \
		"loopback: one kernel; the pair run covers it"
fi

# concurrent stress, both directions: nothing lost
wait_for 10 up && wait_for 10 rup
stress_both s0 s1 hybrid
tap_check "hybrid stress: every event rung or found its peer awake, irqs <= the peer's rings, no link change" \
	accounting s0 s1
ntb_teardown ntb_dbtest

# --- irq: a ring and an interrupt per event ----------------------------------
modprobe ntb_hw_ivshmem poll_mode=irq $HW_PARAMS && R modprobe ntb_hw_ivshmem poll_mode=irq $HW_PARAMS
ntb_setup "ntb_dbtest timeout_ms=60000"
tap_eq "poll_mode=irq: both ends in interrupt mode" "irq irq" "$(info poll_mode) $(rinfo poll_mode)"
wait_for 10 up && wait_for 10 rup
snap i0
rtt_run irq
snap i1
show i0 i1 "irq rtt"
tap_eq "irq: 2000 round trips" 2000 "$(val samples /tmp/rtt.irq)"
# each round trip is one MSI-X each way; QEMU may merge an eventfd's
# writes into one interrupt, so ask for most, not all
tap_check "irq: interrupts took them on both ends (>= 1000 each)" \
	test "$(delta i0 i1 irqs l)" -ge 1000 -a "$(delta i0 i1 irqs r)" -ge 1000
stress_both t0 t1 irq
# an irq-mode peer is armed for good: no event goes unrung
tap_check "irq stress: a Doorbell write per peer_db_set each way, none saved, interrupts on both ends, no link change" \
	test "$(delta t0 t1 link_changes l) $(delta t0 t1 link_changes r)" = "0 0" -a \
	"$(delta t0 t1 irq_rings l)" = "$(delta t0 t1 db_sent l)" -a \
	"$(delta t0 t1 irq_rings r)" = "$(delta t0 t1 db_sent r)" -a \
	"$(delta t0 t1 rings_saved l)" = 0 -a "$(delta t0 t1 rings_saved r)" = 0 -a \
	"$(delta t0 t1 db_sent l)" -ge 1 -a "$(delta t0 t1 db_sent r)" -ge 1 -a \
	"$(delta t0 t1 irqs l)" -ge 1 -a "$(delta t0 t1 irqs r)" -ge 1
ntb_teardown ntb_dbtest

# --- the same devices, polling (use_irq=N): the comparison in one boot --------
modprobe ntb_hw_ivshmem use_irq=0 $HW_PARAMS && R modprobe ntb_hw_ivshmem use_irq=0 $HW_PARAMS
ntb_setup "ntb_dbtest timeout_ms=60000"
tap_eq "use_irq=N: both ends poll (adaptive) on the doorbell devices" "adaptive adaptive" \
	"$(info poll_mode) $(rinfo poll_mode)"
wait_for 10 up && wait_for 10 rup
rtt_run poll
tap_eq "2000 round trips by polling" 2000 "$(val samples /tmp/rtt.poll)"
tap_eq "no interrupt taken while polling" "0 0" "$(stat_loc irqs) $(stat_rem irqs)"
ntb_teardown ntb_dbtest

tap_dmesg_both
tap_done
