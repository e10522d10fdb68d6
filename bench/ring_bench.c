/* SPDX-License-Identifier: MIT */
/*
 * ring-bench: items per second through hpool's ring, beside Concurrency
 * Kit's ck_ring and liburcu's wfcqueue, for 1 producer / 1 consumer and
 * 2 / 2, with the producers and consumers ("actors") as threads and as
 * forked processes, in one run, printed as one table.
 *
 * Everything the actors share (every ring or queue, its buffer or nodes, the
 * start flag, the per-consumer results) lives in one region mapped
 * MAP_SHARED | MAP_ANONYMOUS before any actor starts: it is at the same
 * address in every process, so the thread and process variants run the same
 * code on the same memory. The region holds same-address pointers only
 * (wfcqueue's node links and the table of hpool rings).
 *
 * How each queue is used (the notes printed under the table say the same):
 *   hpool     1P/1C: one SPSC ring. 2P/2C: the way hpool uses it, one SPSC
 *             ring per (producer, consumer) pair, 4 rings; a producer
 *             alternates between its two rings (skipping a full one), a
 *             consumer polls its two. Consumer: peek, copy, release.
 *   ck_ring   1P/1C: ck_ring_enqueue_spsc / ck_ring_dequeue_spsc.
 *             2P/2C: ck_ring_enqueue_mpmc / ck_ring_dequeue_mpmc, one ring.
 *             The item is stored as an integer cast to void *.
 *   wfcqueue  cds_wfcq_enqueue (wait-free) and __cds_wfcq_dequeue_blocking.
 *             Nodes come from a per-producer pool in the region; a node is
 *             reused only after its consumer marked it free. 2P/2C: the
 *             dequeue needs mutual exclusion; the queue's own pthread mutex
 *             is not process-shared, so both modes use a bench-only spinlock
 *             in the region (identical code in both rows); a threads-only
 *             figure with the queue's own mutex (cds_wfcq_dequeue_blocking)
 *             is printed under the table. Either lock is taken only when
 *             cds_wfcq_empty() (which needs no lock) says there is a node.
 * Fairness: every variant holds at most INFLIGHT (1024) items in flight
 * (ck_ring: 1023, it keeps one slot empty; hpool 2P/2C: 4 rings of 256;
 * wfcqueue 2P/2C: 2 pools of 512 nodes), moves the same items, and waits on
 * full/empty the same way (wait_step: caa_cpu_relax, then sched_yield; the
 * wait inside wfcqueue's blocking dequeue yields too, CDS_WFCQ_WAIT_SLEEP).
 *
 * Items: 64 bits, producer id + 1 in the high 16 bits, sequence 1..n below.
 * Each consumer checks that every producer's items reach it in order; the
 * parent checks the total count and sum. A broken queue makes the program
 * exit 1 instead of printing a fast wrong number; a run that hangs is killed
 * after RUN_TIMEOUT_S and the program exits 2.
 *
 * Timing: the parent starts the clock when every actor is ready and raises
 * the start flag; each consumer records when it has seen every producer's
 * end marker; elapsed = last consumer's end - start. Mops/s = items moved /
 * elapsed. Each figure: median of --reps runs (default 5) after one warm-up
 * run, with min and max; implementations are interleaved run by run so that
 * background load drifts over all of them alike.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _LGPL_SOURCE /* inline wfcqueue, as ck_ring is inline */

#include "ring.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ck_ring.h>
#include <urcu/arch.h>
/* wfcqueue's blocking dequeue waits for an enqueuer that has swapped the
 * tail but not yet linked its node: 10 caa_cpu_relax, then by default a
 * 10 ms poll(). Yield instead, as every other wait here does. */
#define CDS_WFCQ_WAIT_SLEEP(msec) ((void)(msec), (void)sched_yield())
#include <urcu/wfcqueue.h>

