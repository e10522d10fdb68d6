/* SPDX-License-Identifier: MIT */
/*
 * Internal declarations shared by the layers of hpool (hpool__ prefix).
 * Layers, bottom up: error, fault, config, topology, shm, ring (ring.h),
 * wait (this header), progress.h, and the MPI wire and helpers
 * (mpi_wire.h: mpi_comm.c, mpi_fnref.c); then shared.h (the region
 * protocol), claim.h (pull scheduling, repair, the thread's own worker
 * identity), worker.h (the worker loop and a worker process's body),
 * libfd.h, supervisor.h, forkserver.h, backend.h (the ways of running
 * workers), pool.h (the caller's side), and on top the MPI backend
 * (mpi_server.c, backend_mpi.c). No layer calls one above it.
 */
#ifndef HPOOL_INTERNAL_H
#define HPOOL_INTERNAL_H

#include "hpool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdatomic.h>
#include <hwloc.h>

/* Non-static internal symbols: hidden from the shared library; the test
 * library builds them with default visibility so tests can call them. */
#ifdef HPOOL_TESTING
#define HPOOL_INTERNAL __attribute__((visibility("default")))
#else
#define HPOOL_INTERNAL __attribute__((visibility("hidden")))
#endif

#define HPOOL__CACHELINE 64
#define HPOOL__ALIGNED __attribute__((aligned(HPOOL__CACHELINE)))

/* x rounded up to a multiple of a (a power of two). */
static inline size_t hpool__align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* ---- error.c ------------------------------------------------------------ */

/* Record this thread's last-error message (printf format). */
HPOOL_INTERNAL void hpool__set_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* Record a message and return `code` (for `return hpool__fail(...)`). */
HPOOL_INTERNAL int hpool__fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A broken invariant: print file, line, message to stderr and abort(). */
HPOOL_INTERNAL void hpool__die(const char *file, int line, const char *msg)
	__attribute__((noreturn));
#define HPOOL__DIE(msg) hpool__die(__FILE__, __LINE__, (msg))
#ifdef HPOOL_DEBUG
#define HPOOL__ASSERT(c) ((c) ? (void)0 : HPOOL__DIE("assertion failed: " #c))
#else
#define HPOOL__ASSERT(c) ((void)0)
#endif
/* Leave a process of the library's (worker, supervisor, fork server):
 * _exit(code), after a leak check in sanitizer builds. */
HPOOL_INTERNAL void hpool__exit(int code) __attribute__((noreturn));
/* AddressSanitizer builds (LeakSanitizer with it). */
#include "sanitizer.h"
#ifdef HPOOL__ASAN
#define HPOOL__LSAN 1
#endif
#ifdef HPOOL__LSAN
/* hpool__exit runs a leak check first: set in a process of the library's
 * whose line of forks began in a caller with one thread (hpool__fork_lib),
 * inherited by the processes it forks (each single-threaded then). */
extern HPOOL_INTERNAL bool hpool__leak_check_at_exit;
#endif
/* Name of a signal ("SIGSEGV", "SIGRTMIN+3", "signal N"), written to buf
 * (truncated to len); "unknown signal" without a buffer. Context: any
 * thread. */
HPOOL_INTERNAL const char *hpool__signame(int sig, char *buf, size_t len);
/* A pidfd for pid (glibc's pidfd_open, else the syscall). Return: the fd
 * or -1 with errno. */
HPOOL_INTERNAL int hpool__pidfd_open(int pid);
/* SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU (no process dies of these). */
HPOOL_INTERNAL bool hpool__is_stop_signal(int sig);

/* ---- config.c ----------------------------------------------------------- */

