// POSIX timers: the siginfo a timer signal carries (SI_TIMER, si_timerid,
// si_value), SIGEV_THREAD_ID aimed at one thread, libc's SIGEV_THREAD
// callbacks, overruns while the signal is blocked, timer_gettime,
// TIMER_ABSTIME, SIGEV_NONE, and the EINVAL/EFAULT cases. Output lines say
// yes/no, never times, so native and km runs compare byte for byte.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#define SEV_TID_OFFSET 16 // sigev_notify_thread_id in struct sigevent (both libcs)

static int failed;
#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL: " __VA_ARGS__); printf("\n"); failed++; } } while (0)

static const char *yesno(int b) { return b ? "yes" : "no"; }

static const char *ename(int e) {
	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EPERM: return "EPERM";
	default: return strerror(e);
	}
}

// The raw syscalls, for the calls libc would dereference itself.
static int raw(long r) { return r < 0 ? errno : 0; }

static int kid(timer_t t) { return (int)(intptr_t)t; } // a non-SIGEV_THREAD timer_t is the kernel id

static volatile sig_atomic_t hits, hit_signo, hit_code, hit_tid, hit_overrun, hit_timerid;
static volatile intptr_t hit_value;

static void on_timer(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	hit_signo = sig;
	hit_code = si->si_code;
	hit_timerid = si->si_timerid;
	hit_overrun = si->si_overrun;
	hit_value = (intptr_t)si->si_value.sival_ptr;
	hit_tid = syscall(SYS_gettid);
	hits++;
}

static void handle(int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(sig, &sa, NULL);
}

static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

// wait_hits waits up to 5 s for the handler to have run n times.
static int wait_hits(int n) {
	for (int i = 0; i < 5000 && hits < n; i++)
		sleep_ms(1);
	return hits >= n;
}

static void arm(timer_t t, long value_ms, long interval_ms, int flags) {
	struct itimerspec its = {{interval_ms / 1000, (interval_ms % 1000) * 1000000},
				 {value_ms / 1000, (value_ms % 1000) * 1000000}};
	CHECK(timer_settime(t, flags, &its, NULL) == 0, "timer_settime: %s", strerror(errno));
}

static timer_t make(clockid_t clock, int notify, int signo, intptr_t value) {
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = notify;
	sev.sigev_signo = signo;
	sev.sigev_value.sival_ptr = (void *)value;
	timer_t t = 0;
	CHECK(timer_create(clock, &sev, &t) == 0, "timer_create: %s", strerror(errno));
	return t;
}

static void siginfo_values(void) {
	int sig = SIGRTMIN + 1;
	handle(sig);
	timer_t t = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, sig, 1234);
	hits = 0;
	arm(t, 5, 0, 0);
	int ok = wait_hits(1);
	printf("sival_int: fired=%s signo-ok=%s code=%s value=%d timerid-ok=%s overrun=%d\n", yesno(ok),
	       yesno(hit_signo == sig), hit_code == SI_TIMER ? "SI_TIMER" : "other", (int)hit_value,
	       yesno(hit_timerid == kid(t)), (int)hit_overrun);
	timer_delete(t);

	static int cookie;
	t = make(CLOCK_REALTIME, SIGEV_SIGNAL, sig, (intptr_t)&cookie);
	hits = 0;
	arm(t, 5, 0, 0);
	ok = wait_hits(1);
	printf("sival_ptr: fired=%s ptr-ok=%s code=%s\n", yesno(ok), yesno(hit_value == (intptr_t)&cookie),
	       hit_code == SI_TIMER ? "SI_TIMER" : "other");
	timer_delete(t);

	// No sigevent: SIGALRM, and si_value is the timer id. (The raw call:
	// glibc passes a sigevent of its own.)
	handle(SIGALRM);
	int id;
	CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &id) == 0, "timer_create NULL: %s", strerror(errno));
	hits = 0;
	struct itimerspec its = {{0, 0}, {0, 5000000}};
	syscall(SYS_timer_settime, id, 0, &its, NULL);
	ok = wait_hits(1);
	printf("default sigevent: fired=%s SIGALRM=%s code=%s value-is-id=%s\n", yesno(ok), yesno(hit_signo == SIGALRM),
	       hit_code == SI_TIMER ? "SI_TIMER" : "other", yesno(hit_value == id && hit_timerid == id));
	syscall(SYS_timer_delete, id);
}

static volatile int worker_stop;
static volatile pid_t worker_tid;

static void *worker(void *arg) {
	(void)arg;
	worker_tid = syscall(SYS_gettid);
	while (!worker_stop)
		sleep_ms(1);
	return NULL;
}

