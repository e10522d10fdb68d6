#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI backend's bench rows (issue 11), 3 ranks on this machine:
# hpool in process mode, in mpi mode (rank 0 serves this node with
# workers of its own, the default) and in mpi mode with every item over
# MPI (mpi-msg: HPOOL_MPI_LOCAL=0, what another node costs), one mpirun
# (bench/hpool-mpi-bench), beside mpi4py's MPIPoolExecutor
# (bench/mpi4py_peer.py, the next mpirun), then the ratios. CSV to $1
# (default bench/out/mpi.csv) and the ratios to the same name with
# -ratios.csv. `make bench-mpi` runs it.
set -eu
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
out="${1:-$b/bench/out/mpi.csv}"
py="${MPI4PY_PYTHON:-/usr/bin/python3}"
mkdir -p "$(dirname "$out")"
run="mpirun --oversubscribe --allow-run-as-root -n 3"
$run "$b/bench/hpool-mpi-bench" >"$out"
if "$py" -c 'import mpi4py.futures' 2>/dev/null; then
	$run "$py" -m mpi4py.futures "$s/bench/mpi4py_peer.py" >>"$out"
else
	echo "mpi-bench: no mpi4py for $py (Debian: python3-mpi4py): peer rows n/a" >&2
fi
"$py" - "$out" "${out%.csv}-ratios.csv" <<'PY'
import csv, sys
rows = {}
for r in csv.DictReader(open(sys.argv[1])):
    if r["scenario"] == "scenario":
        continue
    rows[(r["scenario"], r["impl"], r["mode"], r["param"])] = float(r["median"])
def get(scen, impl, mode, param):
    return rows.get((scen, impl, mode, param))
print("%-10s %-16s %12s %12s %12s %14s  %s" % ("scenario", "param",
      "process", "mpi", "mpi-msg", "MPIPoolExec", "unit"))
keys = sorted({(k[0], k[3]) for k in rows})
units = {"1-empty": "ns/item", "3-compute": "us/item", "7-skew": "wall/ideal"}
def f(x):
    return "%12.4g" % x if x is not None else "%12s" % "n/a"
for scen, param in keys:
    print("%-10s %-16s %s %s %s %s  %s" % (scen, param,
          f(get(scen, "hpool", "process", param)),
          f(get(scen, "hpool", "mpi", param)),
          f(get(scen, "hpool", "mpi-msg", param)),
          f(get(scen, "mpi4py-MPIPoolExecutor", "mpi", param)).rjust(14),
          units.get(scen, "")))
ratios = []
for scen, param in keys:
    p = get(scen, "hpool", "process", param)
    x = get(scen, "mpi4py-MPIPoolExecutor", "mpi", param)
    for mode in ("mpi", "mpi-msg"):
        m = get(scen, "hpool", mode, param)
        if p and m:
            ratios.append(("%s %s: hpool-%s / hpool-process" %
                           (scen, param, mode), m / p))
        if x and m and scen != "7-skew":
            ratios.append(("%s %s: MPIPoolExecutor / hpool-%s" %
                           (scen, param, mode), x / m))
print()
with open(sys.argv[2], "w") as o:
    o.write("ratio,value\n")
    for name, v in ratios:
        print("%-60s %10.3f" % (name, v))
        o.write('"%s",%.4f\n' % (name, v))
PY
