/* SPDX-License-Identifier: MIT */
/*
 * Pull scheduling: workers claim ranges of items from published segments;
 * and the protocol that keeps every item exactly once when a worker dies
 * (the repair itself, the supervisor's side, is repair.c).
 *
 * A segment (struct hpool__seg) holds `count` items of one job. Whoever
 * issues work (a caller thread, or a task: nested work) publishes the
 * segment in a free slot of hpool__shared.slot; free workers find it there
 * and claim ranges [k, k + c) by moving its counter `next`; nobody binds
 * work to a worker when it is issued.
 *
 * Who writes what
 *   slot[j]        the publisher: CAS 0 -> seg|OPEN; then whoever first
 *                  sees the segment exhausted (a claimer) or takes it back
 *                  (the publisher, the supervisor for an orphan): CAS
 *                  seg|OPEN -> 0. Unlisting frees the slot at once; the
 *                  segment's memory waits for the hazard check.
 *   seg->next      claimers (an atomic RMW; only grows); a publisher that
 *                  cancels what is left moves it to count.
 *   seg->res[i]    whoever finishes item i, once: the worker that ran it,
 *                  the supervisor (repair), or the publisher (cancel).
 *   w->rec[d]      worker w only; the supervisor after w was reaped.
 *
 * A claim, by worker w at level d (record r = &w->rec[d]; w->depth >= d
 * already, raised seq_cst before C1 when d is new: shared.h):
 *   C1  r->seg = S, r->slot = j, r->state = CLAIMING        (seq_cst)
 *   C2  re-load slot[j]: not S any more -> r->state = IDLE, look again
 *       (seq_cst; pairs with the publisher's seq_cst store of NULL in
 *       hpool__seg_unpublish: either this load sees NULL, or the
 *       publisher's scan of the records sees the hazard of C1)
 *   C3  k = RMW(S->next) taking c items                 [CLAIM_TAKEN]
 *   C4  r->lo = k, r->hi = min(k + c, count), r->state = OWNED
 *                                                        [CLAIM_OWNED]
 *   C5  per item i: r->running = i [ITEM_STARTED], fn [ITEM_RAN],
 *       res[i] = DONE | status (release; pairs with the caller's acquire
 *       load of res) [ITEM_STORED]
 *   C6  the range's count: r->late += hi - lo, and r->late goes into
 *       S->finished (release) at once [LATE_COUNTED]; or, on a segment
 *       with count_late, once, when C3 finds S exhausted (with chunk 1
 *       the add was a second contended RMW an item beside C3's;
 *       counting late made maps of chunk 1 to 16 14-20% faster).
 *       r->state = CLAIMING (S stays a hazard), back to C3; when S is
 *       exhausted, r->state = IDLE, after that add.
 * A record in state OWNED or CLAIMING keeps its segment alive: the
 * publisher takes a segment back only when no record names it (C2).
 *
 * What a death leaves, and the repair (supervisor, after reaping w; the
 * kernel's reaping orders the dead process's stores before its loads):
 *   IDLE       nothing.
 *   late       any state: r->late items of r->seg ran and are not in its
 *              finished: the repair adds them (and bumps failed: a death
 *              between the add and clearing late counts them twice, as
 *              does one between C6's += and the add, the range being
 *              still OWNED).
 *   OWNED      items of [lo, hi) with DONE are kept; the first one without
 *              DONE failed if running names it (it was in fn), else it
 *              never started; the rest stays OWNED for the replacement,
 *              which resumes it before anything else. Every level of the
 *              record stack is repaired so: an outer level's running item
 *              was in fn too (it waited in it, helping).
 *   CLAIMING   C3 may have taken a range that C4 did not record. The
 *              supervisor reads E = min(next, count) (acquire, pairing
 *              with C3's release), then looks for another record
 *              CLAIMING on S, again and again, E read anew before each
 *              look, until a look finds none (a short window; a worker
 *              stuck in it is killed and reaped, and its death handled,
 *              first); then every item of [0, E) that
 *              lies in no OWNED range of any record and is not DONE
 *              (asked in that order) was claimed and never recorded:
 *              the first such run becomes w's OWNED range, for the
 *              replacement (none started: a claimer runs nothing before
 *              C4). A range taken after E was read lies above E.
 * So no item is lost, none runs twice after it stored a result, and only
 * the items in fn at the moment of death fail.
 *
 * Hybrid: a batch per process (automatic chunks only). One thread of the
 * process claims the share of all its T threads from the segment into
 * the batch record G = w[first slot].rec[HPOOL__LEVELS]; the threads then
 * take their shares from G's front, so the segment's counter (the line
 * every process writes) moves once per batch, and the takes touch only
 * G's line, which stays in the process. A fixed chunk is the caller
 * asking for balance: those segments are claimed a chunk at a time as
 * above, nothing held back for a process whose threads are all busy.
 * Every automatic-chunk segment goes through G, also one that the
 * thread's look for fixed chunks finds because it was published after
 * G's refill looked (hpool__serve).
 *   G->take   (generation << 32) | items taken from the front of G's
 *             [lo, hi); TAKE_REFILL while a refiller owns G. Threads of
 *             the process only (CAS), the supervisor after its death.
 * A take, by thread w (record r = &w->rec[0]), B1-B4:
 *   B1  read the word (acquire), then G's seg, lo, hi (possibly of a
 *       newer generation: B2 then fails); r->seg = S, r->state =
 *       CLAIMING (seq_cst)
 *   B2  CAS the word: same generation, `used` + c      [BATCH_TAKEN]
 *   B3  r->lo, r->hi = the c items, OWNED; run them as C5
 *   B4  the take that emptied G makes it IDLE (as R1, R4 below), so an
 *       empty batch is never a hazard: a publisher waiting on one could
 *       be a task whose siblings are all in nested waits, none back to
 *       refill (a refiller that comes first drops it instead)
 * A refill, by the thread that found G empty, R1-R4:
 *   R1  CAS the word to (gen + 1) | TAKE_REFILL | used: exclusive, and
 *       every B2 of the old generation fails
 *   R2  G IDLE (if B4 lost to R1), the word's used = 0; C1-C2 on a
 *       segment with automatic chunks (one with a fixed chunk: none)
 *   R3  C3-C4 on G: the share of T claimers  [CLAIM_TAKEN, CLAIM_OWNED]
 *   R4  the word = (gen + 1) << 32 (release; pairs with B1's acquire)
 * A death leaves G and the threads' records as in the protocol above,
 * once the repair has settled G (hpool__batch_settle, first): OWNED
 * means [lo + used, hi) is untaken (R2 cleared used before a new range
 * was recorded), so lo moves there; CLAIMING is adopted as a claimer's;
 * a thread between B2 and B3 is CLAIMING on S with its items in no OWNED
 * range, and adopts them. A refill never waits for a take; a take that
 * finds a refill under way waits for it (a few stores; a refiller that
 * dies takes its whole process with it), so every claim of the segment
 * is a refill and their count is exact (test_hybrid counts them).
 *
 * Thread mode: the workers copy a map's arrays (seg->uin, uout set). In
 * C5 the worker copies [lo, hi)'s inputs from the caller's array into the
 * segment before the first item, and the results back after the last;
 * the tasks themselves read and write only the segment, so a task that
 * hpool_terminate abandons never touches an array its caller has freed.
 * Each copy is a touch section, w->touching written by w only:
 *   T1  w->touching = 1 (seq_cst)
 *   T2  load job->abandoned (seq_cst): set -> touching = 0, no copy
 *       (inputs: the range is canceled, never run; results: the caller
 *       copies them)
 *   T3  the copy
 *   T4  w->touching = 0 (release)
 * The caller that leaves its call early (hpool__call_abandon):
 *   A1  job->abandoned = 1 (seq_cst)
 *   A2  for every worker: wait until touching == 0 (seq_cst; pairs with
 *       T4's release)
 * A Dekker pair: T2 sees A1, or A2 sees T1 and waits out one memcpy.
 * The result copy comes before the range's finished add (release), so a
 * caller that acquires finished == count finds its array written.
 */