#define INFLIGHT 1024u      /* in-flight bound, every implementation */
#define MAX_PAIRS 2u        /* producers = consumers = pairs */
#define SLOT_SIZE 8u        /* hpool ring slot: one item */
#define SEQ_BITS 48
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)
#define PILL UINT64_MAX     /* end marker, one per producer (hpool: per ring) */
#define SPINS_BEFORE_YIELD 64
#define RUN_TIMEOUT_S 60
#define LINE 128            /* two cache lines: no adjacent-line sharing */
#define ALIGNED_LINE __attribute__((aligned(LINE)))

enum impl { IMPL_HPOOL, IMPL_CK, IMPL_WFCQ, IMPL_WFCQ_MUTEX, IMPL_COUNT };
static const char *const impl_name[IMPL_COUNT] = {
	"hpool", "ck_ring", "wfcqueue", "wfcqueue-mutex"
};
enum mode { MODE_THREAD, MODE_PROCESS, MODE_COUNT };
static const char *const mode_name[MODE_COUNT] = { "threads", "processes" };

/* A wfcqueue item. In the region; qn.next is a same-address pointer. */
struct wnode {
	struct cds_wfcq_node qn;
	_Atomic uint64_t v; /* 0: free (its consumer is done with it) */
};

/* One consumer's tally, written by that consumer only, read by the parent
 * after the actor was joined or reaped. */
struct result {
	uint64_t count;
	uint64_t sum;
	uint64_t bad; /* first out-of-order or foreign item, if err */
	int64_t end_ns;
	uint32_t err;
} ALIGNED_LINE;

/* The shared region's header. Same-address pointers only. */
struct shared {
	_Atomic uint32_t ready ALIGNED_LINE; /* actors waiting for go */
	_Atomic uint32_t go;                 /* the parent's start flag */
	_Atomic uint32_t done ALIGNED_LINE;  /* ck, wfcq: end markers taken */
	_Atomic uint32_t lock ALIGNED_LINE;  /* wfcq 2P/2C consumers' lock */
	struct result res[MAX_PAIRS];
	struct ck_ring ck ALIGNED_LINE;
	ck_ring_buffer_t ckbuf[INFLIGHT] ALIGNED_LINE;
	struct __cds_wfcq_head wq_head ALIGNED_LINE; /* consumers' side */
	struct cds_wfcq_tail wq_tail ALIGNED_LINE;   /* producers' side */
	/* wfcqueue-mutex only: holds a process-private pthread mutex, so it
	 * is used by threads of one process only, never across processes */
	struct cds_wfcq_head wq_mhead ALIGNED_LINE;
	struct wnode nodes[INFLIGHT] ALIGNED_LINE;
	/* rings[p * pairs + c]: producer p to consumer c; each points into
	 * the region, after this header */
	struct hpool__ring *rings[MAX_PAIRS * MAX_PAIRS];
};

/* What one run does. Private; children get their copy from fork. */
struct run {
	enum impl impl;
	unsigned pairs;
	uint64_t n; /* items per producer */
	bool pin;
};

static struct shared *S;
static struct run R;
static volatile pid_t child_pid[2 * MAX_PAIRS]; /* for the watchdog */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void bench_die(const char *msg)
{
	fprintf(stderr, "ring-bench: %s\n", msg);
	exit(1);
}

/* The one wait on full/empty/locked, for every implementation. */
static inline void wait_step(unsigned *spins)
{
	if (*spins < SPINS_BEFORE_YIELD) {
		++*spins;
		caa_cpu_relax();
	} else {
		sched_yield();
	}
}

static inline uint64_t item(unsigned p, uint64_t seq)
{
	return ((uint64_t)(p + 1) << SEQ_BITS) | seq;
}

/* A consumer's private tally; checks each producer's order. */
struct tally {
	uint64_t count, sum, bad;
	uint32_t err;
	uint64_t last[MAX_PAIRS];
};

static inline void tally_add(struct tally *t, uint64_t v)
{
	uint64_t p = (v >> SEQ_BITS) - 1;

	if (__builtin_expect(p >= R.pairs || (v & SEQ_MASK) <= t->last[p], 0)) {
		if (!t->err) {
			t->err = 1;
			t->bad = v;
		}
	} else {
		t->last[p] = v & SEQ_MASK;
	}
	t->count++;
	t->sum += v;
}

/* ---- hpool ------------------------------------------------------------- */

