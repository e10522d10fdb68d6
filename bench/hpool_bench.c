/* SPDX-License-Identifier: MIT */
/*
 * hpool-bench: hpool in thread and process mode beside OpenMP (libgomp),
 * Python's pools (through bench/peers.py) and the ring benchmark, in one
 * run, printed as one table with hpool/peer ratios, written as CSV and
 * drawn as PNG plots (gnuplot, bench/plot.gp).
 *
 * Scenarios (each hpool figure in thread AND process mode):
 *   1 empty   map of n items whose task copies 8 bytes: ns per item, for
 *             chunk 1, 4, 16, 64, 256, 1024 and automatic; peers: OpenMP
 *             schedule(dynamic,chunk) with the same chunks (for "auto": the
 *             first chunk hpool's automatic mode picks, see notes), a
 *             serial loop; Python pools through peers.py.
 *   2 round   hpool_submit + hpool_wait of one task: back to back (hot) and
 *             after the pool slept COLD_MS (cold); beside a cache-line
 *             ping-pong between two threads (the floor of any hand-off).
 *   3 compute tasks of about 1, 10 and 100 us of integer and floating-point
 *             arithmetic (a spin loop calibrated at start): speedup over a
 *             serial loop, hpool automatic chunks vs OpenMP dynamic.
 *   4 large   1 MiB per item (sum of its 64-bit words), input in plain
 *             malloc memory (copied into the region) vs hpool_shm_alloc
 *             memory (used in place): GB/s and ns per item.
 *   5 create  hpool_create + hpool_destroy vs the forks alone (fork +
 *             waitpid of workers + 1 trivial children: the supervisor and
 *             the workers) and the threads alone (pthread_create + join).
 *   6 ring    ./bench/ring-bench (its own table), rows copied to the CSV.
 *
 * Every figure: one warm-up run, then the median of --reps runs (at least
 * 5) with min and max. Figures of one implementation are taken back to
 * back; after OpenMP figures the harness sleeps QUIESCE_MS so that
 * libgomp's spinning idle threads do not steal the cores from the next
 * figure. Workers: hpool's default (one per physical core of the allowed
 * cpuset); OpenMP and the Python pools get the same count.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <hpool.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "bench"
#endif
/* Where CSV and PNG go without --out: the build tree's bench/out (make
 * passes it), never the committed bench/results (make bench-update). */
#ifndef BENCH_OUTDIR
#define BENCH_OUTDIR "bench/out"
#endif

#define MAX_REPS 101
#define MAX_FIGS 512
#define COLD_MS 50
#define QUIESCE_MS 50
#define MIB ((size_t)1 << 20)
#define HPOOL_BENCH_MAXW 1025 /* threads or forks in scenario 5 */

extern char **environ;

/* ---- figures ------------------------------------------------------------- */

struct fig {
	char scen[16], impl[32], mode[12], param[24], unit[12];
	double med, min, max;
};

static struct fig figs[MAX_FIGS];
static unsigned nfigs;
static int g_reps;
static bool g_quick;
static const char *g_only = "123456"; /* scenarios to run */
static unsigned g_workers;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void die(const char *what, int e)
{
	fprintf(stderr, "hpool-bench: %s: %s (%s)\n", what,
		e ? hpool_strerror(e) : strerror(errno), hpool_last_error());
	exit(1);
}

static void add_fig(const char *scen, const char *impl, const char *mode,
		    const char *param, const char *unit, double med,
		    double mn, double mx)
{
	struct fig *f;

	if (nfigs == MAX_FIGS)
		return;
	f = &figs[nfigs++];
	snprintf(f->scen, sizeof(f->scen), "%s", scen);
	snprintf(f->impl, sizeof(f->impl), "%s", impl);
	snprintf(f->mode, sizeof(f->mode), "%s", mode);
	snprintf(f->param, sizeof(f->param), "%s", param);
	snprintf(f->unit, sizeof(f->unit), "%s", unit);
	f->med = med;
	f->min = mn;
	f->max = mx;
}

