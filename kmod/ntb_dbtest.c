// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_dbtest - doorbell stress and round-trip timing, an NTB client
 *
 * Works on any NTB device with doorbells. Per device, debugfs
 * /sys/kernel/debug/ntb_dbtest/<dev>/:
 *   cmd     write one of:
 *             "echo MASK"       ring back to the peer every bit of MASK
 *                               that arrives (the responder)
 *             "stress N MASK"   keep every bit of MASK in flight until N
 *                               rings came back (the peer echoes MASK):
 *                               a lost doorbell leaves its bit outstanding
 *             "rtt N BIT [GAP]" N round trips of one bit, timed with ktime
 *                               (the peer echoes BIT); with GAP (us) each
 *                               next ring waits a random 0..GAP us after
 *                               the echo, from an hrtimer, so that idle
 *                               ends go to sleep at every moment (a lost
 *                               wake-up leaves the run short of N)
 *             "spadpp N"        the floor: N round trips of a value through
 *                               the last scratchpad, both ends busy-polling
 *                               their own (peer_spad_write, spad_read), no
 *                               doorbell, no driver poller; the result is
 *                               an rtt one. The peer runs "spadecho N"
 *                               first. Both block until done or timeout.
 *             "wait MS"         block until the run ends, at most MS ms
 *                               (-ETIMEDOUT), without the sort of the
 *                               samples that reading result does
 *             "link 0|1"        disable or enable our side of the link, the
 *                               echo going on (a link change in a stream)
 *             "rate N HZ"       N rings of bit 0 at a fixed rate of HZ per
 *                               second from an hrtimer, whatever came back
 *                               (the peer echoes bit 0): the load under
 *                               which bench/poll-idle.sh measures CPU cost
 *   result  the last stress or rtt result, one "key: value" per line
 *           (an rtt's: p50/p90/p99/max, and the mean of its middle half
 *           in ps); reading blocks until the run ends (or timeout_ms passes)
 *   cost    reading it times the primitives a doorbell round trip is made
 *           of on this CPU (clock read, barrier, compare-and-exchange,
 *           interrupt and bottom-half toggles, a call of an ntb op...),
 *           cost_iters times each with preemption off: one "name: ns"
 *           line each, the loop's own cost subtracted (bench/rtt-profile.sh)
 *
 * Both ends can run stress at the same time on disjoint masks, each also
 * echoing the other's mask, so both doorbell words see concurrent sets
 * from the peer and clears from the owner.
 */
#include <linux/debugfs.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/ntb.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

static unsigned int timeout_ms = 10000;
module_param(timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms, "A run that has not finished by then is reported (default 10000)");

static int hello_db = -1;
module_param(hello_db, int, 0444);
MODULE_PARM_DESC(hello_db, "Ring this doorbell bit to the peer each time the link comes up (default -1: never); tests/guest/tests/flap.sh");

static unsigned int cost_iters = 20000;
module_param(cost_iters, uint, 0644);
MODULE_PARM_DESC(cost_iters, "Iterations of each primitive timed by reading cost (default 20000)");

#define DBT_MAX_SAMPLES	1000000

enum dbt_run { DBT_IDLE, DBT_STRESS, DBT_RTT, DBT_RATE };

/* rate: after the last ring, echoes still in flight get this long */
#define DBT_RATE_GRACE_NS	(100 * NSEC_PER_MSEC)

struct dbt_ctx {
	struct ntb_dev *ntb;
	struct dentry *dir;
	struct mutex cmd_lock;		/* one command at a time */
	spinlock_t run_lock;		/* run and samples vs the handler */
	wait_queue_head_t done_wq;

	/* set by cmd, read by the doorbell handler */
	u64 echo_mask;
	u64 run_mask;			/* stress: bits we originate */
	enum dbt_run run;
	u64 target;			/* rings that must come back */

	/* doorbell handler state, updated only from the handler */
	atomic64_t returned;
	atomic64_t rung;
	atomic64_t echoed;
	atomic64_t outstanding;		/* stress: bits in flight */
	u64 t_sent;			/* rtt: ktime of the last ring */
	u64 *samples;
	u32 nr_samples;
	struct hrtimer rate_timer;	/* rate: one ring per period */
	u64 rate_period_ns;
	u64 rate_hz;			/* as asked */
	u64 gap_ns;			/* rtt: longest random gap, or 0 */
	bool was_up;			/* hello_db: the link was up */
	bool done;
	u64 t_start, t_end;
};

