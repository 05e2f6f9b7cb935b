/* SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause) */
/*
 * Layout of the ivshmem-ntb shared region (protocol v1.3)
 *
 * This header is the specification in code of the memory that emulates an
 * NTB device on top of a plain shared-memory region (QEMU ivshmem BAR2, or
 * a file under /dev/shm). It depends only on <linux/types.h>, is dual
 * licensed so that any peer can implement it, and describes memory, not
 * code. docs/protocol.md is the prose version; where the two disagree, fix
 * both.
 *
 * All multi-byte fields are little-endian. The reference implementation
 * (shm-protocol/ivntb_proto.c) supports 64-bit little-endian CPUs only.
 *
 * Region layout (offsets in bytes, region base page aligned):
 *
 *   0x0000  struct ivntb_ctrl       control header, 256 bytes, written only
 *                                   by the initialiser
 *   0x0100  struct ivntb_wake_line  wake[IVNTB_MAX_PORTS], 64 bytes each,
 *                                   written by the port's owner (since 1.3)
 *   0x0300  struct ivntb_sup_line   written by a supervisor (since 1.3)
 *   0x0340  reserved                zero, up to 0x1000
 *   0x1000  struct ivntb_port_slot  port[IVNTB_MAX_PORTS], 512 bytes each
 *   0x2000  struct ivntb_win        wintab[dst][src][w], 8 x 8 x 4 entries
 *   0x3000  end of the layout (IVNTB_LAYOUT_SIZE); memory windows follow,
 *           each at the {offset, size} the window table gives
 *
 * Port slot (512 bytes, 8 cache lines of 64 bytes):
 *
 *   +0x000  owner line      claim, heartbeat, link, db_mask, version, tag,
 *                           link generations
 *                           (written by the port's owner; claim also by
 *                           claimers, by compare-and-exchange only)
 *   +0x040  doorbell line   db (senders set bits, owner clears bits),
 *                           seq (senders increment)
 *   +0x080  spad[64]        scratchpads (owner and peers write)
 *   +0x180  msg[8]          inbound message registers (senders write,
 *                           owner acknowledges)
 *
 * Words that are written by different ports sit on different 64-byte cache
 * lines, except where the NTB semantics make one word shared (doorbell bits
 * are set by senders and cleared by the owner; a message register is
 * filled by a sender and freed by the owner; scratchpads are written by
 * both sides). Those words are only ever changed by atomic
 * compare-and-exchange or by a single aligned store, never by
 * read-modify-write with plain accesses.
 */
#ifndef _IVNTB_LAYOUT_H
#define _IVNTB_LAYOUT_H

#include <linux/types.h>

/* "ivNTBshm" read as a little-endian 64-bit word. */
#define IVNTB_MAGIC		0x6d687342544e7669ULL
/*
 * "ivNTBini": the magic while a region is being initialised. The
 * initialiser takes initialisation with one compare-and-exchange of the
 * magic word to this value and stores IVNTB_MAGIC last; a reader that
 * finds it reports "initialisation in progress", not a foreign region.
 */
#define IVNTB_MAGIC_INIT	0x696e6942544e7669ULL
/* Written to ivntb_ctrl.ready once the header is complete (magic follows). */
#define IVNTB_READY		0x21594452U

/* Major: incompatible layout changes. Minor: compatible additions. */
#define IVNTB_VERSION_MAJOR	1
#define IVNTB_VERSION_MINOR	4

#define IVNTB_CACHELINE		64

#define IVNTB_MIN_PORTS		2
#define IVNTB_MAX_PORTS		8
#define IVNTB_MIN_SPADS		16
#define IVNTB_MAX_SPADS		64
#define IVNTB_MIN_MSGS		4
#define IVNTB_MAX_MSGS		8
#define IVNTB_MIN_MWS		2
#define IVNTB_MAX_MWS		4
#define IVNTB_DB_BITS		64

/* Fixed offsets of protocol major version 1. */
#define IVNTB_CTRL_OFFSET	0x0000
#define IVNTB_PORTS_OFFSET	0x1000
#define IVNTB_PORT_SLOT_SIZE	0x0200
#define IVNTB_WINTAB_OFFSET	0x2000
#define IVNTB_LAYOUT_SIZE	0x3000

