/* SPDX-License-Identifier: MIT */
/*
 * The worker-backend interface: the one place where the ways of running
 * workers differ. A backend starts the workers of a pool, stops them,
 * tells whether the machinery that runs them died, and lists their pids
 * for tests. Everything else (the region, the claim protocol, the call engine,
 * futures, waking a worker through its event) is the same for all.
 *
 * One file per backend, each defining one const struct hpool__backend:
 *   backend_thread.c      workers are pthreads of the caller
 *   backend_fork.c        a supervisor forked from the caller forks them
 *   backend_forkserver.c  the supervisor is forked by the fork server
 *   backend_serial.c      no workers: the caller runs every task
 *   backend_hybrid.c      the supervisor forks processes of T threads
 *   backend_mpi.c         rank 0 of an MPI job: a supervisor of its own
 *                         forks workers for rank 0's node, and a bridge
 *                         thread claims batches and ships them to server
 *                         ranks (mpi_server.c), which run local process
 *                         pools
 * backend.c holds the table that picks one from the settings; nothing
 * else in src/ asks which mode a pool runs in. A new way (MPI, hybrid)
 * is one new file and one line in that table.
 *
 * Context: a backend's operations are called by the pool's life cycle
 * (lifecycle.c) in the creating or destroying thread, except `lost` and
 * `poke`, which any caller thread may call while the pool lives.
 */
#ifndef HPOOL_BACKEND_H
#define HPOOL_BACKEND_H

#include "shared.h"

#include <pthread.h>

/* What a backend sees of a pool (private memory of the caller). */
struct hpool__workers {
	const struct hpool__backend *ops;
	struct hpool__shm *shm;       /* the region, mapped by ops->map */
	struct hpool__shared *sh;     /* its root block, filled in */
	struct hpool__topo *topo;     /* the machine (binding) */
	bool bind;                    /* bind workers to cores */
	bool stopped_clean;           /* stop: every worker is gone */
	int stop_error;               /* stop: 0, or what went wrong (the
					 message is set): destroy returns it */
	unsigned forked_threads;      /* start: threads the caller ran when
					 it forked (a hazard; 0: no fork) */
	bool refuse_threaded;         /* start: refuse that hazard instead
					 (-EDEADLK) */
	const void *handle;           /* the caller's handle value (a remote
					 backend names it to its tasks) */
	void *priv;                   /* the backend's own state */
	/* Readers of priv (lost, poke, pids) hold it for reading; restart
	 * and stop for writing (restart.c). */
	pthread_rwlock_t lock;
	int lost_pid;                 /* the last supervisor that died */
	unsigned restarts;            /* supervisors restarted */
	unsigned tpp;                 /* shape: threads per process (hybrid;
					 0 otherwise), copied to sh->tpp */
	unsigned remote;              /* shape: the last `remote` slots are
					 driven by a remote claimer (MPI's
					 bridge); the supervisor, if any,
					 runs the others (sh->nsup) */
};

