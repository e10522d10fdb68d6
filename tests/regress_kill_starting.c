/* SPDX-License-Identifier: MIT */
/*
 * Regression: a replacement worker killed from outside before it was
 * READY retired its slot for good (supervisor.c, on_death took any death
 * in STARTING for a failed init): the pool lost a worker per such kill,
 * failed every item queued in that ring with HPOOL_ECRASH, and with no
 * slot left took no work at all (HPOOL_ECLOSED). Found by tests/soak.
 *
 * 1. A one-worker pool: kill its worker, then kill the replacement the
 *    moment its pid appears (it is still starting), twenty times; every
 *    map after that must succeed.
 * 2. The bound that keeps a crash in init from looping: replacements
 *    whose init always crashes retire the slot after a few tries; the
 *    map returns (failed), it does not hang (run-test.sh's limit).
 *    (Without an init, a replacement killed while starting is replaced
 *    every time, as a READY worker is: 1. kills it twenty times.)
 *
 * Exit status 0 on success; plain C, no cmocka (one scenario each).
 */
#include "hpool.h"
#include "internals.h"
#include "util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static int task_inc(void *out, const void *in, const void *ctx)
{
	(void)ctx;
	*(long *)out = *(const long *)in + 1;
	return 0;
}

static int map_some(hpool *p)
{
	long in[16], out[16];

	for (int i = 0; i < 16; i++)
		in[i] = i;
	memset(out, 0, sizeof(out));
	int e = hpool_map(p, task_inc, NULL, 0, in, sizeof(long), out,
			  sizeof(long), 16, NULL);
	for (int i = 0; !e && i < 16; i++)
		CHECK(out[i] == i + 1);
	return e;
}

/* Kill the worker, then its replacement as soon as it exists. */
static void kill_twice(hpool *p)
{
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;
	int pids[2], old;

	CHECK(hpool__pool_pids(p, pids, 2) == 2 && pids[1] > 0);
	old = pids[1];
	CHECK(kill(old, SIGKILL) == 0);
	/* Spin, no sleep: the replacement is to be caught while starting.
	 * The bound is liveness only: a replacement comes. */
	for (;;) {
		CHECK(hpool__pool_pids(p, pids, 2) == 2);
		if (pids[1] != old && pids[1] > 0)
			break;
		CHECK(now_ns() < end);
	}
	/* Nothing else kills a replacement without init, and the supervisor
	 * reaps it only after it died: the pid is alive (or a zombie, which
	 * kill() still accepts). ESRCH would mean the slot held a stale pid. */
	CHECK(kill(pids[1], SIGKILL) == 0);
}

static void test_replacement_killed_starting(void)
{
	hpool_config cfg;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = 1;
	cfg.shm_size = (size_t)4 << 20;
	CHECK(hpool_create(&p, &cfg) == 0);
	for (int round = 0; round < 20; round++) {
		kill_twice(p);
		/* Each map proves a READY worker again; the next round then
		 * starts from a worker that got going. */
		CHECK(map_some(p) == 0);
	}
	CHECK(hpool_destroy(p) == 0);
}

/* Init crashes once *crash is set (a MAP_SHARED page made before the
 * pool, at the same address in every worker). */
static int init_crash_when_told(const void *ctx)
{
	_Atomic int *crash = *(_Atomic int *const *)ctx;

	if (atomic_load(crash))
		raise(SIGSEGV);
	return 0;
}

static void test_init_crash_loop_is_bounded(void)
{
	struct rlimit nocore = { 0, 0 };
	_Atomic int *crash;
	hpool_config cfg;
	hpool *p;
	int pids[2], e;

	setrlimit(RLIMIT_CORE, &nocore);
	crash = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(crash != MAP_FAILED);
	atomic_store(crash, 0);
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = 1;
	cfg.shm_size = (size_t)4 << 20;
	cfg.init = init_crash_when_told;
	cfg.init_ctx = &crash;
	cfg.init_ctx_size = sizeof(crash);
	CHECK(hpool_create(&p, &cfg) == 0);
	CHECK(map_some(p) == 0);
	atomic_store(crash, 1);
	CHECK(hpool__pool_pids(p, pids, 2) == 2);
	CHECK(kill(pids[1], SIGKILL) == 0);
	/* Every replacement dies in init: the slot is retired after a few,
	 * and the map says so instead of waiting forever, whether it starts
	 * before the slot is retired (its items fail) or after (refused). */
	e = map_some(p);
	CHECK(e == HPOOL_ECRASH || e == HPOOL_ECLOSED);
	CHECK(hpool_destroy(p) == 0);
	munmap((void *)crash, 4096);
}

int main(void)
{
	test_replacement_killed_starting();
	test_init_crash_loop_is_bounded();
	printf("regress_kill_starting: ok\n");
	return 0;
}
