// escape: tries hard to reach files through each path given on the command
// line. For every PATH it prints one line per attempt:
//
//   [PATH] open: opened:<first line> | denied
//   [PATH] stat: ok <kind> | denied
//   [PATH] readlink: -> <target> | denied
//   [PATH] opendir: <sorted entries> | denied
//   [PATH] dirfd openat secret.txt: opened:<first line> | denied
//   [PATH] dirfd openat ../secret.txt: ...
//   [PATH] dirfd openat ../../secret.txt: ...
//   [PATH] chdir+open secret.txt: ...
//   [PATH] chdir+open ../secret.txt: ...
//   [PATH] create probe: created | denied
//
// The "create probe" attempt creates PATH/escape-probe so the test can check
// that no file ever appears outside the root. Run under km --root, none of
// the output may contain data from outside the root. Exit status is 0 unless
// the payload itself misbehaves.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// first_line prints "opened:<first line of fd>" and closes fd, or "denied".
static void report_fd(const char *path, const char *what, int fd) {
	printf("[%s] %s: ", path, what);
	if (fd < 0) {
		printf("denied\n");
		return;
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0) {
		printf("opened:<read failed errno=%d>\n", errno);
	} else {
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		printf("opened:%s\n", buf);
	}
	close(fd);
}

static int cmpstr(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void try_opendir(const char *path) {
	printf("[%s] opendir: ", path);
	DIR *d = opendir(path);
	if (!d) {
		printf("denied\n");
		return;
	}
	char *names[256];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 256)
		names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmpstr);
	for (int i = 0; i < n; i++) {
		printf("%s%s", i ? "," : "", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void attempt(const char *path, int home) {
	report_fd(path, "open", open(path, O_RDONLY));

	struct stat st;
	printf("[%s] stat: ", path);
	if (stat(path, &st) != 0)
		printf("denied\n");
	else
		printf("ok %s\n", S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");

	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	printf("[%s] readlink: ", path);
	if (n < 0) {
		printf("denied\n");
	} else {
		buf[n] = 0;
		printf("-> %s\n", buf);
	}

	try_opendir(path);

	int dfd = open(path, O_RDONLY | O_DIRECTORY);
	static const char *const rel[] = {"secret.txt", "../secret.txt", "../../secret.txt"};
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof what, "dirfd openat %s", rel[i]);
		report_fd(path, what, dfd < 0 ? -1 : openat(dfd, rel[i], O_RDONLY));
	}
	if (dfd >= 0)
		close(dfd);

	int in = chdir(path) == 0;
	for (int i = 0; i < 2; i++) {
		char what[64];
		snprintf(what, sizeof what, "chdir+open %s", rel[i]);
		report_fd(path, what, in ? open(rel[i], O_RDONLY) : -1);
	}
	if (fchdir(home) != 0) {
		printf("FAIL: fchdir back: errno=%d\n", errno);
		exit(2);
	}

	snprintf(buf, sizeof buf, "%s/escape-probe", path);
	int fd = open(buf, O_CREAT | O_WRONLY | O_EXCL, 0644);
	printf("[%s] create probe: %s\n", path, fd >= 0 ? "created" : "denied");
	if (fd >= 0) {
		write(fd, "probe\n", 6);
		close(fd);
	}
}

int main(int argc, char **argv) {
	int home = open(".", O_RDONLY | O_DIRECTORY);
	if (home < 0) {
		printf("FAIL: open(\".\"): errno=%d\n", errno);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		attempt(argv[i], home);
	printf("done\n");
	return 0;
}
