/* SPDX-License-Identifier: MIT */
/*
 * The pool layer, caller's side: the private state behind an hpool handle
 * and the contracts between the files that serve the public calls.
 *   handle.c     handles: checked and counted in by every public call,
 *                quarantined after destroy; the fork generation
 *   lifecycle.c  hpool_create, hpool_destroy, hpool_terminate
 *   restart.c    a dead supervisor replaced; the lock on the backend state
 *   sched.c      the publisher's side of pull scheduling: publish a
 *                segment, take it back, cancel it, run it inline; waiting
 *                on the pool's events
 *   cells.c      the cache of chunk cells kept between calls
 *   call.c       the call engine: a window of segments, issue, harvest
 *   map.c        hpool_map, hpool_imap, hpool_next, hpool_iter_free
 *   future.c     hpool_submit and the futures
 *   shm_api.c    hpool_shm_alloc, hpool_shm_free
 *
 * Private memory (struct hpool, struct hpool__call, hpool_future) may hold
 * private pointers; everything in the region is described in shared.h.
 * Several caller threads may use a pool at once: the pool's mutex (private
 * memory, never taken by a worker) guards pushes, the lists and the cell
 * cache; everything else a call touches is its own.
 */
#ifndef HPOOL_POOL_H
#define HPOOL_POOL_H

#include "backend.h"
#include "progress.h"

#include <pthread.h>

#define HPOOL__POOL_LIVE 0x68706f6cu /* "hpol" */
#define HPOOL__POOL_DEAD 0xdeadb001u
#define HPOOL__CELL_CACHE 32 /* cells kept between calls ... */
#define HPOOL__FUT_LISTS 8   /* lists of futures, by submitting thread */

struct hpool__call;

/* Guard space after the results of a segment (map, imap) and of a
 * future: a task that writes past its out item writes here first, never
 * into the library's structures next in the region, as long as it
 * overruns by less than this. The caller fills the guard's first line with
 * a canary when it lays the cell out and checks it before it trusts the
 * results: a changed canary fails the items with -EFAULT. Only the first
 * line is checked: an overrun is contiguous, so it writes that first. */
#define HPOOL__GUARD_SEG 4096
#define HPOOL__GUARD_FUT 1024
#define HPOOL__CANARY 0x7e6870676f6f6c7eull /* "~hpgool~" */

static inline void hpool__guard_set(void *g)
{
	for (unsigned i = 0; i < HPOOL__CACHELINE / 8; i++)
		((uint64_t *)g)[i] = HPOOL__CANARY;
}

static inline bool hpool__guard_ok(const void *g)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < HPOOL__CACHELINE / 8; i++)
		x |= ((const volatile uint64_t *)g)[i] ^ HPOOL__CANARY;
	return !x;
}

/* Futures not yet collected, listed by the thread that submitted them,
 * each list under its own lock: threads that submit at once (workers
 * spawning nested tasks, in thread mode) do not take one lock per future
 * between them. Destroy detaches what the lists hold. */
struct hpool__futs {
	pthread_mutex_t lock;
	hpool_future *head;
	/* Limbo: futures collected by hpool_wait, or given up by
	 * hpool_future_free, whose blocks are not free yet (a claim record
	 * may still name the segment, or the task still runs). Freed a
	 * batch at a time (sched.c, hpool__limbo_sweep), so that a hot
	 * submit and wait never waits for the worker to let go of its
	 * segment. Singly linked through next. Under lock; nlimbo is read
	 * without it as a hint to sweep. */
	hpool_future *limbo;
	_Atomic unsigned nlimbo;
	unsigned kept;          /* left in limbo by the last sweep */
} HPOOL__ALIGNED;

