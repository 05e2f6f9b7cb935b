// SPDX-License-Identifier: GPL-2.0
/*
 * NTB hardware driver over QEMU's ivshmem PCI device (placeholder: the
 * build and test harness loads and unloads it until the driver lands).
 */
#include <linux/module.h>

MODULE_DESCRIPTION("NTB over QEMU ivshmem shared memory");
MODULE_LICENSE("GPL");
