#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot QEMU guests over one ivshmem region, run a guest test, judge it.
#
#   launch.sh [options]
#     -t, --topology loopback|pair|guests|host
#                                   loopback: one guest, two ivshmem-plain
#                                   devices on the same file; pair: two
#                                   guests, one device each, on the same file,
#                                   plus a private link and the ivrsh channel;
#                                   guests: as pair with --guests N guests
#                                   a, b, c, ... (a switch of N ports), a
#                                   private link from a to each other guest;
#                                   host: one guest, one device, the other
#                                   end a host process (default loopback)
#     --guests N                    guests topology: N guests, 3 to 8 (3)
#     -T, --test NAME               guest test tests/guest/tests/NAME.sh (smoke)
#     --qemu BIN                    QEMU binary (qemu-system-<arch>)
#     --machine M                   -M value (riscv64: virt; x86_64: q35;
#                                   arm64: virt,gic-version=3)
#     --smp N                       vCPUs per guest (2)
#     --maxcpus N                   maxcpus, forced >= 2: TCG uses real host
#                                   atomics only when maxcpus > 1 (default
#                                   max(2, smp))
#     --mem MB                      guest memory (256)
#     --region SIZE                 ivshmem region size, e.g. 4M (4M)
#     --region-b SIZE               pair: guest b's device maps only SIZE of
#                                   the file (a mismatched configuration)
#     --ndev N                      loopback: ivshmem devices in the guest (2)
#     --ports N                     initialise the region for N ports with the
#                                   host tool before boot (2; guests: N);
#                                   0: leave it blank
#     --init-args ARGS              more `ivntb-shm init` arguments
#     --mw-pools on|off|ops         riscv64, arm64: boot with a device tree that
#                                   declares each port's inbound memory
#                                   windows in each ivshmem BAR2 as a
#                                   shared-dma-pool (docs/windows.md);
#                                   x86_64, arm64: off boots with
#                                   ntb_hw_ivshmem.mw_dma_ops=0; ops: no
#                                   pool, the driver's own DMA ops back
#                                   the windows (x86_64 as on; arm64) (on)
#     --doorbell                    ivshmem-doorbell devices instead of
#                                   ivshmem-plain, on our doorbell server
#                                   (tools/ivshmem-server), MSI-X vector 0;
#                                   riscv64: -M virt,aia=aplic-imsic
#     --supervise                   --doorbell, the server run with --ntb:
#                                   it marks a peer whose QEMU died gone
#                                   and rings the others (protocol 1.3)
#     --append ARGS                 extra kernel command line
#     --timeout S                   wall-clock limit for the run (300); the
#                                   guests see it as ivntb.timeout (their
#                                   own waits stay inside it: time_left)
#     --keep-logs                   keep the run folder even when it passes
#   A test may come with a host hook, tests/guest/tests/NAME.host, run as
#   `NAME.host start SHM RUNDIR TOOL` in the background before boot and
#   `NAME.host check SHM RUNDIR TOOL` after the guests stopped (TOOL: the
#   host's ivntb-shm); a failing check fails the run. The hook sees the
#   --append parameters ivntb.KEY=VALUE as IVNTB_KEY, as the guests do.
#   Environment: IVNTB_ARCH, IVNTB_KVER, IVNTB_BUILD (see lib.sh),
#   IVNTB_INJECT=fail|warn|exit (harness self-test: the run must then fail),
#   IVNTB_RUNID (name of the run: QEMU processes are "ivntb-RUNID-ROLE",
#   logs in $IVNTB_BUILD/runs/RUNID), IVNTB_FIGURES=FILE (append the
#   guest's "# figure ..." lines, its measurements, to FILE),
#   IVNTB_DEADLINE (epoch seconds, make test's time budget, .ci/run; with
#   IVNTB_BUDGET_MIN, its length for the message): no run starts with less
#   than 30 s left, and the timeout is clamped to the time left.
#
# A run passes when every guest powered off before the timeout, the driving
# guest printed a TAP plan and exactly that many results, none "not ok",
# the QEMU of every other guest (pair, guests) exited 0 unless the host
# hook killed it, and no guest serial log (ROLE.log, and the copies a hook
# kept, ROLE.crashN.log) has a line from tests/guest/failure-patterns.
# Logs of failed runs stay under $IVNTB_BUILD/runs/, with the reasons in
# RUNDIR/verdict. No QEMU process,
# host hook process or /dev/shm file outlives the run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOPO=loopback
TEST=smoke
QEMU=
MACHINE=
SMP=2
MAXCPUS=
MEM=256
REGION=4M
REGION_B=
NDEV=2
PORTS=
GUESTS=3
INIT_ARGS=
MW_POOLS=on
DOORBELL=0
SUPERVISE=0
APPEND=
TIMEOUT=300
KEEP=0

