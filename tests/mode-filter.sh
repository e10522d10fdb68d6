#!/bin/sh
# SPDX-License-Identifier: MIT
# The test harness runs what it claims:
#  1. a mode filter that names no mode is an error, not an empty pass:
#     HPOOL_TEST_MODE=procss (or an empty value, or a list with one bad
#     word) makes each pool test program exit 99 with a message naming
#     the variable, before it runs anything;
#  2. run-test.sh starts a test with no HPOOL_* variable from outside;
#  3. make check's environment (AM_TESTS_ENVIRONMENT, then run-test.sh)
#     let no HPOOL_* variable through to this very script.
set -u
dir="${top_builddir:-.}/tests"
here=$(dirname "$0")
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

bad() {
	echo "FAIL: $*"
	fail=1
}

# 3. first: whatever the caller exported, nothing reached this script
leaked=$(env | grep '^HPOOL_' || true)
[ -z "$leaked" ] || bad "the harness let through: $leaked"

# 1.
for prog in test_pool test_leak test_bad_input; do
	[ -x "$dir/$prog" ] || { bad "$dir/$prog not built"; continue; }
	for value in procss "" "thread,procss" "Thread"; do
		HPOOL_TEST_MODE=$value timeout 60 "$dir/$prog" \
			>"$tmp/out" 2>&1
		rc=$?
		if [ $rc -ne 99 ]; then
			bad "$prog with HPOOL_TEST_MODE='$value': exit $rc," \
				"want 99"
			sed 's/^/  | /' "$tmp/out" | tail -5
		elif ! grep -q 'HPOOL_TEST_MODE=.*names no mode' "$tmp/out"; then
			bad "$prog with HPOOL_TEST_MODE='$value': no message"
		elif grep -q '^\[ RUN' "$tmp/out"; then
			bad "$prog with HPOOL_TEST_MODE='$value' ran tests"
		fi
	done
done

# 2.
HPOOL_TEST_MODE=procss HPOOL_LEAK_CYCLES=1 HPOOL_TEST_SHORT=1 \
	HPOOL_MODE=serial sh "$here/run-test.sh" env >"$tmp/env" 2>&1
if grep '^HPOOL_' "$tmp/env"; then
	bad "run-test.sh passed the variables above to the test"
fi

[ $fail -eq 0 ] && echo "mode-filter: typos exit 99; no HPOOL_* gets" \
	"through the harness"
exit $fail
