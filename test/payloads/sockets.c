// sockets: the socket family and other I/O in one process, with threads as
// peers (no fork): TCP over 127.0.0.1 (blocking and non-blocking connect,
// select/pselect/epoll readiness), UDP (sendto/recvfrom, sendmmsg/recvmmsg,
// IP_PKTINFO control messages, a classic BPF filter), AF_UNIX socketpairs
// passing descriptors (SCM_RIGHTS) and credentials, AF_UNIX path and
// abstract names, timerfd, sendfile/splice/tee/copy_file_range, ioctls,
// and the error cases of bad arguments. Everything printed is deterministic
// (no port numbers, pids or timings), so a native run and a km run must
// print the same bytes. Files and socket names live in the cwd.
//
// With the single argument "sigpipe" it writes to a socket whose peer is
// gone, without MSG_NOSIGNAL, and must die of SIGPIPE.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static int failed;

static const char *errname(int e) {
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EPIPE: return "EPIPE";
	case ENOTSOCK: return "ENOTSOCK";
	case EMSGSIZE: return "EMSGSIZE";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EADDRINUSE: return "EADDRINUSE";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EINPROGRESS: return "EINPROGRESS";
	case ENOTCONN: return "ENOTCONN";
	case EISCONN: return "EISCONN";
	case ENOTTY: return "ENOTTY";
	case ESPIPE: return "ESPIPE";
	default: return "other";
	}
}

#define CHECK(cond)                                                    \
	do {                                                           \
		if (!(cond)) {                                         \
			printf("FAIL line %d: %s (errno=%s)\n",       \
			       __LINE__, #cond, errname(errno));       \
			failed = 1;                                    \
		}                                                      \
	} while (0)

// ERR runs a call that must fail and prints its errno.
#define ERR(what, call)                                                          \
	do {                                                                     \
		errno = 0;                                                       \
		long r_ = (long)(call);                                          \
		printf("%s: %s\n", what, r_ == -1 ? errname(errno) : "succeeded"); \
	} while (0)

static const char *yes(int b) { return b ? "yes" : "no"; }

static int cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// readall reads until EOF or n bytes.
static size_t readall(int fd, char *buf, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

static int listen_tcp(struct sockaddr_in *addr) {
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	int one = 1;
	CHECK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(s, (struct sockaddr *)addr, sizeof *addr) == 0);
	CHECK(listen(s, 16) == 0);
	socklen_t len = sizeof *addr;
	CHECK(getsockname(s, (struct sockaddr *)addr, &len) == 0);
	CHECK(len == sizeof *addr && addr->sin_port != 0);
	return s;
}

// ---------------------------------------------------------------------------
// TCP: a client thread connects, sends, half-closes and reads the reply.

struct tcp_client {
	struct sockaddr_in addr;
	char reply[64];
	size_t n;
	int port, err;
};

static void *tcp_client_main(void *p) {
	struct tcp_client *c = p;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&c->addr, sizeof c->addr) != 0) {
		c->err = errno;
		return NULL;
	}
	struct sockaddr_in me;
	socklen_t l = sizeof me;
	getsockname(s, (struct sockaddr *)&me, &l);
	c->port = ntohs(me.sin_port);
	const char msg[] = "hello over tcp";
	if (write(s, msg, sizeof msg - 1) != sizeof msg - 1)
		c->err = errno;
	shutdown(s, SHUT_WR);
	c->n = readall(s, c->reply, sizeof c->reply - 1);
	close(s);
	return NULL;
}

static void test_tcp(void) {
	struct tcp_client cl = {0};
	int ls = listen_tcp(&cl.addr);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, tcp_client_main, &cl) == 0);

	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	int c = accept4(ls, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
	CHECK(c >= 0);
	printf("tcp: accept4 cloexec=%s peer len=%d\n", yes(cloexec(c)), (int)pl);

	int one = 1, v = 0;
	socklen_t vl = sizeof v;
	CHECK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0);
	printf("tcp: nodelay=%s optlen=%d\n", yes(v != 0), (int)vl);
	vl = sizeof v;
	CHECK(getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl) == 0);
	printf("tcp: SO_TYPE stream=%s\n", yes(v == SOCK_STREAM));

	char buf[64] = {0};
	size_t n = readall(c, buf, sizeof buf - 1); // until the client's SHUT_WR
	printf("tcp: server got [%s]\n", buf);
	for (size_t i = 0; i < n; i++)
		if (buf[i] >= 'a' && buf[i] <= 'z')
			buf[i] -= 32;
	CHECK(write(c, buf, n) == (ssize_t)n);

	struct sockaddr_in pn;
	socklen_t pnl = sizeof pn;
	CHECK(getpeername(c, (struct sockaddr *)&pn, &pnl) == 0);
	close(c);
	CHECK(pthread_join(th, NULL) == 0);
	printf("tcp: client err=%s got [%.*s]\n", errname(cl.err), (int)cl.n, cl.reply);
	printf("tcp: accept address is the client's: %s\n",
	       yes(peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(peer.sin_port) == cl.port));
	printf("tcp: getpeername is the client's: %s\n",
	       yes(pnl == sizeof pn && pn.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(pn.sin_port) == cl.port));
	close(ls);
}