while [ $# -gt 0 ]; do
	case "$1" in
	-t|--topology) TOPO=$2; shift ;;
	-T|--test) TEST=$2; shift ;;
	--qemu) QEMU=$2; shift ;;
	--machine) MACHINE=$2; shift ;;
	--smp) SMP=$2; shift ;;
	--maxcpus) MAXCPUS=$2; shift ;;
	--mem) MEM=$2; shift ;;
	--region) REGION=$2; shift ;;
	--region-b) REGION_B=$2; shift ;;
	--ndev) NDEV=$2; shift ;;
	--guests) GUESTS=$2; shift ;;
	--append) APPEND=$2; shift ;;
	--ports) PORTS=$2; shift ;;
	--init-args) INIT_ARGS=$2; shift ;;
	--mw-pools) MW_POOLS=$2; shift ;;
	--doorbell) DOORBELL=1 ;;
	--supervise) DOORBELL=1 SUPERVISE=1 ;;
	--timeout) TIMEOUT=$2; shift ;;
	--keep-logs) KEEP=1 ;;
	-h|--help) sed -n '4,48p' "$0"; exit 0 ;;
	*) die "launch: unknown option $1 (see --help)" ;;
	esac
	shift
done

case "$TOPO" in
loopback|host) GUESTS=1 ;;
pair) GUESTS=2 ;;
guests) [[ "$GUESTS" =~ ^[3-8]$ ]] || die "launch: --guests must be 3 to 8" ;;
*) die "launch: topology must be loopback, pair, guests or host" ;;
esac
# the guests' roles: a drives the test, the others serve
LETTERS=abcdefgh
GROLES=()
for ((k = 0; k < GUESTS; k++)); do GROLES+=("${LETTERS:k:1}"); done
[ -n "$PORTS" ] || { PORTS=2; [ "$TOPO" != guests ] || PORTS=$GUESTS; }
[ -f "$IVNTB_TOP/tests/guest/tests/$TEST.sh" ] || die "launch: no guest test '$TEST'"
QEMU=${QEMU:-$QEMU_DEFAULT}
command -v "$QEMU" >/dev/null || die "launch: $QEMU not found (run: make deps)"
MAXCPUS=${MAXCPUS:-$SMP}
[ "$MAXCPUS" -ge 2 ] || MAXCPUS=2
[ "$MAXCPUS" -ge "$SMP" ] || MAXCPUS=$SMP
TIMEOUT_NOTE=
if [ -n "${IVNTB_DEADLINE:-}" ]; then
	[[ "$IVNTB_DEADLINE" =~ ^[0-9]+$ ]] || die "launch: IVNTB_DEADLINE must be epoch seconds"
	left=$(( IVNTB_DEADLINE - $(date +%s) ))
	[ "$left" -ge 30 ] ||
		die "make test time budget (${IVNTB_BUDGET_MIN:-?} min) exhausted before $TOPO/$TEST"
	if [ "$TIMEOUT" -gt "$left" ]; then
		echo "launch: timeout ${TIMEOUT}s clamped to the ${left}s left of the make test time budget"
		TIMEOUT=$left
		TIMEOUT_NOTE=" (clamped to the make test time budget)"
	fi
