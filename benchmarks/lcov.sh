#!/usr/bin/env bash
# LCOV merging: proctor's lcov-merge processor against `lcov --add-tracefile`
# on the same real tracefiles.
#   bash benchmarks/lcov.sh [RUNS] [TRACEFILES]
# The tracefiles are real gcov data: the 500-test GoogleTest suite of
# make_suites.py, built with --coverage together with GoogleTest's own
# sources, run once per tracefile on a different subset of its tests and
# captured with `lcov --capture` (branch data on). They are made once and
# kept in target/bench/lcov. Needs g++, Debian's googletest sources and lcov.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
count=${2:-40}
root=$(pwd)
work=target/bench/lcov
mkdir -p "$work"
gtest=/usr/src/googletest/googletest

python3 benchmarks/make_suites.py target/bench >/dev/null
if [ ! -x "$work/suite" ]; then
    g++ -O0 --coverage -I$gtest -I$gtest/include $gtest/src/gtest-all.cc $gtest/src/gtest_main.cc \
        target/bench/gtest_suite.cc -o "$work/suite" -pthread
fi
files=()
for k in $(seq 1 "$count"); do
    tracefile="$work/t$k.info"
    if [ ! -s "$tracefile" ]; then
        (cd "$work" && rm -f ./*.gcda && ./suite --gtest_filter="*$((k % 10))*:*_$((k % 50))" >/dev/null &&
            lcov --quiet --capture --rc lcov_branch_coverage=1 -d . -o "t$k.info" 2>/dev/null)
    fi
    files+=("$tracefile")
done
megabytes=$(du -cm "${files[@]}" | tail -1 | cut -f1)

cargo build --release -q -p proctor-processor-lcov-merge --example merge
add=()
for f in "${files[@]}"; do add+=(-a "$f"); done
mkdir -p "$work/ours"
read -r theirs ours < <(python3 "$root/benchmarks/interleave.py" "$runs" \
    -- lcov --quiet --rc lcov_branch_coverage=1 "${add[@]}" -o "$work/lcov.info" \
    -- target/release/examples/merge "$work/ours" "${files[@]}")
echo "merging $count real tracefiles, $megabytes MB in all, median of $runs runs:"
echo "  lcov --add-tracefile:  ${theirs}s ($(awk -v m="$megabytes" -v t="$theirs" 'BEGIN {printf "%.1f", m/t}') MB/s)"
echo "  proctor lcov-merge:    ${ours}s ($(awk -v m="$megabytes" -v t="$ours" 'BEGIN {printf "%.1f", m/t}') MB/s)"
awk -v a="$theirs" -v b="$ours" 'BEGIN {printf "  lcov / lcov-merge:     %.1fx\n", a/b}'
