// SPDX-License-Identifier: GPL-2.0
/*
 * Test client for ivntb-ivshmem-server: speaks the ivshmem server protocol
 * (QEMU docs/specs/ivshmem-spec.rst) and asserts on every message.
 *
 *   client proto SOCK SERVER_PID NVEC SIZE MAXPEERS
 *                     protocol, sharing, joins/leaves, clients dying,
 *                     clients not reading, churn with fd counts, peer limit
 *   client basic SOCK NVEC SIZE       handshake + shm sharing (NVEC may be 0)
 *   client fdlimit SOCK SERVER_PID NVEC
 *                     against a server started with a low fd limit
 *   client qemu SOCK NVEC NPEERS SIZE TIMEOUT_S
 *                     join a server where NPEERS QEMUs are; check their
 *                     eventfds, then wait until all of them left
 *   client watch SOCK NVEC SIZE TIMEOUT_S
 *                     join, print "# id N", then for TIMEOUT_S log every
 *                     ring of its own vectors ("# rang vector V value X"),
 *                     join ("# joined N") and leave ("# left N"); for
 *                     the --ntb tests, which read the region themselves
 *   client stale PATH                 leave a socket file nobody listens on
 *   client fakeserver PATH VERSION    serve one client a bad handshake
 *
 * Prints "ok N - what" / "not ok N - what: why" and, last,
 * "# client: P passed, F failed"; exits 1 if anything failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define MAXV	64
#define MAXP	128

static int npass, nfail;
static char why[512];

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -1;
}

static bool failfast;	/* CLIENT_FAILFAST=1: stop at the first failure */

static void report(const char *name, int rc)
{
	if (rc == 0) {
		npass++;
		printf("ok %d - %s\n", npass + nfail, name);
	} else {
		nfail++;
		printf("not ok %d - %s: %s\n", npass + nfail, name, why);
		if (failfast) {
			printf("# client: %d passed, %d failed\n", npass,
			       nfail);
			exit(1);
		}
	}
	why[0] = 0;
	fflush(stdout);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- a protocol client ---- */

struct rpeer {
	int64_t id;
	int fd[MAXV];
	unsigned int n;
};

struct conn {
	int sock;
	int64_t id;
	int shm_fd;
	volatile uint8_t *map;
	size_t size;
	unsigned int nvec;
	struct rpeer self;
	struct rpeer peer[MAXP];	/* others, in the order they came */
	unsigned int npeer;
	unsigned int joins, leaves;	/* seen after the handshake */
};

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return failf("socket: %s", strerror(errno));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return failf("connect %s: %s", path, strerror(errno));
	}
	return fd;
}

/*
 * One message: 1 got it, 0 timeout (nothing read), -1 EOF, -2 error.
 * *fd is -1 or the one fd that came with the message's first byte.
 */
static int recv_msg(int sock, int64_t *val, int *fd, int ms)
{
	uint8_t buf[8];
	size_t got = 0;
	bool extra = false;
	uint64_t le;

	*fd = -1;
	while (got < sizeof(buf)) {
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} ctl;
		struct iovec iov = { buf + got, sizeof(buf) - got };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		struct pollfd p = { sock, POLLIN, 0 };
		struct cmsghdr *cm;
		ssize_t n;
		int r;

		r = poll(&p, 1, got ? 2000 : ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (!got)
				return 0;
			failf("timeout in the middle of a message");
			return -2;
		}
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			failf("recvmsg: %s", strerror(errno));
			return -2;
		}
		if (n == 0) {
			failf("EOF%s", got ? " in the middle of a message" : "");
			return -1;
		}
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			unsigned int i, k;

			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
				if (*fd < 0 && !got) {
					*fd = f;
				} else {
					close(f);
					extra = true;
				}
			}
		}
		if (m.msg_flags & MSG_CTRUNC)
			extra = true;
		got += n;
	}
	if (extra) {
		failf("more than one fd, or an fd after the first byte");
		return -2;
	}
	memcpy(&le, buf, sizeof(le));
	*val = (int64_t)le64toh(le);
	return 1;
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = 0;
	return !strcmp(link, "anon_inode:[eventfd]");
}

static void close_rpeer(struct rpeer *r)
{
	unsigned int i;

	for (i = 0; i < r->n; i++)
		close(r->fd[i]);
	r->n = 0;
}

static void conn_close(struct conn *c)
{
	unsigned int i;

	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	if (c->map)
		munmap((void *)c->map, c->size);
	c->map = NULL;
	if (c->shm_fd >= 0)
		close(c->shm_fd);
	c->shm_fd = -1;
	close_rpeer(&c->self);
	for (i = 0; i < c->npeer; i++)
		close_rpeer(&c->peer[i]);
	c->npeer = 0;
}

static struct rpeer *find_peer(struct conn *c, int64_t id)
{
	unsigned int i;

	for (i = 0; i < c->npeer; i++)
		if (c->peer[i].id == id)
			return &c->peer[i];
	return NULL;
}

static void drop_peer(struct conn *c, struct rpeer *r)
{
	close_rpeer(r);
	memmove(r, r + 1, (char *)&c->peer[c->npeer] - (char *)(r + 1));
	c->npeer--;
}

