//! One process running one or more tests: plan, launch, supervise, collect,
//! and give every test the outcome [`super::outcome`] decides, or hand it
//! back to run again. What happens is told as run events; nothing here
//! writes a report or calls a collector.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use proctor_plugin_api::messages::*;

use super::errors::ExecutionError;
use super::keyed::KeyedVec;
use super::live::{Limits, LiveTest, Tracker};
use super::outcome::{self, Decision, Hang, ProcessEnd, Seen};
use super::releasing::Releasing;
use super::reported::Reported;
use super::tail::{self, Tail};
use super::PreparedSource;
use crate::config::OutputPolicy;
use crate::events::{Events, RunEvent};
use crate::plugins::{OutputStream, RunnerResult};
use crate::process::{
    write_log, Event, Faults, Lines, Options, Output, Signal, Stop, Stopper, Supervised,
};
use crate::results::{timestamp, AttemptRecord, RecordKind, ResultsDir};

/// Tells test processes how much of a test's output the host holds.
pub const OUTPUT_TAIL_VARIABLE: &str = "PROCTOR_OUTPUT_TAIL_BYTES";

/// What the executions of a run share.
pub struct Context {
    pub results: Arc<ResultsDir>,
    pub events: Arc<Events>,
    /// Whether test processes are caught at faults, for the collectors.
    pub catches_faults: bool,
    pub stopper: Stopper,
    /// After a stop signal, how long a process has to end before it is killed.
    pub grace: Duration,
    /// How test processes' output is drained, held and kept.
    pub output: OutputPolicy,
    /// The sources whose every test the run takes: nothing then reads a
    /// test's attributes, which only the filter and the skip rules do.
    pub taken_whole: foldhash::HashSet<String>,
    next_process: AtomicU64,
}

impl Context {
    pub fn new(
        results: Arc<ResultsDir>,
        events: Arc<Events>,
        catches_faults: bool,
        stopper: Stopper,
        (grace, output): (Duration, OutputPolicy),
    ) -> Self {
        Self {
            results,
            events,
            catches_faults,
            stopper,
            grace,
            output,
            taken_whole: Default::default(),
            next_process: AtomicU64::new(1),
        }
    }

    /// The same, knowing the sources whose every test the run takes.
    pub fn taking_whole(mut self, sources: impl IntoIterator<Item = String>) -> Self {
        self.taken_whole = sources.into_iter().collect();
        self
    }
}

/// Tests of one source to run in one process.
pub struct Job {
    pub source: Arc<PreparedSource>,
    pub tests: Vec<TestCase>,
    pub attempt: u32,
}

/// One test's attempt, as its process ended it.
pub struct TestAttempt {
    pub test: TestName,
    /// A test, or a failure beside the tests ([`RecordKind`]).
    pub kind: RecordKind,
    /// Boxed: it moves on, unchanged, into its test's record, and a batch's
    /// attempts are held together until the scheduler takes them.
    pub record: Box<AttemptRecord>,
    /// What the test printed, for retry rules on output.
    pub output: Option<String>,
    /// Its framework ran the test again in the same process: a later
    /// attempt of the test follows in the same job.
    pub ran_again: bool,
}

/// How an attempt's test is named: all its attempt needs of it. A test
/// case itself may be large (its runner's data and attributes), and the
/// scheduler holds it already, names and all: an attempt of a test
/// carries its id alone, a record beside the tests its name too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestName {
    pub id: String,
    /// The display name of a record beside the tests.
    name: Option<String>,
}

impl TestName {
    /// How an attempt of `kind` names `test`.
    pub fn of(test: &TestCase, kind: RecordKind) -> Self {
        Self {
            id: test.id.clone(),
            name: (kind != RecordKind::Test).then(|| test.name.clone()),
        }
    }

    /// Its display name: a record beside the tests has its own; a test's
    /// is its case's, which the scheduler holds.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// The tests an expanding case turned out to be; they take its place.
pub struct Expansion {
    pub case: String,
    pub tests: Vec<TestCase>,
    /// How many tests the whole source holds, as the process said it
    /// collected it before keeping its share ([`LiveEvent::Discovered`]).
    pub share_of: Option<u64>,
}

pub struct JobOutcome {
    pub source: Arc<PreparedSource>,
    pub attempt: u32,
    /// For a job of one expanding case that reported tests: those tests.
    pub expanded: Option<Expansion>,
    pub finished: Vec<TestAttempt>,
    /// Tests the process never reached; they belong in a fresh process.
    pub unrun: Vec<TestCase>,
    /// Failures beside the tests the job was given: what the runner found
    /// outside them (a suite's set-up), or the process's own failure.
    pub outside: Vec<TestAttempt>,
    /// Infrastructure errors: what kept tests from running, or output that
    /// could not be read.
    pub errors: Vec<String>,
    /// What deserves a look: descendants the process left running.
    pub warnings: Vec<String>,
}

/// The id of the record a failed process gets when no test of its own can
/// carry the failure; the scheduler numbers a second one in a source.
pub const PROCESS_RECORD: &str = "(process)";
/// At most this many errors are kept per process; the rest are counted.
const MAX_ERRORS: usize = 5;
/// At most this many runs a framework repeated are kept of a test, the
/// latest: each failed one is a directory and a record in every report,
/// and a runner that reports thousands is mistaken or hostile.
const MAX_EARLIER_RUNS: usize = 100;

/// The first lines of a test's output, as the message of a failure that came without one.
fn excerpt(output: &str) -> String {
    const LINES: usize = 20;
    let lines = output.lines().filter(|l| !l.trim().is_empty());
    // One more than shown tells whether there are more, without reading on.
    let mut lines: Vec<&str> = lines.take(LINES + 1).collect();
    if lines.len() > LINES {
        lines.truncate(LINES);
        lines.push("...");
    }
    lines.join("\n")
}

/// Runs jobs: the scheduler's only way to the world. The real one is the
/// [`Context`], which launches processes; the scheduler's tests give a fake.
pub trait Executor: Send + Sync + 'static {
    fn execute(self: Arc<Self>, job: Job) -> BoxFuture<'static, JobOutcome>;
}

