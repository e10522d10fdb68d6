/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 10, item 11): a process worker that could not start
 * its loop thread (RLIMIT_AS, RLIMIT_NPROC) was reported as HPOOL_ECRASH
 * "worker 0 died in init", with no init configured. hpool_create now
 * returns the thread's own error (-EAGAIN or -ENOMEM) and says what
 * failed and which limits count.
 *
 * RLIMIT_NPROC does not bind root, so the test uses RLIMIT_AS: set, in a
 * fresh child, just above what the process already maps plus the pool's
 * region, it leaves room for the fork but not for a thread's stack. Each
 * mode runs in a child forked before this process ever started a thread
 * (a cached thread stack would hide the limit). Serial mode starts no
 * thread: it must simply work under the same limit.
 *
 * Exit status 0 on success; plain C, no cmocka (children only).
 */
#include "hpool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHM ((size_t)4 << 20)
#define HEADROOM ((size_t)4 << 20) /* < a thread stack (8 MiB) */

/* VmSize of this process in bytes, 0 if unknown. */
static size_t vm_size(void)
{
	char line[256];
	size_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

/* What a serial pool (no thread, no fork) adds to the address space: the
 * region, the topology, the library's first allocations. */
static size_t pool_cost(void)
{
	hpool_config cfg;
	size_t before = vm_size(), after;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_SERIAL;
	cfg.shm_size = SHM;
	if (hpool_create(&p, &cfg))
		return 0;
	after = vm_size();
	hpool_destroy(p);
	return after > before ? after - before : 0;
}

static int scenario(hpool_mode mode)
{
	size_t cost = pool_cost();
	struct rlimit as;
	hpool_config cfg;
	hpool *p = NULL;
	int e;

	hpool_config_init(&cfg);
	cfg.mode = mode;
	cfg.workers = 1;
	cfg.shm_size = SHM;
	as.rlim_cur = as.rlim_max = vm_size() + cost + HEADROOM;
	if (!cost || setrlimit(RLIMIT_AS, &as))
		return 90;
	e = hpool_create(&p, &cfg);
	if (mode == HPOOL_MODE_SERIAL) {
		if (e)
			fprintf(stderr, "serial: %s\n", hpool_last_error());
		return e ? 10 : hpool_destroy(p) ? 11 : 0;
	}
	fprintf(stderr, "%s: create returned %d: %s\n",
		mode == HPOOL_MODE_THREAD ? "thread" : "process", e,
		hpool_last_error());
	if (e != -EAGAIN && e != -ENOMEM)
		return 20;
	if (p)
		return 21;
	if (!strstr(hpool_last_error(), "thread") ||
	    strstr(hpool_last_error(), "died in init"))
		return 22;
	return 0;
}

int main(void)
{
	static const hpool_mode modes[] = { HPOOL_MODE_THREAD,
					    HPOOL_MODE_PROCESS,
					    HPOOL_MODE_SERIAL };
	int fails = 0;

	for (unsigned i = 0; i < 3; i++) {
		int ws;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			alarm(30);
			_exit(scenario(modes[i]));
		}
		if (waitpid(pid, &ws, 0) != pid)
			return 1;
		if (!WIFEXITED(ws) || WEXITSTATUS(ws)) {
			fprintf(stderr, "regress_rlimit: mode %u: %s %d\n", i,
				WIFEXITED(ws) ? "exit code" : "signal",
				WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
			fails++;
		}
	}
	if (!fails)
		printf("regress_rlimit: ok\n");
	return fails != 0;
}
