# SPDX-License-Identifier: GPL-2.0
#
# ivshmem-ntb: an NTB hardware driver over QEMU's ivshmem shared memory.
#
#   make test       test-user (userspace, no guests) + check (checkpatch,
#                   sparse, W=1) + test-guest (riscv64 QEMU guests) +
#                   test-guest-x86_64 (x86_64 q35 guests, Linux 6.12) +
#                   test-guest-6.1 (riscv64 guests on Linux 6.1) +
#                   the arm64 guests and the debug-kernel subset, each
#                   when its kernel is cached or the time budget holds
#                   its build (else a NOT COVERED line)
#   make test-all   make test, with the arm64 guests built in any case
#                   (IVNTB_ARM64=force)
#   make demo       two riscv64 guests linked by the NTB: doorbell RTT,
#                   ntb_perf, ntb_netdev ping + checksummed TCP; a table
#   make bench      benchmarks, tables under build/bench/: the protocol in
#                   userspace; doorbells by interrupt vs polling in guests
#   make soak       the reliability scenarios at full counts (scripts/soak.sh)
#   make intree     the in-tree patch (drivers/ntb/hw/ivshmem), checked
#                   and built =y and =m against Linux 6.12
#   make dkms-check dkms build/install of dkms.conf (part of make test)
#   make test-debug guests on debug kernels: riscv64 KASAN + lockdep +
#                   kmemleak, x86_64 KCSAN (built on demand, cached)
#   make deps-check-debian  make deps on Debian 13 (a chroot) and on
#                   this machine (not in make test: about 35 min)
#   make deps kernel initramfs module    the stages, each cached
#
# Parameters: IVNTB_ARCH (riscv64), IVNTB_KVER (6.12), IVNTB_CACHE,
# IVNTB_BUILD (see scripts/lib.sh); IVNTB_INJECT=fail|warn|exit proves the
# harness fails a bad run; IVNTB_BUDGET_MIN=N a time budget (below).

SHELL := /bin/bash
TOP := $(CURDIR)
S := $(TOP)/scripts
export IVNTB_BUILD ?= $(TOP)/build
STAGE := $(S)/stage.sh

# The time budget (.ci/run: 80 min): IVNTB_BUDGET_MIN=N sets the deadline
# IVNTB_DEADLINE (epoch seconds) once, unless given; launch.sh then starts
# no guest run past it and clamps each run's timeout to the time left.
# Unset or 0 (a manual make test): no deadline.
ifneq ($(filter-out 0,$(IVNTB_BUDGET_MIN)),)
export IVNTB_BUDGET_MIN
ifeq ($(IVNTB_DEADLINE),)
export IVNTB_DEADLINE := $(shell date -d '+$(IVNTB_BUDGET_MIN) min' +%s)
endif
endif


.PHONY: all deps kernel userland initramfs module tools test test-user test-guest \
	test-guest-x86_64 test-guest-6.1 test-guest-arm64 test-arm64-in-budget test-all dkms-check intree test-debug test-debug-subset \
	bench soak demo check clean distclean

all: module

deps:
	@$(STAGE) deps $(S)/deps.sh

# scripts/deps.sh proved on both releases: in a Debian 13 chroot
# (debootstrap, under build/deps-debian/) make deps, make kernel, make
# userland and the 6.1 kernel, then make deps on this machine. Root;
# about 35 min: not part of make test.
.PHONY: deps-check-debian
deps-check-debian:
	@$(STAGE) deps-check-debian $(S)/deps-check-debian.sh

kernel: deps
	@$(STAGE) kernel $(S)/kernel.sh >/dev/null

userland: deps
	@$(STAGE) userland $(S)/userland.sh >/dev/null

module: kernel
	@$(STAGE) module $(S)/module.sh

initramfs: module userland
	@$(STAGE) initramfs $(S)/initramfs.sh >/dev/null

test: test-user check test-guest test-guest-x86_64 test-guest-6.1 dkms-check \
	test-arm64-in-budget test-debug-subset

test-user: deps
	@$(STAGE) test-user $(TOP)/tests/run-user-tests.sh

tools: deps
	@$(MAKE) -s -C shm-protocol all
	@$(MAKE) -s -C tools/ivshmem-server all BUILD=$(IVNTB_BUILD)/user

