//! The store's schema, as versioned migrations applied on open. A store
//! records its version (`PRAGMA user_version` in SQLite, the table
//! `proctor_schema` in PostgreSQL); opening applies the migrations past it,
//! in one transaction, and refuses a store newer than this host knows. A
//! migration is never edited once released: a change is a new one. Each is
//! written once, in SQLite's words, and [`in_dialect`] says it in
//! PostgreSQL's: the two differ only in their integer types.
//!
//! The hot table, `results`, holds one row of integers per test per run
//! (its verdict, last outcome, attempts, duration, reason): test names,
//! runs' descriptions and failure reasons are interned in tables of their
//! own, and every attempt of a test that had more than one is in
//! `attempts`.

use std::borrow::Cow;

use super::database::Dialect;

/// Each migration, in order: the store's version is how many were applied.
/// Written for SQLite, read by PostgreSQL through [`in_dialect`].
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, variants, tests, reasons, results, attempts.
    "CREATE TABLE variants (
         id INTEGER PRIMARY KEY,
         hash TEXT NOT NULL UNIQUE,
         pairs TEXT NOT NULL
     );
     CREATE TABLE runs (
         id INTEGER PRIMARY KEY,
         run_id TEXT NOT NULL UNIQUE,
         started_ms INTEGER NOT NULL,
         duration_ms INTEGER NOT NULL,
         outcome INTEGER NOT NULL,
         exit_code INTEGER NOT NULL,
         proctor_version TEXT NOT NULL,
         machine TEXT,
         os TEXT,
         arch TEXT,
         work_item TEXT,
         job TEXT,
         queue TEXT,
         repository TEXT,
         branch TEXT,
         commit_sha TEXT,
         commit_ms INTEGER,
         commit_position INTEGER,
         variant INTEGER NOT NULL REFERENCES variants(id)
     );
     CREATE INDEX runs_by_start ON runs(started_ms);
     CREATE TABLE tests (
         id INTEGER PRIMARY KEY,
         source TEXT NOT NULL,
         name TEXT NOT NULL,
         qualified_name TEXT NOT NULL,
         UNIQUE (source, name)
     );
     CREATE TABLE reasons (
         id INTEGER PRIMARY KEY,
         reason TEXT NOT NULL UNIQUE
     );
     CREATE TABLE results (
         test INTEGER NOT NULL,
         run INTEGER NOT NULL,
         verdict INTEGER NOT NULL,
         outcome INTEGER NOT NULL,
         attempts INTEGER NOT NULL,
         duration_ms INTEGER NOT NULL,
         reason INTEGER,
         PRIMARY KEY (test, run)
     ) WITHOUT ROWID;
     CREATE INDEX results_by_run ON results(run);
     CREATE TABLE attempts (
         test INTEGER NOT NULL,
         run INTEGER NOT NULL,
         attempt INTEGER NOT NULL,
         outcome INTEGER NOT NULL,
         duration_ms INTEGER NOT NULL,
         reason INTEGER,
         PRIMARY KEY (test, run, attempt)
     ) WITHOUT ROWID;",
    // 2: results kept in the order runs record them, so that a run's rows
    // go at the end of the table instead of one place per test (at ten
    // thousand tests, ten thousand pages rewritten a run); a test's
    // history is a lookup per run. Failures are few among results: an
    // index of them alone (verdicts unexpected, flaky, exonerated, as
    // `super::VERDICT_CODES` fixes them) is small, and the analyses start
    // from it; the runs of a commit and variant are found by theirs, a
    // test by its name alone (`history test ID`) by its own. The
    // signatures of the dumps taken of failed tests, interned. How many
    // runs each test had a verdict in ([`JUDGED`]), counted as runs are
    // recorded, so that a flake rate needs no walk through a test's runs.
    "CREATE TABLE results_in_run_order (
         run INTEGER NOT NULL,
         test INTEGER NOT NULL,
         verdict INTEGER NOT NULL,
         outcome INTEGER NOT NULL,
         attempts INTEGER NOT NULL,
         duration_ms INTEGER NOT NULL,
         reason INTEGER,
         PRIMARY KEY (run, test)
     ) WITHOUT ROWID;
     INSERT INTO results_in_run_order (run, test, verdict, outcome, attempts, duration_ms, reason)
         SELECT run, test, verdict, outcome, attempts, duration_ms, reason FROM results ORDER BY run, test;
     DROP TABLE results;
     ALTER TABLE results_in_run_order RENAME TO results;
     CREATE INDEX results_failing ON results(verdict, test, run, reason) WHERE verdict IN (1, 2, 3);
     CREATE INDEX runs_by_commit ON runs(commit_sha, variant);
     CREATE INDEX tests_by_name ON tests(name);
     CREATE TABLE signatures (
         id INTEGER PRIMARY KEY,
         signature TEXT NOT NULL UNIQUE
     );
     CREATE TABLE dumps (
         run INTEGER NOT NULL,
         test INTEGER NOT NULL,
         signature INTEGER NOT NULL,
         PRIMARY KEY (run, test, signature)
     ) WITHOUT ROWID;
     CREATE TABLE judged_runs (
         test INTEGER NOT NULL,
         runs INTEGER NOT NULL,
         PRIMARY KEY (test)
     );
     INSERT INTO judged_runs (test, runs)
         SELECT test, COUNT(*) FROM results WHERE verdict IN (0, 1, 2) AND outcome <> 2 GROUP BY test;",
];

/// A result that says whether its test passes: its verdict is expected,
/// unexpected or flaky, and it did not skip. Recording counts them by it
/// (`judged_runs`), pruning recounts, the analyses read.
pub const JUDGED: &str = "results.verdict IN (0, 1, 2) AND results.outcome <> 2";

/// The condition of `results_failing`, word for word: SQLite reads a
/// partial index only for a query that states its condition so.
pub const FAILING: &str = "results.verdict IN (1, 2, 3)";

/// A migration in `dialect`'s words. SQLite's `INTEGER` is any integer and
/// its `INTEGER PRIMARY KEY` numbers rows; PostgreSQL's `INTEGER` is 32
/// bits, so it gets `BIGINT` and an identity column, and has no rowid to
/// do without.
pub fn in_dialect(migration: &'static str, dialect: Dialect) -> Cow<'static, str> {
    match dialect {
        Dialect::Sqlite => Cow::Borrowed(migration),
        Dialect::Postgres => Cow::Owned(
            migration
                .replace(
                    "INTEGER PRIMARY KEY",
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                )
                .replace("INTEGER", "BIGINT")
                .replace(") WITHOUT ROWID", ")"),
        ),
    }
}
