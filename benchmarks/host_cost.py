#!/usr/bin/env python3
"""What the host itself costs per test, at several suite sizes.

    python3 benchmarks/host_cost.py PROCTOR [TESTS...] [--runs N] [--against OTHER]

For each size (default 10000 50000 100000) runs `proctor run -j 1` on the
suite `many_tests.py` writes, RUNS times (default 1), and reports the host's
own CPU time and peak memory (its threads, not its children, as the host
logs them from getrusage at its end), the peak above that of a 10-test
run, and the bytes each report file holds per test.
A cost that grows faster than the number of tests shows as a per-test
figure that rises with the size.

With `--against OTHER` (another build; repeatable) the builds take turns,
run by run, so that the machine's drift hits each alike. Compare builds
copied into sibling directories: a copied binary maps its code in larger
pieces than the one the linker wrote, 1-2 MB more peak memory.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from many_tests import write_suite

REPORTS = ["events.jsonl", "summary.json", "junit.xml", "results.trx"]


def host_run(proctor, root):
    """(host CPU seconds, peak RSS KiB, wall seconds) of one run, recorded
    in the suite's own results store (see `warm_store`)."""
    start = time.perf_counter()
    # The process started here only supervises; the host, its child, logs
    # its own CPU time and peak memory (children apart) as it ends.
    process = subprocess.run(
        [proctor, "run", "proctor.json", "-j", "1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "RUST_LOG": "proctor::usage=debug",
            "NO_COLOR": "1",
            "PROCTOR_STORE": str(root / "history.db"),
        },
        text=True,
    )
    wall = time.perf_counter() - start
    usage = re.search(
        r"user_seconds=([\d.e-]+) system_seconds=([\d.e-]+) peak_rss_kib=(\d+)",
        process.stderr,
    )
    if not usage:
        sys.exit(f"the host logged no resource usage:\n{process.stderr}")
    cpu = float(usage[1]) + float(usage[2])
    return cpu, int(usage[3]), wall


def bench_dir():
    """Where the suites of each size are written."""
    return Path(__file__).resolve().parent.parent / "target" / "bench-many"


def warm_store(proctor, root):
    """Starts the suite's results store afresh and records one run in it,
    unmeasured: the measured runs are recorded by a store that knows the
    suite's tests, as on a machine that ran it before, and that holds the
    same history whichever proctor is measured (the user's own store
    grows with every run, and with it the cost of recording). Answers a
    function that puts the store back as it was warmed, for the next run."""
    store = root / "history.db"
    store.unlink(missing_ok=True)
    host_run(proctor, root)
    warmed = root / "history.warmed.db"
    shutil.copyfile(store, warmed)
    return lambda: shutil.copyfile(warmed, store)


def main(argv):
    parser = argparse.ArgumentParser(description="What the host itself costs per test.")
    parser.add_argument("proctor")
    parser.add_argument("tests", type=int, nargs="*", default=[10000, 50000, 100000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--against", action="append", default=[], metavar="OTHER")
    args = parser.parse_args(argv[1:])
    builds = [os.path.abspath(build) for build in [*args.against, args.proctor]]
    sizes, runs = args.tests, args.runs
    def suite(tests):
        root = bench_dir() / str(tests)
        write_suite(root, tests)
        return root

    small = suite(10)
    warm_store(builds[0], small)
    base_peaks = {
        build: statistics.median(host_run(build, small)[1] for _ in range(3)) for build in builds
    }
    print(f"host, proctor run -j 1, median of {runs}; memory above a 10-test run's")
    print(f"{'tests':>8} {'wall':>8} {'host CPU':>9} {'CPU/test':>9} {'peak':>9} {'mem/test':>9}  bytes/test: "
          + " ".join(REPORTS) + ("  build" if len(builds) > 1 else ""))
    for tests in sizes:
        root = suite(tests)
        rewarm = warm_store(builds[0], root)
        samples = {build: [] for build in builds}
        # Each build's own reports: builds may write different layouts.
        sizes_of = {}
        for _ in range(runs):
            for build in builds:
                rewarm()
                samples[build].append(host_run(build, root))
                sizes_of[build] = [
                    (root / "results" / name).stat().st_size / tests for name in REPORTS
                ]
        for build in builds:
            cpu = statistics.median(s[0] for s in samples[build])
            peak = statistics.median(s[1] for s in samples[build])
            wall = statistics.median(s[2] for s in samples[build])
            print(
                f"{tests:>8} {wall:>7.2f}s {cpu:>8.2f}s {cpu / tests * 1e6:>7.1f}µs"
                f" {peak / 1024:>7.1f}M {(peak - base_peaks[build]) * 1024 / tests:>8.0f}B  "
                + " ".join(f"{size:.0f}" for size in sizes_of[build])
                + (f"  {build}" if len(builds) > 1 else "")
            )


if __name__ == "__main__":
    main(sys.argv)
