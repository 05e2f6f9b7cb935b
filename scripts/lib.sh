# SPDX-License-Identifier: GPL-2.0
# Common settings for the harness scripts; sourced, not run.
#
# Parameters (environment, all optional):
#   IVNTB_ARCH   guest architecture: riscv64 (default), x86_64 or arm64
#   IVNTB_KVER   guest kernel series from Debian's linux-source-X.Y: 6.12 (default)
#   IVNTB_CACHE  cache outside the clone (kernels, cross-built userland)
#   IVNTB_BUILD  per-clone build folder (initramfs, logs); default <clone>/build
#   IVNTB_VARIANT  "debug": the kernel with scripts/kconfig/debug-ARCH.config
#                (KASAN, lockdep, kmemleak on riscv64; KCSAN on x86_64)

IVNTB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IVNTB_ARCH=${IVNTB_ARCH:-riscv64}
IVNTB_KVER=${IVNTB_KVER:-6.12}
IVNTB_CACHE=${IVNTB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ivshmem-ntb}
IVNTB_BUILD=${IVNTB_BUILD:-$IVNTB_TOP/build}
JOBS=${JOBS:-$(($(nproc) + 1))}
IVNTB_VARIANT=${IVNTB_VARIANT:-}
case "$IVNTB_VARIANT" in
"") ;;
debug) IVNTB_KCONFIG_EXTRA=$IVNTB_TOP/scripts/kconfig/debug-$IVNTB_ARCH.config ;;
*) echo "unsupported IVNTB_VARIANT=$IVNTB_VARIANT (debug)" >&2; exit 2 ;;
esac

case "$IVNTB_ARCH" in
riscv64)
	KARCH=riscv
	CROSS=riscv64-linux-gnu-
	KIMAGE_REL=arch/riscv/boot/Image
	QEMU_DEFAULT=qemu-system-riscv64
	;;
x86_64)
	KARCH=x86
	CROSS=
	KIMAGE_REL=arch/x86/boot/bzImage
	QEMU_DEFAULT=qemu-system-x86_64
	;;
arm64)
	KARCH=arm64
	CROSS=aarch64-linux-gnu-
	KIMAGE_REL=arch/arm64/boot/Image
	QEMU_DEFAULT=qemu-system-aarch64
	;;
*)
	echo "unsupported IVNTB_ARCH=$IVNTB_ARCH (riscv64, x86_64, arm64)" >&2
	exit 2
	;;
esac

die() { echo "error: $*" >&2; exit 1; }

# "==> step" lines with elapsed times, so long steps show progress.
step() { echo "==> [$(date +%H:%M:%S)] $*"; }

