/* SPDX-License-Identifier: MIT */
/*
 * The ring layer: a bounded single-producer / single-consumer ring of
 * fixed-size slots, placed in the shared region. Each index has exactly
 * one writer. The protocol (who writes each index, which load pairs with
 * which store, what the supervisor does after a death) is the comment at
 * the top of ring.c; the hot operations are inline here.
 *
 * Callers never touch head or tail: they use the readers below.
 * Limits: capacity a power of two in [2, 2^30], slot_size a multiple of 8
 * in [8, 1 MiB].
 */
#ifndef HPOOL_RING_H
#define HPOOL_RING_H

#include "internal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hpool__ring {
	/* producer's line: tail is written only by the producer */
	_Atomic uint32_t tail HPOOL__ALIGNED;
	uint32_t head_cache; /* producer's private copy of head */
	/* consumer's line: head is written only by the consumer (or by the
	 * supervisor while the consumer is dead) */
	_Atomic uint32_t head HPOOL__ALIGNED;
	uint32_t tail_cache; /* consumer's private copy of tail */
	/* read-only after init */
	uint32_t mask HPOOL__ALIGNED;
	uint32_t slot_size;
	unsigned char slots[] HPOOL__ALIGNED;
};

/* Bytes needed for a ring; capacity a power of two >= 2, slot_size a
 * multiple of 8. Return 0 when the shape is invalid. Context: any. */
HPOOL_INTERNAL size_t hpool__ring_bytes(uint32_t capacity, uint32_t slot_size);
/* Initialise an empty ring whose indices start at `start` (tests use
 * values near 2^32 to cross the wrap). Context: before the ring is shared.
 * Return: 0, -EINVAL. */
HPOOL_INTERNAL int hpool__ring_init(struct hpool__ring *r, uint32_t capacity,
				    uint32_t slot_size, uint32_t start);
/* Published slots not yet released (a snapshot). Context: anyone. */
HPOOL_INTERNAL uint32_t hpool__ring_count(const struct hpool__ring *r);
/* Is the ring's shape intact and tail - head within capacity? Used by the
 * repair path's assertions and by callers that must not trust a region a
 * task could scribble on. Context: anyone (a snapshot). */
HPOOL_INTERNAL bool hpool__ring_valid(const struct hpool__ring *r);

/* Slot at index `i` (any value; masked). */
static inline void *hpool__ring_slot(struct hpool__ring *r, uint32_t i)
{
	return r->slots + (size_t)(i & r->mask) * r->slot_size;
}

/* Slots in the ring. Context: anyone. */
static inline uint32_t hpool__ring_capacity(const struct hpool__ring *r)
{
	return r->mask + 1;
}

/* Producer: the index of the slot that the last hpool__ring_reserve
 * returned (or will return). Context: the producer. */
static inline uint32_t hpool__ring_reserved_index(const struct hpool__ring *r)
{
	/* Only the producer writes tail: a relaxed load of its own store. */
	return atomic_load_explicit(&r->tail, memory_order_relaxed);
}

/* Consumer: the index of the slot that peek returns (the one it holds).
 * Context: the consumer, or the supervisor while the consumer is dead. */
static inline uint32_t hpool__ring_head_index(const struct hpool__ring *r)
{
	/* Only the consumer writes head: a relaxed load of its own store. */
	return atomic_load_explicit(&r->head, memory_order_relaxed);
}

/* Anyone: has the slot at index `slot` been released by its consumer?
 * Everything the consumer did with the slot happens-before a true answer. */
static inline bool hpool__ring_released(const struct hpool__ring *r,
					uint32_t slot)
{
	/* Pairs with R2, the release store of head in hpool__ring_release. */
	return (int32_t)(atomic_load_explicit(&r->head, memory_order_acquire) -
			 slot) > 0;
}

/* Producer: the next free slot, or NULL when full. */
static inline void *hpool__ring_reserve(struct hpool__ring *r)
{
	/* Only the producer writes tail: relaxed load of its own store. */
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (tail - r->head_cache > r->mask) {
		/* Pairs with R2 (release of head): the consumer is done
		 * with every slot before head, so we may overwrite it. */
		r->head_cache = atomic_load_explicit(&r->head,
						     memory_order_acquire);
		if (tail - r->head_cache > r->mask)
			return NULL;
	}
	return hpool__ring_slot(r, tail);
}

/* Producer: make the reserved slot visible to the consumer. */
static inline void hpool__ring_publish(struct hpool__ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	HPOOL__FAULT(HPOOL__F_RING_RESERVED);
	/* R1: the slot's contents happen-before the consumer's peek. */
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	HPOOL__FAULT(HPOOL__F_RING_PUBLISHED);
}

/* Consumer: the oldest published slot, or NULL when empty. The slot stays
 * in the ring (still owned by the consumer) until hpool__ring_release. */
static inline void *hpool__ring_peek(struct hpool__ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (head == r->tail_cache) {
		/* Pairs with R1 (release of tail in publish). */
		r->tail_cache = atomic_load_explicit(&r->tail,
						     memory_order_acquire);
		if (head == r->tail_cache)
			return NULL;
	}
	return hpool__ring_slot(r, head);
}

/* Consumer: done with the oldest slot; the producer may reuse it. */
static inline void hpool__ring_release(struct hpool__ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	HPOOL__ASSERT(head != atomic_load_explicit(&r->tail,
						   memory_order_relaxed));
	/* R2: everything done with the slot happens-before its reuse. */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	HPOOL__FAULT(HPOOL__F_RING_RELEASED);
}

#endif /* HPOOL_RING_H */
