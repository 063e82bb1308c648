#!/usr/bin/env python3
"""Downloads a 1 GiB payload over loopback through proctor's http plugin and
with curl, taking turns, and prints throughput and peak memory of each.

    python3 benchmarks/download.py [RUNS] [SIZE_MIB]

Both fetch the same URL from the same server (the test server of
tests/http_server.rs, which sends the file with sendfile) and write to the
same file system. curl's figure is its own transfer time (%{time_total});
proctor's is the download's duration_ms from summary.json, which covers the
plugin call and moving the file into place. proctor's whole run (start-up,
plugin loading, a one-test source, reports) is shown beside it.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
SIZE_MIB = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
WORK = ROOT / "target" / "bench" / "download"


def build():
    cargo = ["cargo", "build", "--release", "-q"]
    subprocess.run(cargo + ["--workspace", "--exclude", "proctor-e2e"], cwd=ROOT, check=True)
    subprocess.run(cargo + ["-p", "proctor-e2e", "--bin", "serve"], cwd=ROOT, check=True)


def payload():
    path = WORK / f"payload-{SIZE_MIB}MiB.bin"
    if not path.exists() or path.stat().st_size != SIZE_MIB << 20:
        with open(path, "wb") as out:
            for _ in range(SIZE_MIB):
                out.write(os.urandom(1 << 20))
    return path


def run(command):
    """Runs command; answers (wall seconds, peak RSS in MiB, stdout).

    The peak comes from GNU time: a child forked from Python inherits
    Python's own peak, which wait4 would report instead."""
    rss_file = WORK / "rss.txt"
    started = time.perf_counter()
    child = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + command,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=WORK,
    )
    wall = time.perf_counter() - started
    if child.returncode not in (0, 1):
        sys.exit(f"{command[0]} failed with exit code {child.returncode}")
    return wall, int(rss_file.read_text().split()[-1]) / 1024, child.stdout.decode()


def main():
    if not Path("/usr/bin/time").exists():
        sys.exit("GNU time measures peak memory: apt-get install time")
    WORK.mkdir(parents=True, exist_ok=True)
    build()
    source = payload()
    server = subprocess.Popen([ROOT / "target/release/serve", source], stdout=subprocess.PIPE)
    url = server.stdout.readline().decode().strip()
    config = {
        "downloads": {"files": [{"uri": url, "destination": "out/payload.bin"}]},
        "sources": [{
            "name": "after",
            "runner": "command",
            "path": ".",
            "settings": {
                "command": ["sh", "-c", "echo '<testsuite name=\"s\"><testcase name=\"t\"/></testsuite>' > {results_dir}/r.xml"],
                "results": ["{results_dir}/*.xml"],
            },
        }],
    }
    (WORK / "proctor.json").write_text(json.dumps(config))
    proctor = str(ROOT / "target/release/proctor")
    curl_rate, ours_rate, ours_wall, curl_rss, ours_rss = [], [], [], [], []
    mib = SIZE_MIB
    try:
        for round in range(RUNS):
            def with_curl():
                out = WORK / "curl.bin"
                _, rss, text = run(["curl", "-sS", "-o", str(out), "-w", "%{time_total}", url])
                assert out.stat().st_size == SIZE_MIB << 20
                out.unlink()
                curl_rate.append(mib / float(text))
                curl_rss.append(rss)

            def with_proctor():
                wall, rss, _ = run([proctor, "run", "proctor.json", "-j", "1"])
                summary = json.loads((WORK / "results" / "summary.json").read_text())
                download = summary["downloads"][0]
                assert download["bytes"] == SIZE_MIB << 20, download
                (WORK / "out" / "payload.bin").unlink()
                ours_rate.append(mib / (download["duration_ms"] / 1000))
                ours_wall.append(wall)
                ours_rss.append(rss)

            turns = [with_curl, with_proctor] if round % 2 == 0 else [with_proctor, with_curl]
            for turn in turns:
                turn()
    finally:
        server.kill()
    median = statistics.median
    print(f"{SIZE_MIB} MiB over loopback, median of {RUNS} runs, taking turns:")
    print(f"  curl:               {median(curl_rate):8.0f} MiB/s   peak RSS {max(curl_rss):6.1f} MiB")
    print(f"  proctor http:       {median(ours_rate):8.0f} MiB/s   peak RSS {max(ours_rss):6.1f} MiB")
    print(f"  proctor whole run:  {median(ours_wall):8.2f} s")
    print(f"  proctor / curl throughput: {median(ours_rate) / median(curl_rate):.2f}")


if __name__ == "__main__":
    main()
