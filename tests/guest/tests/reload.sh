# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 x86_64 riscv64-6.1 | pair reload | -t pair
# ivntb-run: debug | pair reload (kmemleak) | -t pair
# ivntb-run: debug-subset | pair reload (kmemleak, 6 cycles) | -t pair --append ivntb.reload_n=6
#
# Unload/reload under traffic, link flapping (fast subset): the
# other end keeps ntb_pingpong running (a ping every ms whenever the link
# is up) while this end unloads and reloads ntb_hw_ivshmem and its own
# ntb_pingpong IVNTB_RELOAD_N times. Every cycle must bring the link up;
# the other end sees every down and up, its client keeps working after.
# With kmemleak (IVNTB_VARIANT=debug kernels) no object allocated during
# the cycles by the NTB code may be left unreferenced.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_RELOAD_N:-20}
tap_plan 7
KML=$DBG/kmemleak
if [ -z "$RH" ]; then
	for i in 1 2 3 4 5 6 7; do tap_skip "reload $i" "needs two kernels (pair)"; done
	tap_done
	exit 0
fi

R "modprobe ntb_hw_ivshmem && modprobe ntb_pingpong delay_ms=1"
tap_result $? "the other end runs ntb_pingpong"
REM=$(R ls /sys/bus/ntb/devices | head -1)
rcount() { R cat $DBG/ntb_pingpong/$REM/count; }

[ ! -e $KML ] || echo clear >$KML	# only what the cycles leave counts
ok=0
for i in $(seq "$N"); do
	modprobe ntb_hw_ivshmem && modprobe ntb_pingpong delay_ms=1 || break
	LOC=$(ls /sys/bus/ntb/devices | head -1)
	# both ends up before the next unload: the other end trains its
	# own link, and must see each up to count it
	wait_for 10 up && wait_for 10 rup && ok=$((ok + 1))
	sleep 0.1
	modprobe -r ntb_pingpong && modprobe -r ntb_hw_ivshmem || break
done
tap_eq "$N unload/reload cycles under traffic, link up in each" "$N" "$ok"
# the last down reaches the other end at its next pass
seen_all() { [ "$(stat_rem link_changes)" -ge $((2 * N)) ]; }
wait_for 10 seen_all
changes=$(stat_rem link_changes)
echo "# the other end saw $changes link changes"
tap_check "the other end saw every down and up (>= $((2 * N)) changes)" test "$changes" -ge $((2 * N))

modprobe ntb_hw_ivshmem && modprobe ntb_pingpong delay_ms=1
LOC=$(ls /sys/bus/ntb/devices | head -1)
wait_for 10 up
c0=$(rcount); sleep 2; c1=$(rcount)
tap_check "the other end's pingpong still counts after all that ($c0 -> $c1)" test $((c1 - c0)) -ge 20
ntb_teardown ntb_pingpong
if [ -e $KML ]; then
	# two scans: kmemleak reports an object unreferenced in both
	echo scan >$KML; sleep 6; echo scan >$KML
	cat $KML >/tmp/kmemleak
	all=$(grep -c '^unreferenced object' /tmp/kmemleak)
	ours=$(awk '/^unreferenced object/ { if (o) n++; o = 0 } /ntb|ivshm|ivntb/ { o = 1 } END { if (o) n++; print n + 0 }' /tmp/kmemleak)
	echo "# figure kmemleak_unreferenced $all after $N reloads, $ours from NTB code"
	head -40 /tmp/kmemleak | sed 's/^/# /'
	tap_eq "kmemleak: no leak from the NTB code after $N reloads" 0 "$ours"
else
	tap_skip "kmemleak: no leak from the NTB code" "kernel without CONFIG_DEBUG_KMEMLEAK (IVNTB_VARIANT=debug has it)"
fi
tap_dmesg_both
tap_done
