/* SPDX-License-Identifier: MIT */
/*
 * Process mode: the supervisor. One process per pool, forked by
 * hpool_create from the caller, single-threaded for its whole life, so
 * every worker (the first ones and every replacement) is forked from a
 * clean single-threaded process whatever the caller does later.
 *
 * It waits in poll() on three descriptors, so an idle pool costs nothing:
 *   signalfd(SIGCHLD)  a worker died: reap it, repair its claim records
 *                      (claim.c), replace it;
 *   pidfd(caller)      the caller died: kill the workers, exit (no orphans);
 *   the request pipe   the caller asks: 'w' look again, 'q' drain and quit,
 *                      't' kill everything, cancel what is left, quit.
 * While calls with a timeout are in flight it also wakes every few ms to
 * kill workers whose item is overdue.
 *
 * Workers: PR_SET_PDEATHSIG(SIGKILL) tied to this single-threaded parent
 * (reliable, unlike a caller thread that may exit), plus a getppid() check
 * for a parent that died before the prctl.
 *
 * Hybrid mode (sh->tpp = T > 0): a worker process runs T worker threads,
 * the slots [g*T, g*T + T) of process g, each a normal worker with its own
 * claim records. The supervisor forks, reaps and replaces processes: a
 * process's death is the death of all its slots, each repaired as a worker
 * of its own. The slot whose item crashed (its thread's crash handler set
 * wctl.crashed) or overran (kill_reason TIMEOUT) is the culprit; the items
 * its siblings were running fail as collateral, naming it. With T = 0
 * (process mode) a process is one slot and nothing of this applies.
 */
#include "supervisor.h"
#include "libfd.h"
#include "worker.h"
#include "claim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_POLL_MS 2
#define ORPHAN_POLL_MS 10 /* while orphan segments wait to be freed */
#define START_RETRIES 8 /* replacements in a row that may die in init */

struct sup {
	struct hpool__shared *sh;
	const struct hpool__topo *topo;
	pid_t *pids;          /* current pid per slot, 0 none */
	unsigned *start_fails; /* per slot: replacements in a row that died
				  before READY */
	int *stop_sig;        /* per slot: the signal that stopped the worker
				  we killed for it (K_STOPPED) */
	int sfd, req, pidfd;  /* descriptors workers must not keep */
	/* segments published by workers that died, until they can go */
	struct hpool__orphan orphans[HPOOL__SLOTS];
	unsigned norphans;
	bool draining, terminating;
};

/* The pool's processes (supervisor, workers, fork server) start from a
 * known state, as after exec: the caller's signal handlers (a crash
 * reporter, a test framework) must not turn a worker's SIGSEGV into
 * something else, nor run in the supervisor; a signal the caller ignores
 * stays ignored (nohup), except SIGCHLD, which the supervisor needs.
 * They live in a process group of their own, so the terminal's signals
 * and a shell's kill of the caller's job (Ctrl-C, Ctrl-Z, a hangup) reach
 * the caller only; the caller's death still ends them (pidfd,
 * PR_SET_PDEATHSIG). As a background group, a task that reads or writes
 * the terminal gets EIO rather than a stop: SIGTTIN and SIGTTOU are
 * ignored. */
void hpool__own_signals(void)
{
	struct sigaction sa, old;
	int sig;

	setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigaction(sig, NULL, &old)) /* EINVAL for some: fine */
			continue;
		if (sig != SIGCHLD && !(old.sa_flags & SA_SIGINFO) &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(sig, &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTTIN, &sa, NULL);
	sigaction(SIGTTOU, &sa, NULL);
}

/* Threads per process: 1 but in hybrid mode. */
static unsigned tpp(const struct hpool__shared *sh)
{
	return sh->tpp ? sh->tpp : 1;
}

/* The slots of the process that serves slot w: [*lo, *hi). */
static void group_of(const struct hpool__shared *sh, unsigned w, unsigned *lo,
		     unsigned *hi)
{
	unsigned t = tpp(sh);

	*lo = w / t * t;
	*hi = *lo + t < sh->nsup ? *lo + t : sh->nsup;
}

/* Fork the process that serves slot w (in hybrid mode, all the slots of
 * w's process). */
