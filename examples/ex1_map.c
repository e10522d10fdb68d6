/* SPDX-License-Identifier: MIT */
/*
 * ex1_map: a plain function over a list (docs/situations.md, situation 1).
 *
 * Python: `with Pool() as p: ys = p.map(square, xs)`. The pool sizes itself
 * from os.cpu_count() (logical CPUs, even those the process may not run on)
 * and splits xs into chunks whose size you tune by hand.
 * hpool: hpool_map() is the same one call. hpool_create(&pool, NULL) starts
 * one worker per physical core of the cpuset this process may actually use,
 * and chunks are sized automatically (large first, smaller towards the end,
 * so no worker idles while another finishes a big last chunk). The function
 * is an ordinary C function: it reads one item and writes one result.
 */
#include <hpool.h>

#include <stdio.h>
#include <stdlib.h>

#define N 1000

/* def square(x): return x * x */
static int square(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = x * x;
	return 0; /* 0: success; anything else becomes this item's status */
}

int main(void)
{
	static long xs[N], ys[N];
	long sum = 0;
	hpool *pool;
	int err, bad = 0;

	for (long i = 0; i < N; i++)
		xs[i] = i;

	/* Pool(): mode from $HPOOL_MODE, workers from the machine. */
	err = hpool_create(&pool, NULL);
	if (err) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}

	/* ys = pool.map(square, xs) */
	err = hpool_map(pool, square, NULL, 0, xs, sizeof(xs[0]), ys,
			sizeof(ys[0]), N, NULL);
	if (err) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	hpool_destroy(pool);

	printf("squares of 0..9:");
	for (int i = 0; i < 10; i++)
		printf(" %ld", ys[i]);
	printf("\n");
	for (long i = 0; i < N; i++) {
		sum += ys[i];
		if (ys[i] != i * i) {
			printf("MISMATCH at %ld: %ld, want %ld\n", i, ys[i],
			       i * i);
			bad = 1;
		}
	}
	/* 0^2 + ... + 999^2 = 999 * 1000 * 1999 / 6 */
	printf("sum of squares of 0..%d: %ld\n", N - 1, sum);
	if (sum != (long)(N - 1) * N * (2 * N - 1) / 6)
		bad = 1;
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
