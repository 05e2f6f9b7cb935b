// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * The ivshmem-ntb shared-memory protocol, written once
 *
 * Compiles unchanged in a kernel module and in userspace; ivntb_compat.h
 * maps the primitives. The layout is include/ivntb_layout.h, the prose
 * specification docs/protocol.md.
 *
 * Barriers and their pairs (the letters are used in docs/protocol.md):
 *
 *   D1 ivntb_db_ring(): fully ordered OR of the doorbell bits, after the
 *      sender's data stores.              Pairs with D2.
 *   D2 ivntb_db_read()/_take()/_clear(): acquire (or fully ordered RMW)
 *      of the doorbell word, before the receiver reads the data.
 *   E1 ivntb_event_bump(): fully ordered increment of the event counter,
 *      after the event was published.     Pairs with E2.
 *   E2 ivntb_event_seq(): load-acquire of the event counter, before the
 *      poller looks at doorbells, messages and peer states.
 *   M1 ivntb_msg_send(): FREE -> WRITING, fully ordered, before the data
 *      store.                             Pairs with M4.
 *   M2 ivntb_msg_send(): WRITING -> FULL, fully ordered, after the data
 *      store (and the sender's earlier stores). Pairs with M3.
 *   M3 ivntb_msg_read(): load-acquire of the state, before the data load.
 *   M4 ivntb_msg_ack(): FULL -> FREE, fully ordered, after the owner's
 *      data load, so the next sender's data store cannot be seen by it.
 *   S1 ivntb_spad_write(): store-release.  Pairs with S2.
 *   S2 ivntb_spad_read(): load-acquire.
 *   L1 ivntb_link_store(): fully ordered cmpxchg of the link word, after
 *      the owner line (version, tag).     Pairs with L2.
 *   L2 ivntb_peer_snapshot(): load-acquire of the link word, before the
 *      version fields.
 *   C1 ivntb_claim_word(): fully ordered claim compare-and-exchange,
 *      before the owner line is rewritten. Pairs with C2.
 *   C2 ivntb_peer_snapshot(): read barrier before the claim word is read
 *      again, after the other fields.
 *   C3 ivntb_link_store(): read barrier between the link word and the
 *      claim word (the owner's check that it still owns the port).
 *      Pairs with C1.
 *   I1 ivntb_region_init(): store-release of the ready word, after the
 *      whole header.                      Pairs with I2.
 *   I2 ivntb_region_validate(): load-acquire of the ready word, before
 *      the header is copied.
 *   I3 ivntb_region_init(): fully ordered compare-and-exchange of the
 *      magic word to IVNTB_MAGIC_INIT (taking initialisation), before
 *      every other store of the initialiser. Pairs with I6.
 *   I4 ivntb_region_init(): store-release of IVNTB_MAGIC, the
 *      initialiser's last store, after the header and the ready word.
 *                                         Pairs with I5.
 *   I5 ivntb_region_validate(): load-acquire of the magic word, before
 *      the ready word and the header copy.
 *   I6 ivntb_region_validate(): read barrier after the header copy,
 *      before the ready and magic words are read again.
 *   W1 ivntb_wake_arm(): full barrier between the store of the armed
 *      wake word and the load of the owner's event counter. Pairs with W2.
 *   W2 ivntb_wake_wanted(): full barrier between the sender's increment
 *      of the event counter (E1) and its load of the wake word. Pairs
 *      with W1: either the owner sees the new count and does not sleep,
 *      or the sender sees it armed and rings (Dekker).
 */

#include "ivntb_compat.h"
#include "ivntb_layout.h"
#include "ivntb_proto.h"

#define IVNTB_SNAPSHOT_TRIES	4
/*
 * Polls of the magic word by a party that lost the race to initialise,
 * before it validates (a few milliseconds; an initialiser needs
 * microseconds unless it is descheduled).
 */
#define IVNTB_INIT_WAIT_POLLS	131072	/* 2^17 */
/* Keeps region arithmetic far from overflow: 256 TiB. */
#define IVNTB_MAX_REGION_SIZE	BIT_ULL(48)

/* The layout is an ABI: pin every offset (include/ivntb_layout.h). */
static void ivntb_layout_check(void)
{
	BUILD_BUG_ON(sizeof(struct ivntb_ctrl) != 0x100);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, version_major) != 0x08);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, version_minor) != 0x0a);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, ready) != 0x0c);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, region_size) != 0x10);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, layout_size) != 0x18);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, ports_offset) != 0x1c);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, port_slot_size) != 0x20);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, wintab_offset) != 0x24);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, nr_ports) != 0x28);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, nr_spads) != 0x2a);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, nr_msgs) != 0x2c);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, nr_mws) != 0x2e);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, mw_align) != 0x30);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, nonce) != 0x38);
	BUILD_BUG_ON(offsetof(struct ivntb_ctrl, reserved) != 0x40);

	BUILD_BUG_ON(sizeof(struct ivntb_port_slot) != IVNTB_PORT_SLOT_SIZE);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, claim) != 0x000);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, heartbeat) != 0x008);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, link) != 0x010);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, db_mask) != 0x018);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, ver_major) != 0x020);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, ver_minor) != 0x022);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, irq_id) != 0x024);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, owner_tag) != 0x028);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, link_gen) != 0x030);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, db) != 0x040);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, seq) != 0x048);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, spad) != 0x080);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, msg) != 0x180);
	/* Owner line, doorbell line, spads and messages on separate lines. */
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, db) % IVNTB_CACHELINE);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, spad) % IVNTB_CACHELINE);
	BUILD_BUG_ON(offsetof(struct ivntb_port_slot, msg) % IVNTB_CACHELINE);
	BUILD_BUG_ON(sizeof(struct ivntb_msg_reg) != 16);
	BUILD_BUG_ON(offsetof(struct ivntb_msg_reg, data) != 8);

	BUILD_BUG_ON(sizeof(struct ivntb_wake_line) != IVNTB_CACHELINE);
	BUILD_BUG_ON(offsetof(struct ivntb_wake_line, wake) != 0x00);
	BUILD_BUG_ON(offsetof(struct ivntb_wake_line, caps) != 0x04);
	BUILD_BUG_ON(offsetof(struct ivntb_wake_line, dev_id) != 0x08);
	BUILD_BUG_ON(offsetof(struct ivntb_wake_line, hb_ms) != 0x0c);
	BUILD_BUG_ON(offsetof(struct ivntb_wake_line, link_ack) != 0x10);
	BUILD_BUG_ON(offsetof(struct ivntb_wake_line, rsvd) != 0x20);
	BUILD_BUG_ON(offsetof(struct ivntb_shm, wake) != 0x100);
	BUILD_BUG_ON(sizeof(struct ivntb_sup_line) != IVNTB_CACHELINE);
	BUILD_BUG_ON(offsetof(struct ivntb_sup_line, gone) != 0x08);
	BUILD_BUG_ON(offsetof(struct ivntb_shm, sup) != 0x300);
	BUILD_BUG_ON(offsetof(struct ivntb_shm, rsvd) != 0x340);

	BUILD_BUG_ON(sizeof(struct ivntb_win) != 16);
	BUILD_BUG_ON(offsetof(struct ivntb_shm, port) != IVNTB_PORTS_OFFSET);
	BUILD_BUG_ON(offsetof(struct ivntb_shm, wintab) != IVNTB_WINTAB_OFFSET);
	BUILD_BUG_ON(sizeof(struct ivntb_shm) != IVNTB_LAYOUT_SIZE);
	BUILD_BUG_ON(IVNTB_MAX_MSGS > 64 || IVNTB_MAX_PORTS > 255);
}

