#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse from the cache) the guest kernel for IVNTB_ARCH/IVNTB_KVER:
# Debian's linux-source-X.Y, `make tinyconfig` plus scripts/kconfig/*.config.
# Prints the build directory (usable as KDIR for module builds) on stdout's
# last line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$(ksrc_dir)
OBJ=$(kobj_dir)

if [ -f "$OBJ/.ivntb-done" ]; then
	step "kernel: cached $(basename "$OBJ")" >&2
	echo "$OBJ"
	exit 0
fi

t0=$(date +%s)
if [ ! -f "$SRC/.ivntb-extracted" ]; then
	step "kernel: extracting linux-source-$IVNTB_KVER $(ksrc_pkgver) (about 40 s)" >&2
	rm -rf "$SRC" "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -C "$SRC.tmp" --strip-components=1 -xf "/usr/src/linux-source-$IVNTB_KVER.tar.xz"
	mv "$SRC.tmp" "$SRC"
	touch "$SRC/.ivntb-extracted"
fi

step "kernel: configuring $(basename "$OBJ")" >&2
rm -rf "$OBJ"
mkdir -p "$OBJ"
mapfile -t FRAGS < <(kconfig_fragments)
make -s -C "$SRC" O="$OBJ" ARCH="$KARCH" CROSS_COMPILE="$CROSS" tinyconfig >/dev/null
( cd "$OBJ" && "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OBJ" \
	"$OBJ/.config" "${FRAGS[@]}" >/dev/null )
make -s -C "$SRC" O="$OBJ" ARCH="$KARCH" CROSS_COMPILE="$CROSS" olddefconfig >/dev/null

# Every option the fragments ask for must have survived olddefconfig:
# a silently dropped option is a broken guest found an hour later.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		if ! grep -qx -- "$line" "$OBJ/.config"; then
			echo "kernel: fragment asks $line, got: $(grep -E "^(# )?${line%%=*}[= ]" "$OBJ/.config" || echo unset)" >&2
			bad=1
		fi ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -q "^$opt=" "$OBJ/.config"; then
			echo "kernel: fragment unsets $opt, got: $(grep "^$opt=" "$OBJ/.config")" >&2
			bad=1
		fi ;;
	esac
done < <(cat "${FRAGS[@]}")
[ "$bad" = 0 ] || die "kernel: config fragment not satisfied"

target=$(basename "$KIMAGE_REL")
step "kernel: building $target and modules with -j$JOBS (4-7 min cold on 2 cores)" >&2
log=$OBJ/build.log
# >>> build progress (not part of the kernel's cache key: lib.sh kernel_key)
# A line a minute while it builds: objects built so far, against what the
# last finished build of this arch, kernel and variant had (kept in the
# cache), or a count measured on these configs; and the time left at
# this rate.
objs_file=$IVNTB_CACHE/kernel/objects-$KARCH-$IVNTB_KVER${IVNTB_VARIANT:+-$IVNTB_VARIANT}
case "$KARCH-$IVNTB_KVER" in
riscv-6.1) objs=903 ;;
riscv-6.12) objs=1015 ;;
x86-6.12) objs=1325 ;;
*) objs= ;;
esac
objs=$(cat "$objs_file" 2>/dev/null || echo "$objs")
build_progress() {
	local n min left s=
	# stopped (TERM) while it sleeps: its sleep goes too, and holds no
	# pipe of the caller's open for up to a minute
	trap '[ -z "$s" ] || kill "$s" 2>/dev/null; exit 0' TERM
	while :; do
		sleep 60 &
		s=$!
		wait "$s"
		n=$(find "$OBJ" -name '*.o' | wc -l)
		min=$(( ($(date +%s) - tb) / 60 ))
		left=
		if [ -n "$objs" ] && [ "$n" -gt 0 ] && [ "$n" -lt "$objs" ]; then
			left=", about $(( ($(date +%s) - tb) * (objs - n) / n / 60 + 1 )) min left"
		fi
		step "kernel: $n${objs:+ of about $objs} objects built, $min min in$left" >&2
	done
}
tb=$(date +%s)
build_progress &
progress_pid=$!
trap 'kill $progress_pid 2>/dev/null || true' EXIT
# <<< build progress
if ! make -C "$SRC" O="$OBJ" ARCH="$KARCH" CROSS_COMPILE="$CROSS" -j"$JOBS" \
	"$target" modules >"$log" 2>&1; then
	tail -40 "$log" >&2
	die "kernel: build failed, full log in $log"
fi
# >>> build progress
kill "$progress_pid" 2>/dev/null || true
trap - EXIT
find "$OBJ" -name '*.o' | wc -l >"$objs_file"
# <<< build progress
make -s -C "$SRC" O="$OBJ" ARCH="$KARCH" CROSS_COMPILE="$CROSS" \
	INSTALL_MOD_PATH="$OBJ/modroot" INSTALL_MOD_STRIP=1 modules_install >/dev/null
touch "$OBJ/.ivntb-done"
step "kernel: built in $(( $(date +%s) - t0 )) s: $OBJ" >&2
echo "$OBJ"
