//! `events.jsonl`: the run's journaled events, one JSON object a line,
//! appended and flushed as they happen, so a host killed mid-run leaves
//! every finished result on disk. A line is its [`RunEvent`] serialized,
//! with the time it was written.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::events::{Delivery, RunEvent, Subscriber};

/// The journal, a subscriber of the run's events.
pub struct Journal {
    file: Mutex<File>,
}

/// One line of the journal: an event and when it was written.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(title = "A line of events.jsonl, proctor's journal (results layout 1)")]
pub(super) struct Line<'a> {
    /// RFC 3339, UTC.
    time: String,
    #[serde(flatten)]
    event: &'a RunEvent<'a>,
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: Mutex::new(File::options().create(true).append(true).open(path)?),
        })
    }

    /// Appends one event with one write, so lines never interleave. A
    /// single small append is kept on the engine's task on purpose: handed
    /// to a thread, a line could be lost with a host killed right after.
    fn record(&self, event: &RunEvent<'_>) {
        let line = Line {
            time: crate::results::timestamp(chrono::Utc::now()),
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

impl Subscriber for Journal {
    fn on_event(&self, event: &RunEvent<'_>, _: &mut Delivery) {
        if event.journaled() {
            self.record(event);
        }
    }
}
