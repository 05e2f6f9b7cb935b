# SPDX-License-Identifier: GPL-2.0
# TAP helpers for guest tests (sourced). The host side requires a plan and
# exactly that many results, all "ok".
IVNTB_T=0
IVNTB_FAILED=0
IVNTB_PLAN=0

tap_plan()
{
	IVNTB_PLAN=$1
	# Harness self-test hooks (IVNTB_INJECT=... on the host).
	case "${IVNTB_INJECT:-}" in
	fail) IVNTB_PLAN=$((IVNTB_PLAN + 1)) ;;
	warn) echo "WARNING: injected by IVNTB_INJECT=warn (harness self-test)" >/dev/kmsg ;;
	esac
	echo "TAP version 13"
	echo "1..$IVNTB_PLAN"
	if [ "${IVNTB_INJECT:-}" = fail ]; then
		tap_result 1 "injected failure (IVNTB_INJECT=fail)"
	fi
}

# tap_result STATUS DESCRIPTION [DIAG...]
tap_result()
{
	local st=$1 desc=$2
	shift 2
	IVNTB_T=$((IVNTB_T + 1))
	if [ "$st" = 0 ]; then
		echo "ok $IVNTB_T - $desc"
	else
		# "# TODO": a known gap, reported but not counted as a failure
		[[ "$desc" == *"# TODO"* ]] || IVNTB_FAILED=$((IVNTB_FAILED + 1))
		echo "not ok $IVNTB_T - $desc"
		local l
		for l in "$@"; do echo "# $l"; done
	fi
}

# tap_check DESCRIPTION COMMAND...: ok if COMMAND exits 0; its output is
# shown as diagnostics on failure.
tap_check()
{
	local desc=$1 out st
	shift
	out=$("$@" 2>&1)
	st=$?
	if [ $st = 0 ]; then
		tap_result 0 "$desc"
	else
		# the last lines of output are the useful ones
		out=$(echo "$out" | tail -8)
		tap_result 1 "$desc" "command: $*" "exit: $st" "${out//$'\n'/$'\n'# }"
	fi
}

# tap_eq DESCRIPTION EXPECTED ACTUAL
tap_eq()
{
	if [ "$2" = "$3" ]; then
		tap_result 0 "$1"
	else
		tap_result 1 "$1" "expected: '$2'" "got:      '$3'"
	fi
}

tap_skip()
{
	IVNTB_T=$((IVNTB_T + 1))
	echo "ok $IVNTB_T - $1 # SKIP ${2:-}"
}

tap_done()
{
	echo "# $((IVNTB_T - IVNTB_FAILED)) passed, $IVNTB_FAILED failed"
	# harness self-test: a script that fails after all its results
	[ "${IVNTB_INJECT:-}" != exit ] || return 3
	[ "$IVNTB_FAILED" = 0 ] && [ "$IVNTB_T" = "$IVNTB_PLAN" ]
}

# time_left MARGIN: seconds a wait may still take, MARGIN short of the
# host's QEMU timeout (ivntb.timeout from launch.sh, counted from boot), so
# that a guest-side wait ends in a TAP result before QEMU is killed; >= 1.
time_left()
{
	local t
	t=$(( ${IVNTB_TIMEOUT:-300} - $(cut -d. -f1 /proc/uptime) - $1 ))
	[ "$t" -ge 1 ] || t=1
	echo "$t"
}

# ivshmem devices (1af4:1110) as sysfs paths, in bus order.
ivshmem_devs()
{
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] &&
			echo "$d"
	done
}

# Ask the peer guest to power off once this command has returned.
peer_halt()
{
	ssh "$1" '(sleep 0.3; poweroff -f) </dev/null >/dev/null 2>&1 &'
}
