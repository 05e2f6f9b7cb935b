#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
#
# Run every shm-protocol test; print one TAP-like line per test case and a
# final "N passed, M failed" line; exit non-zero on any failure.
#
# Environment (set by the Makefile): O (build dir), SRC (shm-protocol dir),
# KSRC (kernel tree, for checkpatch; optional), FUZZ_TIME (s),
# STRESS_ITERS (doorbells per side in the process stress).
# With an argument, run only that group: unit stress fuzz cli spin
# checkpatch (the last only when named).
set -u

O=${O:?}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
T=$O/tests
FUZZ_TIME=${FUZZ_TIME:-60}
STRESS_ITERS=${STRESS_ITERS:-2000000}
ONLY=${1:-}
LOG=$T/logs
mkdir -p "$LOG"

pass=0
fail=0
skipped=()

ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $1"; }
not_ok() {
	fail=$((fail + 1))
	echo "not ok $((pass + fail)) - $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 25 "$2" | sed 's/^/#   /'
}
skip() { skipped+=("$1"); echo "# skip: $1"; }
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
# checkpatch runs only when asked: the top-level `make check` runs it, with
# sparse and W=1 on the module that builds ivntb_proto.c.
only() { [ "$ONLY" = "$1" ]; }

# Run a TAP-emitting test program; count its "ok"/"not ok" lines, and one
# failure if it exits non-zero without having reported one.
tap() {
	local name=$1 log=$LOG/$1.log rc n_ok n_fail
	shift
	"$@" >"$log" 2>&1
	rc=$?
	n_ok=$(grep -ac '^ok ' "$log")
	n_fail=$(grep -ac '^not ok ' "$log")
	while read -r line; do
		ok "$name: ${line#ok * - }"
	done < <(grep -a '^ok ' "$log")
	while read -r line; do
		not_ok "$name: ${line#not ok * - }"
	done < <(grep -a '^not ok ' "$log")
	grep -a '^# [a-z]* (' "$log" | sed "s/^# /#   $name: /"
	# The program's own summary must agree with the lines counted.
	if ! grep -aq "^# [a-z]*: $n_ok passed, $n_fail failed\$" "$log"; then
		not_ok "$name: summary missing or disagrees ($n_ok ok, $n_fail not ok)" "$log"
	fi
	if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
		not_ok "$name: exited with status $rc" "$log"
	elif [ "$n_fail" -gt 0 ]; then
		tail -n 20 "$log" | grep -av '^ok ' | sed 's/^/#   /'
	fi
	[ "$n_ok" -gt 0 ] || [ "$rc" -ne 0 ] || not_ok "$name: no test ran" "$log"
}

# A negative control: the command must fail (and print $2 if given).
must_fail() {
	local name=$1 pattern=$2 log=$LOG/$1.log rc
	shift 2
	"$@" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && { [ -z "$pattern" ] || grep -aq "$pattern" "$log"; }; then
		ok "$name (fails as it must, status $rc)"
	else
		not_ok "$name: the fault went undetected (status $rc)" "$log"
	fi
}

# A negative control whose fault shows only when two parties really run
# at once: a window of a few hundred instructions (a bit rung before its
# data is stored, a sleeper arming without a re-check) that the other
# party must hit while it is open. On a loaded host with 2 cores the two
# processes can share one CPU for a whole run, and the fault then goes
# unseen by luck, not because the test cannot see it: up to TRIES runs,
# ok at the first that catches it (status != 0 and the pattern); a run
# that fails for another reason fails at once; unseen in every run fails,
# with the CPUs and load it had.
must_fail_racy() {
	local tries=$1 name=$2 pattern=$3 log=$LOG/$2.log rc k
	shift 3
	for k in $(seq "$tries"); do
		"$@" >"$log" 2>&1
		rc=$?
		if [ "$rc" -ne 0 ]; then
			if grep -aq "$pattern" "$log"; then
				ok "$name (fails as it must, status $rc, run $k of $tries)"
			else
				not_ok "$name: failed, but not for the fault (status $rc)" "$log"
			fi
			return
		fi
		echo "#   $name: run $k of $tries did not catch the fault (CPUs $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg))"
	done
	not_ok "$name: the fault went undetected in $tries runs (CPUs $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg))" "$log"
}

