// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem - NTB hardware driver over QEMU's ivshmem PCI device
 *
 * BAR2 of ivshmem (1af4:1110) is plain memory shared by two or more guests.
 * This driver makes it an NTB: doorbells, scratchpads, message registers,
 * link state and memory windows live in that memory as lock-free words (see
 * include/ivntb_layout.h and docs/protocol.md), and a poller notices changes,
 * so no interrupt is needed: it runs where ivshmem's MSI-X doorbell cannot
 * be delivered (riscv64 virt without AIA, TCG).
 *
 * Poll modes (module parameter poll_mode):
 *   adaptive  a kthread that spins for spin_us after any activity, then
 *             sleeps, doubling the sleep up to idle_poll_us, then parks:
 *             a hard-irq hrtimer polls every idle_poll_us and wakes it
 *             only for work (default);
 *             with an MSI-X vector it becomes hybrid:
 *   hybrid    ivshmem-doorbell with a vector: spins while events flow
 *             and after a send, for an adaptive window, then arms its
 *             wake word and sleeps until a peer rings it (NAPI-like;
 *             protocol 1.3)
 *   irq       ivshmem-doorbell with a vector: always armed, never spins
 *   kthread   a kthread that busy-polls (lowest latency, one CPU busy)
 *   hrtimer   a soft hrtimer every poll_interval_us
 * An idle poll is one load: this port's event counter. The poller beats
 * the heartbeat as it passes, and a hard-irq hrtimer beats whenever the
 * poller did not; asleep, the poller still wakes once per heartbeat
 * period for the peers' liveness (not when the doorbell server supervises).
 *
 * Events: ntb_link_event(), ntb_db_event() and ntb_msg_event() are only
 * ever called from the poller, never from an op and never under a driver
 * lock. Ops that may make an event due (unmask, link enable) only wake the
 * poller.
 *
 * The file's chapters, each opened by a numbered banner:
 *  0. Parameters and private structures; irqoff_stats timing; prototypes
 *  1. Region and ports: validate or initialise, claim our port; port ops
 *  2. Link state machine: peer liveness, link generations; link ops
 *  3. Event delivery: doorbell and message events, a peer's sign of life
 *  4. Poller and heartbeat: beat, housekeeping, poll, spin, park, sleep
 *  5. Interrupt mode: ringing peers, the wake word, MSI-X handler, setup
 *  6. Memory windows: geometry, the DMA pool, steering buffers; mw ops
 *  7. Doorbells, scratchpads, messages: their ops; the message copy
 *  8. debugfs: the info and stats files
 *  9. PCI driver: BAR2, the ops tables, probe, remove, module init, exit
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/hrtimer.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/ntb.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/static_key.h>

#include "ivntb_proto.h"

#define CREATE_TRACE_POINTS
#include "ntb_ivshmem_trace.h"

/*=============================================================================
 *                0. Parameters and private structures
 *
 *    Module parameters (those that change what peers observe are read-only
 * once loaded and checked by ivshm_check_params()), what the poller knows of
 * a peer, the validated message copy, the statistics and the device itself;
 * the timing of the sections that keep interrupts off (irqoff_stats); and
 * the prototypes of the few functions called before their chapter.
 *=============================================================================
 */

#define DRV_NAME	"ntb_hw_ivshmem"
#define DRV_VERSION	"0.9.0"	/* = PACKAGE_VERSION in dkms.conf */

#define PCI_VENDOR_ID_IVSHMEM	0x1af4
#define PCI_DEVICE_ID_IVSHMEM	0x1110

/* ivshmem BARs */
#define IVSHM_BAR_REGS		0	/* registers (doorbell device) */
#define IVSHM_BAR_MSIX		1	/* MSI-X table (doorbell device) */
#define IVSHM_BAR_SHM		2	/* the shared memory */

/* ivshmem-doorbell registers in BAR0 (QEMU docs/specs/ivshmem-spec.rst) */
#define IVSHM_REG_IVPOSITION	8	/* our peer ID on the server, or -1 */
#define IVSHM_REG_DOORBELL	12	/* write: peer ID << 16 | vector */
#define IVSHM_REGS_LEN		16

/* msg_read_sts() bits: inbound FULL registers low, failed sends high */
#define IVSHM_MSG_OUT_SHIFT	32

/* device-tree node listing the DMA pools over inbound windows */
#define IVSHM_POOLS_COMPAT	"ivshmem-ntb,mw-pools"
/* placeholder blocks that steer an allocation into one window */
#define IVSHM_MAX_HOLDS		64
/* the longest a window's steering lasts without its mw_set_trans() */
#define IVSHM_STEER_MS		1000

static char *poll_mode = "adaptive";
module_param(poll_mode, charp, 0444);
MODULE_PARM_DESC(poll_mode, "How to notice peer events: adaptive (default; hybrid with an MSI-X vector), hybrid, irq, kthread (busy poll) or hrtimer");

static unsigned int poll_interval_us = 1000;
module_param(poll_interval_us, uint, 0644);
MODULE_PARM_DESC(poll_interval_us, "hrtimer mode: the period, in us (default 1000)");

static unsigned int idle_poll_us = 1000;
module_param(idle_poll_us, uint, 0644);
MODULE_PARM_DESC(idle_poll_us, "Adaptive mode: once idle, poll this often, in us (default 1000): the longest a first event after idle waits to be noticed");

static unsigned int spin_us = 200;
module_param(spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "Adaptive and hybrid modes: busy-poll this long after activity, in us (default 200)");

static bool adaptive_window;
module_param(adaptive_window, bool, 0644);
MODULE_PARM_DESC(adaptive_window, "Adaptive mode: spin after an event only as hybrid does, for a window that grows while spins catch events and shrinks while they do not (default N: spin_us after any event)");

static bool armed_timer = true;
module_param(armed_timer, bool, 0644);
MODULE_PARM_DESC(armed_timer, "Hybrid: wake once per heartbeat period while armed to check the peers' liveness (default Y; N, for lost wake-up tests: while every link is up, wake only when rung)");

static unsigned int heartbeat_ms = 10;
module_param(heartbeat_ms, uint, 0444);
MODULE_PARM_DESC(heartbeat_ms, "Heartbeat and peer liveness check period, in ms (default 10)");

static unsigned int sup_heartbeat_ms = 1000;
module_param(sup_heartbeat_ms, uint, 0444);
MODULE_PARM_DESC(sup_heartbeat_ms, "Heartbeat period on a doorbell device whose server supervises the region (--ntb), in ms (default 1000; 0: keep heartbeat_ms)");

static unsigned int link_timeout_ms = 80;
module_param(link_timeout_ms, uint, 0444);
MODULE_PARM_DESC(link_timeout_ms, "A peer whose heartbeat stopped this long is down, in ms (default 80)");

static bool use_irq = true;
module_param(use_irq, bool, 0444);
MODULE_PARM_DESC(use_irq, "On ivshmem-doorbell devices take MSI-X interrupts instead of polling (default Y; N: poll with poll_mode)");

static unsigned int link_train_ms = 50;
module_param(link_train_ms, uint, 0444);
MODULE_PARM_DESC(link_train_ms, "A peer must look ready this long before its link is up, like link training, in ms (default 50)");

static int port = -1;
module_param(port, int, 0444);
MODULE_PARM_DESC(port, "Port to claim (default -1: the first free one); applies to EVERY ivshmem device the driver binds");

static unsigned int init_region;
module_param(init_region, uint, 0444);
MODULE_PARM_DESC(init_region, "Write a fresh header: 0 never (default), 1 into a blank (all-zero) region, 2 also over a foreign one; applies to EVERY ivshmem device the driver binds, including other software's");

static unsigned int init_ports = 2;
module_param(init_ports, uint, 0444);
MODULE_PARM_DESC(init_ports, "Ports of a region this driver initialises (default 2)");

static unsigned int init_mws = 2;
module_param(init_mws, uint, 0444);
MODULE_PARM_DESC(init_mws, "Memory windows per port pair of a region this driver initialises (default 2)");

static bool mw_dma_ops = true;
module_param(mw_dma_ops, bool, 0444);
MODULE_PARM_DESC(mw_dma_ops, "Without a device-tree DMA pool (x86_64), back the inbound windows by our own DMA ops on the PCI device where the kernel has per-device ops (default Y; N: keep the device's ops, windows refused)");

static bool irqoff_stats;
module_param(irqoff_stats, bool, 0444);
MODULE_PARM_DESC(irqoff_stats, "Time the sections that keep interrupts off around shared memory (the irqoff_* lines of debugfs stats; default N)");

/*
 * Bounds of the parameters that change what peers observe: read-only once
 * loaded, checked by ivshm_check_params() at module load.
 */
#define IVSHM_HEARTBEAT_MS_MAX		1000
#define IVSHM_LINK_TIMEOUT_MS_MAX	60000
#define IVSHM_LINK_TRAIN_MS_MAX		10000

/* The timeout, kept above three heartbeats whatever the parameters say. */
static unsigned int ivshm_link_timeout_ms(void)
{
	return max(link_timeout_ms, 3 * heartbeat_ms);
}

enum ivshm_poll_mode {
	IVSHM_POLL_ADAPTIVE,
	IVSHM_POLL_KTHREAD,
	IVSHM_POLL_HRTIMER,
	IVSHM_POLL_IRQ,		/* MSI-X only: always armed */
	IVSHM_POLL_HYBRID,	/* MSI-X when idle, polling while busy */
};

static const char * const ivshm_poll_names[] = {
	[IVSHM_POLL_ADAPTIVE]	= "adaptive",
	[IVSHM_POLL_KTHREAD]	= "kthread",
	[IVSHM_POLL_HRTIMER]	= "hrtimer",
	[IVSHM_POLL_IRQ]	= "irq",
	[IVSHM_POLL_HYBRID]	= "hybrid",
};

/* What the poller knows of one peer; poller only. */
struct ivshm_peer {
	u32 port;
	u32 epoch;		/* epoch the link came up with */
	u16 gen;		/* its link_gen[our port] the link came up with */
	u64 hb;			/* last heartbeat seen */
	u64 hb_seen;		/* ktime (ns) we saw it last change */
	u64 hb_stamp;		/* hb_seen, plus the time we were away since */
	u32 seen_epoch;		/* epoch hb/hb_stamp belong to */
	bool hb_moved;		/* heartbeat seen moving in seen_epoch */
	bool sign_of_life;	/* it sent us a message or doorbell */
	bool db_resnap;		/* a new epoch: pending bits are stale */
	u32 void_epoch;		/* its new epoch: drop the last one's messages */
	u64 ready_since;	/* ktime (ns) it started looking ready, or 0 */
	bool warned;		/* incompatibility already logged */
	bool pre_1_3;		/* claimed by an owner older than 1.3 */
	/* protocol 1.4 link acks: ours to it, and its to us */
	u16 acked;		/* the gen we last acked (our link_ack[port]) */
	bool ack_due;		/* gen != acked: ack once ack_gp has passed */
	bool ack_wipe;		/* ... zeroing its spads (a gen it announced) */
	unsigned long ack_gp;	/* RCU grace period our writes must outlast */
	u16 told;		/* our link_gen[port] as last seen */
	bool ack_want;		/* told is not acked yet: not ready */
};

/*
 * A validated private copy of an inbound message register, taken the first
 * time it is seen FULL: what msg_read_sts() reports and msg_read() returns,
 * so the peer cannot change the sender or data between the two. pidx
 * outlives the message: it is the register's last sender (0 before the
 * first), so msg_read() names a valid peer even for an empty register, as
 * ntb_hw_idt does; clients index their peer arrays with it.
 */
struct ivshm_msg_copy {
	u32 data;
	u32 pidx;
	bool valid;
};

/* the sections irqoff_stats times, and its histogram: < 1, 2, 4 ... us */
enum ivshm_irqoff_site {
	IVSHM_IRQOFF_LINK_SET, IVSHM_IRQOFF_LINK_GEN, IVSHM_IRQOFF_HEARTBEAT,
	IVSHM_IRQOFF_DELIVER, IVSHM_IRQOFF_NOTE_LIFE, IVSHM_IRQOFF_MSG_READ_STS,
	IVSHM_IRQOFF_MSG_READ, IVSHM_IRQOFF_SITES
};

static const char * const ivshm_irqoff_names[IVSHM_IRQOFF_SITES] = {
	"link_set", "link_gen", "heartbeat", "deliver", "note_life",
	"msg_read_sts", "msg_read",
};

#define IVSHM_IRQOFF_BUCKETS	16

struct ivshm_stats {
	atomic64_t db_sent;	/* peer_db_set calls */
	atomic64_t msg_sent;
	atomic64_t msg_busy;	/* peer_msg_write found the register full */
	atomic64_t mw_set;	/* mw_set_trans accepted */
	atomic64_t mw_refused;	/* mw_set_trans refused: not the window */
	atomic64_t mw_steer_expired; /* steerings that ran out (IVSHM_STEER_MS) */
	atomic64_t irqs;	/* MSI-X interrupts taken */
	atomic64_t irq_rings;	/* Doorbell register writes to peers */
	atomic64_t rings_saved;	/* events for a 1.3 peer that was not armed */
	u64 polls;		/* poller only, below */
	u64 wakes;		/* returns from sleep (timer, ring or kick) */
	u64 arms;		/* hybrid: wake word armed before a sleep */
	u64 arm_saves;		/* ... and the counter had moved (W1) */
	atomic64_t send_wakes;	/* hybrid: a send woke the armed poller */
	u64 empty_polls;
	u64 link_skips;		/* event passes that left the links be */
	u64 spin_delivers;	/* spins that made a callback before their pass */
	u64 db_events;
	u64 msg_events;
	u64 link_changes;
	u64 train_skipped;	/* links up on a sign of life, before training */
	u64 sup_downs;		/* links taken down on the supervisor's word */
	u64 down_after_hb_ns;	/* last link loss: time since the peer's last heartbeat */
	u64 away;		/* housekeeping came a missed heartbeat late */
	u64 away_max_ns;	/* the longest such absence credited */
	atomic64_t link_gens;	/* link downs we announced (link_gen bumps) */
	u64 peer_gens;		/* link downs peers announced to us, all seen */
	u64 link_acks;		/* peers' link_gens we acked (1.4) */
	u64 acks_seen;		/* our link_gens peers acked (1.4) */
	u64 msg_dropped;	/* messages sent before such an ack (under lock) */
	u64 parked_polls;	/* idle polls by the park timer (adaptive) */
	u64 parked_hk;		/* housekeeping it did in the poller's place */
	u64 heartbeats;		/* under hb_lock, below */
	u64 hb_backstop;	/* beats the backstop timer had to make */
	u64 hb_last_ns;		/* ktime of the last beat */
	u64 hb_late;		/* beats later than 2 * heartbeat_ms */
	u64 hb_stalls;		/* beats later than the link timeout */
	u64 hb_max_gap_ns;	/* longest time between two beats */
	/* irqoff_stats: per section, how many, the longest, log2 histogram */
	struct {
		atomic64_t n, max_ns;
		atomic64_t hist[IVSHM_IRQOFF_BUCKETS];
	} irqoff[IVSHM_IRQOFF_SITES];
};

struct ivshm_ntb {
	struct ntb_dev ntb;
	struct pci_dev *pdev;

	void __iomem *regs;		/* BAR0 of an ivshmem-doorbell, or NULL */
	int irq;			/* our MSI-X vector's IRQ, or 0 */
	u32 doorbell_id;		/* IVPosition, if regs */

	void *shm;			/* BAR2, memremap(WB) */
	phys_addr_t shm_phys;
	u64 shm_size;
	struct ivntb_region region;	/* validated geometry */
	struct ivntb_port me;
	u32 nr_peers;
	struct ivshm_peer peer[IVNTB_MAX_PORTS - 1];

	/*
	 * lock protects db_mask (its writers), msg_mask, msg_delivered,
	 * msg_out_fail, msg_copy and msg_dirty: the local "interrupt
	 * controller". Never held while calling into a client, nor around a
	 * loop on shared memory that a hostile peer could keep failing. The
	 * poller delivers doorbells without it (ivshm_deliver()).
	 */
	spinlock_t lock;
	u64 db_mask;
	/* unmasked pending bits already signalled; atomics, not the lock */
	atomic64_t db_delivered;
	u64 msg_mask;
	u64 msg_delivered;
	u64 msg_out_fail;	/* registers whose send found them full */
	bool msg_dirty;		/* an op changed the above: poller, look */
	struct ivshm_msg_copy msg_copy[IVNTB_MAX_MSGS];

	spinlock_t link_lock;	/* serialises link_enable/link_disable */
	spinlock_t gen_lock;	/* serialises our link_gen[] bumps */
	bool link_enabled;	/* our side, as set by link_enable/disable */
	u32 disables;		/* link_disable calls; under link_lock */
	u32 disables_seen;	/* poller only */
	u64 report_at;		/* poller: a local disable's event is due */
	u64 link_mask;		/* peers (pidx bits) whose link is up */
	bool lost;		/* our port was taken over: act no more */
	bool lost_logged;	/* poller only */
	bool region_bad;	/* live header differs from ours; poller only */

	/* poller */
	enum ivshm_poll_mode mode;
	struct task_struct *task;
	struct hrtimer timer;		/* hrtimer mode; adaptive: the park timer */
	raw_spinlock_t hb_lock;		/* hb_next, hb_stopped, stats.hb_* */
	struct hrtimer hb_timer;	/* the heartbeat's backstop, hard irq */
	u64 hb_next;			/* ktime (ns) our next beat is due */
	bool hb_stopped;
	atomic_t kick;		/* force a full poll (unmask, link change) */
	bool armed;		/* our wake word is armed; poller writes */
	bool asleep;		/* the kthread sleeps or parks; poller writes */
	bool supervised;	/* the doorbell server watches: set at probe */
	unsigned int hb_ms;	/* our heartbeat period (heartbeat timer) */
	bool peers_ring;	/* every linked peer rings us (1.3 caps) */
	u64 last_send;		/* ktime of our last doorbell or message */
	u64 poll_now;		/* kthread poller: its last clock reading */
	u64 spin_win;		/* hybrid: the spin window now, in ns */
	bool spins_pay;		/* hybrid: the last spin caught an event */
	u64 send_wake_at;	/* a send woke the armed poller then */
	u64 last_seq;		/* poller writes; the park timer reads */
	u64 link_eval_at;	/* poller: ktime of the last ivshm_link_update() */
	bool link_owed;		/* poller: an event pass skipped it */
	u64 next_housekeeping;	/* poller, or the park timer in its place */
	unsigned int park_hk_run; /* housekeeping passes by the park timer */
	u64 last_housekeeping;	/* ktime of the last one, or 0 */
	bool untimed;		/* slept with no timer since: not away */
	/*
	 * Doorbell bits pending when our one peer's link went down, and not
	 * cleared since: the dead or restarted instance rang them, so they
	 * are no sign of life of the next. Under lock.
	 */
	u64 db_stale;
	/* kicks the poller once an ack's grace period is over */
	struct rcu_head ack_rcu;
	atomic_t ack_rcu_busy;
	/*
	 * Peers (pidx bits) we are acking (protocol 1.4): from the start of
	 * the ack's grace period to its publication, our ops write nothing
	 * into their slots. Poller writes; ops read under rcu_read_lock().
	 */
	u64 acking;

	/*
	 * Inbound windows backed by a DMA pool (docs/windows.md): the pool
	 * covers [in_lo, in_hi) of the region, all of this port's inbound
	 * windows. The placeholder blocks fill the pool's free space outside
	 * the one window being steered: the steering belongs to one (peer,
	 * window) at a time, from its mw_get_align() to its mw_set_trans()
	 * or mw_clear_trans(), or for IVSHM_STEER_MS at most. mw_lock
	 * protects the blocks and steer_until; steer changes under it, or
	 * ends (to 0) by a compare-and-exchange from any context.
	 */
	struct mutex mw_lock;
	bool mw_pool;
	u64 in_lo, in_hi;
	/*
	 * Or, where the kernel has per-device DMA ops and there is no device
	 * tree pool (x86_64): our own ops on our PCI device allocate the
	 * coherent buffers from a pool over the same range, mapped at
	 * mw_va; the device's ops before ours are restored at remove.
	 */
	unsigned long *mw_map;		/* a bit per page of [in_lo, in_hi) */
	spinlock_t mw_map_lock;
	void *mw_va;
	const struct dma_map_ops *old_dma_ops;
	atomic_t steer;			/* ivshm_steer_id(), or 0: none */
	unsigned long steer_until;	/* jiffies */
	wait_queue_head_t steer_wq;	/* steerers waiting for steer */
	struct delayed_work steer_work;	/* frees blocks nobody steers by */
	/* windows whose buffer mw_set_trans() accepted: bit id - 1 */
	DECLARE_BITMAP(mw_placed, (IVNTB_MAX_PORTS - 1) * IVNTB_MAX_MWS);
	unsigned int nr_holds;
	struct {
		void *va;
		dma_addr_t dma;
		size_t size;
	} hold[IVSHM_MAX_HOLDS];

	struct ivshm_stats stats;
	struct dentry *dbgfs;
};

