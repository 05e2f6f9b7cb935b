# SPDX-License-Identifier: GPL-2.0
# No lost doorbell across two guests (or two devices) under load: each end
# keeps 32 bits in flight towards the other and echoes the other's 32 bits,
# so both doorbell words take concurrent sets from the peer and clears from
# their owner. A lost update leaves a bit outstanding forever. Then a
# single-bit round-trip timing (reported, not asserted).
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_DBN:-1000000}
LO=0x00000000ffffffff
HI=0xffffffff00000000
tap_plan 6

ntb_setup "ntb_dbtest timeout_ms=120000"
tap_result $? "ntb_hw_ivshmem and ntb_dbtest load on both ends"
D=$DBG/ntb_dbtest/$LOC
RD=$DBG/ntb_dbtest/$REM
tap_check "link up" wait_for 10 up

echo "echo $HI" >$D/cmd
R "echo 'echo $LO' > $RD/cmd"
# both directions at once
R "echo 'stress $N $HI' > $RD/cmd; cat $RD/result" >/tmp/rem.res 2>&1 &
rpid=$!
echo "stress $N $LO" >$D/cmd
cat $D/result >/tmp/loc.res
wait $rpid
sed 's/^/# here:  /' /tmp/loc.res
sed 's/^/# there: /' /tmp/rem.res
val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
tap_eq "here: $N rings came back, none lost" "1 $N 0" \
	"$(val done /tmp/loc.res) $(val returned /tmp/loc.res) $(val lost /tmp/loc.res)"
tap_eq "there: $N rings came back, none lost" "1 $N 0" \
	"$(val done /tmp/rem.res) $(val returned /tmp/rem.res) $(val lost /tmp/rem.res)"
ns=$(val elapsed_ns /tmp/loc.res)
[ -n "$ns" ] && [ "$ns" -gt 0 ] && echo "# $(( N * 1000000000 / ns )) round trips/s each way"

# round trip of one bit (the other end echoes bit 0)
echo "echo 0" >$D/cmd
R "echo 'echo 0' > $RD/cmd"
R "echo 'echo 1' > $RD/cmd"
echo "rtt 2000 0" >$D/cmd
cat $D/result >/tmp/rtt.res
sed 's/^/# rtt: /' /tmp/rtt.res
tap_eq "2000 timed round trips" 2000 "$(val samples /tmp/rtt.res)"
ntb_teardown ntb_dbtest
tap_check "no kernel warnings" dmesg_clean
[ -z "$RH" ] || peer_halt "$RH"
tap_done
