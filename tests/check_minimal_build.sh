#!/bin/sh
# SPDX-License-Identifier: MIT
# The library builds and installs with nothing but hwloc and liburcu.
# configure runs in a temporary build directory with a pkg-config that
# sees only hwloc.pc and liburcu.pc (and what they require), no OpenMP
# (ac_cv_prog_c_openmp=unsupported) and no mpicc:
#   1. --disable-tests --disable-bench: configure, make, make install
#      DESTDIR=...; libhpool.so, libhpool.a and hpool.h are installed, the
#      test library and the benchmarks were not built, and the summary
#      says so;
#   2. --enable-tests in the same setting fails, naming cmocka.
# automake refuses an out-of-tree build from a source tree configured in
# place, so such a tree is copied first (as tests/sanitize.sh does: the
# files git knows plus the generated build system, else `make distdir`).
# Skipped (77) in sanitizer builds: it tests the build system, not code.
set -u
builddir=$(cd "${top_builddir:-.}" && pwd)
srcdir=$(cd "${top_srcdir:-.}" && pwd)
make=${TEST_MAKE:-make}
pkg_config=${PKG_CONFIG:-pkg-config}

if [ -n "${SAN_CFLAGS:-}" ]; then
	echo "check_minimal_build: sanitizer build; skipped"
	exit 77
fi
unset MAKEFLAGS MFLAGS MAKELEVEL
tmp=$(mktemp -d) || exit 1
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
say() { echo "check_minimal_build: $*"; }
die() {
	say "FAIL: $*"
	exit 1
}

# The sources to configure from.
src=$srcdir
if [ -f "$srcdir/config.status" ]; then
	src=$tmp/src
	mkdir "$src"
	if command -v git >/dev/null 2>&1 &&
		[ "$(git -C "$srcdir" rev-parse --show-toplevel 2>/dev/null)" = "$srcdir" ]; then
		(cd "$srcdir" && {
			git ls-files -co --exclude-standard
			ls configure Makefile.in aclocal.m4 config.h.in
			find build-aux m4 -type f
		} | tar -cf - --ignore-failed-read -T - 2>/dev/null) |
			tar -xf - -C "$src" || die "copying the sources failed"
	else
		$make -s -C "$builddir" distdir distdir="$src" >"$tmp/distdir.log" 2>&1 ||
			{ cat "$tmp/distdir.log"; die "make distdir failed"; }
	fi
fi

# A pkg-config directory with hwloc and liburcu, and what they require.
mkdir "$tmp/pc"
mods="hwloc liburcu"
for m in $mods $($pkg_config --print-requires --print-requires-private \
	$mods 2>/dev/null | awk '{ print $1 }'); do
	dir=$($pkg_config --variable=pcfiledir "$m") ||
		die "pkg-config does not know $m"
	ln -sf "$dir/$m.pc" "$tmp/pc/$m.pc"
done
PKG_CONFIG_LIBDIR=$tmp/pc
PKG_CONFIG_PATH=
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
say "pkg-config sees: $(ls "$tmp/pc" | tr '\n' ' ')"

# configure DIR ARGS...: in DIR, without OpenMP or MPI.
configure() {
	dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && "$src/configure" --enable-werror --prefix=/usr/local \
		--cache-file="$tmp/config.cache" ac_cv_prog_c_openmp=unsupported \
		MPICC=/bin/false PKG_CONFIG="$pkg_config" ${CC:+CC="$CC"} "$@") \
		>"$dir.log" 2>&1
}

# 1. The minimal build.
start=$(date +%s)
configure "$tmp/build" --disable-tests --disable-bench ||
	{ tail -30 "$tmp/build.log"; die "configure failed"; }
sed -n '/^hpool .* configured:/,$p' "$tmp/build.log"
for want in 'tests (make check)  no (--disable-tests)' \
	'bench (make bench)  no (--disable-bench)' \
	'OpenMP              no' 'MPI backend         no'; do
	grep -qF "$want" "$tmp/build.log" || die "the summary lacks '$want'"
done
$make -C "$tmp/build" -j2 >"$tmp/make.log" 2>&1 ||
	{ tail -40 "$tmp/make.log"; die "make failed"; }
$make -C "$tmp/build" install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ tail -40 "$tmp/install.log"; die "make install failed"; }
for f in lib/libhpool.so lib/libhpool.a include/hpool.h \
	lib/pkgconfig/hpool.pc share/man/man3/hpool_map.3; do
	[ -e "$tmp/root/usr/local/$f" ] || die "not installed: /usr/local/$f"
done
for f in libhpool_test.la bench/hpool-bench bench/ring-bench; do
	[ -e "$tmp/build/$f" ] && die "built although disabled: $f"
done
say "configure, make, make install: $(($(date +%s) - start)) s"

# 1b. Without MPI, HPOOL_MODE=mpi fails in hpool_create with a clear error.
cat >"$tmp/nompi.c" <<'C'
#include <hpool.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	hpool *p;
	int e = hpool_create(&p, NULL);

	printf("%d %s\n", e, hpool_last_error());
	return e == -22 && strstr(hpool_last_error(), "no MPI backend") ? 0 : 1;
}
C
${CC:-cc} -I"$tmp/root/usr/local/include" "$tmp/nompi.c" \
	-L"$tmp/root/usr/local/lib" -lhpool -o "$tmp/nompi" ||
	die "cannot build the HPOOL_MODE=mpi probe"
HPOOL_MODE=mpi LD_LIBRARY_PATH="$tmp/root/usr/local/lib" "$tmp/nompi" \
	>"$tmp/nompi.out" 2>&1 ||
	{ cat "$tmp/nompi.out"; die "HPOOL_MODE=mpi without MPI: no clear error"; }
say "HPOOL_MODE=mpi without MPI: $(cat "$tmp/nompi.out")"

# 2. Tests asked for, cmocka hidden: configure must refuse, naming it.
if configure "$tmp/build2" --enable-tests --disable-bench; then
	die "configure --enable-tests succeeded without cmocka"
fi
grep -q 'error:.*cmocka' "$tmp/build2.log" ||
	{ tail -5 "$tmp/build2.log"; die "configure --enable-tests failed without naming cmocka"; }
say "configure --enable-tests without cmocka: $(grep 'error:' "$tmp/build2.log")"
say "ok: the library builds and installs with hwloc and liburcu alone"