#include "claim.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <urcu/arch.h>

#include "sanitizer.h"

#ifdef HPOOL__TSAN
/* ThreadSanitizer sees one process. In a hybrid worker, a thread that
 * reuses region memory a sibling thread wrote for an earlier item is
 * ordered after it through the caller, in another process (the sibling's
 * release of res, the caller's acquire, its release of a new segment, this
 * thread's claim): TSan sees no order and reports a race. peer_sync
 * stands for the region's other processes: a result published releases
 * it, a range begun acquires it. (It also orders two ranges of one
 * segment that ran one after the other: TSan builds only.) */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char peer_sync;
#define PEERS_ACQUIRE() __tsan_acquire(&peer_sync)
#define PEERS_RELEASE() __tsan_release(&peer_sync)
#else
#define PEERS_ACQUIRE() ((void)0)
#define PEERS_RELEASE() ((void)0)
#endif

/* Each thread's own: which pool and record it claims with (claim.h). */
_Thread_local struct hpool__self hpool__self;

/* ---- claiming ------------------------------------------------------------- */

/* Whether any of the 8 slots from j (a line of them) is OPEN. Relaxed:
 * a skip reads no segment, so it needs no order; a slot that is OPEN is
 * loaded again, with acquire, before its segment is used. */
static bool line_open(struct hpool__shared *sh, unsigned j)
{
	uintptr_t o = 0;

#pragma GCC unroll 8
	for (unsigned k = 0; k < 8; k++)
		o |= atomic_load_explicit(&sh->slot[j + k],
					  memory_order_relaxed);
	return o & HPOOL__SLOT_OPEN;
}

