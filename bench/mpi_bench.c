/* SPDX-License-Identifier: MIT */
/*
 * hpool-mpi-bench: the MPI backend's row set (issue 11), run under
 * `mpirun -n 3` by bench/mpi-bench.sh, which adds mpi4py's
 * MPIPoolExecutor (bench/mpi4py_peer.py) in the same run and prints the
 * ratios. Rank 0 measures a process-mode pool first (before MPI starts,
 * so that nothing else runs), with as many workers as the MPI pool will
 * have, then the MPI pool (ranks 1 and 2 serve it: they go straight to
 * hpool_create and never return). Rows, CSV on stdout, as hpool-bench's:
 *   scenario,impl,mode,param,median,min,max,unit
 *   1-empty   map of N_EMPTY items copying 8 bytes: ns per item, chunk 1
 *             and automatic; automatic over N_LARGE items
 *   3-compute tasks of about 10 and 100 us (a calibrated spin): wall time
 *             of a map with automatic chunks, us per item
 *   7-skew    1 task of 100 ms and 99 of 1 ms (sleeps), chunk 1: wall /
 *             ideal, ideal = max(longest, total / workers)
 * Every figure: one warm-up, then the median of REPS runs.
 */
#include <hpool.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spin.h"

#define REPS 5
/* Items of the empty maps; bench/mpi4py_peer.py maps as many. */
#define N_EMPTY 20000
#define N_LARGE 2000000

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int task_copy(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in;
	return 0;
}

static int task_spin(void *out, const void *in, const void *ctx)
{
	*(uint64_t *)out = spin(*(const uint64_t *)ctx,
				(uint64_t)*(const long *)in);
	return 0;
}

static int task_sleep(void *out, const void *in, const void *ctx)
{
	long us = *(const long *)in;
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
	*(long *)out = us;
	return 0;
}

static hpool *make_pool(hpool_mode mode, unsigned workers)
{
	hpool_config cfg;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = mode;
	cfg.workers = workers;
	if (hpool_create(&p, &cfg)) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		exit(1);
	}
	return p;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void row(const char *scen, const char *mode, const char *param,
		double *v, const char *unit)
{
	qsort(v, REPS, sizeof(*v), cmp);
	printf("%s,hpool,%s,%s,%g,%g,%g,%s\n", scen, mode, param, v[REPS / 2],
	       v[0], v[REPS - 1], unit);
	fflush(stdout);
}

static double map_ns(hpool *p, hpool_fn fn, const void *ctx, size_t csz,
		     long *in, long *out, size_t n, size_t chunk)
{
	hpool_map_opts o = { .chunk = chunk };
	int64_t t = now_ns();

	if (hpool_map(p, fn, ctx, csz, in, sizeof(long), out, sizeof(long), n,
		      &o)) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		exit(1);
	}
	return (double)(now_ns() - t);
}

static uint64_t iters_per_us;

static void calibrate(void)
{
	iters_per_us = (uint64_t)spin_per_us();
	if (!iters_per_us)
		iters_per_us = 1;
}

static void rows_for(hpool_mode mode, const char *name, unsigned workers)
{
	hpool *p = make_pool(mode, workers);
	size_t nc = 4000;
	long *in = malloc(N_LARGE * sizeof(long));
	long *out = malloc(N_LARGE * sizeof(long));
	double v[REPS];
	unsigned w = hpool_workers(p);

	for (size_t i = 0; i < N_LARGE; i++)
		in[i] = (long)i;
	/* 1-empty: ns per item at chunk 1 and automatic, then automatic
	 * over N_LARGE items (what an item costs once the round trips are
	 * paid for: the asymptote of both sides) */
	for (int c = 0; c < 3; c++) {
		static const char *const param[] = { "chunk=1", "chunk=auto",
						     "chunk=auto-large" };
		size_t chunk = c ? 0 : 1, n = c == 2 ? N_LARGE : N_EMPTY;

		map_ns(p, task_copy, NULL, 0, in, out, n, chunk);
		for (int r = 0; r < REPS; r++)
			v[r] = map_ns(p, task_copy, NULL, 0, in, out, n,
				      chunk) / (double)n;
		row("1-empty", name, param[c], v, "ns/item");
	}
	/* 3-compute: 10 us and 100 us tasks, automatic chunks */
	for (int k = 0; k < 2; k++) {
		uint64_t it = iters_per_us * (k ? 100 : 10);
		size_t n = k ? nc / 10 : nc;

		map_ns(p, task_spin, &it, sizeof(it), in, out, n, 0);
		for (int r = 0; r < REPS; r++)
			v[r] = map_ns(p, task_spin, &it, sizeof(it), in, out,
				      n, 0) / (double)n / 1000;
		row("3-compute", name, k ? "task=100us" : "task=10us", v,
		    "us/item");
	}
	/* 7-skew: the long task first, chunk 1 */
	{
		long sk[100];
		double ideal, total = 100000 + 99 * 1000;

		sk[0] = 100000;
		for (int i = 1; i < 100; i++)
			sk[i] = 1000;
		ideal = total / w > 100000 ? total / w : 100000;
		map_ns(p, task_sleep, NULL, 0, sk, out, 100, 1);
		for (int r = 0; r < REPS; r++)
			v[r] = map_ns(p, task_sleep, NULL, 0, sk, out, 100, 1) /
			       1000 / ideal;
		row("7-skew", name, "chunk=1", v, "wall/ideal");
	}
	fprintf(stderr, "hpool-mpi-bench: %s: %u workers\n", name, w);
	hpool_destroy(p);
	free(in);
	free(out);
}

int main(void)
{
	const char *rank = getenv("OMPI_COMM_WORLD_RANK");
	const char *size = getenv("OMPI_COMM_WORLD_SIZE");
	unsigned servers = size ? (unsigned)atoi(size) - 1 : 0;
	hpool *p;

	if (!rank || !size || servers < 1) {
		fprintf(stderr, "hpool-mpi-bench: run it under mpirun -n 3 "
			"(bench/mpi-bench.sh)\n");
		return 1;
	}
	if (strcmp(rank, "0")) {
		/* A server: its first hpool_create serves rank 0's pools
		 * and never returns. */
		p = make_pool(HPOOL_MODE_MPI, 0);
		return 1;
	}
	calibrate();
	printf("scenario,impl,mode,param,median,min,max,unit\n");
	/* Process mode: as many workers as the MPI pool will have (each
	 * server's share of this node's cores, summed). */
	p = make_pool(HPOOL_MODE_MPI, 0); /* starts MPI: sized first */
	{
		unsigned w = hpool_workers(p);

		hpool_destroy(p);
		rows_for(HPOOL_MODE_PROCESS, "process", w);
	}
	/* mpi: rank 0 serves this node with workers of its own (the
	 * default, HPOOL_MPI_LOCAL=node); mpi-msg: every item crosses MPI to
	 * the servers (HPOOL_MPI_LOCAL=0), what a node other than rank 0's
	 * costs. */
	rows_for(HPOOL_MODE_MPI, "mpi", 0);
	setenv("HPOOL_MPI_LOCAL", "0", 1);
	rows_for(HPOOL_MODE_MPI, "mpi-msg", 0);
	return 0;
}
