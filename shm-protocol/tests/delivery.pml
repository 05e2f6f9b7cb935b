/*
 * SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
 *
 * delivery.pml - the driver's doorbell "interrupt controller" (spin model
 * of kmod/ntb_ivshmem.c: ivshm_poll(), ivshm_deliver(), ntb_ivshm_db_clear()
 * and ivshm_kick()): which pending bits become ntb_db_event() calls.
 *
 * One doorbell bit. A peer rings it N times at any moment (the OR, then
 * the event counter bump, as ivntb_db_ring()). The poller waits for the
 * counter to move or a kick, takes the kick, records the counter, reads the
 * doorbell word and decides with db_delivered which bits are new: a plain
 * read, an atomic OR (fetch_or), then a second read of the word that takes
 * back a mark on a bit cleared in between. A delivered event runs the
 * client's callback in the poller, which clears the bit (ntb_db_clear from
 * the callback: no kick). Meanwhile another CPU clears the bit once, at any
 * moment (ntb_tool's debugfs, a client's tasklet): the shared word, then
 * db_delivered, then the kick.
 *
 * Interleaving only (sequentially consistent): the barriers that make the
 * driver's lockless reads see these orders on weak memory are K1/K2 and
 * D1/D2/E1/E2 (docs/protocol.md). Masks are left out.
 *
 * The property: whenever the poller waits with nothing to wake it (the
 * counter as it recorded it, no kick) after the peer and the other CPU are
 * done, no bit is pending: every ring was delivered (its callback cleared
 * it) or discarded by a clear. A pending bit then is a lost doorbell.
 *
 * Variants (cpp -D), each must fail:
 *   NO_REREAD   no second read after the OR: a clear between the first
 *               read and the OR leaves the bit marked but not pending, and
 *               its next ring goes unsignalled
 *   NO_KICK     the other CPU's clear does not kick: a ring between its
 *               clear of the word and its clear of db_delivered is polled
 *               for, found already signalled, and never looked at again
 */
#define N 3

bit db;			/* the doorbell word (our one bit) */
byte seq;		/* our event counter */
bit delivered;		/* db_delivered */
bit kick;
bit idle;		/* the poller waits */
bit peer_done;
bit clr_done;
byte events;		/* ntb_db_event() calls */
byte last;		/* the poller's last_seq */

active proctype peer()
{
	byte i;

	for (i : 1 .. N) {
		db = 1;		/* D1: the fully ordered OR */
		seq++		/* E1 */
	}
	peer_done = 1
}

active proctype other_cpu()
{
	db = 0;			/* ivntb_db_clear(), fully ordered */
	delivered = 0;		/* atomic64_andnot() */
#ifndef NO_KICK
	kick = 1;		/* K1 */
#endif
	clr_done = 1
}

active proctype poller()
{
	bit d, old, new;

	do
	:: idle = 1;
end_wait:
		(seq != last || kick);
		idle = 0;
		kick = 0;		/* K2: the exchange */
		last = seq;		/* E2 */
		d = db;			/* D2 */
		if
		:: d && !delivered ->
			atomic { old = delivered; delivered = 1 };
			new = !old;
#ifndef NO_REREAD
			d = db;
			if
			:: new && !d -> delivered = 0; new = 0
			:: else -> skip
			fi;
#endif
			if
			:: new ->
				events++;
				/*
				 * the callback reads the word and clears the
				 * bits it found (ntb_db_clear() from the
				 * poller: no kick)
				 */
				d = db;
				if
				:: d -> db = 0; delivered = 0
				:: else -> skip
				fi
			:: else -> skip
			fi
		:: else -> skip
		fi
	od
}

/* the poller asleep with nothing to wake it: nothing may be pending */
active proctype judge()
{
	atomic {
		peer_done && clr_done && idle && seq == last && !kick ->
		assert(db == 0)
	}
}
