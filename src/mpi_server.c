/* SPDX-License-Identifier: MIT */
/*
 * An MPI server rank (HPOOL_MODE=mpi, rank > 0): inside its first
 * hpool_create it becomes this loop and never returns to the program.
 * For each pool rank 0 creates, it makes a local process-mode pool (crash
 * isolation on every node; its share of the node's cores when several
 * server ranks share the node; none on rank 0's node when rank 0 serves
 * that node itself, HPOOL_MPI_LOCAL) and runs the batches rank 0 ships with
 * hpool_map on it; when rank 0 finalizes (STOP) it destroys what is left,
 * calls MPI_Finalize and exits(0). If rank 0 dies, Open MPI kills this
 * rank too, and the local pool's workers follow their supervisor (they
 * never outlive the process that made them: see supervisor.c).
 *
 * Threads: the main thread alone calls MPI (probe, receive, MPI_Isend of
 * results, never a blocking send: rank 0 may be sending a large batch at
 * the same time). Runner threads (CREDITS per local worker, so that every
 * batch rank 0 may have in flight can run at once) take batches from the
 * pool's queue, call hpool_map and hand the result message back through
 * the done queue. Queues are under one mutex; the main thread sleeps on
 * `done_cv` between probes (a short, growing timeout: MPI has no
 * descriptor to wait on).
 *
 * A task's nested calls on its pool handle (rank 0's pointer value) go to
 * this rank's local pool: the local region's `handle` is set to that
 * value, which hpool__resolve compares in a worker. HPOOL_MODE is set to
 * "process" here, so that a task's own hpool_create makes a local pool.
 */
#include "config.h"
#include "mpi_wire.h"
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct item {
	struct item *next;
	struct lpool *lp;
	struct hpool__msg *in;   /* the BATCH message */
	struct hpool__msg *out;  /* the RESULT message */
	size_t out_len;
	MPI_Request req;
};

