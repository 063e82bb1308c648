//! Records for the reports' unit tests: a run's summary made by hand, as
//! the engine would make it.

use proctor_plugin_api::messages::{ExecutionMode, Outcome};

use super::{
    exit_status, AttemptRecord, Counts, RetrySummary, RunOverview, RunSummary, SourceRecord,
    TestRecord,
};
use crate::process::{Containment, Signal};

/// An attempt of `test` in `source` ending as `outcome`.
pub fn attempt(
    source: &str,
    test: &str,
    n: u32,
    outcome: Outcome,
    message: Option<&str>,
) -> AttemptRecord {
    let dir = format!("sources/{source}/{test}/attempt-{n}");
    AttemptRecord {
        attempt: n,
        outcome,
        started_at: "2026-12-04T10:00:00.000Z".into(),
        duration_ms: 125,
        message: message.map(Box::from),
        stack_trace: None,
        pid: Some(4000 + n),
        exit_code: Some(i32::from(outcome.is_failure())),
        signal: None,
        stdout: Some(format!("{dir}/stdout.log").into()),
        stderr: Some(format!("{dir}/stderr.log").into()),
        dir,
        output: None,
        subtests: Box::default(),
        leak: None,
        process: None,
    }
}

/// A test of `source` whose attempts ended as `outcomes`, the last deciding.
pub fn test(source: &str, id: &str, outcomes: &[Outcome]) -> TestRecord {
    let attempts = (outcomes.iter().zip(1..))
        .map(|(outcome, n)| {
            let message = outcome
                .is_failure()
                .then_some("assertion failed: 2 + 2 == 5");
            attempt(source, id, n, *outcome, message)
        })
        .collect();
    TestRecord::from_attempts(source, id, id, attempts, false)
}

/// The summary of a run of `tests`, in the sources they name, stopped by
/// `stopped_by` if given.
pub fn summary(tests: Vec<TestRecord>, stopped_by: Option<Signal>) -> RunSummary {
    let mut sources: Vec<SourceRecord> = Vec::new();
    for test in &tests {
        match sources.iter_mut().find(|s| *s.name == *test.source) {
            Some(source) => source.tests += 1,
            None => sources.push(SourceRecord {
                name: test.source.to_string(),
                runner: "libtest".into(),
                path: format!("target/debug/{}", test.source),
                mode: ExecutionMode::Isolated,
                tests: 1,
                error: None,
            }),
        }
    }
    let counts = Counts::of(&tests);
    let outcome = exit_status(&counts, &[], false, stopped_by);
    RunSummary {
        run: RunOverview {
            run_id: "00000000-0000-4000-8000-000000000000".to_owned(),
            context: None,
            layout_version: 1,
            proctor_version: "0.1.0".into(),
            outcome: outcome.into(),
            exit_code: outcome.code(),
            started_at: "2026-12-04T10:00:00.000Z".into(),
            duration_ms: 1500,
            counts,
            filtered_out: 0,
            downloads: Vec::new(),
            collectors: Vec::new(),
            attachments: Vec::new(),
            timeline: Default::default(),
            sources,
            errors: Vec::new(),
            warnings: Vec::new(),
            stopped_by,
            containment: Containment {
                method: "cgroup".into(),
                cgroup_parent: None,
                reason: None,
            },
            retries: RetrySummary {
                policy: "retry".into(),
                max_attempts: 2,
                ..RetrySummary::default()
            },
            dumps_dir: "/results/dumps".into(),
            flaky: (tests.iter().filter(|t| t.flaky))
                .map(|t| format!("{}/{}", t.source, t.id))
                .collect(),
        },
        tests,
    }
}
