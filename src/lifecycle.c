/* SPDX-License-Identifier: MIT */
/*
 * The pool's life cycle: hpool_create (settings, topology, region, root
 * block, then the backend starts the workers), hpool_destroy and
 * hpool_terminate.
 */
#include "pool.h"
#include "libfd.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* ---- create --------------------------------------------------------------- */

unsigned hpool__node_share = 1;

static bool all_started(void *arg)
{
	struct hpool__shared *sh = arg;
	unsigned i;

	for (i = 0; i < sh->nworkers; i++)
		/* Pairs with the worker's release store of state
		 * (hpool__worker_init). */
		if (atomic_load_explicit(&sh->w[i].state,
					 memory_order_acquire) ==
		    HPOOL__W_STARTING)
			return false;
	return true;
}

static void pool_free(hpool *p, bool unmap)
{
	if (p->wk.ops && p->wk.ops->release)
		p->wk.ops->release(&p->wk);
	if (p->shm && unmap)
		hpool__shm_destroy(p->shm);
	if (p->wk.topo) {
		/* As at open: hwloc takes its own mutex while it tears the
		 * topology down, and a fork by another thread meanwhile would
		 * copy it locked (regress_fork_locks, serial mode: the child's
		 * hpool_create hung in hwloc). The descriptor lock makes such a
		 * fork wait (libfd.c). */
		hpool__fd_lock();
		hpool__topo_close(p->wk.topo);
		hpool__fd_unlock();
	}
	pthread_mutex_destroy(&p->lock);
	hpool__futs_fini(p);
	pthread_rwlock_destroy(&p->wk.lock);
	hpool__handle_retire(p);
}

/* Map the region and lay out the root block: settings, init, the
 * workers' claim records. Return: 0 or a code with the message set. */
static int region_build(hpool *p, const struct hpool__settings *s,
			const hpool_config *cfg)
{
	const struct hpool__backend *ops = p->wk.ops;
	struct hpool__shared *sh;
	unsigned i, d, pus = hpool__topo_pus(p->wk.topo);
	int e;

	e = ops->map ? ops->map(&p->wk, s->shm_size) :
		       hpool__shm_create(s->shm_size, &p->wk.shm);
	p->shm = p->wk.shm;
	if (e)
		return hpool__fail(e, "hpool_create: cannot map a shared "
				   "region of %zu bytes", s->shm_size);
	sh = hpool__shm_alloc(p->shm, sizeof(*sh) +
					      p->nworkers * sizeof(sh->w[0]));
	if (!sh)
		return hpool__fail(-ENOMEM, "hpool_create: %u workers do not "
				   "fit in a shared arena of %zu bytes",
				   p->nworkers, s->shm_size);
	memset(sh, 0, sizeof(*sh) + p->nworkers * sizeof(sh->w[0]));
	p->sh = p->wk.sh = sh;
	hpool__event_init(&sh->ready);
	hpool__event_init(&sh->space);
	hpool__event_init(&sh->done);
	sh->nworkers = p->nworkers;
	sh->nsup = p->nworkers - p->wk.remote;
	sh->isolated = ops->isolated;
	sh->max_tasks = cfg ? cfg->max_tasks_per_worker : 0;
	pus /= hpool__node_share ? hpool__node_share : 1;
	sh->omp_threads = pus / p->nworkers ? pus / p->nworkers : 1;
	sh->tpp = p->wk.tpp;
	sh->bind = s->bind;
	sh->owner = getpid();
	sh->handle = p;
	sh->shm = p->shm;
	sh->shm_size = s->shm_size;
	sh->mode = s->mode;
	if (cfg && cfg->init) {
		sh->init = cfg->init;
		sh->init_ctx = cfg->init_ctx;
		if (cfg->init_ctx && cfg->init_ctx_size) {
			void *c = hpool__shm_alloc(p->shm, cfg->init_ctx_size);

			if (!c)
				return hpool__fail(-ENOMEM, "hpool_create: "
						   "init_ctx does not fit");
			memcpy(c, cfg->init_ctx, cfg->init_ctx_size);
			sh->init_ctx = c;
		}
	}
	hpool__event_init(&sh->work);
	for (i = 0; i < p->nworkers; i++) {
		struct hpool__wctl *w = &sh->w[i];

		w->index = i;
		for (d = 0; d < HPOOL__RECS; d++)
			atomic_store_explicit(&w->rec[d].running,
					      HPOOL__NO_ITEM,
					      memory_order_relaxed);
	}
	return 0;
}

/* Wait for every worker to leave STARTING and say why one is not READY.
 * Return: 0 or a code with the message set. */
