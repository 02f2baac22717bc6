// app: the CRI test's container program.
//   app hello N CODE  prints N numbered lines (and $KM_CRI) on stdout, one
//                     line on stderr, exits CODE
//   app term CODE     prints "ready", waits; on SIGTERM prints "got SIGTERM"
//                     and exits CODE
//   app sleep         prints "ready", waits with no handler (SIGTERM kills it)
//   app ident         prints its uid and gid and whether it can create a file
//   app cat FILE...   prints each file (or why it cannot be read)
//   app write FILE T  writes line T to FILE, prints the outcome
//   app serve PORT    listens on 127.0.0.1:PORT, prints "listening", and
//                     answers every connection with one line
//   app connect PORT  connects to 127.0.0.1:PORT and prints what it reads
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int term_code;

static void on_term(int sig) {
	(void)sig;
	static const char msg[] = "got SIGTERM\n";
	write(1, msg, sizeof msg - 1);
	_exit(term_code);
}

static struct sockaddr_in loopback(const char *port) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int serve(const char *port) {
	struct sockaddr_in a = loopback(port);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		static const char msg[] = "hello from the pod\n";
		write(c, msg, sizeof msg - 1);
		close(c);
	}
}

static int connect_to(const char *port) {
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 1;
	}
	char buf[256];
	ssize_t n = read(s, buf, sizeof buf);
	if (n <= 0) {
		printf("read: %s\n", n < 0 ? strerror(errno) : "EOF");
		return 1;
	}
	fwrite(buf, 1, n, stdout);
	return 0;
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
	if (argc >= 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "connect") == 0)
		return connect_to(argv[2]);
	fprintf(stderr, "usage: app hello N CODE | term CODE | sleep | ident | cat FILE... | write FILE T | serve PORT | connect PORT\n");
	return 2;
}
