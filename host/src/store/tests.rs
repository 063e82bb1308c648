use proctor_plugin_api::messages::Outcome;

use std::path::Path;

use super::*;
use crate::results::fixture;
use crate::store::changepoint;

fn summary(run_id: &str, tests: Vec<TestRecord>) -> RunSummary {
    let mut summary = fixture::summary(tests, None);
    summary.run.run_id = run_id.to_owned();
    summary.run.context = Some(RunContext::this_machine());
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
    assert_eq!(
        store.record(&run, Path::new(".")).unwrap(),
        Recorded::New { results: 3 }
    );
    assert_eq!(
        store.record(&run, Path::new(".")).unwrap(),
        Recorded::AlreadyThere
    );

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
fn a_run_of_more_tests_than_a_statement_holds_is_recorded_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    // Every tenth test passes on its second attempt: more attempts than a
    // statement's rows too, in the first run.
    let tests = |count: usize| -> Vec<TestRecord> {
        (0..count)
            .map(|i| match i % 10 {
                0 => test(
                    &format!("t{i:04}"),
                    &[(Outcome::Failed, Some("no")), (Outcome::Passed, None)],
                ),
                _ => test(&format!("t{i:04}"), &[(Outcome::Passed, None)]),
            })
            .collect()
    };
    // The second run knows most of its tests and adds a statement's worth
    // and more of new ones.
    for (run, count) in [("run-1", 5_003), ("run-2", 5_700)] {
        let recorded = store.record(&summary(run, tests(count)), Path::new("."));
        assert_eq!(recorded.unwrap(), Recorded::New { results: count });
    }
    let count = |store: &mut Store, sql: &str| {
        let row = store.database.query_row(sql, &[]).unwrap().unwrap();
        row.count(0)
    };
    assert_eq!(count(&mut store, "SELECT count(*) FROM tests"), 5_700);
    assert_eq!(count(&mut store, "SELECT count(*) FROM results"), 10_703);
    assert_eq!(
        count(&mut store, "SELECT count(*) FROM attempts"),
        2 * 1_071
    );
    let retried = "SELECT count(*) FROM results WHERE attempts = 2";
    assert_eq!(count(&mut store, retried), 501 + 570);
    for (id, runs) in [
        ("t0000", 2),
        ("t0499", 2),
        ("t5002", 2),
        ("t5003", 1),
        ("t5699", 1),
    ] {
        let history = store.test_history(Some("unit"), id).unwrap();
        assert_eq!(history.len(), runs, "{id}'s runs");
        let expected = match id {
            "t0000" => Verdict::Flaky,
            _ => Verdict::Expected,
        };
        assert!(
            history.iter().all(|v| v.verdict == expected),
            "{id}: {history:?}"
        );
    }
}

#[test]
fn a_store_reopened_keeps_its_runs_and_a_newer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let run = summary("run-1", vec![test("adds", &[(Outcome::Passed, None)])]);
    Store::open(&path)
        .unwrap()
        .record(&run, Path::new("."))
        .unwrap();
    let mut again = Store::open(&path).unwrap();
    assert_eq!(
        again.record(&run, Path::new(".")).unwrap(),
        Recorded::AlreadyThere
    );
    assert_eq!(again.test_history(None, "adds").unwrap().len(), 1);

    again.database.set_version(99).unwrap();
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

#[test]
fn a_runs_commit_waits_in_the_log_until_the_next_run_opens_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let log = dir.path().join("history.db-wal");
    // The runs the database file holds, read from a copy of it alone.
    let runs_in_file = || {
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let runs = rusqlite::Connection::open(&copy)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM runs", [], |row| row.get::<_, i64>(0))
            .unwrap();
        std::fs::remove_file(&copy).unwrap();
        runs
    };
    let mut log_sizes = Vec::new();
    for n in 1..=5 {
        let mut store = Store::open_for_run(&path).unwrap();
        assert_eq!(
            runs_in_file(),
            n - 1,
            "opened, the runs before are in the file"
        );
        let run = summary(
            &format!("run-{n}"),
            vec![test("adds", &[(Outcome::Passed, None)])],
        );
        store.record(&run, Path::new(".")).unwrap();
        drop(store);
        assert_eq!(
            runs_in_file(),
            n - 1,
            "the run's end left its commit in the log"
        );
        log_sizes.push(std::fs::metadata(&log).unwrap().len());
    }
    assert!(
        log_sizes[4] <= log_sizes[1],
        "the log holds about one run, not every run: {log_sizes:?}"
    );
    let mut reader = Store::open(&path).unwrap();
    assert_eq!(reader.test_history(None, "adds").unwrap().len(), 5);
}

