#!/usr/bin/env python3
"""What catching faults costs a run.

    python3 benchmarks/tracing.py [RUNS]

The `dump` collector asks the host to start test processes traced, so that
a crash is caught at the fault: each process then stops at every signal it
receives and every thread it creates, and the host's tracer passes the stop
on. Three suites (run.sh's: 200 libtest tests one process each, 500 pytest
tests, 500 GoogleTest tests), each run three ways, taking turns:

- plain: no collector;
- blame: the `blame` collector, which hears every event but traces nothing;
- dump: the `dump` collector, which hears every event and traces.

Printed: each way's median wall time, and dump / plain.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
BENCH = ROOT / "target" / "bench"
PROCTOR = ROOT / "target" / "release" / "proctor"
JOBS = "2"


def prepare():
    cargo = ["cargo", "build", "--release", "-q", "--workspace", "--exclude", "proctor-e2e"]
    subprocess.run(cargo, cwd=ROOT, check=True)
    suite = ROOT / "benchmarks" / "suite"
    subprocess.run(["cargo", "test", "--no-run", "-q", "--manifest-path", suite / "Cargo.toml"],
                   cwd=ROOT, check=True, capture_output=True)
    subprocess.run([sys.executable, ROOT / "benchmarks" / "make_suites.py", BENCH], check=True)
    subprocess.run(["g++", "-O1", BENCH / "gtest_suite.cc", "-o", BENCH / "gtest_suite",
                    "-lgtest", "-lgtest_main", "-pthread"], check=True)
    return {
        "200 libtest tests": suite / "proctor.json",
        "500 pytest tests": BENCH / "proctor-pytest.json",
        "500 GoogleTest tests": BENCH / "proctor-gtest.json",
    }


def variant(config: Path, name: str, collectors: dict) -> Path:
    """The configuration with `collectors`, beside the original (its paths are relative)."""
    settings = json.loads(config.read_text())
    settings["collectors"] = collectors
    path = config.with_name(f"{config.stem}-{name}.json")
    path.write_text(json.dumps(settings, indent=2))
    return path


def main():
    for label, config in prepare().items():
        ways = {
            "plain": config,
            "blame": variant(config, "blame", {"blame": {}}),
            "dump": variant(config, "dump", {"dump": {}}),
        }
        command = [sys.executable, ROOT / "benchmarks" / "interleave.py", str(RUNS)]
        for path in ways.values():
            command += ["--", PROCTOR, "run", path, "-j", JOBS]
        try:
            medians = subprocess.run(command, cwd=config.parent, check=True,
                                     capture_output=True, text=True).stdout.split()
        finally:
            for way in ("blame", "dump"):
                ways[way].unlink()
        times = dict(zip(ways, map(float, medians)))
        print(f"{label}, -j {JOBS}, median of {RUNS} runs:")
        for way, seconds in times.items():
            print(f"  {way:6} {seconds:.3f}s")
        print(f"  dump / plain: {times['dump'] / times['plain']:.3f}"
              f" (blame / plain: {times['blame'] / times['plain']:.3f})")


if __name__ == "__main__":
    main()
