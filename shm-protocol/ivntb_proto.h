/* SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause) */
/*
 * Operations on an ivntb shared region (implemented in ivntb_proto.c, but
 * for the one-load readers a poller calls at every look, inline here)
 *
 * Includes ivntb_compat.h and ivntb_layout.h (the layout). Every operation is
 * lock-free, never sleeps, never allocates and may be called from hard-IRQ
 * or hrtimer context. Errors are negative errno values, in the kernel and
 * in userspace alike.
 *
 * The region is untrusted memory: every value read from it is copied once
 * and bound-checked before use. The geometry is read from the region only
 * by ivntb_region_validate() (and ivntb_region_init()), which keep a
 * validated copy in struct ivntb_region; every other operation uses that
 * copy. Operations on a region that failed validation see zero ports and
 * return -EINVAL.
 *
 * Concurrency: different ports may call anything concurrently. Within one
 * port, the owner-side operations (heartbeat, link, db_clear/db_take,
 * mask, msg_read/ack/reap, release) must be serialised by the caller;
 * senders may ring doorbells concurrently from any number of CPUs; two
 * concurrent ivntb_msg_send() from one port to the same register are a
 * caller bug (one of them gets -EBUSY or -EAGAIN, never a corruption of
 * the region).
 */
#ifndef _IVNTB_PROTO_H
#define _IVNTB_PROTO_H

#include "ivntb_compat.h"
#include "ivntb_layout.h"

/**
 * struct ivntb_geom_win - validated copy of one window table entry
 * @offset:	from the region base.
 * @size:	bytes; 0 for unused entries.
 */
struct ivntb_geom_win {
	u64 offset;
	u64 size;
};

/**
 * struct ivntb_geom - validated copy of the control header
 * @region_size:	bytes of the region.
 * @mw_align:		window alignment.
 * @nonce:		initialisation nonce.
 * @layout_size:	bytes of control + slots + window table.
 * @ver_major:		protocol major version of the initialiser.
 * @ver_minor:		protocol minor version of the initialiser.
 * @nr_ports:		ports in the region.
 * @nr_spads:		scratchpads per port.
 * @nr_msgs:		inbound message registers per port.
 * @nr_mws:		windows per (dst, src) pair.
 * @win:		window table: win[dst][src][w].
 */
struct ivntb_geom {
	u64 region_size;
	u64 mw_align;
	u64 nonce;
	u32 layout_size;
	u16 ver_major;
	u16 ver_minor;
	u32 nr_ports;
	u32 nr_spads;
	u32 nr_msgs;
	u32 nr_mws;
	struct ivntb_geom_win win[IVNTB_MAX_PORTS][IVNTB_MAX_PORTS][IVNTB_MAX_MWS];
};

/**
 * struct ivntb_region - a mapped region and its validated geometry
 * @shm:	base of the mapping (normal cacheable memory: memremap(WB)
 *		in the kernel, mmap(MAP_SHARED) in userspace).
 * @map_size:	bytes of the memory the region lives in (BAR2, the file):
 *		the bound of region_size and of every window.
 * @mapped:	of those, the bytes mapped at @shm: @map_size, unless
 *		ivntb_region_map_limit() said less (the driver maps only the
 *		layout). ivntb_mw_ptr() never points past it.
 * @geom:	validated geometry; all zero unless @valid.
 * @valid:	validation (or initialisation) succeeded.
 * @why:	human-readable reason of the last validation result.
 *
 * Caller-owned (about 4.2 KiB: embed it in a kzalloc'ed private struct, not
 * on the kernel stack). Filled by ivntb_region_validate()/_init().
 */
struct ivntb_region {
	struct ivntb_shm *shm;
	u64 map_size;
	u64 mapped;
	struct ivntb_geom geom;
	bool valid;
	const char *why;
};

/**
 * struct ivntb_port - a port this caller owns
 * @port:	port number.
 * @epoch:	epoch of our claim.
 * @claim:	the claim word we installed (IVNTB_CLAIM(CLAIMED, @epoch)).
 * @hb:		last heartbeat value we stored.
 *
 * Filled by ivntb_port_claim()/_takeover(); caller-owned afterwards.
 */
struct ivntb_port {
	u32 port;
	u32 epoch;
	u64 claim;
	u64 hb;
};

/*
 * Bounds and slot of a port, for the operations below and in ivntb_proto.c.
 * Inline here for the two one-load readers a poller calls at every look
 * (ivntb_event_seq(), ivntb_db_read()): a call per look is most of what a
 * look costs under TCG.
 */