static inline void hpool_put(struct hpool__ring *r, uint64_t v)
{
	unsigned w = 0;
	void *slot;

	while (!(slot = hpool__ring_reserve(r)))
		wait_step(&w);
	memcpy(slot, &v, sizeof(v));
	hpool__ring_publish(r);
}

static void hpool_produce(unsigned p)
{
	const unsigned C = R.pairs;
	struct hpool__ring **mine = &S->rings[p * C];

	if (C == 1) {
		for (uint64_t s = 1; s <= R.n; s++)
			hpool_put(mine[0], item(p, s));
		hpool_put(mine[0], PILL);
		return;
	}
	/* One ring per consumer: alternate, skipping a full ring; wait only
	 * when all of them are full. */
	unsigned pref = p % C;
	for (uint64_t s = 1; s <= R.n; s++) {
		uint64_t v = item(p, s);
		unsigned w = 0, c = 0;
		void *slot = NULL;

		for (;;) {
			for (unsigned j = 0; j < C; j++) {
				c = pref + j < C ? pref + j : pref + j - C;
				slot = hpool__ring_reserve(mine[c]);
				if (slot)
					break;
			}
			if (slot)
				break;
			wait_step(&w);
		}
		memcpy(slot, &v, sizeof(v));
		hpool__ring_publish(mine[c]);
		pref = c + 1 < C ? c + 1 : 0;
	}
	for (unsigned c = 0; c < C; c++)
		hpool_put(mine[c], PILL);
}

static void hpool_consume(unsigned c, struct tally *t)
{
	const unsigned P = R.pairs;
	unsigned w = 0;
	uint64_t v;
	void *slot;

	if (P == 1) {
		struct hpool__ring *r = S->rings[0];

		for (;;) {
			while (!(slot = hpool__ring_peek(r)))
				wait_step(&w);
			w = 0;
			memcpy(&v, slot, sizeof(v));
			hpool__ring_release(r);
			if (v == PILL)
				return;
			tally_add(t, v);
		}
	}
	/* Poll the ring from each producer; a ring is done at its marker. */
	struct hpool__ring *from[MAX_PAIRS];
	bool open[MAX_PAIRS];
	unsigned live = P;

	for (unsigned p = 0; p < P; p++) {
		from[p] = S->rings[p * P + c];
		open[p] = true;
	}
	while (live) {
		bool got = false;

		for (unsigned p = 0; p < P; p++) {
			if (!open[p] || !(slot = hpool__ring_peek(from[p])))
				continue;
			memcpy(&v, slot, sizeof(v));
			hpool__ring_release(from[p]);
			got = true;
			if (v == PILL) {
				open[p] = false;
				live--;
			} else {
				tally_add(t, v);
			}
		}
		if (got)
			w = 0;
		else
			wait_step(&w);
	}
}

/* ---- ck_ring ----------------------------------------------------------- */

static void ck_produce(unsigned p)
{
	const bool mp = R.pairs > 1;

	for (uint64_t s = 1; s <= R.n + 1; s++) {
		void *e = (void *)(uintptr_t)(s <= R.n ? item(p, s) : PILL);
		unsigned w = 0;

		if (mp) {
			while (!ck_ring_enqueue_mpmc(&S->ck, S->ckbuf, e))
				wait_step(&w);
		} else {
			while (!ck_ring_enqueue_spsc(&S->ck, S->ckbuf, e))
				wait_step(&w);
		}
	}
}

/* Shared by ck and wfcq consumers: an end marker was taken. */
static inline void marker_taken(void)
{
	/* Release: pairs with the acquire in all_markers_taken(). */
	atomic_fetch_add_explicit(&S->done, 1, memory_order_release);
}

/* Every producer's marker has left the queue; being FIFO, so has every
 * item before it: an empty queue now stays empty. */
static inline bool all_markers_taken(void)
{
	/* Pairs with the release in marker_taken(). */
	return atomic_load_explicit(&S->done, memory_order_acquire) == R.pairs;
}

