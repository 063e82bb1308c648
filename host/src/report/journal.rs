//! `events.jsonl`: the run's journaled events, one JSON object a line,
//! appended as they happen, so a host killed mid-run leaves every finished
//! result on disk. A line is its [`RunEvent`] serialized, with the time it
//! was made; in layout 2, a test's records are written as
//! [`layout2`](crate::results::layout2) writes them, each batch process's
//! part once, in a `process_finished` line before its first test's. Per-test
//! events are held until the engine's next pause ([`Subscriber::flush`])
//! and appended together: one write for what a process reported in one read.

use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use super::batched::Batched;
use crate::events::{Delivery, RunEvent, Subscriber};
use crate::results::layout2::{Attempt, Process, ProcessesWritten, Test};
use crate::results::Layout;

/// The journal, a subscriber of the run's events.
pub struct Journal {
    file: Batched<File>,
    layout: Layout,
    /// Layout 2: the batch processes written so far.
    processes: Mutex<ProcessesWritten>,
    /// The last line's time, written: the lines of a batch's results are
    /// made within a millisecond, and each moment is written once.
    stamp: Mutex<Stamp>,
}

/// A moment to the millisecond (a leap second's past a thousand), and its text.
#[derive(Default)]
struct Stamp {
    moment: (i64, u32),
    text: String,
}

/// One line of the journal: an event and when it was written.
// Its event is a `RunEvent` in layout 1, an `Event2` in layout 2.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(title = "A line of events.jsonl, proctor's journal (results layout 1)")]
pub(super) struct Line<'a, E> {
    /// RFC 3339, UTC.
    time: &'a str,
    #[serde(flatten)]
    event: E,
}

/// An event as layout 2 journals it: a test's records its own way, any
/// other event as layout 1 does.
// Made on the stack for one line and dropped: boxing the records would
// cost an allocation a line.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(super) enum Event2<'a> {
    Records(Records<'a>),
    Other(&'a RunEvent<'a>),
}

/// The journal's lines that layout 2 writes its own way.
// The variants' names are the events' names in the journal.
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Records<'a> {
    /// A batch process ended; written once, before its first test's
    /// `attempt_finished`, which names it.
    ProcessFinished(Process<'a>),
    AttemptFinished {
        source: &'a str,
        test: &'a str,
        #[serde(flatten)]
        attempt: Attempt<'a>,
    },
    /// A test's final result; `attempts` is their number.
    TestFinished(Test<'a, usize>),
}

impl Journal {
    pub fn create(path: &Path, layout: Layout) -> std::io::Result<Self> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Self {
            file: Batched::new(file, "the journal"),
            layout,
            processes: Mutex::default(),
            stamp: Mutex::default(),
        })
    }

    /// Holds the line of `event`, made when it was written.
    fn hold(&self, event: impl Serialize) {
        let now = chrono::Utc::now();
        let moment = (now.timestamp(), now.timestamp_subsec_millis());
        let mut stamp = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.moment != moment || stamp.text.is_empty() {
            *stamp = Stamp {
                moment,
                text: crate::results::timestamp(now),
            };
        }
        let line = Line {
            time: &stamp.text,
            event,
        };
        self.file.hold(|bytes| {
            serde_json::to_writer(&mut *bytes, &line).expect("journal events serialize");
            bytes.push(b'\n');
        });
    }

    /// Holds the lines of `event` in layout 2.
    fn hold_in_layout2(&self, event: &RunEvent<'_>) {
        match *event {
            RunEvent::AttemptFinished {
                source,
                test,
                record,
                ..
            } => {
                let first = (self.processes.lock().unwrap_or_else(|p| p.into_inner()))
                    .first(source, record);
                if let Some(process) = first {
                    self.hold(Event2::Records(Records::ProcessFinished(process)));
                }
                let attempt = Attempt::of(record);
                self.hold(Event2::Records(Records::AttemptFinished {
                    source,
                    test,
                    attempt,
                }));
            }
            RunEvent::TestFinished(record) => {
                let test = Test::of(record, record.attempts.len());
                self.hold(Event2::Records(Records::TestFinished(test)))
            }
            _ => self.hold(Event2::Other(event)),
        }
    }
}

