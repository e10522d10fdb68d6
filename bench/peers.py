#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python peers of hpool-bench: scenarios 1, 2, 3 and 7 with Python 3's pools.

Prints the same table format as bench/hpool-bench and writes the same CSV
columns (scenario,impl,mode,param,median,min,max,unit). hpool-bench runs it
(unless --no-python) and merges its rows; it can also run alone:

    python3 bench/peers.py --quick
    python3 bench/peers.py --csv peers.csv --workers 2

Peers: multiprocessing.Pool (processes), multiprocessing.dummy.Pool
(threads), concurrent.futures.ProcessPoolExecutor and joblib (loky
backend, processes), each made once per scenario with --workers workers
and warmed up before the timed runs. Every figure: one warm-up run, then
the median of --reps runs with min and max.

  1 empty   map of n tasks that return their argument: ns per item, with
            chunk 1 and automatic chunks (Pool.map's own default,
            ceil(n / (4 * workers)); the same for ProcessPoolExecutor,
            whose default would be 1; joblib batch_size='auto').
  2 round   one task, submit then wait for its result: back to back (hot)
            and after the pool slept 50 ms (cold).
  3 compute tasks of about 1, 10 and 100 us of Python arithmetic (a spin
            loop calibrated here, in Python): speedup over a serial loop,
            automatic chunks.
  7 skew    1 sleep of LONG then N-1 sleeps of SHORT (--skew; default 1 s
            and 10 ms, quick 0.3 s and 3 ms, 100 tasks, 2 workers): wall
            time / ideal, ideal = max(longest, total / workers). One task
            per call: ProcessPoolExecutor.submit, Pool.apply_async,
            Pool.imap_unordered(chunksize=1), ThreadPoolExecutor.submit;
            each waits for all results.
"""
import argparse
import concurrent.futures as cf
import math
import multiprocessing as mp
import multiprocessing.dummy as mpd
import os
import platform
import statistics
import sys
import time

try:
    import joblib
except ImportError:  # reported, the other peers still run
    joblib = None

COLD_S = 0.050
TASK_US = (1, 10, 100)
_now = time.perf_counter_ns


def empty(x):
    return x


def spin(k):
    x = 1
    for i in range(k):
        x = (x * 1103515245 + 12345 + i) & 0xFFFFFFFF
    return x


def spin_task(args):
    return spin(args)


class Bench:
    def __init__(self, args):
        self.reps = args.reps
        self.quick = args.quick
        self.w = args.workers
        self.rows = []

    def measure(self, fn):
        """One warm-up, then self.reps runs; fn returns one run's figure."""
        fn()
        v = sorted(fn() for _ in range(self.reps))
        return statistics.median(v), v[0], v[-1]

    def add(self, scen, impl, mode, param, unit, stat):
        self.rows.append((scen, impl, mode, param, stat[0], stat[1],
                          stat[2], unit))

    def measure_speedup(self, serial, par, ser):
        """Pairs: each run of par follows a run of serial; the figure is
        serial / par of a pair, so load that comes and goes hits both."""
        serial()
        par()
        v = []
        for _ in range(self.reps):
            s = serial()
            v.append(s / par())
            ser.append(s)
        v.sort()
        return statistics.median(v), v[0], v[-1]


def progress(msg):
    print("peers.py: " + msg, file=sys.stderr, flush=True)


def auto_chunk(n, w):
    c, extra = divmod(n, 4 * w)
    return c + 1 if extra else max(c, 1)


# ---- the pools, behind one small interface --------------------------------

class MpPool:
    name, mode = "mp.Pool", "process"

    def __init__(self, w):
        self.p = mp.Pool(w)

    def map(self, f, xs, chunk):
        return self.p.map(f, xs, chunksize=chunk)

    def call(self, f, x):
        return self.p.apply_async(f, (x,)).get()

    def close(self):
        self.p.close()
        self.p.join()


class DummyPool(MpPool):
    name, mode = "mp.dummy.Pool", "thread"

    def __init__(self, w):
        self.p = mpd.Pool(w)


