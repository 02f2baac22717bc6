// vdso: the vDSO's clocks against the raw system calls. Calls the vDSO's
// __vdso_* functions directly (found through AT_SYSINFO_EHDR), so the test
// exercises the vDSO itself, not a libc fallback, and checks the libc
// entry points too. Prints only "ok"/"FAIL" lines.
#define _GNU_SOURCE
#include <elf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
#define THREADS 4
#define CALLS_PER_THREAD 250000 // 1e6 in all, at least
#define SPIN_NS 2500000000LL     // and long enough to span the monitor's clock updates

static int failed;

static void check(int ok, const char *what) {
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failed = 1;
}

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long sys_ns(clockid_t c) {
	struct timespec t;
	syscall(SYS_clock_gettime, c, &t);
	return ns(t);
}

// vdso_sym finds a dynamic symbol of the vDSO by name.
static void *vdso_sym(const char *name) {
	char *base = (char *)getauxval(AT_SYSINFO_EHDR);
	if (!base)
		return NULL;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)base;
	Elf64_Phdr *ph = (Elf64_Phdr *)(base + eh->e_phoff);
	char *load = NULL;
	Elf64_Dyn *dyn = NULL;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load)
			load = base + ph[i].p_offset - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (Elf64_Dyn *)(base + ph[i].p_offset);
	}
	if (!load || !dyn)
		return NULL;
	Elf64_Sym *sym = NULL;
	const char *str = NULL;
	Elf32_Word *hash = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			sym = (Elf64_Sym *)(load + dyn->d_un.d_ptr);
		if (dyn->d_tag == DT_STRTAB)
			str = load + dyn->d_un.d_ptr;
		if (dyn->d_tag == DT_HASH)
			hash = (Elf32_Word *)(load + dyn->d_un.d_ptr);
	}
	if (!sym || !str || !hash)
		return NULL;
	for (Elf32_Word i = 0; i < hash[1]; i++)
		if (sym[i].st_shndx != SHN_UNDEF && strcmp(str + sym[i].st_name, name) == 0)
			return load + sym[i].st_value;
	return NULL;
}

typedef int (*cgt_fn)(clockid_t, struct timespec *);
typedef int (*gtod_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);

static cgt_fn vcgt;
static _Atomic long long shared_max;
static int thread_bad;

static void *spin(void *arg) {
	(void)arg;
	long long last = 0, start = sys_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < CALLS_PER_THREAD || (i % 4096 != 0 || sys_ns(CLOCK_MONOTONIC) - start < SPIN_NS); i++) {
		long long seen = atomic_load(&shared_max); // some thread's read that completed before ours starts
		struct timespec t;
		if (vcgt(CLOCK_MONOTONIC, &t) != 0 || ns(t) < last || ns(t) < seen) {
			fprintf(stderr, "went back: call %d got %lld, after %lld (own) and %lld (any thread)\n", i, ns(t), last, seen); __atomic_store_n(&thread_bad, 1, __ATOMIC_RELAXED);
			break;
		}
		last = ns(t);
		long long m = atomic_load(&shared_max);
		while (m < last && !atomic_compare_exchange_weak(&shared_max, &m, last))
			;
	}
	return NULL;
}

// within: the vDSO value v lies between the syscall values around it, 1 ms of slack.
static int within(long long before, long long v, long long after) { return v >= before - MS && v <= after + MS; }

int main(void) {
	vcgt = (cgt_fn)vdso_sym("__vdso_clock_gettime");
	gtod_fn vgtod = (gtod_fn)vdso_sym("__vdso_gettimeofday");
	time_fn vtime = (time_fn)vdso_sym("__vdso_time");
	check(vcgt && vgtod && vtime && vdso_sym("__vdso_clock_getres") && vdso_sym("__vdso_getcpu"), "vdso symbols");
	if (!vcgt || !vgtod || !vtime)
		return 1;

	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int vdso = 0, vvar = 0;
	while (f && fgets(line, sizeof line, f)) {
		vdso |= strstr(line, "[vdso]") != NULL;
		vvar |= strstr(line, "[vvar]") != NULL;
	}
	if (f)
		fclose(f);
	check(vdso && vvar, "maps has [vdso] and [vvar]");

	clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID, CLOCK_MONOTONIC_RAW};
	const char *names[] = {"realtime", "monotonic", "boottime", "process-cputime", "monotonic-raw"};
	for (int c = 0; c < 5; c++) {
		int ok = 1, libc_ok = 1;
		for (int i = 0; i < 1000; i++) {
			struct timespec v, l;
			long long before = sys_ns(clocks[c]);
			ok &= vcgt(clocks[c], &v) == 0;
			libc_ok &= clock_gettime(clocks[c], &l) == 0;
			long long after = sys_ns(clocks[c]);
			ok &= within(before, ns(v), after);
			libc_ok &= within(before, ns(l), after);
		}
		char what[64];
		snprintf(what, sizeof what, "vdso %s agrees with the syscall", names[c]);
		check(ok, what);
		snprintf(what, sizeof what, "libc %s agrees with the syscall", names[c]);
		check(libc_ok, what);
	}
	int ok = 1;
	for (int i = 0; i < 100; i++) {
		struct timeval tv, ltv;
		long long before = sys_ns(CLOCK_REALTIME);
		ok &= vgtod(&tv, NULL) == 0 && gettimeofday(&ltv, NULL) == 0;
		time_t s = vtime(NULL), ls = time(NULL);
		long long after = sys_ns(CLOCK_REALTIME);
		ok &= within(before, tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL, after + 1000);
		ok &= within(before, ltv.tv_sec * 1000000000LL + ltv.tv_usec * 1000LL, after + 1000);
		// Linux's time() reads the coarse clock of the last tick, which
		// can still show the previous second just after a second begins.
		ok &= s + 1 >= before / 1000000000LL && s <= after / 1000000000LL + 1;
		ok &= ls + 1 >= before / 1000000000LL && ls <= after / 1000000000LL + 1;
	}
	check(ok, "gettimeofday and time agree with the syscall");
	struct timespec res;
	check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0, "clock_getres");

	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, spin, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	check(!thread_bad, "monotonic never decreases over >= 1e6 calls in 4 threads");
	struct timespec v;
	long long before = sys_ns(CLOCK_MONOTONIC);
	vcgt(CLOCK_MONOTONIC, &v);
	long long after = sys_ns(CLOCK_MONOTONIC);
	check(ns(v) >= atomic_load(&shared_max) && within(before, ns(v), after), "monotonic still agrees after the threads");
	printf("done failed=%d\n", failed);
	return failed;
}