impl Executor for Context {
    fn execute(self: Arc<Self>, job: Job) -> BoxFuture<'static, JobOutcome> {
        Box::pin(async move { execute(job, &self).await })
    }
}

/// Runs a job's tests in one process.
pub async fn execute(job: Job, cx: &Context) -> JobOutcome {
    let mut execution = Execution::new(&job, cx);
    let mut warnings = Vec::new();
    let (finished, unrun, outside) = match execution.run().await {
        // The run is stopping: nothing starts any more.
        Ok(None) => (Vec::new(), job.tests.clone(), Vec::new()),
        Ok(Some(mut ended)) => {
            if let Some(leak) = &ended.leak {
                let process = format!("the process {} ({})", ended.pid, execution.dir_name());
                warnings.push(execution.of_source(format_args!("{process}: {leak}")));
            }
            match ended.unread.take() {
                // The framework never got to a test (an interpreter or a
                // module missing): its tests are blocked, not failed.
                Some(error) if execution.never_began(&ended) => {
                    execution.process_finished(ended.pid);
                    execution.blocked_by(error)
                }
                Some(error) => {
                    execution.error(error);
                    execution.conclude(ended)
                }
                None => execution.conclude(ended),
            }
        }
        Err(error) => execution.blocked_by(error),
    };
    let expanded = execution.expanded.take().map(|tests| Expansion {
        case: job.tests[0].id.clone(),
        tests,
        share_of: execution.share_of,
    });
    let errors = execution.errors();
    warnings.append(&mut execution.warnings);
    JobOutcome {
        source: job.source,
        attempt: job.attempt,
        expanded,
        finished,
        unrun,
        outside,
        errors,
        warnings,
    }
}

/// How the process ended, as the host saw it.
struct Ended {
    at: Instant,
    exit: ProcessExit,
    duration: Duration,
    hang: Option<Hang>,
    /// The run was stopped while the process ran: the host signalled it.
    stopped: Option<Signal>,
    /// What it left running after it ended, or held its output open.
    leak: Option<String>,
    pid: u32,
    reported: Reported,
    /// Why the runner could not read the process's results.
    unread: Option<String>,
}

impl Ended {
    fn end(&self) -> ProcessEnd<'_> {
        ProcessEnd {
            exit: self.exit,
            hang: self.hang.as_ref(),
            stopped: self.stopped,
            leak: self.leak.as_deref(),
        }
    }
}

/// What supervision saw end the process.
#[derive(Default)]
struct Supervision {
    hang: Option<Hang>,
    stopped: Option<Signal>,
}

/// The attempts of a job's tests, those left to run again, and the
/// failures beside them.
type Attributed = (Vec<TestAttempt>, Vec<TestCase>, Vec<TestAttempt>);

/// The tests an expanding case's listing command gave, or why not.
type Listing = tokio::task::JoinHandle<Result<Vec<TestCase>, String>>;

/// Which tests a process that ended answers for ([`Execution::tests_of`]).
enum Answerable {
    /// The tests of its job.
    Job,
    /// Those its expanding case discovered, and the case itself when the
    /// runner reported on it.
    Discovered { and_case: bool },
}

/// What a process that ended answers for, decided ([`Execution::judge`]).
struct Judged<'t> {
    verdicts: Vec<Verdict<'t>>,
    /// Tests it never reached; they belong in a fresh process.
    unrun: Vec<TestCase>,
    /// Failures beside its tests, as attempts already.
    outside: Vec<TestAttempt>,
}

/// A test's outcome, decided, and what its attempt takes of the runner's
/// result and of the live output, which are released before any attempt
/// is made.
struct Verdict<'t> {
    test: &'t TestCase,
    decision: Decision,
    /// The runner's details beyond the outcome, rare for a passing test.
    details: Option<Box<ResultDetails>>,
    /// What the test printed: the runner's word, or else what the live
    /// output caught while it ran.
    output: Option<String>,
    duration: Duration,
    /// The live output told its end: the subscribers heard of it then.
    told_live: bool,
}

struct ResultDetails {
    stack_trace: Option<String>,
    subtests: Vec<SubtestResult>,
    earlier_runs: Vec<EarlierRun>,
}

impl Verdict<'_> {
    fn outcome(&self) -> Outcome {
        match &self.decision {
            Decision::Reported { outcome, .. }
            | Decision::Live { outcome, .. }
            | Decision::Host { outcome, .. } => *outcome,
            Decision::Unrun => unreachable!("an unrun test has no verdict"),
        }
    }
}

struct Execution<'a> {
    job: &'a Job,
    cx: &'a Context,
    /// The job is one case that expands into the tests its process reports.
    expanding: bool,
    /// The tests an expanding case turned out to be, as they became known.
    discovered: KeyedVec<TestCase>,
    /// Whether the attributes of the tests discovered are read: not when
    /// the run takes the whole source.
    reads_attributes: bool,
    /// The size of the whole source its share was cut from, as the
    /// process said.
    share_of: Option<u64>,
    /// Once the process ended, the tests discovered, when they take the
    /// expanding case's place.
    expanded: Option<Vec<TestCase>>,
    /// The tests the expanding case's listing command gave, run beside
    /// its process ([`TestCase::listing`]).
    listing: Option<Listing>,
    /// The number of tests the process runs, as far as known.
    test_count: usize,
    /// Where the process's output and the runner's files go.
    dir: std::path::PathBuf,
    /// The process's output files, in `dir`.
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
    /// The same, relative to the results directory, as every attempt of
    /// the process records them.
    logs: (Arc<str>, Arc<str>),
    /// The name of `dir` when it is a process's of its own, which the
    /// attempts it ran name.
    process: Option<Arc<str>>,
    tracker: Tracker,
    /// When the process started (RFC 3339).
    launched_at: Arc<str>,
    /// The process, once launched.
    pid: Option<u32>,
    /// Infrastructure errors, the first [`MAX_ERRORS`] of them.
    errors: Vec<String>,
    /// Errors beyond those kept.
    errors_dropped: usize,
    /// What deserves a look but fails nothing.
    warnings: Vec<String>,
}

