/* SPDX-License-Identifier: MIT */
/*
 * The publisher's side of pull scheduling (claim.c has the claimers'):
 * put a segment where free workers find it, take it back once no claim
 * record names it (at once, or later for collected futures in limbo, a
 * batch at a time), cancel what nobody claimed yet, or run it in the
 * caller when the backend runs tasks inline. And how a caller waits on
 * the pool's events without hanging when the backend's machinery dies.
 */
#include "pool.h"
#include "claim.h"
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int hpool__backend_pid(const hpool *p)
{
	int pid = 0;

	hpool__wk_pids(p, &pid, 1);
	return pid;
}

struct help {
	hpool__cond_fn cond;
	void *arg;
	struct hpool__shared *sh;
};

static bool cond_or_work(void *arg)
{
	struct help *h = arg;

	return h->cond(h->arg) || hpool__work_available(h->sh);
}

/* A worker waiting inside a task of its own pool (nested work): run other
 * published work meanwhile with its next claim record, so that recursion
 * deeper than the worker count cannot deadlock. Return: as pool_wait. */
static int help_wait(hpool *p, struct hpool__event *ev, hpool__cond_fn cond,
		     void *arg, int64_t deadline_ns)
{
	struct hpool__self *me = &hpool__self;
	struct help h = { cond, arg, p->sh };
	struct hpool__want hw;
	unsigned lvl = me->level + 1;

	while (!cond(arg)) {
		int64_t now = hpool__now_ns(), end = now + 1000000;

		if (deadline_ns >= 0 && now >= deadline_ns)
			return -ETIMEDOUT;
		if (atomic_load_explicit(&p->sh->closing,
					 memory_order_relaxed) ==
		    HPOOL__CLOSE_NOW) {
			int zero = 0;

			atomic_compare_exchange_strong(&p->terminated, &zero,
						       HPOOL_ECANCELED);
			return cond(arg) ? 0 : -ETIMEDOUT;
		}
		if (lvl < HPOOL__LEVELS) {
			int64_t dl = atomic_load_explicit(&me->w->deadline_ns,
							  memory_order_relaxed);
			int ran;

			me->level = lvl;
			/* seq_cst, before C1 at this level: a take-back
			 * that reads the old depth (and skips rec[lvl])
			 * comes before our claim's validation, which then
			 * sees its slot changed (shared.h, sched.c). */
			atomic_store_explicit(&me->w->depth, lvl,
					      memory_order_seq_cst);
			ran = hpool__serve(p->sh, me->w, lvl);
			me->level = lvl - 1;
			/* Terminated (-1): rec[lvl] stays as it is, and
			 * depth with it; the loop's top returns. */
			if (ran >= 0)
				atomic_store_explicit(&me->w->depth, lvl - 1,
						      memory_order_relaxed);
			atomic_store_explicit(&me->w->deadline_ns, dl,
					      memory_order_relaxed);
			if (ran)
				continue;
		}
		/* Nothing to help with: wait a little for our condition or
		 * new work (a publisher wakes `done` for want_work; the
		 * slice is a backstop). */
		if (deadline_ns >= 0 && deadline_ns < end)
			end = deadline_ns;
		hw = hpool__wanting ? *hpool__wanting :
				      (struct hpool__want){ .n = 0 };
		hw.prev = hpool__wanting;
		if (hw.n < HPOOL__WANT_MAX)
			hw.w[hw.n++] = &p->sh->want_work;
		else
			hw.w[0] = &p->sh->want_all, hw.n = 1,
			hw.done_only = 0;
		hpool__wanting = &hw;
		hpool__event_wait(ev, cond_or_work, &h, hpool__spin_ns(),
				  end);
		hpool__wanting = hw.prev;
	}
	return 0;
}

