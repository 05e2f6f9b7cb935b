#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The crash tests' judge (crash_flaps in tests/guest/lib-ntb.sh) on
# traces of the driver's events: one crash is one silent down; a stop of
# either guest before the kill may add a flap, which must be explained by
# the trace (a silent down then an up: the peer stopped and ran again; a
# gone down right after our own absence); any other extra change fails.
# The first accepted trace is the soak's failure of 2026-12-02
# (link_changes 57 -> 60 in one cycle of 50).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
IVNTB_ROLE=solo . "$TOP/tests/guest/lib-ntb.sh"

# trace NAME EVENT...: a trace file in the kernel's format, one line per
# event: silent, gone (a peer_down of that reason), up, down (ivshm_link),
# away (ivshm_away)
trace()
{
	local f=$W/$1 e t=100
	shift
	echo "# tracer: nop" >"$f"
	for e in "$@"; do
		t=$((t + 1))
		case "$e" in
		silent|gone) printf '  kworker/0:1-31 [000] ..... %d.000100: ivshm_peer_down: port=0 peer_port=1 reason=%s hb_still_us=90000 watched_us=90000\n' $t "$e" ;;
		up) printf '  kworker/0:1-31 [000] ..... %d.000200: ivshm_link: port=0 peers_up=0x1 was=0x0 up\n' $t ;;
		down) printf '  kworker/0:1-31 [000] ..... %d.000200: ivshm_link: port=0 peers_up=0x0 was=0x1 down\n' $t ;;
		away) printf '  <idle>-0 [001] d.h1. %d.000050: ivshm_away: port=0 gap_us=120000\n' $t ;;
		esac
	done >>"$f"
	echo "$f"
}
n=0 f=0
# accepts CHANGES TRACE DESCRIPTION / rejects ...
accepts()
{
	n=$((n + 1))
	if crash_flaps "$1" "$2"; then echo "ok $n - accepts: $3$CRASH_NOTE"
	else f=$((f + 1)); echo "not ok $n - accepts: $3"; echo "# $CRASH_WHY"; fi
}
rejects()
{
	n=$((n + 1))
	if crash_flaps "$1" "$2"; then f=$((f + 1)); echo "not ok $n - rejects: $3"
	else echo "ok $n - rejects: $3 ($CRASH_WHY)"; fi
}

echo "1..10"
accepts 1 "$(trace one silent down)" "one crash, one silent down"
accepts 3 "$(trace soak silent down up silent down)" "b stopped before the kill (the soak's 57 -> 60)"
accepts 3 "$(trace away away gone down up silent down)" "we were away, b timed us out, then the kill"
accepts 5 "$(trace two silent down up silent down up silent down)" "b stopped twice before the kill"
rejects 3 "$(trace gone gone down up silent down)" "a gone flap with no absence of ours"
rejects 1 "$(trace lastgone gone down)" "the last down is not b falling silent"
rejects 2 "$(trace even silent down up)" "the link is up again"
rejects 3 "$(trace short silent down)" "three changes, one traced"
rejects 3 "$(trace noup silent down silent down silent down)" "two downs in a row"
rejects 5 "$(trace stale away silent down up gone down up silent down)" "one absence explains one gone flap, not the next"
echo "$((n - f)) passed, $f failed"
[ $f = 0 ]
