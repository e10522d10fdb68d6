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

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

/* The threads this process runs now. */
static unsigned count_threads(void)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	/* A supervisor forked meanwhile by another thread would copy d. */
	hpool__fd_lock();
	d = opendir("/proc/self/task");
	if (d) {
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
	}
	hpool__fd_unlock();
	return n ? n : 1;
}

static int fork_start(struct hpool__workers *wk)
{
	return hpool__sup_backend_start(wk, wk->bind ? wk->topo : NULL);
}

int hpool__sup_backend_start(struct hpool__workers *wk,
			     const struct hpool__topo *topo)
{
	struct hpool__sup *sup = calloc(1, sizeof(*sup));
	int e;

	if (!sup)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	sup->pidfd = -1;
	wk->priv = sup;
	wk->forked_threads = count_threads();
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

	wk->stopped_clean = true;
	if (!sup || sup->pid <= 0)
		return;
	hpool__sup_request(sup, now ? 't' : 'q');
	hpool__wake_all(wk->sh);
	hpool__sup_join(sup);
	sup->pid = 0;
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
	for (i = 0; i < wk->sh->nworkers && n < max; i++)
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
