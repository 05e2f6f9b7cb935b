#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make test-guest: every guest run, in both topologies, plus the harness's
# own self-test (an injected failing test and an injected WARNING: line
# must each fail a run, for that reason) and a check, after each run and
# at the end, that nothing outlived the runs.
# Ends with "N passed, M failed"; exit status 1 if anything failed.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
L=$TOP/scripts/launch.sh
pass=0
fail=0
failed=()

# What a run can leave behind, one a line: QEMU guests, host tool peers
# (ivntb-shm peer), doorbell servers, regions in /dev/shm, socket folders.
# Each names its run (launch.sh puts IVNTB_RUNID in the QEMU name, the
# region and the socket folder, which the peers and servers are given),
# and every run id here carries this shell's pid: what another harness
# on this host left, or is running now, is not these runs' to answer for.
all_leftovers() {
	pgrep -af 'qemu-system.* -name ivntb-|ivntb-shm peer|ivntb-ivshmem-server' | cut -c1-200
	ls -d /dev/shm/ivntb-run-* /tmp/ivntb-sock.* 2>/dev/null
	return 0
}
leftovers() {
	all_leftovers | grep -E -- "[0-9]{8}-[0-9]{6}-$$-[0-9]+-"
	return 0
}
others=$(all_leftovers | grep -vE -- "[0-9]{8}-[0-9]{6}-$$-[0-9]+-")
if [ -n "$others" ]; then
	echo "# not from these runs, so not counted (they load the host, though):"
	echo "$others" | sed 's/^/#     /'
fi

# run WANT NAME LAUNCH_ARGS...: WANT is pass, or fail:REASON: the run must
# fail for that reason alone (its verdict names REASON, a fixed string,
# and no other). Either way the run must leave nothing behind that was not
# there before it (a leftover loads the host: later runs flake).
# A run stopped because a guest hung in its own boot, before its init and
# so before any of our code (launch.sh: "boot hang:"), runs once more; each
# such retry is named here and counted at the end.
boot_retries=()
run() {
	local want=$1 name=$2 rc=0 why='' before new id dir try
	shift 2
	before=$(leftovers)
	for try in 1 2; do
		id=$(date +%Y%m%d-%H%M%S)-$$-$((pass + fail + 1))-${name//[^A-Za-z0-9_-]/_}
		[ "$try" = 1 ] || id+=-retry
		dir=${IVNTB_BUILD:-$TOP/build}/runs/$id
		rc=0
		IVNTB_RUNID=$id "$@" || rc=$?
		if [ "$try" = 2 ] || [ "$rc" = 0 ] ||
		   ! grep -q '^  boot hang:' "$dir/verdict" 2>/dev/null; then
			break
		fi
		echo "# $name: a guest hung in its boot, before its init (logs kept: $dir): once more"
		boot_retries+=("$name ($(grep -m1 '^  boot hang:' "$dir/verdict" | sed 's/^  //'))")
	done
	case "$want" in
	pass)
		[ $rc = 0 ] || why="launch exit $rc, wanted pass"
		;;
	fail:*)
		if [ $rc != 1 ]; then
			why="launch exit $rc, wanted 1"
		elif ! grep -qF -- "${want#fail:}" "$dir/verdict" 2>/dev/null; then
			why="failed, but $dir/verdict does not name '${want#fail:}'"
		elif [ "$(grep -c '^  [^ #]' "$dir/verdict")" != 1 ]; then
			why="failed for more than '${want#fail:}': $dir/verdict"
		else
			rm -rf "$dir"	# failed as it must: not a failure to keep
		fi
		;;
	esac
	# what the run's cleanup killed may take a moment to go
	for _ in $(seq 15); do
		new=$(leftovers | grep -vxF -f <(printf '%s\n' "$before"))
		[ -n "$new" ] || break
		sleep 0.2
	done
	if [ -z "$why" ] && [ -z "$new" ]; then
		pass=$((pass + 1))
		echo "ok - $name"
	else
		fail=$((fail + 1))
		failed+=("$name")
		echo "not ok - $name (${why:-it left processes or files behind})"
		[ -z "$new" ] || { echo "    left behind:"; echo "$new" | sed 's/^/      /'; }
	fi
}