static inline struct ivntb_port_slot *ivntb_slot(const struct ivntb_region *r,
						 u32 port)
{
	return &r->shm->port[port];
}

static inline bool ivntb_port_ok(const struct ivntb_region *r, u32 port)
{
	return port < r->geom.nr_ports;
}

static inline bool ivntb_me_ok(const struct ivntb_region *r,
			       const struct ivntb_port *me)
{
	return me && ivntb_port_ok(r, me->port);
}

/* ivntb_peer_state.state: IVNTB_PORT_FREE, IVNTB_PORT_CLAIMED or this. */
#define IVNTB_PORT_INVALID	0xff

/**
 * struct ivntb_peer_state - consistent snapshot of another port's state
 * @claim:	raw claim word observed (pass it to ivntb_port_takeover()).
 * @heartbeat:	heartbeat counter observed.
 * @db_mask:	the owner's published doorbell mask.
 * @owner_tag:	the owner's tag.
 * @port:	port number.
 * @state:	IVNTB_PORT_FREE, IVNTB_PORT_CLAIMED or IVNTB_PORT_INVALID
 *		(the claim word holds an unknown state or reserved bits).
 * @epoch:	claim epoch.
 * @ver_major:	protocol major version the owner speaks.
 * @ver_minor:	protocol minor version the owner speaks.
 * @link_enabled: claimed, and the owner enabled its link in this epoch.
 * @compatible:	@ver_major equals IVNTB_VERSION_MAJOR.
 * @link_gen:	the owner's link generation toward each port (1.2; zero
 *		from older owners): see struct ivntb_port_slot.
 *
 * @ver_major/@ver_minor are meaningful only when @link_enabled: the owner
 * writes them before it enables the link (release), the snapshot reads
 * the link word first (acquire).
 */
struct ivntb_peer_state {
	u64 claim;
	u64 heartbeat;
	u64 db_mask;
	u64 owner_tag;
	u32 port;
	u32 state;
	u32 epoch;
	u16 ver_major;
	u16 ver_minor;
	bool link_enabled;
	bool compatible;
	u16 link_gen[IVNTB_MAX_PORTS];
};

/*
 * ivntb_init_params.flags (see ivntb_region_init()). Neither is race-safe:
 * both may rewrite a region that another party is about to use.
 *   IVNTB_INIT_FORCE	overwrite anything: foreign, busy, being initialised
 *   IVNTB_INIT_REINIT	also re-initialise an idle ivntb region
 */
#define IVNTB_INIT_FORCE	0x1
#define IVNTB_INIT_REINIT	0x2

/**
 * struct ivntb_init_params - geometry for ivntb_region_init()
 * @region_size:	bytes of the region (<= the mapping).
 * @mw_size:		bytes per window, multiple of @mw_align; 0: the
 *			largest power of two such that all windows fit,
 *			each naturally aligned.
 * @mw_align:		window alignment; 0: IVNTB_MW_MIN_ALIGN.
 * @nonce:		initialisation nonce (e.g. random or a timestamp).
 * @nr_ports:		ports; 0: 2.
 * @nr_spads:		scratchpads per port; 0: IVNTB_MIN_SPADS.
 * @nr_msgs:		message registers per port; 0: IVNTB_MIN_MSGS.
 * @nr_mws:		windows per (dst, src) pair; 0: IVNTB_MIN_MWS.
 * @flags:		IVNTB_INIT_*.
 */
struct ivntb_init_params {
	u64 region_size;
	u64 mw_size;
	u64 mw_align;
	u64 nonce;
	u32 nr_ports;
	u32 nr_spads;
	u32 nr_msgs;
	u32 nr_mws;
	u32 flags;
};

/* Bounded retries of compare-and-exchange loops (see -EAGAIN below). */
#define IVNTB_CAS_RETRIES	4096