static int workers_ready(hpool *p)
{
	struct hpool__shared *sh = p->sh;
	unsigned i;

	/* In slices: a supervisor that dies before its workers are ready
	 * fails the create instead of hanging it. */
	hpool__pool_wait(p, &sh->ready, all_started, sh, -1);
	if (!all_started(sh))
		return hpool__fail(HPOOL_ECRASH, "hpool_create: the pool's "
				   "%s backend died before its workers were "
				   "ready", p->wk.ops->name);
	for (i = 0; i < p->nworkers; i++) {
		struct hpool__wctl *w = &sh->w[i];

		/* Pairs with the release store in hpool__worker_init. */
		if (atomic_load_explicit(&w->state, memory_order_acquire) ==
		    HPOOL__W_READY)
			continue;
		if (w->init_status == HPOOL_ECRASH)
			return hpool__fail(HPOOL_ECRASH, "hpool_create: worker "
					   "%u died in init", i);
		if (w->init_status < 0 && w->init_status > -4096)
			return hpool__fail(w->init_status, "hpool_create: "
					   "worker %u could not start (fork, or "
					   "the thread that runs its loop): %s; "
					   "RLIMIT_NPROC counts each process "
					   "worker twice (a process and a "
					   "thread), and RLIMIT_AS must leave "
					   "room for a thread's stack", i,
					   hpool_strerror(w->init_status));
		return hpool__fail(HPOOL_ETASK, "hpool_create: init returned "
				   "%d in worker %u", w->init_status, i);
	}
	return 0;
}

int hpool_create(hpool **out, const hpool_config *cfg)
{
	struct hpool__settings s;
	hpool *p;
	int e;

	if (!out)
		return hpool__fail(-EINVAL, "hpool_create: pool is NULL");
	*out = NULL;
	hpool__handles_init();
	if ((e = hpool__settings_resolve(cfg, &s)))
		return e;
	p = calloc(1, sizeof(*p));
	if (!p)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	p->magic = HPOOL__POOL_LIVE;
	p->fork_gen = hpool__fork_gen();
	p->mode = s.mode;
	p->shm_size = s.shm_size;
	pthread_mutex_init(&p->lock, NULL);
	hpool__futs_init(p);
	pthread_rwlock_init(&p->wk.lock, NULL);
	p->wk.ops = hpool__backend_for(&s);
	p->wk.bind = s.bind != 0;
	p->wk.refuse_threaded = s.threaded_fork == 1;
	p->progress = s.progress;
	if (!p->wk.ops) {
		e = -EINVAL;
		goto fail;
	}
	hpool__fd_lock(); /* hwloc has files open while it loads */
	e = hpool__topo_open(&p->wk.topo);
	hpool__fd_unlock();
	if (e) {
		hpool__set_error("hpool_create: cannot read the machine's "
				 "topology (hwloc)");
		goto fail;
	}
	p->wk.handle = p;
	if (p->wk.ops->size) {
		/* A remote backend: on an MPI server rank this call serves
		 * and never returns. */
		if ((e = p->wk.ops->size(&p->wk, &s, cfg, &p->nworkers)))
			goto fail;
	} else {
		p->nworkers = p->wk.ops->runs_inline ? 1 :
			      s.workers ? s.workers :
					  hpool__topo_cores(p->wk.topo);
	}
	if ((e = region_build(p, &s, cfg)))
		goto fail;
	if ((e = p->wk.ops->start(&p->wk)) || (e = workers_ready(p)))
		goto fail_started;
	if (p->wk.forked_threads > 1)
		hpool__set_error("hpool_create: forked the workers from a "
				 "process that runs %u threads; a lock held "
				 "by another thread at that moment stays "
				 "locked in the workers", p->wk.forked_threads);
	*out = p;
	return 0;

fail_started:
	atomic_store_explicit(&p->sh->closing, HPOOL__CLOSE_NOW,
			      memory_order_release);
	p->wk.stopped_clean = true;
	p->wk.ops->stop(&p->wk, true);
fail:
	pool_free(p, true);
	return e;
}

/* ---- destroy, terminate --------------------------------------------------- */

/* The end of destroy and terminate, once no call is inside the pool. */
static void finish_free(hpool *p)
{
	struct hpool__call *c;

	hpool__detach_futures(p);
	pthread_mutex_lock(&p->lock);
	for (c = p->calls; c; c = c->next)
		c->detached = true;
	p->calls = NULL;
	pthread_mutex_unlock(&p->lock);
	/* A thread-mode task that would not stop still uses the region: it
	 * is left mapped (documented) rather than pulled from under it. */
	pool_free(p, p->wk.stopped_clean);
}