struct hpool {
	/* Atomic: a destroy retires the handle (hpool__handle_retire) while
	 * another thread's call may be checking it; the quarantine keeps the
	 * memory, this keeps the read defined. */
	_Atomic uint32_t magic;
	unsigned fork_gen;      /* hpool__fork_gen() at create */
	hpool_mode mode;
	unsigned nworkers;      /* 1 when tasks run inline: the caller */
	size_t shm_size;
	struct hpool__shm *shm;
	struct hpool__shared *sh;
	struct hpool__workers wk; /* the backend and its state */
	pthread_mutex_t lock;   /* the calls list and the cell cache */
	_Atomic unsigned slot_hint; /* where publishers look first */
	/* Cells of finished calls, kept for the next ones (under lock). */
	struct { void *ptr; size_t bytes; } cache[HPOOL__CELL_CACHE];
	unsigned ncache;
	size_t cache_bytes;
	/* Set once, when the pool stops for good: waits stop and report this
	 * code for unfinished items (HPOOL_ECANCELED: terminate;
	 * HPOOL_ECRASH: what runs the workers died). */
	_Atomic int terminated;
	_Atomic unsigned active; /* API calls inside the pool */
	/* One destroy or terminate wins (CAS 0 -> 1); the others get
	 * HPOOL_ECLOSED. */
	_Atomic int finishing;
	/* Set by a terminate called from inside a call on the pool (a
	 * progress callback): the call that leaves last frees the pool.
	 * Stored while that call is still counted in `active`, so the
	 * leave that takes `active` to 0 sees it (acq_rel on active). */
	_Atomic bool free_at_leave;
	/* What frees it then (lifecycle.c's, set with free_at_leave): a
	 * pointer, so that handle.c does not call up into the life cycle. */
	void (*finish_free)(hpool *p);
	struct hpool__call *calls; /* live calls and iterators */
	struct hpool__futs futs[HPOOL__FUT_LISTS];
	bool in_worker;         /* a task's handle in a process worker */
	int progress;           /* 1: the ready-made bar (progress.c) */
};

/* One segment of a call in flight (private memory of the call). */
struct hpool__win {
	struct hpool__seg *seg;
	size_t first;           /* the segment's first item and count, kept */
	uint32_t count;         /* here too: read after a detach */
	char *out;              /* its results: the caller never reads the
				   region's copies of first, count, out (a
				   task may have written over them) */
	unsigned slot;          /* where it is published */
	uint32_t done;          /* items [0, done) were seen finished */
	uint32_t handed;        /* imap: items handed out */
	uint64_t *taken;        /* imap unordered: items handed out */
	/* imap unordered: items [0, low) are handed out; a look past the
	 * finished prefix starts at cur (hpool__win_pick) */
	uint32_t low, cur;
};

/* A map or imap in progress (private memory of the calling thread). */
struct hpool__call {
	hpool *pool;
	struct hpool__job *job;
	const char *in;
	char *out;              /* map: the user's out; imap: NULL */
	size_t in_size, out_size, n;
	bool copy_in, copy_out; /* false: used in place (shm, or inline) */
	/* map, thread mode: the workers do the copies of published
	 * segments (hpool__seg.uin, uout); the caller only for segments it
	 * runs inline */
	bool wcopy;
	bool abandoned;         /* hpool__call_abandon ran */
	bool ordered, detached;
	bool kept;              /* a segment stayed in the region (a task
				   abandoned by terminate may use it): so
				   does the job */
	uint32_t chunk;         /* fixed claim size, 0 guided */
	size_t issued, harvested;
	size_t seg_items, seg_bytes, in_off, out_off;
	size_t imap_min;        /* imap: the least items a segment holds */
	size_t held;            /* imap: harvested, not yet handed out */
	size_t guard_off;       /* copy_out: the guard after the results */
	struct hpool__win *win; /* segments in flight, in issue order */
	unsigned wcap, wcount;
	void **cells;           /* free cells */
	unsigned ncells;
	/* imap: what hpool_next reports to (copied from the options) */
	int *status;
	void (*progress)(size_t done, size_t total, void *arg);
	void *progress_arg;
	struct hpool__bar bar;  /* the ready-made bar, when on */
	struct hpool__call *next, **pprev;
};

struct hpool_future {
	hpool *pool;            /* NULL once detached */
	void *block;            /* region: job, ctx copy, segment, in, out */
	struct hpool__job *job;
	struct hpool__seg *seg;
	char *out;              /* its result (the caller's own pointer) */
	char *guard;            /* the guard after it (HPOOL__GUARD_FUT) */
	unsigned slot;
	size_t out_size;
	bool small;             /* its block may wait in limbo (future.c) */
	unsigned list;          /* its list in pool->futs */
	int status;             /* detached: the final status */
	void *result;           /* detached: a private copy of out */
	hpool_future *next, **pprev;
};

