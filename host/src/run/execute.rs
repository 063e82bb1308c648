//! One process running one or more tests: plan, launch, supervise, collect,
//! and attribute every test an outcome, or hand it back to run again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proctor_plugin_api::messages::*;

use super::{tail, PreparedSource};
use crate::config::LeakAction;
use crate::events::{Events, RunEvent};
use crate::process::{Event, Faults, Lines, Options, Output, Signal, Stop, Stopper, Supervised};
use crate::results::{AttemptRecord, RecordKind, ResultsDir};

/// What the executions of a run share.
pub struct Context {
    pub results: Arc<ResultsDir>,
    pub events: Arc<Events>,
    /// Whether test processes are caught at faults, for the collectors.
    pub catches_faults: bool,
    pub stopper: Stopper,
    /// After a stop signal, how long a process has to end before it is killed.
    pub grace: Duration,
    /// How long a process's output may drain after it ended.
    pub drain: Duration,
    next_process: AtomicU64,
}

impl Context {
    pub fn new(
        results: Arc<ResultsDir>,
        events: Arc<Events>,
        catches_faults: bool,
        stopper: Stopper,
        (grace, drain): (Duration, Duration),
    ) -> Self {
        Self {
            results,
            events,
            catches_faults,
            stopper,
            grace,
            drain,
            next_process: AtomicU64::new(1),
        }
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
    pub test: TestCase,
    /// A test, or a failure beside the tests ([`RecordKind`]).
    pub kind: RecordKind,
    pub record: AttemptRecord,
    /// What the test printed, for retry rules on output.
    pub output: Option<String>,
}

/// The tests an expanding case turned out to be; they take its place.
pub struct Expansion {
    pub case: String,
    pub tests: Vec<TestCase>,
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

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The first lines of a test's output, as the message of a failure that came without one.
fn excerpt(output: &str) -> String {
    const LINES: usize = 20;
    let mut lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > LINES {
        lines.truncate(LINES);
        lines.push("...");
    }
    lines.join("\n")
}

/// Whether a later result of a test replaces the one kept. A test that ran
/// twice under one name failed if either run did: a pass never hides a
/// failure.
fn replaces(kept: Option<Outcome>, later: Outcome) -> bool {
    kept.is_none_or(|kept| !kept.is_failure() || later.is_failure())
}

/// Results by test id; a test reported twice keeps what [`replaces`] says.
fn by_id(results: Vec<TestResult>) -> HashMap<String, TestResult> {
    let mut by_id: HashMap<String, TestResult> = HashMap::with_capacity(results.len());
    for result in results {
        if replaces(by_id.get(&result.id).map(|r| r.outcome), result.outcome) {
            by_id.insert(result.id.clone(), result);
        }
    }
    by_id
}

/// Why the host killed a process.
#[derive(Debug, Clone)]
enum Hang {
    TestTimeout { test: String, limit: Duration },
    ProcessTimeout(Duration),
    Inactivity(Duration),
}

impl std::fmt::Display for Hang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hang::TestTimeout { test, limit } => {
                write!(f, "`{test}` ran past its timeout of {limit:?}")
            }
            Hang::ProcessTimeout(limit) => write!(f, "the process ran past {limit:?}"),
            Hang::Inactivity(limit) => {
                write!(f, "no test started or finished for {limit:?}")
            }
        }
    }
}

/// The most output kept for one test from the live stream.
const MAX_CAPTURED: usize = 1 << 20;

/// What the live output said so far.
struct Tracker {
    launched: Instant,
    last_activity: Instant,
    started: HashMap<String, Instant>,
    finished: HashMap<String, (Outcome, Option<String>, Duration)>,
    /// Started and not finished: kept apart, since it is asked after every
    /// line and a batch's `started` grows to all its tests.
    running: HashMap<String, Instant>,
    /// Lines printed while exactly one test ran, by test: its own output,
    /// for when the runner's results do not have it.
    captured: HashMap<String, String>,
}

