/* SPDX-License-Identifier: MIT */
/*
 * Mapping a block of the region into this process's page tables with one
 * madvise(MADV_POPULATE_WRITE), instead of a page fault a page as it is
 * first touched. On the VM of issue 9's numbers a fault on a region page
 * cost about 14 us, and a fresh pool's first maps spent most of their time
 * in them (docs/design.md, "The arena").
 *
 * - The caller populates a cell it takes from the arena (cells.c): the
 *   pages it is about to write (res[], the inputs) and the workers of
 *   thread mode will write (results), since they share its page tables.
 * - A process worker populates a segment the first time it claims from
 *   it: each process has page tables of its own, so each pays for its own
 *   mapping of pages that already exist.
 *
 * A hint, never a condition: a block it did not populate (an old kernel,
 * a remembered segment whose pages the arena gave back since) faults in
 * as before.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define SEEN 32 /* blocks a thread remembers (hpool__prefault_once) */

static _Atomic bool unsupported;

void hpool__prefault(const void *p, size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi;

	if (!bytes || atomic_load_explicit(&unsupported, memory_order_relaxed))
		return;
	lo = (uintptr_t)p & ~(uintptr_t)(page - 1);
	hi = ((uintptr_t)p + bytes + (uintptr_t)page - 1) &
	     ~(uintptr_t)(page - 1);
	if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) &&
	    errno == EINVAL)
		atomic_store_explicit(&unsupported, true, memory_order_relaxed);
}

/* Blocks this thread populated, as (address, bytes): a caller reuses its
 * calls' cells (cells.c), so the same few come back map after map. */
static _Thread_local struct {
	const void *at;
	size_t bytes;
} seen[SEEN];
static _Thread_local unsigned next_seen;

void hpool__prefault_once(const void *p, size_t bytes)
{
	unsigned i;

	if (!bytes)
		return;
	for (i = 0; i < SEEN; i++)
		if (seen[i].at == p && seen[i].bytes == bytes)
			return;
	hpool__prefault(p, bytes);
	seen[next_seen].at = p;
	seen[next_seen].bytes = bytes;
	next_seen = (next_seen + 1) % SEEN;
}
