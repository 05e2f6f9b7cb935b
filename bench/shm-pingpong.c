// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * shm-pingpong - doorbell round trip through the real ivntb operations
 * next to a raw cache-line ping-pong, measured in the same run.
 *
 *   shm-pingpong [--iters N] [--rounds R] [--cpus A,B] [--out FILE]
 *                [--append]
 *
 * Two processes, pinned to two CPUs, share a region file in /dev/shm.
 * raw:   A stores i to line X, B spins until X == i and stores i to line Y,
 *        A spins until Y == i.
 * ivntb: A rings bit 0 of port 1 (ivntb_db_ring), B polls its event
 *        counter (one load), takes the bit (ivntb_db_take) and rings bit 0
 *        of port 0; A polls, takes.
 * Rounds alternate raw and ivntb so both see the same machine state. The
 * result is a markdown table row (p50/p99 RTT in ns and the ivntb/raw
 * ratio) printed and written to --out (a header first unless --append).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ivntb_proto.h"

#define RSIZE	(4ULL << 20)

static u64 iters = 50000, rounds = 6;
static int cpu[2] = { 0, 1 };

static inline u64 ticks(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
#endif
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#endif
}

static double ns_per_tick(void)
{
#if defined(__x86_64__)
	struct timespec a, b;
	u64 t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = ticks();
	usleep(200000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	t1 = ticks();
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (t1 - t0);
#else
	return 1.0;
#endif
}

static void pin(int c)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("sched_setaffinity (continuing unpinned)");
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Lines used by the raw ping-pong, in the last page (outside windows). */
struct raw_lines {
	u64 x __attribute__((aligned(64)));
	u64 y __attribute__((aligned(64)));
	u64 go __attribute__((aligned(64)));
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iters", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "append", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct ivntb_init_params ip = { .region_size = RSIZE, .nonce = 1 };
	const char *out = NULL;
	bool append = false;
	struct ivntb_region r;
	struct ivntb_port me;
	struct raw_lines *L;
	u64 *raw, *ivn, n = 0, k, i;
	double tick_ns, rp50, rp99, ip50, ip99;
	char path[64], row[256];
	void *base;
	pid_t pid;
	int fd, opt, st;
	FILE *f;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': iters = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = strtoull(optarg, NULL, 0); break;
		case 'c': sscanf(optarg, "%d,%d", &cpu[0], &cpu[1]); break;
		case 'o': out = optarg; break;
		case 'a': append = true; break;
		default:
			fprintf(stderr, "usage: see the comment in shm-pingpong.c\n");
			return 2;
		}
	}
	raw = calloc(iters * rounds, sizeof(u64));
	ivn = calloc(iters * rounds, sizeof(u64));
	snprintf(path, sizeof(path), "/dev/shm/ivntb-bench-%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (!raw || !ivn || fd < 0 || ftruncate(fd, RSIZE)) {
		perror("setup");
		return 1;
	}
	base = mmap(NULL, RSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);
	if (base == MAP_FAILED || ivntb_region_init(&r, base, RSIZE, &ip)) {
		fprintf(stderr, "region setup failed\n");
		return 1;
	}
	L = (struct raw_lines *)((u8 *)base + RSIZE - 4096);
	tick_ns = ns_per_tick();

	pid = fork();
	if (!pid) {
		/* Responder: port 1. */
		struct ivntb_region rr;
		struct ivntb_port p1;
		u64 seq, last;

		pin(cpu[1]);
		if (ivntb_region_validate(&rr, base, RSIZE) ||
		    ivntb_port_claim(&rr, 1, 1, &p1))
			_exit(1);
		last = ivntb_event_seq(&rr, &p1);
		WRITE_ONCE(L->go, 1);
		for (k = 0; k < rounds; k++) {
			for (i = 1; i <= iters; i++) {
				u64 v = k * iters + i;

				while (READ_ONCE(L->x) != v)
					cpu_relax();
				WRITE_ONCE(L->y, v);
			}
			for (i = 0; i < iters; i++) {
				while ((seq = ivntb_event_seq(&rr, &p1)) == last)
					cpu_relax();
				last = seq;
				if (ivntb_db_take(&rr, &p1, 1))
					ivntb_db_ring(&rr, 0, 1);
				else
					i--;	/* a peer state event, not ours */
			}
		}
		ivntb_port_release(&rr, &p1);
		_exit(0);
	}

	pin(cpu[0]);
	if (ivntb_port_claim(&r, 0, 0, &me))
		return 1;
	while (!READ_ONCE(L->go))
		cpu_relax();
	for (k = 0; k < rounds; k++) {
		u64 last = ivntb_event_seq(&r, &me), seq;

		for (i = 1; i <= iters; i++) {
			u64 v = k * iters + i, t0 = ticks();

			WRITE_ONCE(L->x, v);
			while (READ_ONCE(L->y) != v)
				cpu_relax();
			raw[k * iters + i - 1] = ticks() - t0;
		}
		for (i = 0; i < iters; i++) {
			u64 t0 = ticks();

			ivntb_db_ring(&r, 1, 1);
			for (;;) {
				while ((seq = ivntb_event_seq(&r, &me)) == last)
					cpu_relax();
				last = seq;
				if (ivntb_db_take(&r, &me, 1))
					break;
			}
			ivn[k * iters + i] = ticks() - t0;
		}
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "responder failed\n");
		return 1;
	}
	ivntb_port_release(&r, &me);

	n = iters * rounds;
	qsort(raw, n, sizeof(u64), cmp_u64);
	qsort(ivn, n, sizeof(u64), cmp_u64);
	rp50 = raw[n / 2] * tick_ns;
	rp99 = raw[n * 99 / 100] * tick_ns;
	ip50 = ivn[n / 2] * tick_ns;
	ip99 = ivn[n * 99 / 100] * tick_ns;
	snprintf(row, sizeof(row),
		 "| %s | %llu | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n",
		 IVNTB_COMPAT_NAME, (unsigned long long)n, rp50, rp99, ip50,
		 ip99, ip50 / rp50, ip99 / rp99);

	f = out ? fopen(out, append ? "a" : "w") : NULL;
	if (!append) {
		const char *hdr =
			"| ivntb compat | round trips | raw p50 ns | raw p99 ns | ivntb p50 ns | ivntb p99 ns | ratio p50 | ratio p99 |\n"
			"|---|---|---|---|---|---|---|---|\n";

		fputs(hdr, stdout);
		if (f)
			fputs(hdr, f);
	}
	fputs(row, stdout);
	if (f) {
		fputs(row, f);
		fclose(f);
	}
	return 0;
}
