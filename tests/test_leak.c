/* SPDX-License-Identifier: MIT */
/*
 * Leaks and descriptor hygiene, in every mode.
 *
 * Leak check: many create/use/destroy cycles; after a warm-up (which fills
 * the bounded quarantine of destroyed handles, hwloc's and glibc's caches)
 * the process must be where it was: the same open descriptors and the same
 * number of mappings exactly, heap bytes in use and RSS within a small
 * tolerance, and the same child processes (no zombie, no leftover
 * supervisor; the test is a child subreaper, so a worker orphaned by its
 * supervisor would become its child and be counted too).
 * HPOOL_LEAK_CYCLES sets the number of cycles per mode (default 2000, 30
 * under a sanitizer; `make soak` runs 10,000).
 *
 * Descriptor hygiene: every descriptor the library creates, in the caller
 * and in the supervisor, is close-on-exec; a worker holds no descriptor of
 * the library's: every descriptor it has was the caller's before any pool
 * existed (no request channel, signalfd or pidfd, of its own pool or of
 * another), and so do its replacements.
 */
#include "hpool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internals.h"
#include "modes.h"
#include "util.h"

/* Under a sanitizer its allocator owns heap, RSS and mappings: only
 * descriptors and processes are compared, which a few cycles show (and
 * under ASan every process of a pool runs a leak check as it leaves,
 * about a fifth of a second each here). */
#if defined(HPOOL_TEST_ASAN) || defined(HPOOL_TEST_TSAN)
#define UNDER_SANITIZER 1
#define DEFAULT_CYCLES 30
#define WARMUP_CYCLES 10
#else
#define UNDER_SANITIZER 0
#define DEFAULT_CYCLES 2000
#define WARMUP_CYCLES 100 /* more than the 64 quarantined handles */
#endif
#define RSS_SLACK ((size_t)4 << 20)
#define HEAP_SLACK ((size_t)64 << 10)

static hpool_mode g_mode;

/* ---- descriptors ---------------------------------------------------------- */

#define MAX_FDS 1024

struct fdset {
	unsigned n;
	int fd[MAX_FDS];
	char target[MAX_FDS][64]; /* readlink: "socket:[123]", "/dev/null" */
};

/* The open descriptors of `pid` (0: this process, without the one used
 * to list them). Return: false when the process is gone. */
static bool list_fds(int pid, struct fdset *s)
{
	char dir[64], path[96];
	struct dirent *e;
	DIR *d;

	if (pid)
		snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/fd");
	s->n = 0;
	d = opendir(dir);
	if (!d)
		return false;
	while ((e = readdir(d)) && s->n < MAX_FDS) {
		ssize_t k;
		int fd;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		fd = atoi(e->d_name);
		if (!pid && fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "%s/%d", dir, fd);
		k = readlink(path, s->target[s->n], sizeof(s->target[0]) - 1);
		s->target[s->n][k > 0 ? k : 0] = 0;
		s->fd[s->n++] = fd;
	}
	closedir(d);
	return true;
}

/* Is (fd, target) in s? */
static bool fd_in(const struct fdset *s, int fd, const char *target)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->fd[i] == fd && !strcmp(s->target[i], target))
			return true;
	return false;
}

static bool target_in(const struct fdset *s, const char *target)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->target[i], target))
			return true;
	return false;
}

/* The fdinfo flags of fd in pid (0: self), or -1. */
static long fd_flags(int pid, int fd)
{
	char path[96], line[128];
	long flags = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(f);
	return flags;
}

/* Every descriptor of pid that is not in `before` is close-on-exec.
 * Return: how many such descriptors there were. */
static unsigned check_new_cloexec(int pid, const struct fdset *before,
				  const char *who)
{
	static struct fdset now;
	unsigned n = 0;

	assert_true(list_fds(pid, &now));
	for (unsigned i = 0; i < now.n; i++) {
		long fl;

		if (fd_in(before, now.fd[i], now.target[i]))
			continue;
		n++;
		fl = fd_flags(pid, now.fd[i]);
		if (fl < 0) /* closed since it was listed: nothing held */
			continue;
		if (!(fl & O_CLOEXEC))
			print_message("%s: fd %d (%s) is not close-on-exec "
				      "(flags 0%lo)\n", who, now.fd[i],
				      now.target[i], fl);
		assert_true(fl & O_CLOEXEC);
	}
	return n;
}

/* Is pid a started worker of `sup`? Its name is set after it dropped the
 * supervisor's descriptors. */
