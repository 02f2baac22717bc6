// caps prints the capability sets and no_new_privs the process holds, as
// /proc/self/status, capget(2) and prctl(2) report them.
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10))
			fputs(line, stdout);
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	long r = syscall(SYS_capget, &h, d);
	printf("capget: %ld eff=%08x%08x prm=%08x%08x inh=%08x%08x\n", r, d[1].effective, d[0].effective,
	       d[1].permitted, d[0].permitted, d[1].inheritable, d[0].inheritable);
	printf("bounding has SYS_ADMIN=%d CHOWN=%d; no_new_privs=%d\n", prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN),
	       prctl(PR_CAPBSET_READ, CAP_CHOWN), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	return 0;
}
