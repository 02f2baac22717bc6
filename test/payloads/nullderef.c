// nullderef: writes a line, then stores through a NULL pointer. Must die of
// SIGSEGV (exit status 139 under km).
#include <string.h>
#include <unistd.h>

int *volatile nullp; // volatile so the compiler cannot prove it is NULL

int main(void) {
	const char *msg = "about to dereference NULL\n";
	write(1, msg, strlen(msg));
	*nullp = 42;
	write(1, "still alive\n", 12);
	return 0;
}
