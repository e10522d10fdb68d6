/* SPDX-License-Identifier: MIT */
/*
 * The caller's side of the pool: life cycle, the call engine behind
 * hpool_map and hpool_imap, futures, and the shared-memory calls.
 *
 * A call (map or imap) issues its items as chunks into the workers' rings
 * through a bounded window of chunk cells in the region, and harvests
 * finished chunks (copying results out, reusing the cells). Memory is
 * bounded by the window, whatever n is. Several caller threads may use a
 * pool at once: pushes into the rings take the pool's private mutex (the
 * caller's memory, never shared; workers never take it), everything else
 * a call touches is its own.
 *
 * Private memory (struct hpool, struct call, hpool_future) may hold private
 * pointers; everything in the region is described in pool.h.
 */
#include "pool.h"

#include <dirent.h>
#include <sys/wait.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_LIVE 0x68706f6cu /* "hpol" */
#define POOL_DEAD 0xdeadb001u
#define CELL_BYTES ((size_t)64 << 10) /* auto chunks stay under this */
#define QUARANTINE 64 /* destroyed handles kept before free() */
#define WINDOW_BYTES ((size_t)16 << 20) /* a call's cells, at most */
#define CELL_CACHE 32 /* cells kept between calls ... */
#define CELL_CACHE_BYTES ((size_t)32 << 20) /* ... up to this much */

struct call;
struct hpool;

struct thread_arg {
	struct hpool *p;
	unsigned w;
};

struct hpool {
	uint32_t magic;
	unsigned fork_gen;      /* hpool__fork_gen at create */
	hpool_mode mode;
	unsigned nworkers;      /* 1 in serial mode: the caller */
	size_t shm_size;
	struct hpool__shm *shm;
	struct hpool__shared *sh;
	struct hpool__topo *topo;
	struct hpool__sup sup;
	pthread_t *threads;
	struct thread_arg *targs;
	bool stopped_clean;     /* every worker stopped (region unmappable) */
	pthread_mutex_t lock;   /* pushes, lists, rr */
	unsigned rr;            /* the worker pushed to last */
	/* Chunks pushed to each worker and not yet taken back by their call
	 * (harvested, or a future waited): the load that push balances. It
	 * is the caller's own count, so choosing a ring reads no line that a
	 * worker writes. */
	_Atomic unsigned *inflight;
	/* Cells of finished calls, kept for the next ones (under lock): a
	 * freed cell's pages go back to the system, and the next call would
	 * fault them all in again. Given back when the arena runs short. */
	struct { void *ptr; size_t bytes; } cache[CELL_CACHE];
	unsigned ncache;
	size_t cache_bytes;
	/* Set once, when the pool stops for good: waits stop and report this
	 * code for unfinished items (HPOOL_ECANCELED: terminate;
	 * HPOOL_ECRASH: the supervisor died). */
	_Atomic int terminated;
	_Atomic unsigned active; /* API calls inside the pool */
	struct call *calls;     /* live calls and iterators */
	hpool_future *futures;  /* futures not yet waited */
};

struct call {
	hpool *pool;
	struct hpool__job *job;
	const char *in;
	char *out;              /* map: the user's out; imap: NULL */
	size_t in_size, out_size, n;
	bool copy_in, copy_out; /* false: used in place (shm or thread mode) */
	bool ordered, detached;
	size_t chunk;           /* fixed chunk, 0 auto */
	size_t issued, harvested;
	size_t cell_items, cell_bytes, in_off, out_off;
	struct hpool__chunk **win; /* issued, unharvested, in issue order */
	unsigned wcap, wcount;
	void **cells;           /* free cells */
	unsigned ncells;
	struct hpool__chunk *cur; /* imap: chunk being handed out */
	uint32_t cur_pos;
	struct call *next, **pprev;
};

struct hpool_future {
	hpool *pool;            /* NULL once detached */
	void *block;            /* region: job, chunk, in, out */
	struct hpool__job *job;
	struct hpool__chunk *chunk;
	size_t out_size;
	int status;             /* detached: the final status */
	void *result;           /* detached: a private copy of out */
	hpool_future *next, **pprev;
};

struct hpool_iter {
	struct call c;
};

/* Bumped in every child after fork: a pool remembers the value it was
 * made under, so a forked child sees a different one. */
static _Atomic unsigned fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}
static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

/* ---- handles ------------------------------------------------------------ */

static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static hpool *quarantine[QUARANTINE];
static unsigned quarantine_next;

/* Keep a destroyed handle readable for a while, so that a call on it
 * returns HPOOL_ECLOSED instead of reading freed memory. */
static void retire_handle(hpool *p)
{
	hpool *old;

	p->magic = POOL_DEAD;
	pthread_mutex_lock(&quarantine_lock);
	old = quarantine[quarantine_next];
	quarantine[quarantine_next] = p;
	quarantine_next = (quarantine_next + 1) % QUARANTINE;
	pthread_mutex_unlock(&quarantine_lock);
	free(old);
}

static int check_pool(const hpool *p, const char *fn)
{
	if (!p)
		return hpool__fail(-EINVAL, "%s: pool is NULL", fn);
	if (p->magic != POOL_LIVE)
		return hpool__fail(HPOOL_ECLOSED,
				   "%s: pool was destroyed", fn);
	if (p->fork_gen != atomic_load_explicit(&fork_gen,
						memory_order_relaxed))
		return hpool__fail(HPOOL_EFORKED,
				   "%s: pool belongs to process %d; this is a "
				   "child forked from it (pid %d)", fn,
				   (int)p->sh->owner, (int)getpid());
	if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
		return hpool__fail(HPOOL_ECLOSED, "%s: pool no longer takes "
				   "work (terminated, or its supervisor died)",
				   fn);
	return 0;
}

static int enter(hpool *p, const char *fn)
{
	int e = check_pool(p, fn);

	if (!e)
		atomic_fetch_add_explicit(&p->active, 1, memory_order_acq_rel);
	return e;
}

static void leave(hpool *p)
{
	atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel);
}

/* ---- waiting ------------------------------------------------------------ */

static void wake_all(hpool *p);

/* Process mode: has the supervisor died (killed from outside)? Its
 * workers then die with it (PDEATHSIG), so nothing would ever finish:
 * the pool stops with HPOOL_ECRASH instead of hanging. WNOWAIT: the
 * zombie stays for hpool_destroy to reap. */
static bool supervisor_gone(hpool *p)
{
	siginfo_t si;

	if (p->mode != HPOOL_MODE_PROCESS || p->sup.pid <= 0)
		return false;
	if (p->sup.pidfd >= 0) { /* the fork server's child */
		struct pollfd pfd = { .fd = p->sup.pidfd, .events = POLLIN };

		return poll(&pfd, 1, 0) > 0;
	}
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)p->sup.pid, &si,
		   WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD; /* reaped by someone else: gone */
	return si.si_pid == p->sup.pid;
}

/* hpool__event_wait, in slices in process mode so that a dead supervisor
 * is noticed. Return: 0 (cond true) or -ETIMEDOUT. */
