/* SPDX-License-Identifier: MIT */
/*
 * Regression: a worker that died after marking its chunk done but before
 * releasing the ring slot (HPOOL__F_ITEM_STORED) left the slot to the
 * supervisor's repair, which finished "the slot's chunk" again. By then
 * the caller had seen done, harvested, and reused the cell for another
 * chunk (or freed it, and a later call or future had it): the repair
 * marked that new chunk done before it ran. Its items came back as
 * HPOOL_ECANCELED with another chunk's stale results, and ran later
 * anyway, into a cell already reused again (lost and duplicated items).
 * Found by tests/soak. Since pull scheduling the same window is a worker
 * that dies after storing an item's result but before its claim record
 * went idle (HPOOL__F_ITEM_STORED): the caller reuses or frees a segment
 * only once no claim record names it (sched.c, hpool__seg_unpublish),
 * and the repair finishes nothing that was stored.
 *
 * Deterministic: the fault point is set before hpool_create, so the
 * supervisor and every worker it forks inherit it; each worker dies at
 * its SKIP+1-th stored item, in that window. Maps with chunk 1 (a cell is
 * reused at once), maps that end and free their cells for the next call,
 * and submitted tasks whose blocks are freed by hpool_wait.
 * Exit status 0 on success.
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 20000
#define SKIP 199

#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c)) {                                                \
			fprintf(stderr, "%s:%d: failed: %s (%s)\n", __FILE__, \
				__LINE__, #c, hpool_last_error());         \
			exit(1);                                           \
		}                                                          \
	} while (0)

static int task_inc(void *out, const void *in, const void *ctx)
{
	(void)ctx;
	*(long *)out = *(const long *)in + 1;
	return 0;
}

static long in[N], out[N];
static int status[N];

/* Every item of a map came back once, right: with the fault at
 * ITEM_STORED a worker dies outside fn, so no item fails at all. */
static void check_map(hpool *p, size_t n, size_t chunk)
{
	hpool_map_opts o = { .chunk = chunk, .status = status };
	size_t bad = 0, first = n;
	int e;

	memset(out, 0, sizeof(out));
	e = hpool_map(p, task_inc, NULL, 0, in, sizeof(long), out,
		      sizeof(long), n, &o);
	for (size_t i = 0; i < n; i++)
		if (status[i] != 0 || out[i] != (long)i + 1) {
			if (first == n)
				first = i;
			bad++;
		}
	if (bad)
		fprintf(stderr, "map of %zu, chunk %zu: %zu items wrong, first "
			"%zu: status %d, out %ld\n", n, chunk, bad, first,
			status[first], out[first]);
	CHECK(bad == 0);
	CHECK(e == 0);
}

int main(void)
{
	hpool_config cfg;
	hpool *p;

	for (long i = 0; i < N; i++)
		in[i] = i;
	atomic_store(&hpool__fault_skip, SKIP);
	atomic_store(&hpool__fault_at, HPOOL__F_ITEM_STORED);
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = 2;
	cfg.shm_size = (size_t)16 << 20;
	CHECK(hpool_create(&p, &cfg) == 0);
	atomic_store(&hpool__fault_at, HPOOL__F_NONE); /* the caller lives */

	check_map(p, N, 1);
	/* short calls: each frees its cells, the next allocates them */
	for (int r = 0; r < 200; r++)
		check_map(p, 7 + (size_t)r % 13, 1);
	check_map(p, N, 0);
	/* futures: hpool_wait frees the block, the next submit takes it */
	for (long i = 0; i < 2000; i++) {
		hpool_future *f;
		long r = 0;

		CHECK(hpool_submit(p, task_inc, NULL, 0, &i, sizeof(i),
				   sizeof(r), &f) == 0);
		CHECK(hpool_wait(f, &r, -1) == 0);
		CHECK(r == i + 1);
	}
	CHECK(hpool_destroy(p) == 0);
	printf("regress_slot_reuse: ok\n");
	return 0;
}
