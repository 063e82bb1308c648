//! `__test_report_v2.json`: the results as Helix's reporter reads them
//! when a test runner writes them itself (schema version 1, described in
//! `RESULTS_FORMAT.md` beside dotnet/arcade's Helix reporter).
//!
//! Every record is a result: a test's final attempt as it counts, each
//! earlier attempt marked `ignored`, so that a test that passed on a retry
//! is not reported as failed too. A quarantined failure and a test kept
//! from running by a broken machine are skips, their reason saying so,
//! as the run does not count them as failures (the machine's breakage
//! shows in the exit code, 3). Failures beside the tests (a suite's set-up,
//! a process that failed while its tests passed) are results of their own.

use std::path::{Path, PathBuf};

use proctor_plugin_api::messages::Outcome;
use serde::Serialize;

use crate::results::{read_end, AttemptRecord, RunSummary, TestRecord};

/// The file's name, in `HELIX_WORKITEM_ROOT`.
pub const FILE_NAME: &str = "__test_report_v2.json";
/// The most of a test's output attached to its result.
const MAX_ATTACHMENT: u64 = 256 * 1024;

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    azdo: Azdo,
    results: Vec<HelixResult<'a>>,
}

/// Where the consumer publishes to: from Azure Pipelines' variables when
/// the work item has them, else unknown. No access token is ever written.
#[derive(Serialize)]
struct Azdo {
    collection_uri: Option<String>,
    team_project: Option<String>,
    test_run_id: Option<String>,
}

#[derive(Serialize)]
struct HelixResult<'a> {
    name: String,
    kind: &'static str,
    #[serde(rename = "type")]
    type_: &'a str,
    method: &'a str,
    duration_seconds: f64,
    result: &'static str,
    exception_type: Option<&'static str>,
    failure_message: Option<&'a str>,
    stack_trace: Option<&'a str>,
    skip_reason: Option<String>,
    ignored: bool,
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Attachment {
    name: String,
    text: String,
}

/// An attempt as a Helix result.
fn result<'a>(
    test: &'a TestRecord,
    attempt: Option<&'a AttemptRecord>,
    ignored: bool,
    results_dir: &Path,
) -> HelixResult<'a> {
    let (outcome, message) = match attempt {
        Some(attempt) => (attempt.outcome, attempt.message.as_deref()),
        None => (test.outcome, test.message.as_deref()),
    };
    let quarantined = test.quarantined && outcome.is_failure();
    let (result, skip_reason) = match outcome {
        Outcome::Passed => ("Pass", None),
        _ if quarantined => (
            "Skip",
            Some(format!(
                "quarantined: {}: {}",
                outcome.as_str(),
                message.unwrap_or("no message")
            )),
        ),
        Outcome::Skipped => ("Skip", Some(message.unwrap_or("skipped").to_owned())),
        Outcome::Blocked => (
            "Skip",
            Some(format!("blocked: {}", message.unwrap_or("not run"))),
        ),
        Outcome::NotRun => (
            "Skip",
            Some(format!(
                "not run: {}",
                message.unwrap_or("the run was stopped")
            )),
        ),
        Outcome::Failed | Outcome::TimedOut | Outcome::Crashed => ("Fail", None),
    };
    let failed = result == "Fail";
    HelixResult {
        name: format!("{}.{}", test.source, test.id),
        kind: "proctor",
        type_: &test.source,
        method: &test.id,
        duration_seconds: attempt.map_or(test.duration_ms, |a| a.duration_ms) as f64 / 1000.0,
        result,
        exception_type: (failed && outcome != Outcome::Failed).then(|| outcome.as_str()),
        failure_message: message.filter(|_| failed),
        stack_trace: attempt
            .and_then(|a| a.stack_trace.as_deref())
            .filter(|_| failed),
        skip_reason,
        ignored,
        attachments: match (failed, attempt) {
            (true, Some(attempt)) => attachments(attempt, results_dir),
            _ => Vec::new(),
        },
    }
}

/// What a failed attempt printed: its own output, or its process's when it
/// ran alone; the end of each when long.
fn attachments(attempt: &AttemptRecord, results_dir: &Path) -> Vec<Attachment> {
    let own = attempt.output.as_deref();
    let alone = [attempt.stdout.as_deref(), attempt.stderr.as_deref()]
        .into_iter()
        .flatten()
        .filter(|file| Path::new(file).starts_with(&attempt.dir));
    let files: Vec<&str> = match own {
        Some(own) => vec![own],
        None => alone.collect(),
    };
    files
        .into_iter()
        .filter_map(|file| {
            let (text, _) = read_end(&results_dir.join(file), MAX_ATTACHMENT).ok()?;
            let name = Path::new(file).file_name()?.to_string_lossy().into_owned();
            (!text.trim().is_empty()).then_some(Attachment { name, text })
        })
        .collect()
}

/// What Helix tells a work item through its environment, read once, where
/// the command starts: results and dumps then go where it uploads from,
/// and its reporter finds its report in the work item's root.
#[derive(Debug, Clone, Default)]
pub struct HelixEnvironment {
    /// `HELIX_WORKITEM_UPLOAD_ROOT`: what is here is uploaded.
    pub upload_root: Option<PathBuf>,
    /// `HELIX_DUMP_FOLDER`: where dumps go.
    pub dump_folder: Option<PathBuf>,
    /// `HELIX_WORKITEM_ROOT`: where the report goes.
    pub workitem_root: Option<PathBuf>,
    /// `SYSTEM_TEAMFOUNDATIONCOLLECTIONURI` and `SYSTEM_TEAMPROJECT`: the
    /// Azure DevOps project the results belong to.
    pub collection_uri: Option<String>,
    pub team_project: Option<String>,
}

impl HelixEnvironment {
    /// Reads the variables; an empty one counts as unset.
    pub fn from_env() -> Self {
        let variable = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let path = |name| variable(name).map(PathBuf::from);
        Self {
            upload_root: path("HELIX_WORKITEM_UPLOAD_ROOT"),
            dump_folder: path("HELIX_DUMP_FOLDER"),
            workitem_root: path("HELIX_WORKITEM_ROOT"),
            collection_uri: variable("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI"),
            team_project: variable("SYSTEM_TEAMPROJECT"),
        }
    }
}

/// Writes the report of `summary`, whose files are in `results_dir`.
pub fn write_helix_report(
    summary: &RunSummary,
    results_dir: &Path,
    helix: &HelixEnvironment,
    out: impl std::io::Write,
) -> std::io::Result<()> {
    let mut results = Vec::new();
    for test in &summary.tests {
        match test.attempts.split_last() {
            None => results.push(result(test, None, false, results_dir)),
            Some((last, earlier)) => {
                for attempt in earlier {
                    results.push(result(test, Some(attempt), true, results_dir));
                }
                results.push(result(test, Some(last), false, results_dir));
            }
        }
    }
    let report = Report {
        schema_version: 1,
        azdo: Azdo {
            collection_uri: helix.collection_uri.clone(),
            team_project: helix.team_project.clone(),
            test_run_id: None,
        },
        results,
    };
    serde_json::to_writer(out, &report).map_err(std::io::Error::other)
}