static int pool_wait(hpool *p, struct hpool__event *ev, hpool__cond_fn cond,
		     void *arg, int64_t deadline_ns)
{
	const int64_t slice = 200000000; /* 200 ms */

	if (p->mode != HPOOL_MODE_PROCESS)
		return hpool__event_wait(ev, cond, arg, HPOOL__SPIN_NS,
					 deadline_ns);
	for (;;) {
		int64_t end = hpool__now_ns() + slice;
		int e;

		if (deadline_ns >= 0 && deadline_ns < end)
			end = deadline_ns;
		e = hpool__event_wait(ev, cond, arg, HPOOL__SPIN_NS, end);
		if (!e || end == deadline_ns)
			return e;
		if (supervisor_gone(p)) {
			int zero = 0;

			if (atomic_compare_exchange_strong(&p->terminated,
							   &zero,
							   HPOOL_ECRASH)) {
				hpool__set_error("the pool's supervisor (pid "
						 "%d) died: its workers died "
						 "with it; unfinished items "
						 "fail", (int)p->sup.pid);
				wake_all(p);
			}
			return cond(arg) ? 0 : -ETIMEDOUT;
		}
	}
}

/* ---- pushing into the rings --------------------------------------------- */

static bool alive(const struct hpool__wctl *w)
{
	return atomic_load_explicit(&w->state, memory_order_acquire) <
	       HPOOL__W_INIT_FAILED;
}

static bool has_space(void *arg)
{
	hpool *p = arg;
	unsigned i;

	if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
		return true;
	for (i = 0; i < p->nworkers; i++)
		if (hpool__ring_count(p->sh->w[i].ring) <= HPOOL__RING_CAP - 1)
			return true;
	return false;
}

/* A chunk left its call (harvested, or its future completed): it no longer
 * counts against its worker's load. */
static void chunk_taken_back(hpool *p, const struct hpool__chunk *c)
{
	if (c->ring)
		atomic_fetch_sub_explicit(&p->inflight[c->worker], 1,
					  memory_order_relaxed);
}

/* Put [lo, hi) of chunk c into the ring of the live worker with the
 * fewest chunks in flight (ties: the worker used last, which stays warm:
 * one task at a time then ping-pongs with one worker, not all of them),
 * or, if that ring is full, any ring with room; wait while all are full.
 * Return: 0, HPOOL_ECLOSED (no live worker, or terminated). */
static int push(hpool *p, struct hpool__chunk *c, uint32_t lo, uint32_t hi)
{
	for (;;) {
		struct hpool__wctl *best = NULL;
		struct hpool__task *t = NULL;
		unsigned i, nlive = 0, best_n = UINT_MAX;

		pthread_mutex_lock(&p->lock);
		for (i = 0; i < p->nworkers; i++) {
			unsigned k = (p->rr + i) % p->nworkers, n;
			struct hpool__wctl *w = &p->sh->w[k];

			if (!alive(w))
				continue;
			nlive++;
			n = atomic_load_explicit(&p->inflight[k],
						 memory_order_relaxed);
			if (n < best_n) {
				best_n = n;
				best = w;
			}
		}
		if (best && !(t = hpool__ring_reserve(best->ring)))
			for (i = 0; i < p->nworkers && !t; i++)
				if (alive(&p->sh->w[i]) &&
				    (t = hpool__ring_reserve(p->sh->w[i].ring)))
					best = &p->sh->w[i];
		if (t) {
			t->chunk = c;
			t->lo = lo;
			t->hi = hi;
			c->ring = best->ring;
			c->worker = best->index;
			/* the reserved slot's index: only we write tail */
			c->slot = atomic_load_explicit(&best->ring->tail,
						       memory_order_relaxed);
			atomic_fetch_add_explicit(&p->inflight[best->index], 1,
						  memory_order_relaxed);
			hpool__ring_publish(best->ring);
			p->rr = best->index;
		}
		pthread_mutex_unlock(&p->lock);
		if (t) {
			hpool__event_signal(&best->wake);
			return 0;
		}
		if (!nlive)
			return hpool__fail(HPOOL_ECLOSED,
					   "no live worker: every worker's "
					   "init failed or crashed");
		if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
			return HPOOL_ECLOSED;
		/* Full: a ring full is a wait, never a failure. */
		pool_wait(p, &p->sh->space, has_space, p,
			  hpool__now_ns() + 100000000);
	}
}

/* Run a chunk: in the caller (serial) or through a ring. */
static int dispatch(hpool *p, struct hpool__chunk *c)
{
	struct hpool__task t = { c, 0, c->count };

	if (p->mode != HPOOL_MODE_SERIAL)
		return push(p, c, 0, c->count);
	hpool__run_task(NULL, 0, &t, true, NULL);
	hpool__chunk_finish(p->sh, c);
	return 0;
}

/* ---- item status and messages ------------------------------------------- */

/* Say in words why item `index` failed. */
static void explain(const hpool *p, const struct hpool__chunk *c,
		    size_t index, int st, const char *fn)
{
	char sb[32];

	if (st == HPOOL_ECRASH && c->crash_pid > 0) {
		if (c->crash_sig)
			hpool__set_error("%s: item %zu failed: worker %d (pid "
					 "%d) was killed by %s", fn, index,
					 c->crash_worker, c->crash_pid,
					 hpool__signame(c->crash_sig, sb,
							sizeof(sb)));
		else
			hpool__set_error("%s: item %zu failed: worker %d (pid "
					 "%d) exited with status %d", fn,
					 index, c->crash_worker, c->crash_pid,
					 c->crash_exit);
	} else if (st == -ETIMEDOUT && c->crash_pid > 0) {
		hpool__set_error("%s: item %zu timed out: worker %d (pid %d) "
				 "was killed and replaced", fn, index,
				 c->crash_worker, c->crash_pid);
	} else if (st == -ETIMEDOUT) {
		hpool__set_error("%s: item %zu overran its timeout (the task "
				 "ran to its end)", fn, index);
	} else if (st == HPOOL_ECANCELED) {
		hpool__set_error("%s: item %zu canceled: the pool was "
				 "terminated", fn, index);
	} else if (st == HPOOL_ECRASH &&
		   atomic_load_explicit(&p->terminated,
					memory_order_relaxed) == HPOOL_ECRASH) {
		hpool__set_error("%s: item %zu failed: the pool's supervisor "
				 "(pid %d) died and its workers with it", fn,
				 index, (int)p->sup.pid);
	} else if (st == HPOOL_ECRASH) {
		hpool__set_error("%s: item %zu failed: its worker died", fn,
				 index);
	} else {
		hpool__set_error("%s: item %zu: task returned %d", fn, index,
				 st);
	}
}

/* ---- the call engine ---------------------------------------------------- */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static void cell_layout(struct call *c, size_t items)
{
	size_t res = sizeof(struct hpool__chunk) + items * sizeof(uint64_t);

	c->cell_items = items;
	c->in_off = align_up(res, 16);
	c->out_off = align_up(c->in_off + (c->copy_in ? items * c->in_size : 0),
			      16);
	c->cell_bytes = c->out_off + (c->copy_out ? items * c->out_size : 0);
}

/* Copy `ctx` into the region unless it is already there. Every mode
 * copies: an imap or a submit outlives the caller's frame. */
/* Does ctx need a copy in the region (not region memory already)? */
static bool ctx_copied(const hpool *p, const void *ctx, size_t ctx_size)
{
	return ctx && ctx_size && !hpool__shm_contains(p->shm, ctx, ctx_size);
}

