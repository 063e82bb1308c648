//! Spreading tests over processes, running them up to `jobs` at once, giving
//! unrun tests a fresh process, and retrying failures in rounds.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::HashMap;
use hashbrown::HashTable;
use proctor_plugin_api::messages::{ExecutionMode, Outcome, TestCase};
use tokio::task::JoinSet;

use super::execute::{Executor, Expansion, Job, JobOutcome, TestAttempt, PROCESS_RECORD};
use super::queue::Queue;
use super::releasing::Releasing;
use super::shares::Shares;
use super::PreparedSource;
use crate::error::{Error, Result};
use crate::events::{Events, RunEvent};
use crate::process::Stopper;
use crate::results::{AttemptRecord, RecordKind, RetrySummary, TestRecord};
use crate::retry::{self, RetryPolicy, Verdict};
use crate::select::{Selection, Selector};

pub struct Scheduled {
    pub records: Vec<TestRecord>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub retries: RetrySummary,
    /// Tests the filter left out, before the run and among the tests
    /// expanding cases turned out to be.
    pub filtered_out: usize,
}

/// The id of test `i`: its case's until it settles, then its record's.
fn test_id<'s>(tests: &'s [TestState], records: &'s [TestRecord], i: u32) -> &'s str {
    let test = &tests[i as usize];
    match (&test.case, test.record) {
        (Some(case), _) => &case.id,
        (None, Some(record)) => &records[record as usize].id,
        (None, None) => unreachable!("a test keeps its case until its record takes its id"),
    }
}

/// Where test `id` is among `tests`, by its source's `index` and the id's
/// `hash`.
fn find(
    index: &HashTable<u32>,
    hash: u64,
    (tests, records): (&[TestState], &[TestRecord]),
    id: &str,
) -> Option<u32> {
    index
        .find(hash, |&i| test_id(tests, records, i) == id)
        .copied()
}

/// A list of the one record in `record`'s box, in the box's own room.
fn one(record: Box<AttemptRecord>) -> Vec<AttemptRecord> {
    // SAFETY: `[T; 1]` has the size and alignment of `T`, so the box's
    // room, allocated for one `AttemptRecord`, is that of an array of one,
    // and is given back with the same layout when the list is dropped.
    let array: Box<[AttemptRecord; 1]> = unsafe { Box::from_raw(Box::into_raw(record).cast()) };
    Vec::from(array as Box<[AttemptRecord]>)
}

/// Which of an expanding case's tests the scheduler took: the others were
/// filtered out, skipped, or another expansion's already.
enum Admitted {
    /// Every one: the common case, which needs no set of their ids.
    All,
    Only(std::collections::HashSet<String>),
}

/// A test and what became of it so far.
struct TestState {
    source: Arc<PreparedSource>,
    /// The test, until it is done: a test that is done never runs again,
    /// and its case may be large (a runner's data, attributes). Boxed, so
    /// that a test done holds no room for it.
    case: Option<Box<TestCase>>,
    /// Its attempts until it settles; then they are its record's.
    attempts: Vec<AttemptRecord>,
    /// Its record's place among the records, once it settled: the record
    /// holds its id from then on.
    record: Option<u32>,
    /// How its first attempt ended, kept after it settled: what the
    /// retry threshold counts. Of runs its framework repeated in a process,
    /// the last is the attempt's end.
    first_outcome: Option<Outcome>,
    /// Whether an earlier attempt put it in quarantine.
    quarantined: bool,
}

impl TestState {
    fn done(&self) -> bool {
        self.case.is_none()
    }

    fn case(&self) -> &TestCase {
        self.case
            .as_deref()
            .expect("a test not done keeps its case")
    }

    fn push_attempt(&mut self, attempt: Box<AttemptRecord>, ran_again: bool) {
        if !ran_again {
            self.first_outcome.get_or_insert(attempt.outcome);
        }
        match self.attempts.is_empty() {
            // Most tests have one attempt: its box becomes their list, with
            // no copy, and no room for more (a first push would make room
            // for four, kept in the reports' records until the run ends).
            true => self.attempts = one(attempt),
            false => self.attempts.push(*attempt),
        }
    }
}

pub struct Scheduler<'a> {
    executor: Arc<dyn Executor>,
    events: Arc<Events>,
    stopper: Stopper,
    jobs: usize,
    /// Jobs waiting for one of the `jobs` slots.
    queue: Queue,
    /// Running jobs, each with the slots it holds.
    running: JoinSet<(usize, JobOutcome)>,
    policy: &'a RetryPolicy,
    selector: &'a Selector<'a>,
    tests: Vec<TestState>,
    /// Each test's place in `tests`, by source, found by its id: the
    /// tables hold places alone, and the ids are the tests' own
    /// ([`test_id`]), as a copy of each was a tenth of a large run's memory.
    index: HashMap<String, HashTable<u32>>,
    hasher: foldhash::fast::RandomState,
    /// The ids of the tests reported skipped, by source: an expansion that
    /// brings one again does not report it twice.
    skipped: HashMap<String, foldhash::HashSet<String>>,
    /// What the shares of whole sources said and brought, to check that
    /// they add up.
    shares: Shares,
    /// The records of failures beside the tests, by source and id.
    outside: std::collections::HashSet<(String, String)>,
    /// Tests still to settle per source, to tell the console when one is done.
    unsettled: HashMap<String, usize>,
    errors: Vec<String>,
    warnings: Vec<String>,
    records: Vec<TestRecord>,
    filtered_out: usize,
}

