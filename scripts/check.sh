#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Static checks on the kernel code: checkpatch --strict, sparse (C=2) and
# W=1 on kmod/ and shm-protocol/. Ends with "N passed, M failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
KSRC=$(ksrc_dir)
pass=0
fail=0
res() {
	if [ "$1" = 0 ]; then pass=$((pass + 1)); echo "ok - $2"
	else fail=$((fail + 1)); echo "not ok - $2"; fi
}

for f in $(ls "$IVNTB_TOP"/kmod/*.c | grep -v "\.mod\.c$") "$IVNTB_TOP"/kmod/*.h "$IVNTB_TOP"/shm-protocol/ivntb_proto.c \
	 "$IVNTB_TOP"/shm-protocol/ivntb_proto.h "$IVNTB_TOP"/shm-protocol/ivntb_compat.h \
	 "$IVNTB_TOP"/include/*.h; do
	out=$("$KSRC/scripts/checkpatch.pl" --no-tree --strict --quiet -f "$f" 2>&1)
	[ -z "$out" ] || echo "$out" | sed 's/^/    /'
	res $([ -z "$out" ] && echo 0 || echo 1) "checkpatch --strict ${f#$IVNTB_TOP/}"
done

# sparse and W=1: rebuild every object of the module
make -s -C "$IVNTB_TOP/kmod" KDIR="$(kobj_dir)" ARCH="$KARCH" CROSS_COMPILE="$CROSS" clean >/dev/null 2>&1
log=$(mktemp)
W=1 C=2 "$IVNTB_TOP/scripts/module.sh" >"$log" 2>&1
st=$?
nchk=$(grep -c '^  CHECK ' "$log")
out=$(grep -iE 'warning|error|invalid' "$log")
[ -z "$out" ] || echo "$out" | sed 's/^/    /'
res $([ $st = 0 ] && [ -z "$out" ] && [ "$nchk" -ge 2 ] && echo 0 || echo 1) \
	"module builds with W=1 and sparse (C=2, $nchk files checked) without a warning"
rm -f "$log"

echo "check: $pass passed, $fail failed"
[ $fail = 0 ]
