#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one test program with a time limit: a hung test fails, never hangs CI.
# The limit is a liveness bound, not a timing claim: 900 s, several times
# what the longest test (test_leak) takes on a busy 2-core machine.
# HPOOL_TEST_TIMEOUT (seconds) overrides the default.
#
# The test starts with no HPOOL_* variable at all: a value left in the
# caller's shell (HPOOL_MODE, HPOOL_TEST_MODE=procss, HPOOL_LEAK_CYCLES,
# HPOOL_TEST_SHORT, ...) would change what the test runs or make it run
# nothing. A test that wants a variable sets it itself.
limit="${HPOOL_TEST_TIMEOUT:-900}"
for v in $(env | sed -n 's/^\(HPOOL_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
exec timeout -k 5 "$limit" "$@"
