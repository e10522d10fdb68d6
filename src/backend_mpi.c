/* SPDX-License-Identifier: MIT */
/*
 * The MPI backend (HPOOL_MODE=mpi), rank 0's side. Rank 0 is the caller;
 * every other rank serves (mpi_server.c) with a local process pool. The
 * pool's worker slots are of two kinds:
 *
 *   slots [0, nlocal) (sh->nsup) are rank 0's own workers, for its own
 *   node: a supervisor forked from rank 0 runs them exactly as in process
 *   mode (backend_fork.c's operations; priv begins with its struct
 *   hpool__sup), and they claim from the segments in place. With
 *   HPOOL_MPI_LOCAL=node (the default) the servers on rank 0's node run
 *   no pool: these workers have their cores.
 *
 *   slots [nlocal, nworkers) are claim records driven by one bridge
 *   thread: slot nlocal + k stands for one worker of one server (server r
 *   owns the slots nlocal + [base_r, base_r + workers_r)); batch b uses
 *   record w[nlocal + b / CREDITS].rec[b % CREDITS], so a server has at
 *   most CREDITS batches per worker in flight (its credits).
 *
 * The supervisor never touches the bridge's slots (its loops stop at
 * nsup); the claim protocol's scans cover both kinds.
 *
 * The bridge claims batches from published segments exactly as a worker
 * claims ranges (claim.c, hpool__claim_batch: the record is a hazard that
 * keeps the segment alive, and OWNED while the batch is away), ships the
 * function reference, ctx bytes and inputs to a server with a free
 * credit, and when the RESULT comes back copies the outputs to seg->out,
 * stores each item's status (hpool__batch_finish: release, pairs with the
 * caller's acquire of res) and frees the record. Nothing above this file
 * knows that the items ran elsewhere.
 *
 * Memory: ctx and in are copied to the rank that runs them, outputs
 * copied back; hpool_shm_alloc memory passed as in, out or ctx is copied
 * the same way (plain bytes); pointers inside items are not followed.
 *
 * Failures: a task that crashes on a server fails its item with
 * HPOOL_ECRASH (the server's pool isolates it) and crash_rank names the
 * rank; a rank that dies ends the whole job (Open MPI's default: mpirun
 * kills every rank and says which one died), so no caller waits forever.
 * The bridge never blocks in MPI: sends are MPI_Isend (a server may be
 * sending a large result at the same time), receives follow a probe.
 */
#include "config.h"
#include "backend.h"
#include "claim.h"
#include "mpi_wire.h"
#include "supervisor.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTES 16 /* failure notes kept per server */
#define BATCH_BYTES ((size_t)4 << 20) /* a batch's inputs + outputs, at most */

struct server {
	int rank;
	unsigned workers, base;  /* its slots: nlocal + [base, +workers) */
	unsigned inflight;
	char host[64];
	char cpus[256];          /* CREATED: its PUs, when it runs none */
	/* Why its last failed items failed (a ring), and which */
	struct {
		char text[320];
		const struct hpool__seg *seg;
		size_t item;
	} note[NOTES];
	unsigned nnote;
};

struct batch {
	bool busy;
	unsigned server;
	struct hpool__claim *rec;
	struct hpool__seg *seg;
	char *buf;               /* the BATCH message, until sent */
	MPI_Request req;
};

struct mpib {
	/* Rank 0's own workers (slots [0, nlocal)): a supervisor forked
	 * from rank 0, as in process mode. First, so that the supervisor
	 * backends' operations (backend_fork.c) take priv as theirs. */
	struct hpool__sup sup;
	unsigned nlocal;
	bool node;               /* rank 0 serves its node: its supervisor is
				    forked bound to the node's PUs */
	uint32_t id;
	int nranks;
	unsigned nsrv;           /* server ranks (some may run no workers) */
	struct server *srv;
	struct batch *b;         /* CREDITS per worker slot */
	unsigned nb;
	unsigned inflight;
	unsigned rr;             /* next server to offer work to */
	bool over;               /* MPI was finalized under this pool */
	uint64_t nbatches, nitems; /* shipped (HPOOL_MPI_STATS prints them) */
	pthread_t th;
	bool th_started;
	char *rbuf;
	size_t rcap, rlen;       /* its room, the last message's bytes */
	int32_t *st;             /* statuses of one batch */
	size_t stcap;
	const void *last_fn;     /* the last function shipped ... */
	struct hpool__fnref last_ref; /* ... and its reference */
	pthread_mutex_t note_mu; /* the servers' notes (bridge writes,
				    callers read in explain) */
};

