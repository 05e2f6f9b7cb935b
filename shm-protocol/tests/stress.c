// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * stress.c - two (or more) parties hammering one region.
 *
 *   stress [-p | -t] [-n DOORBELLS] [-m MSGS] [-c CLAIM_ROUNDS]
 *          [-k TAKEOVER_ROUNDS] [-i INIT_ROUNDS] [-w WORKERS] [-T TAKERS]
 *          [-e WAKE_EVENTS] [TEST...]
 *
 * -p: parties are processes sharing a /dev/shm file (default);
 * -t: parties are threads (the ThreadSanitizer build uses this).
 * Tests: pingpong fanin claims takeover initrace wake (default: all).
 * -X: fault injection (negative control): the sender rings before it
 * stores the data; pingpong must then fail (and TSan must see a race).
 * -R: fault injection (negative control): the sleeper of the wake test
 * arms without reading its event counter again; wake must then fail.
 *
 * pingpong: two ports ring each other. Before ringing bit b the sender
 *   stores a value into its outbound window (plain store); the receiver,
 *   after it took bit b, reads the value (plain load) and must see exactly
 *   the next value for b; it then acknowledges the value, and the sender
 *   rings b again only after that acknowledgment. A lost doorbell hangs
 *   (timeout), a stale value is a mismatch, a spurious bit a mismatch.
 *   Both sides also send messages carrying a sequence number and a
 *   checksum (each must arrive exactly once) and write scratchpads with
 *   a self-checking monotonic pattern.
 * fanin: two senders ring one port on disjoint halves of its doorbell
 *   word while its owner clears bits: no bit may be lost (same data and
 *   acknowledgment checks as pingpong).
 * claims: workers race to claim and release ports; each grant is checked
 *   against an ownership word (a double grant is caught) and against the
 *   last epoch of the port (epochs grow).
 * takeover: a dead owner's port is taken over by all workers at once
 *   from the same observed claim word: exactly one must win per round.
 * initrace: TAKERS parties initialise the same blank region at the same
 *   moment (ivntb_region_init(), as drivers loaded with init_region=1 on
 *   several guests at once), then each claims a port: every round must
 *   leave one valid header that every party validated, one port per
 *   party, and every claim in place (no initialiser wiped another's
 *   header or claim).
 * wake: the needs-wakeup handshake of protocol 1.3 (W1/W2). Port 1 sends
 *   WAKE_EVENTS doorbells to port 0 in bursts of 1..8, then waits until
 *   port 0 has handled its last one. Port 0 polls, spins a random while
 *   when idle, then arms (sometimes only to disarm again) and sleeps in
 *   read() on an eventfd, with no timeout: the "interrupt" is a write to
 *   that eventfd, which port 1 makes only when ivntb_wake_wanted() says
 *   so. A lost wake-up leaves port 0 asleep with an event unseen: port 1
 *   then waits in vain and the run fails, as no timer can rescue it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ivntb_proto.h"
#include "harness.h"

#define RSIZE		(4ULL << 20)
#define STUCK_NS	(10ULL * 1000000000ULL)
#define MAX_WORKERS	16

static bool use_threads;
static u64 n_db = 200000, n_msg = 20000, n_claim = 20000, n_take = 2000;
static u64 n_init = 2000;
static u64 n_wake = 1000000;
static bool fault_no_recheck;	/* -R: negative control, must fail */
static int wake_fd = -1;
static int n_workers = 4;
static int n_takers = 2;	/* as many as CPUs: they must overlap */
static bool fault_ring_first;	/* -X: negative control, must fail */
static u8 *region;

/* Test bookkeeping shared between the parties (in a window). */
struct shared {
	u64 fails;
	u64 grants;
	u64 own[IVNTB_MAX_PORTS];
	u64 last_epoch[IVNTB_MAX_PORTS];
	u64 phase;
	u64 done;
	u64 winners;
	struct ivntb_port winner;
	u64 obs;
	/* initrace: each party's results of the current round */
	int ir_err[MAX_WORKERS];	/* init (or the validation after it) */
	int ir_claim_err[MAX_WORKERS];
	u64 ir_nonce[MAX_WORKERS];	/* of the header it validated */
	struct ivntb_port ir_me[MAX_WORKERS];
	u64 ir_t0[MAX_WORKERS];		/* when its init call began, ended */
	u64 ir_t1[MAX_WORKERS];
	u64 ir_overlap;			/* rounds whose init calls overlapped */
	u64 ir_again;			/* init calls that returned -EAGAIN */
	u64 ir_arrived;			/* start barrier: parties x rounds */
	u64 ir_bad_rounds;
	u64 ir_kind[6];			/* failures by kind, see ir_kinds */
	/* wake */
	u64 wk_seen;		/* sleeper: counter value fully handled */
	u64 wk_asleep;		/* sleeper: in read() (diagnosis only) */
	u64 wk_ready;		/* sleeper: claimed, wk_seen is its start */
	u64 wk_sleeps, wk_arms, wk_rearm_saves, wk_disarms_only;
	u64 wk_rings, wk_no_ring, wk_bursts, wk_lost;
};

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline void cpu_pause(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static void relax(u64 *spins)
{
	if (++*spins % 256 == 0)
		sched_yield();	/* 2 cores and maybe a kernel build */
	else
		cpu_pause();
}

#define FAIL(sh, ...)							\
	do {								\
		fprintf(stderr, "  FAIL: " __VA_ARGS__);		\
		fputc('\n', stderr);					\
		__atomic_add_fetch(&(sh)->fails, 1, __ATOMIC_SEQ_CST);	\
	} while (0)

static void *new_region(u32 ports)
{
	struct ivntb_init_params p = {
		.region_size = RSIZE, .nr_ports = ports, .nonce = 42,
	};
	struct ivntb_region r;
	char path[64];
	void *base;
	int fd;

	if (region)
		munmap(region, RSIZE);
	snprintf(path, sizeof(path), "/dev/shm/ivntb-stress-%d-%llu",
		 getpid(), (unsigned long long)now_ns());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, RSIZE)) {
		perror(path);
		exit(2);
	}
	base = mmap(NULL, RSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);	/* removed now; the mapping lives on */
	if (base == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (ivntb_region_init(&r, base, RSIZE, &p)) {
		fprintf(stderr, "init: %s\n", r.why);
		exit(2);
	}
	region = base;
	return base;
}

