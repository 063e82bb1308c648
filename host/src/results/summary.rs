//! The run's records and `summary.json`.

use std::borrow::Cow;
use std::sync::Arc;

use proctor_plugin_api::messages::{ExecutionMode, Outcome, SubtestResult, TestCase};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ExitStatus;
use crate::process::Signal;

/// One attempt of one test. Paths are relative to the results directory.
// What the attempt's process shares with the other tests it ran (its
// start, its logs) is shared, not copied: a batch of ten thousand tests
// holds those texts once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub outcome: Outcome,
    /// When its process started (RFC 3339).
    pub started_at: Arc<str>,
    pub duration_ms: u64,
    pub message: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<Box<str>>,
    /// The process that ran the attempt, and how it ended.
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// The attempt's own directory.
    // Empty until `AttemptRecord::place` names it.
    pub dir: String,
    /// The process's output, shared by every test the process ran.
    pub stdout: Option<Arc<str>>,
    pub stderr: Option<Arc<str>>,
    /// What this test alone printed, when the runner could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Box<str>>,
    /// The subtests the attempt ran, when the runner reports them.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub subtests: Box<[SubtestResult]>,
    /// What its process left running after it ended (then killed), or
    /// held its output open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Box<str>>,
    /// The directory name of the process that ran it with other tests
    /// (`attempt-<n>-<k>`), by which layout 2 names the process instead of
    /// repeating it; layout 1 does not write it.
    #[serde(skip)]
    pub process: Option<Arc<str>>,
}

impl AttemptRecord {
    /// Names the attempt's own directory, as an attempt of test `test` of
    /// `source`, unless it has one. A batch's attempts are all made at
    /// once as its process ends, and most need no directory until they
    /// are recorded: named then, ten thousand of them did not hold their
    /// paths together with the batch's tests at the host's fullest.
    pub fn place(&mut self, source: &str, test: &str) {
        if self.dir.is_empty() {
            self.dir = super::attempt_path(source, test, self.attempt);
        }
    }
}

/// What a record stands for. Every record fails or passes the run alike;
/// only a test is retried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    #[default]
    Test,
    /// A failure the runner found outside the tests: a suite's set-up or
    /// tear-down, a global environment.
    Suite,
    /// A process that failed (a non-zero exit, a signal, a timeout) while
    /// every test it reported passed.
    Process,
}

