// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * unit.c - unit tests of every ivntb operation and validation error.
 * Built twice: gcc + liburcu, clang + __atomic builtins + ASan/UBSan.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ivntb_proto.h"
#include "ivntb_dump.h"
#include "harness.h"

#define RSIZE	(4ULL << 20)

static u8 *buf;
static u8 *before;
static struct ivntb_region R;

static void fresh(u32 ports, u32 spads, u32 msgs, u32 mws)
{
	struct ivntb_init_params p = {
		.region_size = RSIZE, .nr_ports = ports, .nr_spads = spads,
		.nr_msgs = msgs, .nr_mws = mws, .nonce = 0x1234,
	};

	memset(buf, 0, RSIZE);
	if (ivntb_region_init(&R, buf, RSIZE, &p)) {
		fprintf(stderr, "fresh: init failed: %s\n", R.why);
		abort();
	}
}

static struct ivntb_shm *shm(void)
{
	return (struct ivntb_shm *)buf;
}

/* Validate a corrupted copy; check the error and that nothing was written. */
static int validate_untouched(u64 map)
{
	struct ivntb_region r;
	int err;

	memcpy(before, buf, RSIZE);
	err = ivntb_region_validate(&r, buf, map);
	CHECK(!memcmp(before, buf, RSIZE));
	if (err) {
		CHECK(!r.valid);
		CHECK_EQ(r.geom.nr_ports, 0);
		CHECK(r.why != NULL);
	}
	return err;
}

static void test_layout(void)
{
	CHECK_EQ(sizeof(struct ivntb_shm), 0x3000);
	CHECK_EQ(offsetof(struct ivntb_shm, port[1].db), 0x1240);
	CHECK_EQ(offsetof(struct ivntb_shm, port[7].msg[7].data), 0x1ff8);
	CHECK_EQ(offsetof(struct ivntb_shm, wintab[7][7][3].size), 0x2ff8);
	CHECK(!memcmp(&(u64){ IVNTB_MAGIC }, "ivNTBshm", 8));
	CHECK(!memcmp(&(u64){ IVNTB_MAGIC_INIT }, "ivNTBini", 8));
	CHECK_EQ(IVNTB_CLAIM_EPOCH(IVNTB_CLAIM(1, 0xdeadbeef)), 0xdeadbeef);
	CHECK_EQ(IVNTB_MSG_SRC(IVNTB_MSG(2, 7, 9)), 7);
	CHECK_EQ(IVNTB_MSG_EPOCH(IVNTB_MSG(2, 7, 9)), 9);
}

static void test_init_default(void)
{
	u64 off[16], size[16];
	u32 n = 0, i, j, d, s, w;

	fresh(0, 0, 0, 0);
	CHECK(R.valid);
	CHECK_EQ(R.geom.nr_ports, 2);
	CHECK_EQ(R.geom.nr_spads, IVNTB_MIN_SPADS);
	CHECK_EQ(R.geom.nr_msgs, IVNTB_MIN_MSGS);
	CHECK_EQ(R.geom.nr_mws, 2);
	CHECK_EQ(R.geom.region_size, RSIZE);
	CHECK_EQ(R.geom.nonce, 0x1234);
	CHECK_EQ(R.geom.ver_major, IVNTB_VERSION_MAJOR);
	CHECK_EQ(shm()->ctrl.ready, IVNTB_READY);
	CHECK_EQ(shm()->ctrl.magic, IVNTB_MAGIC);
	for (d = 0; d < 2; d++)
		for (s = 0; s < 2; s++)
			for (w = 0; w < 2; w++) {
				u64 o, z;
				int err = ivntb_mw_get(&R, d, s, w, &o, &z);

				if (d == s) {
					CHECK_EQ(err, -EINVAL);
					continue;
				}
				CHECK_EQ(err, 0);
				CHECK_EQ(z, 512 << 10);	/* 4 MiB / 4 -> 512 KiB */
				CHECK_EQ(o % z, 0);		/* natural alignment */
				CHECK(o >= IVNTB_LAYOUT_SIZE && o + z <= RSIZE);
				CHECK(ivntb_mw_ptr(&R, d, s, w) == buf + o);
				off[n] = o;
				size[n++] = z;
			}
	CHECK_EQ(n, 4);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			CHECK(off[i] + size[i] <= off[j] || off[j] + size[j] <= off[i]);
	CHECK(ivntb_mw_ptr(&R, 0, 1, 2) == NULL);
	CHECK(ivntb_mw_ptr(&R, 2, 1, 0) == NULL);
	CHECK(ivntb_mw_ptr(&R, 0, 0, 0) == NULL);
}

/* Validated against the whole memory, only the layout mapped (the driver). */
static void test_map_limit(void)
{
	u64 o, z;

	fresh(0, 0, 0, 0);
	CHECK_EQ(R.mapped, RSIZE);
	ivntb_region_map_limit(&R, IVNTB_LAYOUT_SIZE);
	CHECK_EQ(R.mapped, IVNTB_LAYOUT_SIZE);
	/* the windows are still the region's; no pointer past the mapping */
	CHECK_EQ(ivntb_mw_get(&R, 0, 1, 0, &o, &z), 0);
	CHECK(o >= IVNTB_LAYOUT_SIZE);
	CHECK(ivntb_mw_ptr(&R, 0, 1, 0) == NULL);
	CHECK(ivntb_mw_ptr(&R, 1, 0, 1) == NULL);
	/* never more than the memory validated against */
	ivntb_region_map_limit(&R, 2 * RSIZE);
	CHECK_EQ(R.mapped, RSIZE);
	CHECK(ivntb_mw_ptr(&R, 0, 1, 0) == buf + o);
}

static void test_init_geometries(void)
{
	struct ivntb_init_params p = { .region_size = RSIZE };
	u32 d, s, w;

	fresh(8, 64, 8, 4);
	CHECK_EQ(R.geom.nr_ports, 8);
	CHECK_EQ(R.geom.nr_spads, 64);
	CHECK_EQ(R.geom.nr_msgs, 8);
	CHECK_EQ(R.geom.nr_mws, 4);
	/* 224 windows in 4 MiB - 12 KiB: 16 KiB each. */
	CHECK_EQ(R.geom.win[7][6][3].size, 16384);
	for (d = 0; d < 8; d++)
		for (s = 0; s < 8; s++)
			for (w = 0; w < 4; w++)
				CHECK_EQ(!!R.geom.win[d][s][w].size, d != s);

	memset(buf, 0, RSIZE);
	p.mw_size = 64 << 10;
	p.mw_align = 64 << 10;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), 0);
	CHECK_EQ(R.geom.win[0][1][0].offset, 64 << 10);
	CHECK_EQ(R.geom.win[1][0][1].offset, 4 * (64 << 10));
	CHECK_EQ(R.geom.mw_align, 64 << 10);

	memset(buf, 0, RSIZE);
	p.mw_size = 12288;	/* not a power of two, multiple of 4 KiB */
	p.mw_align = 0;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), 0);
	CHECK_EQ(R.geom.win[0][1][0].offset, 0x3000);
	CHECK_EQ(R.geom.win[0][1][1].offset, 0x6000);
}

