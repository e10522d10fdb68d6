/* SPDX-License-Identifier: MIT */
/*
 * ex9_worker_dies: a worker that dies (docs/situations.md, situation 9).
 *
 * Python: when a worker segfaults or is killed by the out-of-memory killer,
 * Pool.map waits forever for the result that will never come, and
 * ProcessPoolExecutor raises BrokenProcessPool for every pending item.
 * hpool: in process mode only the item that was running fails, with status
 * HPOOL_ECRASH (hpool_last_error() names the signal and the item); the pool
 * starts a replacement worker, finishes every other item, and stays usable.
 * Threads share one address space, so in thread and serial modes a segfault
 * takes the whole program down, as it would in any threaded C program. This
 * example therefore crashes for real only when hpool_mode_of(pool) is
 * HPOOL_MODE_PROCESS; in the other modes the task simulates the failure by
 * returning an error code. It prints "failed" for any nonzero status, so its
 * output is identical in every mode, and checks the exact status per mode.
 */
#include <hpool.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define N 10
#define VICTIM 3

struct crash_ctx {
	long victim;      /* the item that dies; -1: none */
	int really_crash; /* 1 only in process mode */
};

#define SIMULATED_FAILURE 1 /* what the task returns instead of crashing */

static int fragile(void *out, const void *in, const void *ctx)
{
	const struct crash_ctx *c = ctx;
	long x = *(const long *)in;

	if (x == c->victim) {
		/* Die as a stray pointer would. raise() rather than a bad
		 * write: sanitizers would catch the write and exit instead. */
		if (c->really_crash)
			raise(SIGSEGV);
		return SIMULATED_FAILURE;
	}
	*(long *)out = 10 * x;
	return 0;
}

/* Map `fragile` over 0..N-1 and check every status; returns 0 if right. */
static int run(hpool *pool, long victim)
{
	int process = hpool_mode_of(pool) == HPOOL_MODE_PROCESS;
	struct crash_ctx c = { victim, process };
	int status[N], want_status, want_ret, ret, bad = 0;
	long xs[N], ys[N];
	char item[32];
	hpool_map_opts opts = { .status = status };

	for (int i = 0; i < N; i++) {
		xs[i] = i;
		ys[i] = -1;
	}
	ret = hpool_map(pool, fragile, &c, sizeof(c), xs, sizeof(xs[0]), ys,
			sizeof(ys[0]), N, &opts);

	/* The victim's status: the crash, or the task's own code. */
	want_status = process ? HPOOL_ECRASH : SIMULATED_FAILURE;
	/* What hpool_map returns: the first failure, as a library code. */
	want_ret = victim < 0 ? 0 : process ? HPOOL_ECRASH : HPOOL_ETASK;
	if (ret != want_ret) {
		printf("hpool_map returned %d (%s), want %d\n", ret,
		       hpool_strerror(ret), want_ret);
		bad = 1;
	}
	/* In words: which item, and how its worker died. */
	snprintf(item, sizeof(item), "item %ld", victim);
	if (ret && process && (!strstr(hpool_last_error(), item) ||
			       !strstr(hpool_last_error(), "SIGSEGV"))) {
		printf("last error does not say how %s failed: %s\n", item,
		       hpool_last_error());
		bad = 1;
	}
	for (int i = 0; i < N; i++) {
		if (status[i])
			printf("item %d: failed\n", i);
		else
			printf("item %d: %ld\n", i, ys[i]);
		if (i == victim ? status[i] != want_status :
				  status[i] != 0 || ys[i] != 10 * i) {
			printf("MISMATCH at item %d: status %d (%s)\n", i,
			       status[i], hpool_strerror(status[i]));
			bad = 1;
		}
	}
	return bad;
}

int main(void)
{
	hpool *pool;
	int bad = 0;

	if (hpool_create(&pool, NULL)) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}
	printf("map with item %d dying:\n", VICTIM);
	bad |= run(pool, VICTIM);
	/* The same pool, after losing a worker: everything still runs. */
	printf("map again on the same pool:\n");
	bad |= run(pool, -1);
	if (hpool_destroy(pool)) {
		printf("hpool_destroy: %s\n", hpool_last_error());
		bad = 1;
	}
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
