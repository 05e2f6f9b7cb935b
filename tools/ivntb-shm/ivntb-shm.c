// SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause)
/*
 * ivntb-shm - create, inspect and act on an ivntb shared region from the
 * host (a file under /dev/shm that QEMU's ivshmem-plain maps as BAR2).
 *
 *   ivntb-shm init FILE --size SIZE [--ports N] [--spads N] [--msgs N]
 *                  [--mws N|ports] [--mw-size SIZE] [--mw-align SIZE]
 *                  [--nonce X] [--force]
 *   ivntb-shm dump FILE [--raw]
 *   ivntb-shm check FILE
 *   ivntb-shm peer FILE [--port P] [options, see usage()]
 *   ivntb-shm scribble FILE (--offset OFF --value V [--width 1|2|4|8] |
 *                  --random N [--seed S] [--from OFF] [--to OFF])
 *   ivntb-shm watch FILE [--timeout-ms MS]
 *                  wait for any port's link generation to change (a port
 *                  took a link down for a reason its peer may not see),
 *                  then print the CLOCK_REALTIME of that moment in ns
 *   ivntb-shm pools FILE [--ndev N] [--bar-base ADDR]
 *                  the device-tree source of the DMA pools over each
 *                  port's inbound windows (docs/windows.md), to append to
 *                  a machine's own device tree
 *   ivntb-shm dtb FILE --out DTB [--ndev N] [--bar-base ADDR] -- QEMU ARGS...
 *                  QEMU's own device tree for that machine (dumpdtb) with
 *                  the pools added, written to DTB; prints "-dtb DTB". The
 *                  BAR base is the machine's 64-bit PCI window, read from
 *                  that tree (pools: riscv64 virt's, unless given)
 *
 * Exit codes: 0 ok, 1 usage or I/O error, 2 region invalid, 3 could not
 * claim a port, 4 an action failed, 5 timeout, 6 lost the port.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ivntb_proto.h"
#include "ivntb_dump.h"

enum {
	EX_OK = 0, EX_USAGE = 1, EX_INVALID = 2, EX_CLAIM = 3, EX_ACTION = 4,
	EX_TIMEOUT = 5, EX_LOST = 6,
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
"usage: ivntb-shm init FILE --size SIZE [--ports N] [--spads N] [--msgs N]\n"
"                 [--mws N|ports] [--mw-size SIZE] [--mw-align SIZE] [--nonce X] [--force]\n"
"       ivntb-shm dump FILE [--raw]\n"
"       ivntb-shm check FILE\n"
"       ivntb-shm peer FILE [--port P] [--tag T] [--hb-ms MS] [--no-link]\n"
"                 [--takeover-ms MS] [--wait-link SEC] [--peer-timeout-ms MS]\n"
"                 [--ring PORT:BITS]... [--spad PORT:IDX=VAL]... [--msg PORT:IDX=VAL]...\n"
"                 [--ping N] [--echo] [--listen] [--duration SEC] [--count N]\n"
"                 [--bounce N] [--bounce-ms MS] [--crash] [--quiet]\n"
"                 [--stall-ms MS]  (default 80: count heartbeat gaps over MS)\n"
"                 [--doorbell-id N]  (publish N as our ivshmem-doorbell peer ID,\n"
"                 as a guest does: a server run with --ntb marks the port gone\n"
"                 when peer N's connection closes)\n"
"       ivntb-shm scribble FILE (--offset OFF --value V [--width 1|2|4|8] |\n"
"                 --random N [--seed S] [--from OFF] [--to OFF] |\n"
"                 --offset OFF --hammer-ms MS)\n"
"       ivntb-shm watch FILE [--timeout-ms MS]\n"
"       ivntb-shm pools FILE [--ndev N] [--bar-base ADDR]\n"
"       ivntb-shm dtb FILE --out DTB [--ndev N] [--bar-base ADDR] -- QEMU [ARGS...]\n"
"                 (riscv64 and arm64 virt: the DMA pools over the windows,\n"
"                 docs/windows.md; dtb reads the BAR base from QEMU's tree)\n"
"exit: 0 ok, 1 usage/io, 2 region invalid, 3 claim failed, 4 action failed,\n"
"      5 timeout, 6 port lost\n");
	exit(EX_USAGE);
}

static u64 parse_num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "ivntb-shm: bad number '%s'\n", s);
	exit(EX_USAGE);
}

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool allow_shrink;

static void *map_file(const char *path, u64 *size, bool create, u64 want)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDWR | (create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		perror(path);
		exit(EX_USAGE);
	}
	if (fstat(fd, &st)) {
		perror("fstat");
		exit(EX_USAGE);
	}
	if (create && (u64)st.st_size != want) {
		/* Shrinking a file QEMU maps would SIGBUS it. */
		if ((u64)st.st_size > want && !allow_shrink) {
			fprintf(stderr, "%s: is %lld bytes, larger than --size (use --force)\n",
				path, (long long)st.st_size);
			exit(EX_USAGE);
		}
		if (ftruncate(fd, want)) {
			perror("ftruncate");
			exit(EX_USAGE);
		}
		st.st_size = want;
	}
	if (!st.st_size) {
		fprintf(stderr, "%s: empty file\n", path);
		exit(EX_INVALID);
	}
	p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(EX_USAGE);
	}
	close(fd);
	*size = st.st_size;
	return p;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "ports", required_argument, NULL, 'p' },
		{ "spads", required_argument, NULL, 'S' },
		{ "msgs", required_argument, NULL, 'm' },
		{ "mws", required_argument, NULL, 'w' },
		{ "mw-size", required_argument, NULL, 'z' },
		{ "mw-align", required_argument, NULL, 'a' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	/* The host tool re-initialises an idle region when asked to. */
	struct ivntb_init_params ip = { .flags = IVNTB_INIT_REINIT };
	struct ivntb_region r;
	bool have_nonce = false, mws_ports = false;
	u64 size = 0, map_size;
	void *base;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': size = parse_num(optarg); break;
		case 'p': ip.nr_ports = parse_num(optarg); break;
		case 'S': ip.nr_spads = parse_num(optarg); break;
		case 'm': ip.nr_msgs = parse_num(optarg); break;
		case 'w':
			/* "ports": what ntb_perf on a switch needs (windows.md) */
			if (!strcmp(optarg, "ports"))
				mws_ports = true;
			else
				ip.nr_mws = parse_num(optarg);
			break;
		case 'z': ip.mw_size = parse_num(optarg); break;
		case 'a': ip.mw_align = parse_num(optarg); break;
		case 'n': ip.nonce = parse_num(optarg); have_nonce = true; break;
		case 'f': ip.flags |= IVNTB_INIT_FORCE; allow_shrink = true; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || !size)
		usage();
	if (mws_ports) {
		ip.nr_mws = ip.nr_ports ? ip.nr_ports : 2;
		if (ip.nr_mws > IVNTB_MAX_MWS) {
			fprintf(stderr, "init: --mws ports: %u ports need %u windows per pair, at most %u fit the layout (ntb_perf on a switch needs one per port)\n",
				ip.nr_ports, ip.nr_mws, IVNTB_MAX_MWS);
			return EX_USAGE;
		}
	}
	if (!have_nonce)
		ip.nonce = now_ns() ^ ((u64)getpid() << 32);
	ip.region_size = size;
	base = map_file(argv[optind], &map_size, true, size);
	err = ivntb_region_init(&r, base, map_size, &ip);
	if (err) {
		fprintf(stderr, "init: %s (%s)\n", ivntb_errname(err), r.why);
		return err == -ENODEV || err == -EBUSY || err == -EAGAIN ?
			EX_INVALID : EX_USAGE;
	}
	printf("%s %s: %llu bytes, %u ports, %u spads, %u msgs, %u mws of %llu bytes\n",
	       r.geom.nonce == ip.nonce ? "initialised" :
	       "initialised meanwhile by another party",
	       argv[optind], r.geom.region_size, r.geom.nr_ports,
	       r.geom.nr_spads, r.geom.nr_msgs, r.geom.nr_mws,
	       r.geom.win[0][1][0].size);
	return EX_OK;
}

