/* SPDX-License-Identifier: MIT */
/*
 * Soak: maps in process mode while another thread kills random workers
 * from outside (SIGKILL or SIGSEGV) at random moments, and a count of what
 * the pool promises never happens:
 *
 *   hangs       a map (or the final destroy) that does not return within
 *               a generous liveness bound (a watchdog thread reports it
 *               and exits: a hung soak fails, it never hangs CI);
 *   lost        an item with neither a result nor a failure: its status is
 *               not 0 or HPOOL_ECRASH (never written, canceled, ...), or it
 *               claims success but its task never ran or its result is
 *               wrong;
 *   duplicated  an item whose task ran more than once (every task counts
 *               its runs in hpool_shm_alloc memory): whatever happened, an
 *               item runs at most once and succeeds exactly once unless it
 *               failed with HPOOL_ECRASH;
 *   failed per kill  HPOOL_ECRASH items per kill delivered: at most 1. A
 *               task records the pid of the worker that ran it, so a failed
 *               item is charged to the kill of that pid; one that failed
 *               before its task started (no pid) is charged to a kill that
 *               failed nothing else. A failure on a pid never killed, or
 *               more failures than kills, breaks the bound too.
 *
 * --any-process kills the supervisor too (about one kill in n+1, n
 * workers): its workers die with it, the caller starts a new one; each
 * worker that died with it is charged like a kill of its own (at most
 * one failed item each), and the pool must go on as before.
 *
 * At the end every worker slot must have a live worker again (the pool
 * keeps its worker count), a map with no kills must succeed entirely, and
 * hpool_destroy must return 0.
 *
 * Maps alternate chunk 1 and automatic chunks, and trivial and slightly
 * longer tasks; every fifth runs as a stream (hpool_imap, ordered and
 * unordered in turn: the same checks on what hpool_next hands out).
 * `make soak` runs the long version (1000 kills, maps of 1M
 * items); `make check` a short one (tests/soak-short.sh).
 *
 * Hybrid mode (--threads T, T >= 1): W workers as processes of T threads
 * each; a kill takes a whole process, so the bound on failed items per
 * kill is T (the items its threads were running), not 1.
 *
 * Usage: soak [--kills N] [--items M] [--workers W] [--seed S]
 *             [--interval-us U] [--hang-s T] [--threads T]
 *             [--any-process]
 * Prints one summary line and exits 0 only if every bound holds.
 */
#include "hpool.h"
#include "internals.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 16
#define MAX_KILLS 100000
#define STATUS_UNSET 0x7eadbeef /* no status written by hpool_map */

/* ---- options and tallies ------------------------------------------------ */

static unsigned opt_kills = 30, opt_workers = 2, opt_interval_us = 4000;
static size_t opt_items = 20000;
static uint64_t opt_seed;
static unsigned opt_hang_s = 120;
static bool opt_any;                /* kill the supervisor too */
static _Atomic unsigned n_events;   /* kills made (a supervisor's: one) */
static _Atomic unsigned n_sup_kills;
static unsigned opt_threads; /* hybrid: threads per process; 0: process mode */
#define PER_KILL (opt_threads ? opt_threads : 1u) /* failed items per kill */

/* Read by the watchdog too (when it reports a hang): atomics. */
static _Atomic size_t n_maps, n_items, n_lost, n_dup, n_ecrash, n_spurious,
	n_errors;
static _Atomic unsigned n_workers_lost, failed_per_kill_max;

/* ---- kills ------------------------------------------------------------- */

struct kill_rec {
	int pid;
	int sig;
	unsigned failed; /* HPOOL_ECRASH items charged to this kill */
};

static struct kill_rec kills[MAX_KILLS];
static _Atomic unsigned n_kills;   /* records published (release) */
static _Atomic int in_map;         /* the killer kills only during a map */
static _Atomic int killer_stop;
static hpool *g_pool;

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Send sig to a worker of the pool, from outside, and only to it: through
 * a pidfd opened before checking that the pid is still a child of the
 * supervisor, so a pid that was reaped and reused by another process is
 * never signalled. Return: true when the signal was delivered. */
static bool kill_worker(int sup, int pid, int sig)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool ok = false;

	if (fd < 0)
		return false;
	if (ppid_of(pid) == sup) /* for the supervisor: this process */
		ok = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0;
	close(fd);
	return ok;
}