static void test_init_errors(void)
{
	struct ivntb_init_params p = { .region_size = RSIZE };
	struct ivntb_init_params q;
	struct ivntb_port me;

	memset(buf, 0, RSIZE);
	q = p; q.nr_ports = 1;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_ports = 9;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_spads = 15;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_spads = 65;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_msgs = 3;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_msgs = 9;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_mws = 1;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.nr_mws = 5;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.mw_align = 4095;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.mw_align = 2048;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.mw_size = 5000;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ERANGE);
	q = p; q.mw_size = 1 << 20;	/* 4 x 1 MiB + layout > 4 MiB */
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ENOSPC);
	q = p; q.region_size = RSIZE * 2;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ENOSPC);
	q = p; q.region_size = 0x3000;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ENOSPC);
	q = p; q.region_size = 0x3000 + 4 * 4096 - 1;	/* 4 windows do not fit */
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -ENOSPC);
	q = p; q.region_size = 0x3000 + 4 * 4096;	/* they just fit */
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), 0);
	CHECK_EQ(R.geom.win[1][0][1].offset + R.geom.win[1][0][1].size,
		 0x3000 + 4 * 4096);
	CHECK(!R.valid || R.geom.nr_ports == 2);

	/* Foreign magic: refused and untouched unless forced. */
	memset(buf, 0x5a, RSIZE);
	memcpy(before, buf, RSIZE);
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), -ENODEV);
	CHECK(!memcmp(before, buf, RSIZE));
	CHECK_EQ(R.geom.nr_ports, 0);
	q = p; q.flags = IVNTB_INIT_FORCE;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), 0);

	/*
	 * An ivntb region: validated, not written, unless told to
	 * re-initialise it; busy: refused unless forced; epochs carried over.
	 */
	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &me), 0);
	CHECK_EQ(me.epoch, 1);
	memcpy(before, buf, RSIZE);
	q = p; q.nonce = 0x99;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), 0);
	CHECK(!memcmp(before, buf, RSIZE));
	CHECK(R.valid);
	CHECK_EQ(R.geom.nonce, 0x1234);	/* the one that is there */
	q.flags = IVNTB_INIT_REINIT;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -EBUSY);
	CHECK(!memcmp(before, buf, RSIZE));
	q.flags = IVNTB_INIT_FORCE;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), 0);
	CHECK_EQ(R.geom.nonce, 0x99);
	CHECK_EQ(shm()->port[1].claim, IVNTB_CLAIM(IVNTB_PORT_FREE, 1));
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &me), 0);
	CHECK_EQ(me.epoch, 2);
	CHECK_EQ(ivntb_port_release(&R, &me), 0);
	q.flags = IVNTB_INIT_REINIT;	/* not busy */
	q.nonce = 0x77;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), 0);
	CHECK_EQ(R.geom.nonce, 0x77);
	CHECK_EQ(shm()->port[1].claim, IVNTB_CLAIM(IVNTB_PORT_FREE, 2));
}

/*
 * Initialisation is taken by one compare-and-exchange of the magic word
 * (the concurrent case is stress.c's initrace). A region whose magic is
 * IVNTB_MAGIC_INIT is being initialised by another party: validation says
 * -EAGAIN (not "foreign"), an initialiser writes nothing and, once the
 * bounded wait is over, reports what validation says; only a forced
 * initialisation takes it over (a party that died half-way).
 */
static void test_init_in_progress(void)
{
	struct ivntb_init_params p = { .region_size = RSIZE, .nonce = 5 };
	struct ivntb_init_params q;
	struct ivntb_port me;

	/* Another party won on a blank region and has written nothing yet. */
	memset(buf, 0, RSIZE);
	shm()->ctrl.magic = IVNTB_MAGIC_INIT;
	memcpy(before, buf, RSIZE);
	CHECK_EQ(validate_untouched(RSIZE), -EAGAIN);
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), -EAGAIN);
	CHECK(!memcmp(before, buf, RSIZE));
	q = p; q.flags = IVNTB_INIT_REINIT;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), -EAGAIN);
	CHECK(!memcmp(before, buf, RSIZE));

	/* ... has written all but the magic (ready included). */
	fresh(2, 16, 4, 2);
	shm()->ctrl.magic = IVNTB_MAGIC_INIT;
	memcpy(before, buf, RSIZE);
	CHECK_EQ(validate_untouched(RSIZE), -EAGAIN);
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), -EAGAIN);
	CHECK(!memcmp(before, buf, RSIZE));
	CHECK(!R.valid);

	/* ... has stored the magic: the loser validates its header. */
	shm()->ctrl.magic = IVNTB_MAGIC;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), 0);
	CHECK(R.valid);
	CHECK_EQ(R.geom.nonce, 0x1234);

	/* The magic without ready (torn by hand): not valid yet. */
	shm()->ctrl.ready = 0;
	CHECK_EQ(validate_untouched(RSIZE), -EAGAIN);
	shm()->ctrl.ready = IVNTB_READY;

	/* Forced: recovers a region left half-initialised, epochs kept. */
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &me), 0);
	shm()->ctrl.magic = IVNTB_MAGIC_INIT;
	q = p; q.flags = IVNTB_INIT_FORCE;
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &q), 0);
	CHECK_EQ(R.geom.nonce, 5);
	CHECK_EQ(shm()->ctrl.magic, IVNTB_MAGIC);
	CHECK_EQ(shm()->port[0].claim, IVNTB_CLAIM(IVNTB_PORT_FREE, 1));

	/* A blank region: the winner writes the magic last. */
	memset(buf, 0, RSIZE);
	CHECK_EQ(ivntb_region_init(&R, buf, RSIZE, &p), 0);
	CHECK_EQ(shm()->ctrl.magic, IVNTB_MAGIC);
	CHECK_EQ(R.geom.nonce, 5);
}