#define ntb_ndev(__ntb) container_of(__ntb, struct ivshm_ntb, ntb)

/*
 * irqoff_stats=1: time every section in which a driver lock taken with
 * irqsave is held around shared memory (from the acquisition to the
 * release: not the wait for the lock, nor the hard-irq timers), for the
 * irqoff_* lines of stats. A hostile peer can keep any
 * compare-and-exchange loop on a shared word failing for up to
 * IVNTB_CAS_RETRIES rounds: none runs under these locks. (An op a client
 * calls with interrupts off, as ntb_pingpong does from its hard-irq
 * timer, still runs its own loops.)
 */
static DEFINE_STATIC_KEY_FALSE(ivshm_irqoff_timed);

/* Interrupts just went off: the section's start, or 0 if not timed. */
static u64 ivshm_irqoff_start(void)
{
	if (!static_branch_unlikely(&ivshm_irqoff_timed))
		return 0;
	return local_clock();
}

/* Interrupts go back on: count the section, by length. */
static void ivshm_irqoff_end(struct ivshm_ntb *ndev, u64 t0,
			     enum ivshm_irqoff_site site)
{
	typeof(ndev->stats.irqoff[0]) *st = &ndev->stats.irqoff[site];
	s64 d, max;

	if (!static_branch_unlikely(&ivshm_irqoff_timed))
		return;
	d = local_clock() - t0;
	atomic64_inc(&st->n);
	atomic64_inc(&st->hist[min_t(u32, d < NSEC_PER_USEC ? 0 :
				     ilog2(d / NSEC_PER_USEC) + 1,
				     IVSHM_IRQOFF_BUCKETS - 1)]);
	max = atomic64_read(&st->max_ns);
	while (d > max && !atomic64_try_cmpxchg(&st->max_ns, &max, d))
		;
}

/*
 * Defined in a later chapter than a caller: the heartbeat and the window
 * pool (region setup), the kick and the ring (link), the wake word (the
 * poller), the message copy (event delivery).
 */
static void ivshm_start_heartbeat(struct ivshm_ntb *ndev);
static void ivshm_stop_heartbeat(struct ivshm_ntb *ndev);
static void ivshm_kick(struct ivshm_ntb *ndev);
static void ivshm_ring(struct ivshm_ntb *ndev, u32 pport);
static void ivshm_disarm(struct ivshm_ntb *ndev);
static bool ivshm_arm(struct ivshm_ntb *ndev);
static void ivshm_init_mw_pool(struct ivshm_ntb *ndev);
static void ivshm_deinit_mw_pool(struct ivshm_ntb *ndev);
static u64 ivshm_msg_sts_locked(struct ivshm_ntb *ndev, u32 *notify);
static void ivshm_msg_drop_from(struct ivshm_ntb *ndev, u32 pidx, u32 keep);

/*=============================================================================
 *                1. Region and ports
 *
 *    BAR2 holds the region: its header is validated, or written if
 * init_region says so; our port is claimed, or taken over from an owner
 * that died; the other ports are our peers, pidx 0.. in port order. The
 * heartbeat starts with the claim (chapter 4) and the DMA pool over our
 * inbound windows is attached (chapter 6). The port ntb_dev_ops are a
 * switch region's only (chapter 9).
 *=============================================================================
 */

static int ivshm_validate_region(struct ivshm_ntb *ndev)
{
	struct device *dev = &ndev->pdev->dev;
	struct ivntb_init_params p = {
		.region_size = ndev->shm_size,
		.nr_ports = init_ports,
		.nr_mws = init_mws,
		.nonce = get_random_u64(),
	};
	int ret;

	/* against BAR2's size (the windows'), though only the layout is mapped */
	ret = ivntb_region_validate(&ndev->region, ndev->shm, ndev->shm_size);
	if (!ret)
		goto mapped;

	if ((ret == -ENODATA && init_region >= 1) ||
	    (ret == -ENODEV && init_region >= 2)) {
		if (ret == -ENODEV)
			p.flags |= IVNTB_INIT_FORCE;
		ret = ivntb_region_init(&ndev->region, ndev->shm,
					ndev->shm_size, &p);
		if (!ret) {
			if (ndev->region.geom.nonce != p.nonce)
				dev_info(dev, "another party initialised the region meanwhile: %u ports\n",
					 ndev->region.geom.nr_ports);
			else
				dev_info(dev, "initialised a %u-port region of %llu bytes\n",
					 ndev->region.geom.nr_ports,
					 ndev->shm_size);
			goto mapped;
		}
		/* another party is initialising it (protocol 4.3): below */
		if (ret != -EAGAIN) {
			dev_err(dev, "cannot initialise the region: %d (%s)\n",
				ret, ndev->region.why ?: "?");
			return ret;
		}
	}

	switch (ret) {
	case -EAGAIN:
		dev_dbg(dev, "the region is being initialised: probe deferred\n");
		return -EPROBE_DEFER;
	case -ENODEV:
		dev_info(dev, "BAR2 holds no ivshmem-ntb region (foreign magic): left untouched\n");
		break;
	case -ENODATA:
		dev_info(dev, "BAR2 is blank: initialise it (ivntb-shm init, or init_region=1)\n");
		break;
	case -EPROTO:
		dev_err(dev, "region speaks an incompatible protocol (%s); we speak %u.%u\n",
			ndev->region.why ?: "?", IVNTB_VERSION_MAJOR,
			IVNTB_VERSION_MINOR);
		break;
	default:
		dev_err(dev, "invalid region: %d (%s)\n", ret,
			ndev->region.why ?: "?");
		break;
	}
	return ret == -ENODATA ? -ENODEV : ret;

mapped:
	ivntb_region_map_limit(&ndev->region, PAGE_ALIGN(IVNTB_LAYOUT_SIZE));
	return 0;
}

/*
 * A claimed port is taken over only if its heartbeat stood still for at
 * least this long: on a loaded 2-core host running TCG guests, a live
 * guest's heartbeat has stood still for 166 ms (docs/reliability.md), and
 * a guest that restarts its peer meanwhile must not take its port.
 */
#define IVSHM_TAKEOVER_MIN_MS	500

/**
 * ivshm_claim_port() - claim our port in the region
 * @ndev:	our device.
 *
 * The port named by the port parameter, or the first free one. When every
 * candidate is claimed, one is taken over only if its doorbell server saw
 * its owner die, or if neither its claim nor its heartbeat moved while we
 * watched: twice the link timeout, at least IVSHM_TAKEOVER_MIN_MS, and at
 * least twice the timeout its owner's published heartbeat period asks for
 * (a supervised guest beats once a second).
 *
 * Context: process; sleeps.
 * Return: 0; the error of the first ivntb_port_claim() unless it was
 * -EBUSY; else -EBUSY (every candidate alive, or its takeover lost).
 */
static int ivshm_claim_port(struct ivshm_ntb *ndev)
{
	struct ivntb_region *r = &ndev->region;
	struct ivntb_peer_state before[IVNTB_MAX_PORTS], now;
	u64 tag = ((u64)get_random_u32() << 32) | pci_dev_id(ndev->pdev);
	u32 p, first, last, watch_ms;
	int ret;

	ret = ivntb_port_claim(r, port, tag, &ndev->me);
	if (ret != -EBUSY)
		return ret;

	/* Every candidate is claimed: take over one whose owner is dead. */
	first = port < 0 ? 0 : port;
	last = port < 0 ? r->geom.nr_ports - 1 : port;
	watch_ms = max_t(u32, 2 * ivshm_link_timeout_ms(), IVSHM_TAKEOVER_MIN_MS);
	for (p = first; p <= last; p++) {
		if (ivntb_peer_snapshot(r, p, &before[p])) {
			before[p].state = IVNTB_PORT_INVALID;
			continue;
		}
		/* bounded: ivntb_peer_hb_ms() <= IVNTB_HB_MS_MAX */
		watch_ms = max(watch_ms, 2 * 3 * ivntb_peer_hb_ms(r, p));
		/* the supervisor saw its owner die: no need to wait */
		if (before[p].state == IVNTB_PORT_CLAIMED &&
		    ivntb_peer_gone(r, p, before[p].epoch) &&
		    !ivntb_port_takeover(r, p, before[p].claim, tag,
					 &ndev->me)) {
			dev_info(&ndev->pdev->dev,
				 "took over port %u: its doorbell server saw its owner die\n",
				 p);
			return 0;
		}
	}
	msleep(watch_ms);
	for (p = first; p <= last; p++) {
		if (before[p].state == IVNTB_PORT_INVALID ||
		    ivntb_peer_snapshot(r, p, &now))
			continue;
		if (now.claim != before[p].claim ||
		    now.heartbeat != before[p].heartbeat)
			continue;	/* alive */
		if (now.state == IVNTB_PORT_FREE) {
			ret = ivntb_port_claim(r, p, tag, &ndev->me);
		} else {
			ret = ivntb_port_takeover(r, p, now.claim, tag,
						  &ndev->me);
			if (!ret)
				dev_warn(&ndev->pdev->dev,
					 "took over port %u: its owner stopped its heartbeat\n",
					 p);
		}
		if (!ret)
			return 0;
	}
	return -EBUSY;
}

static int ivshm_init_region(struct ivshm_ntb *ndev)
{
	struct device *dev = &ndev->pdev->dev;
	u32 p, pidx = 0;
	int ret;

	ret = ivshm_validate_region(ndev);
	if (ret)
		return ret;

	if (port >= (int)ndev->region.geom.nr_ports) {
		dev_err(dev, "port=%d but the region has %u ports\n", port,
			ndev->region.geom.nr_ports);
		return -EINVAL;
	}
	ret = ivshm_claim_port(ndev);
	if (ret) {
		if (port < 0)
			dev_err(dev, "every port of the region is in use (%u ports): %d\n",
				ndev->region.geom.nr_ports, ret);
		else
			dev_err(dev, "cannot claim port %d: %d\n", port, ret);
		return ret;
	}

	for (p = 0; p < ndev->region.geom.nr_ports; p++) {
		if (p == ndev->me.port)
			continue;
		ndev->peer[pidx].port = p;
		ndev->peer[pidx].seen_epoch = 0;
		pidx++;
	}
	ndev->nr_peers = pidx;

	/* all doorbells and messages masked until a client unmasks them */
	ndev->db_mask = U64_MAX;
	ndev->msg_mask = U64_MAX;
	ivntb_db_mask_store(&ndev->region, &ndev->me, ndev->db_mask);
	ndev->last_seq = ivntb_event_seq(&ndev->region, &ndev->me);
	ivshm_start_heartbeat(ndev);

	ivshm_init_mw_pool(ndev);
	return 0;
}

static void ivshm_deinit_region(struct ivshm_ntb *ndev)
{
	ivshm_deinit_mw_pool(ndev);
	ivshm_stop_heartbeat(ndev);
	if (!READ_ONCE(ndev->lost))
		ivntb_port_release(&ndev->region, &ndev->me);
}

/* ntb_dev_ops: ports */

static int ntb_ivshm_pidx_port(struct ivshm_ntb *ndev, int pidx)
{
	if (pidx < 0 || pidx >= ndev->nr_peers)
		return -EINVAL;
	return ndev->peer[pidx].port;
}

static int ntb_ivshm_port_number(struct ntb_dev *ntb)
{
	return ntb_ndev(ntb)->me.port;
}

static int ntb_ivshm_peer_port_count(struct ntb_dev *ntb)
{
	return ntb_ndev(ntb)->nr_peers;
}

static int ntb_ivshm_peer_port_number(struct ntb_dev *ntb, int pidx)
{
	return ntb_ivshm_pidx_port(ntb_ndev(ntb), pidx);
}

static int ntb_ivshm_peer_port_idx(struct ntb_dev *ntb, int port)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u32 pidx;

	for (pidx = 0; pidx < ndev->nr_peers; pidx++)
		if (ndev->peer[pidx].port == port)
			return pidx;
	return -EINVAL;
}

/*=============================================================================
 *                2. Link state machine
 *
 *    The poller judges each peer from a snapshot of its slot (claimed, link
 * enabled, compatible, heartbeat moving) and calls its link up after link
 * training; a link it takes down for a reason the peer cannot see is
 * announced with a new link generation (protocol 1.2). Our own absence is
 * not counted as a peer's silence. link_enable and link_disable publish our
 * side.
 *=============================================================================
 */

/*
 * Bump our link generation toward @pport, without telling it: the caller
 * notifies @pport once its own locks are dropped. The poller (a timeout)
 * and link_disable may both bump it: the read-modify-write of the 16-bit
 * word is one party's, serialised by gen_lock, or one increment is lost
 * and the peer misses a flap. Counted in link_gens by the step taken: the
 * protocol skips the value @pport still acks for our last instance, and
 * the peer counts the difference (peer_gens).
 */
static int ivshm_link_gen_publish(struct ivshm_ntb *ndev, u32 pport)
{
	unsigned long flags;
	u16 step = 0;
	u64 t0;
	int ret;

	spin_lock_irqsave(&ndev->gen_lock, flags);
	t0 = ivshm_irqoff_start();
	ret = ivntb_link_gen_publish(&ndev->region, &ndev->me, pport, &step);
	ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_LINK_GEN);
	spin_unlock_irqrestore(&ndev->gen_lock, flags);
	if (!ret)
		atomic64_add(step, &ndev->stats.link_gens);
	return ret;
}

/* Why ivshm_peer_eval() finds a peer's link up or down. */
enum ivshm_peer_verdict {
	IVSHM_PEER_UP,
	IVSHM_PEER_GONE,	/* the reason is in the peer's slot: it knows */
	IVSHM_PEER_SILENT,	/* its heartbeat stopped: it may not know */
	IVSHM_PEER_DEAD,	/* the supervisor saw it die */
	IVSHM_PEER_ACKING,	/* we owe it an ack of its link generation */
	IVSHM_PEER_UNACKED,	/* it owes us one of ours */
};

/*
 * How long a peer's heartbeat may stand still: the link timeout, and at
 * least three of the periods it published (a supervised peer beats slowly:
 * its death comes from the supervisor, the timeout is the backstop).
 */
static u64 ivshm_peer_timeout_ns(struct ivshm_ntb *ndev, u32 pport)
{
	u64 ms = max(ivshm_link_timeout_ms(),
		     3 * ivntb_peer_hb_ms(&ndev->region, pport));

	return ms * NSEC_PER_MSEC;
}

/* An ack's grace period is over: the poller publishes it. */
static void ivshm_ack_rcu(struct rcu_head *head)
{
	struct ivshm_ntb *ndev = container_of(head, struct ivshm_ntb, ack_rcu);

	atomic_set(&ndev->ack_rcu_busy, 0);
	ivshm_kick(ndev);
}

/*
 * What @p sent us under a link that is over (one end announced a link
 * generation): its pending messages are dropped, and its pending doorbells
 * are no sign of life of the next link. The poller, at either end's ack.
 */
static void ivshm_peer_forget(struct ivshm_ntb *ndev, struct ivshm_peer *p)
{
	ivshm_msg_drop_from(ndev, p - ndev->peer, 0);
	p->db_resnap = true;
	p->sign_of_life = false;
}

/*
 * May an op write into peer @pidx's slot now? Not once our region is lost,
 * nor while we ack the peer. Call under rcu_read_lock(), held over the
 * write: the ack waits for a grace period once the peer's bit is set.
 */
static bool ivshm_peer_write_ok(struct ivshm_ntb *ndev, u32 pidx)
{
	return !READ_ONCE(ndev->lost) &&
	       !(READ_ONCE(ndev->acking) & BIT_ULL(pidx));
}

/**
 * ivshm_ack_peer() - acknowledge the peer's link generation (protocol 1.4)
 * @ndev:	our device.
 * @p:		the peer, whose link is down; @p->gen just read.
 *
 * A peer that announced a link generation toward us waits for our ack
 * before it calls us ready: until then a write we began under the old link
 * (a client's, racing with the link-down event) may still land in its slot
 * after its clients cleared what they own there, and read as the new
 * link's. The ops that write into a peer's slot run under rcu_read_lock()
 * and write nothing while the peer's bit is in acking: the ack waits for a
 * grace period started once that bit is set (every op either saw it or
 * has returned), then drops the messages the peer sent us (what it sent
 * before its announcement is void), (for a generation the peer announced)
 * zeroes the peer's scratchpads in a two-port region, and is published
 * after all three.
 *
 * Context: the poller only.
 * Return: true if @p->gen is acked; false while the grace period runs
 * (its end kicks the poller).
 */
static bool ivshm_ack_peer(struct ivshm_ntb *ndev, struct ivshm_peer *p)
{
	u64 bit = BIT_ULL(p - ndev->peer);

	if (!p->ack_due) {
		if (p->gen == p->acked)
			return true;
		p->ack_due = true;
		/* ops that see it write nothing to the peer; the others end */
		WRITE_ONCE(ndev->acking, ndev->acking | bit);
		p->ack_gp = start_poll_synchronize_rcu();
	}
	if (!poll_state_synchronize_rcu(p->ack_gp)) {
		if (!atomic_xchg(&ndev->ack_rcu_busy, 1))
			call_rcu(&ndev->ack_rcu, ivshm_ack_rcu);
		return false;
	}
	/* before the ack, after which (and only after which) it sends anew */
	ivshm_peer_forget(ndev, p);
	if (ivntb_link_ack_publish(&ndev->region, &ndev->me, p->port, p->gen,
				   p->ack_wipe))
		return false;	/* our port was taken over */
	trace_ivshm_link_ack(ndev->me.port, p->port, p->gen,
			     p->ack_wipe ? IVSHM_ACK_WIPED : IVSHM_ACK_SENT);
	ivshm_ring(ndev, p->port);
	WRITE_ONCE(ndev->acking, ndev->acking & ~bit);
	p->acked = p->gen;
	p->ack_due = false;
	p->ack_wipe = false;
	WRITE_ONCE(ndev->stats.link_acks, ndev->stats.link_acks + 1);
	return true;
}

/**
 * ivshm_ack_seen() - has the peer acked our last link generation toward it?
 * @ndev:	our device.
 * @p:		the peer, whose link is down.
 *
 * Our link_gen[port] is read back from our slot: any path that bumped it
 * (a timeout, link_disable) makes us wait for the peer's ack of the new
 * value (protocol 1.4; an older peer never acks and is not waited for).
 * Until then the peer is not ready. What it sent before the ack belongs to
 * the link that is over: its pending messages are dropped (the register
 * freed, the sender told, as a link down loses what was in flight), and
 * its pending doorbells are no sign of life.
 *
 * Context: the poller only.
 * Return: true if nothing is awaited.
 */
static bool ivshm_ack_seen(struct ivshm_ntb *ndev, struct ivshm_peer *p)
{
	u16 told, ack;

	if (!ivntb_link_gen_get(&ndev->region, &ndev->me, p->port, &told) &&
	    told != p->told) {
		p->told = told;
		p->ack_want = true;
	}
	if (!p->ack_want)
		return true;
	if (!ivntb_link_ack_get(&ndev->region, p->port, ndev->me.port, &ack)) {
		if (ack != p->told)
			return false;
		trace_ivshm_link_ack(ndev->me.port, p->port, ack,
				     IVSHM_ACK_SEEN);
		WRITE_ONCE(ndev->stats.acks_seen, ndev->stats.acks_seen + 1);
		ivshm_peer_forget(ndev, p);
	}
	p->ack_want = false;
	return true;
}

/**
 * ivshm_peer_eval() - judge a peer's liveness from a fresh snapshot
 * @ndev:	our device.
 * @pidx:	peer index.
 * @now:	ktime_get_ns() of this poll.
 *
 * A peer is up when its port is claimed, its link enabled, its protocol
 * compatible with ours, its heartbeat seen moving in its current epoch (a
 * message from it, or with a single peer a doorbell, counts as that first
 * movement) and last changed within the link timeout. A new epoch while
 * up is a restart, and a new link generation toward us (protocol 1.2) is
 * the peer telling us it took the link down: either reads as down once.
 *
 * Context: the poller only.
 * Return: IVSHM_PEER_UP if the peer looks up; else why not.
 */
