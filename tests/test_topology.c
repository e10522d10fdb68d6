/* SPDX-License-Identifier: MIT */
/*
 * test_topology: core counts, worker cpusets and binding, on synthetic
 * machine shapes (exact answers) and on this machine (invariants only).
 *
 * hwloc facts these tests rely on (hwloc 2.9, checked by the tests):
 *  - synthetic PUs get os indexes in logical order unless the description
 *    says otherwise with "(indexes=...)": in "pack:2 core:4 pu:2", PU os
 *    index i lies on core i / 2. hwloc orders siblings by their lowest os
 *    index, so only interleaved indexes (0,2,1,3) make logical order
 *    differ from os order;
 *  - a shape without a core level ("pack:1 pu:4") gets no Core objects
 *    (hwloc does not insert any): each PU then counts as a core;
 *  - binding calls on a synthetic topology are no-ops that return success
 *    in hwloc; hpool__topo_bind reports -ENOSYS instead.
 *
 * Tests that change the process's affinity run in a forked child, which
 * never calls assert_*: it _exits a code that the parent checks.
 *
 * Under valgrind, every synthetic load in hwloc 2.9 reports "Source and
 * destination overlap in memcpy_chk": hwloc calls memmove, which glibc's
 * fortified __memmove_chk routes to the symbol valgrind checks as memcpy.
 * It is not ours; suppress it with
 *   { hwloc-memmove-chk  Memcheck:Overlap  fun:__memcpy_chk
 *     obj:*libhwloc.so* }
 * (with --error-exitcode it would also change the children's exit codes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* CPU_* macros, sched_{get,set}affinity */
#endif
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util.h"

#define LIST_MAX 4096

static struct hpool__topo *syn(const char *desc, const char *allowed)
{
	struct hpool__topo *t = NULL;

	assert_int_equal(hpool__topo_open_synthetic(desc, allowed, &t), 0);
	assert_non_null(t);
	return t;
}

