#!/bin/sh
# hpool's one entry point for a fresh Debian 12 machine (run as root):
#   ./build.sh demo   install what is missing, build, run the benchmark demo
#   ./build.sh test   install what is missing, build, run the whole test suite
# .ci/run runs `./build.sh test`, so CI tests exactly what a new user gets.
set -eu
cd "$(dirname "$0")"
what="${1:-demo}"

# Build and test dependencies, each with its job (see DESIGN.md):
# hwloc (topology), liburcu (atomics, futex), cmocka (tests), libck (ring
# benchmark peer), OpenMP via gcc (peer and tests), python3 + joblib (Python
# peers in the benchmark), gnuplot (plots), clang (TSan, libFuzzer) with
# libomp-dev (OpenMP for the TSan build), valgrind (memcheck pass).
pkgs="build-essential autoconf automake libtool pkg-config libhwloc-dev
liburcu-dev libcmocka-dev libck-dev python3 python3-joblib gnuplot-nox clang
libclang-rt-dev libomp-dev valgrind"
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
	# then ASan+UBSan, TSan, valgrind and the fuzzer (tests/sanitize.sh)
	sh tests/sanitize.sh
	# One closing line for CI: the test programs make check ran (each
	# a cmocka suite or a checked script), plus the four sanitizer passes.
	n=$(sed -n 's/^# PASS: *//p' test-suite.log | head -1)
	echo "ci: $((n + 4)) passed, 0 failed" ;;
*)	echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
