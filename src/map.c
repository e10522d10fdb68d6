/* SPDX-License-Identifier: MIT */
/*
 * The public calls over the call engine: hpool_map (blocks until every
 * item is done) and hpool_imap / hpool_next / hpool_iter_free (a stream of
 * results, in input order or in completion order).
 */
#include "pool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct verdict {
	size_t first_bad; /* index of the first failed item, or SIZE_MAX */
	int ret;          /* what hpool_map returns */
};

/* One item's status into the verdict and opts->status: item `index`, the
 * j-th of segment s (NULL: never issued). */
static void judge(struct hpool__call *c, const struct hpool__seg *s,
		  size_t index, uint32_t j, int st, struct verdict *v)
{
	if (c->status)
		c->status[index] = st;
	if (st && index < v->first_bad) {
		v->first_bad = index;
		/* A task's own code is in status[]; map says ETASK. */
		v->ret = st == HPOOL_ECRASH || st == HPOOL_ECANCELED ||
				 st == -ETIMEDOUT || st == HPOOL_ECLOSED ||
				 st == -EFAULT ?
			 st : HPOOL_ETASK;
		if (s)
			hpool__explain(c->pool, s, index, j, st, "hpool_map");
	}
}

/* Record the statuses of window entry k (complete: hpool__win_complete
 * said so; else the pool stopped), copy its results out, give it back. */
static void harvest(struct hpool__call *c, unsigned k, bool complete,
		    struct verdict *v)
{
	struct hpool__win *e = &c->win[k];
	struct hpool__seg *s = e->seg;
	/* The workers copied the results out of a published segment (one
	 * run inline, the caller copies), unless the call was abandoned:
	 * then only the caller copies (hpool__call_abandon). */
	bool copied = c->wcopy && e->slot != HPOOL__NO_SLOT && !c->abandoned;
	uint32_t i;
	bool all = true;

	/* Exact counts (hpool__seg.failed): when every item finished with
	 * status 0, no res[] line is read, and a status array gets zeros in
	 * one memset (an MPI server asks for statuses on every batch: item
	 * by item they were 10% of its time). Only after
	 * hpool__win_complete's acquire of finished (the stop path harvests
	 * unfinished entries), which orders the failed adds before it. */
	if (complete &&
	    !atomic_load_explicit(&s->failed, memory_order_relaxed)) {
		if (c->status)
			memset(c->status + e->first, 0,
			       (size_t)e->count * sizeof(*c->status));
		i = e->count;
	} else {
		i = 0;
	}
	for (; i < e->count; i++) {
		/* Pairs with the release store of res[i]; the common case
		 * (done, status 0, no status array) costs one load. */
		uint64_t r = atomic_load_explicit(&s->res[i],
						  memory_order_acquire);

		if (r == HPOOL__RES(0) && !c->status)
			continue;
		all = all && (r & HPOOL__RES_DONE);
		judge(c, s, e->first + i, i, hpool__item_status(c->pool, s, i),
		      v);
	}
	/* After the acquires: an overrun written before a res[] store is
	 * seen here. */
	if (!hpool__win_guard_ok(c, e)) {
		for (i = 0; i < e->count; i++)
			judge(c, s, e->first + i, i, -EFAULT, v);
	} else if (c->copy_out && !copied && all) {
		memcpy(c->out + e->first * c->out_size, e->out,
		       (size_t)e->count * c->out_size);
	} else if (c->copy_out && !copied) {
		/* The pool stopped: only what finished is copied (a task
		 * that was abandoned may still be writing the rest). */
		for (i = 0; i < e->count; i++)
			if (atomic_load_explicit(&s->res[i],
						 memory_order_acquire) &
			    HPOOL__RES_DONE)
				memcpy(c->out + (e->first + i) * c->out_size,
				       e->out + (size_t)i * c->out_size,
				       c->out_size);
	}
	c->harvested += e->count;
	hpool__win_retire(c, k);
}

/* Items finished so far (harvested, or counted in the window). */
static size_t finished(const struct hpool__call *c)
{
	size_t d = c->harvested;
	unsigned k;

	for (k = 0; k < c->wcount; k++) {
		/* Pairs with the release adds of finished. */
		uint32_t f = atomic_load_explicit(&c->win[k].seg->finished,
						  memory_order_acquire);

		d += f < c->win[k].count ? f : c->win[k].count;
	}
	return d;
}