static enum ivshm_peer_verdict ivshm_peer_eval(struct ivshm_ntb *ndev,
					       u32 pidx, u64 now)
{
	struct ivshm_peer *p = &ndev->peer[pidx];
	struct ivntb_peer_state s;
	bool up = ndev->link_mask & BIT_ULL(pidx);
	u16 gen;		/* its link generation toward us */
	int ret;

	ret = ivntb_peer_snapshot(&ndev->region, p->port, &s);
	if (ret)
		return IVSHM_PEER_GONE;

	p->pre_1_3 = s.state == IVNTB_PORT_CLAIMED &&
		     s.ver_major == IVNTB_VERSION_MAJOR && s.ver_minor < 3;
	if (s.state != IVNTB_PORT_CLAIMED)
		return IVSHM_PEER_GONE;

	/* its doorbell server saw its connection close: dead now */
	if (ivntb_peer_gone(&ndev->region, p->port, s.epoch))
		return IVSHM_PEER_DEAD;

	if (s.epoch != p->seen_epoch) {
		/*
		 * First sight of this epoch: alive only once its heartbeat
		 * moves, so a peer that died claimed is never taken as up.
		 * What the instance before it sent us is void: read as this
		 * one's, or left FULL for it. (A peer that only left, its port
		 * released, leaves its messages readable, as a register keeps
		 * what was written to it.)
		 */
		if (p->seen_epoch)
			p->void_epoch = s.epoch;
		p->warned = false;
		p->hb_moved = false;
		p->db_resnap = true;
		p->sign_of_life = false;
		p->seen_epoch = s.epoch;
		p->hb = s.heartbeat;
		p->hb_seen = now;
		p->hb_stamp = now;
	} else if (s.heartbeat != p->hb) {
		p->hb_moved = true;
		p->hb = s.heartbeat;
		p->hb_seen = now;
		p->hb_stamp = now;
	}
	if (p->sign_of_life)
		p->hb_moved = true;	/* it wrote to us: not a dead claim */

	if (!s.link_enabled)
		return IVSHM_PEER_GONE;

	if (!s.compatible) {
		/* once per epoch, and a peer cycling epochs is rate-limited */
		if (!p->warned)
			dev_warn_ratelimited(&ndev->pdev->dev,
					     "peer port %u speaks protocol %u.%u, we speak %u.%u: link stays down\n",
					     p->port, s.ver_major, s.ver_minor,
					     IVNTB_VERSION_MAJOR,
					     IVNTB_VERSION_MINOR);
		p->warned = true;
		return IVSHM_PEER_GONE;
	}

	/* a new epoch while up is a restart: go down once, then up again */
	if (up && s.epoch != p->epoch)
		return IVSHM_PEER_GONE;

	if (!p->hb_moved ||
	    now - p->hb_stamp > ivshm_peer_timeout_ns(ndev, p->port))
		return IVSHM_PEER_SILENT;	/* crashed, hung or starved */

	/*
	 * A new link generation while up is a link down the peer saw and we
	 * may not have (it timed us out): go down once, then up again, so
	 * that both ends' clients start over.
	 */
	gen = s.link_gen[ndev->me.port];
	if (up && gen != p->gen)
		return IVSHM_PEER_GONE;
	if (up)
		return IVSHM_PEER_UP;

	/*
	 * Counted here, down, whether it took our link down or found it
	 * down already (the peer timed us out again while we were still
	 * training): each announcement is seen once. Found down, training
	 * starts over: the peer's clients are handling a new link down.
	 * What we wrote into its slot under the old link is void (our ack
	 * zeroes it); a new instance's slot was wiped by its claim.
	 */
	if (s.epoch == p->epoch && gen != p->gen) {
		WRITE_ONCE(ndev->stats.peer_gens,
			   ndev->stats.peer_gens + (u16)(gen - p->gen));
		p->ready_since = 0;
		p->ack_wipe = true;
	} else if (s.epoch != p->epoch) {
		p->ack_wipe = false;
	}
	p->epoch = s.epoch;
	p->gen = gen;

	if (!ivshm_ack_peer(ndev, p))
		return IVSHM_PEER_ACKING;
	if (!ivshm_ack_seen(ndev, p))
		return IVSHM_PEER_UNACKED;
	return IVSHM_PEER_UP;
}

/*
 * The link-down event of our own link_disable is held back for
 * link_train_ms, at least a heartbeat (the link's state changes at once):
 * ntb_transport_free() disables the link, then clears its context and
 * frees it, and an event
 * delivered in between schedules its cleanup work on the freed context
 * (upstream, 6.1 and 6.12; hit on a device unbind). Hardware reports a
 * link change some time after the fact too.
 */
static u64 ivshm_report_delay_ns(void)
{
	return (u64)max(link_train_ms, heartbeat_ms) * NSEC_PER_MSEC;
}

/*
 * ivshm_link_update()'s change of the link mask: trace, announce to the
 * peers we take down for a reason they cannot see, and take a stale
 * doorbell snapshot. The caller delivers the event.
 */
static void ivshm_link_change(struct ivshm_ntb *ndev, u64 now, u64 mask,
			      u64 tell)
{
	unsigned long flags;
	u32 pidx;

	for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
		if (!((ndev->link_mask & ~mask) & BIT_ULL(pidx)))
			continue;
		WRITE_ONCE(ndev->stats.down_after_hb_ns,
			   now - ndev->peer[pidx].hb_seen);
		trace_ivshm_peer_down(ndev->me.port, ndev->peer[pidx].port,
				      !!(tell & BIT_ULL(pidx)),
				      (now - ndev->peer[pidx].hb_seen) /
				      NSEC_PER_USEC,
				      (now - ndev->peer[pidx].hb_stamp) /
				      NSEC_PER_USEC);
		if ((tell & BIT_ULL(pidx)) && !READ_ONCE(ndev->lost) &&
		    !ivshm_link_gen_publish(ndev, ndev->peer[pidx].port)) {
			ivntb_notify(&ndev->region, ndev->peer[pidx].port);
			ivshm_ring(ndev, ndev->peer[pidx].port);
		}
		if (ndev->nr_peers == 1) {
			spin_lock_irqsave(&ndev->lock, flags);
			ndev->db_stale = ivntb_db_read(&ndev->region, &ndev->me);
			spin_unlock_irqrestore(&ndev->lock, flags);
		}
	}

	trace_ivshm_link(ndev->me.port, ndev->link_mask, mask);
	WRITE_ONCE(ndev->link_mask, mask);
	ndev->stats.link_changes++;
	dev_dbg(&ndev->pdev->dev, "link mask %#llx\n", mask);
}

/**
 * ivshm_link_update() - re-evaluate every peer's link
 * @ndev:	our device.
 * @now:	ktime_get_ns() of this poll.
 *
 * Delivers one ntb_link_event() if the set of peers whose link is up
 * changed, after link training (link_train_ms) for a peer coming up. A
 * link we take down for a reason the peer cannot see in its own slot (its
 * heartbeat stopped, the header changed) is also announced to the peer
 * with a new link generation (protocol 1.2), so that a flap is always
 * seen by both ends: ntb_transport recovers from a link down only if its
 * peer goes through one as well. Our own link_disable takes the link down
 * at the next pass, even if enabled again since, and its event comes
 * ivshm_report_delay_ns() later; no link comes up before it. The messages
 * of a peer's previous instance are dropped when a new one appears.
 *
 * Context: the poller only; no driver lock held (calls into clients).
 */
static void ivshm_link_update(struct ivshm_ntb *ndev, u64 now)
{
	u32 disables = READ_ONCE(ndev->disables);
	bool enabled = READ_ONCE(ndev->link_enabled);
	u64 mask = 0, tell = 0, held = 0;
	enum ivshm_peer_verdict v;
	bool changed = false, quiet = false;
	u32 pidx;

	ndev->link_eval_at = now;
	WRITE_ONCE(ndev->link_owed, false);
	/*
	 * A disable is a pass with the link down even if the client enabled
	 * it again since (both between two passes): the peers go down on
	 * the new link generation it published, and so must we. Its event
	 * is held, whether this pass saw the disable by the counter or (the
	 * counter read before the disable bumped it) by link_enabled alone.
	 */
	if (disables != ndev->disables_seen) {
		ndev->disables_seen = disables;
		quiet = true;
	}
	if ((quiet || !enabled) && ndev->link_mask && !ndev->report_at)
		ndev->report_at = now + ivshm_report_delay_ns();
	if (ndev->report_at)
		quiet = true;	/* nothing comes up before that event */

	if (!quiet && enabled && !READ_ONCE(ndev->lost) && !ndev->region_bad) {
		for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
			struct ivshm_peer *p = &ndev->peer[pidx];

			v = ivshm_peer_eval(ndev, pidx, now);
			if (v != IVSHM_PEER_UP) {
				if (v == IVSHM_PEER_SILENT || v == IVSHM_PEER_DEAD)
					tell |= BIT_ULL(pidx);
				if (v == IVSHM_PEER_DEAD &&
				    (ndev->link_mask & BIT_ULL(pidx)))
					ndev->stats.sup_downs++;
				p->ready_since = 0;
				p->sign_of_life = false;
				continue;
			}
			/*
			 * Link training: a peer must look ready for
			 * link_train_ms before we call its link up, unless it
			 * already wrote to us (then it called the link up
			 * itself). This gives the peer's clients time to
			 * handle the link-down event their own probe raised
			 * before we write to them: ntb_transport clears its
			 * scratchpads on that event, and would lose what we
			 * wrote before it ran.
			 */
			if (!p->ready_since)
				p->ready_since = now;
			if ((ndev->link_mask & BIT_ULL(pidx)) ||
			    now - p->ready_since >=
			    (u64)link_train_ms * NSEC_PER_MSEC) {
				mask |= BIT_ULL(pidx);
			} else if (p->sign_of_life) {
				mask |= BIT_ULL(pidx);
				ndev->stats.train_skipped++;
			}
			p->sign_of_life = false;
		}
	} else {
		/*
		 * Not watching: liveness must be seen again when we resume.
		 * A bad header may be transient: tell the peers. (Our link
		 * disabled: ntb_ivshm_link_set() told them.)
		 */
		if (ndev->region_bad)
			tell = ~0ULL;
		for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
			ndev->peer[pidx].hb_moved = false;
			ndev->peer[pidx].sign_of_life = false;
			ndev->peer[pidx].ready_since = 0;
		}
	}

	for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
		u32 keep = ndev->peer[pidx].void_epoch;

		if (keep) {
			ndev->peer[pidx].void_epoch = 0;
			ivshm_msg_drop_from(ndev, pidx, keep);
		}
	}
	if (mask != ndev->link_mask) {
		ivshm_link_change(ndev, now, mask, tell);
		changed = true;
	}
	if (ndev->report_at) {
		if (now < ndev->report_at)
			return;
		held = now + ivshm_report_delay_ns() - ndev->report_at;
		ndev->report_at = 0;
		changed = true;
	}
	if (changed) {
		trace_ivshm_link_event(ndev->me.port, ndev->link_mask,
				       held / NSEC_PER_USEC);
		ntb_link_event(&ndev->ntb);
	}
}

/**
 * ivshm_credit_away() - do not count our own absence as a peer's silence
 * @ndev:	our device.
 * @now:	ktime_get_ns() of this housekeeping.
 *
 * A peer is timed out when we watched its heartbeat stand still for the
 * link timeout. Time we did not watch is no evidence: when housekeeping
 * comes more than a missed heartbeat late (our vCPUs were not run by the
 * host, a stopped VM, or the poller starved), the whole gap but one period
 * is credited to every peer's window. Without it, a host that starves both
 * guests for longer than the link timeout (measured: both heartbeats 105
 * and 110 ms late at once, a 2-core host under load) makes the first end
 * to run again time out the other, whose heartbeat could not move either,
 * and a stop of one peer can cost two flaps. Like the kernel's own stall
 * detectors, which ignore the time a VM was paused. The price: crash
 * detection is late by the time we were away.
 *
 * Context: the poller only.
 */
static void ivshm_credit_away(struct ivshm_ntb *ndev, u64 now)
{
	u64 period = (u64)heartbeat_ms * NSEC_PER_MSEC, gap, credit;
	u32 pidx;

	gap = ndev->last_housekeeping ? now - ndev->last_housekeeping : 0;
	WRITE_ONCE(ndev->last_housekeeping, now);
	/*
	 * A gap we chose (an idle sleep with no timer: supervised, or
	 * armed_timer=N) is not an absence: the peers' silence counts, or
	 * the heartbeat's backstop would never time a peer out.
	 */
	if (ndev->untimed) {
		ndev->untimed = false;
		return;
	}
	if (gap <= 2 * period)
		return;
	credit = gap - period;
	/*
	 * Only peers whose link is up: a peer we already took down must
	 * show a moving heartbeat to come back. Credited, a peer that died
	 * just before our absence looked alive again (with a doorbell it
	 * left pending as its sign of life, up at once), then timed out a
	 * second time: two flaps for one death.
	 */
	for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
		struct ivshm_peer *p = &ndev->peer[pidx];

		if (ndev->link_mask & BIT_ULL(pidx))
			p->hb_stamp = min(p->hb_stamp + credit, now);
	}
	ndev->stats.away++;
	if (credit > ndev->stats.away_max_ns)
		WRITE_ONCE(ndev->stats.away_max_ns, credit);
	trace_ivshm_away(ndev->me.port, gap / NSEC_PER_USEC);
}

/* ntb_dev_ops: link */

static u64 ntb_ivshm_link_is_up(struct ntb_dev *ntb, enum ntb_speed *speed,
				enum ntb_width *width)
{
	u64 mask = READ_ONCE(ntb_ndev(ntb)->link_mask);

	if (speed)
		*speed = mask ? NTB_SPEED_AUTO : NTB_SPEED_NONE;
	if (width)
		*width = mask ? NTB_WIDTH_AUTO : NTB_WIDTH_NONE;
	return mask;
}

static int ntb_ivshm_link_set(struct ivshm_ntb *ndev, bool enable)
{
	unsigned long flags;
	u32 pidx;
	bool was;
	u64 t0;
	int ret;

	if (READ_ONCE(ndev->lost))
		return -ENOLINK;
	spin_lock_irqsave(&ndev->link_lock, flags);
	t0 = ivshm_irqoff_start();
	was = ndev->link_enabled;
	WRITE_ONCE(ndev->link_enabled, enable);
	if (was && !enable)
		WRITE_ONCE(ndev->disables, ndev->disables + 1);
	ret = ivntb_link_publish(&ndev->region, &ndev->me, enable);
	/*
	 * A disable followed by an enable may both fall between two polls
	 * of a peer: a new link generation makes it see the link down anyway.
	 */
	for (pidx = 0; !ret && was && !enable && pidx < ndev->nr_peers; pidx++)
		ivshm_link_gen_publish(ndev, ndev->peer[pidx].port);
	ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_LINK_SET);
	spin_unlock_irqrestore(&ndev->link_lock, flags);
	/*
	 * Both changes are in shared memory: tell every other port (its
	 * event counter, a loop a hostile port can keep failing) with
	 * interrupts on.
	 */
	if (!ret) {
		ivntb_notify_others(&ndev->region, &ndev->me);
		for (pidx = 0; pidx < ndev->nr_peers; pidx++)
			ivshm_ring(ndev, ndev->peer[pidx].port);
	}
	ivshm_kick(ndev);
	return ret == -ESTALE ? -ENOLINK : ret;
}

static int ntb_ivshm_link_enable(struct ntb_dev *ntb, enum ntb_speed max_speed,
				 enum ntb_width max_width)
{
	return ntb_ivshm_link_set(ntb_ndev(ntb), true);
}

static int ntb_ivshm_link_disable(struct ntb_dev *ntb)
{
	return ntb_ivshm_link_set(ntb_ndev(ntb), false);
}

/*=============================================================================
 *                3. Event delivery
 *
 *    Doorbell and message events reach the clients from the poller only,
 * never under a driver lock: at most one ntb_db_event() and one
 * ntb_msg_event() per pass, for unmasked bits not signalled since they were
 * last cleared. A message (with a single peer, a doorbell too) is also a
 * sign of life of its sender.
 *=============================================================================
 */

/* Tell the ports in @ports (a bit per port) that their state changed. */
static void ivshm_notify_ports(struct ivshm_ntb *ndev, u32 ports)
{
	for (; ports; ports &= ports - 1)
		ivntb_notify(&ndev->region, __ffs(ports));
}

/*
 * Inbound registers whose sender's link is down: their event waits for the
 * link-up event, which clients handle first (ntb_perf answers a command
 * with ntb_mw_get_align(), which needs the link up). Poller, under lock.
 */
static u64 ivshm_msg_held_locked(struct ivshm_ntb *ndev, u64 sts)
{
	u64 held = 0;
	u32 midx;

	sts &= BIT_ULL(IVSHM_MSG_OUT_SHIFT) - 1;
	for (midx = 0; sts; midx++, sts >>= 1)
		if ((sts & 1) && ndev->msg_copy[midx].valid &&
		    !(ndev->link_mask & BIT_ULL(ndev->msg_copy[midx].pidx)))
			held |= BIT_ULL(midx);
	return held;
}

/**
 * ivshm_deliver() - deliver the doorbell and message events that are due
 * @ndev:	our device.
 *
 * An event is due for unmasked bits (registers) not yet signalled since
 * they were last cleared: at most one ntb_db_event() and one
 * ntb_msg_event() per call.
 *
 * Context: the poller only; no driver lock held (calls into clients).
 * Return: true if a client callback was made.
 */
static bool ivshm_deliver(struct ivshm_ntb *ndev)
{
	u64 db, db_new = 0, gone, msg_new = 0, sts, t0;
	unsigned long flags;
	u32 notify = 0;

	if (READ_ONCE(ndev->lost))
		return false;

	/*
	 * Doorbells take no lock (each lock is two interrupt-flag writes,
	 * which end a translation block under TCG): the OR into db_delivered
	 * decides which bits are new, once between clears, after a plain
	 * read that spares the atomic when none can be. A bit masked while
	 * this runs may still be signalled once, as a hardware interrupt
	 * already raised is.
	 */
	db = ivntb_db_read(&ndev->region, &ndev->me) & ~READ_ONCE(ndev->db_mask);
	db &= ~atomic64_read(&ndev->db_delivered);
	if (db) {
		db_new = db & ~atomic64_fetch_or(db, &ndev->db_delivered);
		/*
		 * A clear between our read and the OR has already cleared
		 * delivered: a bit we marked would stay marked while no longer
		 * pending, and its next ring would go unsignalled. The clear
		 * (fully ordered) precedes its update of delivered, which
		 * precedes our OR: this read sees it. Only the poller sets
		 * delivered bits, so the undo takes nobody else's mark.
		 */
		gone = db_new & ~ivntb_db_read(&ndev->region, &ndev->me);
		if (gone) {
			atomic64_andnot(gone, &ndev->db_delivered);
			db_new &= ~gone;
		}
	}

	/*
	 * Bottom halves off around the callbacks, as an interrupt handler
	 * would run them: the tasklets and softirqs a client raises
	 * (ntb_transport's rx tasklet, the network stack) run at
	 * local_bh_enable() on this CPU, not later through ksoftirqd.
	 */
	if (db_new) {
		local_bh_disable();
		trace_ivshm_db_recv(ndev->me.port, db_new);
		ndev->stats.db_events++;
		ntb_db_event(&ndev->ntb, 0);
		local_bh_enable();
	}

	/*
	 * Messages after the doorbells' callback, which a reply may be
	 * waiting for. They need the lock only if a register is full (it
	 * stays full until acknowledged) or an op changed their state
	 * (msg_dirty, set under the lock before the op's kick).
	 */
	if (READ_ONCE(ndev->msg_dirty) ||
	    ivntb_msg_status(&ndev->region, &ndev->me)) {
		spin_lock_irqsave(&ndev->lock, flags);
		t0 = ivshm_irqoff_start();
		ndev->msg_dirty = false;
		sts = ivshm_msg_sts_locked(ndev, &notify);
		msg_new = sts & ~ndev->msg_mask & ~ndev->msg_delivered &
			  ~ivshm_msg_held_locked(ndev, sts);
		ndev->msg_delivered |= msg_new;
		ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_DELIVER);
		spin_unlock_irqrestore(&ndev->lock, flags);
		ivshm_notify_ports(ndev, notify);
	}
	if (msg_new) {
		local_bh_disable();
		ndev->stats.msg_events++;
		ntb_msg_event(&ndev->ntb);
		local_bh_enable();
	}
	return db_new || msg_new;
}

/*
 * A message (or, with a single peer, a doorbell) that reached us after we
 * claimed our port was written by a live peer: as good a sign of life as a
 * moving heartbeat. Count it, so that the link event reaches clients before
 * the event that a peer whose link came up first already sent (ntb_perf
 * answers a command with ntb_mw_get_align(), which needs the link up).
 * Doorbell bits still pending from before the peer's link went down
 * (db_stale) do not count: a crashed peer rang them, and taking them for
 * its restarted instance's would cut that instance's link training short.
 * Nor do doorbells pending when a peer acked our link generation
 * (db_stale): it rang them before it saw our link go down (its messages
 * from then are dropped: ivshm_ack_seen()).
 * Poller only.
 */
static void ivshm_note_life(struct ivshm_ntb *ndev)
{
	unsigned long flags;
	u32 midx, notify = 0;
	u64 sts, db, t0;

	if (READ_ONCE(ndev->lost) || ndev->link_mask == BIT_ULL(ndev->nr_peers) - 1)
		return;
	spin_lock_irqsave(&ndev->lock, flags);
	t0 = ivshm_irqoff_start();
	sts = ivshm_msg_sts_locked(ndev, &notify) &
	      (BIT_ULL(IVSHM_MSG_OUT_SHIFT) - 1);
	for (midx = 0; sts; midx++, sts >>= 1)
		if ((sts & 1) && ndev->msg_copy[midx].valid)
			ndev->peer[ndev->msg_copy[midx].pidx].sign_of_life = true;
	db = ivntb_db_read(&ndev->region, &ndev->me);
	/*
	 * A new instance of the peer, or its ack of our link generation:
	 * nothing pending now is the doing of the peer we will link with.
	 */
	if (ndev->nr_peers == 1 && ndev->peer[0].db_resnap) {
		ndev->db_stale = db;
		ndev->peer[0].db_resnap = false;
	}
	ndev->db_stale &= db;		/* a cleared bit may ring anew */
	if ((db & ~ndev->db_stale) && ndev->nr_peers == 1)
		ndev->peer[0].sign_of_life = true;
	ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_NOTE_LIFE);
	spin_unlock_irqrestore(&ndev->lock, flags);
	ivshm_notify_ports(ndev, notify);
}