static const struct fig *find_fig(const char *scen, const char *impl,
				  const char *mode, const char *param,
				  const char *unit)
{
	for (unsigned i = 0; i < nfigs; i++) {
		const struct fig *f = &figs[i];

		if (!strcmp(f->scen, scen) && !strcmp(f->impl, impl) &&
		    !strcmp(f->mode, mode) && !strcmp(f->param, param) &&
		    (!unit || !strcmp(f->unit, unit)))
			return f;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double med, min, max;
};

static struct stat3 summarize(double *v, int k)
{
	struct stat3 s;

	qsort(v, (size_t)k, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[k - 1];
	s.med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
	return s;
}

/* One warm-up run, then g_reps timed runs; fn returns one run's figure. */
static struct stat3 measure(double (*fn)(void *), void *arg)
{
	double v[MAX_REPS];

	fn(arg);
	for (int r = 0; r < g_reps; r++)
		v[r] = fn(arg);
	return summarize(v, g_reps);
}

static void record(const char *scen, const char *impl, const char *mode,
		   const char *param, const char *unit, struct stat3 s)
{
	add_fig(scen, impl, mode, param, unit, s.med, s.min, s.max);
}

/* Speedup, measured in pairs so that load that comes and goes hits both
 * sides alike: each repetition runs the serial loop, then the parallel
 * one, and yields serial / parallel. The serial times are kept in ser[]
 * (*nser of them) for the serial row. */
static struct stat3 measure_speedup(double (*serial)(void *),
				    double (*par)(void *), void *arg,
				    double *ser, int *nser)
{
	double v[MAX_REPS];

	serial(arg);
	par(arg);
	for (int r = 0; r < g_reps; r++) {
		double s = serial(arg);

		v[r] = s / par(arg);
		ser[(*nser)++] = s;
	}
	return summarize(v, g_reps);
}

static const char *mode_name(hpool_mode m)
{
	return m == HPOOL_MODE_THREAD ? "thread" : "process";
}

static void progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int64_t g_t0;

static void progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hpool-bench: %5.1f s: ", (now_ns() - g_t0) / 1e9);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- tasks --------------------------------------------------------------- */

/* Called through these pointers in the serial and OpenMP loops too, as
 * hpool calls them, so no loop gets an inlined body the others lack. */
static int task_copy(void *out, const void *in, const void *ctx)
{
	*(long *)out = *(const long *)in;
	return 0;
}

static uint64_t spin(uint64_t iters, uint64_t seed)
{
	uint64_t x = seed | 1;
	double f = 1.0;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f = f * 0.999999 + (double)(x & 1023);
	}
	return x ^ (uint64_t)f;
}

static int task_spin(void *out, const void *in, const void *ctx)
{
	*(uint64_t *)out = spin(*(const uint64_t *)ctx,
				(uint64_t)*(const long *)in);
	return 0;
}

static int task_sum(void *out, const void *in, const void *ctx)
{
	const uint64_t *w = in;
	uint64_t s = 0;

	for (size_t i = 0; i < MIB / sizeof(*w); i++)
		s += w[i];
	*(uint64_t *)out = s;
	return 0;
}

static hpool_fn volatile p_copy = task_copy;
static hpool_fn volatile p_spin = task_spin;
static hpool_fn volatile p_sum = task_sum;

/* ---- pools --------------------------------------------------------------- */

static hpool *make_pool(hpool_mode mode, size_t shm)
{
	hpool_config cfg;
	hpool *p;
	int e;

	hpool_config_init(&cfg);
	cfg.mode = mode;
	cfg.shm_size = shm;
	if ((e = hpool_create(&p, &cfg)))
		die("hpool_create", e);
	return p;
}

/* ---- scenario 1: empty tasks --------------------------------------------- */

struct mapa {
	hpool *p;
	hpool_fn fn;
	const void *ctx;
	size_t ctx_size;
	const void *in;
	size_t in_size;
	void *out;
	size_t out_size, n, chunk;
	int omp_threads;
};

static double run_map(void *v)
{
	struct mapa *a = v;
	hpool_map_opts o = { .chunk = a->chunk };
	int64_t t0 = now_ns();
	int e = hpool_map(a->p, a->fn, a->ctx, a->ctx_size, a->in, a->in_size,
			  a->out, a->out_size, a->n, &o);

	if (e)
		die("hpool_map", e);
	return (double)(now_ns() - t0);
}

static double run_omp(void *v)
{
	struct mapa *a = v;
	hpool_fn fn = a->fn;
	const char *in = a->in;
	char *out = a->out;
	int chunk = (int)a->chunk;
	int64_t t0 = now_ns();
	long n = (long)a->n;

#pragma omp parallel for schedule(dynamic, chunk) num_threads(a->omp_threads)
	for (long i = 0; i < n; i++)
		fn(out + (size_t)i * a->out_size, in + (size_t)i * a->in_size,
		   a->ctx);
	return (double)(now_ns() - t0);
}

static double run_serial(void *v)
{
	struct mapa *a = v;
	hpool_fn fn = a->fn;
	int64_t t0 = now_ns();

	for (size_t i = 0; i < a->n; i++)
		fn((char *)a->out + i * a->out_size,
		   (const char *)a->in + i * a->in_size, a->ctx);
	return (double)(now_ns() - t0);
}

/* Per-item variants of the three. */
static double per_item_map(void *v)
{
	return run_map(v) / (double)((struct mapa *)v)->n;
}

static double per_item_omp(void *v)
{
	return run_omp(v) / (double)((struct mapa *)v)->n;
}

static double per_item_serial(void *v)
{
	return run_serial(v) / (double)((struct mapa *)v)->n;
}

/* The first chunk of hpool's automatic (guided) chunking: a quarter of
 * each worker's share, capped so that a chunk's copied bytes stay near
 * 64 KiB (in + out + an 8-byte status per item). */
static size_t auto_chunk(size_t n, size_t in_size, size_t out_size)
{
	size_t guided = (n + 4 * g_workers - 1) / (4 * g_workers);
	size_t cap = ((size_t)64 << 10) / (in_size + out_size + 8);

	if (!cap)
		cap = 1;
	return guided < cap ? guided : cap;
}

static void check_copy(const long *out, size_t n, const char *who)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] != (long)i) {
			fprintf(stderr, "hpool-bench: %s: out[%zu] = %ld\n",
				who, i, out[i]);
			exit(1);
		}
}

static size_t s1_n;
static size_t s1_omp_auto;

static void scenario1(hpool *pools[2])
{
	static const size_t chunks[] = { 1, 4, 16, 64, 256, 1024, 0 };
	size_t n = g_quick ? 100000 : 1000000;
	long *in = malloc(n * sizeof(long)), *out = malloc(n * sizeof(long));
	struct mapa a = { .fn = p_copy, .in = in, .in_size = sizeof(long),
			  .out = out, .out_size = sizeof(long), .n = n,
			  .omp_threads = (int)g_workers };
	char param[24];

	if (!in || !out)
		die("malloc", 0);
	s1_n = n;
	s1_omp_auto = auto_chunk(n, sizeof(long), sizeof(long));
	for (size_t i = 0; i < n; i++)
		in[i] = (long)i;
	progress("1 empty tasks: n = %zu, serial", n);
	memset(out, 0xff, n * sizeof(long));
	record("1-empty", "serial", "serial", "chunk=-", "ns/item",
	       measure(per_item_serial, &a));
	check_copy(out, n, "serial");
	for (unsigned k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		size_t c = chunks[k];

		if (c)
			snprintf(param, sizeof(param), "chunk=%u", (unsigned)c);
		else
			snprintf(param, sizeof(param), "chunk=auto");
		progress("1 empty tasks: n = %zu, %s", n, param);
		for (int m = 0; m < 2; m++) {
			a.p = pools[m];
			a.chunk = c;
			memset(out, 0xff, n * sizeof(long));
			record("1-empty", "hpool", mode_name(hpool_mode_of(a.p)),
			       param, "ns/item", measure(per_item_map, &a));
			check_copy(out, n, "hpool");
		}
		a.chunk = c ? c : s1_omp_auto;
		memset(out, 0xff, n * sizeof(long));
		record("1-empty", "omp-dynamic", "thread", param, "ns/item",
		       measure(per_item_omp, &a));
		check_copy(out, n, "omp");
		sleep_ms(QUIESCE_MS);
	}
	free(in);
	free(out);
}

/* ---- scenario 2: submit -> wait round trip ------------------------------- */

struct rta {
	hpool *p;
	unsigned k;
};

static void round_trip(hpool *p)
{
	hpool_future *f;
	long x = 42, y = 0;
	int e;

	if ((e = hpool_submit(p, p_copy, NULL, 0, &x, sizeof(x), sizeof(y),
			      &f)))
		die("hpool_submit", e);
	if ((e = hpool_wait(f, &y, -1)))
		die("hpool_wait", e);
	if (y != 42) {
		fprintf(stderr, "hpool-bench: round trip returned %ld\n", y);
		exit(1);
	}
}

