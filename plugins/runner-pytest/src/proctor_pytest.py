"""proctor's pytest plugin, loaded with `-p proctor_pytest`.

It writes one line per event to a duplicate of the original stderr, taken at
import, before pytest starts capturing, so the lines reach the host as they
happen whatever the capture mode (a passing test's end goes out with the
next test's start, one write a test). pytest-xdist's workers share that
stream: every write holds whole lines and at most what a pipe takes whole,
so that no worker's line cuts into another's.

    ##proctor {"event": "started", "id": NODEID}
    ##proctor {"event": "finished", "id": NODEID, "outcome": ..., "message": ...}
    ##proctor {"event": "collected", "id": NODEID, "markers": [...], "skip": ...,
               "file_tests": N, "share_of": N}

Collected items are reported when PROCTOR_PYTEST_COLLECT is set.

Every line parses as JSON with serde: text that is not valid Unicode (the
lone surrogates Python decodes undecodable file names and bytes into) is
written with a backslash escape, `\\udcff`, as text. An item whose node id
needed that is reported with `"escaped": true`; it cannot be named on a
command line, so PROCTOR_PYTEST_SELECT names a file of node ids (one a line,
as reported) and only those items run.

Subtests (pytest 9's `subtests` fixture, the pytest-subtests plugin) are
reported with their test: a failing subtest fails it, a skipped one leaves
it as it was.

When PROCTOR_PYTEST_RESULTS names a file, each test's result is appended to
it as it ends, one JSON line, with a failure's details, and the captured
output of any test that did not pass (empty when it printed nothing);
collection errors too. Appending as it goes keeps what ran before a crash,
and costs a tenth of what pytest's JUnit writer does. A test's output there
is its last PROCTOR_OUTPUT_TAIL_BYTES characters, when the host sets it: the
host holds no more of it, and pytest's own report has it whole.
PROCTOR_PYTEST_SHARD=K/N keeps the K-th of N contiguous shares of the items'
sorted node ids, so N processes that each collect the whole suite run it
once between them, whatever order each collected it in. The first collected
item of a share then says how many node ids the shares were cut from
(`share_of`): the host checks that the shares add up to it, which they do
not when the processes collected different tests.

PROCTOR_PYTEST_WORKERS=N spreads the items over N workers forked from this
process once it has collected them, each running a contiguous share: the
suite is collected once, not once a process. This process then runs no
test itself. It waits for its workers and ends with the first status other
than 0 (or 5) one ended with; a worker that died of a signal crashes the
test it had in flight (reported by this process, see `_Workers`) and
fails it, and the worker's unstarted tests are left for the host to run
again. A worker's stdout and stderr are this process's; each worker
captures its tests' output in files of its own. The process does not fork
while threads other than daemons run (they would not exist in the workers,
holding whatever locks they held), nor under pytest-xdist, which spreads
the tests itself: it runs them all then.

Every process, worker or not, ends once its session has: it waits for the
threads that are no daemons and runs the exit functions, as the
interpreter would, then ends as C's `exit` does (C libraries' exit
handlers run), skipping the interpreter's teardown, unless
PROCTOR_PYTEST_TEARDOWN is set.
"""

import atexit
import faulthandler
import gc
import json
import mmap
import os
import select
import signal
import struct
import sys
import threading
import time
import warnings
from collections import Counter
from json.encoder import encode_basestring_ascii as _quote
from operator import attrgetter

import pytest
from pytest import TestReport as _TestReport

_PREFIX = "##proctor "
_stream = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
# The most a write to a pipe may hold and reach it whole (PIPE_BUF). Lines
# are ASCII: their characters are their bytes.
_PIPE_BUF = 4096
# A live end's message is cut here, which keeps its line within _PIPE_BUF
# however its characters are escaped; the results file has it whole.
_LIVE_MESSAGE = 500


