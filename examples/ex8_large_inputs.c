/* SPDX-License-Identifier: MIT */
/*
 * ex8_large_inputs: big arrays without copies
 * (docs/situations.md, situation 8).
 *
 * Python: every argument of Pool.map is pickled and pushed through a pipe,
 * chunk by chunk, and a large constant (a weight vector, a lookup table)
 * goes again with every chunk; a 16 MB array costs more to send than to
 * process. joblib works around it by memory-mapping large numpy arrays.
 * hpool: memory from hpool_shm_alloc() is seen at the same address by the
 * caller and every worker, in every mode, so passing it as `in`, `out` or
 * `ctx` (or pointing to it from them) costs no copy: tasks read it in place.
 * Plain memory works too and gives the same results, at the price of a
 * copy in thread and process modes: `in` items travel through the pool's
 * shared region chunk by chunk, `ctx` once per call. This program runs the
 * same weighted row sums both ways, then proves that the shared rows were
 * read in place: each task works out its row number from the address it
 * was handed.
 */
#include <hpool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 2048
#define COLS 1024 /* rows: 2048 x 1024 doubles = 16 MiB */

/* out = dot(row, weights): `in` is one row, `ctx` the weight vector. */
static int weighted_sum(void *out, const void *in, const void *ctx)
{
	const double *row = in, *w = ctx;
	double s = 0;

	for (int j = 0; j < COLS; j++)
		s += row[j] * w[j];
	*(double *)out = s;
	return 0;
}

/* Which row was I given? Only meaningful when `in` is not a copy. */
struct where_ctx {
	const double *rows; /* the shared array's address, same everywhere */
};

static int row_number(void *out, const void *in, const void *ctx)
{
	const struct where_ctx *c = ctx;

	*(long *)out = ((const double *)in - c->rows) / COLS;
	return 0;
}

static void fill(double *rows, double *w)
{
	for (long i = 0; i < ROWS; i++)
		for (long j = 0; j < COLS; j++)
			rows[i * COLS + j] = (double)((i * 31 + j * 17) % 101);
	for (long j = 0; j < COLS; j++)
		w[j] = (double)(j % 7 - 3);
}

int main(void)
{
	size_t rows_bytes = sizeof(double) * ROWS * COLS;
	size_t w_bytes = sizeof(double) * COLS;
	static double sum_plain[ROWS], sum_shared[ROWS];
	static long where[ROWS];
	double *rows, *w, *srows, *sw, total = 0;
	struct where_ctx wc;
	hpool_config cfg;
	hpool *pool;
	int bad = 0, copied = 0;

	hpool_config_init(&cfg);
	cfg.shm_size = 64 << 20; /* the arena must hold the shared arrays */
	if (hpool_create(&pool, &cfg)) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}

	/* Plain memory: private to the caller, so it is copied (except in
	 * serial mode, where the tasks run in the caller itself). */
	rows = malloc(rows_bytes);
	w = malloc(w_bytes);
	/* Shared memory: the same bytes, seen in place by every worker. */
	srows = hpool_shm_alloc(pool, rows_bytes);
	sw = hpool_shm_alloc(pool, w_bytes);
	if (!rows || !w || !srows || !sw) {
		fprintf(stderr, "allocation failed: %s\n", hpool_last_error());
		return 1;
	}
	fill(rows, w);
	fill(srows, sw);

	if (hpool_map(pool, weighted_sum, w, w_bytes, rows,
		      COLS * sizeof(double), sum_plain, sizeof(double), ROWS,
		      NULL) ||
	    hpool_map(pool, weighted_sum, sw, w_bytes, srows,
		      COLS * sizeof(double), sum_shared, sizeof(double), ROWS,
		      NULL)) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	wc.rows = srows;
	if (hpool_map(pool, row_number, &wc, sizeof(wc), srows,
		      COLS * sizeof(double), where, sizeof(long), ROWS,
		      NULL)) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}

	for (long i = 0; i < ROWS; i++) {
		/* Small integers: every sum is exact, so == is right. */
		double want = 0;

		for (long j = 0; j < COLS; j++)
			want += rows[i * COLS + j] * w[j];
		if (sum_plain[i] != want || sum_shared[i] != want) {
			printf("MISMATCH row %ld: plain %.0f shared %.0f, "
			       "want %.0f\n",
			       i, sum_plain[i], sum_shared[i], want);
			bad = 1;
		}
		if (where[i] != i) {
			if (!copied)
				printf("row %ld was handed a copy\n", i);
			copied = bad = 1;
		}
		total += sum_shared[i];
	}
	printf("input: %d x %d doubles (%zu MiB), weights %zu KiB\n", ROWS,
	       COLS, rows_bytes >> 20, w_bytes >> 10);
	for (int i = 0; i < 4; i++)
		printf("row %d: %.0f\n", i, sum_shared[i]);
	printf("sum of all rows: %.0f\n", total);
	printf("plain (copied) and shared (in place): %s\n",
	       memcmp(sum_plain, sum_shared, sizeof(sum_plain)) ?
		       "DIFFERENT" : "same results");
	printf("shared rows read in place: %s\n", copied ? "no" : "yes");

	hpool_shm_free(pool, srows);
	hpool_shm_free(pool, sw);
	hpool_destroy(pool);
	free(rows);
	free(w);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
