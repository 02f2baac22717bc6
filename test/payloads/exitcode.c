// exitcode: exits with the status given as argv[1] (default 0).
// Prints one line first so stdout is exercised too.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	int code = argc > 1 ? atoi(argv[1]) : 0;
	printf("exiting with %d\n", code);
	fflush(stdout);
	exit(code);
}