fi

REGION_BYTES=$(numfmt --from=iec "$REGION")
REGION_B_BYTES=$(numfmt --from=iec "${REGION_B:-$REGION}")
KDIR=$(kobj_dir)
[ -f "$KDIR/.ivntb-done" ] || die "launch: no kernel built for $(kernel_key) (run: make kernel)"
IMAGE=$KDIR/$KIMAGE_REL
INITRD=$(guest_dir)/initrd.gz
[ -f "$INITRD" ] || die "launch: no initramfs at $INITRD (run: make initramfs)"

DTB_ARGS_EXTRA=()
case "$IVNTB_ARCH" in
riscv64)
	# MSI-X needs an MSI controller: the AIA's IMSIC
	if [ "$DOORBELL" = 1 ]; then MACHINE=${MACHINE:-virt,aia=aplic-imsic}; fi
	MACHINE=${MACHINE:-virt}
	ARCH_ARGS=(-bios default)
	CONSOLE=ttyS0
	;;
x86_64)
	MACHINE=${MACHINE:-q35}
	ARCH_ARGS=(-accel tcg -cpu max)
	CONSOLE=ttyS0
	;;
arm64)
	# GICv3: its ITS takes ivshmem-doorbell's MSI-X. The cheap pointer
	# authentication: QARMA under TCG costs every function call.
	MACHINE=${MACHINE:-virt,gic-version=3}
	ARCH_ARGS=(-accel tcg -cpu max,pauth-impdef=on)
	# the CPU shapes the memory map (a 32-bit one has no high PCI window)
	DTB_ARGS_EXTRA=(-cpu max,pauth-impdef=on)
	CONSOLE=ttyAMA0
	;;
esac

RUNID=${IVNTB_RUNID:-$(date +%Y%m%d-%H%M%S)-$TOPO-$TEST-$$}
RUNDIR=$IVNTB_BUILD/runs/$RUNID
SHM=/dev/shm/ivntb-run-$RUNID
SOCKDIR=
PIDS=()
HOOK_PID=
mkdir -p "$RUNDIR"

# stop_group PGID: TERM a process group (the host hook runs in its own:
# its children too, such as a foreground `ivntb-shm peer`), KILL what is
# left after 2 s
stop_group() {
	kill -TERM -- "-$1" 2>/dev/null || return 0
	for _ in $(seq 20); do
		kill -0 -- "-$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$1" 2>/dev/null || true
}

