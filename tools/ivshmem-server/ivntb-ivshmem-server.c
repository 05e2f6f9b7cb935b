// SPDX-License-Identifier: GPL-2.0
/*
 * ivntb-ivshmem-server - doorbell server for QEMU's ivshmem-doorbell device
 *
 * Speaks the protocol of QEMU's contrib/ivshmem-server (QEMU
 * docs/specs/ivshmem-spec.rst, "Server protocol"). Every message is one
 * little-endian int64, optionally carrying one file descriptor
 * (SCM_RIGHTS). On connect a client receives, in this order:
 *
 *   0 (protocol version, no fd)
 *   its own peer id (no fd)
 *   -1 with the shared memory fd
 *   for every other connected peer, in join order: that peer's id with
 *     each of its eventfds, one message per vector, in vector order
 *   its own id with each of its own eventfds (one message per vector)
 *
 * Every already-connected peer receives the new peer's id with each of its
 * eventfds; when a peer goes away the others receive its id with no fd.
 * Clients never send anything: data or EOF from a client ends it.
 *
 * Single-threaded poll() loop; every client socket is non-blocking with its
 * own output queue, so a client that does not read cannot stall the
 * others; one whose queue makes no progress for -T ms is dropped.
 *
 * With --ntb the server also supervises an ivshmem-ntb region in its
 * shared memory (protocol 1.3, docs/protocol.md 3.8): it announces itself
 * in the supervisor line, and when a peer's connection closes (its QEMU
 * died or quit) it marks the port that peer owned gone, increments the
 * other ports' event counters and rings every other peer's vector 0, so
 * the survivors take that link down at once instead of after a heartbeat
 * timeout. The region's shared-memory code is shm-protocol/ivntb_proto.c.
 * Written from the protocol description and QEMU's server; no code from it.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ivntb_proto.h"

#define PROG			"ivntb-ivshmem-server"
#define IVS_PROTOCOL_VERSION	0
#define IVS_MAX_VECTORS		64	/* as QEMU's server */
#define IVS_NR_IDS		65536	/* peer ids are 16 bits (IVPosition) */
#define IVS_DEF_SOCK		"/tmp/ivshmem_socket"
#define IVS_DEF_SHM		"ivshmem"
#define IVS_DEF_SIZE		(4ULL << 20)
#define IVS_DEF_VECTORS		1
#define IVS_DEF_MAX_PEERS	64
#define IVS_DEF_TIMEOUT_MS	5000
#define IVS_MIN_SIZE		4096ULL
#define IVS_MAX_SIZE		(1ULL << 40)
#define IVS_QUEUE_SLACK		65536	/* queued messages per client, */
					/* beyond the largest handshake */
#define IVS_ACCEPT_BURST	32
#define IVS_RETRY_MS		20
#define IVS_BACKLOG		16

/*
 * Test builds only (tests/run.sh): break the protocol on purpose, to prove
 * the test client notices. 1: no leave announcements; 2: the others get a
 * new peer's eventfds in reverse vector order; 3: stuck clients are kept.
 */
#ifndef IVS_MUTANT
#define IVS_MUTANT 0
#endif

enum ivs_kind { MSG_VERSION, MSG_ID, MSG_SHM, MSG_FD, MSG_LEAVE };

/* A file descriptor shared by the queues that still have to send it. */
struct ivs_file {
	int fd;
	unsigned int refs;
};

struct ivs_msg {
	int64_t val;
	enum ivs_kind kind;
	struct ivs_file *file;		/* NULL: no fd */
};

struct ivs_peer {
	int sock;
	int64_t id;
	bool announced;			/* the others were told it joined */
	bool dead;			/* remove at the next reap */
	bool retry;			/* sendmsg hit a kernel limit */
	struct ivs_file *vec[IVS_MAX_VECTORS];
	struct ivs_msg *q;		/* ring of messages not yet sent */
	unsigned int qhead, qlen, qcap;
	unsigned int qoff;		/* bytes of the head already sent */
	/*
	 * When the socket last took data. A send only fails with EAGAIN when
	 * the client's buffer is full, and it has been full since then: with
	 * messages pending for longer than the timeout, the client is stuck.
	 */
	int64_t progress_ms;
};