static double run_hot(void *v)
{
	struct rta *a = v;
	int64_t t0 = now_ns();

	for (unsigned i = 0; i < a->k; i++)
		round_trip(a->p);
	return (double)(now_ns() - t0) / a->k;
}

static double run_cold(void *v)
{
	struct rta *a = v;
	int64_t t0;

	sleep_ms(COLD_MS);
	t0 = now_ns();
	round_trip(a->p);
	return (double)(now_ns() - t0);
}

/* The floor: one cache line bounced between two threads. A waiting side
 * yields after 64 polls, so that a side descheduled by other load does not
 * cost a whole time slice of spinning (on an idle machine it never
 * yields). */
struct pingpong {
	_Alignas(64) _Atomic unsigned long ball;
	unsigned long k;
};

static void await_ball(struct pingpong *pp, unsigned long want)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&pp->ball, memory_order_acquire) != want)
		if (++spins % 64 == 0)
			sched_yield();
}

static void *pong(void *v)
{
	struct pingpong *pp = v;

	for (unsigned long i = 1; i <= pp->k; i++) {
		await_ball(pp, 2 * i - 1);
		atomic_store_explicit(&pp->ball, 2 * i, memory_order_release);
	}
	return NULL;
}

static double run_pingpong(void *v)
{
	struct pingpong *pp = v;
	pthread_t t;
	int64_t t0;

	atomic_store(&pp->ball, 0);
	if (pthread_create(&t, NULL, pong, pp))
		die("pthread_create", 0);
	t0 = now_ns();
	for (unsigned long i = 1; i <= pp->k; i++) {
		atomic_store_explicit(&pp->ball, 2 * i - 1,
				      memory_order_release);
		await_ball(pp, 2 * i);
	}
	t0 = now_ns() - t0;
	pthread_join(t, NULL);
	return (double)t0 / pp->k;
}

/* The floor of the cold case: wake a thread asleep in FUTEX_WAIT for
 * COLD_MS, and spin until it answers. */
struct fxcold {
	_Atomic int go, reply;
};

static long futex_op(_Atomic int *w, int op, int val)
{
	return syscall(SYS_futex, (int *)w, op, val, NULL, NULL, 0);
}

static void *fx_sleeper(void *v)
{
	struct fxcold *f = v;

	while (!atomic_load(&f->go))
		futex_op(&f->go, FUTEX_WAIT_PRIVATE, 0);
	atomic_store(&f->reply, 1);
	return NULL;
}

static double run_futex_cold(void *v)
{
	struct fxcold *f = v;
	pthread_t t;
	int64_t t0;

	atomic_store(&f->go, 0);
	atomic_store(&f->reply, 0);
	if (pthread_create(&t, NULL, fx_sleeper, f))
		die("pthread_create", 0);
	sleep_ms(COLD_MS);
	t0 = now_ns();
	atomic_store(&f->go, 1);
	futex_op(&f->go, FUTEX_WAKE_PRIVATE, 1);
	while (!atomic_load(&f->reply))
		;
	t0 = now_ns() - t0;
	pthread_join(t, NULL);
	return (double)t0;
}

static unsigned s2_hot_k;

static void scenario2(hpool *pools[2])
{
	struct pingpong pp = { .k = g_quick ? 20000 : 50000 };
	struct rta a = { .k = g_quick ? 2000 : 20000 };
	struct fxcold fx;

	s2_hot_k = a.k;
	progress("2 round trip: cache-line ping-pong");
	record("2-roundtrip", "cacheline-pingpong", "thread", "hot", "ns",
	       measure(run_pingpong, &pp));
	progress("2 round trip: futex wake of a sleeping thread");
	record("2-roundtrip", "futex-wake", "thread", "cold", "ns",
	       measure(run_futex_cold, &fx));
	for (int m = 0; m < 2; m++) {
		const char *mn = mode_name(hpool_mode_of(pools[m]));

		a.p = pools[m];
		progress("2 round trip: hpool %s, hot and cold (%d ms)", mn,
			 COLD_MS);
		record("2-roundtrip", "hpool", mn, "hot", "ns",
		       measure(run_hot, &a));
		record("2-roundtrip", "hpool", mn, "cold", "ns",
		       measure(run_cold, &a));
	}
}

/* ---- scenario 3: fine-grained compute ------------------------------------ */

static double g_iters_per_us;

static void calibrate(void)
{
	const uint64_t iters = 1 << 18; /* ~0.6 ms: the best of many short
					   runs dodges preemption */
	volatile uint64_t sink;
	double best = 1e30;

	for (int r = 0; r < 15; r++) {
		int64_t t0 = now_ns();
		double dt;

		sink = spin(iters, (uint64_t)r);
		dt = (double)(now_ns() - t0);
		if (dt < best)
			best = dt;
	}
	(void)sink;
	g_iters_per_us = (double)iters / (best / 1000.0);
}

static const unsigned task_us[] = { 1, 10, 100 };
static size_t s3_n[3], s3_omp_auto[3];

static void scenario3(hpool *pools[2])
{
	double total_us = g_quick ? 30000 : 200000;

	calibrate();
	for (unsigned k = 0; k < 3; k++) {
		size_t n = (size_t)(total_us / task_us[k]);
		uint64_t iters = (uint64_t)(g_iters_per_us * task_us[k] + 0.5);
		long *in = malloc(n * sizeof(long));
		uint64_t *out = malloc(n * sizeof(uint64_t));
		struct mapa a = { .fn = p_spin, .ctx = &iters,
				  .ctx_size = sizeof(iters), .in = in,
				  .in_size = sizeof(long), .out = out,
				  .out_size = sizeof(uint64_t), .n = n,
				  .omp_threads = (int)g_workers };
		char param[24];
		double ser[4 * MAX_REPS];
		struct stat3 st;
		int nser;

		if (!in || !out)
			die("malloc", 0);
		for (size_t i = 0; i < n; i++)
			in[i] = (long)i;
		s3_n[k] = n;
		s3_omp_auto[k] = auto_chunk(n, sizeof(long), sizeof(uint64_t));
		snprintf(param, sizeof(param), "task=%uus", task_us[k]);
		progress("3 compute: %s x %zu, serial and hpool", param, n);
		nser = 0;
		for (int m = 0; m < 2; m++) {
			a.p = pools[m];
			a.chunk = 0;
			record("3-compute", "hpool",
			       mode_name(hpool_mode_of(a.p)), param, "x",
			       measure_speedup(run_serial, run_map, &a, ser,
					       &nser));
		}
		progress("3 compute: %s, serial and OpenMP", param);
		a.chunk = 1;
		record("3-compute", "omp-dynamic-1", "thread", param, "x",
		       measure_speedup(run_serial, run_omp, &a, ser, &nser));
		a.chunk = s3_omp_auto[k];
		record("3-compute", "omp-dynamic-C", "thread", param, "x",
		       measure_speedup(run_serial, run_omp, &a, ser, &nser));
		st = summarize(ser, nser);
		add_fig("3-compute", "serial", "serial", param, "ms",
			st.med / 1e6, st.min / 1e6, st.max / 1e6);
		sleep_ms(QUIESCE_MS);
		free(in);
		free(out);
	}
}

