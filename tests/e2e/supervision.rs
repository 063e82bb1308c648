//! Supervision end to end, with real pytest and GoogleTest suites: crashes,
//! hangs, process trees, retries, flaky tests, Helix rules, reports.

use std::path::Path;

use proctor_e2e::*;
use serde_json::{json, Value};

fn pytest_source(file: &str, state: &Path) -> Value {
    json!({
        "name": "py",
        "runner": "pytest",
        "path": fixtures().join("pytest-suite").join(file),
        "env": { "FIXTURE_STATE": state },
    })
}

fn gtest_source(state: &Path) -> Value {
    json!({
        "name": "gt",
        "runner": "gtest",
        "path": gtest_suite(),
        "env": { "FIXTURE_STATE": state },
    })
}

#[test]
fn a_crash_is_charged_to_the_running_test_and_the_rest_run_in_a_fresh_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [pytest_source("test_crash.py", &dir.path().join("state"))] });
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let outcome = |id: &str| {
        let test = test_record(&summary, "py", &format!("test_crash.py::{id}"));
        (test.outcome.as_str().to_owned(), test.clone())
    };
    let (segfault, record) = outcome("test_2_segfault");
    assert_eq!(segfault, "crashed");
    assert!(
        record.message.as_deref().unwrap().contains("SIGSEGV"),
        "{record:#?}"
    );
    let (abort, record) = outcome("test_4_abort");
    assert_eq!(abort, "crashed");
    assert!(
        record.message.as_deref().unwrap().contains("SIGABRT"),
        "{record:#?}"
    );
    for passing in [
        "test_1_before_crash",
        "test_3_after_segfault",
        "test_5_after_abort",
    ] {
        assert_eq!(outcome(passing).0, "passed", "{passing}");
    }
    // Three processes: the batch, and a fresh one after each crash.
    let pid = |id: &str| outcome(id).1.attempts[0].pid.unwrap();
    assert_eq!(pid("test_1_before_crash"), pid("test_2_segfault"));
    assert_ne!(pid("test_2_segfault"), pid("test_3_after_segfault"));
    assert_eq!(pid("test_3_after_segfault"), pid("test_4_abort"));
    assert_ne!(pid("test_4_abort"), pid("test_5_after_abort"));
    let launched = journal(&dir.path().join("results"))
        .iter()
        .filter(|e| e["event"] == "process_launched")
        .count();
    assert_eq!(launched, 3);
}

#[test]
fn a_hung_test_is_killed_with_its_whole_tree_and_the_rest_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut config = json!({
        "timeout_seconds": 3,
        "sources": [pytest_source("test_hang.py", &state)],
    });
    config["sources"][0]["inactivity_timeout_seconds"] = json!(60);
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let hung = test_record(
        &summary,
        "py",
        "test_hang.py::test_1_hangs_with_a_stubborn_grandchild",
    );
    assert_eq!(hung.outcome, Outcome::TimedOut);
    assert!(
        hung.message
            .as_deref()
            .unwrap()
            .contains("ran past its timeout of 3s"),
        "{hung:#?}"
    );
    assert_eq!(
        test_record(&summary, "py", "test_hang.py::test_0_quick").outcome,
        Outcome::Passed
    );
    assert_eq!(
        test_record(&summary, "py", "test_hang.py::test_2_after_hang").outcome,
        Outcome::Passed
    );

    // The grandchild left the process group and ignored SIGTERM; it is gone all the same.
    let grandchild: u64 = std::fs::read_to_string(state.join("grandchild.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !alive(grandchild),
        "grandchild {grandchild} survived the run"
    );
    let events = journal(&dir.path().join("results"));
    let hang = events
        .iter()
        .find(|e| e["event"] == "hang_detected")
        .expect("the hang is in the journal");
    let tree = hang["process_tree"].as_array().unwrap();
    assert!(
        tree.iter().any(|pid| pid.as_u64() == Some(grandchild)),
        "the tree named before the kill holds the grandchild: {hang}"
    );
}

