/* SPDX-License-Identifier: MIT */
/*
 * The claim layer: pull scheduling from published segments (claim.c), and
 * the repair of a dead worker's claim records (repair.c). Protocol at the
 * top of claim.c.
 */
#ifndef HPOOL_CLAIM_H
#define HPOOL_CLAIM_H

#include "shared.h"

/* How a worker died, for the repair. */
struct hpool__death {
	int code;             /* for its running item: HPOOL_ECRASH,
				 -ETIMEDOUT, HPOOL_ECANCELED */
	int sig, exit_status; /* how it ended (exit_status -1: signalled) */
	pid_t pid;
	struct hpool__seg *kill_seg; /* a timeout kill's overdue item, or NULL */
	uint32_t kill_item;
	/* Hybrid: this worker (a thread) died with its process because a
	 * sibling crashed or overran: its running item fails with
	 * HPOOL_ECRASH marked collateral, naming the culprit worker and,
	 * when known (culprit_seg not NULL), its item. */
	bool collateral;
	unsigned culprit_worker;
	const struct hpool__seg *culprit_seg;
	uint32_t culprit_item;
	/* Per record left CLAIMING: 1 + min(next, count) of its segment,
	 * read just before the supervisor's look that found no live
	 * claimer CLAIMING on it (quiesce_claims); the repair looks for the
	 * dead worker's unrecorded range below it only. 0: read it at the
	 * repair (no worker is alive: restart.c). */
	uint32_t claim_end[HPOOL__RECS];
};
/* death.exit_status of a worker killed by its supervisor's death (the
 * caller repairs it: restart.c); -1 is "killed by a signal". */
#define HPOOL__EXIT_WITH_SUP (-2)

/* The pool the calling thread works for, if it is a worker: set by the
 * worker loop for its own thread, so that a task can call its own pool
 * (nested work) and a waiting worker can help. Context: thread-local. */
struct hpool__self {
	struct hpool__shared *sh; /* NULL: not a worker */
	struct hpool__wctl *w;
	unsigned level;           /* claim record in use: nesting depth */
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
	/* hybrid: the batch this process's threads share (claim.c), or
	 * NULL (the other modes; one thread per process; a max_tasks limit,
	 * counted an item at a time) */
	struct hpool__batch *batch;
};

/* Hybrid mode: one process's batch (private memory). */
struct hpool__batch {
	struct hpool__claim *rec;  /* w[first slot].rec[HPOOL__LEVELS] */
	unsigned threads;          /* threads that share it */
};
/* Does a process's batch hold items, or is a sibling refilling it? For a
 * thread deciding whether to sleep (a stale answer costs one look). */
HPOOL_INTERNAL bool hpool__batch_busy(const struct hpool__batch *b);
/* A batch record as its process left it (a death, or before a new
 * process of its slots starts): what its threads took from the front of
 * [lo, hi) is theirs, recorded in their own records or adopted by the
 * repair; lo moves past it and the take word is cleared. Context: no
 * thread of the process is running. */
HPOOL_INTERNAL void hpool__batch_settle(struct hpool__claim *g);
/* Ready the batch for a new process of its slots. Context: before the
 * process's threads start. */
HPOOL_INTERNAL void hpool__batch_open(struct hpool__batch *b,
				      struct hpool__claim *rec,
				      unsigned threads);

extern HPOOL_INTERNAL _Thread_local struct hpool__self hpool__self;

/* A published segment with items left to claim, looking from slot `from`,
 * those of publisher `prefer` first (0: no preference).
 * Return: it and *slot, or NULL. Context: anyone sharing the region. */
HPOOL_INTERNAL struct hpool__seg *hpool__seg_find(struct hpool__shared *sh,
						  unsigned from,
						  uint32_t prefer,
						  unsigned *slot);
/* Is there published work left to claim? */
HPOOL_INTERNAL bool hpool__work_available(struct hpool__shared *sh);
/* Claim and run ranges of one published segment with record `level` of w
 * until it is exhausted (or max_tasks_per_worker is reached).
 * Context: worker w's thread (or a waiter helping at depth `level`).
 * Return: 1 ran something, 0 found nothing, -1 the pool is terminating. */
HPOOL_INTERNAL int hpool__serve(struct hpool__shared *sh,
				struct hpool__wctl *w, unsigned level);
/* A replacement's first step: run what its dead predecessor's records
 * still own (left there by hpool__repair). Return: 0, or -1 terminating. */
HPOOL_INTERNAL int hpool__resume(struct hpool__shared *sh,
				 struct hpool__wctl *w);

/* A remote claimer (the MPI bridge): claim a batch of at most max_bytes
 * of inputs and outputs (at least one item; a guided share of what is
 * left, as large as one worker's) from some published segment with
 * record r, and leave r OWNED while the items run elsewhere (r is a
 * hazard that keeps the segment alive).
 * Return: the segment ([r->lo, r->hi) are the batch's), or NULL when
 * nothing is left to claim (r is then IDLE). Context: r's only writer. */
HPOOL_INTERNAL struct hpool__seg *hpool__claim_batch(struct hpool__shared *sh,
						     struct hpool__claim *r,
						     unsigned from,
						     size_t max_bytes);
/* The batch of r is over: store status[0..hi-lo) (its results are
 * already in place), count it finished, and make r IDLE. */
HPOOL_INTERNAL void hpool__batch_finish(struct hpool__shared *sh,
					struct hpool__claim *r,
					const int32_t *status);

/* Supervisor: is a record of a live worker other than `except` CLAIMING
 * on s? live[i] == 0: worker i is dead (NULL: all are live). A repair of
 * a CLAIMING record must wait until none is. */
HPOOL_INTERNAL bool hpool__claiming_on(const struct hpool__shared *sh,
				       const struct hpool__seg *s,
				       unsigned except, const pid_t *live);
/* Repair w's records after it died (see claim.c). Context: w was reaped;
 * for each of its CLAIMING records, no other record is CLAIMING on the
 * same segment. */
HPOOL_INTERNAL void hpool__repair(struct hpool__shared *sh,
				  struct hpool__wctl *w,
				  const struct hpool__death *death);
/* Fail every unfinished item that w's records own with `code` (a slot
 * that will have no replacement, or terminate). Context: as repair. */
HPOOL_INTERNAL void hpool__fail_records(struct hpool__shared *sh,
					struct hpool__wctl *w, int code);

/* A segment whose publisher (a worker) died. */
struct hpool__orphan {
	struct hpool__seg *seg;
	struct hpool__job *job; /* to free after its last segment, when it
				   is a block of its own (a map's) */
	uint32_t slot;
};
/* Supervisor, after worker `owner` died: cancel what is unclaimed in the
 * segments it published (nested work nobody will collect) and list them
 * (at most max) for hpool__orphan_reap. Return: how many. */
HPOOL_INTERNAL unsigned hpool__orphans_cancel(struct hpool__shared *sh,
					      uint64_t owner,
					      struct hpool__orphan *out,
					      unsigned max);
/* Unlist and free orphans[i] once every item is finished and no claim
 * record names it; its job goes with the last orphan of that job.
 * Return: true when it is gone (the caller drops it from the list). */
HPOOL_INTERNAL bool hpool__orphan_reap(struct hpool__shared *sh,
				       struct hpool__orphan *orphans,
				       unsigned n, unsigned i);

#endif /* HPOOL_CLAIM_H */
