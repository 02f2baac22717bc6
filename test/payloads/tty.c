// tty: terminal ioctls on a pseudo-terminal pair: posix_openpt, grantpt,
// unlockpt (TIOCSPTLCK), ptsname (TIOCGPTN), TIOCGPTPEER, tcgetattr and
// tcsetattr (TCGETS/TCSETS*), window size (TIOCGWINSZ/TIOCSWINSZ), FIONREAD,
// tcflush (TCFLSH), isatty and the errors of non-terminals. Needs /dev/ptmx
// and /dev/pts (run it without --root). Output is deterministic (no pty
// numbers).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif

static const char *errname(int e) {
	switch (e) {
	case 0: return "0";
	case EBADF: return "EBADF";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EIO: return "EIO";
	default: return "other";
	}
}

#define ERR(what, call)                                                          \
	do {                                                                     \
		errno = 0;                                                       \
		long r_ = (long)(call);                                          \
		printf("%s: %s\n", what, r_ == -1 ? errname(errno) : "succeeded"); \
	} while (0)

static const char *yes(int b) { return b ? "yes" : "no"; }

int main(void) {
	int failed = 0;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0) {
		printf("FAIL posix_openpt: %s\n", errname(errno));
		return 1;
	}
	int g = grantpt(m), u0 = unlockpt(m);
	printf("grantpt: %d unlockpt: %d\n", g, u0);
	int n = -1;
	int r = ioctl(m, TIOCGPTN, &n);
	printf("TIOCGPTN: %d number>=0: %s\n", r, yes(n >= 0));
	char *name = ptsname(m);
	printf("ptsname: %s\n", yes(name && strncmp(name, "/dev/pts/", 9) == 0));

	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	printf("TIOCGPTPEER: fd>=0 %s cloexec=%s", yes(s >= 0), yes(fcntl(s, F_GETFD) & FD_CLOEXEC));
	printf(" isatty=%d\n", isatty(s));
	int s2 = open(name, O_RDWR | O_NOCTTY);
	printf("open slave by name: %s cloexec=%s\n", yes(s2 >= 0), yes(fcntl(s2, F_GETFD) & FD_CLOEXEC));

	struct termios t;
	r = tcgetattr(s, &t);
	printf("tcgetattr: %d echo=%s icanon=%s\n", r, yes(t.c_lflag & ECHO), yes(t.c_lflag & ICANON));
	cfmakeraw(&t);
	printf("tcsetattr raw: %d\n", tcsetattr(s, TCSANOW, &t));
	struct termios u;
	tcgetattr(s2, &u);
	printf("raw through the other fd: echo=%s icanon=%s\n", yes(u.c_lflag & ECHO), yes(u.c_lflag & ICANON));
	t.c_lflag |= ECHO | ICANON;
	r = tcsetattr(s, TCSADRAIN, &t);
	printf("tcsetattr TCSADRAIN: %d", r);
	r = tcsetattr(s, TCSAFLUSH, &t);
	printf(" TCSAFLUSH: %d\n", r);
	cfsetospeed(&t, B9600);
	r = tcsetattr(s, TCSANOW, &t);
	printf("cfsetospeed+tcsetattr: %d speed=%s\n", r, yes(tcgetattr(s2, &u) == 0 && cfgetospeed(&u) == B9600));

	struct winsize ws = {.ws_row = 33, .ws_col = 111}, got = {0};
	printf("TIOCSWINSZ: %d\n", ioctl(m, TIOCSWINSZ, &ws));
	r = ioctl(s, TIOCGWINSZ, &got);
	printf("TIOCGWINSZ: %d rows=%d cols=%d\n", r, got.ws_row, got.ws_col);

	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	printf("write to master: %d\n", (int)write(m, "typed", 5));
	int avail = -1;
	for (int i = 0; i < 1000 && avail < 5; i++) { // the line discipline works asynchronously
		ioctl(s, FIONREAD, &avail);
		if (avail < 5)
			usleep(1000);
	}
	printf("FIONREAD on slave: %d\n", avail);
	printf("tcflush: %d\n", tcflush(s, TCIFLUSH));
	ioctl(s, FIONREAD, &avail);
	printf("FIONREAD after flush: %d\n", avail);
	printf("write to slave: %d\n", (int)write(s, "out", 3));
	char b[16] = {0};
	r = 0;
	for (int i = 0; i < 1000 && r < 3; i++) {
		int k = read(m, b + r, sizeof b - 1 - r);
		if (k > 0)
			r += k;
	}
	printf("master read: %d [%s]\n", r, b);

	int p[2];
	pipe(p);
	errno = 0;
	r = isatty(p[0]);
	printf("isatty(pipe): %d errno=%s\n", r, errname(errno));
	ERR("tcgetattr on a pipe", tcgetattr(p[0], &u));
	ERR("TIOCGWINSZ on a pipe", ioctl(p[0], TIOCGWINSZ, &got));
	ERR("TIOCGWINSZ bad pointer", ioctl(s, TIOCGWINSZ, (void *)8));
	ERR("TCGETS bad pointer", ioctl(s, TCGETS, (void *)8));
	ERR("TIOCGPGRP without a controlling tty", ioctl(s, TIOCGPGRP, &n));
	ERR("tcgetattr on a closed fd", tcgetattr(99, &u));
	printf("done failed=%d\n", failed);
	return failed;
}
