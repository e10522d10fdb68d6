/* SPDX-License-Identifier: MIT */
/*
 * Futures: hpool_submit runs one task asynchronously. One region block
 * holds its job, ctx copy, a one-item segment, its input and its result
 * room; the segment is published like a map's, so any free worker runs
 * it. hpool_wait / hpool_wait_any collect, hpool_cancel and
 * hpool_future_free give up, and destroy detaches the futures left.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Handles freed by this thread, kept for its next submits: calloc and
 * free were a seventh of a hot submit->wait's instructions. At thread
 * exit the key's destructor frees them; the main thread's stay
 * reachable from its TLS. */
#define FUT_CACHE 64 /* a sweep frees up to SWEEP_MIN and more at once */
static _Thread_local struct fut_cache {
	hpool_future *f[FUT_CACHE];
	unsigned n;
	bool armed; /* the destructor is registered for this thread */
} fut_cache;
static pthread_key_t fut_cache_key;
static pthread_once_t fut_cache_once = PTHREAD_ONCE_INIT;

static void fut_cache_drop(void *arg)
{
	struct fut_cache *c = arg;

	while (c->n)
		free(c->f[--c->n]);
	/* A later destructor of the thread that frees a future arms the
	 * key again (pthread then runs this once more), or frees it. */
	c->armed = false;
}

static void fut_cache_key_make(void)
{
	if (pthread_key_create(&fut_cache_key, fut_cache_drop))
		fut_cache_key = (pthread_key_t)-1;
}

static hpool_future *fut_new(void)
{
	struct fut_cache *c = &fut_cache;
	hpool_future *f;

	if (!c->n)
		return calloc(1, sizeof(hpool_future));
	f = c->f[--c->n];
	memset(f, 0, sizeof(*f));
	return f;
}

/* Free a handle, or keep it for this thread's next submit. */
static void fut_free(hpool_future *f)
{
	struct fut_cache *c = &fut_cache;

	if (!c->armed) {
		pthread_once(&fut_cache_once, fut_cache_key_make);
		c->armed = fut_cache_key != (pthread_key_t)-1 &&
			   !pthread_setspecific(fut_cache_key, c);
	}
	if (c->armed && c->n < FUT_CACHE)
		c->f[c->n++] = f;
	else
		free(f);
}

/* This thread's list, so that threads submitting at once use different
 * ones. */
static unsigned my_list(void)
{
	return hpool__thread_turn() % HPOOL__FUT_LISTS;
}

/* The pool's lists of futures not yet collected (destroy detaches them). */
static void fut_link(hpool_future *f)
{
	struct hpool__futs *l = &f->pool->futs[f->list = my_list()];

	pthread_mutex_lock(&l->lock);
	f->next = l->head;
	if (f->next)
		f->next->pprev = &f->next;
	f->pprev = &l->head;
	l->head = f;
	pthread_mutex_unlock(&l->lock);
}

/* Context: f's list lock held. */
static void unlink_locked(hpool_future *f)
{
	*f->pprev = f->next;
	if (f->next)
		f->next->pprev = f->pprev;
}

static void fut_unlink(hpool_future *f)
{
	struct hpool__futs *l = &f->pool->futs[f->list];

	pthread_mutex_lock(&l->lock);
	unlink_locked(f);
	pthread_mutex_unlock(&l->lock);
}

/* Give the block back (the task is finished, or will never run). */
static void fut_release(hpool *p, hpool_future *f)
{
	if (hpool__seg_unpublish(p, f->seg, f->slot) &&
	    hpool__fut_finished(f))
		hpool__shm_free(p->shm, f->block);
	/* else a thread-mode task abandoned by terminate may still write
	 * the block: it stays in the region, which is then left mapped. */
}

/* Blocks of at most this many bytes (the arena's small ones) may wait in
 * limbo: a bigger one goes back at once (freeing its pages costs more
 * than the wait), so limbo holds about SWEEP_MIN x 2 KiB of the arena
 * per list, besides tasks given up while they run. */
#define LIMBO_BLOCK 2048
#define SWEEP_MIN 32 /* limbo entries that make a sweep worth its scan */

