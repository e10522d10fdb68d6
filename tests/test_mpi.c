/* SPDX-License-Identifier: MIT */
/*
 * The MPI backend (HPOOL_MODE=mpi), run by tests/mpi-tests.sh:
 *   test_mpi                under `mpirun -n 3`: the suite below (rank 0
 *                           runs it; ranks 1 and 2 serve)
 *   test_mpi                not under mpirun: hpool_create refuses with a
 *                           clear error (the only check then)
 *   test_mpi bad-build      under mpirun: rank 2 fakes another build of
 *                           the program (HPOOL_MPI_FAKE_BUILD_ID, the
 *                           documented test hook); create must refuse,
 *                           naming rank 2
 *   test_mpi widen          under `mpirun --bind-to core -n 2`: rank 0's
 *                           workers run on both ranks' cores
 *   test_mpi hold FILE      under mpirun: writes rank 0's pid to FILE,
 *                           then runs tasks that never end (the script
 *                           kills a rank and checks that nothing of the
 *                           job is left)
 * Each task records the rank that ran it (OMPI_COMM_WORLD_RANK of its
 * server; 0 for a worker of rank 0's own), so tests see where items ran
 * without shared memory. No test judges by the clock.
 *
 * HPOOL_MPI_LOCAL: most tests run with 0 (rank 0 runs no workers, every
 * item crosses MPI: the path a node other than rank 0's takes); the
 * test_local_* ones set "node" (the default: rank 0 serves its own node)
 * and 1 (a worker of rank 0's own beside the servers).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* CPU_COUNT, sched_getaffinity */
#endif
#include <hpool.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h" /* the topology, to size the expected share */
#include "util.h"

static int my_rank(void)
{
	const char *r = getenv("OMPI_COMM_WORLD_RANK");

	return r ? atoi(r) : -1;
}

static void local(const char *v)
{
	assert_int_equal(setenv("HPOOL_MPI_LOCAL", v, 1), 0);
}

static hpool *make_pool(unsigned workers)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	cfg.workers = workers;
	cfg.shm_size = 64 << 20;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_non_null(p);
	return p;
}

struct res {
	long v;
	int rank;
};

struct affine {
	long a, b;
};

static int task_affine(void *out, const void *in, const void *ctx)
{
	const struct affine *k = ctx;
	struct res *r = out;

	r->v = k->a * *(const long *)in + k->b;
	r->rank = my_rank();
	return *(const long *)in % 11 == 5 ? 9 : 0;
}

static long *iota(size_t n)
{
	long *v = malloc(n * sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = (long)i;
	return v;
}

/* map: results, per-item codes, and the work spread over both servers. */
static void test_map(void **st)
{
	hpool *p = make_pool(2);
	size_t n = 5000, chunks[] = { 0, 1, 7 };
	long *in = iota(n);
	struct res *out = calloc(n, sizeof(*out));
	int *status = calloc(n, sizeof(int));
	struct affine k = { 3, -5 };

	assert_int_equal(hpool_mode_of(p), HPOOL_MODE_MPI);
	assert_int_equal(hpool_workers(p), 4); /* 2 per server, 2 servers */
	for (unsigned c = 0; c < 3; c++) {
		hpool_map_opts o = { .chunk = chunks[c], .status = status };
		int ranks[3] = { 0 };

		memset(out, 0, n * sizeof(*out));
		assert_int_equal(hpool_map(p, task_affine, &k, sizeof(k), in,
					   sizeof(long), out, sizeof(*out), n,
					   &o), HPOOL_ETASK);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(out[i].v, 3 * (long)i - 5);
			assert_int_equal(status[i], i % 11 == 5 ? 9 : 0);
			assert_true(out[i].rank == 1 || out[i].rank == 2);
			ranks[out[i].rank]++;
		}
		/* Pull: both servers took work (each gets its credits'
		 * worth the moment work is published). */
		assert_true(ranks[1] > 0 && ranks[2] > 0);
	}
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
	free(status);
}

/* Workers by default: each server rank gets its share of the node's
 * cores (2 server ranks here share this node), and the pool has them all. */
static void test_default_share(void **st)
{
	struct hpool__topo *t;
	unsigned cores, share;
	hpool *p = make_pool(0);

	assert_int_equal(hpool__topo_open(&t), 0);
	cores = hpool__topo_cores(t);
	hpool__topo_close(t);
	share = cores / 2 ? cores / 2 : 1;
	assert_int_equal(hpool_workers(p), 2 * share);
	assert_int_equal(hpool_destroy(p), 0);
}

