#!/usr/bin/env python3
"""What our pytest plugin costs pytest, counted in instructions.

    python3 benchmarks/pytest_plugin.py [--plugin FILE] [--tests N]

Runs plain pytest on a generated suite of N and 2N fast parametrized tests
(default 1,000) under callgrind, with and without `-p proctor_pytest`, the
variables the host sets for a `-j 1` run set either way, and no host.
Prints the instructions pytest executes a test (the difference between the
two sizes, over N) and what the plugin adds a test and once. FILE is the
plugin to count (default: the one in the tree), so that two versions can
be compared. Needs valgrind. With one hash seed, instruction counts repeat
closely, where this machine's CPU times move by a fifth.
"""

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from host_instructions import callgrind_totals
from many_tests import with_plugin

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugins" / "runner-pytest" / "src" / "proctor_pytest.py"


def write_suite(root: Path, tests: int) -> Path:
    """A suite of `tests` fast tests in one file, in the directory pytest
    runs in. (Laid out as `many_tests.py` lays its suites out, a `tests`
    directory under a configuration, the plugin counted 10k instructions a
    test more, for reasons not found yet; the figures in BENCHMARKS.md
    were taken with this layout.)"""
    suite = root / f"suite-{tests}"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "test_many.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('i', range({tests}))\n"
        "def test_value(i):\n"
        "    assert i >= 0\n"
    )
    return suite


def instructions(suite: Path, plugin_dir: Path | None, scratch: Path) -> int:
    """Instructions pytest executes on `suite`, with the plugin in
    `plugin_dir` when one is given."""
    # The interpreter itself, not a launcher that would run it as a child.
    python = subprocess.run(
        ["python3", "-c", "import sys; print(sys.executable)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    # One hash seed for every run: Python's randomized string hashing
    # moved the counts by 5%.
    env = dict(os.environ, PYTHONHASHSEED="0")
    if plugin_dir is not None:
        command += ["-p", "proctor_pytest"]
        env = with_plugin(plugin_dir, scratch / "results.jsonl", base=env)
    # Its output goes to pipes, as under the host.
    (count,) = callgrind_totals([*command, "."], suite, env, output=subprocess.PIPE)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", type=Path, default=PLUGIN)
    parser.add_argument("--tests", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        plugin_dir = scratch / "plugin"
        plugin_dir.mkdir()
        (plugin_dir / "proctor_pytest.py").write_text(args.plugin.read_text())
        small, large = (write_suite(scratch, n) for n in (args.tests, 2 * args.tests))
        plain = [instructions(suite, None, scratch) for suite in (small, large)]
        ours = [instructions(suite, plugin_dir, scratch) for suite in (small, large)]
    per_test = (plain[1] - plain[0]) / args.tests
    added = (ours[1] - ours[0]) / args.tests - per_test
    once = (ours[0] - plain[0]) - added * args.tests
    print(f"pytest alone: {per_test / 1e3:,.1f}k instructions a test")
    print(
        f"{args.plugin.name} adds {added / 1e3:,.1f}k a test "
        f"({added / per_test:.1%}) and {once / 1e6:,.0f}M once"
    )


if __name__ == "__main__":
    main()
