/* SPDX-License-Identifier: MIT */
/*
 * Events (src/wait.c): a true condition returns at once; a deadline gives
 * -ETIMEDOUT; a sleeping waiter is woken by a signal from another thread
 * and from another process; a signal with no sleeper issues no wake; long
 * ping-pong with spin 0 (futex sleeps every round) loses no wake-up; a
 * wake of one sleeper wakes one of three; a signal for one want word
 * wakes that word's sleeper, not another's; a real wake, and only that,
 * moves the estimate of what a wake costs, which sets the spin.
 *
 * Timing is never asserted, except that -ETIMEDOUT comes only once the
 * deadline has passed. A lost wake-up shows as a hang: children die by
 * SIGALRM and threads are joined with a generous guard, so it fails.
 * A forked child never calls assert_*: it _exits a code. Usage:
 * test_wait [cmocka filter].
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "util.h"

#define GUARD_S 60 /* a waiter stuck this long lost its wake-up */
#define MS ((int64_t)1000000)

/* Shared between the test and its threads or children. */
struct shared {
	struct hpool__event e;
	_Atomic uint32_t flag;
	_Atomic uint32_t turn; /* ping-pong: whose move */
	_Atomic int calls;     /* cond calls, for the counting cond */
	_Atomic int seen;      /* window tests: the cond saw what it wanted */
	_Atomic pid_t tid[2];  /* waiters, for /proc */
	_Atomic uint32_t want[8]; /* want words (hpool__want), beside e */
	int result[2];         /* waiters' return values (threads) */
};

