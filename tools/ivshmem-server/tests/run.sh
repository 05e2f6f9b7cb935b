#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Tests of ivntb-ivshmem-server: options and errors, the protocol (through
# tests/client.c), clients dying or misbehaving, churn with fd counts, fd
# exhaustion, signals and cleanup, --ntb supervision of a region (through
# ivntb-shm), daemon mode, an ASan build, deliberately broken servers that
# must be caught, and QEMU's ivshmem-doorbell if QEMU is installed. One line per check; last line "N passed, M failed"; exit 1 on
# any failure.
#
# Environment (set by the Makefile): O (build dir), SRC (source dir),
# QEMU (emulator binary; "none" skips the QEMU test).
set -u

O=${O:?}
SRC=${SRC:?}
QEMU=${QEMU:-qemu-system-riscv64}
SERVER=$O/ivntb-ivshmem-server
CLIENT=$O/tests/client
LOG=$O/tests/logs
ID=ivntb-test-$$
# sockets need short paths (108 bytes): a private folder under /tmp
W=$(mktemp -d "/tmp/$ID.XXXX")
rm -rf "$LOG"
mkdir -p "$LOG"

pass=0
fail=0
bg=()		# pids of the timeout(1) wrappers we started

cleanup() {
	local p c
	# our timeout(1) wrappers and what runs under them (by pid only)
	for p in "${bg[@]}"; do
		for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
			kill -9 "$c" 2>/dev/null
		done
		kill -9 "$p" 2>/dev/null
	done
	# servers from their pid files (the daemon), if the pid is still ours
	for p in "$W"/*.pid; do
		[ -f "$p" ] || continue
		c=$(cat "$p")
		grep -qa -- "$ID" "/proc/$c/cmdline" 2>/dev/null &&
			kill -9 "$c" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$W"
	rm -f /dev/shm/"$ID"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $1"; }
not_ok() {
	fail=$((fail + 1))
	echo "not ok $((pass + fail)) - $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 15 "$2" | sed 's/^/#   /'
}
check() { # check NAME LOG CMD...: ok if CMD succeeds
	local name=$1 log=$2
	shift 2
	if "$@"; then ok "$name"; else not_ok "$name" "$log"; fi
}

# tap NAME LOG CMD...: run a client, count its ok/not ok lines
tap() {
	local name=$1 log=$2 rc line
	shift 2
	"$@" >"$log" 2>&1
	rc=$?
	while read -r line; do
		ok "$name: ${line#ok * - }"
	done < <(grep -a '^ok ' "$log")
	while read -r line; do
		not_ok "$name: ${line#not ok * - }"
	done < <(grep -a '^not ok ' "$log")
	grep -a '^# [a-z]' "$log" | grep -v '^# client:' | sed "s/^/#   $name: /"
	if ! grep -aq '^# client: [0-9]* passed, [0-9]* failed$' "$log"; then
		not_ok "$name: client did not finish (exit $rc)" "$log"
	elif [ "$rc" -ne 0 ] && ! grep -aq '^not ok' "$log"; then
		not_ok "$name: client exited $rc" "$log"
	fi
}

wait_for() { # wait_for SECONDS CMD...: poll CMD every 50 ms
	local n=$(($1 * 20))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
absent() { [ ! -e "$1" ] && [ ! -L "$1" ]; }

# start NAME [BIN] -- ARGS...: run a server in the foreground (-F -v),
# log in $LOG/NAME.log, pid file $W/NAME.pid; sets SPID (the server) and
# TPID (its timeout wrapper). Returns 1 if it is not up within 5 s.
start() {
	local name=$1 bin=$SERVER
	shift
	if [ "$1" != -- ]; then bin=$1; shift; fi
	shift
	timeout 120 "$bin" -F -v -p "$W/$name.pid" "$@" \
		>"$LOG/$name.log" 2>&1 &
	TPID=$!
	bg+=("$TPID")
	SPID=
	wait_for 5 test -s "$W/$name.pid" || return 1
	SPID=$(cat "$W/$name.pid")
}
stop() { # stop SIGNAL: signal the server, wait for it; sets SRC_EXIT
	kill -"$1" "$SPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	SRC_EXIT=$?
}

# expect_fail NAME MESSAGE ARGS...: the server must exit non-zero at once
# and print MESSAGE on stderr.
expect_fail() {
	local name=$1 msg=$2 log=$LOG/opt-$((pass + fail)).log rc
	shift 2
	timeout 10 "$SERVER" "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q -- "$msg" "$log"; then
		ok "$name (exit $rc: $(head -1 "$log" | cut -c1-90))"
	else
		not_ok "$name: exit $rc, wanted non-zero and \"$msg\"" "$log"
	fi
}

echo "# server: $SERVER"

# ---- options and startup errors ----

timeout 5 "$SERVER" -h >"$LOG/help.log" 2>&1
check "-h prints usage and exits 0" "$LOG/help.log" \
	grep -q '^Usage: ivntb-ivshmem-server' "$LOG/help.log"
S=$W/o.sock
expect_fail "-l 3k refused" "power of two" -F -S "$S" -M "$ID-o" -l 3k
expect_fail "-l abc refused" "invalid size" -F -S "$S" -M "$ID-o" -l abc
expect_fail "-l 4X refused" "invalid size" -F -S "$S" -M "$ID-o" -l 4X
expect_fail "-l 0 refused" "power of two" -F -S "$S" -M "$ID-o" -l 0
expect_fail "-l 2T refused" "power of two" -F -S "$S" -M "$ID-o" -l 2T
expect_fail "-l 99999999999999999999 refused" "invalid size" -F -S "$S" \
	-M "$ID-o" -l 99999999999999999999
expect_fail "-n 65 refused" "invalid number of vectors" -F -S "$S" -n 65
expect_fail "-n -1 refused" "invalid number of vectors" -F -S "$S" -n -1
expect_fail "-P 0 refused" "invalid peer limit" -F -S "$S" -P 0
expect_fail "unknown option refused" "unknown option" -F -S "$S" -q
expect_fail "-v without -F refused (as QEMU's)" "cannot use verbose" -v -S "$S"
expect_fail "socket path too long refused" "too long" -F \
	-S "$W/$(printf 'x%.0s' {1..120})"
expect_fail "missing socket folder: clear error" \
	"cannot bind socket $W/nodir/s.sock: No such file or directory" \
	-F -S "$W/nodir/s.sock" -M "$ID-nodir"
check "... and the shm object it had created is removed" "" \
	absent "/dev/shm/$ID-nodir"
expect_fail "missing shm folder (-m): clear error" \
	"cannot create a file in $W/nodir" -F -S "$S" -m "$W/nodir"
check "... and no socket is left" "" absent "$S"
: >"$W/plain"
expect_fail "socket path is a regular file: refused" "is not a socket" \
	-F -S "$W/plain" -M "$ID-o"
check "... and the file is left alone" "" test -f "$W/plain"
: >"/dev/shm/$ID-exists"
expect_fail "-M object that exists: refused" "exists" -F -S "$S" \
	-M "$ID-exists"
check "... and the object is left alone" "" test -f "/dev/shm/$ID-exists"
rm -f "/dev/shm/$ID-exists"

# socket in use: a second server must refuse, the first one goes on
if start inuse -- -S "$W/u.sock" -M "$ID-u" -n 1; then
	expect_fail "socket in use by a running server: refused" "is in use" \
		-F -S "$W/u.sock" -M "$ID-u2"
	check "... the other server's socket, shm and process survive" \
		"$LOG/inuse.log" eval 'alive $SPID && test -S $W/u.sock &&
		test -e /dev/shm/$ID-u && absent /dev/shm/$ID-u2'
	tap inuse "$LOG/inuse-client.log" timeout 20 "$CLIENT" basic \
		"$W/u.sock" 1 $((4 << 20))
	stop TERM
else
	not_ok "server for the socket-in-use test did not start" "$LOG/inuse.log"
fi

# stale socket (bound, nobody listening): removed, the server starts
"$CLIENT" stale "$W/stale.sock"
if test -S "$W/stale.sock" && start stale -- -S "$W/stale.sock" \
	-M "$ID-st" -n 2 -l 64k; then
	check "stale socket file replaced" "$LOG/stale.log" \
		grep -q "removed stale socket" "$LOG/stale.log"
	tap stale "$LOG/stale-client.log" timeout 20 "$CLIENT" basic \
		"$W/stale.sock" 2 65536
	stop INT
else
	not_ok "server did not start over a stale socket" "$LOG/stale.log"
fi

# ---- the protocol ----

if start proto -- -S "$W/p.sock" -M "$ID-p" -l 1M -n 3 -P 8 -T 1000; then
	tap proto "$LOG/proto-client.log" timeout 50 "$CLIENT" proto \
		"$W/p.sock" "$SPID" 3 $((1 << 20)) 8
	check "server log: stuck client dropped after -T 1000" \
		"$LOG/proto.log" grep -q "read nothing for 1000 ms" \
		"$LOG/proto.log"
	check "server log: garbage sender dropped" "$LOG/proto.log" \
		grep -q "unexpected bytes: dropped" "$LOG/proto.log"
	check "server log: peer limit hit" "$LOG/proto.log" \
		grep -q "connection refused: 8 peers already" "$LOG/proto.log"
	stop TERM
	check "SIGTERM: exit 0; socket, pid file and shm object removed" \
		"$LOG/proto.log" eval '[ $SRC_EXIT = 0 ] && absent $W/p.sock &&
		absent $W/proto.pid && absent /dev/shm/$ID-p'
else
	not_ok "protocol server did not start" "$LOG/proto.log"
fi

# -n 0 (no eventfds), file-backed shm (-m), SIGINT
mkdir -p "$W/shm"
if start zero -- -S "$W/z.sock" -m "$W/shm" -l 4k -n 0; then
	check "-m DIR: the shm file is created in DIR" "$LOG/zero.log" \
		eval 'ls $W/shm/ivshmem.* >/dev/null 2>&1'
	tap "-n 0" "$LOG/zero-client.log" timeout 20 "$CLIENT" basic \
		"$W/z.sock" 0 4096
	stop INT
	check "SIGINT: exit 0; socket, pid file and shm file removed" \
		"$LOG/zero.log" eval '[ $SRC_EXIT = 0 ] && absent $W/z.sock &&
		absent $W/zero.pid && ! ls $W/shm/ivshmem.* >/dev/null 2>&1'
else
	not_ok "-n 0 server did not start" "$LOG/zero.log"
fi

# -k keeps the shm; a big sparse one
if start keep -- -S "$W/k.sock" -m "$W/shm" -l 256M -n 1 -k; then
	tap "-l 256M" "$LOG/keep-client.log" timeout 20 "$CLIENT" basic \
		"$W/k.sock" 1 $((256 << 20))
	stop TERM
	check "-k: shm file kept, socket and pid file removed" \
		"$LOG/keep.log" eval '[ $SRC_EXIT = 0 ] && absent $W/k.sock &&
		absent $W/keep.pid && ls $W/shm/ivshmem.* >/dev/null 2>&1'
	rm -f "$W"/shm/ivshmem.*
else
	not_ok "-k server did not start" "$LOG/keep.log"
fi

# ---- --ntb: supervising an ivshmem-ntb region (docs/protocol.md 3.8) ----
# The server creates the shm object; ivntb-shm then initialises a region
# in it and claims ports, publishing a doorbell ID as a guest does (the
# claims stay, as a dead guest's do). Watch clients (client.c watch) log
# the rings of their own vectors, joins and leaves.

SHMCLI=$O/tests/ivntb-shm
# ntb_ports FILE: one line "PORT EPOCH SEQ GONE" per port, from a dump
ntb_ports() {
	"$SHMCLI" dump "$1" 2>/dev/null | awk '
		/^port [0-9]+:/ { p = $2 + 0; ep[p] = $5; sq[p] = "?"
			g[p] = 0; n = p + 1 }
		/^  db / { for (i = 1; i < NF; i++) if ($i == "seq") sq[p] = $(i + 1)
			if (match($0, /gone\(epoch [0-9]+\)/))
				g[p] = substr($0, RSTART + 11, RLENGTH - 12) }
		END { for (i = 0; i < n; i++) print i, ep[i], sq[i], g[i] }'
}
ntb_get() { # ntb_get FILE PORT epoch|seq|gone
	ntb_ports "$1" | awk -v p="$2" -v f="$3" \
		'$1 == p { print f == "epoch" ? $2 : f == "seq" ? $3 : $4 }'
}
sup_line() { "$SHMCLI" dump "$1" 2>/dev/null | grep '^supervisor:'; }
# watcher NAME SOCK: a watch client (2 vectors, 1M), log $LOG/NAME.log;
# sets WID (its peer ID) and WPID (the client). 1 if it did not join.
watcher() {
	timeout 60 "$CLIENT" watch "$2" 2 $((1 << 20)) 50 >"$LOG/$1.log" 2>&1 &
	WTPID=$!
	bg+=("$WTPID")
	disown "$WTPID"	# no "Killed" notice from bash after kill -9
	WID=
	WPID=
	wait_for 5 grep -q '^# id ' "$LOG/$1.log" || return 1
	WID=$(sed -n 's/^# id //p' "$LOG/$1.log")
	WPID=$(ps -o pid= --ppid "$WTPID" | tr -d ' ')
	[ -n "$WPID" ]
}
rings() { grep -c "^# rang vector ${2:-[0-9]}" "$LOG/$1.log"; }
# seqs_moved BEFORE AFTER P: from two ntb_ports lists, every port's seq
# is up by exactly 1 but P's, which is unchanged
seqs_moved() {
	awk -v b="$1" -v a="$2" -v me="$3" 'BEGIN {
		n = split(b, x, " "); split(a, y, " ")
		if (n < 8 || n % 4) exit 1
		for (i = 0; i < n; i += 4)
			if (x[i + 3] != y[i + 3] - (x[i + 1] == me ? 0 : 1) ||
			    x[i + 3] !~ /^[0-9]+$/) exit 1 }'
}

NF=/dev/shm/$ID-n
if start ntb -- -S "$W/n.sock" -M "$ID-n" -l 1M -n 2 -k --ntb; then
	"$SHMCLI" init "$NF" --size 1M --ports 3 >"$LOG/ntb-init.log" 2>&1
	check "ntb: ivntb-shm init of a 3-port region in the server's shm" \
		"$LOG/ntb-init.log" grep -q '^initialised' "$LOG/ntb-init.log"
	check "ntb: no supervisor announced before a peer joins" "" \
		eval '[ -z "$(sup_line $NF)" ]'
	if watcher ntb-a "$W/n.sock" && a=$WID apid=$WPID &&
		watcher ntb-b "$W/n.sock"; then
		b=$WID
		check "ntb: peers $a and $b joined: supervisor line says present" \
			"$LOG/ntb.log" wait_for 5 eval \
			'[ "$(sup_line $NF)" = "supervisor: present" ]'
		check "ntb: server log: supervising the region (3 ports)" \
			"$LOG/ntb.log" grep -q \
			"supervising the ivshmem-ntb region (3 ports)" "$LOG/ntb.log"
		# port 0 owned by peer a, 1 by b, 2 by an ID nobody has
		: >"$LOG/ntb-peer.log"
		for spec in "0 $a" "1 $b" "2 77"; do
			set -- $spec
			"$SHMCLI" peer "$NF" --port "$1" --doorbell-id "$2" \
				--crash >>"$LOG/ntb-peer.log" 2>&1
		done
		check "ntb: ports 0, 1, 2 claimed by owners of doorbell IDs $a, $b, 77 (dump: dev_id $((a + 1)), $((b + 1)), 78)" \
			"$LOG/ntb-peer.log" eval '"$SHMCLI" dump $NF |
			grep -o "dev_id [0-9]*" | tr "\n" " " |
			grep -qx "dev_id $((a + 1)) dev_id $((b + 1)) dev_id 78 "'
		before=$(ntb_ports "$NF" | tr '\n' ' ')
		ep0=$(ntb_get "$NF" 0 epoch)
		kill -9 "$apid"
		check "ntb: kill -9 of peer $a: port 0 marked gone with its epoch ($ep0)" \
			"$LOG/ntb.log" wait_for 5 eval \
			'[ "$(ntb_get $NF 0 gone)" = "$ep0" ] && [ "$ep0" != 0 ]'
		after=$(ntb_ports "$NF" | tr '\n' ' ')
		echo "#   ports (port epoch seq gone) before: $before"
		echo "#                               after:  $after"
		check "ntb: ... ports 1 and 2 (owners $b and 77) not marked" "" \
			eval '[ "$(ntb_get $NF 1 gone)" = 0 ] &&
			[ "$(ntb_get $NF 2 gone)" = 0 ]'
		check "ntb: ... event counters of ports 1 and 2 up by 1, port 0's unchanged" \
			"" seqs_moved "$before" "$after" 0
		check "ntb: ... peer $b rung on vector 0 (once), not on vector 1" \
			"$LOG/ntb-b.log" eval 'wait_for 5 grep -q "^# left $a\$" \
			$LOG/ntb-b.log && [ $(rings ntb-b 0) = 1 ] &&
			[ $(rings ntb-b 1) = 0 ]'
		check "ntb: ... server log: peer $a's port marked gone, peers rung" \
			"$LOG/ntb.log" grep -q "peer $a: its port marked gone, 1 peers rung" \
			"$LOG/ntb.log"
		# a peer that owns no port leaves: nothing marked, nobody rung
		if watcher ntb-c "$W/n.sock"; then
			c=$WID
			before=$(ntb_ports "$NF")
			nr=$(rings ntb-b)
			kill -9 "$WPID"
			check "ntb: kill -9 of peer $c (owns no port): $b told of the leave" \
				"$LOG/ntb-b.log" wait_for 5 grep -q "^# left $c\$" \
				"$LOG/ntb-b.log"
			check "ntb: ... no port marked, no counter moved, $b not rung" \
				"$LOG/ntb.log" eval '[ "$(ntb_ports $NF)" = "$before" ] &&
				[ $(rings ntb-b) = $nr ] &&
				! grep -q "peer $c: its port" $LOG/ntb.log'
		else
			not_ok "ntb: third watch client did not join" "$LOG/ntb-c.log"
		fi
	else
		not_ok "ntb: watch clients did not join" "$LOG/ntb-a.log"
	fi
	stop TERM
	check "ntb: SIGTERM: exit 0, supervisor line cleared (region kept by -k, still valid)" \
		"$LOG/ntb.log" eval '[ $SRC_EXIT = 0 ] && test -f $NF &&
		"$SHMCLI" check $NF >/dev/null && [ -z "$(sup_line $NF)" ]'
	rm -f "$NF"
else
	not_ok "ntb: server did not start" "$LOG/ntb.log"
fi

# --ntb on memory that is no region: a plain doorbell server that writes
# nothing there. "magic": a region with port 0 owned by doorbell ID 0 (the
# first peer's) and port 1 by ID 1, then its magic overwritten.
for kind in blank magic; do
	F=/dev/shm/$ID-n$kind
	if ! start "ntb-$kind" -- -S "$W/n$kind.sock" -M "$ID-n$kind" -l 1M \
		-n 2 -k --ntb; then
		not_ok "ntb, $kind: server did not start" "$LOG/ntb-$kind.log"
		continue
	fi
	if [ $kind = magic ]; then
		{ "$SHMCLI" init "$F" --size 1M --ports 2 &&
		"$SHMCLI" peer "$F" --port 0 --doorbell-id 0 --crash &&
		"$SHMCLI" peer "$F" --port 1 --doorbell-id 1 --crash &&
		"$SHMCLI" scribble "$F" --offset 0 --value 0x4141414141414141
		} >"$LOG/ntb-magic-setup.log" 2>&1
		check "ntb, magic: region set up, then its magic overwritten" \
			"$LOG/ntb-magic-setup.log" eval '"$SHMCLI" dump $F 2>&1 |
			grep -q "^magic: .*(not ivntb)"'
	fi
	cp "$F" "$W/n$kind.before"
	if watcher "ntb-$kind-x" "$W/n$kind.sock" && x=$WID &&
		xpid=$WPID && watcher "ntb-$kind-y" "$W/n$kind.sock"; then
		y=$WID
		kill -9 "$xpid"
		check "ntb, $kind: plain doorbell server: $y told of $x's leave" \
			"$LOG/ntb-$kind-y.log" wait_for 5 grep -q "^# left $x\$" \
			"$LOG/ntb-$kind-y.log"
		[ $kind = magic ] && check "ntb, magic: the peer killed, $x, is the one port 0's owner named" "" [ "$x" = 0 ]
		check "ntb, $kind: ... $y not rung; server log: no supervision" \
			"$LOG/ntb-$kind.log" eval '[ $(rings ntb-$kind-y) = 0 ] &&
			grep -q "peer $x left" $LOG/ntb-$kind.log &&
			! grep -q "supervising\|marked gone" $LOG/ntb-$kind.log'
		# now, while it runs (on exit it would clear what it wrote)
		check "ntb, $kind: ... shared memory byte for byte as before the peers came" \
			"$LOG/ntb-$kind-cmp.log" eval 'cmp $F $W/n$kind.before \
			>$LOG/ntb-$kind-cmp.log 2>&1'
	else
		not_ok "ntb, $kind: watch clients did not join" \
			"$LOG/ntb-$kind-x.log"
	fi
	stop TERM
	check "ntb, $kind: exit 0; shared memory still as before" \
		"$LOG/ntb-$kind-cmp.log" eval '[ $SRC_EXIT = 0 ] &&
		cmp $F $W/n$kind.before >$LOG/ntb-$kind-cmp.log 2>&1'
	rm -f "$F" "$W/n$kind.before"
done

# ---- daemon mode ----

t0=$(date +%s%N)
out=$(timeout 10 "$SERVER" -S "$W/d.sock" -M "$ID-d" -n 2 -p "$W/d.pid" 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
dpid=$(cat "$W/d.pid" 2>/dev/null)
if [ $rc = 0 ] && [ -n "$dpid" ] && alive "$dpid" && test -S "$W/d.sock"; then
	ok "daemon: returns 0 in $ms ms with the pid file written and the socket up"
	check "daemon: own session, stdio detached, not our child" "" \
		eval '[ "$(ps -o sid= -p $dpid | tr -d " ")" = "$dpid" ] &&
		[ -z "$out" ] &&
		[ "$(readlink /proc/$dpid/fd/1)" = /dev/null ] &&
		[ "$(ps -o ppid= -p $dpid | tr -d " ")" != $$ ]'
	tap daemon "$LOG/daemon-client.log" timeout 20 "$CLIENT" basic \
		"$W/d.sock" 2 $((4 << 20))
	kill -TERM "$dpid"
	check "daemon: SIGTERM removes socket, pid file and shm object" "" \
		eval 'wait_for 5 dead $dpid && absent $W/d.sock &&
		absent $W/d.pid && absent /dev/shm/$ID-d'
else
	not_ok "daemon: exit $rc, pid '$dpid', output: $out"
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
fi
expect_fail "daemon: startup error reported before detaching" \
	"cannot bind socket" -S "$W/nodir/d.sock" -M "$ID-d2"
expect_fail "daemon: unwritable pid file reported, exit non-zero" \
	"cannot write pid file" -S "$W/d3.sock" -M "$ID-d3" -p "$W/nodir/d.pid"
check "... and it cleaned up after itself" "" \
	eval 'absent $W/d3.sock && absent /dev/shm/$ID-d3'

# ---- fd exhaustion ----
# base fds: stdin/out/err, signalfd, shm, listener, reserve = 7.
# -n 2, 32 fds: 8 peers use 31; the 9th cannot get its eventfds.
# -n 1, 31 fds: 12 peers use 31; the 13th cannot even be accepted.
for spec in "2 32 cannot create eventfd" "1 31 connection refused: Too many"; do
	set -- $spec
	nv=$1 lim=$2
	shift 2
	what="$*"
	# close inherited fds (make's jobserver...) so the count is exact
	timeout 60 bash -c 'for f in /proc/$$/fd/*; do f=${f##*/}
		[ "$f" -gt 2 ] && eval "exec $f>&-"; done
		ulimit -n '"$lim"' && exec "$@"' _ "$SERVER" -F -v \
		-p "$W/fd$nv.pid" -S "$W/f$nv.sock" -M "$ID-f$nv" -n "$nv" -l 1M \
		>"$LOG/fd$nv.log" 2>&1 &
	TPID=$!
	bg+=("$TPID")
	if wait_for 5 test -s "$W/fd$nv.pid"; then
		SPID=$(cat "$W/fd$nv.pid")
		tap "fds $lim, -n $nv" "$LOG/fd$nv-client.log" timeout 30 \
			"$CLIENT" fdlimit "$W/f$nv.sock" "$SPID" "$nv"
		check "fds $lim, -n $nv: server log says \"$what\"" \
			"$LOG/fd$nv.log" grep -q "$what" "$LOG/fd$nv.log"
		stop TERM
		check "fds $lim, -n $nv: clean exit" "$LOG/fd$nv.log" \
			eval '[ $SRC_EXIT = 0 ] && absent $W/f$nv.sock'
	else
		not_ok "fd-limited server did not start" "$LOG/fd$nv.log"
	fi
