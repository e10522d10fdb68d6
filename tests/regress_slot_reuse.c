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
 *
 * That the workers really die in that window is checked, not assumed: in
 * the first map (chunks of 2 items; the point passes once per stored
 * item) every task counts its runs per worker pid in region memory. A
 * worker that ran SKIP+1 items must then be dead (it died right after
 * storing its SKIP+1-th item, at the fault point; nothing else kills
 * workers here), every other worker ran fewer and must be alive and
 * serving its slot, the runs add up to N (none lost, none repeated), and
 * at least N/(SKIP+1) minus the worker count died. A build whose fault
 * point never fires, a worker dying at another point, or anywhere else,
 * fails here.
 * Exit status 0 on success.
 */
#include "internal.h"
#include "internals.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 20000
#define SKIP 199
#define WORKERS 2
#define PER_CHUNK 2   /* the counted map's chunk */
#define LIFE (SKIP + 1) /* items a worker stores, then dies */
#define MAX_PIDS 1024 /* worker instances in the first map: about N/LIFE */

static int task_inc(void *out, const void *in, const void *ctx)
{
	(void)ctx;
	*(long *)out = *(const long *)in + 1;
	return 0;
}

/* Region memory: items run per worker pid, filled in by the tasks. */
struct tally {
	_Atomic int pid[MAX_PIDS];
	_Atomic unsigned runs[MAX_PIDS];
	_Atomic unsigned full; /* a pid found no free entry */
};

static int task_inc_counted(void *out, const void *in, const void *ctx)
{
	struct tally *t = *(struct tally *const *)ctx;
	int me = getpid();

	for (unsigned i = 0; i < MAX_PIDS; i++) {
		int seen = atomic_load(&t->pid[i]);

		if (!seen && atomic_compare_exchange_strong(&t->pid[i], &seen,
							    me))
			seen = me;
		if (seen == me) {
			atomic_fetch_add(&t->runs[i], 1);
			return task_inc(out, in, NULL);
		}
	}
	atomic_store(&t->full, 1);
	return task_inc(out, in, NULL);
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

/* The first map, counted: see the comment at the top. */
static void check_deaths(hpool *p)
{
	struct tally *t = hpool_shm_alloc(p, sizeof(*t));
	hpool_map_opts o = { .chunk = PER_CHUNK, .status = status };
	unsigned dead = 0, total = 0;
	int pids[1 + WORKERS];

	CHECK(t != NULL);
	memset(t, 0, sizeof(*t));
	memset(out, 0, sizeof(out));
	CHECK(hpool_map(p, task_inc_counted, &t, sizeof(t), in, sizeof(long),
			out, sizeof(long), N, &o) == 0);
	for (size_t i = 0; i < N; i++)
		CHECK(status[i] == 0 && out[i] == (long)i + 1);
	CHECK(atomic_load(&t->full) == 0);
	for (unsigned i = 0; i < MAX_PIDS && atomic_load(&t->pid[i]); i++) {
		int pid = atomic_load(&t->pid[i]);
		unsigned runs = atomic_load(&t->runs[i]);

		total += runs;
		if (runs > LIFE) {
			fprintf(stderr, "worker %d ran %u items, past its "
				"fault point at %u\n", pid, runs, LIFE);
			CHECK(runs <= LIFE);
		}
		if (runs == LIFE) {
			/* it dies right after its last item (the map may
			 * return first): liveness bound only */
			if (!WAIT_UNTIL(proc_gone(pid)))
				fprintf(stderr, "worker %d ran %u items and "
					"lives on\n", pid, runs);
			CHECK(proc_gone(pid));
			dead++;
			continue;
		}
		/* Fewer runs: it never reached the fault point, so it must
		 * still be alive, serving a slot. */
		CHECK(hpool__pool_pids(p, pids, 1 + WORKERS) == 1 + WORKERS);
		if (proc_gone(pid) || (pid != pids[1] && pid != pids[2]))
			fprintf(stderr, "worker %d died after %u items, not at "
				"the fault point (%u)\n", pid, runs, LIFE);
		CHECK(!proc_gone(pid) && (pid == pids[1] || pid == pids[2]));
	}
	CHECK(total == N);
	CHECK(dead >= N / LIFE - WORKERS);
	printf("regress_slot_reuse: %u workers died at the fault point in a "
	       "map of %d items\n", dead, N);
	hpool_shm_free(p, t);
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
	cfg.workers = WORKERS;
	cfg.shm_size = (size_t)16 << 20;
	CHECK(hpool_create(&p, &cfg) == 0);
	atomic_store(&hpool__fault_at, HPOOL__F_NONE); /* the caller lives */

	check_deaths(p);
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