def _tail(output):
    """The end of `output` the host keeps, after a line saying what went."""
    limit = int(os.environ.get("PROCTOR_OUTPUT_TAIL_BYTES") or 0)
    if not limit or len(output) <= limit:
        return output
    dropped = len(output) - limit
    return (
        f"[proctor: {dropped} characters before this are left out "
        f"(output_tail_bytes); pytest's own report has them]\n" + output[-limit:]
    )


# A running test's node id as JSON and its reports so far, by node id.
_phases = {}
# The runs a plugin repeated (pytest-rerunfailures), by node id, each as
# the JSON of its part of the test's result, until the test's last run.
_repeated = {}
_results = None
# The node id of the last test to run: its end is written at once. Read
# from the collected items, not from each test's protocol, which would be
# one more hook call a test.
_last_nodeid = None


def _escaped(value):
    """`value` with every string fit for UTF-8: lone surrogates escaped."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(item) for item in value]
    return value


def _json(value):
    text = json.dumps(value)
    # A surrogate escape in the text may be a lone one, which no strict
    # JSON reader takes; the rare text that has one is escaped first.
    if "\\ud" in text:
        text = json.dumps(_escaped(value))
    return text


def _quoted(text):
    """`text` as a JSON string, as `_json` writes it. The lines every test
    writes are put together from these: `json.dumps` of a whole event was
    the largest part of what this plugin cost a test."""
    quoted = _quote(text)
    if "\\ud" in quoted:
        quoted = _quote(_escaped(text))
    return quoted


def _quoted_or_null(text):
    return "null" if text is None else _quoted(str(text))


def _nodeid(item):
    """The node id as reported, and whether it had to be escaped."""
    nodeid = item.nodeid
    # Text of ASCII alone has no lone surrogate: most ids are told at once.
    if nodeid.isascii():
        return nodeid, False
    escaped = _escaped(nodeid)
    return escaped, escaped != nodeid


def _emit_finished(quoted_id, outcome, message, flush):
    """Writes a test's live end; `message` is JSON already, a string or null.
    One that is not flushed waits for the next write that is: a passing
    test's end goes out with the next test's start, one write a test."""
    _stream.write(
        f'{_PREFIX}{{"event": "finished", "id": {quoted_id}, "outcome": "{outcome}", '
        f'"message": {message}}}\n'
    )
    if flush:
        _stream.flush()


def _result(quoted_id, outcome, duration, more=""):
    """A test's line of the results file, as JSON text; `more` holds its
    other fields, each led by a comma."""
    return f'{{"id": {quoted_id}, "outcome": "{outcome}", "duration": {duration!r}{more}}}'


def _record(entry, flush):
    """Appends a result, given as its JSON text. What passed may wait in the
    buffer: if the process dies, the live events still tell it; a failure's
    details are written now."""
    if _results is not None:
        _results.write(entry + "\n")
        if flush:
            _results.flush()


def pytest_configure(config):
    global _results
    path = os.environ.get("PROCTOR_PYTEST_RESULTS")
    if path:
        _results = open(path, "a", encoding="utf-8", errors="replace")


def pytest_collectreport(report):
    if report.failed:
        _record(_json({"collect_error": report.nodeid, "details": report.longreprtext}), flush=True)


def _skip_reason(marker):
    return marker.kwargs.get("reason") or (marker.args[0] if marker.args else "skipped")


def _file_of(nodeid):
    return nodeid.split("::", 1)[0]


_file_tests = {}
_NODEID = attrgetter("nodeid")
# How many node ids the shares were cut from, when this process runs one of several.
_share_of = None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    # Counted before sharding: a batch holding all of a file's tests may name the file.
    _file_tests.clear()
    _file_tests.update(Counter(_file_of(nodeid) for nodeid in map(_NODEID, items)))
    selection = os.environ.get("PROCTOR_PYTEST_SELECT")
    if selection:
        with open(selection, encoding="utf-8") as file:
            wanted = set(file.read().splitlines())
        _keep_only(config, items, lambda item: _nodeid(item)[0] in wanted)
    shard = os.environ.get("PROCTOR_PYTEST_SHARD")
    if not shard:
        return
    index, count = (int(part) for part in shard.split("/"))
    if count == 1:
        return
    _own_basetemp(config, f"share-{index}")
    # Shares are cut by node id: an item collected twice (a path given
    # twice with --keep-duplicates) runs twice in one share, not once in each.
    # The ids are sorted, not taken in collection order, which a plugin may
    # shuffle differently in each process (pytest-randomly): every process
    # must cut the same list. Sorted, a file's tests stay together.
    global _share_of
    nodeids = sorted(set(map(_NODEID, items)))
    _share_of = len(nodeids)
    start, end = (index - 1) * len(nodeids) // count, index * len(nodeids) // count
    mine = set(nodeids[start:end])
    _keep_only(config, items, lambda item: item.nodeid in mine)


def _own_basetemp(config, name):
    """Gives this process `name`, a directory of its own, under a
    `--basetemp` that other processes or workers of the source were given
    too. pytest empties the given directory when it first needs it, which
    in one of them would delete what another's tests are using."""
    factory = getattr(config, "_tmp_path_factory", None)
    given = getattr(factory, "_given_basetemp", None)
    if given is None or getattr(factory, "_basetemp", None) is not None:
        return
    given.mkdir(parents=True, exist_ok=True)
    factory._given_basetemp = given / name