static void ck_consume(unsigned c, struct tally *t)
{
	const bool mc = R.pairs > 1;
	unsigned w = 0;

	for (;;) {
		void *e;
		bool ok = mc ? ck_ring_dequeue_mpmc(&S->ck, S->ckbuf, &e)
			     : ck_ring_dequeue_spsc(&S->ck, S->ckbuf, &e);

		if (ok) {
			uint64_t v = (uintptr_t)e;

			w = 0;
			if (v == PILL)
				marker_taken();
			else
				tally_add(t, v);
			continue;
		}
		if (all_markers_taken())
			return;
		wait_step(&w);
	}
}

/* ---- wfcqueue ---------------------------------------------------------- */

static void wfcq_produce(unsigned p)
{
	const unsigned per = INFLIGHT / R.pairs;
	struct wnode *pool = &S->nodes[p * per];
	unsigned k = 0;

	for (uint64_t s = 1; s <= R.n + 1; s++) {
		struct wnode *nd = &pool[k];
		unsigned w = 0;

		k = k + 1 < per ? k + 1 : 0;
		/* Pairs with the consumer's release of v = 0 (W1): it is done
		 * with the node, which the queue no longer links to. */
		while (atomic_load_explicit(&nd->v, memory_order_acquire))
			wait_step(&w);
		atomic_store_explicit(&nd->v, s <= R.n ? item(p, s) : PILL,
				      memory_order_relaxed);
		cds_wfcq_node_init(&nd->qn);
		/* The enqueue's xchg is a full barrier: v and next are
		 * stored before the node is reachable. */
		if (R.impl == IMPL_WFCQ_MUTEX)
			cds_wfcq_enqueue(&S->wq_mhead, &S->wq_tail, &nd->qn);
		else
			cds_wfcq_enqueue(&S->wq_head, &S->wq_tail, &nd->qn);
	}
}

static inline void spin_lock(_Atomic uint32_t *l)
{
	unsigned w = 0;

	/* Acquire pairs with the release in spin_unlock(). */
	while (atomic_exchange_explicit(l, 1, memory_order_acquire))
		while (atomic_load_explicit(l, memory_order_relaxed))
			wait_step(&w);
}

static inline void spin_unlock(_Atomic uint32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

static void wfcq_consume(unsigned c, struct tally *t)
{
	unsigned w = 0;

	for (;;) {
		struct cds_wfcq_node *qn = NULL;

		if (R.impl == IMPL_WFCQ_MUTEX) {
			if (!cds_wfcq_empty(&S->wq_mhead, &S->wq_tail))
				qn = cds_wfcq_dequeue_blocking(&S->wq_mhead,
							       &S->wq_tail);
		} else if (R.pairs == 1) {
			qn = __cds_wfcq_dequeue_blocking(&S->wq_head,
							 &S->wq_tail);
		} else if (!cds_wfcq_empty(&S->wq_head, &S->wq_tail)) {
			spin_lock(&S->lock);
			qn = __cds_wfcq_dequeue_blocking(&S->wq_head,
							 &S->wq_tail);
			spin_unlock(&S->lock);
		}
		if (qn) {
			struct wnode *nd = caa_container_of(qn, struct wnode,
							    qn);
			uint64_t v = atomic_load_explicit(&nd->v,
							  memory_order_relaxed);

			/* W1: done with the node; its producer may reuse it. */
			atomic_store_explicit(&nd->v, 0, memory_order_release);
			w = 0;
			if (v == PILL)
				marker_taken();
			else
				tally_add(t, v);
			continue;
		}
		if (all_markers_taken())
			return;
		wait_step(&w);
	}
}

/* ---- actors ------------------------------------------------------------ */

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("ring-bench: sched_setaffinity");
		_exit(4);
	}
}

