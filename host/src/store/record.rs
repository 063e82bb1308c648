//! Recording a run: its row, its variant's, and a row per test (and per
//! attempt of a test tried more than once), with test names and failure
//! reasons interned. Rows go in many to a statement: a server is a round
//! trip away, and SQLite too is faster so ([`rows_per_statement`]). Test
//! names are looked up many to a statement on a server, one at a time in
//! SQLite ([`find_tests`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use proctor_formats::dump::{DumpInfo, DUMP_KINDS};

use super::database::{Database, DbResult, Dialect, Value};
use super::schema::JUDGED;
use super::{outcome_code, reason, run_outcome_code, verdict, verdict_code};
use crate::results::{RecordKind, RunContext, RunSummary, TestRecord};

/// Rows per statement. A server is a round trip away: 500, well under
/// its limit of 65,535 parameters at the widest row. SQLite, in the
/// process, compiles a statement in time that grows with its rows, and
/// each new text anew: 64 rows at a time, one statement compiled once and
/// run again, recorded 500 results in 1.1 ms where one statement of 500
/// rows took 1.7.
fn rows_per_statement(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 64,
        Dialect::Postgres => 500,
    }
}

/// Records the run, with the signatures of its failed tests' dumps
/// ([`dump_signatures`]); answers how many tests it recorded.
pub fn insert_run(
    db: &mut Database,
    summary: &RunSummary,
    context: &RunContext,
    dumps: Vec<DumpSignature>,
) -> DbResult<usize> {
    let run = insert_run_row(db, summary, context)?;
    let tests: Vec<&TestRecord> = (summary.tests.iter())
        .filter(|t| t.kind == RecordKind::Test && !t.skipped_by_rule)
        .collect();
    let test_ids = intern_tests(db, &tests)?;
    // A test the summary names twice is recorded once.
    let mut seen = HashSet::new();
    let tests: Vec<(&TestRecord, i64)> = (tests.into_iter().zip(test_ids))
        .filter(|(_, id)| seen.insert(*id))
        .collect();
    let reasons = Reasons::intern(db, &tests)?;
    insert_results(db, run, &tests, &reasons)?;
    insert_dumps(db, run, &tests, dumps)?;
    Ok(tests.len())
}

/// The run's row (and its variant's, if new); answers its id.
fn insert_run_row(db: &mut Database, summary: &RunSummary, context: &RunContext) -> DbResult<i64> {
    let (hash, pairs) = context.variant_key();
    db.execute(
        "INSERT INTO variants (hash, pairs) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
        &[(&hash).into(), (&pairs).into()],
    )?;
    let variant = db
        .query_row("SELECT id FROM variants WHERE hash = ?1", &[(&hash).into()])?
        .map(|row| row.int(0))
        .unwrap_or_default();
    let started_ms = chrono::DateTime::parse_from_rfc3339(&summary.run.started_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    let run = db.query_row(
        "INSERT INTO runs (run_id, started_ms, duration_ms, outcome, exit_code, proctor_version,
                           machine, os, arch, work_item, job, queue, repository, branch,
                           commit_sha, commit_ms, commit_position, variant)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         RETURNING id",
        &[
            (&summary.run.run_id).into(),
            started_ms.into(),
            (summary.run.duration_ms as i64).into(),
            run_outcome_code(summary.run.outcome).into(),
            i64::from(summary.run.exit_code).into(),
            (&summary.run.proctor_version).into(),
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
    )?;
    Ok(run.map(|row| row.int(0)).unwrap_or_default())
}

/// The ids of the run's failure messages' reasons, each message
/// normalised once.
struct Reasons<'a>(HashMap<&'a str, i64>);