static int cmd_dump(int argc, char **argv, bool check_only)
{
	static const struct option opts[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct ivntb_region r;
	bool raw = false;
	u64 map_size;
	void *base;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': raw = true; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	base = map_file(argv[optind], &map_size, false, 0);
	if (check_only) {
		err = ivntb_region_validate(&r, base, map_size);
		printf("%s: %s (%s)\n", argv[optind], ivntb_errname(err), r.why);
	} else {
		err = ivntb_dump(stdout, base, map_size, raw);
	}
	return err ? EX_INVALID : EX_OK;
}

/* ----------------------------------------------------------------------- */

/*
 * The DMA pools of docs/windows.md: one "shared-dma-pool" per (device,
 * port) over that port's inbound windows, at the guest-physical address of
 * the device's BAR2. QEMU's riscv64 virt machine gives the ivshmem BAR2s
 * the start of its 64-bit PCI window (0x4_0000_0000), in slot order, each
 * aligned to its size (they are the largest BARs): device i's BAR2 is at
 * BAR_BASE + i * region size. The driver checks that a pool matches its
 * BAR2 and port before it uses one, so a wrong guess costs the windows,
 * never memory.
 */
#define VIRT_PCI_MMIO64		0x400000000ULL

struct pools_args {
	const char *file;
	u32 ndev;
	u64 bar_base;
	bool bar_base_given;
};

static int print_pools(FILE *f, const struct pools_args *a)
{
	struct ivntb_region r;
	u64 map_size, off, size, lo, hi, sum, addr;
	u32 i, p, q, w;
	void *base;
	int err;

	base = map_file(a->file, &map_size, false, 0);
	err = ivntb_region_validate(&r, base, map_size);
	if (err) {
		fprintf(stderr, "%s: %s (%s)\n", a->file, ivntb_errname(err), r.why);
		return EX_INVALID;
	}
	if (r.geom.region_size & (r.geom.region_size - 1)) {
		fprintf(stderr, "%s: region of %llu bytes: a BAR is a power of two\n",
			a->file, (unsigned long long)r.geom.region_size);
		return EX_INVALID;
	}
	fprintf(f, "/ { reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;\n");
	for (i = 0; i < a->ndev; i++) {
		for (p = 0; p < r.geom.nr_ports; p++) {
			lo = UINT64_MAX;
			hi = 0;
			sum = 0;
			for (q = 0; q < r.geom.nr_ports; q++)
				for (w = 0; q != p && w < r.geom.nr_mws; w++) {
					if (ivntb_mw_get(&r, p, q, w, &off, &size))
						continue;
					lo = off < lo ? off : lo;
					hi = off + size > hi ? off + size : hi;
					sum += size;
				}
			if (!sum || hi - lo != sum) {
				fprintf(stderr, "%s: port %u's inbound windows are not one contiguous range: no pool\n",
					a->file, p);
				return EX_INVALID;
			}
			addr = a->bar_base + i * r.geom.region_size + lo;
			fprintf(f, "ivntb_pool_%u_%u: ivntb-mw@%llx { compatible = \"shared-dma-pool\"; reg = <0x%llx 0x%llx 0x%llx 0x%llx>; no-map; };\n",
				i, p, (unsigned long long)addr,
				(unsigned long long)(addr >> 32),
				(unsigned long long)(addr & 0xffffffff),
				(unsigned long long)((hi - lo) >> 32),
				(unsigned long long)((hi - lo) & 0xffffffff));
		}
	}
	fprintf(f, "}; ivntb-mw-pools { compatible = \"ivshmem-ntb,mw-pools\"; memory-region = <");
	for (i = 0; i < a->ndev; i++)
		for (p = 0; p < r.geom.nr_ports; p++)
			fprintf(f, "%s&ivntb_pool_%u_%u", i + p ? " " : "", i, p);
	fprintf(f, ">; }; };\n");
	return EX_OK;
}

/* Parses FILE [--ndev N] [--bar-base ADDR] [--out PATH]; stops at "--". */
static void parse_pools(int argc, char **argv, struct pools_args *a,
			const char **out)
{
	static const struct option opts[] = {
		{ "ndev", required_argument, NULL, 'n' },
		{ "bar-base", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	a->ndev = 1;
	a->bar_base = VIRT_PCI_MMIO64;
	a->bar_base_given = false;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': a->ndev = parse_num(optarg); break;
		case 'b':
			a->bar_base = parse_num(optarg);
			a->bar_base_given = true;
			break;
		case 'o':
			if (!out)
				usage();
			*out = optarg;
			break;
		default: usage();
		}
	}
	if (optind >= argc || !a->ndev || a->ndev > 64)
		usage();
	a->file = argv[optind++];
}

static int cmd_pools(int argc, char **argv)
{
	struct pools_args a;

	parse_pools(argc, argv, &a, NULL);
	if (optind != argc)
		usage();
	return print_pools(stdout, &a);
}

/*
 * The start of the machine's 64-bit PCI memory window, from the "ranges" of
 * the PCI host node in QEMU's dumped tree (dtc's source form): the entry
 * whose PCI address space is 64-bit memory (phys.hi bits 24-25 = 3), in
 * the (3 PCI, 2 parent, 2 size) cells of QEMU's virt machines. With no
 * firmware to do it, Linux assigns the ivshmem BAR2s from there: riscv64
 * virt 0x4_0000_0000, arm64 virt 0x80_0000_0000 (both seen in guests).
 * Returns 0 and sets *base, or -1 if there is no such window.
 */
static int dts_pci_mmio64(const char *dts, u64 *base)
{
	char node[128] = "", *line = NULL, *p, *end;
	unsigned long long cell[64];
	size_t cap = 0;
	int i, n, ret = -1;
	FILE *f;

	f = fopen(dts, "r");
	if (!f)
		return -1;
	while (ret && getline(&line, &cap, f) > 0) {
		p = line + strspn(line, " \t");
		end = strstr(p, " {");
		if (end) {		/* a node opens: its properties come first */
			snprintf(node, sizeof(node), "%.*s", (int)(end - p), p);
			continue;
		}
		if (strncmp(p, "ranges = <", 10) ||
		    (strncmp(node, "pcie@", 5) && strncmp(node, "pci@", 4)))
			continue;
		p += 10;
		for (n = 0; n < 64; n++, p = end) {
			cell[n] = strtoull(p, &end, 16);
			if (end == p)
				break;
		}
		/* another cell layout is not one we know: no guess */
		if (n % 7 || p[strspn(p, " ")] != '>')
			continue;
		for (i = 0; i < n; i += 7) {
			if (((cell[i] >> 24) & 3) == 3) {
				*base = cell[i + 3] << 32 | cell[i + 4];
				ret = 0;
				break;
			}
		}
	}
	free(line);
	fclose(f);
	return ret;
}

/* run ARGV with stdout and stderr to LOG (NULL: inherited); 0 if it exits 0 */
static int run(char *const *args, const char *log)
{
	int st, fd;
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (!pid) {
		if (log) {
			fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
				_exit(127);
		}
		execvp(args[0], args);
		perror(args[0]);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -1;
}

/* print_pools() into *BUF (replacing what it held), for cmd_dtb() */
static int pools_text(const struct pools_args *a, char **buf, size_t *len)
{
	FILE *f;
	int ret;

	free(*buf);
	*buf = NULL;
	f = open_memstream(buf, len);
	if (!f) {
		perror("open_memstream");
		return EX_ACTION;
	}
	ret = print_pools(f, a);
	if (fclose(f) && !ret) {
		perror("open_memstream");
		ret = EX_ACTION;
	}
	return ret;
}

static int cmd_dtb(int argc, char **argv)
{
	char tmp[] = "/tmp/ivntb-dtb.XXXXXX", dump[64], dts[64], log[64];
	char dumparg[96], line[256], *pools = NULL;
	const char *out = NULL;
	struct pools_args a;
	size_t pools_len = 0;
	char **qemu = NULL;
	FILE *f;
	int i, n, ret;

	parse_pools(argc, argv, &a, &out);
	/* getopt stops at "--" and leaves optind past it */
	if (!out || optind >= argc)
		usage();
	/* the region first: a bad one costs no QEMU run and no temp files */
	ret = pools_text(&a, &pools, &pools_len);
	if (ret)
		goto out_pools;
	ret = EX_ACTION;
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		goto out_pools;
	}
	snprintf(dump, sizeof(dump), "%s/machine.dtb", tmp);
	snprintf(dts, sizeof(dts), "%s/ivntb.dts", tmp);
	snprintf(log, sizeof(log), "%s/log", tmp);
	snprintf(dumparg, sizeof(dumparg), "dumpdtb=%s", dump);

	/* QEMU ARGS... -machine dumpdtb=F -nodefaults -display none */
	n = argc - optind;
	qemu = calloc(n + 6, sizeof(*qemu));
	if (!qemu)
		goto out;
	for (i = 0; i < n; i++)
		qemu[i] = argv[optind + i];
	qemu[n++] = "-machine";
	qemu[n++] = dumparg;
	qemu[n++] = "-nodefaults";
	qemu[n++] = "-display";
	qemu[n++] = "none";
	if (run(qemu, log)) {
		fprintf(stderr, "ivntb-shm dtb: %s could not dump its device tree:\n", qemu[0]);
		f = fopen(log, "r");
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "  %s", line);
		if (f)
			fclose(f);
		goto out;
	}
	{
		char *dtc[] = { "dtc", "-q", "-I", "dtb", "-O", "dts", "-o", dts, dump, NULL };

		if (run(dtc, NULL))
			goto out;
	}
	/* where this machine puts the BAR2s, unless told */
	if (!a.bar_base_given) {
		if (dts_pci_mmio64(dts, &a.bar_base)) {
			fprintf(stderr, "ivntb-shm dtb: no 64-bit PCI memory window in %s's device tree: give --bar-base\n",
				qemu[0]);
			goto out;
		}
		if (pools_text(&a, &pools, &pools_len))
			goto out;
	}
	f = fopen(dts, "a");
	if (!f) {
		perror(dts);
		goto out;
	}
	if (fwrite(pools, 1, pools_len, f) != pools_len || fclose(f)) {
		perror(dts);
		goto out;
	}
	{
		char *dtc[] = { "dtc", "-q", "-I", "dts", "-O", "dtb", "-o", (char *)out, dts, NULL };

		if (run(dtc, NULL)) {
			fprintf(stderr, "ivntb-shm dtb: dtc failed on the tree with the pools\n");
			goto out;
		}
	}
	printf("-dtb %s\n", out);
	ret = EX_OK;
out:
	free(qemu);
	unlink(dump);
	unlink(dts);
	unlink(log);
	rmdir(tmp);
out_pools:
	free(pools);
	return ret;
}

