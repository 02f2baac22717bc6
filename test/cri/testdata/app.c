// app: the CRI test's container program.
//   app hello N CODE  prints N numbered lines (and $KM_CRI) on stdout, one
//                     line on stderr, exits CODE
//   app term CODE     prints "ready", waits; on SIGTERM prints "got SIGTERM"
//                     and exits CODE
//   app sleep         prints "ready", waits with no handler (SIGTERM kills it)
//   app ident         prints its uid and gid and whether it can create a file
//   app cat FILE...   prints each file (or why it cannot be read)
//   app write FILE T  writes line T to FILE, prints the outcome
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int term_code;

static void on_term(int sig) {
	(void)sig;
	static const char msg[] = "got SIGTERM\n";
	write(1, msg, sizeof msg - 1);
	_exit(term_code);
}

static void wait_forever(void) {
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv) {
	if (argc >= 4 && strcmp(argv[1], "hello") == 0) {
		int n = atoi(argv[2]);
		const char *v = getenv("KM_CRI");
		for (int i = 1; i <= n; i++)
			printf("line %d\n", i);
		printf("KM_CRI=%s\n", v ? v : "(unset)");
		fflush(stdout);
		fprintf(stderr, "to stderr\n");
		return atoi(argv[3]);
	}
	if (argc >= 3 && strcmp(argv[1], "term") == 0) {
		term_code = atoi(argv[2]);
		signal(SIGTERM, on_term);
		wait_forever();
	}
	if (argc >= 2 && strcmp(argv[1], "sleep") == 0)
		wait_forever();
	if (argc >= 2 && strcmp(argv[1], "ident") == 0) {
		printf("uid=%d gid=%d\n", (int)getuid(), (int)getgid());
		int fd = open("/tmp/probe", O_WRONLY | O_CREAT, 0644);
		printf("create /tmp/probe: %s\n", fd < 0 ? strerror(errno) : "ok");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "cat") == 0) {
		for (int i = 2; i < argc; i++) {
			printf("== %s\n", argv[i]);
			FILE *f = fopen(argv[i], "r");
			if (!f) {
				printf("%s\n", strerror(errno));
				continue;
			}
			char buf[4096];
			size_t n;
			while ((n = fread(buf, 1, sizeof buf, f)) > 0)
				fwrite(buf, 1, n, stdout);
			fclose(f);
		}
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "write") == 0) {
		FILE *f = fopen(argv[2], "w");
		if (!f || fprintf(f, "%s\n", argv[3]) < 0 || fclose(f) != 0) {
			printf("write %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		printf("write %s: ok\n", argv[2]);
		return 0;
	}
	fprintf(stderr, "usage: app hello N CODE | term CODE | sleep | ident | cat FILE... | write FILE T\n");
	return 2;
}