/* imap, ordered and unordered, with automatic and fixed chunks. */
static void test_imap(void **st)
{
	hpool *p = make_pool(1);
	size_t n = 3000;
	long *in = iota(n);
	struct affine k = { 1, 1000 };

	for (int ordered = 0; ordered < 2; ordered++)
		for (size_t chunk = 0; chunk < 4; chunk += 3) {
			hpool_map_opts o = { .chunk = chunk };
			char *got = calloc(n, 1);
			size_t idx, seen = 0;
			struct res r;
			hpool_iter *it;
			int e;

			assert_int_equal(hpool_imap(p, task_affine, &k,
						    sizeof(k), in, sizeof(long),
						    sizeof(r), n, ordered, &o,
						    &it), 0);
			while ((e = hpool_next(it, &idx, &r, -1)) !=
			       HPOOL_DONE) {
				assert_true(idx < n);
				assert_int_equal(got[idx], 0);
				got[idx] = 1;
				if (ordered)
					assert_int_equal(idx, seen);
				assert_int_equal(e, idx % 11 == 5 ? 9 : 0);
				assert_int_equal(r.v, (long)idx + 1000);
				seen++;
			}
			assert_int_equal(seen, n);
			hpool_iter_free(it);
			free(got);
		}
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
}

/* submit, wait, wait_any. */
static void test_submit(void **st)
{
	hpool *p = make_pool(1);
	struct affine k = { 2, 1 };
	hpool_future *f[8];
	long x[8];
	struct res r;
	size_t idx;

	for (int i = 0; i < 8; i++) {
		x[i] = i;
		assert_int_equal(hpool_submit(p, task_affine, &k, sizeof(k),
					      &x[i], sizeof(long), sizeof(r),
					      &f[i]), 0);
	}
	assert_int_equal(hpool_wait_any(f, 8, -1, &idx), 0);
	assert_true(idx < 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(hpool_wait(f[i], &r, -1), i == 5 ? 9 : 0);
		assert_int_equal(r.v, 2 * i + 1);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* SIGSEGV in a task on rank 2 fails only its item, with HPOOL_ECRASH and
 * a message naming the rank and the host; the pool goes on. */
static int task_segv_on_2(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;
	struct res *r = out;

	r->v = 2 * x;
	r->rank = my_rank();
	if (r->rank == 2 && x % 10 == 3) {
		volatile uintptr_t bad = 8;

		*(volatile int *)bad = 1;
	}
	return 0;
}

static void test_crash_on_rank2(void **st)
{
	hpool *p = make_pool(1);
	size_t n = 400, crashed = 0;
	long *in = iota(n);
	struct res *out = calloc(n, sizeof(*out));
	int *status = calloc(n, sizeof(int));
	hpool_map_opts o = { .chunk = 1, .status = status };
	char host[64] = "";
	int e;

	gethostname(host, sizeof(host) - 1);
	e = hpool_map(p, task_segv_on_2, NULL, 0, in, sizeof(long), out,
		      sizeof(*out), n, &o);
	for (size_t i = 0; i < n; i++) {
		if (status[i] == HPOOL_ECRASH) {
			/* only items that rank 2 would crash on */
			assert_int_equal(i % 10, 3);
			crashed++;
			continue;
		}
		assert_int_equal(status[i], 0);
		assert_int_equal(out[i].v, 2 * (long)i);
		assert_false(out[i].rank == 2 && i % 10 == 3);
	}
	/* Rank 2 took work (its credits, at once), and some of it was an
	 * item it crashes on: chunk 1 batches are guided shares of at
	 * least 10 items at first. */
	assert_true(crashed > 0);
	assert_int_equal(e, HPOOL_ECRASH);
	assert_non_null(strstr(hpool_last_error(), "rank 2"));
	assert_non_null(strstr(hpool_last_error(), host));
	assert_non_null(strstr(hpool_last_error(), "SIGSEGV"));
	/* The pool goes on with every worker. */
	o.status = NULL;
	for (size_t i = 0; i < n; i++)
		in[i] = (long)(i / 10 * 10); /* x % 10 == 0: nobody crashes */
	assert_int_equal(hpool_map(p, task_segv_on_2, NULL, 0, in,
				   sizeof(long), out, sizeof(*out), n, &o), 0);
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
	free(status);
}

/* Nested work: a task submits to its own pool (the caller's handle) and
 * the subtask runs on the same rank's local pool. */
static int task_leaf(void *out, const void *in, const void *ctx)
{
	struct res *r = out;

	r->v = *(const long *)in * 10;
	r->rank = my_rank();
	return 0;
}

static int task_nested(void *out, const void *in, const void *ctx)
{
	hpool *p = *(hpool *const *)ctx;
	struct res *r = out, sub;
	hpool_future *f;
	int e;

	e = hpool_submit(p, task_leaf, NULL, 0, in, sizeof(long), sizeof(sub),
			 &f);
	if (e)
		return 100;
	if (hpool_wait(f, &sub, -1))
		return 101;
	r->v = sub.v + 1;
	r->rank = sub.rank == my_rank() ? my_rank() : -1;
	return 0;
}

static void test_nested(void **st)
{
	hpool *p = make_pool(2);
	size_t n = 40;
	long *in = iota(n);
	struct res *out = calloc(n, sizeof(*out));

	assert_int_equal(hpool_map(p, task_nested, &p, sizeof(p), in,
				   sizeof(long), out, sizeof(*out), n, NULL),
			 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].v, 10 * (long)i + 1);
		assert_true(out[i].rank == 1 || out[i].rank == 2);
	}
	assert_int_equal(hpool_destroy(p), 0);
	free(in);
	free(out);
}

