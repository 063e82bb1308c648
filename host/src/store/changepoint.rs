//! Where a test's history changed: a Bayesian segmentation of its results
//! ordered by commit, splitting only between commits (LUCI Analysis's
//! changepoints are the model).
//!
//! Each commit holds the runs made at it, each a pass or a failure (a run
//! that failed any attempt: a flake is a failure here, so that a test that
//! turned flaky at a commit is found too). A segment's runs are taken to
//! fail at one rate, unknown, with a prior heavy at both ends
//! ([`RATE_PRIOR`]); its evidence is the chance of its `f` failures and `s`
//! passes under that prior. A split between
//! two commits is weighed against none by that evidence on each side, with
//! a prior of [`CHANGE_PRIOR`] that the segment changed at all, spread
//! evenly over where. The segment is split where the posterior is highest
//! when the posterior of a change passes [`SPLIT_AT`], and each side is
//! segmented again.
//!
//! A change lies between the last commit before a split and the first
//! after; flakiness makes where uncertain, so a change is reported as the
//! shortest run of split points around the likeliest holding
//! [`CONFIDENCE`] of the posterior: the culprit is among the commits after
//! the first of them up to the last.

/// A test's failure rate is, a priori, `Beta(RATE_PRIOR, RATE_PRIOR)`:
/// most tests nearly always pass or nearly always fail, so a prior heavy
/// at both ends. One result against the rest of a long segment then says
/// much, and a flaky rate in between needs many results to be believed.
const RATE_PRIOR: f64 = 0.1;
/// The prior probability that a segment holds a change.
const CHANGE_PRIOR: f64 = 0.05;
/// The posterior probability of a change above which a segment is split.
const SPLIT_AT: f64 = 0.95;
/// The posterior mass a reported range holds.
pub const CONFIDENCE: f64 = 0.95;

/// The runs at one commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passes: u32,
    pub failures: u32,
}

impl Tally {
    fn runs(self) -> u32 {
        self.passes + self.failures
    }
}

/// A stretch of history that failed at one rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its commits, as indices into the history: `start..end`.
    pub start: usize,
    pub end: usize,
    pub passes: u32,
    pub failures: u32,
}

impl Segment {
    /// Its failure rate, as observed.
    pub fn failure_rate(&self) -> f64 {
        match self.passes + self.failures {
            0 => 0.0,
            runs => f64::from(self.failures) / f64::from(runs),
        }
    }
}

/// A change between two segments: the culprit is one of the commits
/// `first..=last` (indices into the history), with this much confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub first: usize,
    pub last: usize,
    pub confidence: f64,
    pub before: Segment,
    pub after: Segment,
}

impl Change {
    /// Whether it made the test fail more, not less.
    pub fn is_regression(&self) -> bool {
        self.after.failure_rate() > self.before.failure_rate()
    }
}

/// The history's segments, oldest first, and the changes between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub segments: Vec<Segment>,
    pub changes: Vec<Change>,
}

/// Segments `history`, one tally per commit, oldest first.
pub fn segment(history: &[Tally]) -> Segmentation {
    let sums = PrefixSums::of(history);
    let mut splits = Vec::new();
    split(&sums, 0, history.len(), &mut splits);
    splits.sort_by_key(|s: &Split| s.at);
    let mut bounds: Vec<usize> = vec![0];
    bounds.extend(splits.iter().map(|s| s.at));
    bounds.push(history.len());
    let segments: Vec<Segment> = (bounds.windows(2))
        .map(|w| sums.segment(w[0], w[1]))
        .collect();
    let changes = (splits.iter().zip(segments.windows(2)))
        .map(|(split, pair)| Change {
            first: split.first,
            last: split.last,
            confidence: split.confidence,
            before: pair[0].clone(),
            after: pair[1].clone(),
        })
        .collect();
    Segmentation { segments, changes }
}