struct lpool {
	struct lpool *next;
	uint32_t id;
	hpool *pool;
	pthread_t *run;
	unsigned nrun;
	bool closing;
	struct item *todo, **todo_tail;
	pthread_cond_t todo_cv;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static struct item *done_head, **done_tail = &done_head;
static struct lpool *pools;
static struct item *sending; /* RESULTs whose MPI_Isend is in flight */
static char host[64];

static void item_free(struct item *it)
{
	free(it->in);
	free(it->out);
	free(it);
}

/* ---- runners --------------------------------------------------------------- */

struct fcache {
	struct hpool__fnref ref;
	void *fn;
	int err;
	char why[300];
};

static void run_batch(struct item *it, struct fcache *fc)
{
	const struct hpool__msg *h = it->in;
	const char *ctx = (const char *)(h + 1);
	const char *in = ctx + h->ctx_size;
	struct hpool__msg *r;
	int32_t *st;
	char *out;
	uint32_t i;

	it->out_len = sizeof(*r) + h->count * sizeof(int32_t) +
		      h->count * h->out_size;
	r = calloc(1, it->out_len);
	if (!r)
		HPOOL__DIE("out of memory for an MPI result");
	it->out = r;
	st = (int32_t *)(r + 1);
	out = (char *)(st + h->count);
	r->kind = HPOOL__MSG_RESULT;
	r->pool = h->pool;
	r->batch = h->batch;
	r->count = h->count;
	snprintf(r->host, sizeof(r->host), "%s", host);
	if (memcmp(&fc->ref, &h->fn, sizeof(h->fn))) {
		fc->ref = h->fn;
		fc->err = hpool__fnref_resolve(&h->fn, &fc->fn, fc->why,
					       sizeof(fc->why));
	}
	if (fc->err) {
		r->err = fc->err;
		snprintf(r->note, sizeof(r->note), "%s", fc->why);
		for (i = 0; i < h->count; i++)
			st[i] = fc->err;
		return;
	}
	{
		hpool_map_opts o = { .chunk = h->chunk, .status = st,
				     .timeout_ns = h->timeout_ns };
		int e;

		/* A one-item batch of a chunk-1 call is one task here too. */
		if (o.chunk > h->count)
			o.chunk = h->count;
		e = hpool_map(it->lp->pool, (hpool_fn)fc->fn,
			      h->ctx_size ? ctx : NULL, h->ctx_size,
			      h->count && h->in_size ? in : NULL, h->in_size,
			      h->out_size ? out : NULL, h->out_size, h->count,
			      &o);
		if (e && e != HPOOL_ETASK) {
			const char *t = hpool_last_error();
			const char *f = strstr(t, "failed: ");

			snprintf(r->note, sizeof(r->note), "%s",
				 f ? f + 8 : t);
			for (i = 0; i < h->count; i++)
				if (!st[i])
					break;
			/* A call that failed as a whole (not per item)
			 * left statuses unset: they all fail with it. */
			if (e != HPOOL_ECRASH && e != -ETIMEDOUT &&
			    e != HPOOL_ECANCELED)
				for (i = 0; i < h->count; i++)
					st[i] = st[i] ? st[i] : e;
		}
	}
}

static void *runner_main(void *arg)
{
	struct lpool *lp = arg;
	struct fcache fc;

	memset(&fc, 0, sizeof(fc));
	fc.err = -ENOENT;
	snprintf(fc.why, sizeof(fc.why), "no function yet");
	pthread_mutex_lock(&mu);
	for (;;) {
		struct item *it;

		while (!lp->todo && !lp->closing)
			pthread_cond_wait(&lp->todo_cv, &mu);
		if (!lp->todo)
			break;
		it = lp->todo;
		lp->todo = it->next;
		if (!lp->todo)
			lp->todo_tail = &lp->todo;
		pthread_mutex_unlock(&mu);
		run_batch(it, &fc);
		pthread_mutex_lock(&mu);
		it->next = NULL;
		*done_tail = it;
		done_tail = &it->next;
		pthread_cond_signal(&done_cv);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- requests -------------------------------------------------------------- */

static void answer(const struct hpool__msg *h, uint32_t pool)
{
	MPI_Send(h, sizeof(*h), MPI_BYTE, 0, HPOOL__MPI_TAG_ANS(pool),
		 MPI_COMM_WORLD);
}

static void on_create(struct hpool__msg *h)
{
	struct hpool__msg a;
	struct lpool *lp = NULL;
	hpool_config cfg;
	unsigned char id[HPOOL__BUILD_ID_MAX];
	unsigned idn, i, share;
	void *init = NULL;
	int e = 0;

	memset(&a, 0, sizeof(a));
	a.kind = HPOOL__MSG_CREATED;
	a.pool = h->pool;
	snprintf(a.host, sizeof(a.host), "%s", host);
	idn = hpool__program_build_id(id, sizeof(id));
	if (idn != h->prog_id_len || memcmp(id, h->prog_id, idn)) {
		char x[80], y[80];

		hpool__build_id_hex(id, idn, x, sizeof(x));
		hpool__build_id_hex(h->prog_id, h->prog_id_len, y, sizeof(y));
		e = -ENOEXEC;
		snprintf(a.note, sizeof(a.note), "this rank runs another build "
			 "of the program (build id %s here, %s on rank 0): "
			 "every rank must run the same build", x, y);
		goto out;
	}
	/* Rank 0 serves its own node with workers of its own: a server
	 * there runs none (no pool; DESTROY finds none and answers). */
	if (h->rank0_node && hpool__mpi_node_has_rank0()) {
		struct hpool__topo *t;

		if (!hpool__topo_open(&t)) {
			hpool__topo_allowed_list(t, a.cpus, sizeof(a.cpus));
			hpool__topo_close(t);
		}
		goto out;
	}
	if (h->has_fn &&
	    (e = hpool__fnref_resolve(&h->fn, &init, a.note, sizeof(a.note))))
		goto out;
	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	/* Its share of the node: the cores over the server ranks here. */
	share = 0;
	if (!h->workers) {
		struct hpool__topo *t;

		if (!hpool__topo_open(&t)) {
			share = hpool__topo_cores(t) /
				(unsigned)hpool__mpi_node_servers();
			hpool__topo_close(t);
		}
		if (share < 1)
			share = 1;
	}
	cfg.workers = h->workers ? h->workers : share;
	cfg.max_tasks_per_worker = h->max_tasks;
	cfg.bind = h->bind;
	cfg.shm_size = h->shm_size;
	cfg.init = (int (*)(const void *))init;
	cfg.init_ctx = h->ctx_size ? (const void *)(h + 1) : NULL;
	cfg.init_ctx_size = h->ctx_size;
	lp = calloc(1, sizeof(*lp));
	if (!lp) {
		e = -ENOMEM;
		snprintf(a.note, sizeof(a.note), "out of memory");
		goto out;
	}
	if ((e = hpool_create(&lp->pool, &cfg))) {
		snprintf(a.note, sizeof(a.note), "%s", hpool_last_error());
		free(lp);
		lp = NULL;
		goto out;
	}
	/* Nested calls from its tasks name rank 0's handle. */
	lp->pool->sh->handle = (const void *)(uintptr_t)h->handle;
	lp->pool->sh->mode = HPOOL_MODE_MPI;
	lp->id = h->pool;
	lp->todo_tail = &lp->todo;
	pthread_cond_init(&lp->todo_cv, NULL);
	a.workers = hpool_workers(lp->pool);
	lp->run = calloc(a.workers * HPOOL__MPI_CREDITS, sizeof(*lp->run));
	for (i = 0; lp->run && i < a.workers * HPOOL__MPI_CREDITS; i++) {
		if (pthread_create(&lp->run[i], NULL, runner_main, lp))
			break;
		lp->nrun++;
	}
	if (!lp->nrun) {
		e = -EAGAIN;
		snprintf(a.note, sizeof(a.note), "cannot start runner threads");
		hpool_terminate(lp->pool);
		free(lp->run);
		free(lp);
		lp = NULL;
		goto out;
	}
	pthread_mutex_lock(&mu);
	lp->next = pools;
	pools = lp;
	pthread_mutex_unlock(&mu);
out:
	a.err = e;
	answer(&a, h->pool);
}

static struct lpool *find_pool(uint32_t id)
{
	struct lpool *lp;

	for (lp = pools; lp && lp->id != id; lp = lp->next)
		;
	return lp;
}

/* Stop one local pool: drain (it has no batch left: rank 0 waited for
 * every result) or terminate; join its runners; drop what it still had. */
static void pool_end(struct lpool *lp, bool now)
{
	struct lpool **pp;
	struct item *it, **ip;
	unsigned i;

	pthread_mutex_lock(&mu);
	lp->closing = true;
	if (now) { /* what nobody started never runs */
		while ((it = lp->todo)) {
			lp->todo = it->next;
			item_free(it);
		}
		lp->todo_tail = &lp->todo;
	}
	pthread_cond_broadcast(&lp->todo_cv);
	pthread_mutex_unlock(&mu);
	if (now)
		hpool_terminate(lp->pool); /* running maps return */
	for (i = 0; i < lp->nrun; i++)
		pthread_join(lp->run[i], NULL);
	if (!now)
		hpool_destroy(lp->pool);
	pthread_mutex_lock(&mu);
	for (ip = &done_head; (it = *ip);) {
		if (it->lp == lp) {
			*ip = it->next;
			item_free(it);
		} else {
			ip = &it->next;
		}
	}
	for (done_tail = &done_head; *done_tail;
	     done_tail = &(*done_tail)->next)
		;
	for (pp = &pools; *pp != lp; pp = &(*pp)->next)
		;
	*pp = lp->next;
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&lp->todo_cv);
	free(lp->run);
	free(lp);
}

static void on_destroy(struct hpool__msg *h)
{
	struct hpool__msg a;
	struct lpool *lp;

	pthread_mutex_lock(&mu);
	lp = find_pool(h->pool);
	pthread_mutex_unlock(&mu);
	if (lp)
		pool_end(lp, h->count != 0);
	memset(&a, 0, sizeof(a));
	a.kind = HPOOL__MSG_DESTROYED;
	a.pool = h->pool;
	answer(&a, h->pool);
}

/* Return: false when the message was STOP. */
static bool on_request(struct hpool__msg *h, size_t len)
{
	struct lpool *lp;
	struct item *it;
	size_t body;

	switch (h->kind) {
	case HPOOL__MSG_CREATE:
		on_create(h);
		break;
	case HPOOL__MSG_DESTROY:
		on_destroy(h);
		break;
	case HPOOL__MSG_STOP:
		return false;
	case HPOOL__MSG_BATCH:
		/* Rank 0 runs the same build; a message shorter than what it
		 * announces is a broken invariant, not input to survive. */
		body = len >= sizeof(*h) ? len - sizeof(*h) : 0;
		if (len < sizeof(*h) || body < h->ctx_size ||
		    (h->in_size &&
		     (body - h->ctx_size) / h->in_size < h->count))
			HPOOL__DIE("a short MPI batch message");
		it = calloc(1, sizeof(*it));
		if (!it)
			HPOOL__DIE("out of memory");
		pthread_mutex_lock(&mu);
		lp = find_pool(h->pool);
		if (!lp || lp->closing) { /* a pool being terminated */
			pthread_mutex_unlock(&mu);
			free(it);
			break;
		}
		it->lp = lp;
		it->in = h;
		h = NULL; /* the item owns it */
		*lp->todo_tail = it;
		lp->todo_tail = &it->next;
		pthread_cond_signal(&lp->todo_cv);
		pthread_mutex_unlock(&mu);
		break;
	}
	free(h);
	return true;
}

/* Send finished results; reap completed sends. Return: something moved. */
static bool flush(void)
{
	struct item *it, **ip;
	bool moved = false;

	pthread_mutex_lock(&mu);
	while ((it = done_head)) {
		done_head = it->next;
		if (!done_head)
			done_tail = &done_head;
		MPI_Isend(it->out, (int)it->out_len, MPI_BYTE, 0,
			  HPOOL__MPI_TAG_ANS(it->lp->id), MPI_COMM_WORLD,
			  &it->req);
		it->next = sending;
		sending = it;
		moved = true;
	}
	pthread_mutex_unlock(&mu);
	for (ip = &sending; (it = *ip);) {
		int flag = 0;

		MPI_Test(&it->req, &flag, MPI_STATUS_IGNORE);
		if (flag) {
			*ip = it->next;
			item_free(it);
		} else {
			ip = &it->next;
		}
	}
	return moved;
}

void hpool__mpi_serve(int rank, int size)
{
	unsigned idle = 0;
	bool run = true;

	(void)size;
	gethostname(host, sizeof(host) - 1);
	/* The server ranks of this node split its cores. */
	hpool__node_share = (unsigned)hpool__mpi_node_servers();
	{
		struct hpool__topo *t;

		if (!hpool__topo_open(&t)) {
			unsigned c = hpool__topo_cores(t);
			unsigned per = c / hpool__node_share ?
					       c / hpool__node_share : 1;

			/* Bound workers start at this rank's share. */
			hpool__core_first = (unsigned)hpool__mpi_node_index() *
					    per;
			hpool__topo_close(t);
		}
	}
	/* A task's own hpool_create makes a pool on this node. */
	setenv("HPOOL_MODE", "process", 1);
	while (run) {
		MPI_Status st;
		int flag = 0, n;
		bool moved = false;

		MPI_Iprobe(0, HPOOL__MPI_TAG_REQ, MPI_COMM_WORLD, &flag, &st);
		if (flag) {
			struct hpool__msg *h;

			MPI_Get_count(&st, MPI_BYTE, &n);
			h = malloc((size_t)n > sizeof(*h) ? (size_t)n :
							     sizeof(*h));
			if (!h)
				HPOOL__DIE("out of memory for an MPI message");
			MPI_Recv(h, n, MPI_BYTE, 0, HPOOL__MPI_TAG_REQ,
				 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			run = on_request(h, (size_t)n);
			moved = true;
		}
		moved |= flush();
		if (moved) {
			idle = 0;
			continue;
		}
		if (idle < 16) {
			idle++;
			sched_yield();
			continue;
		}
		{
			/* Sleep until a runner finishes, or a while (a
			 * request may come): 1 us growing to 1 ms. */
			struct timespec ts;
			int64_t d = (int64_t)1000 << (idle < 26 ? idle - 16 :
						      10);

			if (idle < 26)
				idle++;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += d;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_mutex_lock(&mu);
			if (!done_head)
				pthread_cond_timedwait(&done_cv, &mu, &ts);
			pthread_mutex_unlock(&mu);
		}
	}
	/* STOP: rank 0 is finalizing; nothing it has will be waited for. */
	while (pools)
		pool_end(pools, true);
	{
		struct item *it;

		while ((it = sending)) {
			int done = 0;

			sending = it->next;
			MPI_Test(&it->req, &done, MPI_STATUS_IGNORE);
			if (!done) {
				MPI_Cancel(&it->req);
				MPI_Wait(&it->req, MPI_STATUS_IGNORE);
			}
			item_free(it);
		}
	}
	MPI_Finalize();
	exit(0);
}
