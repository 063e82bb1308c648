//! The store's schema, as versioned migrations applied on open. A store
//! records its version (`PRAGMA user_version` in SQLite); opening applies
//! the migrations past it, in one transaction, and refuses a store newer
//! than this host knows. A migration is never edited once released: a
//! change is a new one.
//!
//! The hot table, `results`, holds one row of integers per test per run
//! (its verdict, last outcome, attempts, duration, reason): test names,
//! runs' descriptions and failure reasons are interned in tables of their
//! own, and every attempt of a test that had more than one is in
//! `attempts`.

/// Each migration, in order: the store's version is how many were applied.
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
];
