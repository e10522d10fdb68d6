/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 10, item 10): cells cached between calls were given
 * back to the arena only when a chunk cell could not be found. With a 1 MiB
 * arena, after one map of 64 items of 60 KB (13 cells, 780 KB, cached) a
 * fresh hpool_submit of a 64 KiB input failed with -ENOMEM, and a map with a 200 KB ctx failed with "job block
 * does not fit", until hpool_shm_alloc happened to flush the cache. Every
 * allocation from the arena now gives the cache back and retries before
 * it fails. In every mode (serial mode copies nothing, so it holds no big
 * cells; it must pass all the same).
 */
#include "hpool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "modes.h"

#define BIG (60 * 1000)

static hpool_mode g_mode;

struct big {
	char b[BIG];
};

static int task_big(void *out, const void *in, const void *ctx)
{
	memset(out, (int)*(const long *)in, sizeof(struct big));
	return 0;
}

/* out = in + the ctx's first and last bytes. */
static int task_sum(void *out, const void *in, const void *ctx)
{
	const unsigned char *c = ctx;
	long v = *(const long *)in;

	if (c)
		v += c[0] + c[200 * 1000 - 1];
	*(long *)out = v;
	return 0;
}

static hpool *small_pool(void)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.shm_size = (size_t)1 << 20;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	return p;
}

/* Fill the cell cache: one map of 64 items of 60 KB. */
static void fill_cache(hpool *p)
{
	struct big *out = malloc(64 * sizeof(*out));
	long in[64];

	for (long i = 0; i < 64; i++)
		in[i] = i;
	assert_int_equal(hpool_map(p, task_big, NULL, 0, in, sizeof(long), out,
				   sizeof(*out), 64, NULL), 0);
	assert_int_equal(out[63].b[BIG - 1], 63);
	free(out);
}

static void test_submit_after_big_map(void **st)
{
	hpool *p = small_pool();
	static char in[64 << 10];
	long out = -1;
	hpool_future *f;

	fill_cache(p);
	memset(in, 0, sizeof(in));
	in[0] = 5;
	assert_int_equal(hpool_submit(p, task_sum, NULL, 0, in, sizeof(in),
				      sizeof(long), &f), 0);
	assert_int_equal(hpool_wait(f, &out, -1), 0);
	assert_int_equal(out, 5);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_big_ctx_after_big_map(void **st)
{
	hpool *p = small_pool();
	unsigned char *ctx = calloc(1, 200 * 1000);
	long in[4] = { 1, 2, 3, 4 }, out[4];

	ctx[0] = 10;
	ctx[200 * 1000 - 1] = 20;
	fill_cache(p);
	assert_int_equal(hpool_map(p, task_sum, ctx, 200 * 1000, in,
				   sizeof(long), out, sizeof(long), 4, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(out[i], in[i] + 30);
	/* and big maps keep working after it */
	fill_cache(p);
	assert_int_equal(hpool_destroy(p), 0);
	free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_submit_after_big_map),
		cmocka_unit_test(test_big_ctx_after_big_map),
	};

	return run_in_every_mode("regress_cell_cache", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