static bool ivntb_is_pow2(u64 x)
{
	return x && !(x & (x - 1));
}

static u64 ivntb_align_up(u64 x, u64 a)
{
	return (x + a - 1) & ~(a - 1);
}

/*
 * Atomic OR/AND/ADD on plain u64 words, by compare-and-exchange so that
 * the ABI needs no atomic64_t. Each returns 0 or -EAGAIN after
 * IVNTB_CAS_RETRIES failures (the word kept changing: only a hostile
 * party can cause that; a bounded loop keeps IRQ context bounded).
 * On success the operation is fully ordered (the successful cmpxchg64).
 */
static int ivntb_fetch_or(u64 *p, u64 bits, u64 *oldp)
{
	u64 old = 0, cur;	/* guess: doorbell words are usually clear */
	int i;

	for (i = 0; i < IVNTB_CAS_RETRIES; i++) {
		cur = cmpxchg64(p, old, old | bits);
		if (cur == old) {
			*oldp = old;
			return 0;
		}
		old = cur;
	}
	return -EAGAIN;
}

static int ivntb_fetch_and(u64 *p, u64 mask, u64 *oldp)
{
	u64 old = READ_ONCE(*p), cur;
	int i;

	for (i = 0; i < IVNTB_CAS_RETRIES; i++) {
		cur = cmpxchg64(p, old, old & mask);
		if (cur == old) {
			*oldp = old;
			return 0;
		}
		old = cur;
	}
	return -EAGAIN;
}

static int ivntb_fetch_inc(u64 *p)
{
	u64 old = READ_ONCE(*p), cur;
	int i;

	for (i = 0; i < IVNTB_CAS_RETRIES; i++) {
		cur = cmpxchg64(p, old, old + 1);
		if (cur == old)
			return 0;
		old = cur;
	}
	return -EAGAIN;
}

/*
 * Tell @port that something happened. Barrier E1 (for pairing with E2 in
 * ivntb_event_seq()): the fully ordered increment comes after the store
 * that published the event.
 */
static int ivntb_event_bump(struct ivntb_region *r, u32 port)
{
	return ivntb_fetch_inc(&ivntb_slot(r, port)->seq);
}

static void ivntb_event_bump_others(struct ivntb_region *r, u32 me)
{
	u32 p;

	for (p = 0; p < r->geom.nr_ports; p++)
		if (p != me)
			ivntb_event_bump(r, p);
}

int ivntb_notify(struct ivntb_region *r, u32 port)
{
	if (!ivntb_port_ok(r, port))
		return -EINVAL;
	return ivntb_event_bump(r, port);
}

void ivntb_notify_others(struct ivntb_region *r, const struct ivntb_port *me)
{
	if (ivntb_me_ok(r, me))
		ivntb_event_bump_others(r, me->port);
}

/* ---------------------------------------------------------------------
 * Region: init and validate
 */

static void ivntb_geom_clear(struct ivntb_region *r)
{
	memset(&r->geom, 0, sizeof(r->geom));
	r->valid = false;
}

static bool ivntb_win_used(const struct ivntb_geom *g, u32 dst, u32 src,
			   u32 w)
{
	return dst < g->nr_ports && src < g->nr_ports && dst != src &&
	       w < g->nr_mws;
}

static int ivntb_fail(struct ivntb_region *r, int err, const char *why)
{
	ivntb_geom_clear(r);
	r->why = why;
	return err;
}

/* Checks on the local copy: nothing here reads shared memory. */
static int ivntb_check_windows(struct ivntb_region *r)
{
	const struct ivntb_geom *g = &r->geom;
	const struct ivntb_geom_win *flat = &g->win[0][0][0];
	const u32 n = IVNTB_MAX_PORTS * IVNTB_MAX_PORTS * IVNTB_MAX_MWS;
	u64 first = ivntb_align_up(g->layout_size, g->mw_align);
	u32 dst, src, w, i, j;

	for (dst = 0; dst < g->nr_ports; dst++) {
		for (src = 0; src < g->nr_ports; src++) {
			for (w = 0; w < g->nr_mws; w++) {
				const struct ivntb_geom_win *e;

				if (!ivntb_win_used(g, dst, src, w))
					continue;
				e = &g->win[dst][src][w];
				if (!e->size || (e->size & (g->mw_align - 1)) ||
				    (e->offset & (g->mw_align - 1)))
					return ivntb_fail(r, -EFAULT,
							  "window misaligned or empty");
				if (e->offset > g->region_size ||
				    e->size > g->region_size - e->offset)
					return ivntb_fail(r, -EFAULT,
							  "window outside the region");
				if (e->offset < first)
					return ivntb_fail(r, -EADDRINUSE,
							  "window overlaps the layout area");
			}
		}
	}

	/* Unused entries were left zero by the copy, used ones are > 0. */
	for (i = 0; i < n; i++) {
		if (!flat[i].size)
			continue;
		for (j = i + 1; j < n; j++) {
			if (!flat[j].size)
				continue;
			if (flat[i].offset < flat[j].offset + flat[j].size &&
			    flat[j].offset < flat[i].offset + flat[i].size)
				return ivntb_fail(r, -EADDRINUSE,
						  "windows overlap");
		}
	}
	return 0;
}

