// uname: process/system sanity; prints only deterministic facts.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static int failed;

static void check(int ok, const char *what) {
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failed = 1;
}

int main(void) {
	struct utsname u;
	if (uname(&u) != 0) {
		printf("FAIL: uname\n");
		return 1;
	}
	printf("sysname=%s\n", u.sysname);
	printf("machine=%s\n", u.machine);
	check(strcmp(u.sysname, "Linux") == 0, "sysname is Linux");
	check(strcmp(u.machine, "x86_64") == 0, "machine is x86_64");
	check(u.release[0] != 0, "release non-empty");

	pid_t pid = getpid();
	check(pid > 0, "getpid > 0");
	check(getpid() == pid, "getpid stable");
	check((pid_t)syscall(SYS_gettid) == pid, "gettid == getpid");
	check(getppid() >= 0, "getppid >= 0");
	check(sysconf(_SC_PAGESIZE) == 4096, "pagesize 4096");

	char buf[16];
	memset(buf, 0, sizeof buf);
	long n = syscall(SYS_getrandom, buf, sizeof buf, 0);
	int nonzero = 0;
	for (unsigned i = 0; i < sizeof buf; i++)
		nonzero |= buf[i];
	check(n == (long)sizeof buf && nonzero, "getrandom");
	return failed;
}