/* Windows are aligned to ivntb_ctrl.mw_align, a power of two >= this. */
#define IVNTB_MW_MIN_ALIGN	0x1000

/*
 * Port claim word (ivntb_port_slot.claim):
 *   bits  7..0   state: IVNTB_PORT_FREE or IVNTB_PORT_CLAIMED
 *   bits 31..8   reserved, zero
 *   bits 63..32  epoch: incremented by every successful claim or takeover
 *                (0 is skipped on wrap), kept by a release
 * Claims and takeovers are a single compare-and-exchange from the exact
 * word observed, so a claim is never granted twice.
 */
#define IVNTB_PORT_FREE		0x00
#define IVNTB_PORT_CLAIMED	0x01
#define IVNTB_CLAIM_STATE_MASK	0xffULL
#define IVNTB_CLAIM_RSVD_MASK	0xffffff00ULL
#define IVNTB_CLAIM_STATE(c)	((__u32)((c) & IVNTB_CLAIM_STATE_MASK))
#define IVNTB_CLAIM_EPOCH(c)	((__u32)((c) >> 32))
#define IVNTB_CLAIM(state, epoch) \
	(((__u64)(epoch) << 32) | ((__u64)(state) & IVNTB_CLAIM_STATE_MASK))

/*
 * Link word (ivntb_port_slot.link):
 *   bits  7..0   flags: IVNTB_LINK_ENABLE
 *   bits 31..8   reserved, zero
 *   bits 63..32  the owner's claim epoch when it wrote the word
 * The flags count only when the epoch equals the epoch of the claim word,
 * so a stale enable left by a previous owner is never taken as current.
 */
#define IVNTB_LINK_ENABLE	0x01
#define IVNTB_LINK_FLAGS(l)	((__u32)((l) & 0xffULL))
#define IVNTB_LINK_EPOCH(l)	((__u32)((l) >> 32))
#define IVNTB_LINK(epoch, flags) \
	(((__u64)(epoch) << 32) | ((__u64)(flags) & 0xffULL))

/*
 * Message register state word (ivntb_msg_reg.state):
 *   bits  7..0   state: FREE -> WRITING -> FULL -> FREE
 *   bits 15..8   source port (WRITING and FULL)
 *   bits 31..16  reserved, zero
 *   bits 63..32  source port's claim epoch (WRITING and FULL)
 * FREE is the all-zero word. A sender claims FREE -> WRITING(src, epoch)
 * by compare-and-exchange, stores data, then WRITING -> FULL by
 * compare-and-exchange. The owner reads a FULL register and frees it by
 * compare-and-exchange FULL -> FREE (the acknowledgment).
 */
#define IVNTB_MSG_FREE		0x00
#define IVNTB_MSG_WRITING	0x01
#define IVNTB_MSG_FULL		0x02
#define IVNTB_MSG_STATE(s)	((__u32)((s) & 0xffULL))
#define IVNTB_MSG_SRC(s)	((__u32)(((s) >> 8) & 0xffULL))
#define IVNTB_MSG_EPOCH(s)	((__u32)((s) >> 32))
#define IVNTB_MSG_RSVD_MASK	0xffff0000ULL
#define IVNTB_MSG(state, src, epoch) \
	(((__u64)(epoch) << 32) | (((__u64)(src) & 0xffULL) << 8) | \
	 ((__u64)(state) & 0xffULL))

/*
 * Wake word (ivntb_wake_line.wake, since 1.3):
 *   IVNTB_WAKE_ARMED  the owner sleeps until interrupted: a party that
 *                     published an event for this port then writes the
 *                     owner's Doorbell (irq_id). Clear: the owner polls or
 *                     spins and will see the event without it.
 * Capability word (ivntb_wake_line.caps, since 1.3):
 *   IVNTB_CAP_RINGS   the owner rings every port it sends events to whose
 *                     wake word is armed (it has an ivshmem-doorbell
 *                     device on the region's server).
 * Both count only while the slot's ver_major/ver_minor say 1.3 or later;
 * toward an older owner with an irq_id a sender rings after every event,
 * as in 1.1 and 1.2.
 */