/// Where a history broke, if it broke once: the probability that it broke
/// at all, and, if it did, that it broke at each commit `1..len` (commits
/// without runs included: bisecting, they are the ones still to test).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeAt {
    pub change: f64,
    /// `before[k - 1]`: that commit `k` is the first of the new rate.
    pub before: Vec<f64>,
}

/// The posterior of one break in `history`, a priori as likely as not,
/// anywhere alike: a commit from which the test fails (nearly) always,
/// where before it failed at a rate of its own, flaky or not. A test flaky
/// throughout fits no break: its failures are not all after one commit.
pub fn break_at(history: &[Tally]) -> ChangeAt {
    let sums = PrefixSums::of(history);
    let len = history.len();
    // Before: any rate alike. After: near one (a pass after the break is
    // as unlikely as 1 in a hundred times the failures seen).
    let before = |from: usize, to: usize| sums.segment(from, to).log_evidence_under(1.0, 1.0);
    let after = |from: usize, to: usize| sums.segment(from, to).log_evidence_under(1.0, 0.01);
    let each = (0.5 / len.saturating_sub(1).max(1) as f64).ln();
    let weights: Vec<f64> = (1..len)
        .map(|at| each + before(0, at) + after(at, len))
        .collect();
    let posterior = normalised(&weights, 0.5f64.ln() + before(0, len));
    ChangeAt {
        change: posterior.change,
        before: posterior.of_each,
    }
}

/// A split found: before commit `at`, the culprit among `first..=last`.
struct Split {
    at: usize,
    first: usize,
    last: usize,
    confidence: f64,
}

/// Splits `start..end` where it most likely changed, if it likely did, and
/// its sides in turn.
fn split(sums: &PrefixSums, start: usize, end: usize, found: &mut Vec<Split>) {
    // A split is before a commit that ran, with runs before it: the
    // commits between it and the last that ran are in its range.
    let points: Vec<usize> = (start + 1..end)
        .filter(|&at| sums.segment(at, at + 1).runs() > 0 && sums.segment(start, at).runs() > 0)
        .collect();
    if points.is_empty() {
        return;
    }
    let evidence = |from: usize, to: usize| sums.log_evidence(from, to);
    let none = (1.0 - CHANGE_PRIOR).ln() + evidence(start, end);
    // One change, at each point.
    let each = (CHANGE_PRIOR / points.len() as f64).ln();
    let one: Vec<f64> = (points.iter())
        .map(|&at| each + evidence(start, at) + evidence(at, end))
        .collect();
    let mut posterior = normalised(&one, none);
    if posterior.change < SPLIT_AT && points.len() >= 2 && points.len() <= MAX_PAIRED {
        // A change and its undoing (broken, then fixed) is no one change:
        // weigh two, each point's weight the sum over where the second is.
        let pairs = (points.len() * (points.len() - 1) / 2) as f64;
        let each = (CHANGE_PRIOR / pairs).ln();
        let first: Vec<f64> = (0..points.len())
            .map(|i| {
                let (from, to) = (start, points[i]);
                let seconds: Vec<f64> = (points[i + 1..].iter())
                    .map(|&then| {
                        each + evidence(from, to) + evidence(to, then) + evidence(then, end)
                    })
                    .collect();
                log_sum_exp(&seconds)
            })
            .collect();
        posterior = normalised(&first, none);
    }
    if posterior.change < SPLIT_AT {
        return;
    }
    let (best, lo, hi, mass) = credible_range(&posterior.of_each);
    let at = points[best];
    // A split before commit `p` says the culprit is after the last commit
    // that ran before `p`: the commits between ran no test and may be it.
    let first = sums.last_run_before(points[lo]).map_or(start, |c| c + 1);
    found.push(Split {
        at,
        first,
        last: points[hi],
        confidence: mass.min(1.0),
    });
    split(sums, start, at, found);
    split(sums, at, end, found);
}

