/* SPDX-License-Identifier: MIT */
/*
 * The worker: serve one ring, in a thread of the caller or in a process
 * forked by the supervisor. Same code in both.
 *
 * Progress record and repair. For every item the worker
 *   (1) stores running = RUN(head, i)        (its own word in wctl)
 *   (2) calls fn
 *   (3) stores res[i] = DONE | status (release)
 * and, once every item of the slot is stored, marks the chunk done, then
 * releases the slot. A worker may die anywhere; after it was reaped the
 * supervisor looks at slot[head]:
 *   - items with DONE in res[] are kept (finished before the death);
 *   - the first item without DONE failed if running names it (died in
 *     (2) or between (2) and (3)); else it never started;
 *   - the slot is rewritten to hold the rest, which a replacement runs; if
 *     nothing is left the supervisor finishes the chunk and releases.
 * So no item is lost, none runs twice after it stored a result, and only
 * the one in fn at the moment of death fails.
 */
#include "pool.h"

#include <dlfcn.h>
#include <errno.h>

void hpool__chunk_finish(struct hpool__shared *sh, struct hpool__chunk *c)
{
	/* Pairs with the caller's acquire load of done before it reads
	 * res[] and out. Idempotent: a repair after a death right here
	 * stores it again, on the same chunk, since the caller does not
	 * reuse a cell before its slot is released (hpool__chunk.ring). */
	atomic_store_explicit(&c->done, 1, memory_order_release);
	/* c may be freed from here on: touch only the pool's event. */
	hpool__event_signal(&sh->done);
}

void hpool__run_task(struct hpool__wctl *w, uint32_t head,
		     struct hpool__task *t, bool post_timeout,
		     const _Atomic uint32_t *stop)
{
	struct hpool__chunk *c = t->chunk;
	const struct hpool__job *job = c->job;
	uint32_t i;

	for (i = t->lo; i < t->hi; i++) {
		const void *in = c->in + (size_t)i * job->in_size;
		void *out = c->out + (size_t)i * job->out_size;
		int64_t start = 0;
		int st;

		if (stop && atomic_load_explicit(stop, memory_order_relaxed) ==
				    HPOOL__CLOSE_NOW)
			return;
		if (job->timeout_ns) {
			start = hpool__now_ns();
			if (w)
				atomic_store_explicit(&w->deadline_ns,
						      start + job->timeout_ns,
						      memory_order_relaxed);
		}
		if (w)
			atomic_store_explicit(&w->running,
					      HPOOL__RUN(head, i),
					      memory_order_relaxed);
		HPOOL__FAULT(HPOOL__F_ITEM_STARTED);
		st = job->fn(out, in, job->ctx);
		HPOOL__FAULT(HPOOL__F_ITEM_RAN);
		/* Terminated while fn ran (a thread-mode task cannot be
		 * stopped): the caller has moved on and freed the chunk, so
		 * touch nothing of it. */
		if (stop && atomic_load_explicit(stop, memory_order_acquire) ==
				    HPOOL__CLOSE_NOW)
			return;
		/* Thread and serial modes cannot stop an overdue task; they
		 * report it when it returns. */
		if (post_timeout && job->timeout_ns &&
		    hpool__now_ns() - start > job->timeout_ns)
			st = -ETIMEDOUT;
		/* Pairs with the caller's acquire of done (through the
		 * chunk's release) and with the supervisor after reaping. */
		atomic_store_explicit(&c->res[i], HPOOL__RES(st),
				      memory_order_release);
		HPOOL__FAULT(HPOOL__F_ITEM_STORED);
	}
	t->lo = t->hi;
	if (w) {
		atomic_store_explicit(&w->deadline_ns, 0, memory_order_relaxed);
		atomic_store_explicit(&w->running, HPOOL__IDLE,
				      memory_order_relaxed);
	}
}

/* Give an OpenMP runtime, if the program has one, this worker's share of
 * the cores (no oversubscription). Looked up at run time, so hpool itself
 * does not depend on OpenMP. The worker runs in a thread of its own, whose
 * OpenMP state is fresh: libgomp's pool of a parent that ran a parallel
 * region before fork is bound to the parent's thread, not to this one. */
static void give_openmp_share(unsigned threads)
{
	void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT,
						 "omp_set_num_threads");

	if (set && threads)
		set((int)threads);
}

struct ring_arg {
	struct hpool__wctl *w;
	const _Atomic uint32_t *closing;
};

static bool has_work(void *arg)
{
	struct ring_arg *a = arg;

	/* Pairs with the producer's release of tail (ring R1) and the
	 * caller's store of closing before it signals wake. */
	return hpool__ring_count(a->w->ring) != 0 ||
	       atomic_load_explicit(a->closing, memory_order_acquire);
}