// ---------------------------------------------------------------------------
// Non-blocking connect, select, pselect, epoll, FIONREAD, FIONBIO.

static void test_readiness(void) {
	struct sockaddr_in addr;
	int ls = listen_tcp(&addr);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(s, (struct sockaddr *)&addr, sizeof addr);
	CHECK(r == 0 || errno == EINPROGRESS);

	fd_set w;
	FD_ZERO(&w);
	FD_SET(s, &w);
	struct timeval tv = {5, 0};
	int n = select(s + 1, NULL, &w, NULL, &tv);
	printf("select connect: n=%d writable=%s\n", n, yes(FD_ISSET(s, &w)));
	int err = -1;
	socklen_t el = sizeof err;
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) == 0);
	printf("select connect: SO_ERROR=%d\n", err);

	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(ls, &rs);
	tv = (struct timeval){5, 0};
	n = select(FD_SETSIZE, &rs, NULL, NULL, &tv);
	printf("select accept: n=%d readable=%s\n", n, yes(FD_ISSET(ls, &rs)));
	int c = accept(ls, NULL, NULL);
	CHECK(c >= 0);
	printf("accept: cloexec=%s\n", yes(cloexec(c)));

	char b[16];
	errno = 0;
	r = recv(s, b, sizeof b, 0);
	printf("recv on empty non-blocking socket: %d %s\n", r, errname(errno));

	CHECK(send(s, "xyz", 3, 0) == 3);
	FD_ZERO(&rs);
	FD_SET(c, &rs);
	struct timespec ts = {5, 0};
	sigset_t mask;
	sigemptyset(&mask);
	n = pselect(c + 1, &rs, NULL, NULL, &ts, &mask);
	printf("pselect: n=%d readable=%s\n", n, yes(FD_ISSET(c, &rs)));
	int avail = -1;
	CHECK(ioctl(c, FIONREAD, &avail) == 0);
	printf("FIONREAD: %d\n", avail);

	int on = 1;
	CHECK(ioctl(c, FIONBIO, &on) == 0);
	printf("FIONBIO: O_NONBLOCK=%s\n", yes(fcntl(c, F_GETFL) & O_NONBLOCK));
	printf("read: %d\n", (int)read(c, b, sizeof b));
	errno = 0;
	r = read(c, b, sizeof b);
	printf("read again: %d %s\n", r, errname(errno));

	// Nothing to read: a zero timeout polls, a short one expires and
	// leaves no time.
	FD_ZERO(&rs);
	FD_SET(c, &rs);
	tv = (struct timeval){0, 0};
	printf("select zero timeout: %d\n", select(c + 1, &rs, NULL, NULL, &tv));
	FD_ZERO(&rs);
	FD_SET(c, &rs);
	tv = (struct timeval){0, 20000};
	n = select(c + 1, &rs, NULL, NULL, &tv);
	printf("select 20ms: n=%d set=%s time left=%ld.%06ld\n", n, yes(FD_ISSET(c, &rs)), (long)tv.tv_sec, (long)tv.tv_usec);
	FD_ZERO(&rs);
	FD_SET(c, &rs);
	ts = (struct timespec){0, 1000000};
	printf("pselect 1ms, no mask: %d\n", pselect(c + 1, &rs, NULL, NULL, &ts, NULL));

	// No descriptors at all: a sleep.
	tv = (struct timeval){0, 1000};
	printf("select as a sleep: %d\n", select(0, NULL, NULL, NULL, &tv));
	printf("poll as a sleep: %d\n", poll(NULL, 0, 1));

	// Not-open descriptors and bad arguments.
	// The closed fd must be a low one: Linux's select only looks at fds below
	// the size of the caller's fd table, which it inherits from whatever
	// forked it (64, 128, 256, ...), so "fd 200" gives EBADF or 0 by accident.
	fd_set bad;
	int closed = dup(0);
	CHECK(closed >= 0 && closed < 64);
	close(closed);
	FD_ZERO(&bad);
	FD_SET(closed, &bad);
	tv = (struct timeval){0, 0};
	ERR("select on a closed fd", select(closed + 1, &bad, NULL, NULL, &tv));
	tv = (struct timeval){-1, 0};
	ERR("select negative timeout", select(1, NULL, NULL, NULL, &tv));
	ERR("select negative nfds", select(-1, NULL, NULL, NULL, NULL));
	ERR("select bad set", syscall(SYS_select, 4, (void *)8, NULL, NULL, &(struct timeval){0, 0}));
	ts = (struct timespec){0, 2000000000};
	ERR("pselect bad timespec", pselect(1, NULL, NULL, NULL, &ts, NULL));

	// The same readiness through epoll.
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
	struct epoll_event out[4];
	printf("epoll idle: %d\n", epoll_wait(ep, out, 4, 0));
	CHECK(send(s, "ab", 2, 0) == 2);
	n = epoll_wait(ep, out, 4, 5000);
	printf("epoll: n=%d data=%#llx in=%s\n", n, (unsigned long long)out[0].data.u64, yes(out[0].events & EPOLLIN));
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	n = poll(&pfd, 1, 5000);
	printf("poll: %d revents=%#x\n", n, pfd.revents);
	close(ep);

	// Half close: the peer reads EOF, and select says readable.
	CHECK(shutdown(s, SHUT_WR) == 0);
	CHECK(read(c, b, sizeof b) == 2);
	on = 0;
	ioctl(c, FIONBIO, &on);
	printf("read after peer SHUT_WR: %d\n", (int)read(c, b, sizeof b));
	ERR("send after SHUT_WR", send(s, "q", 1, MSG_NOSIGNAL));
	close(c);
	close(s);
	close(ls);
}

