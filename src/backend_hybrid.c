/* SPDX-License-Identifier: MIT */
/*
 * The hybrid backend (HPOOL_MODE=hybrid): P worker processes of T worker
 * threads each, forked by a supervisor as in process mode (supervisor.c,
 * "Hybrid mode"). Every thread is a worker with a slot of its own (claim
 * records, repair); a process is the unit of isolation, of init and of
 * max_tasks_per_worker recycling.
 *
 * The shape (P x T):
 *   - hpool_config.hybrid_processes/threads, else $HPOOL_HYBRID="PxT";
 *   - else the machine's (topology.c, hpool__topo_hybrid_shape): one
 *     process per NUMA node, else package, else L3 cache, else one, with
 *     a thread per allowed core of it (the smallest group's count);
 *   - `workers` ($HPOOL_WORKERS) is the total thread count: with the
 *     machine's shape it is split over min(P, workers) processes,
 *     ceil(workers / P) threads each (the last process may have fewer).
 * Each thread is bound to its process's cpuset (its object's, for the
 * machine's shape), or with bind = core to one core of it; init runs in
 * the first thread of the process to start, so what it allocates is
 * first touched on the process's node.
 */
#include "backend.h"

#include <errno.h>

static int hybrid_shape(struct hpool__workers *wk,
			const struct hpool__settings *s,
			const hpool_config *cfg, unsigned *nworkers)
{
	(void)cfg;
	unsigned procs, threads;
	int e;

	if (s->hybrid_procs) {
		procs = s->hybrid_procs;
		threads = s->hybrid_threads;
	} else {
		if ((e = hpool__topo_hybrid_shape(wk->topo, &procs, &threads,
						  NULL)))
			return hpool__fail(e, "hpool_create: hybrid mode: "
					   "cannot read the machine's shape");
		if (s->workers) {
			if (procs > s->workers)
				procs = s->workers;
			threads = (s->workers + procs - 1) / procs;
		}
	}
	wk->tpp = threads;
	*nworkers = s->workers ? s->workers : procs * threads;
	return 0;
}

static int hybrid_start(struct hpool__workers *wk)
{
	/* Always the topology: a process is bound to its group even
	 * without bind = core (the binding is the point of the shape). */
	return hpool__sup_backend_start(wk, wk->topo);
}

/* A dead supervisor: the new one is forked by the caller, and binds its
 * processes to their groups as at start (restart.c). */
static int hybrid_restart(struct hpool__workers *wk)
{
	return hpool__sup_backend_restart_topo(wk, wk->topo);
}

const struct hpool__backend hpool__backend_hybrid = {
	.name = "hybrid",
	.isolated = true,
	.size = hybrid_shape,
	.start = hybrid_start,
	.stop = hpool__sup_backend_stop,
	.lost = hpool__sup_backend_lost,
	.restart = hybrid_restart,
	.poke = hpool__sup_backend_poke,
	.pids = hpool__sup_backend_pids,
	.release = hpool__sup_backend_release,
};

/* start = forkserver: the supervisor is the fork server's child, as in
 * process mode; the server binds only with bind = core (it opens its own
 * topology then), so the per-process cpuset binding needs start = fork. */
const struct hpool__backend hpool__backend_hybrid_fs = {
	.name = "hybrid-forkserver",
	.isolated = true,
	.size = hybrid_shape,
	.map = hpool__fs_backend_map,
	.start = hpool__fs_backend_start,
	.stop = hpool__sup_backend_stop,
	.lost = hpool__sup_backend_lost,
	.restart = hybrid_restart,
	.poke = hpool__sup_backend_poke,
	.pids = hpool__sup_backend_pids,
	.release = hpool__fs_backend_release,
};
