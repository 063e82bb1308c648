//! Recording a run: its row, its variant's, and a row per test (and per
//! attempt of a test tried more than once), with test names and failure
//! reasons interned. Rows go in many to a statement: a server is a round
//! trip away, and SQLite too is faster so.

use std::collections::HashMap;

use super::database::{Database, DbResult, Value};
use super::{outcome_code, reason, run_outcome_code, verdict, verdict_code};
use crate::results::{RecordKind, RunContext, RunSummary, TestRecord};

/// Rows per statement: well under both databases' limit on parameters
/// (SQLite's 32,766, PostgreSQL's 65,535) at the widest row.
const ROWS_PER_STATEMENT: usize = 500;

/// Records the run; answers how many tests it recorded.
pub fn insert_run(
    db: &mut Database,
    summary: &RunSummary,
    context: &RunContext,
) -> DbResult<usize> {
    let (hash, pairs) = context.variant_key();
    db.execute(
        "INSERT INTO variants (hash, pairs) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
        &[(&hash).into(), (&pairs).into()],
    )?;
    let variant = db
        .query_row("SELECT id FROM variants WHERE hash = ?1", &[(&hash).into()])?
        .map(|row| row.int(0))
        .unwrap_or_default();
    let started_ms = chrono::DateTime::parse_from_rfc3339(&summary.started_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    let run = db
        .query_row(
            "INSERT INTO runs (run_id, started_ms, duration_ms, outcome, exit_code, proctor_version,
                               machine, os, arch, work_item, job, queue, repository, branch,
                               commit_sha, commit_ms, commit_position, variant)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             RETURNING id",
            &[
                (&summary.run_id).into(),
                started_ms.into(),
                (summary.duration_ms as i64).into(),
                run_outcome_code(summary.outcome).into(),
                i64::from(summary.exit_code).into(),
                (&summary.proctor_version).into(),
                context.machine.as_ref().into(),
                context.os.as_ref().into(),
                context.arch.as_ref().into(),
                context.work_item.as_ref().into(),
                context.job.as_ref().into(),
                context.queue.as_ref().into(),
                context.repository.as_ref().into(),
                context.branch.as_ref().into(),
                context.commit.as_ref().into(),
                context.commit_ms.into(),
                context.commit_position.into(),
                variant.into(),
            ],
        )?
        .map(|row| row.int(0))
        .unwrap_or_default();

    let tests: Vec<&TestRecord> = (summary.tests.iter())
        .filter(|t| t.kind == RecordKind::Test && !t.skipped_by_rule)
        .collect();
    let test_ids = intern_tests(db, &tests)?;
    // The reason of each test's first failure that says one, and of each
    // failed attempt of a test tried more than once.
    let retried = || tests.iter().filter(|t| t.attempts.len() > 1);
    let said = (tests.iter().filter_map(|t| first_reason(t)))
        .chain(retried().flat_map(|t| attempt_reasons(t).flatten()));
    let reason_ids = intern_reasons(db, said)?;
    let reason_of = |message: Option<&str>| -> Value {
        message
            .map(reason::normalise)
            .and_then(|r| reason_ids.get(&r).copied())
            .into()
    };

    let mut results = Vec::with_capacity(tests.len() * 7);
    for (test, id) in tests.iter().zip(&test_ids) {
        results.extend([
            Value::Int(*id),
            Value::Int(run),
            verdict_code(verdict(test)).into(),
            outcome_code(test.outcome).into(),
            (test.attempts.len().max(1) as i64).into(),
            (test.duration_ms as i64).into(),
            reason_of(first_reason(test)),
        ]);
    }
    // A test the summary names twice is recorded once.
    insert_rows(
        db,
        "results (test, run, verdict, outcome, attempts, duration_ms, reason)",
        7,
        &results,
        " ON CONFLICT (test, run) DO NOTHING",
    )?;
    let mut attempts = Vec::new();
    for (test, id) in tests.iter().zip(&test_ids) {
        if test.attempts.len() < 2 {
            continue;
        }
        for (attempt, reason) in test.attempts.iter().zip(attempt_reasons(test)) {
            attempts.extend([
                Value::Int(*id),
                Value::Int(run),
                i64::from(attempt.attempt).into(),
                outcome_code(attempt.outcome).into(),
                (attempt.duration_ms as i64).into(),
                reason_of(reason),
            ]);
        }
    }
    insert_rows(
        db,
        "attempts (test, run, attempt, outcome, duration_ms, reason)",
        6,
        &attempts,
        " ON CONFLICT (test, run, attempt) DO NOTHING",
    )?;
    Ok(tests.len())
}