static bool worker_started(int pid, int sup)
{
	char path[64], comm[32] = "";
	FILE *f;

	if (ppid_of(pid) != sup)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	return !strcmp(comm, "hpool-worker");
}

static void wait_worker_started(int pid, int sup)
{
	if (!WAIT_UNTIL(worker_started(pid, sup)))
		fail_msg("pid %d did not become a started worker of %d", pid,
			 sup);
}

/* Every descriptor a worker holds was the caller's before any pool
 * existed: none is the library's. */
static void check_worker_fds(int pid, const struct fdset *before)
{
	static struct fdset w;
	unsigned bad = 0;

	assert_true(list_fds(pid, &w));
	for (unsigned i = 0; i < w.n; i++) {
		if (fd_in(before, w.fd[i], w.target[i]))
			continue;
		print_message("worker %d holds fd %d (%s), which the caller "
			      "did not have before the pools\n", pid, w.fd[i],
			      w.target[i]);
		bad++;
	}
	assert_int_equal(bad, 0);
}

/* A supervisor holds none of the caller's library descriptors (its own
 * pool's or another's), and its own are close-on-exec. */
static void check_supervisor_fds(int pid, const struct fdset *before,
				 const struct fdset *lib)
{
	static struct fdset s;

	unsigned bad = 0;

	assert_true(list_fds(pid, &s));
	for (unsigned i = 0; i < s.n; i++) {
		if (!target_in(lib, s.target[i]))
			continue;
		print_message("supervisor %d holds fd %d (%s), a caller's "
			      "end of a pool's channel\n", pid, s.fd[i],
			      s.target[i]);
		bad++;
	}
	assert_int_equal(bad, 0);
	check_new_cloexec(pid, before, "supervisor");
}

/* ---- tasks and pools ------------------------------------------------------ */

static int task_add(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in + *(const long *)ctx;
	return 0;
}

static hpool *make_pool_in(hpool_mode mode, unsigned workers)
{
	hpool_config cfg;
	hpool *p = NULL;

	hpool_config_init(&cfg);
	cfg.mode = mode;
	cfg.workers = workers;
	cfg.shm_size = (size_t)4 << 20;
	assert_int_equal(hpool_create(&p, &cfg), 0);
	return p;
}

static hpool *make_pool(unsigned workers)
{
	return make_pool_in(g_mode, workers);
}

/* Use the pool a little: a map, a submitted task. */
static void use_pool(hpool *p)
{
	long in[32], out[32], k = 5, one = 1, r = 0;
	hpool_future *f;

	for (int i = 0; i < 32; i++)
		in[i] = i;
	assert_int_equal(hpool_map(p, task_add, &k, sizeof(k), in, sizeof(long),
				   out, sizeof(long), 32, NULL), 0);
	assert_int_equal(out[31], 36);
	assert_int_equal(hpool_submit(p, task_add, &k, sizeof(k), &one,
				      sizeof(long), sizeof(long), &f), 0);
	assert_int_equal(hpool_wait(f, &r, -1), 0);
	assert_int_equal(r, 6);
}

/* ---- process state -------------------------------------------------------- */

struct usage {
	size_t heap;        /* malloc bytes in use, every arena */
	size_t rss;         /* bytes */
	unsigned fds, maps; /* open descriptors, lines of /proc/self/maps */
	unsigned children, zombies;
};

static unsigned count_lines(const char *path)
{
	unsigned n = 0;
	FILE *f = fopen(path, "r");
	int c;

	assert_non_null(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Children of this process, and how many of them are zombies. */
static void count_children(unsigned *children, unsigned *zombies)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int me = getpid();

	assert_non_null(d);
	*children = *zombies = 0;
	while ((e = readdir(d))) {
		char path[300], buf[512], *p, state = 0;
		int ppid = -1;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			sscanf(p + 1, " %c %d", &state, &ppid);
		fclose(f);
		if (ppid != me)
			continue;
		(*children)++;
		*zombies += state == 'Z';
	}
	closedir(d);
}

static void measure(struct usage *u)
{
	static struct fdset fds;
	long pages = 0, size;
	FILE *f;

	u->heap = mallinfo2().uordblks; /* first: the rest allocates */
	f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &pages), 2);
	fclose(f);
	u->rss = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
	assert_true(list_fds(0, &fds));
	u->fds = fds.n;
	u->maps = count_lines("/proc/self/maps");
	count_children(&u->children, &u->zombies);
}

