// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * fuzz_region.c - libFuzzer target: hostile region contents.
 *
 * Input byte 0 picks a mode:
 *   even: the input itself is the region (raw), mapping = input length;
 *   odd:  a valid region is initialised with a geometry taken from the
 *         next bytes, then the rest of the input is applied as patches
 *         (offset, width, value) to the layout area and the mapping size
 *         is perturbed.
 * Then validate, dump, and every reader and writer run against it, with
 * own-port handles taken from the input too. The region is malloc'ed at
 * exactly the mapping size, so ASan catches any access past it. When
 * validation succeeds, its promises are re-checked independently.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ivntb_proto.h"
#include "ivntb_dump.h"

struct cursor {
	const u8 *p;
	size_t n;
};

static u64 take(struct cursor *c, int bytes)
{
	u64 v = 0;
	int i;

	for (i = 0; i < bytes && c->n; i++, c->n--, c->p++)
		v |= (u64)*c->p << (8 * i);
	return v;
}

static void must(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void check_promises(const struct ivntb_region *r)
{
	const struct ivntb_geom *g = &r->geom;
	u32 d, s, w, d2, s2, w2;

	must(g->nr_ports >= IVNTB_MIN_PORTS && g->nr_ports <= IVNTB_MAX_PORTS);
	must(g->nr_spads >= IVNTB_MIN_SPADS && g->nr_spads <= IVNTB_MAX_SPADS);
	must(g->nr_msgs >= IVNTB_MIN_MSGS && g->nr_msgs <= IVNTB_MAX_MSGS);
	must(g->nr_mws >= IVNTB_MIN_MWS && g->nr_mws <= IVNTB_MAX_MWS);
	must(g->region_size <= r->map_size);
	for (d = 0; d < g->nr_ports; d++)
		for (s = 0; s < g->nr_ports; s++)
			for (w = 0; w < g->nr_mws; w++) {
				u64 o, z, o2, z2;

				if (ivntb_mw_get(r, d, s, w, &o, &z)) {
					must(d == s);
					continue;
				}
				must(z && o >= g->layout_size && o + z >= o &&
				     o + z <= g->region_size);
				must(!(o % IVNTB_MW_MIN_ALIGN));
				/* Touch both ends: ASan checks the bounds. */
				((volatile u8 *)ivntb_mw_ptr(r, d, s, w))[0] = 1;
				((volatile u8 *)ivntb_mw_ptr(r, d, s, w))[z - 1] = 1;
				for (d2 = 0; d2 < g->nr_ports; d2++)
					for (s2 = 0; s2 < g->nr_ports; s2++)
						for (w2 = 0; w2 < g->nr_mws; w2++) {
							if ((d2 == d && s2 == s && w2 == w) ||
							    ivntb_mw_get(r, d2, s2, w2, &o2, &z2))
								continue;
							must(o + z <= o2 || o2 + z2 <= o);
						}
			}
}

static void exercise(struct ivntb_region *r, struct cursor *c)
{
	struct ivntb_peer_state ps;
	struct ivntb_port me;
	u32 p, i, data, src;
	u64 o, z;

	for (p = 0; p < IVNTB_MAX_PORTS + 2; p++) {
		if (!ivntb_peer_snapshot(r, p, &ps))
			must(p < r->geom.nr_ports && ps.state != IVNTB_PORT_INVALID);
		ivntb_peer_link_ok(&ps);
		ivntb_mw_get(r, p, (p + 1) % 9, p % 5, &o, &z);
	}
	/* Owner-side readers for a port taken from the input (maybe bogus). */
	me.port = take(c, 1) % (IVNTB_MAX_PORTS + 2);
	me.epoch = take(c, 1);
	me.claim = take(c, 1) ? IVNTB_CLAIM(IVNTB_PORT_CLAIMED, me.epoch) : 0;
	me.hb = 0;
	ivntb_event_seq(r, &me);
	ivntb_db_read(r, &me);
	ivntb_msg_status(r, &me);
	for (i = 0; i < IVNTB_MAX_MSGS + 1; i++) {
		if (!ivntb_msg_read(r, &me, i, &data, &src))
			must(src < r->geom.nr_ports && i < r->geom.nr_msgs);
	}
	for (i = 0; i < IVNTB_MAX_SPADS + 1; i++)
		ivntb_spad_read(r, me.port, i, &data);
	ivntb_msg_reap(r, &me);
	ivntb_msg_ack(r, &me, take(c, 1) % 9);
	ivntb_db_take(r, &me, take(c, 8));
	ivntb_db_clear(r, &me, take(c, 8));
	ivntb_heartbeat(r, &me);
	ivntb_link_set(r, &me, true);
	ivntb_port_release(r, &me);

	/* Writers against whatever state the region is in. */
	ivntb_db_ring(r, take(c, 1) % 10, take(c, 8));
	ivntb_spad_write(r, take(c, 1) % 10, take(c, 1) % 70, 0x5a5a5a5a);
	if (!ivntb_port_claim(r, (int)(take(c, 1) % 10) - 1, 1, &me)) {
		must(me.port < r->geom.nr_ports);
		ivntb_link_set(r, &me, true);
		ivntb_heartbeat(r, &me);
		ivntb_msg_send(r, &me, take(c, 1) % 10, take(c, 1) % 9, 7);
		ivntb_msg_status(r, &me);
		ivntb_db_take(r, &me, ~0ULL);
		ivntb_port_release(r, &me);
	}
	p = take(c, 1) % 10;
	if (!ivntb_peer_snapshot(r, p % IVNTB_MAX_PORTS, &ps))
		ivntb_port_takeover(r, p, ps.claim, 2, &me);
}

static FILE *devnull;

int LLVMFuzzerTestOneInput(const u8 *in, size_t len)
{
	struct cursor c = { in, len };
	struct ivntb_region r;
	u8 *buf;
	u64 map;
	int mode;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!len)
		return 0;
	mode = take(&c, 1);

	if (!(mode & 1)) {
		/* Raw: the input is the region. */
		map = c.n;
		buf = malloc(map ? map : 1);
		if (!buf)
			return 0;
		memcpy(buf, c.p, map);
		c.n = 0;
	} else {
		static const u64 sizes[4] = { 0x8000, 0x10000, 0x40000, 0x100000 };
		struct ivntb_init_params ip = { 0 };
		struct ivntb_region r0;
		u64 rsize = sizes[take(&c, 1) % 4], extra;

		ip.region_size = rsize;
		ip.nr_ports = 2 + take(&c, 1) % 7;
		ip.nr_spads = 16 + take(&c, 1) % 49;
		ip.nr_msgs = 4 + take(&c, 1) % 5;
		ip.nr_mws = 2 + take(&c, 1) % 3;
		extra = take(&c, 1);
		map = extra < 200 ? rsize : rsize - 4096 + (extra - 200) * 512;
		buf = calloc(1, map > rsize ? map : rsize);
		if (!buf)
			return 0;
		if (ivntb_region_init(&r0, buf, rsize, &ip)) {
			free(buf);
			return 0;
		}
		if (map < rsize) {
			/* Shrink the allocation to the mapping size. */
			u8 *b2 = malloc(map);

			memcpy(b2, buf, map);
			free(buf);
			buf = b2;
		}
		/* Patches: offset (2 bytes, into the layout), width, value. */
		while (c.n >= 4) {
			u64 off = take(&c, 2) % IVNTB_LAYOUT_SIZE;
			int wsel = take(&c, 1) % 4;
			int width = 1 << wsel;
			u64 v = take(&c, width);

			if (take(&c, 1) == 0xee)
				break;	/* the rest drives exercise() */
			off &= ~(u64)(width - 1);
			if (off + width <= map)
				memcpy(buf + off, &v, width);
		}
	}

	if (!ivntb_region_validate(&r, buf, map))
		check_promises(&r);
	else
		must(r.geom.nr_ports == 0 && !r.valid);
	exercise(&r, &c);
	ivntb_dump(devnull, buf, map, true);
	free(buf);
	return 0;
}
