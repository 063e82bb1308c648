#!/usr/bin/env bash
# Measures this build against an earlier one on the benchmark suites, the
# builds taking turns with the tools they stand beside, so that a change is
# shown not to cost the figures of BENCHMARKS.md.
#   bash benchmarks/against_build.sh REVISION [RUNS]
# REVISION is built in release in a worktree under target/ (its plugins
# beside its binary); prints each suite's median wall times over RUNS runs
# (default 7) and the ratio of this build to the earlier one.
set -euo pipefail
cd "$(dirname "$0")/.."
revision=$1
runs=${2:-7}
root=$(pwd)
earlier=$root/target/earlier-build
if [ ! -d "$earlier" ]; then
    git worktree add --detach "$earlier" "$revision" >/dev/null
else
    git -C "$earlier" checkout -q --detach "$revision"
fi
(cd "$earlier" && cargo build --release --workspace --exclude proctor-e2e -q)
cargo build --release --workspace --exclude proctor-e2e -q
old=$earlier/target/release/proctor
new=$root/target/release/proctor

suite=benchmarks/suite
cargo test --no-run --manifest-path $suite/Cargo.toml -q 2>/dev/null
bench=target/bench
python3 benchmarks/make_suites.py $bench
g++ -O1 $bench/gtest_suite.cc -o $bench/gtest_suite -lgtest -lgtest_main -pthread
jobs=$(nproc)

report() { # label, then the medians: direct, old -j1, new -j1, old -jN, new -jN
  echo "$1, median of $runs runs (direct, then earlier and this build):"
  awk -v d="$2" -v o1="$3" -v n1="$4" -v oj="$5" -v nj="$6" -v j="$jobs" 'BEGIN {
    printf "  direct %.3fs\n", d
    printf "  -j 1: earlier %.3fs, this %.3fs, this/earlier %.3f\n", o1, n1, n1/o1
    printf "  -j %d: earlier %.3fs, this %.3fs, this/earlier %.3f\n", j, oj, nj, nj/oj }'
}
measure() { # label, directory, config, direct command...
  local label=$1 dir=$2 config=$3; shift 3
  local medians
  medians=$(cd "$dir" && python3 "$root/benchmarks/interleave.py" "$runs" \
    -- "$@" \
    -- "$old" run "$config" -j 1 -- "$new" run "$config" -j 1 \
    -- "$old" run "$config" -j "$jobs" -- "$new" run "$config" -j "$jobs")
  # shellcheck disable=SC2086
  report "$label" $medians
}
measure "200 libtest tests" "$root" $suite/proctor.json \
  cargo nextest run --manifest-path $suite/Cargo.toml -j "$jobs"
measure "500 pytest tests" $bench proctor-pytest.json python3 -m pytest -q -p no:cacheprovider pytest
measure "500 GoogleTest tests" $bench proctor-gtest.json ./gtest_suite
