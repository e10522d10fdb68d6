/* SPDX-License-Identifier: MIT */
/*
 * The fork backend (process mode, start = fork): hpool_create forks a
 * supervisor from the caller, and the supervisor forks the workers
 * (supervisor.c). The caller sees a worker's death only through what the
 * supervisor repaired in the region, and the supervisor's own death
 * through waitid (lost).
 */
#include "backend.h"
#include "libfd.h"
#include "supervisor.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static int fork_start(struct hpool__workers *wk)
{
	return hpool__sup_backend_start(wk, wk->bind ? wk->topo : NULL);
}

int hpool__sup_backend_start(struct hpool__workers *wk,
			     const struct hpool__topo *topo)
{
	struct hpool__sup *sup = calloc(1, sizeof(*sup));

	if (!sup)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	wk->priv = sup;
	return hpool__sup_backend_start_in(wk, topo, sup);
}

int hpool__sup_backend_start_in(struct hpool__workers *wk,
				const struct hpool__topo *topo,
				struct hpool__sup *sup)
{
	int e;

	sup->pidfd = -1;
	wk->forked_threads = hpool__count_threads();
	if (wk->forked_threads > 1 && wk->refuse_threaded)
		return hpool__fail(-EDEADLK, "hpool_create: this process runs "
				   "%u threads, and a lock one of them holds "
				   "would stay locked in every worker forked "
				   "now (threaded_fork = refuse): start the "
				   "fork server before any thread "
				   "(HPOOL_START=forkserver), or allow it",
				   wk->forked_threads);
	if ((e = hpool__sup_start(wk->sh, topo, sup)))
		return hpool__fail(e, "hpool_create: fork failed: %s",
				   hpool_strerror(e));
	return 0;
}

/* The operations below are shared with the fork-server backend: both
 * talk to a supervisor (priv is its struct hpool__sup). */
void hpool__sup_backend_stop(struct hpool__workers *wk, bool now)
{
	struct hpool__sup *sup = wk->priv;
	bool ours;
	char how[64], sb[32];
	pid_t pid;
	int st;

	wk->stopped_clean = true;
	if (!sup || sup->pid <= 0)
		return;
	pid = sup->pid;
	ours = sup->pidfd < 0; /* else the fork server's child: no status */
	hpool__sup_request(sup, now ? 't' : 'q');
	hpool__wake_all(wk->sh);
	st = hpool__sup_join(sup);
	sup->pid = 0;
	/* Pairs with the supervisor's release stores, made before the exit
	 * the join waited for. Every item had ended before the stop; a
	 * supervisor that died or failed once it saw the request is still
	 * reported. One that died before it saw it (RUNNING) died like any
	 * other, a death the next call would have healed: its workers died
	 * with it, and the stop is done. */
	if (atomic_load_explicit(&wk->sh->sup_state, memory_order_acquire) !=
	    HPOOL__SUP_STOPPING)
		return;
	if (ours && WIFSIGNALED(st))
		snprintf(how, sizeof(how), "was killed by %s",
			 hpool__signame(WTERMSIG(st), sb, sizeof(sb)));
	else if (ours && WIFEXITED(st))
		snprintf(how, sizeof(how), "exited with code %d",
			 WEXITSTATUS(st));
	else
		snprintf(how, sizeof(how), "died or failed");
	wk->stop_error = hpool__fail(HPOOL_ECRASH, "the pool's supervisor "
				     "(pid %d) %s instead of ending "
				     "cleanly at the stop; the pool is freed",
				     (int)pid, how);
}

bool hpool__sup_backend_lost(struct hpool__workers *wk)
{
	return wk->priv && hpool__sup_gone(wk->priv);
}

void hpool__sup_backend_poke(struct hpool__workers *wk)
{
	if (wk->priv)
		hpool__sup_request(wk->priv, 'w');
}

int hpool__sup_backend_pids(const struct hpool__workers *wk, int *pids,
			    unsigned max)
{
	const struct hpool__sup *sup = wk->priv;
	unsigned i, n = 0;

	if (!sup)
		return 0;
	if (n < max)
		pids[n++] = sup->pid;
	for (i = 0; i < wk->sh->nsup && n < max; i++)
		/* Pairs with the supervisor's release store of pid. */
		pids[n++] = atomic_load_explicit(&wk->sh->w[i].pid,
						 memory_order_acquire);
	return (int)n;
}

/* Reap the dead supervisor and fork a new one (restart.c repaired its
 * workers' records). Shared with the fork-server backend. */
int hpool__sup_backend_restart_topo(struct hpool__workers *wk,
				    const struct hpool__topo *topo)
{
	struct hpool__sup *sup = wk->priv;

	hpool__sup_join(sup);
	sup->pid = 0;
	sup->pidfd = -1;
	return hpool__sup_start(wk->sh, topo, sup);
}

int hpool__sup_backend_restart(struct hpool__workers *wk)
{
	return hpool__sup_backend_restart_topo(wk, wk->bind ? wk->topo : NULL);
}

void hpool__sup_backend_release(struct hpool__workers *wk)
{
	free(wk->priv);
	wk->priv = NULL;
}

const struct hpool__backend hpool__backend_fork = {
	.name = "fork",
	.isolated = true,
	.start = fork_start,
	.stop = hpool__sup_backend_stop,
	.lost = hpool__sup_backend_lost,
	.restart = hpool__sup_backend_restart,
	.poke = hpool__sup_backend_poke,
	.pids = hpool__sup_backend_pids,
	.release = hpool__sup_backend_release,
};
