# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: bench/rtt-profile.sh (where a busy round trip's time goes); not in make test
#
# Bench helper (bench/rtt-profile.sh; launch.sh -t pair --doorbell): the
# busy doorbell round trip of ntb_dbtest in each mode of PROFILE_MODES,
# then the floor (a scratchpad bounced by two busy loops), each with
# ivshm_sampler sampling the PC of every vCPU of both guests. Per mode:
# "# figure rtt MODE p50_us|p99_us V", then each guest's flat profile as
# "# figure profile MODE GUEST COUNT SHARE SYMBOL" lines, which the bench script
# collects from the log.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
RTT_N=${IVNTB_RTT_N:-50000}
R_MODES=${IVNTB_PROFILE_MODES:-hybrid,adaptive,kthread}
# the sampling period (ns): 10000000 all but removes the sampler's own cost
SAMPLE_NS=${IVNTB_SAMPLE_NS:-100000}
MODES=(${R_MODES//,/ })
tap_plan $(( ${#MODES[@]} + 3 ))
SAMP=$DBG/ivshm_sampler

val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
us() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }
# profile_dump NAME: both guests' profiles since the last start
profile_dump()
{
	cat $SAMP/profile | sed "s/^/# figure profile $1 a /"
	R cat $SAMP/profile | sed "s/^/# figure profile $1 b /"
}
modprobe ivshm_sampler period_ns=$SAMPLE_NS &&
	R modprobe ivshm_sampler period_ns=$SAMPLE_NS
for name in "${MODES[@]}"; do
	dbt_echo_setup "$name" 180000
	echo "rtt 200 0" >$DBG/ntb_dbtest/$LOC/cmd	# warm up
	cat $DBG/ntb_dbtest/$LOC/result >/dev/null
	echo start >$SAMP/control && R "echo start > $SAMP/control"
	echo "rtt $RTT_N 0" >$DBG/ntb_dbtest/$LOC/cmd
	# the run, not the sort of its samples that reading result does
	echo "wait 180000" >$DBG/ntb_dbtest/$LOC/cmd
	echo stop >$SAMP/control && R "echo stop > $SAMP/control"
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt
	profile_dump "$name"
	ntb_teardown ntb_dbtest
	tap_eq "$name: $RTT_N round trips, sampled" "$RTT_N" "$(val samples /tmp/rtt)"
	echo "# figure rtt $name p50_us $(us "$(val p50_ns /tmp/rtt)")"
	echo "# figure rtt $name p99_us $(us "$(val p99_ns /tmp/rtt)")"
done
modprobe ntb_hw_ivshmem && R modprobe ntb_hw_ivshmem
ntb_setup "ntb_dbtest timeout_ms=180000"
wait_for 10 up
# what the primitives of the path cost on guest a's CPU, the link idle
cat $DBG/ntb_dbtest/$LOC/cost >/tmp/cost
awk -F': ' '/_ps:/ { sub(/_ps$/, "", $1); printf "# figure cost %s %.3f\n", $1, $2 / 1000 }' /tmp/cost
tap_eq "primitive costs read" 13 "$(grep -c _ps: /tmp/cost)"
echo start >$SAMP/control && R "echo start > $SAMP/control"
R "echo 'spadecho $RTT_N' > $DBG/ntb_dbtest/$REM/cmd" &
rpid=$!
sleep 1
echo "spadpp $RTT_N" >$DBG/ntb_dbtest/$LOC/cmd
wait $rpid
echo stop >$SAMP/control && R "echo stop > $SAMP/control"
cat $DBG/ntb_dbtest/$LOC/result >/tmp/floor
profile_dump floor
ntb_teardown ntb_dbtest
tap_eq "floor: $RTT_N scratchpad round trips, sampled" "$RTT_N" "$(val samples /tmp/floor)"
echo "# figure rtt floor p50_us $(us "$(val p50_ns /tmp/floor)")"
echo "# figure rtt floor p99_us $(us "$(val p99_ns /tmp/floor)")"
modprobe -r ivshm_sampler && R modprobe -r ivshm_sampler
tap_check "no kernel warnings" dmesg_clean
peer_halt "$RH"
tap_done
