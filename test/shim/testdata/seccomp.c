// seccomp calls syscalls that seccomp profiles deny, restrict by argument
// or allow, and prints each result, so the output under km (whose monitor
// enforces linux.seccomp) can be compared with runc's (the kernel's filter).
//
//	seccomp default   containerd's default profile (ctr run --seccomp)
//	seccomp custom    test/shim/testdata/seccomp-custom.json
//	seccomp kill      a KILL_PROCESS syscall: killed by SIGSYS (159)
//	seccomp trap-blocked  a TRAP syscall with SIGSYS blocked: killed too
//	seccomp exec      after execve: the filter is still there
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static void show(const char *what, long r) {
	if (r == -1)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

#define TRY(call) show(#call, (long)(call))

static void status_lines(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Seccomp", 7))
			fputs(line, stdout);
	if (f)
		fclose(f);
}

static void restricted(void) {
	TRY(syscall(SYS_unshare, CLONE_NEWUSER));
	TRY(syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0));
	TRY(syscall(SYS_add_key, "user", "k", "v", 1, -2 /* KEY_SPEC_PROCESS_KEYRING */));
	TRY(syscall(SYS_request_key, "user", "k", 0, 0));
	TRY(syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
	TRY(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
	TRY(syscall(SYS_clone3, NULL, 0));
	TRY(mount("none", "/tmp", "tmpfs", 0, NULL));
	struct timespec ts = {1, 0};
	TRY(syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
	TRY(syscall(SYS_reboot, 0, 0, 0, 0));
	TRY(syscall(SYS_bpf, 0, 0, 0));
	TRY(syscall(1000));
	// The filter sees the kernel's 32-bit number; x32 calls (bit 30) are
	// filtered by the profile's x32 rules, and allowed ones fail (no x32).
	TRY(syscall(0x100000000L | SYS_keyctl, 1, 0));
	TRY(syscall(0x40000000 | SYS_keyctl, 1, 0));
	TRY(syscall(0x40000000 | SYS_getppid));
	TRY(prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("socket(AF_UNIX) %s\n", s >= 0 ? "ok" : strerrorname_np(errno));
	if (s >= 0)
		close(s);
	status_lines();
}

// in_child makes a filtered call in a forked child: the filter is inherited.
static void in_child(long nr) {
	pid_t pid = fork();
	if (pid == 0) {
		printf("child %s: ", nr == SYS_keyctl ? "keyctl" : "getsid");
		TRY(syscall(nr, 1, 0));
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child status %d\n", st);
}

static void on_sigsys(int sig, siginfo_t *si, void *ucv) {
	ucontext_t *uc = ucv;
	// si_call_addr is the address after the syscall instruction, where the
	// interrupted context resumes; rax still holds the syscall number.
	printf("SIGSYS: signo=%d code=%d errno=%d syscall=%d arch=%#x call_addr=rip:%d rax=%lld\n", sig, si->si_code,
	       si->si_errno, si->si_syscall, si->si_arch, si->si_call_addr == (void *)uc->uc_mcontext.gregs[REG_RIP],
	       (long long)uc->uc_mcontext.gregs[REG_RAX]);
}

static void *killed_thread(void *arg) {
	(void)arg;
	syscall(SYS_fadvise64, -1, 0, 0, 0); // KILL_THREAD: this thread ends here
	printf("thread survived\n");
	return NULL;
}

static void custom(void) {
	// ERRNO with a custom errno, an unconditional rule beside a conditional one.
	TRY(syscall(SYS_getsid, 0));
	TRY(syscall(SYS_getsid, 1));
	TRY(syscall(0x40000000 | SYS_getsid, 0));
	// Argument matching: EQ, AND of two arguments, MASKED_EQ, 64-bit GE,
	// two comparisons of one argument (runc: separate rules, ORed).
	TRY(syscall(SYS_personality, 0x0040000));
	TRY(syscall(SYS_lseek, 7, 0, 1));
	TRY(syscall(SYS_lseek, 7, 0, 2));
	TRY(syscall(SYS_lseek, 8, 0, 1));
	TRY(syscall(SYS_lseek, -1, 0, 0x13));
	TRY(syscall(SYS_dup, -5L));
	TRY(syscall(SYS_dup, 12345));
	TRY(syscall(SYS_fchdir, 100));
	TRY(syscall(SYS_fchdir, 101));
	TRY(syscall(SYS_fchdir, 102));
	TRY(syscall(SYS_umask, 01000));
	// TRACE without a tracer: ENOSYS.
	TRY(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
	// LOG: allowed.
	TRY(syscall(SYS_getpgid, 0) > 0);
	// TRAP: SIGSYS with the seccomp siginfo; the call returns its number.
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	TRY(syscall(SYS_getpriority, 0, 0));
	// KILL_THREAD in a second thread: only that thread ends.
	pthread_t th;
	pthread_create(&th, NULL, killed_thread, NULL);
	pthread_join(th, NULL);
	printf("joined\n");
	TRY(prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	in_child(SYS_getsid);
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "default";
	if (!strcmp(mode, "default")) {
		restricted();
		in_child(SYS_keyctl);
		fflush(stdout);
		execl("/seccomp", "seccomp", "exec", (char *)NULL);
		perror("execl");
		return 1;
	}
	if (!strcmp(mode, "exec")) {
		printf("after exec: ");
		TRY(syscall(SYS_keyctl, 1, 0));
		TRY(prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
		return 0;
	}
	if (!strcmp(mode, "custom")) {
		custom();
		return 0;
	}
	if (!strcmp(mode, "kill")) {
		printf("calling acct\n");
		fflush(stdout);
		syscall(SYS_acct, NULL);
		printf("survived acct\n");
		return 0;
	}
	if (!strcmp(mode, "trap-blocked")) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSYS);
		sigprocmask(SIG_BLOCK, &set, NULL);
		printf("calling getpriority with SIGSYS blocked\n");
		fflush(stdout);
		syscall(SYS_getpriority, 0, 0);
		printf("survived\n");
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
