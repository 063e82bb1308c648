//! `junit.xml`: one test suite per source, in the dialect of Jenkins' xUnit
//! plugin (`junit-10.xsd`). Earlier attempts of a retried test are
//! `flakyFailure`/`flakyError` (it passed in the end) or
//! `rerunFailure`/`rerunError` (it did not). A quarantined test that did
//! not pass is `skipped` of type `quarantined`, its failure in the message
//! and body, so that a reader gating on failures agrees with the run; the
//! suite's properties name it `quarantined` too.

use std::borrow::Cow;

use proctor_formats::junit::{self, JunitCase, JunitSuite, Problem, ProblemKind};
use proctor_plugin_api::messages::Outcome;

use crate::results::{AttemptRecord, RunSummary, TestRecord};

fn kind(outcome: Outcome) -> ProblemKind {
    match outcome {
        Outcome::Failed => ProblemKind::Failure,
        Outcome::Skipped | Outcome::NotRun => ProblemKind::Skipped,
        _ => ProblemKind::Error,
    }
}

fn first_line(message: &str) -> Cow<'_, str> {
    Cow::Borrowed(message.lines().next().unwrap_or_default())
}

/// An attempt that did not pass, as JUnit's element for it.
fn problem(attempt: &AttemptRecord) -> Problem<'_> {
    Problem {
        kind: kind(attempt.outcome),
        type_: attempt.outcome.as_str(),
        message: attempt.message.as_deref().map(first_line),
        details: (attempt.stack_trace.as_deref())
            .or(attempt.message.as_deref())
            .map(Cow::Borrowed),
    }
}

/// How the test ended, when it did not pass.
fn final_problem(test: &TestRecord) -> Option<Problem<'_>> {
    let Some(last) = test.attempts.last() else {
        // Skipped or blocked before it ran: the reason is all there is.
        return Some(Problem {
            kind: kind(test.outcome),
            type_: test.outcome.as_str(),
            message: test.message.as_deref().map(first_line),
            details: (test.message.as_deref())
                .filter(|m| m.contains('\n'))
                .map(Cow::Borrowed),
        });
    };
    if test.quarantined && test.outcome.is_failure() {
        let failure = problem(last);
        return Some(Problem {
            kind: ProblemKind::Skipped,
            type_: "quarantined",
            message: Some(Cow::Owned(format!(
                "quarantined: {}: {}",
                test.outcome.as_str(),
                failure.message.as_deref().unwrap_or("no message")
            ))),
            details: failure.details,
        });
    }
    (test.outcome != Outcome::Passed).then(|| problem(last))
}

fn case(test: &TestRecord) -> JunitCase<'_> {
    let earlier = test.attempts.len().saturating_sub(1);
    JunitCase {
        name: &test.id,
        classname: &test.source,
        time_ms: test.duration_ms,
        problem: final_problem(test),
        reruns: test.attempts[..earlier]
            .iter()
            .filter(|a| a.outcome.is_failure())
            .map(problem)
            .collect(),
    }
}

pub fn write_junit(summary: &RunSummary, out: impl std::io::Write) -> std::io::Result<()> {
    let suites: Vec<JunitSuite<_>> = (summary.run.sources.iter())
        .map(|source| {
            let tests = (summary.tests.iter()).filter(move |t| *t.source == source.name);
            JunitSuite {
                name: &source.name,
                time_ms: tests.clone().map(|t| t.duration_ms).sum(),
                properties: (tests.clone())
                    .filter(|t| t.quarantined)
                    .map(|t| ("quarantined", t.id.as_str()))
                    .collect(),
                cases: tests.map(case),
                system_err: source.error.as_deref(),
            }
        })
        .collect();
    junit::write("proctor", summary.run.duration_ms, &suites, out)
}
