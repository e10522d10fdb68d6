#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI backend's bench rows (issue 11), 3 ranks on this machine:
# hpool in process mode and in mpi mode (bench/hpool-mpi-bench, one
# mpirun) beside mpi4py's MPIPoolExecutor (bench/mpi4py_peer.py, the next
# mpirun), then the ratios. CSV to $1 (default bench/out/mpi.csv) and
# the ratios to the same name with -ratios.csv. `make bench-mpi` runs it.
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
print("%-10s %-11s %12s %12s %14s  %s" % ("scenario", "param", "process",
      "mpi", "MPIPoolExec", "unit"))
for (scen, impl, mode, param), v in sorted(rows.items()):
    pass
keys = sorted({(k[0], k[3]) for k in rows})
units = {"1-empty": "ns/item", "3-compute": "us/item", "7-skew": "wall/ideal"}
def f(x):
    return "%12.4g" % x if x is not None else "%12s" % "n/a"
for scen, param in keys:
    print("%-10s %-11s %s %s %s  %s" % (scen, param,
          f(get(scen, "hpool", "process", param)),
          f(get(scen, "hpool", "mpi", param)),
          f(get(scen, "mpi4py-MPIPoolExecutor", "mpi", param)).rjust(14),
          units.get(scen, "")))
ratios = []
for scen, param in keys:
    p = get(scen, "hpool", "process", param)
    m = get(scen, "hpool", "mpi", param)
    x = get(scen, "mpi4py-MPIPoolExecutor", "mpi", param)
    if p and m:
        ratios.append(("%s %s: hpool-mpi / hpool-process" % (scen, param), m / p))
    if x and m and scen != "7-skew":
        ratios.append(("%s %s: MPIPoolExecutor / hpool-mpi" % (scen, param), x / m))
print()
with open(sys.argv[2], "w") as o:
    o.write("ratio,value\n")
    for name, v in ratios:
        print("%-52s %10.3f" % (name, v))
        o.write('"%s",%.4f\n' % (name, v))
PY
