//! The change that broke a test, from its history: its runs per variant,
//! ordered by commit, segmented where its failure rate changed
//! ([`super::changepoint`]). The store knows only the commits that ran, so
//! a culprit is named as a git range, `good..bad`: after the last commit
//! that ran on the passing side, up to the first that failed (and any that
//! ran between, when flakiness leaves it uncertain where).

use std::collections::BTreeMap;

use super::changepoint::{self, Segment, Tally};
use super::{Result, Store, TestVerdict, Verdict};

/// Below this failure rate a segment passes; above `1 -` it, it fails.
const STEADY: f64 = 0.02;

/// What a test's history says of it, in one variant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CulpritReport {
    pub source: String,
    pub test: String,
    pub variant: String,
    pub variant_pairs: serde_json::Value,
    /// Commits it ran at, and attempts there.
    pub commits: usize,
    pub attempts: u64,
    pub status: Status,
    /// The latest change that made it fail more, when its history has one.
    pub culprit: Option<CulpritRange>,
    /// Its failure rate over all its history when nothing changed, else
    /// since the latest change.
    pub failure_rate: f64,
}

/// Where a test's history leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It went from passing (or failing less) to failing at a change.
    Regressed,
    /// It failed at a change, and a later change fixed it.
    Fixed,
    /// No change: it always passed.
    Passing,
    /// No change: it always failed.
    AlwaysFailing,
    /// No change: it failed now and then throughout.
    Flaky,
}

/// A culprit: one of the commits after `good`, up to `bad`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CulpritRange {
    /// The last commit that ran before the change; none when the change is
    /// at the first commit the history has.
    pub good: Option<String>,
    pub bad: String,
    /// The commits that ran in the range: the culprit is one of them, or
    /// one between `good` and the first of them that never ran a test.
    pub candidates: Vec<String>,
    /// How likely it is that the culprit is in the range.
    pub confidence: f64,
    pub before: Side,
    pub after: Side,
    /// When `bad` first ran, in milliseconds since the epoch.
    pub bad_first_run_ms: i64,
}

/// One side of a change: its attempts, each a pass or a failure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    pub attempts: u64,
    pub failure_rate: f64,
}

impl From<&Segment> for Side {
    fn from(segment: &Segment) -> Self {
        Self {
            attempts: u64::from(segment.passes + segment.failures),
            failure_rate: segment.failure_rate(),
        }
    }
}

impl Store {
    /// The test's history in each variant whose pairs include `variant`'s.
    pub fn culprit(
        &mut self,
        source: Option<&str>,
        test: &str,
        variant: &[(String, String)],
    ) -> Result<Vec<CulpritReport>> {
        let history = self.test_history(source, test)?;
        let mut by_variant: BTreeMap<(&str, &str), Vec<&TestVerdict>> = BTreeMap::new();
        for verdict in &history {
            by_variant
                .entry((&verdict.source, &verdict.variant))
                .or_default()
                .push(verdict);
        }
        Ok(by_variant
            .into_values()
            .filter(|runs| has_pairs(&runs[0].variant_pairs, variant))
            .filter_map(|runs| report(test, &runs))
            .collect())
    }

    /// Every test whose history's latest change made it fail, in any
    /// variant, the most recent first. Only tests that failed in the
    /// latest `window` runs are looked at: a change older than that is not
    /// recent.
    pub fn regressions(&mut self, window: u32) -> Result<Vec<CulpritReport>> {
        let unexpected = super::verdict_code(Verdict::Unexpected);
        let flaky = super::verdict_code(Verdict::Flaky);
        let failing = self.database.query(
            &format!(
                "SELECT DISTINCT tests.source, tests.name FROM results
                 JOIN tests ON tests.id = results.test
                 WHERE {} AND results.verdict IN ({unexpected}, {flaky})
                   AND results.run IN (SELECT id FROM runs ORDER BY started_ms DESC, id DESC LIMIT {window})
                 ORDER BY tests.source, tests.name",
                super::schema::FAILING
            ),
            &[],
        );
        let failing = failing.map_err(|e| self.error(e))?;
        let mut found = Vec::new();
        for row in failing {
            let reports = self.culprit(Some(&row.text(0)), &row.text(1), &[])?;
            found.extend(
                reports
                    .into_iter()
                    .filter(|r| r.status == Status::Regressed),
            );
        }
        let since = |r: &CulpritReport| r.culprit.as_ref().map_or(0, |c| c.bad_first_run_ms);
        found.sort_by(|a, b| since(b).cmp(&since(a)).then_with(|| a.test.cmp(&b.test)));
        Ok(found)
    }
}

