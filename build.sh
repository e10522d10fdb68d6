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
liburcu-dev libcmocka-dev libck-dev libtbb-dev libopenmpi-dev python3
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
test)	make -s -j"$jobs" check || { cat tests/*.log 2>/dev/null | tail -200; exit 1; }
	n=$(sed -n 's/^# PASS: *//p' test-suite.log | head -1)
	# The release tarball: complete, builds out of tree from a read-only
	# copy, installs, uninstalls and cleans (make distcheck). The cmocka
	# suites just ran, so it skips them (--disable-tests) and runs the
	# examples and the packaging checks on the unpacked tarball.
	make -s distcheck DISTCHECK_CONFIGURE_FLAGS='--enable-werror --quiet --disable-tests' \
		>distcheck.log 2>&1 || { tail -200 distcheck.log; exit 1; }
	grep -A2 'archives ready for distribution' distcheck.log || true
	# then ASan+UBSan, TSan, valgrind and the fuzzer (tests/sanitize.sh)
	sh tests/sanitize.sh
	# One closing line for CI: the test programs make check ran (each
	# a cmocka suite or a checked script), make distcheck, and the four
	# sanitizer passes.
	echo "ci: $((n + 5)) passed, 0 failed" ;;
*)	echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