static void test_validate_errors(void)
{
	struct ivntb_shm *s = shm();
	struct ivntb_ctrl saved;
	struct ivntb_win w01;

	fresh(2, 16, 4, 2);
	CHECK_EQ(validate_untouched(RSIZE), 0);
	CHECK_EQ(validate_untouched(RSIZE + 4096), 0);	/* larger mapping: ok */
	saved = s->ctrl;

	/* Mapping sizes. */
	CHECK_EQ(validate_untouched(0), -ENOSPC);
	CHECK_EQ(validate_untouched(0xff), -ENOSPC);
	CHECK_EQ(validate_untouched(0x2fff), -ENOSPC);
	CHECK_EQ(validate_untouched(RSIZE - 1), -ENOSPC);

	/* Magic. */
	memset(buf, 0, RSIZE);
	CHECK_EQ(validate_untouched(RSIZE), -ENODATA);
	CHECK_EQ(validate_untouched(0x1000), -ENODATA);
	s->ctrl = saved;
	s->ctrl.magic = 0x4c4f4f4b494e4721ULL;
	CHECK_EQ(validate_untouched(RSIZE), -ENODEV);
	CHECK_EQ(validate_untouched(0x100), -ENODEV);	/* tiny but foreign */
	s->ctrl.magic = IVNTB_MAGIC ^ 1;
	CHECK_EQ(validate_untouched(RSIZE), -ENODEV);

#define CORRUPT(stmt, err)						\
	do {								\
		fresh(2, 16, 4, 2);					\
		stmt;							\
		CHECK_EQ(validate_untouched(RSIZE), err);		\
	} while (0)

	CORRUPT(s->ctrl.ready = 0, -EAGAIN);
	CORRUPT(s->ctrl.ready = IVNTB_READY + 1, -EAGAIN);
	CORRUPT(s->ctrl.version_major = 2, -EPROTO);
	CORRUPT(s->ctrl.version_major = 0, -EPROTO);
	CORRUPT(s->ctrl.version_minor = 77, 0);	/* newer minor: compatible */
	CORRUPT(s->ctrl.ports_offset = 0x2000, -EPROTO);
	CORRUPT(s->ctrl.port_slot_size = 0x400, -EPROTO);
	CORRUPT(s->ctrl.wintab_offset = 0, -EPROTO);
	CORRUPT(s->ctrl.layout_size = 0x2fc0, -ERANGE);
	CORRUPT(s->ctrl.layout_size = 0x3001, -ERANGE);
	CORRUPT(s->ctrl.layout_size = 0x4000, 0);	/* minor growth, fits */
	CORRUPT(s->ctrl.layout_size = 0x80040, -EADDRINUSE);	/* covers w0 */
	CORRUPT(s->ctrl.region_size = RSIZE + 4096, -ENOSPC);
	CORRUPT(s->ctrl.region_size = 0x2000, -ERANGE);
	CORRUPT(s->ctrl.region_size = ~0ULL, -ERANGE);
	CORRUPT(s->ctrl.region_size = RSIZE / 2, -EFAULT);	/* windows out */
	CORRUPT(s->ctrl.nr_ports = 1, -ERANGE);
	CORRUPT(s->ctrl.nr_ports = 9, -ERANGE);
	CORRUPT(s->ctrl.nr_ports = 0xffff, -ERANGE);
	CORRUPT(s->ctrl.nr_ports = 3, -EFAULT);	/* empty windows for port 2 */
	CORRUPT(s->ctrl.nr_spads = 15, -ERANGE);
	CORRUPT(s->ctrl.nr_spads = 65, -ERANGE);
	CORRUPT(s->ctrl.nr_spads = 64, 0);
	CORRUPT(s->ctrl.nr_msgs = 3, -ERANGE);
	CORRUPT(s->ctrl.nr_msgs = 9, -ERANGE);
	CORRUPT(s->ctrl.nr_mws = 1, -ERANGE);
	CORRUPT(s->ctrl.nr_mws = 5, -ERANGE);
	CORRUPT(s->ctrl.nr_mws = 3, -EFAULT);	/* third windows empty */
	CORRUPT(s->ctrl.mw_align = 0, -ERANGE);
	CORRUPT(s->ctrl.mw_align = 2048, -ERANGE);
	CORRUPT(s->ctrl.mw_align = 12288, -ERANGE);
	CORRUPT(s->ctrl.mw_align = RSIZE * 2, -ERANGE);
	CORRUPT(s->ctrl.mw_align = 1 << 20, -EFAULT);	/* 512 KiB windows */

	/* Window table. */
	CORRUPT(s->wintab[0][1][0].offset += 1, -EFAULT);
	CORRUPT(s->wintab[0][1][0].size = 0, -EFAULT);
	CORRUPT(s->wintab[0][1][0].size += 100, -EFAULT);
	CORRUPT(s->wintab[1][0][1].offset = RSIZE, -EFAULT);
	CORRUPT(s->wintab[1][0][1].size = RSIZE, -EFAULT);
	CORRUPT(s->wintab[1][0][1].offset = ~0ULL & ~0xfffULL, -EFAULT);
	CORRUPT((s->wintab[1][0][1].offset = 0x1000,
		 s->wintab[1][0][1].size = ~0ULL & ~0xfffULL), -EFAULT);
	CORRUPT(s->wintab[1][0][1].offset = 0x2000, -EADDRINUSE);
	CORRUPT(s->wintab[1][0][1].offset = s->wintab[0][1][0].offset,
		-EADDRINUSE);
	CORRUPT(s->wintab[1][0][1].offset = s->wintab[0][1][0].offset +
					     0x1000, -EADDRINUSE);
	CORRUPT(s->wintab[0][1][0].size *= 2, -EADDRINUSE);	/* into w1 */
	/* Unused entries are ignored. */
	CORRUPT(s->wintab[0][0][0].size = 4096, 0);
	CORRUPT(s->wintab[5][6][3].offset = ~0ULL, 0);
	CORRUPT(s->wintab[0][1][3].size = 1, 0);

	/* Swapping two windows is fine (explicit table, not a formula). */
	fresh(2, 16, 4, 2);
	w01 = s->wintab[0][1][0];
	s->wintab[0][1][0] = s->wintab[1][0][1];
	s->wintab[1][0][1] = w01;
	CHECK_EQ(validate_untouched(RSIZE), 0);
#undef CORRUPT
}

static void test_invalid_region_ops(void)
{
	struct ivntb_port me = { .port = 0 }, me2;
	struct ivntb_peer_state ps;
	u32 v;

	fresh(2, 16, 4, 2);
	shm()->ctrl.version_major = 9;
	CHECK_EQ(ivntb_region_validate(&R, buf, RSIZE), -EPROTO);
	/* Every op refuses: the geometry copy is empty. */
	CHECK_EQ(ivntb_port_claim(&R, -1, 0, &me2), -EINVAL);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &me2), -EINVAL);
	CHECK_EQ(ivntb_port_takeover(&R, 0, 0, 0, &me2), -EINVAL);
	CHECK_EQ(ivntb_db_ring(&R, 0, 1), -EINVAL);
	CHECK_EQ(ivntb_db_read(&R, &me), 0);
	CHECK_EQ(ivntb_db_clear(&R, &me, 1), -EINVAL);
	CHECK_EQ(ivntb_event_seq(&R, &me), 0);
	CHECK_EQ(ivntb_spad_read(&R, 0, 0, &v), -EINVAL);
	CHECK_EQ(ivntb_spad_write(&R, 0, 0, 1), -EINVAL);
	CHECK_EQ(ivntb_msg_send(&R, &me, 1, 0, 1), -EINVAL);
	CHECK_EQ(ivntb_msg_read(&R, &me, 0, &v, &v), -EINVAL);
	CHECK_EQ(ivntb_msg_ack(&R, &me, 0), -EINVAL);
	CHECK_EQ(ivntb_msg_reap(&R, &me), -EINVAL);
	CHECK_EQ(ivntb_peer_snapshot(&R, 0, &ps), -EINVAL);
	CHECK_EQ(ivntb_heartbeat(&R, &me), -EINVAL);
	CHECK_EQ(ivntb_link_set(&R, &me, true), -EINVAL);
	CHECK_EQ(ivntb_port_release(&R, &me), -EINVAL);
	CHECK(ivntb_mw_ptr(&R, 0, 1, 0) == NULL);
	CHECK_EQ(shm()->port[0].claim, 0);	/* nothing written */
}

