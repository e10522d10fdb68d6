/* SPDX-License-Identifier: MIT */
/*
 * Forked children for tests, shared by the test programs that kill their
 * children at fault points: spawn one (armed at a fault point), reap it,
 * and expect it to exit with C_OK or to die by SIGKILL. Children are
 * registered so that a failed test's teardown (kill_kids) kills them.
 *
 * The including file defines C_OK, CHILD_ALARM_S (a hung child dies by
 * SIGALRM, so the test fails instead of hanging), and
 * `static void arm(int fault, int skip)`, which sets its module's fault
 * point in the child.
 */
#ifndef HPOOL_TEST_CHILDREN_H
#define HPOOL_TEST_CHILDREN_H

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS 8
static pid_t kids[MAX_KIDS];

typedef int (*child_fn)(void *arg);

static void arm(int fault, int skip);

static pid_t spawn(child_fn fn, void *arg, int fault, int skip)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(CHILD_ALARM_S);
		arm(fault, skip);
		_exit(fn(arg));
	}
	for (int i = 0; i < MAX_KIDS; i++) {
		if (!kids[i]) {
			kids[i] = pid;
			return pid;
		}
	}
	fail_msg("too many children");
	return -1;
}

static int reap(pid_t pid)
{
	int st = 0;
	pid_t w;

	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	assert_int_equal(w, pid);
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	return st;
}

static void expect_exit0(pid_t pid, const char *what)
{
	int st = reap(pid);

	if (WIFSIGNALED(st))
		fail_msg("%s: killed by signal %d", what, WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != C_OK)
		fail_msg("%s: exit code %d", what, WEXITSTATUS(st));
}

static void expect_killed(pid_t pid, const char *what)
{
	int st = reap(pid);

	if (WIFEXITED(st))
		fail_msg("%s: exited %d instead of dying at its fault point",
			 what, WEXITSTATUS(st));
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("%s: died by signal %d, not SIGKILL", what,
			 WTERMSIG(st));
}

static int kill_kids(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_KIDS; i++) {
		if (kids[i]) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	}
	return 0;
}

#endif /* HPOOL_TEST_CHILDREN_H */
