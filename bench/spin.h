/* SPDX-License-Identifier: MIT */
/*
 * The compute tasks of hpool-bench and hpool-mpi-bench: a spin loop of
 * xorshift and a dependent floating-point multiply-add (neither
 * vectorised nor dropped by the compiler), and its rate on this machine.
 */
#ifndef HPOOL_BENCH_SPIN_H
#define HPOOL_BENCH_SPIN_H

#include <stdint.h>
#include <time.h>

static inline uint64_t spin(uint64_t iters, uint64_t seed)
{
	uint64_t x = seed | 1;
	double f = 1.0;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f = f * 0.999999 + (double)(x & 1023);
	}
	return x ^ (uint64_t)f;
}

/* Iterations of spin() a microsecond: the best of 15 runs of ~0.6 ms.
 * One long run that a neighbour preempted read 2-4x too few, and the
 * "10 us" tasks then ran 2.5-5 us. */
static inline double spin_per_us(void)
{
	const uint64_t iters = 1 << 18;
	volatile uint64_t sink;
	double best = 1e30;

	for (int r = 0; r < 15; r++) {
		struct timespec a, b;
		double dt;

		clock_gettime(CLOCK_MONOTONIC, &a);
		sink = spin(iters, (uint64_t)r);
		clock_gettime(CLOCK_MONOTONIC, &b);
		dt = (double)(b.tv_sec - a.tv_sec) * 1e9 +
		     (double)(b.tv_nsec - a.tv_nsec);
		if (dt < best)
			best = dt;
	}
	(void)sink;
	return (double)iters / (best / 1000.0);
}

#endif
