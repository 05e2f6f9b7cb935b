// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * ivntb_dump.c - decode an ivntb region (userspace; used by the CLI and
 * the fuzzer). Reads only, through the same primitives as ivntb_proto.c.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ivntb_dump.h"

const char *ivntb_errname(int err)
{
	switch (-err) {
	case 0:			return "ok";
	case ENOSPC:		return "ENOSPC";
	case ENODEV:		return "ENODEV";
	case ENODATA:		return "ENODATA";
	case EAGAIN:		return "EAGAIN";
	case EPROTO:		return "EPROTO";
	case ERANGE:		return "ERANGE";
	case EFAULT:		return "EFAULT";
	case EADDRINUSE:	return "EADDRINUSE";
	case EINVAL:		return "EINVAL";
	case EBUSY:		return "EBUSY";
	case ESTALE:		return "ESTALE";
	case ENOMSG:		return "ENOMSG";
	case EBADMSG:		return "EBADMSG";
	default:		return "E?";
	}
}

static const char *claim_state_name(u32 st)
{
	switch (st) {
	case IVNTB_PORT_FREE:		return "FREE";
	case IVNTB_PORT_CLAIMED:	return "CLAIMED";
	default:			return "INVALID";
	}
}

static const char *msg_state_name(u32 st)
{
	switch (st) {
	case IVNTB_MSG_FREE:	return "FREE";
	case IVNTB_MSG_WRITING:	return "WRITING";
	case IVNTB_MSG_FULL:	return "FULL";
	default:		return "INVALID";
	}
}

static void dump_port(FILE *f, struct ivntb_shm *shm, u32 p, u32 nspads,
		      u32 nmsgs)
{
	struct ivntb_port_slot *s = &shm->port[p];
	u64 claim = READ_ONCE(s->claim);
	u64 link = READ_ONCE(s->link);
	u64 hb = READ_ONCE(s->heartbeat);
	u64 mask = READ_ONCE(s->db_mask);
	u64 tag = READ_ONCE(s->owner_tag);
	u32 irq = READ_ONCE(s->irq_id);
	u32 wake = READ_ONCE(shm->wake[p].wake);
	u32 caps = READ_ONCE(shm->wake[p].caps);
	u32 dev_id = READ_ONCE(shm->wake[p].dev_id);
	u32 hb_ms = READ_ONCE(shm->wake[p].hb_ms);
	u64 db = READ_ONCE(s->db);
	u64 seq = READ_ONCE(s->seq);
	u32 vmaj = READ_ONCE(s->ver_major), vmin = READ_ONCE(s->ver_minor);
	u32 epoch = IVNTB_CLAIM_EPOCH(claim);
	bool link_on = IVNTB_LINK_EPOCH(link) == epoch &&
		       (IVNTB_LINK_FLAGS(link) & IVNTB_LINK_ENABLE);
	u32 i;

	fprintf(f, "port %u: %s epoch %u claim 0x%016llx%s\n", p,
		claim_state_name(IVNTB_CLAIM_STATE(claim)), epoch, claim,
		claim & IVNTB_CLAIM_RSVD_MASK ? " (reserved bits set)" : "");
	fprintf(f, "  version %u.%u link %s (word 0x%016llx) heartbeat %llu"
		" tag 0x%llx\n", vmaj, vmin,
		link_on ? "enabled" : "disabled", link, hb, tag);
	fprintf(f, "  db 0x%016llx mask 0x%016llx seq %llu", db, mask, seq);
	if (irq)
		fprintf(f, " irq_id %u (doorbell peer %u)", irq, irq - 1);
	if (wake || caps)
		fprintf(f, " wake 0x%x%s caps 0x%x%s", wake,
			wake & IVNTB_WAKE_ARMED ? " (armed)" : "", caps,
			caps & IVNTB_CAP_RINGS ? " (rings)" : "");
	if (dev_id)
		fprintf(f, " dev_id %u", dev_id);
	if (hb_ms)
		fprintf(f, " hb_ms %u", hb_ms);
	if (READ_ONCE(shm->sup.gone[p]))
		fprintf(f, " gone(epoch %u)", READ_ONCE(shm->sup.gone[p]));
	fprintf(f, "\n");
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		if (READ_ONCE(s->link_gen[i]))
			break;
	if (i < IVNTB_MAX_PORTS) {
		fprintf(f, "  link_gen:");
		for (i = 0; i < IVNTB_MAX_PORTS; i++)
			fprintf(f, " %u", READ_ONCE(s->link_gen[i]));
		fprintf(f, "\n");
	}
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		if (READ_ONCE(shm->wake[p].link_ack[i]))
			break;
	if (i < IVNTB_MAX_PORTS) {
		fprintf(f, "  link_ack:");
		for (i = 0; i < IVNTB_MAX_PORTS; i++)
			fprintf(f, " %u", READ_ONCE(shm->wake[p].link_ack[i]));
		fprintf(f, "\n");
	}
	fprintf(f, "  spads:");
	for (i = 0; i < nspads && i < IVNTB_MAX_SPADS; i++) {
		if (i && !(i % 8))
			fprintf(f, "\n        ");
		fprintf(f, " %08x", READ_ONCE(s->spad[i]));
	}
	fprintf(f, "\n");
	for (i = 0; i < nmsgs && i < IVNTB_MAX_MSGS; i++) {
		u64 st = READ_ONCE(s->msg[i].state);
		u32 data = READ_ONCE(s->msg[i].data);

		fprintf(f, "  msg %u: %s", i, msg_state_name(IVNTB_MSG_STATE(st)));
		if (IVNTB_MSG_STATE(st) != IVNTB_MSG_FREE)
			fprintf(f, " src %u epoch %u", IVNTB_MSG_SRC(st),
				IVNTB_MSG_EPOCH(st));
		fprintf(f, " data 0x%08x\n", data);
	}
}