/**
 * ivntb_region_init() - write a fresh header into a region
 * @r:		region handle to fill (validated on success).
 * @base:	start of the mapping.
 * @map_size:	bytes mapped.
 * @p:		geometry.
 *
 * Only on an explicit request (host tool, driver parameter). Initialises
 * a blank region (magic 0). Takes initialisation by one compare-and-
 * exchange of the magic word to IVNTB_MAGIC_INIT, so that of any number of
 * parties initialising a blank region at once exactly one writes; clears
 * the layout area (not the windows), keeps port epochs of a previous ivntb
 * region, writes the ready word and then the magic last.
 *
 * A party that loses that race, or finds an ivntb region (or one being
 * initialised), writes nothing: it waits a bounded time (milliseconds)
 * for the initialiser and returns what ivntb_region_validate() returns,
 * 0 with @r describing the region as the other party initialised it
 * (@r->geom.nonce tells: it is not @p->nonce, given distinct nonces), or
 * -EAGAIN if it is still being initialised (validate again later).
 *
 * IVNTB_INIT_REINIT: re-initialise an ivntb region too, unless a port is
 * claimed (-EBUSY). IVNTB_INIT_FORCE: overwrite a region that carries a
 * foreign magic, a claimed port, or a half-done initialisation (a party
 * died while initialising). Neither is race-safe: they must not run while
 * another party uses (or initialises) the region. Without IVNTB_INIT_FORCE
 * a foreign non-zero magic is refused (-ENODEV).
 *
 * Return: 0 (initialised, or validated as above); -ENODEV, -EBUSY as
 * above; -EAGAIN and other errors of ivntb_region_validate() when another
 * party initialised it; -ERANGE bad counts or alignment; -ENOSPC the
 * windows or the layout do not fit.
 */
int ivntb_region_init(struct ivntb_region *r, void *base, u64 map_size,
		      const struct ivntb_init_params *p);

/**
 * ivntb_region_validate() - check a region and keep a copy of its geometry
 * @r:		region handle to fill.
 * @base:	start of the mapping.
 * @map_size:	bytes mapped.
 *
 * Never writes to the region. Copies the control header and the window
 * table into @r, then checks the copy. On failure @r->geom is zeroed and
 * @r->why says why.
 *
 * Return: 0 valid;
 * -ENOSPC mapping smaller than the layout or than region_size;
 * -ENODEV foreign magic (never touch such a region);
 * -ENODATA blank region (magic zero: never initialised);
 * -EAGAIN initialisation in progress (magic IVNTB_MAGIC_INIT, or the ready
 *	word not set, or either changed while the header was copied);
 * -EPROTO incompatible major version or v1 offsets/sizes differ;
 * -ERANGE a count, size or the alignment out of range;
 * -EFAULT a window misaligned or outside the region;
 * -EADDRINUSE a window overlaps another window or the layout area.
 */
int ivntb_region_validate(struct ivntb_region *r, void *base, u64 map_size);

/**
 * ivntb_mw_get() - window table entry from the validated geometry
 * @r:		validated region.
 * @dst:	port whose inbound window it is.
 * @src:	port that writes into it.
 * @w:		window index.
 * @offset:	out: offset from the region base.
 * @size:	out: bytes.
 *
 * Return: 0, or -EINVAL for dst == src or an index out of range.
 */
int ivntb_mw_get(const struct ivntb_region *r, u32 dst, u32 src, u32 w,
		 u64 *offset, u64 *size);

/**
 * ivntb_mw_ptr() - address of a window in the mapping
 * @r:		validated region.
 * @dst:	port whose inbound window it is.
 * @src:	port that writes into it.
 * @w:		window index.
 *
 * Return: pointer into the mapping, or NULL for a bad index.
 */
void *ivntb_mw_ptr(const struct ivntb_region *r, u32 dst, u32 src, u32 w);

/**
 * ivntb_port_claim() - attach: claim a free port
 * @r:		validated region.
 * @port:	port to claim, or negative for the first free port.
 * @tag:	stored in owner_tag for dumps.
 * @me:		out: the claimed port.
 *
 * FREE -> CLAIMED with epoch + 1, by one compare-and-exchange. Then
 * publishes the owner line (version, link disabled, all doorbells masked),
 * discards stale inbound doorbells and messages, and bumps every other
 * port's event counter.
 *
 * Return: 0; -EINVAL port out of range; -EBUSY port (or every port) taken.
 */
int ivntb_port_claim(struct ivntb_region *r, int port, u64 tag,
		     struct ivntb_port *me);

/**
 * ivntb_port_takeover() - claim a port whose owner is believed dead
 * @r:		validated region.
 * @port:	port to take.
 * @observed:	the claim word the caller watched not change (its
 *		heartbeat stopped for longer than the caller's timeout).
 * @tag:	stored in owner_tag.
 * @me:		out: the claimed port.
 *
 * One compare-and-exchange from @observed to CLAIMED with epoch + 1: of
 * several racing takers at most one wins, and none wins if the owner
 * released or re-claimed meanwhile. The old owner learns it lost the port
 * from -ESTALE on its next heartbeat.
 *
 * Return: 0; -EINVAL port out of range; -EAGAIN the claim word is no
 * longer @observed.
 */
int ivntb_port_takeover(struct ivntb_region *r, u32 port, u64 observed,
			u64 tag, struct ivntb_port *me);

