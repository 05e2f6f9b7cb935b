# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: bench/irqoff.sh (interrupts-off sections); not in make test
#
# The longest section in which the driver keeps interrupts off around
# shared memory (irqoff_stats=1), over 10 s of link toggles and message
# status reads (ntb_tool), with (ivntb.hammer=1, irqoff.host) or without a
# hostile host that keeps the event counter the driver's notifications
# loop on moving, and feeds us malformed messages to drop and ack. The
# figures are bench/irqoff.sh's; what does not depend on time is asserted:
# every toggle and read returned, the link word ends enabled.
. /ivntb/lib.sh
. /ivntb/lib-ntb.sh
tap_plan 6

modprobe ntb_hw_ivshmem irqoff_stats=1 && modprobe ntb_tool
tap_result $? "ntb_hw_ivshmem (irqoff_stats=1) and ntb_tool load"
LOC=$(ls /sys/bus/ntb/devices | head -1)
T=$DBG/ntb_tool/$LOC
H=$DBG/ntb_hw_ivshmem/$LOC
echo Y >$T/link
# the host starts within 0.2 s of seeing our link enabled
sleep 1
n=0 bad=0
end=$(( $(cut -d. -f1 /proc/uptime) + 10 ))
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
	echo N >$T/link || bad=$((bad + 1))
	echo Y >$T/link || bad=$((bad + 1))
	cat $T/msg_sts >/dev/null || bad=$((bad + 1))
	n=$((n + 1))
done
tap_eq "every link toggle and status read returned ($n rounds)" 0 "$bad"
tap_check "at least 10 rounds in 10 s" test "$n" -ge 10
tap_eq "our link is enabled at the end" 1 \
	"$(awk '$1 == "link_enabled:" { print $2 }' $H/info)"
# "irqoff_SITE: n N p50_us A p99_us B max_us C", one line per section
grep '^irqoff_' $H/stats | sed 's/^/# /'
tap_eq "stats time 7 sections, link_set among those that ran" "7 1" \
	"$(grep -c '^irqoff_' $H/stats) $(awk '$1 == "irqoff_link_set:" { print ($3 > 0) }' $H/stats)"
h=${IVNTB_HAMMER:-0}
awk -v h=$h '/^irqoff_/ { site = substr($1, 8, length($1) - 8)
	printf "# figure irqoff_h%s %s %s %s %s %s\n", h, site, $3, $5, $7, $9 }' $H/stats
echo "# figure irqoff_h${h}_rounds $n"
tap_check "ntb_tool and the driver unload" ntb_teardown ntb_tool
tap_done
