/* SPDX-License-Identifier: MIT */
/*
 * The pool, in every mode: one source, each test run once per mode
 * (thread, process, serial). Where a mode promises something different (a
 * crash kills a thread-mode caller), the test checks that mode's promise;
 * where a test has nothing to check in a mode (no processes to orphan),
 * it says why and is reported SKIPPED there (SKIP_IN_MODE).
 *
 * No test judges by the clock. A task that must still be running when the
 * test looks waits for an event the test sets (a gate in region memory,
 * which every mode's workers see); the test waits for what a task reports
 * (a count in region memory) with WAIT_UNTIL, whose bound (LIVENESS_S)
 * only turns a hang into a failure. The one exception is the per-item
 * timeout, which is a clock by nature: see test_timeout.
 */
#include "pool.h"

#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <dirent.h>

#include "internals.h"
#include "modes.h"
#include "util.h"

static hpool_mode g_mode;

/* Modes whose workers are processes under a supervisor. */
#define ISOLATED(m) ((m) == HPOOL_MODE_PROCESS || (m) == HPOOL_MODE_HYBRID)

/* A pool whose workers are each alone in their process: in hybrid mode a
 * shape of workers x 1, so that a crash fails its own item only, as in
 * process mode (test_hybrid.c covers the collateral of T > 1). */
static hpool *make_pool_alone(unsigned workers)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = workers;
	cfg.shm_size = 64 << 20;
	if (g_mode == HPOOL_MODE_HYBRID) {
		cfg.hybrid_processes = workers;
		cfg.hybrid_threads = 1;
	}
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_non_null(p);
	return p;
}
/* Why a test has nothing to check over MPI (mpi mode runs only under
 * tests/mpi-pool.sh); tests/test_mpi.c checks the same behaviours there. */
#define MPI_SHARED_WHY                                                     \
	"tasks report through region memory that the caller and its "     \
	"workers share; on another rank it is a copy (tests/test_mpi.c "  \
	"covers this behaviour over MPI)"
#define MPI_FORK_WHY                                                       \
	"it forks a child that would create an MPI pool (MPI is not "     \
	"usable in a forked child); tests/test_mpi.c covers this "        \
	"behaviour over MPI"
#define SKIP_IN_MPI(why)                                                   \
	do {                                                               \
		if (g_mode == HPOOL_MODE_MPI)                              \
			SKIP_IN_MODE(g_mode, why);                         \
	} while (0)
/* Only when items may run on a server rank: with HPOOL_MPI_LOCAL=node
 * every rank shares this machine and rank 0's own workers run them all,
 * in its region, as process mode does. */
#define SKIP_IN_MPI_REMOTE(why)                                            \
	do {                                                               \
		if (g_mode == HPOOL_MODE_MPI && !mpi_node())               \
			SKIP_IN_MODE(g_mode, why);                         \
	} while (0)

/* mpi mode, HPOOL_MPI_LOCAL unset or "node" (tests/mpi-tests.sh runs
 * the suite with node, 0 and 1): rank 0 serves this node itself. */
static bool mpi_node(void)
{
	const char *v = getenv("HPOOL_MPI_LOCAL");

	return !v || !*v || !strcmp(v, "node");
}

/* mpi mode: the workers rank 0 forks itself for cfg.workers = per (node:
 * per; N: N; 0: none). */
static unsigned mpi_local(unsigned per)
{
	return mpi_node() ? per : (unsigned)atoi(getenv("HPOOL_MPI_LOCAL"));
}

/* The workers of a pool made with cfg.workers = per: in mpi mode `per`
 * is per server rank (none on rank 0's node when rank 0 serves it, and
 * every rank shares this machine), plus rank 0's own. */
static unsigned pool_workers(unsigned per)
{
	if (g_mode == HPOOL_MODE_MPI)
		return mpi_local(per) +
		       (mpi_node() ? 0 :
			per * ((unsigned)atoi(getenv("OMPI_COMM_WORLD_SIZE")) -
			       1));
	return per;
}

static hpool *make_pool_sized(unsigned workers, size_t shm_size)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = workers;
	cfg.shm_size = shm_size;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_non_null(p);
	return p;
}

static hpool *make_pool(unsigned workers)
{
	return make_pool_sized(workers, 64 << 20);
}

/* ---- tasks ---------------------------------------------------------------- */

struct affine { long a, b; };

static int task_affine(void *out, const void *in, const void *ctx)
{
	const struct affine *k = ctx;

	*(long *)out = k->a * *(const long *)in + k->b;
	return 0;
}

/* Fails items divisible by 7 with code 100 + i % 3. */
static int task_fail7(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = x;
	return x % 7 == 0 ? (int)(100 + x % 3) : 0;
}

/* Shared scratch for tasks: region memory, same address everywhere. */
struct scratch {
	_Atomic int runs[4096];   /* times each item ran */
	_Atomic int started;
	_Atomic int victim_pid;
	_Atomic int stop;
	_Atomic long seen;        /* test_terminate_arrays: what it read */
	_Atomic int wrote;        /* ...and that it wrote its result */
};

struct crash_ctx {
	struct scratch *s;
	long victim;  /* item that dies */
	int how;      /* 0 segv, 1 abort, 2 _exit(3), 3 wait to be killed */
};

static int task_crash(void *out, const void *in, const void *ctx)
{
	const struct crash_ctx *c = ctx;
	long x = *(const long *)in;

	atomic_fetch_add(&c->s->runs[x], 1);
	*(long *)out = x * 2;
	if (x != c->victim)
		return 0;
	switch (c->how) {
	case 0: {
		volatile uintptr_t bad = 8; /* a real fault, not raise() */

		*(volatile int *)bad = 1;
		break;
	}
	case 1:
		abort();
	case 2:
		_exit(3);
	default:
		atomic_store(&c->s->victim_pid, getpid());
		for (;;)
			pause();
	}
	return 0;
}

static long *iota(size_t n)
{
	long *v = malloc(n * sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = (long)i;
	return v;
}

/* ---- map ---------------------------------------------------------------- */

static void check_map(size_t n, size_t chunk)
{
	hpool *p = make_pool(3);
	struct affine k = { 3, -5 };
	hpool_map_opts o = { .chunk = chunk };
	long *in = iota(n), *out = calloc(n + 1, sizeof(long));

	out[n] = 777; /* guard: nothing written past n */
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), n, &o), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], 3 * (long)i - 5);
	assert_int_equal(out[n], 777);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
}

static void test_map_auto(void **st)
{
	check_map(1, 0);
	check_map(1000, 0);
	check_map(100003, 0);
}

static void test_map_chunk1(void **st)
{
	check_map(5000, 1);
}

static void test_map_chunk_odd(void **st)
{
	check_map(999, 7);
	check_map(10, 1000);
}

static void test_map_n0(void **st)
{
	hpool *p = make_pool(2);

	/* n = 0 is a valid, empty map: nothing runs, nothing is read. */
	assert_int_equal(hpool_map(p, task_affine, NULL, 0, NULL, sizeof(long),
				   NULL, sizeof(long), 0, NULL), 0);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_map_status(void **st)
{
	hpool *p = make_pool(2);
	size_t n = 100;
	long *in = iota(n), out[100];
	int status[100];
	hpool_map_opts o = { .status = status, .chunk = 3 };

	assert_int_equal(hpool_map(p, task_fail7, NULL, 0, in, sizeof(long),
				   out, sizeof(long), n, &o), HPOOL_ETASK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(status[i], i % 7 ? 0 : (int)(100 + i % 3));
		assert_int_equal(out[i], (long)i); /* failed items keep out */
	}
	assert_true(names_item(hpool_last_error(), 0));
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

/* Every item succeeds: each status is 0, whatever the array held, over
 * many segments. */
static void test_map_status_ok(void **st)
{
	hpool *p = make_pool(2);
	size_t n = 200000;
	long *in = iota(n), *out = malloc(n * sizeof(long));
	int *status = malloc(n * sizeof(int));
	hpool_map_opts o = { .status = status };
	struct affine k = { 2, 1 };

	(void)st;
	assert_non_null(out);
	assert_non_null(status);
	memset(status, 0x5a, n * sizeof(int));
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long),
				   out, sizeof(long), n, &o), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(status[i], 0);
		assert_int_equal(out[i], 2 * (long)i + 1);
	}
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
	free(status);
}

static size_t progress_last, progress_calls;
static void on_progress(size_t done, size_t total, void *arg)
{
	assert_int_equal(total, 1000);
	assert_true(done > progress_last);
	progress_last = done;
	progress_calls++;
	assert_ptr_equal(arg, &progress_last);
}

static void test_map_progress(void **st)
{
	hpool *p = make_pool(2);
	long *in = iota(1000), *out = calloc(1000, sizeof(long));
	struct affine k = { 1, 0 };
	hpool_map_opts o = { .progress = on_progress,
			     .progress_arg = &progress_last, .chunk = 10 };

	progress_last = progress_calls = 0;
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 1000, &o),
			 0);
	/* Called in this thread as finished items are seen, at least once,
	 * at most once per item, ending at the total. */
	assert_int_equal(progress_last, 1000);
	assert_true(progress_calls >= 1 && progress_calls <= 1000);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
}

/* A large result per item (bigger than any ring slot) comes back whole. */
struct big { char b[100000]; };
static int task_big(void *out, const void *in, const void *ctx)
{
	memset(out, (int)(*(const long *)in & 0x7f), sizeof(struct big));
	return 0;
}