// ---------------------------------------------------------------------------
// UDP

struct sock_filter_ { // struct sock_filter and sock_fprog (linux/filter.h)
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
struct sock_fprog_ {
	unsigned short len;
	struct sock_filter_ *filter;
};
#define BPF_RET_K 0x06

static int udp_socket(struct sockaddr_in *addr) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(s, (struct sockaddr *)addr, sizeof *addr) == 0);
	socklen_t l = sizeof *addr;
	CHECK(getsockname(s, (struct sockaddr *)addr, &l) == 0);
	return s;
}

static void test_udp(void) {
	struct sockaddr_in aa, ba;
	int a = udp_socket(&aa), b = udp_socket(&ba);

	CHECK(sendto(a, "ping", 4, 0, (struct sockaddr *)&ba, sizeof ba) == 4);
	char buf[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	printf("udp: recvfrom %d [%.*s] from sender=%s len=%d\n", (int)n, (int)n, buf,
	       yes(from.sin_port == aa.sin_port && from.sin_addr.s_addr == aa.sin_addr.s_addr), (int)fl);
	// A short address buffer is filled partly; the full length comes back.
	CHECK(sendto(a, "pong", 4, 0, (struct sockaddr *)&ba, sizeof ba) == 4);
	memset(&from, 0xee, sizeof from);
	fl = 4;
	n = recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	printf("udp: short address buffer: n=%d len=%d port copied=%s addr untouched=%s\n", (int)n, (int)fl,
	       yes(from.sin_port == aa.sin_port), yes(from.sin_addr.s_addr == 0xeeeeeeee));

	CHECK(sendto(a, "0123456789", 10, 0, (struct sockaddr *)&ba, sizeof ba) == 10);
	printf("udp: MSG_TRUNC real length: %d\n", (int)recv(b, buf, 4, MSG_TRUNC));

	// recvmsg into three iovecs, with the sender's address and IP_PKTINFO.
	int one = 1;
	CHECK(setsockopt(b, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0);
	CHECK(sendto(a, "abcdefghij", 10, 0, (struct sockaddr *)&ba, sizeof ba) == 10);
	char p1[3], p2[4], p3[16];
	struct iovec iov[3] = {{p1, sizeof p1}, {p2, sizeof p2}, {p3, sizeof p3}};
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} cm;
	struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = iov, .msg_iovlen = 3,
			   .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	n = recvmsg(b, &m, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int pktinfo = c && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		      ((struct in_pktinfo *)CMSG_DATA(c))->ipi_addr.s_addr == htonl(INADDR_LOOPBACK);
	printf("udp: recvmsg %d [%.3s|%.4s|%.3s] namelen=%d from sender=%s pktinfo=%s flags=%#x\n", (int)n, p1, p2, p3,
	       (int)m.msg_namelen, yes(from.sin_port == aa.sin_port), yes(pktinfo), m.msg_flags);
	one = 0;
	CHECK(setsockopt(b, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0);

	// sendmmsg three datagrams over a connected socket; recvmmsg them.
	CHECK(connect(a, (struct sockaddr *)&ba, sizeof ba) == 0);
	const char *words[3] = {"one", "three", "fifteen"};
	struct mmsghdr mm[4];
	struct iovec miov[4];
	char mbuf[4][32];
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		miov[i] = (struct iovec){(void *)words[i], strlen(words[i])};
		mm[i].msg_hdr.msg_iov = &miov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	int sent = sendmmsg(a, mm, 3, 0);
	printf("udp: sendmmsg %d lens %u %u %u\n", sent, mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	memset(mm, 0, sizeof mm);
	struct sockaddr_in mfrom[4];
	for (int i = 0; i < 4; i++) {
		miov[i] = (struct iovec){mbuf[i], sizeof mbuf[i]};
		mm[i].msg_hdr.msg_iov = &miov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &mfrom[i];
		mm[i].msg_hdr.msg_namelen = sizeof mfrom[i];
	}
	// Without MSG_WAITFORONE recvmmsg waits for all three (loopback may
	// still be delivering them when sendmmsg returns).
	int got = recvmmsg(b, mm, 3, 0, NULL);
	printf("udp: recvmmsg %d:", got);
	for (int i = 0; i < got; i++)
		printf(" [%.*s] namelen=%d", (int)mm[i].msg_len, mbuf[i], (int)mm[i].msg_hdr.msg_namelen);
	printf("\n");

	// A classic BPF filter, given through a pointer inside sock_fprog:
	// it keeps the UDP header and two bytes of each datagram.
	struct sock_filter_ trim[] = {{BPF_RET_K, 0, 0, 8 + 2}};
	struct sock_fprog_ prog = {1, trim};
	CHECK(setsockopt(b, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0);
	CHECK(send(a, "kept", 4, 0) == 4);
	n = recv(b, buf, sizeof buf, 0);
	printf("udp: trimming filter: %d [%.*s]\n", (int)n, (int)n, buf);
	prog.filter = (void *)8;
	ERR("udp: filter at a bad address", setsockopt(b, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog));
	close(a);
	close(b);
}

// ---------------------------------------------------------------------------
// AF_UNIX socketpair: SCM_RIGHTS, SCM_CREDENTIALS, truncation, EPIPE.

static int send_fds(int s, const char *data, int *fds, int nfds) {
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov[3] = {{(void *)data, 4}, {(void *)(data + 4), 4}, {(void *)(data + 8), strlen(data) - 8}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3, .msg_control = cm.buf,
			   .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	return sendmsg(s, &m, 0);
}

// recv_fds receives a message and its descriptors; it returns the number of
// bytes and stores the descriptors and message flags.
static int recv_fds(int s, int flags, size_t ctl, char *data, size_t dn, int *fds, int *nfds, int *mflags) {
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov[2] = {{data, 5}, {data + 5, dn - 5}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = cm.buf, .msg_controllen = ctl};
	int n = recvmsg(s, &m, flags);
	*nfds = 0;
	*mflags = m.msg_flags;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
			*nfds += k;
		}
	return n;
}

static void test_unix_pair(void) {
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	printf("socketpair: fds %d %d cloexec=%s\n", sv[0], sv[1], yes(cloexec(sv[0])));
	int p[2];
	CHECK(pipe(p) == 0);
	int file = open("passed.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(file >= 0);
	CHECK(write(file, "file contents", 13) == 13);

	int fds[2] = {p[0], file};
	printf("sendmsg SCM_RIGHTS: %d\n", send_fds(sv[0], "one-two-three", fds, 2));
	close(p[0]);
	close(file);

	char data[32] = {0};
	int got[8], ngot, mflags;
	int n = recv_fds(sv[1], MSG_CMSG_CLOEXEC, CMSG_SPACE(8 * sizeof(int)), data, sizeof data - 1, got, &ngot, &mflags);
	printf("recvmsg: %d [%s] fds=%d flags=%#x\n", n, data, ngot, mflags);
	if (ngot == 2) {
		printf("received fds %d %d cloexec=%s,%s\n", got[0], got[1], yes(cloexec(got[0])), yes(cloexec(got[1])));
		CHECK(write(p[1], "through the passed pipe", 23) == 23);
		char b[32] = {0};
		CHECK(read(got[0], b, sizeof b - 1) == 23);
		printf("passed pipe reads [%s]\n", b);
		memset(b, 0, sizeof b);
		CHECK(pread(got[1], b, 13, 0) == 13);
		printf("passed file reads [%s]\n", b);
		close(got[0]);
		close(got[1]);
	}

	// Without MSG_CMSG_CLOEXEC the descriptors are inheritable.
	fds[0] = p[1];
	CHECK(send_fds(sv[0], "again-and-again", fds, 1) == 15);
	memset(data, 0, sizeof data);
	n = recv_fds(sv[1], 0, CMSG_SPACE(8 * sizeof(int)), data, sizeof data - 1, got, &ngot, &mflags);
	printf("recvmsg: %d [%s] fds=%d cloexec=%s\n", n, data, ngot, ngot == 1 ? yes(cloexec(got[0])) : "-");
	if (ngot == 1)
		close(got[0]);

	// Room for one descriptor of three: MSG_CTRUNC, one installed.
	int three[3] = {p[1], p[1], p[1]};
	CHECK(send_fds(sv[0], "truncated-ctl", three, 3) == 13);
	memset(data, 0, sizeof data);
	n = recv_fds(sv[1], 0, CMSG_LEN(sizeof(int)), data, sizeof data - 1, got, &ngot, &mflags);
	printf("recvmsg small control: %d fds=%d ctrunc=%s\n", n, ngot, yes(mflags & MSG_CTRUNC));
	for (int i = 0; i < ngot; i++)
		close(got[i]);
	int probe = dup(0);
	printf("next free fd after truncation: %d\n", probe);
	close(probe);

	// A bad descriptor in SCM_RIGHTS.
	int badfd[1] = {999};
	ERR("sendmsg SCM_RIGHTS bad fd", send_fds(sv[0], "bad-fd-in-rights", badfd, 1));

	// Credentials: explicit, and what SO_PASSCRED attaches.
	int one = 1;
	CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0);
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} cm;
	struct ucred cr = {getpid(), getuid(), getgid()};
	struct iovec iov = {"creds", 5};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof cr);
	memcpy(CMSG_DATA(c), &cr, sizeof cr);
	printf("sendmsg SCM_CREDENTIALS: %d\n", (int)sendmsg(sv[0], &m, 0));
	char b[8];
	iov = (struct iovec){b, sizeof b};
	memset(&cm, 0, sizeof cm);
	m = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	n = recvmsg(sv[1], &m, 0);
	c = CMSG_FIRSTHDR(&m);
	struct ucred rc = {0};
	if (c && c->cmsg_type == SCM_CREDENTIALS)
		memcpy(&rc, CMSG_DATA(c), sizeof rc);
	printf("recvmsg SCM_CREDENTIALS: %d pid=%s uid=%s gid=%s\n", n, yes(rc.pid == getpid()), yes(rc.uid == getuid()),
	       yes(rc.gid == getgid()));
	struct ucred pc;
	socklen_t pcl = sizeof pc;
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &pc, &pcl) == 0);
	printf("SO_PEERCRED: pid=%s len=%d\n", yes(pc.pid == getpid()), (int)pcl);

	// FIONREAD on a unix socket, then the peer goes away: EPIPE.
	CHECK(write(sv[0], "12345", 5) == 5);
	int avail = -1;
	CHECK(ioctl(sv[1], FIONREAD, &avail) == 0);
	printf("unix FIONREAD: %d\n", avail);
	close(sv[1]);
	ERR("send MSG_NOSIGNAL to a closed peer", send(sv[0], "x", 1, MSG_NOSIGNAL));
	signal(SIGPIPE, SIG_IGN);
	ERR("write with SIGPIPE ignored", write(sv[0], "x", 1));
	signal(SIGPIPE, SIG_DFL);
	close(sv[0]);
	close(p[1]);
	unlink("passed.txt");
}

// ---------------------------------------------------------------------------
// AF_UNIX names: paths in the cwd, a subdirectory, abstract names.

static void print_un(const char *what, struct sockaddr_un *a, socklen_t l) {
	if (l > offsetof(struct sockaddr_un, sun_path) && a->sun_path[0] == 0)
		printf("%s: abstract len=%d\n", what, (int)l);
	else if (l > offsetof(struct sockaddr_un, sun_path))
		printf("%s: [%s] len=%d\n", what, a->sun_path, (int)l);
	else
		printf("%s: unnamed len=%d\n", what, (int)l);
}

static socklen_t un_addr(struct sockaddr_un *a, const char *path) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static void test_unix_names(void) {
	unlink("sock");
	struct sockaddr_un a, got;
	socklen_t al = un_addr(&a, "sock"), gl;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(s, (struct sockaddr *)&a, al) == 0);
	CHECK(listen(s, 4) == 0);
	gl = sizeof got;
	CHECK(getsockname(s, (struct sockaddr *)&got, &gl) == 0);
	print_un("unix getsockname", &got, gl);
	struct stat st;
	CHECK(stat("sock", &st) == 0);
	printf("unix: ./sock is a socket: %s\n", yes(S_ISSOCK(st.st_mode)));

	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, al) == 0);
	gl = sizeof got;
	CHECK(getpeername(c, (struct sockaddr *)&got, &gl) == 0);
	print_un("unix getpeername", &got, gl);
	gl = sizeof got;
	int sc = accept(s, (struct sockaddr *)&got, &gl);
	CHECK(sc >= 0);
	print_un("unix accept", &got, gl);
	CHECK(write(c, "via path", 8) == 8);
	char b[16] = {0};
	CHECK(read(sc, b, sizeof b - 1) == 8);
	printf("unix: server read [%s]\n", b);
	close(sc);
	close(c);

	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	ERR("unix bind to a used path", bind(s2, (struct sockaddr *)&a, al));
	struct sockaddr_un nx;
	socklen_t nxl = un_addr(&nx, "no-such-socket");
	ERR("unix connect to a missing path", connect(s2, (struct sockaddr *)&nx, nxl));
	close(open("regular.txt", O_WRONLY | O_CREAT, 0644));
	nxl = un_addr(&nx, "regular.txt");
	ERR("unix connect to a regular file", connect(s2, (struct sockaddr *)&nx, nxl));
	unlink("regular.txt");
	close(s2);
	close(s);
	CHECK(unlink("sock") == 0);

	// A name in a subdirectory, relative to the cwd.
	mkdir("sub", 0755);
	unlink("sub/s2");
	al = un_addr(&a, "sub/s2");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(s, (struct sockaddr *)&a, al) == 0);
	gl = sizeof got;
	CHECK(getsockname(s, (struct sockaddr *)&got, &gl) == 0);
	print_un("unix subdir getsockname", &got, gl);
	close(s);
	unlink("sub/s2");
	rmdir("sub");

	// Datagrams between two named sockets: recvfrom names the sender.
	unlink("dg1");
	unlink("dg2");
	struct sockaddr_un d1, d2;
	socklen_t d1l = un_addr(&d1, "dg1"), d2l = un_addr(&d2, "dg2");
	int x = socket(AF_UNIX, SOCK_DGRAM, 0), y = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(bind(x, (struct sockaddr *)&d1, d1l) == 0);
	CHECK(bind(y, (struct sockaddr *)&d2, d2l) == 0);
	CHECK(sendto(x, "datagram", 8, 0, (struct sockaddr *)&d2, d2l) == 8);
	gl = sizeof got;
	memset(b, 0, sizeof b);
	int n = recvfrom(y, b, sizeof b - 1, 0, (struct sockaddr *)&got, &gl);
	printf("unix dgram: %d [%s]\n", n, b);
	print_un("unix dgram sender", &got, gl);
	close(x);
	close(y);
	unlink("dg1");
	unlink("dg2");

	// Abstract names are not files.
	char name[64];
	int nl = snprintf(name, sizeof name, "km-sockets-test-%d", (int)getpid());
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path + 1, name, nl);
	al = offsetof(struct sockaddr_un, sun_path) + 1 + nl;
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(s, (struct sockaddr *)&a, al) == 0);
	CHECK(listen(s, 1) == 0);
	gl = sizeof got;
	CHECK(getsockname(s, (struct sockaddr *)&got, &gl) == 0);
	printf("abstract getsockname: len matches=%s name matches=%s\n", yes(gl == al), yes(memcmp(&got, &a, al) == 0));
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("abstract connect: %d\n", connect(c, (struct sockaddr *)&a, al));
	close(c);
	close(s);
}

