#!/bin/sh
# build-release.sh: build an optimised (-O2, no sanitizers) geodnsd from a
# snapshot of the working tree, outside the source directory, and print the
# binary's path on stdout.
#   GEODNSD=$(bench/lib/build-release.sh) bench/compare.sh
#   bench/lib/build-release.sh [OUTDIR]     (default /tmp/geodnsd-bench-build)
#
# Why a snapshot: when the source directory itself is configured (an in-tree
# ./configure, as tools/test may leave), automake refuses out-of-tree builds
# ("source directory already configured"), so tools/build cannot make
# build/release.  Copying the tracked and untracked-but-not-ignored files
# into OUTDIR/src and building there works in every state of the tree and
# never touches it.  Progress goes to stderr; only the path goes to stdout.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-${TMPDIR:-/tmp}/geodnsd-bench-build}
src=$out/src
rm -rf "$src"
mkdir -p "$src"
cd "$top"
# Every file git knows or would add, that exists now.
# shellcheck disable=SC2016 # $f is expanded by the inner sh
git ls-files -z --cached --others --exclude-standard |
	xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
	tar --null -T - -cf - | (cd "$src" && tar -xf -)
cd "$src"
echo "build-release: snapshot of $top in $src; autoreconf, configure, make" >&2
autoreconf -fi >"$out/autoreconf.log" 2>&1 ||
	{ cat "$out/autoreconf.log" >&2; exit 1; }
./configure --quiet CFLAGS="-g -O2" >"$out/configure.log" 2>&1 ||
	{ cat "$out/configure.log" >&2; exit 1; }
make -j"$(nproc)" geodnsd >"$out/make.log" 2>&1 ||
	{ tail -40 "$out/make.log" >&2; exit 1; }
echo "$src/geodnsd"
