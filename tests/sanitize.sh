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
# Reports from every process. The asan and tsan passes do not judge by
# make check's exit status alone: workers, supervisors and fork servers
# are children that no test waits on, leave through _exit (no LeakSanitizer
# at exit unless the library asks for a leak check first), and a worker
# that dies of a report between items is replaced without a trace. So each
# sanitizer writes every report to a file of its own per process
# (log_path=DIR/san-reports/san, files san.PID), and the pass fails when
# any such file holds a report (a line "SUMMARY: ", "ERROR: ",
# "runtime error:" or "WARNING: ThreadSanitizer: "), printing them all.
# A file with only a runtime warning (TSan's "starting new threads after
# multi-threaded fork", ...) is printed as a note and does not fail.
# Before the suite, each pass proves the harness sees such reports: it runs
# tests/san_canary, whose forked child makes a report and whose parent
# exits 0; no report file means a blind harness, and the pass fails. In
# ASan builds the canary's process pool also has a worker leak a block:
# a report must name it, or the library's processes went unchecked.
#
# Every pass runs, and each says PASS or FAIL (the script exits 1 if any
# failed); with SANITIZE_RESULTS=FILE each result is also appended to FILE
# as "PASS: asan", "FAIL: tsan" ... (build.sh counts them). automake
# refuses an out-of-tree build from a tree configured in place, so the
# sanitizer builds use a copy of the sources in _build-src: the files git
# knows (or `make distdir` without git) plus the generated build system.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
passes="${*:-asan tsan valgrind fuzz}"
results="${SANITIZE_RESULTS:-}"
failed=0

