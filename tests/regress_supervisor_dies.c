/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 10, item 1): a dead supervisor ended the pool. Kill a
 * process pool's supervisor (an operator, the OOM killer) and every later
 * call returned HPOOL_ECLOSED. Now the caller sees the death, waits for
 * the workers that died with it, repairs what they held and starts a new
 * supervisor: only the items those workers were running fail (with
 * HPOOL_ECRASH and a message naming the supervisor), everything else runs
 * exactly once, and the pool goes on with all its workers. A dead fork
 * server is started again for the next pool that asks for it.
 *
 * A supervisor that dies after it was asked to stop (fault point
 * SUP_ENDING) makes hpool_destroy return HPOOL_ECRASH naming it, and the
 * pool is still freed: its exit is never discarded.
 *
 * Process and hybrid modes: thread and serial pools have no supervisor
 * (the tests say so and are reported SKIPPED). Each scenario runs in a forked
 * child with an alarm: a hang fails the test.
 */
#include "internal.h" /* the fault points */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "modes.h"
#include "util.h"

/* Test-only internal: supervisor pid, then one pid per worker slot. */
int hpool__pool_pids(const hpool *p, int *pids, unsigned max);

#define N 64
#define WORKERS 2

static hpool_mode g_mode;

/* MAP_SHARED, made before any pool: the same in every worker. */
struct scratch {
	_Atomic int runs[N];
	_Atomic int started;
	_Atomic unsigned fault_log[HPOOL__F_COUNT]; /* deaths, per point */
};
static struct scratch *g_s;

/* Counts its run, sleeps 2 ms, returns 3x. */
static int task_slow(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	(void)ctx;
	atomic_fetch_add(&g_s->runs[x], 1);
	atomic_fetch_add(&g_s->started, 1);
	sleep_ms(2);
	*(long *)out = 3 * x;
	return 0;
}

static int g_sup; /* the supervisor killed last */
static int g_dead[WORKERS + 1]; /* it and its workers */

/* After a kill at once: until the supervisor and its workers are dead,
 * a worker may still take an item (and fail it, rightly). */
static void wait_dead(void)
{
	for (int i = 0; i <= WORKERS; i++)
		WAIT_UNTIL(g_dead[i] <= 0 || proc_gone(g_dead[i]));
}

static pid_t g_killer; /* the child that kills it */

/* Once the killer is reaped, its kill was sent: the supervisor runs no
 * more of its own code. (wait(NULL) could reap the supervisor instead,
 * it is our child too, and leave the kill still to come.) */
static void wait_killer(void)
{
	while (waitpid(g_killer, NULL, 0) < 0 && errno == EINTR)
		;
}

/* In a child of the test: SIGKILL the supervisor once `after` tasks ran
 * (0: at once). */
static void kill_supervisor_later(hpool *p, int after)
{
	int pids[WORKERS + 1];

	assert_int_equal(hpool__pool_pids(p, pids, WORKERS + 1), WORKERS + 1);
	g_sup = pids[0];
	memcpy(g_dead, pids, sizeof(g_dead));
	fflush(NULL);
	if ((g_killer = fork()) == 0) {
		for (int i = 0; i < 20000 && atomic_load(&g_s->started) < after;
		     i++)
			sleep_ms(1);
		kill(pids[0], SIGKILL);
		_exit(0);
	}
}

/* The pool has all its workers again, children of a new supervisor. */
static int check_replaced(hpool *p)
{
	int pids[WORKERS + 1];

	if (hpool__pool_pids(p, pids, WORKERS + 1) != WORKERS + 1)
		return 30;
	if (pids[0] == g_sup || kill(pids[0], 0))
		return 31;
	if (!proc_gone(g_sup)) /* the dead one is gone */
		return 33;
	for (int i = 1; i <= WORKERS; i++)
		if (pids[i] <= 0 || ppid_of(pids[i]) != pids[0])
			return 32;
	return 0;
}

/* Statuses after a kill: at most one failed item per worker, none run
 * twice, every success right. */
static int check_items(const int *status, const long *out, int n)
{
	int failed = 0;

	for (int i = 0; i < n; i++) {
		int runs = atomic_load(&g_s->runs[i]);

		if (runs > 1)
			return 20;
		if (status[i] == 0 && (runs != 1 || out[i] != 3 * i))
			return 21;
		if (status[i] != 0 && status[i] != HPOOL_ECRASH)
			return 22;
		failed += status[i] != 0;
	}
	return failed > WORKERS ? 23 : 0;
}

