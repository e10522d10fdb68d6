/* SPDX-License-Identifier: MIT */
/*
 * hpool: one pool API over pthreads, forked processes, or the caller itself.
 *
 * Model.
 *  - Mode is chosen at run time: HPOOL_MODE=thread|process|serial|mpi|hybrid (or the
 *    config field). The same program, linked once, gives the same results
 *    in every mode.
 *  - Everything the caller and the workers share lives in one shared region,
 *    mmap(MAP_SHARED|MAP_ANONYMOUS) before any worker exists, so it sits at
 *    the same address in the caller and every worker, in every mode.
 *  - Work is published in that region as segments of items; free workers
 *    claim ranges of items with one atomic operation (pull scheduling), so
 *    no item waits behind a slow one while a worker is idle. No lock is
 *    ever held by a worker, so a worker that dies at any instruction cannot
 *    wedge the pool: its running item fails with HPOOL_ECRASH, a
 *    replacement starts and every other item completes exactly once.
 *  - A task may call the pool that runs it (nested work): a worker that
 *    waits for its subtasks runs other published work meanwhile.
 *  - What is copied: `in` items and `ctx` bytes (ctx once per call), and the
 *    results back into `out`. What is not: memory from hpool_shm_alloc(),
 *    which every worker sees in place. Function pointers are used as they
 *    are: workers are forked from (or are threads of) the caller.
 *  - HPOOL_MODE=mpi (built with Open MPI; docs/mpi.md): under mpirun, rank 0
 *    is the caller and every other rank, inside its first hpool_create,
 *    serves with a local process pool and never returns. Across ranks
 *    everything is copied: ctx, in, results, and hpool_shm_alloc() memory
 *    too (plain bytes; pointers inside are not followed); functions cross
 *    as (module, offset) after a build-id check.
 *  - Errors: every call returns 0 or a negative code: -errno, or one of the
 *    HPOOL_E* codes below (all below -4096). hpool_last_error() says more.
 */
#ifndef HPOOL_H
#define HPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; hpool_version() gives the library's. configure
 * checks that these agree with the package version (AC_INIT). */
#define HPOOL_VERSION_MAJOR 0
#define HPOOL_VERSION_MINOR 2
#define HPOOL_VERSION_PATCH 0

#if defined(HPOOL_BUILDING) && defined(__GNUC__)
#define HPOOL_API __attribute__((visibility("default")))
#else
#define HPOOL_API
#endif

typedef struct hpool hpool;               /* opaque pool */
typedef struct hpool_future hpool_future; /* one submitted task */
typedef struct hpool_iter hpool_iter;     /* the result stream of one imap */

typedef enum hpool_mode {
	HPOOL_MODE_ENV = 0, /* read HPOOL_MODE; when unset: process */
	HPOOL_MODE_THREAD,  /* workers are pthreads of this process */
	HPOOL_MODE_PROCESS, /* workers are processes forked from this one */
	HPOOL_MODE_SERIAL,  /* no workers: tasks run in the calling thread */
	HPOOL_MODE_MPI,     /* MPI ranks started by mpirun (built with MPI) */
	HPOOL_MODE_HYBRID,  /* processes x threads, shaped by the machine */
} hpool_mode;

/* Library error codes: all below -4096, so they never meet an -errno. */
#define HPOOL_ETASK (-5001)     /* a task returned nonzero (see its status) */
#define HPOOL_ECRASH (-5002)    /* the worker running the item died */
#define HPOOL_ECANCELED (-5003) /* the pool was terminated before the item ran */
#define HPOOL_ECLOSED (-5004)   /* the pool no longer takes work */
#define HPOOL_DONE (-5005)      /* hpool_next: the stream is finished */
#define HPOOL_EFORKED (-5006)   /* pool used from a child forked by its owner */

/* One task: read `in` (and `ctx`), write the result to `out`. Returns 0 or
 * a nonzero code that becomes the item's status; use positive codes, since
 * negative ones can be mistaken for -errno and HPOOL_E* values. Runs
 * unchanged in every mode; in process mode it runs in a forked worker, so
 * it must not rely on writes to the caller's private memory. */