/* Is f's task finished (its result word DONE)? */
static inline bool hpool__fut_finished(const hpool_future *f)
{
	/* Pairs with the release store of res[0] by whoever finished it. */
	return atomic_load_explicit(&f->seg->res[0], memory_order_acquire) &
	       HPOOL__RES_DONE;
}

struct hpool_iter {
	struct hpool__call c;
	/* Finished results with status 0, copied out of the region a run at
	 * a time (map.c, take_run), handed out from here without entering
	 * the pool: items [next, n) of idx[] and out (cap items). */
	struct {
		size_t *idx;
		char *out;
		unsigned n, next, cap;
	} rd;
};

/* ---- lifecycle.c ---- */

/* The processes that split this node's cores between their pools (MPI
 * server ranks on one node; 1 otherwise): a pool's OpenMP share per
 * worker is the allowed PUs / this / its workers. Set once, before any
 * pool, by the MPI server. */
extern HPOOL_INTERNAL unsigned hpool__node_share;

/* ---- handle.c ---- */

/* Once per process, before the first pool: watch for forks. */
HPOOL_INTERNAL void hpool__handles_init(void);
/* The handle a public call works on: in a worker, a task's handle to
 * its own pool (the caller's pointer value) becomes one over the region
 * (process workers) or stays the caller's (thread workers). */
HPOOL_INTERNAL hpool *hpool__resolve(hpool *p);
/* The owner to write in a segment p publishes (HPOOL__OWNER of the
 * calling process worker, or HPOOL__OWNER_CALLER). */
HPOOL_INTERNAL uint64_t hpool__owner_tag(const hpool *p);
/* The publisher to write in a segment p publishes: the calling worker's
 * index + 1, or 0 for a caller thread. */
HPOOL_INTERNAL uint32_t hpool__publisher(const hpool *p);
/* The pool whose task the calling thread runs inline (serial), if any. */
extern HPOOL_INTERNAL _Thread_local const hpool *hpool__inline_task;
/* Is the calling thread running a task of p (a worker, or inline)? */
HPOOL_INTERNAL bool hpool__in_own_task(const hpool *p);
/* The lists of futures of a new handle, and their end. */
HPOOL_INTERNAL void hpool__futs_init(hpool *p);
HPOOL_INTERNAL void hpool__futs_fini(hpool *p);
/* Retire a destroyed handle (free()d after QUARANTINE later ones). */
HPOOL_INTERNAL void hpool__handle_retire(hpool *p);
/* This process's fork generation: a pool made under another value
 * belongs to the parent of a forked child. */
HPOOL_INTERNAL unsigned hpool__fork_gen(void);
/* Is p a live pool of this process that takes work? `fn` names the public
 * call in the message. Return: 0, -EINVAL, HPOOL_ECLOSED, HPOOL_EFORKED. */
HPOOL_INTERNAL int hpool__check(const hpool *p, const char *fn);
/* The opening of every public call that runs work: check the pool, then
 * count the call in (hpool_terminate waits for it to leave). */
HPOOL_INTERNAL int hpool__enter(hpool *p, const char *fn);
/* Count a call in without the check (hpool_wait on a live future). */
HPOOL_INTERNAL void hpool__enter_unchecked(hpool *p);
/* Count the call out; the last call out of a pool terminated from inside
 * a call frees it (lifecycle.c), so p is not touched after this. */
HPOOL_INTERNAL void hpool__leave(hpool *p);
/* Run a call's progress callback fn(done, total, arg), the call counted
 * as one the calling thread is inside. Context: inside that call on p. */
HPOOL_INTERNAL void hpool__progress(hpool *p,
				    void (*fn)(size_t, size_t, void *),
				    size_t done, size_t total, void *arg);
/* How many calls on p the calling thread is inside, running a progress
 * callback. */
HPOOL_INTERNAL unsigned hpool__calls_here(const hpool *p);

/* ---- restart.c: the backend's state, read while a restart may replace
 * it ---- */
HPOOL_INTERNAL bool hpool__wk_lost(hpool *p);
HPOOL_INTERNAL void hpool__wk_poke(hpool *p);
HPOOL_INTERNAL int hpool__wk_pids(const hpool *p, int *pids, unsigned max);
HPOOL_INTERNAL void hpool__wk_stop(hpool *p, bool now);
/* Replace a dead supervisor: repair what its workers held, start a new
 * one. Return: 0 (restarted, or another thread did), -ECANCELED (the pool
 * is stopping), -ENOTSUP (the backend cannot), or the start's error. */
