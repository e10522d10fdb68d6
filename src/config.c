/* SPDX-License-Identifier: MIT */
/*
 * config.c: defaults, hpool_config, and the HPOOL_* environment variables.
 *
 * Parsing is strict: a value either means exactly one thing or is refused
 * with -EINVAL and a message that names the variable, its value and what is
 * accepted. No value is silently ignored, not even one that a config field
 * overrides, and not an empty one (HPOOL_WORKERS= is a mistake, not "unset").
 *
 *  HPOOL_MODE      thread | process | serial | mpi | hybrid, exactly, lower
 *                  case only.
 *  HPOOL_WORKERS   1 .. HPOOL__WORKERS_MAX in plain decimal: digits only,
 *                  no sign, no spaces, no leading zeros (010 could be read
 *                  as octal 8 by a C programmer; we refuse rather than pick).
 *  HPOOL_BIND      none | core, exactly, lower case only.
 *  HPOOL_START     fork | forkserver, exactly, lower case only.
 *  HPOOL_PROGRESS  none | bar, exactly, lower case only.
 *  HPOOL_THREADED_FORK  allow | refuse, exactly, lower case only.
 *  HPOOL_HYBRID    PxT: processes x threads of a hybrid pool, each a plain
 *                  decimal as HPOOL_WORKERS, one lower-case 'x' between,
 *                  nothing else; P * T <= HPOOL__WORKERS_MAX ("2x4").
 *  HPOOL_MPI_LOCAL node | 0 | a count as HPOOL_WORKERS: the workers MPI's
 *                  rank 0 runs itself (node: its node's, docs/mpi.md).
 *  HPOOL_SHM_SIZE  plain decimal bytes, optionally followed by one suffix
 *                  K, M or G, powers of 1024; the lower-case k, m, g mean
 *                  the same (as in docker --shm-size and dd). Nothing else:
 *                  no "KB", "KiB", "T", spaces or fractions. The result must
 *                  lie in [HPOOL__SHM_MIN, HPOOL__SHM_MAX].
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hpool_config_init(hpool_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = HPOOL_MODE_ENV;
	cfg->bind = -1;
	cfg->start = -1;
	cfg->progress = -1;
	cfg->threaded_fork = -1;
}

int hpool__parse_mode(const char *s, hpool_mode *mode)
{
	hpool_mode m;

	if (!s || !mode)
		return -EINVAL;
	if (!strcmp(s, "thread"))
		m = HPOOL_MODE_THREAD;
	else if (!strcmp(s, "process"))
		m = HPOOL_MODE_PROCESS;
	else if (!strcmp(s, "serial"))
		m = HPOOL_MODE_SERIAL;
	else if (!strcmp(s, "mpi"))
		m = HPOOL_MODE_MPI;
	else if (!strcmp(s, "hybrid"))
		m = HPOOL_MODE_HYBRID;
	else
		return -EINVAL;
	*mode = m;
	return 0;
}

/* Plain decimal digits into *v: non-empty, no sign or space, no leading
 * zero unless the whole string is "0". Stops at the first non-digit and
 * sets *end there. Return: 0, -EINVAL (no digits, leading zero, or the
 * value exceeds `max`). */
static int parse_digits(const char *s, uint64_t max, uint64_t *v,
			const char **end)
{
	uint64_t acc = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		/* acc * 10 + d > max, without overflowing */
		if (d > max || acc > (max - d) / 10)
			return -EINVAL;
		acc = acc * 10 + d;
	}
	*v = acc;
	*end = p;
	return 0;
}

int hpool__parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	uint64_t x;
	const char *end;

	if (!s || !v)
		return -EINVAL;
	if (parse_digits(s, max, &x, &end) || *end || x == 0)
		return -EINVAL;
	*v = (unsigned long)x;
	return 0;
}

int hpool__parse_hybrid(const char *s, unsigned *procs, unsigned *threads)
{
	uint64_t p, t;
	const char *end;

	if (!s || !procs || !threads)
		return -EINVAL;
	if (parse_digits(s, HPOOL__WORKERS_MAX, &p, &end) || *end != 'x' ||
	    p == 0)
		return -EINVAL;
	if (parse_digits(end + 1, HPOOL__WORKERS_MAX, &t, &end) || *end ||
	    t == 0 || p * t > HPOOL__WORKERS_MAX)
		return -EINVAL;
	*procs = (unsigned)p;
	*threads = (unsigned)t;
	return 0;
}