test-guest: initramfs tools
	@$(STAGE) test-guest $(TOP)/tests/run-guest-tests.sh

# the x86_64 q35 guests (Linux 6.12): their own kernel, userland and module
test-guest-x86_64:
	@IVNTB_ARCH=x86_64 $(MAKE) -s initramfs tools
	@IVNTB_ARCH=x86_64 $(STAGE) test-guest-x86_64 $(TOP)/tests/run-guest-tests.sh

# the arm64 virt guests (GICv3 + ITS, Linux 6.12): their own kernel,
# userland and module; windows through the device-tree pools
test-guest-arm64:
	@IVNTB_ARCH=arm64 $(MAKE) -s initramfs tools
	@IVNTB_ARCH=arm64 $(STAGE) test-guest-arm64 $(TOP)/tests/run-guest-tests.sh

# make test's arm64 stage: the guests above if their kernel is cached or
# the time budget holds its build (scripts/arm64-guests.sh)
test-arm64-in-budget:
	@$(STAGE) test-arm64-in-budget $(S)/arm64-guests.sh

test-all:
	@IVNTB_ARM64=force $(MAKE) test

# riscv64 guests on Linux 6.1 (bookworm's kernel; no AIA: polling only)
test-guest-6.1:
	@IVNTB_KVER=6.1 $(MAKE) -s initramfs tools
	@IVNTB_KVER=6.1 $(STAGE) test-guest-6.1 $(TOP)/tests/run-guest-tests.sh

# make test's short KASAN + lockdep pass on the riscv64 debug kernel, if
# it is cached or the time budget allows its build (scripts/debug-subset.sh)
test-debug-subset:
	@$(STAGE) test-debug-subset $(S)/debug-subset.sh

# the debug kernels (two more kernel builds, and slow guests; make test
# runs only the subset above): riscv64 KASAN + lockdep + kmemleak,
# x86_64 KCSAN
test-debug:
	@IVNTB_VARIANT=debug $(MAKE) -s initramfs tools
	@IVNTB_VARIANT=debug $(STAGE) test-debug-riscv64 $(TOP)/tests/run-guest-tests.sh
	@IVNTB_VARIANT=debug IVNTB_ARCH=x86_64 $(MAKE) -s initramfs tools
	@IVNTB_VARIANT=debug IVNTB_ARCH=x86_64 $(STAGE) test-debug-x86_64 $(TOP)/tests/run-guest-tests.sh

# dkms.conf built and installed by DKMS against the x86_64 guest kernel
# tree; the module compiled against any installed kernel headers
dkms-check: deps
	@IVNTB_ARCH=x86_64 $(MAKE) -s kernel
	@$(STAGE) dkms-check $(S)/dkms-check.sh

# the in-tree variant: build/intree/ntb-hw-ivshmem.patch for Linux 6.12,
# checkpatch/kernel-doc clean, applied and built =y and =m (a full kernel
# build, ~5 min: not part of make test)
intree: kernel
	@$(STAGE) intree $(S)/intree.sh

# userspace protocol benchmark, then polled vs interrupt doorbells in
# guests (bench/doorbell.sh: RTT per mode, idle cost per mode, table + plot),
# then the idle poll period against a bare timer (bench/idle-curve.sh)
bench: initramfs tools
	@$(STAGE) bench-shm $(MAKE) -s -C shm-protocol bench
	@$(STAGE) bench-doorbell $(TOP)/bench/doorbell.sh
	@$(STAGE) bench-idle-curve $(TOP)/bench/idle-curve.sh

demo: initramfs tools
	@$(STAGE) demo $(S)/demo.sh

# the reliability scenarios at full counts (make test runs them small)
soak: initramfs tools
	@$(STAGE) soak $(S)/soak.sh

# checkpatch --strict, sparse and W=1 on kmod/ and shm-protocol/
check: kernel
	@$(STAGE) check $(S)/check.sh

clean:
	rm -rf $(IVNTB_BUILD)
	rm -f kmod/*.o kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/.*.cmd kmod/Module.symvers \
		kmod/modules.order
	rm -rf kmod/.tmp_versions

# Also drops the cached kernels and userland (outside the clone).
distclean: clean
	rm -rf $${IVNTB_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/ivshmem-ntb}
