"""proctor's pytest plugin, loaded with `-p proctor_pytest`.

It writes one line per event to a duplicate of the original stderr, taken at
import, before pytest starts capturing, so the lines reach the host as they
happen whatever the capture mode:

    ##proctor {"event": "started", "id": NODEID}
    ##proctor {"event": "finished", "id": NODEID, "outcome": ..., "message": ...}
    ##proctor {"event": "collected", "id": NODEID, "markers": [...], "skip": ...,
               "file_tests": N}

Collected items are reported when PROCTOR_PYTEST_COLLECT is set.

When PROCTOR_PYTEST_RESULTS names a file, each test's result is appended to
it as it ends, one JSON line, with the failure's details and captured output;
collection errors too. Appending as it goes keeps what ran before a crash,
and costs a tenth of what pytest's JUnit writer does.
PROCTOR_PYTEST_SHARD=K/N keeps the K-th of N contiguous shares of the items,
so N processes that each collect the whole suite run it once between them.
"""

import json
import os

import pytest

_PREFIX = "##proctor "
_stream = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
_phases = {}
_results = None


def _line(event):
    return _PREFIX + json.dumps(event) + "\n"


def _emit(**event):
    # The stream is line-buffered: each write reaches the host at once.
    _stream.write(_line(event))


def _record(entry, flush):
    """Appends a result. What passed may wait in the buffer: if the process
    dies, the live events still tell it; a failure's details are written now."""
    if _results is not None:
        _results.write(json.dumps(entry) + "\n")
        if flush:
            _results.flush()


def pytest_configure(config):
    global _results
    path = os.environ.get("PROCTOR_PYTEST_RESULTS")
    if path:
        _results = open(path, "a", encoding="utf-8", errors="replace")


def pytest_collectreport(report):
    if report.failed:
        _record({"collect_error": report.nodeid, "details": report.longreprtext}, flush=True)


def _skip_reason(item):
    for marker in item.iter_markers(name="skip"):
        return marker.kwargs.get("reason") or (marker.args[0] if marker.args else "skipped")
    return None


def _file_of(nodeid):
    return nodeid.split("::", 1)[0]


_file_tests = {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    # Counted before sharding: a batch holding all of a file's tests may name the file.
    _file_tests.clear()
    for item in items:
        file = _file_of(item.nodeid)
        _file_tests[file] = _file_tests.get(file, 0) + 1
    shard = os.environ.get("PROCTOR_PYTEST_SHARD")
    if not shard:
        return
    index, count = (int(part) for part in shard.split("/"))
    start, end = (index - 1) * len(items) // count, index * len(items) // count
    deselected = items[:start] + items[end:]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = items[start:end]


def pytest_collection_finish(session):
    if not os.environ.get("PROCTOR_PYTEST_COLLECT"):
        return
    # One write for all: the host reads them in a few chunks, not one by one.
    _stream.write("".join(
        _line({
            "event": "collected",
            "id": item.nodeid,
            "markers": sorted({m.name for m in item.iter_markers()}),
            "skip": _skip_reason(item),
            "file_tests": _file_tests.get(_file_of(item.nodeid), 0),
        })
        for item in session.items
    ))


def pytest_sessionfinish(session, exitstatus):
    if _results is not None:
        _results.flush()
    # Collecting nothing (5) is no failure when proctor collects: a share may be empty.
    if os.environ.get("PROCTOR_PYTEST_COLLECT") and exitstatus == 5:
        session.exitstatus = 0


def pytest_runtest_logstart(nodeid, location):
    _phases[nodeid] = []
    _emit(event="started", id=nodeid)


def pytest_runtest_logreport(report):
    _phases.setdefault(report.nodeid, []).append(report)


def _outcome(reports):
    """The outcome, its message, and the report that decided it."""
    for report in reports:
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                return "failed", crash.message, report
            lines = str(report.longrepr).strip().splitlines()
            return "failed", (lines[-1] if lines else None), report
    for report in reports:
        if report.skipped:
            if hasattr(report, "wasxfail"):
                return "skipped", "expected failure: " + str(report.wasxfail), report
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            return "skipped", reason, report
    return "passed", None, None


def pytest_runtest_logfinish(nodeid, location):
    reports = _phases.pop(nodeid, [])
    outcome, message, decisive = _outcome(reports)
    _emit(event="finished", id=nodeid, outcome=outcome, message=message)
    entry = {"id": nodeid, "outcome": outcome, "duration": sum(r.duration for r in reports)}
    if outcome == "failed":
        entry["message"] = message
        entry["details"] = decisive.longreprtext
        # Each phase's report carries the sections captured so far.
        sections = reports[-1].sections if reports else []
        entry["output"] = "\n".join(f"----- {name} -----\n{text}" for name, text in sections)
    elif message:
        entry["message"] = message
    _record(entry, flush=outcome != "passed")