static struct shared *shared_new(void)
{
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(s != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	hpool__event_init(&s->e);
	return s;
}

static void shared_free(struct shared *s)
{
	munmap(s, sizeof(*s));
}

static bool flag_set(void *arg)
{
	struct shared *s = arg;

	/* Pairs with the release store of flag before event_signal. */
	return atomic_load_explicit(&s->flag, memory_order_acquire) != 0;
}

static bool always(void *arg)
{
	atomic_fetch_add(&((struct shared *)arg)->calls, 1);
	return true;
}

static bool never(void *arg)
{
	atomic_fetch_add(&((struct shared *)arg)->calls, 1);
	return false;
}

static void set_flag_and_signal(struct shared *s)
{
	atomic_store_explicit(&s->flag, 1, memory_order_release);
	hpool__event_signal(&s->e);
}

/* State letter of a task in /proc ('S': asleep), '?' when unreadable. */
static char task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* Until `n` waiters are registered and each task listed is asleep: the
 * wake that follows must go through the futex. */
static bool wait_asleep(struct shared *s, uint32_t n, pid_t pid,
			const pid_t *tids)
{
	for (int i = 0; i < GUARD_S * 2000; i++) {
		bool all = atomic_load(&s->e.sleepers) >= n;

		for (uint32_t k = 0; all && k < n; k++)
			all = task_state(pid, tids[k]) == 'S';
		if (all)
			return true;
		usleep(500);
	}
	return false;
}

/* A child tied to us that dies by SIGALRM after GUARD_S (tests/util.h). */
static pid_t child(void)
{
	pid_t pid = fork_child(GUARD_S);

	assert_true(pid >= 0);
	return pid;
}

static void check_exit0(int st, const char *what)
{
	char buf[64];

	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("%s: %s%s", what, status_str(st, buf, sizeof(buf)),
			 WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ?
				 " (lost wake-up)" : "");
}

static void expect_exit0(pid_t pid, const char *what)
{
	check_exit0(reap(pid), what);
}

/* Join, or fail if the thread still waits after GUARD_S: a lost wake-up.
 * The stuck thread and its memory are then left alone. */
static void join_guarded(pthread_t t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += GUARD_S;
	if (pthread_timedjoin_np(t, NULL, &ts) != 0)
		fail_msg("a waiter was never woken: lost wake-up");
}

/* ---- no sleeping needed ------------------------------------------------- */

static void test_true_returns_at_once(void **state)
{
	struct shared *s = shared_new();
	int64_t now = hpool__now_ns();

	(void)state;
	/* Even with a deadline already passed: true wins. */
	assert_int_equal(hpool__event_wait(&s->e, always, s, 0, now - 1), 0);
	assert_int_equal(hpool__event_wait(&s->e, always, s, 0, -1), 0);
	assert_int_equal(hpool__event_wait(&s->e, always, s, HPOOL__SPIN_NS,
					   -1),
			 0);
	assert_int_equal(hpool__event_wait(&s->e, always, s, 10000 * MS, -1),
			 0);
	assert_true(atomic_load(&s->calls) >= 4);
	/* Nobody registered to sleep, nobody was woken. */
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	assert_int_equal(atomic_load(&s->e.seq), 0);
	shared_free(s);
}

/* In a child, so that a deadline that is ignored fails (SIGALRM) rather
 * than hangs. Return: 0, or the number of the check that failed. */
static int timeouts(struct shared *s)
{
	static const int64_t spins[] = { 0, 1 * MS, HPOOL__SPIN_NS,
					 10000 * MS };

	for (size_t i = 0; i < 2 * sizeof(spins) / sizeof(*spins); i++) {
		int64_t spin = spins[i / 2];
		int64_t deadline = hpool__now_ns() + (i % 2 ? 20 : 2) * MS;

		if (hpool__event_wait(&s->e, never, s, spin, deadline) !=
		    -ETIMEDOUT)
			return 1;
		/* -ETIMEDOUT means the deadline has passed. */
		if (hpool__now_ns() < deadline)
			return 2;
		/* The waiter unregistered. */
		if (atomic_load(&s->e.sleepers) != 0)
			return 3;
	}
	/* A deadline in the past, false condition. */
	if (hpool__event_wait(&s->e, never, s, 0, hpool__now_ns() - 1) !=
	    -ETIMEDOUT)
		return 4;
	if (hpool__event_wait(&s->e, never, s, 0, 0) != -ETIMEDOUT)
		return 5;
	if (atomic_load(&s->e.sleepers) != 0 || atomic_load(&s->e.seq) != 0)
		return 6;
	return 0;
}

static void test_timeout(void **state)
{
	struct shared *s = shared_new();
	pid_t pid;

	(void)state;
	pid = child();
	if (pid == 0)
		_exit(timeouts(s));
	expect_exit0(pid, "timeouts (exit code: failed check)");
	shared_free(s);
}

static void test_signal_without_sleeper(void **state)
{
	struct shared *s = shared_new();

	(void)state;
	for (int i = 0; i < 10000; i++)
		hpool__event_signal(&s->e);
	/* Returned every time, and issued no wake (seq counts wakes). */
	assert_int_equal(atomic_load(&s->e.seq), 0);
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	set_flag_and_signal(s);
	assert_int_equal(atomic_load(&s->e.seq), 0);
	assert_int_equal(hpool__event_wait(&s->e, flag_set, s, 0, -1), 0);
	shared_free(s);
}

/* ---- the two windows of the lost-wake-up argument ---------------------- */

/*
 * Stale until registered: reads the flag only once the waiter is
 * registered to sleep (sleepers > 0) and stays true once true. Models a
 * waiter whose last check before registering ran before the signaller's
 * store; only the re-check after registering (L1) can see it.
 */
static bool stale_until_registered(void *arg)
{
	struct shared *s = arg;

	if (atomic_load(&s->seen))
		return true;
	if (atomic_load(&s->e.sleepers) == 0 || !flag_set(s))
		return false;
	atomic_store(&s->seen, 1);
	return true;
}

/* The condition becomes true and is signalled (with no sleeper, so no
 * wake) between the waiter's last check and its registration. */
static void test_set_before_register(void **state)
{
	struct shared *s = shared_new();
	int64_t deadline;

	(void)state;
	set_flag_and_signal(s);
	assert_int_equal(atomic_load(&s->e.seq), 0); /* nobody was woken */
	/* Without the re-check it sleeps to the deadline: -ETIMEDOUT. */
	deadline = hpool__now_ns() + 2000 * MS;
	assert_int_equal(hpool__event_wait(&s->e, stale_until_registered, s,
					   0, deadline),
			 0);
	assert_int_equal(atomic_load(&s->seen), 1);
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	shared_free(s);
}

/*
 * Signal in the window: when called as the re-check after registering
 * (sleepers > 0), first acts as the signaller (sets the flag, signals:
 * a wake with nobody in the futex yet), then returns the stale false.
 */
static bool signal_at_recheck(void *arg)
{
	struct shared *s = arg;

	if (atomic_load(&s->e.sleepers) > 0 && !atomic_load(&s->seen)) {
		atomic_store(&s->seen, 1);
		set_flag_and_signal(s);
		return false;
	}
	return flag_set(s);
}

static void *recheck_waiter(void *arg)
{
	struct shared *s = arg;

	s->result[0] = hpool__event_wait(&s->e, signal_at_recheck, s, 0, -1);
	return NULL;
}

/* The wake lands between the re-check and FUTEX_WAIT: the futex word has
 * moved, so the waiter must not sleep (no deadline: it would hang). */
static void test_signal_before_sleep(void **state)
{
	struct shared *s = shared_new();
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, recheck_waiter, s), 0);
	join_guarded(t);
	assert_int_equal(s->result[0], 0);
	assert_int_equal(atomic_load(&s->seen), 1);
	assert_int_equal(atomic_load(&s->e.seq), 1);
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	shared_free(s);
}

