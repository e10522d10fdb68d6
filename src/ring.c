/* SPDX-License-Identifier: MIT */
/*
 * The ring: bounded, lock-free, single producer / single consumer, fixed-size
 * slots, power-of-two capacity, in the shared region (no pointers inside the
 * ring itself; what a slot holds is the user's business).
 *
 * Indices are free-running uint32_t counters; `tail - head` (mod 2^32) is the
 * number of published, unreleased slots, so they wrap past 2^32 untouched.
 *
 * Who writes what
 *   tail        the producer only.
 *   head        the consumer only; while the consumer is dead (reaped), the
 *               supervisor, which then acts as the consumer.
 *   slot[i]     the producer, while i is outside [head, tail); the consumer
 *               (or supervisor) may rewrite slot[head] in place, which it
 *               owns until it releases it.
 *   *_cache     private hints of the role that owns the line; stale values
 *               only make a call look at the shared index again.
 *
 * The hot operations are inline, in ring.h; this file holds the shape,
 * the set-up and the protocol.
 *
 * Ordering (C11 atomics)
 *   publish:  slot stores, then store-release tail   (R1)
 *   peek:     load-acquire tail, pairs with R1, then read the slot
 *   release:  the consumer's work on the slot (reads, result stores), then
 *             store-release head                     (R2)
 *   reserve:  load-acquire head, pairs with R2, then overwrite the slot
 *
 * Crash protocol: the consumer does not consume a slot by moving head; it
 * peeks, does the work, and only then releases. So a slot is "held" by the
 * consumer exactly while it is at head, and what a dead consumer held is
 * always slot[head] (if head != tail). There is no window in which an item
 * has left the ring without being finished.
 *   consumer dies before or right after peek:   slot[head] unchanged; the
 *       supervisor does nothing, a new consumer peeks the same slot.
 *   consumer dies while working on slot[head]:   the supervisor decides from
 *       the item's own progress record (kept by the layer above, e.g. a
 *       status word stored before release) what was done, rewrites
 *       slot[head] to hold only the unfinished part, or fails it, and calls
 *       hpool__ring_release when nothing is left.
 *   consumer dies after its work, before release: the progress record says
 *       "finished"; the supervisor releases.
 *   consumer dies after release:                  nothing to repair.
 *   producer dies after writing a slot, before publish: tail never moved, the
 *       slot was never visible; nothing was lost from the ring (the item never
 *       entered it). The producer's owner resubmits or reports it.
 *   producer dies after publish: the item is in the ring; nothing to repair.
 * The supervisor acts only after the dead consumer was reaped (waitpid), so
 * it is the only writer of head then; the kernel's reaping orders the dead
 * process's stores before the supervisor's loads.
 */
#include "ring.h"

#include <errno.h>
#include <string.h>

size_t hpool__ring_bytes(uint32_t capacity, uint32_t slot_size)
{
	if (capacity < 2 || (capacity & (capacity - 1)) ||
	    capacity > (1u << 30) || slot_size == 0 || slot_size % 8 ||
	    slot_size > (1u << 20))
		return 0;
	return sizeof(struct hpool__ring) + (size_t)capacity * slot_size;
}

int hpool__ring_init(struct hpool__ring *r, uint32_t capacity,
		     uint32_t slot_size, uint32_t start)
{
	if (!r || !hpool__ring_bytes(capacity, slot_size))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->mask = capacity - 1;
	r->slot_size = slot_size;
	r->head_cache = start;
	r->tail_cache = start;
	atomic_store_explicit(&r->head, start, memory_order_relaxed);
	/* Release so that a ring initialised before fork or before another
	 * thread is told of it shows its shape with the indices. */
	atomic_store_explicit(&r->tail, start, memory_order_release);
	return 0;
}

uint32_t hpool__ring_count(const struct hpool__ring *r)
{
	/* Pairs with R2 and R1; a snapshot, exact only to the index owners. */
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	return tail - head;
}

bool hpool__ring_valid(const struct hpool__ring *r)
{
	/* Pairs with R1 and R2 (a snapshot, as hpool__ring_count). */
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	return r->mask && !(r->mask & (r->mask + 1)) && r->mask < (1u << 30) &&
	       r->slot_size && r->slot_size % 8 == 0 &&
	       r->slot_size <= (1u << 20) && tail - head <= r->mask + 1;
}
