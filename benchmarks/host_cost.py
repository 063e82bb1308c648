#!/usr/bin/env python3
"""What the host itself costs per test, at several suite sizes.

    python3 benchmarks/host_cost.py PROCTOR [TESTS...] [--runs N]

For each size (default 10000 50000 100000) runs `proctor run -j 1` on the
suite `many_tests.py` writes, RUNS times (default 1), and reports the host's
own CPU time (its threads, not its children: read from /proc while it is a
zombie, before it is reaped), its peak memory (VmHWM, polled; a high-water
mark, so the last reading is the peak up to the last few milliseconds)
above that of a 10-test run, and the bytes each report file holds per test.
A cost that grows faster than the number of tests shows as a per-test
figure that rises with the size.
"""

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from many_tests import write_suite

REPORTS = ["events.jsonl", "summary.json", "junit.xml", "results.trx"]
TICKS = os.sysconf("SC_CLK_TCK")


def host_run(proctor, root):
    """(host CPU seconds, peak RSS KiB, wall seconds) of one run."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [proctor, "run", "proctor.json", "-j", "1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    # Waits for the end without reaping: the zombie's stat still holds the
    # CPU time of its threads, apart from its children's.
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    with open(f"/proc/{process.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    process.wait()
    return cpu, peak[0], wall


def main(argv):
    runs = 1
    if "--runs" in argv:
        at = argv.index("--runs")
        runs = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    proctor = os.path.abspath(argv[1])
    sizes = [int(n) for n in argv[2:]] or [10000, 50000, 100000]
    bench = Path(__file__).resolve().parent.parent / "target" / "bench-many"

    def suite(tests):
        root = bench / str(tests)
        write_suite(root, tests)
        return root

    base_peak = statistics.median(host_run(proctor, suite(10))[1] for _ in range(3))
    print(f"host, proctor run -j 1, median of {runs}; memory above a 10-test run's {base_peak} KiB")
    print(f"{'tests':>8} {'wall':>8} {'host CPU':>9} {'CPU/test':>9} {'peak':>9} {'mem/test':>9}  bytes/test: "
          + " ".join(REPORTS))
    for tests in sizes:
        root = suite(tests)
        samples = [host_run(proctor, root) for _ in range(runs)]
        cpu = statistics.median(s[0] for s in samples)
        peak = statistics.median(s[1] for s in samples)
        wall = statistics.median(s[2] for s in samples)
        sizes_of = [(root / "results" / name).stat().st_size / tests for name in REPORTS]
        print(
            f"{tests:>8} {wall:>7.2f}s {cpu:>8.2f}s {cpu / tests * 1e6:>7.1f}µs"
            f" {peak / 1024:>7.1f}M {(peak - base_peak) * 1024 / tests:>8.0f}B  "
            + " ".join(f"{size:.0f}" for size in sizes_of)
        )


if __name__ == "__main__":
    main(sys.argv)
