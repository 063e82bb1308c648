#!/usr/bin/env python3
"""Times commands in turn, so that a machine's drift hits each alike.

    interleave.py [--ratios] RUNS -- CMD ARGS... -- CMD ARGS... [-- ...]

Runs every command once per round, RUNS rounds, output discarded, and
prints each command's median wall time in seconds on one line, in the
order given. A command's failure does not stop the rounds: proctor
exits 1 when tests fail, which the benchmark suites make them do.

With `--ratios`, a line follows for each command after the first: the
median of its round-by-round ratios to the first command, and their
quartiles. On a machine whose speed drifts between rounds, a ratio taken
within each round is steadier than the ratio of two medians.
"""

import statistics
import subprocess
import sys
import time


def main(argv):
    args = argv[1:]
    ratios = args[:1] == ["--ratios"]
    if ratios:
        args = args[1:]
    runs = int(args[0])
    commands, current = [], None
    for arg in args[1:]:
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
    if ratios:
        first = times[0]
        for command, samples in zip(commands[1:], times[1:]):
            each = [mine / theirs for mine, theirs in zip(samples, first)]
            low, _, high = statistics.quantiles(each, n=4)
            print(
                f"{statistics.median(each):.4f}x (quartiles {low:.4f}-{high:.4f})"
                f"  {' '.join(command)}"
            )


if __name__ == "__main__":
    main(sys.argv)
