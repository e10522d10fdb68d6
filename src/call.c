/*
 * The call engine behind hpool_map and hpool_imap. A call issues its items
 * as chunks through a bounded window of chunk cells in the region and
 * harvests finished chunks (copying results out, reusing the cells).
 * Memory is bounded by the window, whatever n is.
 */
#include "pool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CELL_BYTES ((size_t)64 << 10) /* auto chunks stay under this */
#define WINDOW_BYTES ((size_t)16 << 20) /* a call's cells, at most */

/* Say in words why item `index` failed. */
void hpool__explain(const hpool *p, const struct hpool__chunk *c,
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
				 index, hpool__backend_pid(p));
	} else if (st == HPOOL_ECRASH) {
		hpool__set_error("%s: item %zu failed: its worker died", fn,
				 index);
	} else {
		hpool__set_error("%s: item %zu: task returned %d", fn, index,
				 st);
	}
}

static void cell_layout(struct hpool__call *c, size_t items)
{
	size_t res = sizeof(struct hpool__chunk) + items * sizeof(uint64_t);

	c->cell_items = items;
	c->in_off = hpool__align_up(res, 16);
	c->out_off = hpool__align_up(c->in_off + (c->copy_in ? items * c->in_size : 0),
			      16);
	c->cell_bytes = c->out_off + (c->copy_out ? items * c->out_size : 0);
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
	struct hpool__job *job = hpool__shm_alloc(p->shm, bytes);

	if (!job)
		return hpool__fail(-ENOMEM, "shared arena exhausted: the "
				   "call's job block of %zu bytes does not "
				   "fit (raise HPOOL_SHM_SIZE)", bytes);
	hpool__job_fill(job, fn, ctx, ctx_size, copy_ctx, c->in_size, c->out_size,
		 timeout_ns);
	c->job = job;
	return 0;
}

int hpool__call_init(struct hpool__call *c, hpool *p, hpool_fn fn, const void *ctx,
		     size_t ctx_size, const void *in, size_t in_size,
		     void *out, size_t out_size, size_t n,
		     const hpool_map_opts *o, bool ordered)
{
	/* Workers see the caller's private memory only in serial mode: a
	 * thread-mode task abandoned by hpool_terminate may still write its
	 * result after the call returned, so it must write into the region. */
	bool workers = !p->wk.ops->runs_inline;
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
	c->wcap = !workers ? 1 :
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
	if (c->job->timeout_ns && p->wk.ops->poke)
		p->wk.ops->poke(&p->wk);
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
	hpool__wait_slot_released(p, ch);
	hpool__cell_put(p, ch, bytes);
	return false;
}

/* Free what the call holds in the region and in private memory. */
void hpool__call_release(struct hpool__call *c)
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
static int issue(struct hpool__call *c)
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
		hpool__wait_slot_released(p, ch); /* the slot it last went through */
	} else if (c->wcount + (c->cur != NULL) < c->wcap) {
		ch = hpool__cell_get(p, c->cell_bytes);
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
	e = hpool__dispatch(p, ch);
	if (e < 0) {
		c->wcount--;
		c->issued -= k;
		c->cells[c->ncells++] = ch;
		return e;
	}
	return 1;
}

/* Issue chunks until the window is full or the input is all issued. */
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

/* Find a finished chunk in the window: the oldest only when ordered.
 * Return its window index, or -1. */
static int find_done(struct hpool__call *c)
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
	struct hpool__call *c = arg;

	return find_done(c) >= 0 ||
	       atomic_load_explicit(&c->pool->terminated, memory_order_relaxed);
}

/* Take a finished chunk out of the window, waiting up to deadline_ns.
 * Return: the chunk; NULL with *err = -ETIMEDOUT, or HPOOL_ECANCELED when
 * the pool is being terminated (the chunk is then returned as is, with
 * unfinished items to be reported canceled). */
struct hpool__chunk *hpool__call_next_done(struct hpool__call *c, int64_t deadline_ns,
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
		if (hpool__pool_wait(c->pool, &c->pool->sh->done, job_changed, c,
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
	hpool__chunk_taken_back(c->pool, ch);
	return ch;
}

/* Status of item i of a harvested chunk; an unfinished one (the pool
 * stopped) gets the reason the pool stopped. */
int hpool__harvest_status(const hpool *p, const struct hpool__chunk *ch,
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
