// procfs: reads the emulated /proc and /dev and prints what does not depend
// on addresses or host state, so native and km output compare equal.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int failed;
#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); failed++; } } while (0)

static ssize_t slurp(const char *path, char *buf, size_t n) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -errno;
	size_t got = 0;
	ssize_t r;
	while (got < n - 1 && (r = read(fd, buf + got, n - 1 - got)) > 0) got += r;
	buf[got] = 0;
	close(fd);
	return got;
}

int main(int argc, char **argv) {
	static char buf[1 << 16];
	char link[4096];

	// /proc/self/exe names this program.
	ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
	CHECK(n > 0, "readlink exe: %s", strerror(errno));
	if (n > 0) { link[n] = 0; printf("exe basename: %s\n", strrchr(link, '/') + 1); }

	// cmdline: NUL-separated argv.
	n = slurp("/proc/self/cmdline", buf, sizeof buf);
	int count = 0;
	for (ssize_t i = 0; i < n; i++) if (buf[i] == 0) count++;
	printf("cmdline args: %d (argc %d)\n", count, argc);
	if (argc > 1) printf("cmdline last: %s\n", buf + n - strlen(argv[argc - 1]) - 1);

	// fd links and listing.
	int fd = open("procfs-test.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0, "create: %s", strerror(errno));
	char fdpath[64];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	n = readlink(fdpath, link, sizeof link - 1);
	CHECK(n > 0, "readlink fd: %s", strerror(errno));
	if (n > 0) { link[n] = 0; printf("fd link ends with name: %s\n", strstr(link, "/procfs-test.txt") ? "yes" : link); }
	write(fd, "via fd\n", 7);
	int fd2 = open(fdpath, O_RDONLY);
	CHECK(fd2 >= 0, "reopen via /proc/self/fd: %s", strerror(errno));
	n = read(fd2, link, 100);
	printf("reopened read: %.*s", (int)(n > 0 ? n : 0), link);
	CHECK(lseek(fd2, 0, SEEK_CUR) == 7, "reopened offset");
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL, "opendir /proc/self/fd: %s", strerror(errno));
	int seen = 0, have3 = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		seen++;
		if (atoi(e->d_name) == fd) have3 = 1;
		if (e->d_type != DT_LNK) printf("FAIL fd entry %s type %d\n", e->d_name, e->d_type);
	}
	// stdin, stdout, stderr, fd, fd2 and the directory's own descriptor.
	printf("fd entries >= 5: %d, has our fd: %d\n", seen >= 5, have3);
	if (d) {
		rewinddir(d);
		int again = 0;
		while ((e = readdir(d))) again++;
		printf("after rewind: same count: %d\n", again == seen + 2);
		closedir(d);
	}
	close(fd2);
	close(fd);
	unlink("procfs-test.txt");

	// /dev/fd is /proc/self/fd.
	struct stat st;
	CHECK(stat("/dev/fd/1", &st) == 0, "stat /dev/fd/1: %s", strerror(errno));
	CHECK(stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode), "stat /proc/self/fd");

	// maps: the stack, the program and a fresh anonymous mapping appear;
	// mprotect of its middle page splits it.
	char *m = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mprotect(m + 4096, 4096, PROT_READ | PROT_WRITE) == 0, "mprotect: %s", strerror(errno));
	n = slurp("/proc/self/maps", buf, sizeof buf);
	CHECK(n > 0, "maps: %s", strerror(-n));
	char want[64];
	printf("maps has [stack]: %s\n", strstr(buf, "[stack]") ? "yes" : "no");
	snprintf(want, sizeof want, "%08lx-%08lx r--p", (unsigned long)m, (unsigned long)m + 4096);
	int split = strstr(buf, want) != NULL;
	snprintf(want, sizeof want, "%08lx-%08lx rw-p", (unsigned long)m + 4096, (unsigned long)m + 2 * 4096);
	split &= strstr(buf, want) != NULL;
	snprintf(want, sizeof want, "%08lx-%08lx r--p", (unsigned long)m + 2 * 4096, (unsigned long)m + 3 * 4096);
	split &= strstr(buf, want) != NULL;
	printf("maps has the mmap, split by mprotect: %s\n", split ? "yes" : "no");
	printf("maps names the program: %s\n", strstr(buf, strrchr(argv[0], '/') ? strrchr(argv[0], '/') : argv[0]) ? "yes" : "no");
	int lines = 0, bad = 0;
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
		unsigned long lo, hi;
		char perm[5];
		if (sscanf(l, "%lx-%lx %4s", &lo, &hi, perm) != 3 || lo >= hi || strlen(perm) != 4) bad++;
		lines++;
		if (!strchr(l, '\n')) break;
	}
	printf("maps lines parse: %s\n", lines > 3 && !bad ? "yes" : "no");

	// status basics.
	n = slurp("/proc/self/status", buf, sizeof buf);
	char want2[64];
	snprintf(want2, sizeof want2, "\nPid:\t%d\n", getpid());
	printf("status has Name/Pid: %s %s\n", strncmp(buf, "Name:\t", 6) == 0 ? "yes" : "no", strstr(buf, want2) ? "yes" : "no");
	printf("status has Threads: %s\n", strstr(buf, "\nThreads:\t1\n") ? "yes" : "no");
	snprintf(want2, sizeof want2, "%d (", getpid());
	n = slurp("/proc/self/stat", buf, sizeof buf);
	printf("stat starts with pid: %s\n", strncmp(buf, want2, strlen(want2)) == 0 ? "yes" : "no");

	// chdir into /proc/self, then relative names.
	char cwd[1024];
	CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
	CHECK(chdir("/proc/self") == 0, "chdir /proc/self: %s", strerror(errno));
	n = slurp("comm", buf, sizeof buf);
	printf("relative comm: %s", n > 0 ? buf : "(none)\n");
	CHECK(chdir(cwd) == 0, "chdir back: %s", strerror(errno));

	// Host passthrough files.
	n = slurp("/proc/cpuinfo", buf, sizeof buf);
	printf("cpuinfo has processor: %s\n", strstr(buf, "processor") ? "yes" : "no");
	n = slurp("/proc/meminfo", buf, sizeof buf);
	printf("meminfo has MemTotal: %s\n", strncmp(buf, "MemTotal:", 9) == 0 ? "yes" : "no");

	// Devices.
	fd = open("/dev/null", O_RDWR);
	CHECK(fd >= 0, "/dev/null: %s", strerror(errno));
	printf("null write: %zd read: %zd\n", write(fd, "xyz", 3), read(fd, buf, 10));
	close(fd);
	fd = open("/dev/zero", O_RDONLY);
	memset(buf, 1, 64);
	n = read(fd, buf, 64);
	int zeros = 1;
	for (int i = 0; i < 64; i++) zeros &= buf[i] == 0;
	printf("zero read: %zd all zero: %d\n", n, zeros);
	char *z = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(z != MAP_FAILED, "mmap /dev/zero: %s", strerror(errno));
	if (z != MAP_FAILED) { z[100] = 5; printf("mmap zero: %d %d\n", z[0], z[100]); }
	close(fd);
	fd = open("/dev/full", O_WRONLY);
	errno = 0;
	n = write(fd, "x", 1);
	printf("full write: %zd %s\n", n, strerror(errno));
	close(fd);
	fd = open("/dev/urandom", O_RDONLY);
	n = read(fd, buf, 32);
	int nonzero = 0;
	for (int i = 0; i < 32; i++) nonzero |= buf[i];
	printf("urandom read: %zd nonzero: %d\n", n, nonzero != 0);
	close(fd);
	fd = open("/dev/random", O_RDONLY);
	printf("random read: %zd\n", read(fd, buf, 16));
	close(fd);
	CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "stat /dev/null");

	// /dev/shm: POSIX shared memory.
	fd = open("/dev/shm/km-procfs-test", O_CREAT | O_RDWR | O_EXCL, 0600);
	CHECK(fd >= 0, "/dev/shm create: %s", strerror(errno));
	CHECK(ftruncate(fd, 4096) == 0, "ftruncate shm");
	char *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(sh != MAP_FAILED, "mmap shm");
	if (sh != MAP_FAILED) { strcpy(sh, "shared"); }
	CHECK(unlink("/dev/shm/km-procfs-test") == 0, "unlink shm: %s", strerror(errno));
	printf("shm: %s\n", sh != MAP_FAILED ? sh : "");
	close(fd);

	printf("done failed=%d\n", failed);
	return failed != 0;
}
