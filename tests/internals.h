/* SPDX-License-Identifier: MIT */
/*
 * The library's test-only internals: symbols that exist for tests alone,
 * declared once here instead of by hand in every test that uses them.
 * They are exported by the test build of the library (libhpool_test.la,
 * compiled with HPOOL_TESTING) and hidden in libhpool.so.
 *
 * The internals the layers share with each other (hpool__settings, the
 * ring, the arena, the fault points) stay in src/internal.h, which the
 * unit tests of those layers include directly.
 */
#ifndef HPOOL_TEST_INTERNALS_H
#define HPOOL_TEST_INTERNALS_H

#include "hpool.h"

#include <stdint.h>

/* The processes a pool runs: the supervisor's pid, then one pid per worker
 * slot (its current worker; a slot whose worker died reads the dead pid
 * until the replacement is forked), at most `max` in all. Process and
 * hybrid mode only (hybrid: the slots of one process's threads repeat its
 * pid).
 * Context: the pool's owner, any thread.
 * Return: how many pids were written; 0 in thread and serial mode and for
 *   a pool that is NULL, destroyed or not this process's. */
int hpool__pool_pids(const hpool *p, int *pids, unsigned max);

/* How many claims moved the counter of some published segment of this
 * pool since it was created (claim.c; counted in the test build only).
 * Return: the count, or 0 for a pool that is NULL, destroyed or not this
 * process's. */
uint64_t hpool__pool_seg_takes(const hpool *p);

/* The claim records that take-backs (a caller or task taking a segment
 * back from the slots) read since the pool was created, and in *scans how
 * many such scans there were (sched.c, hazards; test build only).
 * Return: the records, or 0 (and *scans 0) for a pool that is NULL,
 * destroyed or not this process's. */
uint64_t hpool__pool_hazard_recs(const hpool *p, uint64_t *scans);

#endif /* HPOOL_TEST_INTERNALS_H */