static void dbt_ring(struct dbt_ctx *ctx, u64 bits)
{
	atomic64_add(hweight64(bits), &ctx->rung);
	ntb_peer_db_set(ctx->ntb, bits);
}

static void dbt_finish(struct dbt_ctx *ctx)
{
	ctx->t_end = ktime_get_ns();
	/* Barrier A (pairs with B in dbt_result_read): t_end before done */
	smp_store_release(&ctx->done, true);
	wake_up_all(&ctx->done_wq);
}

static void dbt_db_event(void *data, int vector)
{
	struct dbt_ctx *ctx = data;
	u64 bits, mine, echo;

	bits = ntb_db_read(ctx->ntb);
	mine = bits & READ_ONCE(ctx->run_mask);
	echo = bits & READ_ONCE(ctx->echo_mask) & ~mine;
	if (!(mine | echo))
		return;
	ntb_db_clear(ctx->ntb, mine | echo);

	if (echo) {
		atomic64_add(hweight64(echo), &ctx->echoed);
		ntb_peer_db_set(ctx->ntb, echo);
	}
	if (!mine)
		return;

	switch (READ_ONCE(ctx->run)) {
	case DBT_STRESS: {
		u64 got = atomic64_add_return(hweight64(mine), &ctx->returned);
		u64 sent = atomic64_read(&ctx->rung);

		/* re-ring each returned bit while rings are still owed */
		if (sent < ctx->target) {
			dbt_ring(ctx, mine);
		} else {
			atomic64_sub(hweight64(mine), &ctx->outstanding);
			if (got >= ctx->target && !atomic64_read(&ctx->outstanding))
				dbt_finish(ctx);
		}
		break;
	}
	case DBT_RATE:
		/* rings that found the bit still pending coalesce: count events */
		atomic64_inc(&ctx->returned);
		break;
	case DBT_RTT: {
		u64 now = ktime_get_ns();
		unsigned long flags;
		bool more;

		spin_lock_irqsave(&ctx->run_lock, flags);
		if (READ_ONCE(ctx->run) != DBT_RTT || !ctx->samples) {
			spin_unlock_irqrestore(&ctx->run_lock, flags);
			break;	/* a late echo of a run that was replaced */
		}
		if (ctx->nr_samples < ctx->target)
			ctx->samples[ctx->nr_samples++] = now - ctx->t_sent;
		more = ctx->nr_samples < ctx->target;
		spin_unlock_irqrestore(&ctx->run_lock, flags);
		atomic64_inc(&ctx->returned);
		if (!more) {
			dbt_finish(ctx);
		} else if (ctx->gap_ns) {
			/* the timer rings after the gap (t_sent set there) */
			hrtimer_start(&ctx->rate_timer,
				      ns_to_ktime(get_random_u32() %
						  (ctx->gap_ns + 1)),
				      HRTIMER_MODE_REL_SOFT);
		} else {
			/*
			 * The window is the ring to the echo, as the floor's
			 * is the write to the reply: our bookkeeping above is
			 * outside it. Outside run_lock too: a run that
			 * replaces this one (dbt_start()) between the unlock
			 * and here may have its first sample skewed, and this
			 * ring is a stray one for it, as it was before.
			 */
			WRITE_ONCE(ctx->t_sent, ktime_get_ns());
			dbt_ring(ctx, mine);
		}
		break;
	}
	default:
		break;
	}
}

static enum hrtimer_restart dbt_rate_timer(struct hrtimer *t)
{
	struct dbt_ctx *ctx = container_of(t, struct dbt_ctx, rate_timer);
	unsigned long flags;

	if (READ_ONCE(ctx->run) == DBT_RTT && !READ_ONCE(ctx->done)) {
		/* rtt with a gap: the next round trip starts now */
		spin_lock_irqsave(&ctx->run_lock, flags);
		ctx->t_sent = ktime_get_ns();
		spin_unlock_irqrestore(&ctx->run_lock, flags);
		dbt_ring(ctx, READ_ONCE(ctx->run_mask));
		return HRTIMER_NORESTART;
	}
	if (READ_ONCE(ctx->run) != DBT_RATE || READ_ONCE(ctx->done))
		return HRTIMER_NORESTART;
	if (atomic64_read(&ctx->rung) >= ctx->target) {
		dbt_finish(ctx);	/* the grace period after the last ring */
		return HRTIMER_NORESTART;
	}
	dbt_ring(ctx, BIT_ULL(0));
	hrtimer_forward_now(t, ns_to_ktime(atomic64_read(&ctx->rung) < ctx->target ?
					   ctx->rate_period_ns : DBT_RATE_GRACE_NS));
	return HRTIMER_RESTART;
}