/// The message of the test's first failure that says one.
fn first_reason(test: &TestRecord) -> Option<&str> {
    (test.attempts.iter())
        .filter(|a| a.outcome.is_failure())
        .find_map(|a| a.message.as_deref())
}

/// Each attempt's failure message, none for an attempt that did not fail.
fn attempt_reasons(test: &TestRecord) -> impl Iterator<Item = Option<&str>> {
    (test.attempts.iter()).map(|a| a.message.as_deref().filter(|_| a.outcome.is_failure()))
}

/// The id of each test's name, in order, adding the names not seen before.
fn intern_tests(db: &mut Database, tests: &[&TestRecord]) -> DbResult<Vec<i64>> {
    let rows: Vec<Value> = (tests.iter())
        .flat_map(|t| {
            let qualified = t.qualified_name.as_deref().unwrap_or(&t.id);
            [(&t.source).into(), (&t.id).into(), qualified.into()]
        })
        .collect();
    insert_rows(
        db,
        "tests (source, name, qualified_name)",
        3,
        &rows,
        " ON CONFLICT (source, name) DO NOTHING",
    )?;
    let mut ids = HashMap::with_capacity(tests.len());
    let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
    for test in tests {
        by_source.entry(&test.source).or_default().push(&test.id);
    }
    for (source, names) in by_source {
        for chunk in names.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, name FROM tests WHERE source = ?1 AND name IN ({})",
                placeholders(2, chunk.len())
            );
            let params: Vec<Value> = std::iter::once(source.into())
                .chain(chunk.iter().map(|n| (*n).into()))
                .collect();
            for row in db.query(&sql, &params)? {
                ids.insert((source.to_owned(), row.text(1)), row.int(0));
            }
        }
    }
    Ok(tests
        .iter()
        .map(|t| ids[&(t.source.clone(), t.id.clone())])
        .collect())
}

/// The id of each normalised reason among `messages`, adding those not
/// seen before.
fn intern_reasons<'a>(
    db: &mut Database,
    messages: impl Iterator<Item = &'a str>,
) -> DbResult<HashMap<String, i64>> {
    let mut reasons: Vec<String> = messages
        .map(reason::normalise)
        .filter(|r| !r.is_empty())
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    let rows: Vec<Value> = reasons.iter().map(Value::from).collect();
    insert_rows(
        db,
        "reasons (reason)",
        1,
        &rows,
        " ON CONFLICT (reason) DO NOTHING",
    )?;
    let mut ids = HashMap::with_capacity(reasons.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id, reason FROM reasons WHERE reason IN ({})",
            placeholders(1, chunk.len())
        );
        for row in db.query(&sql, chunk)? {
            ids.insert(row.text(1), row.int(0));
        }
    }
    Ok(ids)
}

/// Inserts `values`, `width` to a row, into `into` ("table (columns)"),
/// each statement ending with `then`.
fn insert_rows(
    db: &mut Database,
    into: &str,
    width: usize,
    values: &[Value],
    then: &str,
) -> DbResult<()> {
    for chunk in values.chunks(width * ROWS_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len() / width)
            .map(|row| format!("({})", placeholders(1 + row * width, width)))
            .collect();
        let sql = format!("INSERT INTO {into} VALUES {}{then}", rows.join(", "));
        db.execute(&sql, chunk)?;
    }
    Ok(())
}

/// `?first, ?first+1, …`, `count` of them.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