t0=$(date +%s.%N)

if want unit; then
	tap unit-liburcu "$T/unit"
	tap unit-atomic-asan "$T/unit-asan"
	if command -v valgrind >/dev/null; then
		if valgrind -q --error-exitcode=9 "$T/unit" >"$LOG/valgrind.log" 2>&1; then
			ok "unit under valgrind memcheck: no errors"
		else
			not_ok "unit under valgrind memcheck" "$LOG/valgrind.log"
		fi
	else
		# make deps installs it: a missing tool is a check not run
		not_ok "valgrind not installed (apt-get install valgrind): memcheck not run"
	fi
fi

if want stress; then
	n=$STRESS_ITERS
	m=$((n / 10))
	# wake: 10 M events to a sleeper with no timer (protocol 1.3)
	tap stress-processes "$T/stress" -p -n "$n" -m "$m" -c 20000 -k 2000 -i 2000 -w 4 -e 10000000
	tap stress-threads "$T/stress" -t -n "$((n / 2))" -m "$((m / 2))" -c 10000 -k 1000 -i 2000 -w 4 -e 2000000
	tap stress-tsan "$T/stress-tsan" -t -n "$((n / 10))" -m "$((m / 10))" -c 3000 -k 300 -i 300 -w 4 -e 100000
	tap stress-asan "$T/stress-asan" -p -n "$((n / 5))" -m "$((m / 5))" -c 5000 -k 500 -i 500 -w 4 -e 500000
	# Negative controls: the tests must catch a sender that rings first,
	# and a sleeper that arms without reading its counter again. Both
	# need the two processes on two CPUs at once (must_fail_racy); the
	# stale value must be the failure, not a stuck or dead party.
	must_fail_racy 3 stress-detects-ring-before-data "FAIL: side [01]: bit [0-9]* data [0-9]*, expected" \
		"$T/stress" -p -X -n 200000 -m 100 pingpong
	must_fail_racy 3 stress-detects-lost-wakeup "lost wake-up" \
		"$T/stress" -p -R -e 2000000 wake
	# TSan's verdict rests on happens-before, not on timing: one run
	must_fail tsan-detects-ring-before-data "ThreadSanitizer: data race" \
		"$T/stress-tsan" -t -X -n 20000 -m 100 pingpong
fi

if want fuzz; then
	# from the checked-in seeds (valid regions of several geometries and
	# the inputs that reached new code before), not from nothing
	mkdir -p "$T/fuzz-corpus"
	nseed=$(ls "$SRC/tests/fuzz-seeds" | wc -l)
	if "$T/fuzz_region" -max_total_time="$FUZZ_TIME" -print_final_stats=1 \
		-artifact_prefix="$T/fuzz-" \
		"$T/fuzz-corpus" "$SRC/tests/fuzz-seeds" >"$LOG/fuzz.log" 2>&1; then
		loaded=$(grep -ao 'seed corpus: files: [0-9]*' "$LOG/fuzz.log" | grep -o '[0-9]*$' | head -1)
		if [ "${loaded:-0}" -ge "$nseed" ] && [ "$nseed" -gt 0 ]; then
			ok "fuzz_region: $(grep -ao 'Done [0-9]* runs in [0-9]* second' "$LOG/fuzz.log" | sed 's/ second/ s/') from $loaded seeds, no crash"
		else
			not_ok "fuzz_region read ${loaded:-no} seeds, $nseed checked in" "$LOG/fuzz.log"
		fi
	else
		not_ok "fuzz_region crashed" "$LOG/fuzz.log"
	fi
fi

if want cli; then
	bash "$SRC/tests/cli.sh" "$O/ivntb-shm" >"$LOG/cli.log" 2>&1
	rc=$?
	while read -r line; do ok "cli: ${line#ok - }"; done < <(grep -a '^ok - ' "$LOG/cli.log")
	while read -r line; do not_ok "cli: ${line#not ok - }"; done < <(grep -a '^not ok - ' "$LOG/cli.log")
	if [ "$rc" -ne 0 ] && ! grep -aq '^not ok - ' "$LOG/cli.log"; then
		not_ok "cli: script exited with status $rc" "$LOG/cli.log"
	fi
