// clock: time sources. Prints only "ok"/"FAIL" lines because the values
// themselves are not deterministic.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failed;

static void check(int ok, const char *what) {
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failed = 1;
}

static long long ns(struct timespec t) {
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
	struct timespec a, b, res;
	int mono_ok = clock_gettime(CLOCK_MONOTONIC, &a) == 0;
	int nondecreasing = 1;
	for (int i = 0; i < 1000; i++) {
		mono_ok &= clock_gettime(CLOCK_MONOTONIC, &b) == 0;
		nondecreasing &= ns(b) >= ns(a);
		a = b;
	}
	check(mono_ok, "clock_gettime(CLOCK_MONOTONIC)");
	check(nondecreasing, "monotonic clock never goes back");
	check(a.tv_nsec >= 0 && a.tv_nsec < 1000000000L, "tv_nsec in range");

	struct timespec start, end, req = {0, 20 * 1000 * 1000}; // 20 ms
	clock_gettime(CLOCK_MONOTONIC, &start);
	int slept = nanosleep(&req, NULL) == 0;
	clock_gettime(CLOCK_MONOTONIC, &end);
	long long d = ns(end) - ns(start);
	check(slept, "nanosleep");
	check(d >= 20 * 1000 * 1000LL, "monotonic advanced by >= 20ms across nanosleep");
	check(d < 10 * 1000 * 1000 * 1000LL, "nanosleep(20ms) took < 10s");

	clock_gettime(CLOCK_MONOTONIC, &start);
	struct timespec req2 = {0, 5 * 1000 * 1000};
	int cn = clock_nanosleep(CLOCK_MONOTONIC, 0, &req2, NULL) == 0;
	clock_gettime(CLOCK_MONOTONIC, &end);
	check(cn && ns(end) - ns(start) >= 5 * 1000 * 1000LL, "clock_nanosleep(5ms)");

	check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(res) > 0 && ns(res) <= 1000000LL, "clock_getres(CLOCK_MONOTONIC)");

	time_t t = time(NULL);
	check(t > 1700000000, "time() plausible");
	long raw = syscall(SYS_time, NULL);
	check(raw > 1700000000 && raw - t < 60, "raw time syscall plausible");

	struct timeval tv;
	check(gettimeofday(&tv, NULL) == 0, "gettimeofday");
	check(tv.tv_sec >= t && tv.tv_sec - t < 60, "gettimeofday agrees with time()");
	check(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "tv_usec in range");

	struct timespec rt;
	check(clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec >= t && rt.tv_sec - t < 60, "CLOCK_REALTIME agrees with time()");

	struct timespec cpu;
	check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0 && ns(cpu) >= 0, "CLOCK_PROCESS_CPUTIME_ID");
	return failed;
}
