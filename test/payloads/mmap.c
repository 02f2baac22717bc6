// mmap: memory management stress. Maps and unmaps anonymous regions of many
// sizes, grows and shrinks with mremap, grows the heap with brk, discards
// pages with madvise and flips protections with mprotect. In total it touches
// well over 1 GiB but never keeps more than about 300 MiB mapped at once.
// Everything printed is a deterministic checksum or count.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KiB (1024UL)
#define MiB (1024UL * KiB)
#define STRIDE 512 // one 8-byte word written every STRIDE bytes

static int failed;
static uint64_t touched; // bytes of fresh memory written

static void fail(const char *what) {
	printf("FAIL: %s (errno=%d)\n", what, errno);
	failed = 1;
}

static uint64_t mix(uint64_t x) {
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

// fill writes a pattern derived from seed over [p, p+len) and returns its sum.
static uint64_t fill(unsigned char *p, size_t len, uint64_t seed) {
	uint64_t sum = 0;
	for (size_t off = 0; off + 8 <= len; off += STRIDE) {
		uint64_t v = mix(seed + off);
		memcpy(p + off, &v, 8);
		sum += v;
	}
	touched += len;
	return sum;
}

// sum reads back the words written by fill.
static uint64_t sum(const unsigned char *p, size_t len) {
	uint64_t s = 0;
	for (size_t off = 0; off + 8 <= len; off += STRIDE) {
		uint64_t v;
		memcpy(&v, p + off, 8);
		s += v;
	}
	return s;
}

static int all_zero(const unsigned char *p, size_t len) {
	for (size_t off = 0; off < len; off += 64)
		if (p[off])
			return 0;
	return 1;
}

static void *map(size_t len) {
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fail("mmap");
		return NULL;
	}
	if (!all_zero(p, len))
		fail("fresh mapping is not zeroed");
	return p;
}

// churn maps, fills, verifies and unmaps regions of various sizes, keeping at
// most `slots` regions of up to 128 MiB alive at once.
static void churn(void) {
	static const size_t sizes[] = {4 * KiB, 12 * KiB, 64 * KiB, 1 * MiB, 3 * MiB + 4 * KiB, 16 * MiB, 64 * MiB, 128 * MiB};
	enum { NSIZES = sizeof sizes / sizeof sizes[0], SLOTS = 2 };
	struct {
		unsigned char *p;
		size_t len;
		uint64_t sum;
	} live[SLOTS] = {{0}};
	uint64_t total = 0;
	int maps = 0;
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < NSIZES; i++) {
			int slot = (round * NSIZES + i) % SLOTS;
			if (live[slot].p) {
				if (sum(live[slot].p, live[slot].len) != live[slot].sum)
					fail("region checksum changed");
				if (munmap(live[slot].p, live[slot].len) != 0)
					fail("munmap");
			}
			size_t len = sizes[(i + round) % NSIZES];
			unsigned char *p = map(len);
			if (!p)
				return;
			live[slot].p = p;
			live[slot].len = len;
			live[slot].sum = fill(p, len, (uint64_t)round << 32 | i);
			total += live[slot].sum;
			maps++;
		}
	}
	for (int s = 0; s < SLOTS; s++)
		if (live[s].p) {
			if (sum(live[s].p, live[s].len) != live[s].sum)
				fail("region checksum changed");
			munmap(live[s].p, live[s].len);
		}
	printf("churn: %d mappings, checksum %016llx\n", maps, (unsigned long long)total);

	// Many small mappings alive at once, unmapped in a different order.
	enum { SMALL = 2000 };
	static unsigned char *small[SMALL];
	uint64_t ssum = 0;
	for (int i = 0; i < SMALL; i++) {
		small[i] = map(4 * KiB * (1 + i % 4));
		if (!small[i])
			return;
		ssum += fill(small[i], 4 * KiB, 1000 + i);
	}
	uint64_t check = 0;
	for (int i = 0; i < SMALL; i += 2) {
		check += sum(small[i], 4 * KiB);
		munmap(small[i], 4 * KiB * (1 + i % 4));
	}
	for (int i = 1; i < SMALL; i += 2) {
		check += sum(small[i], 4 * KiB);
		munmap(small[i], 4 * KiB * (1 + i % 4));
	}
	printf("small: %d mappings, checksum %016llx match=%d\n", SMALL, (unsigned long long)ssum, ssum == check);
	if (ssum != check)
		fail("small mapping checksums differ");
}

