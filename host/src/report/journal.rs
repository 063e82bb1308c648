//! `events.jsonl`: the run's journaled events, one JSON object a line,
//! appended as they happen, so a host killed mid-run leaves every finished
//! result on disk. A line is its [`RunEvent`] serialized, with the time it
//! was made. Per-test events are held until the engine's next pause
//! ([`Subscriber::flush`]) and appended together: one write for what a
//! process reported in one read.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::events::{Delivery, RunEvent, Subscriber};

/// The journal, a subscriber of the run's events.
pub struct Journal {
    file: Mutex<Pending>,
}

/// The journal's file, and the lines made but not yet appended.
struct Pending {
    file: File,
    lines: Vec<u8>,
}

impl Pending {
    /// Appends the held lines with one write, so lines never interleave.
    /// Kept on the engine's task on purpose: handed to a thread, a line
    /// could be lost with a host killed right after.
    fn write_out(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        if let Err(e) = self.file.write_all(&self.lines) {
            tracing::error!("cannot append to the journal: {e}");
        }
        self.lines.clear();
    }
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

impl Drop for Pending {
    /// A run that ends without a last pause still leaves every line.
    fn drop(&mut self) {
        self.write_out();
    }
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: Mutex::new(Pending {
                file: File::options().create(true).append(true).open(path)?,
                lines: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the event's line; appends it, with what was held, unless it
    /// is a per-test event.
    fn record(&self, event: &RunEvent<'_>) {
        let line = Line {
            time: crate::results::timestamp(chrono::Utc::now()),
            event,
        };
        let mut pending = self.lock();
        serde_json::to_writer(&mut pending.lines, &line).expect("journal events serialize");
        pending.lines.push(b'\n');
        if !event.per_test() {
            pending.write_out();
        }
    }
}

impl Subscriber for Journal {
    fn on_event(&self, event: &RunEvent<'_>, _: &mut Delivery) {
        if event.journaled() {
            self.record(event);
        }
    }

    fn flush(&self) {
        self.lock().write_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(|line| line.to_owned()).collect()
    }

    fn started(test: &str) -> RunEvent<'_> {
        RunEvent::TestStarted {
            source: "s",
            test,
            attempt: 1,
            pid: None,
        }
    }

    #[test]
    fn per_test_events_wait_for_the_pause_and_go_out_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.on_event(&started("a"), &mut Delivery::default());
        journal.on_event(&started("b"), &mut Delivery::default());
        assert!(lines(&path).is_empty(), "held until the engine pauses");
        journal.flush();
        let written = lines(&path);
        assert_eq!(written.len(), 2);
        assert!(written[0].contains(r#""test":"a""#) && written[1].contains(r#""test":"b""#));
    }

    #[test]
    fn any_other_event_goes_out_at_once_after_what_was_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.on_event(&started("a"), &mut Delivery::default());
        let failed = RunEvent::SourceFailed {
            source: "s",
            error: "gone",
        };
        journal.on_event(&failed, &mut Delivery::default());
        let written = lines(&path);
        assert_eq!(written.len(), 2);
        assert!(written[0].contains("test_started") && written[1].contains("source_failed"));
    }

    #[test]
    fn a_journal_dropped_without_a_pause_keeps_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.on_event(&started("a"), &mut Delivery::default());
        drop(journal);
        assert_eq!(lines(&path).len(), 1);
    }
}
