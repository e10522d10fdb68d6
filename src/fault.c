/* SPDX-License-Identifier: MIT */
/*
 * Fault injection (test builds only): HPOOL__FAULT(p) calls hpool__fault_hit
 * when hpool__fault_at == p; the process then dies by SIGKILL at the
 * (hpool__fault_skip + 1)-th pass of that point. The counters are private
 * to each process (not in the shared region): a test sets them in a child
 * after fork, so only that child dies.
 */
#include "internal.h"

#ifdef HPOOL_FAULT_INJECTION
#include <signal.h>

_Atomic int hpool__fault_at;
_Atomic int hpool__fault_skip;

/* Context: any thread; kills the whole process, like a crash would. */
void hpool__fault_hit(int point)
{
	if (atomic_load_explicit(&hpool__fault_at, memory_order_relaxed) !=
	    point)
		return;
	if (atomic_fetch_sub_explicit(&hpool__fault_skip, 1,
				      memory_order_relaxed) == 0)
		raise(SIGKILL);
}
#endif /* HPOOL_FAULT_INJECTION */
