// SPDX-License-Identifier: GPL-2.0
/*
 * ivrsh - a minimal remote command channel between test guests.
 *
 * ntb_test.sh drives the remote side of a two-host NTB with
 * `ssh HOST 'command'`: it needs the command's stdout byte for byte
 * (`ssh R cat peer_mw > file`), its stderr and its exit status, and never
 * sends stdin. This program is that, without crypto or keys: the guests
 * talk over a private QEMU link that nothing else can reach.
 *
 *   ivrsh -d [-p PORT]            serve: run each request with /bin/sh -c
 *   ssh [-p PORT] [-o X] [-n] [-q] HOST COMMAND...
 *                                 (argv[0] "ssh" or "ivrsh") run COMMAND on
 *                                 HOST, like ssh: arguments joined by spaces
 *
 * Wire format: the client sends "IVRS1\n", a 4-byte little-endian length
 * and the command. The server answers with frames: 1 byte type (1 stdout,
 * 2 stderr, 3 exit), 4-byte little-endian length, payload. The exit frame
 * carries the exit status as 4 bytes (128 + signal if killed) and is last.
 * The client exits with that status, or 255 if the channel failed (as ssh).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define IVRSH_PORT	2222
#define IVRSH_MAGIC	"IVRS1\n"
#define IVRSH_MAX_CMD	(1 << 20)

enum { F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3 };

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int send_frame(int fd, int type, const void *data, uint32_t len)
{
	unsigned char hdr[5];

	hdr[0] = type;
	put_le32(hdr + 1, len);
	if (write_all(fd, hdr, sizeof(hdr)))
		return -1;
	return len ? write_all(fd, data, len) : 0;
}

/* Server side: one forked child per connection. */
static void serve_one(int c)
{
	unsigned char lenbuf[4], st[4];
	char magic[sizeof(IVRSH_MAGIC) - 1];
	int out[2], err[2], status;
	struct pollfd pfd[2];
	uint32_t len;
	char *cmd;
	pid_t pid;
	int open_fds = 2;

	if (read_all(c, magic, sizeof(magic)) ||
	    memcmp(magic, IVRSH_MAGIC, sizeof(magic)) ||
	    read_all(c, lenbuf, 4))
		_exit(1);
	len = get_le32(lenbuf);
	if (len > IVRSH_MAX_CMD)
		_exit(1);
	cmd = calloc(1, len + 1);
	if (!cmd || read_all(c, cmd, len))
		_exit(1);
	if (pipe(out) || pipe(err))
		_exit(1);

	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		dup2(nul, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		/*
		 * Only fds 0-2 may reach the command: a backgrounded child
		 * holding a pipe end would keep the request open forever.
		 */
		close(nul);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		close(c);
		execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);

	pfd[0].fd = out[0];
	pfd[1].fd = err[0];
	pfd[0].events = pfd[1].events = POLLIN;
	while (open_fds) {
		char buf[65536];
		int i;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			if (send_frame(c, i ? F_STDERR : F_STDOUT, buf, n))
				_exit(1);
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		put_le32(st, WEXITSTATUS(status));
	else
		put_le32(st, 128 + WTERMSIG(status));
	send_frame(c, F_EXIT, st, 4);
	_exit(0);
}

static int server(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1, s;

	signal(SIGCHLD, SIG_IGN);	/* reap connection children */
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		perror("ivrsh: socket");
		return 1;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 16)) {
		perror("ivrsh: bind/listen");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		pid_t pid;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("ivrsh: accept");
			return 1;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pid = fork();
		if (pid == 0) {
			close(s);
			/* the child reaps its own command */
			signal(SIGCHLD, SIG_DFL);
			serve_one(c);
		}
		close(c);
	}
}

/* Resolve HOST: a dotted quad, or a name from /etc/hosts (no NSS: static). */
static int resolve(const char *host, struct in_addr *addr)
{
	char line[512];
	FILE *f;

	if (inet_pton(AF_INET, host, addr) == 1)
		return 0;
	f = fopen("/etc/hosts", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *save, *ip = strtok_r(line, " \t\n", &save), *name;

		if (!ip || ip[0] == '#')
			continue;
		while ((name = strtok_r(NULL, " \t\n", &save))) {
			if (!strcmp(name, host) &&
			    inet_pton(AF_INET, ip, addr) == 1) {
				fclose(f);
				return 0;
			}
		}
	}
	fclose(f);
	return -1;
}

static int client(int argc, char **argv, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned char hdr[5];
	size_t len = 0, off = 0;
	const char *host;
	char *cmd;
	int i, s, one = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: ssh [-p PORT] HOST COMMAND...\n");
		return 255;
	}
	host = argv[0];
	for (i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	cmd = malloc(len + 1);
	if (!cmd)
		return 255;
	for (i = 1; i < argc; i++)
		off += sprintf(cmd + off, "%s%s", i > 1 ? " " : "", argv[i]);

	if (resolve(host, &sa.sin_addr)) {
		fprintf(stderr, "ivrsh: cannot resolve %s\n", host);
		return 255;
	}
	sa.sin_port = htons(port);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "ivrsh: connect to %s:%d: %s\n", host, port,
			strerror(errno));
		return 255;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * A peer guest that powers off behind the QEMU link sends no reset:
	 * keepalive turns that into an error after about 10 s, while a long
	 * command on a live peer keeps its connection.
	 */
	setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &(int){ 4 }, sizeof(int));
	setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &(int){ 2 }, sizeof(int));
	setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &(int){ 3 }, sizeof(int));
	put_le32(hdr, off);
	if (write_all(s, IVRSH_MAGIC, strlen(IVRSH_MAGIC)) ||
	    write_all(s, hdr, 4) || write_all(s, cmd, off)) {
		fprintf(stderr, "ivrsh: send failed\n");
		return 255;
	}
	for (;;) {
		static char buf[65536];
		uint32_t flen;

		if (read_all(s, hdr, 5)) {
			fprintf(stderr, "ivrsh: connection to %s lost\n", host);
			return 255;
		}
		flen = get_le32(hdr + 1);
		if (flen > sizeof(buf)) {
			fprintf(stderr, "ivrsh: bad frame\n");
			return 255;
		}
		if (read_all(s, buf, flen)) {
			fprintf(stderr, "ivrsh: connection to %s lost\n", host);
			return 255;
		}
		switch (hdr[0]) {
		case F_STDOUT:
		case F_STDERR:
			if (write_all(hdr[0], buf, flen) && hdr[0] == F_STDOUT)
				return 255;
			break;
		case F_EXIT:
			if (flen != 4)
				return 255;
			return get_le32((unsigned char *)buf) & 0xff;
		default:
			fprintf(stderr, "ivrsh: bad frame type %d\n", hdr[0]);
			return 255;
		}
	}
}

int main(int argc, char **argv)
{
	int port = IVRSH_PORT, daemon = 0, opt;

	/* ssh-style options before HOST; the command's own options follow it */
	while ((opt = getopt(argc, argv, "+dp:o:nqtTl:")) != -1) {
		switch (opt) {
		case 'd':
			daemon = 1;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'o': case 'n': case 'q': case 't': case 'T': case 'l':
			break;	/* accepted for ssh compatibility */
		default:
			return 255;
		}
	}
	if (daemon)
		return server(port);
	return client(argc - optind, argv + optind, port);
}
