/* SPDX-License-Identifier: MIT */
/*
 * Every pool test runs in every mode: run_in_every_mode runs a cmocka
 * group once for thread, process and serial mode, named "<suite>/<mode>",
 * setting *mode before each. HPOOL_TEST_MODE=thread|process|serial runs
 * only the groups whose name contains it. Return: 0 when every test
 * passed, else 1 (a value for main).
 * The including file has included <cmocka.h> and hpool.h.
 */
#ifndef HPOOL_TEST_MODES_H
#define HPOOL_TEST_MODES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_in_every_mode(const char *suite, const struct CMUnitTest *tests,
			     size_t n, hpool_mode *mode)
{
	static const struct { hpool_mode m; const char *name; } modes[] = {
		{ HPOOL_MODE_THREAD, "thread" },
		{ HPOOL_MODE_PROCESS, "process" },
		{ HPOOL_MODE_SERIAL, "serial" },
	};
	const char *only = getenv("HPOOL_TEST_MODE");
	int fails = 0;

	for (unsigned i = 0; i < 3; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s/%s", suite, modes[i].name);
		if (only && !strstr(name, only))
			continue;
		*mode = modes[i].m;
		fails += _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	}
	return fails ? 1 : 0;
}

#endif /* HPOOL_TEST_MODES_H */