static int finish(hpool *p, bool now, const char *name)
{
	unsigned here;
	int e;

	/* A task cannot wait for its own pool to stop: it is part of what
	 * the pool would wait for. */
	if (hpool__in_own_task(p))
		return hpool__fail(-EDEADLK, "%s: called from a task of the "
				   "pool itself", name);
	e = hpool__check(p, name);

	/* A pool whose supervisor died is still destroyed normally. */
	if (e == HPOOL_ECLOSED && p->magic == HPOOL__POOL_LIVE &&
	    !atomic_load_explicit(&p->finishing, memory_order_acquire))
		e = 0;
	if (e)
		return e;
	/* Called from a progress callback: the call it runs in would wait
	 * for itself to drain. */
	here = hpool__calls_here(p);
	if (here && !now)
		return hpool__fail(-EDEADLK, "%s: called from inside a call "
				   "on this pool (a progress callback): use "
				   "hpool_terminate there, or destroy after "
				   "the call returns", name);
	{
		int zero = 0;

		if (!atomic_compare_exchange_strong(&p->finishing, &zero, 1))
			return hpool__fail(HPOOL_ECLOSED, "%s: the pool is "
					   "already being destroyed or "
					   "terminated by another thread",
					   name);
	}
	if (now) {
		int zero = 0;

		atomic_compare_exchange_strong(&p->terminated, &zero,
					       HPOOL_ECANCELED);
		hpool__wake_all(p->sh);
	}
	p->wk.stopped_clean = true;
	atomic_store_explicit(&p->sh->closing,
			      now ? HPOOL__CLOSE_NOW : HPOOL__CLOSE_DRAIN,
			      memory_order_release);
	hpool__wk_stop(p, now);
	if (now) {
		/* Calls in other threads see `terminated` and return. */
		hpool__wake_all(p->sh);
		while (atomic_load_explicit(&p->active,
					    memory_order_acquire) > here) {
			struct timespec ts = { 0, 1000000 };

			hpool__wake_all(p->sh);
			nanosleep(&ts, NULL);
		}
	}
	/* The backend could not stop cleanly (a supervisor that died at
	 * the stop): the pool is still freed, and the caller told. */
	e = p->wk.stop_error;
	if (e) {
		char why[200];

		snprintf(why, sizeof(why), "%s", hpool_last_error());
		hpool__fail(e, "%s: %s", name, why);
	}
	if (here) {
		/* The calls this thread is inside return HPOOL_ECANCELED;
		 * the last one out frees the pool (hpool__leave). */
		p->finish_free = finish_free;
		atomic_store_explicit(&p->free_at_leave, true,
				      memory_order_release);
		return e;
	}
	finish_free(p);
	return e;
}

int hpool_destroy(hpool *p)
{
	return finish(p, false, "hpool_destroy");
}

int hpool_terminate(hpool *p)
{
	return finish(p, true, "hpool_terminate");
}

hpool_mode hpool_mode_of(const hpool *p)
{
	p = hpool__resolve((hpool *)p);
	return hpool__check(p, "hpool_mode_of") ? HPOOL_MODE_ENV : p->mode;
}

unsigned hpool_workers(const hpool *p)
{
	p = hpool__resolve((hpool *)p);
	return hpool__check(p, "hpool_workers") ? 0 : p->nworkers;
}

/* Tests only: claims that moved a segment's counter (tests/internals.h). */
HPOOL_INTERNAL uint64_t hpool__pool_seg_takes(const hpool *p);
uint64_t hpool__pool_seg_takes(const hpool *p)
{
	if (hpool__check(p, "hpool__pool_seg_takes"))
		return 0;
	return atomic_load_explicit(&p->sh->seg_takes, memory_order_relaxed);
}

/* Tests only: records read per take-back scan, in total (*scans: how many
 * scans) since the pool was created (tests/internals.h). */
HPOOL_INTERNAL uint64_t hpool__pool_hazard_recs(const hpool *p,
						uint64_t *scans);
uint64_t hpool__pool_hazard_recs(const hpool *p, uint64_t *scans)
{
	*scans = 0;
	if (hpool__check(p, "hpool__pool_hazard_recs"))
		return 0;
	*scans = atomic_load_explicit(&p->sh->hazard_scans,
				      memory_order_relaxed);
	return atomic_load_explicit(&p->sh->hazard_recs, memory_order_relaxed);
}

/* Tests only: the pids this pool runs (supervisor first, then workers). */
HPOOL_INTERNAL int hpool__pool_pids(const hpool *p, int *pids, unsigned max);
int hpool__pool_pids(const hpool *p, int *pids, unsigned max)
{
	if (hpool__check(p, "hpool__pool_pids"))
		return 0;
	return hpool__wk_pids(p, pids, max);
}
