/* SPDX-License-Identifier: MIT */
/*
 * test_config: the HPOOL_* parsers, hpool__settings_resolve (environment,
 * config fields, precedence, messages), and error.c (hpool_strerror,
 * hpool_last_error per thread, hpool__signame, hpool__die).
 *
 * Every test starts and ends with the four HPOOL_* variables unset.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static const char *const vars[] = {
	"HPOOL_MODE", "HPOOL_WORKERS", "HPOOL_BIND", "HPOOL_SHM_SIZE",
	"HPOOL_HYBRID", "HPOOL_MPI_LOCAL",
};

static int clean_env(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vars); i++)
		if (unsetenv(vars[i]))
			return -1;
	return 0;
}

static void set_env(const char *name, const char *value)
{
	assert_int_equal(setenv(name, value, 1), 0);
}

/* True when s has no byte that the message quoting would escape. */
static int plain(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s >= 0x7f || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/* The last error must contain `needle`; `what` names the case. */
static void expect_msg(const char *needle, const char *what)
{
	const char *m = hpool_last_error();

	if (!strstr(m, needle))
		fail_msg("%s: message \"%s\" lacks \"%s\"", what, m, needle);
}

/* ---- tables ---------------------------------------------------------- */

struct mode_case {
	const char *s;
	int rc;
	hpool_mode mode;
};

static const struct mode_case mode_cases[] = {
	{ "thread", 0, HPOOL_MODE_THREAD },
	{ "process", 0, HPOOL_MODE_PROCESS },
	{ "serial", 0, HPOOL_MODE_SERIAL },
	{ "mpi", 0, HPOOL_MODE_MPI },
	{ "hybrid", 0, HPOOL_MODE_HYBRID },
	{ "MPI", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "Thread", -EINVAL, 0 },	/* lower case only */
	{ "THREAD", -EINVAL, 0 },
	{ "Process", -EINVAL, 0 },
	{ " thread", -EINVAL, 0 },
	{ "thread ", -EINVAL, 0 },
	{ "thread\n", -EINVAL, 0 },
	{ "threads", -EINVAL, 0 },
	{ "thr", -EINVAL, 0 },
	{ "proc", -EINVAL, 0 },
	{ "env", -EINVAL, 0 },
	{ "dummy", -EINVAL, 0 },
	{ "0", -EINVAL, 0 },
	{ "1", -EINVAL, 0 },
	{ "thread,process", -EINVAL, 0 },
};

struct uint_case {
	const char *s;
	int rc;
	unsigned long v;
};

/* HPOOL_WORKERS: max HPOOL__WORKERS_MAX (1024) */
static const struct uint_case workers_cases[] = {
	{ "1", 0, 1 },
	{ "2", 0, 2 },
	{ "4", 0, 4 },
	{ "10", 0, 10 },
	{ "1023", 0, 1023 },
	{ "1024", 0, 1024 },
	{ "", -EINVAL, 0 },
	{ " 4", -EINVAL, 0 },
	{ "4 ", -EINVAL, 0 },
	{ "\t4", -EINVAL, 0 },
	{ "4\n", -EINVAL, 0 },
	{ "+4", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "-0", -EINVAL, 0 },
	{ "0", -EINVAL, 0 },
	{ "00", -EINVAL, 0 },
	{ "010", -EINVAL, 0 },	/* no leading zeros: octal or decimal? */
	{ "4x", -EINVAL, 0 },
	{ "x4", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "4.0", -EINVAL, 0 },
	{ "1e3", -EINVAL, 0 },
	{ "four", -EINVAL, 0 },
	{ "1025", -EINVAL, 0 },
	{ "4294967297", -EINVAL, 0 },		/* 2^32 + 1 */
	{ "18446744073709551617", -EINVAL, 0 },	/* 2^64 + 1 */
	{ "99999999999999999999999999", -EINVAL, 0 },
};

struct bind_case {
	const char *s;
	int rc;
	int bind;
};

static const struct bind_case bind_cases[] = {
	{ "none", 0, 0 },
	{ "core", 0, 1 },
	{ "", -EINVAL, 0 },
	{ "None", -EINVAL, 0 },
	{ "CORE", -EINVAL, 0 },
	{ " none", -EINVAL, 0 },
	{ "core ", -EINVAL, 0 },
	{ "cores", -EINVAL, 0 },
	{ "numa", -EINVAL, 0 },
	{ "0", -EINVAL, 0 },
	{ "1", -EINVAL, 0 },
	{ "yes", -EINVAL, 0 },
	{ "true", -EINVAL, 0 },
};

struct size_case {
	const char *s;
	int rc;
	size_t v;
};

static const struct size_case size_cases[] = {
	{ "1048576", 0, MiB },
	{ "1048577", 0, MiB + 1 },
	{ "1024K", 0, MiB },
	{ "1024k", 0, MiB },	/* lower-case suffixes mean the same */
	{ "4096K", 0, 4 * MiB },
	{ "1M", 0, MiB },
	{ "1m", 0, MiB },
	{ "256M", 0, 256 * MiB },
	{ "256m", 0, 256 * MiB },
	{ "1G", 0, GiB },
	{ "1g", 0, GiB },
	{ "3G", 0, 3 * GiB },
	{ "1024G", 0, (size_t)1 << 40 },
	{ "1099511627776", 0, (size_t)1 << 40 },
	{ "", -EINVAL, 0 },
	{ "0", -EINVAL, 0 },
	{ "0M", -EINVAL, 0 },
	{ "1", -EINVAL, 0 },		/* below HPOOL__SHM_MIN */
	{ "1K", -EINVAL, 0 },
	{ "1023K", -EINVAL, 0 },
	{ "1048575", -EINVAL, 0 },
	{ "1025G", -EINVAL, 0 },	/* above HPOOL__SHM_MAX */
	{ "1099511627777", -EINVAL, 0 },
	{ "17179869183G", -EINVAL, 0 },	/* fits 64 bits, too big */
	{ "17179869184G", -EINVAL, 0 },	/* 2^64: overflows the shift */
	{ "17179869185G", -EINVAL, 0 },	/* 2^64 + 1G: would wrap to 1G */
	{ "17592186044417M", -EINVAL, 0 },	/* 2^64 + 1M: wraps to 1M */
	{ "18446744073709551615", -EINVAL, 0 },
	{ "18446744073709551616", -EINVAL, 0 }, /* overflows the digits */
	{ "1T", -EINVAL, 0 },
	{ "1KB", -EINVAL, 0 },
	{ "1MB", -EINVAL, 0 },
	{ "1MiB", -EINVAL, 0 },
	{ "1B", -EINVAL, 0 },
	{ "1MM", -EINVAL, 0 },
	{ "1Mk", -EINVAL, 0 },
	{ "M", -EINVAL, 0 },
	{ "K", -EINVAL, 0 },
	{ " 1M", -EINVAL, 0 },
	{ "1M ", -EINVAL, 0 },
	{ "1 M", -EINVAL, 0 },
	{ "+1M", -EINVAL, 0 },
	{ "-1M", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "1e6", -EINVAL, 0 },
	{ "0x100000", -EINVAL, 0 },
	{ "01M", -EINVAL, 0 },
	{ "abc", -EINVAL, 0 },
};

/* ---- parsers, called directly ---------------------------------------- */

static void test_parse_mode(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mode_cases); i++) {
		const struct mode_case *c = &mode_cases[i];
		hpool_mode m = (hpool_mode)77; /* untouched on failure */
		int rc = hpool__parse_mode(c->s, &m);

		if (rc != c->rc)
			fail_msg("mode \"%s\": rc %d, want %d", c->s, rc,
				 c->rc);
		if (m != (c->rc ? (hpool_mode)77 : c->mode))
			fail_msg("mode \"%s\": got %d", c->s, (int)m);
	}
}

