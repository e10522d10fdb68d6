#!/bin/sh
# SPDX-License-Identifier: MIT
# Every fault point of the library (enum hpool__fault in src/internal.h) is
# armed by at least one test: a test program names it where it sets
# hpool__fault_at (directly, or through a table or a helper's argument).
# A point added to the enum and never armed fails this check.
set -eu
src=${top_srcdir:-.}
points=$(sed -n '/^enum hpool__fault {/,/^};/p' "$src/src/internal.h" |
	grep -o 'HPOOL__F_[A-Z_]*' | grep -v -e '^HPOOL__F_NONE$' -e '^HPOOL__F_COUNT$')
[ -n "$points" ] || { echo "check_fault_points: no points found"; exit 1; }
missing=
n=0
for p in $points; do
	n=$((n + 1))
	# Where a test arms it: the name itself, or the name without the
	# HPOOL__F_SHM_ prefix in test_shm's table (FAULT_ROW(NAME, ...)).
	short=${p#HPOOL__F_SHM_}
	if grep -q -w "$p" "$src"/tests/test_*.c "$src"/tests/regress_*.c; then
		continue
	fi
	if [ "$short" != "$p" ] && grep -q "HPOOL__F_SHM_##" "$src/tests/test_shm.c" &&
		grep -q -E "\\b$short\\b" "$src/tests/test_shm.c"; then
		continue
	fi
	missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "check_fault_points: never armed by a test:$missing"
	exit 1
fi
echo "check_fault_points: all $n fault points are armed by a test"
