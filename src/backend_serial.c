/* SPDX-License-Identifier: MIT */
/*
 * The serial backend: no workers. The caller is worker 0: init runs once
 * in hpool_create, and every chunk runs in the calling thread (the call
 * engine runs it, since runs_inline is set).
 */
#include "backend.h"
#include "worker.h"

static int serial_start(struct hpool__workers *wk)
{
	/* init's failure is in the slot's state, which create reads. */
	hpool__worker_init(wk->sh, 0);
	return 0;
}

static void serial_stop(struct hpool__workers *wk, bool now)
{
	wk->stopped_clean = true;
}

const struct hpool__backend hpool__backend_serial = {
	.name = "serial",
	.runs_inline = true,
	.start = serial_start,
	.stop = serial_stop,
};