static int spawn(struct sup *s, unsigned w)
{
	pid_t me = getpid();
	unsigned lo, hi, k;
	pid_t pid;

	group_of(s->sh, w, &lo, &hi);
	for (k = lo; k < hi; k++) {
		struct hpool__wctl *c = &s->sh->w[k];

		atomic_store_explicit(&c->state, HPOOL__W_STARTING,
				      memory_order_relaxed);
		atomic_store_explicit(&c->crashed, 0, memory_order_relaxed);
		c->incarnation++;
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		hpool__worker_proc_main(s->sh, s->topo, lo, hi, me,
					(int[]){ s->sfd, s->req, s->pidfd }, 3);
	for (k = lo; k < hi; k++) {
		s->pids[k] = pid;
		atomic_store_explicit(&s->sh->w[k].pid, pid,
				      memory_order_release);
	}
	return 0;
}

static void kill_all(struct sup *s, uint32_t reason)
{
	unsigned i;

	for (i = 0; i < s->sh->nsup; i++) {
		if (!s->pids[i])
			continue;
		atomic_store_explicit(&s->sh->w[i].kill_reason, reason,
				      memory_order_relaxed);
		s->sh->w[i].kill_seg = NULL;
		kill(s->pids[i], SIGKILL);
	}
}

/* Does a record of c still own items (left by a repair for its next
 * incarnation)? */
static bool owns_work(const struct hpool__wctl *c)
{
	unsigned d;

	for (d = 0; d < HPOOL__RECS; d++)
		if (atomic_load_explicit(&c->rec[d].state,
					 memory_order_relaxed) != HPOOL__C_IDLE)
			return true;
	return false;
}

static unsigned live(const struct sup *s)
{
	unsigned i, n = 0;

	for (i = 0; i < s->sh->nsup; i++)
		n += s->pids[i] != 0;
	return n;
}

static void on_death(struct sup *s, pid_t pid, int status);

/* Before repairing a CLAIMING record of dead worker w: read how far its
 * segment was claimed, then look for a live worker's record CLAIMING on
 * it, until a look finds none (claim.c). Every range taken below that
 * bound was taken by a claimer in CLAIMING (its C1 before its C3, whose
 * release the acquire here pairs with), so once none is, each such
 * range is OWNED, finished, or the dead worker's; a range taken later
 * lies above the bound. Reading the bound after the wait instead let a
 * live claimer take a range in between that the repair then gave the
 * dead worker's replacement too: an item ran twice (test_sched, process
 * mode). The window is a few instructions; a worker that stays in it
 * (stopped, or starved for a long time) is killed and its death handled
 * first. */
static void quiesce_claims(struct sup *s, unsigned w,
			   struct hpool__death *death)
{
	struct hpool__shared *sh = s->sh;
	unsigned d, i, k;

	for (d = 0; d < HPOOL__RECS; d++) {
		struct hpool__claim *r = &sh->w[w].rec[d];
		struct hpool__seg *seg;
		uint32_t end;

		if (atomic_load_explicit(&r->state, memory_order_relaxed) !=
		    HPOOL__C_CLAIMING)
			continue;
		seg = atomic_load_explicit(&r->seg, memory_order_relaxed);
		/* The bound is read again before each look: the look that
		 * finds no claimer must come after it. (Read once, before
		 * deaths handled below, it missed a range: a worker that
		 * died claiming after the read had its range adopted by
		 * nobody, since the nested repair gave its replacement the
		 * first unrecorded run, this worker's.) */
		for (k = 0;; k++) {
			struct timespec ts = { 0, 100000 };

			end = atomic_load_explicit(&seg->next,
						   memory_order_acquire);
			if (!hpool__claiming_on(sh, seg, w, s->pids))
				break;
			if (k < 10000) { /* about a second */
				nanosleep(&ts, NULL);
				continue;
			}
			for (i = 0; i < sh->nsup; i++) {
				pid_t v = s->pids[i];
				int st;

				if (!v || i == w)
					continue;
				kill(v, SIGKILL);
				if (waitpid(v, &st, 0) == v)
					on_death(s, v, st);
			}
		}
		death->claim_end[d] = (end < seg->count ? end : seg->count) + 1;
	}
}

/* The state of a process's slots taken together: READY if any thread
 * is (init, once per process, finished before any slot left STARTING),
 * else INIT_FAILED if any, else STARTING (or DEAD). */
static uint32_t group_state(const struct hpool__shared *sh, unsigned lo,
			    unsigned hi)
{
	uint32_t st, any = HPOOL__W_STARTING;
	unsigned k;

	for (k = lo; k < hi; k++) {
		/* Pairs with the worker's release store of its state. */
		st = atomic_load_explicit(&sh->w[k].state,
					  memory_order_acquire);
		if (st == HPOOL__W_READY)
			return st;
		if (st == HPOOL__W_INIT_FAILED || k == lo)
			any = st;
	}
	return any;
}

/* The item slot k's thread was in (its deepest record's running item). */
static void running_item(const struct hpool__wctl *c,
			 const struct hpool__seg **seg, uint32_t *item)
{
	unsigned d = atomic_load_explicit(&c->depth, memory_order_relaxed);

	if (d >= HPOOL__LEVELS)
		d = HPOOL__LEVELS - 1;
	*seg = NULL;
	if (atomic_load_explicit(&c->rec[d].state, memory_order_relaxed) !=
	    HPOOL__C_OWNED)
		return;
	*item = atomic_load_explicit(&c->rec[d].running, memory_order_relaxed);
	if (*item != HPOOL__NO_ITEM)
		*seg = atomic_load_explicit(&c->rec[d].seg,
					    memory_order_relaxed);
}

static void on_death(struct sup *s, pid_t pid, int status)
{
	struct hpool__shared *sh = s->sh;
	uint32_t reason[HPOOL__WORKERS_MAX], state, gr = HPOOL__K_NONE;
	const struct hpool__seg *cseg = NULL;
	uint32_t citem = HPOOL__NO_ITEM;
	unsigned w, lo, hi, k, culprit = UINT32_MAX;
	int sig = 0, ex = -1;
	bool retire;

	for (w = 0; w < sh->nsup && s->pids[w] != pid; w++)
		;
	if (w == sh->nsup)
		return; /* not ours (cannot happen: we fork nothing else) */
	group_of(sh, w, &lo, &hi);
	w = lo;
	/* Every slot of the process is dead: none is waited for by the
	 * quiescing of a sibling's CLAIMING record. */
	for (k = lo; k < hi; k++)
		s->pids[k] = 0;
	if (WIFSIGNALED(status))
		sig = WTERMSIG(status);
	else if (WIFEXITED(status))
		ex = WEXITSTATUS(status);
	/* Why each slot's process was killed; the group's reason for the
	 * slots that are neither culprit nor collateral. */
	for (k = lo; k < hi; k++) {
		reason[k - lo] = atomic_exchange_explicit(&sh->w[k].kill_reason,
							  HPOOL__K_NONE,
							  memory_order_relaxed);
		if (reason[k - lo] == HPOOL__K_TIMEOUT && culprit == UINT32_MAX)
			culprit = k;
		else if (reason[k - lo] != HPOOL__K_NONE &&
			 reason[k - lo] != HPOOL__K_TIMEOUT &&
			 gr == HPOOL__K_NONE)
			gr = reason[k - lo];
	}
	if (gr == HPOOL__K_CANCEL)
		culprit = UINT32_MAX; /* terminate: nobody's fault */
	/* A thread that took a fatal signal (its handler's store is ordered
	 * before this load by the reaping). */
	for (k = lo; k < hi && culprit == UINT32_MAX && sig &&
		     gr == HPOOL__K_NONE; k++)
		if (atomic_load_explicit(&sh->w[k].crashed,
					 memory_order_relaxed))
			culprit = k;
	if (hi - lo == 1)
		culprit = UINT32_MAX; /* alone in its process: no collateral */
	if (culprit != UINT32_MAX)
		running_item(&sh->w[culprit], &cseg, &citem);
	if (gr == HPOOL__K_STOPPED)
		sig = s->stop_sig[w]; /* the message names the stop */
	state = group_state(sh, lo, hi);
	retire = state == HPOOL__W_STARTING || state == HPOOL__W_INIT_FAILED;
	/* A replacement killed by a signal before it was READY (a kill from
	 * outside lands there as anywhere) ran no item: repair and replace
	 * it like any other. Without an init it ran none of the caller's
	 * code either, so it is always replaced, as a READY one would be;
	 * with one, START_RETRIES such deaths in a row retire the slot,
	 * since a crash in init would repeat forever. */
	if (state == HPOOL__W_READY) {
		s->start_fails[w] = 0;
	} else if (state == HPOOL__W_STARTING && sh->w[w].incarnation > 1 &&
		   sig && (!sh->init || s->start_fails[w] < START_RETRIES)) {
		s->start_fails[w]++;
		retire = false;
	} else if (state == HPOOL__W_INIT_FAILED &&
		   sh->w[w].incarnation > 1 &&
		   (sh->w[w].init_status == -EAGAIN ||
		    sh->w[w].init_status == -ENOMEM) &&
		   s->start_fails[w] < START_RETRIES) {
		/* A replacement's thread did not start (a limit, maybe for a
		 * moment): try again a few times before retiring the slot. */
		s->start_fails[w]++;
		retire = false;
	}
	for (k = lo; k < hi; k++) {
		struct hpool__wctl *c = &sh->w[k];
		struct hpool__death death = { 0 };
		uint32_t r = reason[k - lo];

		/* A sibling that overran too (killed for it before the
		 * death was reaped) fails for its own timeout. */
		if (k == culprit || culprit == UINT32_MAX ||
		    r == HPOOL__K_TIMEOUT) {
			if (r == HPOOL__K_NONE || culprit == UINT32_MAX)
				r = r == HPOOL__K_TIMEOUT ? r : gr;
			death.code = r == HPOOL__K_TIMEOUT ? -ETIMEDOUT :
				     r == HPOOL__K_CANCEL  ? HPOOL_ECANCELED :
							     HPOOL_ECRASH;
			death.kill_seg = r == HPOOL__K_TIMEOUT ? c->kill_seg :
								 NULL;
		} else {
			death.code = HPOOL_ECRASH;
			death.collateral = true;
			death.culprit_worker = culprit;
			death.culprit_seg = cseg;
			death.culprit_item = citem;
		}
		death.sig = sig;
		death.exit_status = ex;
		death.pid = pid;
		death.kill_item = c->kill_item;
		if (retire) {
			/* Died in init, or init failed: never restart this
			 * slot (a failing init would fail again), fail what
			 * it holds. */
			if (atomic_load_explicit(&c->state,
						 memory_order_relaxed) ==
			    HPOOL__W_STARTING)
				c->init_status = HPOOL_ECRASH;
			atomic_store_explicit(&c->state, HPOOL__W_DEAD,
					      memory_order_release);
			quiesce_claims(s, k, &death);
			hpool__repair(sh, c, &death);
			hpool__fail_records(sh, c, HPOOL_ECRASH);
			continue;
		}
		quiesce_claims(s, k, &death);
		hpool__repair(sh, c, &death);
		s->norphans += hpool__orphans_cancel(sh,
				HPOOL__OWNER(k, c->incarnation),
				s->orphans + s->norphans,
				HPOOL__SLOTS - s->norphans);
	}
	if (retire) {
		hpool__event_signal(&sh->ready);
		return;
	}
	if (s->terminating)
		return;
	/* Replace it unless the pool is draining and nothing is left for
	 * it: neither what its records own nor published work. */
	for (k = lo; k < hi && !owns_work(&sh->w[k]); k++)
		;
	if (!s->draining || k < hi || hpool__work_available(sh)) {
		if (spawn(s, w) < 0) {
			for (k = lo; k < hi; k++) {
				atomic_store_explicit(&sh->w[k].state,
						      HPOOL__W_DEAD,
						      memory_order_release);
				hpool__fail_records(sh, &sh->w[k],
						    HPOOL_ECRASH);
			}
		}
	}
}

/* A worker was stopped (a task raised SIGSTOP; SIGSTOP or SIGTSTP from
 * outside): it would hold its item forever, like a hung one. Kill it;
 * its death fails the item it was running (HPOOL_ECRASH, naming the stop
 * signal) and brings a replacement. */
static void on_stop(struct sup *s, pid_t pid, int sig)
{
	uint32_t none = HPOOL__K_NONE;
	unsigned w, lo, hi;

	for (w = 0; w < s->sh->nsup && s->pids[w] != pid; w++)
		;
	if (w == s->sh->nsup)
		return;
	group_of(s->sh, w, &lo, &hi);
	w = lo; /* the process's first slot holds its stop */
	/* A kill already under way (a timeout, a terminate) keeps its
	 * reason. */
	if (atomic_compare_exchange_strong_explicit(&s->sh->w[w].kill_reason,
			&none, HPOOL__K_STOPPED, memory_order_relaxed,
			memory_order_relaxed))
		s->stop_sig[w] = sig;
	kill(pid, SIGKILL); /* a stopped process dies of it at once */
}

static void reap(struct sup *s)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG | WUNTRACED)) > 0) {
		if (WIFSTOPPED(status))
			on_stop(s, pid, WSTOPSIG(status));
		else
			on_death(s, pid, status);
	}
}