/*=============================================================================
 *                4. Poller and heartbeat
 *
 *    The kick that forces a full pass; the heartbeat, beaten by the poller
 * as it passes and by a hard-irq backstop when it does not; housekeeping
 * once per heartbeat; one poll; and the poll modes: the kthread's spin
 * (hybrid's spin window), backoff, park and sleep, or the hrtimer.
 *=============================================================================
 */

static void ivshm_kick(struct ivshm_ntb *ndev)
{
	struct task_struct *t;

	/*
	 * Barrier K1 (for pairing with K2 in ivshm_poll()): what the caller
	 * changed (a cleared delivered bit, a mask, msg_dirty) before the
	 * kick, for a poller that reads them without the lock.
	 */
	atomic_set_release(&ndev->kick, 1);
	/*
	 * The hrtimer poller picks the kick up at its next period: re-arming
	 * a timer whose callback may be running would race with its
	 * hrtimer_forward_now().
	 */
	t = READ_ONCE(ndev->task);
	if (t)
		wake_up_process(t);
}

/*
 * The heartbeat. A guest whose CPUs stop (crash, hang with interrupts off,
 * a stopped VM) must stop beating; a guest whose poller is only starved
 * (softirq network work, a CPU hog) must not, or its peers take it for
 * dead. So the poller beats as it passes once a beat is due, which costs
 * no wake of its own (adaptive and hrtimer poll more often than the
 * period; irq and hybrid with a timer wake when the beat is due), and
 * every beat pushes a hard-irq hrtimer, the backstop, out to half a period
 * past the next beat: it fires only when the poller did not come, and then
 * beats itself. A beat writes one word of our own slot, if the port is
 * still ours.
 */

/* Under hb_lock: count the beat and how late it came. */
static void ivshm_hb_account(struct ivshm_ntb *ndev, u64 now, bool backstop)
{
	struct ivshm_stats *st = &ndev->stats;
	u64 gap = now - st->hb_last_ns, hb = READ_ONCE(ndev->hb_ms);

	if (st->hb_last_ns) {
		if (gap > st->hb_max_gap_ns)
			WRITE_ONCE(st->hb_max_gap_ns, gap);
		if (gap > 2ULL * hb * NSEC_PER_MSEC) {
			WRITE_ONCE(st->hb_late, st->hb_late + 1);
			trace_ivshm_hb_late(ndev->me.port, gap / NSEC_PER_USEC);
		}
		/*
		 * A peer times us out only after it watched our heartbeat
		 * stand still for longer than the link timeout, so only after
		 * a gap like this one: each of its timeouts of us has one.
		 */
		if (gap > max((u64)ivshm_link_timeout_ms(), 3 * hb) *
		    NSEC_PER_MSEC)
			WRITE_ONCE(st->hb_stalls, st->hb_stalls + 1);
	}
	st->hb_last_ns = now;
	WRITE_ONCE(st->heartbeats, st->heartbeats + 1);
	if (backstop)
		WRITE_ONCE(st->hb_backstop, st->hb_backstop + 1);
}

/*
 * Under hb_lock: the backstop fires between a half and three quarters of
 * a period after the next beat is due, past the poller's own slack.
 * Supervised, an idle poller sleeps with no timer and every beat is the
 * backstop's: then it fires when the beat is due (up to a quarter late).
 */
static void ivshm_hb_rearm(struct ivshm_ntb *ndev, u64 hb_ns)
{
	u64 at = ndev->hb_next + (ndev->supervised ? 0 : hb_ns / 2);

	hrtimer_start_range_ns(&ndev->hb_timer, ns_to_ktime(at), hb_ns / 4,
			       HRTIMER_MODE_ABS_HARD);
}

/* Under hb_lock: beat now; the next beat is due a period from now. */
static bool ivshm_beat_locked(struct ivshm_ntb *ndev, u64 now, bool backstop)
{
	u64 hb_ns = (u64)ndev->hb_ms * NSEC_PER_MSEC;
	int ret;

	WRITE_ONCE(ndev->hb_next, now + hb_ns);
	if (READ_ONCE(ndev->lost))
		return false;	/* nothing to beat for: no re-arm either */
	ivshm_hb_rearm(ndev, hb_ns);
	ret = ivntb_heartbeat(&ndev->region, &ndev->me);
	if (!ret) {
		ivshm_hb_account(ndev, now, backstop);
		return true;
	}
	if (ret == -ESTALE) {
		/*
		 * Taken over: from now on no op touches the new owner's
		 * slot; the poller takes the links down and says so.
		 */
		WRITE_ONCE(ndev->lost, true);
		ivshm_kick(ndev);
	}
	return false;
}

/**
 * ivshm_beat() - beat if a beat is due
 * @ndev:	our device.
 * @now:	ktime_get_ns().
 * @early:	beat if one is due within this many ns (the poller passes at
 *		times of its own, not at the beat's).
 * @backstop:	the caller is the backstop timer.
 *
 * Context: the poller, the park timer or the backstop; takes hb_lock only
 * when a beat looks due (the poller calls it at every poll).
 * Return: true if it beat.
 */
static bool ivshm_beat(struct ivshm_ntb *ndev, u64 now, u64 early,
		       bool backstop)
{
	unsigned long flags;
	bool beat = false;
	u64 t0;

	if (now + early < READ_ONCE(ndev->hb_next))
		return false;
	raw_spin_lock_irqsave(&ndev->hb_lock, flags);
	t0 = ivshm_irqoff_start();
	if (!ndev->hb_stopped && now + early >= ndev->hb_next)
		beat = ivshm_beat_locked(ndev, now, backstop);
	ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_HEARTBEAT);
	raw_spin_unlock_irqrestore(&ndev->hb_lock, flags);
	return beat;
}

/* Adaptive's idle poll period (and the longest backoff sleep before it). */
static u64 ivshm_idle_poll_ns(void)
{
	return (u64)max(READ_ONCE(idle_poll_us), 10U) * NSEC_PER_USEC;
}

/* How early the poller beats: a quarter period, or one poll if less. */
static u64 ivshm_beat_early(struct ivshm_ntb *ndev)
{
	u64 poll_ns = ndev->mode == IVSHM_POLL_HRTIMER ?
		      (u64)max(READ_ONCE(poll_interval_us), 10U) * NSEC_PER_USEC :
		      ivshm_idle_poll_ns();

	return min((u64)READ_ONCE(ndev->hb_ms) * NSEC_PER_MSEC / 4, poll_ns);
}

static enum hrtimer_restart ivshm_hb_timer(struct hrtimer *t)
{
	struct ivshm_ntb *ndev = container_of(t, struct ivshm_ntb, hb_timer);
	u64 now = ktime_get_ns();

	/* re-armed by the beat, or by the poller's beat meanwhile */
	if (!ivshm_beat(ndev, now, 0, true))
		return HRTIMER_NORESTART;
	/*
	 * Supervised, an idle poller sleeps with no timer: every few beats,
	 * make sure it still looked at its peers (the backstop, should the
	 * supervisor itself be gone).
	 */
	if (ndev->supervised &&
	    (s64)(now - READ_ONCE(ndev->last_housekeeping)) >
	    (s64)(3ULL * READ_ONCE(ndev->hb_ms) * NSEC_PER_MSEC))
		ivshm_kick(ndev);
	return HRTIMER_NORESTART;
}

/*
 * The heartbeat starts right after the claim, before the clients probe: a
 * party probing meanwhile takes over a port whose heartbeat stood still
 * while it watched (ivshm_claim_port()). The first beat is now.
 */
static void ivshm_start_heartbeat(struct ivshm_ntb *ndev)
{
	hrtimer_init(&ndev->hb_timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	ndev->hb_timer.function = ivshm_hb_timer;
	ivshm_beat(ndev, ktime_get_ns(), 0, false);
}

static void ivshm_stop_heartbeat(struct ivshm_ntb *ndev)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&ndev->hb_lock, flags);
	ndev->hb_stopped = true;	/* no beat re-arms the backstop now */
	raw_spin_unlock_irqrestore(&ndev->hb_lock, flags);
	hrtimer_cancel(&ndev->hb_timer);
}

/*
 * Beat every @hb ms, and publish the period (with our doorbell peer ID,
 * for a supervising server) in the order that never lets a peer time us
 * out on a period we do not keep: a longer one published first, a shorter
 * one after a beat.
 */
static void ivshm_set_heartbeat(struct ivshm_ntb *ndev, u32 hb)
{
	u32 dev_id = ndev->regs ? ndev->doorbell_id + 1 : 0;
	bool shorter = hb < READ_ONCE(ndev->hb_ms);
	unsigned long flags;

	/* longer: peers must wait longer before we beat less often */
	if (!shorter)
		ivntb_wake_ids_set(&ndev->region, &ndev->me, dev_id, hb);
	raw_spin_lock_irqsave(&ndev->hb_lock, flags);
	WRITE_ONCE(ndev->hb_ms, hb);
	/*
	 * Shorter: beat now, then publish, or a peer that times us out on
	 * the new period finds our last beat (up to an old period ago) late.
	 */
	if (shorter && !ndev->hb_stopped)
		ivshm_beat_locked(ndev, ktime_get_ns(), false);
	raw_spin_unlock_irqrestore(&ndev->hb_lock, flags);
	if (shorter)
		ivntb_wake_ids_set(&ndev->region, &ndev->me, dev_id, hb);
}

/*
 * Hybrid: may the poller sleep until rung? Only if every peer whose link
 * is up speaks 1.3 and promised to ring (IVNTB_CAP_RINGS); an older or
 * interrupt-less peer (a 1.2 driver, the host tool) is polled for with
 * adaptive's backoff instead. Poller only.
 */
static void ivshm_check_peers_ring(struct ivshm_ntb *ndev)
{
	u64 up = ndev->link_mask;
	bool all = true, old = false;
	u32 pidx, hb;

	for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
		if ((up & BIT_ULL(pidx)) &&
		    !ivntb_peer_rings(&ndev->region, ndev->peer[pidx].port))
			all = false;
		old |= ndev->peer[pidx].pre_1_3;
	}
	ndev->peers_ring = all;

	/*
	 * Supervised, we beat slowly; a 1.2 peer knows nothing of our
	 * published period and would time us out: beat at heartbeat_ms
	 * while one is there (published first, then applied).
	 */
	if (!ndev->supervised)
		return;
	hb = old ? heartbeat_ms : sup_heartbeat_ms;
	if (hb != READ_ONCE(ndev->hb_ms))
		ivshm_set_heartbeat(ndev, hb);
}

static void ivshm_housekeeping(struct ivshm_ntb *ndev, u64 now)
{
	bool intact = ivntb_region_intact(&ndev->region);
	int ret;

	ndev->park_hk_run = 0;

	ivshm_credit_away(ndev, now);

	/*
	 * We keep using our validated copy; a changed header is a warning.
	 * A peer toggling it would log at every heartbeat: rate-limited.
	 */
	if (intact == ndev->region_bad) {
		WRITE_ONCE(ndev->region_bad, !intact);
		if (!intact)
			dev_warn_ratelimited(&ndev->pdev->dev,
					     "the region header changed in shared memory (magic, version or geometry): links down until it is restored\n");
		else
			dev_info_ratelimited(&ndev->pdev->dev,
					     "the region header is intact again\n");
	}

	if (!READ_ONCE(ndev->lost)) {
		ret = ivntb_port_check(&ndev->region, &ndev->me);
		if (ret == -ESTALE)
			WRITE_ONCE(ndev->lost, true);
		else
			ivntb_msg_reap(&ndev->region, &ndev->me);
	}
	if (READ_ONCE(ndev->lost) && !ndev->lost_logged) {
		dev_err(&ndev->pdev->dev,
			"port %u was taken over by another party: link down, device idle until reloaded\n",
			ndev->me.port);
		ndev->lost_logged = true;
	}
	ivshm_link_update(ndev, now);
	ivshm_check_peers_ring(ndev);
	/*
	 * A full pass once per heartbeat whatever the event counter says:
	 * an event whose counter bump was lost (a peer that crashed between
	 * its store and its bump) waits at most one heartbeat.
	 */
	atomic_set(&ndev->kick, 1);
}

/*
 * While events flow and every link is up, a pass for an event leaves the
 * links be if they were evaluated less than IVSHM_LINK_EVAL_NS ago: the
 * evaluation copies every peer's owner line, and doorbells are most of
 * what moves the counter. The skipped evaluation is owed (link_owed): the
 * first pass, empty or not, once IVSHM_LINK_EVAL_NS have passed, or the
 * poller before it sleeps, makes it. So what a peer changed of its link (a
 * new generation, a disable, a restart) is seen at most that much plus one
 * pass later, a delay a poller that is descheduled also makes. A kick (an
 * op, an interrupt, the doorbell server's mark of a death) always
 * evaluates.
 */
#define IVSHM_LINK_EVAL_NS	(100 * NSEC_PER_USEC)

static bool ivshm_link_fresh(struct ivshm_ntb *ndev, u64 now)
{
	return ndev->link_mask == BIT_ULL(ndev->nr_peers) - 1 &&
	       !ndev->report_at && now - ndev->link_eval_at < IVSHM_LINK_EVAL_NS;
}

/**
 * ivshm_poll() - one poll of our port
 * @ndev:	our device.
 * @now:	ktime_get_ns() of the caller, just read.
 *
 * The heartbeat and housekeeping (header check, link) when due; then one
 * load of our event counter, and the full work only if it moved or we were
 * kicked.
 *
 * Context: the poller (kthread or hrtimer) only.
 * Return: true if the counter moved: a peer did something. A pass forced
 * by a kick alone (housekeeping, an unmask) is no reason to spin.
 */
static bool ivshm_poll(struct ivshm_ntb *ndev, u64 now)
{
	u64 early = ivshm_beat_early(ndev);
	bool kicked, moved, beat;
	u64 seq;

	ndev->stats.polls++;
	/*
	 * Beat when due; housekeeping with each beat keeps the two in step,
	 * so that a poller that sleeps until the next one wakes once for both.
	 */
	beat = ivshm_beat(ndev, now, early, false);
	if (now >= ndev->next_housekeeping || beat) {
		WRITE_ONCE(ndev->next_housekeeping,
			   now + (u64)heartbeat_ms * NSEC_PER_MSEC);
		ivshm_housekeeping(ndev, now);
	}

	/*
	 * The counter is read before anything it announces (acquire in
	 * ivntb_event_seq()): an event published after this load changes
	 * the counter again and is seen by the next poll.
	 */
	seq = ivntb_event_seq(&ndev->region, &ndev->me);
	/*
	 * A plain load first: an atomic exchange per empty poll is costly.
	 * Barrier K2 (for pairing with K1 in ivshm_kick()): the fully
	 * ordered exchange before what the kicker changed.
	 */
	kicked = atomic_read(&ndev->kick) && atomic_xchg(&ndev->kick, 0);
	moved = seq != ndev->last_seq;
	if (!moved && !kicked) {
		ndev->stats.empty_polls++;
		if (ndev->link_owed && !ivshm_link_fresh(ndev, now))
			ivshm_link_update(ndev, now);
		return false;
	}
	WRITE_ONCE(ndev->last_seq, seq);	/* the park timer reads it */

	ivshm_note_life(ndev);
	if (kicked || !ivshm_link_fresh(ndev, now)) {
		ivshm_link_update(ndev, now);
	} else {
		WRITE_ONCE(ndev->link_owed, true);
		ndev->stats.link_skips++;
	}
	ivshm_deliver(ndev);
	return moved;
}

/* Adaptive mode with hybrid's spin window (adaptive_window=1). */
static bool ivshm_adaptive_window(struct ivshm_ntb *ndev)
{
	return ndev->mode == IVSHM_POLL_ADAPTIVE && READ_ONCE(adaptive_window);
}

/*
 * Hybrid (and adaptive with adaptive_window): a doorbell or message we
 * sent is activity, as NAPI counts a transmit: the reply is likely on its
 * way, so the poller spins for its window from now and the peer need not
 * ring us for it. A sleeping (adaptive) poller is woken for that, without
 * forcing a full pass. An armed (hybrid) one costs a wake as the reply's
 * interrupt would: it is woken while spins catch events, else at most
 * once per IVSHM_SEND_WAKE_NS (always if a peer does not ring: then it
 * polls on a timer, and the reply would wait for it). Measured at 1000
 * echoed doorbells/s, a wake per send whose spin caught nothing doubled
 * the sender's wakes (the echo still came by interrupt); the first send
 * after a pause is still followed by a spin.
 *
 * Context: any; does not sleep.
 */
#define IVSHM_SEND_WAKE_NS	(10 * NSEC_PER_MSEC)

static void ivshm_note_send(struct ivshm_ntb *ndev)
{
	struct task_struct *t;
	bool win = ivshm_adaptive_window(ndev);
	u64 now;

	if (ndev->mode != IVSHM_POLL_HYBRID && !win)
		return;
	t = READ_ONCE(ndev->task);
	if (current == t && in_task() && !READ_ONCE(ndev->asleep)) {
		/*
		 * A client's callback (the usual sender in a busy exchange):
		 * the poller is awake, and its last reading, at most a pass
		 * or a spin batch old, dates the send well enough to spin
		 * from. A clock read is dear under TCG, and this one would
		 * stand between the ring and the poller's next look. Not an
		 * interrupt or softirq that found the poller current, nor a
		 * send as it goes to sleep: those take the path below.
		 */
		WRITE_ONCE(ndev->last_send, ndev->poll_now);
		return;
	}
	now = ktime_get_ns();
	WRITE_ONCE(ndev->last_send, now);
	if (!t || !READ_ONCE(ndev->spin_win))
		return;
	if (win) {
		if (READ_ONCE(ndev->asleep))
			wake_up_process(t);
		return;
	}
	/* signed: another CPU's clock read may be the later one */
	if (!READ_ONCE(ndev->armed) ||
	    (READ_ONCE(ndev->peers_ring) && !READ_ONCE(ndev->spins_pay) &&
	     (s64)(now - READ_ONCE(ndev->send_wake_at)) < IVSHM_SEND_WAKE_NS))
		return;
	WRITE_ONCE(ndev->send_wake_at, now);
	atomic64_inc(&ndev->stats.send_wakes);
	wake_up_process(t);
}

/*
 * Hybrid's spin window, adapted as the kernel's haltpoll governor adapts
 * its guest poll window. The poller spins after a send (the reply is due)
 * and after an event that came within spin_us of the one before (events
 * flow), for the window; not after a lone event (one per millisecond, or
 * the first after idle): then an interrupt costs less than a spin that
 * finds nothing. A spin that catches an event, or a sleep that a ring
 * ends within spin_us (a spin would have caught it), doubles the window
 * (from 10 us, up to spin_us); a spin that catches nothing halves it
 * (below 10 us: no spin at all, until a short sleep grows it again).
 */
struct ivshm_spin {
	u64 until;		/* spin until then (ktime, ns) */
	u64 last_event;
	u64 last_send;		/* the last send we acted on */
	u64 armed_at;		/* the sleep we just woke from began then */
	unsigned int hits;	/* events caught in this spin */
	bool spinning;
};

#define IVSHM_SPIN_MIN_NS	(10 * NSEC_PER_USEC)

static bool ivshm_hybrid_spin(struct ivshm_ntb *ndev, struct ivshm_spin *sp,
			      u64 now, bool event)
{
	u64 max_ns = (u64)READ_ONCE(spin_us) * NSEC_PER_USEC, send;
	u64 win = min(ndev->spin_win, max_ns);

	if (event) {
		if (sp->spinning ||
		    (sp->armed_at && now - sp->armed_at < max_ns)) {
			sp->hits++;
			win = clamp_t(u64, win * 2, IVSHM_SPIN_MIN_NS, max_ns);
		}
		if (now - sp->last_event < max_ns)
			sp->until = max(sp->until, now + win);
		sp->last_event = now;
	}
	sp->armed_at = 0;
	send = READ_ONCE(ndev->last_send);
	if (send != sp->last_send) {
		sp->last_send = send;
		sp->until = max(sp->until, send + win);
	}
	if ((s64)(now - sp->until) < 0) {
		sp->spinning = true;
	} else {
		if (sp->spinning && !sp->hits)
			win = win / 2 < IVSHM_SPIN_MIN_NS ? 0 : win / 2;
		if (sp->spinning)
			WRITE_ONCE(ndev->spins_pay, sp->hits > 0);
		sp->spinning = false;
		sp->hits = 0;
	}
	WRITE_ONCE(ndev->spin_win, win);
	return sp->spinning;
}

