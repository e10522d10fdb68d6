/* SPDX-License-Identifier: MIT */
/*
 * test_bad_input: the bad-input matrix of README.md ("Bad input"), one assertion
 * per row, run in every mode (thread, process, serial; HPOOL_TEST_MODE picks
 * some). Each row checks the return code and a part of the message, and the
 * tests check afterwards that nothing was lost: the pool still works and
 * the arena is intact, to the byte: its capacity (everything that can be
 * allocated from it, block by block, down to 16 bytes) is what it was when
 * the pool was new, and no two of those blocks overlap.
 *
 * HPOOL_TEST_PRINT=1 prints every row as "row | code | message", the
 * source of the table's columns.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "modes.h"
#include "util.h"

static hpool_mode g_mode;
static int g_print;

static const char *code_name(int rc)
{
	static char buf[32];

	switch (rc) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -ENOMEM: return "-ENOMEM";
	case -ETIMEDOUT: return "-ETIMEDOUT";
	case HPOOL_ECLOSED: return "HPOOL_ECLOSED";
	case HPOOL_EFORKED: return "HPOOL_EFORKED";
	case HPOOL_ETASK: return "HPOOL_ETASK";
	case HPOOL_DONE: return "HPOOL_DONE";
	default:
		snprintf(buf, sizeof(buf), "%d", rc);
		return buf;
	}
}

/* One row: the call returned `rc`; it must be `want`, and the last error
 * must contain `needle` (NULL: no message expected). */
#define ROW(name, rc, want, needle) row(name, (rc), (want), (needle))
static void row(const char *name, int rc, int want, const char *needle)
{
	const char *m = hpool_last_error();

	if (g_print)
		print_message("ROW %s | %s | %s\n", name, code_name(rc),
			      needle ? m : "-");
	if (rc != want)
		fail_msg("%s: returned %s (%d), want %s; message \"%s\"", name,
			 code_name(rc), rc, code_name(want), m);
	if (needle && !strstr(m, needle))
		fail_msg("%s: message \"%s\" lacks \"%s\"", name, m, needle);
}

/* A row whose result is a pointer: NULL wanted, with a message. */
static void row_null(const char *name, const void *ptr, const char *needle)
{
	row(name, ptr ? 1 : 0, 0, needle);
}

/* Clear the message, so that a row's needle cannot match an older one. */
static void clear_error(void)
{
	hpool__set_error("(cleared)");
}

/* ---- the arena, to the byte -------------------------------------------- */

#define MAX_BLOCKS 65536

/* What the arena can still give: fill it with blocks of 1 MiB, then of
 * each smaller power of two down to 16 bytes, until nothing more fits;
 * tag each block at both ends with its number, check every tag once all
 * are out (no two blocks overlap), free them all. Cells the pool keeps
 * between calls give way to these allocations, so the sum is exact and
 * the same every time on an intact arena: a block lost (even 16 bytes)
 * or a corrupted free list shows. Return: the bytes allocated. */
static size_t arena_capacity(hpool *p)
{
	static void *b[MAX_BLOCKS];
	static size_t sz[MAX_BLOCKS];
	size_t n = 0, total = 0;

	for (size_t size = (size_t)1 << 20; size >= 16; size /= 2)
		while (n < MAX_BLOCKS && (b[n] = hpool_shm_alloc(p, size))) {
			sz[n] = size;
			memcpy(b[n], &n, sizeof(n));
			memcpy((char *)b[n] + size - sizeof(n), &n, sizeof(n));
			total += size;
			n++;
		}
	assert_true(n < MAX_BLOCKS);
	for (size_t i = 0; i < n; i++) {
		size_t head, tail;

		memcpy(&head, b[i], sizeof(head));
		memcpy(&tail, (char *)b[i] + sz[i] - sizeof(tail),
		       sizeof(tail));
		if (head != i || tail != i)
			fail_msg("arena block %zu (%zu bytes at %p) overlaps "
				 "block %zu", i, sz[i], b[i],
				 head != i ? head : tail);
	}
	while (n)
		hpool_shm_free(p, b[--n]);
	return total;
}

/* Each pool's capacity when it was new, for still_works. */
static struct {
	hpool *p;
	size_t capacity;
} baseline[8];
static unsigned baselines;

static void track(hpool *p)
{
	unsigned i = baselines++ % 8;

	baseline[i].p = p;
	baseline[i].capacity = arena_capacity(p);
	assert_true(baseline[i].capacity > 0);
}

static hpool *make_pool(size_t shm)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	cfg.shm_size = shm;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	assert_non_null(p);
	track(p);
	return p;
}

static int task_inc(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in + 1;
	return 0;
}

/* Runs counted where the caller sees them (thread and serial mode); the
 * rows that use it only need "never called", which holds in every mode. */
static _Atomic int calls;
static int task_count(void *out, const void *in, const void *ctx)
{
	atomic_fetch_add(&calls, 1);
	return 0;
}

/* Nothing was lost or corrupted: the pool still maps correctly, and its
 * arena is whole (arena_capacity as when the pool was new). */
