/*
 * SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
 *
 * doorbell.pml - the ivntb doorbell + event counter protocol under a
 * weak-memory abstraction (spin model; see docs/protocol.md, "Barriers").
 *
 * One sender rings one doorbell bit N times; before each ring it stores
 * the value i into a window ("data"). The receiver waits for the event
 * counter to change (E2), takes the bit (D2), reads the data and must see
 * exactly i; it then acknowledges i (the sender rings again only after
 * that, as in tests/stress.c).
 *
 * Weak memory: the sender's plain and relaxed stores go to a store buffer
 * with one slot per location and become visible in any order (PSO), any
 * time, through the memory process; a fully ordered RMW (the kernel's
 * cmpxchg, D1/E1) first drains the buffer. The receiver's data load may
 * be performed before its take of the bit when the take does not order
 * it (NO_D2). ack is modelled as sequentially consistent (it is a
 * release/acquire pair in the test, not part of the protocol).
 *
 * Variants (cpp -D):
 *   SPURIOUS        the receiver may also look at the doorbell without a
 *                   counter change (NTB clients call db_read at any time)
 *   NO_D1           the sender's OR is relaxed          -> stale data
 *   RELAXED_SENDER  OR and counter increment relaxed    -> lost doorbell
 *   NO_D2           the receiver's data load not ordered after the take
 *                                                       -> stale data
 *   SEQ_AFTER_CLEAR the receiver records the counter after handling
 *                   instead of before                   -> lost doorbell
 *   SLEEP           protocol 1.3's needs-wakeup handshake: an idle
 *                   receiver may arm its wake word (store, full barrier
 *                   W1), read the counter again, and sleep until rung
 *                   with no timer; the sender, after E1, reads the wake
 *                   word (full barrier W2) and rings if armed. With SLEEP:
 *     NO_RECHECK    the receiver sleeps without reading the counter
 *                   after arming                        -> lost wake-up
 *     NO_W1         the armed store may become visible after the
 *                   receiver's counter load             -> lost wake-up
 *     NO_W2         the sender's wake-word load may be performed before
 *                   its counter increment is visible    -> lost wake-up
 * A lost wake-up is a receiver asleep while the sender waits for its
 * acknowledgment: an invalid end state.
 * The protocol as implemented (no variant, with and without SPURIOUS,
 * and with SLEEP) must verify with no assertion violation and no invalid
 * end state (deadlock = a doorbell that never wakes the receiver); each
 * weakened variant must fail.
 */
#define N 3

byte data;		/* the window word written before the doorbell */
byte db;		/* the doorbell bit */
byte seq;		/* the receiver's event counter */
byte ack;		/* the receiver's acknowledgment of a value */

/* The receiver's wake word, and the interrupt (level: set by a ring). */
bool armed;
bool arm_pend;		/* NO_W1: the armed store, still buffered */
bool rung;

/* Sender's store buffer. */
bool data_pend;
byte data_val;
bool db_pend;
byte seq_pend;
bool done;

inline drain()
{
	if
	:: data_pend -> data = data_val; data_pend = 0
	:: else -> skip
	fi;
	if
	:: db_pend -> db = 1; db_pend = 0
	:: else -> skip
	fi;
	do
	:: seq_pend > 0 -> seq++; seq_pend--
	:: else -> break
	od
}

active proctype sender()
{
	byte i = 1;

	do
	:: i > N -> break
	:: i <= N ->
		(ack == i - 1);			/* flow control */
		data_val = i;			/* plain store */
		data_pend = 1;
#if defined(NO_D1) || defined(RELAXED_SENDER)
		db_pend = 1;			/* relaxed OR */
#else
		atomic { drain(); db = 1 }	/* D1: fully ordered OR */
#endif
#if defined(RELAXED_SENDER) || defined(NO_W2)
		seq_pend++;			/* relaxed increment */
#else
		atomic { drain(); seq++ }	/* E1: fully ordered increment */
#endif
#ifdef SLEEP
		/* W2, then the wake word: ring an armed receiver */
		if
		:: armed -> rung = 1
		:: else -> skip
		fi;
#endif
		i++
	od;
	done = 1
}

active proctype memory()
{
	do
	:: atomic { data_pend -> data = data_val; data_pend = 0 }
	:: atomic { db_pend -> db = 1; db_pend = 0 }
	:: atomic { seq_pend > 0 -> seq++; seq_pend-- }
	:: atomic { arm_pend -> armed = 1; arm_pend = 0 }
	:: atomic { done && !data_pend && !db_pend && seq_pend == 0 -> break }
	od
}

active proctype receiver()
{
	byte last = 0, expect = 1, d = 0, b;
	bool early, look;

	do
	:: expect > N -> break
	:: else ->
		look = 1;
		if
#ifdef SPURIOUS
		:: skip				/* look anyway */
#endif
#ifdef SEQ_AFTER_CLEAR
		:: (seq != last)		/* counter read later */
#else
		:: (seq != last) -> last = seq	/* E2: acquire */
#endif
#ifdef SLEEP
		:: (seq == last) ->		/* idle: arm, maybe sleep */
			look = 0;
#ifdef NO_W1
			arm_pend = 1;		/* store, no barrier */
#else
			armed = 1;		/* store, then W1 */
#endif
			if
#ifndef NO_RECHECK
			:: (seq != last) -> skip	/* counter moved: poll */
#endif
			:: else ->
				(rung);		/* asleep: no timer */
				rung = 0
			fi;
			atomic { arm_pend = 0; armed = 0 }	/* disarm */
#endif
		fi;
		if
		:: !look -> goto next
		:: else -> skip
		fi;
		early = 0;
#ifdef NO_D2
		if
		:: d = data; early = 1		/* load hoisted above the take */
		:: skip
		fi;
#endif
		atomic { b = db; db = 0 };	/* D2: take, fully ordered */
		if
		:: b ->
			if
			:: !early -> d = data
			:: else -> skip
			fi;
			assert(d == expect);
			ack = expect;
			expect++
		:: else -> skip
		fi;
#ifdef SEQ_AFTER_CLEAR
		last = seq;
#endif
next:		skip
	od
}
