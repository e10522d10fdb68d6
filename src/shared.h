/*
 * The shared-region protocol: the structures that the caller's side (the
 * pool layer), the worker loop (worker.c, in a thread or a process) and
 * the supervisor (supervisor.c: forks, reaps, repairs, replaces) share
 * through the region, and the rules for each word.
 *
 * Everything declared `shared` here lives in the shared region and holds
 * same-address pointers into the region only (never into a process's
 * private memory), except hpool__job.fn and .init, which are code addresses,
 * the same in every worker because workers are threads of the caller or
 * forked from it.
 */
#ifndef HPOOL_SHARED_H
#define HPOOL_SHARED_H

#include "internal.h"
#include "ring.h"

#include <sys/types.h>

#define HPOOL__RING_CAP 64 /* slots per worker ring */

/* Per-item result word (hpool__chunk.res): DONE bit | (uint32_t)status.
 * Stored once, with release, by whoever finishes the item (the worker, or
 * the supervisor repairing a dead one); loaded with acquire by the caller. */
#define HPOOL__RES_DONE ((uint64_t)1 << 32)
#define HPOOL__RES(st) (HPOOL__RES_DONE | (uint32_t)(int32_t)(st))
#define HPOOL__RES_STATUS(r) ((int32_t)(uint32_t)(r))

/* Worker progress record: the item being run (ring index of its slot and
 * the item's index in the chunk), or IDLE. */
#define HPOOL__IDLE UINT64_MAX
#define HPOOL__RUN(head, item) (((uint64_t)(head) << 32) | (uint32_t)(item))

enum hpool__wstate {
	HPOOL__W_STARTING = 0, /* forked or created, init not finished */
	HPOOL__W_READY,        /* running the loop */
	HPOOL__W_INIT_FAILED,  /* init returned nonzero: the slot is dead */
	HPOOL__W_DEAD,         /* no worker will serve this slot again */
};

/* Why the supervisor killed a worker (hpool__wctl.kill_reason). */
enum hpool__kill {
	HPOOL__K_NONE = 0,
	HPOOL__K_TIMEOUT, /* its item overran opts.timeout_ns */
	HPOOL__K_CANCEL,  /* hpool_terminate */
};

/* shared: one per map/imap call or submitted task. */
struct hpool__job {
	hpool_fn fn;
	const void *ctx;         /* region copy, or the caller's shm block */
	size_t in_size, out_size;
	int64_t timeout_ns;      /* per item; 0 none */
};

/* shared: a run of items of one job, the unit that goes through a ring. */
struct hpool__chunk {
	struct hpool__job *job;
	const char *in;          /* item 0's input */
	char *out;               /* item 0's result room */
	size_t first;            /* index of item 0 in the call */
	uint32_t count;
	_Atomic uint32_t done;   /* 1 once every res[] is stored (release) */
	/* the last death that failed one of its items (supervisor writes,
	 * before the release of that item's res) */
	int32_t crash_worker, crash_pid, crash_sig, crash_exit;
	/* The ring slot it was pushed into (caller writes; NULL: none). A
	 * slot can outlive done: when its worker dies after finishing the
	 * chunk but before releasing the slot, the repair finishes the
	 * chunk again. So the caller reuses or frees the cell only once
	 * that ring's head has passed the slot (pool.c, slot_released). */
	struct hpool__ring *ring;
	uint32_t slot;
	uint32_t worker;         /* index of that ring's worker (load count) */
	_Atomic uint64_t res[];  /* per item, see HPOOL__RES */
};

/* shared: one ring slot. The consumer (or the repairing supervisor) may
 * raise lo while the slot is at head. */
struct hpool__task {
	struct hpool__chunk *chunk;
	uint32_t lo, hi;         /* items [lo, hi) still to run */
};

/* shared: one per worker slot. A slot outlives its workers: a replacement
 * takes over the same ring. */
struct hpool__wctl {
	struct hpool__ring *ring;    /* this slot's task ring */
	struct hpool__event wake;    /* the worker sleeps here when idle */
	_Atomic uint32_t state;      /* enum hpool__wstate */
	_Atomic int32_t pid;         /* process mode: current worker */
	/* progress record, written only by the worker, read by the
	 * supervisor after the worker was reaped or to find overdue items */
	_Atomic uint64_t running;    /* HPOOL__RUN(head, item) or IDLE */
	_Atomic int64_t deadline_ns; /* running item's deadline, 0 none */
	_Atomic uint32_t kill_reason; /* supervisor, before kill() */
	uint64_t kill_target;        /* supervisor: running when it killed */
	int32_t init_status;
	uint32_t index;
	uint32_t incarnation;        /* supervisor: workers started here */
} HPOOL__ALIGNED;

/* shared: the pool's root block in the region. */
struct hpool__shared {
	struct hpool__event ready;   /* a worker left STARTING */
	struct hpool__event space;   /* a worker released a ring slot */
	/* A chunk's done was stored; callers wait here on their own chunks'
	 * done flags. In the pool, not in the job: the caller may free the
	 * job the moment it sees done, before the signal reads the event. */
	struct hpool__event done;
	_Atomic uint32_t closing;    /* 1: finish the rings, then exit */
	_Atomic uint32_t timeouts;   /* calls with a timeout in flight */
	uint32_t nworkers;
	/* The backend's workers can die alone (processes): the supervisor
	 * stops overdue items, max_tasks recycles them. Otherwise (threads,
	 * serial) an overdue item is reported when it returns. */
	uint32_t isolated;
	uint32_t max_tasks;          /* isolated: recycle after this many */
	uint32_t omp_threads;        /* OpenMP threads per worker */
	int bind;
	pid_t owner;                 /* the caller's pid */
	int (*init)(const void *ctx);
	const void *init_ctx;        /* region copy */
	struct hpool__wctl w[];
};

/* hpool__shared.closing */
#define HPOOL__CLOSE_DRAIN 1 /* destroy: finish the rings, then exit */
#define HPOOL__CLOSE_NOW 2   /* terminate: stop before the next item */

#define HPOOL__EXIT_INIT 3   /* a process worker's exit code: init failed */

#endif /* HPOOL_SHARED_H */