/* SIGKILL the pool's supervisor (a child of this process) and wait until
 * it is dead. Return: true when it was killed. */
static bool kill_supervisor(int pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	bool ok = false;

	if (fd < 0)
		return false;
	if (ppid_of(pid) == getpid() &&
	    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0) {
		ok = true;
		while (poll(&pfd, 1, 5000) < 0 && errno == EINTR)
			;
	}
	close(fd);
	return ok;
}

/* Publish a kill record (the main thread charges failures to it). */
static void record_kill(int pid, int sig)
{
	unsigned k = atomic_load_explicit(&n_kills, memory_order_relaxed);

	if (k >= MAX_KILLS)
		return;
	kills[k].pid = pid;
	kills[k].sig = sig;
	kills[k].failed = 0;
	/* Pairs with the main thread's acquire load of n_kills. */
	atomic_store_explicit(&n_kills, k + 1, memory_order_release);
}

static void *killer(void *arg)
{
	uint64_t rng = opt_seed ^ 0x9e3779b97f4a7c15ull;
	int last[MAX_WORKERS] = { 0 }; /* last pid killed per slot */

	(void)arg;
	while (!atomic_load(&killer_stop)) {
		int pids[MAX_WORKERS + 1], n, w, pid, sig;

		if (!atomic_load(&in_map)) {
			sleep_us(200);
			continue;
		}
		/* Random moments: mostly a pause of up to opt_interval_us,
		 * sometimes none, to hit a replacement while it starts. */
		if (xorshift(&rng) % 8)
			sleep_us((long)(xorshift(&rng) % (opt_interval_us + 1)));
		if (!atomic_load(&in_map))
			continue;
		n = hpool__pool_pids(g_pool, pids, MAX_WORKERS + 1);
		if (n < 2)
			continue;
		if (opt_any && xorshift(&rng) % (uint64_t)n == 0) {
			/* The supervisor; its workers die with it. */
			int dead = pids[0];

			if (!kill_supervisor(dead))
				continue;
			/* It is dead: the worker pids in the region are the
			 * last ones it started (none is written after). */
			n = hpool__pool_pids(g_pool, pids, MAX_WORKERS + 1);
			for (w = 1; w < n; w++) /* once per process */
				if (pids[w] > 0 && pids[w] != pids[w - 1])
					record_kill(pids[w], SIGKILL);
			memset(last, 0, sizeof(last));
			n_sup_kills++;
			if (atomic_fetch_add(&n_events, 1) + 1 >= opt_kills)
				break;
			/* Until the caller restarts it, the pids are stale. */
			while (!atomic_load(&killer_stop) &&
			       hpool__pool_pids(g_pool, pids, 1) == 1 &&
			       pids[0] == dead)
				sleep_us(200);
			continue;
		}
		w = 1 + (int)(xorshift(&rng) % (uint64_t)(n - 1));
		pid = pids[w];
		if (pid <= 0 || pid == last[w - 1])
			continue; /* not replaced yet */
		sig = xorshift(&rng) % 2 ? SIGKILL : SIGSEGV;
		if (!kill_worker(pids[0], pid, sig))
			continue;
		last[w - 1] = pid;
		record_kill(pid, sig);
		if (atomic_fetch_add(&n_events, 1) + 1 >= opt_kills)
			break;
	}
	return NULL;
}

/* ---- the tasks -------------------------------------------------------- */

struct soak_ctx {
	_Atomic uint32_t *runs; /* region: times item i's task ran */
	_Atomic int32_t *pid;   /* region: the worker that ran item i */
	uint32_t spin;          /* extra work per item */
};

static uint64_t expect(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull + 7;
}

/* The worker runs in a thread made after fork: its TLS starts at 0. */
static __thread int32_t my_pid;

static int task(void *out, const void *in, const void *ctx)
{
	const struct soak_ctx *c = ctx;
	uint64_t i = *(const uint64_t *)in, v = expect(i);
	uint32_t k;

	if (!my_pid)
		my_pid = getpid();
	/* The pid first: an item that counted a run has its pid. */
	atomic_store_explicit(&c->pid[i], my_pid, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->runs[i], 1, memory_order_relaxed);
	for (k = 0; k < c->spin; k++)
		__asm__ volatile("" : "+r"(v));
	*(uint64_t *)out = v;
	return 0;
}