static void test_parse_workers(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(workers_cases); i++) {
		const struct uint_case *c = &workers_cases[i];
		unsigned long v = 77;
		int rc = hpool__parse_uint(c->s, HPOOL__WORKERS_MAX, &v);

		if (rc != c->rc)
			fail_msg("uint \"%s\": rc %d, want %d", c->s, rc,
				 c->rc);
		if (v != (c->rc ? 77 : c->v))
			fail_msg("uint \"%s\": got %lu", c->s, v);
	}
}

/* The bound is the caller's, up to the full range of unsigned long. */
static void test_parse_uint_bounds(void **state)
{
	unsigned long v = 0;

	assert_int_equal(hpool__parse_uint("18446744073709551615", ULONG_MAX,
					   &v), 0);
	assert_true(v == ULONG_MAX);
	assert_int_equal(hpool__parse_uint("18446744073709551616", ULONG_MAX,
					   &v), -EINVAL);
	assert_int_equal(hpool__parse_uint("1", 1, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(hpool__parse_uint("2", 1, &v), -EINVAL);
	assert_int_equal(hpool__parse_uint("1", 0, &v), -EINVAL);
	assert_int_equal(hpool__parse_uint("99", 99, &v), 0);
	assert_int_equal(v, 99);
	assert_int_equal(hpool__parse_uint("100", 99, &v), -EINVAL);
}

static void test_parse_bind(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bind_cases); i++) {
		const struct bind_case *c = &bind_cases[i];
		int b = 77;
		int rc = hpool__parse_bind(c->s, &b);

		if (rc != c->rc)
			fail_msg("bind \"%s\": rc %d, want %d", c->s, rc,
				 c->rc);
		if (b != (c->rc ? 77 : c->bind))
			fail_msg("bind \"%s\": got %d", c->s, b);
	}
}

static void test_parse_size(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(size_cases); i++) {
		const struct size_case *c = &size_cases[i];
		size_t v = 77;
		int rc = hpool__parse_size(c->s, &v);

		if (rc != c->rc)
			fail_msg("size \"%s\": rc %d, want %d", c->s, rc,
				 c->rc);
		if (v != (c->rc ? 77 : c->v))
			fail_msg("size \"%s\": got %zu", c->s, v);
	}
}

/* NULL in, NULL out: -EINVAL. Parsers never write the message: that is
 * hpool__settings_resolve's job, which knows the variable's name. */
