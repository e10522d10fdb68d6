/* SPDX-License-Identifier: MIT */
/*
 * topology.c: which cpus this process may use, how many physical cores that
 * is, and which cpus each worker is bound to (hwloc).
 *
 * Everything is computed once, in hpool__topo_open*(): the allowed cpuset
 * and one cpuset per allowed core ("worker set"), in topology order. After
 * that the object is read-only, so any thread may use it at the same time,
 * and a forked child may use its copy (hwloc runs no threads of its own and
 * keeps no process ids: binding acts on the calling thread or process).
 *
 * Worker sets: the allowed PUs of one core each. A PU that hwloc places
 * under no core (shapes without a Core level, such as "pack:1 pu:4") is a
 * core of its own, so the count is never 0 while a PU is allowed.
 *
 * Hybrid mode (the end of the file): the machine split into groups, one
 * process each (NUMA node, else package, else L3), a thread per core.
 *
 * All sets hold PU os indexes (what the kernel calls cpu numbers), which
 * need not follow hwloc's logical order.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* CPU_* macros, sched_{get,set}affinity */
#endif
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

struct hpool__topo {
	hwloc_topology_t topo;
	hwloc_bitmap_t allowed; /* PUs we may use, subset of the topology's */
	hwloc_bitmap_t *sets;   /* per allowed core, topology order */
	unsigned ncores;        /* entries in sets, >= 1 */
	unsigned npus;          /* weight of allowed, >= 1 */
	bool thissystem;        /* binding calls reach the kernel */
};

/* Largest PU os index accepted in a list: far above any real machine,
 * and keeps a typo like "0-4000000000" from allocating a huge bitmap. */
#define TOPO_PU_MAX 65535ul

static void topo_free(struct hpool__topo *t)
{
	unsigned i;

	if (!t)
		return;
	if (t->sets) {
		for (i = 0; i < t->ncores; i++)
			hwloc_bitmap_free(t->sets[i]);
		free(t->sets);
	}
	hwloc_bitmap_free(t->allowed);
	if (t->topo)
		hwloc_topology_destroy(t->topo);
	free(t);
}

