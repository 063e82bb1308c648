//! The results store: every run recorded at its end, for the history of
//! each test across runs, commits and variants (LUCI's ResultDB is the
//! model). SQLite is the embedded default. A run is recorded once, by its
//! id, so importing a results directory twice records nothing new.
//!
//! Statuses and times are integers ([`outcome_code`], [`verdict_code`]),
//! test names and failure reasons are interned: a result is a row of
//! integers ([`schema`]).

mod failures;
mod flaky;
pub mod reason;
mod schema;

pub use failures::FailureCluster;
pub use flaky::{FlakyReport, FlakyTest};

use std::path::{Path, PathBuf};

use proctor_plugin_api::messages::Outcome;
use rusqlite::{params, Connection, OptionalExtension};

use crate::results::{RecordKind, RunContext, RunOutcome, RunSummary, TestRecord};

/// What went wrong with a store, naming it.
#[derive(Debug, thiserror::Error)]
#[error("results store {location}: {problem}")]
pub struct StoreError {
    location: String,
    problem: String,
}

impl StoreError {
    fn new(location: &str, problem: impl std::fmt::Display) -> Self {
        Self {
            location: location.to_owned(),
            problem: problem.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A test's verdict in one run, as LUCI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Passed or skipped, first time.
    Expected,
    /// Failed, timed out or crashed, every attempt.
    Unexpected,
    /// Failed, then passed on a later attempt.
    Flaky,
    /// Did not pass, but quarantined: it does not fail the run.
    Exonerated,
    /// Blocked or not run: it says nothing of the test.
    NotRun,
}

/// Verdicts and outcomes are stored as their index here. Fixed, and only
/// ever extended at the end: stores outlive hosts.
const VERDICT_CODES: [Verdict; 5] = [
    Verdict::Expected,
    Verdict::Unexpected,
    Verdict::Flaky,
    Verdict::Exonerated,
    Verdict::NotRun,
];
const OUTCOME_CODES: [Outcome; 7] = [
    Outcome::Passed,
    Outcome::Failed,
    Outcome::Skipped,
    Outcome::TimedOut,
    Outcome::Crashed,
    Outcome::Blocked,
    Outcome::NotRun,
];

/// The integer a verdict is stored as.
pub fn verdict_code(verdict: Verdict) -> i64 {
    code_of(&VERDICT_CODES, verdict)
}

/// A stored verdict; one this host does not know says nothing of the test.
fn verdict_of_code(code: i64) -> Verdict {
    of_code(&VERDICT_CODES, code).unwrap_or(Verdict::NotRun)
}

/// The integer an outcome is stored as.
pub fn outcome_code(outcome: Outcome) -> i64 {
    code_of(&OUTCOME_CODES, outcome)
}

fn outcome_of_code(code: i64) -> Outcome {
    of_code(&OUTCOME_CODES, code).unwrap_or(Outcome::NotRun)
}

fn code_of<T: PartialEq>(table: &[T], value: T) -> i64 {
    table
        .iter()
        .position(|v| *v == value)
        .expect("every value has a code") as i64
}

fn of_code<T: Copy>(table: &[T], code: i64) -> Option<T> {
    usize::try_from(code)
        .ok()
        .and_then(|i| table.get(i))
        .copied()
}

fn run_outcome_code(outcome: RunOutcome) -> i64 {
    match outcome {
        RunOutcome::Passed => 0,
        RunOutcome::TestsFailed => 1,
        RunOutcome::UsageError => 2,
        RunOutcome::InfrastructureError => 3,
        RunOutcome::NoTests => 4,
        RunOutcome::Interrupted => 5,
    }
}

/// A test's verdict in the run its record is of.
pub fn verdict(test: &TestRecord) -> Verdict {
    match test.outcome {
        Outcome::Blocked | Outcome::NotRun => Verdict::NotRun,
        _ if test.flaky => Verdict::Flaky,
        outcome if outcome.is_failure() && test.quarantined => Verdict::Exonerated,
        outcome if outcome.is_failure() => Verdict::Unexpected,
        _ => Verdict::Expected,
    }
}

/// Whether recording a run stored it, or found it there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New { results: usize },
    AlreadyThere,
}

/// One run's verdict of a test, as history lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestVerdict {
    pub run_id: String,
    pub started_ms: i64,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub variant: String,
    pub verdict: Verdict,
    pub outcome: Outcome,
    pub attempts: u32,
    pub duration_ms: u64,
    pub reason: Option<String>,
}

/// A results store, open.
pub struct Store {
    connection: Connection,
    location: String,
}

