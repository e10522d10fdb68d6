/* SPDX-License-Identifier: MIT */
/*
 * The call engine behind hpool_map and hpool_imap. A call lays its items
 * out in segments (cells of the region: header, result words, copied
 * inputs, result room), publishes each where free workers claim from it
 * (sched.c, claim.c), and harvests finished items from the oldest
 * segments while later ones run. The caller is not on the per-item path:
 * it copies inputs in and results out, a segment at a time. Memory is
 * bounded by the window (WINDOW_SEGS segments), whatever n is.
 */
#include "pool.h"
#include "claim.h"

#include <errno.h>
#include <signal.h>
#include <urcu/arch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A segment's cell, about: SEG_PER_WORKER a worker (the backend's
 * seg_per_worker a remote one), at least SEG_MIN, at most a sixteenth
 * of the arena (the window then holds a quarter of it) but never below
 * SEG_FLOOR.
 * The window must hold enough work to keep every worker busy while the
 * caller wakes, harvests and issues: with 256 KiB segments and two
 * workers it emptied in ~20 us, and workers went to sleep between
 * segments (bench scenario 1). */
#define SEG_PER_WORKER ((size_t)256 << 10)
#define SEG_MIN ((size_t)1 << 20)
#define SEG_FLOOR ((size_t)256 << 10)
#define WINDOW_SEGS 4                 /* segments in flight per call */
#define WCOPY_CHUNK 512               /* hpool__call.wcopy: the least chunk */
/* imap: the consumer sets the pace. A segment holds at least
 * IMAP_SEG_PER_WORKER items a worker, and grows with what the consumer
 * took: at most 1/IMAP_AHEAD_DIV of it, so the window (WINDOW_SEGS
 * segments) reads ahead at most an eighth of what was consumed, besides
 * the least one, and never more bytes than a map's window. A long stream
 * of small items then pays a segment's costs (issue, publish, claims,
 * retire) over thousands of items instead of 16 a worker (1M empty items:
 * 72-100 ns an item before). */
#define IMAP_SEG_PER_WORKER 16
#define IMAP_AHEAD_DIV (8 * WINDOW_SEGS)

/* Say in words why item `index` (the j-th of segment c) failed. */
void hpool__explain(const hpool *p, const struct hpool__seg *c,
		    size_t index, uint32_t j, int st, const char *fn)
{
	char sb[32];
	/* Pairs with the release store of res (fail_item, claim.c): the
	 * culprit fields were written before it. j is below the caller's
	 * own copy of the count: c->count and c->first are region memory a
	 * task may have written over. */
	uint64_t r = atomic_load_explicit(&c->res[j], memory_order_acquire);

	/* A remote backend says where and why in its own words. */
	if (c->crash_rank > 0 && p->wk.ops->explain &&
	    p->wk.ops->explain(&p->wk, c, index, st, fn))
		return;
	if (st == HPOOL_ECRASH && (r & HPOOL__RES_COLLATERAL) &&
	    c->culprit_item >= 0) {
		hpool__set_error("%s: item %zu failed: collateral: it ran on "
				 "worker %d, a thread of the process (pid %d) "
				 "that died when worker %d ran item %lld%s "
				 "(%s)", fn, index, c->crash_worker,
				 c->crash_pid, c->culprit_worker,
				 (long long)c->culprit_item,
				 c->culprit_same_job ? " of this call" :
						       " of another call",
				 hpool__signame(c->crash_sig ? c->crash_sig :
						SIGKILL, sb, sizeof(sb)));
	} else if (st == HPOOL_ECRASH && (r & HPOOL__RES_COLLATERAL)) {
		hpool__set_error("%s: item %zu failed: collateral: it ran on "
				 "worker %d, a thread of the process (pid %d) "
				 "that died when worker %d crashed (%s)", fn,
				 index,
				 c->crash_worker, c->crash_pid,
				 c->culprit_worker,
				 hpool__signame(c->crash_sig ? c->crash_sig :
						SIGKILL, sb, sizeof(sb)));
	} else if (st == HPOOL_ECRASH && c->crash_pid > 0) {
		if (c->crash_exit == HPOOL__EXIT_WITH_SUP)
			hpool__set_error("%s: item %zu failed: the pool's "
					 "supervisor (pid %d) died, and worker "
					 "%d (pid %d) with it; a new supervisor "
					 "runs the rest", fn, index,
					 p->wk.lost_pid, c->crash_worker,
					 c->crash_pid);
		else if (hpool__is_stop_signal(c->crash_sig))
			hpool__set_error("%s: item %zu failed: worker %d (pid "
					 "%d) was stopped by %s; a stopped "
					 "worker is killed and replaced", fn,
					 index, c->crash_worker, c->crash_pid,
					 hpool__signame(c->crash_sig, sb,
							sizeof(sb)));
		else if (c->crash_sig)
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
	} else if (st == -EFAULT) {
		hpool__set_error("%s: item %zu failed: a task wrote past its out "
				 "item (the guard after the results was "
				 "overwritten); the results near it are not "
				 "trusted", fn, index);
	} else if (st == HPOOL_ECANCELED) {
		hpool__set_error("%s: item %zu canceled: the pool was "
				 "terminated", fn, index);
	} else if (st == HPOOL_ECRASH &&
		   atomic_load_explicit(&p->terminated,
					memory_order_relaxed) == HPOOL_ECRASH) {
		hpool__set_error("%s: item %zu failed: the pool's supervisor "
				 "(pid %d) died and its workers with it", fn,
				 index, hpool__backend_pid(p));
	} else if (st == HPOOL_ECRASH) {
		hpool__set_error("%s: item %zu failed: its worker died", fn,
				 index);
	} else {
		hpool__set_error("%s: item %zu: task returned %d", fn, index,
				 st);
	}
}

