/* SPDX-License-Identifier: MIT */
/*
 * A map long enough for the ready-made progress bar (about a second):
 * tests/check_progress_bar.sh runs it with and without a terminal.
 * Prints "ok" on stdout when every item came back right.
 */
#include "hpool.h"

#include <stdio.h>
#include <time.h>

static int task_slow(void *out, const void *in, const void *ctx)
{
	struct timespec ts = { 0, 20000000 }; /* 20 ms */

	nanosleep(&ts, NULL);
	*(long *)out = *(const long *)in * 2;
	return 0;
}

int main(void)
{
	long in[100], out[100];
	hpool_config cfg;
	hpool *p;
	int bad = 0;

	for (int i = 0; i < 100; i++)
		in[i] = i;
	hpool_config_init(&cfg);
	cfg.workers = 2;
	if (hpool_create(&p, &cfg))
		return fprintf(stderr, "%s\n", hpool_last_error()), 1;
	if (hpool_map(p, task_slow, NULL, 0, in, sizeof(long), out,
		      sizeof(long), 100, &(hpool_map_opts){ .chunk = 1 }))
		bad = 1;
	for (int i = 0; i < 100; i++)
		bad |= out[i] != 2 * i;
	hpool_destroy(p);
	puts(bad ? "bad" : "ok");
	return bad;
}
