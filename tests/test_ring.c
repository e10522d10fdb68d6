/* SPDX-License-Identifier: MIT */
/*
 * The SPSC ring (src/ring.c): shape checks, empty and full, indices that
 * wrap past 2^32, order and exactly-once delivery across threads and across
 * processes, and the death test: a child killed at each fault point of the
 * protocol, the supervisor's repair (as ring.c's comment states it), and a
 * replacement, with nothing lost and nothing delivered twice.
 *
 * Memory is mapped here (MAP_SHARED | MAP_ANONYMOUS), not taken from shm.c.
 * A forked child never calls assert_*: it _exits a code (enum code) that
 * the parent checks after waitpid. Usage: test_ring [cmocka filter].
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ring.h"

#define CHILD_ALARM_S 60 /* a hung child dies by SIGALRM: the test fails */
#define STALL_NS ((int64_t)20 * 1000000000) /* no progress: give up */

/* Exit codes of children and results of the producer/consumer loops. */
enum code {
	C_OK = 0,
	C_ORDER = 3,    /* an item out of order, lost or repeated */
	C_PAYLOAD = 4,  /* an item's bytes are not what was written */
	C_REWORKED = 5, /* an item already marked done was peeked again */
	C_RANGE = 6,    /* a sequence number that was never produced */
	C_STALLED = 7,  /* waited STALL_NS for the ring to move */
	C_ABORTED = 8,  /* the other side failed first */
};

/* ---- helpers ------------------------------------------------------------ */

static void *map_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal((uintptr_t)p % HPOOL__CACHELINE, 0);
	return p;
}

/* A ring alone in its mapping, followed by CANARY bytes that no ring
 * operation may touch. */
#define CANARY 256

struct mring {
	struct hpool__ring *r;
	size_t bytes, len;
};

static struct hpool__ring *ring_new(struct mring *m, uint32_t cap,
				    uint32_t slot_size, uint32_t start)
{
	m->bytes = hpool__ring_bytes(cap, slot_size);
	assert_true(m->bytes > 0);
	m->len = m->bytes + CANARY;
	m->r = map_shared(m->len);
	memset(m->r, 0xa5, m->len);
	assert_int_equal(hpool__ring_init(m->r, cap, slot_size, start), 0);
	return m->r;
}

static void ring_free(struct mring *m)
{
	const unsigned char *c = (const unsigned char *)m->r + m->bytes;

	for (size_t i = 0; i < CANARY; i++)
		assert_int_equal(c[i], 0xa5);
	munmap(m->r, m->len);
}

static uint32_t head_of(struct hpool__ring *r)
{
	return atomic_load(&r->head);
}

static uint32_t tail_of(struct hpool__ring *r)
{
	return atomic_load(&r->tail);
}

/* Slot payload: word 0 is the sequence number, the others derive from it,
 * so a torn, stale or overlapped slot is seen. */
static uint64_t word(uint64_t seq, uint32_t j)
{
	return j ? seq * 0x9e3779b97f4a7c15ull + j : seq;
}

static void fill(void *slot, uint32_t slot_size, uint64_t seq)
{
	uint64_t *w = slot;

	for (uint32_t j = 0; j < slot_size / 8; j++)
		w[j] = word(seq, j);
}

static bool intact(const void *slot, uint32_t slot_size)
{
	const uint64_t *w = slot;

	for (uint32_t j = 1; j < slot_size / 8; j++)
		if (w[j] != word(w[0], j))
			return false;
	return true;
}

static bool push(struct hpool__ring *r, uint64_t seq)
{
	void *s = hpool__ring_reserve(r);

	if (!s)
		return false;
	fill(s, r->slot_size, seq);
	hpool__ring_publish(r);
	return true;
}

/* Pop one item; it must be `seq`. */
static void pop_expect(struct hpool__ring *r, uint64_t seq)
{
	const uint64_t *s = hpool__ring_peek(r);

	assert_non_null(s);
	assert_true(s == hpool__ring_slot(r, head_of(r)));
	assert_int_equal(s[0], seq);
	assert_true(intact(s, r->slot_size));
	hpool__ring_release(r);
}

