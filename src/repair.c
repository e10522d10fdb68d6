/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's side of the claim protocol (claim.c, at its top): the
 * repair of a dead worker's claim records, so that every item runs
 * exactly once and only the items in fn fail, and the segments a dead
 * worker published (nested work), cancelled and freed once nobody holds
 * them. Context: the supervisor (or the caller repairing after its
 * supervisor died, restart.c), after the dead process was reaped: the
 * kernel's reaping orders the dead process's stores before these loads.
 */
#include "claim.h"

#include <errno.h>

/* ---- repair (supervisor) ------------------------------------------------ */

bool hpool__claiming_on(const struct hpool__shared *sh,
			const struct hpool__seg *s, unsigned except,
			const pid_t *live)
{
	unsigned i, d;

	for (i = 0; i < sh->nworkers; i++) {
		if (i == except || (live && !live[i]))
			continue;
		for (d = 0; d < HPOOL__RECS; d++) {
			const struct hpool__claim *r = &sh->w[i].rec[d];

			if (atomic_load_explicit(&r->state,
						 memory_order_acquire) ==
				    HPOOL__C_CLAIMING &&
			    atomic_load_explicit(&r->seg,
						 memory_order_relaxed) == s)
				return true;
		}
	}
	return false;
}

static bool is_done(const struct hpool__seg *s, uint32_t i)
{
	/* Pairs with the release store of res[i] by whoever finished it. */
	return atomic_load_explicit(&s->res[i], memory_order_acquire) &
	       HPOOL__RES_DONE;
}

/* Is item i of s inside an OWNED range of some record? */
static bool owned(const struct hpool__shared *sh, const struct hpool__seg *s,
		  uint32_t i)
{
	unsigned k, d;

	for (k = 0; k < sh->nworkers; k++)
		for (d = 0; d < HPOOL__RECS; d++) {
			const struct hpool__claim *r = &sh->w[k].rec[d];

			if (atomic_load_explicit(&r->state,
						 memory_order_acquire) ==
				    HPOOL__C_OWNED &&
			    atomic_load_explicit(&r->seg,
						 memory_order_relaxed) == s &&
			    i >= r->lo && i < r->hi)
				return true;
		}
	return false;
}

/* A CLAIMING record of a dead worker: find the range its C3 may have
 * taken (see the top), below end1 - 1 (hpool__death.claim_end; 0: read it
 * now). Context: no other record was CLAIMING on s after end was read.
 * Owned is asked before done: a range's owner stores its items' res
 * (release) before it leaves OWNED (release), so an item not owned by
 * then is done or unclaimed; asked the other way round, a range that
 * finished between the two questions looked unclaimed. */
static void adopt_orphans(const struct hpool__shared *sh,
			  struct hpool__claim *r, uint32_t end1)
{
	struct hpool__seg *s = atomic_load_explicit(&r->seg,
						    memory_order_relaxed);
	uint32_t end = end1 ? end1 - 1 :
		       atomic_load_explicit(&s->next, memory_order_acquire);
	uint32_t i, a;

	if (end > s->count)
		end = s->count;
	for (i = 0; i < end && (owned(sh, s, i) || is_done(s, i)); i++)
		;
	if (i == end) {
		atomic_store_explicit(&r->state, HPOOL__C_IDLE,
				      memory_order_release);
		return;
	}
	for (a = i; i < end && !owned(sh, s, i) && !is_done(s, i); i++)
		;
	r->lo = a;
	r->hi = i;
	atomic_store_explicit(&r->running, HPOOL__NO_ITEM,
			      memory_order_relaxed);
	atomic_store_explicit(&r->state, HPOOL__C_OWNED, memory_order_release);
}

static void fail_item(struct hpool__seg *s, uint32_t i, int code,
		      const struct hpool__death *d, unsigned worker)
{
	uint64_t flag = 0;

	s->crash_worker = (int32_t)worker;
	s->crash_pid = d->pid;
	s->crash_sig = d->sig;
	s->crash_exit = d->exit_status;
	if (d->collateral) {
		/* Read by the caller after its acquire load of res[i] sees
		 * the flag (the release below orders these stores). */
		flag = HPOOL__RES_COLLATERAL;
		code = HPOOL_ECRASH;
		s->culprit_worker = (int32_t)d->culprit_worker;
		s->culprit_same_job = d->culprit_seg &&
				      d->culprit_seg->job == s->job;
		s->culprit_item = d->culprit_seg ?
			(int64_t)(d->culprit_seg->first + d->culprit_item) : -1;
	}
	/* Pairs with the caller's acquire load of res[i]. */
	atomic_store_explicit(&s->res[i], HPOOL__RES(code) | flag,
			      memory_order_release);
}

