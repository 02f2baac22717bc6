// fileio: file system and descriptor operations relative to the current
// directory. Everything printed is deterministic (no inode numbers, times or
// absolute paths), so a native run in DIR and a km run with --cwd DIR (inside
// --root) must print the same bytes.
//
// With the single argument "cwd" it only prints getcwd() and exits.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int failed;

#define CHECK(cond)                                                    \
	do {                                                           \
		if (!(cond)) {                                         \
			printf("FAIL line %d: %s (errno=%s)\n",       \
			       __LINE__, #cond, errname(errno));       \
			failed = 1;                                    \
		}                                                      \
	} while (0)

static const char *dtype(unsigned char t) {
	switch (t) {
	case DT_REG: return "reg";
	case DT_DIR: return "dir";
	case DT_LNK: return "lnk";
	case DT_FIFO: return "fifo";
	case DT_UNKNOWN: return "unknown";
	default: return "other";
	}
}

// errname returns the symbolic name of the common errno values (musl has no
// strerrorname_np, and strerror texts differ between libcs).
static const char *errname(int e) {
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ELOOP: return "ELOOP";
	case EXDEV: return "EXDEV";
	default: return "other";
	}
}

static int cmpstr(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

// list prints the sorted entries of dir (without . and ..).
static void list(const char *dir) {
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	if (!d)
		return;
	char *names[64];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 64) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *s = malloc(strlen(de->d_name) + 16);
		sprintf(s, "%s(%s)", de->d_name, dtype(de->d_type));
		names[n++] = s;
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmpstr);
	printf("ls %s:", dir);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void show_stat(const char *path) {
	struct stat st;
	if (lstat(path, &st) != 0) {
		printf("stat %s: errno=%s\n", path, errname(errno));
		return;
	}
	const char *kind = S_ISREG(st.st_mode) ? "reg" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "lnk" : "other";
	printf("stat %s: %s", path, kind);
	if (!S_ISDIR(st.st_mode))
		printf(" size=%lld", (long long)st.st_size);
	printf(" mode=%04o nlink=%lu\n", (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink);
}

static void errno_line(const char *what, int rc) {
	printf("%s: rc=%d errno=%s\n", what, rc, errname(rc < 0 ? errno : 0));
}

int main(int argc, char **argv) {
	char buf[4096];
	if (argc > 1 && strcmp(argv[1], "cwd") == 0) {
		if (!getcwd(buf, sizeof buf)) {
			printf("FAIL getcwd errno=%d\n", errno);
			return 1;
		}
		printf("cwd=%s\n", buf);
		return 0;
	}
	umask(022);

	// Directories.
	CHECK(mkdir("d", 0755) == 0);
	CHECK(mkdir("d/sub", 0700) == 0);
	errno_line("mkdir existing", mkdir("d", 0755));
	show_stat("d");
	show_stat("d/sub");

	// Create, write, read back.
	const char *text = "line one\nline two\nline three\n";
	int fd = open("d/a.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fsync(fd) == 0);
	CHECK(close(fd) == 0);
	show_stat("d/a.txt");

	fd = open("d/a.txt", O_RDONLY);
	CHECK(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	CHECK(n == (ssize_t)strlen(text));
	buf[n < 0 ? 0 : n] = 0;
	printf("read back %zd bytes, equal=%d\n", n, strcmp(buf, text) == 0);
	n = read(fd, buf, sizeof buf);
	printf("read at EOF: %zd\n", n);

	// lseek variants.
	printf("lseek SET 5 -> %lld\n", (long long)lseek(fd, 5, SEEK_SET));
	n = read(fd, buf, 3);
	buf[n < 0 ? 0 : n] = 0;
	printf("read after seek: [%s]\n", buf);
	printf("lseek CUR -2 -> %lld\n", (long long)lseek(fd, -2, SEEK_CUR));
	printf("lseek END 0 -> %lld\n", (long long)lseek(fd, 0, SEEK_END));
	errno_line("lseek negative", (int)lseek(fd, -100, SEEK_SET));
	CHECK(close(fd) == 0);

	// pread/pwrite do not move the offset.
	fd = open("d/a.txt", O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "LINE", 4, 9) == 4);
	n = pread(fd, buf, 8, 9);
	buf[n < 0 ? 0 : n] = 0;
	printf("pread: [%s]\n", buf);
	printf("offset after pread/pwrite: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	CHECK(pwrite(fd, "tail", 4, 100) == 4); // creates a hole
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	printf("size after sparse pwrite: %lld\n", (long long)st.st_size);
	n = pread(fd, buf, 8, 40);
	int zeros = 1;
	for (ssize_t i = 0; i < n; i++)
		zeros &= buf[i] == 0;
	printf("hole reads as zeros: %d (%zd bytes)\n", zeros, n);
	CHECK(ftruncate(fd, 20) == 0);
	CHECK(fstat(fd, &st) == 0);
	printf("size after ftruncate: %lld\n", (long long)st.st_size);

	// dup2 shares the file offset.
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(dup2(fd, 10) == 10);
	n = read(10, buf, 4);
	printf("read via dup2 fd: %zd, offset via original: %lld\n", n, (long long)lseek(fd, 0, SEEK_CUR));
	printf("dup2 fd cloexec: %d\n", fcntl(10, F_GETFD) & FD_CLOEXEC);
	CHECK(close(10) == 0);
	errno_line("close closed fd", close(10));
	int fd2 = dup(fd);
	CHECK(fd2 > fd);
	CHECK(close(fd2) == 0);
	CHECK(close(fd) == 0);

	// readv/writev.
	fd = open("d/v.txt", O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0);
	struct iovec iov[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
	printf("writev: %zd\n", writev(fd, iov, 3));
	char r1[4] = {0}, r2[8] = {0};
	struct iovec riov[2] = {{r1, 2}, {r2, 7}};
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	printf("readv: %zd [%s][%s]\n", readv(fd, riov, 2), r1, r2);
	CHECK(close(fd) == 0);
	show_stat("d/v.txt");

	// Symlinks.
	CHECK(symlink("a.txt", "d/link") == 0);
	n = readlink("d/link", buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	printf("readlink: %zd [%s]\n", n, buf);
	show_stat("d/link");
	printf("access d/link R_OK: %d\n", access("d/link", R_OK));
	errno_line("access missing", access("d/missing", F_OK));

	// *at variants with a directory fd.
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	fd = openat(dfd, "sub/at.txt", O_CREAT | O_WRONLY | O_EXCL, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, "at\n", 3) == 3);
	CHECK(close(fd) == 0);
	errno_line("openat O_EXCL existing", openat(dfd, "sub/at.txt", O_CREAT | O_WRONLY | O_EXCL, 0640));
	CHECK(fstatat(dfd, "sub/at.txt", &st, 0) == 0);
	printf("fstatat size=%lld mode=%04o\n", (long long)st.st_size, (unsigned)(st.st_mode & 07777));
	CHECK(renameat(dfd, "sub/at.txt", dfd, "at2.txt") == 0);
	CHECK(unlinkat(dfd, "at2.txt", 0) == 0);
	CHECK(close(dfd) == 0);

	list("d");

	// Rename and unlink.
	CHECK(rename("d/a.txt", "d/b.txt") == 0);
	errno_line("open renamed-away", open("d/a.txt", O_RDONLY));
	list("d");
	CHECK(unlink("d/b.txt") == 0);
	CHECK(unlink("d/v.txt") == 0);
	CHECK(unlink("d/link") == 0);
	errno_line("unlink missing", unlink("d/b.txt"));
	errno_line("rmdir non-empty", rmdir("d"));
	CHECK(rmdir("d/sub") == 0);
	list("d");
	CHECK(rmdir("d") == 0);
	errno_line("stat removed dir", access("d", F_OK));

	// pipe2 with O_CLOEXEC.
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	printf("pipe cloexec: %d %d\n", fcntl(p[0], F_GETFD) & FD_CLOEXEC, fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	CHECK(write(p[1], "through the pipe", 16) == 16);
	CHECK(close(p[1]) == 0);
	n = read(p[0], buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	printf("pipe read: %zd [%s]\n", n, buf);
	printf("pipe read at EOF: %zd\n", read(p[0], buf, sizeof buf));
	CHECK(close(p[0]) == 0);

	// The working directory was left as it was found.
	list(".");
	printf("done failed=%d\n", failed);
	return failed;
}
