#!/usr/bin/env python3
"""proctor against what a pytest user would pick instead, and its store's cost.

    python3 benchmarks/alternatives.py PROCTOR TESTS [RUNS]

On many_tests.py's suite of TESTS fast tests, taking turns RUNS rounds
(default 5), all under one pytest with pytest-xdist installed (the
environment scripts/test makes, target/venv-pytest-xdist, made here if
missing): plain pytest; `pytest -n N` (pytest-xdist, N: the machine's
cores); `proctor run -j N`; and `proctor run -j 1` recording into a
results store that holds the suite, and recording into none. Prints each
one's median wall and CPU time (children included) and the ratios to
plain pytest.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from many_tests import take_turns, write_suite

REPO = Path(__file__).resolve().parent.parent


def xdist_python() -> str:
    venv = REPO / "target" / "venv-pytest-xdist"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "pytest", "pytest-xdist"],
                       check=True)
    return str(python)


def main(argv):
    proctor, tests = os.path.abspath(argv[1]), int(argv[2])
    runs = int(argv[3]) if len(argv) > 3 else 5
    root = REPO / "target" / "bench-alternatives" / str(tests)
    write_suite(root, tests)
    python = xdist_python()
    config = {"sources": [{"name": "py", "runner": "pytest", "path": "tests",
                           "settings": {"python": python}}]}
    (root / "proctor.json").write_text(json.dumps(config) + "\n")
    jobs = str(os.cpu_count())
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    run = [proctor, "run", "proctor.json"]
    store = str(root / "store.db")
    # The store holds the suite before the turns start, as a CI machine's would.
    subprocess.run(run + ["-j", "1", "--store", store], cwd=root, stdout=subprocess.DEVNULL)
    commands = {
        "pytest": pytest,
        f"pytest -n {jobs} (xdist)": pytest + ["-n", jobs],
        f"proctor -j {jobs}": run + ["-j", jobs, "--store", store],
        "proctor -j 1": run + ["-j", "1", "--store", store],
        "proctor -j 1 --no-store": run + ["-j", "1", "--no-store"],
    }
    take_turns(commands, root, runs, f"{tests} tests")


if __name__ == "__main__":
    main(sys.argv)