cleanup() {
	local p
	[ -z "$HOOK_PID" ] || stop_group "$HOOK_PID"
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# anything a host hook started for this run (crash.host reboots a guest)
	pkill -KILL -f -- "-name ivntb-$RUNID-" 2>/dev/null || true
	for _ in $(seq 20); do
		pgrep -f -- "-name ivntb-$RUNID-" >/dev/null || break
		sleep 0.1
	done
	rm -f "$SHM"
	[ -z "$SOCKDIR" ] || rm -rf "$SOCKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# the failure patterns, stripped for grep -Ef: a broken list fails now
failure_patterns >"$RUNDIR/failure-patterns" && [ -s "$RUNDIR/failure-patterns" ] ||
	die "launch: no failure patterns in $IVNTB_TOP/tests/guest/failure-patterns"

if [ "$DOORBELL" = 1 ]; then
	# The server creates and owns the shm object (and removes it on exit).
	SERVER=$IVNTB_BUILD/user/ivshmem-server/ivntb-ivshmem-server
	[ -x "$SERVER" ] || die "launch: $SERVER missing (run: make tools)"
	SOCKDIR=$(mktemp -d "/tmp/ivntb-sock.${RUNID:0:60}.XXXXXX")
	SUPARGS=()
	[ "$SUPERVISE" = 0 ] || SUPARGS=(--ntb -v)
	"$SERVER" -F -S "$SOCKDIR/sock" -M "${SHM#/dev/shm/}" -l "$REGION_BYTES" -n 1 \
		"${SUPARGS[@]}" >"$RUNDIR/server.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [ -S "$SOCKDIR/sock" ] && break; sleep 0.05; done
	[ -S "$SOCKDIR/sock" ] || { cat "$RUNDIR/server.log"; die "launch: doorbell server did not start"; }
else
	truncate -s "$REGION_BYTES" "$SHM"
fi
if [ "$PORTS" != 0 ]; then
	# The host is the explicit initialiser of the region (docs/protocol.md).
	SHMTOOL=$IVNTB_BUILD/user/ivntb-shm
	[ -x "$SHMTOOL" ] || die "launch: $SHMTOOL missing (run: make tools)"
	# shellcheck disable=SC2086
	"$SHMTOOL" init "$SHM" --size "$REGION_BYTES" --ports "$PORTS" $INIT_ARGS \
		>"$RUNDIR/shm-init.log" 2>&1 || { cat "$RUNDIR/shm-init.log"; die "launch: region init failed"; }
fi

# start_guest ROLE TEST NDEV EXTRA_QEMU_ARGS...: starts one QEMU under
# `timeout`, serial console to $RUNDIR/ROLE.log; sets GPID.
start_guest() {
	local role=$1 test=$2 ndev=$3
	shift 3
	local cmdline="console=$CONSOLE rdinit=/init panic=-1 ivntb.test=$test"
	cmdline+=" ivntb.role=$role ivntb.region=$REGION_BYTES ivntb.ndev=$ndev"
	cmdline+=" ivntb.timeout=$TIMEOUT ivntb.mw_pools=$POOLS ivntb.guests=$GUESTS"
	case "$role" in a|solo) [ -z "${IVNTB_INJECT:-}" ] || cmdline+=" ivntb.inject=$IVNTB_INJECT" ;; esac
	cmdline+=" $APPEND"
	# the monitor: the vCPUs' state if the run is about to time out
	[ -n "$SOCKDIR" ] || SOCKDIR=$(mktemp -d "/tmp/ivntb-sock.${RUNID:0:60}.XXXXXX")
	local args=(
		"$QEMU" -name "ivntb-$RUNID-$role" -M "$MACHINE" "${ARCH_ARGS[@]}"
		-monitor "unix:$SOCKDIR/$role.mon,server=on,wait=off"
		-smp "$SMP,maxcpus=$MAXCPUS" -m "$MEM"
		-nodefaults -display none -no-reboot
		-chardev "file,id=con,path=$RUNDIR/$role.log" -serial chardev:con
		-kernel "$IMAGE" -initrd "$INITRD" -append "$cmdline"
		"${DTB_ARGS[@]}" "$@"
	)
	printf '%q ' "${args[@]}" >"$RUNDIR/$role.cmd"
	echo >>"$RUNDIR/$role.cmd"
	timeout -k 5 "$TIMEOUT" "${args[@]}" >"$RUNDIR/$role.qemu.log" 2>&1 &
	GPID=$!
	PIDS+=("$GPID")
}

shm_dev() {	# shm_dev INDEX [BYTES]
	if [ "$DOORBELL" = 1 ]; then
		echo -chardev "socket,path=$SOCKDIR/sock,id=ivsh$1" \
			-device "ivshmem-doorbell,chardev=ivsh$1,vectors=1"
		return
	fi
	echo -object "memory-backend-file,id=shm$1,mem-path=$SHM,size=${2:-$REGION_BYTES},share=on" \
		-device "ivshmem-plain,memdev=shm$1"
}

