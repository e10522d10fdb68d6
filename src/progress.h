/* SPDX-License-Identifier: MIT */
/*
 * The ready-made progress bar of long maps and imaps (progress.c).
 * Context: the calling thread of one call; private memory.
 */
#ifndef HPOOL_PROGRESS_H
#define HPOOL_PROGRESS_H

#include "internal.h"

struct hpool__bar {
	bool on, drawn;
	size_t total;
	int64_t start_ns, last_ns;
};

/* setting: the pool's (1: bar). Draws nothing unless stderr is a tty. */
HPOOL_INTERNAL void hpool__bar_start(struct hpool__bar *b, int setting,
				     size_t total);
/* Redraw if it is time. */
HPOOL_INTERNAL void hpool__bar_update(struct hpool__bar *b, size_t done);
/* The last state and a newline, if anything was drawn. */
HPOOL_INTERNAL void hpool__bar_end(struct hpool__bar *b, size_t done);
/* When the caller should wake to redraw (hpool__now_ns time), or -1. */
HPOOL_INTERNAL int64_t hpool__bar_deadline(const struct hpool__bar *b);

#endif /* HPOOL_PROGRESS_H */