/* Kill workers whose running item is past its deadline. The target is
 * recorded first, so that the repair fails that item only. */
static void check_deadlines(struct sup *s)
{
	int64_t now = hpool__now_ns();
	unsigned i, k;

	for (i = 0; i < s->sh->nsup; i++) {
		struct hpool__wctl *c = &s->sh->w[i];
		int64_t d = atomic_load_explicit(&c->deadline_ns,
						 memory_order_relaxed);

		if (!s->pids[i] || !d || now < d ||
		    atomic_load_explicit(&c->kill_reason, memory_order_relaxed))
			continue;
		/* The deepest record's running item is the overdue one. */
		k = atomic_load_explicit(&c->depth, memory_order_relaxed);
		if (k >= HPOOL__LEVELS)
			k = HPOOL__LEVELS - 1;
		c->kill_seg = atomic_load_explicit(&c->rec[k].seg,
						   memory_order_relaxed);
		c->kill_item = atomic_load_explicit(&c->rec[k].running,
						    memory_order_relaxed);
		atomic_store_explicit(&c->kill_reason, HPOOL__K_TIMEOUT,
				      memory_order_relaxed);
		kill(s->pids[i], SIGKILL);
	}
}

/* Free the orphan segments whose items all finished. */
static void reap_orphans(struct sup *s)
{
	unsigned i;

	for (i = 0; i < s->norphans; i++)
		if (hpool__orphan_reap(s->sh, s->orphans, s->norphans, i))
			s->orphans[i--] = s->orphans[--s->norphans];
}