static void thread_id(void) {
	int sig = SIGRTMIN + 2;
	handle(sig);
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (!worker_tid)
		sleep_ms(1);
	// The main thread does not block sig either: a process-directed signal
	// would come here first.
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = 77;
	pid_t tid = worker_tid;
	memcpy((char *)&sev + SEV_TID_OFFSET, &tid, sizeof tid);
	timer_t t;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create THREAD_ID: %s", strerror(errno));
	hits = 0;
	arm(t, 3, 3, 0);
	int ok = wait_hits(3);
	printf("SIGEV_THREAD_ID: fired=%s on the target thread=%s value=%d\n", yesno(ok), yesno(hit_tid == worker_tid),
	       (int)hit_value);
	timer_delete(t);

	// The main thread by tid.
	tid = syscall(SYS_gettid);
	memcpy((char *)&sev + SEV_TID_OFFSET, &tid, sizeof tid);
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create THREAD_ID main: %s", strerror(errno));
	hits = 0;
	arm(t, 3, 0, 0);
	ok = wait_hits(1);
	printf("SIGEV_THREAD_ID main: fired=%s on main=%s\n", yesno(ok), yesno(hit_tid == tid));
	timer_delete(t);

	worker_stop = 1;
	pthread_join(th, NULL);
	// A thread that has exited is no target. pthread_join returns when the
	// tid word is cleared, a moment before the thread is gone: wait for that.
	tid = worker_tid;
	for (int i = 0; i < 5000 && syscall(SYS_tgkill, getpid(), tid, 0) == 0; i++)
		sleep_ms(1);
	memcpy((char *)&sev + SEV_TID_OFFSET, &tid, sizeof tid);
	errno = 0;
	int r = timer_create(CLOCK_MONOTONIC, &sev, &t);
	printf("SIGEV_THREAD_ID exited thread: %s\n", ename(r ? errno : 0));
}

static sem_t cb_sem;
static volatile int cb_value;

static void callback(union sigval v) {
	cb_value = v.sival_int;
	printf("SIGEV_THREAD callback: value=%d\n", v.sival_int);
	sem_post(&cb_sem);
}

static void sigev_thread(void) {
	sem_init(&cb_sem, 0, 0);
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = callback;
	sev.sigev_value.sival_int = 4242;
	timer_t t;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create SIGEV_THREAD: %s", strerror(errno));
	arm(t, 5, 0, 0);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	int r;
	while ((r = sem_timedwait(&cb_sem, &dl)) != 0 && errno == EINTR) {
	}
	printf("SIGEV_THREAD: waited=%s value=%d\n", yesno(r == 0), cb_value);
	fflush(stdout);
	timer_delete(t);
}