/* ---- scenario 4: large inputs -------------------------------------------- */

static size_t s4_n;

static void check_sums(const uint64_t *out, size_t n, uint64_t want,
		       const char *who)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] != want + i * (MIB / 8)) {
			fprintf(stderr, "hpool-bench: %s: sum %zu wrong\n",
				who, i);
			exit(1);
		}
}

static void fill_items(uint64_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < MIB / 8; j++)
			w[i * (MIB / 8) + j] = j + i;
}

static void record_large(const char *impl, const char *mode,
			 const char *param, size_t n, struct stat3 t)
{
	double bytes = (double)n * MIB;

	add_fig("4-large", impl, mode, param, "GB/s", bytes / t.med,
		bytes / t.max, bytes / t.min);
	add_fig("4-large", impl, mode, param, "ns/item", t.med / n,
		t.min / n, t.max / n);
}

static void scenario4(hpool *pools[2])
{
	size_t n = g_quick ? 32 : 128;
	uint64_t want = (MIB / 8) * (MIB / 8 - 1) / 2;
	uint64_t *in = malloc(n * MIB), *out = calloc(n, sizeof(uint64_t));
	struct mapa a = { .fn = p_sum, .in_size = MIB, .out = out,
			  .out_size = sizeof(uint64_t), .n = n,
			  .omp_threads = (int)g_workers };

	if (!in || !out)
		die("malloc", 0);
	s4_n = n;
	fill_items(in, n);
	a.in = in;
	progress("4 large inputs: %zu x 1 MiB, serial", n);
	record_large("serial", "serial", "in=malloc", n,
		     measure(run_serial, &a));
	check_sums(out, n, want, "serial");
	for (int m = 0; m < 2; m++) {
		const char *mn = mode_name(hpool_mode_of(pools[m]));
		uint64_t *shm = hpool_shm_alloc(pools[m], n * MIB);

		if (!shm)
			die("hpool_shm_alloc", 0);
		fill_items(shm, n);
		a.p = pools[m];
		a.chunk = 0;
		a.in = in;
		progress("4 large inputs: hpool %s, copied and shm", mn);
		memset(out, 0, n * sizeof(*out));
		record_large("hpool", mn, "in=malloc(copied)", n,
			     measure(run_map, &a));
		check_sums(out, n, want, "hpool copied");
		a.in = shm;
		memset(out, 0, n * sizeof(*out));
		record_large("hpool", mn, "in=shm", n, measure(run_map, &a));
		check_sums(out, n, want, "hpool shm");
		hpool_shm_free(pools[m], shm);
	}
	a.in = in;
	a.chunk = 1;
	progress("4 large inputs: OpenMP");
	record_large("omp-dynamic-1", "thread", "in=malloc", n,
		     measure(run_omp, &a));
	check_sums(out, n, want, "omp");
	sleep_ms(QUIESCE_MS);
	free(in);
	free(out);
}

/* ---- scenario 5: create + destroy ---------------------------------------- */

static double run_create(void *v)
{
	hpool_mode m = *(hpool_mode *)v;
	hpool_config cfg;
	hpool *p;
	int64_t t0 = now_ns();
	int e;

	hpool_config_init(&cfg);
	cfg.mode = m;
	if ((e = hpool_create(&p, &cfg)))
		die("hpool_create", e);
	if ((e = hpool_destroy(p)))
		die("hpool_destroy", e);
	return (double)(now_ns() - t0) / 1000.0;
}

static double run_forks(void *v)
{
	unsigned n = *(unsigned *)v;
	pid_t pids[HPOOL_BENCH_MAXW];
	int64_t t0 = now_ns();

	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", 0);
		if (pids[i] == 0)
			_exit(0);
	}
	for (unsigned i = 0; i < n; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	return (double)(now_ns() - t0) / 1000.0;
}

static void *noop_thread(void *v)
{
	return v;
}

static double run_threads(void *v)
{
	unsigned n = *(unsigned *)v;
	pthread_t t[HPOOL_BENCH_MAXW];
	int64_t t0 = now_ns();

	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, noop_thread, NULL))
			die("pthread_create", 0);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return (double)(now_ns() - t0) / 1000.0;
}

static void scenario5(void)
{
	hpool_mode modes[2] = { HPOOL_MODE_THREAD, HPOOL_MODE_PROCESS };
	unsigned nthreads = g_workers, nforks = g_workers + 1;
	char param[24];

	snprintf(param, sizeof(param), "workers=%u", g_workers);
	for (int m = 0; m < 2; m++) {
		progress("5 create + destroy: %s", mode_name(modes[m]));
		record("5-create", "hpool create+destroy", mode_name(modes[m]),
		       param, "us", measure(run_create, &modes[m]));
	}
	progress("5 create + destroy: the threads and forks alone");
	record("5-create", "pthread_create+join", "thread", param, "us",
	       measure(run_threads, &nthreads));
	snprintf(param, sizeof(param), "workers=%u", g_workers);
	record("5-create", "fork+waitpid (w+1)", "process", param, "us",
	       measure(run_forks, &nforks));
}

/* ---- child programs ------------------------------------------------------ */

/* Run argv, its stdout and stderr going where ours go. Return its exit
 * status, or -1 when it could not run or died of a signal. */
static int run_child(char *const argv[])
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ))
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Probe an interpreter: 0 when it runs and imports joblib, 1 when it runs
 * without joblib, -1 when it does not run. */