impl<'a> Scheduler<'a> {
    pub fn new(
        executor: Arc<dyn Executor>,
        (events, stopper): (Arc<Events>, Stopper),
        jobs: usize,
        policy: &'a RetryPolicy,
        selector: &'a Selector<'a>,
    ) -> Self {
        let jobs = jobs.max(1);
        Self {
            executor,
            events,
            stopper,
            jobs,
            queue: Queue::new(jobs),
            running: JoinSet::new(),
            policy,
            selector,
            tests: Vec::new(),
            index: HashMap::default(),
            hasher: Default::default(),
            skipped: HashMap::default(),
            shares: Shares::default(),
            outside: std::collections::HashSet::new(),
            unsettled: HashMap::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            records: Vec::new(),
            filtered_out: 0,
        }
    }

    /// Runs the selected tests of each source; reports the skipped ones.
    pub async fn run(
        mut self,
        sources: Vec<(Arc<PreparedSource>, Selection)>,
    ) -> Result<Scheduled> {
        for (source, selection) in sources {
            let name = source.config.name.clone();
            self.unsettled.insert(name.clone(), 0);
            let admitted = self.admit(&source, selection);
            let tests: Vec<TestCase> = (admitted.into_iter())
                .map(|i| self.tests[i].case().clone())
                .collect();
            if tests.is_empty() {
                self.source_finished(&name);
            } else {
                self.submit_tests(&source, tests, 1);
            }
        }
        let mut retries = RetrySummary {
            policy: self.policy.origin.clone(),
            max_attempts: self.policy.max_attempts,
            ..RetrySummary::default()
        };
        let mut first_round = true;
        loop {
            self.drain().await?;
            if let Some(signal) = self.stopping() {
                self.leave_unrun(signal);
                break;
            }
            let mut candidates: Vec<usize> = (0..self.tests.len())
                .filter(|&i| !self.tests[i].done())
                .collect();
            if first_round && !candidates.is_empty() {
                retries.withheld = self.withhold_retries(&mut candidates);
            }
            if candidates.is_empty() {
                break;
            }
            first_round = false;
            retries.reruns += candidates.len();
            self.rerun(candidates).await;
        }
        // A stopped run has shares that never reported.
        if self.stopping().is_none() {
            self.errors.extend(self.shares.errors());
        }
        // Grown as tests settled, by doubling: up to half is spare.
        self.records.shrink_to_fit();
        Ok(Scheduled {
            records: self.records,
            errors: self.errors,
            warnings: self.warnings,
            retries,
            filtered_out: self.filtered_out,
        })
    }

    /// After the first round: when so many tests failed that the policy
    /// withholds retries, every candidate is settled as it is, and the
    /// reason answered.
    fn withhold_retries(&mut self, candidates: &mut Vec<usize>) -> Option<String> {
        // An expanded case ran no attempt of its own: its tests did.
        let executed = self
            .tests
            .iter()
            .filter(|t| t.first_outcome.is_some())
            .count();
        let failed = (self.tests.iter())
            .filter(|t| !t.quarantined && t.first_outcome.is_some_and(|o| o.is_failure()))
            .count();
        let reason = self.policy.mass_failure(failed, executed)?;
        self.events
            .emit(RunEvent::RetriesWithheld { reason: &reason });
        for i in candidates.drain(..) {
            self.settle(i);
        }
        Some(reason)
    }

    /// Runs the candidates again, after the policy's delay (which a stop
    /// request cuts short), each source's together, but for tests whose
    /// framework repeated runs of its own: those have more attempts than
    /// rounds, and each job numbers its tests' next attempt alike.
    async fn rerun(&mut self, candidates: Vec<usize>) {
        // The tests that settled are written before the delay.
        self.events.flush();
        if !self.policy.delay.is_zero() {
            let mut stop = self.stopper.subscribe();
            tokio::select! {
                () = tokio::time::sleep(self.policy.delay) => {}
                _ = stop.changed() => {}
            }
        }
        let mut jobs: Vec<(Arc<PreparedSource>, u32, Vec<TestCase>)> = Vec::new();
        for i in candidates {
            let state = &self.tests[i];
            let attempt = state.attempts.len() as u32 + 1;
            let same = |(source, next, _): &&mut (_, u32, _)| {
                Arc::ptr_eq(source, &state.source) && *next == attempt
            };
            match jobs.iter_mut().find(same) {
                Some((_, _, tests)) => tests.push(state.case().clone()),
                None => jobs.push((state.source.clone(), attempt, vec![state.case().clone()])),
            }
        }
        for (source, attempt, tests) in jobs {
            self.submit_tests(&source, tests, attempt);
        }
    }

