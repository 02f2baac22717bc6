// signalfd(2): blocked signals read through a descriptor. Covers the
// siginfo each way of sending fills in, several signals in one read,
// non-blocking and short reads, poll/epoll/select readiness, blocking reads
// woken by another thread, by a timer and interrupted by a handled signal,
// mask updates, the error cases, dup, fork and execve.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int failed;

#define CHECK(cond, ...)                                   \
	do {                                                   \
		if (!(cond)) {                                     \
			printf("FAIL line %d: ", __LINE__);            \
			printf(__VA_ARGS__);                           \
			printf("\n");                                  \
			failed++;                                      \
		}                                                  \
	} while (0)

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static sigset_t set_of(int a, int b) {
	sigset_t s;
	sigemptyset(&s);
	if (a) sigaddset(&s, a);
	if (b) sigaddset(&s, b);
	return s;
}

// read1 reads one record and prints it as "what: signo code pid-ok uid-ok".
static void read1(int fd, const char *what) {
	struct signalfd_siginfo si;
	ssize_t n = read(fd, &si, sizeof si);
	if (n != (ssize_t)sizeof si) {
		printf("%s: read=%zd errno=%s\n", what, n, strerror(errno));
		return;
	}
	printf("%s: signo=%u code=%d pid_ok=%d uid_ok=%d\n", what, si.ssi_signo, si.ssi_code,
	       si.ssi_pid == (uint32_t)getpid(), si.ssi_uid == (uint32_t)getuid());
}

static void report(const char *what, long r) {
	int e = errno;
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(e) : "-");
}

static int pollin(int fd) {
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	int r = poll(&p, 1, 0);
	return r == 1 ? p.revents : -r - 100;
}

static int selectin(int fd) {
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(fd, &r);
	FD_SET(fd, &w);
	struct timeval tv = {0, 0};
	int n = select(fd + 1, &r, &w, NULL, &tv);
	return n * 10 + FD_ISSET(fd, &r);
}

static int epollin(int ep) {
	struct epoll_event ev;
	int n = epoll_wait(ep, &ev, 1, 0);
	return n == 1 ? (int)ev.events : n;
}

static pthread_t main_thread;

struct sender {
	int how; // 0: kill the process, 1: pthread_kill the main thread
	int sig;
};

static void *send_later(void *arg) {
	struct sender *s = arg;
	usleep(100 * 1000); // most likely after the main thread blocks; either order reads the same
	if (s->how == 0)
		kill(getpid(), s->sig);
	else
		pthread_kill(main_thread, s->sig);
	return NULL;
}

static pthread_t start_sender(int how, int sig) {
	static struct sender s;
	s.how = how;
	s.sig = sig;
	pthread_t th;
	pthread_create(&th, NULL, send_later, &s);
	return th;
}

static volatile sig_atomic_t handled;
static void on_usr2(int sig) { handled = sig; }

