# SPDX-License-Identifier: GPL-2.0
# Helpers for the host hooks (tests/guest/tests/NAME.host), sourced as
# . "$(dirname "$0")/../host-lib.sh".

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