int ivntb_region_validate(struct ivntb_region *r, void *base, u64 map_size)
{
	struct ivntb_shm *shm = base;
	struct ivntb_ctrl c;
	struct ivntb_geom *g = &r->geom;
	u32 ready, ready2, dst, src, w;
	u64 magic2;
	int err;

	ivntb_layout_check();
	r->shm = shm;
	r->map_size = map_size;
	r->mapped = map_size;
	ivntb_geom_clear(r);

	if (map_size < sizeof(struct ivntb_ctrl))
		return ivntb_fail(r, -ENOSPC, "mapping smaller than the header");

	/*
	 * Barrier I5 (for pairing with I4 in ivntb_region_init()): the magic
	 * before the rest. IVNTB_MAGIC is the initialiser's last store: seen
	 * here, the whole header (ready included) is seen below.
	 */
	c.magic = smp_load_acquire(&shm->ctrl.magic);
	/* Barrier I2 (for pairing with I1): ready before the header copy. */
	ready = smp_load_acquire(&shm->ctrl.ready);

	/* Copy once; everything below looks only at the copy. */
	c.version_major = READ_ONCE(shm->ctrl.version_major);
	c.version_minor = READ_ONCE(shm->ctrl.version_minor);
	c.region_size = READ_ONCE(shm->ctrl.region_size);
	c.layout_size = READ_ONCE(shm->ctrl.layout_size);
	c.ports_offset = READ_ONCE(shm->ctrl.ports_offset);
	c.port_slot_size = READ_ONCE(shm->ctrl.port_slot_size);
	c.wintab_offset = READ_ONCE(shm->ctrl.wintab_offset);
	c.nr_ports = READ_ONCE(shm->ctrl.nr_ports);
	c.nr_spads = READ_ONCE(shm->ctrl.nr_spads);
	c.nr_msgs = READ_ONCE(shm->ctrl.nr_msgs);
	c.nr_mws = READ_ONCE(shm->ctrl.nr_mws);
	c.mw_align = READ_ONCE(shm->ctrl.mw_align);
	c.nonce = READ_ONCE(shm->ctrl.nonce);

	if (c.magic != IVNTB_MAGIC) {
		if (!c.magic)
			return ivntb_fail(r, -ENODATA,
					  "blank region (no magic)");
		if (c.magic == IVNTB_MAGIC_INIT)
			return ivntb_fail(r, -EAGAIN,
					  "being initialised (magic not yet written)");
		return ivntb_fail(r, -ENODEV, "foreign magic: not an ivntb region");
	}
	if (map_size < IVNTB_LAYOUT_SIZE)
		return ivntb_fail(r, -ENOSPC, "mapping smaller than the layout");
	if (ready != IVNTB_READY)
		return ivntb_fail(r, -EAGAIN, "header not initialised (ready unset)");
	if (c.version_major != IVNTB_VERSION_MAJOR)
		return ivntb_fail(r, -EPROTO, "incompatible major version");
	if (c.ports_offset != IVNTB_PORTS_OFFSET ||
	    c.port_slot_size != IVNTB_PORT_SLOT_SIZE ||
	    c.wintab_offset != IVNTB_WINTAB_OFFSET)
		return ivntb_fail(r, -EPROTO, "v1 layout offsets differ");
	if (c.layout_size < IVNTB_LAYOUT_SIZE ||
	    c.layout_size % IVNTB_CACHELINE)
		return ivntb_fail(r, -ERANGE, "layout_size out of range");
	if (c.region_size > IVNTB_MAX_REGION_SIZE ||
	    c.region_size < c.layout_size)
		return ivntb_fail(r, -ERANGE, "region_size out of range");
	if (c.region_size > map_size)
		return ivntb_fail(r, -ENOSPC, "region larger than the mapping");
	if (c.nr_ports < IVNTB_MIN_PORTS || c.nr_ports > IVNTB_MAX_PORTS)
		return ivntb_fail(r, -ERANGE, "nr_ports out of range");
	if (c.nr_spads < IVNTB_MIN_SPADS || c.nr_spads > IVNTB_MAX_SPADS)
		return ivntb_fail(r, -ERANGE, "nr_spads out of range");
	if (c.nr_msgs < IVNTB_MIN_MSGS || c.nr_msgs > IVNTB_MAX_MSGS)
		return ivntb_fail(r, -ERANGE, "nr_msgs out of range");
	if (c.nr_mws < IVNTB_MIN_MWS || c.nr_mws > IVNTB_MAX_MWS)
		return ivntb_fail(r, -ERANGE, "nr_mws out of range");
	if (!ivntb_is_pow2(c.mw_align) || c.mw_align < IVNTB_MW_MIN_ALIGN ||
	    c.mw_align > c.region_size)
		return ivntb_fail(r, -ERANGE, "mw_align out of range");

	g->region_size = c.region_size;
	g->mw_align = c.mw_align;
	g->nonce = c.nonce;
	g->layout_size = c.layout_size;
	g->ver_major = c.version_major;
	g->ver_minor = c.version_minor;
	g->nr_ports = c.nr_ports;
	g->nr_spads = c.nr_spads;
	g->nr_msgs = c.nr_msgs;
	g->nr_mws = c.nr_mws;
	for (dst = 0; dst < g->nr_ports; dst++) {
		for (src = 0; src < g->nr_ports; src++) {
			for (w = 0; w < g->nr_mws; w++) {
				if (!ivntb_win_used(g, dst, src, w))
					continue;
				g->win[dst][src][w].offset =
					READ_ONCE(shm->wintab[dst][src][w].offset);
				g->win[dst][src][w].size =
					READ_ONCE(shm->wintab[dst][src][w].size);
			}
		}
	}

	/*
	 * A concurrent re-initialisation is forbidden by the protocol; if one
	 * happens anyway, catch the common case (magic or ready withdrawn
	 * meanwhile). The copy is self-consistent either way: it is checked
	 * below. Barrier I6 (for pairing with I3 in ivntb_region_init()): an
	 * initialiser's stores come after its compare-and-exchange of the
	 * magic, so a copy that saw one of them sees the magic changed.
	 */
	smp_rmb();
	ready2 = READ_ONCE(shm->ctrl.ready);
	magic2 = READ_ONCE(shm->ctrl.magic);
	if (ready2 != IVNTB_READY || magic2 != IVNTB_MAGIC)
		return ivntb_fail(r, -EAGAIN, "header changed while copied");

	err = ivntb_check_windows(r);
	if (err)
		return err;

	r->valid = true;
	r->why = "valid";
	return 0;
}

static void ivntb_zero_words(void *p, size_t bytes)
{
	u64 *w = p;
	size_t i;

	for (i = 0; i < bytes / sizeof(u64); i++)
		WRITE_ONCE(w[i], 0);
}

/*
 * Another party initialises the region (or it already is an ivntb region
 * and we were not told to re-initialise it): write nothing, give the
 * initialiser a bounded time to store the magic, then validate like any
 * other party. -EAGAIN from the validation: still being initialised (or
 * an initialiser died half-way; IVNTB_INIT_FORCE recovers the region).
 */
static int ivntb_init_lost(struct ivntb_region *r, void *base, u64 map_size)
{
	struct ivntb_shm *shm = base;
	u32 i;

	for (i = 0; i < IVNTB_INIT_WAIT_POLLS; i++) {
		if (READ_ONCE(shm->ctrl.magic) != IVNTB_MAGIC_INIT)
			break;
		ivntb_cpu_relax();
	}
	return ivntb_region_validate(r, base, map_size);
}

