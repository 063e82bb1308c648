#!/usr/bin/env bash
# What holding each test process in a cgroup of its own costs: the 500-test
# GoogleTest suite run isolated (500 processes, each ~2 ms of work), by an
# earlier build, by this one with cgroups, and by this one sweeping /proc
# instead (PROCTOR_CONTAINMENT=sweep), taking turns.
#   bash benchmarks/containment.sh REVISION [RUNS]
# Run benchmarks/against_build.sh REVISION first: it builds both and the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${2:-7}
root=$(pwd)
old=$root/target/earlier-build/target/release/proctor
new=$root/target/release/proctor
bench=target/bench
[ -x "$old" ] && [ -x "$bench/gtest_suite" ] || {
  echo "build first: bash benchmarks/against_build.sh $1 1" >&2
  exit 2
}
config=proctor-gtest-isolated.json
echo '{"sources": [{"name": "gt", "runner": "gtest", "path": "gtest_suite", "mode": "isolated"}]}' \
  >"$bench/$config"
for jobs in 1 "$(nproc)"; do
  medians=$(cd "$bench" && python3 "$root/benchmarks/interleave.py" "$runs" \
    -- "$old" run "$config" -j "$jobs" \
    -- "$new" run "$config" -j "$jobs" \
    -- env PROCTOR_CONTAINMENT=sweep "$new" run "$config" -j "$jobs")
  # shellcheck disable=SC2086
  set -- $medians
  awk -v o="$1" -v c="$2" -v s="$3" -v j="$jobs" 'BEGIN {
    printf "500 isolated GoogleTest processes, -j %d: earlier %.3fs, cgroup %.3fs (%.3f), sweep %.3fs (%.3f)\n",
      j, o, c, c / o, s, s / o }'
done
