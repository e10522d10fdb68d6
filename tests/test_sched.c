/* SPDX-License-Identifier: MIT */
/*
 * Pull scheduling, nested work and the futures API, in every mode: one
 * source, each test run once per mode (thread, process, serial). Where a
 * mode cannot show a behaviour (one worker in serial mode has head-of-line
 * blocking by nature; fault points kill the whole process in thread and
 * serial mode), the test says so with a skip, which is not a pass.
 * No timing: tasks wait on flags in shared memory, with a liveness bound
 * (LIVENESS_NS) far above any delay, and report what they saw.
 */
#include "pool.h"
#include "claim.h"

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "modes.h"
#include "util.h"

#ifndef HPOOL_TEST_TSAN
#include <omp.h>
#endif

#define LIVENESS_NS ((int64_t)30 * 1000000000)

static hpool_mode g_mode;

static hpool *make_pool_cfg(unsigned workers, unsigned max_tasks)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = workers;
	cfg.max_tasks_per_worker = max_tasks;
	cfg.shm_size = 64 << 20;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	return p;
}

static hpool *make_pool(unsigned workers)
{
	return make_pool_cfg(workers, 0);
}

/* Wait until *w >= want, or the liveness bound. Return: reached. */
static bool await_at_least(_Atomic long *w, long want)
{
	int64_t end = hpool__now_ns() + LIVENESS_NS;

	while (atomic_load(w) < want)
		if (hpool__now_ns() > end)
			return false;
		else
			sched_yield();
	return true;
}

/* ---- skew: an idle worker takes what queued behind a slow task ------------ */

struct skew {
	_Atomic long fast_done;
	long nfast;
};

/* Item 0 is "slow": it returns only once every fast item finished, which
 * happens only if a worker other than its own runs them. Fast items
 * count themselves. Output: 1 when the slow item saw them all. */
static int task_skew(void *out, const void *in, const void *ctx)
{
	struct skew *const *s = ctx;
	long i = *(const long *)in;

	if (i == 0) {
		*(long *)out = await_at_least(&(*s)->fast_done, (*s)->nfast);
		return 0;
	}
	atomic_fetch_add(&(*s)->fast_done, 1);
	*(long *)out = 1;
	return 0;
}

