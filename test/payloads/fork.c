/* fork, wait4 status codes (exit and signal), pipes between parent and
 * child, waitid, vfork+_exit, fork from a multithreaded parent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int failed;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL line %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); failed++; } } while (0)

static int global = 7;

static void exit_codes(void) {
	int codes[] = {0, 1, 42, 255};
	for (int i = 0; i < 4; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			global = 99; /* the parent's copy must not change */
			_exit(codes[i]);
		}
		CHECK(pid > 0, "fork: %s", strerror(errno));
		int st = 0;
		pid_t w = wait4(pid, &st, 0, NULL);
		CHECK(w == pid, "wait4 returned %d", w);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == codes[i], "status %#x for code %d", st, codes[i]);
		printf("child exit %d: WIFEXITED=%d WEXITSTATUS=%d\n", codes[i], WIFEXITED(st), WEXITSTATUS(st));
	}
	CHECK(global == 7, "parent memory changed by child: %d", global);
}

static void signals(void) {
	pid_t pid = fork();
	if (pid == 0) {
		*(volatile int *)0 = 1; /* SIGSEGV */
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("child segv: WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);

	pid = fork();
	if (pid == 0) {
		abort();
	}
	waitpid(pid, &st, 0);
	printf("child abort: WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);

	/* A child that waits in read until the parent kills it. */
	int p[2];
	pipe(p);
	pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1);
		_exit(5);
	}
	close(p[0]);
	CHECK(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
	waitpid(pid, &st, 0);
	close(p[1]);
	printf("child killed: WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	CHECK(kill(pid, 0) == -1 && errno == ESRCH, "kill of a reaped child: %s", strerror(errno));

	/* SIGTERM with the default action, sent once the child is running. */
	pipe(p);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		write(p[1], "r", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	char c;
	read(p[0], &c, 1);
	close(p[0]);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	printf("child terminated: WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int count_fds(void) {
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void pipes(void) {
	int down[2], up[2];
	CHECK(pipe(down) == 0 && pipe(up) == 0, "pipe");
	int parent_fds = count_fds();
	pid_t pid = fork();
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		/* Only the guest's own descriptors, nothing of the monitor's
		 * (printed before the reply, which lets the parent go on). */
		char line[64];
		int len = snprintf(line, sizeof line, "child open fds: parent's - 2: %s\n",
				   count_fds() == parent_fds - 2 ? "yes" : "no");
		write(1, line, len);
		char buf[64];
		ssize_t n = read(down[0], buf, sizeof buf);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
		write(up[1], buf, n);
		CHECK(getppid() > 1, "getppid");
		_exit(getpid() == pid ? 1 : 0); /* pid is 0 in the child */
	}
	close(down[0]);
	close(up[1]);
	write(down[1], "hello child", 11);
	close(down[1]);
	char buf[64] = {0};
	ssize_t n = read(up[0], buf, sizeof buf - 1);
	printf("pipe round trip: %zd [%s]\n", n, buf);
	char c;
	CHECK(read(up[0], &c, 1) == 0, "EOF after the child exits");
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	close(up[0]);
}

static void waitid_test(void) {
	pid_t pid = fork();
	if (pid == 0)
		_exit(17);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PID, pid, &si, WEXITED) == 0, "waitid: %s", strerror(errno));
	printf("waitid: code=%s status=%d pid-ok=%d\n", si.si_code == CLD_EXITED ? "CLD_EXITED" : "?", si.si_status, si.si_pid == pid);
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no children left");
}

/* A MAP_SHARED file mapping stays shared with the child: its stores are
 * seen by the parent, a private mapping's are not. */
static void shared_mapping(void) {
	char name[] = "km-fork-shared-XXXXXX"; /* in the working directory */
	int fd = mkstemp(name);
	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	if (fd < 0)
		return;
	unlink(name);
	ftruncate(fd, 8192);
	volatile int *sh = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	volatile int *pr = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile int *an = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED && pr != MAP_FAILED && an != MAP_FAILED, "mmap");
	if (sh == MAP_FAILED || pr == MAP_FAILED || an == MAP_FAILED)
		return;
	CHECK(an[0] == 0 && an[2047] == 0, "fresh shared anonymous memory is zero");
	close(fd);
	sh[0] = 1;
	sh[1024] = 2;
	pr[0] = 3;
	pid_t pid = fork();
	if (pid == 0) {
		an[5] = 44;
		_exit(sh[0] == 1 && sh[1024] == 2 && pr[0] == 3 ? (sh[0] = 41, sh[1024] = 42, pr[0] = 43, 0) : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("shared mapping: child %d, parent sees %d %d, private %d, anonymous %d\n", WEXITSTATUS(st), sh[0], sh[1024],
	       pr[0], an[5]);
}

static void vfork_test(void) {
	pid_t pid = vfork();
	if (pid == 0)
		_exit(9);
	int st;
	waitpid(pid, &st, 0);
	printf("vfork: exit %d\n", WEXITSTATUS(st));
}

static void *spin(void *arg) {
	volatile long *n = arg;
	for (;;) {
		(*n)++;
		usleep(1000);
	}
	return NULL;
}

static void threaded(void) {
	static long counter;
	pthread_t th;
	pthread_create(&th, NULL, spin, &counter);
	usleep(5000);
	pid_t pid = fork();
	if (pid == 0) {
		/* Only the forking thread exists in the child. */
		long before = counter;
		usleep(20000);
		_exit(counter == before ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("fork with threads: child exit %d\n", WEXITSTATUS(st));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
	exit_codes();
	signals();
	pipes();
	waitid_test();
	shared_mapping();
	vfork_test();
	threaded();
	printf("done failed=%d\n", failed);
	return failed != 0;
}
