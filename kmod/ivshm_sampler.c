// SPDX-License-Identifier: GPL-2.0
/*
 * ivshm_sampler - a flat profile of where a guest's CPUs spend time (bench only)
 *
 * Guests under TCG have no PMU that perf could sample, and the test
 * userland has no perf. This module is the poor man's perf record: a
 * pinned hard-irq hrtimer on every online CPU samples the interrupted
 * program counter every period_ns, and debugfs gives the flat profile by
 * function. bench/rtt-profile.sh runs it on both guests while ntb_dbtest
 * times doorbell round trips, to show where the busy path's time goes.
 *
 * debugfs /sys/kernel/debug/ivshm_sampler/:
 *   control  write "start" (drops earlier samples) or "stop"
 *   profile  the samples since the last start, by function: count,
 *            share of the busy samples (those not in the idle task,
 *            which are counted apart), symbol; user mode as one line
 */
#include <linux/debugfs.h>
#include <linux/hrtimer.h>
#include <linux/kallsyms.h>
#include <asm/irq_regs.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/ptrace.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

static unsigned int period_ns = 100000;
module_param(period_ns, uint, 0444);
MODULE_PARM_DESC(period_ns, "Sampling period in ns, per CPU (5000..10000000, default 100000)");

static unsigned int max_samples = 65536;
module_param(max_samples, uint, 0444);
MODULE_PARM_DESC(max_samples, "Samples kept per CPU; later ones are counted as dropped (default 65536)");

static unsigned int top = 30;
module_param(top, uint, 0644);
MODULE_PARM_DESC(top, "Functions listed in profile (default 30)");

struct samp_cpu {
	struct hrtimer timer;
	unsigned long *pc;	/* kernel-mode samples */
	unsigned int n;
	unsigned long user;	/* samples in user mode */
	unsigned long idle;	/* samples in the idle task */
	unsigned long dropped;	/* kernel-mode samples past max_samples */
};

static DEFINE_PER_CPU(struct samp_cpu, samp_cpus);
static DEFINE_MUTEX(samp_lock);	/* start, stop and profile */
static bool samp_running;
/* samp_profile_show()'s symbol names, under samp_lock */
static char samp_name[KSYM_SYMBOL_LEN], samp_prev[KSYM_SYMBOL_LEN];
static struct dentry *samp_dir;

static enum hrtimer_restart samp_tick(struct hrtimer *t)
{
	struct samp_cpu *c = container_of(t, struct samp_cpu, timer);
	struct pt_regs *regs = get_irq_regs();

	if (is_idle_task(current))
		c->idle++;
	else if (regs && user_mode(regs))
		c->user++;
	else if (regs && c->n < max_samples)
		c->pc[c->n++] = instruction_pointer(regs);
	else if (regs)
		c->dropped++;
	hrtimer_forward_now(t, ns_to_ktime(period_ns));
	return HRTIMER_RESTART;
}

/* on each CPU: the timer must be pinned to the CPU it samples */
static void samp_start_cpu(void *unused)
{
	struct samp_cpu *c = this_cpu_ptr(&samp_cpus);

	hrtimer_start(&c->timer, ns_to_ktime(period_ns),
		      HRTIMER_MODE_REL_PINNED_HARD);
}

static void samp_stop(void)
{
	int cpu;

	if (!samp_running)
		return;
	for_each_possible_cpu(cpu)
		hrtimer_cancel(&per_cpu_ptr(&samp_cpus, cpu)->timer);
	samp_running = false;
}

static void samp_start(void)
{
	int cpu;

	samp_stop();
	for_each_possible_cpu(cpu) {
		struct samp_cpu *c = per_cpu_ptr(&samp_cpus, cpu);

		c->n = 0;
		c->user = 0;
		c->idle = 0;
		c->dropped = 0;
	}
	on_each_cpu(samp_start_cpu, NULL, 1);
	samp_running = true;
}

static ssize_t samp_control_write(struct file *file, const char __user *ubuf,
				  size_t size, loff_t *off)
{
	char buf[16];

	if (size >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, size))
		return -EFAULT;
	buf[size] = 0;
	mutex_lock(&samp_lock);
	if (sysfs_streq(buf, "start"))
		samp_start();
	else if (sysfs_streq(buf, "stop"))
		samp_stop();
	else
		size = -EINVAL;
	mutex_unlock(&samp_lock);
	return size;
}

static const struct file_operations samp_control_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= samp_control_write,
	.llseek	= noop_llseek,
};

struct samp_fn {
	unsigned long first;	/* lowest sampled address in the function */
	unsigned long count;
};

