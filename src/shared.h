/* SPDX-License-Identifier: MIT */
/*
 * The shared-region protocol: the structures that the caller's side (the
 * pool layer), the worker loop (worker.c, in a thread or a process) and
 * the supervisor (supervisor.c: forks, reaps, repairs, replaces) share
 * through the region, and the rules for each word.
 *
 * Everything declared `shared` here lives in the shared region and holds
 * same-address pointers into the region only (never into a process's
 * private memory), except hpool__job.fn and .init, which are code addresses,
 * the same in every worker because workers are threads of the caller or
 * forked from it.
 */
#ifndef HPOOL_SHARED_H
#define HPOOL_SHARED_H

#include "internal.h"

#include <sys/types.h>

/* Per-item result word (hpool__seg.res): DONE bit | (uint32_t)status.
 * Stored once, with release, by whoever finishes the item (the worker, the
 * supervisor repairing a dead one, or a caller that cancels it); loaded
 * with acquire by the caller. */
#define HPOOL__RES_DONE ((uint64_t)1 << 32)
#define HPOOL__RES(st) (HPOOL__RES_DONE | (uint32_t)(int32_t)(st))
#define HPOOL__RES_STATUS(r) ((int32_t)(uint32_t)(r))
/* Hybrid mode: the item failed as collateral of a sibling thread's death
 * in its process (status HPOOL_ECRASH; hpool__seg.culprit_* say whose). */
#define HPOOL__RES_COLLATERAL ((uint64_t)1 << 33)

#define HPOOL__NO_ITEM UINT32_MAX /* hpool__claim.running: none */
#define HPOOL__LEVELS 64  /* claim records per worker: nesting depth */
/* Records per worker slot: the LEVELS above, then one more, rec[LEVELS]:
 * in hybrid mode, on a process's first slot, the batch its threads share
 * (claim.c); idle everywhere else. Every scan of the records (hazards,
 * repair, adoption) covers it. */
#define HPOOL__RECS (HPOOL__LEVELS + 1)
#define HPOOL__SLOTS 256  /* segments published at once, per pool */
#define HPOOL__SLOT_OPEN ((uintptr_t)1) /* slot word: items may be left */
#define HPOOL__SLOT_SEG(w) ((struct hpool__seg *)((w) & ~HPOOL__SLOT_OPEN))

enum hpool__wstate {
	HPOOL__W_STARTING = 0, /* forked or created, init not finished */
	HPOOL__W_READY,        /* running the loop */
	HPOOL__W_INIT_FAILED,  /* init returned nonzero: the slot is dead */
	HPOOL__W_DEAD,         /* no worker will serve this slot again */
};

/* Why the supervisor killed a worker (hpool__wctl.kill_reason). */
enum hpool__kill {
	HPOOL__K_NONE = 0,
	HPOOL__K_TIMEOUT, /* its item overran opts.timeout_ns */
	HPOOL__K_CANCEL,  /* hpool_terminate */
	HPOOL__K_STOPPED, /* it was stopped (SIGSTOP, SIGTSTP...): a hang */
};

/* shared: one per map/imap call or submitted task. */
struct hpool__job {
	hpool_fn fn;
	const void *ctx;         /* region copy, or the caller's shm block */
	size_t ctx_size;         /* its bytes (a remote backend copies it) */
	size_t in_size, out_size;
	int64_t timeout_ns;      /* per item; 0 none */
	/* The caller left its call (touch protocol, claim.c): no worker
	 * copies from or to its arrays any more. */
	_Atomic uint32_t abandoned;
};

/* Who published a segment (hpool__seg.owner): the caller's process, or a
 * worker (nested work): slot, incarnation and claim level. A segment whose
 * owner died is cleaned up by the supervisor (claim.c). */
#define HPOOL__OWNER_CALLER UINT64_MAX
#define HPOOL__OWNER(w, inc) (((uint64_t)(w) << 32) | (uint32_t)(inc))