/*
 * Wait loops: yield, and give up after STALL_NS without progress, so that a
 * broken ring fails the test instead of hanging it. Not a timing check:
 * a working ring moves within microseconds.
 */
struct patience {
	unsigned spins;
	int64_t until;
};

static bool wait_more(struct patience *p)
{
	int64_t now;

	sched_yield();
	if (++p->spins % 1024)
		return true;
	now = hpool__now_ns();
	if (!p->until)
		p->until = now + STALL_NS;
	return now < p->until;
}

/* Children: tests/children.h; this module's fault point. */
static void arm(int fault, int skip)
{
	atomic_store(&hpool__fault_skip, skip);
	atomic_store(&hpool__fault_at, fault);
}

#include "children.h"

/* ---- shape -------------------------------------------------------------- */

static void test_shape_rejected(void **state)
{
	/* { capacity, slot_size } */
	static const uint32_t bad[][2] = {
		{ 0, 8 }, { 1, 8 }, { 3, 8 }, { 6, 8 }, { 12, 8 }, { 1000, 8 },
		{ UINT32_MAX, 8 }, { 0x80000001u, 8 },
		{ 2, 0 }, { 2, 4 }, { 2, 12 }, { 4, 7 }, { 8, 1 }, { 8, 9 },
		{ 8, UINT32_MAX },
	};
	struct hpool__ring *r = map_shared(4096);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t cap = bad[i][0], ss = bad[i][1];

		if (hpool__ring_bytes(cap, ss) != 0)
			fail_msg("ring_bytes(%u, %u) accepted", cap, ss);
		if (hpool__ring_init(r, cap, ss, 0) != -EINVAL)
			fail_msg("ring_init(%u, %u) accepted", cap, ss);
	}
	assert_int_equal(hpool__ring_init(NULL, 4, 8, 0), -EINVAL);
	munmap(r, 4096);
}

static void test_shape_accepted(void **state)
{
	static const uint32_t caps[] = { 2, 4, 8, 64, 1024 };
	static const uint32_t sizes[] = { 8, 16, 24, 64, 200, 4096 };

	(void)state;
	/* Slots start on their own cache line. */
	assert_int_equal(offsetof(struct hpool__ring, slots) %
				 HPOOL__CACHELINE, 0);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			uint32_t cap = caps[i], ss = sizes[j];
			struct mring m;
			struct hpool__ring *r;
			unsigned char *s0, *last;

			assert_true(hpool__ring_bytes(cap, ss) >=
				    offsetof(struct hpool__ring, slots) +
					    (size_t)cap * ss);
			r = ring_new(&m, cap, ss, 0);
			assert_int_equal(hpool__ring_count(r), 0);
			assert_null(hpool__ring_peek(r));
			s0 = hpool__ring_slot(r, 0);
			last = hpool__ring_slot(r, cap - 1);
			assert_ptr_equal(s0, r->slots);
			assert_ptr_equal(last, s0 + (size_t)(cap - 1) * ss);
			assert_ptr_equal(hpool__ring_slot(r, cap), s0);
			assert_ptr_equal(hpool__ring_slot(r, UINT32_MAX), last);
			assert_true(last + ss <= (unsigned char *)r + m.bytes);
			/* Every slot writable without touching the canary. */
			for (uint32_t k = 0; k < cap; k++)
				assert_true(push(r, k));
			assert_null(hpool__ring_reserve(r));
			for (uint32_t k = 0; k < cap; k++)
				pop_expect(r, k);
			ring_free(&m);
		}
	}
}

/* ---- empty and full ----------------------------------------------------- */

