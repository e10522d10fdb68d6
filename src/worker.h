/* SPDX-License-Identifier: MIT */
/*
 * The worker layer: the loop that claims and runs published work, in a
 * thread of the caller or in a process forked by the supervisor (the same
 * code). The claim protocol is claim.c's.
 */
#ifndef HPOOL_WORKER_H
#define HPOOL_WORKER_H

#include "shared.h"

#include <pthread.h>

/* The pool the calling thread works for, if it is a worker: set by the
 * worker loop for its own thread, so that a task can call its own pool
 * (nested work) and a waiting worker can help. Context: thread-local. */
struct hpool__self {
	struct hpool__shared *sh; /* NULL: not a worker */
	struct hpool__wctl *w;
	unsigned level;           /* claim record in use: nesting depth */
	bool post_timeout;
	void *local;              /* the pool layer's handle in a process
				     worker (built on first use) */
	/* hybrid: items the threads of this process started (see
	 * claim.c's budget), NULL in the other modes */
	_Atomic uint64_t *proc_started;
	/* The worker runs in the caller's process (thread mode): set once
	 * when it starts, so that a nested call needs no getpid(), a
	 * system call that took half a nested submit's time (perf, in this
	 * virtual machine). */
	bool in_caller;
};

/* Hybrid mode: what the threads of one worker process share, in its
 * private memory. init runs once, in the first thread that gets there;
 * the others wait for its outcome before they take work. */
struct hpool__proc {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase;                  /* 0 not run, 1 running, 2 done */
	int status;                 /* init's return value */
	_Atomic uint64_t started;   /* items started (max_tasks_per_worker) */
	_Atomic uint32_t retiring;  /* max_tasks reached: threads leave */
};
extern HPOOL_INTERNAL _Thread_local struct hpool__self hpool__self;

/* Run the pool's init for worker slot wi and publish the outcome in its
 * state (READY or INIT_FAILED), waking hpool_create.
 * Return: 0, or HPOOL__EXIT_INIT when init failed. */
HPOOL_INTERNAL int hpool__worker_init(struct hpool__shared *sh, unsigned wi);
/* The worker's life: bind, init, resume what a dead predecessor owned,
 * then claim and run published work until closing and nothing is left
 * (or max_tasks reached). Returns the exit code for a process. */
HPOOL_INTERNAL int hpool__worker_loop(struct hpool__shared *sh, unsigned w,
				      const struct hpool__topo *topo);
/* The same for one thread of a hybrid worker process: init once per
 * process (proc), max_tasks counted per process. */
HPOOL_INTERNAL int hpool__worker_loop_proc(struct hpool__shared *sh,
					   unsigned w,
					   const struct hpool__topo *topo,
					   struct hpool__proc *proc);
/* Wake every sleeper of the pool: workers, submitters, waiting calls.
 * Context: anyone sharing the region. */
HPOOL_INTERNAL void hpool__wake_all(struct hpool__shared *sh);

#endif /* HPOOL_WORKER_H */