fn has_pairs(pairs: &str, wanted: &[(String, String)]) -> bool {
    let pairs: BTreeMap<String, String> = serde_json::from_str(pairs).unwrap_or_default();
    (wanted.iter()).all(|(key, value)| pairs.get(key) == Some(value))
}

/// One variant's runs of a test, analysed; none when none ran at a known
/// commit.
fn report(test: &str, runs: &[&TestVerdict]) -> Option<CulpritReport> {
    let commits = by_commit(runs);
    if commits.is_empty() {
        return None;
    }
    let tallies: Vec<Tally> = commits.iter().map(|c| c.tally).collect();
    let found = changepoint::segment(&tallies);
    let latest = found.segments.last().expect("a history has a segment");
    let regression = found.changes.iter().rev().find(|c| c.is_regression());
    let status = match (found.changes.last(), latest.failure_rate()) {
        (Some(change), _) if change.is_regression() => Status::Regressed,
        (Some(_), _) => Status::Fixed,
        (None, rate) if rate <= STEADY => Status::Passing,
        (None, rate) if rate >= 1.0 - STEADY => Status::AlwaysFailing,
        (None, _) => Status::Flaky,
    };
    let sha = |i: usize| commits[i].sha.clone();
    let culprit = regression.map(|change| CulpritRange {
        good: change.first.checked_sub(1).map(sha),
        bad: sha(change.last),
        candidates: (change.first..=change.last).map(sha).collect(),
        confidence: change.confidence,
        before: Side::from(&change.before),
        after: Side::from(&change.after),
        bad_first_run_ms: commits[change.last].first_run_ms,
    });
    Some(CulpritReport {
        source: runs[0].source.clone(),
        test: test.to_owned(),
        variant: runs[0].variant.clone(),
        variant_pairs: serde_json::from_str(&runs[0].variant_pairs)
            .unwrap_or(serde_json::Value::Null),
        commits: commits.len(),
        attempts: tallies
            .iter()
            .map(|t| u64::from(t.passes + t.failures))
            .sum(),
        status,
        culprit,
        failure_rate: latest.failure_rate(),
    })
}

/// A commit's runs of a test.
struct Commit {
    sha: String,
    /// Where it is in commit order, then when it first ran.
    key: (i64, i64),
    first_run_ms: i64,
    tally: Tally,
}

/// Each commit's attempts that passed and failed, in commit order: by
/// position when every run has one, else by commit time, else by when it
/// first ran. Runs of no known commit, and results that say nothing of the
/// test (blocked, skipped), are left out.
fn by_commit(runs: &[&TestVerdict]) -> Vec<Commit> {
    let by_position = runs.iter().all(|r| r.commit_position.is_some());
    let mut commits: BTreeMap<&str, Commit> = BTreeMap::new();
    for run in runs {
        let Some(sha) = run.commit.as_deref() else {
            continue;
        };
        let Some(tally) = super::attempt_tally(run.verdict, run.outcome, run.attempts) else {
            continue;
        };
        let order = match by_position {
            true => run.commit_position.unwrap_or_default(),
            false => run.commit_ms.unwrap_or(run.started_ms),
        };
        let commit = commits.entry(sha).or_insert(Commit {
            sha: sha.to_owned(),
            key: (order, run.started_ms),
            first_run_ms: run.started_ms,
            tally: Tally::default(),
        });
        commit.key = commit.key.min((order, run.started_ms));
        commit.first_run_ms = commit.first_run_ms.min(run.started_ms);
        commit.tally.passes += tally.passes;
        commit.tally.failures += tally.failures;
    }
    let mut ordered: Vec<Commit> = commits.into_values().collect();
    ordered.sort_by_key(|commit| commit.key);
    ordered
}