/// A run at `commit` of tests each ending as given (a flaky one failed,
/// then passed).
fn run_at(run_id: &str, commit: &str, tests: &[(&str, &str)]) -> RunSummary {
    let records = tests
        .iter()
        .map(|(id, how)| match *how {
            "pass" => test(id, &[(Outcome::Passed, None)]),
            "fail" => test(id, &[(Outcome::Failed, Some("boom 1"))]),
            _ => test(
                id,
                &[(Outcome::Failed, Some("boom 2")), (Outcome::Passed, None)],
            ),
        })
        .collect();
    let mut run = summary(run_id, records);
    run.run.context.as_mut().unwrap().commit = Some(commit.to_owned());
    run
}

#[test]
fn a_test_that_passed_and_failed_on_one_commit_and_variant_is_flaky() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    let runs = [
        run_at(
            "1",
            "A",
            &[
                ("retried", "flaky"),
                ("wobbly", "pass"),
                ("broken", "fail"),
                ("changed", "pass"),
            ],
        ),
        run_at(
            "2",
            "A",
            &[
                ("retried", "pass"),
                ("wobbly", "fail"),
                ("broken", "fail"),
                ("changed", "pass"),
            ],
        ),
        // A failure on another commit only is a change, not a flake.
        run_at("3", "B", &[("wobbly", "pass"), ("changed", "fail")]),
        // Green only because a retry passed.
        run_at("4", "C", &[("retried", "flaky"), ("changed", "pass")]),
    ];
    for run in &runs {
        store.record(run, Path::new(".")).unwrap();
    }
    let report = store.flaky(None).unwrap();
    let found: Vec<(&str, u64, u64, u64)> = (report.tests.iter())
        .map(|t| (t.test.as_str(), t.runs, t.flaky_runs, t.passed_on_retry))
        .collect();
    assert_eq!(found, [("retried", 3, 2, 2), ("wobbly", 3, 1, 0)]);
    let retried = &report.tests[0];
    assert!((retried.flake_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(retried.pass_on_retry_rate, 1.0);
    assert_eq!(report.tests[1].pass_on_retry_rate, 0.0);
    assert_eq!(report.runs_green_by_retries, 1);
}

#[test]
fn failures_cluster_by_reason_and_the_latest_runs_new_ones_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    let failing = |run_id: &str, failures: &[(&str, &str)]| {
        let records = (failures.iter())
            .map(|(id, message)| test(id, &[(Outcome::Failed, Some(*message))]))
            .collect();
        summary(run_id, records)
    };
    store
        .record(
            &failing(
                "1",
                &[("a", "timeout after 30s"), ("b", "timeout after 31s")],
            ),
            Path::new("."),
        )
        .unwrap();
    store
        .record(
            &failing(
                "2",
                &[("a", "timeout after 29s"), ("c", "disk full on /dev/sda1")],
            ),
            Path::new("."),
        )
        .unwrap();

    let clusters = store.failures().unwrap();
    let found: Vec<(&str, u64, u64, bool)> = (clusters.iter())
        .map(|c| (c.reason.as_str(), c.failures, c.test_count, c.new))
        .collect();
    assert_eq!(
        found,
        [
            ("timeout after <n>s", 3, 2, false),
            ("disk full on <path>", 1, 1, true)
        ]
    );
    assert_eq!(clusters[0].tests, ["unit a", "unit b"]);
}

#[test]
fn a_window_keeps_only_each_tests_latest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    // Flaky long ago, steady since.
    store
        .record(&run_at("1", "A", &[("healed", "flaky")]), Path::new("."))
        .unwrap();
    for n in 2..=4 {
        store
            .record(
                &run_at(&n.to_string(), "A", &[("healed", "pass")]),
                Path::new("."),
            )
            .unwrap();
    }
    assert_eq!(store.flaky(None).unwrap().tests.len(), 1);
    assert_eq!(store.flaky(Some(4)).unwrap().tests.len(), 1);
    assert!(store.flaky(Some(3)).unwrap().tests.is_empty());
}

#[test]
fn pruning_removes_old_runs_with_their_results_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    let mut old = run_at("old", "A", &[("gone", "fail"), ("kept", "pass")]);
    old.run.started_at = "2026-01-01T00:00:00.000Z".into();
    let recent = run_at("recent", "B", &[("kept", "pass")]);
    store.record(&old, Path::new(".")).unwrap();
    store.record(&recent, Path::new(".")).unwrap();
    let cutoff = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap();
    assert_eq!(store.prune(cutoff.timestamp_millis()).unwrap(), 1);
    assert!(store.test_history(None, "gone").unwrap().is_empty());
    assert_eq!(store.test_history(None, "kept").unwrap().len(), 1);
    assert!(store.failures().unwrap().is_empty());
    // The runs each test had a verdict in are counted anew: a flake on
    // commit B is one of the two runs `kept` has now, not of three.
    let flaked = run_at("flaked", "B", &[("kept", "flaky")]);
    store.record(&flaked, Path::new(".")).unwrap();
    let kept = &store.flaky(None).unwrap().tests[0];
    assert_eq!(
        (kept.test.as_str(), kept.runs, kept.flaky_runs),
        ("kept", 2, 1)
    );
    // Pruned runs may be imported again.
    assert_eq!(
        store.record(&old, Path::new(".")).unwrap(),
        Recorded::New { results: 2 }
    );
}