int hpool_map(hpool *p, hpool_fn fn, const void *ctx, size_t ctx_size,
	      const void *in, size_t in_size, void *out, size_t out_size,
	      size_t n, const hpool_map_opts *o)
{
	struct verdict v = { SIZE_MAX, 0 };
	size_t reported = 0, i;
	int e, stop = 0;
	struct hpool__call c;

	p = hpool__resolve(p);
	if ((e = hpool__open(p, "hpool_map", fn, ctx, ctx_size, in, in_size,
			     out, out_size, n, o, true)))
		return e;
	if (n == 0)
		goto out;
	if ((e = hpool__call_init(&c, p, fn, ctx, ctx_size, in, in_size, out,
				  out_size, n, o, false))) {
		hpool__call_release(&c);
		goto out;
	}
	hpool__call_register(&c);
	hpool__bar_start(&c.bar, p->progress, n);
	/* Issue, harvest what finished, repeat. After a failed publish or a
	 * terminate, only what is in flight is harvested. */
	for (;;) {
		unsigned k;
		bool any = false;

		if (!stop && (e = hpool__call_fill(&c)) < 0)
			stop = e;
		for (k = 0; k < c.wcount; k++)
			if (hpool__win_complete(&c.win[k])) {
				harvest(&c, k--, true, &v);
				any = true;
			}
		if (c.progress && finished(&c) > reported) {
			reported = finished(&c);
			hpool__progress(p, c.progress, reported, n,
					c.progress_arg);
		}
		hpool__bar_update(&c.bar, finished(&c));
		if (!c.wcount && (stop || c.issued == n))
			break;
		if (any)
			continue;
		/* With the bar on, wake to redraw it. */
		e = hpool__call_wait(&c, -1, hpool__bar_deadline(&c.bar));
		if (e == -ETIMEDOUT)
			continue;
		if (e && !stop)
			stop = e;
		if (stop) { /* the pool stopped: harvest as it is */
			hpool__call_abandon(&c);
			while (c.wcount)
				harvest(&c, 0, false, &v);
		}
	}
	if (!stop)
		stop = atomic_load_explicit(&p->terminated, memory_order_relaxed);
	/* Items never issued (terminate, or no worker left) get the reason. */
	for (i = c.issued; i < n; i++)
		judge(&c, NULL, i, 0, stop, &v);
	hpool__bar_end(&c.bar, n);
	if (v.first_bad >= c.issued && v.first_bad < n)
		hpool__set_error("hpool_map: item %zu and later were not run: "
				 "%s", v.first_bad, hpool_strerror(stop));
	hpool__call_release(&c);
	e = v.ret;
out:
	hpool__leave(p);
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
	p = hpool__resolve(p);
	if ((e = hpool__open(p, "hpool_imap", fn, ctx, ctx_size, in, in_size,
			     NULL, out_size, n, o, false)))
		return e;
	r = calloc(1, sizeof(*r));
	if (!r) {
		e = hpool__fail(-ENOMEM, "hpool_imap: out of memory");
		goto out;
	}
	if (n && (e = hpool__call_init(&r->c, p, fn, ctx, ctx_size, in,
				       in_size, NULL, out_size, n, o,
				       ordered != 0))) {
		hpool__call_release(&r->c);
		free(r);
		goto out;
	}
	r->c.pool = p;
	r->c.n = n;
	if (n) {
		hpool__call_register(&r->c);
		hpool__bar_start(&r->c.bar, p->progress, n);
		if ((e = hpool__call_fill(&r->c)) < 0) {
			hpool_iter_free(r);
			goto out;
		}
	} else {
		r->c.detached = true; /* nothing to do, nothing held */
	}
	*it = r;
out:
	hpool__leave(p);
	return e;
}

/* A finished item of window entry e not handed out yet, or -1; with
 * `stopped` (the pool stopped), any item not handed out yet. */