static void expect_list(const struct hpool__topo *t, unsigned w,
			const char *want)
{
	char buf[LIST_MAX];

	assert_int_equal(hpool__topo_worker_cpulist(t, w, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, want);
}

/*
 * What must hold on any topology: worker sets 0..cores-1 are non-empty,
 * pairwise disjoint and together hold exactly `pus` PUs; workers
 * cores..2*cores-1 wrap around to the same sets.
 */
static void check_partition(const struct hpool__topo *t)
{
	unsigned cores = hpool__topo_cores(t), w;
	hwloc_bitmap_t all = hwloc_bitmap_alloc(), one = hwloc_bitmap_alloc();
	char a[LIST_MAX], b[LIST_MAX];

	assert_non_null(all);
	assert_non_null(one);
	assert_true(cores >= 1);
	assert_true(hpool__topo_pus(t) >= cores);
	for (w = 0; w < cores; w++) {
		assert_int_equal(hpool__topo_worker_cpulist(t, w, a, sizeof(a)),
				 0);
		assert_int_equal(hwloc_bitmap_list_sscanf(one, a), 0);
		assert_false(hwloc_bitmap_iszero(one));
		assert_false(hwloc_bitmap_intersects(all, one));
		hwloc_bitmap_or(all, all, one);
		/* wrap-around: worker w + cores shares worker w's core */
		assert_int_equal(hpool__topo_worker_cpulist(t, w + cores, b,
							    sizeof(b)), 0);
		assert_string_equal(a, b);
	}
	assert_int_equal(hwloc_bitmap_weight(all), (int)hpool__topo_pus(t));
	hwloc_bitmap_free(one);
	hwloc_bitmap_free(all);
}

/* ---- synthetic shapes --------------------------------------------------- */

static void test_two_packages_smt(void **state)
{
	struct hpool__topo *t = syn("pack:2 core:4 pu:2", NULL);

	assert_int_equal(hpool__topo_cores(t), 8);
	assert_int_equal(hpool__topo_pus(t), 16);
	/* both hyperthreads of a core go to one worker */
	expect_list(t, 0, "0-1");
	expect_list(t, 1, "2-3");
	expect_list(t, 7, "14-15");
	expect_list(t, 8, "0-1");
	expect_list(t, 15, "14-15");
	expect_list(t, 16, "0-1");
	check_partition(t);
	hpool__topo_close(t);
}

static void test_cores_no_smt(void **state)
{
	struct hpool__topo *t = syn("core:4 pu:1", NULL);

	assert_int_equal(hpool__topo_cores(t), 4);
	assert_int_equal(hpool__topo_pus(t), 4);
	expect_list(t, 0, "0");
	expect_list(t, 3, "3");
	expect_list(t, 4, "0");
	check_partition(t);
	hpool__topo_close(t);
}

/* hwloc inserts no Core level: every PU counts as a core of its own. */
static void test_no_core_level(void **state)
{
	struct hpool__topo *t = syn("pack:1 pu:4", NULL);

	assert_int_equal(hpool__topo_cores(t), 4);
	assert_int_equal(hpool__topo_pus(t), 4);
	expect_list(t, 0, "0");
	expect_list(t, 3, "3");
	expect_list(t, 5, "1");
	check_partition(t);
	hpool__topo_close(t);

	t = syn("pu:3", NULL);
	assert_int_equal(hpool__topo_cores(t), 3);
	assert_int_equal(hpool__topo_pus(t), 3);
	check_partition(t);
	hpool__topo_close(t);
}

/* Workers follow topology (logical) order; lists name os indexes. Here
 * core 0 holds PUs os 0 and 2, core 1 os 1 and 3 (Linux-style SMT
 * numbering), so sorting by os index would get both wrong. */
static void test_os_index_layout(void **state)
{
	const char *desc = "pack:2 core:2 pu:2(indexes=0,2,1,3,4,6,5,7)";
	struct hpool__topo *t = syn(desc, NULL);

	assert_int_equal(hpool__topo_cores(t), 4);
	assert_int_equal(hpool__topo_pus(t), 8);
	expect_list(t, 0, "0,2");
	expect_list(t, 1, "1,3");
	expect_list(t, 2, "4,6");
	expect_list(t, 3, "5,7");
	check_partition(t);
	hpool__topo_close(t);

	/* os 2 is on core 0, os 1 on core 1: worker 0 gets 2, not 1 */
	t = syn(desc, "1-2");
	assert_int_equal(hpool__topo_cores(t), 2);
	assert_int_equal(hpool__topo_pus(t), 2);
	expect_list(t, 0, "2");
	expect_list(t, 1, "1");
	check_partition(t);
	hpool__topo_close(t);

	/* without a core level: package 0 holds os 0 and 2, so PU order
	 * is 0, 2, 1, 3 */
	t = syn("pack:2 pu:2(indexes=0,2,1,3)", NULL);
	assert_int_equal(hpool__topo_cores(t), 4);
	expect_list(t, 0, "0");
	expect_list(t, 1, "2");
	expect_list(t, 2, "1");
	expect_list(t, 3, "3");
	check_partition(t);
	hpool__topo_close(t);

	/* hwloc sorts siblings by their lowest os index: a reversed list
	 * changes nothing */
	t = syn("pack:1 pu:4(indexes=3,2,1,0)", NULL);
	expect_list(t, 0, "0");
	expect_list(t, 3, "3");
	hpool__topo_close(t);
}

static void test_allowed_whole_cores(void **state)
{
	struct hpool__topo *t = syn("pack:2 core:4 pu:2", "0-3");

	assert_int_equal(hpool__topo_cores(t), 2);
	assert_int_equal(hpool__topo_pus(t), 4);
	expect_list(t, 0, "0-1");
	expect_list(t, 1, "2-3");
	expect_list(t, 2, "0-1");
	check_partition(t);
	hpool__topo_close(t);

	/* a range, a single PU and another package */
	t = syn("pack:2 core:4 pu:2", "2-5,14");
	assert_int_equal(hpool__topo_cores(t), 3);
	assert_int_equal(hpool__topo_pus(t), 5);
	expect_list(t, 0, "2-3");
	expect_list(t, 1, "4-5");
	expect_list(t, 2, "14");
	check_partition(t);
	hpool__topo_close(t);
}

/* One PU of each of three cores: three cores, and a worker's list holds
 * only the allowed PUs of its core, never its sibling. */
static void test_allowed_partial_cores(void **state)
{
	struct hpool__topo *t = syn("pack:2 core:4 pu:2", "0,2,4");

	assert_int_equal(hpool__topo_cores(t), 3);
	assert_int_equal(hpool__topo_pus(t), 3);
	expect_list(t, 0, "0");
	expect_list(t, 1, "2");
	expect_list(t, 2, "4");
	expect_list(t, 3, "0");
	check_partition(t);
	hpool__topo_close(t);

	/* the two PUs of "1-2" are on different cores */
	t = syn("pack:2 core:4 pu:2", "1-2");
	assert_int_equal(hpool__topo_cores(t), 2);
	assert_int_equal(hpool__topo_pus(t), 2);
	expect_list(t, 0, "1");
	expect_list(t, 1, "2");
	hpool__topo_close(t);

	/* a single PU: one core, never 0 */
	t = syn("pack:2 core:4 pu:2", "15");
	assert_int_equal(hpool__topo_cores(t), 1);
	assert_int_equal(hpool__topo_pus(t), 1);
	expect_list(t, 0, "15");
	expect_list(t, 41, "15");
	hpool__topo_close(t);
}

static void test_invalid_desc(void **state)
{
	static const char *const bad[] = {
		"", "bogus", "core:0 pu:1", "pack:2 core:4 pu:2 foo",
		"pack:2 core:-1 pu:2",
	};
	struct hpool__topo *t = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hpool__topo_open_synthetic(bad[i], NULL, &t),
				 -EINVAL);
		assert_null(t);
	}
	assert_int_equal(hpool__topo_open_synthetic(NULL, NULL, &t), -EINVAL);
	assert_int_equal(hpool__topo_open_synthetic("pu:2", NULL, NULL),
			 -EINVAL);
	assert_null(t);
}