def _keep_only(config, items, keep):
    """Keeps the items `keep` accepts; pytest hears of the others as deselected."""
    kept, deselected = [], []
    for item in items:
        (kept if keep(item) else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


def pytest_collection_finish(session):
    global _last_nodeid
    _last_nodeid = session.items[-1].nodeid if session.items else None
    if not os.environ.get("PROCTOR_PYTEST_COLLECT"):
        return
    items = session.items
    if not items:
        return
    # A few writes for all: the host reads them in a few chunks, not one by one.
    markers = _Markers()
    share_of = "" if _share_of is None else f', "share_of": {_share_of}'
    first = _collected(items[0], markers, share_of)
    _write_whole(first + "".join(_collected(item, markers) for item in items[1:]))


def _write_whole(lines):
    """Writes `lines` (whole lines, ASCII) in flushed writes that a pipe
    takes whole: as many lines as fit in _PIPE_BUF, a longer line alone."""
    start = 0
    while start < len(lines):
        end = start + _PIPE_BUF
        if end < len(lines):
            end = lines.rfind("\n", start, end) + 1 or lines.find("\n", end) + 1 or len(lines)
        _stream.write(lines[start:end])
        _stream.flush()
        start = end


class _Markers:
    """The markers of nodes and of their parents, as a collected item
    reports them: their names, and the reason of the closest `skip`. A
    parent's are worked out once for all its items; walking each item's
    whole chain, as `iter_markers` does, was most of what reporting an
    item cost."""

    def __init__(self):
        self._of_parent = {None: (frozenset(), None)}
        self._written = {}
        self._described = {}

    def described(self, item):
        """`item`'s markers and skip reason as its event gives them. The
        items of one parent mostly share their own markers (a parametrized
        function's), and the text is put together once for all of them;
        the markers are told apart by identity, which the items keep alive."""
        key = (item.parent, *map(id, item.own_markers))
        text = self._described.get(key)
        if text is None:
            names, skip = self.of(item)
            text = self._described[key] = (
                f'"markers": [{self.written(names)}], "skip": {_quoted_or_null(skip)}'
            )
        return text

    def of(self, node):
        """`node`'s marker names, and the reason of its closest `skip`."""
        names, skip = self._parents_of(node)
        own = node.own_markers
        if own:
            names = names.union(marker.name for marker in own)
            # A node's own markers are closer than its parent's, the first the closest.
            closest = next((marker for marker in own if marker.name == "skip"), None)
            if closest is not None:
                skip = _skip_reason(closest)
        return names, skip

    def _parents_of(self, node):
        parent = node.parent
        found = self._of_parent.get(parent)
        if found is None:
            found = self._of_parent[parent] = self.of(parent)
        return found

    def written(self, names):
        """`names` as the JSON list's items, sorted."""
        text = self._written.get(names)
        if text is None:
            text = self._written[names] = ", ".join(_quoted(name) for name in sorted(names))
        return text


def _collected(item, markers, extra=""):
    nodeid, escaped = _nodeid(item)
    event = (
        f'{{"event": "collected", "id": {_quote(nodeid)}, {markers.described(item)}, '
        f'"file_tests": {_file_tests.get(_file_of(item.nodeid), 0)}'
    )
    if escaped:
        event += ', "escaped": true'
    return _PREFIX + event + extra + "}\n"


def pytest_sessionfinish(session, exitstatus):
    _stream.flush()
    if _results is not None:
        _results.flush()
    # Collecting nothing (5) is no failure here: a share may be empty, and
    # proctor itself tells which tests never ran. Any other status but 0
    # fails the run, even when every test passed.
    if exitstatus == 5:
        session.exitstatus = 0
    if _workers.status:
        session.exitstatus = _workers.status
    _workers.session = session


def pytest_runtest_logstart(nodeid, location):
    if _workers.slot is not None:
        _workers.started(nodeid)
    quoted = _quoted(nodeid)
    _phases[nodeid] = (quoted, [])
    # The start is written at once: a test that hangs or crashes is known.
    _stream.write(f'{_PREFIX}{{"event": "started", "id": {quoted}}}\n')
    _stream.flush()


def pytest_runtest_logreport(report):
    phases = _phases.get(report.nodeid)
    if phases is None:
        # A report from outside a test's start and end.
        phases = _phases[report.nodeid] = (_quoted(report.nodeid), [])
    phases[1].append(report)


def _subtest_name(report):
    """`[msg] (key=value, ...)`, as pytest names a subtest; `None` for a
    test's own report. Both pytest 9's `SubtestReport` and pytest-subtests'
    `SubTestReport` carry a context with `msg` and `kwargs`."""
    context = getattr(report, "context", None)
    if context is None or not hasattr(context, "kwargs"):
        return None
    parts = []
    if context.msg is not None:
        parts.append(f"[{context.msg}]")
    if context.kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in context.kwargs.items()) + ")")
    return " ".join(parts) or "(subtest)"