static void test_empty(void **state)
{
	struct mring m;
	struct hpool__ring *r = ring_new(&m, 8, 16, 0);
	void *s, *p;

	(void)state;
	assert_null(hpool__ring_peek(r));
	assert_null(hpool__ring_peek(r));
	assert_int_equal(hpool__ring_count(r), 0);

	/* Reserved and written but not published: invisible. */
	s = hpool__ring_reserve(r);
	assert_non_null(s);
	assert_ptr_equal(hpool__ring_reserve(r), s); /* same until publish */
	fill(s, 16, 42);
	assert_null(hpool__ring_peek(r));
	assert_int_equal(hpool__ring_count(r), 0);

	hpool__ring_publish(r);
	assert_int_equal(hpool__ring_count(r), 1);
	p = hpool__ring_peek(r);
	assert_ptr_equal(p, s);
	/* Peek does not consume: the slot stays until release. */
	assert_ptr_equal(hpool__ring_peek(r), s);
	assert_int_equal(hpool__ring_count(r), 1);
	pop_expect(r, 42);
	assert_null(hpool__ring_peek(r));
	assert_int_equal(hpool__ring_count(r), 0);
	ring_free(&m);
}

/* hpool__ring_valid, which the repair asserts after a death (below):
 * sound rings pass, each broken field fails. */
static void test_valid(void **state)
{
	struct mring m;
	struct hpool__ring *r = ring_new(&m, 8, 16, 0);
	uint32_t head = atomic_load(&r->head);

	(void)state;
	assert_true(hpool__ring_valid(r));
	atomic_store(&r->tail, head + 8); /* full */
	assert_true(hpool__ring_valid(r));
	atomic_store(&r->tail, head + 9); /* more than it holds */
	assert_false(hpool__ring_valid(r));
	atomic_store(&r->tail, head - 1); /* tail behind head */
	assert_false(hpool__ring_valid(r));
	atomic_store(&r->tail, head);
	r->slot_size = 12; /* not a multiple of 8 */
	assert_false(hpool__ring_valid(r));
	r->slot_size = 16;
	r->mask = 6; /* capacity not a power of two */
	assert_false(hpool__ring_valid(r));
	r->mask = 7;
	assert_true(hpool__ring_valid(r));
	ring_free(&m);
}

static void test_full(void **state)
{
	const uint32_t cap = 8;
	struct mring m;
	struct hpool__ring *r = ring_new(&m, cap, 16, 100);
	void *first;
	uint64_t seq = 0;

	(void)state;
	first = hpool__ring_slot(r, 100);
	for (uint32_t i = 0; i < cap; i++) {
		assert_int_equal(hpool__ring_count(r), i);
		assert_true(push(r, seq++));
	}
	assert_int_equal(hpool__ring_count(r), cap);
	assert_null(hpool__ring_reserve(r));
	assert_null(hpool__ring_reserve(r));

	/* A peeked slot is still held: the ring stays full. */
	assert_ptr_equal(hpool__ring_peek(r), first);
	assert_null(hpool__ring_reserve(r));
	assert_int_equal(hpool__ring_count(r), cap);

	/* One release frees exactly that slot. */
	pop_expect(r, 0);
	assert_int_equal(hpool__ring_count(r), cap - 1);
	assert_ptr_equal(hpool__ring_reserve(r), first);
	assert_true(push(r, seq++));
	assert_null(hpool__ring_reserve(r));
	assert_int_equal(hpool__ring_count(r), cap);

	for (uint64_t i = 1; i < seq; i++)
		pop_expect(r, i);
	assert_null(hpool__ring_peek(r));
	assert_int_equal(hpool__ring_count(r), 0);
	ring_free(&m);
}

/* The producer's load hint: exact while only the producer moves, an
 * overstatement (never less) after releases it has not looked at, exact
 * again once reserve has had to read head. */
static void test_capacity_two(void **state)
{
	struct mring m;
	struct hpool__ring *r = ring_new(&m, 2, 8, UINT32_MAX);

	(void)state;
	for (uint64_t i = 0; i < 10; i += 2) {
		assert_true(push(r, i));
		assert_true(push(r, i + 1));
		assert_false(push(r, 99));
		pop_expect(r, i);
		pop_expect(r, i + 1);
		assert_null(hpool__ring_peek(r));
	}
	ring_free(&m);
}

