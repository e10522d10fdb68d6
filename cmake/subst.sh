#!/bin/sh
# SPDX-License-Identifier: MIT
# Make hpoolConfig.cmake from its template at make time, when the
# installation directories are final (a make-time prefix= counts):
#   cmake/subst.sh IN OUT PREFIX LIBDIR INCLUDEDIR STATIC-DEPS...
# Directories under PREFIX are written relative to the installed file's
# own place ($LIBDIR/cmake/hpool), so the tree can be moved or staged with
# DESTDIR; others stay absolute.
set -eu
in=$1 out=$2 prefix=$3 libdir=$4 includedir=$5
shift 5
deps="$*"

# ../ once per directory between PREFIX and $LIBDIR/cmake/hpool.
up=.
case "$libdir" in
"$prefix"/*)
	rest="${libdir#"$prefix"/}/cmake/hpool"
	up=
	oldifs=$IFS
	IFS=/
	for part in $rest; do
		[ -n "$part" ] && up="$up${up:+/}.."
	done
	IFS=$oldifs
	;;
esac

# rel DIR: DIR as CMake should write it.
rel() {
	case "$1" in
	"$prefix"/*) if [ "$up" != . ]; then
			echo "\${_hpool_prefix}/${1#"$prefix"/}"
			return
		fi ;;
	esac
	echo "$1"
}

sed -e "s|@CMAKE_UP@|$up|g" \
	-e "s|@CMAKE_LIBDIR@|$(rel "$libdir")|g" \
	-e "s|@CMAKE_INCLUDEDIR@|$(rel "$includedir")|g" \
	-e "s|@CMAKE_STATIC_DEPS@|$deps|g" "$in" >"$out.tmp"
mv "$out.tmp" "$out"
