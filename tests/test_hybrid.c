/* SPDX-License-Identifier: MIT */
/*
 * test_hybrid: what hybrid mode adds to the other modes (the pool suites
 * run in it as well, through tests/modes.h):
 *  - init runs exactly once per worker process, before its threads take
 *    work, also for the processes that max_tasks_per_worker recycles;
 *  - a crash fails at most the items running in its process: the crashing
 *    one (its own message) and its siblings' (collateral, naming it);
 *    every other item runs exactly once, none twice; the process is
 *    replaced;
 *  - an overdue item kills its process: it fails with -ETIMEDOUT, its
 *    siblings' items as collateral;
 *  - the threads of a process share its claims (a batch per process),
 *    also of a map published while one of them was looking;
 *  - the shape: HPOOL_HYBRID and the config fields, with HPOOL_WORKERS.
 * Counters live in shared memory (an anonymous shared page inherited by
 * every process at one address, or hpool_shm_alloc), never in a worker's
 * private memory.
 */
#include "hpool.h"
#include "internal.h"
#include "internals.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util.h"

#define MAXP 256

/* ---- init once per process ------------------------------------------------ */

struct inits {
	_Atomic unsigned n;
	_Atomic int pid[MAXP]; /* who ran init, in order */
};

/* Per process (threads share it): set by init, read by tasks. */
static const void *g_loaded;

static int init_count(const void *ctx)
{
	struct inits *in = *(struct inits *const *)ctx;
	unsigned k = atomic_fetch_add(&in->n, 1);

	if (k < MAXP)
		atomic_store(&in->pid[k], (int)getpid());
	g_loaded = in;
	return 0;
}

/* Its process's pid, or -1 when init had not run in it. */
static int task_pid_loaded(void *out, const void *in, const void *ctx)
{
	*(long *)out = g_loaded ? (long)getpid() : -1;
	return 0;
}

static unsigned inits_of(const struct inits *in, long pid)
{
	unsigned k, n = 0;

	for (k = 0; k < atomic_load(&in->n) && k < MAXP; k++)
		n += (long)atomic_load(&in->pid[k]) == pid;
	return n;
}

static hpool *hybrid_pool(unsigned procs, unsigned threads,
			  unsigned max_tasks, struct inits **ctx)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_HYBRID;
	cfg.hybrid_processes = procs;
	cfg.hybrid_threads = threads;
	cfg.max_tasks_per_worker = max_tasks;
	cfg.shm_size = 16 << 20;
	if (ctx) {
		cfg.init = init_count;
		cfg.init_ctx = ctx;
		cfg.init_ctx_size = sizeof(*ctx);
	}
	assert_int_equal(hpool_create(&p, &cfg), 0);
	return p;
}

