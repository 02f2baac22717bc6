// Signal delivery: handlers, siginfo, masks, alternate stacks, SIGSEGV
// recovery with siglongjmp, sigsuspend, sigtimedwait, SA_RESETHAND,
// interrupted blocking calls with and without SA_RESTART, FPU state kept
// across a handler, and timers.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got, gotcode, onalt, depth;
static volatile void *gotaddr;
static char altbuf[1 << 16];
static sigjmp_buf jb;

static void on_usr1(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	got = sig;
	gotcode = si->si_code;
	char probe;
	onalt = (&probe >= altbuf && &probe < altbuf + sizeof altbuf);
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)sig; (void)uc;
	gotaddr = si->si_addr;
	siglongjmp(jb, 1);
}

static void on_count(int sig) { (void)sig; got++; }

static void on_nested(int sig) {
	(void)sig;
	depth++;
	if (depth < 3) raise(SIGUSR2); // SA_NODEFER: nests
}

static void on_fpu(int sig) {
	(void)sig;
	volatile double x = 1.0;
	for (int i = 0; i < 100; i++) x = x * 3.7 + 0.1;
	got = x > 0;
}

static int pipefd[2];

static void *reader(void *arg) {
	(void)arg;
	char c;
	ssize_t n = read(pipefd[0], &c, 1);
	int e = errno;
	printf("reader: read=%zd errno=%s\n", n, n < 0 ? strerror(e) : "-");
	return NULL;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);

	// 1. A handler with siginfo, on the alternate stack.
	stack_t ss = {.ss_sp = altbuf, .ss_size = sizeof altbuf};
	if (sigaltstack(&ss, NULL)) perror("sigaltstack");
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	kill(getpid(), SIGUSR1);
	printf("kill: sig=%d code=%d onalt=%d\n", got, gotcode, onalt);
	got = 0;
	raise(SIGUSR1);
	printf("raise: sig=%d code=%d\n", got, gotcode);

	// 2. Blocked signals stay pending until unblocked.
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	got = 0;
	raise(SIGUSR1);
	sigset_t pend;
	sigpending(&pend);
	printf("blocked: got=%d pending=%d\n", got, sigismember(&pend, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("unblocked: got=%d\n", got);

	// 3. SIGSEGV handler recovering with siglongjmp, twice.
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	for (int i = 0; i < 2; i++) {
		if (sigsetjmp(jb, 1) == 0) {
			*(volatile int *)(uintptr_t)(16 + i * 8) = 1;
			printf("not reached\n");
		} else {
			printf("segv recovered: addr=%p\n", (void *)gotaddr);
		}
	}

	// 4. sigsuspend and sigtimedwait.
	sa.sa_handler = on_count;
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, &old);
	got = 0;
	raise(SIGUSR2);
	sigset_t none;
	sigemptyset(&none);
	int r = sigsuspend(&none);
	printf("sigsuspend: r=%d errno=%s got=%d\n", r, strerror(errno), got);
	raise(SIGUSR2);
	siginfo_t si;
	r = sigwaitinfo(&set, &si);
	printf("sigwaitinfo: r=%d signo=%d got=%d\n", r, si.si_signo, got);
	struct timespec ts = {0, 20 * 1000 * 1000};
	r = sigtimedwait(&set, &si, &ts);
	printf("sigtimedwait timeout: r=%d errno=%s\n", r, strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);

	// 5. SA_RESETHAND and SA_NODEFER.
	sa.sa_handler = on_nested;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	printf("nodefer depth=%d\n", depth);
	sa.sa_handler = on_count;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGUSR2, &sa, NULL);
	got = 0;
	raise(SIGUSR2);
	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	printf("resethand: got=%d now_default=%d\n", got, cur.sa_handler == SIG_DFL);

	// 6. A handler that uses the FPU does not disturb the interrupted code.
	sa.sa_handler = on_fpu;
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);
	volatile double acc = 0.5;
	for (int i = 0; i < 1000; i++) {
		acc = acc * 1.0001 + 0.25;
		if (i == 500) raise(SIGUSR2);
	}
	printf("fpu: acc=%.6f handler=%d\n", acc, got);

	// 7. A thread blocked in read(2) is interrupted: without SA_RESTART the
	// read fails with EINTR; with it, the read continues and gets the byte.
	pipe(pipefd);
	for (int restart = 0; restart < 2; restart++) {
		sa.sa_handler = on_count;
		sa.sa_flags = restart ? SA_RESTART : 0;
		sigaction(SIGUSR2, &sa, NULL);
		pthread_t th;
		pthread_create(&th, NULL, reader, NULL);
		usleep(50 * 1000);
		got = 0;
		pthread_kill(th, SIGUSR2);
		usleep(50 * 1000);
		if (restart) write(pipefd[1], "x", 1);
		pthread_join(th, NULL);
		printf("restart=%d handler ran=%d\n", restart, got);
	}

	// 8. Timers: setitimer and alarm raise SIGALRM; nanosleep is interrupted.
	sa.sa_handler = on_count;
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	got = 0;
	struct itimerval it = {{0, 10000}, {0, 10000}};
	setitimer(ITIMER_REAL, &it, NULL);
	while (got < 3) pause();
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	printf("itimer: fired>=3 %d\n", got >= 3);
	got = 0;
	alarm(1);
	struct timespec longsleep = {5, 0}, rem;
	r = nanosleep(&longsleep, &rem);
	printf("alarm: nanosleep=%d errno=%s got=%d rem>=3s=%d\n", r, strerror(errno), got, rem.tv_sec >= 3);

	// 9. SIGTERM with the default action ends the process: 143.
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
	printf("not reached\n");
	return 0;
}
