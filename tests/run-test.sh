#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one test program with a time limit: a hung test fails, never hangs CI.
# HPOOL_TEST_TIMEOUT (seconds) overrides the default.
exec timeout -k 5 "${HPOOL_TEST_TIMEOUT:-300}" "$@"
