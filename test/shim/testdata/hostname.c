// hostname: prints the UTS node name.
#include <stdio.h>
#include <sys/utsname.h>

int main(void) {
	struct utsname u;
	if (uname(&u) != 0)
		return 1;
	printf("%s\n", u.nodename);
	return 0;
}