// ---------------------------------------------------------------------------
// timerfd

static void test_timerfd(void) {
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	CHECK(t >= 0);
	printf("timerfd: cloexec=%s\n", yes(cloexec(t)));
	struct itimerspec its = {{0, 0}, {10, 0}}, cur, old;
	CHECK(timerfd_settime(t, 0, &its, NULL) == 0);
	CHECK(timerfd_gettime(t, &cur) == 0);
	printf("timerfd: armed=%s interval=%ld\n", yes(cur.it_value.tv_sec <= 10 && (cur.it_value.tv_sec > 0 || cur.it_value.tv_nsec > 0)),
	       (long)cur.it_interval.tv_sec);
	its = (struct itimerspec){{0, 0}, {0, 20000000}};
	CHECK(timerfd_settime(t, 0, &its, &old) == 0);
	printf("timerfd: old value was armed=%s\n", yes(old.it_value.tv_sec > 0 || old.it_value.tv_nsec > 0));
	uint64_t count = 0;
	int n = read(t, &count, sizeof count);
	printf("timerfd: blocking read %d count>=1: %s\n", n, yes(count >= 1));
	CHECK(timerfd_gettime(t, &cur) == 0);
	printf("timerfd: disarmed after expiry=%s\n", yes(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0));

	// Readiness through select.
	its = (struct itimerspec){{0, 0}, {0, 10000000}};
	CHECK(timerfd_settime(t, 0, &its, NULL) == 0);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(t, &rs);
	printf("timerfd: select %d\n", select(t + 1, &rs, NULL, NULL, NULL));
	CHECK(read(t, &count, sizeof count) == 8);
	close(t);

	t = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	its = (struct itimerspec){{1, 0}, {100, 0}};
	CHECK(timerfd_settime(t, 0, &its, NULL) == 0);
	ERR("timerfd: non-blocking read before expiry", read(t, &count, sizeof count));
	ERR("timerfd: short read", read(t, &count, 4));
	close(t);
	ERR("timerfd_create bad flags", timerfd_create(CLOCK_MONOTONIC, 0x4));
	ERR("timerfd_settime bad pointer", syscall(SYS_timerfd_settime, 0, 0, (void *)8, NULL));
}