static void test_map_large_results(void **st)
{
	hpool *p = make_pool(2);
	size_t n = 40;
	long *in = iota(n);
	struct big *out = malloc(n * sizeof(*out));

	assert_int_equal(hpool_map(p, task_big, NULL, 0, in, sizeof(long), out,
				   sizeof(*out), n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < sizeof(out->b); j += 997)
			assert_int_equal(out[i].b[j], (char)i);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
}

/* Cells kept between calls (to spare page faults) give way to the user's
 * own allocations when the arena runs short. */
static void test_cell_cache_gives_way(void **st)
{
	hpool *p = make_pool(2); /* 64 MiB arena */
	size_t n = 40;
	long *in = iota(n);
	struct big *out = malloc(n * sizeof(*out));
	void *b;

	assert_int_equal(hpool_map(p, task_big, NULL, 0, in, sizeof(long), out,
				   sizeof(*out), n, NULL), 0);
	b = hpool_shm_alloc(p, (size_t)62 << 20);
	assert_non_null(b);
	hpool_shm_free(p, b);
	/* and the next map still finds cells */
	assert_int_equal(hpool_map(p, task_big, NULL, 0, in, sizeof(long), out,
				   sizeof(*out), n, NULL), 0);
	assert_int_equal(out[n - 1].b[0], (char)(n - 1));
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
}

/* A result of a page, whose first word is the running process's minor
 * faults, read after the task's first write to that page. */
struct page_out {
	long minflt;
	char rest[4096 - sizeof(long)];
};

static int task_faults(void *out, const void *in, const void *ctx)
{
	struct rusage ru;

	*(volatile char *)out = 1; /* a fault unless the page is mapped */
	getrusage(RUSAGE_SELF, &ru);
	((struct page_out *)out)->minflt = ru.ru_minflt;
	return 0;
}

/* The region pages a task writes its result to are mapped in its
 * process's page tables before the first task of the segment runs
 * (prefault.c: the caller maps a new cell, a process worker a segment it
 * claims from for the first time), not a fault a page. One worker runs
 * the items in order, all in one segment (1 MiB); without the populate,
 * each item's first write faulted: n - 1 more faults between the first
 * item and the last (checked). Serial mode runs in place on `out`, which
 * the test wrote first. */
static void test_segments_prefaulted(void **st)
{
	hpool *p;
	size_t n = 128;
	long *in;
	struct page_out *out;

	SKIP_IN_MPI_REMOTE("the items run in batches on two server ranks, "
			   "each a process of its own: fault counts of "
			   "different processes do not subtract (a server's "
			   "local pool is a process pool, which the other "
			   "modes cover)");
	p = make_pool(1);
	in = iota(n);
	out = malloc(n * sizeof(*out));
	assert_non_null(out);
	memset(out, 1, n * sizeof(*out)); /* its pages, mapped here */
	assert_int_equal(hpool_map(p, task_faults, NULL, 0, in, sizeof(long),
				   out, sizeof(*out), n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_true(out[i].minflt > 0); /* every task ran */
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
#if defined(HPOOL_TEST_ASAN) || defined(HPOOL_TEST_TSAN)
	/* Their shadow memory faults in as the tasks write: the count says
	 * nothing about the region's pages here. */
	free(out);
	skip();
#else
	assert_in_range(out[n - 1].minflt - out[0].minflt, 0, n / 8);
	free(out);
#endif
}

/* ---- shared memory in place ------------------------------------------- */

/* out = the address the task was given for its result. */
static int task_where(void *out, const void *in, const void *ctx)
{
	*(uintptr_t *)out = (uintptr_t)out;
	return 0;
}

static void test_shm_in_place(void **st)
{
	SKIP_IN_MPI_REMOTE("hpool_shm_alloc memory is copied to the rank "
			   "that runs a task (plain bytes), never used in "
			   "place");
	hpool *p = make_pool(2);
	size_t n = 64;
	uintptr_t *so = hpool_shm_alloc(p, n * sizeof(*so));
	uintptr_t *po = malloc(n * sizeof(*po));

	assert_non_null(so);
	assert_int_equal(hpool_map(p, task_where, NULL, 0, NULL, 0, so,
				   sizeof(*so), n, NULL), 0);
	/* Region memory is written where it is, in every mode. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(so[i], (uintptr_t)&so[i]);
	assert_int_equal(hpool_map(p, task_where, NULL, 0, NULL, 0, po,
				   sizeof(*po), n, NULL), 0);
	/* Private memory is copied wherever workers run the tasks. */
	for (size_t i = 0; i < n; i++)
		if (g_mode != HPOOL_MODE_SERIAL)
			assert_int_not_equal(po[i], (uintptr_t)&po[i]);
		else
			assert_int_equal(po[i], (uintptr_t)&po[i]);
	hpool_shm_free(p, so);
	assert_int_equal(hpool_destroy(p), 0);
	free(po);
}

/* ctx pointing at region memory: tasks write through it (pattern 8). */
static int task_fill(void *out, const void *in, const void *ctx)
{
	long *const *dst = ctx;
	long x = *(const long *)in;

	(*dst)[x] = x * x;
	return 0;
}

static void test_shm_through_ctx(void **st)
{
	SKIP_IN_MPI_REMOTE("hpool_shm_alloc memory is copied to the rank "
			   "that runs a task (plain bytes); pointers inside "
			   "ctx are not followed");
	hpool *p = make_pool(2);
	size_t n = 1000;
	long *dst = hpool_shm_alloc(p, n * sizeof(long)), *in = iota(n);

	assert_non_null(dst);
	assert_int_equal(hpool_map(p, task_fill, &dst, sizeof(dst), in,
				   sizeof(long), NULL, 0, n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(dst[i], (long)(i * i));
	hpool_shm_free(p, dst);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

static void test_shm_bad(void **st)
{
	hpool *p = make_pool(1);
	long local;

	assert_null(hpool_shm_alloc(p, 0));
	assert_null(hpool_shm_alloc(p, (size_t)1 << 40));
	assert_non_null(strstr(hpool_last_error(), "HPOOL_SHM_SIZE"));
	hpool_shm_free(p, &local); /* refused, reported, nothing corrupted */
	assert_non_null(strstr(hpool_last_error(), "not a live block"));
	void *b = hpool_shm_alloc(p, 100);
	assert_non_null(b);
	hpool__set_error("none");
	hpool_shm_free(p, b);
	assert_string_equal(hpool_last_error(), "none");
	hpool_shm_free(p, b); /* twice: refused, reported */
	assert_non_null(strstr(hpool_last_error(), "freed twice"));
	hpool_shm_free(p, NULL);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- gates: a task runs until the test lets it finish ------------------ */

/* Region memory (hpool_shm_alloc): the same in the caller and in every
 * mode's workers. */
struct gate {
	_Atomic int open;    /* the test: 1 lets the tasks finish */
	_Atomic int entered; /* the tasks: how many started */
};

/* out = in + 1, once the gate is open. A gate never opened makes it
 * return 99 after LIVENESS_S (a failure, not a hang). */
static int task_gated(void *out, const void *in, const void *ctx)
{
	struct gate *g = *(struct gate *const *)ctx;
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;

	atomic_fetch_add(&g->entered, 1);
	while (!atomic_load(&g->open)) {
		if (now_ns() > end)
			return 99;
		sleep_ms(1);
	}
	*(long *)out = *(const long *)in + 1;
	return 0;
}

static struct gate *gate_new(hpool *p)
{
	struct gate *g = hpool_shm_alloc(p, sizeof(*g));

	assert_non_null(g);
	memset(g, 0, sizeof(*g));
	return g;
}

/* ---- submit / wait ------------------------------------------------------ */

static int task_sleep_echo(void *out, const void *in, const void *ctx)
{
	long ms = *(const long *)in;

	sleep_ms(ms);
	*(long *)out = ms + 1;
	return ms == 7 ? 42 : 0;
}

static void test_submit_wait(void **st)
{
	hpool *p = make_pool(2);
	hpool_future *f[32];
	long out;

	for (long i = 0; i < 32; i++) {
		long v = i % 5;

		/* The input is copied at submit: reusing it is safe. */
		assert_int_equal(hpool_submit(p, task_sleep_echo, NULL, 0, &v,
					      sizeof(v), sizeof(long), &f[i]),
				 0);
		v = 999;
	}
	for (long i = 0; i < 32; i++) {
		assert_int_equal(hpool_wait(f[i], &out, -1), 0);
		assert_int_equal(out, i % 5 + 1);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_submit_code_and_timeout(void **st)
{
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);
	hpool *p = make_pool(2);
	hpool_future *f;
	long v = 7, out = 0;

	assert_int_equal(hpool_submit(p, task_sleep_echo, NULL, 0, &v,
				      sizeof(v), sizeof(long), &f), 0);
	/* The task's own nonzero code comes back as the status. */
	assert_int_equal(hpool_wait(f, &out, -1), 42);
	assert_int_equal(out, 8);

	struct gate *g = gate_new(p);

	v = 300;
	if (g_mode == HPOOL_MODE_SERIAL) {
		/* Serial mode runs the task in hpool_submit: it is done
		 * when submit returns, and a poll finds it so. */
		atomic_store(&g->open, 1);
		assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &v,
					      sizeof(v), sizeof(long), &f), 0);
		assert_int_equal(hpool_ready(f), 1);
		assert_int_equal(hpool_wait(f, &out, 0), 0);
		assert_int_equal(out, 301);
	} else {
		/* The task cannot finish while the gate is shut: a wait
		 * that times out (1 us, then a poll) leaves the future
		 * valid and not ready; it completes once the gate opens. */
		assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &v,
					      sizeof(v), sizeof(long), &f), 0);
		assert_int_equal(hpool_wait(f, &out, 1000), -ETIMEDOUT);
		assert_int_equal(hpool_ready(f), 0);
		assert_true(WAIT_UNTIL(atomic_load(&g->entered) == 1));
		assert_int_equal(hpool_wait(f, &out, 0), -ETIMEDOUT);
		assert_int_equal(hpool_ready(f), 0);
		atomic_store(&g->open, 1);
		assert_int_equal(hpool_wait(f, &out, -1), 0);
		assert_int_equal(out, 301);
	}
	hpool_shm_free(p, g);
	assert_int_equal(hpool_destroy(p), 0);
}

/* Canceled tasks that hpool_wait collected wait in limbo, still listed
 * until a sweep (a submit sweeps every 32). One worker, held by a gated
 * task; 31 tasks canceled and collected; then live tasks up to the
 * table's 256 slots and one more. That last submit finds the table full
 * and takes the canceled ones back: it returns while the gated task
 * still runs (without that sweep it waited for the worker, here for
 * LIVENESS_S). */
static void test_full_table_takes_back_canceled(void **st)
{
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);
	if (g_mode == HPOOL_MODE_SERIAL)
		SKIP_IN_MODE(g_mode, "tasks run in the caller at submit: "
			     "nothing is published");
	hpool *p = make_pool(1);
	struct gate *g = gate_new(p);
	hpool_future *held, *c, *f[225];
	long v = 1, out = 0;

	assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &v,
				      sizeof(v), sizeof(long), &held),
			 0);
	assert_true(WAIT_UNTIL(atomic_load(&g->entered) == 1));
	for (int i = 0; i < 31; i++) {
		assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &v,
					      sizeof(v), sizeof(long), &c),
				 0);
		assert_int_equal(hpool_cancel(c), 0);
		assert_int_equal(hpool_wait(c, NULL, -1), HPOOL_ECANCELED);
	}
	for (int i = 0; i < 225; i++) /* 1 + 31 + 224 slots, then one more */
		assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &v,
					      sizeof(v), sizeof(long), &f[i]),
				 0);
	assert_int_equal(hpool_ready(held), 0);
	atomic_store(&g->open, 1);
	for (int i = 0; i < 225; i++) {
		assert_int_equal(hpool_wait(f[i], &out, -1), 0);
		assert_int_equal(out, 2);
	}
	assert_int_equal(hpool_wait(held, &out, -1), 0);
	hpool_shm_free(p, g);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_futures_survive_destroy(void **st)
{
	hpool *p = make_pool(2);
	hpool_future *f[8];
	long out;

	for (long i = 0; i < 8; i++)
		assert_int_equal(hpool_submit(p, task_sleep_echo, NULL, 0, &i,
					      sizeof(i), sizeof(long), &f[i]),
				 0);
	/* destroy finishes queued work; the results stay with the futures */
	assert_int_equal(hpool_destroy(p), 0);
	for (long i = 0; i < 8; i++) {
		assert_int_equal(hpool_ready(f[i]), 1);
		assert_int_equal(hpool_wait(f[i], &out, -1), i == 7 ? 42 : 0);
		assert_int_equal(out, i + 1);
	}
}

/* A future's block goes back to the arena after hpool_wait, or after
 * hpool_future_free once its task is over, even when it waits in limbo
 * for a worker to let go of its segment (future.c): round trips that
 * together allocate four times a small arena all succeed. */
struct blob {
	char b[300];
};

static int task_blob(void *out, const void *in, const void *ctx)
{
	memcpy(out, in, sizeof(struct blob));
	((struct blob *)out)->b[0]++;
	return 0;
}