/* Fill a job whose block has room for the ctx copy right after it. */
static void job_fill(struct hpool__job *job, hpool_fn fn, const void *ctx,
		     size_t ctx_size, bool copy_ctx, size_t in_size,
		     size_t out_size, int64_t timeout_ns)
{
	memset(job, 0, sizeof(*job));
	job->fn = fn;
	job->ctx = ctx;
	if (copy_ctx) {
		memcpy(job + 1, ctx, ctx_size);
		job->ctx = job + 1;
	}
	job->in_size = in_size;
	job->out_size = out_size;
	job->timeout_ns = timeout_ns;
}

static int job_create(struct call *c, hpool_fn fn, const void *ctx,
		      size_t ctx_size, int64_t timeout_ns)
{
	hpool *p = c->pool;
	bool copy_ctx = ctx_copied(p, ctx, ctx_size);
	size_t bytes = sizeof(struct hpool__job) + (copy_ctx ? ctx_size : 0);
	struct hpool__job *job = hpool__shm_alloc(p->shm, bytes);

	if (!job)
		return hpool__fail(-ENOMEM, "shared arena exhausted: the "
				   "call's job block of %zu bytes does not "
				   "fit (raise HPOOL_SHM_SIZE)", bytes);
	job_fill(job, fn, ctx, ctx_size, copy_ctx, c->in_size, c->out_size,
		 timeout_ns);
	c->job = job;
	return 0;
}

static int call_init(struct call *c, hpool *p, hpool_fn fn, const void *ctx,
		     size_t ctx_size, const void *in, size_t in_size,
		     void *out, size_t out_size, size_t n,
		     const hpool_map_opts *o, bool ordered)
{
	/* Workers see the caller's private memory only in serial mode: a
	 * thread-mode task abandoned by hpool_terminate may still write its
	 * result after the call returned, so it must write into the region. */
	bool workers = p->mode != HPOOL_MODE_SERIAL;
	size_t per_item, guided, depth;

	memset(c, 0, sizeof(*c));
	c->pool = p;
	c->in = in;
	c->out = out;
	c->in_size = in_size;
	c->out_size = out_size;
	c->n = n;
	c->ordered = ordered;
	c->chunk = o ? o->chunk : 0;
	/* In place: region memory in every mode; everything in serial mode,
	 * where tasks run in the caller. */
	c->copy_in = in_size && workers &&
		     !hpool__shm_contains(p->shm, in, n * in_size);
	c->copy_out = out_size &&
		      (!out || (workers && !hpool__shm_contains(p->shm, out,
							n * out_size)));
	/* Guided chunks: a quarter of each worker's share of what is left,
	 * capped so that a cell stays near CELL_BYTES. */
	per_item = (c->copy_in ? in_size : 0) + (c->copy_out ? out_size : 0) +
		   sizeof(uint64_t);
	guided = (n + 4 * p->nworkers - 1) / (4 * p->nworkers);
	if (c->chunk) {
		cell_layout(c, c->chunk < n ? c->chunk : n);
	} else {
		size_t cap = CELL_BYTES / per_item;

		cell_layout(c, guided < cap ? guided : cap ? cap : 1);
	}
	if (c->cell_items > UINT32_MAX / 2)
		return hpool__fail(-EINVAL, "chunk of %zu items is too large",
				   c->cell_items);
	/* Window: enough chunks in flight to keep every worker busy; small
	 * chunks need more of them. */
	depth = 64 / c->cell_items;
	depth = depth < 2 ? 2 : depth > 32 ? 32 : depth;
	c->wcap = p->mode == HPOOL_MODE_SERIAL ? 1 :
		  (unsigned)(p->nworkers * depth);
	if (c->wcap > 4096)
		c->wcap = 4096;
	/* ...but big cells (large items) in flight are bounded in bytes. */
	if ((size_t)c->wcap * c->cell_bytes > WINDOW_BYTES) {
		size_t fit = WINDOW_BYTES / c->cell_bytes;

		c->wcap = fit > 2 * p->nworkers ? (unsigned)fit :
						   2 * p->nworkers;
	}
	c->win = calloc(c->wcap, sizeof(*c->win));
	c->cells = calloc(c->wcap, sizeof(*c->cells));
	if (!c->win || !c->cells)
		return hpool__fail(-ENOMEM, "out of memory for a window of "
				   "%u chunks", c->wcap);
	return job_create(c, fn, ctx, ctx_size, o ? o->timeout_ns : 0);
}

static void call_register(struct call *c)
{
	hpool *p = c->pool;

	pthread_mutex_lock(&p->lock);
	c->next = p->calls;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &p->calls;
	p->calls = c;
	if (c->job->timeout_ns)
		atomic_fetch_add_explicit(&p->sh->timeouts, 1,
					  memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
	if (c->job->timeout_ns && p->mode == HPOOL_MODE_PROCESS)
		hpool__sup_request(&p->sup, 'w');
}

/* Has the ring slot that carried ch been released (by its worker, or by
 * the repair after that worker died)? Until then the cell is not the
 * caller's to reuse or free, finished or not. */
static bool slot_released(void *arg)
{
	const struct hpool__chunk *ch = arg;

	/* Pairs with R2, the release store of head in hpool__ring_release:
	 * the consumer's last access to the slot's chunk comes before it. */
	return !ch->ring ||
	       (int32_t)(atomic_load_explicit(&ch->ring->head,
					      memory_order_acquire) -
			 ch->slot) > 0;
}

/* Before a finished chunk's cell is reused or freed. Process mode only: a
 * thread worker cannot die alone, and releases right after finishing; a
 * dead process worker's slot is released by its repair, which signals
 * space. Returns early if the supervisor is gone (nobody repairs, and
 * nobody touches the rings any more). */
static void wait_slot_released(hpool *p, struct hpool__chunk *ch)
{
	if (p->mode == HPOOL_MODE_PROCESS && !slot_released(ch))
		pool_wait(p, &p->sh->space, slot_released, ch, -1);
}

/* Give every cached cell back to the arena. */
static void cache_flush(hpool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->ncache) {
		p->ncache--;
		hpool__shm_free(p->shm, p->cache[p->ncache].ptr);
	}
	p->cache_bytes = 0;
	pthread_mutex_unlock(&p->lock);
}

/* A cell of at least `bytes` (at most twice that, not to waste a big one
 * on a small call): from the cache, else from the arena, else from the
 * arena after giving the cache back. NULL when the arena is exhausted. */
static void *cell_get(hpool *p, size_t bytes)
{
	void *cell = NULL;
	unsigned i, best = CELL_CACHE;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->ncache; i++)
		if (p->cache[i].bytes >= bytes && p->cache[i].bytes <= 2 * bytes &&
		    (best == CELL_CACHE ||
		     p->cache[i].bytes < p->cache[best].bytes))
			best = i;
	if (best < CELL_CACHE) { /* keep the rest oldest first */
		cell = p->cache[best].ptr;
		p->cache_bytes -= p->cache[best].bytes;
		memmove(&p->cache[best], &p->cache[best + 1],
			(--p->ncache - best) * sizeof(p->cache[0]));
	}
	pthread_mutex_unlock(&p->lock);
	if (!cell && !(cell = hpool__shm_alloc(p->shm, bytes))) {
		cache_flush(p);
		cell = hpool__shm_alloc(p->shm, bytes);
	}
	return cell;
}

/* Keep a released cell for the next call, evicting the oldest ones to
 * make room (cells of a kind no longer used must not keep out the current
 * ones), or free it if it is too big to keep. */
