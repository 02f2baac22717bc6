// tls: single-threaded thread-local storage. Reads the initial values of
// initialised (.tdata) and zeroed (.tbss) __thread variables, writes them,
// and checks that the thread pointer (%fs base) is where libc and the kernel
// (arch_prctl ARCH_GET_FS) say it is.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003 // <asm/prctl.h> is not available to musl-gcc
#endif

static __thread int counter = 7;
static __thread char greeting[32] = "tls says hi";
static __thread long zeroed;
static __thread long big_zero[512];
static __thread __attribute__((aligned(64))) long aligned64 = 64;

static int failed;

static void check(int ok, const char *what) {
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failed = 1;
}

// bump is noinline so the compiler really goes through the TLS access path.
__attribute__((noinline)) static int bump(int by) {
	counter += by;
	return counter;
}

int main(void) {
	printf("counter=%d greeting=[%s] zeroed=%ld aligned64=%ld\n", counter, greeting, zeroed, aligned64);
	int allzero = 1;
	for (int i = 0; i < 512; i++)
		allzero &= big_zero[i] == 0;
	check(allzero, "tbss zeroed");
	check(((uintptr_t)&aligned64 & 63) == 0, "aligned(64) honoured");

	for (int i = 1; i <= 10; i++)
		bump(i);
	strcpy(greeting, "changed");
	zeroed = -1;
	for (int i = 0; i < 512; i++)
		big_zero[i] = i;
	long s = 0;
	for (int i = 0; i < 512; i++)
		s += big_zero[i];
	printf("counter=%d greeting=[%s] zeroed=%ld big sum=%ld\n", counter, greeting, zeroed, s);

	// On x86-64 the word at %fs:0 points to itself (TCB self pointer).
	uintptr_t self;
	__asm__("mov %%fs:0, %0" : "=r"(self));
	uintptr_t tp = (uintptr_t)__builtin_thread_pointer();
	check(self == tp, "fs:0 self pointer");
	unsigned long fs = 0;
	long rc = syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	check(rc == 0 && fs == tp, "arch_prctl(ARCH_GET_FS) == thread pointer");
	// Variant II TLS: static TLS blocks sit below the thread pointer.
	check((uintptr_t)&counter < tp && tp - (uintptr_t)&counter < (1 << 20), "TLS block below thread pointer");
	return failed;
}