static int samp_cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static int samp_cmp_count(const void *a, const void *b)
{
	const struct samp_fn *x = a, *y = b;

	return x->count > y->count ? -1 : x->count < y->count;
}

static int samp_profile_show(struct seq_file *s, void *unused)
{
	unsigned long total = 0, user = 0, idle = 0, dropped = 0, *all;
	unsigned int n = 0, nfn = 0, i;
	struct samp_fn *fn;
	int cpu;

	mutex_lock(&samp_lock);
	samp_stop();	/* a profile is of a finished run */
	for_each_possible_cpu(cpu) {
		struct samp_cpu *c = per_cpu_ptr(&samp_cpus, cpu);

		n += c->n;
		user += c->user;
		idle += c->idle;
		dropped += c->dropped;
	}
	all = vmalloc_array(n ?: 1, sizeof(*all));
	fn = vmalloc_array(n ?: 1, sizeof(*fn));
	if (!all || !fn) {
		vfree(all);
		vfree(fn);
		mutex_unlock(&samp_lock);
		return -ENOMEM;
	}
	n = 0;
	for_each_possible_cpu(cpu) {
		struct samp_cpu *c = per_cpu_ptr(&samp_cpus, cpu);

		memcpy(all + n, c->pc, c->n * sizeof(*all));
		n += c->n;
	}

	/* sorted by address, a function's samples are contiguous */
	sort(all, n, sizeof(*all), samp_cmp_ulong, NULL);
	for (i = 0; i < n; i++) {
		snprintf(samp_name, sizeof(samp_name), "%ps", (void *)all[i]);
		if (!nfn || strcmp(samp_name, samp_prev)) {
			fn[nfn].first = all[i];
			fn[nfn++].count = 0;
			strscpy(samp_prev, samp_name, sizeof(samp_prev));
		}
		fn[nfn - 1].count++;
	}
	sort(fn, nfn, sizeof(*fn), samp_cmp_count, NULL);
	total = n + user;
	seq_printf(s, "samples: %lu busy (kernel %u, user %lu), idle %lu, dropped %lu, period_ns %u\n",
		   total, n, user, idle, dropped, period_ns);
	for (i = 0; i < nfn && i < top; i++)
		seq_printf(s, "%8lu %5lu.%lu%% %ps\n", fn[i].count,
			   fn[i].count * 100 / (total ?: 1),
			   fn[i].count * 1000 / (total ?: 1) % 10,
			   (void *)fn[i].first);
	if (user)
		seq_printf(s, "%8lu %5lu.%lu%% [user]\n", user,
			   user * 100 / total, user * 1000 / total % 10);
	mutex_unlock(&samp_lock);
	vfree(all);
	vfree(fn);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(samp_profile);

static int __init samp_init(void)
{
	int cpu;

	if (period_ns < 5000 || period_ns > 10000000 || !max_samples) {
		pr_err("ivshm_sampler: period_ns=%u out of 5000..10000000 or max_samples=0\n",
		       period_ns);
		return -EINVAL;
	}
	for_each_possible_cpu(cpu) {
		struct samp_cpu *c = per_cpu_ptr(&samp_cpus, cpu);

		c->pc = vmalloc_array(max_samples, sizeof(*c->pc));
		if (!c->pc)
			goto free_samples;
		hrtimer_init(&c->timer, CLOCK_MONOTONIC,
			     HRTIMER_MODE_REL_PINNED_HARD);
		c->timer.function = samp_tick;
	}
	samp_dir = debugfs_create_dir("ivshm_sampler", NULL);
	debugfs_create_file("control", 0200, samp_dir, NULL, &samp_control_fops);
	debugfs_create_file("profile", 0400, samp_dir, NULL, &samp_profile_fops);
	return 0;

free_samples:
	for_each_possible_cpu(cpu) {
		vfree(per_cpu_ptr(&samp_cpus, cpu)->pc);
		per_cpu_ptr(&samp_cpus, cpu)->pc = NULL;
	}
	return -ENOMEM;
}

static void __exit samp_exit(void)
{
	int cpu;

	debugfs_remove_recursive(samp_dir);
	mutex_lock(&samp_lock);
	samp_stop();
	mutex_unlock(&samp_lock);
	for_each_possible_cpu(cpu)
		vfree(per_cpu_ptr(&samp_cpus, cpu)->pc);
}

module_init(samp_init);
module_exit(samp_exit);
MODULE_DESCRIPTION("Sample the interrupted PC on every CPU: a flat profile (bench only)");
MODULE_LICENSE("GPL");