static void test_skew_submit(void **st)
{
	hpool *p;
	struct skew *s;
	hpool_future *f[100];
	long out;

	if (g_mode == HPOOL_MODE_SERIAL)
		skip(); /* the caller is the one worker: it runs in order */
	p = make_pool(2);
	s = hpool_shm_alloc(p, sizeof(*s));
	atomic_store(&s->fast_done, 0);
	s->nfast = 99;
	for (long i = 0; i < 100; i++)
		assert_int_equal(hpool_submit(p, task_skew, &s, sizeof(s), &i,
					      sizeof(i), sizeof(long), &f[i]),
				 0);
	for (long i = 0; i < 100; i++) {
		assert_int_equal(hpool_wait(f[i], &out, -1), 0);
		assert_int_equal(out, 1);
	}
	hpool_shm_free(p, s);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_skew_imap(void **st)
{
	hpool_map_opts o = { .chunk = 1 };
	long in[100], out;
	struct skew *s;
	hpool_iter *it;
	size_t idx, seen = 0;
	hpool *p;
	int r;

	if (g_mode == HPOOL_MODE_SERIAL)
		skip(); /* the caller is the one worker: it runs in order */
	p = make_pool(2);
	s = hpool_shm_alloc(p, sizeof(*s));
	atomic_store(&s->fast_done, 0);
	s->nfast = 99;
	for (long i = 0; i < 100; i++)
		in[i] = i;
	assert_int_equal(hpool_imap(p, task_skew, &s, sizeof(s), in,
				    sizeof(long), sizeof(long), 100, 0, &o,
				    &it), 0);
	while ((r = hpool_next(it, &idx, &out, -1)) != HPOOL_DONE) {
		assert_int_equal(r, 0);
		assert_int_equal(out, 1); /* the slow one saw all 99 */
		seen++;
	}
	assert_int_equal(seen, 100);
	hpool_iter_free(it);
	hpool_shm_free(p, s);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- nested work ---------------------------------------------------------- */

struct fibctx {
	hpool *pool;
};

/* fib(n) by submitting fib(n-1) and fib(n-2) to the pool that runs it. */
static int task_fib(void *out, const void *in, const void *ctx)
{
	const struct fibctx *c = ctx;
	long n = *(const long *)in, a, b, m;
	hpool_future *f[2];
	int e;

	if (n < 2) {
		*(long *)out = n;
		return 0;
	}
	m = n - 1;
	if ((e = hpool_submit(c->pool, task_fib, c, sizeof(*c), &m, sizeof(m),
			      sizeof(long), &f[0])))
		return 100 + (-e % 100);
	m = n - 2;
	if ((e = hpool_submit(c->pool, task_fib, c, sizeof(*c), &m, sizeof(m),
			      sizeof(long), &f[1]))) {
		hpool_wait(f[0], NULL, -1);
		return 200 + (-e % 100);
	}
	if (hpool_wait(f[0], &a, -1) || hpool_wait(f[1], &b, -1))
		return 3;
	*(long *)out = a + b;
	return 0;
}

/* Recursion 12 deep on 2 workers (6x the worker count): completes, with
 * the right value, because waiting workers run other queued work. */
/* Under ThreadSanitizer, forked workers run 465 nested submits each at a
 * fraction of their speed (minutes): process mode skips, visibly. */
static void skip_slow_under_tsan(void)
{
#ifdef HPOOL_TEST_TSAN
	if (g_mode == HPOOL_MODE_PROCESS || g_mode == HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "under TSan, forked workers take "
			     "minutes here");
#endif
}

static void test_nested_fib(void **st)
{
	hpool *p;

	skip_slow_under_tsan();
	p = make_pool(2);
	struct fibctx c = { p };
	long n = 12, out = 0;
	hpool_future *f;

	assert_int_equal(hpool_submit(p, task_fib, &c, sizeof(c), &n,
				      sizeof(n), sizeof(long), &f), 0);
	assert_int_equal(hpool_wait(f, &out, -1), 0);
	assert_int_equal(out, 144);
	/* and from a map: every item recurses */
	{
		long in[4] = { 5, 8, 10, 11 }, res[4];

		assert_int_equal(hpool_map(p, task_fib, &c, sizeof(c), in,
					   sizeof(long), res, sizeof(long), 4,
					   NULL), 0);
		assert_int_equal(res[0], 5);
		assert_int_equal(res[1], 21);
		assert_int_equal(res[2], 55);
		assert_int_equal(res[3], 89);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* chain(n): n links, each submits the next (a future, or a map of one
 * item when n is odd) and waits for it; returns n. */
static int task_chain(void *out, const void *in, const void *ctx)
{
	const struct fibctx *c = ctx;
	long n = *(const long *)in, m = n - 1, r = -1;
	hpool_future *f;
	int e;

	if (n == 0) {
		*(long *)out = 0;
		return 0;
	}
	if (n % 2)
		e = hpool_map(c->pool, task_chain, c, sizeof(*c), &m,
			      sizeof(m), &r, sizeof(r), 1, NULL);
	else if (!(e = hpool_submit(c->pool, task_chain, c, sizeof(*c), &m,
				    sizeof(m), sizeof(long), &f)))
		e = hpool_wait(f, &r, -1);
	if (e || r != m)
		return 1;
	*(long *)out = n;
	return 0;
}

/* A chain of 300 nested waits on 2 workers: more waiting tasks at once
 * than the workers have claim records (2 x 64). Each waiting task holds
 * one; at a worker's last one, what a task issues runs in it at once
 * (the cutoff). Without it this waited for ever, every time; a deep
 * nested fib hung the same way, now and then, when helping stacked both
 * workers up to their last level. */
static void test_deep_chain(void **st)
{
	hpool *p;

	skip_slow_under_tsan();
	p = make_pool(2);
	struct fibctx c = { p };
	long n = 300, out = -1;
	hpool_future *f;

	assert_int_equal(hpool_submit(p, task_chain, &c, sizeof(c), &n,
				      sizeof(n), sizeof(long), &f), 0);
	assert_int_equal(hpool_wait(f, &out, -1), 0);
	assert_int_equal(out, 300);
	assert_int_equal(hpool_destroy(p), 0);
}

struct inner {
	hpool *pool;
	long k;
};

static int task_square(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = x * x;
	return 0;
}

/* A map inside a map: each outer item maps 50 squares on the same pool
 * and sums them; and imap inside a task. */
static int task_outer(void *out, const void *in, const void *ctx)
{
	const struct inner *c = ctx;
	long base = *(const long *)in, xs[50], ys[50], sum = 0, y;
	hpool_iter *it;
	size_t idx;
	int r;

	for (int i = 0; i < 50; i++)
		xs[i] = base + i;
	if (hpool_map(c->pool, task_square, NULL, 0, xs, sizeof(long), ys,
		      sizeof(long), 50, NULL))
		return 1;
	for (int i = 0; i < 50; i++)
		sum += ys[i];
	if (hpool_imap(c->pool, task_square, NULL, 0, xs, sizeof(long),
		       sizeof(long), 50, 0, NULL, &it))
		return 2;
	while ((r = hpool_next(it, &idx, &y, -1)) != HPOOL_DONE) {
		if (r || y != xs[idx] * xs[idx])
			return 3;
		sum -= y;
	}
	hpool_iter_free(it);
	if (sum != 0)
		return 4;
	for (int i = 0; i < 50; i++)
		sum += ys[i];
	*(long *)out = sum;
	return 0;
}

static void test_nested_map(void **st)
{
	hpool *p;

	skip_slow_under_tsan();
	p = make_pool(2);
	struct inner c = { p, 0 };
	long in[6], out[6];
	int status[6];
	hpool_map_opts o = { .chunk = 1, .status = status };

	for (int i = 0; i < 6; i++)
		in[i] = 100 * i;
	assert_int_equal(hpool_map(p, task_outer, &c, sizeof(c), in,
				   sizeof(long), out, sizeof(long), 6, &o), 0);
	for (int i = 0; i < 6; i++) {
		long want = 0;

		for (long x = in[i]; x < in[i] + 50; x++)
			want += x * x;
		assert_int_equal(status[i], 0);
		assert_int_equal(out[i], want);
	}
	assert_int_equal(hpool_destroy(p), 0);
}

/* A task cannot destroy or terminate the pool that runs it. */
static int task_destroy_own(void *out, const void *in, const void *ctx)
{
	hpool *const *pp = ctx;

	*(long *)out = hpool_destroy(*pp) * 1000L + hpool_terminate(*pp);
	return 0;
}

static void test_nested_destroy_refused(void **st)
{
	hpool *p = make_pool(2);
	long in = 0, out = 0;

	assert_int_equal(hpool_map(p, task_destroy_own, &p, sizeof(p), &in,
				   sizeof(long), &out, sizeof(long), 1, NULL),
			 0);
	assert_int_equal(out, -EDEADLK * 1000L + -EDEADLK);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- futures -------------------------------------------------------------- */

struct gate {
	_Atomic long open;
	_Atomic long started;
};

/* Wait for the gate (when in is 1), then return in + 10. */
static int task_gated(void *out, const void *in, const void *ctx)
{
	struct gate *const *g = ctx;
	long x = *(const long *)in;

	atomic_fetch_add(&(*g)->started, 1);
	if (x == 1 && !await_at_least(&(*g)->open, 1))
		return 99;
	*(long *)out = x + 10;
	return 0;
}

static struct gate *gate_new(hpool *p)
{
	struct gate *g = hpool_shm_alloc(p, sizeof(*g));

	assert_non_null(g);
	atomic_store(&g->open, g_mode == HPOOL_MODE_SERIAL); /* no waiting */
	atomic_store(&g->started, 0);
	return g;
}

static void test_wait_any(void **st)
{
	hpool *p = make_pool(3); /* two gated tasks leave one worker free */
	struct gate *g = gate_new(p);
	hpool_future *f[3] = { NULL, NULL, NULL }, *none[2] = { NULL, NULL };
	long x[3] = { 1, 2, 1 }, out;
	size_t idx = 99;

	assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &x[0],
				      sizeof(long), sizeof(long), &f[0]), 0);
	assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &x[2],
				      sizeof(long), sizeof(long), &f[2]), 0);
	/* two gated tasks: nothing finishes while the gate is shut */
	if (g_mode != HPOOL_MODE_SERIAL)
		assert_int_equal(hpool_wait_any(f, 3, 0, &idx), -ETIMEDOUT);
	assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &x[1],
				      sizeof(long), sizeof(long), &f[1]), 0);
	assert_int_equal(hpool_wait_any(f, 3, -1, &idx), 0);
	if (g_mode != HPOOL_MODE_SERIAL)
		assert_int_equal(idx, 1);
	assert_int_equal(hpool_ready(f[idx]), 1);
	assert_int_equal(hpool_wait(f[idx], &out, 0), 0);
	assert_int_equal(out, x[idx] + 10);
	f[idx] = NULL;
	atomic_store(&g->open, 1);
	while (f[0] || f[1] || f[2]) {
		assert_int_equal(hpool_wait_any(f, 3, -1, &idx), 0);
		assert_int_equal(hpool_wait(f[idx], &out, 0), 0);
		assert_int_equal(out, x[idx] + 10);
		f[idx] = NULL;
	}
	assert_int_equal(hpool_wait_any(none, 2, 0, &idx), -EINVAL);
	assert_int_equal(hpool_wait_any(f, 3, 0, NULL), -EINVAL);
	hpool_shm_free(p, g);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_cancel(void **st)
{
	hpool *p = make_pool(1);
	struct gate *g = gate_new(p);
	hpool_future *a, *b;
	long one = 1, two = 2, out = 0;

	assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &one,
				      sizeof(long), sizeof(long), &a), 0);
	assert_int_equal(hpool_submit(p, task_gated, &g, sizeof(g), &two,
				      sizeof(long), sizeof(long), &b), 0);
	if (g_mode == HPOOL_MODE_SERIAL) {
		/* both ran inside hpool_submit: nothing left to cancel */
		assert_int_equal(hpool_cancel(a), -EBUSY);
		assert_int_equal(hpool_cancel(b), -EBUSY);
	} else {
		/* one worker, busy with a: b has not started */
		assert_true(await_at_least(&g->started, 1));
		assert_int_equal(hpool_cancel(a), -EBUSY);
		assert_int_equal(hpool_cancel(b), 0);
		assert_int_equal(hpool_cancel(b), -EBUSY);
		atomic_store(&g->open, 1);
		assert_int_equal(hpool_wait(b, &out, -1), HPOOL_ECANCELED);
		b = NULL;
	}
	assert_int_equal(hpool_wait(a, &out, -1), 0);
	assert_int_equal(out, 11);
	if (b)
		assert_int_equal(hpool_wait(b, &out, -1), 0);
	/* a canceled task never ran: only a started */
	assert_int_equal(atomic_load(&g->started),
			 g_mode == HPOOL_MODE_SERIAL ? 2 : 1);
	assert_int_equal(hpool_cancel(NULL), -EINVAL);
	hpool_shm_free(p, g);
	assert_int_equal(hpool_destroy(p), 0);
}