/* The end of f's handle (collected, or given up): its block goes back
 * now when nothing can hold it (it ran inline), else to limbo. A big
 * block, and a finished task's in a process worker, go back at once,
 * waiting out the hazards (a process worker keeps nothing: one that dies
 * would take its limbo with it). */
static void fut_retire(hpool *p, hpool_future *f)
{
	struct hpool__futs *l = &p->futs[f->list];

	if (f->slot == HPOOL__NO_SLOT ||
	    ((!f->small || p->in_worker) && hpool__fut_finished(f))) {
		fut_unlink(f);
		fut_release(p, f);
		fut_free(f);
		return;
	}
	pthread_mutex_lock(&l->lock);
	unlink_locked(f);
	f->next = l->limbo;
	l->limbo = f;
	atomic_store_explicit(&l->nlimbo, l->nlimbo + 1, memory_order_relaxed);
	pthread_mutex_unlock(&l->lock);
}

int hpool_submit(hpool *p, hpool_fn fn, const void *ctx, size_t ctx_size,
		 const void *in, size_t in_size, size_t out_size,
		 hpool_future **fut)
{
	struct hpool__futs *mine;
	bool copy_ctx;
	size_t soff, ioff, ooff, goff, total;
	struct hpool__seg *s;
	struct hpool__job *job;
	hpool_future *f;
	unsigned slot = HPOOL__NO_SLOT;
	char *b;
	int e;

	if (!fut)
		return hpool__fail(-EINVAL, "hpool_submit: fut is NULL");
	*fut = NULL;
	p = hpool__resolve(p);
	if ((e = hpool__open(p, "hpool_submit", fn, ctx, ctx_size, in, in_size,
			     NULL, out_size, 1, NULL, false)))
		return e;
	/* Amortised: a sweep when limbo grew by SWEEP_MIN since the last
	 * (what a sweep keeps, tasks given up while running, does not make
	 * every submit sweep). Before the publish, not after: the sweep
	 * reads the workers' claim records, which the worker that takes
	 * the task is then writing (a hot submit->wait 10% slower). */
	mine = &p->futs[my_list()];
	if (atomic_load_explicit(&mine->nlimbo, memory_order_relaxed) >=
	    mine->kept + SWEEP_MIN) {
		hpool_future *freed = NULL, *next;

		hpool__limbo_sweep(p, mine, &freed);
		for (; freed; freed = next) {
			next = freed->next;
			fut_free(freed);
		}
	}
	copy_ctx = hpool__ctx_copied(p, ctx, ctx_size);
	/* One block: job, ctx copy, segment with one result word, in, out. */
	soff = hpool__align_up(sizeof(*job) + (copy_ctx ? ctx_size : 0),
			       HPOOL__CACHELINE);
	ioff = hpool__align_up(soff + sizeof(*s) + sizeof(uint64_t), 16);
	ooff = hpool__align_up(ioff + in_size, 16);
	goff = hpool__align_up(ooff + out_size, 8);
	total = goff + HPOOL__GUARD_FUT; /* the guard: pool.h */
	f = fut_new();
	b = f ? hpool__alloc(p, total) : NULL;
	if (!b) {
		if (f)
			fut_free(f);
		e = hpool__fail(-ENOMEM, "hpool_submit: no room for %zu bytes "
				"in the shared arena", total);
		goto out;
	}
	job = (struct hpool__job *)b;
	hpool__job_fill(job, fn, ctx, ctx_size, copy_ctx, in_size, out_size, 0);
	s = (struct hpool__seg *)(b + soff);
	memset(s, 0, sizeof(*s) + sizeof(uint64_t));
	s->job = job;
	s->count = 1;
	s->chunk = 1;
	s->spread = 1;
	s->owner = hpool__owner_tag(p);
	s->publisher = hpool__publisher(p);
	s->block = b;
	s->crash_exit = -1;
	/* The input is copied in every mode (the caller may reuse it at
	 * once), unless it is region memory. */
	s->in = in;
	if (in_size && !hpool__shm_contains(p->shm, in, in_size)) {
		memcpy(b + ioff, in, in_size);
		s->in = b + ioff;
	}
	s->out = b + ooff;
	f->out = b + ooff;
	f->guard = b + goff;
	hpool__guard_set(f->guard);
	f->pool = p;
	f->block = b;
	f->job = job;
	f->seg = s;
	f->out_size = out_size;
	f->small = total <= LIMBO_BLOCK;
	/* The task first; the list destroy walks after, while a worker
	 * runs it. */
	if (hpool__runs_here(p)) {
		hpool__seg_run_inline(p, s);
	} else if ((e = hpool__seg_publish(p, s, &slot)) < 0) {
		hpool__shm_free(p->shm, b);
		fut_free(f);
		goto out;
	}
	f->slot = slot;
	fut_link(f);
	*fut = f;
out:
	hpool__leave(p);
	return e;
}

