#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make deps-check-debian: scripts/deps.sh on both supported releases.
#
# Debian 13 (trixie), in a chroot: a minbase root made by debootstrap
# (cached: $IVNTB_BUILD/deps-debian/trixie-base), copied afresh for each
# run (trixie-run, left for inspection), the repository exported into it
# (git archive of DEPS_CHECK_REV, default HEAD) and, niced:
#   make deps                   on a bare root: trixie's own packages
#   make deps                   again: nothing to do
#   IVNTB_KVER=6.1 make deps    linux-source-6.1 from bookworm, and nothing
#                               else from bookworm
#   deps.sh on Debian "forky"   refused, in one line naming what is supported
#   make kernel, make userland, IVNTB_KVER=6.1 make kernel
# The chroot builds into its own cache (/root/.cache/ivshmem-ntb inside the
# root), never this machine's IVNTB_CACHE.
# Then, on this machine (Debian 12): make deps and IVNTB_KVER=6.1 make deps.
#
# TAP output; exit status 1 if anything failed. Root only (debootstrap,
# chroot, mount). Not part of make test: about 35 min on 2 cores.
#
# DEPS_CHECK_REV      the commit exported into the root (HEAD)
# DEPS_CHECK_KERNELS  the kernel series built in the root ("6.12 6.1";
#                     empty: none, nor the userland)
# DEPS_CHECK_REUSE=1  keep the previous run's root (packages installed,
#                     kernels cached) instead of a fresh copy
#
# Mounted in the root, and unmounted on any exit: a new proc, a new devpts
# instance, a tmpfs on /dev/shm and the shared .deb cache. The host's /dev
# and /sys are not: the root's own device nodes (debootstrap's) suffice,
# and a `rm -rf build/` during a run then removes nothing of the host's.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

REV=${DEPS_CHECK_REV:-HEAD}
KERNELS=${DEPS_CHECK_KERNELS-6.12 6.1}
W=$IVNTB_BUILD/deps-debian
SRC=/src/ivshmem-ntb

[ "$(id -u)" = 0 ] || die "deps-check-debian: needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null ||
	die "deps-check-debian: no debootstrap (apt-get install debootstrap)"
mkdir -p "$W/apt-archives"
# Canonical: the chroot's processes and mounts are found by this path.
W=$(cd "$W" && pwd -P)
BASE=$W/trixie-base
RUN=$W/trixie-run
DEBS=$W/apt-archives
LOGS=$W/logs
exec 9>"$W/lock"
flock -n 9 || die "deps-check-debian: another run holds $W/lock"
rm -rf "$LOGS"
mkdir -p "$LOGS"

n=0
pass=0
fail=0
failed=()
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $*"; }
# not_ok DESC [LOG]: a failure, with the log's tail as diagnostics
not_ok() {
	n=$((n + 1)); fail=$((fail + 1)); failed+=("$1")
	echo "not ok $n - $1"
	[ -z "${2:-}" ] || tail -25 "$2" | sed 's/^/#   /'
}
skip() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1 # SKIP $2"; }
secs() { echo $(( $(date +%s) - $1 )); }

# The URI of this machine's own deb entry for its release (as deps.sh
# finds it): the mirror the trixie root is made from.
host_uri() {
	local s uri
	s=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')
	uri=$(awk -v s="$s" '/^URIs:/ { u = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v s="$s" '$1 == "deb" { sub(/^deb[ \t]+\[[^]]*\]/, "deb"); $0 = $0
			if ($3 == s) { print $2; exit } }')
	echo "$uri"
}

# Mount points under $1, deepest first.
mounts_under() {
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r
}

