/*
 * SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
 *
 * doorbell.pml - the ivntb doorbell + event counter protocol under a
 * weak-memory abstraction (spin model; see docs/protocol.md, "Barriers").
 *
 * NB senders (1, or 2 with -DNB=2), each on its own CPU with its own
 * store buffer, ring their own doorbell bit N times each; before each ring
 * a sender stores the value i into its window word ("data"). The receiver
 * waits for the event counter to change (E2), takes the whole doorbell
 * word (D2), and for each bit it took reads that sender's data, which
 * must be exactly the value it expects next; it then acknowledges it (a
 * sender rings again only after that, as in tests/stress.c). With two
 * senders, the ORs of two bits and two counter increments race each
 * other and the receiver's take.
 *
 * Weak memory: a sender's plain and relaxed stores go to its store buffer
 * with one slot per location and become visible in any order (PSO), any
 * time, through the memory process; a fully ordered RMW (the kernel's
 * cmpxchg, D1/E1) first drains that sender's buffer. The receiver's data load may
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
 * Each with one sender or two (-DNB=2: two bits, 26 k states; with
 * SLEEP 300 k). The protocol as implemented (no variant, with and without
 * SPURIOUS, and with SLEEP) must verify with no assertion violation and no invalid
 * end state (deadlock = a doorbell that never wakes the receiver); each
 * weakened variant must fail.
 */
#define N 3
#ifndef NB
#define NB 1		/* senders, one doorbell bit each */
#endif

byte data[NB];		/* each sender's window word, written before it rings */
byte db;		/* the doorbell word: bit s is sender s's */
byte seq;		/* the receiver's event counter */
byte ack[NB];		/* the receiver's acknowledgment of each sender's value */

/* The receiver's wake word, and the interrupt (level: set by a ring). */
bool armed;
bool arm_pend;		/* NO_W1: the armed store, still buffered */
bool rung;

/* Each sender's store buffer. */
bool data_pend[NB];
byte data_val[NB];
bool db_pend[NB];
byte seq_pend[NB];
bool done[NB];

inline drain(me)
{
	if
	:: data_pend[me] -> data[me] = data_val[me]; data_pend[me] = 0
	:: else -> skip
	fi;
	if
	:: db_pend[me] -> db = db | (1 << me); db_pend[me] = 0
	:: else -> skip
	fi;
	do
	:: seq_pend[me] > 0 -> seq++; seq_pend[me]--
	:: else -> break
	od
}

proctype sender(byte me)
{
	byte i = 1;

	do
	:: i > N -> break
	:: i <= N ->
		(ack[me] == i - 1);		/* flow control */
		data_val[me] = i;		/* plain store */
		data_pend[me] = 1;
#if defined(NO_D1) || defined(RELAXED_SENDER)
		db_pend[me] = 1;		/* relaxed OR */
#else
		atomic { drain(me); db = db | (1 << me) }	/* D1: fully ordered OR */
#endif
#if defined(RELAXED_SENDER) || defined(NO_W2)
		seq_pend[me]++;			/* relaxed increment */
#else
		atomic { drain(me); seq++ }	/* E1: fully ordered increment */
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
	done[me] = 1
}

/*
 * Makes sender me's buffered stores visible, in any order, at any time;
 * the first also the receiver's (NO_W1).
 */
proctype memory(byte me)
{
	do
	:: atomic { data_pend[me] -> data[me] = data_val[me]; data_pend[me] = 0 }
	:: atomic { db_pend[me] -> db = db | (1 << me); db_pend[me] = 0 }
	:: atomic { seq_pend[me] > 0 -> seq++; seq_pend[me]-- }
	:: atomic { me == 0 && arm_pend -> armed = 1; arm_pend = 0 }
	:: atomic { done[me] && !data_pend[me] && !db_pend[me] && seq_pend[me] == 0 -> break }
	od
}

init
{
	byte s = 0;

	atomic {
		do
		:: s < NB -> run sender(s); run memory(s); s++
		:: else -> break
		od;
		run receiver()
	}
}

proctype receiver()
{
	byte last = 0, expect[NB], d[NB], b, s;
	bool early, look;

	s = 0;
	do
	:: s < NB -> expect[s] = 1; s++
	:: else -> break
	od;
	do
	:: (expect[0] > N
#if NB > 1
	    && expect[1] > N
#endif
	   ) -> break
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
		:: d[0] = data[0];		/* loads hoisted above the take */
#if NB > 1
		   d[1] = data[1];
#endif
		   early = 1
		:: skip
		fi;
#endif
		atomic { b = db; db = 0 };	/* D2: take, fully ordered */
		s = 0;
		do
		:: s < NB ->
			if
			:: b & (1 << s) ->
				if
				:: !early -> d[s] = data[s]
				:: else -> skip
				fi;
				assert(d[s] == expect[s]);
				ack[s] = expect[s];
				expect[s]++
			:: else -> skip
			fi;
			s++
		:: else -> break
		od;
#ifdef SEQ_AFTER_CLEAR
		last = seq;
#endif
next:		skip
	od
}
