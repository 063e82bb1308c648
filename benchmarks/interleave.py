#!/usr/bin/env python3
"""Times commands in turn, so that a machine's drift hits each alike.

    interleave.py RUNS -- CMD ARGS... -- CMD ARGS... [-- ...]

Runs every command once per round, RUNS rounds, output discarded, and
prints each command's median wall time in seconds on one line, in the
order given. A command's failure does not stop the rounds: proctor
exits 1 when tests fail, which the benchmark suites make them do.
"""

import statistics
import subprocess
import sys
import time


def main(argv):
    runs = int(argv[1])
    commands, current = [], None
    for arg in argv[2:]:
        if arg == "--":
            current = []
            commands.append(current)
        else:
            current.append(arg)
    times = [[] for _ in commands]
    for _ in range(runs):
        for command, samples in zip(commands, times):
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples.append(time.perf_counter() - start)
    print(" ".join(f"{statistics.median(samples):.3f}" for samples in times))


if __name__ == "__main__":
    main(sys.argv)