MOUNTED=()
mnt() {
	mount "$@" && MOUNTED+=("${*: -1}")
}
cleanup() {
	local i p left
	# Whatever still runs inside the root was started by this run.
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$RUN" ] || continue
		echo "# killing ${p#/proc/} ($(tr '\0' ' ' <"$p/cmdline" | cut -c1-80)), left in the root"
		kill -9 "${p#/proc/}" 2>/dev/null
	done
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTED[i]}" 2>/dev/null || sleep 1
		mountpoint -q "${MOUNTED[i]}" && ! umount "${MOUNTED[i]}" &&
			echo "# could not unmount ${MOUNTED[i]}"
	done
	MOUNTED=()
	left=$(mounts_under "$RUN")
	[ -z "$left" ] || echo "# still mounted under $RUN: $left"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# in_root NAME CMD: run CMD (bash) in the root's repository copy, as root
# with a clean environment and a chroot-local cache, niced; its output in
# $LOGS/NAME.log. The exit status is CMD's. Waited for in the background,
# so that a signal to this script ends the run at once (cleanup then
# stops what still runs in the root).
in_root() {
	nice -n 19 ionice -c 3 chroot "$RUN" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb IVNTB_CACHE=/root/.cache/ivshmem-ntb \
		/bin/bash -c "cd $SRC && $2" >"$LOGS/$1.log" 2>&1 &
	wait $!
}

commit=$(git -C "$IVNTB_TOP" rev-parse --short "$REV") ||
	die "deps-check-debian: no commit $REV"
echo "# deps.sh on Debian 13 (trixie, a chroot) and on this machine ($(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')), commit $commit"
t_all=$(date +%s)

# 1. The trixie root, made once.
root_ok=1
if [ -f "$BASE/.ivntb-base-done" ]; then
	ok "trixie root: cached ($BASE)"
else
	uri=$(host_uri)
	t0=$(date +%s)
	if [ -z "$uri" ]; then
		not_ok "trixie root: no Debian apt entry on this machine to take the mirror from"
		root_ok=0
	elif [ -n "$(mounts_under "$BASE.tmp")" ]; then
		not_ok "trixie root: something is mounted under $BASE.tmp"
		root_ok=0
	elif rm -rf --one-file-system "$BASE.tmp" &&
	     nice -n 19 debootstrap --variant=minbase --include=make,ca-certificates \
		trixie "$BASE.tmp" "$uri" >"$LOGS/debootstrap.log" 2>&1; then
		# The apt entry of a trixie image (deb822), and no daemons
		# started by package scripts in the chroot.
		rm -f "$BASE.tmp/etc/apt/sources.list"
		cat >"$BASE.tmp/etc/apt/sources.list.d/debian.sources" <<EOT
Types: deb
URIs: $uri
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
		printf '#!/bin/sh\nexit 101\n' >"$BASE.tmp/usr/sbin/policy-rc.d"
		chmod +x "$BASE.tmp/usr/sbin/policy-rc.d"
		touch "$BASE.tmp/.ivntb-base-done"
		rm -rf --one-file-system "$BASE" && mv "$BASE.tmp" "$BASE"
		ok "trixie root: debootstrap --variant=minbase trixie in $(secs "$t0") s"
	else
		not_ok "trixie root: debootstrap failed" "$LOGS/debootstrap.log"
		root_ok=0
	fi
fi

# 2. This run's root: a fresh copy, the repository exported into it.
if [ "$root_ok" = 1 ]; then
	t0=$(date +%s)
	if [ -n "$(mounts_under "$RUN")" ]; then
		not_ok "run root: something is still mounted under $RUN"
		root_ok=0
	elif { [ "${DEPS_CHECK_REUSE:-0}" = 1 ] && [ -d "$RUN" ]; } ||
	     { rm -rf --one-file-system "$RUN" && cp -a "$BASE" "$RUN"; }; then
		rm -rf --one-file-system "$RUN$SRC"
		mkdir -p "$RUN$SRC"
		cp /etc/resolv.conf "$RUN/etc/resolv.conf"
		# (a reused root: as the forky step should have left it)
		cp -a "$BASE/usr/lib/os-release" "$RUN/usr/lib/os-release"
		if git -C "$IVNTB_TOP" archive "$commit" | tar -x -C "$RUN$SRC"; then
			ok "run root: $( [ "${DEPS_CHECK_REUSE:-0}" = 1 ] && echo reused || echo fresh copy), git archive $commit in $(secs "$t0") s"
		else
			not_ok "run root: git archive $REV failed"
			root_ok=0
		fi
	else
		not_ok "run root: copying $BASE failed"
		root_ok=0
	fi