int ivntb_region_init(struct ivntb_region *r, void *base, u64 map_size,
		      const struct ivntb_init_params *p)
{
	struct ivntb_shm *shm = base;
	u64 region_size = p->region_size;
	u64 align = p->mw_align ? p->mw_align : IVNTB_MW_MIN_ALIGN;
	u32 nports = p->nr_ports ? p->nr_ports : IVNTB_MIN_PORTS;
	u32 nspads = p->nr_spads ? p->nr_spads : IVNTB_MIN_SPADS;
	u32 nmsgs = p->nr_msgs ? p->nr_msgs : IVNTB_MIN_MSGS;
	u32 nmws = p->nr_mws ? p->nr_mws : IVNTB_MIN_MWS;
	bool force = p->flags & IVNTB_INIT_FORCE;
	u64 start, size, walign, off, magic, epochs[IVNTB_MAX_PORTS];
	u32 nwin, dst, src, w, i;
	bool ours;

	r->shm = shm;
	r->map_size = map_size;
	r->mapped = map_size;
	ivntb_geom_clear(r);

	if (nports < IVNTB_MIN_PORTS || nports > IVNTB_MAX_PORTS ||
	    nspads < IVNTB_MIN_SPADS || nspads > IVNTB_MAX_SPADS ||
	    nmsgs < IVNTB_MIN_MSGS || nmsgs > IVNTB_MAX_MSGS ||
	    nmws < IVNTB_MIN_MWS || nmws > IVNTB_MAX_MWS)
		return ivntb_fail(r, -ERANGE, "count out of range");
	if (!ivntb_is_pow2(align) || align < IVNTB_MW_MIN_ALIGN ||
	    region_size > IVNTB_MAX_REGION_SIZE)
		return ivntb_fail(r, -ERANGE, "alignment or size out of range");
	if (p->mw_size & (align - 1) || p->mw_size > region_size)
		return ivntb_fail(r, -ERANGE, "mw_size not a multiple of mw_align");
	if (region_size > map_size || region_size < IVNTB_LAYOUT_SIZE)
		return ivntb_fail(r, -ENOSPC, "region does not fit the mapping");

	/* Window placement: same size for all, one after another. */
	nwin = nports * (nports - 1) * nmws;
	start = ivntb_align_up(IVNTB_LAYOUT_SIZE, align);
	if (start >= region_size)
		return ivntb_fail(r, -ENOSPC, "no room for windows");
	size = p->mw_size;
	if (!size) {
		size = div64_u64(region_size - start, nwin);
		while (size & (size - 1))
			size &= size - 1;	/* largest power of two below */
		while (size >= align &&
		       ivntb_align_up(start, size) + nwin * size > region_size)
			size >>= 1;
		if (size < align)
			return ivntb_fail(r, -ENOSPC, "windows do not fit");
	}
	/* Power-of-two windows are naturally aligned (DMA pools like that). */
	walign = ivntb_is_pow2(size) && size > align ? size : align;
	start = ivntb_align_up(start, walign);
	if (start > region_size || nwin * size > region_size - start)
		return ivntb_fail(r, -ENOSPC, "windows do not fit");

	/*
	 * Explicit request only: a blank region; an idle ivntb region if told
	 * to re-initialise it; anything (even a region being initialised, or
	 * left half-initialised by a party that died) if forced. Any other
	 * ivntb region, or one that another party is initialising, is
	 * validated instead, and never written.
	 */
	magic = READ_ONCE(shm->ctrl.magic);
	ours = magic == IVNTB_MAGIC || magic == IVNTB_MAGIC_INIT;
	if (!force) {
		if (magic == IVNTB_MAGIC_INIT ||
		    (magic == IVNTB_MAGIC && !(p->flags & IVNTB_INIT_REINIT)))
			return ivntb_init_lost(r, base, map_size);
		if (magic && !ours)
			return ivntb_fail(r, -ENODEV,
					  "foreign magic: not initialising");
		for (i = 0; ours && i < IVNTB_MAX_PORTS; i++)
			if (IVNTB_CLAIM_STATE(READ_ONCE(shm->port[i].claim)) !=
			    IVNTB_PORT_FREE &&
			    READ_ONCE(shm->ctrl.ready) == IVNTB_READY)
				return ivntb_fail(r, -EBUSY, "a port is claimed");
	}

	/*
	 * Take initialisation: one compare-and-exchange of the magic from the
	 * value observed. Of any number of parties initialising a blank
	 * region at once exactly one gets here; the others write nothing and
	 * validate what it wrote. (Forcing over IVNTB_MAGIC_INIT succeeds
	 * even while another party initialises: forcing is not race-safe.)
	 * Barrier I3 (for pairing with I6 in ivntb_region_validate()): the
	 * fully ordered cmpxchg64 comes before every store below.
	 */
	if (cmpxchg64(&shm->ctrl.magic, magic, IVNTB_MAGIC_INIT) != magic)
		return ivntb_init_lost(r, base, map_size);

	/* Keep epochs moving so old claims never match new ones. */
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		epochs[i] = ours ?
			IVNTB_CLAIM_EPOCH(READ_ONCE(shm->port[i].claim)) : 0;

	/* Withdraw readiness first (readers then get -EAGAIN). */
	WRITE_ONCE(shm->ctrl.ready, 0);
	smp_wmb();	/* ready = 0 before the header is rewritten */
	/* The whole header but the magic word, which we hold. */
	ivntb_zero_words((u8 *)&shm->ctrl + sizeof(shm->ctrl.magic),
			 sizeof(shm->ctrl) - sizeof(shm->ctrl.magic));
	ivntb_zero_words(shm->wake, sizeof(shm->wake));
	ivntb_zero_words(&shm->sup, sizeof(shm->sup));
	ivntb_zero_words(shm->rsvd, sizeof(shm->rsvd));
	ivntb_zero_words(shm->port, sizeof(shm->port));
	ivntb_zero_words(shm->wintab, sizeof(shm->wintab));

	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		WRITE_ONCE(shm->port[i].claim,
			   IVNTB_CLAIM(IVNTB_PORT_FREE, epochs[i]));

	off = start;
	for (dst = 0; dst < nports; dst++) {
		for (src = 0; src < nports; src++) {
			if (dst == src)
				continue;
			for (w = 0; w < nmws; w++) {
				WRITE_ONCE(shm->wintab[dst][src][w].offset, off);
				WRITE_ONCE(shm->wintab[dst][src][w].size, size);
				off += size;
			}
		}
	}

	WRITE_ONCE(shm->ctrl.version_major, IVNTB_VERSION_MAJOR);
	WRITE_ONCE(shm->ctrl.version_minor, IVNTB_VERSION_MINOR);
	WRITE_ONCE(shm->ctrl.region_size, region_size);
	WRITE_ONCE(shm->ctrl.layout_size, IVNTB_LAYOUT_SIZE);
	WRITE_ONCE(shm->ctrl.ports_offset, IVNTB_PORTS_OFFSET);
	WRITE_ONCE(shm->ctrl.port_slot_size, IVNTB_PORT_SLOT_SIZE);
	WRITE_ONCE(shm->ctrl.wintab_offset, IVNTB_WINTAB_OFFSET);
	WRITE_ONCE(shm->ctrl.nr_ports, nports);
	WRITE_ONCE(shm->ctrl.nr_spads, nspads);
	WRITE_ONCE(shm->ctrl.nr_msgs, nmsgs);
	WRITE_ONCE(shm->ctrl.nr_mws, nmws);
	WRITE_ONCE(shm->ctrl.mw_align, align);
	WRITE_ONCE(shm->ctrl.nonce, p->nonce);

	/* Barrier I1 (for pairing with I2): the header before ready. */
	smp_store_release(&shm->ctrl.ready, IVNTB_READY);
	/*
	 * Barrier I4 (for pairing with I5 in ivntb_region_validate()): the
	 * magic last, with release: a party that sees IVNTB_MAGIC sees the
	 * complete header, ready included.
	 */
	smp_store_release(&shm->ctrl.magic, IVNTB_MAGIC);

	return ivntb_region_validate(r, base, map_size);
}

int ivntb_mw_get(const struct ivntb_region *r, u32 dst, u32 src, u32 w,
		 u64 *offset, u64 *size)
{
	const struct ivntb_geom_win *e;

	if (!ivntb_win_used(&r->geom, dst, src, w))
		return -EINVAL;
	e = &r->geom.win[dst][src][w];
	*offset = e->offset;
	*size = e->size;
	return 0;
}

