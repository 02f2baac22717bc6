/* forkthreads: fork from a parent whose other threads keep running.
 *
 * What Linux guarantees (checked natively by the same program): fork
 * write-protects the parent's pages and flushes its TLB before the child
 * exists, and a thread that stores to a write-protected page waits in the
 * page fault until fork is done. So the child's memory is the parent's at
 * one instant: each other thread's stores appear up to some point of its
 * program order and none after, and what one thread saw of another's
 * memory is there too. It is NOT a quiescent state: a thread stopped in the
 * middle of a multi-word update leaves the update half done in the child
 * (which is why pthread_atfork exists).
 *
 * Writers: each owns NPAGES pages holding NWORDS counters, one per cache
 * line, and in a tight loop stores its counter c into them in ascending
 * order, then c+1. A point-in-time image reads c...c, c-1...c-1: never
 * ascending, never more than 1 apart. A copy made while the writer runs
 * (a memcpy of memory that is being written) shows later values at higher
 * addresses. Each writer also notes, before its pass, the last counter of
 * the previous writer's region: in a point-in-time image that note is
 * never ahead of the region it was read from.
 *
 * Meanwhile: a thread holds a mutex while blocked in read (the child finds
 * the mutex held; the reader later gets its byte, undisturbed by the forks),
 * one waits on a condition variable, one in sigwaitinfo, one creates and
 * joins threads (clone and thread exit racing fork), and a second thread
 * forks too (two forks at once). pthread_atfork handlers count. Last,
 * execve and exit_group race forks from other threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NWRITERS 3
#define NPAGES 16 /* per writer: copying them takes long enough to catch a copy in the act */
#define PAGE 4096
#define STRIDE (64 / 8) /* one counter per cache line */
#define NWORDS (NPAGES * PAGE / 64)
#define NFORKS 50   /* by the main thread */
#define NFORKS2 20  /* by the second forker */

static int failed;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL line %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); failed++; } } while (0)

struct page {
	volatile uint64_t w[NWORDS * STRIDE]; /* w[i*STRIDE] are the counters */
}; /* one writer's region */
/* The previous writer's last counter, as seen before a pass: the second
 * word of the first cache line, stored before the pass's counters. */
#define NOTE(pg) ((pg)->w[1])

static struct page *pages;
static volatile int stop;

static void *writer(void *arg) {
	long k = (long)arg;
	struct page *pg = &pages[k], *prev = k > 0 ? &pages[k - 1] : NULL;
	for (uint64_t c = 1; !stop; c++) {
		if (prev)
			NOTE(pg) = prev->w[(NWORDS - 1) * STRIDE];
		for (int i = 0; i < NWORDS; i++)
			pg->w[i * STRIDE] = c;
	}
	return NULL;
}

/* checkImage returns 0 if the writers' pages are a point-in-time image, or
 * writes why not to fd 1 and returns 1. */
static int checkImage(const char *who) {
	for (int k = 0; k < NWRITERS; k++) {
		struct page *pg = &pages[k];
		uint64_t first = pg->w[0];
		for (int i = 1; i < NWORDS; i++) {
			uint64_t v = pg->w[i * STRIDE], before = pg->w[(i - 1) * STRIDE];
			if (v > before || first - v > 1) {
				dprintf(1, "FAIL %s: writer %d region not point-in-time: word %d = %llu after %llu (first %llu)\n",
					who, k, i, (unsigned long long)v, (unsigned long long)before, (unsigned long long)first);
				return 1;
			}
		}
		if (k > 0 && NOTE(pg) > pages[k - 1].w[(NWORDS - 1) * STRIDE]) {
			dprintf(1, "FAIL %s: writer %d saw %llu of writer %d, whose region holds %llu\n", who, k,
				(unsigned long long)NOTE(pg), k - 1, (unsigned long long)pages[k - 1].w[(NWORDS - 1) * STRIDE]);
			return 1;
		}
	}
	return 0;
}

/* A mutex held by a thread blocked in read. */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static int holderPipe[2], holderReady[2];
static char holderGot;
static ssize_t holderRead;
static int holderErrno;