static void test_claim_release(void)
{
	struct ivntb_port a, b, c;
	u64 seq0;

	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, -1, 0xaa, &a), 0);
	CHECK_EQ(a.port, 0);
	CHECK_EQ(a.epoch, 1);
	CHECK_EQ(shm()->port[0].claim, IVNTB_CLAIM(IVNTB_PORT_CLAIMED, 1));
	CHECK_EQ(shm()->port[0].owner_tag, 0xaa);
	CHECK_EQ(shm()->port[0].ver_major, IVNTB_VERSION_MAJOR);
	seq0 = ivntb_event_seq(&R, &a);
	CHECK_EQ(ivntb_port_claim(&R, -1, 0xbb, &b), 0);
	CHECK_EQ(b.port, 1);
	CHECK_EQ(ivntb_event_seq(&R, &a), seq0 + 1);	/* peer state change */
	CHECK_EQ(ivntb_port_claim(&R, -1, 0, &c), -EBUSY);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &c), -EBUSY);
	CHECK_EQ(ivntb_port_claim(&R, 2, 0, &c), -EINVAL);
	CHECK_EQ(ivntb_port_claim(&R, 200, 0, &c), -EINVAL);
	CHECK_EQ(ivntb_port_check(&R, &a), 0);

	CHECK_EQ(ivntb_port_release(&R, &a), 0);
	CHECK_EQ(shm()->port[0].claim, IVNTB_CLAIM(IVNTB_PORT_FREE, 1));
	CHECK_EQ(ivntb_port_release(&R, &a), -ESTALE);
	CHECK_EQ(ivntb_port_check(&R, &a), -ESTALE);
	CHECK_EQ(ivntb_event_seq(&R, &b), 2);	/* a claimed, a released */
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &c), 0);
	CHECK_EQ(c.epoch, 2);				/* new epoch per attach */
	CHECK_EQ(ivntb_heartbeat(&R, &a), -ESTALE);	/* old handle */

	/* Pinned claim of a free port; garbage claim words are skipped. */
	fresh(4, 16, 4, 2);
	shm()->port[0].claim = IVNTB_CLAIM(IVNTB_PORT_FREE, 5) | 0x100;
	shm()->port[1].claim = IVNTB_CLAIM(7, 5);
	CHECK_EQ(ivntb_port_claim(&R, -1, 0, &a), 0);
	CHECK_EQ(a.port, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &b), -EBUSY);
	CHECK_EQ(ivntb_port_claim(&R, 3, 0, &b), 0);
	CHECK_EQ(b.port, 3);
	/* Epoch wrap skips 0. */
	shm()->port[3].claim = IVNTB_CLAIM(IVNTB_PORT_FREE, 0xffffffffU);
	shm()->port[2].claim = IVNTB_CLAIM(IVNTB_PORT_FREE, 0);
	CHECK_EQ(ivntb_port_claim(&R, 3, 0, &b), 0);
	CHECK_EQ(b.epoch, 1);
}

static void test_takeover(void)
{
	struct ivntb_port a, b, c;
	struct ivntb_peer_state s;

	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &a), 0);
	CHECK_EQ(ivntb_link_set(&R, &a, true), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(s.link_enabled);
	/* a "dies"; b observed the claim word and takes over. */
	CHECK_EQ(ivntb_port_takeover(&R, 1, s.claim, 0x77, &b), 0);
	CHECK_EQ(b.epoch, a.epoch + 1);
	/* A second taker with the same observation loses. */
	CHECK_EQ(ivntb_port_takeover(&R, 1, s.claim, 0x88, &c), -EAGAIN);
	CHECK_EQ(ivntb_port_takeover(&R, 2, s.claim, 0x88, &c), -EINVAL);
	/* The old owner learns it lost the port. */
	CHECK_EQ(ivntb_heartbeat(&R, &a), -ESTALE);
	CHECK_EQ(ivntb_link_set(&R, &a, true), -ESTALE);
	CHECK_EQ(ivntb_port_release(&R, &a), -ESTALE);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.epoch, b.epoch);
	CHECK_EQ(s.owner_tag, 0x77);
	CHECK(!s.link_enabled);	/* the new owner has not enabled yet */
	/* A stale enable written by the zombie owner does not count. */
	shm()->port[1].link = IVNTB_LINK(a.epoch, IVNTB_LINK_ENABLE);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(!s.link_enabled);
	CHECK(!ivntb_peer_link_ok(&s));
	/* The zombie cannot touch its successor's link word. */
	CHECK_EQ(ivntb_link_set(&R, &b, true), 0);
	CHECK_EQ(ivntb_link_set(&R, &a, false), -ESTALE);
	CHECK_EQ(ivntb_port_release(&R, &a), -ESTALE);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(s.link_enabled);
	CHECK_EQ(shm()->port[1].link, IVNTB_LINK(b.epoch, IVNTB_LINK_ENABLE));
	/* A scribbled link word (foreign epoch) is repaired by the owner. */
	shm()->port[1].link = IVNTB_LINK(b.epoch + 5, IVNTB_LINK_ENABLE);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(!s.link_enabled);
	CHECK_EQ(ivntb_link_set(&R, &b, true), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(s.link_enabled);
	/* Takeover of a free port from its exact word works like a claim. */
	CHECK_EQ(ivntb_port_release(&R, &b), 0);
	CHECK_EQ(ivntb_port_takeover(&R, 1, shm()->port[1].claim, 0, &c), 0);
	CHECK_EQ(c.epoch, b.epoch + 1);
}