/* ---- the watchdog ------------------------------------------------------- */

static _Atomic int64_t phase_start; /* 0: nothing to watch */
static const char *_Atomic phase_name;

static void summary(unsigned hangs);

static void dump_pids(void)
{
	int pids[MAX_WORKERS + 1], n = hpool__pool_pids(g_pool, pids,
							MAX_WORKERS + 1);

	for (int i = 0; i < n; i++) {
		char path[64], buf[256] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
		}
		fprintf(stderr, "soak:   %s pid %d: %.60s\n",
			i ? "worker" : "supervisor", pids[i],
			f ? buf : "(gone)");
	}
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		int64_t t0 = atomic_load(&phase_start);

		if (t0 && now_ns() - t0 > (int64_t)opt_hang_s * 1000000000) {
			fprintf(stderr, "soak: HANG: %s did not return within "
				"%u s (seed %" PRIu64 ", %u kills so far)\n",
				atomic_load(&phase_name), opt_hang_s, opt_seed,
				atomic_load(&n_kills));
			dump_pids();
			summary(1);
			fflush(NULL);
			_exit(1); /* the supervisor sees us go and stops */
		}
		sleep_us(100000);
	}
	return NULL;
}

static void watch(const char *name)
{
	atomic_store(&phase_name, name);
	atomic_store(&phase_start, name ? now_ns() : 0);
}

/* ---- checking a map ------------------------------------------------------ */

static unsigned n_reported; /* items described on stderr, at most 64 */
static bool call_failed;    /* a map failed as a call, not per item */

static void report_item(const char *what, size_t i, int st, uint32_t runs,
			int32_t pid, uint64_t out)
{
	fprintf(stderr, "soak: %s item %zu: status %d, ran %u times, pid %d, "
		"out %s\n", what, i, st, runs, pid,
		out == expect(i) ? "right" : "wrong");
}

/* Charge the HPOOL_ECRASH items whose task ran to the kill of the pid
 * that ran them; the others (failed before the task started) are counted
 * and matched to kills that failed nothing, at the end (a SIGSEGV'd
 * worker may run on a little after the kill, into the next map). */
static size_t n_unknown;

static void charge(const int *crash_pids, size_t ncrash)
{
	unsigned nk = atomic_load_explicit(&n_kills, memory_order_acquire);

	for (size_t j = 0; j < ncrash; j++) {
		unsigned i;

		/* the newest kill of that pid (pids may be reused) */
		for (i = nk; i-- > 0;)
			if (kills[i].pid == crash_pids[j])
				break;
		if (i == UINT32_MAX) {
			fprintf(stderr, "soak: an item failed on pid %d, which "
				"was never killed\n", crash_pids[j]);
			n_spurious++;
			continue;
		}
		if (++kills[i].failed > failed_per_kill_max)
			failed_per_kill_max = kills[i].failed;
		if (kills[i].failed > PER_KILL)
			fprintf(stderr, "soak: kill %u (pid %d, %s) failed %u "
				"items\n", i, kills[i].pid,
				kills[i].sig == SIGKILL ? "SIGKILL" : "SIGSEGV",
				kills[i].failed);
	}
}

/* The items that failed before their task started, one per kill that
 * failed nothing else. */
static void charge_unknown(void)
{
	unsigned nk = atomic_load_explicit(&n_kills, memory_order_acquire);
	size_t free_kills = 0;

	for (unsigned i = 0; i < nk; i++)
		free_kills += kills[i].failed == 0;
	if (n_unknown > free_kills * PER_KILL) {
		fprintf(stderr, "soak: %zu items failed before their task "
			"started, but only %zu kills failed nothing else\n",
			n_unknown, free_kills);
		if (failed_per_kill_max < PER_KILL + 1)
			failed_per_kill_max = PER_KILL + 1;
	} else if (n_unknown && !failed_per_kill_max) {
		failed_per_kill_max = 1;
	}
}