/* How long an idle poller sleeps; U64_MAX: until woken. */
static u64 ivshm_idle_ns(struct ivshm_ntb *ndev, u64 now, u64 backoff_ns)
{
	u64 due = min(ndev->next_housekeeping, READ_ONCE(ndev->hb_next));
	u64 hk = due > now ? due - now : 0;

	switch (ndev->mode) {
	case IVSHM_POLL_IRQ:
		/* rung for every event; wake for the next housekeeping */
		return hk;
	case IVSHM_POLL_HYBRID:
		/* peers that do not ring are polled for as adaptive does */
		if (!ndev->peers_ring)
			return min(hk, backoff_ns);
		/*
		 * Supervised (a peer's death rings us), or armed_timer=N: no
		 * timer at all while every link is up, the rings must do it.
		 */
		if ((ndev->supervised || !READ_ONCE(armed_timer)) &&
		    ndev->link_mask == BIT_ULL(ndev->nr_peers) - 1)
			return U64_MAX;
		return hk;
	default:
		return backoff_ns;
	}
}

/*
 * Adaptive, idle: the poll is one load, which a hard-irq hrtimer can make
 * without waking the poller, at the cost of a bare timer. The poller parks
 * (sleeps with no timer of its own) and the park timer polls every
 * idle_poll_us, beats when a beat is due, and wakes the poller only when
 * there is work: the counter moved, a kick, or housekeeping is due.
 */
/*
 * Parked, the timer is the poller: the kthread sleeps, and cancels the
 * timer (waiting for a running callback) before it touches poller state
 * again. So when housekeeping is due and everything stands as the last
 * housekeeping left it (every link up, every peer's verdict still up, the
 * header intact, our port ours, no absence to credit), the timer can do
 * what housekeeping would (note the peers' heartbeats) and spare the
 * kthread a wake. Every IVSHM_PARK_HK_EVERY-th pass is a full one all the
 * same: messages reaped, the peers' ring capabilities read, a full pass
 * for an event whose counter bump was lost.
 */
#define IVSHM_PARK_HK_EVERY	8

static bool ivshm_park_housekeeping(struct ivshm_ntb *ndev, u64 now)
{
	u64 period = (u64)heartbeat_ms * NSEC_PER_MSEC;
	u32 pidx;

	if (ndev->park_hk_run >= IVSHM_PARK_HK_EVERY - 1 ||
	    now - ndev->last_housekeeping > 2 * period ||
	    READ_ONCE(ndev->lost) || READ_ONCE(ndev->region_bad) ||
	    ndev->link_mask != BIT_ULL(ndev->nr_peers) - 1 ||
	    !ivntb_region_intact(&ndev->region) ||
	    ivntb_port_check(&ndev->region, &ndev->me))
		return false;
	for (pidx = 0; pidx < ndev->nr_peers; pidx++)
		if (ivshm_peer_eval(ndev, pidx, now) != IVSHM_PEER_UP)
			return false;
	ndev->park_hk_run++;
	WRITE_ONCE(ndev->stats.parked_hk, ndev->stats.parked_hk + 1);
	WRITE_ONCE(ndev->last_housekeeping, now);
	WRITE_ONCE(ndev->next_housekeeping, now + period);
	return true;
}

static enum hrtimer_restart ivshm_park_timer(struct hrtimer *t)
{
	struct ivshm_ntb *ndev = container_of(t, struct ivshm_ntb, timer);
	u64 now = ktime_get_ns(), early = ivshm_beat_early(ndev), period;
	struct task_struct *task;

	WRITE_ONCE(ndev->stats.parked_polls, ndev->stats.parked_polls + 1);
	ivshm_beat(ndev, now, early, false);
	/* the poller sleeps: last_seq and next_housekeeping hold still */
	if (ivntb_event_seq(&ndev->region, &ndev->me) !=
	    READ_ONCE(ndev->last_seq) || atomic_read(&ndev->kick) ||
	    (now >= READ_ONCE(ndev->next_housekeeping) &&
	     !ivshm_park_housekeeping(ndev, now))) {
		task = READ_ONCE(ndev->task);
		if (task)
			wake_up_process(task);
		return HRTIMER_NORESTART;
	}
	/*
	 * Not hrtimer_forward_now(): a timer with slack may fire before its
	 * hard expiry, and forwarding from there leaves it expired: it would
	 * fire again at once, every time, until the hard expiry.
	 */
	period = ivshm_idle_poll_ns();
	hrtimer_set_expires_range_ns(t, ns_to_ktime(now + period), period / 4);
	return HRTIMER_RESTART;
}

/*
 * Park rather than sleep: adaptive polling (or hybrid toward a peer that
 * does not ring) whose backoff reached idle_poll_us.
 */
static bool ivshm_may_park(struct ivshm_ntb *ndev, u64 sleep_ns,
			   u64 backoff_ns)
{
	if (ndev->mode != IVSHM_POLL_ADAPTIVE &&
	    (ndev->mode != IVSHM_POLL_HYBRID || ndev->peers_ring))
		return false;
	return sleep_ns == backoff_ns && backoff_ns >= ivshm_idle_poll_ns();
}

/*
 * Spinning, most passes find nothing, and a full one costs more than it
 * looks at: the clock read alone (an emulated CSR read under TCG) was a
 * quarter of an empty pass (bench/rtt-profile.sh). So between full passes
 * a spin looks only at what a full pass would act on first, the event
 * counter and the kick, up to IVSHM_SPIN_BATCH times; the full pass after
 * it reads the clock, beats when due and reconsiders the spin (a batch is
 * a few microseconds: the spin window's 10 us floor stays meaningful).
 */
#define IVSHM_SPIN_BATCH	16

/* Return: true if the counter moved (not for a kick alone). */
static bool ivshm_spin_batch(struct ivshm_ntb *ndev)
{
	int i;

	for (i = 0; i < IVSHM_SPIN_BATCH; i++) {
		if (ivntb_event_seq(&ndev->region, &ndev->me) != ndev->last_seq)
			return true;
		if (atomic_read(&ndev->kick))
			return false;
		cpu_relax();
	}
	return false;
}

static int ivshm_poll_thread(void *data)
{
	struct ivshm_ntb *ndev = data;
	u64 last_active = 0, backoff_ns = 0, sleep_ns, now;
	u64 spin_ns = (u64)READ_ONCE(spin_us) * NSEC_PER_USEC;
	struct ivshm_spin sp = {};
	bool event, spin, park, resched;

	WRITE_ONCE(ndev->spin_win, spin_ns);
	while (!kthread_should_stop()) {
		now = ktime_get_ns();
		ndev->poll_now = now;
		event = ivshm_poll(ndev, now);
		if (event) {
			last_active = now;
			backoff_ns = 0;
			spin_ns = (u64)READ_ONCE(spin_us) * NSEC_PER_USEC;
		}

		if (ndev->mode == IVSHM_POLL_HYBRID ||
		    ivshm_adaptive_window(ndev))
			spin = ivshm_hybrid_spin(ndev, &sp, now, event);
		else
			/* adaptive: spin_us after any activity */
			spin = ndev->mode == IVSHM_POLL_KTHREAD ||
			       (ndev->mode == IVSHM_POLL_ADAPTIVE &&
				now - last_active < spin_ns);
		if (spin) {
			/* rescheduled: the links' freshness by now is unknown */
			resched = cond_resched();
			/*
			 * A spin caught an event while the links were fresh:
			 * its doorbells first, then the clock and the pass,
			 * which finds them delivered (a clock read is the
			 * dearest step of a pass under TCG, and a reply's
			 * wait). The pass stamps what it changes with its own
			 * reading, so nothing gets the batch's stale time; a
			 * link change the spin also caught is seen after the
			 * doorbells, as one made during the batch would be.
			 */
			if (ivshm_spin_batch(ndev) && !resched &&
			    ivshm_link_fresh(ndev, now)) {
				if (ivshm_deliver(ndev))
					ndev->stats.spin_delivers++;
			}
			continue;
		}
		/* an evaluation skipped while events flowed, before we sleep */
		if (ndev->link_owed)
			ivshm_link_update(ndev, now);
		/*
		 * adaptive_window: an event no spin would catch (they come
		 * slower than the window): batch, poll once per idle period
		 * as a fixed-period poller does, rather than ramp up from 10 us
		 */
		if (event && ivshm_adaptive_window(ndev))
			backoff_ns = ivshm_idle_poll_ns();

		/* idle: back off from 10 us up to idle_poll_us */
		backoff_ns = clamp_t(u64, backoff_ns * 2, 10 * NSEC_PER_USEC,
				     ivshm_idle_poll_ns());
		sleep_ns = ivshm_idle_ns(ndev, now, backoff_ns);
		if (ndev->mode == IVSHM_POLL_HYBRID && ivshm_arm(ndev))
			continue;	/* the counter moved: no sleep */
		park = ivshm_may_park(ndev, sleep_ns, backoff_ns);

		/* before the park timer starts: its wake-up is not lost */
		WRITE_ONCE(ndev->asleep, true);
		set_current_state(TASK_INTERRUPTIBLE);
		if (!atomic_read(&ndev->kick) && !kthread_should_stop()) {
			ktime_t to = ns_to_ktime(sleep_ns);

			sp.armed_at = now;
			if (park) {
				hrtimer_start_range_ns(&ndev->timer, to,
						       sleep_ns / 4,
						       HRTIMER_MODE_REL_HARD);
				schedule();
				__set_current_state(TASK_RUNNING);
				hrtimer_cancel(&ndev->timer);
			} else if (sleep_ns == U64_MAX) {
				ndev->untimed = true;
				schedule();
			} else {
				schedule_hrtimeout_range(&to, sleep_ns / 4,
							 HRTIMER_MODE_REL);
			}
			ndev->stats.wakes++;
		}
		__set_current_state(TASK_RUNNING);
		WRITE_ONCE(ndev->asleep, false);
		if (READ_ONCE(ndev->armed) && ndev->mode == IVSHM_POLL_HYBRID)
			ivshm_disarm(ndev);
	}
	return 0;
}

static enum hrtimer_restart ivshm_poll_timer(struct hrtimer *t)
{
	struct ivshm_ntb *ndev = container_of(t, struct ivshm_ntb, timer);

