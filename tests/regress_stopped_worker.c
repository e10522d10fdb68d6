/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 10, item 4): a stopped worker hung the pool. A task
 * that raised SIGSTOP, or a worker stopped from outside (SIGSTOP, SIGTSTP),
 * kept its item forever: the supervisor only looked for deaths. It now
 * sees stops too and treats a stopped worker as a hung one: it kills and
 * replaces it, and the item it was running fails with HPOOL_ECRASH and a
 * message that names the stop signal. Every other item runs once.
 *
 * Process mode only: in thread and serial modes a stop stops the whole
 * caller, whose job control it is (the tests say so with skip()). Each
 * scenario runs in a forked child with an alarm: a hang fails the test.
 */
#include "hpool.h"

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

/* Test-only internal: supervisor pid, then one pid per worker slot. */
int hpool__pool_pids(const hpool *p, int *pids, unsigned max);

#define N 16
#define VICTIM 5

static hpool_mode g_mode;

/* MAP_SHARED, made before any pool: the same in every worker. */
struct scratch {
	_Atomic int runs[N];
	_Atomic int victim_pid;
	_Atomic int release;
};
static struct scratch *g_s;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* how: 0 raise(SIGSTOP); 1 wait to be stopped from outside */
static int task_victim(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;
	int how = *(const int *)ctx;

	atomic_fetch_add(&g_s->runs[x], 1);
	*(long *)out = x;
	if (x != VICTIM)
		return 0;
	if (how == 0)
		raise(SIGSTOP);
	atomic_store(&g_s->victim_pid, getpid());
	for (int i = 0; i < 30000 && !atomic_load(&g_s->release); i++)
		sleep_ms(1);
	return 0;
}

/* In the child: exit codes, 0 when all held. */
static int stop_scenario(int how, int sig)
{
	hpool_config cfg;
	long in[N], out[N];
	int status[N], pids[4], ret;
	hpool_map_opts o = { .chunk = 1, .status = status };
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.shm_size = 8 << 20;
	if (g_mode == HPOOL_MODE_HYBRID) { /* no collateral: one thread */
		cfg.hybrid_processes = 2;
		cfg.hybrid_threads = 1;
	}
	if (hpool_create(&p, &cfg))
		return 10;
	for (int i = 0; i < N; i++)
		in[i] = i;
	memset(g_s, 0, sizeof(*g_s));
	if (how == 1 && fork() == 0) {
		/* from outside: stop the victim once it runs its item */
		for (int i = 0; i < 30000 && !atomic_load(&g_s->victim_pid);
		     i++)
			sleep_ms(1);
		kill(atomic_load(&g_s->victim_pid), sig);
		_exit(0);
	}
	ret = hpool_map(p, task_victim, &how, sizeof(how), in, sizeof(long),
			out, sizeof(long), N, &o);
	atomic_store(&g_s->release, 1);
	if (ret != HPOOL_ECRASH)
		return 11;
	if (!strstr(hpool_last_error(), sig == SIGSTOP ? "SIGSTOP" :
							 "SIGTSTP") ||
	    !strstr(hpool_last_error(), "stopped"))
		return 12;
	for (int i = 0; i < N; i++) {
		if (atomic_load(&g_s->runs[i]) != 1)
			return 13;
		if (status[i] != (i == VICTIM ? HPOOL_ECRASH : 0))
			return 14;
		if (i != VICTIM && out[i] != i)
			return 15;
	}
	/* the pool keeps its workers and takes work */
	o.status = NULL;
	how = 2;
	if (hpool_map(p, task_victim, &how, sizeof(how), in, sizeof(long),
		      out, sizeof(long), VICTIM, &o))
		return 16;
	if (hpool__pool_pids(p, pids, 4) != 3)
		return 17;
	if (hpool_destroy(p))
		return 18;
	return 0;
}

static void run(int how, int sig)
{
	pid_t pid;
	int ws;

	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "a stop here stops the caller itself");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		_exit(stop_scenario(how, sig));
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	if (WIFSIGNALED(ws))
		fail_msg("killed by signal %d%s", WTERMSIG(ws),
			 WTERMSIG(ws) == SIGALRM ? " (the pool hung)" : "");
	if (WEXITSTATUS(ws))
		fail_msg("exit code %d", WEXITSTATUS(ws));
}

static void test_task_raises_sigstop(void **st)
{
	run(0, SIGSTOP);
}

static void test_sigtstp_from_outside(void **st)
{
	run(1, SIGTSTP);
}

static void test_sigstop_from_outside(void **st)
{
	run(1, SIGSTOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_raises_sigstop),
		cmocka_unit_test(test_sigtstp_from_outside),
		cmocka_unit_test(test_sigstop_from_outside),
	};

	g_s = mmap(NULL, sizeof(*g_s), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_s == MAP_FAILED)
		return 1;
	return run_in_every_mode("regress_stopped_worker", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
