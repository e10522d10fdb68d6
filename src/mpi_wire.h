/* SPDX-License-Identifier: MIT */
/*
 * The MPI backend's wire protocol, between rank 0 (the caller, through
 * backend_mpi.c) and every other rank (a server, mpi_server.c), and the
 * session both sides share (mpi_comm.c). Only built with MPI.
 *
 * Messages (MPI_BYTE buffers on MPI_COMM_WORLD; a fixed header, then the
 * bytes it announces). Rank 0 sends every request with tag TAG_REQ; a
 * server answers pool P with tag TAG_ANS(P), so that each pool's bridge
 * receives only its own answers (several pools may live at once).
 *
 *   0 -> r  CREATE   a pool: its id, the caller's handle value (a task's
 *                    nested calls on it go to r's local pool), workers per
 *                    rank, init as a function reference + init_ctx bytes,
 *                    the program's build id
 *                    and whether rank 0 serves its own node
 *   r -> 0  CREATED  its local workers (0 on rank 0's node when rank 0
 *                    serves it), host name, or an error and why
 *   0 -> r  BATCH    items [lo, hi) of one segment: function reference,
 *                    ctx bytes, the items' inputs; `batch` names the claim
 *                    record that holds the range on rank 0
 *   r -> 0  RESULT   per item: status, then the outputs; a note (why the
 *                    first failed item failed, in the server's words)
 *   0 -> r  DESTROY  drain (now = 0) or terminate (now = 1) that pool
 *   r -> 0  DESTROYED  the local pool is gone; no RESULT of it follows
 *                    (MPI does not reorder messages of one pair on one
 *                    communicator: every RESULT of the pool came before)
 *   0 -> r  STOP     rank 0 is finalizing: the server exits
 *
 * Pull, not push: rank 0 sends a server at most 2 batches per local worker
 * it has (credits); each RESULT gives a credit back. A batch carries a
 * guided share of what is left (claim.c, hpool__claim_batch), so one
 * message serves many items.
 */
#ifndef HPOOL_MPI_WIRE_H
#define HPOOL_MPI_WIRE_H

#include "internal.h"

#include <mpi.h>

#define HPOOL__MPI_TAG_REQ 1
/* Under 32767, the smallest MPI_TAG_UB the standard allows: pools whose
 * ids are 32000 apart share a tag, harmless unless both live at once. */
#define HPOOL__MPI_TAG_ANS(pool) (16 + (int)((pool) % 32000))
#define HPOOL__MPI_CREDITS 2 /* batches in flight per server worker */

enum hpool__mpi_kind {
	HPOOL__MSG_CREATE = 1,
	HPOOL__MSG_CREATED,
	HPOOL__MSG_BATCH,
	HPOOL__MSG_RESULT,
	HPOOL__MSG_DESTROY,
	HPOOL__MSG_DESTROYED,
	HPOOL__MSG_STOP,
};

#define HPOOL__BUILD_ID_MAX 32
#define HPOOL__MODULE_MAX 256

/* A function as every rank can find it: the module that holds it (its
 * path as the dynamic linker names it; "" is the program), its build id,
 * and the offset from the module's load base. */
struct hpool__fnref {
	uint64_t offset;
	uint32_t id_len;
	unsigned char id[HPOOL__BUILD_ID_MAX];
	char module[HPOOL__MODULE_MAX];
};

struct hpool__msg {
	uint32_t kind;           /* enum hpool__mpi_kind */
	uint32_t pool;           /* pool id (rank 0's count of pools) */
	uint32_t batch;          /* BATCH/RESULT: the claim record */
	uint32_t count;          /* BATCH/RESULT: items */
	int32_t err;             /* CREATED/RESULT: 0 or why all failed */
	uint32_t workers;        /* CREATE: per rank (0: its share);
				    CREATED: the local pool's */
	uint32_t max_tasks;      /* CREATE */
	uint32_t chunk;          /* BATCH: the call's chunk (0: auto) */
	uint64_t handle;         /* CREATE: rank 0's handle value */
	uint64_t shm_size;       /* CREATE */
	uint64_t in_size, out_size, ctx_size; /* BATCH; CREATE: init_ctx */
	int64_t timeout_ns;      /* BATCH */
	int32_t bind;            /* CREATE */
	uint32_t has_fn;         /* CREATE: an init function */
	uint32_t rank0_node;     /* CREATE: rank 0 runs its own node's pool:
				    the servers there run none */
	struct hpool__fnref fn;  /* BATCH: the task; CREATE: init */
	uint32_t prog_id_len;    /* CREATE: the program's build id */
	unsigned char prog_id[HPOOL__BUILD_ID_MAX];
	char host[64];           /* CREATED, RESULT: the server's host */
	char note[320];          /* CREATED, RESULT: why, in words */
	char cpus[256];          /* CREATED: a server that runs no pool, as
				    rank 0 serves its node: the PUs mpirun
				    bound it to (an hwloc list; "" if longer),
				    which rank 0's workers then use */
};

/* ---- mpi_fnref.c: functions across ranks ---------------------------------- */

/* The reference of code address fn in this process. Return: 0, or
 * -ENOENT when no loaded module holds it (message set). */
HPOOL_INTERNAL int hpool__fnref_make(const void *fn, struct hpool__fnref *r);
/* The address of r in this process. Return: 0, -ENOENT (module not
 * loaded here), -ENOEXEC (another build of it), with `why` filled in. */
HPOOL_INTERNAL int hpool__fnref_resolve(const struct hpool__fnref *r,
					void **fn, char *why, size_t len);
/* This process's program build id (HPOOL_MPI_FAKE_BUILD_ID, a test hook,
 * replaces it). Return: its length (0: none). */
HPOOL_INTERNAL unsigned hpool__program_build_id(unsigned char *id,
						unsigned max);
/* The build id as hex, for messages. */
HPOOL_INTERNAL void hpool__build_id_hex(const unsigned char *id, unsigned n,
					char *buf, size_t len);

/* ---- mpi_comm.c: the session ----------------------------------------------- */

/* MPI initialized (by us, once per process, with MPI_THREAD_SERIALIZED,
 * or by the program with at least that), and this process's rank and
 * size. Return: 0, or -EINVAL with the message set (not under mpirun,
 * one rank, a thread level too low). */
HPOOL_INTERNAL int hpool__mpi_session(int *rank, int *size);
/* Server ranks on this process's node (>= 1): they split its cores. */
HPOOL_INTERNAL int hpool__mpi_node_servers(void);
/* Does rank 0 run on this process's node? */
HPOOL_INTERNAL bool hpool__mpi_node_has_rank0(void);
/* This server rank's place among them (0 ..), by world rank. */
HPOOL_INTERNAL int hpool__mpi_node_index(void);
/* Every MPI call on rank 0 is made under this lock (pools' bridges and
 * creating threads share the one library). */
HPOOL_INTERNAL void hpool__mpi_lock(void);
HPOOL_INTERNAL void hpool__mpi_unlock(void);
/* Has MPI_Finalize begun (a pool outlived the program's main)? Then no
 * MPI call may be made. Context: under hpool__mpi_lock. */
HPOOL_INTERNAL bool hpool__mpi_over(void);
/* A server's life (mpi_server.c): serve rank 0, then MPI_Finalize and
 * exit(0). Never returns. */
HPOOL_INTERNAL void hpool__mpi_serve(int rank, int size)
	__attribute__((noreturn));

#endif /* HPOOL_MPI_WIRE_H */