// ---------------------------------------------------------------------------
// sendfile, splice, tee, copy_file_range

struct reader {
	int fd;
	size_t n;
	uint32_t sum;
};

static void *reader_main(void *p) {
	struct reader *r = p;
	char buf[4096];
	ssize_t n;
	while ((n = read(r->fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			r->sum = r->sum * 31 + (unsigned char)buf[i];
		r->n += n;
	}
	return NULL;
}

enum { fileSize = 300000 };

static void test_copies(void) {
	static char data[fileSize];
	uint32_t sum = 0;
	for (int i = 0; i < fileSize; i++) {
		data[i] = (char)(i * 7 + i / 1000);
		sum = sum * 31 + (unsigned char)data[i];
	}
	int f = open("sockets.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(f >= 0);
	CHECK(write(f, data, fileSize) == fileSize);

	// sendfile into a TCP connection read by another thread: more than
	// the socket buffers hold, so sendfile waits for the reader.
	struct sockaddr_in addr;
	int ls = listen_tcp(&addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(s, (struct sockaddr *)&addr, sizeof addr) == 0);
	int c = accept(ls, NULL, NULL);
	struct reader r = {.fd = c};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, reader_main, &r) == 0);
	off_t off = 0;
	size_t total = 0;
	while (total < fileSize) {
		ssize_t n = sendfile(s, f, &off, fileSize - total);
		if (n <= 0)
			break;
		total += n;
	}
	shutdown(s, SHUT_WR);
	CHECK(pthread_join(th, NULL) == 0);
	printf("sendfile to tcp: sent=%zu offset=%ld received=%zu checksum=%s\n", total, (long)off, r.n, yes(r.sum == sum));
	close(c);
	close(s);
	close(ls);

	// sendfile from the file position to a unix socket.
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(lseek(f, fileSize - 10, SEEK_SET) == fileSize - 10);
	int sent = sendfile(sv[0], f, NULL, 100);
	printf("sendfile to unix: %d pos=%ld\n", sent, (long)lseek(f, 0, SEEK_CUR));
	char b[32];
	int got = read(sv[1], b, sizeof b);
	printf("sendfile to unix: peer read %d match=%s\n", got, yes(memcmp(b, data + fileSize - 10, 10) == 0));

	// splice: pipe -> socket; tee: pipe -> pipe.
	int p[2], q[2];
	CHECK(pipe(p) == 0 && pipe(q) == 0);
	CHECK(write(p[1], "spliced bytes", 13) == 13);
	printf("tee: %d\n", (int)tee(p[0], q[1], 100, 0));
	printf("splice: %d\n", (int)splice(p[0], NULL, sv[0], NULL, 100, 0));
	memset(b, 0, sizeof b);
	printf("splice: peer read %d [%s]\n", (int)read(sv[1], b, sizeof b - 1), b);
	memset(b, 0, sizeof b);
	printf("tee: copy read %d [%s]\n", (int)read(q[0], b, sizeof b - 1), b);
	loff_t in_off = 5;
	CHECK(write(q[1], "0123456789", 10) == 10);
	printf("splice with offset into file: %d\n", (int)splice(q[0], NULL, f, &in_off, 10, 0));
	printf("splice offset now %ld\n", (long)in_off);
	ERR("splice bad offset pointer", splice(f, (loff_t *)8, p[1], NULL, 10, 0));
	ERR("splice offset on a pipe", splice(p[0], &in_off, sv[0], NULL, 10, 0));

	// copy_file_range between files.
	int g = open("sockets.copy", O_RDWR | O_CREAT | O_TRUNC, 0644);
	loff_t from = 1000;
	long n = syscall(SYS_copy_file_range, f, &from, g, NULL, 5000, 0);
	char x[5000];
	CHECK(pread(g, x, sizeof x, 0) == (ssize_t)sizeof x);
	printf("copy_file_range: %ld from=%ld match=%s\n", n, (long)from, yes(memcmp(x, data + 1000, 5000) == 0));
	close(g);
	unlink("sockets.copy");
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	close(sv[0]);
	close(sv[1]);
	close(f);
}

// ---------------------------------------------------------------------------
// Bad arguments: the monitor must answer like the kernel and survive.

static void test_errors(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int v = 0;
	socklen_t l = sizeof v;
	ERR("getsockopt bad optval", getsockopt(s, SOL_SOCKET, SO_TYPE, (void *)8, &l));
	ERR("getsockopt bad optlen pointer", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)8));
	l = (socklen_t)-1;
	ERR("getsockopt negative optlen", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
	ERR("setsockopt negative optlen", syscall(SYS_setsockopt, s, SOL_SOCKET, SO_REUSEADDR, &v, -1));
	ERR("setsockopt short optlen", setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, 2));
	ERR("setsockopt bad optval", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (void *)8, 4));
	ERR("setsockopt unknown level", setsockopt(s, 12345, 1, &v, sizeof v));
	struct sockaddr_in a = {.sin_family = AF_INET};
	ERR("bind bad address pointer", bind(s, (struct sockaddr *)8, sizeof a));
	ERR("bind long address", bind(s, (struct sockaddr *)&a, 200));
	ERR("connect negative length", syscall(SYS_connect, s, &a, -1));
	ERR("accept4 bad flags", accept4(s, NULL, NULL, 0x1));
	ERR("accept on unlistened socket", accept(s, NULL, NULL));
	ERR("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &l));
	l = sizeof a;
	ERR("getsockname bad buffer", getsockname(s, (struct sockaddr *)8, &l));
	ERR("socket on a bad fd", getsockname(77, (struct sockaddr *)&a, &l));
	int f = open("sockets.dat", O_RDONLY);
	l = sizeof a;
	ERR("getsockname on a file", getsockname(f, (struct sockaddr *)&a, &l));
	close(f);
	ERR("recvmsg bad msghdr", syscall(SYS_recvmsg, s, (struct msghdr *)8, MSG_DONTWAIT));
	struct iovec iov = {&v, sizeof v};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 2000};
	ERR("sendmsg too many iovecs", sendmsg(s, &m, 0));
	m.msg_iovlen = 1;
	m.msg_name = (void *)8;
	m.msg_namelen = 16;
	ERR("sendmsg bad name", sendmsg(s, &m, 0));
	ERR("socketpair bad pointer", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, (int *)8));
	ERR("socket bad type", socket(AF_INET, 99, 0));
	ERR("shutdown unconnected", shutdown(s, SHUT_RDWR));
	ERR("ioctl unknown request", ioctl(s, 0x7777, &v));
	close(s);
}