impl Tracker {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            launched: now,
            last_activity: now,
            started: HashMap::new(),
            finished: HashMap::new(),
            running: HashMap::new(),
            captured: HashMap::new(),
        }
    }

    /// Keeps `line` as output of the one test running, if only one is.
    fn capture(&mut self, line: &str) {
        let mut running = self.in_flight().map(|(id, _)| id.clone());
        let (Some(id), None) = (running.next(), running.next()) else {
            return;
        };
        drop(running);
        let output = self.captured.entry(id).or_default();
        if output.len() + line.len() < MAX_CAPTURED {
            output.push_str(line);
            output.push('\n');
        }
    }

    fn in_flight(&self) -> impl Iterator<Item = (&String, &Instant)> {
        self.running.iter()
    }

    fn start(&mut self, id: String, now: Instant) {
        if !self.finished.contains_key(&id) {
            self.running.insert(id.clone(), now);
        }
        self.started.insert(id, now);
    }

    fn finish(&mut self, id: String, outcome: Outcome, message: Option<String>, now: Instant) {
        self.running.remove(&id);
        let began = self.started.get(&id).copied().unwrap_or(now);
        if replaces(self.finished.get(&id).map(|(kept, ..)| *kept), outcome) {
            self.finished.insert(id, (outcome, message, now - began));
        }
    }

    /// When the process counts as hung, and why.
    fn deadline(&self, limits: &Limits, tests: usize, live: bool) -> Option<(Instant, Hang)> {
        let mut candidates: Vec<(Instant, Hang)> = Vec::new();
        if tests == 1 || !live {
            // Nothing tells one test's time from another's: the process gets them all.
            if let Some(limit) = limits.test {
                let total = limit * tests as u32;
                candidates.push((self.launched + total, Hang::ProcessTimeout(total)));
            }
        } else {
            if let Some(limit) = limits.test {
                candidates.extend(self.in_flight().map(|(id, started)| {
                    let hang = Hang::TestTimeout {
                        test: id.clone(),
                        limit,
                    };
                    (*started + limit, hang)
                }));
            }
            if let Some(limit) = limits.inactivity.or(limits.test) {
                candidates.push((self.last_activity + limit, Hang::Inactivity(limit)));
            }
        }
        candidates.into_iter().min_by_key(|(at, _)| *at)
    }
}

struct Limits {
    test: Option<Duration>,
    inactivity: Option<Duration>,
}

/// Runs a job's tests in one process.
pub async fn execute(job: Job, cx: &Context) -> JobOutcome {
    let mut execution = Execution::new(&job, cx);
    let mut warnings = Vec::new();
    let (finished, unrun, outside) = match execution.run().await {
        // The run is stopping: nothing starts any more.
        Ok(None) => (Vec::new(), job.tests.clone(), Vec::new()),
        Ok(Some(ended)) => {
            let (pid, signal) = (ended.pid, ended.exit.signal);
            let ended_by_host = ended.hang.is_some() || ended.stopped.is_some();
            if let Some(leak) = &ended.leak {
                warnings.push(format!(
                    "source `{}`: the process {pid} ({}): {leak}",
                    execution.source_name(),
                    execution.dir_name()
                ));
            }
            let (finished, unrun, outside) = execution.attribute(ended);
            let crashed = finished
                .iter()
                .any(|t| t.record.outcome == Outcome::Crashed);
            if !ended_by_host && (signal.is_some() || crashed) {
                cx.events.emit(RunEvent::ProcessCrashed {
                    source: execution.source_name(),
                    pid,
                    signal,
                });
            }
            // Tests the live output did not see end are known to end now.
            for test in &finished {
                if !execution.tracker.finished.contains_key(&test.test.id) {
                    execution.test_ended(&test.test.id, test.record.outcome, None, false);
                }
            }
            cx.events.emit(RunEvent::ProcessFinished {
                source: execution.source_name(),
                pid,
                attempt: job.attempt,
            });
            (finished, unrun, outside)
        }
        Err(error) => {
            let error = format!("source `{}`: {error}", execution.source_name());
            let blocked = execution.all_blocked(&error);
            execution.errors.push(error);
            (blocked, Vec::new(), Vec::new())
        }
    };
    let expanded = execution.expanded.then(|| Expansion {
        case: job.tests[0].id.clone(),
        tests: std::mem::take(&mut execution.discovered),
    });
    let errors = execution.errors();
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
    reported: HashMap<String, TestResult>,
}

