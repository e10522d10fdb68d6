#!/bin/sh
# SPDX-License-Identifier: MIT
# The ready-made progress bar (HPOOL_PROGRESS=bar): drawn on stderr when it
# is a terminal (a pty from script(1)), ending at 100 of 100 items; never
# drawn when stderr is not a terminal, nor with HPOOL_PROGRESS=none; a bad
# value is refused. In every mode.
set -u
demo=./tests/progress_demo
command -v script >/dev/null 2>&1 || { echo "check_progress_bar: script(1) missing"; exit 77; }
fail=0
for mode in thread process serial; do
	out=$(HPOOL_MODE=$mode HPOOL_PROGRESS=bar script -qfec "$demo" /dev/null 2>&1)
	case "$out" in
	*"100% 100/100 items"*ok*) ;;
	*) echo "FAIL $mode: no finished bar on a terminal: $out"; fail=1 ;;
	esac
	err=$(HPOOL_MODE=$mode HPOOL_PROGRESS=bar $demo 2>&1 >/dev/null)
	[ -z "$err" ] || { echo "FAIL $mode: a bar without a terminal: $err"; fail=1; }
	out=$(HPOOL_MODE=$mode HPOOL_PROGRESS=none script -qfec "$demo" /dev/null 2>&1)
	case "$out" in
	*hpool*) echo "FAIL $mode: a bar with HPOOL_PROGRESS=none: $out"; fail=1 ;;
	esac
done
err=$(HPOOL_PROGRESS=yes $demo 2>&1 >/dev/null)
case "$err" in
*'HPOOL_PROGRESS="yes": expected none or bar'*) ;;
*) echo "FAIL: HPOOL_PROGRESS=yes not refused: $err"; fail=1 ;;
esac
[ $fail = 0 ] && echo "check_progress_bar: ok"
exit $fail