/**
 * ivntb_port_release() - detach cleanly
 * @r:		validated region.
 * @me:		our port.
 *
 * Disables the link, then CLAIMED -> FREE keeping the epoch, and bumps
 * every other port's event counter.
 *
 * Return: 0; -EINVAL bad @me; -ESTALE the port was taken over.
 */
int ivntb_port_release(struct ivntb_region *r, const struct ivntb_port *me);

/**
 * ivntb_port_check() - do we still own the port?
 * @r:		validated region.
 * @me:		our port.
 *
 * Return: 0 yes; -ESTALE taken over; -EINVAL bad @me.
 */
int ivntb_port_check(const struct ivntb_region *r,
		     const struct ivntb_port *me);

/**
 * ivntb_heartbeat() - show we are alive
 * @r:		validated region.
 * @me:		our port.
 *
 * Increments the heartbeat counter. Call it periodically (the protocol
 * has no clock; peers judge a port dead when its heartbeat has not
 * changed for their own timeout).
 *
 * Return: 0; -ESTALE the port was taken over; -EINVAL bad @me.
 */
int ivntb_heartbeat(struct ivntb_region *r, struct ivntb_port *me);

/**
 * ivntb_notify() - bump a port's event counter
 * @r:		validated region.
 * @port:	the port to tell.
 *
 * The second half of every change to shared state (Barrier E1): a
 * ..._publish() below, then this, so that a caller can publish under its
 * own lock with interrupts off and notify after it: the bump is a
 * compare-and-exchange loop a hostile party can keep failing for up to
 * IVNTB_CAS_RETRIES rounds.
 *
 * Return: 0; -EINVAL bad @port; -EAGAIN the counter kept changing.
 */
int ivntb_notify(struct ivntb_region *r, u32 port);

/**
 * ivntb_notify_others() - ivntb_notify() every port but ours
 * @r:		validated region.
 * @me:		our port.
 */
void ivntb_notify_others(struct ivntb_region *r, const struct ivntb_port *me);

/**
 * ivntb_link_publish() - ivntb_link_set() without the notification
 * @r:		validated region.
 * @me:		our port.
 * @enable:	new state.
 *
 * The caller then calls ivntb_notify_others().
 *
 * Return: as ivntb_link_set().
 */
int ivntb_link_publish(struct ivntb_region *r, const struct ivntb_port *me,
		       bool enable);

/**
 * ivntb_link_set() - enable or disable our side of the link
 * @r:		validated region.
 * @me:		our port.
 * @enable:	new state.
 *
 * Replaces the link word (with our epoch) by a fully ordered
 * compare-and-exchange, only while our claim word is still installed,
 * then bumps every other port's event counter.
 *
 * Return: 0; -ESTALE; -EINVAL bad @me.
 */
int ivntb_link_set(struct ivntb_region *r, const struct ivntb_port *me,
		   bool enable);

/**
 * ivntb_link_gen_bump() - tell a peer we took our link to it down (1.2)
 * @r:		validated region.
 * @me:		our port.
 * @port:	the peer's port.
 *
 * Increments our link_gen[@port] and bumps @port's event counter. Call it
 * when our link to @port goes down for a reason @port may not see in our
 * slot: its heartbeat timed out, we disabled our link, the header
 * changed. Not when the reason is in @port's own slot (its link
 * disabled, a new epoch, its link_gen changed): @port knows, and a bump
 * would make it flap again.
 *
 * Return: 0; -ESTALE taken over; -EINVAL bad @me or @port.
 */
int ivntb_link_gen_bump(struct ivntb_region *r, const struct ivntb_port *me,
			u32 port);

/**
 * ivntb_link_gen_publish() - ivntb_link_gen_bump() without the notification
 * @r:		validated region.
 * @me:		our port.
 * @port:	the peer's port.
 * @step:	if not NULL, set on success to how far the generation moved:
 *		1, or 2 when it skipped the value @port acks now.
 *
 * The caller then calls ivntb_notify(@port). Only the owner writes its
 * link_gen[]: concurrent callers on our side must serialise this. The
 * step is from the one read of our word that the increment used, not
 * from a second read that a peer writing into our slot could move.
 *
 * Return: as ivntb_link_gen_bump().
 */
int ivntb_link_gen_publish(struct ivntb_region *r,
			   const struct ivntb_port *me, u32 port, u16 *step);

/**
 * ivntb_link_gen_get() - our link generation toward a port
 * @r:		validated region.
 * @me:		our port.
 * @port:	the peer's port.
 * @gen:	out: our link_gen[@port].
 *
 * Return: 0; -EINVAL bad @me or @port.
 */
