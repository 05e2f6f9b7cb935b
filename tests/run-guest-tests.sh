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
	# (pgrep may list itself where /proc is another pid namespace's)
	pgrep -af 'qemu-system.* -name ivntb-|ivntb-shm peer|ivntb-ivshmem-server' |
		grep -v '^[0-9]* pgrep ' | cut -c1-200
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

# The runs come from the tests themselves: each tests/guest/tests/NAME.sh
# declares where it runs in its header, one line a run (the way kselftest's
# `settings` declares how a test runs):
#
#   # ivntb-run: SUITES | TITLE | LAUNCH-ARGS [| WANT [| ENV]]
#
# SUITES: where it runs, any of
#   riscv64        make test-guest (riscv64, Linux 6.12)
#   x86_64         make test-guest-x86_64 (q35, Linux 6.12)
#   arm64          make test-guest-arm64 (virt GICv3, Linux 6.12; in
#                  make test-all, not make test: README.md)
#   riscv64-6.1    make test-guest-6.1
#   debug          make test-debug (both arches), debug-riscv64 (riscv64
#                  only), debug-subset (make test's KASAN subset); these
#                  runs get --timeout 900
#   selftest       after the riscv64 runs: the harness must fail these
# TITLE: the run's name (prefixed with the arch, kernel or variant where
# that is not riscv64 6.12); LAUNCH-ARGS: scripts/launch.sh's, without
# -T NAME, which the runner adds; WANT: pass (default) or fail:REASON
# (see run() above); ENV: VAR=VALUE for the launcher.
# A test that no suite runs says who uses it: "# ivntb-used-by: ...".
# Adding a test is one file (and its host hook, NAME.host, if it has one).
# --list [SUITE] prints the matrix instead of running it.

# declared: every declaration, as NAME<TAB>SUITES|TITLE|ARGS|WANT|ENV, in
# the order of the test files' names, then of the lines
declared() {
	local f
	for f in "$TOP"/tests/guest/tests/*.sh; do
		sed -n 's/^# ivntb-run: //p' "$f" | sed "s|^|$(basename "$f" .sh)\t|"
	done
}
trim() { local v=$1; v=${v#"${v%%[! ]*}"}; echo "${v%"${v##*[! ]}"}"; }

# run_suite SUITE PREFIX [EXTRA-ARGS...]: every run declared for SUITE
run_suite() {
	local suite=$1 prefix=$2 t line suites title args want env n=0 a e
	shift 2
	while IFS=$'\t' read -r -u 3 t line; do
		IFS='|' read -r suites title args want env <<<"$line"
		[[ " $(trim "$suites") " == *" $suite "* ]] || continue
		title=$(trim "$title"); want=$(trim "$want"); env=$(trim "$env")
		n=$((n + 1))
		# ARGS and ENV are word lists: split, never globbed
		set -f
		# shellcheck disable=SC2206
		a=($args) e=($env)
		set +f
		run "${want:-pass}" "$prefix$title" env "${e[@]}" "$L" "${a[@]}" "$@" -T "$t"
	done 3< <(declared)
	if [ "$n" = 0 ]; then
		fail=$((fail + 1)); failed+=("no run declared for suite $suite")
		echo "not ok - no run declared for suite $suite"
	fi
}

if [ "${1:-}" = --list ]; then
	declared | while IFS=$'\t' read -r t line; do
		IFS='|' read -r suites title args want _ <<<"$line"
		[ -z "${2:-}" ] || [[ " $(trim "$suites") " == *" $2 "* ]] || continue
		printf '%-14s %-40s %s\n' "$t" "$(trim "$suites")" "$(trim "$title")$(w=$(trim "$want"); [ -z "$w" ] || echo " [$w]")"
	done
	[ -z "${2:-}" ] || exit 0
	for f in "$TOP"/tests/guest/tests/*.sh; do
		u=$(sed -n 's/^# ivntb-used-by: //p' "$f")
		[ -z "$u" ] || printf '%-14s %-40s %s\n' "$(basename "$f" .sh)" "-" "$u"
	done
	exit 0
fi

if [ -n "${IVNTB_VARIANT:-}" ]; then
	# make test-debug: the debug kernels, built on demand and
	# cached: riscv64 with KASAN, lockdep, DEBUG_ATOMIC_SLEEP, kmemleak;
	# x86_64 with KCSAN and lockdep. Any report fails the run (launch.sh
	# fails on KASAN, lockdep, BUG:, WARNING: lines in either guest log).
	# These guests run 5-10x slower: smaller counts where a test has one.
	echo "==> ${IVNTB_ARCH:-riscv64} $IVNTB_VARIANT kernel guests"
	if [ -n "${DEBUG_SUBSET:-}" ]; then
		# make test's subset (scripts/debug-subset.sh): 5 min in all
		run_suite debug-subset "$IVNTB_VARIANT " --timeout 900
		finish "test-guest ($IVNTB_ARCH $IVNTB_VARIANT subset)"
	fi
	# ntb_test.sh's window tests need the riscv64 DMA pool
	[ "${IVNTB_ARCH:-riscv64}" != riscv64 ] || run_suite debug-riscv64 "$IVNTB_VARIANT " --timeout 900
	run_suite debug "$IVNTB_VARIANT " --timeout 900
	finish "test-guest (${IVNTB_ARCH:-riscv64} $IVNTB_VARIANT)"
fi

if [ "${IVNTB_ARCH:-riscv64}" = x86_64 ]; then
	# x86_64 q35: no device tree, so no DMA pool over the windows
	# (docs/windows.md): everything but the window clients (ntb_test.sh's
	# mw and perf sections, ntb_transport); mw_set_trans must refuse.
	echo "==> x86_64 guests"
	run_suite x86_64 "x86_64 "
	finish "test-guest (x86_64)"
fi

if [ "${IVNTB_ARCH:-riscv64}" = arm64 ]; then
	# arm64 virt, GICv3 + ITS: the device-tree pools back the windows, as
	# on riscv64 (docs/windows.md); its own list (make test-guest-arm64)
	echo "==> arm64 guests"
	run_suite arm64 "arm64 "
	finish "test-guest (arm64)"
fi

if [ "${IVNTB_KVER:-6.12}" = 6.1 ]; then
	# riscv64 on Linux 6.1: no IMSIC driver, so no interrupt
	# mode; the polled driver, its clients and the failure paths.
	echo "==> riscv64 Linux 6.1 guests"
	run_suite riscv64-6.1 "6.1 "
	finish "test-guest (riscv64, Linux 6.1)"
fi

run_suite riscv64 ""

# The harness must be able to fail: each injection must turn a green run red.
echo "==> harness self-test: the next runs must FAIL"
run_suite selftest ""

finish test-guest
