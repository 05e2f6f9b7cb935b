#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ivrsh (the guests' ssh stand-in) on the host, over 127.0.0.1: output,
# exit status, stderr apart from stdout, binary fidelity, connection errors.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$TOP/build/user}/ivrsh
mkdir -p "$B"
gcc -O2 -Wall -Wextra -Werror -o "$B/ivrsh" "$TOP/tests/guest/ivrsh.c" || exit 1
ln -sf ivrsh "$B/ssh"
port=$((20000 + $$ % 20000))
"$B/ivrsh" -d -p $port &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$B/tmp"' EXIT
mkdir -p "$B/tmp"
for _ in $(seq 50); do "$B/ssh" -p $port 127.0.0.1 true 2>/dev/null && break; sleep 0.1; done
S() { "$B/ssh" -p $port 127.0.0.1 "$@"; }

n=0 f=0
t() {
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
		f=$((f + 1)); echo "not ok $n - $1: expected '$2' got '$3'"; fi
}
echo "1..7"
t "output" "a b c" "$(S echo a b c)"
S 'exit 42'; t "exit status" 42 $?
S '[[ -e /nonexistent ]]'; t "[[ ]] status (bash)" 1 $?
head -c 1000000 /dev/urandom >"$B/tmp/in"
S cat "$B/tmp/in" >"$B/tmp/out"
t "binary stdout intact" "$(md5sum <"$B/tmp/in")" "$(md5sum <"$B/tmp/out")"
t "stderr apart from stdout" "out" "$(S 'echo out; echo err >&2' 2>/dev/null)"
S 'kill -9 $$'; t "killed command: 128+9" 137 $?
"$B/ssh" -p 1 127.0.0.1 true 2>/dev/null; t "no server: 255" 255 $?
echo "$((n - f)) passed, $f failed"
[ $f = 0 ]
