//! Which failed tests run again, and which are quarantined.
//!
//! One policy serves both proctor's own `retry` block and Helix's
//! `eng/test-configuration.json`; both are read into [`RetryPolicy`].

use std::time::Duration;

use proctor_plugin_api::messages::Outcome;
use serde::Deserialize;

use crate::matching::Condition;

/// What happens to a test after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Reported as it ended; a failure fails the run.
    Keep,
    /// Run again, if attempts remain.
    Rerun,
    /// Runs and is reported, but does not fail the run.
    Quarantine,
}

/// What a rule is matched against: one attempt of one test.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub source: &'a str,
    /// The file name of the source's path (Helix's "assembly").
    pub source_file: &'a str,
    pub test_id: &'a str,
    /// `namespace.class.method`.
    pub qualified_name: &'a str,
    pub outcome: Outcome,
    pub message: Option<&'a str>,
    pub stack_trace: Option<&'a str>,
    pub output: Option<&'a str>,
}

/// Conditions that must all hold; an absent condition holds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule: an object with `test`, `test_name`, `source`, `message`, `stack_trace`, `output` or `outcomes`"
)]
pub struct Rule {
    /// The test id (proctor) or `namespace.class.method` (Helix's `testName`).
    #[serde(default)]
    pub test: Option<Condition>,
    /// The test's qualified name, `namespace.class.method`.
    #[serde(default, rename = "test_name")]
    pub qualified_name: Option<Condition>,
    /// The source's name or its path's file name.
    #[serde(default)]
    pub source: Option<Condition>,
    #[serde(default)]
    pub message: Option<Condition>,
    /// Matched line by line.
    #[serde(default)]
    pub stack_trace: Option<Condition>,
    /// What the test printed, matched line by line.
    #[serde(default)]
    pub output: Option<Condition>,
    /// The outcomes it applies to; all failures when absent.
    #[serde(default)]
    pub outcomes: Option<Vec<FailureOutcome>>,
}

/// The outcomes a rule can name: the ones that can be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureOutcome {
    Failed,
    TimedOut,
    Crashed,
}

impl FailureOutcome {
    fn of(outcome: Outcome) -> Option<Self> {
        match outcome {
            Outcome::Failed => Some(Self::Failed),
            Outcome::TimedOut => Some(Self::TimedOut),
            Outcome::Crashed => Some(Self::Crashed),
            _ => None,
        }
    }
}

fn holds(condition: &Option<Condition>, value: Option<&str>, multi_line: bool) -> bool {
    match (condition, value) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(c), Some(v)) if multi_line => c.matches_a_line(v),
        (Some(c), Some(v)) => c.matches(v),
    }
}

impl Rule {
    pub fn matches(&self, attempt: &Attempt) -> bool {
        let outcome_fits = match (&self.outcomes, FailureOutcome::of(attempt.outcome)) {
            (Some(listed), Some(outcome)) => listed.contains(&outcome),
            (Some(_), None) => false,
            (None, _) => true,
        };
        let source_fits = match &self.source {
            None => true,
            Some(c) => c.matches(attempt.source) || c.matches(attempt.source_file),
        };
        outcome_fits
            && source_fits
            && holds(&self.test, Some(attempt.test_id), false)
            && holds(&self.qualified_name, Some(attempt.qualified_name), false)
            && holds(&self.message, attempt.message, false)
            && holds(&self.stack_trace, attempt.stack_trace, true)
            && holds(&self.output, attempt.output, true)
    }
}

/// A threshold above which a run's failures are a mass failure, not flakiness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Count(usize),
    Percent(f64),
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub delay: Duration,
    pub thresholds: Vec<Threshold>,
    /// What a failure with no matching rule gets.
    pub default: Verdict,
    pub rerun_rules: Vec<Rule>,
    pub fail_rules: Vec<Rule>,
    pub quarantine_rules: Vec<Rule>,
    /// Where the policy was read from, for the summary.
    pub origin: String,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            delay: Duration::ZERO,
            thresholds: Vec::new(),
            default: Verdict::Keep,
            rerun_rules: Vec::new(),
            fail_rules: Vec::new(),
            quarantine_rules: Vec::new(),
            origin: "none".to_owned(),
        }
    }
}

