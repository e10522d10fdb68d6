/* SPDX-License-Identifier: MIT */
/*
 * The worker: claim work from the published segments and run it, in a
 * thread of the caller or in a process forked by the supervisor; the same
 * code in both. The claim protocol and the repair after a death are in
 * claim.c. Also the body of a process the supervisor forks: one worker,
 * or a hybrid process's threads (one per slot, init once per process).
 */
#include "worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Hybrid mode: what the threads of one worker process share, in its
 * private memory. init runs once, in the first thread that gets there;
 * the others wait for its outcome before they take work. */
struct hpool__proc {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase;                  /* 0 not run, 1 running, 2 done */
	int status;                 /* init's return value */
	_Atomic uint64_t started;   /* items started (max_tasks_per_worker) */
	_Atomic uint32_t retiring;  /* max_tasks reached: threads leave */
	struct hpool__batch batch;  /* the claims its threads share */
};

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

/* A fork while a worker thread holds env_lock would leave it locked for
 * ever in the child, whose own pools take it when their workers start. */
static void env_lock_child(void)
{
	pthread_mutex_init(&env_lock, NULL);
}

__attribute__((constructor)) static void env_lock_atfork(void)
{
	pthread_atfork(NULL, NULL, env_lock_child);
}

/* Give an OpenMP runtime, if the program has one, this worker's share of
 * the cores (no oversubscription). Looked up at run time, so hpool itself
 * does not depend on OpenMP. The worker runs in a thread of its own, whose
 * OpenMP state is fresh: libgomp's pool of a parent that ran a parallel
 * region before fork is bound to the parent's thread, not to this one.
 * A value the user set in OMP_NUM_THREADS is kept, as joblib does; a
 * process worker also fills in OMP_NUM_THREADS, MKL_NUM_THREADS and
 * OPENBLAS_NUM_THREADS when unset (never overwritten), for runtimes that
 * read them when they start. */
static void give_openmp_share(unsigned threads, bool own_process)
{
	static const char *const vars[] = { "OMP_NUM_THREADS",
					    "MKL_NUM_THREADS",
					    "OPENBLAS_NUM_THREADS" };
	/* hybrid: the threads of one process start together; setenv is not
	 * thread-safe, and a sibling's value must not read as the user's.
	 * set_by: the process whose OMP_NUM_THREADS we filled in. */
	static pid_t set_by;
	void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT,
						 "omp_set_num_threads");
	bool user;
	char v[16];
	unsigned i;

	if (!threads)
		return;
	pthread_mutex_lock(&env_lock);
	user = getenv("OMP_NUM_THREADS") != NULL &&
	       !(own_process && set_by == getpid());
	if (own_process) { /* a process worker's environment is its own */
		snprintf(v, sizeof(v), "%u", threads);
		if (!user)
			set_by = getpid();
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			setenv(vars[i], v, 0);
	}
	pthread_mutex_unlock(&env_lock);
	if (set && !user)
		set((int)threads);
}

int hpool__worker_init(struct hpool__shared *sh, unsigned wi)
{
	struct hpool__wctl *w = &sh->w[wi];

	if (sh->init) {
		int st = sh->init(sh->init_ctx);

		if (st) {
			w->init_status = st;
			atomic_store_explicit(&w->state, HPOOL__W_INIT_FAILED,
					      memory_order_release);
			hpool__event_signal(&sh->ready);
			return HPOOL__EXIT_INIT;
		}
	}
	/* Pairs with hpool_create's acquire load of state. */
	atomic_store_explicit(&w->state, HPOOL__W_READY, memory_order_release);
	hpool__event_signal(&sh->ready);
	return 0;
}

/* Hybrid: run the pool's init once for the process (the first thread to
 * get here runs it; the others wait), then publish its outcome in slot
 * wi's state like hpool__worker_init. */
static int proc_init(struct hpool__shared *sh, unsigned wi,
		     struct hpool__proc *pc)
{
	struct hpool__wctl *w = &sh->w[wi];
	int st;

	pthread_mutex_lock(&pc->lock);
	if (pc->phase == 0) {
		pc->phase = 1;
		pthread_mutex_unlock(&pc->lock);
		st = sh->init ? sh->init(sh->init_ctx) : 0;
		pthread_mutex_lock(&pc->lock);
		pc->status = st;
		pc->phase = 2;
		pthread_cond_broadcast(&pc->cond);
	}
	while (pc->phase != 2)
		pthread_cond_wait(&pc->cond, &pc->lock);
	st = pc->status;
	pthread_mutex_unlock(&pc->lock);
	if (st) {
		w->init_status = st;
		atomic_store_explicit(&w->state, HPOOL__W_INIT_FAILED,
				      memory_order_release);
		hpool__event_signal(&sh->ready);
		return HPOOL__EXIT_INIT;
	}
	/* Pairs with hpool_create's acquire load of state. */
	atomic_store_explicit(&w->state, HPOOL__W_READY, memory_order_release);
	hpool__event_signal(&sh->ready);
	return 0;
}

static _Thread_local struct hpool__proc *self_proc;