# Device tree with DMA pools over the inbound memory windows (riscv64,
# arm64):
# QEMU's own for this machine with the pools added, by the command a user
# runs for their own QEMU line (ivntb-shm dtb, docs/windows.md).
DTB_ARGS=()
case "$MW_POOLS" in on|off|ops) ;; *) die "launch: --mw-pools on, off or ops, not '$MW_POOLS'" ;; esac
POOLS=off	# windows backed: DT pools, or the driver's DMA ops (ivntb.mw_pools)
gen_pool_dtb() {
	"$SHMTOOL" dtb "$SHM" --out "$RUNDIR/ivntb.dtb" --ndev "$1" -- \
		"$QEMU" -M "$MACHINE" "${DTB_ARGS_EXTRA[@]}" -smp "$SMP,maxcpus=$MAXCPUS" -m "$MEM" >/dev/null ||
		die "launch: ivntb-shm dtb could not make the guests' device tree"
	DTB_ARGS=(-dtb "$RUNDIR/ivntb.dtb")
	POOLS=on
}
# x86_64: no device tree; the driver backs the windows by its own DMA ops
# (docs/windows.md), unless told not to. arm64 has them too (XEN in its
# config): without the pools, they back the windows (ops) or are refused.
case "$IVNTB_ARCH:$MW_POOLS" in
x86_64:on|x86_64:ops|arm64:ops) POOLS=on ;;
x86_64:off|arm64:off) APPEND+=" ntb_hw_ivshmem.mw_dma_ops=0" ;;
*:ops) die "launch: --mw-pools ops: $IVNTB_ARCH has no per-device DMA ops (docs/windows.md)" ;;
esac
if [ "$IVNTB_ARCH" != x86_64 ] && [ "$MW_POOLS" = on ] && [ "$PORTS" != 0 ]; then
	case "$TOPO" in loopback) gen_pool_dtb "$NDEV" ;; *) gen_pool_dtb 1 ;; esac
fi