static int python_probe(const char *py)
{
	pid_t pid;
	int st;
	char *argv[] = { (char *)py, (char *)"-c",
			 (char *)"import sys\ntry:\n import joblib\n"
				 "except ImportError:\n sys.exit(3)",
			 NULL };
	posix_spawn_file_actions_t fa;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	st = posix_spawnp(&pid, py, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (st)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) == 0 ? 0 : WEXITSTATUS(st) == 3 ? 1 : -1;
}

/* The interpreter for peers.py: --python, else the first of $PYTHON3
 * (configure's), /usr/bin/python3 (Debian's, where python3-joblib
 * lives), python3 that can import joblib, else the first that runs. */
static const char *pick_python(const char *forced)
{
	const char *env = getenv("PYTHON3");
	const char *cand[3] = { env && *env ? env : NULL, "/usr/bin/python3",
				"python3" };
	const char *first = NULL;

	if (forced)
		return forced;
	for (int i = 0; i < 3; i++) {
		int r = cand[i] ? python_probe(cand[i]) : -1;

		if (r == 0)
			return cand[i];
		if (r == 1 && !first)
			first = cand[i];
	}
	return first;
}

/* Split one CSV line in place (no quoting in our files). */
static int split_csv(char *line, char **f, int max)
{
	int k = 0;
	char *s = line, *e;

	line[strcspn(line, "\r\n")] = 0;
	while (k < max) {
		f[k++] = s;
		e = strchr(s, ',');
		if (!e)
			break;
		*e = 0;
		s = e + 1;
	}
	return k;
}

static int read_peers_csv(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[512], *f[8];
	int rows = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (split_csv(line, f, 8) != 8 || !strcmp(f[0], "scenario"))
			continue;
		add_fig(f[0], f[1], f[2], f[3], f[7], atof(f[4]), atof(f[5]),
			atof(f[6]));
		rows++;
	}
	fclose(fp);
	return rows;
}

/* ring-bench's CSV: columns named in its header (impl, pairs, mode,
 * median..., min, max); Mops/s. */
static int read_ring_csv(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[512], *f[16];
	int col[6] = { -1, -1, -1, -1, -1, -1 }, rows = 0, k;
	static const char *names[6] = { "impl", "pairs", "mode", "median",
					"min", "max" };

	if (!fp)
		return -1;
	if (!fgets(line, sizeof(line), fp)) {
		fclose(fp);
		return -1;
	}
	k = split_csv(line, f, 16);
	for (int i = 0; i < k; i++)
		for (int j = 0; j < 6; j++)
			if (col[j] < 0 && !strncmp(f[i], names[j],
						   strlen(names[j])))
				col[j] = i;
	for (int j = 0; j < 6; j++)
		if (col[j] < 0) {
			fclose(fp);
			return -1;
		}
	while (fgets(line, sizeof(line), fp)) {
		char param[24];
		const char *mode;

		k = split_csv(line, f, 16);
		if (k <= col[0] || k <= col[1] || k <= col[2] || k <= col[3] ||
		    k <= col[4] || k <= col[5])
			continue;
		snprintf(param, sizeof(param), "%sP%sC", f[col[1]],
			 f[col[1]]);
		mode = !strncmp(f[col[2]], "thread", 6) ? "thread" :
		       !strncmp(f[col[2]], "process", 7) ? "process" :
							   f[col[2]];
		add_fig("6-ring", f[col[0]], mode, param, "Mops/s",
			atof(f[col[3]]), atof(f[col[4]]), atof(f[col[5]]));
		rows++;
	}
	fclose(fp);
	return rows;
}

/* ---- report -------------------------------------------------------------- */

static void print_machine(void)
{
	FILE *fp = fopen("/proc/cpuinfo", "r");
	char line[256], model[128] = "unknown";
	struct utsname u;
	cpu_set_t set;
	double load[3] = { 0, 0, 0 };
	time_t t = time(NULL);
	char date[64];

	while (fp && fgets(line, sizeof(line), fp))
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');

			if (c) {
				snprintf(model, sizeof(model), "%s", c + 2);
				model[strcspn(model, "\n")] = 0;
			}
			break;
		}
	if (fp)
		fclose(fp);
	uname(&u);
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	getloadavg(load, 3);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", localtime(&t));
	printf("hpool-bench %s: hpool beside OpenMP and Python's pools\n",
	       g_quick ? "--quick" : "(full)");
	printf("machine: %s; %ld CPUs online, %d allowed; hpool workers %u "
	       "(default: physical cores)\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), CPU_COUNT(&set), g_workers);
	printf("system: %s %s %s; cc %s; OpenMP %d; %s; load average %.2f\n",
	       u.sysname, u.release, u.machine, __VERSION__, _OPENMP, date,
	       load[0]);
	{
		FILE *g = popen("git -C '" BENCH_SRCDIR "/..' describe --always "
				"--dirty 2>/dev/null", "r");
		char rev[64] = "";

		if (g) {
			if (!fgets(rev, sizeof(rev), g))
				rev[0] = 0;
			pclose(g);
		}
		rev[strcspn(rev, "\n")] = 0;
		printf("hpool source: %s\n", rev[0] ? rev : "(not a git tree)");
	}
	printf("each figure: median of %d runs after 1 warm-up [min-max]\n",
	       g_reps);
	if (load[0] > 0.5 * (double)CPU_COUNT(&set))
		printf("WARNING: the machine is busy (load average %.2f on %d "
		       "CPUs): figures are noisy and parallel\n  speedups "
		       "are capped by the other load\n", load[0],
		       CPU_COUNT(&set));
	printf("\n");
}

static const char *scen_title(const char *s)
{
	switch (s[0]) {
	case '1': return "1. empty tasks: cost per item (lower is better)";
	case '2': return "2. submit -> wait round trip (lower is better)";
	case '3': return "3. fine-grained compute: speedup over serial "
			 "(higher is better)";
	case '4': return "4. large inputs, 1 MiB per item";
	case '5': return "5. pool create + destroy (lower is better)";
	default: return "6. ring";
	}
}

static void fmt_num(char *b, size_t sz, double v)
{
	if (v >= 100000)
		snprintf(b, sz, "%.0f", v);
	else if (v >= 100)
		snprintf(b, sz, "%.1f", v);
	else
		snprintf(b, sz, "%.3g", v);
}