static long pick(struct hpool__win *e, bool stopped)
{
	if (e->taken) /* unordered */
		return hpool__win_pick(e, stopped);
	hpool__win_scan(e);
	return e->handed < e->done || stopped ? (long)e->handed : -1;
}

/* After the pool was destroyed or terminated: the items not handed out
 * yet, each as HPOOL_ECANCELED, then HPOOL_DONE. */
static int next_detached(struct hpool__call *c, size_t *index)
{
	size_t i;

	while (c->wcount) {
		struct hpool__win *e = &c->win[0];
		uint32_t j;

		/* Not the region: a destroyed pool's is unmapped. */
		for (j = e->taken ? e->low : e->handed; j < e->count; j++)
			if (!e->taken || !(e->taken[j / 64] >> (j % 64) & 1))
				break;
		if (j < e->count) {
			if (e->taken) {
				e->taken[j / 64] |= (uint64_t)1 << (j % 64);
				e->low = j + 1; /* [low, j) were taken */
			}
			e->handed = e->taken ? e->handed + 1 : j + 1;
			i = e->first + j;
			goto hand;
		}
		free(e->taken);
		memmove(&c->win[0], &c->win[1],
			(c->wcount - 1) * sizeof(*c->win));
		c->wcount--;
	}
	if (c->issued == c->n)
		return HPOOL_DONE;
	i = c->issued++;
hand:
	c->harvested++;
	if (index)
		*index = i;
	if (c->status)
		c->status[i] = HPOOL_ECANCELED;
	hpool__set_error("hpool_next: item %zu canceled: the pool was "
			 "terminated or destroyed", i);
	return HPOOL_ECANCELED;
}

/* The ready run (hpool_iter.rd): at most READY_MAX items or READY_BYTES
 * of results, handed out without entering the pool: entering and
 * leaving for each item was half of an item's 34 ns in a stream of small
 * ones. Only without a progress callback: a terminate from a callback
 * leaves the pool to be freed by the last call out of it (lifecycle.c),
 * so the callback must run inside an entered hpool_next. */
#define READY_MAX 256
#define READY_BYTES ((size_t)16 << 10)

/* Hand out the next ready item. Context: it->rd.next < it->rd.n. */
static int ready_pop(hpool_iter *it, size_t *index, void *out)
{
	struct hpool__call *c = &it->c;
	unsigned i = it->rd.next++;
	size_t idx = it->rd.idx[i];

	if (index)
		*index = idx;
	if (out && c->out_size)
		memcpy(out, it->rd.out + (size_t)i * c->out_size, c->out_size);
	if (c->status)
		c->status[idx] = 0;
	c->held = it->rd.n - it->rd.next;
	/* harvested counts the run: less what is still to hand out. */
	hpool__bar_update(&c->bar, c->harvested - c->held);
	if (c->harvested == c->n && it->rd.next == it->rd.n)
		hpool__bar_end(&c->bar, c->n);
	return 0;
}

/* Item j of entry w finished with status 0 and its guard held: move it,
 * and the finished items after it with status 0 (ordered: the run up to
 * the finished prefix's end; unordered: what hpool__win_pick finds),
 * into the ready run. Return: false (nothing moved) when the run has no
 * room to spare (cap < 2, or no memory for it). */
static bool take_run(hpool_iter *it, struct hpool__win *w, long j)
{
	struct hpool__call *c = &it->c;
	size_t sz = c->out_size;
	unsigned n = 0;

	if (!it->rd.cap) {
		size_t cap = sz ? READY_BYTES / sz : READY_MAX;

		cap = cap > READY_MAX ? READY_MAX : cap;
		if (cap < 2)
			return false;
		it->rd.idx = malloc(cap * sizeof(*it->rd.idx));
		it->rd.out = sz ? malloc(cap * sz) : NULL;
		if (!it->rd.idx || (sz && !it->rd.out)) {
			free(it->rd.idx);
			free(it->rd.out);
			it->rd.idx = NULL;
			it->rd.out = NULL;
			return false;
		}
		it->rd.cap = (unsigned)cap;
	}
	do {
		if (sz)
			memcpy(it->rd.out + (size_t)n * sz,
			       w->out + (size_t)j * sz, sz);
		it->rd.idx[n++] = w->first + (size_t)j;
		if (w->taken)
			w->taken[j / 64] |= (uint64_t)1 << (j % 64);
		w->handed++;
		if (n == it->rd.cap)
			break;
		j = pick(w, false);
		/* Pairs with the release store of res[j]: its result is
		 * visible. Anything but a success stays for the slow path,
		 * which explains it. */
	} while (j >= 0 && atomic_load_explicit(&w->seg->res[j],
						memory_order_acquire) ==
				   HPOOL__RES(0));
	c->harvested += n;
	c->held = n;
	it->rd.n = n;
	it->rd.next = 0;
	return true;
}