/* ---- indices that wrap past 2^32 ---------------------------------------- */

static const uint32_t wrap_starts[] = {
	UINT32_MAX - 5, UINT32_MAX, UINT32_MAX - 7, UINT32_MAX - 8,
	UINT32_MAX - 1, 0x7ffffffdu, 0,
};

/* Fill to full and drain, round after round: full is seen at every
 * position of the wrap. */
static void test_wrap_full_rounds(void **state)
{
	const uint32_t cap = 8, rounds = 6;

	(void)state;
	for (size_t i = 0; i < sizeof(wrap_starts) / sizeof(*wrap_starts);
	     i++) {
		uint32_t start = wrap_starts[i];
		struct mring m;
		struct hpool__ring *r = ring_new(&m, cap, 24, start);
		uint64_t in = 0, out = 0;

		for (uint32_t k = 0; k < rounds; k++) {
			while (in - out <= cap && push(r, in))
				in++;
			assert_int_equal(in - out, cap);
			assert_int_equal(hpool__ring_count(r), cap);
			while (out < in && hpool__ring_peek(r))
				pop_expect(r, out++);
			assert_null(hpool__ring_peek(r));
			assert_int_equal(out, in);
			assert_int_equal(hpool__ring_count(r), 0);
		}
		assert_int_equal(tail_of(r), (uint32_t)(start + in));
		assert_int_equal(head_of(r), (uint32_t)(start + in));
		if (start > UINT32_MAX - in) /* really crossed 2^32 */
			assert_true(tail_of(r) < start);
		ring_free(&m);
	}
}

/* Push 3, pop 2, ..., so the ring is partly full at the crossing. */
static void test_wrap_interleaved(void **state)
{
	const uint32_t cap = 8;

	(void)state;
	for (size_t i = 0; i < sizeof(wrap_starts) / sizeof(*wrap_starts);
	     i++) {
		uint32_t start = wrap_starts[i];
		struct mring m;
		struct hpool__ring *r = ring_new(&m, cap, 16, start);
		uint64_t in = 0, out = 0;

		for (int step = 0; step < 40; step++) {
			for (int k = 0; k < 3; k++)
				if (push(r, in))
					in++;
			for (int k = 0; k < 2 && out < in; k++)
				pop_expect(r, out++);
			assert_int_equal(hpool__ring_count(r), in - out);
			assert_true(in - out <= cap);
		}
		while (out < in)
			pop_expect(r, out++);
		assert_null(hpool__ring_peek(r));
		assert_true(in > 3 * cap);
		ring_free(&m);
	}
}

/* ---- SPSC across threads and processes ---------------------------------- */

/* In shared memory: both sides see `failed`. */
struct spsc {
	struct hpool__ring *r;
	uint64_t n;         /* items */
	_Atomic int failed; /* a side gave up: the other stops waiting */
	int result[2];      /* producer's, consumer's enum code */
	uint64_t bad;       /* consumer: first bad position */
};

static int spsc_fail(struct spsc *a, int code)
{
	atomic_store(&a->failed, 1);
	return code;
}

static int spsc_produce(void *arg)
{
	struct spsc *a = arg;

	for (uint64_t i = 0; i < a->n; i++) {
		struct patience p = { 0 };
		void *s;

		while (!(s = hpool__ring_reserve(a->r))) {
			if (atomic_load(&a->failed))
				return C_ABORTED;
			if (!wait_more(&p))
				return spsc_fail(a, C_STALLED);
		}
		fill(s, a->r->slot_size, i);
		hpool__ring_publish(a->r);
	}
	return C_OK;
}

