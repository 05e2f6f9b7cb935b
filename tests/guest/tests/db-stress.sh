# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | loopback db-stress | -t loopback
# ivntb-run: riscv64 x86_64 riscv64-6.1 | pair db-stress | -t pair
# ivntb-run: debug | pair db-stress (20000 each way) | -t pair --append ivntb.dbn=20000
#
# No lost doorbell across two guests (or two devices) under load: each end
# keeps 32 bits in flight towards the other and echoes the other's 32 bits,
# so both doorbell words take concurrent sets from the peer and clears from
# their owner. A lost update leaves a bit outstanding forever. Then a
# single-bit round-trip timing (reported, not asserted).
# IVNTB_DBN rings each way (1000000), as many as the time left allows on
# a slow or loaded host (a short run first measures the rate), and no
# fewer than a tenth of them: a run is judged by its end (every ring came
# back), not by a fixed time; it is given as long as it makes progress,
# and a bit that stays outstanding stops the progress.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_DBN:-1000000}
MIN=$((N / 10))
LO=0x00000000ffffffff
HI=0xffffffff00000000
tap_plan 9

# The runs test doorbells, not liveness: under load the host stops a
# guest's vCPUs for tens of ms at times (starve.sh measures it), enough
# for the default 80 ms link timeout, and rings to a peer whose link went
# down are not doorbells lost. So a link timeout of 1 s, and a link
# change during the runs is a failure of its own.
HW_PARAMS=link_timeout_ms=1000
# a result read blocks until the run ends or this long: the progress step
ntb_setup "ntb_dbtest timeout_ms=10000"
tap_result $? "ntb_hw_ivshmem and ntb_dbtest load on both ends"
D=$DBG/ntb_dbtest/$LOC
RD=$DBG/ntb_dbtest/$REM
tap_check "link up, both ends" eval 'wait_for 30 up && wait_for 30 rup'
lc0="$(stat_loc link_changes) $(stat_rem link_changes)"

# dbt_wait DIR SECONDS: read DIR/result until the run is done, or stopped
# making progress for a whole read (timeout_ms), or SECONDS passed; the
# last result on stdout
dbt_wait()
{
	local end=$((SECONDS + $2)) r prev=-1 got
	while :; do
		r=$(cat "$1/result")
		got=$(echo "$r" | awk '$1 == "returned:" { print $2 }')
		echo "$r" | grep -q '^done: 1$' && break
		[ "$got" != "$prev" ] && [ "$SECONDS" -lt "$end" ] || break
		prev=$got
	done
	echo "$r"
}
val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
# stress COUNT SECONDS: both directions at once, results in /tmp/{loc,rem}.res
stress()
{
	R "$(declare -f dbt_wait); echo 'stress $1 $HI' > $RD/cmd && dbt_wait $RD $2" >/tmp/rem.res 2>&1 &
	local rpid=$!
	echo "stress $1 $LO" >$D/cmd && dbt_wait $D "$2" >/tmp/loc.res
	wait $rpid
	sed 's/^/# here:  /' /tmp/loc.res
	sed 's/^/# there: /' /tmp/rem.res
}

echo "echo $HI" >$D/cmd
R "echo 'echo $LO' > $RD/cmd"
# the rate first, on a fiftieth (at least 1000 each way)
n1=$((N / 50))
[ "$n1" -ge 1000 ] || n1=1000
[ "$n1" -le "$N" ] || n1=$N
stress "$n1" "$(time_left 60)"
tap_eq "both ways: $n1 rings came back, none lost (the rate)" "1 $n1 0 1 $n1 0" \
	"$(val done /tmp/loc.res) $(val returned /tmp/loc.res) $(val lost /tmp/loc.res) $(val done /tmp/rem.res) $(val returned /tmp/rem.res) $(val lost /tmp/rem.res)"
ns=$(val elapsed_ns /tmp/loc.res) rns=$(val elapsed_ns /tmp/rem.res)
[ "${rns:-0}" -le "${ns:-0}" ] || ns=$rns
# half the time left at that rate: the rest is the slack for a host that
# gets slower meanwhile, the timing and the end
left=$(time_left 60)
n=$N
[ "${ns:-0}" -le 0 ] || n=$(( n1 * (left / 2) * 1000000000 / ns ))
[ "$n" -le "$N" ] || n=$N
echo "# $n1 each way in $((${ns:-0} / 1000000)) ms; $left s left: $n each way"
tap_check "the time left allows $n rings each way (asked $N, at least $MIN)" test "$n" -ge "$MIN"
[ "$n" -ge "$MIN" ] || n=$MIN
stress "$n" "$(time_left 60)"
tap_eq "here: $n rings came back, none lost" "1 $n 0" \
	"$(val done /tmp/loc.res) $(val returned /tmp/loc.res) $(val lost /tmp/loc.res)"
tap_eq "there: $n rings came back, none lost" "1 $n 0" \
	"$(val done /tmp/rem.res) $(val returned /tmp/rem.res) $(val lost /tmp/rem.res)"
ns=$(val elapsed_ns /tmp/loc.res)
[ -n "$ns" ] && [ "$ns" -gt 0 ] && echo "# $(( n * 1000000000 / ns )) round trips/s each way"
P=/sys/module/ntb_hw_ivshmem/parameters/link_timeout_ms
tap_eq "the link stayed up through the runs (link timeout here, there; link changes here, there)" \
	"1000 1000 $lc0" "$(cat $P) $(R cat $P) $(stat_loc link_changes) $(stat_rem link_changes)"

# round trip of one bit (the other end echoes bit 0)
echo "echo 0" >$D/cmd
R "echo 'echo 0' > $RD/cmd"
R "echo 'echo 1' > $RD/cmd"
echo "rtt 2000 0" >$D/cmd
dbt_wait $D "$(time_left 30)" >/tmp/rtt.res
sed 's/^/# rtt: /' /tmp/rtt.res
tap_eq "2000 timed round trips" 2000 "$(val samples /tmp/rtt.res)"
ntb_teardown ntb_dbtest
tap_check "no kernel warnings" dmesg_clean
[ -z "$RH" ] || peer_halt "$RH"
tap_done