static void test_parse_null_and_quiet(void **state)
{
	hpool_mode m;
	unsigned long u;
	int b;
	size_t z;

	hpool__set_error("%s", "sentinel");
	assert_int_equal(hpool__parse_mode(NULL, &m), -EINVAL);
	assert_int_equal(hpool__parse_mode("thread", NULL), -EINVAL);
	assert_int_equal(hpool__parse_uint(NULL, 10, &u), -EINVAL);
	assert_int_equal(hpool__parse_uint("1", 10, NULL), -EINVAL);
	assert_int_equal(hpool__parse_bind(NULL, &b), -EINVAL);
	assert_int_equal(hpool__parse_bind("none", NULL), -EINVAL);
	assert_int_equal(hpool__parse_size(NULL, &z), -EINVAL);
	assert_int_equal(hpool__parse_size("1M", NULL), -EINVAL);
	assert_int_equal(hpool__parse_mode("x", &m), -EINVAL);
	assert_int_equal(hpool__parse_uint("x", 10, &u), -EINVAL);
	assert_int_equal(hpool__parse_bind("x", &b), -EINVAL);
	assert_int_equal(hpool__parse_size("x", &z), -EINVAL);
	assert_string_equal(hpool_last_error(), "sentinel");
}

/* ---- defaults ----------------------------------------------------------- */

static void test_config_init(void **state)
{
	hpool_config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	hpool_config_init(&cfg);
	assert_int_equal(cfg.mode, HPOOL_MODE_ENV);
	assert_int_equal(cfg.workers, 0);
	assert_null(cfg.init);
	assert_null(cfg.init_ctx);
	assert_int_equal(cfg.init_ctx_size, 0);
	assert_int_equal(cfg.max_tasks_per_worker, 0);
	assert_int_equal(cfg.shm_size, 0);
	assert_int_equal(cfg.bind, -1);
	hpool_config_init(NULL); /* must not crash */
}

static void expect_defaults(const struct hpool__settings *s)
{
	assert_int_equal(s->mode, HPOOL_MODE_PROCESS);
	assert_int_equal(s->workers, 0);
	assert_int_equal(s->bind, 0);
	assert_true(s->shm_size == HPOOL__SHM_DEFAULT);
}

/* Nothing set anywhere: process mode, topology decides, no binding,
 * default arena. cfg NULL and an initialised cfg mean the same. */
static void test_resolve_defaults(void **state)
{
	hpool_config cfg;
	struct hpool__settings s;

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(hpool__settings_resolve(NULL, &s), 0);
	expect_defaults(&s);

	hpool_config_init(&cfg);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	expect_defaults(&s);

	assert_int_equal(hpool__settings_resolve(&cfg, NULL), -EINVAL);
}

/* ---- environment, through hpool__settings_resolve ---------------------- */

/* Resolve with cfg NULL and `var` = `value`. A valid value changes only its
 * own setting; an invalid one fails, leaves *out alone and names the
 * variable, the value and `expect` (what is accepted). */
static int resolve_env(const char *var, const char *value,
		       struct hpool__settings *s)
{
	int rc;

	set_env(var, value);
	memset(s, 0xa5, sizeof(*s));
	rc = hpool__settings_resolve(NULL, s);
	assert_int_equal(unsetenv(var), 0);
	return rc;
}

static void expect_refused(const char *var, const char *value, int rc,
			   const struct hpool__settings *s, const char *expect)
{
	struct hpool__settings untouched;
	char needle[256];

	if (rc != -EINVAL)
		fail_msg("%s=\"%s\": rc %d, want -EINVAL", var, value, rc);
	memset(&untouched, 0xa5, sizeof(untouched));
	if (memcmp(s, &untouched, sizeof(*s)))
		fail_msg("%s=\"%s\": settings written on failure", var, value);
	if (plain(value))
		snprintf(needle, sizeof(needle), "%s=\"%s\"", var, value);
	else
		snprintf(needle, sizeof(needle), "%s=\"", var);
	expect_msg(needle, value);
	expect_msg(expect, value);
}

static void test_env_mode(void **state)
{
	struct hpool__settings s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mode_cases); i++) {
		const struct mode_case *c = &mode_cases[i];
		int rc = resolve_env("HPOOL_MODE", c->s, &s);

		if (c->rc) {
			expect_refused("HPOOL_MODE", c->s, rc, &s,
				       "expected thread, process, serial, mpi or hybrid");
			continue;
		}
		if (rc)
			fail_msg("HPOOL_MODE=%s: rc %d", c->s, rc);
		assert_int_equal(s.mode, c->mode);
		assert_int_equal(s.workers, 0);
		assert_int_equal(s.bind, 0);
		assert_true(s.shm_size == HPOOL__SHM_DEFAULT);
	}
}

static void test_env_workers(void **state)
{
	struct hpool__settings s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(workers_cases); i++) {
		const struct uint_case *c = &workers_cases[i];
		int rc = resolve_env("HPOOL_WORKERS", c->s, &s);

		if (c->rc) {
			expect_refused("HPOOL_WORKERS", c->s, rc, &s,
				"expected a whole number from 1 to 1024");
			continue;
		}
		if (rc)
			fail_msg("HPOOL_WORKERS=%s: rc %d", c->s, rc);
		assert_int_equal(s.workers, c->v);
		assert_int_equal(s.mode, HPOOL_MODE_PROCESS);
		assert_int_equal(s.bind, 0);
		assert_true(s.shm_size == HPOOL__SHM_DEFAULT);
	}
}