fi

if [ "$root_ok" = 1 ]; then
	mkdir -p "$RUN/dev/pts" "$RUN/dev/shm" "$RUN/var/cache/apt/archives"
	if ! { mnt -t proc proc "$RUN/proc" &&
	       mnt -t devpts -o newinstance,ptmxmode=0666 devpts "$RUN/dev/pts" &&
	       mnt -t tmpfs -o size=256m tmpfs "$RUN/dev/shm" &&
	       mnt --bind "$DEBS" "$RUN/var/cache/apt/archives"; }; then
		not_ok "run root: mounting proc, devpts, /dev/shm, the .deb cache"
		root_ok=0
	fi
fi

if [ "$root_ok" = 1 ]; then
	# 3. make deps on the bare root.
	t0=$(date +%s)
	if [ "${DEPS_CHECK_REUSE:-0}" = 1 ]; then
		done_re='^deps: (all packages present|done \(QEMU emulator version 10\.0)'
		what="the reused root"
	else
		done_re='^deps: done \(QEMU emulator version 10\.0'
		what="a bare root"
	fi
	if in_root deps 'grep ^VERSION_CODENAME= /etc/os-release && make deps' &&
	   grep -qx 'VERSION_CODENAME=trixie' "$LOGS/deps.log" &&
	   grep -qE "$done_re" "$LOGS/deps.log"; then
		# shellcheck disable=SC2016 # dpkg-query's own ${Version}
		v=$(chroot "$RUN" dpkg-query -W -f='${Package} ${Version}, ' linux-source-6.12 qemu-system-riscv)
		ok "trixie: make deps on $what in $(secs "$t0") s: ${v%, }"
	else
		not_ok "trixie: make deps" "$LOGS/deps.log"
	fi

	# 4. again: nothing to do.
	t0=$(date +%s)
	if in_root deps-again 'make deps' &&
	   grep -q '^deps: all packages present' "$LOGS/deps-again.log"; then
		ok "trixie: make deps again: all packages present, in $(secs "$t0") s"
	else
		not_ok "trixie: make deps again is not a no-op" "$LOGS/deps-again.log"
	fi

	# 5. Linux 6.1's source from bookworm, and nothing else: every
	# installed package but linux-source-6.1 has its version in trixie's
	# own indexes.
	t0=$(date +%s)
	# shellcheck disable=SC2016 # expanded in the root
	if in_root deps-6.1 'IVNTB_KVER=6.1 make deps &&
		dpkg-query -W -f="\${Version}\n" linux-source-6.1 | sed "s/^/linux-source-6.1 /" &&
		apt-cache policy linux-source-6.1 | grep -m1 -A1 "^ \*\*\*" &&
		{ cat /var/lib/apt/lists/*_dists_trixie*_Packages; echo; dpkg-query -W -f="\${Package} \${Version}\n"; } |
		awk "/^Package: / { p = \$2 } /^Version: / { t[p \" \" \$2] = 1 }
			/^[^ :]+ [^ ]+\$/ && !(\$0 in t) && \$1 != \"linux-source-6.1\" { print \"not from trixie: \" \$0; bad = 1 }
			END { exit bad }"' &&
	   grep -q 'bookworm/main' "$LOGS/deps-6.1.log"; then
		ok "trixie: IVNTB_KVER=6.1 make deps in $(secs "$t0") s: $(grep -m1 '^linux-source-6.1 ' "$LOGS/deps-6.1.log") from bookworm, every other package from trixie"
	else
		not_ok "trixie: IVNTB_KVER=6.1 make deps" "$LOGS/deps-6.1.log"
	fi

	# 6. Any other release: refused in one line (the root's os-release
	# says forky for the time of one deps.sh).
	# shellcheck disable=SC2016 # expanded in the root
	if ! in_root deps-forky 'cp /usr/lib/os-release /tmp/os-release.trixie &&
		sed -i s/trixie/forky/g /usr/lib/os-release &&
		{ scripts/deps.sh 2>/tmp/deps-forky.err; rc=$?
		  cp /tmp/os-release.trixie /usr/lib/os-release; cat /tmp/deps-forky.err; exit $rc; }'; then
		if [ "$(wc -l <"$LOGS/deps-forky.log")" = 1 ] &&
		   grep -q '^deps: unsupported system (.*forky.*): supported are Debian 12 (bookworm) and Debian 13 (trixie)$' \
			"$LOGS/deps-forky.log"; then
			ok "forky: deps.sh refuses, one line: $(cat "$LOGS/deps-forky.log")"
		else
			not_ok "forky: deps.sh failed, but not with the one line" "$LOGS/deps-forky.log"
		fi
	else
		not_ok "forky: deps.sh did not refuse an unsupported release" "$LOGS/deps-forky.log"
	fi

	# 7. The builds, into the root's own cache.
	for kv in $KERNELS; do
		t0=$(date +%s)
		if in_root "kernel-$kv" "IVNTB_KVER=$kv make kernel" &&
		   obj=$(chroot "$RUN" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root IVNTB_KVER="$kv" \
			IVNTB_CACHE=/root/.cache/ivshmem-ntb bash -c ". $SRC/scripts/lib.sh && kobj_dir") &&
		   [ -f "$RUN$obj/.ivntb-done" ] && [ -f "$RUN$obj/arch/riscv/boot/Image" ]; then
			ok "trixie: IVNTB_KVER=$kv make kernel in $(secs "$t0") s: $obj (inside the root)"
		else
			not_ok "trixie: IVNTB_KVER=$kv make kernel" "$LOGS/kernel-$kv.log"
		fi
		if [ "$kv" = 6.12 ]; then
			t0=$(date +%s)
			if in_root userland 'make userland' &&
			   ub=$(echo "$RUN"/root/.cache/ivshmem-ntb/userland/riscv64-busybox-*) &&
			   [ -x "$ub/bin/busybox" ] && [ -x "$ub/bin/bash" ]; then
				ok "trixie: make userland in $(secs "$t0") s: ${ub##*/}"
			else
				not_ok "trixie: make userland" "$LOGS/userland.log"
			fi
		fi
	done
	cleanup
else
	skip "trixie: make deps, the 6.1 source, an unsupported release, the builds" "no root"
fi

# 8. This machine: the same export's make deps (deps.sh reads this
# machine's /etc; nothing else of the root is used).
t0=$(date +%s)
if [ -f "$RUN$SRC/Makefile" ]; then
	host_src=$RUN$SRC
else
	host_src=$IVNTB_TOP
fi
if env -u IVNTB_KVER -u IVNTB_ARCH make -s -C "$host_src" deps >"$LOGS/host-deps.log" 2>&1 &&
   env -u IVNTB_ARCH IVNTB_KVER=6.1 make -s -C "$host_src" deps >>"$LOGS/host-deps.log" 2>&1; then
	ok "this machine ($(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)): make deps and IVNTB_KVER=6.1 make deps in $(secs "$t0") s: $(grep '^deps: ' "$LOGS/host-deps.log" | sort -u | tr '\n' ' ')"
else
	not_ok "this machine: make deps" "$LOGS/host-deps.log"
fi

echo "1..$n"
echo "# $pass passed, $fail failed in $(secs "$t_all") s; logs in $LOGS$( ((fail)) && printf '; failed: %s' "$(IFS='|'; echo "${failed[*]}")")"
[ "$fail" = 0 ]
