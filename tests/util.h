/* SPDX-License-Identifier: MIT */
/*
 * Helpers the test programs share: cmocka suites and the plain-C
 * regression programs alike. Nothing here calls assert_*: a helper returns
 * what it found and the test decides, so the same helper serves a parent
 * (which asserts) and a forked child (which _exits a code).
 *
 *   CHECK(c)          plain-C programs: on failure print file, line, the
 *                     expression and hpool_last_error(), then exit(1)
 *   now_ns()          CLOCK_MONOTONIC in ns
 *   sleep_ms(ms)      sleep, restarted after signals
 *   ppid_of(pid)      parent pid from /proc, -1 when gone
 *   proc_state(pid)   state letter from /proc ('S', 'R', 'Z'...), 0 gone
 *   proc_gone(pid)    no such process, or a zombie
 *   WAIT_UNTIL(cond)  poll cond until true or LIVENESS_S passed; its value
 *                     is whether cond became true (a liveness bound, never
 *                     a timing claim: a correct program gets there in
 *                     microseconds to milliseconds)
 *   fork_child(s)     fork with the child tied to us (PR_SET_PDEATHSIG) and
 *                     an alarm of s seconds (a hung child dies by SIGALRM)
 *   reap(pid)         waitpid through EINTR: the wait status, -1 on error
 *   status_str(st)    "exit 3", "signal 9 (SIGKILL)" for messages
 *   run_child(fn, a)  fork_child + _exit(fn(a)) + reap: the wait status
 *   names_item(m, i)  the message m says "item I" for exactly I (so that
 *                     "item 1" does not match "item 13")
 *
 * Context: the including file has included hpool.h (directly or through
 * src/internal.h) and is compiled with _GNU_SOURCE (gnu11).
 */
#ifndef HPOOL_TEST_UTIL_H
#define HPOOL_TEST_UTIL_H

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a test waits for something that a working library does at
 * once (a process to exit, a worker to start, a task to signal that it
 * began) before it calls it hung. Far above any scheduling delay: it only
 * turns a hang into a failure, well inside run-test.sh's limit. */
#define LIVENESS_S 60

/* HPOOL_TEST_TSAN: ThreadSanitizer does not see the OpenMP runtime's own
 * synchronisation (libgomp/libomp are not instrumented) and reports false
 * races inside it, so the tests that use OpenMP skip there, visibly. */
#include "san.h"

#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c)) {                                                \
			fprintf(stderr, "%s:%d: failed: %s (%s)\n", __FILE__, \
				__LINE__, #c, hpool_last_error());         \
			exit(1);                                           \
		}                                                          \
	} while (0)

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The fields of /proc/PID/stat after the command name: "S 123 ..." (state,
 * ppid, ...), copied to buf. Return: false when the process is gone. */
static inline bool proc_stat_tail(int pid, char *buf, size_t len)
{
	char path[64], line[512], *p;
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* the name may hold spaces and parentheses: the last ')' ends it */
	ok = fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) &&
	     p[1] == ' ';
	fclose(f);
	if (ok)
		snprintf(buf, len, "%s", p + 2);
	return ok;
}

static inline int ppid_of(int pid)
{
	char tail[480];
	int ppid = -1;

	if (!proc_stat_tail(pid, tail, sizeof(tail)) ||
	    sscanf(tail, "%*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

static inline char proc_state(int pid)
{
	char tail[480];

	return proc_stat_tail(pid, tail, sizeof(tail)) ? tail[0] : 0;
}

/* A zombie is dead, waiting for its parent (or the reaper it was handed
 * to) to collect it. */
static inline bool proc_gone(int pid)
{
	char s;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	s = proc_state(pid);
	return s == 0 || s == 'Z' || s == 'X';
}

/* GNU statement expression: WAIT_UNTIL(x) is true once x is, false when x
 * stayed false for LIVENESS_S seconds. Polls every 1 ms at first, then
 * backs off to 10 ms. */
#define WAIT_UNTIL(cond)                                                   \
	({                                                                 \
		int64_t wu_end_ = now_ns() + (int64_t)LIVENESS_S * 1000000000; \
		long wu_us_ = 1000;                                        \
		bool wu_ok_;                                               \
		while (!(wu_ok_ = (cond)) && now_ns() < wu_end_) {         \
			struct timespec wu_ts_ = { 0, wu_us_ * 1000 };     \
			nanosleep(&wu_ts_, NULL);                          \
			if (wu_us_ < 10000)                                \
				wu_us_ += 1000;                            \
		}                                                          \
		wu_ok_;                                                    \
	})

static inline pid_t fork_child(unsigned alarm_s)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(alarm_s);
	}
	return pid;
}

static inline int reap(pid_t pid)
{
	int st = 0;
	pid_t w;

	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	return w == pid ? st : -1;
}

static inline const char *status_str(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "not reaped");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)%s", WTERMSIG(st),
			 sigabbrev_np(WTERMSIG(st)) ?: "?",
			 WTERMSIG(st) == SIGALRM ? ": hung" : "");
	else
		snprintf(buf, len, "wait status 0x%x", st);
	return buf;
}

/* fn(arg) in a forked child (LIVENESS_S alarm) whose exit code is fn's
 * return. Return: the wait status; -1 when fork or waitpid failed. */
static inline int run_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork_child(LIVENESS_S);

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	return reap(pid);
}

static inline bool names_item(const char *msg, size_t index)
{
	char want[40];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "item %zu", index);
	for (const char *p = msg; (p = strstr(p, want)); p++)
		if (!isdigit((unsigned char)p[n]))
			return true;
	return false;
}

#endif /* HPOOL_TEST_UTIL_H */