/* shared: a segment, the unit of pull work: `count` items of one job.
 * Workers claim ranges of items through `next` (claim.c has the protocol);
 * the caller publishes it in a slot of hpool__shared.slot, harvests res[]
 * and takes it back (sched.c). */
struct hpool__seg {
	struct hpool__job *job;
	const char *in;          /* item 0's input */
	char *out;               /* item 0's result room */
	/* Thread mode (shares_memory): the caller's own arrays, item 0's.
	 * Whoever claims a range copies its inputs from uin to `in` before
	 * running it and its results from `out` to uout after (the touch
	 * protocol, claim.c). NULL: the caller copies. */
	const char *uin;
	char *uout;
	size_t first;            /* index of item 0 in the call */
	uint32_t count;
	uint32_t chunk;          /* claim size; 0: guided by the claimer */
	uint32_t spread;         /* guided claims: remaining / spread */
	uint32_t cap;            /* bytes of the block (for checks) */
	/* A claimer counts finished once, when it leaves the segment, not
	 * a range at a time (claim.c, C6): nobody reads the count before it
	 * completes (a map without progress reports). */
	uint32_t count_late;
	uint64_t owner;          /* HPOOL__OWNER or HPOOL__OWNER_CALLER */
	uint32_t publisher;      /* worker index + 1, or 0 (a caller
				    thread): a waiting worker helps with
				    its own subtasks first */
	/* What to free when its owner died (supervisor, claim.c): the arena
	 * block holding the segment (the job too, when it lies inside). */
	void *block;
	/* the last death that failed one of its items (supervisor writes,
	 * before the release of that item's res) */
	int32_t crash_worker, crash_pid, crash_sig, crash_exit;
	/* hybrid: the last collateral failure's cause (same writer and
	 * ordering as crash_*): the worker (thread) whose item crashed or
	 * overran, that item's index in its call (-1 unknown) and whether
	 * that call is this segment's */
	int32_t culprit_worker, culprit_same_job;
	int64_t culprit_item;
	/* a remote backend (MPI): the rank where an item of it failed for
	 * a reason the backend explains (0: none); written before the
	 * release of that item's res */
	int32_t crash_rank;
	/* Items [0, next) are claimed (or canceled). Only ever grows; may
	 * pass count (a fetch_add that found nothing). Own cache line: the
	 * claimers' only shared write. */
	_Atomic uint32_t next HPOOL__ALIGNED;
	/* Items finished, counted a range at a time (release) by whoever
	 * finished them: what a caller polls instead of res[] lines the
	 * workers are writing. Never less than the items whose res has
	 * DONE once their range is over; after a death it may count some
	 * twice, so callers confirm with res[]. */
	_Atomic uint32_t finished HPOOL__ALIGNED;
	/* Waiters asleep on this segment's items (struct hpool__want): a
	 * worker that finished a range wakes `done` only when this (or the
	 * pool's want_all) is nonzero. In finished's line: read right after
	 * the add, written only by a waiter about to sleep. */
	_Atomic uint32_t want;
	/* Bumped (relaxed) by whoever stores a status other than 0 in res[]
	 * or repairs a range after a death, before its own finished add
	 * (release). So a caller whose acquire load of finished reads
	 * count and then reads failed == 0 knows the count is exact (no
	 * repair double-counted a range) and every item finished with
	 * status 0: it reads no res[] line (hpool__win_complete, harvest). */
	_Atomic uint32_t failed;
	_Atomic uint64_t res[] HPOOL__ALIGNED; /* per item, see HPOOL__RES */
};

/* Claim record states (hpool__claim.state). */
enum hpool__cstate {
	HPOOL__C_IDLE = 0,  /* holds nothing */
	HPOOL__C_CLAIMING,  /* seg set (a hazard); a range may be taken */
	HPOOL__C_OWNED,     /* items [lo, hi) of seg are this worker's */
};

/* shared: one claim record of a worker, written only by it (or by the
 * supervisor after it died). claim.c has the protocol. */