/* HPOOL_HYBRID=PxT: both parts as HPOOL_WORKERS, product <= 1024. */
static const struct {
	const char *s;
	int rc;
	unsigned p, t;
} hybrid_cases[] = {
	{ "1x1", 0, 1, 1 },
	{ "2x4", 0, 2, 4 },
	{ "4x16", 0, 4, 16 },
	{ "1x1024", 0, 1, 1024 },
	{ "1024x1", 0, 1024, 1 },
	{ "32x32", 0, 32, 32 },
	{ "33x32", -EINVAL, 0, 0 },	/* product above 1024 */
	{ "2x513", -EINVAL, 0, 0 },
	{ "", -EINVAL, 0, 0 },
	{ "x", -EINVAL, 0, 0 },
	{ "2", -EINVAL, 0, 0 },
	{ "2x", -EINVAL, 0, 0 },
	{ "x4", -EINVAL, 0, 0 },
	{ "0x4", -EINVAL, 0, 0 },	/* also not hex */
	{ "2x0", -EINVAL, 0, 0 },
	{ "02x4", -EINVAL, 0, 0 },
	{ "2x04", -EINVAL, 0, 0 },
	{ "2X4", -EINVAL, 0, 0 },
	{ "2*4", -EINVAL, 0, 0 },
	{ "2 x 4", -EINVAL, 0, 0 },
	{ " 2x4", -EINVAL, 0, 0 },
	{ "2x4 ", -EINVAL, 0, 0 },
	{ "2x4x1", -EINVAL, 0, 0 },
	{ "+2x4", -EINVAL, 0, 0 },
	{ "2x-4", -EINVAL, 0, 0 },
	{ "99999999999x1", -EINVAL, 0, 0 },
};

static void test_env_hybrid(void **state)
{
	struct hpool__settings s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(hybrid_cases); i++) {
		int rc = resolve_env("HPOOL_HYBRID", hybrid_cases[i].s, &s);

		if (hybrid_cases[i].rc) {
			expect_refused("HPOOL_HYBRID", hybrid_cases[i].s, rc,
				       &s, "expected PxT");
			continue;
		}
		if (rc)
			fail_msg("HPOOL_HYBRID=%s: rc %d", hybrid_cases[i].s,
				 rc);
		assert_int_equal(s.hybrid_procs, hybrid_cases[i].p);
		assert_int_equal(s.hybrid_threads, hybrid_cases[i].t);
		assert_int_equal(s.workers, 0);
	}
}

/* HPOOL_MPI_LOCAL: node, 0, or a count as HPOOL_WORKERS (read in every
 * mode, as every variable; used by mpi mode's rank 0). */
static const struct {
	const char *s;
	int rc;
	int v;
} mpi_local_cases[] = {
	{ "node", 0, -1 },
	{ "0", 0, 0 },
	{ "1", 0, 1 },
	{ "1024", 0, 1024 },
	{ "1025", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "Node", -EINVAL, 0 },
	{ "00", -EINVAL, 0 },
	{ "01", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "all", -EINVAL, 0 },
};

static void test_env_mpi_local(void **state)
{
	struct hpool__settings s;
	size_t i;

	assert_int_equal(hpool__settings_resolve(NULL, &s), 0);
	assert_int_equal(s.mpi_local, -1); /* unset: node */
	for (i = 0; i < ARRAY_SIZE(mpi_local_cases); i++) {
		int rc = resolve_env("HPOOL_MPI_LOCAL", mpi_local_cases[i].s,
				     &s);

		if (mpi_local_cases[i].rc) {
			expect_refused("HPOOL_MPI_LOCAL", mpi_local_cases[i].s,
				       rc, &s, "expected node");
			continue;
		}
		if (rc)
			fail_msg("HPOOL_MPI_LOCAL=%s: rc %d",
				 mpi_local_cases[i].s, rc);
		assert_int_equal(s.mpi_local, mpi_local_cases[i].v);
	}
}

/* The shape's fields: both or neither; they win over HPOOL_HYBRID; in
 * hybrid mode a total (workers) must equal P x T. */
static void test_hybrid_fields(void **state)
{
	struct hpool__settings s;
	hpool_config cfg;

	hpool_config_init(&cfg);
	assert_int_equal(cfg.hybrid_processes, 0);
	assert_int_equal(cfg.hybrid_threads, 0);
	cfg.hybrid_processes = 2;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), -EINVAL);
	expect_msg("hpool_config.hybrid_processes = 2", "half a shape");
	cfg.hybrid_threads = 600;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), -EINVAL);
	expect_msg("at most 1024", "too big");
	cfg.hybrid_threads = 3;
	set_env("HPOOL_HYBRID", "4x4");
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.hybrid_procs, 2);
	assert_int_equal(s.hybrid_threads, 3);
	cfg.mode = HPOOL_MODE_HYBRID;
	cfg.workers = 5;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), -EINVAL);
	expect_msg("2x3", "workers disagree");
	cfg.workers = 6;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	/* other modes ignore the shape (but still parse it) */
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = 5;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(unsetenv("HPOOL_HYBRID"), 0);
}