def _failure_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    lines = str(report.longrepr).strip().splitlines()
    return lines[-1] if lines else None


def _skip_message(report):
    if hasattr(report, "wasxfail"):
        return "expected failure: " + str(report.wasxfail)
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _outcome(reports):
    """The outcome of a test's own reports, its message, and the report that decided it."""
    for report in reports:
        if report.failed:
            return "failed", _failure_message(report), report
    for report in reports:
        if report.skipped:
            return "skipped", _skip_message(report), report
    return "passed", None, None


def _subtest(report, name):
    entry = {"name": name, "outcome": report.outcome}
    if report.failed:
        entry["message"] = _failure_message(report)
    elif report.skipped:
        entry["message"] = _skip_message(report)
    return entry


def pytest_runtest_logfinish(nodeid, location):
    if _workers.slot is not None:
        _workers.finished()
    quoted_id, reports = _phases.pop(nodeid, None) or (_quoted(nodeid), [])
    # Most tests pass, with reports of their own alone: their end is told
    # here, in the fewest steps, and any other by `_finished`.
    duration = 0.0
    for report in reports:
        if report.outcome != "passed" or type(report) is not _TestReport:
            return _finished(nodeid, quoted_id, reports)
        duration += report.duration
    if not reports or (_repeated and nodeid in _repeated):
        return _finished(nodeid, quoted_id, reports)
    # The end may wait for the next start, which follows at once; the last
    # test's goes out now.
    _emit_finished(quoted_id, "passed", "null", flush=nodeid == _last_nodeid)
    # Not through `_record`: a call less, every test; a pass waits in the buffer.
    if _results is not None:
        _results.write(_result(quoted_id, "passed", duration) + "\n")


