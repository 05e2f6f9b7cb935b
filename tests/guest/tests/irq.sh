# SPDX-License-Identifier: GPL-2.0
# Interrupt mode (launch.sh --doorbell): on ivshmem-doorbell devices the
# driver takes an MSI-X vector, publishes its doorbell peer ID, and peers
# write its Doorbell register after publishing events. Doorbells must then
# arrive by interrupt (irqs counted on both ends), none lost; with
# use_irq=N the same devices poll. Round-trip figures for both, same boot.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
N=${IVNTB_DBN:-20000}
tap_plan 12

val() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
info() { awk -v k="$1:" '$1 == k { print $2 }' $DBG/ntb_hw_ivshmem/$LOC/info; }
rinfo() { R "awk -v k='$1:' '\$1 == k { print \$2 }' $DBG/ntb_hw_ivshmem/$REM/info"; }

# rtt_run LABEL: 2000 timed round trips of bit 0, the peer echoing it
rtt_run()
{
	R "echo 'echo 1' > $DBG/ntb_dbtest/$REM/cmd"
	echo "rtt 2000 0" >$DBG/ntb_dbtest/$LOC/cmd
	cat $DBG/ntb_dbtest/$LOC/result >/tmp/rtt.$1
	sed "s/^/# $1 rtt: /" /tmp/rtt.$1
	echo "# figure rtt_p50_us_$1 $(awk -v n=$(val p50_ns /tmp/rtt.$1) 'BEGIN { printf "%.1f", n / 1000 }')"
	echo "# figure rtt_p99_us_$1 $(awk -v n=$(val p99_ns /tmp/rtt.$1) 'BEGIN { printf "%.1f", n / 1000 }')"
}

ntb_setup "ntb_dbtest timeout_ms=60000"
tap_result $? "ntb_hw_ivshmem and ntb_dbtest load on both ends"
dmesg | grep -i 'ivshmem-doorbell\|MSI' | sed 's/^/# dmesg: /'
tap_eq "both ends in interrupt mode" "irq irq" "$(info poll_mode) $(rinfo poll_mode)"
tap_check "link up" wait_for 10 up

i0=$(stat_loc irqs) r0=$(stat_rem irqs)
rtt_run irq
tap_eq "2000 round trips by interrupt" 2000 "$(val samples /tmp/rtt.irq)"
i1=$(stat_loc irqs) r1=$(stat_rem irqs)
echo "# interrupts: here $((i1 - i0)), there $((r1 - r0))"
# each round trip is one MSI-X each way; QEMU may merge an eventfd's
# writes into one interrupt, so ask for most, not all
tap_check "interrupts took them on both ends (>= 1000 each)" \
	test $((i1 - i0)) -ge 1000 -a $((r1 - r0)) -ge 1000

# concurrent stress, both directions: nothing lost with interrupts, and
# interrupts carried it: every peer_db_set (db_sent; ntb_dbtest rings
# up to 32 bits at once) wrote the peer's Doorbell register (irq_rings),
# and both receivers took interrupts (irqs)
i2=$(stat_loc irqs) r2=$(stat_rem irqs)
g2=$(stat_loc irq_rings) h2=$(stat_rem irq_rings)
s2=$(stat_loc db_sent) t2=$(stat_rem db_sent)
R "echo 'echo 0x00000000ffffffff' > $DBG/ntb_dbtest/$REM/cmd"
echo "echo 0xffffffff00000000" >$DBG/ntb_dbtest/$LOC/cmd
R "echo 'stress $N 0xffffffff00000000' > $DBG/ntb_dbtest/$REM/cmd; cat $DBG/ntb_dbtest/$REM/result" >/tmp/rem.res 2>&1 &
rpid=$!
echo "stress $N 0x00000000ffffffff" >$DBG/ntb_dbtest/$LOC/cmd
cat $DBG/ntb_dbtest/$LOC/result >/tmp/loc.res
wait $rpid
tap_eq "stress both ways by interrupt: $N rings came back each way, none lost" \
	"1 $N 0 1 $N 0" \
	"$(val done /tmp/loc.res) $(val returned /tmp/loc.res) $(val lost /tmp/loc.res) $(val done /tmp/rem.res) $(val returned /tmp/rem.res) $(val lost /tmp/rem.res)"
i3=$(stat_loc irqs) r3=$(stat_rem irqs)
g3=$(stat_loc irq_rings) h3=$(stat_rem irq_rings)
s3=$(stat_loc db_sent) t3=$(stat_rem db_sent)
echo "# stress: peer_db_set here $((s3 - s2)), there $((t3 - t2)); Doorbell writes here $((g3 - g2)), there $((h3 - h2)); irqs here $((i3 - i2)), there $((r3 - r2))"
tap_check "stress by interrupt: a Doorbell write per peer_db_set each way, interrupts taken on both ends" \
	test $((g3 - g2)) = $((s3 - s2)) -a $((h3 - h2)) = $((t3 - t2)) -a $((s3 - s2)) -ge 1 -a \
	$((t3 - t2)) -ge 1 -a $((i3 - i2)) -ge 1 -a $((r3 - r2)) -ge 1
ntb_teardown ntb_dbtest

# the same devices, polling (use_irq=N): the comparison in one boot
modprobe ntb_hw_ivshmem use_irq=0 && R modprobe ntb_hw_ivshmem use_irq=0
ntb_setup "ntb_dbtest timeout_ms=60000"
tap_eq "use_irq=N: both ends poll (adaptive) on the doorbell devices" "adaptive adaptive" \
	"$(info poll_mode) $(rinfo poll_mode)"
wait_for 10 up
rtt_run poll
tap_eq "2000 round trips by polling" 2000 "$(val samples /tmp/rtt.poll)"
tap_eq "no interrupt taken while polling" "0 0" "$(stat_loc irqs) $(stat_rem irqs)"
ntb_teardown ntb_dbtest

tap_dmesg_both
tap_done