void *ivntb_mw_ptr(const struct ivntb_region *r, u32 dst, u32 src, u32 w)
{
	u64 off, size;

	if (ivntb_mw_get(r, dst, src, w, &off, &size) ||
	    off + size > r->mapped)
		return NULL;
	return (u8 *)r->shm + off;
}

void ivntb_region_map_limit(struct ivntb_region *r, u64 mapped)
{
	r->mapped = mapped < r->map_size ? mapped : r->map_size;
}

/* ---------------------------------------------------------------------
 * Ports: claim, takeover, release, heartbeat, link, snapshot
 */

static u32 ivntb_next_epoch(u32 epoch)
{
	epoch++;
	return epoch ? epoch : 1;
}

/* Discard inbound state left by a previous owner of @port. */
static void ivntb_port_wipe(struct ivntb_region *r, u32 port)
{
	struct ivntb_port_slot *s = ivntb_slot(r, port);
	u64 old;
	u32 i;

	ivntb_fetch_and(&s->db, 0, &old);
	for (i = 0; i < r->geom.nr_msgs; i++) {
		u64 st = READ_ONCE(s->msg[i].state);

		/* A sender mid-write gets -EAGAIN from its publish. */
		if (st != IVNTB_MSG_FREE)
			cmpxchg64(&s->msg[i].state, st, IVNTB_MSG_FREE);
	}
}

/*
 * Install a claim: one compare-and-exchange from the exact word observed.
 * Barrier C1 (for pairing with C2 in ivntb_peer_snapshot()): the
 * successful cmpxchg64 is fully ordered, so a peer that sees any of the
 * owner-line stores below also sees the new claim word.
 */
static int ivntb_claim_word(struct ivntb_region *r, u32 port, u64 observed,
			    u64 tag, struct ivntb_port *me)
{
	struct ivntb_port_slot *s = ivntb_slot(r, port);
	u32 epoch = ivntb_next_epoch(IVNTB_CLAIM_EPOCH(observed));
	u64 claim = IVNTB_CLAIM(IVNTB_PORT_CLAIMED, epoch);
	u32 i;

	if (cmpxchg64(&s->claim, observed, claim) != observed)
		return -EAGAIN;

	me->port = port;
	me->epoch = epoch;
	me->claim = claim;
	me->hb = READ_ONCE(s->heartbeat) + 1;

	WRITE_ONCE(s->link, IVNTB_LINK(epoch, 0));
	WRITE_ONCE(s->heartbeat, me->hb);
	WRITE_ONCE(s->db_mask, ~0ULL);
	WRITE_ONCE(s->ver_major, IVNTB_VERSION_MAJOR);
	WRITE_ONCE(s->ver_minor, IVNTB_VERSION_MINOR);
	WRITE_ONCE(s->owner_tag, tag);
	WRITE_ONCE(s->irq_id, 0);
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		WRITE_ONCE(s->link_gen[i], 0);
	WRITE_ONCE(r->shm->wake[port].wake, 0);
	WRITE_ONCE(r->shm->wake[port].caps, 0);
	WRITE_ONCE(r->shm->wake[port].dev_id, 0);
	WRITE_ONCE(r->shm->wake[port].hb_ms, 0);
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		WRITE_ONCE(r->shm->wake[port].link_ack[i], 0);
	ivntb_port_wipe(r, port);
	ivntb_event_bump_others(r, port);
	return 0;
}

int ivntb_port_claim(struct ivntb_region *r, int port, u64 tag,
		     struct ivntb_port *me)
{
	u32 p, first, last;

	if (port >= 0) {
		if (!ivntb_port_ok(r, port))
			return -EINVAL;
		first = port;
		last = port;
	} else {
		if (!r->geom.nr_ports)
			return -EINVAL;
		first = 0;
		last = r->geom.nr_ports - 1;
	}

	for (p = first; p <= last; p++) {
		u64 c = READ_ONCE(ivntb_slot(r, p)->claim);

		if (IVNTB_CLAIM_STATE(c) != IVNTB_PORT_FREE ||
		    (c & IVNTB_CLAIM_RSVD_MASK))
			continue;
		if (!ivntb_claim_word(r, p, c, tag, me))
			return 0;
	}
	return -EBUSY;
}

int ivntb_port_takeover(struct ivntb_region *r, u32 port, u64 observed,
			u64 tag, struct ivntb_port *me)
{
	if (!ivntb_port_ok(r, port))
		return -EINVAL;
	return ivntb_claim_word(r, port, observed, tag, me);
}

int ivntb_port_check(const struct ivntb_region *r,
		     const struct ivntb_port *me)
{
	if (!ivntb_me_ok(r, me))
		return -EINVAL;
	if (READ_ONCE(ivntb_slot(r, me->port)->claim) != me->claim)
		return -ESTALE;
	return 0;
}

/*
 * Change the link word only while we still own the port, so an owner that
 * lost its port (takeover) cannot overwrite its successor's link word: the
 * successor installs its claim (fully ordered, C1) before it writes the
 * link word, so a link word we read that the successor wrote implies that
 * the claim word we read after it is the successor's; and a link word
 * changed after we read it fails the cmpxchg64. A link word with a foreign
 * epoch (scribbled) is repaired by the owner.
 * Barrier L1 (for pairing with L2 in ivntb_peer_snapshot()): the fully
 * ordered cmpxchg64 publishes the owner line (version, tag) before it.
 */
static int ivntb_link_store(struct ivntb_region *r,
			    const struct ivntb_port *me, u32 flags)
{
	struct ivntb_port_slot *s = ivntb_slot(r, me->port);
	u64 old = READ_ONCE(s->link);

	smp_rmb();	/* Barrier C3 (for pairing with C1) */
	if (READ_ONCE(s->claim) != me->claim)
		return -ESTALE;
	if (cmpxchg64(&s->link, old, IVNTB_LINK(me->epoch, flags)) != old)
		return -ESTALE;
	return 0;
}

int ivntb_link_publish(struct ivntb_region *r, const struct ivntb_port *me,
		       bool enable)
{
	int err = ivntb_port_check(r, me);

	if (err)
		return err;
	return ivntb_link_store(r, me, enable ? IVNTB_LINK_ENABLE : 0);
}

int ivntb_link_set(struct ivntb_region *r, const struct ivntb_port *me,
		   bool enable)
{
	int err = ivntb_link_publish(r, me, enable);

	if (err)
		return err;
	ivntb_event_bump_others(r, me->port);
	return 0;
}

int ivntb_port_release(struct ivntb_region *r, const struct ivntb_port *me)
{
	struct ivntb_port_slot *s;
	u64 freed;
	int err;

	err = ivntb_port_check(r, me);
	if (err)
		return err;
	s = ivntb_slot(r, me->port);
	ivntb_link_store(r, me, 0);
	freed = IVNTB_CLAIM(IVNTB_PORT_FREE, me->epoch);
	if (cmpxchg64(&s->claim, me->claim, freed) != me->claim)
		return -ESTALE;
	ivntb_event_bump_others(r, me->port);
	return 0;
}