#[test]
fn googletest_outcomes_crashes_and_inactivity() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = gtest_source(&dir.path().join("state"));
    source["inactivity_timeout_seconds"] = json!(2);
    let config = json!({ "sources": [source] });
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let outcome = |id: &str| test_record(&summary, "gt", id).outcome.as_str().to_owned();
    let expected = [
        ("Math.Adds", "passed"),
        ("Math.Fails", "failed"),
        ("Math.DISABLED_Later", "skipped"),
        ("Math.Skips", "skipped"),
        ("Small/Squares.ArePositive/0", "passed"),
        ("Small/Squares.ArePositive/1", "passed"),
        ("Crash.A_BeforeCrash", "passed"),
        ("Crash.B_Segfault", "crashed"),
        ("Crash.C_AfterSegfault", "passed"),
        ("Crash.D_Abort", "crashed"),
        ("Crash.E_AfterAbort", "passed"),
        ("Flaky.PassesSecondTime", "failed"),
        ("Hang.Forever", "timed_out"),
        ("Hang.After", "passed"),
    ];
    for (id, want) in expected {
        assert_eq!(outcome(id), want, "{id}");
    }
    let fails = test_record(&summary, "gt", "Math.Fails");
    assert!(
        fails
            .message
            .as_deref()
            .unwrap()
            .contains("arithmetic is broken"),
        "{fails:#?}"
    );
    let hang = test_record(&summary, "gt", "Hang.Forever");
    assert!(
        hang.message
            .as_deref()
            .unwrap()
            .contains("no test started or finished for 2s"),
        "{hang:#?}"
    );
    assert_eq!(summary.run.counts.total, 14);
}

/// On one job a binary runs whole, its listing beside it instead of
/// before it; the run reports what a run that listed first reports, a
/// crash's unrun tests included, which run in a fresh process.
#[test]
fn a_binary_run_whole_beside_its_listing_reports_as_one_listed_first() {
    let run = |jobs: &str| {
        let dir = tempfile::tempdir().unwrap();
        let mut source = gtest_source(&dir.path().join("state"));
        source["inactivity_timeout_seconds"] = json!(2);
        let config = json!({ "sources": [source] });
        let (code, summary) = run_config(dir.path(), config, &["--jobs", jobs]);
        assert_eq!(code, Some(1), "-j {jobs}");
        let launched: Vec<Value> = (journal(&dir.path().join("results")).into_iter())
            .filter(|e| e["event"] == "process_launched")
            .map(|e| e["tests"].clone())
            .collect();
        let tests: Vec<(String, String, bool)> = (summary.tests.iter())
            .map(|t| {
                (
                    t.id.clone(),
                    t.outcome.as_str().to_owned(),
                    t.message.is_some(),
                )
            })
            .collect();
        (tests, launched)
    };
    let (whole, launched) = run("1");
    let (listed_first, _) = run("2");
    assert_eq!(whole, listed_first);
    assert_eq!(whole.len(), 14, "{whole:#?}");
    assert_eq!(launched[0], json!(["(all tests)"]), "{launched:#?}");
    // After each crash and the hang, what the binary never reached.
    assert_eq!(launched.len(), 4, "{launched:#?}");
    assert_eq!(launched[1][0], "Crash.C_AfterSegfault", "{launched:#?}");
}