int ivntb_link_gen_get(const struct ivntb_region *r,
		       const struct ivntb_port *me, u32 port, u16 *gen);

/**
 * ivntb_link_ack_publish() - acknowledge a peer's link generation (1.4)
 * @r:		validated region.
 * @me:		our port.
 * @port:	the peer's port.
 * @gen:	its link_gen[our port] that we took our link down for.
 * @wipe:	@gen is a generation @port announced (not a first sight of
 *		its epoch): zero its scratchpads first.
 *
 * Call it once our link to @port is down, our clients were told, and
 * every write we began into @port's slot before that has landed (the
 * driver waits for an RCU grace period over its ops). With @wipe, in a
 * two-port region, it first zeroes @port's scratchpads: what we wrote
 * there under the old link must not be read as the new link's (with more
 * ports, other peers write the same words: they are left alone). Then
 * stores the ack (release) in our wake line and bumps @port's event
 * counter (best effort: a counter a hostile port keeps moving is given up
 * on, as by ivntb_notify(); the ack is stored all the same).
 *
 * Return: 0; -ESTALE taken over; -EINVAL bad @me or @port.
 */
int ivntb_link_ack_publish(struct ivntb_region *r, const struct ivntb_port *me,
			   u32 port, u16 gen, bool wipe);

/**
 * ivntb_link_ack_get() - which of our link generations a port acknowledged
 * @r:		validated region.
 * @port:	the port whose wake line to read.
 * @of:		our port.
 * @gen:	out: @port's link_ack[@of] (acquire: what it wrote before
 *		the ack is visible after this call).
 *
 * Return: 0; -ENODATA @port's owner is older than 1.4 (it never acks);
 * -EINVAL a port out of range.
 */
int ivntb_link_ack_get(const struct ivntb_region *r, u32 port, u32 of,
		       u16 *gen);

/**
 * ivntb_region_intact() - is the live header still the one we validated?
 * @r:		validated region.
 *
 * Compares the control header in shared memory (magic, versions, ready,
 * sizes, offsets, counts, alignment, nonce) with the validated copy. A
 * party that finds it changed (a hostile or broken writer, or a
 * re-initialisation) should keep its links down until it is intact
 * again; it keeps using its own copy of the geometry, never the live one.
 *
 * Return: true if every field matches.
 */
bool ivntb_region_intact(const struct ivntb_region *r);

/* ivshmem-doorbell peer IDs are 16 bits: irq_id is 1 + that ID. */
#define IVNTB_IRQ_ID_MAX	0x10000

/**
 * ivntb_irq_id_set() - publish how to interrupt us (protocol 1.1)
 * @r:		validated region.
 * @me:		our port.
 * @irq_id:	0 (we poll) or 1 + our ivshmem-doorbell peer ID.
 *
 * Return: 0; -ESTALE; -EINVAL bad @me.
 */
int ivntb_irq_id_set(struct ivntb_region *r, const struct ivntb_port *me,
		     u32 irq_id);

/**
 * ivntb_irq_id_get() - how to interrupt the owner of @port
 * @r:		validated region.
 * @port:	the port.
 * @irq_id:	out: 0 (it polls) or 1 + its ivshmem-doorbell peer ID.
 *
 * Return: 0; -EINVAL port out of range; -ERANGE a value no doorbell
 * device has (written by a broken or hostile party).
 */
int ivntb_irq_id_get(const struct ivntb_region *r, u32 port, u32 *irq_id);

/**
 * ivntb_region_map_limit() - only part of the region's memory is mapped
 * @r:		validated region.
 * @mapped:	bytes mapped at r->shm (at least the layout).
 *
 * The protocol itself touches only the layout; this bounds the pointers
 * ivntb_mw_ptr() hands out, so that a caller that mapped less than the
 * memory it validated against gets NULL, not a pointer past its mapping.
 */
void ivntb_region_map_limit(struct ivntb_region *r, u64 mapped);

/**
 * ivntb_wake_arm() - ask to be rung before sleeping (protocol 1.3)
 * @r:		validated region.
 * @me:		our port.
 * @seq:	out: our event counter, read after the store.
 *
 * Stores IVNTB_WAKE_ARMED in our wake line, then (full barrier, W1) reads
 * our event counter. Sleep only if it equals the value the last complete
 * pass started from: a sender whose increment this load missed sees the
 * armed word (W2) and rings.
 *
 * Return: 0; -ESTALE the port is no longer ours (nothing written: do not
 * sleep on it); -EINVAL bad @me.
 */