static void test_future_blocks_come_back(void **st)
{
	hpool *p = make_pool_sized(2, 1 << 20);
	struct blob in, out;

	memset(&in, 7, sizeof(in));
	for (int i = 0; i < 2400; i++) {
		hpool_future *f;

		in.b[0] = (char)i;
		assert_int_equal(hpool_submit(p, task_blob, NULL, 0, &in,
					      sizeof(in), sizeof(out), &f),
				 0);
		if (i % 3 == 2) { /* given up: it runs or is canceled */
			hpool_future_free(f);
			continue;
		}
		assert_int_equal(hpool_wait(f, &out, -1), 0);
		assert_int_equal(out.b[0], (char)(i + 1));
		assert_int_equal(out.b[299], 7);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* A take-back (a map taking its segments back, a sweep of futures' limbo)
 * reads only the claim records a worker can be using: rec[0..depth] and
 * the batch record, two a worker when nothing nests (three on the MPI
 * bridge's slots, which claim with two records each), not all 65
 * (sched.c, hazards). Counted by the test build, not timed. */
static void test_takeback_reads_few_records(void **st)
{
	hpool *p = make_pool(4);
	struct affine k = { 2, 1 };
	long *in = iota(256), out[256];
	uint64_t scans0, scans, recs0, recs;

	recs0 = hpool__pool_hazard_recs(p, &scans0);
	for (int r = 0; r < 4; r++)
		assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
					   sizeof(long), out, sizeof(long),
					   256, NULL),
				 0);
	for (int r = 0; r < 40; r++) { /* past a limbo sweep */
		hpool_future *f;

		assert_int_equal(hpool_submit(p, task_affine, &k, sizeof(k),
					      &in[r], sizeof(long),
					      sizeof(long), &f),
				 0);
		assert_int_equal(hpool_wait(f, &out[0], -1), 0);
		assert_int_equal(out[0], 2 * r + 1);
	}
	recs = hpool__pool_hazard_recs(p, &scans);
	if (g_mode == HPOOL_MODE_SERIAL) {
		/* Tasks run in the caller: nothing is published. */
		assert_true(scans == scans0);
	} else {
		assert_true(scans > scans0);
		assert_true(recs - recs0 <=
			    3 * (uint64_t)hpool_workers(p) * (scans - scans0));
	}
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

/* ---- imap ---------------------------------------------------------------- */

static int task_imap(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = x + 1000;
	return x % 11 == 5 ? 9 : 0;
}

/* n inputs 0..n-1 whose pages from item n/2 on cannot be read until
 * guard_lift(): whoever reads the input ahead of the bounded window (the
 * caller issuing, a thread worker copying, rank 0's bridge) faults and
 * the test dies. No region memory is involved, so it holds over MPI too.
 * Return: the input; *len its mapping's bytes. */
static long *guarded_iota(size_t n, size_t *len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t lo = (n / 2 * sizeof(long) + pg - 1) / pg * pg;
	long *in;

	*len = (n * sizeof(long) + pg - 1) / pg * pg;
	in = mmap(NULL, *len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(in != MAP_FAILED);
	for (size_t i = 0; i < n; i++)
		in[i] = (long)i;
	assert_true(lo < *len); /* something is guarded */
	assert_int_equal(mprotect((char *)in + lo, *len - lo, PROT_NONE), 0);
	return in;
}

static void guard_lift(long *in, size_t len)
{
	assert_int_equal(mprotect(in, len, PROT_READ | PROT_WRITE), 0);
}

/* One result of task_imap's stream: index in range and new, in order
 * when ordered, its status and its result. */
static void check_imap_item(size_t idx, size_t n, int r, long out, char *got,
			    size_t *seen, int ordered)
{
	assert_true(idx < n);
	assert_int_equal(got[idx], 0);
	got[idx] = 1;
	if (ordered)
		assert_int_equal(idx, *seen);
	assert_int_equal(r, idx % 11 == 5 ? 9 : 0);
	assert_int_equal(out, (long)idx + 1000);
	(*seen)++;
}

static void check_imap(int ordered, size_t chunk)
{
	hpool *p = make_pool(3);
	size_t n = 4000, idx, seen = 0, len;
	char *got = calloc(n, 1);
	long *in = guarded_iota(n, &len), out;
	hpool_map_opts o = { .chunk = chunk };
	hpool_iter *it;
	int r, first = 1;

	assert_int_equal(hpool_imap(p, task_imap, NULL, 0, in, sizeof(long),
				    sizeof(long), n, ordered, &o, &it),
			 0);
	while ((r = hpool_next(it, &idx, &out, -1)) != HPOOL_DONE) {
		if (first) {
			/* Bounded read-ahead: nothing read past n/2 before
			 * the first result (a read would have faulted). */
			guard_lift(in, len);
			first = 0;
		}
		check_imap_item(idx, n, r, out, got, &seen, ordered);
	}
	assert_int_equal(seen, n);
	assert_int_equal(hpool_next(it, &idx, &out, 0), HPOOL_DONE);
	assert_int_equal(idx, SIZE_MAX);
	hpool_iter_free(it);
	assert_int_equal(hpool_destroy(p), 0);
	free(got);
	munmap(in, len);
}

static void test_imap_ordered(void **st)
{
	check_imap(1, 0);
	check_imap(1, 1);
}

static void test_imap_unordered(void **st)
{
	check_imap(0, 0);
	check_imap(0, 3);
}

/* Counts the items started, in region memory (ctx points at it). */
static int task_count_start(void *out, const void *in, const void *ctx)
{
	_Atomic long *const *started = ctx;

	atomic_fetch_add(*started, 1);
	*(long *)out = *(const long *)in;
	return 0;
}

/* imap reads ahead of its consumer by at most 4 segments of
 * max(16 x workers, taken / 32) items each (call.c, IMAP_AHEAD_DIV): an
 * eighth of what the consumer took, besides the least window; and
 * hpool_next holds at most 256 finished results ready (map.c). And the
 * segments do grow: halfway, with the consumer paused, the workers start
 * more than the least window ahead (with segments kept at the least they
 * would stop short, and WAIT_UNTIL fail). Serial mode runs a segment
 * when it is issued, one at a time: some segment ran more than the least
 * window ahead. */
static void check_imap_ahead(int ordered)
{
	hpool *p = make_pool(2);
	size_t n = 40000, h = 0, idx, most = 0;
	size_t least = 16 * hpool_workers(p);
	long *in = iota(n), out;
	_Atomic long *started = hpool_shm_alloc(p, sizeof(*started));
	hpool_iter *it;
	int r;

	assert_non_null(started);
	atomic_store(started, 0);
	assert_int_equal(hpool_imap(p, task_count_start, &started,
				    sizeof(started), in, sizeof(long),
				    sizeof(long), n, ordered, NULL, &it),
			 0);
	while ((r = hpool_next(it, &idx, &out, -1)) != HPOOL_DONE) {
		size_t ahead;

		assert_int_equal(r, 0);
		assert_int_equal(out, (long)idx);
		ahead = (size_t)atomic_load(started) - ++h;
		assert_true(ahead <=
			    4 * (h / 32 > least ? h / 32 : least) + 256);
		most = ahead > most ? ahead : most;
		if (h == n / 2 && g_mode != HPOOL_MODE_SERIAL)
			assert_true(WAIT_UNTIL((size_t)atomic_load(started) >
					       h + 4 * least));
	}
	assert_int_equal(h, n);
	assert_true(most > 4 * least);
	hpool_iter_free(it);
	hpool_shm_free(p, (void *)started);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

static void test_imap_read_ahead(void **st)
{
	SKIP_IN_MPI_REMOTE("hpool_shm_alloc memory is copied to the rank "
			   "that runs a task: the count stays 0 here");
	(void)st;
	check_imap_ahead(1);
	check_imap_ahead(0);
}

/* Without a progress callback hpool_next hands out runs of successful
 * results held ready (map.c, take_run): a failed item ends a run and is
 * handed out on its own, and opts.status gets every item's status,
 * whatever the array held. Many segments, both orders. */
static void check_imap_status(int ordered)
{
	hpool *p = make_pool(2);
	size_t n = 20000, idx, seen = 0;
	long *in = iota(n), out;
	int *status = malloc(n * sizeof(int)), r;
	char *got = calloc(n, 1);
	hpool_map_opts o = { .status = status };
	hpool_iter *it;

	assert_non_null(status);
	assert_non_null(got);
	memset(status, 0x5a, n * sizeof(int));
	assert_int_equal(hpool_imap(p, task_imap, NULL, 0, in, sizeof(long),
				    sizeof(long), n, ordered, &o, &it),
			 0);
	while ((r = hpool_next(it, &idx, &out, -1)) != HPOOL_DONE) {
		check_imap_item(idx, n, r, out, got, &seen, ordered);
		if (r)
			assert_true(names_item(hpool_last_error(), idx));
	}
	assert_int_equal(seen, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(status[i], i % 11 == 5 ? 9 : 0);
	hpool_iter_free(it);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(status);
	free(got);
}

static void test_imap_status(void **st)
{
	(void)st;
	check_imap_status(1);
	check_imap_status(0);
}

static void test_imap_early_free(void **st)
{
	hpool *p = make_pool(2);
	long *in = iota(10000), out;
	struct affine k = { 1, 1 };
	hpool_iter *it;
	size_t idx;

	assert_int_equal(hpool_imap(p, task_affine, &k, sizeof(k), in,
				    sizeof(long), sizeof(long), 10000, 1, NULL,
				    &it), 0);
	assert_int_equal(hpool_next(it, &idx, &out, -1), 0);
	assert_int_equal(idx, 0);
	hpool_iter_free(it); /* drops the rest without leaking the window */
	/* the pool is still fully usable */
	assert_int_equal(hpool_imap(p, task_affine, &k, sizeof(k), in,
				    sizeof(long), sizeof(long), 0, 0, NULL,
				    &it), 0);
	assert_int_equal(hpool_next(it, &idx, &out, -1), HPOOL_DONE);
	hpool_iter_free(it);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

/* ---- init and recycling ------------------------------------------------- */

/* Atomic: in thread mode every worker's init stores it at once. */
static _Atomic long worker_token;
static int init_token(const void *ctx)
{
	atomic_store(&worker_token, *(const long *)ctx);
	return 0;
}
static int init_fail(const void *ctx)
{
	return 17;
}
static int task_token(void *out, const void *in, const void *ctx)
{
	*(long *)out = atomic_load(&worker_token);
	return 0;
}

static void test_init(void **st)
{
	hpool_config cfg;
	long token = 4242, out[200];
	hpool *p;

	atomic_store(&worker_token, 0);
	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.init = init_token;
	cfg.init_ctx = &token;
	cfg.init_ctx_size = sizeof(token);
	assert_int_equal(hpool_create(&p, &cfg), 0);
	token = 0; /* init_ctx was copied at create */
	assert_int_equal(hpool_map(p, task_token, NULL, 0, NULL, 0, out,
				   sizeof(long), 200, NULL), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(out[i], 4242);
	assert_int_equal(hpool_destroy(p), 0);

	cfg.init = init_fail;
	assert_int_equal(hpool_create(&p, &cfg), HPOOL_ETASK);
	assert_non_null(strstr(hpool_last_error(), "init returned 17"));
}

static int task_pid(void *out, const void *in, const void *ctx)
{
	*(long *)out = getpid();
	return 0;
}

static void test_max_tasks(void **st)
{
	hpool_config cfg;
	long out[100];
	int distinct = 0;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.max_tasks_per_worker = 10;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	hpool_map_opts o = { .chunk = 1 };
	assert_int_equal(hpool_map(p, task_pid, NULL, 0, NULL, 0, out,
				   sizeof(long), 100, &o), 0);
	for (int i = 0; i < 100; i++) {
		int j;

		for (j = 0; j < i && out[j] != out[i]; j++)
			;
		distinct += j == i;
	}
	/* Process mode replaces a worker after 10 items, hybrid mode its
	 * process (both threads) after 10 items of its threads, mpi mode a
	 * server's worker (pids of two hosts could collide: not here, all
	 * ranks share this machine); the other modes document that they do
	 * not recycle. */
	if (ISOLATED(g_mode) || g_mode == HPOOL_MODE_MPI)
		assert_true(distinct >= 10);
	else
		assert_int_equal(distinct, 1);
	assert_int_equal(hpool_workers(p),
			 pool_workers(g_mode == HPOOL_MODE_SERIAL ? 1 : 2));
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- crashes ---------------------------------------------------------- */

static void *killer(void *arg)
{
	struct scratch *s = arg;

	/* Not found: the victim never ran, and the map's checks say so. */
	if (WAIT_UNTIL(atomic_load(&s->victim_pid) != 0))
		kill(atomic_load(&s->victim_pid), SIGKILL);
	return NULL;
}

/* One crash of item `victim` by `how`, with chunk `chunk`: only that item
 * fails, every other runs exactly once, the pool keeps its size. */
static void crash_once(hpool *p, struct scratch *s, size_t n, long victim,
		       int how, size_t chunk)
{
	struct crash_ctx c = { s, victim, how };
	hpool_map_opts o = { .chunk = chunk };
	long *in = iota(n), *out = calloc(n, sizeof(long));
	int *status = calloc(n, sizeof(int));
	pthread_t th;

	o.status = status;
	memset(s, 0, sizeof(*s));
	if (how == 3)
		pthread_create(&th, NULL, killer, s);
	assert_int_equal(hpool_map(p, task_crash, &c, sizeof(c), in,
				   sizeof(long), out, sizeof(long), n, &o),
			 HPOOL_ECRASH);
	if (how == 3)
		pthread_join(th, NULL);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(atomic_load(&s->runs[i]), 1);
		if ((long)i == victim) {
			assert_int_equal(status[i], HPOOL_ECRASH);
		} else {
			assert_int_equal(status[i], 0);
			assert_int_equal(out[i], 2 * (long)i);
		}
	}
	{
		const char *e = hpool_last_error();

		if (!names_item(e, (size_t)victim) || !strstr(e, "pid"))
			print_message("last error: %s\n", e);
		assert_true(names_item(e, (size_t)victim));
		assert_non_null(strstr(e, "pid"));
		if (!strstr(e, how == 0 ? "SIGSEGV" : how == 1 ? "SIGABRT" :
			       how == 2 ? "exited with status 3" : "SIGKILL"))
			print_message("how %d: last error: %s\n", how, e);
		assert_non_null(strstr(e, how == 0 ? "SIGSEGV" :
					  how == 1 ? "SIGABRT" :
					  how == 2 ? "exited with status 3" :
						     "SIGKILL"));
	}
	assert_int_equal(hpool_workers(p), 3);
	free(in);
	free(out);
	free(status);
}

/* Thread and serial modes: no isolation without processes, a crash takes
 * the caller down, which is what these modes promise. `submit` picks the
 * call that runs the crashing task. */
static void expect_crash_kills_caller(int submit)
{
	pid_t pid = fork_child(LIVENESS_S);
	char buf[64];
	int ws;

	assert_true(pid >= 0);
	if (pid == 0) {
		hpool_config cfg;
		struct scratch s;
		struct crash_ctx c = { &s, 3, 0 };
		long in[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, out[8];
		hpool_future *f;
		hpool *p;

		/* cmocka catches SIGSEGV in the test process */
		signal(SIGSEGV, SIG_DFL);
		memset(&s, 0, sizeof(s));
		hpool_config_init(&cfg);
		cfg.mode = g_mode;
		cfg.workers = 2;
		if (hpool_create(&p, &cfg))
			_exit(1);
		if (submit) {
			if (hpool_submit(p, task_crash, &c, sizeof(c), &in[3],
					 sizeof(long), sizeof(long), &f) == 0)
				hpool_wait(f, out, -1);
		} else {
			hpool_map(p, task_crash, &c, sizeof(c), in,
				  sizeof(long), out, sizeof(long), 8, NULL);
		}
		_exit(2);
	}
	ws = reap(pid);
	if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGSEGV)
		fail_msg("the caller: %s, want SIGSEGV",
			 status_str(ws, buf, sizeof(buf)));
}

static void test_crash(void **st)
{
	/* mpi, rank 0 serving this node: its workers are processes under
	 * its own supervisor, as process mode's */
	SKIP_IN_MPI_REMOTE(MPI_FORK_WHY);
	if (!ISOLATED(g_mode) && g_mode != HPOOL_MODE_MPI) {
		expect_crash_kills_caller(0);
		return;
	}
	hpool *p = make_pool_alone(3);
	struct scratch *s = hpool_shm_alloc(p, sizeof(*s));

	for (int how = 0; how < 4; how++) {
		crash_once(p, s, 50, 17, how, 1);   /* chunk 1 */
		crash_once(p, s, 500, 250, how, 0); /* automatic chunks */
		crash_once(p, s, 60, 25, how, 10);  /* mid-chunk */
		crash_once(p, s, 60, 0, how, 60);   /* first of one chunk */
		crash_once(p, s, 60, 59, how, 60);  /* last of one chunk */
	}
	/* many repetitions: the pool keeps going */
	for (int r = 0; r < 30; r++)
		crash_once(p, s, 40, r % 40, r % 3, r % 2 ? 1 : 0);
	hpool_shm_free(p, s);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_crash_future(void **st)
{
	/* mpi, rank 0 serving this node: its workers are processes under
	 * its own supervisor, as process mode's */
	SKIP_IN_MPI_REMOTE(MPI_FORK_WHY);
	if (!ISOLATED(g_mode) && g_mode != HPOOL_MODE_MPI) {
		expect_crash_kills_caller(1);
		return;
	}
	hpool *p = make_pool_alone(2);
	struct scratch *s = hpool_shm_alloc(p, sizeof(*s));
	struct crash_ctx c = { s, 1, 1 };
	hpool_future *f0, *f1;
	long v0 = 0, v1 = 1, out;

	memset(s, 0, sizeof(*s));
	assert_int_equal(hpool_submit(p, task_crash, &c, sizeof(c), &v1,
				      sizeof(long), sizeof(long), &f1), 0);
	assert_int_equal(hpool_submit(p, task_crash, &c, sizeof(c), &v0,
				      sizeof(long), sizeof(long), &f0), 0);
	assert_int_equal(hpool_wait(f1, &out, -1), HPOOL_ECRASH);
	assert_non_null(strstr(hpool_last_error(), "SIGABRT"));
	assert_int_equal(hpool_wait(f0, &out, -1), 0);
	assert_int_equal(out, 0);
	hpool_shm_free(p, s);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- timeouts and terminate ------------------------------------------- */

/*
 * The per-item timeout is a clock by nature; what this test keeps off the
 * clock is the victim's overrun. In process mode the victim waits until
 * the supervisor kills it (no sleep that "should" be long enough); in
 * thread and serial mode, where nothing can stop a task, it runs until
 * its own clock says its deadline has passed, so the library, which
 * starts timing before the task starts, sees the overrun too. The other
 * items are trivial and must finish within TIMEOUT_NS: a margin of about
 * five orders of magnitude over their run time, the only timing bound
 * left in this file. (How quickly an overrun is caught is a number for
 * the benchmark, not a test.)
 */
#define TIMEOUT_NS ((int64_t)1000000000) /* per item: 1 s */

struct overrun_ctx {
	hpool_mode mode;
	long victim;
};

static int task_overrun(void *out, const void *in, const void *ctx)
{
	const struct overrun_ctx *c = ctx;
	long x = *(const long *)in;
	int64_t t0 = now_ns();

	if (x == c->victim && ISOLATED(c->mode)) {
		/* until the supervisor kills this worker; 99 if it never
		 * does (a failure, not a hang) */
		while (now_ns() - t0 < (int64_t)LIVENESS_S * 1000000000)
			sleep_ms(5);
		return 99;
	}
	if (x == c->victim)
		while (now_ns() - t0 <= TIMEOUT_NS)
			sleep_ms(5);
	*(long *)out = x;
	return 0;
}

static void test_timeout(void **st)
{
	/* hybrid: one thread per process, or an item its sibling thread
	 * runs when the overdue one is killed would fail as collateral
	 * (test_hybrid's test_timeout_collateral checks that) */
	hpool *p = make_pool_alone(2);
	struct overrun_ctx c = { g_mode, 3 };
	long *in = iota(10), out[10];
	int status[10];
	hpool_map_opts o = { .chunk = 1, .status = status,
			     .timeout_ns = TIMEOUT_NS };

	/* Process mode kills the overdue worker; thread and serial modes
	 * report the overrun when the task returns. Same statuses. */
	assert_int_equal(hpool_map(p, task_overrun, &c, sizeof(c), in,
				   sizeof(long), out, sizeof(long), 10, &o),
			 -ETIMEDOUT);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(status[i], i == 3 ? -ETIMEDOUT : 0);
		if (i != 3)
			assert_int_equal(out[i], i);
	}
	assert_true(names_item(hpool_last_error(), 3));
	/* the pool is whole afterwards */
	o.timeout_ns = 0;
	assert_int_equal(hpool_map(p, task_overrun, &c, sizeof(c), in,
				   sizeof(long), out, sizeof(long), 3, &o), 0);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

struct long_ctx {
	struct scratch *s;
	hpool *pool;
	hpool_mode mode;
};

/* Counts its start, then runs until the test says stop: it never ends on
 * its own (LIVENESS_S bounds it). Serial mode: hpool_terminate, called from
 * another thread, waits for the running task, so the task also ends when
 * it sees the pool terminated (hpool_workers() is 0 from then on). */
static int task_long(void *out, const void *in, const void *ctx)
{
	const struct long_ctx *c = ctx;
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;
	long x = *(const long *)in;

	atomic_fetch_add(&c->s->runs[x], 1);
	atomic_fetch_add(&c->s->started, 1);
	while (!atomic_load(&c->s->stop) && now_ns() < end) {
		if (c->mode == HPOOL_MODE_SERIAL && hpool_workers(c->pool) == 0)
			break;
		sleep_ms(1);
	}
	*(long *)out = 1;
	return 0;
}

struct term_arg {
	hpool *p;
	struct scratch *s;
	int ret;
	int status[16];
};

static void *term_mapper(void *arg)
{
	struct term_arg *a = arg;
	struct long_ctx c = { a->s, a->p, g_mode };
	long in[16], out[16];
	hpool_map_opts o = { .chunk = 1, .status = a->status };

	for (int i = 0; i < 16; i++)
		in[i] = i;
	a->ret = hpool_map(a->p, task_long, &c, sizeof(c), in, sizeof(long),
			   out, sizeof(long), 16, &o);
	return NULL;
}

static void test_terminate(void **st)
{
	struct term_arg a = { 0 };
	/* Read after terminate, which unmaps the pool's region: a shared
	 * mapping of the test's own, made before the pool, so that process
	 * workers (forked after it) share it too. Thread mode: an abandoned
	 * task may still read it after the test ends; it stays mapped. */
	struct scratch *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned workers = g_mode == HPOOL_MODE_SERIAL ? 1 : 2;
	pthread_t th;
	int started = 0;
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);

	assert_true(s != MAP_FAILED);
	a.p = make_pool(2);
	a.s = s;
	pthread_create(&th, NULL, term_mapper, &a);
	assert_true(WAIT_UNTIL(atomic_load(&a.s->started) > 0));
	assert_int_equal(hpool_terminate(a.p), 0);
	pthread_join(th, NULL);
	atomic_store(&s->stop, 1); /* let abandoned thread-mode tasks end */
	assert_int_equal(a.ret, HPOOL_ECANCELED);
	/* No task ends on its own before terminate: at most one per worker
	 * started (each blocks its worker), and every item that did not
	 * start is canceled, none lost. One that started ends canceled
	 * (killed or abandoned) or, in serial mode, finished. */
	for (int i = 0; i < 16; i++) {
		int runs = atomic_load(&a.s->runs[i]);

		assert_true(runs <= 1);
		if (!runs)
			assert_int_equal(a.status[i], HPOOL_ECANCELED);
		else
			assert_true(a.status[i] == HPOOL_ECANCELED ||
				    (g_mode == HPOOL_MODE_SERIAL &&
				     a.status[i] == 0));
		started += runs;
	}
	assert_true(started >= 1 && started <= (int)workers);
	/* a terminated pool refuses work */
	assert_int_equal(hpool_map(a.p, task_long, NULL, 0, NULL, 0, NULL, 0,
				   1, NULL), HPOOL_ECLOSED);
	if (g_mode != HPOOL_MODE_THREAD)
		munmap(s, sizeof(*s));
}

/* Item 0 blocks until the test says stop, then reads its input and
 * writes its result; the others copy their input. */
static int task_hold_first(void *out, const void *in, const void *ctx)
{
	const struct long_ctx *c = ctx;
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;
	long x = *(const long *)in;

	if (x == 0) {
		atomic_fetch_add(&c->s->started, 1);
		while (!atomic_load(&c->s->stop) && now_ns() < end) {
			if (c->mode == HPOOL_MODE_SERIAL &&
			    hpool_workers(c->pool) == 0)
				break;
			sleep_ms(1);
		}
		atomic_store(&c->s->seen, *(const long *)in);
		*(long *)out = 777;
		atomic_store(&c->s->wrote, 1);
		return 0;
	}
	*(long *)out = x;
	return 0;
}

/* A map of 256 longs (in[i] = i) with automatic chunks, run by a thread
 * of its own, over a pool of 2 and a shared scratch. */
struct arrays_arg {
	hpool *p;
	struct scratch *s;
	hpool_fn fn;
	long *in, *out;
	int ret;
};

static void *arrays_mapper(void *arg)
{
	struct arrays_arg *a = arg;
	struct long_ctx c = { a->s, a->p, g_mode };

	a->ret = hpool_map(a->p, a->fn, &c, sizeof(c), a->in, sizeof(long),
			   a->out, sizeof(long), 256, NULL);
	return NULL;
}

/* Everything but the thread (pthread_create with arrays_mapper). */
static void arrays_init(struct arrays_arg *a, hpool_fn fn)
{
	a->s = mmap(NULL, sizeof(*a->s), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(a->s != MAP_FAILED);
	a->p = make_pool(2);
	a->fn = fn;
	a->in = malloc(256 * sizeof(long));
	a->out = malloc(256 * sizeof(long));
	assert_non_null(a->in);
	assert_non_null(a->out);
	for (int i = 0; i < 256; i++)
		a->in[i] = i;
}

/* The scratch stays mapped in thread mode: an abandoned task uses it. */
static void arrays_end(struct arrays_arg *a)
{
	free(a->in);
	free(a->out);
	if (g_mode != HPOOL_MODE_THREAD)
		munmap(a->s, sizeof(*a->s));
}

/* Once hpool_map returned (terminated), a task still running, abandoned
 * in thread mode, no longer reads the caller's `in` nor writes its `out`:
 * the caller may free or reuse them. Automatic chunks, where thread
 * mode's workers copy the arrays themselves (the touch protocol). */
static void test_terminate_arrays(void **st)
{
	struct arrays_arg a = { 0 };
	struct scratch *s;
	pthread_t th;
	(void)st;
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);

	arrays_init(&a, task_hold_first);
	s = a.s;
	pthread_create(&th, NULL, arrays_mapper, &a);
	assert_true(WAIT_UNTIL(atomic_load(&s->started) > 0));
	assert_int_equal(hpool_terminate(a.p), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.ret, HPOOL_ECANCELED);
	/* The caller reuses its arrays, then lets the task go on. */
	for (int i = 0; i < 256; i++)
		a.in[i] = -5, a.out[i] = -1;
	atomic_store(&s->stop, 1);
	if (g_mode == HPOOL_MODE_THREAD) {
		/* Abandoned, it ends: it read the input it was given, and
		 * its result went nowhere the caller sees. */
		assert_true(WAIT_UNTIL(atomic_load(&s->wrote)));
		assert_int_equal(atomic_load(&s->seen), 0);
	} else if (g_mode == HPOOL_MODE_SERIAL) {
		/* Run in the caller: it ended before the map returned. */
		assert_int_equal(atomic_load(&s->wrote), 1);
	} else {
		/* Killed with its worker process. */
		assert_int_equal(atomic_load(&s->wrote), 0);
	}
	for (int i = 0; i < 256; i++)
		assert_int_equal(a.out[i], -1);
	arrays_end(&a);
}

/* The copy-out hook: a worker whose range ran (RANGE_RAN) waits until the
 * test says go, then reports that it got past its copy (RANGE_COPIED). */
static struct scratch *copy_hook_s;

static void copy_hook(int point)
{
	if (point == HPOOL__F_RANGE_RAN &&
	    !atomic_fetch_add(&copy_hook_s->started, 1)) {
		while (!atomic_load(&copy_hook_s->stop))
			sleep_ms(1);
		atomic_store(&hpool__fault_at, HPOOL__F_RANGE_COPIED);
	} else if (point == HPOOL__F_RANGE_COPIED) {
		atomic_store(&copy_hook_s->wrote, 1);
	}
}

static int task_copy(void *out, const void *in, const void *ctx)
{
	(void)ctx;
	*(long *)out = *(const long *)in;
	return 0;
}

/* The step after a range ran: thread mode's worker copies the results to
 * the caller's `out` unless the caller left. Here the map is terminated
 * (and returns) while a worker stands between its range's last item and
 * that copy; the copy must not happen. Other modes have no such step:
 * the map runs to its end. */
static void test_terminate_copy_out(void **st)
{
	struct arrays_arg a = { 0 };
	struct scratch *s;
	pthread_t th;
	(void)st;
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);

	arrays_init(&a, task_copy);
	s = copy_hook_s = a.s;
	hpool__fault_hook = copy_hook;
	atomic_store(&hpool__fault_at, HPOOL__F_RANGE_RAN);
	pthread_create(&th, NULL, arrays_mapper, &a);
	if (g_mode == HPOOL_MODE_THREAD) {
		assert_true(WAIT_UNTIL(atomic_load(&s->started) > 0));
		assert_int_equal(hpool_terminate(a.p), 0);
		pthread_join(th, NULL);
		/* Every item may have run (the held range included): then the
		 * map succeeds, and the caller copied the held results. */
		assert_true(a.ret == 0 || a.ret == HPOOL_ECANCELED);
		for (int i = 0; a.ret == 0 && i < 256; i++)
			assert_int_equal(a.out[i], i);
		for (int i = 0; i < 256; i++)
			a.out[i] = -1;
		atomic_store(&s->stop, 1);
		assert_true(WAIT_UNTIL(atomic_load(&s->wrote)));
		for (int i = 0; i < 256; i++)
			assert_int_equal(a.out[i], -1);
	} else {
		pthread_join(th, NULL);
		assert_int_equal(a.ret, 0);
		for (int i = 0; i < 256; i++)
			assert_int_equal(a.out[i], i);
		assert_int_equal(atomic_load(&s->started), 0);
		assert_int_equal(hpool_destroy(a.p), 0);
	}
	atomic_store(&hpool__fault_at, HPOOL__F_NONE);
	hpool__fault_hook = NULL;
	arrays_end(&a);
}

/* Sleeps 1 ms, then returns its input. */
static int task_nap(void *out, const void *in, const void *ctx)
{
	(void)ctx;
	sleep_ms(1);
	*(long *)out = *(const long *)in;
	return 0;
}

struct race_arg {
	hpool *p;
	_Atomic int *seen;   /* the map's first progress report came */
	int ret;
};

static void *race_terminator(void *arg)
{
	struct race_arg *a = arg;

	while (!atomic_load(a->seen))
		sleep_ms(0);
	a->ret = hpool_terminate(a->p);
	return NULL;
}

static void note_progress(size_t done, size_t total, void *arg)
{
	(void)done;
	(void)total;
	atomic_store((_Atomic int *)arg, 1);
}

/* A watchdog thread terminates while the main thread's map runs; the
 * main thread destroys the pool as soon as its map returns. One of the
 * two wins and returns 0, the other gets HPOOL_ECLOSED: never both, never
 * a double free (the sanitizer passes would see one). */
static void test_terminate_destroy_race(void **st)
{
	long in[32], out[32];

	(void)st;
	for (int i = 0; i < 32; i++)
		in[i] = i;
	for (int round = 0; round < 20; round++) {
		_Atomic int seen = 0;
		struct race_arg a = { make_pool(2), &seen, 0 };
		hpool_map_opts o = { .chunk = 1, .progress = note_progress,
				     .progress_arg = &seen };
		pthread_t th;
		int m, d;

		pthread_create(&th, NULL, race_terminator, &a);
		m = hpool_map(a.p, task_nap, NULL, 0, in, sizeof(long), out,
			      sizeof(long), 32, &o);
		atomic_store(&seen, 1); /* serial mode may report only once */
		d = hpool_destroy(a.p);
		pthread_join(th, NULL);
		assert_true(m == 0 || m == HPOOL_ECANCELED);
		if (m == HPOOL_ECANCELED) /* terminate won before destroy */
			assert_int_equal(a.ret, 0);
		assert_true((a.ret == 0) != (d == 0));
		assert_true(a.ret == HPOOL_ECLOSED || d == HPOOL_ECLOSED);
	}
}

struct from_cb {
	hpool *p;
	int calls;
	int rc;     /* of the first terminate or destroy */
	bool now;   /* terminate (else destroy) */
};

static void finish_from_progress(size_t done, size_t total, void *arg)
{
	struct from_cb *c = arg;

	(void)done;
	(void)total;
	if (c->calls++ == 0)
		c->rc = c->now ? hpool_terminate(c->p) : hpool_destroy(c->p);
}

/* hpool_terminate from the map's own progress callback returns 0 and the
 * map returns (HPOOL_ECANCELED, or 0 when every item was already done):
 * it does not wait for its own call. The pool is freed when the map
 * returns (ASan would report it lost otherwise) and refuses work after. */
static void test_terminate_from_progress(void **st)
{
	struct from_cb c = { make_pool(2), 0, 1, true };
	hpool_map_opts o = { .chunk = 1, .progress = finish_from_progress,
			     .progress_arg = &c };
	long in[64], out[64];
	int status[64], m;

	(void)st;
	o.status = status;
	for (int i = 0; i < 64; i++)
		in[i] = i;
	m = hpool_map(c.p, task_nap, NULL, 0, in, sizeof(long), out,
		      sizeof(long), 64, &o);
	assert_int_equal(c.rc, 0);
	assert_true(c.calls >= 1);
	assert_true(m == 0 || m == HPOOL_ECANCELED);
	for (int i = 0; i < 64; i++) {
		assert_true(status[i] == 0 || status[i] == HPOOL_ECANCELED);
		if (status[i] == 0)
			assert_int_equal(out[i], i);
	}
	assert_int_equal(hpool_map(c.p, task_nap, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 1, NULL), HPOOL_ECLOSED);
	assert_int_equal(hpool_destroy(c.p), HPOOL_ECLOSED);
}

/* hpool_destroy from the progress callback would wait for its own call to
 * drain: -EDEADLK, and the call and the pool go on. */
static void test_destroy_from_progress(void **st)
{
	struct from_cb c = { make_pool(2), 0, 1, false };
	hpool_map_opts o = { .chunk = 1, .progress = finish_from_progress,
			     .progress_arg = &c };
	long in[16], out[16];

	(void)st;
	for (int i = 0; i < 16; i++)
		in[i] = i;
	assert_int_equal(hpool_map(c.p, task_nap, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 16, &o), 0);
	assert_int_equal(c.rc, -EDEADLK);
	assert_non_null(strstr(hpool_last_error(), "progress callback"));
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(hpool_destroy(c.p), 0);
}

/* The same from an imap's progress callback, which runs inside its
 * hpool_next: -EDEADLK, and the stream goes on to its end. */
static void test_destroy_from_imap_progress(void **st)
{
	struct from_cb c = { make_pool(2), 0, 1, false };
	hpool_map_opts o = { .progress = finish_from_progress,
			     .progress_arg = &c };
	size_t n = 200, idx, seen = 0;
	long *in = iota(n), out;
	hpool_iter *it;
	int r;

	(void)st;
	assert_int_equal(hpool_imap(c.p, task_nap, NULL, 0, in, sizeof(long),
				    sizeof(long), n, 1, &o, &it),
			 0);
	while ((r = hpool_next(it, &idx, &out, -1)) != HPOOL_DONE) {
		assert_int_equal(r, 0);
		assert_int_equal(idx, seen);
		assert_int_equal(out, (long)idx);
		seen++;
	}
	assert_int_equal(seen, n);
	assert_int_equal(c.rc, -EDEADLK);
	assert_int_equal(c.calls, (int)n);
	hpool_iter_free(it);
	assert_int_equal(hpool_destroy(c.p), 0);
	free(in);
}

/* Item 15 writes 48 bytes past its 8-byte out item. */
static int task_scribble(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	(void)ctx;
	if (x == 15)
		memset((char *)out + 8, 0x5a, 48);
	*(long *)out = x;
	return 0;
}

/* A task that writes past its out item writes into the guard after the
 * results, not over the library's structures: the items whose results
 * are no longer trusted fail with -EFAULT, nothing hangs or crashes, and
 * the pool goes on. Serial mode writes map results in place (into the
 * caller's array, here with room after it); a future's result is in the
 * region in every mode. */
static void test_out_overrun(void **st)
{
	SKIP_IN_MPI_REMOTE("a server rank runs its batch in place in its "
			   "own region, with no guard after the results; an "
			   "overrun there is not caught (docs/mpi.md)");
	hpool *p = make_pool(2);
	long in[16], out[16 + 8], v = 15, w = -1;
	int status[16], m;
	hpool_map_opts o = { .status = status };
	hpool_future *f;

	(void)st;
	for (int i = 0; i < 16; i++)
		in[i] = i;
	m = hpool_map(p, task_scribble, NULL, 0, in, sizeof(long), out,
		      sizeof(long), 16, &o);
	if (g_mode == HPOOL_MODE_SERIAL) {
		assert_int_equal(m, 0);
	} else {
		assert_int_equal(m, -EFAULT);
		assert_non_null(strstr(hpool_last_error(),
				       "wrote past its out item"));
		for (int i = 0; i < 16; i++) /* one segment: all of it */
			assert_int_equal(status[i], -EFAULT);
	}
	assert_int_equal(hpool_submit(p, task_scribble, NULL, 0, &v,
				      sizeof(long), sizeof(long), &f), 0);
	assert_int_equal(hpool_wait(f, &w, -1), -EFAULT);
	/* the pool goes on */
	for (int i = 0; i < 16; i++)
		in[i] = i + 16;
	assert_int_equal(hpool_map(p, task_scribble, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 16, &o), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[i], i + 16);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- concurrency, forks, orphans --------------------------------------- */

struct conc_arg {
	hpool *p;
	long base;
	int ok;
};

static void *conc_caller(void *arg)
{
	struct conc_arg *a = arg;
	struct affine k = { 2, a->base };
	long in[300], out[300];

	a->ok = 1;
	for (int i = 0; i < 300; i++)
		in[i] = i;
	for (int r = 0; r < 20; r++) {
		hpool_future *f;
		long v = r, o;

		if (hpool_map(a->p, task_affine, &k, sizeof(k), in,
			      sizeof(long), out, sizeof(long), 300, NULL))
			a->ok = 0;
		for (int i = 0; i < 300; i++)
			if (out[i] != 2 * i + a->base)
				a->ok = 0;
		if (hpool_submit(a->p, task_affine, &k, sizeof(k), &v,
				 sizeof(v), sizeof(long), &f) ||
		    hpool_wait(f, &o, -1) || o != 2 * r + a->base)
			a->ok = 0;
	}
	return NULL;
}

static void test_concurrent_callers(void **st)
{
	hpool *p = make_pool(2);
	struct conc_arg a[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		a[i].p = p;
		a[i].base = 1000 * i;
		pthread_create(&th[i], NULL, conc_caller, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].ok, 1);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* A thread that submits and waits more futures than a limbo sweep takes
 * back at once (32) gets their handles back for its next submits
 * (future.c, the handle cache); when it exits, its cache must be freed.
 * The results are checked here; a handle left behind would be a leak
 * that the valgrind and ASan passes of tests/sanitize.sh fail on. */
static void *many_submits(void *v)
{
	hpool *p = v;
	struct affine k = { 2, 0 };
	long ok = 1;

	for (long i = 0; i < 200; i++) {
		hpool_future *f;
		long o = -1;

		if (hpool_submit(p, task_affine, &k, sizeof(k), &i, sizeof(i),
				 sizeof(long), &f) ||
		    hpool_wait(f, &o, -1) || o != 2 * i)
			ok = 0;
	}
	return (void *)ok;
}

static void test_thread_exit_handles(void **st)
{
	hpool *p = make_pool(2);
	pthread_t th[2];
	void *ok;

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, many_submits, p),
				 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], &ok), 0);
		assert_true(ok == (void *)1);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* The child's pool handle, kept where a leak checker finds it: the child
 * does not own the pool and never frees it, and valgrind checks for leaks
 * at the child's _exit too (a lost block there is exit code 1 under
 * --error-exitcode=1). */
static hpool *volatile forked_pool;

static void test_forked_child(void **st)
{
	SKIP_IN_MPI(MPI_FORK_WHY);
	hpool *p = make_pool(2);
	pid_t pid;
	char buf[64];
	int ws;

	forked_pool = p;
	pid = fork_child(LIVENESS_S);
	assert_true(pid >= 0);
	if (pid == 0) {
		long v = 1, out[1];
		hpool_future *f;

		if (hpool_map(p, task_pid, NULL, 0, NULL, 0, out, sizeof(long),
			      1, NULL) != HPOOL_EFORKED)
			_exit(1);
		if (!strstr(hpool_last_error(), "forked"))
			_exit(2);
		if (hpool_submit(p, task_pid, NULL, 0, &v, sizeof(v),
				 sizeof(long), &f) != HPOOL_EFORKED)
			_exit(3);
		if (hpool_destroy(p) != HPOOL_EFORKED)
			_exit(4);
		_exit(0);
	}
	ws = reap(pid);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws))
		fail_msg("forked child: %s (1-4: a check failed)",
			 status_str(ws, buf, sizeof(buf)));
	/* the parent's pool is untouched */
	long out[4];
	assert_int_equal(hpool_map(p, task_pid, NULL, 0, NULL, 0, out,
				   sizeof(long), 4, NULL), 0);
	assert_int_equal(hpool_destroy(p), 0);
	forked_pool = NULL;
}

/* Wait (LIVENESS_S at most) until pid is gone; false, with its status
 * printed, if it is still there. */
static bool goes(int pid, const char *what)
{
	char cmd[96];

	if (WAIT_UNTIL(proc_gone(pid)))
		return true;
	print_message("%s pid %d still there\n", what, pid);
	snprintf(cmd, sizeof(cmd), "head -8 /proc/%d/status >&2", pid);
	if (system(cmd))
		print_message("no status\n");
	return false;
}

static void test_no_orphans(void **st)
{
	int fd[2], pids[64], n = 0, ws;
	pid_t caller;

	if (!ISOLATED(g_mode))
		SKIP_IN_MODE(g_mode, "a pool of this mode has no process "
			     "that could outlive its caller");
	assert_int_equal(pipe(fd), 0);
	caller = fork_child(LIVENESS_S);
	assert_true(caller >= 0);
	if (caller == 0) {
		hpool_config cfg;
		hpool *p;
		int k, buf[64];

		close(fd[0]);
		hpool_config_init(&cfg);
		cfg.mode = g_mode;
		cfg.workers = 3;
		if (hpool_create(&p, &cfg))
			_exit(1);
		k = hpool__pool_pids(p, buf, 64);
		/* count first: the workers hold the pipe open too */
		if (write(fd[1], &k, sizeof(k)) < 0 ||
		    write(fd[1], buf, (size_t)k * sizeof(int)) < 0)
			_exit(2);
		close(fd[1]);
		pause(); /* until killed with its pool alive */
		_exit(0);
	}
	close(fd[1]);
	int want = -1;

	assert_int_equal(read(fd[0], &want, sizeof(want)), sizeof(want));
	for (; n < want; n++)
		assert_int_equal(read(fd[0], &pids[n], sizeof(int)),
				 sizeof(int));
	close(fd[0]);
	assert_int_equal(n, 4); /* the supervisor and 3 workers */
	for (int i = 0; i < n; i++)
		assert_false(proc_gone(pids[i]));
	assert_int_equal(kill(caller, SIGKILL), 0);
	ws = reap(caller);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	/* Workers and supervisor must go without the caller's help. */
	for (int i = 0; i < n; i++)
		assert_true(goes(pids[i], i ? "worker" : "supervisor"));
}

/* ---- load balance ------------------------------------------------------ */

/* Region memory for task_meet. */
struct meet {
	_Atomic int running; /* tasks inside task_meet now */
	_Atomic int met;     /* 1 once two of them ran at the same time */
};

struct meet_ctx {
	struct meet *m;
	int wait; /* 1: wait until two tasks run at once (not serial) */
};

/* out = the thread that ran the item. With wait set, an item does not
 * return before two items have been running at the same moment, so it
 * finishes only if the pool handed work to a second worker while the
 * first was still busy. Returns 99 if that never happened (LIVENESS_S). */
static int task_meet(void *out, const void *in, const void *ctx)
{
	const struct meet_ctx *c = ctx;
	struct meet *m = c->m;
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;

	if (atomic_fetch_add(&m->running, 1) + 1 >= 2)
		atomic_store(&m->met, 1);
	while (c->wait && !atomic_load(&m->met) && now_ns() < end)
		sleep_ms(1);
	atomic_fetch_sub(&m->running, 1);
	*(long *)out = syscall(SYS_gettid);
	return c->wait && !atomic_load(&m->met) ? 99 : 0;
}

/* Map n items of task_meet with `chunk`; return the distinct threads that
 * ran them in tids[0..2] (at most 3 counted) and how many items each ran
 * in count[]. */
static int meet_map(hpool *p, struct meet *m, size_t chunk, long tids[3],
		    int count[3])
{
	struct meet_ctx c = { m, g_mode != HPOOL_MODE_SERIAL };
	hpool_map_opts o = { .chunk = chunk };
	long out[64];
	int k = 0;

	memset(m, 0, sizeof(*m));
	assert_int_equal(hpool_map(p, task_meet, &c, sizeof(c), NULL, 0, out,
				   sizeof(long), 64, &o), 0);
	for (int i = 0; i < 64; i++) {
		int j;

		for (j = 0; j < k && tids[j] != out[i]; j++)
			;
		if (j == k && k < 3) {
			tids[k] = out[i];
			count[k++] = 0;
		}
		if (j < 3)
			count[j]++;
	}
	return k;
}

/*
 * Both workers get work while the other is busy: with tasks that wait for
 * a second task to run beside them, the map finishes only if the pool did
 * not queue everything behind the first worker. That holds whatever the
 * timing. How evenly the items spread (a fair share) depends on timing and
 * is the benchmark's to measure. Serial mode: the caller runs every item.
 */
static void test_load_balance(void **st)
{
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);
	hpool *p = make_pool(2);
	struct meet *m = hpool_shm_alloc(p, sizeof(*m));
	long me = syscall(SYS_gettid), tids[3];
	int count[3], k;

	assert_non_null(m);
	for (int round = 0; round < 2; round++) {
		/* automatic chunks, then chunk 1 */
		k = meet_map(p, m, round ? 1 : 0, tids, count);
		if (g_mode == HPOOL_MODE_SERIAL) {
			assert_int_equal(k, 1);
			assert_int_equal(tids[0], me);
			continue;
		}
		/* two workers, neither of them the caller */
		assert_int_equal(k, 2);
		assert_int_not_equal(tids[0], me);
		assert_int_not_equal(tids[1], me);
		assert_int_equal(count[0] + count[1], 64);
	}
	hpool_shm_free(p, m);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- binding, idle cost, threaded fork -------------------------------- */

static int task_ncpus(void *out, const void *in, const void *ctx)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set); /* 0: the calling thread */
	*(long *)out = CPU_COUNT(&set);
	return 0;
}

static void test_bind_core(void **st)
{
	hpool_config cfg;
	long out[64];
	cpu_set_t all;
	hpool *p;

	CPU_ZERO(&all);
	sched_getaffinity(0, sizeof(all), &all);
	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.bind = 1;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	hpool_map_opts o = { .chunk = 1 };
	assert_int_equal(hpool_map(p, task_ncpus, NULL, 0, NULL, 0, out,
				   sizeof(long), 64, &o), 0);
	/* Bound workers see one core's PUs (one PU per core on the test
	 * machines; never the whole set when there are several cores).
	 * Serial mode has no workers to bind: the caller is left alone. */
	for (int i = 0; i < 64; i++)
		if (g_mode == HPOOL_MODE_SERIAL || CPU_COUNT(&all) == 1)
			assert_int_equal(out[i], CPU_COUNT(&all));
		else
			assert_true(out[i] < CPU_COUNT(&all));
	assert_int_equal(hpool_destroy(p), 0);
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
}

/* Is task `tid` of process `pid` asleep in the kernel with nothing that
 * would wake it but an event: a futex wait or a poll with no timeout, a
 * read, a wait for a child? Such a task uses no CPU until work (or a
 * death) arrives. Reads /proc/PID/task/TID/syscall: "running", or the
 * system call number and its arguments. `seen` gets the line. */
static bool asleep_for_good(int pid, int tid, char *seen, size_t len)
{
	char path[96];
	unsigned long a[6] = { 0 };
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	seen[0] = 0;
	f = fopen(path, "r");
	if (!f) {
		snprintf(seen, len, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!fgets(seen, (int)len, f))
		seen[0] = 0;
	fclose(f);
	if (sscanf(seen, "%ld %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1],
		   &a[2], &a[3], &a[4], &a[5]) < 5)
		return false; /* "running", or "-1 ..." (not in a call) */
	switch (nr) {
	case SYS_futex: {
		unsigned long cmd = a[1] & 0x7f; /* no PRIVATE, CLOCK_RT */

		/* FUTEX_WAIT or FUTEX_WAIT_BITSET, timeout NULL */
		return (cmd == 0 || cmd == 9) && a[3] == 0;
	}
	case SYS_poll:
		return (int)a[2] < 0;
	case SYS_ppoll:
		return a[2] == 0;
	case SYS_read:
	case SYS_wait4:
	case SYS_waitid:
		return true;
	default:
		return false;
	}
}

/* Threads of this process (entries of /proc/self/task). */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The process, among pids[0..n), that runs thread tid (-1: none). */
static int task_owner(const int *pids, int n, long tid)
{
	char path[96];

	for (int j = 0; j < n; j++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%ld", pids[j], tid);
		if (access(path, F_OK) == 0)
			return pids[j];
	}
	return -1;
}

/* Voluntary context switches of a task so far (its sleeps), -1 unread. */
static long task_sleeps(int pid, long tid)
{
	char path[96], line[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", pid, tid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* A pool of 2 whose workers have each run an item of one map at the same
 * time, so both are known: their threads in tids[0..1] (the caller's in
 * serial mode), the pool's processes in pids (*n of them). */
static hpool *pool_met(int pids[8], int *n, long tids[3])
{
	hpool *p = make_pool(2);
	struct meet *m = hpool_shm_alloc(p, sizeof(*m));
	int count[3];

	assert_non_null(m);
	*n = hpool__pool_pids(p, pids, 8);
	assert_int_equal(meet_map(p, m, 1, tids, count),
			 g_mode == HPOOL_MODE_SERIAL ? 1 : 2);
	hpool_shm_free(p, m);
	return p;
}

/*
 * An idle pool costs nothing: once a map has returned, every worker (and,
 * in process mode, the worker processes' main threads and the supervisor)
 * goes to sleep in the kernel with no timeout, so none of them runs again
 * until work arrives. Checked from /proc, not with a CPU budget over a
 * sleep: a pool that spins never gets there (the wait fails after
 * LIVENESS_S), one that polls on a timer is seen with its timeout. Serial
 * mode: the pool has no thread or process at all. (The CPU an idle pool
 * uses over time is the benchmark's to measure.)
 */
static void test_idle_costs_nothing(void **st)
{
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);
	int threads = count_threads(), pids[8], n, who[8][2], k = 0;
	long tids[3];
	char seen[256];
	hpool *p = pool_met(pids, &n, tids);

	if (g_mode == HPOOL_MODE_SERIAL) {
		assert_int_equal(n, 0);
		assert_int_equal(count_threads(), threads);
		assert_int_equal(hpool_destroy(p), 0);
		return;
	}
	if (g_mode == HPOOL_MODE_THREAD) {
		assert_int_equal(n, 0);
		for (int i = 0; i < 2; i++) {
			who[k][0] = getpid();
			who[k++][1] = (int)tids[i];
		}
	} else {
		assert_int_equal(n, 3);
		/* the supervisor; each worker process's main thread (which
		 * waits for its worker thread) and its worker thread */
		who[k][0] = who[k][1] = pids[0];
		k++;
		for (int i = 1; i < 3; i++) {
			who[k][0] = who[k][1] = pids[i];
			k++;
		}
		for (int i = 0; i < 2; i++) {
			who[k][1] = (int)tids[i];
			who[k][0] = task_owner(pids + 1, n - 1, tids[i]);
			assert_int_not_equal(who[k][0], -1);
			k++;
		}
	}
	for (int i = 0; i < k; i++) {
		if (!asleep_for_good(who[i][0], who[i][1], seen,
				     sizeof(seen)) &&
		    (strstr(seen, "Permission denied") ||
		     strstr(seen, "Operation not permitted"))) {
			assert_int_equal(hpool_destroy(p), 0);
			SKIP_IN_MODE(g_mode, "/proc/PID/task/TID/syscall is "
				     "not readable here");
		}
		if (!WAIT_UNTIL(asleep_for_good(who[i][0], who[i][1], seen,
						sizeof(seen))))
			fail_msg("pid %d task %d is not asleep for good: %s",
				 who[i][0], who[i][1], seen);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

static int task_tid(void *out, const void *in, const void *ctx)
{
	(void)in;
	(void)ctx;
	*(long *)out = syscall(SYS_gettid);
	return 0;
}

/*
 * One task submitted to an idle pool wakes one worker, not every sleeping
 * one (sched.c's publish; a wake of all made the submit pay a remote wake
 * per sleeper). Both workers are seen asleep for good, one task runs, and
 * once both are asleep again, the worker that did not run it has not
 * slept again since: it was never woken (its voluntary context switches,
 * in /proc, did not move). Waking all fails that. Serial mode: no worker;
 * the caller runs the task.
 */
static void test_submit_wakes_one(void **st)
{
	SKIP_IN_MPI_REMOTE(MPI_SHARED_WHY);
	int pids[8], n, owner[2];
	long tids[3], before[2], ran;
	hpool_future *f;
	char seen[256];
	hpool *p = pool_met(pids, &n, tids);

	if (g_mode == HPOOL_MODE_SERIAL) {
		assert_int_equal(hpool_submit(p, task_tid, NULL, 0, NULL, 0,
					      sizeof(ran), &f), 0);
		assert_int_equal(hpool_wait(f, &ran, -1), 0);
		assert_int_equal(ran, syscall(SYS_gettid));
		assert_int_equal(hpool_destroy(p), 0);
		return;
	}
	for (int i = 0; i < 2; i++) {
		owner[i] = g_mode == HPOOL_MODE_THREAD ?
				   getpid() :
				   task_owner(pids + 1, n - 1, tids[i]);
		assert_int_not_equal(owner[i], -1);
		if (!WAIT_UNTIL(asleep_for_good(owner[i], (int)tids[i], seen,
						sizeof(seen)))) {
			if (strstr(seen, "Permission denied") ||
			    strstr(seen, "Operation not permitted")) {
				assert_int_equal(hpool_destroy(p), 0);
				SKIP_IN_MODE(g_mode, "/proc/PID/task/TID/syscall "
					     "is not readable here");
			}
			fail_msg("task %ld is not asleep: %s", tids[i], seen);
		}
		before[i] = task_sleeps(owner[i], tids[i]);
		assert_true(before[i] >= 0);
	}
	assert_int_equal(hpool_submit(p, task_tid, NULL, 0, NULL, 0,
				      sizeof(ran), &f), 0);
	assert_int_equal(hpool_wait(f, &ran, -1), 0);
	assert_true(ran == tids[0] || ran == tids[1]);
	for (int i = 0; i < 2; i++) {
		assert_true(WAIT_UNTIL(asleep_for_good(owner[i], (int)tids[i],
						       seen, sizeof(seen))));
		if (tids[i] == ran)
			assert_true(task_sleeps(owner[i], tids[i]) > before[i]);
		else
			assert_int_equal(task_sleeps(owner[i], tids[i]),
					 before[i]);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* Holds a thread alive until told: pool creation sees a second thread. */
static _Atomic int sleeper_go;

static void *sleeper(void *arg)
{
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;

	while (!atomic_load(&sleeper_go) && now_ns() < end)
		sleep_ms(1);
	return NULL;
}

static void test_threaded_fork_reported(void **st)
{
	hpool_config cfg;
	pthread_t th;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 1;
	atomic_store(&sleeper_go, 0);
	pthread_create(&th, NULL, sleeper, NULL);
	hpool__set_error("nothing yet");
	assert_int_equal(hpool_create(&p, &cfg), 0);
	/* mpi: rank 0 forks its own workers, and Open MPI runs threads */
	if (ISOLATED(g_mode) || (g_mode == HPOOL_MODE_MPI && mpi_local(1)))
		assert_non_null(strstr(hpool_last_error(), "threads"));
	else /* nothing is forked in these modes */
		assert_string_equal(hpool_last_error(), "nothing yet");
	atomic_store(&sleeper_go, 1);
	pthread_join(th, NULL);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- start methods: fork and forkserver ------------------------------- */

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int held_state; /* 1: locked by holder; 2: let go */

static void *holder(void *arg)
{
	pthread_mutex_lock(&held_lock);
	atomic_store(&held_state, 1);
	while (atomic_load(&held_state) != 2)
		sleep_ms(1);
	pthread_mutex_unlock(&held_lock);
	return NULL;
}

/* 0 if this worker could take held_lock, else 1. */
static int task_trylock(void *out, const void *in, const void *ctx)
{
	int busy = pthread_mutex_trylock(&held_lock) != 0;

	if (!busy)
		pthread_mutex_unlock(&held_lock);
	*(long *)out = busy;
	return 0;
}

/* Create a pool while another thread holds held_lock; return what a task
 * finds. */
static long lock_seen_by_tasks(int start)
{
	hpool_config cfg;
	pthread_t th;
	long out[4];
	hpool *p;

	atomic_store(&held_state, 0);
	pthread_create(&th, NULL, holder, NULL);
	assert_true(WAIT_UNTIL(atomic_load(&held_state) == 1));
	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.start = start;
	/* Hybrid: one thread per process, or two threads of one process
	 * that try the lock at once may see each other's hold. */
	if (g_mode == HPOOL_MODE_HYBRID) {
		cfg.hybrid_processes = 2;
		cfg.hybrid_threads = 1;
	}
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_int_equal(hpool_map(p, task_trylock, NULL, 0, NULL, 0, out,
				   sizeof(long), 4, NULL), 0);
	atomic_store(&held_state, 2);
	pthread_join(th, NULL);
	assert_int_equal(hpool_destroy(p), 0);
	for (int i = 1; i < 4; i++)
		assert_int_equal(out[i], out[0]);
	return out[0];
}

static void test_forkserver_clean_state(void **st)
{
	/* fork: the workers inherit the lock held at create, forever held.
	 * forkserver: they come from a process forked before it was taken.
	 * thread and serial: the holder really holds it. */
	SKIP_IN_MPI("the lock is held in the caller's process; tasks run in "
		    "other ranks' processes, which never had it");
	long fork_busy = lock_seen_by_tasks(0);
	long fs_busy = lock_seen_by_tasks(1);

	assert_int_equal(fork_busy, 1);
	assert_int_equal(fs_busy, ISOLATED(g_mode) ? 0 : 1);
}

static void test_forkserver_pool(void **st)
{
	hpool_config cfg;
	int pids[8], n;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 3;
	cfg.start = 1;
	if (g_mode == HPOOL_MODE_HYBRID) { /* crash_once: no collateral */
		cfg.hybrid_processes = 3;
		cfg.hybrid_threads = 1;
	}
	assert_int_equal(hpool_create(&p, &cfg), 0);
	n = hpool__pool_pids(p, pids, 8);
	if (ISOLATED(g_mode)) {
		/* the supervisor is the server's child, not ours */
		assert_int_equal(n, 4);
		assert_int_not_equal(ppid_of(pids[0]), getpid());
		assert_true(ppid_of(pids[0]) > 0);
		/* the region, mapped at the same address from a memfd,
		 * carries results and crashes as before */
		struct scratch *s = hpool_shm_alloc(p, sizeof(*s));

		crash_once(p, s, 60, 25, 0, 10);
		crash_once(p, s, 60, 7, 3, 1);
		hpool_shm_free(p, s);
	} else if (g_mode == HPOOL_MODE_MPI) {
		/* start does not apply: rank 0 forks the supervisor of its
		 * own workers, if it has any, itself */
		assert_int_equal(n, mpi_local(3) ? 1 + (int)mpi_local(3) : 0);
		if (n)
			assert_int_equal(ppid_of(pids[0]), getpid());
		if (mpi_node()) {
			/* rank 0's supervisor repairs its workers' deaths,
			 * a crash and a kill from outside, as process
			 * mode's does */
			struct scratch *s = hpool_shm_alloc(p, sizeof(*s));

			crash_once(p, s, 60, 25, 0, 10);
			crash_once(p, s, 60, 7, 3, 1);
			hpool_shm_free(p, s);
		}
	} else {
		assert_int_equal(n, 0); /* start does not apply */
	}
	long *in = iota(1000), out[1000];
	struct affine k = { 2, 1 };
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 1000, NULL),
			 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(out[i], 2 * i + 1);
	free(in);
	assert_int_equal(hpool_destroy(p), 0);
	for (int i = 0; i < n; i++)
		assert_true(goes(pids[i], i ? "worker" : "supervisor"));
}

static void test_forkserver_not_inherited(void **st)
{
	char buf[64];
	pid_t pid;
	int ws;

	if (g_mode != HPOOL_MODE_PROCESS)
		goto env; /* the server serves process pools only */
	pid = fork_child(LIVENESS_S);
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the parent's server serves the parent only */
		hpool_config cfg;
		hpool *p;
		int e;

		hpool_config_init(&cfg);
		cfg.mode = HPOOL_MODE_PROCESS;
		cfg.start = 1;
		e = hpool_create(&p, &cfg);
		if (e != -EINVAL)
			_exit(1);
		if (!strstr(hpool_last_error(), "fork server is not running"))
			_exit(2);
		/* ...and it can start its own */
		if (hpool_forkserver_start() || hpool_create(&p, &cfg))
			_exit(3);
		if (hpool_destroy(p))
			_exit(4);
		_exit(0);
	}
	ws = reap(pid);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws))
		fail_msg("forked child: %s (1-4: a check failed)",
			 status_str(ws, buf, sizeof(buf)));
env:
	setenv("HPOOL_START", "spawn", 1);
	hpool *p;
	assert_int_equal(hpool_create(&p, NULL), -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "HPOOL_START"));
	unsetenv("HPOOL_START");
}

/* ---- OpenMP inside workers --------------------------------------------- */

/* A TSan build (HPOOL_TEST_TSAN, util.h) leaves this test out of the
 * list, with a note: it is not counted as a pass. */

#ifndef HPOOL_TEST_TSAN
static int task_omp(void *out, const void *in, const void *ctx)
{
	long sum = 0;

#pragma omp parallel for reduction(+ : sum) num_threads(2)
	for (long i = 0; i < 1000; i++)
		sum += i;
	*(long *)out = sum;
	return 0;
}

static void test_openmp_after_parent_used_it(void **st)
{
	long sum = 0, out[8];

	/* The caller runs a parallel region first: libgomp now has a
	 * thread pool, which a plainly forked child would wait on forever. */
#pragma omp parallel for reduction(+ : sum) num_threads(2)
	for (long i = 0; i < 100; i++)
		sum += i;
	assert_int_equal(sum, 4950);
	hpool *p = make_pool(2);
	hpool_map_opts o = { .chunk = 1 };

	assert_int_equal(hpool_map(p, task_omp, NULL, 0, NULL, 0, out,
				   sizeof(long), 8, &o), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(out[i], 499500);
	assert_int_equal(hpool_destroy(p), 0);
}
#endif /* !HPOOL_TEST_TSAN */

/* ---- bad input -------------------------------------------------------- */

static void test_bad_input(void **st)
{
	hpool *p = make_pool(1), *q;
	long in[4] = { 0 }, out[4];
	/* not NULL: a call that refuses must set them to NULL */
	hpool_future *f = (hpool_future *)&in;
	hpool_iter *it = (hpool_iter *)&in;
	hpool_map_opts neg = { .timeout_ns = -1 };
	struct affine k = { 1, 1 };

	assert_int_equal(hpool_map(NULL, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 4, NULL),
			 -EINVAL);
	assert_int_equal(hpool_map(p, NULL, &k, sizeof(k), in, sizeof(long),
				   out, sizeof(long), 4, NULL), -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "fn is NULL"));
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), NULL,
				   sizeof(long), out, sizeof(long), 4, NULL),
			 -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "in is NULL"));
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), NULL, sizeof(long), 4, NULL),
			 -EINVAL);
	assert_int_equal(hpool_map(p, task_affine, NULL, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 4, NULL),
			 -EINVAL);
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, (size_t)1 << 40, 4,
				   NULL), -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "HPOOL_SHM_SIZE"));
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), SIZE_MAX,
				   NULL), -EINVAL);
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 4, &neg),
			 -EINVAL);
	assert_int_equal(hpool_submit(p, task_affine, &k, sizeof(k), in,
				      sizeof(long), sizeof(long), NULL),
			 -EINVAL);
	assert_int_equal(hpool_submit(p, NULL, &k, sizeof(k), in,
				      sizeof(long), sizeof(long), &f), -EINVAL);
	assert_null(f);
	assert_int_equal(hpool_imap(p, task_affine, &k, sizeof(k), in,
				    sizeof(long), sizeof(long), 4, 1, NULL,
				    NULL), -EINVAL);
	assert_int_equal(hpool_imap(p, NULL, &k, sizeof(k), in, sizeof(long),
				    sizeof(long), 4, 1, NULL, &it), -EINVAL);
	assert_null(it);
	assert_int_equal(hpool_wait(NULL, out, -1), -EINVAL);
	assert_int_equal(hpool_next(NULL, NULL, out, -1), -EINVAL);
	assert_int_equal(hpool_ready(NULL), 0);
	assert_int_equal(hpool_create(NULL, NULL), -EINVAL);
	assert_int_equal(hpool_destroy(NULL), -EINVAL);
	/* nothing was lost: the pool still works */
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 4, NULL),
			 0);
	assert_int_equal(out[3], 1);
	/* calls after destroy */
	assert_int_equal(hpool_destroy(p), 0);
	assert_int_equal(hpool_destroy(p), HPOOL_ECLOSED);
	assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
				   sizeof(long), out, sizeof(long), 4, NULL),
			 HPOOL_ECLOSED);
	assert_non_null(strstr(hpool_last_error(), "destroyed"));
	f = (hpool_future *)&in;
	assert_int_equal(hpool_submit(p, task_affine, &k, sizeof(k), in,
				      sizeof(long), sizeof(long), &f),
			 HPOOL_ECLOSED);
	assert_null(f);
	assert_null(hpool_shm_alloc(p, 16));
	assert_int_equal(hpool_workers(p), 0);
	/* unreadable environment */
	setenv("HPOOL_WORKERS", "lots", 1);
	assert_int_equal(hpool_create(&q, NULL), -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "HPOOL_WORKERS"));
	unsetenv("HPOOL_WORKERS");
}