struct ivs_server {
	/* options */
	const char *sock_path;
	const char *shm_path;
	bool use_shm_open;
	const char *pid_file;
	uint64_t shm_size;
	unsigned int n_vectors;
	unsigned int max_peers;
	unsigned int timeout_ms;
	bool foreground, verbose, keep;
	bool ntb;			/* --ntb: supervise the NTB region */
	unsigned int queue_max;		/* messages queued for one client */

	/* state */
	int listen_fd, sig_fd, reserve_fd;
	struct ivs_file *shm;
	char shm_file[PATH_MAX];	/* -m: the file we created */
	bool shm_created, sock_created, pid_created;
	dev_t sock_dev, pid_dev, shm_dev;
	ino_t sock_ino, pid_ino, shm_ino;
	void *map;			/* --ntb: the shared memory, mapped */
	struct ivs_peer **peers;	/* in join order */
	unsigned int npeers;
	uint8_t id_used[IVS_NR_IDS / 8];
	unsigned int next_id;		/* ids go round robin from here */
	int64_t accept_backoff_until;
	bool quit;
};

static struct ivs_server srv;

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!srv.verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- option parsing ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [OPTION]...\n"
		"Doorbell server for QEMU's ivshmem-doorbell device (protocol of QEMU's\n"
		"contrib/ivshmem-server; options compatible with it).\n"
		"  -h            show this help\n"
		"  -v            verbose: log joins, leaves and errors on stdout\n"
		"                (foreground only)\n"
		"  -F            foreground (default: daemonize once ready)\n"
		"  -p PIDFILE    write the pid there (removed on exit)\n"
		"  -S PATH       UNIX socket to listen on (default " IVS_DEF_SOCK ")\n"
		"  -M NAME       POSIX shared memory object (default " IVS_DEF_SHM ");\n"
		"                must not exist yet\n"
		"  -m DIR        shared memory is a new file DIR/ivshmem.XXXXXX instead\n"
		"  -l SIZE       shared memory size; suffixes k, M, G, T (powers of 1024);\n"
		"                a power of two, 4k..1T (default 4M)\n"
		"  -n VECTORS    eventfds (interrupt vectors) per peer, 0..%d (default %d)\n"
		"  -P MAXPEERS   most peers connected at once, 1..%d (default %d)\n"
		"  -T MS         drop a client whose pending messages make no progress\n"
		"                for MS milliseconds (default %d)\n"
		"  -k            keep the shared memory file/object on exit\n"
		"  --ntb         supervise the ivshmem-ntb region in the shared memory:\n"
		"                mark a peer whose connection closed gone, and ring\n"
		"                the others (protocol 1.3)\n"
		"On SIGINT/SIGTERM/SIGHUP: exits 0 after removing the socket, the pid\n"
		"file and (without -k) the shared memory.\n",
		IVS_MAX_VECTORS, IVS_DEF_VECTORS, IVS_NR_IDS, IVS_DEF_MAX_PEERS,
		IVS_DEF_TIMEOUT_MS);
}

