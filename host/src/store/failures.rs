//! Failures clustered by their normalised reason ([`super::reason`]):
//! how often each failed, which tests, since when, and which clusters the
//! latest run saw first.

use rusqlite::params;

use super::{verdict_code, Result, Store, Verdict};

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
    pub fn failures(&self) -> Result<Vec<FailureCluster>> {
        let failing = [Verdict::Unexpected, Verdict::Flaky, Verdict::Exonerated].map(verdict_code);
        let latest: Option<i64> = self
            .connection
            .query_row(
                "SELECT id FROM runs ORDER BY started_ms DESC, id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .ok();
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT results.reason, reasons.reason, COUNT(*), COUNT(DISTINCT results.test),
                        MIN(runs.started_ms), MAX(runs.started_ms),
                        SUM(results.run != ?4)
                 FROM results
                 JOIN runs ON runs.id = results.run
                 JOIN reasons ON reasons.id = results.reason
                 WHERE results.verdict IN (?1, ?2, ?3)
                 GROUP BY results.reason
                 ORDER BY COUNT(*) DESC, MIN(runs.started_ms)",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(
                params![failing[0], failing[1], failing[2], latest.unwrap_or(-1)],
                |row| {
                    let count = |i: usize| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
                    let id: i64 = row.get(0)?;
                    Ok((
                        id,
                        FailureCluster {
                            reason: row.get(1)?,
                            failures: count(2)?,
                            test_count: count(3)?,
                            tests: Vec::new(),
                            first_seen_ms: row.get(4)?,
                            last_seen_ms: row.get(5)?,
                            // Every failure of it is the latest run's.
                            new: latest.is_some() && count(6)? == 0,
                        },
                    ))
                },
            )
            .map_err(|e| self.error(e))?;
        let clusters: Vec<(i64, FailureCluster)> = rows
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.error(e))?;
        let mut named = self
            .connection
            .prepare_cached(
                "SELECT DISTINCT tests.source, tests.name FROM results
                 JOIN tests ON tests.id = results.test
                 WHERE results.reason = ?1 AND results.verdict IN (?2, ?3, ?4)
                 ORDER BY tests.source, tests.name LIMIT ?5",
            )
            .map_err(|e| self.error(e))?;
        let mut answered = Vec::with_capacity(clusters.len());
        for (id, mut cluster) in clusters {
            let tests = named
                .query_map(
                    params![id, failing[0], failing[1], failing[2], TESTS_NAMED as i64],
                    |row| {
                        Ok(format!(
                            "{} {}",
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?
                        ))
                    },
                )
                .map_err(|e| self.error(e))?;
            cluster.tests = tests
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.error(e))?;
            answered.push(cluster);
        }
        Ok(answered)
    }
}