static void cell_put(hpool *p, void *cell, size_t bytes)
{
	if (bytes > CELL_CACHE_BYTES) {
		hpool__shm_free(p->shm, cell);
		return;
	}
	pthread_mutex_lock(&p->lock);
	while (p->ncache == CELL_CACHE ||
	       p->cache_bytes + bytes > CELL_CACHE_BYTES) {
		hpool__shm_free(p->shm, p->cache[0].ptr);
		p->cache_bytes -= p->cache[0].bytes;
		memmove(&p->cache[0], &p->cache[1],
			--p->ncache * sizeof(p->cache[0]));
	}
	p->cache[p->ncache].ptr = cell;
	p->cache[p->ncache++].bytes = bytes;
	p->cache_bytes += bytes;
	pthread_mutex_unlock(&p->lock);
}

/* Free a chunk of a released call, unless a task may still use it: after
 * hpool_terminate an abandoned thread-mode task can still read its chunk
 * and the job (ctx), and write its result, so a chunk that is not done
 * stays in the region, which takes no new work. Return: true if kept. */
static bool chunk_release(hpool *p, struct hpool__chunk *ch, size_t bytes)
{
	/* Pairs with the release store of done in hpool__chunk_finish: the
	 * worker's last access to ch and the job comes before it. */
	if (atomic_load_explicit(&p->terminated, memory_order_relaxed) &&
	    !atomic_load_explicit(&ch->done, memory_order_acquire))
		return true;
	wait_slot_released(p, ch);
	cell_put(p, ch, bytes);
	return false;
}

/* Free what the call holds in the region and in private memory. */
static void call_release(struct call *c)
{
	hpool *p = c->pool;
	bool kept = false;
	unsigned i;

	if (!c->detached && c->job) {
		pthread_mutex_lock(&p->lock);
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		if (c->job->timeout_ns)
			atomic_fetch_sub_explicit(&p->sh->timeouts, 1,
						  memory_order_relaxed);
		pthread_mutex_unlock(&p->lock);
		for (i = 0; i < c->ncells; i++)
			kept |= chunk_release(p, c->cells[i], c->cell_bytes);
		for (i = 0; i < c->wcount; i++)
			kept |= chunk_release(p, c->win[i], c->cell_bytes);
		if (c->cur)
			kept |= chunk_release(p, c->cur, c->cell_bytes);
		if (!kept)
			hpool__shm_free(p->shm, c->job);
	}
	free(c->win);
	free(c->cells);
	c->win = NULL;
	c->cells = NULL;
}

/* Issue the next chunk. Return: 1 issued, 0 no cell to spare (harvest
 * first), or a negative code. */
static int issue(struct call *c)
{
	hpool *p = c->pool;
	size_t left = c->n - c->issued, k, g;
	struct hpool__chunk *ch;
	int e;

	if (c->chunk) {
		k = c->chunk < left ? c->chunk : left;
	} else {
		g = left / (4 * p->nworkers);
		k = g < 1 ? 1 : g > c->cell_items ? c->cell_items : g;
	}
	if (k > left)
		k = left;
	if (c->ncells) {
		ch = c->cells[--c->ncells];
		wait_slot_released(p, ch); /* the slot it last went through */
	} else if (c->wcount + (c->cur != NULL) < c->wcap) {
		ch = cell_get(p, c->cell_bytes);
		if (!ch && c->wcount == 0 && !c->cur)
			return hpool__fail(-ENOMEM, "shared arena exhausted: "
					   "a chunk of %zu bytes does not fit "
					   "(raise HPOOL_SHM_SIZE)",
					   c->cell_bytes);
		if (!ch)
			return 0;
	} else {
		return 0;
	}
	ch->ring = NULL;
	ch->job = c->job;
	ch->first = c->issued;
	ch->count = (uint32_t)k;
	ch->crash_worker = ch->crash_pid = ch->crash_sig = 0;
	ch->crash_exit = -1;
	atomic_store_explicit(&ch->done, 0, memory_order_relaxed);
	memset((void *)ch->res, 0, k * sizeof(uint64_t));
	ch->in = c->copy_in ? (char *)ch + c->in_off :
			      c->in + c->issued * c->in_size;
	if (c->copy_in)
		memcpy((char *)ch + c->in_off, c->in + c->issued * c->in_size,
		       k * c->in_size);
	ch->out = c->copy_out ? (char *)ch + c->out_off :
				c->out + c->issued * c->out_size;
	c->win[c->wcount++] = ch;
	c->issued += k;
	/* The push's release of tail publishes the stores above. */
	e = dispatch(p, ch);
	if (e < 0) {
		c->wcount--;
		c->issued -= k;
		c->cells[c->ncells++] = ch;
		return e;
	}
	return 1;
}

/* Issue chunks until the window is full or the input is all issued. */
static int fill(struct call *c)
{
	int e = 1;

	while (c->issued < c->n &&
	       !atomic_load_explicit(&c->pool->terminated,
				     memory_order_relaxed) &&
	       (e = issue(c)) == 1)
		;
	return e < 0 ? e : 0;
}

/* Find a finished chunk in the window: the oldest only when ordered.
 * Return its window index, or -1. */
static int find_done(struct call *c)
{
	unsigned i, end = c->ordered ? (c->wcount ? 1 : 0) : c->wcount;

	for (i = 0; i < end; i++)
		/* Pairs with the release store of done (chunk_finish). */
		if (atomic_load_explicit(&c->win[i]->done,
					 memory_order_acquire))
			return (int)i;
	return -1;
}

/* The call's wait condition: a chunk of its window is done, or the pool
 * stopped. Workers signal the job's event after each done store. */
static bool job_changed(void *arg)
{
	struct call *c = arg;

	return find_done(c) >= 0 ||
	       atomic_load_explicit(&c->pool->terminated, memory_order_relaxed);
}

/* Take a finished chunk out of the window, waiting up to deadline_ns.
 * Return: the chunk; NULL with *err = -ETIMEDOUT, or HPOOL_ECANCELED when
 * the pool is being terminated (the chunk is then returned as is, with
 * unfinished items to be reported canceled). */
static struct hpool__chunk *next_done(struct call *c, int64_t deadline_ns,
				      int *err)
{
	struct hpool__chunk *ch;
	int i;

	*err = 0;
	if (!c->wcount) { /* stopped before anything was issued */
		*err = atomic_load_explicit(&c->pool->terminated,
					    memory_order_relaxed);
		if (!*err)
			*err = HPOOL_ECANCELED;
		return NULL;
	}
	for (;;) {
		i = find_done(c);
		if (i >= 0)
			break;
		if ((*err = atomic_load_explicit(&c->pool->terminated,
						 memory_order_relaxed))) {
			i = 0;
			break;
		}
		if (pool_wait(c->pool, &c->pool->sh->done, job_changed, c,
			      deadline_ns)) {
			*err = -ETIMEDOUT;
			return NULL;
		}
	}
	ch = c->win[i];
	/* Keep issue order among the rest (ordered harvest needs it). */
	memmove(&c->win[i], &c->win[i + 1],
		(c->wcount - (unsigned)i - 1) * sizeof(*c->win));
	c->wcount--;
	chunk_taken_back(c->pool, ch);
	return ch;
}

/* Status of item i of a harvested chunk; an unfinished one (the pool
 * stopped) gets the reason the pool stopped. */
static int harvest_status(const hpool *p, const struct hpool__chunk *ch,
			  uint32_t i)
{
	uint64_t r = atomic_load_explicit(&ch->res[i], memory_order_acquire);
	int why = atomic_load_explicit(&p->terminated, memory_order_relaxed);

	if (r & HPOOL__RES_DONE)
		return HPOOL__RES_STATUS(r);
	return why ? why : HPOOL_ECANCELED;
}

