#!/bin/sh
# SPDX-License-Identifier: MIT
# libhpool.so's dynamic symbol table (objdump -T): every defined symbol is
# an hpool_* call carrying the version node HPOOL_0.2 of src/libhpool.map,
# and nothing else is exported (the node's own name aside). Fails naming
# each symbol that breaks the rule, and when a public call is missing.
set -eu
lib="${top_builddir:-.}/.libs/libhpool.so"
objdump="${OBJDUMP:-objdump}"
node=HPOOL_0.2
[ -f "$lib" ] || { echo "missing $lib"; exit 1; }
command -v "$objdump" >/dev/null 2>&1 ||
	{ echo "check_symver: no objdump; skipped"; exit 77; }

# Lines of defined symbols: "ADDR FLAGS SECTION SIZE VERSION NAME".
table=$("$objdump" -T "$lib" | grep -E '^[0-9a-f]{8,} ' | grep -v '\*UND\*' || true)
[ -n "$table" ] || { echo "no defined dynamic symbols in $lib"; exit 1; }

bad=$(printf '%s\n' "$table" | awk -v node="$node" '
	{ name = $NF; ver = $(NF - 1) }
	ver ~ /^[0-9a-f]+$/ { ver = "none" }   # no version: the size column
	name == node && ver == node { next }   # the version node itself
	name !~ /^hpool_[a-z]/ || name ~ /^hpool__/ {
		print "  exported but not a public call: " name " (" ver ")"; next }
	ver != node { print "  " name ": version " ver ", want " node }')
if [ -n "$bad" ]; then
	echo "check_symver: $lib breaks the export rule:"
	printf '%s\n' "$bad"
	exit 1
fi

names=$(printf '%s\n' "$table" | awk '{ print $NF }' | grep '^hpool_' | sort)
for s in hpool_create hpool_destroy hpool_map hpool_submit hpool_wait \
	hpool_imap hpool_next hpool_shm_alloc hpool_strerror \
	hpool_last_error hpool_version; do
	printf '%s\n' "$names" | grep -qx "$s" ||
		{ echo "check_symver: $s is not exported"; exit 1; }
done
echo "symver: $(printf '%s\n' "$names" | wc -l) symbols, all hpool_*@@$node"
