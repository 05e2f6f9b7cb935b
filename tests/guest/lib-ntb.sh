# SPDX-License-Identifier: GPL-2.0
# NTB helpers for guest tests (sourced after lib.sh). Sets:
#   LOC, REM      NTB device names (PCI names) of the two ends
#   RH            remote host for REM ("" in loopback)
#   DBG           debugfs mount
# and offers R (run a command on REM's host), rd/wr (ntb_test.sh-style
# HOST:PATH files), and waits with timeouts.
DBG=/sys/kernel/debug

LETTERS=abcdefgh	# the roles of the guests topology, a first
if [ "$IVNTB_ROLE" = a ]; then
	RH=guest-b
else
	RH=
fi
# RHS: every other guest (guests topology: guest-b, guest-c, ...; pair:
# guest-b), reached from a by the private links
RHS=()
if [ "$IVNTB_ROLE" = a ]; then
	for ((k = 1; k < ${IVNTB_GUESTS:-2}; k++)); do RHS+=("guest-${LETTERS:k:1}"); done
fi
# at HOST COMMAND...: run COMMAND here (HOST "") or in guest HOST;
# at_all COMMAND...: here and in every other guest (RHS), naming the
# first that failed
at() { local h=$1; shift; if [ -z "$h" ]; then bash -c "$*"; else ssh "$h" "$*"; fi; }
at_all()
{
	local h
	for h in "" "${RHS[@]}"; do
		at "$h" "$*" || { echo "${h:-here}: $* failed"; return 1; }
	done
}

# R COMMAND...: run COMMAND on REM's host (RH), here in loopback
R() { at "$RH" "$*"; }

# Load the driver (and modules given) on both ends, then name the devices.
ntb_setup()
{
	# each argument: a module name, optionally followed by its parameters
	# IVNTB_MODE (launch --append ivntb.mode=M): the driver in mode M;
	# HW_PARAMS (set by the test): more of the driver's parameters
	local m hw="ntb_hw_ivshmem ${HW_PARAMS:-}"
	[ -z "${IVNTB_MODE:-}" ] || [ "$IVNTB_MODE" = none ] ||
		hw="$hw $(mode_params "$IVNTB_MODE")"
	for m in "$hw" "$@"; do
		modprobe $m || return 1
		if [ -n "$RH" ]; then
			R modprobe $m || return 1
		fi
	done
	local devs
	devs=($(ls /sys/bus/ntb/devices 2>/dev/null))
	if [ -n "$RH" ]; then
		LOC=${devs[0]}
		REM=$(R ls /sys/bus/ntb/devices | head -1)
	else
		LOC=${devs[0]}
		REM=${devs[1]}
	fi
	[ -n "$LOC" ] && [ -n "$REM" ]
}