static void test_env_bind(void **state)
{
	struct hpool__settings s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bind_cases); i++) {
		const struct bind_case *c = &bind_cases[i];
		int rc = resolve_env("HPOOL_BIND", c->s, &s);

		if (c->rc) {
			expect_refused("HPOOL_BIND", c->s, rc, &s,
				       "expected none or core");
			continue;
		}
		if (rc)
			fail_msg("HPOOL_BIND=%s: rc %d", c->s, rc);
		assert_int_equal(s.bind, c->bind);
		assert_int_equal(s.mode, HPOOL_MODE_PROCESS);
		assert_int_equal(s.workers, 0);
		assert_true(s.shm_size == HPOOL__SHM_DEFAULT);
	}
}

static void test_env_shm_size(void **state)
{
	struct hpool__settings s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(size_cases); i++) {
		const struct size_case *c = &size_cases[i];
		int rc = resolve_env("HPOOL_SHM_SIZE", c->s, &s);

		if (c->rc) {
			/* the limits, written as accepted inputs */
			expect_refused("HPOOL_SHM_SIZE", c->s, rc, &s,
				       "expected a size from 1M to 1024G");
			expect_msg("K, M or G", c->s);
			continue;
		}
		if (rc)
			fail_msg("HPOOL_SHM_SIZE=%s: rc %d", c->s, rc);
		assert_true(s.shm_size == c->v);
		assert_int_equal(s.mode, HPOOL_MODE_PROCESS);
		assert_int_equal(s.workers, 0);
		assert_int_equal(s.bind, 0);
	}
}

static void test_env_all_at_once(void **state)
{
	struct hpool__settings s;

	set_env("HPOOL_MODE", "thread");
	set_env("HPOOL_WORKERS", "3");
	set_env("HPOOL_BIND", "core");
	set_env("HPOOL_SHM_SIZE", "64M");
	assert_int_equal(hpool__settings_resolve(NULL, &s), 0);
	assert_int_equal(s.mode, HPOOL_MODE_THREAD);
	assert_int_equal(s.workers, 3);
	assert_int_equal(s.bind, 1);
	assert_true(s.shm_size == 64 * MiB);
}

/* A value that cannot be read is shown escaped and cut short, so that a
 * newline or a megabyte of junk cannot garble or swamp the message; what
 * is accepted still follows it. */
static void test_env_message_quoting(void **state)
{
	struct hpool__settings s;
	char *big;
	const char *m;

	assert_int_equal(resolve_env("HPOOL_MODE", "a\"b\\c\nd\xc3\xa9", &s),
			 -EINVAL);
	assert_string_equal(hpool_last_error(),
			    "HPOOL_MODE=\"a\\\"b\\\\c\\x0ad\\xc3\\xa9\": "
			    "expected thread, process, serial, mpi or hybrid (lower case)");

	big = malloc(5000);
	assert_non_null(big);
	memset(big, '7', 4999);
	big[4999] = '\0';
	assert_int_equal(resolve_env("HPOOL_WORKERS", big, &s), -EINVAL);
	free(big);
	m = hpool_last_error();
	assert_true(strlen(m) < 300);
	expect_msg("HPOOL_WORKERS=\"7777777777", "long value");
	expect_msg("777...\": expected a whole number from 1 to 1024", "cut");
}

/* ---- precedence --------------------------------------------------------- */

static void test_precedence_fields_win(void **state)
{
	hpool_config cfg;
	struct hpool__settings s;

	set_env("HPOOL_WORKERS", "8");
	set_env("HPOOL_BIND", "core");
	set_env("HPOOL_SHM_SIZE", "2M");

	hpool_config_init(&cfg);
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.workers, 8);
	assert_int_equal(s.bind, 1);
	assert_true(s.shm_size == 2 * MiB);

	cfg.workers = 3;
	cfg.bind = 0; /* an explicit "none" beats HPOOL_BIND=core */
	cfg.shm_size = 4 * MiB;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.workers, 3);
	assert_int_equal(s.bind, 0);
	assert_true(s.shm_size == 4 * MiB);

	set_env("HPOOL_BIND", "none");
	cfg.bind = 1;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.bind, 1);
}

/* Fields win without the environment too. */
static void test_precedence_fields_alone(void **state)
{
	hpool_config cfg;
	struct hpool__settings s;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_SERIAL;
	cfg.workers = 5;
	cfg.bind = 1;
	cfg.shm_size = GiB;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.mode, HPOOL_MODE_SERIAL);
	assert_int_equal(s.workers, 5);
	assert_int_equal(s.bind, 1);
	assert_true(s.shm_size == GiB);
}