int ivntb_dump(FILE *f, void *base, u64 map_size, bool raw)
{
	struct ivntb_region r;
	struct ivntb_shm *shm = base;
	u32 p, q, w, nports, nspads, nmsgs, nmws;
	int err;

	err = ivntb_region_validate(&r, base, map_size);
	fprintf(f, "mapping: %llu bytes\n", map_size);
	fprintf(f, "validate: %d %s (%s)\n", err, ivntb_errname(err), r.why);
	if (map_size < sizeof(struct ivntb_ctrl))
		return err;

	{
		u64 magic = READ_ONCE(shm->ctrl.magic);
		char txt[9];
		int i;

		for (i = 0; i < 8; i++) {
			char ch = (char)(magic >> (8 * i));

			txt[i] = ch >= 0x20 && ch < 0x7f ? ch : '.';
		}
		txt[8] = 0;
		fprintf(f, "magic: 0x%016llx \"%s\"%s\n", magic, txt,
			magic == IVNTB_MAGIC ? "" :
			magic == IVNTB_MAGIC_INIT ? " (being initialised)" :
			" (not ivntb)");
	}
	if (err && !raw)
		return err;

	if (!err) {
		const struct ivntb_geom *g = &r.geom;

		fprintf(f, "version: %u.%u (this tool %u.%u)\n", g->ver_major,
			g->ver_minor, IVNTB_VERSION_MAJOR, IVNTB_VERSION_MINOR);
		fprintf(f, "region: size %llu layout %u mw_align %llu"
			" nonce 0x%016llx\n", g->region_size, g->layout_size,
			g->mw_align, g->nonce);
		fprintf(f, "geometry: ports %u spads %u msgs %u mws %u\n",
			g->nr_ports, g->nr_spads, g->nr_msgs, g->nr_mws);
		if (READ_ONCE(shm->sup.magic))
			fprintf(f, "supervisor: %s\n",
				READ_ONCE(shm->sup.magic) == IVNTB_SUP_MAGIC ?
				"present" : "bad magic");
		nports = g->nr_ports;
		nspads = g->nr_spads;
		nmsgs = g->nr_msgs;
		nmws = g->nr_mws;
	} else {
		if (map_size < IVNTB_LAYOUT_SIZE)
			return err;
		fprintf(f, "raw header: version %u.%u ready 0x%08x region %llu"
			" layout %u ports %u spads %u msgs %u mws %u\n",
			READ_ONCE(shm->ctrl.version_major),
			READ_ONCE(shm->ctrl.version_minor),
			READ_ONCE(shm->ctrl.ready),
			(u64)READ_ONCE(shm->ctrl.region_size),
			READ_ONCE(shm->ctrl.layout_size),
			READ_ONCE(shm->ctrl.nr_ports),
			READ_ONCE(shm->ctrl.nr_spads),
			READ_ONCE(shm->ctrl.nr_msgs),
			READ_ONCE(shm->ctrl.nr_mws));
		nports = IVNTB_MAX_PORTS;
		nspads = IVNTB_MAX_SPADS;
		nmsgs = IVNTB_MAX_MSGS;
		nmws = IVNTB_MAX_MWS;
	}

	for (p = 0; p < nports; p++)
		dump_port(f, shm, p, nspads, nmsgs);

	fprintf(f, "windows (dst <- src, w: offset size):\n");
	for (p = 0; p < nports; p++) {
		for (q = 0; q < nports; q++) {
			if (p == q)
				continue;
			for (w = 0; w < nmws; w++) {
				u64 off, size;

				if (!err) {
					ivntb_mw_get(&r, p, q, w, &off, &size);
				} else {
					off = READ_ONCE(shm->wintab[p][q][w].offset);
					size = READ_ONCE(shm->wintab[p][q][w].size);
					if (!off && !size)
						continue;
				}
				fprintf(f, "  %u <- %u, %u: 0x%08llx 0x%08llx\n",
					p, q, w, off, size);
			}
		}
	}
	return err;
}
