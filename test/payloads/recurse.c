// recurse: recursion 100000 deep with a 64-byte frame (about 6.1 MiB of
// stack, within the usual 8 MiB). Prints a deterministic result.
#include <stdio.h>
#include <stdlib.h>

// rec keeps a small array live across the recursive call so that the call
// is not a tail call and each frame really occupies stack.
__attribute__((noinline)) static unsigned long rec(unsigned long n) {
	volatile unsigned char pad[40];
	pad[n % 40] = (unsigned char)n;
	if (n == 0)
		return 1;
	unsigned long r = rec(n - 1);
	return r * 31 + pad[n % 40];
}

int main(int argc, char **argv) {
	unsigned long depth = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	printf("depth %lu result %016lx\n", depth, rec(depth));
	return 0;
}
