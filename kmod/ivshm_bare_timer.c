// SPDX-License-Identifier: GPL-2.0
/*
 * ivshm_bare_timer - the floor of a timed idle poll (bench only)
 *
 * A hard-irq hrtimer that fires every period_us with the slack the idle
 * poller's park timer has (a quarter period) and does one load: what any
 * poll at that period costs before it does any NTB work. bench/idle-curve.sh
 * loads it, with no NTB driver, on the same guests as the poller it
 * measures, and compares their idle host CPU.
 */
#include <linux/hrtimer.h>
#include <linux/module.h>

static unsigned int period_us = 1000;
module_param(period_us, uint, 0444);
MODULE_PARM_DESC(period_us, "Timer period, in us (10..1000000, default 1000)");

static unsigned long fires;
module_param(fires, ulong, 0444);
MODULE_PARM_DESC(fires, "Times the timer fired (read only)");

static struct hrtimer bare_timer;
static u64 bare_word;	/* what the load reads */

/* re-armed as the park timer is: from now, with a quarter period's slack */
static enum hrtimer_restart bare_timer_fn(struct hrtimer *t)
{
	u64 ns = (u64)period_us * NSEC_PER_USEC;

	(void)READ_ONCE(bare_word);
	WRITE_ONCE(fires, fires + 1);
	hrtimer_set_expires_range_ns(t, ktime_add_ns(ktime_get(), ns), ns / 4);
	return HRTIMER_RESTART;
}

static int __init bare_timer_init(void)
{
	u64 ns = (u64)period_us * NSEC_PER_USEC;

	if (period_us < 10 || period_us > USEC_PER_SEC) {
		pr_err("ivshm_bare_timer: period_us=%u out of 10..1000000\n",
		       period_us);
		return -EINVAL;
	}
	hrtimer_init(&bare_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	bare_timer.function = bare_timer_fn;
	hrtimer_start_range_ns(&bare_timer, ns_to_ktime(ns), ns / 4,
			       HRTIMER_MODE_REL_HARD);
	return 0;
}

static void __exit bare_timer_exit(void)
{
	hrtimer_cancel(&bare_timer);
}

module_init(bare_timer_init);
module_exit(bare_timer_exit);
MODULE_DESCRIPTION("A bare hrtimer: the floor of a timed idle poll (bench only)");
MODULE_LICENSE("GPL");