HPOOL_INTERNAL int hpool__wk_restart(hpool *p);

/* ---- sched.c ---- */

/* hpool__event_wait, in slices when the backend can be lost, so that a
 * dead supervisor stops the pool (HPOOL_ECRASH) instead of hanging it.
 * Return: 0 (cond true) or -ETIMEDOUT. */
HPOOL_INTERNAL int hpool__pool_wait(hpool *p, struct hpool__event *ev,
				    hpool__cond_fn cond, void *arg,
				    int64_t deadline_ns);
/* The backend's first pid (a supervisor), 0 if none: for messages. */
HPOOL_INTERNAL int hpool__backend_pid(const hpool *p);
/* Publish s (filled in) where free workers claim from it; waits while
 * every slot is taken. Return: 0 and *slot; HPOOL_ECLOSED (no live
 * worker, or terminated). Context: the segment's owner. */
HPOOL_INTERNAL int hpool__seg_publish(hpool *p, struct hpool__seg *s,
				      unsigned *slot);
/* The slot of a segment that was never published: it ran inline
 * (hpool__runs_here), so no claimer can hold it. */
#define HPOOL__NO_SLOT HPOOL__SLOTS
/* Take s back from its slot and wait until no claim record names it
 * (at once for HPOOL__NO_SLOT).
 * Return: true when the block is the caller's again; false when a task
 * that would not stop after a terminate may still use it (keep it). */
HPOOL_INTERNAL bool hpool__seg_unpublish(hpool *p, struct hpool__seg *s,
					 unsigned slot);
/* Limbo (struct hpool__futs): take back, without waiting, the segments
 * of l's futures whose tasks are finished, unlisting those still listed
 * and scanning the claim records once for a batch of them, and free the
 * blocks no record names any more. The rest stay. Their handles are
 * chained on *freed (through next) for the caller to reuse, or freed
 * when freed is NULL. */
HPOOL_INTERNAL void hpool__limbo_sweep(hpool *p, struct hpool__futs *l,
				       hpool_future **freed);
/* The same for every list of p's: when the arena runs short, or every
 * slot is taken. */
HPOOL_INTERNAL void hpool__futs_sweep(hpool *p);
/* The calling thread's turn: 0, 1, 2... given out in turn the first time
 * a thread asks, so that threads that publish or submit at once spread
 * over slots and lists. */
HPOOL_INTERNAL unsigned hpool__thread_turn(void);
/* Has every worker slot retired (init failed or crashed for good)? Work
 * nobody claimed will then never run: callers fail it. */
HPOOL_INTERNAL bool hpool__workers_gone(hpool *p);
/* Claim whatever of s's `count` items (the caller's own copy of the
 * count) nobody claimed yet and finish it with `code`. */
HPOOL_INTERNAL void hpool__seg_cancel(struct hpool__seg *s, uint32_t count,
				      int code);
/* Inline backends: run every item of s in the calling thread, stopping
 * between items when the pool is terminated. */
HPOOL_INTERNAL void hpool__seg_run_inline(hpool *p, struct hpool__seg *s);
/* Should work issued now on p run in the calling thread (run_inline)
 * rather than be published? Yes when the backend runs tasks inline, and
 * when the caller is a task of p's at a worker's last claim level. */
HPOOL_INTERNAL bool hpool__runs_here(const hpool *p);

/* ---- cells.c ---- */

/* A cell of at least `bytes`, from the cache or the arena (after giving
 * the cache back if need be). NULL when the arena is exhausted. */
HPOOL_INTERNAL void *hpool__cell_get(hpool *p, size_t bytes);
/* Keep a released cell for the next call, or free it. */
HPOOL_INTERNAL void hpool__cell_put(hpool *p, void *cell, size_t bytes);
/* Give every cached cell back to the arena. */
HPOOL_INTERNAL void hpool__cache_flush(hpool *p);
/* A block of the arena; when it is short, the cache is given back first.
 * Every arena allocation of a live pool goes through here.
 * Return: the block, or NULL when the arena is exhausted. */