static int exec_child(int fd) {
	// After execve the signalfd is still open and keeps its mask (the
	// signal mask survives execve too).
	raise(SIGUSR1);
	read1(fd, "after execve");
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "execd") == 0) return exec_child(atoi(argv[2]));
	main_thread = pthread_self();

	sigset_t blocked = set_of(SIGUSR1, SIGUSR2);
	sigaddset(&blocked, SIGALRM);
	sigprocmask(SIG_BLOCK, &blocked, NULL);

	sigset_t m = set_of(SIGUSR1, SIGUSR2);
	int fd = signalfd(-1, &m, SFD_CLOEXEC);
	CHECK(fd >= 0, "signalfd: %s", strerror(errno));
	printf("cloexec: %d nonblock: %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
	       (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	char link[64], target[256];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t ln = readlink(link, target, sizeof target - 1);
	target[ln > 0 ? ln : 0] = 0;
	printf("link: %s\n", target);

	// Each way of sending.
	raise(SIGUSR1);
	read1(fd, "raise");
	kill(getpid(), SIGUSR2);
	read1(fd, "kill");
	syscall(SYS_tgkill, getpid(), gettid_(), SIGUSR1);
	read1(fd, "tgkill");
	union sigval v = {.sival_int = 4242};
	sigqueue(getpid(), SIGUSR2, v);
	struct signalfd_siginfo si;
	ssize_t n = read(fd, &si, sizeof si);
	printf("sigqueue: n=%zd signo=%u code=%d int=%d pid_ok=%d\n", n, si.ssi_signo, si.ssi_code, si.ssi_int,
	       si.ssi_pid == (uint32_t)getpid());

	// Two at once, lowest first; a third waits for the next read.
	struct signalfd_siginfo two[2];
	kill(getpid(), SIGUSR2);
	raise(SIGUSR1);
	n = read(fd, two, sizeof two);
	printf("two in one read: n=%zd signos=%u,%u\n", n, two[0].ssi_signo, two[1].ssi_signo);
	kill(getpid(), SIGUSR2);
	raise(SIGUSR1);
	n = read(fd, two, sizeof two - 1); // room for one record only
	printf("one of two: n=%zd signo=%u\n", n, two[0].ssi_signo);
	read1(fd, "the other");
	// readv: records across iovecs.
	raise(SIGUSR1);
	kill(getpid(), SIGUSR2);
	struct iovec iov[2] = {{&two[0], sizeof two[0]}, {&two[1], sizeof two[1]}};
	n = readv(fd, iov, 2);
	printf("readv: n=%zd signos=%u,%u\n", n, two[0].ssi_signo, two[1].ssi_signo);

	// Non-blocking and short reads.
	int nfd = signalfd(-1, &m, SFD_NONBLOCK);
	printf("nonblock fd: cloexec=%d nonblock=%d\n", (fcntl(nfd, F_GETFD) & FD_CLOEXEC) != 0,
	       (fcntl(nfd, F_GETFL) & O_NONBLOCK) != 0);
	n = read(nfd, &si, sizeof si);
	printf("empty: n=%zd errno=%s\n", n, n < 0 ? strerror(errno) : "-");
	raise(SIGUSR1);
	n = read(nfd, &si, sizeof si - 1);
	printf("short buffer: n=%zd errno=%s\n", n, n < 0 ? strerror(errno) : "-");
	n = read(nfd, &si, sizeof si);
	printf("after short: n=%zd signo=%u\n", n, si.ssi_signo);
	unsigned long long one = 1;
	n = write(nfd, &one, sizeof one);
	printf("write: n=%zd errno=%s\n", n, n < 0 ? strerror(errno) : "-");

	// Readiness: poll, select and epoll before, with and after a signal.
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 77};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl: %s", strerror(errno));
	printf("idle: poll=%d select=%d epoll=%d\n", pollin(fd), selectin(fd), epollin(ep));
	kill(getpid(), SIGUSR1);
	printf("pending: poll=%d select=%d epoll=%d\n", pollin(fd), selectin(fd), epollin(ep));
	read1(nfd, "consumed through the other fd");
	printf("consumed: poll=%d select=%d epoll=%d\n", pollin(fd), selectin(fd), epollin(ep));
	raise(SIGUSR2);
	printf("raised: poll=%d epoll=%d\n", pollin(fd), epollin(ep));
	sigset_t pend;
	int sig = 0;
	sigwait(&m, &sig); // taken another way: no longer readable
	printf("sigwait took %d: poll=%d epoll=%d\n", sig, pollin(fd), epollin(ep));
	// A blocking epoll_wait woken by a signal another thread sends.
	pthread_t th = start_sender(0, SIGUSR2);
	n = epoll_wait(ep, &ev, 1, -1);
	pthread_join(th, NULL);
	printf("epoll_wait woken: n=%zd events=%u data=%u\n", n, ev.events, ev.data.u32);
	read1(fd, "after epoll_wait");
	close(ep);

	// Blocking reads woken from elsewhere.
	th = start_sender(0, SIGUSR1);
	read1(fd, "woken by kill from a thread");
	pthread_join(th, NULL);
	th = start_sender(1, SIGUSR2);
	read1(fd, "woken by pthread_kill");
	pthread_join(th, NULL);
	sigset_t alrm = set_of(SIGALRM, 0);
	int afd = signalfd(-1, &alrm, 0);
	alarm(1);
	n = read(afd, &si, sizeof si);
	printf("woken by alarm: n=%zd signo=%u\n", n, si.ssi_signo);

	// A handled signal interrupts a blocking read: EINTR without
	// SA_RESTART, a transparent restart with it.
	sigset_t only1 = set_of(SIGUSR1, 0);
	int fd1 = signalfd(-1, &only1, 0);
	sigset_t u2 = set_of(SIGUSR2, 0);
	struct sigaction sa = {.sa_handler = on_usr2};
	sigaction(SIGUSR2, &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, &u2, NULL);
	th = start_sender(1, SIGUSR2);
	n = read(fd1, &si, sizeof si);
	printf("interrupted: n=%zd errno=%s handled=%d\n", n, n < 0 ? strerror(errno) : "-", handled);
	pthread_join(th, NULL);
	handled = 0;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	th = start_sender(1, SIGUSR2);
	pthread_t th2;
	static struct sender later = {0, SIGUSR1};
	pthread_create(&th2, NULL, send_later, &later);
	// The handler runs, the read restarts and returns SIGUSR1 (it may also
	// come before the handled one: the output is the same).
	n = read(fd1, &si, sizeof si);
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	printf("restarted: n=%zd signo=%u handled=%d\n", n, si.ssi_signo, handled);
	pthread_sigmask(SIG_BLOCK, &u2, NULL);
	signal(SIGUSR2, SIG_DFL);

	// The mask can change; SIGKILL and SIGSTOP are dropped from it.
	sigset_t k = set_of(SIGUSR2, SIGKILL);
	sigaddset(&k, SIGSTOP);
	int r = signalfd(fd1, &k, 0);
	printf("update: returns same fd=%d\n", r == fd1);
	raise(SIGUSR1);
	raise(SIGUSR2);
	n = read(fd1, two, sizeof two);
	sigpending(&pend);
	printf("after update: n=%zd signo=%u usr1 still pending=%d\n", n, two[0].ssi_signo, sigismember(&pend, SIGUSR1));
	read1(nfd, "usr1 through the other fd");

	// Errors.
	int p[2];
	pipe(p);
	report("not a signalfd", signalfd(p[0], &m, 0));
	close(p[0]);
	report("closed fd", signalfd(p[0], &m, 0));
	report("bad flags", signalfd(-1, &m, 0x4000000));
	report("bad mask pointer", signalfd(-1, (sigset_t *)8, 0));
	report("sizemask 4", syscall(SYS_signalfd4, -1, &m, 4, 0));
	r = (int)syscall(SYS_signalfd, -1, &m, 8);
	printf("signalfd (no flags): ok=%d cloexec=%d\n", r >= 0, (fcntl(r, F_GETFD) & FD_CLOEXEC) != 0);
	close(r);
	close(p[1]);

	// dup shares the descriptor; closing the original leaves the copy.
	int d = dup(fd);
	int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
	close(fd);
	raise(SIGUSR1);
	read1(d, "through dup");
	raise(SIGUSR2);
	read1(d2, "through F_DUPFD_CLOEXEC");
	printf("dup'ed cloexec: %d %d\n", (fcntl(d, F_GETFD) & FD_CLOEXEC) != 0, (fcntl(d2, F_GETFD) & FD_CLOEXEC) != 0);
	close(d2);
	dup2(d, 20);
	raise(SIGUSR1);
	read1(20, "through dup2");
	close(20);

	// A fork child has its own pending signals: the parent's pending one
	// is not its, the ones sent to it are.
	raise(SIGUSR1);
	int ready[2];
	pipe(ready);
	pid_t c = fork();
	if (c == 0) {
		n = read(nfd, &si, sizeof si);
		printf("child: parent's pending: n=%zd errno=%s\n", n, n < 0 ? strerror(errno) : "-");
		raise(SIGUSR2);
		read1(d, "child raise");
		write(ready[1], "r", 1);
		n = read(d, &si, sizeof si); // the parent's kill
		printf("child: from parent: n=%zd signo=%u\n", n, si.ssi_signo);
		_exit(failed ? 1 : 7);
	}
	char rc;
	read(ready[0], &rc, 1);
	kill(c, SIGUSR1);
	int st;
	waitpid(c, &st, 0);
	printf("child exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	read1(d, "parent's own pending");

	// execve keeps the descriptor and its mask.
	c = fork();
	if (c == 0) {
		char num[16];
		snprintf(num, sizeof num, "%d", d);
		execl("/proc/self/exe", argv[0], "execd", num, (char *)NULL);
		printf("execl: %s\n", strerror(errno));
		_exit(1);
	}
	waitpid(c, &st, 0);
	printf("exec child exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	// SIGCHLD is ignored by default, yet a blocked one stays pending (Linux
	// asks the main thread's mask), so a supervisor can take child exits
	// from a signalfd.
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int cfd = signalfd(-1, &chld, 0);
	c = fork();
	if (c == 0)
		_exit(9);
	n = read(cfd, &si, sizeof si);
	printf("SIGCHLD via signalfd: n=%zd signo=%u pid_ok=%d\n", n, si.ssi_signo, (pid_t)si.ssi_pid == c);
	waitpid(c, &st, 0);
	printf("chld exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	close(cfd);

	printf("done failed=%d\n", failed);
	return 0;
}