static void still_works(hpool *p)
{
	long in[16], out[16];
	size_t now;

	for (int i = 0; i < 16; i++)
		in[i] = i;
	assert_int_equal(hpool_map(p, task_inc, NULL, 0, in, sizeof(long),
				   out, sizeof(long), 16, NULL), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[i], i + 1);
	now = arena_capacity(p);
	for (unsigned k = baselines; k-- > 0 && k + 8 >= baselines;) {
		if (baseline[k % 8].p != p)
			continue;
		if (now != baseline[k % 8].capacity)
			fail_msg("the arena lost %zd bytes: %zu can be "
				 "allocated, %zu when the pool was new",
				 (ssize_t)(baseline[k % 8].capacity - now), now,
				 baseline[k % 8].capacity);
		return;
	}
	fail_msg("still_works: no baseline for this pool (track it)");
}

/* ---- environment ------------------------------------------------------ */

struct env_case {
	const char *var, *value, *needle;
};

static const struct env_case env_cases[] = {
	{ "HPOOL_MODE", "", "HPOOL_MODE=\"\": expected thread, process, serial, mpi or hybrid" },
	{ "HPOOL_MODE", "Thread", "HPOOL_MODE=\"Thread\"" },
	{ "HPOOL_MODE", "threads", "HPOOL_MODE=\"threads\"" },
	{ "HPOOL_MODE", "fork", "HPOOL_MODE=\"fork\"" },
	{ "HPOOL_MODE", "thr\nead", "HPOOL_MODE=\"thr\\x0aead\"" },
	{ "HPOOL_WORKERS", "", "HPOOL_WORKERS=\"\": expected a whole number from 1 to 1024" },
	{ "HPOOL_WORKERS", "0", "HPOOL_WORKERS=\"0\"" },
	{ "HPOOL_WORKERS", "-1", "HPOOL_WORKERS=\"-1\"" },
	{ "HPOOL_WORKERS", "010", "HPOOL_WORKERS=\"010\"" },
	{ "HPOOL_WORKERS", "1025", "HPOOL_WORKERS=\"1025\"" },
	{ "HPOOL_WORKERS", "4 ", "HPOOL_WORKERS=\"4 \"" },
	{ "HPOOL_WORKERS", "lots", "HPOOL_WORKERS=\"lots\"" },
	{ "HPOOL_WORKERS", "99999999999999999999", "HPOOL_WORKERS=\"9999" },
	{ "HPOOL_BIND", "", "HPOOL_BIND=\"\": expected none or core" },
	{ "HPOOL_BIND", "yes", "HPOOL_BIND=\"yes\"" },
	{ "HPOOL_BIND", "Core", "HPOOL_BIND=\"Core\"" },
	{ "HPOOL_BIND", "1", "HPOOL_BIND=\"1\"" },
	{ "HPOOL_SHM_SIZE", "", "HPOOL_SHM_SIZE=\"\": expected a size from 1M to 1024G" },
	{ "HPOOL_SHM_SIZE", "1KB", "HPOOL_SHM_SIZE=\"1KB\"" },
	{ "HPOOL_SHM_SIZE", "512K", "HPOOL_SHM_SIZE=\"512K\"" },
	{ "HPOOL_SHM_SIZE", "2048G", "HPOOL_SHM_SIZE=\"2048G\"" },
	{ "HPOOL_SHM_SIZE", "1.5G", "HPOOL_SHM_SIZE=\"1.5G\"" },
	{ "HPOOL_SHM_SIZE", "64 M", "HPOOL_SHM_SIZE=\"64 M\"" },
	{ "HPOOL_SHM_SIZE", "99999999999999999999G", "HPOOL_SHM_SIZE=\"9999" },
};

static void test_env_values(void **st)
{
	hpool_config cfg;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]);
	     i++) {
		const struct env_case *c = &env_cases[i];
		hpool *p = (hpool *)&cfg; /* must become NULL */
		char name[96];

		snprintf(name, sizeof(name), "env %s=\"%s\"", c->var,
			 c->value);
		assert_int_equal(setenv(c->var, c->value, 1), 0);
		clear_error();
		ROW(name, hpool_create(&p, &cfg), -EINVAL, c->needle);
		assert_null(p);
		unsetenv(c->var);
	}
}

/* A long value is quoted and cut: the message stays bounded. */
static void test_env_long_value(void **st)
{
	char big[4096];
	hpool *p;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(setenv("HPOOL_MODE", big, 1), 0);
	clear_error();
	ROW("env HPOOL_MODE=<4 KiB>", hpool_create(&p, NULL), -EINVAL,
	    "xxx...\": expected");
	assert_true(strlen(hpool_last_error()) < 200);
	unsetenv("HPOOL_MODE");
}

