/* SPDX-License-Identifier: MIT */
/*
 * ex6_worker_queue: workers with their own setup, results as they come
 * (docs/situations.md, situation 6).
 *
 * Python: to load something expensive once per worker (a model, a table, a
 * connection), people start Processes with an initializer that fills a
 * global and then loops: `while (item := inq.get()) is not None:
 * outq.put(f(item))`, or use Pool(initializer=...) with imap_unordered.
 * Queues grow without bound when the producer is faster than the workers.
 * hpool: hpool_config.init runs once in each worker before its first task
 * (here: it builds a prime sieve), and hpool_imap() with ordered = 0 hands
 * back each result as soon as it is done, with its index. The input is read
 * ahead by a bounded window, so memory stays bounded however long the input
 * is. Per-worker state is _Thread_local: one variable per worker thread in
 * thread mode, one per process in process mode, the caller's in serial mode,
 * so the same source is right in every mode. Completion order changes from
 * run to run, so the results are stored by index and printed sorted.
 */
#include <hpool.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define LIMIT 100000 /* the sieve covers 0..LIMIT-1 */
#define BLOCK 5000   /* each item counts the primes in one block */
#define NBLOCKS (LIMIT / BLOCK)

/* This process's table, built by init; the caller never sees it. One per
 * process, shared by its threads: in thread mode init runs in every
 * worker thread and the first builds it; in hybrid mode init runs once
 * per process, before its threads take work. */
static unsigned char composite[LIMIT];
static _Atomic int sieve_ready;
static pthread_mutex_t sieve_lock = PTHREAD_MUTEX_INITIALIZER;

struct sieve_args {
	long limit;
};

/* initializer=build_sieve, initargs=(LIMIT,) */
static int build_sieve(const void *ctx)
{
	const struct sieve_args *a = ctx;

	if (a->limit > LIMIT)
		return 1; /* nonzero: hpool_create fails, naming the code */
	pthread_mutex_lock(&sieve_lock);
	if (!atomic_load(&sieve_ready)) {
		memset(composite, 0, sizeof(composite));
		composite[0] = composite[1] = 1;
		for (long i = 2; i * i < a->limit; i++)
			if (!composite[i])
				for (long j = i * i; j < a->limit; j += i)
					composite[j] = 1;
		/* Pairs with the task's acquire load: the table is built. */
		atomic_store(&sieve_ready, 1);
	}
	pthread_mutex_unlock(&sieve_lock);
	return 0;
}

struct range {
	long lo, hi;
};

/* Count the primes in [lo, hi) with this worker's table. */
static int count_primes(void *out, const void *in, const void *ctx)
{
	const struct range *r = in;
	long n = 0;

	if (!atomic_load(&sieve_ready))
		return 2; /* init did not run in this worker: a bug */
	for (long x = r->lo; x < r->hi; x++)
		n += !composite[x];
	*(long *)out = n;
	return 0;
}

/* The reference, in the caller: trial division. */
static int is_prime(long x)
{
	if (x < 2)
		return 0;
	for (long d = 2; d * d <= x; d++)
		if (x % d == 0)
			return 0;
	return 1;
}

int main(void)
{
	struct sieve_args args = { LIMIT };
	struct range blocks[NBLOCKS];
	long counts[NBLOCKS], total = 0, count;
	int seen[NBLOCKS] = { 0 };
	hpool_map_opts opts = { .chunk = 1 }; /* each block its own task */
	hpool_config cfg;
	hpool_iter *it;
	hpool *pool;
	size_t idx;
	int err, st, bad = 0;

	for (int i = 0; i < NBLOCKS; i++)
		blocks[i] = (struct range){ (long)i * BLOCK,
					    (long)(i + 1) * BLOCK };

	hpool_config_init(&cfg);
	cfg.init = build_sieve;
	cfg.init_ctx = &args; /* copied into each worker */
	cfg.init_ctx_size = sizeof(args);
	err = hpool_create(&pool, &cfg);
	if (err) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}

	/* pool.imap_unordered(count_primes, blocks, chunksize=1), each
	 * result with its index. */
	err = hpool_imap(pool, count_primes, NULL, 0, blocks, sizeof(blocks[0]),
			 sizeof(long), NBLOCKS, 0, &opts, &it);
	if (err) {
		fprintf(stderr, "hpool_imap: %s\n", hpool_last_error());
		return 1;
	}
	while ((st = hpool_next(it, &idx, &count, -1)) != HPOOL_DONE) {
		if (st != 0 || idx >= NBLOCKS || seen[idx]) {
			printf("bad result: status %d (%s), index %zu\n", st,
			       hpool_strerror(st), idx);
			bad = 1;
			break; /* hpool_iter_free drops the rest */
		}
		seen[idx] = 1;
		counts[idx] = count; /* stored by index: arrival order varies */
	}
	hpool_iter_free(it);
	hpool_destroy(pool);

	for (int i = 0; i < NBLOCKS; i++) {
		long want = 0;

		if (!seen[i]) {
			printf("block %d: missing\n", i);
			bad = 1;
			continue;
		}
		for (long x = blocks[i].lo; x < blocks[i].hi; x++)
			want += is_prime(x);
		printf("primes in [%6ld, %6ld): %4ld\n", blocks[i].lo,
		       blocks[i].hi, counts[i]);
		if (counts[i] != want) {
			printf("MISMATCH in block %d: want %ld\n", i, want);
			bad = 1;
		}
		total += counts[i];
	}
	printf("primes below %d: %ld\n", LIMIT, total);
	if (total != 9592) /* pi(100000) */
		bad = 1;
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
