//! The results store: every run recorded at its end, for the history of
//! each test across runs, commits and variants (LUCI's ResultDB is the
//! model). SQLite is the embedded default, PostgreSQL the server many
//! machines report to ([`database`]): one schema and the same statements
//! on both. A run is recorded once, by its id, so importing a results
//! directory twice records nothing new.
//!
//! Statuses and times are integers ([`outcome_code`], [`verdict_code`]),
//! test names and failure reasons are interned: a result is a row of
//! integers ([`schema`]).

pub mod changepoint;
mod culprit;
mod database;
mod failures;
mod flaky;
pub mod reason;
mod record;
mod schema;

pub use culprit::{CulpritRange, CulpritReport, Side, Status};
pub use failures::{ClusterKind, FailureCluster};
pub use flaky::{FlakyReport, FlakyTest};

use std::path::{Path, PathBuf};

use proctor_plugin_api::messages::Outcome;

pub use crate::config::StoreLocation as Location;
use crate::results::{RunContext, RunOutcome, RunSummary, TestRecord};
use database::{Database, Value};

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

pub(crate) fn run_outcome_code(outcome: RunOutcome) -> i64 {
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

/// A run's attempts of a test as passes and failures, from its verdict,
/// last outcome and the attempts it made (a retry is evidence too); none
/// for a result that says nothing of the test (skipped, blocked, not run).
pub fn attempt_tally(
    verdict: Verdict,
    outcome: Outcome,
    attempts: u32,
) -> Option<changepoint::Tally> {
    let tried = attempts.max(1);
    let (passes, failures) = match verdict {
        Verdict::Expected if outcome == Outcome::Skipped => return None,
        Verdict::Expected => (1, 0),
        Verdict::Flaky => (1, tried - 1),
        Verdict::Unexpected | Verdict::Exonerated => (0, tried),
        Verdict::NotRun => return None,
    };
    Some(changepoint::Tally { passes, failures })
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
    pub source: String,
    pub run_id: String,
    pub started_ms: i64,
    pub commit: Option<String>,
    pub commit_ms: Option<i64>,
    pub commit_position: Option<i64>,
    pub branch: Option<String>,
    pub variant: String,
    /// The variant's pairs, as a JSON object.
    pub variant_pairs: String,
    pub verdict: Verdict,
    pub outcome: Outcome,
    pub attempts: u32,
    pub duration_ms: u64,
    pub reason: Option<String>,
}

/// A results store, open.
pub struct Store {
    database: Database,
    location: String,
}

impl Store {
    /// Opens the store at `location`, making it (and a file's directory) if
    /// there is none, and brings its schema up to date.
    pub fn open(location: impl Into<Location>) -> Result<Self> {
        let location = location.into();
        let named = location.to_string();
        let failed = |problem: String| StoreError::new(&named, problem);
        let database = match &location {
            Location::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| failed(format!("cannot make {}: {e}", dir.display())))?;
                }
                Database::sqlite(path)
            }
            Location::Server(url) => Database::postgres(url),
        }
        .map_err(|e| failed(e.to_string()))?;
        let mut store = Self {
            database,
            location: named,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the store a run is to be recorded in as it ends, as the run
    /// starts, and writes what earlier runs left in SQLite's log into the
    /// database file: the waits on the disk fall while tests run, and the
    /// run's own commit, which stays in the log ([`Database::defer_checkpoints`]),
    /// has none. Each run's open thus empties the log of the runs before,
    /// and the log holds about one run.
    pub fn open_for_run(location: impl Into<Location>) -> Result<Self> {
        let mut store = Self::open(location)?;
        let deferred = store.database.defer_checkpoints();
        deferred
            .and_then(|()| store.database.checkpoint())
            .map_err(|e| store.error(format!("cannot write its log into the database: {e}")))?;
        Ok(store)
    }

    fn error(&self, problem: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.location, problem)
    }

    /// The migrations past the store's version, in one transaction.
    fn migrate(&mut self) -> Result<()> {
        let known = schema::MIGRATIONS.len() as i64;
        let dialect = self.database.dialect();
        let mut found = 0;
        let migrated = self.database.transaction(|db| {
            found = db.version()?;
            if found < known {
                for migration in &schema::MIGRATIONS[found as usize..] {
                    db.batch(&schema::in_dialect(migration, dialect))?;
                }
                db.set_version(known)?;
            }
            Ok(())
        });
        if found > known {
            return Err(self.error(format!(
                "its schema is version {found}, newer than this proctor's {known}: \
                 use a newer proctor, or another store"
            )));
        }
        migrated.map_err(|e| {
            self.error(format!(
                "cannot bring its schema from version {found} to {known}: {e}"
            ))
        })
    }

    /// The store's schema version.
    pub fn version(&mut self) -> Result<i64> {
        let location = self.location.clone();
        (self.database)
            .transaction(Database::version)
            .map_err(|e| StoreError::new(&location, e))
    }

    /// Records a run from its summary, with what it tested as the summary
    /// says (nothing, for a summary from before it said), and the
    /// signatures of its dumps from their descriptions in `results_dir`; a
    /// run already there (by its id) is left as it is.
    pub fn record(&mut self, summary: &RunSummary, results_dir: &Path) -> Result<Recorded> {
        let unknown = RunContext::default();
        let context = summary.run.context.as_ref().unwrap_or(&unknown);
        if summary.run.run_id.is_empty() {
            return Err(
                self.error("the run has no id (a summary from before proctor recorded one)")
            );
        }
        let dumps = record::dump_signatures(summary, results_dir);
        let recorded = self.database.transaction(|db| {
            let known = db.query_row(
                "SELECT id FROM runs WHERE run_id = ?1",
                &[(&summary.run.run_id).into()],
            )?;
            match known {
                Some(_) => Ok(Recorded::AlreadyThere),
                None => record::insert_run(db, summary, context, dumps)
                    .map(|results| Recorded::New { results }),
            }
        });
        recorded.map_err(|e| self.error(format!("cannot record run {}: {e}", summary.run.run_id)))
    }

    /// Every run's verdict of the tests named `test` (in `source`, when
    /// given), oldest first.
    pub fn test_history(&mut self, source: Option<&str>, test: &str) -> Result<Vec<TestVerdict>> {
        let rows = self
            .database
            .query(TEST_HISTORY, &[test.into(), source.into()]);
        let rows = rows.map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .map(|row| TestVerdict {
                run_id: row.text(0),
                started_ms: row.int(1),
                commit: row.opt_text(2),
                branch: row.opt_text(3),
                variant: row.text(4),
                verdict: verdict_of_code(row.int(5)),
                outcome: outcome_of_code(row.int(6)),
                attempts: row.count(7) as u32,
                duration_ms: row.count(8),
                reason: row.opt_text(9),
                source: row.text(10),
                commit_ms: row.opt_int(11),
                commit_position: row.opt_int(12),
                variant_pairs: row.text(13),
            })
            .collect())
    }

    /// Removes the runs that started before `before_ms` (milliseconds since
    /// the epoch), with their results; answers how many runs went.
    pub fn prune(&mut self, before_ms: i64) -> Result<usize> {
        let pruned = self.database.transaction(|db| {
            let old = "SELECT id FROM runs WHERE started_ms < ?1";
            let before = [Value::Int(before_ms)];
            db.execute(&format!("DELETE FROM attempts WHERE run IN ({old})"), &before)?;
            db.execute(&format!("DELETE FROM dumps WHERE run IN ({old})"), &before)?;
            db.execute(&format!("DELETE FROM results WHERE run IN ({old})"), &before)?;
            let runs = db.execute("DELETE FROM runs WHERE started_ms < ?1", &before)?;
            // Names and reasons no result holds any more.
            db.batch(
                "DELETE FROM tests WHERE id NOT IN (SELECT test FROM results);
                 DELETE FROM reasons WHERE id NOT IN (SELECT reason FROM results WHERE reason IS NOT NULL
                                                      UNION SELECT reason FROM attempts WHERE reason IS NOT NULL);
                 DELETE FROM signatures WHERE id NOT IN (SELECT signature FROM dumps);
                 DELETE FROM judged_runs;
                 DELETE FROM variants WHERE id NOT IN (SELECT variant FROM runs);",
            )?;
            db.batch(&format!(
                "INSERT INTO judged_runs (test, runs)
                 SELECT test, COUNT(*) FROM results WHERE {} GROUP BY test",
                schema::JUDGED
            ))?;
            Ok(runs as usize)
        });
        pruned.map_err(|e| self.error(format!("cannot prune: {e}")))
    }
}