/* ----------------------------------------------------------------------- */

#define MAX_ACTIONS 64

struct action {
	char kind;		/* 'r'ing, 's'pad, 'm'sg */
	u32 port, idx;
	u64 val;
};

struct peer_ctx {
	struct ivntb_region r;
	struct ivntb_port me;
	struct ivntb_peer_state ps[IVNTB_MAX_PORTS];
	bool up[IVNTB_MAX_PORTS];
	u16 acked[IVNTB_MAX_PORTS];	/* link_ack[] we published ... */
	u32 ack_epoch[IVNTB_MAX_PORTS];	/* ... for this epoch of the port */
	u64 hb_seen_ns[IVNTB_MAX_PORTS];
	u64 peer_timeout_ns;
	u64 stall_ns;		/* --stall-ms: a longer gap between beats ... */
	u64 beats, stalls;	/* ... is a stall: a guest may time us out */
	u64 last_beat, max_gap;
	u64 seq;
	u64 events;
	bool quiet, echo;
	int lost;
};

static void parse_action(struct action *a, char kind, const char *s)
{
	char *end;

	a->kind = kind;
	a->port = strtoul(s, &end, 0);
	if (*end != ':')
		usage();
	s = end + 1;
	if (kind == 'r') {
		a->val = parse_num(s);
		return;
	}
	a->idx = strtoul(s, &end, 0);
	if (*end != '=')
		usage();
	a->val = parse_num(end + 1);
}