static int validate(hpool_fn fn, const void *ctx, size_t ctx_size,
		    const void *in, size_t in_size, const void *out,
		    size_t out_size, size_t n, const hpool_map_opts *o,
		    bool need_out, const char *name, size_t shm_size)
{
	size_t limit = shm_size / 4;

	if (!fn)
		return hpool__fail(-EINVAL, "%s: fn is NULL", name);
	if (ctx_size && !ctx)
		return hpool__fail(-EINVAL, "%s: ctx is NULL but ctx_size is "
				   "%zu", name, ctx_size);
	if (n && in_size && !in)
		return hpool__fail(-EINVAL, "%s: in is NULL with n = %zu and "
				   "in_size = %zu", name, n, in_size);
	if (need_out && n && out_size && !out)
		return hpool__fail(-EINVAL, "%s: out is NULL with n = %zu and "
				   "out_size = %zu", name, n, out_size);
	if (in_size > limit || out_size > limit || ctx_size > limit)
		return hpool__fail(-EINVAL, "%s: an item of %zu bytes in, %zu "
				   "out, %zu ctx exceeds the limit of %zu "
				   "bytes (a quarter of the shared arena; "
				   "raise HPOOL_SHM_SIZE)", name, in_size,
				   out_size, ctx_size, limit);
	if ((in_size && n > SIZE_MAX / in_size) ||
	    (out_size && n > SIZE_MAX / out_size) || n > SIZE_MAX / 16)
		return hpool__fail(-EINVAL, "%s: n = %zu items overflows the "
				   "address space", name, n);
	if (o && o->timeout_ns < 0)
		return hpool__fail(-EINVAL, "%s: timeout_ns is negative (%lld)",
				   name, (long long)o->timeout_ns);
	return 0;
}

/* Record the statuses of a finished chunk and copy its results out. */
static void map_harvest(struct call *c, struct hpool__chunk *ch,
			const hpool_map_opts *o, size_t *first_bad, int *ret)
{
	uint32_t i;

	for (i = 0; i < ch->count; i++) {
		int st = harvest_status(c->pool, ch, i);

		if (o && o->status)
			o->status[ch->first + i] = st;
		if (st && ch->first + i < *first_bad) {
			*first_bad = ch->first + i;
			/* A task's own code is in status[]; map says ETASK. */
			*ret = st == HPOOL_ECRASH || st == HPOOL_ECANCELED ||
					       st == -ETIMEDOUT ?
				       st : HPOOL_ETASK;
			explain(c->pool, ch, *first_bad, st, "hpool_map");
		}
	}
	if (c->copy_out)
		memcpy(c->out + ch->first * c->out_size, ch->out,
		       ch->count * c->out_size);
	c->harvested += ch->count;
	c->cells[c->ncells++] = ch;
	if (o && o->progress)
		o->progress(c->harvested, c->n, o->progress_arg);
}

int hpool_map(hpool *p, hpool_fn fn, const void *ctx, size_t ctx_size,
	      const void *in, size_t in_size, void *out, size_t out_size,
	      size_t n, const hpool_map_opts *o)
{
	size_t first_bad = SIZE_MAX, i;
	int ret = 0, e, stop = 0;
	struct call c;

	if ((e = enter(p, "hpool_map")))
		return e;
	if ((e = validate(fn, ctx, ctx_size, in, in_size, out, out_size, n, o,
			  true, "hpool_map", p->shm_size)))
		goto out;
	if (n == 0)
		goto out;
	if ((e = call_init(&c, p, fn, ctx, ctx_size, in, in_size, out,
			   out_size, n, o, false))) {
		call_release(&c);
		goto out;
	}
	call_register(&c);
	/* Issue, harvest, repeat. After a failed push (stop < 0) or a
	 * terminate, only what is in flight is harvested. */
	while (c.harvested < c.issued || (!stop && c.issued < c.n)) {
		struct hpool__chunk *ch;
		int err;

		if (!stop && (stop = fill(&c)) < 0 && !c.wcount)
			break;
		ch = next_done(&c, -1, &err);
		if (!ch)
			break;
		if (err && !stop)
			stop = err;
		map_harvest(&c, ch, o, &first_bad, &ret);
	}
	if (!stop)
		stop = atomic_load_explicit(&p->terminated, memory_order_relaxed);
	/* Items never issued (terminate, or no worker left) get the reason. */
	for (i = c.issued; i < n; i++) {
		if (o && o->status)
			o->status[i] = stop;
		if (i < first_bad) {
			first_bad = i;
			ret = stop;
		}
	}
	call_release(&c);
	e = ret;
out:
	leave(p);
	return e;
}

/* ---- imap ----------------------------------------------------------------- */

int hpool_imap(hpool *p, hpool_fn fn, const void *ctx, size_t ctx_size,
	       const void *in, size_t in_size, size_t out_size, size_t n,
	       int ordered, const hpool_map_opts *o, hpool_iter **it)
{
	hpool_iter *r;
	int e;

	if (!it)
		return hpool__fail(-EINVAL, "hpool_imap: it is NULL");
	*it = NULL;
	if ((e = enter(p, "hpool_imap")))
		return e;
	if ((e = validate(fn, ctx, ctx_size, in, in_size, NULL, out_size, n, o,
			  false, "hpool_imap", p->shm_size)))
		goto out;
	r = calloc(1, sizeof(*r));
	if (!r) {
		e = -ENOMEM;
		goto out;
	}
	if (n && (e = call_init(&r->c, p, fn, ctx, ctx_size, in, in_size, NULL,
				out_size, n, o, ordered != 0))) {
		call_release(&r->c);
		free(r);
		goto out;
	}
	r->c.pool = p;
	r->c.n = n;
	if (n) {
		call_register(&r->c);
		if ((e = fill(&r->c)) < 0) {
			hpool_iter_free(r);
			goto out;
		}
	} else {
		r->c.detached = true; /* nothing to do, nothing held */
	}
	*it = r;
out:
	leave(p);
	return e;
}

int hpool_next(hpool_iter *it, size_t *index, void *out, int64_t timeout_ns)
{
	struct call *c;
	int64_t deadline;
	int st, e, err;

	if (!it)
		return hpool__fail(-EINVAL, "hpool_next: iterator is NULL");
	c = &it->c;
	/* SIZE_MAX until a result is handed out: tells "nothing arrived in
	 * time" from an item whose own status is -ETIMEDOUT. */
	if (index)
		*index = SIZE_MAX;
	if (c->harvested == c->n)
		return HPOOL_DONE;
	if (c->detached)
		return hpool__fail(HPOOL_ECLOSED, "hpool_next: the pool was "
				   "destroyed");
	if ((e = enter(c->pool, "hpool_next")))
		return e;
	deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	if (!c->cur || c->cur_pos == c->cur->count) {
		if (c->cur) {
			c->cells[c->ncells++] = c->cur;
			c->cur = NULL;
		}
		if ((e = fill(c)) < 0)
			goto out;
		c->cur = next_done(c, deadline, &err);
		if (!c->cur) {
			e = err == -ETIMEDOUT ?
				hpool__fail(-ETIMEDOUT, "hpool_next: no result "
					    "within %lld ns",
					    (long long)timeout_ns) :
				hpool__fail(err, "hpool_next: the pool "
					    "stopped: %s", hpool_strerror(err));
			goto out;
		}
		c->cur_pos = 0;
	}
	st = harvest_status(c->pool, c->cur, c->cur_pos);
	if (index)
		*index = c->cur->first + c->cur_pos;
	if (out && c->out_size)
		memcpy(out, c->cur->out + (size_t)c->cur_pos * c->out_size,
		       c->out_size);
	if (st)
		explain(c->pool, c->cur, c->cur->first + c->cur_pos, st,
			"hpool_next");
	c->cur_pos++;
	c->harvested++;
	/* Keep the window full while the consumer works on this result. */
	if (c->cur_pos == c->cur->count) {
		c->cells[c->ncells++] = c->cur;
		c->cur = NULL;
		fill(c);
	}
	e = st;
out:
	leave(c->pool);
	return e;
}

