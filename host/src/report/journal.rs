//! `events.jsonl`: the run's journaled events, one JSON object a line,
//! appended as they happen, so a host killed mid-run leaves every finished
//! result on disk. A line is its [`RunEvent`] serialized, with the time it
//! was made. Per-test events are held until the engine's next pause
//! ([`Subscriber::flush`]) and appended together: one write for what a
//! process reported in one read.

use std::fs::File;
use std::path::Path;

use serde::Serialize;

use super::batched::Batched;
use crate::events::{Delivery, RunEvent, Subscriber};

/// The journal, a subscriber of the run's events.
pub struct Journal {
    file: Batched<File>,
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
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Self {
            file: Batched::new(file, "the journal"),
        })
    }
}

impl Subscriber for Journal {
    /// Makes the event's line and holds it until the next flush, which
    /// comes at once after an event that is not per test.
    fn on_event(&self, event: &RunEvent<'_>, _: &mut Delivery) {
        if !event.journaled() {
            return;
        }
        let line = Line {
            time: crate::results::timestamp(chrono::Utc::now()),
            event,
        };
        self.file.hold(|bytes| {
            serde_json::to_writer(&mut *bytes, &line).expect("journal events serialize");
            bytes.push(b'\n');
        });
    }

    fn flush(&self) {
        self.file.write_out();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::events::Events;

    /// A journal in a fresh directory, and the stream it subscribes to.
    fn journal() -> (tempfile::TempDir, std::path::PathBuf, Events) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let journal = Arc::new(Journal::create(&path).unwrap());
        (dir, path, Events::new(vec![journal]))
    }

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
        let (_dir, path, events) = journal();
        events.emit(started("a"));
        events.emit(started("b"));
        assert!(lines(&path).is_empty(), "held until the engine pauses");
        events.flush();
        let written = lines(&path);
        assert_eq!(written.len(), 2);
        assert!(written[0].contains(r#""test":"a""#) && written[1].contains(r#""test":"b""#));
    }

    #[test]
    fn any_other_event_goes_out_at_once_after_what_was_held() {
        let (_dir, path, events) = journal();
        events.emit(started("a"));
        events.emit(RunEvent::SourceFailed {
            source: "s",
            error: "gone",
        });
        let written = lines(&path);
        assert_eq!(written.len(), 2);
        assert!(written[0].contains("test_started") && written[1].contains("source_failed"));
    }

    #[test]
    fn a_journal_dropped_without_a_pause_keeps_every_line() {
        let (_dir, path, events) = journal();
        events.emit(started("a"));
        drop(events);
        assert_eq!(lines(&path).len(), 1);
    }
}
