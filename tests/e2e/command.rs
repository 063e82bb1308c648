//! The `command` runner end to end: real tools that write JUnit XML or TRX
//! (Node's test runner, a GoogleTest binary, a TRX file as VSTest leaves
//! it), tests known only once the command ran, failed tests run again
//! through the tool's own filter; and pytest collecting inside its run.

use std::path::Path;

use proctor_e2e::*;
use serde_json::{json, Value};

fn ids(summary: &RunSummary, source: &str) -> Vec<String> {
    summary
        .tests
        .iter()
        .filter(|t| *t.source == *source)
        .map(|t| t.id.as_str().to_owned())
        .collect()
}

fn launched(results: &Path) -> Vec<Vec<String>> {
    journal(results)
        .iter()
        .filter(|e| e["event"] == "process_launched")
        .map(|e| {
            e["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn node_source(state: &Path) -> Value {
    require_program("node", "Node 20 or newer");
    json!({
        "name": "node",
        "runner": "command",
        "path": fixtures().join("node-suite"),
        "env": { "FIXTURE_STATE": state },
        "settings": {
            "command": ["node", "--test", "--test-reporter=junit",
                        "--test-reporter-destination={results_dir}/node.xml",
                        "{filter}", "suite.test.js"],
            "id": "{suite} > {name}",
            "filter": { "args": ["{tests}"], "test": "--test-name-pattern=^{name}$", "escape": "regex" },
        },
    })
}

#[test]
fn node_test_results_become_tests_and_a_failed_one_runs_again_through_its_filter() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "retry": { "max_attempts": 2, "rules": [{ "message": { "contains": "connection reset" } }] },
        "sources": [node_source(&dir.path().join("state"))],
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1), "`arithmetic > fails` fails");
    assert_eq!(
        ids(&summary, "node"),
        [
            "arithmetic > adds",
            "arithmetic > fails",
            "network > passes the second time",
            "skipped here"
        ],
        "the command's own case is not reported once it named tests"
    );
    assert_eq!(summary.run.sources[0].tests, 4);
    let fails = test_record(&summary, "node", "arithmetic > fails");
    assert_eq!(fails.outcome, Outcome::Failed);
    assert!(fails.attempts[0]
        .message
        .as_deref()
        .unwrap()
        .contains("arithmetic is broken"));
    assert_eq!(fails.attempts.len(), 1, "no retry rule matches it");
    assert_eq!(
        test_record(&summary, "node", "skipped here").outcome,
        Outcome::Skipped
    );

    let flaky = test_record(&summary, "node", "network > passes the second time");
    assert!(flaky.flaky);
    assert_eq!(flaky.attempts.len(), 2);
    let results = dir.path().join("results");
    assert_eq!(
        launched(&results),
        [
            vec!["(command)".to_owned()],
            vec!["network > passes the second time".to_owned()]
        ]
    );
    // The retry ran only that test: Node skipped the others for the pattern.
    let retry_dir = results.join(flaky.attempts[1].dir.as_str());
    let xml = std::fs::read_to_string(retry_dir.join("node.xml")).unwrap();
    assert_eq!(
        xml.matches("test name does not match pattern").count(),
        3,
        "{xml}"
    );
}

#[test]
fn a_filter_on_tests_known_only_after_the_run_drops_the_others_results() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [node_source(&dir.path().join("state"))] });
    let (code, summary) = run_config(dir.path(), config, &["--filter", "test(arithmetic*)"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        ids(&summary, "node"),
        ["arithmetic > adds", "arithmetic > fails"]
    );
    assert_eq!(summary.run.filtered_out, 2);
    assert_eq!(summary.run.sources[0].tests, 2);
}

fn gtest_command(name: &str, gtest_filter: &str, state: &Path) -> Value {
    json!({
        "name": name,
        "runner": "command",
        "path": gtest_suite(),
        "env": { "FIXTURE_STATE": state, "GTEST_FILTER": gtest_filter },
        "settings": {
            "command": ["{source}", "--gtest_output=xml:{results_dir}/"],
            "filter": { "args": ["--gtest_filter={tests}"], "test": "{classname}.{name}", "separator": ":" },
        },
    })
}

#[test]
fn a_googletest_binary_as_a_command_and_a_command_that_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = json!({
        "retry": { "max_attempts": 2, "rules": [{ "message": { "contains": "connection reset" } }] },
        "sources": [
            gtest_command("gt", "Math.*:Flaky.*", &state),
            gtest_command("crashing", "Crash.*", &state),
        ],
    });
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "2"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        ids(&summary, "gt"),
        [
            "Flaky.PassesSecondTime",
            "Math.Adds",
            "Math.DISABLED_Later",
            "Math.Fails",
            "Math.Skips"
        ]
    );
    let flaky = test_record(&summary, "gt", "Flaky.PassesSecondTime");
    assert!(flaky.flaky);
    assert_eq!(
        test_record(&summary, "gt", "Math.Fails").outcome,
        Outcome::Failed
    );

    // A crash leaves no results: the command itself is reported, and why.
    let crashed = test_record(&summary, "crashing", "(command)");
    assert_eq!(crashed.outcome, Outcome::Crashed);
    let message = crashed.attempts[0].message.as_deref().unwrap();
    assert!(
        message.contains("signal 11 (SIGSEGV)") && message.contains("left no results files"),
        "{message}"
    );
}

/// A source whose command copies the fixture report `report` (a path
/// below the fixtures) into its results directory, as a test framework
/// would have written it.
fn report_source(name: &str, report: &str) -> Value {
    json!({
        "name": name,
        "runner": "command",
        "path": fixtures().join(report),
        "settings": { "command": ["cp", "{source}", "{results_dir}/"] },
    })
}

