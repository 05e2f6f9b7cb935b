# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | loopback windows (DMA pool) | -t loopback
# ivntb-run: riscv64 | pair windows (no DMA pool: refused) | -t pair --mw-pools off
# ivntb-run: x86_64 | pair windows (the driver's DMA ops) | -t pair
# ivntb-run: x86_64 | loopback windows (the driver's DMA ops) | -t loopback
# ivntb-run: x86_64 | pair windows (mw_dma_ops=0: refused) | -t pair --mw-pools off
# ivntb-run: riscv64-6.1 | pair windows | -t pair
# ivntb-run: arm64 | pair windows (the driver's DMA ops, no device-tree pool) | -t pair --mw-pools ops
# ivntb-run: arm64 | pair windows (mw_dma_ops=0: refused) | -t pair --mw-pools off
#
# Inbound memory windows through ntb_tool (docs/windows.md). With the
# device-tree DMA pool (riscv64, arm64) or the driver's own DMA ops
# (x86_64, arm64 with --mw-pools ops; launch.sh --mw-pools on, the
# default) the buffer
# ntb_tool allocates for window W must BE window W in BAR2, even when
# allocated in reverse order; without the pool, mw_set_trans must refuse
# the buffer with exactly one clear dmesg line per attempt. Which of the
# two the driver takes must be the one the launch asked for
# (ivntb.mw_pools): a pool that failed to attach is a failure, not the
# refusal branch. With the pool, two windows placed at once each get
# their own (the steering is one window's at a time), and a caller that
# only asks for the alignment does not keep the pool filled.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh

tap_plan 11
ntb_setup ntb_tool
tap_result $? "ntb_hw_ivshmem and ntb_tool load"
INFO=$DBG/ntb_hw_ivshmem/$LOC/info
bar=$(awk '$1 == "bar2:" { split($2, a, "+"); print a[1] }' $INFO)
pool=$(awk '$1 == "mw_pool:" { print $2 }' $INFO)
# "  mwW:  in OFF+SIZE out OFF+SIZE" under peer0
win() { awk -v w="mw$1:" '$1 == "peer1:" { exit } $1 == w { print $3 }' $INFO; }
echo "# BAR2 at $bar, DMA pool: $pool"
tap_eq "the DMA pool is attached as launched (ivntb.mw_pools=${IVNTB_MW_POOLS:-?})" \
	"$([ "${IVNTB_MW_POOLS:-}" = on ] && echo yes || echo no)" "$pool"
T=$DBG/ntb_tool/$LOC/peer0
# ntb_tool leaves the link disabled until told (ntb_test.sh's link test)
echo Y >$DBG/ntb_tool/$LOC/link
R "echo Y > $DBG/ntb_tool/$REM/link"
linkup() { [ "$(cat $T/link)" = Y ]; }
wait_for 10 linkup || echo "# link not up after 10 s"
getn() { sed -n "s/^$1[ \t]*\(0x[0-9a-fA-F]*\).*/\1/p" "$2"; }

