//! `events.jsonl`: one JSON object a line, appended and flushed as the run
//! goes, so a host killed mid-run leaves every finished result on disk.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::results::{AttemptRecord, TestRecord};

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JournalEvent<'a> {
    RunStarted {
        layout_version: u32,
        proctor_version: &'a str,
        config: &'a Path,
        sources: Vec<&'a str>,
    },
    /// A download is in place, before discovery.
    Downloaded(&'a crate::fetch::DownloadRecord),
    DownloadFailed {
        error: &'a str,
    },
    SourceDiscovered {
        source: &'a str,
        tests: usize,
    },
    /// An expanding case's process reported these tests, which take its place.
    SourceExpanded {
        source: &'a str,
        case: &'a str,
        tests: usize,
    },
    SourceFailed {
        source: &'a str,
        error: &'a str,
    },
    TestStarted {
        source: &'a str,
        test: &'a str,
        attempt: u32,
    },
    /// A test's result as the live output of a process running several
    /// reported it, before the process ended; `attempt_finished` follows
    /// with the final record. A host killed mid-batch leaves these.
    TestReported {
        source: &'a str,
        test: &'a str,
        attempt: u32,
        outcome: proctor_plugin_api::messages::Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    },
    /// A signal asked the run to stop: gracefully first, then at once.
    StopRequested {
        signal: crate::process::Signal,
        at_once: bool,
    },
    ProcessLaunched {
        source: &'a str,
        pid: u32,
        attempt: u32,
        tests: &'a [&'a str],
    },
    /// Before the host kills a hung process tree.
    HangDetected {
        source: &'a str,
        pid: u32,
        process_tree: &'a [u32],
        reason: &'a str,
    },
    /// A thread of a test process was caught about to receive a crash
    /// signal, before the collectors look at it.
    ProcessFaulted {
        source: &'a str,
        pid: u32,
        tid: u32,
        signal: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<u64>,
    },
    AttemptFinished {
        source: &'a str,
        test: &'a str,
        #[serde(flatten)]
        record: &'a AttemptRecord,
    },
    /// A test's final result: no attempt follows.
    TestFinished(&'a TestRecord),
    RetriesWithheld {
        reason: &'a str,
    },
    RunFinished {
        outcome: &'a str,
        exit_code: u8,
    },
}

pub struct Journal {
    file: Mutex<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    event: &'a JournalEvent<'a>,
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: Mutex::new(File::options().create(true).append(true).open(path)?),
        })
    }

    /// Appends one event with one write, so lines never interleave.
    pub fn record(&self, event: &JournalEvent<'_>) {
        let line = Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event,
        };
        let mut text = serde_json::to_string(&line).expect("journal events serialize");
        text.push('\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            tracing::error!("cannot append to the journal: {e}");
        }
    }
}