/* A record's late count (claim.c, C6) into its segment: the items ran.
 * Bumps failed: a death between the worker's own add and its clearing
 * of late counts them twice. */
static void repair_late(struct hpool__claim *r)
{
	struct hpool__seg *s = atomic_load_explicit(&r->seg,
						    memory_order_relaxed);

	if (r->late && atomic_load_explicit(&r->state, memory_order_relaxed) !=
			       HPOOL__C_IDLE) {
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
		/* Pairs with the caller's acquire load of finished. */
		atomic_fetch_add_explicit(&s->finished, r->late,
					  memory_order_release);
	}
	r->late = 0;
}

void hpool__repair(struct hpool__shared *sh, struct hpool__wctl *w,
		   const struct hpool__death *death)
{
	bool target_found = false;
	unsigned d;

	/* First: a hybrid process's batch is in its first slot, which is
	 * repaired before the others (supervisor and restart.c go in slot
	 * order), so every adoption below sees the batch's true range. */
	hpool__batch_settle(&w->rec[HPOOL__LEVELS]);
	atomic_store_explicit(&w->deadline_ns, 0, memory_order_relaxed);
	/* A timeout kill that hit a later item than the overdue one (the
	 * worker moved on in between) fails nothing: that item runs again. */
	for (d = 0; d < HPOOL__LEVELS && death->kill_seg; d++)
		if (atomic_load_explicit(&w->rec[d].state,
					 memory_order_relaxed) ==
			    HPOOL__C_OWNED &&
		    atomic_load_explicit(&w->rec[d].seg,
					 memory_order_relaxed) ==
			    death->kill_seg &&
		    atomic_load_explicit(&w->rec[d].running,
					 memory_order_relaxed) ==
			    death->kill_item)
			target_found = true;
	for (d = 0; d < HPOOL__RECS; d++) {
		struct hpool__claim *r = &w->rec[d];
		uint32_t st = atomic_load_explicit(&r->state,
						   memory_order_relaxed);
		uint32_t run = atomic_load_explicit(&r->running,
						    memory_order_relaxed);
		struct hpool__seg *s;
		uint32_t i;

		repair_late(r);
		if (st == HPOOL__C_CLAIMING)
			adopt_orphans(sh, r, death->claim_end[d]);
		if (st != HPOOL__C_OWNED)
			continue;
		s = atomic_load_explicit(&r->seg, memory_order_relaxed);
		for (i = r->lo; i < r->hi && is_done(s, i); i++)
			;
		if (i < r->hi && run == i &&
		    (!death->kill_seg || target_found)) {
			bool target = s == death->kill_seg &&
				      i == death->kill_item;

			fail_item(s, i, target ? death->code :
				  death->code == -ETIMEDOUT ? HPOOL_ECRASH :
				  death->code, death, w->index);
			i++;
		}
		/* What the dead worker finished (or we failed) is counted
		 * here: its range never reached the count at its end (or
		 * did, just before it died: then counted twice, which the
		 * caller's check of res[] absorbs, told by failed). */
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->finished, i - r->lo,
					  memory_order_release);
		r->lo = i;
		atomic_store_explicit(&r->running, HPOOL__NO_ITEM,
				      memory_order_relaxed);
		if (i == r->hi)
			atomic_store_explicit(&r->state, HPOOL__C_IDLE,
					      memory_order_release);
	}
	/* The records left OWNED, for the replacement, stay under depth
	 * (shared.h); it lowers depth as it resumes them. */
	for (d = HPOOL__LEVELS; d-- > 1;)
		if (atomic_load_explicit(&w->rec[d].state,
					 memory_order_relaxed) !=
		    HPOOL__C_IDLE)
			break;
	atomic_store_explicit(&w->depth, d, memory_order_relaxed);
	hpool__event_signal(&sh->done);
	hpool__event_signal(&sh->space);
	hpool__event_signal(&sh->work);
}