struct hpool__backend {
	const char *name;
	/* Tasks run in the calling thread: one "worker", the caller; no
	 * copies of inputs or results are needed. */
	bool runs_inline;
	/* A worker can die alone and be stopped from outside (processes):
	 * the supervisor repairs its claim records, overdue items are
	 * killed, max_tasks_per_worker recycles workers. Otherwise a worker
	 * dies only with the caller and reports an overdue item when it
	 * returns. */
	bool isolated;
	/* Workers are threads of the caller's process and may read and
	 * write its private memory: hpool_map's workers copy a range's
	 * inputs and results themselves (the touch protocol, claim.c), so
	 * the caller copies nothing. */
	bool shares_memory;
	/* A map's segment bytes per remote worker slot (wk->remote); local
	 * slots take call.c's SEG_PER_WORKER. A remote backend ships a
	 * segment in a few batches, each a round trip, so it asks for
	 * larger segments. */
	size_t seg_per_worker;
	/* Decide the number of workers before the region is built (a
	 * remote backend asks its ranks; hybrid shapes its processes and
	 * sets wk->tpp). NULL: s->workers, else the
	 * topology's cores. Return: 0 and *n, or a code with the message
	 * set; wk->ops->release is called after a failure. */
	int (*size)(struct hpool__workers *wk,
		    const struct hpool__settings *s, const hpool_config *cfg,
		    unsigned *n);
	/* Map the region of `size` bytes into wk->shm. NULL: an anonymous
	 * shared mapping (hpool__shm_create). Return: 0 or -errno. */
	int (*map)(struct hpool__workers *wk, size_t size);
	/* Start every worker of wk->sh (filled in, no work). It does not
	 * wait for them to be ready. Return: 0, or a code with the message
	 * set; wk->ops->stop is called after a failure. */
	int (*start)(struct hpool__workers *wk);
	/* Stop the workers: after published work drains (now false) or before
	 * their next item (now true); sets wk->stopped_clean when no worker
	 * can touch the region any more. sh->closing is already set. */
	void (*stop)(struct hpool__workers *wk, bool now);
	/* Has what runs the workers died, so that nothing will finish?
	 * NULL: it cannot die apart from the caller. */
	bool (*lost)(struct hpool__workers *wk);
	/* A call with a per-item timeout began: the backend that enforces
	 * timeouts looks again. NULL: nothing to do. */
	void (*poke)(struct hpool__workers *wk);
	/* What ran the workers died (lost), its workers are gone and their
	 * records repaired (restart.c): start it again over the same region.
	 * NULL: it cannot be restarted. Return: 0 or -errno. */
	int (*restart)(struct hpool__workers *wk);
	/* Tests: the pids this backend runs (supervisor first, then the
	 * workers). NULL: none (threads, serial). Return: how many. */
	int (*pids)(const struct hpool__workers *wk, int *pids, unsigned max);
	/* Free what map and start left, after stop. NULL: nothing. */
	void (*release)(struct hpool__workers *wk);
	/* Say why item `index` of s failed when s->crash_rank is set (a
	 * remote backend). Return: true when it set the message. */
	bool (*explain)(const struct hpool__workers *wk,
			const struct hpool__seg *s, size_t index, int st,
			const char *fn);
};

/* The backends, and the table that picks one. */
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_thread;
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_fork;
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_forkserver;
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_serial;
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_hybrid;
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_hybrid_fs;
/* Shared by the supervisor backends (fork, forkserver, hybrid; in
 * backend_fork.c), whose priv starts with a struct hpool__sup. start:
 * fork the supervisor, passing it topo for binding (NULL: none). */
HPOOL_INTERNAL int hpool__sup_backend_start(struct hpool__workers *wk,
					    const struct hpool__topo *topo);
HPOOL_INTERNAL void hpool__sup_backend_release(struct hpool__workers *wk);
/* The same start into a struct hpool__sup that priv begins with (MPI's
 * rank 0 runs one beside its bridge). */
struct hpool__sup;
HPOOL_INTERNAL int hpool__sup_backend_start_in(struct hpool__workers *wk,
					       const struct hpool__topo *topo,
					       struct hpool__sup *sup);
/* The fork server's (backend_forkserver.c), shared with hybrid mode's
 * start = forkserver (the server's supervisor reads the shape from the
 * region). */
HPOOL_INTERNAL int hpool__fs_backend_map(struct hpool__workers *wk,
					 size_t size);
HPOOL_INTERNAL int hpool__fs_backend_start(struct hpool__workers *wk);
HPOOL_INTERNAL void hpool__fs_backend_release(struct hpool__workers *wk);
/* Defined only when built with MPI (HAVE_MPI). */
extern HPOOL_INTERNAL const struct hpool__backend hpool__backend_mpi;
HPOOL_INTERNAL void hpool__sup_backend_stop(struct hpool__workers *wk,
					    bool now);
HPOOL_INTERNAL bool hpool__sup_backend_lost(struct hpool__workers *wk);
HPOOL_INTERNAL void hpool__sup_backend_poke(struct hpool__workers *wk);
HPOOL_INTERNAL int hpool__sup_backend_restart(struct hpool__workers *wk);
/* The same, binding the new workers from `topo` (hybrid: always). */
HPOOL_INTERNAL int
hpool__sup_backend_restart_topo(struct hpool__workers *wk,
				const struct hpool__topo *topo);
HPOOL_INTERNAL int hpool__sup_backend_pids(const struct hpool__workers *wk,
					   int *pids, unsigned max);

/* The backend for resolved settings. Return: the backend, or NULL with
 * hpool_last_error() saying why (a start method that cannot run). */
HPOOL_INTERNAL const struct hpool__backend *
hpool__backend_for(const struct hpool__settings *s);

#endif /* HPOOL_BACKEND_H */