/* ---- a sleeping waiter, woken by another thread ------------------------- */

struct waiter_arg {
	struct shared *s;
	int idx;
	int64_t deadline_rel; /* < 0: none */
};

static void *waiter_thread(void *arg)
{
	struct waiter_arg *a = arg;
	int64_t dl = a->deadline_rel < 0 ? -1 :
					   hpool__now_ns() + a->deadline_rel;

	atomic_store(&a->s->tid[a->idx], gettid());
	a->s->result[a->idx] = hpool__event_wait(&a->s->e, flag_set, a->s, 0,
						 dl);
	return NULL;
}

static pid_t wait_tid(struct shared *s, int idx)
{
	pid_t t;

	while (!(t = atomic_load(&s->tid[idx])))
		sched_yield();
	return t;
}

/* Two waiters asleep (one with a far deadline); one signal wakes both. */
static void test_threads_wake_sleepers(void **state)
{
	(void)state;
	for (int n = 1; n <= 2; n++) {
		struct shared *s = shared_new();
		struct waiter_arg a[2] = { { s, 0, -1 },
					   { s, 1, 600000 * MS } };
		pthread_t t[2];
		pid_t tids[2];

		for (int i = 0; i < n; i++) {
			assert_int_equal(pthread_create(&t[i], NULL,
							waiter_thread, &a[i]),
					 0);
			tids[i] = wait_tid(s, i);
		}
		assert_true(wait_asleep(s, (uint32_t)n, getpid(), tids));
		set_flag_and_signal(s);
		/* Someone slept, so the signal issued a wake. */
		assert_int_equal(atomic_load(&s->e.seq), 1);
		for (int i = 0; i < n; i++) {
			join_guarded(t[i]);
			assert_int_equal(s->result[i], 0);
		}
		assert_int_equal(atomic_load(&s->e.sleepers), 0);
		shared_free(s);
	}
}

/* ---- a wake of n sleepers wakes n, not all ------------------------------ */

struct token_arg {
	struct shared *s;
	_Atomic int *tokens;
	_Atomic int calls; /* this waiter's cond calls */
	_Atomic pid_t tid;
	_Atomic int woke;
};

static bool take_token(void *arg)
{
	struct token_arg *a = arg;
	int t = atomic_load(a->tokens);

	atomic_fetch_add(&a->calls, 1);
	while (t > 0)
		if (atomic_compare_exchange_weak(a->tokens, &t, t - 1))
			return true;
	return false;
}