static void check_map(int ret, size_t n, const int *status,
		      const uint64_t *out, const struct soak_ctx *c,
		      int *crash_pids)
{
	size_t ncrash = 0, unknown = 0, lost = 0, dup = 0, shown = 0;
	bool any_failed = false, item_code;

	for (size_t i = 0; i < n; i++) {
		uint32_t runs = atomic_load(&c->runs[i]);
		int32_t pid = atomic_load(&c->pid[i]);
		int st = status[i];
		const char *bad = NULL;

		any_failed |= st != 0;
		if (runs > 1) {
			dup++;
			bad = "duplicated";
		} else if (st == 0 && (runs != 1 || out[i] != expect(i))) {
			lost++;
			bad = "lost (success without a result)";
		} else if (st != 0 && st != HPOOL_ECRASH) {
			lost++;
			bad = "lost";
		} else if (st == HPOOL_ECRASH) {
			if (runs == 1)
				crash_pids[ncrash++] = pid;
			else
				unknown++;
		}
		if (bad && shown++ < 8 && n_reported++ < 64)
			report_item(bad, i, st, runs, pid, out[i]);
	}
	/* hpool_map returns its first failed item's code; any other code
	 * means the call itself failed (the pool took no work): stop. */
	item_code = ret == HPOOL_ECRASH || ret == HPOOL_ECANCELED ||
		    ret == HPOOL_ETASK || ret == -ETIMEDOUT;
	if (ret != 0 && !item_code) {
		fprintf(stderr, "soak: map %zu returned %d (%s): %s\n",
			n_maps, ret, hpool_strerror(ret), hpool_last_error());
		n_errors++;
		call_failed = true;
	} else if ((ret != 0) != any_failed) {
		fprintf(stderr, "soak: map %zu returned %d but %s item "
			"failed\n", n_maps, ret, any_failed ? "an" : "no");
		n_errors++;
	}
	charge(crash_pids, ncrash);
	n_unknown += unknown;
	n_lost += lost;
	n_dup += dup;
	n_ecrash += ncrash + unknown;
}

/* A map without a status array, where the caller reads no item's status
 * word when a segment reports no failure (hpool__seg.failed): a map that
 * returns 0 ran every item exactly once, with its result; one that
 * returns an item's code ran none twice. Its failures are not charged to
 * kills (which item failed is not known). */
static void check_bare_map(int ret, size_t n, const uint64_t *out,
			   const struct soak_ctx *c)
{
	size_t shown = 0;

	if (ret != 0 && ret != HPOOL_ECRASH && ret != HPOOL_ETASK &&
	    ret != -ETIMEDOUT) {
		fprintf(stderr, "soak: map %zu (no status array) returned %d "
			"(%s): %s\n", n_maps, ret, hpool_strerror(ret),
			hpool_last_error());
		n_errors++;
		call_failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t runs = atomic_load(&c->runs[i]);
		const char *bad = runs > 1 ? "duplicated" :
				  ret == 0 && (runs != 1 || out[i] != expect(i)) ?
				  "lost (map returned 0 without its result)" :
				  NULL;

		if (!bad)
			continue;
		if (runs > 1)
			n_dup++;
		else
			n_lost++;
		if (shown++ < 8 && n_reported++ < 64)
			report_item(bad, i, 0, runs, atomic_load(&c->pid[i]),
				    out[i]);
	}
}

/* The same items as a stream (hpool_imap, `ordered` or not): each
 * result and the status hpool_next returns go to out[] and status[], and
 * the return is what hpool_map would return (the first failed item's
 * code), or the error of a call that failed as a whole. */
static int one_stream(size_t n, size_t chunk, int ordered,
		      const uint64_t *in, uint64_t *out, int *status,
		      struct soak_ctx *c)
{
	hpool_map_opts o = { .chunk = chunk };
	hpool_iter *it;
	size_t idx, first_bad = SIZE_MAX;
	uint64_t y;
	int r, ret = 0;

	if ((r = hpool_imap(g_pool, task, c, sizeof(*c), in, sizeof(*in),
			    sizeof(y), n, ordered, &o, &it)))
		return r;
	while ((r = hpool_next(it, &idx, &y, -1)) != HPOOL_DONE) {
		if (idx == SIZE_MAX) { /* not an item's status */
			ret = r;
			break;
		}
		out[idx] = y;
		status[idx] = r;
		if (r && idx < first_bad) {
			first_bad = idx;
			ret = r;
		}
	}
	hpool_iter_free(it);
	return ret;
}