static void peer_update_links(struct peer_ctx *c, u64 now)
{
	u32 p;

	for (p = 0; p < c->r.geom.nr_ports; p++) {
		struct ivntb_peer_state s;
		bool up;

		if (p == c->me.port)
			continue;
		if (ivntb_peer_snapshot(&c->r, p, &s))
			s.state = IVNTB_PORT_INVALID;
		if (s.heartbeat != c->ps[p].heartbeat || s.epoch != c->ps[p].epoch)
			c->hb_seen_ns[p] = now;
		up = s.state != IVNTB_PORT_INVALID && ivntb_peer_link_ok(&s) &&
		     now - c->hb_seen_ns[p] < c->peer_timeout_ns;
		if (up && c->up[p] && s.epoch != c->ps[p].epoch) {
			/* Peer restarted: a down and an up event. */
			if (!c->quiet)
				printf("link %u down (peer restarted)\n", p);
			c->up[p] = false;
		}
		if (up && c->up[p] &&
		    s.link_gen[c->me.port] != c->ps[p].link_gen[c->me.port]) {
			/* Protocol 1.2: the peer took the link down. */
			if (!c->quiet)
				printf("link %u down (peer link generation %u)\n",
				       p, s.link_gen[c->me.port]);
			c->up[p] = false;
		}
		/* We time it out: tell it (protocol 1.2, docs/protocol.md 3.3). */
		if (!up && c->up[p] && ivntb_peer_link_ok(&s))
			ivntb_link_gen_bump(&c->r, &c->me, p);
		/*
		 * Protocol 1.4: ack its link generation toward us while our
		 * link to it is down, before it comes up. One thread writes
		 * for us: no write of ours is in flight. A new value in the
		 * same epoch is one it announced: its spads go first.
		 */
		if (!c->up[p] && s.state == IVNTB_PORT_CLAIMED &&
		    (s.epoch != c->ack_epoch[p] ||
		     s.link_gen[c->me.port] != c->acked[p]) &&
		    !ivntb_link_ack_publish(&c->r, &c->me, p,
					    s.link_gen[c->me.port],
					    s.epoch == c->ack_epoch[p])) {
			c->acked[p] = s.link_gen[c->me.port];
			c->ack_epoch[p] = s.epoch;
		}
		if (up != c->up[p] && !c->quiet)
			printf("link %u %s epoch %u\n", p, up ? "up" : "down",
			       s.epoch);
		c->up[p] = up;
		c->ps[p] = s;
	}
}