int hpool__parse_progress(const char *s, int *progress)
{
	if (!s || !progress)
		return -EINVAL;
	if (!strcmp(s, "none"))
		*progress = 0;
	else if (!strcmp(s, "bar"))
		*progress = 1;
	else
		return -EINVAL;
	return 0;
}

int hpool__parse_threaded_fork(const char *s, int *refuse)
{
	if (!s || !refuse)
		return -EINVAL;
	if (!strcmp(s, "allow"))
		*refuse = 0;
	else if (!strcmp(s, "refuse"))
		*refuse = 1;
	else
		return -EINVAL;
	return 0;
}

int hpool__parse_start(const char *s, int *start)
{
	if (!s || !start)
		return -EINVAL;
	if (!strcmp(s, "fork"))
		*start = 0;
	else if (!strcmp(s, "forkserver"))
		*start = 1;
	else
		return -EINVAL;
	return 0;
}

int hpool__parse_bind(const char *s, int *bind)
{
	int b;

	if (!s || !bind)
		return -EINVAL;
	if (!strcmp(s, "none"))
		b = 0;
	else if (!strcmp(s, "core"))
		b = 1;
	else
		return -EINVAL;
	*bind = b;
	return 0;
}

int hpool__parse_size(const char *s, size_t *bytes)
{
	uint64_t x, shift = 0;
	const char *end;

	if (!s || !bytes)
		return -EINVAL;
	if (parse_digits(s, UINT64_MAX, &x, &end))
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	default: return -EINVAL;
	}
	if (shift && end[1] != '\0')
		return -EINVAL; /* "1KB", "1MM", "1M " */
	if (x > (UINT64_MAX >> shift))
		return -EINVAL; /* would overflow */
	x <<= shift;
	if (x < HPOOL__SHM_MIN || x > HPOOL__SHM_MAX || x > SIZE_MAX)
		return -EINVAL;
	*bytes = (size_t)x;
	return 0;
}

/*
 * Write s to buf as a C string literal body for a message: quotes,
 * backslashes and non-printable bytes escaped, and cut with "..." when
 * longer than fits, so a stray newline or a megabyte of junk in the
 * environment cannot garble or swamp the message.
 */
static const char *quote(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[4];
		size_t n = 0;

		if (c == '"' || c == '\\') {
			e[n++] = '\\';
			e[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			e[n++] = '\\';
			e[n++] = 'x';
			e[n++] = hex[c >> 4];
			e[n++] = hex[c & 15];
		} else {
			e[n++] = (char)c;
		}
		/* keep room for the NUL, and for "..." unless this is the
		 * last byte */
		if (o + n + (s[1] ? 4 : 1) > len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, e, n);
		o += n;
	}
	buf[o] = '\0';
	return buf;
}

#define QUOTE_MAX 100 /* longest quoted value in a message, with "..." */

static int env_fail(const char *name, const char *value, const char *what)
{
	char q[QUOTE_MAX];

	return hpool__fail(-EINVAL, "%s=\"%s\": expected %s", name,
			   quote(value, q, sizeof(q)), what);
}

