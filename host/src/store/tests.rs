use proctor_plugin_api::messages::Outcome;

use super::*;
use crate::results::fixture;

fn summary(run_id: &str, tests: Vec<TestRecord>) -> RunSummary {
    let mut summary = fixture::summary(tests, None);
    summary.run_id = run_id.to_owned();
    summary.context = Some(RunContext::this_machine());
    summary
}

/// A test whose attempts ended as given, each failure with its message.
fn test(id: &str, attempts: &[(Outcome, Option<&str>)]) -> TestRecord {
    let attempts = (attempts.iter().zip(1..))
        .map(|((outcome, message), n)| fixture::attempt("unit", id, n, *outcome, *message))
        .collect();
    TestRecord::from_attempts("unit", id, id, attempts, false)
}

#[test]
fn a_run_is_recorded_once_with_every_tests_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("nested/history.db")).unwrap();
    assert_eq!(store.version().unwrap(), schema::MIGRATIONS.len() as i64);
    let run = summary(
        "run-1",
        vec![
            test("adds", &[(Outcome::Passed, None)]),
            test(
                "divides",
                &[(Outcome::Failed, Some("expected 2, got 3 at 0x7f00"))],
            ),
            test(
                "flickers",
                &[
                    (Outcome::TimedOut, Some("ran past 5s")),
                    (Outcome::Passed, None),
                ],
            ),
        ],
    );
    assert_eq!(store.record(&run).unwrap(), Recorded::New { results: 3 });
    assert_eq!(store.record(&run).unwrap(), Recorded::AlreadyThere);

    let divides = store.test_history(Some("unit"), "divides").unwrap();
    assert_eq!(divides.len(), 1);
    assert_eq!(divides[0].verdict, Verdict::Unexpected);
    assert_eq!(
        divides[0].reason.as_deref(),
        Some("expected <n>, got <n> at <hex>")
    );
    let flickers = store.test_history(None, "flickers").unwrap();
    assert_eq!(
        (flickers[0].verdict, flickers[0].attempts),
        (Verdict::Flaky, 2)
    );
    assert_eq!(flickers[0].reason.as_deref(), Some("ran past <n>s"));
    assert!(store
        .test_history(Some("other"), "adds")
        .unwrap()
        .is_empty());
}

#[test]
fn a_store_reopened_keeps_its_runs_and_a_newer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let run = summary("run-1", vec![test("adds", &[(Outcome::Passed, None)])]);
    Store::open(&path).unwrap().record(&run).unwrap();
    let mut again = Store::open(&path).unwrap();
    assert_eq!(again.record(&run).unwrap(), Recorded::AlreadyThere);
    assert_eq!(again.test_history(None, "adds").unwrap().len(), 1);

    again
        .connection
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(again);
    let refused = Store::open(&path)
        .err()
        .expect("a store newer than this host is refused");
    assert!(
        refused
            .to_string()
            .contains("version 99, newer than this proctor's"),
        "{refused}"
    );
}
