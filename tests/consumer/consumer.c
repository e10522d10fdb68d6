/* SPDX-License-Identifier: MIT */
/*
 * A program outside the tree, built against an installed hpool by
 * tests/check_consumers.sh: shared through pkg-config, static through
 * `pkg-config --static` and libhpool.a, and with CMake's find_package and
 * pkg_check_modules. It checks the header against the library and maps
 * a function; the script compares the line it prints.
 */
#include <hpool.h>

#include <stdio.h>
#include <string.h>

#define N 100

static int square(void *out, const void *in, const void *ctx)
{
	long x = *(const long *)in;

	(void)ctx;
	*(long *)out = x * x;
	return 0;
}

int main(void)
{
	static const char *const names[] = { "env", "thread", "process",
					      "serial" };
	long in[N], out[N], sum = 0;
	char header[32];
	hpool *pool;
	int rc;

	snprintf(header, sizeof(header), "%d.%d.%d", HPOOL_VERSION_MAJOR,
		 HPOOL_VERSION_MINOR, HPOOL_VERSION_PATCH);
	if (strcmp(header, hpool_version())) {
		printf("consumer: header %s, library %s\n", header,
		       hpool_version());
		return 1;
	}
	for (long i = 0; i < N; i++)
		in[i] = i;
	if (hpool_create(&pool, NULL)) {
		printf("consumer: hpool_create: %s\n", hpool_last_error());
		return 1;
	}
	rc = hpool_map(pool, square, NULL, 0, in, sizeof(in[0]), out,
		       sizeof(out[0]), N, NULL);
	if (rc) {
		printf("consumer: hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	for (int i = 0; i < N; i++)
		sum += out[i];
	printf("consumer: hpool %s, %s mode, sum of squares below %d = %ld\n",
	       hpool_version(), names[hpool_mode_of(pool)], N, sum);
	return hpool_destroy(pool) != 0;
}