int ivntb_heartbeat(struct ivntb_region *r, struct ivntb_port *me)
{
	int err = ivntb_port_check(r, me);

	if (err)
		return err;
	me->hb++;
	WRITE_ONCE(ivntb_slot(r, me->port)->heartbeat, me->hb);
	return 0;
}

static bool ivntb_owner_acks(const struct ivntb_region *r, u32 port);

/*
 * Only the owner writes its link_gen[]: a plain increment of a 16-bit word
 * is enough. The event bump after it (E1: ivntb_link_gen_bump(), or the
 * caller's ivntb_notify()) wakes the peer's poller.
 * A link_ack carries no epoch: the one @port still holds for our previous
 * instance (a claim restarts link_gen[] at 0) would read as its ack of the
 * same number from us. So the generation skips the value @port acks now
 * (3.3 rule 4: any other value is an announcement all the same).
 */
int ivntb_link_gen_publish(struct ivntb_region *r,
			   const struct ivntb_port *me, u32 port, u16 *step)
{
	struct ivntb_port_slot *s;
	int err = ivntb_port_check(r, me);
	u16 was, gen;

	if (err)
		return err;
	if (!ivntb_port_ok(r, port) || port == me->port)
		return -EINVAL;
	s = ivntb_slot(r, me->port);
	was = READ_ONCE(s->link_gen[port]);
	gen = was + 1;
	if (ivntb_owner_acks(r, port) &&
	    gen == READ_ONCE(r->shm->wake[port].link_ack[me->port]))
		gen++;
	WRITE_ONCE(s->link_gen[port], gen);
	if (step)
		*step = gen - was;
	return 0;
}

int ivntb_link_gen_bump(struct ivntb_region *r, const struct ivntb_port *me,
			u32 port)
{
	int err = ivntb_link_gen_publish(r, me, port, NULL);

	if (err)
		return err;
	return ivntb_notify(r, port);
}

/* The owner line says 1.4 or later: its wake line holds link acks. */
static bool ivntb_owner_acks(const struct ivntb_region *r, u32 port)
{
	const struct ivntb_port_slot *s = ivntb_slot(r, port);

	return READ_ONCE(s->ver_major) == IVNTB_VERSION_MAJOR &&
	       READ_ONCE(s->ver_minor) >= 4;
}

int ivntb_link_gen_get(const struct ivntb_region *r,
		       const struct ivntb_port *me, u32 port, u16 *gen)
{
	if (!ivntb_me_ok(r, me) || !ivntb_port_ok(r, port))
		return -EINVAL;
	*gen = READ_ONCE(ivntb_slot(r, me->port)->link_gen[port]);
	return 0;
}

/*
 * The ack is the owner's last word on the old link toward @port: the
 * scratchpad wipe (two ports only: with more, other peers write the same
 * words) and everything it wrote before are ordered before it.
 */
int ivntb_link_ack_publish(struct ivntb_region *r, const struct ivntb_port *me,
			   u32 port, u16 gen, bool wipe)
{
	struct ivntb_port_slot *s;
	int err = ivntb_port_check(r, me);
	u32 i;

	if (err)
		return err;
	if (!ivntb_port_ok(r, port) || port == me->port)
		return -EINVAL;
	if (wipe && r->geom.nr_ports == 2) {
		s = ivntb_slot(r, port);
		for (i = 0; i < r->geom.nr_spads; i++)
			WRITE_ONCE(s->spad[i], 0);
	}
	/* Barrier A1 (for pairing with A2): the wipe, our writes, then the ack. */
	smp_store_release(&r->shm->wake[me->port].link_ack[port], gen);
	/* stored: a counter a hostile port keeps moving only delays its poll */
	ivntb_notify(r, port);
	return 0;
}

int ivntb_link_ack_get(const struct ivntb_region *r, u32 port, u32 of,
		       u16 *gen)
{
	if (!ivntb_port_ok(r, port) || !ivntb_port_ok(r, of))
		return -EINVAL;
	if (!ivntb_owner_acks(r, port))
		return -ENODATA;
	/* Barrier A2 (for pairing with A1): the ack before what it covers. */
	*gen = smp_load_acquire(&r->shm->wake[port].link_ack[of]);
	return 0;
}

bool ivntb_region_intact(const struct ivntb_region *r)
{
	const struct ivntb_ctrl *c;
	const struct ivntb_geom *g = &r->geom;

	if (!r->valid)
		return false;
	c = &r->shm->ctrl;
	return READ_ONCE(c->magic) == IVNTB_MAGIC &&
	       READ_ONCE(c->version_major) == g->ver_major &&
	       READ_ONCE(c->version_minor) == g->ver_minor &&
	       READ_ONCE(c->ready) == IVNTB_READY &&
	       READ_ONCE(c->region_size) == g->region_size &&
	       READ_ONCE(c->layout_size) == g->layout_size &&
	       READ_ONCE(c->ports_offset) == IVNTB_PORTS_OFFSET &&
	       READ_ONCE(c->port_slot_size) == IVNTB_PORT_SLOT_SIZE &&
	       READ_ONCE(c->wintab_offset) == IVNTB_WINTAB_OFFSET &&
	       READ_ONCE(c->nr_ports) == g->nr_ports &&
	       READ_ONCE(c->nr_spads) == g->nr_spads &&
	       READ_ONCE(c->nr_msgs) == g->nr_msgs &&
	       READ_ONCE(c->nr_mws) == g->nr_mws &&
	       READ_ONCE(c->mw_align) == g->mw_align &&
	       READ_ONCE(c->nonce) == g->nonce;
}

int ivntb_irq_id_set(struct ivntb_region *r, const struct ivntb_port *me,
		     u32 irq_id)
{
	int err = ivntb_port_check(r, me);

	if (err)
		return err;
	WRITE_ONCE(ivntb_slot(r, me->port)->irq_id, irq_id);
	return 0;
}

int ivntb_irq_id_get(const struct ivntb_region *r, u32 port, u32 *irq_id)
{
	u32 v;

	if (!ivntb_port_ok(r, port))
		return -EINVAL;
	v = READ_ONCE(ivntb_slot(r, port)->irq_id);
	if (v > IVNTB_IRQ_ID_MAX)
		return -ERANGE;
	*irq_id = v;
	return 0;
}

/* The owner line says 1.3 or later: its wake line counts. */
static bool ivntb_owner_wakes(const struct ivntb_region *r, u32 port)
{
	const struct ivntb_port_slot *s = ivntb_slot(r, port);

	return READ_ONCE(s->ver_major) == IVNTB_VERSION_MAJOR &&
	       READ_ONCE(s->ver_minor) >= 3;
}

int ivntb_wake_arm(struct ivntb_region *r, const struct ivntb_port *me,
		   u64 *seq)
{
	int err = ivntb_port_check(r, me);

	if (err)
		return err;
	WRITE_ONCE(r->shm->wake[me->port].wake, IVNTB_WAKE_ARMED);
	/* Barrier W1 (for pairing with W2): armed before the counter. */
	smp_mb();
	*seq = READ_ONCE(ivntb_slot(r, me->port)->seq);
	return 0;
}

void ivntb_wake_disarm(struct ivntb_region *r, const struct ivntb_port *me)
{
	if (ivntb_me_ok(r, me) &&
	    READ_ONCE(r->shm->wake[me->port].wake) != 0 &&
	    !ivntb_port_check(r, me))
		WRITE_ONCE(r->shm->wake[me->port].wake, 0);
}