static unsigned leak_cycles(void)
{
	const char *s = getenv("HPOOL_LEAK_CYCLES");
	char *end;
	unsigned long v;

	if (!s)
		return DEFAULT_CYCLES;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || !v || v > 10000000) {
		print_error("HPOOL_LEAK_CYCLES=%s: want a count of cycles\n", s);
		exit(2);
	}
	return (unsigned)v;
}

static const char *mode_name(void)
{
	return g_mode == HPOOL_MODE_THREAD  ? "thread" :
	       g_mode == HPOOL_MODE_PROCESS ? "process" :
	       g_mode == HPOOL_MODE_HYBRID  ? "hybrid" : "serial";
}

/* ---- the tests ------------------------------------------------------------ */

static void one_cycle(bool use)
{
	hpool *p = make_pool(2);

	if (use)
		use_pool(p);
	assert_int_equal(hpool_destroy(p), 0);
}

static void test_leak_cycles(void **st)
{
	unsigned cycles = leak_cycles(), i;
	struct usage a, b;
	struct timespec t0, t1;

	for (i = 0; i < WARMUP_CYCLES; i++)
		one_cycle(i % 2 == 0);
	measure(&a);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < cycles; i++)
		one_cycle(i % 2 == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	measure(&b);
	print_message("leak/%s: %u cycles (%.1f s) after %u: fds %u -> %u, "
		      "maps %u -> %u, heap %zu -> %zu B, rss %zu -> %zu KiB, "
		      "children %u -> %u, zombies %u -> %u\n", mode_name(), cycles,
		      (double)(t1.tv_sec - t0.tv_sec) +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		      WARMUP_CYCLES, a.fds, b.fds, a.maps, b.maps, a.heap,
		      b.heap, a.rss >> 10, b.rss >> 10, a.children, b.children,
		      a.zombies, b.zombies);
	assert_int_equal(b.fds, a.fds);
	assert_int_equal(b.children, a.children);
	assert_int_equal(b.zombies, a.zombies);
	if (UNDER_SANITIZER) {
		print_message("leak/%s: mappings, heap and RSS not checked "
			      "under a sanitizer (its allocator owns them)\n",
			      mode_name());
		return;
	}
	assert_int_equal(b.maps, a.maps);
	assert_true(b.heap <= a.heap + HEAP_SLACK);
	assert_true(b.rss <= a.rss + RSS_SLACK);
}

/* Every descriptor the library creates in the caller (and, in process
 * mode, in the supervisor) is close-on-exec; destroy closes them all. */
static void test_cloexec(void **st)
{
	static struct fdset before, after;
	int pids[8], n;
	unsigned made;
	hpool *p;

	assert_true(list_fds(0, &before));
	p = make_pool(2);
	use_pool(p);
	made = check_new_cloexec(0, &before, "caller");
	n = hpool__pool_pids(p, pids, 8);
	/* hybrid: 2 worker slots, threads of one process (a pid each) */
	if (g_mode == HPOOL_MODE_PROCESS || g_mode == HPOOL_MODE_HYBRID) {
		assert_int_equal(n, 3);
		/* the request channel's end, at least */
		assert_true(made >= 1);
		check_new_cloexec(pids[0], &before, "supervisor");
	} else {
		assert_int_equal(n, 0);
	}
	assert_int_equal(hpool_destroy(p), 0);
	assert_true(list_fds(0, &after));
	assert_int_equal(after.n, before.n);
	for (unsigned i = 0; i < after.n; i++)
		assert_true(fd_in(&before, after.fd[i], after.target[i]));
}

/* Workers hold no descriptor of the library's: not their supervisor's
 * (channel, signalfd, pidfd), not another pool's channel, and neither do
 * replacements; a supervisor holds no caller's end of any channel. */