static void *token_waiter(void *arg)
{
	struct token_arg *a = arg;

	atomic_store(&a->tid, gettid());
	assert_int_equal(hpool__event_wait(&a->s->e, take_token, a, 0, -1), 0);
	atomic_store(&a->woke, 1);
	return NULL;
}

/* Three waiters asleep, one token, a wake of 1 (as sched.c's publish of
 * one task): one waiter takes the token and the other two are not woken.
 * A woken waiter calls its cond again before it sleeps again, and the two
 * are counted only once /proc shows them asleep, so a wake of all (the
 * mutant) counts a call more for each. A wake of all with two tokens then
 * ends them. */
static void test_wake_one(void **state)
{
	struct shared *s = shared_new();
	_Atomic int tokens = 0;
	struct token_arg a[3];
	pthread_t t[3];
	pid_t tids[3], rest[2];
	int before[3], woke = -1, k = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		a[i] = (struct token_arg){ .s = s, .tokens = &tokens };
		assert_int_equal(pthread_create(&t[i], NULL, token_waiter,
						&a[i]), 0);
		while (!(tids[i] = atomic_load(&a[i].tid)))
			sched_yield();
	}
	assert_true(wait_asleep(s, 3, getpid(), tids));
	for (int i = 0; i < 3; i++)
		before[i] = atomic_load(&a[i].calls);
	atomic_store(&tokens, 1);
	atomic_thread_fence(memory_order_seq_cst); /* as the publish's */
	hpool__event_wake(&s->e, 1);
	for (int n = 0; woke < 0 && n < GUARD_S * 2000; n++) {
		for (int i = 0; i < 3; i++)
			if (atomic_load(&a[i].woke))
				woke = i;
		if (woke < 0)
			usleep(500);
	}
	assert_true(woke >= 0);
	join_guarded(t[woke]);
	for (int i = 0; i < 3; i++)
		if (i != woke)
			rest[k++] = tids[i];
	assert_true(wait_asleep(s, 2, getpid(), rest));
	for (int i = 0; i < 3; i++)
		if (i != woke)
			assert_int_equal(atomic_load(&a[i].calls), before[i]);
	atomic_store(&tokens, 2);
	hpool__event_signal(&s->e);
	for (int i = 0; i < 3; i++)
		if (i != woke)
			join_guarded(t[i]);
	assert_int_equal(atomic_load(&tokens), 0);
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	shared_free(s);
}

struct want_arg {
	struct shared *s;
	_Atomic uint32_t *want; /* the word this waiter counts itself in */
	_Atomic int go;         /* its condition */
	_Atomic int calls;      /* its cond calls */
	_Atomic pid_t tid;
};

static bool want_go(void *arg)
{
	struct want_arg *a = arg;

	atomic_fetch_add(&a->calls, 1);
	return atomic_load(&a->go) != 0;
}

static void *want_waiter(void *arg)
{
	struct want_arg *a = arg;
	struct hpool__want wt = { .w = { a->want }, .n = 1 };

	atomic_store(&a->tid, gettid());
	hpool__wanting = &wt;
	assert_int_equal(hpool__event_wait(&a->s->e, want_go, a, 0, -1), 0);
	hpool__wanting = NULL;
	return NULL;
}

/* Two waiters asleep on one event, each counted in its own want word (as
 * two callers waiting for two futures): a signal for the first one's
 * word wakes it, and not the second, whose cond is not called again
 * (counted once /proc shows it asleep, as in test_wake_one; a wake of
 * all, the mutant, counts a call more). Two words of different bits;
 * every want word is left at 0. */
