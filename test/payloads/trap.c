// trap: executes ud2 via __builtin_trap(). Must die of SIGILL (132).
#include <string.h>
#include <unistd.h>

int main(void) {
	const char *msg = "about to execute ud2\n";
	write(1, msg, strlen(msg));
	__builtin_trap();
}