/* A per-item timeout is enforced by the server's pool; the rest runs. */
static int task_hang3(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = x;
	if (x == 3)
		for (;;)
			pause();
	return 0;
}

static void test_timeout(void **st)
{
	hpool *p = make_pool(1);
	long in[8], out[8];
	int status[8];
	hpool_map_opts o = { .chunk = 1, .status = status,
			     .timeout_ns = 300000000 };

	for (int i = 0; i < 8; i++)
		in[i] = i;
	assert_int_equal(hpool_map(p, task_hang3, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 8, &o), -ETIMEDOUT);
	for (int i = 0; i < 8; i++)
		assert_int_equal(status[i], i == 3 ? -ETIMEDOUT : 0);
	assert_non_null(strstr(hpool_last_error(), "rank"));
	assert_int_equal(hpool_destroy(p), 0);
}

/* terminate while tasks run on the servers: no hang, unfinished items
 * fail with HPOOL_ECANCELED, and the next pool works. */
static int task_forever(void *out, const void *in, const void *ctx)
{
	for (;;)
		pause();
	return 0;
}

static void test_terminate(void **st)
{
	hpool *p = make_pool(1);
	hpool_future *f[4];
	long x = 1, out;

	for (int i = 0; i < 4; i++)
		assert_int_equal(hpool_submit(p, task_forever, NULL, 0, &x,
					      sizeof(x), sizeof(out), &f[i]),
				 0);
	assert_int_equal(hpool_wait(f[0], &out, 100000000), -ETIMEDOUT);
	assert_int_equal(hpool_terminate(p), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(hpool_wait(f[i], &out, -1), HPOOL_ECANCELED);
	p = make_pool(1);
	test_submit(st);
	assert_int_equal(hpool_destroy(p), 0);
}

/* hpool_shm_alloc memory is copied to the rank that runs a task, as
 * plain bytes: in, ctx and out all work, and the caller's memory is the
 * only place results land. */
static int task_shm(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in + *(const long *)ctx;
	return 0;
}

static void test_shm_copied(void **st)
{
	hpool *p = make_pool(1);
	long *in = hpool_shm_alloc(p, 16 * sizeof(long));
	long *out = hpool_shm_alloc(p, 16 * sizeof(long));
	long *ctx = hpool_shm_alloc(p, sizeof(long));

	assert_non_null(in);
	assert_non_null(out);
	assert_non_null(ctx);
	*ctx = 100;
	for (int i = 0; i < 16; i++)
		in[i] = i;
	assert_int_equal(hpool_map(p, (hpool_fn)task_shm, ctx, sizeof(*ctx),
				   in, sizeof(long), out, sizeof(long), 16,
				   NULL), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[i], i + 100);
	assert_int_equal(*ctx, 100);
	hpool_shm_free(p, in);
	hpool_shm_free(p, out);
	hpool_shm_free(p, ctx);
	assert_int_equal(hpool_destroy(p), 0);
}

/* A function from a module only rank 0 loaded: every item fails with
 * -ENOENT (hpool_map: HPOOL_ETASK, as for any item's own code) and the
 * message names the module and the rank; nothing is called at a wrong
 * address. */
static void test_module_not_loaded(void **st)
{
	char path[512];
	const char *b = getenv("top_builddir");
	void *h;
	hpool_fn fn;
	hpool *p;
	long in[4] = { 1, 2, 3, 4 }, out[4];
	int status[4];
	hpool_map_opts o = { .status = status };

	snprintf(path, sizeof(path), "%s/tests/.libs/mpi_mod.so", b ? b : ".");
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		print_message("[   NOTE   ] %s: %s\n", path, dlerror());
		fail();
	}
	fn = (hpool_fn)dlsym(h, "mpi_mod_task");
	assert_non_null(fn);
	p = make_pool(1);
	assert_int_equal(hpool_map(p, fn, NULL, 0, in, sizeof(long), out,
				   sizeof(long), 4, &o), HPOOL_ETASK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(status[i], -ENOENT);
	assert_non_null(strstr(hpool_last_error(), "mpi_mod.so"));
	assert_non_null(strstr(hpool_last_error(), "not loaded"));
	assert_non_null(strstr(hpool_last_error(), "rank "));
	/* The same module's function runs in thread mode (it is a real
	 * task): the refusal above was about the ranks, not the code. */
	{
		hpool_config cfg;
		hpool *q;

		hpool_config_init(&cfg);
		cfg.mode = HPOOL_MODE_THREAD;
		cfg.workers = 1;
		assert_int_equal(hpool_create(&q, &cfg), 0);
		assert_int_equal(hpool_map(q, fn, NULL, 0, in, sizeof(long),
					   out, sizeof(long), 4, NULL), 0);
		assert_int_equal(out[3], 4 * 7);
		assert_int_equal(hpool_destroy(q), 0);
	}
	assert_int_equal(hpool_destroy(p), 0);
	dlclose(h);
}

/* ---- rank 0's own workers (HPOOL_MPI_LOCAL) ------------------------------ */

static int task_rank(void *out, const void *in, const void *ctx)
{
	*(long *)out = my_rank();
	return 0;
}

/* A task makes a pool of its own: with HPOOL_MODE unset in the program,
 * the worker's environment says process (a worker of rank 0 may not call
 * MPI); one that asks for mpi outright is refused. */
static int task_own_pool(void *out, const void *in, const void *ctx)
{
	hpool_config cfg;
	hpool *q;
	long x = 0;
	int e;

	if (hpool_create(&q, NULL))
		return 100;
	e = hpool_mode_of(q) == HPOOL_MODE_PROCESS &&
	    !hpool_map(q, task_rank, NULL, 0, in, sizeof(long), &x,
		       sizeof(x), 1, NULL) ? 0 : 101;
	if (hpool_destroy(q) || e)
		return e ? e : 102;
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	if (hpool_create(&q, &cfg) != -EINVAL ||
	    !strstr(hpool_last_error(), "forked from an MPI rank"))
		return 103;
	*(long *)out = x;
	return 0;
}

static int task_segv_on_7(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = x * 3;
	if (x == 7) {
		volatile uintptr_t bad = 8;

		*(volatile int *)bad = 1;
	}
	return 0;
}

/* The default: rank 0 serves this node (every rank here shares it) with
 * workers of its own, one per core; the servers run none. Items, nested
 * work and a task's own pool stay on rank 0; a crash fails its item. */
static void test_local_node(void **st)
{
	struct hpool__topo *t;
	unsigned cores;
	size_t n = 2000;
	long *in = iota(n), *out = calloc(n, sizeof(long));
	struct res *r = calloc(n, sizeof(*r));
	int status[16];
	hpool_map_opts o = { .chunk = 1, .status = status };
	hpool *p;

	local("node");
	p = make_pool(0);
	assert_int_equal(hpool__topo_open(&t), 0);
	cores = hpool__topo_cores(t);
	hpool__topo_close(t);
	assert_int_equal(hpool_workers(p), cores);
	assert_int_equal(hpool_map(p, task_rank, NULL, 0, in, sizeof(long),
				   out, sizeof(long), n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(hpool_map(p, task_nested, &p, sizeof(p), in,
				   sizeof(long), r, sizeof(*r), 40, NULL), 0);
	for (size_t i = 0; i < 40; i++) {
		assert_int_equal(r[i].v, 10 * (long)i + 1);
		assert_int_equal(r[i].rank, 0);
	}
	assert_int_equal(hpool_map(p, task_own_pool, NULL, 0, in,
				   sizeof(long), out, sizeof(long), 4, NULL),
			 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(hpool_map(p, task_segv_on_7, NULL, 0, in,
				   sizeof(long), out, sizeof(long), 16, &o),
			 HPOOL_ECRASH);
	for (long i = 0; i < 16; i++) {
		assert_int_equal(status[i], i == 7 ? HPOOL_ECRASH : 0);
		if (i != 7)
			assert_int_equal(out[i], 3 * i);
	}
	assert_non_null(strstr(hpool_last_error(), "SIGSEGV"));
	assert_int_equal(hpool_map(p, task_rank, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 100, NULL), 0);
	assert_int_equal(hpool_destroy(p), 0);
	local("0");
	free(in);
	free(out);
	free(r);
}

/* One worker of rank 0's own beside the servers' (HPOOL_MPI_LOCAL=1):
 * both kinds claim from one map. Deterministic: an item marks its side
 * (a file) and waits for the other side's mark, so neither side can
 * finish the map alone, and a side that never got an item fails the
 * test by its bounded wait. */
struct sides {
	char dir[64];
};

static bool wait_file(const char *path)
{
	for (int k = 0; k < 30000; k++) {
		struct timespec ts = { 0, 1000000 };

		if (!access(path, F_OK))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Create d->dir/name (exclusively: false if it was there). */
static bool touch(const struct sides *d, const char *name, bool excl)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	fd = open(path, O_CREAT | O_WRONLY | (excl ? O_EXCL : 0), 0600);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Mark this item's side (r0: rank 0's worker, srv: a server's), wait
 * for d->dir/name, and write the rank that ran it. */
static int mark_and_wait(const struct sides *d, const char *name, long *out)
{
	char path[96];
	int rank = my_rank();

	if (!touch(d, rank ? "srv" : "r0", false))
		return 100;
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	if (!wait_file(path))
		return 101;
	*out = rank;
	return 0;
}

static int task_meet(void *out, const void *in, const void *ctx)
{
	return mark_and_wait(ctx, my_rank() ? "r0" : "srv", out);
}

static void sides_make(struct sides *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/hpool-mpi-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
}

/* Remove the marks, and the files of items [0, n) (task_hold). */
static void sides_clean(struct sides *d, size_t n)
{
	static const char *const f[] = { "r0", "srv", "go" };
	char path[96];

	for (size_t i = 0; i < 3 + n; i++) {
		if (i < 3)
			snprintf(path, sizeof(path), "%s/%s", d->dir, f[i]);
		else
			snprintf(path, sizeof(path), "%s/%zu", d->dir, i - 3);
		unlink(path);
	}
	assert_int_equal(rmdir(d->dir), 0);
}

static void test_local_mixed(void **st)
{
	struct hpool__topo *t;
	unsigned cores, share;
	size_t n = 200, ranks[3] = { 0 };
	long *in = iota(n), *out = calloc(n, sizeof(long));
	struct sides d;
	hpool_map_opts o = { .chunk = 1 };
	hpool *p;

	sides_make(&d);
	local("1");
	p = make_pool(0);
	assert_int_equal(hpool__topo_open(&t), 0);
	cores = hpool__topo_cores(t);
	hpool__topo_close(t);
	share = cores / 2 ? cores / 2 : 1;
	assert_int_equal(hpool_workers(p), 1 + 2 * share);
	assert_int_equal(hpool_map(p, task_meet, &d, sizeof(d), in,
				   sizeof(long), out, sizeof(long), n, &o), 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(out[i] >= 0 && out[i] <= 2);
		ranks[out[i]]++;
	}
	assert_true(ranks[0] > 0 && ranks[1] + ranks[2] > 0);
	assert_int_equal(hpool_destroy(p), 0);
	local("0");
	sides_clean(&d, 0);
	free(in);
	free(out);
}

/* Test-only internal: supervisor pid, then one pid per worker slot. */
int hpool__pool_pids(const hpool *p, int *pids, unsigned max);

/* Rank 0's supervisor dies (an operator, the OOM killer) in the middle
 * of a map, while batches are away on the servers, whose slots sit in
 * the same region: the caller repairs rank 0's own slots only (the
 * bridge's batches come back and count), starts a new supervisor, and
 * only the item rank 0's worker was running fails; nothing runs twice
 * (each run of item i creates the file i, exclusively). Deterministic:
 * every item marks its side and waits for `go`, which the killer
 * creates once both sides are inside an item and the worker is gone. */
static int task_hold(void *out, const void *in, const void *ctx)
{
	char name[32];

	snprintf(name, sizeof(name), "%ld", *(const long *)in);
	if (!touch(ctx, name, true))
		return errno == EEXIST ? 102 : 100;
	return mark_and_wait(ctx, "go", out);
}

struct killer {
	struct sides *d;
	int sup, worker;
	bool ok;
};

static void *kill_sup(void *arg)
{
	struct killer *k = arg;
	char a[96], b[96];

	snprintf(a, sizeof(a), "%s/r0", k->d->dir);
	snprintf(b, sizeof(b), "%s/srv", k->d->dir);
	k->ok = wait_file(a) && wait_file(b) && !kill(k->sup, SIGKILL);
	for (int i = 0; i < 5000 && !kill(k->worker, 0); i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL); /* its worker follows it */
	}
	k->ok &= touch(k->d, "go", false);
	return NULL;
}

static void test_local_supervisor_dies(void **st)
{
	size_t n = 200, ranks[3] = { 0 }, crashed = 0;
	long *in = iota(n), *out = calloc(n, sizeof(long));
	int *status = calloc(n, sizeof(int));
	struct sides d;
	struct killer k = { &d, 0, 0, false };
	hpool_map_opts o = { .chunk = 1, .status = status };
	int pids[4];
	pthread_t th;
	hpool *p;

	local("1");
	p = make_pool(0);
	assert_int_equal(hpool__pool_pids(p, pids, 4), 2); /* sup, worker */
	k.sup = pids[0];
	k.worker = pids[1];
	sides_make(&d);
	assert_int_equal(pthread_create(&th, NULL, kill_sup, &k), 0);
	assert_int_equal(hpool_map(p, task_hold, &d, sizeof(d), in,
				   sizeof(long), out, sizeof(long), n, &o),
			 HPOOL_ECRASH);
	pthread_join(th, NULL);
	assert_true(k.ok);
	for (size_t i = 0; i < n; i++) {
		if (status[i] == HPOOL_ECRASH) {
			crashed++;
			continue;
		}
		assert_int_equal(status[i], 0);
		assert_true(out[i] >= 0 && out[i] <= 2);
		ranks[out[i]]++;
	}
	assert_int_equal(crashed, 1); /* the item its worker was in */
	assert_true(ranks[1] + ranks[2] > 0);
	assert_non_null(strstr(hpool_last_error(), "supervisor"));
	/* A new supervisor and worker; the pool goes on with both kinds. */
	assert_int_equal(hpool__pool_pids(p, pids, 4), 2);
	assert_true(pids[0] != k.sup && pids[1] > 0 && !kill(pids[1], 0));
	assert_int_equal(hpool_map(p, task_rank, NULL, 0, in, sizeof(long),
				   out, sizeof(long), n, NULL), 0);
	assert_int_equal(hpool_destroy(p), 0);
	local("0");
	sides_clean(&d, n);
	free(in);
	free(out);
	free(status);
}

/* HPOOL_MPI_LOCAL that is not "node" or a number is refused. */
static void test_local_bad(void **st)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	local("lots");
	assert_int_equal(hpool_create(&p, &cfg), -EINVAL);
	assert_null(p);
	assert_non_null(strstr(hpool_last_error(),
			       "HPOOL_MPI_LOCAL=\"lots\": expected node"));
	local("0");
}

/* `test_mpi widen`, under `mpirun --bind-to core -n 2`: mpirun binds
 * rank 0 to one core and rank 1 to the other; rank 0 serves the node
 * (HPOOL_MPI_LOCAL unset) with both: its workers may run on every PU of
 * the two ranks, and there is a worker per core of them. */
static int task_ncpus(void *out, const void *in, const void *ctx)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	*(long *)out = sched_getaffinity(0, sizeof(s), &s) ? -1 :
			CPU_COUNT(&s);
	return 0;
}

static int widen(void)
{
	cpu_set_t s;
	long in[16] = { 0 }, out[16];
	int mine;
	hpool_config cfg;
	hpool *p;

	CHECK(sched_getaffinity(0, sizeof(s), &s) == 0);
	mine = CPU_COUNT(&s);
	/* The precondition: mpirun bound rank 0 to less than the machine. */
	CHECK(mine < sysconf(_SC_NPROCESSORS_ONLN));
	unsetenv("HPOOL_MPI_LOCAL");
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	CHECK(hpool_create(&p, &cfg) == 0);
	CHECK(hpool_workers(p) >= 2);
	CHECK(hpool_map(p, task_ncpus, NULL, 0, in, sizeof(long), out,
			sizeof(long), 16, NULL) == 0);
	for (int i = 0; i < 16; i++)
		CHECK(out[i] >= 2 * mine); /* both ranks' PUs */
	printf("widen: rank 0 bound to %d cpus; %u workers, each may run "
	       "on %ld\n", mine, hpool_workers(p), out[0]);
	CHECK(hpool_destroy(p) == 0);
	return 0;
}

static int bad_build(void)
{
	hpool_config cfg;
	hpool *p = NULL;
	int e;

	/* Rank 2 claims another build id before MPI starts. */
	if (my_rank() == 2)
		setenv("HPOOL_MPI_FAKE_BUILD_ID", "00112233445566778899", 1);
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	e = hpool_create(&p, &cfg);
	CHECK(e == -ENOEXEC);
	CHECK(p == NULL);
	CHECK(strstr(hpool_last_error(), "rank 2"));
	CHECK(strstr(hpool_last_error(), "another build"));
	CHECK(strstr(hpool_last_error(), "00112233445566778899"));
	printf("bad-build: refused: %s\n", hpool_last_error());
	return 0;
}

static int not_under_mpirun(void)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	CHECK(hpool_create(&p, &cfg) == -EINVAL);
	CHECK(p == NULL);
	CHECK(strstr(hpool_last_error(), "not started by mpirun"));
	setenv("HPOOL_MODE", "mpi", 1);
	CHECK(hpool_create(&p, NULL) == -EINVAL);
	CHECK(strstr(hpool_last_error(), "mpirun"));
	printf("not under mpirun: refused: %s\n", hpool_last_error());
	return 0;
}

static int hold(const char *file)
{
	hpool *p;
	hpool_future *f[4];
	long x = 1, out;
	FILE *fp;
	hpool_config cfg;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_MPI;
	CHECK(hpool_create(&p, &cfg) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(hpool_submit(p, task_forever, NULL, 0, &x, sizeof(x),
				   sizeof(out), &f[i]) == 0);
	fp = fopen(file, "w");
	CHECK(fp);
	fprintf(fp, "%d\n", (int)getpid());
	fclose(fp);
	hpool_wait(f[0], &out, -1); /* forever: the script kills a rank */
	return 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_default_share),
		cmocka_unit_test(test_imap),
		cmocka_unit_test(test_submit),
		cmocka_unit_test(test_crash_on_rank2),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_terminate),
		cmocka_unit_test(test_shm_copied),
		cmocka_unit_test(test_module_not_loaded),
		cmocka_unit_test(test_local_node),
		cmocka_unit_test(test_local_mixed),
		cmocka_unit_test(test_local_supervisor_dies),
		cmocka_unit_test(test_local_bad),
	};

#if defined(HPOOL_TEST_TSAN) || defined(HPOOL_TEST_ASAN)
	fprintf(stderr, "SKIP: Open MPI is not built with the sanitizer\n");
	return 77;
#endif
	if (!getenv("OMPI_COMM_WORLD_SIZE"))
		return not_under_mpirun();
	if (argc > 1 && !strcmp(argv[1], "bad-build"))
		return bad_build();
	if (argc > 1 && !strcmp(argv[1], "widen"))
		return widen();
	if (argc > 2 && !strcmp(argv[1], "hold"))
		return hold(argv[2]);
	local("0"); /* rank 0 reads it at each create */
	if (my_rank() > 0)
		freopen("/dev/null", "w", stdout); /* a server rank */
	return cmocka_run_group_tests_name("mpi", tests, NULL, NULL);
}