HOOK=$IVNTB_TOP/tests/guest/tests/$TEST.host
SHMTOOL=$IVNTB_BUILD/user/ivntb-shm
# the test's parameters, for the hook as tests/guest/init does for guests
HOOK_ENV=()
for arg in $APPEND; do
	case "$arg" in
	ivntb.*=*) k=${arg#ivntb.}; k=${k%%=*}; HOOK_ENV+=("IVNTB_${k^^}=${arg#*=}") ;;
	esac
done
if [ -f "$HOOK" ]; then
	# its own session and process group (PGID = HOOK_PID: a background
	# job is no group leader, so setsid does not fork), stopped as a whole
	setsid env "${HOOK_ENV[@]}" bash "$HOOK" start "$SHM" "$RUNDIR" "$SHMTOOL" >"$RUNDIR/host.log" 2>&1 &
	HOOK_PID=$!
	PIDS+=("$HOOK_PID")
fi

t0=$(date +%s)
step "run $TOPO/$TEST on $IVNTB_ARCH $IVNTB_KVER ($(basename "$QEMU"), -M $MACHINE, smp $SMP maxcpus $MAXCPUS, region $REGION)"
if [ "$TOPO" = loopback ]; then
	ROLES=(solo)
	# shellcheck disable=SC2046
	start_guest solo "$TEST" "$NDEV" $(for ((i = 0; i < NDEV; i++)); do shm_dev $i; done)
	PID_MAIN=$GPID
elif [ "$TOPO" = host ]; then
	ROLES=(solo)
	# shellcheck disable=SC2046
	start_guest solo "$TEST" 1 $(shm_dev 0)
	PID_MAIN=$GPID
else
	# pair, guests: a star of private links around a (tests/guest/init)
	ROLES=("${GROLES[@]}")
	[ -n "$SOCKDIR" ] || SOCKDIR=$(mktemp -d "/tmp/ivntb-sock.${RUNID:0:60}.XXXXXX")
	# net ID HERE THERE MAC: a NIC whose datagrams go to THERE's socket
	net() {
		echo -netdev "dgram,id=n$1,local.type=unix,local.path=$SOCKDIR/$2,remote.type=unix,remote.path=$SOCKDIR/$3" \
			-device "virtio-net-pci,netdev=n$1,mac=52:54:00:4e:$4,romfile="
	}
	declare -A PID_OF
	anets=()
	for ((k = 1; k < GUESTS; k++)); do
		r=${GROLES[k]}
		# b's link keeps the pair's socket names and MACs
		here=$r there=a
		[ "$r" = b ] || { here=$r-a there=a-$r; }
		mac=$(printf '%02x' $((0x54 + k - 1)))
		size=$REGION_BYTES
		[ "$r" != b ] || size=$REGION_B_BYTES
		# shellcheck disable=SC2046
		start_guest "$r" serve 1 $(shm_dev 0 "$size") $(net 0 "$here" "$there" "$mac:$(printf '%02x' $((k + 1)))")
		PID_OF[$r]=$GPID
		# shellcheck disable=SC2207
		anets+=($(net $((k - 1)) "$there" "$here" "$mac:01"))
	done
	start_guest a "$TEST" 1 $(shm_dev 0) "${anets[@]}"
	PID_MAIN=$GPID
fi

# A guest that does not reach its init (the IVNTB-START line) within
# BOOT_S hung in its own boot, before any of this project's code was
# loaded (our modules load from the test scripts): x86_64 TCG guests have
# done so, a CPU's timer never firing after the switch to the TSC
# clocksource (RCU stall reports, the guest idle). Stop the run then, and
# say so in the verdict, rather than waiting out the test's timeout; the
# harness runs such a run once more (tests/run-guest-tests.sh).
BOOT_S=${IVNTB_BOOT_S:-120}
boot_watch() {
	local r seen
	for _ in $(seq $((BOOT_S * 5))); do
		seen=0
		for r in "${ROLES[@]}"; do
			grep -qa '^IVNTB-START' "$RUNDIR/$r.log" 2>/dev/null && seen=$((seen + 1))
		done
		[ "$seen" = "${#ROLES[@]}" ] && return 0
		sleep 0.2
	done
	for r in "${ROLES[@]}"; do
		grep -qa '^IVNTB-START' "$RUNDIR/$r.log" 2>/dev/null ||
			echo "boot hang: guest $r did not reach its init in ${BOOT_S}s (its kernel's last line: $(tail -1 "$RUNDIR/$r.log" | tr -d '\r' | cut -c1-120))" >>"$RUNDIR/boot-hang"
	done
	pkill -KILL -f -- "-name ivntb-$RUNID-" 2>/dev/null || true
}
boot_watch &
WATCH_PID=$!

# A run still going 10 s before its timeout is about to fail with no
# kernel message to say why (a guest whose timer stopped, a wait that
# never ends): keep each guest's vCPU state (QEMU's monitor: info cpus,
# info registers -a) in RUNDIR/ROLE.vcpus, named in the verdict.
vcpu_dump() {
	local r
	for r in "${ROLES[@]}"; do
		[ -S "$SOCKDIR/$r.mon" ] || continue
		python3 - "$SOCKDIR/$r.mon" >"$RUNDIR/$r.vcpus" 2>&1 <<'PY' || true
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"info cpus\ninfo registers -a\n")
out, end = b"", time.time() + 3
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    out += d
text = out.decode("utf-8", "replace").replace("\r", "")
# the monitor echoes each command with terminal escapes: drop them
text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
sys.stdout.write(re.sub(r"^\(qemu\) .*$", "", text, flags=re.M))
PY
	done
}
timeout_watch() {
	local at=$(( t0 + TIMEOUT - 10 ))
	while [ "$(date +%s)" -lt "$at" ]; do
		kill -0 "$PID_MAIN" 2>/dev/null || return 0
		sleep 1
	done
	kill -0 "$PID_MAIN" 2>/dev/null || return 0
	vcpu_dump
	echo "vCPU state 10 s before the timeout: $(cd "$RUNDIR" && ls ./*.vcpus 2>/dev/null | tr '\n' ' ')" >"$RUNDIR/vcpu-note"
}
timeout_watch &
TWATCH_PID=$!

