#!/usr/bin/env python3
"""Dump compression: the `dumps` processor against pigz -p2 and gzip -6.

    python3 benchmarks/dumps.py [RUNS]

The dumps are real minidumps of live Python processes with several threads
each (written by the `dump` collector's writer, examples/dump.rs), kept in
target/bench/dumps. Each tool compresses a fresh copy of them at level 6,
taking turns; only the compression is timed. proctor's side is the plugin
loaded and called as the host calls it (examples/compress.rs). Needs pigz.
"""

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
WORK = ROOT / "target" / "bench" / "dumps"
CORPUS = WORK / "corpus"
PROCESSES, ROUNDS = 24, 12
SLEEPER = (
    "import threading, time\n"
    "blob = bytearray(64 << 20)\n"
    "for _ in range(16):\n"
    "    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
    "time.sleep(600)\n"
)


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "proctor-collector-dump", "--example",
                    "dump", "-p", "proctor-processor-dumps", "--example", "compress"],
                   cwd=ROOT, check=True)


def corpus():
    if CORPUS.exists() and any(CORPUS.iterdir()):
        return
    CORPUS.mkdir(parents=True, exist_ok=True)
    sleepers = [subprocess.Popen([sys.executable, "-c", SLEEPER]) for _ in range(PROCESSES)]
    try:
        time.sleep(2)
        pids = [str(p.pid) for p in sleepers]
        for _ in range(ROUNDS):
            subprocess.run([ROOT / "target/release/examples/dump", CORPUS] + pids, check=True)
    finally:
        for p in sleepers:
            p.kill()


def fresh(name):
    target = WORK / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(CORPUS, target)
    return target


def timed(command):
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def compressed_size(directory):
    return sum(p.stat().st_size for p in directory.glob("*.gz"))


def main():
    if shutil.which("pigz") is None:
        sys.exit("pigz is needed: apt-get install pigz")
    build()
    corpus()
    dumps = sorted(CORPUS.glob("*.dmp"))
    megabytes = sum(p.stat().st_size for p in dumps) / 1e6
    tools = {
        "proctor dumps": lambda d: [ROOT / "target/release/examples/compress", d],
        "pigz -p2 -6": lambda d: ["pigz", "-p2", "-6"] + sorted(map(str, d.glob("*.dmp"))),
        "gzip -6": lambda d: ["gzip", "-6"] + sorted(map(str, d.glob("*.dmp"))),
    }
    times = {name: [] for name in tools}
    sizes = {}
    for round in range(RUNS):
        names = list(tools)
        names = names[round % len(names):] + names[:round % len(names)]
        for name in names:
            directory = fresh(name.split()[0])
            times[name].append(timed(tools[name](directory)))
            sizes[name] = compressed_size(directory)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(dumps)} minidumps, {megabytes:.1f} MB, median of {RUNS} runs:")
    for name in tools:
        print(f"  {name:14} {median[name]:6.3f} s  {megabytes / median[name]:7.1f} MB/s  "
              f"output {sizes[name] / 1e6:6.2f} MB")
    ours = median["proctor dumps"]
    print(f"  throughput against pigz -p2: {median['pigz -p2 -6'] / ours:.2f}x, "
          f"against gzip -6: {median['gzip -6'] / ours:.2f}x")


if __name__ == "__main__":
    main()
