#!/usr/bin/env python3
"""The results store at scale: a generated history, recorded and queried.

    python3 benchmarks/store.py PROCTOR [RUNS] [TESTS] [STORE]

Writes RUNS summaries (default 1000) of TESTS tests each (default 10,000)
into target/bench-store, spread over 90 days, one commit every 5 runs,
two variants; about 1% of tests flaky (failing 10% of runs, half of those
passing on a retry), 0.5% broken for good since a random run, with
failure messages whose numbers vary. Each is recorded with `proctor store
import` as it is made (then deleted); prints the results recorded per
second of import (the summary's reading included) and of recording alone,
the store's bytes per result, and how long `history flaky`, `history
failures`, `history quarantine` (each test's last 100 runs) and `history
test` take over the whole history (median of 3).

STORE is a fresh SQLite file under target/bench-store by default, or a
postgres:// URL of an empty database (its size is then read with psql).
"""

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

proctor = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
tests = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
work = Path("target/bench-store")
work.mkdir(parents=True, exist_ok=True)
store = sys.argv[4] if len(sys.argv) > 4 else str(work / "history.db")
server = store.startswith(("postgres://", "postgresql://"))
for stale in [] if server else work.glob("history.db*"):
    stale.unlink()

rng = random.Random(7)
flaky = set(rng.sample(range(tests), tests // 100))
broken_since = {t: rng.randrange(runs) for t in rng.sample(range(tests), tests // 200)}
start = time.time() - 90 * 86400
names = [f"tests/unit/test_module_{t // 50}.py::test_case_{t}" for t in range(tests)]


def attempt(n, outcome, message=None):
    return {"attempt": n, "outcome": outcome, "started_at": "", "duration_ms": 3,
            "message": message, "pid": None, "exit_code": None, "signal": None,
            "dir": "", "stdout": None, "stderr": None, "output": None}


def record(run, t):
    failure = None
    if t in broken_since and run >= broken_since[t]:
        failure = f"assert {rng.randrange(1000)} == {rng.randrange(1000)}"
    elif t in flaky and rng.random() < 0.1:
        failure = f"timeout after {rng.randrange(30, 60)}s on port {rng.randrange(30000, 60000)}"
    if failure is None:
        attempts = [attempt(1, "passed")]
    elif t in flaky and rng.random() < 0.5:
        attempts = [attempt(1, "failed", failure), attempt(2, "passed")]
    else:
        attempts = [attempt(1, "failed", failure), attempt(2, "failed", failure)]
    last = attempts[-1]
    return {"source": "unit", "id": names[t], "name": names[t], "outcome": last["outcome"],
            "flaky": len(attempts) == 2 and last["outcome"] == "passed", "quarantined": False,
            "duration_ms": 3, "message": last["message"], "attempts": attempts}


def template():
    """A real run's summary, whose fields the generated ones take."""
    suite = work / "template"
    (suite / "tests").mkdir(parents=True, exist_ok=True)
    (suite / "tests" / "test_one.py").write_text("def test_one():\n    pass\n")
    (suite / "proctor.json").write_text(
        json.dumps({"sources": [{"name": "unit", "runner": "pytest", "path": "tests"}]}))
    # Layout 1: the records generated below write every field.
    subprocess.run([proctor, "run", "--no-store", "--results-layout", "1"], cwd=suite, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    made = json.loads((suite / "results" / "summary.json").read_text())
    made["tests"] = []
    return made


TEMPLATE = template()


def summary(run):
    started = start + run * 90 * 86400 / runs
    records = [record(run, t) for t in range(tests)]
    failed = any(r["outcome"] == "failed" for r in records)
    made = dict(TEMPLATE)
    made.update({
        "run_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "context": {"machine": "bench", "os": "linux", "arch": "x86_64", "commit": f"c{run // 5:06d}",
                    "branch": "main", "variant": {"os": "linux", "config": ["debug", "release"][run % 2]}},
        "outcome": "tests_failed" if failed else "passed", "exit_code": 1 if failed else 0,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(started)),
        "tests": records,
    })
    return made


def imported(directory):
    """Seconds `proctor store import` takes on `directory`."""
    began = time.perf_counter()
    subprocess.run([proctor, "store", "import", "--store", store, str(directory)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


# Recording alone is the import less the same import of a run already
# recorded (starting, opening the store, reading the summary), measured
# on every tenth run.
importing, again = 0.0, []
for run in range(runs):
    directory = work / "results"
    directory.mkdir(exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary(run)))
    first = imported(directory)
    importing += first
    if run % 10 == 0:
        again.append((first, imported(directory)))
results = runs * tests
recording = statistics.median(first - known for first, known in again)
if server:
    size = int(subprocess.run(["psql", store, "-Atc", "SELECT pg_database_size(current_database())"],
                              check=True, capture_output=True, text=True).stdout)
else:
    size = sum(f.stat().st_size for f in work.glob("history.db*"))
print(f"{runs} runs x {tests} tests: {results} results")
print(f"  import: {results / importing:,.0f} results/s ({importing / runs * 1000:.0f} ms a run, reading included)")
print(f"  recording alone: {tests / recording:,.0f} results/s ({recording * 1000:.1f} ms a run, median)")
print(f"  store: {size / results:.1f} bytes a result ({size / 1e6:.1f} MB)")
for name, args in [("history flaky", ["history", "flaky", "--format", "json"]),
                   ("history failures", ["history", "failures", "--format", "json"]),
                   ("history quarantine", ["history", "quarantine"]),
                   ("history test", ["history", "test", names[next(iter(flaky))], "--format", "json"])]:
    times = []
    for _ in range(3):
        began = time.perf_counter()
        subprocess.run([proctor, *args, "--store", store], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - began)
    print(f"  {name}: {statistics.median(times):.3f} s")