done

# ---- the protocol against an ASan/UBSan build ----

ASAN_BIN=$O/tests/ivntb-ivshmem-server-asan
if start asan "$ASAN_BIN" -- -S "$W/a.sock" -M "$ID-a" -l 1M -n 3 -P 8 \
	-T 1000; then
	tap asan "$LOG/asan-client.log" timeout 50 "$CLIENT" proto \
		"$W/a.sock" "$SPID" 3 $((1 << 20)) 8
	stop TERM
	check "asan: exit 0, no sanitizer report" "$LOG/asan.log" \
		eval '[ $SRC_EXIT = 0 ] && ! grep -q "Sanitizer\|runtime error" $LOG/asan.log'
else
	not_ok "ASan server did not start" "$LOG/asan.log"
fi

# ---- deliberately broken servers: the tests must catch each ----

for m in 1 2 3; do
	case $m in
	1) what="no leave announcements" ;;
	2) what="eventfds announced in the wrong vector order" ;;
	3) what="clients that never read are kept forever" ;;
	esac
	if start "mutant$m" "$O/tests/mutant-$m" -- -S "$W/m$m.sock" \
		-M "$ID-m$m" -l 1M -n 3 -P 8 -T 1000; then
		CLIENT_FAILFAST=1 timeout 50 "$CLIENT" proto "$W/m$m.sock" \
			"$SPID" 3 $((1 << 20)) 8 >"$LOG/mutant$m-client.log" 2>&1
		rc=$?
		first=$(grep -m1 '^not ok' "$LOG/mutant$m-client.log")
		if [ $rc = 1 ] && [ -n "$first" ]; then
			ok "broken server ($what) caught: ${first#not ok }"
		else
			not_ok "broken server ($what) NOT caught (exit $rc)" \
				"$LOG/mutant$m-client.log"
		fi
		stop KILL
		rm -f "/dev/shm/$ID-m$m" "$W/m$m.sock" "$W/mutant$m.pid"
	else
		not_ok "mutant $m did not start" "$LOG/mutant$m.log"
	fi