/* Hybrid: has this thread's process reached max_tasks_per_worker? Then
 * all its threads leave their loops and the process exits, to be
 * replaced. The first thread to see it wakes its sleeping siblings (a
 * broadcast on the pool's work event: the others look and sleep again). */
static bool proc_retiring(struct hpool__shared *sh)
{
	struct hpool__proc *pc = self_proc;

	if (!pc || !sh->max_tasks)
		return false;
	if (atomic_load_explicit(&pc->retiring, memory_order_relaxed))
		return true;
	if (atomic_load_explicit(&pc->started, memory_order_relaxed) <
	    sh->max_tasks)
		return false;
	atomic_store_explicit(&pc->retiring, 1, memory_order_relaxed);
	hpool__event_signal(&sh->work);
	return true;
}

static bool has_work(void *arg)
{
	struct hpool__shared *sh = arg;

	/* Pairs with the publisher's release of the slot and the caller's
	 * release of closing before it signals work. */
	return atomic_load_explicit(&sh->closing, memory_order_acquire) ||
	       hpool__work_available(sh) ||
	       (hpool__self.batch && hpool__batch_busy(hpool__self.batch)) ||
	       (self_proc && atomic_load_explicit(&self_proc->retiring,
						  memory_order_relaxed));
}

static int serve_loop(struct hpool__shared *sh, unsigned wi,
		      const struct hpool__topo *topo, struct hpool__proc *pc)
{
	struct hpool__wctl *w = &sh->w[wi];
	int e;

	if (sh->tpp && topo)
		hpool__topo_hybrid_bind(topo, (sh->nworkers + sh->tpp - 1) /
					sh->tpp, sh->tpp, wi, sh->bind);
	else if (sh->bind && topo)
		hpool__topo_bind(topo, wi, 1);
	give_openmp_share(sh->omp_threads, sh->isolated);
	w->served = 0;
	hpool__self.sh = sh;
	hpool__self.w = w;
	hpool__self.in_caller = getpid() == sh->owner;
	hpool__self.level = 0;
	hpool__self.proc_started = pc ? &pc->started : NULL;
	/* A batch per process when it has threads to share it. Not with
	 * max_tasks_per_worker, whose exact count reserves an item at a
	 * time (claim.c, budget). */
	hpool__self.batch = pc && pc->batch.threads > 1 && !sh->max_tasks ?
		&pc->batch : NULL;
	self_proc = pc;
	if ((e = pc ? proc_init(sh, wi, pc) : hpool__worker_init(sh, wi)))
		return e;
	if (hpool__resume(sh, w) < 0)
		return 0; /* terminated */
	for (;;) {
		uint32_t close = atomic_load_explicit(&sh->closing,
						      memory_order_acquire);
		int ran;

		if (close == HPOOL__CLOSE_NOW)
			return 0;
		if (pc ? proc_retiring(sh) :
			 sh->isolated && sh->max_tasks &&
			 w->served >= sh->max_tasks)
			return 0; /* retire: the supervisor starts a fresh one */
		ran = hpool__serve(sh, w, 0);
		if (ran < 0)
			return 0; /* terminated: the caller canceled the rest */
		if (ran)
			continue;
		if (close)
			return 0; /* draining, and nothing is left */
		hpool__event_wait(&sh->work, has_work, sh, HPOOL__SPIN_NS, -1);
	}
}

static int worker_loop_proc(struct hpool__shared *sh, unsigned wi,
			    const struct hpool__topo *topo,
			    struct hpool__proc *pc)
{
	int e = serve_loop(sh, wi, topo, pc);

	/* The handle its tasks used for nested work (handle.c), if any. */
	free(hpool__self.local);
	hpool__self.local = NULL;
	return e;
}

int hpool__worker_loop(struct hpool__shared *sh, unsigned wi,
		       const struct hpool__topo *topo)
{
	return worker_loop_proc(sh, wi, topo, NULL);
}

/* ---- forked worker processes -------------------------------------------- */

struct worker_arg {
	struct hpool__shared *sh;
	unsigned w;
	const struct hpool__topo *topo;
	int code;
};

static void *worker_thread(void *p)
{
	struct worker_arg *a = p;

	a->code = hpool__worker_loop(a->sh, a->w, a->topo);
	return NULL;
}

/* ---- hybrid worker processes ---------------------------------------------- */

struct hyb_arg {
	struct hpool__shared *sh;
	unsigned w;
	const struct hpool__topo *topo;
	struct hpool__proc *proc;
	pthread_mutex_t *gate; /* held by the main thread until all started */
	int code;
};

/* A fatal signal in a worker thread: say which thread took it, then die of
 * it. SA_RESETHAND restored the default action on entry and SA_NODEFER
 * leaves the signal unblocked, so raise() kills the process here with the
 * same signal (a fault would also kill it when the instruction re-runs).
 * Only async-signal-safe work: a relaxed store to the region (the
 * supervisor loads it after reaping the process, which orders it). */
static void crash_handler(int sig)
{
	if (hpool__self.w)
		atomic_store_explicit(&hpool__self.w->crashed, 1,
				      memory_order_relaxed);
	raise(sig);
}