static _Atomic uint32_t pool_ids;

static void msg_send_blocking(const void *buf, size_t len, int rank)
{
	hpool__mpi_lock();
	if (!hpool__mpi_over())
		MPI_Send(buf, (int)len, MPI_BYTE, rank, HPOOL__MPI_TAG_REQ,
			 MPI_COMM_WORLD);
	hpool__mpi_unlock();
}

/* Probe for an answer of pool m; receive it into m->rbuf.
 * Return: true and *src when one came. */
static bool recv_answer(struct mpib *m, int *src)
{
	MPI_Status st;
	int flag = 0, n;

	hpool__mpi_lock();
	if (hpool__mpi_over()) {
		m->over = true;
		hpool__mpi_unlock();
		return false;
	}
	MPI_Iprobe(MPI_ANY_SOURCE, HPOOL__MPI_TAG_ANS(m->id), MPI_COMM_WORLD,
		   &flag, &st);
	if (!flag) {
		hpool__mpi_unlock();
		return false;
	}
	MPI_Get_count(&st, MPI_BYTE, &n);
	if ((size_t)n > m->rcap) {
		free(m->rbuf);
		m->rcap = (size_t)n * 2;
		m->rbuf = malloc(m->rcap);
		if (!m->rbuf)
			HPOOL__DIE("out of memory for an MPI message");
	}
	MPI_Recv(m->rbuf, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG,
		 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	hpool__mpi_unlock();
	m->rlen = (size_t)n;
	*src = st.MPI_SOURCE;
	return true;
}

/* Wait for answers of one kind from every server (create, destroy). */
static void recv_from_all(struct mpib *m, uint32_t kind,
			  void (*each)(struct mpib *, int, struct hpool__msg *))
{
	unsigned got = 0;
	char *seen = calloc((size_t)m->nranks, 1);
	struct timespec ts = { 0, 20000 };

	if (!seen)
		HPOOL__DIE("out of memory");
	while (got < m->nsrv && !m->over) {
		int src;
		struct hpool__msg *h;

		if (!recv_answer(m, &src)) {
			nanosleep(&ts, NULL);
			continue;
		}
		h = (struct hpool__msg *)m->rbuf;
		if (h->kind != kind || seen[src])
			continue; /* a late RESULT of a terminated pool */
		seen[src] = 1;
		got++;
		if (each)
			each(m, src, h);
	}
	free(seen);
}

static int g_create_err;
static char g_create_why[512];

static void on_created(struct mpib *m, int src, struct hpool__msg *h)
{
	struct server *s = &m->srv[src - 1];

	s->rank = src;
	s->workers = h->err ? 0 : h->workers;
	snprintf(s->host, sizeof(s->host), "%s", h->host);
	snprintf(s->cpus, sizeof(s->cpus), "%s", h->cpus);
	if (h->err && !g_create_err) {
		g_create_err = h->err;
		snprintf(g_create_why, sizeof(g_create_why), "rank %d (host "
			 "%s): %s", src, h->host, h->note);
	}
}

static void destroy_remote(struct mpib *m, int now)
{
	struct hpool__msg h;
	unsigned i;

	memset(&h, 0, sizeof(h));
	h.kind = HPOOL__MSG_DESTROY;
	h.pool = m->id;
	h.count = (uint32_t)now;
	for (i = 0; i < m->nsrv; i++)
		msg_send_blocking(&h, sizeof(h), (int)i + 1);
	recv_from_all(m, HPOOL__MSG_DESTROYED, NULL);
}

static int mpi_size(struct hpool__workers *wk, const struct hpool__settings *s,
		    const hpool_config *cfg, unsigned *n)
{
	struct hpool__msg *h;
	struct mpib *m;
	size_t ictx = cfg && cfg->init_ctx ? cfg->init_ctx_size : 0;
	/* HPOOL_MPI_LOCAL (config.c): node (-1) serves rank 0's node from
	 * here, with `workers` or the node's cores, and its server ranks
	 * run none; N runs N here and leaves the servers of this node their
	 * share (tests, or a node with cores to spare); 0 runs none. */
	bool node = s->mpi_local < 0;
	unsigned i, remote = 0, local = node ? 1 : (unsigned)s->mpi_local;
	int rank, size, e;

	if ((e = hpool__mpi_session(&rank, &size)))
		return e;
	if (rank > 0)
		hpool__mpi_serve(rank, size); /* never returns */
	m = calloc(1, sizeof(*m));
	if (!m)
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	wk->priv = m;
	m->sup.pidfd = -1;
	m->node = node;
	pthread_mutex_init(&m->note_mu, NULL);
	m->id = atomic_fetch_add(&pool_ids, 1) + 1;
	m->nranks = size;
	m->nsrv = (unsigned)size - 1;
	m->srv = calloc(m->nsrv, sizeof(*m->srv));
	h = calloc(1, sizeof(*h) + ictx);
	if (!m->srv || !h) {
		free(h);
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	}
	h->kind = HPOOL__MSG_CREATE;
	h->pool = m->id;
	h->workers = s->workers;
	h->max_tasks = cfg ? cfg->max_tasks_per_worker : 0;
	h->handle = (uint64_t)(uintptr_t)wk->handle;
	h->shm_size = s->shm_size;
	h->bind = s->bind;
	h->rank0_node = node;
	h->ctx_size = ictx;
	if (ictx)
		memcpy(h + 1, cfg->init_ctx, ictx);
	if (cfg && cfg->init) {
		h->has_fn = 1;
		if ((e = hpool__fnref_make((const void *)cfg->init, &h->fn))) {
			free(h);
			return e;
		}
	}
	h->prog_id_len = hpool__program_build_id(h->prog_id,
						 sizeof(h->prog_id));
	for (i = 0; i < m->nsrv; i++)
		msg_send_blocking(h, sizeof(*h) + ictx, (int)i + 1);
	free(h);
	g_create_err = 0;
	recv_from_all(m, HPOOL__MSG_CREATED, on_created);
	if (g_create_err) {
		e = g_create_err;
		destroy_remote(m, 1);
		m->nsrv = 0; /* nothing to destroy at release */
		return hpool__fail(e, "hpool_create: HPOOL_MODE=mpi: %s",
				   g_create_why);
	}
	for (i = 0; i < m->nsrv; i++) {
		m->srv[i].base = remote;
		remote += m->srv[i].workers;
		/* mpirun binds each rank of a node to cores of its own
		 * (to one core each with 2 ranks or fewer, by default):
		 * rank 0 serves the node with all of theirs. */
		if (node && m->srv[i].cpus[0]) /* unreadable: skipped */
			(void)hpool__topo_widen(wk->topo, m->srv[i].cpus);
	}
	if (node)
		local = s->workers ? s->workers : hpool__topo_cores(wk->topo);
	m->nlocal = local;
	if (!(local + remote) || local + remote > HPOOL__WORKERS_MAX) {
		destroy_remote(m, 1);
		m->nsrv = 0;
		return hpool__fail(-EINVAL, "hpool_create: HPOOL_MODE=mpi: "
				   "rank 0 runs %u workers and the servers %u "
				   "(1 to %u in all accepted)", local, remote,
				   HPOOL__WORKERS_MAX);
	}
	m->nb = remote * HPOOL__MPI_CREDITS;
	m->b = m->nb ? calloc(m->nb, sizeof(*m->b)) : NULL;
	if (m->nb && !m->b) {
		destroy_remote(m, 1);
		m->nsrv = 0;
		return hpool__fail(-ENOMEM, "hpool_create: out of memory");
	}
	wk->remote = remote;
	*n = local + remote;
	return 0;
}

/* ---- the bridge ------------------------------------------------------------ */

/* Ship a claimed batch to server si as batch bi. */
static void ship(struct mpib *m, unsigned si, unsigned bi)
{
	struct batch *b = &m->b[bi];
	struct hpool__seg *s = b->seg;
	const struct hpool__job *job = s->job;
	uint32_t cnt = b->rec->hi - b->rec->lo;
	size_t ctx = job->ctx ? job->ctx_size : 0;
	size_t len = sizeof(struct hpool__msg) + ctx + cnt * job->in_size;
	struct hpool__msg *h = calloc(1, len);

	if (!h)
		HPOOL__DIE("out of memory for an MPI message");
	h->kind = HPOOL__MSG_BATCH;
	h->pool = m->id;
	h->batch = bi;
	h->count = cnt;
	h->chunk = s->chunk;
	h->in_size = job->in_size;
	h->out_size = job->out_size;
	h->ctx_size = ctx;
	h->timeout_ns = job->timeout_ns;
	/* One job's batches name the same function: look it up once. */
	if ((const void *)job->fn != m->last_fn) {
		if (hpool__fnref_make((const void *)job->fn, &m->last_ref))
			snprintf(m->last_ref.module, sizeof(m->last_ref.module),
				 "(no module holds %p)", (void *)job->fn);
		m->last_fn = (const void *)job->fn;
	}
	h->fn = m->last_ref;
	if (ctx)
		memcpy(h + 1, job->ctx, ctx);
	memcpy((char *)(h + 1) + ctx, s->in + (size_t)b->rec->lo * job->in_size,
	       cnt * job->in_size);
	b->buf = (char *)h;
	m->nbatches++;
	m->nitems += cnt;
	b->server = si;
	b->busy = true;
	m->srv[si].inflight++;
	m->inflight++;
	hpool__mpi_lock();
	if (hpool__mpi_over())
		m->over = true; /* never sent: the bridge stops */
	else
		MPI_Isend(h, (int)len, MPI_BYTE, m->srv[si].rank,
			  HPOOL__MPI_TAG_REQ, MPI_COMM_WORLD, &b->req);
	hpool__mpi_unlock();
}

/* Offer work to servers with free credits. Return: true when something
 * was shipped. */
static bool dispatch(struct mpib *m, struct hpool__shared *sh)
{
	bool moved = false;
	unsigned k;

	for (k = 0; k < m->nsrv; k++) {
		unsigned si = (m->rr + k) % m->nsrv;
		struct server *v = &m->srv[si];
		unsigned lo = v->base * HPOOL__MPI_CREDITS, bi;

		while (v->inflight < v->workers * HPOOL__MPI_CREDITS) {
			struct hpool__claim *r;
			struct hpool__seg *s;

			for (bi = lo; m->b[bi].busy; bi++)
				;
			r = &sh->w[m->nlocal + bi / HPOOL__MPI_CREDITS]
				     .rec[bi % HPOOL__MPI_CREDITS];
			/* Guided shares as large as a worker's
			 * (bench/mpi-bench.sh: shares CREDITS times smaller
			 * cost 2-5x more per empty item for no clear gain
			 * on compute maps). */
			s = hpool__claim_batch(sh, r, si * 7, BATCH_BYTES);
			if (!s)
				return moved;
			m->b[bi].rec = r;
			m->b[bi].seg = s;
			ship(m, si, bi);
			moved = true;
		}
	}
	m->rr = (m->rr + 1) % (m->nsrv ? m->nsrv : 1);
	return moved;
}

/* A RESULT for pool m came from rank src: write it where a worker
 * would have. */
static void complete(struct mpib *m, struct hpool__shared *sh, int src,
		     const struct hpool__msg *h, size_t len)
{
	struct batch *b;
	struct hpool__seg *s;
	const int32_t *st = (const int32_t *)(h + 1);
	const char *out = (const char *)(st + h->count);
	uint32_t i, lo;

	if (h->kind != HPOOL__MSG_RESULT || h->batch >= m->nb ||
	    !m->b[h->batch].busy)
		return;
	b = &m->b[h->batch];
	s = b->seg;
	lo = b->rec->lo;
	if (h->count != b->rec->hi - lo ||
	    len < sizeof(*h) + h->count * (sizeof(int32_t) + s->job->out_size))
		HPOOL__DIE("an MPI result does not match its batch");
	hpool__mpi_lock();
	if (!hpool__mpi_over()) /* received: it is complete */
		MPI_Wait(&b->req, MPI_STATUS_IGNORE);
	hpool__mpi_unlock();
	free(b->buf);
	b->buf = NULL;
	if (s->job->out_size)
		memcpy(s->out + (size_t)lo * s->job->out_size, out,
		       (size_t)h->count * s->job->out_size);
	for (i = 0; i < h->count; i++)
		if (st[i] == HPOOL_ECRASH || st[i] == -ETIMEDOUT || h->err) {
			struct server *v = &m->srv[src - 1];

			unsigned k = v->nnote++ % NOTES;

			pthread_mutex_lock(&m->note_mu);
			snprintf(v->note[k].text, sizeof(v->note[k].text),
				 "%s", h->note);
			v->note[k].seg = s;
			v->note[k].item = s->first + lo + i;
			pthread_mutex_unlock(&m->note_mu);
			/* Before the release store of res (batch_finish). */
			s->crash_rank = src;
			break;
		}
	hpool__batch_finish(sh, b->rec, st);
	b->busy = false;
	m->srv[b->server].inflight--;
	m->inflight--;
}

static bool has_work(void *arg)
{
	struct hpool__shared *sh = arg;

	/* Pairs with the publisher's release of the slot and the caller's
	 * release of closing. */
	return atomic_load_explicit(&sh->closing, memory_order_acquire) ||
	       hpool__work_available(sh);
}

static void *bridge_main(void *arg)
{
	struct hpool__workers *wk = arg;
	struct mpib *m = wk->priv;
	struct hpool__shared *sh = wk->sh;
	unsigned idle = 0;

	for (;;) {
		uint32_t close = atomic_load_explicit(&sh->closing,
						      memory_order_acquire);
		bool moved = false, credits = false;
		unsigned k;
		int src;

		if (close == HPOOL__CLOSE_NOW || m->over)
			break;
		while (recv_answer(m, &src)) {
			complete(m, sh, src, (struct hpool__msg *)m->rbuf,
				 m->rlen);
			moved = true;
		}
		moved |= dispatch(m, sh);
		if (close && !m->inflight && !hpool__work_available(sh))
			break; /* drained */
		if (moved) {
			idle = 0;
			continue;
		}
		for (k = 0; k < m->nsrv; k++)
			credits |= m->srv[k].inflight <
				   m->srv[k].workers * HPOOL__MPI_CREDITS;
		if (idle < 16) {
			idle++;
			sched_yield();
		} else if (!m->inflight) {
			/* Nothing away: sleep until work is published. */
			hpool__event_wait(&sh->work, has_work, sh, 0,
					  hpool__now_ns() + 50000000);
		} else {
			int64_t d = (int64_t)1000 << (idle < 24 ? idle - 16 :
						      8);

			if (idle < 24)
				idle++;
			if (credits) /* new work wakes us early */
				hpool__event_wait(&sh->work, has_work, sh, 0,
						  hpool__now_ns() + d);
			else {
				struct timespec ts = { 0, d };

				nanosleep(&ts, NULL);
			}
		}
	}
	return NULL;
}

/* Fork rank 0's supervisor (restart: again, after it died), from a
 * thread bound to every PU of the node's ranks while it forks, so that
 * the workers may run on all of them: mpirun bound rank 0 to its own. */
static int sup_fork(struct hpool__workers *wk, bool restart)
{
	struct mpib *m = wk->priv;
	void *saved = NULL;
	int e;

	if (m->node)
		hpool__topo_thread_all(wk->topo, &saved); /* a hint */
	e = restart ? hpool__sup_backend_restart(wk) :
		      hpool__sup_backend_start_in(wk, wk->bind ? wk->topo :
								  NULL,
						  &m->sup);
	hpool__topo_thread_restore(wk->topo, saved);
	return e;
}

static int mpi_restart(struct hpool__workers *wk)
{
	return sup_fork(wk, true);
}

static int mpi_start(struct hpool__workers *wk)
{
	struct mpib *m = wk->priv;
	unsigned i;
	int e;

	/* Rank 0's own workers: its supervisor forks them (process mode's
	 * start, with its checks), before the bridge thread exists. */
	if (m->nlocal && (e = sup_fork(wk, false)))
		return e;
	if (!wk->remote)
		return 0;
	for (i = m->nlocal; i < wk->sh->nworkers; i++) {
		/* The bridge claims with records 0..CREDITS-1 of each slot:
		 * the depth that take-backs scan up to (shared.h), set
		 * before its first claim. */
		atomic_store_explicit(&wk->sh->w[i].depth,
				      HPOOL__MPI_CREDITS - 1,
				      memory_order_seq_cst);
		/* Pairs with hpool_create's acquire load of state. */
		atomic_store_explicit(&wk->sh->w[i].state, HPOOL__W_READY,
				      memory_order_release);
	}
	hpool__event_signal(&wk->sh->ready);
	e = pthread_create(&m->th, NULL, bridge_main, wk);
	if (e)
		return hpool__fail(-e, "hpool_create: cannot start the MPI "
				   "bridge thread: %s", hpool_strerror(-e));
	m->th_started = true;
	return 0;
}

static void mpi_stop(struct hpool__workers *wk, bool now)
{
	struct mpib *m = wk->priv;
	unsigned i;

	if (!m)
		return;
	hpool__event_signal(&wk->sh->work);
	if (m->th_started)
		pthread_join(m->th, NULL);
	/* Rank 0's own workers drain (or stop) beside the servers; the
	 * supervisor backends' stop (backend_fork.c) sets stop_error when
	 * their supervisor did not end cleanly. */
	if (m->nlocal)
		hpool__sup_backend_stop(wk, now);
	m->th_started = false;
	if (m->nsrv)
		destroy_remote(m, now || m->inflight);
	/* Every server received its batches before DESTROY: their sends
	 * are complete. */
	for (i = 0; i < m->nb; i++)
		if (m->b[i].buf) {
			hpool__mpi_lock();
			if (!hpool__mpi_over())
				MPI_Wait(&m->b[i].req, MPI_STATUS_IGNORE);
			hpool__mpi_unlock();
			free(m->b[i].buf);
			m->b[i].buf = NULL;
		}
	m->nsrv = 0;
	wk->stopped_clean = true;
	/* For the scale notes (docs/mpi.md): messages per item. */
	if (getenv("HPOOL_MPI_STATS"))
		fprintf(stderr, "hpool mpi pool %u: %llu batches (%llu "
			"messages) for %llu items\n", m->id,
			(unsigned long long)m->nbatches,
			(unsigned long long)m->nbatches * 2,
			(unsigned long long)m->nitems);
}

static void mpi_release(struct hpool__workers *wk)
{
	struct mpib *m = wk->priv;

	if (!m)
		return;
	if (m->nsrv) /* create failed after the servers made pools */
		destroy_remote(m, 1);
	free(m->srv);
	free(m->b);
	free(m->rbuf);
	free(m->st);
	pthread_mutex_destroy(&m->note_mu);
	free(m);
	wk->priv = NULL;
}

/* The supervisor backends' operations, for rank 0's own workers. */
static bool mpi_lost(struct hpool__workers *wk)
{
	struct mpib *m = wk->priv;

	return m && m->nlocal && hpool__sup_backend_lost(wk);
}

static void mpi_poke(struct hpool__workers *wk)
{
	struct mpib *m = wk->priv;

	if (m && m->nlocal)
		hpool__sup_backend_poke(wk);
}

static int mpi_pids(const struct hpool__workers *wk, int *pids, unsigned max)
{
	const struct mpib *m = wk->priv;

	return m && m->nlocal ? hpool__sup_backend_pids(wk, pids, max) : 0;
}

static bool mpi_explain(const struct hpool__workers *wk,
			const struct hpool__seg *s, size_t index, int st,
			const char *fn)
{
	struct mpib *m = wk->priv;
	int r = s->crash_rank;
	const struct server *v;
	char note[320];

	if (!m || r < 1 || r > (int)m->nranks - 1 || !m->srv)
		return false;
	snprintf(note, sizeof(note), "%s", st == HPOOL_ECRASH ?
		 "its worker died" : hpool_strerror(st));
	/* crash_rank is the last rank that failed an item of s; the item's
	 * own note says where it ran. */
	pthread_mutex_lock(&m->note_mu);
	for (unsigned i = 0; i < (unsigned)m->nranks - 1; i++)
		for (unsigned k = 0; k < NOTES; k++)
			if (m->srv[i].note[k].seg == s &&
			    m->srv[i].note[k].item == index) {
				r = (int)i + 1;
				snprintf(note, sizeof(note), "%s",
					 m->srv[i].note[k].text);
			}
	pthread_mutex_unlock(&m->note_mu);
	v = &m->srv[r - 1];
	hpool__set_error("%s: item %zu failed on rank %d (host %s): %s", fn,
			 index, r, v->host, note);
	return true;
}

const struct hpool__backend hpool__backend_mpi = {
	.name = "mpi",
	/* 4x a local worker's: a 2M-item map of empty items, 2 servers,
	 * cost 14-18 ns an item against 25-40 with 1 MiB segments (fewer
	 * batches, each a round trip; 4 MiB segments and more: worse, the
	 * first batches are too long to keep both servers fed). */
	.seg_per_worker = (size_t)1 << 20,
	/* Rank 0's own workers are processes under a supervisor (a server
	 * rank's pool isolates its own). */
	.isolated = true,
	.size = mpi_size,
	.start = mpi_start,
	.stop = mpi_stop,
	.lost = mpi_lost,
	.poke = mpi_poke,
	.restart = mpi_restart,
	.pids = mpi_pids,
	.release = mpi_release,
	.explain = mpi_explain,
};
