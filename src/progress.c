/* SPDX-License-Identifier: MIT */
/*
 * The ready-made progress bar (HPOOL_PROGRESS=bar, or hpool_config.progress
 * = 1): one line on stderr, redrawn in place from the calling thread of a
 * map or an imap at most every REDRAW_NS, and only when stderr is a
 * terminal and the call has run for SHOW_AFTER_NS (short calls draw
 * nothing). Items done, percent, rate and time left.
 */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#define REDRAW_NS 200000000      /* 5 times a second */
#define SHOW_AFTER_NS 500000000  /* long calls only */
#define WIDTH 30                 /* characters of bar */

void hpool__bar_start(struct hpool__bar *b, int setting, size_t total)
{
	b->on = setting == 1 && total > 0 && isatty(STDERR_FILENO);
	b->drawn = false;
	b->total = total;
	b->start_ns = b->last_ns = hpool__now_ns();
}

static void draw(struct hpool__bar *b, size_t done, int64_t now)
{
	double secs = (double)(now - b->start_ns) / 1e9;
	double rate = secs > 0 ? (double)done / secs : 0;
	double left = rate > 0 ? (double)(b->total - done) / rate : 0;
	unsigned fill = (unsigned)((double)WIDTH * (double)done /
				   (double)b->total);
	char bar[WIDTH + 1];
	unsigned i;

	for (i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = 0;
	fprintf(stderr, "\rhpool [%s] %3u%% %zu/%zu items %.0f/s ETA %um%02us ",
		bar, (unsigned)(100.0 * (double)done / (double)b->total), done,
		b->total, rate, (unsigned)left / 60, (unsigned)left % 60);
	fflush(stderr);
	b->drawn = true;
	b->last_ns = now;
}

void hpool__bar_update(struct hpool__bar *b, size_t done)
{
	int64_t now;

	if (!b->on)
		return;
	now = hpool__now_ns();
	if (now - b->start_ns < SHOW_AFTER_NS || now - b->last_ns < REDRAW_NS)
		return;
	draw(b, done, now);
}

void hpool__bar_end(struct hpool__bar *b, size_t done)
{
	if (!b->on || !b->drawn)
		return;
	draw(b, done, hpool__now_ns());
	fputc('\n', stderr);
	fflush(stderr);
}

int64_t hpool__bar_deadline(const struct hpool__bar *b)
{
	return b->on ? hpool__now_ns() + REDRAW_NS : -1;
}