int ivntb_wake_caps_set(struct ivntb_region *r, const struct ivntb_port *me,
			u32 caps)
{
	int err = ivntb_port_check(r, me);

	if (err)
		return err;
	WRITE_ONCE(r->shm->wake[me->port].caps, caps);
	return 0;
}

bool ivntb_wake_wanted(const struct ivntb_region *r, u32 port)
{
	if (!ivntb_port_ok(r, port))
		return false;
	/*
	 * Barrier W2 (for pairing with W1): the caller's event increment
	 * (E1) before the wake word. E1 is a fully ordered RMW already; the
	 * barrier makes the rule hold for any way of publishing an event.
	 */
	smp_mb();
	if (!ivntb_owner_wakes(r, port))
		return true;	/* 1.1/1.2 owner: ring after every event */
	return READ_ONCE(r->shm->wake[port].wake) & IVNTB_WAKE_ARMED;
}

bool ivntb_peer_rings(const struct ivntb_region *r, u32 port)
{
	return ivntb_port_ok(r, port) && ivntb_owner_wakes(r, port) &&
	       (READ_ONCE(r->shm->wake[port].caps) & IVNTB_CAP_RINGS);
}

int ivntb_wake_ids_set(struct ivntb_region *r, const struct ivntb_port *me,
		       u32 dev_id, u32 hb_ms)
{
	int err = ivntb_port_check(r, me);

	if (err)
		return err;
	WRITE_ONCE(r->shm->wake[me->port].dev_id, dev_id);
	WRITE_ONCE(r->shm->wake[me->port].hb_ms, hb_ms);
	return 0;
}

u32 ivntb_peer_hb_ms(const struct ivntb_region *r, u32 port)
{
	u32 v;

	if (!ivntb_port_ok(r, port) || !ivntb_owner_wakes(r, port))
		return 0;
	v = READ_ONCE(r->shm->wake[port].hb_ms);
	return v <= IVNTB_HB_MS_MAX ? v : IVNTB_HB_MS_MAX;
}

/* ---------------------------------------------------------------------
 * Supervisor (the doorbell server with --ntb)
 */

void ivntb_sup_set(struct ivntb_region *r, bool present)
{
	WRITE_ONCE(r->shm->sup.magic, present ? IVNTB_SUP_MAGIC : 0);
}

bool ivntb_sup_present(const struct ivntb_region *r)
{
	return READ_ONCE(r->shm->sup.magic) == IVNTB_SUP_MAGIC;
}

int ivntb_sup_mark_gone(struct ivntb_region *r, u32 dev_id)
{
	int n = 0;
	u64 claim;
	u32 p;

	if (!dev_id)
		return 0;
	for (p = 0; p < r->geom.nr_ports; p++) {
		claim = READ_ONCE(ivntb_slot(r, p)->claim);
		if (IVNTB_CLAIM_STATE(claim) != IVNTB_PORT_CLAIMED ||
		    !ivntb_owner_wakes(r, p) ||
		    READ_ONCE(r->shm->wake[p].dev_id) != dev_id)
			continue;
		WRITE_ONCE(r->shm->sup.gone[p], IVNTB_CLAIM_EPOCH(claim));
		/* E1: the mark before every other port's counter */
		ivntb_event_bump_others(r, p);
		n++;
	}
	return n;
}

bool ivntb_peer_gone(const struct ivntb_region *r, u32 port, u32 epoch)
{
	return ivntb_port_ok(r, port) && epoch &&
	       READ_ONCE(r->shm->sup.gone[port]) == epoch;
}

int ivntb_peer_snapshot(const struct ivntb_region *r, u32 port,
			struct ivntb_peer_state *s)
{
	struct ivntb_port_slot *slot;
	u64 c1, c2, link;
	int tries;
	u32 i;

	memset(s, 0, sizeof(*s));
	s->port = port;
	s->state = IVNTB_PORT_INVALID;
	if (!ivntb_port_ok(r, port))
		return -EINVAL;
	slot = ivntb_slot(r, port);

	for (tries = 0; tries < IVNTB_SNAPSHOT_TRIES; tries++) {
		c1 = READ_ONCE(slot->claim);
		/* Barrier L2 (for pairing with L1): link before version. */
		link = smp_load_acquire(&slot->link);
		s->ver_major = READ_ONCE(slot->ver_major);
		s->ver_minor = READ_ONCE(slot->ver_minor);
		s->heartbeat = READ_ONCE(slot->heartbeat);
		s->db_mask = READ_ONCE(slot->db_mask);
		s->owner_tag = READ_ONCE(slot->owner_tag);
		for (i = 0; i < IVNTB_MAX_PORTS; i++)
			s->link_gen[i] = READ_ONCE(slot->link_gen[i]);
		/* Barrier C2 (for pairing with C1): fields before claim. */
		smp_rmb();
		c2 = READ_ONCE(slot->claim);
		if (c1 == c2)
			break;
	}

	s->port = port;
	s->claim = c2;
	s->epoch = IVNTB_CLAIM_EPOCH(c2);
	s->state = IVNTB_CLAIM_STATE(c2);
	s->compatible = s->ver_major == IVNTB_VERSION_MAJOR;
	s->link_enabled = s->state == IVNTB_PORT_CLAIMED &&
			  IVNTB_LINK_EPOCH(link) == s->epoch &&
			  (IVNTB_LINK_FLAGS(link) & IVNTB_LINK_ENABLE);
	if ((c2 & IVNTB_CLAIM_RSVD_MASK) ||
	    (s->state != IVNTB_PORT_FREE && s->state != IVNTB_PORT_CLAIMED)) {
		s->state = IVNTB_PORT_INVALID;
		s->link_enabled = false;
		return -EBADMSG;
	}
	if (c1 != c2)
		return -EAGAIN;
	return 0;
}

bool ivntb_peer_link_ok(const struct ivntb_peer_state *s)
{
	return s->state == IVNTB_PORT_CLAIMED && s->link_enabled &&
	       s->compatible;
}

/* ---------------------------------------------------------------------
 * Doorbells and events
 */

int ivntb_db_ring(struct ivntb_region *r, u32 dst, u64 bits)
{
	u64 old;
	int err;

	if (!ivntb_port_ok(r, dst))
		return -EINVAL;
	if (!bits)
		return 0;
	/*
	 * Barrier D1 (for pairing with D2): the fully ordered OR makes every
	 * store the caller made before it visible before the bits.
	 */
	err = ivntb_fetch_or(&ivntb_slot(r, dst)->db, bits, &old);
	if (err)
		return err;
	return ivntb_event_bump(r, dst);
}

int ivntb_db_clear(struct ivntb_region *r, const struct ivntb_port *me,
		   u64 bits)
{
	u64 old;

	if (!ivntb_me_ok(r, me))
		return -EINVAL;
	/* Barrier D2 (for pairing with D1), fully ordered RMW. */
	return ivntb_fetch_and(&ivntb_slot(r, me->port)->db, ~bits, &old);
}