rc_main=0
wait "$PID_MAIN" || rc_main=$?
declare -A RC_OF
if [ "$GUESTS" -ge 2 ]; then
	# Role a halts the others when its test is done; give them a moment,
	# then stop them.
	for r in "${GROLES[@]:1}"; do
		for _ in $(seq 50); do
			kill -0 "${PID_OF[$r]}" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "${PID_OF[$r]}" 2>/dev/null; then
			echo "launch: guest $r did not power off; stopping it" >>"$RUNDIR/verdict"
			kill -TERM "${PID_OF[$r]}" 2>/dev/null || true
		fi
		RC_OF[$r]=0
		# (a guest a host hook killed -9: no "Killed" job notice)
		wait "${PID_OF[$r]}" 2>/dev/null || RC_OF[$r]=$?
	done
fi
kill "$WATCH_PID" "$TWATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" "$TWATCH_PID" 2>/dev/null || true
elapsed=$(( $(date +%s) - t0 ))
hook_rc=0
if [ -f "$HOOK" ]; then
	for _ in $(seq 50); do
		kill -0 "$HOOK_PID" 2>/dev/null || break
		sleep 0.1
	done
	stop_group "$HOOK_PID"
	wait "$HOOK_PID" 2>/dev/null || true
	env "${HOOK_ENV[@]}" bash "$HOOK" check "$SHM" "$RUNDIR" "$SHMTOOL" >>"$RUNDIR/host.log" 2>&1 || hook_rc=$?
fi

# ---- verdict --------------------------------------------------------------
FAIL=()
if [ -f "$RUNDIR/boot-hang" ]; then
	while IFS= read -r l; do FAIL+=("$l"); done <"$RUNDIR/boot-hang"
fi

if [ -f "$RUNDIR/boot-hang" ]; then
	:	# the watcher stopped the guests
elif [ "$rc_main" = 124 ] || [ "$rc_main" = 137 ]; then
	FAIL+=("timeout after ${TIMEOUT}s$TIMEOUT_NOTE")
	[ ! -f "$RUNDIR/vcpu-note" ] || FAIL+=("$(cat "$RUNDIR/vcpu-note")")
elif [ "$rc_main" != 0 ]; then
	FAIL+=("QEMU exited with status $rc_main: $(tail -3 "$RUNDIR/${ROLES[0]}.qemu.log" | tr '\n' ' ')")
fi
for r in "${GROLES[@]:1}"; do
	rc_r=${RC_OF[$r]}
	if [ -f "$RUNDIR/boot-hang" ] || { [ "$rc_r" = 137 ] && [ -f "$RUNDIR/$r.crash0.log" ]; }; then
		:	# stopped by the boot watcher, or killed -9 by the host
			# hook (crash.host keeps ROLE.crashN.log)
	elif [ "$rc_r" = 124 ] || [ "$rc_r" = 137 ]; then
		FAIL+=("guest $r: timeout after ${TIMEOUT}s$TIMEOUT_NOTE")
	elif [ "$rc_r" != 0 ]; then
		FAIL+=("guest $r's QEMU exited with status $rc_r: $(tail -3 "$RUNDIR/$r.qemu.log" | tr '\n' ' ')")
	fi
done
# Every guest serial log, the console with the kernel's messages: ROLE.log
# and the copies a host hook kept of a guest it restarted (b.crashN.log).
for r in "${ROLES[@]}"; do
	for f in "$RUNDIR/$r.log" "$RUNDIR/$r".*.log; do
		case "$f" in *.qemu.log|*.clean.log) continue ;; esac
		[ -f "$f" ] || continue
		c=${f%.log}.clean.log
		tr -d '\r' <"$f" >"$c"
		rc=0
		grep -Enf "$RUNDIR/failure-patterns" "$c" >"${f%.log}.patterns" || rc=$?
		if [ "$rc" = 0 ]; then
			FAIL+=("guest log $(basename "$f") has failure lines:")
			while IFS= read -r l; do FAIL+=("    $l"); done < <(head -5 "${f%.log}.patterns")
		elif [ "$rc" != 1 ]; then
			FAIL+=("could not scan $(basename "$f") for failure lines (grep exit $rc)")
		fi
	done
