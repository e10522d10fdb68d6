/* SPDX-License-Identifier: MIT */
/*
 * The public shared-memory calls: blocks of the pool's arena that the
 * caller and every worker see at the same address. The cell cache gives
 * way to them when the arena runs short.
 */
#include "pool.h"

#include <string.h>

void *hpool_shm_alloc(hpool *p, size_t size)
{
	void *b;

	p = hpool__resolve(p);
	if (hpool__check(p, "hpool_shm_alloc"))
		return NULL;
	if (!size) {
		hpool__set_error("hpool_shm_alloc: size is 0");
		return NULL;
	}
	b = hpool__alloc(p, size); /* the cache gives way to the user's */
	if (!b)
		hpool__set_error("hpool_shm_alloc: %zu bytes do not fit in the "
				 "shared arena of %zu bytes (raise "
				 "HPOOL_SHM_SIZE)", size, p->shm_size);
	return b;
}

void hpool_shm_free(hpool *p, void *ptr)
{
	p = hpool__resolve(p);
	if (!ptr || hpool__check(p, "hpool_shm_free"))
		return;
	/* One atomic decision: of two frees of a block, one is refused. */
	if (hpool__shm_release(p->shm, ptr))
		hpool__set_error("hpool_shm_free: %p is not a live block from "
				 "hpool_shm_alloc of this pool (freed twice, "
				 "or never allocated here)", ptr);
}