static void dbt_link_event(void *data)
{
	struct dbt_ctx *ctx = data;
	bool up = ntb_link_is_up(ctx->ntb, NULL, NULL);

	/* link events are serialised by the NTB core's ctx_lock */
	if (hello_db >= 0 && hello_db < 64 && up && !ctx->was_up)
		ntb_peer_db_set(ctx->ntb, BIT_ULL(hello_db));
	ctx->was_up = up;
}

static const struct ntb_ctx_ops dbt_ops = {
	.link_event	= dbt_link_event,
	.db_event	= dbt_db_event,
};

static int dbt_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * A new run: replace the samples (NULL for none) and reset the counters.
 * The handler of an earlier run may still be running: swap under lock.
 */
static void dbt_reset(struct dbt_ctx *ctx, u64 *samples, u64 n)
{
	unsigned long flags;
	u64 *old;

	spin_lock_irqsave(&ctx->run_lock, flags);
	WRITE_ONCE(ctx->run, DBT_IDLE);
	old = ctx->samples;
	ctx->samples = samples;
	ctx->nr_samples = 0;
	spin_unlock_irqrestore(&ctx->run_lock, flags);
	vfree(old);
	atomic64_set(&ctx->returned, 0);
	atomic64_set(&ctx->rung, 0);
	ctx->target = n;
	ctx->done = false;
}

static int dbt_start(struct dbt_ctx *ctx, enum dbt_run run, u64 n, u64 mask,
		     u64 hz, u64 gap_us)
{
	u64 *samples = NULL;

	if (!mask || (mask & ctx->echo_mask) || !n)
		return -EINVAL;
	if (run == DBT_RTT) {
		if (n > DBT_MAX_SAMPLES || hweight64(mask) != 1)
			return -EINVAL;
		samples = vmalloc_array(n, sizeof(u64));
		if (!samples)
			return -ENOMEM;
	}
	/* nothing can fail from here: stop a rate run this replaces */
	hrtimer_cancel(&ctx->rate_timer);
	if (run == DBT_RATE) {
		ctx->rate_hz = hz;
		ctx->rate_period_ns = div64_u64(NSEC_PER_SEC, hz);
	}
	ctx->gap_ns = gap_us * NSEC_PER_USEC;
	dbt_reset(ctx, samples, n);
	ntb_db_clear(ctx->ntb, mask);
	WRITE_ONCE(ctx->run_mask, mask);
	ntb_db_clear_mask(ctx->ntb, mask);
	WRITE_ONCE(ctx->run, run);
	ctx->t_start = ktime_get_ns();
	if (run == DBT_STRESS) {
		/* never more bits in flight than rings owed */
		while (hweight64(mask) > n)
			mask &= mask - 1;
		atomic64_set(&ctx->outstanding, hweight64(mask));
	} else if (run == DBT_RATE) {
		/* the timer rings, the first time right away */
		hrtimer_start(&ctx->rate_timer, 0, HRTIMER_MODE_REL_SOFT);
		return 0;
	}
	WRITE_ONCE(ctx->t_sent, ktime_get_ns());
	dbt_ring(ctx, mask);
	return 0;
}

/*
 * The raw round trip through shared memory: the floor the doorbell path
 * is measured against. Busy-polls in the writer's context (cmd_lock held).
 */
static int dbt_spad_pingpong(struct dbt_ctx *ctx, u64 n, bool initiator)
{
	int sidx = ntb_spad_count(ctx->ntb) - 1;
	u64 deadline = ktime_get_ns() + (u64)timeout_ms * NSEC_PER_MSEC;
	u64 *samples = NULL, t0 = 0, spins = 0;
	unsigned long flags;
	int ret = 0;
	u32 i;

	if (sidx < 0 || !n || n > DBT_MAX_SAMPLES)
		return -EINVAL;
	if (initiator) {
		samples = vmalloc_array(n, sizeof(u64));
		if (!samples)
			return -ENOMEM;
	}
	hrtimer_cancel(&ctx->rate_timer);
	dbt_reset(ctx, NULL, n);
	ctx->t_start = ktime_get_ns();
	/* only the peer writes our scratchpad after this, one value ahead */
	ntb_spad_write(ctx->ntb, sidx, 0);

	for (i = 1; i <= n; i++) {
		if (initiator) {
			t0 = ktime_get_ns();
			ntb_peer_spad_write(ctx->ntb, 0, sidx, i);
		}
		while (ntb_spad_read(ctx->ntb, sidx) != i) {
			if (!(++spins & 1023)) {
				cond_resched();
				if (ktime_get_ns() > deadline) {
					ret = -ETIMEDOUT;
					goto out;
				}
			}
			cpu_relax();
		}
		if (initiator)
			samples[i - 1] = ktime_get_ns() - t0;
		else
			ntb_peer_spad_write(ctx->ntb, 0, sidx, i);
		atomic64_inc(&ctx->returned);
	}
out:
	spin_lock_irqsave(&ctx->run_lock, flags);
	ctx->samples = samples;
	ctx->nr_samples = i - 1;
	WRITE_ONCE(ctx->run, DBT_RTT);
	spin_unlock_irqrestore(&ctx->run_lock, flags);
	dbt_finish(ctx);	/* a timeout shows as samples < N */
	return ret;
}