/* hwloc's own list parser accepts most of these (as an empty, infinite or
 * surprising set); we do not. PUs the shape lacks are refused too. */
static void test_invalid_list(void **state)
{
	static const char *const bad[] = {
		"x", "0-", "-1", "3-1", "1-3,", ",1", " 1", "1 ", "0x1",
		"1 2", "1;2", "0--3", "1,,2", "16", "0,16", "15-16",
		"99999999999999999999", "0-4000000000",
	};
	const char *desc = "pack:2 core:4 pu:2";
	struct hpool__topo *t = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hpool__topo_open_synthetic(desc, bad[i], &t),
				 -EINVAL);
		assert_null(t);
	}
	/* the edges of what is accepted */
	t = syn(desc, "0-15");
	assert_int_equal(hpool__topo_pus(t), 16);
	hpool__topo_close(t);
	t = syn(desc, "3-3,3");
	assert_int_equal(hpool__topo_pus(t), 1);
	hpool__topo_close(t);
}

static void test_empty_allowed(void **state)
{
	struct hpool__topo *t = NULL;

	assert_int_equal(hpool__topo_open_synthetic("core:4 pu:1", "", &t),
			 -EINVAL);
	assert_null(t);
}

static void test_buffer_too_small(void **state)
{
	struct hpool__topo *t = syn("pack:2 core:4 pu:2", NULL);
	char buf[8];

	/* "14-15" needs 6 bytes with its NUL */
	assert_int_equal(hpool__topo_worker_cpulist(t, 7, buf, 6), 0);
	assert_string_equal(buf, "14-15");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(hpool__topo_worker_cpulist(t, 7, buf, 5), -ENOSPC);
	assert_int_equal(buf[0], '\0'); /* no truncated list like "14-1" */
	assert_int_equal(hpool__topo_worker_cpulist(t, 0, buf, 1), -ENOSPC);
	assert_int_equal(hpool__topo_worker_cpulist(t, 0, NULL, 0), -ENOSPC);
	hpool__topo_close(t);
}

/* ---- hybrid mode's shape ----------------------------------------------- */

/* The default shape of desc is procs x threads, grouped at `level`, and
 * process g's cpus are want[g]. */
static void expect_shape(const char *desc, const char *allowed,
			 unsigned procs, unsigned threads, const char *level,
			 const char *const *want)
{
	struct hpool__topo *t = syn(desc, allowed);
	unsigned p = 0, th = 0, g;
	const char *lv = NULL;
	char buf[LIST_MAX];

	assert_int_equal(hpool__topo_hybrid_shape(t, &p, &th, &lv), 0);
	if (p != procs || th != threads || strcmp(lv, level))
		print_message("%s: %ux%u at %s\n", desc, p, th, lv);
	assert_int_equal(p, procs);
	assert_int_equal(th, threads);
	assert_string_equal(lv, level);
	for (g = 0; g < procs; g++) {
		assert_int_equal(hpool__topo_hybrid_cpulist(t, p, th, g, buf,
							    sizeof(buf)), 0);
		assert_string_equal(buf, want[g]);
	}
	hpool__topo_close(t);
}