typedef int (*hpool_fn)(void *out, const void *in, const void *ctx);

typedef struct hpool_config {
	hpool_mode mode;   /* HPOOL_MODE_ENV by default */
	unsigned workers;  /* 0: $HPOOL_WORKERS, else one per physical core
			      of the cpuset this process may run on */
	int (*init)(const void *ctx); /* run once per worker before its first
					 task, in the thread that runs its
					 tasks (keep per-worker state in
					 _Thread_local); nonzero fails
					 hpool_create */
	const void *init_ctx; /* copied into the region; may be NULL */
	size_t init_ctx_size;
	unsigned max_tasks_per_worker; /* process mode: replace a worker after
					  this many items; 0 = never */
	size_t shm_size; /* arena bytes; 0: $HPOOL_SHM_SIZE, else 256 MiB
			    (reserved address space; pages are used on touch) */
	int bind;        /* -1: $HPOOL_BIND; 0: none; 1: one core per worker */
	int start;       /* process mode, how workers are forked: -1:
			    $HPOOL_START; 0: fork (from this process);
			    1: forkserver (from a clean single-threaded
			    process made early, see hpool_forkserver_start) */
	int progress;    /* -1: $HPOOL_PROGRESS; 0: none; 1: a bar on stderr
			    for maps and imaps that run over half a second,
			    when stderr is a terminal (opts.progress still
			    works beside it) */
	int threaded_fork; /* process mode, start = fork, when this process
			    runs other threads: -1: $HPOOL_THREADED_FORK;
			    0: allow (hpool_create returns 0 and says so in
			    hpool_last_error()); 1: refuse (-EDEADLK: a lock
			    another thread holds stays locked in workers) */
	/* Hybrid mode's shape: hybrid_processes worker processes of
	 * hybrid_threads worker threads each (both 0: $HPOOL_HYBRID="PxT",
	 * else one process per NUMA node, or package, or L3 cache, with a
	 * thread per core of it). `workers`/$HPOOL_WORKERS stays the total
	 * thread count: given alone, it is split over the machine's
	 * processes; given with a shape, it must equal P x T. */
	unsigned hybrid_processes;
	unsigned hybrid_threads;
} hpool_config;

/* Fill *cfg with the defaults (all fields 0; bind, start, progress and
 * threaded_fork -1: from the environment).
 * Context: any thread. Return: nothing (cfg NULL is ignored). */
HPOOL_API void hpool_config_init(hpool_config *cfg);

/* Create a pool: map the shared region, start the workers, run `init` in
 * each and wait until all are ready. cfg NULL: defaults and environment.
 * Context: any thread. In process mode, forking from a process that runs
 *   other threads is allowed but reported by hpool_last_error().
 * Return: 0; -EINVAL (bad config or HPOOL_* value, message names it);
 *   -ENOMEM; HPOOL_ETASK (an init returned nonzero); HPOOL_ECRASH (a worker
 *   died in init, or the supervisor died before the workers were ready);
 *   -errno of a failed fork, pthread_create or mmap (-EAGAIN, -ENOMEM). */
HPOOL_API int hpool_create(hpool **pool, const hpool_config *cfg);

/* Finish all queued work, stop the workers, free everything. Futures not
 * yet waited keep their results and stay valid for hpool_wait.
 * Context: one thread, after every other call on this pool has returned.
 * Return: 0; -EINVAL (NULL); HPOOL_ECLOSED (already destroyed);
 *   HPOOL_EFORKED; HPOOL_ECRASH (the supervisor died or failed once asked
 *   to stop: the pool is freed all the same, the message names it). */
HPOOL_API int hpool_destroy(hpool *pool);

/* Stop now: kill (process mode) or abandon (thread mode, see README) the
 * running tasks; every unfinished item fails with HPOOL_ECANCELED; free.
 * Returns within a second even while long tasks run.
 * Context: any thread; calls blocked in other threads return.
 * Return: as hpool_destroy. */