static ssize_t dbt_cmd_write(struct file *file, const char __user *ubuf,
			     size_t size, loff_t *off)
{
	struct dbt_ctx *ctx = file->private_data;
	char buf[64], word[10];
	u64 a = 0, b = 0, c = 0;
	int n, ret;

	if (size >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, size))
		return -EFAULT;
	buf[size] = 0;
	n = sscanf(buf, "%9s %lli %lli %lli", word, &a, &b, &c);
	if (n < 2)
		return -EINVAL;
	if (!strcmp(word, "wait") && n == 2) {
		/* no cmd_lock: a run's end needs no command */
		if (READ_ONCE(ctx->run) != DBT_IDLE &&
		    !wait_event_interruptible_timeout(ctx->done_wq,
						      READ_ONCE(ctx->done),
						      msecs_to_jiffies(a)))
			return -ETIMEDOUT;
		return size;
	}

	mutex_lock(&ctx->cmd_lock);
	if (!strcmp(word, "echo")) {
		WRITE_ONCE(ctx->echo_mask, a);
		ntb_db_clear(ctx->ntb, a);
		ret = ntb_db_clear_mask(ctx->ntb, a);
	} else if (!strcmp(word, "stress") && n == 3) {
		ret = dbt_start(ctx, DBT_STRESS, a, b, 0, 0);
	} else if (!strcmp(word, "rtt") && (n == 3 || n == 4) && c <= 1000000) {
		ret = dbt_start(ctx, DBT_RTT, a, BIT_ULL(b & 63), 0, c);
	} else if (!strcmp(word, "spadpp") && n == 2) {
		ret = dbt_spad_pingpong(ctx, a, true);
	} else if (!strcmp(word, "spadecho") && n == 2) {
		ret = dbt_spad_pingpong(ctx, a, false);
	} else if (!strcmp(word, "link") && n == 2) {
		ret = a ? ntb_link_enable(ctx->ntb, NTB_SPEED_AUTO,
					  NTB_WIDTH_AUTO) :
			  ntb_link_disable(ctx->ntb);
	} else if (!strcmp(word, "rate") && n == 3 && b > 0 && b <= 100000) {
		ret = dbt_start(ctx, DBT_RATE, a, BIT_ULL(0), b, 0);
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&ctx->cmd_lock);
	return ret ?: size;
}

static const struct file_operations dbt_cmd_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= dbt_cmd_write,
};

/*
 * The mean of the middle half of @n sorted samples (all of them below 4),
 * in picoseconds. Where the clock is coarse (riscv64 virt: a 10 MHz
 * timebase, 100 ns steps) a sub-microsecond round trip's p50 is a whole
 * number of steps; the share of samples on each step, which this mean
 * weighs, resolves it finer. A quarter of outliers at either end leave it
 * be.
 */
static u64 dbt_midmean_ps(const u64 *v, u32 n)
{
	u32 i, lo = n / 4, hi = n - n / 4;
	u64 sum = 0;

	for (i = lo; i < hi; i++)
		sum += v[i];
	return div_u64(sum * 1000, hi - lo);
}