#[test]
fn trx_files_are_read_and_names_split_into_class_and_method() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [report_source("dotnet", "trx/vstest.trx")] });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1));
    let outcome = |id: &str| test_record(&summary, "dotnet", id).outcome.as_str();
    assert_eq!(outcome("Contoso.Json.Tests.ParserTests.Parses"), "passed");
    assert_eq!(
        outcome("Contoso.Json.Tests.ParserTests.HandlesBom"),
        "skipped"
    );
    let failed = test_record(
        &summary,
        "dotnet",
        "Contoso.Json.Tests.ParserTests.RejectsTrailingComma",
    );
    assert_eq!(failed.outcome, Outcome::Failed);
    let attempt = &failed.attempts[0];
    assert_eq!(
        attempt.message.as_deref(),
        Some("Assert.Throws() Failure: No exception was thrown")
    );
    assert!(attempt
        .stack_trace
        .as_deref()
        .unwrap()
        .contains("ParserTests.cs:line 42"));
}

#[test]
fn runs_a_surefire_report_says_were_repeated_are_attempts_and_a_pass_after_them_is_flaky() {
    let dir = tempfile::tempdir().unwrap();
    let source = report_source("ledger", "surefire/TEST-com.example.LedgerTest.xml");
    let config = json!({ "sources": [source] });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1), "rejectsOverdrafts failed on every run");
    let test = |name: &str| {
        test_record(
            &summary,
            "ledger",
            &format!("com.example.LedgerTest.{name}"),
        )
    };
    let outcomes =
        |name: &str| -> Vec<Outcome> { test(name).attempts.iter().map(|a| a.outcome).collect() };
    assert_eq!(outcomes("balances"), [Outcome::Passed]);
    let settles = test("settlesAfterTheClockTicks");
    assert_eq!(
        outcomes("settlesAfterTheClockTicks"),
        [Outcome::Failed, Outcome::Passed]
    );
    assert!(settles.flaky);
    assert_eq!(
        settles.attempts[0].message.as_deref(),
        Some("expected: <0> but was: <3>")
    );
    assert!(settles.attempts[0]
        .stack_trace
        .as_deref()
        .is_some_and(|t| t.ends_with("(LedgerTest.java:41)")));
    assert_eq!(outcomes("rejectsOverdrafts"), [Outcome::Failed; 3]);
    assert_eq!(
        (summary.run.counts.flaky, summary.run.counts.failed),
        (1, 1)
    );
    assert_reports_valid(&dir.path().join("results"));
}

#[test]
fn an_ordered_tests_aggregation_is_read_for_the_tests_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [report_source("shop", "trx/ordered.trx")] });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1));
    let mut outcomes: Vec<(String, String)> = summary
        .tests
        .iter()
        .map(|t| (t.id.as_str().to_owned(), t.outcome.as_str().to_owned()))
        .collect();
    outcomes.sort();
    let expected = [
        ("Shop.Tests.Catalog.ListsProducts", "passed"),
        ("Shop.Tests.Checkout.AddsToCart", "passed"),
        ("Shop.Tests.Checkout.PaysWithCard", "failed"),
    ]
    .map(|(id, outcome)| (id.to_owned(), outcome.to_owned()));
    assert_eq!(outcomes, expected);
    let failed = test_record(&summary, "shop", "Shop.Tests.Checkout.PaysWithCard");
    assert_eq!(
        failed.attempts[0].message.as_deref().unwrap(),
        "Assert.AreEqual failed. Expected:<Paid>. Actual:<Declined>."
    );
}

#[test]
fn a_trx_file_with_no_test_is_a_source_with_no_test() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [report_source("empty", "trx/empty.trx")] });
    let (code, summary) = run_config(dir.path(), config, &[]);
    // The files were there; they name no test: a run with no test.
    assert_eq!(code, Some(4), "{summary:#?}");
    assert!(summary.tests.is_empty(), "{summary:#?}");
}

#[test]
fn a_command_that_leaves_no_results_fails_and_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{
            "name": "nothing",
            "runner": "command",
            "path": ".",
            "settings": { "command": ["true"], "results": ["reports/*.xml"] },
        }],
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1));
    let record = test_record(&summary, "nothing", "(command)");
    assert_eq!(record.outcome, Outcome::Failed);
    let message = record.attempts[0].message.as_deref().unwrap();
    assert!(
        message.contains("`true` ended with exit code 0") && message.contains("reports/*.xml"),
        "{message}"
    );
}

#[test]
fn bad_command_settings_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{
            "runner": "command",
            "path": ".",
            "settings": { "command": ["make", "check"], "filter": { "args": ["--only={tests}"] } },
        }],
    });
    let path = write_config(dir.path(), &config);
    let output = proctor(dir.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("sources[0].settings") && error.contains("filter.separator"),
        "{error}"
    );
    assert!(!dir.path().join("results").exists());
}

#[test]
fn pytest_collecting_in_its_run_reports_a_collection_error_as_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join("test_ok.py"), "def test_ok():\n    pass\n").unwrap();
    std::fs::write(suite.join("test_broken.py"), "def test_broken(:\n").unwrap();
    let config = json!({ "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] });
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let record = test_record(&summary, "py", "(all tests)");
    assert_eq!(record.outcome, Outcome::Failed);
    let attempt = &record.attempts[0];
    assert!(attempt
        .message
        .as_deref()
        .unwrap()
        .contains("collection failed"));
    let details = attempt.stack_trace.as_deref().unwrap();
    assert!(
        details.contains("test_broken.py") && details.contains("SyntaxError"),
        "{details}"
    );
}
