// openpaths: tries to open each argument read-only and as a directory
// listing, and prints what happened; used to check which host paths a guest
// can reach.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);
		if (fd < 0) {
			printf("[%s] open: %s\n", argv[i], strerror(errno));
		} else {
			char buf[64];
			ssize_t n = read(fd, buf, sizeof buf);
			printf("[%s] open: opened, read %zd\n", argv[i], n);
			close(fd);
		}
		DIR *d = opendir(argv[i]);
		if (d) {
			struct dirent *e;
			printf("[%s] list:", argv[i]);
			while ((e = readdir(d)))
				printf(" %s", e->d_name);
			printf("\n");
			closedir(d);
		}
	}
	printf("done\n");
	return 0;
}
