#!/usr/bin/env python3
"""The host's instructions a test, counted by callgrind: a figure that does
not move with the machine's load, for comparing two builds.

    python3 benchmarks/host_instructions.py PROCTOR [PROCTOR...] [--tests N] [--layouts]

Runs `proctor run -j 1` on the suite `many_tests.py` writes (default 10,000
tests) once under `valgrind --tool=callgrind` for each PROCTOR, its store
warmed as `host_cost.py` warms it, and prints the instructions the host
process executed (its threads and the plugins loaded into it, not the test
processes, which callgrind does not follow) per test. Under callgrind the
host runs some thirty times slower than the test processes, so it reads
their output in larger pieces than it would: fewer, larger calls.
With `--layouts`, each PROCTOR is counted writing results layout 1, then
layout 2. Needs valgrind.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from host_cost import bench_dir, warm_store
from many_tests import write_suite


def callgrind_totals(command, cwd, env, output=subprocess.DEVNULL):
    """Instructions each process of `command` executed under callgrind
    (a process it forks is counted apart; its children are not followed).
    Its stdout and stderr go to `output`: a pipe, as the host gives a test
    process, costs a process more than /dev/null does."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", *command],
            cwd=cwd,
            stdout=output,
            stderr=output,
            env=env,
            check=False,
        )
        counts = []
        for profile in Path(out).iterdir():
            totals = re.search(r"^totals: (\d+)", profile.read_text(), re.M)
            if totals:
                counts.append(int(totals[1]))
    if not counts:
        sys.exit("callgrind wrote no profile: is valgrind installed?")
    return counts


def instructions(proctor, root, extra=()):
    """Instructions of the host process (the largest count: the process CI
    starts only forks the host and waits)."""
    env = {**os.environ, "PROCTOR_STORE": str(root / "history.db"), "NO_COLOR": "1"}
    command = [proctor, "run", "proctor.json", "-j", "1", *extra]
    return max(callgrind_totals(command, root, env))


def main(argv):
    parser = argparse.ArgumentParser(description="The host's instructions a test.")
    parser.add_argument("proctor", nargs="+")
    parser.add_argument("--tests", type=int, default=10000)
    parser.add_argument("--layouts", action="store_true", help="count layouts 1 and 2")
    args = parser.parse_args(argv[1:])
    layouts = ["1", "2"] if args.layouts else [None]
    tests = args.tests
    root = bench_dir() / str(tests)
    write_suite(root, tests)
    print(f"host instructions a test, proctor run -j 1 on {tests} pytest tests (callgrind)")
    for proctor in args.proctor:
        proctor = os.path.abspath(proctor)
        warm_store(proctor, root)
        for layout in layouts:
            extra = ["--results-layout", layout] if layout else []
            count = instructions(proctor, root, extra)
            written = f"  (layout {layout})" if layout else ""
            print(f"{count / tests / 1000:>8.1f}k  {proctor}{written}")


if __name__ == "__main__":
    main(sys.argv)