/* HPOOL_MODE counts only when cfg->mode is HPOOL_MODE_ENV. */
static void test_precedence_mode(void **state)
{
	static const hpool_mode fields[] = {
		HPOOL_MODE_THREAD, HPOOL_MODE_PROCESS, HPOOL_MODE_SERIAL,
	};
	static const char *const envs[] = { "thread", "process", "serial" };
	hpool_config cfg;
	struct hpool__settings s;
	size_t f, e;

	hpool_config_init(&cfg);
	for (e = 0; e < ARRAY_SIZE(envs); e++) {
		set_env("HPOOL_MODE", envs[e]);
		cfg.mode = HPOOL_MODE_ENV;
		assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
		assert_int_equal(s.mode, fields[e]);
		for (f = 0; f < ARRAY_SIZE(fields); f++) {
			cfg.mode = fields[f];
			assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
			assert_int_equal(s.mode, fields[f]);
		}
	}
	assert_int_equal(unsetenv("HPOOL_MODE"), 0);
	cfg.mode = HPOOL_MODE_ENV;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.mode, HPOOL_MODE_PROCESS);
	cfg.mode = HPOOL_MODE_THREAD;
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
	assert_int_equal(s.mode, HPOOL_MODE_THREAD);
}

/* No value is silently ignored: a bad variable fails even when the field
 * it would feed is set and would win. */
static void test_precedence_bad_env_still_refused(void **state)
{
	static const struct {
		const char *var, *value;
	} bad[] = {
		{ "HPOOL_MODE", "threads" },
		{ "HPOOL_WORKERS", "0" },
		{ "HPOOL_BIND", "yes" },
		{ "HPOOL_SHM_SIZE", "1T" },
		{ "HPOOL_MODE", "" },
		{ "HPOOL_WORKERS", "" },
		{ "HPOOL_BIND", "" },
		{ "HPOOL_SHM_SIZE", "" },
	};
	hpool_config cfg;
	struct hpool__settings s;
	char needle[64];
	size_t i;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_THREAD;
	cfg.workers = 2;
	cfg.bind = 0;
	cfg.shm_size = 8 * MiB;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		set_env(bad[i].var, bad[i].value);
		if (hpool__settings_resolve(&cfg, &s) != -EINVAL)
			fail_msg("%s=\"%s\" overridden by its field was "
				 "accepted", bad[i].var, bad[i].value);
		snprintf(needle, sizeof(needle), "%s=\"%s\"", bad[i].var,
			 bad[i].value);
		expect_msg(needle, bad[i].var);
		assert_int_equal(unsetenv(bad[i].var), 0);
	}
	/* the same config with the environment clean is fine */
	assert_int_equal(hpool__settings_resolve(&cfg, &s), 0);
}

/* ---- config fields ------------------------------------------------------ */

enum field_case_kind { F_MODE, F_WORKERS, F_BIND, F_SHM, F_INITCTX };

struct field_case {
	enum field_case_kind kind;
	long long v;
	int rc;
	const char *needle; /* in the message when rc != 0 */
};

static const struct field_case field_cases[] = {
	{ F_MODE, HPOOL_MODE_ENV, 0, NULL },
	{ F_MODE, HPOOL_MODE_THREAD, 0, NULL },
	{ F_MODE, HPOOL_MODE_PROCESS, 0, NULL },
	{ F_MODE, HPOOL_MODE_SERIAL, 0, NULL },
	{ F_MODE, HPOOL_MODE_MPI, 0, NULL },
	{ F_MODE, HPOOL_MODE_HYBRID, 0, NULL },
	{ F_MODE, 6, -EINVAL, "hpool_config.mode = 6" },
	{ F_MODE, -1, -EINVAL, "hpool_config.mode = -1" },
	{ F_MODE, 1000, -EINVAL, "hpool_config.mode = 1000" },
	{ F_WORKERS, 1, 0, NULL },
	{ F_WORKERS, 1024, 0, NULL },
	{ F_WORKERS, 1025, -EINVAL, "hpool_config.workers = 1025" },
	{ F_WORKERS, UINT_MAX, -EINVAL, "hpool_config.workers = 4294967295" },
	{ F_BIND, -1, 0, NULL },
	{ F_BIND, 0, 0, NULL },
	{ F_BIND, 1, 0, NULL },
	{ F_BIND, -2, -EINVAL, "hpool_config.bind = -2" },
	{ F_BIND, 2, -EINVAL, "hpool_config.bind = 2" },
	{ F_BIND, INT_MIN, -EINVAL, "hpool_config.bind = -2147483648" },
	{ F_SHM, (long long)MiB, 0, NULL },
	{ F_SHM, (long long)1 << 40, 0, NULL },
	{ F_SHM, 1, -EINVAL, "hpool_config.shm_size = 1:" },
	{ F_SHM, (long long)MiB - 1, -EINVAL,
	  "hpool_config.shm_size = 1048575:" },
	{ F_SHM, ((long long)1 << 40) + 1, -EINVAL,
	  "hpool_config.shm_size = 1099511627777:" },
	{ F_SHM, -1, -EINVAL,
	  "hpool_config.shm_size = 18446744073709551615:" },
	{ F_INITCTX, 0, 0, NULL },		/* NULL, size 0 */
	{ F_INITCTX, 16, -EINVAL, "hpool_config.init_ctx is NULL" },
	{ F_INITCTX, -16, 0, NULL },		/* pointer, size 16 */
};

