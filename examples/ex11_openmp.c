/* SPDX-License-Identifier: MIT */
/*
 * ex11_openmp: OpenMP inside workers (docs/situations.md, situation 11).
 *
 * Python: numpy, scikit-learn and friends run OpenMP underneath. Two
 * things go wrong with a process pool. GCC's OpenMP runtime (libgomp)
 * keeps its thread pool tied to the thread that ran a parallel region, so
 * a child forked after the parent ran one hangs in its own first parallel
 * region: the Pool never returns. And each worker that does start a team
 * starts a full one, one thread per CPU, so 8 workers on 8 CPUs run 64
 * threads. joblib's loky sets OMP_NUM_THREADS to cpus / workers in each
 * worker to avoid the second.
 * hpool: process workers run their tasks in a fresh thread, whose OpenMP
 * state is clean even when the caller ran parallel regions before the pool
 * existed; and each worker is given its share of the cores
 * (omp_set_num_threads(cpus / workers), at least 1), in thread mode too.
 *
 * The program runs a parallel region in the caller first, then a pool
 * whose tasks each run a parallel reduction and report the size of the
 * team they got; the caller checks every team against the share. In
 * serial mode the tasks run in the caller, whose own setting applies.
 * The printed lines are the same in every mode; the team sizes, which
 * depend on the machine, go to stderr. Built without OpenMP, or under
 * ThreadSanitizer (which cannot see the OpenMP runtime), the tasks loop
 * on their own and the output is the same.
 */
#include <hpool.h>

#include <sched.h>
#include <stdio.h>

#if defined(_OPENMP) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EX11_NO_OPENMP 1
#endif
#endif
#else
#define EX11_NO_OPENMP 1
#endif

#ifndef EX11_NO_OPENMP
#include <omp.h>
#endif

#define TASKS 8
#define TERMS 200000L

struct result {
	long sum; /* sum of (i * k) % 7 for i < TERMS */
	int team; /* threads in the task's parallel region */
};

/* One task: a parallel reduction over TERMS terms, scaled by item k. */
static int reduce(void *out, const void *in, const void *ctx)
{
	long k = *(const long *)in, sum = 0;
	struct result *r = out;
	int team = 1;

#ifndef EX11_NO_OPENMP
#pragma omp parallel reduction(+ : sum)
	{
#pragma omp single
		team = omp_get_num_threads();
#pragma omp for
		for (long i = 0; i < TERMS; i++)
			sum += (i * k) % 7;
	}
#else
	for (long i = 0; i < TERMS; i++)
		sum += (i * k) % 7;
#endif
	r->sum = sum;
	r->team = team;
	return 0;
}

static long expected(long k)
{
	long s = 0;

	for (long i = 0; i < TERMS; i++)
		s += (i * k) % 7;
	return s;
}

int main(void)
{
	struct result res[TASKS];
	long ks[TASKS], warm = 0;
	unsigned workers, cpus, share;
	hpool_map_opts opts = { .chunk = 1 };
	cpu_set_t set;
	hpool *pool;
	int bad = 0, caller_max = 1;

	/* 1. The caller uses OpenMP before the pool exists: libgomp now has
	 *    a thread pool, which a plainly forked child would wait on. */
#ifndef EX11_NO_OPENMP
#pragma omp parallel for reduction(+ : warm)
#endif
	for (long i = 0; i < 1000; i++)
		warm += i;
#ifndef EX11_NO_OPENMP
	caller_max = omp_get_max_threads();
#endif

	/* 2. The pool, and a map of OpenMP tasks. Flush first, as before
	 *    any fork: a forked process that leaves through exit() (an
	 *    OpenMP runtime's fork handler may make one) would print our
	 *    buffered lines again. */
	fflush(stdout);
	if (hpool_create(&pool, NULL)) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}
	/* Printed once the pool exists: in mpi mode only rank 0 gets here
	 * (every rank ran the lines above). */
	printf("the caller's own parallel sum of 0..999: %ld\n", warm);
	bad |= warm != 499500;
	for (int k = 0; k < TASKS; k++)
		ks[k] = k + 1;
	if (hpool_map(pool, reduce, NULL, 0, ks, sizeof(ks[0]), res,
		      sizeof(res[0]), TASKS, &opts)) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}

	/* 3. The results, and each team against the worker's share. */
	workers = hpool_workers(pool);
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	cpus = (unsigned)CPU_COUNT(&set);
	share = cpus / workers ? cpus / workers : 1;
	if (hpool_mode_of(pool) == HPOOL_MODE_SERIAL)
		share = (unsigned)caller_max; /* the caller's own setting */
	fprintf(stderr, "ex11: %u worker(s), %u cpu(s): a share of %u; "
		"teams:", workers, cpus, share);
	for (int k = 0; k < TASKS; k++) {
		fprintf(stderr, " %d", res[k].team);
		printf("task %d: sum of (i * %ld) %% 7 = %ld\n", k, ks[k],
		       res[k].sum);
		if (res[k].sum != expected(ks[k])) {
			printf("MISMATCH in task %d\n", k);
			bad = 1;
		}
		if (res[k].team < 1 || (unsigned)res[k].team > share) {
			printf("task %d ran a team of %d threads, more than "
			       "its share of %u\n", k, res[k].team, share);
			bad = 1;
		}
	}
	fprintf(stderr, "\n");
	printf("every task's team fits its worker's share of the cores\n");
	hpool_destroy(pool);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