# window 1 first: a first-fit pool would hand out window 0's memory
order="1 0"
if [ "$pool" = yes ]; then
	for w in $order; do
		in=$(win $w)
		off=${in%+*} size=${in#*+}
		want=$(printf '0x%x' $((bar + off)))
		echo $((size)) >$T/mw_trans$w
		cat $T/mw_trans$w >/tmp/mw$w
		got=$(getn "DMA Address" /tmp/mw$w)
		tap_eq "window $w: ntb_tool's buffer is the window in BAR2" \
			"$want $((size))" "$(printf '0x%x' $((got))) $(($(getn 'Window Size' /tmp/mw$w)))"
	done
	# the same window again after a free, now that window 0 is taken
	echo 0 >$T/mw_trans1
	in=$(win 1)
	echo $((${in#*+})) >$T/mw_trans1
	cat $T/mw_trans1 >/tmp/mw1
	tap_eq "window 1 again after a free: same address" \
		"$(printf '0x%x' $((bar + ${in%+*})))" "$(printf '0x%x' $(($(getn 'DMA Address' /tmp/mw1))))"
	for w in 0 1; do echo 0 >$T/mw_trans$w; done

	# both windows placed at once, ROUNDS (8) times: without one steering at a
	# time, one placement frees the other's placeholders and its buffer
	# lands in the wrong window (refused) or nowhere
	STATS=$DBG/ntb_hw_ivshmem/$LOC/stats
	st() { awk -v k="$1:" '$1 == k { print $2 }' $STATS; }
	in0=$(win 0) in1=$(win 1)
	want="$(printf '0x%x 0x%x' $((bar + ${in0%+*})) $((bar + ${in1%+*})))"
	ROUNDS=${IVNTB_MW_ROUNDS:-8}
	ref0=$(st mw_refused) good=0
	for i in $(seq $ROUNDS); do
		echo $((${in0#*+})) >$T/mw_trans0 & p0=$!
		echo $((${in1#*+})) >$T/mw_trans1 & p1=$!
		wait $p0; r0=$?
		wait $p1; r1=$?
		got="$(printf '0x%x 0x%x' $(($(getn 'DMA Address' $T/mw_trans0))) \
			$(($(getn 'DMA Address' $T/mw_trans1))))"
		if [ "$r0 $r1 $got" = "0 0 $want" ]; then
			good=$((good + 1))
		else
			echo "# round $i: writes $r0 $r1, buffers $got, windows $want"
		fi
		for w in 0 1; do echo 0 >$T/mw_trans$w; done
	done
	tap_eq "windows 0 and 1 placed at once, $ROUNDS rounds: each buffer is its window, none refused" \
		"$ROUNDS 0" "$good $(( $(st mw_refused) - ref0 ))"

	# a caller that only asks (ntb_tool reading a window it did not
	# set up) steers too; its steering expires and frees the pool
	e0=$(st mw_steer_expired)
	cat $T/mw_trans1 >/dev/null
	echo "# after the query: $(grep '^mw_steer:' $INFO)"
	freed() { grep -q '^mw_steer:[[:space:]]*none, 0 placeholders' $INFO; }
	tap_check "a query's steering expires: placeholders freed, mw_steer_expired +1" \
		eval 'wait_for 10 freed && test "$(st mw_steer_expired)" = "$((e0 + 1))"'
	tap_skip "no pool: mw_set_trans refuses window 0" "pool attached"
	tap_skip "no pool: mw_set_trans refuses window 1" "pool attached"
else
	tap_skip "window 1: buffer is the window" "no DMA pool (--mw-pools off)"
	tap_skip "window 0: buffer is the window" "no DMA pool (--mw-pools off)"
	tap_skip "window 1 again after a free" "no DMA pool (--mw-pools off)"
	tap_skip "windows 0 and 1 placed at once" "no DMA pool (--mw-pools off)"
	tap_skip "a query's steering expires" "no DMA pool (--mw-pools off)"
	for w in $order; do
		in=$(win $w)
		n0=$(dmesg | grep -c "mw $w for peer 0: buffer .* is not inbound window .*docs/windows.md")
		echo $((${in#*+})) >$T/mw_trans$w 2>/tmp/err
		rc=$?
		n1=$(dmesg | grep -c "mw $w for peer 0: buffer .* is not inbound window .*docs/windows.md")
		tap_eq "no pool: mw_set_trans refuses window $w (write fails, one dmesg line)" \
			"1 1" "$((rc != 0)) $((n1 - n0))"
	done
	dmesg | grep 'is not inbound window' | tail -1 | sed 's/^/# dmesg: /'
fi
tap_check "ntb_tool and ntb_hw_ivshmem unload" \
	eval 'ntb_teardown ntb_tool && test ! -d /sys/module/ntb_hw_ivshmem'
tap_check "no kernel warnings" dmesg_clean
[ -z "$RH" ] || peer_halt "$RH"
tap_done
