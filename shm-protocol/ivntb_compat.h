/* SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause) */
/*
 * ivntb compat layer: the primitives ivntb_proto.c uses, per environment
 *
 * ivntb_proto.c is written against the Linux kernel API and compiles
 * unchanged in three environments; this header is the only place that
 * tells them apart:
 *
 *   __KERNEL__				the kernel's own primitives.
 *   IVNTB_COMPAT_ATOMIC_BUILTINS	userspace, C11 __atomic builtins, so
 *					that ThreadSanitizer sees every
 *					atomic access and its ordering.
 *   (default)				userspace, liburcu 0.13 (uatomic_*,
 *					cmm_smp_*, CMM_LOAD/STORE_SHARED).
 *
 * Semantics every variant provides (those of the kernel):
 *   READ_ONCE(x), WRITE_ONCE(x, v)	single, untorn access, no ordering.
 *   smp_load_acquire(p)		load, later accesses ordered after it.
 *   smp_store_release(p, v)		store, earlier accesses ordered
 *					before it.
 *   smp_mb(), smp_rmb(), smp_wmb()	full, load-load, store-store.
 *   cmpxchg64(p, old, new)		returns the previous value; fully
 *					ordered when it succeeds (a failed
 *					cmpxchg64 orders nothing).
 *   ivntb_cpu_relax()			cpu_relax(): pause in a polling
 *					loop (not named cpu_relax() in
 *					userspace, where programs that
 *					include this header define their
 *					own).
 *   BUILD_BUG_ON(cond), div64_u64(a, b), likely(), unlikely().
 *
 * Supported CPUs: 64-bit little-endian only (the region is little-endian
 * and 64-bit words must be single-copy atomic). Others fail to build.
 */
#ifndef _IVNTB_COMPAT_H
#define _IVNTB_COMPAT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/math64.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/atomic.h>
#include <linux/processor.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>

#ifndef __LITTLE_ENDIAN
#error "ivntb: the shared region is little-endian; big-endian CPUs are not supported"
#endif
#if BITS_PER_LONG != 64
#error "ivntb: 64-bit CPUs only (64-bit words must be single-copy atomic)"
#endif

#define ivntb_cpu_relax()	cpu_relax()

#else /* userspace */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <linux/types.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ivntb: the shared region is little-endian; big-endian CPUs are not supported"
#endif
#if !defined(__LP64__)
#error "ivntb: 64-bit CPUs only (64-bit words must be single-copy atomic)"
#endif

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#define BUILD_BUG_ON(cond)	((void)sizeof(char[1 - 2 * !!(cond)]))
#define BIT_ULL(n)		(1ULL << (n))
#define div64_u64(a, b)		((u64)(a) / (u64)(b))

#ifdef IVNTB_COMPAT_ATOMIC_BUILTINS

#define IVNTB_COMPAT_NAME	"atomic-builtins"
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* barrier: the C11 equivalent of the kernel's smp_load_acquire() */
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
/* barrier: the C11 equivalent of the kernel's smp_store_release() */
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* barrier: full fence, as the kernel's smp_mb() */
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)
/* barrier: orders earlier loads before later loads (and more) */
#define smp_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
/* barrier: orders earlier stores before later stores (and more) */
#define smp_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)
#if defined(__x86_64__)
#define ivntb_cpu_relax()	__builtin_ia32_pause()
#else
#define ivntb_cpu_relax()	__atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif
/* Fully ordered on success, unordered on failure: as in the kernel. */
#define cmpxchg64(p, o, n)						\
	({								\
		__auto_type ___p = (p);					\
		__typeof__(*___p) ___o = (o);				\
		__atomic_compare_exchange_n(___p, &___o, (n), false,	\
					    __ATOMIC_SEQ_CST,		\
					    __ATOMIC_RELAXED);		\
		___o;							\
	})

#else /* liburcu 0.13 */

#include <urcu/arch.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#define IVNTB_COMPAT_NAME	"liburcu"
#define READ_ONCE(x)		CMM_LOAD_SHARED(x)
#define WRITE_ONCE(x, v)	((void)CMM_STORE_SHARED((x), (v)))
/*
 * liburcu 0.13 has no acquire/release operations. On x86 (TSO) a load is
 * never reordered with later loads or stores and a store never with
 * earlier ones, so a compiler barrier suffices, as in the kernel's x86
 * smp_load_acquire()/smp_store_release(). Elsewhere use the full barrier,
 * which is stronger than either.
 */
#if defined(__x86_64__)
#define ivntb_acq_rel_barrier()	cmm_barrier()
#else
#define ivntb_acq_rel_barrier()	cmm_smp_mb()
#endif
/* barrier: acquire, see above */
#define smp_load_acquire(p)						\
	({								\
		__auto_type ___p = (p);					\
		__typeof__(*___p) ___v = CMM_LOAD_SHARED(*___p);	\
		/* barrier: acquire, later accesses after the load */	\
		ivntb_acq_rel_barrier();				\
		___v;							\
	})
/* barrier: release, earlier accesses before the store */
#define smp_store_release(p, v)						\
	do {								\
		ivntb_acq_rel_barrier();				\
		CMM_STORE_SHARED(*(p), (v));				\
	} while (0)
/* barrier: full */
#define smp_mb()		cmm_smp_mb()
/* barrier: load-load */
#define smp_rmb()		cmm_smp_rmb()
/* barrier: store-store */
#define smp_wmb()		cmm_smp_wmb()
#define ivntb_cpu_relax()	caa_cpu_relax()
/* uatomic_cmpxchg() implies a full memory barrier. */
#define cmpxchg64(p, o, n)	uatomic_cmpxchg((p), (o), (n))

#endif /* IVNTB_COMPAT_ATOMIC_BUILTINS */

#endif /* __KERNEL__ */

#endif /* _IVNTB_COMPAT_H */