/*
 * Beat, and keep the record a test compares a guest's timeouts of us
 * with: every gap between two beats longer than stall_ns (the guest's
 * link timeout) is a stall of ours, as a starved host process has them.
 */
static int peer_beat(struct peer_ctx *c)
{
	u64 t;

	if (ivntb_heartbeat(&c->r, &c->me))
		return -ESTALE;
	t = now_ns();
	if (t - c->last_beat > c->max_gap)
		c->max_gap = t - c->last_beat;
	if (t - c->last_beat > c->stall_ns)
		c->stalls++;
	c->beats++;
	c->last_beat = t;
	return 0;
}

/* The record a host check compares with a guest's timeouts of us. */
static void peer_print_beats(const struct peer_ctx *c)
{
	printf("heartbeat: %llu beats, %llu stalls over %llu ms, longest gap %llu ms\n",
	       (unsigned long long)c->beats, (unsigned long long)c->stalls,
	       (unsigned long long)(c->stall_ns / 1000000),
	       (unsigned long long)(c->max_gap / 1000000));
}

/* Heartbeat and watch the links for @ns. */
static int peer_idle(struct peer_ctx *c, u64 ns, u64 hb_ns, u64 *next_hb)
{
	u64 end = now_ns() + ns, now;

	while ((now = now_ns()) < end && !stop) {
		if (now >= *next_hb) {
			if (peer_beat(c))
				return EX_LOST;
			*next_hb = now + hb_ns;
		}
		peer_update_links(c, now);
		usleep(1000);
	}
	return EX_OK;
}

/*
 * --bounce: disable our link, announce it with a new link generation
 * toward every port, enable it again, all within microseconds: a peer
 * polls too rarely to see the disable itself, so only the generation
 * tells it (protocol 1.2). Each bounce comes after @gap_ns of quiet.
 */
static int do_bounce(struct peer_ctx *c, u64 n, u64 gap_ns, u64 hb_ns,
		     u64 *next_hb)
{
	u64 i;
	u32 p;

	for (i = 0; i < n && !stop; i++) {
		/* first a gap: the peer's link must be up to see a flap */
		if (peer_idle(c, gap_ns, hb_ns, next_hb))
			return EX_LOST;
		if (ivntb_link_set(&c->r, &c->me, false))
			return EX_LOST;
		for (p = 0; p < c->r.geom.nr_ports; p++)
			if (p != c->me.port)
				ivntb_link_gen_bump(&c->r, &c->me, p);
		if (ivntb_link_set(&c->r, &c->me, true))
			return EX_LOST;
		printf("bounce %llu\n", i + 1);
	}
	return EX_OK;
}

static int peer_default_target(struct peer_ctx *c)
{
	u32 p;

	for (p = 0; p < c->r.geom.nr_ports; p++)
		if (p != c->me.port && c->up[p])
			return p;
	if (c->r.geom.nr_ports == 2)
		return !c->me.port;
	return -1;
}

static int msg_send_retry(struct peer_ctx *c, u32 dst, u32 midx, u32 data)
{
	u64 deadline = now_ns() + 1000000000ULL;
	int err;

	for (;;) {
		err = ivntb_msg_send(&c->r, &c->me, dst, midx, data);
		if (err != -EBUSY && err != -EAGAIN)
			return err;
		if (now_ns() > deadline)
			return err;
		usleep(50);
	}
}