#[test]
fn a_store_of_an_earlier_schema_is_brought_up_to_date_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let run = summary("run-1", vec![test("adds", &[(Outcome::Passed, None)])]);
    {
        // The first version's store, as the host that made it left it.
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch(schema::MIGRATIONS[0]).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.version().unwrap(), schema::MIGRATIONS.len() as i64);
    store.record(&run, Path::new(".")).unwrap();
    assert_eq!(store.test_history(None, "adds").unwrap().len(), 1);
}

/// A history of ten million results answers in a second only if no
/// analysis reads every result: each reaches results through a key or the
/// index of failures. A plan that scans the table fails here, where a
/// benchmark would only be slower.
#[test]
fn no_analysis_reads_every_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    let queries = [
        ("flaky", flaky::flaky_query(None)),
        ("flaky over a window", flaky::flaky_query(Some(100))),
        ("green by retries", flaky::green_by_retries_query()),
        (
            "failure clusters",
            failures::clusters_query(ClusterKind::Reason),
        ),
        (
            "clusters' tests",
            failures::named_tests_query(ClusterKind::Reason),
        ),
        (
            "dump clusters",
            failures::clusters_query(ClusterKind::DumpSignature),
        ),
        ("a test's history", TEST_HISTORY.to_owned()),
    ];
    let Database::Sqlite(connection) = &mut store.database else {
        unreachable!("a file is a SQLite store")
    };
    for (name, query) in queries {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
            .unwrap();
        let params = statement.parameter_count();
        let plan: Vec<String> = statement
            .query_map(
                rusqlite::params_from_iter(vec![Value::Null; params]),
                |row| row.get(3),
            )
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let scans_results = |step: &&String| {
            step.starts_with("SCAN results") && !step.contains("INDEX results_failing")
        };
        assert!(
            !plan.iter().any(|step| scans_results(&step)),
            "{name} reads every result: {plan:#?}"
        );
    }
}

/// Runs at commits `c00`, `c01`, … in order, each of the tests as given
/// (`P` passed, `F` failed, `.` not run) at that commit.
fn commit_history(store: &mut Store, tests: &[(&str, &str)]) {
    let commits = tests[0].1.len();
    for commit in 0..commits {
        let ran: Vec<(&str, &str)> = (tests.iter())
            .filter_map(|(id, outcomes)| match outcomes.as_bytes()[commit] {
                b'P' => Some((*id, "pass")),
                b'F' => Some((*id, "fail")),
                _ => None,
            })
            .collect();
        let mut run = run_at(&format!("run-{commit}"), &format!("c{commit:02}"), &ran);
        run.run.context.as_mut().unwrap().commit_ms = Some(1_000 * commit as i64);
        store.record(&run, Path::new(".")).unwrap();
    }
}

#[test]
fn a_culprit_is_named_where_a_test_broke_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    commit_history(
        &mut store,
        &[
            ("broke", "PPPPPPPPPPPP..FFFFFFFFFF"),
            ("flickers", "PPPFPPPPPFPPPPPPFPPPPFPP"),
            ("broken", "FFFFFFFFFFFFFFFFFFFFFFFF"),
            ("mended", "PPPPPPPPFFFFFFFFPPPPPPPP"),
        ],
    );
    let mut report = |id: &str| store.culprit(None, id, &[]).unwrap().remove(0);

    let broke = report("broke");
    assert_eq!(broke.status, Status::Regressed);
    let culprit = broke.culprit.unwrap();
    // Nothing ran at c12 and c13: c14 is the first that failed.
    assert_eq!(
        (culprit.good.as_deref(), culprit.bad.as_str()),
        (Some("c11"), "c14")
    );
    assert_eq!(culprit.candidates, ["c14"]);
    assert!(culprit.confidence >= changepoint::CONFIDENCE);
    assert_eq!(
        (culprit.before.failure_rate, culprit.after.failure_rate),
        (0.0, 1.0)
    );

    let flickers = report("flickers");
    assert_eq!(flickers.status, Status::Flaky);
    assert!(flickers.culprit.is_none());
    assert_eq!(report("broken").status, Status::AlwaysFailing);
    let mended = report("mended");
    assert_eq!(mended.status, Status::Fixed);
    assert_eq!(mended.culprit.unwrap().bad, "c08");

    let regressions: Vec<String> = (store.regressions(100).unwrap().into_iter())
        .map(|r| r.test)
        .collect();
    assert_eq!(regressions, ["broke"]);
    // Another variant is another history, and a variant asked for that no
    // run had is no history.
    let wanted = [("os".to_owned(), "plan9".to_owned())];
    assert!(store.culprit(None, "broke", &wanted).unwrap().is_empty());
}
