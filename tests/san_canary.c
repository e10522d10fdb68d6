/* SPDX-License-Identifier: MIT */
/*
 * The sanitizer canary: proves that tests/sanitize.sh sees a report made
 * in a forked child that nobody waits on, the way a pool's workers,
 * supervisor and fork server are children the tests never judge.
 *
 * The child does what each sanitizer reports (ASan: a heap overflow;
 * TSan: a data race between two of its threads; LeakSanitizer: a lost
 * block, checked before _exit), then _exits 0 if the sanitizer let it
 * live. The parent ignores how the child ended and exits 0: only the
 * harness (log_path report files) can tell that anything went wrong.
 * tests/sanitize.sh runs it before the suite and fails the pass if no
 * report file appears.
 *
 * ASan builds add a second canary, in a process of the library's: a
 * process pool's worker runs a task that loses a block, and leaves when
 * the pool is destroyed (through _exit, as the library's processes do).
 * The canary prints "san_canary: expect canary_leaky_task": the harness
 * fails unless a report file names that function, so a library that
 * stopped checking its own processes for leaks is seen.
 *
 * In a build without a sanitizer there is nothing to show: exit 77.
 */
#include "hpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CANARY_ASAN 1
#elif defined(__SANITIZE_THREAD__)
#define CANARY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CANARY_ASAN 1
#elif __has_feature(thread_sanitizer)
#define CANARY_TSAN 1
#endif
#endif

#ifdef CANARY_ASAN
#include <sanitizer/lsan_interface.h>

static void *volatile lost;

/* Loses a block in the worker process that runs it. */
__attribute__((noinline)) static int canary_leaky_task(void *out,
						       const void *in,
						       const void *ctx)
{
	(void)in;
	(void)ctx;
	lost = malloc(48);
	lost = NULL;
	*(int *)out = 1;
	return 0;
}

/* A process pool whose worker leaks, then leaves at destroy. Return: 0
 * when the pool ran the task. */
static int worker_leaks(void)
{
	hpool_config cfg;
	hpool *p;
	int in = 0, out = 0;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = 1;
	if (hpool_create(&p, &cfg))
		return 1;
	if (hpool_map(p, canary_leaky_task, NULL, 0, &in, sizeof(in), &out,
		      sizeof(out), 1, NULL) || out != 1) {
		hpool_destroy(p);
		return 1;
	}
	if (hpool_destroy(p))
		return 1;
	printf("san_canary: expect canary_leaky_task (a worker's leak)\n");
	return 0;
}

static void child(void)
{
	char *volatile p = malloc(16);

	/* a block nobody points at any more: LeakSanitizer's, if it looks */
	lost = malloc(32);
	lost = NULL;
	__lsan_do_leak_check();
	/* then a heap overflow: AddressSanitizer's */
	p[16] = 1;
	free(p);
}
#elif defined(CANARY_TSAN)
static long shared_word; /* written by two threads, no synchronisation */

static void *racer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		shared_word++;
	return NULL;
}

static void child(void)
{
	pthread_t a, b;

	pthread_create(&a, NULL, racer, NULL);
	pthread_create(&b, NULL, racer, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}
#endif

int main(void)
{
#if defined(CANARY_ASAN) || defined(CANARY_TSAN)
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		child();
		_exit(0);
	}
	waitpid(pid, NULL, 0); /* how it ended is not looked at */
	printf("san_canary: child %d made its report (if the harness saw "
	       "it, it is in a log_path file)\n", (int)pid);
#ifdef CANARY_ASAN
	if (worker_leaks())
		return 1;
#endif
	return 0;
#else
	printf("san_canary: no sanitizer in this build\n");
	return 77;
#endif
}
