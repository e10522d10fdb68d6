#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports hpool_* symbols only (no hpool__ internals,
# nothing unprefixed). Fails when a symbol leaks.
set -eu
lib="${top_builddir:-.}/.libs/libhpool.so"
[ -f "$lib" ] || { echo "missing $lib"; exit 1; }
# Names drop their @@HPOOL_0.2 version (nm -D shows it); type A is the
# version node itself, not a symbol anyone calls. tests/check_symver.sh
# checks the versions.
syms=$(${NM:-nm} -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort)
[ -n "$syms" ] || { echo "no exported symbols in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^hpool_[a-z]' || true)
bad="$bad$(printf '%s\n' "$syms" | grep '^hpool__' || true)"
if [ -n "$bad" ]; then
	echo "symbols exported that are not hpool_*:"; printf '%s\n' "$bad"
	exit 1
fi
for s in hpool_create hpool_map hpool_submit hpool_wait hpool_imap \
	hpool_next hpool_shm_alloc hpool_strerror hpool_last_error; do
	printf '%s\n' "$syms" | grep -qx "$s" || { echo "missing export $s"; exit 1; }
done
echo "exports: $(printf '%s\n' "$syms" | wc -l) symbols, all hpool_*"