/* Actor `a`: producers 0..pairs-1, then consumers. Thread or process. */
static void actor(unsigned a)
{
	const bool producer = a < R.pairs;
	const unsigned idx = producer ? a : a - R.pairs;
	unsigned w = 0;

	if (R.pin && R.pairs == 1)
		pin_to(producer ? 0 : 1);
	atomic_fetch_add_explicit(&S->ready, 1, memory_order_relaxed);
	/* Pairs with the parent's release of go. */
	while (!atomic_load_explicit(&S->go, memory_order_acquire))
		wait_step(&w);

	if (producer) {
		switch (R.impl) {
		case IMPL_HPOOL: hpool_produce(idx); break;
		case IMPL_CK: ck_produce(idx); break;
		default: wfcq_produce(idx); break;
		}
		return;
	}
	struct tally t;

	memset(&t, 0, sizeof(t));
	switch (R.impl) {
	case IMPL_HPOOL: hpool_consume(idx, &t); break;
	case IMPL_CK: ck_consume(idx, &t); break;
	default: wfcq_consume(idx, &t); break;
	}
	struct result *res = &S->res[idx];

	res->end_ns = now_ns();
	res->count = t.count;
	res->sum = t.sum;
	res->bad = t.bad;
	res->err = t.err;
}

static void *actor_thread(void *arg)
{
	actor((unsigned)(uintptr_t)arg);
	return NULL;
}

static void on_alarm(int sig)
{
	static const char msg[] =
		"ring-bench: FAIL: a run did not finish in time (hung queue?)\n";
	ssize_t rc = write(2, msg, sizeof(msg) - 1);

	(void)rc;
	(void)sig;
	for (unsigned i = 0; i < 2 * MAX_PAIRS; i++)
		if (child_pid[i] > 0)
			kill(child_pid[i], SIGKILL);
	_exit(2);
}

/* ---- one run ------------------------------------------------------------ */

static void init_queues(void)
{
	atomic_store(&S->ready, 0);
	atomic_store(&S->go, 0);
	atomic_store(&S->done, 0);
	atomic_store(&S->lock, 0);
	memset(S->res, 0, sizeof(S->res));
	switch (R.impl) {
	case IMPL_HPOOL: {
		uint32_t cap = INFLIGHT / (R.pairs * R.pairs);

		for (unsigned i = 0; i < R.pairs * R.pairs; i++)
			if (hpool__ring_init(S->rings[i], cap, SLOT_SIZE, 0))
				bench_die("hpool__ring_init failed");
		break;
	}
	case IMPL_CK:
		memset(S->ckbuf, 0, sizeof(S->ckbuf));
		ck_ring_init(&S->ck, INFLIGHT);
		break;
	case IMPL_WFCQ:
	case IMPL_WFCQ_MUTEX:
		for (unsigned i = 0; i < INFLIGHT; i++) {
			cds_wfcq_node_init(&S->nodes[i].qn);
			atomic_store(&S->nodes[i].v, 0);
		}
		if (R.impl == IMPL_WFCQ)
			__cds_wfcq_init(&S->wq_head, &S->wq_tail);
		else
			cds_wfcq_init(&S->wq_mhead, &S->wq_tail);
		break;
	default:
		bench_die("unknown implementation");
	}
}