/* Copy `ctx` into the region unless it is already there. Every mode
 * copies: an imap or a submit outlives the caller's frame. */
/* Does ctx need a copy in the region (not region memory already)? */
bool hpool__ctx_copied(const hpool *p, const void *ctx, size_t ctx_size)
{
	return ctx && ctx_size && !hpool__shm_contains(p->shm, ctx, ctx_size);
}

/* Fill a job whose block has room for the ctx copy right after it. */
void hpool__job_fill(struct hpool__job *job, hpool_fn fn, const void *ctx,
		     size_t ctx_size, bool copy_ctx, size_t in_size,
		     size_t out_size, int64_t timeout_ns)
{
	memset(job, 0, sizeof(*job));
	job->fn = fn;
	job->ctx = ctx;
	job->ctx_size = ctx ? ctx_size : 0;
	if (copy_ctx) {
		memcpy(job + 1, ctx, ctx_size);
		job->ctx = job + 1;
	}
	job->in_size = in_size;
	job->out_size = out_size;
	job->timeout_ns = timeout_ns;
}

static int job_create(struct hpool__call *c, hpool_fn fn, const void *ctx,
		      size_t ctx_size, int64_t timeout_ns)
{
	hpool *p = c->pool;
	bool copy_ctx = hpool__ctx_copied(p, ctx, ctx_size);
	size_t bytes = sizeof(struct hpool__job) + (copy_ctx ? ctx_size : 0);
	struct hpool__job *job = hpool__alloc(p, bytes);

	if (!job)
		return hpool__fail(-ENOMEM, "shared arena exhausted: the "
				   "call's job block of %zu bytes does not "
				   "fit (raise HPOOL_SHM_SIZE)", bytes);
	hpool__job_fill(job, fn, ctx, ctx_size, copy_ctx, c->in_size, c->out_size,
		 timeout_ns);
	c->job = job;
	return 0;
}

void hpool__call_register(struct hpool__call *c)
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
	if (c->job->timeout_ns)
		hpool__wk_poke(p);
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

int hpool__open(hpool *p, const char *name, hpool_fn fn, const void *ctx,
		size_t ctx_size, const void *in, size_t in_size,
		const void *out, size_t out_size, size_t n,
		const hpool_map_opts *o, bool need_out)
{
	int e = hpool__enter(p, name);

	if (e)
		return e;
	e = validate(fn, ctx, ctx_size, in, in_size, out, out_size, n, o,
		     need_out, name, p->shm_size);
	if (e)
		hpool__leave(p);
	return e;
}