static void *holder(void *arg) {
	pthread_mutex_lock(&held);
	write(holderReady[1], "r", 1);
	holderRead = read(holderPipe[0], &holderGot, 1);
	holderErrno = errno;
	pthread_mutex_unlock(&held);
	return NULL;
}

/* A thread waiting on a condition variable (futex wait). */
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cvalue, cwaiting;

static void *condWaiter(void *arg) {
	pthread_mutex_lock(&cmu);
	cwaiting = 1;
	while (cvalue == 0)
		pthread_cond_wait(&cv, &cmu);
	int v = cvalue;
	pthread_mutex_unlock(&cmu);
	return (void *)(long)v;
}

/* A thread in sigwaitinfo (SIGUSR1 is blocked everywhere). */
static void *sigWaiter(void *arg) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	siginfo_t si;
	int r = sigwaitinfo(&set, &si);
	/* The signal number and si_code (glibc's pthread_kill queues with
	 * SI_USER through rt_tgsigqueueinfo, musl's uses tgkill: SI_TKILL). */
	return (void *)(long)(r < 0 ? -errno : r * 100 - si.si_code);
}

/* Creates and joins short-lived threads until told to stop. */
static volatile long churned;
static void *echo(void *arg) { return arg; }
static void *churner(void *arg) {
	for (long i = 1; !stop; i++) {
		pthread_t t;
		void *r;
		if (pthread_create(&t, NULL, echo, (void *)i) != 0)
			return (void *)1L;
		pthread_join(t, &r);
		if ((long)r != i)
			return (void *)2L;
		churned = i;
	}
	return NULL;
}

static volatile int atforkPrepare, atforkParent, atforkChild;
static void prepare(void) { __atomic_add_fetch(&atforkPrepare, 1, __ATOMIC_SEQ_CST); }
static void parent(void) { __atomic_add_fetch(&atforkParent, 1, __ATOMIC_SEQ_CST); }
static void child(void) { atforkChild++; }

/* Fields the forking thread wrote just before fork. */
static volatile long token, token2;

static void *echoChild(void *arg) { return (void *)((long)arg + 1); }

/* runChild is the child's side: check the image, then that the child is a
 * working threaded process of its own. */
static void runChild(const char *who, long want, volatile long *tok, int childBefore) {
	int bad = checkImage(who);
	if (*tok != want) {
		dprintf(1, "FAIL %s: own store before fork lost: %ld, want %ld\n", who, *tok, want);
		bad = 1;
	}
	if (pthread_mutex_trylock(&held) != EBUSY) {
		dprintf(1, "FAIL %s: the mutex another thread held is free in the child\n", who);
		bad = 1;
	}
	if (atforkChild != childBefore + 1) {
		dprintf(1, "FAIL %s: atfork child handler ran %d times\n", who, atforkChild - childBefore);
		bad = 1;
	}
	/* Nobody writes the pages in the child. */
	uint64_t w0 = pages[0].w[0];
	usleep(1000);
	if (pages[0].w[0] != w0) {
		dprintf(1, "FAIL %s: a writer thread runs in the child\n", who);
		bad = 1;
	}
	pthread_t t;
	void *r = NULL;
	if (pthread_create(&t, NULL, echoChild, (void *)41L) != 0 || pthread_join(t, &r) != 0 || (long)r != 42) {
		dprintf(1, "FAIL %s: a thread in the child returned %ld\n", who, (long)r);
		bad = 1;
	}
	_exit(bad);
}

