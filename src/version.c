/* SPDX-License-Identifier: MIT */
/*
 * version.c: hpool_version(), the version of the library that is running.
 *
 * Built from the header's HPOOL_VERSION_* macros, which configure checks
 * against the package version, so the string, the macros, AC_INIT and the
 * tarball's name cannot drift apart.
 */
#include "hpool.h"

#define HPOOL__STR(x) #x
#define HPOOL__XSTR(x) HPOOL__STR(x)

const char *hpool_version(void)
{
	return HPOOL__XSTR(HPOOL_VERSION_MAJOR) "." HPOOL__XSTR(
		HPOOL_VERSION_MINOR) "." HPOOL__XSTR(HPOOL_VERSION_PATCH);
}