/* One process per NUMA node, a thread per core (not per PU). */
static void test_hybrid_numa(void **state)
{
	static const char *const want[] = { "0-15", "16-31", "32-47",
					    "48-63" };

	expect_shape("pack:2 numa:2 core:8 pu:2", NULL, 4, 8, "NUMANode",
		     want);
}

/* The 2-socket, 4-node, 64-core machine (the README's example). */
static void test_hybrid_numa_64(void **state)
{
	static const char *const want[] = { "0-31", "32-63", "64-95",
					    "96-127" };

	expect_shape("pack:2 numa:2 core:16 pu:2", NULL, 4, 16, "NUMANode",
		     want);
}

/* One package, one node: a single process with a thread per core (hwloc
 * wants a PU level at the end: "pack:1 core:2" is written so). */
static void test_hybrid_single(void **state)
{
	static const char *const want[] = { "0-1" };

	expect_shape("pack:1 core:2 pu:1", NULL, 1, 2, "machine", want);
}

/* No NUMA information (hwloc then shows one node for the machine): one
 * process per package. */
static void test_hybrid_no_numa(void **state)
{
	static const char *const want[] = { "0-3", "4-7" };

	expect_shape("pack:2 core:4 pu:1", NULL, 2, 4, "Package", want);
}

/* One package, two L3 groups: one process per L3. */
static void test_hybrid_l3(void **state)
{
	static const char *const want[] = { "0-7", "8-15" };

	expect_shape("pack:1 l3:2 core:4 pu:2", NULL, 2, 4, "L3Cache", want);
}

/* Allowed cpus cut the groups: a node with no allowed core is no
 * process; the smallest group sets the thread count. */
static void test_hybrid_allowed(void **state)
{
	static const char *const want[] = { "0-5", "8-9" };

	expect_shape("pack:1 numa:3 core:4 pu:2", "0-5,8-9", 2, 1,
		     "NUMANode", want);
}

/* A shape other than the machine's (HPOOL_HYBRID): process g's cpus are
 * the cores of its threads, in topology order. */
static void test_hybrid_override_sets(void **state)
{
	struct hpool__topo *t = syn("pack:2 numa:2 core:8 pu:2", NULL);
	char buf[LIST_MAX];

	assert_int_equal(hpool__topo_hybrid_cpulist(t, 2, 3, 0, buf,
						    sizeof(buf)), 0);
	assert_string_equal(buf, "0-5");
	assert_int_equal(hpool__topo_hybrid_cpulist(t, 2, 3, 1, buf,
						    sizeof(buf)), 0);
	assert_string_equal(buf, "6-11");
	/* more threads than cores wrap around */
	assert_int_equal(hpool__topo_hybrid_cpulist(t, 1, 40, 0, buf,
						    sizeof(buf)), 0);
	assert_string_equal(buf, "0-63");
	assert_int_equal(hpool__topo_hybrid_cpulist(t, 2, 3, 0, buf, 3),
			 -ENOSPC);
	assert_int_equal(hpool__topo_hybrid_cpulist(t, 2, 0, 0, buf,
						    sizeof(buf)), -EINVAL);
	/* binding a synthetic machine is refused, not faked */
	assert_int_equal(hpool__topo_hybrid_bind(t, 2, 3, 0, false), -ENOSYS);
	hpool__topo_close(t);
}

/* Binding a synthetic machine would bind by os indexes that mean nothing
 * here; hwloc would return success and do nothing. */
static void test_bind_synthetic(void **state)
{
	struct hpool__topo *t = syn("core:4 pu:1", NULL);

	assert_int_equal(hpool__topo_bind(t, 0, 1), -ENOSYS);
	assert_int_equal(hpool__topo_bind(t, 0, 0), -ENOSYS);
	hpool__topo_close(t);
}

/* ---- this machine ------------------------------------------------------- */