# This script is a harness: nothing from the caller's HPOOL_* reaches the
# programs it runs (make check clears them again for each test).
for v in $(env | sed -n 's/^\(HPOOL_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done

say() { echo "sanitize: $*"; }

# The passes' run-time options: stop at the first report.
asan_base="detect_leaks=1:halt_on_error=1:abort_on_error=0"
ubsan_base="print_stacktrace=1:halt_on_error=1"
# die_after_fork=0: process mode forks from a threaded process (TSan's own
# thread counts) and its workers start threads.
# tests/tsan.supp: libomp is not instrumented (why in the file).
tsan_base="halt_on_error=1:second_deadlock_stack=1:die_after_fork=0"
tsan_base="$tsan_base:suppressions=$PWD/tests/tsan.supp"
ASAN_OPTIONS=$asan_base
UBSAN_OPTIONS=$ubsan_base
TSAN_OPTIONS=$tsan_base
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
# Return: 0 when make check passed.
check() {
	if ! make -s -C "$1" -j"$jobs" check >"$1/check.out" 2>&1; then
		cat "$1/check.out"
		tail -300 "$1/test-suite.log" 2>/dev/null || true
		say "$1: make check failed"
		return 1
	fi
	grep '^# ' "$1/check.out" | tr '\n' ' '
	echo
}

# reports DIR: the report files in DIR (see the top of this file).
reports() {
	grep -lE 'SUMMARY: |ERROR: |runtime error:|WARNING: ThreadSanitizer: ' \
		"$1"/san.* 2>/dev/null || true
}

# show_reports DIR: print every file in DIR, reports first, then notes.
show_reports() {
	for f in $(reports "$1"); do
		echo "---- report: $f"
		cat "$f"
	done
	for f in "$1"/san.*; do
		[ -f "$f" ] || continue
		grep -qlE 'SUMMARY: |ERROR: |runtime error:|WARNING: ThreadSanitizer: ' \
			"$f" && continue
		echo "---- note (a warning, not a report): $f"
		cat "$f"
	done
}

# canary_seen OUT LOGS: the canary's reports are all in LOGS: some report,
# and for each line "san_canary: expect WORD" of its output OUT, a report
# that names WORD (a leak in a pool's worker, ASan builds).
canary_seen() {
	[ -n "$(reports "$2")" ] || return 1
	for w in $(sed -n 's/^san_canary: expect \([A-Za-z0-9_]*\).*/\1/p' "$1"); do
		# shellcheck disable=SC2046
		grep -q "$w" $(reports "$2") || {
			say "no report names $w"
			return 1
		}
	done
	return 0
}

# sanitized DIR: the canary, then the whole suite, with every process's
# sanitizer output in DIR/san-reports. Return: 0 when both held.
sanitized() {
	dir=$1
	logs="$(cd "$dir" && pwd)/san-reports"
	rm -rf "$logs"
	mkdir -p "$logs"
	ASAN_OPTIONS="$asan_base:log_path=$logs/san"
	UBSAN_OPTIONS="$ubsan_base:log_path=$logs/san"
	TSAN_OPTIONS="$tsan_base:log_path=$logs/san"
	rc=0
	# 1. the harness sees a report made in a forked child
	make -s -C "$dir" tests/san_canary >/dev/null
	# Up to three tries: LeakSanitizer's tracer can fail to stop the
	# child on a loaded machine (seen once); a blind harness fails all.
	for try in 1 2 3; do
		rc=0
		rm -f "$logs"/san.*
		"$dir/tests/san_canary" >"$dir/canary.out" || rc=$?
		cat "$dir/canary.out"
		[ $rc -ne 0 ] || ! canary_seen "$dir/canary.out" "$logs" || break
	done
	if [ $rc -ne 0 ]; then
		say "$dir: tests/san_canary failed (exit $rc; 77: no" \
			"sanitizer in this build)"
		rc=1
	elif ! canary_seen "$dir/canary.out" "$logs"; then
		show_reports "$logs"
		say "$dir: the canary made reports (in a forked child; ASan:" \
			"a leak in a pool's worker) that no report file holds:" \
			"this harness would not see one"
		rc=1
	else
		say "$dir: canary report seen ($(reports "$logs" | wc -l)" \
			"file), harness is not blind"
	fi
	rm -f "$logs"/san.*
	# 2. the suite: make check's verdict, and every process's reports
	if [ $rc -eq 0 ]; then
		check "$dir" || rc=1
		if [ -n "$(reports "$logs")" ]; then
			show_reports "$logs"
			say "$dir: sanitizer reports from the processes above" \
				"($(reports "$logs" | wc -l) files in $logs)"
			rc=1
		elif ls "$logs"/san.* >/dev/null 2>&1; then
			show_reports "$logs"
		fi
	fi
	ASAN_OPTIONS=$asan_base
	UBSAN_OPTIONS=$ubsan_base
	TSAN_OPTIONS=$tsan_base
	return $rc
}

# result PASS NAME ok|fail: print and record one pass's result.
result() {
	if [ "$2" = ok ]; then
		say "$1: PASS in $(($(date +%s) - start)) s"
		[ -z "$results" ] || echo "PASS: $1" >>"$results"
	else
		say "$1: FAIL in $(($(date +%s) - start)) s"
		[ -z "$results" ] || echo "FAIL: $1" >>"$results"
		failed=1
	fi
}

# vg NAME [MODE]: one test program under memcheck. Return: 0 when clean.
vg() {
	log="tests/valgrind-$1${2:+-$2}.log"
	if ! env ${2:+HPOOL_TEST_MODE="$2"} timeout -k 5 900 valgrind -q \
		--error-exitcode=1 --leak-check=full \
		--child-silent-after-fork=yes \
		--suppressions=tests/valgrind.supp "./tests/$1" >"$log" 2>&1; then
		cat "$log"
		say "valgrind: tests/$1 ${2:-} failed (log: $log)"
		return 1
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
	ok=ok
	case "$pass" in
	asan)
		if build _build-asan --enable-sanitizers=address,undefined
		then
			sanitized _build-asan || ok=fail
		else
			ok=fail
		fi
		;;
	tsan)
		if build _build-tsan --enable-sanitizers=thread CC=clang; then
			sanitized _build-tsan || ok=fail
		else
			ok=fail
		fi
		;;
	valgrind)
		make -s -j"$jobs" tests/test_config tests/test_ring \
			tests/test_pool tests/test_bad_input || ok=fail
		vg test_config || ok=fail
		vg test_ring || ok=fail
		for mode in thread serial; do
			vg test_pool "$mode" || ok=fail
			vg test_bad_input "$mode" || ok=fail
		done
		;;
	fuzz)
		if ! make -s fuzz FUZZ_TIME="${FUZZ_TIME:-30}" \
			>tests/fuzz.log 2>&1; then
			tail -60 tests/fuzz.log
			say "fuzz: failed (log: tests/fuzz.log)"
			ok=fail
		fi
		grep -E '^(Done|stat::number_of_executed_units|#[0-9]+.*DONE)' \
			tests/fuzz.log || true
		;;
	*)
		echo "usage: $0 [asan] [tsan] [valgrind] [fuzz]" >&2
		exit 2
		;;
	esac
	result "$pass" "$ok"
done
rm -rf _build-src
exit $failed