void hpool_iter_free(hpool_iter *it)
{
	struct call *c;
	int err;

	if (!it)
		return;
	c = &it->c;
	if (!c->detached) {
		/* Chunks in flight are referenced by the rings: wait. */
		while (c->wcount) {
			struct hpool__chunk *ch = next_done(c, -1, &err);

			if (!ch)
				break;
			c->cells[c->ncells++] = ch;
		}
	}
	call_release(c);
	free(it);
}

/* ---- futures ------------------------------------------------------------ */

/* The pool's list of futures not yet waited (destroy detaches them). */
static void fut_link(hpool_future *f)
{
	pthread_mutex_lock(&f->pool->lock);
	f->next = f->pool->futures;
	if (f->next)
		f->next->pprev = &f->next;
	f->pprev = &f->pool->futures;
	f->pool->futures = f;
	pthread_mutex_unlock(&f->pool->lock);
}

static void fut_unlink(hpool_future *f)
{
	pthread_mutex_lock(&f->pool->lock);
	*f->pprev = f->next;
	if (f->next)
		f->next->pprev = f->pprev;
	pthread_mutex_unlock(&f->pool->lock);
}


int hpool_submit(hpool *p, hpool_fn fn, const void *ctx, size_t ctx_size,
		 const void *in, size_t in_size, size_t out_size,
		 hpool_future **fut)
{
	bool copy_ctx;
	size_t coff, ioff, ooff, total;
	struct hpool__chunk *ch;
	struct hpool__job *job;
	hpool_future *f;
	char *b;
	int e;

	if (!fut)
		return hpool__fail(-EINVAL, "hpool_submit: fut is NULL");
	*fut = NULL;
	if ((e = enter(p, "hpool_submit")))
		return e;
	if ((e = validate(fn, ctx, ctx_size, in, in_size, NULL, out_size, 1,
			  NULL, false, "hpool_submit", p->shm_size)))
		goto out;
	copy_ctx = ctx_copied(p, ctx, ctx_size);
	/* One block: job, ctx copy, chunk with one result word, in, out. */
	coff = align_up(sizeof(*job) + (copy_ctx ? ctx_size : 0), 16);
	ioff = align_up(coff + sizeof(*ch) + sizeof(uint64_t), 16);
	ooff = align_up(ioff + in_size, 16);
	total = ooff + out_size;
	f = calloc(1, sizeof(*f));
	b = f ? hpool__shm_alloc(p->shm, total) : NULL;
	if (!b) {
		free(f);
		e = hpool__fail(-ENOMEM, "hpool_submit: no room for %zu bytes "
				"in the shared arena", total);
		goto out;
	}
	job = (struct hpool__job *)b;
	job_fill(job, fn, ctx, ctx_size, copy_ctx, in_size, out_size, 0);
	ch = (struct hpool__chunk *)(b + coff);
	memset(ch, 0, sizeof(*ch) + sizeof(uint64_t));
	ch->job = job;
	ch->count = 1;
	ch->crash_exit = -1;
	/* The input is copied in every mode (the caller may reuse it at
	 * once), unless it is region memory. */
	ch->in = in;
	if (in_size && !hpool__shm_contains(p->shm, in, in_size)) {
		memcpy(b + ioff, in, in_size);
		ch->in = b + ioff;
	}
	ch->out = b + ooff;
	f->pool = p;
	f->block = b;
	f->job = job;
	f->chunk = ch;
	f->out_size = out_size;
	fut_link(f);
	if ((e = dispatch(p, ch)) < 0) {
		fut_unlink(f);
		hpool__shm_free(p->shm, b);
		free(f);
		goto out;
	}
	*fut = f;
out:
	leave(p);
	return e;
}

static bool fut_done(void *arg)
{
	hpool_future *f = arg;

	/* Pairs with the release store of done in hpool__chunk_finish. */
	return atomic_load_explicit(&f->chunk->done, memory_order_acquire) ||
	       atomic_load_explicit(&f->pool->terminated, memory_order_relaxed);
}

int hpool_wait(hpool_future *f, void *out, int64_t timeout_ns)
{
	int64_t deadline;
	hpool *p;
	int st;

	if (!f)
		return hpool__fail(-EINVAL, "hpool_wait: future is NULL");
	if (!f->pool) { /* detached by destroy or terminate */
		st = f->status;
		if (out && f->result)
			memcpy(out, f->result, f->out_size);
		free(f->result);
		free(f);
		return st;
	}
	p = f->pool;
	if (p->fork_gen != atomic_load_explicit(&fork_gen,
						memory_order_relaxed))
		return hpool__fail(HPOOL_EFORKED, "hpool_wait: future belongs "
				   "to process %d; this is a forked child",
				   (int)p->sh->owner);
	deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	atomic_fetch_add_explicit(&p->active, 1, memory_order_acq_rel);
	if (pool_wait(p, &p->sh->done, fut_done, f, deadline)) {
		leave(p);
		return hpool__fail(-ETIMEDOUT, "hpool_wait: not done within "
				   "%lld ns", (long long)timeout_ns);
	}
	st = harvest_status(p, f->chunk, 0);
	chunk_taken_back(p, f->chunk);
	if (st)
		explain(p, f->chunk, 0, st, "hpool_wait");
	if (out && f->out_size && st != HPOOL_ECANCELED)
		memcpy(out, f->chunk->out, f->out_size);
	fut_unlink(f);
	/* A terminated thread-mode task may still write its block: leave it
	 * to the region, which is then never unmapped. */
	if (atomic_load_explicit(&f->chunk->done, memory_order_acquire)) {
		wait_slot_released(p, f->chunk);
		hpool__shm_free(p->shm, f->block);
	}
	leave(p);
	free(f);
	return st;
}

int hpool_ready(const hpool_future *f)
{
	if (!f)
		return 0;
	if (!f->pool)
		return 1;
	return atomic_load_explicit(&f->chunk->done, memory_order_acquire) != 0;
}

/* ---- shared memory -------------------------------------------------------- */

void *hpool_shm_alloc(hpool *p, size_t size)
{
	void *b;

	if (check_pool(p, "hpool_shm_alloc"))
		return NULL;
	if (!size) {
		hpool__set_error("hpool_shm_alloc: size is 0");
		return NULL;
	}
	b = hpool__shm_alloc(p->shm, size);
	if (!b) { /* the cache of cells gives way to the user's memory */
		cache_flush(p);
		b = hpool__shm_alloc(p->shm, size);
	}
	if (!b)
		hpool__set_error("hpool_shm_alloc: %zu bytes do not fit in the "
				 "shared arena of %zu bytes (raise "
				 "HPOOL_SHM_SIZE)", size, p->shm_size);
	return b;
}

