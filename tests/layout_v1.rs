//! A reader of results layout version 1, written once from
//! docs/results-layout.md as it stood when the layout's contract was
//! published, and never edited since: what a CI script written against
//! that page expects. Every layout 1 directory the end-to-end tests produce
//! (layout 2 became the default later) is read through it, so a change to
//! the layout that would break such a script fails them. Fields added later are not known here, and must not
//! need to be; this file is the layout's counterpart of the plugin-api 1.0
//! compatibility test. Do not change it: a layout that needs it changed is
//! layout version 2.

use std::path::Path;

use serde::Deserialize;

/// `summary.json`.
#[derive(Debug, Deserialize)]
pub struct Summary {
    pub layout_version: u32,
    pub proctor_version: String,
    pub outcome: RunOutcome,
    pub exit_code: u8,
    pub stopped_by: Option<String>,
    pub started_at: String,
    pub duration_ms: u64,
    pub counts: Counts,
    pub filtered_out: u64,
    pub collectors: Vec<Collector>,
    pub attachments: Vec<Attachment>,
    pub timeline: Timeline,
    pub downloads: Vec<Download>,
    pub sources: Vec<Source>,
    pub errors: Vec<String>,
    pub retries: Retries,
    pub dumps_dir: String,
    pub flaky: Vec<String>,
    pub tests: Vec<Test>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Passed,
    TestsFailed,
    InfrastructureError,
    NoTests,
    Interrupted,
}

#[derive(Debug, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub timed_out: u64,
    pub crashed: u64,
    pub blocked: u64,
    pub flaky: u64,
    pub quarantined: u64,
}

#[derive(Debug, Deserialize)]
pub struct Collector {
    pub name: String,
    pub events: u64,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub collector: String,
    pub kind: String,
    pub path: String,
    pub owner: Owner,
    pub source: Option<String>,
    pub test: Option<String>,
    pub attempt: Option<u32>,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Run,
    Source,
    Test,
    Attempt,
}

#[derive(Debug, Deserialize)]
pub struct Timeline {
    pub sources: Vec<SourceSpan>,
    pub merges: Vec<Merge>,
}

#[derive(Debug, Deserialize)]
pub struct SourceSpan {
    pub source: String,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Merge {
    pub processor: String,
    #[serde(rename = "final")]
    pub final_pass: bool,
    pub inputs: u64,
    pub outputs: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Download {
    pub role: Role,
    pub uri: String,
    pub destination: String,
    pub downloader: String,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub unpacked: Option<Unpacked>,
    pub attempts: u32,
    #[serde(default)]
    pub retried_because: Vec<String>,
    pub reused: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Payload,
    CorrelationPayload,
    File,
}

#[derive(Debug, Deserialize)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct Source {
    pub name: String,
    pub runner: String,
    pub path: String,
    pub mode: String,
    pub tests: u64,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Retries {
    pub policy: String,
    pub max_attempts: u32,
    pub reruns: u64,
    pub withheld: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Test {
    pub source: String,
    pub id: String,
    pub name: String,
    /// Absent for a test.
    pub kind: Option<Kind>,
    pub outcome: Outcome,
    pub flaky: bool,
    pub quarantined: bool,
    pub duration_ms: u64,
    pub message: Option<String>,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Suite,
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
    TimedOut,
    Crashed,
    Blocked,
    NotRun,
}

#[derive(Debug, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    pub outcome: Outcome,
    pub started_at: String,
    pub duration_ms: u64,
    pub message: Option<String>,
    pub stack_trace: Option<String>,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub dir: String,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub output: Option<String>,
}

/// A line of `events.jsonl`: `time` and `event`, and the event's fields.
#[derive(Debug, Deserialize)]
pub struct Line {
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        layout_version: u32,
        proctor_version: String,
        config: String,
        sources: Vec<String>,
    },
    Downloaded(Download),
    DownloadFailed {
        error: String,
    },
    SourceDiscovered {
        source: String,
        tests: u64,
    },
    SourceExpanded {
        source: String,
        case: String,
        tests: u64,
    },
    SourceFailed {
        source: String,
        error: String,
    },
    ProcessLaunched {
        source: String,
        pid: u32,
        attempt: u32,
        tests: Vec<String>,
    },
    TestStarted {
        source: String,
        test: String,
        attempt: u32,
    },
    TestReported {
        source: String,
        test: String,
        attempt: u32,
        outcome: Outcome,
        message: Option<String>,
    },
    StopRequested {
        signal: String,
        at_once: bool,
    },
    HangDetected {
        source: String,
        pid: u32,
        process_tree: Vec<u32>,
        reason: String,
    },
    ProcessFaulted {
        source: String,
        pid: u32,
        tid: u32,
        signal: i32,
        address: Option<u64>,
    },
    AttemptFinished {
        source: String,
        test: String,
        #[serde(flatten)]
        attempt: Attempt,
    },
    TestFinished(Test),
    RetriesWithheld {
        reason: String,
    },
    RunFinished {
        outcome: RunOutcome,
        exit_code: u8,
    },
}

/// What a results directory holds, read as version 1 describes it.
#[derive(Debug)]
pub struct Results {
    /// Absent when the run did not end (a host killed mid-run).
    pub summary: Option<Summary>,
    pub journal: Vec<Line>,
}

/// Reads a results directory as layout version 1, failing with what does
/// not match it.
pub fn read(results: &Path) -> Result<Results, String> {
    let marker = results.join(".proctor-results");
    if !marker.is_file() {
        return Err(format!("{} has no .proctor-results", results.display()));
    }
    let journal = std::fs::read_to_string(results.join("events.jsonl"))
        .map_err(|e| format!("events.jsonl: {e}"))?;
    let journal = (journal.lines().enumerate())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| format!("events.jsonl:{}: {e}: {line}", n + 1))
        })
        .collect::<Result<Vec<Line>, String>>()?;
    let summary = match std::fs::read_to_string(results.join("summary.json")) {
        Ok(text) => {
            Some(serde_json::from_str::<Summary>(&text).map_err(|e| format!("summary.json: {e}"))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("summary.json: {e}")),
    };
    if let Some(summary) = &summary {
        if summary.layout_version != 1 {
            return Err(format!("layout_version {}", summary.layout_version));
        }
        for name in ["junit.xml", "results.trx"] {
            if !results.join(name).is_file() {
                return Err(format!("summary.json is written but {name} is not"));
            }
        }
    }
    Ok(Results { summary, journal })
}