impl RecordKind {
    pub(super) fn is_test(&self) -> bool {
        *self == RecordKind::Test
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TestRecord {
    // Shared by every record of its source.
    pub source: Arc<str>,
    pub id: String,
    pub name: String,
    /// The name Helix's rules and JUnit's classname use, when it is not
    /// the id (added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_name: Option<String>,
    /// Omitted for a test.
    #[serde(default, skip_serializing_if = "RecordKind::is_test")]
    pub kind: RecordKind,
    /// Skipped by a skip rule of the configuration, not by its framework:
    /// it was never selected.
    #[serde(skip)]
    pub skipped_by_rule: bool,
    /// The outcome of the last attempt.
    pub outcome: Outcome,
    /// Failed, then passed on a later attempt.
    pub flaky: bool,
    /// Ran and reported, but does not fail the run.
    pub quarantined: bool,
    /// The process of its last attempt left descendants running.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaky: bool,
    pub duration_ms: u64,
    pub message: Option<Box<str>>,
    pub attempts: Vec<AttemptRecord>,
}

impl TestRecord {
    /// A record for a test that did not run.
    pub fn not_run(
        source: impl Into<Arc<str>>,
        id: &str,
        name: &str,
        outcome: Outcome,
        message: String,
    ) -> Self {
        Self {
            source: source.into(),
            id: id.to_owned(),
            name: name.to_owned(),
            qualified_name: None,
            kind: RecordKind::Test,
            skipped_by_rule: false,
            outcome,
            flaky: false,
            quarantined: false,
            leaky: false,
            duration_ms: 0,
            message: Some(message.into()),
            attempts: Vec::new(),
        }
    }

    /// A record from the attempts a test had, the last one deciding.
    /// The record of `case`, which it is made of: kept for the reports
    /// until the run ends, a record holds its test's names, not copies.
    pub fn of_case(
        source: impl Into<Arc<str>>,
        case: TestCase,
        attempts: Vec<AttemptRecord>,
        quarantined: bool,
    ) -> Self {
        let TestCase {
            id,
            name,
            qualified_name,
            ..
        } = case;
        // As `TestCase::qualified_name`, its name when it has none of its own.
        let qualified = qualified_name.map_or(Cow::Borrowed(name.as_str()), Cow::Owned);
        let qualified_name = kept_qualified(&id, qualified);
        Self {
            qualified_name,
            ..Self::from_attempts(source, id, name, attempts, quarantined)
        }
    }

    pub fn from_attempts(
        source: impl Into<Arc<str>>,
        id: impl Into<String>,
        name: impl Into<String>,
        attempts: Vec<AttemptRecord>,
        quarantined: bool,
    ) -> Self {
        let last = attempts.last().expect("a test that ran had an attempt");
        let flaky = last.outcome == Outcome::Passed
            && attempts.iter().any(|a| a.outcome != Outcome::Passed);
        Self {
            source: source.into(),
            id: id.into(),
            name: name.into(),
            qualified_name: None,
            kind: RecordKind::Test,
            skipped_by_rule: false,
            outcome: last.outcome,
            flaky,
            quarantined,
            leaky: last.leak.is_some(),
            duration_ms: last.duration_ms,
            message: last.message.clone(),
            attempts,
        }
    }

    /// The record, naming the test as `qualified_name` too when that is
    /// not its id.
    pub fn qualified_as(mut self, qualified_name: &str) -> Self {
        self.qualified_name = kept_qualified(&self.id, Cow::Borrowed(qualified_name));
        self
    }

    /// Whether this test fails the run.
    pub fn fails_the_run(&self) -> bool {
        !self.quarantined && self.outcome.is_failure()
    }
}

/// A test's qualified name as its record keeps it: none where it is the
/// test's id.
fn kept_qualified(id: &str, qualified_name: Cow<'_, str>) -> Option<String> {
    (qualified_name != id).then(|| qualified_name.into_owned())
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SourceRecord {
    pub name: String,
    pub runner: String,
    pub path: String,
    pub mode: ExecutionMode,
    pub tests: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub timed_out: usize,
    pub crashed: usize,
    pub blocked: usize,
    /// Never started, or not let finish, by a stopped run.
    pub not_run: usize,
    /// Whose last attempt's process left descendants running; also counted
    /// by their outcome.
    pub leaky: usize,
    /// Passed after failing; also counted as passed.
    pub flaky: usize,
    /// Quarantined tests that did not pass; counted here only.
    pub quarantined: usize,
    /// The subtests of the tests' final attempts; not in the counts above.
    pub subtests: SubtestCounts,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct SubtestCounts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn of<'a>(tests: impl IntoIterator<Item = &'a TestRecord>) -> Self {
        let mut counts = Counts::default();
        for test in tests {
            let subtests = test.attempts.last().map(|a| &*a.subtests);
            for subtest in subtests.unwrap_or_default() {
                let subtests = &mut counts.subtests;
                subtests.total += 1;
                match subtest.outcome {
                    Outcome::Passed => subtests.passed += 1,
                    Outcome::Skipped => subtests.skipped += 1,
                    _ => subtests.failed += 1,
                }
            }
            counts.total += 1;
            counts.flaky += usize::from(test.flaky);
            counts.leaky += usize::from(test.leaky);
            if test.quarantined && test.outcome.is_failure() {
                counts.quarantined += 1;
                continue;
            }
            *match test.outcome {
                Outcome::Passed => &mut counts.passed,
                Outcome::Failed => &mut counts.failed,
                Outcome::Skipped => &mut counts.skipped,
                Outcome::TimedOut => &mut counts.timed_out,
                Outcome::Crashed => &mut counts.crashed,
                Outcome::Blocked => &mut counts.blocked,
                Outcome::NotRun => &mut counts.not_run,
            } += 1;
        }
        counts
    }

    pub fn not_passed(&self) -> usize {
        self.failed + self.timed_out + self.crashed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "summary.json, proctor's summary of a run (results layout 1)")]
pub struct RunSummary {
    /// What the summary says of the run as a whole.
    #[serde(flatten)]
    pub run: RunOverview,
    pub tests: Vec<TestRecord>,
}

// A summary's fields but its tests: the same in every layout. (A plain
// comment: a doc comment would become the schema's description.)
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunOverview {
    /// The run's identity, unique among runs (a UUID); a results store
    /// records a run once by it (added; empty in summaries from before).
    #[serde(default)]
    pub run_id: String,
    /// What the run tested and where it ran: machine, Helix work item,
    /// repository, branch, commit, variant (added; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<super::RunContext>,
    pub layout_version: u32,
    pub proctor_version: String,
    pub outcome: RunOutcome,
    pub exit_code: u8,
    pub started_at: String,
    pub duration_ms: u64,
    pub counts: Counts,
    /// Tests the `--filter` expression left out; not in `tests`.
    pub filtered_out: usize,
    /// What was fetched before discovery.
    pub downloads: Vec<super::DownloadRecord>,
    /// The collectors that ran, and whether one was switched off.
    pub collectors: Vec<super::CollectorRecord>,
    /// What the collectors handed back, as the processors left it.
    pub attachments: Vec<super::AttachmentRecord>,
    /// When each source ran and when each merge of attachments ran.
    pub timeline: super::Timeline,
    pub sources: Vec<SourceRecord>,
    /// Infrastructure errors: what broke other than the tests.
    pub errors: Vec<String>,
    /// What deserves a look without being an error: a source or a run that
    /// selected no test, a process that left descendants running.
    pub warnings: Vec<String>,
    /// The signal that stopped the run, if one did.
    pub stopped_by: Option<Signal>,
    /// How test processes were held, found and killed.
    pub containment: crate::process::Containment,
    pub retries: RetrySummary,
    pub dumps_dir: String,
    /// `source/test` of every flaky test.
    pub flaky: Vec<String>,
}

/// How retries went.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RetrySummary {
    /// Where the rules came from: `retry`, a Helix file, or `none`.
    pub policy: String,
    pub max_attempts: u32,
    /// Attempts beyond the first, in all.
    pub reruns: usize,
    /// Set when the threshold stopped every retry.
    pub withheld: Option<String>,
}

/// How a run ended, as `summary.json` says it: the exit status without the
/// signal, which `stopped_by` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Passed,
    TestsFailed,
    UsageError,
    InfrastructureError,
    NoTests,
    Interrupted,
}

