#!/bin/sh
# SPDX-License-Identifier: MIT
# The manual is complete and clean:
#   - every hpool_* function declared with HPOOL_API in include/hpool.h has
#     a page man/man3/NAME.3 (a page of its own, or a .so link to the page
#     that documents it, which lists NAME under .Nm), and Makefile.am
#     installs it (dist_man_MANS);
#   - every .so link points at a page that exists;
#   - every page passes `mandoc -T lint -W warning` without a word (the
#     .so links are checked for their target only: mandoc always warns
#     that .so is fragile, and what a reader sees is the target).
# Without mandoc the lint is skipped (77) after the other checks.
set -u
srcdir=$(cd "${top_srcdir:-.}" && pwd)
mandoc=${MANDOC:-mandoc}
fail=0
bad() { echo "check_man: $*"; fail=1; }

calls=$(sed -n 's/^HPOOL_API[^(]*[ *]\(hpool_[a-z0-9_]*\)(.*/\1/p' \
	"$srcdir/include/hpool.h" | sort -u)
[ -n "$calls" ] || { bad "no HPOOL_API calls found in include/hpool.h"; exit 1; }
for c in $calls; do
	page=$srcdir/man/man3/$c.3
	if [ ! -f "$page" ]; then
		bad "$c: no man/man3/$c.3"
		continue
	fi
	grep -q "man/man3/$c\.3" "$srcdir/Makefile.am" ||
		bad "$c: man/man3/$c.3 is not in Makefile.am's dist_man_MANS"
	target=$(sed -n 's/^\.so  *//p' "$page")
	[ -n "$target" ] || target=man3/$c.3
	if [ ! -f "$srcdir/man/$target" ]; then
		bad "$c: man/man3/$c.3 links to $target, which does not exist"
	elif ! grep -q "^\.Nm $c\( \|$\)" "$srcdir/man/$target"; then
		bad "$c: man/$target does not name it (.Nm $c)"
	fi
done

pages=
links=0
for p in $(cd "$srcdir/man" && ls man3/*.3 man7/*.7); do
	target=$(sed -n 's/^\.so  *//p' "$srcdir/man/$p")
	if [ -z "$target" ]; then
		pages="$pages $p"
		continue
	fi
	links=$((links + 1))
	[ -f "$srcdir/man/$target" ] || bad "$p: .so $target does not exist"
	[ "$(grep -cv '^\.\\"' "$srcdir/man/$p")" = 1 ] ||
		bad "$p: a .so link holds nothing but comments and the .so line"
done

if ! command -v "$mandoc" >/dev/null 2>&1; then
	[ $fail -eq 0 ] || exit 1
	echo "check_man: no mandoc; $(echo "$calls" | wc -l) calls have pages, lint skipped"
	exit 77
fi
# From man/, so that the .so links (man3/...) resolve.
lint=$(cd "$srcdir/man" && "$mandoc" -T lint -W warning $pages 2>&1)
if [ -n "$lint" ]; then
	printf '%s\n' "$lint"
	bad "mandoc -T lint -W warning is not silent"
fi
[ $fail -eq 0 ] || exit 1
echo "check_man: $(echo "$calls" | wc -l) calls, $(echo "$pages" | wc -w) pages and $links .so links, lint clean"