class PPE:
    name, mode = "ProcessPoolExecutor", "process"

    def __init__(self, w):
        self.p = cf.ProcessPoolExecutor(w)

    def map(self, f, xs, chunk):
        return list(self.p.map(f, xs, chunksize=chunk))

    def call(self, f, x):
        return self.p.submit(f, x).result()

    def close(self):
        self.p.shutdown()


class Joblib:
    name, mode = "joblib", "process"

    def __init__(self, w):
        self.w = w
        self.par = {}

    def _par(self, batch):
        if batch not in self.par:
            p = joblib.Parallel(n_jobs=self.w, batch_size=batch)
            p.__enter__()  # keeps its workers between calls
            self.par[batch] = p
        return self.par[batch]

    def map(self, f, xs, chunk):
        d = joblib.delayed(f)
        return self._par(1 if chunk == 1 else "auto")(d(x) for x in xs)

    def call(self, f, x):
        return self._par(1)([joblib.delayed(f)(x)])[0]

    def close(self):
        for p in self.par.values():
            p.__exit__(None, None, None)


def pools():
    kinds = [MpPool, DummyPool, PPE]
    if joblib is not None:
        kinds.append(Joblib)
    return kinds


# ---- scenarios -------------------------------------------------------------

# Items per run: (chunk 1, automatic) by pool, quick and full.
S1_N = {
    "mp.Pool": ((500, 20000), (5000, 200000)),
    "mp.dummy.Pool": ((500, 20000), (5000, 200000)),
    "ProcessPoolExecutor": ((200, 20000), (2000, 200000)),
    "joblib": ((100, 5000), (1000, 50000)),
}


def scenario1(b):
    n_serial = 20000 if b.quick else 200000
    xs = list(range(n_serial))

    def serial():
        t0 = _now()
        for x in xs:
            empty(x)
        return (_now() - t0) / n_serial

    progress("1 empty tasks: serial loop")
    b.add("1-empty", "python-serial", "serial", "chunk=-", "ns/item",
          b.measure(serial))
    for kind in pools():
        p = kind(b.w)
        try:
            for k, param in enumerate(("chunk=1", "chunk=auto")):
                n = S1_N[kind.name][0 if b.quick else 1][k]
                items = list(range(n))
                chunk = 1 if k == 0 else auto_chunk(n, b.w)

                def run(p=p, items=items, chunk=chunk, n=n):
                    t0 = _now()
                    r = p.map(empty, items, chunk)
                    dt = _now() - t0
                    if len(r) != n or r[-1] != n - 1:
                        sys.exit("peers.py: %s returned a wrong result"
                                 % kind.name)
                    return dt / n

                progress("1 empty tasks: %s, %s, n = %d"
                         % (kind.name, param, n))
                b.add("1-empty", kind.name, kind.mode, param, "ns/item",
                      b.measure(run))
            # The streams, beside hpool_imap's rows: Pool.imap and
            # imap_unordered, the automatic row's items and chunksize.
            if kind not in (MpPool, DummyPool):
                continue
            n = S1_N[kind.name][0 if b.quick else 1][1]
            items = list(range(n))
            for param, imap in (("imap-ordered", p.p.imap),
                                ("imap-unord", p.p.imap_unordered)):
                def stream(imap=imap, items=items, n=n):
                    t0 = _now()
                    total = sum(imap(empty, items, auto_chunk(n, b.w)))
                    dt = _now() - t0
                    if total != n * (n - 1) // 2:
                        sys.exit("peers.py: %s %s returned a wrong result"
                                 % (kind.name, param))
                    return dt / n

                progress("1 empty tasks: %s, %s, n = %d"
                         % (kind.name, param, n))
                b.add("1-empty", kind.name, kind.mode, param, "ns/item",
                      b.measure(stream))
        finally:
            p.close()