static ssize_t dbt_result_read(struct file *file, char __user *ubuf,
			       size_t size, loff_t *off)
{
	struct dbt_ctx *ctx = file->private_data;
	enum dbt_run run = READ_ONCE(ctx->run);
	u64 ns, returned, rung;
	ssize_t pos = 0, ret;
	char *buf;
	bool done;

	if (*off == 0 && run != DBT_IDLE)
		wait_event_interruptible_timeout(ctx->done_wq, READ_ONCE(ctx->done),
						 msecs_to_jiffies(timeout_ms));
	buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	mutex_lock(&ctx->cmd_lock);
	done = smp_load_acquire(&ctx->done);	/* Barrier B (pairs with A) */
	ns = (done ? ctx->t_end : ktime_get_ns()) - ctx->t_start;
	returned = atomic64_read(&ctx->returned);
	rung = atomic64_read(&ctx->rung);
	pos += scnprintf(buf + pos, PAGE_SIZE - pos, "run: %s\n",
			 run == DBT_STRESS ? "stress" : run == DBT_RTT ? "rtt" :
			 run == DBT_RATE ? "rate" : "none");
	pos += scnprintf(buf + pos, PAGE_SIZE - pos, "done: %d\n", done);
	pos += scnprintf(buf + pos, PAGE_SIZE - pos, "rung: %llu\n", rung);
	pos += scnprintf(buf + pos, PAGE_SIZE - pos, "returned: %llu\n", returned);
	pos += scnprintf(buf + pos, PAGE_SIZE - pos, "echoed: %lld\n",
			 atomic64_read(&ctx->echoed));
	pos += scnprintf(buf + pos, PAGE_SIZE - pos, "elapsed_ns: %llu\n", ns);
	if (run == DBT_STRESS) {
		pos += scnprintf(buf + pos, PAGE_SIZE - pos, "outstanding_bits: %#llx\n",
				 done ? 0 : ntb_db_read(ctx->ntb) ^ ctx->run_mask);
		pos += scnprintf(buf + pos, PAGE_SIZE - pos, "lost: %llu\n",
				 rung - returned);
	}
	if (run == DBT_RATE && ns)
		/* the soft hrtimer skips periods it was late for: say so */
		pos += scnprintf(buf + pos, PAGE_SIZE - pos,
				 "rate_hz: %llu\nachieved_hz: %llu\n", ctx->rate_hz,
				 div64_u64(rung * NSEC_PER_SEC, ns));
	if (run == DBT_RTT) {
		unsigned long flags;
		u64 *v = NULL;
		u32 n;

		/*
		 * The doorbell handler may still append: sort a copy taken
		 * under run_lock, never the live array.
		 */
		n = READ_ONCE(ctx->nr_samples);
		if (n)
			v = vmalloc_array(n, sizeof(u64));
		if (v) {
			spin_lock_irqsave(&ctx->run_lock, flags);
			n = min(n, ctx->nr_samples);
			if (ctx->samples)
				memcpy(v, ctx->samples, n * sizeof(u64));
			else
				n = 0;
			spin_unlock_irqrestore(&ctx->run_lock, flags);
		}
		if (v && n) {
			sort(v, n, sizeof(u64), dbt_cmp_u64, NULL);
			pos += scnprintf(buf + pos, PAGE_SIZE - pos,
					 "samples: %u\np50_ns: %llu\np90_ns: %llu\np99_ns: %llu\nmax_ns: %llu\nmidmean_ps: %llu\n",
					 n, v[n / 2], v[n * 9 / 10],
					 v[n * 99 / 100], v[n - 1],
					 dbt_midmean_ps(v, n));
		}
		vfree(v);
	}
	mutex_unlock(&ctx->cmd_lock);
	ret = simple_read_from_buffer(ubuf, size, off, buf, pos);
	kfree(buf);
	return ret;
}

static const struct file_operations dbt_result_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= dbt_result_read,
};

/*
 * The primitives' costs. Under TCG they are nothing like a CPU's: a clock
 * read is an emulated CSR read, a write that enables interrupts ends a
 * translation block, each function return is an indirect jump looked up
 * in a hash table. The round trip's profile is read against these.
 */
static u64 dbt_cost_word;
static atomic64_t dbt_cost_atomic;
/* timed; shared by the devices, whose cost files the bench reads in turn */
static DEFINE_SPINLOCK(dbt_cost_lock);

/*
 * Each primitive runs cost_iters times with preemption off, the CPU given
 * back between two primitives.
 */
#define DBT_COST(name, body)						\
	do {								\
		u64 t0_, dt_;						\
		cond_resched();						\
		preempt_disable();					\
		t0_ = ktime_get_ns();					\
		for (i = 0; i < iters; i++) {				\
			body;						\
			barrier();					\
		}							\
		dt_ = ktime_get_ns() - t0_;				\
		preempt_enable();					\
		seq_printf(m, "%s: %lld\n", name,			\
			   ((s64)dt_ - (s64)empty) * 1000 / (s64)iters);	\
	} while (0)