#[test]
fn flaky_tests_pass_on_a_retry_and_every_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = json!({
        "retry": {
            "max_attempts": 3,
            "rules": [{ "message": { "contains": "connection reset" } }],
        },
        "sources": [pytest_source("test_flaky.py", &state), gtest_source(&state)],
    });
    let (code, summary) = run_config(
        dir.path(),
        config,
        &[
            "--filter",
            "source(py) or test(Flaky.*) or test(Math.Fails)",
        ],
    );
    // `test_always_fails_with_reset` fails every attempt.
    assert_eq!(code, Some(1));

    let flaky = test_record(&summary, "py", "test_flaky.py::test_flaky");
    assert_eq!(flaky.outcome, Outcome::Passed);
    assert!(flaky.flaky);
    assert_eq!(flaky.attempts.len(), 2);
    assert_eq!(flaky.attempts[0].outcome, Outcome::Failed);
    let gtest_flaky = test_record(&summary, "gt", "Flaky.PassesSecondTime");
    assert!(gtest_flaky.flaky);
    let always = test_record(
        &summary,
        "py",
        "test_flaky.py::test_always_fails_with_reset",
    );
    assert_eq!(always.outcome, Outcome::Failed);
    assert_eq!(always.attempts.len(), 3, "retried up to max_attempts");
    let no_rule = test_record(&summary, "gt", "Math.Fails");
    assert_eq!(no_rule.attempts.len(), 1, "no rule matches its message");
    assert_eq!(summary.run.counts.flaky, 2);
    assert_eq!(summary.run.counts.passed, 2);
    assert_eq!(summary.run.filtered_out, 12);
    let listed: Vec<&str> = summary.run.flaky.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        listed,
        ["py/test_flaky.py::test_flaky", "gt/Flaky.PassesSecondTime"]
    );

    // Each attempt has its own directory.
    let results = dir.path().join("results");
    for attempt in &always.attempts {
        let attempt_dir = results.join(attempt.dir.as_str());
        assert!(attempt_dir.is_dir(), "{}", attempt_dir.display());
    }
    let junit = std::fs::read_to_string(results.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<flakyFailure").count(), 2, "{junit}");
    assert_eq!(junit.matches("<rerunFailure").count(), 2, "{junit}");
    let trx = std::fs::read_to_string(results.join("results.trx")).unwrap();
    // A result per test, holding every attempt of a retried one: 2 + 3
    // (pytest) + 2 (gtest); the failure retried by no rule ran once.
    assert_eq!(trx.matches("<UnitTestResult ").count(), 4 + 7, "{trx}");
    assert_eq!(trx.matches("parentExecutionId=").count(), 7, "{trx}");
    assert_eq!(trx.matches("<UnitTest ").count(), 4, "{trx}");
}

#[test]
fn helix_test_configuration_is_read_as_is_and_helix_variables_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(dir.path().join("eng")).unwrap();
    // As Helix users write it: trailing commas, .NET-style names.
    std::fs::write(
        dir.path().join("eng/test-configuration.json"),
        r#"{
  "version": 1,
  "defaultOnFailure": "fail",
  "localRerunCount": 2,
  "retryOnRules": [
    {"failureMessage": {"contains": "CONNECTION RESET"}, "testAssembly": "test_flaky"},
  ],
  "quarantineRules": [
    {"testName": {"wildcard": "test_flaky.test_always_*"}},
  ],
}"#,
    )
    .unwrap();
    let upload = dir.path().join("upload");
    let config = write_config(
        dir.path(),
        &json!({ "sources": [pytest_source("test_flaky.py", &state)] }),
    );
    let output = std::process::Command::new(proctor_bin())
        .current_dir(dir.path())
        .args(["run", config.to_str().unwrap()])
        .env("HELIX_WORKITEM_UPLOAD_ROOT", &upload)
        .env("HELIX_DUMP_FOLDER", dir.path().join("dumps"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary = read_summary(&upload.join("summary.json"));
    assert!(
        !dir.path().join("results").exists(),
        "results go to the upload root"
    );
    assert!(summary
        .run
        .retries
        .policy
        .ends_with("eng/test-configuration.json"));
    assert_eq!(summary.run.retries.max_attempts, 3);
    assert_eq!(
        summary.run.dumps_dir,
        dir.path().join("dumps").to_str().unwrap()
    );
    let flaky = test_record(&summary, "py", "test_flaky.py::test_flaky");
    assert!(flaky.flaky);
    let quarantined = test_record(
        &summary,
        "py",
        "test_flaky.py::test_always_fails_with_reset",
    );
    assert!(quarantined.quarantined);
    assert_eq!(quarantined.outcome, Outcome::Failed);
    assert_eq!(
        quarantined.attempts.len(),
        1,
        "quarantine outranks the retry rule"
    );
    assert_eq!(summary.run.counts.quarantined, 1);
    assert_eq!(summary.run.counts.failed, 0);
}

#[test]
fn a_mass_failure_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "retry": { "max_attempts": 3, "max_failed_percent": 20 },
        "sources": [pytest_source("test_crash.py", &dir.path().join("state"))],
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1));
    let withheld = summary.run.retries.withheld.as_deref().unwrap();
    assert!(
        withheld.contains("2 of 5 tests failed (40.0%)"),
        "{withheld}"
    );
    let crashed = test_record(&summary, "py", "test_crash.py::test_2_segfault");
    assert_eq!(crashed.attempts.len(), 1);
}