#define IVNTB_WAKE_ARMED	0x01
#define IVNTB_CAP_RINGS		0x01

/* "ivNTBsup": ivntb_sup_line.magic while a supervisor watches the region */
#define IVNTB_SUP_MAGIC		0x70757342544e7669ULL

/**
 * struct ivntb_ctrl - control header at offset 0
 * @magic:		IVNTB_MAGIC, stored last (with release) by the
 *			initialiser. IVNTB_MAGIC_INIT: initialisation in
 *			progress. 0: a blank region. Anything else: not an
 *			ivntb region, do not touch.
 * @version_major:	IVNTB_VERSION_MAJOR of the initialiser.
 * @version_minor:	IVNTB_VERSION_MINOR of the initialiser.
 * @ready:		IVNTB_READY, stored (with release) by the
 *			initialiser once the rest of the header is written,
 *			just before @magic; 0 while initialisation is in
 *			progress.
 * @region_size:	bytes of the region; the mapping must be at least
 *			this large.
 * @layout_size:	bytes of control + port slots + window table; no
 *			window starts below it. IVNTB_LAYOUT_SIZE in v1.x.
 * @ports_offset:	IVNTB_PORTS_OFFSET.
 * @port_slot_size:	IVNTB_PORT_SLOT_SIZE.
 * @wintab_offset:	IVNTB_WINTAB_OFFSET.
 * @nr_ports:		ports in use, IVNTB_MIN_PORTS..IVNTB_MAX_PORTS.
 * @nr_spads:		scratchpads per port, IVNTB_MIN_SPADS..MAX_SPADS.
 * @nr_msgs:		inbound message registers per port, MIN..MAX_MSGS.
 * @nr_mws:		memory windows per (dst, src) pair, MIN..MAX_MWS.
 * @mw_align:		alignment of window offsets and sizes, power of two,
 *			>= IVNTB_MW_MIN_ALIGN.
 * @nonce:		chosen by the initialiser, changes with every
 *			initialisation (tells a re-initialised region apart).
 * @reserved:		zero.
 *
 * Writer: the initialiser only (host tool or a driver told to initialise),
 * the one party whose compare-and-exchange of @magic to IVNTB_MAGIC_INIT
 * succeeded. Every other party only reads it, and copies it before
 * validating it.
 */
struct ivntb_ctrl {
	__u64 magic;			/* 0x00 */
	__u16 version_major;		/* 0x08 */
	__u16 version_minor;		/* 0x0a */
	__u32 ready;			/* 0x0c */
	__u64 region_size;		/* 0x10 */
	__u32 layout_size;		/* 0x18 */
	__u32 ports_offset;		/* 0x1c */
	__u32 port_slot_size;		/* 0x20 */
	__u32 wintab_offset;		/* 0x24 */
	__u16 nr_ports;			/* 0x28 */
	__u16 nr_spads;			/* 0x2a */
	__u16 nr_msgs;			/* 0x2c */
	__u16 nr_mws;			/* 0x2e */
	__u64 mw_align;			/* 0x30 */
	__u64 nonce;			/* 0x38 */
	__u8 reserved[0xc0];		/* 0x40 */
};

/**
 * struct ivntb_msg_reg - one inbound message register
 * @state:	IVNTB_MSG() word. Senders: FREE -> WRITING -> FULL;
 *		owner: FULL -> FREE. Compare-and-exchange only.
 * @data:	the message; written by the sender holding WRITING.
 * @reserved:	zero.
 */
struct ivntb_msg_reg {
	__u64 state;			/* +0x0 */
	__u32 data;			/* +0x8 */
	__u32 reserved;			/* +0xc */
};