static struct shared *shared_area(void)
{
	/* Last 64 KiB of the region: outside every window used below. */
	return (struct shared *)(region + RSIZE - 65536);
}

/* ---- workers: processes or threads ---------------------------------- */

typedef void (*worker_fn)(int id);

struct thr {
	pthread_t t;
	worker_fn fn;
	int id;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;

	t->fn(t->id);
	return NULL;
}

static void run_workers(int n, worker_fn fn)
{
	struct thr thr[MAX_WORKERS];
	pid_t pid[MAX_WORKERS];
	int i, st;

	for (i = 0; i < n; i++) {
		if (use_threads) {
			thr[i].fn = fn;
			thr[i].id = i;
			pthread_create(&thr[i].t, NULL, thr_main, &thr[i]);
			continue;
		}
		pid[i] = fork();
		if (!pid[i]) {
			fn(i);
			_exit(0);
		}
	}
	for (i = 0; i < n; i++) {
		if (use_threads) {
			pthread_join(thr[i].t, NULL);
			continue;
		}
		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			struct shared *sh = shared_area();

			FAIL(sh, "worker %d died (status 0x%x)", i, st);
		}
	}
}

/*
 * A coordinator runs beside the workers, as they run: a thread, or a
 * forked process.
 */
struct coordinator {
	pthread_t t;
	pid_t pid;
};

static void coordinator_start(struct coordinator *c, void *(*fn)(void *))
{
	c->pid = 0;
	if (use_threads) {
		pthread_create(&c->t, NULL, fn, NULL);
		return;
	}
	c->pid = fork();
	if (!c->pid) {
		fn(NULL);
		_exit(0);
	}
}

/* Returns false if the coordinator process died or failed. */
static bool coordinator_join(struct coordinator *c)
{
	int st;

	if (use_threads) {
		pthread_join(c->t, NULL);
		return true;
	}
	return waitpid(c->pid, &st, 0) == c->pid && WIFEXITED(st) &&
	       !WEXITSTATUS(st);
}

/* ---- pingpong ------------------------------------------------------- */

static u32 msg_encode(u32 seq)
{
	u32 c = (seq * 0x9e ^ seq >> 8 ^ seq >> 16 ^ 0xa5) & 0xff;

	return seq << 8 | c;
}

static bool msg_decode(u32 data, u32 *seq)
{
	*seq = data >> 8;
	return msg_encode(*seq) == data;
}

static u32 spad_encode(u32 c)
{
	return c << 16 | (~c & 0xffff);
}

