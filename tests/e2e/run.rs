//! Running real Rust test suites through the libtest runner.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proctor_e2e::*;
use serde_json::json;

fn test_named<'a>(summary: &'a RunSummary, id: &str) -> &'a TestRecord {
    (summary.tests.iter())
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("no test {id} in {}", pretty(summary)))
}

#[test]
fn demo_run_reports_every_outcome_and_keeps_each_tests_output() {
    let scratch = tempfile::tempdir().unwrap();
    let results = scratch.path().join("results");
    let demo = repo_root().join("examples/demo/proctor.json");
    let output = proctor(
        scratch.path(),
        &[
            "run",
            demo.to_str().unwrap(),
            "--results-dir",
            results.to_str().unwrap(),
            "--jobs",
            "2",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failing test exits 1:\n{}",
        stderr(&output)
    );

    let summary = read_summary(&results.join("summary.json"));
    assert_eq!(summary.run.layout_version, 2, "layout 2 is the default");
    assert_eq!(summary.run.outcome, RunOutcome::TestsFailed);
    assert_eq!(summary.run.counts.total, 7);
    assert_eq!(summary.run.counts.passed, 5);
    assert_eq!(summary.run.counts.failed, 1);
    assert_eq!(summary.run.counts.skipped, 1);

    let failed = test_named(&summary, "demo::tests::rejects_a_port_out_of_range");
    assert_eq!(failed.outcome, Outcome::Failed);
    let message = failed.message.as_deref().unwrap();
    assert!(
        message.contains("ports stop at 65535") && message.contains("src/lib.rs:"),
        "{message}"
    );
    assert_eq!(
        test_named(&summary, "demo::tests::reaches_the_network").outcome,
        Outcome::Skipped
    );

    // Each test ran in its own process, its output kept under its attempt.
    let printed = test_named(&summary, "demo::cli::prints_and_passes");
    assert_eq!(printed.outcome, Outcome::Passed);
    let stdout_log = results.join(printed.attempts[0].stdout.as_deref().unwrap());
    let log = std::fs::read_to_string(&stdout_log).unwrap();
    assert!(log.contains("output of a passing test is kept"), "{log}");

    let junit = std::fs::read_to_string(results.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"tests="7""#) && junit.contains(r#"failures="1""#),
        "{junit}"
    );
    assert!(junit.contains("<skipped"), "{junit}");

    let journal = std::fs::read_to_string(results.join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "test_finished")
            .count(),
        7
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "test_started")
            .count(),
        6
    );
}

/// nextest's `--success-output`: a passing test's output under its line,
/// or in the closing summary; never by default.
#[test]
fn a_passing_tests_output_is_on_the_console_when_asked() {
    let scratch = tempfile::tempdir().unwrap();
    let demo = repo_root().join("examples/demo/proctor.json");
    let results = scratch.path().join("results");
    let run = |flags: &[&str]| {
        let mut args = vec!["run", demo.to_str().unwrap(), "--results-dir"];
        args.push(results.to_str().unwrap());
        args.extend(flags);
        let output = proctor(scratch.path(), &args);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        stderr(&output)
    };
    let printed = "output of a passing test is kept in its attempt directory";

    let default = run(&[]);
    assert!(!default.contains(printed), "{default}");

    let immediate = run(&["--success-output", "immediate", "--failure-output", "never"]);
    let pass_line =
        (immediate.find("PASS [")).and_then(|_| immediate.find("demo::cli::prints_and_passes"));
    let closing = immediate.find("Summary [").unwrap();
    let shown = immediate
        .find(printed)
        .unwrap_or_else(|| panic!("{immediate}"));
    assert!(pass_line.unwrap() < shown && shown < closing, "{immediate}");
    assert!(!immediate.contains("ports stop at 65535"), "{immediate}");

    let last = run(&["--success-output", "final"]);
    let closing = last.find("Summary [").unwrap();
    assert!(last[closing..].contains(printed), "{last}");
    assert!(!last[..closing].contains(printed), "{last}");
}

