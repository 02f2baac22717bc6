/* execve keeping descriptors without FD_CLOEXEC and closing those with it;
 * execve errors; vfork+execve; posix_spawn with file actions; a #! script;
 * fexecve. Paths are printed by base name so native and km runs compare. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static int failed;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL line %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); failed++; } } while (0)

static char self[4096];

static const char *errname(int e) {
	switch (e) {
	case 0: return "0";
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case ENOEXEC: return "ENOEXEC";
	case EBADF: return "EBADF";
	case ELOOP: return "ELOOP";
	}
	return "other";
}

static const char *base(const char *p) {
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int child(int argc, char **argv) {
	/* argv: execve child KEEPFD CLOSEDFD */
	int keep = atoi(argv[2]), closed = atoi(argv[3]);
	char exe[4096] = {0};
	readlink("/proc/self/exe", exe, sizeof exe - 1);
	printf("child: argc=%d exe=%s env KM_X=%s\n", argc, base(exe), getenv("KM_X") ? getenv("KM_X") : "(unset)");
	int keepOpen = fcntl(keep, F_GETFD) >= 0;
	int closedOpen = fcntl(closed, F_GETFD) >= 0;
	int closedErr = errno;
	printf("child: fd %d (no cloexec) open=%d, fd %d (cloexec) open=%d errno=%s\n", keep, keepOpen, closed,
	       closedOpen, errname(closedErr));
	char buf[16] = {0};
	lseek(keep, 0, SEEK_SET);
	read(keep, buf, 5);
	printf("child: read [%s] from the kept fd\n", buf);
	return 3;
}

static int script_main(int argc, char **argv) {
	/* #!SELF script-arg: argv = SELF, "script-arg", "./script.sh", extra... */
	printf("script: argc=%d argv0=%s argv1=%s argv2=%s argv3=%s\n", argc, base(argv[0]), argv[1], argv[2],
	       argc > 3 ? argv[3] : "-");
	return 4;
}

static void exec_errors(void) {
	char *av[] = {"x", NULL};
	errno = 0;
	CHECK(execve("/nonexistent/prog", av, environ) == -1, "execve nonexistent returned");
	printf("execve missing: %s\n", errname(errno));
	unlink("notexec");
	int fd = open("notexec", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	write(fd, "hello\n", 6);
	close(fd);
	execve("./notexec", av, environ);
	printf("execve no x bit: %s\n", errname(errno));
	chmod("notexec", 0755);
	execve("./notexec", av, environ);
	printf("execve garbage: %s\n", errname(errno));
	execve(".", av, environ);
	printf("execve directory: %s\n", errname(errno));
	/* The same long string 200000 times: E2BIG, without the monitor
	 * copying 20 GB. */
	size_t n = 200000;
	char **huge = malloc((n + 1) * sizeof *huge);
	char *big = malloc(100000);
	memset(big, 'a', 99999);
	big[99999] = 0;
	for (size_t i = 0; i < n; i++)
		huge[i] = big;
	huge[n] = NULL;
	execve(self, huge, environ);
	printf("execve huge argv: %s\n", errno == E2BIG ? "E2BIG" : errname(errno));
	free(huge);
	free(big);
	char *bad[] = {"x", (char *)8, NULL};
	execve(self, bad, environ);
	printf("execve bad argv pointer: %s\n", errno == EFAULT ? "EFAULT" : errname(errno));
}

static int wait_status(pid_t pid) {
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 4 && strcmp(argv[1], "child") == 0)
		return child(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "script-arg") == 0)
		return script_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "spawned") == 0) {
		printf("spawned: hello through the pipe\n");
		return 6;
	}
	if (argc >= 2 && strcmp(argv[1], "exit") == 0)
		return atoi(argv[2]);
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	CHECK(n > 0, "readlink /proc/self/exe");

	exec_errors();

	/* fork + execve with a kept and a close-on-exec descriptor */
	int keep = open("kept.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(keep, "kept!", 5);
	int closed = open("kept.txt", O_RDONLY | O_CLOEXEC);
	char ks[16], cs[16];
	snprintf(ks, sizeof ks, "%d", keep);
	snprintf(cs, sizeof cs, "%d", closed);
	pid_t pid = fork();
	if (pid == 0) {
		char *av[] = {"execve", "child", ks, cs, NULL};
		char *ev[] = {"KM_X=from-execve", NULL};
		execve(self, av, ev);
		_exit(100);
	}
	printf("fork+execve: status %d\n", wait_status(pid));

	/* vfork + execve */
	pid = vfork();
	if (pid == 0) {
		char *av[] = {"execve", "exit", "12", NULL};
		execve(self, av, environ);
		_exit(101);
	}
	printf("vfork+execve: status %d\n", wait_status(pid));

	/* posix_spawn with the child's stdout on a pipe */
	int p[2];
	pipe(p);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	char *sav[] = {"execve", "spawned", NULL};
	int rc = posix_spawn(&pid, self, &fa, NULL, sav, environ);
	CHECK(rc == 0, "posix_spawn: %s", strerror(rc));
	close(p[1]);
	char buf[128] = {0};
	ssize_t got = 0;
	while (got < (ssize_t)sizeof buf - 1 && (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += n;
	n = got;
	close(p[0]);
	printf("posix_spawn: read %zd [%s] status %d\n", n, strtok(buf, "\n"), wait_status(pid));

	/* #! script */
	char line[4200];
	snprintf(line, sizeof line, "#!%s script-arg\nnot shell\n", self);
	int fd = open("script.sh", O_CREAT | O_WRONLY | O_TRUNC, 0755);
	write(fd, line, strlen(line));
	close(fd);
	pid = fork();
	if (pid == 0) {
		char *av[] = {"script.sh", "extra", NULL};
		execve("./script.sh", av, environ);
		_exit(102);
	}
	printf("script: status %d\n", wait_status(pid));

	/* fexecve */
	pid = fork();
	if (pid == 0) {
		int efd = open(self, O_RDONLY | O_CLOEXEC);
		char *av[] = {"execve", "exit", "21", NULL};
		fexecve(efd, av, environ);
		_exit(103);
	}
	printf("fexecve: status %d\n", wait_status(pid));

	printf("done failed=%d\n", failed);
	return failed != 0;
}