	ndev->stats.wakes++;
	ivshm_poll(ndev, ktime_get_ns());
	hrtimer_forward_now(t, ns_to_ktime((u64)max(READ_ONCE(poll_interval_us), 10U) *
					   NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

static int ivshm_start_poller(struct ivshm_ntb *ndev)
{
	struct task_struct *t;

	if (ndev->mode == IVSHM_POLL_HRTIMER) {
		hrtimer_init(&ndev->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
		ndev->timer.function = ivshm_poll_timer;
		hrtimer_start(&ndev->timer, 0, HRTIMER_MODE_REL_SOFT);
		return 0;
	}

	hrtimer_init(&ndev->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	ndev->timer.function = ivshm_park_timer;
	t = kthread_create(ivshm_poll_thread, ndev, "ivntb/%s",
			   pci_name(ndev->pdev));
	if (IS_ERR(t))
		return PTR_ERR(t);
	/*
	 * Known before it runs: its park timer wakes it through this, and
	 * ops on other CPUs may kick already (clients are bound).
	 */
	WRITE_ONCE(ndev->task, t);
	wake_up_process(t);
	return 0;
}

static void ivshm_stop_poller(struct ivshm_ntb *ndev)
{
	struct task_struct *t;

	if (ndev->mode == IVSHM_POLL_HRTIMER) {
		hrtimer_cancel(&ndev->timer);
	} else {
		t = ndev->task;
		WRITE_ONCE(ndev->task, NULL);
		kthread_stop(t);
	}
	/* the poller queued it: an ack's grace period ends in a kick */
	rcu_barrier();
}

/*=============================================================================
 *                5. Interrupt mode
 *
 *    On an ivshmem-doorbell device: ringing a peer through the Doorbell
 * register, the wake word a hybrid poller arms before it sleeps (W1) and a
 * sender reads before it rings (W2), the MSI-X handler, which only kicks the
 * poller, the setup and teardown of the registers and the vector, and the
 * doorbell server's supervision.
 *=============================================================================
 */

/**
 * ivshm_ring() - interrupt a port's owner, if it takes interrupts
 * @ndev:	our device.
 * @pport:	the port whose owner gets the interrupt.
 *
 * Rings when the owner published an irq_id (protocol 1.1) and we are on an
 * ivshmem-doorbell device of the same server, and, for a 1.3 owner, only
 * while its wake word is armed (it sleeps). Call it after the event was
 * published in shared memory, which is where the owner reads it. irq_id is
 * untrusted: ivntb_irq_id_get() bounds it to a 16-bit peer ID, and QEMU
 * drops a Doorbell write to a peer ID it does not know.
 *
 * Context: any; does not sleep.
 */
static void ivshm_ring(struct ivshm_ntb *ndev, u32 pport)
{
	u32 id;

	if (!ndev->regs || ivntb_irq_id_get(&ndev->region, pport, &id) || !id)
		return;
	/* W2: a 1.3 owner that polls or spins sees the event unrung */
	if (!ivntb_wake_wanted(&ndev->region, pport)) {
		atomic64_inc(&ndev->stats.rings_saved);
		return;
	}
	writel((id - 1) << 16, ndev->regs + IVSHM_REG_DOORBELL);
	atomic64_inc(&ndev->stats.irq_rings);
}

/* We poll again (or stop): senders need not ring us. */
static void ivshm_disarm(struct ivshm_ntb *ndev)
{
	ivntb_wake_disarm(&ndev->region, &ndev->me);
	WRITE_ONCE(ndev->armed, false);
}

/*
 * Hybrid: arm our wake word before sleeping. W1 orders the store before
 * the load of our counter: a sender whose increment that load missed
 * reads the word armed (W2) and rings. Returns true if the counter moved
 * since the last full pass (or a kick is pending): then do not sleep.
 */
static bool ivshm_arm(struct ivshm_ntb *ndev)
{
	u64 seq;

	if (ivntb_wake_arm(&ndev->region, &ndev->me, &seq))
		return false;	/* not ours any more: sleep on the timer */
	WRITE_ONCE(ndev->armed, true);
	ndev->stats.arms++;
	if (seq == ndev->last_seq && !atomic_read(&ndev->kick))
		return false;
	ivshm_disarm(ndev);
	ndev->stats.arm_saves++;
	return true;
}

static irqreturn_t ivshm_irq(int irq, void *data)
{
	struct ivshm_ntb *ndev = data;

	atomic64_inc(&ndev->stats.irqs);
	ivshm_kick(ndev);	/* the poller thread runs the dispatch */
	return IRQ_HANDLED;
}

/*
 * ivshmem-doorbell: map the registers (to ring peers that sleep armed, in
 * any mode, which our IVNTB_CAP_RINGS promises), and unless use_irq=N or
 * poll_mode asks for a poller that never sleeps on an interrupt (kthread,
 * hrtimer), take one MSI-X vector: the mode is then hybrid (irq if asked)
 * and our irq_id tells peers how to ring us. ivshmem-plain (IVPosition -1,
 * no MSI-X) polls, with one line if hybrid or irq was asked. Failing to
 * get the vector is not an error: we poll (adaptive) and say so once.
 */
static void ivshm_init_irq(struct ivshm_ntb *ndev)
{
	struct pci_dev *pdev = ndev->pdev;
	enum ivshm_poll_mode want = ndev->mode;
	u64 seq;
	u32 pos;
	int ret;

	/* the polling fallback of the interrupt modes */
	if (want == IVSHM_POLL_HYBRID || want == IVSHM_POLL_IRQ)
		ndev->mode = IVSHM_POLL_ADAPTIVE;

	if (pci_resource_len(pdev, IVSHM_BAR_REGS) < IVSHM_REGS_LEN ||
	    !(pci_resource_flags(pdev, IVSHM_BAR_REGS) & IORESOURCE_MEM))
		goto no_regs;
	if (pci_request_region(pdev, IVSHM_BAR_REGS, DRV_NAME))
		goto no_regs;
	ndev->regs = pci_iomap(pdev, IVSHM_BAR_REGS, IVSHM_REGS_LEN);
	if (!ndev->regs)
		goto err_release_regs;
	pos = readl(ndev->regs + IVSHM_REG_IVPOSITION);
	if (pos >= IVNTB_IRQ_ID_MAX || pci_msix_vec_count(pdev) <= 0)
		goto err_unmap_regs;	/* ivshmem-plain */
	ndev->doorbell_id = pos;
	ivntb_wake_caps_set(&ndev->region, &ndev->me, IVNTB_CAP_RINGS);
	if (!use_irq || want == IVSHM_POLL_KTHREAD ||
	    want == IVSHM_POLL_HRTIMER) {
		dev_info(&pdev->dev, "ivshmem-doorbell peer %u: polling (%s)\n",
			 pos, use_irq ? ivshm_poll_names[want] : "use_irq=N");
		return;
	}

	/* QEMU sends MSI-X through the bus-master address space */
	pci_set_master(pdev);
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_warn(&pdev->dev, "ivshmem-doorbell peer %u: cannot allocate an MSI-X vector (%d; no MSI controller?): polling (%s)\n",
			 pos, ret, ivshm_poll_names[ndev->mode]);
		goto err_clear_master;
	}
	ret = request_irq(pci_irq_vector(pdev, 0), ivshm_irq, 0, DRV_NAME, ndev);
	if (ret) {
		dev_warn(&pdev->dev, "ivshmem-doorbell peer %u: cannot request its interrupt (%d): polling (%s)\n",
			 pos, ret, ivshm_poll_names[ndev->mode]);
		goto err_free_vectors;
	}
	ndev->irq = pci_irq_vector(pdev, 0);
	ndev->mode = want == IVSHM_POLL_IRQ ? IVSHM_POLL_IRQ : IVSHM_POLL_HYBRID;
	ivntb_irq_id_set(&ndev->region, &ndev->me, pos + 1);
	/* irq: armed for good, every event rings us */
	if (ndev->mode == IVSHM_POLL_IRQ &&
	    !ivntb_wake_arm(&ndev->region, &ndev->me, &seq))
		WRITE_ONCE(ndev->armed, true);
	dev_info(&pdev->dev, "ivshmem-doorbell peer %u: MSI-X interrupts (%s)\n",
		 pos, ivshm_poll_names[ndev->mode]);
	return;

err_free_vectors:
	pci_free_irq_vectors(pdev);
err_clear_master:
	pci_clear_master(pdev);
	return;

err_unmap_regs:
	pci_iounmap(pdev, ndev->regs);
	ndev->regs = NULL;
err_release_regs:
	pci_release_region(pdev, IVSHM_BAR_REGS);
no_regs:
	if (want == IVSHM_POLL_HYBRID || want == IVSHM_POLL_IRQ)
		dev_info(&pdev->dev, "poll_mode=%s needs an ivshmem-doorbell device with MSI-X: polling (adaptive)\n",
			 ivshm_poll_names[want]);
}

/*
 * Publish our doorbell peer ID (for a supervising server) and heartbeat
 * period; if the server supervises the region and rings us, beat slowly:
 * a peer learns of our death from the server, and our heartbeat is the
 * backstop (peers wait three of our periods). The period is published
 * before it changes, so no peer times us out on the old one.
 */
static void ivshm_init_supervision(struct ivshm_ntb *ndev)
{
	u32 hb = heartbeat_ms;

	ndev->supervised = ndev->irq && sup_heartbeat_ms &&
			   ivntb_sup_present(&ndev->region);
	if (ndev->supervised)
		hb = sup_heartbeat_ms;
	ivshm_set_heartbeat(ndev, hb);
	if (ndev->supervised)
		dev_info(&ndev->pdev->dev, "supervised by the doorbell server: heartbeat %u ms, a peer's death comes from the server\n",
			 hb);
}

static void ivshm_deinit_irq(struct ivshm_ntb *ndev)
{
	struct pci_dev *pdev = ndev->pdev;

	if (ndev->irq) {
		ivshm_disarm(ndev);
		ivntb_irq_id_set(&ndev->region, &ndev->me, 0);
		free_irq(ndev->irq, ndev);
		ndev->irq = 0;
		pci_free_irq_vectors(pdev);
		pci_clear_master(pdev);
	}
	if (ndev->regs) {
		ivntb_wake_caps_set(&ndev->region, &ndev->me, 0);
		pci_iounmap(pdev, ndev->regs);
		ndev->regs = NULL;
		pci_release_region(pdev, IVSHM_BAR_REGS);
	}
}

/*=============================================================================
 *                6. Memory windows
 *
 *    Window geometry from the region's table, the device-tree DMA pool over
 * this port's inbound windows, and the steering that lands a client's next
 * allocation in the window whose alignment it asked for; mw_set_trans()
 * accepts only a buffer that is the window (docs/windows.md).
 *=============================================================================
 */

/* ntb_dev_ops: memory windows (geometry; translation needs BAR2 memory) */

static int ntb_ivshm_mw_count(struct ntb_dev *ntb, int pidx)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);

	if (ntb_ivshm_pidx_port(ndev, pidx) < 0)
		return -EINVAL;
	return ndev->region.geom.nr_mws;
}

/* Inbound window @widx for peer @pidx: offset and size in the region. */
static int ntb_ivshm_inbound(struct ivshm_ntb *ndev, int pidx, int widx,
			     u64 *off, u64 *size)
{
	int pport = ntb_ivshm_pidx_port(ndev, pidx);

	if (pport < 0 || widx < 0)
		return -EINVAL;
	return ivntb_mw_get(&ndev->region, ndev->me.port, pport, widx, off,
			    size);
}

/* Free every placeholder block. mw_lock held. */
static void ivshm_mw_unhold(struct ivshm_ntb *ndev)
{
	while (ndev->nr_holds) {
		unsigned int i = --ndev->nr_holds;

		dma_free_coherent(&ndev->pdev->dev, ndev->hold[i].size,
				  ndev->hold[i].va, ndev->hold[i].dma);
	}
}

#if defined(CONFIG_ARCH_HAS_DMA_OPS) || defined(CONFIG_DMA_OPS)	/* 6.12 | 6.1 */
/*
 * DMA ops of our own PCI device (docs/windows.md, "x86_64"; arm64 has
 * per-device ops with XEN): coherent buffers come from this port's
 * inbound windows in BAR2, in naturally aligned power-of-two runs of pages
 * found in a bitmap, as a device-tree DMA pool's are
 * (dma_alloc_from_dev_coherent()), so the steering of ivshm_mw_steer()
 * places them alike; streaming mappings are the identity of a guest
 * without an IOMMU (the ops are not installed where one translates:
 * ivshm_init_mw_dma_ops()). No cache maintenance: the windows are host
 * memory and no device masters DMA. Peers write them through a
 * write-combining mapping (ioremap_wc()); we read them write-back on x86,
 * where the two are coherent, and write-combining elsewhere, as a
 * device-tree pool maps them (arm64: Normal-NC, so a KVM host without
 * FWB does not see mismatched attributes).
 */
#ifdef CONFIG_X86
#define IVSHM_MW_MEMREMAP	MEMREMAP_WB
#else
#define IVSHM_MW_MEMREMAP	MEMREMAP_WC
#endif
static struct ivshm_ntb *ivshm_dma_ndev(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static void *ivshm_dma_alloc(struct device *dev, size_t size,
			     dma_addr_t *dma, gfp_t gfp, unsigned long attrs)
{
	struct ivshm_ntb *ndev = ivshm_dma_ndev(dev);
	u32 pages = (ndev->in_hi - ndev->in_lo) >> PAGE_SHIFT;
	unsigned long flags;
	int pageno;
	void *va;

	/* a size from a peer (ntb_perf's) may be 0 or anything */
	if (!size || size > ((size_t)pages << PAGE_SHIFT))
		return NULL;
	spin_lock_irqsave(&ndev->mw_map_lock, flags);
	pageno = bitmap_find_free_region(ndev->mw_map, pages, get_order(size));
	spin_unlock_irqrestore(&ndev->mw_map_lock, flags);
	if (pageno < 0)
		return NULL;
	*dma = ndev->shm_phys + ndev->in_lo + ((u64)pageno << PAGE_SHIFT);
	va = ndev->mw_va + ((size_t)pageno << PAGE_SHIFT);
	memset(va, 0, size);
	return va;
}

static void ivshm_dma_free(struct device *dev, size_t size, void *va,
			   dma_addr_t dma, unsigned long attrs)
{
	struct ivshm_ntb *ndev = ivshm_dma_ndev(dev);
	size_t len = ndev->in_hi - ndev->in_lo;
	unsigned long flags;
	int pageno;

	/* by the address we returned, as kernel/dma/coherent.c does */
	if (va < ndev->mw_va || va >= ndev->mw_va + len || !size ||
	    size > len) {
		dev_WARN_ONCE(dev, 1, "freeing %p+%#zx, not a window buffer\n",
			      va, size);
		return;
	}
	pageno = (va - ndev->mw_va) >> PAGE_SHIFT;
	spin_lock_irqsave(&ndev->mw_map_lock, flags);
	bitmap_release_region(ndev->mw_map, pageno, get_order(size));
	spin_unlock_irqrestore(&ndev->mw_map_lock, flags);
}

static dma_addr_t ivshm_dma_map_page(struct device *dev, struct page *page,
				     unsigned long offset, size_t size,
				     enum dma_data_direction dir,
				     unsigned long attrs)
{
	return page_to_phys(page) + offset;
}

static void ivshm_dma_unmap_page(struct device *dev, dma_addr_t dma,
				 size_t size, enum dma_data_direction dir,
				 unsigned long attrs)
{
}

static int ivshm_dma_map_sg(struct device *dev, struct scatterlist *sgl,
			    int nents, enum dma_data_direction dir,
			    unsigned long attrs)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i) {
		sg->dma_address = sg_phys(sg);
		sg_dma_len(sg) = sg->length;
	}
	return nents;
}

static void ivshm_dma_unmap_sg(struct device *dev, struct scatterlist *sgl,
			       int nents, enum dma_data_direction dir,
			       unsigned long attrs)
{
}

static dma_addr_t ivshm_dma_map_resource(struct device *dev,
					 phys_addr_t phys, size_t size,
					 enum dma_data_direction dir,
					 unsigned long attrs)
{
	return phys;
}

static int ivshm_dma_supported(struct device *dev, u64 mask)
{
	return 1;
}

static const struct dma_map_ops ivshm_dma_ops = {
	.alloc		= ivshm_dma_alloc,
	.free		= ivshm_dma_free,
	.map_page	= ivshm_dma_map_page,
	.unmap_page	= ivshm_dma_unmap_page,
	.map_sg		= ivshm_dma_map_sg,
	.unmap_sg	= ivshm_dma_unmap_sg,
	.map_resource	= ivshm_dma_map_resource,
	.dma_supported	= ivshm_dma_supported,
};

/*
 * Back the inbound windows [@lo, @hi) of BAR2 by our DMA ops. Return: 0,
 * or a negative errno (said in one line; windows then refused).
 */
static int ivshm_init_mw_dma_ops(struct ivshm_ntb *ndev, u64 lo, u64 hi)
{
	struct device *dev = &ndev->pdev->dev;
	int ret;

	if (!mw_dma_ops) {
		dev_info(dev, "mw_dma_ops=0 and no DMA pool over the inbound windows: clients' buffers cannot be windows (docs/windows.md)\n");
		return -EOPNOTSUPP;
	}
	if (device_iommu_mapped(dev)) {
		dev_info(dev, "an IOMMU translates this device's DMA: clients' buffers cannot be windows (docs/windows.md)\n");
		return -EOPNOTSUPP;
	}
	/* windows are page-aligned (mw_align >= 4 KiB), so is their range */
	if (!PAGE_ALIGNED(lo) || !PAGE_ALIGNED(hi - lo) ||
	    (hi - lo) >> PAGE_SHIFT > INT_MAX) {
		ret = -EINVAL;
		goto out;
	}
	ndev->mw_map = bitmap_zalloc((hi - lo) >> PAGE_SHIFT, GFP_KERNEL);
	if (!ndev->mw_map) {
		ret = -ENOMEM;
		goto out;
	}
	ndev->mw_va = memremap(ndev->shm_phys + lo, hi - lo, IVSHM_MW_MEMREMAP);
	if (!ndev->mw_va) {
		ret = -ENOMEM;
		goto free_map;
	}
	spin_lock_init(&ndev->mw_map_lock);
	ndev->in_lo = lo;
	ndev->in_hi = hi;
	ndev->old_dma_ops = dev->dma_ops;
	set_dma_ops(dev, &ivshm_dma_ops);
	return 0;

free_map:
	bitmap_free(ndev->mw_map);
	ndev->mw_map = NULL;
out:
	dev_err(dev, "cannot back inbound windows %#llx+%#llx by our DMA ops: %d\n",
		lo, hi - lo, ret);
	return ret;
}

static void ivshm_deinit_mw_dma_ops(struct ivshm_ntb *ndev)
{
	u32 pages = (ndev->in_hi - ndev->in_lo) >> PAGE_SHIFT;

	set_dma_ops(&ndev->pdev->dev, ndev->old_dma_ops);
	/* a buffer still allocated: keep its mapping rather than free it */
	if (!bitmap_empty(ndev->mw_map, pages)) {
		dev_warn(&ndev->pdev->dev, "%u pages of window buffers still allocated at remove\n",
			 bitmap_weight(ndev->mw_map, pages));
	} else {
		memunmap(ndev->mw_va);
	}
	ndev->mw_va = NULL;
	bitmap_free(ndev->mw_map);
	ndev->mw_map = NULL;
}
#else
static int ivshm_init_mw_dma_ops(struct ivshm_ntb *ndev, u64 lo, u64 hi)
{
	dev_info(&ndev->pdev->dev, "no DMA pool over the inbound windows, and no per-device DMA ops in this kernel: clients' buffers cannot be windows (docs/windows.md)\n");
	return -EOPNOTSUPP;
}

static void ivshm_deinit_mw_dma_ops(struct ivshm_ntb *ndev)
{
}
#endif

/*
 * Attach the device-tree DMA pool that covers exactly this port's inbound
 * windows in our BAR2, if the guest was booted with one, or else back them
 * by our own DMA ops where the kernel has per-device ops (docs/windows.md).
 * Without either the driver works, but no client buffer can be a window.
 */
static void ivshm_init_mw_pool(struct ivshm_ntb *ndev)
{
	struct device *dev = &ndev->pdev->dev;
	struct device_node *np, *rn;
	struct reserved_mem *rmem;
	u64 off, size, lo = U64_MAX, hi = 0, sum = 0;
	u32 pidx, w;
	int i, n, ret;

	for (pidx = 0; pidx < ndev->nr_peers; pidx++)
		for (w = 0; w < ndev->region.geom.nr_mws; w++) {
			if (ntb_ivshm_inbound(ndev, pidx, w, &off, &size))
				return;
			lo = min(lo, off);
			hi = max(hi, off + size);
			sum += size;
		}
	if (!sum || hi - lo != sum)
		return;	/* not one contiguous range: no pool can match */

	np = of_find_compatible_node(NULL, NULL, IVSHM_POOLS_COMPAT);
	if (!np) {
		if (ivshm_init_mw_dma_ops(ndev, lo, hi))	/* sets in_lo/hi */
			return;
		ndev->mw_pool = true;
		dev_info(dev, "inbound windows %#llx+%#llx backed by our DMA ops\n",
			 lo, hi - lo);
		return;
	}
	/* no memory-region property (< 0): no pool, said below */
	n = max(of_count_phandle_with_args(np, "memory-region", NULL), 0);
	for (i = 0; i < n; i++) {
		rn = of_parse_phandle(np, "memory-region", i);
		rmem = rn ? of_reserved_mem_lookup(rn) : NULL;
		of_node_put(rn);
		if (!rmem || rmem->base != ndev->shm_phys + lo ||
		    rmem->size != hi - lo)
			continue;
		ret = of_reserved_mem_device_init_by_idx(dev, np, i);
		if (ret) {
			dev_err(dev, "cannot attach the DMA pool at %pa: %d\n",
				&rmem->base, ret);
			break;
		}
		ndev->mw_pool = true;
		ndev->in_lo = lo;
		ndev->in_hi = hi;
		dev_info(dev, "inbound windows %#llx+%#llx backed by DMA pool %pa\n",
			 lo, hi - lo, &rmem->base);
		break;
	}
	of_node_put(np);
	if (!ndev->mw_pool && i == n)
		dev_warn(dev, "no DMA pool matches inbound windows %#llx+%#llx of port %u in BAR2 %pa\n",
			 lo, hi - lo, ndev->me.port, &ndev->shm_phys);
}

static void ivshm_deinit_mw_pool(struct ivshm_ntb *ndev)
{
	if (!ndev->mw_pool)
		return;
	cancel_delayed_work_sync(&ndev->steer_work);
	mutex_lock(&ndev->mw_lock);
	ivshm_mw_unhold(ndev);
	mutex_unlock(&ndev->mw_lock);
	if (ndev->mw_map)
		ivshm_deinit_mw_dma_ops(ndev);
	else
		of_reserved_mem_device_release(&ndev->pdev->dev);
	ndev->mw_pool = false;
}

/* The steering token of peer @pidx's inbound window @widx: never 0. */
static int ivshm_steer_id(struct ivshm_ntb *ndev, int pidx, int widx)
{
	return 1 + pidx * ndev->region.geom.nr_mws + widx;
}

/*
 * Free the placeholders once nobody steers by them: the steering ended
 * (mw_set_trans, mw_clear_trans), or it expired (a caller that only
 * asked for the alignment: ntb_tool reading mw_trans, ntb_perf giving up).
 */
static void ivshm_mw_steer_work(struct work_struct *work)
{
	struct ivshm_ntb *ndev = container_of(to_delayed_work(work),
					      struct ivshm_ntb, steer_work);
	int cur;

	mutex_lock(&ndev->mw_lock);
	cur = atomic_read(&ndev->steer);
	if (cur && time_after_eq(jiffies, ndev->steer_until) &&
	    atomic_cmpxchg(&ndev->steer, cur, 0) == cur) {
		atomic64_inc(&ndev->stats.mw_steer_expired);
		wake_up(&ndev->steer_wq);
		cur = 0;
	}
	if (!cur)
		ivshm_mw_unhold(ndev);
	else	/* a live steering whose own expiry a late end overrode */
		mod_delayed_work(system_wq, &ndev->steer_work,
				 max_t(long, ndev->steer_until - jiffies, 0) + 1);
	mutex_unlock(&ndev->mw_lock);
}

/*
 * Peer @pidx's window @widx has its buffer, or gave it up: its steering
 * ends; the placeholders are freed from a work item. Context: any.
 */
static void ivshm_mw_steer_end(struct ivshm_ntb *ndev, int pidx, int widx)
{
	int id = ivshm_steer_id(ndev, pidx, widx);

	if (!ndev->mw_pool || atomic_cmpxchg(&ndev->steer, id, 0) != id)
		return;
	wake_up(&ndev->steer_wq);
	mod_delayed_work(system_wq, &ndev->steer_work, 0);
}

/**
 * ivshm_mw_steer() - make the next DMA allocation land in one window
 * @ndev:	our device.
 * @off:	the inbound window's offset in the region.
 * @size:	its size.
 *
 * Leaves the pool's free space only inside [@off, @off + @size), so that
 * the client's next dma_alloc_coherent() lands there: the pool hands out
 * first-fit blocks, so fill all free space with blocks no larger than a
 * window (windows are equal, naturally aligned and contiguous from the
 * pool's base, so no block straddles two), then give back those inside
 * the target window. Best effort: at most IVSHM_MAX_HOLDS placeholders
 * of at least a page; mw_set_trans() checks where the buffer landed.
 *
 * Context: @ndev->mw_lock held.
 */
static void ivshm_mw_steer(struct ivshm_ntb *ndev, u64 off, u64 size)
{
	struct device *dev = &ndev->pdev->dev;
	dma_addr_t lo = ndev->shm_phys + off, dma;
	size_t blk = rounddown_pow_of_two(size);
	unsigned int i;
	void *va;

	ivshm_mw_unhold(ndev);
	while (blk >= PAGE_SIZE && ndev->nr_holds < IVSHM_MAX_HOLDS) {
		va = dma_alloc_coherent(dev, blk, &dma, GFP_KERNEL | __GFP_NOWARN);
		if (!va) {
			blk >>= 1;
			continue;
		}
		i = ndev->nr_holds++;
		ndev->hold[i].va = va;
		ndev->hold[i].dma = dma;
		ndev->hold[i].size = blk;
	}
	for (i = 0; i < ndev->nr_holds; ) {
		if (ndev->hold[i].dma >= lo && ndev->hold[i].dma < lo + size) {
			dma_free_coherent(dev, ndev->hold[i].size,
					  ndev->hold[i].va, ndev->hold[i].dma);
			ndev->hold[i] = ndev->hold[--ndev->nr_holds];
		} else {
			i++;
		}
	}
}

/*
 * Take the steering for peer @pidx's window @widx ([@off, @off + @size))
 * and steer, once another window's steering ended or expired: two
 * clients placing buffers at once (ntb_perf toward two peers) each get
 * their window, one after the other. With !@wait (a window that has its
 * buffer: a query, or a client about to clear and replace it) only if
 * no other window steers now. Context: process; sleeps.
 */
static void ivshm_mw_steer_begin(struct ivshm_ntb *ndev, int pidx, int widx,
				 u64 off, u64 size, bool wait)
{
	int id = ivshm_steer_id(ndev, pidx, widx), cur;
	long left;

	mutex_lock(&ndev->mw_lock);
	for (;;) {
		cur = atomic_read(&ndev->steer);
		left = (long)(ndev->steer_until - jiffies);
		if (!cur || cur == id)
			break;
		if (!wait && left > 0) {
			mutex_unlock(&ndev->mw_lock);
			return;
		}
		if (left <= 0) {	/* its owner only asked */
			atomic64_inc(&ndev->stats.mw_steer_expired);
			break;
		}
		mutex_unlock(&ndev->mw_lock);
		wait_event_timeout(ndev->steer_wq,
				   atomic_read(&ndev->steer) != cur, left);
		mutex_lock(&ndev->mw_lock);
	}
	atomic_set(&ndev->steer, id);
	ndev->steer_until = jiffies + msecs_to_jiffies(IVSHM_STEER_MS);
	ivshm_mw_steer(ndev, off, size);
	mutex_unlock(&ndev->mw_lock);
	mod_delayed_work(system_wq, &ndev->steer_work,
			 msecs_to_jiffies(IVSHM_STEER_MS) + 1);
}

static int ntb_ivshm_mw_get_align(struct ntb_dev *ntb, int pidx, int widx,
				  resource_size_t *addr_align,
				  resource_size_t *size_align,
				  resource_size_t *size_max)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u64 off, size;
	int ret;

	ret = ntb_ivshm_inbound(ndev, pidx, widx, &off, &size);
	if (ret)
		return ret;
	/*
	 * Every upstream client asks for the alignment just before it
	 * allocates the window's buffer: the hook that places the buffer.
	 * For a window that has its buffer the call may be a query (ntb_tool
	 * reading mw_trans) or come before a clear and a new buffer
	 * (ntb_transport and ntb_perf resizing): steer then only if no
	 * other window steers, without waiting.
	 */
	if (ndev->mw_pool)
		ivshm_mw_steer_begin(ndev, pidx, widx, off, size,
				     !test_bit(ivshm_steer_id(ndev, pidx, widx) - 1,
					       ndev->mw_placed));
	if (addr_align)
		*addr_align = ndev->region.geom.mw_align;
	if (size_align)
		*size_align = 1;
	if (size_max)
		*size_max = size;
	return 0;
}

/**
 * ntb_ivshm_mw_set_trans() - accept a client's buffer for an inbound window
 * @ntb:	NTB device.
 * @pidx:	peer index.
 * @widx:	window index.
 * @addr:	DMA address of the buffer.
 * @size:	its size.
 *
 * Nothing translates addresses: what the peer writes through its window
 * lands in BAR2 at the window's offset. The buffer is accepted only if its
 * DMA address is that memory's physical address, which buffers from the
 * DMA pool have (ntb_ivshm_mw_get_align()). Under a translating guest
 * IOMMU @addr is an IOVA, so such buffers are refused.
 *
 * Context: any; never sleeps.
 * Return: 0; -EINVAL for a bad @pidx/@widx, or (with one rate-limited
 * dmesg line) for any other buffer.
 */
static int ntb_ivshm_mw_set_trans(struct ntb_dev *ntb, int pidx, int widx,
				  dma_addr_t addr, resource_size_t size)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u64 off, wsize;
	int ret;

	ret = ntb_ivshm_inbound(ndev, pidx, widx, &off, &wsize);
	if (ret)
		return ret;
	ivshm_mw_steer_end(ndev, pidx, widx);
	if (addr != ndev->shm_phys + off || size > wsize) {
		dev_err_ratelimited(&ndev->pdev->dev,
				    "mw %d for peer %d: buffer %pad+%#llx is not inbound window %#llx+%#llx in BAR2%s\n",
				    widx, pidx, &addr, (u64)size,
				    (u64)(ndev->shm_phys + off), wsize,
				    ndev->mw_pool ? "" :
				    " (no DMA pool over the windows: see docs/windows.md)");
		atomic64_inc(&ndev->stats.mw_refused);
		return -EINVAL;
	}
	atomic64_inc(&ndev->stats.mw_set);
	set_bit(ivshm_steer_id(ndev, pidx, widx) - 1, ndev->mw_placed);
	return 0;
}

static int ntb_ivshm_mw_clear_trans(struct ntb_dev *ntb, int pidx, int widx)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u64 off, size;
	int ret;

	ret = ntb_ivshm_inbound(ndev, pidx, widx, &off, &size);
	if (ret)
		return ret;
	clear_bit(ivshm_steer_id(ndev, pidx, widx) - 1, ndev->mw_placed);
	ivshm_mw_steer_end(ndev, pidx, widx);
	return 0;
}

static int ntb_ivshm_peer_mw_count(struct ntb_dev *ntb)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);

	return ndev->nr_peers * ndev->region.geom.nr_mws;
}