static void seg_layout(struct hpool__call *c, size_t items)
{
	size_t res = sizeof(struct hpool__seg) + items * sizeof(uint64_t);

	c->seg_items = items;
	c->in_off = hpool__align_up(res, 16);
	c->out_off = hpool__align_up(c->in_off + (c->copy_in ?
						  items * c->in_size : 0), 16);
	c->seg_bytes = c->out_off + (c->copy_out ? items * c->out_size : 0);
	/* The guard after the results (pool.h); the results' end is aligned
	 * for the canary's words. */
	c->guard_off = c->copy_out ? hpool__align_up(c->seg_bytes, 8) : 0;
	if (c->copy_out)
		c->seg_bytes = c->guard_off + HPOOL__GUARD_SEG;
}

int hpool__call_init(struct hpool__call *c, hpool *p, hpool_fn fn,
		     const void *ctx, size_t ctx_size, const void *in,
		     size_t in_size, void *out, size_t out_size, size_t n,
		     const hpool_map_opts *o, bool ordered)
{
	/* Workers see the caller's private memory only when tasks run
	 * inline: a thread-mode task abandoned by hpool_terminate may still
	 * write its result after the call returned, so it writes into the
	 * region. */
	bool workers = !p->wk.ops->runs_inline;
	size_t per_item, items, seg_bytes;

	memset(c, 0, sizeof(*c));
	c->pool = p;
	c->in = in;
	c->out = out;
	c->in_size = in_size;
	c->out_size = out_size;
	c->n = n;
	c->ordered = ordered;
	if (o && o->chunk > UINT32_MAX / 2)
		return hpool__fail(-EINVAL, "chunk of %zu items is too large",
				   o->chunk);
	c->chunk = o ? (uint32_t)o->chunk : 0;
	if (o) {
		c->status = o->status;
		c->progress = o->progress;
		c->progress_arg = o->progress_arg;
	}
	/* In place: region memory in every mode; everything when tasks run
	 * inline. */
	c->copy_in = in_size && workers &&
		     !hpool__shm_contains(p->shm, in, n * in_size);
	c->copy_out = out_size &&
		      (!out || (workers && !hpool__shm_contains(p->shm, out,
							n * out_size)));
	/* A map in thread mode with something to copy: the workers copy (a
	 * range at a time, in their own caches), so the copies scale with
	 * the workers instead of running in one caller thread. A fixed
	 * chunk under WCOPY_CHUNK keeps the caller's copies: small ranges
	 * write the caller's out and the segment in lines two workers share
	 * (chunk 16, bench scenario 1: 26 ns an item against 15; parity at
	 * 512). imap's caller hands results out from the region itself. */
	c->wcopy = p->wk.ops->shares_memory && out &&
		   (c->copy_in || c->copy_out) &&
		   (!c->chunk || c->chunk >= WCOPY_CHUNK);
	/* A segment of about seg_bytes, at least one claim, at most n. */
	per_item = (c->copy_in ? in_size : 0) + (c->copy_out ? out_size : 0) +
		   sizeof(uint64_t);
	seg_bytes = SEG_PER_WORKER * (p->nworkers - p->wk.remote) +
		    p->wk.ops->seg_per_worker * p->wk.remote;
	if (seg_bytes < SEG_MIN)
		seg_bytes = SEG_MIN;
	if (seg_bytes > p->shm_size / 16)
		seg_bytes = p->shm_size / 16;
	if (seg_bytes < SEG_FLOOR)
		seg_bytes = SEG_FLOOR;
	items = seg_bytes / per_item;
	/* imap: the cells hold as many items as a map's; issue() fills
	 * them as far as imap_items() allows. */
	c->imap_min = IMAP_SEG_PER_WORKER * p->nworkers;
	if (c->imap_min < c->chunk)
		c->imap_min = c->chunk;
	if (items < c->chunk)
		items = c->chunk;
	if (items < 1)
		items = 1;
	if (items > n)
		items = n;
	if (items > UINT32_MAX / 2)
		items = UINT32_MAX / 2;
	seg_layout(c, items);
	c->wcap = workers ? WINDOW_SEGS : 1;
	c->win = calloc(c->wcap, sizeof(*c->win));
	c->cells = calloc(c->wcap, sizeof(*c->cells));
	if (!c->win || !c->cells)
		return hpool__fail(-ENOMEM, "out of memory for a window of "
				   "%u segments", c->wcap);
	return job_create(c, fn, ctx, ctx_size, o ? o->timeout_ns : 0);
}