/* Handle pending events; returns the number handled. */
static int peer_poll(struct peer_ctx *c, u64 now)
{
	u64 seq = ivntb_event_seq(&c->r, &c->me);
	u64 bits, sts;
	int n = 0;
	u32 i;

	if (seq == c->seq)
		return 0;
	c->seq = seq;
	peer_update_links(c, now);

	bits = ivntb_db_take(&c->r, &c->me, ~0ULL);
	if (bits) {
		n++;
		if (!c->quiet)
			printf("db 0x%016llx\n", bits);
		if (c->echo) {
			int t = peer_default_target(c);

			if (t >= 0)
				ivntb_db_ring(&c->r, t, bits);
		}
	}
	sts = ivntb_msg_status(&c->r, &c->me);
	for (i = 0; i < c->r.geom.nr_msgs; i++) {
		u32 data, src;
		int err;

		if (!(sts & (1ULL << i)))
			continue;
		err = ivntb_msg_read(&c->r, &c->me, i, &data, &src);
		if (err) {
			if (!c->quiet)
				printf("msg %u bad: %s\n", i, ivntb_errname(err));
			ivntb_msg_ack(&c->r, &c->me, i);
			continue;
		}
		n++;
		if (!c->quiet)
			printf("msg %u src %u data 0x%08x\n", i, src, data);
		ivntb_msg_ack(&c->r, &c->me, i);
		if (c->echo) {
			err = msg_send_retry(c, src, i, data);
			if (err && !c->quiet)
				printf("msg echo failed: %s\n", ivntb_errname(err));
		}
	}
	ivntb_msg_reap(&c->r, &c->me);
	fflush(stdout);
	c->events += n;
	return n;
}

static int do_ping(struct peer_ctx *c, u32 count)
{
	u64 *rtt = calloc(count, sizeof(*rtt));
	int t = peer_default_target(c);
	u32 i, j;

	if (!rtt || t < 0)
		return EX_ACTION;
	for (i = 0; i < count; i++) {
		u64 t0 = now_ns(), deadline = t0 + 1000000000ULL;

		if (ivntb_db_ring(&c->r, t, 1))
			return EX_ACTION;
		while (!(ivntb_db_take(&c->r, &c->me, 1) & 1)) {
			if (now_ns() > deadline) {
				printf("ping %u: timeout\n", i);
				free(rtt);
				return EX_TIMEOUT;
			}
		}
		rtt[i] = now_ns() - t0;
	}
	for (i = 1; i < count; i++)	/* insertion sort: counts are small */
		for (j = i; j && rtt[j - 1] > rtt[j]; j--) {
			u64 x = rtt[j];

			rtt[j] = rtt[j - 1];
			rtt[j - 1] = x;
		}
	printf("ping %u: p50 %llu ns p99 %llu ns max %llu ns\n",
	       count, rtt[count / 2], rtt[(u64)count * 99 / 100], rtt[count - 1]);
	free(rtt);
	return EX_OK;
}

