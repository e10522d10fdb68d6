/* SPDX-License-Identifier: MIT */
/*
 * The cell cache: cells (segment blocks in the region) of finished calls,
 * kept for the next calls. A freed cell's pages go back to the system, and
 * the next call would fault them all in again. Cells are given back when
 * the arena runs short. Context: any caller thread (the pool's lock).
 */
#include "pool.h"

#include <string.h>

#define CELL_CACHE_BYTES ((size_t)32 << 20) /* cached bytes, at most */

/* Give every cached cell back to the arena. */
void hpool__cache_flush(hpool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->ncache) {
		p->ncache--;
		hpool__shm_free(p->shm, p->cache[p->ncache].ptr);
	}
	p->cache_bytes = 0;
	pthread_mutex_unlock(&p->lock);
}

/* A cell of at least `bytes` (at most twice that, not to waste a big one
 * on a small call): from the cache, else from the arena, else from the
 * arena after giving the cache back. NULL when the arena is exhausted. */
void *hpool__cell_get(hpool *p, size_t bytes)
{
	void *cell = NULL;
	unsigned i, best = HPOOL__CELL_CACHE;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->ncache; i++)
		if (p->cache[i].bytes >= bytes && p->cache[i].bytes <= 2 * bytes &&
		    (best == HPOOL__CELL_CACHE ||
		     p->cache[i].bytes < p->cache[best].bytes))
			best = i;
	if (best < HPOOL__CELL_CACHE) { /* keep the rest oldest first */
		cell = p->cache[best].ptr;
		p->cache_bytes -= p->cache[best].bytes;
		memmove(&p->cache[best], &p->cache[best + 1],
			(--p->ncache - best) * sizeof(p->cache[0]));
	}
	pthread_mutex_unlock(&p->lock);
	if (!cell && (cell = hpool__alloc(p, bytes)))
		hpool__prefault(cell, bytes); /* new pages: one call */
	return cell;
}

/* Every allocation of the pool's from the arena goes through here: the
 * cache and the futures in limbo never make a call, a submit or the user's
 * hpool_shm_alloc fail. */
void *hpool__alloc(hpool *p, size_t bytes)
{
	void *b = hpool__shm_alloc(p->shm, bytes);

	if (!b) {
		hpool__cache_flush(p);
		hpool__futs_sweep(p);
		b = hpool__shm_alloc(p->shm, bytes);
	}
	return b;
}

/* Keep a released cell for the next call, evicting the oldest ones to
 * make room (cells of a kind no longer used must not keep out the current
 * ones), or free it if it is too big to keep. */
void hpool__cell_put(hpool *p, void *cell, size_t bytes)
{
	/* A task's handle in a process worker keeps nothing: a worker that
	 * dies would take its cache with it. */
	if (bytes > CELL_CACHE_BYTES || p->in_worker) {
		hpool__shm_free(p->shm, cell);
		return;
	}
	pthread_mutex_lock(&p->lock);
	while (p->ncache == HPOOL__CELL_CACHE ||
	       p->cache_bytes + bytes > CELL_CACHE_BYTES) {
		hpool__shm_free(p->shm, p->cache[0].ptr);
		p->cache_bytes -= p->cache[0].bytes;
		memmove(&p->cache[0], &p->cache[1],
			--p->ncache * sizeof(p->cache[0]));
	}
	p->cache[p->ncache].ptr = cell;
	p->cache[p->ncache++].bytes = bytes;
	p->cache_bytes += bytes;
	pthread_mutex_unlock(&p->lock);
}