# bench_to_docs FILE...: with DOCS=1, copy a bench's outputs (those that
# exist: a plot needs gnuplot) to docs/bench/, which is how the committed
# ones are made
bench_to_docs() {
	[ "${DOCS:-0}" = 1 ] || return 0
	mkdir -p "$IVNTB_TOP/docs/bench"
	local f
	for f in "$@"; do
		[ ! -f "$f" ] || cp "$f" "$IVNTB_TOP/docs/bench/"
	done
	step "copied to docs/bench/: $(for f in "$@"; do [ ! -f "$f" ] || printf '%s ' "${f##*/}"; done)"
}

# The kernel-log failure patterns (tests/guest/failure-patterns), one
# regex a line without comments and blank lines: for grep -Ef. The guests'
# dmesg_clean strips the same way.
failure_patterns() {
	grep -Ev '^[[:space:]]*(#|$)' "$IVNTB_TOP/tests/guest/failure-patterns"
}

# Version of Debian's linux-source package for the chosen series.
ksrc_pkgver() {
	dpkg-query -W -f='${Version}' "linux-source-$IVNTB_KVER" 2>/dev/null ||
		die "linux-source-$IVNTB_KVER is not installed (run: make deps)"
}

# The config fragments that define the guest kernel, in merge order.
kconfig_fragments() {
	local d=$IVNTB_TOP/scripts/kconfig
	echo "$d/base.config"
	echo "$d/$IVNTB_ARCH.config"
	[ -f "$d/$IVNTB_ARCH-$IVNTB_KVER.config" ] && echo "$d/$IVNTB_ARCH-$IVNTB_KVER.config"
	[ -n "${IVNTB_KCONFIG_EXTRA:-}" ] && echo "$IVNTB_KCONFIG_EXTRA"
	return 0
}

# Cache key of a kernel: series, package version, arch and a hash of the
# fragments plus the build recipe.
kernel_key() {
	local h
	# an unclosed block would drop the rest of the script from the key
	[ "$(grep -c '^# >>> ' "$IVNTB_TOP/scripts/kernel.sh")" = \
	  "$(grep -c '^# <<< ' "$IVNTB_TOP/scripts/kernel.sh")" ] ||
		die "kernel.sh: unbalanced '# >>> ' / '# <<< ' blocks"
	# kernel.sh's "# >>> ... # <<<" blocks only report (build progress):
	# a change there must not rebuild every cached kernel
	h=$( { cat $(kconfig_fragments); sed '/^# >>> /,/^# <<< /d' "$IVNTB_TOP/scripts/kernel.sh"; } |
		sha256sum | cut -c1-12)
	echo "$IVNTB_ARCH-$(ksrc_pkgver)-$h"
}

# Per-kernel build outputs (initramfs): arch, series, variant.
guest_dir() { echo "$IVNTB_BUILD/$IVNTB_ARCH-$IVNTB_KVER${IVNTB_VARIANT:+-$IVNTB_VARIANT}"; }

ksrc_dir() { echo "$IVNTB_CACHE/src/linux-$(ksrc_pkgver)"; }
kobj_dir() { echo "$IVNTB_CACHE/kernel/$(kernel_key)"; }

kmake() {
	make -s -C "$(kobj_dir)" ARCH="$KARCH" CROSS_COMPILE="$CROSS" "$@"
}

# userland_cached: is a userland of this arch, built by this
# scripts/userland.sh, in the cache? (The Debian versions in its key are
# not checked: that takes apt; a stale match only costs an unbudgeted
# build, as a miss did before.)
userland_cached() {
	local h d
	h=$(sha256sum "$IVNTB_TOP/scripts/userland.sh" | cut -c1-8)
	for d in "$IVNTB_CACHE/userland/$IVNTB_ARCH"-busybox-*-"$h"; do
		[ -x "$d/bin/busybox" ] && [ -x "$d/bin/bash" ] && return 0
	done
	return 1
}

# uncached_why KDIR BUDGET_MIN TARGET_MIN: for a stage of make test whose
# kernel (KDIR) and userland may be uncached: empty if both are cached, or
# if the time budget (IVNTB_DEADLINE, .ci/run) leaves BUDGET_MIN minutes
# and the cold run's target (IVNTB_TARGET, .ci/run: 60 min from its
# start) TARGET_MIN; else why not, for a NOT COVERED line (a skip, not a
# pass)
uncached_why() {
	local now what=
	now=$(date +%s)
	[ -f "$1/.ivntb-done" ] || what="kernel is"
	if ! userland_cached; then
		if [ -n "$what" ]; then what="kernel and userland are"; else what="userland is"; fi
	fi
	[ -n "$what" ] || return 0
	if [ -n "${IVNTB_DEADLINE:-}" ] && [ $(( IVNTB_DEADLINE - now )) -lt $(( $2 * 60 )) ]; then
		echo "its $what not cached and the time budget leaves $(( (IVNTB_DEADLINE - now) / 60 )) min ($2 needed)"
	elif [ -n "${IVNTB_TARGET:-}" ] && [ $(( IVNTB_TARGET - now )) -lt $(( $3 * 60 )) ]; then
		echo "its $what not cached and a cold run's 60 min target leaves $(( (IVNTB_TARGET - now) / 60 )) min ($3 needed)"
	fi
}
