#!/usr/bin/env python3
"""What proctor adds to a GoogleTest run whatever its tests do.

    python3 benchmarks/fixed_cost.py PROCTOR [RUNS] [--against OTHER]

Builds two GoogleTest binaries under target/bench-fixed, one of a single
test and one of 500 tests that assert nothing, then takes turns, RUNS
rounds (default 21): each binary run directly, output discarded, and
under `proctor run -j 1`, recording into the user's store as a run does
by default; with `--against`, another build's run takes its turn before
PROCTOR's. Prints medians in milliseconds: what proctor adds to the one
test is its fixed cost, and what it adds to the 500 besides is its cost
a test. It needs g++ and Debian's libgtest-dev.
"""

import argparse
import os
import subprocess
from pathlib import Path

from many_tests import take_turns

SUITES = {"one": 1, "many": 500}


def build(root: Path, name: str, tests: int) -> None:
    source = root / f"{name}.cc"
    source.write_text(
        "#include <gtest/gtest.h>\n"
        + "".join(f"TEST(Suite{i // 50}, Case{i % 50}) {{ EXPECT_EQ(1, 1); }}\n"
                  for i in range(tests))
    )
    subprocess.run(
        ["g++", "-O1", source, "-o", root / name, "-lgtest", "-lgtest_main", "-pthread"],
        check=True,
    )
    (root / f"{name}.json").write_text(
        f'{{"sources": [{{"name": "g", "runner": "gtest", "path": "{name}"}}]}}\n'
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proctor")
    parser.add_argument("runs", nargs="?", type=int, default=21)
    parser.add_argument("--against", metavar="OTHER")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent / "target" / "bench-fixed"
    root.mkdir(parents=True, exist_ok=True)
    builds = [("", os.path.abspath(args.proctor))]
    if args.against:
        builds.insert(0, ("OTHER ", os.path.abspath(args.against)))
    for name, tests in SUITES.items():
        build(root, name, tests)
        commands = {"binary": [f"./{name}"]}
        for label, proctor in builds:
            commands[f"{label}proctor -j 1"] = [proctor, "run", f"{name}.json", "-j", "1"]
        take_turns(commands, root, args.runs, f"{tests} GoogleTest tests", unit=("ms", 1000))


if __name__ == "__main__":
    main()
