//! `results.trx`: every test, for Azure DevOps and other readers of Visual
//! Studio's format; a test that ran more than once holds each attempt.

use std::sync::Arc;

use chrono::{DateTime, Duration as Span, Utc};
use proctor_formats::trx::{self, TrxExecution, TrxOutcome, TrxResult, TrxRun};
use proctor_plugin_api::messages::Outcome;

use crate::results::{timestamp, AttemptRecord, ExitStatus, RunSummary, TestRecord};

/// TRX's outcome: a quarantined failure ran, but does not count.
fn outcome(outcome: Outcome, quarantined: bool) -> TrxOutcome {
    match outcome {
        Outcome::Passed => TrxOutcome::Passed,
        Outcome::Skipped | Outcome::Blocked | Outcome::NotRun => TrxOutcome::NotExecuted,
        _ if quarantined => TrxOutcome::Inconclusive,
        Outcome::Failed | Outcome::TimedOut | Outcome::Crashed => TrxOutcome::Failed,
    }
}

/// When attempts started, read from their text once a process: the
/// attempts of a batch share their process's start.
struct Starts {
    run_start: DateTime<Utc>,
    last: Option<(Arc<str>, DateTime<Utc>)>,
}

impl Starts {
    fn of(&mut self, attempt: &AttemptRecord) -> DateTime<Utc> {
        match &self.last {
            Some((text, start)) if Arc::ptr_eq(text, &attempt.started_at) => *start,
            _ => {
                let start = attempt.started_at.parse().unwrap_or(self.run_start);
                self.last = Some((attempt.started_at.clone(), start));
                start
            }
        }
    }
}

fn execution(attempt: &AttemptRecord, quarantined: bool, starts: &mut Starts) -> TrxExecution {
    let start = starts.of(attempt);
    TrxExecution {
        outcome: outcome(attempt.outcome, quarantined),
        duration_ms: attempt.duration_ms,
        start_time: timestamp(start),
        end_time: timestamp(start + Span::milliseconds(attempt.duration_ms as i64)),
        message: attempt.message.clone(),
        stack_trace: attempt.stack_trace.clone(),
        stdout: None,
    }
}

/// The test's result: its one attempt, or its last attempt's outcome over
/// the span of them all.
fn result(test: &TestRecord, starts: &mut Starts) -> (TrxExecution, Vec<TrxExecution>) {
    let attempts: Vec<TrxExecution> = test
        .attempts
        .iter()
        .map(|a| execution(a, test.quarantined, starts))
        .collect();
    match attempts.as_slice() {
        [] => {
            let at = timestamp(starts.run_start);
            let never_ran = TrxExecution {
                outcome: outcome(test.outcome, test.quarantined),
                duration_ms: 0,
                start_time: at.clone(),
                end_time: at,
                message: test.message.clone(),
                stack_trace: None,
                stdout: None,
            };
            (never_ran, attempts)
        }
        [only] => (only.clone(), Vec::new()),
        [first, .., last] => {
            let all = TrxExecution {
                duration_ms: attempts.iter().map(|a| a.duration_ms).sum(),
                start_time: first.start_time.clone(),
                ..last.clone()
            };
            (all, attempts)
        }
    }
}

pub fn write_trx(summary: &RunSummary, out: impl std::io::Write) -> std::io::Result<()> {
    let started: DateTime<Utc> = summary.started_at.parse().unwrap_or_else(|_| Utc::now());
    let finished = started + Span::milliseconds(summary.duration_ms as i64);
    let storage = |source: &str| {
        summary
            .sources
            .iter()
            .find(|s| s.name == source)
            .map(|s| s.path.clone())
            .unwrap_or_default()
    };
    let mut starts = Starts {
        run_start: started,
        last: None,
    };
    let results: Vec<TrxResult> = summary
        .tests
        .iter()
        .map(|test| {
            let (result, attempts) = result(test, &mut starts);
            TrxResult {
                test_key: format!("{}\u{1f}{}", test.source, test.id),
                name: test.id.clone(),
                classname: test.source.clone(),
                storage: storage(&test.source),
                result,
                attempts,
            }
        })
        .collect();
    let user = std::env::var("USER").unwrap_or_default();
    let computer = crate::results::machine_name().unwrap_or_default();
    let run = TrxRun {
        name: &format!("proctor {}", summary.proctor_version),
        user: &user,
        computer: &computer,
        start_time: &timestamp(started),
        finish_time: &timestamp(finished),
        failed: summary.status() != ExitStatus::Passed,
        results: &results,
        errors: &summary.errors,
    };
    trx::write(&run, out)
}