static void test_config_fields(void **state)
{
	static const char blob[16];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(field_cases); i++) {
		const struct field_case *c = &field_cases[i];
		hpool_config cfg;
		struct hpool__settings s, untouched;
		int rc;

		hpool_config_init(&cfg);
		switch (c->kind) {
		case F_MODE: cfg.mode = (hpool_mode)c->v; break;
		case F_WORKERS: cfg.workers = (unsigned)c->v; break;
		case F_BIND: cfg.bind = (int)c->v; break;
		case F_SHM: cfg.shm_size = (size_t)c->v; break;
		case F_INITCTX:
			cfg.init_ctx = c->v < 0 ? blob : NULL;
			cfg.init_ctx_size = (size_t)(c->v < 0 ? -c->v : c->v);
			break;
		}
		memset(&s, 0xa5, sizeof(s));
		memcpy(&untouched, &s, sizeof(s));
		rc = hpool__settings_resolve(&cfg, &s);
		if (rc != c->rc)
			fail_msg("field case %zu: rc %d, want %d", i, rc,
				 c->rc);
		if (rc) {
			expect_msg(c->needle, "field");
			expect_msg("expected", "field");
			if (memcmp(&s, &untouched, sizeof(s)))
				fail_msg("field case %zu: out written", i);
		}
	}
}

/* ---- error.c ------------------------------------------------------------ */

static void test_strerror_hpool_codes(void **state)
{
	static const struct {
		int code;
		const char *word;
	} codes[] = {
		{ HPOOL_ETASK, "task" },
		{ HPOOL_ECRASH, "died" },
		{ HPOOL_ECANCELED, "terminated" },
		{ HPOOL_ECLOSED, "no longer takes work" },
		{ HPOOL_DONE, "finished" },
		{ HPOOL_EFORKED, "forked" },
	};
	const char *unknown = hpool_strerror(-4999);
	size_t i, j;

	assert_string_equal(hpool_strerror(0), "success");
	assert_string_equal(unknown, "unknown hpool error code");
	for (i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *s = hpool_strerror(codes[i].code);

		assert_non_null(s);
		if (!strstr(s, codes[i].word))
			fail_msg("code %d: \"%s\" lacks \"%s\"", codes[i].code,
				 s, codes[i].word);
		assert_string_not_equal(s, unknown);
		for (j = 0; j < i; j++)
			assert_string_not_equal(s,
						hpool_strerror(codes[j].code));
	}
}

/* -errno reads as glibc's text (compared with strerror in the C locale),
 * from a static string. */
static void test_strerror_errno(void **state)
{
	static const int errs[] = {
		EPERM, ENOENT, ESRCH, EINTR, EIO, EAGAIN, ENOMEM, EACCES,
		EFAULT, EBUSY, EINVAL, EMFILE, ENOSPC, EPIPE, ERANGE, ENOSYS,
		EOVERFLOW, ETIMEDOUT, ECANCELED, ECHILD,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errs); i++)
		assert_string_equal(hpool_strerror(-errs[i]),
				    strerror(errs[i]));
	assert_string_equal(hpool_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(hpool_strerror(-ETIMEDOUT), "Connection timed out");
	assert_ptr_equal(hpool_strerror(-ENOMEM), hpool_strerror(-ENOMEM));
}

static void test_strerror_unknown(void **state)
{
	static const int unknown[] = {
		-4095, -4096, -4097, -5000, -5007, -6000, -100000, INT_MIN,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(unknown); i++)
		assert_string_equal(hpool_strerror(unknown[i]),
				    "unknown hpool error code");
	/* a task's own positive status is not an hpool code either, but it
	 * is not garbage: it says what it is */
	assert_non_null(strstr(hpool_strerror(1), "task's own status"));
	assert_non_null(strstr(hpool_strerror(INT_MAX), "task's own status"));
}

static void test_fail_and_set_error(void **state)
{
	assert_int_equal(hpool__fail(-EIO, "x=%d s=%s", 5, "y"), -EIO);
	assert_string_equal(hpool_last_error(), "x=5 s=y");
	assert_int_equal(hpool__fail(HPOOL_ECRASH, "%s", "w"), HPOOL_ECRASH);
	assert_string_equal(hpool_last_error(), "w");

	/* the old message may be an argument of the new one */
	hpool__set_error("%s", "inner");
	hpool__set_error("outer: %s (%s)", hpool_last_error(),
			 hpool_last_error());
	assert_string_equal(hpool_last_error(), "outer: inner (inner)");

	/* an empty message reads as "no error", never NULL or "" */
	hpool__set_error("%s", "");
	assert_string_equal(hpool_last_error(), "no error");

	/* A message vsnprintf cannot format (a wide character that the C
	 * locale cannot encode: EILSEQ) still leaves a message, and errno
	 * survives the call. */
	errno = ERANGE;
	hpool__set_error("bad %ls", L"\xe9");
	assert_int_equal(errno, ERANGE);
	expect_msg("bad %ls", "unformattable");
}