static void test_heartbeat_link_snapshot(void)
{
	struct ivntb_port a, b;
	struct ivntb_peer_state s;
	u64 hb, seq;

	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.state, IVNTB_PORT_FREE);
	CHECK(!ivntb_peer_link_ok(&s));
	memset(&s, 0x5a, sizeof(s));
	CHECK_EQ(ivntb_peer_snapshot(&R, 2, &s), -EINVAL);
	CHECK_EQ(s.state, IVNTB_PORT_INVALID);
	CHECK(!ivntb_peer_link_ok(&s));
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0x42, &b), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.state, IVNTB_PORT_CLAIMED);
	CHECK_EQ(s.port, 1);
	CHECK_EQ(s.epoch, 1);
	CHECK_EQ(s.owner_tag, 0x42);
	CHECK_EQ(s.db_mask, ~0ULL);
	CHECK(!s.link_enabled);
	CHECK(s.compatible);
	CHECK(!ivntb_peer_link_ok(&s));
	hb = s.heartbeat;
	CHECK_EQ(ivntb_heartbeat(&R, &b), 0);
	CHECK_EQ(ivntb_heartbeat(&R, &b), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.heartbeat, hb + 2);

	seq = ivntb_event_seq(&R, &a);
	CHECK_EQ(ivntb_link_set(&R, &b, true), 0);
	CHECK_EQ(ivntb_event_seq(&R, &a), seq + 1);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(s.link_enabled);
	CHECK(ivntb_peer_link_ok(&s));
	CHECK_EQ(ivntb_link_set(&R, &b, false), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(!ivntb_peer_link_ok(&s));
	CHECK_EQ(ivntb_link_set(&R, &b, true), 0);

	/* Incompatible major version: link not ok. */
	shm()->port[1].ver_major = 2;
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(!s.compatible);
	CHECK(!ivntb_peer_link_ok(&s));
	shm()->port[1].ver_major = IVNTB_VERSION_MAJOR;
	/* Newer minor: fine. */
	shm()->port[1].ver_minor = 9;
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK(ivntb_peer_link_ok(&s));

	/* Malformed claim words. */
	shm()->port[1].claim = IVNTB_CLAIM(3, 1);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), -EBADMSG);
	CHECK_EQ(s.state, IVNTB_PORT_INVALID);
	CHECK_EQ(s.claim, IVNTB_CLAIM(3, 1));
	CHECK(!ivntb_peer_link_ok(&s));
	shm()->port[1].claim = IVNTB_CLAIM(IVNTB_PORT_CLAIMED, 1) | 0x8000;
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), -EBADMSG);
	CHECK(!ivntb_peer_link_ok(&s));

	/* Release: link off, peers notified. */
	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_link_set(&R, &b, true), 0);
	seq = ivntb_event_seq(&R, &a);
	CHECK_EQ(ivntb_port_release(&R, &b), 0);
	CHECK_EQ(ivntb_event_seq(&R, &a), seq + 1);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.state, IVNTB_PORT_FREE);
	CHECK(!s.link_enabled);
}

/* Protocol 1.2 link generations: owner-written, per peer, reset by a claim. */
static void test_link_gen(void)
{
	struct ivntb_port a, b, c, b2;
	struct ivntb_peer_state s;
	u64 seq_b, seq_c;
	u16 step = 0;
	u32 i;

	fresh(3, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_port_claim(&R, 2, 0, &c), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 0, &s), 0);
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		CHECK_EQ(s.link_gen[i], 0);

	/* a bumps toward b only; b's event counter moves, c's does not */
	seq_b = ivntb_event_seq(&R, &b);
	seq_c = ivntb_event_seq(&R, &c);
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 1), 0);
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 1), 0);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq_b + 2);
	CHECK_EQ(ivntb_event_seq(&R, &c), seq_c);
	CHECK_EQ(ivntb_peer_snapshot(&R, 0, &s), 0);
	CHECK_EQ(s.link_gen[1], 2);
	CHECK_EQ(s.link_gen[2], 0);
	CHECK_EQ(shm()->port[0].link_gen[1], 2);

	/* bad arguments: ourselves, out of range, not our port */
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 0), -EINVAL);
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 3), -EINVAL);
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 0xffffffffU), -EINVAL);

	/* wraps modulo 2^16, past the value c acks (0 from its claim) */
	shm()->port[0].link_gen[2] = 0xffff;
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 2), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 0, &s), 0);
	CHECK_EQ(s.link_gen[2], 1);
	shm()->port[0].link_gen[2] = 0xffff;
	shm()->wake[2].link_ack[0] = 1;
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 2), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 0, &s), 0);
	CHECK_EQ(s.link_gen[2], 0);

	/* the step taken: 2 where the value c acks was skipped, else 1 */
	shm()->port[0].link_gen[2] = 0xffff;
	shm()->wake[2].link_ack[0] = 0;
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 2, &step), 0);
	CHECK_EQ(step, 2);
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 2, &step), 0);
	CHECK_EQ(step, 1);
	CHECK_EQ(shm()->port[0].link_gen[2], 2);
	step = 9;
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 0, &step), -EINVAL);
	CHECK_EQ(step, 9);

	/* a takeover resets the generations with the new epoch */
	CHECK_EQ(ivntb_link_gen_bump(&R, &b, 0), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.link_gen[0], 1);
	CHECK_EQ(ivntb_port_takeover(&R, 1, s.claim, 0, &b2), 0);
	CHECK_EQ(ivntb_link_gen_bump(&R, &b, 0), -ESTALE);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.link_gen[0], 0);
	CHECK_EQ(s.epoch, b2.epoch);
}

/*
 * Protocol 1.4 link acks: owner-written in the wake line, per peer; the ack
 * zeroes the peer's scratchpads in a two-port region only, reset by a claim,
 * and reads as absent from an owner older than 1.4.
 */
static void test_link_ack(void)
{
	struct ivntb_port a, b, c, b2;
	struct ivntb_peer_state s;
	u64 seq_a;
	u16 gen, step = 0;
	u32 v;

	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_link_ack_get(&R, 1, 0, &gen), 0);
	CHECK_EQ(gen, 0);
	/* a announces a generation toward b; b acks it, wiping a's spads */
	CHECK_EQ(ivntb_link_gen_bump(&R, &a, 1), 0);
	CHECK_EQ(ivntb_link_gen_get(&R, &a, 1, &gen), 0);
	CHECK_EQ(gen, 1);
	CHECK_EQ(ivntb_spad_write(&R, 0, 3, 0x1234), 0);
	CHECK_EQ(ivntb_spad_write(&R, 1, 3, 0x5678), 0);
	seq_a = ivntb_event_seq(&R, &a);
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 0, 1, true), 0);
	CHECK_EQ(ivntb_event_seq(&R, &a), seq_a + 1);
	CHECK_EQ(ivntb_link_ack_get(&R, 1, 0, &gen), 0);
	CHECK_EQ(gen, 1);
	CHECK_EQ(shm()->wake[1].link_ack[0], 1);
	CHECK_EQ(ivntb_spad_read(&R, 0, 3, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(ivntb_spad_read(&R, 1, 3, &v), 0);
	CHECK_EQ(v, 0x5678);	/* its own slot is not its to wipe */
	/* an ack without the wipe (a first sight) leaves them */
	CHECK_EQ(ivntb_spad_write(&R, 0, 3, 0x1234), 0);
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 0, 1, false), 0);
	CHECK_EQ(ivntb_spad_read(&R, 0, 3, &v), 0);
	CHECK_EQ(v, 0x1234);
	/* bad arguments */
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 1, 1, true), -EINVAL);
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 2, 1, true), -EINVAL);
	CHECK_EQ(ivntb_link_ack_get(&R, 2, 0, &gen), -EINVAL);
	CHECK_EQ(ivntb_link_gen_get(&R, &a, 2, &gen), -EINVAL);
	/* an owner older than 1.4 never acks */
	shm()->port[1].ver_minor = 3;
	CHECK_EQ(ivntb_link_ack_get(&R, 1, 0, &gen), -ENODATA);
	shm()->port[1].ver_minor = IVNTB_VERSION_MINOR;
	/* a takeover resets the acks with the new epoch */
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(ivntb_port_takeover(&R, 1, s.claim, 0, &b2), 0);
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 0, 2, true), -ESTALE);
	CHECK_EQ(ivntb_link_ack_get(&R, 1, 0, &gen), 0);
	CHECK_EQ(gen, 0);

	/*
	 * A restarted announcer skips the generation the acker still acks
	 * for its previous instance (acks carry no epoch), and only that one.
	 */
	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	shm()->wake[1].link_ack[0] = 1;		/* a's last instance's */
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 1, &step), 0);
	CHECK_EQ(step, 2);
	CHECK_EQ(ivntb_link_gen_get(&R, &a, 1, &gen), 0);
	CHECK_EQ(gen, 2);
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 0, 2, false), 0);
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 1, &step), 0);
	CHECK_EQ(step, 1);
	CHECK_EQ(ivntb_link_gen_get(&R, &a, 1, &gen), 0);
	CHECK_EQ(gen, 3);
	/* across the wrap, and not for an acker older than 1.4 */
	shm()->port[0].link_gen[1] = 0xffff;
	shm()->wake[1].link_ack[0] = 0;
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 1, &step), 0);
	CHECK_EQ(step, 2);
	CHECK_EQ(ivntb_link_gen_get(&R, &a, 1, &gen), 0);
	CHECK_EQ(gen, 1);
	shm()->wake[1].link_ack[0] = 2;
	shm()->port[1].ver_minor = 3;
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 1, &step), 0);
	CHECK_EQ(step, 1);
	CHECK_EQ(ivntb_link_gen_get(&R, &a, 1, &gen), 0);
	CHECK_EQ(gen, 2);
	shm()->port[1].ver_minor = IVNTB_VERSION_MINOR;

	/* with three ports the spads are everyone's: the ack leaves them */
	fresh(3, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_port_claim(&R, 2, 0, &c), 0);
	CHECK_EQ(ivntb_spad_write(&R, 0, 3, 0x1234), 0);
	CHECK_EQ(ivntb_link_ack_publish(&R, &b, 0, 1, true), 0);
	CHECK_EQ(ivntb_spad_read(&R, 0, 3, &v), 0);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(ivntb_link_ack_get(&R, 1, 0, &gen), 0);
	CHECK_EQ(gen, 1);
}