static hpool *pool(void)
{
	hpool_config cfg;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = g_mode; /* process, or hybrid: one process of 2 threads */
	cfg.workers = WORKERS;
	cfg.shm_size = 8 << 20;
	return hpool_create(&p, &cfg) ? NULL : p;
}

/* Three maps, each with its supervisor killed in the middle. */
static int scenario_map(void *arg)
{
	long in[N], out[N];
	int status[N], e;
	hpool_map_opts o = { .chunk = 1, .status = status };
	hpool *p = pool();

	(void)arg;
	if (!p)
		return 10;
	for (int i = 0; i < N; i++)
		in[i] = i;
	for (int round = 0; round < 3; round++) {
		memset(g_s, 0, sizeof(*g_s));
		kill_supervisor_later(p, 8);
		e = hpool_map(p, task_slow, NULL, 0, in, sizeof(long), out,
			      sizeof(long), N, &o);
		wait_killer();
		if (e != 0 && e != HPOOL_ECRASH)
			return 11;
		if (e && !strstr(hpool_last_error(), "supervisor"))
			return 12;
		if ((e = check_items(status, out, N)) ||
		    (e = check_replaced(p)))
			return e;
	}
	memset(g_s, 0, sizeof(*g_s)); /* and it takes work as before */
	if (hpool_map(p, task_slow, NULL, 0, in, sizeof(long), out,
		      sizeof(long), N, &o) || check_items(status, out, N))
		return 13;
	return hpool_destroy(p) ? 14 : 0;
}

/* Futures in flight when the supervisor dies. */
static int scenario_futures(void *arg)
{
	hpool_future *f[N / 2];
	long in[N / 2], out[N / 2];
	int status[N / 2], e;
	hpool *p = pool();

	(void)arg;
	if (!p)
		return 10;
	memset(g_s, 0, sizeof(*g_s));
	for (int i = 0; i < N / 2; i++) {
		in[i] = i;
		if (hpool_submit(p, task_slow, NULL, 0, &in[i], sizeof(long),
				 sizeof(long), &f[i]))
			return 11;
	}
	kill_supervisor_later(p, 4);
	for (int i = 0; i < N / 2; i++)
		status[i] = hpool_wait(f[i], &out[i], -1);
	wait_killer();
	if ((e = check_items(status, out, N / 2)) || (e = check_replaced(p)))
		return e;
	return hpool_destroy(p) ? 14 : 0;
}

/* The supervisor dies while the pool is idle: the next call restarts it
 * and runs everything; a destroy right after a death does not hang. */
static int scenario_idle(void *arg)
{
	long in[N], out[N];
	int status[N], e;
	hpool_map_opts o = { .status = status };
	hpool *p = pool();

	(void)arg;
	if (!p)
		return 10;
	for (int i = 0; i < N; i++)
		in[i] = i;
	memset(g_s, 0, sizeof(*g_s));
	kill_supervisor_later(p, 0);
	wait_killer();
	wait_dead();
	if (hpool_map(p, task_slow, NULL, 0, in, sizeof(long), out,
		      sizeof(long), N, &o))
		return 11;
	for (int i = 0; i < N; i++)
		if (status[i] || out[i] != 3 * i ||
		    atomic_load(&g_s->runs[i]) != 1)
			return 12;
	if ((e = check_replaced(p)))
		return e;
	kill_supervisor_later(p, 0);
	wait_killer();
	if ((e = hpool_destroy(p))) {
		fprintf(stderr, "destroy: %d (%s)\n", e, hpool_last_error());
		return 14;
	}
	return 0;
}

/* The fork server dies too: the pool's next supervisor is forked by the
 * caller, and the next pool with start = forkserver gets a new server. */