static void side(int s)
{
	struct shared *sh = shared_area();
	struct ivntb_region r;
	struct ivntb_port me;
	struct ivntb_peer_state ps;
	u32 t = !s, nmsgs, nspads, i, b, spadc = 0, spad_last[IVNTB_MAX_SPADS];
	u64 *pay_out, *ack_out, *pay_in, *ack_in, last_val[64] = { 0 };
	u64 sent_db = 0, recv_db = 0, sent_msg = 0, recv_msg = 0, seq, last_seq;
	u64 spins = 0, last_progress;
	u8 *seen;
	int err;

	if (ivntb_region_validate(&r, region, RSIZE)) {
		FAIL(sh, "side %d: validate: %s", s, r.why);
		return;
	}
	nmsgs = r.geom.nr_msgs;
	nspads = r.geom.nr_spads;
	memset(spad_last, 0, sizeof(spad_last));
	seen = calloc(n_msg / 8 + 1, 1);
	err = ivntb_port_claim(&r, s, 0x5000 + s, &me);
	if (err || !seen) {
		FAIL(sh, "side %d: claim %d", s, err);
		return;
	}
	pay_out = ivntb_mw_ptr(&r, t, s, 0);
	ack_out = ivntb_mw_ptr(&r, t, s, 1);
	pay_in = ivntb_mw_ptr(&r, s, t, 0);
	ack_in = ivntb_mw_ptr(&r, s, t, 1);
	last_seq = ivntb_event_seq(&r, &me);
	ivntb_link_set(&r, &me, true);

	/* Wait for the peer's link. */
	last_progress = now_ns();
	for (;;) {
		err = ivntb_peer_snapshot(&r, t, &ps);
		if (!err && ivntb_peer_link_ok(&ps))
			break;
		if (now_ns() - last_progress > STUCK_NS) {
			FAIL(sh, "side %d: peer link never came up", s);
			return;
		}
		relax(&spins);
	}

	last_progress = now_ns();
	while (sent_db < n_db || recv_db < n_db || sent_msg < n_msg ||
	       recv_msg < n_msg) {
		bool progress = false;

		if (sent_db < n_db) {
			u64 v = sent_db + 1;
			u64 prev = v > 64 ? v - 64 : 0;

			b = sent_db % 64;
			if (smp_load_acquire(&ack_in[b]) == prev) {
				if (!fault_ring_first)
					pay_out[b] = v;	/* plain store: TSan checks it */
				err = ivntb_db_ring(&r, t, 1ULL << b);
				if (fault_ring_first) {
					/* Give the receiver a window to see it. */
					for (i = 0; i < 200; i++)
						cpu_pause();
					pay_out[b] = v;
				}
				if (err) {
					FAIL(sh, "side %d: ring: %d", s, err);
					break;
				}
				sent_db++;
				progress = true;
				if (sent_db % 16 == 0) {
					i = (sent_db / 16) % nspads;
					spadc = (spadc + 1) & 0xffff;
					ivntb_spad_write(&r, t, i, spad_encode(spadc));
				}
			}
		}
		if (sent_msg < n_msg) {
			err = ivntb_msg_send(&r, &me, t, sent_msg % nmsgs,
					     msg_encode(sent_msg));
			if (!err) {
				sent_msg++;
				progress = true;
			} else if (err != -EBUSY) {
				FAIL(sh, "side %d: msg_send: %d", s, err);
				break;
			}
		}

		seq = ivntb_event_seq(&r, &me);
		if (seq != last_seq) {
			u64 bits, sts;

			last_seq = seq;
			bits = ivntb_db_take(&r, &me, ~0ULL);
			while (bits) {
				u64 v, exp;

				b = __builtin_ctzll(bits);
				bits &= bits - 1;
				v = pay_in[b];	/* plain load after the bit */
				exp = last_val[b] ? last_val[b] + 64 : b + 1;
				if (v != exp) {
					FAIL(sh, "side %d: bit %u data %llu, expected %llu",
					     s, b, (unsigned long long)v,
					     (unsigned long long)exp);
					goto out;
				}
				last_val[b] = v;
				smp_store_release(&ack_out[b], v);
				recv_db++;
				progress = true;
			}
			sts = ivntb_msg_status(&r, &me);
			while (sts) {
				u32 m = __builtin_ctzll(sts), data, src, mseq;

				sts &= sts - 1;
				err = ivntb_msg_read(&r, &me, m, &data, &src);
				if (err || src != t || !msg_decode(data, &mseq) ||
				    mseq >= n_msg || (seen[mseq / 8] & (1 << mseq % 8))) {
					FAIL(sh, "side %d: msg %u: err %d src %u data 0x%x (%s)",
					     s, m, err, src, data,
					     err ? "read" : "lost, torn or duplicate");
					goto out;
				}
				seen[mseq / 8] |= 1 << mseq % 8;
				err = ivntb_msg_ack(&r, &me, m);
				if (err) {
					FAIL(sh, "side %d: ack %u: %d", s, m, err);
					goto out;
				}
				recv_msg++;
				progress = true;
			}
			for (i = 0; i < nspads; i++) {
				u32 v, c;

				ivntb_spad_read(&r, s, i, &v);
				c = v >> 16;
				if (!v)
					continue;
				if (v != spad_encode(c) ||
				    ((c - spad_last[i]) & 0xffff) >= 0x8000) {
					FAIL(sh, "side %d: spad %u torn/backwards 0x%08x after 0x%04x",
					     s, i, v, spad_last[i]);
					goto out;
				}
				spad_last[i] = c;
			}
		}

		if (progress) {
			last_progress = now_ns();
		} else {
			if (__atomic_load_n(&sh->fails, __ATOMIC_RELAXED))
				break;	/* the other side failed already */
			if (now_ns() - last_progress > STUCK_NS) {
				FAIL(sh, "side %d: stuck: sent_db %llu recv_db %llu sent_msg %llu recv_msg %llu db 0x%llx",
				     s, (unsigned long long)sent_db,
				     (unsigned long long)recv_db,
				     (unsigned long long)sent_msg,
				     (unsigned long long)recv_msg,
				     (unsigned long long)ivntb_db_read(&r, &me));
				break;
			}
			relax(&spins);
		}
	}
	for (i = 0; i < n_msg; i++)
		if (!(seen[i / 8] & (1 << i % 8))) {
			FAIL(sh, "side %d: message %u never arrived", s, i);
			break;
		}
out:
	/* Let the peer finish before we leave (it may still need acks). */
	ivntb_port_release(&r, &me);
	free(seen);
}

static void test_pingpong(void)
{
	struct shared *sh;
	u64 t0 = now_ns();

	new_region(2);
	sh = shared_area();
	run_workers(2, side);
	CHECK_EQ(sh->fails, 0);
	printf("# pingpong (%s): %llu doorbells and %llu messages each way, %.2f s\n",
	       use_threads ? "threads" : "processes",
	       (unsigned long long)n_db, (unsigned long long)n_msg,
	       (now_ns() - t0) / 1e9);
}

/* ---- fan-in: two senders OR into one doorbell word -------------------- */

