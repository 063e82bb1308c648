#!/usr/bin/env python3
"""A published project's own suite: plain pytest against `proctor run`.

    python3 benchmarks/published_suite.py PROCTOR [RUNS]

Downloads SQLAlchemy's sdist from PyPI (pinned below) into
target/bench-published and runs its ORM suite (test/orm, about 12,000
tests against SQLite) from the unpacked sdist. First it checks that
proctor reports what pytest does: plain pytest runs with a small plugin
that records each node id and its outcome, proctor runs the same suite
on one job and on as many as the machine has cores (where one process
collects the suite and forks a worker a job), and each time the two lists must
hold the same ids with the same outcomes, and the run report no error.
Then, RUNS rounds (default 3) taking turns, it times plain pytest,
`proctor run -j 1` and `proctor run -j N` (N: the machine's cores), wall
and CPU (children included), and prints the ratios to plain pytest.
RUNS 0 checks the results only. PROCTOR_ISOLATION=process runs the
runner in a plugin process of its own; PROCTOR_RESULTS_LAYOUT=2 writes
results layout 2.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from many_tests import compare_with_pytest

PROJECT, VERSION, SUITE = "sqlalchemy", "2.1.9", "test/orm"

# Outcomes as proctor's pytest plugin names them: a failure in any phase
# fails the test; otherwise a skip (an expected failure among them) skips it.
RECORDER = '''
import json, os

_out, _seen = None, {}

def pytest_configure(config):
    global _out
    _out = open(os.environ["RECORD_OUTCOMES"], "w")

def pytest_runtest_logreport(report):
    state = _seen.setdefault(report.nodeid, "passed")
    if report.failed:
        _seen[report.nodeid] = "failed"
    elif report.skipped and state != "failed":
        _seen[report.nodeid] = "skipped"

def pytest_runtest_logfinish(nodeid, location):
    _out.write(json.dumps({"id": nodeid, "outcome": _seen.pop(nodeid, "passed")}) + "\\n")

def pytest_unconfigure(config):
    _out.close()
'''


def unpacked(bench: Path) -> Path:
    root = bench / f"{PROJECT}-{VERSION}"
    if not root.is_dir():
        bench.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", f"{PROJECT}=={VERSION}", "-d", str(bench)],
            check=True,
        )
        archive = next(bench.glob(f"{PROJECT}-{VERSION}.tar.gz"))
        subprocess.run(["tar", "xzf", str(archive), "-C", str(bench)], check=True)
    (root / "proctor.json").write_text(json.dumps({
        "isolation": os.environ.get("PROCTOR_ISOLATION", "in-process"),
        "results_layout": int(os.environ.get("PROCTOR_RESULTS_LAYOUT", "1")),
        "sources": [{"name": "suite", "runner": "pytest", "path": SUITE,
                     "settings": {"rootdir": "."}}]
    }))
    return root


def pytest_outcomes(root: Path, bench: Path) -> dict:
    plugin_dir = bench / "recorder"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "record_outcomes.py").write_text(RECORDER)
    record = bench / "pytest-outcomes.jsonl"
    env = dict(os.environ, RECORD_OUTCOMES=str(record), PYTHONPATH=str(plugin_dir))
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "record_outcomes", "-p", "no:cacheprovider", SUITE],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    return {entry["id"]: entry["outcome"] for entry in entries}


def proctor_outcomes(root: Path, proctor: str, jobs: int) -> tuple:
    """Each test's outcome as a run on `jobs` reports it, and the run's errors."""
    subprocess.run([proctor, "run", "proctor.json", "-j", str(jobs)], cwd=root,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads((root / "results" / "summary.json").read_text())
    outcomes = {test["id"]: test["outcome"] for test in summary["tests"]}
    return outcomes, summary["errors"]


def compare(theirs: dict, ours: dict, errors: list, what: str) -> bool:
    """Prints how proctor's run differs from pytest's; answers whether not at all."""
    only_pytest = sorted(set(theirs) - set(ours))
    only_proctor = sorted(set(ours) - set(theirs))
    differ = sorted(i for i in set(theirs) & set(ours) if theirs[i] != ours[i])
    print(f"  proctor {what}: {len(ours)} tests, {len(errors)} errors")
    for error in errors[:5]:
        print(f"    error: {error}")
    for kind, ids in [("only pytest", only_pytest), ("only proctor", only_proctor),
                      ("outcomes differ", differ)]:
        print(f"    {kind}: {len(ids)}")
        for i in ids[:10]:
            print(f"      {i}: pytest {theirs.get(i)}, proctor {ours.get(i)}")
    identical = not (only_pytest or only_proctor or differ or errors)
    print("    identical ids and outcomes" if identical else "    NOT IDENTICAL")
    return identical


def main(argv):
    proctor = os.path.abspath(argv[1])
    runs = int(argv[2]) if len(argv) > 2 else 3
    bench = Path(__file__).resolve().parent.parent / "target" / "bench-published"
    root = unpacked(bench)

    theirs = pytest_outcomes(root, bench)
    counts = {o: list(theirs.values()).count(o) for o in sorted(set(theirs.values()))}
    print(f"{PROJECT} {VERSION} {SUITE}: pytest ran {len(theirs)} tests {counts}")
    identical = True
    for jobs in sorted({1, os.cpu_count() or 1}):
        ours, errors = proctor_outcomes(root, proctor, jobs)
        identical &= compare(theirs, ours, errors, f"-j {jobs}")

    if runs > 0:
        compare_with_pytest(proctor, SUITE, root, runs, f"{PROJECT} {VERSION} {SUITE}")
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main(sys.argv)
