#!/usr/bin/env python3
"""What live events written to a mapped file would save over the pipe.

    python3 benchmarks/live_channel.py [TESTS] [RUNS]

Our pytest plugin writes each test's start to a pipe at once: one flushed
write, one system call, a test. The alternative proposed in the fifteenth round's notes is
a file both sides map: the plugin copies its lines into the mapping (no
system call; the pages outlive a crash), and the host reads the file on
its interval. This measures that alternative before building it: on
many_tests.py's suite of TESTS fast tests (default 10,000), RUNS rounds
(default 11) taking turns, it times

- plain pytest;
- pytest with our plugin, its events written to a pipe that holds 1 MiB
  and read every 20 ms, as the host reads it;
- the same plugin with its event stream replaced by a writer into a
  mapped file (made here, from the plugin's source), read every 20 ms.

Prints each one's median wall and CPU time (children included) and the
ratios to plain pytest. No host runs: the difference is the plugin's.
"""

import fcntl
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from many_tests import with_plugin, write_suite

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "plugins" / "runner-pytest" / "src" / "proctor_pytest.py"
# What Linux calls F_SETPIPE_SZ; Python's fcntl names it from 3.10 on.
SET_PIPE_SIZE = getattr(fcntl, "F_SETPIPE_SZ", 1031)
READ_INTERVAL = 0.02

# Replaces the plugin's event stream: lines are copied into a file mapped
# shared, which grows by doubling. Only `write` and `flush` are used.
MAPPED_WRITER = '''

class _MappedStream:
    def __init__(self, path):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._size = 1 << 20
        os.ftruncate(self._fd, self._size)
        self._map = mmap.mmap(self._fd, self._size)
        self._end = 0

    def write(self, text):
        data = text.encode("utf-8", "replace")
        end = self._end + len(data)
        if end > self._size:
            while end > self._size:
                self._size *= 2
            self._map.resize(self._size)
        self._map[self._end:end] = data
        self._end = end

    def flush(self):
        pass


_stream = _MappedStream(os.environ["PROCTOR_PYTEST_EVENTS_FILE"])
'''


def mapped_plugin(directory: Path) -> Path:
    """The plugin with its event stream written into a mapped file."""
    source = PLUGIN.read_text()
    anchor = next(line for line in source.splitlines() if line.startswith("_stream = "))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / PLUGIN.name).write_text(source.replace(anchor, anchor + MAPPED_WRITER, 1))
    return directory


def read_paced(command, cwd, env, events_file=None):
    """Runs `command` with its stderr in a 1 MiB pipe read every 20 ms,
    and reads `events_file` as far as it is written on the same beat."""
    reader, writer = os.pipe()
    fcntl.fcntl(writer, SET_PIPE_SIZE, 1 << 20)
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=writer)
    os.close(writer)
    os.set_blocking(reader, False)
    events, taken = None, 0
    while True:
        ended = process.poll() is not None
        while True:
            try:
                if not os.read(reader, 1 << 20):
                    break
            except BlockingIOError:
                break
        if events_file is not None:
            if events is None and os.path.exists(events_file):
                events = open(events_file, "rb")
            if events is not None:
                events.seek(taken)
                chunk = events.read(1 << 20)
                # Whole lines only, and nothing past the first byte not yet written.
                written = chunk.split(b"\0", 1)[0]
                taken += written.rfind(b"\n") + 1
        if ended:
            break
        time.sleep(READ_INTERVAL)
    os.close(reader)
    if events is not None:
        events.close()


def main(argv):
    tests = int(argv[1]) if len(argv) > 1 else 10_000
    runs = int(argv[2]) if len(argv) > 2 else 11
    root = REPO / "target" / "bench-many" / str(tests)
    write_suite(root, tests)
    scratch = Path(tempfile.mkdtemp(prefix="live-channel-"))
    results = scratch / "results.jsonl"
    events_file = scratch / "events.bin"
    pytest = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    plugged = pytest[:3] + ["-p", "proctor_pytest"] + pytest[3:]
    piped = with_plugin(PLUGIN.parent, results)
    mapped = with_plugin(mapped_plugin(scratch / "mapped"), results)
    mapped["PROCTOR_PYTEST_EVENTS_FILE"] = str(events_file)
    ways = {
        "pytest": lambda: subprocess.run(
            pytest, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ),
        "plugin, events to a pipe": lambda: read_paced(plugged, root, piped),
        "plugin, events to a mapped file": lambda: read_paced(
            plugged, root, mapped, str(events_file)
        ),
    }
    wall = {name: [] for name in ways}
    cpu = {name: [] for name in ways}
    for _ in range(runs):
        for name, run in ways.items():
            results.unlink(missing_ok=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            run()
            wall[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(
                after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            )
    shutil.rmtree(scratch)
    base_wall, base_cpu = statistics.median(wall["pytest"]), statistics.median(cpu["pytest"])
    print(f"{tests} tests, median of {runs} runs, taking turns:")
    for name in ways:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"  {name:<32} wall {w:7.3f}s ({w / base_wall:.3f}x)"
            f"  cpu {c:7.3f}s ({c / base_cpu:.3f}x)"
        )


if __name__ == "__main__":
    main(sys.argv)
