#!/usr/bin/env bash
# Benchmarks proctor against the tool a user would pick instead.
#   bash benchmarks/run.sh [RUNS]
# Prints the median wall time of each command over RUNS runs (default 7),
# the commands compared taking turns, and their ratio, then the plugin
# micro-benchmarks, the 1 GiB download against curl (download.py; it needs
# GNU time for peak memory), the LCOV merge against lcov (lcov.sh; it
# needs lcov and Debian's googletest sources), incremental merging against
# merging after the run (merging.py) and dump compression against pigz and
# gzip (dumps.py; it needs pigz), and what catching faults for crash dumps
# costs a run (tracing.py), and running plugins out of process against in
# process (isolation.py). Run on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
cargo build --release --workspace --exclude proctor-e2e -q
proctor=target/release/proctor
suite=benchmarks/suite

# Build the suite once for both tools; each then does its own no-op cargo check.
cargo test --no-run --manifest-path $suite/Cargo.toml -q 2>/dev/null
cargo nextest run --manifest-path $suite/Cargo.toml --no-run >/dev/null 2>&1

# Median wall seconds of each command, the commands taking turns (see interleave.py).
interleave() { python3 "$root/benchmarks/interleave.py" "$runs" "$@"; }
root=$(pwd)

jobs=$(nproc)
read -r nextest ours startup < <(interleave \
  -- cargo nextest run --manifest-path $suite/Cargo.toml -j "$jobs" \
  -- $proctor run $suite/proctor.json -j "$jobs" \
  -- $proctor --version)
echo "200 libtest tests, one process each, $jobs jobs, median of $runs runs:"
echo "  cargo nextest run: ${nextest}s"
echo "  proctor run:       ${ours}s"
awk -v a="$ours" -v b="$nextest" 'BEGIN {printf "  proctor / nextest: %.2f\n", a/b}'
echo "proctor --version: ${startup}s"

# pytest and GoogleTest: 500 tests each, against running the tool directly.
bench=target/bench
python3 benchmarks/make_suites.py $bench
g++ -O1 $bench/gtest_suite.cc -o $bench/gtest_suite -lgtest -lgtest_main -pthread
proctor_abs=$(pwd)/$proctor
compare() { # label, direct command..., then proctor's config as the last argument
  local label=$1; shift
  local config=${*: -1}
  local direct=("${@:1:$#-1}")
  local plain one all
  read -r plain one all < <(cd $bench && interleave \
    -- "${direct[@]}" \
    -- "$proctor_abs" run "$config" -j 1 \
    -- "$proctor_abs" run "$config" -j "$jobs")
  echo "$label, median of $runs runs:"
  echo "  direct:             ${plain}s"
  echo "  proctor run -j 1:   ${one}s"
  echo "  proctor run -j $jobs:   ${all}s"
  awk -v a="$one" -v b="$all" -v p="$plain" 'BEGIN {printf "  proctor / direct:   %.2f (-j 1), %.2f (-j %d)\n", a/p, b/p, '"$jobs"'}'
}
compare "500 pytest tests" python3 -m pytest -q -p no:cacheprovider pytest proctor-pytest.json
compare "500 GoogleTest tests" ./gtest_suite proctor-gtest.json
cargo bench -q -p proctor --bench plugin_abi 2>/dev/null
python3 benchmarks/download.py "$runs"
bash benchmarks/lcov.sh "$runs"
python3 benchmarks/merging.py "$runs"
python3 benchmarks/dumps.py "$runs"
python3 benchmarks/tracing.py "$runs"
python3 benchmarks/isolation.py "$proctor" "$runs"