static int topo_alloc(struct hpool__topo **out)
{
	struct hpool__topo *t;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->allowed = hwloc_bitmap_alloc();
	if (!t->allowed || hwloc_topology_init(&t->topo) < 0) {
		t->topo = NULL;
		topo_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

/*
 * Fill t->sets from t->allowed. PUs are walked in logical order, which is
 * the tree's depth-first order, so the PUs of one core are contiguous: a
 * new worker set starts whenever the core changes (or a PU has none).
 */
static int topo_split(struct hpool__topo *t)
{
	hwloc_obj_t pu = NULL, core, last = NULL;
	int w = hwloc_bitmap_weight(t->allowed);

	if (w <= 0)
		return -EINVAL; /* nothing allowed: no worker could run */
	t->npus = (unsigned)w;
	/* at most one set per allowed PU */
	t->sets = calloc(t->npus, sizeof(*t->sets));
	if (!t->sets)
		return -ENOMEM;
	while ((pu = hwloc_get_next_obj_by_type(t->topo, HWLOC_OBJ_PU, pu))) {
		if (!hwloc_bitmap_isset(t->allowed, pu->os_index))
			continue;
		core = hwloc_get_ancestor_obj_by_type(t->topo, HWLOC_OBJ_CORE,
						      pu);
		if (!core || core != last) {
			/* each new set starts at a distinct allowed PU */
			HPOOL__ASSERT(t->ncores < t->npus);
			t->sets[t->ncores] = hwloc_bitmap_alloc();
			if (!t->sets[t->ncores])
				return -ENOMEM;
			t->ncores++;
		}
		hwloc_bitmap_set(t->sets[t->ncores - 1], pu->os_index);
		last = core;
	}
	/* allowed was cut to the topology's cpuset, so some PU was seen;
	 * a topology whose cpuset names PUs it has no object for is not
	 * usable */
	if (t->ncores == 0)
		return -EINVAL;
	return 0;
}

/* The affinity mask of the calling thread, from the kernel; the cpu_set_t
 * grows until it holds every cpu the kernel knows. */
static int sched_mask(hwloc_bitmap_t out)
{
	size_t ncpu, sz, i;
	cpu_set_t *cs;

	for (ncpu = 1024; ncpu <= (1u << 20); ncpu *= 2) {
		cs = CPU_ALLOC(ncpu);
		if (!cs)
			return -ENOMEM;
		sz = CPU_ALLOC_SIZE(ncpu);
		if (sched_getaffinity(0, sz, cs) == 0) {
			hwloc_bitmap_zero(out);
			for (i = 0; i < sz * 8; i++)
				if (CPU_ISSET_S(i, sz, cs))
					hwloc_bitmap_set(out, (unsigned)i);
			CPU_FREE(cs);
			return 0;
		}
		CPU_FREE(cs);
		if (errno != EINVAL) /* EINVAL: mask too small for the kernel */
			break;
	}
	return -EIO;
}

/*
 * Where this process may run. The process binding (the union over its
 * threads) comes first: the calling thread may itself be a bound worker
 * of another pool. When hwloc cannot read it (no /proc), the thread's,
 * then the kernel's mask directly. A topology that is not this system
 * (HWLOC_XMLFILE without HWLOC_THISSYSTEM) answers binding queries with
 * its full cpuset, so only the kernel is asked then.
 */
static int topo_binding(struct hpool__topo *t, hwloc_bitmap_t out)
{
	if (t->thissystem) {
		if (hwloc_get_cpubind(t->topo, out, HWLOC_CPUBIND_PROCESS) == 0
		    && !hwloc_bitmap_iszero(out))
			return 0;
		if (hwloc_get_cpubind(t->topo, out, HWLOC_CPUBIND_THREAD) == 0
		    && !hwloc_bitmap_iszero(out))
			return 0;
	}
	return sched_mask(out);
}

/*
 * Load this machine, only what we use, quickly and without side effects:
 * - DONT_CHANGE_BINDING: discovery never rebinds the caller, which may run
 *   other threads or be bound on purpose;
 * - no distances, memory attributes, cpu kinds, caches or I/O devices
 *   (caches and I/O cost sysfs walks; we need cores and PUs only).
 * IS_THISSYSTEM is left to hwloc (and $HWLOC_THISSYSTEM): forcing it would
 * make an XML topology of another machine bind for real.
 */
static int topo_load_native(hwloc_topology_t topo)
{
	unsigned long flags = HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING |
			      HWLOC_TOPOLOGY_FLAG_NO_DISTANCES |
			      HWLOC_TOPOLOGY_FLAG_NO_MEMATTRS |
			      HWLOC_TOPOLOGY_FLAG_NO_CPUKINDS;

	if (hwloc_topology_set_flags(topo, flags) < 0)
		return -1;
	if (hwloc_topology_set_all_types_filter(topo,
						HWLOC_TYPE_FILTER_KEEP_NONE))
		return -1;
	/* Machine, NUMA nodes and PUs are always kept */
	if (hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PACKAGE,
					   HWLOC_TYPE_FILTER_KEEP_ALL) < 0 ||
	    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_CORE,
					   HWLOC_TYPE_FILTER_KEEP_ALL) < 0 ||
	    /* hybrid mode's last grouping level before the machine */
	    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_L3CACHE,
					   HWLOC_TYPE_FILTER_KEEP_ALL) < 0)
		return -1;
	return hwloc_topology_load(topo);
}

int hpool__topo_open(struct hpool__topo **out)
{
	struct hpool__topo *t;
	int err;

	if (!out)
		return -EINVAL;
	err = topo_alloc(&t);
	if (err)
		return err;
	if (topo_load_native(t->topo) < 0) {
		err = -EIO;
		goto fail;
	}
	t->thissystem = hwloc_topology_is_thissystem(t->topo);
	err = topo_binding(t, t->allowed);
	if (err)
		goto fail;
	/* cgroup cpuset limits; offline cpus are not in the topology */
	hwloc_bitmap_and(t->allowed, t->allowed,
			 hwloc_topology_get_allowed_cpuset(t->topo));
	err = topo_split(t);
	if (err == -EINVAL)
		err = -EIO; /* binding and topology disagree: hwloc's view */
	if (err)
		goto fail;
	*out = t;
	return 0;
fail:
	topo_free(t);
	return err;
}

