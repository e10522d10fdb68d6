#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every example (docs/situations.md, situations 1-12) in each mode:
# thread, process, serial, hybrid.
# Fails if a run exits nonzero (each example checks its own results) or if
# an example's output differs between modes: the same program must give the
# same results however HPOOL_MODE is set. Binaries are looked up under
# $top_builddir/examples (exported by make check); libtool wrapper scripts
# are fine. HPOOL_EXAMPLE_TIMEOUT (seconds) bounds each run.
set -u

dir="${top_builddir:-.}/examples"
examples="ex1_map ex2_args ex3_method ex4_object_pool ex5_closure
	ex6_worker_queue ex7_switch_modes ex8_large_inputs ex9_worker_dies
	ex10_caller_dies ex11_openmp ex12_tiny_tasks"
modes="thread process serial hybrid"
# A ThreadSanitizer build: hybrid left out (see tests/modes.h for why).
if nm "$dir/.libs/ex1_map" "$dir/ex1_map" 2>/dev/null | grep -q __tsan_init; then
	echo "note: ThreadSanitizer build: hybrid mode left out (not run, not passed)"
	modes="thread process serial"
fi
limit="${HPOOL_EXAMPLE_TIMEOUT:-60}"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

for ex in $examples; do
	prog="$dir/$ex"
	if [ ! -x "$prog" ]; then
		echo "FAIL $ex: $prog not found (make check builds it)"
		fail=1
		continue
	fi
	first=
	for mode in $modes; do
		out="$tmp/$ex.$mode.out"
		err="$tmp/$ex.$mode.err"
		HPOOL_MODE=$mode timeout -k 5 "$limit" "$prog" >"$out" 2>"$err"
		rc=$?
		if [ $rc -ne 0 ]; then
			echo "FAIL $ex (HPOOL_MODE=$mode): exit status $rc"
			sed 's/^/  | /' "$out" "$err"
			fail=1
			continue
		fi
		if [ -z "$first" ]; then
			first=$mode
			echo "== $ex (HPOOL_MODE=$mode; other modes must match)"
			sed 's/^/  /' "$out"
		elif ! cmp -s "$tmp/$ex.$first.out" "$out"; then
			echo "FAIL $ex: HPOOL_MODE=$mode output differs" \
				"from HPOOL_MODE=$first:"
			diff "$tmp/$ex.$first.out" "$out" | sed 's/^/  | /'
			fail=1
		fi
	done
done

if [ $fail -ne 0 ]; then
	echo "run-examples: FAILED"
	exit 1
fi
echo "run-examples: all examples pass, output identical in every mode"
