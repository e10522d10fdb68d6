#!/bin/sh
# SPDX-License-Identifier: MIT
# No process of an MPI job is left when a rank dies (HPOOL_MODE=mpi, 3
# ranks, tasks running that never end):
#   1. rank 0 (the caller) is killed with SIGKILL;
#   2. a server rank is killed with SIGKILL: Open MPI aborts the job
#      (its default), so the caller does not hang; mpirun says which rank.
# Every process started for the run carries HPOOL_TEST_TAG in its
# environment (the ranks, their pools' supervisors and workers, mpirun);
# after the kill, none may remain within 20 s (a liveness bound, not a
# timing claim). Skips (77) as tests/mpi-tests.sh.
set -u
b="${top_builddir:-.}"
if [ -n "${SAN_CFLAGS:-}" ]; then
	echo "SKIP: sanitizer build: Open MPI is not instrumented"; exit 77
fi
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$b/tests/test_mpi" ]; then
	echo "SKIP: no mpirun, or tests/test_mpi not built"; exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

# The environment of pid $1, a variable a line (nothing if it is gone).
envof() {
	cat "/proc/$1/environ" 2>/dev/null | tr '\0' '\n'
}

# Pids whose environment holds HPOOL_TEST_TAG=$1 (and, with $2, the rank).
tagged() {
	for e in /proc/[0-9]*; do
		p=${e#/proc/}
		envof "$p" | grep -qx "HPOOL_TEST_TAG=$1" || continue
		if [ -n "${2:-}" ]; then
			envof "$p" | grep -qx "OMPI_COMM_WORLD_RANK=$2" || continue
		fi
		echo "$p"
	done
}

# The rank process itself: tagged with the rank, its parent is not.
rank_pid() {
	for p in $(tagged "$1" "$2"); do
		pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
		[ -n "$pp" ] || continue
		envof "$pp" | grep -qx "OMPI_COMM_WORLD_RANK=$2" ||
			{ echo "$p"; return; }
	done
}

run() { # $1: which rank to kill
	tag="hpool-mpi-orphans-$$-$1"
	rm -f "$tmp/pid"
	HPOOL_TEST_TAG=$tag timeout -k 5 120 mpirun --oversubscribe \
		--allow-run-as-root -n 3 "$b/tests/test_mpi" hold "$tmp/pid" \
		>"$tmp/out.$1" 2>&1 &
	job=$!
	i=0
	while [ ! -s "$tmp/pid" ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1))
	done
	if [ ! -s "$tmp/pid" ]; then
		echo "FAIL (kill rank $1): the job never started"
		cat "$tmp/out.$1"; fail=1; kill "$job" 2>/dev/null; return
	fi
	n=$(tagged "$tag" | wc -l)
	victim=$(if [ "$1" = 0 ]; then cat "$tmp/pid"; else rank_pid "$tag" "$1"; fi)
	echo "  rank $1 is pid $victim; $n process(es) in the job"
	kill -9 "$victim"
	i=0
	while [ -n "$(tagged "$tag")" ] && [ $i -lt 200 ]; do
		sleep 0.1; i=$((i + 1))
	done
	left=$(tagged "$tag")
	if [ -n "$left" ]; then
		echo "FAIL (kill rank $1): still running 20 s later:"
		for p in $left; do
			echo "  $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
		done
		fail=1
	else
		echo "  ok: rank $1 killed, no process of the job left"
	fi
	wait "$job"
	rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		echo "FAIL (kill rank $1): mpirun exit $rc (want a failure, not a hang)"
		fail=1
	fi
	if [ "$1" != 0 ] && ! grep -qi "signal 9\|killed" "$tmp/out.$1"; then
		echo "FAIL (kill rank $1): mpirun did not say a rank was killed:"
		cat "$tmp/out.$1"; fail=1
	fi
	grep -i "signal\|killed\|abort" "$tmp/out.$1" | head -3 | sed 's/^/  mpirun: /'
}

echo "== kill rank 0 (the caller) with SIGKILL"
run 0
echo "== kill rank 2 (a server) with SIGKILL"
run 2
[ $fail -eq 0 ] && echo "mpi-orphans: passed" || echo "mpi-orphans: FAILED"
exit $fail