/// Every run's verdict of the tests named `?1` (in source `?2`, when not
/// null). Results are kept by run: the test's are a lookup in each, an
/// order SQLite keeps for a CROSS JOIN.
const TEST_HISTORY: &str =
    "SELECT runs.run_id, runs.started_ms, runs.commit_sha, runs.branch, variants.hash,
            results.verdict, results.outcome, results.attempts, results.duration_ms,
            reasons.reason, tests.source, runs.commit_ms, runs.commit_position, variants.pairs
     FROM tests CROSS JOIN runs CROSS JOIN results
     LEFT JOIN variants ON variants.id = runs.variant
     LEFT JOIN reasons ON reasons.id = results.reason
     WHERE results.run = runs.id AND results.test = tests.id
       AND tests.name = ?1 AND (CAST(?2 AS TEXT) IS NULL OR tests.source = ?2)
     ORDER BY runs.started_ms, runs.id";

/// Where the store is by default: `$XDG_DATA_HOME/proctor/history.db`, else
/// `~/.local/share/proctor/history.db`.
pub fn default_path() -> Option<PathBuf> {
    let data = crate::user_dirs::user_dir("XDG_DATA_HOME", ".local/share")?;
    Some(data.join("proctor").join("history.db"))
}

#[cfg(test)]
mod tests;