#[test]
fn list_discovers_without_running() {
    let scratch = tempfile::tempdir().unwrap();
    let demo = repo_root().join("examples/demo/proctor.json");
    let output = proctor(
        scratch.path(),
        &["list", demo.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Listing runs the runner's discovery commands, so it starts the
    // guardian first, before loading plugins can start threads.
    assert!(!stderr(&output).contains("guardian"), "{}", stderr(&output));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 7);
    let ignored: Vec<_> = listed.iter().filter(|t| !t["skip"].is_null()).collect();
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0]["id"], "demo::tests::reaches_the_network");

    let human = proctor(scratch.path(), &["list", demo.to_str().unwrap()]);
    assert!(
        stdout(&human).contains("7 tests in 1 source"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn a_host_killed_mid_run_leaves_finished_results_in_the_journal() {
    let scratch = tempfile::tempdir().unwrap();
    let suite = scratch.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    for (name, body) in [("a_quick.sh", "exit 0"), ("b_slow.sh", "sleep 5")] {
        let path = suite.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let plugins = fixture_plugin_dir(
        &fixtures().join("legacy-plugin/Cargo.toml"),
        "legacy_script_runner",
        scratch.path(),
    );
    let config = write_config(
        scratch.path(),
        &json!({ "jobs": 1, "sources": [{ "runner": "legacy-script", "path": "suite" }] }),
    );
    let mut host = Command::new(proctor_bin())
        .args([
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "run",
            config.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = scratch.path().join("results/events.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    // The slow test's process may start before the quick one's result is
    // journaled; what matters is that the journal has it while the run goes on.
    let mid_run = |text: &str| text.contains("\"b_slow.sh\"") && text.contains("test_finished");
    while !mid_run(&std::fs::read_to_string(&journal).unwrap_or_default()) {
        assert!(Instant::now() < deadline, "the slow test never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    host.kill().unwrap();
    host.wait().unwrap();

    let text = std::fs::read_to_string(&journal).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let quick = events
        .iter()
        .find(|e| e["event"] == "test_finished" && e["id"] == "a_quick.sh")
        .unwrap_or_else(|| panic!("the finished test is in the journal:\n{text}"));
    assert_eq!(quick["outcome"], "passed");
    assert!(!events.iter().any(|e| e["event"] == "run_finished"));
}

/// Two runs on one results directory: the second is refused while the
/// first holds it, naming the first's process, and the first's results
/// survive.
#[test]
fn a_results_directory_in_use_is_refused_naming_the_run_that_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let config = write_config(
        dir.path(),
        &json!({ "sources": [{
            "name": "slow", "runner": "command", "path": ".",
            "settings": {
                "command": ["sh", "-c", format!(
                    "touch {}; sleep 3; echo \"<testsuite name='s'><testcase name='a'/></testsuite>\" > {{results_dir}}/r.xml",
                    started.display()
                )],
                "id": "{name}"
            }
        }]}),
    );
    let mut first = Command::new(proctor_bin())
        .current_dir(dir.path())
        .args(["run", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the first run's test never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let host = host_pid(first.id());
    let second = proctor(dir.path(), &["run", config.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let message = stderr(&second);
    assert!(
        message.contains(&format!(
            "is in use by another proctor run (process {host})"
        )),
        "{message}"
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let summary = read_summary(&dir.path().join("results/summary.json"));
    assert_eq!(summary.run.counts.passed, 1);
    // Once the first run ended, the directory is free again.
    std::fs::remove_file(&started).unwrap();
    let third = proctor(dir.path(), &["run", config.to_str().unwrap()]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
}

/// A failing test's message and the end of what it printed are on the
/// console under its line (`--failure-output immediate`, the default), in
/// the closing summary (`final`), or not at all (`never`), without its
/// control characters; the closing summary says where the results went.
#[test]
fn a_failing_tests_message_and_output_are_on_the_console_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test_console.py"),
        "def test_passes():\n    print('nothing to see')\n\n\
         def test_fails():\n    print('the clue it printed \\x1b[31mred\\x1b[0m')\n    \
         assert 1 + 1 == 3, 'the failing assertion'\n",
    )
    .unwrap();
    let config = json!({ "sources": [{ "name": "py", "runner": "pytest", "path": ".",
                                       "mode": "isolated" }] });
    let path = write_config(dir.path(), &config);
    let run = |when: &str| {
        let output = proctor(
            dir.path(),
            &["run", path.to_str().unwrap(), "--failure-output", when],
        );
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let console = stderr(&output);
        let summary_at = console.find("Summary [").unwrap();
        (
            console.clone(),
            console[..summary_at].to_owned(),
            console[summary_at..].to_owned(),
        )
    };
    let results = dir.path().join("results");
    let results_line = format!("  RESULTS {}\n", results.display());

    let (console, during, closing) = run("immediate");
    let fail_line = during.find("FAIL [").expect("a FAIL line");
    let after = &during[fail_line..];
    assert!(
        after.contains("\n          AssertionError: the failing assertion"),
        "{console}"
    );
    assert!(after.contains("the clue it printed "), "{console}");
    assert!(
        !console.contains('\x1b'),
        "no control character reaches the console"
    );
    assert!(
        !console.contains("nothing to see"),
        "a pass shows no output"
    );
    assert!(!closing.contains("the clue"), "{closing}");
    assert!(closing.ends_with(&results_line), "{closing}");

    let (console, during, closing) = run("final");
    assert!(!during.contains("the clue"), "{console}");
    assert!(
        closing.contains("the failing assertion") && closing.contains("the clue"),
        "{closing}"
    );

    let (console, _, _) = run("never");
    assert!(
        !console.contains("the clue") && !console.contains("the failing assertion"),
        "{console}"
    );
    assert!(console.ends_with(&results_line), "{console}");
}

/// A proctor copied away from its plugins says so and exits 3, naming
/// where it looked; `proctor plugins` without CONFIG reads the
/// configuration in the current directory, as `run` and `list` do, and
/// searches its `plugin_dirs`.
#[test]
fn plugins_without_any_found_is_an_infrastructure_error_and_reads_the_configuration_here() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let copied = bin.join("proctor");
    std::fs::copy(proctor_bin(), &copied).unwrap();
    let plugins = |cwd: &std::path::Path| {
        Command::new(&copied)
            .current_dir(cwd)
            .arg("plugins")
            .output()
            .unwrap()
    };
    let alone = plugins(dir.path());
    assert_eq!(alone.status.code(), Some(3), "{}", stdout(&alone));
    // Said once, on stderr.
    assert!(!stdout(&alone).contains("looked in"), "{}", stdout(&alone));
    let error = stderr(&alone);
    assert!(
        error.contains("no plugin this host can load; looked in: "),
        "{error}"
    );
    assert!(error.contains(&bin.display().to_string()), "{error}");

    let installed = proctor_bin().parent().unwrap().to_path_buf();
    let config = json!({ "plugin_dirs": [installed],
                         "sources": [{ "runner": "pytest", "path": "." }] });
    write_config(dir.path(), &config);
    let configured = plugins(dir.path());
    assert_eq!(configured.status.code(), Some(0), "{}", stderr(&configured));
    assert!(
        stdout(&configured).contains("pytest"),
        "{}",
        stdout(&configured)
    );
}