/* Every item exactly once, in order, with its bytes intact. */
static int spsc_consume(void *arg)
{
	struct spsc *a = arg;

	for (uint64_t i = 0; i < a->n; i++) {
		struct patience p = { 0 };
		const uint64_t *s;

		while (!(s = hpool__ring_peek(a->r))) {
			if (atomic_load(&a->failed))
				return C_ABORTED;
			if (!wait_more(&p))
				return spsc_fail(a, C_STALLED);
		}
		a->bad = i;
		if (s[0] != i)
			return spsc_fail(a, C_ORDER);
		if (!intact(s, a->r->slot_size))
			return spsc_fail(a, C_PAYLOAD);
		hpool__ring_release(a->r);
	}
	return C_OK;
}

static void *producer_thread(void *arg)
{
	((struct spsc *)arg)->result[0] = spsc_produce(arg);
	return NULL;
}

static void *consumer_thread(void *arg)
{
	((struct spsc *)arg)->result[1] = spsc_consume(arg);
	return NULL;
}

static struct spsc *spsc_new(struct hpool__ring *r, uint64_t n)
{
	struct spsc *a = map_shared(sizeof(*a));

	memset(a, 0, sizeof(*a));
	a->r = r;
	a->n = n;
	a->result[0] = a->result[1] = -1;
	return a;
}

struct spsc_shape {
	uint32_t cap, slot_size, start;
	uint64_t n;
};

/* Items per shape: a million through the big ring; fewer through small
 * ones, which hand over every few items (slow when cores are shared). */
static const struct spsc_shape spsc_shapes[] = {
	{ 1024, 16, UINT32_MAX - 1000, 1000000 },
	{ 2, 8, UINT32_MAX - 1, 5000 },
	{ 64, 24, 0x7fffffc0u, 50000 },
};

static void test_threads_spsc(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(spsc_shapes) / sizeof(*spsc_shapes);
	     i++) {
		const struct spsc_shape *sh = &spsc_shapes[i];
		struct mring m;
		struct hpool__ring *r =
			ring_new(&m, sh->cap, sh->slot_size, sh->start);
		struct spsc *a = spsc_new(r, sh->n);
		pthread_t tp, tc;

		assert_int_equal(pthread_create(&tc, NULL, consumer_thread, a),
				 0);
		assert_int_equal(pthread_create(&tp, NULL, producer_thread, a),
				 0);
		pthread_join(tp, NULL);
		pthread_join(tc, NULL);
		if (a->result[1] != C_OK)
			fail_msg("cap %u: consumer code %d at item %llu",
				 sh->cap, a->result[1],
				 (unsigned long long)a->bad);
		assert_int_equal(a->result[0], C_OK);
		assert_int_equal(hpool__ring_count(r), 0);
		assert_int_equal(tail_of(r), (uint32_t)(sh->start + sh->n));
		munmap(a, sizeof(*a));
		ring_free(&m);
	}
}

/* Across processes, the child as producer and then as consumer. */
static void test_process_spsc(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(spsc_shapes) / sizeof(*spsc_shapes);
	     i++) {
		for (int child_produces = 0; child_produces < 2;
		     child_produces++) {
			const struct spsc_shape *sh = &spsc_shapes[i];
			struct mring m;
			struct hpool__ring *r = ring_new(&m, sh->cap,
							 sh->slot_size,
							 sh->start);
			struct spsc *a = spsc_new(r, sh->n);
			pid_t pid;
			int code;

			if (child_produces) {
				pid = spawn(spsc_produce, a, 0, 0);
				code = spsc_consume(a);
			} else {
				pid = spawn(spsc_consume, a, 0, 0);
				code = spsc_produce(a);
			}
			if (code != C_OK)
				fail_msg("cap %u: parent's code %d, item %llu",
					 sh->cap, code,
					 (unsigned long long)a->bad);
			expect_exit0(pid, child_produces ? "producer child" :
							   "consumer child");
			assert_int_equal(hpool__ring_count(r), 0);
			munmap(a, sizeof(*a));
			ring_free(&m);
		}
	}
}

/* ---- the death test ----------------------------------------------------- */

/*
 * One mapping holds the control block, the ring and delivered[]. Items
 * carry their own progress record (`done`), which the consumer may
 * rewrite in place while it holds slot[head].
 */
