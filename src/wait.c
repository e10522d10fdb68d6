/* SPDX-License-Identifier: MIT */
/*
 * Waiting: spin on the condition for a short while, then sleep on a shared
 * futex word. The signaller pays a system call only when someone sleeps.
 *
 * Lost-wake-up argument (a Dekker pair, both sides seq_cst):
 *   waiter:     sleepers += 1;  (S1)   then re-check cond   (L1)
 *   signaller:  cond := true;   (C1)   then load sleepers   (L2)
 * With a full fence between each store and the following load, either L1
 * sees C1 (the waiter does not sleep) or L2 sees S1 (the signaller wakes).
 * The waiter reads seq before re-checking, and FUTEX_WAIT only sleeps while
 * seq still has that value, so a wake that bumps seq in between is not lost.
 *
 * A wake of n sleepers, not all (hpool__event_wake): every waiter between
 * S1 and its FUTEX_WAIT returns at once (seq moved), and the n woken in
 * the kernel re-check cond. A waiter left asleep is one the condition
 * does not need; the event's user keeps that true (sched.c's publish:
 * one sleeper per published item, and each woken worker takes an item or
 * finds it taken). Waking every idle worker for one task cost the
 * publisher's system call a remote wake per sleeper (35-50 us for two,
 * 11-20 us for one, on a 2-vCPU VM) and woke workers that found nothing.
 *
 * How long to spin. A waiter that sleeps pays one wake when its condition
 * comes true: the time from the signaller's FUTEX_WAKE until it runs
 * again. Spinning about that long first is the classic competitive
 * choice (never worse than twice the best choice made knowing when the
 * condition comes). That time is a property of the machine: a few us on
 * bare metal, 60-140 us on a VM whose idle vCPUs halt, where a fixed
 * 20 us spin had a caller sleep through a cold round trip and pay a
 * second wake (210 us against 60 us for one). So each real wake is timed
 * (woke_ns: the signaller's clock just before its FUTEX_WAKE; the woken
 * waiter reads it after its FUTEX_WAIT returns 0, and counts it only if
 * it is later than its own sleep began) into a per-process moving average
 * (wake_cost), and waits spin twice that (hpool__spin_ns). A stale or
 * foreign woke_ns only misweights one sample: the estimate needs no
 * ordering, so its loads and stores are relaxed.
 *
 * A signal for some waiters, not all (hpool__event_wake_if): a sleeper
 * with a want set (internal.h) sleeps with a futex bitset, one bit per
 * want word (hpool__event_bit: a hash of the word's place in the region,
 * relative to the event, so that every process computes the same bit
 * wherever it mapped the region); a sleeper without one sleeps on every
 * bit. wake_if wakes only the bits of the want words it found nonzero,
 * and every other wake wakes all bits. A sleeper counted in a word that
 * a signal found nonzero has that word's bit, so it is woken; a sleeper
 * whose words the signal did not find is not one the signal is for (the
 * want contract), and stays asleep, where a wake of all woke, say, the
 * caller waiting for one future each time another future's task
 * finished. Two words that hash to one bit only cost a spurious wake, as
 * before. The seq argument above holds bit for bit: every wake bumps seq.
 *
 * The futex is a shared one (no FUTEX_PRIVATE_FLAG), keyed on the
 * physical page, so it works between processes that share the region.
 * urcu's futex_async passes the bitset ops through to the system call
 * (hpool builds on Linux only: configure.ac).
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <time.h>
#include <urcu/arch.h>
#include <urcu/futex.h>

/* <linux/futex.h>'s values; that header would redefine urcu's. */
#define WAIT_BITSET 9 /* FUTEX_WAIT_BITSET: an absolute CLOCK_MONOTONIC
		       * timeout */
#define WAKE_BITSET 10 /* FUTEX_WAKE_BITSET */
#define ALL_BITS UINT32_MAX /* FUTEX_BITSET_MATCH_ANY */

int64_t hpool__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hpool__event_init(struct hpool__event *e)
{
	atomic_store_explicit(&e->seq, 0, memory_order_relaxed);
	atomic_store_explicit(&e->sleepers, 0, memory_order_relaxed);
	atomic_store_explicit(&e->woke_ns, 0, memory_order_relaxed);
}

static _Atomic int64_t wake_cost; /* ns, moving average of 1/8 weight */

int64_t hpool__wake_cost_ns(void)
{
	return atomic_load_explicit(&wake_cost, memory_order_relaxed);
}

#ifdef HPOOL_TESTING
void hpool__wake_cost_set(int64_t ns)
{
	atomic_store_explicit(&wake_cost, ns, memory_order_relaxed);
}
#endif

int64_t hpool__spin_ns(void)
{
	int64_t s = 2 * hpool__wake_cost_ns();

	return s < HPOOL__SPIN_NS ? HPOOL__SPIN_NS :
	       s > HPOOL__SPIN_MAX_NS ? HPOOL__SPIN_MAX_NS : s;
}

/* One wake's cost, capped (a waiter whose CPU was taken by other load
 * measures that load, not the wake). Races between threads may drop a
 * sample; it is an estimate. */
static void note_wake_cost(int64_t ns)
{
	int64_t c = atomic_load_explicit(&wake_cost, memory_order_relaxed);

	if (ns > HPOOL__SPIN_MAX_NS)
		ns = HPOOL__SPIN_MAX_NS;
	atomic_store_explicit(&wake_cost, c ? c + (ns - c) / 8 : ns,
			      memory_order_relaxed);
}

uint32_t hpool__event_bit(const struct hpool__event *e, const void *word)
{
	/* Fibonacci hashing of the word's 8-byte index: the top 5 bits. */
	uint32_t i = (uint32_t)(((uintptr_t)word - (uintptr_t)e) >> 3);

	return 1u << (i * 0x9e3779b1u >> 27);
}

