#!/usr/bin/env python3
"""What starting a test process costs when tests are not quick.

    python3 benchmarks/isolated_slow.py PROCTOR [PROCTOR ...] [--runs N]

Builds a GoogleTest binary of 20 tests that each sleep 60 ms
(target/bench/slow), and times it run directly and under each proctor
given, one process a test on one job, the commands taking turns, N rounds
(default 7). With PROCTOR_CONTAINMENT=sweep set for the last of them as
well. Prints each median and its ratio to the binary run directly.

Tests this slow leave the kernel idle between two test processes long
enough that moving a process into a cgroup waits out a grace period again
each time; a process born in its group does not wait.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS, SLEEP_MS = 20, 60


def build(into):
    into.mkdir(parents=True, exist_ok=True)
    source = into / "slow.cc"
    lines = ["#include <gtest/gtest.h>", "#include <chrono>", "#include <thread>"]
    lines += [
        f"TEST(Slow, T{i}) {{ std::this_thread::sleep_for(std::chrono::milliseconds({SLEEP_MS})); }}"
        for i in range(TESTS)
    ]
    source.write_text("\n".join(lines) + "\n")
    binary = into / "slow"
    subprocess.run(
        ["g++", "-O1", str(source), "-o", str(binary), "-lgtest", "-lgtest_main", "-pthread"],
        check=True,
    )
    config = into / "proctor-slow.json"
    config.write_text(
        '{"sources": [{"name": "slow", "runner": "gtest", "path": "slow", "mode": "isolated"}]}'
    )
    return binary, config


def main(argv):
    runs = 7
    if "--runs" in argv:
        at = argv.index("--runs")
        runs = int(argv[at + 1])
        del argv[at : at + 2]
    proctors = [str(Path(p).resolve()) for p in argv[1:]]
    if not proctors:
        sys.exit(__doc__)
    into = ROOT / "target" / "bench" / "slow"
    binary, config = build(into)
    commands = [[str(binary)]]
    commands += [[p, "run", config.name, "-j", "1"] for p in proctors]
    commands.append(["env", "PROCTOR_CONTAINMENT=sweep", proctors[-1], "run", config.name, "-j", "1"])
    argv = [sys.executable, str(ROOT / "benchmarks" / "interleave.py"), str(runs)]
    for command in commands:
        argv += ["--", *command]
    medians = [float(m) for m in subprocess.run(
        argv, cwd=into, check=True, capture_output=True, text=True
    ).stdout.split()]
    names = ["binary"] + proctors[:-1] + [proctors[-1], f"{proctors[-1]} (sweep)"]
    for name, median in zip(names, medians):
        print(f"{median:.3f} s  {median / medians[0]:.3f}x  {name}")


if __name__ == "__main__":
    main(sys.argv)
