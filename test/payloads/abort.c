// abort: calls abort(). Must die of SIGABRT (134).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
	const char *msg = "about to abort\n";
	write(1, msg, strlen(msg));
	abort();
}
