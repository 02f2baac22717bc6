// sysloop MODE N: makes N system calls and prints the mean cost in ns.
// MODE getpid: answered by km with no host work (the minimal trap round trip).
// MODE getppid: km forwards it to the host (a proxied syscall).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: sysloop getpid|getppid N\n");
		return 2;
	}
	long nr = strcmp(argv[1], "getppid") == 0 ? SYS_getppid : SYS_getpid;
	long n = atol(argv[2]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(nr);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
