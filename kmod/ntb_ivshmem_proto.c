// SPDX-License-Identifier: GPL-2.0
/*
 * The shared-memory protocol, built into the module from the one source
 * that userspace tests and tools also build (shm-protocol/ivntb_proto.c).
 */
#include "../shm-protocol/ivntb_proto.c"
