/* SPDX-License-Identifier: MIT */
/*
 * A module that tests/test_mpi.c dlopens on rank 0 only: a task whose
 * module the servers never loaded must be refused, not called.
 */
int mpi_mod_task(void *out, const void *in, const void *ctx);

int mpi_mod_task(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in * 7;
	return 0;
}