/* One map; `killing`: with the killer at work; status NULL: see
 * check_bare_map; stream 1 or 2: as an ordered or unordered imap (with
 * a status array). */
static void one_map(size_t n, size_t chunk, uint32_t spin, bool killing,
		    const uint64_t *in, uint64_t *out, int *status,
		    struct soak_ctx *c, int *crash_pids, int stream)
{
	hpool_map_opts o = { .chunk = chunk, .status = status };
	int ret;

	c->spin = spin;
	for (size_t i = 0; i < n; i++) {
		atomic_store_explicit(&c->runs[i], 0, memory_order_relaxed);
		atomic_store_explicit(&c->pid[i], 0, memory_order_relaxed);
		if (status)
			status[i] = STATUS_UNSET;
		out[i] = 0;
	}
	watch(stream ? "an imap" : chunk ? "a map with chunk 1" :
			 "a map with automatic chunks");
	atomic_store(&in_map, killing);
	if (stream && status)
		ret = one_stream(n, chunk, stream == 1, in, out, status, c);
	else
		ret = hpool_map(g_pool, task, c, sizeof(*c), in, sizeof(*in),
				out, sizeof(*out), n, &o);
	atomic_store(&in_map, 0);
	watch(NULL);
	if (status)
		check_map(ret, n, status, out, c, crash_pids);
	else
		check_bare_map(ret, n, out, c);
	n_maps++;
	n_items += n;
}

/* ---- after the kills ------------------------------------------------- */

/* Every slot must get a live worker again: a kill never costs the pool a
 * worker. The wait is a liveness bound. */
static void check_workers(void)
{
	int pids[MAX_WORKERS + 1], n = 0;
	unsigned missing = 0;

	for (int tries = 0; tries < 1000; tries++) {
		n = hpool__pool_pids(g_pool, pids, MAX_WORKERS + 1);
		missing = n == (int)opt_workers + 1 ? 0 : opt_workers;
		for (int i = 1; i < n; i++)
			missing += pids[i] <= 0 || ppid_of(pids[i]) != pids[0];
		if (!missing)
			return;
		sleep_us(10000);
	}
	fprintf(stderr, "soak: %u of %u workers were not replaced\n", missing,
		opt_workers);
	n_workers_lost = missing;
}

static void summary(unsigned hangs)
{
	printf("soak: maps=%zu items=%zu ecrash=%zu spurious=%zu errors=%zu "
	       "workers_lost=%u seed=%" PRIu64 "\n", n_maps, n_items, n_ecrash,
	       n_spurious, n_errors, n_workers_lost, opt_seed);
	printf("soak: kills=%u supervisor_kills=%u hangs=%u lost=%zu "
	       "duplicated=%zu failed_per_kill_max=%u\n", atomic_load(&n_events),
	       atomic_load(&n_sup_kills), hangs, n_lost, n_dup,
	       failed_per_kill_max);
}

static void usage(void)
{
	fprintf(stderr, "usage: soak [--kills N] [--items M] [--workers W] "
		"[--seed S] [--interval-us U] [--hang-s T] [--threads T] "
		"[--any-process]\n");
	exit(2);
}

