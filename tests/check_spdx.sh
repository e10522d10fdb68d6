#!/bin/sh
# SPDX-License-Identifier: MIT
# Every source file carries an SPDX-License-Identifier line near its top
# (tools/add-spdx.sh adds the missing ones). The files: those git knows
# (tracked, or new and not ignored) when the source tree is a git work
# tree, else a find over the tree (a release tarball), either way filtered
# to sources: *.c *.h *.sh *.py *.am *.ac *.gp *.in *.map *.cmake,
# CMakeLists.txt, man pages, build.sh and .ci/run. Generated files
# (Makefile.in, config.h.in, build-aux/, m4/) are not sources. Fails
# naming each file without the line.
set -u
srcdir=$(cd "${top_srcdir:-.}" && pwd -P)
cd "$srcdir" || exit 1

list() {
	if command -v git >/dev/null 2>&1 &&
		[ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$srcdir" ]; then
		git ls-files -co --exclude-standard
	else
		# A tarball, or a build of one (make distcheck builds in _build).
		find . \( -name .git -o -name autom4te.cache -o -name '_build*' \
			-o -name _inst -o -path ./build-aux -o -path ./m4 \) \
			-prune -o -type f -print | sed 's|^\./||'
	fi
}

# is_source PATH: 0 when PATH is a source file that needs the line.
is_source() {
	case "$1" in
	Makefile.in | */Makefile.in | config.h.in | build-aux/* | m4/*) return 1 ;;
	*.c | *.h | *.sh | *.py | *.am | *.ac | *.gp | *.in | *.map | *.cmake) return 0 ;;
	CMakeLists.txt | */CMakeLists.txt | build.sh | .ci/run) return 0 ;;
	man/*.[1-9]) return 0 ;;
	esac
	return 1
}

n=0
missing=
for f in $(list); do
	is_source "$f" || continue
	[ -f "$f" ] || continue
	n=$((n + 1))
	head -n 5 "$f" | grep -q 'SPDX-License-Identifier: ' ||
		missing="$missing $f"
done
[ $n -gt 0 ] || { echo "check_spdx: no source files found in $srcdir"; exit 1; }
if [ -n "$missing" ]; then
	echo "check_spdx: no SPDX-License-Identifier line in the first 5 lines of:"
	for f in $missing; do echo "  $f"; done
	echo "(tools/add-spdx.sh adds it)"
	exit 1
fi
echo "check_spdx: $n source files, each with an SPDX line"