/* One run; returns Mops/s, or exits 1 when the items did not add up. */
static double run_once(enum impl impl, unsigned pairs, enum mode mode,
		       uint64_t n, bool pin)
{
	const unsigned nact = 2 * pairs;
	pthread_t tid[2 * MAX_PAIRS];
	bool failed = false;

	R = (struct run){ .impl = impl, .pairs = pairs, .n = n, .pin = pin };
	init_queues();
	fflush(NULL);
	alarm(RUN_TIMEOUT_S);
	for (unsigned a = 0; a < nact; a++) {
		if (mode == MODE_THREAD) {
			int rc = pthread_create(&tid[a], NULL, actor_thread,
						(void *)(uintptr_t)a);
			if (rc) {
				errno = rc;
				perror("ring-bench: pthread_create");
				exit(1);
			}
			continue;
		}
		pid_t parent = getpid();
		pid_t pid = fork();

		if (pid < 0) {
			perror("ring-bench: fork");
			exit(1);
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(3);
			actor(a);
			_exit(0);
		}
		child_pid[a] = pid;
	}
	unsigned w = 0;

	while (atomic_load_explicit(&S->ready, memory_order_relaxed) < nact)
		wait_step(&w);
	int64_t t0 = now_ns();

	/* Release: pairs with each actor's acquire of go. */
	atomic_store_explicit(&S->go, 1, memory_order_release);

	for (unsigned a = 0; a < nact; a++) {
		if (mode == MODE_THREAD) {
			pthread_join(tid[a], NULL);
			continue;
		}
		int st;

		if (waitpid(child_pid[a], &st, 0) < 0) {
			perror("ring-bench: waitpid");
			exit(1);
		}
		child_pid[a] = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "ring-bench: FAIL: %s actor %u %s %d\n",
				impl_name[impl], a,
				WIFEXITED(st) ? "exited" : "killed by signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			failed = true;
		}
	}
	alarm(0);
	if (impl == IMPL_WFCQ_MUTEX)
		cds_wfcq_destroy(&S->wq_mhead, &S->wq_tail);

	uint64_t count = 0, sum = 0, want_sum = 0;
	int64_t t1 = t0;

	for (unsigned c = 0; c < pairs; c++) {
		const struct result *res = &S->res[c];

		count += res->count;
		sum += res->sum;
		if (res->end_ns > t1)
			t1 = res->end_ns;
		if (res->err) {
			fprintf(stderr,
				"ring-bench: FAIL: %s %uP/%uC %s: consumer %u "
				"got item %#" PRIx64 " out of order\n",
				impl_name[impl], pairs, pairs, mode_name[mode],
				c, res->bad);
			failed = true;
		}
	}
	for (unsigned p = 0; p < pairs; p++)
		want_sum += n * ((uint64_t)(p + 1) << SEQ_BITS) +
			    n * (n + 1) / 2;
	if (count != n * pairs || sum != want_sum) {
		fprintf(stderr,
			"ring-bench: FAIL: %s %uP/%uC %s: %" PRIu64
			" items (want %" PRIu64 "), sum %#" PRIx64
			" (want %#" PRIx64 ")\n",
			impl_name[impl], pairs, pairs, mode_name[mode], count,
			n * pairs, sum, want_sum);
		failed = true;
	}
	if (failed)
		exit(1);
	return (double)(n * pairs) * 1e3 / (double)(t1 - t0);
}

/* ---- driver ------------------------------------------------------------- */

struct figure {
	bool have;
	double med, min, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct figure summarize(double *v, unsigned k)
{
	struct figure f = { .have = true };

	qsort(v, k, sizeof(*v), cmp_double);
	f.min = v[0];
	f.max = v[k - 1];
	f.med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
	return f;
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(buf, len, "?");
	if (f) {
		if (fscanf(f, "%31s", buf) != 1)
			snprintf(buf, len, "?");
		fclose(f);
	}
}

static void fmt_fig(char *buf, size_t len, const struct figure *f)
{
	if (f->have)
		snprintf(buf, len, "%.2f [%.2f-%.2f]", f->med, f->min,
			 f->max);
	else
		snprintf(buf, len, "-");
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: ring-bench [--quick] [--csv FILE] [--pin] [--reps N] "
		"[--items N]\n"
		"  --quick     fewer items and 3 repetitions (a smoke run)\n"
		"  --csv FILE  also write impl,pairs,mode,median_mops,min,max\n"
		"  --pin       1P/1C: producer on CPU 0, consumer on CPU 1\n"
		"  --reps N    repetitions per figure (default 5; 3 with "
		"--quick)\n"
		"  --items N   items for 1P/1C (default 10000000, 1000000 "
		"with --quick);\n"
		"              2P/2C moves N/5 (N/10 per producer)\n");
}

static unsigned long parse_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > (SEQ_MASK >> 1)) {
		fprintf(stderr, "ring-bench: bad %s '%s'\n", what, s);
		exit(64);
	}
	return v;
}

