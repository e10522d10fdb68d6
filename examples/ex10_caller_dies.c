/* SPDX-License-Identifier: MIT */
/*
 * ex10_caller_dies: the caller dies, its workers go too
 * (docs/situations.md, situation 10).
 *
 * Python: when the process that owns a multiprocessing.Pool is killed
 * (SIGKILL, the out-of-memory killer, a crash in a C extension), its
 * worker processes stay behind as orphans, holding memory, sometimes
 * spinning, until someone finds and kills them by hand.
 * hpool: workers exit when their caller does, however it ends. In process
 * mode the pool's supervisor watches the caller through a pidfd and kills
 * the workers when it goes; each worker also dies with its supervisor
 * (PR_SET_PDEATHSIG).
 *
 * This program plays both parts. It forks a child, the caller, which
 * creates a pool (mode from $HPOOL_MODE), maps a task that reports the pid
 * of the process it ran in, sends those pids up a pipe and then waits to
 * be killed. The parent kills it with SIGKILL and watches every pid that
 * ran a task until it is gone. The parent is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so the orphaned supervisor and workers are
 * handed to it and it can reap them: a zombie would still answer
 * kill(pid, 0). In thread and serial mode the tasks ran in the caller
 * itself, which goes with the kill; process mode is the case that matters,
 * and the program checks that its tasks did run in other processes.
 */
#include <hpool.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 64
#define GONE_WITHIN_MS 10000

struct report {
	int ok;           /* the map succeeded */
	int mode;         /* hpool_mode_of(pool) */
	pid_t caller;     /* the child's own pid */
	int npids;        /* distinct pids that ran tasks */
	pid_t pids[N];
};

/* Each task: which process am I in? A little work, so that more than one
 * worker takes part. */
static int where_am_i(void *out, const void *in, const void *ctx)
{
	struct timespec ms = { 0, 1000000 };

	nanosleep(&ms, NULL);
	*(pid_t *)out = getpid();
	return 0;
}

/* The caller: make a pool, run the map, report, wait for the end. */
static void caller(int fd)
{
	struct report r = { .caller = getpid() };
	hpool_map_opts opts = { .chunk = 1 };
	pid_t ran[N];
	long in[N] = { 0 };
	hpool *pool;

	if (hpool_create(&pool, NULL) == 0) {
		r.mode = hpool_mode_of(pool);
		r.ok = hpool_map(pool, where_am_i, NULL, 0, in, sizeof(in[0]),
				 ran, sizeof(ran[0]), N, &opts) == 0;
	} else {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
	}
	for (int i = 0; r.ok && i < N; i++) {
		int seen = 0;

		for (int j = 0; j < r.npids; j++)
			seen |= r.pids[j] == ran[i];
		if (!seen)
			r.pids[r.npids++] = ran[i];
	}
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	for (;;)
		pause(); /* killed here, with the pool still running */
}

/* 1 while pid exists and is not a zombie. */
static int alive(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;

	if (kill(pid, 0) && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	/* "pid (comm) S ...": the state follows the last ')'. */
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state && state != 'Z' && state != 'X';
}

int main(void)
{
	struct report r;
	int fds[2], left = 0, status;
	pid_t child;
	long waited_ms = 0;

	/* Orphans of our descendants become our children: we reap them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) || pipe(fds)) {
		perror("ex10_caller_dies: setup");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		close(fds[0]);
		caller(fds[1]);
	}
	close(fds[1]);
	if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r) || !r.ok) {
		printf("the caller could not run its map\nFAILED\n");
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return 1;
	}
	printf("the caller ran %d tasks on its pool\n", N);
	if (r.mode == HPOOL_MODE_PROCESS) {
		for (int i = 0; i < r.npids; i++)
			if (r.pids[i] == r.caller) {
				printf("a task ran in the caller itself in "
				       "process mode\nFAILED\n");
				return 1;
			}
	}

	/* The caller dies without a chance to clean up. */
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	printf("the caller was killed by %s\n",
	       WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ?
		       "SIGKILL" : "something else");

	/* Every process that ran a task must go, promptly. */
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			; /* reap the supervisor and workers handed to us */
		left = 0;
		for (int i = 0; i < r.npids; i++)
			left += alive(r.pids[i]);
		if (!left || waited_ms >= GONE_WITHIN_MS)
			break;
		usleep(10000);
		waited_ms += 10;
	}
	fprintf(stderr, "ex10: %d process(es) ran tasks; gone after about "
		"%ld ms\n", r.npids, waited_ms);
	if (left) {
		printf("%d process(es) that ran tasks still run after %d ms\n",
		       left, GONE_WITHIN_MS);
		for (int i = 0; i < r.npids; i++)
			if (alive(r.pids[i]))
				kill(r.pids[i], SIGKILL);
	} else {
		printf("every process that ran a task is gone\n");
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	printf("%s\n", left ? "FAILED" : "ok");
	return left != 0;
}
