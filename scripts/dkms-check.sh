#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make dkms-check (part of make test): packaging checks, TAP.
#
#   1. dkms add/build/install of dkms.conf, in a private DKMS tree (no
#      root, nothing under /usr/src or /var/lib/dkms), against the x86_64
#      guest kernel build tree (native compiler; the riscv64 trees would
#      need DKMS to cross-compile). The installed .ko must carry the
#      kernel's vermagic and dkms.conf's version.
#   2. A compile check against every kernel build tree installed on this
#      machine (/lib/modules/*/build: the running kernel's headers, and any
#      linux-headers-* package). None installed: skipped, saying so.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

W=$IVNTB_BUILD/dkms
n=0
nfail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); nfail=$((nfail + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# A source tree as a user gets it: dkms.conf and what kmod/ builds from.
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$IVNTB_TOP/dkms.conf")
NAME=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$IVNTB_TOP/dkms.conf")
srccopy() {	# srccopy DIR
	rm -rf "$1"
	mkdir -p "$1/kmod" "$1/include" "$1/shm-protocol"
	cp "$IVNTB_TOP/dkms.conf" "$1/"
	cp "$IVNTB_TOP"/kmod/{Kbuild,Makefile,*.c,*.h} "$1/kmod/"
	cp "$IVNTB_TOP"/include/*.h "$1/include/"
	cp "$IVNTB_TOP"/shm-protocol/*.[ch] "$1/shm-protocol/"
}

echo "TAP version 13"
echo "1..4"

# --- 1. DKMS ------------------------------------------------------------------
KDIR=$(IVNTB_ARCH=x86_64 "$IVNTB_TOP/scripts/kernel.sh" 2>/dev/null | tail -1)
KREL=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null || true)
drv=$(sed -n 's/^#define DRV_VERSION\t"\(.*\)".*/\1/p' "$IVNTB_TOP/kmod/ntb_ivshmem.c")
if [ "$drv" = "$VER" ]; then
	ok "dkms.conf PACKAGE_VERSION $VER = the driver's MODULE_VERSION"
else
	notok "dkms.conf PACKAGE_VERSION $VER = the driver's MODULE_VERSION" "driver: $drv"
fi

if ! command -v dkms >/dev/null; then
	notok "dkms build" "dkms is not installed (make deps)"
	notok "dkms install"
elif [ -z "$KREL" ]; then
	notok "dkms build" "no x86_64 guest kernel build tree (make test-guest-x86_64 builds it)"
	notok "dkms install"
else
	rm -rf "$W"
	# install/KREL stands for that kernel's /lib/modules/KREL
	mkdir -p "$W/tree" "$W/install/$KREL"
	srccopy "$W/src/$NAME-$VER"
	D=(--dkmstree "$W/tree" --sourcetree "$W/src" --installtree "$W/install")
	log=$W/dkms.log
	if dkms add -m "$NAME" -v "$VER" "${D[@]}" >"$log" 2>&1 &&
	   dkms build -m "$NAME" -v "$VER" -k "$KREL" -a x86_64 \
		--kernelsourcedir "$KDIR" "${D[@]}" >>"$log" 2>&1; then
		ko=$(find "$W/tree/$NAME/$VER/$KREL" -name "$NAME.ko*" | head -1)
		vm=$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)
		mv=$(modinfo -F version "$ko" 2>/dev/null)
		if [ "$vm" = "$KREL" ] && [ "$mv" = "$VER" ]; then
			ok "dkms build $NAME/$VER for $KREL (x86_64 guest tree): vermagic $vm, version $mv"
		else
			notok "dkms build $NAME/$VER for $KREL" "module: ${ko:-none}" "vermagic '$vm' version '$mv'"
		fi
	else
		notok "dkms build $NAME/$VER for $KREL" "$(tail -15 "$log")"
	fi
	if dkms install -m "$NAME" -v "$VER" -k "$KREL" -a x86_64 --no-depmod \
		--kernelsourcedir "$KDIR" "${D[@]}" >>"$log" 2>&1 &&
	   inst=$(find "$W/install/$KREL" -name "$NAME.ko*" | head -1) && [ -n "$inst" ]; then
		ok "dkms install: ${inst#"$W/install/"}"
	else
		notok "dkms install" "$(tail -15 "$log")"
	fi
	dkms status "${D[@]}" 2>/dev/null | sed 's/^/# dkms status: /'
fi

# --- 2. installed kernel headers ----------------------------------------------
trees=()
for b in /lib/modules/*/build; do
	[ -f "$b/Makefile" ] && trees+=("$b")
done
if [ ${#trees[@]} = 0 ]; then
	skip "compile against the installed kernel headers" \
		"none installed: /lib/modules/$(uname -r)/build is missing (Debian: apt-get install linux-headers-\$(uname -r))"
else
	bad=()
	for b in "${trees[@]}"; do
		k=$(basename "$(dirname "$b")")
		srccopy "$W/headers/$k"
		# Distribution kernels may have no NTB core (Debian's amd64
		# kernels: "# CONFIG_NTB is not set"): then the sources must
		# still compile, but modpost cannot resolve the ntb_* symbols
		# and the module could never load there; say so.
		mp=
		if ! grep -qE '^CONFIG_NTB=(y|m)' "$b/.config" 2>/dev/null; then
			mp=KBUILD_MODPOST_WARN=1
			echo "# $k: the kernel has no NTB core (CONFIG_NTB unset): compile only, the module cannot load there"
		fi
		if make -C "$b" M="$W/headers/$k/kmod" W=1 $mp modules >"$W/headers/$k.log" 2>&1 &&
		   ! grep -v 'modpost: "[a-z_]*ntb_[a-z_]*" .* undefined!' "$W/headers/$k.log" | grep -q 'warning:' &&
		   [ -f "$W/headers/$k/kmod/ntb_ivshmem.o" ] && [ -f "$W/headers/$k/kmod/ntb_ivshmem_proto.o" ]; then
			echo "# $k: compiled ntb_ivshmem.o ntb_ivshmem_proto.o ntb_dbtest.o${mp:+ (modpost: ntb_* undefined, as expected without CONFIG_NTB)}"
		else
			bad+=("$k: $(grep -m3 -E 'warning:|error:' "$W/headers/$k.log" | tr '\n' ' ')")
		fi
	done
	if [ ${#bad[@]} = 0 ]; then
		ok "compile (W=1, no warnings) against ${#trees[@]} installed kernel header tree(s): $(for b in "${trees[@]}"; do basename "$(dirname "$b")"; done | tr '\n' ' ')"
	else
		notok "compile against the installed kernel headers" "${bad[@]}"
	fi
fi
echo "# dkms-check: $((n - nfail)) passed, $nfail failed"
[ $nfail = 0 ]
