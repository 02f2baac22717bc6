// catter: copies stdin to stdout, then prints how many bytes it saw.
#include <stdio.h>
#include <unistd.h>

int main(void) {
	char buf[4096];
	long total = 0;
	ssize_t n;
	while ((n = read(0, buf, sizeof buf)) > 0) {
		write(1, buf, n);
		total += n;
	}
	printf("bytes=%ld\n", total);
	return 0;
}
