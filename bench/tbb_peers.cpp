/*
 * tbb-peers: oneTBB beside hpool in hpool-bench (scenarios 1 and 8).
 *
 * A separate program, not linked into hpool-bench: TBB's worker threads
 * stay out of the process whose pools are measured, and hpool-bench needs
 * no C++ runtime. hpool-bench runs it (when configure found oneTBB) and
 * merges its CSV rows (scenario,impl,mode,param,median,min,max,unit), as
 * it does with bench/peers.py. It can also run alone:
 *
 *     ./bench/tbb-peers --empty 100000 --nested 27,20 --workers 2
 *
 * (--csv PATH writes the rows there; --no-table prints nothing.)
 *
 *   --empty N   1 empty tasks: parallel_for over N items whose task copies
 *               8 bytes (called through a pointer, as in hpool-bench):
 *               ns per item with simple_partitioner and grain 1 (every
 *               item its own task: the peer of chunk 1) and with the
 *               default auto_partitioner (the peer of automatic chunks).
 *   --nested N,CUT
 *               8 nested tasks: fib(N) by task_group, each task running
 *               fib(n-1) and fib(n-2) as two tasks and waiting for both;
 *               below CUT it computes serially. Speedup over the serial
 *               function, measured in pairs (serial run, then parallel).
 *
 * Every figure as hpool-bench takes its own: warm-up runs for 50 ms, then
 * the median of at least --reps runs, and of more (101 at most) while they
 * take under 200 ms, with min and max. --workers caps TBB's threads
 * (global_control), as hpool-bench gives OpenMP the same count as hpool's
 * workers.
 */
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

typedef int (*task_fn)(void *out, const void *in, const void *ctx);

int task_copy(void *out, const void *in, const void *)
{
	*static_cast<long *>(out) = *static_cast<const long *>(in);
	return 0;
}

/* Through a volatile pointer, as hpool-bench calls its tasks: no loop
 * gets an inlined body that the others lack. */
task_fn volatile p_copy = task_copy;

