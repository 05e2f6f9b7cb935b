/* SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause) */
/*
 * harness.h - minimal TAP-style test harness for the shm-protocol tests.
 *
 * Each TEST() prints "ok N - name" or "not ok N - name"; tests/run.sh
 * counts those lines over every test program.
 */
#ifndef _IVNTB_HARNESS_H
#define _IVNTB_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int h_num, h_pass, h_fail, h_case_fail;

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			h_case_fail++;					\
			fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__,	\
				__LINE__, #cond);			\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long _a = (long long)(a), _b = (long long)(b);	\
		if (_a != _b) {						\
			h_case_fail++;					\
			fprintf(stderr, "  FAIL %s:%d: %s == %s: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);	\
		}							\
	} while (0)

#define RUN(fn)								\
	do {								\
		h_case_fail = 0;					\
		fn();							\
		h_num++;						\
		if (h_case_fail) {					\
			h_fail++;					\
			printf("not ok %d - %s\n", h_num, #fn);		\
		} else {						\
			h_pass++;					\
			printf("ok %d - %s\n", h_num, #fn);		\
		}							\
		fflush(stdout);						\
	} while (0)

static inline int h_summary(const char *prog)
{
	printf("# %s: %d passed, %d failed\n", prog, h_pass, h_fail);
	return h_fail ? 1 : 0;
}

#endif