struct hpool__claim {
	_Atomic(struct hpool__seg *) seg; /* hazard: the caller keeps seg
					     while state != IDLE */
	_Atomic uint32_t state;          /* enum hpool__cstate */
	uint32_t slot;                   /* seg's slot in hpool__shared */
	uint32_t lo, hi;                 /* OWNED: the range */
	_Atomic uint32_t running;        /* item in fn, or HPOOL__NO_ITEM */
	uint32_t late;                   /* items of seg's earlier ranges
					    run, not yet in its finished */
	/* A hybrid process's batch record only (claim.c, B1-B3): the
	 * generation of [lo, hi) << 32 | the items its threads took from
	 * the front of it, HPOOL__TAKE_REFILL set while one refills it. */
	_Atomic uint64_t take;
};
#define HPOOL__TAKE_REFILL 0x80000000u

/* shared: one per worker slot. A slot outlives its workers: a replacement
 * takes over its claim records and resumes what they own. */
struct hpool__wctl {
	_Atomic uint32_t state;      /* enum hpool__wstate */
	_Atomic int32_t pid;         /* process mode: current worker */
	/* A line of its own from here: the worker writes these per item
	 * and per range, and every waiter polls state above on every spin
	 * (hpool__workers_gone). Sharing the line cost a hot submit->wait
	 * about a fifth of its time. */
	/* claim records, written only by the worker (or the supervisor
	 * after it died): rec[0] for its own loop, rec[d] for claims it
	 * runs while waiting at nesting depth d (help-while-waiting);
	 * rec[HPOOL__LEVELS]: a hybrid process's batch (HPOOL__RECS) */
	/* The deepest record in use (rec[HPOOL__LEVELS] aside): no record
	 * above it is anything but IDLE. Raised (seq_cst) before a record
	 * above it goes CLAIMING, lowered only once the records above the
	 * new value are IDLE; a repair leaves it at the deepest record it
	 * left OWNED. Take-backs scan only rec[0..depth] and the batch
	 * record (sched.c, hazard). */
	_Atomic uint32_t depth HPOOL__ALIGNED;
	uint64_t served;             /* items run by this incarnation */
	_Atomic int64_t deadline_ns; /* running item's deadline, 0 none */
	_Atomic uint32_t touching;   /* copying a caller's arrays (claim.c) */
	/* Line-aligned, 40 bytes each: the batch record (the 65th, at 2560)
	 * starts a line, and nothing a thread writes per item (served,
	 * deadline_ns are above) shares it. */
	struct hpool__claim rec[HPOOL__RECS] HPOOL__ALIGNED;
	_Atomic uint32_t kill_reason; /* supervisor, before kill() */
	/* supervisor: the item that was overdue when it killed (a later
	 * item of the same worker is not failed for it) */
	struct hpool__seg *kill_seg;
	uint32_t kill_item;
	int32_t init_status;
	uint32_t index;
	uint32_t incarnation;        /* supervisor: workers started here */
	/* hybrid: this thread took a fatal signal (its crash handler
	 * stores 1; the supervisor reads it after reaping the process,
	 * which orders the store before the load, and clears it at spawn) */
	_Atomic uint32_t crashed;
} HPOOL__ALIGNED;

/* shared.sup_state: how far the supervisor got. */
enum { HPOOL__SUP_RUNNING, HPOOL__SUP_STOPPING, HPOOL__SUP_ENDED };