impl<'a> Execution<'a> {
    fn new(job: &'a Job, cx: &'a Context) -> Self {
        let name = job.source.name();
        let expanding = matches!(job.tests.as_slice(), [case] if case.expands);
        let (dir, process) = match job.tests.as_slice() {
            // A test alone keeps the process's files in its attempt directory.
            [test] if !expanding => (cx.results.attempt_dir(name, &test.id, job.attempt), None),
            _ => {
                let number = cx.next_process.fetch_add(1, Ordering::Relaxed);
                let dir = cx.results.process_dir(name, job.attempt, number);
                let process = dir.file_name().map(|n| n.to_string_lossy().into());
                (dir, process)
            }
        };
        let (stdout, stderr) = (dir.join("stdout.log"), dir.join("stderr.log"));
        let logs = (
            cx.results.relative(&stdout).into(),
            cx.results.relative(&stderr).into(),
        );
        Self {
            job,
            cx,
            expanding,
            discovered: KeyedVec::default(),
            reads_attributes: !cx.taken_whole.contains(name),
            share_of: None,
            expanded: None,
            listing: None,
            test_count: if expanding { 1 } else { job.tests.len() },
            dir,
            stdout,
            stderr,
            logs,
            process,
            tracker: Tracker::new(Instant::now(), cx.output.tail_bytes),
            launched_at: timestamp(chrono::Utc::now()).into(),
            pid: None,
            errors: Vec::new(),
            errors_dropped: 0,
            warnings: Vec::new(),
        }
    }

    /// Keeps an infrastructure error of this process; they fail its source.
    fn error(&mut self, error: impl std::fmt::Display) {
        match self.errors.len() < MAX_ERRORS {
            true => self.errors.push(self.of_source(error)),
            false => self.errors_dropped += 1,
        }
    }

    /// The errors kept, the last one saying how many more there were.
    fn errors(&mut self) -> Vec<String> {
        let mut errors = std::mem::take(&mut self.errors);
        if self.errors_dropped > 0 {
            let more = format!("{} more errors of the same process", self.errors_dropped);
            errors.push(self.of_source(more));
        }
        errors
    }