static bool ids_equal(struct conn *c, const int64_t *ids, unsigned int n)
{
	unsigned int i;

	if (c->npeer != n)
		return false;
	for (i = 0; i < n; i++)
		if (c->peer[i].id != ids[i])
			return false;
	return true;
}

static void fmt_ids(struct conn *c, char *buf, size_t len)
{
	unsigned int i;
	int off = 0;

	buf[0] = 0;
	for (i = 0; i < c->npeer && off < (int)len; i++)
		off += snprintf(buf + off, len - off, "%s%" PRId64 "/%u",
				i ? " " : "", c->peer[i].id, c->peer[i].n);
}

/*
 * The whole initial handshake: version 0, own id, shm fd of @size, then
 * nvec eventfds per other peer (grouped, in vector order), then our own
 * nvec. If @expect is not NULL, the other peers must be exactly those ids,
 * in that order.
 */
static int handshake(struct conn *c, const char *path, unsigned int nvec,
		     size_t size, const int64_t *expect, unsigned int nexpect)
{
	struct stat st;
	int64_t v;
	int fd, r;

	memset(c, 0, sizeof(*c));
	c->shm_fd = -1;
	c->nvec = nvec;
	c->size = size;
	c->sock = connect_to(path);
	if (c->sock < 0)
		return -1;

	r = recv_msg(c->sock, &v, &fd, 3000);
	if (r <= 0)
		return r == 0 ? failf("no version message") : -1;
	if (v != 0 || fd >= 0) {
		if (fd >= 0)
			close(fd);
		return failf("version message: %" PRId64 " fd %d, want 0 and no fd",
			     v, fd);
	}
	r = recv_msg(c->sock, &v, &fd, 3000);
	if (r <= 0)
		return r == 0 ? failf("no id message") : -1;
	if (v < 0 || v > 65535 || fd >= 0) {
		if (fd >= 0)
			close(fd);
		return failf("id message: %" PRId64 " fd %d", v, fd);
	}
	c->id = v;
	c->self.id = v;
	r = recv_msg(c->sock, &v, &fd, 3000);
	if (r <= 0)
		return r == 0 ? failf("no shm message") : -1;
	if (v != -1 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return failf("shm message: %" PRId64 " fd %d, want -1 with an fd",
			     v, fd);
	}
	c->shm_fd = fd;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != size)
		return failf("shm size %lld, want %zu", (long long)st.st_size,
			     size);
	c->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		return failf("mmap shm: %s", strerror(errno));
	}

	while (c->self.n < nvec) {
		struct rpeer *p;

		r = recv_msg(c->sock, &v, &fd, 3000);
		if (r <= 0)
			return r == 0 ? failf("handshake stopped after own %u of %u eventfds",
					      c->self.n, nvec) : -1;
		if (fd < 0)
			return failf("message %" PRId64 " without fd during the handshake",
				     v);
		if (!is_eventfd(fd)) {
			close(fd);
			return failf("fd for %" PRId64 " is not an eventfd", v);
		}
		if (v < 0 || v > 65535) {
			close(fd);
			return failf("eventfd with bad id %" PRId64, v);
		}
		if (v == c->id) {
			c->self.fd[c->self.n++] = fd;
			continue;
		}
		if (c->self.n) {
			close(fd);
			return failf("peer %" PRId64 "'s eventfd after our own",
				     v);
		}
		p = find_peer(c, v);
		if (!p) {
			if (c->npeer && c->peer[c->npeer - 1].n != nvec) {
				close(fd);
				return failf("peer %" PRId64 " interleaved with an incomplete one",
					     v);
			}
			if (c->npeer == MAXP) {
				close(fd);
				return failf("too many peers");
			}
			p = &c->peer[c->npeer++];
			p->id = v;
			p->n = 0;
		}
		if (p != &c->peer[c->npeer - 1] || p->n == nvec) {
			close(fd);
			return failf("peer %" PRId64 ": eventfds not grouped or more than %u",
				     v, nvec);
		}
		p->fd[p->n++] = fd;
	}
	if (c->npeer && c->peer[c->npeer - 1].n != nvec)
		return failf("last other peer incomplete");
	if (expect && !ids_equal(c, expect, nexpect)) {
		char buf[256];

		fmt_ids(c, buf, sizeof(buf));
		return failf("other peers [%s], expected %u of them", buf,
			     nexpect);
	}
	return 0;
}