int hpool_next(hpool_iter *it, size_t *index, void *out, int64_t timeout_ns)
{
	struct hpool__call *c;
	bool stopped = false;
	int64_t deadline;
	int st, e;

	if (!it)
		return hpool__fail(-EINVAL, "hpool_next: iterator is NULL");
	c = &it->c;
	/* SIZE_MAX until a result is handed out: tells "nothing arrived in
	 * time" from an item whose own status is -ETIMEDOUT. */
	if (index)
		*index = SIZE_MAX;
	if (it->rd.next < it->rd.n)
		return ready_pop(it, index, out);
	if (c->harvested == c->n)
		return HPOOL_DONE;
	if (c->detached)
		return next_detached(c, index);
	if ((e = hpool__enter(c->pool, "hpool_next")))
		return e == HPOOL_ECLOSED && c->pool->magic == HPOOL__POOL_LIVE ?
			       next_detached(c, index) : e;
	deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	for (;;) {
		unsigned k;
		long j = -1;

		if ((e = hpool__call_fill(c)) < 0)
			goto out;
		for (k = 0; k < c->wcount && j < 0; k++)
			if ((j = pick(&c->win[k], stopped)) >= 0 || c->ordered)
				break;
		if (j >= 0) {
			struct hpool__win *w = &c->win[k];

			st = hpool__item_status(c->pool, w->seg, (uint32_t)j);
			if (!hpool__win_guard_ok(c, w))
				st = -EFAULT;
			if (!st && !stopped && !c->progress &&
			    take_run(it, w, j)) {
				if (w->handed == w->count)
					hpool__win_retire(c, k);
				hpool__call_fill(c);
				e = ready_pop(it, index, out);
				goto out;
			}
			if (index)
				*index = w->first + (size_t)j;
			if (out && c->out_size)
				memcpy(out, w->out + (size_t)j *
					       c->out_size, c->out_size);
			if (c->status)
				c->status[w->first + (size_t)j] = st;
			if (st)
				hpool__explain(c->pool, w->seg,
					       w->first + (size_t)j,
					       (uint32_t)j, st, "hpool_next");
			if (w->taken)
				w->taken[j / 64] |= (uint64_t)1 << (j % 64);
			w->handed++;
			c->harvested++;
			if (w->handed == w->count)
				hpool__win_retire(c, k);
			/* Keep the window full while the consumer works. */
			hpool__call_fill(c);
			if (c->progress)
				hpool__progress(c->pool, c->progress,
						c->harvested, c->n,
						c->progress_arg);
			hpool__bar_update(&c->bar, c->harvested);
			if (c->harvested == c->n)
				hpool__bar_end(&c->bar, c->n);
			e = st;
			goto out;
		}
		e = hpool__call_wait(c, c->ordered ? 0 : -1, deadline);
		if (e == -ETIMEDOUT) {
			e = hpool__fail(-ETIMEDOUT, "hpool_next: no result "
					"within %lld ns",
					(long long)timeout_ns);
			goto out;
		}
		if (e) { /* stopped: what is left is handed out as it is */
			if (!c->wcount) {
				e = next_detached(c, index);
				goto out;
			}
			stopped = true;
		}
	}
out:
	hpool__leave(c->pool);
	return e;
}

void hpool_iter_free(hpool_iter *it)
{
	if (!it)
		return;
	/* In-flight segments: nothing unclaimed runs, what runs is waited
	 * for (hpool__win_retire) and dropped. */
	hpool__call_release(&it->c);
	free(it->rd.idx);
	free(it->rd.out);
	free(it);
}
