//! Failures clustered by their normalised reason ([`super::reason`]):
//! how often each failed, which tests, since when, and which clusters the
//! latest run saw first.

use std::collections::HashMap;

use super::schema::FAILING;
use super::{Result, Store, StoreError};

/// How many of a cluster's tests are named.
const TESTS_NAMED: usize = 10;

/// Failures that read the same.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureCluster {
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
    /// Every cluster, the most frequent first.
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
        // Failures are read through the index of them alone.
        let clusters = db
            .query(
                &format!(
                    "SELECT results.reason, reasons.reason, COUNT(*), COUNT(DISTINCT results.test),
                            MIN(runs.started_ms), MAX(runs.started_ms),
                            COUNT(*) FILTER (WHERE results.run <> ?1)
                     FROM results
                     JOIN runs ON runs.id = results.run
                     JOIN reasons ON reasons.id = results.reason
                     WHERE {FAILING}
                     GROUP BY results.reason, reasons.reason
                     ORDER BY COUNT(*) DESC, MIN(runs.started_ms)"
                ),
                &[latest.unwrap_or(-1).into()],
            )
            .map_err(failed)?;
        // The first few tests of each, in one pass over the failures.
        let mut named: HashMap<i64, Vec<String>> = HashMap::new();
        let tests = db
            .query(
                &format!(
                    "SELECT DISTINCT results.reason, tests.source, tests.name FROM results
                     JOIN tests ON tests.id = results.test
                     WHERE {FAILING} AND results.reason IS NOT NULL
                     ORDER BY results.reason, tests.source, tests.name"
                ),
                &[],
            )
            .map_err(failed)?;
        for row in tests {
            let names = named.entry(row.int(0)).or_default();
            if names.len() < TESTS_NAMED {
                names.push(format!("{} {}", row.text(1), row.text(2)));
            }
        }
        Ok(clusters
            .iter()
            .map(|row| FailureCluster {
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
}