/* Read one event (a complete join or a leave); 0 timeout, -1 error. */
static int next_event(struct conn *c, int ms, int64_t *id, bool *join)
{
	struct rpeer *p = NULL;
	int64_t v;
	int fd, r;

	for (;;) {
		r = recv_msg(c->sock, &v, &fd, p ? 2000 : ms);
		if (r == 0 && !p)
			return 0;
		if (r <= 0)
			return r == 0 ? failf("join of %" PRId64 " stopped after %u eventfds",
					      p->id, p->n) : -1;
		if (v == c->id || v < 0 || v > 65535) {
			if (fd >= 0)
				close(fd);
			return failf("unexpected message %" PRId64 " (fd %d)",
				     v, fd);
		}
		if (fd < 0) {
			struct rpeer *q = find_peer(c, v);

			if (p)
				return failf("leave of %" PRId64 " inside the join of %" PRId64,
					     v, p->id);
			if (!q && c->nvec)
				return failf("leave of unknown peer %" PRId64,
					     v);
			if (q && q->n != c->nvec)
				return failf("leave of incomplete peer %" PRId64,
					     v);
			if (q)
				drop_peer(c, q);
			c->leaves++;
			*id = v;
			*join = false;
			return 1;
		}
		if (!is_eventfd(fd)) {
			close(fd);
			return failf("fd for %" PRId64 " is not an eventfd", v);
		}
		if (!p) {
			if (find_peer(c, v)) {
				close(fd);
				return failf("second join of %" PRId64
					     " without a leave", v);
			}
			if (c->npeer == MAXP) {
				close(fd);
				return failf("too many peers");
			}
			p = &c->peer[c->npeer++];
			p->id = v;
			p->n = 0;
		} else if (v != p->id) {
			close(fd);
			return failf("join of %" PRId64 " interleaved with %" PRId64,
				     v, p->id);
		}
		p->fd[p->n++] = fd;
		if (p->n == c->nvec) {
			c->joins++;
			*id = v;
			*join = true;
			return 1;
		}
	}
}

static int expect_join(struct conn *c, int64_t want, int ms)
{
	int64_t id;
	bool join;
	int r = next_event(c, ms, &id, &join);

	if (r == 0)
		return failf("client %" PRId64 ": no join of %" PRId64
			     " within %d ms", c->id, want, ms);
	if (r < 0)
		return -1;
	if (!join || (want >= 0 && id != want))
		return failf("client %" PRId64 ": got %s of %" PRId64
			     ", want join of %" PRId64, c->id,
			     join ? "join" : "leave", id, want);
	return 0;
}

/* Consume events (joins, other leaves) until the leave of @want. */
static int wait_leave(struct conn *c, int64_t want, int ms)
{
	int64_t end = now_ms() + ms, id;
	bool join;
	int r;

	do {
		r = next_event(c, end - now_ms() > 0 ? end - now_ms() : 0,
			       &id, &join);
		if (r < 0)
			return -1;
		if (r > 0 && !join && id == want)
			return 0;
	} while (now_ms() < end);
	return failf("client %" PRId64 ": no leave of %" PRId64
		     " within %d ms", c->id, want, ms);
}

static int expect_leave(struct conn *c, int64_t want, int ms)
{
	int64_t id;
	bool join;
	int r = next_event(c, ms, &id, &join);

	if (r == 0)
		return failf("client %" PRId64 ": no leave of %" PRId64
			     " within %d ms", c->id, want, ms);
	if (r < 0)
		return -1;
	if (join || id != want)
		return failf("client %" PRId64 ": got %s of %" PRId64
			     ", want leave of %" PRId64, c->id,
			     join ? "join" : "leave", id, want);
	return 0;
}

/*
 * Consume events until @quiet_ms pass without one (at most @max_ms), then
 * the peers this client knows must be exactly @ids.
 */
static int settle(struct conn *c, const int64_t *ids, unsigned int n,
		  int quiet_ms, int max_ms)
{
	int64_t end = now_ms() + max_ms, id;
	bool join;
	char buf[256];
	int r;

	while (now_ms() < end) {
		r = next_event(c, quiet_ms, &id, &join);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
	}
	if (!ids_equal(c, ids, n)) {
		fmt_ids(c, buf, sizeof(buf));
		return failf("client %" PRId64 " knows peers [%s], expected %u",
			     c->id, buf, n);
	}
	return 0;
}

static bool readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN) ? 0 : -1;
}

/* Ring each of @a's vectors; @b must see exactly that one through @a's fd. */
static int ring_check(struct conn *a, struct conn *b)
{
	struct rpeer *pa = find_peer(b, a->id);
	struct stat s1, s2;
	unsigned int v, w;
	uint64_t val;

	if (!pa)
		return failf("client %" PRId64 " does not know %" PRId64,
			     b->id, a->id);
	for (v = 0; v < a->nvec; v++) {
		if (fstat(a->self.fd[v], &s1) || fstat(pa->fd[v], &s2) ||
		    s1.st_ino != s2.st_ino)
			return failf("vector %u: not the same eventfd", v);
		val = 100 + v;
		if (write(a->self.fd[v], &val, 8) != 8)
			return failf("write eventfd: %s", strerror(errno));
		if (wait_readable(pa->fd[v], 1000) < 0)
			return failf("vector %u: %" PRId64 " rang, %" PRId64
				     " saw nothing", v, a->id, b->id);
		for (w = 0; w < a->nvec; w++)
			if (w != v && readable(pa->fd[w]))
				return failf("ringing vector %u also signals vector %u",
					     v, w);
		for (w = 0; w < b->nvec; w++)
			if (readable(b->self.fd[w]))
				return failf("ringing %" PRId64 " signals %" PRId64
					     "'s own vector %u", a->id,
					     b->id, w);
		if (read(pa->fd[v], &val, 8) != 8 || val != 100 + v)
			return failf("vector %u: read %" PRIu64 ", want %u",
				     v, val, 100 + v);
	}
	return 0;
}