/* A bad variable is refused even when a config field overrides it. */
static void test_env_bad_but_overridden(void **st)
{
	hpool_config cfg;
	hpool *p;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 2;
	setenv("HPOOL_WORKERS", "lots", 1);
	clear_error();
	ROW("env HPOOL_WORKERS bad, cfg.workers = 2",
	    hpool_create(&p, &cfg), -EINVAL, "HPOOL_WORKERS=\"lots\"");
	unsetenv("HPOOL_WORKERS");
	setenv("HPOOL_MODE", "bogus", 1);
	clear_error();
	ROW("env HPOOL_MODE bad, cfg.mode set", hpool_create(&p, &cfg),
	    -EINVAL, "HPOOL_MODE=\"bogus\"");
	unsetenv("HPOOL_MODE");
}

/* ---- config fields ------------------------------------------------------ */

static void test_config_fields(void **st)
{
	hpool_config cfg;
	hpool *p;
	long x = 0;

#define FIELD(name, set, needle)                                          \
	do {                                                              \
		hpool_config_init(&cfg);                                  \
		cfg.mode = g_mode;                                        \
		set;                                                      \
		clear_error();                                            \
		ROW(name, hpool_create(&p, &cfg), -EINVAL, needle);       \
	} while (0)
	FIELD("cfg.mode = 99", cfg.mode = (hpool_mode)99,
	      "hpool_config.mode = 99");
	FIELD("cfg.mode = -1", cfg.mode = (hpool_mode)-1,
	      "hpool_config.mode = -1");
	FIELD("cfg.workers = 1025", cfg.workers = 1025,
	      "hpool_config.workers = 1025");
	FIELD("cfg.bind = 2", cfg.bind = 2, "hpool_config.bind = 2");
	FIELD("cfg.bind = -2", cfg.bind = -2, "hpool_config.bind = -2");
	FIELD("cfg.shm_size = 4096", cfg.shm_size = 4096,
	      "hpool_config.shm_size = 4096");
	FIELD("cfg.shm_size = SIZE_MAX", cfg.shm_size = SIZE_MAX,
	      "hpool_config.shm_size");
	FIELD("cfg.init_ctx NULL, size 8", cfg.init_ctx_size = 8,
	      "hpool_config.init_ctx is NULL");
#undef FIELD
	/* init_ctx with size 0 is fine (nothing copied) */
	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 1;
	cfg.init_ctx = &x;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	track(p);
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- NULL and zero arguments ------------------------------------------- */

static void test_null_pool(void **st)
{
	long in = 1, out;
	hpool_future *f = (hpool_future *)&in;
	hpool_iter *it = (hpool_iter *)&in;

	hpool_config_init(NULL); /* a no-op */
	clear_error();
	ROW("hpool_create(NULL, cfg)", hpool_create(NULL, NULL), -EINVAL,
	    "hpool_create: pool is NULL");
	clear_error();
	ROW("hpool_destroy(NULL)", hpool_destroy(NULL), -EINVAL,
	    "hpool_destroy: pool is NULL");
	clear_error();
	ROW("hpool_terminate(NULL)", hpool_terminate(NULL), -EINVAL,
	    "hpool_terminate: pool is NULL");
	clear_error();
	ROW("hpool_map(NULL pool)",
	    hpool_map(NULL, task_inc, NULL, 0, &in, sizeof(in), &out,
		      sizeof(out), 1, NULL), -EINVAL, "hpool_map: pool is NULL");
	clear_error();
	ROW("hpool_submit(NULL pool)",
	    hpool_submit(NULL, task_inc, NULL, 0, &in, sizeof(in),
			 sizeof(out), &f), -EINVAL,
	    "hpool_submit: pool is NULL");
	assert_null(f);
	clear_error();
	ROW("hpool_imap(NULL pool)",
	    hpool_imap(NULL, task_inc, NULL, 0, &in, sizeof(in), sizeof(out),
		       1, 1, NULL, &it), -EINVAL, "hpool_imap: pool is NULL");
	assert_null(it);
	ROW("hpool_mode_of(NULL)", (int)hpool_mode_of(NULL), HPOOL_MODE_ENV,
	    "hpool_mode_of: pool is NULL");
	ROW("hpool_workers(NULL)", (int)hpool_workers(NULL), 0,
	    "hpool_workers: pool is NULL");
	clear_error();
	row_null("hpool_shm_alloc(NULL, 16)", hpool_shm_alloc(NULL, 16),
		 "hpool_shm_alloc: pool is NULL");
	clear_error();
	hpool_shm_free(NULL, &in);
	ROW("hpool_shm_free(NULL, p)", 0, 0, "hpool_shm_free: pool is NULL");
	clear_error();
	ROW("hpool_wait(NULL)", hpool_wait(NULL, &out, -1), -EINVAL,
	    "hpool_wait: future is NULL");
	ROW("hpool_ready(NULL)", hpool_ready(NULL), 0, NULL);
	clear_error();
	ROW("hpool_next(NULL)", hpool_next(NULL, NULL, &out, -1), -EINVAL,
	    "hpool_next: iterator is NULL");
	hpool_iter_free(NULL); /* a no-op */
}

static void test_null_args(void **st)
{
	hpool *p = make_pool(64 << 20);
	long in[4] = { 1, 2, 3, 4 }, out[4], k = 5;
	hpool_future *f = (hpool_future *)&k;
	hpool_iter *it = (hpool_iter *)&k;

	clear_error();
	ROW("hpool_map(fn NULL)",
	    hpool_map(p, NULL, NULL, 0, in, sizeof(long), out, sizeof(long),
		      4, NULL), -EINVAL, "hpool_map: fn is NULL");
	clear_error();
	ROW("hpool_map(in NULL, in_size 8)",
	    hpool_map(p, task_inc, NULL, 0, NULL, sizeof(long), out,
		      sizeof(long), 4, NULL), -EINVAL,
	    "hpool_map: in is NULL with n = 4 and in_size = 8");
	clear_error();
	ROW("hpool_map(out NULL, out_size 8)",
	    hpool_map(p, task_inc, NULL, 0, in, sizeof(long), NULL,
		      sizeof(long), 4, NULL), -EINVAL,
	    "hpool_map: out is NULL with n = 4 and out_size = 8");
	clear_error();
	ROW("hpool_map(ctx NULL, ctx_size 8)",
	    hpool_map(p, task_inc, NULL, 8, in, sizeof(long), out,
		      sizeof(long), 4, NULL), -EINVAL,
	    "hpool_map: ctx is NULL but ctx_size is 8");
	clear_error();
	ROW("hpool_submit(fut NULL)",
	    hpool_submit(p, task_inc, NULL, 0, in, sizeof(long), sizeof(long),
			 NULL), -EINVAL, "hpool_submit: fut is NULL");
	clear_error();
	ROW("hpool_submit(fn NULL)",
	    hpool_submit(p, NULL, NULL, 0, in, sizeof(long), sizeof(long), &f),
	    -EINVAL, "hpool_submit: fn is NULL");
	assert_null(f);
	clear_error();
	ROW("hpool_submit(in NULL, in_size 8)",
	    hpool_submit(p, task_inc, NULL, 0, NULL, sizeof(long),
			 sizeof(long), &f), -EINVAL,
	    "hpool_submit: in is NULL");
	clear_error();
	ROW("hpool_submit(ctx NULL, ctx_size 8)",
	    hpool_submit(p, task_inc, NULL, 8, in, sizeof(long), sizeof(long),
			 &f), -EINVAL, "hpool_submit: ctx is NULL");
	clear_error();
	ROW("hpool_imap(it NULL)",
	    hpool_imap(p, task_inc, NULL, 0, in, sizeof(long), sizeof(long), 4,
		       1, NULL, NULL), -EINVAL, "hpool_imap: it is NULL");
	clear_error();
	ROW("hpool_imap(fn NULL)",
	    hpool_imap(p, NULL, NULL, 0, in, sizeof(long), sizeof(long), 4, 1,
		       NULL, &it), -EINVAL, "hpool_imap: fn is NULL");
	assert_null(it);
	clear_error();
	ROW("hpool_imap(in NULL, in_size 8)",
	    hpool_imap(p, task_inc, NULL, 0, NULL, sizeof(long), sizeof(long),
		       4, 1, NULL, &it), -EINVAL, "hpool_imap: in is NULL");
	clear_error();
	row_null("hpool_shm_alloc(p, 0)", hpool_shm_alloc(p, 0),
		 "hpool_shm_alloc: size is 0");
	clear_error();
	hpool_shm_free(p, NULL);
	ROW("hpool_shm_free(p, NULL)", 0, 0, "(cleared)"); /* silent no-op */
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_zero_args(void **st)
{
	hpool *p = make_pool(64 << 20);
	long in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
	hpool_future *f = NULL;
	hpool_iter *it = NULL;
	size_t idx = 7;

	atomic_store(&calls, 0);
	ROW("hpool_map(n = 0, in/out NULL)",
	    hpool_map(p, task_count, NULL, 0, NULL, sizeof(long), NULL,
		      sizeof(long), 0, NULL), 0, NULL);
	assert_int_equal(atomic_load(&calls), 0);
	ROW("hpool_map(in_size 0, in NULL)",
	    hpool_map(p, task_count, NULL, 0, NULL, 0, out, sizeof(long), 4,
		      NULL), 0, NULL);
	ROW("hpool_map(out_size 0, out NULL)",
	    hpool_map(p, task_count, NULL, 0, in, sizeof(long), NULL, 0, 4,
		      NULL), 0, NULL);
	ROW("hpool_map(ctx_size 0, ctx set)",
	    hpool_map(p, task_count, in, 0, in, sizeof(long), out,
		      sizeof(long), 4, NULL), 0, NULL);
	ROW("hpool_submit(out_size 0)",
	    hpool_submit(p, task_count, NULL, 0, NULL, 0, 0, &f), 0, NULL);
	ROW("hpool_wait(out NULL)", hpool_wait(f, NULL, -1), 0, NULL);
	ROW("hpool_imap(n = 0)",
	    hpool_imap(p, task_inc, NULL, 0, NULL, sizeof(long), sizeof(long),
		       0, 1, NULL, &it), 0, NULL);
	ROW("hpool_next(n = 0 stream)", hpool_next(it, &idx, out, -1),
	    HPOOL_DONE, NULL);
	assert_int_equal(idx, SIZE_MAX);
	hpool_iter_free(it);
	/* index and out may be NULL */
	assert_int_equal(hpool_imap(p, task_inc, NULL, 0, in, sizeof(long),
				    sizeof(long), 4, 1, NULL, &it), 0);
	for (int i = 0; i < 4; i++)
		ROW("hpool_next(index NULL, out NULL)",
		    hpool_next(it, NULL, NULL, -1), 0, NULL);
	ROW("hpool_next(after the end)", hpool_next(it, NULL, NULL, -1),
	    HPOOL_DONE, NULL);
	hpool_iter_free(it);
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- oversized and n near SIZE_MAX -------------------------------------- */

static void test_oversized(void **st)
{
	size_t arena = (size_t)16 << 20, big = arena / 4 + 1;
	hpool *p = make_pool(arena);
	long in[4] = { 0 }, out[4];
	void *huge = malloc(big);
	hpool_future *f;
	hpool_iter *it;

	assert_non_null(huge);
	clear_error();
	ROW("hpool_map(out_size > arena/4)",
	    hpool_map(p, task_inc, NULL, 0, in, sizeof(long), huge, big, 1,
		      NULL), -EINVAL, "exceeds the limit of 4194304 bytes");
	clear_error();
	ROW("hpool_map(in_size > arena/4)",
	    hpool_map(p, task_inc, NULL, 0, huge, big, out, sizeof(long), 1,
		      NULL), -EINVAL, "raise HPOOL_SHM_SIZE");
	clear_error();
	ROW("hpool_map(ctx_size > arena/4)",
	    hpool_map(p, task_inc, huge, big, in, sizeof(long), out,
		      sizeof(long), 1, NULL), -EINVAL, "raise HPOOL_SHM_SIZE");
	clear_error();
	ROW("hpool_submit(out_size > arena/4)",
	    hpool_submit(p, task_inc, NULL, 0, in, sizeof(long), big, &f),
	    -EINVAL, "hpool_submit: an item of");
	clear_error();
	ROW("hpool_imap(out_size > arena/4)",
	    hpool_imap(p, task_inc, NULL, 0, in, sizeof(long), big, 1, 1, NULL,
		       &it), -EINVAL, "hpool_imap: an item of");
	clear_error();
	row_null("hpool_shm_alloc(p, 1 TiB)",
		 hpool_shm_alloc(p, (size_t)1 << 40),
		 "do not fit in the shared arena of 16777216 bytes");
	clear_error();
	row_null("hpool_shm_alloc(p, SIZE_MAX)", hpool_shm_alloc(p, SIZE_MAX),
		 "do not fit");
	free(huge);
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_n_near_size_max(void **st)
{
	hpool *p = make_pool(64 << 20);
	long in[4] = { 0 }, out[4];
	hpool_iter *it;

	atomic_store(&calls, 0);
	clear_error();
	ROW("hpool_map(n = SIZE_MAX)",
	    hpool_map(p, task_count, NULL, 0, in, sizeof(long), out,
		      sizeof(long), SIZE_MAX, NULL), -EINVAL,
	    "overflows the address space");
	clear_error();
	ROW("hpool_map(n * in_size overflows)",
	    hpool_map(p, task_count, NULL, 0, in, sizeof(long), out, 0,
		      SIZE_MAX / sizeof(long) + 1, NULL), -EINVAL,
	    "overflows the address space");
	clear_error();
	ROW("hpool_map(n = SIZE_MAX, sizes 0)",
	    hpool_map(p, task_count, NULL, 0, NULL, 0, NULL, 0, SIZE_MAX,
		      NULL), -EINVAL, "overflows the address space");
	clear_error();
	ROW("hpool_imap(n = SIZE_MAX)",
	    hpool_imap(p, task_count, NULL, 0, in, sizeof(long), sizeof(long),
		       SIZE_MAX, 1, NULL, &it), -EINVAL,
	    "overflows the address space");
	assert_int_equal(atomic_load(&calls), 0); /* nothing ran */
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- timeouts ---------------------------------------------------------- */

/* Finishes once *gate is set (region memory, seen in every mode); 99
 * after LIVENESS_S if it never is. */
static int task_gated(void *out, const void *in, const void *ctx)
{
	_Atomic int *gate = *(_Atomic int *const *)ctx;
	int64_t end = now_ns() + (int64_t)LIVENESS_S * 1000000000;

	while (!atomic_load(gate)) {
		if (now_ns() > end)
			return 99;
		sleep_ms(1);
	}
	*(long *)out = 1;
	return 0;
}

static void test_timeouts(void **st)
{
	hpool *p = make_pool(64 << 20);
	hpool_map_opts neg = { .timeout_ns = -1 };
	long in[4] = { 0 }, out[4];
	hpool_future *f;
	hpool_iter *it;
	size_t idx = 0;

	clear_error();
	ROW("hpool_map(opts.timeout_ns < 0)",
	    hpool_map(p, task_inc, NULL, 0, in, sizeof(long), out,
		      sizeof(long), 4, &neg), -EINVAL,
	    "hpool_map: timeout_ns is negative (-1)");
	clear_error();
	ROW("hpool_imap(opts.timeout_ns < 0)",
	    hpool_imap(p, task_inc, NULL, 0, in, sizeof(long), sizeof(long), 4,
		       1, &neg, &it), -EINVAL,
	    "hpool_imap: timeout_ns is negative");
	/* hpool_wait / hpool_next: < 0 is "forever", 0 is "poll". The task
	 * cannot finish before the test opens its gate (region memory), so
	 * the poll finds it not done whatever the timing. */
	_Atomic int *gate = hpool_shm_alloc(p, 2 * sizeof(*gate));

	assert_non_null(gate);
	atomic_store(&gate[0], 0);
	atomic_store(&gate[1], 0);
	if (g_mode == HPOOL_MODE_SERIAL) {
		/* Serial mode runs a submitted task in hpool_submit, in the
		 * caller: a shut gate would hold the caller forever, and a
		 * poll right after submit finds it done. */
		atomic_store(&gate[0], 1);
		assert_int_equal(hpool_submit(p, task_gated, &gate,
					      sizeof(gate), NULL, 0,
					      sizeof(long), &f), 0);
		assert_int_equal(hpool_wait(f, out, 0), 0);
		print_message("[   NOTE   ] serial mode: the rows \"timeout 0, "
			      "not done\" do not apply (tasks run in the "
			      "submitting call)\n");
	} else {
		assert_int_equal(hpool_submit(p, task_gated, &gate,
					      sizeof(gate), NULL, 0,
					      sizeof(long), &f), 0);
		clear_error();
		ROW("hpool_wait(timeout 0, not done)", hpool_wait(f, out, 0),
		    -ETIMEDOUT, "hpool_wait: not done within 0 ns");
		atomic_store(&gate[0], 1);
		ROW("hpool_wait(timeout < 0)", hpool_wait(f, out, -5), 0,
		    NULL);
		gate++;
		assert_int_equal(hpool_imap(p, task_gated, &gate, sizeof(gate),
					    NULL, 0, sizeof(long), 1, 1, NULL,
					    &it), 0);
		clear_error();
		ROW("hpool_next(timeout 0, nothing yet)",
		    hpool_next(it, &idx, out, 0), -ETIMEDOUT, NULL);
		assert_int_equal(idx, SIZE_MAX);
		atomic_store(gate, 1);
		ROW("hpool_next(timeout < 0)", hpool_next(it, &idx, out, -1),
		    0, NULL);
		assert_int_equal(idx, 0);
		hpool_iter_free(it);
		gate--;
	}
	hpool_shm_free(p, gate);
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- after destroy / terminate ----------------------------------------- */

static void after_close(hpool *p, const char *how, const char *needle)
{
	long in = 1, out;
	hpool_future *f = (hpool_future *)&in;
	hpool_iter *it = (hpool_iter *)&in;
	char name[80];

#define NAME(call) (snprintf(name, sizeof(name), "%s after %s", call, how), \
		    name)
	clear_error();
	ROW(NAME("hpool_destroy"), hpool_destroy(p), HPOOL_ECLOSED, needle);
	clear_error();
	ROW(NAME("hpool_terminate"), hpool_terminate(p), HPOOL_ECLOSED,
	    needle);
	clear_error();
	ROW(NAME("hpool_map"),
	    hpool_map(p, task_inc, NULL, 0, &in, sizeof(in), &out, sizeof(out),
		      1, NULL), HPOOL_ECLOSED, needle);
	clear_error();
	ROW(NAME("hpool_submit"),
	    hpool_submit(p, task_inc, NULL, 0, &in, sizeof(in), sizeof(out),
			 &f), HPOOL_ECLOSED, needle);
	assert_null(f);
	clear_error();
	ROW(NAME("hpool_imap"),
	    hpool_imap(p, task_inc, NULL, 0, &in, sizeof(in), sizeof(out), 1,
		       1, NULL, &it), HPOOL_ECLOSED, needle);
	assert_null(it);
	clear_error();
	row_null(NAME("hpool_shm_alloc"), hpool_shm_alloc(p, 16), needle);
	clear_error();
	hpool_shm_free(p, &in);
	ROW(NAME("hpool_shm_free"), 0, 0, needle);
	clear_error();
	ROW(NAME("hpool_mode_of"), (int)hpool_mode_of(p), HPOOL_MODE_ENV,
	    needle);
	clear_error();
	ROW(NAME("hpool_workers"), (int)hpool_workers(p), 0, needle);
#undef NAME
}

static void test_after_destroy(void **st)
{
	hpool *p = make_pool(64 << 20);

	assert_int_equal(hpool_destroy(p), 0);
	after_close(p, "destroy", "pool was destroyed");
}

static void test_after_terminate(void **st)
{
	hpool *p = make_pool(64 << 20);

	assert_int_equal(hpool_terminate(p), 0);
	after_close(p, "terminate", "pool was destroyed");
}

/* A future or an iterator outlives its pool's destroy, once. */
static void test_handles_after_destroy(void **st)
{
	hpool *p = make_pool(64 << 20);
	long in[4] = { 1, 2, 3, 4 }, out = 0;
	hpool_future *f;
	hpool_iter *it;
	size_t idx;

	assert_int_equal(hpool_submit(p, task_inc, NULL, 0, in, sizeof(long),
				      sizeof(long), &f), 0);
	assert_int_equal(hpool_imap(p, task_inc, NULL, 0, in, sizeof(long),
				    sizeof(long), 4, 1, NULL, &it), 0);
	assert_int_equal(hpool_destroy(p), 0);
	ROW("hpool_wait(future) after destroy", hpool_wait(f, &out, -1), 0,
	    NULL);
	assert_int_equal(out, 2);
	clear_error();
	/* The items not handed out come back canceled, in order, then the
	 * stream ends: a loop until HPOOL_DONE ends. */
	ROW("hpool_next(iterator) after destroy",
	    hpool_next(it, &idx, &out, -1), HPOOL_ECANCELED,
	    "hpool_next: item 0 canceled: the pool was terminated or "
	    "destroyed");
	assert_int_equal(idx, 0);
	for (size_t i = 1; i < 4; i++) {
		assert_int_equal(hpool_next(it, &idx, &out, -1),
				 HPOOL_ECANCELED);
		assert_int_equal(idx, i);
	}
	assert_int_equal(hpool_next(it, &idx, &out, -1), HPOOL_DONE);
	assert_int_equal(idx, SIZE_MAX);
	hpool_iter_free(it);
}

/* ---- a forked child ---------------------------------------------------- */

/* Each row of the child is its own exit code (0: all held). */
static int child_rows(hpool *p, hpool_future *pf, hpool_iter *pit)
{
	long in = 1, out;
	hpool_future *f;
	hpool_iter *it;
	size_t idx;

	if (hpool_map(p, task_inc, NULL, 0, &in, sizeof(in), &out, sizeof(out),
		      1, NULL) != HPOOL_EFORKED ||
	    !strstr(hpool_last_error(), "this is a child forked from it"))
		return 10;
	if (hpool_submit(p, task_inc, NULL, 0, &in, sizeof(in), sizeof(out),
			 &f) != HPOOL_EFORKED)
		return 11;
	if (hpool_imap(p, task_inc, NULL, 0, &in, sizeof(in), sizeof(out), 1,
		       1, NULL, &it) != HPOOL_EFORKED)
		return 12;
	hpool__set_error("x");
	if (hpool_shm_alloc(p, 16) ||
	    !strstr(hpool_last_error(), "hpool_shm_alloc: pool belongs to"))
		return 13;
	if (hpool_wait(pf, &out, -1) != HPOOL_EFORKED ||
	    !strstr(hpool_last_error(), "future belongs to process"))
		return 14;
	if (hpool_next(pit, &idx, &out, -1) != HPOOL_EFORKED)
		return 15;
	if (hpool_destroy(p) != HPOOL_EFORKED)
		return 16;
	if (hpool_terminate(p) != HPOOL_EFORKED)
		return 17;
	if (hpool_workers(p) != 0 || hpool_mode_of(p) != HPOOL_MODE_ENV)
		return 18;
	return 0;
}

static void test_forked_child(void **st)
{
	static const char *const rows[] = {
		[10] = "hpool_map", [11] = "hpool_submit", [12] = "hpool_imap",
		[13] = "hpool_shm_alloc", [14] = "hpool_wait",
		[15] = "hpool_next", [16] = "hpool_destroy",
		[17] = "hpool_terminate", [18] = "hpool_workers/mode_of",
	};
	hpool *p = make_pool(64 << 20);
	long in[4] = { 1, 2, 3, 4 }, out;
	hpool_future *f;
	hpool_iter *it;
	pid_t pid;
	int ws, code;

	assert_int_equal(hpool_submit(p, task_inc, NULL, 0, in, sizeof(long),
				      sizeof(long), &f), 0);
	assert_int_equal(hpool_imap(p, task_inc, NULL, 0, in, sizeof(long),
				    sizeof(long), 4, 1, NULL, &it), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_rows(p, f, it));
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	code = WEXITSTATUS(ws);
	if (g_print)
		for (int r = 10; r <= 18; r++)
			print_message("ROW %s from a forked child | %s | %s\n",
				      rows[r], r < 18 ? "HPOOL_EFORKED" :
				      "0 / HPOOL_MODE_ENV",
				      "pool belongs to process P; this is a "
				      "child forked from it (pid C)");
	if (code)
		fail_msg("forked child: row %s failed (exit %d)",
			 code >= 10 && code <= 18 ? rows[code] : "?", code);
	/* the parent's pool, future and iterator are untouched */
	assert_int_equal(hpool_wait(f, &out, -1), 0);
	assert_int_equal(out, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(hpool_next(it, NULL, &out, -1), 0);
	hpool_iter_free(it);
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- the arena -------------------------------------------------------- */

static void test_exhausted_arena(void **st)
{
	hpool *p = make_pool((size_t)1 << 20); /* the smallest arena */
	size_t max = ((size_t)1 << 20) / 16, n = 0;
	void **blocks = malloc(max * sizeof(*blocks));
	long in[64] = { 0 }, out[64];
	hpool_future *f;
	hpool_iter *it;

	/* fill the arena: big blocks, then every smaller size down to 16 */
	assert_non_null(blocks);
	for (size_t size = 4096; size >= 16; size /= 2)
		while (n < max && (blocks[n] = hpool_shm_alloc(p, size)))
			n++;
	assert_true(n > 0 && n < max);
	row_null("hpool_shm_alloc(arena exhausted)", blocks[n],
		 "16 bytes do not fit in the shared arena");
	clear_error();
	ROW("hpool_map(arena exhausted)",
	    hpool_map(p, task_inc, NULL, 0, in, sizeof(long), out,
		      sizeof(long), 64, NULL), -ENOMEM, "raise HPOOL_SHM_SIZE");
	clear_error();
	ROW("hpool_submit(arena exhausted)",
	    hpool_submit(p, task_inc, NULL, 0, in, sizeof(long), sizeof(long),
			 &f), -ENOMEM, "no room for");
	clear_error();
	ROW("hpool_imap(arena exhausted)",
	    hpool_imap(p, task_inc, NULL, 0, in, sizeof(long), sizeof(long),
		       64, 1, NULL, &it), -ENOMEM, "raise HPOOL_SHM_SIZE");
	/* room again: everything works */
	while (n)
		hpool_shm_free(p, blocks[--n]);
	free(blocks);
	still_works(p);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_shm_free_bad(void **st)
{
	hpool *p = make_pool(64 << 20), *q = make_pool(64 << 20);
	long local;
	long *heap = malloc(64);
	char *b = hpool_shm_alloc(p, 256), *other = hpool_shm_alloc(q, 256);
	char *c;

	assert_non_null(b);
	assert_non_null(other);
	memset(b, 0x5a, 256);
#define BADFREE(name, ptr)                                                  \
	do {                                                                \
		clear_error();                                              \
		hpool_shm_free(p, (ptr));                                   \
		ROW(name, 0, 0, "is not a live block from hpool_shm_alloc"); \
	} while (0)
	BADFREE("hpool_shm_free(stack pointer)", &local);
	BADFREE("hpool_shm_free(heap pointer)", heap);
	BADFREE("hpool_shm_free(inside a block)", b + 16);
	BADFREE("hpool_shm_free(another pool's block)", other);
#undef BADFREE
	/* nothing was corrupted: the block is intact and still live */
	for (int i = 0; i < 256; i++)
		assert_int_equal(b[i], 0x5a);
	hpool_shm_free(p, b);
	clear_error();
	hpool_shm_free(p, b);
	ROW("hpool_shm_free(twice)", 0, 0,
	    "is not a live block from hpool_shm_alloc");
	/* the arena still hands out distinct, usable blocks */
	b = hpool_shm_alloc(p, 256);
	c = hpool_shm_alloc(p, 256);
	assert_non_null(b);
	assert_non_null(c);
	assert_ptr_not_equal(b, c);
	memset(b, 1, 256);
	memset(c, 2, 256);
	assert_int_equal(b[255], 1);
	hpool_shm_free(p, b);
	hpool_shm_free(p, c);
	hpool_shm_free(q, other);
	free(heap);
	still_works(p);
	assert_int_equal(hpool_destroy(q), 0);
	assert_int_equal(hpool_destroy(p), 0);
}

/* ---- codes ------------------------------------------------------------- */

static void test_strerror_bad_codes(void **st)
{
	ROW("hpool_strerror(-4999)",
	    strcmp(hpool_strerror(-4999), "unknown hpool error code"), 0,
	    NULL);
	ROW("hpool_strerror(INT_MIN)",
	    strcmp(hpool_strerror(INT_MIN), "unknown hpool error code"), 0,
	    NULL);
	ROW("hpool_strerror(42)",
	    strcmp(hpool_strerror(42), "a task's own status code (not an "
		   "hpool error code)"), 0, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_values),
		cmocka_unit_test(test_env_long_value),
		cmocka_unit_test(test_env_bad_but_overridden),
		cmocka_unit_test(test_config_fields),
		cmocka_unit_test(test_null_pool),
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_zero_args),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_n_near_size_max),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_after_destroy),
		cmocka_unit_test(test_after_terminate),
		cmocka_unit_test(test_handles_after_destroy),
		cmocka_unit_test(test_forked_child),
		cmocka_unit_test(test_exhausted_arena),
		cmocka_unit_test(test_shm_free_bad),
		cmocka_unit_test(test_strerror_bad_codes),
	};

	g_print = getenv("HPOOL_TEST_PRINT") != NULL;
	unsetenv("HPOOL_MODE");
	unsetenv("HPOOL_WORKERS");
	unsetenv("HPOOL_BIND");
	unsetenv("HPOOL_SHM_SIZE");
	return run_in_every_mode("bad_input", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