void hpool_shm_free(hpool *p, void *ptr)
{
	if (!ptr || check_pool(p, "hpool_shm_free"))
		return;
	/* One atomic decision: of two frees of a block, one is refused. */
	if (hpool__shm_release(p->shm, ptr))
		hpool__set_error("hpool_shm_free: %p is not a live block from "
				 "hpool_shm_alloc of this pool (freed twice, "
				 "or never allocated here)", ptr);
}

/* ---- life cycle ----------------------------------------------------------- */

static void *thread_worker(void *arg)
{
	struct thread_arg *a = arg;

	hpool__worker_loop(a->p->sh, a->w, a->p->topo);
	return NULL;
}

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

static bool all_started(void *arg)
{
	struct hpool__shared *sh = arg;
	unsigned i;

	for (i = 0; i < sh->nworkers; i++)
		/* Pairs with the worker's release store of state. */
		if (atomic_load_explicit(&sh->w[i].state,
					 memory_order_acquire) ==
		    HPOOL__W_STARTING)
			return false;
	return true;
}

static void stop_workers(hpool *p, bool now);
static void pool_free(hpool *p, bool unmap);

int hpool_create(hpool **out, const hpool_config *cfg)
{
	struct hpool__settings s;
	struct hpool__shared *sh;
	unsigned i, threads = 0, pus;
	int e, memfd = -1;
	bool fs;
	hpool *p;

	if (!out)
		return hpool__fail(-EINVAL, "hpool_create: pool is NULL");
	*out = NULL;
	pthread_once(&atfork_once, register_atfork);
	if ((e = hpool__settings_resolve(cfg, &s)))
		return e;
	p = calloc(1, sizeof(*p));
	if (!p)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	p->magic = POOL_LIVE;
	p->fork_gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
	p->mode = s.mode;
	p->shm_size = s.shm_size;
	p->sup.pidfd = -1;
	pthread_mutex_init(&p->lock, NULL);
	fs = s.mode == HPOOL_MODE_PROCESS && s.start == 1;
	if (fs && !hpool__fs_running()) {
		e = hpool__fail(-EINVAL, "hpool_create: start = forkserver, but "
				"the fork server is not running: call "
				"hpool_forkserver_start() at the top of main, "
				"or set HPOOL_START=forkserver in the "
				"environment before the program starts");
		goto fail;
	}
	hpool__fd_lock(); /* hwloc has files open while it loads */
	e = hpool__topo_open(&p->topo);
	hpool__fd_unlock();
	if (e) {
		hpool__set_error("hpool_create: cannot read the machine's "
				 "topology (hwloc)");
		goto fail;
	}
	p->nworkers = s.mode == HPOOL_MODE_SERIAL ? 1 :
		      s.workers ? s.workers : hpool__topo_cores(p->topo);
	p->inflight = calloc(p->nworkers, sizeof(*p->inflight));
	if (!p->inflight) {
		e = hpool__fail(-ENOMEM, "hpool_create: out of memory");
		goto fail;
	}
	pus = hpool__topo_pus(p->topo);
	if (fs) {
		/* a memfd: registered at once, so that no other pool's
		 * supervisor forked meanwhile keeps a copy */
		hpool__fd_lock();
		e = hpool__shm_create_fd(s.shm_size, &p->shm, &memfd);
		if (!e)
			hpool__lib_fd_add_locked(memfd);
		hpool__fd_unlock();
	} else {
		e = hpool__shm_create(s.shm_size, &p->shm);
	}
	if (e) {
		hpool__set_error("hpool_create: cannot map a shared region of "
				 "%zu bytes", s.shm_size);
		goto fail;
	}
	sh = hpool__shm_alloc(p->shm, sizeof(*sh) +
					      p->nworkers * sizeof(sh->w[0]));
	if (!sh) {
		e = hpool__fail(-ENOMEM, "hpool_create: %u workers do not fit "
				"in a shared arena of %zu bytes", p->nworkers,
				s.shm_size);
		goto fail;
	}
	memset(sh, 0, sizeof(*sh) + p->nworkers * sizeof(sh->w[0]));
	p->sh = sh;
	hpool__event_init(&sh->ready);
	hpool__event_init(&sh->space);
	hpool__event_init(&sh->done);
	sh->nworkers = p->nworkers;
	sh->mode = s.mode;
	sh->max_tasks = cfg ? cfg->max_tasks_per_worker : 0;
	sh->omp_threads = pus / p->nworkers ? pus / p->nworkers : 1;
	sh->bind = s.bind;
	sh->owner = getpid();
	if (cfg && cfg->init) {
		sh->init = cfg->init;
		sh->init_ctx = cfg->init_ctx;
		if (cfg->init_ctx && cfg->init_ctx_size) {
			void *c = hpool__shm_alloc(p->shm, cfg->init_ctx_size);

			if (!c) {
				e = hpool__fail(-ENOMEM, "hpool_create: "
						"init_ctx does not fit");
				goto fail;
			}
			memcpy(c, cfg->init_ctx, cfg->init_ctx_size);
			sh->init_ctx = c;
		}
	}
	for (i = 0; i < p->nworkers; i++) {
		struct hpool__wctl *w = &sh->w[i];
		size_t rb = hpool__ring_bytes(HPOOL__RING_CAP,
					      sizeof(struct hpool__task));

		w->index = i;
		w->ring = hpool__shm_alloc(p->shm, rb);
		if (!w->ring) {
			e = hpool__fail(-ENOMEM, "hpool_create: rings for %u "
					"workers do not fit", p->nworkers);
			goto fail;
		}
		hpool__ring_init(w->ring, HPOOL__RING_CAP,
				 sizeof(struct hpool__task), 0);
		hpool__event_init(&w->wake);
		atomic_store_explicit(&w->running, HPOOL__IDLE,
				      memory_order_relaxed);
		if (s.mode == HPOOL_MODE_SERIAL)
			atomic_store_explicit(&w->state, HPOOL__W_READY,
					      memory_order_relaxed);
	}

	if (fs) {
		e = hpool__fs_sup_start(memfd, p->shm,
					hpool__shm_map_size(p->shm), sh, s.bind,
					&p->sup);
		if (e) {
			hpool__set_error("hpool_create: the fork server could "
					 "not start a supervisor: %s%s",
					 hpool_strerror(e), e == -ENOSYS ?
					 " (it needs pidfd_open, Linux 5.3)" :
					 "");
			goto fail;
		}
	} else if (s.mode == HPOOL_MODE_PROCESS) {
		threads = count_threads();
		if ((e = hpool__sup_start(sh, s.bind ? p->topo : NULL,
					  &p->sup))) {
			hpool__set_error("hpool_create: fork failed (%d)", e);
			goto fail;
		}
	} else if (s.mode == HPOOL_MODE_THREAD) {
		p->threads = calloc(p->nworkers, sizeof(*p->threads));
		p->targs = calloc(p->nworkers, sizeof(*p->targs));
		if (!p->threads || !p->targs) {
			e = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < p->nworkers; i++) {
			p->targs[i].p = p;
			p->targs[i].w = i;
			e = -pthread_create(&p->threads[i], NULL,
					    thread_worker, &p->targs[i]);
			if (e) {
				hpool__set_error("hpool_create: "
						 "pthread_create failed");
				p->nworkers = i; /* join only those */
				goto fail_started;
			}
		}
	}
	if (s.mode == HPOOL_MODE_SERIAL && sh->init) {
		/* The caller is the one worker: init runs once, here. */
		int st = sh->init(sh->init_ctx);

		if (st) {
			sh->w[0].init_status = st;
			atomic_store_explicit(&sh->w[0].state,
					      HPOOL__W_INIT_FAILED,
					      memory_order_relaxed);
		}
	}
	if (memfd >= 0) { /* the supervisor has its own copy now */
		hpool__fd_lock();
		hpool__lib_fd_del_locked(memfd);
		hpool__fd_unlock();
		close(memfd);
		memfd = -1;
	}
	/* In slices (process mode): a supervisor that dies before its
	 * workers are ready fails the create instead of hanging it. */
	pool_wait(p, &sh->ready, all_started, sh, -1);
	if (!all_started(sh)) {
		e = hpool__fail(HPOOL_ECRASH, "hpool_create: the supervisor "
				"(pid %d) died before its workers were ready",
				(int)p->sup.pid);
		goto fail_started;
	}
	for (i = 0; i < p->nworkers; i++) {
		struct hpool__wctl *w = &sh->w[i];

		if (atomic_load_explicit(&w->state, memory_order_acquire) ==
		    HPOOL__W_READY)
			continue;
		e = w->init_status == HPOOL_ECRASH ?
			    hpool__fail(HPOOL_ECRASH, "hpool_create: worker %u "
					"died in init", i) :
		    w->init_status < 0 && w->init_status > -4096 ?
			    hpool__fail(w->init_status, "hpool_create: worker "
					"%u could not start", i) :
			    hpool__fail(HPOOL_ETASK, "hpool_create: init "
					"returned %d in worker %u",
					w->init_status, i);
		goto fail_started;
	}
	if (threads > 1)
		hpool__set_error("hpool_create: forked the workers from a "
				 "process that runs %u threads; a lock held "
				 "by another thread at that moment stays "
				 "locked in the workers", threads);
	*out = p;
	return 0;

fail_started:
	stop_workers(p, true);
fail:
	if (memfd >= 0) {
		hpool__fd_lock();
		hpool__lib_fd_del_locked(memfd);
		hpool__fd_unlock();
		close(memfd);
	}
	pool_free(p, true);
	return e;
}