static int shm_check(struct conn *a, struct conn *b)
{
	size_t last = a->size - 8;
	uint64_t x = 0x1122334455667700ULL ^ (uint64_t)now_ms();

	*(volatile uint64_t *)(a->map + 64) = x;
	*(volatile uint64_t *)(a->map + last) = ~x;
	if (*(volatile uint64_t *)(b->map + 64) != x ||
	    *(volatile uint64_t *)(b->map + last) != ~x)
		return failf("write by %" PRId64 " not seen by %" PRId64,
			     a->id, b->id);
	*(volatile uint64_t *)(b->map + 128) = x + 1;
	if (*(volatile uint64_t *)(a->map + 128) != x + 1)
		return failf("write by %" PRId64 " not seen by %" PRId64,
			     b->id, a->id);
	return 0;
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static bool alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

/* Fork a client that joins, reports its id on a pipe and waits. */
static pid_t spawn_joined(const char *path, unsigned int nvec, size_t size,
			  int64_t *id)
{
	int pfd[2];
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct conn c;

		close(pfd[0]);
		if (handshake(&c, path, nvec, size, NULL, 0) == 0 &&
		    write(pfd[1], &c.id, sizeof(c.id)) == sizeof(c.id))
			for (;;)
				pause();
		_exit(1);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], id, sizeof(*id)) != sizeof(*id)) {
		close(pfd[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		failf("forked client did not join");
		return -1;
	}
	close(pfd[0]);
	return pid;
}

/* Fork a client that reads @nmsgs messages, then gets killed -9. */
static int kill_after(const char *path, int nmsgs)
{
	int pfd[2], i, fd;
	pid_t pid;
	char c = 0;

	if (pipe(pfd) < 0)
		return failf("pipe");
	pid = fork();
	if (pid == 0) {
		int s = connect_to(path);
		int64_t v;

		close(pfd[0]);
		for (i = 0; s >= 0 && i < nmsgs; i++)
			if (recv_msg(s, &v, &fd, 2000) != 1)
				break;
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &c, 1) != 1) {
		close(pfd[0]);
		return failf("forked client failed");
	}
	close(pfd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}

/* ---- scenarios ---- */

struct env {
	const char *path;
	pid_t spid;
	unsigned int nvec;
	size_t size;
	unsigned int maxpeers;
};

static struct conn A, B;	/* two clients that stay all along */
static struct conn S;		/* the client that never reads */
static int baseline_fds;

/* Settle A and B: A must know exactly B + @extra, B exactly A + @extra. */
static int settle_ab(const int64_t *extra, unsigned int n, int quiet_ms,
		     int max_ms)
{
	int64_t ia[MAXP], ib[MAXP];
	unsigned int i;

	ia[0] = B.id;
	ib[0] = A.id;
	for (i = 0; i < n; i++)
		ia[i + 1] = ib[i + 1] = extra[i];
	if (settle(&A, ia, n + 1, quiet_ms, max_ms) ||
	    settle(&B, ib, n + 1, quiet_ms, max_ms))
		return -1;
	return 0;
}

static int t_first(struct env *e)
{
	if (handshake(&A, e->path, e->nvec, e->size, NULL, 0) < 0)
		return -1;
	if (A.npeer)
		return failf("first client told of %u other peers", A.npeer);
	if (A.id != 0)
		return failf("first client got id %" PRId64 ", want 0", A.id);
	return 0;
}

static int t_second(struct env *e)
{
	int64_t ids[] = { A.id };

	if (handshake(&B, e->path, e->nvec, e->size, ids, 1) < 0)
		return -1;
	if (B.id != 1)
		return failf("second client got id %" PRId64 ", want 1", B.id);
	return 0;
}

static int t_join_announced(struct env *e)
{
	if (expect_join(&A, B.id, 2000) < 0)
		return -1;
	return settle_ab(NULL, 0, 100, 1000);
}

static int t_shm(struct env *e)
{
	return shm_check(&A, &B);
}

static int t_ring(struct env *e)
{
	return ring_check(&A, &B) || ring_check(&B, &A) ? -1 : 0;
}

static int t_leave_close(struct env *e)
{
	int64_t ids[] = { A.id, B.id };
	struct conn C;
	int64_t id;
	int r;

	r = handshake(&C, e->path, e->nvec, e->size, ids, 2);
	id = C.id;
	conn_close(&C);
	if (r < 0)
		return -1;
	if (expect_join(&A, id, 2000) || expect_join(&B, id, 2000) ||
	    expect_leave(&A, id, 2000) || expect_leave(&B, id, 2000))
		return -1;
	return settle_ab(NULL, 0, 100, 1000);
}

/*
 * Ids go round robin: QEMU frees a departed peer's eventfds without
 * forgetting them, so an id given again makes every QEMU abort the next
 * time it leaves (a double free).
 */
static int t_round_robin_id(struct env *e)
{
	int64_t ids[] = { A.id, B.id, 0 };
	struct conn C, D, E;
	int r;

	/* C and D join; C leaves; E must get the id after D's, not C's */
	r = handshake(&C, e->path, e->nvec, e->size, ids, 2);
	if (!r) {
		ids[2] = C.id;
		r = handshake(&D, e->path, e->nvec, e->size, ids, 3);
		if (r)
			conn_close(&C);
	}
	if (r)
		return -1;
	if (D.id != (C.id + 1) % 65536)
		r = failf("ids %" PRId64 ", %" PRId64 ": not consecutive", C.id,
			  D.id);
	conn_close(&C);
	if (!r && (expect_join(&A, C.id, 2000) || expect_join(&A, D.id, 2000) ||
		   expect_leave(&A, C.id, 2000)))
		r = -1;
	if (!r) {
		ids[2] = D.id;
		r = handshake(&E, e->path, e->nvec, e->size, ids, 3);
		if (!r && E.id != (D.id + 1) % 65536)
			r = failf("after %" PRId64 " left, next id %" PRId64 ", want %" PRId64,
				  C.id, E.id, (D.id + 1) % 65536);
		conn_close(&E);
	}
	conn_close(&D);
	if (settle_ab(NULL, 0, 200, 3000))
		return -1;
	return r;
}

static int t_kill9(struct env *e)
{
	int64_t id;
	pid_t pid;
	int r;

	pid = spawn_joined(e->path, e->nvec, e->size, &id);
	if (pid < 0)
		return -1;
	r = expect_join(&A, id, 2000) || expect_join(&B, id, 2000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (r || expect_leave(&A, id, 2000) || expect_leave(&B, id, 2000))
		return -1;
	return settle_ab(NULL, 0, 100, 1000);
}

/*
 * After misbehaving clients: A and B saw only complete joins each followed
 * by its leave, a newcomer sees exactly A and B, and A and B still ring.
 */
static int others_fine(struct env *e)
{
	int64_t ids[] = { A.id, B.id };
	struct conn N;
	int r;

	if (settle_ab(NULL, 0, 300, 5000))
		return -1;
	r = handshake(&N, e->path, e->nvec, e->size, ids, 2);
	conn_close(&N);
	if (r || settle_ab(NULL, 0, 100, 3000))
		return -1;
	return ring_check(&A, &B);
}

static int t_connect_close(struct env *e)
{
	int i, fd;

	for (i = 0; i < 20; i++) {
		fd = connect_to(e->path);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return others_fine(e);
}

static int t_read_some_close(struct env *e)
{
	int i, k, fd, s;
	int64_t v;

	for (i = 0; i < 12; i++) {
		s = connect_to(e->path);
		if (s < 0)
			return -1;
		for (k = 0; k < 1 + i % 4; k++) {
			if (recv_msg(s, &v, &fd, 2000) != 1)
				break;
			if (fd >= 0)
				close(fd);
		}
		close(s);
	}
	return others_fine(e);
}

static int t_kill_mid(struct env *e)
{
	int i;

	for (i = 0; i < 8; i++)
		if (kill_after(e->path, i % 4) < 0)
			return -1;
	return others_fine(e);
}

static int t_garbage(struct env *e)
{
	int64_t ids[] = { A.id, B.id };
	struct conn G;
	int64_t v;
	int fd, r;

	if (handshake(&G, e->path, e->nvec, e->size, ids, 2) < 0)
		return -1;
	r = expect_join(&A, G.id, 2000) || expect_join(&B, G.id, 2000);
	if (!r && write(G.sock, "GET / HTTP/1.0\r\n\r\n", 18) != 18)
		r = failf("write: %s", strerror(errno));
	if (!r)
		r = expect_leave(&A, G.id, 2000) ||
		    expect_leave(&B, G.id, 2000);
	if (!r) {
		r = recv_msg(G.sock, &v, &fd, 2000);
		r = r == -1 ? 0 :
		    failf("garbage sender's socket not closed by the server (%d)",
			  r);
	}
	conn_close(&G);
	return r ? -1 : others_fine(e);
}

static int t_never_reads(struct env *e)
{
	struct conn H;
	int64_t t0, dt;
	int r;

	S.sock = connect_to(e->path);
	if (S.sock < 0)
		return -1;
	if (expect_join(&A, -1, 2000))
		return -1;
	S.id = A.peer[A.npeer - 1].id;
	if (expect_join(&B, S.id, 2000))
		return -1;
	t0 = now_ms();
	r = handshake(&H, e->path, e->nvec, e->size,
		      (int64_t[]){ A.id, B.id, S.id }, 3);
	dt = now_ms() - t0;
	conn_close(&H);
	if (r)
		return -1;
	if (dt > 500)
		return failf("handshake took %" PRId64 " ms with a stuck client",
			     dt);
	return settle_ab(&S.id, 1, 100, 2000);
}

/*
 * Churn: clients join and leave one after the other while S never reads.
 * A must see every join and leave promptly; S must be dropped once its
 * socket has stayed full for the server's timeout (-T).
 */
static int t_churn(struct env *e, int cycles, int *done)
{
	int64_t worst = 0, t0, id;
	bool s_gone = false, join;
	int i, r;

	int64_t deadline = 0;

	*done = 0;
	for (i = 0; i < cycles || (!s_gone && now_ms() < deadline); i++) {
		bool got_join = false, got_leave = false;
		struct conn X;
		int64_t xid;

		t0 = now_ms();
		r = handshake(&X, e->path, e->nvec, e->size, NULL, 0);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		xid = X.id;
		conn_close(&X);
		*done = i + 1;
		if (r)
			return -1;
		while (!got_join || !got_leave) {
			r = next_event(&A, 1000, &id, &join);
			if (r < 0)
				return -1;
			if (r == 0)
				return failf("cycle %d: A saw no join/leave of %" PRId64
					     " within 1 s", i, xid);
			/*
			 * S's leave may come at any point; but if X reuses
			 * S's id, S left before X joined.
			 */
			if (!join && id == S.id && !s_gone &&
			    (xid != S.id || !got_join)) {
				s_gone = true;
				continue;
			}
			if (id != xid)
				return failf("cycle %d: A saw %s of %" PRId64
					     ", want %" PRId64, i,
					     join ? "join" : "leave", id, xid);
			if (join)
				got_join = true;
			else
				got_leave = true;
		}
		while ((r = next_event(&B, 0, &id, &join)) > 0)
			;
		if (r < 0)
			return -1;
		if (i + 1 == cycles)
			deadline = now_ms() + 4000;
		if (i >= cycles)
			msleep(20);
	}
	if (!s_gone)
		return failf("the client that never reads was not dropped after %d cycles",
			     i);
	if (worst > 1000)
		return failf("a handshake took %" PRId64 " ms during the churn",
			     worst);
	printf("# slowest handshake during the churn: %" PRId64 " ms\n",
	       worst);
	return settle_ab(NULL, 0, 200, 3000);
}

static int t_fds_back(struct env *e)
{
	int n = -1, i;

	conn_close(&S);
	if (settle_ab(NULL, 0, 200, 5000))
		return -1;
	for (i = 0; i < 50; i++) {
		n = count_fds(e->spid);
		if (n == baseline_fds)
			return 0;
		msleep(20);
	}
	return failf("server has %d fds, %d before the churn", n,
		     baseline_fds);
}

static int t_peer_limit(struct env *e)
{
	static struct conn X[MAXP];
	unsigned int i, k = 0;
	struct conn Y;
	int64_t v;
	int fd, s, r = 0;

	if (e->maxpeers > MAXP)
		return failf("MAXPEERS too large for the test");
	for (i = 2; i < e->maxpeers; i++) {
		if (handshake(&X[k], e->path, e->nvec, e->size, NULL, 0)) {
			r = -1;
			goto out;
		}
		k++;
	}
	s = connect_to(e->path);
	if (s < 0) {
		r = -1;
		goto out;
	}
	r = recv_msg(s, &v, &fd, 2000);
	close(s);
	if (r != -1) {
		if (fd >= 0)
			close(fd);
		r = failf("client beyond -P %u got %s", e->maxpeers,
			  r == 1 ? "a message" : "no EOF");
		goto out;
	}
	/* one leaves: the next one is let in, on a fresh id */
	v = X[0].id;
	conn_close(&X[0]);
	r = wait_leave(&A, v, 3000);
	if (!r)
		r = handshake(&Y, e->path, e->nvec, e->size, NULL, 0);
	if (!r && Y.id == v)
		r = failf("after a leave at the limit, id %" PRId64
			  " given again", Y.id);
	conn_close(&Y);
out:
	for (i = 0; i < k; i++)
		conn_close(&X[i]);
	if (settle_ab(NULL, 0, 200, 5000))
		return -1;
	return r;
}

static int t_server_alive(struct env *e)
{
	return alive(e->spid) ? 0 : failf("server %d is gone", (int)e->spid);
}

static int do_proto(int argc, char **argv)
{
	struct env e;
	char name[128];
	int done = 0;

	if (argc != 7)
		return 2;
	e.path = argv[2];
	e.spid = atoi(argv[3]);
	e.nvec = atoi(argv[4]);
	e.size = strtoull(argv[5], NULL, 0);
	e.maxpeers = atoi(argv[6]);
	if (e.nvec < 1 || e.nvec > MAXV || e.maxpeers < 4)
		return 2;
	S.sock = -1;

	report("handshake: version 0, id 0, shm fd of size -l, own eventfds",
	       t_first(&e));
	if (nfail)
		return 1;
	report("second client: id 1, first client's eventfds, then its own",
	       t_second(&e));
	report("join of the second client announced to the first",
	       t_join_announced(&e));
	report("shm: a write through one mapping is read through the other",
	       t_shm(&e));
	report("eventfds shared: each vector rung by its owner reaches the other client, only that vector",
	       t_ring(&e));
	report("leave (id, no fd) announced when a client closes",
	       t_leave_close(&e));
	report("ids: round robin, a departed id not given again", t_round_robin_id(&e));
	report("leave announced when a client is killed -9", t_kill9(&e));
	report("20 clients that connect and close at once disturb nobody",
	       t_connect_close(&e));
	report("12 clients that read part of the handshake and close disturb nobody",
	       t_read_some_close(&e));
	report("8 clients killed -9 mid-handshake disturb nobody",
	       t_kill_mid(&e));
	report("a client sending garbage is dropped, leave announced",
	       t_garbage(&e));
	baseline_fds = count_fds(e.spid);
	report("a client that never reads does not slow others' handshakes",
	       t_never_reads(&e));
	{
		int r = t_churn(&e, 200, &done);

		snprintf(name, sizeof(name),
			 "churn: %d join/leave cycles seen by the others; the non-reader is dropped",
			 done);
		report(name, r);
	}
	report("server fd count back to its value before the churn",
	       t_fds_back(&e));
	snprintf(name, sizeof(name),
		 "peer limit: client %u gets EOF; after a leave one more is let in, on a fresh id",
		 e.maxpeers + 1);
	report(name, t_peer_limit(&e));
	report("shm and eventfds still work after all that", t_ring(&e) ||
	       t_shm(&e) ? -1 : 0);
	report("server still running", t_server_alive(&e));
	conn_close(&A);
	conn_close(&B);
	return 0;
}

static int do_basic(int argc, char **argv)
{
	unsigned int nvec;
	size_t size;
	int r;

	if (argc != 5)
		return 2;
	nvec = atoi(argv[3]);
	size = strtoull(argv[4], NULL, 0);
	r = handshake(&A, argv[2], nvec, size, NULL, 0);
	report("handshake (first client)", r);
	if (r)
		return 1;
	/* with 0 vectors there are no eventfds, so no peer is announced */
	r = handshake(&B, argv[2], nvec, size, (int64_t[]){ A.id },
		      nvec ? 1 : 0);
	report("handshake (second client)", r);
	if (r)
		return 1;
	{
		int64_t v;
		int fd;

		r = recv_msg(B.sock, &v, &fd, 200);
		if (r == 1) {
			if (fd >= 0)
				close(fd);
			r = failf("extra message %" PRId64 " after the handshake",
				  v);
		}
		report("nothing more after the handshake", r ? -1 : 0);
	}
	report("shm shared", shm_check(&A, &B));
	if (nvec) {
		report("join announced", expect_join(&A, B.id, 2000));
		report("eventfds shared", ring_check(&A, &B) ||
		       ring_check(&B, &A) ? -1 : 0);
	}
	conn_close(&A);
	conn_close(&B);
	return 0;
}

static int do_fdlimit(int argc, char **argv)
{
	static struct conn X[MAXP];
	unsigned int nvec, k = 0, i;
	int base, refused = 0, r;
	pid_t spid;
	int64_t v;
	int fd;

	if (argc != 5)
		return 2;
	spid = atoi(argv[3]);
	nvec = atoi(argv[4]);
	base = count_fds(spid);
	r = handshake(&A, argv[2], nvec, 1 << 20, NULL, 0);
	report("first client joins", r);
	if (r)
		return 1;
	/* keep connecting: once the server is out of fds, it turns us away */
	while (k < MAXP && refused < 3) {
		r = handshake(&X[k], argv[2], nvec, 1 << 20, NULL, 0);
		if (r == 0) {
			k++;
			if (expect_join(&A, X[k - 1].id, 2000))
				break;
			continue;
		}
		conn_close(&X[k]);
		refused++;
	}
	printf("# %u clients joined, then %d refused; server has %d fds\n",
	       k + 1, refused, count_fds(spid));
	report("out of fds: further clients are refused, not the server killed",
	       refused == 3 && alive(spid) ? 0 :
	       failf("%d refused, server %s", refused,
		     alive(spid) ? "alive" : "dead"));
	r = recv_msg(A.sock, &v, &fd, 300);
	if (r == 1) {
		if (fd >= 0)
			close(fd);
		r = failf("refused clients were announced (%" PRId64 ")", v);
	}
	report("refused clients were not announced to the others", r ? -1 : 0);
	if (k)
		report("the clients that joined still ring each other",
		       ring_check(&A, &X[k - 1]));
	for (i = 0; i < k; i++) {
		int64_t id = X[i].id;

		conn_close(&X[i]);
		if (expect_leave(&A, id, 2000)) {
			report("leaves announced", -1);
			return 1;
		}
	}
	r = handshake(&X[0], argv[2], nvec, 1 << 20, (int64_t[]){ A.id }, 1);
	conn_close(&X[0]);
	report("after they left, a new client joins again", r);
	conn_close(&A);
	for (i = 0; i < 50 && count_fds(spid) != base; i++)
		msleep(20);
	report("server fds back to where they were",
	       count_fds(spid) == base ? 0 :
	       failf("%d fds, %d before", count_fds(spid), base));
	return 0;
}

static int do_qemu(int argc, char **argv)
{
	unsigned int nvec, npeers, i, v;
	int timeout_s, r;
	struct conn C;
	char buf[256];
	size_t size;

	if (argc != 7)
		return 2;
	nvec = atoi(argv[3]);
	npeers = atoi(argv[4]);
	size = strtoull(argv[5], NULL, 0);
	timeout_s = atoi(argv[6]);
	r = handshake(&C, argv[2], nvec, size, NULL, 0);
	fmt_ids(&C, buf, sizeof(buf));
	if (!r && C.npeer != npeers)
		r = failf("sees peers [%s], want %u QEMUs", buf, npeers);
	report("test client sees the QEMU peers with their eventfds", r);
	if (r)
		return 1;
	printf("# peers: %s; own id %" PRId64 "\n", buf, C.id);
	for (i = 0; i < C.npeer; i++) {
		for (v = 0; v < nvec; v++) {
			uint64_t one = 1;
			int k;

			if (write(C.peer[i].fd[v], &one, 8) != 8) {
				r = failf("write: %s", strerror(errno));
				break;
			}
			for (k = 0; k < 300 && readable(C.peer[i].fd[v]); k++)
				msleep(10);
			if (readable(C.peer[i].fd[v])) {
				r = failf("QEMU peer %" PRId64
					  " did not consume vector %u within 3 s",
					  C.peer[i].id, v);
				break;
			}
		}
	}
	report("each QEMU consumes writes to its own eventfds (it watches what the server gave it)",
	       r);
	printf("# waiting for leaves\n");
	fflush(stdout);
	for (i = 0; i < npeers; i++) {
		int64_t id;
		bool join;

		r = next_event(&C, timeout_s * 1000, &id, &join);
		if (r == 0)
			r = failf("no leave within %d s", timeout_s);
		else if (r > 0 && join)
			r = failf("unexpected join of %" PRId64, id);
		if (r < 0)
			break;
		printf("# left %" PRId64 "\n", id);
		fflush(stdout);
		r = 0;
	}
	report("leave of every QEMU peer received", r);
	conn_close(&C);
	return 0;
}

static int do_watch(int argc, char **argv)
{
	struct pollfd p[MAXV + 1];
	unsigned int nvec, v;
	int64_t end, id;
	struct conn C;
	uint64_t val;
	size_t size;
	bool join;
	int r;

	if (argc != 6)
		return 2;
	nvec = atoi(argv[3]);
	size = strtoull(argv[4], NULL, 0);
	end = now_ms() + atoi(argv[5]) * 1000LL;
	r = handshake(&C, argv[2], nvec, size, NULL, 0);
	report("handshake", r);
	if (r)
		return 1;
	printf("# id %" PRId64 "\n", C.id);
	while (now_ms() < end) {
		for (v = 0; v < nvec; v++)
			p[v] = (struct pollfd){ C.self.fd[v], POLLIN, 0 };
		p[nvec] = (struct pollfd){ C.sock, POLLIN, 0 };
		r = poll(p, nvec + 1, end - now_ms() > 0 ? end - now_ms() : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (v = 0; v < nvec; v++) {
			if (!(p[v].revents & POLLIN))
				continue;
			if (read(C.self.fd[v], &val, 8) == 8)
				printf("# rang vector %u value %" PRIu64 "\n",
				       v, val);
		}
		if (!p[nvec].revents)
			continue;
		r = next_event(&C, 0, &id, &join);
		if (r < 0) {
			printf("# stopped: %s\n", why);	/* the server quit */
			break;
		}
		if (r > 0)
			printf("# %s %" PRId64 "\n", join ? "joined" : "left",
			       id);
	}
	conn_close(&C);
	return 0;
}

static int do_stale(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (argc != 3)
		return 2;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[2]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror("stale");
		return 1;
	}
	return 0;	/* exits without listening or unlinking */
}

static int send_msg(int s, int64_t val, int fd)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	uint64_t le = htole64((uint64_t)val);
	struct iovec iov = { &le, 8 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.b;
		m.msg_controllen = sizeof(ctl.b);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(s, &m, MSG_NOSIGNAL) == 8 ? 0 : -1;
}

/* Serve one client a handshake with protocol version VERSION, then wait. */
static int do_fakeserver(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, c, shm;

	if (argc != 4)
		return 2;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[2]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 1) < 0) {
		perror("fakeserver");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	c = accept(fd, NULL, NULL);
	shm = memfd_create("fake", 0);
	if (c < 0 || shm < 0 || ftruncate(shm, 1 << 20) < 0)
		return 1;
	send_msg(c, atoll(argv[3]), -1);
	send_msg(c, 0, -1);
	send_msg(c, -1, shm);
	pause();
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 2;

	signal(SIGPIPE, SIG_IGN);
	failfast = getenv("CLIENT_FAILFAST") && atoi(getenv("CLIENT_FAILFAST"));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "stale"))
		return do_stale(argc, argv);
	if (!strcmp(argv[1], "fakeserver"))
		return do_fakeserver(argc, argv);
	if (!strcmp(argv[1], "proto"))
		ret = do_proto(argc, argv);
	else if (!strcmp(argv[1], "basic"))
		ret = do_basic(argc, argv);
	else if (!strcmp(argv[1], "fdlimit"))
		ret = do_fdlimit(argc, argv);
	else if (!strcmp(argv[1], "qemu"))
		ret = do_qemu(argc, argv);
	else if (!strcmp(argv[1], "watch"))
		ret = do_watch(argc, argv);
	if (ret == 2)
		goto usage;
	printf("# client: %d passed, %d failed\n", npass, nfail);
	return nfail || ret ? 1 : 0;
usage:
	fprintf(stderr, "usage: see the comment at the top of client.c\n");
	return 2;
}
