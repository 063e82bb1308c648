#!/usr/bin/env python3
"""GoogleTest's own tests: each binary run directly against `proctor run`.

    python3 benchmarks/googletest_own.py PROCTOR [-j N] [--xml]

Builds the tests of Debian's googletest sources (/usr/src/googletest, the
`googletest` package; it needs cmake) into target/googletest-own once,
then runs every test binary directly with `--gtest_output=xml:` and all of
them under proctor, a source for each binary, on N jobs (default 1), and
compares what each reports: the cases GoogleTest's XML says ran, by
binary and name, against the records of proctor's `summary.json`. It
prints each case whose outcome differs, the records proctor has beyond
the XML's cases by kind (disabled tests skipped, failures outside the
tests, the case of a binary whose listing failed), how many failures
carry a message, and how many messages are the XML's. `--xml` has the
gtest runner read GoogleTest's XML instead of its output.

Several binaries are helpers of googletest's Python tests: their mains
want arguments, refuse `--gtest_list_tests`, or replace GoogleTest's
printer. Those differences are by design, and named in BENCHMARKS.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

SOURCES = Path("/usr/src/googletest")
REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "target" / "googletest-own"


def build() -> Path:
    """The directory of the built test binaries, built when missing."""
    binaries = BUILD / "googletest"
    if (BUILD / "built").exists():
        return binaries
    if not SOURCES.is_dir() or shutil.which("cmake") is None:
        raise SystemExit(
            "needs Debian's googletest sources and cmake: apt-get install googletest cmake"
        )
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["cmake", str(SOURCES), "-Dgtest_build_tests=ON", "-DCMAKE_BUILD_TYPE=Release"],
        cwd=BUILD, check=True, stdout=subprocess.DEVNULL,
    )
    jobs = str(os.cpu_count() or 1)
    subprocess.run(["make", f"-j{jobs}"], cwd=BUILD, check=True, stdout=subprocess.DEVNULL)
    (BUILD / "built").touch()
    return binaries


def test_binaries(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.is_file() and os.access(p, os.X_OK)
    )


def outcome_of(case: ET.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    if case.find("skipped") is not None or case.get("result") == "skipped":
        return "skipped"
    return "passed"


def run_directly(binaries: list[Path], work: Path) -> dict:
    """Each case GoogleTest's XML says ran: (binary, id) to (outcome, message)."""
    cases = {}
    for binary in binaries:
        xml = work / f"{binary.name}.xml"
        subprocess.run(
            [str(binary), f"--gtest_output=xml:{xml}"], cwd=binary.parent,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
        )
        if not xml.exists():
            continue
        for case in ET.parse(xml).getroot().iter("testcase"):
            if not case.get("name") or case.get("status") == "notrun":
                continue
            failure = case.find("failure")
            message = failure.get("message") if failure is not None else None
            key = (binary.name, f"{case.get('classname')}.{case.get('name')}")
            cases[key] = (outcome_of(case), message)
    return cases


def run_under_proctor(proctor: str, binaries: list[Path], work: Path, jobs: str, xml: bool) -> dict:
    """Each record of proctor's summary: (source, id) to (outcome, message)."""
    settings = {"xml": True} if xml else {}
    sources = [
        {"name": b.name, "runner": "gtest", "path": str(b), "mode": "batch", "settings": settings}
        for b in binaries
    ]
    config = work / "proctor.json"
    config.write_text(json.dumps({"sources": sources}))
    results = work / "results"
    run = subprocess.run(
        [proctor, "run", str(config), "-j", jobs, "--results-dir", str(results), "--no-store"],
        cwd=binaries[0].parent, capture_output=True, text=True, timeout=3600,
    )
    print(f"proctor run -j {jobs}: exit {run.returncode}")
    summary = json.loads((results / "summary.json").read_text())
    for error in summary["errors"]:
        print(f"  error: {error.splitlines()[0][:160]}")
    return {
        (t["source"], t["id"]): (t["outcome"], t.get("message"))
        for t in summary["tests"]
    }


def same_message(ours: str, xml: str) -> bool:
    """The XML heads a failure `file:line`; GoogleTest prints `file:line: Failure`."""
    return ours.replace(": Failure\n", "\n", 1).strip() == xml.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proctor")
    parser.add_argument("-j", "--jobs", default="1")
    parser.add_argument("--xml", action="store_true")
    args = parser.parse_args()
    proctor = str(Path(args.proctor).resolve())
    binaries = test_binaries(build())
    work = BUILD / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    direct = run_directly(binaries, work)
    under = run_under_proctor(proctor, binaries, work, args.jobs, args.xml)

    same = [key for key in direct if under.get(key, (None,))[0] == direct[key][0]]
    print(f"{len(binaries)} binaries, {len(direct)} cases in their XML, {len(same)} the same under proctor")
    for key in direct:
        if key not in same:
            print(f"  differs: {key[0]} {key[1]}: {direct[key][0]} directly, "
                  f"{under.get(key, ('no record',))[0]} under proctor")
    beyond = Counter(outcome for key, (outcome, _) in under.items() if key not in direct)
    print(f"records beyond the XML's cases: {dict(beyond)}")
    failed = [key for key, (outcome, _) in under.items() if outcome == "failed"]
    with_message = [key for key in failed if under[key][1]]
    print(f"failures under proctor: {len(failed)}, with a message: {len(with_message)}")
    compared = [key for key in failed if direct.get(key, (None, None))[1]]
    as_xml = [key for key in compared if same_message(under[key][1] or "", direct[key][1])]
    print(f"  of the {len(compared)} the XML has a message for, the XML's: {len(as_xml)}")


if __name__ == "__main__":
    main()
