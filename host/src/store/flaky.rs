//! Flaky tests, as LUCI defines them: a test that both passed and failed
//! on the same commit and variant, in one run (it passed on a retry) or
//! across runs. Runs whose commit is unknown count as a commit of their own.

use rusqlite::params;

use super::{verdict_code, Result, Store, Verdict};

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
    /// The first and last run it was flaky in, in milliseconds since the epoch.
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
        let mut statement = self
            .connection
            .prepare_cached(
                "WITH ranked AS (
                     SELECT results.test, results.verdict, runs.started_ms,
                            COALESCE(runs.commit_sha, 'run:' || runs.id) AS code, runs.variant,
                            ROW_NUMBER() OVER (PARTITION BY results.test
                                               ORDER BY runs.started_ms DESC, runs.id DESC) AS recency
                     FROM results JOIN runs ON runs.id = results.run
                     WHERE results.verdict IN (?1, ?2, ?3) AND results.outcome != 2
                 ),
                 judged AS (SELECT * FROM ranked WHERE ?4 IS NULL OR recency <= ?4),
                 mixed AS (
                     SELECT test, code, variant FROM judged GROUP BY test, code, variant
                     HAVING SUM(verdict = ?3) > 0 OR (SUM(verdict = ?1) > 0 AND SUM(verdict = ?2) > 0)
                 ),
                 flaky_runs AS (
                     SELECT judged.test, judged.verdict, judged.started_ms FROM judged
                     JOIN mixed USING (test, code, variant)
                     WHERE judged.verdict IN (?2, ?3)
                 )
                 SELECT tests.source, tests.name, tests.qualified_name,
                        (SELECT COUNT(*) FROM judged WHERE judged.test = tests.id),
                        COUNT(*),
                        SUM(flaky_runs.verdict = ?3),
                        (SELECT COUNT(*) FROM judged WHERE judged.test = tests.id AND judged.verdict = ?2),
                        MIN(flaky_runs.started_ms), MAX(flaky_runs.started_ms)
                 FROM flaky_runs JOIN tests ON tests.id = flaky_runs.test
                 GROUP BY flaky_runs.test",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![expected, unexpected, flaky, window], |row| {
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
            })
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