def _repeat(nodeid, reports, rerun):
    """Keeps a run that a plugin will repeat (pytest-rerunfailures marks
    the report that failed it `rerun`), for the test's result: its end is
    not the test's, and is not told. The next run's start is, so that each
    run has the test's time limit from its own start."""
    entry = {
        "outcome": "failed",
        "duration": sum(r.duration for r in reports if _subtest_name(r) is None),
        "message": _failure_message(rerun),
        "details": rerun.longreprtext,
    }
    _repeated.setdefault(nodeid, []).append(_json(entry))


def _finished(nodeid, quoted_id, reports):
    """Tells the end of a test that did not simply pass: its outcome
    decided from its own reports and its subtests'."""
    rerun = next((r for r in reports if r.outcome == "rerun"), None)
    if rerun is not None:
        return _repeat(nodeid, reports, rerun)
    own, subtests, failed_subtests = [], [], []
    for report in reports:
        name = _subtest_name(report)
        if name is None:
            own.append(report)
        else:
            subtests.append(_subtest(report, name))
            if report.failed:
                failed_subtests.append((name, report))
    outcome, message, decisive = _outcome(own)
    # A failing subtest fails its test, whichever plugin ran it (pytest 9
    # fails the test itself; pytest-subtests leaves it passing).
    if failed_subtests and outcome != "failed":
        outcome, decisive = "failed", failed_subtests[0][1]
    if failed_subtests:
        message = "; ".join(
            f"{name}: {_failure_message(report)}" for name, report in failed_subtests
        )
    # A passing end may wait for the next start, which follows at once;
    # the last test's end, and any end but a pass, go out now.
    live_message = message
    if message is not None and len(message) > _LIVE_MESSAGE:
        live_message = message[:_LIVE_MESSAGE] + " [...]"
    _emit_finished(
        quoted_id,
        outcome,
        _quoted_or_null(live_message),
        flush=nodeid == _last_nodeid or outcome != "passed",
    )
    more = ""
    if outcome == "failed":
        details = "\n\n".join(
            [r.longreprtext for _, r in failed_subtests]
            + [r.longreprtext for r in own if r.failed]
        )
        more += f', "message": {_quoted_or_null(message)}, "details": {_quoted(details)}'
    elif message:
        more += f', "message": {_quoted(message)}'
    if outcome != "passed":
        # What pytest captured of the test, empty if nothing: the host need
        # not guess it from the process's output.
        sections = reports[-1].sections if reports else []
        output = _tail("\n".join(f"----- {name} -----\n{text}" for name, text in sections))
        more += f', "output": {_quoted(output)}'
    if subtests:
        more += f', "subtests": {_json(subtests)}'
    repeated = _repeated.pop(nodeid, None)
    if repeated:
        more += f', "earlier_runs": [{", ".join(repeated)}]'
    duration = sum(r.duration for r in own)
    # A pass after repeated runs is written at once too: had it waited, a
    # process killed later would leave the live end alone, a plain pass.
    flush = outcome != "passed" or bool(repeated)
    _record(_result(quoted_id, outcome, duration, more), flush=flush)


