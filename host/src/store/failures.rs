//! Failures clustered by their normalised reason ([`super::reason`]), and
//! by the signature of the dumps taken of them: how often each failed,
//! which tests, since when, and which clusters the latest run saw first.

use std::collections::HashMap;

use super::database::Database;
use super::schema::FAILING;
use super::{Result, Store, StoreError};

/// How many of a cluster's tests are named.
const TESTS_NAMED: usize = 10;

/// What a cluster's failures share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterKind {
    /// Their normalised failure reason.
    Reason,
    /// The signature of a dump taken of them (a crash's or a hang's top
    /// frame).
    DumpSignature,
}

impl ClusterKind {
    const ALL: [ClusterKind; 2] = [ClusterKind::Reason, ClusterKind::DumpSignature];

    /// The table of its failures and their key's column, the table of keys
    /// and its text's column, and which rows of the first are failures.
    fn tables(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            ClusterKind::Reason => ("results", "reason", "reasons", FAILING),
            // A dump is recorded only of a test that failed.
            ClusterKind::DumpSignature => ("dumps", "signature", "signatures", "TRUE"),
        }
    }
}

/// Failures that read the same.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureCluster {
    pub kind: ClusterKind,
    /// The reason, or the dump signature.
    pub reason: String,
    /// Results that failed for it (a test's run counts once).
    pub failures: u64,
    /// Distinct tests, and the first few of them as `source test`.
    pub test_count: u64,
    pub tests: Vec<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// First seen in the latest run.
    pub new: bool,
}

impl Store {
    /// Every cluster of either kind, the most frequent first.
    pub fn failures(&mut self) -> Result<Vec<FailureCluster>> {
        let location = self.location.clone();
        let failed = |e| StoreError::new(&location, e);
        let db = &mut self.database;
        let latest = db
            .query_row(
                "SELECT id FROM runs ORDER BY started_ms DESC, id DESC LIMIT 1",
                &[],
            )
            .map_err(failed)?
            .map(|row| row.int(0));
        let mut clusters = Vec::new();
        for kind in ClusterKind::ALL {
            clusters.extend(clusters_of(db, kind, latest).map_err(failed)?);
        }
        clusters.sort_by(|a, b| {
            (b.failures.cmp(&a.failures)).then(a.first_seen_ms.cmp(&b.first_seen_ms))
        });
        Ok(clusters)
    }
}

fn clusters_of(
    db: &mut Database,
    kind: ClusterKind,
    latest: Option<i64>,
) -> super::database::DbResult<Vec<FailureCluster>> {
    let clusters = db.query(&clusters_query(kind), &[latest.unwrap_or(-1).into()])?;
    // The first few tests of each, in one pass over the failures.
    let mut named: HashMap<i64, Vec<String>> = HashMap::new();
    for row in db.query(&named_tests_query(kind), &[])? {
        let names = named.entry(row.int(0)).or_default();
        if names.len() < TESTS_NAMED {
            names.push(format!("{} {}", row.text(1), row.text(2)));
        }
    }
    Ok(clusters
        .iter()
        .map(|row| FailureCluster {
            kind,
            reason: row.text(1),
            failures: row.count(2),
            test_count: row.count(3),
            tests: named.remove(&row.int(0)).unwrap_or_default(),
            first_seen_ms: row.int(4),
            last_seen_ms: row.int(5),
            // Every failure of it is the latest run's.
            new: latest.is_some() && row.count(6) == 0,
        })
        .collect())
}

/// A row per cluster of `kind` (`?1`: the latest run, whose own clusters
/// are new). Failures are read through their index alone.
pub(super) fn clusters_query(kind: ClusterKind) -> String {
    let (failures, key, keys, failing) = kind.tables();
    format!(
        "SELECT {failures}.{key}, {keys}.{key}, COUNT(*), COUNT(DISTINCT {failures}.test),
                MIN(runs.started_ms), MAX(runs.started_ms),
                COUNT(*) FILTER (WHERE {failures}.run <> ?1)
         FROM {failures}
         JOIN runs ON runs.id = {failures}.run
         JOIN {keys} ON {keys}.id = {failures}.{key}
         WHERE {failing}
         GROUP BY {failures}.{key}, {keys}.{key}
         ORDER BY COUNT(*) DESC, MIN(runs.started_ms)"
    )
}

/// Each cluster's tests, in order.
pub(super) fn named_tests_query(kind: ClusterKind) -> String {
    let (failures, key, _, failing) = kind.tables();
    format!(
        "SELECT DISTINCT {failures}.{key}, tests.source, tests.name FROM {failures}
         JOIN tests ON tests.id = {failures}.test
         WHERE {failing} AND {failures}.{key} IS NOT NULL
         ORDER BY {failures}.{key}, tests.source, tests.name"
    )
}
