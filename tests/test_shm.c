/* SPDX-License-Identifier: MIT */
/*
 * The shared region and its arena (src/shm.c): arguments, alignment, size
 * classes, exhaustion and recovery, contains / is_block, refused frees,
 * blocks handed out once under threads and forked processes at the same
 * time, freed pages given back to the system, and processes killed inside
 * alloc/free (at each fault point, and at a random instruction) leaving an
 * arena that the others go on using, short of a bounded leak.
 *
 * The yardstick is capacity(): with nothing else running, it takes every
 * page, then every cached small block, checks that no two blocks overlap
 * and that each holds what was written to it, frees them all and returns
 * the bytes it got. A fresh arena gives exactly its size; an arena after
 * any test gives its size minus what is still held or leaked.
 *
 * A forked child never calls assert_*: it _exits a code (enum code) that the
 * parent checks after waitpid. HPOOL_TEST_SHORT=1 cuts the iterations (for
 * valgrind). Usage: test_shm [cmocka filter].
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#define PAGE ((size_t)4096)
#define MIB ((size_t)1 << 20)
#define RUN_BYTES (16 * PAGE) /* a small-class run (shm.c RUN_PAGES) */
#define CHILD_ALARM_S 120 /* a hung child dies by SIGALRM: the test fails */
#define WAIT_S 120        /* the parent gives up waiting: the test fails */

/* Exit codes of children and results of the hammer loop. */
enum code {
	C_OK = 0,
	C_NULL = 2,     /* alloc returned NULL with room to spare */
	C_ALIGN = 3,    /* a block badly aligned */
	C_PATTERN = 4,  /* a block's bytes changed under its owner */
	C_FREE = 5,     /* a live block's free was refused */
	C_ISBLOCK = 6,  /* a live block not seen by is_block */
	C_NOFAULT = 7,  /* the fault point was never reached */
};

static unsigned scale(unsigned n)
{
	const char *s = getenv("HPOOL_TEST_SHORT");

	return s && *s && strcmp(s, "0") ? (n / 10 ? n / 10 : 1) : n;
}

static uint64_t rnd(uint64_t *s) /* xorshift64* */
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Fill / check `size` bytes with the 8 bytes of `tag`, repeated. */
static void fill(void *p, size_t size, uint64_t tag)
{
	unsigned char *c = p;
	size_t i = 0;

	for (; i + 8 <= size; i += 8)
		memcpy(c + i, &tag, 8);
	for (; i < size; i++)
		c[i] = (unsigned char)(tag >> (8 * (i % 8)));
}

static bool holds(const void *p, size_t size, uint64_t tag)
{
	const unsigned char *c = p;
	size_t i = 0;

	for (; i + 8 <= size; i += 8)
		if (memcmp(c + i, &tag, 8))
			return false;
	for (; i < size; i++)
		if (c[i] != (unsigned char)(tag >> (8 * (i % 8))))
			return false;
	return true;
}

/* Resident pages of [p, p + len) as the page cache sees them: for shmem,
 * a page stays resident until its file page is gone, whoever maps it. */
static size_t resident(void *p, size_t len)
{
	size_t n = len / PAGE, r = 0;
	unsigned char *v = malloc(n);

	assert_non_null(v);
	assert_int_equal(mincore(p, len, v), 0);
	for (size_t i = 0; i < n; i++)
		r += v[i] & 1;
	free(v);
	return r;
}

static void *map_note(size_t len) /* shared scratch, outside the arena */
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static struct hpool__shm *make(size_t size)
{
	struct hpool__shm *shm = NULL;

	assert_int_equal(hpool__shm_create(size, &shm), 0);
	assert_non_null(shm);
	return shm;
}

/* ---- capacity: the arena's yardstick ------------------------------------- */

struct blk {
	char *p;
	size_t size;
};