/* Strict "N", "N-M" list, comma separated, decimal, N <= M: hwloc's own
 * parser also takes "0x10", " 1", "1 2", "3-1" (empty) and "0-" (all). */
static int parse_list(const char *s, hwloc_bitmap_t set)
{
	unsigned long lo, hi;
	char *end;

	hwloc_bitmap_zero(set);
	for (;;) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		lo = strtoul(s, &end, 10);
		if (errno || lo > TOPO_PU_MAX)
			return -EINVAL;
		hi = lo;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			hi = strtoul(s, &end, 10);
			if (errno || hi > TOPO_PU_MAX || hi < lo)
				return -EINVAL;
		}
		if (hwloc_bitmap_set_range(set, (unsigned)lo, (int)hi) < 0)
			return -ENOMEM;
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

int hpool__topo_open_synthetic(const char *desc, const char *allowed,
			       struct hpool__topo **out)
{
	struct hpool__topo *t;
	int err;

	if (!desc || !out)
		return -EINVAL;
	err = topo_alloc(&t);
	if (err)
		return err;
	/* set_synthetic fails on any syntax error or zero-arity level */
	if (hwloc_topology_set_synthetic(t->topo, desc) < 0) {
		err = -EINVAL;
		goto fail;
	}
	if (hwloc_topology_load(t->topo) < 0) {
		err = -EINVAL;
		goto fail;
	}
	t->thissystem = hwloc_topology_is_thissystem(t->topo);
	if (allowed) {
		err = parse_list(allowed, t->allowed);
		if (err)
			goto fail;
		/* naming a PU the shape does not have is a mistake, not a
		 * restriction to ignore */
		if (!hwloc_bitmap_isincluded(t->allowed,
				hwloc_topology_get_topology_cpuset(t->topo))) {
			err = -EINVAL;
			goto fail;
		}
		hwloc_bitmap_and(t->allowed, t->allowed,
				 hwloc_topology_get_allowed_cpuset(t->topo));
	} else if (hwloc_bitmap_copy(t->allowed,
			hwloc_topology_get_allowed_cpuset(t->topo)) < 0) {
		err = -ENOMEM;
		goto fail;
	}
	err = topo_split(t); /* -EINVAL when the allowed set is empty */
	if (err)
		goto fail;
	*out = t;
	return 0;
fail:
	topo_free(t);
	return err;
}

void hpool__topo_close(struct hpool__topo *t)
{
	topo_free(t);
}

unsigned hpool__topo_cores(const struct hpool__topo *t)
{
	return t->ncores;
}

unsigned hpool__topo_pus(const struct hpool__topo *t)
{
	return t->npus;
}

