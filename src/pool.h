/* SPDX-License-Identifier: MIT */
/*
 * The pool's shared structures and the contracts between pool.c (the
 * caller's side), worker.c (the worker loop, in a thread or a process) and
 * supervisor.c (process mode: forks, reaps, repairs, replaces).
 *
 * Everything declared `shared` here lives in the shared region and holds
 * same-address pointers into the region only (never into a process's
 * private memory), except hpool__job.fn and .init, which are code addresses,
 * the same in every worker because workers are threads of the caller or
 * forked from it.
 */
#ifndef HPOOL_POOL_H
#define HPOOL_POOL_H

#include "internal.h"

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
	hpool_mode mode;
	uint32_t max_tasks;          /* process mode recycling, 0 never */
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

/* ---- worker.c ---- */

/* Run items [t->lo, t->hi) of the task at ring index `head`, recording
 * progress in w (NULL: serial mode, in the caller). `post_timeout`: check
 * the timeout after the fact (thread and serial modes, which cannot stop a
 * task). Raises t->lo as items finish. */
HPOOL_INTERNAL void hpool__run_task(struct hpool__wctl *w, uint32_t head,
				    struct hpool__task *t, bool post_timeout,
				    const _Atomic uint32_t *stop);
/* Mark a chunk done and wake its caller (through sh->done: c and its job
 * may be freed as soon as done is stored). */
HPOOL_INTERNAL void hpool__chunk_finish(struct hpool__shared *sh,
					struct hpool__chunk *c);
/* The worker's life: bind, init, then serve its ring until closing and
 * empty (or max_tasks reached). Returns the exit code for a process. */
HPOOL_INTERNAL int hpool__worker_loop(struct hpool__shared *sh, unsigned w,
				      const struct hpool__topo *topo);
/* Fail every unfinished item in w's ring with `code` and release them.
 * Context: nobody consumes the ring (its worker is dead or gone). */
HPOOL_INTERNAL void hpool__ring_fail_all(struct hpool__shared *sh,
					 struct hpool__wctl *w, int code);
/* Repair w's ring after its worker died: keep finished items, fail the one
 * it was running (if any) with `code`, leave the rest for a replacement.
 * `target`: for a timeout kill, the RUN() value that was overdue (a later
 * item is left to run again); HPOOL__IDLE otherwise.
 * Context: the worker was reaped; nobody consumes the ring. */
HPOOL_INTERNAL void hpool__repair(struct hpool__shared *sh,
				  struct hpool__wctl *w, int code,
				  uint64_t target, int sig, int exit_status,
				  pid_t pid);

/* ---- supervisor.c (process mode) ---- */

struct hpool__sup {          /* private to the caller */
	pid_t pid;           /* the supervisor process */
	int req_fd;          /* the caller's end of the request socket */
	int pidfd;           /* fork server's supervisor (not our child): a
				pidfd for it; -1 when we forked it */
};
/* Hold off the fork of any supervisor while this thread has a
 * descriptor open that no process of a pool should inherit (hwloc's files
 * while it loads, a directory of /proc): a supervisor forked by another
 * thread at that moment would copy it, and its workers with it.
 * hpool__sup_start takes it itself. Context: the caller's threads; not
 * recursive; hold it briefly. */
HPOOL_INTERNAL void hpool__fd_lock(void);
HPOOL_INTERNAL void hpool__fd_unlock(void);
/* The table of library descriptors that a new supervisor or server closes
 * (context: hpool__fd_lock held), and the closing (context: a fresh child,
 * the only thread). */
HPOOL_INTERNAL void hpool__lib_fd_add_locked(int fd);
HPOOL_INTERNAL void hpool__lib_fd_del_locked(int fd);
HPOOL_INTERNAL void hpool__close_lib_fds(void);
/* The supervisor's life (what a forked supervisor runs). Return: its exit
 * code. */
HPOOL_INTERNAL int hpool__sup_main(struct hpool__shared *sh,
				   const struct hpool__topo *topo, int req,
				   pid_t owner);
/* Fork the supervisor, which forks the workers. Return: 0 or -errno. */
HPOOL_INTERNAL int hpool__sup_start(struct hpool__shared *sh,
				    const struct hpool__topo *topo,
				    struct hpool__sup *sup);
/* Ask the supervisor something: 'w' wake up and look (timeouts), 'q'
 * drain and quit (destroy), 't' kill everything, cancel, quit
 * (terminate). */
HPOOL_INTERNAL void hpool__sup_request(struct hpool__sup *sup, char what);
/* Wait for the supervisor to exit; return its wait status (0 for a fork
 * server's supervisor, whose status the server collects). */
HPOOL_INTERNAL int hpool__sup_join(struct hpool__sup *sup);

/* ---- forkserver.c ---- */

/* Is this process's fork server running? */
HPOOL_INTERNAL bool hpool__fs_running(void);
/* Have the fork server fork a supervisor for the pool whose region is
 * memfd, mapped at addr (len bytes), root block sh. Return: 0 and *sup;
 * -ENOENT (no server); -errno. */
HPOOL_INTERNAL int hpool__fs_sup_start(int memfd, void *addr, size_t len,
				       struct hpool__shared *sh, int bind,
				       struct hpool__sup *sup);

#endif /* HPOOL_POOL_H */