/*
 * Ports 1 and 2 ring port 0, each on its own 32 bits, concurrently with
 * port 0 clearing bits: the compare-and-exchange loops must lose no bit.
 * Same data/ack discipline as pingpong; acks go to window (s, 0, 1).
 */
static void fanin_worker(int id)
{
	struct shared *sh = shared_area();
	struct ivntb_region r;
	struct ivntb_port me;
	u64 spins = 0, last_progress, seq, last_seq;
	int err;

	if (ivntb_region_validate(&r, region, RSIZE)) {
		FAIL(sh, "fanin %d: validate", id);
		return;
	}
	err = ivntb_port_claim(&r, id, id, &me);
	if (err) {
		FAIL(sh, "fanin %d: claim %d", id, err);
		return;
	}
	last_progress = now_ns();
	if (id) {
		/* Sender: bits 32 * (id - 1) .. + 31. */
		u64 *pay = ivntb_mw_ptr(&r, 0, id, 0);
		u64 *ack = ivntb_mw_ptr(&r, id, 0, 1);
		struct ivntb_peer_state ps;
		u64 k;

		/* Ring only once the receiver is attached (claim wipes). */
		while (ivntb_peer_snapshot(&r, 0, &ps) || !ivntb_peer_link_ok(&ps)) {
			if (now_ns() - last_progress > STUCK_NS) {
				FAIL(sh, "fanin %d: receiver never attached", id);
				goto out;
			}
			relax(&spins);
		}

		for (k = 0; k < n_db; ) {
			u32 j = k % 32, b = 32 * (id - 1) + j;
			u64 v = k + 1, prev = v > 32 ? v - 32 : 0;

			if (smp_load_acquire(&ack[j]) != prev) {
				if (__atomic_load_n(&sh->fails, __ATOMIC_RELAXED) ||
				    now_ns() - last_progress > STUCK_NS) {
					FAIL(sh, "fanin %d: stuck at %llu", id,
					     (unsigned long long)k);
					break;
				}
				relax(&spins);
				continue;
			}
			pay[j] = v;
			if (ivntb_db_ring(&r, 0, 1ULL << b)) {
				FAIL(sh, "fanin %d: ring failed", id);
				break;
			}
			k++;
			last_progress = now_ns();
		}
	} else {
		/* Receiver: port 0. */
		u64 last[2][32] = { { 0 } }, got = 0;

		last_seq = ivntb_event_seq(&r, &me);
		ivntb_link_set(&r, &me, true);
		while (got < 2 * n_db) {
			u64 bits;

			seq = ivntb_event_seq(&r, &me);
			if (seq == last_seq) {
				if (__atomic_load_n(&sh->fails, __ATOMIC_RELAXED) ||
				    now_ns() - last_progress > STUCK_NS) {
					FAIL(sh, "fanin receiver: stuck after %llu bits",
					     (unsigned long long)got);
					break;
				}
				relax(&spins);
				continue;
			}
			last_seq = seq;
			bits = ivntb_db_take(&r, &me, ~0ULL);
			while (bits) {
				u32 b = __builtin_ctzll(bits), s = b / 32 + 1, j = b % 32;
				u64 v = ((u64 *)ivntb_mw_ptr(&r, 0, s, 0))[j];
				u64 exp = last[s - 1][j] ? last[s - 1][j] + 32 : j + 1;

				bits &= bits - 1;
				if (v != exp) {
					FAIL(sh, "fanin: bit %u data %llu expected %llu", b,
					     (unsigned long long)v, (unsigned long long)exp);
					goto out;
				}
				last[s - 1][j] = v;
				smp_store_release(&((u64 *)ivntb_mw_ptr(&r, s, 0, 1))[j], v);
				got++;
			}
			last_progress = now_ns();
		}
	}
out:
	ivntb_port_release(&r, &me);
}

static void test_fanin(void)
{
	struct shared *sh;

	new_region(3);
	sh = shared_area();
	run_workers(3, fanin_worker);
	CHECK_EQ(sh->fails, 0);
	printf("# fanin (%s): 2 senders x %llu doorbells into one word\n",
	       use_threads ? "threads" : "processes", (unsigned long long)n_db);
}

/* ---- claims --------------------------------------------------------- */

static void claimer(int id)
{
	struct shared *sh = shared_area();
	struct ivntb_region r;
	struct ivntb_port me;
	u64 k, spins = 0, grants = 0;
	int err;

	if (ivntb_region_validate(&r, region, RSIZE)) {
		FAIL(sh, "claimer %d: validate", id);
		return;
	}
	for (k = 0; k < n_claim; k++) {
		int want = (id & 1) ? -1 : (int)((k * 7 + id) % r.geom.nr_ports);
		u64 prev;

		err = ivntb_port_claim(&r, want, id, &me);
		if (err == -EBUSY) {
			relax(&spins);
			continue;
		}
		if (err) {
			FAIL(sh, "claimer %d: claim %d", id, err);
			return;
		}
		grants++;
		prev = 0;
		if (!__atomic_compare_exchange_n(&sh->own[me.port], &prev, id + 1,
						 false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST)) {
			FAIL(sh, "port %u granted to %d while owned by %llu",
			     me.port, id, (unsigned long long)prev - 1);
			return;
		}
		if (me.epoch <= sh->last_epoch[me.port]) {
			FAIL(sh, "port %u epoch %u not above %llu", me.port,
			     me.epoch, (unsigned long long)sh->last_epoch[me.port]);
			return;
		}
		sh->last_epoch[me.port] = me.epoch;	/* guarded by own[] */
		if (k % 3 == 0)
			ivntb_heartbeat(&r, &me);
		__atomic_store_n(&sh->own[me.port], 0, __ATOMIC_SEQ_CST);
		err = ivntb_port_release(&r, &me);
		if (err) {
			FAIL(sh, "claimer %d: release %d", id, err);
			return;
		}
	}
	__atomic_add_fetch(&sh->grants, grants, __ATOMIC_SEQ_CST);
}

