#!/usr/bin/env python3
"""What running the plugins in processes of their own costs a run.

    python3 benchmarks/isolation.py PROCTOR [RUNS]

Runs each benchmark suite (the 200 libtest tests of benchmarks/suite, one
process a test; the 500 pytest and GoogleTest tests of make_suites.py, in
batches, and the GoogleTest ones one process a test) with every plugin in
the host's process and with every plugin in a plugin process of its own
(`"isolation"` in the configuration), on one job and on every core, the
two taking turns, RUNS rounds (default 7). Prints the median wall times
and their ratio. `benchmarks/run.sh` builds what it needs first.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def variant(config_path, isolation, into):
    """A copy of a configuration whose plugins run as `isolation`."""
    config = json.loads(config_path.read_text())
    base = config_path.parent
    for source in config["sources"]:
        source["path"] = str((base / source["path"]).resolve())
    config["results_dir"] = str(into / f"results-{isolation}")
    config["isolation"] = isolation
    path = into / f"{config_path.stem}-{isolation}.json"
    path.write_text(json.dumps(config))
    return path


def medians(runs, commands):
    argv = [sys.executable, str(ROOT / "benchmarks" / "interleave.py"), str(runs)]
    for command in commands:
        argv += ["--", *command]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


def main(argv):
    proctor = os.path.abspath(argv[1])
    runs = int(argv[2]) if len(argv) > 2 else 7
    bench = ROOT / "target" / "bench"
    into = ROOT / "target" / "bench-isolation"
    into.mkdir(parents=True, exist_ok=True)
    suites = [
        ("200 libtest tests, a process each", ROOT / "benchmarks/suite/proctor.json"),
        ("500 pytest tests, batches", bench / "proctor-pytest.json"),
        ("500 GoogleTest tests, batches", bench / "proctor-gtest.json"),
        ("500 GoogleTest tests, a process each", bench / "proctor-gtest-isolated.json"),
    ]
    isolated = bench / "proctor-gtest-isolated.json"
    if not isolated.exists():
        gtest = json.loads((bench / "proctor-gtest.json").read_text())
        gtest["sources"][0]["mode"] = "isolated"
        isolated.write_text(json.dumps(gtest))
    jobs = os.cpu_count()
    print(f"in process against out of process, median of {runs} runs taking turns")
    for label, config in suites:
        inside = variant(config, "in-process", into)
        outside = variant(config, "process", into)
        for j in sorted({1, jobs}):
            a, b = medians(
                runs,
                [
                    [proctor, "run", str(inside), "-j", str(j)],
                    [proctor, "run", str(outside), "-j", str(j)],
                ],
            )
            print(f"  {label}, -j {j}: in process {a:.3f}s, out {b:.3f}s, out/in {b / a:.3f}")


if __name__ == "__main__":
    main(sys.argv)