static void overrun(void) {
	int sig = SIGRTMIN + 3;
	handle(sig);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, NULL);
	timer_t t = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, sig, 5);
	arm(t, 2, 2, 0);
	sleep_ms(60);
	siginfo_t si;
	int got = sigwaitinfo(&set, &si);
	int ov = timer_getoverrun(t);
	printf("overrun: sigwaitinfo=%s code=%s si_overrun>0=%s timer_getoverrun>0=%s\n", yesno(got == sig),
	       si.si_code == SI_TIMER ? "SI_TIMER" : "other", yesno(si.si_overrun > 0), yesno(ov > 0));
	// Deleting the timer takes its queued signal with it.
	timer_delete(t);
	sigset_t pend;
	sleep_ms(5);
	sigpending(&pend);
	printf("overrun: pending after delete=%s\n", yesno(sigismember(&pend, sig)));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void gettime(void) {
	timer_t t = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 4, 0);
	handle(SIGRTMIN + 4);
	struct itimerspec cur;
	memset(&cur, 0xff, sizeof cur);
	int r = timer_gettime(t, &cur);
	printf("gettime disarmed: r=%d value=%ld.%09ld interval=%ld.%09ld\n", r, (long)cur.it_value.tv_sec,
	       cur.it_value.tv_nsec, (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
	arm(t, 10000, 1500, 0);
	timer_gettime(t, &cur);
	int in_range = cur.it_value.tv_sec < 10 || (cur.it_value.tv_sec == 10 && cur.it_value.tv_nsec == 0);
	printf("gettime armed: value in (9s,10s]=%s interval=%ld.%09ld\n", yesno(in_range && cur.it_value.tv_sec >= 9),
	       (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
	struct itimerspec zero, old;
	memset(&zero, 0, sizeof zero);
	timer_settime(t, 0, &zero, &old);
	printf("settime old: interval=%ld.%09ld value>0=%s\n", (long)old.it_interval.tv_sec, old.it_interval.tv_nsec,
	       yesno(old.it_value.tv_sec > 0 || old.it_value.tv_nsec > 0));
	timer_gettime(t, &cur);
	printf("gettime after disarm: value=%ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	timer_delete(t);

	// SIGEV_NONE: no signal (signo unchecked), but time still runs out.
	t = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	arm(t, 20000, 0, 0);
	timer_gettime(t, &cur);
	printf("SIGEV_NONE armed: value>0=%s\n", yesno(cur.it_value.tv_sec > 0));
	arm(t, 1, 0, 0);
	sleep_ms(20);
	timer_gettime(t, &cur);
	printf("SIGEV_NONE expired: value=%ld.%09ld overrun=%d\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec,
	       timer_getoverrun(t));
	timer_delete(t);
}

static void abstime(void) {
	int sig = SIGRTMIN + 5;
	handle(sig);
	clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
	const char *names[] = {"MONOTONIC", "REALTIME", "BOOTTIME"};
	for (int i = 0; i < 3; i++) {
		timer_t t = make(clocks[i], SIGEV_SIGNAL, sig, i);
		struct timespec now;
		clock_gettime(clocks[i], &now);
		struct itimerspec its = {{0, 0}, {now.tv_sec, now.tv_nsec + 10 * 1000000}};
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000;
		}
		hits = 0;
		CHECK(timer_settime(t, TIMER_ABSTIME, &its, NULL) == 0, "abstime settime: %s", strerror(errno));
		struct itimerspec cur;
		timer_gettime(t, &cur);
		int relative = cur.it_value.tv_sec == 0; // gettime reports the time left, not the absolute time
		int ok = wait_hits(1);
		// An absolute time in the past fires at once.
		its.it_value.tv_sec -= 100;
		hits = 0;
		timer_settime(t, TIMER_ABSTIME, &its, NULL);
		int past = wait_hits(1);
		printf("TIMER_ABSTIME %s: fired=%s relative gettime=%s past fires=%s value=%d\n", names[i], yesno(ok),
		       yesno(relative), yesno(past), (int)hit_value);
		timer_delete(t);
	}
}

// CPU-time clocks: the timer fires after CPU time is spent (a busy loop).
static void cpu_clocks(void) {
	int sig = SIGRTMIN + 6;
	handle(sig);
	clockid_t clocks[] = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID};
	const char *names[] = {"PROCESS_CPUTIME", "THREAD_CPUTIME"};
	for (int i = 0; i < 2; i++) {
		timer_t t = make(clocks[i], SIGEV_SIGNAL, sig, 50 + i);
		struct itimerspec cur;
		arm(t, 10000, 0, 0);
		timer_gettime(t, &cur);
		int in_range = cur.it_value.tv_sec == 9 || (cur.it_value.tv_sec == 10 && cur.it_value.tv_nsec == 0);
		hits = 0;
		arm(t, 20, 0, 0);
		struct timespec start, now;
		clock_gettime(CLOCK_MONOTONIC, &start);
		do {
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (!hits && now.tv_sec - start.tv_sec < 10);
		printf("%s timer: gettime in (9s,10s]=%s fired=%s code=%s value=%d on this thread=%s\n", names[i],
		       yesno(in_range), yesno(hits), hit_code == SI_TIMER ? "SI_TIMER" : "other", (int)hit_value,
		       yesno(hit_tid == syscall(SYS_gettid)));
		timer_delete(t);
	}
}

// A fork child has none of its parent's timers; execve deletes the
// process's timers (the child makes one, then execs itself with its id).
static void fork_exec(void) {
	timer_t t = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	arm(t, 10000, 0, 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct itimerspec cur;
		_exit(syscall(SYS_timer_gettime, kid(t), &cur) == 0 ? 1 : errno == EINVAL ? 0 : 2);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	printf("fork child has no timers: %s\n", yesno(WIFEXITED(st) && WEXITSTATUS(st) == 0));
	timer_delete(t);

	pid = fork();
	if (pid == 0) {
		timer_t c = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
		arm(c, 10000, 0, 0);
		char id[16];
		snprintf(id, sizeof id, "%d", kid(c));
		execl("/proc/self/exe", "timers", "afterexec", id, (char *)NULL);
		_exit(3);
	}
	waitpid(pid, &st, 0);
	printf("timers gone after execve: %s\n", yesno(WIFEXITED(st) && WEXITSTATUS(st) == 0));
}

static void errors(void) {
	timer_t t;
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;

	errno = 0;
	printf("bad clock: %s\n", ename(timer_create(12345, &sev, &t) ? errno : 0));
	printf("MONOTONIC_RAW clock: %s\n", ename(timer_create(CLOCK_MONOTONIC_RAW, &sev, &t) ? errno : 0));
	printf("REALTIME_COARSE clock: %s\n", ename(timer_create(CLOCK_REALTIME_COARSE, &sev, &t) ? errno : 0));
	// EOPNOTSUPP without an RTC, EPERM without CAP_WAKE_ALARM, else a timer.
	printf("REALTIME_ALARM clock: %s\n", ename(timer_create(CLOCK_REALTIME_ALARM, &sev, &t) ? errno : 0));
	printf("BOOTTIME_ALARM clock: %s\n", ename(timer_create(CLOCK_BOOTTIME_ALARM, &sev, &t) ? errno : 0));
	sev.sigev_signo = 0;
	printf("signo 0: %s\n", ename(timer_create(CLOCK_MONOTONIC, &sev, &t) ? errno : 0));
	sev.sigev_signo = 65;
	printf("signo 65: %s\n", ename(timer_create(CLOCK_MONOTONIC, &sev, &t) ? errno : 0));
	sev.sigev_signo = SIGRTMIN;
	sev.sigev_notify = 99;
	printf("notify 99: %s\n", ename(raw(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &t))));
	sev.sigev_notify = SIGEV_THREAD_ID;
	pid_t tid = 1; // init: not a thread of this process
	memcpy((char *)&sev + SEV_TID_OFFSET, &tid, sizeof tid);
	printf("tid 1: %s\n", ename(timer_create(CLOCK_MONOTONIC, &sev, &t) ? errno : 0));
	tid = -5;
	memcpy((char *)&sev + SEV_TID_OFFSET, &tid, sizeof tid);
	printf("tid -5: %s\n", ename(timer_create(CLOCK_MONOTONIC, &sev, &t) ? errno : 0));

	// Bad timer ids.
	struct itimerspec its = {{0, 0}, {1, 0}}, cur;
	printf("settime bad id: %s\n", ename(raw(syscall(SYS_timer_settime, 12345, 0, &its, NULL))));
	printf("gettime bad id: %s\n", ename(raw(syscall(SYS_timer_gettime, 12345, &cur))));
	printf("getoverrun bad id: %s\n", ename(raw(syscall(SYS_timer_getoverrun, 12345))));
	printf("delete bad id: %s\n", ename(raw(syscall(SYS_timer_delete, 12345))));
	printf("delete -1: %s\n", ename(raw(syscall(SYS_timer_delete, -1))));

	int id;
	sev.sigev_notify = SIGEV_SIGNAL;
	CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) == 0, "raw timer_create: %s", strerror(errno));
	// Bad itimerspecs and pointers.
	struct itimerspec bad = {{0, 0}, {0, 1000000000}};
	printf("settime nsec 1e9: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, &bad, NULL))));
	bad.it_value.tv_nsec = 0;
	bad.it_value.tv_sec = -1;
	printf("settime sec -1: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, &bad, NULL))));
	bad.it_value.tv_sec = 1;
	bad.it_interval.tv_nsec = -1;
	printf("settime interval nsec -1: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, &bad, NULL))));
	struct itimerspec huge = {{0, 0}, {0x7fffffffffffffffL, 999999999}};
	printf("settime huge: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, &huge, NULL))));
	printf("settime huge abstime: %s\n", ename(raw(syscall(SYS_timer_settime, id, TIMER_ABSTIME, &huge, NULL))));
	printf("settime NULL: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, NULL, NULL))));
	printf("settime bad new: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, (void *)8, NULL))));
	printf("settime bad old: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, &its, (void *)8))));
	printf("gettime bad ptr: %s\n", ename(raw(syscall(SYS_timer_gettime, id, (void *)8))));
	printf("gettime NULL: %s\n", ename(raw(syscall(SYS_timer_gettime, id, NULL))));
	printf("delete: %s\n", ename(raw(syscall(SYS_timer_delete, id))));
	printf("delete again: %s\n", ename(raw(syscall(SYS_timer_delete, id))));
	printf("settime deleted: %s\n", ename(raw(syscall(SYS_timer_settime, id, 0, &its, NULL))));

	printf("create bad sevp: %s\n", ename(raw(syscall(SYS_timer_create, CLOCK_MONOTONIC, (void *)8, &id))));
	printf("create bad id ptr: %s\n", ename(raw(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, (void *)8))));
	printf("create NULL id ptr: %s\n", ename(raw(syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, NULL))));
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "afterexec") == 0) {
		struct itimerspec cur;
		return syscall(SYS_timer_gettime, atoi(argv[2]), &cur) == 0 ? 1 : errno == EINVAL ? 0 : 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	siginfo_values();
	thread_id();
	sigev_thread();
	overrun();
	gettime();
	abstime();
	cpu_clocks();
	fork_exec();
	errors();
	printf("done failed=%d\n", failed);
	return failed != 0;
}