struct item {
	uint64_t seq;
	uint64_t check; /* ~seq */
	uint64_t done;  /* set by the consumer after delivery */
};

#define D_CAP 8u
#define D_N (4 * D_CAP)
#define D_START (UINT32_MAX - 3) /* the protocol runs across 2^32 */

struct death {
	struct hpool__ring *r;
	_Atomic uint32_t *delivered; /* per seq: deliveries (2: twice) */
	_Atomic int stop;   /* consumer: exit once the ring is empty */
	_Atomic int failed; /* a consumer failed: the producer gives up */
	uint32_t n;
	size_t len;
};

/* What one producer or consumer does; private memory, copied by fork. */
struct job {
	struct death *d;
	uint32_t from, to; /* producer: items [from, to); consumer: first */
};

static struct death *death_new(void)
{
	size_t rb = hpool__ring_bytes(D_CAP, sizeof(struct item));
	size_t len = 4096 + rb + D_N * sizeof(_Atomic uint32_t);
	struct death *d = map_shared(len);

	assert_int_equal(sizeof(struct item) % 8, 0);
	d->len = len;
	d->n = D_N;
	d->r = (struct hpool__ring *)((char *)d + 4096);
	d->delivered = (_Atomic uint32_t *)((char *)d->r + rb);
	return d;
}

static void death_reset(struct death *d)
{
	assert_int_equal(hpool__ring_init(d->r, D_CAP, sizeof(struct item),
					  D_START),
			 0);
	for (uint32_t i = 0; i < d->n; i++)
		atomic_store(&d->delivered[i], 0);
	atomic_store(&d->stop, 0);
	atomic_store(&d->failed, 0);
}

/* Produce items [from, to). */
static int d_produce(void *arg)
{
	const struct job *j = arg;
	struct death *d = j->d;

	for (uint32_t seq = j->from; seq < j->to; seq++) {
		struct patience p = { 0 };
		struct item *it;

		while (!(it = hpool__ring_reserve(d->r))) {
			if (atomic_load(&d->failed))
				return C_ABORTED;
			if (!wait_more(&p))
				return C_STALLED;
		}
		it->seq = seq;
		it->check = ~(uint64_t)seq;
		it->done = 0;
		hpool__ring_publish(d->r);
	}
	return C_OK;
}

static int d_fail(struct death *d, int code)
{
	atomic_store(&d->failed, 1);
	return code;
}

/*
 * Consume from item `from` on, in order; return after item n - 1, or when
 * `stop` is set and the ring is empty. Each step of the protocol is a
 * fault point: PEEKED (here), WORKED (here), RELEASED (in ring.c).
 */
static int d_consume(void *arg)
{
	const struct job *j = arg;
	struct death *d = j->d;
	uint32_t expect = j->from;
	struct patience p = { 0 };

	while (expect < d->n) {
		struct item *it = hpool__ring_peek(d->r);

		if (!it) {
			/* Pairs with the parent's release store of stop. */
			if (atomic_load_explicit(&d->stop,
						 memory_order_acquire) &&
			    !hpool__ring_peek(d->r))
				return C_OK;
			if (!wait_more(&p))
				return d_fail(d, C_STALLED);
			continue;
		}
		memset(&p, 0, sizeof(p));
		HPOOL__FAULT(HPOOL__F_RING_PEEKED);
		if (it->seq >= d->n || it->check != ~it->seq)
			return d_fail(d, C_RANGE);
		if (it->seq != expect)
			return d_fail(d, C_ORDER);
		if (it->done)
			return d_fail(d, C_REWORKED);
		/* Deliver, then record it in the item's progress record. */
		atomic_fetch_add(&d->delivered[it->seq], 1);
		it->done = 1;
		HPOOL__FAULT(HPOOL__F_RING_WORKED);
		hpool__ring_release(d->r);
		expect++;
	}
	return C_OK;
}

/*
 * The supervisor's repair, as ring.c's crash protocol says: after the dead
 * consumer was reaped, if head != tail and slot[head]'s progress record
 * says it was finished, release it; otherwise leave it for the next
 * consumer. Return: whether it released.
 */