fi

if want spin; then
	if command -v spin >/dev/null && command -v gcc >/dev/null; then
		S=$T/spin
		rm -rf "$S"
		# each line: MODEL pass|fail [cpp -D options]; one directory
		# each, as many verifiers at once as there are CPUs
		i=0
		while read -r model expect variant; do
			i=$((i + 1))
			mkdir -p "$S/$i"
			cp "$SRC/tests/$model" "$S/$i/"
			echo "$model $expect $variant" >"$S/$i/what"
			while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
			(cd "$S/$i" && spin -a $variant "$model" >spin.out 2>&1 &&
			 gcc -O2 -DSAFETY -o pan pan.c 2>>spin.out &&
			 ./pan -m100000 >pan.out 2>&1) </dev/null &
		done <<-'VARIANTS'
			doorbell.pml pass
			doorbell.pml pass -DSPURIOUS
			doorbell.pml fail -DSPURIOUS -DNO_D1
			doorbell.pml fail -DRELAXED_SENDER
			doorbell.pml fail -DSPURIOUS -DNO_D2
			doorbell.pml fail -DSEQ_AFTER_CLEAR
			doorbell.pml pass -DSLEEP
			doorbell.pml fail -DSLEEP -DNO_RECHECK
			doorbell.pml fail -DSLEEP -DNO_W1
			doorbell.pml fail -DSLEEP -DNO_W2
			doorbell.pml pass -DNB=2
			doorbell.pml pass -DNB=2 -DSPURIOUS
			doorbell.pml pass -DNB=2 -DSLEEP
			doorbell.pml fail -DNB=2 -DRELAXED_SENDER
			doorbell.pml fail -DNB=2 -DSPURIOUS -DNO_D2
			doorbell.pml fail -DNB=2 -DSLEEP -DNO_RECHECK
			doorbell.pml fail -DNB=2 -DSLEEP -DNO_W2
			delivery.pml pass
			delivery.pml fail -DNO_REREAD
			delivery.pml fail -DNO_KICK
		VARIANTS
		wait
		for j in $(seq "$i"); do
			read -r model expect variant <"$S/$j/what"
			name="spin ${model%.pml} model${variant:+ $variant}"
			touch "$S/$j/pan.out"
			errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$S/$j/pan.out" | head -1)
			states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$S/$j/pan.out" | head -1)
			what=$(grep -m1 -o 'assertion violated\|invalid end state' "$S/$j/pan.out")
			if [ "$expect" = pass ]; then
				if [ "$errs" = 0 ]; then
					ok "$name: verified, no violation, no deadlock ($states states)"
				else
					not_ok "$name: errors=$errs ($what)" "$S/$j/pan.out"
				fi
			elif [ -n "$errs" ] && [ "$errs" != 0 ]; then
				ok "$name: weakened protocol caught ($what)"
			else
				not_ok "$name: the weakened protocol was not caught" "$S/$j/pan.out"
			fi
		done
	else
		not_ok "spin not installed (apt-get install spin): the doorbell models not checked"
	fi
fi

if only checkpatch; then
	KSRC=${KSRC:-}
	if [ -n "$KSRC" ] && [ -x "$KSRC/scripts/checkpatch.pl" ]; then
		for f in "$SRC/ivntb_proto.c" "$SRC/ivntb_proto.h" \
			 "$SRC/ivntb_compat.h" "$SRC/../include/ivntb_layout.h"; do
			b=$(basename "$f")
			if "$KSRC/scripts/checkpatch.pl" --no-tree --strict -q -f "$f" \
				>"$LOG/checkpatch-$b.log" 2>&1; then
				ok "checkpatch --strict $b"
			else
				not_ok "checkpatch --strict $b" "$LOG/checkpatch-$b.log"
			fi
		done
	else
		skip "checkpatch: no kernel tree (set KSRC)"
	fi
fi


t1=$(date +%s.%N)
printf '# %d skipped, %s s, logs in %s\n' "${#skipped[@]}" \
	"$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")" "$LOG"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
