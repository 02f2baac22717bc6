// nosys: calls a syscall number that does not exist. Linux answers ENOSYS;
// km must do the same, except under --strict where it is fatal.
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
	errno = 0;
	long rc = syscall(1000, 1, 2, 3);
	printf("syscall(1000) = %ld, ENOSYS: %s\n", rc, errno == ENOSYS ? "yes" : "no");
	return rc == -1 && errno == ENOSYS ? 0 : 1;
}
