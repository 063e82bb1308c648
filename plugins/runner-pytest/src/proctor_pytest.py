"""proctor's pytest plugin, loaded with `-p proctor_pytest`.

It writes one line per event to a duplicate of the original stderr, taken at
import, before pytest starts capturing, so the lines reach the host as they
happen whatever the capture mode:

    ##proctor {"event": "started", "id": NODEID}
    ##proctor {"event": "finished", "id": NODEID, "outcome": ..., "message": ...}
    ##proctor {"event": "collected", "id": NODEID, "markers": [...], "skip": ...}
"""

import json
import os

_PREFIX = "##proctor "
_stream = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
_phases = {}


def _emit(**event):
    _stream.write(_PREFIX + json.dumps(event) + "\n")
    _stream.flush()


def _skip_reason(item):
    for marker in item.iter_markers(name="skip"):
        return marker.kwargs.get("reason") or (marker.args[0] if marker.args else "skipped")
    return None


def pytest_collection_finish(session):
    if not os.environ.get("PROCTOR_PYTEST_COLLECT"):
        return
    for item in session.items:
        _emit(
            event="collected",
            id=item.nodeid,
            markers=sorted({m.name for m in item.iter_markers()}),
            skip=_skip_reason(item),
        )


def pytest_runtest_logstart(nodeid, location):
    _phases[nodeid] = []
    _emit(event="started", id=nodeid)


def pytest_runtest_logreport(report):
    _phases.setdefault(report.nodeid, []).append(report)


def _outcome(reports):
    for report in reports:
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                return "failed", crash.message
            lines = str(report.longrepr).strip().splitlines()
            return "failed", (lines[-1] if lines else None)
    for report in reports:
        if report.skipped:
            if hasattr(report, "wasxfail"):
                return "skipped", "expected failure: " + str(report.wasxfail)
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            return "skipped", reason
    return "passed", None


def pytest_runtest_logfinish(nodeid, location):
    outcome, message = _outcome(_phases.pop(nodeid, []))
    _emit(event="finished", id=nodeid, outcome=outcome, message=message)