    /// Takes in a selection of a source's tests not seen before: the
    /// skipped are reported, the rest kept; answers where they are kept.
    fn admit(&mut self, source: &Arc<PreparedSource>, selection: Selection) -> Vec<usize> {
        let name = source.config.name.clone();
        self.filtered_out += selection.filtered_out;
        // `reserve` sizes empty vectors exactly, which fits an expanding
        // case's tests, all admitted at once (doubling left up to half of
        // both unused at the run's end), and grows them by doubling after
        // that: many small sources do not copy them once each, as exact
        // reservations would. The records of the tests run grow as they
        // settle, into the room their attempts leave.
        let (running, skipped) = (selection.run.len(), selection.skipped.len());
        self.tests.reserve(running);
        self.records.reserve(skipped);
        let reported = self.skipped.entry(name.clone()).or_default();
        let skips: Vec<_> = (selection.skipped.into_iter())
            .filter(|skip| reported.insert(skip.test.id.clone()))
            .collect();
        for skip in skips {
            let test = &skip.test;
            let mut skipped = TestRecord::not_run(
                source.shared_name(),
                &test.id,
                &test.name,
                Outcome::Skipped,
                skip.reason,
            )
            .qualified_as(test.qualified_name());
            skipped.skipped_by_rule = skip.by_rule;
            self.report(skipped);
        }
        let mut admitted = Vec::new();
        let (tests, records, hasher) = (&mut self.tests, &self.records, &self.hasher);
        let index = self.index.entry(name.clone()).or_default();
        // Each test moves into a box of its own: the list they came in gives
        // back its room as they leave it.
        for test in Releasing::new(selection.run) {
            let hash = hasher.hash_one(&test.id);
            if find(index, hash, (tests, records), &test.id).is_some() {
                tracing::debug!("source `{name}` reported the test `{}` twice", test.id);
                continue;
            }
            let at = tests.len();
            admitted.push(at);
            tests.push(TestState {
                source: source.clone(),
                case: Some(Box::new(test)),
                attempts: Vec::new(),
                record: None,
                first_outcome: None,
                quarantined: false,
            });
            let place = u32::try_from(at).expect("a run holds fewer than 2^32 tests");
            let rehash = |&i: &u32| hasher.hash_one(test_id(tests, records, i));
            index.insert_unique(hash, place, rehash);
        }
        *self.unsettled.entry(name).or_default() += admitted.len();
        admitted
    }

    /// Puts the tests an expanding case ran in its place. Those the filter
    /// or a skip rule leaves out ran all the same: their results are dropped.
    /// The case is reported itself only with a result of its own (a failure
    /// beside its tests), which is final: retrying it would run them all again.
    /// Answers which tests it admitted: those the expansion brought first.
    /// A test another expansion brought already is that one's to report.
    fn expand(
        &mut self,
        source: &Arc<PreparedSource>,
        expansion: Expansion,
        case: Option<TestAttempt>,
    ) -> Admitted {
        let name = source.config.name.clone();
        let repeated: Vec<&str> = (expansion.tests.iter())
            .map(|test| test.id.as_str())
            .filter(|id| self.known(&name, id))
            .collect();
        let fresh = expansion.tests.len() - repeated.len();
        (self.shares).expanded(&name, expansion.share_of, fresh, repeated);
        let offered = expansion.tests.len();
        let selection = self.selector.select(&name, expansion.tests);
        let admitted = self.admit(source, selection);
        self.events.emit(RunEvent::SourceExpanded {
            source: &name,
            case: &expansion.case,
            tests: admitted.len(),
        });
        let admitted = match admitted.len() == offered {
            true => Admitted::All,
            false => Admitted::Only(
                (admitted.into_iter())
                    .map(|i| self.tests[i].case().id.clone())
                    .collect(),
            ),
        };
        let Some(i) = self.position(&name, &expansion.case) else {
            return admitted;
        };
        match case {
            Some(attempt) => {
                self.events.emit(RunEvent::AttemptFinished {
                    source: &name,
                    test: &attempt.test.id,
                    record: &attempt.record,
                    retrying: false,
                });
                self.tests[i].push_attempt(attempt.record, false);
                self.settle(i);
            }
            None => {
                // A case that expanded with no result of its own is no test
                // of the run: nothing names it again, and with no record,
                // nothing would hold its id.
                self.forget(&name, i);
                self.tests[i].case = None;
                self.unsettle(&name);
            }
        }
        admitted
    }

    /// Spreads tests over processes as the source's mode says; an expanding
    /// case always runs alone.
    fn submit_tests(&mut self, source: &Arc<PreparedSource>, tests: Vec<TestCase>, attempt: u32) {
        let (expanding, tests): (Vec<TestCase>, Vec<TestCase>) =
            tests.into_iter().partition(|t| t.expands);
        for case in expanding {
            if attempt == 1 {
                self.shares.case(&source.config.name);
            }
            self.submit(Job {
                source: source.clone(),
                tests: vec![case],
                attempt,
            });
        }
        let size = match source.mode {
            ExecutionMode::Isolated => 1,
            // Enough processes to use every slot the source may, unless it
            // caps their size.
            ExecutionMode::Batch => source
                .config
                .batch_size
                .unwrap_or_else(|| tests.len().div_ceil(source.jobs(self.jobs)))
                .max(1),
        };
        let mut tests = tests.into_iter().peekable();
        while tests.peek().is_some() {
            let batch: Vec<TestCase> = tests.by_ref().take(size).collect();
            self.submit(Job {
                source: source.clone(),
                tests: batch,
                attempt,
            });
        }
    }

    /// Queues a job; it starts as soon as a slot is free ([`Queue`]).
    fn submit(&mut self, job: Job) {
        self.queue.push(job);
        self.fill();
    }

    /// Starts queued jobs while slots are free, unless the run is stopping:
    /// then what is queued is left unrun.
    fn fill(&mut self) {
        while self.stopping().is_none() {
            let Some((job, slots)) = self.queue.start() else {
                break;
            };
            let execution = self.executor.clone().execute(job);
            self.running.spawn(async move { (slots, execution.await) });
        }
    }