/*
 * The ..._publish()/_free() halves change shared state and notify nobody;
 * ivntb_notify*() is the other half: the driver calls it after dropping a
 * lock taken with interrupts off.
 */
static void test_publish_notify(void)
{
	struct ivntb_port a, b, c;
	struct ivntb_peer_state s;
	u64 seq_a, seq_b, seq_c;
	u32 src = 0xff;

	fresh(3, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_port_claim(&R, 2, 0, &c), 0);
	seq_a = ivntb_event_seq(&R, &a);
	seq_b = ivntb_event_seq(&R, &b);
	seq_c = ivntb_event_seq(&R, &c);

	CHECK_EQ(ivntb_link_publish(&R, &a, true), 0);
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 2, NULL), 0);
	CHECK_EQ(ivntb_peer_snapshot(&R, 0, &s), 0);
	CHECK(s.link_enabled);
	CHECK_EQ(s.link_gen[2], 1);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq_b);	/* nobody told */
	CHECK_EQ(ivntb_event_seq(&R, &c), seq_c);
	ivntb_notify_others(&R, &a);
	CHECK_EQ(ivntb_event_seq(&R, &a), seq_a);	/* not ourselves */
	CHECK_EQ(ivntb_event_seq(&R, &b), seq_b + 1);
	CHECK_EQ(ivntb_event_seq(&R, &c), seq_c + 1);
	CHECK_EQ(ivntb_notify(&R, 2), 0);
	CHECK_EQ(ivntb_event_seq(&R, &c), seq_c + 2);
	CHECK_EQ(ivntb_notify(&R, 3), -EINVAL);
	CHECK_EQ(ivntb_notify(&R, 0xffffffffU), -EINVAL);
	CHECK_EQ(ivntb_link_gen_publish(&R, &a, 0, NULL), -EINVAL);

	/* b sends to a; a frees the register: b is told only by notify */
	CHECK_EQ(ivntb_msg_send(&R, &b, 0, 1, 0x1234), 0);
	seq_b = ivntb_event_seq(&R, &b);
	CHECK_EQ(ivntb_msg_free(&R, &a, 1, &src), 0);
	CHECK_EQ(src, 1);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq_b);
	CHECK_EQ(ivntb_msg_free(&R, &a, 1, &src), -ENOMSG);
	CHECK_EQ(ivntb_msg_free(&R, &a, 4, &src), -EINVAL);
	CHECK_EQ(ivntb_msg_send(&R, &b, 0, 1, 0x5678), 0);	/* free again */

	/* void: only a message from that port and another epoch is freed */
	CHECK_EQ(ivntb_msg_void(&R, &a, 1, 1, b.epoch), -ENOMSG);
	CHECK_EQ(ivntb_msg_void(&R, &a, 1, 2, b.epoch + 1), -ENOMSG);
	CHECK_EQ(ivntb_msg_status(&R, &a), 1ULL << 1);
	seq_b = ivntb_event_seq(&R, &b);
	CHECK_EQ(ivntb_msg_void(&R, &a, 1, 1, b.epoch + 1), 0);
	CHECK_EQ(ivntb_msg_status(&R, &a), 0);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq_b);	/* nobody told */
	CHECK_EQ(ivntb_msg_void(&R, &a, 1, 1, b.epoch + 1), -ENOMSG);
	CHECK_EQ(ivntb_msg_void(&R, &a, 4, 1, 0), -EINVAL);
	CHECK_EQ(ivntb_msg_send(&R, &b, 0, 1, 0x5678), 0);	/* free again */

	/* a stale owner publishes nothing */
	CHECK_EQ(ivntb_peer_snapshot(&R, 2, &s), 0);
	CHECK_EQ(ivntb_port_takeover(&R, 2, s.claim, 0, &b), 0);
	CHECK_EQ(ivntb_link_publish(&R, &c, true), -ESTALE);
	CHECK_EQ(ivntb_link_gen_publish(&R, &c, 0, NULL), -ESTALE);
}

