/*
 * Futures: hpool_submit runs one task asynchronously (one region block
 * holds its job, ctx copy, one-item chunk, input and result), hpool_wait
 * collects it, and destroy detaches those nobody waited for.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	if ((e = hpool__open(p, "hpool_submit", fn, ctx, ctx_size, in, in_size,
			     NULL, out_size, 1, NULL, false)))
		return e;
	copy_ctx = hpool__ctx_copied(p, ctx, ctx_size);
	/* One block: job, ctx copy, chunk with one result word, in, out. */
	coff = hpool__align_up(sizeof(*job) + (copy_ctx ? ctx_size : 0), 16);
	ioff = hpool__align_up(coff + sizeof(*ch) + sizeof(uint64_t), 16);
	ooff = hpool__align_up(ioff + in_size, 16);
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
	hpool__job_fill(job, fn, ctx, ctx_size, copy_ctx, in_size, out_size, 0);
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
	if ((e = hpool__dispatch(p, ch)) < 0) {
		fut_unlink(f);
		hpool__shm_free(p->shm, b);
		free(f);
		goto out;
	}
	*fut = f;
out:
	hpool__leave(p);
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
	if (p->fork_gen != hpool__fork_gen())
		return hpool__fail(HPOOL_EFORKED, "hpool_wait: future belongs "
				   "to process %d; this is a forked child",
				   (int)p->sh->owner);
	deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	atomic_fetch_add_explicit(&p->active, 1, memory_order_acq_rel);
	if (hpool__pool_wait(p, &p->sh->done, fut_done, f, deadline)) {
		hpool__leave(p);
		return hpool__fail(-ETIMEDOUT, "hpool_wait: not done within "
				   "%lld ns", (long long)timeout_ns);
	}
	st = hpool__harvest_status(p, f->chunk, 0);
	hpool__chunk_taken_back(p, f->chunk);
	if (st)
		hpool__explain(p, f->chunk, 0, st, "hpool_wait");
	if (out && f->out_size && st != HPOOL_ECANCELED)
		memcpy(out, f->chunk->out, f->out_size);
	fut_unlink(f);
	/* A terminated thread-mode task may still write its block: leave it
	 * to the region, which is then never unmapped. */
	if (atomic_load_explicit(&f->chunk->done, memory_order_acquire)) {
		hpool__wait_slot_released(p, f->chunk);
		hpool__shm_free(p->shm, f->block);
	}
	hpool__leave(p);
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

/* Keep the results of futures nobody waited for, in private memory. */
void hpool__detach_futures(hpool *p)
{
	hpool_future *f, *next;

	for (f = p->futures; f; f = next) {
		next = f->next;
		f->status = hpool__harvest_status(p, f->chunk, 0);
		if (f->out_size && f->status != HPOOL_ECANCELED) {
			f->result = malloc(f->out_size);
			if (f->result)
				memcpy(f->result, f->chunk->out, f->out_size);
		}
		f->pool = NULL;
	}
	p->futures = NULL;
}