static void test_claims(void)
{
	struct ivntb_region r;
	struct ivntb_peer_state s;
	struct shared *sh;
	u64 epochs = 0;
	u32 p;

	new_region(4);
	sh = shared_area();
	run_workers(n_workers, claimer);
	CHECK_EQ(sh->fails, 0);
	CHECK(sh->grants > 0);
	CHECK_EQ(ivntb_region_validate(&r, region, RSIZE), 0);
	for (p = 0; p < 4; p++) {
		CHECK_EQ(ivntb_peer_snapshot(&r, p, &s), 0);
		CHECK_EQ(s.state, IVNTB_PORT_FREE);
		epochs += s.epoch;
	}
	CHECK_EQ(epochs, sh->grants);	/* one epoch step per grant */
	printf("# claims (%s): %d workers, %llu grants\n",
	       use_threads ? "threads" : "processes", n_workers,
	       (unsigned long long)sh->grants);
}

/* ---- takeover ------------------------------------------------------- */

static void taker(int id)
{
	struct shared *sh = shared_area();
	struct ivntb_region r;
	struct ivntb_port me;
	u64 k, spins = 0;

	if (ivntb_region_validate(&r, region, RSIZE)) {
		FAIL(sh, "taker %d: validate", id);
		return;
	}
	for (k = 1; k <= n_take; k++) {
		u64 t0 = now_ns();

		/* Spin without yielding: all takers must run when it flips. */
		while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != k) {
			if (++spins % 4096 == 0 && now_ns() - t0 > STUCK_NS) {
				FAIL(sh, "taker %d stuck in round %llu", id,
				     (unsigned long long)k);
				return;
			}
			cpu_pause();
		}
		if (!ivntb_port_takeover(&r, 0, sh->obs, id, &me)) {
			sh->winner = me;	/* only one may get here */
			__atomic_add_fetch(&sh->winners, 1, __ATOMIC_SEQ_CST);
		}
		__atomic_add_fetch(&sh->done, 1, __ATOMIC_SEQ_CST);
	}
}

static void *take_coordinator(void *arg)
{
	struct shared *sh = shared_area();
	struct ivntb_region r;
	struct ivntb_port dead;
	struct ivntb_peer_state s;
	u64 k, bad = 0;

	(void)arg;
	if (ivntb_region_validate(&r, region, RSIZE))
		return (void *)1;
	for (k = 1; k <= n_take; k++) {
		u64 t0 = now_ns();

		if (ivntb_port_claim(&r, 0, 0xdead, &dead)) {
			FAIL(sh, "coordinator: claim failed in round %llu",
			     (unsigned long long)k);
			break;
		}
		ivntb_peer_snapshot(&r, 0, &s);
		sh->obs = s.claim;
		__atomic_store_n(&sh->winners, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->done, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->phase, k, __ATOMIC_RELEASE);
		/* Sleep: leave the CPUs to the takers. */
		while (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) != (u64)n_takers) {
			if (now_ns() - t0 > STUCK_NS) {
				FAIL(sh, "coordinator stuck in round %llu",
				     (unsigned long long)k);
				return (void *)1;
			}
			usleep(20);
		}
		if (sh->winners != 1) {
			if (!bad++)
				FAIL(sh, "round %llu: %llu winners",
				     (unsigned long long)k,
				     (unsigned long long)sh->winners);
			break;
		}
		if (ivntb_heartbeat(&r, &dead) != -ESTALE)
			FAIL(sh, "round %llu: old owner not told", (unsigned long long)k);
		if (sh->winner.epoch != dead.epoch + 1)
			FAIL(sh, "round %llu: epoch %u after %u", (unsigned long long)k,
			     sh->winner.epoch, dead.epoch);
		if (ivntb_port_release(&r, &sh->winner))
			FAIL(sh, "round %llu: winner cannot release", (unsigned long long)k);
	}
	return NULL;
}

static void test_takeover(void)
{
	struct shared *sh;
	struct coordinator co;

	new_region(2);
	sh = shared_area();
	coordinator_start(&co, take_coordinator);
	run_workers(n_takers, taker);
	if (!coordinator_join(&co))
		FAIL(sh, "coordinator died");
	CHECK_EQ(sh->fails, 0);
	printf("# takeover (%s): %d takers, %llu rounds\n",
	       use_threads ? "threads" : "processes", n_takers,
	       (unsigned long long)n_take);
}

/* ---- init race ------------------------------------------------------ */

static const char *const ir_kinds[] = {
	"init failed", "header invalid", "header rewritten", "claim failed",
	"port granted twice", "claim wiped",
};