/* The item's status; -EFAULT when its task wrote past its out item. */
static int fut_status(const hpool *p, const hpool_future *f)
{
	int st = hpool__item_status(p, f->seg, 0);

	return st == 0 && !hpool__guard_ok(f->guard) ? -EFAULT : st;
}

static bool fut_done(void *arg)
{
	hpool_future *f = arg;

	if (!hpool__fut_finished(f) && hpool__workers_gone(f->pool))
		hpool__seg_cancel(f->seg, 1, HPOOL_ECRASH); /* never runs */
	return hpool__fut_finished(f) ||
	       atomic_load_explicit(&f->pool->terminated, memory_order_relaxed);
}

/* A detached future (its pool destroyed): its status and kept result. */
static int collect_detached(hpool_future *f, void *out)
{
	int st = f->status;

	if (out && f->result)
		memcpy(out, f->result, f->out_size);
	free(f->result);
	free(f);
	return st;
}

/* Wait for f's item, woken only by its own segment's finish (its want
 * word), not by every range the pool finishes. Return: as pool_wait. */
static int wait_for(hpool *p, hpool_future *f, int64_t deadline)
{
	struct hpool__want wt = { .w = { &f->seg->want }, .n = 1,
				  .prev = hpool__wanting };
	int e;

	hpool__wanting = &wt;
	e = hpool__pool_wait(p, &p->sh->done, fut_done, f, deadline);
	hpool__wanting = wt.prev;
	return e;
}

int hpool_wait(hpool_future *f, void *out, int64_t timeout_ns)
{
	int64_t deadline;
	hpool *p;
	int st;

	if (!f)
		return hpool__fail(-EINVAL, "hpool_wait: future is NULL");
	if (!f->pool) /* detached by destroy or terminate */
		return collect_detached(f, out);
	p = f->pool;
	if (p->fork_gen != hpool__fork_gen())
		return hpool__fail(HPOOL_EFORKED, "hpool_wait: future belongs "
				   "to process %d; this is a forked child",
				   (int)p->sh->owner);
	deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	hpool__enter_unchecked(p);
	if (wait_for(p, f, deadline)) {
		hpool__leave(p);
		return hpool__fail(-ETIMEDOUT, "hpool_wait: not done within "
				   "%lld ns", (long long)timeout_ns);
	}
	st = fut_status(p, f);
	if (st)
		hpool__explain(p, f->seg, 0, 0, st, "hpool_wait");
	if (out && f->out_size && hpool__fut_finished(f) && st != HPOOL_ECANCELED)
		memcpy(out, f->out, f->out_size);
	/* Terminated: it never runs now (finished: nothing to cancel, and
	 * the RMW on a line the worker wrote is saved). */
	if (!hpool__fut_finished(f))
		hpool__seg_cancel(f->seg, 1, st);
	fut_retire(p, f);
	hpool__leave(p);
	return st;
}

int hpool_ready(const hpool_future *f)
{
	if (!f)
		return 0;
	if (!f->pool)
		return 1;
	return hpool__fut_finished(f);
}

struct any {
	hpool_future *const *futs;
	size_t n;
	size_t found;
};

/* Would hpool_wait on f return at once? */
static bool collectable(const hpool_future *f)
{
	return !f->pool || hpool__fut_finished(f) ||
	       atomic_load_explicit(&f->pool->terminated, memory_order_relaxed);
}

static bool any_done(void *arg)
{
	struct any *a = arg;
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->futs[i] && collectable(a->futs[i])) {
			a->found = i;
			return true;
		}
	return false;
}