/**
 * struct ivntb_port_slot - state of one port, 512 bytes
 * @claim:	IVNTB_CLAIM() word. Claimers and the owner, by
 *		compare-and-exchange only.
 * @heartbeat:	counter the owner increments periodically; peers judge
 *		liveness by watching it change. Owner.
 * @link:	IVNTB_LINK() word: the owner's link enable. Owner.
 * @db_mask:	the owner's doorbell mask, informational. Owner.
 * @ver_major:	protocol major version the owner speaks. Owner.
 * @ver_minor:	protocol minor version the owner speaks. Owner.
 * @irq_id:	0: the owner polls. Else 1 + the owner's ivshmem-doorbell
 *		peer ID (IVPosition): a party that published an event
 *		for this port may also write (@irq_id - 1) << 16 to its own
 *		ivshmem-doorbell Doorbell register, on the same server, to
 *		interrupt the owner; toward a 1.3 owner only while its wake
 *		word is armed (struct ivntb_wake_line). Untrusted: a
 *		hint only, events are always in shared memory. Owner.
 *		(Since 1.1; 1.0 owners leave it zero.)
 * @owner_tag:	free-form identification of the owner (dump only). Owner.
 * @link_gen:	link generation toward each port: the owner increments
 *		@link_gen[p] (modulo 2^16) when it takes its link to port p
 *		down for a reason p may not see in this slot (p's
 *		heartbeat stopped for the owner's timeout, the owner
 *		disabled its link, the header changed). A port p whose link
 *		to the owner is up and sees @link_gen[p] differ from the
 *		value it saw when the link came up takes the link down once,
 *		then up again: a link flap is seen by both ends; from 1.4
 *		it acknowledges the new value in its wake line's
 *		link_ack[owner]. Reset to zero by a claim. Owner. (Since
 *		1.2; 1.0 and 1.1 owners leave it zero, and ignore it.)
 * @db:		64 doorbell bits. Senders set bits (atomic OR),
 *		the owner clears bits (atomic AND).
 * @seq:	event counter; incremented by any party after it published
 *		an event for this port (doorbell, message, acknowledgment
 *		of a message this port sent, peer state change). Senders.
 * @rsvd2:	zero.
 * @spad:	scratchpads of this port. The owner (spad_write) and peers
 *		(peer_spad_write); read by both.
 * @msg:	inbound message registers of this port.
 */
struct ivntb_port_slot {
	/* cache line 0: owner-written */
	__u64 claim;			/* +0x000 */
	__u64 heartbeat;		/* +0x008 */
	__u64 link;			/* +0x010 */
	__u64 db_mask;			/* +0x018 */
	__u16 ver_major;		/* +0x020 */
	__u16 ver_minor;		/* +0x022 */
	__u32 irq_id;			/* +0x024 */
	__u64 owner_tag;		/* +0x028 */
	__u16 link_gen[IVNTB_MAX_PORTS];	/* +0x030 */
	/* cache line 1: sender-written doorbell line */
	__u64 db;			/* +0x040 */
	__u64 seq;			/* +0x048 */
	__u8 rsvd2[0x30];		/* +0x050 */
	/* cache lines 2-5: scratchpads */
	__u32 spad[IVNTB_MAX_SPADS];	/* +0x080 */
	/* cache lines 6-7: inbound message registers */
	struct ivntb_msg_reg msg[IVNTB_MAX_MSGS];	/* +0x180 */
};

/**
 * struct ivntb_wake_line - how to wake a port's owner, 64 bytes (since 1.3)
 * @wake:	IVNTB_WAKE_ARMED or 0. The owner stores it, then (full
 *		barrier, W1) reads its event counter, and sleeps only if the
 *		counter did not move; a sender increments the counter (E1),
 *		then (full barrier, W2) reads this word, and rings if armed.
 *		Owner. Zero from a 1.2 or older owner (never read then).
 * @caps:	IVNTB_CAP_RINGS or 0. Owner.
 * @dev_id:	1 + the owner's ivshmem-doorbell peer ID (IVPosition), in
 *		any mode; 0: not on a doorbell device. How a supervisor (the
 *		doorbell server) maps a peer whose connection closed to its
 *		port. Owner.
 * @hb_ms:	the owner's heartbeat period in ms; 0: the default of 1.2
 *		(10). A peer's timeout of this owner is at least three of
 *		them. Owner.
 * @link_ack:	link_ack[p]: the last link generation of port p toward the
 *		owner (p's link_gen[owner]) that the owner has taken its
 *		link down for and finished with: its link to p is down, its
 *		clients were told, every write it began into p's slot
 *		before that has landed, and, in a two-port region, it has
 *		zeroed p's scratchpads (what it wrote there under the old
 *		link). A p that announced a generation waits for this ack
 *		before it calls the owner ready again. Owner. (Since 1.4;
 *		zero from older owners, and never read then.)
 * @rsvd:	zero.
 *
 * Written by the port's owner only, on a line of its own: an idle owner
 * arms and disarms it without touching the lines its senders write.
 * Reset to zero by a claim. Untrusted hints: events are always in shared
 * memory, a ring is only a way to be woken sooner.
 */
