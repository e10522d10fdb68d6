/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: libFuzzer target for the configuration and environment
 * parser (src/config.c) and the messages it writes (src/error.c).
 *
 * Input: fields separated by '\n' (a NUL ends a field early, as it would in
 * a real environment string):
 *   field 0..3   values of HPOOL_MODE, HPOOL_WORKERS, HPOOL_BIND,
 *                HPOOL_SHM_SIZE
 *   field 4      optional: bytes that fill an hpool_config (mode, workers,
 *                bind, shm_size) and say which variables are unset
 * Every field also goes through every strict parser directly.
 *
 * Invariants checked (abort() on a violation, so libFuzzer keeps the input):
 *  - each parser agrees with an independent reference parser written from
 *    the rules at the top of config.c, in both directions: what one
 *    accepts the other accepts, with the same value;
 *  - accepted values round-trip: the canonical spelling of the parsed value
 *    is the input (mode, bind, workers), or reproduces the same byte count
 *    (sizes), and lies in range;
 *  - a refused value leaves the output untouched and returns -EINVAL;
 *  - hpool__settings_resolve returns 0 exactly when the reference says the
 *    environment and the config are all valid; then every field of the
 *    result is the expected merge; else -EINVAL, *out untouched, and a
 *    message that names the first bad variable or field and holds only
 *    printable ASCII (the value is quoted and escaped, and cut);
 *  - hpool_strerror never returns NULL or "".
 * ASan and UBSan (the build adds them) catch the rest: overflow, reads past
 * the value, signed overflow in the digit loop.
 *
 * The environment is swapped in as a private `environ` array rather than
 * with setenv(): glibc's setenv keeps every value it ever stored, so a
 * million fuzzed values would grow the heap without bound. getenv() reads
 * the same array either way.
 *
 * Build: `make fuzz` (clang -fsanitize=fuzzer,address,undefined).
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define NFIELDS 5
#define FIELD_MAX 4096

#define CHECK(c)                                                        \
	do {                                                            \
		if (!(c)) {                                             \
			fprintf(stderr, "fuzz_config: %s:%d: check failed:" \
				" %s\n", __FILE__, __LINE__, #c);        \
			abort();                                        \
		}                                                       \
	} while (0)

/* ---- reference parsers, from the rules in config.c's header ------------ */

/* Plain decimal: digits only, no leading zero unless "0". Sets *v (or
 * *overflow when it exceeds UINT64_MAX) and returns the length of the
 * digit run; 0 when s does not start with a valid digit run. */
static size_t ref_digits(const char *s, uint64_t *v, int *overflow)
{
	size_t n = strspn(s, "0123456789");
	unsigned __int128 acc = 0;

	*overflow = 0;
	if (n == 0 || (s[0] == '0' && n > 1))
		return 0;
	for (size_t i = 0; i < n; i++) {
		acc = acc * 10 + (unsigned)(s[i] - '0');
		if (acc > UINT64_MAX) {
			*overflow = 1;
			acc = (unsigned __int128)UINT64_MAX + 1; /* saturate */
		}
	}
	*v = (uint64_t)acc;
	return n;
}

static int ref_mode(const char *s, hpool_mode *m)
{
	if (!strcmp(s, "thread"))
		*m = HPOOL_MODE_THREAD;
	else if (!strcmp(s, "process"))
		*m = HPOOL_MODE_PROCESS;
	else if (!strcmp(s, "serial"))
		*m = HPOOL_MODE_SERIAL;
	else if (!strcmp(s, "mpi"))
		*m = HPOOL_MODE_MPI;
	else if (!strcmp(s, "hybrid"))
		*m = HPOOL_MODE_HYBRID;
	else
		return -EINVAL;
	return 0;
}

static int ref_uint(const char *s, unsigned long max, unsigned long *v)
{
	uint64_t x;
	int ovf;
	size_t n = ref_digits(s, &x, &ovf);

	if (n == 0 || s[n] != '\0' || ovf || x == 0 || x > max)
		return -EINVAL;
	*v = (unsigned long)x;
	return 0;
}

static int ref_bind(const char *s, int *b)
{
	if (!strcmp(s, "none"))
		*b = 0;
	else if (!strcmp(s, "core"))
		*b = 1;
	else
		return -EINVAL;
	return 0;
}

static int ref_size(const char *s, size_t *bytes)
{
	uint64_t x;
	int ovf;
	size_t n = ref_digits(s, &x, &ovf);
	unsigned shift = 0;
	unsigned __int128 val;

	if (n == 0 || ovf)
		return -EINVAL;
	switch (s[n]) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	default: return -EINVAL;
	}
	if (shift && s[n + 1] != '\0')
		return -EINVAL;
	val = (unsigned __int128)x << shift;
	if (val < HPOOL__SHM_MIN || val > HPOOL__SHM_MAX || val > SIZE_MAX)
		return -EINVAL;
	*bytes = (size_t)val;
	return 0;
}

