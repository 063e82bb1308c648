#!/usr/bin/env python3
"""A published project's own suite: plain pytest against `proctor run`.

    python3 benchmarks/published_suite.py PROCTOR [RUNS] [--project NAME]

Downloads a project's sdist from PyPI (pinned below) into
target/bench-published and runs its own suite from the unpacked sdist:

- `sqlalchemy` (the default): SQLAlchemy's ORM suite (test/orm, about
  12,000 tests against SQLite), with the running Python;
- `packaging`: packaging's whole suite (about 27,000 tests), in a virtual
  environment of its own holding pytest, its test requirements and the
  sdist itself;
- `markupsafe`: MarkupSafe's suite, in a virtual environment of its own
  as packaging's is, against the C extension the sdist builds.

First it checks that proctor reports what pytest does: plain pytest runs
with a small plugin that records each node id and its outcome, proctor
runs the same suite on one job and on as many as the machine has cores
(where one process collects the suite and forks a worker a job), and each
time the two lists must hold the same ids with the same outcomes, and the
run report no error. Then, RUNS rounds (default 3) taking turns, it times
plain pytest, `proctor run -j 1` and `proctor run -j N` (N: the machine's
cores), wall and CPU (children included), and prints the ratios to plain
pytest. RUNS 0 checks the results only. PROCTOR_ISOLATION=process runs
the runner in a plugin process of its own; PROCTOR_RESULTS_LAYOUT=1
writes results layout 1 (2 is the default).
"""

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from many_tests import compare_with_pytest


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    # The suite, relative to the unpacked sdist.
    suite: str
    # What its tests need beside pytest, installed with the sdist into a
    # virtual environment of its own; None: the running Python runs the
    # suite from the sdist's root.
    requirements: tuple | None = None


PROJECTS = {
    "sqlalchemy": Project("sqlalchemy", "2.1.9", "test/orm"),
    "packaging": Project("packaging", "24.2", "tests", requirements=("pretend",)),
    # Its tests run against its C extension, built as the sdist installs.
    "markupsafe": Project("markupsafe", "3.0.2", "tests", requirements=()),
}

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


def unpacked(project: Project, bench: Path) -> Path:
    root = bench / f"{project.name}-{project.version}"
    if not root.is_dir():
        bench.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", f"{project.name}=={project.version}", "-d", str(bench)],
            check=True,
        )
        archive = next(bench.glob(f"{project.name}-{project.version}.tar.gz"))
        subprocess.run(["tar", "xzf", str(archive), "-C", str(bench)], check=True)
    return root


def python_for(project: Project, root: Path) -> str:
    """The interpreter that runs the suite: the running one, or one of a
    virtual environment made beside the sdist with what the suite needs."""
    if project.requirements is None:
        return sys.executable
    venv = root.parent / f"{root.name}-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "pytest",
             *project.requirements, str(root)],
            check=True,
        )
    return str(python)


def write_config(project: Project, root: Path, python: str) -> None:
    """root/proctor.json: the suite as one source under `python`, its ids
    relative to the sdist's root, as plain pytest's are."""
    settings = {"rootdir": ".", "python": python}
    (root / "proctor.json").write_text(json.dumps({
        "isolation": os.environ.get("PROCTOR_ISOLATION", "in-process"),
        "results_layout": int(os.environ.get("PROCTOR_RESULTS_LAYOUT", "2")),
        "sources": [{"name": "suite", "runner": "pytest", "path": project.suite,
                     "settings": settings}]
    }))


def pytest_outcomes(python: str, suite: str, root: Path, bench: Path) -> dict:
    plugin_dir = bench / "recorder"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "record_outcomes.py").write_text(RECORDER)
    record = bench / "pytest-outcomes.jsonl"
    env = dict(os.environ, RECORD_OUTCOMES=str(record), PYTHONPATH=str(plugin_dir))
    subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "record_outcomes", "-p", "no:cacheprovider", suite],
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proctor")
    parser.add_argument("runs", nargs="?", type=int, default=3)
    parser.add_argument("--project", choices=sorted(PROJECTS), default="sqlalchemy")
    args = parser.parse_args()
    proctor = os.path.abspath(args.proctor)
    project = PROJECTS[args.project]
    bench = Path(__file__).resolve().parent.parent / "target" / "bench-published"
    root = unpacked(project, bench)
    python = python_for(project, root)
    write_config(project, root, python)
    title = f"{project.name} {project.version} {project.suite}"

    theirs = pytest_outcomes(python, project.suite, root, bench)
    counts = {o: list(theirs.values()).count(o) for o in sorted(set(theirs.values()))}
    print(f"{title}: pytest ran {len(theirs)} tests {counts}")
    identical = True
    for jobs in sorted({1, os.cpu_count() or 1}):
        ours, errors = proctor_outcomes(root, proctor, jobs)
        identical &= compare(theirs, ours, errors, f"-j {jobs}")

    if args.runs > 0:
        compare_with_pytest(proctor, project.suite, root, args.runs, title, python)
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
