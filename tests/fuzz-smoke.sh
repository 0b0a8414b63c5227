#!/bin/sh
# fuzz-smoke.sh: build the libFuzzer targets and run each for a few seconds
# over a copy of its seed corpus; any crash, leak, timeout or OOM fails.
# Skips (77) without clang and libFuzzer.  Run from the build directory
# (make check does); docs/fuzzing.md explains long runs.
# Environment: FUZZ_CC (default clang), FUZZ_SECONDS (default 10), MAKE.
set -u
top_srcdir=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-10}
targets="answer zone conf"

skip() {
	echo "SKIP: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 77
}

[ -f Makefile ] || { echo "fuzz-smoke: run from the build directory"; exit 99; }
command -v "$cc" >/dev/null 2>&1 ||
	skip "$cc not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"

work=$(mktemp -d "${TMPDIR:-/tmp}/geodnsd-fuzz-smoke.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT INT TERM

printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	>"$work/probe.c"
"$cc" -fsanitize=fuzzer,address,undefined -o "$work/probe" "$work/probe.c" \
	>"$work/probe.log" 2>&1 ||
	skip "$cc cannot build libFuzzer targets (Debian: apt-get install libclang-rt-14-dev): $(head -n 1 "$work/probe.log")"

# make check does not hand its jobserver to tests: start a make of our own.
echo "fuzz-smoke: building the fuzz targets"
if ! MAKEFLAGS= MFLAGS= MAKELEVEL= "${MAKE:-make}" -j2 \
	--no-print-directory FUZZ_CC="$cc" fuzz >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	echo "fuzz-smoke: make fuzz failed"
	echo "0 passed, 3 failed"
	exit 1
fi

# The three run side by side: libFuzzer is single-threaded.
for t in $targets; do
	mkdir -p "$work/corpus-$t" "$work/art-$t"
	cp "$top_srcdir/fuzz/corpus/$t/"* "$work/corpus-$t/" || exit 99
	./fuzz/fuzz_$t -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/art-$t/" \
		"$work/corpus-$t" >"$work/$t.log" 2>&1 &
	eval "pid_$t=$!"
done

passed=0 failed=0
for t in $targets; do
	eval "wait \$pid_$t"
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
	if [ $rc -eq 0 ]; then
		echo "ok - fuzz_$t: ${runs:-?} inputs in ${seconds}s, no crash"
		passed=$((passed + 1))
		continue
	fi
	# libFuzzer exits 77 on a crash by default: never let that read as SKIP.
	echo "not ok - fuzz_$t: exit $rc"
	failed=$((failed + 1))
	# The report from its first line, less ASan's shadow-byte legend.
	sed -n '/ERROR: \|^fuzz: \|^SUMMARY: /,$p' "$work/$t.log" |
		grep -v '^  0x\|^Shadow\|^  [A-Z][a-z].*: ' | head -n 60
	mkdir -p fuzz/artifacts
	for a in "$work/art-$t/"*; do
		[ -f "$a" ] || continue
		cp "$a" "fuzz/artifacts/fuzz_$t-$(basename "$a")"
		echo "reproducer kept as fuzz/artifacts/fuzz_$t-$(basename "$a"):"
		od -An -c "$a" | head -n 40
		echo "re-run: ./fuzz/fuzz_$t fuzz/artifacts/fuzz_$t-$(basename "$a")"
	done
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