void hpool__fail_records(struct hpool__shared *sh, struct hpool__wctl *w,
			 int code)
{
	unsigned d;

	for (d = 0; d < HPOOL__RECS; d++) {
		struct hpool__claim *r = &w->rec[d];
		struct hpool__seg *s;
		uint32_t i;

		repair_late(r);
		if (atomic_load_explicit(&r->state, memory_order_relaxed) !=
		    HPOOL__C_OWNED)
			continue;
		s = atomic_load_explicit(&r->seg, memory_order_relaxed);
		for (i = r->lo; i < r->hi; i++)
			if (!is_done(s, i))
				atomic_store_explicit(&s->res[i],
						      HPOOL__RES(code),
						      memory_order_release);
		/* Counts done items again: failed says so. */
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->finished, r->hi - r->lo,
					  memory_order_release);
		atomic_store_explicit(&r->state, HPOOL__C_IDLE,
				      memory_order_release);
	}
	hpool__event_signal(&sh->done);
	hpool__event_signal(&sh->space);
}

/* ---- segments of a dead owner (supervisor) -------------------------------- */

unsigned hpool__orphans_cancel(struct hpool__shared *sh, uint64_t owner,
			       struct hpool__orphan *out, unsigned max)
{
	unsigned j, n = 0;

	for (j = 0; j < HPOOL__SLOTS && n < max; j++) {
		/* Pairs with the publisher's release of the slot. The
		 * supervisor holds no hazard, but a listed segment cannot be
		 * reused while its owner is dead: only the owner unlists
		 * it, and orphans are unlisted here. */
		struct hpool__seg *s = HPOOL__SLOT_SEG(atomic_load_explicit(
			&sh->slot[j], memory_order_acquire));
		uint32_t k;

		if (!s || s->owner != owner)
			continue;
		/* Nobody collects its results: what is unclaimed never
		 * runs (the same RMW a claimer makes). */
		k = atomic_fetch_add_explicit(&s->next, s->count,
					      memory_order_relaxed);
		if (k < s->count) {
			atomic_fetch_add_explicit(&s->failed, 1,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&s->finished, s->count - k,
						  memory_order_release);
		}
		for (; k < s->count; k++)
			atomic_store_explicit(&s->res[k],
					      HPOOL__RES(HPOOL_ECANCELED),
					      memory_order_release);
		out[n].seg = s;
		out[n].job = (void *)s->job == s->block ? NULL : s->job;
		out[n++].slot = j;
	}
	return n;
}

/* Does a record name s? (As the publisher's check in sched.c.) */
static bool named(const struct hpool__shared *sh, const struct hpool__seg *s)
{
	unsigned i, d;

	for (i = 0; i < sh->nworkers; i++)
		for (d = 0; d < HPOOL__RECS; d++)
			/* seq_cst: pairs with the claimer's C1/C2. */
			if (atomic_load_explicit(&sh->w[i].rec[d].state,
						 memory_order_seq_cst) !=
				    HPOOL__C_IDLE &&
			    atomic_load_explicit(&sh->w[i].rec[d].seg,
						 memory_order_relaxed) == s)
				return true;
	return false;
}

bool hpool__orphan_reap(struct hpool__shared *sh,
			struct hpool__orphan *orphans, unsigned n, unsigned i)
{
	struct hpool__orphan *o = &orphans[i];
	struct hpool__seg *s = o->seg;
	uintptr_t mine;
	unsigned k;

	for (k = 0; k < s->count; k++)
		if (!is_done(s, k))
			return false; /* still running somewhere */
	/* Unlist it (unless done before): no new claimer takes it. */
	mine = atomic_load_explicit(&sh->slot[o->slot], memory_order_seq_cst);
	if (HPOOL__SLOT_SEG(mine) == s)
		atomic_compare_exchange_strong_explicit(&sh->slot[o->slot],
							&mine, 0,
							memory_order_seq_cst,
							memory_order_seq_cst);
	if (named(sh, s)) /* a claimer is leaving it: look again later */
		return false;
	for (k = 0; k < n && o->job; k++)
		if (k != i && orphans[k].job == o->job)
			break;
	if (o->job && k == n)
		hpool__shm_free(sh->shm, o->job);
	hpool__shm_free(sh->shm, s->block);
	hpool__event_signal(&sh->space);
	return true;
}