/* Wake every sleeper the pool has: workers, submitters, waiting calls. */
static void wake_all(hpool *p)
{
	unsigned i;

	for (i = 0; i < p->nworkers; i++)
		hpool__event_signal(&p->sh->w[i].wake);
	hpool__event_signal(&p->sh->space);
	hpool__event_signal(&p->sh->done);
}

/* Stop the workers: drain (destroy) or now (terminate). Returns false when
 * a thread-mode task would not stop (its thread is then left running). */
static bool join_threads(hpool *p, int64_t deadline)
{
	bool all = true;
	unsigned i;

	for (i = 0; i < p->nworkers; i++) {
		struct timespec ts;
		int64_t d = deadline;

		if (d < 0) {
			pthread_join(p->threads[i], NULL);
			continue;
		}
		/* CLOCK_REALTIME for pthread_timedjoin_np. */
		clock_gettime(CLOCK_REALTIME, &ts);
		d = d - hpool__now_ns();
		if (d < 0)
			d = 0;
		ts.tv_sec += d / 1000000000;
		ts.tv_nsec += d % 1000000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(p->threads[i], NULL, &ts)) {
			pthread_detach(p->threads[i]);
			all = false;
		}
	}
	return all;
}

static void stop_workers(hpool *p, bool now)
{
	atomic_store_explicit(&p->sh->closing,
			      now ? HPOOL__CLOSE_NOW : HPOOL__CLOSE_DRAIN,
			      memory_order_release);
	if (p->mode == HPOOL_MODE_PROCESS) {
		if (p->sup.pid > 0) {
			hpool__sup_request(&p->sup, now ? 't' : 'q');
			wake_all(p);
			hpool__sup_join(&p->sup);
		}
	} else if (p->mode == HPOOL_MODE_THREAD && p->threads) {
		wake_all(p);
		p->stopped_clean = join_threads(p, now ? hpool__now_ns() +
						      500000000 : -1);
	}
}

/* Keep the results of futures nobody waited for, in private memory. */
static void detach_futures(hpool *p)
{
	hpool_future *f, *next;

	for (f = p->futures; f; f = next) {
		next = f->next;
		f->status = harvest_status(p, f->chunk, 0);
		if (f->out_size && f->status != HPOOL_ECANCELED) {
			f->result = malloc(f->out_size);
			if (f->result)
				memcpy(f->result, f->chunk->out, f->out_size);
		}
		f->pool = NULL;
	}
	p->futures = NULL;
}

static void pool_free(hpool *p, bool unmap)
{
	if (p->shm && unmap)
		hpool__shm_destroy(p->shm);
	if (p->topo)
		hpool__topo_close(p->topo);
	free(p->threads);
	free(p->targs);
	free(p->inflight);
	pthread_mutex_destroy(&p->lock);
	retire_handle(p);
}

static int finish(hpool *p, bool now, const char *name)
{
	struct call *c;
	int e = check_pool(p, name);

	/* A pool whose supervisor died is still destroyed normally. */
	if (e == HPOOL_ECLOSED && p->magic == POOL_LIVE)
		e = 0;
	if (e)
		return e;
	if (now) {
		int zero = 0;

		atomic_compare_exchange_strong(&p->terminated, &zero,
					       HPOOL_ECANCELED);
		wake_all(p);
	}
	p->stopped_clean = true;
	stop_workers(p, now);
	if (now) {
		/* Calls in other threads see `terminated` and return. */
		wake_all(p);
		while (atomic_load_explicit(&p->active, memory_order_acquire)) {
			struct timespec ts = { 0, 1000000 };

			wake_all(p);
			nanosleep(&ts, NULL);
		}
	}
	detach_futures(p);
	pthread_mutex_lock(&p->lock);
	for (c = p->calls; c; c = c->next)
		c->detached = true;
	p->calls = NULL;
	pthread_mutex_unlock(&p->lock);
	/* A thread-mode task that would not stop still uses the region: it
	 * is left mapped (documented) rather than pulled from under it. */
	pool_free(p, p->stopped_clean);
	return 0;
}

int hpool_destroy(hpool *p)
{
	return finish(p, false, "hpool_destroy");
}

int hpool_terminate(hpool *p)
{
	return finish(p, true, "hpool_terminate");
}

hpool_mode hpool_mode_of(const hpool *p)
{
	return check_pool(p, "hpool_mode_of") ? HPOOL_MODE_ENV : p->mode;
}

unsigned hpool_workers(const hpool *p)
{
	return check_pool(p, "hpool_workers") ? 0 : p->nworkers;
}

/* Tests only: the pids this pool runs (supervisor first, then workers). */
HPOOL_INTERNAL int hpool__pool_pids(const hpool *p, int *pids, unsigned max);
int hpool__pool_pids(const hpool *p, int *pids, unsigned max)
{
	unsigned i, n = 0;

	if (check_pool(p, "hpool__pool_pids") ||
	    p->mode != HPOOL_MODE_PROCESS)
		return 0;
	if (n < max)
		pids[n++] = p->sup.pid;
	for (i = 0; i < p->nworkers && n < max; i++)
		pids[n++] = atomic_load_explicit(&p->sh->w[i].pid,
						 memory_order_acquire);
	return (int)n;
}
