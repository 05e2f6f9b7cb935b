#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# stage.sh NAME COMMAND...: run a build/test stage and print its duration.
name=$1
shift
t0=$(date +%s)
echo "==> [$(date +%H:%M:%S)] stage $name" >&2
"$@"
rc=$?
echo "==> [$(date +%H:%M:%S)] stage $name: $([ $rc = 0 ] && echo done || echo "FAILED ($rc)") in $(( $(date +%s) - t0 ))s" >&2
exit $rc