impl Store {
    /// Opens the SQLite store at `path`, making it (and its directory) if
    /// there is none, and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let location = path.display().to_string();
        let failed = |problem: String| StoreError::new(&location, problem);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| failed(format!("cannot make {}: {e}", dir.display())))?;
        }
        let connection = Connection::open(path).map_err(|e| failed(e.to_string()))?;
        let mut store = Self {
            connection,
            location,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn error(&self, problem: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.location, problem)
    }

    /// Several runs may end at once on one machine: writers wait for each
    /// other rather than fail, and readers never wait for a writer.
    fn configure(&self) -> Result<()> {
        self.connection
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| self.error(e))?;
        self.connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.error(e))?;
        self.connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.error(e))
    }

    /// The migrations past the store's version, in one transaction.
    fn migrate(&mut self) -> Result<()> {
        let known = schema::MIGRATIONS.len() as i64;
        let location = self.location.clone();
        let failed = |problem: String| StoreError::new(&location, problem);
        let transaction = (self.connection)
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| failed(e.to_string()))?;
        let version: i64 = transaction
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| failed(e.to_string()))?;
        if version > known {
            return Err(failed(format!(
                "its schema is version {version}, newer than this proctor's {known}: \
                 use a newer proctor, or another store"
            )));
        }
        let apply = || -> rusqlite::Result<()> {
            for migration in &schema::MIGRATIONS[version as usize..] {
                transaction.execute_batch(migration)?;
            }
            transaction.pragma_update(None, "user_version", known)?;
            transaction.commit()
        };
        apply().map_err(|e| {
            failed(format!(
                "cannot bring its schema from version {version} to {known}: {e}"
            ))
        })
    }

    /// The store's schema version.
    pub fn version(&self) -> Result<i64> {
        self.connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.error(e))
    }

    /// Records a run from its summary, with what it tested as the summary
    /// says (nothing, for a summary from before it said); a run already
    /// there (by its id) is left as it is.
    pub fn record(&mut self, summary: &RunSummary) -> Result<Recorded> {
        let unknown = RunContext::default();
        let context = summary.context.as_ref().unwrap_or(&unknown);
        if summary.run_id.is_empty() {
            return Err(
                self.error("the run has no id (a summary from before proctor recorded one)")
            );
        }
        let location = self.location.clone();
        let failed = |e: rusqlite::Error| {
            StoreError::new(
                &location,
                format!("cannot record run {}: {e}", summary.run_id),
            )
        };
        let transaction = (self.connection)
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed)?;
        let known: Option<i64> = transaction
            .query_row(
                "SELECT id FROM runs WHERE run_id = ?1",
                [&summary.run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed)?;
        if known.is_some() {
            return Ok(Recorded::AlreadyThere);
        }
        let results = insert_run(&transaction, summary, context).map_err(failed)?;
        transaction.commit().map_err(failed)?;
        Ok(Recorded::New { results })
    }

    /// Every run's verdict of the tests named `test` (in `source`, when
    /// given), oldest first.
    pub fn test_history(&self, source: Option<&str>, test: &str) -> Result<Vec<TestVerdict>> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT runs.run_id, runs.started_ms, runs.commit_sha, runs.branch, variants.hash,
                        results.verdict, results.outcome, results.attempts, results.duration_ms,
                        reasons.reason
                 FROM tests
                 JOIN results ON results.test = tests.id
                 JOIN runs ON runs.id = results.run
                 JOIN variants ON variants.id = runs.variant
                 LEFT JOIN reasons ON reasons.id = results.reason
                 WHERE tests.name = ?1 AND (?2 IS NULL OR tests.source = ?2)
                 ORDER BY runs.started_ms, runs.id",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![test, source], |row| {
                Ok(TestVerdict {
                    run_id: row.get(0)?,
                    started_ms: row.get(1)?,
                    commit: row.get(2)?,
                    branch: row.get(3)?,
                    variant: row.get(4)?,
                    verdict: verdict_of_code(row.get(5)?),
                    outcome: outcome_of_code(row.get(6)?),
                    attempts: row.get(7)?,
                    duration_ms: row.get::<_, i64>(8)?.max(0) as u64,
                    reason: row.get(9)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.error(e))
    }
}

impl Store {
    /// Removes the runs that started before `before_ms` (milliseconds since
    /// the epoch), with their results; answers how many runs went.
    pub fn prune(&mut self, before_ms: i64) -> Result<usize> {
        let location = self.location.clone();
        let failed = |e: rusqlite::Error| StoreError::new(&location, format!("cannot prune: {e}"));
        let transaction = self.connection.transaction().map_err(failed)?;
        let old = "SELECT id FROM runs WHERE started_ms < ?1";
        transaction
            .execute(
                &format!("DELETE FROM attempts WHERE run IN ({old})"),
                [before_ms],
            )
            .map_err(failed)?;
        transaction
            .execute(
                &format!("DELETE FROM results WHERE run IN ({old})"),
                [before_ms],
            )
            .map_err(failed)?;
        let runs = transaction
            .execute("DELETE FROM runs WHERE started_ms < ?1", [before_ms])
            .map_err(failed)?;
        // Names and reasons no result holds any more.
        transaction
            .execute_batch(
                "DELETE FROM tests WHERE id NOT IN (SELECT DISTINCT test FROM results);
                 DELETE FROM reasons WHERE id NOT IN (SELECT reason FROM results WHERE reason IS NOT NULL
                                                      UNION SELECT reason FROM attempts WHERE reason IS NOT NULL);
                 DELETE FROM variants WHERE id NOT IN (SELECT variant FROM runs);",
            )
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
        Ok(runs)
    }
}

