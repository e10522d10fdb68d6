/* SPDX-License-Identifier: MIT */
/*
 * Pool handles: every public call checks its handle here (live, of this
 * process, still taking work) and counts itself in; a destroyed handle
 * stays readable in a quarantine for a while, so a late call gets
 * HPOOL_ECLOSED instead of reading freed memory.
 */
#include "pool.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define QUARANTINE 64 /* destroyed handles kept before free() */

/* ---- fork generations ----------------------------------------------------- */

/* Bumped in every child after fork: a pool remembers the value it was
 * made under, so a forked child sees a different one. */
static _Atomic unsigned fork_gen;
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;

/* In the child: a new generation, and a fresh quarantine lock (another
 * thread of the parent may have held it at the fork; see libfd.c). */
static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
	pthread_mutex_init(&quarantine_lock, NULL);
}

__attribute__((constructor(101))) static void handles_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

void hpool__handles_init(void)
{
	/* the fork hook is registered when the library loads */
}

unsigned hpool__fork_gen(void)
{
	return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

/* ---- handles ------------------------------------------------------------ */

static hpool *quarantine[QUARANTINE];
static unsigned quarantine_next;

/* Keep a destroyed handle readable for a while, so that a call on it
 * returns HPOOL_ECLOSED instead of reading freed memory. */
void hpool__handle_retire(hpool *p)
{
	hpool *old;

	p->magic = HPOOL__POOL_DEAD;
	pthread_mutex_lock(&quarantine_lock);
	old = quarantine[quarantine_next];
	quarantine[quarantine_next] = p;
	quarantine_next = (quarantine_next + 1) % QUARANTINE;
	pthread_mutex_unlock(&quarantine_lock);
	free(old);
}

int hpool__check(const hpool *p, const char *fn)
{
	if (!p)
		return hpool__fail(-EINVAL, "%s: pool is NULL", fn);
	if (p->magic != HPOOL__POOL_LIVE)
		return hpool__fail(HPOOL_ECLOSED,
				   "%s: pool was destroyed", fn);
	if (p->fork_gen != hpool__fork_gen())
		return hpool__fail(HPOOL_EFORKED,
				   "%s: pool belongs to process %d; this is a "
				   "child forked from it (pid %d)", fn,
				   (int)p->sh->owner, (int)getpid());
	if (atomic_load_explicit(&p->terminated, memory_order_relaxed))
		return hpool__fail(HPOOL_ECLOSED, "%s: pool no longer takes "
				   "work (terminated, or its supervisor died)",
				   fn);
	return 0;
}

/* The calls the calling thread is inside, per pool, counted while they
 * run a progress callback: the only code of the caller's that runs inside
 * a call (a task that calls destroy or terminate on its own pool is
 * refused: hpool__in_own_task), so a terminate from there must not wait
 * for those calls to leave. Counted around the callback, not in every
 * hpool__enter/leave: that is two thread-local lookups fewer a call
 * (__tls_get_addr in a shared library). A thread is inside callbacks of
 * more pools than this only eight pools deep; those extra calls are not
 * recorded, and a terminate from such a depth behaves as from outside. */
#define CALLS_HERE 8
static _Thread_local struct {
	const hpool *p;
	unsigned n;
} calls_here[CALLS_HERE];

static void here_add(const hpool *p, int d)
{
	unsigned i, fr = CALLS_HERE;

	for (i = 0; i < CALLS_HERE; i++) {
		if (calls_here[i].p == p && calls_here[i].n) {
			calls_here[i].n += d;
			return;
		}
		if (!calls_here[i].n && fr == CALLS_HERE)
			fr = i;
	}
	if (d > 0 && fr < CALLS_HERE) {
		calls_here[fr].p = p;
		calls_here[fr].n = 1;
	}
}

unsigned hpool__calls_here(const hpool *p)
{
	for (unsigned i = 0; i < CALLS_HERE; i++)
		if (calls_here[i].p == p && calls_here[i].n)
			return calls_here[i].n;
	return 0;
}

void hpool__enter_unchecked(hpool *p)
{
	atomic_fetch_add_explicit(&p->active, 1, memory_order_acq_rel);
}

void hpool__progress(hpool *p, void (*fn)(size_t, size_t, void *),
		     size_t done, size_t total, void *arg)
{
	here_add(p, 1);
	fn(done, total, arg);
	here_add(p, -1);
}

int hpool__enter(hpool *p, const char *fn)
{
	int e = hpool__check(p, fn);

	if (!e)
		hpool__enter_unchecked(p);
	return e;
}

void hpool__leave(hpool *p)
{
	/* Pairs with the release in finish() storing free_at_leave while
	 * its own call was still counted: the leave that reaches 0 sees it. */
	if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) ==
		    1 &&
	    atomic_load_explicit(&p->free_at_leave, memory_order_acquire))
		p->finish_free(p);
}

