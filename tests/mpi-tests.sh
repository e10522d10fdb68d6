#!/bin/sh
# SPDX-License-Identifier: MIT
# The MPI backend (HPOOL_MODE=mpi) under `mpirun -n 3` on this machine:
#   1. the pool suite (tests/test_pool, HPOOL_TEST_MODE=mpi): what does not
#      apply across ranks is reported SKIPPED there, with the reason. Three
#      times: rank 0 serving this node with workers of its own (the
#      default, HPOOL_MPI_LOCAL=node), every item over MPI to the servers
#      (HPOOL_MPI_LOCAL=0), and one worker of rank 0's beside theirs (1)
#   2. tests/test_mpi: map, imap, submit, crash on rank 2, nested work,
#      timeout, terminate, shm memory copied, a module only rank 0 loaded
#   2b. tests/test_mpi widen under `mpirun --bind-to core -n 2`: rank 0's
#      workers use both ranks' cores
#   3. bad input: not under mpirun; rank 2 another build of the program
#   4. the examples: same output as in process mode, with rank 0 serving
#      this node and with every item over MPI (what is left out is
#      printed, with its reason)
# Skips (77) without mpirun or in a sanitizer build (Open MPI is not
# instrumented). A run is bounded by HPOOL_MPI_TIMEOUT seconds (a hang
# fails, never hangs CI).
set -u
b="${top_builddir:-.}"
limit="${HPOOL_MPI_TIMEOUT:-300}"
if [ -n "${SAN_CFLAGS:-}" ]; then
	echo "SKIP: sanitizer build ($SAN_CFLAGS): Open MPI is not instrumented"
	exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
	echo "SKIP: no mpirun (Debian: openmpi-bin)"
	exit 77
fi
if [ ! -x "$b/tests/test_mpi" ]; then
	echo "SKIP: tests/test_mpi not built (configure found no MPI)"
	exit 77
fi
export top_builddir="$b"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
mpi() {
	timeout -k 5 "$limit" mpirun --oversubscribe --allow-run-as-root \
		-n 3 "$@"
}

for local in node 0 1; do
	echo "== 1. tests/test_pool, HPOOL_TEST_MODE=mpi," \
		"HPOOL_MPI_LOCAL=$local"
	HPOOL_MPI_LOCAL=$local HPOOL_TEST_MODE=mpi mpi "$b/tests/test_pool" \
		>"$tmp/pool" 2>&1
	rc=$?
	grep -E '^\[ *(OK|SKIPPED|FAILED|PASSED|ERROR) *\]|NOTE' "$tmp/pool" |
		sed 's/^/  /'
	if [ $rc -ne 0 ]; then
		echo "FAIL test_pool (mpi, HPOOL_MPI_LOCAL=$local): exit $rc"
		tail -30 "$tmp/pool"; fail=1
	fi
done

echo "== 2. tests/test_mpi"
mpi "$b/tests/test_mpi" >"$tmp/mpi" 2>&1
rc=$?
grep -E '^\[ *(OK|SKIPPED|FAILED|PASSED|ERROR) *\]|NOTE' "$tmp/mpi" |
	sed 's/^/  /'
if [ $rc -ne 0 ]; then
	echo "FAIL test_mpi: exit $rc"; tail -30 "$tmp/mpi"; fail=1
fi

echo "== 2b. rank 0 serves the cores mpirun bound the ranks of its node to"
if [ "$(getconf _NPROCESSORS_ONLN)" -lt 2 ]; then
	echo "  not run: one cpu, so mpirun cannot bind 2 ranks apart"
elif ! timeout -k 5 "$limit" mpirun --allow-run-as-root --bind-to core -n 2 \
	"$b/tests/test_mpi" widen >"$tmp/widen" 2>&1; then
	echo "FAIL: test_mpi widen"; cat "$tmp/widen"; fail=1
else
	grep '^widen:' "$tmp/widen" | sed 's/^/  /'
fi

echo "== 3. bad input"
if ! timeout -k 5 60 "$b/tests/test_mpi" >"$tmp/bad1" 2>&1; then
	echo "FAIL: HPOOL_MODE=mpi without mpirun"; cat "$tmp/bad1"; fail=1
else
	sed 's/^/  /' "$tmp/bad1"
fi
if ! mpi "$b/tests/test_mpi" bad-build >"$tmp/bad2" 2>&1; then
	echo "FAIL: another build on rank 2"; cat "$tmp/bad2"; fail=1
else
	sed 's/^/  /' "$tmp/bad2"
fi

for local in node 0; do
	echo "== 4. examples: HPOOL_MODE=mpi (HPOOL_MPI_LOCAL=$local) against" \
		"HPOOL_MODE=process"
	list="ex1_map ex2_args ex3_method ex4_object_pool ex5_closure"
	list="$list ex6_worker_queue ex9_worker_dies ex11_openmp"
	list="$list ex12_tiny_tasks"
	[ $local = node ] && list="$list ex7_switch_modes ex8_large_inputs"
	for ex in $list; do
		prog="$b/examples/$ex"
		HPOOL_MODE=process timeout -k 5 "$limit" "$prog" >"$tmp/p" \
			2>/dev/null
		HPOOL_MPI_LOCAL=$local HPOOL_MODE=mpi mpi "$prog" >"$tmp/m" \
			2>"$tmp/e"
		rc=$?
		if [ $rc -ne 0 ]; then
			echo "FAIL $ex (mpi, $local): exit $rc"
			cat "$tmp/m" "$tmp/e"; fail=1
		elif ! cmp -s "$tmp/p" "$tmp/m"; then
			echo "FAIL $ex ($local): mpi output differs from process:"
			diff "$tmp/p" "$tmp/m" | sed 's/^/  | /'; fail=1
		else
			echo "  ok $ex"
		fi
	done
done
echo "  left out: ex7, ex8 with HPOOL_MPI_LOCAL=0 (ex7's tasks count through"
echo "    a pointer to hpool_shm memory inside ctx: not shared across"
echo "    machines; ex8 checks that shm rows are read in place: across"
echo "    ranks they are copied), ex10 (forks a caller that dies:"
echo "    tests/mpi-orphans.sh kills rank 0 instead)"

[ $fail -eq 0 ] && echo "mpi-tests: all passed" || echo "mpi-tests: FAILED"
exit $fail
