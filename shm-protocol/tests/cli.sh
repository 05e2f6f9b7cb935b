#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
#
# cli.sh IVNTB_SHM - end-to-end tests of the ivntb-shm tool on /dev/shm
# files. Prints "ok - ..." / "not ok - ..." lines.
set -u
C=${1:?usage: cli.sh path/to/ivntb-shm}
D=$(mktemp -d /dev/shm/ivntb-cli.XXXXXX)
F=$D/region
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT

failed=0
check() {	# check NAME COMMAND... : passes when COMMAND succeeds
	local name=$1
	shift
	if "$@"; then
		echo "ok - $name"
	else
		echo "not ok - $name"
		failed=1
	fi
}
status_is() {	# status_is WANT COMMAND...
	local want=$1 rc
	shift
	"$@" >"$D/out" 2>&1
	rc=$?
	[ "$rc" = "$want" ] || { echo "# status $rc, wanted $want: $*"; cat "$D/out"; return 1; }
}
wait_for() {	# wait_for FILE PATTERN [tenths]
	local i
	for ((i = 0; i < ${3:-50}; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# no '$2' in $1:"; cat "$1"
	return 1
}

check "init 4M region" status_is 0 "$C" init "$F" --size 4M --nonce 7
check "check: valid" status_is 0 "$C" check "$F"
check "dump decodes ports and windows" \
	bash -c "'$C' dump '$F' | grep -q 'port 1: FREE epoch 0' && '$C' dump '$F' | grep -q '1 <- 0, 1: 0x00200000 0x00080000'"
check "init rejects bad geometry" status_is 1 "$C" init "$D/bad" --size 4M --ports 9
check "init refuses to shrink an existing file" status_is 1 "$C" init "$F" --size 2M
check "region file kept its size" test "$(stat -c %s "$F")" = 4194304
check "init: 8 ports, 64 spads, 8 msgs, 4 mws" \
	status_is 0 "$C" init "$D/big" --size 8M --ports 8 --spads 64 --msgs 8 --mws 4
check "init --mws ports: 3 ports get 3 windows per pair (ntb_perf on a switch)" \
	bash -c "'$C' init '$D/perf3' --size 4M --ports 3 --mws ports | grep -q '3 ports, 16 spads, 4 msgs, 3 mws of 131072 bytes'"
check "init --mws ports: 5 ports refused with the reason, no file made" \
	bash -c "out=\$('$C' init '$D/perf5' --size 4M --ports 5 --mws ports 2>&1); [ \$? = 1 ] && grep -q 'at most 4 fit' <<<\"\$out\" && [ ! -e '$D/perf5' ]"

# Foreign and blank regions are never touched.
printf 'LOOKINGGLASS-FRAME-DATA' >"$D/foreign"
truncate -s 4M "$D/foreign"
cp "$D/foreign" "$D/foreign.orig"
check "check: foreign magic -> ENODEV, status 2" \
	bash -c "'$C' check '$D/foreign' | grep -q ENODEV; [ \${PIPESTATUS[0]} = 2 ]"
check "init refuses a foreign region (status 2)" status_is 2 "$C" init "$D/foreign" --size 4M
check "peer refuses a foreign region (status 2)" status_is 2 "$C" peer "$D/foreign"
check "foreign region left byte-identical" cmp -s "$D/foreign" "$D/foreign.orig"
truncate -s 4M "$D/blank"
check "check: blank region -> ENODATA" bash -c "'$C' check '$D/blank' | grep -q ENODATA"

# An echo peer on port 1; port 0 rings, sends, pings.
"$C" peer "$F" --port 1 --echo --quiet --duration 20 --hb-ms 20 >"$D/echo.log" 2>&1 &
pids+=($!)
echo_pid=$!
check "echo peer claims port 1" wait_for "$D/echo.log" "claimed port 1 epoch 1"
check "port 1 busy -> status 3" status_is 3 "$C" peer "$F" --port 1
"$C" peer "$F" --port 0 --wait-link 5 --ring 1:0x10 --msg 1:2=0xabcd \
	--spad 1:3=0x1234 --count 2 --duration 5 >"$D/p0.log" 2>&1
rc=$?
check "peer 0 exits 0 after its echoes" test "$rc" = 0
check "doorbell echoed" grep -q '^db 0x0000000000000010' "$D/p0.log"
check "message echoed with its source" grep -q '^msg 2 src 1 data 0x0000abcd' "$D/p0.log"
check "link up seen" grep -q '^link 1 up epoch 1' "$D/p0.log"
check "peer spad written" bash -c "'$C' dump '$F' | grep -A3 '^port 1:' | grep -q 00001234"
check "ping 200 round trips" \
	bash -c "'$C' peer '$F' --port 0 --wait-link 5 --ping 200 | grep -q '^ping 200: p50'"

# Clean detach on SIGTERM.
kill -TERM "$echo_pid"
wait "$echo_pid"
rc=$?
check "echo peer exits 0 on SIGTERM" test "$rc" = 0
check "port 1 released (FREE, epoch kept)" \
	bash -c "'$C' dump '$F' | grep -q '^port 1: FREE epoch 1'"

# Crash (no release), then takeover after the heartbeat stopped.
check "crashing peer exits without release" status_is 0 "$C" peer "$F" --port 1 --crash
check "crashed port still CLAIMED" bash -c "'$C' dump '$F' | grep -q '^port 1: CLAIMED epoch 2'"
check "claim of the stale port without takeover -> 3" status_is 3 "$C" peer "$F" --port 1
check "takeover of the stale port" \
	bash -c "'$C' peer '$F' --port 1 --takeover-ms 300 | grep -q 'took over port 1 (stale epoch 2)'"
check "port 1 FREE at epoch 3 after the taker released" \
	bash -c "'$C' dump '$F' | grep -q '^port 1: FREE epoch 3'"

# An owner whose claim is stolen learns it (status 6).
"$C" peer "$F" --port 1 --listen --hb-ms 10 --duration 10 >"$D/victim.log" 2>&1 &
victim=$!
pids+=($victim)
wait_for "$D/victim.log" "claimed port 1" >/dev/null
"$C" scribble "$F" --offset $((0x1200)) --value 0x0000000900000001
wait "$victim"
rc=$?
check "owner whose claim was overwritten exits 6" test "$rc" = 6

# Version mismatch and hostile scribbles.
cp "$F" "$D/v2"
"$C" scribble "$D/v2" --offset 8 --width 2 --value 2
check "major version 2 -> EPROTO, status 2" \
	bash -c "'$C' check '$D/v2' | grep -q EPROTO; [ \${PIPESTATUS[0]} = 2 ]"
check "peer refuses major version 2" status_is 2 "$C" peer "$D/v2"
crashes=0
for seed in 1 2 3 4 5 6 7 8; do
	cp "$F" "$D/h"
	"$C" scribble "$D/h" --random 300 --seed $seed --from 4096 --to 12288
	"$C" dump "$D/h" --raw >/dev/null 2>&1
	[ $? -ge 128 ] && crashes=$((crashes + 1))
	timeout 5 "$C" peer "$D/h" --listen --duration 0 >/dev/null 2>&1
	[ $? -ge 124 ] && crashes=$((crashes + 1))
done
check "hostile port slots: dump and peer never crash or hang" test "$crashes" = 0

# Protocol 1.2 link generations (a fresh region): a peer that bounces its
# link within microseconds is seen going down (and up) through its
# link_gen alone.
"$C" init "$D/gen" --size 1M >/dev/null
"$C" peer "$D/gen" --port 1 --listen --duration 10 >"$D/watch.log" 2>&1 &
watch_pid=$!
pids+=("$watch_pid")
check "bouncing peer: 3 bounces" \
	bash -c "'$C' peer '$D/gen' --port 0 --wait-link 5 --bounce 3 --bounce-ms 100 --duration 1 | grep -q '^bounce 3\$'"
kill -TERM "$watch_pid"
wait "$watch_pid"
# (a bouncer descheduled between its disable and enable shows as a plain
# down: count every down, 3 bounces and the final release)
check "the watcher saw each bounce as a link down and up" \
	test "$(grep -c '^link 0 down' "$D/watch.log") $(grep -c '^link 0 up' "$D/watch.log")" = "4 4"
check "the watcher saw link generations" \
	grep -q '^link 0 down (peer link generation [123])$' "$D/watch.log"
check "the bouncer's generation toward port 1 is 3 in the dump" \
	bash -c "'$C' dump '$D/gen' | grep -A3 '^port 0:' | grep -q '^  link_gen: 0 3 '"

# pools / dtb: the device tree of the DMA pools over each port's inbound
# windows (docs/windows.md), read from the region itself.
"$C" init "$D/pools" --size 4M --ports 3 >/dev/null
"$C" pools "$D/pools" --ndev 2 >"$D/pools.dts"
check "pools: one shared-dma-pool per device and port (2 x 3)" \
	test "$(grep -c 'compatible = "shared-dma-pool"' "$D/pools.dts")" = 6
# each pool spans exactly that port's inbound windows, at BAR base +
# device * region size + the lowest window's offset
pools_match() {
	local p dst arrow src w off size lo hi
	for p in 0 1 2; do
		lo= hi=0
		while read -r dst arrow src w off size; do
			[ "$arrow" = "<-" ] && [ "$dst" = "$p" ] || continue
			{ [ -z "$lo" ] || (( off < lo )); } && lo=$((off))
			(( off + size > hi )) && hi=$((off + size))
		done < <("$C" dump "$D/pools")
		[ -n "$lo" ] || { echo "# port $p: no windows in the dump"; return 1; }
		grep -q "^ivntb_pool_1_$p: ivntb-mw@$(printf '%x' $((0x400000000 + 4194304 + lo))) .*0x$(printf '%x' $((hi - lo)))>; no-map; };" "$D/pools.dts" ||
			{ echo "# port $p: $lo..$hi"; cat "$D/pools.dts"; return 1; }
	done
}
check "pools: device 1's pool of each port is its windows at BAR base + 4 MiB" pools_match
check "pools: --bar-base moves them" \
	bash -c "'$C' pools '$D/pools' --bar-base 0x80000000 | grep -q 'ivntb_pool_0_0: ivntb-mw@80'"
truncate -s 3M "$D/odd"
"$C" init "$D/odd" --size 3M >/dev/null 2>&1
check "pools: a region that is not a power of two (no BAR) is refused" \
	status_is 2 "$C" pools "$D/odd"
tmps=$(ls -d /tmp/ivntb-dtb.* 2>/dev/null | wc -l)
check "dtb: a QEMU that fails says so, exit 4" \
	status_is 4 "$C" dtb "$D/pools" --out "$D/x.dtb" -- false
check "dtb: and leaves no temporary folder" \
	test "$(ls -d /tmp/ivntb-dtb.* 2>/dev/null | wc -l)" = "$tmps"
if command -v qemu-system-riscv64 >/dev/null && command -v dtc >/dev/null; then
	check "dtb: QEMU's riscv64 virt device tree with the pools, and the -dtb argument printed" \
		bash -c "'$C' dtb '$D/pools' --out '$D/virt.dtb' -- qemu-system-riscv64 -M virt -m 256 | grep -qx -- '-dtb $D/virt.dtb' &&
			dtc -q -I dtb -O dts '$D/virt.dtb' | grep -c 'compatible = \"shared-dma-pool\"' | grep -qx 3 &&
			dtc -q -I dtb -O dts '$D/virt.dtb' | grep -q 'compatible = \"riscv-virtio\"'"
else
	echo "ok - dtb with QEMU # SKIP qemu-system-riscv64 or dtc missing"
fi

exit $failed