static void test_worker_fds(void **st)
{
	static struct fdset before, lib;
	int pa[8], pb[8], na, nb, old;
	hpool *a, *b, *t;

	assert_true(list_fds(0, &before));
	a = make_pool(2);
	b = make_pool(2);
	/* a thread-mode pool alongside changes nothing */
	t = make_pool_in(HPOOL_MODE_THREAD, 1);
	na = hpool__pool_pids(a, pa, 8);
	nb = hpool__pool_pids(b, pb, 8);
	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID) {
		/* no processes: nothing else holds a descriptor */
		assert_int_equal(na, 0);
		assert_int_equal(nb, 0);
		check_new_cloexec(0, &before, "caller");
		goto out;
	}
	assert_int_equal(na, 3);
	assert_int_equal(nb, 3);
	/* lib: what the library opened in the caller (both channels) */
	assert_true(list_fds(0, &lib));
	{
		unsigned k = 0;

		for (unsigned i = 0; i < lib.n; i++)
			if (!fd_in(&before, lib.fd[i], lib.target[i])) {
				lib.fd[k] = lib.fd[i];
				memcpy(lib.target[k], lib.target[i],
				       sizeof(lib.target[0]));
				k++;
			}
		lib.n = k;
	}
	assert_true(lib.n >= 2);
	for (int i = 1; i < 3; i++) {
		wait_worker_started(pa[i], pa[0]);
		wait_worker_started(pb[i], pb[0]);
		check_worker_fds(pa[i], &before);
		check_worker_fds(pb[i], &before);
	}
	check_supervisor_fds(pa[0], &before, &lib);
	check_supervisor_fds(pb[0], &before, &lib);

	/* A replacement, forked after both pools exist, is as clean. */
	old = pa[1];
	assert_int_equal(kill(old, SIGKILL), 0);
	assert_true(WAIT_UNTIL(hpool__pool_pids(a, pa, 8) == 3 &&
			       pa[1] != old && pa[1] > 0));
	wait_worker_started(pa[1], pa[0]);
	check_worker_fds(pa[1], &before);
	use_pool(a);
	use_pool(b);
out:
	assert_int_equal(hpool_destroy(t), 0);
	assert_int_equal(hpool_destroy(b), 0);
	assert_int_equal(hpool_destroy(a), 0);
}

/* Two threads create process pools at the same moment: neither pool's
 * processes may hold the other's channel (a fork in one thread copies
 * whatever the other has open at that instant). */
struct racer {
	pthread_barrier_t *bar;
	hpool *p;
};

static void *race_create(void *arg)
{
	struct racer *r = arg;
	hpool_config cfg;

	hpool_config_init(&cfg);
	cfg.mode = g_mode;
	cfg.workers = 1;
	cfg.shm_size = (size_t)4 << 20;
	pthread_barrier_wait(r->bar);
	if (hpool_create(&r->p, &cfg))
		r->p = NULL;
	return NULL;
}

static void test_concurrent_create_fds(void **st)
{
	static struct fdset before, lib;
	pthread_barrier_t bar;

	if (g_mode != HPOOL_MODE_PROCESS && g_mode != HPOOL_MODE_HYBRID)
		SKIP_IN_MODE(g_mode, "no processes are forked, so none can "
			     "inherit another pool's descriptors");
#ifdef HPOOL_TEST_ASAN
	/* Two threads fork at once here, and GCC 12's ASan allocator is
	 * not fork-safe: a supervisor forked while the other thread held
	 * its lock gave a worker that waited in GetFromAllocator for ever
	 * (gdb, in CI). A visible skip; the plain build runs it. */
	skip();
#endif
	assert_true(list_fds(0, &before));
	pthread_barrier_init(&bar, NULL, 2);
	for (int round = 0; round < 30; round++) {
		struct racer r[2] = { { &bar, NULL }, { &bar, NULL } };
		pthread_t th[2];
		int pids[4];

		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, race_create, &r[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		assert_non_null(r[0].p);
		assert_non_null(r[1].p);
		assert_true(list_fds(0, &lib));
		{
			unsigned k = 0;

			for (unsigned i = 0; i < lib.n; i++)
				if (!fd_in(&before, lib.fd[i], lib.target[i])) {
					lib.fd[k] = lib.fd[i];
					memcpy(lib.target[k], lib.target[i],
					       sizeof(lib.target[0]));
					k++;
				}
			lib.n = k;
		}
		for (int i = 0; i < 2; i++) {
			assert_int_equal(hpool__pool_pids(r[i].p, pids, 4), 2);
			wait_worker_started(pids[1], pids[0]);
			check_worker_fds(pids[1], &before);
			check_supervisor_fds(pids[0], &before, &lib);
		}
		assert_int_equal(hpool_destroy(r[0].p), 0);
		assert_int_equal(hpool_destroy(r[1].p), 0);
	}
	pthread_barrier_destroy(&bar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cloexec),
		cmocka_unit_test(test_worker_fds),
		cmocka_unit_test(test_concurrent_create_fds),
		cmocka_unit_test(test_leak_cycles),
	};

	unsetenv("HPOOL_MODE");
	unsetenv("HPOOL_WORKERS");
	/* Orphaned descendants (a worker whose supervisor died) become our
	 * children, where the leak check counts them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return run_in_every_mode("leak", tests,
				 sizeof(tests) / sizeof(tests[0]), &g_mode);
}