/* Check the fields of cfg. Return: 0, -EINVAL with a message. */
static int check_config(const hpool_config *cfg)
{
	if ((unsigned)cfg->mode > HPOOL_MODE_HYBRID)
		return hpool__fail(-EINVAL,
			"hpool_config.mode = %d: expected HPOOL_MODE_ENV, "
			"HPOOL_MODE_THREAD, HPOOL_MODE_PROCESS, "
			"HPOOL_MODE_SERIAL, HPOOL_MODE_MPI or "
			"HPOOL_MODE_HYBRID", (int)cfg->mode);
	if (cfg->workers > HPOOL__WORKERS_MAX)
		return hpool__fail(-EINVAL,
			"hpool_config.workers = %u: expected 0 (from "
			"HPOOL_WORKERS or the topology) or 1 to %u",
			cfg->workers, HPOOL__WORKERS_MAX);
	if (cfg->bind < -1 || cfg->bind > 1)
		return hpool__fail(-EINVAL,
			"hpool_config.bind = %d: expected -1 (from HPOOL_BIND),"
			" 0 (none) or 1 (one core per worker)", cfg->bind);
	if (cfg->start < -1 || cfg->start > 1)
		return hpool__fail(-EINVAL,
			"hpool_config.start = %d: expected -1 (from "
			"HPOOL_START), 0 (fork) or 1 (forkserver)", cfg->start);
	if (cfg->progress < -1 || cfg->progress > 1)
		return hpool__fail(-EINVAL,
			"hpool_config.progress = %d: expected -1 (from "
			"HPOOL_PROGRESS), 0 (none) or 1 (bar)", cfg->progress);
	if (cfg->threaded_fork < -1 || cfg->threaded_fork > 1)
		return hpool__fail(-EINVAL,
			"hpool_config.threaded_fork = %d: expected -1 (from "
			"HPOOL_THREADED_FORK), 0 (allow) or 1 (refuse)",
			cfg->threaded_fork);
	if (cfg->shm_size &&
	    (cfg->shm_size < HPOOL__SHM_MIN || cfg->shm_size > HPOOL__SHM_MAX))
		return hpool__fail(-EINVAL,
			"hpool_config.shm_size = %zu: expected 0 (from "
			"HPOOL_SHM_SIZE or the default) or %zu to %zu bytes",
			cfg->shm_size, HPOOL__SHM_MIN, HPOOL__SHM_MAX);
	if (!cfg->hybrid_processes != !cfg->hybrid_threads ||
	    (uint64_t)cfg->hybrid_processes * cfg->hybrid_threads >
		    HPOOL__WORKERS_MAX)
		return hpool__fail(-EINVAL,
			"hpool_config.hybrid_processes = %u, hybrid_threads = "
			"%u: expected both 0 (from HPOOL_HYBRID or the "
			"topology) or both at least 1 with a product of at "
			"most %u", cfg->hybrid_processes, cfg->hybrid_threads,
			HPOOL__WORKERS_MAX);
	if (cfg->init_ctx_size && !cfg->init_ctx)
		return hpool__fail(-EINVAL,
			"hpool_config.init_ctx is NULL but init_ctx_size = %zu:"
			" expected a pointer to that many bytes, or size 0",
			cfg->init_ctx_size);
	return 0;
}