#[test]
fn skips_apply_per_platform_and_filters_select() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = json!({
        "skip": [
            { "tests": "*::test_passes", "os": [std::env::consts::OS], "reason": "flaky on this machine class" },
            { "tests": "*::test_param*", "env": { "PROCTOR_TEST_NO_SUCH_VARIABLE": "*" } },
        ],
        "sources": [pytest_source("test_basic.py", &state)],
    });
    let (code, summary) = run_config(
        dir.path(),
        config,
        &["--filter", "not test(*fails*) and not attr(markers=*slow*)"],
    );
    assert_eq!(code, Some(0));
    let passes = test_record(&summary, "py", "test_basic.py::test_passes");
    assert_eq!(passes.outcome, Outcome::Skipped);
    assert_eq!(
        passes.message.as_deref(),
        Some("flaky on this machine class")
    );
    let param = test_record(&summary, "py", "test_basic.py::test_param[2]");
    assert_eq!(
        param.outcome,
        Outcome::Passed,
        "the rule's variable is not set here"
    );
    let marked = test_record(&summary, "py", "test_basic.py::test_skipped");
    assert_eq!(marked.message.as_deref(), Some("not on this planet"));
    assert_eq!(summary.run.filtered_out, 2);
    assert_eq!(summary.run.counts.total, 5);
}

#[test]
fn a_pytest_tests_markers_are_every_layers_and_its_skip_reason_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{ "name": "py", "runner": "pytest", "path": fixtures().join("pytest-marks") }],
    });
    let (code, summary) = run_config(
        dir.path(),
        config,
        &[
            "--filter",
            "not attr(markers=*zeta*) and not attr(markers=*alpha*)",
        ],
    );
    assert_eq!(code, Some(0));
    // Each skipped test, and the layer whose reason it carries.
    let closest = [
        ("TestLayered::test_own", "the test says"),
        ("TestLayered::test_inherited", "the class says"),
        ("TestLayered::test_param[1]", "the class says"),
        ("TestLayered::test_param[2]", "the parameter says"),
        ("test_module_level", "the module says"),
        ("test_added_late", "the conftest says"),
    ];
    for (test, reason) in closest {
        let record = test_record(&summary, "py", &format!("sub/test_layers.py::{test}"));
        assert_eq!(record.outcome, Outcome::Skipped, "{test}");
        assert_eq!(record.message.as_deref(), Some(reason), "{test}");
    }
    let unmarked = test_record(&summary, "py", "test_plain.py::test_unmarked");
    assert_eq!(unmarked.outcome, Outcome::Passed);
    // Filtered out by markers of a parameter and of a class.
    assert_eq!(summary.run.filtered_out, 2);
    assert_eq!(summary.run.counts.total, 7);
}