HPOOL_API int hpool_terminate(hpool *pool);

/* Start the fork server now: a single-threaded process, forked from this
 * one, from which process pools created with start = forkserver fork their
 * supervisor (and so every worker). Workers then never inherit a lock that
 * another thread of the caller held at fork time, nor its OpenMP state.
 * Call it at the top of main, before any thread exists (setting
 * HPOOL_START=forkserver in the environment does it before main). Code
 * loaded later with dlopen is not in the server's workers.
 * Context: any thread; idempotent.
 * Return: 0; -errno of socketpair or fork. */
HPOOL_API int hpool_forkserver_start(void);

/* The pool's mode and worker count.
 * Context: any thread.
 * Return: the pool's mode; its worker count (1 in serial mode: the
 *   caller); HPOOL_MODE_ENV / 0 for a bad pool (message set). */
HPOOL_API hpool_mode hpool_mode_of(const hpool *pool);
HPOOL_API unsigned hpool_workers(const hpool *pool);

typedef struct hpool_map_opts {
	size_t chunk; /* items per task; 0: automatic (guided) */
	int *status;  /* optional: n ints, each item's status */
	void (*progress)(size_t done, size_t total, void *arg);
	void *progress_arg;
	int64_t timeout_ns; /* per item; 0: none */
} hpool_map_opts;

/* out[i] = fn(in[i]) for every i < n; blocks until all are done.
 * ctx (ctx_size bytes) is copied once and shown to every task.
 * Context: any thread, several at once.
 * Return: 0 when every item succeeded; else the first failure by index:
 *   HPOOL_ETASK, HPOOL_ECRASH, -ETIMEDOUT, HPOOL_ECANCELED; -EINVAL (bad
 *   arguments, nothing run); -ENOMEM (arena too small for one chunk);
 *   HPOOL_ECLOSED; HPOOL_EFORKED. */
HPOOL_API int hpool_map(hpool *pool, hpool_fn fn, const void *ctx,
			size_t ctx_size, const void *in, size_t in_size,
			void *out, size_t out_size, size_t n,
			const hpool_map_opts *opts);

/* One task, asynchronously. Waits while the pool's table of published
 * work (256 segments not yet claimed) is full.
 * Context: any thread.
 * Return: 0 and *fut; -EINVAL; -ENOMEM; HPOOL_ECLOSED; HPOOL_EFORKED. */
HPOOL_API int hpool_submit(hpool *pool, hpool_fn fn, const void *ctx,
			   size_t ctx_size, const void *in, size_t in_size,
			   size_t out_size, hpool_future **fut);

/* Wait for the task and copy its result (out_size bytes) to `out` (may be
 * NULL). timeout_ns < 0: forever; 0: poll.
 * Context: one thread per future.
 * Return: the item's status: 0, the task's own nonzero code, HPOOL_ECRASH,
 *   -ETIMEDOUT (task overdue), HPOOL_ECANCELED; or -ETIMEDOUT when this
 *   wait timed out (the future stays valid; any other return frees it);
 *   -EINVAL (NULL future); HPOOL_EFORKED (a child forked from the owner:
 *   the future stays the owner's). */
HPOOL_API int hpool_wait(hpool_future *fut, void *out, int64_t timeout_ns);

/* Is the task done? Context: any thread.
 * Return: 1 when the task is done (or its pool was destroyed), else 0. */
HPOOL_API int hpool_ready(const hpool_future *fut);

/* Wait until at least one of futs[0..n) is done; *index is its position.
 * Does not free it: collect it with hpool_wait(futs[*index], out, 0).
 * NULL entries are skipped; futures of several pools may be mixed.
 * timeout_ns < 0: forever; 0: poll.
 * Context: any thread (each future collected by one thread).
 * Return: 0; -ETIMEDOUT (nothing finished in time); -EINVAL (index or
 *   futs NULL, or no future among the entries). */