/* shared: the pool's root block in the region. */
struct hpool__shared {
	struct hpool__event ready;   /* a worker left STARTING */
	/* Work was published (a segment in a slot) or the pool closes:
	 * idle workers sleep here. */
	struct hpool__event work;
	/* A slot was freed, or a claim record went idle: publishers and
	 * callers taking a segment back wait here. */
	struct hpool__event space;
	/* Items were stored; callers wait here on their own items' res
	 * words. In the pool, not in the job: the caller may free the
	 * segment the moment it sees the last item done. */
	struct hpool__event done;
	_Atomic uint32_t closing;    /* HPOOL__CLOSE_* */
	_Atomic uint32_t timeouts;   /* calls with a timeout in flight */
	uint32_t nworkers;
	/* Slots [0, nsup) are the supervisor's (processes it forks and
	 * repairs); the rest, [nsup, nworkers), are claim records that
	 * rank 0's MPI bridge drives from the caller (backend_mpi.c). Every
	 * claim-protocol scan covers all nworkers slots; the supervisor's
	 * own loops (spawn, kill, reap, timeouts, restart) cover nsup. */
	uint32_t nsup;
	/* The backend's workers can die alone (processes): the supervisor
	 * stops overdue items, max_tasks recycles them. Otherwise (threads,
	 * serial) an overdue item is reported when it returns (as is one
	 * that returns before the supervisor looks). */
	uint32_t isolated;
	uint32_t max_tasks;          /* isolated: recycle after this many */
	uint32_t omp_threads;        /* OpenMP threads per worker */
	/* Hybrid mode: worker threads per process (slots [g*tpp, (g+1)*tpp)
	 * are process g's threads; the last may have fewer); 0: one worker
	 * per process or thread (the other modes). */
	uint32_t tpp;
	int bind;
	pid_t owner;                 /* the caller's pid */
	/* HPOOL__SUP_*: how far the supervisor got. STOPPING once it read a
	 * stop request, ENDED just before it exits after a life that went
	 * well. The caller reads it once the process is gone (acquire, pairs
	 * with those releases): STOPPING then means it died or failed while
	 * stopping (hpool__sup_backend_stop reports it); RUNNING, that it
	 * died before it saw the request, a death like any other. */
	_Atomic uint32_t sup_state;
	/* What a task needs to call its own pool from a worker process:
	 * the caller's handle (compared, never dereferenced there), the
	 * region, and what hpool_mode_of and the checks report. */
	const void *handle;
	struct hpool__shm *shm;
	size_t shm_size;
	hpool_mode mode;
	int (*init)(const void *ctx);
	const void *init_ctx;        /* region copy */
	/* Published segments: 0, or a live segment's address with
	 * HPOOL__SLOT_OPEN while it may have items to claim. Publishers
	 * CAS 0 -> seg|OPEN and store 0 when they take it back; a claimer
	 * that finds it exhausted CASes seg|OPEN -> seg. Finders read only
	 * these words: a segment's own fields are read after a validated
	 * hazard (claim.c), never from a slot that may be stale. */
	_Atomic uintptr_t slot[HPOOL__SLOTS];
	/* The publisher of each slot's segment (hpool__seg.publisher),
	 * written after the slot: a preference for finders, a stale value
	 * only changes which segment a waiting worker helps with first. */
	_Atomic uint32_t slot_pub[HPOOL__SLOTS];
	/* Waiters asleep on more segments than a want set holds (wait_any
	 * on many futures): every finished range wakes `done`. */
	_Atomic uint32_t want_all;
	/* Workers asleep in a nested wait (sched.c, help_wait): they take
	 * new work too, so a publisher wakes `done` for them. */
	_Atomic uint32_t want_work;
	/* Test builds (HPOOL_TESTING) only: claims that moved a segment's
	 * counter (claim.c, take), for the tests of batching. */
	_Atomic uint64_t seg_takes;
	/* Test builds only: scans of the claim records by take-backs, and
	 * the records they read (sched.c, hazards), for test_pool. */
	_Atomic uint64_t hazard_scans, hazard_recs;
	struct hpool__wctl w[];
};

/* hpool__shared.closing */
#define HPOOL__CLOSE_DRAIN 1 /* destroy: finish the published work, exit */
#define HPOOL__CLOSE_NOW 2   /* terminate: stop before the next item */

#define HPOOL__EXIT_INIT 3   /* a process worker's exit code: init failed */

#endif /* HPOOL_SHARED_H */