static int dbt_cost_show(struct seq_file *m, void *unused)
{
	struct dbt_ctx *ctx = m->private;
	struct ntb_dev *ntb = ctx->ntb;
	u32 iters = clamp(READ_ONCE(cost_iters), 100U, 1000000U), i;
	u64 empty, v = 0, w;
	unsigned long flags;

	/* the loop alone, subtracted from each below */
	preempt_disable();
	empty = ktime_get_ns();
	for (i = 0; i < iters; i++)
		barrier();
	empty = ktime_get_ns() - empty;
	preempt_enable();
	seq_printf(m, "loop_ps: %llu\n", empty * 1000 / iters);
	DBT_COST("ktime_get_ns_ps", v += ktime_get_ns());
	DBT_COST("cpu_relax_ps", cpu_relax());
	/* timed, not ordering anything: no pair */
	DBT_COST("load_acquire_ps", v += smp_load_acquire(&dbt_cost_word));
	/* timed, not ordering anything: no pair */
	DBT_COST("smp_mb_ps", smp_mb());
	DBT_COST("cmpxchg64_ps", w = READ_ONCE(dbt_cost_word);
		 v += cmpxchg64(&dbt_cost_word, w, w + 1));
	DBT_COST("atomic64_fetch_or_ps", v += atomic64_fetch_or(1, &dbt_cost_atomic));
	DBT_COST("irq_save_restore_ps",
		 local_irq_save(flags); local_irq_restore(flags));
	DBT_COST("spin_lock_irqsave_ps",
		 spin_lock_irqsave(&dbt_cost_lock, flags);
		 spin_unlock_irqrestore(&dbt_cost_lock, flags));
	DBT_COST("bh_disable_enable_ps", local_bh_disable(); local_bh_enable());
	DBT_COST("op_db_read_mask_ps", v += ntb_db_read_mask(ntb));
	DBT_COST("op_db_read_ps", v += ntb_db_read(ntb));
	DBT_COST("op_spad_read_ps", v += ntb_spad_read(ntb, 0));
	seq_printf(m, "iters: %u\nsink: %llu\n", iters, v & 1);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dbt_cost);

static struct dentry *dbt_root;

static int dbt_probe(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct dbt_ctx *ctx;
	int ret;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->ntb = ntb;
	mutex_init(&ctx->cmd_lock);
	spin_lock_init(&ctx->run_lock);
	init_waitqueue_head(&ctx->done_wq);
	hrtimer_init(&ctx->rate_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
	ctx->rate_timer.function = dbt_rate_timer;

	ret = ntb_set_ctx(ntb, ctx, &dbt_ops);
	if (ret) {
		kfree(ctx);
		return ret;
	}
	ctx->dir = debugfs_create_dir(dev_name(&ntb->dev), dbt_root);
	debugfs_create_file("cmd", 0200, ctx->dir, ctx, &dbt_cmd_fops);
	debugfs_create_file("result", 0400, ctx->dir, ctx, &dbt_result_fops);
	debugfs_create_file("cost", 0400, ctx->dir, ctx, &dbt_cost_fops);
	ntb_link_enable(ntb, NTB_SPEED_AUTO, NTB_WIDTH_AUTO);
	return 0;
}

static void dbt_remove(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct dbt_ctx *ctx = ntb->ctx;

	debugfs_remove_recursive(ctx->dir);
	WRITE_ONCE(ctx->run, DBT_IDLE);
	hrtimer_cancel(&ctx->rate_timer);
	ntb_db_set_mask(ntb, ntb_db_valid_mask(ntb));
	ntb_clear_ctx(ntb);
	ntb_link_disable(ntb);
	vfree(ctx->samples);
	kfree(ctx);
}

static struct ntb_client dbt_client = {
	.ops = {
		.probe	= dbt_probe,
		.remove	= dbt_remove,
	},
};

static int __init dbt_init(void)
{
	int ret;

	dbt_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	ret = ntb_register_client(&dbt_client);
	if (ret)
		debugfs_remove_recursive(dbt_root);
	return ret;
}
module_init(dbt_init);

static void __exit dbt_exit(void)
{
	ntb_unregister_client(&dbt_client);
	debugfs_remove_recursive(dbt_root);
}
module_exit(dbt_exit);

MODULE_DESCRIPTION("NTB doorbell stress and round-trip timing client");
MODULE_LICENSE("GPL");
