/* SPDX-License-Identifier: MIT */
/*
 * The worker layer: the loop that claims and runs published work, in a
 * thread of the caller or in a process forked by the supervisor (the same
 * code). The claim protocol is claim.c's.
 */
#ifndef HPOOL_WORKER_H
#define HPOOL_WORKER_H

#include "claim.h"

#include <pthread.h>


/* Run the pool's init for worker slot wi and publish the outcome in its
 * state (READY or INIT_FAILED), waking hpool_create.
 * Return: 0, or HPOOL__EXIT_INIT when init failed. */
HPOOL_INTERNAL int hpool__worker_init(struct hpool__shared *sh, unsigned wi);
/* The worker's life: bind, init, resume what a dead predecessor owned,
 * then claim and run published work until closing and nothing is left
 * (or max_tasks reached). Returns the exit code for a process. */
HPOOL_INTERNAL int hpool__worker_loop(struct hpool__shared *sh, unsigned w,
				      const struct hpool__topo *topo);
/* A forked worker process's life, serving slots [lo, hi) (one slot, or
 * a hybrid process's threads): tie its life to the supervisor (parent),
 * close the supervisor's descriptors fds[0..nfds) (-1 skipped), publish
 * its pid, then run the worker loop in a fresh thread (see worker.c on
 * OpenMP), or one thread per slot in hybrid mode, where init runs once
 * per process. Context: a fresh child of the supervisor. */
HPOOL_INTERNAL void hpool__worker_proc_main(struct hpool__shared *sh,
					    const struct hpool__topo *topo,
					    unsigned lo, unsigned hi,
					    pid_t parent, const int *fds,
					    unsigned nfds)
	__attribute__((noreturn));
/* Wake every sleeper of the pool: workers, submitters, waiting calls.
 * Context: anyone sharing the region. */
HPOOL_INTERNAL void hpool__wake_all(struct hpool__shared *sh);

#endif /* HPOOL_WORKER_H */