static void test_mode_and_workers(void **st)
{
	hpool *p = make_pool(3);

	unsigned per = g_mode == HPOOL_MODE_SERIAL ? 1 : 3;

	assert_int_equal(hpool_mode_of(p), g_mode);
	assert_int_equal(hpool_workers(p), pool_workers(per));
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_env_mode(void **st)
{
	static const char *names[] = { "", "thread", "process", "serial",
				       "mpi", "hybrid" };
	hpool *p;

	setenv("HPOOL_MODE", names[g_mode], 1);
	assert_int_equal(hpool_create(&p, NULL), 0);
	assert_int_equal(hpool_mode_of(p), g_mode);
	assert_int_equal(hpool_destroy(p), 0);
	unsetenv("HPOOL_MODE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_auto),
		cmocka_unit_test(test_map_chunk1),
		cmocka_unit_test(test_map_chunk_odd),
		cmocka_unit_test(test_map_n0),
		cmocka_unit_test(test_map_status),
		cmocka_unit_test(test_map_status_ok),
		cmocka_unit_test(test_map_progress),
		cmocka_unit_test(test_map_large_results),
		cmocka_unit_test(test_cell_cache_gives_way),
		cmocka_unit_test(test_segments_prefaulted),
		cmocka_unit_test(test_shm_in_place),
		cmocka_unit_test(test_shm_through_ctx),
		cmocka_unit_test(test_shm_bad),
		cmocka_unit_test(test_submit_wait),
		cmocka_unit_test(test_submit_code_and_timeout),
		cmocka_unit_test(test_full_table_takes_back_canceled),
		cmocka_unit_test(test_futures_survive_destroy),
		cmocka_unit_test(test_future_blocks_come_back),
		cmocka_unit_test(test_takeback_reads_few_records),
		cmocka_unit_test(test_imap_ordered),
		cmocka_unit_test(test_imap_unordered),
		cmocka_unit_test(test_imap_read_ahead),
		cmocka_unit_test(test_imap_status),
		cmocka_unit_test(test_imap_early_free),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_max_tasks),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_crash_future),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_terminate),
		cmocka_unit_test(test_terminate_arrays),
		cmocka_unit_test(test_terminate_copy_out),
		cmocka_unit_test(test_terminate_destroy_race),
		cmocka_unit_test(test_terminate_from_progress),
		cmocka_unit_test(test_destroy_from_progress),
		cmocka_unit_test(test_destroy_from_imap_progress),
		cmocka_unit_test(test_out_overrun),
		cmocka_unit_test(test_concurrent_callers),
		cmocka_unit_test(test_thread_exit_handles),
		cmocka_unit_test(test_forked_child),
		cmocka_unit_test(test_no_orphans),
		cmocka_unit_test(test_load_balance),
		cmocka_unit_test(test_bind_core),
		cmocka_unit_test(test_idle_costs_nothing),
		cmocka_unit_test(test_submit_wakes_one),
		cmocka_unit_test(test_threaded_fork_reported),
		cmocka_unit_test(test_forkserver_clean_state),
		cmocka_unit_test(test_forkserver_pool),
		cmocka_unit_test(test_forkserver_not_inherited),
#ifndef HPOOL_TEST_TSAN
		cmocka_unit_test(test_openmp_after_parent_used_it),
#endif
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_mode_and_workers),
		cmocka_unit_test(test_env_mode),
	};

	/* First, while this process has one thread: the fork server that
	 * pools created with start = forkserver fork from. */
	if (hpool_forkserver_start())
		return 1;

	unsetenv("HPOOL_MODE");
	unsetenv("HPOOL_WORKERS");
#ifdef HPOOL_TEST_TSAN
	printf("note: ThreadSanitizer build: test_openmp_after_parent_used_it "
	       "is left out (TSan cannot see the OpenMP runtime); not run, "
	       "not passed\n");
#endif
	return run_in_every_mode("pool", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