    /// Waits for every running process, taking in results as they come.
    async fn drain(&mut self) -> Result<()> {
        loop {
            // What the last job's results made is written before the wait.
            self.events.flush();
            let Some(joined) = self.running.join_next().await else {
                break;
            };
            let (slots, outcome) =
                joined.map_err(|e| Error::infrastructure(format!("a test task failed: {e}")))?;
            // Its slots are free: the next queued jobs take them.
            self.queue.ended(outcome.source.name(), slots);
            self.fill();
            self.errors.extend(outcome.errors);
            self.warnings.extend(outcome.warnings);
            // Before the tests: theirs may be the last results of the source.
            for attempt in outcome.outside {
                self.record_outside(&outcome.source, attempt);
            }
            // Tests of an expanding case: a fresh process is a batch again.
            let progressed = !outcome.finished.is_empty() || outcome.expanded.is_some();
            let mut unrun = outcome.unrun;
            let mut finished = outcome.finished;
            if let Some(expansion) = outcome.expanded {
                let case = finished
                    .iter()
                    .position(|f| f.test.id == expansion.case)
                    .map(|i| finished.remove(i));
                if let Admitted::Only(admitted) = self.expand(&outcome.source, expansion, case) {
                    finished.retain(|f| admitted.contains(&f.test.id));
                    unrun.retain(|t| admitted.contains(&t.id));
                }
            }
            // The records they make take the room their attempts leave.
            for finished in Releasing::new(finished) {
                self.take_attempt(&outcome.source, finished);
            }
            // A stopping run starts nothing: they are left unrun.
            if unrun.is_empty() || self.stopping().is_some() {
                continue;
            }
            if progressed {
                // One crash never hides the rest: they go on in a fresh process.
                self.submit(Job {
                    source: outcome.source.clone(),
                    tests: unrun,
                    attempt: outcome.attempt,
                });
            } else {
                // Nothing could be told apart: each test alone says which one it was.
                for test in unrun {
                    self.submit(Job {
                        source: outcome.source.clone(),
                        tests: vec![test],
                        attempt: outcome.attempt,
                    });
                }
            }
        }
        Ok(())
    }

    fn take_attempt(&mut self, source: &PreparedSource, finished: TestAttempt) {
        let Some(i) = self.position(&source.config.name, &finished.test.id) else {
            tracing::warn!(
                "a result for `{}`, which was not asked for",
                finished.test.id
            );
            return;
        };
        let mut record = finished.record;
        record.place(&source.config.name, &finished.test.id);
        // Borrowed where it is Unicode, as a file's name nearly always is:
        // copied, it cost an allocation a test.
        let source_file = (source.config.path.file_stem())
            .map_or(Default::default(), |stem| stem.to_string_lossy());
        let (name, id) = (&source.config.name, &finished.test.id);
        let verdict = self.policy.verdict(&retry::Attempt {
            source: name,
            source_file: &source_file,
            test_id: id,
            qualified_name: self.tests[i].case().qualified_name(),
            outcome: record.outcome,
            message: record.message.as_deref(),
            stack_trace: record.stack_trace.as_deref(),
            output: finished.output.as_deref(),
        });
        let state = &mut self.tests[i];
        state.quarantined |= verdict == Verdict::Quarantine;
        // A run its framework repeated is followed by the next one at once.
        let retrying = finished.ran_again
            || verdict == Verdict::Rerun
                && state.attempts.len() as u32 + 1 < self.policy.max_attempts;
        self.events.emit(RunEvent::AttemptFinished {
            source: name,
            test: id,
            record: &record,
            retrying,
        });
        self.tests[i].push_attempt(record, finished.ran_again);
        if !retrying {
            self.settle(i);
        }
    }

    /// Records a failure beside the tests as it is; it is not retried. The
    /// same failure reported by several processes (a suite's set-up, in each
    /// that ran one of its tests) is recorded once; a process's own records,
    /// and ids that a test has, are numbered.
    fn record_outside(&mut self, source: &PreparedSource, mut attempt: TestAttempt) {
        attempt.record.place(&source.config.name, &attempt.test.id);
        let name = source.config.name.clone();
        let base = attempt.test.id.clone();
        let key = (name.clone(), base.clone());
        // The same failure again, or a test the runner ran beside those
        // asked for, which its own process reports.
        if attempt.kind == RecordKind::Suite
            && (self.outside.contains(&key) || self.position(&name, &base).is_some())
        {
            return;
        }
        let taken = |id: &str| {
            self.position(&name, id).is_some()
                || self.outside.contains(&(name.clone(), id.to_owned()))
        };
        let mut id = base.clone();
        for n in 2.. {
            if !taken(&id) {
                break;
            }
            id = match base == PROCESS_RECORD {
                true => format!("(process {n})"),
                false => format!("{base} ({n})"),
            };
        }
        self.outside.insert((name.clone(), id.clone()));
        self.events.emit(RunEvent::AttemptFinished {
            source: &name,
            test: &id,
            record: &attempt.record,
            retrying: false,
        });
        let display = match attempt.test.name() == base {
            true => &id,
            false => attempt.test.name(),
        };
        let record = one(attempt.record);
        let mut record =
            TestRecord::from_attempts(source.shared_name(), &id, display, record, false);
        record.kind = attempt.kind;
        self.report(record);
    }

    /// The signal that stopped the run, if one did.
    fn stopping(&self) -> Option<crate::process::Signal> {
        self.stopper.state().signal()
    }

    /// Once the run stopped: each test still to settle keeps its last
    /// attempt, or is reported as not run when it had none.
    fn leave_unrun(&mut self, signal: crate::process::Signal) {
        self.queue.clear();
        for i in 0..self.tests.len() {
            let state = &self.tests[i];
            match (state.done(), state.attempts.is_empty()) {
                (true, _) => {}
                (false, false) => self.settle(i),
                (false, true) => {
                    let record = TestRecord::not_run(
                        state.source.shared_name(),
                        &state.case().id,
                        &state.case().name,
                        Outcome::NotRun,
                        format!("not run: the run was stopped by {signal} before it started"),
                    );
                    self.close(i, record);
                }
            }
        }
    }

