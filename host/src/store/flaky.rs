//! Flaky tests, as LUCI defines them: a test that both passed and failed
//! on the same commit and variant, in one run (it passed on a retry) or
//! across runs. Runs whose commit is unknown count as a commit of their own.

use proctor_plugin_api::messages::Outcome;

use super::schema::{FAILING, JUDGED};
use super::{outcome_code, run_outcome_code, verdict_code, Result, Store, Verdict};
use crate::results::RunOutcome;

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
    ///
    /// Flakiness needs a failure, and failures are few: the commits and
    /// variants where a test flaked are found from its failures (through
    /// the index of them). Whether a commit and variant is mixed is judged
    /// over all history; the window bounds the runs counted.
    pub fn flaky(&mut self, window: Option<u32>) -> Result<FlakyReport> {
        let query = flaky_query(window);
        let rows = self
            .database
            .query(&query, &[])
            .map_err(|e| self.error(e))?;
        let mut tests: Vec<FlakyTest> = rows
            .iter()
            .map(|row| {
                let (runs, flaky_runs) = (row.count(3), row.count(4));
                let (passed_on_retry, failed) = (row.count(5), row.count(6));
                FlakyTest {
                    source: row.text(0),
                    test: row.text(1),
                    qualified_name: row.text(2),
                    runs,
                    flaky_runs,
                    flake_rate: ratio(flaky_runs, runs),
                    passed_on_retry,
                    pass_on_retry_rate: ratio(passed_on_retry, failed + passed_on_retry),
                    first_seen_ms: row.int(7),
                    last_seen_ms: row.int(8),
                }
            })
            .collect();
        tests.sort_by(|a, b| {
            b.flake_rate
                .total_cmp(&a.flake_rate)
                .then_with(|| a.test.cmp(&b.test))
        });
        // Green runs where no test failed for good and some passed on a retry.
        let green_by_retries = self.database.query_row(
            &green_by_retries_query(),
            &[run_outcome_code(RunOutcome::Passed).into()],
        );
        let green_by_retries = green_by_retries.map_err(|e| self.error(e))?;
        Ok(FlakyReport {
            tests,
            runs_green_by_retries: green_by_retries.map_or(0, |row| row.count(0)),
        })
    }
}