bool hpool__win_complete(struct hpool__win *e)
{
	/* Pairs with the release adds of finished: every counted range's
	 * res[] and results are visible. A count above the truth (a death)
	 * is checked against res[], unless failed says it is exact
	 * (hpool__seg.failed): then the res[] lines stay in the workers'
	 * caches. */
	return atomic_load_explicit(&e->seg->finished, memory_order_acquire) >=
		       e->count &&
	       (!atomic_load_explicit(&e->seg->failed, memory_order_relaxed) ||
		hpool__win_scan(e));
}

bool hpool__win_guard_ok(const struct hpool__call *c,
			 const struct hpool__win *e)
{
	return !c->copy_out || hpool__guard_ok((char *)e->seg + c->guard_off);
}

bool hpool__win_scan(struct hpool__win *e)
{
	const struct hpool__seg *s = e->seg;

	/* Pairs with the release store of res[i] by whoever finished it:
	 * its result bytes are visible. */
	while (e->done < e->count &&
	       (atomic_load_explicit(&s->res[e->done], memory_order_acquire) &
		HPOOL__RES_DONE))
		e->done++;
	return e->done == e->count;
}

int hpool__item_status(const hpool *p, const struct hpool__seg *s,
		       uint32_t i)
{
	/* Pairs with the release store of res[i]. */
	uint64_t r = atomic_load_explicit(&s->res[i], memory_order_acquire);
	int why = atomic_load_explicit(&p->terminated, memory_order_relaxed);

	if (r & HPOOL__RES_DONE)
		return HPOOL__RES_STATUS(r);
	return why ? why : HPOOL_ECANCELED;
}

/* The first item of [j, end) of entry e not handed out (whole words of
 * handed-out items at a time) that is finished (or any, with `any`);
 * else end. */
static uint32_t untaken(const struct hpool__win *e, uint32_t j, uint32_t end,
			bool any)
{
	while (j < end) {
		uint64_t free_bits = ~e->taken[j / 64] >> (j % 64);

		if (!free_bits) {
			j = (j / 64 + 1) * 64;
			continue;
		}
		j += (uint32_t)__builtin_ctzll(free_bits);
		if (j >= end)
			break;
		/* Pairs with the release store of res[j]. */
		if (any || j < e->done ||
		    (atomic_load_explicit(&e->seg->res[j],
					  memory_order_acquire) &
		     HPOOL__RES_DONE))
			return j;
		j++;
	}
	return end;
}

long hpool__win_pick(struct hpool__win *e, bool any)
{
	uint32_t j, end = any ? e->count :
				atomic_load_explicit(&e->seg->next,
						     memory_order_relaxed);

	if (end > e->count)
		end = e->count;
	hpool__win_scan(e);
	/* The finished prefix first: items come out nearly in order, and
	 * [low, done) costs a word per 64 handed-out items. */
	e->low = untaken(e, e->low, e->count, true);
	if (e->low < e->done || (any && e->low < end))
		return e->low;
	/* Past it, from where the last look stopped: ranges other workers
	 * claimed. A look that finds nothing starts over after low. cur
	 * stays at the item found, not past it: the wait's condition looks
	 * without taking, and a cursor moved past an item nobody took hid
	 * it from the next look (hpool_next then spun between the two for
	 * as long as the item at low was not done: for ever when its
	 * worker had died with the supervisor, which only a wait replaces:
	 * the soak's imap hang). */
	if (e->cur <= e->low)
		e->cur = e->low + 1;
	j = untaken(e, e->cur, end, any);
	if (j < end) {
		e->cur = j;
		return j;
	}
	e->cur = e->low + 1;
	return -1;
}

/* Free a cell of a finished call (or keep it: see hpool__seg_unpublish). */
static void cell_release(hpool *p, void *cell, size_t bytes)
{
	hpool__cell_put(p, cell, bytes);
}

bool hpool__win_retire(struct hpool__call *c, unsigned i)
{
	hpool *p = c->pool;
	struct hpool__win *e = &c->win[i];
	struct hpool__win probe = { .seg = e->seg, .count = e->count };
	struct hpool__seg *s = e->seg;
	bool mine;

	hpool__seg_cancel(s, e->count, HPOOL_ECANCELED);
	mine = hpool__seg_unpublish(p, s, e->slot);
	free(e->taken);
	memmove(&c->win[i], &c->win[i + 1],
		(c->wcount - i - 1) * sizeof(*c->win));
	c->wcount--;
	/* Unfinished items after a terminate: a task may still write them,
	 * so the cell stays in the region (which is then left mapped). An
	 * exact, failure-free count (hpool__win_complete) says none is. */
	mine = mine && (hpool__win_complete(&probe) || hpool__win_scan(&probe));
	if (mine)
		c->cells[c->ncells++] = s;
	else
		c->kept = true;
	return mine;
}