impl Subscriber for Journal {
    /// Makes the event's line and holds it until the next flush, which
    /// comes at once after an event that is not per test.
    fn on_event(&self, event: &RunEvent<'_>, _: &mut Delivery) {
        if !event.journaled() {
            return;
        }
        match self.layout {
            Layout::V1 => self.hold(event),
            Layout::V2 => self.hold_in_layout2(event),
        }
    }

    fn flush(&self) {
        self.file.write_out();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proctor_plugin_api::messages::Outcome;

    use super::*;
    use crate::events::Events;

    /// A journal in a fresh directory, and the stream it subscribes to.
    fn journal() -> (tempfile::TempDir, std::path::PathBuf, Events) {
        journal_in(Layout::V1)
    }

    fn journal_in(layout: Layout) -> (tempfile::TempDir, std::path::PathBuf, Events) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let journal = Arc::new(Journal::create(&path, layout).unwrap());
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
    fn every_line_has_the_time_it_was_made_to_the_millisecond() {
        let (_dir, path, events) = journal();
        let before = chrono::Utc::now();
        for _ in 0..200 {
            events.emit(started("a"));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        events.emit(started("b"));
        events.flush();
        let after = chrono::Utc::now();
        let times: Vec<chrono::DateTime<chrono::Utc>> = (lines(&path).iter())
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .map(|line| line["time"].as_str().unwrap().parse().unwrap())
            .collect();
        let millis = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
        assert!(millis(times[0]) >= millis(before) && millis(times[200]) <= millis(after));
        // The last came a few milliseconds after the others: its time is its own.
        assert!(millis(times[200]) >= millis(times[199]) + 5, "{times:?}");
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

    /// Each test's attempt and end, as the engine emits them.
    fn finish(events: &Events, test: &crate::results::TestRecord) {
        for record in &test.attempts {
            events.emit(RunEvent::AttemptFinished {
                source: &test.source,
                test: &test.id,
                record,
                retrying: false,
            });
        }
        events.emit(RunEvent::TestFinished(test));
    }

    #[test]
    fn layout_2_journals_a_batch_process_once_before_its_first_tests_attempt() {
        use crate::results::fixture;
        let (_dir, path, events) = journal_in(Layout::V2);
        let batched = |id: &str| {
            let mut test = fixture::test("py", id, &[Outcome::Passed]);
            test.attempts[0].process = Some("attempt-1-1".into());
            test
        };
        finish(&events, &batched("a"));
        finish(&events, &batched("b"));
        finish(
            &events,
            &fixture::test("py", "alone", &[Outcome::Failed, Outcome::Passed]),
        );
        events.flush();
        let lines: Vec<serde_json::Value> = (lines(&path).iter())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "process_finished",
                "attempt_finished",
                "test_finished",
                "attempt_finished",
                "test_finished",
                "attempt_finished",
                "attempt_finished",
                "test_finished",
            ]
        );
        assert_eq!(lines[0]["name"], "attempt-1-1");
        assert_eq!(lines[0]["pid"], 4001);
        // The batch's attempts name their process and leave its part to it.
        assert_eq!(lines[1]["process"], "attempt-1-1");
        assert!(lines[1].get("pid").is_none() && lines[1].get("started_at").is_none());
        // A test's end gives its attempts' number, each already journaled.
        assert_eq!(
            (lines[2]["attempts"].as_u64(), lines[7]["attempts"].as_u64()),
            (Some(1), Some(2))
        );
        // A test alone keeps its process's part in its attempts.
        assert_eq!(lines[5]["pid"], 4001);
    }
}