static int forkAndCheck(const char *who, long n, volatile long *tok) {
	*tok = n;
	int childBefore = atforkChild;
	pid_t pid = fork();
	if (pid == 0)
		runChild(who, n, tok, childBefore);
	if (pid < 0) {
		printf("FAIL %s: fork: %s\n", who, strerror(errno));
		return 0;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int ok2;
static void *secondForker(void *arg) {
	for (long i = 0; i < NFORKS2; i++)
		ok2 += forkAndCheck("second forker", 1000 + i, &token2);
	return NULL;
}

/* Races that end the process while forks go on: a thread execs, or calls
 * exit_group, while another forks in a loop and others spin. Each runs in
 * a child process of its own; its status is printed. */
static void *forkLoop(void *arg) {
	for (;;) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	return NULL;
}

static void *spinner(void *arg) {
	for (volatile long n = 0;; n++)
		;
	return NULL;
}

static void race(const char *what, const char *self) {
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, forkLoop, NULL);
		pthread_create(&t, NULL, forkLoop, NULL);
		pthread_create(&t, NULL, spinner, NULL);
		usleep(30000);
		if (strcmp(what, "execve") == 0) {
			char *argv[] = {(char *)self, "exit", NULL};
			execv(self, argv);
			_exit(99);
		}
		exit(3);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("%s racing forks: %s %d\n", what, WIFEXITED(st) ? "exit" : "signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		return 7; /* the program the execve race runs */
	setvbuf(stdout, NULL, _IONBF, 0);
	pages = mmap(NULL, NWRITERS * sizeof(struct page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pages != MAP_FAILED, "mmap: %s", strerror(errno));
	pthread_atfork(prepare, parent, child);

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);

	pipe(holderPipe);
	pipe(holderReady);
	pthread_t w[NWRITERS], hold, cw, sw, churn, f2;
	for (long k = 0; k < NWRITERS; k++)
		pthread_create(&w[k], NULL, writer, (void *)k);
	pthread_create(&hold, NULL, holder, NULL);
	char c;
	read(holderReady[0], &c, 1);
	pthread_create(&cw, NULL, condWaiter, NULL);
	pthread_create(&sw, NULL, sigWaiter, NULL);
	pthread_create(&churn, NULL, churner, NULL);
	while (!__atomic_load_n(&cwaiting, __ATOMIC_SEQ_CST) || pages[NWRITERS - 1].w[0] == 0)
		usleep(1000);

	pthread_create(&f2, NULL, secondForker, NULL);
	int ok = 0;
	for (long i = 0; i < NFORKS; i++)
		ok += forkAndCheck("main", i + 1, &token);
	pthread_join(f2, NULL);
	printf("children with a point-in-time image: %d/%d from main, %d/%d from a second thread\n", ok, NFORKS, ok2, NFORKS2);
	printf("atfork handlers: prepare %d parent %d\n", atforkPrepare, atforkParent);

	/* The parent's threads went on through every fork (each gets a few
	 * seconds to show it: the machine may be busy). */
	int moving = 1;
	for (int k = 0; k < NWRITERS; k++) {
		uint64_t before = pages[k].w[0];
		for (int i = 0; pages[k].w[0] == before && i < 5000; i++)
			usleep(1000);
		moving &= pages[k].w[0] != before;
	}
	CHECK(moving, "a writer stopped after the forks");
	long churnedBefore = churned;
	for (int i = 0; churned == churnedBefore && i < 5000; i++)
		usleep(1000);
	CHECK(churned != churnedBefore, "the thread churner stopped after the forks");
	stop = 1;
	for (int k = 0; k < NWRITERS; k++)
		pthread_join(w[k], NULL);
	void *r;
	pthread_join(churn, &r);
	printf("writers and churner ran on: %s (churner result %ld)\n", moving && churned != churnedBefore ? "yes" : "no", (long)r);

	write(holderPipe[1], "x", 1);
	pthread_join(hold, NULL);
	printf("blocked reader: read %zd [%c] errno %s\n", holderRead, holderRead == 1 ? holderGot : '-',
		holderRead == 1 ? "-" : strerror(holderErrno));
	pthread_mutex_lock(&cmu);
	cvalue = 42;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cmu);
	pthread_join(cw, &r);
	printf("condition waiter got %ld\n", (long)r);
	pthread_kill(sw, SIGUSR1);
	pthread_join(sw, &r);
	printf("sigwaitinfo thread: signal %ld si_code %ld\n", (long)r / 100, -((long)r % 100));

	race("execve", "/proc/self/exe");
	race("exit_group", NULL);

	printf("done failed=%d\n", failed + (ok != NFORKS) + (ok2 != NFORKS2));
	return failed != 0 || ok != NFORKS || ok2 != NFORKS2;
}