/// Histories longer than this (in commits that ran) are not weighed for a
/// change and its undoing at once: that costs the square of their length.
const MAX_PAIRED: usize = 2_000;

/// The posterior of a change, and of each place for it.
struct Posterior {
    change: f64,
    of_each: Vec<f64>,
}

/// From log weights of each place for a change, and of none.
fn normalised(weights: &[f64], none: f64) -> Posterior {
    let top = weights.iter().copied().fold(none, f64::max);
    let mass: Vec<f64> = weights.iter().map(|w| (w - top).exp()).collect();
    let change: f64 = mass.iter().sum();
    Posterior {
        change: change / (change + (none - top).exp()),
        of_each: mass.iter().map(|m| m / change).collect(),
    }
}

fn log_sum_exp(weights: &[f64]) -> f64 {
    let top = weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match top.is_finite() {
        true => top + weights.iter().map(|w| (w - top).exp()).sum::<f64>().ln(),
        false => top,
    }
}

/// The likeliest place, widened towards the likelier neighbour until the
/// range holds [`CONFIDENCE`] of the posterior: (best, first, last, mass).
fn credible_range(posterior: &[f64]) -> (usize, usize, usize, f64) {
    let best = (0..posterior.len())
        .max_by(|&a, &b| posterior[a].total_cmp(&posterior[b]))
        .expect("there are places");
    let (mut lo, mut hi, mut mass) = (best, best, posterior[best]);
    while mass < CONFIDENCE {
        let left = lo.checked_sub(1).map(|i| posterior[i]);
        let right = posterior.get(hi + 1).copied();
        match (left, right) {
            (Some(l), Some(r)) if l >= r => {
                lo -= 1;
                mass += l;
            }
            (_, Some(r)) => {
                hi += 1;
                mass += r;
            }
            (Some(l), None) => {
                lo -= 1;
                mass += l;
            }
            (None, None) => break,
        }
    }
    (best, lo, hi, mass)
}

/// Running totals of a history, for any segment's tally at once.
struct PrefixSums {
    passes: Vec<u32>,
    failures: Vec<u32>,
    /// For each commit, the last commit at or before it that ran.
    last_run: Vec<Option<usize>>,
    /// `ln Γ(k + a)` and `ln Γ(k + 2a)`, `a` the rate's prior, for every
    /// count `k` the history holds: weighing a change and its undoing
    /// takes the evidence of every pair of segments, and `ln Γ` was most
    /// of its time.
    ln_gamma_a: Vec<f64>,
    ln_gamma_2a: Vec<f64>,
}

impl PrefixSums {
    fn of(history: &[Tally]) -> Self {
        let mut sums = Self {
            passes: vec![0],
            failures: vec![0],
            last_run: Vec::with_capacity(history.len()),
            ln_gamma_a: Vec::new(),
            ln_gamma_2a: Vec::new(),
        };
        let mut last = None;
        for (i, tally) in history.iter().enumerate() {
            sums.passes.push(sums.passes[i] + tally.passes);
            sums.failures.push(sums.failures[i] + tally.failures);
            if tally.runs() > 0 {
                last = Some(i);
            }
            sums.last_run.push(last);
        }
        let counts = sums.passes[history.len()] + sums.failures[history.len()];
        let ln_gamma = |shift: f64| (0..=counts).map(move |k| libm::lgamma(f64::from(k) + shift));
        sums.ln_gamma_a = ln_gamma(RATE_PRIOR).collect();
        sums.ln_gamma_2a = ln_gamma(2.0 * RATE_PRIOR).collect();
        sums
    }

