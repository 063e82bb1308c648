//! Spreading tests over processes, running them up to `jobs` at once, giving
//! unrun tests a fresh process, and retrying failures in rounds.

use std::collections::HashMap;
use std::sync::Arc;

use proctor_plugin_api::messages::{ExecutionMode, TestCase};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::execute::{self, Context, Job, JobOutcome, TestAttempt};
use super::PreparedSource;
use crate::error::{Error, Result};
use crate::report::{AttemptRecord, Console, JournalEvent, RetrySummary, TestRecord};
use crate::retry::{self, RetryPolicy, Verdict};

pub struct Scheduled {
    pub records: Vec<TestRecord>,
    pub errors: Vec<String>,
    pub retries: RetrySummary,
}

/// A test and what became of it so far.
struct TestState {
    source: Arc<PreparedSource>,
    case: TestCase,
    attempts: Vec<AttemptRecord>,
    verdict: Verdict,
    /// Whether an earlier attempt put it in quarantine.
    quarantined: bool,
    done: bool,
}

pub struct Scheduler<'a> {
    cx: Arc<Context>,
    jobs: usize,
    slots: Arc<Semaphore>,
    running: JoinSet<JobOutcome>,
    policy: &'a RetryPolicy,
    console: Arc<Console>,
    tests: Vec<TestState>,
    index: HashMap<(String, String), usize>,
    /// Tests still to settle per source, to tell the console when one is done.
    unsettled: HashMap<String, usize>,
    errors: Vec<String>,
    records: Vec<TestRecord>,
}

impl<'a> Scheduler<'a> {
    pub fn new(
        cx: Arc<Context>,
        jobs: usize,
        policy: &'a RetryPolicy,
        console: Arc<Console>,
    ) -> Self {
        let jobs = jobs.max(1);
        Self {
            cx,
            jobs,
            slots: Arc::new(Semaphore::new(jobs)),
            running: JoinSet::new(),
            policy,
            console,
            tests: Vec::new(),
            index: HashMap::new(),
            unsettled: HashMap::new(),
            errors: Vec::new(),
            records: Vec::new(),
        }
    }

    pub async fn run(
        mut self,
        sources: Vec<(Arc<PreparedSource>, Vec<TestCase>)>,
    ) -> Result<Scheduled> {
        for (source, tests) in sources {
            for test in &tests {
                let key = (source.config.name.clone(), test.id.clone());
                self.index.insert(key, self.tests.len());
                self.tests.push(TestState {
                    source: source.clone(),
                    case: test.clone(),
                    attempts: Vec::new(),
                    verdict: Verdict::Keep,
                    quarantined: false,
                    done: false,
                });
            }
            *self
                .unsettled
                .entry(source.config.name.clone())
                .or_default() += tests.len();
            self.submit_tests(&source, tests, 1);
        }
        let mut retries = RetrySummary {
            policy: self.policy.origin.clone(),
            max_attempts: self.policy.max_attempts,
            ..RetrySummary::default()
        };
        let mut round = 1;
        loop {
            self.drain().await?;
            let mut candidates: Vec<usize> = (0..self.tests.len())
                .filter(|&i| !self.tests[i].done)
                .collect();
            if round == 1 && !candidates.is_empty() {
                let executed = self.tests.len();
                let failed = self
                    .tests
                    .iter()
                    .filter(|t| {
                        !t.quarantined && t.attempts.first().is_some_and(|a| a.outcome.is_failure())
                    })
                    .count();
                if let Some(reason) = self.policy.mass_failure(failed, executed) {
                    self.cx
                        .journal
                        .record(&JournalEvent::RetriesWithheld { reason: &reason });
                    self.console.note(&format!("    NOTE {reason}"));
                    retries.withheld = Some(reason);
                    for i in candidates.drain(..) {
                        self.settle(i);
                    }
                }
            }
            if candidates.is_empty() {
                break;
            }
            round += 1;
            retries.reruns += candidates.len();
            if !self.policy.delay.is_zero() {
                tokio::time::sleep(self.policy.delay).await;
            }
            let mut by_source: Vec<(Arc<PreparedSource>, Vec<TestCase>)> = Vec::new();
            for i in candidates {
                let state = &self.tests[i];
                match by_source
                    .iter_mut()
                    .find(|(s, _)| Arc::ptr_eq(s, &state.source))
                {
                    Some((_, tests)) => tests.push(state.case.clone()),
                    None => by_source.push((state.source.clone(), vec![state.case.clone()])),
                }
            }
            for (source, tests) in by_source {
                self.submit_tests(&source, tests, round);
            }
        }
        Ok(Scheduled {
            records: self.records,
            errors: self.errors,
            retries,
        })
    }