static void test_init_once_per_process(void **st)
{
	struct inits *in = mmap(NULL, sizeof(*in), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	hpool_map_opts o = { .chunk = 1 };
	int pids[8];
	long out[400];
	hpool *p;

	assert_true(in != MAP_FAILED);
	/* 2 processes x 2 threads: 2 inits, one per process */
	p = hybrid_pool(2, 2, 0, &in);
	assert_int_equal(hpool_workers(p), 4);
	assert_int_equal(hpool__pool_pids(p, pids, 8), 5);
	assert_int_equal(pids[1], pids[2]);
	assert_int_equal(pids[3], pids[4]);
	assert_int_not_equal(pids[1], pids[3]);
	assert_int_equal(hpool_map(p, task_pid_loaded, NULL, 0, NULL, 0, out,
				   sizeof(long), 400, &o), 0);
	assert_int_equal(atomic_load(&in->n), 2);
	assert_int_equal(inits_of(in, pids[1]), 1);
	assert_int_equal(inits_of(in, pids[3]), 1);
	for (int i = 0; i < 400; i++) {
		assert_true(out[i] == pids[1] || out[i] == pids[3]);
	}
	assert_int_equal(hpool_destroy(p), 0);

	/* recycled after 7 items of a process's threads together: every
	 * process that ran an item ran init once, before it */
	memset(in, 0, sizeof(*in));
	p = hybrid_pool(2, 2, 7, &in);
	assert_int_equal(hpool_map(p, task_pid_loaded, NULL, 0, NULL, 0, out,
				   sizeof(long), 140, &o), 0);
	for (int i = 0; i < 140; i++) {
		unsigned same = 0;

		assert_true(out[i] > 0); /* init had run in its process */
		assert_int_equal(inits_of(in, out[i]), 1);
		for (int j = 0; j < 140; j++)
			same += out[j] == out[i];
		assert_true(same <= 7);
	}
	/* 140 items, at most 7 per process: at least 20 processes */
	assert_true(atomic_load(&in->n) >= 20);
	assert_int_equal(hpool_destroy(p), 0);
	munmap(in, sizeof(*in));
}

/* ---- a batch per process ------------------------------------------------ */

static int task_triple(void *out, const void *in, const void *ctx)
{
	(void)ctx;
	*(long *)out = 3 * *(const long *)in;
	return 0;
}

/* Claims that moved the segment's counter during one map of n items,
 * chunk `chunk`; the results are checked. */
static uint64_t takes_of_map(hpool *p, size_t n, size_t chunk)
{
	hpool_map_opts o = { .chunk = chunk };
	long *in = malloc(n * sizeof(long)), *out = malloc(n * sizeof(long));
	uint64_t before = hpool__pool_seg_takes(p);

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		in[i] = (long)i;
	assert_int_equal(hpool_map(p, task_triple, NULL, 0, in, sizeof(long),
				   out, sizeof(long), n, &o), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], 3 * (long)i);
	free(in);
	free(out);
	return hpool__pool_seg_takes(p) - before;
}

/* The successful claims of a guided segment of n items: each takes
 * (what is left) / spread * mult, at least one (claim.c's take). */
static uint64_t guided_takes(size_t n, unsigned spread, unsigned mult)
{
	uint64_t k = 0, t = 0;

	while (k < n) {
		uint64_t c = (n - k) / spread * mult;

		k += c ? c : 1;
		t++;
	}
	return t;
}

/* One map's claims are `want` and the few that found the segment
 * exhausted (each thread's last look, and the regular path's after the
 * batch found nothing). */
static void expect_takes(hpool *p, size_t n, size_t chunk, uint64_t want)
{
	uint64_t t = takes_of_map(p, n, chunk);

	assert_true(t >= want && t <= want + 8);
}

/* The threads of a process share what it claims of automatic-chunk
 * work: one thread takes the share of all of them from the segment (the
 * line every claimer of the pool writes) and its siblings take theirs
 * from that batch, so the segment's traffic grows with processes, not
 * threads. Counted by the test build (hpool__pool_seg_takes), not timed:
 * the guided claims of a segment are an exact sequence. */
