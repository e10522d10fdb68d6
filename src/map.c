/*
 * The public calls over the call engine: hpool_map (blocks until every
 * item is done) and hpool_imap / hpool_next / hpool_iter_free (a stream of
 * results, ordered or in completion order).
 */
#include "pool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Record the statuses of a finished chunk and copy its results out. */
static void map_harvest(struct hpool__call *c, struct hpool__chunk *ch,
			const hpool_map_opts *o, size_t *first_bad, int *ret)
{
	uint32_t i;

	for (i = 0; i < ch->count; i++) {
		int st = hpool__harvest_status(c->pool, ch, i);

		if (o && o->status)
			o->status[ch->first + i] = st;
		if (st && ch->first + i < *first_bad) {
			*first_bad = ch->first + i;
			/* A task's own code is in status[]; map says ETASK. */
			*ret = st == HPOOL_ECRASH || st == HPOOL_ECANCELED ||
					       st == -ETIMEDOUT ?
				       st : HPOOL_ETASK;
			hpool__explain(c->pool, ch, *first_bad, st, "hpool_map");
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
	struct hpool__call c;

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
	/* Issue, harvest, repeat. After a failed push (stop < 0) or a
	 * terminate, only what is in flight is harvested. */
	while (c.harvested < c.issued || (!stop && c.issued < c.n)) {
		struct hpool__chunk *ch;
		int err;

		if (!stop && (stop = hpool__call_fill(&c)) < 0 && !c.wcount)
			break;
		ch = hpool__call_next_done(&c, -1, &err);
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
	hpool__call_release(&c);
	e = ret;
out:
	hpool__leave(p);
	return e;
}

int hpool_imap(hpool *p, hpool_fn fn, const void *ctx, size_t ctx_size,
	       const void *in, size_t in_size, size_t out_size, size_t n,
	       int ordered, const hpool_map_opts *o, hpool_iter **it)
{
	hpool_iter *r;
	int e;

	if (!it)
		return hpool__fail(-EINVAL, "hpool_imap: it is NULL");
	*it = NULL;
	if ((e = hpool__open(p, "hpool_imap", fn, ctx, ctx_size, in, in_size,
			     NULL, out_size, n, o, false)))
		return e;
	r = calloc(1, sizeof(*r));
	if (!r) {
		e = -ENOMEM;
		goto out;
	}
	if (n && (e = hpool__call_init(&r->c, p, fn, ctx, ctx_size, in, in_size, NULL,
				out_size, n, o, ordered != 0))) {
		hpool__call_release(&r->c);
		free(r);
		goto out;
	}
	r->c.pool = p;
	r->c.n = n;
	if (n) {
		hpool__call_register(&r->c);
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

int hpool_next(hpool_iter *it, size_t *index, void *out, int64_t timeout_ns)
{
	struct hpool__call *c;
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
	if ((e = hpool__enter(c->pool, "hpool_next")))
		return e;
	deadline = timeout_ns < 0 ? -1 : hpool__now_ns() + timeout_ns;
	if (!c->cur || c->cur_pos == c->cur->count) {
		if (c->cur) {
			c->cells[c->ncells++] = c->cur;
			c->cur = NULL;
		}
		if ((e = hpool__call_fill(c)) < 0)
			goto out;
		c->cur = hpool__call_next_done(c, deadline, &err);
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
	st = hpool__harvest_status(c->pool, c->cur, c->cur_pos);
	if (index)
		*index = c->cur->first + c->cur_pos;
	if (out && c->out_size)
		memcpy(out, c->cur->out + (size_t)c->cur_pos * c->out_size,
		       c->out_size);
	if (st)
		hpool__explain(c->pool, c->cur, c->cur->first + c->cur_pos, st,
			"hpool_next");
	c->cur_pos++;
	c->harvested++;
	/* Keep the window full while the consumer works on this result. */
	if (c->cur_pos == c->cur->count) {
		c->cells[c->ncells++] = c->cur;
		c->cur = NULL;
		hpool__call_fill(c);
	}
	e = st;
out:
	hpool__leave(c->pool);
	return e;
}

void hpool_iter_free(hpool_iter *it)
{
	struct hpool__call *c;
	int err;

	if (!it)
		return;
	c = &it->c;
	if (!c->detached) {
		/* Chunks in flight are referenced by the rings: wait. */
		while (c->wcount) {
			struct hpool__chunk *ch = hpool__call_next_done(c, -1, &err);

			if (!ch)
				break;
			c->cells[c->ncells++] = ch;
		}
	}
	hpool__call_release(c);
	free(it);
}