void hpool__call_release(struct hpool__call *c)
{
	hpool *p = c->pool;
	unsigned i;

	if (!c->detached && c->job) {
		hpool__call_abandon(c); /* before the caller's arrays go */
		pthread_mutex_lock(&p->lock);
		if (c->pprev) {
			*c->pprev = c->next;
			if (c->next)
				c->next->pprev = c->pprev;
		}
		if (c->job->timeout_ns && c->pprev)
			atomic_fetch_sub_explicit(&p->sh->timeouts, 1,
						  memory_order_relaxed);
		pthread_mutex_unlock(&p->lock);
		while (c->wcount)
			hpool__win_retire(c, c->wcount - 1);
		for (i = 0; i < c->ncells; i++)
			cell_release(p, c->cells[i], c->seg_bytes);
		/* The job too, unless a task may still read it (a segment
		 * of the call was kept, now or when it was harvested). */
		if (!c->kept)
			hpool__shm_free(p->shm, c->job);
	}
	for (i = 0; i < c->wcount; i++)
		free(c->win[i].taken);
	free(c->win);
	free(c->cells);
	c->win = NULL;
	c->cells = NULL;
	c->wcount = 0;
}

/* imap: the most items the next segment may hold (IMAP_AHEAD_DIV of
 * what the consumer was handed). */
static size_t imap_items(const struct hpool__call *c)
{
	size_t k = (c->harvested - c->held) / IMAP_AHEAD_DIV;

	return k > c->imap_min ? k : c->imap_min;
}

/* Issue the next segment. Return: 1 issued, 0 no cell to spare (harvest
 * first), or a negative code. */
static int issue(struct hpool__call *c)
{
	hpool *p = c->pool;
	size_t k = c->n - c->issued;
	struct hpool__win *e;
	struct hpool__seg *s;
	bool inline_run, wcopy;
	int err;

	if (k > c->seg_items)
		k = c->seg_items;
	if (!c->out && k > imap_items(c))
		k = imap_items(c);
	if (c->wcount == c->wcap)
		return 0;
	if (c->ncells) {
		s = c->cells[--c->ncells];
	} else {
		s = hpool__cell_get(p, c->seg_bytes);
		if (!s && c->wcount == 0)
			return hpool__fail(-ENOMEM, "shared arena exhausted: "
					   "a segment of %zu bytes does not "
					   "fit (raise HPOOL_SHM_SIZE)",
					   c->seg_bytes);
		if (!s)
			return 0;
	}
	memset(s, 0, sizeof(*s));
	s->job = c->job;
	s->first = c->issued;
	s->count = (uint32_t)k;
	s->chunk = c->chunk;
	/* A map that reports no progress reads finished only to see a
	 * segment complete: its claimers count once each (claim.c, C6). */
	s->count_late = c->out && !c->progress && !c->bar.on;
	s->spread = 2 * p->nworkers;
	s->cap = (uint32_t)(c->seg_bytes < UINT32_MAX ? c->seg_bytes : 0);
	s->owner = hpool__owner_tag(p);
	s->publisher = hpool__publisher(p);
	s->block = s;
	s->crash_exit = -1;
	memset((void *)s->res, 0, k * sizeof(uint64_t));
	/* Run here, the segment is copied by its caller. */
	inline_run = hpool__runs_here(p);
	wcopy = c->wcopy && !inline_run;
	s->in = c->copy_in ? (char *)s + c->in_off :
			     c->in + c->issued * c->in_size;
	if (c->copy_in && wcopy)
		s->uin = c->in + c->issued * c->in_size;
	else if (c->copy_in)
		memcpy((char *)s + c->in_off, c->in + c->issued * c->in_size,
		       k * c->in_size);
	s->out = c->copy_out ? (char *)s + c->out_off :
			       c->out + c->issued * c->out_size;
	if (c->copy_out && wcopy)
		s->uout = c->out + c->issued * c->out_size;
	if (c->copy_out)
		hpool__guard_set((char *)s + c->guard_off);
	e = &c->win[c->wcount];
	memset(e, 0, sizeof(*e));
	e->seg = s;
	e->first = c->issued;
	e->count = (uint32_t)k;
	e->out = s->out;
	if (!c->ordered && !c->out) { /* unordered imap */
		e->taken = calloc((k + 63) / 64, sizeof(uint64_t));
		if (!e->taken) {
			c->cells[c->ncells++] = s;
			return hpool__fail(-ENOMEM, "out of memory");
		}
	}
	if (inline_run) {
		e->slot = HPOOL__NO_SLOT;
		hpool__seg_run_inline(p, s);
	} else if ((err = hpool__seg_publish(p, s, &e->slot))) {
		free(e->taken);
		c->cells[c->ncells++] = s;
		return err;
	}
	c->wcount++;
	c->issued += k;
	return 1;
}