static void print_table(void)
{
	static const char *order[] = { "1-empty", "2-roundtrip", "3-compute",
				       "4-large", "5-create" };

	printf("%-11s %-21s %-8s %-18s %10s %10s %10s  %s\n", "scenario",
	       "impl", "mode", "param", "median", "min", "max", "unit");
	for (unsigned s = 0; s < sizeof(order) / sizeof(order[0]); s++) {
		bool title = false;

		for (unsigned i = 0; i < nfigs; i++) {
			const struct fig *f = &figs[i];
			char a[32], b[32], c[32];

			if (strcmp(f->scen, order[s]))
				continue;
			if (!title) {
				printf("-- %s\n", scen_title(f->scen));
				title = true;
			}
			fmt_num(a, sizeof(a), f->med);
			fmt_num(b, sizeof(b), f->min);
			fmt_num(c, sizeof(c), f->max);
			printf("%-11s %-21s %-8s %-18s %10s %10s %10s  %s\n",
			       f->scen, f->impl, f->mode, f->param, a, b, c,
			       f->unit);
		}
	}
}

/* One ratio line: num / den of two figures' medians. `target` > 0 marks
 * a DESIGN.md target (ratio at most target). */
static void ratio(const char *label, const struct fig *num,
		  const struct fig *den, const char *better, double target,
		  FILE *csv)
{
	double r;

	if (!num || !den || den->med == 0) {
		printf("  %-62s %9s\n", label, "n/a");
		return;
	}
	r = num->med / den->med;
	printf(r >= 0.1 ? "  %-62s %8.2fx  %s" : "  %-62s %8.2gx  %s", label, r,
	       better);
	if (target > 0)
		printf("  [target <= %.1fx: %s]", target,
		       r <= target ? "met" : "MISSED");
	printf("\n");
	if (csv)
		fprintf(csv, "\"%s\",%.4f\n", label, r);
}

#define F(s, i, m, p) find_fig(s, i, m, p, NULL)

static void print_ratios(FILE *csv)
{
	static const char *py[] = { "mp.Pool", "mp.dummy.Pool",
				    "ProcessPoolExecutor", "joblib" };
	static const char *pymode[] = { "process", "thread", "process",
					"process" };
	char l[128], p[24];

	if (csv)
		fprintf(csv, "ratio,value\n");
	printf("\nratios (of medians; hpool over a peer unless said)\n");
	printf(" 1. empty tasks, ns/item (< 1: hpool cheaper)\n");
	for (int k = 0; k < 2; k++) {
		const char *c = k ? "chunk=auto" : "chunk=1";
		const struct fig *ht = F("1-empty", "hpool", "thread", c),
				 *hp = F("1-empty", "hpool", "process", c),
				 *om = F("1-empty", "omp-dynamic", "thread", c);

		snprintf(l, sizeof(l), "%s: hpool-process / omp-dynamic", c);
		ratio(l, hp, om, "", 0, csv);
		snprintf(l, sizeof(l), "%s: hpool-thread / omp-dynamic", c);
		ratio(l, ht, om, "", 0, csv);
		snprintf(l, sizeof(l), "%s: hpool-process / hpool-thread", c);
		ratio(l, hp, ht, "", 1.2, csv);
		for (int j = 0; j < 4; j++) {
			snprintf(l, sizeof(l), "%s: hpool-%s / %s", c,
				 pymode[j], py[j]);
			ratio(l, !strcmp(pymode[j], "thread") ? ht : hp,
			      F("1-empty", py[j], pymode[j], c), "", 0, csv);
		}
	}
	printf(" 2. round trip, ns (< 1: hpool faster)\n");
	for (int k = 0; k < 2; k++) {
		const char *c = k ? "cold" : "hot";
		const struct fig *ht = F("2-roundtrip", "hpool", "thread", c),
				 *hp = F("2-roundtrip", "hpool", "process", c);

		snprintf(l, sizeof(l), "%s: hpool-process / hpool-thread", c);
		ratio(l, hp, ht, "", 1.2, csv);
		snprintf(l, sizeof(l), "%s: hpool-process / %s", c,
			 k ? "futex wake of a sleeper" :
			     "cache-line round trip");
		ratio(l, hp, k ? F("2-roundtrip", "futex-wake", "thread",
				   "cold") :
				 F("2-roundtrip", "cacheline-pingpong", "thread",
				   "hot"), "", 0, csv);
		for (int j = 0; j < 4; j++) {
			snprintf(l, sizeof(l), "%s: hpool-%s / %s", c,
				 pymode[j], py[j]);
			ratio(l, !strcmp(pymode[j], "thread") ? ht : hp,
			      F("2-roundtrip", py[j], pymode[j], c), "", 0,
			      csv);
		}
	}
	printf(" 3. compute, speedup (> 1: hpool faster)\n");
	for (int k = 0; k < 3; k++) {
		const struct fig *ht, *hp;

		snprintf(p, sizeof(p), "task=%uus", task_us[k]);
		ht = F("3-compute", "hpool", "thread", p);
		hp = F("3-compute", "hpool", "process", p);
		snprintf(l, sizeof(l), "%s: hpool-process / omp-dynamic-1", p);
		ratio(l, hp, F("3-compute", "omp-dynamic-1", "thread", p), "",
		      0, csv);
		snprintf(l, sizeof(l), "%s: hpool-process / omp-dynamic-C", p);
		ratio(l, hp, F("3-compute", "omp-dynamic-C", "thread", p), "",
		      0, csv);
		snprintf(l, sizeof(l), "%s: hpool-thread / omp-dynamic-1", p);
		ratio(l, ht, F("3-compute", "omp-dynamic-1", "thread", p), "",
		      0, csv);
		/* Time ratio process/thread = speedup thread/process. */
		snprintf(l, sizeof(l), "%s: time hpool-process / hpool-thread",
			 p);
		ratio(l, ht, hp, "", 1.2, csv);
		for (int j = 0; j < 4; j++) {
			snprintf(l, sizeof(l), "%s: hpool-%s / %s", p,
				 pymode[j], py[j]);
			ratio(l, !strcmp(pymode[j], "thread") ? ht : hp,
			      F("3-compute", py[j], pymode[j], p), "", 0, csv);
		}
	}
	printf(" 4. large inputs, GB/s (> 1: first one faster)\n");
	for (int m = 0; m < 2; m++) {
		const char *mn = m ? "process" : "thread";

		snprintf(l, sizeof(l), "hpool-%s: in=shm / in=malloc(copied)",
			 mn);
		ratio(l, find_fig("4-large", "hpool", mn, "in=shm", "GB/s"),
		      find_fig("4-large", "hpool", mn, "in=malloc(copied)",
			       "GB/s"), "", 0, csv);
	}
	ratio("in=shm: hpool-process / serial loop",
	      find_fig("4-large", "hpool", "process", "in=shm", "GB/s"),
	      find_fig("4-large", "serial", "serial", "in=malloc", "GB/s"),
	      "", 0, csv);
	ratio("in=shm: time hpool-process / hpool-thread",
	      find_fig("4-large", "hpool", "process", "in=shm", "ns/item"),
	      find_fig("4-large", "hpool", "thread", "in=shm", "ns/item"), "",
	      1.2, csv);
	printf(" 5. create + destroy, us (> 1: hpool costs more than the "
	       "bare starts)\n");
	snprintf(p, sizeof(p), "workers=%u", g_workers);
	ratio("process: hpool create+destroy / fork+waitpid (w+1)",
	      F("5-create", "hpool create+destroy", "process", p),
	      F("5-create", "fork+waitpid (w+1)", "process", p), "", 0, csv);
	ratio("thread: hpool create+destroy / pthread_create+join",
	      F("5-create", "hpool create+destroy", "thread", p),
	      F("5-create", "pthread_create+join", "thread", p), "", 0, csv);
}