static int ir_parties(void)
{
	return n_takers < IVNTB_MAX_PORTS ? n_takers : IVNTB_MAX_PORTS;
}

static void init_racer(int id)
{
	struct shared *sh = shared_area();
	struct ivntb_init_params p = {
		.region_size = RSIZE, .nr_ports = ir_parties(),
	};
	struct ivntb_region r;
	struct ivntb_port me;
	u64 k, t0, spins = 0;
	int err;

	for (k = 1; k <= n_init; k++) {
		t0 = now_ns();
		/* Spin without yielding: all parties must run when it flips. */
		while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != k) {
			if (++spins % 4096 == 0 && now_ns() - t0 > STUCK_NS) {
				FAIL(sh, "init racer %d stuck in round %llu", id,
				     (unsigned long long)k);
				return;
			}
			cpu_pause();
		}
		/*
		 * Start barrier among the parties themselves: the coordinator
		 * may have run on a party's CPU when it flipped the phase, so
		 * the parties leave together only from here.
		 */
		__atomic_add_fetch(&sh->ir_arrived, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&sh->ir_arrived, __ATOMIC_ACQUIRE) <
		       k * ir_parties()) {
			if (++spins % 4096 == 0 && now_ns() - t0 > STUCK_NS) {
				FAIL(sh, "init racer %d alone in round %llu", id,
				     (unsigned long long)k);
				return;
			}
			cpu_pause();
		}
		p.nonce = k << 8 | (id + 1);
		sh->ir_t0[id] = now_ns();
		err = ivntb_region_init(&r, region, RSIZE, &p);
		sh->ir_t1[id] = now_ns();
		if (err == -EAGAIN)
			__atomic_add_fetch(&sh->ir_again, 1, __ATOMIC_SEQ_CST);
		/*
		 * -EAGAIN: another party is initialising it right now; validate
		 * again later, as a driver whose probe was deferred does.
		 */
		t0 = now_ns();
		while (err == -EAGAIN && now_ns() - t0 < STUCK_NS / 10) {
			sched_yield();
			err = ivntb_region_validate(&r, region, RSIZE);
		}
		memset(&me, 0, sizeof(me));
		sh->ir_err[id] = err;
		sh->ir_nonce[id] = r.geom.nonce;
		sh->ir_claim_err[id] = err ? err :
			ivntb_port_claim(&r, -1, id + 1, &me);
		sh->ir_me[id] = me;
		__atomic_add_fetch(&sh->done, 1, __ATOMIC_SEQ_CST);
	}
}

/* One failure of @kind in round @k; the first few are printed. */
static void ir_bad(struct shared *sh, u64 k, int kind, int id, long long v)
{
	if (sh->ir_kind[kind]++ < 3)
		FAIL(sh, "round %llu: %s (party %d: %lld)", (unsigned long long)k,
		     ir_kinds[kind], id, v);
}

static bool init_round_ok(struct shared *sh, u64 k)
{
	u64 bad = sh->ir_kind[0] + sh->ir_kind[1] + sh->ir_kind[2] +
		  sh->ir_kind[3] + sh->ir_kind[4] + sh->ir_kind[5];
	struct ivntb_region r;
	struct ivntb_peer_state s;
	u64 last_t0 = 0, first_t1 = ~0ULL;
	u32 used = 0;
	int i, n = ir_parties(), err;

	for (i = 0; i < n; i++) {
		if (sh->ir_t0[i] > last_t0)
			last_t0 = sh->ir_t0[i];
		if (sh->ir_t1[i] < first_t1)
			first_t1 = sh->ir_t1[i];
	}
	if (last_t0 < first_t1)
		sh->ir_overlap++;	/* every call began before any ended */
	err = ivntb_region_validate(&r, region, RSIZE);
	if (err) {
		ir_bad(sh, k, 1, -1, err);
		return false;
	}
	if (r.geom.nonce >> 8 != k || !(r.geom.nonce & 0xff) ||
	    (r.geom.nonce & 0xff) > (u64)n)
		ir_bad(sh, k, 2, -1, (long long)r.geom.nonce);
	for (i = 0; i < n; i++) {
		struct ivntb_port *me = &sh->ir_me[i];

		if (sh->ir_err[i]) {
			ir_bad(sh, k, 0, i, sh->ir_err[i]);
			continue;
		}
		/* The header it validated is the one that is there now. */
		if (sh->ir_nonce[i] != r.geom.nonce)
			ir_bad(sh, k, 2, i, (long long)sh->ir_nonce[i]);
		if (sh->ir_claim_err[i]) {
			ir_bad(sh, k, 3, i, sh->ir_claim_err[i]);
			continue;
		}
		if (me->port >= (u32)n || (used & (1U << me->port))) {
			ir_bad(sh, k, 4, i, me->port);
			continue;
		}
		used |= 1U << me->port;
		if (ivntb_peer_snapshot(&r, me->port, &s) ||
		    s.state != IVNTB_PORT_CLAIMED || s.claim != me->claim ||
		    s.owner_tag != (u64)i + 1)
			ir_bad(sh, k, 5, i, me->port);
	}
	return bad == sh->ir_kind[0] + sh->ir_kind[1] + sh->ir_kind[2] +
		      sh->ir_kind[3] + sh->ir_kind[4] + sh->ir_kind[5];
}

