//! JUnit XML, one test suite per source. Earlier attempts of a retried test
//! become `flakyFailure`/`flakyError` (it passed in the end) or
//! `rerunFailure`/`rerunError` (it did not), as Maven Surefire writes them.

use std::time::Duration;

use proctor_plugin_api::messages::Outcome;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::{AttemptRecord, RunSummary};

fn failure_kind(outcome: Outcome) -> NonSuccessKind {
    match outcome {
        Outcome::Failed => NonSuccessKind::Failure,
        _ => NonSuccessKind::Error,
    }
}

fn rerun(attempt: &AttemptRecord) -> TestRerun {
    let mut rerun = TestRerun::new(failure_kind(attempt.outcome));
    rerun
        .set_type(attempt.outcome.as_str())
        .set_time(Duration::from_millis(attempt.duration_ms));
    if let Some(message) = &attempt.message {
        rerun.set_message(first_line(message));
    }
    if let Some(trace) = attempt.stack_trace.as_ref().or(attempt.message.as_ref()) {
        rerun.set_stack_trace(trace.as_str());
    }
    rerun
}

pub fn write_junit(summary: &RunSummary, path: &std::path::Path) -> std::io::Result<()> {
    let mut report = Report::new("proctor");
    report.set_time(Duration::from_millis(summary.duration_ms));
    for source in &summary.sources {
        let mut suite = TestSuite::new(source.name.as_str());
        if let Some(error) = &source.error {
            suite.set_system_err(format!("source failed: {error}"));
        }
        for test in summary.tests.iter().filter(|t| t.source == source.name) {
            let mut status = match test.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Skipped => TestCaseStatus::skipped(),
                outcome => {
                    let mut status = TestCaseStatus::non_success(failure_kind(outcome));
                    status.set_type(outcome.as_str());
                    status
                }
            };
            if let Some(message) = &test.message {
                status.set_message(first_line(message));
                status.set_description(message.as_str());
            }
            let earlier = test.attempts.len().saturating_sub(1);
            status.add_reruns(test.attempts[..earlier].iter().map(rerun));
            let mut case = TestCase::new(test.id.as_str(), status);
            case.set_classname(source.name.as_str());
            case.set_time(Duration::from_millis(test.duration_ms));
            if test.quarantined {
                case.add_property(("quarantined", "true"));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let file = std::fs::File::create(path)?;
    report
        .serialize(std::io::BufWriter::new(file))
        .map_err(std::io::Error::other)
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}
