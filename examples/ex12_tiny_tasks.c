/* SPDX-License-Identifier: MIT */
/*
 * ex12_tiny_tasks: many tiny tasks (docs/situations.md, situation 12).
 *
 * Python: every task of Pool.map is pickled, pushed through a pipe and its
 * result pickled back, tens of microseconds per task; with
 * chunksize=1 a map of a function that takes a microsecond runs many
 * times slower than a plain loop, and people learn to tune chunksize by
 * hand.
 * hpool: a hand-off is a few cache-line transfers through a ring in shared
 * memory, not a system call, and chunks are sized automatically: large
 * ones first (few hand-offs), small ones at the end (no idle worker). The
 * program maps a function of well under a microsecond over many items
 * three ways: automatic chunks, chunk 1 (one hand-off per item: the worst
 * case) and a plain serial loop, and checks that all three agree. It
 * prints only results, identical in every mode; what each way cost per
 * item goes to stderr, since times differ from run to run.
 */
#include <hpool.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N_AUTO 1000000  /* items with automatic chunks */
#define N_ONE 20000     /* items with chunk 1 */

/* A tiny task: a few multiply-adds (xorshift-multiply of the item). */
static int mix(void *out, const void *in, const void *ctx)
{
	uint64_t x = *(const uint32_t *)in;

	x ^= x >> 7;
	x *= 0x9e3779b97f4a7c15u;
	x ^= x >> 29;
	*(uint32_t *)out = (uint32_t)x;
	return 0;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* A checksum that depends on order: results must be where they belong. */
static uint64_t checksum(const uint32_t *v, size_t n)
{
	uint64_t h = 1469598103934665603u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ v[i]) * 1099511628211u;
	return h;
}

int main(void)
{
	uint32_t *in = malloc(N_AUTO * sizeof(*in));
	uint32_t *ref = malloc(N_AUTO * sizeof(*ref));
	uint32_t *out = malloc(N_AUTO * sizeof(*out));
	hpool_map_opts one = { .chunk = 1 };
	double t0, t_loop, t_auto, t_one;
	hpool *pool;
	int bad = 0;

	if (!in || !ref || !out)
		return 1;
	for (uint32_t i = 0; i < N_AUTO; i++)
		in[i] = i;

	/* The plain loop: the reference, and the cost to beat. */
	t0 = now_ns();
	for (size_t i = 0; i < N_AUTO; i++)
		mix(&ref[i], &in[i], NULL);
	t_loop = (now_ns() - t0) / N_AUTO;

	if (hpool_create(&pool, NULL)) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}

	/* Automatic chunks: what a call gets without options. */
	t0 = now_ns();
	if (hpool_map(pool, mix, NULL, 0, in, sizeof(*in), out, sizeof(*out),
		      N_AUTO, NULL)) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	t_auto = (now_ns() - t0) / N_AUTO;
	printf("automatic chunks, %d items: checksum %016llx, %s\n", N_AUTO,
	       (unsigned long long)checksum(out, N_AUTO),
	       checksum(out, N_AUTO) == checksum(ref, N_AUTO) ?
		       "same as the serial loop" : "DIFFERENT");
	bad |= checksum(out, N_AUTO) != checksum(ref, N_AUTO);

	/* Chunk 1: one hand-off per item. */
	t0 = now_ns();
	if (hpool_map(pool, mix, NULL, 0, in, sizeof(*in), out, sizeof(*out),
		      N_ONE, &one)) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	t_one = (now_ns() - t0) / N_ONE;
	printf("chunk 1, %d items: checksum %016llx, %s\n", N_ONE,
	       (unsigned long long)checksum(out, N_ONE),
	       checksum(out, N_ONE) == checksum(ref, N_ONE) ?
		       "same as the serial loop" : "DIFFERENT");
	bad |= checksum(out, N_ONE) != checksum(ref, N_ONE);

	fprintf(stderr, "ex12 (%u worker(s)): per item, serial loop %.1f ns, "
		"automatic chunks %.1f ns, chunk 1 %.0f ns\n",
		hpool_workers(pool), t_loop, t_auto, t_one);
	hpool_destroy(pool);
	free(in);
	free(ref);
	free(out);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