static void print_notes(bool have_py, const char *py, const char *pnotes)
{
	FILE *fp;
	char line[512];

	printf("\nnotes:\n");
	if (strchr(g_only, '1'))
		printf("- 1: n = %zu items of 8 bytes in, 8 out (task: *out = *in, "
		       "called through a pointer in every\n  loop). hpool: hpool_map "
		       "with opts.chunk; chunk=auto is hpool's guided chunking.\n"
		       "  omp-dynamic: schedule(dynamic,chunk), %u threads; for "
		       "chunk=auto it uses C = %zu, the first\n  chunk hpool's "
		       "automatic mode takes (min(ceil(n/(4*workers)), 64 KiB / 24 "
		       "B)); hpool's chunks\n  then shrink (guided), OpenMP's "
		       "stay.\n", s1_n, g_workers, s1_omp_auto);
	if (strchr(g_only, '2'))
		printf("- 2: hot: %u submit+wait pairs back to back per run; cold: "
		       "one pair after the pool slept %d ms\n  (workers spin ~20 us, "
		       "then sleep on a futex). cacheline-pingpong: two threads "
		       "bounce one\n  cache line, the floor of any hand-off. "
		       "futex-wake: FUTEX_WAKE a thread asleep %d ms, spin until it\n"
		       "  answers: the floor of the cold case.\n",
		       s2_hot_k, COLD_MS, COLD_MS);
	if (strchr(g_only, '3'))
		printf("- 3: spin loop of xorshift + a floating-point multiply-add, "
		       "calibrated at %.0f iterations/us;\n  tasks: 1 us x %zu, "
		       "10 us x %zu, 100 us x %zu (same total). hpool: automatic "
		       "chunks.\n  omp-dynamic-C: C = %zu, %zu, %zu (hpool's first "
		       "automatic chunk). Each parallel run is paired\n  with a "
		       "serial run just before it; speedup = serial / parallel of "
		       "a pair, median [min-max]\n  over the pairs; the serial row: "
		       "all those serial runs.\n", g_iters_per_us,
		       s3_n[0], s3_n[1], s3_n[2], s3_omp_auto[0], s3_omp_auto[1],
		       s3_omp_auto[2]);
	if (strchr(g_only, '4'))
		printf("- 4: %zu items of 1 MiB, task sums the item's 64-bit words. "
		       "in=malloc(copied): plain memory,\n  which hpool_map copies "
		       "into the shared region (in the caller's thread) in every "
		       "mode;\n  in=shm: hpool_shm_alloc memory, used in place. "
		       "Automatic chunks (1 item per chunk).\n", s4_n);
	if (strchr(g_only, '5'))
		printf("- 5: pool with the default workers (%u). Process mode forks a "
		       "supervisor, which forks the workers:\n  the baseline forks "
		       "w+1 trivial children from the caller and waits for them.\n",
		       g_workers);
	if (have_py) {
		printf("- Python peers (bench/peers.py): %u workers, each pool "
		       "made once and warmed up; n and the\n  spin calibration "
		       "are their own (Python is slower per operation):\n",
		       g_workers);
		fp = fopen(pnotes, "r");
		while (fp && fgets(line, sizeof(line), fp))
			printf("  %s", line);
		if (fp)
			fclose(fp);
	} else {
		printf("- Python peers: not run.\n");
	}
	printf("- oneTBB parallel_for: skipped (libtbb-dev is not "
	       "installed).\n");
}

