#!/bin/sh
# SPDX-License-Identifier: MIT
# The hardening passes that `./build.sh test` runs after the normal suite.
# Run from the top of the source tree, after the in-tree build and check:
#
#   tests/sanitize.sh [asan] [tsan] [valgrind] [fuzz]    (default: all four)
#
#   asan      the whole suite under AddressSanitizer + UBSan (gcc), built
#             out of tree in _build-asan; leaks count (LeakSanitizer)
#   tsan      the whole suite under ThreadSanitizer (clang) in _build-tsan;
#             the pool tests run in thread, serial and process mode. The
#             OpenMP test is compiled out under TSan, which cannot see the
#             OpenMP runtime (test_pool prints a note; it is not a pass)
#   valgrind  memcheck on test_config, test_ring, test_pool and
#             test_bad_input (thread and serial mode) from the in-tree build;
#             tests/valgrind.supp holds the few named false reports
#   fuzz      `make fuzz` (libFuzzer on the HPOOL_* parser), FUZZ_TIME
#             seconds (default 30)
#
# Every pass must be clean; the first that is not stops the script with its
# logs. automake refuses an out-of-tree build from a tree configured in
# place, so the sanitizer builds use a copy of the sources in _build-src:
# the files git knows (or `make distdir` without git) plus the generated
# build system.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
passes="${*:-asan tsan valgrind fuzz}"

say() { echo "sanitize: $*"; }

# The passes' run-time options: stop at the first report.
ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# die_after_fork=0: process mode forks from a threaded process (TSan's own
# thread counts) and its workers start threads.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:die_after_fork=0"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

snapshot() {
	rm -rf _build-src
	mkdir _build-src
	if git rev-parse --git-dir >/dev/null 2>&1; then
		{
			git ls-files -co --exclude-standard
			ls configure Makefile.in aclocal.m4 config.h.in
			find build-aux m4 -type f
		} | tar -cf - --ignore-failed-read -T - | tar -xf - -C _build-src
	else
		make -s distdir distdir=_build-src
	fi
}

# build DIR CONFIGURE-ARGS...: configure (once) and build out of tree.
build() {
	dir=$1
	shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		(cd "$dir" && ../_build-src/configure --enable-werror --quiet "$@")
	fi
	make -s -C "$dir" -j"$jobs" >/dev/null
}

# check DIR: the whole suite; on failure show the failed tests' logs.
check() {
	if ! make -s -C "$1" -j"$jobs" check >"$1/check.out" 2>&1; then
		cat "$1/check.out"
		tail -300 "$1/test-suite.log" 2>/dev/null || true
		say "$1: make check failed"
		exit 1
	fi
	grep '^# ' "$1/check.out" | tr '\n' ' '
	echo
}

# valgrind NAME [MODE]: one test program under memcheck.
vg() {
	log="tests/valgrind-$1${2:+-$2}.log"
	if ! HPOOL_TEST_MODE="${2:-}" timeout -k 5 900 valgrind -q \
		--error-exitcode=1 --leak-check=full \
		--child-silent-after-fork=yes \
		--suppressions=tests/valgrind.supp "./tests/$1" >"$log" 2>&1; then
		cat "$log"
		say "valgrind: tests/$1 ${2:-} failed (log: $log)"
		exit 1
	fi
	# warnings that are not errors (the exit code says clean) stay visible
	grep '^==[0-9]*==' "$log" || true
	echo "  tests/$1${2:+ ($2)}: clean"
}

case " $passes " in
*" asan "* | *" tsan "*) snapshot ;;
esac
for pass in $passes; do
	start=$(date +%s)
	say "$pass: start"
	case "$pass" in
	asan)
		build _build-asan --enable-sanitizers=address,undefined
		check _build-asan
		;;
	tsan)
		build _build-tsan --enable-sanitizers=thread CC=clang
		check _build-tsan
		;;
	valgrind)
		make -s -j"$jobs" tests/test_config tests/test_ring \
			tests/test_pool tests/test_bad_input
		vg test_config
		vg test_ring
		for mode in thread serial; do
			vg test_pool "$mode"
			vg test_bad_input "$mode"
		done
		;;
	fuzz)
		if ! make -s fuzz FUZZ_TIME="${FUZZ_TIME:-30}" \
			>tests/fuzz.log 2>&1; then
			tail -60 tests/fuzz.log
			say "fuzz: failed (log: tests/fuzz.log)"
			exit 1
		fi
		grep -E '^(Done|stat::number_of_executed_units|#[0-9]+.*DONE)' \
			tests/fuzz.log || true
		;;
	*)
		echo "usage: $0 [asan] [tsan] [valgrind] [fuzz]" >&2
		exit 2
		;;
	esac
	say "$pass: clean in $(($(date +%s) - start)) s"
done
rm -rf _build-src