int hpool_wait_any(hpool_future *const *futs, size_t n, int64_t timeout_ns,
		   size_t *index)
{
	struct any a = { futs, n, 0 };
	struct hpool__want wt = { .n = 1 };
	int64_t deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	hpool *pool = NULL;
	bool one_pool = true;
	size_t i, live = 0;

	if (!index || (n && !futs))
		return hpool__fail(-EINVAL, "hpool_wait_any: %s is NULL",
				   index ? "futs" : "index");
	for (i = 0; i < n; i++) {
		if (!futs[i])
			continue;
		live++;
		if (pool && futs[i]->pool && pool != futs[i]->pool)
			one_pool = false;
		if (futs[i]->pool)
			pool = futs[i]->pool;
	}
	if (!live)
		return hpool__fail(-EINVAL, "hpool_wait_any: no future among "
				   "the %zu entries", n);
	while (!any_done(&a)) {
		int64_t end = deadline;

		if (deadline >= 0 && hpool__now_ns() >= deadline)
			return hpool__fail(-ETIMEDOUT, "hpool_wait_any: none "
					   "of %zu futures done within %lld "
					   "ns", n, (long long)timeout_ns);
		/* Futures of several pools: one pool's event does not hear
		 * the others, so wait in short slices. */
		if (!one_pool && (end < 0 || end > hpool__now_ns() + 1000000))
			end = hpool__now_ns() + 1000000;
		/* Woken by any finished range of the pool (want_all). */
		wt.w[0] = &pool->sh->want_all;
		wt.prev = hpool__wanting;
		hpool__wanting = &wt;
		hpool__pool_wait(pool, &pool->sh->done, any_done, &a, end);
		hpool__wanting = wt.prev;
	}
	*index = a.found;
	return 0;
}

/* Claim the task before any worker does: it then never runs. */
static bool fut_cancel(hpool_future *f)
{
	uint32_t zero = 0;

	/* The same RMW a claimer makes (claim.c, C3): exactly one wins. */
	if (!atomic_compare_exchange_strong_explicit(&f->seg->next, &zero, 1,
						     memory_order_relaxed,
						     memory_order_relaxed))
		return false;
	/* Pairs with the acquire loads of res[0] (wait, ready, wait_any). */
	atomic_store_explicit(&f->seg->res[0], HPOOL__RES(HPOOL_ECANCELED),
			      memory_order_release);
	atomic_fetch_add_explicit(&f->seg->finished, 1, memory_order_release);
	hpool__event_signal(&f->pool->sh->done);
	return true;
}

int hpool_cancel(hpool_future *f)
{
	if (!f)
		return hpool__fail(-EINVAL, "hpool_cancel: future is NULL");
	if (!f->pool || !fut_cancel(f))
		return hpool__fail(-EBUSY, "hpool_cancel: the task already "
				   "started or finished");
	return 0;
}

void hpool_future_free(hpool_future *f)
{
	hpool *p;

	if (!f)
		return;
	if (!f->pool) {
		free(f->result);
		free(f);
		return;
	}
	p = f->pool;
	fut_cancel(f);
	/* Running: the block is the task's until it finishes; a sweep or
	 * the pool's destroy frees it. */
	fut_retire(p, f);
}

static void detach_list(hpool *p, struct hpool__futs *l)
{
	hpool_future *f, *next;

	/* Nobody will wait for those in limbo: their blocks go with the
	 * region. */
	for (f = l->limbo; f; f = next) {
		next = f->next;
		free(f);
	}
	l->limbo = NULL;
	atomic_store_explicit(&l->nlimbo, 0, memory_order_relaxed);
	for (f = l->head; f; f = next) {
		next = f->next;
		f->status = fut_status(p, f);
		if (f->out_size && hpool__fut_finished(f) &&
		    f->status != HPOOL_ECANCELED) {
			f->result = malloc(f->out_size);
			if (f->result)
				memcpy(f->result, f->out, f->out_size);
		}
		f->pool = NULL;
	}
	l->head = NULL;
}

void hpool__detach_futures(hpool *p)
{
	for (unsigned i = 0; i < HPOOL__FUT_LISTS; i++)
		detach_list(p, &p->futs[i]);
}