static void test_doorbells(void)
{
	struct ivntb_port a, b;
	struct ivntb_peer_state s;
	u64 seq;

	fresh(2, 16, 4, 2);
	/* Bits rung before the owner attached are discarded at claim. */
	CHECK_EQ(ivntb_db_ring(&R, 1, 0xf0), 0);
	CHECK_EQ(shm()->port[1].db, 0xf0);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_db_read(&R, &b), 0);

	CHECK_EQ(ivntb_db_ring(&R, 2, 1), -EINVAL);
	CHECK_EQ(ivntb_db_ring(&R, ~0U, 1), -EINVAL);
	seq = ivntb_event_seq(&R, &b);
	CHECK_EQ(ivntb_db_ring(&R, 1, 0), 0);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq);	/* nothing rung */
	CHECK_EQ(ivntb_db_ring(&R, 1, 0x5), 0);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq + 1);
	CHECK_EQ(ivntb_db_ring(&R, 1, 0x8000000000000004ULL), 0);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq + 2);
	CHECK_EQ(ivntb_db_read(&R, &b), 0x8000000000000005ULL);
	CHECK_EQ(ivntb_db_read(&R, &a), 0);
	CHECK_EQ(ivntb_db_take(&R, &b, 0x1), 0x1);
	CHECK_EQ(ivntb_db_take(&R, &b, 0x1), 0);
	CHECK_EQ(ivntb_db_read(&R, &b), 0x8000000000000004ULL);
	CHECK_EQ(ivntb_db_clear(&R, &b, 0x4), 0);
	CHECK_EQ(ivntb_db_read(&R, &b), 0x8000000000000000ULL);
	CHECK_EQ(ivntb_db_take(&R, &b, ~0ULL), 0x8000000000000000ULL);
	CHECK_EQ(ivntb_db_read(&R, &b), 0);
	/* Ring to self works (loopback). */
	CHECK_EQ(ivntb_db_ring(&R, 0, 2), 0);
	CHECK_EQ(ivntb_db_read(&R, &a), 2);

	ivntb_db_mask_store(&R, &b, 0x3c);
	CHECK_EQ(ivntb_peer_snapshot(&R, 1, &s), 0);
	CHECK_EQ(s.db_mask, 0x3c);
	a.port = 9;	/* corrupted handle */
	CHECK_EQ(ivntb_db_read(&R, &a), 0);
	CHECK_EQ(ivntb_db_clear(&R, &a, 1), -EINVAL);
	CHECK_EQ(ivntb_db_take(&R, &a, 1), 0);
	CHECK_EQ(ivntb_event_seq(&R, &a), 0);
	ivntb_db_mask_store(&R, &a, 1);
	CHECK_EQ(ivntb_port_check(&R, &a), -EINVAL);
	CHECK_EQ(ivntb_port_check(&R, NULL), -EINVAL);
}

static void test_spads(void)
{
	u32 v, i;

	fresh(2, 16, 4, 2);
	for (i = 0; i < 16; i++)
		CHECK_EQ(ivntb_spad_write(&R, 1, i, 0xabc00000 + i), 0);
	CHECK_EQ(ivntb_spad_write(&R, 0, 3, 0x1234), 0);
	for (i = 0; i < 16; i++) {
		CHECK_EQ(ivntb_spad_read(&R, 1, i, &v), 0);
		CHECK_EQ(v, 0xabc00000 + i);
	}
	CHECK_EQ(ivntb_spad_read(&R, 0, 3, &v), 0);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(shm()->port[1].spad[5], 0xabc00005);
	CHECK_EQ(ivntb_spad_read(&R, 1, 16, &v), -EINVAL);
	CHECK_EQ(ivntb_spad_write(&R, 1, 16, 1), -EINVAL);
	CHECK_EQ(ivntb_spad_read(&R, 2, 0, &v), -EINVAL);
	CHECK_EQ(ivntb_spad_write(&R, 2, 0, 1), -EINVAL);
	CHECK_EQ(shm()->port[1].spad[16], 0);

	fresh(2, 64, 4, 2);
	CHECK_EQ(ivntb_spad_write(&R, 1, 63, 7), 0);
	CHECK_EQ(ivntb_spad_read(&R, 1, 63, &v), 0);
	CHECK_EQ(v, 7);
	CHECK_EQ(ivntb_spad_read(&R, 1, 64, &v), -EINVAL);
}

static void test_messages(void)
{
	struct ivntb_port a, b, c;
	u32 data, src;
	u64 seq;

	fresh(3, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_port_claim(&R, 2, 0, &c), 0);
	CHECK_EQ(ivntb_msg_status(&R, &b), 0);
	CHECK_EQ(ivntb_msg_read(&R, &b, 0, &data, &src), -ENOMSG);
	CHECK_EQ(ivntb_msg_ack(&R, &b, 0), -ENOMSG);

	seq = ivntb_event_seq(&R, &b);
	CHECK_EQ(ivntb_msg_send(&R, &a, 1, 2, 0xcafe), 0);
	CHECK_EQ(ivntb_event_seq(&R, &b), seq + 1);
	CHECK_EQ(ivntb_msg_status(&R, &b), 0x4);
	CHECK_EQ(ivntb_msg_send(&R, &a, 1, 2, 0xbeef), -EBUSY);	/* never overwritten */
	CHECK_EQ(ivntb_msg_send(&R, &c, 1, 2, 0xbeef), -EBUSY);
	CHECK_EQ(ivntb_msg_send(&R, &c, 1, 3, 0xf00d), 0);
	CHECK_EQ(ivntb_msg_status(&R, &b), 0xc);
	CHECK_EQ(ivntb_msg_read(&R, &b, 2, &data, &src), 0);
	CHECK_EQ(data, 0xcafe);
	CHECK_EQ(src, 0);
	CHECK_EQ(ivntb_msg_read(&R, &b, 2, &data, &src), 0);	/* idempotent */
	CHECK_EQ(ivntb_msg_read(&R, &b, 3, &data, &src), 0);
	CHECK_EQ(data, 0xf00d);
	CHECK_EQ(src, 2);

	seq = ivntb_event_seq(&R, &a);
	CHECK_EQ(ivntb_msg_ack(&R, &b, 2), 0);
	CHECK_EQ(ivntb_event_seq(&R, &a), seq + 1);	/* sender told */
	CHECK_EQ(ivntb_msg_ack(&R, &b, 2), -ENOMSG);
	CHECK_EQ(ivntb_msg_status(&R, &b), 0x8);
	CHECK_EQ(ivntb_msg_send(&R, &a, 1, 2, 0xbeef), 0);
	CHECK_EQ(ivntb_msg_read(&R, &b, 2, &data, &src), 0);
	CHECK_EQ(data, 0xbeef);

	/* Bounds. */
	CHECK_EQ(ivntb_msg_send(&R, &a, 3, 0, 1), -EINVAL);
	CHECK_EQ(ivntb_msg_send(&R, &a, 1, 4, 1), -EINVAL);
	CHECK_EQ(ivntb_msg_read(&R, &b, 4, &data, &src), -EINVAL);
	CHECK_EQ(ivntb_msg_ack(&R, &b, 4), -EINVAL);
	CHECK_EQ(shm()->port[1].msg[4].state, 0);

	/* Malformed register: source out of range, reserved bits. */
	shm()->port[0].msg[0].state = IVNTB_MSG(IVNTB_MSG_FULL, 7, 1);
	CHECK_EQ(ivntb_msg_status(&R, &a), 1);
	CHECK_EQ(ivntb_msg_read(&R, &a, 0, &data, &src), -EBADMSG);
	CHECK_EQ(ivntb_msg_ack(&R, &a, 0), 0);	/* owner can still clear it */
	shm()->port[0].msg[1].state = IVNTB_MSG(IVNTB_MSG_FULL, 1, 1) | 0x10000;
	CHECK_EQ(ivntb_msg_read(&R, &a, 1, &data, &src), -EBADMSG);
	shm()->port[0].msg[1].state = 0x99;	/* unknown state */
	CHECK_EQ(ivntb_msg_read(&R, &a, 1, &data, &src), -ENOMSG);
	CHECK_EQ(ivntb_msg_status(&R, &a), 0);
	CHECK_EQ(ivntb_msg_send(&R, &b, 0, 1, 1), -EBUSY);

	/* Reap: WRITING from a dead sender is freed, from a live one kept. */
	fresh(3, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	shm()->port[0].msg[0].state = IVNTB_MSG(IVNTB_MSG_WRITING, 1, b.epoch);
	shm()->port[0].msg[1].state = IVNTB_MSG(IVNTB_MSG_WRITING, 1, b.epoch - 1);
	shm()->port[0].msg[2].state = IVNTB_MSG(IVNTB_MSG_WRITING, 2, 1);
	shm()->port[0].msg[3].state = IVNTB_MSG(IVNTB_MSG_WRITING, 200, 1);
	CHECK_EQ(ivntb_msg_reap(&R, &a), 3);
	CHECK_EQ(shm()->port[0].msg[0].state,
		 IVNTB_MSG(IVNTB_MSG_WRITING, 1, b.epoch));
	CHECK_EQ(shm()->port[0].msg[1].state, 0);
	CHECK_EQ(ivntb_port_release(&R, &b), 0);
	CHECK_EQ(ivntb_msg_reap(&R, &a), 1);	/* sender released */
	CHECK_EQ(ivntb_msg_reap(&R, &a), 0);

	/* Claim discards FULL messages left for a previous owner. */
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_msg_send(&R, &a, 1, 0, 5), 0);
	CHECK_EQ(ivntb_port_release(&R, &b), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_msg_status(&R, &b), 0);
}