void hpool__call_abandon(struct hpool__call *c)
{
	hpool *p = c->pool;

	if (!c->wcopy || c->abandoned)
		return;
	c->abandoned = true;
	/* A1, then A2 (claim.c, the touch protocol): after it no worker
	 * touches the caller's arrays. The wait is one memcpy at most. */
	atomic_store_explicit(&c->job->abandoned, 1, memory_order_seq_cst);
	for (unsigned i = 0; i < p->nworkers; i++)
		/* seq_cst: A2 against T1 (claim.c); and it pairs with T4's
		 * release: the copy is over. */
		while (atomic_load_explicit(&p->sh->w[i].touching,
					    memory_order_seq_cst))
			caa_cpu_relax();
}

int hpool__call_fill(struct hpool__call *c)
{
	int e = 1;

	while (c->issued < c->n &&
	       !atomic_load_explicit(&c->pool->terminated,
				     memory_order_relaxed) &&
	       (e = issue(c)) == 1)
		;
	return e < 0 ? e : 0;
}

struct waitarg {
	struct hpool__call *c;
	int i;
	uint32_t seen[WINDOW_SEGS];
};

/* Has an entry's cursor moved (or can it), or did the pool stop? */
static bool call_moved(void *arg)
{
	struct waitarg *a = arg;
	unsigned k;

	if (atomic_load_explicit(&a->c->pool->terminated,
				 memory_order_relaxed))
		return true;
	if (hpool__workers_gone(a->c->pool)) {
		/* Nobody will claim the rest: it fails, as a dead worker's
		 * items do. */
		for (k = 0; k < a->c->wcount; k++)
			hpool__seg_cancel(a->c->win[k].seg,
					  a->c->win[k].count, HPOOL_ECRASH);
		return true;
	}
	for (k = 0; k < a->c->wcount; k++) {
		struct hpool__win *e = &a->c->win[k];

		if (a->i >= 0 && (int)k != a->i)
			continue;
		if (a->c->out) { /* map: one counter, not the res[] lines */
			if (hpool__win_complete(e))
				return true;
			continue;
		}
		hpool__win_scan(e);
		if (e->done != a->seen[k] || e->done == e->count)
			return true;
		/* Unordered: any finished item not handed out counts. */
		if (e->taken && e->done < e->count &&
		    hpool__win_pick(e, false) >= 0)
			return true;
	}
	return false;
}

int hpool__call_wait(struct hpool__call *c, int i, int64_t deadline_ns)
{
	struct waitarg a = { .c = c, .i = i };
	unsigned k;
	struct hpool__want wt = { .prev = hpool__wanting };
	bool moved;
	int why;

	/* Woken only by the window's own segments' finishes; a map
	 * without a progress callback only by their completions (it
	 * harvests whole segments). */
	_Static_assert(WINDOW_SEGS <= HPOOL__WANT_MAX,
		       "a want set holds the whole window");
	for (k = 0; k < c->wcount; k++) {
		a.seen[k] = c->win[k].done;
		if (c->out && !c->progress)
			wt.done_only |= 1u << wt.n;
		wt.w[wt.n++] = &c->win[k].seg->want;
	}
	hpool__wanting = &wt;
	moved = call_moved(&a) ||
		!hpool__pool_wait(c->pool, &c->pool->sh->done, call_moved, &a,
				  deadline_ns);
	hpool__wanting = wt.prev;
	if (moved) {
		why = atomic_load_explicit(&c->pool->terminated,
					   memory_order_relaxed);
		return why;
	}
	return -ETIMEDOUT;
}