static void test_batch_claims(void **st)
{
	const size_t n = 2000;
	hpool_config cfg;
	hpool *p;

	(void)st;
	/* a process pool of 2: every worker claims for itself */
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = 2;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	expect_takes(p, n, 0, guided_takes(n, 2 * 2, 1));
	assert_int_equal(hpool_destroy(p), 0);

	/* 1 process x 2 threads: a batch is 2 workers' shares, so about
	 * half the claims */
	assert_true(guided_takes(n, 2 * 2, 2) < guided_takes(n, 2 * 2, 1));
	p = hybrid_pool(1, 2, 0, NULL);
	expect_takes(p, n, 0, guided_takes(n, 2 * 2, 2));
	/* a fixed chunk is claimed a chunk at a time, as anywhere */
	expect_takes(p, n, 5, n / 5);
	assert_int_equal(hpool_destroy(p), 0);

	/* 2 processes x 2 threads */
	p = hybrid_pool(2, 2, 0, NULL);
	expect_takes(p, n, 0, guided_takes(n, 2 * 4, 2));
	assert_int_equal(hpool_destroy(p), 0);

	/* max_tasks_per_worker: the process reserves an item at a time
	 * (its exact count), so it claims an item at a time, no batch */
	p = hybrid_pool(1, 2, 1000000, NULL);
	expect_takes(p, n, 0, n);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- a map published while a thread looks -------------------------------- */

/* A thread whose batch found nothing looks at the segments next; a map
 * published between the two looks must still be claimed through the
 * batch, not by that thread alone one thread's share at a time (it was:
 * twice the claims on the line every process writes, for the whole map).
 * The fault hook parks the first thread that passes between the looks;
 * its sibling takes the map's first batch (two shares) and waits in its
 * first item; then the parked thread goes on. Through the batch, its
 * first item lies in the batch's second share; on its own, past the
 * batch. */
struct park {
	_Atomic int parked, release;
	_Atomic unsigned entered;
	_Atomic long second; /* the first item the parked thread ran */
};

static struct park *g_park; /* a shared page, inherited by the workers */

static void park_hook(int point)
{
	static _Atomic int once; /* per process */

	(void)point;
	if (atomic_exchange(&once, 1))
		return;
	atomic_store(&g_park->parked, 1);
	WAIT_UNTIL(atomic_load(&g_park->release));
}

static int task_gated(void *out, const void *in, const void *ctx)
{
	struct park *g = *(struct park *const *)ctx;
	long i = *(const long *)in;
	unsigned n = atomic_fetch_add(&g->entered, 1);

	/* the sibling holds its first item until the parked thread began
	 * one, so the second entry is the parked thread's */
	if (n == 1)
		atomic_store(&g->second, i);
	else if (n == 0 && !WAIT_UNTIL(atomic_load(&g->entered) >= 2))
		return 97;
	*(long *)out = 3 * i;
	return 0;
}

struct park_map {
	hpool *p;
	size_t n;
	long *in, *out;
	int rc;
};

static void *park_map_run(void *arg)
{
	struct park_map *m = arg;

	m->rc = hpool_map(m->p, task_gated, &g_park, sizeof(g_park), m->in,
			  sizeof(long), m->out, sizeof(long), m->n, NULL);
	return NULL;
}

static void test_batch_claims_late_publish(void **st)
{
	struct park_map m = { .n = 2000 };
	pthread_t th;
	hpool *p;

	(void)st;
	g_park = mmap(NULL, sizeof(*g_park), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(g_park != MAP_FAILED);
	g_park->second = -1;
	/* the workers are forked with the hook armed; the caller never
	 * passes the point */
	hpool__fault_hook = park_hook;
	atomic_store(&hpool__fault_at, HPOOL__F_BATCH_LOOKED);
	p = hybrid_pool(1, 2, 0, NULL);
	atomic_store(&hpool__fault_at, HPOOL__F_NONE);
	hpool__fault_hook = NULL;
	assert_true(WAIT_UNTIL(atomic_load(&g_park->parked)));

	m.p = p;
	m.in = malloc(m.n * sizeof(long));
	m.out = malloc(m.n * sizeof(long));
	assert_non_null(m.in);
	assert_non_null(m.out);
	for (size_t i = 0; i < m.n; i++)
		m.in[i] = (long)i;
	assert_int_equal(pthread_create(&th, NULL, park_map_run, &m), 0);
	assert_true(WAIT_UNTIL(atomic_load(&g_park->entered) >= 1));
	atomic_store(&g_park->release, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(m.rc, 0);
	for (size_t i = 0; i < m.n; i++)
		assert_int_equal(m.out[i], 3 * (long)i);
	/* the first batch: two guided shares of 2000 items over 2 x 2
	 * claimers, [0, 1000); alone, the parked thread took [1000, 1250) */
	print_message("the parked thread began at item %ld\n",
		      atomic_load(&g_park->second));
	assert_true(atomic_load(&g_park->second) >= 0);
	assert_true(atomic_load(&g_park->second) < 1000);
	assert_int_equal(hpool_destroy(p), 0);
	free(m.in);
	free(m.out);
	munmap(g_park, sizeof(*g_park));
}

/* ---- crash blast radius --------------------------------------------------- */

#define NB 64
#define VICTIM 9

struct blast {
	_Atomic int victim_started;    /* the victim's task began */
	_Atomic int crashing;          /* the victim's process, about to crash */
	_Atomic unsigned runs[NB];     /* fn entries per item */
	_Atomic int pid[NB];           /* who ran it */
	_Atomic unsigned running[MAXP]; /* items in fn, by pid % MAXP */
	_Atomic unsigned waiting[MAXP]; /* of them, waiting for the crash */
};

/* The items before the victim return at once. The ones after it are
 * submitted once the victim began (claims follow no submit order, and an
 * item after it that returned at once could leave no sibling to be
 * collateral: seen under TSan), and wait (bounded) for its crash. The
 * victim waits until a sibling thread of its process is in such a waiting
 * item, then crashes: that sibling's item is collateral. */
static int task_blast(void *out, const void *in, const void *ctx)
{
	struct blast *b = *(struct blast *const *)ctx;
	long i = *(const long *)in;
	int me = (int)getpid();

	atomic_fetch_add(&b->runs[i], 1);
	atomic_store(&b->pid[i], me);
	atomic_fetch_add(&b->running[me % MAXP], 1);
	if (i == VICTIM) {
		atomic_store(&b->victim_started, 1);
		if (!WAIT_UNTIL(atomic_load(&b->waiting[me % MAXP]) >= 1))
			return 98; /* no sibling ran: the test fails */
		atomic_store(&b->crashing, me);
		raise(SIGSEGV);
	}
	if (i > VICTIM) {
		atomic_fetch_add(&b->waiting[me % MAXP], 1);
		/* in the victim's process: until the crash kills it (an item
		 * released at the crash could end before the process does) */
		WAIT_UNTIL(atomic_load(&b->crashing) &&
			   atomic_load(&b->crashing) != me);
	}
	atomic_fetch_sub(&b->running[me % MAXP], 1);
	*(long *)out = 3 * i;
	return 0;
}

static void test_crash_blast_radius(void **st)
{
	hpool *p = hybrid_pool(2, 2, 0, NULL);
	struct blast *b = hpool_shm_alloc(p, sizeof(*b));
	hpool_future *f[NB];
	char msg[NB][512];
	int status[NB], pids[8], victim_pid, collateral = 0;
	long in[NB], out[NB];

	assert_non_null(b);
	memset(b, 0, sizeof(*b));
	assert_int_equal(hpool__pool_pids(p, pids, 8), 5);
	for (int i = 0; i < NB; i++) {
		in[i] = i;
		if (i == VICTIM + 1)
			assert_true(WAIT_UNTIL(atomic_load(&b->victim_started)));
		assert_int_equal(hpool_submit(p, task_blast, &b, sizeof(b),
					      &in[i], sizeof(long),
					      sizeof(long), &f[i]), 0);
	}
	for (int i = 0; i < NB; i++) {
		out[i] = -1;
		status[i] = hpool_wait(f[i], &out[i], -1);
		snprintf(msg[i], sizeof(msg[i]), "%s",
			 status[i] ? hpool_last_error() : "");
	}
	victim_pid = atomic_load(&b->pid[VICTIM]);
	assert_int_equal(status[VICTIM], HPOOL_ECRASH);
	assert_non_null(strstr(msg[VICTIM], "SIGSEGV"));
	assert_null(strstr(msg[VICTIM], "collateral"));
	print_message("victim: %s\n", msg[VICTIM]);
	for (int i = 0; i < NB; i++) {
		/* nothing runs twice, nothing is lost */
		assert_int_equal(atomic_load(&b->runs[i]), 1);
		if (i == VICTIM)
			continue;
		if (status[i] == 0) {
			assert_int_equal(out[i], 3 * i);
			continue;
		}
		/* only an item that ran in the victim's process fails, and
		 * it says whose crash took it */
		if (status[i] != HPOOL_ECRASH || !strstr(msg[i], "collateral"))
			print_message("item %d: %d: %s\n", i, status[i],
				      msg[i]);
		assert_int_equal(status[i], HPOOL_ECRASH);
		assert_int_equal(atomic_load(&b->pid[i]), victim_pid);
		assert_non_null(strstr(msg[i], "collateral"));
		assert_non_null(strstr(msg[i], "item 0 "));
		assert_non_null(strstr(msg[i], "SIGSEGV"));
		print_message("collateral: %s\n", msg[i]);
		collateral++;
	}
	/* the victim waited for a sibling: exactly that one (T = 2) */
	assert_int_equal(collateral, 1);
	/* the process was replaced: the pool keeps 2 x 2 */
	assert_true(WAIT_UNTIL(hpool__pool_pids(p, pids, 8) == 5 &&
			       pids[1] != victim_pid && pids[3] != victim_pid &&
			       pids[1] > 0 && pids[3] > 0));
	hpool_shm_free(p, b);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- timeout: the overdue item's process dies ------------------------------- */

struct tmo {
	_Atomic unsigned started;
	_Atomic unsigned runs[4];
};

static int task_tmo(void *out, const void *in, const void *ctx)
{
	struct tmo *t = *(struct tmo *const *)ctx;
	long i = *(const long *)in;

	atomic_fetch_add(&t->runs[i], 1);
	atomic_fetch_add(&t->started, 1);
	/* both items run at once, in the one process; item 0 never ends
	 * (bounded: 99 if the supervisor never kills it), item 1 waits
	 * with it */
	if (!WAIT_UNTIL(0))
		*(long *)out = 99;
	return 99;
}

static void test_timeout_collateral(void **st)
{
	hpool *p = hybrid_pool(1, 2, 0, NULL);
	struct tmo *t = hpool_shm_alloc(p, sizeof(*t));
	hpool_map_opts o = { .chunk = 1, .timeout_ns = 300000000 };
	long in[2] = { 0, 1 }, out[2];
	int status[2];

	assert_non_null(t);
	memset(t, 0, sizeof(*t));
	o.status = status;
	assert_true(hpool_map(p, task_tmo, &t, sizeof(t), in, sizeof(long),
			      out, sizeof(long), 2, &o) != 0);
	/* both overran: the first the supervisor saw overdue fails with
	 * -ETIMEDOUT; the other is collateral of its kill, or, if the
	 * supervisor saw it overdue too before the death, -ETIMEDOUT */
	assert_true(status[0] == -ETIMEDOUT || status[1] == -ETIMEDOUT);
	for (int i = 0; i < 2; i++)
		assert_true(status[i] == -ETIMEDOUT ||
			    status[i] == HPOOL_ECRASH);
	assert_int_equal(atomic_load(&t->runs[0]), 1);
	assert_int_equal(atomic_load(&t->runs[1]), 1);
	hpool_shm_free(p, t);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- binding -------------------------------------------------------------- */

/* The cpus this thread may run on, as a bit mask (cpus 0-63). */
static int task_mask(void *out, const void *in, const void *ctx)
{
	cpu_set_t set;
	uint64_t m = 0;

	(void)in;
	(void)ctx;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	for (int c = 0; c < 64; c++)
		if (CPU_ISSET(c, &set))
			m |= (uint64_t)1 << c;
	*(uint64_t *)out = m;
	return 0;
}

/* One process per core (a shape of cores x 1): each process's threads are
 * bound to its own core, so two processes never share a cpu; the default
 * shape here (one group) binds to the whole allowed set. */
static void test_binding(void **st)
{
	hpool_map_opts o = { .chunk = 1 };
	cpu_set_t all;
	uint64_t out[64], allowed = 0;
	unsigned ncpu;
	hpool *p;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	ncpu = (unsigned)CPU_COUNT(&all);
	for (int c = 0; c < 64; c++)
		if (CPU_ISSET(c, &all))
			allowed |= (uint64_t)1 << c;
	/* the default shape: every worker may use every allowed cpu of its
	 * group (one group on a machine of one package and node) */
	p = hybrid_pool(0, 0, 0, NULL);
	assert_int_equal(hpool_map(p, task_mask, NULL, 0, NULL, 0, out,
				   sizeof(uint64_t), 64, &o), 0);
	for (int i = 0; i < 64; i++)
		assert_true(out[i] && !(out[i] & ~allowed));
	assert_int_equal(hpool_destroy(p), 0);
	if (ncpu < 2 || ncpu > 64) {
		print_message("[   NOTE   ] the 2x1 part needs 2 to 64 "
			      "allowed cpus, this process has %u\n", ncpu);
		skip();
	}
	p = hybrid_pool(2, 1, 0, NULL);
	assert_int_equal(hpool_map(p, task_mask, NULL, 0, NULL, 0, out,
				   sizeof(uint64_t), 64, &o), 0);
	for (int i = 0; i < 64; i++) {
		assert_true(out[i] && !(out[i] & ~allowed));
		assert_true(out[i] != allowed); /* a part of the machine */
	}
	/* two processes, two disjoint sets */
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 64; j++)
			assert_true(out[i] == out[j] ||
				    !(out[i] & out[j]));
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- the shape from the environment ---------------------------------------- */

static unsigned distinct(const int *v, int n)
{
	unsigned d = 0;

	for (int i = 0; i < n; i++) {
		int j;

		for (j = 0; j < i && v[j] != v[i]; j++)
			;
		d += j == i;
	}
	return d;
}

static void test_shape_env(void **st)
{
	hpool_config cfg;
	int pids[16], n;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_HYBRID;
	setenv("HPOOL_HYBRID", "3x1", 1);
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_int_equal(hpool_workers(p), 3);
	n = hpool__pool_pids(p, pids, 16);
	assert_int_equal(n, 4);
	assert_int_equal(distinct(pids + 1, 3), 3);
	assert_int_equal(hpool_destroy(p), 0);

	setenv("HPOOL_HYBRID", "1x3", 1);
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_int_equal(hpool_workers(p), 3);
	n = hpool__pool_pids(p, pids, 16);
	assert_int_equal(n, 4);
	assert_int_equal(distinct(pids + 1, 3), 1);
	assert_int_equal(hpool_destroy(p), 0);

	/* the fields win over the variable */
	cfg.hybrid_processes = 2;
	cfg.hybrid_threads = 2;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_int_equal(hpool_workers(p), 4);
	n = hpool__pool_pids(p, pids, 16);
	assert_int_equal(distinct(pids + 1, 4), 2);
	assert_int_equal(hpool_destroy(p), 0);

	/* HPOOL_WORKERS is the total: it must agree with a shape */
	setenv("HPOOL_WORKERS", "3", 1);
	assert_int_equal(hpool_create(&p, &cfg), -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "2x2"));
	unsetenv("HPOOL_HYBRID");
	cfg.hybrid_processes = cfg.hybrid_threads = 0;
	/* alone, it is split over the machine's processes (here: one) */
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_int_equal(hpool_workers(p), 3);
	assert_int_equal(hpool_destroy(p), 0);
	unsetenv("HPOOL_WORKERS");

	setenv("HPOOL_HYBRID", "2x", 1);
	assert_int_equal(hpool_create(&p, &cfg), -EINVAL);
	assert_non_null(strstr(hpool_last_error(), "HPOOL_HYBRID"));
	unsetenv("HPOOL_HYBRID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_once_per_process),
		cmocka_unit_test(test_batch_claims),
		cmocka_unit_test(test_batch_claims_late_publish),
		cmocka_unit_test(test_crash_blast_radius),
		cmocka_unit_test(test_timeout_collateral),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_shape_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
