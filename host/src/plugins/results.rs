//! A runner's results as the host holds them.

use proctor_plugin_api::messages::{EarlierRun, Outcome, SubtestResult, TestCase, TestResult};
use serde::Deserialize;

/// One result of a runner's answer, as the host holds it until its test
/// is judged: what every result has inline, what few have boxed. Each is
/// read from the answer as a [`TestResult`] and made one at once. A list
/// of `TestResult`s (312 bytes each, more than half of them the case and
/// texts a passing test leaves empty) was the host's largest as a batch
/// of ten thousand tests ended; this is 72.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "TestResult")]
pub struct RunnerResult {
    pub id: String,
    pub outcome: Outcome,
    duration_ms: Option<u64>,
    /// Inline: a runner that can tell says an empty output for every test
    /// that printed nothing, and an empty box holds no text.
    output: Option<Box<str>>,
    rest: Option<Box<Rest>>,
}

/// What a result rarely has.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rest {
    message: Option<String>,
    stack_trace: Option<String>,
    test: Option<Box<TestCase>>,
    subtests: Vec<SubtestResult>,
    earlier_runs: Vec<EarlierRun>,
}

impl From<TestResult> for RunnerResult {
    fn from(result: TestResult) -> Self {
        let TestResult {
            id,
            outcome,
            duration_ms,
            message,
            stack_trace,
            output,
            test,
            subtests,
            earlier_runs,
        } = result;
        let rare = message.is_some()
            || stack_trace.is_some()
            || test.is_some()
            || !subtests.is_empty()
            || !earlier_runs.is_empty();
        let rest = rare.then(|| {
            Box::new(Rest {
                message,
                stack_trace,
                test: test.map(Box::new),
                subtests,
                earlier_runs,
            })
        });
        Self {
            id,
            outcome,
            duration_ms,
            output: output.map(String::into_boxed_str),
            rest,
        }
    }
}

impl From<RunnerResult> for TestResult {
    fn from(result: RunnerResult) -> Self {
        let RunnerResult {
            id,
            outcome,
            duration_ms,
            output,
            rest,
        } = result;
        let rest = rest.map_or_else(Rest::default, |rest| *rest);
        TestResult {
            id,
            outcome,
            duration_ms,
            message: rest.message,
            stack_trace: rest.stack_trace,
            output: output.map(String::from),
            test: rest.test.map(|test| *test),
            subtests: rest.subtests,
            earlier_runs: rest.earlier_runs,
        }
    }
}

impl RunnerResult {
    /// The test as the runner knows it, in answer to an expanding case.
    pub fn test(&self) -> Option<&TestCase> {
        self.rest.as_ref()?.test.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_held_is_the_result_read() {
        let passed = TestResult {
            duration_ms: Some(3),
            output: Some(String::new()),
            ..TestResult::new("t", Outcome::Passed)
        };
        let failed = TestResult {
            message: Some("expected 1".into()),
            stack_trace: Some("at t.py:3".into()),
            output: Some("printed".into()),
            test: Some(TestCase::new("u")),
            subtests: vec![SubtestResult {
                name: "[x]".into(),
                outcome: Outcome::Failed,
                message: None,
            }],
            earlier_runs: vec![EarlierRun {
                outcome: Outcome::Failed,
                duration_ms: Some(2),
                message: Some("expected 2".into()),
                stack_trace: None,
            }],
            ..TestResult::new("u", Outcome::Failed)
        };
        for result in [passed.clone(), failed.clone()] {
            let json = serde_json::to_string(&result).unwrap();
            let held: RunnerResult = serde_json::from_str(&json).unwrap();
            assert_eq!(TestResult::from(held), result);
        }
        let held = RunnerResult::from(passed);
        assert!(held.rest.is_none(), "a passing test's result boxes nothing");
        assert_eq!(
            RunnerResult::from(failed).test().map(|t| &t.id[..]),
            Some("u")
        );
        assert!(size_of::<RunnerResult>() <= 72);
    }
}
