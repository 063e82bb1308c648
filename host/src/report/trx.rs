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
/// attempts of a batch share their process's start, and its text.
#[derive(Clone)]
struct Starts {
    run_start: DateTime<Utc>,
    /// The last start read: its text in the record, its moment, and the
    /// moment as TRX writes it.
    last: Option<(Arc<str>, DateTime<Utc>, Arc<str>)>,
}

impl Starts {
    fn of(&mut self, attempt: &AttemptRecord) -> (DateTime<Utc>, Arc<str>) {
        match &self.last {
            Some((record, start, text)) if Arc::ptr_eq(record, &attempt.started_at) => {
                (*start, text.clone())
            }
            _ => {
                // What cannot be read is taken for the run's start.
                let start = attempt.started_at.parse().unwrap_or(self.run_start);
                let text: Arc<str> = timestamp(start).into();
                self.last = Some((attempt.started_at.clone(), start, text.clone()));
                (start, text)
            }
        }
    }
}

fn execution<'a>(
    attempt: &'a AttemptRecord,
    quarantined: bool,
    starts: &mut Starts,
) -> TrxExecution<'a> {
    let (start, start_time) = starts.of(attempt);
    TrxExecution {
        outcome: outcome(attempt.outcome, quarantined),
        duration_ms: attempt.duration_ms,
        start_time,
        end_time: timestamp(start + Span::milliseconds(attempt.duration_ms as i64)),
        message: attempt.message.as_deref(),
        stack_trace: attempt.stack_trace.as_deref(),
        stdout: None,
    }
}

/// The test's result: its one attempt, or its last attempt's outcome over
/// the span of them all.
fn result<'a>(
    test: &'a TestRecord,
    starts: &mut Starts,
) -> (TrxExecution<'a>, Vec<TrxExecution<'a>>) {
    match test.attempts.as_slice() {
        [] => {
            let at = timestamp(starts.run_start);
            let never_ran = TrxExecution {
                outcome: outcome(test.outcome, test.quarantined),
                duration_ms: 0,
                start_time: at.as_str().into(),
                end_time: at,
                message: test.message.as_deref(),
                stack_trace: None,
                stdout: None,
            };
            (never_ran, Vec::new())
        }
        [one] => (execution(one, test.quarantined, starts), Vec::new()),
        all => {
            let attempts: Vec<TrxExecution> = (all.iter())
                .map(|a| execution(a, test.quarantined, starts))
                .collect();
            let (first, last) = (&attempts[0], &attempts[attempts.len() - 1]);
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
    let started: DateTime<Utc> = summary
        .run
        .started_at
        .parse()
        .unwrap_or_else(|_| Utc::now());
    let finished = started + Span::milliseconds(summary.run.duration_ms as i64);
    let storage = |source: &str| {
        (summary.run.sources.iter())
            .find(|s| s.name == source)
            .map_or("", |s| s.path.as_str())
    };
    let starts = Starts {
        run_start: started,
        last: None,
    };
    // Made as they are written, twice (see `TrxRun::results`).
    let results = (summary.tests.iter()).scan(starts, move |starts, test| {
        let (result, attempts) = result(test, starts);
        Some(TrxResult {
            name: &test.id,
            classname: &test.source,
            storage: storage(&test.source),
            result,
            attempts,
        })
    });
    let user = std::env::var("USER").unwrap_or_default();
    let computer = crate::results::machine_name().unwrap_or_default();
    let run = TrxRun {
        name: &format!("proctor {}", summary.run.proctor_version),
        user: &user,
        computer: &computer,
        start_time: &timestamp(started),
        finish_time: &timestamp(finished),
        failed: summary.status() != ExitStatus::Passed,
        results,
        errors: &summary.run.errors,
    };
    trx::write(&run, out)
}