/* The settings a pool runs with: hpool_config merged with HPOOL_*. */
struct hpool__settings {
	hpool_mode mode;    /* THREAD, PROCESS or SERIAL, never ENV */
	unsigned workers;   /* 0: decided by topology */
	int bind;           /* 0 none, 1 core */
	size_t shm_size;    /* arena bytes, > 0 */
	int start;          /* 0 fork, 1 forkserver (process mode) */
	int progress;       /* 0 none, 1 bar */
	int threaded_fork;  /* 0 allow, 1 refuse */
	unsigned hybrid_procs, hybrid_threads; /* hybrid shape; 0: hwloc's */
	int mpi_local;      /* mpi: rank 0's own workers; -1: its node's */
};

#define HPOOL__SHM_DEFAULT ((size_t)256 << 20)
#define HPOOL__SHM_MIN ((size_t)1 << 20)
#define HPOOL__SHM_MAX ((size_t)1 << 40)
#define HPOOL__WORKERS_MAX 1024u

/* Merge cfg (NULL: defaults) with the environment, strictly. Fields set in
 * cfg win, except mode, which the environment sets only when cfg->mode is
 * HPOOL_MODE_ENV. Return: 0, or -EINVAL with hpool_last_error() naming the
 * variable or field, its value and what is accepted. */
HPOOL_INTERNAL int hpool__settings_resolve(const hpool_config *cfg,
					   struct hpool__settings *out);
/* Strict parsers; each returns 0 or -EINVAL (without setting a message). */
HPOOL_INTERNAL int hpool__parse_mode(const char *s, hpool_mode *mode);
HPOOL_INTERNAL int hpool__parse_uint(const char *s, unsigned long max,
				     unsigned long *v); /* decimal, 1..max */
HPOOL_INTERNAL int hpool__parse_bind(const char *s, int *bind);
HPOOL_INTERNAL int hpool__parse_start(const char *s, int *start);
HPOOL_INTERNAL int hpool__parse_progress(const char *s, int *progress);
HPOOL_INTERNAL int hpool__parse_threaded_fork(const char *s, int *refuse);
HPOOL_INTERNAL int hpool__parse_size(const char *s, size_t *bytes); /* K M G */
/* "PxT": P and T as hpool__parse_uint, P * T <= HPOOL__WORKERS_MAX. */
HPOOL_INTERNAL int hpool__parse_hybrid(const char *s, unsigned *procs,
				       unsigned *threads);

/* ---- topology.c --------------------------------------------------------- */

struct hpool__topo; /* private memory: hwloc topology + the allowed cpuset */

/* This machine, restricted to the cpus this process may run on (its
 * affinity mask and cgroup limits). Return: 0, -ENOMEM, -EIO (hwloc). */
HPOOL_INTERNAL int hpool__topo_open(struct hpool__topo **t);
/* A synthetic machine ("pack:2 core:4 pu:2"); `allowed` is an hwloc list
 * string ("0-3,6") of PU os indexes, NULL for all. Return: 0, -EINVAL. */
HPOOL_INTERNAL int hpool__topo_open_synthetic(const char *desc,
					      const char *allowed,
					      struct hpool__topo **t);
HPOOL_INTERNAL void hpool__topo_close(struct hpool__topo *t);
/* Physical cores with at least one allowed PU (allowed PUs when the
 * topology knows no cores). Always >= 1. */
HPOOL_INTERNAL unsigned hpool__topo_cores(const struct hpool__topo *t);
/* Allowed PUs. Always >= 1. */
HPOOL_INTERNAL unsigned hpool__topo_pus(const struct hpool__topo *t);
/* The allowed PUs of the core worker `w` is bound to (core w % cores), as
 * an hwloc list string written to buf. Return: 0, -ENOSPC. */
HPOOL_INTERNAL int hpool__topo_worker_cpulist(const struct hpool__topo *t,
					      unsigned w, char *buf,
					      size_t len);
/* The core worker 0 binds to (0, except in an MPI server rank that
 * shares its node: the first core of its share). Set before any pool. */