static int blk_cmp(const void *a, const void *b)
{
	const struct blk *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* Take everything (pages first, so that small classes only empty their
 * cached runs), check, free it all. Context: nothing else uses shm. */
static size_t capacity(struct hpool__shm *shm)
{
	size_t n = 0, cap = 1024, total = 0;
	struct blk *b = malloc(cap * sizeof(*b));
	size_t sizes[] = { PAGE, 2048, 1024, 512, 256, 128, 64, 32, 16 };

	assert_non_null(b);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		char *p;

		while ((p = hpool__shm_alloc(shm, sizes[s]))) {
			if (n == cap) {
				cap *= 2;
				b = realloc(b, cap * sizeof(*b));
				assert_non_null(b);
			}
			b[n].p = p;
			b[n].size = sizes[s];
			n++;
			total += sizes[s];
		}
	}
	for (size_t i = 0; i < n; i++)
		fill(b[i].p, b[i].size, 0x5a00000000000000ull | i);
	qsort(b, n, sizeof(*b), blk_cmp);
	for (size_t i = 0; i < n; i++) {
		assert_true(hpool__shm_is_block(shm, b[i].p));
		if (i + 1 < n)
			assert_true(b[i].p + b[i].size <= b[i + 1].p);
	}
	/* after the sort the tags are a permutation: check each once */
	{
		char *seen = calloc(n ? n : 1, 1);

		assert_non_null(seen);
		for (size_t i = 0; i < n; i++) {
			uint64_t tag;

			memcpy(&tag, b[i].p, 8);
			assert_true((tag >> 56) == 0x5a);
			tag &= 0x00ffffffffffffffull;
			assert_true(tag < n && !seen[tag]);
			seen[tag] = 1;
			assert_true(holds(b[i].p, b[i].size,
					  0x5a00000000000000ull | tag));
		}
		free(seen);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(hpool__shm_release(shm, b[i].p), 0);
	free(b);
	return total;
}

/* ---- children ------------------------------------------------------------ */

static void arm(int fault, int skip)
{
	atomic_store(&hpool__fault_skip, skip);
	atomic_store(&hpool__fault_at, fault);
}

#include "children.h"

/* Wait (politely) until *v >= goal; false after WAIT_S seconds. */
static bool wait_for(_Atomic unsigned long *v, unsigned long goal)
{
	struct timespec ms = { 0, 1000000 };

	for (long i = 0; i < WAIT_S * 1000L; i++) {
		if (atomic_load(v) >= goal)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

/* ---- the hammer: random alloc/free, every byte checked ------------------- */

#define HOLD_MAX 64

struct hammer {
	struct hpool__shm *shm;
	uint32_t id;          /* unique over threads and processes */
	unsigned long iters;  /* 0: until *stop */
	unsigned hold;        /* blocks held at most, <= HOLD_MAX */
	size_t max_size;      /* sizes 1..max_size, log-uniform */
	bool full_ok;         /* NULL from alloc is no error (tight arena) */
	_Atomic unsigned long *progress; /* may be NULL */
	_Atomic int *stop;               /* may be NULL */
	int result;
};

static size_t rnd_size(uint64_t *s, size_t max)
{
	unsigned bits = 64 - (unsigned)__builtin_clzll(max);
	size_t size = 1 + rnd(s) % ((size_t)1 << (1 + rnd(s) % bits));

	return size > max ? max : size;
}

static int hammer_run(struct hammer *h)
{
	struct {
		char *p;
		size_t size;
		uint64_t tag;
	} held[HOLD_MAX] = { { 0 } };
	uint64_t s = 0x9e3779b97f4a7c15ull * (h->id + 1), count = 0;
	int rc = C_OK;

	for (unsigned long i = 0; !h->iters || i < h->iters; i++) {
		unsigned k = (unsigned)(rnd(&s) % h->hold);

		if (h->stop && atomic_load_explicit(h->stop,
						    memory_order_relaxed))
			break;
		if (held[k].p) {
			if (!holds(held[k].p, held[k].size, held[k].tag))
				return C_PATTERN;
			if (hpool__shm_release(h->shm, held[k].p))
				return C_FREE;
			held[k].p = NULL;
		} else {
			size_t size = rnd_size(&s, h->max_size);
			char *p = hpool__shm_alloc(h->shm, size);

			if (!p) {
				if (h->full_ok)
					continue;
				return C_NULL;
			}
			if ((uintptr_t)p % 16 ||
			    (size > 2048 && (uintptr_t)p % PAGE))
				return C_ALIGN;
			if (!hpool__shm_is_block(h->shm, p))
				return C_ISBLOCK;
			held[k].p = p;
			held[k].size = size;
			held[k].tag = (uint64_t)h->id << 40 | ++count;
			fill(p, size, held[k].tag);
		}
		if (h->progress)
			atomic_fetch_add_explicit(h->progress, 1,
						  memory_order_relaxed);
	}
	for (unsigned k = 0; k < h->hold; k++) {
		if (!held[k].p)
			continue;
		if (!holds(held[k].p, held[k].size, held[k].tag))
			rc = C_PATTERN;
		if (hpool__shm_release(h->shm, held[k].p))
			rc = C_FREE;
	}
	return rc;
}

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	h->result = hammer_run(h);
	return NULL;
}

/* nthreads hammers in this process, ids id0.. Return: the first failure. */
static int hammer_threads(struct hammer *proto, unsigned nthreads,
			  uint32_t id0)
{
	pthread_t t[8];
	struct hammer h[8];
	int rc = C_OK;

	if (nthreads > 8)
		return 99;
	for (unsigned i = 0; i < nthreads; i++) {
		h[i] = *proto;
		h[i].id = id0 + i;
		if (pthread_create(&t[i], NULL, hammer_thread, &h[i]))
			return 98;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		if (h[i].result && !rc)
			rc = h[i].result;
	}
	return rc;
}

struct proc_arg {
	struct hammer proto;
	unsigned threads;
	uint32_t id0;
};

static int hammer_child(void *arg)
{
	struct proc_arg *a = arg;

	return hammer_threads(&a->proto, a->threads, a->id0);
}

/* ---- arguments, sizes, alignment ----------------------------------------- */

static void test_create_args(void **state)
{
	struct hpool__shm *shm = NULL;

	(void)state;
	assert_int_equal(hpool__shm_create(0, &shm), -EINVAL);
	assert_int_equal(hpool__shm_create(HPOOL__SHM_MAX + 1, &shm),
			 -EINVAL);
	assert_int_equal(hpool__shm_create(SIZE_MAX, &shm), -EINVAL);
	assert_int_equal(hpool__shm_create(MIB, NULL), -EINVAL);
	assert_null(shm);

	/* sizes round up to whole pages, and that is all there is */
	shm = make(1);
	assert_int_equal(capacity(shm), PAGE);
	hpool__shm_destroy(shm);
	shm = make(PAGE + 1);
	assert_int_equal(capacity(shm), 2 * PAGE);
	hpool__shm_destroy(shm);
	shm = make(MIB);
	assert_int_equal(capacity(shm), MIB);
	assert_int_equal(capacity(shm), MIB); /* again: all was given back */
	hpool__shm_destroy(shm);
	hpool__shm_destroy(NULL);
}

static void test_alloc_basic(void **state)
{
	struct hpool__shm *shm = make(MIB);
	static const size_t sizes[] = { 1,    15,   16,   17,    31,   32,
					100,  1000, 2047, 2048,  2049, 4095,
					4096, 4097, 8192, 12345, 65536 };
	char *p[sizeof(sizes) / sizeof(sizes[0])];
	size_t n = sizeof(sizes) / sizeof(sizes[0]);

	(void)state;
	assert_null(hpool__shm_alloc(shm, 0));
	assert_null(hpool__shm_alloc(shm, MIB + 1));
	assert_null(hpool__shm_alloc(shm, SIZE_MAX));
	assert_null(hpool__shm_alloc(NULL, 16));
	for (size_t i = 0; i < n; i++) {
		p[i] = hpool__shm_alloc(shm, sizes[i]);
		assert_non_null(p[i]);
		assert_true(hpool__shm_contains(shm, p[i], sizes[i]));
		assert_true(hpool__shm_is_block(shm, p[i]));
		fill(p[i], sizes[i], i + 1);
	}
	for (size_t i = 0; i < n; i++) {
		assert_true(holds(p[i], sizes[i], i + 1));
		for (size_t j = 0; j < n; j++) /* pairwise disjoint */
			if (i != j)
				assert_true(p[i] + sizes[i] <= p[j] ||
					    p[j] + sizes[j] <= p[i]);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(hpool__shm_release(shm, p[i]), 0);
	assert_int_equal(capacity(shm), MIB); /* nothing lost */
	hpool__shm_destroy(shm);
}

static void test_alignment(void **state)
{
	struct hpool__shm *shm = make(8 * MIB);

	(void)state;
	for (size_t size = 1; size <= 3 * PAGE; size += size < 64 ? 1 : 61) {
		char *a = hpool__shm_alloc(shm, size);
		char *b = hpool__shm_alloc(shm, size);

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal((uintptr_t)a % 16, 0);
		assert_int_equal((uintptr_t)b % 16, 0);
		if (size >= PAGE) /* the contract; in fact from 2049 up */
			assert_int_equal((uintptr_t)a % PAGE, 0);
		if (size > 2048)
			assert_int_equal((uintptr_t)b % PAGE, 0);
		if (size <= 2048) { /* a small block is its power of two */
			size_t cls = 16;

			while (cls < size)
				cls *= 2;
			assert_int_equal((uintptr_t)a % cls, 0);
		}
		assert_true(a + size <= b || b + size <= a);
		hpool__shm_free(shm, a);
		hpool__shm_free(shm, b);
	}
	assert_int_equal(capacity(shm), 8 * MIB);
	hpool__shm_destroy(shm);
}

/* ---- exhaustion ---------------------------------------------------------- */

static void test_exhaust_recover(void **state)
{
	struct hpool__shm *shm = make(MIB);
	char *pg[MIB / PAGE + 1], *sm[PAGE / 16], *whole;
	size_t n = 0;

	(void)state;
	while ((pg[n] = hpool__shm_alloc(shm, PAGE)))
		assert_true(++n <= MIB / PAGE);
	assert_int_equal(n, MIB / PAGE);
	for (size_t i = 1; i < n; i++) /* a fresh arena fills in order */
		assert_ptr_equal(pg[i], pg[0] + i * PAGE);
	assert_null(hpool__shm_alloc(shm, PAGE));
	assert_null(hpool__shm_alloc(shm, 16)); /* no page for a run */
	assert_null(hpool__shm_alloc(shm, 2048));

	/* one page back: a small class lives in it (a 1-page run) */
	hpool__shm_free(shm, pg[n / 2]);
	for (size_t i = 0; i < PAGE / 16; i++) {
		sm[i] = hpool__shm_alloc(shm, 16);
		assert_non_null(sm[i]);
		assert_true(sm[i] >= pg[n / 2] && sm[i] < pg[n / 2] + PAGE);
	}
	assert_null(hpool__shm_alloc(shm, 16));
	assert_null(hpool__shm_alloc(shm, PAGE));

	/* all back. The run stays with its class, so the arena is one page
	 * short of a single block, and capacity() gets the page back as
	 * 256 blocks of 16 bytes. */
	for (size_t i = 0; i < n; i++)
		if (i != n / 2)
			hpool__shm_free(shm, pg[i]);
	for (size_t i = 0; i < PAGE / 16; i++)
		hpool__shm_free(shm, sm[i]);
	assert_null(hpool__shm_alloc(shm, MIB));
	whole = hpool__shm_alloc(shm, n / 2 * PAGE); /* below the run */
	assert_ptr_equal(whole, pg[0]);
	hpool__shm_free(shm, whole);
	assert_int_equal(capacity(shm), MIB);
	hpool__shm_destroy(shm);

	/* a large request takes the one hole that fits, among many */
	shm = make(MIB);
	n = 0;
	while ((pg[n] = hpool__shm_alloc(shm, PAGE)))
		n++;
	for (size_t i = 0; i < n; i += 2) /* 98, 100, 102, ... free */
		hpool__shm_free(shm, pg[i]);
	hpool__shm_free(shm, pg[101]); /* 100..102: the only 3-page hole */
	assert_null(hpool__shm_alloc(shm, 4 * PAGE));
	whole = hpool__shm_alloc(shm, 3 * PAGE);
	assert_ptr_equal(whole, pg[100]);
	assert_null(hpool__shm_alloc(shm, 2 * PAGE));
	hpool__shm_free(shm, whole);
	assert_ptr_equal(hpool__shm_alloc(shm, 2 * PAGE), pg[100]);
	hpool__shm_destroy(shm);

	/* the whole arena as one block, twice */
	shm = make(MIB);
	for (int k = 0; k < 2; k++) {
		whole = hpool__shm_alloc(shm, MIB);
		assert_non_null(whole);
		assert_null(hpool__shm_alloc(shm, 1));
		hpool__shm_free(shm, whole);
	}
	hpool__shm_destroy(shm);
}

/* ---- contains, is_block, refused frees ----------------------------------- */

static void test_contains_is_block(void **state)
{
	struct hpool__shm *shm = make(MIB);
	char *whole, *s, local = 0;

	(void)state;
	/* the header is the region's first byte; the arena is its end */
	assert_true(hpool__shm_contains(shm, shm, 1));
	assert_false(hpool__shm_contains(shm, (char *)shm - 1, 1));
	assert_false(hpool__shm_contains(shm, &local, 1));
	assert_false(hpool__shm_contains(shm, NULL, 0));
	assert_false(hpool__shm_contains(NULL, shm, 1));
	assert_false(hpool__shm_is_block(shm, shm));
	assert_false(hpool__shm_is_block(shm, NULL));
	assert_false(hpool__shm_is_block(NULL, shm));

	whole = hpool__shm_alloc(shm, MIB);
	assert_non_null(whole);
	assert_true(hpool__shm_contains(shm, whole, MIB));
	assert_true(hpool__shm_contains(shm, whole + MIB - 1, 1));
	assert_false(hpool__shm_contains(shm, whole, MIB + 1));
	assert_false(hpool__shm_contains(shm, whole + MIB, 0));
	assert_false(hpool__shm_contains(shm, whole + 1, SIZE_MAX));
	assert_true(hpool__shm_is_block(shm, whole));
	assert_false(hpool__shm_is_block(shm, whole + 16));
	assert_false(hpool__shm_is_block(shm, whole + PAGE));
	assert_false(hpool__shm_is_block(shm, whole + MIB));
	hpool__shm_free(shm, whole);
	assert_false(hpool__shm_is_block(shm, whole));
	assert_true(hpool__shm_contains(shm, whole, MIB)); /* region stays */

	s = hpool__shm_alloc(shm, 24); /* class 32 */
	assert_non_null(s);
	assert_true(hpool__shm_is_block(shm, s));
	assert_false(hpool__shm_is_block(shm, s + 16)); /* inside it */
	/* the next block of its run exists but is not handed out */
	assert_false(hpool__shm_is_block(shm, s + 32));
	hpool__shm_free(shm, s);
	assert_false(hpool__shm_is_block(shm, s));
	hpool__shm_destroy(shm);
}

/*
 * Decision: a free of anything but the start of a live block changes
 * nothing and is refused (hpool__shm_release: -EINVAL; hpool__shm_free
 * ignores it, hpool_shm_free reports it). Of two frees of one block
 * exactly one succeeds, even at the same time.
 */
/* A task that writes past its block over a free neighbour's link (or a
 * write after free) leaves a wild index on a free list. The allocator
 * drops that list (its blocks leak) instead of following the link or
 * aborting, and goes on handing out sound, distinct blocks. Both wild
 * kinds: an index out of the arena, and one that names a live block. */
static void test_wild_free_link(void **state)
{
	struct hpool__shm *shm = make(MIB);
	char *a[4], *live, *b[8];

	(void)state;
	for (int kind = 0; kind < 2; kind++) {
		uint64_t before = hpool__shm_dropped(shm);

		for (int i = 0; i < 4; i++)
			assert_non_null(a[i] = hpool__shm_alloc(shm, 100));
		assert_non_null(live = hpool__shm_alloc(shm, 100));
		fill(live, 100, 7);
		hpool__shm_free(shm, a[1]);
		hpool__shm_free(shm, a[2]); /* the list: a[2] -> a[1] -> ... */
		/* the overrun of a[2]'s neighbour: a[2]'s link */
		if (kind == 0)
			memset(a[2], 0x5a, 8);
		else /* a link to the live block's granule */
			memcpy(a[2], &(uint64_t){ (uint64_t)(uintptr_t)
				(live - (char *)shm) >> 4 }, 8);
		for (int i = 0; i < 8; i++) {
			assert_non_null(b[i] = hpool__shm_alloc(shm, 100));
			assert_true(b[i] != live);
			for (int j = 0; j < i; j++)
				assert_true(b[i] != b[j]);
			fill(b[i], 100, 9);
		}
		assert_true(holds(live, 100, 7));
		assert_true(hpool__shm_dropped(shm) > before);
		for (int i = 0; i < 8; i++)
			hpool__shm_free(shm, b[i]);
		hpool__shm_free(shm, live);
		hpool__shm_free(shm, a[0]);
		hpool__shm_free(shm, a[3]);
	}
	hpool__shm_destroy(shm);
}

static void test_bad_free(void **state)
{
	struct hpool__shm *shm = make(MIB);
	char *a = hpool__shm_alloc(shm, 40), *l = hpool__shm_alloc(shm, 9000);
	char *b, *c, local[64], *heap = malloc(64);

	(void)state;
	assert_non_null(a);
	assert_non_null(l);
	assert_non_null(heap);
	fill(a, 40, 1);
	fill(l, 9000, 2);
	assert_int_equal(hpool__shm_release(shm, NULL), -EINVAL);
	assert_int_equal(hpool__shm_release(NULL, a), -EINVAL);
	assert_int_equal(hpool__shm_release(shm, local), -EINVAL);
	assert_int_equal(hpool__shm_release(shm, heap), -EINVAL);
	assert_int_equal(hpool__shm_release(shm, shm), -EINVAL); /* header */
	assert_int_equal(hpool__shm_release(shm, a + 16), -EINVAL);
	assert_int_equal(hpool__shm_release(shm, a + 64), -EINVAL); /* free */
	assert_int_equal(hpool__shm_release(shm, l + 16), -EINVAL);
	assert_int_equal(hpool__shm_release(shm, l + PAGE), -EINVAL);
	assert_int_equal(hpool__shm_release(shm, l + 3 * PAGE), -EINVAL);
	hpool__shm_free(shm, heap); /* ignored, no crash */
	hpool__shm_free(shm, a + 8);
	free(heap);
	/* the refused frees did nothing */
	assert_true(hpool__shm_is_block(shm, a) && holds(a, 40, 1));
	assert_true(hpool__shm_is_block(shm, l) && holds(l, 9000, 2));

	/* double frees: the second is refused, the block is not listed
	 * twice (two allocations would then return it twice) */
	assert_int_equal(hpool__shm_release(shm, a), 0);
	assert_int_equal(hpool__shm_release(shm, a), -EINVAL);
	hpool__shm_free(shm, a);
	b = hpool__shm_alloc(shm, 40);
	c = hpool__shm_alloc(shm, 40);
	assert_non_null(b);
	assert_non_null(c);
	assert_ptr_not_equal(b, c);
	assert_int_equal(hpool__shm_release(shm, l), 0);
	assert_int_equal(hpool__shm_release(shm, l), -EINVAL);
	hpool__shm_free(shm, l);
	l = hpool__shm_alloc(shm, 9000);
	assert_non_null(l);
	assert_int_equal(hpool__shm_release(shm, l), 0);
	hpool__shm_free(shm, b);
	hpool__shm_free(shm, c);
	assert_int_equal(capacity(shm), MIB); /* all listed once */
	hpool__shm_destroy(shm);
}

/* Two threads free the same blocks at the same time: one wins each. */
struct racer {
	struct hpool__shm *shm;
	char **blocks;
	size_t n;
	pthread_barrier_t *go;
	size_t won;
};

static void *free_racer(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	for (size_t i = 0; i < r->n; i++)
		r->won += !hpool__shm_release(r->shm, r->blocks[i]);
	return NULL;
}

static void test_double_free_race(void **state)
{
	struct hpool__shm *shm = make(4 * MIB);
	size_t n = 512;
	char **bl = calloc(n, sizeof(*bl));
	pthread_barrier_t go;
	pthread_t t[2];
	struct racer r[2];

	(void)state;
	assert_non_null(bl);
	for (unsigned round = 0; round < scale(20); round++) {
		for (size_t i = 0; i < n; i++) {
			bl[i] = hpool__shm_alloc(shm,
						 i % 4 ? 16 << (i % 8) : 5000);
			assert_non_null(bl[i]);
		}
		pthread_barrier_init(&go, NULL, 2);
		for (int k = 0; k < 2; k++) {
			r[k] = (struct racer){ shm, bl, n, &go, 0 };
			assert_int_equal(pthread_create(&t[k], NULL,
							free_racer, &r[k]),
					 0);
		}
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		pthread_barrier_destroy(&go);
		assert_int_equal(r[0].won + r[1].won, n);
	}
	free(bl);
	assert_int_equal(capacity(shm), 4 * MIB);
	hpool__shm_destroy(shm);
}

/* ---- concurrency --------------------------------------------------------- */

/* Roomy: alloc never fails. Tight: the arena runs out all the time, so
 * searches wrap, claims conflict and roll back, runs fall back to 1 page. */
static const struct arena_shape {
	size_t size;
	bool full_ok;
} roomy = { 64 * MIB, false }, tight = { 2 * MIB, true };

static void threads_in(const struct arena_shape *sh)
{
	struct hpool__shm *shm = make(sh->size);
	struct hammer proto = {
		.shm = shm, .iters = scale(40000), .hold = 32,
		.max_size = 32 * 1024, .full_ok = sh->full_ok,
	};

	assert_int_equal(hammer_threads(&proto, 4, 1), C_OK);
	/* everything came back: nothing leaked, nothing listed twice */
	assert_int_equal(capacity(shm), sh->size);
	hpool__shm_destroy(shm);
}

static void test_threads(void **state)
{
	(void)state;
	threads_in(&roomy);
	threads_in(&tight);
}

/* 4 processes x 2 threads, and 2 threads of this process, at once. */
static void processes_in(const struct arena_shape *sh)
{
	struct hpool__shm *shm = make(sh->size);
	struct proc_arg a = {
		.proto = { .shm = shm, .iters = scale(40000), .hold = 32,
			   .max_size = 32 * 1024, .full_ok = sh->full_ok },
		.threads = 2,
	};
	pid_t pid[4];

	for (int i = 0; i < 4; i++) {
		a.id0 = 100 + 10 * i;
		pid[i] = spawn(hammer_child, &a, HPOOL__F_NONE, 0);
	}
	assert_int_equal(hammer_threads(&a.proto, 2, 1), C_OK);
	for (int i = 0; i < 4; i++)
		expect_exit0(pid[i], "hammer process");
	assert_int_equal(capacity(shm), sh->size);
	hpool__shm_destroy(shm);
}

static void test_processes_and_threads(void **state)
{
	(void)state;
	processes_in(&roomy);
	processes_in(&tight);
}

/* ---- interleavings forced through the fault hook ------------------------- */

static struct hpool__shm *hook_shm;
static char *hook_a, *hook_b;
static int hook_calls;

static void hook_arm(struct hpool__shm *shm, int point, void (*fn)(int))
{
	hook_shm = shm;
	hook_a = hook_b = NULL;
	hook_calls = 0;
	hpool__fault_hook = fn;
	atomic_store(&hpool__fault_at, point);
}

static void hook_disarm(void)
{
	atomic_store(&hpool__fault_at, HPOOL__F_NONE);
	hpool__fault_hook = NULL;
}

/* Between a pop's read of top->next and its CAS, "another thread" pops
 * the top X, pops Y and pushes X back: the head shows X again (ABA). */
static void aba_hook(int point)
{
	if (hook_calls++) /* the inner pops pass here too */
		return;
	hook_a = hpool__shm_alloc(hook_shm, 32);
	hook_b = hpool__shm_alloc(hook_shm, 32);
	hpool__shm_free(hook_shm, hook_a);
}

static void test_pop_aba(void **state)
{
	struct hpool__shm *shm = make(MIB);
	char *r, *c;

	(void)state;
	hpool__shm_free(shm, hpool__shm_alloc(shm, 32)); /* carve the run */
	hook_arm(shm, HPOOL__F_SHM_POP_READ, aba_hook);
	r = hpool__shm_alloc(shm, 32);
	hook_disarm();
	assert_true(hook_calls >= 2);
	assert_non_null(hook_a);
	assert_non_null(hook_b);
	/* the stale CAS failed on the tag; the retry took X again */
	assert_ptr_equal(r, hook_a);
	/* Y is live: the head must not point at it (without the tag the
	 * stale CAS would install Y, and the next pop would hand it out
	 * twice) */
	c = hpool__shm_alloc(shm, 32);
	assert_non_null(c);
	assert_ptr_not_equal(c, hook_b);
	assert_ptr_not_equal(c, r);
	hpool__shm_free(shm, r);
	hpool__shm_free(shm, hook_b);
	hpool__shm_free(shm, c);
	assert_int_equal(capacity(shm), MIB);
	hpool__shm_destroy(shm);
}

/* A 100-page claim has set its first word (pages 0..63) when "another
 * thread" takes page 64: the claim must undo its first word and go on. */
static void conflict_hook(int point)
{
	if (hook_calls++)
		return;
	hook_a = hpool__shm_alloc(hook_shm, PAGE);
}

static void test_claim_conflict(void **state)
{
	struct hpool__shm *shm = make(MIB);
	char *r;

	(void)state;
	hook_arm(shm, HPOOL__F_SHM_BITS_PARTIAL, conflict_hook);
	r = hpool__shm_alloc(shm, 100 * PAGE);
	hook_disarm();
	assert_true(hook_calls >= 2); /* the retry crosses a word too */
	assert_non_null(hook_a);
	assert_non_null(r);
	assert_ptr_equal(r, hook_a + PAGE); /* searched on after page 64 */
	/* pages 0..63 were given back: all but the two blocks is free */
	assert_int_equal(capacity(shm), MIB - 101 * PAGE);
	hpool__shm_free(shm, r);
	hpool__shm_free(shm, hook_a);
	assert_int_equal(capacity(shm), MIB);
	hpool__shm_destroy(shm);
}

/* ---- memory goes back to the system -------------------------------------- */

static void test_memory_returned(void **state)
{
	size_t len = 64 * MIB;
	struct hpool__shm *shm = make(2 * len);
	char *p = hpool__shm_alloc(shm, len), *q;

	(void)state;
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % PAGE, 0);
	assert_int_equal(resident(p, len), 0); /* nothing touched yet */
	memset(p, 0xa5, len);
	assert_int_equal(resident(p, len), len / PAGE);
	hpool__shm_free(shm, p);
	/* gone from the shmem file, not just unmapped (MADV_DONTNEED would
	 * leave every page resident here) */
	assert_int_equal(resident(p, len), 0);

	/* a second block, elsewhere: the same */
	q = hpool__shm_alloc(shm, len);
	assert_non_null(q);
	memset(q, 0x5a, len);
	assert_int_equal(resident(q, len), len / PAGE);
	hpool__shm_free(shm, q);
	assert_int_equal(resident(q, len), 0);
	hpool__shm_destroy(shm);
}

/* Shared between a child and the parent (outside the arena). */
struct note {
	_Atomic unsigned long reached; /* child: its step; ~0: finished */
	_Atomic unsigned long go;      /* parent: the child may exit */
	char *_Atomic block;           /* child: the block it handled */
};

struct child_arg {
	struct hpool__shm *shm;
	struct note *note;
	const void *more;
};

static int touch_and_free(void *arg)
{
	struct child_arg *a = arg;
	size_t len = 16 * MIB;
	char *p = hpool__shm_alloc(a->shm, len);

	if (!p)
		return C_NULL;
	memset(p, 1, len);
	hpool__shm_free(a->shm, p);
	atomic_store(&a->note->reached, 1);
	/* Stay until the parent has looked: a child's exit under valgrind
	 * reads all of its memory (leak check) and faults the pages in. */
	while (!atomic_load(&a->note->go))
		sched_yield();
	return C_OK;
}

/* Pages touched and freed by one process are gone for all. */
static void test_memory_returned_by_child(void **state)
{
	struct hpool__shm *shm = make(32 * MIB);
	struct note *n = map_note(PAGE);
	struct child_arg a = { shm, n, NULL };
	pid_t pid;
	char *p;

	(void)state;
	pid = spawn(touch_and_free, &a, HPOOL__F_NONE, 0);
	if (!wait_for(&n->reached, 1))
		fail_msg("touch_and_free did not finish");
	p = hpool__shm_alloc(shm, 32 * MIB); /* every page, in this process */
	assert_non_null(p);
	assert_int_equal(resident(p, 32 * MIB), 0);
	atomic_store(&n->go, 1);
	expect_exit0(pid, "touch_and_free");
	hpool__shm_free(shm, p);
	munmap(n, PAGE);
	hpool__shm_destroy(shm);
}

/* ---- processes that die inside alloc/free -------------------------------- */

struct fault_case {
	const char *name;
	int point;
	bool pre;      /* allocate first (no fault), then die freeing it */
	size_t size;
	size_t lost_min, lost_max; /* bytes the arena may lose */
	int resident;  /* pages of the block resident afterwards; -1: any */
};

/* Fresh 1 MiB arena; the dead child held nothing but what it handled. */
#define FC(nm, pt, pre, size, lo, hi, res) \
	{ "test_fault_" nm, HPOOL__F_SHM_##pt, pre, size, lo, hi, res }
static const struct fault_case fault_cases[] = {
	FC("pop_read", POP_READ, false, 24, 0, 0, -1),
	FC("popped", POPPED, false, 24, 32, 32, -1),
	FC("marked", MARKED, false, 24, 32, 32, -1),
	FC("run_claimed", RUN_CLAIMED, false, 24, RUN_BYTES, RUN_BYTES, -1),
	FC("run_carved", RUN_CARVED, false, 24, RUN_BYTES, RUN_BYTES, -1),
	FC("unmarked", UNMARKED, true, 24, 32, 32, -1),
	/* 100 pages from page 0 cross a bit-word boundary at page 64 */
	FC("bits_partial", BITS_PARTIAL, false, 100 * PAGE, PAGE, 99 * PAGE,
	   -1),
	FC("claimed", CLAIMED, false, 3 * PAGE, 3 * PAGE, 3 * PAGE, -1),
	/* killed before madvise: the touched pages stay */
	FC("unlabelled", UNLABELLED, true, 3 * PAGE, 3 * PAGE, 3 * PAGE, 3),
	/* killed after madvise: only address space is lost */
	FC("returned", RETURNED, true, 3 * PAGE, 3 * PAGE, 3 * PAGE, 0),
};

static struct note *park_note;

/* At the fault point: say so, and wait for the parent's SIGKILL (a death
 * from outside; valgrind would scan memory on a raise(SIGKILL)). */
static void park_hook(int point)
{
	atomic_store(&park_note->reached, (unsigned long)point);
	for (;;)
		pause();
}

static int fault_child(void *arg)
{
	struct child_arg *a = arg;
	const struct fault_case *fc = a->more;
	char *p;

	park_note = a->note;
	hpool__fault_hook = park_hook;
	if (fc->pre) {
		p = hpool__shm_alloc(a->shm, fc->size);
		if (!p)
			return C_NULL;
		memset(p, 7, fc->size);
		atomic_store(&a->note->block, p);
		atomic_store(&hpool__fault_at, fc->point);
		hpool__shm_free(a->shm, p);
	} else {
		atomic_store(&hpool__fault_at, fc->point);
		hpool__shm_alloc(a->shm, fc->size);
	}
	atomic_store(&a->note->reached, ~0ul);
	return C_NOFAULT;
}

/* The child is killed exactly at the point; the arena loses what the
 * comment at the top of shm.c says, no more, and stays whole. */
static void test_fault_point(void **state)
{
	const struct fault_case *fc = *state;
	struct hpool__shm *shm = make(MIB);
	struct note *n = map_note(PAGE);
	struct child_arg a = { shm, n, fc };
	size_t cap, lost;
	pid_t pid;
	char *p;

	pid = spawn(fault_child, &a, HPOOL__F_NONE, 0);
	if (!wait_for(&n->reached, 1))
		fail_msg("%s: child stuck", fc->name);
	if (atomic_load(&n->reached) != (unsigned long)fc->point)
		fail_msg("%s: the child never reached its point", fc->name);
	kill(pid, SIGKILL);
	expect_killed(pid, fc->name);
	p = atomic_load(&n->block);
	if (fc->resident >= 0) {
		assert_non_null(p);
		assert_false(hpool__shm_is_block(shm, p));
		assert_int_equal(resident(p, fc->size), fc->resident);
	}
	cap = capacity(shm);
	lost = MIB - cap;
	if (lost < fc->lost_min || lost > fc->lost_max || lost % 16)
		fail_msg("%s: lost %zu bytes, expected %zu..%zu", fc->name,
			 lost, fc->lost_min, fc->lost_max);
	assert_int_equal(capacity(shm), cap); /* stable: nothing else lost */
	munmap(n, PAGE);
	hpool__shm_destroy(shm);
}

/* Survivors hammer until stopped; each victim is killed while it hammers
 * too; the survivors must keep going and find every byte as they left it,
 * and the arena loses at most what the victims held and handled. */
#define SURVIVORS 2
#define THREADS 2
#define HOLD 16
#define MAX_SIZE (16 * 1024)
/* per victim thread: its held blocks, plus one run or block in flight */
#define VICTIM_BOUND (THREADS * (HOLD * MAX_SIZE + RUN_BYTES))

struct heavy_note {
	_Atomic unsigned long survivor_progress;
	_Atomic unsigned long victim_progress;
	_Atomic int stop;
};

static void start_survivors(struct hpool__shm *shm, struct heavy_note *hn,
			    pid_t *pid)
{
	struct proc_arg a = {
		.proto = { .shm = shm, .hold = HOLD, .max_size = MAX_SIZE,
			   .progress = &hn->survivor_progress,
			   .stop = &hn->stop },
		.threads = THREADS,
	};

	for (int i = 0; i < SURVIVORS; i++) {
		a.id0 = 1000 + 10 * i;
		pid[i] = spawn(hammer_child, &a, HPOOL__F_NONE, 0);
	}
}

static void survivors_go_on(struct heavy_note *hn)
{
	unsigned long now = atomic_load(&hn->survivor_progress);

	if (!wait_for(&hn->survivor_progress, now + scale(20000)))
		fail_msg("survivors stopped making progress (wedged?)");
}

static void stop_survivors(struct heavy_note *hn, pid_t *pid)
{
	atomic_store(&hn->stop, 1);
	for (int i = 0; i < SURVIVORS; i++)
		expect_exit0(pid[i], "survivor");
}

static void check_lost(struct hpool__shm *shm, size_t arena, int victims)
{
	size_t cap = capacity(shm);

	if (cap > arena || arena - cap > (size_t)victims * VICTIM_BOUND)
		fail_msg("capacity %zu of %zu after %d victims: lost more "
			 "than %zu", cap, arena, victims,
			 (size_t)victims * VICTIM_BOUND);
}

/* A victim killed by the parent at whatever instruction it is at. */
static void test_kill_random_under_load(void **state)
{
	size_t arena = 16 * MIB;
	struct hpool__shm *shm = make(arena);
	struct heavy_note *hn = map_note(PAGE);
	pid_t surv[SURVIVORS];
	int rounds = 6;

	(void)state;
	start_survivors(shm, hn, surv);
	for (int r = 0; r < rounds; r++) {
		struct proc_arg v = {
			.proto = { .shm = shm, .hold = HOLD,
				   .max_size = MAX_SIZE,
				   .progress = &hn->victim_progress },
			.threads = THREADS,
			.id0 = 2000 + 10 * r,
		};
		pid_t pid;

		atomic_store(&hn->victim_progress, 0);
		pid = spawn(hammer_child, &v, HPOOL__F_NONE, 0);
		/* a different depth each round: somewhere in the thick of it */
		if (!wait_for(&hn->victim_progress,
			      scale(5000) + 1777ul * (unsigned long)r))
			fail_msg("victim made no progress");
		kill(pid, SIGKILL);
		expect_killed(pid, "victim");
		survivors_go_on(hn);
	}
	stop_survivors(hn, surv);
	check_lost(shm, arena, rounds);
	munmap(hn, PAGE);
	hpool__shm_destroy(shm);
}

/* A victim that dies at one fault point, deep in a run of its own random
 * alloc/free, while the survivors hammer the same arena. (The RUN_* points
 * are passed only when a class runs empty, which the survivors make
 * unpredictable: the test_fault_run_* tests pin those.) */
static void test_kill_at_points_under_load(void **state)
{
	static const struct {
		int point, skip;
	} pts[] = {
		{ HPOOL__F_SHM_POPPED, 3000 },   { HPOOL__F_SHM_MARKED, 3001 },
		{ HPOOL__F_SHM_UNMARKED, 2999 }, { HPOOL__F_SHM_BITS_PARTIAL, 5 },
		{ HPOOL__F_SHM_CLAIMED, 700 },   { HPOOL__F_SHM_UNLABELLED, 701 },
		{ HPOOL__F_SHM_RETURNED, 699 },
	};
	size_t arena = 16 * MIB;
	struct hpool__shm *shm = make(arena);
	struct heavy_note *hn = map_note(PAGE);
	pid_t surv[SURVIVORS];
	int n = (int)(sizeof(pts) / sizeof(pts[0]));

	(void)state;
	start_survivors(shm, hn, surv);
	for (int i = 0; i < n; i++) {
		struct proc_arg v = {
			.proto = { .shm = shm, .iters = 2000000, .hold = HOLD,
				   .max_size = MAX_SIZE },
			.threads = THREADS,
			.id0 = 3000 + 10 * i,
		};

		expect_killed(spawn(hammer_child, &v, pts[i].point,
				    scale((unsigned)pts[i].skip)),
			      "victim at a fault point");
		survivors_go_on(hn);
	}
	stop_survivors(hn, surv);
	check_lost(shm, arena, n);
	munmap(hn, PAGE);
	hpool__shm_destroy(shm);
}

/* One cmocka test per fault case, named by the case. */
#define FAULT_TEST(i)                                                    \
	{ fault_cases[i].name, test_fault_point, NULL, kill_kids,        \
	  (void *)&fault_cases[i] }

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_alloc_basic),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_exhaust_recover),
		cmocka_unit_test(test_contains_is_block),
		cmocka_unit_test(test_bad_free),
		cmocka_unit_test(test_wild_free_link),
		cmocka_unit_test(test_double_free_race),
		cmocka_unit_test(test_memory_returned),
		cmocka_unit_test_teardown(test_memory_returned_by_child,
					  kill_kids),
		cmocka_unit_test(test_threads),
		cmocka_unit_test_teardown(test_processes_and_threads,
					  kill_kids),
		cmocka_unit_test(test_pop_aba),
		cmocka_unit_test(test_claim_conflict),
		FAULT_TEST(0), FAULT_TEST(1), FAULT_TEST(2),
		FAULT_TEST(3), FAULT_TEST(4), FAULT_TEST(5),
		FAULT_TEST(6), FAULT_TEST(7), FAULT_TEST(8), FAULT_TEST(9),
		cmocka_unit_test_teardown(test_kill_random_under_load,
					  kill_kids),
		cmocka_unit_test_teardown(test_kill_at_points_under_load,
					  kill_kids),
	};

	_Static_assert(sizeof(fault_cases) / sizeof(fault_cases[0]) == 10,
		       "a FAULT_TEST per fault case");
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