int hpool__topo_worker_cpulist(const struct hpool__topo *t, unsigned w,
			       char *buf, size_t len)
{
	int n;

	if (!t || (!buf && len))
		return -EINVAL;
	n = hwloc_bitmap_list_snprintf(buf, len, t->sets[w % t->ncores]);
	if (n < 0)
		return -ENOMEM;
	if ((size_t)n >= len) {
		/* never leave a truncated list that reads as a valid one */
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

unsigned hpool__core_first;

int hpool__topo_bind(const struct hpool__topo *t, unsigned w, int thread)
{
	int flags = thread ? HWLOC_CPUBIND_THREAD : HWLOC_CPUBIND_PROCESS;

	if (!t)
		return -EINVAL;
	/* hwloc's binding calls on a topology of another machine (synthetic,
	 * XML) succeed and do nothing; say so instead */
	if (!t->thissystem)
		return -ENOSYS;
	w += hpool__core_first;
	if (hwloc_set_cpubind(t->topo, t->sets[w % t->ncores], flags) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* ---- MPI: the PUs of a node's ranks --------------------------------------- */

int hpool__topo_allowed_list(const struct hpool__topo *t, char *buf,
			     size_t len)
{
	int n = hwloc_bitmap_list_snprintf(buf, len, t->allowed);

	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0'; /* never a truncated list */
		return n < 0 ? -ENOMEM : -ENOSPC;
	}
	return 0;
}

int hpool__topo_widen(struct hpool__topo *t, const char *list)
{
	hwloc_bitmap_t add = hwloc_bitmap_alloc();
	unsigned i;
	int e;

	if (!add)
		return -ENOMEM;
	if ((e = parse_list(list, add))) {
		hwloc_bitmap_free(add);
		return e;
	}
	hwloc_bitmap_and(add, add, hwloc_topology_get_allowed_cpuset(t->topo));
	hwloc_bitmap_or(t->allowed, t->allowed, add);
	hwloc_bitmap_free(add);
	for (i = 0; i < t->ncores; i++)
		hwloc_bitmap_free(t->sets[i]);
	free(t->sets);
	t->sets = NULL;
	t->ncores = 0;
	/* allowed only grew: some PU is in it, and each has a set */
	return topo_split(t);
}

int hpool__topo_thread_all(const struct hpool__topo *t, void **saved)
{
	hwloc_bitmap_t old = hwloc_bitmap_alloc();

	*saved = NULL;
	if (!old)
		return -ENOMEM;
	if (!t->thissystem ||
	    hwloc_get_cpubind(t->topo, old, HWLOC_CPUBIND_THREAD) < 0 ||
	    hwloc_set_cpubind(t->topo, t->allowed, HWLOC_CPUBIND_THREAD) < 0) {
		hwloc_bitmap_free(old);
		return t->thissystem ? -EIO : -ENOSYS;
	}
	*saved = old;
	return 0;
}

void hpool__topo_thread_restore(const struct hpool__topo *t, void *saved)
{
	if (!saved)
		return;
	hwloc_set_cpubind(t->topo, saved, HWLOC_CPUBIND_THREAD);
	hwloc_bitmap_free(saved);
}

/* ---- hybrid mode: processes x threads ------------------------------------ */

/*
 * The groups of a hybrid pool: one process per NUMA node, or else per
 * package, or else per L3 cache, taking the first of these levels that
 * splits the allowed cores into more than one group; else the whole
 * machine. A group holds the worker sets (cores) inside the object's
 * cpuset; they are contiguous in topology order, since the tree is walked
 * depth first. An object with no allowed core is no group, and one whose
 * cores an earlier one already holds (two NUMA nodes with one locality,
 * such as DDR and HBM of one package) is skipped.
 * Return: the number of groups (>= 1); the first max are filled in.
 */
static unsigned hybrid_groups(const struct hpool__topo *t, unsigned *first,
			      unsigned *count, hwloc_obj_t *objs,
			      unsigned max)
{
	static const hwloc_obj_type_t order[] = {
		HWLOC_OBJ_NUMANODE, HWLOC_OBJ_PACKAGE, HWLOC_OBJ_L3CACHE
	};
	unsigned k, i, n;

	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		hwloc_obj_t obj = NULL;
		unsigned end = 0;

		n = 0;
		while ((obj = hwloc_get_next_obj_by_type(t->topo, order[k],
							 obj))) {
			unsigned f = UINT32_MAX, c = 0;

			if (!obj->cpuset)
				continue;
			for (i = 0; i < t->ncores; i++)
				if (hwloc_bitmap_isincluded(t->sets[i],
							    obj->cpuset)) {
					if (f == UINT32_MAX)
						f = i;
					c++;
				}
			if (!c || f < end)
				continue;
			end = f + c;
			if (n < max) {
				first[n] = f;
				count[n] = c;
				objs[n] = obj;
			}
			n++;
		}
		if (n > 1)
			return n;
	}
	if (max) {
		first[0] = 0;
		count[0] = t->ncores;
		objs[0] = hwloc_get_root_obj(t->topo);
	}
	return 1;
}

#define HYB_GROUPS_MAX 1024u /* HPOOL__WORKERS_MAX: one core each at least */

int hpool__topo_hybrid_shape(const struct hpool__topo *t, unsigned *procs,
			     unsigned *threads, const char **level)
{
	unsigned *first, *count, n, i, m;
	hwloc_obj_t *objs;

	if (!t || !procs || !threads)
		return -EINVAL;
	first = calloc(HYB_GROUPS_MAX, sizeof(*first));
	count = calloc(HYB_GROUPS_MAX, sizeof(*count));
	objs = calloc(HYB_GROUPS_MAX, sizeof(*objs));
	if (!first || !count || !objs) {
		free(first);
		free(count);
		free(objs);
		return -ENOMEM;
	}
	n = hybrid_groups(t, first, count, objs, HYB_GROUPS_MAX);
	if (n > HYB_GROUPS_MAX)
		n = HYB_GROUPS_MAX;
	/* One shape for all: the smallest group's cores, so that no
	 * process runs more threads than its object has cores. */
	for (m = count[0], i = 1; i < n; i++)
		if (count[i] < m)
			m = count[i];
	*procs = n;
	*threads = m;
	if (level)
		*level = n == 1 ? "machine" :
			 hwloc_obj_type_string(objs[0]->type);
	free(first);
	free(count);
	free(objs);
	return 0;
}

/* The cpus of process g of a hybrid pool of `procs` processes of `tpp`
 * threads: its object's allowed cpuset when the pool has the default
 * number of processes (one per group), else the cores of its threads. */
static int hybrid_set(const struct hpool__topo *t, unsigned procs,
		      unsigned tpp, unsigned g, hwloc_bitmap_t out)
{
	unsigned first[64], count[64], n, k;
	hwloc_obj_t objs[64];

	n = hybrid_groups(t, first, count, objs, 64);
	hwloc_bitmap_zero(out);
	if (n == procs && g < n && n <= 64 && n > 1) {
		for (k = 0; k < count[g]; k++)
			hwloc_bitmap_or(out, out, t->sets[first[g] + k]);
		return 0;
	}
	for (k = 0; k < tpp; k++)
		hwloc_bitmap_or(out, out,
				t->sets[((size_t)g * tpp + k) % t->ncores]);
	return 0;
}

int hpool__topo_hybrid_cpulist(const struct hpool__topo *t, unsigned procs,
			       unsigned tpp, unsigned g, char *buf, size_t len)
{
	hwloc_bitmap_t set;
	int n;

	if (!t || !tpp || (!buf && len))
		return -EINVAL;
	set = hwloc_bitmap_alloc();
	if (!set)
		return -ENOMEM;
	hybrid_set(t, procs, tpp, g, set);
	n = hwloc_bitmap_list_snprintf(buf, len, set);
	hwloc_bitmap_free(set);
	if (n < 0)
		return -ENOMEM;
	if ((size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

int hpool__topo_hybrid_bind(const struct hpool__topo *t, unsigned procs,
			    unsigned tpp, unsigned w, bool core)
{
	hwloc_bitmap_t set;
	unsigned g = w / tpp, k = w % tpp;
	int e = 0;

	if (!t || !tpp)
		return -EINVAL;
	if (!t->thissystem)
		return -ENOSYS;
	set = hwloc_bitmap_alloc();
	if (!set)
		return -ENOMEM;
	hybrid_set(t, procs, tpp, g, set);
	if (core) {
		/* The k-th core of the process's set (its own cores first,
		 * in topology order), else any of the set. */
		unsigned i, seen = 0;

		for (i = 0; i < t->ncores; i++)
			if (hwloc_bitmap_isincluded(t->sets[i], set) &&
			    seen++ == k) {
				hwloc_bitmap_copy(set, t->sets[i]);
				break;
			}
	}
	if (hwloc_set_cpubind(t->topo, set, HWLOC_CPUBIND_THREAD) < 0)
		e = errno ? -errno : -EIO;
	hwloc_bitmap_free(set);
	return e;
}