int ivntb_wake_arm(struct ivntb_region *r, const struct ivntb_port *me,
		   u64 *seq);

/**
 * ivntb_wake_disarm() - we poll again: senders need not ring
 * @r:		validated region.
 * @me:		our port.
 *
 * Clears our wake word if set and the port is still ours.
 */
void ivntb_wake_disarm(struct ivntb_region *r, const struct ivntb_port *me);

/**
 * ivntb_wake_caps_set() - publish what we do for sleeping peers
 * @r:		validated region.
 * @me:		our port.
 * @caps:	IVNTB_CAP_RINGS or 0.
 *
 * Return: 0; -ESTALE; -EINVAL bad @me.
 */
int ivntb_wake_caps_set(struct ivntb_region *r, const struct ivntb_port *me,
			u32 caps);

/**
 * ivntb_wake_wanted() - after publishing an event: ring its owner?
 * @r:		validated region.
 * @port:	the port the event was published for.
 *
 * Call after the event's counter increment (E1); a full barrier (W2)
 * orders that increment before the load of the owner's wake word.
 * Whether the owner can be rung at all is ivntb_irq_id_get()'s question.
 *
 * Return: true if the owner's wake word is armed, or the owner speaks
 * 1.2 or older (it expects a ring after every event); false otherwise
 * or for a port out of range.
 */
bool ivntb_wake_wanted(const struct ivntb_region *r, u32 port);

/**
 * ivntb_peer_rings() - will @port's owner ring us when we sleep armed?
 * @r:		validated region.
 * @port:	the peer's port.
 *
 * Return: true if the owner speaks 1.3 or later and published
 * IVNTB_CAP_RINGS. An untrusted promise: a peer that breaks it delays
 * its own events until our next periodic pass.
 */
bool ivntb_peer_rings(const struct ivntb_region *r, u32 port);

/* Bound of a published heartbeat period (ivntb_wake_line.hb_ms). */
#define IVNTB_HB_MS_MAX		10000

/**
 * ivntb_wake_ids_set() - publish our doorbell peer ID and heartbeat period
 * @r:		validated region.
 * @me:		our port.
 * @dev_id:	1 + our ivshmem-doorbell peer ID, or 0.
 * @hb_ms:	our heartbeat period in ms.
 *
 * Return: 0; -ESTALE; -EINVAL bad @me.
 */
int ivntb_wake_ids_set(struct ivntb_region *r, const struct ivntb_port *me,
		       u32 dev_id, u32 hb_ms);

/**
 * ivntb_peer_hb_ms() - the heartbeat period @port's owner published
 * @r:		validated region.
 * @port:	the peer's port.
 *
 * Return: the period in ms, at most IVNTB_HB_MS_MAX; 0 if the owner
 * speaks 1.2 or older or published none (the 1.2 default applies).
 */
u32 ivntb_peer_hb_ms(const struct ivntb_region *r, u32 port);

/**
 * ivntb_sup_set() - a supervisor starts or stops watching the region
 * @r:		validated region.
 * @present:	true: store IVNTB_SUP_MAGIC; false: 0.
 */
void ivntb_sup_set(struct ivntb_region *r, bool present);

/**
 * ivntb_sup_present() - does a supervisor watch the region?
 * @r:		validated region.
 *
 * Return: true if the supervisor line holds IVNTB_SUP_MAGIC.
 */
bool ivntb_sup_present(const struct ivntb_region *r);

/**
 * ivntb_sup_mark_gone() - a supervisor saw a doorbell peer die
 * @r:		validated region.
 * @dev_id:	1 + the dead peer's ivshmem-doorbell ID.
 *
 * Marks every claimed 1.3 port whose owner published @dev_id as gone with
 * its current claim epoch, then increments every other port's event
 * counter (E1). The caller rings the survivors.
 *
 * Return: the number of ports marked.
 */
int ivntb_sup_mark_gone(struct ivntb_region *r, u32 dev_id);

/**
 * ivntb_peer_gone() - did the supervisor see @port's owner of @epoch die?
 * @r:		validated region.
 * @port:	the peer's port.
 * @epoch:	the claim epoch we know it by.
 *
 * Return: true if the supervisor marked that owner gone.
 */
bool ivntb_peer_gone(const struct ivntb_region *r, u32 port, u32 epoch);

/**
 * ivntb_peer_snapshot() - copy and decode another port's state
 * @r:		validated region.
 * @port:	port to look at (may be our own).
 * @s:		out: the snapshot.
 *
 * Reads the claim word before and after the other fields and retries a
 * few times until both agree, so the fields belong to one claim epoch.
 *
 * @s is always filled: on -EINVAL it reads as an invalid, unlinked port.
 *
 * Return: 0; -EINVAL port out of range; -EAGAIN the port kept changing
 * (@s holds the last attempt); -EBADMSG the claim word is malformed
 * (@s->state is IVNTB_PORT_INVALID, @s->claim the raw word).
 */