def scenario2(b):
    hot_k = 50 if b.quick else 500
    for kind in pools():
        p = kind(b.w)
        try:
            def hot(p=p):
                t0 = _now()
                for i in range(hot_k):
                    if p.call(empty, i) != i:
                        sys.exit("peers.py: wrong round trip result")
                return (_now() - t0) / hot_k

            def cold(p=p):
                time.sleep(COLD_S)
                t0 = _now()
                p.call(empty, 7)
                return _now() - t0

            progress("2 round trip: %s, hot and cold" % kind.name)
            b.add("2-roundtrip", kind.name, kind.mode, "hot", "ns",
                  b.measure(hot))
            b.add("2-roundtrip", kind.name, kind.mode, "cold", "ns",
                  b.measure(cold))
        finally:
            p.close()


def calibrate():
    k = 20000  # ~1-2 ms: short runs, the best of many, dodge preemption
    best = min(_timed(spin, k) for _ in range(15))
    return k / (best / 1000.0)  # iterations per us


def _timed(f, arg):
    t0 = _now()
    f(arg)
    return _now() - t0


def scenario3(b):
    per_us = calibrate()
    total_us = 20000 if b.quick else 200000
    b.notes.append("3: Python spin loop calibrated at %.1f iterations/us; "
                   "%d us of serial work per run; each parallel run is "
                   "paired with a serial run" % (per_us, total_us))
    work = {}
    ser = {}
    for us in TASK_US:
        work[us] = [max(1, round(per_us * us))] * (total_us // us)
        ser[us] = []

    def serial_of(items):
        def run():
            t0 = _now()
            for x in items:
                spin_task(x)
            return _now() - t0
        return run

    for kind in pools():
        p = kind(b.w)
        try:
            for us in TASK_US:
                items = work[us]
                chunk = auto_chunk(len(items), b.w)

                def run(p=p, items=items, chunk=chunk):
                    t0 = _now()
                    p.map(spin_task, items, chunk)
                    return _now() - t0

                progress("3 compute: task=%dus x %d, serial and %s"
                         % (us, len(items), kind.name))
                b.add("3-compute", kind.name, kind.mode, "task=%dus" % us,
                      "x", b.measure_speedup(serial_of(items), run,
                                             ser[us]))
        finally:
            p.close()
    for us in TASK_US:
        v = sorted(ser[us])
        b.add("3-compute", "python-serial", "serial", "task=%dus" % us,
              "ms", (statistics.median(v) / 1e6, v[0] / 1e6, v[-1] / 1e6))


def sleep_task(s):
    time.sleep(s)
    return s


def scenario7(b, long_us, short_us, n, w):
    """Skew: does a long task hold up the short ones issued after it?"""
    durs = [long_us / 1e6] + [short_us / 1e6] * (n - 1)
    ideal = max(max(durs), sum(durs) / w)
    param = "long=%dms" % (long_us // 1000)

    def submit_all(submit):
        def run():
            t0 = _now()
            futs = [submit(d) for d in durs]
            for f, d in zip(futs, durs):
                if f() != d:
                    sys.exit("peers.py: skew: wrong result")
            return (_now() - t0) / 1e9 / ideal
        return run

    ppe = cf.ProcessPoolExecutor(w)
    try:
        progress("7 skew: ProcessPoolExecutor, %d tasks" % n)
        b.add("7-skew", "ProcessPoolExecutor", "process", param, "x",
              b.measure(submit_all(
                  lambda d: ppe.submit(sleep_task, d).result)))
    finally:
        ppe.shutdown()
    pool = mp.Pool(w)
    try:
        progress("7 skew: mp.Pool apply_async and imap_unordered, "
                 "%d tasks" % n)
        b.add("7-skew", "mp.Pool.apply_async", "process", param, "x",
              b.measure(submit_all(
                  lambda d: pool.apply_async(sleep_task, (d,)).get)))

        def imap():
            t0 = _now()
            got = sorted(pool.imap_unordered(sleep_task, durs, chunksize=1))
            if got != sorted(durs):
                sys.exit("peers.py: skew: wrong imap_unordered result")
            return (_now() - t0) / 1e9 / ideal

        b.add("7-skew", "mp.Pool.imap_unord-1", "process", param, "x",
              b.measure(imap))
    finally:
        pool.close()
        pool.join()
    tpe = cf.ThreadPoolExecutor(w)
    try:
        progress("7 skew: ThreadPoolExecutor, %d tasks" % n)
        b.add("7-skew", "ThreadPoolExecutor", "thread", param, "x",
              b.measure(submit_all(
                  lambda d: tpe.submit(sleep_task, d).result)))
    finally:
        tpe.shutdown()
    b.notes.append("7: %d sleeps, %g ms then %g ms, %d workers; ideal "
                   "%.0f ms" % (n, long_us / 1e3, short_us / 1e3, w,
                                ideal * 1e3))


# ---- output ----------------------------------------------------------------

def fmt(v):
    if v >= 100000:
        return "%.0f" % v
    if v >= 100:
        return "%.1f" % v
    return "%.3g" % v


def print_table(rows):
    print("%-11s %-21s %-8s %-18s %10s %10s %10s  %s" % (
        "scenario", "impl", "mode", "param", "median", "min", "max", "unit"))
    for r in rows:
        print("%-11s %-21s %-8s %-18s %10s %10s %10s  %s" % (
            r[0], r[1], r[2], r[3], fmt(r[4]), fmt(r[5]), fmt(r[6]), r[7]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller inputs (the make bench suite)")
    ap.add_argument("--reps", type=int, default=0,
                    help="runs per figure after the warm-up (>= 5)")
    ap.add_argument("--workers", type=int, default=0,
                    help="pool size (default: os.cpu_count())")
    ap.add_argument("--csv", help="write the rows to this CSV file")
    ap.add_argument("--only", default="1237", help="scenarios, e.g. 13")
    ap.add_argument("--skew", metavar="LONG_US,SHORT_US,N,WORKERS",
                    help="scenario 7's tasks (default 1000000,10000,100,2; "
                    "quick 300000,3000,100,2)")
    ap.add_argument("--no-table", action="store_true",
                    help="print no table (hpool-bench prints the rows)")
    ap.add_argument("--notes", help="write the notes to this file instead "
                    "of printing them")
    args = ap.parse_args()
    if not args.reps:
        args.reps = 5 if args.quick else 7
    if args.reps < 5:
        ap.error("--reps: at least 5")
    if not args.workers:
        args.workers = os.cpu_count() or 1
    b = Bench(args)
    b.notes = []
    t0 = time.time()
    if "1" in args.only:
        scenario1(b)
    if "2" in args.only:
        scenario2(b)
    if "3" in args.only:
        scenario3(b)
    if "7" in args.only:
        if args.skew:
            try:
                sk = [int(x) for x in args.skew.split(",")]
                if len(sk) != 4 or min(sk) < 1:
                    raise ValueError
            except ValueError:
                ap.error("--skew: LONG_US,SHORT_US,N,WORKERS, all > 0")
        else:
            sk = [300000, 3000, 100, 2] if args.quick else \
                 [1000000, 10000, 100, 2]
        scenario7(b, *sk)
    where = "Python %s (%s), start method %s, joblib %s" % (
        platform.python_version(), sys.executable,
        mp.get_start_method(),
        joblib.__version__ if joblib else "missing (not importable)")
    if not args.no_table:
        print("peers.py: %s; %d workers; median of %d runs after 1 warm-up"
              % (where, args.workers, args.reps))
        print_table(b.rows)
    notes = ["peers: " + where] + b.notes
    if "1" in args.only:
        notes.append("1: n per run: " + "; ".join(
            "%s %d (chunk 1) / %d (auto)" % ((k,) + v[0 if args.quick else 1])
            for k, v in S1_N.items()))
    notes.append("peers.py ran %.1f s" % (time.time() - t0))
    if args.notes:
        with open(args.notes, "w") as f:
            for n in notes:
                f.write("- %s\n" % n)
    else:
        for n in notes:
            print("- " + n)
    sys.stdout.flush()
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("scenario,impl,mode,param,median,min,max,unit\n")
            for r in b.rows:
                f.write("%s,%s,%s,%s,%.6g,%.6g,%.6g,%s\n" % r)


if __name__ == "__main__":
    main()
