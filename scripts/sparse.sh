#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# sparse, minus what Debian 12's sparse 0.6.4 cannot parse: the riscv
# "_zicsr_zifencei" -march suffix newer gcc wants. Used as make CHECK=.
args=()
for a in "$@"; do
	case "$a" in
	-march=*) a=${a//_zicsr_zifencei/} ;;
	esac
	args+=("$a")
done
exec sparse "${args[@]}"
