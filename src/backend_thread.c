/* SPDX-License-Identifier: MIT */
/*
 * The thread backend: workers are pthreads of the caller ("dummy" mode).
 * They cannot die alone, so nothing reaps them; a task that will not
 * stop after hpool_terminate keeps its thread (detached) and the region
 * stays mapped for it.
 */
#include "backend.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define TERMINATE_GRACE_NS 500000000 /* a running task's time to return */

struct targ {
	struct hpool__workers *wk;
	unsigned w;
};

struct threads {
	pthread_t *th;
	struct targ *args;
	unsigned n; /* started */
};

static void *thread_main(void *arg)
{
	struct targ *a = arg;

	hpool__worker_loop(a->wk->sh, a->w, a->wk->bind ? a->wk->topo : NULL);
	return NULL;
}

static int thread_start(struct hpool__workers *wk)
{
	unsigned n = wk->sh->nworkers, i;
	struct threads *t = calloc(1, sizeof(*t));
	int e;

	if (!t)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	wk->priv = t;
	t->th = calloc(n, sizeof(*t->th));
	t->args = calloc(n, sizeof(*t->args));
	if (!t->th || !t->args)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	for (i = 0; i < n; i++) {
		t->args[i].wk = wk;
		t->args[i].w = i;
		e = pthread_create(&t->th[i], NULL, thread_main, &t->args[i]);
		if (e)
			return hpool__fail(-e, "hpool_create: cannot start "
					   "worker thread %u: %s (RLIMIT_NPROC "
					   "counts every thread; RLIMIT_AS "
					   "must leave room for its stack)", i,
					   hpool_strerror(-e));
		t->n++;
	}
	return 0;
}

/* Join every started thread; a terminate gives each a grace period and
 * detaches one whose task would not return. Return: all joined. */
static bool join_threads(struct threads *t, int64_t deadline)
{
	bool all = true;
	unsigned i;

	for (i = 0; i < t->n; i++) {
		struct timespec ts;
		int64_t d = deadline;

		if (d < 0) {
			pthread_join(t->th[i], NULL);
			continue;
		}
		/* CLOCK_REALTIME for pthread_timedjoin_np. */
		clock_gettime(CLOCK_REALTIME, &ts);
		d = d - hpool__now_ns();
		if (d < 0)
			d = 0;
		ts.tv_sec += d / 1000000000;
		ts.tv_nsec += d % 1000000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(t->th[i], NULL, &ts)) {
			pthread_detach(t->th[i]);
			all = false;
		}
	}
	t->n = 0;
	return all;
}

static void thread_stop(struct hpool__workers *wk, bool now)
{
	struct threads *t = wk->priv;

	if (!t)
		return;
	hpool__wake_all(wk->sh);
	wk->stopped_clean = join_threads(t, now ? hpool__now_ns() +
					TERMINATE_GRACE_NS : -1);
}

static void thread_release(struct hpool__workers *wk)
{
	struct threads *t = wk->priv;

	if (t) {
		free(t->th);
		free(t->args);
		free(t);
		wk->priv = NULL;
	}
}

const struct hpool__backend hpool__backend_thread = {
	.name = "thread",
	.shares_memory = true,
	.start = thread_start,
	.stop = thread_stop,
	.release = thread_release,
};