/* ---- the real parsers against the references ---------------------------- */

static const char *const mode_names[] = { NULL, "thread", "process",
					  "serial", "mpi", "hybrid" };

static void check_mode(const char *s)
{
	hpool_mode got = (hpool_mode)77, want = (hpool_mode)77;
	int rc = hpool__parse_mode(s, &got);

	CHECK(rc == ref_mode(s, &want));
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK(got == want); /* the value, or untouched on refusal */
	if (rc == 0) {
		CHECK(got >= HPOOL_MODE_THREAD && got <= HPOOL_MODE_HYBRID);
		CHECK(!strcmp(mode_names[got], s)); /* round trip */
	}
}

static void check_uint(const char *s, unsigned long max)
{
	unsigned long got = 77777, want = 77777;
	char back[32];
	int rc = hpool__parse_uint(s, max, &got);

	CHECK(rc == ref_uint(s, max, &want));
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK(got == want);
	if (rc == 0) {
		CHECK(got >= 1 && got <= max);
		snprintf(back, sizeof(back), "%lu", got);
		CHECK(!strcmp(back, s)); /* plain decimal: one spelling */
	}
}

static void check_bind(const char *s)
{
	int got = 77, want = 77;
	int rc = hpool__parse_bind(s, &got);

	CHECK(rc == ref_bind(s, &want));
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK(got == want);
	if (rc == 0)
		CHECK(!strcmp(got ? "core" : "none", s));
}

static void check_size(const char *s)
{
	size_t got = 77777, want = 77777, again = 0;
	char back[40];
	int rc = hpool__parse_size(s, &got);

	CHECK(rc == ref_size(s, &want));
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK(got == want);
	if (rc == 0) {
		CHECK(got >= HPOOL__SHM_MIN && got <= HPOOL__SHM_MAX);
		/* the byte count, written plainly, is accepted as itself */
		snprintf(back, sizeof(back), "%zu", got);
		CHECK(hpool__parse_size(back, &again) == 0 && again == got);
	}
}

/* ---- the whole resolve ----------------------------------------------- */

static const char *const var_names[4] = { "HPOOL_MODE", "HPOOL_WORKERS",
					  "HPOOL_BIND", "HPOOL_SHM_SIZE" };

/* The message of a refusal: non-empty, printable ASCII only, names `what`. */
static void check_message(const char *what)
{
	const char *m = hpool_last_error();

	CHECK(m && *m);
	CHECK(strlen(m) < 512);
	for (const char *p = m; *p; p++)
		CHECK(*p >= 0x20 && *p < 0x7f);
	CHECK(strstr(m, what));
}

static uint64_t take(const unsigned char **p, size_t *left, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && *left; i++, (*left)--)
		v |= (uint64_t)*(*p)++ << (8 * i);
	return v;
}

