//! Every run ends, and ends cleanly: stop signals, a host killed with
//! SIGKILL, daemons that hide, pipes held open, discovery that never ends.
//! Each run's processes carry a marker on their command line; "no process
//! is left" means no live process on the machine carries it, and no cgroup
//! of the host is left.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proctor_e2e::http_server::{Fault, Route, TestServer};
use proctor_e2e::*;
use serde_json::{json, Value};

/// A marker no other run shares.
fn marker(name: &str) -> String {
    format!("proctor-ending-{}-{name}", std::process::id())
}

/// Live processes whose command line carries `marker`.
fn marked(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let carries = cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == marker.as_bytes());
        if carries && alive(pid.into()) {
            found.push(pid);
        }
    }
    found
}

/// Waits until no live process carries `marker`; kills any left after
/// `within` and fails, so that a failing test leaves the machine clean.
fn assert_none_left(marker: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !marked(marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = marked(marker);
    kill_marked(marker);
    assert!(left.is_empty(), "processes of the run were left: {left:?}");
}

/// Waits until a process carrying `marker` runs.
fn wait_marked(marker: &str) {
    wait_until(
        Duration::from_secs(30),
        "no process of the run started",
        || !marked(marker).is_empty(),
    );
}

/// Waits until `done`, failing with `otherwise` past `within`.
fn wait_until(within: Duration, otherwise: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{otherwise}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_marked(marker: &str) {
    for pid in marked(marker) {
        send_signal(pid, "KILL");
    }
}

/// The host's cgroups still on the machine (none where it used none).
fn cgroups_left(summary: &RunSummary, host: u32) -> Vec<PathBuf> {
    host_cgroups(summary.run.containment.cgroup_parent.as_deref(), host)
}

/// The cgroups host `host` made under `parent`, where it makes them.
fn host_cgroups(parent: Option<&str>, host: u32) -> Vec<PathBuf> {
    let Some(parent) = parent else {
        return Vec::new();
    };
    let prefix = format!("proctor-{host}-");
    std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// The absolute path of the `python3` on PATH: a daemon with a cleared
/// environment has no PATH to find it with.
fn python() -> String {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn pytest_source(file: &str, marker: &str) -> Value {
    json!({
        "name": "py",
        "runner": "pytest",
        "path": fixtures().join("pytest-ending").join(file),
        "env": { "ENDING_MARKER": marker },
    })
}

/// A run of `test_holds_on.py` on one job, writing results layout
/// `layout`, once its second test and that test's child run: a stop signal
/// then finds a tree of two that ignores it.
fn holding_on(
    dir: &Path,
    marker: &str,
    grace_seconds: u64,
    layout: u32,
    shell: Option<&str>,
) -> Background {
    let config = json!({
        "jobs": 1,
        "grace_period_seconds": grace_seconds,
        "results_layout": layout,
        "sources": [pytest_source("test_holds_on.py", marker)],
    });
    let run = Background::start(dir, config, &[], shell);
    run.wait_for("test_2_holds_on starting", |e| {
        is_event(e, "test_started") && e["test"] == "test_holds_on.py::test_2_holds_on"
    });
    wait_marked(marker);
    run
}

fn is_event(event: &Value, name: &str) -> bool {
    event["event"] == name
}

fn outcome(summary: &RunSummary, id: &str) -> &'static str {
    test_record(summary, "py", id).outcome.as_str()
}

/// SIGINT (inherited as ignored, as `&` in a script leaves it), SIGTERM and
/// SIGHUP each stop a run whose running test ignores them: it is killed
/// after the grace period, the tests after it never start, every report is
/// written and valid, the exit code is 128 and the signal's number. One
/// run writes results layout 2.
#[test]
fn each_stop_signal_ends_the_run_with_its_reports_its_exit_code_and_no_process_left() {
    let cases = [
        ("INT", 130, Some("trap '' INT; exec \"$@\""), 1),
        ("TERM", 143, None, 2),
        ("HUP", 129, None, 1),
    ];
    std::thread::scope(|scope| {
        for (signal, code, shell, layout) in cases {
            scope.spawn(move || {
                let dir = tempfile::tempdir().unwrap();
                let marker = marker(&format!("signal-{signal}"));
                let mut run = holding_on(dir.path(), &marker, 1, layout, shell);
                send_signal(run.pid(), signal);
                let (status, stderr) = run.exit(Duration::from_secs(60));
                assert_eq!(status.code(), Some(code), "SIG{signal}:\n{stderr}");
                assert!(stderr.contains(&format!("STOP SIG{signal}")), "{stderr}");
                let summary = run.summary();
                assert_eq!(summary.run.outcome, RunOutcome::Interrupted);
                assert_eq!(i32::from(summary.run.exit_code), code);
                let stopped_by = summary.run.stopped_by.map(|s| s.to_string());
                assert_eq!(stopped_by, Some(format!("SIG{signal}")));
                assert_eq!(
                    outcome(&summary, "test_holds_on.py::test_1_passes"),
                    "passed"
                );
                let held = test_record(&summary, "py", "test_holds_on.py::test_2_holds_on");
                assert_eq!(held.outcome, Outcome::NotRun, "{held:#?}");
                assert!(held
                    .message
                    .as_deref()
                    .unwrap()
                    .contains("while this test ran"));
                for never in ["test_3_never_starts", "test_4_never_starts"] {
                    let id = format!("test_holds_on.py::{never}");
                    assert_eq!(outcome(&summary, &id), "not_run", "{id}");
                }
                assert_eq!(summary.run.counts.not_run, 3);
                assert_reports_valid(&run.results());
                let junit = std::fs::read_to_string(run.results().join("junit.xml")).unwrap();
                assert!(junit.contains("not run"), "{junit}");
                let events = journal(&run.results());
                assert!(events.iter().any(|e| is_event(e, "stop_requested")
                    && e["signal"] == format!("SIG{signal}")
                    && e["at_once"] == false));
                assert_eq!(events.last().unwrap()["event"], "run_finished");
                assert_none_left(&marker, Duration::from_secs(5));
                assert_eq!(cgroups_left(&summary, run.pid()), Vec::<PathBuf>::new());
            });
        }
    });
}

/// A second signal does not wait out the grace period.
#[test]
fn a_second_sigint_kills_the_running_tests_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("twice");
    let mut run = holding_on(dir.path(), &marker, 600, 1, None);
    send_signal(run.pid(), "INT");
    run.wait_for("the first stop", |e| is_event(e, "stop_requested"));
    send_signal(run.pid(), "INT");
    // Far sooner than the grace period of ten minutes.
    let (status, stderr) = run.exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{stderr}");
    let events = journal(&run.results());
    assert!(
        events
            .iter()
            .any(|e| is_event(e, "stop_requested") && e["at_once"] == true),
        "{events:#?}"
    );
    let summary = run.summary();
    assert_eq!(
        outcome(&summary, "test_holds_on.py::test_2_holds_on"),
        "not_run"
    );
    assert_none_left(&marker, Duration::from_secs(5));
}

/// SIGKILL leaves the host no time: the guardian kills its tests, daemons
/// that escaped included, and the journal already holds every result that
/// finished, in a batch as in isolated processes. The batch writes results
/// layout 2, whose journal writes a batch's records its own way: what a
/// killed host leaves of it reads as that layout's.
#[test]
fn a_host_killed_with_sigkill_leaves_no_test_process_and_a_journal_of_what_finished() {
    for (mode, layout) in [("batch", 2), ("isolated", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let marker = marker(&format!("sigkill-{mode}"));
        let mut source = pytest_source("test_daemon.py", &marker);
        source["mode"] = json!(mode);
        let config = json!({ "jobs": 1, "results_layout": layout, "sources": [source] });
        let mut run = Background::start(dir.path(), config, &[], None);
        let waits = "test_daemon.py::test_2_waits";
        run.wait_for("test_2_waits starting", |e| {
            (is_event(e, "test_started") && e["test"] == waits)
                || (is_event(e, "process_launched") && e["tests"][0] == waits)
        });
        wait_marked(&marker);
        // The host's groups are named after the host, the supervisor's child;
        // killing the supervisor kills it too.
        let host = host_pid(run.pid());
        send_signal(run.pid(), "KILL");
        run.exit(Duration::from_secs(10));
        assert_none_left(&marker, Duration::from_secs(10));
        let finished = journal(&run.results()).into_iter().find(|e| {
            (is_event(e, "test_reported") || is_event(e, "attempt_finished"))
                && e["test"] == "test_daemon.py::test_1_leaves_a_daemon"
        });
        let finished = finished.unwrap_or_else(|| panic!("{mode}: test_1's result is journaled"));
        assert_eq!(finished["outcome"], "passed", "{mode}");
        // The host made its groups under the cgroup it started in, this
        // test's. The guardian removes them once they are empty, a moment
        // after it killed what was in them.
        let parent = proctor::process::containment().cgroup_parent;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut left = host_cgroups(parent.as_deref(), host);
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            left = host_cgroups(parent.as_deref(), host);
        }
        assert_eq!(
            left,
            Vec::<PathBuf>::new(),
            "{mode}: the guardian removed the host's cgroups"
        );
    }
}

/// A daemon that left the session and cleared its environment escapes a
/// sweep, not its cgroup: it is killed when its test's process ends, and
/// the test is marked leaky, or fails with `leak: fail`. Where no cgroup
/// is used, the summary says so.
#[test]
fn a_daemon_that_escaped_its_session_and_environment_is_killed_and_its_test_marked_leaky() {
    let leaves = "test_daemon.py::test_1_leaves_a_daemon";
    for (leak, code) in [("pass", 0), ("fail", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let marker = marker(&format!("daemon-{leak}"));
        let config = json!({
            "leak": leak,
            "sources": [pytest_source("test_daemon.py", &marker)],
        });
        let (status, summary) = run_config(dir.path(), config, &["--filter", "test(*leaves*)"]);
        assert_eq!(status, Some(code), "leak: {leak}: {summary:#?}");
        assert_eq!(summary.run.containment.method, "cgroup");
        let test = test_record(&summary, "py", leaves);
        assert!(test.leaky, "{test:#?}");
        let described = test.attempts[0].leak.as_deref().unwrap();
        assert!(
            described.contains("1 process outlived it and was killed"),
            "{described}"
        );
        assert_eq!(summary.run.counts.leaky, 1);
        assert!(summary.run.warnings[0].contains("outlived it"));
        if leak == "fail" {
            assert_eq!(test.outcome, Outcome::Failed);
            assert!(test
                .message
                .as_deref()
                .unwrap()
                .contains("left processes behind"));
        }
        assert_none_left(&marker, Duration::from_secs(2));
    }

    // The fallback: named in the summary, with why.
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("daemon-sweep");
    let config = json!({ "sources": [pytest_source("test_daemon.py", &marker)] });
    let (status, summary, _) = run_config_with_env(
        dir.path(),
        config,
        &["--filter", "test(*leaves*)"],
        &[("PROCTOR_CONTAINMENT", "sweep")],
    );
    kill_marked(&marker);
    assert_eq!(status, Some(0));
    assert_eq!(summary.run.containment.method, "sweep");
    assert_eq!(
        summary.run.containment.reason.as_deref(),
        Some("PROCTOR_CONTAINMENT=sweep")
    );
}

/// A daemon of a passing test keeps its stdout open. In a cgroup it dies
/// with the process; found by no sweep, it holds the pipes, which close
/// after the drain time: either way the run ends long before the timeout
/// and the test is passing and leaky.
#[test]
fn a_daemon_holding_a_passing_tests_stdout_does_not_hold_the_run() {
    let binary = gtest_fixture("gtest-ending/holds_stdout.cc", "gtest_holds_stdout");
    let python = python();
    for containment in ["cgroup", "sweep"] {
        let dir = tempfile::tempdir().unwrap();
        let marker = marker(&format!("stdout-{containment}"));
        let config = json!({
            "timeout_seconds": 20,
            "sources": [{
                "name": "gt", "runner": "gtest", "path": binary, "mode": "batch",
                "env": { "ENDING_MARKER": marker, "ENDING_PYTHON": python },
            }],
        });
        let env: &[(&str, &str)] = match containment {
            "sweep" => &[("PROCTOR_CONTAINMENT", "sweep")],
            _ => &[],
        };
        let started = Instant::now();
        let (status, summary, stderr) = run_config_with_env(dir.path(), config, &[], env);
        let took = started.elapsed();
        kill_marked(&marker);
        assert_eq!(status, Some(0), "{containment}: {stderr}");
        assert!(
            took < Duration::from_secs(20),
            "{containment}: the run took {took:?}, past the timeout"
        );
        let test = &summary
            .tests
            .iter()
            .find(|t| t.id == "Daemon.KeepsStdoutOpen")
            .unwrap();
        assert_eq!(test.outcome, Outcome::Passed, "{containment}: {test:#?}");
        assert!(test.leaky, "{containment}: {test:#?}");
        let described = test.attempts[0].leak.as_deref().unwrap();
        let expected = match containment {
            "cgroup" => "outlived it",
            _ => "still held open",
        };
        assert!(described.contains(expected), "{containment}: {described}");
    }
}

/// A discovery command is bounded by the source's `discovery_timeout`, and
/// a stop signal ends it like any test process.
#[test]
fn discovery_is_bounded_by_its_timeout_and_stops_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // A "GoogleTest binary" that never answers its listing.
    let binary = dir.path().join("never_lists");
    std::fs::write(
        &binary,
        format!(
            "#!/bin/sh\nexec {} -c 'import time; time.sleep(300)' \"$ENDING_MARKER\"\n",
            python()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&binary)
        .status()
        .unwrap();
    let source = |marker: &str, timeout: Option<f64>| {
        let mut source = json!({
            "name": "gt", "runner": "gtest", "path": binary,
            "env": { "ENDING_MARKER": marker },
        });
        if let Some(timeout) = timeout {
            source["discovery_timeout_seconds"] = json!(timeout);
        }
        source
    };

    let marker_timeout = marker("discovery-timeout");
    let run_dir = dir.path().join("timeout");
    std::fs::create_dir(&run_dir).unwrap();
    let config = json!({ "sources": [source(&marker_timeout, Some(1.0))] });
    let (status, summary) = run_config(&run_dir, config, &[]);
    assert_eq!(status, Some(3), "{summary:#?}");
    let error = summary.run.sources[0].error.as_deref().unwrap();
    assert!(error.contains("did not finish within 1s"), "{error}");
    assert_none_left(&marker_timeout, Duration::from_secs(2));

    let marker_stop = marker("discovery-stop");
    let run_dir = dir.path().join("stop");
    std::fs::create_dir(&run_dir).unwrap();
    let config = json!({ "grace_period_seconds": 1, "sources": [source(&marker_stop, None)] });
    let mut run = Background::start(&run_dir, config, &[], None);
    wait_marked(&marker_stop);
    send_signal(run.pid(), "TERM");
    let (status, stderr) = run.exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(143), "{stderr}");
    let summary = run.summary();
    let error = summary.run.sources[0].error.as_deref().unwrap();
    assert!(error.contains("stopped by SIGTERM"), "{error}");
    assert!(
        summary.run.errors.is_empty(),
        "a stop is no infrastructure error"
    );
    assert_none_left(&marker_stop, Duration::from_secs(2));
}

/// What a run's downloads left in `dir`: every name but its configuration
/// and its results, sorted.
fn downloaded(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = (std::fs::read_dir(dir).unwrap().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "proctor.json" && name != "results")
        .collect();
    names.sort();
    names
}

/// A stop signal during the downloads cancels the one under way at its
/// next report of progress and starts no other: the run ends at once,
/// interrupted, its reports written, and a listing ends as it would, with
/// nothing of either download left. A transfer that never ends held both
/// through every signal before.
#[test]
fn a_stop_signal_cancels_the_download_under_way_and_starts_no_other() {
    let server = TestServer::start();
    // A fault serves one request: one for the run, one for the listing.
    let trickle = Fault::Trickle(Duration::from_millis(50));
    server.route(
        "/trickle",
        Route::new(Vec::new()).then(trickle.clone()).then(trickle),
    );
    server.route("/second", Route::new(b"never asked for".to_vec()));
    let config = json!({
        "downloads": {
            "parallel": 1,
            "files": [
                { "uri": server.url("/trickle"), "destination": "trickle.bin" },
                { "uri": server.url("/second"), "destination": "second.bin" },
            ],
        },
        "sources": [{ "name": "py", "runner": "pytest", "path": "." }],
    });
    let asked = |count: usize| {
        wait_until(Duration::from_secs(30), "the download never began", || {
            server.seen("/trickle").len() >= count
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let mut run = Background::start(dir.path(), config.clone(), &[], None);
    asked(1);
    send_signal(run.pid(), "INT");
    let (status, stderr) = run.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{stderr}");
    let summary = run.summary();
    assert_eq!(summary.run.outcome, RunOutcome::Interrupted);
    let errors = summary.run.errors.join("\n");
    assert!(
        errors.contains("not fetched: the run was asked to stop"),
        "{errors}"
    );
    assert_reports_valid(&run.results());
    assert_eq!(downloaded(dir.path()), Vec::<String>::new());

    let dir = tempfile::tempdir().unwrap();
    let mut list = Background::command(dir.path(), &["list"], config, &[], None);
    asked(2);
    send_signal(list.pid(), "INT");
    let (status, stderr) = list.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped by SIGINT"), "{stderr}");
    assert_eq!(downloaded(dir.path()), Vec::<String>::new());
    assert!(server.seen("/second").is_empty());
}

/// A stop signal while the http downloader waits out its backoff before
/// another attempt ends the run at once, not when the wait is over.
#[test]
fn a_stop_signal_ends_the_wait_between_download_attempts() {
    let server = TestServer::start();
    server.route(
        "/failing",
        Route::new(b"never served".to_vec()).then(Fault::Status(500)),
    );
    let config = json!({
        "downloads": { "files": [{ "uri": server.url("/failing"), "destination": "f.bin" }] },
        "downloaders": { "http": { "backoff_seconds": 120 } },
        "sources": [{ "name": "py", "runner": "pytest", "path": "." }],
    });
    let dir = tempfile::tempdir().unwrap();
    let mut run = Background::start(dir.path(), config, &[], None);
    wait_until(Duration::from_secs(30), "the download never began", || {
        !server.seen("/failing").is_empty()
    });
    send_signal(run.pid(), "INT");
    let (status, stderr) = run.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(
        server.seen("/failing").len(),
        1,
        "no attempt after the stop"
    );
    let errors = run.summary().run.errors.join("\n");
    assert!(
        errors.contains("not fetched: the run was asked to stop"),
        "{errors}"
    );
}

/// A server that sends its headers and then nothing holds no stopped run:
/// the download's read waited out `stall_timeout_seconds` (60 s by
/// default), deaf to the stop, and then the grace period ended the host
/// without its reports. Now the download answers the stop at once, the
/// reports are written, and no part file is left.
#[test]
fn a_stop_signal_ends_a_download_from_a_server_gone_silent_with_the_reports() {
    let server = TestServer::start();
    server.route(
        "/silent",
        Route::new(b"never sent".to_vec()).then(Fault::Stall(Duration::from_secs(120))),
    );
    let config = json!({
        "downloads": { "files": [{ "uri": server.url("/silent"), "destination": "f.bin" }] },
        "sources": [{ "name": "py", "runner": "pytest", "path": "." }],
    });
    let dir = tempfile::tempdir().unwrap();
    let mut run = Background::start(dir.path(), config, &[], None);
    wait_until(Duration::from_secs(30), "the download never began", || {
        !server.seen("/silent").is_empty()
    });
    // The headers are read by now; the body never comes.
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    send_signal(run.pid(), "INT");
    let (status, stderr) = run.exit(Duration::from_secs(30));
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        took < Duration::from_secs(5),
        "ended {took:?} after the signal"
    );
    let errors = run.summary().run.errors.join("\n");
    assert!(
        errors.contains("not fetched: the run was asked to stop"),
        "{errors}"
    );
    assert_eq!(downloaded(dir.path()), Vec::<String>::new(), "left behind");
}

/// A results store that accepts the connection and never answers holds
/// no run: a stop signal while the end waits for it ends the run at once,
/// its tests' verdict standing and the reports saying the run is not in
/// its history. Before, the run waited on the server through every signal.
#[test]
fn a_store_that_never_answers_does_not_hold_the_end_of_a_stopped_run() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in silent.incoming().flatten() {
            held.push(connection);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test_quick.py"),
        "def test_quick():\n    pass\n",
    )
    .unwrap();
    let config = json!({ "sources": [{ "name": "py", "runner": "pytest", "path": "." }] });
    let store = format!("postgres://proctor@127.0.0.1:{port}/history");
    let mut run = Background::start(dir.path(), config, &[("PROCTOR_STORE", &store)], None);
    let summary = run.results().join("summary.json");
    wait_until(Duration::from_secs(60), "no reports were written", || {
        summary.exists()
    });
    // The end now waits for the store, the reports written meanwhile.
    std::thread::sleep(Duration::from_millis(200));
    send_signal(run.pid(), "TERM");
    let (status, stderr) = run.exit(Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(0),
        "the test passed before the stop: {stderr}"
    );
    let summary = run.summary();
    assert_eq!(summary.run.counts.passed, 1);
    let warnings = summary.run.warnings.join("\n");
    assert!(
        warnings.contains("not in its history: stopped by SIGTERM while the store recorded it"),
        "{warnings}"
    );
    assert_reports_valid(&run.results());
}

/// A host killed as it starts, while it proves that cgroups work or
/// claims its results directory, leaves no group behind (a group is
/// listed with the guardian before it exists) and a directory the next
/// run takes. Each host is killed a little later than the one before,
/// from before it forks to after its proof.
#[test]
fn hosts_killed_as_they_start_leave_no_cgroup_and_their_results_directory_usable() {
    let dir = tempfile::tempdir().unwrap();
    let junit = "printf '<testsuite><testcase name=\"t\"/></testsuite>' > {results_dir}/t.xml";
    let config = json!({ "sources": [{
        "name": "t", "runner": "command", "path": ".",
        "settings": { "command": ["sh", "-c", junit] },
    }]});
    std::fs::write(dir.path().join("proctor.json"), config.to_string()).unwrap();
    let mut hosts = Vec::new();
    for i in 0..40 {
        let mut supervisor = Command::new(proctor_bin())
            .args(["run", "proctor.json"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(250 * i));
        let pid = supervisor.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
        hosts.extend(
            children
                .unwrap_or_default()
                .split_whitespace()
                .map(|c| c.parse::<u32>().unwrap()),
        );
        // Killing the supervisor kills the host it forked.
        supervisor.kill().unwrap();
        supervisor.wait().unwrap();
    }
    assert!(!hosts.is_empty(), "no host was forked before its kill");
    let parent = proctor::process::containment().cgroup_parent;
    let left = || -> Vec<PathBuf> {
        (hosts.iter())
            .flat_map(|&host| host_cgroups(parent.as_deref(), host))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        left(),
        Vec::<PathBuf>::new(),
        "groups of killed hosts were left"
    );
}
