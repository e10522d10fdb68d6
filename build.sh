#!/bin/sh
# SPDX-License-Identifier: MIT
# hpool's one entry point for a fresh Debian 12 machine (run as root):
#   ./build.sh demo   install what is missing, build, run the benchmark demo
#   ./build.sh test   install what is missing, build, run the whole test suite
# .ci/run runs `./build.sh test`, so CI tests exactly what a new user gets.
set -eu
cd "$(dirname "$0")"
what="${1:-demo}"

# Build and test dependencies, each with its job (see docs/design.md).
# The library needs only hwloc (topology) and liburcu (atomics, futex);
# configure builds what the rest allows and prints a summary. The rest:
# cmocka (tests), libck (ring benchmark peer), OpenMP via gcc (peer, tests,
# examples/ex11), oneTBB (a benchmark peer), Open MPI (the MPI backend),
# python3 + joblib (Python peers in the benchmark), gnuplot (plots), clang
# (TSan, libFuzzer) with libomp-dev (OpenMP for the TSan build), valgrind
# (memcheck pass), mandoc (man page lint), cmake (the CMake consumer test).
pkgs="build-essential autoconf automake libtool pkg-config libhwloc-dev
liburcu-dev libcmocka-dev libck-dev libtbb-dev libopenmpi-dev openmpi-bin
python3-mpi4py python3
python3-joblib gnuplot-nox clang libclang-rt-dev libomp-dev valgrind mandoc
cmake git"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "build.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure --enable-werror --quiet
make -s -j"$jobs"

case "$what" in
demo)	make -s bench ;;
test)	# make check, then make distcheck, then ASan+UBSan, TSan, valgrind
	# and the fuzzer (tests/sanitize.sh; each pass records PASS or FAIL
	# as it ran).
	rc=0
	san=
	dist=
	results=tests/sanitize.results
	rm -f "$results" test-suite.log
	if make -s -j"$jobs" check; then
		san=ran
		# The release tarball: complete, builds out of tree from a
		# read-only copy, installs, uninstalls and cleans. The cmocka
		# suites just ran, so it skips them (--disable-tests) and runs
		# the examples and the packaging checks on the unpacked tarball.
		if make -s distcheck DISTCHECK_CONFIGURE_FLAGS='--enable-werror --quiet --disable-tests' \
			>distcheck.log 2>&1; then
			dist=PASS
			grep -A2 'archives ready for distribution' distcheck.log || true
		else
			dist=FAIL
			tail -200 distcheck.log
			rc=1
		fi
		SANITIZE_RESULTS=$results sh tests/sanitize.sh || rc=1
	else
		cat tests/*.log 2>/dev/null | tail -200
		rc=1
	fi
	# One closing line for CI, counted from the logs, nothing assumed:
	# automake's test-suite.log (one result per test program or checked
	# script; XFAIL counts as passed, XPASS and ERROR as failed), make
	# distcheck, plus one line per sanitizer pass in $results. A missing
	# log is a failure, so is a pass that sanitize.sh started and never
	# reported; distcheck and the passes are skipped when make check
	# failed.
	num() { n=$(sed -n "s/^# $1: *//p" test-suite.log 2>/dev/null |
		head -1); echo "${n:-0}"; }
	passed=$(($(num PASS) + $(num XFAIL)))
	failed=$(($(num FAIL) + $(num XPASS) + $(num ERROR)))
	skipped=$(num SKIP)
	[ -f test-suite.log ] || failed=$((failed + 1))
	case $dist in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	*) skipped=$((skipped + 1)) ;;
	esac
	touch "$results"
	p=$(grep -c '^PASS: ' "$results" || true)
	f=$(grep -c '^FAIL: ' "$results" || true)
	if [ -n "$san" ]; then
		# asan, tsan, valgrind, fuzz: four results are due
		[ $((p + f)) -ge 4 ] || f=$((f + 4 - p - f))
		echo "ci: sanitizer passes: $(tr '\n' ' ' <"$results")"
	else
		p=0 f=0 skipped=$((skipped + 4))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	echo "ci: $passed passed, $failed failed, $skipped skipped"
	exit $rc ;;
*)	echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
