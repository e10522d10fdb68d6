#!/bin/sh
# SPDX-License-Identifier: MIT
# The installed tree works for a program outside it. `make install
# DESTDIR=tmp`, then tests/consumer/consumer.c is built against what was
# installed, four ways:
#   shared   cc ... $(pkg-config --cflags --libs hpool)
#   static   cc ... $(pkg-config --static --libs hpool), libhpool.a for
#            -lhpool; the program must not need libhpool.so
#   cmake    find_package(hpool) and hpool::hpool
#   cmake-pc pkg_check_modules(HPOOL REQUIRED IMPORTED_TARGET hpool)
# and each runs with HPOOL_MODE=serial and thread, printing the line it
# must print. pkg-config sees the staged tree through a copy of the
# installed hpool.pc whose prefix= points into DESTDIR (as if configured
# with that prefix). Skipped (77) in sanitizer builds, whose library
# cannot be linked without the sanitizer's runtime; the CMake half is
# skipped without cmake.
set -u
builddir=$(cd "${top_builddir:-.}" && pwd)
srcdir=$(cd "${top_srcdir:-.}" && pwd)
make=${TEST_MAKE:-make}
cc=${CC:-cc}
pkg_config=${PKG_CONFIG:-pkg-config}

if [ -n "${SAN_CFLAGS:-}" ]; then
	echo "check_consumers: sanitizer build ($SAN_CFLAGS); skipped"
	exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
fail=0
say() { echo "check_consumers: $*"; }
bad() { say "FAIL: $*"; fail=1; }

# The install, as a user runs it (a clean make: not the jobserver of the
# make check that runs this script).
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; $make -C "$builddir" install \
	DESTDIR="$root") >"$tmp/install.log" 2>&1; then
	tail -40 "$tmp/install.log"
	bad "make install DESTDIR=... failed"
	exit 1
fi

# Where things went (whatever prefix and libdir configure was given).
pc=$(find "$root" -name hpool.pc -path '*/pkgconfig/*' | head -1)
hdr=$(find "$root" -name hpool.h | head -1)
cfg=$(find "$root" -name hpoolConfig.cmake | head -1)
[ -n "$pc" ] && [ -n "$hdr" ] || { bad "hpool.pc or hpool.h not installed"; exit 1; }
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
incdir=$(dirname "$hdr")
prefix=$(dirname "$incdir")
for f in "$libdir/libhpool.so" "$libdir/libhpool.a" \
	"$prefix/share/man/man3/hpool_map.3" \
	"$prefix/share/man/man3/hpool_wait.3" \
	"$prefix/share/man/man7/hpool.7" \
	"$prefix/share/doc/hpool/LICENSE" \
	"$prefix/share/doc/hpool/docs/design.md" \
	"$prefix/share/doc/hpool/bench/results/chunk.png" \
	"$prefix/share/doc/hpool/examples/ex1_map.c" \
	"$libdir/cmake/hpool/hpoolConfig.cmake" \
	"$libdir/cmake/hpool/hpoolConfigVersion.cmake"; do
	[ -e "$f" ] || bad "not installed: ${f#"$root"}"
done
[ -f "$libdir/libhpool_test.a" ] && bad "the test library was installed"

# run NAME PROG: run in serial and thread mode, check the line.
run() {
	for mode in serial thread; do
		want="consumer: hpool $want_version, $mode mode, sum of squares below 100 = 328350"
		got=$(HPOOL_MODE=$mode LD_LIBRARY_PATH="$libdir" \
			timeout -k 5 60 "$2" 2>&1)
		if [ "$got" = "$want" ]; then
			say "$1 ($mode): ok"
		else
			bad "$1 ($mode): printed '$got', want '$want'"
		fi
	done
}

mkdir "$tmp/pc"
pc_prefix=$(sed -n 's/^prefix=//p' "$pc")
sed "s|^prefix=.*|prefix=$root$pc_prefix|" "$pc" >"$tmp/pc/hpool.pc"
PKG_CONFIG_PATH=$tmp/pc
export PKG_CONFIG_PATH
want_version=$($pkg_config --modversion hpool) ||
	{ bad "pkg-config does not read the installed hpool.pc"; exit 1; }
[ "$($pkg_config --variable=libdir hpool)" = "$libdir" ] ||
	{ bad "hpool.pc's libdir is not where libhpool went"; exit 1; }

# shared, through pkg-config
flags=$($pkg_config --cflags --libs hpool)
if $cc "$srcdir/tests/consumer/consumer.c" $flags -o "$tmp/shared" \
	>"$tmp/cc.log" 2>&1; then
	run shared "$tmp/shared"
else
	cat "$tmp/cc.log"
	bad "shared: cc ... $flags failed"
fi

# static: -l:libhpool.a takes the archive even beside libhpool.so
flags=$($pkg_config --cflags --static --libs hpool |
	sed 's/-lhpool\( \|$\)/-l:libhpool.a\1/')
if $cc "$srcdir/tests/consumer/consumer.c" $flags -o "$tmp/static" \
	>"$tmp/cc.log" 2>&1; then
	if LC_ALL=C ${OBJDUMP:-objdump} -p "$tmp/static" 2>/dev/null |
		grep -q 'NEEDED.*libhpool'; then
		bad "static: the program still needs libhpool.so"
	fi
	say "static: cc consumer.c $flags"
	run static "$tmp/static"
else
	cat "$tmp/cc.log"
	bad "static: cc ... $flags failed"
fi

# CMake: find_package and pkg_check_modules
cmake=${CMAKE:-cmake}
if ! command -v "$cmake" >/dev/null 2>&1; then
	say "no cmake: the CMake consumers skipped"
elif [ -z "$cfg" ]; then
	bad "hpoolConfig.cmake not installed"
elif ! CC=$cc "$cmake" -S "$srcdir/tests/consumer" -B "$tmp/cmake" \
	-DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 ||
	! "$cmake" --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1; then
	cat "$tmp/cmake.log"
	bad "cmake: configuring or building tests/consumer failed"
else
	run cmake "$tmp/cmake/consumer-cmake"
	run cmake-pc "$tmp/cmake/consumer-cmake-pc"
fi

[ $fail -eq 0 ] || exit 1
say "the installed tree serves shared, static and CMake consumers"