HPOOL_API int hpool_wait_any(hpool_future *const *futs, size_t n,
			     int64_t timeout_ns, size_t *index);

/* Cancel a task that has not started: it will never run, and a later
 * hpool_wait returns HPOOL_ECANCELED and frees the future.
 * Context: any thread.
 * Return: 0; -EBUSY (already running or done); -EINVAL (NULL). */
HPOOL_API int hpool_cancel(hpool_future *fut);

/* Drop a future that will never be waited: cancels its task if it has
 * not started, discards its result otherwise, and frees the future (the
 * region block of a task still running is freed after it finishes, by a
 * later submit or when the arena runs short, or by hpool_destroy).
 * Context: any thread. Return: nothing (NULL ignored). */
HPOOL_API void hpool_future_free(hpool_future *fut);

/* Results as a stream: ordered 1 in input order, 0 in completion order.
 * Input is read ahead by a bounded window, never all of it: at most 64
 * items per worker (or 4 chunks) or an eighth of the results taken so
 * far, whichever is more, plus up to 256 finished results held ready.
 * `in` must stay valid until hpool_iter_free.
 * Context: any thread; the iterator belongs to one thread.
 * Return: as hpool_submit. */
HPOOL_API int hpool_imap(hpool *pool, hpool_fn fn, const void *ctx,
			 size_t ctx_size, const void *in, size_t in_size,
			 size_t out_size, size_t n, int ordered,
			 const hpool_map_opts *opts, hpool_iter **it);

/* Next result: sets *index, copies the result to `out` (may be NULL).
 * When no result is handed out, *index is SIZE_MAX: that tells a wait that
 * timed out from an item whose own status is -ETIMEDOUT (opts.timeout_ns).
 * Context: the iterator's thread.
 * Return: the item's status (as hpool_wait), HPOOL_DONE at the end,
 *   -ETIMEDOUT when nothing arrived in time, -EINVAL (NULL iterator),
 *   HPOOL_ECLOSED (the pool was destroyed), HPOOL_EFORKED, -ENOMEM (no
 *   room for the next chunk in the arena). */
HPOOL_API int hpool_next(hpool_iter *it, size_t *index, void *out,
			 int64_t timeout_ns);

/* Free the iterator; items still running are waited for and dropped.
 * Context: the iterator's thread. Return: nothing (NULL is ignored). */
HPOOL_API void hpool_iter_free(hpool_iter *it);

/* Memory that the caller and every worker see at the same address; passed
 * as in/out/ctx (or pointed to from them) it is used in place, not copied.
 * Its pages land on the NUMA node of whoever writes them first (there is
 * no node argument: data a hybrid process should keep on its own node is
 * better allocated privately in init). hpool_shm_free gives a block back; a pointer that is not a live block of
 * this pool (freed twice, never allocated here) is refused and reported
 * in hpool_last_error(), never freed.
 * Context: any thread of the caller.
 * Return: the block (16-byte aligned; 4096 from 4 KiB up), or NULL with
 *   hpool_last_error() set (arena exhausted, size 0, bad pool);
 *   hpool_shm_free returns nothing. */
HPOOL_API void *hpool_shm_alloc(hpool *pool, size_t size);
HPOOL_API void hpool_shm_free(hpool *pool, void *ptr);

/* Context: any thread, signal handlers too (static strings).
 * Return: a description of `code`. */
HPOOL_API const char *hpool_strerror(int code);

/* This thread's last failure, in words: which call, item, worker, pid,
 * signal or variable. Context: any thread. Return: never NULL. */
HPOOL_API const char *hpool_last_error(void);

/* The version of the library that is running: "MAJOR.MINOR.PATCH", which
 * may be newer than the HPOOL_VERSION_* macros the program was built with.
 * Context: any thread, signal handlers too (a static string).
 * Return: the version string; never NULL. */
HPOOL_API const char *hpool_version(void);

#ifdef __cplusplus
}
#endif
#endif /* HPOOL_H */