extern HPOOL_INTERNAL unsigned hpool__core_first;
/* Bind the calling thread (thread != 0) or process to worker w's core
 * (core (w + hpool__core_first) % cores).
 * Return: 0 or -errno. */
HPOOL_INTERNAL int hpool__topo_bind(const struct hpool__topo *t, unsigned w,
				    int thread);
/* MPI (backend_mpi.c, mpi_server.c): mpirun binds each rank of a node to
 * its own cores, and rank 0 serves the whole node with the union. */
/* The allowed PUs as an hwloc list. Return: 0, -ENOSPC, -ENOMEM. */
HPOOL_INTERNAL int hpool__topo_allowed_list(const struct hpool__topo *t,
					    char *buf, size_t len);
/* Add the PUs of `list` (as hpool__topo_allowed_list writes it) to t, within
 * the machine's allowed cpuset; worker sets follow. Return: 0, -EINVAL. */
HPOOL_INTERNAL int hpool__topo_widen(struct hpool__topo *t, const char *list);
/* Bind the calling thread to all of t's PUs (a child forked now inherits
 * them); *saved: the old binding, for hpool__topo_thread_restore.
 * Return: 0, -ENOSYS (not this machine), -EIO, -ENOMEM. */
HPOOL_INTERNAL int hpool__topo_thread_all(const struct hpool__topo *t,
					  void **saved);
HPOOL_INTERNAL void hpool__topo_thread_restore(const struct hpool__topo *t,
					       void *saved);
/* Hybrid mode's default shape: *procs groups (NUMA nodes, else packages,
 * else L3 caches, else the machine: the first level with more than one
 * group of allowed cores) of *threads cores each (the smallest group's
 * count); *level names the level ("NUMANode", "Package", "L3Cache",
 * "machine"; may be NULL). Return: 0, -EINVAL, -ENOMEM. */
HPOOL_INTERNAL int hpool__topo_hybrid_shape(const struct hpool__topo *t,
					    unsigned *procs, unsigned *threads,
					    const char **level);
/* The cpus process g of a hybrid pool of procs x tpp is bound to, as an
 * hwloc list: its group's allowed cpuset when procs is the default count,
 * else the cores of its threads. Return: 0, -ENOSPC, -EINVAL. */
HPOOL_INTERNAL int hpool__topo_hybrid_cpulist(const struct hpool__topo *t,
					      unsigned procs, unsigned tpp,
					      unsigned g, char *buf,
					      size_t len);
/* Bind the calling thread, worker w of a hybrid pool of procs x tpp, to
 * its process's cpus, or (core) to the (w % tpp)-th core of them.
 * Return: 0 or -errno (-ENOSYS: not this machine). */
HPOOL_INTERNAL int hpool__topo_hybrid_bind(const struct hpool__topo *t,
					   unsigned procs, unsigned tpp,
					   unsigned w, bool core);

/* ---- shm.c -------------------------------------------------------------- */

/*
 * The shared region: one mmap(MAP_SHARED | MAP_ANONYMOUS). Its header
 * (struct hpool__shm, at the first byte) holds the arena's state, so every
 * process that inherited the mapping allocates from the same arena. Blocks
 * are identified by same-address pointers (or offsets from the base).
 */
struct hpool__shm;

/* Map a region with an arena of `size` bytes (rounded up to pages).
 * Context: before any worker starts. Return: 0, -EINVAL, -ENOMEM. */
HPOOL_INTERNAL int hpool__shm_create(size_t size, struct hpool__shm **shm);
/* As hpool__shm_create, backed by a memfd returned in *fd (close-on-exec),
 * for a process that cannot inherit the mapping (the fork server's). */
HPOOL_INTERNAL int hpool__shm_create_fd(size_t size, struct hpool__shm **shm,
					int *fd);
HPOOL_INTERNAL size_t hpool__shm_map_size(const struct hpool__shm *shm);
/* Map region fd at exactly addr (the creator's address), len bytes.
 * Return: 0; -EEXIST (something is mapped there); -errno. */
