#!/usr/bin/env python3
"""Where a one-job run's time over plain pytest goes: our plugin, or the host.

    python3 benchmarks/overhead_split.py PROCTOR TESTS [RUNS]

On many_tests.py's suite of TESTS fast tests, taking turns RUNS rounds
(default 7): plain pytest; pytest with our plugin and the variables a
one-job run sets, its events written to a file (no reader); the same,
its events read from a pipe by a reader that waits on it; and `proctor
run -j 1 --no-store`. Prints each one's median wall time and its ratio
to plain pytest: the plugin's own cost is the second's, the host's what
the last adds to it.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from many_tests import with_plugin, write_suite

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = REPO / "plugins" / "runner-pytest" / "src"


def main(argv):
    proctor, tests = os.path.abspath(argv[1]), int(argv[2])
    runs = int(argv[3]) if len(argv) > 3 else 7
    root = REPO / "target" / "bench-many" / str(tests)
    write_suite(root, tests)
    scratch = Path(tempfile.mkdtemp(prefix="overhead-split-"))
    pytest = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    plugin_env = with_plugin(PLUGIN_DIR, scratch / "results.jsonl")
    plugged = ["python3", "-m", "pytest", "-p", "proctor_pytest"] + pytest[3:]

    def plain():
        subprocess.run(pytest, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def to_file():
        with open(scratch / "events.txt", "w") as events:
            subprocess.run(plugged, cwd=root, env=plugin_env, stdout=subprocess.DEVNULL,
                           stderr=events)

    def to_pipe():
        process = subprocess.Popen(plugged, cwd=root, env=plugin_env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in process.stderr:
            pass
        process.wait()

    def under_proctor():
        subprocess.run([proctor, "run", "-j", "1", "--no-store", "--results-dir",
                        str(scratch / "results")], cwd=root,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    commands = {
        "pytest": plain,
        "pytest + plugin, events to a file": to_file,
        "pytest + plugin, events to a pipe": to_pipe,
        "proctor run -j 1 --no-store": under_proctor,
    }
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, run in commands.items():
            (scratch / "results.jsonl").unlink(missing_ok=True)
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    base = statistics.median(samples["pytest"])
    print(f"{tests} tests, median of {runs} runs, taking turns:")
    for name, times in samples.items():
        wall = statistics.median(times)
        print(f"  {name:<36} {wall:7.3f}s ({wall / base:.3f}x)")


if __name__ == "__main__":
    main(sys.argv)