# ntb_teardown [MODULE...]: unload the modules, then the driver, on both
# ends; non-zero if any unload failed (each is still tried).
ntb_teardown()
{
	local m rc=0
	for m in "$@" ntb_hw_ivshmem; do
		m=${m%% *}
		modprobe -r $m || rc=1
		[ -z "$RH" ] || R modprobe -r $m || rc=1
	done
	return $rc
}

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_for()
{
	local t=$(( $1 * 10 ))
	shift
	while [ $t -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}

# The ntb_netdev interface here: the one whose parent is on the ntb bus.
# (Remotely: R "$(declare -f ntbif); ntbif".)
ntbif()
{
	local n
	for n in /sys/class/net/*; do
		case "$(readlink -f $n/device 2>/dev/null)" in
		*ntb*) basename $n; return 0 ;;
		esac
	done
	return 1
}

# tap_plan_pair NAME COUNT: the plan of a test that needs two guests; in
# another topology, COUNT skips and the end of the test.
tap_plan_pair()
{
	local i
	tap_plan "$2"
	[ -n "$RH" ] && return 0
	for i in $(seq "$2"); do tap_skip "$1 $i" "needs two guests (pair)"; done
	tap_done
	exit 0
}

# Is our driver's link to peer 0 up (LOC's debugfs info)? 2-port regions.
up() { grep -q '^link_mask:.*0x1$' "$DBG/ntb_hw_ivshmem/$LOC/info" 2>/dev/null; }
down() { grep -q '^link_mask:.*0x0$' "$DBG/ntb_hw_ivshmem/$LOC/info" 2>/dev/null; }
# the other end's link up, as it sees it: each end trains its own
rup() { R "$(declare -f up); DBG=$DBG LOC=$REM up"; }

# ntb_netdev over the link (pair): addresses here and there, and helpers
# that address each end's interface and bring it up (net_addr_here sets
# IF); carrier: the transport link as this end's netdev sees it.
NET_LA=169.254.200.1
NET_RA=169.254.200.2
net_addr_here() { IF=$(ntbif) && ip addr add $NET_LA/24 dev $IF && ip link set $IF up; }
net_addr_there() { R "$(declare -f ntbif); i=\$(ntbif) && ip addr add $NET_RA/24 dev \$i && ip link set \$i up"; }
carrier() { [ "$(cat /sys/class/net/$IF/carrier 2>/dev/null)" = 1 ]; }

# The driver's link events and late heartbeats, with their timestamps,
# shown for a cycle whose counts are off. trace_link_on [here]: enable
# them on both ends (here only: the other end is about to be killed) and
# clear the buffers; trace_dump [here]: print them (and the other end's
# unless "here").
TR=/sys/kernel/tracing
TEV="ivshm_link ivshm_link_event ivshm_peer_down ivshm_link_ack ivshm_hb_late ivshm_away"
trace_link_on()
{
	local c="mountpoint -q $TR || mount -t tracefs nodev $TR; echo > $TR/trace"
	c+="; for e in $TEV; do echo 1 > $TR/events/ntb_hw_ivshmem/\$e/enable || exit 1; done"
	bash -c "$c" || return
	[ "$1" = here ] || R "$c"
}
trace_dump()
{
	echo "# --- here: trace; hb_late $(stat_loc hb_late), hb_stalls $(stat_loc hb_stalls)," \
		"hb_max_gap_us $(stat_loc hb_max_gap_us), away $(stat_loc away), away_max_us $(stat_loc away_max_us)"
	grep -v '^#' $TR/trace | sed 's/^/#   /'
	[ "$1" = here ] && return
	echo "# --- there: trace; hb_late $(stat_rem hb_late), hb_max_gap_us $(stat_rem hb_max_gap_us)"
	R "grep -v '^#' $TR/trace" | sed 's/^/#   /'
	R dmesg | grep -E 'hrtimer|ntb|qp' | tail -20 | sed 's/^/#   there: /'
	# where a transport handshake stands: each end's queue state, and the
	# scratchpads its peer wrote into (ntb_transport's link work reads them)
	local c="cat $DBG/ntb_transport/*/qp*/stats 2>/dev/null | grep -E 'Link|index'"
	c+="; grep spads $DBG/ntb_hw_ivshmem/*/info"
	bash -c "$c" | sed 's/^/#   here: /'
	R "$c" | sed 's/^/#   there: /'
}

# Crash tests (crash.host kills the other guest's QEMU): is it back?
ssh_ok() { ssh "$RH" true 2>/dev/null; }
# crash_mark N: note our link_changes, then ask the host to kill b (the
# mark crash.host waits for); crash_detected judges this cycle against it.
crash_mark()
{
	trace_link_on here
	CRASH_LC0=$(stat_loc link_changes)
	echo "IVNTB-MARK crash $1"
}
# crash_flaps CHANGES [TRACE]: do CHANGES link changes since crash_mark
# (our link_changes), with the events in TRACE (our trace: crash_mark
# cleared and enabled it), make one crash of b? The kill is the last down,
# and must be b falling silent. Before it, the host may have stopped b
# (a 2-core host running four TCG vCPUs starves a guest now and then):
# that costs one flap, a silent down (b's heartbeat stood still past the
# timeout while we watched) and an up (it moved again: b was stopped,
# not dead); or it stopped us: b timed us out, a "gone" down right after
# our own absence (ivshm_away). Any other extra flap fails. Sets
# CRASH_WHY (the failure) or CRASH_NOTE (the extra flaps, named).
crash_flaps()
{
	local n=$1 trace=${2:-$TR/trace} line ev=() e i stops=0 aways=0 away=0
	CRASH_WHY= CRASH_NOTE=
	while IFS= read -r line; do
		case "$line" in
		*" ivshm_away:"*) away=1 ;;
		*" ivshm_peer_down:"*reason=silent*) ev+=(silent); away=0 ;;
		*" ivshm_peer_down:"*reason=gone*) if [ $away = 1 ]; then ev+=(gone-away); else ev+=(gone); fi; away=0 ;;
		*" ivshm_link:"*" up") ev+=(up); away=0 ;;
		*" ivshm_link:"*" down") ;;
		esac
	done < <(grep -v '^#' "$trace")
	[ "${#ev[@]}" = "$n" ] ||
		{ CRASH_WHY="$n link changes but ${#ev[@]} down/up events traced (${ev[*]})"; return 1; }
	[ "${ev[n - 1]}" = silent ] ||
		{ CRASH_WHY="the last change is not b falling silent (${ev[*]})"; return 1; }
	for ((i = 0; i < n - 1; i += 2)); do
		e=${ev[i]}
		[ "${ev[i + 1]}" = up ] ||
			{ CRASH_WHY="change $((i + 2)) of $n is not an up (${ev[*]})"; return 1; }
		case "$e" in
		silent) stops=$((stops + 1)) ;;
		gone-away) aways=$((aways + 1)) ;;
		*) CRASH_WHY="an extra flap without a stop to explain it: $e, then up (${ev[*]})"; return 1 ;;
		esac
	done
	[ $stops = 0 ] || CRASH_NOTE+=", b stopped and ran again ${stops}x"
	[ $aways = 0 ] || CRASH_NOTE+=", we were away and b timed us out ${aways}x"
	[ -z "$CRASH_NOTE" ] || CRASH_NOTE=" (before the kill${CRASH_NOTE}: a flap each)"
}
# crash_detected LABEL [NOTE]: after crash_mark, our link must go down,
# and stay down (b comes back only when the test loads its driver); the
# changes since crash_mark must be this crash, plus only flaps that a stop
# of either guest explains (crash_flaps); then one TAP result on the
# driver's own detection time of the last down (stats down_after_hb_us:
# since the peer's last heartbeat) against BOUND_MS; the time is also
# appended to /tmp/detect.
crash_detected()
{
	local d lc
	if ! wait_for 30 down; then
		tap_result 1 "$1: link down after b was killed${2:-}" \
			"the link did not go down in 30 s (link_changes $CRASH_LC0 -> $(stat_loc link_changes))"
		trace_dump here
		return
	fi
	# a down seen may be one of a stop of b before the kill: let the
	# host's kill happen (it follows the mark within a poll of 0.1 s)
	sleep 1
	wait_for 30 down
	lc=$(stat_loc link_changes)
	if ! crash_flaps $((lc - CRASH_LC0)); then
		tap_result 1 "$1: link down after b was killed${2:-}" \
			"link_changes $CRASH_LC0 -> $lc: $CRASH_WHY"
		trace_dump here
		return
	fi
	[ -z "$CRASH_NOTE" ] || trace_dump here
	d=$(stat_loc down_after_hb_us)
	echo "$d" >>/tmp/detect
	tap_check "$1: link down $((d / 1000)) ms after b's last heartbeat${2:-} (bound $BOUND_MS ms)$CRASH_NOTE" \
		test "$d" -le $((BOUND_MS * 1000))
}