static int ntb_ivshm_peer_mw_get_addr(struct ntb_dev *ntb, int widx,
				      phys_addr_t *base, resource_size_t *size)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u32 nr_mws = ndev->region.geom.nr_mws;
	u64 off, wsize;
	int pport, ret;

	if (widx < 0 || !nr_mws)
		return -EINVAL;
	pport = ntb_ivshm_pidx_port(ndev, widx / nr_mws);
	if (pport < 0)
		return -EINVAL;
	ret = ivntb_mw_get(&ndev->region, pport, ndev->me.port, widx % nr_mws,
			   &off, &wsize);
	if (ret)
		return ret;
	if (base)
		*base = ndev->shm_phys + off;
	if (size)
		*size = wsize;
	return 0;
}

/*=============================================================================
 *                7. Doorbells, scratchpads, messages
 *
 *    Their ntb_dev_ops over the shared words, and the validated private copy
 * of the inbound message registers that the message ops report.
 *=============================================================================
 */

/* ntb_dev_ops: doorbells */

static u64 ntb_ivshm_db_valid_mask(struct ntb_dev *ntb)
{
	return U64_MAX;
}

static int ntb_ivshm_db_vector_count(struct ntb_dev *ntb)
{
	return 1;
}

static u64 ntb_ivshm_db_vector_mask(struct ntb_dev *ntb, int db_vector)
{
	return db_vector == 0 ? U64_MAX : 0;
}

static u64 ntb_ivshm_db_read(struct ntb_dev *ntb)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);

	if (READ_ONCE(ndev->lost))
		return 0;
	return ivntb_db_read(&ndev->region, &ndev->me);
}

static int ntb_ivshm_db_set(struct ntb_dev *ntb, u64 db_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);

	if (READ_ONCE(ndev->lost))
		return -ENOLINK;
	return ivntb_db_ring(&ndev->region, ndev->me.port, db_bits);
}

static int ntb_ivshm_db_clear(struct ntb_dev *ntb, u64 db_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	int ret;

	if (READ_ONCE(ndev->lost))
		return -ENOLINK;
	ret = ivntb_db_clear(&ndev->region, &ndev->me, db_bits);
	/* a cleared bit rung again is a new event */
	atomic64_andnot(db_bits, &ndev->db_delivered);
	/*
	 * A bit rung again before the line above, and polled for in between,
	 * is still signalled: the kick makes the poller look again. Not
	 * needed when the poller itself calls (a client's db_event callback,
	 * the usual case): no poll ran in between, and the next one sees
	 * the counter that ring moved.
	 */
	if (current != READ_ONCE(ndev->task))
		ivshm_kick(ndev);
	return ret;
}

static u64 ntb_ivshm_db_read_mask(struct ntb_dev *ntb)
{
	return READ_ONCE(ntb_ndev(ntb)->db_mask);
}

static int ntb_ivshm_db_set_mask(struct ntb_dev *ntb, u64 db_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	unsigned long flags;

	spin_lock_irqsave(&ndev->lock, flags);
	WRITE_ONCE(ndev->db_mask, ndev->db_mask | db_bits);
	/* a bit still pending when unmasked fires again */
	atomic64_andnot(db_bits, &ndev->db_delivered);
	if (!READ_ONCE(ndev->lost))
		ivntb_db_mask_store(&ndev->region, &ndev->me, ndev->db_mask);
	spin_unlock_irqrestore(&ndev->lock, flags);
	return 0;
}

static int ntb_ivshm_db_clear_mask(struct ntb_dev *ntb, u64 db_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	unsigned long flags;

	spin_lock_irqsave(&ndev->lock, flags);
	/*
	 * and if a lockless delivery signalled it as it was being masked,
	 * it fires again all the same
	 */
	atomic64_andnot(ndev->db_mask & db_bits, &ndev->db_delivered);
	WRITE_ONCE(ndev->db_mask, ndev->db_mask & ~db_bits);
	if (!READ_ONCE(ndev->lost))
		ivntb_db_mask_store(&ndev->region, &ndev->me, ndev->db_mask);
	spin_unlock_irqrestore(&ndev->lock, flags);
	ivshm_kick(ndev);	/* pending bits fire from the poller */
	return 0;
}

static int ntb_ivshm_peer_db_set(struct ntb_dev *ntb, u64 db_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	int ret = 0, err;
	u32 pidx;
	u64 up;

	if (READ_ONCE(ndev->lost))
		return -ENOLINK;
	/*
	 * Like a switch's global doorbell, the bits go to every peer port
	 * whose link is up (docs/protocol.md: not to free or link-down
	 * ports, nor a crashed owner's stale irq_id). ivntb_db_ring()
	 * orders all earlier stores before the bits.
	 */
	rcu_read_lock();	/* writes into peers' slots: ivshm_ack_peer() */
	up = READ_ONCE(ndev->link_mask);
	for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
		if (!(up & BIT_ULL(pidx)))
			continue;
		err = ivntb_db_ring(&ndev->region, ndev->peer[pidx].port,
				    db_bits);
		trace_ivshm_db_send(ndev->me.port, ndev->peer[pidx].port,
				    db_bits, err);
		if (err && !ret)
			ret = err;
		if (!err)
			ivshm_ring(ndev, ndev->peer[pidx].port);
	}
	rcu_read_unlock();
	atomic64_inc(&ndev->stats.db_sent);
	ivshm_note_send(ndev);
	return ret;
}

/* ntb_dev_ops: scratchpads */

static int ntb_ivshm_spad_count(struct ntb_dev *ntb)
{
	return ntb_ndev(ntb)->region.geom.nr_spads;
}

static u32 ntb_ivshm_spad_read(struct ntb_dev *ntb, int sidx)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u32 val = 0;

	if (sidx >= 0)
		ivntb_spad_read(&ndev->region, ndev->me.port, sidx, &val);
	return val;
}

static int ntb_ivshm_spad_write(struct ntb_dev *ntb, int sidx, u32 val)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);

	if (sidx < 0)
		return -EINVAL;
	if (READ_ONCE(ndev->lost))
		return -ENOLINK;
	return ivntb_spad_write(&ndev->region, ndev->me.port, sidx, val);
}

static u32 ntb_ivshm_peer_spad_read(struct ntb_dev *ntb, int pidx, int sidx)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	int pport = ntb_ivshm_pidx_port(ndev, pidx);
	u32 val = 0;

	if (pport >= 0 && sidx >= 0)
		ivntb_spad_read(&ndev->region, pport, sidx, &val);
	return val;
}

static int ntb_ivshm_peer_spad_write(struct ntb_dev *ntb, int pidx, int sidx,
				     u32 val)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	int pport = ntb_ivshm_pidx_port(ndev, pidx);
	int ret;

	if (pport < 0 || sidx < 0)
		return -EINVAL;
	rcu_read_lock();
	ret = ivshm_peer_write_ok(ndev, pidx) ?
	      ivntb_spad_write(&ndev->region, pport, sidx, val) : -ENOLINK;
	rcu_read_unlock();
	return ret;
}

/* ntb_dev_ops: message registers */

static int ntb_ivshm_msg_count(struct ntb_dev *ntb)
{
	return ntb_ndev(ntb)->region.geom.nr_msgs;
}

static u64 ntb_ivshm_msg_inbits(struct ntb_dev *ntb)
{
	return GENMASK_ULL(ntb_ndev(ntb)->region.geom.nr_msgs - 1, 0);
}

static u64 ntb_ivshm_msg_outbits(struct ntb_dev *ntb)
{
	return ntb_ivshm_msg_inbits(ntb) << IVSHM_MSG_OUT_SHIFT;
}

/**
 * ivshm_msg_sts_locked() - inbound message status from validated copies
 * @ndev:	our device.
 * @notify:	ports to notify once the lock is dropped (ivshm_notify_ports())
 *		are added here.
 *
 * A FULL register is copied once; one whose sender is not a peer of ours
 * (a malformed or hostile write) is freed and dropped, never reported.
 * The port it names is told the register is free after the unlock: the
 * notification is a loop on a word a hostile port can keep moving.
 *
 * Context: @ndev->lock held.
 * Return: msg_read_sts() bits: inbound FULL registers in the low half,
 * failed sends from IVSHM_MSG_OUT_SHIFT up.
 */
static u64 ivshm_msg_sts_locked(struct ivshm_ntb *ndev, u32 *notify)
{
	u64 full = ivntb_msg_status(&ndev->region, &ndev->me), sts = 0;
	u32 midx, data, src, freed;
	int pidx;

	for (midx = 0; midx < ndev->region.geom.nr_msgs; midx++) {
		struct ivshm_msg_copy *c = &ndev->msg_copy[midx];

		if (c->valid) {
			sts |= BIT_ULL(midx);
			continue;
		}
		if (!(full & BIT_ULL(midx)))
			continue;
		pidx = -EINVAL;
		data = 0;
		src = U32_MAX;
		if (!ivntb_msg_read(&ndev->region, &ndev->me, midx, &data, &src) &&
		    src != ndev->me.port)
			pidx = ntb_ivshm_peer_port_idx(&ndev->ntb, src);
		trace_ivshm_msg_recv(ndev->me.port, src, midx, data,
				     pidx < 0 ? -EINVAL : 0);
		if (pidx < 0) {
			if (!ivntb_msg_free(&ndev->region, &ndev->me, midx,
					    &freed) && freed < IVNTB_MAX_PORTS)
				*notify |= BIT(freed);
			continue;
		}
		c->data = data;
		c->pidx = pidx;
		c->valid = true;
		sts |= BIT_ULL(midx);
	}
	return sts | ndev->msg_out_fail << IVSHM_MSG_OUT_SHIFT;
}

static u64 ntb_ivshm_msg_read_sts(struct ntb_dev *ntb)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	unsigned long flags;
	u32 notify = 0;
	u64 sts, t0;

	if (READ_ONCE(ndev->lost))
		return 0;
	spin_lock_irqsave(&ndev->lock, flags);
	t0 = ivshm_irqoff_start();
	sts = ivshm_msg_sts_locked(ndev, &notify);
	ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_MSG_READ_STS);
	spin_unlock_irqrestore(&ndev->lock, flags);
	ivshm_notify_ports(ndev, notify);
	return sts;
}

/*
 * Drop the messages from peer @pidx that are waiting for us: freed, their
 * sender told, gone from msg_read_sts(). The poller: around a link ack
 * (they were sent under the link that is over; @keep 0: all of them), and
 * at a new instance of the peer (@keep its epoch: those the registers
 * record from another epoch, so that a message the new instance already
 * sent is kept).
 */
static void ivshm_msg_drop_from(struct ivshm_ntb *ndev, u32 pidx, u32 keep)
{
	u32 midx, src, notify = 0;
	unsigned long flags;
	u64 sts, t0;

	spin_lock_irqsave(&ndev->lock, flags);
	t0 = ivshm_irqoff_start();
	sts = ivshm_msg_sts_locked(ndev, &notify) &
	      (BIT_ULL(IVSHM_MSG_OUT_SHIFT) - 1);
	for (midx = 0; sts; midx++, sts >>= 1) {
		struct ivshm_msg_copy *c = &ndev->msg_copy[midx];

		if (!(sts & 1) || !c->valid || c->pidx != pidx)
			continue;
		/* one compare-and-exchange: no loop a peer can keep failing */
		if (keep) {
			src = ndev->peer[pidx].port;
			if (ivntb_msg_void(&ndev->region, &ndev->me, midx, src,
					   keep))
				continue;	/* the new instance's */
			notify |= BIT(src);
		} else if (!ivntb_msg_free(&ndev->region, &ndev->me, midx,
					   &src) && src < IVNTB_MAX_PORTS) {
			notify |= BIT(src);
		}
		c->valid = false;
		ndev->msg_delivered &= ~BIT_ULL(midx);
		ndev->stats.msg_dropped++;
	}
	WRITE_ONCE(ndev->msg_dirty, true);
	ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_MSG_READ_STS);
	spin_unlock_irqrestore(&ndev->lock, flags);
	ivshm_notify_ports(ndev, notify);
}

static int ntb_ivshm_msg_clear_sts(struct ntb_dev *ntb, u64 sts_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	u64 in = sts_bits & ntb_ivshm_msg_inbits(ntb), acked = in;
	unsigned long flags;
	int ret = 0;

	if (READ_ONCE(ndev->lost))
		return -ENOLINK;
	/* acknowledge outside the lock: a hostile peer can make it retry */
	while (in) {
		u32 midx = __ffs64(in);
		int err = ivntb_msg_ack(&ndev->region, &ndev->me, midx);

		/* acking an empty register is not an error, as in hardware */
		if (err && err != -ENOMSG && !ret)
			ret = err;
		in &= in - 1;
	}
	spin_lock_irqsave(&ndev->lock, flags);
	while (acked) {
		ndev->msg_copy[__ffs64(acked)].valid = false;
		acked &= acked - 1;
	}
	WRITE_ONCE(ndev->msg_out_fail,
		   ndev->msg_out_fail & ~(sts_bits >> IVSHM_MSG_OUT_SHIFT));
	ndev->msg_delivered &= ~sts_bits;
	WRITE_ONCE(ndev->msg_dirty, true);
	spin_unlock_irqrestore(&ndev->lock, flags);
	ivshm_kick(ndev);
	return ret;
}

static int ntb_ivshm_msg_set_mask(struct ntb_dev *ntb, u64 mask_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	unsigned long flags;

	spin_lock_irqsave(&ndev->lock, flags);
	ndev->msg_mask |= mask_bits;
	ndev->msg_delivered &= ~mask_bits;
	WRITE_ONCE(ndev->msg_dirty, true);
	spin_unlock_irqrestore(&ndev->lock, flags);
	return 0;
}

static int ntb_ivshm_msg_clear_mask(struct ntb_dev *ntb, u64 mask_bits)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	unsigned long flags;

	spin_lock_irqsave(&ndev->lock, flags);
	ndev->msg_mask &= ~mask_bits;
	WRITE_ONCE(ndev->msg_dirty, true);
	spin_unlock_irqrestore(&ndev->lock, flags);
	ivshm_kick(ndev);
	return 0;
}

/**
 * ntb_ivshm_msg_read() - read an inbound message register
 * @ntb:	NTB device.
 * @pidx:	where to store the sender's peer index, or NULL.
 * @midx:	message register.
 *
 * ntb_perf takes any three set status bits (in or out) for a command and
 * indexes its peer array with the @pidx of each register it reads, empty
 * or not: @pidx is always a valid peer index (the register's last
 * validated sender, else 0), never an error code.
 *
 * Return: the message, or 0 if the register is empty or @midx invalid.
 */
static u32 ntb_ivshm_msg_read(struct ntb_dev *ntb, int *pidx, int midx)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	struct ivshm_msg_copy c = { };
	unsigned long flags;
	u32 notify = 0;
	u64 t0;

	if (midx >= 0 && midx < ndev->region.geom.nr_msgs &&
	    !READ_ONCE(ndev->lost)) {
		spin_lock_irqsave(&ndev->lock, flags);
		t0 = ivshm_irqoff_start();
		ivshm_msg_sts_locked(ndev, &notify);	/* copies a new one */
		c = ndev->msg_copy[midx];
		ivshm_irqoff_end(ndev, t0, IVSHM_IRQOFF_MSG_READ);
		spin_unlock_irqrestore(&ndev->lock, flags);
		ivshm_notify_ports(ndev, notify);
	}
	if (pidx)
		*pidx = c.pidx;
	return c.valid ? c.data : 0;
}

static int ntb_ivshm_peer_msg_write(struct ntb_dev *ntb, int pidx, int midx,
				    u32 msg)
{
	struct ivshm_ntb *ndev = ntb_ndev(ntb);
	int pport = ntb_ivshm_pidx_port(ndev, pidx);
	unsigned long flags;
	int ret;

	if (pport < 0 || midx < 0 || midx >= ndev->region.geom.nr_msgs)
		return -EINVAL;
	rcu_read_lock();
	ret = ivshm_peer_write_ok(ndev, pidx) ?
	      ivntb_msg_send(&ndev->region, &ndev->me, pport, midx, msg) :
	      -ENOLINK;
	rcu_read_unlock();
	trace_ivshm_msg_send(ndev->me.port, pport, midx, msg,
			     ret == -EAGAIN ? -EBUSY : ret);
	if (ret == -EBUSY || ret == -EAGAIN) {
		/* IDT-style: the failure shows in msg_read_sts() outbits */
		spin_lock_irqsave(&ndev->lock, flags);
		WRITE_ONCE(ndev->msg_out_fail,
			   ndev->msg_out_fail | BIT_ULL(midx));
		WRITE_ONCE(ndev->msg_dirty, true);
		spin_unlock_irqrestore(&ndev->lock, flags);
		atomic64_inc(&ndev->stats.msg_busy);
		ivshm_kick(ndev);	/* the failure is a message event */
		return -EBUSY;
	}
	if (!ret) {
		ivshm_ring(ndev, pport);
		atomic64_inc(&ndev->stats.msg_sent);
		ivshm_note_send(ndev);
	}
	return ret;
}

/*=============================================================================
 *                8. debugfs
 *
 *    ntb_hw_ivshmem/<device>/info (geometry, state, windows per peer) and
 * stats (counters, heartbeat timing, irqoff_stats).
 *=============================================================================
 */

static struct dentry *ivshm_dbgfs_root;

