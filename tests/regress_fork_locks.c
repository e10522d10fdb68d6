/* SPDX-License-Identifier: MIT */
/*
 * Regressions (issue 10, items 3 and 12): a library lock held across a
 * fork, and stdio buffers copied into forked processes.
 *
 * 3. hpool_create forked the supervisor (and hpool_forkserver_start the
 *    server) while holding the descriptor lock (src/libfd.c), so every
 *    worker inherited it locked: hpool_create inside a process-mode task
 *    hung forever, and so did a child that the caller forked while another
 *    thread was inside hpool_create. Now no library lock is held across
 *    the library's forks, and pthread_atfork handlers make a fork by
 *    anyone wait for the descriptor lock and hand the child fresh locks.
 * 12. A task that called exit() flushed the caller's buffered stdout a
 *    second time: the caller's buffers were copied into the supervisor
 *    and the workers. Now the library flushes stdio (fflush(NULL), as
 *    Python does) before it forks.
 *
 * Each scenario runs in a forked child with an alarm, so a hang fails the
 * test within the bound instead of hanging it; the child _exit()s a code.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "modes.h"

#define CHILD_ALARM_S 30

static hpool_mode g_mode;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static hpool *pool_of(hpool_mode mode, unsigned workers, int start)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = mode;
	cfg.workers = workers;
	cfg.start = start;
	cfg.shm_size = 8 << 20;
	if (mode == HPOOL_MODE_HYBRID) { /* a worker alone in its process */
		cfg.hybrid_processes = workers;
		cfg.hybrid_threads = 1;
	}
	return hpool_create(&p, &cfg) ? NULL : p;
}

static int task_inc(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in + 1;
	return 0;
}

/* A whole pool's life: 0 when it maps right. */
static int use_a_pool(hpool_mode mode)
{
	long in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
	hpool *p = pool_of(mode, 1, -1);
	int e;

	if (!p)
		return 1;
	e = hpool_map(p, task_inc, NULL, 0, in, sizeof(long), out,
		      sizeof(long), 4, NULL);
	if (hpool_destroy(p) || e)
		return 2;
	for (int i = 0; i < 4; i++)
		if (out[i] != in[i] + 1)
			return 3;
	return 0;
}

/* Fork, run fn in the child under an alarm, return its wait status. */
static int in_child(int (*fn)(void))
{
	pid_t pid;
	int ws = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(CHILD_ALARM_S);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	return ws;
}

static void expect_ok(int ws, const char *what)
{
	if (WIFSIGNALED(ws))
		fail_msg("%s: killed by signal %d%s", what, WTERMSIG(ws),
			 WTERMSIG(ws) == SIGALRM ? " (hung)" : "");
	if (WEXITSTATUS(ws))
		fail_msg("%s: exit code %d", what, WEXITSTATUS(ws));
}

/* ---- 3a: a pool created inside a task --------------------------------- */

static int task_nested(void *out, const void *in, const void *ctx)
{
	*(long *)out = use_a_pool(*(const hpool_mode *)ctx);
	return 0;
}

static int nested_create(void)
{
	hpool *p = pool_of(g_mode, 2, -1);
	long in[4] = { 0 }, out[4] = { -1, -1, -1, -1 };

	if (!p)
		return 10;
	if (hpool_map(p, task_nested, &g_mode, sizeof(g_mode), in,
		      sizeof(long), out, sizeof(long), 4, NULL))
		return 11;
	if (hpool_destroy(p))
		return 12;
	for (int i = 0; i < 4; i++)
		if (out[i])
			return 20 + (int)out[i];
	return 0;
}

static void test_create_inside_task(void **st)
{
	expect_ok(in_child(nested_create), "hpool_create inside a task");
}

/* ---- 3b: a fork while another thread is inside hpool_create ------------ */

static pthread_t creator;
static _Atomic int in_window;   /* the creator holds the lock (hook) */
static _Atomic int fork_begun;  /* our atfork prepare ran */
static _Atomic int creator_ret;

/* Runs instead of dying at HPOOL__F_FD_LOCKED, in every thread that takes
 * the descriptor lock; only the creator's first pass stops: it holds the
 * lock until the main thread's fork has begun, and a little longer, so
 * that the fork happens while the lock is held. */
static void hook(int point)
{
	if (!pthread_equal(pthread_self(), creator) ||
	    atomic_exchange(&in_window, 1))
		return;
	for (int i = 0; i < 2000 && !atomic_load(&fork_begun); i++)
		sleep_ms(1);
	sleep_ms(20);
}

static void prepare(void)
{
	atomic_store(&fork_begun, 1);
}