struct Execution<'a> {
    job: &'a Job,
    cx: &'a Context,
    /// The job is one case that expands into the tests its process reports.
    expanding: bool,
    /// The tests an expanding case turned out to be, as they became known.
    discovered: Vec<TestCase>,
    /// Once the process ended: `discovered` takes the expanding case's place.
    expanded: bool,
    /// The number of tests the process runs, as far as known.
    test_count: usize,
    /// Where the process's output and the runner's files go.
    dir: std::path::PathBuf,
    tracker: Tracker,
    /// When the process started (RFC 3339).
    launched_at: String,
    /// The process, once launched.
    pid: Option<u32>,
    /// Infrastructure errors, the first [`MAX_ERRORS`] of them.
    errors: Vec<String>,
    /// Errors beyond those kept.
    errors_dropped: usize,
}

impl<'a> Execution<'a> {
    fn new(job: &'a Job, cx: &'a Context) -> Self {
        let name = job.source.config.name.as_str();
        let expanding = matches!(job.tests.as_slice(), [case] if case.expands);
        let dir = match job.tests.as_slice() {
            // A test alone keeps the process's files in its attempt directory.
            [test] if !expanding => cx.results.attempt_dir(name, &test.id, job.attempt),
            _ => {
                let number = cx.next_process.fetch_add(1, Ordering::Relaxed);
                cx.results.process_dir(name, job.attempt, number)
            }
        };
        Self {
            job,
            cx,
            expanding,
            discovered: Vec::new(),
            expanded: false,
            test_count: if expanding { 1 } else { job.tests.len() },
            dir,
            tracker: Tracker::new(),
            launched_at: now(),
            pid: None,
            errors: Vec::new(),
            errors_dropped: 0,
        }
    }

    /// Keeps an infrastructure error of this process; they fail its source.
    fn error(&mut self, error: impl std::fmt::Display) {
        match self.errors.len() < MAX_ERRORS {
            true => self
                .errors
                .push(format!("source `{}`: {error}", self.source_name())),
            false => self.errors_dropped += 1,
        }
    }

    /// The errors kept, the last one saying how many more there were.
    fn errors(&mut self) -> Vec<String> {
        let mut errors = std::mem::take(&mut self.errors);
        if self.errors_dropped > 0 {
            errors.push(format!(
                "source `{}`: {} more errors of the same process",
                self.source_name(),
                self.errors_dropped
            ));
        }
        errors
    }

    fn source_name(&self) -> &str {
        &self.job.source.config.name
    }

    /// The process's directory, relative to the results directory.
    fn dir_name(&self) -> String {
        self.cx.results.relative(&self.dir)
    }

    fn live(&self) -> bool {
        self.job.source.capabilities.live_events
    }