#define ALTSTACK_SIZE (64 * 1024) /* room for the handler on overflow */

static void *hyb_thread(void *p)
{
	struct hyb_arg *a = p;
	stack_t ss = { 0 };

	/* A stack overflow must reach the handler too. */
	ss.ss_sp = malloc(ALTSTACK_SIZE);
	ss.ss_size = ALTSTACK_SIZE;
	if (ss.ss_sp)
		sigaltstack(&ss, NULL);
	pthread_mutex_lock(a->gate); /* wait until every thread exists */
	pthread_mutex_unlock(a->gate);
	a->code = worker_loop_proc(a->sh, a->w, a->topo, a->proc);
	if (ss.ss_sp) {
		/* Off before it is freed, and before the thread ends: a
		 * sanitizer's thread exit unmaps the thread's alternate
		 * stack as if it were its own (ASan: "unable to unmap"). */
		stack_t off = { .ss_flags = SS_DISABLE };

		sigaltstack(&off, NULL);
		free(ss.ss_sp);
	}
	return NULL;
}

/* In a forked hybrid worker process (after worker_main's common part):
 * start the threads of slots [lo, hi), each a worker; init runs once, in
 * the first thread that reaches it (worker.c); exit when all returned.
 * Per-thread state of a task is _Thread_local; what init loads is the
 * process's, shared by its threads. */
static void __attribute__((noreturn))
hybrid_main(struct hpool__shared *sh, const struct hpool__topo *topo,
	    unsigned lo, unsigned hi)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				     SIGABRT, SIGTRAP, SIGSYS };
	unsigned n = hi - lo, i, k;
	struct hpool__proc proc;
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct hyb_arg *args = calloc(n, sizeof(*args));
	pthread_t *th = calloc(n, sizeof(*th));
	struct sigaction sa;
	int e = 0, code = 0;

	memset(&proc, 0, sizeof(proc));
	pthread_mutex_init(&proc.lock, NULL);
	hpool__batch_open(&proc.batch, &sh->w[lo].rec[HPOOL__LEVELS], n);
	pthread_cond_init(&proc.cond, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_handler;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (k = 0; k < sizeof(fatal) / sizeof(fatal[0]); k++)
		sigaction(fatal[k], &sa, NULL);
	if (!args || !th)
		e = ENOMEM;
	pthread_mutex_lock(&gate);
	for (i = 0; i < n && !e; i++) {
		args[i] = (struct hyb_arg){ sh, lo + i, topo, &proc,
					    &gate, 0 };
		e = pthread_create(&th[i], NULL, hyb_thread, &args[i]);
	}
	if (e) {
		/* Not a crash in init: a thread's own error, for every slot
		 * of the process (the threads made wait at the gate). */
		for (k = lo; k < hi; k++) {
			sh->w[k].init_status = -e;
			atomic_store_explicit(&sh->w[k].state,
					      HPOOL__W_INIT_FAILED,
					      memory_order_release);
		}
		hpool__event_signal(&sh->ready);
		hpool__exit(HPOOL__EXIT_INIT + 1);
	}
	pthread_mutex_unlock(&gate);
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (!code)
			code = args[i].code;
	}
	free(args);
	free(th);
	hpool__exit(code);
}

void hpool__worker_proc_main(struct hpool__shared *sh,
			     const struct hpool__topo *topo, unsigned lo,
			     unsigned hi, pid_t parent, const int *fds,
			     unsigned nfds)
{
	struct worker_arg a = { sh, lo, topo, 0 };
	sigset_t none;
	pthread_t th;
	unsigned k;
	int e;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		hpool__exit(0);
	for (k = 0; k < nfds; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "hpool-worker");
	/* A worker of rank 0's own MPI pool (backend_mpi.c): a task's
	 * hpool_create makes a pool on this node, as on a server rank
	 * (mpi_server.c); MPI belongs to the rank. Single-threaded here. */
	if (sh->mode == HPOOL_MODE_MPI)
		setenv("HPOOL_MODE", "process", 1);
	/* Before READY, so that whoever sees READY sees the pid. */
	for (k = lo; k < hi; k++)
		atomic_store_explicit(&sh->w[k].pid, getpid(),
				      memory_order_release);
	if (sh->tpp)
		hybrid_main(sh, topo, lo, hi);
	if ((e = pthread_create(&th, NULL, worker_thread, &a))) {
		/* Not a crash in init: the thread's own error (RLIMIT_NPROC,
		 * RLIMIT_AS), published for hpool_create and the reaper. */
		sh->w[lo].init_status = -e;
		atomic_store_explicit(&sh->w[lo].state, HPOOL__W_INIT_FAILED,
				      memory_order_release);
		hpool__event_signal(&sh->ready);
		hpool__exit(HPOOL__EXIT_INIT + 1);
	}
	pthread_join(th, NULL);
	hpool__exit(a.code);
}

void hpool__wake_all(struct hpool__shared *sh)
{
	hpool__event_signal(&sh->work);
	hpool__event_signal(&sh->space);
	hpool__event_signal(&sh->done);
}