    /// The test's last attempt is its result.
    fn settle(&mut self, i: usize) {
        let state = &mut self.tests[i];
        let attempts = std::mem::take(&mut state.attempts);
        let case = state.case.take().expect("a test not done keeps its case");
        let record = TestRecord::of_case(
            state.source.shared_name(),
            *case,
            attempts,
            state.quarantined,
        );
        self.close(i, record);
    }

    /// Test `i` is done, with `record` its final result.
    fn close(&mut self, i: usize, record: TestRecord) {
        let state = &mut self.tests[i];
        state.case = None;
        state.record = Some(u32::try_from(self.records.len()).expect("fewer than 2^32 records"));
        let source = state.source.clone();
        self.report(record);
        self.unsettle(source.name());
    }

    /// A final result: journaled, shown, and kept for the reports.
    fn report(&mut self, record: TestRecord) {
        self.events.emit(RunEvent::TestFinished(&record));
        self.records.push(record);
    }

    /// One test of `source` less to wait for.
    fn unsettle(&mut self, source: &str) {
        let left = self
            .unsettled
            .get_mut(source)
            .expect("every source is counted");
        *left -= 1;
        if *left == 0 {
            self.source_finished(source);
        }
    }

    /// Where test `id` of `source` is in `tests`.
    fn position(&self, source: &str, id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        let found = find(
            self.index.get(source)?,
            hash,
            (&self.tests, &self.records),
            id,
        );
        found.map(|i| i as usize)
    }

    /// Takes test `i` of `source` out of the index.
    fn forget(&mut self, source: &str, i: usize) {
        let id = test_id(&self.tests, &self.records, i as u32);
        let hash = self.hasher.hash_one(id);
        let table = self
            .index
            .get_mut(source)
            .expect("an indexed test's source");
        if let Ok(entry) = table.find_entry(hash, |&j| j as usize == i) {
            entry.remove();
        }
    }

    /// Whether `source` has a test `id`, to run or skipped.
    fn known(&self, source: &str, id: &str) -> bool {
        self.position(source, id).is_some()
            || self.skipped.get(source).is_some_and(|ids| ids.contains(id))
    }