static void test_error_truncated(void **state)
{
	char big[2000];
	const char *m;
	size_t i;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	hpool__set_error("%s", big);
	m = hpool_last_error();
	assert_int_equal(strlen(m), 511);
	for (i = 0; i < 511; i++)
		if (m[i] != 'a')
			fail_msg("byte %zu is %d", i, m[i]);
}

struct thread_seen {
	char before[64];
	char after[64];
	int was_null;
};

static void *error_thread(void *arg)
{
	struct thread_seen *t = arg;
	const char *m = hpool_last_error();

	t->was_null = !m;
	snprintf(t->before, sizeof(t->before), "%s", m ? m : "");
	hpool__set_error("%s", "from the thread");
	snprintf(t->after, sizeof(t->after), "%s", hpool_last_error());
	return NULL;
}

/* The message is per thread: one thread's failure is not another's. */
static void test_last_error_per_thread(void **state)
{
	struct thread_seen t;
	pthread_t th;

	memset(&t, 0, sizeof(t));
	hpool__set_error("%s", "from main");
	assert_int_equal(pthread_create(&th, NULL, error_thread, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(t.was_null);
	assert_string_equal(t.before, "no error");
	assert_string_equal(t.after, "from the thread");
	assert_string_equal(hpool_last_error(), "from main");
}

static void test_signame(void **state)
{
	static const struct {
		int sig;
		const char *name;
	} known[] = {
		{ SIGSEGV, "SIGSEGV" }, { SIGKILL, "SIGKILL" },
		{ SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" },
		{ SIGFPE, "SIGFPE" },   { SIGILL, "SIGILL" },
		{ SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" },
		{ SIGHUP, "SIGHUP" },   { SIGPIPE, "SIGPIPE" },
		{ SIGCHLD, "SIGCHLD" }, { SIGSYS, "SIGSYS" },
		{ SIGUSR1, "SIGUSR1" }, { SIGXCPU, "SIGXCPU" },
	};
	char buf[32], small[5];
	size_t i;

	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < ARRAY_SIZE(known); i++)
		assert_string_equal(hpool__signame(known[i].sig, buf,
						   sizeof(buf)), known[i].name);

	assert_ptr_equal(hpool__signame(0, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "signal 0");
	assert_string_equal(hpool__signame(-3, buf, sizeof(buf)), "signal -3");
	assert_string_equal(hpool__signame(SIGRTMAX + 1, buf, sizeof(buf)),
			    buf);
	assert_int_equal(atoi(buf + 7), SIGRTMAX + 1);
	assert_string_equal(hpool__signame(SIGRTMIN, buf, sizeof(buf)),
			    "SIGRTMIN+0");
	assert_string_equal(hpool__signame(SIGRTMIN + 3, buf, sizeof(buf)),
			    "SIGRTMIN+3");
	/* truncated, still terminated; no buffer: still a string */
	assert_string_equal(hpool__signame(999, small, sizeof(small)), "sign");
	assert_string_equal(hpool__signame(SIGSEGV, small, sizeof(small)),
			    "SIGS");
	assert_string_equal(hpool__signame(999, NULL, 0), "unknown signal");
	assert_string_equal(hpool__signame(SIGSEGV, NULL, 0),
			    "unknown signal");
}

/* Run hpool__die in a child with stderr on a pipe; return what it wrote
 * and how it ended. The child never calls assert_*. */
static void run_die(const char *file, int line, const char *msg,
		    char *out, size_t len, int *status)
{
	int fd[2];
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		close(fd[0]);
		if (dup2(fd[1], STDERR_FILENO) < 0)
			_exit(90);
		hpool__die(file, line, msg);
		_exit(91); /* not reached */
	}
	close(fd[1]);
	while (got + 1 < len &&
	       (n = read(fd[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
}

static void test_die(void **state)
{
	char out[1024], msg[1000];
	int status;

	run_die("ring.c", 42, "head passed tail", out, sizeof(out), &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_string_equal(out, "hpool: ring.c:42: head passed tail\n");

	/* a long message is cut, the line still ends */
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	run_die("x.c", 1, msg, out, sizeof(out), &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_int_equal(strncmp(out, "hpool: x.c:1: mmm", 17), 0);
	assert_int_equal(strlen(out), 511);
	assert_int_equal(out[510], '\n');
}

#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_mode),
		T(test_parse_workers),
		T(test_parse_uint_bounds),
		T(test_parse_bind),
		T(test_parse_size),
		T(test_parse_null_and_quiet),
		T(test_config_init),
		T(test_resolve_defaults),
		T(test_env_mode),
		T(test_env_workers),
		T(test_env_hybrid),
		T(test_env_mpi_local),
		T(test_hybrid_fields),
		T(test_env_bind),
		T(test_env_shm_size),
		T(test_env_all_at_once),
		T(test_env_message_quoting),
		T(test_precedence_fields_win),
		T(test_precedence_fields_alone),
		T(test_precedence_mode),
		T(test_precedence_bad_env_still_refused),
		T(test_config_fields),
		T(test_strerror_hpool_codes),
		T(test_strerror_errno),
		T(test_strerror_unknown),
		T(test_fail_and_set_error),
		T(test_error_truncated),
		T(test_last_error_per_thread),
		T(test_signame),
		T(test_die),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
