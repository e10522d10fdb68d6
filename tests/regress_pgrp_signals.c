/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 10, item 2): signals sent to the caller's process
 * group (Ctrl-C, a shell's kill %1, a terminal hangup, Ctrl-Z) killed or
 * stopped a process pool even when the caller handled or ignored them:
 * the supervisor and the workers were in the caller's group, with every
 * disposition reset to the default. Now the pool's processes have a group
 * of their own, so those signals reach the caller only; the caller's death
 * still ends them; and a signal the caller ignores stays ignored in the
 * workers, as across exec (nohup).
 *
 * Every mode: a child "caller" in a group of its own handles SIGINT and
 * ignores SIGHUP, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN and SIGTTOU; the test
 * sends each to the whole group; the caller's pool must then run a map on
 * the same processes, with no failure. In thread and serial modes the
 * workers are the caller, which handles them: the same checks hold.
 * A second scenario: a caller that does not handle SIGINT dies of it, and
 * its pool's processes go with it (no orphans).
 */
#include "hpool.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "modes.h"

/* Test-only internal: supervisor pid, then one pid per worker slot. */
int hpool__pool_pids(const hpool *p, int *pids, unsigned max);

static hpool_mode g_mode;
static volatile sig_atomic_t got_int;

static const int ignored[] = { SIGHUP, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN,
			       SIGTTOU };
#define NIGN (sizeof(ignored) / sizeof(ignored[0]))

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void on_int(int sig)
{
	got_int++;
}

struct seen {
	long pid;
	long hup_ignored; /* the task's own disposition of SIGHUP */
};

static int task_whoami(void *out, const void *in, const void *ctx)
{
	struct seen *s = out;
	struct sigaction sa;

	s->pid = getpid();
	s->hup_ignored = sigaction(SIGHUP, NULL, &sa) == 0 &&
			 !(sa.sa_flags & SA_SIGINFO) &&
			 sa.sa_handler == SIG_IGN;
	return 0;
}

static hpool *make_pool(void)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.shm_size = 8 << 20;
	return hpool_create(&p, &cfg) ? NULL : p;
}

/* Every item ran on one of the pool's first workers (or on the caller, in
 * thread and serial modes), and the workers kept the caller's SIG_IGN. */
static int check_map(hpool *p, const int *pids, int n)
{
	struct seen out[64];
	int status[64];
	long in[64] = { 0 };
	hpool_map_opts o = { .chunk = 1, .status = status };

	if (hpool_map(p, task_whoami, NULL, 0, in, sizeof(long), out,
		      sizeof(out[0]), 64, &o))
		return 1;
	for (int i = 0; i < 64; i++) {
		bool known = n == 0 && out[i].pid == getpid();

		for (int k = 1; k < n; k++)
			known |= out[i].pid == pids[k];
		if (status[i] || !known)
			return 2;
		if (!out[i].hup_ignored)
			return 3;
	}
	return 0;
}

/* The child caller. Exit codes: 0 all held. */
static int caller(int ready, int go)
{
	int pids[8], again[8], n, e;
	char c = 'r';
	hpool *p;

	signal(SIGINT, on_int);
	for (unsigned i = 0; i < NIGN; i++)
		signal(ignored[i], SIG_IGN);
	p = make_pool();
	if (!p)
		return 10;
	n = hpool__pool_pids(p, pids, 8);
	if ((e = check_map(p, pids, n)))
		return 10 + e;
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
		return 20;
	/* The signals were all sent before the parent wrote to `go`: a
	 * process that was to die has a fatal signal pending and runs no
	 * more code of its own. */
	if ((e = check_map(p, pids, n)))
		return 30 + e;
	if (hpool__pool_pids(p, again, 8) != n || memcmp(pids, again,
						      (size_t)n * sizeof(int)))
		return 40;
	for (int i = 0; i < 1000 && !got_int; i++)
		sleep_ms(1);
	if (got_int != 1)
		return 41;
	if (hpool_destroy(p))
		return 42;
	return 0;
}

static void test_group_signals_reach_caller_only(void **st)
{
	int r[2], g[2], ws;
	char c;

#ifdef HPOOL_TEST_TSAN
	/* TSan reports the test's own signal handler (it allocates, through
	 * cmocka) and changes the child's exit status: not a pass. */
	skip();
#endif
	pid_t pid;

	assert_int_equal(pipe(r), 0);
	assert_int_equal(pipe(g), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		alarm(60);
		close(r[0]);
		close(g[1]);
		_exit(caller(r[1], g[0]));
	}
	setpgid(pid, pid); /* whichever runs first */
	close(r[1]);
	close(g[0]);
	/* (no byte: the caller failed early; its exit code says why) */
	if (read(r[0], &c, 1) == 1) {
		assert_int_equal(kill(-pid, SIGINT), 0);
		for (unsigned i = 0; i < NIGN; i++)
			assert_int_equal(kill(-pid, ignored[i]), 0);
		assert_int_equal(write(g[1], &c, 1), 1);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	close(r[0]);
	close(g[1]);
	if (WIFSIGNALED(ws))
		fail_msg("caller killed by signal %d", WTERMSIG(ws));
	if (WEXITSTATUS(ws))
		fail_msg("caller exit code %d", WEXITSTATUS(ws));
}

/* ---- a caller without a handler dies of Ctrl-C; its pool goes too ----- */

static bool gone(int pid)
{
	char path[64], state = 0;
	FILE *f;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fscanf(f, "%*d %*s %c", &state) != 1)
		state = 'Z';
	fclose(f);
	return state == 'Z' || state == 'X';
}

static void test_ctrl_c_ends_caller_and_pool(void **st)
{
	int fd[2], pids[8], n = 0, ws;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hpool *p;
		int k;

		setpgid(0, 0);
		alarm(60);
		close(fd[0]);
		signal(SIGINT, SIG_DFL);
		p = make_pool();
		k = p ? hpool__pool_pids(p, pids, 8) : -1;
		if (write(fd[1], &k, sizeof(k)) != sizeof(k) ||
		    (k > 0 && write(fd[1], pids, (size_t)k * sizeof(int)) < 0))
			_exit(2);
		close(fd[1]);
		for (;;)
			pause();
	}
	setpgid(pid, pid);
	close(fd[1]);
	assert_int_equal(read(fd[0], &n, sizeof(n)), sizeof(n));
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(read(fd[0], &pids[i], sizeof(int)),
				 sizeof(int));
	close(fd[0]);
	assert_int_equal(kill(-pid, SIGINT), 0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGINT);
	/* liveness bound, not a timing claim */
	for (int i = 0; i < n; i++) {
		for (int t = 0; t < 3000 && !gone(pids[i]); t++)
			sleep_ms(10);
		assert_true(gone(pids[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_signals_reach_caller_only),
		cmocka_unit_test(test_ctrl_c_ends_caller_and_pool),
	};

	return run_in_every_mode("regress_pgrp_signals", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