/* The calling thread's affinity as an hwloc list string. */
static int affinity_list(char *buf, size_t len)
{
	cpu_set_t cs; /* CPU_SETSIZE (1024) cpus: enough for a test host */
	hwloc_bitmap_t b = hwloc_bitmap_alloc();
	int i, n;

	if (!b || sched_getaffinity(0, sizeof(cs), &cs) < 0) {
		hwloc_bitmap_free(b);
		return -1;
	}
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &cs))
			hwloc_bitmap_set(b, (unsigned)i);
	n = hwloc_bitmap_list_snprintf(buf, len, b);
	hwloc_bitmap_free(b);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Run fn(arg) in a forked child (tests/util.h: a hung child dies by
 * SIGALRM); return its exit code, or 128 + signal when it died. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status = run_child(fn, arg);

	assert_int_not_equal(status, -1);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void test_real_machine(void **state)
{
	struct hpool__topo *t = NULL;
	cpu_set_t cs;

	assert_int_equal(hpool__topo_open(&t), 0);
	assert_non_null(t);
	assert_true(hpool__topo_cores(t) >= 1);
	assert_true(hpool__topo_pus(t) >= hpool__topo_cores(t));
	/* the kernel keeps affinity inside the cgroup's online cpus, so the
	 * allowed PUs are exactly the affinity mask (taskset shrinks it) */
	assert_int_equal(sched_getaffinity(0, sizeof(cs), &cs), 0);
	assert_int_equal(hpool__topo_pus(t), CPU_COUNT(&cs));
	check_partition(t);
	hpool__topo_close(t);
	assert_int_equal(hpool__topo_open(NULL), -EINVAL);
}

/* Restrict every thread of this process to cs. hwloc reads a process's
 * binding as the union over its threads, and a forked child is not always
 * single-threaded: ThreadSanitizer's runtime starts a background thread in
 * it. Return: 0 or -1. */
static int set_process_affinity(const cpu_set_t *cs)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	int ret = 0;

	if (!dir)
		return sched_setaffinity(0, sizeof(*cs), cs);
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.' &&
		    sched_setaffinity((pid_t)atoi(d->d_name), sizeof(*cs), cs))
			ret = -1;
	closedir(dir);
	return ret;
}

/* Child: restrict itself to one cpu, then open: one core, one PU. The
 * lowest cpu it may use stands for "cpu 0", so the test also holds when
 * run under taskset without cpu 0. */
static int child_one_cpu(void *arg)
{
	struct hpool__topo *t = NULL;
	char want[32], got[LIST_MAX];
	cpu_set_t cs;
	int cpu;

	if (sched_getaffinity(0, sizeof(cs), &cs) < 0)
		return 10;
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &cs); cpu++)
		;
	if (cpu == CPU_SETSIZE)
		return 11;
	CPU_ZERO(&cs);
	CPU_SET(cpu, &cs);
	if (set_process_affinity(&cs) < 0)
		return 12;
	if (hpool__topo_open(&t) != 0)
		return 13;
	if (hpool__topo_cores(t) != 1)
		return 14;
	if (hpool__topo_pus(t) != 1)
		return 15;
	snprintf(want, sizeof(want), "%d", cpu);
	if (hpool__topo_worker_cpulist(t, 0, got, sizeof(got)) != 0)
		return 16;
	if (strcmp(got, want) != 0)
		return 17;
	if (hpool__topo_worker_cpulist(t, 5, got, sizeof(got)) != 0 ||
	    strcmp(got, want) != 0)
		return 18;
	hpool__topo_close(t);
	return 0;
}

/* MPI: rank 0 adds the PUs its node's other ranks were bound to. The
 * machine's own limit still holds, worker sets follow, and a bad list
 * changes nothing. */
