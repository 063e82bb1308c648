#!/usr/bin/env python3
"""What a test printing without bound costs the host.

    python3 benchmarks/output.py PROCTOR [PROCTOR...] [--megabytes N] [--runs R]

Three suites of one failing test that prints N megabytes (default 200):
pytest printing lines, pytest printing one line without a break (pytest
prints it back in its report: one line of N MB reaches the host), and a
Rust test printing lines; and a fourth of a passing pytest test under
`-s` printing N/10 MB in 100-byte lines, each flushed: a writer steadier
than a flood, whose reads never come back full. Each build given runs
each suite R times (default 3), the builds taking turns, beside plain
pytest or `cargo test` on the same suite; the host's own CPU time and
peak memory are the figures it logs at its end (its children apart),
medians printed.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from host_cost import host_run


def write_suites(root, megabytes):
    """The four suites under `root`, each with its proctor.json."""
    lines = root / "pytest-lines"
    lines.mkdir(parents=True, exist_ok=True)
    (lines / "test_lines.py").write_text(
        "import sys\n"
        "def test_prints_lines():\n"
        "    line = 'x' * 1023 + '\\n'\n"
        f"    for _ in range({megabytes} * 1024):\n"
        "        sys.stdout.write(line)\n"
        "    assert False\n"
    )
    one_line = root / "pytest-one-line"
    one_line.mkdir(exist_ok=True)
    (one_line / "test_one_line.py").write_text(
        "import sys\n"
        "def test_prints_one_line():\n"
        f"    for _ in range({megabytes} * 1024):\n"
        "        sys.stdout.write('y' * 1024)\n"
        "    assert False\n"
    )
    for suite in (lines, one_line):
        (suite / "proctor.json").write_text(
            '{ "sources": [ { "name": "py", "runner": "pytest", "path": "." } ] }'
        )
    steady = root / "pytest-steady"
    steady.mkdir(exist_ok=True)
    (steady / "test_steady.py").write_text(
        "import sys\n"
        "def test_prints_flushed_lines():\n"
        "    line = 'z' * 99 + '\\n'\n"
        f"    for _ in range({megabytes} * 1024 * 1024 // 1000):\n"
        "        sys.stdout.write(line)\n"
        "        sys.stdout.flush()\n"
    )
    (steady / "proctor.json").write_text(
        '{ "sources": [ { "name": "py", "runner": "pytest", "path": ".",'
        ' "settings": { "args": ["-s"] } } ] }'
    )
    rust = root / "libtest"
    (rust / "src").mkdir(parents=True, exist_ok=True)
    (rust / "Cargo.toml").write_text(
        '[package]\nname = "noisy"\nversion = "0.1.0"\nedition = "2021"\n[workspace]\n'
    )
    (rust / "src" / "lib.rs").write_text(
        "#[test]\nfn prints_lines() {\n"
        '    let line = "x".repeat(1023);\n'
        f'    for _ in 0..{megabytes} * 1024 {{ println!("{{line}}"); }}\n'
        '    panic!("printed too much");\n}\n'
    )
    (rust / "proctor.json").write_text(
        '{ "sources": [ { "name": "rs", "runner": "libtest", "path": "Cargo.toml" } ] }'
    )
    subprocess.run(["cargo", "test", "--no-run", "-q"], cwd=rust, check=True,
                   stderr=subprocess.DEVNULL)
    return {
        "pytest, lines": (lines, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]),
        "pytest, one line": (one_line, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]),
        "libtest, lines": (rust, ["cargo", "test", "-q"]),
        "pytest -s, flushed lines": (
            steady, [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
        ),
    }


def wall(command, cwd):
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv):
    options = {"--megabytes": 200, "--runs": 3}
    for name in options:
        if name in argv:
            at = argv.index(name)
            options[name] = int(argv[at + 1])
            argv = argv[:at] + argv[at + 2:]
    builds = [os.path.abspath(p) for p in argv[1:]]
    if not builds:
        sys.exit(__doc__)
    root = Path(__file__).resolve().parent.parent / "target" / "bench-output"
    suites = write_suites(root, options["--megabytes"])
    print(f"{options['--megabytes']} MB of output, median of {options['--runs']} runs")
    for label, (suite, direct) in suites.items():
        figures = {build: [] for build in builds}
        walls = {build: [] for build in builds}
        alone = []
        for _ in range(options["--runs"]):
            alone.append(wall(direct, suite))
            for build in builds:
                cpu, peak, seconds = host_run(build, suite)
                figures[build].append((cpu, peak))
                walls[build].append(seconds)
        print(f"{label}: alone {statistics.median(alone):.2f} s")
        for build in builds:
            cpu = statistics.median(c for c, _ in figures[build])
            peak = statistics.median(p for _, p in figures[build])
            seconds = statistics.median(walls[build])
            print(f"  {build}: wall {seconds:.2f} s ({seconds / statistics.median(alone):.2f}x), "
                  f"host CPU {cpu:.2f} s, host peak {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main(sys.argv)