static void terminate_all(struct sup *s)
{
	unsigned i;
	int status;
	pid_t pid;

	s->terminating = true;
	kill_all(s, HPOOL__K_CANCEL);
	while (live(s) && (pid = waitpid(-1, &status, 0)) > 0)
		on_death(s, pid, status);
	for (i = 0; i < s->sh->nsup; i++)
		hpool__fail_records(s->sh, &s->sh->w[i], HPOOL_ECANCELED);
}

/* The supervisor's work, on *s (its tables are freed by the caller). */
static int sup_life(struct sup *s, pid_t owner)
{
	struct hpool__shared *sh = s->sh;
	sigset_t set;
	unsigned i;
	int e;

	prctl(PR_SET_NAME, "hpool-sup");
	hpool__own_signals();
	s->pidfd = hpool__pidfd_open(owner);
	/* The caller is already gone? (A fork-server supervisor's parent is
	 * the server, so only the pidfd can tell; without pidfds, the
	 * parent check.) */
	if (s->pidfd < 0 && (errno == ESRCH || getppid() != owner))
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	s->pids = calloc(sh->nsup, sizeof(*s->pids));
	s->start_fails = calloc(sh->nsup, sizeof(*s->start_fails));
	s->stop_sig = calloc(sh->nsup, sizeof(*s->stop_sig));
	if (s->sfd < 0 || !s->pids || !s->start_fails || !s->stop_sig)
		return 1;
	for (i = 0; i < sh->nsup; i += tpp(sh))
		if ((e = spawn(s, i)) < 0) {
			unsigned lo, hi, k;

			group_of(sh, i, &lo, &hi);
			for (k = lo; k < hi; k++) {
				sh->w[k].init_status = e;
				atomic_store_explicit(&sh->w[k].state,
						      HPOOL__W_DEAD,
						      memory_order_release);
			}
			hpool__event_signal(&sh->ready);
		}

	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = s->sfd, .events = POLLIN },
			{ .fd = s->req, .events = POLLIN },
			{ .fd = s->pidfd, .events = POLLIN },
		};
		int timeout = atomic_load_explicit(&sh->timeouts,
				memory_order_relaxed) ? TIMEOUT_POLL_MS :
			      s->norphans ? ORPHAN_POLL_MS : -1;
		char buf[16];
		ssize_t k;

		if (s->draining && !live(s))
			return 0;
		if (poll(fds, s->pidfd >= 0 ? 3 : 2, timeout) < 0 &&
		    errno != EINTR)
			return 1;
		if (fds[2].revents || (s->pidfd < 0 && getppid() != owner)) {
			kill_all(s, HPOOL__K_CANCEL); /* caller died */
			return 0;
		}
		if (fds[1].revents) {
			k = read(s->req, buf, sizeof(buf));
			if (k <= 0 && s->draining) {
				/* destroy closed its end after 'q': keep
				 * draining, stop watching the pipe */
				close(s->req);
				s->req = -1;
				continue;
			}
			if (k <= 0) { /* closed without 'q': the caller died */
				kill_all(s, HPOOL__K_CANCEL);
				return 0;
			}
			if (memchr(buf, 't', (size_t)k) ||
			    memchr(buf, 'q', (size_t)k))
				/* Pairs with the caller's acquire load. */
				atomic_store_explicit(&sh->sup_state,
						      HPOOL__SUP_STOPPING,
						      memory_order_release);
			if (memchr(buf, 't', (size_t)k)) {
				terminate_all(s);
				return 0;
			}
			if (memchr(buf, 'q', (size_t)k))
				s->draining = true;
		}
		if (fds[0].revents)
			reap(s);
		if (timeout >= 0)
			check_deadlines(s);
		if (s->norphans)
			reap_orphans(s);
	}
}

