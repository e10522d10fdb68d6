/*
 * How a chunk reaches a worker: into the ring of the live worker with the
 * fewest chunks in flight, or run in the caller when the backend runs
 * tasks inline; and how the caller waits on the pool's events without
 * hanging when the backend's machinery dies.
 */
#include "pool.h"
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

int hpool__backend_pid(const hpool *p)
{
	int pid = 0;

	if (p->wk.ops->pids)
		p->wk.ops->pids(&p->wk, &pid, 1);
	return pid;
}

int hpool__pool_wait(hpool *p, struct hpool__event *ev, hpool__cond_fn cond,
		     void *arg, int64_t deadline_ns)
{
	const int64_t slice = 200000000; /* 200 ms */

	if (!p->wk.ops->lost)
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
		if (p->wk.ops->lost(&p->wk)) {
			int zero = 0;

			if (atomic_compare_exchange_strong(&p->terminated,
							   &zero,
							   HPOOL_ECRASH)) {
				hpool__set_error("the pool's supervisor (pid "
						 "%d) died: its workers died "
						 "with it; unfinished items "
						 "fail", hpool__backend_pid(p));
				hpool__wake_all(p->sh);
			}
			return cond(arg) ? 0 : -ETIMEDOUT;
		}
	}
}

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
		if (hpool__ring_count(p->sh->w[i].ring) <
		    hpool__ring_capacity(p->sh->w[i].ring))
			return true;
	return false;
}

/* A chunk left its call (harvested, or its future completed): it no longer
 * counts against its worker's load. */
void hpool__chunk_taken_back(hpool *p, const struct hpool__chunk *c)
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
			c->slot = hpool__ring_reserved_index(best->ring);
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
		hpool__pool_wait(p, &p->sh->space, has_space, p,
				 hpool__now_ns() + 100000000);
	}
}

int hpool__dispatch(hpool *p, struct hpool__chunk *c)
{
	struct hpool__task t = { c, 0, c->count };

	if (!p->wk.ops->runs_inline)
		return push(p, c, 0, c->count);
	hpool__run_task(NULL, 0, &t, true, NULL);
	hpool__chunk_finish(p->sh, c);
	return 0;
}

/* Has the ring slot that carried ch been released (by its worker, or by
 * the repair after that worker died)? Until then the cell is not the
 * caller's to reuse or free, finished or not. */
static bool slot_released(void *arg)
{
	const struct hpool__chunk *ch = arg;

	/* The consumer's last access to the slot's chunk happens-before a
	 * true answer (ring R2). */
	return !ch->ring || hpool__ring_released(ch->ring, ch->slot);
}

/* Isolated backends only: a worker that cannot die alone releases right
 * after finishing and touches the chunk no more; a dead process worker's
 * slot is released by its repair, which signals space. Returns early if
 * the backend is lost (nobody repairs, nobody touches the rings). */
void hpool__wait_slot_released(hpool *p, struct hpool__chunk *ch)
{
	if (p->wk.ops->isolated && !slot_released(ch))
		hpool__pool_wait(p, &p->sh->space, slot_released, ch, -1);
}
