/*
 * The worker layer: the loop that serves one ring (in a thread of the
 * caller or in a process forked by the supervisor; the same code), and the
 * repair that finishes a dead worker's ring slot. Protocol at the top of
 * worker.c.
 */
#ifndef HPOOL_WORKER_H
#define HPOOL_WORKER_H

#include "shared.h"

/* Run items [t->lo, t->hi) of the task at ring index `head`, recording
 * progress in w (NULL: in the caller, serial). `post_timeout`: check the
 * timeout after the fact (workers that cannot be stopped). Raises t->lo
 * as items finish. Context: the ring's consumer. */
HPOOL_INTERNAL void hpool__run_task(struct hpool__wctl *w, uint32_t head,
				    struct hpool__task *t, bool post_timeout,
				    const _Atomic uint32_t *stop);
/* Mark a chunk done and wake its caller (through sh->done: c and its job
 * may be freed as soon as done is stored). Context: whoever finished it. */
HPOOL_INTERNAL void hpool__chunk_finish(struct hpool__shared *sh,
					struct hpool__chunk *c);
/* Run the pool's init for worker slot wi and publish the outcome in its
 * state (READY or INIT_FAILED), waking hpool_create.
 * Return: 0, or HPOOL__EXIT_INIT when init failed. */
HPOOL_INTERNAL int hpool__worker_init(struct hpool__shared *sh, unsigned wi);
/* The worker's life: bind, init, then serve its ring until closing and
 * empty (or max_tasks reached). Returns the exit code for a process. */
HPOOL_INTERNAL int hpool__worker_loop(struct hpool__shared *sh, unsigned w,
				      const struct hpool__topo *topo);
/* Wake every sleeper of the pool: workers, submitters, waiting calls.
 * Context: anyone sharing the region. */
HPOOL_INTERNAL void hpool__wake_all(struct hpool__shared *sh);
/* Fail every unfinished item in w's ring with `code` and release them.
 * Context: nobody consumes the ring (its worker is dead or gone). */
HPOOL_INTERNAL void hpool__ring_fail_all(struct hpool__shared *sh,
					 struct hpool__wctl *w, int code);
/* Repair w's ring after its worker died: keep finished items, fail the one
 * it was running (if any) with `code`, leave the rest for a replacement.
 * `target`: for a timeout kill, the RUN() value that was overdue (a later
 * item is left to run again); HPOOL__IDLE otherwise.
 * Context: the worker was reaped; nobody consumes the ring. */
HPOOL_INTERNAL void hpool__repair(struct hpool__shared *sh,
				  struct hpool__wctl *w, int code,
				  uint64_t target, int sig, int exit_status,
				  pid_t pid);

#endif /* HPOOL_WORKER_H */