    fn source_finished(&self, source: &str) {
        self.events.emit(RunEvent::SourceFinished { source });
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use futures::future::BoxFuture;
    use proctor_plugin_api::messages::Outcome::*;
    use proctor_plugin_api::messages::*;

    use super::*;
    use crate::config::{LeakAction, SourceConfig};
    use crate::events::{Delivery, Subscriber};
    use crate::plugins::{CallError, OutputStream, Runner};
    use crate::process::Signal;
    use crate::results::fixture;
    use crate::retry::Threshold;

    /// A source's runner the scheduler never calls: the executor is fake.
    struct Unreachable;

    impl Runner for Unreachable {
        fn label(&self) -> &str {
            "runner `none`"
        }
        fn discover(&self, _: &DiscoverRequest) -> Result<DiscoveryStep, CallError> {
            unreachable!("the scheduler does not discover")
        }
        fn plan_execution(&self, _: &ExecutionRequest) -> Result<ExecutionPlan, CallError> {
            unreachable!("the executor is fake")
        }
        fn parse_output(
            &self,
            _: &OutputStream,
            _: &[String],
        ) -> Result<Vec<LiveEvent>, CallError> {
            unreachable!("the executor is fake")
        }
        fn collect_results(
            &self,
            _: &CollectRequest,
            _: usize,
        ) -> Result<Vec<crate::plugins::RunnerResult>, CallError> {
            unreachable!("the executor is fake")
        }
    }

    fn source(mode: ExecutionMode) -> Arc<PreparedSource> {
        capped_source("unit", mode, None)
    }

    /// A source whose processes run at most `jobs` at once.
    pub(in crate::run) fn capped_source(
        name: &str,
        mode: ExecutionMode,
        jobs: Option<usize>,
    ) -> Arc<PreparedSource> {
        let config = SourceConfig {
            name: name.into(),
            runner: "none".into(),
            path: "tests/unit".into(),
            settings: serde_json::Value::Null,
            timeout: None,
            inactivity_timeout: None,
            mode: Some(mode),
            batch_size: None,
            jobs,
            env: Default::default(),
            no_tests: None,
            leak: LeakAction::Pass,
            discovery_timeout: std::time::Duration::from_secs(60),
            configured_path: "tests/unit".into(),
            location: "sources[0]".into(),
        };
        let info = SourceInfo {
            name: config.name.clone(),
            path: config.path.clone(),
            base_dir: ".".into(),
        };
        let capabilities = RunnerCapabilities::default();
        Arc::new(PreparedSource::new(
            config,
            Arc::new(Unreachable),
            capabilities,
            mode,
            info,
        ))
    }

    /// What one job of the script does: the tests that finished, with their
    /// outcomes, those left unrun, and an expansion.
    #[derive(Default)]
    struct Step {
        finished: Vec<(&'static str, Outcome)>,
        /// Runs the framework repeated, each before its test's next one.
        repeated: Vec<(&'static str, Outcome)>,
        unrun: Vec<&'static str>,
        expanded: Option<Vec<&'static str>>,
        /// What the expansion says it is a share of.
        share_of: Option<u64>,
    }

    fn finished(tests: &[(&'static str, Outcome)]) -> Step {
        Step {
            finished: tests.to_vec(),
            ..Step::default()
        }
    }

    /// Plays a script: each job it is handed takes the next step. It keeps
    /// the jobs: the tests of each, and their attempt.
    struct Script {
        steps: Mutex<VecDeque<Step>>,
        jobs: Mutex<Vec<(Vec<String>, u32)>>,
        /// A stop requested when the job of this number (from 1) starts.
        stop_at: Option<(usize, Stopper)>,
    }

    impl Script {
        fn new(steps: Vec<Step>) -> Arc<Self> {
            Arc::new(Self {
                steps: Mutex::new(steps.into()),
                jobs: Mutex::default(),
                stop_at: None,
            })
        }

        fn jobs(&self) -> Vec<(Vec<String>, u32)> {
            self.jobs.lock().unwrap().clone()
        }
    }

    impl Executor for Script {
        fn execute(self: Arc<Self>, job: Job) -> BoxFuture<'static, JobOutcome> {
            let ids: Vec<String> = job.tests.iter().map(|t| t.id.clone()).collect();
            let number = {
                let mut jobs = self.jobs.lock().unwrap();
                jobs.push((ids, job.attempt));
                jobs.len()
            };
            if let Some((at, stopper)) = &self.stop_at {
                if *at == number {
                    stopper.request(Signal::Interrupt);
                }
            }
            let step = self
                .steps
                .lock()
                .unwrap()
                .pop_front()
                .expect("a step per job");
            // A test's attempts in this job, numbered from the job's.
            let mut made: HashMap<String, u32> = HashMap::default();
            let mut attempt = |id: &str, outcome, ran_again| {
                let message = outcome_message(outcome);
                let number = made.entry(id.to_owned()).or_insert(job.attempt);
                let record = fixture::attempt("unit", id, *number, outcome, message);
                *number += 1;
                TestAttempt {
                    test: crate::run::execute::TestName::of(&TestCase::new(id), RecordKind::Test),
                    kind: RecordKind::Test,
                    record: Box::new(record),
                    output: None,
                    ran_again,
                }
            };
            let mut finished = Vec::new();
            for (id, outcome) in &step.finished {
                for (_, earlier) in step.repeated.iter().filter(|(r, _)| r == id) {
                    finished.push(attempt(id, *earlier, true));
                }
                finished.push(attempt(id, *outcome, false));
            }
            let outcome = JobOutcome {
                source: job.source.clone(),
                attempt: job.attempt,
                expanded: step.expanded.map(|tests| Expansion {
                    case: job.tests[0].id.clone(),
                    tests: tests.into_iter().map(TestCase::new).collect(),
                    share_of: step.share_of,
                }),
                finished,
                unrun: step.unrun.into_iter().map(TestCase::new).collect(),
                outside: Vec::new(),
                errors: Vec::new(),
                warnings: Vec::new(),
            };
            Box::pin(async move { outcome })
        }
    }

    fn outcome_message(outcome: Outcome) -> Option<&'static str> {
        outcome.is_failure().then_some("it failed")
    }

    /// Keeps the journaled events, as their names.
    #[derive(Default)]
    struct Names(Mutex<Vec<String>>);

    impl Subscriber for Names {
        fn on_event(&self, event: &RunEvent<'_>, _: &mut Delivery) {
            if event.journaled() {
                let name = serde_json::to_value(event).unwrap()["event"].to_string();
                self.0
                    .lock()
                    .unwrap()
                    .push(name.trim_matches('"').to_owned());
            }
        }
    }

    struct Run {
        scheduled: Scheduled,
        events: Vec<String>,
    }

    async fn schedule(
        executor: Arc<dyn Executor>,
        stopper: Stopper,
        policy: &RetryPolicy,
        jobs: usize,
        sources: Vec<(Arc<PreparedSource>, Vec<TestCase>)>,
    ) -> Run {
        let names = Arc::new(Names::default());
        let events = Arc::new(Events::new(vec![names.clone()]));
        let selector = Selector::new(&[], None);
        let sources = (sources.into_iter())
            .map(|(source, tests)| {
                let selection = selector.select(&source.config.name, tests);
                (source, selection)
            })
            .collect();
        let scheduled = Scheduler::new(executor, (events, stopper), jobs, policy, &selector)
            .run(sources)
            .await
            .unwrap();
        let events = names.0.lock().unwrap().clone();
        Run { scheduled, events }
    }

    /// Runs `ids`, one source's tests in `mode`, on one job.
    async fn schedule_alone(
        script: &Arc<Script>,
        mode: ExecutionMode,
        policy: &RetryPolicy,
        ids: &[&str],
    ) -> Run {
        let sources = vec![(source(mode), tests(ids))];
        schedule(script.clone(), Stopper::new(), policy, 1, sources).await
    }

    fn tests(ids: &[&str]) -> Vec<TestCase> {
        ids.iter().map(|id| TestCase::new(*id)).collect()
    }

    fn record<'a>(run: &'a Run, id: &str) -> &'a TestRecord {
        (run.scheduled.records.iter())
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no record of {id}"))
    }

    fn retrying(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            default: Verdict::Rerun,
            origin: "retry".into(),
            ..RetryPolicy::default()
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_failure_the_policy_reruns_runs_again_and_a_pass_then_makes_it_flaky() {
        let script = Script::new(vec![finished(&[("t", Failed)]), finished(&[("t", Passed)])]);
        let run = schedule_alone(&script, ExecutionMode::Isolated, &retrying(3), &["t"]).await;
        assert_eq!(script.jobs(), [(ids(&["t"]), 1), (ids(&["t"]), 2)]);
        let t = record(&run, "t");
        assert_eq!((t.outcome, t.flaky, t.attempts.len()), (Passed, true, 2));
        assert_eq!(run.scheduled.retries.reruns, 1);
        assert_eq!(
            run.events,
            ["attempt_finished", "attempt_finished", "test_finished"]
        );
    }

    #[tokio::test]
    async fn a_run_its_framework_repeated_is_an_attempt_that_makes_a_pass_flaky() {
        let script = Script::new(vec![Step {
            repeated: vec![("t", Failed), ("t", Failed)],
            ..finished(&[("t", Passed), ("u", Passed)])
        }]);
        let run = schedule_alone(
            &script,
            ExecutionMode::Batch,
            &RetryPolicy::default(),
            &["t", "u"],
        )
        .await;
        assert_eq!(script.jobs(), [(ids(&["t", "u"]), 1)]);
        let t = record(&run, "t");
        assert_eq!((t.outcome, t.flaky), (Passed, true));
        let numbers: Vec<u32> = t.attempts.iter().map(|a| a.attempt).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(record(&run, "u").attempts.len(), 1);
        assert_eq!(run.scheduled.retries.reruns, 0);
    }

    #[tokio::test]
    async fn a_retry_after_runs_the_framework_repeated_is_numbered_past_them() {
        let script = Script::new(vec![
            Step {
                repeated: vec![("t", Failed)],
                ..finished(&[("t", Failed), ("u", Failed)])
            },
            finished(&[("t", Passed)]),
            finished(&[("u", Passed)]),
        ]);
        let run = schedule_alone(&script, ExecutionMode::Batch, &retrying(3), &["t", "u"]).await;
        assert_eq!(
            script.jobs(),
            [(ids(&["t", "u"]), 1), (ids(&["t"]), 3), (ids(&["u"]), 2)]
        );
        for (id, attempts) in [("t", 3), ("u", 2)] {
            let test = record(&run, id);
            assert_eq!((test.outcome, test.flaky), (Passed, true), "{id}");
            assert_eq!(test.attempts.len(), attempts, "{id}");
            assert_eq!(test.attempts.last().unwrap().attempt, attempts as u32);
        }
    }

    #[tokio::test]
    async fn runs_the_framework_repeated_count_towards_the_policys_attempts() {
        let script = Script::new(vec![Step {
            repeated: vec![("t", Failed), ("t", Failed)],
            ..finished(&[("t", Failed)])
        }]);
        let run = schedule_alone(&script, ExecutionMode::Batch, &retrying(3), &["t"]).await;
        assert_eq!(
            script.jobs().len(),
            1,
            "three runs are the policy's three attempts"
        );
        let t = record(&run, "t");
        assert_eq!((t.outcome, t.attempts.len()), (Failed, 3));
    }

    #[tokio::test]
    async fn a_failure_stays_once_the_attempts_run_out() {
        let script = Script::new(vec![
            finished(&[("t", Failed)]),
            finished(&[("t", Crashed)]),
        ]);
        let run = schedule_alone(&script, ExecutionMode::Isolated, &retrying(2), &["t"]).await;
        let t = record(&run, "t");
        assert_eq!((t.outcome, t.flaky, t.attempts.len()), (Crashed, false, 2));
    }

    #[tokio::test]
    async fn a_crash_sends_the_tests_after_it_to_a_fresh_process_and_one_that_ran_none_splits_them()
    {
        let script = Script::new(vec![
            // The batch crashed after its first test.
            Step {
                finished: vec![("a", Passed)],
                unrun: vec!["b", "c"],
                ..Step::default()
            },
            // The fresh process ran none of them: nothing tells them apart.
            Step {
                unrun: vec!["b", "c"],
                ..Step::default()
            },
            finished(&[("b", Crashed)]),
            finished(&[("c", Passed)]),
        ]);
        let run = schedule_alone(
            &script,
            ExecutionMode::Batch,
            &RetryPolicy::default(),
            &["a", "b", "c"],
        )
        .await;
        assert_eq!(
            script.jobs(),
            [
                (ids(&["a", "b", "c"]), 1),
                (ids(&["b", "c"]), 1),
                (ids(&["b"]), 1),
                (ids(&["c"]), 1)
            ]
        );
        let outcomes: Vec<Outcome> = ["a", "b", "c"]
            .iter()
            .map(|id| record(&run, id).outcome)
            .collect();
        assert_eq!(outcomes, [Passed, Crashed, Passed]);
    }

    #[tokio::test]
    async fn an_expanding_case_gives_way_to_the_tests_it_turned_out_to_be() {
        let script = Script::new(vec![Step {
            finished: vec![("x", Passed), ("y", Failed)],
            expanded: Some(vec!["x", "y"]),
            ..Step::default()
        }]);
        let source = source(ExecutionMode::Batch);
        let run = schedule(
            script.clone(),
            Stopper::new(),
            &RetryPolicy::default(),
            2,
            vec![(source, vec![expanding("(all tests)")])],
        )
        .await;
        let ids: Vec<&str> = (run.scheduled.records.iter())
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, ["x", "y"], "the case itself is no record");
        assert_eq!(record(&run, "y").outcome, Failed);
        assert!(run.events.contains(&"source_expanded".to_owned()));
    }

    fn expanding(id: &str) -> TestCase {
        TestCase {
            expands: true,
            ..TestCase::new(id)
        }
    }

    /// Two shares of a source whose processes said it held `whole` tests
    /// and brought these.
    async fn shares(whole: u64, first: Vec<&'static str>, second: Vec<&'static str>) -> Run {
        let share = |tests: Vec<&'static str>| Step {
            finished: tests.iter().map(|id| (*id, Passed)).collect(),
            expanded: Some(tests),
            share_of: Some(whole),
            ..Step::default()
        };
        let script = Script::new(vec![share(first), share(second)]);
        let cases = vec![expanding("(share 1 of 2)"), expanding("(share 2 of 2)")];
        let source = source(ExecutionMode::Batch);
        schedule(
            script,
            Stopper::new(),
            &RetryPolicy::default(),
            2,
            vec![(source, cases)],
        )
        .await
    }