int hpool__sup_main(struct hpool__shared *sh, const struct hpool__topo *topo,
		    int req, pid_t owner)
{
	int code;

	struct sup s = { .sh = sh, .topo = topo, .req = req, .pidfd = -1,
			 .sfd = -1 };

	atomic_store_explicit(&sh->sup_state, HPOOL__SUP_RUNNING,
			      memory_order_relaxed);
	code = sup_life(&s, owner);
	/* Everything it made, so that a leak check at exit sees none. */
	free(s.pids);
	free(s.start_fails);
	free(s.stop_sig);
	HPOOL__FAULT(HPOOL__F_SUP_ENDING);
	/* Pairs with the caller's acquire load after the process is gone. */
	if (!code)
		atomic_store_explicit(&sh->sup_state, HPOOL__SUP_ENDED,
				      memory_order_release);
	return code;
}

int hpool__sup_start(struct hpool__shared *sh, const struct hpool__topo *topo,
		     struct hpool__sup *sup)
{
	pid_t owner = getpid();
	int p[2], e;
	pid_t pid;

	/* A socket, not a pipe: a request to a supervisor that died must
	 * fail with EPIPE, not kill the caller with SIGPIPE. Both ends go
	 * into the table at once, so a process that another thread forks
	 * meanwhile closes them. No lock is held across the fork (libfd.c). */
	hpool__fd_lock();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) {
		e = -errno;
		hpool__fd_unlock();
		return e;
	}
	hpool__lib_fd_add_locked(p[0]);
	hpool__lib_fd_add_locked(p[1]);
	hpool__fd_unlock();
	pid = hpool__fork_lib();
	e = pid < 0 ? -errno : 0;
	if (pid == 0) {
		/* One thread here, and the lock is a fresh one (atfork). */
		hpool__lib_fd_del(p[0]);
		hpool__close_lib_fds();
		hpool__exit(hpool__sup_main(sh, topo, p[0], owner));
	}
	hpool__fd_lock();
	hpool__lib_fd_del_locked(p[0]);
	close(p[0]);
	if (e) {
		hpool__lib_fd_del_locked(p[1]);
		close(p[1]);
	}
	hpool__fd_unlock();
	if (e)
		return e;
	sup->pid = pid;
	sup->req_fd = p[1];
	sup->pidfd = -1;
	return 0;
}

bool hpool__sup_gone(const struct hpool__sup *sup)
{
	siginfo_t si;

	if (sup->pid <= 0)
		return false;
	if (sup->pidfd >= 0) { /* the fork server's child */
		struct pollfd pfd = { .fd = sup->pidfd, .events = POLLIN };

		return poll(&pfd, 1, 0) > 0;
	}
	/* WNOWAIT: the zombie stays for hpool__sup_join to reap. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)sup->pid, &si,
		   WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD; /* reaped by someone else: gone */
	return si.si_pid == sup->pid;
}

void hpool__sup_request(struct hpool__sup *sup, char what)
{
	ssize_t k;

	do
		k = send(sup->req_fd, &what, 1, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
}

int hpool__sup_join(struct hpool__sup *sup)
{
	int status = 0;

	hpool__lib_fd_del(sup->req_fd);
	close(sup->req_fd);
	if (sup->pidfd >= 0) { /* the fork server's child: not ours to wait */
		struct pollfd pfd = { .fd = sup->pidfd, .events = POLLIN };

		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		close(sup->pidfd);
		sup->pidfd = -1;
		return 0;
	}
	while (waitpid(sup->pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}