static void test_widen(void **state)
{
	struct hpool__topo *t = syn("pack:1 core:4 pu:2", "0-1");
	char buf[LIST_MAX];
	void *saved = &buf;

	assert_int_equal(hpool__topo_cores(t), 1);
	assert_int_equal(hpool__topo_widen(t, "4-5,7"), 0);
	assert_int_equal(hpool__topo_cores(t), 3);
	assert_int_equal(hpool__topo_pus(t), 5);
	assert_int_equal(hpool__topo_allowed_list(t, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0-1,4-5,7");
	expect_list(t, 1, "4-5");
	expect_list(t, 2, "7");
	assert_int_equal(hpool__topo_widen(t, "100-101"), 0); /* not here */
	assert_int_equal(hpool__topo_cores(t), 3);
	assert_int_equal(hpool__topo_widen(t, "2-x"), -EINVAL);
	assert_int_equal(hpool__topo_cores(t), 3);
	assert_int_equal(hpool__topo_allowed_list(t, buf, 4), -ENOSPC);
	assert_string_equal(buf, "");
	/* Another machine's topology binds nothing. */
	assert_int_equal(hpool__topo_thread_all(t, &saved), -ENOSYS);
	assert_null(saved);
	hpool__topo_thread_restore(t, saved);
	hpool__topo_close(t);
}

static void test_real_affinity_one_cpu(void **state)
{
	assert_int_equal(in_child(child_one_cpu, NULL), 0);
}

/* Bind to worker w (thread or process) and check that the kernel's mask
 * is exactly worker w's cpulist. */
static int bind_and_check(const struct hpool__topo *t, unsigned w,
			  int thread)
{
	char want[LIST_MAX], got[LIST_MAX];

	if (hpool__topo_bind(t, w, thread) != 0)
		return 1;
	if (hpool__topo_worker_cpulist(t, w, want, sizeof(want)) != 0)
		return 2;
	if (affinity_list(got, sizeof(got)) != 0)
		return 3;
	return strcmp(got, want) ? 4 : 0;
}

/* Child: uses the topology its parent opened (copied by fork). Binds to
 * the last worker's core first, then to worker 0's, so with two cores or
 * more the second bind must change the mask. */
static int child_bind(void *arg)
{
	const struct hpool__topo *t = arg;
	unsigned last = hpool__topo_cores(t) - 1;
	int rc;

	rc = bind_and_check(t, last, 1);
	if (rc)
		return 20 + rc;
	rc = bind_and_check(t, 0, 1);
	if (rc)
		return 30 + rc;
	/* whole process; worker `cores` wraps to worker 0 */
	rc = bind_and_check(t, last, 0);
	if (rc)
		return 40 + rc;
	rc = bind_and_check(t, hpool__topo_cores(t), 0);
	if (rc)
		return 50 + rc;
	return 0;
}

/* A second thread of the child, parked until the process bind is done,
 * then reporting its own mask. */
struct peer {
	int go[2];    /* main -> peer: bound, look now */
	char list[LIST_MAX];
	int rc;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char c;

	if (read(p->go[0], &c, 1) != 1)
		p->rc = 1;
	else
		p->rc = affinity_list(p->list, sizeof(p->list)) ? 2 : 0;
	return NULL;
}

/* Child: a process bind reaches every thread, not only the caller. With
 * two cores or more, the peer's mask must change from "all" to the last
 * worker's core. */
static int child_bind_process_threads(void *arg)
{
	const struct hpool__topo *t = arg;
	unsigned last = hpool__topo_cores(t) - 1;
	char want[LIST_MAX];
	struct peer p = { .rc = -1 };
	pthread_t th;

	if (pipe(p.go) < 0)
		return 10;
	if (pthread_create(&th, NULL, peer_main, &p) != 0)
		return 11;
	if (hpool__topo_bind(t, last, 0) != 0)
		return 12;
	if (write(p.go[1], "x", 1) != 1)
		return 13;
	if (pthread_join(th, NULL) != 0 || p.rc != 0)
		return 14;
	if (hpool__topo_worker_cpulist(t, last, want, sizeof(want)) != 0)
		return 15;
	return strcmp(p.list, want) ? 16 : 0;
}

static void test_real_bind_process_threads(void **state)
{
	struct hpool__topo *t = NULL;

	assert_int_equal(hpool__topo_open(&t), 0);
	assert_int_equal(in_child(child_bind_process_threads, t), 0);
	hpool__topo_close(t);
}

/* Child: the caller's own thread pinned to one cpu while another thread
 * may run anywhere: the process may still use the union, so every PU it
 * had stays allowed (hwloc's process binding, not the thread's). */
static int child_thread_pinned(void *arg)
{
	struct hpool__topo *t = NULL;
	struct peer p = { .rc = -1 };
	cpu_set_t all, one;
	pthread_t th;
	int cpu, rc = 0;

	if (sched_getaffinity(0, sizeof(all), &all) < 0)
		return 10;
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &all); cpu++)
		;
	if (pipe(p.go) < 0)
		return 11;
	if (pthread_create(&th, NULL, peer_main, &p) != 0)
		return 12;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0)
		rc = 13;
	else if (hpool__topo_open(&t) != 0)
		rc = 14;
	else if (hpool__topo_pus(t) != (unsigned)CPU_COUNT(&all))
		rc = 15;
	if (write(p.go[1], "x", 1) != 1 || pthread_join(th, NULL) != 0)
		return 16;
	hpool__topo_close(t);
	return rc;
}

