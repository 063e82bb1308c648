#!/usr/bin/env python3
"""Plain pytest against `proctor run` on a generated suite of many fast tests.

    python3 benchmarks/many_tests.py PROCTOR TESTS [RUNS]

Writes a suite of TESTS parametrized tests (each an assertion) under
target/bench-many/TESTS, then takes turns, RUNS rounds (default 3): plain
`pytest -q`, `proctor run -j 1` and `proctor run -j N` (N: the machine's
cores). Prints each command's median wall time and median CPU time
(user and system, children included) and the ratios to plain pytest.
"""

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def write_suite(root: Path, tests: int) -> None:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "tests" / "test_many.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('i', range({tests}))\n"
        "def test_value(i):\n"
        "    assert i >= 0\n"
    )
    (root / "proctor.json").write_text(
        '{"sources": [{"name": "py", "runner": "pytest", "path": "tests"}]}\n'
    )


def timed(command, cwd):
    """Wall and CPU seconds of one run, the command's children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def compare_with_pytest(proctor, tests, root, runs, title, python="python3"):
    """Takes turns, RUNS rounds: plain pytest on `tests` (under `python`),
    `proctor run -j 1` and `-j N` (N: the machine's cores) on
    root/proctor.json; prints each command's median wall and CPU time and
    its ratios to plain pytest."""
    jobs = str(os.cpu_count())
    commands = {
        "pytest": [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests],
        "proctor -j 1": [proctor, "run", "proctor.json", "-j", "1"],
        f"proctor -j {jobs}": [proctor, "run", "proctor.json", "-j", jobs],
    }
    take_turns(commands, root, runs, title)


def take_turns(commands, root, runs, title):
    """Runs `commands` in `root` in turns, RUNS rounds; prints each one's
    median wall and CPU time and its ratios to the first."""
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed(command, root))
    first = next(iter(samples.values()))
    base_wall = statistics.median(w for w, _ in first)
    base_cpu = statistics.median(c for _, c in first)
    print(f"{title}, median of {runs} runs, taking turns:")
    for name, runs_of in samples.items():
        wall = statistics.median(w for w, _ in runs_of)
        cpu = statistics.median(c for _, c in runs_of)
        print(
            f"  {name:<22} wall {wall:7.2f}s ({wall / base_wall:.3f}x)"
            f"  cpu {cpu:7.2f}s ({cpu / base_cpu:.3f}x)"
        )


def main(argv):
    proctor, tests = os.path.abspath(argv[1]), int(argv[2])
    runs = int(argv[3]) if len(argv) > 3 else 3
    root = Path(__file__).resolve().parent.parent / "target" / "bench-many" / str(tests)
    write_suite(root, tests)
    compare_with_pytest(proctor, "tests", root, runs, f"{tests} tests")


if __name__ == "__main__":
    main(sys.argv)