HPOOL_INTERNAL int hpool__shm_attach(int fd, void *addr, size_t len);
/* Unmap. Context: when nothing else uses the region. */
HPOOL_INTERNAL void hpool__shm_destroy(struct hpool__shm *shm);
/* Allocate / free. Lock-free; safe from any thread of any process that
 * shares the region, at the same time. A process that dies inside these
 * may leak the block it was handling, never corrupt the arena.
 * Alignment: 16 bytes; blocks of 4 KiB and more are page-aligned and their
 * pages go back to the system when freed. Return: NULL when exhausted. */
HPOOL_INTERNAL void *hpool__shm_alloc(struct hpool__shm *shm, size_t size);
HPOOL_INTERNAL void hpool__shm_free(struct hpool__shm *shm, void *p);
/* How many free lists were dropped because a wild write broke them
 * (they leak; nothing aborts). Tests and diagnostics. */
HPOOL_INTERNAL uint64_t hpool__shm_dropped(const struct hpool__shm *shm);
/* Map [p, p + bytes) of the region into this process's page tables now,
 * in one call (prefault.c): a hint, errors ignored. Context: any thread. */
HPOOL_INTERNAL void hpool__prefault(const void *p, size_t bytes);
/* The same, unless this thread did it for the same block lately. */
HPOOL_INTERNAL void hpool__prefault_once(const void *p, size_t bytes);
/* True when [p, p+len) lies inside the region. */
HPOOL_INTERNAL bool hpool__shm_contains(const struct hpool__shm *shm,
					const void *p, size_t len);
/* True when p is the start of a live arena block. */
HPOOL_INTERNAL bool hpool__shm_is_block(const struct hpool__shm *shm,
					const void *p);
/* hpool__shm_free that says whether p was freed: of two frees of one block
 * exactly one returns 0, so the caller can report the other without a race
 * between hpool__shm_is_block and the free.
 * Context: as hpool__shm_free.
 * Return: 0; -EINVAL when p is not the start of a live block (nothing
 *   changed: double, inner, foreign and NULL pointers are refused). */
HPOOL_INTERNAL int hpool__shm_release(struct hpool__shm *shm, void *p);

/* ---- wait.c ------------------------------------------------------------- */

/*
 * An event: a futex word in the shared region. Waiters spin on their
 * condition, then register as sleepers and sleep on `seq`; a signaller that
 * has made a condition true wakes them only when one is registered, so the
 * hot path makes no system call. Works across processes (shared futex).
 */
struct hpool__event {
	_Atomic uint32_t seq;      /* futex word: bumped by each real wake */
	_Atomic uint32_t sleepers; /* waiters registered to sleep */
	_Atomic int64_t woke_ns;   /* hpool__now_ns() of the last real wake */
};

typedef bool (*hpool__cond_fn)(void *arg);

/* Monotonic clock in ns. */
HPOOL_INTERNAL int64_t hpool__now_ns(void);
HPOOL_INTERNAL void hpool__event_init(struct hpool__event *e);
/* After making a waited-for condition true (the condition's store must
 * come before this call): wake every sleeper, if there is one. Implies a
 * full barrier. Context: any thread or process sharing e. */
HPOOL_INTERNAL void hpool__event_signal(struct hpool__event *e);
/* Interest in a narrower signal than the event's: while the calling
 * thread sleeps (not while it spins), it counts itself in each word of
 * the innermost `hpool__wanting` set; a signaller that finished work those
 * words stand for wakes the event only when one is nonzero
 * (hpool__event_signal_if). So a waiter asleep for a long call does not
 * cost every finished range elsewhere a system call. Set and restore it
 * around a wait (it nests). A word may count two kinds of sleeper: 1 for
 * one woken by any finished range of its segment, HPOOL__WANT_DONE for one
 * woken only by the range that completes it (a map without a progress
 * callback: at chunk 1 it would otherwise be woken once an item). */
