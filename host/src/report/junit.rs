//! JUnit XML, one test suite per source.

use std::time::Duration;

use proctor_plugin_api::messages::Outcome;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunSummary;

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
                Outcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Outcome::TimedOut | Outcome::Crashed | Outcome::Blocked => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                    status.set_type(test.outcome.as_str());
                    status
                }
            };
            if let Some(message) = &test.message {
                status.set_message(first_line(message));
                status.set_description(message.as_str());
            }
            let mut case = TestCase::new(test.id.as_str(), status);
            case.set_classname(source.name.as_str());
            case.set_time(Duration::from_millis(test.duration_ms));
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