    /// Runs the process to its end; answers `None` without starting it
    /// when the run is stopping.
    async fn run(&mut self) -> Result<Option<Ended>, String> {
        let source = &self.job.source;
        // Subscribed first, so that no request is missed after the check.
        let stop = self.cx.stopper.subscribe();
        if stop.state() != Stop::Running {
            return Ok(None);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let request = ExecutionRequest {
            source: source.info.clone(),
            tests: self.job.tests.clone(),
            attempt: self.job.attempt,
            artifacts_dir: self.dir.clone(),
        };
        let runner = source.runner.clone();
        let plan = tokio::task::spawn_blocking(move || runner.plan_execution(&request))
            .await
            .map_err(|e| format!("planning task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let mut command = plan.command;
        source.complete_environment(&mut command);

        let output = if self.live() {
            Output::FilesAndLines
        } else {
            Output::Files
        };
        let (stdout, stderr) = (self.dir.join("stdout.log"), self.dir.join("stderr.log"));
        let faults = if self.cx.catches_faults {
            Faults::Caught
        } else {
            Faults::Ignored
        };
        let options = Options {
            drain: self.cx.drain,
            stop: Some(stop),
            ..Options::new(output, faults)
        };
        let mut process =
            Supervised::spawn(&command, &stdout, &stderr, options).map_err(|e| e.to_string())?;
        self.tracker = Tracker::new();
        self.launched_at = now();
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

        let limits = Limits {
            test: source.config.timeout,
            inactivity: source.config.inactivity_timeout,
        };
        let mut hang = None;
        let mut stopped = None;
        // Once the run is stopping: when the process is killed.
        let mut grace_until: Option<Instant> = None;
        loop {
            let deadline = self.tracker.deadline(&limits, self.test_count, self.live());
            let next_deadline = (deadline.as_ref().map(|(at, _)| *at))
                .into_iter()
                .chain(grace_until)
                .min();
            match process
                .next(next_deadline)
                .await
                .map_err(|e| e.to_string())?
            {
                Event::Output(lines) => self.read_live(lines),
                Event::Exited(_) => break,
                Event::Faulted(fault) => {
                    // Collectors look at the process as the fault left it.
                    let event = RunEvent::ProcessFaulted {
                        source: self.source_name(),
                        fault: &fault,
                    };
                    self.cx.events.emit(event).answered().await;
                    process.resume(&fault);
                }
                Event::Stop(stop) => {
                    stopped = stopped.or(stop.signal());
                    grace_until = process.stop(stop, self.cx.grace).or(grace_until);
                }
                Event::Deadline if grace_until.is_some_and(|at| at <= Instant::now()) => {
                    process.kill().await.map_err(|e| e.to_string())?;
                    break;
                }
                Event::Deadline => {
                    let (_, reason) = deadline.expect("a deadline passed");
                    let tree = process.tree();
                    // Collectors look at the hung tree while it is still
                    // alive, untraced so that a dumper can attach.
                    process.release().await.map_err(|e| e.to_string())?;
                    let event = RunEvent::HangDetected {
                        source: self.source_name(),
                        pid: process.pid(),
                        process_tree: &tree,
                        reason: &reason.to_string(),
                    };
                    self.cx.events.emit(event).answered().await;
                    process.kill().await.map_err(|e| e.to_string())?;
                    hang = Some(reason);
                    break;
                }
            }
        }
        // What the process printed before it ended still counts.
        while let Event::Output(lines) = process.next(None).await.map_err(|e| e.to_string())? {
            self.read_live(lines);
        }
        let pid = process.pid();
        let leak = process.leak();
        let leak = (*leak != Default::default()).then(|| leak.to_string());
        let (exit, duration) = process.finish().await.map_err(|e| e.to_string())?;
        tracing::debug!(pid, %exit, ?duration, "process finished");

        let request = CollectRequest {
            source: source.info.clone(),
            tests: self
                .job
                .tests
                .iter()
                .chain(&self.discovered)
                .cloned()
                .collect(),
            attempt: self.job.attempt,
            exit,
            timed_out: hang.is_some(),
            duration_ms: duration.as_millis() as u64,
            stdout_path: stdout,
            stderr_path: stderr,
            artifacts_dir: self.dir.clone(),
        };
        let runner = source.runner.clone();
        let reported = match tokio::task::spawn_blocking(move || runner.collect_results(&request))
            .await
            .map_err(|e| format!("result task failed: {e}"))?
        {
            Ok(results) => by_id(results),
            Err(e) => {
                // Live events may still tell what happened; the error is kept.
                self.error(e);
                HashMap::new()
            }
        };
        tracing::debug!(pid, results = reported.len(), "results collected");
        Ok(Some(Ended {
            at: Instant::now(),
            exit,
            duration,
            hang,
            stopped,
            leak,
            pid,
            reported,
        }))
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
        let request = OutputRequest {
            source: self.job.source.info.clone(),
            stream: lines.stream,
            lines: lines.lines,
        };
        // Parsing lines is quick and comes often: it runs here, not on a
        // blocking thread, whose hand-off would cost more than the call.
        let events = match self.job.source.runner.parse_output(&request) {
            Ok(events) => events,
            // The last line of a process cut off while writing it is not
            // the runner's to read.
            Err(e) if lines.unterminated => {
                tracing::debug!("the last line of the output was cut off: {e}");
                Vec::new()
            }
            Err(_) => self.parse_line_by_line(&request),
        };
        let request_lines = request.lines;
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
    }

    /// Reads lines one at a time after the runner could not read them
    /// together: the events of the lines it can read still count, and each
    /// line it cannot read is an error, which fails the source.
    fn parse_line_by_line(&mut self, request: &OutputRequest) -> Vec<LiveEvent> {
        let mut events = Vec::new();
        for (index, line) in request.lines.iter().enumerate() {
            let one = OutputRequest {
                source: request.source.clone(),
                stream: request.stream,
                lines: vec![line.clone()],
            };
            match self.job.source.runner.parse_output(&one) {
                Ok(found) => events.extend(found.into_iter().map(|e| e.at_line(index))),
                Err(e) => self.error(e),
            }
        }
        events
    }

    fn apply(&mut self, event: LiveEvent, now: Instant) {
        match event {
            LiveEvent::Started { id, .. } => {
                self.discover(|| TestCase::new(&id));
                self.record_started(&id);
                self.tracker.start(id, now);
            }
            LiveEvent::Finished {
                id,
                outcome,
                message,
                ..
            } => {
                self.discover(|| TestCase::new(&id));
                self.test_ended(&id, outcome, message.as_deref(), true);
                self.tracker.finish(id, outcome, message, now);
            }
            LiveEvent::Discovered { test, .. } => self.discover(|| test),
        }
    }

    /// Takes a test an expanding case turned out to hold, unless known.
    fn discover(&mut self, test: impl FnOnce() -> TestCase) {
        if !self.expanding {
            return;
        }
        let test = test();
        if !self.discovered.iter().any(|known| known.id == test.id) {
            self.discovered.push(test);
            self.test_count = self.discovered.len();
        }
    }

    /// Gives every test an outcome, or returns it as unrun; answers the
    /// failures beside the tests too.
    fn attribute(
        &mut self,
        mut ended: Ended,
    ) -> (Vec<TestAttempt>, Vec<TestCase>, Vec<TestAttempt>) {
        let tests = if self.expanding {
            // Results may name tests the live output did not; the case itself
            // stands for its process only when nothing else was reported.
            let case_id = &self.job.tests[0].id;
            let mut reported: Vec<&TestResult> = ended
                .reported
                .values()
                .filter(|r| &r.id != case_id)
                .collect();
            reported.sort_by(|a, b| a.id.cmp(&b.id));
            let found: Vec<TestCase> = reported
                .into_iter()
                .map(|r| r.test.clone().unwrap_or_else(|| TestCase::new(&r.id)))
                .collect();
            for mut test in found {
                test.expands = false;
                self.discover(|| test);
            }
            let clean = ended.exit.success() && ended.hang.is_none();
            let case_reported = ended.reported.contains_key(case_id);
            if !self.discovered.is_empty() || (clean && !case_reported) {
                // A clean process that reported nothing had nothing to run.
                self.expanded = true;
                let mut tests = self.discovered.clone();
                // What failed beside the tests (collection, the command's
                // own exit) the runner reports on the case itself.
                if case_reported {
                    tests.push(self.job.tests[0].clone());
                }
                tests
            } else {
                self.job.tests.clone()
            }
        } else {
            self.job.tests.clone()
        };
        self.test_count = tests.len();
        let alone = tests.len() == 1;
        let mut finished = Vec::new();
        let mut unrun = Vec::new();
        for test in &tests {
            let in_flight = self.tracker.running.contains_key(&test.id);
            let reported = ended.reported.remove(&test.id);
            let live = self.tracker.finished.get(&test.id);
            let attempt = match (&ended.hang, ended.stopped, reported, live) {
                // The host's observations outrank what the runner read.
                (Some(hang), _, _, _) if in_flight || alone => self.attempt(
                    test,
                    Some(&ended),
                    Outcome::TimedOut,
                    Some(format!("timed out: {hang}")),
                ),
                (_, _, Some(result), _) => self.reported(test, &ended, result),
                (_, _, None, Some((outcome, message, _))) => {
                    self.attempt(test, Some(&ended), *outcome, message.clone())
                }
                (None, Some(signal), None, None) if in_flight || alone => {
                    let when = if in_flight {
                        "while this test ran"
                    } else {
                        "before this test reported a result"
                    };
                    let message =
                        format!("not run to its end: the run was stopped by {signal} {when}");
                    self.attempt(test, Some(&ended), Outcome::NotRun, Some(message))
                }
                (None, None, None, None) if in_flight || alone => {
                    let exit = ended.exit;
                    let (outcome, message) = match (exit.signal, in_flight) {
                        (Some(_), true) => (
                            Outcome::Crashed,
                            format!("the process died of {exit} while this test ran"),
                        ),
                        (Some(_), false) => {
                            (Outcome::Crashed, format!("the process died of {exit}"))
                        }
                        (None, true) => (
                            Outcome::Crashed,
                            format!("the process ended ({exit}) while this test ran"),
                        ),
                        (None, false) => (
                            Outcome::Failed,
                            format!("the runner reported no result ({exit})"),
                        ),
                    };
                    let mut attempt = self.attempt(test, Some(&ended), outcome, Some(message));
                    attempt.record.stack_trace = self.output_tail();
                    attempt
                }
                _ => {
                    unrun.push(test.clone());
                    continue;
                }
            };
            finished.push(attempt);
        }
        // What the runner reported beside the tests it was given: a failure
        // outside them is a record of its own; anything else is no concern.
        let mut beside: Vec<TestResult> = ended.reported.drain().map(|(_, r)| r).collect();
        beside.sort_by(|a, b| a.id.cmp(&b.id));
        let mut outside: Vec<TestAttempt> = beside
            .into_iter()
            .filter(|result| result.outcome.is_failure())
            .map(|result| {
                let test = result
                    .test
                    .clone()
                    .unwrap_or_else(|| TestCase::new(&result.id));
                let mut attempt = self.reported(&test, &ended, result);
                attempt.kind = RecordKind::Suite;
                attempt
            })
            .collect();
        for attempt in &mut finished {
            attempt.record.leak = ended.leak.clone();
        }
        self.charge_process_failure(&ended, &mut finished, &mut outside);
        for attempt in finished.iter_mut().chain(&mut outside) {
            // What the live stream showed between the test's start and end.
            if attempt.output.is_none() {
                attempt.output = self.tracker.captured.remove(&attempt.test.id);
            }
            let record = &mut attempt.record;
            if record.message.is_none() && record.outcome.is_failure() {
                record.message = attempt.output.as_deref().map(excerpt);
            }
            // What needs looking into gets its directory; a passing test in
            // a batch has nothing there but what its process shares.
            if record.outcome != Outcome::Passed {
                self.keep_output(&mut attempt.record, attempt.output.as_deref());
            }
        }
        (finished, unrun, outside)
    }

    /// The attempt of a test as its runner reported it. A failing subtest
    /// fails its test, whatever the runner made of it.
    fn reported(&self, test: &TestCase, ended: &Ended, result: TestResult) -> TestAttempt {
        let failed_subtests: Vec<&SubtestResult> = result
            .subtests
            .iter()
            .filter(|s| s.outcome.is_failure())
            .collect();
        let (outcome, message) = match (result.outcome, failed_subtests.as_slice()) {
            (Outcome::Passed | Outcome::Skipped, [first, ..]) => (
                Outcome::Failed,
                Some(format!(
                    "{} of its subtests failed, first {}: {}",
                    failed_subtests.len(),
                    first.name,
                    first.message.as_deref().unwrap_or("no message")
                )),
            ),
            (outcome, _) => (outcome, result.message),
        };
        let mut attempt = self.attempt(test, Some(ended), outcome, message);
        attempt.record.stack_trace = result.stack_trace;
        attempt.record.subtests = result.subtests;
        if let Some(ms) = result.duration_ms {
            attempt.record.duration_ms = ms;
        }
        attempt.output = result.output;
        attempt
    }

    /// A process that failed (a non-zero exit, a signal, a hang) while no
    /// test it reported failed fails all the same: the test it ran alone,
    /// the case that stood for it, or else a record of the process's own,
    /// with how it ended and the last lines it printed. A process that
    /// reported no test leaves its tests to run again in a fresh one, whose
    /// results decide. A process the host signalled to stop the run is not
    /// charged; one that left descendants running is, with `leak: fail`.
    fn charge_process_failure(
        &self,
        ended: &Ended,
        finished: &mut Vec<TestAttempt>,
        outside: &mut Vec<TestAttempt>,
    ) {
        let accounted = finished
            .iter()
            .chain(outside.iter())
            .any(|a| a.record.outcome.is_failure());
        if accounted || finished.is_empty() || ended.stopped.is_some() {
            return;
        }
        let (outcome, how) = match (&ended.hang, ended.exit.signal) {
            (Some(hang), _) => (Outcome::TimedOut, format!("was killed: {hang}")),
            (None, Some(_)) => (Outcome::Crashed, format!("ended with {}", ended.exit)),
            (None, None) if !ended.exit.success() => {
                (Outcome::Failed, format!("ended with {}", ended.exit))
            }
            (None, None) => match (&ended.leak, self.job.source.config.leak) {
                (Some(leak), LeakAction::Fail) => {
                    (Outcome::Failed, format!("left processes behind ({leak})"))
                }
                _ => return,
            },
        };
        let message = match finished.len() {
            1 => format!("the process {how} after the test passed"),
            n => format!("the process {how} after its {n} tests passed or were skipped"),
        };
        let details = self.output_tail();
        // A job of one test, or of one case standing for its process's tests.
        let alone = match self.job.tests.as_slice() {
            [one] => finished.iter().position(|a| a.test.id == one.id),
            _ => None,
        };
        let attempt = match (alone, self.expanding) {
            (Some(i), _) => &mut finished[i],
            (None, true) => {
                finished.push(self.attempt(&self.job.tests[0], Some(ended), outcome, None));
                finished.last_mut().expect("just pushed")
            }
            (None, false) => {
                let test = TestCase::new(PROCESS_RECORD);
                let mut attempt = self.attempt(&test, Some(ended), outcome, None);
                attempt.kind = RecordKind::Process;
                outside.push(attempt);
                outside.last_mut().expect("just pushed")
            }
        };
        attempt.record.outcome = outcome;
        attempt.record.message = Some(message);
        attempt.record.stack_trace = details;
    }

    /// The last lines the process printed, beside the runner's own events:
    /// the details of a failure the host made out itself.
    fn output_tail(&self) -> Option<String> {
        tail::describe(&self.dir, |lines, stream| {
            self.protocol_lines(lines, stream)
        })
    }

    /// Which of `lines` the runner reads as its own events: they say nothing
    /// of why a process failed.
    fn protocol_lines(&self, lines: &[String], stream: Stream) -> Vec<usize> {
        if !self.live() {
            return Vec::new();
        }
        let request = OutputRequest {
            source: self.job.source.info.clone(),
            stream,
            lines: lines.to_vec(),
        };
        match self.job.source.runner.parse_output(&request) {
            Ok(events) => events.iter().filter_map(LiveEvent::line).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Creates the attempt's directory, with the test's own output in it.
    fn keep_output(&self, record: &mut AttemptRecord, output: Option<&str>) {
        let results = &self.cx.results;
        let dir = results.root().join(&record.dir);
        let path = dir.join("output.log");
        let kept = std::fs::create_dir_all(&dir).and_then(|()| match output {
            Some(output) => std::fs::write(&path, output).map(|()| true),
            None => Ok(false),
        });
        match kept {
            Ok(true) => record.output = Some(results.relative(&path)),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
        }
    }

    /// An attempt record; `ended` is `None` when no process ran. Its
    /// directory is created when something is put there.
    fn attempt(
        &self,
        test: &TestCase,
        ended: Option<&Ended>,
        outcome: Outcome,
        message: Option<String>,
    ) -> TestAttempt {
        let results = &self.cx.results;
        let dir = results.attempt_dir(self.source_name(), &test.id, self.job.attempt);
        let duration = match (ended, self.test_count) {
            (Some(ended), 1) => ended.duration,
            // In a batch, the test's own span when the live output showed it.
            (Some(ended), _) => match (
                self.tracker.finished.get(&test.id),
                self.tracker.started.get(&test.id),
            ) {
                (Some((_, _, span)), _) => *span,
                (None, Some(started)) => ended.at - *started,
                (None, None) => Duration::ZERO,
            },
            (None, _) => Duration::ZERO,
        };
        let process_file = |name: &str| ended.map(|_| results.relative(&self.dir.join(name)));
        TestAttempt {
            test: test.clone(),
            kind: RecordKind::Test,
            record: AttemptRecord {
                attempt: self.job.attempt,
                outcome,
                started_at: self.launched_at.clone(),
                duration_ms: duration.as_millis() as u64,
                message,
                stack_trace: None,
                pid: ended.map(|e| e.pid),
                exit_code: ended.and_then(|e| e.exit.code),
                signal: ended.and_then(|e| e.exit.signal),
                dir: results.relative(&dir),
                stdout: process_file("stdout.log"),
                stderr: process_file("stderr.log"),
                output: None,
                subtests: Vec::new(),
                leak: None,
            },
            output: None,
        }
    }

    /// Every test blocked by `error`: something other than the tests failed.
    fn all_blocked(&self, error: &str) -> Vec<TestAttempt> {
        self.job
            .tests
            .iter()
            .map(|test| self.attempt(test, None, Outcome::Blocked, Some(error.to_owned())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_reported_twice_keeps_its_failure() {
        let result = |outcome, message: &str| TestResult {
            message: Some(message.into()),
            ..TestResult::new("t", outcome)
        };
        let kept = by_id(vec![
            result(Outcome::Failed, "first run"),
            result(Outcome::Passed, "second run"),
        ]);
        assert_eq!(kept["t"].message.as_deref(), Some("first run"));
        let kept = by_id(vec![
            result(Outcome::Passed, "first run"),
            result(Outcome::Crashed, "second run"),
        ]);
        assert_eq!(kept["t"].outcome, Outcome::Crashed);

        let mut tracker = Tracker::new();
        let now = Instant::now();
        tracker.finish("t".into(), Outcome::Failed, None, now);
        tracker.finish("t".into(), Outcome::Passed, None, now);
        assert_eq!(tracker.finished["t"].0, Outcome::Failed);
    }
}