#define HPOOL__WANT_MAX 4
#define HPOOL__WANT_DONE (1u << 16)
struct hpool__want {
	_Atomic uint32_t *w[HPOOL__WANT_MAX];
	unsigned n;
	unsigned done_only; /* bit i: w[i] counts HPOOL__WANT_DONE */
	struct hpool__want *prev;
};
extern HPOOL_INTERNAL _Thread_local struct hpool__want *hpool__wanting;
/* hpool__event_signal, when a waiter counted itself in *a or *b (the
 * Dekker pair of wait.c, with the want words as sleepers); in *a as
 * HPOOL__WANT_DONE only if `complete` (this range completed a's segment). */
HPOOL_INTERNAL void hpool__event_signal_if(struct hpool__event *e,
					   _Atomic uint32_t *a,
					   _Atomic uint32_t *b, bool complete);
/* The futex bit of a want word (a region word, as e is): a sleeper counted
 * in the word sleeps on that bit, and hpool__event_signal_if / _wake_if
 * wake only the bits of the words they found nonzero (wait.c). */
HPOOL_INTERNAL uint32_t hpool__event_bit(const struct hpool__event *e,
					 const void *word);
/* hpool__event_signal and _signal_if without their fence, for a caller
 * that signals two events after one full fence of its own. _wake wakes at
 * most n sleepers (INT_MAX: all); use n < all only where any one sleeper
 * woken does what the condition needs (wait.c, the top). */
HPOOL_INTERNAL void hpool__event_wake(struct hpool__event *e, int n);
HPOOL_INTERNAL void hpool__event_wake_if(struct hpool__event *e,
					 _Atomic uint32_t *a,
					 _Atomic uint32_t *b, bool complete);
/* Wait until cond(arg) is true: spin for up to spin_ns, then sleep on e.
 * deadline_ns: absolute hpool__now_ns() time, or < 0 for none.
 * Return: 0 when cond is true, -ETIMEDOUT. */
HPOOL_INTERNAL int hpool__event_wait(struct hpool__event *e, hpool__cond_fn cond,
				     void *arg, int64_t spin_ns,
				     int64_t deadline_ns);
#define HPOOL__SPIN_NS 20000 /* the least spin: two futex round trips */
#define HPOOL__SPIN_MAX_NS 500000 /* the most */
/* How long the pool's waits spin before they sleep: twice what a wake
 * from sleep has cost this process lately (wait.c), within
 * [HPOOL__SPIN_NS, HPOOL__SPIN_MAX_NS]. Context: any thread. */
HPOOL_INTERNAL int64_t hpool__spin_ns(void);
/* The estimate itself, in ns: 0 until this process was woken once. */
HPOOL_INTERNAL int64_t hpool__wake_cost_ns(void);
#ifdef HPOOL_TESTING
HPOOL_INTERNAL void hpool__wake_cost_set(int64_t ns); /* test_wait */
#endif

/* ---- fault.c: fault injection (test builds only) ------------------------ */

/*
 * Points where a test can make the calling process die (SIGKILL), one enum
 * for every layer. A test sets hpool__fault_at to a point and
 * hpool__fault_skip to a count in a child it forked; the child dies at the
 * (skip + 1)-th pass of that point. With hpool__fault_hook set, the hook
 * runs at that pass instead (a test runs other threads' steps at that
 * instant). The counters are per process, never in the shared region.
 */