done

LOG=$RUNDIR/${ROLES[0]}.clean.log
plan=$(grep -Eo '^1\.\.[0-9]+$' "$LOG" | head -1 | cut -d. -f3 || true)
grep -E '^(not )?ok [0-9]+' "$LOG" >"$RUNDIR/results" || true
nres=$(wc -l <"$RUNDIR/results")
nok=$(grep -c '^ok ' "$RUNDIR/results" || true)
ntodo=$(grep -c '# TODO' "$RUNDIR/results" || true)
if [ -z "$plan" ]; then
	FAIL+=("no TAP plan from the guest")
elif [ "$nres" != "$plan" ]; then
	FAIL+=("TAP plan 1..$plan but $nres results")
fi
seq_ok=$(awk '{ n = ($1 == "not") ? $3 : $2; if (n != NR) { print "bad"; exit } }' "$RUNDIR/results")
[ -z "$seq_ok" ] || FAIL+=("TAP results out of sequence")
# "not ok ... # TODO" is a known gap (TAP): reported, not a failure.
nbad=$(grep '^not ok' "$RUNDIR/results" | grep -vc '# TODO' || true)
if [ "$nbad" != 0 ]; then
	FAIL+=("$nbad TAP result(s) not ok:")
	while IFS= read -r l; do FAIL+=("    $l"); done < <(grep '^not ok' "$RUNDIR/results" | grep -v '# TODO' | head -5)
fi
# The script's exit status (init prints "IVNTB-DONE rc=N"): tap_done
# returns non-zero for a failed result or a short plan, which the lines
# above already name; a status with every result ok means the script
# failed outside its results (a command after its last result, an exit).
done_rc=$(sed -n 's/^IVNTB-DONE rc=\([0-9][0-9]*\).*/\1/p' "$LOG" 2>/dev/null | tail -1 || true)
if [ -z "$done_rc" ]; then
	FAIL+=("guest did not finish its test script")
elif [ "$done_rc" != 0 ] && [ "$nbad" = 0 ] && [ "$nres" = "${plan:-}" ]; then
	FAIL+=("the guest's test script exited with status $done_rc, every TAP result ok")
fi
[ "$hook_rc" = 0 ] || FAIL+=("host check failed: $(tail -3 "$RUNDIR/host.log" | tr '\n' ' ')")

sed 's/^/    /' "$RUNDIR/results"
# "# figure ..." lines are the run's measurements: shown, and collected
# (the guest's, and a host hook's)
cat "$LOG" "$RUNDIR/host.log" 2>/dev/null | grep '^# figure' | sed 's/^/    /' || true
[ -z "${IVNTB_FIGURES:-}" ] || cat "$LOG" "$RUNDIR/host.log" 2>/dev/null | grep '^# figure' >>"$IVNTB_FIGURES" || true
if [ "${#FAIL[@]}" = 0 ]; then
	todo_note=
	[ "$ntodo" = 0 ] || todo_note=", $ntodo known gap(s) marked TODO"
	step "PASS $TOPO/$TEST: $nok/$plan ok$todo_note in ${elapsed}s"
	[ "$KEEP" = 1 ] || rm -rf "$RUNDIR"
	exit 0
fi
{
	echo "FAIL $TOPO/$TEST after ${elapsed}s:"
	for f in "${FAIL[@]}"; do echo "  $f"; done
	grep -A6 '^not ok' "$LOG" | grep '^#' | head -30 | sed 's/^/  /' || true
} | tee -a "$RUNDIR/verdict"
echo "  full serial logs: $RUNDIR/"
exit 1
