#!/bin/sh
# SPDX-License-Identifier: MIT
# Add "SPDX-License-Identifier: MIT" to every source file that lacks one,
# in the comment syntax of its type, as the first line (after a #! line
# when there is one). Idempotent: a file that has an SPDX line in its first
# 5 lines is left alone, so it can be run again after every merge.
#   tools/add-spdx.sh            every source file (as tests/check_spdx.sh
#                                lists them)
#   tools/add-spdx.sh FILE...    just these (paths as the tree names them:
#                                man/..., build.sh, .ci/run)
set -eu
id='SPDX-License-Identifier: MIT'

# The same list and filter as tests/check_spdx.sh.
list() {
	if command -v git >/dev/null 2>&1 &&
		[ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ]; then
		git ls-files -co --exclude-standard
	else
		find . \( -name .git -o -name autom4te.cache -o -name '_build*' \
			-o -name _inst -o -path ./build-aux -o -path ./m4 \) \
			-prune -o -type f -print | sed 's|^\./||'
	fi
}

# line PATH: the SPDX line in PATH's comment syntax; nothing when PATH is
# not a source file.
line() {
	case "$1" in
	Makefile.in | */Makefile.in | config.h.in | build-aux/* | m4/*) ;;
	*.c | *.h | *.map | *.c.in | *.h.in) printf '%s\n' "/* $id */" ;;
	man/*.[1-9]) printf '%s\n' ".\\\" $id" ;;
	*.sh | *.py | *.am | *.ac | *.gp | *.in | *.cmake) printf '%s\n' "# $id" ;;
	CMakeLists.txt | */CMakeLists.txt | build.sh | .ci/run) printf '%s\n' "# $id" ;;
	esac
}

added=0
if [ $# -eq 0 ]; then
	cd "$(dirname "$0")/.."
	set -- $(list)
fi
for f in "$@"; do
	[ -f "$f" ] || continue
	l=$(line "$f")
	[ -n "$l" ] || continue
	head -n 5 "$f" | grep -q 'SPDX-License-Identifier: ' && continue
	tmp="$f.spdx.$$"
	# After a #! line, else first. `cat >` keeps the file's mode.
	L=$l awk 'NR == 1 && /^#!/ { print; print ENVIRON["L"]; next }
		NR == 1 { print ENVIRON["L"] } { print }' "$f" >"$tmp"
	cat "$tmp" >"$f"
	rm -f "$tmp"
	echo "add-spdx: $f"
	added=$((added + 1))
done
echo "add-spdx: $added file(s) changed"
