// ident: prints what a container process should see of itself: uid/gid,
// working directory, argv, and the variables named by the arguments.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
	char cwd[4096];
	printf("uid=%d gid=%d\n", (int)getuid(), (int)getgid());
	printf("cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
	for (int i = 1; i < argc; i++) {
		const char *v = getenv(argv[i]);
		printf("%s=%s\n", argv[i], v ? v : "(unset)");
	}
	return 0;
}
