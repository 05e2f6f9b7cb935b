/* SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause) */
/*
 * ivntb_dump.h - decode a region for humans (userspace only)
 */
#ifndef _IVNTB_DUMP_H
#define _IVNTB_DUMP_H

#include <stdio.h>
#include "ivntb_proto.h"

/**
 * ivntb_dump() - print everything a region holds
 * @f:		output.
 * @base:	mapping.
 * @map_size:	bytes mapped.
 * @raw:	also decode the layout area of a region that fails validation
 *		(all IVNTB_MAX_* slots), as long as the mapping covers it.
 *
 * Reads only; every value is copied once and bound-checked.
 *
 * Return: the result of ivntb_region_validate().
 */
int ivntb_dump(FILE *f, void *base, u64 map_size, bool raw);

/* Name of a negative errno returned by the ivntb operations. */
const char *ivntb_errname(int err);

#endif /* _IVNTB_DUMP_H */