double now_ns()
{
	return std::chrono::duration<double, std::nano>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

struct stat3 {
	double med, min, max;
};

stat3 summarize(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	size_t k = v.size();
	return { k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2, v.front(),
		 v.back() };
}

int g_reps = 5;

/* hpool-bench's WARM_MS, RUN_MS and MAX_REPS. */
void warm_up(const std::function<void()> &run)
{
	auto t0 = std::chrono::steady_clock::now();

	do
		run();
	while (std::chrono::steady_clock::now() - t0 <
	       std::chrono::milliseconds(50));
}

bool more_runs(size_t r, std::chrono::steady_clock::time_point t0)
{
	return r < (size_t)g_reps ||
	       (r < 101 && std::chrono::steady_clock::now() - t0 <
				   std::chrono::milliseconds(200));
}

stat3 measure(const std::function<double()> &run)
{
	std::vector<double> v;

	warm_up([&] { run(); });
	for (auto t0 = std::chrono::steady_clock::now(); more_runs(v.size(), t0);)
		v.push_back(run());
	return summarize(v);
}

/* Pairs: serial then parallel; the figure is serial / parallel. */
stat3 measure_speedup(const std::function<double()> &serial,
		      const std::function<double()> &par)
{
	std::vector<double> v;

	warm_up([&] {
		serial();
		par();
	});
	for (auto t0 = std::chrono::steady_clock::now();
	     more_runs(v.size(), t0);) {
		double s = serial();

		v.push_back(s / par());
	}
	return summarize(v);
}

FILE *g_csv;
bool g_table = true;

void row(const char *scen, const char *impl, const char *param,
	 const char *unit, stat3 s)
{
	if (g_table)
		std::printf("%-11s %-21s %-8s %-18s %10.3g %10.3g %10.3g  "
			    "%s\n", scen, impl, "thread", param, s.med,
			    s.min, s.max, unit);
	if (g_csv)
		std::fprintf(g_csv, "%s,%s,thread,%s,%.6g,%.6g,%.6g,%s\n",
			     scen, impl, param, s.med, s.min, s.max, unit);
}

void check_copy(const std::vector<long> &out, const char *who)
{
	for (size_t i = 0; i < out.size(); i++)
		if (out[i] != (long)i) {
			std::fprintf(stderr, "tbb-peers: %s: out[%zu] = %ld\n",
				     who, i, out[i]);
			std::exit(1);
		}
}

void empty_items(size_t n)
{
	std::vector<long> in(n), out(n);

	for (size_t i = 0; i < n; i++)
		in[i] = (long)i;
	auto body = [&](const oneapi::tbb::blocked_range<size_t> &r) {
		task_fn fn = p_copy;

		for (size_t i = r.begin(); i != r.end(); i++)
			fn(&out[i], &in[i], nullptr);
	};
	auto simple = [&]() {
		double t0 = now_ns();

		oneapi::tbb::parallel_for(
			oneapi::tbb::blocked_range<size_t>(0, n, 1), body,
			oneapi::tbb::simple_partitioner());
		return (now_ns() - t0) / (double)n;
	};
	auto autop = [&]() {
		double t0 = now_ns();

		oneapi::tbb::parallel_for(
			oneapi::tbb::blocked_range<size_t>(0, n), body,
			oneapi::tbb::auto_partitioner());
		return (now_ns() - t0) / (double)n;
	};

	std::fill(out.begin(), out.end(), -1);
	row("1-empty", "tbb-simple-1", "chunk=1", "ns/item", measure(simple));
	check_copy(out, "simple_partitioner");
	std::fill(out.begin(), out.end(), -1);
	row("1-empty", "tbb-auto", "chunk=auto", "ns/item", measure(autop));
	check_copy(out, "auto_partitioner");
}

/* The same leaf as hpool-bench's fib_serial. */
long fib_serial(int n)
{
	return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

long fib_tg(int n, int cutoff)
{
	long a, b;
	oneapi::tbb::task_group g;

	if (n < cutoff)
		return fib_serial(n);
	g.run([&] { a = fib_tg(n - 1, cutoff); });
	g.run([&] { b = fib_tg(n - 2, cutoff); });
	g.wait();
	return a + b;
}

void nested(int n, int cutoff)
{
	long want = fib_serial(n);
	char param[32];
	auto serial = [&]() {
		double t0 = now_ns();
		long r = fib_serial(n);

		if (r != want)
			std::exit(1);
		return now_ns() - t0;
	};
	auto par = [&]() {
		double t0 = now_ns();
		long r = fib_tg(n, cutoff);

		if (r != want) {
			std::fprintf(stderr, "tbb-peers: fib(%d) = %ld, "
				     "want %ld\n", n, r, want);
			std::exit(1);
		}
		return now_ns() - t0;
	};

	std::snprintf(param, sizeof(param), "fib=%d/cut=%d", n, cutoff);
	row("8-nested", "tbb-task_group", param, "x",
	    measure_speedup(serial, par));
}

void usage(FILE *fp)
{
	std::fprintf(fp, "usage: tbb-peers [--empty N] [--nested N,CUTOFF] "
		     "[--workers W] [--reps R] [--csv PATH] [--no-table]\n");
}

} // namespace

int main(int argc, char **argv)
{
	size_t empty_n = 0;
	int fib_n = 0, fib_cut = 0, workers = 0;

	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];

		if (a == "--empty" && i + 1 < argc) {
			empty_n = std::strtoul(argv[++i], nullptr, 10);
		} else if (a == "--nested" && i + 1 < argc) {
			if (std::sscanf(argv[++i], "%d,%d", &fib_n,
					&fib_cut) != 2 || fib_n < 1 ||
			    fib_cut < 2) {
				usage(stderr);
				return 2;
			}
		} else if (a == "--workers" && i + 1 < argc) {
			workers = std::atoi(argv[++i]);
		} else if (a == "--reps" && i + 1 < argc) {
			g_reps = std::atoi(argv[++i]);
		} else if (a == "--csv" && i + 1 < argc) {
			g_csv = std::fopen(argv[++i], "w");
			if (!g_csv) {
				std::perror(argv[i]);
				return 1;
			}
		} else if (a == "--no-table") {
			g_table = false;
		} else if (a == "--help" || a == "-h") {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (g_reps < 1)
		g_reps = 5;
	if (workers < 1)
		workers = (int)oneapi::tbb::info::default_concurrency();
	oneapi::tbb::global_control gc(
		oneapi::tbb::global_control::max_allowed_parallelism,
		(size_t)workers);

	if (g_table)
		std::printf("tbb-peers: oneTBB %s, %d threads, median of %d "
			    "runs after 1 warm-up\n", TBB_runtime_version(),
			    workers, g_reps);
	if (g_csv)
		std::fprintf(g_csv,
			     "scenario,impl,mode,param,median,min,max,unit\n");
	if (empty_n)
		empty_items(empty_n);
	if (fib_n)
		nested(fib_n, fib_cut);
	if (g_csv && std::fclose(g_csv))
		return 1;
	return 0;
}
