// divzero: integer division by zero. Must die of SIGFPE (136).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

volatile int numerator = 1;
volatile int denominator = 0;

int main(void) {
	const char *msg = "about to divide by zero\n";
	write(1, msg, strlen(msg));
	int q = numerator / denominator;
	printf("quotient %d\n", q);
	return 0;
}