static void test_signal_wakes_its_own(void **state)
{
	struct shared *s = shared_new();
	_Atomic uint32_t *w0 = &s->want[0], *w1 = NULL, *none = &s->want[7];
	struct want_arg a[2];
	pthread_t t[2];
	pid_t tid;
	int before;

	(void)state;
	for (int i = 1; i < 7 && !w1; i++)
		if (hpool__event_bit(&s->e, &s->want[i]) !=
		    hpool__event_bit(&s->e, w0))
			w1 = &s->want[i];
	assert_non_null(w1);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct want_arg){ .s = s, .want = i ? w1 : w0 };
		assert_int_equal(pthread_create(&t[i], NULL, want_waiter,
						&a[i]), 0);
		while (!atomic_load(&a[i].tid))
			sched_yield();
	}
	{
		pid_t tids[2] = { a[0].tid, a[1].tid };

		assert_true(wait_asleep(s, 2, getpid(), tids));
	}
	assert_int_equal(atomic_load(w0), 1);
	before = atomic_load(&a[1].calls);
	atomic_store(&a[0].go, 1);
	hpool__event_signal_if(&s->e, w0, none, false);
	join_guarded(t[0]);
	tid = a[1].tid;
	assert_true(wait_asleep(s, 1, getpid(), &tid));
	assert_int_equal(atomic_load(&a[1].calls), before);
	atomic_store(&a[1].go, 1);
	hpool__event_signal_if(&s->e, w1, none, false);
	join_guarded(t[1]);
	for (int i = 0; i < 8; i++)
		assert_int_equal(atomic_load(&s->want[i]), 0);
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	shared_free(s);
}

/* ---- how long waits spin: what a wake costs here ------------------------ */

/* The spin is twice the estimate, within its bounds. A wait that times
 * out, or whose condition is true before it sleeps, takes no sample; a
 * real wake of a sleeper does: from 0 the estimate becomes that wake's
 * time (more than 0), and from far above it moves down by 1/8 of the
 * gap. */
static void test_wake_cost(void **state)
{
	struct shared *s = shared_new();
	struct waiter_arg a = { s, 0, -1 };
	int64_t far = 10 * HPOOL__SPIN_MAX_NS, c;
	pthread_t t;
	pid_t tid;

	(void)state;
	hpool__wake_cost_set(0);
	assert_int_equal(hpool__spin_ns(), HPOOL__SPIN_NS);
	hpool__wake_cost_set(HPOOL__SPIN_NS);
	assert_int_equal(hpool__spin_ns(), 2 * HPOOL__SPIN_NS);
	hpool__wake_cost_set(far);
	assert_int_equal(hpool__spin_ns(), HPOOL__SPIN_MAX_NS);

	hpool__wake_cost_set(0);
	assert_int_equal(hpool__event_wait(&s->e, never, s, 0,
					   hpool__now_ns() + 2 * MS),
			 -ETIMEDOUT);
	assert_int_equal(hpool__wake_cost_ns(), 0);

	assert_int_equal(pthread_create(&t, NULL, waiter_thread, &a), 0);
	tid = wait_tid(s, 0);
	assert_true(wait_asleep(s, 1, getpid(), &tid));
	set_flag_and_signal(s);
	join_guarded(t);
	assert_int_equal(s->result[0], 0);
	c = hpool__wake_cost_ns();
	assert_true(c > 0 && c <= HPOOL__SPIN_MAX_NS);

	/* A second real wake, from far above: a sample is in (0, max] (it
	 * is capped at the most), so the estimate moves down by 1/8 of the
	 * gap: into (far - far / 8, far - (far - max) / 8]. */
	atomic_store(&s->flag, 0);
	atomic_store(&s->tid[0], 0);
	hpool__wake_cost_set(far);
	assert_int_equal(pthread_create(&t, NULL, waiter_thread, &a), 0);
	tid = wait_tid(s, 0);
	assert_true(wait_asleep(s, 1, getpid(), &tid));
	set_flag_and_signal(s);
	join_guarded(t);
	c = hpool__wake_cost_ns();
	assert_true(c > far - far / 8 &&
		    c <= far - (far - HPOOL__SPIN_MAX_NS) / 8);
	hpool__wake_cost_set(0);
	shared_free(s);
}

/* ---- a sleeping waiter in another process -------------------------------- */

