# SPDX-License-Identifier: GPL-2.0
# ivntb-run: riscv64 | loopback smoke | -t loopback
# ivntb-run: riscv64 x86_64 riscv64-6.1 arm64 | pair smoke | -t pair
# ivntb-run: selftest | harness fails an injected failing test | -t loopback | fail:not ok 1 - injected failure (IVNTB_INJECT=fail) | IVNTB_INJECT=fail
# ivntb-run: selftest | harness fails an injected WARNING: line | -t loopback | fail:WARNING: injected by IVNTB_INJECT=warn (harness self-test) | IVNTB_INJECT=warn
# ivntb-run: selftest | harness fails a script that exits non-zero after its results | -t loopback | fail:exited with status 3, every TAP result ok | IVNTB_INJECT=exit
#
# Harness smoke test, both topologies: the ivshmem devices are there with
# the configured BAR2, they share memory, modules load, and (pair) the
# remote command channel returns output and exit status.
. /ivntb/lib.sh

devs=($(ivshmem_devs))
if [ "$IVNTB_ROLE" = a ]; then
	tap_plan 11
else
	tap_plan 6
fi

tap_eq "ivshmem devices visible" "${IVNTB_NDEV:-?}" "${#devs[@]}"

sizes=
for d in "${devs[@]}"; do
	echo 1 >"$d/enable"
	sizes+="$(shmpoke "$d/resource2" size) "
done
want=
for d in "${devs[@]}"; do want+="$IVNTB_REGION "; done
tap_eq "BAR2 size is the configured region size" "$want" "$sizes"

# resource line 3 = BAR2: flags with IORESOURCE_MEM_64 (0x00100000) and
# IORESOURCE_PREFETCH (0x2000)
flags_ok=0
for d in "${devs[@]}"; do
	f=$(sed -n 3p "$d/resource" | awk '{ print $3 }')
	(( (f & 0x00102000) == 0x00102000 )) || flags_ok=1
done
tap_result $flags_ok "BAR2 is 64-bit prefetchable"

# Shared memory: what one device writes, the other (or the peer) reads.
pat=$(printf '0x%08x%08x' $RANDOM$RANDOM $$)
shmpoke "${devs[0]}/resource2" 4096 "$pat"
if [ "${#devs[@]}" -ge 2 ]; then
	tap_eq "a store through device 0 reads back through device 1" \
		"$pat" "$(shmpoke "${devs[1]}/resource2" 4096)"
else
	tap_eq "a store reads back" "$pat" "$(shmpoke "${devs[0]}/resource2" 4096)"
fi

tap_check "modprobe ntb_tool" sh -c 'modprobe ntb_tool && test -d /sys/kernel/debug/ntb_tool'
tap_check "modprobe ntb_hw_ivshmem, then unload both" \
	sh -c 'modprobe ntb_hw_ivshmem && modprobe -r ntb_tool && modprobe -r ntb_hw_ivshmem'

if [ "$IVNTB_ROLE" = a ]; then
	peer=guest-b
	tap_eq "remote channel returns output" "hello from guest-b" \
		"$(ssh $peer 'echo hello from $(hostname)')"
	ssh $peer 'exit 3'
	tap_eq "remote channel returns the exit status" 3 "$?"
	sum1=$(ssh $peer 'head -c 200000 /dev/urandom >/tmp/r; md5sum </tmp/r')
	sum2=$(ssh $peer cat /tmp/r | md5sum)
	tap_eq "remote channel carries binary stdout intact" "$sum1" "$sum2"
	pdev=$(ssh $peer '. /ivntb/lib.sh; ivshmem_devs')
	ssh $peer "echo 1 > $pdev/enable"
	tap_eq "memory written here is read by the other guest" "$pat" \
		"$(ssh $peer shmpoke "$pdev/resource2" 4096)"
	pat2=$(printf '0x%016x' $RANDOM$RANDOM$RANDOM)
	ssh $peer shmpoke "$pdev/resource2" 8192 "$pat2"
	tap_eq "memory written by the other guest is read here" "$pat2" \
		"$(shmpoke "${devs[0]}/resource2" 8192)"
	peer_halt $peer
fi
tap_done