struct ivntb_wake_line {
	__u32 wake;			/* +0x00 */
	__u32 caps;			/* +0x04 */
	__u32 dev_id;			/* +0x08 */
	__u32 hb_ms;			/* +0x0c */
	__u16 link_ack[IVNTB_MAX_PORTS];	/* +0x10 */
	__u8 rsvd[0x20];		/* +0x20 */
};

/**
 * struct ivntb_sup_line - a supervisor's findings, 64 bytes (since 1.3)
 * @magic:	IVNTB_SUP_MAGIC while a supervisor (the doorbell server run
 *		with --ntb) watches the region: it learns of a peer's death
 *		when its connection closes. 0: none. Supervisor.
 * @gone:	gone[p]: the claim epoch of port p's owner when the
 *		supervisor saw it die (its connection closed); 0: none. It
 *		then increments every other port's event counter and rings
 *		them. A port whose claim epoch equals gone[p] is dead: its
 *		peers take its link down at once, and a claimer may take it
 *		over without waiting for its heartbeat to stand still.
 *		Supervisor.
 * @rsvd:	zero.
 *
 * Untrusted like everything else: a false gone[p] costs a link flap of
 * a live port, which then claims again (a new epoch).
 */
struct ivntb_sup_line {
	__u64 magic;			/* +0x00 */
	__u32 gone[IVNTB_MAX_PORTS];	/* +0x08 */
	__u8 rsvd[0x18];		/* +0x28 */
};

/**
 * struct ivntb_win - one memory window
 * @offset:	from the region base; multiple of mw_align, >= layout_size.
 * @size:	bytes; non-zero multiple of mw_align; offset + size <=
 *		region_size. Windows never overlap.
 *
 * wintab[dst][src][w] is inbound window w of port dst, written by port
 * src: src's peer_mw_get_addr(dst, w) and dst's local inbound window
 * (mw_set_trans) for peer src. Entries with dst == src or outside
 * nr_ports/nr_mws are unused and zero. Writer: the initialiser.
 */
struct ivntb_win {
	__u64 offset;
	__u64 size;
};

/**
 * struct ivntb_shm - the whole layout, IVNTB_LAYOUT_SIZE bytes
 * @ctrl:	control header.
 * @wake:	one wake line per port (since 1.3; zero before).
 * @sup:	the supervisor's line (since 1.3; zero before).
 * @rsvd:	zero; room for compatible (minor) additions.
 * @port:	port slots; only the first nr_ports are used.
 * @wintab:	window table.
 */
struct ivntb_shm {
	struct ivntb_ctrl ctrl;					/* 0x0000 */
	struct ivntb_wake_line wake[IVNTB_MAX_PORTS];		/* 0x0100 */
	struct ivntb_sup_line sup;				/* 0x0300 */
	__u8 rsvd[IVNTB_PORTS_OFFSET - 0x340];			/* 0x0340 */
	struct ivntb_port_slot port[IVNTB_MAX_PORTS];		/* 0x1000 */
	struct ivntb_win wintab[IVNTB_MAX_PORTS][IVNTB_MAX_PORTS][IVNTB_MAX_MWS];
								/* 0x2000 */
};

/*
 * The layout is an ABI: every offset above is pinned at build time by
 * ivntb_layout_check() in shm-protocol/ivntb_proto.c (BUILD_BUG_ON), which
 * every build of the implementation (kernel and userspace) compiles.
 */

#endif /* _IVNTB_LAYOUT_H */