static void test_irq_id(void)
{
	struct ivntb_port a, b;
	u32 id = 77;

	fresh(2, 16, 4, 2);
	CHECK_EQ(offsetof(struct ivntb_port_slot, irq_id), 0x24);
	CHECK_EQ(ivntb_port_claim(&R, -1, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, -1, 0, &b), 0);
	CHECK_EQ(ivntb_irq_id_get(&R, a.port, &id), 0);
	CHECK_EQ(id, 0);				/* polls */
	CHECK_EQ(ivntb_irq_id_set(&R, &a, 1 + 3), 0);
	CHECK_EQ(ivntb_irq_id_get(&R, a.port, &id), 0);
	CHECK_EQ(id, 4);
	CHECK_EQ(ivntb_irq_id_get(&R, 2, &id), -EINVAL);	/* no such port */
	/* a hostile value is refused, not used */
	shm()->port[1].irq_id = IVNTB_IRQ_ID_MAX + 1;
	id = 5;
	CHECK_EQ(ivntb_irq_id_get(&R, 1, &id), -ERANGE);
	CHECK_EQ(id, 5);
	shm()->port[1].irq_id = IVNTB_IRQ_ID_MAX;	/* peer ID 0xffff */
	CHECK_EQ(ivntb_irq_id_get(&R, 1, &id), 0);
	CHECK_EQ(id, IVNTB_IRQ_ID_MAX);
	/* a new owner starts polling; a stale handle cannot publish */
	CHECK_EQ(ivntb_port_release(&R, &a), 0);
	CHECK_EQ(ivntb_irq_id_set(&R, &a, 9), -ESTALE);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_irq_id_get(&R, 0, &id), 0);
	CHECK_EQ(id, 0);
}

static void test_region_intact(void)
{
	u64 nonce;

	fresh(2, 16, 4, 2);
	CHECK(ivntb_region_intact(&R));
	nonce = shm()->ctrl.nonce;
	shm()->ctrl.nonce ^= 1;			/* re-initialised */
	CHECK(!ivntb_region_intact(&R));
	shm()->ctrl.nonce = nonce;
	CHECK(ivntb_region_intact(&R));
	shm()->ctrl.nr_ports = 8;		/* lying geometry */
	CHECK(!ivntb_region_intact(&R));
	shm()->ctrl.nr_ports = 2;
	shm()->ctrl.magic = 0;
	CHECK(!ivntb_region_intact(&R));
	shm()->ctrl.magic = IVNTB_MAGIC;
	CHECK(ivntb_region_intact(&R));
	/* slots and windows are not the header: scribbles there are fine */
	shm()->port[1].claim = ~0ULL;
	CHECK(ivntb_region_intact(&R));
}

static void test_dump(void)
{
	struct ivntb_port a, b;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	fresh(2, 16, 4, 2);
	CHECK_EQ(ivntb_port_claim(&R, 0, 0, &a), 0);
	CHECK_EQ(ivntb_port_claim(&R, 1, 0, &b), 0);
	CHECK_EQ(ivntb_link_set(&R, &b, true), 0);
	CHECK_EQ(ivntb_msg_send(&R, &a, 1, 1, 0x77), 0);
	CHECK_EQ(ivntb_db_ring(&R, 1, 0x10), 0);
	f = open_memstream(&out, &len);
	CHECK_EQ(ivntb_dump(f, buf, RSIZE, false), 0);
	fclose(f);
	CHECK(strstr(out, "port 1: CLAIMED epoch 1") != NULL);
	CHECK(strstr(out, "link enabled") != NULL);
	CHECK(strstr(out, "msg 1: FULL src 0 epoch 1 data 0x00000077") != NULL);
	CHECK(strstr(out, "db 0x0000000000000010") != NULL);
	CHECK(strstr(out, "1 <- 0, 1:") != NULL);
	free(out);

	shm()->ctrl.nr_ports = 77;
	f = open_memstream(&out, &len);
	CHECK_EQ(ivntb_dump(f, buf, RSIZE, true), -ERANGE);
	fclose(f);
	CHECK(strstr(out, "nr_ports out of range") != NULL);
	CHECK(strstr(out, "port 7:") != NULL);	/* raw: all slots */
	free(out);
	CHECK_EQ(ivntb_errname(-EADDRINUSE)[0], 'E');
}

int main(void)
{
	buf = aligned_alloc(4096, RSIZE);
	before = malloc(RSIZE);
	if (!buf || !before)
		return 2;
	printf("# unit tests, compat %s\n", IVNTB_COMPAT_NAME);
	RUN(test_layout);
	RUN(test_init_default);
	RUN(test_init_geometries);
	RUN(test_init_errors);
	RUN(test_init_in_progress);
	RUN(test_validate_errors);
	RUN(test_invalid_region_ops);
	RUN(test_claim_release);
	RUN(test_takeover);
	RUN(test_heartbeat_link_snapshot);
	RUN(test_link_gen);
	RUN(test_link_ack);
	RUN(test_publish_notify);
	RUN(test_doorbells);
	RUN(test_spads);
	RUN(test_messages);
	RUN(test_irq_id);
	RUN(test_region_intact);
	RUN(test_dump);
	RUN(test_map_limit);
	free(buf);
	free(before);
	return h_summary("unit");
}