// Interface ioctls: SIOCGIFCONF (whose struct points to the buffer) and
// ifreq requests on the loopback interface.
static void test_ifreq(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifconf ifc = {.ifc_len = 0, .ifc_buf = NULL};
	CHECK(ioctl(s, SIOCGIFCONF, &ifc) == 0);
	int need = ifc.ifc_len;
	printf("SIOCGIFCONF size query: %s\n", yes(need > 0 && need % sizeof(struct ifreq) == 0));
	struct ifreq reqs[64];
	ifc.ifc_len = sizeof reqs;
	ifc.ifc_req = reqs;
	CHECK(ioctl(s, SIOCGIFCONF, &ifc) == 0);
	int lo = 0;
	for (int i = 0; i < ifc.ifc_len / (int)sizeof(struct ifreq); i++)
		lo |= strcmp(reqs[i].ifr_name, "lo") == 0;
	printf("SIOCGIFCONF: same size=%s lo listed=%s\n", yes(ifc.ifc_len == need), yes(lo));
	ifc.ifc_len = sizeof(struct ifreq);
	ifc.ifc_buf = (void *)8;
	ERR("SIOCGIFCONF bad buffer", ioctl(s, SIOCGIFCONF, &ifc));
	struct ifreq r;
	memset(&r, 0, sizeof r);
	strcpy(r.ifr_name, "lo");
	CHECK(ioctl(s, SIOCGIFINDEX, &r) == 0);
	int idx = r.ifr_ifindex;
	printf("SIOCGIFINDEX lo: %s\n", yes(idx > 0));
	CHECK(ioctl(s, SIOCGIFFLAGS, &r) == 0);
	printf("SIOCGIFFLAGS lo: loopback=%s up=%s\n", yes(r.ifr_flags & IFF_LOOPBACK), yes(r.ifr_flags & IFF_UP));
	memset(&r, 0, sizeof r);
	r.ifr_ifindex = idx;
	CHECK(ioctl(s, SIOCGIFNAME, &r) == 0);
	printf("SIOCGIFNAME: [%s]\n", r.ifr_name);
	CHECK(ioctl(s, SIOCGIFADDR, &(struct ifreq){.ifr_name = "lo"}) == 0);
	ERR("SIOCGIFMTU bad pointer", ioctl(s, SIOCGIFMTU, (void *)8));
	close(s);
}

static void sigpipe_mode(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	close(sv[1]);
	printf("writing to a socket with no peer\n");
	fflush(stdout);
	write(sv[0], "x", 1);
	printf("FAIL: still alive after EPIPE\n");
	exit(1);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "sigpipe") == 0)
		sigpipe_mode();
	test_tcp();
	test_readiness();
	test_udp();
	test_unix_pair();
	test_unix_names();
	test_timerfd();
	test_copies();
	test_errors();
	test_ifreq();
	unlink("sockets.dat");
	printf("done failed=%d\n", failed);
	return failed;
}
