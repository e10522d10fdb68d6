/* SPDX-License-Identifier: MIT */
/*
 * The ring's hot operations, inline (included by internal.h). The protocol
 * they follow (who writes each index, which load pairs with which store,
 * what the supervisor does after a death) is the comment at the top of
 * ring.c. Each index has one writer: tail the producer, head the consumer.
 */
#ifndef HPOOL_RING_H
#define HPOOL_RING_H

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
