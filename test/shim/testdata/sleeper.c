// sleeper: prints one line, then sleeps until signalled (or for argv[1] s).
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
	printf("sleeping\n");
	fflush(stdout);
	int n = argc > 1 ? atoi(argv[1]) : 3600;
	for (int i = 0; i < n; i++)
		sleep(1);
	return 0;
}
