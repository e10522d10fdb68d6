/* SPDX-License-Identifier: MIT */
/*
 * Fault injection (test builds only): HPOOL__FAULT(p) calls hpool__fault_hit
 * when hpool__fault_at == p; the process then dies by SIGKILL at the
 * (hpool__fault_skip + 1)-th pass of that point, or runs hpool__fault_hook
 * when one is set. One mechanism and one enum (internal.h) for every layer.
 * The counters are private to each process (not in the shared region): a
 * test sets them in a child after fork, so only that child dies.
 */
#include "internal.h"

#ifdef HPOOL_FAULT_INJECTION
#include <signal.h>

_Atomic int hpool__fault_at;
_Atomic int hpool__fault_skip;
void (*hpool__fault_hook)(int point);
_Atomic unsigned *hpool__fault_log;
unsigned hpool__fault_limit;

/* Context: any thread; kills the whole process, like a crash would. */
void hpool__fault_hit(int point)
{
	if (atomic_load_explicit(&hpool__fault_at, memory_order_relaxed) !=
	    point)
		return;
	/* Enough deaths there already (counted across processes)? */
	if (hpool__fault_log && hpool__fault_limit &&
	    atomic_load_explicit(&hpool__fault_log[point],
				 memory_order_relaxed) >= hpool__fault_limit)
		return;
	if (hpool__fault_hook)
		hpool__fault_hook(point);
	else if (atomic_fetch_sub_explicit(&hpool__fault_skip, 1,
					   memory_order_relaxed) <= 0) {
		/* Say where we died, for the test to check. */
		if (hpool__fault_log)
			atomic_fetch_add_explicit(&hpool__fault_log[point], 1,
						  memory_order_relaxed);
		raise(SIGKILL); /* kills the whole process, no handler */
	}
}
#endif /* HPOOL_FAULT_INJECTION */