HPOOL_INTERNAL void *hpool__alloc(hpool *p, size_t bytes);

/* ---- call.c ---- */

/* The opening of map, imap and submit: hpool__enter, then check the
 * call's arguments (leaving again if they are bad). Return: 0, or what
 * hpool__enter returns, or -EINVAL with a message. */
HPOOL_INTERNAL int hpool__open(hpool *p, const char *name, hpool_fn fn,
			       const void *ctx, size_t ctx_size,
			       const void *in, size_t in_size,
			       const void *out, size_t out_size, size_t n,
			       const hpool_map_opts *o, bool need_out);
/* Does ctx need a copy in the region (not region memory already)? */
HPOOL_INTERNAL bool hpool__ctx_copied(const hpool *p, const void *ctx,
				      size_t ctx_size);
/* Fill a job whose block has room for the ctx copy right after it. */
HPOOL_INTERNAL void hpool__job_fill(struct hpool__job *job, hpool_fn fn,
				    const void *ctx, size_t ctx_size,
				    bool copy_ctx, size_t in_size,
				    size_t out_size, int64_t timeout_ns);
/* Set up, register, release a call. */
HPOOL_INTERNAL int hpool__call_init(struct hpool__call *c, hpool *p,
				    hpool_fn fn, const void *ctx,
				    size_t ctx_size, const void *in,
				    size_t in_size, void *out, size_t out_size,
				    size_t n, const hpool_map_opts *o,
				    bool ordered);
HPOOL_INTERNAL void hpool__call_register(struct hpool__call *c);
HPOOL_INTERNAL void hpool__call_release(struct hpool__call *c);
/* Issue segments until the window is full or the input is all issued.
 * Return: 0 or a negative code. */
HPOOL_INTERNAL int hpool__call_fill(struct hpool__call *c);
/* The caller stops using the workers' copies (wcopy): when it returns, no
 * worker reads or writes the caller's arrays any more, and results still
 * in the region are the caller's to copy. Idempotent. */
HPOOL_INTERNAL void hpool__call_abandon(struct hpool__call *c);
/* Wait until window entry `i` (or, i < 0, any entry) has items finished
 * that the caller has not seen, or the pool stops, up to deadline_ns.
 * Return: 0; -ETIMEDOUT; the pool's stop code. */
HPOOL_INTERNAL int hpool__call_wait(struct hpool__call *c, int i,
				    int64_t deadline_ns);
/* Is every item of entry e's segment finished? Polls the segment's
 * finished count first, res[] only once it says so. */
HPOOL_INTERNAL bool hpool__win_complete(struct hpool__win *e);
/* Are window entry e's results trustworthy: its guard intact? (Always,
 * when the results are written in place.) */
HPOOL_INTERNAL bool hpool__win_guard_ok(const struct hpool__call *c,
					const struct hpool__win *e);
/* Advance entry e's cursor over finished items. Return: true when every
 * item of its segment is finished. */
HPOOL_INTERNAL bool hpool__win_scan(struct hpool__win *e);
/* imap unordered: a finished item of entry e not handed out yet (any item
 * not handed out, with `any`), or -1. Moves e->low and e->cur. */
HPOOL_INTERNAL long hpool__win_pick(struct hpool__win *e, bool any);
/* Give back window entry i (its segment done, or the call ends):
 * cancel what nobody claimed, take the segment back, keep its cell.
 * Return: false when a task may still use it (it stays in the region). */
HPOOL_INTERNAL bool hpool__win_retire(struct hpool__call *c, unsigned i);
/* Status of item i of a segment (the pool's stop code for an unfinished
 * one). */
HPOOL_INTERNAL int hpool__item_status(const hpool *p,
				      const struct hpool__seg *s, uint32_t i);
/* Say in words why item `index` failed: the j-th of segment s, j below
 * the caller's own copy of the segment's count. */
HPOOL_INTERNAL void hpool__explain(const hpool *p, const struct hpool__seg *s,
				   size_t index, uint32_t j, int st,
				   const char *fn);

/* ---- future.c ---- */

/* Destroy: keep the results of futures nobody waited for, in private
 * memory (context: the pool's workers are stopped). */
HPOOL_INTERNAL void hpool__detach_futures(hpool *p);

#endif /* HPOOL_POOL_H */