static void *create_one(void *arg)
{
	creator = pthread_self(); /* before the hook can run in this thread */
	atomic_store(&creator_ret, use_a_pool(g_mode));
	return NULL;
}

static int child_creates(void)
{
	atomic_store(&hpool__fault_at, HPOOL__F_NONE);
	return use_a_pool(g_mode);
}

static void test_fork_while_creating(void **st)
{
	static bool registered;
	pthread_t th;
	int ws;

#if defined(HPOOL_TEST_TSAN) || defined(HPOOL_TEST_ASAN)
	/* The sanitizer runtimes (TSan; GCC 12's ASan allocator) are not
	 * fork-safe while another thread runs in them: the child of this
	 * very fork hung in TSan's locks once, and in ASan's allocator lock
	 * (a gdb trace: a worker thread of the child's own pool waiting in
	 * SizeClassAllocator64::GetFromAllocator), not in the library's.
	 * Visible skip, never a pass; the plain build runs it. */
	skip();
#endif
	if (!registered) {
		/* after the library's: prepare handlers run in reverse */
		pthread_atfork(prepare, NULL, NULL);
		registered = true;
	}
	atomic_store(&in_window, 0);
	atomic_store(&fork_begun, 0);
	hpool__fault_hook = hook;
	atomic_store(&hpool__fault_at, HPOOL__F_FD_LOCKED);
	assert_int_equal(pthread_create(&th, NULL, create_one, NULL), 0);
	for (int i = 0; i < 30000 && !atomic_load(&in_window); i++)
		sleep_ms(1);
	assert_true(atomic_load(&in_window));
	ws = in_child(child_creates);
	pthread_join(th, NULL);
	atomic_store(&hpool__fault_at, HPOOL__F_NONE);
	hpool__fault_hook = NULL;
	assert_int_equal(atomic_load(&creator_ret), 0);
	expect_ok(ws, "a child forked while a thread was in hpool_create");
}

/* ---- 12: stdio flushed before the library forks ------------------------ */

static int task_exit(void *out, const void *in, const void *ctx)
{
	if (*(const long *)in == 0)
		exit(0); /* flushes this process's stdio buffers */
	*(long *)out = 0;
	return 0;
}

static int exit_start; /* -1: fork; 1: forkserver (started in the child) */

/* stdout is a pipe, fully buffered: the marker sits in the buffer. */
static int marker_then_exit_in_task(void)
{
	long in[4] = { 0, 1, 2, 3 }, out[4];
	int status[4];
	hpool_map_opts o = { .chunk = 1, .status = status };
	hpool *p;

	printf("marker\n");
	if (exit_start == 1 && hpool_forkserver_start())
		return 30;
	p = pool_of(g_mode, 2, exit_start);
	if (!p)
		return 31;
	hpool_map(p, task_exit, NULL, 0, in, sizeof(long), out, sizeof(long),
		  4, &o);
	if (status[0] != HPOOL_ECRASH || status[1] || status[3])
		return 32;
	if (hpool_destroy(p))
		return 33;
	return 0;
}

static int count_markers(int start)
{
	int fd[2], n = 0, ws;
	char buf[4096], all[16384];
	size_t len = 0;
	ssize_t k;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(CHILD_ALARM_S);
		close(fd[0]);
		dup2(fd[1], STDOUT_FILENO);
		close(fd[1]);
		exit_start = start;
		/* exit() flushes the marker here, once */
		exit(marker_then_exit_in_task());
	}
	close(fd[1]);
	/* EOF once every process holding the pipe (the pool's too) is gone */
	while ((k = read(fd[0], buf, sizeof(buf))) > 0 || (k < 0 &&
							     errno == EINTR))
		if (k > 0 && len + (size_t)k < sizeof(all)) {
			memcpy(all + len, buf, (size_t)k);
			len += (size_t)k;
		}
	close(fd[0]);
	all[len] = 0;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	expect_ok(ws, "a task that calls exit()");
	for (char *s = all; (s = strstr(s, "marker")); s++)
		n++;
	return n;
}

static void test_exit_in_task_flushes_once(void **st)
{
#ifdef HPOOL_TEST_TSAN
	/* exit() in a worker runs TSan's own exit-time report machinery,
	 * which changes the exit status this test reads: not a pass. */
	skip();
#endif
	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "a task's exit() ends the caller itself");
	assert_int_equal(count_markers(-1), 1);
	assert_int_equal(count_markers(1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_inside_task),
		cmocka_unit_test(test_fork_while_creating),
		cmocka_unit_test(test_exit_in_task_flushes_once),
	};

	return run_in_every_mode("regress_fork_locks", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