static int scenario_forkserver(void *arg)
{
	hpool_config cfg;
	long in[N], out[N];
	int status[N], pids[WORKERS + 1], server, e;
	hpool_map_opts o = { .status = status };
	hpool *p, *q;

	(void)arg;
	if (hpool_forkserver_start())
		return 10;
	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = WORKERS;
	cfg.shm_size = 8 << 20;
	cfg.start = 1;
	if (hpool_create(&p, &cfg))
		return 11;
	hpool__pool_pids(p, pids, WORKERS + 1);
	server = ppid_of(pids[0]);
	if (server <= 0 || server == getpid())
		return 12;
	kill(server, SIGKILL);
	kill_supervisor_later(p, 0);
	wait_killer();
	wait_dead();
	for (int i = 0; i < N; i++)
		in[i] = i;
	memset(g_s, 0, sizeof(*g_s));
	e = hpool_map(p, task_slow, NULL, 0, in, sizeof(long), out,
		      sizeof(long), N, &o);
	if (e || check_items(status, out, N)) {
		fprintf(stderr, "map after the deaths: %d: %s\n", e,
			hpool_last_error());
		return 13;
	}
	if ((e = check_replaced(p)))
		return e;
	/* a new pool from a new server */
	if (hpool_create(&q, &cfg))
		return 14;
	hpool__pool_pids(q, pids, WORKERS + 1);
	if (ppid_of(pids[0]) == server || ppid_of(pids[0]) == getpid())
		return 15;
	if (hpool_destroy(q) || hpool_destroy(p))
		return 16;
	return 0;
}

/* The supervisor dies at the end of its life, after the stop request
 * (the fault point SUP_ENDING, just before it records a clean end):
 * destroy still frees the pool, and says so with HPOOL_ECRASH instead of
 * discarding the exit. With the fork server the supervisor is not the
 * caller's child: no wait status, the message says less. */
static int scenario_dies_at_stop(void *arg)
{
	long in[N], out[N];
	int status[N], e;
	hpool_map_opts o = { .status = status };
	hpool_config cfg;
	hpool *p;

	(void)arg;
	memset(g_s, 0, sizeof(*g_s));
	hpool__fault_log = g_s->fault_log;
	atomic_store(&hpool__fault_skip, 0);
	atomic_store(&hpool__fault_at, HPOOL__F_SUP_ENDING);
	if (hpool_forkserver_start()) /* after: the server inherits them */
		return 9;
	for (int start = 0; start < 2; start++) {
		hpool_config_init(&cfg);
		cfg.mode = g_mode;
		cfg.workers = WORKERS;
		cfg.shm_size = 8 << 20;
		cfg.start = start; /* fork, then the fork server */
		if ((e = hpool_create(&p, &cfg))) {
			fprintf(stderr, "create: %d (%s)\n", e,
				hpool_last_error());
			return 10;
		}
		for (int i = 0; i < N; i++)
			in[i] = i;
		if (hpool_map(p, task_slow, NULL, 0, in, sizeof(long), out,
			      sizeof(long), N, &o) ||
		    check_items(status, out, N))
			return 11;
		e = hpool_destroy(p);
		if (e != HPOOL_ECRASH) {
			fprintf(stderr, "destroy: %d (%s)\n", e,
				hpool_last_error());
			return 12;
		}
		if (!strstr(hpool_last_error(), "hpool_destroy: the pool's "
						"supervisor"))
			return 13;
		if (start == 0 && !strstr(hpool_last_error(), "SIGKILL"))
			return 14;
		/* it died there, once per pool */
		if (atomic_load(&g_s->fault_log[HPOOL__F_SUP_ENDING]) !=
		    (unsigned)start + 1)
			return 15;
		memset(g_s->runs, 0, sizeof(g_s->runs));
		if (hpool_destroy(p) != HPOOL_ECLOSED) /* freed, not twice */
			return 16;
	}
	return 0;
}

static void run(int (*scenario)(void *))
{
	char why[64];
	int ws;

	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "the pool has no supervisor");
	/* In a child under an alarm: a hang fails, it never blocks. */
	ws = run_child(scenario, NULL);
	if (ws)
		fail_msg("scenario: %s", status_str(ws, why, sizeof(why)));
}

static void test_map_survives(void **st)
{
	(void)st;
	run(scenario_map);
}

static void test_futures_survive(void **st)
{
	(void)st;
	run(scenario_futures);
}

static void test_forkserver_dies(void **st)
{
	(void)st;
	run(scenario_forkserver);
}

static void test_death_at_stop(void **st)
{
	(void)st;
	run(scenario_dies_at_stop);
}

static void test_idle_death(void **st)
{
	(void)st;
	run(scenario_idle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_survives),
		cmocka_unit_test(test_futures_survive),
		cmocka_unit_test(test_idle_death),
		cmocka_unit_test(test_death_at_stop),
		cmocka_unit_test(test_forkserver_dies),
	};

	g_s = mmap(NULL, sizeof(*g_s), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_s == MAP_FAILED)
		return 1;
	return run_in_every_mode("regress_supervisor_dies", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
