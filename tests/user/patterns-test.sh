#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel-log failure patterns (tests/guest/failure-patterns), through
# the same greps as the host's serial-log scan (launch.sh) and the guests'
# dmesg_clean (lib-ntb.sh): a real kernel line for each pattern must be
# caught by the list and by its own pattern, each pattern of the list must
# have its line here, and clean lines must pass.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/scripts/lib.sh"
PF=$TOP/tests/guest/failure-patterns
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# PATTERN<TAB>a line the kernel prints (riscv64 and x86_64 guests)
cat >"$W/samples" <<'EOF'
BUG:	[   41.402163] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:283
kernel BUG at	[    1.020304] kernel BUG at drivers/ntb/hw/ivshmem/ntb_ivshmem.c:10!
Kernel BUG	[    1.020410] Kernel BUG [#1]
WARNING:	[   33.104211] WARNING: CPU: 1 PID: 97 at drivers/ntb/hw/ivshmem/ntb_ivshmem.c:412 ivntb_poll+0x1c/0x80 [ntb_hw_ivshmem]
Oops	[    7.700187] Oops [#1]
Unable to handle kernel	[    7.699812] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008
general protection fault	[   12.551020] general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN
Call Trace:	[   33.106001] Call Trace:
KASAN:	[   12.551307] KASAN: null-ptr-deref in range [0x0000000000000008-0x000000000000000f]
UBSAN	[    9.310022] UBSAN: shift-out-of-bounds in drivers/ntb/hw/ivshmem/ntb_ivshmem.c:321:18
Kernel panic	[    2.000101] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b
nobody cared	[    5.123456] irq 11: nobody cared (try booting with the "irqpoll" option)
soft lockup	[   12.300000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kworker/0:1:31]
rcu.*stall	[   60.410000] rcu: INFO: rcu_sched self-detected stall on CPU
blocked for more than [0-9]+ seconds	[  245.760112] INFO: task modprobe:123 blocked for more than 120 seconds.
DEBUG_LOCKS_WARN_ON	[    3.141592] DEBUG_LOCKS_WARN_ON(lock->magic != lock)
lockdep is turned off	[    3.141600] INFO: lockdep is turned off.
possible circular locking	[   20.000001] WARNING: possible circular locking dependency detected
suspicious RCU usage	[   20.000002] WARNING: suspicious RCU usage
kmemleak: [0-9]+ new suspected	[   80.123456] kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)
EOF
# lines a passing run prints: kernel, driver, harness and test output
cat >"$W/clean" <<'EOF'
ntb_hw_ivshmem 0000:00:01.0: link up
[    0.000000] Kernel command line: console=ttyS0 rdinit=/init panic=-1 ivntb.test=hostile ivntb.role=solo
[    0.312000] kmemleak: Kernel memory leak detector initialized (mem pool available: 15781)
[    0.000000] rcu: Preemptible hierarchical RCU implementation.
[    0.000000] rcu: RCU calculated value of scheduler-enlistment delay is 25 jiffies.
[    0.401000] kasan: KernelAddressSanitizer initialized
ok 7 - no oops, BUG or WARNING
ok 6 - kmemleak: no leak from the NTB code after 20 reloads
# ntb_test.sh -r guest-b 0000:00:01.0 0000:00:01.0 -p 16
# | Running db tests on: 0000:00:01.0 / guest-b:0000:00:01.0
[   25.000000] ntb_hw_ivshmem 0000:00:01.0: peer 0: link down (heartbeat stopped 84 ms ago)
EOF

n=0 f=0
t() {	# t DESCRIPTION COMMAND...: ok if COMMAND succeeds
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else f=$((f + 1)); echo "not ok $n - $d"; fi
}
# the host's scan: launch.sh's failure_patterns, grep -Ef
failure_patterns >"$W/host" || { echo "not ok - no failure patterns"; exit 1; }
host_hit() { printf '%s\n' "$1" | grep -Eqf "$W/host"; }
# the guests' dmesg_clean as lib-ntb.sh has it, on the host's files: true
# when the kernel log (here: LINE) is clean
IVNTB_ROLE=solo . "$TOP/tests/guest/lib-ntb.sh"
eval "$(declare -f dmesg_clean | sed "s|/ivntb/failure-patterns|$PF|g; s|/tmp/failure-patterns|$W/guest|g")"
guest_clean() { LINE=$1; dmesg() { printf '%s\n' "$LINE"; }; dmesg_clean >/dev/null; }
own_hit() { printf '%s\n' "$2" | grep -Eq -- "$1"; }
listed() { grep -Fxq -- "$1" "$W/host"; }

echo "1..$(( $(wc -l <"$W/samples") * 4 + $(wc -l <"$W/clean") * 2 + 1 ))"
while IFS=$'\t' read -r pat line; do
	t "'$pat' is in the list" listed "$pat"
	t "'$pat' matches: $line" own_hit "$pat" "$line"
	t "host scan catches: $line" host_hit "$line"
	t "dmesg_clean catches: $line" eval '! guest_clean "$line"'
done <"$W/samples"
while IFS= read -r line; do
	t "host scan passes: $line" eval '! host_hit "$line"'
	t "dmesg_clean passes: $line" guest_clean "$line"
done <"$W/clean"
untested=$(cut -f1 "$W/samples" | grep -vxF -f - "$W/host")
t "every pattern in the list has a sample line${untested:+ (not: $untested)}" test -z "$untested"
echo "$((n - f)) passed, $f failed"
[ $f = 0 ]