static unsigned long long num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = s ? strtoull(s, &end, 10) : 0;
	if (!s || errno || end == s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct rlimit nocore = { 0, 0 };
	pthread_t kt, wt;
	hpool_config cfg;
	struct soak_ctx c;
	uint64_t *in, *out;
	int *status, *crash_pids, e;
	size_t n, before;
	unsigned round = 0;

	opt_seed = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	/* options come in pairs: --name value; --any-process alone */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--any-process")) {
			opt_any = true;
			i--;
			continue;
		}
		if (!v)
			usage();
		if (!strcmp(a, "--kills"))
			opt_kills = (unsigned)num(v);
		else if (!strcmp(a, "--items"))
			opt_items = (size_t)num(v);
		else if (!strcmp(a, "--workers"))
			opt_workers = (unsigned)num(v);
		else if (!strcmp(a, "--seed"))
			opt_seed = num(v);
		else if (!strcmp(a, "--interval-us"))
			opt_interval_us = (unsigned)num(v);
		else if (!strcmp(a, "--hang-s"))
			opt_hang_s = (unsigned)num(v);
		else if (!strcmp(a, "--threads"))
			opt_threads = (unsigned)num(v);
		else
			usage();
	}
	if (!opt_seed)
		opt_seed = 1;
	if (!opt_items || !opt_workers || opt_workers > MAX_WORKERS ||
	    opt_kills > MAX_KILLS || !opt_hang_s)
		usage();
	/* A SIGSEGV'd worker must not write a core file per kill. */
	setrlimit(RLIMIT_CORE, &nocore);
	n = opt_items;

	hpool_config_init(&cfg);
	cfg.mode = HPOOL_MODE_PROCESS;
	cfg.workers = opt_workers;
	if (opt_threads) {
		if (opt_workers % opt_threads)
			usage();
		cfg.mode = HPOOL_MODE_HYBRID;
		cfg.hybrid_processes = opt_workers / opt_threads;
		cfg.hybrid_threads = opt_threads;
	}
	cfg.shm_size = (size_t)64 << 20;
	while (cfg.shm_size < n * 16 + ((size_t)32 << 20))
		cfg.shm_size *= 2;
	if ((e = hpool_create(&g_pool, &cfg))) {
		fprintf(stderr, "soak: hpool_create: %s: %s\n",
			hpool_strerror(e), hpool_last_error());
		return 1;
	}
	c.runs = hpool_shm_alloc(g_pool, n * sizeof(*c.runs));
	c.pid = hpool_shm_alloc(g_pool, n * sizeof(*c.pid));
	in = malloc(n * sizeof(*in));
	out = malloc(n * sizeof(*out));
	status = malloc(n * sizeof(*status));
	crash_pids = malloc(n * sizeof(*crash_pids));
	if (!c.runs || !c.pid || !in || !out || !status || !crash_pids) {
		fprintf(stderr, "soak: out of memory: %s\n", hpool_last_error());
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		in[i] = i;
	printf("soak: %u kills, maps of %zu items, %u workers (%s, %u per "
	       "process), seed %" PRIu64 "\n", opt_kills, n, opt_workers,
	       opt_threads ? "hybrid" : "process", PER_KILL, opt_seed);
	fflush(stdout);

	pthread_create(&wt, NULL, watchdog, NULL);
	pthread_create(&kt, NULL, killer, NULL);
	while (atomic_load(&n_events) < opt_kills) {
		/* chunk 1 and automatic chunks; trivial and longer tasks;
		 * every third map without a status array; every fifth as an
		 * imap, ordered and unordered in turn */
		one_map(n, round % 2 ? 1 : 0, round % 4 < 2 ? 0 : 2000, true,
			in, out, round % 3 == 2 ? NULL : status, &c,
			crash_pids, round % 5 == 4 ? 1 + round / 5 % 2 : 0);
		round++;
		if (call_failed) /* the pool refused work: going on says no more */
			break;
	}
	atomic_store(&killer_stop, 1);
	pthread_join(kt, NULL);

	watch("the wait for replacements");
	/* A supervisor killed last is replaced when a call next waits. */
	one_map(64, 1, 0, false, in, out, status, &c, crash_pids, 0);
	check_workers();
	watch(NULL);
	charge_unknown();
	/* With no kills, every item of a map succeeds. */
	before = n_ecrash;
	one_map(n, 1, 0, false, in, out, status, &c, crash_pids, 0);
	if (n_ecrash != before) {
		fprintf(stderr, "soak: the map without kills failed %zu items\n",
			n_ecrash - before);
		n_errors++;
	}
	watch("hpool_destroy");
	hpool_shm_free(g_pool, c.runs);
	hpool_shm_free(g_pool, c.pid);
	if ((e = hpool_destroy(g_pool))) {
		fprintf(stderr, "soak: hpool_destroy: %s\n", hpool_strerror(e));
		n_errors++;
	}
	watch(NULL);
	summary(0);
	free(in);
	free(out);
	free(status);
	free(crash_pids);
	return n_lost || n_dup || failed_per_kill_max > PER_KILL || n_spurious ||
	       n_errors || n_workers_lost;
}