struct hpool__seg *hpool__seg_find(struct hpool__shared *sh, unsigned from,
				   uint32_t prefer, unsigned *slot)
{
	unsigned i, pass;

	for (pass = prefer ? 0 : 1; pass < 2; pass++)
		for (i = 0; i < HPOOL__SLOTS; i++) {
			unsigned j = (from + i) % HPOOL__SLOTS;

			/* An idle worker's spin scans every slot again and
			 * again: a line at a time where none is OPEN (a
			 * third of the instructions of a slot at a time). */
			if (!(j & 7) && i + 8 <= HPOOL__SLOTS &&
			    !line_open(sh, j)) {
				i += 7;
				continue;
			}
			/* Pairs with the publisher's release in
			 * hpool__seg_publish. Only the slot word is read
			 * here: the segment may be stale (taken back and
			 * reused) until a hazard is validated. */
			uintptr_t w = atomic_load_explicit(
				&sh->slot[j], memory_order_acquire);

			if ((w & HPOOL__SLOT_OPEN) &&
			    (pass || atomic_load_explicit(
					     &sh->slot_pub[j],
					     memory_order_relaxed) == prefer)) {
				*slot = j;
				return HPOOL__SLOT_SEG(w);
			}
		}
	return NULL;
}

bool hpool__work_available(struct hpool__shared *sh)
{
	unsigned j;

	return hpool__seg_find(sh, 0, 0, &j) != NULL;
}

static void record_idle(struct hpool__shared *sh, struct hpool__claim *r);

/* A process worker maps a segment's pages into its own page tables in
 * one call the first time it claims from it (prefault.c), instead of a
 * fault a page; thread mode's workers share the caller's, which the
 * caller populated. Futures' one-item segments (cap 0) are left out.
 * Context: s is a validated hazard of the caller's. */
static void prefault_seg(const struct hpool__seg *s)
{
	if (!hpool__self.in_caller)
		hpool__prefault_once(s, s->cap);
}

/* C1 + C2: set the hazard and validate it. Return: true when S is still
 * published in slot j (r is then CLAIMING on S). */
static bool hazard_set(struct hpool__shared *sh, struct hpool__claim *r,
		       struct hpool__seg *s, unsigned j)
{
	atomic_store_explicit(&r->seg, s, memory_order_relaxed);
	r->slot = j;
	atomic_store_explicit(&r->state, HPOOL__C_CLAIMING,
			      memory_order_seq_cst);
	HPOOL__FAULT(HPOOL__F_CLAIM_HAZARD);
	if (HPOOL__SLOT_SEG(atomic_load_explicit(&sh->slot[j],
						 memory_order_seq_cst)) == s)
		return true;
	/* Gone: idle again, and wake a publisher that may already wait for
	 * this very hazard to clear (it saw it after our C1). */
	record_idle(sh, r);
	return false;
}

/* C4: record the range [k, k + c) just taken (clipped to the segment):
 * r becomes OWNED. */
static void record_owned(struct hpool__claim *r, const struct hpool__seg *s,
			 uint32_t k, uint32_t c)
{
	/* Atomic: a batch record's are read by the process's other threads
	 * (batch_take), which validate what they read by their CAS. */
	__atomic_store_n(&r->lo, k, __ATOMIC_RELAXED);
	__atomic_store_n(&r->hi, c > s->count - k ? s->count : k + c,
			 __ATOMIC_RELAXED);
	atomic_store_explicit(&r->running, HPOOL__NO_ITEM,
			      memory_order_relaxed);
	/* Release: whoever reads OWNED with acquire sees lo and hi. */
	atomic_store_explicit(&r->state, HPOOL__C_OWNED, memory_order_release);
	HPOOL__FAULT(HPOOL__F_CLAIM_OWNED);
}

/* The segment's counter moved (test builds count it: test_hybrid). */
static inline void count_take(struct hpool__shared *sh)
{
#ifdef HPOOL_TESTING
	atomic_fetch_add_explicit(&sh->seg_takes, 1, memory_order_relaxed);
#else
	(void)sh;
#endif
}

/* C3 + C4: take a range of at most `max` items, `mult` claimers' shares
 * (a hybrid process's batch: its threads). Return: true and r is OWNED,
 * or false (S exhausted; r stays CLAIMING). */
static bool take(struct hpool__shared *sh, struct hpool__claim *r,
		 struct hpool__seg *s, uint32_t max, uint32_t mult)
{
	uint32_t k, c;

	count_take(sh);
	if (s->chunk) {
		c = s->chunk * mult < max ? s->chunk * mult : max;
		/* The RMW's atomicity is the claim; res[] stores carry the
		 * ordering to the caller. Release: C1 before it, for the
		 * supervisor that reads next before it waits for claimers
		 * (supervisor.c, quiesce_claims). */
		k = atomic_fetch_add_explicit(&s->next, c,
					      memory_order_release);
		if (k >= s->count)
			return false;
	} else {
		k = atomic_load_explicit(&s->next, memory_order_relaxed);
		do {
			if (k >= s->count)
				return false;
			/* Guided: a share of what is left, at least one. */
			c = (s->count - k) / s->spread * mult;
			c = c < 1 ? 1 : c > max ? max : c;
		} while (!atomic_compare_exchange_weak_explicit(
			&s->next, &k, k + c, memory_order_release,
			memory_order_relaxed));
	}
	HPOOL__FAULT(HPOOL__F_CLAIM_TAKEN);
	record_owned(r, s, k, c);
	return true;
}