static int cmd_peer(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "tag", required_argument, NULL, 't' },
		{ "hb-ms", required_argument, NULL, 'h' },
		{ "no-link", no_argument, NULL, 'N' },
		{ "takeover-ms", required_argument, NULL, 'T' },
		{ "wait-link", required_argument, NULL, 'W' },
		{ "peer-timeout-ms", required_argument, NULL, 'P' },
		{ "ring", required_argument, NULL, 'r' },
		{ "spad", required_argument, NULL, 's' },
		{ "msg", required_argument, NULL, 'm' },
		{ "ping", required_argument, NULL, 'i' },
		{ "echo", no_argument, NULL, 'e' },
		{ "listen", no_argument, NULL, 'l' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "crash", no_argument, NULL, 'C' },
		{ "bounce", required_argument, NULL, 'b' },
		{ "bounce-ms", required_argument, NULL, 'B' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "doorbell-id", required_argument, NULL, 'D' },
		{ "stall-ms", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	static struct peer_ctx c;
	struct action act[MAX_ACTIONS];
	int nact = 0, port = -1, opt, err, ret = EX_OK;
	u64 tag = getpid(), hb_ns = 10000000ULL, takeover_ns = 0;	/* = heartbeat_ms */
	u64 wait_link_ns = 0, duration_ns = 0, count = 0, ping = 0;
	u64 bounce = 0, bounce_ns = 500000000ULL;
	long long doorbell_id = -1;
	u64 map_size, now, next_hb, end;
	bool link = true, crash = false, loop = false;
	void *base;
	u32 i;

	c.peer_timeout_ns = 3000000000ULL;
	c.stall_ns = 80000000ULL;	/* the driver's link_timeout_ms */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': port = parse_num(optarg); break;
		case 't': tag = parse_num(optarg); break;
		case 'h': hb_ns = parse_num(optarg) * 1000000ULL; break;
		case 'N': link = false; break;
		case 'T': takeover_ns = parse_num(optarg) * 1000000ULL; break;
		case 'W': wait_link_ns = parse_num(optarg) * 1000000000ULL; break;
		case 'P': c.peer_timeout_ns = parse_num(optarg) * 1000000ULL; break;
		case 'S': c.stall_ns = parse_num(optarg) * 1000000ULL; break;
		case 'r': case 's': case 'm':
			if (nact == MAX_ACTIONS)
				usage();
			parse_action(&act[nact++], opt, optarg);
			break;
		case 'i': ping = parse_num(optarg); break;
		case 'e': c.echo = true; loop = true; break;
		case 'l': loop = true; break;
		case 'd': duration_ns = parse_num(optarg) * 1000000000ULL; loop = true; break;
		case 'c': count = parse_num(optarg); loop = true; break;
		case 'C': crash = true; break;
		case 'b': bounce = parse_num(optarg); break;
		case 'B': bounce_ns = parse_num(optarg) * 1000000ULL; break;
		case 'q': c.quiet = true; break;
		case 'D':
			doorbell_id = parse_num(optarg);
			if (doorbell_id > 0xffff)	/* doorbell IDs are 16-bit */
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	base = map_file(argv[optind], &map_size, false, 0);
	err = ivntb_region_validate(&c.r, base, map_size);
	if (err) {
		fprintf(stderr, "peer: region invalid: %s (%s)\n",
			ivntb_errname(err), c.r.why);
		return EX_INVALID;
	}

	err = ivntb_port_claim(&c.r, port, tag, &c.me);
	if (err == -EBUSY && port >= 0 && takeover_ns) {
		struct ivntb_peer_state s0, s1;
		u64 t_end = now_ns() + takeover_ns;

		ivntb_peer_snapshot(&c.r, port, &s0);
		while (now_ns() < t_end && !stop)
			usleep(1000);
		ivntb_peer_snapshot(&c.r, port, &s1);
		if (s0.claim == s1.claim && s0.heartbeat == s1.heartbeat) {
			err = ivntb_port_takeover(&c.r, port, s1.claim, tag, &c.me);
			if (!err)
				printf("took over port %u (stale epoch %u)\n",
				       port, s1.epoch);
		}
	}
	if (err) {
		fprintf(stderr, "peer: cannot claim port %d: %s\n", port,
			ivntb_errname(err));
		return EX_CLAIM;
	}
	printf("claimed port %u epoch %u\n", c.me.port, c.me.epoch);
	/* after the claim, which zeroes the wake line: 1 + the ID (3.8) */
	if (doorbell_id >= 0 &&
	    ivntb_wake_ids_set(&c.r, &c.me, (u32)doorbell_id + 1,
			       (u32)(hb_ns / 1000000ULL))) {
		ret = EX_LOST;
		goto out;
	}
	c.seq = ivntb_event_seq(&c.r, &c.me);
	now = now_ns();
	c.last_beat = now;	/* the claim's own heartbeat */
	for (i = 0; i < IVNTB_MAX_PORTS; i++)
		c.hb_seen_ns[i] = now;
	peer_update_links(&c, now);
	if (link && ivntb_link_set(&c.r, &c.me, true))
		return EX_LOST;

	next_hb = now + hb_ns;
	if (wait_link_ns) {
		u64 deadline = now + wait_link_ns;

		while (peer_default_target(&c) < 0 || !c.up[peer_default_target(&c)]) {
			now = now_ns();
			if (now > deadline || stop) {
				fprintf(stderr, "peer: no link\n");
				ret = EX_TIMEOUT;
				goto out;
			}
			if (now >= next_hb) {
				if (peer_beat(&c)) {
					ret = EX_LOST;
					goto out;
				}
				next_hb = now + hb_ns;
			}
			peer_update_links(&c, now);
			usleep(1000);
		}
	}

	for (i = 0; i < (u32)nact; i++) {
		struct action *a = &act[i];

		switch (a->kind) {
		case 'r':
			err = ivntb_db_ring(&c.r, a->port, a->val);
			break;
		case 's':
			err = ivntb_spad_write(&c.r, a->port, a->idx, a->val);
			break;
		default:
			err = msg_send_retry(&c, a->port, a->idx, a->val);
			break;
		}
		if (err) {
			fprintf(stderr, "peer: action %c %u failed: %s\n",
				a->kind, a->port, ivntb_errname(err));
			ret = EX_ACTION;
			goto out;
		}
	}
	if (ping) {
		ret = do_ping(&c, ping);
		if (ret)
			goto out;
	}
	if (bounce) {
		ret = do_bounce(&c, bounce, bounce_ns, hb_ns, &next_hb);
		if (ret)
			goto out;
	}

	end = duration_ns ? now_ns() + duration_ns : 0;
	while (loop && !stop) {
		int spins;

		now = now_ns();
		if (end && now >= end)
			break;
		if (count && c.events >= count)
			break;
		if (now >= next_hb) {
			if (peer_beat(&c)) {
				fprintf(stderr, "peer: port %u taken over\n",
					c.me.port);
				ret = EX_LOST;
				goto out;
			}
			peer_update_links(&c, now);
			next_hb = now + hb_ns;
		}
		/* Spin briefly, then nap: a host tool, not a benchmark. */
		for (spins = 0; spins < 2000; spins++)
			if (peer_poll(&c, now))
				break;
		if (spins == 2000)
			usleep(100);
	}

out:
	if (crash) {
		peer_print_beats(&c);
		fflush(stdout);
		_exit(ret);	/* no release: the claim goes stale */
	}
	/*
	 * Release before printing: a reader that stopped reading (grep -q)
	 * makes the next write raise SIGPIPE, which must not cost the release.
	 */
	fflush(stdout);
	if (ret != EX_LOST) {
		ivntb_link_set(&c.r, &c.me, false);
		if (ivntb_port_release(&c.r, &c.me) == -ESTALE)
			ret = EX_LOST;
		else
			printf("released port %u\n", c.me.port);
	}
	peer_print_beats(&c);
	return ret;
}

/* ----------------------------------------------------------------------- */