/* ---- a task's handle to its own pool (nested work) ------------------------ */

/* What a process worker's pool handle runs on: the region only. It
 * starts and stops nothing (the caller's handle does); the worker dies
 * with its supervisor, so nothing needs to be watched. */
static int inworker_start(struct hpool__workers *wk)
{
	return -EINVAL;
}

static void inworker_stop(struct hpool__workers *wk, bool now)
{
}

static const struct hpool__backend inworker = {
	.name = "worker",
	.isolated = true,
	.start = inworker_start,
	.stop = inworker_stop,
};

/* In a process worker: a private handle over the region for the
 * caller's pool, made on first use. NULL when out of memory. */
static hpool *inworker_pool(struct hpool__shared *sh)
{
	hpool *l = hpool__self.local;

	if (l)
		return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->magic = HPOOL__POOL_LIVE;
	l->fork_gen = hpool__fork_gen();
	l->mode = sh->mode;
	l->nworkers = sh->nworkers;
	l->shm_size = sh->shm_size;
	l->shm = l->wk.shm = sh->shm;
	l->sh = l->wk.sh = sh;
	l->wk.ops = &inworker;
	l->in_worker = true;
	pthread_mutex_init(&l->lock, NULL);
	hpool__futs_init(l);
	hpool__self.local = l;
	return l;
}

/* A handle's lists of futures (future.c), made and ended with it. */
void hpool__futs_init(hpool *p)
{
	for (unsigned i = 0; i < HPOOL__FUT_LISTS; i++)
		pthread_mutex_init(&p->futs[i].lock, NULL);
}

void hpool__futs_fini(hpool *p)
{
	for (unsigned i = 0; i < HPOOL__FUT_LISTS; i++)
		pthread_mutex_destroy(&p->futs[i].lock);
}

hpool *hpool__resolve(hpool *p)
{
	struct hpool__shared *sh = hpool__self.sh;

	/* Compare the caller's handle value first: in a process worker
	 * p points into the caller's memory, not ours. */
	if (!p || !sh || sh->handle != p)
		return p;
	if (hpool__self.in_caller) /* a thread of the caller: the same */
		return p;
	return inworker_pool(sh) ? hpool__self.local : p;
}

_Thread_local const hpool *hpool__inline_task;

bool hpool__in_own_task(const hpool *p)
{
	if (p && p == hpool__inline_task)
		return true;
	return p && hpool__self.sh && (p == hpool__self.local ||
				       (const void *)p == hpool__self.sh->handle);
}

uint64_t hpool__owner_tag(const hpool *p)
{
	const struct hpool__wctl *w = hpool__self.w;

	/* Only a process worker can die alone and leave its segments. */
	return p->in_worker && w ? HPOOL__OWNER(w->index, w->incarnation) :
				   HPOOL__OWNER_CALLER;
}

uint32_t hpool__publisher(const hpool *p)
{
	return hpool__self.sh == p->sh && hpool__self.w ?
		       hpool__self.w->index + 1 : 0;
}