static void remap(void) {
	size_t len = 8 * MiB;
	unsigned char *p = map(len);
	if (!p)
		return;
	uint64_t s = fill(p, len, 77);
	unsigned char *q = mremap(p, len, 32 * MiB, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		fail("mremap grow");
		return;
	}
	int kept = sum(q, len) == s;
	int tail_zero = all_zero(q + len, 24 * MiB);
	uint64_t s2 = fill(q + len, 24 * MiB, 78);
	uint64_t head = sum(q, 4 * MiB);
	unsigned char *r = mremap(q, 32 * MiB, 4 * MiB, 0);
	if (r == MAP_FAILED) {
		fail("mremap shrink");
		return;
	}
	int shrunk_kept = r == q && sum(r, 4 * MiB) == head;
	printf("mremap: grow kept=%d tail zero=%d tail sum %016llx shrink in place=%d\n", kept, tail_zero,
	       (unsigned long long)s2, shrunk_kept);
	if (!kept || !tail_zero || !shrunk_kept)
		fail("mremap semantics");
	munmap(r, 4 * MiB);
}

static void heap(void) {
	uintptr_t base = (uintptr_t)syscall(SYS_brk, 0);
	uintptr_t cur = base;
	uint64_t s = 0;
	int steps = 0;
	// Grow in 1 MiB steps up to 64 MiB, touching each new piece.
	for (int i = 0; i < 64; i++) {
		uintptr_t want = cur + MiB;
		uintptr_t got = (uintptr_t)syscall(SYS_brk, want);
		if (got != want) {
			fail("brk grow");
			break;
		}
		s += fill((unsigned char *)cur, MiB, 5000 + i);
		cur = got;
		steps++;
	}
	uint64_t check = sum((unsigned char *)base, cur - base);
	// Shrink back, then grow again: the memory must come back zeroed.
	uintptr_t mid = base + 32 * MiB;
	int shrunk = (uintptr_t)syscall(SYS_brk, mid) == mid;
	int regrown = (uintptr_t)syscall(SYS_brk, cur) == cur;
	int zero = all_zero((unsigned char *)mid, cur - mid);
	int restored = (uintptr_t)syscall(SYS_brk, base) == base;
	printf("brk: %d steps, checksum %016llx match=%d shrink=%d regrow=%d regrown zero=%d restore=%d\n", steps,
	       (unsigned long long)s, s == check, shrunk, regrown, zero, restored);
	if (s != check || !shrunk || !regrown || !zero || !restored)
		fail("brk semantics");
}

static void advise(void) {
	size_t len = 16 * MiB;
	unsigned char *p = map(len);
	if (!p)
		return;
	fill(p, len, 900);
	int rc1 = madvise(p, len, MADV_WILLNEED);
	int rc2 = madvise(p, len / 2, MADV_DONTNEED);
	int zero = all_zero(p, len / 2);
	uint64_t rest = sum(p + len / 2, len / 2);
	int rc3 = madvise(p, len, MADV_NORMAL);
	printf("madvise: willneed=%d dontneed=%d dontneed zeroes=%d rest %016llx normal=%d\n", rc1, rc2, zero,
	       (unsigned long long)rest, rc3);
	if (rc1 || rc2 || rc3 || !zero)
		fail("madvise semantics");
	munmap(p, len);
}

static void protect(void) {
	size_t len = 1 * MiB;
	unsigned char *p = map(len);
	if (!p)
		return;
	uint64_t s = fill(p, len, 4242);
	int rc1 = mprotect(p, len, PROT_READ);
	int same = sum(p, len) == s;
	int rc2 = mprotect(p, len, PROT_READ | PROT_WRITE);
	p[0] = 1;
	// Partial unmap in the middle leaves two usable halves.
	int rc3 = munmap(p + 256 * KiB, 256 * KiB);
	p[len - 1] = 2;
	printf("mprotect: ro=%d readable=%d rw=%d hole=%d ends=%d,%d\n", rc1, same, rc2, rc3, p[0], p[len - 1]);
	if (rc1 || rc2 || rc3 || !same)
		fail("mprotect semantics");
	munmap(p, 256 * KiB);
	munmap(p + 512 * KiB, 512 * KiB);
	errno = 0;
	void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap len 0: failed=%d EINVAL=%d\n", bad == MAP_FAILED, errno == EINVAL);
}

int main(void) {
	printf("mmap payload\n");
	fflush(stdout);
	heap(); // first, before malloc may have moved the break any further
	churn();
	remap();
	advise();
	protect();
	printf("touched >= 1 GiB: %s\n", touched >= 1024 * MiB ? "yes" : "no");
	if (touched < 1024 * MiB)
		fail("touched less than 1 GiB");
	printf("done failed=%d\n", failed);
	return failed;
}