/*
 * scribble --hammer-ms: a hostile party that keeps one 64-bit word moving
 * (a plain load and store, as fast as it can) for @ms, against a guest's
 * compare-and-exchange loops on that word. Under TCG it makes them fail
 * only a few rounds in a row (docs/driver.md, irqoff_stats). Prints how
 * many stores it made.
 */
static int scribble_hammer(const char *file, u64 off, u64 ms)
{
	u64 map_size, end, n = 0, i;
	u64 *w;
	u8 *base;

	base = map_file(file, &map_size, false, 0);
	if (map_size < 8 || off > map_size - 8 || off % 8)
		usage();
	w = (u64 *)(base + off);
	end = now_ns() + ms * 1000000;
	do {
		for (i = 0; i < 65536; i++)
			WRITE_ONCE(*w, READ_ONCE(*w) + 1);
		n += i;
	} while (now_ns() < end);
	printf("hammered %#llx: %llu stores in %llu ms\n",
	       (unsigned long long)off, (unsigned long long)n,
	       (unsigned long long)ms);
	return EX_OK;
}

static int cmd_scribble(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "offset", required_argument, NULL, 'o' },
		{ "value", required_argument, NULL, 'v' },
		{ "width", required_argument, NULL, 'w' },
		{ "random", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "hammer-ms", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 }
	};
	u64 off = ~0ULL, val = 0, width = 8, nrand = 0, seed = 1, hammer = 0;
	u64 from = 0, to = IVNTB_LAYOUT_SIZE, map_size, i;
	u8 *base;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': off = parse_num(optarg); break;
		case 'v': val = parse_num(optarg); break;
		case 'w': width = parse_num(optarg); break;
		case 'R': nrand = parse_num(optarg); break;
		case 'S': seed = parse_num(optarg); break;
		case 'f': from = parse_num(optarg); break;
		case 't': to = parse_num(optarg); break;
		case 'H': hammer = parse_num(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || (off == ~0ULL && !nrand))
		usage();
	if (hammer)
		return scribble_hammer(argv[optind], off, hammer);
	base = map_file(argv[optind], &map_size, false, 0);
	if (to > map_size)
		to = map_size;
	if (nrand) {
		if (to < from + 8)
			usage();
		srandom(seed);
		for (i = 0; i < nrand; i++) {
			u64 o = from + ((u64)random() % (to - from - 7));
			u64 v = ((u64)random() << 33) ^ ((u64)random() << 2) ^ random();

			memcpy(base + o, &v, 8);
		}
		return EX_OK;
	}
	if (off > map_size || width > map_size - off ||
	    (width != 1 && width != 2 && width != 4 && width != 8) ||
	    off % width)
		usage();
	switch (width) {
	case 1: WRITE_ONCE(*(u8 *)(base + off), val); break;
	case 2: WRITE_ONCE(*(u16 *)(base + off), val); break;
	case 4: WRITE_ONCE(*(u32 *)(base + off), val); break;
	default: WRITE_ONCE(*(u64 *)(base + off), val); break;
	}
	return EX_OK;
}

/*
 * watch: the host as an observer that needs no guest clock. It sees a
 * guest take a link down (its link_gen moves) within a few microseconds:
 * crash-detection times measured from the host's own kill.
 */
static int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	u16 gen[IVNTB_MAX_PORTS][IVNTB_MAX_PORTS];
	struct timespec ts, pause = { .tv_nsec = 10000 };
	u64 timeout_ms = 10000, map_size, t0, t;
	struct ivntb_region r;
	u32 p, q;
	void *base;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't')
			timeout_ms = parse_num(optarg);
		else
			usage();
	}
	if (optind != argc - 1)
		usage();
	base = map_file(argv[optind], &map_size, false, 0);
	if (ivntb_region_validate(&r, base, map_size)) {
		fprintf(stderr, "watch: %s\n", r.why);
		return EX_INVALID;
	}
	for (p = 0; p < r.geom.nr_ports; p++)
		for (q = 0; q < IVNTB_MAX_PORTS; q++)
			gen[p][q] = READ_ONCE(r.shm->port[p].link_gen[q]);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
	for (;;) {
		for (p = 0; p < r.geom.nr_ports; p++) {
			for (q = 0; q < IVNTB_MAX_PORTS; q++) {
				if (READ_ONCE(r.shm->port[p].link_gen[q]) ==
				    gen[p][q])
					continue;
				clock_gettime(CLOCK_REALTIME, &ts);
				printf("%llu port %u peer %u\n",
				       (unsigned long long)ts.tv_sec *
				       1000000000ULL + ts.tv_nsec, p, q);
				return EX_OK;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
		if (t - t0 > timeout_ms)
			return EX_TIMEOUT;
		nanosleep(&pause, NULL);
	}
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		usage();
	cmd = argv[1];
	argv++;
	argc--;
	if (!strcmp(cmd, "init"))
		return cmd_init(argc, argv);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc, argv, false);
	if (!strcmp(cmd, "check"))
		return cmd_dump(argc, argv, true);
	if (!strcmp(cmd, "peer"))
		return cmd_peer(argc, argv);
	if (!strcmp(cmd, "scribble"))
		return cmd_scribble(argc, argv);
	if (!strcmp(cmd, "watch"))
		return cmd_watch(argc, argv);
	if (!strcmp(cmd, "pools"))
		return cmd_pools(argc, argv);
	if (!strcmp(cmd, "dtb"))
		return cmd_dtb(argc, argv);
	usage();
	return EX_USAGE;
}
