// hello: the smallest payload. Prints exactly "hello, world\n" and exits 0.
#include <stdio.h>

int main(void) {
	printf("hello, world\n");
	return 0;
}
