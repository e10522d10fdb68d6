# SPDX-License-Identifier: MIT
"""mpi4py's MPIPoolExecutor, the peer of hpool's MPI backend (issue 11).

Run by bench/mpi-bench.sh as
    mpirun -n 3 python3 -m mpi4py.futures bench/mpi4py_peer.py
(rank 0 runs this, the other ranks serve). Prints CSV rows in
hpool-bench's format: the same scenarios as bench/mpi_bench.c
(1-empty at chunksize 1 over 2,000 items, the same per-item cost as over
more, and "auto" = n / (4 * workers) over 20,000 and 2,000,000 items as
hpool's rows; 7-skew).
"""
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

REPS = 5


def copy(x):
    return x


def sleep_us(us):
    time.sleep(us / 1e6)
    return us


def row(scen, param, v, unit):
    v = sorted(v)
    print("%s,mpi4py-MPIPoolExecutor,mpi,%s,%g,%g,%g,%s"
          % (scen, param, v[len(v) // 2], v[0], v[-1], unit), flush=True)


def main():
    with MPIPoolExecutor() as ex:
        workers = MPI.COMM_WORLD.Get_size() - 1  # ranks > 0 serve
        # As many items as bench/mpi_bench.c (N_EMPTY, N_LARGE): a peer
        # given fewer items pays its round trips over fewer of them.
        for label, n, chunk in (("chunk=1", 2000, 1),
                                ("chunk=auto", 20000, 20000 // (4 * workers)),
                                ("chunk=auto-large", 2000000,
                                 2000000 // (4 * workers))):
            list(ex.map(copy, range(n), chunksize=chunk))
            v = []
            for _ in range(REPS):
                t = time.perf_counter()
                list(ex.map(copy, range(n), chunksize=chunk))
                v.append((time.perf_counter() - t) * 1e9 / n)
            row("1-empty", label, v, "ns/item")
        sk = [100000] + [1000] * 99
        ideal = max(100000, sum(sk) / workers)
        list(ex.map(sleep_us, sk, chunksize=1))
        v = []
        for _ in range(REPS):
            t = time.perf_counter()
            list(ex.map(sleep_us, sk, chunksize=1))
            v.append((time.perf_counter() - t) * 1e6 / ideal)
        row("7-skew", "chunk=1", v, "wall/ideal")


if __name__ == "__main__":
    main()