int main(int argc, char **argv)
{
	bool quick = false, pin = false;
	const char *csv = NULL;
	unsigned long reps = 0, items = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--pin")) {
			pin = true;
		} else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
			csv = argv[++i];
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = parse_ul(argv[++i], "--reps");
		} else if (!strcmp(argv[i], "--items") && i + 1 < argc) {
			items = parse_ul(argv[++i], "--items");
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 64;
		}
	}
	if (!reps)
		reps = quick ? 3 : 5;
	if (reps > 101) {
		fprintf(stderr, "ring-bench: --reps at most 101\n");
		return 64;
	}
	if (!items)
		items = quick ? 1000000 : 10000000;
	if (items < 10)
		items = 10;
	const uint64_t n2 = items / 10; /* 2P/2C: per producer */

	/* Open the CSV first: a bad path fails before the measuring. */
	FILE *csv_file = NULL;

	if (csv && !(csv_file = fopen(csv, "w"))) {
		fprintf(stderr, "ring-bench: %s: %s\n", csv, strerror(errno));
		return 1;
	}

	cpu_set_t allowed;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int nallowed = 0;

	if (!sched_getaffinity(0, sizeof(allowed), &allowed))
		nallowed = CPU_COUNT(&allowed);
	if (pin && (!CPU_ISSET(0, &allowed) || !CPU_ISSET(1, &allowed))) {
		fprintf(stderr, "ring-bench: --pin needs CPUs 0 and 1\n");
		return 64;
	}

	/* The region: header, then the hpool rings (largest shape). */
	size_t ring_bytes = hpool__ring_bytes(INFLIGHT, SLOT_SIZE);
	size_t ring_stride = (ring_bytes + LINE - 1) / LINE * LINE;
	size_t hdr = (sizeof(struct shared) + LINE - 1) / LINE * LINE;
	size_t region = hdr + MAX_PAIRS * MAX_PAIRS * ring_stride;
	void *base = mmap(NULL, region, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED) {
		perror("ring-bench: mmap");
		return 1;
	}
	S = base;
	for (unsigned i = 0; i < MAX_PAIRS * MAX_PAIRS; i++)
		S->rings[i] = (struct hpool__ring *)((char *)base + hdr +
						     i * ring_stride);

	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);

	char model[256], load0[32], load1[32];

	cpu_model(model, sizeof(model));
	loadavg(load0, sizeof(load0));
	printf("ring-bench: hpool ring vs ck_ring vs wfcqueue\n");
	printf("machine: %ld CPUs online, %d allowed; %s; load average %s\n",
	       online, nallowed, model, load0);
	printf("items: 1P/1C %lu, 2P/2C %lu (%lu per producer); %lu reps "
	       "after 1 warm-up; in-flight bound %u%s\n\n",
	       items, (unsigned long)(2 * n2), (unsigned long)n2, reps, INFLIGHT,
	       pin ? "; 1P/1C pinned to CPUs 0,1" : "");
	fflush(stdout);

	struct figure fig[2][MODE_COUNT][IMPL_COUNT];
	double *v = calloc(IMPL_COUNT * reps, sizeof(double));

	memset(fig, 0, sizeof(fig));
	if (!v)
		return 1;
	int64_t start = now_ns();

	for (unsigned pi = 0; pi < 2; pi++) {
		unsigned pairs = pi + 1;
		uint64_t n = pairs == 1 ? items : n2;

		for (int m = 0; m < MODE_COUNT; m++) {
			/* the queue's own mutex: threads, 2P/2C only */
			unsigned nimpl = pairs > 1 && m == MODE_THREAD
						 ? IMPL_COUNT
						 : IMPL_WFCQ_MUTEX;

			fprintf(stderr, "ring-bench: %uP/%uC %s...\n", pairs,
				pairs, mode_name[m]);
			for (unsigned i = 0; i < nimpl; i++)
				run_once(i, pairs, m, n, pin);
			for (unsigned r = 0; r < reps; r++)
				for (unsigned i = 0; i < nimpl; i++)
					v[i * reps + r] = run_once(
						i, pairs, m, n, pin);
			for (unsigned i = 0; i < nimpl; i++)
				fig[pi][m][i] = summarize(&v[i * reps], reps);
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;

	loadavg(load1, sizeof(load1));
	printf("%-16s %-22s %-22s %-22s %9s %11s\n", "Mops/s", "hpool",
	       "ck_ring", "wfcqueue", "hpool/ck", "hpool/wfcq");
	for (unsigned pi = 0; pi < 2; pi++) {
		for (int m = 0; m < MODE_COUNT; m++) {
			struct figure *f = fig[pi][m];
			char label[32], c[IMPL_WFCQ_MUTEX][48];

			snprintf(label, sizeof(label), "%uP/%uC %s", pi + 1,
				 pi + 1, mode_name[m]);
			for (unsigned i = 0; i < IMPL_WFCQ_MUTEX; i++)
				fmt_fig(c[i], sizeof(c[i]), &f[i]);
			printf("%-16s %-22s %-22s %-22s %8.2fx %10.2fx\n",
			       label, c[IMPL_HPOOL], c[IMPL_CK], c[IMPL_WFCQ],
			       f[IMPL_HPOOL].med / f[IMPL_CK].med,
			       f[IMPL_HPOOL].med / f[IMPL_WFCQ].med);
		}
	}
	char mx[48];
	struct figure *fm = &fig[1][MODE_THREAD][IMPL_WFCQ_MUTEX];

	fmt_fig(mx, sizeof(mx), fm);
	printf("\nmedian of %lu runs [min-max], Mops/s = items moved / "
	       "elapsed; whole run %.1f s, load average %s -> %s\n",
	       reps, secs, load0, load1);
	printf(
	"notes:\n"
	"- hpool: its SPSC ring (reserve/publish, peek/release). 2P/2C is\n"
	"  measured the way hpool uses it: one SPSC ring per (producer,\n"
	"  consumer) pair, 4 rings of 256; each producer alternates between\n"
	"  its two rings (skipping a full one), each consumer polls its two.\n"
	"  Calls go out of line into libhpool_test (fault-injection checks\n"
	"  compiled in); ck_ring and wfcqueue are inlined from their headers.\n"
	"- ck_ring: 1P/1C enqueue/dequeue_spsc, 2P/2C enqueue/dequeue_mpmc on\n"
	"  one ring of 1024 (holds 1023); items stored as integers cast to\n"
	"  void *. Its MP enqueue spins inside ck (ck_pr_stall) while an\n"
	"  earlier producer that was preempted has not committed.\n"
	"- wfcqueue: cds_wfcq_enqueue + __cds_wfcq_dequeue_blocking, nodes in\n"
	"  per-producer pools (1024 / producers), reused after the consumer\n"
	"  frees them. 2P/2C: dequeues under a bench-only spinlock in the\n"
	"  region (the queue's pthread mutex is not process-shared), same in\n"
	"  both modes. With its own mutex (cds_wfcq_dequeue_blocking), 2P/2C\n"
	"  threads: %s Mops/s.\n"
	"- Same in-flight bound (1024) and items for all. Waits on full,\n"
	"  empty or locked: %d x caa_cpu_relax, then sched_yield (so is\n"
	"  wfcqueue's internal wait, instead of its 10 ms sleep). 2P/2C runs\n"
	"  4 spinning actors on %d CPUs (oversubscribed on 2 cores): its\n"
	"  figures measure scheduling as much as the queues.\n"
	"- Items are checked (count, sum, per-producer order); a mismatch\n"
	"  exits 1.%s\n",
	mx, SPINS_BEFORE_YIELD, nallowed,
	pin ? "" : " Nothing pinned (--pin pins 1P/1C).");

	if (csv_file) {
		FILE *f = csv_file;

		fprintf(f, "impl,pairs,mode,median_mops,min,max\n");
		for (unsigned pi = 0; pi < 2; pi++)
			for (int m = 0; m < MODE_COUNT; m++)
				for (unsigned i = 0; i < IMPL_COUNT; i++) {
					struct figure *g = &fig[pi][m][i];

					if (!g->have)
						continue;
					fprintf(f, "%s,%u,%s,%.3f,%.3f,%.3f\n",
						impl_name[i], pi + 1,
						mode_name[m], g->med, g->min,
						g->max);
				}
		if (fclose(f)) {
			fprintf(stderr, "ring-bench: %s: %s\n", csv,
				strerror(errno));
			return 1;
		}
	}
	free(v);
	munmap(base, region);
	return 0;
}
