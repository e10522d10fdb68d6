/* SPDX-License-Identifier: MIT */
/*
 * A dead supervisor is replaced (process mode). The caller sees the death
 * (the backend's `lost`: waitid on its child, or a pidfd); the workers
 * died with it (PR_SET_PDEATHSIG(SIGKILL), set before a worker touches the
 * region). Once each of them is gone, the caller does what the supervisor
 * would have done at each death: repair the worker's claim records (the
 * item it was running fails with HPOOL_ECRASH, naming the supervisor;
 * ranges claimed but not started go back), cancel the nested work it
 * published; then the backend starts a new supervisor, whose fresh
 * workers take the rest. Nothing runs twice: a dead process writes
 * nothing more, and the repair is the only writer of a dead worker's
 * records.
 *
 * Callers that read the backend's state (lost, poke, pids) hold
 * wk->lock for reading; a restart and a stop hold it for writing, so no
 * reader sees a supervisor half replaced. The readers are off the hot
 * path (a waiting thread looks every 200 ms; one poke per call with a
 * timeout), so a reader-writer lock costs nothing measurable here.
 */
#include "pool.h"
#include "claim.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define GONE_WAIT_MS 5000 /* a worker killed by its parent's death */

/* Has pid ended? A zombie counts (a subreaper caller may hold it). */
static bool proc_gone(pid_t pid)
{
	char path[64], buf[256], *rp;
	FILE *f;
	size_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	rp = strrchr(buf, ')'); /* the name may hold spaces and parens */
	return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

/* Wait until every worker of the dead supervisor has ended. A pid still
 * there after GONE_WAIT_MS is taken as reused by another process (the
 * kernel sent SIGKILL to ours when the supervisor died). */
static void workers_gone(struct hpool__shared *sh)
{
	int64_t end = hpool__now_ns() + (int64_t)GONE_WAIT_MS * 1000000;

	for (unsigned i = 0; i < sh->nsup; i++) {
		/* Pairs with the release store of the pid by the worker. */
		pid_t pid = atomic_load_explicit(&sh->w[i].pid,
						 memory_order_acquire);

		while (pid > 0 && !proc_gone(pid) && hpool__now_ns() < end) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	}
}

/* Repair the records of every worker (all dead) and cancel the nested
 * work they published. */
static void repair_all(struct hpool__shared *sh)
{
	struct hpool__orphan orphans[HPOOL__SLOTS];

	for (unsigned i = 0; i < sh->nsup; i++) {
		struct hpool__wctl *c = &sh->w[i];
		struct hpool__death d = {
			.code = HPOOL_ECRASH,
			.sig = SIGKILL,
			.exit_status = HPOOL__EXIT_WITH_SUP,
			.pid = atomic_load_explicit(&c->pid,
						    memory_order_acquire),
		};
		unsigned n;

		atomic_store_explicit(&c->kill_reason, HPOOL__K_NONE,
				      memory_order_relaxed);
		hpool__repair(sh, c, &d);
		n = hpool__orphans_cancel(sh, HPOOL__OWNER(i, c->incarnation),
					  orphans, HPOOL__SLOTS);
		/* Nobody runs them now: every item is finished, so each
		 * goes at once (one still named by a record stays listed
		 * and leaks: a nested map interrupted twice). */
		for (unsigned k = 0; k < n; k++)
			if (hpool__orphan_reap(sh, orphans, n, k))
				orphans[k--] = orphans[--n];
	}
}

bool hpool__wk_lost(hpool *p)
{
	bool lost;

	if (!p->wk.ops->lost)
		return false;
	pthread_rwlock_rdlock(&p->wk.lock);
	lost = p->wk.ops->lost(&p->wk);
	pthread_rwlock_unlock(&p->wk.lock);
	return lost;
}

void hpool__wk_poke(hpool *p)
{
	if (!p->wk.ops->poke)
		return;
	pthread_rwlock_rdlock(&p->wk.lock);
	p->wk.ops->poke(&p->wk);
	pthread_rwlock_unlock(&p->wk.lock);
}

int hpool__wk_pids(const hpool *p, int *pids, unsigned max)
{
	int n;

	if (!p->wk.ops->pids)
		return 0;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&p->wk.lock);
	n = p->wk.ops->pids(&p->wk, pids, max);
	pthread_rwlock_unlock((pthread_rwlock_t *)&p->wk.lock);
	return n;
}

void hpool__wk_stop(hpool *p, bool now)
{
	pthread_rwlock_wrlock(&p->wk.lock);
	p->wk.ops->stop(&p->wk, now);
	pthread_rwlock_unlock(&p->wk.lock);
}

int hpool__wk_restart(hpool *p)
{
	int e = 0;

	if (!p->wk.ops->restart)
		return -ENOTSUP;
	pthread_rwlock_wrlock(&p->wk.lock);
	/* Another thread may have restarted it, or the pool be stopping. */
	if (atomic_load_explicit(&p->sh->closing, memory_order_acquire) ||
	    atomic_load_explicit(&p->terminated, memory_order_relaxed))
		e = -ECANCELED;
	else if (p->wk.ops->lost(&p->wk)) {
		int dead = 0;

		p->wk.ops->pids(&p->wk, &dead, 1);
		workers_gone(p->sh);
		repair_all(p->sh);
		e = p->wk.ops->restart(&p->wk);
		if (!e) {
			p->wk.lost_pid = dead;
			p->wk.restarts++;
			hpool__wake_all(p->sh);
		}
	}
	pthread_rwlock_unlock(&p->wk.lock);
	return e;
}