static int ivshm_info_show(struct seq_file *s, void *unused)
{
	struct ivshm_ntb *ndev = s->private;
	const struct ivntb_geom *g = &ndev->region.geom;
	u32 pidx, w;

	seq_printf(s, "protocol:\t%u.%u\n", IVNTB_VERSION_MAJOR,
		   IVNTB_VERSION_MINOR);
	seq_printf(s, "bar2:\t\t%pa+%#llx\n", &ndev->shm_phys, ndev->shm_size);
	seq_printf(s, "region_size:\t%#llx\n", g->region_size);
	seq_printf(s, "region:\t\t%s\n",
		   READ_ONCE(ndev->region_bad) ? "header changed: links down" : "intact");
	seq_printf(s, "ports:\t\t%u\n", g->nr_ports);
	seq_printf(s, "port:\t\t%u%s\n", ndev->me.port,
		   READ_ONCE(ndev->lost) ? " (taken over)" : "");
	seq_printf(s, "epoch:\t\t%u\n", ndev->me.epoch);
	seq_printf(s, "spads:\t\t%u\n", g->nr_spads);
	seq_printf(s, "msgs:\t\t%u\n", g->nr_msgs);
	seq_printf(s, "mws:\t\t%u per peer, align %#llx\n", g->nr_mws,
		   g->mw_align);
	seq_printf(s, "mw_pool:\t%s\n", ndev->mw_pool ? "yes" : "no");
	if (ndev->mw_pool) {
		int id = atomic_read(&ndev->steer);

		mutex_lock(&ndev->mw_lock);
		if (id)
			seq_printf(s, "mw_steer:\tpeer %d mw %d, %u placeholders\n",
				   (id - 1) / g->nr_mws, (id - 1) % g->nr_mws,
				   ndev->nr_holds);
		else
			seq_printf(s, "mw_steer:\tnone, %u placeholders\n",
				   ndev->nr_holds);
		mutex_unlock(&ndev->mw_lock);
	}
	seq_printf(s, "poll_mode:\t%s\n", ivshm_poll_names[ndev->mode]);
	seq_printf(s, "link_owed:\t%d\n", READ_ONCE(ndev->link_owed));
	seq_printf(s, "heartbeat_ms:\t%u%s\n", READ_ONCE(ndev->hb_ms),
		   ndev->supervised ? " (supervised)" : "");
	if (ndev->mode == IVSHM_POLL_HYBRID)
		seq_printf(s, "wake:\t\t%s, spin window %llu us, peers %s\n",
			   READ_ONCE(ndev->armed) ? "armed" : "polling",
			   READ_ONCE(ndev->spin_win) / NSEC_PER_USEC,
			   READ_ONCE(ndev->peers_ring) ? "ring" :
			   "do not all ring: backoff polls");
	if (ndev->regs)
		seq_printf(s, "doorbell_id:\t%u%s\n", ndev->doorbell_id,
			   ndev->irq ? " (MSI-X)" : " (polling)");
	seq_printf(s, "link_enabled:\t%d\n", READ_ONCE(ndev->link_enabled));
	seq_printf(s, "link_mask:\t%#llx\n", READ_ONCE(ndev->link_mask));
	seq_printf(s, "db_mask:\t%#llx\n", READ_ONCE(ndev->db_mask));
	seq_printf(s, "db_pending:\t%#llx\n",
		   ivntb_db_read(&ndev->region, &ndev->me));
	seq_printf(s, "msg_mask:\t%#llx\n", READ_ONCE(ndev->msg_mask));
	seq_printf(s, "msg_sts:\t%#llx\n", ntb_ivshm_msg_read_sts(&ndev->ntb));
	seq_puts(s, "spads:\t\t");
	for (w = 0; w < g->nr_spads; w++)
		seq_printf(s, "%08x%c", ntb_ivshm_spad_read(&ndev->ntb, w),
			   w + 1 < g->nr_spads ? ' ' : '\n');
	for (pidx = 0; pidx < ndev->nr_peers; pidx++) {
		struct ivshm_peer *p = &ndev->peer[pidx];

		seq_printf(s, "peer%u:\t\tport %u link %s epoch %u hb %llu\n",
			   pidx, p->port,
			   (READ_ONCE(ndev->link_mask) & BIT_ULL(pidx)) ?
			   "up" : "down", p->seen_epoch, p->hb);
		for (w = 0; w < g->nr_mws; w++) {
			u64 in_off = 0, in_sz = 0, out_off = 0, out_sz = 0;

			ivntb_mw_get(&ndev->region, ndev->me.port, p->port, w,
				     &in_off, &in_sz);
			ivntb_mw_get(&ndev->region, p->port, ndev->me.port, w,
				     &out_off, &out_sz);
			seq_printf(s, "  mw%u:\t\tin %#llx+%#llx out %#llx+%#llx\n",
				   w, in_off, in_sz, out_off, out_sz);
		}
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivshm_info);

/* Upper bound (us) of the histogram bucket that holds the @q-th percentile. */
static u32 ivshm_irqoff_quantile(struct ivshm_stats *st, int site, u64 n,
				 u32 q)
{
	u64 want = div_u64(n * q + 99, 100), sum = 0;
	u32 b;

	for (b = 0; b < IVSHM_IRQOFF_BUCKETS; b++) {
		sum += atomic64_read(&st->irqoff[site].hist[b]);
		if (n && sum >= want)
			return 1U << b;
	}
	return 0;
}

static int ivshm_stats_show(struct seq_file *s, void *unused)
{
	struct ivshm_ntb *ndev = s->private;
	struct ivshm_stats *st = &ndev->stats;
	int i;

	seq_printf(s, "db_sent:\t%lld\n", atomic64_read(&st->db_sent));
	seq_printf(s, "db_events:\t%llu\n", READ_ONCE(st->db_events));
	seq_printf(s, "msg_sent:\t%lld\n", atomic64_read(&st->msg_sent));
	seq_printf(s, "msg_busy:\t%lld\n", atomic64_read(&st->msg_busy));
	seq_printf(s, "msg_events:\t%llu\n", READ_ONCE(st->msg_events));
	seq_printf(s, "mw_set:\t\t%lld\n", atomic64_read(&st->mw_set));
	seq_printf(s, "mw_refused:\t%lld\n", atomic64_read(&st->mw_refused));
	seq_printf(s, "mw_steer_expired:\t%lld\n",
		   atomic64_read(&st->mw_steer_expired));
	seq_printf(s, "irqs:\t\t%lld\n", atomic64_read(&st->irqs));
	seq_printf(s, "irq_rings:\t%lld\n", atomic64_read(&st->irq_rings));
	seq_printf(s, "rings_saved:\t%lld\n", atomic64_read(&st->rings_saved));
	seq_printf(s, "polls:\t\t%llu\n", READ_ONCE(st->polls));
	seq_printf(s, "wakes:\t\t%llu\n", READ_ONCE(st->wakes));
	seq_printf(s, "arms:\t\t%llu\n", READ_ONCE(st->arms));
	seq_printf(s, "arm_saves:\t%llu\n", READ_ONCE(st->arm_saves));
	seq_printf(s, "send_wakes:\t%lld\n", atomic64_read(&st->send_wakes));
	seq_printf(s, "empty_polls:\t%llu\n", READ_ONCE(st->empty_polls));
	seq_printf(s, "link_skips:\t%llu\n", READ_ONCE(st->link_skips));
	seq_printf(s, "spin_delivers:\t%llu\n", READ_ONCE(st->spin_delivers));
	seq_printf(s, "link_changes:\t%llu\n", READ_ONCE(st->link_changes));
	seq_printf(s, "train_skipped:\t%llu\n", READ_ONCE(st->train_skipped));
	seq_printf(s, "sup_downs:\t%llu\n", READ_ONCE(st->sup_downs));
	seq_printf(s, "link_gens:\t%lld\n", atomic64_read(&st->link_gens));
	seq_printf(s, "peer_gens:\t%llu\n", READ_ONCE(st->peer_gens));
	seq_printf(s, "link_acks:\t%llu\n", READ_ONCE(st->link_acks));
	seq_printf(s, "acks_seen:\t%llu\n", READ_ONCE(st->acks_seen));
	seq_printf(s, "msg_dropped:\t%llu\n", READ_ONCE(st->msg_dropped));
	seq_printf(s, "parked_polls:\t%llu\n", READ_ONCE(st->parked_polls));
	seq_printf(s, "parked_hk:\t%llu\n", READ_ONCE(st->parked_hk));
	seq_printf(s, "heartbeats:\t%llu\n", READ_ONCE(st->heartbeats));
	seq_printf(s, "hb_backstop:\t%llu\n", READ_ONCE(st->hb_backstop));
	seq_printf(s, "hb_late:\t%llu\n", READ_ONCE(st->hb_late));
	seq_printf(s, "hb_stalls:\t%llu\n", READ_ONCE(st->hb_stalls));
	seq_printf(s, "hb_max_gap_us:\t%llu\n",
		   READ_ONCE(st->hb_max_gap_ns) / NSEC_PER_USEC);
	seq_printf(s, "down_after_hb_us:\t%llu\n",
		   READ_ONCE(st->down_after_hb_ns) / NSEC_PER_USEC);
	seq_printf(s, "away:\t\t%llu\n", READ_ONCE(st->away));
	seq_printf(s, "away_max_us:\t%llu\n",
		   READ_ONCE(st->away_max_ns) / NSEC_PER_USEC);
	for (i = 0; irqoff_stats && i < IVSHM_IRQOFF_SITES; i++) {
		u64 n = atomic64_read(&st->irqoff[i].n), max;

		max = div_u64(atomic64_read(&st->irqoff[i].max_ns), NSEC_PER_USEC);
		seq_printf(s, "irqoff_%s:\tn %llu p50_us %u p99_us %u max_us %llu\n",
			   ivshm_irqoff_names[i], n,
			   ivshm_irqoff_quantile(st, i, n, 50),
			   ivshm_irqoff_quantile(st, i, n, 99), max);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivshm_stats);

static void ivshm_init_debugfs(struct ivshm_ntb *ndev)
{
	if (!ivshm_dbgfs_root)
		return;
	ndev->dbgfs = debugfs_create_dir(pci_name(ndev->pdev),
					 ivshm_dbgfs_root);
	debugfs_create_file("info", 0400, ndev->dbgfs, ndev, &ivshm_info_fops);
	debugfs_create_file("stats", 0400, ndev->dbgfs, ndev,
			    &ivshm_stats_fops);
}

static void ivshm_deinit_debugfs(struct ivshm_ntb *ndev)
{
	debugfs_remove_recursive(ndev->dbgfs);
}

/*=============================================================================
 *                9. PCI driver
 *
 *    Enabling the device and mapping the layout in BAR2, poll_mode parsed,
 * the two ntb_dev_ops tables (crosslink, switch), probe, remove and
 * shutdown, and module init and exit.
 *=============================================================================
 */

static int ivshm_init_pci(struct ivshm_ntb *ndev)
{
	struct pci_dev *pdev = ndev->pdev;
	int ret;

	ret = pci_enable_device_mem(pdev);
	if (ret) {
		dev_err(&pdev->dev, "cannot enable the device: %d\n", ret);
		return ret;
	}

	if (!(pci_resource_flags(pdev, IVSHM_BAR_SHM) & IORESOURCE_MEM) ||
	    !pci_resource_len(pdev, IVSHM_BAR_SHM)) {
		dev_err(&pdev->dev, "no shared memory BAR2\n");
		ret = -ENODEV;
		goto err_disable_device;
	}
	ndev->shm_phys = pci_resource_start(pdev, IVSHM_BAR_SHM);
	ndev->shm_size = pci_resource_len(pdev, IVSHM_BAR_SHM);
	if (ndev->shm_size < IVNTB_LAYOUT_SIZE) {
		dev_err(&pdev->dev,
			"BAR2 is %llu bytes, the NTB layout needs at least %u\n",
			ndev->shm_size, IVNTB_LAYOUT_SIZE);
		ret = -ENOSPC;
		goto err_disable_device;
	}

	ret = pci_request_region(pdev, IVSHM_BAR_SHM, DRV_NAME);
	if (ret) {
		dev_err(&pdev->dev, "cannot request BAR2: %d\n", ret);
		goto err_disable_device;
	}

	/*
	 * Normal cacheable memory, so that atomics and barriers behave as on
	 * RAM; only the layout (control, port slots, window table): the
	 * windows are the clients' to map (ioremap_wc() of peer windows, the
	 * DMA pool over ours), and on x86 a write-back mapping of them would
	 * refuse those. The protocol code touches nothing past the layout.
	 */
	ndev->shm = memremap(ndev->shm_phys, PAGE_ALIGN(IVNTB_LAYOUT_SIZE),
			     MEMREMAP_WB);
	if (!ndev->shm) {
		dev_err(&pdev->dev, "cannot map BAR2\n");
		ret = -ENOMEM;
		goto err_release_region;
	}
	return 0;

err_release_region:
	pci_release_region(pdev, IVSHM_BAR_SHM);
err_disable_device:
	pci_disable_device(pdev);
	return ret;
}

static void ivshm_deinit_pci(struct ivshm_ntb *ndev)
{
	memunmap(ndev->shm);
	pci_release_region(ndev->pdev, IVSHM_BAR_SHM);
	pci_disable_device(ndev->pdev);
}

static int ivshm_parse_mode(struct device *dev)
{
	int mode = sysfs_match_string(ivshm_poll_names, poll_mode);

	if (mode < 0) {
		dev_err(dev, "poll_mode=%s: use adaptive, hybrid, irq, kthread or hrtimer\n",
			poll_mode);
		return -EINVAL;
	}
	return mode;
}

/*
 * The two sets of ntb_dev_ops a region can get (ivshm_probe() picks one):
 * a 2-port region is a crosslink, without port operations; a region of
 * more ports is a switch, with them. Otherwise the same.
 */
static const struct ntb_dev_ops ntb_ivshm_crosslink_ops = {
	.link_is_up		= ntb_ivshm_link_is_up,
	.link_enable		= ntb_ivshm_link_enable,
	.link_disable		= ntb_ivshm_link_disable,
	.mw_count		= ntb_ivshm_mw_count,
	.mw_get_align		= ntb_ivshm_mw_get_align,
	.mw_set_trans		= ntb_ivshm_mw_set_trans,
	.mw_clear_trans		= ntb_ivshm_mw_clear_trans,
	.peer_mw_count		= ntb_ivshm_peer_mw_count,
	.peer_mw_get_addr	= ntb_ivshm_peer_mw_get_addr,
	.db_valid_mask		= ntb_ivshm_db_valid_mask,
	.db_vector_count	= ntb_ivshm_db_vector_count,
	.db_vector_mask		= ntb_ivshm_db_vector_mask,
	.db_read		= ntb_ivshm_db_read,
	.db_set			= ntb_ivshm_db_set,
	.db_clear		= ntb_ivshm_db_clear,
	.db_read_mask		= ntb_ivshm_db_read_mask,
	.db_set_mask		= ntb_ivshm_db_set_mask,
	.db_clear_mask		= ntb_ivshm_db_clear_mask,
	.peer_db_set		= ntb_ivshm_peer_db_set,
	.spad_count		= ntb_ivshm_spad_count,
	.spad_read		= ntb_ivshm_spad_read,
	.spad_write		= ntb_ivshm_spad_write,
	.peer_spad_read		= ntb_ivshm_peer_spad_read,
	.peer_spad_write	= ntb_ivshm_peer_spad_write,
	.msg_count		= ntb_ivshm_msg_count,
	.msg_inbits		= ntb_ivshm_msg_inbits,
	.msg_outbits		= ntb_ivshm_msg_outbits,
	.msg_read_sts		= ntb_ivshm_msg_read_sts,
	.msg_clear_sts		= ntb_ivshm_msg_clear_sts,
	.msg_set_mask		= ntb_ivshm_msg_set_mask,
	.msg_clear_mask		= ntb_ivshm_msg_clear_mask,
	.msg_read		= ntb_ivshm_msg_read,
	.peer_msg_write		= ntb_ivshm_peer_msg_write,
};

static const struct ntb_dev_ops ntb_ivshm_switch_ops = {
	.port_number		= ntb_ivshm_port_number,
	.peer_port_count	= ntb_ivshm_peer_port_count,
	.peer_port_number	= ntb_ivshm_peer_port_number,
	.peer_port_idx		= ntb_ivshm_peer_port_idx,
	.link_is_up		= ntb_ivshm_link_is_up,
	.link_enable		= ntb_ivshm_link_enable,
	.link_disable		= ntb_ivshm_link_disable,
	.mw_count		= ntb_ivshm_mw_count,
	.mw_get_align		= ntb_ivshm_mw_get_align,
	.mw_set_trans		= ntb_ivshm_mw_set_trans,
	.mw_clear_trans		= ntb_ivshm_mw_clear_trans,
	.peer_mw_count		= ntb_ivshm_peer_mw_count,
	.peer_mw_get_addr	= ntb_ivshm_peer_mw_get_addr,
	.db_valid_mask		= ntb_ivshm_db_valid_mask,
	.db_vector_count	= ntb_ivshm_db_vector_count,
	.db_vector_mask		= ntb_ivshm_db_vector_mask,
	.db_read		= ntb_ivshm_db_read,
	.db_set			= ntb_ivshm_db_set,
	.db_clear		= ntb_ivshm_db_clear,
	.db_read_mask		= ntb_ivshm_db_read_mask,
	.db_set_mask		= ntb_ivshm_db_set_mask,
	.db_clear_mask		= ntb_ivshm_db_clear_mask,
	.peer_db_set		= ntb_ivshm_peer_db_set,
	.spad_count		= ntb_ivshm_spad_count,
	.spad_read		= ntb_ivshm_spad_read,
	.spad_write		= ntb_ivshm_spad_write,
	.peer_spad_read		= ntb_ivshm_peer_spad_read,
	.peer_spad_write	= ntb_ivshm_peer_spad_write,
	.msg_count		= ntb_ivshm_msg_count,
	.msg_inbits		= ntb_ivshm_msg_inbits,
	.msg_outbits		= ntb_ivshm_msg_outbits,
	.msg_read_sts		= ntb_ivshm_msg_read_sts,
	.msg_clear_sts		= ntb_ivshm_msg_clear_sts,
	.msg_set_mask		= ntb_ivshm_msg_set_mask,
	.msg_clear_mask		= ntb_ivshm_msg_clear_mask,
	.msg_read		= ntb_ivshm_msg_read,
	.peer_msg_write		= ntb_ivshm_peer_msg_write,
};

static int ivshm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivshm_ntb *ndev;
	int ret;

	ret = ivshm_parse_mode(&pdev->dev);
	if (ret < 0)
		return ret;

	ndev = kzalloc(sizeof(*ndev), GFP_KERNEL);
	if (!ndev)
		return -ENOMEM;
	ndev->pdev = pdev;
	ndev->mode = ret;
	ndev->hb_ms = heartbeat_ms;
	spin_lock_init(&ndev->lock);
	spin_lock_init(&ndev->link_lock);
	spin_lock_init(&ndev->gen_lock);
	raw_spin_lock_init(&ndev->hb_lock);
	mutex_init(&ndev->mw_lock);
	init_waitqueue_head(&ndev->steer_wq);
	INIT_DELAYED_WORK(&ndev->steer_work, ivshm_mw_steer_work);
	atomic_set(&ndev->kick, 1);
	pci_set_drvdata(pdev, ndev);

	ret = ivshm_init_pci(ndev);
	if (ret)
		goto err_free;

	ret = ivshm_init_region(ndev);
	if (ret)
		goto err_deinit_pci;

	ivshm_init_irq(ndev);
	ivshm_init_supervision(ndev);
	dev_info(&pdev->dev, "port %u of %u (epoch %u), %u spads, %u msgs, %u mws per peer, %s %s\n",
		 ndev->me.port, ndev->region.geom.nr_ports, ndev->me.epoch,
		 ndev->region.geom.nr_spads, ndev->region.geom.nr_msgs,
		 ndev->region.geom.nr_mws,
		 ndev->irq ? "events by" : "poll",
		 ivshm_poll_names[ndev->mode]);

	/*
	 * A 2-port region is a crosslink without port operations, as Intel
	 * NTBs are: both ends are port 0 for the clients, which is the case
	 * ntb_perf handles with one memory window per peer (with distinct
	 * ports it asks mw_get_align for its own index and mw_set_trans for
	 * the peer's). More ports: a switch, with port operations.
	 */
	if (ndev->region.geom.nr_ports > 2) {
		ndev->ntb.topo = NTB_TOPO_SWITCH;
		ndev->ntb.ops = &ntb_ivshm_switch_ops;
	} else {
		ndev->ntb.topo = NTB_TOPO_CROSSLINK;
		ndev->ntb.ops = &ntb_ivshm_crosslink_ops;
	}
	ndev->ntb.pdev = pdev;
	ret = ntb_register_device(&ndev->ntb);
	if (ret) {
		dev_err(&pdev->dev, "cannot register the NTB device: %d\n", ret);
		goto err_deinit_irq;
	}

	/* after registration: the poller's events need the ntb_dev ready */
	ret = ivshm_start_poller(ndev);
	if (ret) {
		dev_err(&pdev->dev, "cannot start the poller: %d\n", ret);
		goto err_unregister;
	}
	ivshm_init_debugfs(ndev);
	return 0;

err_unregister:
	ntb_unregister_device(&ndev->ntb);
err_deinit_irq:
	ivshm_deinit_irq(ndev);
	ivshm_deinit_region(ndev);
err_deinit_pci:
	ivshm_deinit_pci(ndev);
err_free:
	kfree(ndev);
	return ret;
}

static void ivshm_remove(struct pci_dev *pdev)
{
	struct ivshm_ntb *ndev = pci_get_drvdata(pdev);

	ivshm_deinit_debugfs(ndev);
	/* clients unbind first; the poller may still deliver until then */
	ntb_unregister_device(&ndev->ntb);
	ivshm_stop_poller(ndev);
	ivshm_deinit_irq(ndev);
	ivshm_deinit_region(ndev);
	ivshm_deinit_pci(ndev);
	kfree(ndev);
}

/*
 * Reboot or poweroff: stop acting and release the port, so that peers see
 * a clean link down now instead of a heartbeat timeout, and the next boot
 * finds the port free. Clients stay bound (nothing unbinds at shutdown);
 * lost makes every op a no-op from here.
 */
static void ivshm_shutdown(struct pci_dev *pdev)
{
	struct ivshm_ntb *ndev = pci_get_drvdata(pdev);

	if (!ndev)
		return;
	ivshm_stop_poller(ndev);
	ivshm_stop_heartbeat(ndev);
	if (!READ_ONCE(ndev->lost)) {
		WRITE_ONCE(ndev->lost, true);
		ivntb_port_release(&ndev->region, &ndev->me);
	}
}

static const struct pci_device_id ivshm_pci_tbl[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_IVSHMEM, PCI_DEVICE_ID_IVSHMEM) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ivshm_pci_tbl);

static struct pci_driver ivshm_pci_driver = {
	.name		= DRV_NAME,
	.id_table	= ivshm_pci_tbl,
	.probe		= ivshm_probe,
	.remove		= ivshm_remove,
	.shutdown	= ivshm_shutdown,
};

static int __init ivshm_check_params(void)
{
	if (!heartbeat_ms || heartbeat_ms > IVSHM_HEARTBEAT_MS_MAX ||
	    sup_heartbeat_ms > IVSHM_HEARTBEAT_MS_MAX ||
	    link_timeout_ms > IVSHM_LINK_TIMEOUT_MS_MAX ||
	    link_train_ms > IVSHM_LINK_TRAIN_MS_MAX) {
		pr_err(DRV_NAME ": heartbeat_ms=%u (1..%u), sup_heartbeat_ms=%u (0..%u), link_timeout_ms=%u (..%u), link_train_ms=%u (..%u): out of range\n",
		       heartbeat_ms, IVSHM_HEARTBEAT_MS_MAX, sup_heartbeat_ms,
		       IVSHM_HEARTBEAT_MS_MAX,
		       link_timeout_ms, IVSHM_LINK_TIMEOUT_MS_MAX, link_train_ms,
		       IVSHM_LINK_TRAIN_MS_MAX);
		return -EINVAL;
	}
	return 0;
}

static int __init ivshm_init(void)
{
	int ret;

	ret = ivshm_check_params();
	if (ret)
		return ret;
	if (irqoff_stats)
		static_branch_enable(&ivshm_irqoff_timed);

	if (debugfs_initialized())
		ivshm_dbgfs_root = debugfs_create_dir(DRV_NAME, NULL);
	ret = pci_register_driver(&ivshm_pci_driver);
	if (ret)
		debugfs_remove_recursive(ivshm_dbgfs_root);
	return ret;
}
module_init(ivshm_init);

static void __exit ivshm_exit(void)
{
	pci_unregister_driver(&ivshm_pci_driver);
	debugfs_remove_recursive(ivshm_dbgfs_root);
}
module_exit(ivshm_exit);

MODULE_DESCRIPTION("NTB over QEMU ivshmem shared memory");
MODULE_LICENSE("GPL");
MODULE_VERSION(DRV_VERSION);