static int parse_uint(const char *s, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void parse_args(int argc, char **argv)
{
	unsigned long long v;
	int c;

	srv.sock_path = IVS_DEF_SOCK;
	srv.shm_path = IVS_DEF_SHM;
	srv.use_shm_open = true;
	srv.shm_size = IVS_DEF_SIZE;
	srv.n_vectors = IVS_DEF_VECTORS;
	srv.max_peers = IVS_DEF_MAX_PEERS;
	srv.timeout_ms = IVS_DEF_TIMEOUT_MS;

	static const struct option longopts[] = {
		{ "ntb", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};

	opterr = 0;
	while ((c = getopt_long(argc, argv, "hvFkp:S:m:M:l:n:P:T:", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'N':
			srv.ntb = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'v':
			srv.verbose = true;
			break;
		case 'F':
			srv.foreground = true;
			break;
		case 'k':
			srv.keep = true;
			break;
		case 'p':
			srv.pid_file = optarg;
			break;
		case 'S':
			srv.sock_path = optarg;
			break;
		case 'm':
		case 'M':
			srv.shm_path = optarg;
			srv.use_shm_open = c == 'M';
			break;
		case 'l':
			if (parse_size(optarg, &srv.shm_size) < 0) {
				err("invalid size '%s' (a number with an optional k, M, G or T suffix)",
				    optarg);
				goto bad;
			}
			if (srv.shm_size < IVS_MIN_SIZE ||
			    srv.shm_size > IVS_MAX_SIZE ||
			    (srv.shm_size & (srv.shm_size - 1))) {
				err("invalid size '%s' (%" PRIu64 " bytes): must be a power of two from 4k to 1T (QEMU maps it as a PCI BAR)",
				    optarg, srv.shm_size);
				goto bad;
			}
			break;
		case 'n':
			if (parse_uint(optarg, IVS_MAX_VECTORS, &v) < 0) {
				err("invalid number of vectors '%s' (0..%d)",
				    optarg, IVS_MAX_VECTORS);
				goto bad;
			}
			srv.n_vectors = v;
			break;
		case 'P':
			if (parse_uint(optarg, IVS_NR_IDS, &v) < 0 || !v) {
				err("invalid peer limit '%s' (1..%d)", optarg,
				    IVS_NR_IDS);
				goto bad;
			}
			srv.max_peers = v;
			break;
		case 'T':
			if (parse_uint(optarg, 3600000, &v) < 0 || !v) {
				err("invalid timeout '%s' (1..3600000 ms)",
				    optarg);
				goto bad;
			}
			srv.timeout_ms = v;
			break;
		default:
			err("unknown option or missing argument: -%c", optopt);
			goto bad;
		}
	}
	if (optind < argc) {
		err("unexpected argument '%s'", argv[optind]);
		goto bad;
	}
	srv.queue_max = 3 + srv.n_vectors * (srv.max_peers + 1) +
			IVS_QUEUE_SLACK;
	if (srv.verbose && !srv.foreground) {
		err("cannot use verbose in daemon mode (add -F)");
		goto bad;
	}
	if (!srv.sock_path[0] ||
	    strlen(srv.sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		err("socket path '%s' is empty or too long (max %zu bytes)",
		    srv.sock_path,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		goto bad;
	}
	if (srv.use_shm_open &&
	    (!srv.shm_path[0] || strchr(srv.shm_path + 1, '/') ||
	     strlen(srv.shm_path) > NAME_MAX)) {
		err("invalid shared memory object name '%s'", srv.shm_path);
		goto bad;
	}
	return;
bad:
	fprintf(stderr, "Try '" PROG " -h' for more information.\n");
	exit(1);
}

/* ---- refcounted fds ---- */

static struct ivs_file *file_new(int fd)
{
	struct ivs_file *f = malloc(sizeof(*f));

	if (!f)
		return NULL;
	f->fd = fd;
	f->refs = 1;
	return f;
}

static void file_put(struct ivs_file *f)
{
	if (f && --f->refs == 0) {
		close(f->fd);
		free(f);
	}
}

/* ---- per-client output queue ---- */

static struct ivs_msg *qat(struct ivs_peer *p, unsigned int i)
{
	return &p->q[(p->qhead + i) % p->qcap];
}

static int q_push(struct ivs_peer *p, enum ivs_kind kind, int64_t val,
		  struct ivs_file *f)
{
	unsigned int i;

	if (p->qlen == p->qcap) {
		unsigned int cap = p->qcap ? p->qcap * 2 : 16;
		struct ivs_msg *q;

		if (p->qlen >= srv.queue_max) {
			vlog("peer %" PRId64 ": %u messages pending: dropped",
			     p->id, p->qlen);
			return -1;
		}
		q = malloc(cap * sizeof(*q));
		if (!q)
			return -1;
		for (i = 0; i < p->qlen; i++)
			q[i] = *qat(p, i);
		free(p->q);
		p->q = q;
		p->qcap = cap;
		p->qhead = 0;
	}
	*qat(p, p->qlen) = (struct ivs_msg){ .val = val, .kind = kind,
					     .file = f };
	if (f)
		f->refs++;
	p->qlen++;
	return 0;
}

static void q_pop(struct ivs_peer *p)
{
	file_put(p->q[p->qhead].file);
	p->qhead = (p->qhead + 1) % p->qcap;
	p->qlen--;
	p->qoff = 0;
}

static ssize_t send_one(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Send what the socket takes now; -1 if the client must go. */
static int peer_flush(struct ivs_peer *p)
{
	p->retry = false;
	while (p->qlen) {
		struct ivs_msg *m = qat(p, 0);
		uint64_t le = htole64((uint64_t)m->val);
		int fd = !p->qoff && m->file ? m->file->fd : -1;
		ssize_t n;

		n = send_one(p->sock, (char *)&le + p->qoff,
			     sizeof(le) - p->qoff, fd);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			/* fds in flight or memory: a limit, not this client */
			if (errno == ETOOMANYREFS || errno == ENOBUFS ||
			    errno == ENOMEM) {
				p->retry = true;
				return 0;
			}
			vlog("peer %" PRId64 ": send failed: %s", p->id,
			     strerror(errno));
			return -1;
		}
		p->progress_ms = now_ms();
		p->qoff += n;
		if (p->qoff == sizeof(le))
			q_pop(p);
	}
	return 0;
}

/*
 * Tell @p that peer @id left. If none of the departed peer's eventfds has
 * reached @p yet (all still queued after its last leave), drop them from
 * the queue and say nothing: @p never knew the peer, and the queue does not
 * hold fds of peers that are gone.
 */
static int peer_tell_leave(struct ivs_peer *p, int64_t id)
{
	unsigned int i, n = 0, from = 0, w;

	for (i = p->qlen; i-- > 0;) {
		struct ivs_msg *m = qat(p, i);

		if (m->val != id)
			continue;
		if (m->kind != MSG_FD) {
			from = i + 1;
			break;
		}
		n++;
	}
	if (!srv.n_vectors || n != srv.n_vectors ||
	    (from == 0 && p->qoff && qat(p, 0)->kind == MSG_FD &&
	     qat(p, 0)->val == id))
		return q_push(p, MSG_LEAVE, id, NULL);

	for (i = 0, w = 0; i < p->qlen; i++) {
		struct ivs_msg m = *qat(p, i);

		if (i >= from && m.kind == MSG_FD && m.val == id) {
			file_put(m.file);
			continue;
		}
		*qat(p, w++) = m;
	}
	p->qlen = w;
	return 0;
}

/* ---- supervision of the NTB region (--ntb) ---- */

/* The region in our shared memory, if it is a valid ivshmem-ntb one now. */
static bool sup_region(struct ivntb_region *r)
{
	return srv.map && !ivntb_region_validate(r, srv.map, srv.shm_size);
}

/* A peer joined: the region is initialised by now, announce ourselves. */
static void sup_join(void)
{
	struct ivntb_region r;

	if (!srv.ntb || !sup_region(&r) || ivntb_sup_present(&r))
		return;
	ivntb_sup_set(&r, true);
	vlog("supervising the ivshmem-ntb region (%u ports)", r.geom.nr_ports);
}

/*
 * A peer's connection closed: mark the port it owned gone (the counters
 * of the others move), then ring every other peer's vector 0, so that
 * an owner asleep until rung looks at once.
 */
static void sup_leave(struct ivs_peer *dead)
{
	static const uint64_t one = 1;
	struct ivntb_region r;
	struct timespec ts;
	unsigned int i;
	int n;

	if (!srv.ntb || !sup_region(&r))
		return;
	n = ivntb_sup_mark_gone(&r, (uint32_t)dead->id + 1);
	if (!n)
		return;
	for (i = 0; i < srv.npeers; i++) {
		struct ivs_peer *o = srv.peers[i];

		if (o != dead && srv.n_vectors && o->vec[0] &&
		    write(o->vec[0]->fd, &one, sizeof(one)) != sizeof(one))
			vlog("cannot ring peer %" PRId64 ": %s", o->id,
			     strerror(errno));
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	vlog("peer %" PRId64 ": its port marked gone, %u peers rung (at %lld%09ld)",
	     dead->id, srv.npeers, (long long)ts.tv_sec, ts.tv_nsec);
}

static void sup_close(void)
{
	struct ivntb_region r;

	if (srv.ntb && sup_region(&r))
		ivntb_sup_set(&r, false);
	if (srv.map)
		munmap(srv.map, srv.shm_size);
	srv.map = NULL;
}

/* ---- peers ---- */

static void peer_free(struct ivs_peer *p)
{
	unsigned int i;

	if (p->sock >= 0)
		close(p->sock);
	for (i = 0; i < srv.n_vectors; i++)
		file_put(p->vec[i]);
	while (p->qlen)
		q_pop(p);
	free(p->q);
	free(p);
}

static void peer_remove(struct ivs_peer *p)
{
	unsigned int i;

	for (i = 0; i < srv.npeers; i++)
		if (srv.peers[i] == p)
			break;
	memmove(&srv.peers[i], &srv.peers[i + 1],
		(srv.npeers - i - 1) * sizeof(*srv.peers));
	srv.npeers--;
	srv.id_used[p->id / 8] &= ~(1u << (p->id % 8));
	close(p->sock);
	p->sock = -1;
	sup_leave(p);

	if (p->announced && IVS_MUTANT != 1) {
		for (i = 0; i < srv.npeers; i++) {
			struct ivs_peer *o = srv.peers[i];

			if (o->dead)
				continue;
			if (peer_tell_leave(o, p->id) < 0 || peer_flush(o) < 0)
				o->dead = true;
		}
	}
	vlog("peer %" PRId64 " left (%u peers)", p->id, srv.npeers);
	peer_free(p);
}

static void reap_dead(void)
{
	unsigned int i;
	bool again = true;

	while (again) {
		again = false;
		for (i = 0; i < srv.npeers; i++) {
			if (srv.peers[i]->dead) {
				peer_remove(srv.peers[i]);
				again = true;
				break;
			}
		}
	}
}

static void peer_new(int sock)
{
	struct ivs_peer *p;
	unsigned int i, j;
	int64_t id;

	if (srv.npeers >= srv.max_peers) {
		vlog("connection refused: %u peers already (limit %u)",
		     srv.npeers, srv.max_peers);
		close(sock);
		return;
	}
	/*
	 * Round robin, as QEMU's own server: a departed peer's id is not
	 * given again until the 16-bit space wraps. QEMU (10.0 and older)
	 * frees a departed peer's eventfd array in close_peer_eventfds()
	 * without forgetting the pointer; a new peer on the same id then
	 * writes into freed memory, and its own departure frees it again:
	 * every other QEMU aborts ("double free or corruption").
	 */
	for (i = 0; i < IVS_NR_IDS; i++) {
		id = (srv.next_id + i) % IVS_NR_IDS;
		if (!(srv.id_used[id / 8] & (1u << (id % 8))))
			break;
	}
	srv.next_id = (id + 1) % IVS_NR_IDS;

	p = calloc(1, sizeof(*p));
	if (!p) {
		vlog("connection refused: out of memory");
		close(sock);
		return;
	}
	p->sock = sock;
	p->id = id;
	p->progress_ms = now_ms();
	for (i = 0; i < srv.n_vectors; i++) {
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (efd < 0) {
			vlog("connection refused: cannot create eventfd: %s",
			     strerror(errno));
			goto fail;
		}
		p->vec[i] = file_new(efd);
		if (!p->vec[i]) {
			close(efd);
			vlog("connection refused: out of memory");
			goto fail;
		}
	}

	if (q_push(p, MSG_VERSION, IVS_PROTOCOL_VERSION, NULL) < 0 ||
	    q_push(p, MSG_ID, id, NULL) < 0 ||
	    q_push(p, MSG_SHM, -1, srv.shm) < 0)
		goto fail;
	for (j = 0; j < srv.npeers; j++) {
		struct ivs_peer *o = srv.peers[j];

		for (i = 0; i < srv.n_vectors; i++)
			if (q_push(p, MSG_FD, o->id, o->vec[i]) < 0)
				goto fail;
	}
	for (i = 0; i < srv.n_vectors; i++)
		if (q_push(p, MSG_FD, id, p->vec[i]) < 0)
			goto fail;
	if (peer_flush(p) < 0) {
		/* gone before anyone was told about it */
		vlog("peer %" PRId64 " went away during the handshake", id);
		goto fail;
	}

	for (j = 0; j < srv.npeers; j++) {
		struct ivs_peer *o = srv.peers[j];

		if (o->dead)
			continue;
		for (i = 0; i < srv.n_vectors; i++) {
			unsigned int v = IVS_MUTANT == 2 ?
					 srv.n_vectors - 1 - i : i;

			if (q_push(o, MSG_FD, id, p->vec[v]) < 0)
				o->dead = true;
		}
		if (!o->dead && peer_flush(o) < 0)
			o->dead = true;
	}
	p->announced = true;
	srv.peers[srv.npeers++] = p;
	srv.id_used[id / 8] |= 1u << (id % 8);
	vlog("peer %" PRId64 " joined (%u peers)", id, srv.npeers);
	sup_join();
	return;
fail:
	peer_free(p);
}

/* Read from a client: anything at all (data, EOF, error) ends it. */
static void peer_readable(struct ivs_peer *p)
{
	char buf[64];
	ssize_t n;

	n = recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n > 0)
		vlog("peer %" PRId64 " sent %zd unexpected bytes: dropped",
		     p->id, n);
	p->dead = true;
}

static void accept_clients(void)
{
	int i, fd;

	for (i = 0; i < IVS_ACCEPT_BURST; i++) {
		fd = accept4(srv.listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			peer_new(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EMFILE || errno == ENFILE) {
			/* out of fds: use the reserve to turn the client away */
			vlog("connection refused: %s", strerror(errno));
			if (srv.reserve_fd >= 0) {
				close(srv.reserve_fd);
				fd = accept(srv.listen_fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				srv.reserve_fd = open("/dev/null",
						      O_RDONLY | O_CLOEXEC);
			}
			if (srv.reserve_fd < 0)
				srv.accept_backoff_until = now_ms() + 100;
			return;
		}
		vlog("accept: %s", strerror(errno));
		srv.accept_backoff_until = now_ms() + 100;
		return;
	}
}

/* ---- setup and teardown ---- */

/* Refuse a socket path in use; remove a stale socket nobody listens on. */
static int sock_check(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		err("cannot stat socket path %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		err("%s exists and is not a socket; not touching it", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err("socket: %s", strerror(errno));
		return -1;
	}
	strcpy(sun.sun_path, path);
	ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		err("socket %s is in use by a running server", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		err("cannot probe socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		err("cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	vlog("removed stale socket %s", path);
	return 0;
}

static int shm_create(void)
{
	struct stat st;
	int fd;

	if (srv.use_shm_open) {
		fd = shm_open(srv.shm_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			      0600);
		if (fd < 0) {
			if (errno == EEXIST)
				err("shared memory object %s exists (another server, or a leftover: remove /dev/shm/%s)",
				    srv.shm_path,
				    srv.shm_path + (srv.shm_path[0] == '/'));
			else
				err("cannot create shared memory object %s: %s",
				    srv.shm_path, strerror(errno));
			return -1;
		}
	} else {
		if (snprintf(srv.shm_file, sizeof(srv.shm_file),
			     "%s/ivshmem.XXXXXX", srv.shm_path) >=
		    (int)sizeof(srv.shm_file)) {
			err("shared memory directory name too long");
			return -1;
		}
		fd = mkostemp(srv.shm_file, O_CLOEXEC);
		if (fd < 0) {
			err("cannot create a file in %s: %s", srv.shm_path,
			    strerror(errno));
			return -1;
		}
	}
	srv.shm_created = true;
	if (fstat(fd, &st) == 0) {
		srv.shm_dev = st.st_dev;
		srv.shm_ino = st.st_ino;
	}
	srv.shm = file_new(fd);
	if (!srv.shm) {
		close(fd);
		err("out of memory");
		return -1;
	}
	if (ftruncate(fd, (off_t)srv.shm_size) < 0) {
		err("cannot size shared memory %s to %" PRIu64 " bytes: %s",
		    srv.use_shm_open ? srv.shm_path : srv.shm_file,
		    srv.shm_size, strerror(errno));
		return -1;
	}
	if (srv.ntb) {
		srv.map = mmap(NULL, srv.shm_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);
		if (srv.map == MAP_FAILED) {
			srv.map = NULL;
			err("--ntb: cannot map the shared memory: %s",
			    strerror(errno));
			return -1;
		}
	}
	vlog("shared memory: %s %s, %" PRIu64 " bytes",
	     srv.use_shm_open ? "POSIX object" : "file",
	     srv.use_shm_open ? srv.shm_path : srv.shm_file, srv.shm_size);
	return 0;
}

static int sock_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err("socket: %s", strerror(errno));
		return -1;
	}
	srv.listen_fd = fd;
	strcpy(sun.sun_path, srv.sock_path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err("cannot bind socket %s: %s", srv.sock_path,
		    strerror(errno));
		return -1;
	}
	srv.sock_created = true;
	if (stat(srv.sock_path, &st) == 0) {
		srv.sock_dev = st.st_dev;
		srv.sock_ino = st.st_ino;
	}
	if (listen(fd, IVS_BACKLOG) < 0) {
		err("listen on %s: %s", srv.sock_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int pidfile_write(void)
{
	struct stat st;
	char buf[32];
	int fd, len;

	fd = open(srv.pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err("cannot write pid file %s: %s", srv.pid_file,
		    strerror(errno));
		return -1;
	}
	srv.pid_created = true;
	if (fstat(fd, &st) == 0) {
		srv.pid_dev = st.st_dev;
		srv.pid_ino = st.st_ino;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, len) != len) {
		err("cannot write pid file %s: %s", srv.pid_file,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Unlink @path only if it is still the file we created. */
static void unlink_ours(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}

static void server_close(void)
{
	sup_close();
	while (srv.npeers)
		peer_free(srv.peers[--srv.npeers]);
	free(srv.peers);
	srv.peers = NULL;
	if (srv.listen_fd >= 0)
		close(srv.listen_fd);
	if (srv.sock_created)
		unlink_ours(srv.sock_path, srv.sock_dev, srv.sock_ino);
	if (srv.pid_created)
		unlink_ours(srv.pid_file, srv.pid_dev, srv.pid_ino);
	if (srv.shm_created && !srv.keep) {
		if (srv.use_shm_open)
			shm_unlink(srv.shm_path);
		else
			unlink_ours(srv.shm_file, srv.shm_dev, srv.shm_ino);
	}
	file_put(srv.shm);
	if (srv.sig_fd >= 0)
		close(srv.sig_fd);
	if (srv.reserve_fd >= 0)
		close(srv.reserve_fd);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Fork; the parent exits 0 once the child is ready, 1 if it died first. */
static int daemonize(int *ready_fd)
{
	int pfd[2], fd;
	pid_t pid;
	char c;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		ssize_t n;

		close(pfd[1]);
		do
			n = read(pfd[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(pfd[0]);
	setsid();
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	*ready_fd = pfd[1];
	return 0;
}

static void ready(int ready_fd)
{
	int fd;

	if (ready_fd < 0)
		return;
	/* errors until now went to the caller's stderr; now detach fully */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (write(ready_fd, "R", 1) != 1)
		err("cannot signal readiness");
	close(ready_fd);
}

/* ---- main loop ---- */

static void handle_signals(void)
{
	struct signalfd_siginfo si;

	while (read(srv.sig_fd, &si, sizeof(si)) == sizeof(si)) {
		vlog("signal %u: exiting", si.ssi_signo);
		srv.quit = true;
	}
}

static int run(void)
{
	struct pollfd *pfd;
	unsigned int i, n;

	pfd = calloc(srv.max_peers + 2, sizeof(*pfd));
	if (!pfd) {
		err("out of memory");
		return -1;
	}
	while (!srv.quit) {
		int64_t now, timeout = -1, t;
		int ret;

		reap_dead();
		now = now_ms();
		pfd[0] = (struct pollfd){ .fd = srv.sig_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = srv.listen_fd, .events = POLLIN };
		if (srv.accept_backoff_until > now) {
			pfd[1].fd = -1;
			timeout = srv.accept_backoff_until - now;
		}
		n = srv.npeers;
		for (i = 0; i < n; i++) {
			struct ivs_peer *p = srv.peers[i];

			pfd[i + 2] = (struct pollfd){ .fd = p->sock,
						      .events = POLLIN };
			if (!p->qlen)
				continue;
			if (!p->retry)
				pfd[i + 2].events |= POLLOUT;
			t = p->progress_ms + srv.timeout_ms - now;
			if (p->retry && t > IVS_RETRY_MS)
				t = IVS_RETRY_MS;
			if (t < 0)
				t = 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}

		ret = poll(pfd, n + 2, timeout > INT_MAX ? INT_MAX : (int)timeout);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			err("poll: %s", strerror(errno));
			free(pfd);
			return -1;
		}
		if (pfd[0].revents)
			handle_signals();

		now = now_ms();
		for (i = 0; i < n; i++) {
			struct ivs_peer *p = srv.peers[i];
			short re = pfd[i + 2].revents;

			if (p->dead)
				continue;
			if (re & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
				peer_readable(p);
			if (!p->dead && p->qlen &&
			    (re & POLLOUT || p->retry) && peer_flush(p) < 0)
				p->dead = true;
			if (!p->dead && p->qlen && IVS_MUTANT != 3 &&
			    now - p->progress_ms >= srv.timeout_ms) {
				vlog("peer %" PRId64 " read nothing for %u ms (%u messages pending): dropped",
				     p->id, srv.timeout_ms, p->qlen);
				p->dead = true;
			}
		}
		if (pfd[1].fd >= 0 && pfd[1].revents & POLLIN)
			accept_clients();
	}
	free(pfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	int ready_fd = -1, ret = 1;
	sigset_t mask;

	setvbuf(stdout, NULL, _IOLBF, 0);
	srv.listen_fd = -1;
	srv.sig_fd = -1;
	srv.reserve_fd = -1;
	parse_args(argc, argv);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	srv.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv.sig_fd < 0) {
		err("signalfd: %s", strerror(errno));
		goto out;
	}
	raise_nofile();
	srv.peers = calloc(srv.max_peers, sizeof(*srv.peers));
	if (!srv.peers) {
		err("out of memory");
		goto out;
	}

	if (sock_check(srv.sock_path) < 0 || shm_create() < 0 ||
	    sock_listen() < 0)
		goto out;
	srv.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (!srv.foreground && daemonize(&ready_fd) < 0)
		goto out;
	if (srv.pid_file && pidfile_write() < 0)
		goto out;
	vlog("listening on %s: %u vectors per peer, at most %u peers, pid %d",
	     srv.sock_path, srv.n_vectors, srv.max_peers, (int)getpid());
	ready(ready_fd);
	ready_fd = -1;

	if (run() == 0)
		ret = 0;
out:
	if (ready_fd >= 0)
		close(ready_fd);
	server_close();
	return ret;
}
