// pause: the pod sandbox's process. Sleeps in pause() until SIGTERM or
// SIGINT, then exits 0 (what Kubernetes' pause image does, minus reaping:
// a km guest has no children to reap).
#include <signal.h>
#include <unistd.h>

static void done(int sig) {
	(void)sig;
	_exit(0);
}

int main(void) {
	signal(SIGTERM, done);
	signal(SIGINT, done);
	for (;;)
		pause();
}