/* Largest K/M/G unit that divides n exactly, as an accepted input ("1M"). */
static const char *size_str(size_t n, char *buf, size_t len)
{
	static const char units[] = "GMK";
	int i;

	for (i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * (unsigned)i;

		if (n && !(n & (((size_t)1 << shift) - 1))) {
			snprintf(buf, len, "%zu%c", n >> shift, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%zu", n);
	return buf;
}

int hpool__settings_resolve(const hpool_config *cfg,
			    struct hpool__settings *out)
{
	hpool_config defaults;
	struct hpool__settings s;
	const char *v;
	int rc;

	if (!out)
		return hpool__fail(-EINVAL,
				   "hpool__settings_resolve: NULL out");
	if (!cfg) {
		hpool_config_init(&defaults);
		cfg = &defaults;
	}
	rc = check_config(cfg);
	if (rc)
		return rc;

	/* Defaults, then the environment, then the fields: every variable
	 * that is set is parsed, even when a field will override it. */
	s.mode = HPOOL_MODE_PROCESS;
	s.workers = 0; /* the pool asks the topology */
	s.bind = 0;
	s.shm_size = HPOOL__SHM_DEFAULT;
	s.start = 0;
	s.progress = 0;
	s.threaded_fork = 0;
	s.hybrid_procs = s.hybrid_threads = 0; /* hybrid: from the topology */

	v = getenv("HPOOL_MODE");
	if (v && hpool__parse_mode(v, &s.mode))
		return env_fail("HPOOL_MODE", v,
				"thread, process, serial, mpi or hybrid "
				"(lower case)");

	v = getenv("HPOOL_WORKERS");
	if (v) {
		unsigned long w;
		char what[80];

		if (hpool__parse_uint(v, HPOOL__WORKERS_MAX, &w)) {
			snprintf(what, sizeof(what),
				 "a whole number from 1 to %u (plain decimal)",
				 HPOOL__WORKERS_MAX);
			return env_fail("HPOOL_WORKERS", v, what);
		}
		s.workers = (unsigned)w;
	}

	v = getenv("HPOOL_BIND");
	if (v && hpool__parse_bind(v, &s.bind))
		return env_fail("HPOOL_BIND", v, "none or core (lower case)");

	v = getenv("HPOOL_START");
	if (v && hpool__parse_start(v, &s.start))
		return env_fail("HPOOL_START", v,
				"fork or forkserver (lower case)");

	v = getenv("HPOOL_PROGRESS");
	if (v && hpool__parse_progress(v, &s.progress))
		return env_fail("HPOOL_PROGRESS", v, "none or bar (lower case)");

	v = getenv("HPOOL_THREADED_FORK");
	if (v && hpool__parse_threaded_fork(v, &s.threaded_fork))
		return env_fail("HPOOL_THREADED_FORK", v,
				"allow or refuse (lower case)");

	v = getenv("HPOOL_HYBRID");
	if (v && hpool__parse_hybrid(v, &s.hybrid_procs, &s.hybrid_threads)) {
		char what[120];

		snprintf(what, sizeof(what),
			 "PxT: processes x threads, two whole numbers with "
			 "an 'x' between (\"2x4\"), product at most %u",
			 HPOOL__WORKERS_MAX);
		return env_fail("HPOOL_HYBRID", v, what);
	}

	s.mpi_local = -1;
	v = getenv("HPOOL_MPI_LOCAL");
	if (v && strcmp(v, "node")) {
		unsigned long n = 0;
		char what[120];

		if (strcmp(v, "0") &&
		    hpool__parse_uint(v, HPOOL__WORKERS_MAX, &n)) {
			snprintf(what, sizeof(what),
				 "node (rank 0 serves its own node), 0 (it "
				 "runs no workers) or a whole number up to %u",
				 HPOOL__WORKERS_MAX);
			return env_fail("HPOOL_MPI_LOCAL", v, what);
		}
		s.mpi_local = (int)n;
	}

	v = getenv("HPOOL_SHM_SIZE");
	if (v && hpool__parse_size(v, &s.shm_size)) {
		char what[160], lo[32], hi[32];

		snprintf(what, sizeof(what),
			 "a size from %s to %s: bytes, or a whole number "
			 "with a K, M or G suffix (powers of 1024)",
			 size_str(HPOOL__SHM_MIN, lo, sizeof(lo)),
			 size_str(HPOOL__SHM_MAX, hi, sizeof(hi)));
		return env_fail("HPOOL_SHM_SIZE", v, what);
	}

	if (cfg->mode != HPOOL_MODE_ENV)
		s.mode = cfg->mode;
	if (cfg->workers)
		s.workers = cfg->workers;
	if (cfg->bind != -1)
		s.bind = cfg->bind;
	if (cfg->start != -1)
		s.start = cfg->start;
	if (cfg->shm_size)
		s.shm_size = cfg->shm_size;
	if (cfg->progress != -1)
		s.progress = cfg->progress;
	if (cfg->threaded_fork != -1)
		s.threaded_fork = cfg->threaded_fork;
	if (cfg->hybrid_processes) {
		s.hybrid_procs = cfg->hybrid_processes;
		s.hybrid_threads = cfg->hybrid_threads;
	}
	/* Hybrid: the total thread count and an explicit shape must agree
	 * (HPOOL_WORKERS stays the total; a shape says how it is split). */
	if (s.mode == HPOOL_MODE_HYBRID && s.hybrid_procs && s.workers &&
	    s.workers != s.hybrid_procs * s.hybrid_threads)
		return hpool__fail(-EINVAL,
			"hpool_create: %u workers (HPOOL_WORKERS or "
			"hpool_config.workers) but a hybrid shape of %ux%u "
			"(HPOOL_HYBRID or hpool_config.hybrid_*): expected "
			"workers = processes x threads, or one of them unset",
			s.workers, s.hybrid_procs, s.hybrid_threads);

	*out = s; /* only on success: a failed call leaves *out alone */
	return 0;
}
