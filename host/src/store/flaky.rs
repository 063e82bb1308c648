//! Flaky tests, as LUCI defines them: a test that both passed and failed
//! on the same commit and variant, in one run (it passed on a retry) or
//! across runs. Runs whose commit is unknown count as a commit of their own.

use rusqlite::params;

use proctor_plugin_api::messages::Outcome;

use super::{outcome_code, verdict_code, Result, Store, Verdict};

/// A flaky test and how flaky.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlakyTest {
    pub source: String,
    pub test: String,
    /// As Helix's rules name it (`testName`).
    pub qualified_name: String,
    /// Runs it had a verdict in (not blocked, not skipped), in the window.
    pub runs: u64,
    /// Runs where it failed on a commit and variant it also passed on.
    pub flaky_runs: u64,
    /// `flaky_runs / runs`.
    pub flake_rate: f64,
    /// Runs where a retry turned its failure into a pass.
    pub passed_on_retry: u64,
    /// Helix's "retries turned it green": pass-on-retry / (failed + pass-on-retry).
    pub pass_on_retry_rate: f64,
    /// When it was first and last seen on a commit and variant it was flaky
    /// on, in milliseconds since the epoch.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// Every flaky test, the flakiest first, and how many runs passed only
/// because retries turned a failure green.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlakyReport {
    pub tests: Vec<FlakyTest>,
    pub runs_green_by_retries: u64,
}

impl Store {
    /// Over each test's last `window` runs, or all of them.
    pub fn flaky(&self, window: Option<u32>) -> Result<FlakyReport> {
        let (expected, unexpected, flaky) = (
            verdict_code(Verdict::Expected),
            verdict_code(Verdict::Unexpected),
            verdict_code(Verdict::Flaky),
        );
        let skipped = outcome_code(Outcome::Skipped);
        // Each test's last `window` runs: ranking them costs a sort, so
        // only when asked (?4 is bound either way).
        let (recency, kept) = match window {
            Some(_) => (
                ", ROW_NUMBER() OVER (PARTITION BY results.test
                                      ORDER BY runs.started_ms DESC, runs.id DESC) AS recency",
                "recency <= ?4",
            ),
            None => ("", "?4 IS NULL"),
        };
        // Skipped tests say nothing of flakiness.
        let judged = format!(
            "SELECT * FROM (
                 SELECT results.test, results.verdict, runs.started_ms,
                        COALESCE(runs.commit_sha, 'run:' || runs.id) AS code, runs.variant{recency}
                 FROM results JOIN runs ON runs.id = results.run
                 WHERE results.verdict IN (?1, ?2, ?3) AND results.outcome != ?5
             ) WHERE {kept}"
        );
        // Per commit and variant, then per test: a group is mixed when it
        // holds a flaky verdict, or both a pass and a failure.
        let query = format!(
            "WITH judged AS ({judged}),
             groups AS (
                 SELECT test, COUNT(*) AS runs,
                        SUM(verdict = ?1) AS passed, SUM(verdict = ?2) AS failed, SUM(verdict = ?3) AS retried,
                        MIN(started_ms) AS first, MAX(started_ms) AS last
                 FROM judged GROUP BY test, code, variant
             ),
             marked AS (
                 SELECT *, (retried > 0 OR (passed > 0 AND failed > 0)) AS mixed FROM groups
             ),
             per_test AS (
                 SELECT test, SUM(runs) AS runs,
                        SUM(CASE WHEN mixed THEN failed + retried ELSE 0 END) AS flaky_runs,
                        SUM(retried) AS retried, SUM(failed) AS failed,
                        MIN(CASE WHEN mixed THEN first END) AS first,
                        MAX(CASE WHEN mixed THEN last END) AS last
                 FROM marked GROUP BY test HAVING SUM(mixed) > 0
             )
             SELECT tests.source, tests.name, tests.qualified_name, per_test.runs,
                    per_test.flaky_runs, per_test.retried, per_test.failed, per_test.first, per_test.last
             FROM per_test JOIN tests ON tests.id = per_test.test"
        );
        let mut statement = self.connection.prepare(&query).map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(
                params![expected, unexpected, flaky, window, skipped],
                |row| {
                    let count = |i: usize| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
                    let (runs, flaky_runs) = (count(3)?, count(4)?);
                    let (passed_on_retry, failed) = (count(5)?, count(6)?);
                    Ok(FlakyTest {
                        source: row.get(0)?,
                        test: row.get(1)?,
                        qualified_name: row.get(2)?,
                        runs,
                        flaky_runs,
                        flake_rate: ratio(flaky_runs, runs),
                        passed_on_retry,
                        pass_on_retry_rate: ratio(passed_on_retry, failed + passed_on_retry),
                        first_seen_ms: row.get(7)?,
                        last_seen_ms: row.get(8)?,
                    })
                },
            )
            .map_err(|e| self.error(e))?;
        let mut tests: Vec<FlakyTest> = rows
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.error(e))?;
        tests.sort_by(|a, b| {
            b.flake_rate
                .total_cmp(&a.flake_rate)
                .then_with(|| a.test.cmp(&b.test))
        });
        // Green runs where no test failed for good and some passed on a retry.
        let runs_green_by_retries: i64 = self
            .connection
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE outcome = 0
                   AND EXISTS (SELECT 1 FROM results WHERE results.run = runs.id AND results.verdict = ?1)",
                [flaky],
                |row| row.get(0),
            )
            .map_err(|e| self.error(e))?;
        Ok(FlakyReport {
            tests,
            runs_green_by_retries: runs_green_by_retries.max(0) as u64,
        })
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    match whole {
        0 => 0.0,
        _ => part as f64 / whole as f64,
    }
}