static void test_real_process_binding_is_union(void **state)
{
	assert_int_equal(in_child(child_thread_pinned, NULL), 0);
}

/* Child: $HWLOC_SYNTHETIC makes hwloc load a made-up machine of 1024 cores
 * that is not this system; hwloc then answers binding queries with all 1024
 * PUs. The kernel's mask still limits what we may use, and binding is
 * refused rather than faked. */
static int child_not_thissystem(void *arg)
{
	struct hpool__topo *t = NULL;
	cpu_set_t cs;
	int rc = 0;

	if (sched_getaffinity(0, sizeof(cs), &cs) < 0)
		return 10;
	if (setenv("HWLOC_SYNTHETIC", "pack:1 core:1024 pu:1", 1) < 0)
		return 11;
	if (hpool__topo_open(&t) != 0)
		return 12;
	if (hpool__topo_pus(t) != (unsigned)CPU_COUNT(&cs))
		rc = 13;
	else if (hpool__topo_cores(t) != hpool__topo_pus(t))
		rc = 14;
	else if (hpool__topo_bind(t, 0, 1) != -ENOSYS)
		rc = 15;
	hpool__topo_close(t);
	return rc;
}

static void test_real_not_thissystem(void **state)
{
	assert_int_equal(in_child(child_not_thissystem, NULL), 0);
}

static void test_real_bind_in_child(void **state)
{
	struct hpool__topo *t = NULL;
	char before[LIST_MAX], after[LIST_MAX];

	assert_int_equal(hpool__topo_open(&t), 0);
	assert_int_equal(affinity_list(before, sizeof(before)), 0);
	assert_int_equal(in_child(child_bind, t), 0);
	/* the child's binding is its own */
	assert_int_equal(affinity_list(after, sizeof(after)), 0);
	assert_string_equal(before, after);
	hpool__topo_close(t);
}

int main(void)
{
	/* hwloc variables that replace discovery of this machine would make
	 * the real-machine tests test something else */
	static const char *const hwloc_env[] = {
		"HWLOC_XMLFILE", "HWLOC_SYNTHETIC", "HWLOC_FSROOT",
		"HWLOC_COMPONENTS", "HWLOC_THISSYSTEM",
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_packages_smt),
		cmocka_unit_test(test_cores_no_smt),
		cmocka_unit_test(test_no_core_level),
		cmocka_unit_test(test_os_index_layout),
		cmocka_unit_test(test_allowed_whole_cores),
		cmocka_unit_test(test_allowed_partial_cores),
		cmocka_unit_test(test_invalid_desc),
		cmocka_unit_test(test_invalid_list),
		cmocka_unit_test(test_empty_allowed),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_bind_synthetic),
		cmocka_unit_test(test_hybrid_numa),
		cmocka_unit_test(test_hybrid_numa_64),
		cmocka_unit_test(test_hybrid_single),
		cmocka_unit_test(test_hybrid_no_numa),
		cmocka_unit_test(test_hybrid_l3),
		cmocka_unit_test(test_hybrid_allowed),
		cmocka_unit_test(test_hybrid_override_sets),
		cmocka_unit_test(test_real_machine),
		cmocka_unit_test(test_widen),
		cmocka_unit_test(test_real_affinity_one_cpu),
		cmocka_unit_test(test_real_process_binding_is_union),
		cmocka_unit_test(test_real_not_thissystem),
		cmocka_unit_test(test_real_bind_in_child),
		cmocka_unit_test(test_real_bind_process_threads),
	};
	size_t i;

	for (i = 0; i < sizeof(hwloc_env) / sizeof(hwloc_env[0]); i++)
		unsetenv(hwloc_env[i]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
