#!/bin/sh
# SPDX-License-Identifier: MIT
# make check's short soak: workers killed from outside (SIGKILL, SIGSEGV)
# during maps in process mode, then in hybrid mode (processes of 2
# threads), then killing any process of the pool, the supervisor
# included; fails on any hang, lost or duplicated item, or more failed
# items per kill than the killed process ran threads (1 in process mode).
# `make soak` runs the long ones.
set -e
soak="${top_builddir:-.}/tests/soak"
"$soak" --kills 50 --items 20000 --workers 2
"$soak" --kills 50 --items 50000 --workers 3 --interval-us 1000
"$soak" --kills 30 --items 20000 --workers 2 --any-process
"$soak" --kills 50 --items 20000 --workers 4 --threads 2