# The region through this guest's first ivshmem device, read back from
# shared memory (host topology: what the host peer wrote). slot_claimed
# PORT: PORT's claim word says CLAIMED; slot_gen PORT TO: link_gen[TO] of
# PORT's slot, its owner's link generation toward port TO (protocol 1.2:
# bumped by a bounce or a timeout of TO; reset by a claim, kept by a
# release). SHM_DEV: the device, if the test looked it up once.
shm_word() { shmpoke "${SHM_DEV:-$(ivshmem_devs | head -1)}/resource2" "$1"; }
slot_claimed() { [ $(( $(shm_word $((0x1000 + $1 * 0x200))) & 0xff )) = 1 ]; }
slot_gen() { echo $(( $(shm_word $((0x1030 + $1 * 0x200 + $2 / 4 * 8))) >> ($2 % 4 * 16) & 0xffff )); }

# trace_downs REASON [PORT]: our links taken down, by cause, from the
# ivshm_peer_down tracepoint (the test enables it and clears the trace):
# gone (the peer's slot said so: released, link disabled, a new epoch or
# link generation) or silent (its heartbeat stood still past the link
# timeout: our timeout of it, which we also announce: stats link_gens).
trace_downs()
{
	grep -c "ivshm_peer_down: port=${2:-[0-9]*} .*reason=$1 " /sys/kernel/tracing/trace
}