static bool supervisor_repair(struct hpool__ring *r)
{
	struct item *it;

	/* A death at any step leaves the ring's shape and indices sound. */
	assert_true(hpool__ring_valid(r));
	if (hpool__ring_count(r) == 0)
		return false;
	it = hpool__ring_peek(r); /* the supervisor acts as the consumer */
	assert_non_null(it);
	if (!it->done)
		return false;
	hpool__ring_release(r);
	return true;
}

static uint32_t sum_delivered(struct death *d)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i < d->n; i++) {
		uint32_t v = atomic_load(&d->delivered[i]);

		if (v > 1)
			fail_msg("item %u delivered %u times", i, v);
		sum += v;
	}
	return sum;
}

static void expect_all_once(struct death *d)
{
	for (uint32_t i = 0; i < d->n; i++) {
		uint32_t v = atomic_load(&d->delivered[i]);

		if (v != 1)
			fail_msg("item %u delivered %u times", i, v);
	}
	assert_int_equal(hpool__ring_count(d->r), 0);
}

/* The skips: first item, around the 2^32 crossing (D_START + 3/4/5),
 * around the slot array's wrap, and the last item. */
static const int skips[] = { 0, 1, 3, 4, 5, D_CAP - 1, D_CAP, D_CAP + 1,
			     2 * D_CAP + 3, D_N - 1 };

/* A consumer dies at `point` on item k while a producer runs. */
static void consumer_death(struct death *d, int point, uint32_t k)
{
	struct job pj = { d, 0, d->n }, cj = { d, 0, 0 };
	pid_t prod, cons;
	uint32_t released;
	struct item *it;
	bool fixed;

	death_reset(d);
	prod = spawn(d_produce, &pj, 0, 0);
	cons = spawn(d_consume, &cj, point, (int)k);
	expect_killed(cons, "consumer");

	/* Where the fault point is: items before k finished; item k
	 * peeked only, worked, or worked and released. */
	released = point == HPOOL__F_RING_RELEASED ? k + 1 : k;
	assert_int_equal(head_of(d->r) - D_START, released);
	assert_int_equal(sum_delivered(d),
			 point == HPOOL__F_RING_PEEKED ? k : k + 1);
	assert_int_equal(atomic_load(&d->delivered[k]),
			 point == HPOOL__F_RING_PEEKED ? 0 : 1);
	if (point != HPOOL__F_RING_RELEASED) {
		/* Still held: slot[head] is item k. */
		assert_true(hpool__ring_count(d->r) >= 1);
		it = hpool__ring_slot(d->r, head_of(d->r));
		assert_int_equal(it->seq, k);
		assert_int_equal(it->done, point == HPOOL__F_RING_WORKED);
	}

	fixed = supervisor_repair(d->r);
	assert_int_equal(fixed, point == HPOOL__F_RING_WORKED);
	assert_int_equal(sum_delivered(d),
			 point == HPOOL__F_RING_PEEKED ? k : k + 1);

	/* A replacement consumer goes on from the next unfinished item. */
	cj.from = point == HPOOL__F_RING_PEEKED ? k : k + 1;
	cons = spawn(d_consume, &cj, 0, 0);
	expect_exit0(prod, "producer");
	expect_exit0(cons, "replacement consumer");
	expect_all_once(d);
}