/* L2 and the wake of at most n sleepers with one of `bits`. Context:
 * after the caller's full fence. */
static void wake_sleepers(struct hpool__event *e, int n, uint32_t bits)
{
	if (atomic_load_explicit(&e->sleepers, memory_order_relaxed) == 0)
		return;
	atomic_store_explicit(&e->woke_ns, hpool__now_ns(),
			      memory_order_relaxed);
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_seq_cst);
	futex_async((int32_t *)&e->seq, WAKE_BITSET, n, NULL, NULL,
		    (int32_t)bits);
}

void hpool__event_signal(struct hpool__event *e)
{
	/* Full fence: C1 (the caller's condition store) before L2. */
	atomic_thread_fence(memory_order_seq_cst);
	wake_sleepers(e, INT_MAX, ALL_BITS);
}

_Thread_local struct hpool__want *hpool__wanting;

void hpool__event_signal_if(struct hpool__event *e, _Atomic uint32_t *a,
			    _Atomic uint32_t *b, bool complete)
{
	/* Full fence: C1 before the loads of the want words (W2), which
	 * pair with the waiter's W1 as L2 pairs with S1 in the argument at
	 * the top. */
	atomic_thread_fence(memory_order_seq_cst);
	hpool__event_wake_if(e, a, b, complete);
}

void hpool__event_wake(struct hpool__event *e, int n)
{
	wake_sleepers(e, n, ALL_BITS);
}

void hpool__event_wake_if(struct hpool__event *e, _Atomic uint32_t *a,
			  _Atomic uint32_t *b, bool complete)
{
	uint32_t wa = atomic_load_explicit(a, memory_order_relaxed);
	uint32_t bits = 0;

	if ((wa & (HPOOL__WANT_DONE - 1)) || (complete && wa))
		bits |= hpool__event_bit(e, a);
	if (atomic_load_explicit(b, memory_order_relaxed))
		bits |= hpool__event_bit(e, b);
	if (bits)
		wake_sleepers(e, INT_MAX, bits); /* the same fence serves L2 */
}

static uint32_t want_inc(const struct hpool__want *wt, unsigned i)
{
	return wt->done_only >> i & 1 ? HPOOL__WANT_DONE : 1;
}

static int sleep_once(struct hpool__event *e, hpool__cond_fn cond, void *arg,
		      int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	uint32_t seq = atomic_load_explicit(&e->seq, memory_order_seq_cst);
	struct hpool__want *wt = hpool__wanting;
	uint32_t bits = wt && wt->n ? 0 : ALL_BITS;
	int64_t t0;
	unsigned i;
	int ret = 0;

	for (i = 0; wt && i < wt->n; i++) { /* W1 */
		atomic_fetch_add_explicit(wt->w[i], want_inc(wt, i),
					  memory_order_seq_cst);
		bits |= hpool__event_bit(e, wt->w[i]);
	}
	atomic_fetch_add_explicit(&e->sleepers, 1, memory_order_seq_cst); /* S1 */
	/* Full fence: S1 before L1. A seq_cst RMW alone does not order the
	 * cond's own (acquire or relaxed) load after it in C11. */
	atomic_thread_fence(memory_order_seq_cst);
	if (cond(arg)) /* L1: pairs with C1 through the fences */
		goto out;
	t0 = hpool__now_ns();
	if (deadline_ns >= 0) {
		if (deadline_ns <= t0) {
			ret = -ETIMEDOUT;
			goto out;
		}
		/* Absolute, on hpool__now_ns's clock (WAIT_BITSET). */
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		tsp = &ts;
	}
	/* Returns at a wake, a changed seq (EAGAIN), a signal (EINTR) or the
	 * timeout: every case re-checks the condition in the caller. */
	if (futex_async((int32_t *)&e->seq, WAIT_BITSET, (int32_t)seq, tsp,
			NULL, (int32_t)bits) == 0) {
		int64_t w = atomic_load_explicit(&e->woke_ns,
						 memory_order_relaxed);

		if (w >= t0)
			note_wake_cost(hpool__now_ns() - w);
	}
out:
	atomic_fetch_sub_explicit(&e->sleepers, 1, memory_order_relaxed);
	for (i = 0; wt && i < wt->n; i++)
		atomic_fetch_sub_explicit(wt->w[i], want_inc(wt, i),
					  memory_order_relaxed);
	return ret;
}

int hpool__event_wait(struct hpool__event *e, hpool__cond_fn cond, void *arg,
		      int64_t spin_ns, int64_t deadline_ns)
{
	int64_t spin_end;
	unsigned i = 0;

	if (cond(arg))
		return 0;
	spin_end = hpool__now_ns() + spin_ns;
	if (deadline_ns >= 0 && deadline_ns < spin_end)
		spin_end = deadline_ns;
	/* Spin: read the clock every 16 rounds, not every round. After the
	 * first 64 rounds (a few us: `pause` is ~140 cycles on recent x86),
	 * yield every 16: when the pool has more runnable threads than cores
	 * (workers plus a dispatching caller), a pure spin would take the
	 * core from the very thread it waits for. On an idle core the yield
	 * returns at once. */
	for (;;) {
		caa_cpu_relax();
		if (cond(arg))
			return 0;
		if ((++i & 15) == 0) {
			if (hpool__now_ns() >= spin_end)
				break;
			if (i >= 64)
				sched_yield();
		}
	}
	for (;;) {
		if (cond(arg))
			return 0;
		if (deadline_ns >= 0 && hpool__now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		if (sleep_once(e, cond, arg, deadline_ns) == -ETIMEDOUT)
			return cond(arg) ? 0 : -ETIMEDOUT;
	}
}