impl From<ExitStatus> for RunOutcome {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Passed => RunOutcome::Passed,
            ExitStatus::TestsFailed => RunOutcome::TestsFailed,
            ExitStatus::UsageError => RunOutcome::UsageError,
            ExitStatus::InfrastructureError => RunOutcome::InfrastructureError,
            ExitStatus::NoTests => RunOutcome::NoTests,
            ExitStatus::Interrupted(_) => RunOutcome::Interrupted,
        }
    }
}

impl RunSummary {
    /// The exit status this run ends with.
    pub fn status(&self) -> ExitStatus {
        match (self.run.outcome, self.run.stopped_by) {
            (RunOutcome::Passed, _) => ExitStatus::Passed,
            (RunOutcome::TestsFailed, _) => ExitStatus::TestsFailed,
            (RunOutcome::UsageError, _) => ExitStatus::UsageError,
            (RunOutcome::InfrastructureError, _) => ExitStatus::InfrastructureError,
            (RunOutcome::NoTests, _) => ExitStatus::NoTests,
            (RunOutcome::Interrupted, Some(signal)) => ExitStatus::Interrupted(signal),
            // A summary that says interrupted without a signal was not
            // written by proctor; it vouches for nothing.
            (RunOutcome::Interrupted, None) => ExitStatus::InfrastructureError,
        }
    }
}

/// The exit status of a run, the most serious finding first: an
/// infrastructure error (a run that lost sources cannot vouch for the tests
/// it did not run), then failed tests, then no tests where some were asked for.
/// A stopped run ends as stopped: it vouches for nothing it did not finish.
pub fn exit_status(
    counts: &Counts,
    errors: &[String],
    no_tests: bool,
    stopped_by: Option<Signal>,
) -> ExitStatus {
    if let Some(signal) = stopped_by {
        ExitStatus::Interrupted(signal)
    } else if !errors.is_empty() || counts.blocked > 0 {
        ExitStatus::InfrastructureError
    } else if counts.not_passed() > 0 {
        ExitStatus::TestsFailed
    } else if no_tests {
        ExitStatus::NoTests
    } else {
        ExitStatus::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_of_a_case_names_it_qualified_only_where_that_is_not_its_id() {
        let record = |name: &str, qualified: Option<&str>| {
            let case = TestCase {
                name: name.into(),
                qualified_name: qualified.map(Into::into),
                ..TestCase::new("t.py::t")
            };
            let attempt =
                crate::results::fixture::attempt("py", "t.py::t", 1, Outcome::Passed, None);
            let record = TestRecord::of_case("py", case, vec![attempt], false);
            assert_eq!(
                (record.id.as_str(), record.name.as_str()),
                ("t.py::t", name)
            );
            record.qualified_name
        };
        assert_eq!(record("t", None).as_deref(), Some("t"));
        assert_eq!(record("t.py::t", None), None);
        assert_eq!(record("t", Some("t.py::t")), None);
        assert_eq!(record("t", Some("pkg.t")).as_deref(), Some("pkg.t"));
    }
}
