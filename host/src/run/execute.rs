//! One attempt of one test: plan, launch, supervise, collect.

use proctor_plugin_api::messages::*;

use super::process::run_to_files;
use super::PreparedSource;
use crate::report::{AttemptRecord, Journal, JournalEvent, ResultsDir, TestRecord};

/// A test the runner marked as not to run.
pub fn skipped(source: &str, test: &TestCase, reason: &str) -> TestRecord {
    TestRecord {
        source: source.to_owned(),
        id: test.id.clone(),
        name: test.name.clone(),
        outcome: Outcome::Skipped,
        duration_ms: 0,
        message: Some(reason.to_owned()),
        attempts: Vec::new(),
    }
}

/// Runs one test in its own process. The second value is an infrastructure
/// error, when something other than the test kept it from running.
pub async fn run_test(
    source: &PreparedSource,
    test: TestCase,
    attempt: u32,
    results: &ResultsDir,
    journal: &Journal,
) -> (TestRecord, Option<String>) {
    let name = source.config.name.as_str();
    let dir = results.attempt_dir(name, &test.id, attempt);
    let mut record = TestRecord {
        source: name.to_owned(),
        id: test.id.clone(),
        name: test.name.clone(),
        outcome: Outcome::Blocked,
        duration_ms: 0,
        message: None,
        attempts: Vec::new(),
    };
    let blocked = |mut record: TestRecord, error: String| {
        let error = format!("source `{name}`, test `{}`: {error}", record.id);
        record.message = Some(error.clone());
        (record, Some(error))
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return blocked(record, format!("cannot create {}: {e}", dir.display()));
    }

    let runner = source.runner.clone();
    let request = ExecutionRequest {
        source: source.info.clone(),
        tests: vec![test.clone()],
        attempt,
        artifacts_dir: dir.clone(),
    };
    let plan = match tokio::task::spawn_blocking(move || runner.plan_execution(&request)).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => return blocked(record, e.to_string()),
        Err(e) => return blocked(record, format!("planning task failed: {e}")),
    };

    journal.record(&JournalEvent::TestStarted {
        source: name,
        test: &test.id,
        attempt,
    });
    let (stdout_path, stderr_path) = (dir.join("stdout.log"), dir.join("stderr.log"));
    let finished = match run_to_files(
        &plan.command,
        &stdout_path,
        &stderr_path,
        source.config.timeout,
        |_| {},
    )
    .await
    {
        Ok(finished) => finished,
        Err(e) => return blocked(record, e.to_string()),
    };

    let runner = source.runner.clone();
    let request = CollectRequest {
        source: source.info.clone(),
        tests: vec![test.clone()],
        attempt,
        exit: finished.exit,
        timed_out: finished.timed_out,
        duration_ms: finished.duration.as_millis() as u64,
        stdout_path: stdout_path.clone(),
        stderr_path: stderr_path.clone(),
        artifacts_dir: dir,
    };
    let reported = match tokio::task::spawn_blocking(move || runner.collect_results(&request)).await
    {
        Ok(Ok(results)) => results.into_iter().find(|r| r.id == test.id),
        Ok(Err(e)) => return blocked(record, e.to_string()),
        Err(e) => return blocked(record, format!("result task failed: {e}")),
    };

    // The host's own observations outrank what the runner read.
    let (outcome, message) = match (&reported, finished.timed_out, finished.exit.signal) {
        (_, true, _) => (
            Outcome::TimedOut,
            Some(format!(
                "timed out after {:?}",
                source.config.timeout.unwrap_or_default()
            )),
        ),
        (Some(result), _, _) => (result.outcome, result.message.clone()),
        (None, _, Some(signal)) => (Outcome::Crashed, Some(format!("killed by signal {signal}"))),
        (None, _, None) => (
            Outcome::Failed,
            Some(format!("the runner reported no result ({})", finished.exit)),
        ),
    };
    let duration_ms = reported
        .and_then(|r| r.duration_ms)
        .unwrap_or(finished.duration.as_millis() as u64);
    record.outcome = outcome;
    record.message = message;
    record.duration_ms = duration_ms;
    record.attempts.push(AttemptRecord {
        attempt,
        outcome,
        duration_ms,
        exit_code: finished.exit.code,
        signal: finished.exit.signal,
        stdout: Some(results.relative(&stdout_path)),
        stderr: Some(results.relative(&stderr_path)),
    });
    (record, None)
}