    #[tokio::test]
    async fn shares_that_add_up_to_the_whole_source_pass() {
        let run = shares(3, vec!["a", "b"], vec!["c"]).await;
        assert!(
            run.scheduled.errors.is_empty(),
            "{:?}",
            run.scheduled.errors
        );
        assert_eq!(run.scheduled.records.len(), 3);
    }

    #[tokio::test]
    async fn a_case_that_gave_way_to_its_tests_is_not_asked_its_id_again() {
        // The second share's tests grow the index, which asks each test it
        // holds for its id: the first share's case, done with no record of
        // its own, has none to give.
        let ids: Vec<&'static str> = (0..40).map(|n| &*format!("t{n}").leak()).collect();
        let run = shares(40, ids[..20].to_vec(), ids[20..].to_vec()).await;
        let errors = &run.scheduled.errors;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(run.scheduled.records.len(), 40);
    }

    #[tokio::test]
    async fn shares_that_overlap_fail_the_run_counting_the_tests_no_share_ran() {
        // Each process cut its share from the source in another order.
        let run = shares(3, vec!["a", "b"], vec!["b"]).await;
        let errors = &run.scheduled.errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("held 2 of them: 1 ran in no share; 1 ran in two shares (`b`)"),
            "{errors:?}"
        );
        assert_eq!(run.scheduled.records.len(), 2, "`b` is reported once");
    }

    #[tokio::test]
    async fn a_source_capped_at_one_job_runs_one_process_at_a_time_while_others_pass_it() {
        let script = Script::new(vec![
            finished(&[("a", Passed)]),
            finished(&[("x", Passed)]),
            finished(&[("b", Passed)]),
            finished(&[("y", Passed)]),
        ]);
        let capped = capped_source("capped", ExecutionMode::Isolated, Some(1));
        let free = capped_source("free", ExecutionMode::Isolated, None);
        let sources = vec![(capped, tests(&["a", "b"])), (free, tests(&["x", "y"]))];
        let policy = RetryPolicy::default();
        schedule(script.clone(), Stopper::new(), &policy, 2, sources).await;
        let started: Vec<String> = (script.jobs().into_iter().take(2))
            .map(|(ids, _)| ids.join(","))
            .collect();
        assert_eq!(started, ["a", "x"], "`b` waits for `a`; `x` passes it");

        // A batch source capped at one job is one batch, whatever the run's jobs.
        let script = Script::new(vec![finished(&[("a", Passed), ("b", Passed)])]);
        let batch = capped_source("capped", ExecutionMode::Batch, Some(1));
        schedule(
            script.clone(),
            Stopper::new(),
            &policy,
            2,
            vec![(batch, tests(&["a", "b"]))],
        )
        .await;
        assert_eq!(script.jobs(), [(ids(&["a", "b"]), 1)]);
    }

    #[tokio::test]
    async fn a_mass_failure_is_not_retried() {
        let script = Script::new(vec![finished(&[("a", Failed)]), finished(&[("b", Failed)])]);
        let policy = RetryPolicy {
            thresholds: vec![Threshold::Count(1)],
            ..retrying(3)
        };
        let run = schedule_alone(&script, ExecutionMode::Isolated, &policy, &["a", "b"]).await;
        assert_eq!(script.jobs().len(), 2, "no rerun");
        assert!(run.scheduled.retries.withheld.is_some());
        assert!(run.events.contains(&"retries_withheld".to_owned()));
        assert_eq!(record(&run, "a").attempts.len(), 1);
    }

    #[tokio::test]
    async fn a_pass_after_runs_its_framework_repeated_is_no_failure_to_the_threshold() {
        // One failure in two tests is under the threshold of one: `a`
        // failed only on a run its framework repeated, and passed.
        let script = Script::new(vec![
            Step {
                repeated: vec![("a", Failed)],
                ..finished(&[("a", Passed), ("b", Failed)])
            },
            finished(&[("b", Passed)]),
        ]);
        let policy = RetryPolicy {
            thresholds: vec![Threshold::Count(1)],
            ..retrying(3)
        };
        let run = schedule_alone(&script, ExecutionMode::Batch, &policy, &["a", "b"]).await;
        assert_eq!(run.scheduled.retries.withheld, None);
        assert_eq!(script.jobs(), [(ids(&["a", "b"]), 1), (ids(&["b"]), 2)]);
        assert!(record(&run, "a").flaky && record(&run, "b").flaky);
    }

    #[tokio::test]
    async fn a_stop_leaves_the_tests_that_never_started_not_run() {
        let stopper = Stopper::new();
        let script = Arc::new(Script {
            steps: Mutex::new(vec![finished(&[("a", Passed)])].into()),
            jobs: Mutex::default(),
            stop_at: Some((1, stopper.clone())),
        });
        let source = source(ExecutionMode::Isolated);
        let run = schedule(
            script.clone(),
            stopper,
            &retrying(3),
            1,
            vec![(source, tests(&["a", "b", "c"]))],
        )
        .await;
        assert_eq!(script.jobs().len(), 1, "nothing starts after the stop");
        assert_eq!(record(&run, "a").outcome, Passed);
        for id in ["b", "c"] {
            let test = record(&run, id);
            assert_eq!((test.outcome, test.attempts.len()), (NotRun, 0));
            assert!(test
                .message
                .as_deref()
                .unwrap()
                .contains("stopped by SIGINT"));
        }
    }
}