/// The query of [`Store::flaky`]: a row per flaky test.
///
/// Nothing here reads a test's every run. Mixed groups and their failures
/// come from the index of failures; the runs a test had a verdict in are
/// counted as runs are recorded (`judged_runs`); with a window, each flaky
/// test's oldest run in it is found by walking back from its newest, a
/// lookup per run of the window.
pub(super) fn flaky_query(window: Option<u32>) -> String {
    let [expected, unexpected, flaky] =
        [Verdict::Expected, Verdict::Unexpected, Verdict::Flaky].map(verdict_code);
    let skipped = outcome_code(Outcome::Skipped);
    let (bounds, kept, runs) = match window {
        Some(n) => {
            let nth = |column: &str| {
                format!(
                    "(SELECT runs.{column} FROM runs CROSS JOIN results
                      WHERE results.run = runs.id AND results.test = flaky_tests.test AND {JUDGED}
                      ORDER BY runs.started_ms DESC, runs.id DESC
                      LIMIT 1 OFFSET {offset})",
                    offset = n.max(1) - 1
                )
            };
            (
                format!(
                    "bounds AS MATERIALIZED (
                         SELECT test, {since_ms} AS since_ms, {since_run} AS since_run
                         FROM (SELECT DISTINCT test FROM mixed) AS flaky_tests
                     ),",
                    since_ms = nth("started_ms"),
                    since_run = nth("id"),
                ),
                "JOIN bounds ON bounds.test = failures.test
                 WHERE bounds.since_ms IS NULL OR failures.started_ms > bounds.since_ms
                    OR (failures.started_ms = bounds.since_ms AND failures.run >= bounds.since_run)"
                    .to_owned(),
                format!("CASE WHEN judged_runs.runs < {n} THEN judged_runs.runs ELSE {n} END"),
            )
        }
        None => (String::new(), String::new(), "judged_runs.runs".to_owned()),
    };
    // Groups are a test on a commit and variant; a run of an unknown
    // commit is a commit of its own. A group is mixed when a retry
    // passed in it, or it both failed and passed (skips say nothing).
    format!(
        "WITH retried AS (
             SELECT results.test, runs.variant, COALESCE(runs.commit_sha, 'run:' || runs.id) AS code
             FROM results JOIN runs ON runs.id = results.run
             WHERE {FAILING} AND results.verdict = {flaky}
         ),
         failed AS (
             SELECT DISTINCT results.test, runs.variant, runs.commit_sha
             FROM results JOIN runs ON runs.id = results.run
             WHERE {FAILING} AND results.verdict = {unexpected} AND runs.commit_sha IS NOT NULL
         ),
         mixed AS (
             SELECT test, variant, code FROM retried
             UNION
             SELECT test, variant, commit_sha FROM failed
             WHERE EXISTS (
                 SELECT 1 FROM runs JOIN results ON results.run = runs.id
                 WHERE runs.commit_sha = failed.commit_sha AND runs.variant = failed.variant
                   AND results.test = failed.test
                   AND results.verdict = {expected} AND results.outcome <> {skipped})
         ),
         failures AS (
             SELECT results.test, results.verdict, runs.id AS run, runs.started_ms, runs.variant,
                    COALESCE(runs.commit_sha, 'run:' || runs.id) AS code
             FROM results JOIN runs ON runs.id = results.run
             WHERE {FAILING} AND results.verdict IN ({unexpected}, {flaky})
         ),
         {bounds}
         kept AS (SELECT failures.* FROM failures {kept}),
         -- Each failure beside its group's mark when the group is mixed:
         -- grouping them tells which failures are flaky without a join.
         marked AS (
             SELECT test, variant, code, verdict, started_ms, 0 AS mixed FROM kept
             UNION ALL
             SELECT test, variant, code, NULL, NULL, 1 FROM mixed
         ),
         per_group AS (
             SELECT test, MAX(mixed) AS mixed, COUNT(verdict) AS failures,
                    COUNT(*) FILTER (WHERE verdict = {flaky}) AS retried,
                    COUNT(*) FILTER (WHERE verdict = {unexpected}) AS failed,
                    MIN(started_ms) AS first, MAX(started_ms) AS last
             FROM marked GROUP BY test, variant, code
         ),
         per_test AS (
             SELECT test,
                    CAST(SUM(CASE WHEN mixed = 1 THEN failures ELSE 0 END) AS BIGINT) AS flaky_runs,
                    CAST(SUM(retried) AS BIGINT) AS retried,
                    CAST(SUM(failed) AS BIGINT) AS failed,
                    MIN(CASE WHEN mixed = 1 THEN first END) AS first,
                    MAX(CASE WHEN mixed = 1 THEN last END) AS last
             FROM per_group GROUP BY test
         )
         SELECT tests.source, tests.name, tests.qualified_name, {runs},
                per_test.flaky_runs, per_test.retried, per_test.failed, per_test.first, per_test.last
         FROM per_test
         JOIN tests ON tests.id = per_test.test
         JOIN judged_runs ON judged_runs.test = per_test.test
         WHERE per_test.flaky_runs > 0"
    )
}

/// How many passed runs had a test pass on a retry (`?1`: a passed run's
/// outcome).
pub(super) fn green_by_retries_query() -> String {
    let flaky = verdict_code(Verdict::Flaky);
    format!(
        "SELECT COUNT(DISTINCT results.run) FROM results JOIN runs ON runs.id = results.run
         WHERE {FAILING} AND results.verdict = {flaky} AND runs.outcome = ?1"
    )
}

fn ratio(part: u64, whole: u64) -> f64 {
    match whole {
        0 => 0.0,
        _ => part as f64 / whole as f64,
    }
}