impl<'a> Reasons<'a> {
    /// Interns the reasons of each test's first failure that says one, and
    /// of each failed attempt of a test tried more than once.
    fn intern(db: &mut Database, tests: &[(&'a TestRecord, i64)]) -> DbResult<Self> {
        let retried = tests.iter().filter(|(t, _)| t.attempts.len() > 1);
        let mut messages: Vec<&str> = (tests.iter().filter_map(|(t, _)| first_reason(t)))
            .chain(retried.flat_map(|(t, _)| attempt_reasons(t).flatten()))
            .collect();
        messages.sort_unstable();
        messages.dedup();
        let normalised: Vec<String> = messages.iter().map(|m| reason::normalise(m)).collect();
        let ids = intern(db, ("reasons", "reason"), normalised.iter().cloned())?;
        let by_message = (messages.into_iter().zip(&normalised))
            .filter_map(|(message, reason)| Some((message, *ids.get(reason)?)))
            .collect();
        Ok(Self(by_message))
    }

    fn of(&self, message: Option<&str>) -> Value {
        message.and_then(|m| self.0.get(m).copied()).into()
    }
}

/// A row per test, and per attempt of a test tried more than once.
fn insert_results(
    db: &mut Database,
    run: i64,
    tests: &[(&TestRecord, i64)],
    reasons: &Reasons,
) -> DbResult<()> {
    let results = tests.iter().map(|&(test, id)| {
        [
            Value::Int(id),
            Value::Int(run),
            verdict_code(verdict(test)).into(),
            outcome_code(test.outcome).into(),
            (test.attempts.len().max(1) as i64).into(),
            (test.duration_ms as i64).into(),
            reasons.of(first_reason(test)),
        ]
    });
    insert_rows(
        db,
        "results (test, run, verdict, outcome, attempts, duration_ms, reason)",
        results,
        "",
    )?;
    // The runs each test had a verdict in, counted from the rows just
    // written, by the one condition the analyses use.
    db.execute(
        &format!(
            "INSERT INTO judged_runs (test, runs)
             SELECT test, 1 FROM results WHERE results.run = ?1 AND {JUDGED}
             ON CONFLICT (test) DO UPDATE SET runs = judged_runs.runs + excluded.runs"
        ),
        &[Value::Int(run)],
    )?;
    let retried = tests.iter().filter(|(test, _)| test.attempts.len() > 1);
    let attempts = retried.flat_map(|&(test, id)| {
        (test.attempts.iter().zip(attempt_reasons(test))).map(move |(attempt, message)| {
            [
                Value::Int(id),
                Value::Int(run),
                i64::from(attempt.attempt).into(),
                outcome_code(attempt.outcome).into(),
                (attempt.duration_ms as i64).into(),
                reasons.of(message),
            ]
        })
    });
    insert_rows(
        db,
        "attempts (test, run, attempt, outcome, duration_ms, reason)",
        attempts,
        " ON CONFLICT (test, run, attempt) DO NOTHING",
    )
}

/// A row per failed test and signature of a dump taken of it.
fn insert_dumps(
    db: &mut Database,
    run: i64,
    tests: &[(&TestRecord, i64)],
    dumps: Vec<DumpSignature>,
) -> DbResult<()> {
    if dumps.is_empty() {
        return Ok(());
    }
    let signature_ids = intern(
        db,
        ("signatures", "signature"),
        dumps.iter().map(|(_, _, signature)| signature.clone()),
    )?;
    let test_id: HashMap<(&str, &str), i64> = (tests.iter())
        .map(|&(t, id)| ((&*t.source, t.id.as_str()), id))
        .collect();
    let rows = dumps.iter().filter_map(|(source, test, signature)| {
        let test = test_id.get(&(source.as_str(), test.as_str()))?;
        Some([
            Value::Int(run),
            Value::Int(*test),
            signature_ids[signature].into(),
        ])
    });
    insert_rows(
        db,
        "dumps (run, test, signature)",
        rows,
        " ON CONFLICT (run, test, signature) DO NOTHING",
    )
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

/// The id of each test's name, in order, adding the names not seen before
/// (most runs add none: only those are written).
fn intern_tests(db: &mut Database, tests: &[&TestRecord]) -> DbResult<Vec<i64>> {
    let mut ids = vec![None; tests.len()];
    find_tests(db, tests, 0..tests.len(), &mut ids)?;
    let new: Vec<usize> = (0..tests.len()).filter(|&i| ids[i].is_none()).collect();
    if !new.is_empty() {
        let rows = new.iter().map(|&i| {
            let test = tests[i];
            let qualified = test.qualified_name.as_deref().unwrap_or(&test.id);
            [(&*test.source).into(), (&test.id).into(), qualified.into()]
        });
        // Another run may have added some since they were looked for.
        insert_rows(
            db,
            "tests (source, name, qualified_name)",
            rows,
            " ON CONFLICT (source, name) DO NOTHING",
        )?;
        find_tests(db, tests, new, &mut ids)?;
    }
    Ok(ids.into_iter().map(Option::unwrap_or_default).collect())
}

/// Sets the id of each of the tests at `wanted` that the store knows.
///
/// SQLite, in the process, looks each name up by a statement parsed once:
/// a list of 500 names in a statement made it parse 500 placeholders and
/// sort the list before searching (13–21 ms for 10,000 names, 6–7 ms a
/// name at a time; 0.58 and 0.38 ms for 500). A server, a round trip away,
/// is asked a statement's worth at a time, and each answer is held only
/// while its tests take their ids: a map of every name the store answered
/// was a tenth of a large run's memory as it was recorded.
fn find_tests(
    db: &mut Database,
    tests: &[&TestRecord],
    wanted: impl IntoIterator<Item = usize>,
    ids: &mut [Option<i64>],
) -> DbResult<()> {
    if db.dialect() == Dialect::Sqlite {
        for i in wanted {
            let (source, name) = (&*tests[i].source, &tests[i].id);
            let found = db.query_row(
                "SELECT id FROM tests WHERE source = ?1 AND name = ?2",
                &[source.into(), name.into()],
            )?;
            ids[i] = found.map(|row| row.int(0));
        }
        return Ok(());
    }
    let mut by_source: HashMap<&str, Vec<usize>> = HashMap::new();
    for i in wanted {
        by_source.entry(&*tests[i].source).or_default().push(i);
    }
    for (source, positions) in by_source {
        for chunk in positions.chunks(rows_per_statement(db.dialect())) {
            let sql = format!(
                "SELECT id, name FROM tests WHERE source = ?1 AND name IN ({})",
                placeholders(2, chunk.len())
            );
            let params: Vec<Value> = std::iter::once(source.into())
                .chain(chunk.iter().map(|&i| (&tests[i].id).into()))
                .collect();
            let found: HashMap<String, i64> = (db.query(&sql, &params)?.iter())
                .map(|row| (row.text(1), row.int(0)))
                .collect();
            for &i in chunk {
                ids[i] = found.get(&tests[i].id).copied();
            }
        }
    }
    Ok(())
}

/// The id of each of `texts` in `table` (a table of `id` and `column`),
/// adding those not seen before.
fn intern(
    db: &mut Database,
    (table, column): (&str, &str),
    texts: impl Iterator<Item = String>,
) -> DbResult<HashMap<String, i64>> {
    let mut texts: Vec<String> = texts.filter(|t| !t.is_empty()).collect();
    texts.sort_unstable();
    texts.dedup();
    insert_rows(
        db,
        &format!("{table} ({column})"),
        texts.iter().map(|text| [text.into()]),
        &format!(" ON CONFLICT ({column}) DO NOTHING"),
    )?;
    let mut ids = HashMap::with_capacity(texts.len());
    for chunk in texts.chunks(rows_per_statement(db.dialect())) {
        let sql = format!(
            "SELECT id, {column} FROM {table} WHERE {column} IN ({})",
            placeholders(1, chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(Value::from).collect();
        for row in db.query(&sql, &params)? {
            ids.insert(row.text(1), row.int(0));
        }
    }
    Ok(ids)
}

/// A failed test (source, id) and the signature of a dump taken of it.
pub type DumpSignature = (String, String, String);

/// The signatures of the dumps taken of each test that failed: the tests
/// its process was running, as the dump's description says, less those
/// that did not fail. Dumps are found among the run's attachments, by
/// their kind; `results_dir` is where their paths are relative to. Files
/// are read here, before the store is locked for writing.
pub fn dump_signatures(summary: &RunSummary, results_dir: &Path) -> Vec<DumpSignature> {
    let failed: HashSet<(&str, &str)> = (summary.tests.iter())
        .filter(|t| t.outcome.is_failure())
        .map(|t| (&*t.source, t.id.as_str()))
        .collect();
    let mut found = Vec::new();
    for attachment in &summary.run.attachments {
        if !DUMP_KINDS.contains(&attachment.kind.as_str()) {
            continue;
        }
        let Some(info) = DumpInfo::beside(&results_dir.join(&attachment.path)) else {
            continue;
        };
        if info.signature.is_empty() {
            continue;
        }
        for test in &info.tests {
            if failed.contains(&(info.source.as_str(), test.as_str())) {
                found.push((info.source.clone(), test.clone(), info.signature.clone()));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Inserts `rows` into `into` ("table (columns)"), each statement ending
/// with `then`. Rows are made a statement's worth at a time: a run's ten
/// thousand results, made all at once, were 2 MB of values.
fn insert_rows<const WIDTH: usize>(
    db: &mut Database,
    into: &str,
    rows: impl IntoIterator<Item = [Value; WIDTH]>,
    then: &str,
) -> DbResult<()> {
    let per_statement = rows_per_statement(db.dialect());
    let mut rows = rows.into_iter().peekable();
    let mut values = Vec::new();
    while rows.peek().is_some() {
        values.clear();
        values.extend(rows.by_ref().take(per_statement).flatten());
        let mut sql = format!("INSERT INTO {into} VALUES ");
        for row in 0..values.len() / WIDTH {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            add_placeholders(&mut sql, 1 + row * WIDTH, WIDTH);
            sql.push(')');
        }
        sql.push_str(then);
        db.execute(&sql, &values)?;
    }
    Ok(())
}

/// `?first, ?first+1, …`, `count` of them.
fn placeholders(first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 6);
    add_placeholders(&mut text, first, count);
    text
}

/// Adds `?first, ?first+1, …`, `count` of them, to `text`: a statement of
/// 500 rows has thousands, made once a statement per run.
fn add_placeholders(text: &mut String, first: usize, count: usize) {
    use std::fmt::Write;
    for n in first..first + count {
        let separator = if n == first { "" } else { ", " };
        let _ = write!(text, "{separator}?{n}");
    }
}