u64 ivntb_db_take(struct ivntb_region *r, const struct ivntb_port *me,
		  u64 bits)
{
	u64 old;

	if (!ivntb_me_ok(r, me))
		return 0;
	/* Barrier D2 (for pairing with D1), fully ordered RMW. */
	if (ivntb_fetch_and(&ivntb_slot(r, me->port)->db, ~bits, &old))
		return 0;
	return old & bits;
}

void ivntb_db_mask_store(struct ivntb_region *r, const struct ivntb_port *me,
			 u64 mask)
{
	if (ivntb_me_ok(r, me))
		WRITE_ONCE(ivntb_slot(r, me->port)->db_mask, mask);
}

/* ---------------------------------------------------------------------
 * Scratchpads
 */

int ivntb_spad_read(const struct ivntb_region *r, u32 port, u32 idx,
		    u32 *val)
{
	if (!ivntb_port_ok(r, port) || idx >= r->geom.nr_spads)
		return -EINVAL;
	/* Barrier S2 (for pairing with S1). */
	*val = smp_load_acquire(&ivntb_slot(r, port)->spad[idx]);
	return 0;
}

int ivntb_spad_write(struct ivntb_region *r, u32 port, u32 idx, u32 val)
{
	if (!ivntb_port_ok(r, port) || idx >= r->geom.nr_spads)
		return -EINVAL;
	/* Barrier S1 (for pairing with S2): like in-order MMIO writes. */
	smp_store_release(&ivntb_slot(r, port)->spad[idx], val);
	return 0;
}

/* ---------------------------------------------------------------------
 * Message registers
 */

int ivntb_msg_send(struct ivntb_region *r, const struct ivntb_port *me,
		   u32 dst, u32 midx, u32 data)
{
	struct ivntb_msg_reg *m;
	u64 writing, full;

	if (!ivntb_me_ok(r, me) || !ivntb_port_ok(r, dst) ||
	    midx >= r->geom.nr_msgs)
		return -EINVAL;
	m = &ivntb_slot(r, dst)->msg[midx];
	writing = IVNTB_MSG(IVNTB_MSG_WRITING, me->port, me->epoch);
	full = IVNTB_MSG(IVNTB_MSG_FULL, me->port, me->epoch);

	/* Barrier M1 (for pairing with M4): own the register, then write. */
	if (cmpxchg64(&m->state, IVNTB_MSG_FREE, writing) != IVNTB_MSG_FREE)
		return -EBUSY;
	WRITE_ONCE(m->data, data);
	/* Barrier M2 (for pairing with M3): data before FULL. */
	if (cmpxchg64(&m->state, writing, full) != writing)
		return -EAGAIN;
	return ivntb_event_bump(r, dst);
}

u64 ivntb_msg_status(const struct ivntb_region *r, const struct ivntb_port *me)
{
	struct ivntb_port_slot *s;
	u64 bits = 0;
	u32 i;

	if (!ivntb_me_ok(r, me))
		return 0;
	s = ivntb_slot(r, me->port);
	for (i = 0; i < r->geom.nr_msgs; i++)
		if (IVNTB_MSG_STATE(READ_ONCE(s->msg[i].state)) == IVNTB_MSG_FULL)
			bits |= 1ULL << i;
	return bits;
}

int ivntb_msg_read(const struct ivntb_region *r, const struct ivntb_port *me,
		   u32 midx, u32 *data, u32 *src)
{
	struct ivntb_msg_reg *m;
	u64 st;

	if (!ivntb_me_ok(r, me) || midx >= r->geom.nr_msgs)
		return -EINVAL;
	m = &ivntb_slot(r, me->port)->msg[midx];
	/* Barrier M3 (for pairing with M2): FULL before the data. */
	st = smp_load_acquire(&m->state);
	if (IVNTB_MSG_STATE(st) != IVNTB_MSG_FULL)
		return -ENOMSG;
	if (!ivntb_port_ok(r, IVNTB_MSG_SRC(st)) || (st & IVNTB_MSG_RSVD_MASK))
		return -EBADMSG;
	*src = IVNTB_MSG_SRC(st);
	*data = READ_ONCE(m->data);
	return 0;
}

#define IVNTB_MSG_ANY_SRC	0xffffffffU

/*
 * FULL -> FREE for register @midx of ours: any message (@from is
 * IVNTB_MSG_ANY_SRC), or one from port @from with an epoch other than
 * @keep_epoch.
 */
static int ivntb_msg_take(struct ivntb_region *r, const struct ivntb_port *me,
			  u32 midx, u32 from, u32 keep_epoch, u32 *src)
{
	struct ivntb_msg_reg *m;
	u64 st;

	if (!ivntb_me_ok(r, me) || midx >= r->geom.nr_msgs)
		return -EINVAL;
	m = &ivntb_slot(r, me->port)->msg[midx];
	st = READ_ONCE(m->state);
	if (IVNTB_MSG_STATE(st) != IVNTB_MSG_FULL ||
	    (from != IVNTB_MSG_ANY_SRC && (IVNTB_MSG_SRC(st) != from ||
					    IVNTB_MSG_EPOCH(st) == keep_epoch)))
		return -ENOMSG;
	/*
	 * Barrier M4 (for pairing with M1): the owner's data load is done
	 * before the register is FREE for the next sender's data store.
	 */
	if (cmpxchg64(&m->state, st, IVNTB_MSG_FREE) != st)
		return -EAGAIN;
	*src = IVNTB_MSG_SRC(st);
	return 0;
}

int ivntb_msg_free(struct ivntb_region *r, const struct ivntb_port *me,
		   u32 midx, u32 *src)
{
	return ivntb_msg_take(r, me, midx, IVNTB_MSG_ANY_SRC, 0, src);
}

int ivntb_msg_void(struct ivntb_region *r, const struct ivntb_port *me,
		   u32 midx, u32 from, u32 keep_epoch)
{
	u32 src;

	return ivntb_msg_take(r, me, midx, from, keep_epoch, &src);
}

int ivntb_msg_ack(struct ivntb_region *r, const struct ivntb_port *me,
		  u32 midx)
{
	u32 src;
	int err = ivntb_msg_free(r, me, midx, &src);

	if (err)
		return err;
	ivntb_notify(r, src);	/* a sender out of range is told nothing */
	return 0;
}

int ivntb_msg_reap(struct ivntb_region *r, const struct ivntb_port *me)
{
	struct ivntb_port_slot *s;
	int freed = 0;
	u32 i;

	if (!ivntb_me_ok(r, me))
		return -EINVAL;
	s = ivntb_slot(r, me->port);
	for (i = 0; i < r->geom.nr_msgs; i++) {
		u64 st = READ_ONCE(s->msg[i].state);
		u32 src = IVNTB_MSG_SRC(st);
		u64 owner;

		if (IVNTB_MSG_STATE(st) != IVNTB_MSG_WRITING)
			continue;
		if (ivntb_port_ok(r, src)) {
			owner = READ_ONCE(ivntb_slot(r, src)->claim);
			if (owner == IVNTB_CLAIM(IVNTB_PORT_CLAIMED,
						 IVNTB_MSG_EPOCH(st)))
				continue;	/* sender alive, mid-write */
		}
		if (cmpxchg64(&s->msg[i].state, st, IVNTB_MSG_FREE) == st)
			freed++;
	}
	return freed;
}
