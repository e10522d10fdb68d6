/* SPDX-License-Identifier: MIT */
/*
 * Forked children for the cmocka tests that kill their children at fault
 * points (test_ring, test_shm): spawn one (armed at a fault point), reap
 * it, and expect it to exit with C_OK or to die by SIGKILL. Children are
 * registered so that a failed test's teardown (kill_kids) kills them.
 * Built on tests/util.h (fork_child, reap, status_str).
 *
 * The including file defines C_OK, CHILD_ALARM_S (a hung child dies by
 * SIGALRM, so the test fails instead of hanging), and
 * `static void arm(int fault, int skip)`, which sets its module's fault
 * point in the child.
 */
#ifndef HPOOL_TEST_CHILDREN_H
#define HPOOL_TEST_CHILDREN_H

#include "util.h"

#define MAX_KIDS 8
static pid_t kids[MAX_KIDS];

typedef int (*child_fn)(void *arg);

static void arm(int fault, int skip);

static pid_t spawn(child_fn fn, void *arg, int fault, int skip)
{
	pid_t pid = fork_child(CHILD_ALARM_S);

	assert_true(pid >= 0);
	if (pid == 0) {
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

static int reap_kid(pid_t pid)
{
	int st = reap(pid);

	assert_int_not_equal(st, -1);
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	return st;
}

static void expect_exit0(pid_t pid, const char *what)
{
	int st = reap_kid(pid);
	char buf[64];

	if (!WIFEXITED(st) || WEXITSTATUS(st) != C_OK)
		fail_msg("%s: %s, want exit %d", what,
			 status_str(st, buf, sizeof(buf)), C_OK);
}

static void expect_killed(pid_t pid, const char *what)
{
	int st = reap_kid(pid);
	char buf[64];

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("%s: %s instead of dying by SIGKILL at its fault "
			 "point", what, status_str(st, buf, sizeof(buf)));
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
