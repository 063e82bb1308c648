#!/usr/bin/env python3
"""Incremental merging against merging after the run.

    python3 benchmarks/merging.py [RUNS]

Eight `command` sources sleep for different times (0.5 to 4 s) and each
leaves a real gcov tracefile of about 6.5 MB (five of benchmarks/lcov.sh's
tracefiles, concatenated; run lcov.sh first). Two ways to end with one
merged tracefile, taking turns:

- incremental: the run has the `lcov-merge` processor, which merges as
  sources finish while the others run; the final pass follows the last one;
- after: the run has no processor, and the plugin then merges all eight
  tracefiles at once (as the host's final pass would, alone).

Printed: each way's whole wall time, and its tail, the time from the last
source's end to having the merged tracefile.
"""

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
LCOV = ROOT / "target" / "bench" / "lcov"
WORK = ROOT / "target" / "bench" / "merging"
SOURCES = 8


def build():
    cargo = ["cargo", "build", "--release", "-q"]
    subprocess.run(cargo + ["--workspace", "--exclude", "proctor-e2e"], cwd=ROOT, check=True)
    subprocess.run(cargo + ["-p", "proctor-processor-lcov-merge", "--example", "merge"], cwd=ROOT, check=True)
    subprocess.run(cargo + ["--manifest-path", "tests/fixtures/lcov-collector/Cargo.toml"],
                   cwd=ROOT, check=True, env={**__import__("os").environ,
                                              "CARGO_TARGET_DIR": str(ROOT / "target" / "fixtures")})


def prepare():
    if not (LCOV / "t40.info").exists():
        sys.exit("run `bash benchmarks/lcov.sh` first: it makes the real tracefiles used here")
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "tracefiles").mkdir(parents=True)
    (WORK / "plugins").mkdir()
    shutil.copy(ROOT / "target/fixtures/release/liblcov_collector.so", WORK / "plugins")
    for i in range(SOURCES):
        with open(WORK / "tracefiles" / f"s{i}.info", "w") as out:
            for k in range(5):
                out.write((LCOV / f"t{i * 5 + k + 1}.info").read_text())
    sources = [{
        "name": f"s{i}", "runner": "command", "path": ".",
        "settings": {
            "command": ["sh", "-c", f"sleep {0.5 * (i + 1)}; echo \"<testsuite name='s'><testcase name='t'/></testsuite>\" > $PROCTOR_RESULTS_DIR/r.xml"],
            "id": "{name}",
        },
    } for i in range(SOURCES)]
    collector = {"lcov-fixture": {"tracefiles": str(WORK / "tracefiles")}}
    for name, processors in [("incremental", {"lcov-merge": {}}), ("after", {})]:
        config = {"collectors": collector, "attachment_processors": processors, "sources": sources}
        (WORK / f"{name}.json").write_text(json.dumps(config))


def run(name):
    """Answers (wall seconds, tail seconds) of one way."""
    results = WORK / f"results-{name}"
    started = time.perf_counter()
    subprocess.run([ROOT / "target/release/proctor", "--plugin-dir", WORK / "plugins", "run",
                    WORK / f"{name}.json", "-j", str(SOURCES), "--results-dir", results],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ran = time.perf_counter() - started
    summary = json.loads((results / "summary.json").read_text())
    last_source = max(s["finished_ms"] for s in summary["timeline"]["sources"]) / 1000
    if name == "incremental":
        assert len(summary["attachments"]) == 1, summary["attachments"]
        return ran, ran - last_source
    paths = [results / a["path"] for a in summary["attachments"]]
    assert len(paths) == SOURCES
    merge_started = time.perf_counter()
    subprocess.run([ROOT / "target/release/examples/merge", results / "merged"] + paths,
                   check=True, stdout=subprocess.DEVNULL)
    merged = time.perf_counter() - merge_started
    return ran + merged, ran + merged - last_source


def main():
    build()
    prepare()
    times = {"incremental": [], "after": []}
    for round in range(RUNS):
        order = ["incremental", "after"] if round % 2 == 0 else ["after", "incremental"]
        for name in order:
            times[name].append(run(name))
    median = statistics.median
    print(f"{SOURCES} sources of 0.5 to 4 s, {SOURCES} tracefiles of ~6.5 MB, median of {RUNS} runs:")
    for name in ["incremental", "after"]:
        wall = median(t[0] for t in times[name])
        tail = median(t[1] for t in times[name])
        print(f"  {name:12} whole run {wall:6.2f} s   after the last source {tail:5.2f} s")


if __name__ == "__main__":
    main()