    /// The chance of the results of commits `start..end` at a rate
    /// unknown, a priori `Beta(RATE_PRIOR, RATE_PRIOR)`:
    /// `ln B(f + a, s + a) - ln B(a, a)`.
    fn log_evidence(&self, start: usize, end: usize) -> f64 {
        let segment = self.segment(start, end);
        let (f, s) = (segment.failures as usize, segment.passes as usize);
        let prior = 2.0 * self.ln_gamma_a[0] - self.ln_gamma_2a[0];
        self.ln_gamma_a[f] + self.ln_gamma_a[s] - self.ln_gamma_2a[f + s] - prior
    }

    fn segment(&self, start: usize, end: usize) -> Segment {
        Segment {
            start,
            end,
            passes: self.passes[end] - self.passes[start],
            failures: self.failures[end] - self.failures[start],
        }
    }

    fn last_run_before(&self, commit: usize) -> Option<usize> {
        commit.checked_sub(1).and_then(|c| self.last_run[c])
    }
}

impl Segment {
    fn runs(&self) -> u32 {
        self.passes + self.failures
    }

    /// The chance of these results at a rate unknown, a priori
    /// `Beta(failing, passing)`: `ln B(f + failing, s + passing) - ln B(failing, passing)`.
    fn log_evidence_under(&self, failing: f64, passing: f64) -> f64 {
        let (f, s) = (f64::from(self.failures), f64::from(self.passes));
        ln_beta(f + failing, s + passing) - ln_beta(failing, passing)
    }
}

fn ln_beta(x: f64, y: f64) -> f64 {
    libm::lgamma(x) + libm::lgamma(y) - libm::lgamma(x + y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(outcomes: &str) -> Vec<Tally> {
        outcomes
            .chars()
            .map(|c| match c {
                'P' => Tally {
                    passes: 1,
                    failures: 0,
                },
                'F' => Tally {
                    passes: 0,
                    failures: 1,
                },
                _ => Tally::default(),
            })
            .collect()
    }

    #[test]
    fn a_test_that_broke_at_one_commit_is_split_there_alone() {
        let found = segment(&history("PPPPPPPPPPFFFFFFFFFF"));
        assert_eq!(found.changes.len(), 1, "{found:#?}");
        let change = &found.changes[0];
        assert_eq!((change.first, change.last), (10, 10));
        assert!(change.is_regression());
        assert!(change.confidence >= CONFIDENCE);
    }

    #[test]
    fn commits_without_runs_between_are_all_in_the_range() {
        // Nothing ran at commits 10 to 12: any of 10..=13 may have broken it.
        let found = segment(&history("PPPPPPPPPP...FFFFFFFFFF"));
        let change = &found.changes[0];
        assert_eq!((change.first, change.last), (10, 13), "{found:#?}");
    }

    #[test]
    fn a_flake_just_before_the_break_widens_the_range_to_hold_it() {
        // A flake at 10, the break at 12.
        let found = segment(&history("PPPPPPPPPPFPFFFFFFFFFFFF"));
        let change = &found.changes[0];
        assert!(change.first <= 12 && 12 <= change.last, "{found:#?}");
        assert!(change.last - change.first >= 1, "{found:#?}");
    }

    #[test]
    fn a_flaky_test_without_a_change_is_not_split() {
        // One run in five fails, throughout.
        let outcomes = "PPPPFPPPPFPPPPFPPPPFPPFPPPPPPFPPPPFPPPPF";
        assert!(segment(&history(outcomes)).changes.is_empty());
    }

    #[test]
    fn a_test_broken_then_fixed_has_both_changes() {
        let found = segment(&history("PPPPPPPPPPFFFFFFFFFFPPPPPPPPPP"));
        let kinds: Vec<(usize, bool)> = (found.changes.iter())
            .map(|c| (c.first, c.is_regression()))
            .collect();
        assert_eq!(kinds, [(10, true), (20, false)], "{found:#?}");
    }

    #[test]
    fn a_test_failing_from_the_start_has_no_change() {
        let found = segment(&history("FFFFFFFFFF"));
        assert!(found.changes.is_empty());
        assert_eq!(found.segments[0].failure_rate(), 1.0);
    }
}