enum hpool__fault {
	HPOOL__F_NONE = 0,
	/* ring.h */
	HPOOL__F_RING_RESERVED,  /* producer: slot written, not published */
	HPOOL__F_RING_PUBLISHED, /* producer: published */
	HPOOL__F_RING_PEEKED,    /* consumer: slot read, nothing done */
	HPOOL__F_RING_WORKED,    /* consumer: result written, not released */
	HPOOL__F_RING_RELEASED,  /* consumer: released */
	/* claim.c */
	HPOOL__F_CLAIM_HAZARD,   /* claimer: hazard set, not validated */
	HPOOL__F_CLAIM_TAKEN,    /* claimer: range taken, not recorded */
	HPOOL__F_CLAIM_OWNED,    /* claimer: range recorded, nothing run */
	HPOOL__F_BATCH_TAKEN,    /* hybrid: range taken from the process's
				    batch, not recorded */
	HPOOL__F_BATCH_LOOKED,   /* hybrid: the batch found nothing, the
				    segments not looked at yet (a hook:
				    nothing is held there) */
	HPOOL__F_ITEM_STARTED,   /* worker: item marked running, fn not run */
	HPOOL__F_ITEM_RAN,       /* worker: fn returned, status not stored */
	HPOOL__F_ITEM_STORED,    /* worker: status stored, next not marked */
	HPOOL__F_LATE_COUNTED,   /* worker: late count added to finished,
				    not cleared (claim.c, C6) */
	HPOOL__F_RANGE_RAN,      /* thread mode: a range ran, its results
				    not copied to the caller (claim.c, T1) */
	HPOOL__F_RANGE_COPIED,   /* ...copied or left to the caller (T4),
				    finished not added */
	/* shm.c */
	HPOOL__F_SHM_POP_READ,     /* small alloc: next read, no CAS yet */
	HPOOL__F_SHM_POPPED,       /* small alloc: off the list, not live */
	HPOOL__F_SHM_MARKED,       /* small alloc: live, not returned */
	HPOOL__F_SHM_RUN_CLAIMED,  /* refill: pages claimed, not labelled */
	HPOOL__F_SHM_RUN_CARVED,   /* refill: labelled and chained, not pushed */
	HPOOL__F_SHM_UNMARKED,     /* small free: not live, not pushed */
	HPOOL__F_SHM_BITS_PARTIAL, /* large alloc: some words claimed */
	HPOOL__F_SHM_CLAIMED,      /* large alloc: claimed, not labelled */
	HPOOL__F_SHM_UNLABELLED,   /* large free: label gone, pages kept */
	HPOOL__F_SHM_RETURNED,     /* large free: pages returned, bits set */
	/* libfd.c */
	HPOOL__F_FD_LOCKED,        /* the descriptor lock was just taken */
	/* supervisor.c */
	HPOOL__F_SUP_ENDING,       /* supervisor: life over, end not recorded */
	HPOOL__F_COUNT
};
#ifdef HPOOL_FAULT_INJECTION
extern HPOOL_INTERNAL _Atomic int hpool__fault_at;
/* Count-down: die at the hpool__fault_skip+1-th pass of the point. */
extern HPOOL_INTERNAL _Atomic int hpool__fault_skip;
/* When set, called at the point instead of dying (set it while the
 * process is single-threaded). */
extern HPOOL_INTERNAL void (*hpool__fault_hook)(int point);
/* When set (to HPOOL__F_COUNT counters in memory the test can read, e.g.
 * the shared region), a death at point p first adds 1 to log[p]: the
 * test checks that the process died where it meant. */
extern HPOOL_INTERNAL _Atomic unsigned *hpool__fault_log;
/* With a log: no death at a point once log[p] reached this (0: none). */
extern HPOOL_INTERNAL unsigned hpool__fault_limit;
/* Context: any thread; kills the whole process, like a crash would. */
HPOOL_INTERNAL void hpool__fault_hit(int point);
#define HPOOL__FAULT(p)                                                     \
	do {                                                                \
		if (__builtin_expect(atomic_load_explicit(&hpool__fault_at, \
				memory_order_relaxed) == (p), 0))           \
			hpool__fault_hit(p);                                \
	} while (0)
#else
#define HPOOL__FAULT(p) ((void)0)
#endif

#endif /* HPOOL_INTERNAL_H */