int ivntb_peer_snapshot(const struct ivntb_region *r, u32 port,
			struct ivntb_peer_state *s);

/**
 * ivntb_peer_link_ok() - may a link to this peer be up?
 * @s:		snapshot of the peer.
 *
 * Return: true if the peer is claimed, enabled its link in its current
 * epoch and speaks a compatible major version. The caller adds its own
 * checks: its own link enabled, the peer's heartbeat alive, and treats a
 * change of @s->epoch as a peer restart (link down, then up again).
 */
bool ivntb_peer_link_ok(const struct ivntb_peer_state *s);

/**
 * ivntb_db_ring() - ring doorbell bits of a port (peer_db_set)
 * @r:		validated region.
 * @dst:	target port.
 * @bits:	bits to set.
 *
 * All stores the caller made before this call are visible to a receiver
 * that sees any of @bits set (or the event counter change). Sets the bits
 * with a fully ordered atomic OR, then bumps @dst's event counter.
 *
 * Return: 0; -EINVAL @dst out of range; -EAGAIN the doorbell or counter
 * word changed IVNTB_CAS_RETRIES times during the call (a hostile peer).
 */
int ivntb_db_ring(struct ivntb_region *r, u32 dst, u64 bits);

/**
 * ivntb_db_read() - our pending doorbell bits (db_read)
 * @r:		validated region.
 * @me:		our port.
 *
 * Load-acquire: the senders' stores before ringing a returned bit are
 * visible after this call.
 *
 * Return: the bits, 0 for a bad @me.
 */
static inline u64 ivntb_db_read(const struct ivntb_region *r,
				const struct ivntb_port *me)
{
	if (!ivntb_me_ok(r, me))
		return 0;
	/* Barrier D2 (for pairing with D1): bits before the data. */
	return smp_load_acquire(&ivntb_slot(r, me->port)->db);
}

/**
 * ivntb_db_clear() - clear our doorbell bits (db_clear)
 * @r:		validated region.
 * @me:		our port.
 * @bits:	bits to clear.
 *
 * Return: 0; -EINVAL bad @me; -EAGAIN (see ivntb_db_ring()).
 */
int ivntb_db_clear(struct ivntb_region *r, const struct ivntb_port *me,
		   u64 bits);

/**
 * ivntb_db_take() - atomically fetch and clear our doorbell bits
 * @r:		validated region.
 * @me:		our port.
 * @bits:	which bits to take.
 *
 * Return: the bits of @bits that were set and are now clear (0 for a bad
 * @me or after IVNTB_CAS_RETRIES failed attempts).
 */
u64 ivntb_db_take(struct ivntb_region *r, const struct ivntb_port *me,
		  u64 bits);

/**
 * ivntb_db_mask_store() - publish our doorbell mask (informational)
 * @r:		validated region.
 * @me:		our port.
 * @mask:	mask bits.
 */
void ivntb_db_mask_store(struct ivntb_region *r, const struct ivntb_port *me,
			 u64 mask);

/**
 * ivntb_event_seq() - our event counter
 * @r:		validated region.
 * @me:		our port.
 *
 * One load (acquire). A poller keeps the last value it saw and looks at
 * doorbells, messages and peer states only when the value changed; it
 * must read the counter before it looks (and clears), so an event that
 * arrives meanwhile changes the counter again.
 *
 * Return: the counter, 0 for a bad @me.
 */
static inline u64 ivntb_event_seq(const struct ivntb_region *r,
				  const struct ivntb_port *me)
{
	if (!ivntb_me_ok(r, me))
		return 0;
	/* Barrier E2 (for pairing with E1): counter before the events. */
	return smp_load_acquire(&ivntb_slot(r, me->port)->seq);
}

/**
 * ivntb_spad_read() - read a scratchpad (spad_read / peer_spad_read)
 * @r:		validated region.
 * @port:	whose scratchpad.
 * @idx:	scratchpad index.
 * @val:	out: value.
 *
 * Load-acquire (pairs with ivntb_spad_write()): like MMIO, scratchpad
 * writes of one writer are seen in order.
 *
 * Return: 0; -EINVAL index out of range.
 */
int ivntb_spad_read(const struct ivntb_region *r, u32 port, u32 idx,
		    u32 *val);