/* T1, T2: may this worker touch the caller's arrays of `job`? Then T3
 * (the copy) and touch_end (T4) follow. */
static bool touch_begin(struct hpool__wctl *w, struct hpool__job *job)
{
	/* T1 and T2 seq_cst, as A1 and A2 on the caller's side: in the
	 * single total order one of the two loads sees the other side's
	 * store (an xchg and a plain load on x86, no mfence). */
	atomic_store_explicit(&w->touching, 1, memory_order_seq_cst);
	if (!atomic_load_explicit(&job->abandoned, memory_order_seq_cst))
		return true;
	atomic_store_explicit(&w->touching, 0, memory_order_relaxed);
	return false;
}

static void touch_end(struct hpool__wctl *w)
{
	/* T4: pairs with the abandoning caller's acquire (A2). */
	atomic_store_explicit(&w->touching, 0, memory_order_release);
}

/* C6's count: the items r ran of s and has not counted (r->late) go into
 * s->finished, before r leaves s (its hazard keeps s alive until then). */
static void count_finished(struct hpool__shared *sh, struct hpool__claim *r,
			   struct hpool__seg *s)
{
	uint32_t n = r->late, done;

	if (!n)
		return;
	/* Pairs with the caller's acquire load of finished: the ranges'
	 * res[] and results (the copies out too) are visible. */
	done = atomic_fetch_add_explicit(&s->finished, n,
					 memory_order_release) + n;
	HPOOL__FAULT(HPOOL__F_LATE_COUNTED);
	r->late = 0;
	/* Only s's waiters (s is still named by r: alive); a map's caller
	 * only when s is complete. */
	hpool__event_signal_if(&sh->done, &s->want, &sh->want_all,
			       done >= s->count);
}

/* C5: run the OWNED range of r and count it (C6): now, or with late when
 * r leaves its segment (hpool__serve). Return: false when told to stop
 * (the range is left as it is: terminate). */
static bool run_range(struct hpool__shared *sh, struct hpool__wctl *w,
		      struct hpool__claim *r, bool late)
{
	struct hpool__seg *s = atomic_load_explicit(&r->seg,
						    memory_order_relaxed);
	struct hpool__job *job = s->job;
	/* Read before any task of the range runs. */
	const char *uin = s->uin;
	char *uout = s->uout;
	uint32_t i, lo = r->lo, hi = r->hi;
	int bad = 0;

	PEERS_ACQUIRE();

	if (uin) {
		if (!touch_begin(w, job)) {
			/* The caller left: the range never runs. Pairs with
			 * the caller's acquire load of res[i]. */
			for (i = lo; i < hi; i++)
				atomic_store_explicit(&s->res[i],
					HPOOL__RES(HPOOL_ECANCELED),
					memory_order_release);
			bad = 1;
			goto out;
		}
		memcpy((char *)s->in + (size_t)lo * job->in_size,
		       uin + (size_t)lo * job->in_size,
		       (size_t)(hi - lo) * job->in_size);
		touch_end(w);
	}
	for (i = lo; i < hi; i++) {
		const void *in = s->in + (size_t)i * job->in_size;
		void *out = s->out + (size_t)i * job->out_size;
		int64_t start = 0;
		int st;

		if (atomic_load_explicit(&sh->closing, memory_order_relaxed) ==
		    HPOOL__CLOSE_NOW)
			return false;
		if (job->timeout_ns) {
			start = hpool__now_ns();
			atomic_store_explicit(&w->deadline_ns,
					      start + job->timeout_ns,
					      memory_order_relaxed);
		}
		atomic_store_explicit(&r->running, i, memory_order_relaxed);
		HPOOL__FAULT(HPOOL__F_ITEM_STARTED);
		st = job->fn(out, in, job->ctx);
		HPOOL__FAULT(HPOOL__F_ITEM_RAN);
		/* Terminated while fn ran (a thread-mode task cannot be
		 * stopped): the caller has moved on, touch nothing of s. */
		if (atomic_load_explicit(&sh->closing, memory_order_acquire) ==
		    HPOOL__CLOSE_NOW)
			return false;
		if (job->timeout_ns)
			atomic_store_explicit(&w->deadline_ns, 0,
					      memory_order_relaxed);
		/* An overdue item that returns fails all the same: a worker
		 * that cannot be stopped reports it so, and one the
		 * supervisor would have stopped may return before it looks. */
		if (job->timeout_ns &&
		    hpool__now_ns() - start > job->timeout_ns)
			st = -ETIMEDOUT;
		w->served++;
		bad |= st;
		PEERS_RELEASE();
		/* Pairs with the caller's acquire load of res[i] (and the
		 * supervisor's, after reaping). */
		atomic_store_explicit(&s->res[i], HPOOL__RES(st),
				      memory_order_release);
		HPOOL__FAULT(HPOOL__F_ITEM_STORED);
	}
	atomic_store_explicit(&r->running, HPOOL__NO_ITEM,
			      memory_order_relaxed);
	/* Results out; an abandoning caller copies them itself. */
	if (uout) {
		HPOOL__FAULT(HPOOL__F_RANGE_RAN);
		if (touch_begin(w, job)) {
			memcpy(uout + (size_t)lo * job->out_size,
			       s->out + (size_t)lo * job->out_size,
			       (size_t)(hi - lo) * job->out_size);
			touch_end(w);
		}
		HPOOL__FAULT(HPOOL__F_RANGE_COPIED);
	}
out:
	if (bad) /* ordered before the caller's reads by the add below */
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
	/* C6: the range's count, now, or when this worker leaves s. */
	r->late += hi - lo;
	if (!late)
		count_finished(sh, r, s);
	return true;
}