int hpool__worker_loop(struct hpool__shared *sh, unsigned wi,
		       const struct hpool__topo *topo)
{
	struct hpool__wctl *w = &sh->w[wi];
	struct ring_arg arg = { w, &sh->closing };
	bool post_timeout = sh->mode != HPOOL_MODE_PROCESS;
	uint64_t served = 0;

	if (sh->bind && topo)
		hpool__topo_bind(topo, wi, 1);
	give_openmp_share(sh->omp_threads);
	if (sh->init) {
		int st = sh->init(sh->init_ctx);

		if (st) {
			w->init_status = st;
			atomic_store_explicit(&w->state, HPOOL__W_INIT_FAILED,
					      memory_order_release);
			hpool__event_signal(&sh->ready);
			return HPOOL__EXIT_INIT;
		}
	}
	/* Pairs with hpool_create's acquire load of state. */
	atomic_store_explicit(&w->state, HPOOL__W_READY, memory_order_release);
	hpool__event_signal(&sh->ready);

	for (;;) {
		uint32_t close = atomic_load_explicit(&sh->closing,
						      memory_order_acquire);
		struct hpool__task *t;
		uint32_t head;

		if (close == HPOOL__CLOSE_NOW)
			return 0;
		t = hpool__ring_peek(w->ring);
		if (!t) {
			if (close)
				return 0;
			hpool__event_wait(&w->wake, has_work, &arg,
					  HPOOL__SPIN_NS, -1);
			continue;
		}
		head = atomic_load_explicit(&w->ring->head,
					    memory_order_relaxed);
		HPOOL__FAULT(HPOOL__F_RING_PEEKED);
		served += t->hi - t->lo;
		hpool__run_task(w, head, t, post_timeout, &sh->closing);
		if (t->lo != t->hi || atomic_load_explicit(&sh->closing,
				memory_order_acquire) == HPOOL__CLOSE_NOW)
			return 0; /* terminated: the caller canceled the rest */
		hpool__chunk_finish(sh, t->chunk);
		HPOOL__FAULT(HPOOL__F_CHUNK_DONE);
		hpool__ring_release(w->ring);
		hpool__event_signal(&sh->space);
		if (sh->max_tasks && served >= sh->max_tasks &&
		    sh->mode == HPOOL_MODE_PROCESS)
			return 0; /* retire: the supervisor starts a fresh one */
	}
}

/* Finish the chunk of the slot at head if nothing is left in it, and
 * release the slot. Context: nobody else consumes the ring. */
static void settle_head(struct hpool__shared *sh, struct hpool__wctl *w,
			struct hpool__task *t)
{
	if (t->lo != t->hi)
		return;
	hpool__chunk_finish(sh, t->chunk);
	hpool__ring_release(w->ring);
	hpool__event_signal(&sh->space);
}

void hpool__repair(struct hpool__shared *sh, struct hpool__wctl *w, int code,
		   uint64_t target, int sig, int exit_status, pid_t pid)
{
	uint64_t run = atomic_load_explicit(&w->running, memory_order_relaxed);
	struct hpool__task *t = hpool__ring_peek(w->ring);
	struct hpool__chunk *c;
	uint32_t head, i;

	atomic_store_explicit(&w->running, HPOOL__IDLE, memory_order_relaxed);
	atomic_store_explicit(&w->deadline_ns, 0, memory_order_relaxed);
	if (!t)
		return;
	c = t->chunk;
	head = atomic_load_explicit(&w->ring->head, memory_order_relaxed);
	i = t->lo;
	/* Items stored before the death are kept (acquire pairs with the
	 * worker's release store of res; the reaping ordered it anyway). */
	while (i < t->hi && (atomic_load_explicit(&c->res[i],
				memory_order_acquire) & HPOOL__RES_DONE))
		i++;
	/* A timeout kill that hit a later item than the overdue one (the
	 * worker moved on in between) leaves that item to be run again. */
	if (i < t->hi && run == HPOOL__RUN(head, i) &&
	    (target == HPOOL__IDLE || target == run)) {
		c->crash_worker = (int32_t)w->index;
		c->crash_pid = pid;
		c->crash_sig = sig;
		c->crash_exit = exit_status;
		atomic_store_explicit(&c->res[i], HPOOL__RES(code),
				      memory_order_release);
		i++;
	}
	t->lo = i;
	settle_head(sh, w, t);
}

void hpool__ring_fail_all(struct hpool__shared *sh, struct hpool__wctl *w,
			  int code)
{
	struct hpool__task *t;

	atomic_store_explicit(&w->running, HPOOL__IDLE, memory_order_relaxed);
	while ((t = hpool__ring_peek(w->ring))) {
		struct hpool__chunk *c = t->chunk;
		uint32_t i;

		for (i = t->lo; i < t->hi; i++)
			if (!(atomic_load_explicit(&c->res[i],
					memory_order_acquire) & HPOOL__RES_DONE))
				atomic_store_explicit(&c->res[i],
						      HPOOL__RES(code),
						      memory_order_release);
		t->lo = t->hi;
		settle_head(sh, w, t);
	}
}