# finish NAME: nothing of any run may outlive it; the summary; the status.
finish() {
	local left
	left=$(leftovers)
	if [ -z "$left" ]; then
		pass=$((pass + 1)); echo "ok - no QEMU, host peer, doorbell server, /dev/shm region or socket left behind"
	else
		fail=$((fail + 1)); failed+=("leftovers")
		echo "not ok - leftovers:"; echo "$left" | sed 's/^/    /'
	fi
	[ ${#boot_retries[@]} = 0 ] ||
		printf '# run again after a boot hang before init: %s\n' "${boot_retries[@]}"
	[ $fail = 0 ] || printf 'failed: %s\n' "${failed[@]}"
	echo "$1: $pass passed, $fail failed"
	[ $fail = 0 ]
	exit
}

if [ -n "${IVNTB_VARIANT:-}" ]; then
	# make test-debug: the debug kernels, built on demand and
	# cached: riscv64 with KASAN, lockdep, DEBUG_ATOMIC_SLEEP, kmemleak;
	# x86_64 with KCSAN and lockdep. Any report fails the run (launch.sh
	# fails on KASAN, lockdep, BUG:, WARNING: lines in either guest log).
	echo "==> ${IVNTB_ARCH:-riscv64} $IVNTB_VARIANT kernel guests"
	if [ -n "${DEBUG_SUBSET:-}" ]; then
		# make test's subset (scripts/debug-subset.sh)
		run pass "$IVNTB_VARIANT host hostile" "$L" -t host -T hostile --timeout 900
		run pass "$IVNTB_VARIANT host msg-attack (ntb_perf)" "$L" -t host -T msg-attack --timeout 900
		# fewer cycles than make test-debug: 5 min in all, not 12
		run pass "$IVNTB_VARIANT pair reload (kmemleak, 6 cycles)" "$L" -t pair -T reload \
			--timeout 900 --append "ivntb.reload_n=6"
		run pass "$IVNTB_VARIANT pair crash (1 cycle)" "$L" -t pair -T crash \
			--timeout 900 --append "ivntb.crash_n=1"
		finish "test-guest ($IVNTB_ARCH $IVNTB_VARIANT subset)"
	fi
	# these guests run 5-10x slower: smaller counts where a test has one
	# (ntb_test.sh's window tests need the riscv64 DMA pool)
	[ -n "${DEBUG_SKIP_KST:-}" ] || [ "${IVNTB_ARCH:-riscv64}" != riscv64 ] ||
		run pass "$IVNTB_VARIANT pair ntb-kselftest" "$L" -t pair -T ntb-kselftest --timeout 900
	run pass "$IVNTB_VARIANT pair db-stress (20000 each way)" "$L" -t pair -T db-stress \
		--timeout 900 --append "ivntb.dbn=20000"
	run pass "$IVNTB_VARIANT host hostile" "$L" -t host -T hostile --timeout 900
	run pass "$IVNTB_VARIANT host msg-attack (ntb_perf)" "$L" -t host -T msg-attack --timeout 900
	run pass "$IVNTB_VARIANT pair reload (kmemleak)" "$L" -t pair -T reload --timeout 900
	run pass "$IVNTB_VARIANT pair crash" "$L" -t pair -T crash --timeout 900
	run pass "$IVNTB_VARIANT host flap" "$L" -t host -T flap --timeout 900
	run pass "$IVNTB_VARIANT host bounce" "$L" -t host -T bounce --timeout 900
	run pass "$IVNTB_VARIANT pair trace" "$L" -t pair -T trace --timeout 900
	run pass "$IVNTB_VARIANT loopback badcfg: 3 devices, 2 ports" "$L" \
		-t loopback -T badcfg --mw-pools off --ndev 3 --append ivntb.case=ports --timeout 900
	finish "test-guest (${IVNTB_ARCH:-riscv64} $IVNTB_VARIANT)"
fi

if [ "${IVNTB_ARCH:-riscv64}" = x86_64 ]; then
	# x86_64 q35: no device tree, so no DMA pool over the windows
	# (docs/windows.md): everything but the window clients (ntb_test.sh's
	# mw and perf sections, ntb_transport); mw_set_trans must refuse.
	echo "==> x86_64 guests"
	for t in smoke ntb-tool pingpong db-stress starve; do
		run pass "x86_64 pair $t" "$L" -t pair -T $t
	done
	run pass "x86_64 loopback ntb-tool" "$L" -t loopback -T ntb-tool
	run pass "x86_64 pair windows (no pool: refused)" "$L" -t pair -T windows
	run pass "x86_64 pair trace" "$L" -t pair -T trace
	run pass "x86_64 pair irq (ivshmem-doorbell, MSI-X via the APIC)" "$L" -t pair --doorbell -T irq
	run pass "x86_64 loopback irq (ivshmem-doorbell, MSI-X via the APIC)" "$L" -t loopback --doorbell -T irq
	run pass "x86_64 pair supervise (doorbell server --ntb)" "$L" -t pair --supervise -T supervise
	run pass "x86_64 host hostile" "$L" -t host -T hostile
	run pass "x86_64 host flap" "$L" -t host -T flap
	run pass "x86_64 host bounce" "$L" -t host -T bounce
	run pass "x86_64 pair reload" "$L" -t pair -T reload
	run pass "x86_64 pair crash" "$L" -t pair -T crash
	finish "test-guest (x86_64)"
fi

if [ "${IVNTB_KVER:-6.12}" = 6.1 ]; then
	# riscv64 on Linux 6.1: no IMSIC driver, so no interrupt
	# mode; the polled driver, its clients and the failure paths.
	echo "==> riscv64 Linux 6.1 guests"
	run pass "6.1 pair smoke" "$L" -t pair -T smoke
	for topo in loopback pair; do
		run pass "6.1 $topo ntb-kselftest" "$L" -t $topo -T ntb-kselftest
	done
	for t in pingpong db-stress windows reload crash trace; do
		run pass "6.1 pair $t" "$L" -t pair -T $t
	done
	run pass "6.1 host hostile" "$L" -t host -T hostile
	run pass "6.1 host flap" "$L" -t host -T flap
	run pass "6.1 host bounce" "$L" -t host -T bounce
	run pass "6.1 pair netdev" "$L" -t pair --region 32M --mem 512 -T netdev
	run pass "6.1 pair freeze" "$L" -t pair --region 32M --mem 512 -T freeze
	finish "test-guest (riscv64, Linux 6.1)"
fi

for topo in loopback pair; do
	for t in smoke ntb-tool ntb-kselftest pingpong db-stress; do
		run pass "$topo $t" "$L" -t $topo -T $t
	done
done
# the driver's tracepoints, read through tracefs on both ends
run pass "pair trace" "$L" -t pair -T trace
run pass "loopback trace" "$L" -t loopback -T trace
run pass "host host-peer" "$L" -t host -T host-peer
# a hostile host peer fills message registers 0, 1 and 3 under ntb_perf
run pass "host msg-attack (ntb_perf)" "$L" -t host -T msg-attack
# the host peer attaches and detaches 30 times (make soak: 1000)
run pass "host flap" "$L" -t host -T flap
# the host peer disables and re-enables its link within microseconds, 5
# times: seen through its link generation alone (protocol 1.2)
run pass "host bounce" "$L" -t host -T bounce
# bad configurations: each ends in a clear dmesg line or a recovery
run pass "badcfg: BAR2 of 8 KiB" "$L" -t loopback -T badcfg \
	--mw-pools off --region 8K --ports 0 --append ivntb.case=small
run pass "badcfg: guest b maps 2 of 4 MiB" "$L" -t pair -T badcfg \
	--mw-pools off --region-b 2M --append ivntb.case=mismatch
run pass "badcfg: 3 devices, 2 ports" "$L" -t loopback -T badcfg \
	--mw-pools off --ndev 3 --append ivntb.case=ports
run pass "badcfg: stale claims from a crashed run" "$L" -t pair -T badcfg \
	--mw-pools off --append ivntb.case=stale
# a hostile host: valid peer, then lies and garbage, then a lying header
run pass "host hostile" "$L" -t host -T hostile
# 20 unload/reload cycles of this end while the other keeps pinging
run pass "pair reload" "$L" -t pair -T reload
# kill -9 of the other guest's QEMU, 3 times: link down in bound, it boots
# again, link and traffic come back
run pass "pair crash" "$L" -t pair -T crash
# the same kill -9 while ntb_perf runs tests back to back, 2 times
run pass "pair crash-perf" "$L" -t pair --region 32M --mem 512 -T crash-perf
# ntb_transport + ntb_netdev: ping both ways, 64 MiB checksummed over TCP
# (windows of 4 MiB: a 32 MiB region; the receiver keeps the data in RAM)
run pass "pair netdev" "$L" -t pair --region 32M --mem 512 -T netdev
# guest b stopped (SIGSTOP) for 300 ms mid-transfer, 3 times: both ends
# flap once (link generation), the transfer completes with its md5
run pass "pair freeze" "$L" -t pair --region 32M --mem 512 -T freeze
# guest a idle, then its poller kept off every CPU for 2-3 s: the
# heartbeat comes from the poller, then from the backstop timer; b's link
# stays up
run pass "pair starve (heartbeat from the poller, backstop when starved)" "$L" -t pair -T starve
# interrupt mode: ivshmem-doorbell on our server, MSI-X through the AIA
run pass "pair irq (ivshmem-doorbell, MSI-X)" "$L" -t pair --doorbell -T irq
run pass "loopback irq (ivshmem-doorbell, MSI-X)" "$L" -t loopback --doorbell -T irq
# supervised liveness: the server (--ntb) marks a killed peer's port gone
# and rings the survivor; idle, the pollers hardly wake
run pass "pair supervise (doorbell server --ntb, kill -9 of b x3)" "$L" -t pair --supervise -T supervise
# an older peer: b runs the protocol 1.2 driver (scripts/old-peer.sh), a
# polls for it, rings it after every event, beats at heartbeat_ms
run pass "pair interop (today's driver with the protocol 1.2 one)" "$L" -t pair --supervise -T interop
# windows: ntb_tool's buffers are the windows with the DMA pool; without
# it, mw_set_trans refuses them with one dmesg line each
run pass "loopback windows (DMA pool)" "$L" -t loopback -T windows
run pass "pair windows (no DMA pool: refused)" "$L" -t pair --mw-pools off -T windows

# The harness must be able to fail: each injection must turn a green run red.
echo "==> harness self-test: the next two runs must FAIL"
run "fail:not ok 1 - injected failure (IVNTB_INJECT=fail)" \
	"harness fails an injected failing test" env IVNTB_INJECT=fail "$L" -t loopback -T smoke
run "fail:WARNING: injected by IVNTB_INJECT=warn (harness self-test)" \
	"harness fails an injected WARNING: line" env IVNTB_INJECT=warn "$L" -t loopback -T smoke

finish test-guest