/* Items this worker may still run before max_tasks_per_worker retires it
 * (isolated backends), else UINT32_MAX.
 * Hybrid: the count is the process's (hpool__self.proc_started, private to
 * the process, shared by its threads): a thread reserves one item at a
 * time there before it claims it, so the process starts at most max_tasks
 * items however many threads claim at once; unreserve() gives a
 * reservation back when the claim found nothing. */
static uint32_t budget(const struct hpool__shared *sh,
		       const struct hpool__wctl *w)
{
	_Atomic uint64_t *ps = hpool__self.proc_started;
	uint64_t left;

	if (!sh->isolated || !sh->max_tasks)
		return UINT32_MAX;
	if (ps && hpool__self.w == w) {
		if (atomic_fetch_add_explicit(ps, 1, memory_order_relaxed) <
		    sh->max_tasks)
			return 1;
		atomic_fetch_sub_explicit(ps, 1, memory_order_relaxed);
		return 0;
	}
	left = w->served < sh->max_tasks ? sh->max_tasks - w->served : 0;
	return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

static void unreserve(const struct hpool__shared *sh,
		      const struct hpool__wctl *w)
{
	if (sh->isolated && sh->max_tasks && hpool__self.proc_started &&
	    hpool__self.w == w)
		atomic_fetch_sub_explicit(hpool__self.proc_started, 1,
					  memory_order_relaxed);
}

/* The end of r's use: idle, and whoever waits for a hazard to clear
 * looks again. */
static void record_idle(struct hpool__shared *sh, struct hpool__claim *r)
{
	atomic_store_explicit(&r->state, HPOOL__C_IDLE, memory_order_release);
	hpool__event_signal(&sh->space);
}

/* Take exhausted segment s out of slot j (if it is still there) and wake
 * a publisher waiting for a free slot. */
static void unlist(struct hpool__shared *sh, struct hpool__seg *s,
		   unsigned j)
{
	uintptr_t open = (uintptr_t)s | HPOOL__SLOT_OPEN;

	if (atomic_compare_exchange_strong_explicit(
		    &sh->slot[j], &open, 0, memory_order_seq_cst,
		    memory_order_relaxed))
		hpool__event_signal(&sh->space);
}

#define BATCH_MAX 0x40000000u /* items in a batch, below the flag */
#define TAKE_GEN(v) ((v) >> 32)
#define TAKE_USED(v) ((uint32_t)(v) & ~HPOOL__TAKE_REFILL)

void hpool__batch_settle(struct hpool__claim *g)
{
	uint64_t v = atomic_load_explicit(&g->take, memory_order_relaxed);

	/* OWNED: [lo, lo + used) was taken (a refiller that recorded a new
	 * range had cleared used first, R2); CLAIMING: the repair adopts
	 * what R3 took; IDLE: nothing. */
	if (atomic_load_explicit(&g->state, memory_order_relaxed) ==
	    HPOOL__C_OWNED)
		g->lo = g->hi - g->lo > TAKE_USED(v) ? g->lo + TAKE_USED(v) :
						       g->hi;
	atomic_store_explicit(&g->take, 0, memory_order_relaxed);
}

void hpool__batch_open(struct hpool__batch *b, struct hpool__claim *rec,
		       unsigned threads)
{
	b->rec = rec;
	b->threads = threads;
	hpool__batch_settle(rec);
}

bool hpool__batch_busy(const struct hpool__batch *b)
{
	const struct hpool__claim *g = b->rec;
	uint64_t v = atomic_load_explicit(&g->take, memory_order_acquire);

	return ((uint32_t)v & HPOOL__TAKE_REFILL) ||
	       (atomic_load_explicit(&g->state, memory_order_relaxed) ==
			HPOOL__C_OWNED &&
		__atomic_load_n(&g->hi, __ATOMIC_RELAXED) -
				__atomic_load_n(&g->lo, __ATOMIC_RELAXED) >
			TAKE_USED(v));
}

/* B4: the take that emptied G (word v) drops it at once, so that an
 * emptied batch is never a hazard a publisher waits on: that publisher
 * may be a task whose siblings are all inside nested waits, none back to
 * refill. A refiller that came first (its R1) does it instead. */
static void batch_close(struct hpool__shared *sh, struct hpool__claim *g,
			uint64_t v)
{
	uint64_t gen = TAKE_GEN(v) + 1;

	if (!atomic_compare_exchange_strong_explicit(
		    &g->take, &v, gen << 32 | HPOOL__TAKE_REFILL | TAKE_USED(v),
		    memory_order_acquire, memory_order_relaxed))
		return;
	record_idle(sh, g);
	/* Release: pairs with B1's acquire. */
	atomic_store_explicit(&g->take, gen << 32, memory_order_release);
}

/* B1-B4: take a thread's share from the front of the batch into r.
 * Return: 1 (r OWNED), 0 the batch is empty, -1 a sibling refills it. */
static int batch_take(struct hpool__shared *sh, struct hpool__claim *r,
		      struct hpool__batch *b)
{
	struct hpool__claim *g = b->rec;
	/* Acquire: pairs with the refiller's release of the word (R4): the
	 * generation's seg, lo and hi are visible. */
	uint64_t v = atomic_load_explicit(&g->take, memory_order_acquire);

	for (;;) {
		struct hpool__seg *s;
		uint32_t lo, hi, c;

		if ((uint32_t)v & HPOOL__TAKE_REFILL)
			return -1;
		if (atomic_load_explicit(&g->state, memory_order_relaxed) !=
		    HPOOL__C_OWNED)
			return 0;
		/* Possibly of a newer generation than v: then the CAS below
		 * fails, since a refill changes the word first (R1). */
		s = atomic_load_explicit(&g->seg, memory_order_relaxed);
		lo = __atomic_load_n(&g->lo, __ATOMIC_RELAXED);
		hi = __atomic_load_n(&g->hi, __ATOMIC_RELAXED);
		/* An equal share of the batch per thread (it holds one
		 * guided share per thread), the last one the remainder. */
		c = (hi - lo) / b->threads ? (hi - lo) / b->threads : 1;
		lo += TAKE_USED(v);
		if (lo >= hi)
			return 0;
		if (c > hi - lo || hi - lo - c < c)
			c = hi - lo;
		/* B1: r names s before it takes (s is alive while g or a
		 * sibling names it; r is not read through before B3). */
		if (atomic_load_explicit(&r->seg, memory_order_relaxed) != s ||
		    atomic_load_explicit(&r->state, memory_order_relaxed) ==
			    HPOOL__C_IDLE) {
			atomic_store_explicit(&r->seg, s, memory_order_relaxed);
			atomic_store_explicit(&r->state, HPOOL__C_CLAIMING,
					      memory_order_seq_cst);
		}
		/* B2: the same generation, and nobody took these first. */
		if (atomic_compare_exchange_weak_explicit(
			    &g->take, &v, v + c, memory_order_acquire,
			    memory_order_acquire)) {
			HPOOL__FAULT(HPOOL__F_BATCH_TAKEN);
			record_owned(r, s, lo, c); /* B3 */
			if (lo + c == hi)
				batch_close(sh, g, v + c); /* B4 */
			return 1;
		}
	}
}

/* R1-R4: refill the empty batch g from a published segment with automatic
 * chunks (C1-C4), as the share of the process's threads. Return: 1 refilled, 0 nothing is left to claim
 * (g IDLE), -1 a sibling refills it (or already did). */
static int batch_refill(struct hpool__shared *sh, struct hpool__wctl *w,
			struct hpool__batch *b)
{
	struct hpool__claim *g = b->rec;
	uint64_t v = atomic_load_explicit(&g->take, memory_order_acquire);
	uint64_t gen = TAKE_GEN(v) + 1;
	struct hpool__seg *s;
	unsigned j;
	bool got = false;

	/* R1: exclusive, and sub-takers of the old generation fail. */
	if (((uint32_t)v & HPOOL__TAKE_REFILL) ||
	    !atomic_compare_exchange_strong_explicit(
		    &g->take, &v, gen << 32 | HPOOL__TAKE_REFILL | TAKE_USED(v),
		    memory_order_acquire, memory_order_relaxed))
		return -1;
	if (atomic_load_explicit(&g->state, memory_order_relaxed) ==
		    HPOOL__C_OWNED &&
	    g->hi - g->lo > TAKE_USED(v)) {
		/* Not empty after all (a stale look): give it back. */
		atomic_store_explicit(&g->take, v, memory_order_release);
		return -1;
	}
	/* Emptied, and its taker's B4 lost to this R1: drop it here. */
	if (atomic_load_explicit(&g->state, memory_order_relaxed) !=
	    HPOOL__C_IDLE)
		record_idle(sh, g);
	/* R2 (G is IDLE: settle reads no count; the new range starts
	 * untaken). */
	atomic_store_explicit(&g->take, gen << 32 | HPOOL__TAKE_REFILL,
			      memory_order_relaxed);
	while (!got && (s = hpool__seg_find(sh, w->index * 7, 0, &j))) {
		if (!hazard_set(sh, g, s, j))
			continue; /* taken back meanwhile: look again */
		prefault_seg(s); /* s is g's hazard: its fields hold */
		if (s->chunk) {
			/* A fixed chunk is the caller asking for balance: its
			 * threads claim it one chunk at a time, as anywhere
			 * (hpool__serve), nothing held for the process. */
			record_idle(sh, g);
			break;
		}
		got = take(sh, g, s, BATCH_MAX, b->threads); /* R3 */
		if (!got) {
			unlist(sh, s, j);
			record_idle(sh, g);
		}
	}
	/* R4. Release: pairs with batch_take's acquire of the word. */
	atomic_store_explicit(&g->take, gen << 32, memory_order_release);
	return got;
}

/* Hybrid, level 0: take ranges from the process's batch, refilling it
 * when empty, and run them with w's own record, until nothing is left to
 * claim. Return: as hpool__serve. */
static int serve_batch(struct hpool__shared *sh, struct hpool__wctl *w,
		       struct hpool__batch *b)
{
	struct hpool__claim *r = &w->rec[0];
	unsigned spins = 0;
	int ran = 0;

	for (;;) {
		int t = batch_take(sh, r, b);

		if (!t) {
			t = batch_refill(sh, w, b);
			if (!t)
				break; /* nothing left anywhere */
			/* Sleeping siblings share a fresh batch (they look
			 * before they sleep: worker.c's has_work). */
			if (t > 0)
				hpool__event_signal(&sh->work);
			continue;
		}
		if (t < 0) { /* a sibling refills it: a few stores */
			if (++spins % 64)
				caa_cpu_relax();
			else
				sched_yield(); /* it may be preempted */
			continue;
		}
		ran = 1;
		if (!run_range(sh, w, r, false))
			return -1; /* terminated: r stays as it is */
		/* C6. Release: the range's res[] before it leaves OWNED
		 * (repair.c, adopt_orphans). */
		atomic_store_explicit(&r->state, HPOOL__C_CLAIMING,
				      memory_order_release);
	}
	if (atomic_load_explicit(&r->state, memory_order_relaxed) !=
	    HPOOL__C_IDLE)
		record_idle(sh, r);
	return ran;
}

int hpool__serve(struct hpool__shared *sh, struct hpool__wctl *w,
		 unsigned level)
{
	struct hpool__claim *r = &w->rec[level];
	struct hpool__seg *s;
	unsigned j;
	int ran = 0;
	bool late;

	/* Hybrid: automatic-chunk work through the process's batch; then
	 * what is left (fixed chunks) as below. */
	bool batched = !level && hpool__self.batch && hpool__self.w == w;

	if (batched) {
		if ((ran = serve_batch(sh, w, hpool__self.batch)))
			return ran;
		HPOOL__FAULT(HPOOL__F_BATCH_LOOKED);
	}

	/* A waiting worker (level > 0) runs its own subtasks first: what it
	 * waits for, and a stack no deeper than the recursion. */
	s = hpool__seg_find(sh, w->index * 7, level ? w->index + 1 : 0, &j);
	/* Past half the levels, only its own subtasks: helping with
	 * anyone's work could use up the levels, and two workers that both
	 * reached the last one, each waiting for an item the other would
	 * have to claim, would wait for ever. Its own subtasks keep the
	 * stack as deep as its own recursion. (Relaxed: a stale publisher
	 * only changes what it helps with; the hazard guards the claim.) */
	if (s && level >= HPOOL__LEVELS / 2 &&
	    atomic_load_explicit(&sh->slot_pub[j], memory_order_relaxed) !=
		    w->index + 1)
		return 0;
	if (!s || !hazard_set(sh, r, s, j))
		return 0;
	if (batched && !s->chunk) {
		/* Published since the batch looked: the batch claims it (here
		 * the thread would claim all of it in single shares). */
		record_idle(sh, r);
		return serve_batch(sh, w, hpool__self.batch);
	}
	late = s->count_late; /* s is r's hazard now: its fields hold */
	prefault_seg(s);
	for (;;) {
		uint32_t b = budget(sh, w);

		if (!b)
			break;
		if (!take(sh, r, s, b, 1)) {
			unreserve(sh, w);
			break;
		}
		ran = 1;
		if (!run_range(sh, w, r, late))
			return -1; /* terminated: r stays as it is */
		/* C6. Release: the range's res[] before it leaves OWNED
		 * (repair.c, adopt_orphans). */
		atomic_store_explicit(&r->state, HPOOL__C_CLAIMING,
				      memory_order_release);
	}
	count_finished(sh, r, s);
	if (atomic_load_explicit(&s->next, memory_order_relaxed) >= s->count) {
		/* Exhausted: unlist it, so that its slot serves other work
		 * while the last items run. seq_cst, as the publisher's own
		 * unlisting: a claimer that validates after it sees the slot
		 * changed; one that validated before is a hazard the
		 * publisher's scan sees (sched.c, hpool__seg_unpublish). */
		unlist(sh, s, j);
	}
	record_idle(sh, r);
	return ran;
}

int hpool__resume(struct hpool__shared *sh, struct hpool__wctl *w)
{
	unsigned d;

	/* From the top: a resumed range at level d nests at d + 1 and up,
	 * which are idle by then (its tasks' waits help from the level
	 * after hpool__self.level: at 0, they would take rec[1], which may
	 * still own a range waiting its turn here). depth only comes down:
	 * the repair left it at the deepest OWNED record. */
	for (d = HPOOL__LEVELS; d-- > 0;) {
		struct hpool__claim *r = &w->rec[d];

		if (atomic_load_explicit(&r->state, memory_order_relaxed) !=
		    HPOOL__C_OWNED)
			continue;
		atomic_store_explicit(&w->depth, d, memory_order_relaxed);
		hpool__self.level = d;
		if (!run_range(sh, w, r, false))
			return -1;
		record_idle(sh, r);
	}
	hpool__self.level = 0;
	atomic_store_explicit(&w->depth, 0, memory_order_relaxed);
	return 0;
}

/* ---- remote claimers (the MPI bridge) -------------------------------------- */

/* C3 + C4 for a batch: a guided share of what is left (a multiple of the
 * segment's chunk, at least one chunk, at most max items), so that one
 * message carries many items early and few at the end. A fixed chunk is
 * the caller asking for balance (skewed items): its shares are a quarter
 * as large, so that less waits behind a long item on a busy rank.
 * Automatic chunks stop shrinking at 1/BATCH_TAIL of a fair share
 * (count / spread): every batch is a round trip of tens of microseconds,
 * and a guided tail down to one item cost more round trips than all the
 * rest (bench/mpi-bench.sh: 3-4x fewer batches a map). */
#define BATCH_TAIL 4

static bool take_batch(struct hpool__claim *r, struct hpool__seg *s,
		       uint32_t max)
{
	uint32_t k, c, spread = s->spread ? s->spread : 1;

	k = atomic_load_explicit(&s->next, memory_order_relaxed);
	do {
		if (k >= s->count)
			return false;
		c = (s->count - k) / spread / (s->chunk ? 4 : 1);
		if (s->chunk)
			c = c < s->chunk ? s->chunk : c - c % s->chunk;
		else if (c < s->count / (spread * BATCH_TAIL))
			c = s->count / (spread * BATCH_TAIL);
		c = c < 1 ? 1 : c > max ? max : c;
		/* Relaxed, as take(): the RMW's atomicity is the claim.
		 * A fetch_add of another claimer or a cancel only moves
		 * next further, and this CAS then retries. */
	} while (!atomic_compare_exchange_weak_explicit(
		&s->next, &k, k + c, memory_order_relaxed,
		memory_order_relaxed));
	HPOOL__FAULT(HPOOL__F_CLAIM_TAKEN);
	record_owned(r, s, k, c);
	return true;
}

struct hpool__seg *hpool__claim_batch(struct hpool__shared *sh,
				      struct hpool__claim *r, unsigned from,
				      size_t max_bytes)
{
	struct hpool__seg *s;
	unsigned j;

	while ((s = hpool__seg_find(sh, from, 0, &j))) {
		size_t per, max;

		if (!hazard_set(sh, r, s, j))
			continue; /* taken back meanwhile: look again */
		/* The hazard is validated: s's fields are stable. */
		per = s->job->in_size + s->job->out_size;
		max = per ? max_bytes / per : UINT32_MAX;
		if (max < 1)
			max = 1;
		if (take_batch(r, s, max > UINT32_MAX ? UINT32_MAX :
						       (uint32_t)max))
			return s;
		/* Exhausted: unlist it (as hpool__serve does), then look
		 * for another. */
		unlist(sh, s, j);
		record_idle(sh, r);
	}
	return NULL;
}

void hpool__batch_finish(struct hpool__shared *sh, struct hpool__claim *r,
			 const int32_t *status)
{
	struct hpool__seg *s = atomic_load_explicit(&r->seg,
						    memory_order_relaxed);
	uint32_t i;
	int bad = 0;

	for (i = r->lo; i < r->hi; i++) {
		bad |= status[i - r->lo];
		/* Pairs with the caller's acquire load of res[i]: the
		 * result bytes the bridge copied before are visible. */
		atomic_store_explicit(&s->res[i],
				      HPOOL__RES(status[i - r->lo]),
				      memory_order_release);
	}
	if (bad) /* before the add below (hpool__seg.failed) */
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
	/* Pairs with the caller's acquire load of finished. */
	atomic_fetch_add_explicit(&s->finished, r->hi - r->lo,
				  memory_order_release);
	hpool__event_signal(&sh->done);
	record_idle(sh, r);
}