/* A producer dies at `point` on item k while a consumer runs. */
static void producer_death(struct death *d, int point, uint32_t k)
{
	uint32_t published = point == HPOOL__F_RING_PUBLISHED ? k + 1 : k;
	struct job pj = { d, 0, d->n }, cj = { d, 0, 0 };
	pid_t prod, cons;

	death_reset(d);
	cons = spawn(d_consume, &cj, 0, 0);
	prod = spawn(d_produce, &pj, point, (int)k);
	expect_killed(prod, "producer");
	assert_true(hpool__ring_valid(d->r));
	assert_int_equal(tail_of(d->r) - D_START, published);
	if (point == HPOOL__F_RING_RESERVED) {
		/* Item k was written into slot[tail], never published. */
		struct item *u = hpool__ring_slot(d->r, tail_of(d->r));

		assert_int_equal(u->seq, k);
	}
	atomic_store_explicit(&d->stop, 1, memory_order_release);
	expect_exit0(cons, "consumer");
	/* Everything published delivered once; the unpublished slot never
	 * seen. */
	assert_int_equal(hpool__ring_count(d->r), 0);
	assert_int_equal(sum_delivered(d), published);
	for (uint32_t i = 0; i < published; i++)
		assert_int_equal(atomic_load(&d->delivered[i]), 1);

	/* The producer's owner resubmits the rest through a new producer. */
	atomic_store(&d->stop, 0);
	pj.from = cj.from = published;
	cons = spawn(d_consume, &cj, 0, 0);
	prod = spawn(d_produce, &pj, 0, 0);
	expect_exit0(prod, "replacement producer");
	expect_exit0(cons, "consumer");
	expect_all_once(d);
}

static void run_death(int point, bool consumer)
{
	struct death *d = death_new();

	for (size_t i = 0; i < sizeof(skips) / sizeof(*skips); i++) {
		if (consumer)
			consumer_death(d, point, (uint32_t)skips[i]);
		else
			producer_death(d, point, (uint32_t)skips[i]);
	}
	munmap(d, d->len);
}

static void test_death_consumer_peeked(void **state)
{
	(void)state;
	run_death(HPOOL__F_RING_PEEKED, true);
}

static void test_death_consumer_worked(void **state)
{
	(void)state;
	run_death(HPOOL__F_RING_WORKED, true);
}

static void test_death_consumer_released(void **state)
{
	(void)state;
	run_death(HPOOL__F_RING_RELEASED, true);
}

static void test_death_producer_reserved(void **state)
{
	(void)state;
	run_death(HPOOL__F_RING_RESERVED, false);
}

static void test_death_producer_published(void **state)
{
	(void)state;
	run_death(HPOOL__F_RING_PUBLISHED, false);
}

/* The fault machinery itself: a point fires at pass skip + 1, not
 * before, and only the point that was armed. */
static int fault_probe(void *arg)
{
	(void)arg;
	HPOOL__FAULT(HPOOL__F_RING_WORKED); /* not armed: no effect */
	HPOOL__FAULT(HPOOL__F_RING_PEEKED); /* pass 1 */
	HPOOL__FAULT(HPOOL__F_RING_PEEKED); /* pass 2 */
	HPOOL__FAULT(HPOOL__F_RING_PEEKED); /* pass 3: dies when skip 2 */
	return 7;
}

static void test_fault_points(void **state)
{
	int st;

	(void)state;
	for (int skip = 0; skip < 3; skip++)
		expect_killed(spawn(fault_probe, NULL, HPOOL__F_RING_PEEKED,
				    skip),
			      "probe");
	st = reap_kid(spawn(fault_probe, NULL, HPOOL__F_RING_PEEKED, 3));
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	st = reap_kid(spawn(fault_probe, NULL, HPOOL__F_NONE, 0));
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape_rejected),
		cmocka_unit_test(test_shape_accepted),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_capacity_two),
		cmocka_unit_test(test_wrap_full_rounds),
		cmocka_unit_test(test_wrap_interleaved),
		cmocka_unit_test(test_threads_spsc),
		cmocka_unit_test_teardown(test_process_spsc, kill_kids),
		cmocka_unit_test_teardown(test_fault_points, kill_kids),
		cmocka_unit_test_teardown(test_death_consumer_peeked,
					  kill_kids),
		cmocka_unit_test_teardown(test_death_consumer_worked,
					  kill_kids),
		cmocka_unit_test_teardown(test_death_consumer_released,
					  kill_kids),
		cmocka_unit_test_teardown(test_death_producer_reserved,
					  kill_kids),
		cmocka_unit_test_teardown(test_death_producer_published,
					  kill_kids),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
