// waitsig: prints "ready", then waits for signals sent from outside.
// With argument "handle" it catches SIGTERM, SIGINT, SIGHUP, SIGUSR1 and
// SIGWINCH, printing each; SIGTERM ends it with status 0 after its handler
// ran. Without arguments every signal takes its default action.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t last, done;


static void on_sig(int sig) {
	last = sig;
	if (sig == SIGTERM) done = 1;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "handle") == 0) {
		// The handled signals are blocked except inside sigsuspend, so
		// none arrives between the check of `last` and the wait.
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_sig;
		sigset_t set, old;
		sigemptyset(&set);
		int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGWINCH};
		for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
			sigaction(sigs[i], &sa, NULL);
			sigaddset(&set, sigs[i]);
		}
		sigprocmask(SIG_BLOCK, &set, &old);
		printf("ready\n");
		while (!done) {
			sigsuspend(&old);
			printf("caught %d\n", (int)last);
		}
		printf("clean exit\n");
		return 0;
	}
	printf("ready\n");
	for (;;) {
		char c;
		// Blocked in a host read until a signal ends the process.
		if (read(0, &c, 1) == 0) pause();
	}
}