static void test_process_wake_sleeper(void **state)
{
	struct shared *s = shared_new();
	pid_t pid;

	(void)state;
	pid = child();
	if (pid == 0) /* no deadline: only a wake can end this */
		_exit(hpool__event_wait(&s->e, flag_set, s, 0, -1) ? 1 : 0);
	if (!wait_asleep(s, 1, pid, &pid)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("child never slept");
	}
	set_flag_and_signal(s);
	assert_int_equal(atomic_load(&s->e.seq), 1);
	expect_exit0(pid, "waiter child");
	assert_int_equal(atomic_load(&s->e.sleepers), 0);
	shared_free(s);
}

/* ---- ping-pong: every round a sleep and a wake -------------------------- */

#define ROUNDS 100000

struct turn_arg {
	struct shared *s;
	uint32_t want;
};

static bool turn_is(void *arg)
{
	struct turn_arg *a = arg;

	/* Pairs with the release store of turn by the other side. */
	return atomic_load_explicit(&a->s->turn, memory_order_acquire) ==
	       a->want;
}

/* Side `me` (0 or 1) moves on turns 2i + me. Return: 0, or 1 on a
 * timeout (cannot happen: no deadline) or a wrong turn. */
static int ping_pong(struct shared *s, uint32_t me, int64_t spin_ns)
{
	for (uint32_t i = 0; i < ROUNDS; i++) {
		struct turn_arg a = { s, 2 * i + me };

		if (hpool__event_wait(&s->e, turn_is, &a, spin_ns, -1))
			return 1;
		if (atomic_load(&s->turn) != a.want)
			return 1;
		atomic_store_explicit(&s->turn, a.want + 1,
				      memory_order_release);
		hpool__event_signal(&s->e);
	}
	return 0;
}

static void test_process_ping_pong(void **state)
{
	static const int64_t spins[] = { 0, HPOOL__SPIN_NS };

	(void)state;
	for (size_t i = 0; i < sizeof(spins) / sizeof(*spins); i++) {
		struct shared *s = shared_new();
		pid_t pid[2];

		int st[2];

		for (uint32_t me = 0; me < 2; me++) {
			pid[me] = child();
			if (pid[me] == 0)
				_exit(ping_pong(s, me, spins[i]));
		}
		st[0] = reap(pid[0]);
		if (st[0]) /* the other side would wait for ever */
			kill(pid[1], SIGKILL);
		st[1] = reap(pid[1]);
		check_exit0(st[0], "ping");
		check_exit0(st[1], "pong");
		assert_int_equal(atomic_load(&s->turn), 2 * ROUNDS);
		assert_int_equal(atomic_load(&s->e.sleepers), 0);
		/* With spin 0, waiters did sleep and were woken. */
		if (spins[i] == 0)
			assert_true(atomic_load(&s->e.seq) > 0);
		shared_free(s);
	}
}

struct pp_arg {
	struct shared *s;
	uint32_t me;
	int64_t spin_ns;
};

static void *ping_pong_thread(void *arg)
{
	struct pp_arg *a = arg;

	a->s->result[a->me] = ping_pong(a->s, a->me, a->spin_ns);
	return NULL;
}

static void test_threads_ping_pong(void **state)
{
	struct shared *s = shared_new();
	struct pp_arg a[2] = { { s, 0, 0 }, { s, 1, 0 } };
	pthread_t t[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ping_pong_thread,
						&a[i]),
				 0);
	for (int i = 0; i < 2; i++) {
		join_guarded(t[i]);
		assert_int_equal(s->result[i], 0);
	}
	assert_int_equal(atomic_load(&s->turn), 2 * ROUNDS);
	assert_true(atomic_load(&s->e.seq) > 0);
	shared_free(s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_true_returns_at_once),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_signal_without_sleeper),
		cmocka_unit_test(test_set_before_register),
		cmocka_unit_test(test_signal_before_sleep),
		cmocka_unit_test(test_threads_wake_sleepers),
		cmocka_unit_test(test_wake_one),
		cmocka_unit_test(test_signal_wakes_its_own),
		cmocka_unit_test(test_wake_cost),
		cmocka_unit_test(test_process_wake_sleeper),
		cmocka_unit_test(test_threads_ping_pong),
		cmocka_unit_test(test_process_ping_pong),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