/**
 * ivntb_spad_write() - write a scratchpad (spad_write / peer_spad_write)
 * @r:		validated region.
 * @port:	whose scratchpad (own: spad_write; peer: peer_spad_write).
 * @idx:	scratchpad index.
 * @val:	value.
 *
 * Store-release.
 *
 * Return: 0; -EINVAL index out of range.
 */
int ivntb_spad_write(struct ivntb_region *r, u32 port, u32 idx, u32 val);

/**
 * ivntb_msg_send() - write a message register of a port (peer_msg_write)
 * @r:		validated region.
 * @me:		our port (recorded as the source).
 * @dst:	target port.
 * @midx:	message register index.
 * @data:	message.
 *
 * FREE -> WRITING(me), store data, WRITING -> FULL, bump @dst's event
 * counter. A message is never overwritten before the owner acknowledged
 * it, and the caller's earlier stores are visible to the owner once it
 * sees the register FULL.
 *
 * Return: 0; -EINVAL bad index or @me; -EBUSY register not free (unread
 * message or another sender); -EAGAIN the register was reset underneath
 * (the target re-attached): the message was not delivered.
 */
int ivntb_msg_send(struct ivntb_region *r, const struct ivntb_port *me,
		   u32 dst, u32 midx, u32 data);

/**
 * ivntb_msg_status() - which of our inbound registers hold a message
 * @r:		validated region.
 * @me:		our port.
 *
 * Return: bitmap, bit i set when register i is FULL (msg_read_sts).
 */
u64 ivntb_msg_status(const struct ivntb_region *r, const struct ivntb_port *me);

/**
 * ivntb_msg_read() - read one of our inbound messages (msg_read)
 * @r:		validated region.
 * @me:		our port.
 * @midx:	register index.
 * @data:	out: message.
 * @src:	out: source port (< nr_ports).
 *
 * Does not free the register: ivntb_msg_ack() does.
 *
 * Return: 0; -EINVAL bad index; -ENOMSG register not FULL; -EBADMSG the
 * recorded source port is out of range (a malformed register).
 */
int ivntb_msg_read(const struct ivntb_region *r, const struct ivntb_port *me,
		   u32 midx, u32 *data, u32 *src);

/**
 * ivntb_msg_ack() - free one of our inbound registers (msg_clear_sts)
 * @r:		validated region.
 * @me:		our port.
 * @midx:	register index.
 *
 * FULL -> FREE, then bumps the sender's event counter so a sender
 * waiting for the register sees it free.
 *
 * Return: 0; -EINVAL bad index; -ENOMSG register not FULL; -EAGAIN it
 * changed underneath.
 */
int ivntb_msg_ack(struct ivntb_region *r, const struct ivntb_port *me,
		  u32 midx);

/**
 * ivntb_msg_free() - ivntb_msg_ack() without the notification
 * @r:		validated region.
 * @me:		our port.
 * @midx:	register index.
 * @src:	where to store the sender recorded in the register (not
 *		validated: check it with the geometry before notifying it).
 *
 * The caller then calls ivntb_notify(*@src) if it wants the sender to
 * see the register free at once.
 *
 * Return: as ivntb_msg_ack().
 */
int ivntb_msg_free(struct ivntb_region *r, const struct ivntb_port *me,
		   u32 midx, u32 *src);

/**
 * ivntb_msg_void() - free a message a previous instance of a port sent
 * @r:		validated region.
 * @me:		our port.
 * @midx:	register index.
 * @from:	the sender's port.
 * @keep_epoch:	its current claim epoch: a message it sent is kept.
 *
 * FULL from @from with an epoch other than @keep_epoch -> FREE, without
 * the notification (as ivntb_msg_free()): what an instance that ended
 * sent is void once the port has a new one, which must neither read it as
 * its own nor find the register full.
 *
 * Return: 0 freed; -EINVAL bad index; -ENOMSG not FULL, not from @from,
 * or from @keep_epoch; -EAGAIN it changed underneath.
 */
int ivntb_msg_void(struct ivntb_region *r, const struct ivntb_port *me,
		   u32 midx, u32 from, u32 keep_epoch);

/**
 * ivntb_msg_reap() - free registers stuck in WRITING by a dead sender
 * @r:		validated region.
 * @me:		our port.
 *
 * A register WRITING(src, epoch) whose source port no longer holds that
 * claim epoch (crashed, released or taken over) is freed.
 *
 * Return: number of registers freed, or -EINVAL bad @me.
 */
int ivntb_msg_reap(struct ivntb_region *r, const struct ivntb_port *me);

#endif /* _IVNTB_PROTO_H */
