// km's vDSO: clock_gettime, gettimeofday and time computed in the guest
// from rdtsc and a data page the monitor keeps up to date (vvar), so these
// calls do not exit the VM. Built by build.sh into vdso.so, which km embeds.
//
// The data page sits one page below this image's ELF header. Layout must
// match vvar* offsets in runtime/vdso.go.
#include <stdint.h>
#include <stddef.h>

struct timespec_k { int64_t tv_sec; int64_t tv_nsec; };
struct timeval_k { int64_t tv_sec; int64_t tv_usec; };

struct vvar {
	volatile uint32_t seq;  // odd while the monitor writes
	uint32_t enabled;       // 0: every call falls back to the syscall
	uint64_t tsc_base;      // guest TSC at which mono_ns/mono_frac hold
	uint64_t mono_ns;       // CLOCK_MONOTONIC at tsc_base, ns ...
	uint64_t mono_frac;     // ... plus this many 2^-32 ns
	uint64_t mult;          // ns per TSC tick, times 2^32, for TSC >= tsc_base
	uint64_t prev_mult;     // the same for TSC < tsc_base (the previous rate)
	int64_t realtime_off;   // CLOCK_REALTIME - CLOCK_MONOTONIC, ns
	int64_t boottime_off;   // CLOCK_BOOTTIME - CLOCK_MONOTONIC, ns
};

extern const char __ehdr_start[] __attribute__((visibility("hidden")));

#define PAGE 4096
#define NSEC 1000000000LL

enum { CLK_REALTIME = 0, CLK_MONOTONIC = 1, CLK_REALTIME_COARSE = 5, CLK_MONOTONIC_COARSE = 6, CLK_BOOTTIME = 7 };
enum { NR_gettimeofday = 96, NR_time = 201, NR_clock_gettime = 228, NR_clock_getres = 229, NR_getcpu = 309 };

// vvar hides the page's origin from the compiler (it derives from a const
// object, whose loads it would otherwise hoist or sink past the seqlock's
// barriers) and makes every field access volatile, so loads stay in order.
static inline const volatile struct vvar *vvar(void) {
	const char *p = __ehdr_start - PAGE;
	__asm__("" : "+r"(p));
	return (const volatile struct vvar *)p;
}

static inline long sys3(long nr, long a, long b, long c) {
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

static inline uint64_t rdtsc_ordered(void) {
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((uint64_t)hi << 32) | lo;
}

// mono returns CLOCK_MONOTONIC in ns and the offset for clock id, or
// returns 0 when the data page is not usable.
static int mono(int64_t *ns, int64_t *off, int clk) {
	const volatile struct vvar *v = vvar();
	uint32_t s;
	int64_t r, o;
	do {
		s = v->seq;
		if (s & 1) {
			__asm__ volatile("pause");
			continue;
		}
		__asm__ volatile("" ::: "memory");
		if (!v->enabled)
			return 0;
		int64_t delta = (int64_t)(rdtsc_ordered() - v->tsc_base);
		uint64_t m = delta < 0 ? v->prev_mult : v->mult;
		__int128 f = (__int128)delta * (__int128)m + (__int128)v->mono_frac;
		r = (int64_t)v->mono_ns + (int64_t)(f >> 32);
		o = clk == CLK_BOOTTIME ? v->boottime_off : (clk == CLK_MONOTONIC || clk == CLK_MONOTONIC_COARSE) ? 0 : v->realtime_off;
		__asm__ volatile("" ::: "memory");
	} while ((s & 1) || v->seq != s);
	*ns = r;
	*off = o;
	return 1;
}

static int handled(long clk) {
	return clk == CLK_REALTIME || clk == CLK_MONOTONIC || clk == CLK_REALTIME_COARSE ||
	       clk == CLK_MONOTONIC_COARSE || clk == CLK_BOOTTIME;
}

int __vdso_clock_gettime(long clk, struct timespec_k *ts) {
	int64_t ns, off;
	if (!handled(clk) || !mono(&ns, &off, (int)clk))
		return sys3(NR_clock_gettime, clk, (long)ts, 0);
	ns += off;
	ts->tv_sec = ns / NSEC;
	ts->tv_nsec = ns % NSEC;
	return 0;
}

int __vdso_gettimeofday(struct timeval_k *tv, void *tz) {
	int64_t ns, off;
	if (tz || !mono(&ns, &off, CLK_REALTIME))
		return sys3(NR_gettimeofday, (long)tv, (long)tz, 0);
	if (tv) {
		ns += off;
		tv->tv_sec = ns / NSEC;
		tv->tv_usec = ns % NSEC / 1000;
	}
	return 0;
}

long __vdso_time(long *t) {
	int64_t ns, off;
	if (!mono(&ns, &off, CLK_REALTIME))
		return sys3(NR_time, (long)t, 0, 0);
	long s = (ns + off) / NSEC;
	if (t)
		*t = s;
	return s;
}

int __vdso_clock_getres(long clk, struct timespec_k *res) {
	if (!handled(clk) || clk == CLK_REALTIME_COARSE || clk == CLK_MONOTONIC_COARSE)
		return sys3(NR_clock_getres, clk, (long)res, 0);
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = 1;
	}
	return 0;
}

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache) {
	return sys3(NR_getcpu, (long)cpu, (long)node, (long)cache);
}

int clock_gettime(long, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_k *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