static void check_resolve(char *fields[NFIELDS], size_t cfg_len)
{
	const unsigned char *cp = (const unsigned char *)fields[4];
	size_t left = cfg_len;
	unsigned unset = (unsigned)take(&cp, &left, 1);
	char *env[5], *strs[4];
	char **saved = environ;
	struct hpool__settings out, sentinel, want;
	hpool_config cfg;
	const char *bad = NULL; /* what the message must name */
	int ne = 0, rc;

	hpool_config_init(&cfg);
	if (cfg_len > 1) {
		/* cfg fields: small values mostly, sometimes wild ones */
		cfg.mode = (hpool_mode)(int8_t)take(&cp, &left, 1);
		if ((unsigned)cfg.mode > 6)
			cfg.mode = (hpool_mode)(cfg.mode % 5);
		cfg.workers = (unsigned)take(&cp, &left, 2);
		cfg.bind = (int)(int8_t)take(&cp, &left, 1) % 3;
		cfg.shm_size = (size_t)take(&cp, &left, 8);
		if (unset & 0x10)
			cfg.shm_size &= ((size_t)1 << 42) - 1;
	}

	/* The reference merge, in config.c's order: fields first checked,
	 * then every set variable in turn, then fields win. */
	want.mode = HPOOL_MODE_PROCESS;
	want.workers = 0;
	want.bind = 0;
	want.shm_size = HPOOL__SHM_DEFAULT;
	if ((unsigned)cfg.mode > HPOOL_MODE_HYBRID)
		bad = "hpool_config.mode";
	else if (cfg.workers > HPOOL__WORKERS_MAX)
		bad = "hpool_config.workers";
	else if (cfg.bind < -1 || cfg.bind > 1)
		bad = "hpool_config.bind";
	else if (cfg.shm_size && (cfg.shm_size < HPOOL__SHM_MIN ||
				  cfg.shm_size > HPOOL__SHM_MAX))
		bad = "hpool_config.shm_size";
	for (int i = 0; i < 4; i++) {
		size_t len;
		unsigned long w;

		if (unset & (1u << i))
			continue;
		len = strlen(var_names[i]) + 1 + strlen(fields[i]) + 1;
		strs[ne] = malloc(len);
		CHECK(strs[ne]);
		snprintf(strs[ne], len, "%s=%s", var_names[i], fields[i]);
		env[ne] = strs[ne];
		ne++;
		if (bad)
			continue;
		switch (i) {
		case 0:
			if (ref_mode(fields[i], &want.mode))
				bad = var_names[i];
			break;
		case 1:
			if (ref_uint(fields[i], HPOOL__WORKERS_MAX, &w))
				bad = var_names[i];
			else
				want.workers = (unsigned)w;
			break;
		case 2:
			if (ref_bind(fields[i], &want.bind))
				bad = var_names[i];
			break;
		default:
			if (ref_size(fields[i], &want.shm_size))
				bad = var_names[i];
			break;
		}
	}
	env[ne] = NULL;
	if (cfg.mode != HPOOL_MODE_ENV)
		want.mode = cfg.mode;
	if (cfg.workers)
		want.workers = cfg.workers;
	if (cfg.bind != -1)
		want.bind = cfg.bind;
	if (cfg.shm_size)
		want.shm_size = cfg.shm_size;

	memset(&sentinel, 0xa5, sizeof(sentinel));
	out = sentinel;
	environ = env;
	rc = hpool__settings_resolve(cfg_len > 1 ? &cfg : NULL, &out);
	environ = saved;

	if (bad) {
		CHECK(rc == -EINVAL);
		CHECK(!memcmp(&out, &sentinel, sizeof(out)));
		check_message(bad);
	} else {
		CHECK(rc == 0);
		CHECK(out.mode == want.mode);
		CHECK(out.mode >= HPOOL_MODE_THREAD &&
		      out.mode <= HPOOL_MODE_HYBRID);
		CHECK(out.workers == want.workers);
		CHECK(out.workers <= HPOOL__WORKERS_MAX);
		CHECK(out.bind == want.bind);
		CHECK(out.bind == 0 || out.bind == 1);
		CHECK(out.shm_size == want.shm_size);
		CHECK(out.shm_size >= HPOOL__SHM_MIN &&
		      out.shm_size <= HPOOL__SHM_MAX);
	}
	for (int i = 0; i < ne; i++)
		free(strs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[NFIELDS][FIELD_MAX + 1];
	char *fields[NFIELDS];
	size_t lens[NFIELDS] = { 0 };
	unsigned f = 0;
	int code;

	/* Split at '\n'; the last field takes the rest, newlines included. */
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n' && f < NFIELDS - 1) {
			f++;
			continue;
		}
		if (lens[f] < FIELD_MAX)
			buf[f][lens[f]++] = (char)data[i];
	}
	for (f = 0; f < NFIELDS; f++) {
		buf[f][lens[f]] = '\0';
		fields[f] = buf[f];
	}

	for (f = 0; f < NFIELDS; f++) {
		const char *s = fields[f];

		check_mode(s);
		check_bind(s);
		check_size(s);
		check_uint(s, HPOOL__WORKERS_MAX);
		check_uint(s, 1);
		check_uint(s, ULONG_MAX);
		check_uint(s, (unsigned long)lens[f] * 1000 + 7);
	}
	check_resolve(fields, lens[4]);

	/* every code has words */
	memcpy(&code, data, size < sizeof(code) ? size : sizeof(code));
	if (size < sizeof(code))
		code = -(int)size;
	CHECK(hpool_strerror(code) && *hpool_strerror(code));
	return 0;
}