static void *init_coordinator(void *arg)
{
	struct shared *sh = shared_area();
	u64 k;

	(void)arg;
	for (k = 1; k <= n_init; k++) {
		u64 t0 = now_ns();

		/* Blank again: the parties wait for the phase to flip. */
		memset(region, 0, IVNTB_LAYOUT_SIZE);
		__atomic_store_n(&sh->done, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->phase, k, __ATOMIC_RELEASE);
		while (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) !=
		       (u64)ir_parties()) {
			if (now_ns() - t0 > STUCK_NS) {
				FAIL(sh, "init coordinator stuck in round %llu",
				     (unsigned long long)k);
				return (void *)1;
			}
			usleep(20);
		}
		if (!init_round_ok(sh, k))
			sh->ir_bad_rounds++;
	}
	return NULL;
}

static void test_init_race(void)
{
	struct shared *sh;
	struct coordinator co;
	int i;

	new_region(2);	/* a mapping; blanked before every round */
	sh = shared_area();
	coordinator_start(&co, init_coordinator);
	run_workers(ir_parties(), init_racer);
	if (!coordinator_join(&co))
		FAIL(sh, "init coordinator died");
	CHECK_EQ(sh->ir_bad_rounds, 0);
	CHECK_EQ(sh->fails, 0);
	printf("# initrace (%s): %d parties, %llu rounds (calls overlapped in %llu, -EAGAIN %llu), %llu failed",
	       use_threads ? "threads" : "processes", ir_parties(),
	       (unsigned long long)n_init,
	       (unsigned long long)sh->ir_overlap,
	       (unsigned long long)sh->ir_again,
	       (unsigned long long)sh->ir_bad_rounds);
	for (i = 0; i < 6; i++)
		if (sh->ir_kind[i])
			printf(", %s %llu", ir_kinds[i],
			       (unsigned long long)sh->ir_kind[i]);
	printf("\n");
}

/* ---- wake: needs-wakeup flag against sleeping with no timer ----------- */

static u64 xorshift(u64 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void wake_sleeper(struct ivntb_region *r, struct shared *sh)
{
	struct ivntb_port me;
	u64 last, seq, rnd = 0x9e3779b97f4a7c15ULL, spins = 0, budget = 0;
	u64 val;

	if (ivntb_port_claim(r, 0, 0x7000, &me)) {
		FAIL(sh, "wake: sleeper cannot claim port 0");
		return;
	}
	last = ivntb_event_seq(r, &me);
	__atomic_store_n(&sh->wk_seen, last, __ATOMIC_RELEASE);
	/* events before this (the sender ringing an unclaimed port) are not ours */
	__atomic_store_n(&sh->wk_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE)) {
		/* E2, then everything the counter announced */
		seq = ivntb_event_seq(r, &me);
		if (seq != last) {
			ivntb_db_take(r, &me, ~0ULL);
			last = seq;
			__atomic_store_n(&sh->wk_seen, seq, __ATOMIC_RELEASE);
			spins = 0;
			budget = xorshift(&rnd) % 512;
			continue;
		}
		if (spins++ < budget) {
			cpu_pause();
			continue;
		}
		spins = 0;
		budget = xorshift(&rnd) % 512;
		if (ivntb_wake_arm(r, &me, &seq)) {
			FAIL(sh, "wake: lost port 0");
			return;
		}
		sh->wk_arms++;
		if (xorshift(&rnd) % 4 == 0) {
			/* armed, then changed its mind: poll on */
			ivntb_wake_disarm(r, &me);
			sh->wk_disarms_only++;
			continue;
		}
		if (!fault_no_recheck && seq != last) {
			/* W1 caught an event the sender may not ring for */
			ivntb_wake_disarm(r, &me);
			sh->wk_rearm_saves++;
			continue;
		}
		__atomic_store_n(&sh->wk_asleep, 1, __ATOMIC_RELAXED);
		if (read(wake_fd, &val, sizeof(val)) != sizeof(val)) {
			FAIL(sh, "wake: read eventfd");
			return;
		}
		__atomic_store_n(&sh->wk_asleep, 0, __ATOMIC_RELAXED);
		sh->wk_sleeps++;
		ivntb_wake_disarm(r, &me);
	}
	ivntb_port_release(r, &me);
}

