//! The run's records and `summary.json`.

use proctor_plugin_api::messages::Outcome;
use serde::Serialize;

use crate::error::ExitStatus;

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Paths relative to the results directory.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRecord {
    pub source: String,
    pub id: String,
    pub name: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub message: Option<String>,
    pub attempts: Vec<AttemptRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRecord {
    pub name: String,
    pub runner: String,
    pub path: String,
    pub tests: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub timed_out: usize,
    pub crashed: usize,
    pub blocked: usize,
}

impl Counts {
    pub fn of<'a>(tests: impl IntoIterator<Item = &'a TestRecord>) -> Self {
        let mut counts = Counts::default();
        for test in tests {
            counts.total += 1;
            *match test.outcome {
                Outcome::Passed => &mut counts.passed,
                Outcome::Failed => &mut counts.failed,
                Outcome::Skipped => &mut counts.skipped,
                Outcome::TimedOut => &mut counts.timed_out,
                Outcome::Crashed => &mut counts.crashed,
                Outcome::Blocked => &mut counts.blocked,
            } += 1;
        }
        counts
    }

    pub fn not_passed(&self) -> usize {
        self.failed + self.timed_out + self.crashed
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub layout_version: u32,
    pub proctor_version: &'static str,
    pub outcome: &'static str,
    pub exit_code: u8,
    pub started_at: String,
    pub duration_ms: u64,
    pub counts: Counts,
    pub sources: Vec<SourceRecord>,
    /// Infrastructure errors: what broke other than the tests.
    pub errors: Vec<String>,
    pub tests: Vec<TestRecord>,
}

impl RunSummary {
    /// The exit status this run ends with.
    pub fn status(&self) -> ExitStatus {
        Self::exit_status(&self.counts, &self.errors)
    }

    /// Infrastructure errors outrank failed tests: a run that lost sources
    /// cannot vouch for the tests it did not run.
    pub fn exit_status(counts: &Counts, errors: &[String]) -> ExitStatus {
        if !errors.is_empty() || counts.blocked > 0 {
            ExitStatus::InfrastructureError
        } else if counts.not_passed() > 0 {
            ExitStatus::TestsFailed
        } else {
            ExitStatus::Passed
        }
    }
}