/// The run's row, its variant's, and a row per test (and per attempt of a
/// test tried more than once); answers how many tests it recorded.
fn insert_run(
    transaction: &rusqlite::Transaction,
    summary: &RunSummary,
    context: &RunContext,
) -> rusqlite::Result<usize> {
    let (hash, pairs) = context.variant_key();
    transaction.execute(
        "INSERT INTO variants (hash, pairs) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
        params![hash, pairs],
    )?;
    let variant: i64 =
        transaction.query_row("SELECT id FROM variants WHERE hash = ?1", [&hash], |row| {
            row.get(0)
        })?;
    let started_ms = chrono::DateTime::parse_from_rfc3339(&summary.started_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    transaction.execute(
        "INSERT INTO runs (run_id, started_ms, duration_ms, outcome, exit_code, proctor_version,
                           machine, os, arch, work_item, job, queue, repository, branch,
                           commit_sha, commit_ms, commit_position, variant)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            summary.run_id,
            started_ms,
            summary.duration_ms as i64,
            run_outcome_code(summary.outcome),
            summary.exit_code,
            summary.proctor_version,
            context.machine,
            context.os,
            context.arch,
            context.work_item,
            context.job,
            context.queue,
            context.repository,
            context.branch,
            context.commit,
            context.commit_ms,
            context.commit_position,
            variant,
        ],
    )?;
    let run = transaction.last_insert_rowid();
    let mut find_test =
        transaction.prepare_cached("SELECT id FROM tests WHERE source = ?1 AND name = ?2")?;
    let mut add_test = transaction
        .prepare_cached("INSERT INTO tests (source, name, qualified_name) VALUES (?1, ?2, ?3)")?;
    let mut find_reason = transaction.prepare_cached("SELECT id FROM reasons WHERE reason = ?1")?;
    let mut add_reason = transaction.prepare_cached("INSERT INTO reasons (reason) VALUES (?1)")?;
    let mut add_result = transaction.prepare_cached(
        "INSERT INTO results (test, run, verdict, outcome, attempts, duration_ms, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut add_attempt = transaction.prepare_cached(
        "INSERT INTO attempts (test, run, attempt, outcome, duration_ms, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut reason_id = |message: Option<&str>| -> rusqlite::Result<Option<i64>> {
        let Some(reason) = message.map(reason::normalise).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        if let Some(id) = find_reason
            .query_row([&reason], |row| row.get(0))
            .optional()?
        {
            return Ok(Some(id));
        }
        add_reason.execute([&reason])?;
        Ok(Some(transaction.last_insert_rowid()))
    };
    let mut recorded = 0;
    for test in summary
        .tests
        .iter()
        .filter(|t| t.kind == RecordKind::Test && !t.skipped_by_rule)
    {
        let id: i64 = match find_test
            .query_row(params![test.source, test.id], |row| row.get(0))
            .optional()?
        {
            Some(id) => id,
            None => {
                let qualified = test.qualified_name.as_deref().unwrap_or(&test.id);
                add_test.execute(params![test.source, test.id, qualified])?;
                transaction.last_insert_rowid()
            }
        };
        // The reason of its first failure that says one.
        let reason = reason_id(
            (test.attempts.iter())
                .filter(|a| a.outcome.is_failure())
                .find_map(|a| a.message.as_deref()),
        )?;
        add_result.execute(params![
            id,
            run,
            verdict_code(verdict(test)),
            outcome_code(test.outcome),
            test.attempts.len().max(1) as i64,
            test.duration_ms as i64,
            reason,
        ])?;
        if test.attempts.len() > 1 {
            for attempt in &test.attempts {
                let reason = match attempt.outcome.is_failure() {
                    true => reason_id(attempt.message.as_deref())?,
                    false => None,
                };
                add_attempt.execute(params![
                    id,
                    run,
                    attempt.attempt,
                    outcome_code(attempt.outcome),
                    attempt.duration_ms as i64,
                    reason,
                ])?;
            }
        }
        recorded += 1;
    }
    Ok(recorded)
}

/// Where the store is by default: `$XDG_DATA_HOME/proctor/history.db`, else
/// `~/.local/share/proctor/history.db`.
pub fn default_path() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))?;
    Some(data.join("proctor").join("history.db"))
}

#[cfg(test)]
mod tests;
