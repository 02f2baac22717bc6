// pthreads: mutex, condition variable and barrier across 8 threads,
// thread-local storage, cancellation of threads blocked in read(2) and in
// nanosleep(2), and cleanup handlers.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 8
#define ITERS 20000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t bar;
static long counter;
static int queue[64], qhead, qtail, produced_done;
static __thread long tls_value = 7;
static long tls_seen[NTHREADS];

static void *worker(void *arg) {
	long id = (long)arg;
	tls_value += id;
	for (int i = 0; i < ITERS; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	pthread_barrier_wait(&bar);
	tls_seen[id] = tls_value;
	return (void *)(id * 10);
}

static void *consumer(void *arg) {
	long sum = 0;
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (qhead == qtail && !produced_done) pthread_cond_wait(&cv, &mu);
		if (qhead == qtail && produced_done) {
			pthread_mutex_unlock(&mu);
			break;
		}
		sum += queue[qhead++ % 64];
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	return (void *)sum;
}

static int cleanups;
static void cleanup(void *arg) { (void)arg; __atomic_add_fetch(&cleanups, 1, __ATOMIC_SEQ_CST); }

static int pfd[2];
static void *blocked_reader(void *arg) {
	(void)arg;
	pthread_cleanup_push(cleanup, NULL);
	char c;
	read(pfd[0], &c, 1);
	pthread_cleanup_pop(0);
	return NULL;
}

static void *sleeper(void *arg) {
	(void)arg;
	pthread_cleanup_push(cleanup, NULL);
	struct timespec ts = {30, 0};
	nanosleep(&ts, NULL);
	pthread_cleanup_pop(0);
	return NULL;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_t th[NTHREADS];
	pthread_barrier_init(&bar, NULL, NTHREADS);
	for (long i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, worker, (void *)i);
	long rsum = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		rsum += (long)r;
	}
	int tls_ok = 1;
	for (int i = 0; i < NTHREADS; i++) tls_ok &= tls_seen[i] == 7 + i;
	printf("counter=%ld (want %d) joins=%ld tls_ok=%d main_tls=%ld\n", counter, NTHREADS * ITERS, rsum, tls_ok, tls_value);

	pthread_t cons[3];
	for (int i = 0; i < 3; i++) pthread_create(&cons[i], NULL, consumer, NULL);
	for (int i = 1; i <= 1000; i++) {
		pthread_mutex_lock(&mu);
		while (qtail - qhead >= 64) pthread_cond_wait(&cv, &mu);
		queue[qtail++ % 64] = i;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	pthread_mutex_lock(&mu);
	produced_done = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	long total = 0;
	for (int i = 0; i < 3; i++) {
		void *r;
		pthread_join(cons[i], &r);
		total += (long)r;
	}
	printf("condvar total=%ld (want 500500)\n", total);

	pipe(pfd);
	pthread_t a, b;
	pthread_create(&a, NULL, blocked_reader, NULL);
	pthread_create(&b, NULL, sleeper, NULL);
	usleep(50 * 1000);
	pthread_cancel(a);
	pthread_cancel(b);
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	printf("cancelled: reader=%d sleeper=%d cleanups=%d\n", ra == PTHREAD_CANCELED, rb == PTHREAD_CANCELED, cleanups);
	return 0;
}
