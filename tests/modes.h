/* SPDX-License-Identifier: MIT */
/*
 * Every pool test runs in every mode: run_in_every_mode runs a cmocka
 * group once for thread, process, serial and hybrid mode (and mpi when
 * asked for), named
 * "<suite>/<mode>", setting *mode before each.
 *
 * HPOOL_TEST_MODE picks some: a mode name (thread, process, serial,
 * hybrid, mpi) or a comma-separated list of them (unset: all but mpi).
 * mpi runs only when named, under mpirun (tests/mpi-tests.sh): every rank
 * runs the program, the ranks > 0 become servers in their first
 * hpool_create and never return, so their stdout (cmocka's headers up to
 * that point) is sent to /dev/null here. A value that names no mode (a
 * typo such as
 * "procss", an empty value) is an error: the program says so and exits 99
 * (automake's hard error) rather than run nothing and pass.
 *
 * A test that does not apply in some mode says so with SKIP_IN_MODE(mode,
 * why): the reason is printed and cmocka reports the test SKIPPED, never
 * passed.
 *
 * Return (run_in_every_mode): 0 when every test that ran passed, else 1 (a
 * value for main).
 * The including file has included <cmocka.h> and hpool.h.
 */
#ifndef HPOOL_TEST_MODES_H
#define HPOOL_TEST_MODES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "san.h"

static const struct {
	hpool_mode m;
	const char *name;
} test_modes[] = {
	{ HPOOL_MODE_THREAD, "thread" },
	{ HPOOL_MODE_PROCESS, "process" },
	{ HPOOL_MODE_SERIAL, "serial" },
	{ HPOOL_MODE_HYBRID, "hybrid" },
	{ HPOOL_MODE_MPI, "mpi" },
};
#define TEST_MPI_BIT 16u          /* test_modes[4] */
/* ThreadSanitizer cannot see the happens-before that passes through the
 * caller, in another process, between two threads of a hybrid worker that
 * reuse the same region cell: it reports races there that are not. Its
 * builds leave hybrid out of the default modes (asking for it still runs
 * it). */
#ifdef HPOOL_TEST_TSAN
#define TEST_DEFAULT_MODES 7u     /* thread, process, serial */
#else
#define TEST_DEFAULT_MODES 15u    /* all but mpi */
#endif

#define TEST_NMODES (sizeof(test_modes) / sizeof(test_modes[0]))

static inline const char *test_mode_name(hpool_mode m)
{
	for (unsigned i = 0; i < TEST_NMODES; i++)
		if (test_modes[i].m == m)
			return test_modes[i].name;
	return "?";
}

#define SKIP_IN_MODE(mode, why)                                            \
	do {                                                               \
		print_message("[   NOTE   ] not in %s mode: %s\n",        \
			      test_mode_name(mode), (why));                \
		skip();                                                    \
	} while (0)

/* Which modes HPOOL_TEST_MODE selects (bit i: test_modes[i]); exits 99
 * when it names no mode or a word that is not one. */
static unsigned test_mode_filter(void)
{
	const char *env = getenv("HPOOL_TEST_MODE");
	unsigned sel = 0;
	char buf[128], *save = NULL;

	if (!env)
		return TEST_DEFAULT_MODES;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *w = strtok_r(buf, ", ", &save); w;
	     w = strtok_r(NULL, ", ", &save)) {
		unsigned i;

		for (i = 0; i < TEST_NMODES && strcmp(w, test_modes[i].name);
		     i++)
			;
		if (i == TEST_NMODES) {
			sel = 0;
			break;
		}
		sel |= 1u << i;
	}
	if (!sel || strlen(env) >= sizeof(buf)) {
		fprintf(stderr, "HPOOL_TEST_MODE=\"%s\" names no mode: want "
			"thread, process, serial, hybrid or mpi, or a "
			"comma-separated list of them (unset: all but mpi)\n",
			env);
		exit(99);
	}
	return sel;
}

static int run_in_every_mode(const char *suite, const struct CMUnitTest *tests,
			     size_t n, hpool_mode *mode)
{
	unsigned sel = test_mode_filter();
	int fails = 0;

	if ((sel & TEST_MPI_BIT) && getenv("OMPI_COMM_WORLD_RANK") &&
	    strcmp(getenv("OMPI_COMM_WORLD_RANK"), "0"))
		freopen("/dev/null", "w", stdout); /* a server rank */
	for (unsigned i = 0; i < TEST_NMODES; i++) {
		char name[64];

		if (!(sel & (1u << i)))
			continue;
		snprintf(name, sizeof(name), "%s/%s", suite,
			 test_modes[i].name);
		*mode = test_modes[i].m;
		fails += _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	}
	return fails ? 1 : 0;
}

#endif /* HPOOL_TEST_MODES_H */