impl RetryPolicy {
    /// The verdict for an attempt: quarantine first; then, for a failure, the
    /// rules that depart from the default; else the default.
    pub fn verdict(&self, attempt: &Attempt) -> Verdict {
        let any = |rules: &[Rule]| rules.iter().any(|rule| rule.matches(attempt));
        if any(&self.quarantine_rules) {
            return Verdict::Quarantine;
        }
        if FailureOutcome::of(attempt.outcome).is_none() {
            return Verdict::Keep;
        }
        match self.default {
            Verdict::Rerun if any(&self.fail_rules) => Verdict::Keep,
            Verdict::Keep if any(&self.rerun_rules) => Verdict::Rerun,
            default => default,
        }
    }

    /// Why nothing may be retried, when `failed` of `executed` tests failed.
    pub fn mass_failure(&self, failed: usize, executed: usize) -> Option<String> {
        let percent = if executed == 0 {
            0.0
        } else {
            failed as f64 * 100.0 / executed as f64
        };
        self.thresholds.iter().find_map(|threshold| {
            let above = match *threshold {
                Threshold::Count(max) => failed > max,
                Threshold::Percent(max) => percent > max,
            };
            above.then(|| {
                let limit = match threshold {
                    Threshold::Count(max) => format!("{max} tests"),
                    Threshold::Percent(max) => format!("{max}%"),
                };
                format!(
                    "{failed} of {executed} tests failed ({percent:.1}%), above the retry \
                     threshold of {limit}: a mass failure is not retried"
                )
            })
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn rule(json: &str) -> Rule {
        serde_json::from_str(json).unwrap()
    }

    /// A failed attempt of `name` in the source `net` (file `source_file`).
    pub(crate) fn failure_in<'a>(
        source_file: &'a str,
        name: &'a str,
        message: &'a str,
    ) -> Attempt<'a> {
        Attempt {
            source: "net",
            source_file,
            test_id: name,
            qualified_name: name,
            outcome: Outcome::Failed,
            message: Some(message),
            stack_trace: None,
            output: None,
        }
    }

    fn failure<'a>(name: &'a str, message: &'a str) -> Attempt<'a> {
        failure_in("net_tests", name, message)
    }

    #[test]
    fn every_condition_of_a_rule_must_hold() {
        let both = rule(r#"{"test": {"wildcard": "net.*"}, "message": {"contains": "reset"}}"#);
        assert!(both.matches(&failure("net.connect", "Connection RESET by peer")));
        assert!(!both.matches(&failure("net.connect", "assertion failed")));
        assert!(!both.matches(&failure("fs.read", "connection reset")));
        let crashes = rule(r#"{"outcomes": ["crashed"]}"#);
        assert!(!crashes.matches(&failure("a", "b")));
        assert!(rule(r#"{"source": "net_tests"}"#).matches(&failure("a", "b")));
    }

    #[test]
    fn precedence_is_quarantine_then_departures_from_the_default() {
        let mut policy = RetryPolicy {
            max_attempts: 3,
            quarantine_rules: vec![rule(r#"{"test": "q"}"#)],
            fail_rules: vec![rule(r#"{"message": {"contains": "fatal"}}"#)],
            rerun_rules: vec![rule(r#"{"message": {"contains": "timeout"}}"#)],
            default: Verdict::Rerun,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.verdict(&failure("q", "fatal")), Verdict::Quarantine);
        assert_eq!(policy.verdict(&failure("a", "fatal")), Verdict::Keep);
        assert_eq!(policy.verdict(&failure("a", "other")), Verdict::Rerun);
        policy.default = Verdict::Keep;
        assert_eq!(policy.verdict(&failure("a", "timeout")), Verdict::Rerun);
        assert_eq!(policy.verdict(&failure("a", "other")), Verdict::Keep);
        let passed = Attempt {
            outcome: Outcome::Passed,
            ..failure("a", "timeout")
        };
        assert_eq!(policy.verdict(&passed), Verdict::Keep);
    }

    #[test]
    fn thresholds_stop_retries_of_a_mass_failure() {
        let policy = RetryPolicy {
            thresholds: vec![Threshold::Count(5), Threshold::Percent(20.0)],
            ..RetryPolicy::default()
        };
        assert_eq!(policy.mass_failure(5, 100), None);
        assert!(policy.mass_failure(6, 100).unwrap().contains("5 tests"));
        assert!(policy.mass_failure(3, 10).unwrap().contains("20%"));
    }
}