done

# ---- QEMU's ivshmem-doorbell ----

qemu_run() { # qemu_run LOG SOCK: a paused riscv64 virt machine, no kernel
	timeout 60 "$QEMU" -M virt -display none -nodefaults -S \
		-chardev socket,path="$2",id=ivsh \
		-device ivshmem-doorbell,chardev=ivsh,vectors=2 >"$1" 2>&1 &
	QPID=$!
	bg+=("$QPID")
	disown "$QPID"	# no "Killed" notice from bash after kill -9
}
qemu_child() { ps -o pid= --ppid "$1" | tr -d ' '; }

if [ "$QEMU" = none ] || ! command -v "$QEMU" >/dev/null; then
	echo "# skip: QEMU ($QEMU) not installed"
elif start qemu -- -S "$W/q.sock" -M "$ID-q" -l 4M -n 2 -P 8; then
	echo "# $("$QEMU" --version | head -1)"
	qemu_run "$LOG/qemu1.log" "$W/q.sock"
	q1=$QPID
	check "qemu: first QEMU did the handshake (server: peer 0 joined)" \
		"$LOG/qemu1.log" wait_for 20 grep -q "peer 0 joined" "$LOG/qemu.log"
	qemu_run "$LOG/qemu2.log" "$W/q.sock"
	q2=$QPID
	check "qemu: second QEMU did the handshake (server: peer 1 joined, 2 peers)" \
		"$LOG/qemu2.log" wait_for 20 grep -q "peer 1 joined (2 peers)" \
		"$LOG/qemu.log"
	sleep 1
	check "qemu: both QEMUs still running after realize" "$LOG/qemu2.log" \
		eval 'alive $q1 && alive $q2 && ! grep -q . $LOG/qemu1.log $LOG/qemu2.log'
	timeout 30 "$CLIENT" qemu "$W/q.sock" 2 2 $((4 << 20)) 20 \
		>"$LOG/qemu-client.log" 2>&1 &
	cpid=$!
	bg+=("$cpid")
	if wait_for 15 grep -q "waiting for leaves" "$LOG/qemu-client.log"; then
		kill -TERM "$q1"	# timeout(1) passes SIGTERM on to QEMU
		check "qemu: SIGTERM to QEMU 1: its leave (peer 0) reaches the client" \
			"$LOG/qemu-client.log" wait_for 10 grep -q "^# left 0" \
			"$LOG/qemu-client.log"
		check "qemu: QEMU 2 unaffected" "$LOG/qemu2.log" alive "$q2"
		qc=$(qemu_child "$q2")
		[ -n "$qc" ] && kill -9 "$qc"
		check "qemu: kill -9 of QEMU 2: its leave (peer 1) reaches the client" \
			"$LOG/qemu-client.log" wait_for 10 grep -q "^# left 1" \
			"$LOG/qemu-client.log"
		wait_for 10 dead "$q1"
		wait_for 10 dead "$q2"
	else
		not_ok "qemu: the test client did not get going" "$LOG/qemu-client.log"
	fi
	wait "$cpid"
	tap qemu "$LOG/qemu-client.tap" cat "$LOG/qemu-client.log"
	check "qemu: server saw both leave" "$LOG/qemu.log" \
		eval 'grep -q "peer 0 left" $LOG/qemu.log &&
		grep -q "peer 1 left" $LOG/qemu.log'
	stop TERM
	check "qemu: server exit 0, everything removed" "$LOG/qemu.log" \
		eval '[ $SRC_EXIT = 0 ] && absent $W/q.sock && absent /dev/shm/$ID-q'

	# negative control: a server sending protocol version 1 must make
	# QEMU fail at realize, so "still running" above means something
	timeout 30 "$CLIENT" fakeserver "$W/fake.sock" 1 >"$LOG/fake.log" 2>&1 &
	fpid=$!
	bg+=("$fpid")
	wait_for 5 test -S "$W/fake.sock"
	timeout 30 "$QEMU" -M virt -display none -nodefaults -S \
		-chardev socket,path="$W/fake.sock",id=ivsh \
		-device ivshmem-doorbell,chardev=ivsh,vectors=2 \
		>"$LOG/qemu-fake.log" 2>&1
	rc=$?
	check "qemu: against a server sending version 1, QEMU exits $rc: $(head -1 "$LOG/qemu-fake.log" | sed 's/.*: //')" \
		"$LOG/qemu-fake.log" eval '[ $rc = 1 ] &&
		grep -q "server sent version 1, expecting 0" $LOG/qemu-fake.log'
	kill "$fpid" 2>/dev/null
else
	not_ok "qemu: server did not start" "$LOG/qemu.log"
fi

# nothing of ours left behind
wait 2>/dev/null
left=$(ls /dev/shm | grep -c "^$ID-")
check "no shm object of this run left in /dev/shm" "" [ "$left" = 0 ]
check "no server process of this run left" "" \
	eval '! pgrep -f -- "-M $ID-" >/dev/null'

echo "$pass passed, $fail failed"
[ $fail = 0 ]