class _Workers:
    """The workers this process forks, and what became of them.

    Each worker notes the test it runs in a slot of memory it shares with
    this process (the test's index among the items and when it started,
    written at its start and cleared at its end: no system call), and
    Python's fault handler, when pytest enabled it, writes a worker's
    traceback to a file of the worker's own. When a worker dies of a
    signal, this process reads its slot and reports that test crashed, with
    the signal and the traceback; the worker's tests that never started
    are left unreported, and the host runs them again."""

    _SLOT = struct.Struct("qd")

    def __init__(self):
        self.count = int(os.environ.get("PROCTOR_PYTEST_WORKERS") or 1)
        # The first exit status of a worker that was not 0.
        self.status = 0
        # In a worker: its slot, and where each of its tests is among the items.
        self.slot = None
        self.places = None
        self.running = None
        # The session, once it has ended: its status is the process's.
        self.session = None

    def why_not(self, session):
        """Why this process may not fork its workers, or `None` when it may.
        The reason is empty when nothing is worth saying: one worker asked
        for, fewer than two items, or a collection that failed."""
        if self.count < 2 or len(session.items) < 2 or session.testsfailed:
            return ""
        config = session.config
        if hasattr(config, "workerinput") or getattr(config.option, "dist", "no") != "no":
            return "pytest-xdist spreads the tests"
        # A thread the program waits for at exit does work a fork would
        # not copy. Daemon threads serve or watch (pytest-rerunfailures
        # starts a server for pytest-xdist's workers), and the program
        # never waited for them.
        others = [
            thread.name
            for thread in threading.enumerate()
            if thread is not threading.current_thread() and not thread.daemon
        ]
        if others:
            return f"threads run that are no daemons, which a fork would not copy: {', '.join(others)}"
        return None

    def fork(self, session):
        """Forks a worker a share of the items. Answers `True` in this
        process, whose workers ran them all; `False` in a worker, which goes
        on to run its share as pytest runs any session's items."""
        items = session.items
        count = min(self.count, len(items))
        self.running = mmap.mmap(-1, self._SLOT.size * count)
        # What is buffered now would otherwise be written again by each worker.
        _flush_all()
        # What collecting made goes to the cycle collector's permanent
        # generation, as Python advises before a fork without exec: a
        # worker's full collections no longer walk those objects, writing
        # to each and so copying every page the worker shares with this
        # process. A cycle among them that a worker drops stays uncollected
        # there, until the worker ends. (Python 3.7 and later; pytest 7.0
        # still ran on 3.6.)
        if hasattr(gc, "freeze"):
            gc.freeze()
        children = {}
        for worker in range(count):
            start, end = worker * len(items) // count, (worker + 1) * len(items) // count
            with warnings.catch_warnings():
                # Python 3.12 warns of a fork beside threads; ours are daemons.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                self.slot = worker * self._SLOT.size
                self.places = {item.nodeid: start + i for i, item in enumerate(items[start:end])}
                _become_worker(session, items[start:end], worker)
                return False
            children[pid] = worker
        for pid, status in _each_exit(children):
            if os.WIFSIGNALED(status):
                self._died(items, children[pid], os.WTERMSIG(status))
            elif os.WEXITSTATUS(status) not in (0, 5):
                self.status = self.status or os.WEXITSTATUS(status)
        # This process's own summary will say it ran no test.
        print(f"\nproctor: {count} workers ran these tests, each saying so above", flush=True)
        return True

    def started(self, nodeid):
        """Notes in the worker's slot that `nodeid` runs, from now."""
        place = self.places.get(nodeid, -1)
        self._SLOT.pack_into(self.running, self.slot, place + 1, time.monotonic())

    def finished(self):
        self._SLOT.pack_into(self.running, self.slot, 0, 0.0)

    def _died(self, items, worker, signum):
        """Reports the test `worker` ran when it died of `signum`, if any."""
        self.status = self.status or 1
        place, since = self._SLOT.unpack_from(self.running, worker * self._SLOT.size)
        try:
            name = f" ({signal.Signals(signum).name})"
        except ValueError:  # a real-time signal has no name
            name = ""
        died = f"the worker process died of signal {signum}{name}"
        if not place:
            print(f"proctor: {died} between tests", file=sys.stderr)
            return
        faults = ""
        path = _faults_of(worker)
        if path is not None and os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as file:
                faults = file.read()
            # The process's stderr has it too, as without workers.
            sys.stderr.write(faults)
        test = items[place - 1]
        # Quoted as its start was: the same id, escaped the same way.
        quoted_id = _quoted(test.nodeid)
        message = _quoted(died + " while this test ran")
        _emit_finished(quoted_id, "crashed", message, flush=True)
        details = _quoted(faults) if faults else message
        more = f', "message": {message}, "details": {details}, "output": ""'
        _record(_result(quoted_id, "crashed", time.monotonic() - since, more), flush=True)
        print(f"proctor: {died} while {test.nodeid} ran", file=sys.stderr)


