# SPDX-License-Identifier: GPL-2.0
# Helpers for the host hooks (tests/guest/tests/NAME.host). A hook starts
#	. "$(dirname "$0")/../host-lib.sh"
#	hook_args "$@"
# and then has $cmd (start or check), $shm (the region file), $rundir (the
# run's folder: guest logs ROLE.log, recorded QEMU lines ROLE.cmd), $tool
# (ivntb-shm) and $runid (the run's id, in its QEMU names).

# hook_args CMD SHM RUNDIR TOOL: what launch.sh passes every hook
hook_args()
{
	cmd=$1 shm=$2 rundir=$3 tool=$4
	runid=$(basename "$rundir")
}

# guest_log ROLE: guest ROLE's serial log so far, without carriage returns
guest_log()
{
	{ tr -d '\r' <"$rundir/$1.log"; } 2>/dev/null
}

# wait_mark ROLE MAX NAME...: until guest ROLE printed a line
# "IVNTB-MARK NAME" for one of the NAMEs (the first in the list wins),
# which is printed; non-zero once the guest ended its test (IVNTB-DONE)
# without it, or MAX seconds passed (0: no limit; a guest on a debug
# kernel takes minutes to get there).
wait_mark()
{
	local role=$1 max=$2 t0=$SECONDS log n
	shift 2
	while [ "$max" = 0 ] || [ $((SECONDS - t0)) -lt "$max" ]; do
		log=$(guest_log "$role")
		for n in "$@"; do
			grep -qx "IVNTB-MARK $n" <<<"$log" && { echo "$n"; return 0; }
		done
		grep -q '^IVNTB-DONE' <<<"$log" && return 1
		sleep 0.1
	done
	return 1
}

# qemu_pid ROLE: the pid of guest ROLE's QEMU itself (not the timeout
# wrapping it); empty if it has none
qemu_pid()
{
	pgrep -f "^[^ ]*qemu-system[^ ]* -name ivntb-$runid-$1( |\$)" | head -1
}

# wait_guest_port [enabled]: until the guest's port 0 is claimed (with
# its link enabled, if asked) in the region, 120 s at most
wait_guest_port()
{
	local _
	for _ in $(seq 1200); do
		if [ "${1:-}" = enabled ]; then
			"$tool" dump "$shm" 2>/dev/null | grep -A1 '^port 0: CLAIMED' |
				grep -q 'link enabled' && return 0
		else
			"$tool" dump "$shm" 2>/dev/null | grep -q '^port 0: CLAIMED' && return 0
		fi
		sleep 0.1
	done
	return 1
}

# kill_guest ROLE: kill -9 guest ROLE's QEMU and wait until it is gone;
# prints its pid; non-zero if it had no QEMU
kill_guest()
{
	local pid
	pid=$(qemu_pid "$1")
	[ -n "$pid" ] || return 1
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	echo "$pid"
}

# restart_guest ROLE N: boot a killed guest ROLE again from its recorded
# command line (same region, same private link), in the background: a job
# of the hook's, which the launcher stops with it. Its serial log so far
# is kept as ROLE.crashN.log (launch.sh scans it too).
restart_guest()
{
	local sock
	# its datagram socket outlives a kill -9: remove it, or bind fails
	sock=$(grep -o 'local.path=[^,]*' "$rundir/$1.cmd" | head -1 | cut -d= -f2)
	[ -z "$sock" ] || rm -f "$sock"
	cp "$rundir/$1.log" "$rundir/$1.crash$2.log"
	eval "timeout -k 5 300 $(cat "$rundir/$1.cmd")" >"$rundir/$1.restart$2.qemu.log" 2>&1 &
}

# timeouts_within_stalls RUNDIR LOG...: a guest may time out a host peer
# (ivntb-shm peer) only when that peer's heartbeat really stood still past
# the link timeout: the guest's count of its timeouts of the host peer
# (its log line "# host-peer timeouts: N", printed by the guest test) must
# be no more than the stalls the host peers recorded themselves (their
# "heartbeat: B beats, S stalls over 80 ms, ..." lines in LOG...).
timeouts_within_stalls()
{
	local rundir=$1 t s
	shift
	t=$(cat "$rundir"/solo.log "$rundir"/a.log 2>/dev/null | tr -d '\r' |
		sed -n 's/^# host-peer timeouts: \([0-9][0-9]*\)$/\1/p' | tail -1)
	s=$(cat "$@" 2>/dev/null | awk '$1 == "heartbeat:" { s += $4; n++ } END { if (n) print s + 0 }')
	echo "host check: the guest timed the host peer out ${t:-?} times; the host peer recorded ${s:-?} stalls"
	[ -n "$t" ] && [ -n "$s" ] && [ "$t" -le "$s" ]
}