static int write_csv(const char *path)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		return -1;
	fprintf(fp, "scenario,impl,mode,param,median,min,max,unit\n");
	for (unsigned i = 0; i < nfigs; i++) {
		const struct fig *f = &figs[i];

		fprintf(fp, "%s,%s,%s,%s,%.6g,%.6g,%.6g,%s\n", f->scen,
			f->impl, f->mode, f->param, f->med, f->min, f->max,
			f->unit);
	}
	return fclose(fp);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: hpool-bench [--quick] [--reps N] [--out DIR] "
		"[--only LIST]\n"
		"                   [--no-python] [--python PATH] [--no-ring] "
		"[--no-plot]\n"
		"  --quick        smaller inputs (the `make bench` suite, under "
		"a minute)\n"
		"  --reps N       runs per figure after the warm-up (at least "
		"5; default 5 quick,\n"
		"                 7 full)\n"
		"  --out DIR      CSV and PNG go to DIR (default %s)\n"
		"  --only LIST    scenarios to run, e.g. 1,3 (default "
		"1,2,3,4,5,6)\n"
		"  --no-python    skip bench/peers.py\n"
		"  --python PATH  interpreter for peers.py (default: the first of "
		"$PYTHON3,\n"
		"                 /usr/bin/python3, python3 that imports "
		"joblib)\n"
		"  --no-ring      skip ./bench/ring-bench\n"
		"  --no-plot      skip gnuplot ($GNUPLOT or gnuplot)\n",
		BENCH_OUTDIR);
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (!s)
		die("malloc", 0);
	snprintf(s, n, "%s/%s", a, b);
	return s;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *s = buf + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			mkdir(buf, 0777);
			*s = '/';
		}
	return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *out_dir = BENCH_OUTDIR, *forced_py = NULL;
	const char *only = g_only;
	bool no_py = false, no_ring = false, no_plot = false, have_py = false;
	char self[PATH_MAX], bindir[PATH_MAX];
	const char *py = NULL;
	char *peers_notes;
	hpool *pools[2];
	int64_t t_start = g_t0 = now_ns();
	char reps_s[16], workers_s[16];

	g_reps = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			g_quick = true;
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			g_reps = atoi(argv[++i]);
			if (g_reps < 5 || g_reps > MAX_REPS) {
				fprintf(stderr, "hpool-bench: --reps: 5 to "
					"%d\n", MAX_REPS);
				return 2;
			}
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			out_dir = argv[++i];
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = g_only = argv[++i];
		} else if (!strcmp(argv[i], "--python") && i + 1 < argc) {
			forced_py = argv[++i];
		} else if (!strcmp(argv[i], "--no-python")) {
			no_py = true;
		} else if (!strcmp(argv[i], "--no-ring")) {
			no_ring = true;
		} else if (!strcmp(argv[i], "--no-plot")) {
			no_plot = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!g_reps)
		g_reps = g_quick ? 5 : 7;
	/* Line-buffered even into a pipe: the table and the children's
	 * output stay in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Pools first, before any OpenMP region has started threads. */
	pools[0] = make_pool(HPOOL_MODE_THREAD, (size_t)512 << 20);
	pools[1] = make_pool(HPOOL_MODE_PROCESS, (size_t)512 << 20);
	g_workers = hpool_workers(pools[0]);
	if (g_workers > HPOOL_BENCH_MAXW - 1)
		g_workers = HPOOL_BENCH_MAXW - 1;
	print_machine();

	if (strchr(only, '1'))
		scenario1(pools);
	if (strchr(only, '2'))
		scenario2(pools);
	if (strchr(only, '3'))
		scenario3(pools);
	if (strchr(only, '4'))
		scenario4(pools);
	hpool_destroy(pools[0]);
	hpool_destroy(pools[1]);
	if (strchr(only, '5'))
		scenario5();

	if (mkdir_p(out_dir))
		fprintf(stderr, "hpool-bench: cannot make %s: %s\n", out_dir,
			strerror(errno));
	{
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		char *slash;

		self[k > 0 ? k : 0] = 0;
		snprintf(bindir, sizeof(bindir), "%s", self);
		slash = strrchr(bindir, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(bindir, sizeof(bindir), ".");
	}
	peers_notes = path_join(out_dir, ".peers-notes.txt");
	snprintf(reps_s, sizeof(reps_s), "%d", g_reps);
	snprintf(workers_s, sizeof(workers_s), "%u", g_workers);

	/* Python peers of 1, 2 and 3. */
	if (!no_py && (strchr(only, '1') || strchr(only, '2') ||
		       strchr(only, '3'))) {
		char *script = path_join(BENCH_SRCDIR, "peers.py");
		char *csv = path_join(out_dir, ".peers.csv");
		char sc[8];

		size_t nsc = 0;

		for (const char *s = "123"; *s; s++)
			if (strchr(only, *s))
				sc[nsc++] = *s;
		sc[nsc] = 0;
		py = pick_python(forced_py);
		if (!py) {
			fprintf(stderr, "hpool-bench: no python3 found; "
				"Python peers skipped\n");
		} else {
			char *av[] = { (char *)py, script, "--csv", csv,
				       "--notes", peers_notes,
				       "--no-table", "--reps", reps_s,
				       "--workers", workers_s, "--only", sc,
				       g_quick ? "--quick" : NULL, NULL };

			progress("Python peers: %s %s", py, script);
			if (run_child(av) == 0 && read_peers_csv(csv) > 0)
				have_py = true;
			else
				fprintf(stderr, "hpool-bench: %s failed; "
					"Python peers left out\n", script);
			unlink(csv);
		}
		free(script);
		free(csv);
	}

	print_table();
	{
		char *rpath = path_join(out_dir, "ratios.csv");
		FILE *rcsv = fopen(rpath, "w");

		print_ratios(rcsv);
		if (rcsv)
			fclose(rcsv);
		free(rpath);
	}
	print_notes(have_py, py, peers_notes);
	unlink(peers_notes);
	free(peers_notes);

	/* 6: the ring benchmark prints its own table. */
	if (!no_ring && strchr(only, '6')) {
		char *rb = path_join(bindir, "ring-bench");
		char *csv = path_join(out_dir, ".ring.csv");
		char *av[] = { rb, "--csv", csv, g_quick ? "--quick" : NULL,
			       NULL };

		printf("\n-- 6. ring benchmark (%s%s)\n", rb,
		       g_quick ? " --quick" : "");
		if (access(rb, X_OK) || run_child(av) != 0 ||
		    read_ring_csv(csv) <= 0)
			printf("ring-bench did not run or failed; its rows "
			       "are not in the CSV\n");
		unlink(csv);
		free(rb);
	}

	{
		char *csv = path_join(out_dir, "latest.csv");

		if (write_csv(csv))
			fprintf(stderr, "hpool-bench: cannot write %s: %s\n",
				csv, strerror(errno));
		else
			printf("\nCSV: %s (scenario,impl,mode,param,median,"
			       "min,max,unit); ratios: %s/ratios.csv\n", csv,
			       out_dir);
		if (!no_plot) {
			const char *gp = getenv("GNUPLOT");
			char *script = path_join(BENCH_SRCDIR, "plot.gp");
			char expr[2 * PATH_MAX + 64];
			char *av[] = { (char *)(gp && *gp ? gp : "gnuplot"),
				       "-e", expr, script, NULL };

			snprintf(expr, sizeof(expr),
				 "csv='%s'; outdir='%s'", csv, out_dir);
			if (run_child(av) == 0)
				printf("plots: %s/chunk.png, %s/speedup.png\n",
				       out_dir, out_dir);
			else
				fprintf(stderr, "hpool-bench: gnuplot failed; "
					"no plots\n");
			free(script);
		}
		free(csv);
	}
	{
		double load[3] = { 0, 0, 0 };

		getloadavg(load, 3);
		printf("whole run %.1f s; load average at the end %.2f\n",
		       (double)(now_ns() - t_start) / 1e9, load[0]);
	}
	return 0;
}