    /// Spreads tests over processes as the source's mode says.
    fn submit_tests(&mut self, source: &Arc<PreparedSource>, tests: Vec<TestCase>, attempt: u32) {
        let size = match source.mode {
            ExecutionMode::Isolated => 1,
            // Enough processes to use every slot, unless the source caps their size.
            ExecutionMode::Batch => source
                .config
                .batch_size
                .unwrap_or_else(|| tests.len().div_ceil(self.jobs))
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

    fn submit(&mut self, job: Job) {
        let (slots, cx) = (self.slots.clone(), self.cx.clone());
        self.running.spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            execute::execute(job, &cx).await
        });
    }

    /// Waits for every running process, taking in results as they come.
    async fn drain(&mut self) -> Result<()> {
        while let Some(joined) = self.running.join_next().await {
            let outcome =
                joined.map_err(|e| Error::infrastructure(format!("a test task failed: {e}")))?;
            self.errors.extend(outcome.error);
            let progressed = !outcome.finished.is_empty();
            for finished in outcome.finished {
                self.take_attempt(&outcome.source, finished);
            }
            if outcome.unrun.is_empty() {
                continue;
            }
            if progressed {
                // One crash never hides the rest: they go on in a fresh process.
                self.submit(Job {
                    source: outcome.source.clone(),
                    tests: outcome.unrun,
                    attempt: outcome.attempt,
                });
            } else {
                // Nothing could be told apart: each test alone says which one it was.
                for test in outcome.unrun {
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
        let key = (source.config.name.clone(), finished.test.id.clone());
        let Some(&i) = self.index.get(&key) else {
            tracing::warn!("a result for `{}`, which was not asked for", key.1);
            return;
        };
        let record = finished.record;
        self.cx.journal.record(&JournalEvent::AttemptFinished {
            source: &key.0,
            test: &key.1,
            record: &record,
        });
        let source_file = source
            .config
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let verdict = self.policy.verdict(&retry::Attempt {
            source: &key.0,
            source_file: &source_file,
            test_id: &key.1,
            qualified_name: finished.test.qualified_name(),
            outcome: record.outcome,
            message: record.message.as_deref(),
            stack_trace: record.stack_trace.as_deref(),
            output: finished.output.as_deref(),
        });
        let state = &mut self.tests[i];
        state.quarantined |= verdict == Verdict::Quarantine;
        state.verdict = verdict;
        state.attempts.push(record);
        let attempts = state.attempts.len() as u32;
        if verdict == Verdict::Rerun && attempts < self.policy.max_attempts {
            let last = state.attempts.last().expect("just pushed");
            self.console.retrying(&key.0, &key.1, last);
        } else {
            self.settle(i);
        }
    }

    /// The test's last attempt is its result.
    fn settle(&mut self, i: usize) {
        let state = &mut self.tests[i];
        state.done = true;
        let name = state.source.config.name.clone();
        let record = TestRecord::from_attempts(
            &name,
            &state.case.id,
            &state.case.name,
            state.attempts.clone(),
            state.quarantined,
        );
        self.cx.journal.record(&JournalEvent::TestFinished(&record));
        self.console.finished(&record);
        self.records.push(record);
        let left = self
            .unsettled
            .get_mut(&name)
            .expect("every source is counted");
        *left -= 1;
        if *left == 0 {
            self.console.source_finished(&name);
        }
    }
}