static void wake_sender(struct ivntb_region *r, struct shared *sh)
{
	struct ivntb_port me;
	u64 sent = 0, rnd = 0x2545f4914f6cdd1dULL, one = 1, target, t0, spins;
	u32 b, burst;

	if (ivntb_port_claim(r, 1, 0x7001, &me)) {
		FAIL(sh, "wake: sender cannot claim port 1");
		return;
	}
	t0 = now_ns();
	spins = 0;
	while (!__atomic_load_n(&sh->wk_ready, __ATOMIC_ACQUIRE)) {
		relax(&spins);
		if (now_ns() - t0 > STUCK_NS) {
			FAIL(sh, "wake: the sleeper never claimed port 0");
			goto out;
		}
	}
	while (sent < n_wake) {
		burst = 1 + xorshift(&rnd) % 8;
		for (b = 0; b < burst && sent < n_wake; b++, sent++) {
			/* D1 + E1, then W2 and the wake word */
			ivntb_db_ring(r, 0, 1ULL << (sent % 64));
			if (ivntb_wake_wanted(r, 0)) {
				if (write(wake_fd, &one, sizeof(one)) != sizeof(one))
					FAIL(sh, "wake: write eventfd");
				sh->wk_rings++;
			} else {
				sh->wk_no_ring++;
			}
		}
		sh->wk_bursts++;
		/* now and then a pause, long enough for the sleeper to sleep */
		if (xorshift(&rnd) % 8 == 0)
			for (spins = xorshift(&rnd) % 2048; spins; spins--)
				cpu_pause();
		/* the last increment is ours: wait until it was handled */
		target = READ_ONCE(r->shm->port[0].seq);
		t0 = now_ns();
		spins = 0;
		while (__atomic_load_n(&sh->wk_seen, __ATOMIC_ACQUIRE) < target) {
			relax(&spins);
			if (now_ns() - t0 > STUCK_NS) {
				FAIL(sh, "wake: lost wake-up after %llu events: port 0 %s, seq %llu, handled %llu, wake word 0x%x",
				     (unsigned long long)sent,
				     __atomic_load_n(&sh->wk_asleep, __ATOMIC_RELAXED) ?
				     "asleep" : "awake",
				     (unsigned long long)target,
				     (unsigned long long)sh->wk_seen,
				     READ_ONCE(r->shm->wake[0].wake));
				sh->wk_lost++;
				goto out;
			}
		}
	}
out:
	__atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
	/* the end, not an event: release the sleeper unconditionally */
	if (write(wake_fd, &one, sizeof(one)) != sizeof(one))
		FAIL(sh, "wake: write eventfd");
	ivntb_port_release(r, &me);
}

static void wake_worker(int id)
{
	struct shared *sh = shared_area();
	struct ivntb_region r;

	if (ivntb_region_validate(&r, region, RSIZE)) {
		FAIL(sh, "wake %d: validate: %s", id, r.why);
		return;
	}
	if (id == 0)
		wake_sleeper(&r, sh);
	else
		wake_sender(&r, sh);
}

static void test_wake(void)
{
	struct shared *sh;
	u64 t0 = now_ns();

	new_region(2);
	sh = shared_area();
	wake_fd = eventfd(0, 0);
	if (wake_fd < 0) {
		perror("eventfd");
		exit(2);
	}
	run_workers(2, wake_worker);
	close(wake_fd);
	CHECK_EQ(sh->wk_lost, 0);
	CHECK_EQ(sh->fails, 0);
	/* the run must have slept and rung, or it proved nothing */
	CHECK(sh->wk_sleeps > 0 && sh->wk_rings > 0 && sh->wk_no_ring > 0);
	printf("# wake (%s): %llu events in %llu bursts, %.2f s; port 0 armed %llu times, slept %llu, disarmed unslept %llu, re-check saved %llu; rings %llu, not needed %llu\n",
	       use_threads ? "threads" : "processes",
	       (unsigned long long)n_wake, (unsigned long long)sh->wk_bursts,
	       (now_ns() - t0) / 1e9, (unsigned long long)sh->wk_arms,
	       (unsigned long long)sh->wk_sleeps,
	       (unsigned long long)sh->wk_disarms_only,
	       (unsigned long long)sh->wk_rearm_saves,
	       (unsigned long long)sh->wk_rings,
	       (unsigned long long)sh->wk_no_ring);
}

int main(int argc, char **argv)
{
	bool all = true, pp = false, fi = false, cl = false, tk = false;
	bool ir = false, wk = false;
	int opt, i;

	while ((opt = getopt(argc, argv, "ptXRn:m:c:k:i:w:T:e:")) != -1) {
		switch (opt) {
		case 'p': use_threads = false; break;
		case 't': use_threads = true; break;
		case 'X': fault_ring_first = true; break;
		case 'R': fault_no_recheck = true; break;
		case 'e': n_wake = strtoull(optarg, NULL, 0); break;
		case 'n': n_db = strtoull(optarg, NULL, 0); break;
		case 'm': n_msg = strtoull(optarg, NULL, 0); break;
		case 'c': n_claim = strtoull(optarg, NULL, 0); break;
		case 'k': n_take = strtoull(optarg, NULL, 0); break;
		case 'i': n_init = strtoull(optarg, NULL, 0); break;
		case 'w': n_workers = atoi(optarg); break;
		case 'T': n_takers = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: see the comment in stress.c\n");
			return 2;
		}
	}
	if (n_workers < 2 || n_workers > MAX_WORKERS || n_takers < 2 ||
	    n_takers > MAX_WORKERS || n_msg >= (1 << 24))
		return 2;
	for (i = optind; i < argc; i++) {
		all = false;
		pp |= !strcmp(argv[i], "pingpong");
		fi |= !strcmp(argv[i], "fanin");
		cl |= !strcmp(argv[i], "claims");
		tk |= !strcmp(argv[i], "takeover");
		ir |= !strcmp(argv[i], "initrace");
		wk |= !strcmp(argv[i], "wake");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# stress, compat %s, %s\n", IVNTB_COMPAT_NAME,
	       use_threads ? "threads" : "processes");
	if (all || pp)
		RUN(test_pingpong);
	if (all || fi)
		RUN(test_fanin);
	if (all || cl)
		RUN(test_claims);
	if (all || tk)
		RUN(test_takeover);
	if (all || ir)
		RUN(test_init_race);
	if (all || wk)
		RUN(test_wake);
	return h_summary("stress");
}