    fn source_name(&self) -> &'a str {
        self.job.source.name()
    }

    /// A message about this process, as the summary's errors and warnings
    /// say it: after the source's name.
    fn of_source(&self, what: impl std::fmt::Display) -> String {
        format!("source `{}`: {what}", self.source_name())
    }

    /// The process's directory, relative to the results directory.
    fn dir_name(&self) -> String {
        self.cx.results.relative(&self.dir)
    }

    /// How many tests the process is timed as running, and answers for as
    /// one when it is one. An expanding case is a batch whatever it has
    /// told so far: a share that turns out to hold one test may still hang
    /// outside it (in its collection, in its session's end), which only the
    /// batch's limits catch.
    fn timed_as(&self) -> usize {
        match self.expanding {
            true => self.test_count.max(2),
            false => self.test_count,
        }
    }

    fn live(&self) -> bool {
        self.job.source.capabilities.live_events
    }

    /// Runs the expanding case's listing command beside its process, as
    /// discovery runs one, and has the runner read its output.
    fn start_listing(&self, command: &CommandSpec) -> Listing {
        let source = self.job.source.clone();
        let (stopper, grace, command) = (self.cx.stopper.clone(), self.cx.grace, command.clone());
        tokio::spawn(async move {
            let listed = super::discover::listed(&source, &command, &stopper, grace).await;
            listed.map_err(|e| e.to_string())
        })
    }

    /// Takes the tests the listing gave as the case's, once it ended: each
    /// as the listing says it (its name, attributes, skip), in place of
    /// what the live output knew of it. A listing that failed fails the
    /// source: what the process never reached could not be told.
    async fn take_listing(&mut self) {
        let Some(listing) = self.listing.take() else {
            return;
        };
        let listed = listing.await.unwrap_or_else(|e| Err(e.to_string()));
        match listed {
            Ok(tests) => {
                for test in tests {
                    let test = self.held(test);
                    match self.discovered.place(&test.id) {
                        Some(at) => self.discovered.items_mut()[at] = test,
                        None => {
                            self.discovered.push_new(test);
                        }
                    }
                }
                self.test_count = self.discovered.len();
            }
            Err(e) => self.error(format!("the listing of its tests failed: {e}")),
        }
    }

    /// Runs the process to its end; answers `None` without starting it
    /// when the run is stopping.
    async fn run(&mut self) -> Result<Option<Ended>, ExecutionError> {
        // Subscribed first, so that no request is missed after the check.
        let stop = self.cx.stopper.subscribe();
        if stop.state() != Stop::Running {
            return Ok(None);
        }
        let mut process = self.launch(stop).await?;
        let supervision = self.supervise(&mut process).await?;
        self.collect(process, supervision).await.map(Some)
    }

    /// Asks the runner for the command and starts it.
    async fn launch(
        &mut self,
        stop: crate::process::StopReceiver,
    ) -> Result<Supervised, ExecutionError> {
        let source = &self.job.source;
        std::fs::create_dir_all(&self.dir).map_err(|source| ExecutionError::CreateDir {
            path: self.dir.clone(),
            source,
        })?;
        let request = ExecutionRequest {
            source: source.info.clone(),
            tests: self.job.tests.clone(),
            attempt: self.job.attempt,
            artifacts_dir: self.dir.clone(),
        };
        let runner = source.runner.clone();
        let plan = tokio::task::spawn_blocking(move || runner.plan_execution(&request))
            .await
            .map_err(|source| ExecutionError::Task {
                what: "planning",
                source,
            })?
            .map_err(ExecutionError::Plan)?;
        let mut command = plan.command;
        source.complete_environment(&mut command);
        // How much of a test's output the host holds, for adapters that
        // report output themselves (the pytest plugin) to send no more.
        let tail_bytes = self.cx.output.tail_bytes.to_string();
        command.env.insert(OUTPUT_TAIL_VARIABLE.into(), tail_bytes);
        let output = match self.live() {
            true => Output::FilesAndLines,
            false => Output::Files,
        };
        let faults = match self.cx.catches_faults {
            true => Faults::Caught,
            false => Faults::Ignored,
        };
        let options = Options {
            drain: self.cx.output.drain,
            log_limit: self.cx.output.log_max_bytes,
            stop: Some(stop),
            ..Options::new(output, faults)
        };
        let process = Supervised::spawn(&command, &self.stdout, &self.stderr, options)
            .map_err(ExecutionError::Spawn)?;
        // After the process, which the run waits for: the listing is only
        // read once the process has ended, and spawning it first held the
        // process's start back by as long as the listing took to start.
        if let (true, Some(listing)) = (self.expanding, &self.job.tests[0].listing) {
            self.listing = Some(self.start_listing(listing));
        }
        self.tracker = Tracker::new(Instant::now(), self.cx.output.tail_bytes);
        self.launched_at = timestamp(chrono::Utc::now()).into();
        self.pid = Some(process.pid());
        let ids: Vec<&str> = self.job.tests.iter().map(|t| t.id.as_str()).collect();
        self.cx.events.emit(RunEvent::ProcessLaunched {
            source: self.source_name(),
            pid: process.pid(),
            attempt: self.job.attempt,
            tests: &ids,
        });
        if let [test] = self.job.tests.as_slice() {
            if !self.live() && !self.expanding {
                self.record_started(&test.id);
            }
        }
        Ok(process)
    }

    /// Follows the process to its end: reads its live output, lets the
    /// subscribers look at faults and hangs, kills it at a deadline or once
    /// a stop's grace period is over.
    async fn supervise(&mut self, process: &mut Supervised) -> Result<Supervision, ExecutionError> {
        let config = &self.job.source.config;
        let limits = Limits {
            test: config.timeout,
            inactivity: config.inactivity_timeout,
        };
        let mut supervision = Supervision::default();
        // Once the run is stopping: when the process is killed.
        let mut grace_until: Option<Instant> = None;
        loop {
            let deadline = self.tracker.deadline(&limits, self.timed_as(), self.live());
            let next_deadline = (deadline.as_ref().map(|(at, _)| *at))
                .into_iter()
                .chain(grace_until)
                .min();
            self.cx.events.flush();
            match process
                .next(next_deadline)
                .await
                .map_err(ExecutionError::Supervise)?
            {
                Event::Output(lines) => self.read_live(lines),
                Event::Exited(_) => break,
                Event::Faulted(fault) => {
                    // Subscribers look at the process as the fault left it.
                    let event = RunEvent::ProcessFaulted {
                        source: self.source_name(),
                        fault: &fault,
                    };
                    self.cx.events.emit(event).answered().await;
                    process.resume(&fault);
                }
                Event::Stop(stop) => {
                    supervision.stopped = supervision.stopped.or(stop.signal());
                    grace_until = process.stop(stop, self.cx.grace).or(grace_until);
                }
                Event::Deadline if grace_until.is_some_and(|at| at <= Instant::now()) => {
                    process.kill().await.map_err(ExecutionError::Supervise)?;
                    break;
                }
                Event::Deadline => {
                    let (_, hang) = deadline.expect("a deadline passed");
                    self.hung(process, &hang).await?;
                    supervision.hang = Some(hang);
                    break;
                }
            }
        }
        // What the process printed before it ended still counts.
        while let Event::Output(lines) = process
            .next(None)
            .await
            .map_err(ExecutionError::Supervise)?
        {
            self.read_live(lines);
            self.cx.events.flush();
        }
        Ok(supervision)
    }

    /// Lets subscribers look at the hung tree while it is still alive,
    /// untraced so that a dumper can attach, then kills it.
    async fn hung(&self, process: &mut Supervised, hang: &Hang) -> Result<(), ExecutionError> {
        let tree = process.tree();
        process.release().await.map_err(ExecutionError::Supervise)?;
        let event = RunEvent::HangDetected {
            source: self.source_name(),
            pid: process.pid(),
            process_tree: &tree,
            reason: &hang.to_string(),
        };
        self.cx.events.emit(event).answered().await;
        process.kill().await.map_err(ExecutionError::Supervise)?;
        Ok(())
    }

    /// Waits for the process's end and asks the runner for its results.
    async fn collect(
        &mut self,
        process: Supervised,
        supervision: Supervision,
    ) -> Result<Ended, ExecutionError> {
        let source = &self.job.source;
        let pid = process.pid();
        let leak = process.leak();
        let leak = (*leak != Default::default()).then(|| leak.to_string());
        let (exit, duration) = process.finish().await.map_err(ExecutionError::Supervise)?;
        tracing::debug!(pid, %exit, ?duration, "process finished");
        self.take_listing().await;
        // Nothing more comes of the process's output: the room its lists
        // grew beyond its tests is given back before its results are read,
        // a large batch's fullest moment.
        self.discovered.shrink_to_fit();
        self.tracker.shrink_to_fit();
        // Discovered tests go only to a runner that reads them.
        let discovered = match source.capabilities.collect_discovered {
            true => self.discovered.items(),
            false => &[],
        };
        let request = CollectRequest {
            source: source.info.clone(),
            tests: self.job.tests.iter().chain(discovered).cloned().collect(),
            attempt: self.job.attempt,
            exit,
            timed_out: supervision.hang.is_some(),
            duration_ms: duration.as_millis() as u64,
            stdout_path: self.stdout.clone(),
            stderr_path: self.stderr.clone(),
            artifacts_dir: self.dir.clone(),
        };
        let (runner, expected) = (source.runner.clone(), self.test_count);
        // Live events may still tell what happened when the runner cannot.
        let (reported, unread) =
            match tokio::task::spawn_blocking(move || runner.collect_results(&request, expected))
                .await
                .map_err(|source| ExecutionError::Task {
                    what: "result",
                    source,
                })? {
                Ok(results) => (Reported::new(results), None),
                Err(e) => (Reported::default(), Some(e.to_string())),
            };
        tracing::debug!(pid, results = reported.len(), "results collected");
        Ok(Ended {
            at: Instant::now(),
            exit,
            duration,
            hang: supervision.hang,
            stopped: supervision.stopped,
            leak,
            pid,
            reported,
            unread,
        })
    }

    /// The process exited by itself before any test began, and its runner
    /// could not read what it did: nothing of it was a test's doing.
    fn never_began(&self, ended: &Ended) -> bool {
        let by_itself =
            ended.exit.signal.is_none() && ended.hang.is_none() && ended.stopped.is_none();
        by_itself && self.tracker.is_empty() && self.discovered.is_empty()
    }

    /// Gives the tests of a process that ended their outcomes, and tells
    /// the subscribers how it ended: a crash first, then the tests whose
    /// end the live output did not show, then the process's end.
    ///
    /// Every outcome is decided before any attempt is made: the runner's
    /// results and the live output's record of the tests are released in
    /// between. Held beside a large batch's attempts, the three were most
    /// of the host's memory as the batch ended.
    fn conclude(&mut self, mut ended: Ended) -> Attributed {
        let pid = ended.pid;
        let (signal, hang, stopped) = (ended.exit.signal, ended.hang.is_some(), ended.stopped);
        let by_host = hang || stopped.is_some();
        let answerable = self.tests_of(&ended);
        let expands = matches!(answerable, Answerable::Discovered { .. });
        // Borrowed, not copied: an expanding case may stand for many
        // thousand tests. Kept below, for the expansion, without the spare
        // room its growth left (up to half of it).
        let mut discovered = std::mem::take(&mut self.discovered).into_items();
        discovered.shrink_to_fit();
        let job = self.job;
        let tests: Vec<&TestCase> = match answerable {
            Answerable::Job => job.tests.iter().collect(),
            Answerable::Discovered { and_case } => (discovered.iter())
                .chain(and_case.then(|| &job.tests[0]))
                .collect(),
        };
        let Judged {
            verdicts,
            unrun,
            mut outside,
        } = self.judge(&tests, &mut ended);
        let crashed = verdicts.iter().any(|v| v.outcome() == Outcome::Crashed);
        if !by_host && (signal.is_some() || crashed) {
            self.cx.events.emit(RunEvent::ProcessCrashed {
                source: self.source_name(),
                pid,
                signal,
            });
        }
        for verdict in verdicts.iter().filter(|v| !v.told_live) {
            self.test_ended(&verdict.test.id, verdict.outcome(), None, false);
        }
        let mut finished = Vec::with_capacity(verdicts.len());
        for mut verdict in Releasing::new(verdicts) {
            let earlier = self.earlier_attempts(&mut verdict, &ended);
            let mut attempt = self.attempt_of(verdict, &ended, RecordKind::Test);
            attempt.record.attempt += earlier.len() as u32;
            finished.extend(earlier);
            finished.push(attempt);
        }
        for attempt in &mut finished {
            attempt.record.leak = ended.leak.as_deref().map(Box::from);
        }
        for attempt in finished.iter_mut().chain(&mut outside) {
            self.complete(attempt);
        }
        self.expanded = expands.then_some(discovered);
        self.process_finished(pid);
        (finished, unrun, outside)
    }

    fn process_finished(&self, pid: u32) {
        self.cx.events.emit(RunEvent::ProcessFinished {
            source: self.source_name(),
            pid,
            attempt: self.job.attempt,
        });
    }

    fn record_started(&self, id: &str) {
        self.cx.events.emit(RunEvent::TestStarted {
            source: self.source_name(),
            test: id,
            attempt: self.job.attempt,
            pid: self.pid,
        });
    }

    /// A test's end, as the live output showed it (`live`) or its process's end.
    fn test_ended(&self, id: &str, outcome: Outcome, message: Option<&str>, live: bool) {
        self.cx.events.emit(RunEvent::TestReported {
            source: self.source_name(),
            test: id,
            attempt: self.job.attempt,
            outcome,
            message,
            pid: self.pid,
            live_in_batch: live && (self.expanding || self.job.tests.len() > 1),
        });
    }

    fn read_live(&mut self, lines: Lines) {
        let (events, request_lines) = self.parse(lines);
        let known = self.test_count;
        let now = Instant::now();
        if !events.is_empty() {
            self.tracker.last_activity = now;
        }
        // Lines between the events are the output of the test running then;
        // without line numbers they cannot be placed and are left out.
        let placed = events.iter().all(|e| e.line().is_some());
        let mut events = events.into_iter().peekable();
        for (index, line) in request_lines.iter().enumerate() {
            let mut is_event = false;
            while let Some(event) = events.next_if(|e| e.line().is_none_or(|l| l <= index)) {
                is_event = true;
                self.apply(event, now);
            }
            if placed && !is_event {
                self.tracker.capture(line);
            }
        }
        for event in events {
            self.apply(event, now);
        }
        if self.expanding && self.test_count != known {
            self.cx.events.emit(RunEvent::CaseExpanding {
                source: self.source_name(),
                case: &self.job.tests[0].id,
                tests: self.test_count,
            });
        }
    }

    /// The runner's events in `lines`, and the lines back. A stream the
    /// runner does not read costs no call.
    fn parse(&mut self, lines: Lines) -> (Vec<LiveEvent>, Vec<String>) {
        let capabilities = &self.job.source.capabilities;
        if !capabilities.live_streams.contains(&lines.stream) {
            return (Vec::new(), lines.lines);
        }
        let stream = self.job.source.output_stream(lines.stream);
        // Parsing lines is quick and comes often: it runs here, not on a
        // blocking thread, whose hand-off would cost more than the call.
        let events = match self.job.source.runner.parse_output(stream, &lines.lines) {
            Ok(events) => events,
            // A plugin that crashed or hung is not asked again line by line.
            Err(e) if e.abandoned() => {
                self.error(e);
                Vec::new()
            }
            // A line cut short (by the process's end, or for its length)
            // is not the runner's to read.
            Err(e) if lines.cut => {
                tracing::debug!("the last line of the output was cut short: {e}");
                Vec::new()
            }
            Err(_) => self.parse_line_by_line(stream, &lines.lines),
        };
        (events, lines.lines)
    }

    /// Reads lines one at a time after the runner could not read them
    /// together: the events of the lines it can read still count, and each
    /// line it cannot read is an error, which fails the source.
    fn parse_line_by_line(&mut self, stream: &OutputStream, lines: &[String]) -> Vec<LiveEvent> {
        let mut events = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let one = std::slice::from_ref(line);
            match self.job.source.runner.parse_output(stream, one) {
                Ok(found) => events.extend(found.into_iter().map(|e| e.at_line(index))),
                Err(e) => self.error(e),
            }
        }
        events
    }

    fn apply(&mut self, event: LiveEvent, now: Instant) {
        match event {
            LiveEvent::Started { id, .. } => {
                self.discover(&id, || TestCase::new(&id));
                self.record_started(&id);
                self.tracker.start(id, now);
            }
            LiveEvent::Finished {
                id,
                outcome,
                message,
                ..
            } => {
                self.discover(&id, || TestCase::new(&id));
                self.test_ended(&id, outcome, message.as_deref(), true);
                self.tracker.finish(id, outcome, message, now);
            }
            LiveEvent::Discovered { test, share_of, .. } => {
                self.share_of = self.share_of.or(share_of);
                let id = test.id.clone();
                self.discover(&id, || test)
            }
        }
    }

    /// Takes the test `id` an expanding case turned out to hold, made by
    /// `test`, unless known: the list's table of ids keeps each event's
    /// look-up constant however many tests the case holds.
    fn discover(&mut self, id: &str, test: impl FnOnce() -> TestCase) {
        if !self.expanding || self.discovered.place(id).is_some() {
            return;
        }
        let test = self.held(test());
        self.discovered.push_new(test);
        self.test_count = self.discovered.len();
    }

    /// A test discovered, as it is held until its process is concluded.
    fn held(&self, mut test: TestCase) -> TestCase {
        if !self.reads_attributes {
            // Held for every test of a batch until it settles, they were a
            // quarter of the host's memory at a large batch's end.
            test.attributes = Default::default();
        }
        test
    }

    /// The tests the process is answerable for: the job's, or, for an
    /// expanding case, the tests it turned out to be. Results may name
    /// tests the live output did not; the case itself stands for its
    /// process only when nothing else was reported.
    fn tests_of(&mut self, ended: &Ended) -> Answerable {
        if !self.expanding {
            return Answerable::Job;
        }
        let case_id = &self.job.tests[0].id;
        let mut reported: Vec<&RunnerResult> = (ended.reported.values())
            .filter(|r| &r.id != case_id)
            .collect();
        reported.sort_by(|a, b| a.id.cmp(&b.id));
        for result in reported {
            self.discover(&result.id, || {
                let mut test =
                    (result.test().cloned()).unwrap_or_else(|| TestCase::new(&result.id));
                test.expands = false;
                test
            });
        }
        let clean = ended.exit.success() && ended.hang.is_none();
        let case_reported = ended.reported.contains(case_id);
        // A clean process that reported nothing had nothing to run.
        let nothing_to_run = clean && !case_reported;
        if self.discovered.is_empty() && !nothing_to_run {
            return Answerable::Job;
        }
        // What failed beside the tests (collection, the command's own
        // exit) the runner reports on the case itself.
        Answerable::Discovered {
            and_case: case_reported,
        }
    }

    /// Decides every one of `tests`, or returns it as unrun, and makes the
    /// failures beside them and the process's own failure known; then
    /// releases the runner's results and the live record of the tests.
    fn judge<'t>(&mut self, tests: &[&'t TestCase], ended: &mut Ended) -> Judged<'t>
    where
        'a: 't,
    {
        self.test_count = tests.len();
        // Sized once: grown by doubling, the verdicts of a large batch
        // would hold a third again of their size.
        let (mut verdicts, mut unrun) = (Vec::with_capacity(tests.len()), Vec::new());
        for &test in tests {
            let reported = ended.reported.remove(&test.id);
            let live = self.tracker.test(&test.id);
            let seen = Seen {
                id: &test.id,
                in_flight: live.is_some_and(LiveTest::in_flight),
                alone: self.answers_alone(test),
                reported: reported.as_ref(),
                live: (live.and_then(|live| live.end.as_ref()))
                    .map(|end| (end.outcome, end.message.as_deref())),
            };
            match outcome::decide(&ended.end(), &seen) {
                Decision::Unrun => unrun.push(test.clone()),
                decision => verdicts.push(self.verdict(test, ended, decision, reported)),
            }
        }
        let mut outside = self.beside(ended);
        self.charge_process_failure(ended, &mut verdicts, &mut outside);
        self.tracker.forget_tests();
        Judged {
            verdicts,
            unrun,
            outside,
        }
    }

    /// The verdict on `test`: `decision`, with what its attempt takes of
    /// the runner's result and of the live output.
    fn verdict<'t>(
        &mut self,
        test: &'t TestCase,
        ended: &Ended,
        decision: Decision,
        reported: Option<TestResult>,
    ) -> Verdict<'t> {
        let live = self.tracker.test(&test.id);
        let told_live = live.is_some_and(|live| live.end.is_some());
        let mut duration = self.span(test, live, ended);
        let (mut details, mut output) = (None, None);
        if let (Decision::Reported { .. }, Some(result)) = (&decision, reported) {
            if let Some(ms) = result.duration_ms {
                duration = Duration::from_millis(ms);
            }
            if result.stack_trace.is_some()
                || !result.subtests.is_empty()
                || !result.earlier_runs.is_empty()
            {
                details = Some(Box::new(ResultDetails {
                    stack_trace: result.stack_trace,
                    subtests: result.subtests,
                    earlier_runs: result.earlier_runs,
                }));
            }
            output = result.output;
        }
        // What the live stream caught between the test's start and end,
        // only when the runner cannot tell: the stream's two pipes are read
        // apart, so a line of the process's own printed about then may be
        // caught too (pytest's "collected ..." line).
        if output.is_none() {
            output = self.tracker.take_captured(&test.id).map(Tail::into_string);
        }
        Verdict {
            test,
            decision,
            details,
            output,
            duration,
            told_live,
        }
    }

    /// Whether the process answers for `test` as for a test it ran alone.
    /// Timed as one test, it does; a share that held one test ran more than
    /// it (its collection, its session's end), which is not that test's
    /// doing. An expanding case judged by itself told of no test: it
    /// stands for its process, and run again it would tell no more.
    fn answers_alone(&self, test: &TestCase) -> bool {
        self.timed_as() == 1 || (test.expands && self.test_count == 1)
    }

    /// How long a test of this process ran: the process's time when it
    /// answers for the test alone, else the test's own span as the live
    /// output showed it.
    fn span(&self, test: &TestCase, live: Option<&LiveTest>, ended: &Ended) -> Duration {
        if self.answers_alone(test) {
            return ended.duration;
        }
        match live {
            Some(LiveTest { end: Some(end), .. }) => end.span,
            Some(LiveTest {
                started: Some(started),
                ..
            }) => ended.at - *started,
            _ => Duration::ZERO,
        }
    }

    /// The attempt a verdict makes of its test, as a record of `kind`.
    fn attempt_of(&self, verdict: Verdict, ended: &Ended, kind: RecordKind) -> TestAttempt {
        let (outcome, message, host_details) = match verdict.decision {
            Decision::Reported { outcome, message } | Decision::Live { outcome, message } => {
                (outcome, message, false)
            }
            Decision::Host {
                outcome,
                message,
                details,
            } => (outcome, Some(message), details),
            Decision::Unrun => unreachable!("an unrun test has no attempt"),
        };
        let mut attempt = self.attempt(
            (verdict.test, kind),
            Some(ended),
            outcome,
            message,
            verdict.duration,
        );
        if let Some(details) = verdict.details {
            attempt.record.stack_trace = details.stack_trace.map(Box::from);
            attempt.record.subtests = details.subtests.into();
        }
        if host_details {
            attempt.record.stack_trace = self.output_tail().map(Box::from);
        }
        attempt.output = verdict.output;
        attempt
    }

    /// The attempts of the runs of a verdict's test that its framework
    /// repeated in the process, taken from the verdict, numbered from the
    /// job's: the verdict's own comes after them.
    fn earlier_attempts(&mut self, verdict: &mut Verdict, ended: &Ended) -> Vec<TestAttempt> {
        let Some(details) = verdict.details.as_mut() else {
            return Vec::new();
        };
        let mut runs = std::mem::take(&mut details.earlier_runs);
        if runs.len() > MAX_EARLIER_RUNS {
            let left_out = runs.len() - MAX_EARLIER_RUNS;
            runs.drain(..left_out);
            let test = &verdict.test.id;
            self.warnings.push(self.of_source(format_args!(
                "the runner reported {} runs of `{test}` before its last; the earliest \
                 {left_out} are left out, {MAX_EARLIER_RUNS} kept",
                left_out + MAX_EARLIER_RUNS
            )));
        }
        (runs.into_iter().zip(0..))
            .map(|(run, n)| {
                let duration = Duration::from_millis(run.duration_ms.unwrap_or_default());
                let test = (verdict.test, RecordKind::Test);
                let mut attempt =
                    self.attempt(test, Some(ended), run.outcome, run.message, duration);
                attempt.record.attempt += n;
                attempt.record.stack_trace = run.stack_trace.map(Box::from);
                attempt.ran_again = true;
                attempt
            })
            .collect()
    }

    /// What the runner reported beside the tests it was given: a failure
    /// outside them is a record of its own; anything else is no concern.
    fn beside(&mut self, ended: &mut Ended) -> Vec<TestAttempt> {
        let mut beside: Vec<TestResult> = ended.reported.drain().collect();
        beside.sort_by(|a, b| a.id.cmp(&b.id));
        (beside.into_iter())
            .filter(|result| result.outcome.is_failure())
            .map(|result| {
                let test = (result.test.clone()).unwrap_or_else(|| TestCase::new(&result.id));
                let (outcome, message) = outcome::reported(&result);
                let decision = Decision::Reported { outcome, message };
                let verdict = self.verdict(&test, ended, decision, Some(result));
                self.attempt_of(verdict, ended, RecordKind::Suite)
            })
            .collect()
    }

    /// Charges a process's own failure, when [`outcome::charge`] finds one,
    /// to the test it ran alone, the case that stood for its tests, or else
    /// a record of the process's own, with the last lines it printed.
    fn charge_process_failure<'t>(
        &mut self,
        ended: &Ended,
        verdicts: &mut Vec<Verdict<'t>>,
        outside: &mut Vec<TestAttempt>,
    ) where
        'a: 't,
    {
        let accounted = verdicts.iter().any(|v| v.outcome().is_failure())
            || outside.iter().any(|a| a.record.outcome.is_failure());
        let leak_action = self.job.source.config.leak;
        let Some((outcome, message)) =
            outcome::charge(&ended.end(), leak_action, verdicts.len(), accounted)
        else {
            return;
        };
        let decision = Decision::Host {
            outcome,
            message,
            details: true,
        };
        let job: &'a Job = self.job;
        let alone = match job.tests.as_slice() {
            [one] => verdicts.iter().position(|v| v.test.id == one.id),
            _ => None,
        };
        // An expanding case stands for its process, unless its tests were
        // listed: then its process is a batch of them, as if listed first.
        let case_is_process = self.expanding && job.tests[0].listing.is_none();
        match (alone, case_is_process) {
            (Some(i), _) => verdicts[i].decision = decision,
            (None, true) => {
                let verdict = self.verdict(&job.tests[0], ended, decision, None);
                verdicts.push(verdict);
            }
            (None, false) => {
                let test = TestCase::new(PROCESS_RECORD);
                let verdict = self.verdict(&test, ended, decision, None);
                outside.push(self.attempt_of(verdict, ended, RecordKind::Process));
            }
        }
    }

    /// Completes an attempt: the message of a failure that came without
    /// one, and, for what needs looking into, its own directory.
    fn complete(&self, attempt: &mut TestAttempt) {
        // An empty output is a runner's word that the test printed nothing.
        let printed = attempt
            .output
            .as_deref()
            .filter(|output| !output.is_empty());
        let record = &mut attempt.record;
        if record.message.is_none() && record.outcome.is_failure() {
            record.message = printed.map(|output| excerpt(output).into());
        }
        // A passing test in a batch has nothing there but what its process shares.
        if record.outcome != Outcome::Passed {
            record.place(self.source_name(), &attempt.test.id);
            self.keep_output(record, printed);
        }
        // What the runner reported may be any size: its end is all that
        // is held until the attempt is judged.
        let tail_bytes = self.cx.output.tail_bytes;
        attempt.output =
            (attempt.output.take()).map(|output| Tail::of(output, tail_bytes).into_string());
    }

    /// The last lines the process printed, beside the runner's own events:
    /// the details of a failure the host made out itself.
    fn output_tail(&self) -> Option<String> {
        crate::process::blocking(|| {
            tail::describe(&self.dir, |lines, stream| {
                self.protocol_lines(lines, stream)
            })
        })
    }

    /// Which of `lines` the runner reads as its own events: they say nothing
    /// of why a process failed.
    fn protocol_lines(&self, lines: &[String], stream: Stream) -> Vec<usize> {
        if !self.live() {
            return Vec::new();
        }
        let stream = self.job.source.output_stream(stream);
        match self.job.source.runner.parse_output(stream, lines) {
            Ok(events) => events.iter().filter_map(LiveEvent::line).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Creates the attempt's directory, with the test's own output in it.
    fn keep_output(&self, record: &mut AttemptRecord, output: Option<&str>) {
        let results = &self.cx.results;
        let dir = results.root().join(&record.dir);
        let path = dir.join("output.log");
        let limit = self.cx.output.log_max_bytes;
        let kept = std::fs::create_dir_all(&dir).and_then(|()| match output {
            Some(output) => {
                crate::process::blocking(|| write_log(&path, output, limit)).map(|()| true)
            }
            None => Ok(false),
        });
        match kept {
            Ok(true) => record.output = Some(results.relative(&path).into()),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
        }
    }

    /// An attempt record; `ended` is `None` when no process ran. Its
    /// directory is named when something is put there, or else when the
    /// attempt is recorded.
    fn attempt(
        &self,
        (test, kind): (&TestCase, RecordKind),
        ended: Option<&Ended>,
        outcome: Outcome,
        message: Option<String>,
        duration: Duration,
    ) -> TestAttempt {
        TestAttempt {
            test: TestName::of(test, kind),
            kind,
            record: Box::new(AttemptRecord {
                attempt: self.job.attempt,
                outcome,
                started_at: self.launched_at.clone(),
                duration_ms: duration.as_millis() as u64,
                message: message.map(Box::from),
                stack_trace: None,
                pid: ended.map(|e| e.pid),
                exit_code: ended.and_then(|e| e.exit.code),
                signal: ended.and_then(|e| e.exit.signal),
                dir: String::new(),
                stdout: ended.map(|_| self.logs.0.clone()),
                stderr: ended.map(|_| self.logs.1.clone()),
                output: None,
                subtests: Box::default(),
                leak: None,
                process: ended.and(self.process.clone()),
            }),
            output: None,
            ran_again: false,
        }
    }

    /// Every test blocked by `error`, which is kept: something other than
    /// the tests failed.
    fn blocked_by(&mut self, error: impl std::fmt::Display) -> Attributed {
        let error = self.of_source(error);
        let blocked = (self.job.tests.iter())
            .map(|test| {
                let blocked = Some(error.clone());
                let test = (test, RecordKind::Test);
                self.attempt(test, None, Outcome::Blocked, blocked, Duration::ZERO)
            })
            .collect();
        self.errors.push(error);
        (blocked, Vec::new(), Vec::new())
    }
}