_workers = _Workers()


def _faults_of(worker):
    """The file a worker's fault handler writes to, beside the results."""
    results = os.environ.get("PROCTOR_PYTEST_RESULTS")
    if not results:
        return None
    return os.path.join(os.path.dirname(results), f"pytest-worker-{worker + 1}.faults")


def _flush_all():
    """Writes out what this process holds buffered, ours and its own streams'."""
    for stream in (sys.stdout, sys.stderr, _stream, _results):
        if stream is not None:
            stream.flush()


def _each_exit(pids):
    """Each of `pids`, children of this process, with its wait status, as
    it ends: a crash is reported while the other workers still run, before
    the host's limit on the test can run out. Other children (a server a
    conftest started) are left to whoever waits for them."""
    waiting = set(pids)
    try:
        ends = {os.pidfd_open(pid): pid for pid in waiting}
    except (AttributeError, OSError):
        ends = None
    while waiting:
        if ends is not None:
            ready, _, _ = select.select(list(ends), [], [])
            ended = [ends.pop(fd) for fd in ready]
            for fd in ready:
                os.close(fd)
        else:
            time.sleep(0.05)
            ended = list(waiting)
        for pid in ended:
            found, status = os.waitpid(pid, 0 if ends is not None else os.WNOHANG)
            if found:
                waiting.discard(pid)
                yield pid, status


def _become_worker(session, share, worker):
    """Makes this forked process worker number `worker` (from 0), which
    runs `share`."""
    global _last_nodeid, _faults
    session.items = share
    _last_nodeid = share[-1].nodeid
    _own_basetemp(session.config, f"worker-{worker + 1}")
    # The process's capture files are shared with every worker; each needs
    # its own. The forking process, idle from now on, writes to them no more.
    capture = session.config.pluginmanager.getplugin("capturemanager")
    if capture is not None and capture.is_globally_capturing():
        capture.stop_global_capturing()
        capture.start_global_capturing()
        capture.suspend_global_capture()
    faults = _faults_of(worker)
    if faults is not None and faulthandler.is_enabled():
        _faults = open(faults, "w", encoding="utf-8")
        faulthandler.enable(file=_faults, all_threads=True)


# A worker's fault handler's file, kept open for it.
_faults = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    reason = _workers.why_not(session)
    if reason is None:
        return _workers.fork(session) or None
    if reason:
        print(
            f"proctor: running the tests in this process, not in {_workers.count} workers: {reason}",
            file=sys.stderr,
        )
    return None


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # Every pytest process the host runs ends here, once its session has
    # ended, unless PROCTOR_PYTEST_TEARDOWN is set: as the interpreter
    # would, it waits for the threads that are no daemons and runs the exit
    # functions (coverage.py saves its data there, each worker in a file of
    # its own), then ends as C's `exit` ends a program, without the
    # interpreter's teardown. That teardown frees every object one by one,
    # which the end of the process does at once: 0.3 s after the last of
    # 10,000 tests, and in a worker it also copies every page it shares
    # with the forking process. Python does not promise to finalize the
    # objects still alive at exit.
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if _full_exit or _workers.session is None or run_exit_functions is None:
        return
    _join_threads()
    run_exit_functions()
    _flush_all()
    _exit(_workers.session.exitstatus)


# Whether this process ends with the interpreter's teardown, as plain pytest does.
_full_exit = bool(os.environ.get("PROCTOR_PYTEST_TEARDOWN"))


def _join_threads():
    """Waits for the threads the interpreter would wait for at exit."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()


def _exit(status):
    """Ends the process with `status` as C's `exit` does: the exit handlers
    and destructors of C libraries run (gcov writes a C extension's
    coverage there). The interpreter's lock is held meanwhile, so daemon
    threads stay stopped, as in the interpreter's own ending. Without
    ctypes, only the process ends."""
    try:
        import ctypes

        end = ctypes.PyDLL(None).exit
    except (ImportError, OSError):
        end = os._exit
    end(int(status))