# Our driver's stats counter NAME on the local or remote end.
stat_loc() { awk -v k="$1:" '$1 == k { print $2 }' "$DBG/ntb_hw_ivshmem/$LOC/stats"; }
stat_rem() { R "awk -v k='$1:' '\$1 == k { print \$2 }' $DBG/ntb_hw_ivshmem/$REM/stats"; }

# Fail loudly on kernel log lines from the failure list, the one the host
# scans the serial logs with (tests/guest/failure-patterns, copied to
# /ivntb/). Self-contained: tap_dmesg_both runs it on the remote too.
dmesg_clean()
{
	grep -Ev '^[[:space:]]*(#|$)' /ivntb/failure-patterns >/tmp/failure-patterns &&
		[ -s /tmp/failure-patterns ] ||
		{ echo "no failure patterns in /ivntb/failure-patterns"; return 1; }
	local bad
	bad=$(dmesg | grep -Ef /tmp/failure-patterns) || return 0
	# the first lines: the first splat is the cause (tap_check keeps 8)
	echo "$(echo "$bad" | wc -l) failure line(s) in dmesg, the first:"
	echo "$bad" | head -6
	return 1
}

# Driver parameters of a named doorbell mode (bench/doorbell.sh,
# bench/poll-idle.sh): how the end notices the peer's doorbells.
mode_params()
{
	case "$1" in
	hybrid|hybrid-sup) echo "" ;;	# default: hybrid on ivshmem-doorbell devices
	irq) echo "poll_mode=irq" ;;	# MSI-X for every event, never spins
	adaptive|kthread) echo "use_irq=0 poll_mode=$1" ;;
	adaptive-win) echo "use_irq=0 poll_mode=adaptive adaptive_window=1" ;;
	adaptive-[0-9]*) echo "use_irq=0 poll_mode=adaptive idle_poll_us=${1#adaptive-}" ;;
	hrtimer) echo "use_irq=0 poll_mode=hrtimer" ;;
	hrtimer-100us) echo "use_irq=0 poll_mode=hrtimer poll_interval_us=100" ;;
	hrtimer-1ms) echo "use_irq=0 poll_mode=hrtimer poll_interval_us=1000" ;;
	*) return 1 ;;
	esac
}

# dbt_echo_setup MODE TIMEOUT_MS: both ends' driver in poll mode MODE
# (mode_params), ntb_dbtest loaded with timeout_ms, the link up and the
# peer echoing bit 0: ready for "rtt N 0" on $LOC
dbt_echo_setup()
{
	local params
	params=$(mode_params "$1") || return 1
	# shellcheck disable=SC2086
	modprobe ntb_hw_ivshmem $params && R modprobe ntb_hw_ivshmem $params &&
		ntb_setup "ntb_dbtest timeout_ms=$2" &&
		wait_for 10 up &&
		R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
}

# The end of a two-kernel test: two TAP results (no failure-list line in
# either kernel's log; one kernel in loopback), halt the other guest.
tap_dmesg_both()
{
	tap_check "no kernel warnings here" dmesg_clean
	if [ -n "$RH" ]; then
		tap_check "no kernel warnings on the remote" R "$(declare -f dmesg_clean); dmesg_clean"
		peer_halt "$RH"
	else
		tap_skip "no kernel warnings on the remote" "loopback: one kernel"
	fi
}
