// threadchurn: 300 threads created and joined one after another, as a server
// that starts a thread per request does (km reuses the vCPUs of ended threads).
#include <pthread.h>
#include <stdio.h>

static void *echo(void *arg) { return arg; }

int main(void) {
	for (long i = 0; i < 300; i++) {
		pthread_t t;
		void *r;
		if (pthread_create(&t, NULL, echo, (void *)i) != 0) {
			printf("FAIL: pthread_create %ld\n", i);
			return 1;
		}
		pthread_join(t, &r);
		if ((long)r != i) {
			printf("FAIL: thread %ld returned %ld\n", i, (long)r);
			return 1;
		}
	}
	printf("300 threads ok\n");
	return 0;
}
