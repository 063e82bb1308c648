#!/usr/bin/env python3
"""Plain pytest against `proctor run` on a generated suite of many fast tests.

    python3 benchmarks/many_tests.py PROCTOR TESTS [RUNS] [--against OTHER] [--no-store]

Writes a suite of TESTS parametrized tests (each an assertion) under
target/bench-many/TESTS, then takes turns, RUNS rounds (default 3): plain
`pytest -q`, `proctor run -j 1` and `proctor run -j N` (N: the machine's
cores). Prints each command's median wall time and median CPU time
(user and system, children included) and the ratios to plain pytest.
With `--against OTHER`, another build's two runs take their turns beside
PROCTOR's, each before it; with `--no-store`, no run records into the
user's store.
"""

import argparse
import os
import resource
import statistics
import subprocess
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


def with_plugin(plugin_dir, results, base=None) -> dict:
    """The environment of pytest with our plugin from `plugin_dir`, as a
    one-job run gives it, and no host: collected items reported, one share
    of one, results appended to `results`."""
    return dict(
        os.environ if base is None else base,
        PYTHONPATH=str(plugin_dir),
        PROCTOR_PYTEST_COLLECT="1",
        PROCTOR_PYTEST_SHARD="1/1",
        PROCTOR_PYTEST_RESULTS=str(results),
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


def compare_with_pytest(proctor, tests, root, runs, title, python="python3", against=None,
                        run_args=()):
    """Takes turns, RUNS rounds: plain pytest on `tests` (under `python`),
    `proctor run -j 1` and `-j N` (N: the machine's cores) on
    root/proctor.json, with `run_args`; with `against`, that build's two
    runs too, each before PROCTOR's. Prints each command's median wall and
    CPU time and its ratios to plain pytest."""
    builds = [("", proctor)]
    if against is not None:
        builds.insert(0, ("OTHER ", against))
    commands = {"pytest": [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests]}
    for jobs in ("1", str(os.cpu_count())):
        for label, build in builds:
            commands[f"{label}proctor -j {jobs}"] = [
                build, "run", "proctor.json", "-j", jobs, *run_args
            ]
    take_turns(commands, root, runs, title)


def take_turns(commands, root, runs, title, unit=("s", 1)):
    """Runs `commands` in `root` in turns, RUNS rounds; prints each one's
    median wall and CPU time, in `unit` (a name and how many make a
    second), its ratios to the first, and the middle half of its wall
    ratios to the first round by round: a round's runs follow each other
    within seconds, so the machine's drift from round to round, which
    moves the medians by a percent here, mostly cancels in them."""
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
        name_of_unit, per_second = unit
        low, high = middle_half([w / b for (w, _), (b, _) in zip(runs_of, first)])
        print(
            f"  {name:<22} wall {wall * per_second:7.2f}{name_of_unit} ({wall / base_wall:.3f}x)"
            f"  cpu {cpu * per_second:7.2f}{name_of_unit} ({cpu / base_cpu:.3f}x)"
            f"  round by round {low:.3f}-{high:.3f}x"
        )


def middle_half(values):
    """The first and third quartiles of `values`."""
    if len(values) < 2:
        return values[0], values[0]
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[0], quartiles[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proctor")
    parser.add_argument("tests", type=int)
    parser.add_argument("runs", nargs="?", type=int, default=3)
    parser.add_argument("--against", metavar="OTHER")
    parser.add_argument("--no-store", action="store_true")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent / "target" / "bench-many" / str(args.tests)
    write_suite(root, args.tests)
    compare_with_pytest(
        os.path.abspath(args.proctor), "tests", root, args.runs, f"{args.tests} tests",
        against=args.against and os.path.abspath(args.against),
        run_args=["--no-store"] if args.no_store else [],
    )


if __name__ == "__main__":
    main()