static int task_fill(void *out, const void *in, const void *ctx)
{
	memset(out, 7, 4096);
	return 0;
}

/* Futures dropped with hpool_future_free give their blocks back: many
 * more of them than the arena could hold at once. */
/* More futures outstanding than the slot table holds: a slot is free
 * again once its task was claimed, not when it is collected. */
static void test_many_futures(void **st)
{
	hpool *p = make_pool(2);
	enum { N = 3 * HPOOL__SLOTS };
	hpool_future **f = calloc(N, sizeof(*f));
	long out;

	for (long i = 0; i < N; i++)
		assert_int_equal(hpool_submit(p, task_square, NULL, 0, &i,
					      sizeof(i), sizeof(long), &f[i]),
				 0);
	for (long i = 0; i < N; i++) {
		assert_int_equal(hpool_wait(f[i], &out, -1), 0);
		assert_int_equal(out, i * i);
	}
	free(f);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_future_free(void **st)
{
	hpool_config cfg;
	hpool *p;
	char in[16] = { 0 };

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.shm_size = 1 << 20; /* room for a few hundred blocks */
	assert_int_equal(hpool_create(&p, &cfg), 0);
	for (int i = 0; i < 5000; i++) {
		hpool_future *f;

		assert_int_equal(hpool_submit(p, task_fill, NULL, 0, in,
					      sizeof(in), 4096, &f), 0);
		hpool_future_free(f);
	}
	hpool_future_free(NULL);
	/* dropped ones that were still running go with the destroy */
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- options: exact max_tasks, imap status and progress ------------------- */

static int task_pid(void *out, const void *in, const void *ctx)
{
	*(long *)out = (long)getpid();
	return 0;
}

static void test_max_tasks_exact(void **st)
{
	hpool *p = make_pool_cfg(2, 10);
	long in[500], out[500];
	unsigned runs = 0;

	for (int i = 0; i < 500; i++)
		in[i] = i;
	assert_int_equal(hpool_map(p, task_pid, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 500, NULL), 0);
	/* per process: at most 10 items (process mode recycles workers,
	 * hybrid mode a process after 10 items of its threads together);
	 * other modes run in this one process */
	for (int i = 0; i < 500; i++) {
		unsigned same = 0;

		for (int j = 0; j < 500; j++)
			same += out[j] == out[i];
		if (g_mode == HPOOL_MODE_PROCESS ||
		    g_mode == HPOOL_MODE_HYBRID) {
			assert_true(same <= 10);
			assert_true(out[i] != (long)getpid());
		} else {
			assert_int_equal(out[i], (long)getpid());
		}
		runs += same;
	}
	assert_int_equal(runs >= 500, 1);
	assert_int_equal(hpool_destroy(p), 0);
}

static size_t prog_last, prog_calls;

static void on_progress(size_t done, size_t total, void *arg)
{
	assert_int_equal(total, 300);
	assert_true(done > prog_last && done <= total);
	assert_ptr_equal(arg, &prog_last);
	prog_last = done;
	prog_calls++;
}

static int task_odd_fails(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	*(long *)out = -x;
	return x % 2 ? 5 : 0;
}

static void test_imap_status_progress(void **st)
{
	hpool *p = make_pool(2);
	long in[300], out;
	int status[300];
	hpool_map_opts o = { .status = status, .progress = on_progress,
			     .progress_arg = &prog_last };
	hpool_iter *it;
	size_t idx, n = 0;
	int r;

	for (int i = 0; i < 300; i++) {
		in[i] = i;
		status[i] = -1;
	}
	prog_last = prog_calls = 0;
	assert_int_equal(hpool_imap(p, task_odd_fails, NULL, 0, in,
				    sizeof(long), sizeof(long), 300, 0, &o,
				    &it), 0);
	while ((r = hpool_next(it, &idx, &out, -1)) != HPOOL_DONE) {
		assert_int_equal(r, idx % 2 ? 5 : 0);
		assert_int_equal(status[idx], r);
		assert_int_equal(out, -(long)idx);
		n++;
		/* progress counts the items handed out */
		assert_int_equal(prog_last, n);
	}
	assert_int_equal(n, 300);
	assert_int_equal(prog_calls, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(status[i], i % 2 ? 5 : 0);
	hpool_iter_free(it);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- the OpenMP share, and the user's OMP_NUM_THREADS kept --------------- */

#ifndef HPOOL_TEST_TSAN
struct ompseen {
	long max_threads;
	char env[16];
};

static int task_omp_env(void *out, const void *in, const void *ctx)
{
	struct ompseen *o = out;
	const char *v = getenv("OMP_NUM_THREADS");

	o->max_threads = omp_get_max_threads();
	snprintf(o->env, sizeof(o->env), "%s", v ? v : "-");
	return 0;
}

static void omp_env_case(const char *user)
{
	long dflt = omp_get_max_threads(); /* the caller's runtime default */
	struct ompseen seen[2];
	long in[2] = { 0, 1 };
	hpool *p;

	if (user)
		setenv("OMP_NUM_THREADS", user, 1);
	else
		unsetenv("OMP_NUM_THREADS");
	p = make_pool(2);
	assert_int_equal(hpool_map(p, task_omp_env, NULL, 0, in, sizeof(long),
				   seen, sizeof(seen[0]), 2,
				   &(hpool_map_opts){ .chunk = 1 }), 0);
	assert_int_equal(hpool_destroy(p), 0);
	for (int i = 0; i < 2; i++) {
		if (user) { /* kept: neither overridden nor rewritten */
			assert_int_equal(seen[i].max_threads, dflt);
			assert_string_equal(seen[i].env, user);
		} else if (g_mode == HPOOL_MODE_SERIAL) {
			/* the caller runs the tasks: its runtime untouched */
			assert_int_equal(seen[i].max_threads, dflt);
			assert_string_equal(seen[i].env, "-");
		} else {
			/* each worker's share: the allowed PUs over 2 */
			long share = dflt / 2 ? dflt / 2 : 1;

			assert_int_equal(seen[i].max_threads, share);
			if (g_mode == HPOOL_MODE_PROCESS ||
			    g_mode == HPOOL_MODE_HYBRID) {
				char want[16];

				snprintf(want, sizeof(want), "%ld", share);
				assert_string_equal(seen[i].env, want);
			} else { /* threads share the caller's environment */
				assert_string_equal(seen[i].env, "-");
			}
		}
	}
	unsetenv("OMP_NUM_THREADS");
}
#endif /* !HPOOL_TEST_TSAN */

static void test_omp_num_threads(void **st)
{
#ifdef HPOOL_TEST_TSAN
	skip(); /* TSan cannot see inside the OpenMP runtime */
#else
	omp_env_case(NULL);
	omp_env_case("3");
#endif
}

/* ---- a replacement resumes a nested range, and nests above it --------- */

/* Counters every process of the pool inherits at the same address. */
struct resumed {
	_Atomic long killed;      /* inner item 0 killed its worker */
	_Atomic long leaves;      /* leaves run */
	_Atomic long leaf_levels; /* bit d: a leaf ran at claim level d */
};

struct resume_ctx {
	hpool *pool;
	struct resumed *r;
};

static int task_leaf(void *out, const void *in, const void *ctx)
{
	const struct resume_ctx *c = ctx;

	atomic_fetch_or(&c->r->leaf_levels, 1L << hpool__self.level);
	atomic_fetch_add(&c->r->leaves, 1);
	*(long *)out = 1;
	return 0;
}

/* Item 0 kills its worker (it runs at level 1, in the outer task's
 * wait); items 1 and 2, which the replacement resumes, each wait on a
 * leaf of their own. */
static int task_resume_inner(void *out, const void *in, const void *ctx)
{
	const struct resume_ctx *c = ctx;
	hpool_future *f;

	if (*(const long *)in == 0 && atomic_fetch_add(&c->r->killed, 1) == 0)
		raise(SIGKILL);
	if (hpool_submit(c->pool, task_leaf, c, sizeof(*c), NULL, 0,
			 sizeof(long), &f))
		return 7;
	return hpool_wait(f, out, -1) ? 8 : 0;
}

static int task_resume_outer(void *out, const void *in, const void *ctx)
{
	const struct resume_ctx *c = ctx;
	long in3[3] = { 0, 1, 2 }, out3[3];
	hpool_map_opts o = { .chunk = 3 }; /* one range, in rec[1] */

	(void)in;
	*(long *)out = hpool_map(c->pool, task_resume_inner, c, sizeof(*c),
				 in3, sizeof(long), out3, sizeof(long), 3, &o);
	return 0;
}

/* A worker dies owning a range at claim level 1 (items 1 and 2 of a map
 * issued by its level-0 task, not started). The replacement resumes the
 * range at level 1, so the waits of its tasks help from level 2: the
 * leaves run there, never in rec[1], the record whose range is still
 * being resumed (run at level 0, they took it). */
static void test_resume_nests_above(void **st)
{
	struct resumed *r;
	struct resume_ctx c;
	hpool_future *f;
	hpool *p;
	long v = 0, out = 0;

	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "a task that kills its worker kills the "
			     "caller's process here");
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(r != MAP_FAILED);
	p = make_pool(1); /* one worker: it runs every level */
	c.pool = p;
	c.r = r;
	assert_int_equal(hpool_submit(p, task_resume_outer, &c, sizeof(c), &v,
				      sizeof(v), sizeof(long), &f),
			 0);
	/* The outer task was in fn (waiting) when its worker died. */
	assert_int_equal(hpool_wait(f, &out, -1), HPOOL_ECRASH);
	assert_true(await_at_least(&r->leaves, 2));
	assert_int_equal(atomic_load(&r->killed), 1);
	assert_int_equal(atomic_load(&r->leaf_levels), 1L << 2);
	assert_int_equal(hpool_destroy(p), 0);
	munmap(r, sizeof(*r));
}

/* ---- death at every claim step: exactly once, only fn's item fails -------- */

struct tally {
	_Atomic unsigned log[HPOOL__F_COUNT]; /* deaths per fault point */
	_Atomic unsigned runs[4000];          /* fn entries per item */
};

static int task_tally(void *out, const void *in, const void *ctx)
{
	struct tally *const *t = ctx;
	long i = *(const long *)in;

	atomic_fetch_add(&(*t)->runs[i], 1);
	*(long *)out = i * 3;
	return 0;
}

/* A pool of 2 workers (hybrid: one process of 2 threads) whose workers
 * and their replacements die at every (skip+1)-th pass of `point`,
 * `limit` times in all, logging each death in *t (counters every process
 * of the pool inherits at the same address). fault_pool_end undoes it. */
static hpool *fault_pool(struct tally **t, int point, int skip,
			 unsigned limit)
{
	hpool_config cfg;
	hpool *p;

	*t = mmap(NULL, sizeof(**t), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(*t != MAP_FAILED);
	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.shm_size = 64 << 20;
	hpool__fault_log = (*t)->log;
	hpool__fault_limit = limit;
	atomic_store(&hpool__fault_skip, skip);
	atomic_store(&hpool__fault_at, point);
	assert_int_equal(hpool_create(&p, &cfg), 0);
	atomic_store(&hpool__fault_at, HPOOL__F_NONE); /* the caller lives */
	return p;
}

static void fault_pool_end(hpool *p, struct tally *t)
{
	assert_int_equal(hpool_destroy(p), 0);
	hpool__fault_log = NULL;
	hpool__fault_limit = 0;
	munmap(t, sizeof(*t));
}

/* Workers (and their replacements, which inherit the setting) die at
 * every (skip+1)-th pass of `point`, `limit` times in all. Items that were
 * in fn when their worker died fail with HPOOL_ECRASH (ITEM_STARTED: fn
 * not entered yet, but the record says it was; ITEM_RAN: fn ran, its
 * status was lost); every other item succeeds exactly once. */
static void death_at(int point, size_t chunk, int skip_n, unsigned limit,
		     bool fn_item_fails)
{
	const size_t n = 4000;
	hpool_map_opts o = { .chunk = chunk };
	long *in = malloc(n * sizeof(long)), *out = malloc(n * sizeof(long));
	int *status = malloc(n * sizeof(int));
	struct tally *t;
	unsigned failed = 0;
	hpool *p = fault_pool(&t, point, skip_n, limit);
	int e;

	o.status = status;
	for (size_t i = 0; i < n; i++)
		in[i] = (long)i;
	e = hpool_map(p, task_tally, &t, sizeof(t), in, sizeof(long), out,
		      sizeof(long), n, &o);
	for (size_t i = 0; i < n; i++) {
		unsigned r = atomic_load(&t->runs[i]);

		if (status[i] == 0) {
			assert_int_equal(r, 1);
			assert_int_equal(out[i], (long)i * 3);
		} else {
			assert_int_equal(status[i], HPOOL_ECRASH);
			/* hybrid: the sibling thread's item is collateral */
			assert_true(fn_item_fails || g_mode == HPOOL_MODE_HYBRID);
			assert_true(r <= 1);
			failed++;
		}
	}
	assert_int_equal(e, failed ? HPOOL_ECRASH : 0);
	/* Workers died at the point, and nowhere else ... */
	assert_true(atomic_load(&t->log[point]) > 0);
	for (int k = 0; k < HPOOL__F_COUNT; k++)
		if (k != point)
			assert_int_equal(atomic_load(&t->log[k]), 0);
	/* ... and each death in fn failed exactly its item (hybrid: and at
	 * most the one its sibling thread was running). */
	if (g_mode == HPOOL_MODE_HYBRID)
		assert_true(failed <= 2 * atomic_load(&t->log[point]));
	else
		assert_int_equal(failed, fn_item_fails ?
				 atomic_load(&t->log[point]) : 0);
	fault_pool_end(p, t);
	free(in);
	free(out);
	free(status);
}

/* Item 0 holds its worker until the other one has died at
 * HPOOL__F_LATE_COUNTED, then a while longer. */
static int task_after_death(void *out, const void *in, const void *ctx)
{
	struct tally *const *t = ctx;
	long i = *(const long *)in;

	if (i == 0) {
		while (!atomic_load(&(*t)->log[HPOOL__F_LATE_COUNTED]))
			usleep(1000);
		usleep(100000);
	}
	atomic_fetch_add(&(*t)->runs[i], 1);
	*(long *)out = i * 3;
	return 0;
}

/* A worker that dies between adding its late count (claim.c, C6) and
 * clearing it has that count added again by the repair: finished passes
 * the item count while item 0 still runs on the other worker. The
 * repair's failed bump makes the caller confirm with res[] and wait for
 * item 0; without it the map returned with item 0 canceled (checked). */
static void test_late_count_twice(void **st)
{
	const size_t n = 64;
	hpool_map_opts o = { .chunk = 1 };
	long in[64], out[64];
	int status[64];
	struct tally *t;
	hpool *p;

	(void)st;
	if (g_mode != HPOOL_MODE_PROCESS) /* hybrid: item 0 is collateral */
		SKIP_IN_MODE(g_mode, "a worker process must die alone");
	p = fault_pool(&t, HPOOL__F_LATE_COUNTED, 0, 1);
	o.status = status;
	for (size_t i = 0; i < n; i++)
		in[i] = (long)i;
	assert_int_equal(hpool_map(p, task_after_death, &t, sizeof(t), in,
				   sizeof(long), out, sizeof(long), n, &o), 0);
	assert_int_equal(atomic_load(&t->log[HPOOL__F_LATE_COUNTED]), 1);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(status[i], 0);
		assert_int_equal(atomic_load(&t->runs[i]), 1);
		assert_int_equal(out[i], (long)i * 3);
	}
	fault_pool_end(p, t);
}

static void test_death_claim_steps(void **st)
{
	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "a fault point kills the whole process "
			     "(the caller's) here");
	skip_slow_under_tsan();
	death_at(HPOOL__F_CLAIM_HAZARD, 1, 0, 3, false);
	death_at(HPOOL__F_CLAIM_TAKEN, 1, 97, 20, false);
	death_at(HPOOL__F_CLAIM_TAKEN, 0, 3, 20, false);
	death_at(HPOOL__F_CLAIM_OWNED, 7, 40, 20, false);
	death_at(HPOOL__F_ITEM_STARTED, 1, 97, 20, true);
	death_at(HPOOL__F_ITEM_RAN, 0, 97, 20, true);
	death_at(HPOOL__F_ITEM_STORED, 3, 97, 20, false);
	/* Counted twice (the worker's add, then the repair's): the caller
	 * confirms with res[] and still waits for the other worker's. */
	death_at(HPOOL__F_LATE_COUNTED, 1, 0, 20, false);
	/* hybrid: a range taken from the process's batch, not recorded */
	if (g_mode == HPOOL_MODE_HYBRID)
		death_at(HPOOL__F_BATCH_TAKEN, 0, 3, 20, false);
}

/* Unordered imap's pick (call.c, hpool__win_pick) on a segment of 200
 * items in memory of this test: item 0 runs (not done), item 1 was
 * handed out, items 150 and 160 are done. A look that does not take
 * (the wait's condition) must not hide what it found: the next look
 * finds the same item. With the cursor moved past it, hpool_next and its
 * wait took turns for ever (the soak's imap hang). Then, taken, the
 * next look finds the item after it; with every done item taken, none.
 * No pool: the same in every mode. */
static void test_unordered_pick_peek(void **st)
{
	uint32_t n = 200;
	struct hpool__seg *s = calloc(1, sizeof(*s) + n * sizeof(uint64_t));
	uint64_t taken[4] = { 0 };
	struct hpool__win e = { .seg = s, .count = n, .taken = taken };

	(void)st;
	assert_non_null(s);
	s->count = n;
	atomic_store(&s->next, n); /* all claimed */
	atomic_store(&s->res[1], HPOOL__RES(0));
	taken[0] = 1u << 1;
	e.handed = 1;
	atomic_store(&s->res[150], HPOOL__RES(0));
	atomic_store(&s->res[160], HPOOL__RES(0));
	assert_int_equal(hpool__win_pick(&e, false), 150);
	assert_int_equal(hpool__win_pick(&e, false), 150); /* a peek */
	taken[150 / 64] |= (uint64_t)1 << (150 % 64);
	assert_int_equal(hpool__win_pick(&e, false), 160);
	taken[160 / 64] |= (uint64_t)1 << (160 % 64);
	assert_int_equal(hpool__win_pick(&e, false), -1);
	assert_int_equal(hpool__win_pick(&e, false), -1);
	/* item 0 done now: the finished prefix comes first */
	atomic_store(&s->res[0], HPOOL__RES(0));
	assert_int_equal(hpool__win_pick(&e, false), 0);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unordered_pick_peek),
		cmocka_unit_test(test_skew_submit),
		cmocka_unit_test(test_skew_imap),
		cmocka_unit_test(test_nested_fib),
		cmocka_unit_test(test_deep_chain),
		cmocka_unit_test(test_nested_map),
		cmocka_unit_test(test_nested_destroy_refused),
		cmocka_unit_test(test_wait_any),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_many_futures),
		cmocka_unit_test(test_future_free),
		cmocka_unit_test(test_max_tasks_exact),
		cmocka_unit_test(test_imap_status_progress),
		cmocka_unit_test(test_omp_num_threads),
		cmocka_unit_test(test_death_claim_steps),
		cmocka_unit_test(test_late_count_twice),
		cmocka_unit_test(test_resume_nests_above),
	};

	return run_in_every_mode("sched", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
