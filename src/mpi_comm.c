/* SPDX-License-Identifier: MIT */
/*
 * The MPI session of a process: MPI initialized once (by the first
 * hpool_create in mpi mode, unless the program did it), the rank, the
 * node's share of cores, and the end: on rank 0, STOP goes to every
 * server when MPI_Finalize begins (an attribute of MPI_COMM_SELF, whose
 * delete callback the standard runs first thing in MPI_Finalize, whoever
 * calls it), and an atexit hook finalizes if the program did not.
 *
 * Not started by mpirun: OMPI_COMM_WORLD_SIZE (and PMIX_RANK) unset, the
 * session refuses with -EINVAL and says how to start the program; a
 * one-rank job is refused too (no rank would serve).
 */
#include "mpi_wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mpi_mu = PTHREAD_MUTEX_INITIALIZER;
static int s_rank = -1, s_size;
static bool s_we_init;
static bool s_over; /* MPI_Finalize began (under mpi_mu) */
static int s_node_servers = 1; /* server ranks on this node */
static int s_node_index;       /* this server's place among them */
static bool s_node_rank0;      /* rank 0 runs on this node */
/* The process that began the session: a process forked from it (a
 * worker of rank 0's own pool) inherits MPI's state but may not call
 * MPI. Written once, before any pool forks. */
static _Atomic int s_pid;

void hpool__mpi_lock(void)
{
	pthread_mutex_lock(&mpi_mu);
}

void hpool__mpi_unlock(void)
{
	pthread_mutex_unlock(&mpi_mu);
}

bool hpool__mpi_over(void)
{
	return s_over;
}

/* MPI_Finalize is starting on rank 0 (the lock is held by whoever
 * finalizes through us; a program's own MPI_Finalize holds none, and no
 * pool may live then). */
static int stop_servers(MPI_Comm comm, int key, void *val, void *extra)
{
	struct hpool__msg m;
	int r;

	s_over = true;
	memset(&m, 0, sizeof(m));
	m.kind = HPOOL__MSG_STOP;
	for (r = 1; r < s_size; r++)
		MPI_Send(&m, sizeof(m), MPI_BYTE, r, HPOOL__MPI_TAG_REQ,
			 MPI_COMM_WORLD);
	return MPI_SUCCESS;
}

static void finalize_at_exit(void)
{
	int done = 0;

	hpool__mpi_lock();
	MPI_Finalized(&done);
	s_over = true; /* a pool still alive: its bridge stops calling MPI */
	if (!done)
		MPI_Finalize();
	hpool__mpi_unlock();
}

int hpool__mpi_node_servers(void)
{
	return s_node_servers;
}

bool hpool__mpi_node_has_rank0(void)
{
	return s_node_rank0;
}

int hpool__mpi_node_index(void)
{
	return s_node_index;
}

int hpool__mpi_session(int *rank, int *size)
{
	int init = 0, done = 0, level = 0, key;
	int pid = atomic_load_explicit(&s_pid, memory_order_relaxed);

	/* Before the lock: a thread of the parent may have held it at the
	 * fork. */
	if (pid && pid != getpid())
		return hpool__fail(-EINVAL, "hpool_create: HPOOL_MODE=mpi in "
				   "a process forked from an MPI rank (a task "
				   "of a worker process): only the rank itself "
				   "may call MPI; make a process-mode pool "
				   "here (a task's pool runs on its node)");
	hpool__mpi_lock();
	if (s_rank >= 0) {
		MPI_Finalized(&done);
		hpool__mpi_unlock();
		if (done)
			return hpool__fail(-EINVAL, "hpool_create: HPOOL_MODE="
					   "mpi: MPI was finalized already");
		*rank = s_rank;
		*size = s_size;
		return 0;
	}
	if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK")) {
		hpool__mpi_unlock();
		return hpool__fail(-EINVAL, "hpool_create: HPOOL_MODE=mpi, but "
				   "this program was not started by mpirun "
				   "(OMPI_COMM_WORLD_SIZE is unset): run it as "
				   "`mpirun -n N prog` (rank 0 runs the "
				   "program, the other ranks serve), or choose "
				   "another mode");
	}
	MPI_Initialized(&init);
	if (!init) {
		MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &level);
		s_we_init = true;
	} else {
		MPI_Query_thread(&level);
	}
	if (level < MPI_THREAD_SERIALIZED) {
		hpool__mpi_unlock();
		return hpool__fail(-EINVAL, "hpool_create: HPOOL_MODE=mpi "
				   "needs MPI_THREAD_SERIALIZED or more (the "
				   "pool's bridge thread calls MPI); the "
				   "program initialized MPI with level %d",
				   level);
	}
	atomic_store_explicit(&s_pid, (int)getpid(), memory_order_relaxed);
	MPI_Comm_rank(MPI_COMM_WORLD, &s_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &s_size);
	{
		/* Collective over every rank (each comes here once, in its
		 * first hpool_create): the ranks of this node, and whether
		 * rank 0 (which waits more than it computes) is one. */
		MPI_Comm node;
		int n = 1, lowest = 0, me = 0;

		MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED,
				    s_rank, MPI_INFO_NULL, &node);
		MPI_Comm_size(node, &n);
		MPI_Comm_rank(node, &me); /* ordered by world rank */
		MPI_Allreduce(&s_rank, &lowest, 1, MPI_INT, MPI_MIN, node);
		MPI_Comm_free(&node);
		s_node_rank0 = lowest == 0;
		s_node_servers = n - (lowest == 0);
		s_node_index = me - (lowest == 0);
		if (s_node_index < 0)
			s_node_index = 0;
		if (s_node_servers < 1)
			s_node_servers = 1;
	}
	if (s_rank == 0) {
		MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, stop_servers,
				       &key, NULL);
		MPI_Comm_set_attr(MPI_COMM_SELF, key, NULL);
		if (s_we_init)
			atexit(finalize_at_exit);
	}
	*rank = s_rank;
	*size = s_size;
	hpool__mpi_unlock();
	if (s_size < 2)
		return hpool__fail(-EINVAL, "hpool_create: HPOOL_MODE=mpi "
				   "needs at least 2 ranks (rank 0 runs the "
				   "program, the others serve): `mpirun -n N "
				   "prog` with N >= 2");
	return 0;
}