int hpool__pool_wait(hpool *p, struct hpool__event *ev, hpool__cond_fn cond,
		     void *arg, int64_t deadline_ns)
{
	const int64_t slice = 200000000; /* 200 ms */

	if (hpool__self.sh == p->sh && hpool__self.w)
		return help_wait(p, ev, cond, arg, deadline_ns);
	if (!p->wk.ops->lost)
		return hpool__event_wait(ev, cond, arg, hpool__spin_ns(),
					 deadline_ns);
	for (;;) {
		int64_t end = hpool__now_ns() + slice;
		int e;

		if (deadline_ns >= 0 && deadline_ns < end)
			end = deadline_ns;
		e = hpool__event_wait(ev, cond, arg, hpool__spin_ns(), end);
		if (!e || end == deadline_ns)
			return e;
		if (hpool__wk_lost(p)) {
			int zero = 0;

			/* A new supervisor takes the rest; only what its
			 * workers were running failed (restart.c). */
			if (!hpool__wk_restart(p))
				continue;

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

/* Is some worker alive (or starting)? */
static bool any_live(const struct hpool__shared *sh);

bool hpool__workers_gone(hpool *p)
{
	return !p->wk.ops->runs_inline && !any_live(p->sh);
}

static bool any_live(const struct hpool__shared *sh)
{
	unsigned i;

	for (i = 0; i < sh->nworkers; i++)
		/* Pairs with the release stores of state (worker, repair). */
		if (atomic_load_explicit(&sh->w[i].state,
					 memory_order_acquire) <
		    HPOOL__W_INIT_FAILED)
			return true;
	return false;
}

static bool slot_free(void *arg)
{
	hpool *p = arg;
	unsigned j;

	if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
		return true;
	for (j = 0; j < HPOOL__SLOTS; j++)
		if (!atomic_load_explicit(&p->sh->slot[j],
					  memory_order_relaxed))
			return true;
	return false;
}

int hpool__seg_publish(hpool *p, struct hpool__seg *s, unsigned *slot)
{
	struct hpool__shared *sh = p->sh;
	/* A task (one item): each thread looks from a base of its own and
	 * takes the first free slot, so concurrent publishers use different
	 * lines, and a thread that submits one task after another reuses
	 * one slot, where idle workers' scans find it first. A map's
	 * segments go round the slots instead: workers scan from the low
	 * end, so they take the older segments first, the ones the caller
	 * harvests first (reusing low slots had workers run a newer
	 * segment while the caller waited for an older one). */
	unsigned hint = s->count == 1 ?
				hpool__thread_turn() * 8 % HPOOL__SLOTS :
				atomic_fetch_add_explicit(&p->slot_hint, 1,
							  memory_order_relaxed);
	bool swept = false;

	for (;;) {
		unsigned i;

		if (!any_live(sh))
			return hpool__fail(HPOOL_ECLOSED, "no live worker: "
					   "every worker's init failed or "
					   "crashed");
		if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
			return HPOOL_ECLOSED;
		for (i = 0; i < HPOOL__SLOTS; i++) {
			unsigned j = (hint + i) % HPOOL__SLOTS;
			uintptr_t none = 0;

			/* Release: the segment's fields before its pointer
			 * (pairs with the acquire in hpool__seg_find and the
			 * claimer's validation). */
			if (atomic_compare_exchange_strong_explicit(
				    &sh->slot[j], &none,
				    (uintptr_t)s | HPOOL__SLOT_OPEN,
				    memory_order_release,
				    memory_order_relaxed)) {
				atomic_store_explicit(&sh->slot_pub[j],
						      s->publisher,
						      memory_order_relaxed);
				*slot = j;
				/* One full fence (C1 before L2, wait.c) for
				 * both: idle workers, and workers asleep in a
				 * nested wait, which take new work too. Idle
				 * workers: one per item at most (a woken
				 * worker takes an item or finds it taken, so
				 * none is left unseen), not every sleeper for
				 * one task. */
				atomic_thread_fence(memory_order_seq_cst);
				hpool__event_wake(&sh->work,
						  s->count < INT_MAX ?
							  (int)s->count :
							  INT_MAX);
				hpool__event_wake_if(&sh->done,
						     &sh->want_work,
						     &sh->want_work, true);
				return 0;
			}
		}
		/* Every slot holds work. Collected futures may still hold
		 * some (canceled tasks in limbo that no worker passed by):
		 * take those back first. Then a wait, never a
		 * failure. */
		if (!swept) {
			swept = true;
			hpool__futs_sweep(p);
			continue;
		}
		hpool__pool_wait(p, &sh->space, slot_free, p,
				 hpool__now_ns() + 100000000);
	}
}

/* The record level a take-back looks at after d, for a worker whose depth
 * is top: 0..top, then the batch record; HPOOL__RECS ends. */
static unsigned next_level(unsigned d, unsigned top)
{
	return d < top ? d + 1 : d < HPOOL__LEVELS ? HPOOL__LEVELS :
						     HPOOL__RECS;
}

/* named[k]: does a claim record of any worker name segs[k] (a hazard)?
 * One scan for all n. A worker's records above its depth are IDLE
 * (shared.h), so only rec[0..depth] and the batch record are read: two
 * lines a worker, not 41, when nothing nests. */
static void hazards(struct hpool__shared *sh,
		    const struct hpool__seg *const *segs, unsigned n,
		    bool *named)
{
	unsigned i, d, k, top, nread = 0;

	for (k = 0; k < n; k++)
		named[k] = false;
	for (i = 0; i < sh->nworkers; i++) {
		const struct hpool__wctl *w = &sh->w[i];

		/* seq_cst, after our unlisting: a depth read before a
		 * claimer raised it comes before that claimer's C1 and
		 * C2, so its C2 sees the slot changed (shared.h). */
		top = atomic_load_explicit(&w->depth, memory_order_seq_cst);
		if (top >= HPOOL__LEVELS)
			top = HPOOL__LEVELS - 1;
		for (d = 0; d < HPOOL__RECS; d = next_level(d, top)) {
			const struct hpool__claim *r = &w->rec[d];
			const struct hpool__seg *s;

			nread++;
			/* seq_cst: pairs with the claimer's seq_cst store
			 * of CLAIMING before it validates the slot
			 * (claim.c, C1-C2), after our seq_cst store of
			 * NULL. */
			if (atomic_load_explicit(&r->state,
						 memory_order_seq_cst) ==
			    HPOOL__C_IDLE)
				continue;
			s = atomic_load_explicit(&r->seg, memory_order_relaxed);
			for (k = 0; k < n; k++)
				if (segs[k] == s)
					named[k] = true;
		}
	}
#ifdef HPOOL_TESTING
	atomic_fetch_add_explicit(&sh->hazard_scans, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sh->hazard_recs, nread,
				  memory_order_relaxed);
#else
	(void)nread;
#endif
}

static bool hazard(struct hpool__shared *sh, const struct hpool__seg *s)
{
	bool named;

	hazards(sh, &s, 1, &named);
	return named;
}

struct unpub {
	hpool *p;
	const struct hpool__seg *s;
};

static bool hazard_clear(void *arg)
{
	struct unpub *u = arg;

	return !hazard(u->p->sh, u->s) ||
	       atomic_load_explicit(&u->p->terminated, memory_order_relaxed);
}

/* Unlist s from its slot, unless a claimer did when it found it
 * exhausted (the slot may then hold someone else's segment already: hence
 * the CAS), then order that before a scan of the claim records. The load
 * is seq_cst: when it reads a claimer's unlisting, that store precedes
 * the scan in the single total order all the same. A plain load first,
 * since a failed CAS would still take the line from the workers. */
static void unlist_own(hpool *p, const struct hpool__seg *s, unsigned slot)
{
	uintptr_t w = (uintptr_t)s | HPOOL__SLOT_OPEN;

	if (atomic_load_explicit(&p->sh->slot[slot], memory_order_seq_cst) ==
		    w &&
	    atomic_compare_exchange_strong_explicit(&p->sh->slot[slot], &w, 0,
						    memory_order_seq_cst,
						    memory_order_seq_cst))
		hpool__event_signal(&p->sh->space); /* a slot is free */
	atomic_thread_fence(memory_order_seq_cst);
}

bool hpool__seg_unpublish(hpool *p, struct hpool__seg *s, unsigned slot)
{
	struct unpub u = { p, s };

	/* Never listed: no claimer can name it (they find segments only in
	 * the slots). */
	if (slot == HPOOL__NO_SLOT)
		return true;
	unlist_own(p, s, slot);
	if (hazard_clear(&u) && !hazard(p->sh, s))
		return true;
	hpool__pool_wait(p, &p->sh->space, hazard_clear, &u, -1);
	/* After a terminate, a thread-mode task that would not stop may
	 * still hold it: the caller then keeps the block. */
	return !hazard(p->sh, s);
}

/* The same for n listed segments at once, without waiting: clear[k]
 * tells whether segs[k]'s block is the caller's again (one scan of the
 * claim records for all n). Those not clear are unlisted, so they only
 * wait for claimers that already hold them. */
static void unpublish_some(hpool *p, const struct hpool__seg *const *segs,
			   const unsigned *slots, unsigned n, bool *clear)
{
	unsigned k;

	for (k = 0; k < n; k++)
		unlist_own(p, segs[k], slots[k]);
	hazards(p->sh, segs, n, clear);
	for (k = 0; k < n; k++)
		clear[k] = !clear[k];
}

#define SWEEP_BATCH 32 /* segments checked per scan of the records */

/* Free the blocks of fs[0..n) that are clear and push their handles on
 * *freed, or free them when freed is NULL; push the rest on *keep.
 * Context: their list's lock. */
static unsigned sweep_batch(hpool *p, hpool_future **fs, unsigned n,
			    hpool_future **keep, hpool_future **freed)
{
	const struct hpool__seg *segs[SWEEP_BATCH] = { 0 };
	unsigned slots[SWEEP_BATCH] = { 0 }, i, kept = 0;
	bool clear[SWEEP_BATCH];

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		segs[i] = fs[i]->seg;
		slots[i] = fs[i]->slot; /* published: NO_SLOT never waits
					   in limbo (future.c, fut_retire) */
	}
	unpublish_some(p, segs, slots, n, clear);
	for (i = 0; i < n; i++) {
		if (clear[i]) {
			hpool__shm_free(p->shm, fs[i]->block);
			if (freed) {
				fs[i]->next = *freed;
				*freed = fs[i];
			} else {
				free(fs[i]);
			}
			continue;
		}
		fs[i]->next = *keep;
		*keep = fs[i];
		kept++;
	}
	return kept;
}

void hpool__limbo_sweep(hpool *p, struct hpool__futs *l,
			hpool_future **freed)
{
	hpool_future *f, *next, *keep = NULL, *fs[SWEEP_BATCH];
	unsigned n = 0, kept = 0;

	pthread_mutex_lock(&l->lock);
	for (f = l->limbo; f; f = next) {
		next = f->next;
		if (!hpool__fut_finished(f)) { /* given up while it runs */
			f->next = keep;
			keep = f;
			kept++;
			continue;
		}
		fs[n++] = f;
		if (n == SWEEP_BATCH) {
			kept += sweep_batch(p, fs, n, &keep, freed);
			n = 0;
		}
	}
	kept += sweep_batch(p, fs, n, &keep, freed);
	l->limbo = keep;
	l->kept = kept;
	atomic_store_explicit(&l->nlimbo, kept, memory_order_relaxed);
	pthread_mutex_unlock(&l->lock);
}

void hpool__futs_sweep(hpool *p)
{
	for (unsigned i = 0; i < HPOOL__FUT_LISTS; i++)
		if (atomic_load_explicit(&p->futs[i].nlimbo,
					 memory_order_relaxed))
			hpool__limbo_sweep(p, &p->futs[i], NULL);
}

unsigned hpool__thread_turn(void)
{
	static _Atomic unsigned next;
	static _Thread_local unsigned mine = UINT_MAX;

	if (mine == UINT_MAX)
		mine = atomic_fetch_add_explicit(&next, 1,
						 memory_order_relaxed);
	return mine;
}

void hpool__seg_cancel(struct hpool__seg *s, uint32_t count, int code)
{
	/* Claim everything left, as a claimer would: nobody runs it. */
	uint32_t k = atomic_fetch_add_explicit(&s->next, count,
					       memory_order_relaxed);

	for (uint32_t i = k; i < count; i++)
		/* Pairs with the caller's acquire load of res. */
		atomic_store_explicit(&s->res[i], HPOOL__RES(code),
				      memory_order_release);
	if (k < count) {
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->finished, count - k,
					  memory_order_release);
	}
}

bool hpool__runs_here(const hpool *p)
{
	/* A task at a worker's last claim level cannot help while it
	 * waits (help_wait has no record left). Were every worker there,
	 * waiting for work published from there, nobody could run it: a
	 * chain of nested waits longer than workers x levels deadlocked.
	 * What such a task issues runs at once, in it (a task cutoff, like
	 * an OpenMP task that is not deferred). */
	return p->wk.ops->runs_inline ||
	       (hpool__self.sh == p->sh && hpool__self.w &&
		hpool__self.level + 1 >= HPOOL__LEVELS);
}

void hpool__seg_run_inline(hpool *p, struct hpool__seg *s)
{
	const struct hpool__job *job = s->job;
	const hpool *prev;
	uint32_t i;

	for (i = 0; i < s->count; i++) {
		int64_t start = job->timeout_ns ? hpool__now_ns() : 0;
		int st;

		/* Terminate stops between tasks. */
		if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
			break;
		prev = hpool__inline_task;
		hpool__inline_task = p; /* destroy from the task: -EDEADLK */
		st = job->fn(s->out + (size_t)i * job->out_size,
			     s->in + (size_t)i * job->in_size, job->ctx);
		hpool__inline_task = prev;
		/* The caller cannot stop its own task: an overdue one is
		 * reported when it returns. */
		if (job->timeout_ns && hpool__now_ns() - start > job->timeout_ns)
			st = -ETIMEDOUT;
		if (st)
			atomic_fetch_add_explicit(&s->failed, 1,
						  memory_order_relaxed);
		atomic_store_explicit(&s->res[i], HPOOL__RES(st),
				      memory_order_release);
	}
	if (i < s->count)
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
	for (; i < s->count; i++) /* terminated: the rest never runs */
		atomic_store_explicit(&s->res[i],
				      HPOOL__RES(HPOOL_ECANCELED),
				      memory_order_release);
	atomic_store_explicit(&s->next, s->count, memory_order_relaxed);
	atomic_store_explicit(&s->finished, s->count, memory_order_release);
}
